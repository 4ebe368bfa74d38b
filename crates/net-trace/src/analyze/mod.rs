//! Streams: connections and flows as tshark's `tcp.stream` finds them,
//! who is client and server, relative sequence numbers, each side's TCP
//! state, the handshake, the teardown in each of its shapes, tshark's
//! TCP analysis (retransmissions, duplicate ACKs, out-of-order segments…:
//! `seq_analysis`), and the ICMP errors that answer a flow.
//!
//! [`Analyzer::push`] annotates each packet as it arrives (so a live
//! capture can print rows at once); [`Analyzer::summaries`] describes every
//! connection at the end. Memory grows with the number of connections,
//! never with the number of frames: each keeps a fixed-size record
//! (frame numbers of its handshake and teardown, counters, and at most
//! `RETRANSMISSIONS_LISTED` frame numbers of each kind of trouble and
//! `ICMP_LISTED` ICMP ones), and the segments not yet acknowledged, at
//! most `UNACKED_LISTED` per direction.
//!
//! # Rules
//! - A TCP stream is a 4-tuple **and** a generation: a SYN (without ACK)
//!   whose sequence number differs from the first one seen in its
//!   direction starts a new connection, as tshark 4.0 decides.
//! - Relative numbers as tshark's: a direction's base is its SYN's
//!   sequence number, or one less than the first sequence number seen
//!   when the SYN was not captured; the other direction's base is learnt
//!   from the first Ack (minus one) when its own frames came later. A
//!   capture that begins mid-connection thus starts at Seq=1 Ack=1.
//! - Roles: the sender of the first SYN is the client (the receiver of a
//!   SYN-ACK, when only that was captured). Otherwise, and for UDP, ports
//!   decide when they can: a well-known port (below 1024) facing any
//!   other, or a port below the ephemeral range (32768) facing one in it,
//!   is the server's. When neither rule applies, a UDP flow's first
//!   sender is the client and a TCP connection's lower port the server's.
//!   So a UDP flow whose first datagram was lost is not turned around by
//!   the server's reply coming first.

pub(crate) mod rel_time;
pub(crate) mod seq_analysis;
mod tcp_state;

pub use rel_time::RelTime;
pub use seq_analysis::Findings;
pub use tcp_state::TcpState;

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use net_core::text::preview_into;

use crate::decode::{BadChecksum, Fragment, Icmp, OtherFrame, Packet, Tcp, Transport, Udp};
use crate::hash::FastMap;
use crate::text::push_u64;
use tcp_state::Segment;

/// Payload characters shown for data frames.
const PREVIEW: usize = 40;

/// Retransmitted frames listed per connection (the rest are counted), so
/// a lossy connection's record stays small; as many duplicate ACKs,
/// out-of-order segments and gaps.
pub(crate) const RETRANSMISSIONS_LISTED: usize = 16;

/// ICMP errors listed per flow (the rest are counted): a client sending to
/// a closed port draws one per datagram.
pub(crate) const ICMP_LISTED: usize = 16;

/// Segments waiting for their ACK kept per direction (tshark's
/// `TCP_MAX_UNACKED_SEGMENTS`): a capture that misses one side's ACKs
/// stops adding, so memory stays bounded.
pub(crate) const UNACKED_LISTED: usize = 1000;

/// Below this port a service is well known (IANA system ports).
const WELL_KNOWN_END: u16 = 1024;

/// Start of the ephemeral range clients' ports come from (Linux's
/// default; Windows and the BSDs start higher, at 49152).
const EPHEMERAL_START: u16 = 32768;

/// Text tshark shows for a frame cut by the snap length.
pub const SIZE_LIMITED: &str = "[Packet size limited during capture]";

/// Text tshark shows for a header that does not fit in its packet as sent
/// (a length corrupted on the way).
pub(crate) const MALFORMED: &str = "[Malformed Packet]";

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client (the SYN sender) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }

    fn from_index(i: usize) -> Direction {
        if i == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    /// `client` or `server`: who sent it.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        }
    }

    /// `server` or `client`: who received it.
    pub(crate) fn receiver(self) -> &'static str {
        match self {
            Direction::ClientToServer => "server",
            Direction::ServerToClient => "client",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Direction::ClientToServer => "client→server",
            Direction::ServerToClient => "server→client",
        })
    }
}

/// A row's Source and Destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ends {
    /// An IP packet's sender and receiver (port 0 where the protocol has
    /// none).
    Ip {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
    },
    /// A frame that is not IP: the link layer's names (MAC addresses,
    /// `Broadcast`, or empty).
    Link {
        /// Source column.
        src: String,
        /// Destination column.
        dst: String,
    },
}

/// One annotated frame, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Frame number: its position in the file (or capture), from 1.
    pub no: usize,
    /// Time since the first frame (negative for a frame stamped before it).
    pub time: RelTime,
    /// Source and destination.
    pub ends: Ends,
    /// Protocol column: `TCP`, `UDP`, `ICMP`, `ICMPv6`, `IPv4`, `ARP`…
    pub protocol: Cow<'static, str>,
    /// What the frame carries, for code that must tell (the protocol
    /// column is for reading).
    pub(crate) kind: Kind,
    /// Frame length on the wire.
    pub length: u32,
    /// Connection (or UDP flow) number, from 1, unique per generation of
    /// a 4-tuple; an ICMP error carries the number of the flow it answers.
    pub conn: Option<usize>,
    /// Direction within the connection.
    pub direction: Option<Direction>,
    /// TCP states after this frame, `[client, server]`.
    pub states: Option<[TcpState; 2]>,
    /// tshark-style info: ports, flags, relative Seq/Ack, Win, Len.
    pub info: String,
    /// What this frame is in the conversation: `handshake 1/3 (SYN)`,
    /// `teardown: FIN from the client`, `retransmission`, `data …`.
    pub notes: Vec<String>,
    /// tshark's TCP analysis of the segment (also shown as tags at the
    /// start of `info`); all false for other frames.
    pub analysis: Findings,
    /// A checksum proves the frame was corrupted on the way: its receiver
    /// drops it, so it is no connection's (no number, direction, state or
    /// analysis), and nothing it says is counted.
    pub(crate) bad_checksum: Option<BadChecksum>,
    /// A TCP segment's numbers as its connection sees them, for the
    /// details pane.
    pub(crate) tcp: Option<TcpNumbers>,
}

