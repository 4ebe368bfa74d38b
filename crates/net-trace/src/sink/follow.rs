//! `--follow K`: one connection's payload in order, both directions
//! marked, as `tshark -q -z follow,tcp,ascii,N` prints it; `--raw` writes
//! the bytes themselves.
//!
//! TCP is reassembled by sequence number: each side's bytes are delivered
//! once, in order, whatever the capture saw (retransmissions and
//! duplicates dropped, a segment that overtook another held until the gap
//! before it fills). A gap the other side acknowledged was lost to the
//! capture, not to the connection: as tshark, it is marked `[N bytes
//! missing in capture file]` and the data after it is delivered. UDP
//! datagrams are shown as they came, one each.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;

use super::{End, Shown, Sink};
use crate::Error;
use crate::analyze::{Kind, Row};
use crate::decode::{Decoded, Decoder, Transport};
use crate::owners::Owner;

/// tshark's separator line.
const RULE: &str = "===================================================================";

/// Which directions `--raw` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// Both, in the order their bytes were delivered.
    Both,
    /// What the client sent.
    Client,
    /// What the server sent.
    Server,
}

/// One side's reassembly.
#[derive(Debug, Default)]
struct Side {
    /// Sequence number of the first payload byte.
    base: Option<u32>,
    /// Bytes delivered so far (offset from `base`).
    delivered: u64,
    /// Segments that start beyond a gap, by offset: the bytes captured
    /// and the length sent.
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
}

/// Offsets at or beyond this are taken as before `base` (sequence numbers
/// wrap at 2³²; half the space is as far as TCP lets a sender run ahead).
const HALF: u64 = 1 << 31;

impl Side {
    fn offset(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let off = u64::from(seq.wrapping_sub(base));
        (off < HALF).then_some(off)
    }
}

/// A piece of a stream to show: bytes, or a gap of so many bytes.
enum Piece {
    Data(Vec<u8>),
    Gap(u64),
}

/// Connection K's payload.
#[derive(Debug)]
pub struct Follow<W: Write> {
    out: BufWriter<W>,
    conn: usize,
    raw: Option<Raw>,
    /// `tcp` or `udp`, once the connection's first frame was seen.
    kind: Option<Kind>,
    /// Node 0 (the sender of the connection's first frame) and node 1.
    nodes: Option<(SocketAddr, SocketAddr)>,
    /// Node 0 is the client.
    node0_client: bool,
    sides: [Side; 2],
    /// TCP and UDP connections seen before K: tshark's stream index.
    tcp_before: HashSet<usize>,
    udp_before: HashSet<usize>,
    /// Bytes lost to the capture, per node.
    missing: [u64; 2],
    /// Decodes K's frames again (the rows carry no payload), with the IP
    /// fragments before them, so a datagram sent in pieces is whole.
    decoder: Decoder,
}

impl<W: Write> Follow<W> {
    /// Connection `conn` (as numbered in the table and summaries), as
    /// text, or as its raw bytes.
    pub fn new(out: W, conn: usize, raw: Option<Raw>) -> Self {
        Follow {
            out: BufWriter::new(out),
            conn,
            raw,
            kind: None,
            nodes: None,
            node0_client: true,
            sides: [Side::default(), Side::default()],
            tcp_before: HashSet::new(),
            udp_before: HashSet::new(),
            missing: [0; 2],
            decoder: Decoder::new(),
        }
    }

    /// Bytes missing from the capture, (client, server), once finished.
    pub(crate) fn missing(&self) -> (u64, u64) {
        if self.node0_client {
            (self.missing[0], self.missing[1])
        } else {
            (self.missing[1], self.missing[0])
        }
    }

    fn header(&mut self, row: &Row, src: SocketAddr, dst: SocketAddr) -> io::Result<()> {
        self.kind = Some(row.kind);
        self.nodes = Some((src, dst));
        self.node0_client = row
            .direction
            .is_none_or(|d| d == crate::analyze::Direction::ClientToServer);
        if self.raw.is_some() {
            return Ok(());
        }
        let (proto, index) = match row.kind {
            Kind::Udp => ("udp", self.udp_before.len()),
            _ => ("tcp", self.tcp_before.len()),
        };
        write!(
            self.out,
            "\n{RULE}\nFollow: {proto},ascii\nFilter: {proto}.stream eq {index}\nNode 0: {src}\nNode 1: {dst}\n"
        )
    }

    /// Shows one piece sent by `node`.
    fn show(&mut self, node: usize, piece: Piece) -> io::Result<()> {
        if let Piece::Gap(n) = piece {
            self.missing[node] += n;
        }
        match self.raw {
            Some(which) => {
                let client = (node == 0) == self.node0_client;
                let wanted = match which {
                    Raw::Both => true,
                    Raw::Client => client,
                    Raw::Server => !client,
                };
                match piece {
                    Piece::Data(d) if wanted => self.out.write_all(&d),
                    _ => Ok(()),
                }
            }
            None => {
                // tshark's text, NUL included (shown as a dot).
                let bytes = match piece {
                    Piece::Data(d) => d,
                    Piece::Gap(n) => format!("[{n} bytes missing in capture file]\0").into_bytes(),
                };
                let indent = if node == 1 { "\t" } else { "" };
                writeln!(self.out, "{indent}{}", bytes.len())?;
                let text: Vec<u8> = bytes
                    .iter()
                    .map(|&b| match b {
                        b'\n' | b'\r' | b'\t' | 0x20..=0x7e => b,
                        _ => b'.',
                    })
                    .collect();
                self.out.write_all(&text)?;
                self.out.write_all(b"\n")
            }
        }
    }

