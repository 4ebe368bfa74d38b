//! Filter expressions against tcpdump: the corpus in
//! `tests/fixtures/filter/corpus.txt` over the fixtures below keeps
//! exactly the frames `tcpdump -r FILE EXPR` keeps (committed in
//! `tests/fixtures/filter/expected.tsv`, checked without tcpdump), and,
//! where tcpdump is installed, the programs compiled for files and for the
//! kernel decide every frame (and cut copies of it) as `tcpdump -dd`'s
//! programs do, run by the BPF interpreter the file reader uses.
//!
//! `NET_TRACE_BLESS=1 cargo test -p net-trace --lib the_corpus_agrees --
//! --include-ignored` rewrites the expected file from tcpdump.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::decode::LinkType;
use crate::filter::{Filter, Target};
use crate::live::bpf::{self, Context, Insn, Layout};
use crate::pcapio::{FileReader, Frame};

/// The capture files the corpus runs over: every link type net-trace
/// filters (Ethernet, VLAN-tagged Ethernet, Linux cooked v1 and v2, raw
/// IP), TCP, UDP, ICMP, ICMPv6, ARP, IPv4 and IPv6 fragments, frames cut
/// by the snap length.
const FILES: &[&str] = &[
    "lo-ethernet.pcap",
    "vlan.pcap",
    "fragments.pcap",
    "ping.pcap",
    "icmp-unreachable.pcap",
    "icmp6-unreachable.pcap",
    "filter/ipv6-mix.pcap",
    "http-full.pcap",
    "snap60.pcap",
    "tcp-analysis.pcap",
    "port-reuse.pcap",
    "ecn-urg.pcap",
    "any-sll.pcap",
    "any-sll2.pcap",
    "raw-ip.pcap",
];

/// Frames are also run cut at every byte of their first 80, where a
/// header ends early. There the verdicts may differ: a load past the end
/// drops the frame, and libpcap's optimiser removes or reorders loads
/// (`port 80 or 443` reads the source port once for both) where this
/// compiler does not. The differences are counted and shown, not failed;
/// frames as captured (snap-length cuts included) must agree.
const CUT_LIMIT: usize = 80;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn corpus() -> Vec<String> {
    std::fs::read_to_string(fixture("filter/corpus.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn frames(path: &Path) -> Vec<Frame> {
    let mut r = FileReader::open(path).unwrap();
    let mut out = Vec::new();
    let mut f = Frame::default();
    while r.read_frame(&mut f).unwrap() {
        out.push(f.clone());
    }
    out
}

/// What a file side decision looks like: the frame numbers kept, or the
/// expression refused for the file's link type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kept {
    Frames(Vec<usize>),
    Error,
}

impl Kept {
    fn text(&self) -> String {
        match self {
            Kept::Error => "error".into(),
            Kept::Frames(v) if v.is_empty() => "-".into(),
            Kept::Frames(v) => v.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
        }
    }

    fn parse(s: &str) -> Kept {
        match s {
            "error" => Kept::Error,
            "-" => Kept::Frames(vec![]),
            s => Kept::Frames(s.split(',').map(|n| n.parse().unwrap()).collect()),
        }
    }
}

fn ours(expr: &str, frames: &[Frame]) -> Kept {
    let mut m = Filter::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .matcher();
    let mut kept = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        match m.matches(f.link, &f.data, f.wire_len) {
            Ok(true) => kept.push(i + 1),
            Ok(false) => {}
            Err(_) => return Kept::Error,
        }
    }
    Kept::Frames(kept)
}

fn expected() -> BTreeMap<(String, String), Kept> {
    let text = std::fs::read_to_string(fixture("filter/expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "{l}");
            (
                (cols[0].to_string(), cols[1].to_string()),
                Kept::parse(cols[2]),
            )
        })
        .collect()
}

