//! tshark's TCP sequence analysis (its `tcp.analysis.*` flags), segment by
//! segment: retransmissions (plain, fast, spurious), out-of-order
//! segments, duplicate ACKs, segments the capture missed or never saw
//! acknowledged, window updates, full and zero windows, keep-alives.
//!
//! The rules are tshark 4.0's (`tcp_analyze_sequence_number` in
//! Wireshark's packet-tcp.c), tested frame by frame against tshark: a
//! student comparing net-trace with Wireshark sees the same tags on the
//! same frames. In short:
//! - a segment with data (or SYN or FIN) that starts below the highest
//!   sequence number seen its way is a **fast retransmission** when the
//!   other side asked for it with two or more duplicate ACKs within the
//!   last 20 ms, **out of order** when it came within one round trip of
//!   that highest segment and is not an exact copy of it, and a
//!   **retransmission** otherwise; a **spurious** one when the other side
//!   had already acknowledged all of it;
//! - a **duplicate ACK** repeats its side's previous ACK number and
//!   window, carries no data and no SYN, FIN or RST; `#N` counts them
//!   since the ACK they repeat.
//!
//! Numbers are absolute, as tshark's analysis uses them; zero stands for
//! "none seen yet" where tshark's does.

use std::fmt::Write as _;
use std::time::Duration;

/// A retransmission is fast when it comes this soon after the duplicate
/// ACK that asked for it (tshark's rule).
const FAST_RETRANSMISSION_WITHIN: Duration = Duration::from_millis(20);

/// How soon after the highest segment a lower one is out of order rather
/// than retransmitted, when the connection's first round trip was not
/// captured (tshark's default; otherwise that round trip is the limit).
const OUT_OF_ORDER_WITHIN: Duration = Duration::from_millis(3);

/// What tshark's analysis says of one segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    /// Sequence space already sent, resent (`[TCP Retransmission]`).
    pub(crate) retransmission: bool,
    /// Resent at the other side's duplicate ACKs (`[TCP Fast Retransmission]`).
    pub(crate) fast_retransmission: bool,
    /// Resent though already acknowledged (`[TCP Spurious Retransmission]`).
    pub(crate) spurious_retransmission: bool,
    /// Overtaken by a later segment (`[TCP Out-Of-Order]`).
    pub(crate) out_of_order: bool,
    /// Starts beyond the sequence space seen so far: a segment before it
    /// was not captured (`[TCP Previous segment not captured]`).
    pub(crate) previous_not_captured: bool,
    /// Acknowledges data the capture never saw (`[TCP ACKed unseen segment]`).
    pub(crate) acked_unseen: bool,
    /// Only announces a new window (`[TCP Window Update]`).
    pub(crate) window_update: bool,
    /// Fills the window the other side announced (`[TCP Window Full]`).
    pub(crate) window_full: bool,
    /// A keep-alive probe (`[TCP Keep-Alive]`).
    pub(crate) keep_alive: bool,
    /// The answer to one (`[TCP Keep-Alive ACK]`).
    pub(crate) keep_alive_ack: bool,
    /// Repeats an ACK: the frame of the ACK repeated and the count
    /// (`[TCP Dup ACK 6#1]`).
    pub(crate) dup_ack: Option<(usize, u32)>,
    /// Announces a zero window (`[TCP ZeroWindow]`).
    pub(crate) zero_window: bool,
    /// Probes a zero window (`[TCP ZeroWindowProbe]`).
    pub(crate) zero_window_probe: bool,
    /// The answer to one (`[TCP ZeroWindowProbeAck]`).
    pub(crate) zero_window_probe_ack: bool,
    /// A SYN that opens a new connection on a 4-tuple already used
    /// (`[TCP Port numbers reused]`).
    pub(crate) ports_reused: bool,
    /// Not tshark's: tshark calls the segment a (fast) retransmission, but
    /// nothing of it was sent before; it starts where everything that
    /// occupied sequence space so far ended, and a later bare segment
    /// (an ACK sent after a FIN carries the FIN's end as its Seq)
    /// overtook it on the path. It is out of order, not resent.
    pub(crate) overtaken: bool,
}

