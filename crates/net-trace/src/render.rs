//! Text output: a tshark-like frame table and a per-connection summary,
//! naming the processes (`ConnOwners`) proven at each end.
//!
//! Rows are written straight into any [`io::Write`] (a `BufWriter` over
//! stdout in `read`), without an intermediate string per row.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::analyze::rel_time::TEXT_LEN;
use crate::analyze::{Direction, Ends, Kind, Listed, Proto, Row, Summary};
use crate::hash::FastMap;
/// The process that owns one end of a connection.
pub(crate) use crate::owners::Owner;
use crate::owners::{Method, Tally};
use crate::sink::{End, Rtts};
use crate::text::{IP_LEN, U64_LEN, ip_str, u64_str};

/// The table's heading.
pub fn heading() -> String {
    format!(
        "{:>5} {:>10}  {:<15} {:<15} {:<5} {:>6}  {:<14} {:<34} {}",
        "No.", "Time", "Source", "Destination", "Proto", "Length", "Role", "Sent by", "Info"
    )
}

/// `client (pid 4242 tcp-uppercase)`, or just `client`.
pub(crate) fn who(side: &str, owner: Option<&Owner>) -> String {
    match owner {
        Some(o) => format!("{side} ({o})"),
        None => side.to_string(),
    }
}

/// Spaces that pad the table's cells.
const SPACES: &str = "                                                  ";

/// Writes `s` padded with spaces to `width` characters, on the left
/// (`right_align`) or on the right.
fn pad(out: &mut impl Write, s: &str, width: usize, right_align: bool) -> io::Result<()> {
    let chars = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    let fill = SPACES.get(..width.saturating_sub(chars)).unwrap_or(SPACES);
    if right_align {
        out.write_all(fill.as_bytes())?;
        out.write_all(s.as_bytes())
    } else {
        out.write_all(s.as_bytes())?;
        out.write_all(fill.as_bytes())
    }
}

/// Seconds with six decimals, rounded to the microsecond as `{:.6}`
/// would, without floating point; negative before the first frame.
#[cfg(test)]
fn seconds(t: crate::analyze::RelTime) -> String {
    t.decimals_str(6, &mut [0; TEXT_LEN]).to_string()
}