#[test]
fn the_corpus_keeps_the_frames_tcpdump_keeps() {
    let expected = expected();
    let exprs = corpus();
    assert!(exprs.len() >= 60, "{} expressions", exprs.len());
    let (mut compared, mut kept_some) = (0, 0);
    for file in FILES {
        let frames = frames(&fixture(file));
        for expr in &exprs {
            let want = expected
                .get(&(file.to_string(), expr.clone()))
                .unwrap_or_else(|| panic!("{file} / {expr}: not in filter/expected.tsv"));
            let got = ours(expr, &frames);
            if *want == Kept::Error {
                // As in the test below: refused, or provably empty.
                assert!(
                    got == Kept::Error || got == Kept::Frames(vec![]),
                    "{file}: {expr}"
                );
            } else {
                assert_eq!(got.text(), want.text(), "{file}: {expr}");
            }
            compared += 1;
            kept_some += usize::from(
                matches!(&got, Kept::Frames(v) if !v.is_empty() && v.len() < frames.len()),
            );
        }
    }
    // The corpus tells frames apart: many pairs keep some frames, not all
    // (most fixtures hold one kind of traffic, so many keep all or none).
    assert!(kept_some * 5 > compared, "{kept_some} of {compared}");
    eprintln!("{compared} file/expression pairs, {kept_some} keeping some but not all frames");
}

/// tcpdump's verdict for the file: the frames written by `-w`, mapped
/// back to their numbers in the file.
fn tcpdump_kept(path: &Path, expr: &str, frames: &[Frame], scratch: &Path) -> Kept {
    let out = scratch.join("kept.pcap");
    let run = Command::new("tcpdump")
        .arg("-r")
        .arg(path)
        .arg("-w")
        .arg(&out)
        .arg(expr)
        .output()
        .unwrap();
    if !run.status.success() {
        return Kept::Error;
    }
    let kept = self::frames(&out);
    let mut numbers = Vec::new();
    let mut next = 0;
    for k in &kept {
        let at = frames[next..]
            .iter()
            .position(|f| f.data == k.data && f.wire_len == k.wire_len && f.time == k.time)
            .unwrap_or_else(|| panic!("{expr}: tcpdump wrote a frame not in the file"));
        numbers.push(next + at + 1);
        next += at + 1;
    }
    Kept::Frames(numbers)
}

/// `tcpdump -dd`'s program for the file's link type.
fn tcpdump_program(path: &Path, expr: &str) -> Option<Vec<Insn>> {
    let run = Command::new("tcpdump")
        .arg("-r")
        .arg(path)
        .arg("-dd")
        .arg(expr)
        .output()
        .unwrap();
    if !run.status.success() {
        return None;
    }
    let text = String::from_utf8(run.stdout).unwrap();
    let num = |s: &str| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).unwrap(),
            None => s.parse().unwrap(),
        }
    };
    Some(
        text.lines()
            .map(|l| {
                let f: Vec<u32> = l
                    .trim()
                    .trim_start_matches('{')
                    .trim_end_matches(',')
                    .trim_end_matches('}')
                    .split(',')
                    .map(num)
                    .collect();
                Insn {
                    code: f[0] as u16,
                    jt: f[1] as u8,
                    jf: f[2] as u8,
                    k: f[3],
                }
            })
            .collect(),
    )
}

fn accepts(p: &[Insn], data: &[u8], wire_len: u32, ctx: Context) -> bool {
    bpf::run_len(p, data, wire_len, ctx).unwrap() != 0
}

/// The frame's network layer and ethertype, where a cooked packet socket
/// would see them: `None` for a VLAN-tagged frame (the kernel takes the
/// tag off before a socket sees it) or one too short.
fn network_layer(f: &Frame) -> Option<(u16, &[u8], u32)> {
    let be = |at: usize| Some(u16::from_be_bytes([*f.data.get(at)?, *f.data.get(at + 1)?]));
    let (ethertype, header) = match f.link {
        LinkType::Ethernet => (be(12)?, 14),
        LinkType::LinuxSll => (be(14)?, 16),
        LinkType::LinuxSll2 => (be(0)?, 20),
        LinkType::RawIp => match f.data.first()? >> 4 {
            4 => (0x0800, 0),
            6 => (0x86dd, 0),
            _ => return None,
        },
        _ => return None,
    };
    if matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        return None;
    }
    Some((
        ethertype,
        f.data.get(header..)?,
        f.wire_len.checked_sub(header as u32)?,
    ))
}