    /// Delivers what is pending on `node` from its current offset.
    fn drain(&mut self, node: usize) -> io::Result<()> {
        loop {
            let side = &mut self.sides[node];
            let Some(entry) = side.pending.first_entry() else {
                return Ok(());
            };
            let off = *entry.key();
            if off > side.delivered {
                return Ok(());
            }
            let (data, len) = entry.remove();
            let end = off + len;
            if end > side.delivered {
                // A segment cut by the snap length shows the bytes
                // captured, and the stream goes on after it, as tshark's.
                let skip = usize::try_from(side.delivered - off).unwrap_or(usize::MAX);
                let tail = data.get(skip..).unwrap_or_default().to_vec();
                side.delivered = end;
                if !tail.is_empty() {
                    self.show(node, Piece::Data(tail))?;
                }
            }
        }
    }

    /// The other side acknowledged `ack`: a gap it covers was lost to the
    /// capture.
    fn acked(&mut self, node: usize, ack: u32) -> io::Result<()> {
        let side = &self.sides[node];
        let (Some(acked), Some(first)) = (side.offset(ack), side.pending.keys().next().copied())
        else {
            return Ok(());
        };
        if acked > side.delivered && first > side.delivered && acked >= first {
            let gap = first - side.delivered;
            self.sides[node].delivered = first;
            self.show(node, Piece::Gap(gap))?;
            self.drain(node)?;
        }
        Ok(())
    }

    fn segment(
        &mut self,
        node: usize,
        seq: u32,
        syn: bool,
        data: &[u8],
        len: u32,
    ) -> io::Result<()> {
        let side = &mut self.sides[node];
        let start = seq.wrapping_add(u32::from(syn));
        if syn || side.base.is_none() {
            side.base.get_or_insert(start);
        }
        if len == 0 {
            return Ok(());
        }
        let Some(off) = side.offset(start) else {
            return Ok(());
        };
        let len = u64::from(len);
        if off + len <= side.delivered {
            return Ok(());
        }
        let keep = side.pending.get(&off).is_none_or(|p| p.1 < len);
        if keep {
            side.pending.insert(off, (data.to_vec(), len));
        }
        self.drain(node)
    }

    fn frame(&mut self, frame: &Shown<'_>, row: &Row) -> io::Result<()> {
        let Some((src, dst)) = row.ip_ends() else {
            return Ok(());
        };
        if self.nodes.is_none() {
            self.header(row, src, dst)?;
        }
        let node = usize::from(Some(src) != self.nodes.map(|n| n.0));
        let decoded = self
            .decoder
            .decode(frame.link, frame.data, frame.time, frame.wire_len);
        let Decoded::Packet(packet) = decoded else {
            return Ok(());
        };
        match packet.transport {
            Transport::Tcp(t) => {
                if t.flags.ack {
                    self.acked(1 - node, t.ack)?;
                }
                self.segment(node, t.seq, t.flags.syn, &t.payload, t.len)
            }
            Transport::Udp(u) if !u.payload.is_empty() => self.show(node, Piece::Data(u.payload)),
            _ => Ok(()),
        }
    }
}

impl<W: Write> Sink for Follow<W> {
    fn row(&mut self, frame: &Shown<'_>, row: &Row, _: Option<&Owner>) -> Result<(), Error> {
        let Some(conn) = row.conn else {
            // An IP fragment, perhaps of K's next datagram.
            if row.kind == Kind::Other && row.ip_ends().is_some() {
                let _ = self
                    .decoder
                    .decode(frame.link, frame.data, frame.time, frame.wire_len);
            }
            return Ok(());
        };
        if row.kind == Kind::Icmp {
            return Ok(());
        }
        if conn != self.conn {
            if self.nodes.is_none() {
                match row.kind {
                    Kind::Tcp => self.tcp_before.insert(conn),
                    Kind::Udp => self.udp_before.insert(conn),
                    _ => false,
                };
            }
            return Ok(());
        }
        self.frame(frame, row).map_err(Error::Output)
    }

    fn idle(&mut self) {
        let _ = self.out.flush();
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        if self.nodes.is_none() {
            let count = end.connection_count();
            return Err(Error::Follow(format!(
                "there is no connection {} to follow (connections are numbered 1 to {count}, as in the summaries)",
                self.conn
            )));
        }
        // Data still beyond a gap: what came before it never showed.
        for node in 0..2 {
            let first = self.sides[node].pending.keys().next().copied();
            if let Some(first) = first {
                let gap = first - self.sides[node].delivered;
                self.sides[node].delivered = first;
                self.show(node, Piece::Gap(gap)).map_err(Error::Output)?;
                self.drain(node).map_err(Error::Output)?;
            }
        }
        if self.raw.is_none() {
            writeln!(self.out, "{RULE}").map_err(Error::Output)?;
        } else if let (client, server) = self.missing()
            && client + server > 0
        {
            log::warn!(
                "connection {}: {client} bytes client→server and {server} bytes server→client are missing from the capture (left out of the raw bytes)",
                self.conn
            );
        }
        self.out.flush().map_err(Error::Output)
    }
}
