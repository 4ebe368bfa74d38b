//! Short-lived clients named from kernel events, with their right pids
//! (root only; skipped when tracefs cannot be used).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use net_trace::owners::{Answer, MAX_WAIT, Method, Options, Owners, Query, Reason, Role};

/// Clients of each kind.
const CLIENTS: usize = 30;

/// UDP payload length: unusual, so other traffic on `lo` rarely shares it.
const PAYLOAD: usize = 37;

const PYTHON: &str = "python3";

/// How long a step may take on a loaded machine before the test gives up
/// (a python start behind a version-manager shim can take seconds there).
const PATIENCE: Duration = Duration::from_secs(120);

/// The tests here run one at a time: each other's datagrams on `lo` would
/// make sends ambiguous (rightly unknown), and the counts are what they
/// measure.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Asks until the answer is final, as the capture does: while the event
/// reader keeps moving (it is behind on a busy machine, not stuck), and
/// for [`MAX_WAIT`] after it last moved.
fn ask(owners: &Owners, q: &Query) -> Answer {
    let mut moved = (owners.progress(), Instant::now());
    loop {
        match owners.lookup(q) {
            Answer::Pending => {
                let progress = owners.progress();
                if progress != moved.0 {
                    moved = (progress, Instant::now());
                } else if moved.1.elapsed() >= MAX_WAIT {
                    return Answer::Unknown(Reason::Unproven);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            answer => return answer,
        }
    }
}

/// Runs a Python snippet to completion; returns its pid and stdout.
fn run_python(code: &str) -> (u32, String) {
    let child = Command::new(PYTHON)
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{code}: {:?}", out.status);
    (pid, String::from_utf8(out.stdout).unwrap())
}

/// Kernel-event owners, alone among this file's tests, with python3 at
/// hand (for tests marked `#[ignore = "needs root"]`).
fn kernel_owners() -> (std::sync::MutexGuard<'static, ()>, Owners) {
    let alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    testkit::need_root("reading kernel events");
    testkit::need(PYTHON, "python3");
    (alone, kernel_events())
}

/// Owners from kernel events; as root, tracefs is there to be had (mounted
/// privately where it is not), so anything else is a failure.
fn kernel_events() -> Owners {
    let owners = Owners::start(&Options::default());
    assert_eq!(
        owners.method(),
        Method::Kernel,
        "tracefs is unavailable as root"
    );
    owners
}

/// A server accepting `n` connections and reading each to its end.
fn tcp_sink(listener: TcpListener, n: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.read_to_end(&mut Vec::new());
        }
    })
}

/// One short-lived Python client of `server` (it connects, sends, closes);
/// returns its pid and the question for its frames. The connection begins
/// after the child's clock reading: a stream never starts before its
/// process exists.
fn short_tcp_client(server: SocketAddr) -> (u32, Query) {
    let (pid, out) = run_python(&format!(
        "import socket, time\nt = time.time_ns()\ns = socket.create_connection(('{}', {}))\nprint(s.getsockname()[1], t)\ns.sendall(b'hello')\ns.close()",
        server.ip(),
        server.port()
    ));
    let mut fields = out.split_whitespace();
    let port: u16 = fields.next().unwrap().parse().unwrap();
    let start = Duration::from_nanos(fields.next().unwrap().parse().unwrap());
    let q = Query {
        tcp: true,
        src: SocketAddr::new(server.ip(), port),
        dst: server,
        time: now(),
        stream_start: start,
        role: Role::Client,
        syn: false,
        len: 0,
    };
    (pid, q)
}

/// The question for a datagram of [`PAYLOAD`] bytes from `port` to the
/// receiver at `to`, stamped `time`, asked as the capture asks it.
fn datagram_query(to: SocketAddr, port: u16, time: Duration) -> Query {
    Query {
        tcp: false,
        src: SocketAddr::new(to.ip(), port),
        dst: to,
        time,
        stream_start: time,
        role: Role::Client,
        syn: false,
        len: u32::try_from(PAYLOAD).unwrap(),
    }
}

