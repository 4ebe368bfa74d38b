//! The hand-in report: `target/demo/index.html`, one page a student can
//! hand in — who ran the demo, where and when; each scenario's transcripts
//! side by side as terminal panes; the checks that passed; the capture
//! tables and their ladder diagrams; the browser screenshots; links to the
//! pcaps.
//!
//! The page is self-contained: its CSS and the diagrams are inline, and
//! the screenshots, pcaps and transcripts are linked by relative paths
//! next to it, so the directory can be zipped and opened anywhere.
//! [`check_dir`] verifies that as a reader would need it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The report's file name in the demo's directory.
pub const INDEX: &str = "index.html";

/// One scenario as it ran.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// `05-capture`.
    pub id: String,
    /// What the scenario shows.
    pub title: String,
    /// The transcript, as saved to `NN-scenario.txt`.
    pub text: String,
    /// Files it produced, in the report's directory.
    pub artifacts: Vec<PathBuf>,
    /// Checks that failed.
    pub failures: Vec<String>,
}

/// Who ran the demo, where and when.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The name the hand-in is for (`--name`, else the user).
    pub name: String,
    /// The transcripts' header: `# run by … on … at …`, `# network: …`.
    pub header: String,
}

/// A piece of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// `@label $ command` and what followed it.
    Pane { head: String, lines: Vec<String> },
    /// `✓ what` (passed) or `✗ what` (failed).
    Check { ok: bool, what: String },
    /// Anything else (a skipped step, say).
    Note(String),
}

/// The pane that gathers a conversation's steps.
const CONVERSATION: &str = "conversation, in order";

/// Splits a transcript into panes, checks and notes. The header and the
/// scenario's banner are left out: the page shows them once.
fn parse(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    for line in text.lines() {
        if line.starts_with("# ") || line.starts_with("== ") {
            continue;
        }
        let body = line.strip_prefix("  ").unwrap_or(line);
        if let Some(what) = body.strip_prefix("✓ ") {
            items.push(Item::Check {
                ok: true,
                what: what.to_string(),
            });
        } else if let Some(what) = body.strip_prefix("✗ ") {
            items.push(Item::Check {
                ok: false,
                what: what.to_string(),
            });
        } else if let Some(head) = line.strip_prefix('@') {
            // `@client types: hi` is one step of a conversation, not a
            // command: consecutive steps share one pane.
            if !head.contains(" $ ") {
                if let Some(Item::Pane { head: h, lines }) = items.last_mut()
                    && h == CONVERSATION
                {
                    lines.push(head.to_string());
                } else {
                    items.push(Item::Pane {
                        head: CONVERSATION.to_string(),
                        lines: vec![head.to_string()],
                    });
                }
                continue;
            }
            items.push(Item::Pane {
                head: head.to_string(),
                lines: Vec::new(),
            });
        } else if let (Some(Item::Pane { lines, .. }), true) =
            (items.last_mut(), line.starts_with("  "))
        {
            lines.push(body.to_string());
        } else {
            items.push(Item::Note(body.trim().to_string()));
        }
    }
    items
}

/// Text made safe for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    net_core::text::escape_markup(s)
}

