//! Ladder diagrams: one SVG picture per connection, as textbooks draw a
//! TCP exchange — the client's lifeline on the left, the server's on the
//! right, one slanted arrow per frame, each side's TCP state beside it.
//!
//! The SVG is plain and self-contained (no scripts, fonts or links), its
//! labels real text a reader can select and search, sized for a report
//! page. Long connections keep their first and last frames and elide the
//! middle ("… 240 data frames …"), so a diagram stays one page; what
//! tshark's analysis flags in the middle (retransmissions, duplicate ACKs,
//! out-of-order segments) is kept, each drawn in its own style.

use std::fmt::Write as _;

use crate::analyze::RelTime;

/// Arrows kept at each end of a long connection; the middle is elided.
pub(crate) const KEEP_EACH_END: usize = 12;

/// Flagged arrows of each kind (retransmissions, duplicate ACKs,
/// out-of-order segments) kept from the elided middle: they are what a
/// lossy connection's diagram is read for, each kind has its share (a
/// burst of duplicate ACKs does not crowd out the retransmission they ask
/// for), and the page stays bounded.
pub(crate) const FLAGGED_KEPT: usize = 12;

/// Width of the drawing, in SVG user units (pixels at 100 %).
const WIDTH: u32 = 860;
/// x of the client's and the server's lifelines.
const LEFT: u32 = 220;
const RIGHT: u32 = 640;
/// Characters of the note under an arrow; longer ones end in `…`.
const NOTE_CHARS: usize = 72;
/// Vertical room per arrow, and the drop of each arrow (its slant: the
/// frame arrives later than it left).
const STEP: u32 = 46;
const SLANT: u32 = 18;
/// Room above the first arrow for the two lifelines' headings.
const TOP: u32 = 96;

/// One end of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Lifeline {
    /// `client` or `server`.
    pub(crate) role: String,
    /// Address and port.
    pub(crate) addr: String,
    /// The process, when proven (`pid 4242 tcp-uppercase`), else `None`.
    pub(crate) process: Option<String>,
}

/// One frame of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Arrow {
    /// Frame number.
    pub(crate) no: usize,
    /// Time since the first frame of the capture.
    pub(crate) time: RelTime,
    /// Sent by the client (left to right).
    pub(crate) from_client: bool,
    /// Flags and numbers: `[SYN] Seq=0 Len=0`.
    pub(crate) label: String,
    /// The first bytes of a data frame, or what an ICMP message says.
    pub(crate) detail: Option<String>,
    /// Part of the handshake or teardown: drawn highlighted, named so.
    pub(crate) highlight: Option<String>,
    /// What tshark's analysis flagged, drawn in its own style.
    pub(crate) mark: Option<Mark>,
    /// tshark's tags, as words under the arrow: `TCP Dup ACK 6#1`.
    pub(crate) tags: Option<String>,
    /// Each side's state after this frame (client, server).
    pub(crate) states: Option<(String, String)>,
}

/// What tshark's analysis says of a frame, as a diagram draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Sent again (plain, fast or spurious retransmission).
    Retransmission,
    /// A duplicate ACK.
    DupAck,
    /// Overtaken by a later segment.
    OutOfOrder,
}

impl Mark {
    /// The name in the SVG (`data-analysis`) and in the legend.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mark::Retransmission => "retransmission",
            Mark::DupAck => "duplicate ACK",
            Mark::OutOfOrder => "out of order",
        }
    }

    /// Colour and dash pattern of the arrow.
    fn style(self) -> (&'static str, &'static str) {
        match self {
            Mark::Retransmission => ("#8e44ad", " stroke-dasharray=\"9 3\""),
            Mark::DupAck => ("#b9770e", " stroke-dasharray=\"2 3\""),
            Mark::OutOfOrder => ("#16a085", ""),
        }
    }

    /// What tshark's findings make of a frame, the most telling first.
    pub(crate) fn of(f: &crate::analyze::Findings) -> Option<Mark> {
        if f.sent_before() {
            Some(Mark::Retransmission)
        } else if f.out_of_order || f.overtaken {
            Some(Mark::OutOfOrder)
        } else if f.dup_ack.is_some() {
            Some(Mark::DupAck)
        } else {
            None
        }
    }
}

