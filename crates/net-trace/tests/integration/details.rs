//! The details pane (`--detail N`, `-V`) against tshark's: every field
//! net-trace shows, on every frame of several fixtures, has the value
//! `tshark -T fields` gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use net_trace::Error;
use net_trace::analyze::Row;
use net_trace::capture::{self, Options};
use net_trace::decode::LinkType;
use net_trace::details::{self, Field, Streams};
use net_trace::owners::Owner;
use net_trace::pcapio::{FileReader, PcapOut};
use net_trace::pipeline::Numbering;
use net_trace::sink::{End, Shown, Sink};
use net_trace::source::FileSource;

use super::BIN;

/// Fixtures compared: Ethernet with and without VLAN tags, Linux cooked
/// v1 and v2, raw IP, BSD loopback, IPv6, ECN and URG, retransmissions
/// and duplicate ACKs, a capture begun mid-connection, ICMP and ICMPv6
/// errors, IP fragments, a reused port, pings, pcapng with several
/// interfaces and sections.
///
/// And captures cut at 60 bytes (`tcpdump -s 60`, `editcap -s 60`, IPv6):
/// where a SYN's options were cut, the window scaling is unknown (-1);
/// where a whole SYN had no window scale option, no scaling is used (-2);
/// a header cut short has no SEQ/ACK analysis.
const FIXTURES: [&str; 26] = [
    "snap60.pcap",
    "snap60-scaling.pcap",
    "editcap-s60.pcap",
    "ipv6-s60.pcap",
    "lo-ethernet.pcap",
    "any-sll.pcap",
    "any-sll2.pcap",
    "ecn-urg.pcap",
    "tcp-analysis.pcap",
    "midstream.pcap",
    "icmp-unreachable.pcap",
    "port-reuse.pcap",
    "ping.pcap",
    "http-full.pcap",
    "vlan.pcap",
    "raw-ip.pcap",
    "null-loop.pcap",
    "icmp6-unreachable.pcap",
    "fragments.pcap",
    "big-loopback.pcap",
    "tshark-any.pcapng",
    "merged-eth-sll.pcapng",
    "raw-ip4-ip6.pcapng",
    "mixed-unknown-iface.pcapng",
    "two-sections.pcapng",
    "pcap-ns.pcap",
];

/// Fields the pane must show wherever tshark has them: the analysis (a
/// flag, the frame acknowledged, a duplicate ACK) and the window scaling.
/// (Not the stream: tshark also numbers the datagram an ICMP error
/// quotes, which the pane does not draw.)
const ALWAYS_SHOWN: [&str; 6] = [
    "tcp.analysis.flags",
    "tcp.analysis.acks_frame",
    "tcp.analysis.ack_rtt",
    "tcp.analysis.duplicate_ack_num",
    "tcp.analysis.retransmission",
    "tcp.window_size_scalefactor",
];

/// Collects every frame's pane.
#[derive(Default)]
struct Panes {
    streams: Streams,
    frames: Vec<(usize, Vec<Field>)>,
}

impl Sink for Panes {
    fn row(&mut self, frame: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        let context = self.streams.context(frame, row);
        self.frames
            .push((row.no, details::fields(frame, row, sender, context)));
        Ok(())
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        Ok(())
    }
}

fn panes(path: &Path) -> Vec<(usize, Vec<Field>)> {
    let mut source = FileSource::new(FileReader::open(path).unwrap(), "");
    let mut panes = Panes::default();
    let opts = Options {
        numbering: Numbering::Every,
        ..Options::default()
    };
    let mut sinks: [&mut dyn Sink; 1] = [&mut panes];
    capture::run_source(&mut source, &opts, None, None, || (), &mut sinks).unwrap();
    panes.frames
}