/// A file's name as a relative link: the report lives next to its files.
/// Characters that would end or confuse a URL are percent-encoded.
fn href(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
/// namespace (HTML knows `<svg>`), scaled to the page's width.
fn inline_svg(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen("<svg ", "<svg class=\"ladder\" ", 1)
}

/// What the analysis tags in a capture's table mean, for the reader of the
/// report: the lab's handshake lesson carried on to a network that loses,
/// reorders and duplicates packets.
const EXPLAIN_ANALYSIS: &str = "<div class=\"explain\">\n\
<p><b>Reading a capture of a bad network.</b> TCP promises the bytes arrive whole and in order over a \
network that promises neither. These tags, at the start of the Info column (as Wireshark shows them), mark \
how it keeps that promise; the row's last column says it in words, the summary under the table counts \
them per connection, and the ladder diagram draws them in their own style (a long connection keeps its \
first and last frames and the flagged ones between). A capture on the server's side sees what reached \
the server: a client segment lost on the way is simply missing, and shows up as the gap after it and the \
resent copy later.</p>\n<dl>\n\
<dt>[TCP Retransmission] — purple, dashed</dt><dd>Bytes sent again: no acknowledgement came before the \
sender's retransmission timer ran out (or a duplicated packet arrived twice).</dd>\n\
<dt>[TCP Fast Retransmission]</dt><dd>Sent again at once, without waiting for the timer, because the \
receiver's duplicate ACKs said the bytes were missing.</dd>\n\
<dt>[TCP Spurious Retransmission]</dt><dd>Sent again although the receiver had already acknowledged \
them: the acknowledgement was lost or late on its way back.</dd>\n\
<dt>[TCP Dup ACK 6#2] — amber, dotted</dt><dd>The receiver acknowledges the same byte again (here the \
second repeat of frame 6's ACK): a segment arrived, but not the one it waits for, so something before it \
is missing. Three of them make the sender retransmit at once.</dd>\n\
<dt>[TCP Out-Of-Order] — teal</dt><dd>A segment below one already seen, within a round trip of it: the \
network delivered them in another order than they were sent (or a quick retransmission filled the \
hole).</dd>\n\
<dt>[TCP Previous segment not captured]</dt><dd>The segment starts beyond the bytes seen so far: what \
came before it was lost on the way, or is late.</dd>\n\
<dt>[TCP CHECKSUM INCORRECT] (also UDP, IPv4)</dt><dd>A bit of the packet was flipped on the way: its \
checksum no longer matches, so the receiver drops it as if it were lost (tcpdump says <i>cksum … \
(incorrect</i>). net-trace shows it and leaves it out of everything else: it opens no connection, changes \
no state and counts nowhere, as it never arrived; its sender resends it like a lost one.</dd>\n\
<dt>[TCP ACKed unseen segment], [TCP Window Update], [TCP Keep-Alive]…</dt><dd>An ACK of bytes the \
capture never saw; a bare ACK that only announces more buffer room; a probe of an idle connection.</dd>\n\
</dl>\n</div>\n";

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
    fs::write(&path, html).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// The page, reading the diagrams from `dir` to inline them.
fn render(dir: &Path, meta: &Meta, entries: &[Entry]) -> String {
    let mut h = String::new();
    let failed = entries.iter().filter(|e| !e.failures.is_empty()).count();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>netlab lab report: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(&meta.name)
    );
    let _ = writeln!(h, "<h1>netlab lab report</h1>");
    let _ = writeln!(h, "<dl class=\"who\">");
    let _ = writeln!(h, "<dt>Name</dt><dd>{}</dd>", esc(&meta.name));
    for line in meta.header.lines() {
        let line = line.trim_start_matches("# ");
        if let Some(net) = line.strip_prefix("network: ") {
            let _ = writeln!(h, "<dt>Network</dt><dd>{}</dd>", esc(net));
        } else if let Some(run) = line.strip_prefix("run by ") {
            let _ = writeln!(h, "<dt>Run</dt><dd>by {}</dd>", esc(run));
        }
    }
    let (class, verdict) = if failed == 0 {
        ("ok", format!("all {} scenarios behaved", entries.len()))
    } else {
        (
            "bad",
            format!("{failed} of {} scenarios misbehaved", entries.len()),
        )
    };
    let _ = writeln!(
        h,
        "<dt>Result</dt><dd class=\"status {class}\">{}</dd>\n</dl>",
        esc(&verdict)
    );
    let _ = writeln!(h, "<p>Contents: ");
    for (i, e) in entries.iter().enumerate() {
        let sep = if i + 1 < entries.len() { " · " } else { "" };
        let _ = write!(h, "<a href=\"#{}\">{}</a>{sep}", esc(&e.id), esc(&e.title));
    }
    let _ = writeln!(h, "</p>");
    for e in entries {
        section(&mut h, dir, e);
    }
    let _ = writeln!(h, "</body>\n</html>");
    h
}