/// A stretch of the middle of a long connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Middle {
    /// A flagged frame, kept.
    Arrow(Arrow),
    /// Frames left out, and how many of them carried data.
    Gap(usize, usize),
}

/// What is drawn, top to bottom.
enum Drawn<'a> {
    Arrow(&'a Arrow),
    Gap(usize, usize),
}

/// One connection's diagram.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ladder {
    /// Heading: `TCP connection 1` or `UDP flow 2`.
    pub(crate) title: String,
    /// The left lifeline.
    pub(crate) client: Lifeline,
    /// The right lifeline.
    pub(crate) server: Lifeline,
    /// Frames in order (at most [`KEEP_EACH_END`] at each end are kept by
    /// [`Ladder::push`]).
    pub(crate) arrows: Vec<Arrow>,
    /// Frames left out of the middle.
    pub(crate) elided: usize,
    /// Data frames among those left out.
    pub(crate) elided_data: usize,
    /// The middle: flagged frames kept (at most [`FLAGGED_KEPT`] of each
    /// kind) and the gaps between them.
    middle: Vec<Middle>,
    /// The most recent frames, before they are known to be the last.
    tail: std::collections::VecDeque<Arrow>,
}

impl Ladder {
    /// An empty diagram between two lifelines.
    pub(crate) fn new(title: impl Into<String>, client: Lifeline, server: Lifeline) -> Ladder {
        Ladder {
            title: title.into(),
            client,
            server,
            ..Ladder::default()
        }
    }

    /// Adds the next frame, keeping memory bounded: the first
    /// [`KEEP_EACH_END`] frames, the last [`KEEP_EACH_END`], and between
    /// them the first [`FLAGGED_KEPT`] flagged ones of each kind.
    pub(crate) fn push(&mut self, arrow: Arrow) {
        if self.arrows.len() < KEEP_EACH_END && self.middle.is_empty() && self.tail.is_empty() {
            self.arrows.push(arrow);
            return;
        }
        self.tail.push_back(arrow);
        if self.tail.len() > KEEP_EACH_END
            && let Some(old) = self.tail.pop_front()
        {
            let kept = |mark| {
                self.middle
                    .iter()
                    .filter(|m| matches!(m, Middle::Arrow(a) if a.mark == Some(mark)))
                    .count()
            };
            if old.mark.is_some_and(|m| kept(m) < FLAGGED_KEPT) {
                self.middle.push(Middle::Arrow(old));
                return;
            }
            self.elided += 1;
            let data = usize::from(old.detail.is_some());
            self.elided_data += data;
            match self.middle.last_mut() {
                Some(Middle::Gap(frames, with_data)) => {
                    *frames += 1;
                    *with_data += data;
                }
                _ => self.middle.push(Middle::Gap(1, data)),
            }
        }
    }

    /// What is drawn: the head, the middle's kept frames and gaps, the
    /// tail.
    fn drawn(&self) -> Vec<Drawn<'_>> {
        let mut out: Vec<Drawn<'_>> = self.arrows.iter().map(Drawn::Arrow).collect();
        out.extend(self.middle.iter().map(|m| match m {
            Middle::Arrow(a) => Drawn::Arrow(a),
            Middle::Gap(frames, data) => Drawn::Gap(*frames, *data),
        }));
        out.extend(self.tail.iter().map(Drawn::Arrow));
        out
    }
}

/// Connections drawn when no `--connection` is picked: a diagram is for
/// reading, and a capture under load has thousands.
pub(crate) const MAX_LADDERS: usize = 20;

/// Builds ladders from table rows as they come.
#[derive(Debug, Default)]
pub struct Collector {
    only: Option<usize>,
    ladders: std::collections::BTreeMap<usize, Ladder>,
}

impl Collector {
    /// Draws connection `only`, or the first `MAX_LADDERS`.
    pub fn new(only: Option<usize>) -> Collector {
        Collector {
            only,
            ladders: std::collections::BTreeMap::new(),
        }
    }