/// tshark's values of `names` for every frame, each field's occurrences
/// joined by commas.
fn tshark_fields(path: &Path, names: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-o", "tcp.relative_sequence_numbers:TRUE"];
    args.extend(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for n in names {
        args.extend(["-e", *n]);
    }
    testkit::peers::tshark_text(path, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
#[ignore = "needs tshark"]
fn every_field_shown_has_tsharks_value() {
    testkit::need("tshark", "tshark");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut compared = 0;
    for name in FIXTURES {
        let path = dir.join(name);
        let ours = panes(&path);
        let names: BTreeSet<&str> = ours
            .iter()
            .flat_map(|(_, f)| f.iter().map(|f| f.name))
            .filter(|n| !n.is_empty())
            .collect();
        let names: Vec<&str> = names.into_iter().collect();
        let theirs = tshark_fields(&path, &names);
        assert_eq!(ours.len(), theirs.len(), "{name}: frames");
        let mut wrong = Vec::new();
        for ((no, fields), row) in ours.iter().zip(&theirs) {
            // Our values of each field, occurrences joined as tshark's.
            let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for f in fields.iter().filter(|f| !f.name.is_empty()) {
                values.entry(f.name).or_default().push(&f.value);
            }
            for (i, n) in names.iter().enumerate() {
                let Some(ours) = values.get(n) else {
                    // What tshark finds on a frame, the pane shows too.
                    let theirs = row.get(i).map(String::as_str).unwrap_or("");
                    if ALWAYS_SHOWN.contains(n) && !theirs.is_empty() {
                        wrong.push(format!("{name} frame {no}: no {n}, tshark {theirs:?}"));
                    }
                    continue;
                };
                let theirs = row.get(i).map(String::as_str).unwrap_or("");
                // An ICMP error quotes an IP header tshark also lists:
                // ours come first.
                let theirs: Vec<&str> = theirs.split(',').take(ours.len()).collect();
                compared += ours.len();
                if *ours != theirs {
                    wrong.push(format!(
                        "{name} frame {no}: {n} = {ours:?}, tshark {theirs:?}"
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} differences:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
    assert!(compared > 5_000, "only {compared} values compared");
}

#[test]
fn detail_shows_the_chosen_frames_after_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lo-ethernet.pcap");
    let out = Command::new(BIN)
        .arg("read")
        .arg(&path)
        .args(["--detail", "3,1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let table_end = text.find("\n\n").unwrap();
    let first = text.find("Frame 1: 74 bytes on wire").unwrap();
    let third = text.find("Frame 3: 66 bytes on wire").unwrap();
    assert!(table_end < first && first < third, "{text}");
    assert!(!text.contains("Frame 2: "), "{text}");
    assert!(
        text.contains("        .... ...1 .... = Acknowledgment: Set"),
        "{text}"
    );
    assert!(
        text.contains("        [This is an ACK to the segment in frame: 2]"),
        "{text}"
    );
    assert!(text.contains("Process: unknown"), "{text}");
    // A frame the capture does not have is named.
    let out = Command::new(BIN)
        .arg("read")
        .arg(&path)
        .args(["--detail", "2", "--detail", "99"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Frame 2: "), "{text}");
    assert!(
        text.contains("No details of frame 99: not in the capture, or left out by the filter."),
        "{text}"
    );
    // -V: every frame, in place of the table.
    let out = Command::new(BIN)
        .arg("read")
        .arg(&path)
        .arg("-V")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.starts_with("No."), "{text}");
    let frames = text.lines().filter(|l| l.starts_with("Frame ")).count();
    assert_eq!(frames, 12, "{text}");
}

#[test]
fn a_corrupted_frame_shows_the_checksum_tshark_calls_bad() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checksums");
    let path = dir.join("impaired-link.pcapng");
    // tshark's verdicts, checking every checksum: frame, then the status
    // of IPv4's, TCP's and UDP's (0 bad, 1 good).
    let tsv = std::fs::read_to_string(dir.join("impaired-link.pcapng.checksums.tsv")).unwrap();
    let names = [
        "ip.checksum.status",
        "tcp.checksum.status",
        "udp.checksum.status",
    ];
    let mut bad_frames = 0;
    for ((no, fields), line) in panes(&path).iter().zip(tsv.lines()) {
        let verdicts: Vec<&str> = line.split('\t').skip(1).collect();
        let theirs: Vec<&str> = names
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| **v == "0")
            .map(|(n, _)| *n)
            .collect();
        let ours: Vec<&str> = fields
            .iter()
            .filter(|f| names.contains(&f.name) && f.value == "0")
            .map(|f| f.name)
            .collect();
        // A bad IPv4 checksum makes tshark's TCP one bad too (the
        // pseudo-header's addresses); net-trace names the first found.
        assert_eq!(
            ours.is_empty(),
            theirs.is_empty(),
            "frame {no}: {ours:?} vs {theirs:?}"
        );
        assert!(
            ours.iter().all(|n| theirs.contains(n)),
            "frame {no}: {ours:?} vs {theirs:?}"
        );
        bad_frames += usize::from(!ours.is_empty());
    }
    assert_eq!(bad_frames, 6);
}

#[test]
fn a_syn_cut_before_its_window_scale_leaves_the_scaling_unknown() {
    // snap60-scaling.pcap: connection 1's SYNs cut at 60 bytes, before
    // their window scale option; connection 2's SYNs whole, without one.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snap60-scaling.pcap");
    let out = Command::new(BIN)
        .arg("read")
        .arg(&path)
        .args(["--detail", "5,15"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (cut, whole) = text.split_at(text.find("Frame 15: ").unwrap());
    // As tshark -V: unknown, the window as sent, and no SEQ/ACK analysis
    // of a header cut short.
    assert!(cut.contains("    Window: 64\n"), "{cut}");
    assert!(cut.contains("    [Calculated window size: 64]\n"), "{cut}");
    assert!(
        cut.contains("    [Window size scaling factor: -1 (unknown)]\n"),
        "{cut}"
    );
    assert!(!cut.contains("[SEQ/ACK analysis]"), "{cut}");
    assert!(
        whole.contains("    [Window size scaling factor: -2 (no window scaling used)]\n"),
        "{whole}"
    );
    assert!(
        whole.contains("        [This is an ACK to the segment in frame: 14]\n"),
        "{whole}"
    );
}

/// Frames whose headers end short, one capture per link type: each cut
/// by the snap length (`wire` longer than the bytes) or sent short, with
/// the line tshark's pane ends with, and the layers it draws before it.
struct ShortCase {
    link: LinkType,
    data: Vec<u8>,
    wire: usize,
    end: &'static str,
    layers: &'static [&'static str],
}

fn short_cases() -> Vec<ShortCase> {
    use net_trace::decode::build;
    let c4: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let s4: SocketAddr = "10.0.0.2:13000".parse().unwrap();
    let c6: SocketAddr = "[fd00::1]:40000".parse().unwrap();
    let s6: SocketAddr = "[fd00::2]:12000".parse().unwrap();
    let syn = build::tcp(c4, s4, 1, None, "S", b"");
    let udp4 = build::udp(c4, s4, b"hi");
    let udp6 = build::udp(c6, s6, b"hi");
    let ping4 = build::icmp_echo(c4.ip(), s4.ip(), 1, 1, true);
    let ping6 = build::icmp_echo(c6.ip(), s6.ip(), 1, 1, true);
    // An IPv4 header length of 16 bytes: what follows the 16th byte is
    // the destination address, not ICMP.
    let mut bogus = ping4.clone();
    bogus[14] = 0x44;
    // Linux cooked v1 and v2 headers (loopback, IPv4).
    let mut sll = vec![0, 0, 3, 4, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 8, 0];
    sll.extend_from_slice(&syn[14..]);
    let mut sll2 = vec![8, 0, 0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll2.extend_from_slice(&syn[14..]);
    let cut = |link, f: &[u8], at: usize, end, layers| ShortCase {
        link,
        data: f[..at].to_vec(),
        wire: f.len(),
        end,
        layers,
    };
    let sent_short = |link, f: &[u8], at: usize, end, layers| ShortCase {
        link,
        data: f[..at].to_vec(),
        wire: at,
        end,
        layers,
    };
    use LinkType::{Ethernet, LinuxSll, LinuxSll2};
    const ETH: &[&str] = &["Ethernet II"];
    const IP4: &[&str] = &["Ethernet II", "Internet Protocol Version 4"];
    const IP6: &[&str] = &["Ethernet II", "Internet Protocol Version 6"];
    vec![
        cut(
            Ethernet,
            &syn,
            10,
            "[Packet size limited during capture: Ethernet truncated]",
            &[],
        ),
        cut(
            Ethernet,
            &syn,
            30,
            "[Packet size limited during capture: IPv4 truncated]",
            ETH,
        ),
        cut(
            Ethernet,
            &syn,
            44,
            "[Packet size limited during capture: TCP truncated]",
            IP4,
        ),
        sent_short(Ethernet, &syn, 44, "[Malformed Packet: TCP]", IP4),
        sent_short(Ethernet, &syn, 30, "[Malformed Packet: IPv4]", ETH),
        cut(
            Ethernet,
            &udp4,
            38,
            "[Packet size limited during capture: UDP truncated]",
            IP4,
        ),
        cut(
            Ethernet,
            &ping4,
            36,
            "[Packet size limited during capture: ICMP truncated]",
            IP4,
        ),
        sent_short(
            Ethernet,
            &bogus,
            bogus.len(),
            "[Bogus IP header length (16, must be at least 20)]",
            IP4,
        ),
        cut(
            Ethernet,
            &udp6,
            44,
            "[Packet size limited during capture: IPv6 truncated]",
            ETH,
        ),
        cut(
            Ethernet,
            &udp6,
            58,
            "[Packet size limited during capture: UDP truncated]",
            IP6,
        ),
        cut(
            Ethernet,
            &ping6,
            56,
            "[Packet size limited during capture: ICMPv6 truncated]",
            IP6,
        ),
        cut(
            LinuxSll,
            &sll,
            10,
            "[Packet size limited during capture: SLL truncated]",
            &[],
        ),
        cut(
            LinuxSll2,
            &sll2,
            10,
            "[Packet size limited during capture: SLL truncated]",
            &[],
        ),
    ]
}

/// The cases of one link type, saved.
fn save_short_cases(dir: &Path, link: LinkType, cases: &[&ShortCase]) -> PathBuf {
    let path = dir.join(format!("short-{}.pcap", link.number()));
    let mut out = PcapOut::create(&path, link).unwrap();
    for (i, c) in cases.iter().enumerate() {
        out.write(Duration::from_secs(1 + i as u64), &c.data, c.wire as u32)
            .unwrap();
    }
    out.flush().unwrap();
    path
}

/// The layers a pane draws (its headings, named up to the first comma)
/// and the line it ends with before the process.
fn layers_and_end(fields: &[Field]) -> (Vec<String>, String) {
    let headings: Vec<&str> = fields
        .iter()
        .filter(|f| {
            f.depth == 0 && !f.text.starts_with("Frame ") && !f.text.starts_with("Process:")
        })
        .map(|f| f.text.as_str())
        .collect();
    let layers = headings
        .iter()
        .filter(|t| !t.starts_with('['))
        .map(|t| t.split(',').next().unwrap_or_default().to_string())
        .collect();
    let end = fields
        .iter()
        .rev()
        .find(|f| f.text.starts_with('['))
        .map(|f| f.text.clone())
        .unwrap_or_default();
    (layers, end)
}

#[test]
fn a_header_cut_short_at_each_layer_ends_the_pane_there() {
    let dir = tempfile::tempdir().unwrap();
    let cases = short_cases();
    for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2] {
        let of_link: Vec<&ShortCase> = cases.iter().filter(|c| c.link == link).collect();
        let path = save_short_cases(dir.path(), link, &of_link);
        let ours = panes(&path);
        assert_eq!(ours.len(), of_link.len());
        for ((no, fields), case) in ours.iter().zip(&of_link) {
            let (layers, end) = layers_and_end(fields);
            // Never a layer read from bytes that are not its own, nor
            // fields read past the end as zeros: the pane says where the
            // header ended.
            assert_eq!(layers, case.layers, "{link:?} frame {no}: {fields:#?}");
            assert_eq!(end, case.end, "{link:?} frame {no}: {fields:#?}");
        }
    }
}

#[test]
#[ignore = "needs tshark"]
fn a_header_cut_short_ends_the_pane_with_tsharks_words() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    let cases = short_cases();
    for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2] {
        let of_link: Vec<&ShortCase> = cases.iter().filter(|c| c.link == link).collect();
        let path = save_short_cases(dir.path(), link, &of_link);
        let text = testkit::peers::tshark_text(&path, &["-V"]);
        let theirs: Vec<&str> = text
            .split("\n\n")
            .filter(|f| f.starts_with("Frame "))
            .collect();
        assert_eq!(theirs.len(), of_link.len(), "{text}");
        for (pane, case) in theirs.iter().zip(&of_link) {
            assert!(
                pane.lines().any(|l| l.trim() == case.end),
                "{link:?}: tshark does not end with {:?}:\n{pane}",
                case.end
            );
            let layers: Vec<&str> = pane
                .lines()
                .filter(|l| !l.starts_with(' ') && !l.starts_with('[') && !l.starts_with("Frame "))
                .map(|l| l.split(',').next().unwrap_or_default())
                .collect();
            // tshark draws what was captured of a cut layer; the pane
            // draws no layer it does not.
            assert!(layers.starts_with(case.layers), "{link:?}:\n{pane}");
        }
    }
}