fn section(h: &mut String, dir: &Path, e: &Entry) {
    let items = parse(&e.text);
    let _ = writeln!(
        h,
        "<section id=\"{}\">\n<h2>{}: {}</h2>",
        esc(&e.id),
        esc(&e.id),
        esc(&e.title)
    );
    let notes: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Note(n) if !n.is_empty() => Some(n.as_str()),
            _ => None,
        })
        .collect();
    for n in notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(n));
    }
    // A capture where tshark's analysis flagged frames gets the words for
    // what it flagged.
    if e.text.contains("[TCP ") {
        h.push_str(EXPLAIN_ANALYSIS);
    }
    let panes: Vec<(&str, &[String])> = items
        .iter()
        .filter_map(|i| match i {
            Item::Pane { head, lines } => Some((head.as_str(), lines.as_slice())),
            _ => None,
        })
        .collect();
    if !panes.is_empty() {
        let _ = writeln!(h, "<div class=\"panes\">");
        for (head, lines) in panes {
            // A capture's table is as wide as the page; the other panes
            // sit side by side.
            let wide = head.starts_with("capture") || lines.iter().any(|l| l.len() > 100);
            let class = if wide { "pane wide" } else { "pane" };
            let _ = write!(
                h,
                "<figure class=\"{class}\"><figcaption>@{}</figcaption>",
                esc(head)
            );
            let rest = if head.starts_with("capture") {
                frame_table(h, lines)
            } else {
                lines.to_vec()
            };
            if !rest.is_empty() {
                let _ = write!(h, "<pre>{}</pre>", esc(&rest.join("\n")));
            }
            let _ = writeln!(h, "</figure>");
        }
        let _ = writeln!(h, "</div>");
    }
    let checks: Vec<(bool, &str)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Check { ok, what } => Some((*ok, what.as_str())),
            _ => None,
        })
        .collect();
    if !checks.is_empty() {
        let passed = checks.iter().filter(|c| c.0).count();
        let _ = writeln!(
            h,
            "<h3>Checks: {passed} of {} passed</h3>\n<ul class=\"checks\">",
            checks.len()
        );
        for (ok, what) in checks {
            let (class, mark) = if ok { ("ok", "✓") } else { ("bad", "✗") };
            let _ = writeln!(h, "<li class=\"{class}\">{mark} {}</li>", esc(what));
        }
        let _ = writeln!(h, "</ul>");
    }
    let ext = |p: &Path| {
        p.extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let svgs: Vec<&PathBuf> = e.artifacts.iter().filter(|p| ext(p) == "svg").collect();
    if !svgs.is_empty() {
        let _ = writeln!(h, "<h3>Ladder diagrams</h3>");
    }
    for p in svgs {
        let Ok(svg) = fs::read_to_string(dir.join(href_path(p))) else {
            continue;
        };
        let _ = writeln!(
            h,
            "<figure class=\"diagram\">\n<figcaption>{} — <a href=\"{}\">{}</a></figcaption>\n{}</figure>",
            esc(&diagram_caption(p)),
            href(p),
            esc(&href_name(p)),
            inline_svg(&svg)
        );
    }
    let shots: Vec<&PathBuf> = e.artifacts.iter().filter(|p| ext(p) == "png").collect();
    if !shots.is_empty() {
        let _ = writeln!(h, "<div class=\"shots\">");
        for p in shots {
            let _ = writeln!(
                h,
                "<figure class=\"shot\"><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                href(p),
                esc(&href_name(p)),
                esc(&href_name(p))
            );
        }
        let _ = writeln!(h, "</div>");
    }
    let files: Vec<&PathBuf> = e
        .artifacts
        .iter()
        .filter(|p| matches!(ext(p).as_str(), "pcap" | "pcapng" | "txt"))
        .collect();
    if !files.is_empty() {
        let _ = write!(h, "<p class=\"files\">Files: ");
        for p in files {
            let what = match ext(p).as_str() {
                "txt" => "transcript",
                _ => "capture",
            };
            let _ = write!(
                h,
                "<a href=\"{}\">{} ({what})</a>",
                href(p),
                esc(&href_name(p))
            );
        }
        let _ = writeln!(h, "</p>");
    }
    let _ = writeln!(h, "</section>");
}

