//! `--format json` and `--format tsv`: every column of every frame, for
//! jq, pandas and spreadsheets.
//!
//! JSON lines: one object per frame, `{"type":"frame",…}`, and at the end
//! one `{"type":"connection",…}` per connection, so everything on stdout
//! parses and `jq 'select(.type=="frame")'` picks the frames. TSV: a
//! header line, then one line per frame; a tab, newline, carriage return
//! or backslash inside a value is written `\t`, `\n`, `\r`, `\\`, so a
//! line is always one frame.

use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use super::conv::{Tallies, write_owner};
use super::out::Out;
use super::{End, Shown, Sink, json};
use crate::Error;
use crate::analyze::Findings;
use crate::analyze::{Direction, Ends, Kind, Row};
use crate::owners::Owner;

/// Output buffer: large enough that writes are few.
const BUFFER: usize = 256 * 1024;

/// How frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON lines.
    Json,
    /// Tab-separated values with a header line.
    Tsv,
}

/// The TSV header (`client_state` and `server_state` are added with
/// `--states`).
pub const TSV_HEADER: &str = "no\ttime\tepoch\tsource\tsource_port\tdestination\tdestination_port\tprotocol\tlength\tconnection\tdirection\tpid\tprocess\tinfo\tanalysis\tnotes";

/// Frames as JSON lines or TSV.
#[derive(Debug)]
pub struct Records<W: Write> {
    out: Out<W>,
    format: Format,
    states: bool,
    tallies: Tallies,
}

impl<W: Write> Records<W> {
    /// Frames of a saved capture: an output error stops the stream.
    pub fn new(out: W, format: Format, states: bool) -> Self {
        Self::with(out, format, states, false, false)
    }

    /// Frames of a live capture, streamed as they come: flushed after
    /// every row with `every_row` (a terminal), else at least every
    /// 100 ms and whenever the capture is idle; an output that cannot be
    /// written ends this output, not the capture.
    pub fn live(out: W, format: Format, states: bool, every_row: bool) -> Self {
        Self::with(out, format, states, true, every_row)
    }

    fn with(out: W, format: Format, states: bool, live: bool, every_row: bool) -> Self {
        Records {
            out: Out::new(out, BUFFER, live, every_row),
            format,
            states,
            tallies: Tallies::new(),
        }
    }
}

/// tshark's `tcp.analysis.*` field names of what the analysis found
/// (`overtaken` is net-trace's own: see [`Findings::overtaken`]).
pub fn analysis_names(f: &Findings) -> impl Iterator<Item = &'static str> {
    [
        (f.retransmission, "retransmission"),
        (f.fast_retransmission, "fast_retransmission"),
        (f.spurious_retransmission, "spurious_retransmission"),
        (f.out_of_order, "out_of_order"),
        (f.previous_not_captured, "lost_segment"),
        (f.acked_unseen, "ack_lost_segment"),
        (f.window_update, "window_update"),
        (f.window_full, "window_full"),
        (f.keep_alive, "keep_alive"),
        (f.keep_alive_ack, "keep_alive_ack"),
        (f.dup_ack.is_some(), "duplicate_ack"),
        (f.zero_window, "zero_window"),
        (f.zero_window_probe, "zero_window_probe"),
        (f.zero_window_probe_ack, "zero_window_probe_ack"),
        (f.ports_reused, "reused_ports"),
        (f.overtaken, "overtaken"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
}

/// Seconds with six decimals, as a JSON number or TSV cell (written
/// without a string of its own: this runs for every frame).
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = (self.0.as_nanos() + 500) / 1000;
        write!(f, "{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

/// A number, or what stands for none (`null`, or an empty TSV cell).
struct Opt(Option<u64>, &'static str);

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str(self.1),
        }
    }
}

/// A Source or Destination cell: an IP address (nothing to escape), or
/// the link layer's name.
enum Addr<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// The row's ends as (source, source port, destination, destination
/// port); no ports for a frame that is not IP or a protocol without them.
fn ends(row: &Row) -> (Addr<'_>, Option<u64>, Addr<'_>, Option<u64>) {
    let port = |p: u16| (matches!(row.kind, Kind::Tcp | Kind::Udp)).then_some(u64::from(p));
    match &row.ends {
        Ends::Ip { src, dst } => (
            Addr::Ip(src.ip()),
            port(src.port()),
            Addr::Ip(dst.ip()),
            port(dst.port()),
        ),
        Ends::Link { src, dst } => (Addr::Name(src), None, Addr::Name(dst), None),
    }
}

