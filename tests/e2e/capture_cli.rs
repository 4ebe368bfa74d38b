//! `net-trace capture`'s narrowing and outputs as a user runs them: a
//! command's own traffic (`-- COMMAND`), `--pid`, `--pname`, `--iface
//! any`, and a pcapng whose comments keep the processes (root only).

use std::time::Duration;

use testkit::{Run, Server, bin_path};

const T: Duration = Duration::from_secs(20);

/// A tcp-uppercase server with its log off.
fn server() -> Server {
    Server::start(
        bin_path("tcp-uppercase"),
        &["server", "--port", "0", "--quiet"],
    )
}

/// Runs a tcp-uppercase client to completion; returns its pid.
fn client(port: &str, word: &str) -> u32 {
    let mut child = std::process::Command::new(bin_path("tcp-uppercase"))
        .args(["client", "--port", port, word])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

/// Client pids named in the table's rows.
fn client_pids(out: &str) -> Vec<u32> {
    out.lines()
        .filter_map(|l| {
            let at = l.find("client (pid ")? + "client (pid ".len();
            l[at..].split(' ').next().and_then(|p| p.parse().ok())
        })
        .collect()
}

/// Starts a capture with `args` and waits until it is capturing.
fn capture(args: &[&str]) -> Server {
    let mut all = vec!["capture"];
    all.extend_from_slice(args);
    let c = Server::spawn(bin_path("net-trace"), &all).unwrap();
    c.wait_for_stderr(T, |l| l.starts_with("capturing on"));
    c
}

/// Waits until `n` connections' last frames are shown.
fn wait_closed(c: &Server, n: usize) {
    let deadline = std::time::Instant::now() + T;
    while c
        .stdout()
        .iter()
        .filter(|l| l.contains("ACK of the server's FIN"))
        .count()
        < n
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:#?}\n{:#?}",
            c.stdout(),
            c.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root"]
fn a_command_is_captured_alone_and_ends_the_capture() {
    testkit::need_root("live capture");
    let s = server();
    let port = s.port();
    // Another client keeps connecting to the same server meanwhile.
    let noise_port = port.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let noise = std::thread::spawn(move || {
        let mut pids = Vec::new();
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            pids.push(client(&noise_port, "noise"));
        }
        pids
    });
    let tcp = bin_path("tcp-uppercase");
    let run = Run::with_timeout(
        bin_path("net-trace"),
        &[
            "capture",
            "--port",
            &port,
            "--",
            tcp.to_str().unwrap(),
            "client",
            "--port",
            &port,
            "only",
            "me",
        ],
        b"",
        T,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let noise_pids = noise.join().unwrap();
    run.assert_success();
    let out = run.stdout_text();
    let pids = client_pids(&out);
    assert!(!pids.is_empty(), "the command's client is named:\n{run}");
    assert!(
        pids.iter()
            .all(|p| *p == pids[0] && !noise_pids.contains(p)),
        "only the command's own connection is shown:\n{run}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("TCP connection "))
            .count(),
        1,
        "{run}"
    );
    // The other client's connections, hidden, leave no gap in the
    // numbers: this one is the first, as in a file the capture saves.
    assert!(out.contains("\nTCP connection 1: "), "{run}");
    assert!(out.contains("\"only me\""), "{run}");
    assert!(
        run.stderr_text().contains("packets dropped by kernel"),
        "{run}"
    );

    // The command's failure is the capture's exit status.
    let direct = Run::new(&tcp, &["client", "--port", "1", "x"], b"");
    let wrapped = Run::with_timeout(
        bin_path("net-trace"),
        &[
            "capture",
            "--port",
            "1",
            "--",
            tcp.to_str().unwrap(),
            "client",
            "--port",
            "1",
            "x",
        ],
        b"",
        T,
    );
    assert_ne!(direct.code(), Some(0));
    assert_eq!(wrapped.code(), direct.code(), "{wrapped}");
}

#[test]
#[ignore = "needs root"]
fn a_command_that_cannot_run_exits_as_a_shell_says() {
    testkit::need_root("live capture");
    // Each compared with what sh exits with when it runs the command: a
    // file not found, a file that is not executable and a directory
    // (found, not runnable), and a command a signal ends.
    let dir = std::env::temp_dir().join(format!("net-trace-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let missing = dir.join("missing");
    let commands: [&[&str]; 4] = [
        &[missing.to_str().unwrap()],
        &[plain.to_str().unwrap()],
        &[dir.to_str().unwrap()],
        &["/bin/sh", "-c", "kill -TERM $$"],
    ];
    for argv in commands {
        let command = argv.join(" ");
        let shell = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("\"$@\"")
            .arg("sh")
            .args(argv)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let mut args = vec!["capture", "--port", "1", "--"];
        args.extend_from_slice(argv);
        let run = Run::with_timeout(bin_path("net-trace"), &args, b"", T);
        assert!(shell.code().is_some_and(|c| c > 125), "{command}: {shell}");
        assert_eq!(run.code(), shell.code(), "{command}:\n{run}");
        if run.code().is_some_and(|c| c < 128) {
            let stderr = run.stderr_text();
            let error = stderr.lines().find(|l| l.starts_with("error: "));
            assert_eq!(
                error,
                Some(
                    format!(
                        "error: cannot run {}: {}",
                        argv[0],
                        if run.code() == Some(127) {
                            "no such file or directory"
                        } else {
                            "permission denied"
                        }
                    )
                    .as_str()
                ),
                "{run}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root"]
fn pid_and_pname_keep_one_programs_connections() {
    testkit::need_root("live capture");
    crate::python();
    let (a, b) = (server(), server());
    let (pa, pb) = (a.port(), b.port());
    let by_pid = capture(&["--port", &pa, "--port", &pb, "--pid", &a.pid().to_string()]);
    let by_name = capture(&["--port", &pa, "--port", &pb, "--pname", "python3"]);
    client(&pa, "to-a");
    client(&pb, "to-b");
    let python = crate::textbook("TCPClient.py");
    let py = Run::new(
        "python3",
        &[python.to_str().unwrap(), "127.0.0.1", &pb],
        b"from python\n",
    );
    py.assert_success();
    wait_closed(&by_pid, 1);
    wait_closed(&by_name, 1);
    let mut by_pid = by_pid;
    let mut by_name = by_name;
    assert!(by_pid.terminate(T).is_some_and(|s| s.success()));
    assert!(by_name.terminate(T).is_some_and(|s| s.success()));
    let pid_out = by_pid.stdout().join("\n");
    assert!(pid_out.contains("\"to-a\""), "{pid_out}");
    assert!(
        !pid_out.contains(&format!(":{pb}")) && !pid_out.contains("\"to-b\""),
        "--pid shows only server A's connections:\n{pid_out}"
    );
    let name_out = by_name.stdout().join("\n");
    assert!(name_out.contains("\"from python\""), "{name_out}");
    assert!(
        !name_out.contains("\"to-a\"") && !name_out.contains("\"to-b\""),
        "--pname python3 shows only the Python client's connection:\n{name_out}"
    );
}

#[test]
#[ignore = "needs root and tshark"]
fn pcapng_keeps_the_processes_and_any_names_the_interface() {
    testkit::need_root("live capture");
    testkit::need("tshark", "tshark");
    let s = server();
    let port = s.port();
    let dir = tempfile::tempdir().unwrap();
    let ng = dir.path().join("lab.pcapng");
    let mut c = capture(&[
        "--iface",
        "any",
        "--port",
        &port,
        "--pcapng",
        ng.to_str().unwrap(),
    ]);
    let pid = client(&port, "saved");
    wait_closed(&c, 1);
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let live = c.stdout().join("\n");
    assert!(live.contains("← on lo; handshake 1/3 (SYN)"), "{live}");

    // Read back without /proc or kernel events: the comments name them.
    let read = Run::new(bin_path("net-trace"), &["read", ng.to_str().unwrap()], b"");
    read.assert_success();
    let text = read.stdout_text();
    assert!(
        client_pids(&text).iter().all(|p| *p == pid) && text.contains(&format!("pid {pid} ")),
        "{read}"
    );
    assert!(
        text.contains("Processes named from the capture file"),
        "{read}"
    );
    let comments = testkit::peers::tshark_text(&ng, &["-T", "fields", "-e", "frame.comment"]);
    assert!(
        comments.contains(&format!("Process (pid {pid}, cmd ")),
        "tshark shows the sending process: {comments}"
    );
}

#[test]
#[ignore = "needs root"]
fn pid_of_a_udp_server_keeps_its_clients_first_datagrams() {
    testkit::need_root("live capture");
    let s = Server::start(bin_path("udp-chat"), &["server", "--port", "0", "--quiet"]);
    let other = Server::start(bin_path("udp-chat"), &["server", "--port", "0", "--quiet"]);
    let (port, other_port) = (s.port(), other.port());
    let mut c = capture(&[
        "--port",
        &port,
        "--port",
        &other_port,
        "--pid",
        &s.pid().to_string(),
    ]);
    for (to, word) in [
        (&port, "first"),
        (&other_port, "elsewhere"),
        (&port, "second"),
    ] {
        Run::new(
            bin_path("udp-chat"),
            &["client", "--port", to],
            format!("{word}\n").as_bytes(),
        )
        .assert_success();
    }
    // Each exchange is a request and its reply: four rows for this server.
    let deadline = std::time::Instant::now() + T;
    while c.stdout().iter().filter(|l| l.contains(" UDP ")).count() < 4 {
        assert!(std::time::Instant::now() < deadline, "{:#?}", c.stdout());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let out = c.stdout().join("\n");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" UDP ")).collect();
    assert_eq!(rows.len(), 4, "{out}");
    // The clients' datagrams to the server are there, each before its reply.
    let to_server = rows
        .iter()
        .filter(|l| l.contains(&format!("→ {port} ")))
        .count();
    assert_eq!(to_server, 2, "{out}");
    assert!(rows[0].contains(&format!("→ {port} ")), "{out}");
    assert!(!out.contains(&format!("→ {other_port} ")), "{out}");
}

/// ICMP errors about other ports pass the kernel's filter for a closer
/// look and are then left out: they count neither as captured nor as
/// received by the filter, so nothing reads like a lost frame.
#[test]
#[ignore = "needs root"]
fn counts_leave_out_what_the_port_filter_left_out() {
    testkit::need_root("live capture");
    let s = server();
    let port = s.port();
    let mut c = capture(&["--port", &port]);
    // A datagram to a closed port: the kernel answers with an ICMP error
    // about that port, not ours.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        probe.send_to(b"x", ("127.0.0.1", closed_port)).unwrap();
    }
    client(&port, "counted");
    wait_closed(&c, 1);
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let err = c.stderr();
    let count = |what: &str| -> u64 {
        err.iter()
            .find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no{what}: {err:#?}"))
    };
    let captured = count(" packets captured");
    assert_eq!(count(" packets dropped by kernel"), 0, "{err:#?}");
    assert_eq!(count(" packets received by filter"), captured, "{err:#?}");
    // The exchange: the handshake, the sentence, the reply and both FINs
    // at least (ACKs may ride on them).
    assert!(captured >= 7, "{err:#?}");
}

/// `--pid` of a server that forks a child per connection keeps every one
/// of its connections, though the children send the replies.
#[test]
#[ignore = "needs root"]
fn pid_of_a_forking_server_keeps_all_its_connections() {
    testkit::need_root("live capture");
    crate::python();
    // Each child lingers, so several are alive at once, as under load.
    let code = "import socketserver, time\n\
                class H(socketserver.BaseRequestHandler):\n    \
                    def handle(self):\n        \
                        time.sleep(0.3)\n        \
                        self.request.sendall(self.request.recv(100).upper())\n\
                socketserver.ForkingTCPServer.allow_reuse_address = True\n\
                s = socketserver.ForkingTCPServer(('127.0.0.1', 0), H)\n\
                print('listening on 127.0.0.1:%d (tcp)' % s.server_address[1], flush=True)\n\
                s.serve_forever()\n";
    let server = Server::start("python3", &["-c", code]);
    let port = server.port();
    let mut c = capture(&["--port", &port, "--pid", &server.pid().to_string()]);
    // Three connect at once, three more while the first children still
    // serve (each lingers 0.3 s): those arrive at a server with live
    // children.
    let clients: Vec<std::thread::JoinHandle<()>> = (0..6)
        .map(|i| {
            let addr = server.addr();
            if i == 3 {
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(format!("client {i}").as_bytes()).unwrap();
                let mut reply = String::new();
                s.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, format!("CLIENT {i}"));
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    wait_closed(&c, 6);
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let out = c.stdout().join("\n");
    let shown = out
        .lines()
        .filter(|l| l.starts_with("TCP connection "))
        .count();
    assert_eq!(shown, 6, "{out}");
}

#[test]
#[ignore = "needs root"]
fn json_streams_each_frame_during_a_capture_then_the_connections() {
    testkit::need_root("live capture");
    let s = server();
    let port = s.port();
    let mut c = capture(&["--port", &port, "--format", "json"]);
    let pid = client(&port, "json please");
    // The client's frames come out while the capture still runs.
    let mine = format!("\"process\":{{\"pid\":{pid},\"name\":\"tcp-uppercase\"");
    let deadline = std::time::Instant::now() + T;
    while !c
        .stdout()
        .iter()
        .any(|l| l.contains("\"sender\":\"client\"") && l.contains(&mine))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no frame of pid {pid} streamed: {:#?}\n{:#?}",
            c.stdout(),
            c.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let out = c.stdout();
    assert!(
        out.iter().all(|l| l.starts_with('{') && l.ends_with('}')),
        "{out:#?}"
    );
    let last = out.last().unwrap();
    assert!(
        last.starts_with("{\"type\":\"connection\",\"connection\":1,"),
        "{last}"
    );
    assert!(
        c.stderr()
            .iter()
            .any(|l| l.ends_with("packets dropped by kernel"))
    );
    {
        let python = crate::python();
        let text = out.join("\n");
        let run = Run::new(
            python,
            &["-c", "import json,sys\nfor l in sys.stdin: json.loads(l)"],
            text.as_bytes(),
        );
        run.assert_success();
    }
}

#[test]
#[ignore = "needs root"]
fn follow_shows_a_live_connection_both_ways() {
    testkit::need_root("live capture");
    let s = server();
    let port = s.port();
    let mut c = capture(&["--port", &port, "--follow", "1"]);
    client(&port, "follow me");
    let deadline = std::time::Instant::now() + T;
    while !c.stdout().iter().any(|l| l == "\t9") {
        assert!(std::time::Instant::now() < deadline, "{:#?}", c.stdout());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    let out = c.stdout().join("\n");
    assert!(out.contains("\n9\nfollow me\n\t9\nFOLLOW ME\n"), "{out}");
}

/// `--quiet --pcap`: no table and no summary on stdout, the frames in the
/// file (as `read` shows them) and the counts on stderr.
#[test]
#[ignore = "needs root"]
fn quiet_saves_the_frames_and_shows_only_the_counts() {
    testkit::need_root("live capture");
    let s = server();
    let port = s.port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quiet.pcap");
    let mut c = capture(&["--port", &port, "--quiet", "--pcap", file.to_str().unwrap()]);
    client(&port, "quietly");
    // Frames captured before the stop are all saved.
    assert!(c.terminate(T).is_some_and(|s| s.success()));
    assert_eq!(c.stdout(), Vec::<String>::new(), "{:#?}", c.stderr());
    let err = c.stderr();
    let captured: usize = err
        .iter()
        .find_map(|l| l.strip_suffix(" packets captured")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count: {err:#?}"));
    assert!(
        err.iter()
            .any(|l| *l == format!("{captured} frame(s) saved to {}", file.display())),
        "{err:#?}"
    );
    let read = Run::new(
        bin_path("net-trace"),
        &["read", file.to_str().unwrap()],
        b"",
    );
    read.assert_success();
    let text = read.stdout_text();
    // A whole connection: handshake, sentence, reply, teardown.
    assert!(captured >= 9, "{err:#?}");
    assert!(
        text.contains("[SYN]") && text.contains("[FIN, ACK]"),
        "{read}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l
                .split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u64>().is_ok()))
            .count(),
        captured,
        "{read}"
    );
}