impl Findings {
    /// Any kind of retransmission (tshark's `tcp.analysis.retransmission`
    /// covers all three).
    pub(crate) fn resent(&self) -> bool {
        self.retransmission || self.fast_retransmission || self.spurious_retransmission
    }

    /// Sent before: a retransmission of any kind tshark's, unless it was
    /// [`Findings::overtaken`].
    pub(crate) fn sent_before(&self) -> bool {
        self.resent() && !self.overtaken
    }

    /// Writes the tags tshark puts before the Info text, each followed by
    /// a space, in tshark's order.
    pub(crate) fn write_tags(&self, out: &mut String) {
        // tshark prepends each tag as it prints it, so they read in the
        // reverse of its printing order.
        let tags = [
            (self.zero_window_probe_ack, "[TCP ZeroWindowProbeAck] "),
            (self.zero_window, "[TCP ZeroWindow] "),
            (self.zero_window_probe, "[TCP ZeroWindowProbe] "),
        ];
        for (set, tag) in tags {
            if set {
                out.push_str(tag);
            }
        }
        if let Some((frame, n)) = self.dup_ack {
            let _ = write!(out, "[TCP Dup ACK {frame}#{n}] ");
        }
        let tags = [
            (self.keep_alive_ack, "[TCP Keep-Alive ACK] "),
            (self.keep_alive, "[TCP Keep-Alive] "),
            (self.window_full, "[TCP Window Full] "),
            (self.window_update, "[TCP Window Update] "),
            (self.acked_unseen, "[TCP ACKed unseen segment] "),
            (
                self.previous_not_captured,
                "[TCP Previous segment not captured] ",
            ),
            (self.out_of_order, "[TCP Out-Of-Order] "),
            (
                self.spurious_retransmission,
                "[TCP Spurious Retransmission] ",
            ),
            (self.fast_retransmission, "[TCP Fast Retransmission] "),
            (self.retransmission, "[TCP Retransmission] "),
            (self.ports_reused, "[TCP Port numbers reused] "),
        ];
        for (set, tag) in tags {
            if set {
                out.push_str(tag);
            }
        }
    }
}

/// One segment, as the analysis needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// Frame number.
    pub(crate) no: usize,
    /// Capture time.
    pub(crate) time: Duration,
    /// The sender's side: 0 client, 1 server.
    pub(crate) d: usize,
    /// Sequence number (absolute).
    pub(crate) seq: u32,
    /// Acknowledgment number field (absolute), whether ACK is set or not.
    pub(crate) ack: u32,
    /// Payload length.
    pub(crate) len: u32,
    /// SYN, FIN, RST and ACK flags.
    pub(crate) syn: bool,
    /// FIN.
    pub(crate) fin: bool,
    /// RST.
    pub(crate) rst: bool,
    /// ACK.
    pub(crate) has_ack: bool,
    /// The window field as sent (unscaled).
    pub(crate) window: u32,
    /// The shift that scales the other side's window: `None` while its
    /// SYN has not been seen.
    pub(crate) rev_scale: Option<u8>,
}

/// One direction's record (tshark's `tcp_flow_t` and its sequence info).
#[derive(Debug, Clone, Copy)]
struct Side {
    /// Highest sequence number sent plus one, and when it was sent.
    nextseq: u32,
    nextseq_time: Duration,
    /// Last ACK number sent, and when.
    lastack: u32,
    lastack_time: Duration,
    /// Highest contiguous sequence end sent, what the other side's ACKs
    /// are checked against.
    maxseqtobeacked: u32,
    /// Last window field sent (unscaled); `u32::MAX` before any.
    window: u32,
    /// Duplicate ACKs sent since `lastnondupack`, the last ACK that moved;
    /// -1 after the other side acknowledged data this side was not seen
    /// sending (the next duplicate ACK then counts as the first).
    dupacknum: i32,
    lastnondupack: usize,
    /// The last segment was a keep-alive, or a zero window probe.
    last_keep_alive: bool,
    last_zero_window_probe: bool,
    /// A segment with ACK and without SYN was sent: the window is scaled
    /// from then on.
    acked: bool,
    /// A segment came after a gap (what came before it was not captured)
    /// and no SYN has been resent since: tshark's reading of a resent SYN
    /// then differs (see [`SeqAnalysis::push`]).
    gap: bool,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            nextseq: 0,
            nextseq_time: Duration::ZERO,
            lastack: 0,
            lastack_time: Duration::ZERO,
            maxseqtobeacked: 0,
            window: u32::MAX,
            dupacknum: 0,
            lastnondupack: 0,
            last_keep_alive: false,
            last_zero_window_probe: false,
            acked: false,
            gap: false,
        }
    }
}

