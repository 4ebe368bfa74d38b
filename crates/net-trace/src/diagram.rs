//! Ladder diagrams: one SVG picture per connection, as textbooks draw a
//! TCP exchange — the client's lifeline on the left, the server's on the
//! right, one slanted arrow per frame, each side's TCP state beside it.
//!
//! The SVG is plain and self-contained (no scripts, fonts or links), its
//! labels real text a reader can select and search, sized for a report
//! page. Long connections keep their first and last frames and elide the
//! middle ("… 240 data frames …"), so a diagram stays one page.

use std::fmt::Write as _;
use std::time::Duration;

/// Arrows kept at each end of a long connection; the middle is elided.
pub const KEEP_EACH_END: usize = 12;

/// Width of the drawing, in SVG user units (pixels at 100 %).
const WIDTH: u32 = 860;
/// x of the client's and the server's lifelines.
const LEFT: u32 = 250;
const RIGHT: u32 = 610;
/// Vertical room per arrow, and the drop of each arrow (its slant: the
/// frame arrives later than it left).
const STEP: u32 = 46;
const SLANT: u32 = 18;
/// Room above the first arrow for the two lifelines' headings.
const TOP: u32 = 96;

/// One end of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifeline {
    /// `client` or `server`.
    pub role: String,
    /// Address and port.
    pub addr: String,
    /// The process, when proven (`pid 4242 tcp-uppercase`), else `None`.
    pub process: Option<String>,
}

/// One frame of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Arrow {
    /// Frame number.
    pub no: usize,
    /// Time since the first frame of the capture.
    pub time: Duration,
    /// Sent by the client (left to right).
    pub from_client: bool,
    /// Flags and numbers: `[SYN] Seq=0 Len=0`.
    pub label: String,
    /// The first bytes of a data frame, or what an ICMP message says.
    pub detail: Option<String>,
    /// Part of the handshake or teardown: drawn highlighted, named so.
    pub highlight: Option<String>,
    /// Each side's state after this frame (client, server).
    pub states: Option<(String, String)>,
}

/// One connection's diagram.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ladder {
    /// Heading: `TCP connection 1` or `UDP flow 2`.
    pub title: String,
    /// The left lifeline.
    pub client: Lifeline,
    /// The right lifeline.
    pub server: Lifeline,
    /// Frames in order (at most [`KEEP_EACH_END`] at each end are kept by
    /// [`Ladder::push`]).
    pub arrows: Vec<Arrow>,
    /// Frames left out of the middle.
    pub elided: usize,
    /// Data frames among those left out.
    pub elided_data: usize,
    /// The most recent frames, before they are known to be the last.
    tail: std::collections::VecDeque<Arrow>,
}

impl Ladder {
    /// An empty diagram between two lifelines.
    pub fn new(title: impl Into<String>, client: Lifeline, server: Lifeline) -> Ladder {
        Ladder {
            title: title.into(),
            client,
            server,
            ..Ladder::default()
        }
    }

    /// Adds the next frame, keeping memory bounded: the first
    /// [`KEEP_EACH_END`] frames, every highlighted one while the head is
    /// still short, and the last [`KEEP_EACH_END`].
    pub fn push(&mut self, arrow: Arrow) {
        if self.arrows.len() < KEEP_EACH_END && self.elided == 0 && self.tail.is_empty() {
            self.arrows.push(arrow);
            return;
        }
        self.tail.push_back(arrow);
        if self.tail.len() > KEEP_EACH_END
            && let Some(old) = self.tail.pop_front()
        {
            self.elided += 1;
            if old.detail.is_some() {
                self.elided_data += 1;
            }
        }
    }

    /// The frames drawn: the head, an elision mark's position, the tail.
    fn drawn(&self) -> (Vec<&Arrow>, Option<usize>) {
        let mut out: Vec<&Arrow> = self.arrows.iter().collect();
        let mark = (self.elided > 0).then_some(out.len());
        out.extend(self.tail.iter());
        (out, mark)
    }
}

/// Connections drawn when no `--connection` is picked: a diagram is for
/// reading, and a capture under load has thousands.
pub const MAX_LADDERS: usize = 20;

/// Builds ladders from table rows as they come.
#[derive(Debug, Default)]
pub struct Collector {
    only: Option<usize>,
    ladders: std::collections::BTreeMap<usize, Ladder>,
}

impl Collector {
    /// Draws connection `only`, or the first [`MAX_LADDERS`].
    pub fn new(only: Option<usize>) -> Collector {
        Collector {
            only,
            ladders: std::collections::BTreeMap::new(),
        }
    }