/// What a TCP segment's own header cannot say: relative numbering, the
/// window as scaled, and which earlier segment it acknowledges (tshark's
/// `[SEQ/ACK analysis]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpNumbers {
    /// Base of this direction's relative sequence numbers.
    pub(crate) seq_base: u32,
    /// Base of the other direction's (what relative Ack and SACK edges
    /// are counted from); 0 while unknown.
    pub(crate) ack_base: u32,
    /// The window field as scaled (tshark's `[Calculated window size]`).
    pub(crate) window: u64,
    /// tshark's `[Window size scaling factor]`: the multiplier, -1 while
    /// unknown (a SYN not captured), -2 when a SYN came without the option.
    pub(crate) scale_factor: i64,
    /// The earlier segment of the other side this one acknowledges
    /// exactly, and how long after it this came (the RTT).
    pub(crate) acks: Option<(usize, Duration)>,
    /// From the SYN to the ACK that completed the handshake, once seen
    /// (tshark's iRTT).
    pub(crate) initial_rtt: Option<Duration>,
}

impl Row {
    /// The IP sender and receiver, for an IP frame.
    pub(crate) fn ip_ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self.ends {
            Ends::Ip { src, dst } => Some((src, dst)),
            Ends::Link { .. } => None,
        }
    }
}

/// What a row's frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A TCP segment.
    Tcp,
    /// A UDP datagram.
    Udp,
    /// An ICMP or ICMPv6 message.
    Icmp,
    /// Anything else (a fragment, another IP protocol, a non-IP frame).
    Other,
}

/// An ICMP error that answered a frame of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IcmpAnswer {
    /// The ICMP frame.
    pub(crate) frame: usize,
    /// The frame it answers: the flow's last one in the quoted direction
    /// (`None` when that was not captured).
    pub(crate) answers: Option<usize>,
    /// Whose host sent the ICMP error: the receiver of the quoted datagram.
    pub(crate) from: Direction,
    /// Destination unreachable (port unreachable): nothing was listening.
    pub(crate) port_unreachable: bool,
    /// The ICMP message, as the Info column says it.
    pub(crate) what: String,
}

/// The transport a connection or flow runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Proto {
    /// A TCP connection.
    Tcp,
    /// A UDP flow.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        })
    }
}

/// Frames of one kind: the first [`RETRANSMISSIONS_LISTED`], and how many
/// in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The first frame numbers.
    pub(crate) frames: Vec<usize>,
    /// Frames in all.
    pub(crate) count: u64,
}

impl Listed {
    fn push(&mut self, no: usize) {
        self.count += 1;
        if self.frames.len() < RETRANSMISSIONS_LISTED {
            self.frames.push(no);
        }
    }

    /// Frames counted but not listed.
    pub(crate) fn more(&self) -> u64 {
        self.count.saturating_sub(self.frames.len() as u64)
    }
}

impl Listed {
    /// Renumbered by `number` (frames it does not number are left out).
    fn renumber(&mut self, number: &impl Fn(usize) -> Option<usize>) {
        self.frames = self.frames.iter().filter_map(|&n| number(n)).collect();
    }
}

impl Summary {
    /// The frames it names numbered by `number` instead (a capture narrowed
    /// to some processes numbers its rows as the file it saves); a frame
    /// `number` does not know is left out, or named as not in the capture.
    pub(crate) fn renumber(&mut self, number: impl Fn(usize) -> Option<usize>) {
        self.handshake
            .retain_mut(|(no, ..)| number(*no).map(|n| *no = n).is_some());
        self.teardown
            .retain_mut(|(no, ..)| number(*no).map(|n| *no = n).is_some());
        self.after_close = self
            .after_close
            .and_then(|(no, d)| number(no).map(|n| (n, d)));
        for l in [
            &mut self.retransmissions,
            &mut self.out_of_order,
            &mut self.dup_acks,
            &mut self.not_captured,
        ] {
            l.renumber(&number);
        }
        for i in &mut self.icmp {
            i.frame = number(i.frame).unwrap_or(i.frame);
            i.answers = i.answers.and_then(&number);
        }
        self.span = (
            number(self.span.0).unwrap_or(self.span.0),
            number(self.span.1).unwrap_or(self.span.1),
        );
    }
}

/// What a connection's frames amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Connection number (the one on its rows).
    pub(crate) conn: usize,
    /// TCP or UDP.
    pub(crate) protocol: Proto,
    /// The client's address.
    pub(crate) client: SocketAddr,
    /// The server's address.
    pub(crate) server: SocketAddr,
    /// The capture began after the connection opened (no SYN seen).
    pub(crate) mid_stream: bool,
    /// Handshake frames with what each was: `(1, "SYN", client)`.
    pub(crate) handshake: Vec<(usize, &'static str, Direction)>,
    /// Teardown frames with what each was.
    pub(crate) teardown: Vec<(usize, String, Direction)>,
    /// The teardown's shape, when it happened.
    pub(crate) close: Option<String>,
    /// A reset sent after both FINs were acknowledged, answering a stray
    /// segment (a duplicate or a late one) that reached the closed port:
    /// not the teardown, which was the FIN exchange.
    pub(crate) after_close: Option<(usize, Direction)>,
    /// Frames carrying payload.
    pub(crate) data_frames: u64,
    /// Payload bytes client→server and server→client, every copy counted
    /// (retransmissions and duplicates too).
    pub(crate) bytes: [u64; 2],
    /// The streams' lengths client→server and server→client: from the
    /// lowest byte of payload seen to the highest, each byte once however
    /// often it was sent (a byte the capture missed between them counts:
    /// the receiver's ACKs go past it). `bytes` less this is what was sent
    /// again.
    pub(crate) stream: [u64; 2],
    /// Retransmitted frames, of every kind.
    pub(crate) retransmissions: Listed,
    /// Of which fast retransmissions (asked for by duplicate ACKs).
    pub(crate) fast_retransmissions: u64,
    /// Of which spurious ones (already acknowledged).
    pub(crate) spurious_retransmissions: u64,
    /// Segments overtaken by later ones.
    pub(crate) out_of_order: Listed,
    /// Duplicate ACKs.
    pub(crate) dup_acks: Listed,
    /// Segments after a gap: what came before them was not captured.
    pub(crate) not_captured: Listed,
    /// ICMP errors answering this flow (the first [`ICMP_LISTED`]).
    pub(crate) icmp: Vec<IcmpAnswer>,
    /// ICMP errors in all.
    pub(crate) icmp_count: u64,
    /// Frames in total (ICMP errors not included).
    pub(crate) frames: u64,
    /// First and last frame numbers.
    pub(crate) span: (usize, usize),
    /// TCP states after the last frame, `[client, server]`.
    pub(crate) states: Option<[TcpState; 2]>,
}