/// A frame as a cooked socket sees it (what the kernel says of it, the
/// network layer and its length) and as `-i any` saves it (Linux cooked
/// v2 bytes and length).
struct Cooked {
    ctx: Context,
    net: Vec<u8>,
    net_len: u32,
    sll2: Vec<u8>,
    sll2_len: u32,
}

impl Cooked {
    fn new(ethertype: u16, pkttype: u8, net: &[u8], net_len: u32) -> Cooked {
        let mut sll2 = crate::live::sll2_header(ethertype, 1, 772, pkttype, 6, &[0; 8]).to_vec();
        sll2.extend_from_slice(net);
        Cooked {
            ctx: Context {
                protocol: ethertype,
                pkttype,
                ifindex: 1,
            },
            net: net.to_vec(),
            net_len,
            sll2,
            sll2_len: net_len + 20,
        }
    }
}

#[test]
#[ignore = "needs tcpdump"]
fn the_corpus_agrees_with_a_running_tcpdump() {
    testkit::need("tcpdump", "tcpdump");
    let bless = std::env::var_os("NET_TRACE_BLESS").is_some();
    let expected = if bless { BTreeMap::new() } else { expected() };
    let scratch = tempfile::tempdir().unwrap();
    let exprs = corpus();
    let mut lines = vec![
        "# FILE\tEXPRESSION\tFRAMES tcpdump -r FILE EXPRESSION keeps (- none, error: refused)"
            .to_string(),
    ];
    let (mut frames_run, mut programs, mut cuts) = (0usize, 0usize, 0usize);
    let mut cut_differences = Vec::new();
    // A frame of every file, as a cooked live socket would see it, and
    // the SLL2 frame `tcpdump -i any` would make of it.
    let mut cooked: Vec<Cooked> = Vec::new();
    let sll2_file = fixture("any-sll2.pcap");
    for file in FILES {
        let path = fixture(file);
        let frames = frames(&path);
        for f in &frames {
            if let Some((ethertype, net, net_len)) = network_layer(f) {
                // Received, and sent by this host (`outbound`).
                for pkttype in [0, bpf::PACKET_OUTGOING as u8] {
                    cooked.push(Cooked::new(ethertype, pkttype, net, net_len));
                }
            }
        }
        for expr in &exprs {
            let theirs = tcpdump_kept(&path, expr, &frames, scratch.path());
            let got = ours(expr, &frames);
            match &theirs {
                // tcpdump refuses some expressions for some link types
                // ("no VLAN support for Raw IP") and those its optimiser
                // proves reject everything ("expression rejects all
                // packets"): net-trace refuses the first kind and keeps
                // nothing of the second.
                Kept::Error => assert!(
                    got == Kept::Error || got == Kept::Frames(vec![]),
                    "{file}: {expr}: tcpdump refuses it, net-trace keeps {}",
                    got.text()
                ),
                _ => assert_eq!(got, theirs, "{file}: {expr}"),
            }
            if !bless {
                assert_eq!(
                    expected.get(&(file.to_string(), expr.clone())),
                    Some(&theirs),
                    "{file}: {expr}: filter/expected.tsv is out of date (NET_TRACE_BLESS=1)"
                );
            }
            lines.push(format!("{file}\t{expr}\t{}", theirs.text()));
            // The programs, frame by frame and cut by cut.
            let Some(reference) = tcpdump_program(&path, expr) else {
                continue;
            };
            let filter = Filter::parse(expr).unwrap();
            let link = frames[0].link;
            let mine = filter.program(Target::Link(link)).unwrap();
            if link == LinkType::Ethernet {
                assert_eq!(
                    filter.program(Target::Kernel(Layout::Ethernet)).unwrap(),
                    mine
                );
            }
            programs += 1;
            for (n, f) in frames.iter().enumerate() {
                let ctx = Context::default();
                assert_eq!(
                    accepts(&mine, &f.data, f.wire_len, ctx),
                    accepts(&reference, &f.data, f.wire_len, ctx),
                    "{file}: {expr}: frame {}",
                    n + 1
                );
                frames_run += 1;
                for cut in 0..f.data.len().min(CUT_LIMIT) {
                    let data = &f.data[..cut];
                    cuts += 1;
                    if accepts(&mine, data, f.wire_len, ctx)
                        != accepts(&reference, data, f.wire_len, ctx)
                    {
                        cut_differences
                            .push(format!("{file}: {expr}: frame {} cut to {cut}", n + 1));
                    }
                }
            }
        }
    }
    // The kernel side of `-i any`: our program for a cooked socket on the
    // network layer against tcpdump's for Linux cooked v2 on the frame.
    for expr in &exprs {
        let Some(reference) = tcpdump_program(&sll2_file, expr) else {
            assert!(
                Filter::parse(expr)
                    .unwrap()
                    .program(Target::Kernel(Layout::Cooked))
                    .is_err()
                    || ours(expr, &frames(&sll2_file)) == Kept::Frames(vec![]),
                "{expr}"
            );
            continue;
        };
        // Link-layer bytes are not in a cooked socket's frames: such an
        // expression is refused for it (and filtered after the socket).
        let mine = match Filter::parse(expr)
            .unwrap()
            .program(Target::Kernel(Layout::Cooked))
        {
            Ok(p) => p,
            Err(e) if expr.starts_with("ether[") => {
                assert!(e.to_string().contains("link-layer bytes"), "{e}");
                continue;
            }
            Err(e) => panic!("{expr}: {e}"),
        };
        programs += 1;
        for c in &cooked {
            let (net, ctx) = (&c.net, c.ctx);
            assert_eq!(
                accepts(&mine, net, c.net_len, ctx),
                accepts(&reference, &c.sll2, c.sll2_len, Context::default()),
                "cooked socket: {expr}: a frame of {} bytes, packet type {}",
                net.len(),
                ctx.pkttype
            );
            frames_run += 1;
            for cut in 0..net.len().min(CUT_LIMIT) {
                cuts += 1;
                if accepts(&mine, &net[..cut], c.net_len, ctx)
                    != accepts(
                        &reference,
                        &c.sll2[..cut + 20],
                        c.sll2_len,
                        Context::default(),
                    )
                {
                    cut_differences.push(format!(
                        "cooked socket: {expr}: {} bytes cut to {cut}",
                        net.len()
                    ));
                }
            }
        }
    }
    if bless {
        lines.push(String::new());
        std::fs::write(fixture("filter/expected.tsv"), lines.join("\n")).unwrap();
    }
    eprintln!(
        "{} expressions, {} files: {programs} programs agree with tcpdump -dd on {frames_run} frames; \
         on {} of {cuts} frames cut inside their headers they differ:",
        exprs.len(),
        FILES.len(),
        cut_differences.len()
    );
    for d in cut_differences.iter().take(20) {
        eprintln!("  {d}");
    }
}