fn json_addr(out: &mut impl Write, a: &Addr<'_>) -> io::Result<()> {
    match a {
        Addr::Ip(ip) => write!(out, "\"{ip}\""),
        Addr::Name(s) => json::string(out, s),
    }
}

fn tsv_addr(out: &mut impl Write, a: &Addr<'_>) -> io::Result<()> {
    match a {
        Addr::Ip(ip) => write!(out, "{ip}"),
        Addr::Name(s) => cell(out, s),
    }
}

/// The process that sent a row's frame; an ICMP error comes from a host's
/// kernel, not from a process of the connection.
fn process<'a>(row: &Row, sender: Option<&'a Owner>) -> Option<&'a Owner> {
    sender.filter(|_| row.kind != Kind::Icmp)
}

fn direction(d: Option<Direction>) -> Option<&'static str> {
    d.map(|d| match d {
        Direction::ClientToServer => "client→server",
        Direction::ServerToClient => "server→client",
    })
}

/// Writes one frame as a JSON object and its newline.
pub fn write_json(
    out: &mut impl Write,
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
    states: bool,
) -> io::Result<()> {
    let (src, sport, dst, dport) = ends(row);
    write!(
        out,
        "{{\"type\":\"frame\",\"no\":{},\"time\":{},\"epoch\":{},\"source\":",
        row.no,
        row.time,
        Secs(frame.time)
    )?;
    json_addr(out, &src)?;
    write!(
        out,
        ",\"source_port\":{},\"destination\":",
        Opt(sport, "null")
    )?;
    json_addr(out, &dst)?;
    write!(
        out,
        ",\"destination_port\":{},\"protocol\":",
        Opt(dport, "null")
    )?;
    json::string(out, &row.protocol)?;
    write!(out, ",\"length\":{},\"interface\":", row.length)?;
    json::string(out, frame.iface)?;
    match row.conn {
        Some(c) => write!(out, ",\"connection\":{c}")?,
        None => out.write_all(b",\"connection\":null")?,
    }
    json::key(out, false, "direction")?;
    json::opt_string(out, direction(row.direction))?;
    json::key(out, false, "sender")?;
    json::opt_string(out, row.direction.map(Direction::sender))?;
    json::key(out, false, "process")?;
    write_owner(out, process(row, sender))?;
    if states {
        json::key(out, false, "states")?;
        match row.states {
            Some([c, s]) => write!(
                out,
                "{{\"client\":\"{}\",\"server\":\"{}\"}}",
                c.name(),
                s.name()
            )?,
            None => out.write_all(b"null")?,
        }
    }
    json::key(out, false, "info")?;
    json::string(out, &row.info)?;
    json::key(out, false, "analysis")?;
    json::strings(out, analysis_names(&row.analysis))?;
    if let Some((frame, n)) = row.analysis.dup_ack {
        write!(
            out,
            ",\"duplicate_ack_frame\":{frame},\"duplicate_ack_num\":{n}"
        )?;
    }
    // tshark's tcp.analysis.acks_frame and ack_rtt: the segment this ACK
    // acknowledges exactly, and how long after it the ACK came.
    if let Some((frame, rtt)) = row.tcp.and_then(|t| t.acks) {
        write!(
            out,
            ",\"acks_frame\":{frame},\"ack_rtt\":{}.{:09}",
            rtt.as_secs(),
            rtt.subsec_nanos()
        )?;
    }
    json::key(out, false, "notes")?;
    json::strings(out, row.notes.iter().map(String::as_str))?;
    out.write_all(b"}\n")
}

/// Writes `s` as a TSV cell: tab, newline, carriage return and backslash
/// escaped.
fn cell(out: &mut impl Write, s: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped: &[u8] = match b {
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            _ => continue,
        };
        out.write_all(s.as_bytes().get(start..i).unwrap_or_default())?;
        out.write_all(escaped)?;
        start = i + 1;
    }
    out.write_all(s.as_bytes().get(start..).unwrap_or_default())
}