/// A FIN sent in one direction.
#[derive(Debug, Clone, Copy)]
struct Fin {
    no: usize,
    /// Sequence number just after it.
    end: u32,
    /// It also carried ACK.
    ack: bool,
    /// The frame that acknowledged it.
    acked_by: Option<usize>,
}

/// One connection or flow: a fixed-size record, whatever its length.
#[derive(Debug)]
struct Conn {
    id: usize,
    tcp: bool,
    client: SocketAddr,
    server: SocketAddr,
    mid_stream: bool,
    /// Base for relative sequence numbers, per direction.
    base: [Option<u32>; 2],
    /// End of what occupied sequence space (data, SYN, FIN) so far, per
    /// direction: what was sent before, whatever bare segments say.
    high: [Option<u32>; 2],
    /// Window scale announced in each direction's SYN; scaling applies
    /// only when both sides announced one.
    scale: [Option<u8>; 2],
    /// A SYN was seen in each direction.
    saw_syn: [bool; 2],
    /// The client's SYN and the server's SYN-ACK: frame and sequence end.
    syn: [Option<(usize, u32)>; 2],
    /// The ACK completing the handshake.
    ack3: Option<usize>,
    /// The client sent something other than a SYN.
    client_spoke: bool,
    fin: [Option<Fin>; 2],
    rst: Option<(usize, Direction)>,
    states: [TcpState; 2],
    /// Per direction, a byte of its stream the receiver is known to miss:
    /// it keeps acknowledging up to there only (duplicate ACKs), or the
    /// sender resends from there, or the capture saw a gap. Cleared when
    /// the receiver's ACK goes past it.
    missing: [Option<u32>; 2],
    /// Per direction, the end of a FIN sent while bytes before it were
    /// missing at the receiver: the receiver takes it when its ACK covers
    /// it.
    fin_pending: [Option<u32>; 2],
    /// Last frame per direction (what an ICMP error answers).
    last: [usize; 2],
    first_no: usize,
    frames: u64,
    data_frames: u64,
    bytes: [u64; 2],
    /// The lowest and highest sequence numbers of payload seen, per
    /// direction: the stream's extent.
    data_span: [Option<(u32, u32)>; 2],
    /// tshark's analysis of the sequence numbers.
    seq: seq_analysis::SeqAnalysis,
    /// Each direction's segments not yet acknowledged, newest last, for
    /// the frame and RTT an ACK answers; at most [`UNACKED_LISTED`] each.
    unacked: [Vec<Unacked>; 2],
    /// Retransmissions and ICMP errors: most connections have none, so
    /// they live apart, allocated on the first.
    rare: Option<Box<Rare>>,
}

/// The parts of a connection's record most connections never need.
#[derive(Debug, Default)]
struct Rare {
    /// A reset after both FINs were acknowledged (see [`Summary::after_close`]).
    after_close: Option<(usize, Direction)>,
    retransmissions: Listed,
    fast_retransmissions: u64,
    spurious_retransmissions: u64,
    out_of_order: Listed,
    dup_acks: Listed,
    not_captured: Listed,
    icmp: Vec<IcmpAnswer>,
    icmp_count: u64,
}

impl Conn {
    fn new(id: usize, tcp: bool, client: SocketAddr, server: SocketAddr, no: usize) -> Conn {
        Conn {
            id,
            tcp,
            client,
            server,
            mid_stream: false,
            base: [None; 2],
            high: [None; 2],
            scale: [None; 2],
            saw_syn: [false; 2],
            syn: [None; 2],
            ack3: None,
            client_spoke: false,
            fin: [None; 2],
            rst: None,
            states: [TcpState::Closed, TcpState::Listen],
            missing: [None; 2],
            fin_pending: [None; 2],
            last: [0; 2],
            first_no: no,
            frames: 0,
            data_frames: 0,
            bytes: [0; 2],
            data_span: [None; 2],
            seq: seq_analysis::SeqAnalysis::default(),
            unacked: [Vec::new(), Vec::new()],
            rare: None,
        }
    }

    fn direction(&self, src: SocketAddr) -> Direction {
        if src == self.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
}

/// A segment waiting for its ACK.
#[derive(Debug, Clone, Copy)]
struct Unacked {
    no: usize,
    time: Duration,
    seq: u32,
    end: u32,
}

/// One TCP segment as its connection sees it.
struct Seg<'a> {
    t: &'a Tcp,
    /// Its frame number.
    no: usize,
    direction: Direction,
    /// The sending side's index, and the other side's.
    d: usize,
    other: usize,
    /// The sequence number after it.
    seq_end: u32,
}

impl Conn {
    /// The Info column as tshark writes it: ports, flags, relative Seq and
    /// Ack, the scaled window, Urg and Len.
    fn write_info(&mut self, p: &Packet, seg: &Seg<'_>, info: &mut String) -> TcpNumbers {
        let (t, d, other) = (seg.t, seg.d, seg.other);
        let base = *self.base[d].get_or_insert(if t.flags.syn {
            t.seq
        } else {
            t.seq.wrapping_sub(1)
        });
        if t.flags.ack && self.base[other].is_none() {
            self.base[other] = Some(t.ack.wrapping_sub(1));
        }
        // A SYN whose options were cut by the snap length says nothing of
        // scaling: as for tshark, it stays unknown (-1), not unused (-2).
        if t.flags.syn && !t.header_cut {
            self.scale[d] = t.window_scale;
            self.saw_syn[d] = true;
        }
        let shift = self.window_shift(d, t.flags.syn);
        tcp_info(info, p, t, [Some(base), self.base[other]], shift, "");
        let scale_factor = match self.scale {
            [Some(a), Some(b)] => 1 << [a, b][d].min(14),
            _ if self.saw_syn == [true; 2] => -2,
            _ => -1,
        };
        TcpNumbers {
            seq_base: base,
            ack_base: self.base[other].unwrap_or(0),
            window: u64::from(t.window) << shift.unwrap_or(0),
            scale_factor,
            // The segment still leaves the list; where its header was cut,
            // tshark's SEQ/ACK analysis of it (the RTT) is never shown.
            acks: self.acknowledge(seg, p.time).filter(|_| !t.header_cut),
            initial_rtt: self.seq.initial_rtt(),
        }
    }

    /// How far side `d`'s window field is shifted: as Wireshark, scaled
    /// except in SYNs, once both sides announced a scale.
    fn window_shift(&self, d: usize, syn: bool) -> Option<u8> {
        match (syn, self.scale) {
            (false, [Some(a), Some(b)]) => Some([a, b][d].min(14)),
            _ => None,
        }
    }