#[test]
#[ignore = "needs tcpdump"]
fn host_names_resolve_as_tcpdump_resolves_them() {
    testkit::need("tcpdump", "tcpdump");
    // Names come from the system's resolver, so what they keep depends on
    // the machine (/etc/hosts): compared with tcpdump here, not committed.
    let scratch = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for expr in [
        "host localhost",
        "ip host localhost",
        "src host localhost and tcp",
        "host localhost or ::1",
    ] {
        for file in [
            "lo-ethernet.pcap",
            "filter/ipv6-mix.pcap",
            "any-sll2.pcap",
            "raw-ip.pcap",
        ] {
            let path = fixture(file);
            let frames = frames(&path);
            let theirs = tcpdump_kept(&path, expr, &frames, scratch.path());
            if theirs == Kept::Error {
                continue;
            }
            assert_eq!(ours(expr, &frames), theirs, "{file}: {expr}");
            compared += 1;
        }
    }
    assert!(compared > 0, "tcpdump resolved none of the names");
}

/// Primitives the random expressions below combine.
const PRIMITIVES: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "arp",
    "port 13000",
    "src port 13000",
    "dst port 12999",
    "udp port 12000",
    "portrange 12000-13000",
    "host 127.0.0.1",
    "host ::1",
    "src host 10.78.0.2",
    "net 10.78.0.0/16",
    "ip6 net ::/1",
    "less 80",
    "greater 100",
    "vlan",
    "vlan 10",
    "ether broadcast",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[13] & 0x11 = 0x11",
    "ip[6:2] & 0x1fff != 0",
    "icmp[0] = 8",
    "icmp6[0] = 128",
    "udp[4:2] > 20",
    "ip6[6] = 17",
    "arp[7] = 1",
    "proto 6",
    "ether proto 0x806",
    "ip[2:2] - 20 > 40",
    "udp[8] = 0x61",
    "src and dst host 127.0.0.1",
];

