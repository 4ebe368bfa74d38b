//! `--follow K`: compared with `tshark -q -z follow,tcp,ascii` (and
//! `follow,udp`) on every fixture, and reassembly checked on segments
//! resent, duplicated, overtaken and lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use net_trace::pcapio::PcapOut;

use crate::{BIN, tcp};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

fn run(path: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("read")
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

fn follow(path: &Path, args: &[&str]) -> Vec<u8> {
    let out = run(path, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each connection net-trace numbers, with its protocol and tshark's
/// stream index (tshark numbers TCP and UDP streams apart, from 0); none
/// for a damaged file.
fn streams(path: &Path) -> Vec<(usize, &'static str, usize)> {
    let text = String::from_utf8(run(path, &["--summary-only"]).stdout).unwrap();
    let (mut tcp, mut udp) = (0, 0);
    let mut all = Vec::new();
    for line in text.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Ok(k) = w[0].parse::<usize>() else {
            continue;
        };
        match w[1] {
            "TCP" => {
                all.push((k, "tcp", tcp));
                tcp += 1;
            }
            "UDP" => {
                all.push((k, "udp", udp));
                udp += 1;
            }
            _ => {}
        }
    }
    all
}

#[test]
#[ignore = "needs tshark"]
fn follow_prints_what_tshark_prints_on_every_fixture() {
    testkit::need("tshark", "tshark");
    let mut compared = 0;
    for path in fixtures() {
        for (k, proto, index) in streams(&path) {
            let ours = follow(&path, &["--follow", &k.to_string()]);
            let theirs = testkit::peers::tshark(
                &path,
                &["-q", "-z", &format!("follow,{proto},ascii,{index}")],
            )
            .stdout;
            let ours = String::from_utf8_lossy(&ours);
            let theirs = String::from_utf8_lossy(&theirs);
            // Where no payload was captured (a snap length of 60), tshark
            // names its nodes `:0`; net-trace names the addresses.
            let keep = |l: &&str| !(theirs.contains("Node 0: :0\n") && l.starts_with("Node "));
            let (a, b): (Vec<&str>, Vec<&str>) = (
                ours.lines().filter(keep).collect(),
                theirs.lines().filter(keep).collect(),
            );
            assert_eq!(
                a,
                b,
                "{} --follow {k} ({proto} stream {index})",
                path.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 30, "only {compared} streams compared");
}

/// A client's "hello world, again" sent as: "hello " at 1, "again" at 14
/// (overtaking "world, " at 7, then lost and resent), "hello " again (a
/// duplicate), "world, " at 7; a reply "OK" the server sends twice.
fn reordered(path: &Path, lose_world: bool) {
    const C: &str = "127.0.0.1:52581";
    const S: &str = "127.0.0.1:13000";
    let mut frames = vec![
        tcp(C, S, 0, None, "S", b""),
        tcp(S, C, 500, Some(1), "S", b""),
        tcp(C, S, 1, Some(501), "", b""),
        tcp(C, S, 1, Some(501), "P", b"hello "),
        tcp(C, S, 14, Some(501), "P", b"again"),
        tcp(C, S, 1, Some(501), "P", b"hello "),
    ];
    if !lose_world {
        frames.push(tcp(C, S, 7, Some(501), "P", b"world, "));
    }
    frames.extend([
        tcp(S, C, 501, Some(19), "P", b"OK"),
        tcp(S, C, 501, Some(19), "P", b"OK"),
        tcp(C, S, 19, Some(503), "F", b""),
    ]);
    let mut out = PcapOut::create(path, net_trace::decode::LinkType::Ethernet).unwrap();
    for (i, f) in frames.iter().enumerate() {
        out.write(Duration::from_millis(1_000 + i as u64), f, f.len() as u32)
            .unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn follow_reassembles_by_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pcap");
    reordered(&path, false);
    let text = String::from_utf8(follow(&path, &["--follow", "1"])).unwrap();
    assert_eq!(
        text,
        "\n===================================================================\n\
         Follow: tcp,ascii\nFilter: tcp.stream eq 0\n\
         Node 0: 127.0.0.1:52581\nNode 1: 127.0.0.1:13000\n\
         6\nhello \n7\nworld, \n5\nagain\n\t2\nOK\n\
         ===================================================================\n"
    );
    assert_eq!(
        follow(&path, &["--follow", "1", "--raw"]),
        b"hello world, againOK"
    );
    assert_eq!(
        follow(&path, &["--follow", "1", "--raw", "client"]),
        b"hello world, again"
    );
    assert_eq!(follow(&path, &["--follow", "1", "--raw", "server"]), b"OK");
}

#[test]
fn a_gap_the_other_side_acknowledged_is_marked_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gap.pcap");
    reordered(&path, true);
    let text = String::from_utf8(follow(&path, &["--follow", "1"])).unwrap();
    assert!(
        text.contains("6\nhello \n34\n[7 bytes missing in capture file].\n5\nagain\n\t2\nOK\n"),
        "{text}"
    );
    let out = run(&path, &["--follow", "1", "--raw"]);
    assert_eq!(out.stdout, b"hello againOK");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("7 bytes client→server"), "{stderr}");
}

#[test]
fn following_a_connection_that_is_not_there_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pcap");
    reordered(&path, false);
    let out = run(&path, &["--follow", "7"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no connection 7"), "{stderr}");
    let out = run(&path, &["--raw"]);
    assert_eq!(out.status.code(), Some(2), "--raw needs --follow");
}
