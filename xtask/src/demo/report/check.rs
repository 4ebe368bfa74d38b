//! Checking a written report as a reader would need it: its links, its
//! explanations, and each capture's diagram against its table.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{INDEX, attr_values, href, svg_frames};

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

/// Fails on a link to another site or to a file not in `dir`. Returns
/// the number of relative links.
pub(super) fn check_links(html: &str, dir: &Path) -> Result<usize> {
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

pub(super) fn percent_decode(s: &str) -> String {
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