    /// Adds a row and, when proven, the process that sent it.
    pub fn push(&mut self, row: &crate::analyze::Row, sender: Option<&crate::owners::Owner>) {
        use crate::analyze::Direction;
        let (Some(conn), Some(dir), Some((src, dst))) = (row.conn, row.direction, row.ip_ends())
        else {
            return;
        };
        if self.only.is_some_and(|k| k != conn) {
            return;
        }
        if !self.ladders.contains_key(&conn) && self.ladders.len() >= MAX_LADDERS {
            return;
        }
        let from_client = dir == Direction::ClientToServer;
        let ladder = self.ladders.entry(conn).or_insert_with(|| {
            let (client, server) = if from_client { (src, dst) } else { (dst, src) };
            let kind = if row.protocol == "TCP" {
                "TCP connection"
            } else {
                "UDP flow"
            };
            Ladder::new(
                format!("{kind} {conn}"),
                Lifeline {
                    role: "client".into(),
                    addr: client.to_string(),
                    process: None,
                },
                Lifeline {
                    role: "server".into(),
                    addr: server.to_string(),
                    process: None,
                },
            )
        });
        if let Some(o) = sender {
            let line = if from_client {
                &mut ladder.client
            } else {
                &mut ladder.server
            };
            if line.process.is_none() && row.protocol != "ICMP" && row.protocol != "ICMPv6" {
                line.process = Some(o.to_string());
            }
        }
        // The Info column without its leading ports: `[SYN] Seq=0 …`.
        let label = match row.info.find(['[', 'L']) {
            Some(at) if row.protocol == "TCP" || row.protocol == "UDP" => &row.info[at..],
            _ => row.info.as_str(),
        };
        let highlight = row
            .notes
            .iter()
            .find(|n| {
                n.starts_with("handshake") || n.starts_with("teardown") || n.starts_with("reset")
            })
            .cloned();
        let detail = row
            .notes
            .iter()
            .find_map(|n| {
                n.strip_prefix("data ")
                    .or_else(|| n.strip_prefix("datagram "))
                    .or_else(|| n.strip_prefix("answers "))
            })
            .map(str::to_string);
        let label = if row.protocol == "TCP" || row.protocol == "UDP" {
            label.to_string()
        } else {
            format!("{}: {label}", row.protocol)
        };
        ladder.push(Arrow {
            no: row.no,
            time: row.time,
            from_client,
            label,
            detail,
            highlight,
            states: row
                .states
                .map(|[c, s]| (c.name().to_string(), s.name().to_string())),
        });
    }

    /// Whether nothing was drawn.
    pub fn is_empty(&self) -> bool {
        self.ladders.is_empty()
    }

    /// The SVG of every ladder collected.
    pub fn svg(&self) -> String {
        let ladders: Vec<Ladder> = self.ladders.values().cloned().collect();
        svg(&ladders)
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() => out.push('·'),
            c => out.push(c),
        }
    }
    out
}

/// Draws one or more connections, one below the other, as one SVG
/// document.
pub fn svg(ladders: &[Ladder]) -> String {
    let mut body = String::new();
    let mut y0 = 20;
    for l in ladders {
        y0 = draw(&mut body, l, y0) + 40;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y0}" viewBox="0 0 {WIDTH} {y0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    out.push_str(concat!(
        "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">",
        "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker>",
        "<marker id=\"hot\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">",
        "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c0392b\"/></marker></defs>\n",
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    ));
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Draws one ladder from `y0`; returns the y below it.
fn draw(out: &mut String, l: &Ladder, y0: u32) -> u32 {
    let (arrows, mark) = l.drawn();
    let rows = arrows.len() as u32 + u32::from(mark.is_some());
    let bottom = y0 + TOP + rows * STEP + 10;
    let _ = writeln!(
        out,
        r#"<g><text x="{}" y="{}" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2,
        y0 + 4,
        esc(&l.title)
    );
    for (x, line) in [(LEFT, &l.client), (RIGHT, &l.server)] {
        let who = line.process.as_deref().unwrap_or("process unknown");
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold">{}</text><text x="{x}" y="{}" text-anchor="middle">{}</text><text x="{x}" y="{}" text-anchor="middle" fill="#555">{}</text><line x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="#333" stroke-width="2"/>"##,
            y0 + 28,
            esc(&line.role),
            y0 + 44,
            esc(&line.addr),
            y0 + 60,
            esc(who),
            y0 + 70,
        );
    }
    let mut y = y0 + TOP;
    for (i, a) in arrows.iter().enumerate() {
        if mark == Some(i) {
            let what = if l.elided_data > 0 {
                format!("… {} frames ({} with data) …", l.elided, l.elided_data)
            } else {
                format!("… {} frames …", l.elided)
            };
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#555" font-style="italic">{}</text>"##,
                WIDTH / 2,
                y + 4,
                esc(&what)
            );
            y += STEP;
        }
        arrow(out, a, y);
        y += STEP;
    }
    let _ = writeln!(out, "</g>");
    bottom
}