/// A Python receiver printing each datagram's kernel receive time
/// (`SO_TIMESTAMPNS`, the clock packet captures use): the frame times a
/// capture would ask about. Returns the child, its address, and the
/// (source port, time) of each datagram as it arrives.
fn udp_receiver(count: usize) -> (Reaped, SocketAddr, mpsc::Receiver<(u16, Duration)>) {
    let code = format!(
        "import socket, struct, sys\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, 35, 1)\n\
         s.settimeout(120)\n\
         s.bind(('127.0.0.1', 0))\n\
         print(s.getsockname()[1], flush=True)\n\
         for _ in range({count}):\n    \
             data, anc, flags, addr = s.recvmsg(64, 64)\n    \
             sec, nsec = struct.unpack('qq', anc[0][2][:16])\n    \
             print(addr[1], sec, nsec, flush=True)\n"
    );
    let mut child = Command::new(PYTHON)
        .args(["-c", &code])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [port, sec, nsec] = f[..]
                && let (Ok(port), Ok(nsec)) = (u16::try_from(port), u32::try_from(nsec))
                && tx.send((port, Duration::new(sec, nsec))).is_err()
            {
                return;
            }
        }
    });
    (Reaped(child), SocketAddr::from(([127, 0, 0, 1], port)), rx)
}

/// A child killed on drop, so a failing test leaves nothing running.
struct Reaped(std::process::Child);

impl Reaped {
    /// Waits (bounded) for the child to exit by itself, then kills it.
    fn finish(mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.0.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default, Debug)]
struct Tally {
    right: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn check(&mut self, answer: Answer, pid: u32, what: &str) {
        match answer {
            Answer::Known((o, _)) if o.pid == pid => self.right += 1,
            Answer::Known((o, m)) => self
                .wrong
                .push(format!("{what}: {o} by {m}, expected pid {pid}")),
            _ => {}
        }
    }

    /// As [`Tally::check`], but only kernel events count as right.
    fn check_kernel(&mut self, answer: Answer, pid: u32, what: &str) {
        match answer {
            Answer::Known((o, Method::Kernel)) if o.pid == pid => self.right += 1,
            Answer::Known((o, m)) if o.pid == pid => {
                eprintln!("{what}: {o} named by {m}, not by kernel events");
            }
            other => self.check(other, pid, what),
        }
    }
}

#[test]
#[ignore = "needs root"]
fn short_lived_clients_are_named_and_never_wrongly() {
    let (_alone, owners) = kernel_owners();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server: SocketAddr = listener.local_addr().unwrap();
    let acceptor = tcp_sink(listener, CLIENTS);
    let mut tcp = Tally::default();
    let mut server_side = Tally::default();
    for i in 0..CLIENTS {
        let (pid, q) = short_tcp_client(server);
        tcp.check(
            ask(&owners, &q),
            pid,
            &format!("TCP client {i} port {}", q.src.port()),
        );
        // The server's frames: this process listens, but it also forked the
        // clients, so the listener alone proves nothing; never another pid.
        let reply = Query {
            src: server,
            dst: q.src,
            role: Role::Server,
            ..q
        };
        server_side.check(
            ask(&owners, &reply),
            std::process::id(),
            &format!("server of client {i}"),
        );
    }
    acceptor.join().unwrap();

    let mut udp_tally = Tally::default();
    let (_receiver, udp_addr, stamps) = udp_receiver(CLIENTS);
    let payload = "x".repeat(PAYLOAD);
    for i in 0..CLIENTS {
        let (pid, out) = run_python(&format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'{payload}', ('127.0.0.1', {}))\nprint(s.getsockname()[1])",
            udp_addr.port()
        ));
        let port: u16 = out.trim().parse().unwrap();
        // Asked as soon as it arrived, as the capture would.
        let (from, time) = stamps
            .recv_timeout(PATIENCE)
            .expect("the datagram reached the receiver");
        assert_eq!(from, port);
        let q = datagram_query(udp_addr, port, time);
        udp_tally.check(
            ask(&owners, &q),
            pid,
            &format!("UDP sender {i} port {port}"),
        );
    }
    eprintln!(
        "named: TCP {}/{CLIENTS}, UDP {}/{CLIENTS}, server side {}/{CLIENTS}; events lost: {}",
        tcp.right,
        udp_tally.right,
        server_side.right,
        owners.events_lost()
    );
    assert!(tcp.wrong.is_empty(), "{:?}", tcp.wrong);
    assert!(server_side.wrong.is_empty(), "{:?}", server_side.wrong);
    assert!(udp_tally.wrong.is_empty(), "{:?}", udp_tally.wrong);
    assert!(tcp.right >= CLIENTS - 1, "TCP: {tcp:?}");
    assert!(udp_tally.right >= CLIENTS - 1, "UDP: {udp_tally:?}");
    let dir = owners.instance().unwrap().to_path_buf();
    drop(owners);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// IPv6 clients that live a millisecond, TCP and UDP: named from kernel