/// Writes one frame as a TSV line (empty cells for what it lacks).
pub fn write_tsv(
    out: &mut impl Write,
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
    states: bool,
) -> io::Result<()> {
    let (src, sport, dst, dport) = ends(row);
    write!(out, "{}\t{}\t{}\t", row.no, row.time, Secs(frame.time))?;
    tsv_addr(out, &src)?;
    write!(out, "\t{}\t", Opt(sport, ""))?;
    tsv_addr(out, &dst)?;
    write!(out, "\t{}\t", Opt(dport, ""))?;
    cell(out, &row.protocol)?;
    write!(
        out,
        "\t{}\t{}\t{}\t",
        row.length,
        Opt(row.conn.map(|c| c as u64), ""),
        direction(row.direction).unwrap_or_default()
    )?;
    match process(row, sender) {
        Some(o) => {
            write!(out, "{}\t", o.pid)?;
            cell(out, o.program())?;
        }
        None => out.write_all(b"\t")?,
    }
    out.write_all(b"\t")?;
    cell(out, &row.info)?;
    out.write_all(b"\t")?;
    cell(
        out,
        &analysis_names(&row.analysis).collect::<Vec<_>>().join(","),
    )?;
    out.write_all(b"\t")?;
    cell(out, &row.notes.join("; "))?;
    if states {
        match row.states {
            Some([c, s]) => write!(out, "\t{}\t{}", c.name(), s.name())?,
            None => out.write_all(b"\t\t")?,
        }
    }
    out.write_all(b"\n")
}

impl<W: Write> Sink for Records<W> {
    fn start(&mut self) -> Result<(), Error> {
        if self.format == Format::Json {
            return Ok(());
        }
        let states = if self.states {
            "\tclient_state\tserver_state"
        } else {
            ""
        };
        self.out.write(|w| writeln!(w, "{TSV_HEADER}{states}"))
    }

    fn row(&mut self, frame: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.tallies.note(row, sender);
        let (format, states) = (self.format, self.states);
        self.out.write(|w| match format {
            Format::Json => write_json(w, frame, row, sender, states),
            Format::Tsv => write_tsv(w, frame, row, sender, states),
        })?;
        self.out.row_done()
    }

    fn idle(&mut self) {
        let _ = self.out.flush();
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        if self.format == Format::Json {
            let conversations = self.tallies.conversations(end);
            self.out
                .write(|w| conversations.iter().try_for_each(|c| c.write_json(w)))?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_cells_keep_one_frame_per_line() {
        let mut out = Vec::new();
        cell(&mut out, "a\tb\nc\\d\re").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r"a\tb\nc\\d\re");
    }

    /// An output whose bytes the test can still see.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn a_row() -> Row {
        // An IPv4 + UDP datagram 127.0.0.1:40000 → 127.0.0.1:12000, "hi".
        let ip: Vec<u8> = vec![
            0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0x9c, 0x40,
            0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
        ];
        let packet =
            crate::decode::decode(crate::decode::LinkType::RawIp, &ip, Duration::ZERO, 30).unwrap();
        crate::analyze::Analyzer::new().push(&packet)
    }

    #[test]
    fn a_live_capture_streams_each_frame_to_a_terminal_and_each_batch_elsewhere() {
        let iface: std::sync::Arc<str> = std::sync::Arc::from("lo");
        let shown = Shown {
            time: Duration::ZERO,
            data: &[],
            wire_len: 30,
            link: crate::decode::LinkType::RawIp,
            iface: &iface,
        };
        let out = Shared::default();
        let mut terminal = Records::live(out.clone(), Format::Json, false, true);
        terminal.row(&shown, &a_row(), None).unwrap();
        let line = String::from_utf8(out.0.borrow().clone()).unwrap();
        assert!(
            line.starts_with("{\"type\":\"frame\",\"no\":1,") && line.ends_with("}\n"),
            "{line}"
        );

        let out = Shared::default();
        let mut pipe = Records::live(out.clone(), Format::Json, false, false);
        pipe.row(&shown, &a_row(), None).unwrap();
        assert!(out.0.borrow().is_empty(), "buffered until the batch ends");
        pipe.idle();
        assert_eq!(out.0.borrow().iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
