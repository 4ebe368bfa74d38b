//! `net-trace read FILE EXPRESSION`: the frames an expression keeps,
//! numbered as in the file, and a bad expression as a usage error. (The
//! expressions themselves are checked against tcpdump in the library's
//! `filter::against_tcpdump` tests.)

use std::path::{Path, PathBuf};

use net_trace::filter::Filter;
use net_trace::pcapio::{FileReader, Frame};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

/// The numbers of the frames the library keeps.
fn ours(expr: &str, frames: &[Frame]) -> Vec<usize> {
    let mut m = Filter::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .matcher();
    (1..=frames.len())
        .filter(|&n| {
            let f = &frames[n - 1];
            m.matches(f.link, &f.data, f.wire_len).unwrap()
        })
        .collect()
}

/// Frame numbers of `read`'s table.
fn numbers(out: &str) -> Vec<usize> {
    out.lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn read_shows_the_frames_an_expression_keeps_with_their_file_numbers() {
    let path = fixture("filter/ipv6-mix.pcap");
    let frames = frames(&path);
    let file = path.to_str().unwrap();
    let want = |expr: &str| ours(expr, &frames);
    // One argument, or several words joined as tcpdump joins them.
    for args in [
        vec!["read", file, "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0"],
        vec![
            "read",
            file,
            "tcp[tcpflags]",
            "&",
            "(tcp-syn|tcp-fin)",
            "!=",
            "0",
        ],
    ] {
        let run = testkit::Run::new(super::BIN, &args, b"");
        run.assert_success();
        assert_eq!(
            numbers(&run.stdout_text()),
            want("tcp[tcpflags] & (tcp-syn|tcp-fin) != 0"),
            "{args:?}"
        );
    }
    // `--port` and an expression: both must pass.
    let run = testkit::Run::new(super::BIN, &["read", file, "--port", "12999", "ip6"], b"");
    run.assert_success();
    let both = numbers(&run.stdout_text());
    let ip6 = want("ip6");
    let run = testkit::Run::new(super::BIN, &["read", file, "--port", "12999"], b"");
    let port = numbers(&run.stdout_text());
    let and: Vec<usize> = port.iter().copied().filter(|n| ip6.contains(n)).collect();
    assert_eq!(both, and);
    assert!(
        !both.is_empty() && both.len() < port.len(),
        "{both:?} {port:?}"
    );
}

#[test]
fn a_bad_expression_is_a_usage_error_naming_its_token() {
    let file = fixture("any-sll.pcap");
    let file = file.to_str().unwrap();
    for (args, token) in [
        (
            vec!["read", file, "tcp", "and", "gateway", "h"],
            "'gateway'",
        ),
        (vec!["read", file, "port 80 or"], "'or'"),
        (
            vec!["read", file, "host", "nosuch.invalid"],
            "'nosuch.invalid'",
        ),
        (vec!["capture", "--iface", "lo", "tcp[13:3] = 0"], "'3'"),
        (vec!["capture", "--iface", "any", "vlan"], "vlan"),
        (vec!["read", file, "vlan"], "vlan"),
    ] {
        let run = testkit::Run::new(super::BIN, &args, b"");
        run.assert_code(2);
        let err = run.stderr_text();
        assert!(
            err.contains(token) && err.starts_with("error: "),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert_eq!(run.stdout_text(), "", "{args:?}");
    }
}
