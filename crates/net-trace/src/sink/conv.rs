//! Conversations: one line (or one JSON object) per connection with its
//! frames and bytes each way, its span, its processes and its analysis
//! counts, as `tshark -q -z conv,tcp` lists them (`--summary-only`).

use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::time::Duration;

use super::rtt::{Millis, seconds};
use super::{End, RttStats, Rtts, Shown, Sink, json};
use crate::Error;
use crate::analyze::{Direction, Kind, RelTime, Row, Summary};
use crate::hash::FastMap;
use crate::owners::Owner;
use crate::render::ConnOwners;

/// What the rows of one connection added up to.
#[derive(Debug, Clone)]
struct Tally {
    client: SocketAddr,
    server: SocketAddr,
    /// Frames and bytes on the wire, client→server and server→client.
    frames: [u64; 2],
    bytes: [u64; 2],
    first: RelTime,
    last: RelTime,
}

/// Each connection's frames and bytes, gathered row by row (ICMP errors
/// about a flow are not its frames, as in tshark's conversations).
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    conns: FastMap<usize, Tally>,
    owners: ConnOwners,
    rtts: Rtts,
}

/// One connection as listed: the rows' tally with the analysis' summary.
#[derive(Debug)]
pub(crate) struct Conversation<'a> {
    tally: &'a Tally,
    summary: Summary,
    client: Option<&'a Owner>,
    server: Option<&'a Owner>,
    rtt: Option<RttStats>,
}

impl Tallies {
    /// Nothing counted yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Counts one row shown, sent by `sender`.
    pub(crate) fn note(&mut self, row: &Row, sender: Option<&Owner>) {
        self.owners.note(row, sender);
        self.rtts.note(row);
        let (Some(conn), Some(dir), Some((src, dst))) = (row.conn, row.direction, row.ip_ends())
        else {
            return;
        };
        if !matches!(row.kind, Kind::Tcp | Kind::Udp) {
            return;
        }
        let (client, server) = match dir {
            Direction::ClientToServer => (src, dst),
            Direction::ServerToClient => (dst, src),
        };
        let t = self.conns.entry(conn).or_insert(Tally {
            client,
            server,
            frames: [0; 2],
            bytes: [0; 2],
            first: row.time,
            last: row.time,
        });
        let i = usize::from(dir == Direction::ServerToClient);
        t.frames[i] += 1;
        t.bytes[i] += u64::from(row.length);
        t.last = t.last.max(row.time);
        t.first = t.first.min(row.time);
    }

    /// The connections shown, in number order, with their analysis.
    pub(crate) fn conversations<'a>(&'a mut self, end: &End<'_>) -> Vec<Conversation<'a>> {
        let Tallies {
            conns,
            owners,
            rtts,
        } = self;
        end.summaries()
            .filter_map(|summary| {
                let tally = conns.get(&summary.conn)?;
                let (client, server) = owners.get(summary.conn);
                let rtt = rtts.stats(summary.conn);
                Some(Conversation {
                    tally,
                    summary,
                    client,
                    server,
                    rtt,
                })
            })
            .collect()
    }
}

/// Seconds with `decimals` (at most 9) decimals, rounded.
fn secs(t: Duration, decimals: u32) -> String {
    let unit = 10u128.pow(9 - decimals.min(9));
    let n = (t.as_nanos() + unit / 2) / unit;
    let scale = 10u128.pow(decimals.min(9));
    format!(
        "{}.{:0width$}",
        n / scale,
        n % scale,
        width = decimals as usize
    )
}

/// Milliseconds for a column, `-` for none.
fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| Millis(d).to_string())
}

fn process(o: Option<&Owner>) -> String {
    o.map_or_else(|| "unknown".to_string(), ToString::to_string)
}

/// The heading of the conversation lines (`->` client to server, `<-`
/// server to client, as tshark's columns).
pub(crate) fn heading() -> String {
    format!(
        "{:>4} {:<5} {:<43} {:<43} {:>9} {:>9}   {:>9} {:>9}   {:>6} {:>10}   {:>12} {:>10} {:>5} {:>4} {:>4} {:>4}  {:>10} {:>10} {:>10}  {}",
        "Conn",
        "Proto",
        "Client",
        "Server",
        "-> Frames",
        "Bytes",
        "<- Frames",
        "Bytes",
        "Frames",
        "Bytes",
        "Rel. start",
        "Duration",
        "Retr",
        "OOO",
        "Dup",
        "Lost",
        "RTT min ms",
        "median",
        "max",
        "Client process / server process"
    )
}

