//! The capture pipeline run from a file, without root: what it shows and
//! saves is what `net-trace read` shows.

use std::path::Path;
use std::process::Command;

use net_trace::capture::{self, Options};
use net_trace::pcapio::FileReader;
use net_trace::sink::{Pcap, PcapNg, Sink, Summary, Table};
use net_trace::source::FileSource;

use super::BIN;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `net-trace read FILE`'s standard output.
fn read(path: &Path) -> String {
    read_with(path, &[])
}

/// `net-trace read FILE ARGS…`'s standard output.
fn read_with(path: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("read")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The live pipeline (live table and summaries, capture numbering) fed
/// from a file, also saving to `pcap` and `pcapng` files when given;
/// returns its standard output and the frames it counted as captured.
fn capture_from(path: &Path, pcap: Option<&Path>, pcapng: Option<&Path>) -> (String, u64) {
    capture_with(&Options::default(), path, pcap, pcapng)
}

/// As [`capture_from`], with `opts`.
fn capture_with(
    opts: &Options,
    path: &Path,
    pcap: Option<&Path>,
    pcapng: Option<&Path>,
) -> (String, u64) {
    let mut source = FileSource::new(FileReader::open(path).unwrap(), "lo");
    let (mut table, mut summary) = (Vec::new(), Vec::new());
    let (mut pcap, mut pcapng) = (pcap.map(Pcap::new), pcapng.map(PcapNg::new));
    let report = {
        let mut table = Table::live(&mut table, false);
        let mut summary = Summary::live(&mut summary);
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut table, &mut summary];
        if let Some(p) = pcap.as_mut() {
            sinks.push(p);
        }
        if let Some(p) = pcapng.as_mut() {
            sinks.push(p);
        }
        let report = capture::run_source(&mut source, opts, None, None, || (), &mut sinks).unwrap();
        capture::finish(&mut sinks, &report.end()).unwrap();
        report
    };
    table.extend_from_slice(&summary);
    (String::from_utf8(table).unwrap(), report.captured)
}

#[test]
fn the_capture_pipeline_run_from_a_file_shows_what_read_shows() {
    for name in [
        "lo-ethernet.pcap",
        "http-full.pcap",
        "any-sll2.pcap",
        "fragments.pcap",
        "icmp-unreachable.pcap",
        "merged-eth-sll.pcapng",
        "port-reuse.pcap",
    ] {
        let path = fixture(name);
        let (shown, captured) = capture_from(&path, None, None);
        assert_eq!(shown, read(&path), "{name}");
        let rows = shown.lines().skip(1).take_while(|l| !l.is_empty()).count();
        assert_eq!(captured as usize, rows, "{name}");
    }
}

#[test]
fn a_capture_saved_from_the_pipeline_reads_back_as_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("http-full.pcap");
    let (pcap, pcapng) = (dir.path().join("x.pcap"), dir.path().join("x.pcapng"));
    let (shown, _) = capture_from(&original, Some(&pcap), Some(&pcapng));
    assert_eq!(read(&pcap), shown);
    assert_eq!(read(&pcapng), shown);
}

#[test]
fn the_processes_a_pcapng_names_go_through_the_pipeline_and_into_its_pcapng() {
    use net_trace::pcapio::{PcapNgOut, process_comment};
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("named.pcapng");
    let (c, s) = ("127.0.0.1:52581", "127.0.0.1:13000");
    let frames = [
        (c, s, 100, None, "S", 4242),
        (s, c, 900, Some(101), "S", 77),
        (c, s, 101, Some(901), "", 4242),
    ];
    let mut out = PcapNgOut::create(&named).unwrap();
    let lo = out
        .add_interface("lo", net_trace::decode::LinkType::Ethernet)
        .unwrap();
    for (i, (src, dst, seq, ack, flags, pid)) in frames.into_iter().enumerate() {
        let f = super::tcp(src, dst, seq, ack, flags, b"");
        let comment = process_comment(pid, &format!("/usr/bin/prog{pid}"), &["x".into()]);
        let time = std::time::Duration::from_millis(1_000 + i as u64);
        out.write(lo, time, &f, f.len() as u32, Some(&comment))
            .unwrap();
    }
    out.flush().unwrap();
    let saved = dir.path().join("saved.pcapng");
    let (shown, _) = capture_from(&named, None, Some(&saved));
    assert_eq!(shown, read(&named));
    assert!(
        shown.contains("prog4242") && shown.contains("prog77"),
        "{shown}"
    );
    assert_eq!(read(&saved), shown);
}