/// A random expression of `not`, parentheses, `and` and `or` over
/// [`PRIMITIVES`].
fn random_expression(rng: &mut testkit::Rng, depth: u32) -> String {
    let pick = rng.next_u64() % 100;
    let primitive = |rng: &mut testkit::Rng| {
        PRIMITIVES[(rng.next_u64() % PRIMITIVES.len() as u64) as usize].to_string()
    };
    match pick {
        _ if depth > 3 => primitive(rng),
        0..35 => primitive(rng),
        35..50 => format!("not {}", random_expression(rng, depth + 1)),
        50..65 => format!("({})", random_expression(rng, depth + 1)),
        65..82 => format!(
            "{} and {}",
            random_expression(rng, depth + 1),
            random_expression(rng, depth + 1)
        ),
        _ => format!(
            "{} or {}",
            random_expression(rng, depth + 1),
            random_expression(rng, depth + 1)
        ),
    }
}

/// How many random expressions are compared with tcpdump's programs.
const RANDOM_EXPRESSIONS: usize = 150;

#[test]
#[ignore = "needs tcpdump"]
fn random_compound_expressions_decide_as_tcpdumps_programs() {
    testkit::need("tcpdump", "tcpdump");
    let mut rng = testkit::Rng::new(25);
    let files = [
        "lo-ethernet.pcap",
        "vlan.pcap",
        "fragments.pcap",
        "filter/ipv6-mix.pcap",
        "any-sll2.pcap",
        "raw-ip.pcap",
    ];
    let files: Vec<(PathBuf, Vec<Frame>)> = files
        .iter()
        .map(|f| (fixture(f), frames(&fixture(f))))
        .collect();
    let mut decided = 0;
    for _ in 0..RANDOM_EXPRESSIONS {
        let expr = random_expression(&mut rng, 0);
        let filter = Filter::parse(&expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        for (path, frames) in &files {
            let Some(reference) = tcpdump_program(path, &expr) else {
                continue;
            };
            let mine = filter.program(Target::Link(frames[0].link)).unwrap();
            for (n, f) in frames.iter().enumerate() {
                let ctx = Context::default();
                assert_eq!(
                    accepts(&mine, &f.data, f.wire_len, ctx),
                    accepts(&reference, &f.data, f.wire_len, ctx),
                    "{}: {expr}: frame {}",
                    path.display(),
                    n + 1
                );
                decided += 1;
            }
        }
    }
    eprintln!("{RANDOM_EXPRESSIONS} random expressions: {decided} verdicts as tcpdump's");
    assert!(decided > RANDOM_EXPRESSIONS * 20, "{decided}");
}