    /// Adds a row and, when proven, the process that sent it.
    pub fn push(&mut self, row: &crate::analyze::Row, sender: Option<&crate::owners::Owner>) {
        use crate::analyze::{Direction, Kind};
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
            let kind = if row.kind == Kind::Tcp {
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
            let named = o.to_string();
            if row.kind == Kind::Icmp {
                // An ICMP error is the host's, not a process's.
            } else if line.process.is_none() {
                line.process = Some(named);
            } else if line.process.as_deref() != Some(named.as_str()) {
                // One port, several programs in turn (UDP): none is the
                // lifeline's.
                line.process = Some("several processes".into());
            }
        }
        // tshark's tags lead the Info column: they go under the arrow.
        let mut info = row.info.as_str();
        let mut tags = Vec::new();
        while let Some(rest) = info.strip_prefix('[')
            && rest.starts_with("TCP ")
            && let Some(end) = rest.find("] ")
        {
            tags.push(&rest[..end]);
            info = &rest[end + 2..];
        }
        // The Info column without its leading ports: `[SYN] Seq=0 …`.
        let label = match info.find(['[', 'L']) {
            Some(at) if matches!(row.kind, Kind::Tcp | Kind::Udp) => &info[at..],
            _ => info,
        };
        // A frame can be two steps at once (the ACK of one FIN carrying the
        // other FIN): name them all.
        let steps: Vec<&str> = row
            .notes
            .iter()
            .map(String::as_str)
            .filter(|n| {
                n.starts_with("handshake") || n.starts_with("teardown") || n.starts_with("reset")
            })
            .collect();
        let highlight = (!steps.is_empty()).then(|| {
            let mut joined = String::new();
            for (i, step) in steps.iter().enumerate() {
                if i > 0 {
                    joined.push_str("; ");
                    // `teardown: A; teardown: B` reads as `teardown: A; B`.
                    if let (Some(kind), Some(rest)) =
                        (steps[0].split(':').next(), step.split_once(": "))
                        && step.starts_with(kind)
                    {
                        joined.push_str(rest.1);
                        continue;
                    }
                }
                joined.push_str(step);
            }
            joined
        });
        let detail = row
            .notes
            .iter()
            .find_map(|n| {
                n.strip_prefix("data ")
                    .or_else(|| n.strip_prefix("datagram "))
                    .or_else(|| n.starts_with("answers ").then_some(n.as_str()))
            })
            .map(str::to_string);
        let label = if row.kind == Kind::Tcp {
            label.to_string()
        } else {
            format!("{} {label}", row.protocol)
        };
        ladder.push(Arrow {
            no: row.no,
            time: row.time,
            from_client,
            label,
            detail,
            highlight,
            mark: Mark::of(&row.analysis),
            tags: (!tags.is_empty()).then(|| tags.join(" · ")),
            states: row
                .states
                .map(|[c, s]| (c.name().to_string(), s.name().to_string())),
        });
    }

    /// Whether nothing was drawn.
    pub(crate) fn is_empty(&self) -> bool {
        self.ladders.is_empty()
    }

    /// The SVG of every ladder collected.
    pub fn svg(&self) -> String {
        let ladders: Vec<Ladder> = self.ladders.values().cloned().collect();
        svg(&ladders)
    }
}

fn esc(s: &str) -> String {
    net_core::text::escape_markup(s)
}

