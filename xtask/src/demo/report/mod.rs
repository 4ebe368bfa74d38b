//! The hand-in report: `target/demo/index.html`, one page a student can
//! hand in — who ran the demo, where and when; each scenario's transcripts
//! side by side as terminal panes; the checks that passed; the capture
//! tables and their ladder diagrams; the browser screenshots; links to the
//! pcaps.
//!
//! The page is built from the scenarios' typed transcripts ([`Item`]s)
//! and each capture's frames as net-trace reads them back from the saved
//! file ([`Frame`]), with a template that escapes every value and closes
//! every element it opens. It is self-contained: its CSS and the diagrams
//! are inline, and the screenshots, pcaps and transcripts are linked by
//! relative paths next to it, so the directory can be zipped and opened
//! anywhere. [`check_dir`] (in `check.rs`) verifies that as a reader
//! would need it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::frames::Frame;
use super::transcript::Item;

mod check;
#[cfg(test)]
mod tests;

pub use check::check_dir;

/// The report's file name in the demo's directory.
pub const INDEX: &str = "index.html";

/// One scenario as it ran.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// `05-capture`.
    pub id: String,
    /// What the scenario shows.
    pub title: String,
    /// The transcript, piece by piece.
    pub items: Vec<Item>,
    /// Files it produced, in the report's directory.
    pub artifacts: Vec<PathBuf>,
    /// Checks that failed.
    pub failures: Vec<String>,
}

impl Entry {
    /// About how many lines of text the section shows.
    pub fn lines(&self) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                Item::Pane { lines, .. } => 1 + lines.len(),
                Item::Capture { frames, lines, .. } => 2 + frames.len() + lines.len(),
                _ => 1,
            })
            .sum()
    }
}

/// Who ran the demo, where and when.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The name the hand-in is for (`--name`, else the user).
    pub name: String,
    /// `root on lab-7 at 2026-11-25 10:00:00 UTC`.
    pub run_by: String,
    /// Where servers and clients ran.
    pub network: String,
}

/// The pane that gathers a conversation's steps.
const CONVERSATION: &str = "conversation, in order";