#[test]
fn the_capture_pipeline_runs_the_filter_expression_as_a_capture_filter() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("http-full.pcap");
    let saved = dir.path().join("kept.pcap");
    let opts = Options {
        filter: Some(net_trace::filter::Filter::parse("tcp[tcpflags] & tcp-push != 0").unwrap()),
        ..Options::default()
    };
    let (shown, captured) = capture_with(&opts, &original, Some(&saved), None);
    // As from a kernel filter: only the frames kept, numbered from 1.
    let rows: Vec<&str> = shown
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(!rows.is_empty() && rows.len() < read(&original).lines().count());
    assert_eq!(captured as usize, rows.len());
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.trim_start().starts_with(&format!("{} ", i + 1)),
            "{row}"
        );
    }
    assert_eq!(read(&saved), shown);
    // `read` keeps the same frames, with their numbers in the file.
    let filtered = read_with(&original, &["tcp[tcpflags] & tcp-push != 0"]);
    let kept = filtered
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert_eq!(kept, rows.len());
}

#[test]
fn narrowing_to_a_process_without_owners_to_prove_it_narrows_nothing() {
    // Frames that are not IP (fragments.pcap has ARP) stay too.
    let path = fixture("fragments.pcap");
    let opts = Options {
        pid: Some(1),
        ..Options::default()
    };
    let (shown, _) = capture_with(&opts, &path, None, None);
    assert!(shown.contains("ARP"), "{shown}");
    assert_eq!(shown, read(&path));
}

#[test]
fn a_capture_narrowed_to_a_process_numbers_its_rows_as_the_file_it_saves() {
    use net_trace::owners::{Options as OwnerOptions, Owners};
    use net_trace::pcapio::PcapOut;
    use net_trace::sink::{Conversations, Follow, Format, Records};
    use std::net::{TcpListener, TcpStream};
    // A connection of this process, found in /proc while it lives; the
    // capture holds other traffic first, which the narrowing hides.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _accepted = listener.accept().unwrap();
    let (c, s) = (
        client.local_addr().unwrap().to_string(),
        client.peer_addr().unwrap().to_string(),
    );
    let (oc, os) = ("127.0.0.1:1", "127.0.0.1:2");
    // A segment of the hidden connection corrupted on the way (a bit of
    // its window flipped after the checksum was made).
    let mut corrupted = super::tcp(oc, os, 2, Some(8), "P", b"x");
    corrupted[14 + 20 + 15] ^= 0x10;
    let frames = [
        super::tcp(oc, os, 1, None, "S", b""),
        super::tcp(os, oc, 7, Some(2), "S", b""),
        super::tcp(oc, os, 2, Some(8), "", b""),
        corrupted,
        super::tcp(&c, &s, 100, None, "S", b""),
        super::tcp(&s, &c, 900, Some(101), "S", b""),
        super::tcp(&c, &s, 101, Some(901), "", b""),
        super::tcp(&c, &s, 101, Some(901), "P", b"hello"),
        super::tcp(&s, &c, 901, Some(106), "", b""),
        super::tcp(&s, &c, 901, Some(106), "", b""),
    ];
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("mixed.pcap");
    let mut out = PcapOut::create(&original, net_trace::decode::LinkType::Ethernet).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let time = std::time::Duration::from_millis(1_000 + i as u64);
        out.write(time, f, f.len() as u32).unwrap();
    }
    out.flush().unwrap();

    let saved = dir.path().join("narrowed.pcapng");
    let opts = Options {
        pid: Some(std::process::id()),
        ..Options::default()
    };
    let owners = Owners::start(&OwnerOptions {
        kernel: false,
        ..OwnerOptions::default()
    });
    let mut source = FileSource::new(FileReader::open(&original).unwrap(), "lo");
    let (mut table, mut json, mut summary) = (Vec::new(), Vec::new(), Vec::new());
    let (mut conversations, mut followed) = (Vec::new(), Vec::new());
    let mut pcapng = PcapNg::new(&saved);
    {
        let mut t = Table::live(&mut table, false);
        let mut j = Records::new(&mut json, Format::Json, false);
        let mut s = Summary::live(&mut summary);
        let mut c = Conversations::new(&mut conversations);
        let mut f = Follow::new(&mut followed, 1, None);
        let mut sinks: Vec<&mut dyn Sink> =
            vec![&mut t, &mut j, &mut s, &mut c, &mut f, &mut pcapng];
        let report =
            capture::run_source(&mut source, &opts, Some(owners), None, || (), &mut sinks).unwrap();
        capture::finish(&mut sinks, &report.end()).unwrap();
    }
    let table = String::from_utf8(table).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    // The six frames of this process's connection, the duplicate ACK
    // naming the frame it repeats by its number in the saved file.
    let back = read(&saved);
    let back_rows: Vec<&str> = back.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 6, "{table}");
    assert_eq!(rows, back_rows, "{table}\n{back}");
    let numbers = |rows: &[&str]| -> Vec<String> {
        rows.iter()
            .map(|r| r.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(numbers(&rows), ["1", "2", "3", "4", "5", "6"]);
    assert!(rows[5].contains("[TCP Dup ACK 5#1]"), "{}", rows[5]);
    let json = String::from_utf8(json).unwrap();
    let json_numbers: Vec<&str> = json
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"frame\""))
        .map(|l| {
            let rest = l.split("\"no\":").nth(1).unwrap();
            rest.split(',').next().unwrap()
        })
        .collect();
    assert_eq!(json_numbers, ["1", "2", "3", "4", "5", "6"], "{json}");
    assert!(json.contains("\"duplicate_ack_frame\":5"), "{json}");
    // The summary names the frames by the same numbers.
    let summary = String::from_utf8(summary).unwrap();
    assert!(summary.contains("handshake: frames 1–3"), "{summary}");
    assert!(summary.contains("duplicate ACKs: 1, frame 6"), "{summary}");
    // The connection hidden before it leaves no gap: it is connection 1
    // everywhere, as in the saved file (tshark's stream 0 there).
    assert!(summary.contains("TCP connection 1: "), "{summary}");
    assert!(!summary.contains("TCP connection 2"), "{summary}");
    assert!(
        json.contains("\"type\":\"connection\",\"connection\":1,"),
        "{json}"
    );
    assert!(!json.contains("\"connection\":2"), "{json}");
    let conversations = String::from_utf8(conversations).unwrap();
    let lines: Vec<&str> = conversations.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "{conversations}");
    assert!(lines[0].starts_with("   1 TCP "), "{conversations}");
    let followed = String::from_utf8(followed).unwrap();
    assert!(followed.contains(&format!("Node 0: {c}")), "{followed}");
    assert!(followed.contains("\nhello\n"), "{followed}");
    // The corrupted segment is hidden with its connection's frames, and
    // counted nowhere: the summary says what the saved file says.
    let corrupted_line = "Corrupted on the way (checksum incorrect): 1 frame;";
    assert!(
        read(&original).contains(corrupted_line),
        "{}",
        read(&original)
    );
    assert!(!summary.contains("Corrupted on the way"), "{summary}");
    assert!(!back.contains("Corrupted on the way"), "{back}");
    let back_summary = back.split_once("\n\n").unwrap().1;
    assert_eq!(
        summary.trim_start().lines().next(),
        back_summary.lines().next(),
        "{back_summary}"
    );
    if testkit::peers::available("tshark", "tshark") {
        let streams = testkit::peers::tshark_text(&saved, &["-T", "fields", "-e", "tcp.stream"]);
        assert_eq!(streams, "0\n".repeat(6), "tshark's tcp.stream");
    }
}