/// Draws one or more connections, one below the other, as one SVG
/// document.
///
/// Every frame is one `<g class="arrow" data-frame="N">` group, so a
/// reader (or a test) can count the frames drawn. The document defines no
/// ids, so several diagrams can be inlined in one HTML page.
pub(crate) fn svg(ladders: &[Ladder]) -> String {
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
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// What an elision mark says: `… 240 data frames …` when every frame
/// left out carried data.
fn elision_text(frames: usize, data: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if data == frames {
        format!("… {frames} data frame{} …", plural(frames))
    } else if data > 0 {
        format!("… {frames} frame{}, {data} with data …", plural(frames))
    } else {
        format!("… {frames} frame{} …", plural(frames))
    }
}

/// Draws one ladder from `y0`; returns the y below it.
fn draw(out: &mut String, l: &Ladder, y0: u32) -> u32 {
    let items = l.drawn();
    let marks: Vec<Mark> = [Mark::Retransmission, Mark::DupAck, Mark::OutOfOrder]
        .into_iter()
        .filter(|m| {
            items
                .iter()
                .any(|i| matches!(i, Drawn::Arrow(a) if a.mark == Some(*m)))
        })
        .collect();
    let top = y0 + 70;
    let last = y0 + TOP + items.len() as u32 * STEP + 10;
    // Where the lifelines are dashed: across each gap.
    let gaps: Vec<(u32, u32)> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Drawn::Gap(..)))
        .map(|(n, _)| {
            let y = y0 + TOP + n as u32 * STEP;
            (y - 12, y + STEP - 16)
        })
        .collect();
    let _ = writeln!(
        out,
        r#"<g class="ladder"><text x="{}" y="{}" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2,
        y0 + 4,
        esc(&l.title)
    );
    for (x, line) in [(LEFT, &l.client), (RIGHT, &l.server)] {
        let who = line.process.as_deref().unwrap_or("process unknown");
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold">{}</text><text x="{x}" y="{}" text-anchor="middle">{}</text><text x="{x}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            y0 + 28,
            esc(&line.role),
            y0 + 44,
            esc(&line.addr),
            y0 + 60,
            esc(who),
        );
        let mut from = top;
        for &(a, b) in &gaps {
            let _ = writeln!(
                out,
                r##"<line x1="{x}" y1="{from}" x2="{x}" y2="{a}" stroke="#333" stroke-width="2"/><line x1="{x}" y1="{a}" x2="{x}" y2="{b}" stroke="#333" stroke-width="2" stroke-dasharray="4 4"/>"##
            );
            from = b;
        }
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{from}" x2="{x}" y2="{last}" stroke="#333" stroke-width="2"/>"##
        );
    }
    let mut y = y0 + TOP;
    for item in &items {
        match item {
            Drawn::Gap(frames, data) => {
                let _ = writeln!(
                    out,
                    r##"<text class="elided" x="{}" y="{}" text-anchor="middle" fill="#555" font-style="italic">{}</text>"##,
                    WIDTH / 2,
                    y + 10,
                    esc(&elision_text(*frames, *data))
                );
            }
            Drawn::Arrow(a) => arrow(out, a, y),
        }
        y += STEP;
    }
    let mut bottom = last;
    if !marks.is_empty() {
        // A legend for the styles used.
        let mut x = LEFT;
        bottom += 24;
        let _ = write!(out, r#"<g class="legend">"#);
        for m in marks {
            let (color, dash) = m.style();
            let _ = write!(
                out,
                r#"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}" fill="{color}">{}</text>"#,
                bottom - 4,
                x + 30,
                bottom - 4,
                x + 36,
                bottom,
                m.name()
            );
            x += 150;
        }
        let _ = writeln!(out, "</g>");
    }
    let _ = writeln!(out, "</g>");
    bottom
}

