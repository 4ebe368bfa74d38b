//! `--format json|tsv` and `--summary-only` on the fixtures; the
//! conversations compared with `tshark -q -z conv,tcp`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BIN;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `net-trace read FIXTURE ARGS…`'s stdout; it must succeed.
fn read(name: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("read")
        .arg(fixture(name))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "read {name} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Table rows: the lines that start with a frame number.
fn table_rows(name: &str) -> usize {
    read(name, &[])
        .lines()
        .take_while(|l| !l.is_empty())
        .skip(1)
        .count()
}

/// A JSON parser other than ours reads every line: prints, per line, the
/// type, the frame number (or connection), and a few fields.
const PARSE: &str = r#"
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["type"] == "frame":
        p = o["process"]
        print("frame", o["no"], o["connection"], o["source_port"], ",".join(o["analysis"]),
              o.get("duplicate_ack_frame"), o["states"]["client"] if o.get("states") else None,
              p["pid"] if p else None)
    else:
        print("connection", o["connection"], o["frames"], o["bytes"], o["retransmissions"])
"#;

fn python_reads(json: &str) -> Vec<String> {
    let mut child = Command::new(testkit::peers::python3())
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = json.to_string();
    let writer =
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "python3 could not read the JSON: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn json_lines_parse_one_object_per_frame_then_per_connection() {
    for name in [
        "tcp-analysis.pcap",
        "http-full.pcap",
        "icmp-unreachable.pcap",
        "vlan.pcap",
    ] {
        let json = read(name, &["--format", "json", "--states"]);
        let lines = python_reads(&json);
        let frames = lines.iter().filter(|l| l.starts_with("frame ")).count();
        assert_eq!(frames, table_rows(name), "{name}: one object per frame");
        let conns = lines
            .iter()
            .filter(|l| l.starts_with("connection "))
            .count();
        assert!(conns > 0, "{name}: no connection objects");
        // Frames first, then the connections.
        assert!(
            lines
                .iter()
                .skip(frames)
                .all(|l| l.starts_with("connection "))
        );
    }
    let lines = python_reads(&read(
        "tcp-analysis.pcap",
        &["--format", "json", "--states"],
    ));
    assert_eq!(lines[0], "frame 1 1 40001  None SYN_SENT None");
    assert_eq!(
        lines[5],
        "frame 6 1 40001 lost_segment None ESTABLISHED None"
    );
    assert_eq!(lines[6], "frame 7 1 13000 duplicate_ack 5 ESTABLISHED None");
    assert!(
        lines.contains(&"connection 1 34 3202 6".to_string()),
        "{lines:?}"
    );
}

#[test]
fn json_names_the_process_a_pcapng_comment_proves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.pcapng");
    let mut out = net_trace::pcapio::PcapNgOut::create(&path).unwrap();
    let id = out
        .add_interface("lo", net_trace::decode::LinkType::Ethernet)
        .unwrap();
    let syn = crate::tcp("127.0.0.1:52581", "127.0.0.1:13000", 1, None, "S", b"");
    let comment =
        net_trace::pcapio::process_comment(4242, "/usr/bin/say \"hi\"\t", &["a\nb".to_string()]);
    out.write(
        id,
        std::time::Duration::from_secs(1),
        &syn,
        syn.len() as u32,
        Some(&comment),
    )
    .unwrap();
    out.flush().unwrap();
    let json = read(path.to_str().unwrap(), &["--format", "json"]);
    let lines = python_reads(&json);
    assert_eq!(lines[0], "frame 1 1 52581  None None 4242", "{json}");
}

#[test]
fn tsv_has_a_header_and_one_line_of_as_many_cells_per_frame() {
    for (name, states) in [
        ("tcp-analysis.pcap", true),
        ("any-sll.pcap", false),
        ("vlan.pcap", false),
    ] {
        let args: &[&str] = if states {
            &["--format", "tsv", "--states"]
        } else {
            &["--format", "tsv"]
        };
        let tsv = read(name, args);
        let mut lines = tsv.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        assert_eq!(header[0], "no");
        assert_eq!(header.len(), 16 + if states { 2 } else { 0 }, "{header:?}");
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), table_rows(name), "{name}");
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.len(), header.len(), "{name} line {}: {r:?}", i + 2);
            assert_eq!(r[0], (i + 1).to_string());
        }
    }
}

/// One conversation (by client, server and start): frames and bytes each
/// way, and its duration.
type Conv = ([u64; 4], String);

/// `tshark -q -z conv,tcp`'s conversations.
fn tshark_convs(path: &Path) -> BTreeMap<(String, String, String), Conv> {
    let text = testkit::peers::tshark_text(path, &["-q", "-z", "conv,tcp"]);
    let mut convs = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("<->")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        // A <-> B  F<- B<- bytes F-> B-> bytes F B bytes start duration
        let n = |i: usize| w[i].parse::<u64>().unwrap();
        let (a, b) = (w[0].to_string(), w[2].to_string());
        // tshark's "->" is A to B: the client's frames.
        let start = w[12].get(..w[12].len() - 3).unwrap().to_string();
        convs.insert((a, b, start), ([n(6), n(7), n(3), n(4)], w[13].to_string()));
    }
    convs
}

/// `--summary-only`'s TCP conversations.
fn our_convs(name: &str) -> BTreeMap<(String, String, String), Conv> {
    let text = read(name, &["--summary-only"]);
    let mut convs = BTreeMap::new();
    for line in text
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1) == Some("TCP"))
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| w[i].parse::<u64>().unwrap();
        let (a, b) = (w[2].to_string(), w[3].to_string());
        convs.insert(
            (a, b, w[10].to_string()),
            ([n(4), n(5), n(6), n(7)], w[11].to_string()),
        );
    }
    convs
}

#[test]
#[ignore = "needs tshark"]
fn summary_only_lists_the_conversations_tshark_lists() {
    testkit::need("tshark", "tshark");
    for name in [
        "tcp-analysis.pcap",
        "http-full.pcap",
        "port-reuse.pcap",
        "lo-ethernet.pcap",
        "midstream.pcap",
    ] {
        let ours = our_convs(name);
        let theirs = tshark_convs(&fixture(name));
        assert!(!theirs.is_empty(), "{name}: tshark lists no conversation");
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn summary_only_prints_only_the_conversations() {
    let text = read("tcp-analysis.pcap", &["--summary-only"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("Conn Proto Client"), "{text}");
    assert!(
        lines[1].split_whitespace().eq([
            "1",
            "TCP",
            "10.78.0.2:40001",
            "10.78.0.1:13000",
            "18",
            "2180",
            "16",
            "1022",
            "34",
            "3202",
            "0.000000",
            "0.7771",
            "6",
            "1",
            "6",
            "2",
            "0.100",
            "2.200",
            "250.100",
            "unknown",
            "/",
            "unknown"
        ]),
        "{}",
        lines[1]
    );
}