#[test]
fn a_filter_that_hides_a_connection_numbers_the_rest_as_the_file_it_keeps() {
    // tcp-analysis.pcap holds four connections, from ports 40001 to 40004;
    // the expression hides the first.
    let path = fixture("tcp-analysis.pcap");
    let expr = "not port 40001";
    let summary = read_with(&path, &[expr, "--summary-only"]);
    let conns: Vec<(String, String)> = summary
        .lines()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[2].to_string())
        })
        .collect();
    assert_eq!(
        conns,
        [
            ("1".to_string(), "10.78.0.2:40002".to_string()),
            ("2".to_string(), "10.78.0.2:40003".to_string()),
            ("3".to_string(), "10.78.0.2:40004".to_string()),
        ],
        "{summary}"
    );
    let table = read_with(&path, &[expr]);
    assert!(
        table.contains("\nTCP connection 1: client 10.78.0.2:40002 "),
        "{table}"
    );
    let followed = read_with(&path, &[expr, "--follow", "1"]);
    assert!(followed.contains("Node 0: 10.78.0.2:40002"), "{followed}");
    // tshark's streams in the file tcpdump writes with that expression:
    // stream K−1 is connection K.
    if !(testkit::peers::available("tcpdump", "tcpdump")
        && testkit::peers::available("tshark", "tshark"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.pcap");
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(&path)
        .arg("-w")
        .arg(&kept)
        .arg(expr)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let streams = testkit::peers::tshark_text(
        &kept,
        &[
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.srcport",
        ],
    );
    assert_eq!(
        streams, "0\t40002\n1\t40003\n2\t40004\n",
        "tshark's streams"
    );
}