/// One row of a capture's table, split into its columns.
#[derive(Debug, PartialEq, Eq)]
struct FrameRow<'a> {
    /// No., Time, Source, Destination, Protocol, Length.
    fixed: Vec<&'a str>,
    role: &'a str,
    sent_by: &'a str,
    info: &'a str,
    states: &'a str,
    notes: &'a str,
}

/// Splits a table line as net-trace writes it; `None` for other lines.
/// Columns are found by their words, not their offsets: a long address
/// pushes the later columns right.
fn frame_row(line: &str) -> Option<FrameRow<'_>> {
    let mut rest = line.trim_start();
    let mut fixed = Vec::new();
    for _ in 0..6 {
        let end = rest.find(' ').unwrap_or(rest.len());
        fixed.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    fixed.first()?.parse::<usize>().ok()?;
    let mut role = "";
    let mut sent_by = "";
    for dir in ["client→server", "server→client"] {
        if let Some(after) = rest.strip_prefix(dir) {
            role = dir;
            rest = after.trim_start();
            // `client (pid 42 name)` or just `client`.
            let word = rest.find(' ').unwrap_or(rest.len());
            let end = match rest[word..].trim_start().starts_with('(') {
                true => rest.find(')').map_or(word, |i| i + 1),
                false => word,
            };
            sent_by = &rest[..end];
            rest = rest[end..].trim_start();
        }
    }
    let (rest, notes) = rest.split_once("   ← ").unwrap_or((rest, ""));
    let (info, states) = match rest.split_once("   [client ") {
        Some((info, st)) => (info, st.trim_end_matches(']')),
        None => (rest, ""),
    };
    Some(FrameRow {
        fixed,
        role,
        sent_by,
        info,
        states,
        notes,
    })
}

/// Writes a capture's frames as an HTML table, one row a line; returns
/// the lines that are not frames (the summary).
fn frame_table(h: &mut String, lines: &[String]) -> Vec<String> {
    let rows: Vec<FrameRow<'_>> = lines.iter().filter_map(|l| frame_row(l)).collect();
    if rows.is_empty() {
        return lines.to_vec();
    }
    let _ = writeln!(
        h,
        "<table class=\"frames\">\n<tr><th>No.</th><th>Time</th><th>Source</th><th>Destination</th><th>Proto</th><th>Length</th><th>Role</th><th>Sent by</th><th>Info</th><th>States (client / server)</th><th>What it is</th></tr>"
    );
    for line in lines {
        if line.contains(LEFT_OUT) {
            let _ = writeln!(
                h,
                "<tr class=\"left-out\"><td colspan=\"11\">{}</td></tr>",
                esc(line.trim())
            );
            continue;
        }
        let Some(r) = frame_row(line) else {
            continue;
        };
        let hot = ["handshake", "teardown", "reset"]
            .iter()
            .any(|k| r.notes.contains(k));
        // What tshark's analysis flagged: a segment resent, out of order,
        // an ACK repeated.
        let flagged = r.info.contains("[TCP ") && !hot;
        let class = if hot {
            " class=\"hot\""
        } else if flagged {
            " class=\"flagged\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{class}>");
        for (i, cell) in r.fixed.iter().enumerate() {
            let num = if matches!(i, 0 | 1 | 5) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(h, "<td{num}>{}</td>", esc(cell));
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td class=\"st\">{}</td><td class=\"note\">{}</td></tr>",
            esc(r.role),
            esc(r.sent_by),
            esc(r.info),
            esc(&r.states.replacen("/ server ", "/ ", 1)),
            esc(r.notes)
        );
    }
    let _ = writeln!(h, "</table>");
    lines
        .iter()
        .filter(|l| {
            frame_row(l).is_none() && !l.trim_start().starts_with("No.") && !l.contains(LEFT_OUT)
        })
        .cloned()
        .collect()
}