/// events (the records carry IPv6 addresses as IPv4's), not from /proc,
/// with their own pids — the clients are gone before they are asked about.
#[test]
#[ignore = "needs root"]
fn short_lived_ipv6_clients_are_named_from_kernel_events() {
    const V6_CLIENTS: usize = 10;
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        testkit::skip("no IPv6 loopback here");
        return;
    };
    let (_alone, owners) = kernel_owners();
    let server = listener.local_addr().unwrap();
    let acceptor = tcp_sink(listener, V6_CLIENTS);
    let (mut tcp, mut udp) = (Tally::default(), Tally::default());
    let receiver = std::net::UdpSocket::bind("[::1]:0").unwrap();
    let to = receiver.local_addr().unwrap();
    let payload = "x".repeat(PAYLOAD);
    for i in 0..V6_CLIENTS {
        let (pid, q) = short_tcp_client(server);
        tcp.check_kernel(
            ask(&owners, &q),
            pid,
            &format!("IPv6 TCP client {i} port {}", q.src.port()),
        );
        // The frame's time: the middle of its send.
        let (pid, out) = run_python(&format!(
            "import socket, time\n\
             s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
             s.connect(('::1', {}))\n\
             a = time.time_ns()\n\
             s.send(b'{payload}')\n\
             print(s.getsockname()[1], (a + time.time_ns()) // 2)\n",
            to.port()
        ));
        let mut fields = out.split_whitespace();
        let port: u16 = fields.next().unwrap().parse().unwrap();
        let sent = Duration::from_nanos(fields.next().unwrap().parse().unwrap());
        let q = datagram_query(to, port, sent);
        udp.check_kernel(
            ask(&owners, &q),
            pid,
            &format!("IPv6 UDP client {i} port {port}"),
        );
    }
    acceptor.join().unwrap();
    eprintln!(
        "named from kernel events: IPv6 TCP {}/{V6_CLIENTS}, UDP {}/{V6_CLIENTS}",
        tcp.right, udp.right
    );
    assert!(tcp.wrong.is_empty(), "{:?}", tcp.wrong);
    assert!(udp.wrong.is_empty(), "{:?}", udp.wrong);
    assert!(tcp.right >= V6_CLIENTS - 1, "{tcp:?}");
    assert!(udp.right >= V6_CLIENTS - 1, "{udp:?}");
}