    /// Lists the segment as waiting for its ACK, and finds the other
    /// side's segment it acknowledges exactly, as tshark does: every
    /// segment wholly acknowledged leaves the list, the oldest exact
    /// match names the frame.
    fn acknowledge(&mut self, seg: &Seg<'_>, time: Duration) -> Option<(usize, Duration)> {
        let t = seg.t;
        let mine = &mut self.unacked[seg.d];
        if t.seq_len() > 0 && mine.len() < UNACKED_LISTED {
            mine.push(Unacked {
                no: seg.no,
                time,
                seq: t.seq,
                end: seg.seq_end,
            });
        }
        if !t.flags.ack {
            return None;
        }
        let mut acks = None;
        let theirs = &mut self.unacked[seg.other];
        // Newest first, as tshark walks its list.
        for u in theirs.iter_mut().rev() {
            if u.end == t.ack {
                acks = Some((u.no, time.saturating_sub(u.time)));
            } else if seq_lt(u.seq, t.ack) && seq_lt(t.ack, u.end) {
                u.seq = t.ack;
            }
        }
        theirs.retain(|u| seq_lt(t.ack, u.end));
        acks
    }

    /// Runs tshark's analysis on the segment, counts what it found for
    /// the summary and explains it in the notes.
    fn note_analysis(
        &mut self,
        seg: &Seg<'_>,
        time: Duration,
        ports_reused: bool,
        notes: &mut Vec<String>,
    ) -> Findings {
        let (t, d, other) = (seg.t, seg.d, seg.other);
        let rev_scale = self.saw_syn[other].then(|| match self.scale {
            [Some(a), Some(b)] => [a, b][other].min(14),
            _ => 0,
        });
        let mut f = self.seq.push(&seq_analysis::Segment {
            no: seg.no,
            time,
            d,
            seq: t.seq,
            ack: t.ack,
            len: t.len,
            syn: t.flags.syn,
            fin: t.flags.fin,
            rst: t.flags.rst,
            has_ack: t.flags.ack,
            window: u32::from(t.window),
            rev_scale,
        });
        f.ports_reused = ports_reused;
        let starts_new = self.high[d].is_none_or(|h| seq_le(h, t.seq));
        f.overtaken = (f.retransmission || f.fast_retransmission) && starts_new;
        // Only what occupies sequence space moves the mark (tshark's
        // `nextseq` moves for bare segments too): a bare ACK sent after a
        // FIN carries the FIN's end as its Seq, and may overtake the FIN
        // on a real path; the FIN that arrives after it is still the
        // first.
        if t.seq_len() > 0 && self.high[d].is_none_or(|h| seq_lt(h, seg.seq_end)) {
            self.high[d] = Some(seg.seq_end);
        }
        let (sender, receiver) = (seg.direction.sender(), seg.direction.receiver());
        if f.previous_not_captured {
            notes.push(
                "a segment before this one is not in the capture (lost on the way, or missed)"
                    .into(),
            );
        }
        if f.acked_unseen {
            notes.push("acknowledges a segment not in the capture".into());
        }
        if f.overtaken {
            notes.push(
                "not sent before: a later segment overtook it (tshark calls it a retransmission)"
                    .into(),
            );
        } else if f.retransmission {
            notes.push("retransmission".into());
        } else if f.fast_retransmission {
            notes.push(format!(
                "fast retransmission: the {receiver}'s duplicate ACKs asked for it"
            ));
        }
        if f.spurious_retransmission {
            notes.push(format!(
                "spurious retransmission: the {receiver} had already acknowledged it"
            ));
        }
        if f.out_of_order {
            notes.push("out of order: a later segment came first".into());
        }
        if let Some((frame, n)) = f.dup_ack {
            notes.push(format!(
                "duplicate ACK #{n} of frame {frame}: the {sender} still waits for the same byte"
            ));
        }
        let trouble =
            f.resent() || f.out_of_order || f.dup_ack.is_some() || f.previous_not_captured;
        if trouble {
            let rare = self.rare.get_or_insert_default();
            if f.sent_before() {
                rare.retransmissions.push(seg.no);
                rare.fast_retransmissions += u64::from(f.fast_retransmission);
                rare.spurious_retransmissions += u64::from(f.spurious_retransmission);
            }
            if f.out_of_order || f.overtaken {
                rare.out_of_order.push(seg.no);
            }
            if f.dup_ack.is_some() {
                rare.dup_acks.push(seg.no);
            }
            if f.previous_not_captured {
                rare.not_captured.push(seg.no);
            }
        }
        f
    }

    /// Notes the three handshake segments: the client's SYN, the
    /// server's SYN-ACK, and the client's first ACK of it.
    fn note_handshake(
        &mut self,
        seg: &Seg<'_>,
        retransmitted: bool,
        acks_syn: bool,
        notes: &mut Vec<String>,
    ) {
        let (t, d, no) = (seg.t, seg.d, seg.no);
        if t.flags.syn && !t.flags.ack {
            notes.push("handshake 1/3 (SYN)".into());
            if d == 0 && self.syn[0].is_none() {
                self.syn[0] = Some((no, seg.seq_end));
            }
        } else if t.flags.syn {
            notes.push("handshake 2/3 (SYN-ACK)".into());
            if d == 1 && self.syn[1].is_none() && self.syn[0].is_none_or(|(_, end)| end == t.ack) {
                self.syn[1] = Some((no, seg.seq_end));
            }
        } else if d == 0 && !self.client_spoke && !retransmitted && acks_syn && self.ack3.is_none()
        {
            notes.push("handshake 3/3 (ACK)".into());
            self.ack3 = Some(no);
        }
        if d == 0 && !t.flags.syn {
            self.client_spoke = true;
        }
    }

    /// Notes the teardown: the ACK of the other side's FIN, then this
    /// side's FIN; and a reset.
    fn note_teardown(
        &mut self,
        seg: &Seg<'_>,
        retransmitted: bool,
        acks_fin: bool,
        notes: &mut Vec<String>,
    ) {
        let (t, d, direction) = (seg.t, seg.d, seg.direction);
        if acks_fin
            && let Some(f) = self.fin[seg.other].as_mut()
            && f.acked_by.is_none()
        {
            f.acked_by = Some(seg.no);
            notes.push(format!(
                "teardown: ACK of the {}'s FIN",
                direction.receiver()
            ));
        }
        if t.flags.fin && !retransmitted && self.fin[d].is_none() {
            notes.push(format!("teardown: FIN from the {}", direction.sender()));
            self.fin[d] = Some(Fin {
                no: seg.no,
                end: seg.seq_end,
                ack: t.flags.ack,
                acked_by: None,
            });
        }
        if t.flags.rst {
            if self.closed() && self.rst.is_none() {
                let rare = self.rare.get_or_insert_default();
                // Both FINs were acknowledged: the connection is gone on
                // both sides, and this answers a stray segment (a
                // duplicate or a late one) that reached a closed port.
                notes.push(format!(
                    "reset by the {} after the close (answers a stray segment)",
                    direction.sender()
                ));
                rare.after_close.get_or_insert((seg.no, direction));
            } else {
                notes.push(format!("reset by the {}", direction.sender()));
                self.rst.get_or_insert((seg.no, direction));
            }
        }
    }

