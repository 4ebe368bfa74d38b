//! Each side's TCP state (RFC 9293, section 3.3.2) as the wire shows it.
//!
//! A capture sits between the two hosts, so a segment is taken to be sent
//! and received at the moment it is captured: the sender's state changes
//! because it sent the segment, the receiver's because it arrived. Where
//! the wire proves that was not so (a FIN that does not acknowledge the
//! other side's FIN was sent before that FIN arrived), the simultaneous
//! close is recognised instead. And a FIN the receiver cannot have taken
//! yet, because bytes before it are missing there, takes effect only when
//! the receiver's ACK shows it arrived ([`fin_arrived`]): a receiver
//! processes a FIN only once everything before it is in.

use std::fmt;

/// A TCP endpoint's state, named as `ss` and `netstat` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection.
    Closed,
    /// Waiting for a connection request (the server before the SYN).
    Listen,
    /// SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// SYN received (and SYN-ACK sent), waiting for its acknowledgement.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// Sent FIN, waiting for its acknowledgement or the peer's FIN.
    FinWait1,
    /// Own FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// Received the peer's FIN, may still send.
    CloseWait,
    /// Both sent FIN before either was acknowledged (simultaneous close).
    Closing,
    /// Sent FIN after the peer's, waiting for its acknowledgement.
    LastAck,
    /// Both FINs acknowledged; waits twice the maximum segment lifetime.
    TimeWait,
}

impl TcpState {
    /// The state's name: `SYN_SENT`, `ESTABLISHED`, `TIME_WAIT`…
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a segment means for the state machines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Segment {
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) fin: bool,
    pub(crate) rst: bool,
    /// The Ack number covers the receiver's SYN.
    pub(crate) acks_syn: bool,
    /// The Ack number covers the receiver's FIN.
    pub(crate) acks_fin: bool,
    /// With `fin`: the receiver takes the FIN now (nothing before it is
    /// missing there); otherwise only the sender's state moves, and
    /// [`fin_arrived`] moves the receiver's later.
    pub(crate) fin_arrives: bool,
}

/// Index of the server in `[client, server]`.
const SERVER: usize = 1;

/// Applies a segment sent by side `from` (0 client, 1 server) to both
/// sides' states.
pub(crate) fn step(states: &mut [TcpState; 2], from: usize, s: Segment) {
    use TcpState::*;
    let to = 1 - from;
    if s.rst {
        states[from] = Closed;
        // A passive open that is reset returns to listening (RFC 9293,
        // 3.10.7.4).
        states[to] = if to == SERVER && states[to] == SynReceived {
            Listen
        } else {
            Closed
        };
        return;
    }
    if s.syn {
        // Sending a SYN: SYN_SENT (a SYN-ACK: SYN_RECEIVED); a
        // retransmission leaves later states alone.
        states[from] = match (s.ack, states[from]) {
            (false, Closed | Listen | SynSent) => SynSent,
            (true, Closed | Listen | SynSent | SynReceived) => SynReceived,
            (_, other) => other,
        };
        states[to] = match (s.ack, states[to]) {
            // A listener, or a simultaneous open, receives the SYN.
            (false, Listen | SynSent) => SynReceived,
            (true, SynSent | SynReceived) if s.acks_syn => Established,
            (_, other) => other,
        };
        return;
    }
    if s.ack {
        if s.acks_syn && states[to] == SynReceived {
            states[to] = Established;
        }
        if s.acks_fin {
            states[to] = match states[to] {
                FinWait1 => FinWait2,
                Closing => TimeWait,
                LastAck => Closed,
                other => other,
            };
        }
        // An ACK from a side still waiting for the SYN-ACK proves it
        // arrived (the capture missed it).
        if matches!(states[from], SynSent | SynReceived) {
            states[from] = Established;
        }
    }
    if s.fin {
        states[from] = match states[from] {
            Established | SynReceived => FinWait1,
            // The peer's FIN had not arrived when this one was sent: both
            // closed at once.
            CloseWait if !s.acks_fin => Closing,
            CloseWait => LastAck,
            other => other,
        };
        if s.fin_arrives {
            fin_arrived(states, to);
        }
    }
}

/// Side `to` takes the other side's FIN.
pub(crate) fn fin_arrived(states: &mut [TcpState; 2], to: usize) {
    use TcpState::*;
    states[to] = match states[to] {
        Established | SynReceived => CloseWait,
        FinWait1 => Closing,
        FinWait2 => TimeWait,
        other => other,
    };
}