fn href_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn href_path(p: &Path) -> PathBuf {
    PathBuf::from(href_name(p))
}

// ---------------------------------------------------------------------
// Checking a written report as a reader would need it.

/// Elements that have no end tag.
const VOID: &[&str] = &["meta", "img", "br", "hr", "link", "input", "wbr"];

/// Checks `dir/index.html`: its tags balance, every relative link names
/// a file in `dir`, nothing is fetched from elsewhere, and each capture's
/// diagram has one arrow per frame of its table. Returns what was
/// checked, one line each.
pub fn check_dir(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(INDEX);
    let html = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut done = Vec::new();
    let tags = check_balanced(&html)?;
    done.push(format!(
        "{INDEX}: {tags} elements, every one closed in order"
    ));
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
        let flagged = section.contains("<tr class=\"flagged\">");
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

/// The tags of `html`, in order: (name, is end tag, is self-closed).
/// Comments, the doctype and `<style>` text are skipped.
fn tags(html: &str) -> Result<Vec<(String, bool, bool)>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").context("a comment is not closed")?;
            rest = &after[end + 3..];
            continue;
        }
        let end = rest
            .find('>')
            .context("a `<` starts a tag that never ends (unescaped text?)")?;
        let inner = &rest[1..end];
        rest = &rest[end + 1..];
        if inner.starts_with('!') {
            continue;
        }
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            bail!("`<{inner}>` is not a tag (unescaped `<` in text?)");
        }
        let self_closed = inner.ends_with('/');
        if !closing && name == "style" {
            // Its text is CSS, not markup.
            let stop = rest.find("</style>").context("<style> is not closed")?;
            rest = &rest[stop..];
        }
        out.push((name, closing, self_closed));
    }
    Ok(out)
}