    /// Follows what each receiver is known to miss, and the FINs that wait
    /// for it; moves the receiver of a pending FIN that this segment's ACK
    /// proves arrived. Returns whether this segment's FIN (if any) is
    /// taken by its receiver now.
    fn track_missing(&mut self, seg: &Seg<'_>, f: &Findings, high_before: Option<u32>) -> bool {
        let (t, d, other) = (seg.t, seg.d, seg.other);
        if t.flags.ack {
            // The ACK goes past what this side missed.
            if self.missing[other].is_some_and(|m| seq_lt(m, t.ack)) {
                self.missing[other] = None;
            }
            // It covers the other side's FIN: that FIN is in, so this side
            // took it before sending this.
            if self.fin_pending[other].is_some_and(|end| seq_le(end, t.ack)) {
                self.fin_pending[other] = None;
                tcp_state::fin_arrived(&mut self.states, d);
            }
            // It repeats an ACK: this side still waits for that byte.
            if f.dup_ack.is_some() {
                self.missing[other] = Some(t.ack);
            }
        }
        let mut note = |at: u32| {
            if self.missing[d].is_none_or(|m| seq_lt(at, m)) {
                self.missing[d] = Some(at);
            }
        };
        // Resent (and not already acknowledged): the sender knows it was
        // lost.
        if f.sent_before() && !f.spurious_retransmission && t.len > 0 {
            note(t.seq);
        }
        // The capture saw a gap before this segment.
        if f.previous_not_captured
            && let Some(h) = high_before
        {
            note(h);
        }
        if !t.flags.fin {
            return true;
        }
        // The FIN's receiver misses bytes before it (a segment that
        // starts at or below the missing byte fills the gap). On a
        // connection that has lost or reordered segments, bytes still in
        // flight may be lost too: there the FIN is taken as arrived only
        // once the receiver's ACKs show everything before it did.
        let gap = self.missing[d].is_some_and(|m| seq_lt(m, t.seq))
            || (self.troubled() && {
                let acked = self.seq.last_ack(other);
                acked != 0 && seq_lt(acked, t.seq)
            });
        if gap {
            self.fin_pending[d].get_or_insert(seg.seq_end);
        } else {
            self.fin_pending[d] = None;
        }
        !gap
    }

    /// The connection has shown loss or reordering: a segment resent, out
    /// of order or missed by the capture, or a duplicate ACK.
    fn troubled(&self) -> bool {
        self.rare.as_ref().is_some_and(|r| {
            r.retransmissions.count + r.out_of_order.count + r.dup_acks.count + r.not_captured.count
                > 0
        })
    }

    /// Both sides' FINs were sent and acknowledged.
    fn closed(&self) -> bool {
        self.fin
            .iter()
            .all(|f| f.is_some_and(|f| f.acked_by.is_some()))
    }
}

/// `a` is before `b` in sequence space.
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

/// Which of two ports is the server's when the ports alone can tell
/// (see the module's rules): `Some(true)` for `a`.
fn server_by_port(a: u16, b: u16) -> Option<bool> {
    let well_known = |p: u16| p < WELL_KNOWN_END;
    let ephemeral = |p: u16| p >= EPHEMERAL_START;
    if well_known(a) != well_known(b) {
        Some(well_known(a))
    } else if ephemeral(a) != ephemeral(b) {
        Some(!ephemeral(a))
    } else {
        None
    }
}

/// The map key of a flow: its two ends in a fixed order, and the IP
/// protocol.
type FlowKey = (SocketAddr, SocketAddr, u8);

fn flow_key(a: SocketAddr, b: SocketAddr, protocol: u8) -> FlowKey {
    if a <= b {
        (a, b, protocol)
    } else {
        (b, a, protocol)
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The name tshark gives an IP protocol number, where it is a common one.
fn ip_protocol_name(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "ICMP",
        2 => "IGMP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => return None,
    })
}

/// Destination unreachable (port unreachable), in ICMP or ICMPv6.
fn is_port_unreachable(i: &Icmp) -> bool {
    if i.v6 {
        i.kind == 1 && i.code == 4
    } else {
        i.kind == 3 && i.code == 3
    }
}

/// Connection tracker.
#[derive(Debug, Default)]
pub struct Analyzer {
    start: Option<Duration>,
    frames: usize,
    conns: Vec<Conn>,
    /// Each flow's current generation.
    index: FastMap<FlowKey, usize>,
    /// Frames whose checksum proved them corrupted on the way.
    corrupted: u64,
}

impl Analyzer {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Numbers the next frame and gives its time since the first frame.
    fn next_frame(&mut self, time: Duration) -> (usize, RelTime) {
        self.frames += 1;
        let start = *self.start.get_or_insert(time);
        (self.frames, RelTime::between(start, time))
    }

    /// Counts a frame that is not shown (filtered out), so later frames
    /// keep their numbers and the time origin stays the first frame.
    pub(crate) fn skip(&mut self, time: Duration) {
        self.next_frame(time);
    }

    /// Annotates a frame that is not IP.
    pub fn push_other(&mut self, f: &OtherFrame) -> Row {
        let (no, time) = self.next_frame(f.time);
        let mut info = f.info.clone();
        if f.cap_len < f.wire_len && !info.contains(SIZE_LIMITED) {
            if !info.is_empty() {
                info.push(' ');
            }
            info.push_str(SIZE_LIMITED);
        }
        Row {
            no,
            time,
            ends: Ends::Link {
                src: f.src.clone(),
                dst: f.dst.clone(),
            },
            protocol: Cow::Owned(f.protocol.clone()),
            kind: Kind::Other,
            length: f.wire_len,
            conn: None,
            direction: None,
            states: None,
            info,
            notes: Vec::new(),
            analysis: Findings::default(),
            bad_checksum: None,
            tcp: None,
        }
    }