/// The label without the window (`Win=65495`): flags, Seq, Ack and Len
/// are what a ladder is read for, and the line must fit between the
/// lifelines.
fn short_label(label: &str) -> String {
    label
        .split(' ')
        .filter(|w| !w.starts_with("Win="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` cut to `max` characters, the cut marked with `…`.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn arrow(out: &mut String, a: &Arrow, y: u32) {
    let (x1, x2) = if a.from_client {
        (LEFT, RIGHT)
    } else {
        (RIGHT, LEFT)
    };
    let (y1, y2) = (y, y + SLANT);
    let icmp = a.label.starts_with("ICMP");
    let hot = a.highlight.is_some();
    let (color, width, dash) = if let Some(m) = a.mark {
        let (color, dash) = m.style();
        (color, 2, dash)
    } else if hot {
        ("#c0392b", 2, "")
    } else if icmp {
        ("#d35400", 2, " stroke-dasharray=\"6 4\"")
    } else {
        ("#333", 1, "")
    };
    match a.mark {
        Some(m) => {
            let _ = writeln!(
                out,
                r#"<g class="arrow" data-frame="{}" data-analysis="{}">"#,
                a.no,
                m.name()
            );
        }
        None => {
            let _ = writeln!(out, r#"<g class="arrow" data-frame="{}">"#, a.no);
        }
    }
    // The head is a triangle rather than a marker: markers need ids, and
    // ids clash when several diagrams share one page.
    let (dx, dy) = (f64::from(x2) - f64::from(x1), f64::from(y2) - f64::from(y1));
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (f64::from(x2) - 10.0 * ux, f64::from(y2) - 10.0 * uy);
    let _ = writeln!(
        out,
        r#"<line x1="{x1}" y1="{y1}" x2="{bx:.1}" y2="{by:.1}" stroke="{color}" stroke-width="{width}"{dash}/><polygon points="{x2},{y2} {:.1},{:.1} {:.1},{:.1}" fill="{color}"/>"#,
        bx - 4.0 * uy,
        by + 4.0 * ux,
        bx + 4.0 * uy,
        by - 4.0 * ux,
    );
    // Label along the arrow, above it; the data or note under it. Text
    // runs left to right whichever way the frame went.
    let mid = (LEFT + RIGHT) / 2;
    let ym = (y1 + y2) / 2;
    let angle = if a.from_client { dy } else { -dy }
        .atan2(dx.abs())
        .to_degrees();
    let weight = if hot { " font-weight=\"bold\"" } else { "" };
    let _ = writeln!(
        out,
        r#"<text x="{mid}" y="{}" transform="rotate({angle:.2} {mid} {ym})" text-anchor="middle" fill="{color}"{weight}>{}</text>"#,
        ym - 5,
        esc(&short_label(&a.label))
    );
    let mut under = Vec::new();
    if let Some(t) = &a.tags {
        under.push(t.clone());
    }
    if let Some(h) = &a.highlight {
        under.push(h.clone());
    }
    if let Some(d) = &a.detail {
        under.push(d.clone());
    }
    if !under.is_empty() {
        // Words under a flagged arrow take its colour.
        let ucolor = if a.mark.is_some() { color } else { "#555" };
        let _ = writeln!(
            out,
            r##"<text x="{mid}" y="{}" transform="rotate({angle:.2} {mid} {ym})" text-anchor="middle" font-size="11" fill="{ucolor}">{}</text>"##,
            ym + 14,
            esc(&clip(&under.join(" · "), NOTE_CHARS))
        );
    }
    // Frame number and time on the sender's side, states outside each
    // lifeline where the frame arrives.
    let (nx, anchor) = if a.from_client {
        (LEFT - 8, "end")
    } else {
        (RIGHT + 8, "start")
    };
    let (ncolor, nweight) = if hot {
        ("#c0392b", " font-weight=\"bold\"")
    } else {
        ("#555", "")
    };
    let _ = writeln!(
        out,
        r##"<text x="{nx}" y="{}" text-anchor="{anchor}" font-size="11" fill="{ncolor}"><tspan{nweight}>#{}</tspan> {:.6}</text>"##,
        y1 + 4,
        a.no,
        a.time.as_secs_f64()
    );
    if let Some((c, s)) = &a.states {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#1f5fa8">{}</text><text x="{}" y="{}" text-anchor="start" font-size="11" fill="#1f5fa8">{}</text>"##,
            LEFT - 8,
            y2 + 6,
            esc(c),
            RIGHT + 8,
            y2 + 6,
            esc(s)
        );
    }
    let _ = writeln!(out, "</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn a(no: usize, from_client: bool, label: &str) -> Arrow {
        Arrow {
            no,
            time: Duration::from_micros(no as u64 * 10).into(),
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
        let mut data = a(4, true, "[PSH, ACK] Seq=1 Ack=1 Win=512 Len=10");
        data.detail = Some("\"tanmayi <31>\"".into());
        l.push(data);
        l.push(a(2, false, "[SYN, ACK] Seq=0 Ack=1 Len=0"));
        let svg = svg(&[l]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">[SYN] Seq=0 Len=0</text>"), "{svg}");
        assert!(svg.contains(">handshake 1/3</text>"));
        // The window is left out of the label.
        assert!(svg.contains(">[PSH, ACK] Seq=1 Ack=1 Len=10</text>"));
        assert!(svg.contains(">SYN_SENT</text>") && svg.contains(">LISTEN</text>"));
        assert!(svg.contains("pid 42 tcp-uppercase") && svg.contains("process unknown"));
        // Data is escaped, not markup.
        assert!(svg.contains("&quot;tanmayi &lt;31&gt;&quot;"));
        assert!(!svg.contains("href") && !svg.contains("<script") && !svg.contains(" id="));
        // One arrow per frame, the highlighted one in the highlight colour
        // and its number bold.
        assert_eq!(svg.matches("<g class=\"arrow\"").count(), 3);
        for no in [1, 2, 4] {
            assert!(svg.contains(&format!("data-frame=\"{no}\"")));
        }
        assert!(svg.contains("<tspan font-weight=\"bold\">#1</tspan>"));
        assert!(!svg.contains("<tspan font-weight=\"bold\">#4</tspan>"));
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
        assert!(svg.contains("… 276 data frames …"), "{svg}");
        assert!(svg.contains(">#300</tspan>"), "the last frame is kept");
        assert!(svg.contains(">#1</tspan>"), "the first frame is kept");
        assert!(!svg.contains(">#100</tspan>"));
        assert_eq!(
            svg.matches("<g class=\"arrow\"").count(),
            2 * KEEP_EACH_END,
            "one arrow per frame drawn"
        );
        // The lifelines are dashed across the gap.
        assert_eq!(svg.matches("stroke-dasharray=\"4 4\"").count(), 2);
    }

    #[test]
    fn elision_says_how_many_carried_data() {
        let mut l = ladder();
        for no in 1..=40 {
            let mut f = a(no, true, "[ACK] Seq=1 Ack=1 Len=0");
            if no % 2 == 0 {
                f.detail = Some("x".into());
            }
            l.push(f);
        }
        assert_eq!(l.elided, 16);
        assert!(svg(&[l]).contains("… 16 frames, 8 with data …"));
        let mut l = ladder();
        for no in 1..=25 {
            l.push(a(no, true, "[ACK] Seq=1 Ack=1 Len=0"));
        }
        assert!(svg(&[l]).contains("… 1 frame …"));
    }

    #[test]
    fn a_port_unreachable_returns_dashed_with_what_it_answers() {
        let mut l = ladder();
        let mut d = a(1, true, "UDP Len=6");
        d.detail = Some("\"hello?\"".into());
        l.push(d);
        let mut icmp = a(2, false, "ICMP Destination unreachable (Port unreachable)");
        icmp.detail = Some("answers frame 1: nothing is listening on 9".into());
        l.push(icmp);
        let svg = svg(&[l]);
        assert_eq!(svg.matches("<g class=\"arrow\"").count(), 2);
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        assert!(svg.contains(">answers frame 1: nothing is listening on 9</text>"));
        // It runs right to left: from the server's lifeline.
        assert!(svg.contains(&format!("<line x1=\"{RIGHT}\" y1=")));
    }

    #[test]
    fn long_notes_are_clipped_and_control_characters_replaced() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(esc("a\u{1b}b<"), "a·b&lt;");
    }

    fn row(
        no: usize,
        from_client: bool,
        protocol: &'static str,
        info: &str,
    ) -> crate::analyze::Row {
        use crate::analyze::{Direction, Ends, Kind};
        let (c, sv) = (
            "10.77.0.2:40000".parse().unwrap(),
            "10.77.0.1:13000".parse().unwrap(),
        );
        let (src, dst) = if from_client { (c, sv) } else { (sv, c) };
        crate::analyze::Row {
            no,
            time: Duration::from_millis(no as u64).into(),
            ends: Ends::Ip { src, dst },
            protocol: protocol.into(),
            kind: match protocol {
                "TCP" => Kind::Tcp,
                "UDP" => Kind::Udp,
                p if p.starts_with("ICMP") => Kind::Icmp,
                _ => Kind::Other,
            },
            length: 66,
            conn: Some(1),
            direction: Some(if from_client {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            }),
            states: None,
            info: info.into(),
            notes: Vec::new(),
            analysis: Default::default(),
            bad_checksum: None,
            tcp: None,
        }
    }

    #[test]
    fn rows_become_arrows_between_the_hosts_addresses() {
        use crate::analyze::TcpState;
        let mut c = Collector::new(None);
        let mut syn = row(1, true, "TCP", "40000 → 13000 [SYN] Seq=0 Win=64240 Len=0");
        syn.states = Some([TcpState::SynSent, TcpState::Listen]);
        syn.notes = vec!["handshake 1/3 (SYN)".into()];
        let owner = crate::owners::Owner {
            pid: 42,
            name: "tcp-uppercase".into(),
            cmd: None,
            args: Vec::new(),
        };
        c.push(&syn, Some(&owner));
        let mut fin = row(
            2,
            false,
            "TCP",
            "13000 → 40000 [FIN, ACK] Seq=1 Ack=1 Win=512 Len=0",
        );
        fin.notes = vec![
            "teardown: ACK of the client's FIN".into(),
            "teardown: FIN from the server".into(),
        ];
        c.push(&fin, None);
        // Another connection is left out when one is picked.
        let mut other = row(3, true, "TCP", "40001 → 13000 [SYN] Seq=0 Len=0");
        other.conn = Some(2);
        let mut only = Collector::new(Some(1));
        only.push(&other, None);
        assert!(only.is_empty());
        let svg = c.svg();
        assert!(svg.contains(">TCP connection 1</text>"));
        assert!(svg.contains(">10.77.0.2:40000</text>") && svg.contains(">10.77.0.1:13000</text>"));
        assert!(svg.contains(">pid 42 tcp-uppercase</text>"));
        assert!(svg.contains(">[SYN] Seq=0 Len=0</text>"), "{svg}");
        assert!(svg.contains(">SYN_SENT</text>") && svg.contains(">LISTEN</text>"));
        assert!(svg.contains(">teardown: ACK of the client&#39;s FIN; FIN from the server</text>"));
        assert_eq!(svg.matches("<g class=\"arrow\"").count(), 2);
    }

    #[test]
    fn flagged_frames_are_drawn_in_their_style_and_kept_from_the_middle() {
        let mut l = ladder();
        for no in 1..=200 {
            let mut f = a(no, no % 2 == 1, "[ACK] Seq=1 Ack=1 Len=0");
            if no % 50 == 0 {
                f.mark = Some(Mark::Retransmission);
                f.tags = Some("TCP Retransmission".into());
            } else if no == 101 {
                f.mark = Some(Mark::DupAck);
                f.tags = Some("TCP Dup ACK 99#1".into());
            }
            l.push(f);
        }
        // 50, 100, 101 and 150 are kept from the middle; 200 is in the tail.
        assert_eq!(l.elided, 200 - 2 * KEEP_EACH_END - 4);
        // Each kind has its share.
        let mut l2 = ladder();
        for no in 1..=300 {
            let mut f = a(no, true, "[ACK] Seq=1 Ack=1 Len=0");
            f.mark = Some(if no == 280 {
                Mark::Retransmission
            } else {
                Mark::DupAck
            });
            l2.push(f);
        }
        let drawn = svg(&[l2]);
        assert_eq!(
            drawn.matches("data-analysis=\"duplicate ACK\"").count(),
            2 * KEEP_EACH_END + FLAGGED_KEPT
        );
        assert!(drawn.contains(">#280</tspan>"));
        let svg = svg(&[l]);
        for no in [50, 100, 101, 150, 200] {
            assert!(svg.contains(&format!(">#{no}</tspan>")), "frame {no}");
        }
        assert_eq!(
            svg.matches("data-analysis=\"retransmission\"").count(),
            4,
            "{svg}"
        );
        assert_eq!(svg.matches("data-analysis=\"duplicate ACK\"").count(), 1);
        assert!(svg.contains(">TCP Dup ACK 99#1</text>"));
        // Four gaps: before 50, between 50 and 100, 101 and 150, 150 and the tail.
        assert_eq!(svg.matches("class=\"elided\"").count(), 4);
        assert!(svg.contains("… 37 frames …"), "{svg}");
        // The legend names the styles used, and only those.
        assert!(svg.contains(">retransmission</text>") && svg.contains(">duplicate ACK</text>"));
        assert!(!svg.contains(">out of order</text>"));
    }

    #[test]
    fn tags_leave_the_label_for_the_words_under_the_arrow() {
        use crate::analyze::Findings;
        let mut c = Collector::new(None);
        let mut dup = row(
            7,
            false,
            "TCP",
            "[TCP Dup ACK 5#2] 13000 → 40000 [ACK] Seq=1 Ack=101 Win=512 Len=0",
        );
        dup.analysis = Findings {
            dup_ack: Some((5, 2)),
            ..Findings::default()
        };
        c.push(&dup, None);
        let svg = c.svg();
        assert!(svg.contains(">[ACK] Seq=1 Ack=101 Len=0</text>"), "{svg}");
        assert!(svg.contains(">TCP Dup ACK 5#2</text>"), "{svg}");
        assert!(svg.contains("data-analysis=\"duplicate ACK\""));
    }
}
