//! `net-trace read` on captures made in the test, and on tshark's.
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod details;
mod filter;
mod fixtures;
mod follow;
mod formats;
mod live_source;
mod owners;
mod pipeline;
mod rtt;
mod tcp_analysis;

use std::path::Path;
use std::time::Duration;

use net_trace::pcapio::PcapOut;
use testkit::Run;

const BIN: &str = env!("CARGO_BIN_EXE_net-trace");

fn tcp(src: &str, dst: &str, seq: u32, ack: Option<u32>, flags: &str, payload: &[u8]) -> Vec<u8> {
    net_trace::decode::build::tcp(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        seq,
        ack,
        flags,
        payload,
    )
}

/// The lab's TCP exchange: handshake, sentence, reply, four-segment close.
fn lab_exchange(path: &Path) {
    const C: &str = "127.0.0.1:52581";
    const S: &str = "127.0.0.1:13000";
    let frames = [
        tcp(C, S, 100, None, "S", b""),
        tcp(S, C, 900, Some(101), "S", b""),
        tcp(C, S, 101, Some(901), "", b""),
        tcp(C, S, 101, Some(901), "P", b"tanmayi 31"),
        tcp(S, C, 901, Some(111), "P", b"TANMAYI 31"),
        tcp(C, S, 111, Some(911), "F", b""),
        tcp(S, C, 911, Some(112), "", b""),
        tcp(S, C, 911, Some(112), "F", b""),
        tcp(C, S, 112, Some(912), "", b""),
        // Unrelated traffic on another port.
        tcp("127.0.0.1:40000", "127.0.0.1:8080", 1, None, "S", b""),
    ];
    let mut out = PcapOut::create(path, net_trace::decode::LinkType::Ethernet).unwrap();
    for (i, f) in frames.iter().enumerate() {
        out.write(Duration::from_millis(1_000 + i as u64), f, f.len() as u32)
            .unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn read_explains_the_handshake_and_teardown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.pcap");
    lab_exchange(&path);
    let run = Run::new(
        BIN,
        &["read", path.to_str().unwrap(), "--port", "13000"],
        b"",
    );
    run.assert_success();
    let out = run.stdout_text();
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" TCP ")).collect();
    assert_eq!(rows.len(), 9, "{out}");
    assert!(rows[0].contains("client→server") && rows[0].contains("[SYN] Seq=0 Win=65483 Len=0"));
    assert!(rows[1].contains("server→client") && rows[1].contains("[SYN, ACK] Seq=0 Ack=1"));
    assert!(rows[3].contains("[PSH, ACK] Seq=1 Ack=1") && rows[3].contains("data \"tanmayi 31\""));
    assert!(rows[5].contains("[FIN, ACK] Seq=11 Ack=11"));
    assert!(rows[1].contains("0.001000"), "relative time: {}", rows[1]);
    assert!(out.contains("handshake: frames 1–3: 1 SYN sent by the client, 2 SYN-ACK sent by the server, 3 ACK sent by the client"));
    assert!(out.contains("teardown: frames 6–9 (four segments: the client closed first)"));
    assert!(
        !out.contains("8080"),
        "the port filter let other traffic through"
    );
}

#[test]
fn unfiltered_read_shows_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.pcap");
    lab_exchange(&path);
    let run = Run::new(BIN, &["read", path.to_str().unwrap()], b"");
    run.assert_success();
    assert!(
        run.stdout_text()
            .contains("TCP connection 2: client 127.0.0.1:40000 ↔ server 127.0.0.1:8080")
    );
    assert!(
        run.stdout_text()
            .contains("handshake (incomplete): frame 10")
    );
}

#[test]
fn unreadable_files_are_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a capture at all").unwrap();
    let run = Run::new(BIN, &["read", text.to_str().unwrap()], b"");
    run.assert_code(1);
    assert!(
        run.stderr_text().starts_with("error: ")
            && run.stderr_text().contains("not a readable capture"),
        "{run}"
    );
    let run = Run::new(BIN, &["read", "/nonexistent/x.pcap"], b"");
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        "error: /nonexistent/x.pcap: no such file or directory\n"
    );
    Run::new(BIN, &["read"], b"").assert_code(2);
}

#[test]
#[ignore = "needs tshark"]
fn tshark_agrees_with_our_pcap_and_we_read_its_pcapng() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("lab.pcap");
    lab_exchange(&ours);
    // tshark reads our file and counts the same frames.
    let text = testkit::peers::tshark_text(&ours, &["-Y", "tcp.port == 13000"]);
    assert_eq!(text.lines().count(), 9, "{text}");
    assert!(text.lines().next().unwrap().contains("[SYN]"));
    // tshark rewrites it as pcapng (its default); we read that.
    let ng = dir.path().join("lab.pcapng");
    testkit::peers::tshark_text(&ours, &["-w", ng.to_str().unwrap()]);
    let run = Run::new(BIN, &["read", ng.to_str().unwrap(), "--port", "13000"], b"");
    run.assert_success();
    let out = run.stdout_text();
    assert!(out.contains("teardown: frames 6–9 (four segments"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("0.001000") && l.contains("[SYN, ACK]")),
        "{out}"
    );
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = PcapOut::create(path, net_trace::decode::LinkType::Ethernet).unwrap();
    for (i, f) in frames.iter().enumerate() {
        out.write(Duration::from_millis(1_000 + i as u64), f, f.len() as u32)
            .unwrap();
    }
    out.flush().unwrap();
}