    /// Annotates the next packet.
    pub fn push(&mut self, p: &Packet) -> Row {
        let (no, time) = self.next_frame(p.time);
        let mut row = Row {
            no,
            time,
            ends: Ends::Ip {
                src: p.src,
                dst: p.dst,
            },
            protocol: Cow::Borrowed(""),
            kind: Kind::Other,
            length: p.wire_len,
            conn: None,
            direction: None,
            states: None,
            info: String::with_capacity(80),
            notes: Vec::new(),
            analysis: Findings::default(),
            bad_checksum: None,
            tcp: None,
        };
        if let Some(bad) = p.bad_checksum {
            self.push_corrupted(p, bad, &mut row);
            return row;
        }
        match &p.transport {
            Transport::Tcp(t) => self.tcp(p, t, &mut row),
            Transport::Udp(u) => self.udp(p, u, &mut row),
            Transport::Icmp(i) => self.icmp(i, &mut row),
            Transport::Fragment(f) => fragment(p, f, &mut row),
            Transport::Truncated(n) => truncated(p, *n, &mut row),
            Transport::OtherIp(n) => other_ip(p, *n, &mut row),
        }
        row
    }

    /// Shows a frame corrupted on the way as what it claims to be, with
    /// the checksum's verdict, and keeps it out of the analysis: its
    /// receiver dropped it, and any of its fields (addresses, ports,
    /// flags, numbers) may be the flipped one, so it creates no
    /// connection, changes no state, and is counted nowhere but in
    /// [`Analyzer::corrupted`].
    fn push_corrupted(&mut self, p: &Packet, bad: BadChecksum, row: &mut Row) {
        self.corrupted += 1;
        row.bad_checksum = Some(bad);
        match &p.transport {
            Transport::Tcp(t) => {
                row.protocol = Cow::Borrowed("TCP");
                row.kind = Kind::Tcp;
                // Numbers relative to the connection its addresses name,
                // when there is one (read, never changed); absolute
                // otherwise.
                let conn = self
                    .index
                    .get(&flow_key(p.src, p.dst, TCP))
                    .and_then(|&i| self.conns.get(i));
                let (base, shift) = conn.map_or(([None; 2], None), |c| {
                    let d = c.direction(p.src).index();
                    ([c.base[d], c.base[1 - d]], c.window_shift(d, t.flags.syn))
                });
                // Where tshark writes it: before the length.
                let tag = format!(" [{} CHECKSUM INCORRECT]", bad.of.name());
                tcp_info(&mut row.info, p, t, base, shift, &tag);
            }
            Transport::Udp(u) => {
                row.protocol = Cow::Borrowed("UDP");
                row.kind = Kind::Udp;
                udp_info(&mut row.info, p, u);
            }
            Transport::Icmp(i) => {
                row.protocol = Cow::Borrowed(if i.v6 { "ICMPv6" } else { "ICMP" });
                row.kind = Kind::Icmp;
                row.info = i.describe();
            }
            Transport::Fragment(f) => fragment(p, f, row),
            Transport::Truncated(n) => truncated(p, *n, row),
            Transport::OtherIp(n) => other_ip(p, *n, row),
        }
        if !row.info.contains(" CHECKSUM INCORRECT]") {
            let _ = write!(row.info, " [{} CHECKSUM INCORRECT]", bad.of.name());
        }
        row.notes.push(format!(
            "{} checksum 0x{:04x}, should be 0x{:04x}: corrupted on the way: the receiver drops it",
            bad.of.name(),
            bad.found,
            bad.expected
        ));
    }

    /// Frames whose checksum proved them corrupted on the way, left out
    /// of every connection.
    pub(crate) fn corrupted(&self) -> u64 {
        self.corrupted
    }

    /// The flow's current generation, or a new one; and whether that new
    /// one follows an earlier generation of the same 4-tuple.
    fn flow(
        &mut self,
        p: &Packet,
        protocol: u8,
        new_generation: impl Fn(&Conn) -> bool,
    ) -> (usize, bool) {
        let key = flow_key(p.src, p.dst, protocol);
        let earlier = self.index.get(&key).copied();
        if let Some(i) = earlier
            && let Some(c) = self.conns.get(i)
            && !new_generation(c)
        {
            return (i, false);
        }
        let src_is_server = match &p.transport {
            Transport::Tcp(t) if t.flags.syn => t.flags.ack,
            _ => server_by_port(p.src.port(), p.dst.port())
                .unwrap_or(protocol == TCP && p.src.port() < p.dst.port()),
        };
        let (client, server) = if src_is_server {
            (p.dst, p.src)
        } else {
            (p.src, p.dst)
        };
        let id = self.conns.len() + 1;
        self.conns
            .push(Conn::new(id, protocol == TCP, client, server, self.frames));
        self.index.insert(key, self.conns.len() - 1);
        (self.conns.len() - 1, earlier.is_some())
    }

    fn tcp(&mut self, p: &Packet, t: &Tcp, row: &mut Row) {
        row.protocol = Cow::Borrowed("TCP");
        row.kind = Kind::Tcp;
        let opens = t.flags.syn && !t.flags.ack;
        // tshark's rule: a SYN whose sequence number is not the one this
        // direction started with opens the tuple's next connection.
        let (idx, reused) = self.flow(p, TCP, |c| {
            opens && c.base[c.direction(p.src).index()].is_some_and(|b| b != t.seq)
        });
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        if c.frames == 0 {
            c.mid_stream = !t.flags.syn;
            c.states = match (t.flags.syn, t.flags.ack) {
                (true, false) => [TcpState::Closed, TcpState::Listen],
                (true, true) => [TcpState::SynSent, TcpState::Listen],
                _ => [TcpState::Established; 2],
            };
        }
        c.frames += 1;
        let direction = c.direction(p.src);
        let seg = Seg {
            t,
            no: row.no,
            direction,
            d: direction.index(),
            other: 1 - direction.index(),
            seq_end: t.seq.wrapping_add(t.seq_len()),
        };
        c.last[seg.d] = seg.no;
        row.conn = Some(c.id);
        row.direction = Some(direction);
        let notes = &mut row.notes;
        // tshark's Info names a cut only when the header itself was cut
        // (`Transport::Truncated`); a cut payload keeps its wire length in
        // Len=, and the note says the bytes are missing.
        if p.truncated() {
            notes.push(SIZE_LIMITED.to_string());
        }
        let high_before = c.high[seg.d];
        row.analysis = c.note_analysis(&seg, p.time, reused && opens, notes);
        row.analysis.write_tags(&mut row.info);
        row.tcp = Some(c.write_info(p, &seg, &mut row.info));
        let retransmitted = row.analysis.sent_before();
        // What this segment acknowledges of the other side.
        let acks_syn = t.flags.ack && c.syn[seg.other].is_some_and(|(_, end)| seq_le(end, t.ack));
        let acks_fin = t.flags.ack && c.fin[seg.other].is_some_and(|f| seq_le(f.end, t.ack));
        c.note_handshake(&seg, retransmitted, acks_syn, notes);
        c.note_teardown(&seg, retransmitted, acks_fin, notes);
        if t.len > 0 {
            c.bytes[seg.d] += u64::from(t.len);
            let (lo, hi) = (
                t.seq.wrapping_add(u32::from(t.flags.syn)),
                seg.seq_end.wrapping_sub(u32::from(t.flags.fin)),
            );
            let span = c.data_span[seg.d].get_or_insert((lo, hi));
            if seq_lt(lo, span.0) {
                span.0 = lo;
            }
            if seq_lt(span.1, hi) {
                span.1 = hi;
            }
            c.data_frames += 1;
            notes.push(preview_note("data ", &t.payload));
        }
        let fin_arrives = c.track_missing(&seg, &row.analysis, high_before);
        tcp_state::step(
            &mut c.states,
            seg.d,
            Segment {
                fin_arrives,
                syn: t.flags.syn,
                ack: t.flags.ack,
                fin: t.flags.fin,
                rst: t.flags.rst,
                // A SYN-ACK whose SYN was not captured still completes the
                // client's side.
                acks_syn: acks_syn || (t.flags.syn && t.flags.ack && c.syn[seg.other].is_none()),
                acks_fin,
            },
        );
        row.states = Some(c.states);
    }