/// Writes one table line (with its newline); `states` adds each side's
/// TCP state after the frame.
pub(crate) fn write_row(
    out: &mut impl Write,
    r: &Row,
    sender: Option<&Owner>,
    states: bool,
) -> io::Result<()> {
    pad(out, u64_str(&mut [0; U64_LEN], r.no as u64), 5, true)?;
    out.write_all(b" ")?;
    pad(out, r.time.decimals_str(6, &mut [0; TEXT_LEN]), 10, true)?;
    out.write_all(b"  ")?;
    match &r.ends {
        Ends::Ip { src, dst } => {
            pad(out, ip_str(&mut [0; IP_LEN], src.ip()), 15, false)?;
            out.write_all(b" ")?;
            pad(out, ip_str(&mut [0; IP_LEN], dst.ip()), 15, false)?;
        }
        Ends::Link { src, dst } => {
            pad(out, src, 15, false)?;
            out.write_all(b" ")?;
            pad(out, dst, 15, false)?;
        }
    }
    out.write_all(b" ")?;
    pad(out, &r.protocol, 5, false)?;
    out.write_all(b" ")?;
    pad(
        out,
        u64_str(&mut [0; U64_LEN], u64::from(r.length)),
        6,
        true,
    )?;
    out.write_all(b"  ")?;
    // Padded to the column's 14 characters already: the arrow is one
    // character in three bytes, which `pad` would count for every row.
    out.write_all(match r.direction {
        Some(Direction::ClientToServer) => "client→server ".as_bytes(),
        Some(Direction::ServerToClient) => "server→client ".as_bytes(),
        None => b"              ",
    })?;
    out.write_all(b" ")?;
    match (r.direction, sender) {
        // An ICMP error comes from the host's kernel, not from a process
        // of the connection.
        (Some(d), _) if r.kind == Kind::Icmp => {
            pad(out, &format!("{}'s host", d.sender()), 34, false)?
        }
        (Some(d), Some(o)) => pad(out, &who(d.sender(), Some(o)), 34, false)?,
        (Some(d), None) => pad(out, d.sender(), 34, false)?,
        (None, _) => pad(out, "", 34, false)?,
    }
    out.write_all(b" ")?;
    out.write_all(r.info.as_bytes())?;
    if states && let Some([c, s]) = r.states {
        write!(out, "   [client {} / server {}]", c.name(), s.name())?;
    }
    if let Some((first, rest)) = r.notes.split_first() {
        out.write_all("   ← ".as_bytes())?;
        out.write_all(first.as_bytes())?;
        for n in rest {
            out.write_all(b"; ")?;
            out.write_all(n.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

/// One table line, without its newline.
pub fn row(r: &Row, sender: Option<&Owner>) -> String {
    let mut line = Vec::with_capacity(160);
    // Writing to a Vec cannot fail.
    let _ = write_row(&mut line, r, sender, false);
    line.pop();
    String::from_utf8_lossy(&line).into_owned()
}

fn frames_range(nos: &[usize]) -> String {
    match nos {
        [] => String::new(),
        [one] => format!("frame {one}"),
        [first, .., last] => format!("frames {first}–{last}"),
    }
}

/// A summary line listing frames of one kind, `  NAME: frames 7, 9 and 3
/// more`, the count first when some are not listed; nothing when there
/// are none.
fn listed(out: &mut String, name: &str, l: &Listed, after: &str) {
    if l.count == 0 {
        return;
    }
    let list: Vec<String> = l.frames.iter().map(ToString::to_string).collect();
    let frames = if l.count == 1 { "frame" } else { "frames" };
    let _ = write!(
        out,
        "  {name}: {}{after}, {frames} {}",
        l.count,
        list.join(", ")
    );
    if l.more() > 0 {
        let _ = write!(out, " and {} more", l.more());
    }
    let _ = writeln!(out);
}

/// The summary of one connection, naming the processes at each end when
/// known.
pub fn summary(s: &Summary, client: Option<&Owner>, server: Option<&Owner>) -> String {
    let mut out = String::new();
    let named = |a: std::net::SocketAddr, o: Option<&Owner>| match o {
        Some(o) => format!("{a} ({o})"),
        None => a.to_string(),
    };
    let tcp = s.protocol == Proto::Tcp;
    let _ = writeln!(
        out,
        "{} {} {}: client {} ↔ server {}",
        s.protocol,
        if tcp { "connection" } else { "flow" },
        s.conn,
        named(s.client, client),
        named(s.server, server),
    );
    if tcp {
        if s.handshake.is_empty() {
            let why = if s.mid_stream {
                "the capture began mid-connection"
            } else {
                "only part of it was captured"
            };
            let _ = writeln!(out, "  handshake: not captured ({why})");
        } else {
            let nos: Vec<usize> = s.handshake.iter().map(|h| h.0).collect();
            let parts: Vec<String> = s
                .handshake
                .iter()
                .map(|(no, what, d)| format!("{no} {what} sent by the {}", d.sender()))
                .collect();
            let complete = if s.handshake.len() == 3 {
                ""
            } else {
                " (incomplete)"
            };
            let _ = writeln!(
                out,
                "  handshake{complete}: {}: {}",
                frames_range(&nos),
                parts.join(", ")
            );
        }
    }
    // Each way: the stream's length, and what was sent again (resent or
    // duplicated on the way) on top of it, when anything was.
    let way = |d: usize| {
        let again = s.bytes[d].saturating_sub(s.stream[d]);
        if again == 0 {
            format!("{} bytes", s.bytes[d])
        } else {
            format!("{} bytes ({again} more sent again)", s.stream[d])
        }
    };
    let _ = writeln!(
        out,
        "  data: {} frame(s); {} client→server, {} server→client",
        s.data_frames,
        way(0),
        way(1)
    );
    for i in &s.icmp {
        let answered = match i.answers {
            Some(n) => format!("frame {n}"),
            None => "a frame not in this capture".to_string(),
        };
        if i.port_unreachable {
            let _ = writeln!(
                out,
                "  the {}'s host answered {answered} with ICMP port unreachable: nothing was listening (frame {})",
                i.from.sender(),
                i.frame
            );
        } else {
            let _ = writeln!(
                out,
                "  the {}'s host answered {answered} with ICMP {} (frame {})",
                i.from.sender(),
                i.what,
                i.frame
            );
        }
    }
    if s.icmp_count > s.icmp.len() as u64 {
        let _ = writeln!(
            out,
            "  … and {} more ICMP error(s)",
            s.icmp_count - s.icmp.len() as u64
        );
    }
    if tcp {
        match &s.close {
            Some(shape) => {
                let nos: Vec<usize> = s.teardown.iter().map(|t| t.0).collect();
                let parts: Vec<String> = s
                    .teardown
                    .iter()
                    .map(|(no, what, d)| format!("{no} {what} sent by the {}", d.sender()))
                    .collect();
                let _ = writeln!(
                    out,
                    "  teardown: {} ({shape}): {}",
                    frames_range(&nos),
                    parts.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "  teardown: not in this capture (still open)");
            }
        }
        if let Some((no, d)) = s.after_close {
            let _ = writeln!(
                out,
                "  after the close: {no} RST sent by the {}, answering a stray segment (a duplicate or a late one) that reached the closed port",
                d.sender()
            );
        }
        let mut kinds = Vec::new();
        if s.fast_retransmissions > 0 {
            kinds.push(format!("{} fast", s.fast_retransmissions));
        }
        if s.spurious_retransmissions > 0 {
            kinds.push(format!("{} spurious", s.spurious_retransmissions));
        }
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        listed(&mut out, "retransmissions", &s.retransmissions, &kinds);
        listed(&mut out, "duplicate ACKs", &s.dup_acks, "");
        listed(&mut out, "out-of-order segments", &s.out_of_order, "");
        listed(
            &mut out,
            "segments after a gap (what came before was not captured)",
            &s.not_captured,
            "",
        );
        if let Some([c, sv]) = s.states {
            let _ = writeln!(out, "  final states: client {c}, server {sv}");
        }
    }
    out
}

/// What the frames of one side of a connection proved about its process.
#[derive(Debug, Default)]
enum Side {
    /// Nothing.
    #[default]
    Unknown,
    /// One process sent every named frame.
    One(Owner),
    /// Different processes sent them (a UDP port used by one program after
    /// another), or, on a UDP flow, some datagram was not proven (another
    /// program may have sent it at the same time): the summary names none.
    Several,
}

impl Side {
    fn owner(&self) -> Option<&Owner> {
        match self {
            Side::One(o) => Some(o),
            Side::Unknown | Side::Several => None,
        }
    }
}

/// Each connection's proven processes (client, server), gathered row by
/// row for the summaries.
#[derive(Debug, Default)]
pub(crate) struct ConnOwners(FastMap<usize, (Side, Side)>);

impl ConnOwners {
    /// None known yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records a row's sender as the owner of its side of its connection.
    pub(crate) fn note(&mut self, row: &Row, sender: Option<&Owner>) {
        let (Some(conn), Some(dir)) = (row.conn, row.direction) else {
            return;
        };
        if row.kind == Kind::Icmp {
            return;
        }
        let udp = row.kind == Kind::Udp;
        // A TCP frame without a proven sender changes nothing (and most
        // frames of a saved capture have none): no lookup.
        if sender.is_none() && !udp {
            return;
        }
        let entry = self.0.entry(conn).or_default();
        let slot = match dir {
            Direction::ClientToServer => &mut entry.0,
            Direction::ServerToClient => &mut entry.1,
        };
        // A UDP flow has no connection to own: its side is named only when
        // one process is proven for every datagram. A TCP side is named for
        // the process proven for its frames, though some (after a fork) may
        // be unknown.
        match (sender, &slot) {
            (None, _) if udp => *slot = Side::Several,
            (None, _) | (_, Side::Several) => {}
            (Some(o), Side::Unknown) => *slot = Side::One(o.clone()),
            (Some(o), Side::One(known)) if known.pid != o.pid => *slot = Side::Several,
            (Some(_), Side::One(_)) => {}
        }
    }

    /// The processes proven at each end of connection `conn`: (client,
    /// server).
    pub(crate) fn get(&self, conn: usize) -> (Option<&Owner>, Option<&Owner>) {
        self.0
            .get(&conn)
            .map_or((None, None), |(c, s)| (c.owner(), s.owner()))
    }
}

/// Writes the summary of every connection shown (see [`End::summaries`])
/// after a blank line, naming the processes proven at each end and how
/// they were proven (`end.methods`, the main one first; empty when
/// processes were not looked up), with its round-trip times.
pub(crate) fn write_summaries(
    out: &mut impl Write,
    end: &End<'_>,
    owners: &ConnOwners,
    rtts: &mut Rtts,
) -> io::Result<()> {
    let methods = end.methods;
    writeln!(out)?;
    if end.connection_count() == 0 {
        writeln!(out, "No TCP or UDP traffic matched.")?;
    }
    let mut named = false;
    for s in end.summaries() {
        let (c, sv) = owners.get(s.conn);
        named |= c.is_some() || sv.is_some();
        out.write_all(summary(&s, c, sv).as_bytes())?;
        if let Some(rtt) = rtts.stats(s.conn) {
            writeln!(out, "{}", rtt.line())?;
        }
    }
    let corrupted = end.corrupted();
    if corrupted > 0 {
        writeln!(
            out,
            "Corrupted on the way (checksum incorrect): {corrupted} frame{}; the receiver drops {}, so {} left out of the connections.",
            if corrupted == 1 { "" } else { "s" },
            if corrupted == 1 { "it" } else { "them" },
            if corrupted == 1 { "it is" } else { "they are" },
        )?;
    }
    if let (Some(main), Some(t)) = (methods.first(), end.tally.filter(|t| t.total() > 0)) {
        writeln!(out, "{}", tally_line(main, methods, t))?;
    } else if let Some(main) = methods.first() {
        if named {
            let all: Vec<String> = methods.iter().map(ToString::to_string).collect();
            writeln!(
                out,
                "Processes named from {}; \"unknown\" where nothing proved one.",
                all.join(" and ")
            )?;
        } else {
            writeln!(out, "No process could be proven from {main}.")?;
        }
    }
    Ok(())
}

/// The summary's last line for a live capture: how many TCP and UDP
/// frames were named, and why the others are "unknown" — the same counts
/// as the table's rows.
fn tally_line(main: &Method, methods: &[Method], t: &Tally) -> String {
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let mut why = Vec::new();
    if t.lost > 0 {
        why.push(format!("{} near kernel events that were lost", t.lost));
    }
    if t.late > 0 {
        why.push(format!("{} whose evidence came too late", t.late));
    }
    if t.unproven > 0 {
        why.push(format!("{} where nothing proved one", t.unproven));
    }
    let why = why.join(", ");
    let total = t.total();
    if t.named == 0 {
        return format!(
            "No process could be proven from {main} for the {total} TCP/UDP frame{}: {why}.",
            plural(total)
        );
    }
    let all: Vec<String> = methods.iter().map(ToString::to_string).collect();
    let head = format!(
        "Processes named from {} for {} of {total} TCP/UDP frame{}",
        all.join(" and "),
        t.named,
        plural(total)
    );
    match t.unknown() {
        0 => format!("{head}."),
        n => format!("{head}; \"unknown\" for {n}: {why}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Analyzer;
    use crate::analyze::{IcmpAnswer, RelTime, TcpState};
    use crate::owners::Method;
    use std::borrow::Cow;
    use std::time::Duration;

    #[test]
    fn the_last_line_counts_what_the_table_shows() {
        let t = |named, lost, late, unproven| Tally {
            named,
            lost,
            late,
            unproven,
        };
        let kernel = [Method::Kernel, Method::Proc];
        assert_eq!(
            tally_line(&Method::Kernel, &kernel, &t(617_222, 59_000, 178, 0)),
            "Processes named from kernel events and /proc for 617222 of 676400 TCP/UDP frames; \"unknown\" for 59178: 59000 near kernel events that were lost, 178 whose evidence came too late."
        );
        assert_eq!(
            tally_line(&Method::Kernel, &kernel[..1], &t(3, 0, 0, 0)),
            "Processes named from kernel events for 3 of 3 TCP/UDP frames."
        );
        assert_eq!(
            tally_line(&Method::Kernel, &kernel[..1], &t(0, 0, 0, 1)),
            "No process could be proven from kernel events for the 1 TCP/UDP frame: 1 where nothing proved one."
        );
    }

    fn syn_row() -> Row {
        Row {
            no: 1,
            time: Duration::from_micros(1500).into(),
            ends: Ends::Ip {
                src: "127.0.0.1:52581".parse().unwrap(),
                dst: "127.0.0.1:13000".parse().unwrap(),
            },
            protocol: Cow::Borrowed("TCP"),
            kind: Kind::Tcp,
            length: 74,
            conn: Some(1),
            direction: Some(Direction::ClientToServer),
            states: Some([TcpState::SynSent, TcpState::SynReceived]),
            info: "52581 → 13000 [SYN] Seq=0 Win=65495 Len=0".into(),
            notes: vec!["handshake 1/3 (SYN)".into()],
            analysis: Default::default(),
            bad_checksum: None,
            tcp: None,
        }
    }

    fn owner() -> Owner {
        Owner {
            pid: 4242,
            name: "tcp-uppercase".into(),
            cmd: None,
            args: Vec::new(),
        }
    }

    fn tcp_summary() -> Summary {
        Summary {
            conn: 1,
            protocol: Proto::Tcp,
            client: "127.0.0.1:52581".parse().unwrap(),
            server: "127.0.0.1:13000".parse().unwrap(),
            mid_stream: false,
            handshake: vec![
                (1, "SYN", Direction::ClientToServer),
                (2, "SYN-ACK", Direction::ServerToClient),
                (3, "ACK", Direction::ClientToServer),
            ],
            teardown: vec![(6, "FIN-ACK".into(), Direction::ClientToServer)],
            close: Some("half-closed: only the client sent FIN in this capture".into()),
            after_close: None,
            data_frames: 2,
            bytes: [10, 10],
            stream: [10, 10],
            retransmissions: Listed::default(),
            fast_retransmissions: 0,
            spurious_retransmissions: 0,
            out_of_order: Listed::default(),
            dup_acks: Listed::default(),
            not_captured: Listed::default(),
            icmp: vec![],
            icmp_count: 0,
            frames: 6,
            span: (1, 6),
            states: Some([TcpState::FinWait1, TcpState::CloseWait]),
        }
    }

    #[test]
    fn a_side_is_named_only_when_one_process_is_proven() {
        let other = Owner {
            pid: 4343,
            ..owner()
        };
        let reply = |mut row: Row| {
            row.direction = Some(Direction::ServerToClient);
            row
        };
        let udp = |conn| Row {
            protocol: Cow::Borrowed("UDP"),
            kind: Kind::Udp,
            conn: Some(conn),
            ..syn_row()
        };
        let mut owners = ConnOwners::new();
        // TCP: a frame nothing proved (after a fork) leaves the side named.
        owners.note(&syn_row(), Some(&owner()));
        owners.note(&syn_row(), None);
        owners.note(&reply(syn_row()), Some(&other));
        let (client, server) = owners.get(1);
        assert_eq!(client.map(|o| o.pid), Some(4242));
        assert_eq!(server.map(|o| o.pid), Some(4343));
        // Two processes on one side: neither is named, for good.
        owners.note(&syn_row(), Some(&other));
        owners.note(&syn_row(), Some(&owner()));
        assert!(owners.get(1).0.is_none());
        // UDP: one unproven datagram and the flow's side names nobody.
        owners.note(&udp(2), Some(&owner()));
        assert_eq!(owners.get(2).0.map(|o| o.pid), Some(4242));
        owners.note(&udp(2), None);
        owners.note(&udp(2), Some(&owner()));
        assert!(owners.get(2).0.is_none());
        // ICMP rows and unknown connections name nobody.
        let icmp = Row {
            protocol: Cow::Borrowed("ICMP"),
            kind: Kind::Icmp,
            conn: Some(3),
            ..syn_row()
        };
        owners.note(&icmp, Some(&owner()));
        assert_eq!(owners.get(3), (None, None));
        assert_eq!(owners.get(99), (None, None));
    }

    fn end<'a>(analyzer: &'a Analyzer, methods: &'a [Method]) -> End<'a> {
        End {
            analyzer,
            methods,
            tally: None,
            narrowed: None,
        }
    }

    #[test]
    fn summaries_say_how_processes_were_named() {
        let mut owners = ConnOwners::new();
        let analyzer = Analyzer::new();
        let mut out = Vec::new();
        write_summaries(
            &mut out,
            &end(&analyzer, &[Method::File]),
            &owners,
            &mut Rtts::new(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nNo TCP or UDP traffic matched.\nNo process could be proven from the capture file.\n"
        );
        owners.note(&syn_row(), Some(&owner()));
        let mut out = Vec::new();
        write_summaries(&mut out, &end(&analyzer, &[]), &owners, &mut Rtts::new()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nNo TCP or UDP traffic matched.\n"
        );
    }

    #[test]
    fn cells_and_times() {
        assert_eq!(
            seconds(Duration::from_nanos(1_234_567_890).into()),
            "1.234568"
        );
        assert_eq!(
            seconds(Duration::from_nanos(999_999_600).into()),
            "1.000000"
        );
        assert_eq!(seconds(RelTime::default()), "0.000000");
        let before = RelTime::between(Duration::from_secs(50), Duration::from_micros(6_282_746));
        assert_eq!(seconds(before), "-43.717254");
        let mut out = Vec::new();
        pad(&mut out, "→x", 4, false).unwrap();
        pad(&mut out, "7", 3, true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "→x    7");
    }

    #[test]
    fn row_text() {
        let line = row(&syn_row(), Some(&owner()));
        assert!(line.contains("client→server"));
        assert!(line.contains("client (pid 4242 tcp-uppercase)"));
        assert!(line.contains("0.001500"));
        assert!(
            line.ends_with("[SYN] Seq=0 Win=65495 Len=0   ← handshake 1/3 (SYN)"),
            "{line}"
        );
        // Columns line up with the heading, owner or not.
        let plain = row(&syn_row(), None);
        let column = |line: &str, text: &str| line[..line.find(text).unwrap()].chars().count();
        assert_eq!(
            column(&plain, "52581 →"),
            column(&heading(), "Info"),
            "{plain}\n{}",
            heading()
        );
    }

    #[test]
    fn row_with_states_and_several_notes() {
        let mut r = syn_row();
        r.notes.push("retransmission".into());
        let mut out = Vec::new();
        write_row(&mut out, &r, None, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "Len=0   [client SYN_SENT / server SYN_RECEIVED]   ← handshake 1/3 (SYN); retransmission\n"
            ),
            "{text}"
        );
        let mut out = Vec::new();
        write_row(&mut out, &r, None, false).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("SYN_SENT"));
    }

    #[test]
    fn a_non_ip_row_has_no_role() {
        let r = Row {
            ends: Ends::Link {
                src: "00:00:00:00:00:01".into(),
                dst: "Broadcast".into(),
            },
            protocol: Cow::Owned("ARP".into()),
            kind: Kind::Other,
            conn: None,
            direction: None,
            states: None,
            info: "Who has 10.0.0.2? Tell 10.0.0.1".into(),
            notes: vec![],
            ..syn_row()
        };
        let line = row(&r, None);
        assert!(
            line.contains("00:00:00:00:00:01 Broadcast       ARP"),
            "{line}"
        );
        assert!(
            line.ends_with("  Who has 10.0.0.2? Tell 10.0.0.1"),
            "{line}"
        );
        assert!(!line.contains("client"));
    }

    #[test]
    fn an_icmp_error_is_sent_by_a_host() {
        let r = Row {
            protocol: Cow::Borrowed("ICMP"),
            kind: Kind::Icmp,
            direction: Some(Direction::ServerToClient),
            states: None,
            info: "Destination unreachable (Port unreachable)".into(),
            notes: vec!["answers frame 1: nothing is listening on 13000".into()],
            ..syn_row()
        };
        let line = row(&r, Some(&owner()));
        assert!(line.contains("server→client  server's host "), "{line}");
        assert!(!line.contains("pid 4242"), "{line}");
    }

    #[test]
    fn summary_text() {
        let s = tcp_summary();
        let text = summary(&s, None, Some(&owner()));
        assert!(text.starts_with("TCP connection 1: client 127.0.0.1:52581 ↔ server 127.0.0.1:13000 (pid 4242 tcp-uppercase)"), "{text}");
        assert!(text.contains("handshake: frames 1–3: 1 SYN sent by the client, 2 SYN-ACK sent by the server, 3 ACK sent by the client"));
        assert!(text.contains("teardown: frame 6 (half-closed"));
        assert!(text.contains("data: 2 frame(s); 10 bytes client→server"));
        assert!(text.contains("final states: client FIN_WAIT_1, server CLOSE_WAIT"));
        let text = summary(&s, Some(&owner()), None);
        assert!(text.starts_with(
            "TCP connection 1: client 127.0.0.1:52581 (pid 4242 tcp-uppercase) ↔ server 127.0.0.1:13000\n"
        ));
    }

    #[test]
    fn a_reset_after_the_close_is_shown_apart_from_the_teardown() {
        let s = Summary {
            after_close: Some((14, Direction::ServerToClient)),
            ..tcp_summary()
        };
        let text = summary(&s, None, None);
        assert!(
            text.contains(
                "  after the close: 14 RST sent by the server, answering a stray segment"
            ),
            "{text}"
        );
    }

    #[test]
    fn mid_stream_and_retransmission_summaries() {
        let s = Summary {
            mid_stream: true,
            handshake: vec![],
            retransmissions: Listed {
                frames: vec![7, 9],
                count: 5,
            },
            fast_retransmissions: 1,
            dup_acks: Listed {
                frames: vec![6],
                count: 1,
            },
            ..tcp_summary()
        };
        let text = summary(&s, None, None);
        assert!(
            text.contains("  handshake: not captured (the capture began mid-connection)\n"),
            "{text}"
        );
        assert!(
            text.contains("  retransmissions: 5 (1 fast), frames 7, 9 and 3 more\n"),
            "{text}"
        );
        assert!(text.contains("  duplicate ACKs: 1, frame 6\n"), "{text}");
        assert!(!text.contains("out-of-order"), "{text}");
    }

    #[test]
    fn udp_flow_answered_by_icmp() {
        let s = Summary {
            protocol: Proto::Udp,
            handshake: vec![],
            teardown: vec![],
            close: None,
            after_close: None,
            states: None,
            icmp: vec![IcmpAnswer {
                frame: 2,
                answers: Some(1),
                from: Direction::ServerToClient,
                port_unreachable: true,
                what: "Destination unreachable (Port unreachable)".into(),
            }],
            icmp_count: 3,
            ..tcp_summary()
        };
        let text = summary(&s, None, None);
        assert!(text.starts_with("UDP flow 1:"), "{text}");
        assert!(
            text.contains("  the server's host answered frame 1 with ICMP port unreachable: nothing was listening (frame 2)\n"),
            "{text}"
        );
        assert!(text.contains("… and 2 more ICMP error(s)"), "{text}");
        assert!(!text.contains("handshake") && !text.contains("teardown"));
    }
}
