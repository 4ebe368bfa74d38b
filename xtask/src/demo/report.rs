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
//! anywhere. [`check_dir`] verifies that as a reader would need it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::frames::Frame;
use super::transcript::Item;

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

// ---------------------------------------------------------------------
// Checking a written report as a reader would need it.

/// Checks `dir/index.html`: every relative link names a file in `dir`,
/// nothing is fetched from elsewhere, flagged frames are explained, and
/// each capture's diagram has one arrow per frame of its table. Returns
/// what was checked, one line each. (That every element is closed, in
/// order, the template guarantees.)
pub fn check_dir(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(INDEX);
    let html = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut done = Vec::new();
    let links = check_links(&html, dir)?;
    done.push(format!(
        "{INDEX}: {links} relative links, each to a written file; no external URL"
    ));
    let explained = check_explained(&html)?;
    if explained > 0 {
        done.push(format!(
            "{INDEX}: {explained} section(s) with frames tshark's analysis flagged, each explaining the tags"
        ));
    }
    for (svg, frames, drawn, table_elided) in check_diagrams(&html, dir)? {
        let others = frames - drawn;
        done.push(if drawn == frames {
            format!("{svg}: one arrow for each of the {frames} frames in its table")
        } else if table_elided == 0 {
            format!(
                "{svg}: the {frames} frames of its table, {drawn} drawn, the other {others} counted by its elision marks"
            )
        } else {
            format!(
                "{svg}: the {frames} frames of its capture, {drawn} drawn and in its table, the other {others} counted where both leave them out"
            )
        });
    }
    Ok(done)
}

/// Fails when a section shows flagged frames (retransmissions, duplicate
/// ACKs…) without the words for them, or its diagram marks some without a
/// legend. Returns how many sections had flagged frames.
fn check_explained(html: &str) -> Result<usize> {
    let mut count = 0;
    for section in html.split("<section id=\"").skip(1) {
        let id = section.split('"').next().unwrap_or("");
        let flagged = section.contains("<tr class=\"flagged\"");
        if !flagged {
            continue;
        }
        if !section.contains("<div class=\"explain\">") {
            bail!("{id} shows frames tshark's analysis flagged but does not explain them");
        }
        if section.contains("data-analysis=") && !section.contains("<g class=\"legend\">") {
            bail!("{id}'s diagram marks frames without a legend");
        }
        count += 1;
    }
    Ok(count)
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
/// Fails on a link to another site or to a file not in `dir`. Returns
/// the number of relative links.
fn check_links(html: &str, dir: &Path) -> Result<usize> {
    // A URL in a tag or in CSS is something the page fetches or points
    // to; in text (a transcript's command line) it is only words.
    let mut in_tags = String::new();
    for piece in html.split('<').skip(1) {
        in_tags.push_str(piece.split('>').next().unwrap_or(""));
        in_tags.push('\n');
    }
    if let (Some(a), Some(b)) = (html.find("<style>"), html.find("</style>")) {
        in_tags.push_str(html.get(a..b).unwrap_or(""));
    }
    for scheme in ["http://", "https://", "//", "file:", "data:", "javascript:"] {
        for value in attr_values(&in_tags, "href")
            .into_iter()
            .chain(attr_values(&in_tags, "src"))
        {
            if value.starts_with(scheme) {
                bail!("the page refers to {value:?}, outside its directory");
            }
        }
    }
    for external in ["http://", "https://", "url(", "@import"] {
        if in_tags.contains(external) {
            bail!("the page's markup or CSS refers to something outside it ({external})");
        }
    }
    let mut count = 0;
    let mut anchors = BTreeSet::new();
    for id in attr_values(html, "id") {
        anchors.insert(id.to_string());
    }
    for value in attr_values(&in_tags, "href")
        .into_iter()
        .chain(attr_values(&in_tags, "src"))
    {
        if let Some(anchor) = value.strip_prefix('#') {
            if !anchors.contains(anchor) {
                bail!("the link #{anchor} goes to no element");
            }
            continue;
        }
        if value.contains(':') || value.starts_with('/') || value.contains("..") {
            bail!("the link {value:?} is not a file next to the page");
        }
        let name = percent_decode(value);
        let target = dir.join(&name);
        let size = fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        if size == 0 {
            bail!(
                "the link {value:?} names no written file in {}",
                dir.display()
            );
        }
        count += 1;
    }
    Ok(count)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a capture's table says in place of the frames it leaves out, as
/// its diagram left them out.
pub(super) fn left_out_line(n: usize) -> String {
    let frames = if n == 1 { "frame" } else { "frames" };
    format!("… {n} {frames} left out, as in the diagram (the saved capture holds every one) …")
}

/// Frame numbers drawn in an SVG (`data-frame="N"`), and how many frames
/// its elision marks say were left out.
pub(super) fn svg_frames(svg: &str) -> (Vec<usize>, usize) {
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

/// A value as the template wrote it in an attribute, its entities
/// turned back into the characters.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// For each capture pane that drew a diagram (`data-diagram`): the
/// diagram's arrows are its table's frames (`data-frame`), one each; for
/// a long connection, the arrows plus the frames its elision marks count
/// are the table's rows plus the frames its runs leave out
/// (`data-left-out`).
fn check_diagrams(html: &str, dir: &Path) -> Result<Vec<(String, usize, usize, usize)>> {
    let mut out = Vec::new();
    for pane in html.split("<figure class=\"pane").skip(1) {
        let pane = pane.split("</figure>").next().unwrap_or("");
        let opening = pane.split('>').next().unwrap_or("");
        let Some(name) = attr_values(opening, "data-diagram")
            .first()
            .map(|v| unescape(v))
        else {
            continue;
        };
        let rows = attr_values(pane, "data-frame");
        let frames: BTreeSet<usize> = rows.iter().filter_map(|v| v.parse().ok()).collect();
        if frames.len() != rows.len() {
            bail!("the table of the capture that drew {name} shows a frame twice");
        }
        let table_elided: usize = attr_values(pane, "data-left-out")
            .iter()
            .filter_map(|v| v.parse::<usize>().ok())
            .sum();
        let svg = fs::read_to_string(dir.join(&name))
            .with_context(|| format!("the capture's diagram {name} was not written"))?;
        let (drawn, elided) = svg_frames(&svg);
        let drawn_set: BTreeSet<usize> = drawn.iter().copied().collect();
        if drawn_set.len() != drawn.len() {
            bail!("{name} draws a frame twice");
        }
        if frames.is_empty() {
            bail!("the capture that drew {name} has no frames in its table");
        }
        if !drawn_set.is_subset(&frames) || drawn.len() + elided != frames.len() + table_elided {
            bail!(
                "{name} draws {} arrows (and elides {elided}) for the {} frames of its table \
                 (and {table_elided} it leaves out)",
                drawn.len(),
                frames.len()
            );
        }
        let link = format!("<a href=\"{}\">", href(Path::new(&name)));
        if !html.contains(&link) {
            bail!("{name} is not shown in the page");
        }
        out.push((name, frames.len() + table_elided, drawn.len(), table_elided));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
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
                lines: vec![
                    "TCP connection 1: client 127.0.0.1:52581 ↔ server 127.0.0.1:13000".into(),
                ],
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
            !dir.to_string_lossy().is_empty()
                && !html.contains(&format!("src=\"{}", dir.display()))
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
}