    fn udp(&mut self, p: &Packet, u: &Udp, row: &mut Row) {
        row.protocol = Cow::Borrowed("UDP");
        row.kind = Kind::Udp;
        let (idx, _) = self.flow(p, UDP, |_| false);
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        c.frames += 1;
        let direction = c.direction(p.src);
        let d = direction.index();
        c.last[d] = row.no;
        c.bytes[d] += u64::from(u.len);
        if u.len > 0 {
            c.data_frames += 1;
        }
        row.conn = Some(c.id);
        row.direction = Some(direction);
        udp_info(&mut row.info, p, u);
        if p.truncated() {
            row.notes.push(SIZE_LIMITED.to_string());
        }
        row.notes.push(preview_note("datagram ", &u.payload));
    }

    fn icmp(&mut self, i: &Icmp, row: &mut Row) {
        row.protocol = Cow::Borrowed(if i.v6 { "ICMPv6" } else { "ICMP" });
        row.kind = Kind::Icmp;
        row.info = i.describe();
        let Some(q) = i.quoted else {
            return;
        };
        if q.protocol != TCP && q.protocol != UDP {
            return;
        }
        let Some(c) = self
            .index
            .get(&flow_key(q.src, q.dst, q.protocol))
            .and_then(|&idx| self.conns.get_mut(idx))
        else {
            return;
        };
        let quoted = c.direction(q.src);
        let answers = Some(c.last[quoted.index()]).filter(|&n| n > 0);
        let port_unreachable = is_port_unreachable(i);
        let mut note = match answers {
            Some(n) => format!("answers frame {n}: "),
            None => "answers a frame not in this capture: ".to_string(),
        };
        if port_unreachable {
            let _ = write!(note, "nothing is listening on {}", q.dst.port());
        } else {
            note.push_str(&row.info);
        }
        row.notes.push(note);
        // The error comes back from the quoted datagram's receiver.
        let from = Direction::from_index(1 - quoted.index());
        row.conn = Some(c.id);
        row.direction = Some(from);
        let rare = c.rare.get_or_insert_default();
        rare.icmp_count += 1;
        if rare.icmp.len() < ICMP_LISTED {
            rare.icmp.push(IcmpAnswer {
                frame: row.no,
                answers,
                from,
                port_unreachable,
                what: row.info.clone(),
            });
        }
    }

    /// Connections and flows seen so far.
    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Every connection and flow seen, in order of first frame.
    pub fn summaries(&self) -> impl Iterator<Item = Summary> + '_ {
        self.conns.iter().map(summarize)
    }

    /// Connection (or flow) `conn`, as its rows number it.
    pub(crate) fn summary(&self, conn: usize) -> Option<Summary> {
        self.conns.get(conn.checked_sub(1)?).map(summarize)
    }
}

/// `IPv4` or `IPv6`: the protocol column of an IP packet tshark cannot
/// name by its payload.
fn ip_name(p: &Packet) -> &'static str {
    if p.src.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// A transport header cut by the snap length, or not whole as it was
/// sent.
fn truncated(p: &Packet, n: u8, row: &mut Row) {
    row.protocol = Cow::Borrowed(ip_protocol_name(n).unwrap_or(ip_name(p)));
    // Cut by the snap length, or not whole as it was sent.
    if p.truncated() {
        // The ports, when captured, as tshark shows them; too little of
        // the segment is left to follow a connection.
        if p.src.port() != 0 || p.dst.port() != 0 {
            let _ = write!(row.info, "{} → {} ", p.src.port(), p.dst.port());
        }
        row.info.push_str(SIZE_LIMITED);
    } else {
        row.info.push_str(MALFORMED);
    }
}

/// An IP protocol net-trace does not decode.
fn other_ip(p: &Packet, n: u8, row: &mut Row) {
    row.protocol = Cow::Borrowed(ip_protocol_name(n).unwrap_or(ip_name(p)));
    let _ = write!(row.info, "IP protocol {n}");
}

/// A UDP datagram's Info: ports and length.
fn udp_info(info: &mut String, p: &Packet, u: &Udp) {
    push_u64(info, u64::from(p.src.port()));
    info.push_str(" → ");
    push_u64(info, u64::from(p.dst.port()));
    info.push_str(" Len=");
    push_u64(info, u64::from(u.len));
}

/// `what` and a preview of `payload`, as one note: `data "GET / …"`.
fn preview_note(what: &str, payload: &[u8]) -> String {
    let mut note = String::with_capacity(what.len() + payload.len().min(PREVIEW) + 24);
    note.push_str(what);
    preview_into(&mut note, payload, PREVIEW);
    note
}

