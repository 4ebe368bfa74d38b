//! The page from typed items, and its checks failing where a reader
//! would be misled.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::check::{check_links, percent_decode};
use super::*;
use crate::demo::frames::{Process, States};

/// A fresh directory under the system's temporary directory.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netlab-report-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A frame of a TCP connection on loopback.
fn frame(no: usize, to_server: bool, info: &str, states: [&str; 2], notes: &[&str]) -> Frame {
    let (direction, sender, pid) = if to_server {
        ("client→server", "client", 7)
    } else {
        ("server→client", "server", 6)
    };
    Frame {
        no,
        time: no as f64 * 0.000011,
        source: "127.0.0.1".into(),
        destination: "127.0.0.1".into(),
        protocol: "TCP".into(),
        length: 74,
        direction: Some(direction.into()),
        sender: Some(sender.into()),
        process: Some(Process {
            pid,
            name: "tcp-uppercase".into(),
        }),
        states: Some(States {
            client: states[0].into(),
            server: states[1].into(),
        }),
        info: info.into(),
        analysis: Vec::new(),
        notes: notes.iter().map(|n| n.to_string()).collect(),
    }
}

/// A handshake's three frames.
fn handshake() -> Vec<Frame> {
    vec![
        frame(
            1,
            true,
            "52581 → 13000 [SYN] Seq=0 Win=65495 Len=0",
            ["SYN_SENT", "LISTEN"],
            &["handshake 1/3 (SYN)"],
        ),
        frame(
            2,
            false,
            "13000 → 52581 [SYN, ACK] Seq=0 Ack=1 Win=65483 Len=0",
            ["SYN_SENT", "SYN_RECEIVED"],
            &[],
        ),
        frame(
            3,
            true,
            "52581 → 13000 [ACK] Seq=1 Ack=1 Win=65536 Len=0",
            ["ESTABLISHED", "ESTABLISHED"],
            &[],
        ),
    ]
}