impl Conversation<'_> {
    /// The connection's line under [`heading`]: frames and bytes (on the
    /// wire, as tshark counts them) client→server, server→client and in
    /// all, relative start, duration, analysis counts (retransmissions of
    /// every kind, out-of-order segments, duplicate ACKs, segments not
    /// captured), the RTTs' min, median and max in milliseconds (`-` when
    /// no ACK was timed) and the processes at each end.
    pub(crate) fn line(&self) -> String {
        let (t, s) = (self.tally, &self.summary);
        format!(
            "{:>4} {:<5} {:<43} {:<43} {:>9} {:>9}   {:>9} {:>9}   {:>6} {:>10}   {:>12} {:>10} {:>5} {:>4} {:>4} {:>4}  {:>10} {:>10} {:>10}  {} / {}",
            s.conn,
            s.protocol.to_string(),
            t.client.to_string(),
            t.server.to_string(),
            t.frames[0],
            t.bytes[0],
            t.frames[1],
            t.bytes[1],
            t.frames[0] + t.frames[1],
            t.bytes[0] + t.bytes[1],
            t.first.to_decimals(6),
            secs(t.last.since(t.first), 4),
            s.retransmissions.count,
            s.out_of_order.count,
            s.dup_acks.count,
            s.not_captured.count,
            ms(self.rtt.map(|r| r.min)),
            ms(self.rtt.map(|r| r.median)),
            ms(self.rtt.map(|r| r.max)),
            process(self.client),
            process(self.server),
        )
    }

    /// The connection as one JSON object, `{"type":"connection",…}`.
    pub(crate) fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        let (t, s) = (self.tally, &self.summary);
        out.write_all(b"{\"type\":\"connection\"")?;
        write!(
            out,
            ",\"connection\":{},\"protocol\":\"{}\"",
            s.conn, s.protocol
        )?;
        write!(
            out,
            ",\"client\":\"{}\",\"client_port\":{},\"server\":\"{}\",\"server_port\":{}",
            t.client.ip(),
            t.client.port(),
            t.server.ip(),
            t.server.port()
        )?;
        write!(
            out,
            ",\"frames_to_server\":{},\"bytes_to_server\":{},\"frames_to_client\":{},\"bytes_to_client\":{},\"frames\":{},\"bytes\":{}",
            t.frames[0],
            t.bytes[0],
            t.frames[1],
            t.bytes[1],
            t.frames[0] + t.frames[1],
            t.bytes[0] + t.bytes[1]
        )?;
        write!(
            out,
            ",\"payload_to_server\":{},\"payload_to_client\":{}",
            s.bytes[0], s.bytes[1]
        )?;
        write!(
            out,
            ",\"start\":{},\"duration\":{}",
            t.first.to_decimals(6),
            secs(t.last.since(t.first), 6)
        )?;
        for (name, o) in [
            ("client_process", self.client),
            ("server_process", self.server),
        ] {
            json::key(out, false, name)?;
            write_owner(out, o)?;
        }
        write!(
            out,
            ",\"retransmissions\":{},\"fast_retransmissions\":{},\"spurious_retransmissions\":{},\"out_of_order\":{},\"dup_acks\":{},\"lost_segments\":{}",
            s.retransmissions.count,
            s.fast_retransmissions,
            s.spurious_retransmissions,
            s.out_of_order.count,
            s.dup_acks.count,
            s.not_captured.count
        )?;
        let frames = |l: &[usize]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        let hs: Vec<usize> = s.handshake.iter().map(|h| h.0).collect();
        let td: Vec<usize> = s.teardown.iter().map(|h| h.0).collect();
        write!(
            out,
            ",\"handshake\":[{}],\"teardown\":[{}],\"mid_stream\":{}",
            frames(&hs).join(","),
            frames(&td).join(","),
            s.mid_stream
        )?;
        json::key(out, false, "close")?;
        json::opt_string(out, s.close.as_deref())?;
        write!(out, ",\"acks_timed\":{}", self.rtt.map_or(0, |r| r.count))?;
        for (name, d) in [
            ("rtt_min", self.rtt.map(|r| r.min)),
            ("rtt_median", self.rtt.map(|r| r.median)),
            ("rtt_max", self.rtt.map(|r| r.max)),
        ] {
            json::key(out, false, name)?;
            match d {
                Some(d) => out.write_all(seconds(d).as_bytes())?,
                None => out.write_all(b"null")?,
            }
        }
        out.write_all(b"}\n")
    }
}

/// A process as a JSON object (`null` when none was proven).
pub(crate) fn write_owner(out: &mut impl Write, o: Option<&Owner>) -> io::Result<()> {
    let Some(o) = o else {
        return out.write_all(b"null");
    };
    write!(out, "{{\"pid\":{},\"name\":", o.pid)?;
    json::string(out, o.program())?;
    json::key(out, false, "cmd")?;
    json::opt_string(out, o.cmd.as_deref())?;
    json::key(out, false, "args")?;
    json::strings(out, o.args.iter().map(String::as_str))?;
    out.write_all(b"}")
}

/// `--summary-only`: one line per connection, nothing per frame.
#[derive(Debug)]
pub struct Conversations<W: Write> {
    out: W,
    tallies: Tallies,
}

impl<W: Write> Conversations<W> {
    /// The conversations, written to `out` at the end.
    pub fn new(out: W) -> Self {
        Conversations {
            out,
            tallies: Tallies::new(),
        }
    }
}

impl<W: Write> Sink for Conversations<W> {
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.tallies.note(row, sender);
        Ok(())
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        let mut out = BufWriter::new(&mut self.out);
        let conversations = self.tallies.conversations(end);
        let written = (|| {
            if conversations.is_empty() {
                return writeln!(out, "No TCP or UDP traffic matched.");
            }
            writeln!(out, "{}", heading())?;
            for c in &conversations {
                writeln!(out, "{}", c.line())?;
            }
            out.flush()
        })();
        written.map_err(Error::Output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_rounded_to_the_decimals_asked() {
        assert_eq!(secs(Duration::from_nanos(10_849_999), 4), "0.0108");
        assert_eq!(secs(Duration::from_nanos(10_850_000), 4), "0.0109");
        assert_eq!(secs(Duration::from_secs(9), 6), "9.000000");
    }
}
