//! net-trace capturing a real tcp-uppercase exchange on `lo` (root only).

use std::time::Duration;

use testkit::{Run, Server, bin_path};

const T: Duration = Duration::from_secs(15);

#[test]
#[ignore = "needs root"]
fn captures_a_real_tcp_exchange_on_lo() {
    testkit::need_root("live capture");
    let server = Server::start(bin_path("tcp-uppercase"), &["server", "--port", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("live.pcap");
    let mut capture = Server::spawn(
        bin_path("net-trace"),
        &[
            "capture",
            "--iface",
            "lo",
            "--port",
            &server.port(),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    )
    .unwrap();
    capture.wait_for_stderr(T, |l| l.starts_with("capturing on lo"));

    let run = Run::new(
        bin_path("tcp-uppercase"),
        &["client", "--port", &server.port()],
        b"tanmayi 31\n",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "From Server: TANMAYI 31\n");

    // The client closes first, so the last frame acknowledges the server's FIN.
    capture.wait_for_stdout(T, |l| l.contains("teardown: ACK of the server's FIN"));
    let status = capture.terminate(T).expect("net-trace stops on SIGTERM");
    assert!(status.success(), "{status}");
    let out = capture.stdout();
    let rows: Vec<&String> = out.iter().filter(|l| l.contains(" TCP ")).collect();
    assert!(rows.len() >= 8, "{out:#?}");
    assert!(
        rows[0].contains("client→server") && rows[0].contains("[SYN]"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("server→client") && rows[1].contains("[SYN, ACK]"),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("server (pid ") && rows[1].contains("tcp-uppercase)"),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains("client→server") && rows[2].contains("[ACK]"));
    let text = out.join("\n");
    assert!(
        text.contains(
            "handshake: frames 1–3: 1 SYN sent by the client, 2 SYN-ACK sent by the server"
        ),
        "{text}"
    );
    assert!(text.contains("teardown: frames "), "{text}");

    // The saved file holds the same frames, and reads back the same.
    let read = Run::new(
        bin_path("net-trace"),
        &["read", pcap.to_str().unwrap()],
        b"",
    );
    read.assert_success();
    let read_rows = read
        .stdout_text()
        .lines()
        .filter(|l| l.contains(" TCP "))
        .count();
    assert_eq!(read_rows, rows.len());
}

#[test]
#[ignore = "needs root"]
fn without_privilege_the_error_says_which() {
    testkit::need_root("dropping privileges");
    testkit::need("setpriv", "util-linux");
    // A copy nobody can reach and run.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("net-trace");
    std::fs::copy(bin_path("net-trace"), &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = Run::new(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            exe.to_str().unwrap(),
            "capture",
            "--count",
            "1",
        ],
        b"",
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        "error: live capture needs root or the CAP_NET_RAW capability (run it with sudo, or save a capture with tshark and analyse it with `net-trace read FILE`)\n"
    );
}

#[test]
#[ignore = "needs root and tshark"]
fn frame_counts_equal_tsharks() {
    testkit::need_root("live capture");
    testkit::need("tshark", "tshark");
    let server = Server::start(
        bin_path("tcp-uppercase"),
        &["server", "--port", "0", "--quiet"],
    );
    let port = server.port();
    // tshark prints a line per frame as it goes (-l).
    let tshark = Server::spawn(
        "tshark",
        &["-l", "-i", "lo", "-f", &format!("tcp port {port}")],
    )
    .unwrap();
    tshark.wait_for_stderr(T, |l| l.contains("Capturing on"));
    // "Capturing on" comes before dumpcap really listens; newer versions
    // then say "Capture started".
    let _ = tshark.try_wait_for_stderr(T, |l| l.contains("Capture started"));
    let mut ours = Server::spawn(
        bin_path("net-trace"),
        &["capture", "--iface", "lo", "--port", &port],
    )
    .unwrap();
    ours.wait_for_stderr(T, |l| l.starts_with("capturing on lo"));

    for i in 0..3 {
        let run = Run::new(
            bin_path("tcp-uppercase"),
            &["client", "--port", &port, "exchange", &i.to_string()],
            b"",
        );
        run.assert_success();
    }
    // Three connections, each closed by the client: three final ACKs.
    let deadline = std::time::Instant::now() + T;
    while ours
        .stdout()
        .iter()
        .filter(|l| l.contains("ACK of the server's FIN"))
        .count()
        < 3
    {
        assert!(std::time::Instant::now() < deadline, "{:#?}", ours.stdout());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ours.terminate(T).is_some_and(|s| s.success()));
    let ours_count = ours.stdout().iter().filter(|l| l.contains(" TCP ")).count();
    let theirs = || {
        tshark
            .stdout()
            .iter()
            .filter(|l| l.contains(" TCP "))
            .count()
    };
    let deadline = std::time::Instant::now() + T;
    while theirs() < ours_count && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let theirs_count = theirs();
    assert!(ours_count >= 24, "{ours_count} frames for three exchanges");
    assert_eq!(
        ours_count, theirs_count,
        "net-trace and tshark saw different frame counts"
    );
}