/// A connection's analysis: a fixed-size record.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqAnalysis {
    sides: [Side; 2],
    /// When the latest SYN (without ACK) was seen.
    last_syn: Option<Duration>,
    /// From that SYN to the first ACK without SYN: the first round trip.
    first_rtt: Option<Duration>,
}

/// `a` is after `b` in sequence space.
fn gt(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

fn lt(a: u32, b: u32) -> bool {
    gt(b, a)
}

fn le(a: u32, b: u32) -> bool {
    !gt(a, b)
}

/// `now` is less than `limit` after `then` (never when time went back).
fn within(now: Duration, then: Duration, limit: Duration) -> bool {
    now.checked_sub(then).is_some_and(|t| t < limit)
}

impl SeqAnalysis {
    /// The last ACK number side `d` sent (0 before any).
    pub(crate) fn last_ack(&self, d: usize) -> u32 {
        self.sides.get(d).map_or(0, |s| s.lastack)
    }

    /// The connection's first round trip, from the SYN to the first ACK
    /// without SYN (tshark's iRTT), once seen.
    pub(crate) fn initial_rtt(&self) -> Option<Duration> {
        self.first_rtt
    }

    /// Analyses the next segment of the connection.
    pub(crate) fn push(&mut self, s: &Segment) -> Findings {
        let mut f = Findings::default();
        let flagged = s.syn || s.fin || s.rst;
        self.forward(s, &mut f, flagged);
        let [a, b] = &mut self.sides;
        let (fwd, rev) = if s.d == 0 { (a, b) } else { (b, a) };
        // A SYN (without ACK) sent again after a gap in what this side was
        // seen sending: tshark 4.0 calls it a retransmission (never out of
        // order) and takes the stream up again from it, so the segments
        // after it are judged against the SYN, not against the segment
        // after the gap (what its output shows; a SYN-ACK, or a SYN with
        // no gap before it, is judged as any segment).
        let resent_syn_after_gap = s.syn && !s.has_ack && fwd.gap && fwd.nextseq != 0;
        if s.ack != fwd.lastack {
            fwd.lastnondupack = s.no;
            fwd.dupacknum = 0;
        }
        if rev.maxseqtobeacked != 0 && gt(s.ack, rev.maxseqtobeacked) && s.has_ack {
            // tshark 4.0's rules, as its output shows them: said each time
            // the other side's segments left a gap since (and the mark
            // moves past it); otherwise only when the other side's ACKs
            // have moved since it was last said.
            if rev.maxseqtobeacked < rev.nextseq {
                rev.maxseqtobeacked = rev.nextseq;
                f.acked_unseen = true;
            } else {
                f.acked_unseen = rev.dupacknum == 0;
                rev.dupacknum = -1;
            }
        }
        if (s.len > 0 || s.syn || s.fin) && !f.keep_alive {
            let mut not_advanced = fwd.nextseq != 0 && lt(s.seq, fwd.nextseq);
            // More than one byte from just below the highest: new data
            // after a zero window probe.
            if s.len > 1 && fwd.nextseq.wrapping_sub(1) == s.seq {
                not_advanced = false;
            }
            let ends_at = s.seq.wrapping_add(s.len);
            let seq_len = s.len + u32::from(s.syn || s.fin);
            let ooo_within = self.first_rtt.unwrap_or(OUT_OF_ORDER_WITHIN);
            if resent_syn_after_gap {
                f.retransmission = not_advanced;
            } else if s.len > 0 && rev.lastack != 0 && le(ends_at, rev.lastack) {
                f.spurious_retransmission = true;
            } else if not_advanced
                // tshark keeps the count unsigned: the -1 left by an ACK of
                // unseen data counts as many.
                && (rev.dupacknum >= 2 || rev.dupacknum < 0)
                && rev.lastack == s.seq
                && within(s.time, rev.lastack_time, FAST_RETRANSMISSION_WITHIN)
            {
                f.fast_retransmission = true;
            } else if not_advanced
                && within(s.time, fwd.nextseq_time, ooo_within)
                && fwd.nextseq != s.seq.wrapping_add(seq_len)
            {
                f.out_of_order = true;
            } else if not_advanced {
                f.retransmission = true;
            }
        }
        let nextseq = s.seq.wrapping_add(s.len) + u32::from(s.syn || s.fin);
        if resent_syn_after_gap {
            fwd.nextseq = nextseq;
            fwd.nextseq_time = s.time;
            fwd.gap = false;
        } else if (gt(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !f.zero_window_probe {
            fwd.nextseq = nextseq;
            fwd.nextseq_time = s.time;
        }
        if (s.seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0) && !f.zero_window_probe {
            fwd.maxseqtobeacked = fwd.nextseq;
        }
        fwd.window = s.window;
        fwd.lastack = s.ack;
        fwd.lastack_time = s.time;
        fwd.last_keep_alive = f.keep_alive;
        fwd.last_zero_window_probe = f.zero_window_probe;
        if s.has_ack && !s.syn {
            fwd.acked = true;
        }
        if s.syn && !s.has_ack {
            self.last_syn = Some(s.time);
        } else if !s.syn && s.has_ack && self.first_rtt.is_none() {
            self.first_rtt = self.last_syn.and_then(|t| s.time.checked_sub(t));
        }
        f
    }

    /// The checks on what this side sent before: probes, windows, gaps,
    /// keep-alives and duplicate ACKs.
    fn forward(&mut self, s: &Segment, f: &mut Findings, flagged: bool) {
        let [a, b] = &mut self.sides;
        let (fwd, rev) = if s.d == 0 { (a, b) } else { (b, a) };
        if s.len == 1 && s.seq == fwd.nextseq && rev.window == 0 {
            f.zero_window_probe = true;
            return;
        }
        if s.window == 0 && !flagged {
            f.zero_window = true;
        }
        if fwd.nextseq != 0 && gt(s.seq, fwd.nextseq) && !s.rst {
            f.previous_not_captured = true;
            fwd.gap = true;
        }
        if s.len <= 1 && s.seq == fwd.nextseq.wrapping_sub(1) && !flagged {
            f.keep_alive = true;
        }
        // The same place in the stream, the same ACK: a pure ACK.
        let repeats = s.len == 0 && s.seq == fwd.nextseq && s.ack == fwd.lastack && !flagged;
        if repeats && s.window != 0 && s.window != fwd.window {
            f.window_update = true;
        }
        if s.len > 0
            && !flagged
            && let Some(scale) = s.rev_scale
        {
            let shift = if rev.acked { scale } else { 0 };
            let edge = rev
                .lastack
                .wrapping_add(rev.window.wrapping_shl(u32::from(shift)));
            if s.seq.wrapping_add(s.len) == edge {
                f.window_full = true;
            }
        }
        if repeats && s.window != 0 && s.window == fwd.window && rev.last_keep_alive {
            f.keep_alive_ack = true;
            return;
        }
        if repeats && s.window == 0 && fwd.window == 0 && rev.last_zero_window_probe {
            f.zero_window_probe_ack = true;
            return;
        }
        if repeats && s.window != 0 && s.window == fwd.window {
            fwd.dupacknum = if fwd.dupacknum < 0 {
                1
            } else {
                fwd.dupacknum + 1
            };
            f.dup_ack = Some((fwd.lastnondupack, fwd.dupacknum.unsigned_abs()));
        }
    }
}