fn arrows_svg(frames: &[usize]) -> String {
    let mut s =
        String::from("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">\n");
    for f in frames {
        let _ = writeln!(s, "<g class=\"arrow\" data-frame=\"{f}\"><line/></g>");
    }
    s.push_str("</svg>\n");
    s
}

/// A report like the demo's, written into a fresh directory.
fn generated(tag: &str, svg_frames: &[usize]) -> PathBuf {
    let dir = scratch(tag);
    fs::write(dir.join("05-tcp.svg"), arrows_svg(svg_frames)).unwrap();
    fs::write(dir.join("05-tcp.pcapng"), b"\x0a\x0d\x0d\x0a pcapng").unwrap();
    fs::write(dir.join("05-capture.txt"), "transcript").unwrap();
    fs::write(dir.join("06-hello world.png"), b"\x89PNG picture").unwrap();
    let items = vec![
        Item::Capture {
            head: format!(
                "capture $ net-trace capture --port 13000 --states --diagram {}/05-tcp.svg",
                dir.display()
            ),
            frames: handshake(),
            lines: vec!["TCP connection 1: client 127.0.0.1:52581 ↔ server 127.0.0.1:13000".into()],
            diagram: Some(dir.join("05-tcp.svg")),
        },
        Item::Check {
            ok: true,
            what: "the tcp handshake frames are named".into(),
        },
        Item::Pane {
            head: "browser $ chromium --screenshot=x.png http://127.0.0.1:8080/<b>\"".into(),
            lines: Vec::new(),
        },
        Item::Check {
            ok: false,
            what: "x.png saved (0 bytes)".into(),
        },
    ];
    let entry = Entry {
        id: "05-capture".into(),
        title: "Capture <TCP> & \"who\"".into(),
        items,
        artifacts: [
            "05-capture.txt",
            "05-tcp.pcapng",
            "05-tcp.svg",
            "06-hello world.png",
        ]
        .iter()
        .map(|n| dir.join(n))
        .collect(),
        failures: vec!["x.png saved (0 bytes)".into()],
    };
    let meta = Meta {
        name: "Ana <Roll 31> & co".into(),
        run_by: "ana on lab-7 at 2026-11-25 10:00:00 UTC".into(),
        network: "loopback (127.0.0.1)".into(),
    };
    write(&dir, &meta, &[entry]).unwrap();
    dir
}

#[test]
fn conversation_steps_share_one_pane_and_commands_have_their_own() {
    let items = [
        Item::Step("client types: hi".into()),
        Item::Step("server prints: hi".into()),
        Item::Pane {
            head: "server $ udp-chat".into(),
            lines: vec!["ok".into()],
        },
        Item::Check {
            ok: true,
            what: "it answered".into(),
        },
        Item::Step("client types: bye".into()),
    ];
    let html = panes(Path::new("."), &items).into_string();
    assert_eq!(html.matches("<figure class=\"pane\">").count(), 3, "{html}");
    assert!(html.contains(
        "<figcaption>@conversation, in order</figcaption><pre>client types: hi\nserver prints: hi</pre>"
    ));
    assert!(html.contains("<figcaption>@server $ udp-chat</figcaption><pre>ok</pre>"));
    assert!(!html.contains("it answered"), "a check is no pane's");
}

#[test]
fn frames_become_rows_of_their_columns() {
    let mut frames = handshake();
    frames[2].analysis = vec!["window_update".into()];
    frames[2].info = format!("[TCP Window Update] {}", frames[2].info);
    frames.push(Frame {
        no: 4,
        direction: None,
        sender: None,
        process: None,
        states: None,
        protocol: "ICMPv6".into(),
        source: "fe80::1:2:3:4:5".into(),
        destination: "ff02::1".into(),
        info: "Neighbor Solicitation".into(),
        notes: Vec::new(),
        ..frames[0].clone()
    });
    let html = frame_table(&frames, None).into_string();
    assert!(html.contains(
        "<tr class=\"hot\" data-frame=\"1\"><td class=\"n\">1</td><td class=\"n\">0.000011</td><td>127.0.0.1</td><td>127.0.0.1</td><td>TCP</td><td class=\"n\">74</td><td>client→server</td><td>client (pid 7 tcp-uppercase)</td><td>52581 → 13000 [SYN] Seq=0 Win=65495 Len=0</td><td class=\"st\">SYN_SENT / LISTEN</td><td class=\"note\">handshake 1/3 (SYN)</td></tr>"
    ), "{html}");
    assert!(html.contains("<tr data-frame=\"2\">"));
    assert!(html.contains("<tr class=\"flagged\" data-frame=\"3\">"));
    // A frame of no connection has no role, and is not the diagram's.
    assert!(html.contains("<tr><td class=\"n\">4</td>"));
    assert!(html.contains("<td></td><td></td><td>Neighbor Solicitation</td>"));
    // With a diagram that drew frame 1 and 3, frame 2 is counted.
    let drawn = BTreeSet::from([1, 3]);
    let html = frame_table(&frames, Some(&drawn)).into_string();
    assert!(!html.contains("data-frame=\"2\""));
    assert!(html.contains(&format!(
        "<tr class=\"left-out\" data-left-out=\"1\"><td colspan=\"11\">{}</td></tr>",
        left_out_line(1)
    )));
    assert!(html.contains("<tr><td class=\"n\">4</td>"), "always shown");
}

#[test]
fn text_is_escaped_and_links_are_relative() {
    assert_eq!(
        href(Path::new("/abs/dir/06-hello world.png")),
        "06-hello%20world.png"
    );
    assert_eq!(percent_decode("06-hello%20world.png"), "06-hello world.png");
    let dir = generated("escape", &[1, 2, 3]);
    let html = fs::read_to_string(dir.join(INDEX)).unwrap();
    assert!(html.contains("Ana &lt;Roll 31&gt; &amp; co"), "{html}");
    assert!(html.contains("Capture &lt;TCP&gt; &amp; &quot;who&quot;"));
    assert!(html.contains("http://127.0.0.1:8080/&lt;b&gt;&quot;"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("<img src=\"06-hello%20world.png\""));
    assert!(html.contains("<a href=\"05-tcp.pcapng\">"));
    assert!(html.contains("<a href=\"05-capture.txt\">"));
    // The diagram is inline, without its namespace URL.
    assert!(html.contains("<svg class=\"ladder\" width=\"10\""));
    assert!(!html.contains("xmlns"));
    assert!(html.contains("<li class=\"ok\">✓ the tcp handshake frames are named</li>"));
    assert!(html.contains("<li class=\"bad\">✗ x.png saved (0 bytes)</li>"));
    assert!(html.contains("1 of 1 scenarios misbehaved"));
    assert!(html.contains("<dd>by ana on lab-7 at 2026-11-25 10:00:00 UTC</dd>"));
    assert!(
        !dir.to_string_lossy().is_empty() && !html.contains(&format!("src=\"{}", dir.display()))
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_generated_report_passes_its_checks() {
    let dir = generated("good", &[1, 2, 3]);
    let done = check_dir(&dir).unwrap();
    assert!(
        done.iter()
            .any(|d| d.contains("05-tcp.svg: one arrow for each of the 3 frames")),
        "{done:?}"
    );
    assert!(
        done.iter().any(|d| d.contains("4 relative links")),
        "{done:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A frame as `net-trace read --format json` gives it, from a row of
/// net-trace's own analysis.
fn frame_of(row: &net_trace::analyze::Row) -> Frame {
    use net_trace::analyze::{Direction, Ends};
    let (source, destination) = match &row.ends {
        Ends::Ip { src, dst } => (src.ip().to_string(), dst.ip().to_string()),
        Ends::Link { src, dst } => (src.to_string(), dst.to_string()),
    };
    Frame {
        no: row.no,
        time: row.time.to_string().parse().unwrap(),
        source,
        destination,
        protocol: row.protocol.to_string(),
        length: row.length.into(),
        direction: row.direction.map(|d| {
            match d {
                Direction::ClientToServer => "client→server",
                Direction::ServerToClient => "server→client",
            }
            .to_string()
        }),
        sender: row.direction.map(|d| d.sender().to_string()),
        process: None,
        states: row.states.map(|[c, s]| States {
            client: c.name().into(),
            server: s.name().into(),
        }),
        info: row.info.clone(),
        analysis: net_trace::sink::analysis_names(&row.analysis)
            .map(str::to_string)
            .collect(),
        notes: row.notes.clone(),
    }
}

/// What `net-trace capture --states --diagram DIR/NAME` shows of
/// connection 1 of a fixture, and the diagram it writes, made with
/// net-trace's own code.
fn traced(fixture: &str, dir: &Path, name: &str) -> Item {
    use net_trace::analyze::Analyzer;
    use net_trace::decode::{Decoded, Decoder};
    use net_trace::{diagram, pcapio};
    let path = crate::util::root()
        .join("crates/net-trace/tests/fixtures")
        .join(fixture);
    let mut reader = pcapio::FileReader::open(&path).unwrap();
    let (mut decoder, mut analyzer) = (Decoder::new(), Analyzer::new());
    let mut collector = diagram::Collector::new(Some(1));
    let mut frames = Vec::new();
    let mut f = pcapio::Frame::default();
    while reader.read_frame(&mut f).unwrap() {
        let row = match decoder.decode(f.link, &f.data, f.time, f.wire_len) {
            Decoded::Packet(p) => analyzer.push(&p),
            Decoded::Other(o) => analyzer.push_other(&o),
        };
        collector.push(&row, None);
        if row.conn == Some(1) {
            frames.push(frame_of(&row));
        }
    }
    fs::write(dir.join(name), collector.svg()).unwrap();
    Item::Capture {
        head: format!(
            "capture $ net-trace read {fixture} --states --diagram {} --connection 1",
            dir.join(name).display()
        ),
        frames,
        lines: Vec::new(),
        diagram: Some(dir.join(name)),
    }
}

#[test]
fn a_bad_network_s_capture_is_explained_and_its_left_out_frames_counted() {
    let dir = scratch("lossy");
    let name = "07-lossy-tcp.svg";
    let entry = Entry {
        id: "07-tcp-bad-network".into(),
        title: "TCP on a bad network".into(),
        items: vec![traced("tcp-analysis.pcap", &dir, name)],
        artifacts: vec![dir.join(name)],
        failures: Vec::new(),
    };
    write(&dir, &Meta::default(), std::slice::from_ref(&entry)).unwrap();
    let done = check_dir(&dir).unwrap();
    assert!(
        done.iter()
            .any(|d| d.contains("07-lossy-tcp.svg: the 34 frames of its capture")),
        "{done:?}"
    );
    assert!(
        done.iter()
            .any(|d| d.contains("1 section(s) with frames tshark's analysis flagged"))
    );
    let html = fs::read_to_string(dir.join(INDEX)).unwrap();
    assert!(
        html.contains("<div class=\"explain\">")
            && html.contains("<tr class=\"flagged\" data-frame=")
    );
    assert!(html.contains("<tr class=\"left-out\" data-left-out=\""));
    assert!(html.contains("<td colspan=\"11\">… "));
    assert!(
        html.contains("[TCP Fast Retransmission]")
            && html.contains("data-analysis=\"retransmission\"")
    );
    // A left-out row that miscounts is noticed.
    let at = html.find("data-left-out=\"").unwrap() + "data-left-out=\"".len();
    let mut wrong = html.clone();
    wrong.insert(at, '1');
    fs::write(dir.join(INDEX), wrong).unwrap();
    assert!(check_dir(&dir).is_err());
    // So is a page that shows flagged frames without the words for them.
    fs::write(
        dir.join(INDEX),
        html.replace("<div class=\"explain\">", "<div>"),
    )
    .unwrap();
    let err = check_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("does not explain them"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn real_diagrams_have_one_arrow_per_frame_of_their_table() {
    let dir = scratch("real");
    let mut items = Vec::new();
    let mut artifacts = Vec::new();
    for (fixture, name) in [
        ("http-full.pcap", "05-http.svg"),
        ("icmp-unreachable.pcap", "05-udp.svg"),
        ("big-loopback.pcap", "05-tcp.svg"),
    ] {
        items.push(traced(fixture, &dir, name));
        artifacts.push(dir.join(name));
    }
    let entry = Entry {
        id: "05-capture".into(),
        title: "Capture".into(),
        items,
        artifacts,
        failures: Vec::new(),
    };
    write(&dir, &Meta::default(), &[entry]).unwrap();
    let done = check_dir(&dir).unwrap();
    let html = fs::read_to_string(dir.join(INDEX)).unwrap();
    // The fetch: 10 frames, all drawn. The port unreachable: the
    // datagram and the ICMP error coming back. The long transfer:
    // its middle elided.
    for want in [
        "05-http.svg: one arrow for each of the 10 frames",
        "05-udp.svg: one arrow for each of the 2 frames",
        "05-tcp.svg: the 54 frames of its capture, 24 drawn and in its table, the other 30 counted",
    ] {
        assert!(done.iter().any(|d| d.contains(want)), "{want}: {done:?}");
    }
    assert!(html.contains("… 30 "), "the long connection is elided");
    assert!(html.contains("ICMP Destination unreachable (Port unreachable)"));
    assert!(html.contains("<td>server's host</td>"));
    assert!(html.contains("<td class=\"st\">SYN_SENT / SYN_RECEIVED</td>"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    // A drawn frame removed from the diagram is noticed.
    let svg = fs::read_to_string(dir.join("05-http.svg")).unwrap();
    let cut = svg.replacen("<g class=\"arrow\" data-frame=\"5\">", "<g>", 1);
    fs::write(dir.join("05-http.svg"), cut).unwrap();
    assert!(check_dir(&dir).is_err());
    // So is a frame missing from the table.
    fs::write(dir.join("05-http.svg"), svg).unwrap();
    check_dir(&dir).unwrap();
    fs::write(
        dir.join(INDEX),
        html.replacen("data-frame=\"5\"", "data-row=\"5\"", 1),
    )
    .unwrap();
    assert!(check_dir(&dir).is_err());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_diagram_missing_a_frame_fails() {
    let dir = generated("short", &[1, 3]);
    let err = check_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("draws 2 arrows"), "{err}");
    let _ = fs::remove_dir_all(&dir);
    let dir = generated("other", &[1, 2, 9]);
    assert!(check_dir(&dir).is_err());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_elided_diagram_counts_what_it_left_out() {
    let (drawn, elided) = svg_frames(
        "<g class=\"arrow\" data-frame=\"1\"></g><text class=\"elided\" x=\"1\">… 240 data frames …</text><g class=\"arrow\" data-frame=\"242\"></g>",
    );
    assert_eq!((drawn, elided), (vec![1, 242], 240));
}

#[test]
fn a_missing_file_or_an_external_url_fails() {
    let dir = generated("missing", &[1, 2, 3]);
    fs::remove_file(dir.join("05-tcp.pcapng")).unwrap();
    let err = check_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("05-tcp.pcapng"), "{err}");
    let _ = fs::remove_dir_all(&dir);

    let dir = scratch("links");
    for (html, why) in [
        ("<p><img src=\"https://example.org/x.png\"></p>", "outside"),
        ("<p><a href=\"//cdn.example/x\">x</a></p>", "outside"),
        ("<style>p{background:url(x.png)}</style><p></p>", "outside"),
        ("<p><a href=\"#nowhere\">x</a></p>", "no element"),
        ("<p><a href=\"../secret\">x</a></p>", "not a file"),
    ] {
        let err = check_links(html, &dir).unwrap_err().to_string();
        assert!(err.contains(why), "{html}: {err}");
    }
    // A URL in text is words, not a reference.
    assert_eq!(
        check_links("<pre>curl http://127.0.0.1/</pre>", &dir).unwrap(),
        0
    );
    let _ = fs::remove_dir_all(&dir);
}