/// Rows of the table: the lines before the first blank one, heading
/// left out.
fn table(out: &str) -> Vec<&str> {
    out.lines().skip(1).take_while(|l| !l.is_empty()).collect()
}

#[test]
fn frames_keep_their_file_numbers_and_time_under_a_port_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.pcap");
    lab_exchange(&path);
    let run = Run::new(
        BIN,
        &["read", path.to_str().unwrap(), "--port", "8080"],
        b"",
    );
    run.assert_success();
    let out = run.stdout_text();
    let rows = table(&out);
    assert_eq!(rows.len(), 1, "{out}");
    // Frame 10 of the file, 9 ms after its first frame.
    assert!(
        rows[0].trim_start().starts_with("10   0.009000"),
        "{}",
        rows[0]
    );
    assert!(
        out.contains("TCP connection 1: client 127.0.0.1:40000"),
        "{out}"
    );
}

#[test]
fn a_reused_port_is_a_second_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reuse.pcap");
    write_pcap(&path, &reused_port_frames());
    let run = Run::new(BIN, &["read", path.to_str().unwrap(), "--states"], b"");
    run.assert_success();
    let out = run.stdout_text();
    let rows = table(&out);
    assert!(rows[6].contains("[SYN] Seq=0 Win="), "{out}");
    assert!(rows[8].contains("[PSH, ACK] Seq=1 Ack=1"), "{out}");
    assert!(
        rows[0].contains("[client SYN_SENT / server SYN_RECEIVED]"),
        "{}",
        rows[0]
    );
    assert!(
        rows[11].contains("[client CLOSED / server TIME_WAIT]"),
        "{}",
        rows[11]
    );
    for conn in [1, 2] {
        assert!(
            out.contains(&format!(
                "TCP connection {conn}: client {REUSED_CLIENT} ↔ server {REUSED_SERVER}"
            )),
            "{out}"
        );
    }
    assert!(out.contains("handshake: frames 7–9:"), "{out}");
    assert!(!out.contains("TCP connection 3"), "{out}");
}

/// The two ends of [`reused_port_frames`]' connections.
const REUSED_CLIENT: &str = "127.0.0.1:45678";
const REUSED_SERVER: &str = "127.0.0.1:13000";

/// Two connections, one after the other, between the same two ports.
fn reused_port_frames() -> Vec<Vec<u8>> {
    const C: &str = REUSED_CLIENT;
    const S: &str = REUSED_SERVER;
    let mut frames = Vec::new();
    for (isn_c, isn_s) in [(100, 900), (70_000, 123_456)] {
        frames.extend([
            tcp(C, S, isn_c, None, "S", b""),
            tcp(S, C, isn_s, Some(isn_c + 1), "S", b""),
            tcp(C, S, isn_c + 1, Some(isn_s + 1), "P", b"hi"),
            tcp(S, C, isn_s + 1, Some(isn_c + 3), "F", b""),
            tcp(C, S, isn_c + 3, Some(isn_s + 2), "F", b""),
            tcp(S, C, isn_s + 2, Some(isn_c + 4), "", b""),
        ]);
    }
    frames
}

/// tshark counts the same streams as the test above.
#[test]
#[ignore = "needs tshark"]
fn tshark_counts_a_reused_port_as_a_second_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reuse.pcap");
    write_pcap(&path, &reused_port_frames());
    let text = testkit::peers::tshark_text(&path, &["-T", "fields", "-e", "tcp.stream"]);
    let mut streams: Vec<&str> = text.lines().collect();
    streams.dedup();
    assert_eq!(streams, ["0", "1"]);
}

/// `frames` frames of short connections, each on its own port.
fn many_connections(path: &Path, conns: u32) {
    let s = "127.0.0.1:13000";
    let mut out = PcapOut::create(path, net_trace::decode::LinkType::Ethernet).unwrap();
    let mut t = 0;
    for i in 0..conns {
        let c = format!("127.0.0.1:{}", 20_000 + i % 40_000);
        for f in [
            tcp(&c, s, i, None, "S", b""),
            tcp(s, &c, 7, Some(i + 1), "S", b""),
            tcp(&c, s, i + 1, Some(8), "P", b"a sentence to uppercase"),
            tcp(s, &c, 8, Some(i + 24), "F", b""),
            tcp(&c, s, i + 24, Some(9), "F", b""),
            tcp(s, &c, 9, Some(i + 25), "", b""),
        ] {
            t += 1;
            out.write(Duration::from_micros(t), &f, f.len() as u32)
                .unwrap();
        }
    }
    out.flush().unwrap();
}

#[test]
fn a_large_file_is_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    many_connections(&path, 5_000);
    let run = Run::new(BIN, &["read", path.to_str().unwrap()], b"");
    run.assert_success();
    let out = run.stdout_text();
    assert_eq!(table(&out).len(), 30_000);
    assert!(out.contains("TCP connection 5000: "));
    assert!(!out.contains("TCP connection 5001: "));
    assert_eq!(run.stderr_text(), "");
}

/// Kills the child when the test ends, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    // Far more output than the pipe and the program's buffer hold.
    many_connections(&path, 5_000);
    let mut child = Child(
        Command::new(BIN)
            .args(["read", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("No."), "{first}");
    // As `| head -1`: the reader goes away.
    drop(stdout);
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
}
