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
        // The Info column without its leading ports: `[SYN] Seq=0 …`.
        let label = match row.info.find(['[', 'L']) {
            Some(at) if matches!(row.kind, Kind::Tcp | Kind::Udp) => &row.info[at..],
            _ => row.info.as_str(),
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
    net_core::text::escape_markup(s)
}

/// Draws one or more connections, one below the other, as one SVG
/// document.
///
/// Every frame is one `<g class="arrow" data-frame="N">` group, so a
/// reader (or a test) can count the frames drawn. The document defines no
/// ids, so several diagrams can be inlined in one HTML page.
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
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// What the elision mark says: `… 240 data frames …` when every frame
/// left out carried data.
fn elision_text(l: &Ladder) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if l.elided_data == l.elided {
        format!("… {} data frame{} …", l.elided, plural(l.elided))
    } else if l.elided_data > 0 {
        format!(
            "… {} frame{}, {} with data …",
            l.elided,
            plural(l.elided),
            l.elided_data
        )
    } else {
        format!("… {} frame{} …", l.elided, plural(l.elided))
    }
}

/// Draws one ladder from `y0`; returns the y below it.
fn draw(out: &mut String, l: &Ladder, y0: u32) -> u32 {
    let (arrows, mark) = l.drawn();
    let rows = arrows.len() as u32 + u32::from(mark.is_some());
    let top = y0 + 70;
    let bottom = y0 + TOP + rows * STEP + 10;
    // Where the lifelines are dashed: across the elided frames.
    let gap = mark.map(|i| {
        let y = y0 + TOP + i as u32 * STEP;
        (y - 12, y + STEP - 16)
    });
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
        let segments = match gap {
            Some((a, b)) => vec![
                (top, a, ""),
                (a, b, " stroke-dasharray=\"4 4\""),
                (b, bottom, ""),
            ],
            None => vec![(top, bottom, "")],
        };
        for (from, to, dash) in segments {
            let _ = writeln!(
                out,
                r##"<line x1="{x}" y1="{from}" x2="{x}" y2="{to}" stroke="#333" stroke-width="2"{dash}/>"##
            );
        }
    }
    let mut y = y0 + TOP;
    for (i, a) in arrows.iter().enumerate() {
        if mark == Some(i) {
            let _ = writeln!(
                out,
                r##"<text class="elided" x="{}" y="{}" text-anchor="middle" fill="#555" font-style="italic">{}</text>"##,
                WIDTH / 2,
                y + 10,
                esc(&elision_text(l))
            );
            y += STEP;
        }
        arrow(out, a, y);
        y += STEP;
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
    let (color, width, dash) = if hot {
        ("#c0392b", 2, "")
    } else if icmp {
        ("#d35400", 2, " stroke-dasharray=\"6 4\"")
    } else {
        ("#333", 1, "")
    };
    let _ = writeln!(out, r#"<g class="arrow" data-frame="{}">"#, a.no);
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
    if let Some(h) = &a.highlight {
        under.push(h.clone());
    }
    if let Some(d) = &a.detail {
        under.push(d.clone());
    }
    if !under.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{mid}" y="{}" transform="rotate({angle:.2} {mid} {ym})" text-anchor="middle" font-size="11" fill="#555">{}</text>"##,
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
            time: Duration::from_millis(no as u64),
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
}
