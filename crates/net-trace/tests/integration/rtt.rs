//! Each connection's round-trip times (`acks_timed`, `rtt_min`,
//! `rtt_median`, `rtt_max` in `--format json`, the summary's RTT line and
//! `--summary-only`'s columns) against the per-segment RTTs tshark reports
//! (`tcp.analysis.ack_rtt`): on the fixtures, from tshark's reading kept
//! in `ack_rtt.tsv`, and on simulated lossy links, from a running tshark.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BIN;

/// The fixtures `ack_rtt.tsv` covers (written by `tshark_rtt.sh`): clean
/// exchanges, loss and retransmissions (`tcp-analysis.pcap`), a reused
/// port, a capture begun mid-connection, frames cut at 60 bytes (no RTT
/// where the header was cut), IPv6, pcapng.
const FIXTURES: [&str; 13] = [
    "tcp-analysis.pcap",
    "http-full.pcap",
    "lo-ethernet.pcap",
    "port-reuse.pcap",
    "ecn-urg.pcap",
    "midstream.pcap",
    "big-loopback.pcap",
    "snap60.pcap",
    "snap60-scaling.pcap",
    "editcap-s60.pcap",
    "tshark-any.pcapng",
    "merged-eth-sll.pcapng",
    "filter/ipv6-mix.pcap",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A connection's RTTs summed up, as the JSON writes them: count, then
/// min, median and max in seconds with nine decimals (`null` for none).
type Rtt = (u64, String, String, String);

/// Seconds with nine decimals (`0.000014000`) in nanoseconds.
fn nanos(s: &str) -> u64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<9}");
    whole.parse::<u64>().unwrap() * 1_000_000_000 + frac[..9].parse::<u64>().unwrap()
}

fn seconds(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// Per tshark stream, the RTTs summed up: min, max, and the median (the
/// middle one, or the mean of the two middle ones, to the nanosecond
/// below), from `(stream, ack_rtt)` pairs.
fn summed(rtts: &[(usize, String)]) -> BTreeMap<usize, Rtt> {
    let mut by_stream: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (stream, rtt) in rtts {
        by_stream.entry(*stream).or_default().push(nanos(rtt));
    }
    by_stream
        .into_iter()
        .map(|(stream, mut v)| {
            v.sort_unstable();
            let n = v.len();
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2
            };
            let rtt = (n as u64, seconds(v[0]), seconds(median), seconds(v[n - 1]));
            (stream, rtt)
        })
        .collect()
}

/// The value of `"key":` in a JSON line (up to the next `,` or `}`).
fn value<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    let rest = &line[at..];
    &rest[..rest.find([',', '}']).unwrap()]
}

/// net-trace's RTTs per TCP connection, keyed by tshark's stream index
/// (its TCP connections in order, from 0), from `--format json`.
fn ours(path: &Path) -> BTreeMap<usize, Rtt> {
    let out = Command::new(BIN)
        .arg("read")
        .arg(path)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| l.starts_with("{\"type\":\"connection\"") && l.contains("\"protocol\":\"TCP\""))
        .enumerate()
        .filter(|(_, l)| value(l, "acks_timed") != "0")
        .map(|(stream, l)| {
            let rtt = (
                value(l, "acks_timed").parse().unwrap(),
                value(l, "rtt_min").to_string(),
                value(l, "rtt_median").to_string(),
                value(l, "rtt_max").to_string(),
            );
            (stream, rtt)
        })
        .collect()
}

/// tshark's `(stream, ack_rtt)` of every frame that has one.
fn tsharks(path: &Path) -> Vec<(usize, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "tcp.analysis.ack_rtt", "-T", "fields"])
        .args(["-e", "tcp.stream", "-e", "tcp.analysis.ack_rtt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (s, rtt) = l.split_once('\t').unwrap();
            (s.parse().unwrap(), rtt.to_string())
        })
        .collect()
}

#[test]
fn each_connections_rtts_sum_up_tsharks_on_the_fixtures() {
    let tsv = std::fs::read_to_string(fixture_dir().join("ack_rtt.tsv")).unwrap();
    let mut compared = 0;
    for name in FIXTURES {
        let rtts: Vec<(usize, String)> = tsv
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split('\t').collect();
                (w[0] == name).then(|| (w[2].parse().unwrap(), w[3].to_string()))
            })
            .collect();
        let path = fixture_dir().join(name);
        if testkit::peers::available("tshark", "tshark") {
            assert_eq!(
                rtts,
                tsharks(&path),
                "{name}: ack_rtt.tsv is not tshark's reading"
            );
        }
        let theirs = summed(&rtts);
        assert_eq!(ours(&path), theirs, "{name}");
        compared += theirs.len();
    }
    assert!(compared >= 15, "only {compared} connections compared");
}

/// Each JSON frame's `acks_frame` and `ack_rtt`, as `frame\tack_rtt`
/// lines.
fn our_frames(path: &Path) -> Vec<String> {
    let out = Command::new(BIN)
        .arg("read")
        .arg(path)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"frame\"") && l.contains("\"ack_rtt\":"))
        .map(|l| format!("{}\t{}", value(l, "no"), value(l, "ack_rtt")))
        .collect()
}

#[test]
fn each_frames_rtt_is_tsharks_on_the_fixtures() {
    let tsv = std::fs::read_to_string(fixture_dir().join("ack_rtt.tsv")).unwrap();
    let mut compared = 0;
    for name in FIXTURES {
        let theirs: Vec<String> = tsv
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split('\t').collect();
                (w[0] == name).then(|| format!("{}\t{}", w[1], w[3]))
            })
            .collect();
        assert_eq!(our_frames(&fixture_dir().join(name)), theirs, "{name}");
        compared += theirs.len();
    }
    assert!(compared >= 100, "only {compared} frames compared");
}

#[test]
fn the_summaries_show_the_rtts() {
    let path = fixture_dir().join("tcp-analysis.pcap");
    let read = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("read")
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // tshark's stream 0: 11 ACKs timed, 0.1 ms to 250.1 ms (a
    // retransmission after a timeout), the middle one 2.2 ms.
    let table = read(&[]);
    assert!(
        table.contains(
            "\n  RTT (segment to its ACK): min 0.100 ms, median 2.200 ms, max 250.100 ms over 11 ACKs\nTCP connection 2:"
        ),
        "{table}"
    );
    let conversations = read(&["--summary-only"]);
    let first: Vec<&str> = conversations
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        first[16..19],
        ["0.100", "2.200", "250.100"],
        "{conversations}"
    );
    // Frames cut inside their header have no RTT, as in tshark.
    let cut = fixture_dir().join("snap60.pcap");
    let out = Command::new(BIN)
        .arg("read")
        .arg(&cut)
        .arg("--summary-only")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let w: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(w[16..19], ["-", "-", "-"], "{text}");
}

/// The lossy, duplicating and reordering links of `tcp_analysis`: the
/// RTTs tshark finds there, summed up.
#[test]
#[ignore = "needs tshark"]
fn rtts_on_lossy_links_sum_up_tsharks() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    for (i, &(loss, duplicate, reorder)) in crate::tcp_analysis::LINKS.iter().enumerate() {
        let path = dir.path().join(format!("link{i}.pcap"));
        crate::tcp_analysis::write(
            &path,
            &crate::tcp_analysis::simulate(7 + i as u64, loss, duplicate, reorder),
        );
        let theirs = summed(&tsharks(&path));
        assert!(!theirs.is_empty(), "link {i}: tshark timed no ACK");
        assert_eq!(
            ours(&path),
            theirs,
            "loss {loss}% duplicate {duplicate}% reorder {reorder}%"
        );
    }
}