fn arrow(out: &mut String, a: &Arrow, y: u32) {
    let (x1, x2) = if a.from_client {
        (LEFT, RIGHT)
    } else {
        (RIGHT, LEFT)
    };
    let hot = a.highlight.is_some();
    let (color, marker, width) = if hot {
        ("#c0392b", "hot", 2)
    } else {
        ("#333", "head", 1)
    };
    let _ = writeln!(
        out,
        r#"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{}" stroke="{color}" stroke-width="{width}" marker-end="url(#{marker})"/>"#,
        y + SLANT
    );
    // Label above the arrow's middle, the data or note under it.
    let mid = (LEFT + RIGHT) / 2;
    let weight = if hot { " font-weight=\"bold\"" } else { "" };
    let _ = writeln!(
        out,
        r#"<text x="{mid}" y="{}" text-anchor="middle" fill="{color}"{weight}>{}</text>"#,
        y + SLANT / 2 - 4,
        esc(&a.label)
    );
    let mut under = Vec::new();
    if let Some(h) = &a.highlight {
        under.push(h.clone());
    }
    if let Some(d) = &a.detail {
        under.push(d.clone());
    }
    if !under.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{mid}" y="{}" text-anchor="middle" font-size="11" fill="#555">{}</text>"##,
            y + SLANT / 2 + 14,
            esc(&under.join(" · "))
        );
    }
    // Frame number and time on the sender's side, states outside each
    // lifeline.
    let (nx, anchor) = if a.from_client {
        (LEFT - 8, "end")
    } else {
        (RIGHT + 8, "start")
    };
    let _ = writeln!(
        out,
        r##"<text x="{nx}" y="{}" text-anchor="{anchor}" font-size="11" fill="#555">#{} {:.6}</text>"##,
        y + 4,
        a.no,
        a.time.as_secs_f64()
    );
    if let Some((c, s)) = &a.states {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#1f5fa8">{}</text><text x="{}" y="{}" text-anchor="start" font-size="11" fill="#1f5fa8">{}</text>"##,
            LEFT - 8,
            y + SLANT + 6,
            esc(c),
            RIGHT + 8,
            y + SLANT + 6,
            esc(s)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(no: usize, from_client: bool, label: &str) -> Arrow {
        Arrow {
            no,
            time: Duration::from_micros(no as u64 * 10),
            from_client,
            label: label.into(),
            ..Arrow::default()
        }
    }

    fn ladder() -> Ladder {
        Ladder::new(
            "TCP connection 1",
            Lifeline {
                role: "client".into(),
                addr: "127.0.0.1:52581".into(),
                process: Some("pid 42 tcp-uppercase".into()),
            },
            Lifeline {
                role: "server".into(),
                addr: "127.0.0.1:13000".into(),
                process: None,
            },
        )
    }

    #[test]
    fn handshake_is_drawn_as_text_with_states() {
        let mut l = ladder();
        let mut syn = a(1, true, "[SYN] Seq=0 Len=0");
        syn.highlight = Some("handshake 1/3".into());
        syn.states = Some(("SYN_SENT".into(), "LISTEN".into()));
        l.push(syn);
        let mut data = a(4, true, "[PSH, ACK] Seq=1 Ack=1 Len=10");
        data.detail = Some("\"tanmayi <31>\"".into());
        l.push(data);
        l.push(a(2, false, "[SYN, ACK] Seq=0 Ack=1 Len=0"));
        let svg = svg(&[l]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">[SYN] Seq=0 Len=0</text>"));
        assert!(svg.contains(">SYN_SENT</text>") && svg.contains(">LISTEN</text>"));
        assert!(svg.contains("pid 42 tcp-uppercase") && svg.contains("process unknown"));
        // Data is escaped, not markup.
        assert!(svg.contains("&quot;tanmayi &lt;31&gt;&quot;"));
        assert!(!svg.contains("href") && !svg.contains("<script"));
        // One arrow per frame, the highlighted one in the highlight colour.
        assert_eq!(svg.matches("<line x1=\"250\" y1=").count(), 1 + 2);
        assert!(svg.contains("marker-end=\"url(#hot)\""));
    }

    #[test]
    fn long_connections_elide_their_middle() {
        let mut l = ladder();
        for no in 1..=300 {
            let mut f = a(no, no % 2 == 1, "[ACK]");
            if no > 3 {
                f.detail = Some("data".into());
            }
            l.push(f);
        }
        assert_eq!(l.arrows.len(), KEEP_EACH_END);
        assert_eq!(l.elided, 300 - 2 * KEEP_EACH_END);
        let svg = svg(&[l]);
        assert!(svg.contains(&format!("… {} frames ({} with data) …", 276, 276)));
        assert!(svg.contains(">#300 "), "the last frame is kept");
        assert!(svg.contains(">#1 "), "the first frame is kept");
        assert!(!svg.contains(">#100 "));
    }
}