/// Senders of datagrams of one length at the same moment: each datagram is
/// its own sender's (from the flow's route lookup, not from which send of
/// that length came nearest), never a neighbour's.
#[test]
#[ignore = "needs root"]
fn simultaneous_datagrams_of_one_length_keep_their_senders() {
    const SENDERS: usize = 6;
    const EACH: usize = 5;
    let (_alone, owners) = kernel_owners();
    let (_receiver, udp_addr, stamps) = udp_receiver(SENDERS * EACH);
    let payload = "x".repeat(PAYLOAD);
    // All start sending at one wall-clock moment, a little ahead.
    let at = now().as_secs_f64() + 0.5;
    let senders: Vec<std::process::Child> = (0..SENDERS)
        .map(|_| {
            let code = format!(
                "import socket, time\n\
                 s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 s.bind(('127.0.0.1', 0))\n\
                 print(s.getsockname()[1], flush=True)\n\
                 while time.time() < {at}: pass\n\
                 for _ in range({EACH}): s.sendto(b'{payload}', ('127.0.0.1', {}))\n",
                udp_addr.port()
            );
            Command::new(PYTHON)
                .args(["-c", &code])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pid_of = HashMap::new();
    for mut child in senders {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success());
        pid_of.insert(out.trim().parse::<u16>().unwrap(), child.id());
    }
    let mut tally = Tally::default();
    for i in 0..SENDERS * EACH {
        let (port, time) = stamps
            .recv_timeout(PATIENCE)
            .expect("the datagram reached the receiver");
        let q = datagram_query(udp_addr, port, time);
        tally.check(
            ask(&owners, &q),
            pid_of[&port],
            &format!("datagram {i} from port {port}"),
        );
    }
    eprintln!("named: {}/{}", tally.right, SENDERS * EACH);
    assert!(tally.wrong.is_empty(), "{:?}", tally.wrong);
    assert!(tally.right >= SENDERS * EACH - 2, "{tally:?}");
}

/// Ports for the measurement's servers: away from the lab's defaults.
const LAB_TCP_PORT: u16 = 23017;
const LAB_UDP_PORT: u16 = 22017;

/// Starts a lab server and waits (bounded) for its readiness line.
fn lab_server(bin: &std::path::Path, args: &[&str]) -> Reaped {
    let mut child = Command::new(bin)
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening"), "{first}");
    std::thread::spawn(move || lines.for_each(drop));
    Reaped(child)
}

/// The lab's own short-lived clients, captured by tcpdump; every frame of
/// the saved capture is asked about with its kernel timestamp, as the live
/// pipeline does. Prints the counts; fails on any wrong name.
#[test]
#[ignore = "needs root and tcpdump"]
fn lab_clients_against_tcpdump() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    testkit::need_root("reading kernel events");
    testkit::need("tcpdump", "tcpdump");
    let (tcp_uppercase, udp_chat) = (
        testkit::bin_path("tcp-uppercase"),
        testkit::bin_path("udp-chat"),
    );
    let owners = kernel_events();
    let (tcp_port, udp_port) = (LAB_TCP_PORT.to_string(), LAB_UDP_PORT.to_string());
    let tcp_server = lab_server(&tcp_uppercase, &["server", "--port", &tcp_port]);
    let udp_server = lab_server(&udp_chat, &["server", "--port", &udp_port]);
    let servers = [tcp_server.0.id(), udp_server.0.id()];
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("lab.pcap");
    let filter = format!("port {LAB_TCP_PORT} or port {LAB_UDP_PORT}");
    let mut dump = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-w"])
        .arg(&pcap)
        .arg(&filter)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(dump.stderr.take().unwrap()).lines();
    let first = err.next().unwrap().unwrap();
    assert!(first.contains("listening"), "{first}");
    let dump = Reaped(dump);
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let st = Command::new(&tcp_uppercase)
            .args(["client", "--port", &tcp_port, "word", &i.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        clients.push(("tcp", st.id()));
        assert!(st.wait_with_output().unwrap().status.success());
    }
    for i in 0..CLIENTS {
        let mut child = Command::new(&udp_chat)
            .args(["client", "--port", &udp_port])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        clients.push(("udp", child.id()));
        std::io::Write::write_all(
            &mut child.stdin.take().unwrap(),
            format!("msg {i}\n").as_bytes(),
        )
        .unwrap();
        assert!(child.wait_with_output().unwrap().status.success());
    }
    // SIGTERM: tcpdump writes out what it holds and exits.
    let stopped = Command::new("kill")
        .args(["-TERM", &dump.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    dump.finish(Duration::from_secs(5));
    let mut reader = net_trace::pcapio::FileReader::open(&pcap).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        frames.push(f);
    }
    let mut analyzer = net_trace::analyze::Analyzer::new();
    let mut starts: HashMap<usize, (Duration, bool)> = HashMap::new();
    let mut named: HashMap<u32, usize> = HashMap::new();
    let mut wrong = Vec::new();
    // One TCP client per local port (a TCP and a UDP client may well get
    // the same port number; UDP clients are told apart by their payload).
    let mut by_port: HashMap<(bool, u16), u32> = HashMap::new();
    let mut frames_named = 0;
    for f in &frames {
        let Some(p) = net_trace::decode::decode(f.link, &f.data, f.time, f.wire_len) else {
            continue;
        };
        let (tcp, syn, payload, sent) = match &p.transport {
            net_trace::decode::Transport::Tcp(t) => (true, t.flags.syn && !t.flags.ack, 0, None),
            net_trace::decode::Transport::Udp(u) => (false, false, u.len, Some(&u.payload)),
            _ => continue,
        };
        let row = analyzer.push(&p);
        let Some(conn) = row.conn else {
            continue;
        };
        let (stream_start, began_with_syn) = *starts.entry(conn).or_insert((p.time, syn));
        let role = if tcp && row.direction == Some(net_trace::analyze::Direction::ServerToClient) {
            Role::Server
        } else {
            Role::Client
        };
        let q = Query {
            tcp,
            src: p.src,
            dst: p.dst,
            time: p.time,
            stream_start,
            role,
            syn: began_with_syn,
            len: payload,
        };
        let Answer::Known((o, _)) = ask(&owners, &q) else {
            continue;
        };
        frames_named += 1;
        *named.entry(o.pid).or_default() += 1;
        let from_server = [LAB_TCP_PORT, LAB_UDP_PORT].contains(&p.src.port());
        // A UDP client's datagram says which client sent it (`msg I`, the
        // I-th): two clients may well get the same port one after the
        // other, so its port alone is no proof.
        let udp_sender = sent
            .and_then(|b| {
                std::str::from_utf8(b)
                    .ok()?
                    .trim()
                    .strip_prefix("msg ")?
                    .parse::<usize>()
                    .ok()
            })
            .and_then(|i| clients.iter().filter(|(k, _)| *k == "udp").nth(i))
            .map(|(_, pid)| *pid);
        let ok = if from_server {
            servers.contains(&o.pid)
        } else if !tcp {
            udp_sender == Some(o.pid)
        } else {
            clients
                .iter()
                .any(|(kind, c)| *c == o.pid && (*kind == "tcp") == tcp)
                && *by_port.entry((tcp, p.src.port())).or_insert(o.pid) == o.pid
        };
        if !ok {
            wrong.push(format!("{} → {}: {o}", p.src, p.dst));
        }
    }
    let count = |kind: &str| {
        clients
            .iter()
            .filter(|(k, pid)| *k == kind && named.contains_key(pid))
            .count()
    };
    eprintln!(
        "{frames_named} of {} frames named; tcp-uppercase clients {}/{CLIENTS}, udp-chat clients {}/{CLIENTS}, server frames {}; wrong {}; kernel events lost: {}",
        frames.len(),
        count("tcp"),
        count("udp"),
        servers
            .iter()
            .map(|s| named.get(s).copied().unwrap_or(0))
            .sum::<usize>(),
        wrong.len(),
        owners.events_lost()
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(count("tcp") >= CLIENTS - 1 && count("udp") >= CLIENTS - 1);
}

/// A process holding the same local port towards another server never
/// takes the credit, and a reused port is a new owner, with kernel events
/// and with /proc alone.
#[test]
#[ignore = "needs root"]
fn decoys_and_reused_ports_never_take_the_credit() {
    let (_alone, owners) = kernel_owners();
    let by_proc = Owners::start(&Options {
        kernel: false,
        ..Options::default()
    });
    // The server closes first, so the client's port is free again at once.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in server.incoming() {
            drop(s);
        }
    });
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_addr = other.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = other.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!(
        "import socket, sys, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', {port}))\n"
    );
    // The decoy: same local port, connected to the other server, alive
    // throughout.
    let mut decoy = Command::new(PYTHON)
        .args([
            "-c",
            &format!(
                "{bind}s.connect(('127.0.0.1', {}))\nprint('ready', flush=True)\nsys.stdin.read()",
                other_addr.port()
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(decoy.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let decoy = Reaped(decoy);
    let src = SocketAddr::new(addr.ip(), port);
    let mut seen = Vec::new();
    for round in 0..2 {
        let (pid, out) = run_python(&format!(
            "{bind}t = time.time_ns()\ns.connect(('127.0.0.1', {}))\ns.recv(1)\ns.close()\nprint(t)",
            addr.port()
        ));
        let start = Duration::from_nanos(out.trim().parse().unwrap());
        let q = Query {
            tcp: true,
            src,
            dst: addr,
            time: now(),
            stream_start: start,
            role: Role::Client,
            syn: true,
            len: 0,
        };
        match ask(&owners, &q) {
            Answer::Known((o, _)) => assert_eq!(o.pid, pid, "round {round}: {o}"),
            other => panic!(
                "round {round}: client pid {pid} not named: {other:?} (events lost: {})",
                owners.events_lost()
            ),
        }
        if let Answer::Known((o, m)) = ask(&by_proc, &q) {
            panic!("round {round}: /proc named {o} by {m} for a gone client");
        }
        seen.push(pid);
    }
    assert_ne!(seen[0], seen[1]);
    assert!(!seen.contains(&decoy.0.id()));
}

/// A connection its client passed to another process over a Unix socket
/// (`SCM_RIGHTS`) before exiting: the receiver shut it down (so both acted
/// on it) and holds it still, so /proc names the receiver now — but the
/// client's frames from before the hand-over are never the receiver's.
#[test]
#[ignore = "needs root"]
fn a_connection_passed_to_another_process_is_not_named_after_its_holder() {
    let (_alone, owners) = kernel_owners();
    // The server holds the connection open, so the receiver's socket stays
    // in /proc with it as its only holder.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let accepted = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    // An abstract Unix socket name: nothing on disk to clean up.
    let unix = format!("net-trace-handover-{}", std::process::id());
    let mut receiver = Command::new(PYTHON)
        .args([
            "-c",
            &format!(
                "import socket, sys\n\
                 u = socket.socket(socket.AF_UNIX)\n\
                 u.bind('\\0{unix}')\n\
                 u.listen(1)\n\
                 print('ready', flush=True)\n\
                 c, _ = u.accept()\n\
                 _, fds, _, _ = socket.recv_fds(c, 16, 1)\n\
                 s = socket.socket(fileno=fds[0])\n\
                 s.shutdown(socket.SHUT_WR)\n\
                 print('shut', flush=True)\n\
                 sys.stdin.read()\n"
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    let receiver = Reaped(receiver);
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let (client, out) = run_python(&format!(
        "import socket, time\n\
         s = socket.create_connection(('127.0.0.1', {}))\n\
         t = time.time_ns()\n\
         s.sendall(b'from the client')\n\
         u = socket.socket(socket.AF_UNIX)\n\
         u.connect('\\0{unix}')\n\
         socket.send_fds(u, [b'x'], [s.fileno()])\n\
         print(s.getsockname()[1], t)\n\
         s.close()\n",
        server.port()
    ));
    assert_eq!(lines.next().unwrap().unwrap(), "shut");
    let _held = accepted.join().unwrap().unwrap();
    let fields: Vec<u64> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    let [port, sent] = fields[..] else {
        panic!("client said {out:?}");
    };
    let src = SocketAddr::new(server.ip(), u16::try_from(port).unwrap());
    // The client's data, sent once it had connected (the capture's SYN,
    // before that, is not asked about: its time is not known here).
    let data = Query {
        tcp: true,
        src,
        dst: server,
        time: Duration::from_nanos(sent),
        stream_start: Duration::from_nanos(sent),
        role: Role::Client,
        syn: false,
        len: 15,
    };
    // Events up to the receiver's shutdown are read first: a question
    // about a frame at this time waits for them.
    ask(
        &owners,
        &Query {
            time: now(),
            stream_start: now(),
            len: 0,
            ..data.clone()
        },
    );
    let holder = receiver.0.id();
    match ask(&owners, &data) {
        Answer::Known((o, m)) => assert_eq!(
            o.pid, client,
            "the client's data is named {o} by {m}, not the client {client} (the receiver is {holder})"
        ),
        // Both processes were seen acting on the socket.
        other => assert!(
            other == Answer::Unknown(Reason::HandedOver) || owners.events_lost() > 0,
            "{other:?}"
        ),
    }
}

/// How the socket of [`shared_socket`] came to a second process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shared {
    /// Passed over a Unix socket (`SCM_RIGHTS`) to an unrelated process.
    Passed,
    /// Inherited by a child forked after the socket was made.
    Forked,
}

/// One socket, made by A and sent on by A and B in turn (A, B, A, B, A),
/// each segment or datagram carrying its sender's pid; then one of the two
/// exits (`owner_exits`: A, the socket's maker) and the other holds the
/// socket alone, so /proc names it — and it is asked about every frame of
/// both. Returns the right and wrong answers.
fn shared_socket(tcp: bool, how: Shared, owner_exits: bool) -> Tally {
    const SCRIPT: &str = r"
import os, socket, sys, time
tcp, how, owner_exits, port, unix, size = sys.argv[1] == 'tcp', sys.argv[2], sys.argv[3] == 'owner', int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
def say(*f):
    os.write(1, (' '.join(str(x) for x in f) + '\n').encode())
def send(s):
    m = ('pid%d' % os.getpid()).encode().ljust(size, b'.')
    a = time.time_ns()
    s.send(m)
    say('sent', os.getpid(), (a + time.time_ns()) // 2)
def turns(s, c, mine, exiting, other_pid):
    for t in range(5):
        if t % 2 == mine:
            send(s)
            c.send(b'1')
        elif not c.recv(1):
            break
    if exiting:
        os._exit(0)
    c.recv(1)
    if other_pid:
        os.waitpid(other_pid, 0)
    say('holding', os.getpid())
    sys.stdin.read()
    os._exit(0)
if how == 'receiver':
    u = socket.socket(socket.AF_UNIX)
    u.bind('\0' + unix)
    u.listen(1)
    say('ready')
    c, _ = u.accept()
    _, fds, _, _ = socket.recv_fds(c, 16, 1)
    s = socket.socket(fileno=fds[0])
    turns(s, c, 1, owner_exits == False, 0)
t0 = time.time_ns()
if tcp:
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(('127.0.0.1', port))
say('socket', s.getsockname()[1], t0)
if how == 'pass':
    c = socket.socket(socket.AF_UNIX)
    c.connect('\0' + unix)
    socket.send_fds(c, [b'x'], [s.fileno()])
    turns(s, c, 0, owner_exits, 0)
c, d = socket.socketpair()
child = os.fork()
if child == 0:
    c.close()
    turns(s, d, 1, owner_exits == False, 0)
d.close()
turns(s, c, 0, owner_exits, child)
";
    let (server, sink): (SocketAddr, Box<dyn std::any::Any>) = if tcp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (addr, Box::new(tcp_sink(listener, 1)))
    } else {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        (socket.local_addr().unwrap(), Box::new(socket))
    };
    let (_alone, owners) = kernel_owners();
    let unix = format!("net-trace-shared-{}-{tcp}-{how:?}", std::process::id());
    let spawn = |role: &str| {
        let mut child = Command::new(PYTHON)
            .args([
                "-c",
                SCRIPT,
                if tcp { "tcp" } else { "udp" },
                role,
                if owner_exits { "owner" } else { "other" },
                &server.port().to_string(),
                &unix,
                &PAYLOAD.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        (Reaped(child), lines)
    };
    // The sends of the two processes, in turn: A, B, A, B, A.
    const SENDS: usize = 5;
    // Each process's lines, as they come, on one channel.
    let (tx, said) = mpsc::channel::<String>();
    let relay = |lines: std::io::Lines<BufReader<std::process::ChildStdout>>| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    };
    let mut children = Vec::new();
    if how == Shared::Passed {
        let (receiver, mut lines) = spawn("receiver");
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        relay(lines);
        children.push(receiver);
    }
    let (maker, lines) = spawn(match how {
        Shared::Passed => "pass",
        Shared::Forked => "fork",
    });
    relay(lines);
    children.push(maker);
    let (mut port, mut start, mut sent, mut holder) = (0u16, Duration::ZERO, Vec::new(), 0u32);
    // Each process's lines come through its own relay thread, so one's
    // "holding" may overtake the other's last "sent": read until both
    // are in.
    while holder == 0 || sent.len() < SENDS {
        let line = said.recv_timeout(PATIENCE).expect("the senders went on");
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            ["socket", p, t0] => {
                port = p.parse().unwrap();
                start = Duration::from_nanos(t0.parse().unwrap());
            }
            ["sent", pid, at] => sent.push((
                pid.parse::<u32>().unwrap(),
                Duration::from_nanos(at.parse().unwrap()),
            )),
            ["holding", pid] => holder = pid.parse().unwrap(),
            _ => panic!("a sender said {line:?}"),
        }
    }
    // The other one has exited: only the holder is left in /proc.
    for child in &mut children {
        if child.0.id() != holder {
            let deadline = Instant::now() + PATIENCE;
            while child.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    assert_eq!(sent.len(), SENDS, "{sent:?}");
    let src = SocketAddr::new(server.ip(), port);
    // The frames as a capture asks about them: a TCP stream from the
    // connect, a UDP flow from its first datagram.
    let stream_start = if tcp { start } else { sent[0].1 };
    let mut tally = Tally::default();
    for (i, (pid, at)) in sent.iter().enumerate() {
        let q = Query {
            tcp,
            src,
            dst: server,
            time: *at,
            stream_start,
            role: Role::Client,
            syn: false,
            len: u32::try_from(PAYLOAD).unwrap(),
        };
        tally.check(
            ask(&owners, &q),
            *pid,
            &format!("frame {i} of pid {pid} (pid {holder} holds the socket now)"),
        );
    }
    eprintln!(
        "{} {how:?}, {} exits first: {} of 5 frames named, {} wrong; events lost: {}",
        if tcp { "TCP" } else { "UDP" },
        if owner_exits {
            "its maker"
        } else {
            "the other"
        },
        tally.right,
        tally.wrong.len(),
        owners.events_lost()
    );
    drop(children);
    drop(sink);
    tally
}

/// A socket two processes sent on, asked about after one of them exited:
/// /proc names the one left, which never becomes the name of the other's
/// frames.
#[test]
#[ignore = "needs root"]
fn a_socket_two_processes_sent_on_is_never_named_after_the_one_left() {
    let mut wrong = Vec::new();
    for tcp in [true, false] {
        for how in [Shared::Passed, Shared::Forked] {
            for owner_exits in [true, false] {
                wrong.extend(shared_socket(tcp, how, owner_exits).wrong);
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong: {wrong:#?}", wrong.len());
}