/// A TCP segment's Info as tshark writes it: ports, flags, Seq and Ack
/// relative to `base` (the sender's, then the receiver's; absolute where
/// unknown), the window shifted left by `shift` (as sent when `None`),
/// Urg, `before_len`, and Len.
fn tcp_info(
    info: &mut String,
    p: &Packet,
    t: &Tcp,
    base: [Option<u32>; 2],
    shift: Option<u8>,
    before_len: &str,
) {
    push_u64(info, u64::from(p.src.port()));
    info.push_str(" → ");
    push_u64(info, u64::from(p.dst.port()));
    info.push(' ');
    t.flags.write_label(info);
    info.push_str(" Seq=");
    push_u64(info, u64::from(t.seq.wrapping_sub(base[0].unwrap_or(0))));
    if t.flags.ack {
        info.push_str(" Ack=");
        push_u64(info, u64::from(t.ack.wrapping_sub(base[1].unwrap_or(0))));
    }
    info.push_str(" Win=");
    push_u64(info, u64::from(t.window) << shift.unwrap_or(0));
    if t.flags.urg {
        info.push_str(" Urg=");
        push_u64(info, u64::from(t.urgent));
    }
    info.push_str(before_len);
    info.push_str(" Len=");
    push_u64(info, u64::from(t.len));
}

fn fragment(p: &Packet, f: &Fragment, row: &mut Row) {
    row.protocol = Cow::Borrowed(ip_name(p));
    let proto = ip_protocol_name(f.protocol).unwrap_or("Unknown");
    if p.src.is_ipv4() {
        let _ = write!(
            row.info,
            "Fragmented IP protocol (proto={proto} {}, off={}, ID={:04x})",
            f.protocol, f.offset, f.id
        );
    } else {
        let _ = write!(
            row.info,
            "IPv6 fragment (off={} more={} ident=0x{:08x} nxt={})",
            f.offset,
            if f.more { 'y' } else { 'n' },
            f.id,
            f.protocol
        );
    }
}

fn summarize(c: &Conn) -> Summary {
    let mut s = Summary {
        conn: c.id,
        protocol: if c.tcp { Proto::Tcp } else { Proto::Udp },
        client: c.client,
        server: c.server,
        mid_stream: c.mid_stream,
        handshake: Vec::new(),
        teardown: Vec::new(),
        close: None,
        after_close: c.rare.as_ref().and_then(|r| r.after_close),
        data_frames: c.data_frames,
        bytes: c.bytes,
        stream: if c.tcp {
            c.data_span
                .map(|s| s.map_or(0, |(lo, hi)| u64::from(hi.wrapping_sub(lo))))
        } else {
            // Datagrams are each their own: nothing is sent again.
            c.bytes
        },
        retransmissions: c
            .rare
            .as_ref()
            .map_or_else(Listed::default, |r| r.retransmissions.clone()),
        fast_retransmissions: c.rare.as_ref().map_or(0, |r| r.fast_retransmissions),
        spurious_retransmissions: c.rare.as_ref().map_or(0, |r| r.spurious_retransmissions),
        out_of_order: c
            .rare
            .as_ref()
            .map_or_else(Listed::default, |r| r.out_of_order.clone()),
        dup_acks: c
            .rare
            .as_ref()
            .map_or_else(Listed::default, |r| r.dup_acks.clone()),
        not_captured: c
            .rare
            .as_ref()
            .map_or_else(Listed::default, |r| r.not_captured.clone()),
        icmp: c.rare.as_ref().map_or_else(Vec::new, |r| r.icmp.clone()),
        icmp_count: c.rare.as_ref().map_or(0, |r| r.icmp_count),
        frames: c.frames,
        span: (c.first_no, c.last[0].max(c.last[1])),
        states: c.tcp.then_some(c.states),
    };
    if !c.tcp {
        return s;
    }
    if let Some((no, _)) = c.syn[0] {
        s.handshake.push((no, "SYN", Direction::ClientToServer));
    }
    if let Some((no, _)) = c.syn[1] {
        s.handshake.push((no, "SYN-ACK", Direction::ServerToClient));
    }
    if let Some(no) = c.ack3 {
        s.handshake.push((no, "ACK", Direction::ClientToServer));
    }

    if let Some((no, dir)) = c.rst {
        s.teardown.push((no, "RST".to_string(), dir));
        s.close = Some(format!("reset by the {}", dir.sender()));
        return s;
    }
    let fins: Vec<(Direction, Fin)> = (0..2)
        .filter_map(|d| c.fin[d].map(|f| (Direction::from_index(d), f)))
        .collect();
    let name = |f: &Fin| if f.ack { "FIN-ACK" } else { "FIN" };
    match fins.as_slice() {
        [] => {}
        [(d1, f1)] => {
            s.teardown.push((f1.no, name(f1).into(), *d1));
            if let Some(a) = f1.acked_by {
                s.teardown
                    .push((a, "ACK".into(), Direction::from_index(1 - d1.index())));
            }
            s.close = Some(format!(
                "half-closed: only the {} sent FIN in this capture",
                d1.sender()
            ));
        }
        [a, b] => {
            let ((d1, f1), (d2, f2)) = if a.1.no <= b.1.no { (a, b) } else { (b, a) };
            let ack_of = |f: &Fin, d: &Direction| {
                f.acked_by
                    .map(|no| (no, "ACK".to_string(), Direction::from_index(1 - d.index())))
            };
            match f1.acked_by {
                Some(a1) if a1 == f2.no => {
                    s.teardown.push((f1.no, name(f1).into(), *d1));
                    s.teardown.push((
                        f2.no,
                        format!("{} (acknowledges the {}'s FIN)", name(f2), d1.sender()),
                        *d2,
                    ));
                    s.teardown.extend(ack_of(f2, d2));
                    s.close = Some(format!(
                        "three segments: the {} closed first; its FIN was acknowledged together with the {}'s FIN",
                        d1.sender(),
                        d2.sender()
                    ));
                }
                Some(a1) if a1 < f2.no => {
                    s.teardown.push((f1.no, name(f1).into(), *d1));
                    s.teardown.extend(ack_of(f1, d1));
                    s.teardown.push((f2.no, name(f2).into(), *d2));
                    s.teardown.extend(ack_of(f2, d2));
                    s.close = Some(format!("four segments: the {} closed first", d1.sender()));
                }
                _ => {
                    s.teardown.push((f1.no, name(f1).into(), *d1));
                    s.teardown.push((f2.no, name(f2).into(), *d2));
                    s.teardown.extend(ack_of(f1, d1));
                    s.teardown.extend(ack_of(f2, d2));
                    s.teardown.sort_by_key(|t| t.0);
                    s.teardown.dedup_by_key(|t| t.0);
                    s.close = Some(
                        "simultaneous close: both sides sent FIN before either FIN was acknowledged"
                            .into(),
                    );
                }
            }
        }
        _ => {}
    }
    s
}

#[cfg(test)]
mod tests;