/// Fails unless every element is closed, in order. Returns the count.
fn check_balanced(html: &str) -> Result<usize> {
    let mut open: Vec<String> = Vec::new();
    let mut count = 0;
    for (name, closing, self_closed) in tags(html)? {
        if closing {
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => bail!("</{name}> closes <{top}>"),
                None => bail!("</{name}> closes nothing"),
            }
        } else if !self_closed && !VOID.contains(&name.as_str()) {
            open.push(name);
            count += 1;
        } else {
            count += 1;
        }
    }
    if let Some(top) = open.last() {
        bail!("<{top}> is never closed");
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

/// Text without its tags, each tag a space (table cells stay apart).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match (c, in_tag) {
            ('<', _) => in_tag = true,
            ('>', true) => {
                in_tag = false;
                out.push(' ');
            }
            (c, false) => out.push(c),
            _ => {}
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Frame numbers of a capture table's rows that belong to a connection
/// (their Role column says which way they went).
fn table_frames(table: &str) -> BTreeSet<usize> {
    table
        .lines()
        .filter(|l| l.contains("client→server") || l.contains("server→client"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// What a capture's table says in place of the frames it leaves out, as
/// its diagram left them out.
pub(super) fn left_out_line(n: usize) -> String {
    let frames = if n == 1 { "frame" } else { "frames" };
    format!("… {n} {frames} left out, as in the diagram (the saved capture holds every one) …")
}

/// The words that mark a table's [`left_out_line`].
const LEFT_OUT: &str = "left out, as in the diagram";

/// How many frames a capture table's [`left_out_line`]s stand for.
fn table_left_out(table: &str) -> usize {
    table
        .lines()
        .filter(|l| l.contains(LEFT_OUT))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.parse::<usize>().ok()))
        .sum()
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

/// For each capture pane whose command wrote a diagram: the diagram's
/// arrows are the table's frames, one each (or, for a long connection,
/// the ones drawn plus the ones its elision mark counts).
fn check_diagrams(html: &str, dir: &Path) -> Result<Vec<(String, usize, usize, usize)>> {
    let mut out = Vec::new();
    for pane in html.split("<figure class=\"pane").skip(1) {
        let Some((head, rest)) = pane.split_once("</figcaption>") else {
            continue;
        };
        let head = unescape(head);
        let mut words = head.split_whitespace();
        let Some(svg_path) = words.by_ref().skip_while(|w| *w != "--diagram").nth(1) else {
            continue;
        };
        let name = href_name(Path::new(svg_path));
        let table = unescape(&strip_tags(rest.split("</figure>").next().unwrap_or("")));
        let frames = table_frames(&table);
        let table_elided = table_left_out(&table);
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

    /// A fresh directory under the system's temporary directory.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("netlab-report-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const TABLE: &str = "  No.       Time  Source          Destination     Proto Length  Role           Sent by   Info
    1   0.000000  127.0.0.1       127.0.0.1       TCP       74  client→server  client (pid 7 tcp-uppercase)  52581 → 13000 [SYN] Seq=0 Win=65495 Len=0   ← handshake 1/3 (SYN)
    2   0.000011  127.0.0.1       127.0.0.1       TCP       74  server→client  server (pid 6 tcp-uppercase)  13000 → 52581 [SYN, ACK] Seq=0 Ack=1 Win=65483 Len=0
    3   0.000022  127.0.0.1       127.0.0.1       TCP       66  client→server  client (pid 7 tcp-uppercase)  52581 → 13000 [ACK] Seq=1 Ack=1 Win=65536 Len=0
TCP connection 1: client 127.0.0.1:52581 ↔ server 127.0.0.1:13000";

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
        let mut text = String::from("# run by ana on lab-7 at 2026-11-25 10:00:00 UTC\n");
        text.push_str("== 05-capture: Capture <TCP> & who ==\n");
        text.push_str(&format!(
            "@capture $ net-trace capture --port 13000 --states --diagram {}/05-tcp.svg\n",
            dir.display()
        ));
        for l in TABLE.lines() {
            text.push_str(&format!("  {l}\n"));
        }
        text.push_str("  ✓ the tcp handshake frames are named\n");
        text.push_str("@browser $ chromium --screenshot=x.png http://127.0.0.1:8080/<b>\n");
        text.push_str("  ✗ x.png saved (0 bytes)\n");
        let entry = Entry {
            id: "05-capture".into(),
            title: "Capture <TCP> & who".into(),
            text,
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
            header: "# run by ana on lab-7 at 2026-11-25 10:00:00 UTC\n# network: loopback (127.0.0.1)\n"
                .into(),
        };
        write(&dir, &meta, &[entry]).unwrap();
        dir
    }

    #[test]
    fn transcripts_become_panes_checks_and_notes() {
        let items = parse(
            "# run by a\n== 01: t ==\n@server $ udp-chat server\n  listening\n  (typed) hi\n  ✓ it answered\n  (skipped: no python)\n  ✗ it broke\n",
        );
        assert_eq!(
            items,
            vec![
                Item::Pane {
                    head: "server $ udp-chat server".into(),
                    lines: vec!["listening".into(), "(typed) hi".into()],
                },
                Item::Check {
                    ok: true,
                    what: "it answered".into()
                },
                Item::Note("(skipped: no python)".into()),
                Item::Check {
                    ok: false,
                    what: "it broke".into()
                },
            ]
        );
    }

    #[test]
    fn table_lines_split_into_columns() {
        let line = "    9   0.002026  127.0.0.1       127.0.0.1       TCP       66  server→client  server (pid 27667 tcp-uppercase)   36503 → 46018 [FIN, ACK] Seq=11 Ack=12 Win=65536 Len=0   [client TIME_WAIT / server LAST_ACK]   ← teardown: FIN from the server";
        let r = frame_row(line).unwrap();
        assert_eq!(
            r.fixed,
            ["9", "0.002026", "127.0.0.1", "127.0.0.1", "TCP", "66"]
        );
        assert_eq!(r.role, "server→client");
        assert_eq!(r.sent_by, "server (pid 27667 tcp-uppercase)");
        assert_eq!(
            r.info,
            "36503 → 46018 [FIN, ACK] Seq=11 Ack=12 Win=65536 Len=0"
        );
        assert_eq!(r.states, "TIME_WAIT / server LAST_ACK");
        assert_eq!(r.notes, "teardown: FIN from the server");
        let r = frame_row("   12   1.000000  fe80::1:2:3:4:5  ff02::1  ICMPv6    86                 Neighbor Solicitation").unwrap();
        assert_eq!(
            (r.role, r.sent_by, r.info),
            ("", "", "Neighbor Solicitation")
        );
        assert!(frame_row("  No.  Time  Source").is_none());
        assert!(frame_row("    data: 2 frame(s); 9 bytes client→server").is_none());
    }

    #[test]
    fn conversation_steps_share_one_pane() {
        let items = parse("@client types: hi\n@server prints: hi\n@server $ udp-chat\n  ok\n");
        assert_eq!(
            items,
            vec![
                Item::Pane {
                    head: CONVERSATION.into(),
                    lines: vec!["client types: hi".into(), "server prints: hi".into()],
                },
                Item::Pane {
                    head: "server $ udp-chat".into(),
                    lines: vec!["ok".into()],
                },
            ]
        );
    }

    #[test]
    fn text_is_escaped_and_links_are_relative() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            href(Path::new("/abs/dir/06-hello world.png")),
            "06-hello%20world.png"
        );
        assert_eq!(percent_decode("06-hello%20world.png"), "06-hello world.png");
        let dir = generated("escape", &[1, 2, 3]);
        let html = fs::read_to_string(dir.join(INDEX)).unwrap();
        assert!(html.contains("Ana &lt;Roll 31&gt; &amp; co"), "{html}");
        assert!(html.contains("Capture &lt;TCP&gt; &amp; who"));
        assert!(html.contains("http://127.0.0.1:8080/&lt;b&gt;"));
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

    /// What `net-trace read FIXTURE --states --diagram DIR/NAME --connection
    /// 1` prints for connection 1, and the diagram it writes, made with
    /// net-trace's own code.
    fn traced(fixture: &str, dir: &Path, name: &str) -> String {
        use net_trace::analyze::Analyzer;
        use net_trace::decode::{Decoded, Decoder};
        use net_trace::{diagram, pcapio, render};
        let path = crate::util::root()
            .join("crates/net-trace/tests/fixtures")
            .join(fixture);
        let mut reader = pcapio::FileReader::open(&path).unwrap();
        let (mut decoder, mut analyzer) = (Decoder::new(), Analyzer::new());
        let mut collector = diagram::Collector::new(Some(1));
        let mut table = Vec::new();
        table.extend_from_slice(render::heading().as_bytes());
        table.push(b'\n');
        let mut f = pcapio::Frame::default();
        while reader.read_frame(&mut f).unwrap() {
            let row = match decoder.decode(f.link, &f.data, f.time, f.wire_len) {
                Decoded::Packet(p) => analyzer.push(&p),
                Decoded::Other(o) => analyzer.push_other(&o),
            };
            collector.push(&row, None);
            if row.conn == Some(1) {
                render::write_row(&mut table, &row, None, true).unwrap();
            }
        }
        fs::write(dir.join(name), collector.svg()).unwrap();
        let mut text = format!(
            "@capture $ net-trace read {fixture} --states --diagram {} --connection 1\n",
            dir.join(name).display()
        );
        for line in String::from_utf8(table).unwrap().lines() {
            text.push_str(&format!("  {line}\n"));
        }
        text
    }

    /// A capture's table shown as its diagram draws it: the kept frames,
    /// and one line for each run of the others.
    fn as_drawn(text: &str, svg: &str) -> String {
        let (kept, _) = svg_frames(svg);
        let mut out = String::new();
        let mut left = 0;
        for line in text.lines() {
            let no = frame_row(line.trim_start())
                .and_then(|r| r.fixed.first().and_then(|n| n.parse::<usize>().ok()));
            match no {
                Some(no) if !kept.contains(&no) => left += 1,
                _ => {
                    if left > 0 {
                        out.push_str(&format!("  {}\n", left_out_line(left)));
                        left = 0;
                    }
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if left > 0 {
            out.push_str(&format!("  {}\n", left_out_line(left)));
        }
        out
    }

    #[test]
    fn a_bad_network_s_capture_is_explained_and_its_left_out_frames_counted() {
        let dir = scratch("lossy");
        let name = "07-lossy-tcp.svg";
        let full = traced("tcp-analysis.pcap", &dir, name);
        let svg = fs::read_to_string(dir.join(name)).unwrap();
        let text = as_drawn(&full, &svg);
        assert!(
            text.contains("frames left out, as in the diagram"),
            "{text}"
        );
        let entry = |text: &str| Entry {
            id: "07-tcp-bad-network".into(),
            title: "TCP on a bad network".into(),
            text: text.to_string(),
            artifacts: vec![dir.join(name)],
            failures: Vec::new(),
        };
        write(&dir, &Meta::default(), &[entry(&text)]).unwrap();
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
            html.contains("<div class=\"explain\">") && html.contains("<tr class=\"flagged\">")
        );
        assert!(html.contains("<tr class=\"left-out\"><td colspan=\"11\">… "));
        assert!(
            html.contains("[TCP Fast Retransmission]")
                && html.contains("data-analysis=\"retransmission\"")
        );
        // A left-out line that miscounts is noticed.
        let wrong = text.replacen(" frames left out, as in", "0 frames left out, as in", 1);
        write(&dir, &Meta::default(), &[entry(&wrong)]).unwrap();
        assert!(check_dir(&dir).is_err());
        // So is a page that shows flagged frames without the words for them.
        write(&dir, &Meta::default(), &[entry(&text)]).unwrap();
        let html = fs::read_to_string(dir.join(INDEX)).unwrap();
        fs::write(dir.join(INDEX), html.replace(EXPLAIN_ANALYSIS, "")).unwrap();
        let err = check_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("does not explain them"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn real_diagrams_have_one_arrow_per_frame_of_their_table() {
        let dir = scratch("real");
        let mut text = String::new();
        let mut artifacts = Vec::new();
        for (fixture, name) in [
            ("http-full.pcap", "05-http.svg"),
            ("icmp-unreachable.pcap", "05-udp.svg"),
            ("big-loopback.pcap", "05-tcp.svg"),
        ] {
            text.push_str(&traced(fixture, &dir, name));
            artifacts.push(dir.join(name));
        }
        let entry = Entry {
            id: "05-capture".into(),
            title: "Capture".into(),
            text,
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
            "05-tcp.svg: the 54 frames of its table, 24 drawn, the other 30 counted",
        ] {
            assert!(done.iter().any(|d| d.contains(want)), "{want}: {done:?}");
        }
        assert!(html.contains("… 30 "), "the long connection is elided");
        assert!(html.contains("ICMP Destination unreachable (Port unreachable)"));
        assert!(html.contains("<td class=\"st\">SYN_SENT / SYN_RECEIVED</td>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        // A drawn frame removed from the diagram is noticed.
        let svg = fs::read_to_string(dir.join("05-http.svg")).unwrap();
        let cut = svg.replacen("<g class=\"arrow\" data-frame=\"5\">", "<g>", 1);
        fs::write(dir.join("05-http.svg"), cut).unwrap();
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

    #[test]
    fn unbalanced_markup_fails() {
        assert_eq!(
            check_balanced("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>a>b{}</style></head><body><img src=\"a\"><svg><line/></svg><!-- <p> --></body></html>")
                .unwrap(),
            8
        );
        for (html, why) in [
            ("<div><p></div>", "closes <p>"),
            ("<div>", "never closed"),
            ("</p>", "closes nothing"),
            ("<pre>a < b</pre>", "not a tag"),
            ("<pre>a <b</pre>", "never closed"),
        ] {
            let err = check_balanced(html).unwrap_err().to_string();
            assert!(err.contains(why), "{html}: {err}");
        }
    }
}