/// A file's name as a relative link: the report lives next to its files.
/// Characters that would end or confuse a URL are percent-encoded.
fn href(path: &Path) -> String {
    let mut out = String::new();
    for b in file_name(path).bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A path's last part, as text.
fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a capture's diagram shows, from its label (`05-tcp.svg`).
fn diagram_caption(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let label = stem.split_once('-').map_or(stem.as_str(), |(_, l)| l);
    match label {
        "udp" => "UDP exchange: one datagram each way".to_string(),
        "tcp" => "TCP connection: handshake, data and teardown".to_string(),
        "http" => "HTTP fetch: one page over one TCP connection".to_string(),
        "lossy-tcp" => "TCP over the impaired link: what TCP did about each loss".to_string(),
        "lossy-http" => "HTTP fetch over the impaired link".to_string(),
        other => format!("Capture {other}"),
    }
}

/// An SVG document as it goes inside the page: without its XML
/// namespace (HTML knows `<svg>`), scaled to the page's width. It is the
/// one piece of markup the page takes as it is: net-trace drew it, and
/// escaped its text as it did.
fn inline_svg(svg: &str) -> PreEscaped<String> {
    PreEscaped(
        svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
            .replacen("<svg ", "<svg class=\"ladder\" ", 1),
    )
}

/// What the analysis tags in a capture's table mean, for the reader of the
/// report: the lab's handshake lesson carried on to a network that loses,
/// reorders and duplicates packets.
fn explain_analysis() -> Markup {
    html! {
        div.explain {
            p {
                b { "Reading a capture of a bad network." }
                " TCP promises the bytes arrive whole and in order over a network that promises \
                 neither. These tags, at the start of the Info column (as Wireshark shows them), \
                 mark how it keeps that promise; the row's last column says it in words, the \
                 summary under the table counts them per connection, and the ladder diagram draws \
                 them in their own style (a long connection keeps its first and last frames and \
                 the flagged ones between). A capture on the server's side sees what reached the \
                 server: a client segment lost on the way is simply missing, and shows up as the \
                 gap after it and the resent copy later."
            }
            dl {
                dt { "[TCP Retransmission] — purple, dashed" }
                dd { "Bytes sent again: no acknowledgement came before the sender's retransmission \
                      timer ran out (or a duplicated packet arrived twice)." }
                dt { "[TCP Fast Retransmission]" }
                dd { "Sent again at once, without waiting for the timer, because the receiver's \
                      duplicate ACKs said the bytes were missing." }
                dt { "[TCP Spurious Retransmission]" }
                dd { "Sent again although the receiver had already acknowledged them: the \
                      acknowledgement was lost or late on its way back." }
                dt { "[TCP Dup ACK 6#2] — amber, dotted" }
                dd { "The receiver acknowledges the same byte again (here the second repeat of \
                      frame 6's ACK): a segment arrived, but not the one it waits for, so \
                      something before it is missing. Three of them make the sender retransmit \
                      at once." }
                dt { "[TCP Out-Of-Order] — teal" }
                dd { "A segment below one already seen, within a round trip of it: the network \
                      delivered them in another order than they were sent (or a quick \
                      retransmission filled the hole)." }
                dt { "[TCP Previous segment not captured]" }
                dd { "The segment starts beyond the bytes seen so far: what came before it was \
                      lost on the way, or is late." }
                dt { "[TCP CHECKSUM INCORRECT] (also UDP, IPv4)" }
                dd {
                    "A bit of the packet was flipped on the way: its checksum no longer matches, \
                     so the receiver drops it as if it were lost (tcpdump says "
                    i { "cksum … (incorrect" }
                    "). net-trace shows it and leaves it out of everything else: it opens no \
                     connection, changes no state and counts nowhere, as it never arrived; its \
                     sender resends it like a lost one."
                }
                dt { "[TCP ACKed unseen segment], [TCP Window Update], [TCP Keep-Alive]…" }
                dd { "An ACK of bytes the capture never saw; a bare ACK that only announces more \
                      buffer room; a probe of an idle connection." }
            }
        }
    }
}

const CSS: &str = "\
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.who{background:#f4f6f8;border:1px solid #d8dde3;border-radius:6px;padding:10px 14px;margin:12px 0}
.who dt{font-weight:bold;float:left;width:110px}.who dd{margin:0 0 4px 120px}
.status{font-weight:bold}.ok{color:#1e7d32}.bad{color:#c0392b}
.panes{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px}
.pane{margin:0;background:#1e1e1e;border-radius:6px;overflow:hidden;box-shadow:0 1px 3px #0003}
.pane figcaption{background:#3a3a3a;color:#ddd;font:12px 'DejaVu Sans Mono',monospace;padding:5px 8px;white-space:pre-wrap;word-break:break-all}
.pane pre{margin:0;padding:8px;color:#e8e8e8;font:12px/1.35 'DejaVu Sans Mono',monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.wide{grid-column:1/-1}
table.frames{border-collapse:collapse;width:100%;background:#fff;font:11px/1.3 'DejaVu Sans Mono',monospace}
table.frames th{background:#e9edf1;text-align:left;padding:3px 5px;border-bottom:1px solid #bbb}
table.frames td{padding:2px 5px;border-bottom:1px solid #eee;vertical-align:top}
table.frames td.n{text-align:right}table.frames tr.hot td{background:#fdecea}
table.frames td.st{color:#1f5fa8}table.frames td.note{color:#555}
table.frames tr.flagged td{background:#f4ecf7}table.frames tr.left-out td{color:#777;font-style:italic;text-align:center}
.explain{background:#fbfbf2;border:1px solid #e4e4c8;border-radius:6px;padding:6px 16px;margin:10px 0}
.explain dt{font-weight:bold;margin-top:6px}.explain dd{margin:2px 0 4px 16px}
.shots{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
ul.checks{list-style:none;padding-left:4px}ul.checks li{margin:2px 0}
.note{color:#555;font-style:italic}
figure.diagram{margin:12px 0;text-align:center}svg.ladder{max-width:100%;height:auto;border:1px solid #ddd}
figure.shot{margin:0}figure.shot img{width:100%;border:1px solid #ccc}figure figcaption{font-size:13px;color:#444}
.files a{margin-right:14px}
";

/// Writes `index.html` into `dir` and returns its path.
pub fn write(dir: &Path, meta: &Meta, entries: &[Entry]) -> Result<PathBuf> {
    let html = render(dir, meta, entries);
    let path = dir.join(INDEX);
    fs::write(&path, html.into_string()).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// The page, reading the diagrams from `dir` to inline them.
fn render(dir: &Path, meta: &Meta, entries: &[Entry]) -> Markup {
    let failed = entries.iter().filter(|e| !e.failures.is_empty()).count();
    let (class, verdict) = if failed == 0 {
        ("ok", format!("all {} scenarios behaved", entries.len()))
    } else {
        (
            "bad",
            format!("{failed} of {} scenarios misbehaved", entries.len()),
        )
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "netlab lab report: " (meta.name) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "netlab lab report" }
                dl.who {
                    dt { "Name" } dd { (meta.name) }
                    @if !meta.run_by.is_empty() { dt { "Run" } dd { "by " (meta.run_by) } }
                    @if !meta.network.is_empty() { dt { "Network" } dd { (meta.network) } }
                    dt { "Result" } dd class={ "status " (class) } { (verdict) }
                }
                p {
                    "Contents: "
                    @for (i, e) in entries.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href={ "#" (e.id) } { (e.title) }
                    }
                }
                @for e in entries { (section(dir, e)) }
            }
        }
    }
}

/// The kind of file an artifact is, by its extension.
fn ext(p: &Path) -> String {
    p.extension()
        .map(|x| x.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn section(dir: &Path, e: &Entry) -> Markup {
    let notes = e.items.iter().filter_map(|i| match i {
        Item::Note(n) if !n.trim().is_empty() => Some(n.trim()),
        _ => None,
    });
    // A capture where the analysis flagged frames gets the words for what
    // it flagged.
    let flagged = e.items.iter().any(|i| match i {
        Item::Capture { frames, .. } => frames.iter().any(|f| !f.analysis.is_empty()),
        _ => false,
    });
    let checks: Vec<(bool, &str)> = e
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Check { ok, what } => Some((*ok, what.as_str())),
            _ => None,
        })
        .collect();
    let passed = checks.iter().filter(|c| c.0).count();
    let svgs: Vec<&PathBuf> = e.artifacts.iter().filter(|p| ext(p) == "svg").collect();
    let shots: Vec<&PathBuf> = e.artifacts.iter().filter(|p| ext(p) == "png").collect();
    let files: Vec<&PathBuf> = e
        .artifacts
        .iter()
        .filter(|p| matches!(ext(p).as_str(), "pcap" | "pcapng" | "txt"))
        .collect();
    html! {
        section id=(e.id) {
            h2 { (e.id) ": " (e.title) }
            @for n in notes { p.note { (n) } }
            @if flagged { (explain_analysis()) }
            (panes(dir, &e.items))
            @if !checks.is_empty() {
                h3 { "Checks: " (passed) " of " (checks.len()) " passed" }
                ul.checks {
                    @for (ok, what) in &checks {
                        @let (class, mark) = if *ok { ("ok", "✓") } else { ("bad", "✗") };
                        li class=(class) { (mark) " " (what) }
                    }
                }
            }
            @if !svgs.is_empty() { h3 { "Ladder diagrams" } }
            @for p in svgs {
                @if let Ok(svg) = fs::read_to_string(dir.join(file_name(p))) {
                    figure.diagram {
                        figcaption {
                            (diagram_caption(p)) " — " a href=(href(p)) { (file_name(p)) }
                        }
                        (inline_svg(&svg))
                    }
                }
            }
            @if !shots.is_empty() {
                div.shots {
                    @for p in shots {
                        figure.shot {
                            img src=(href(p)) alt=(file_name(p));
                            figcaption { (file_name(p)) }
                        }
                    }
                }
            }
            @if !files.is_empty() {
                p.files {
                    "Files: "
                    @for p in files {
                        @let what = if ext(p) == "txt" { "transcript" } else { "capture" };
                        a href=(href(p)) { (file_name(p)) " (" (what) ")" }
                    }
                }
            }
        }
    }
}

/// The transcript's commands as terminal panes, in order; a capture's
/// frames as a table; consecutive conversation steps in one pane.
fn panes(dir: &Path, items: &[Item]) -> Markup {
    let mut shown: Vec<Markup> = Vec::new();
    let mut steps: Vec<&str> = Vec::new();
    let conversation = |steps: &mut Vec<&str>| {
        let pane = pane(CONVERSATION, steps);
        steps.clear();
        pane
    };
    for item in items {
        match item {
            Item::Step(s) => {
                steps.push(s);
                continue;
            }
            Item::Pane { .. } | Item::Capture { .. } if !steps.is_empty() => {
                shown.push(conversation(&mut steps));
            }
            _ => {}
        }
        match item {
            Item::Pane { head, lines } => {
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                shown.push(pane(head, &lines));
            }
            Item::Capture {
                head,
                frames,
                lines,
                diagram,
            } => {
                let drawn = diagram
                    .as_ref()
                    .and_then(|p| fs::read_to_string(dir.join(file_name(p))).ok())
                    .map(|svg| svg_frames(&svg).0.into_iter().collect());
                let table = frame_table(frames, drawn.as_ref());
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                let name = diagram.as_deref().map(file_name);
                shown.push(html! {
                    figure.pane.wide data-diagram=[name] {
                        figcaption { "@" (head) }
                        (table)
                        @if !lines.is_empty() { pre { (lines.join("\n")) } }
                    }
                });
            }
            _ => {}
        }
    }
    if !steps.is_empty() {
        shown.push(conversation(&mut steps));
    }
    html! {
        @if !shown.is_empty() {
            div.panes { @for p in shown { (p) } }
        }
    }
}

/// One terminal pane: `@head` over what was printed.
fn pane(head: &str, lines: &[&str]) -> Markup {
    // A long line gets the page's width; the other panes sit side by
    // side.
    let wide = lines.iter().any(|l| l.chars().count() > 100);
    html! {
        figure.pane.wide[wide] {
            figcaption { "@" (head) }
            @if !lines.is_empty() { pre { (lines.join("\n")) } }
        }
    }
}

/// A capture's frames as a table, one row each. With the frames its
/// diagram drew (`drawn`), the table shows those a connection's and
/// counts each run of the others on one row, as the diagram does; frames
/// of no connection are always shown. Each row of a connection carries
/// its number (`data-frame`), each run its count (`data-left-out`), for
/// [`check_dir`].
fn frame_table(frames: &[Frame], drawn: Option<&BTreeSet<usize>>) -> Markup {
    if frames.is_empty() {
        return html! {};
    }
    let shown = |f: &Frame| !f.in_connection() || drawn.is_none_or(|d| d.contains(&f.no));
    // The rows: a frame, or a run of frames left out.
    let mut rows: Vec<Result<&Frame, usize>> = Vec::new();
    for f in frames {
        match rows.last_mut() {
            _ if shown(f) => rows.push(Ok(f)),
            Some(Err(n)) => *n += 1,
            _ => rows.push(Err(1)),
        }
    }
    html! {
        table.frames {
            tr {
                th { "No." } th { "Time" } th { "Source" } th { "Destination" } th { "Proto" }
                th { "Length" } th { "Role" } th { "Sent by" } th { "Info" }
                th { "States (client / server)" } th { "What it is" }
            }
            @for row in rows {
                @match row {
                    Err(n) => {
                        tr.left-out data-left-out=(n) { td colspan="11" { (left_out_line(n)) } }
                    }
                    Ok(f) => { (frame_row(f)) }
                }
            }
        }
    }
}

fn frame_row(f: &Frame) -> Markup {
    let hot = f.notes.iter().any(|n| {
        ["handshake", "teardown", "reset"]
            .iter()
            .any(|k| n.contains(k))
    });
    // What the analysis flagged: a segment resent, out of order, an ACK
    // repeated, a checksum wrong.
    let class = if hot {
        Some("hot")
    } else if !f.analysis.is_empty() {
        Some("flagged")
    } else {
        None
    };
    let no = f.in_connection().then_some(f.no);
    html! {
        tr class=[class] data-frame=[no] {
            td.n { (f.no) }
            td.n { (f.time_text()) }
            td { (f.source) }
            td { (f.destination) }
            td { (f.protocol) }
            td.n { (f.length) }
            td { (f.direction.as_deref().unwrap_or_default()) }
            td { (f.sent_by()) }
            td { (f.info) }
            td.st { (f.states_text()) }
            td.note { (f.notes.join("; ")) }
        }
    }
}

/// What a capture's table says in place of the frames it leaves out, as
/// its diagram left them out.
pub(in crate::demo) fn left_out_line(n: usize) -> String {
    let frames = if n == 1 { "frame" } else { "frames" };
    format!("… {n} {frames} left out, as in the diagram (the saved capture holds every one) …")
}

/// Frame numbers drawn in an SVG (`data-frame="N"`), and how many frames
/// its elision marks say were left out.
pub(in crate::demo) fn svg_frames(svg: &str) -> (Vec<usize>, usize) {
    let drawn = attr_values(svg, "data-frame")
        .into_iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let mut elided = 0;
    for piece in svg.split("class=\"elided\"").skip(1) {
        let text = piece.split('>').nth(1).unwrap_or("");
        if let Some(n) = text
            .split_whitespace()
            .find_map(|w| w.parse::<usize>().ok())
        {
            elided += n;
        }
    }
    (drawn, elided)
}

/// The values of `attr="…"` in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}
