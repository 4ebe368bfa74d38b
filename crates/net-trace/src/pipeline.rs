//! The stages every frame goes through, whatever its source and wherever
//! its row goes: decode, filter, analyse.
//!
//! ```text
//! Source ──frame──▶ Stages (decode ─▶ filter ─▶ Analyzer) ──row──▶ join ──▶ Sinks
//! ```
//! [`crate::capture::run`] drives them from any [`crate::source::Source`]
//! to any [`crate::sink::Sink`]s; `capture` and `read` differ only in their
//! source, their options and the sinks they choose.

use crate::Error;
use crate::analyze::{Analyzer, Row};
use crate::decode::{Decoded, Decoder, Packet, Transport};
use crate::filter::{Filter, Matcher};
use crate::pcapio::Frame;

/// Whether a packet passes the port filter; an ICMP error passes when the
/// datagram it quotes would.
pub(crate) fn wanted(p: &Packet, ports: &[u16]) -> bool {
    if ports.is_empty() {
        return true;
    }
    let hit = |a: u16, b: u16| ports.contains(&a) || ports.contains(&b);
    match &p.transport {
        Transport::Icmp(icmp) => icmp.quoted.is_some_and(|q| hit(q.src.port(), q.dst.port())),
        // A fragment's ports are in its first piece only; the datagram is
        // judged on the fragment that completes it, as tshark's display
        // filters do.
        Transport::Fragment(_) => false,
        _ => hit(p.src.port(), p.dst.port()),
    }
}

/// What the stages made of a frame.
#[derive(Debug)]
pub(crate) enum Kept {
    /// An IP packet kept, with its row.
    Packet(Row, Packet),
    /// A frame that is not IP (ARP, LLDP…), kept, with its row.
    Other(Row),
    /// A frame kept, without a row: no sink needs rows
    /// ([`Stages::without_rows`]).
    Frame,
    /// Left out by the filters.
    Left,
}

/// How frames the filters leave out are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// Frames left out are neither numbered nor counted as received, as
    /// with a capture filter (the kernel's filter passes ICMP messages
    /// and fragments only for a closer look): a live capture.
    #[default]
    Kept,
    /// Every frame keeps its number, as in tshark's display of a file.
    Every,
}

/// Decode, filter and analysis of a stream of frames.
#[derive(Debug)]
pub(crate) struct Stages {
    /// The filter expression, run over each frame's bytes before decoding
    /// (a live capture's kernel runs it instead).
    filter: Option<Matcher>,
    ports: Vec<u16>,
    /// Frames that are not IP pass (no port, no process to narrow to).
    keep_other: bool,
    numbering: Numbering,
    /// Each row names the interface its frame came from.
    iface_notes: bool,
    decoder: Decoder,
    analyzer: Analyzer,
    /// Kept frames are analysed into rows.
    rows: bool,
    kept: u64,
    rejected: u64,
}

impl Stages {
    /// Stages keeping the frames to or from `ports` (all when empty);
    /// `narrowed` when only some processes' connections are wanted (frames
    /// that are not IP then go too).
    pub(crate) fn new(ports: &[u16], narrowed: bool, numbering: Numbering) -> Stages {
        Stages {
            filter: None,
            ports: ports.to_vec(),
            keep_other: ports.is_empty() && !narrowed,
            numbering,
            iface_notes: false,
            decoder: Decoder::new(),
            analyzer: Analyzer::new(),
            rows: true,
            kept: 0,
            rejected: 0,
        }
    }

    /// Each row names the interface its frame came from (frames from
    /// several interfaces).
    pub(crate) fn with_iface_notes(mut self, on: bool) -> Stages {
        self.iface_notes = on;
        self
    }

    /// Frames are filtered and counted but not analysed: every sink
    /// saves frames only (a quiet capture to a file), so no row is made.
    pub(crate) fn without_rows(mut self) -> Stages {
        self.rows = false;
        self
    }

    /// Also keeps only the frames `filter` keeps (as `tcpdump -r FILE
    /// EXPR` does), before decoding.
    pub(crate) fn with_filter(mut self, filter: Option<&Filter>) -> Stages {
        self.filter = filter.map(Filter::matcher);
        self
    }

    /// Takes one frame through filter, decode and analysis; `iface` is
    /// the interface it came from. An error when the filter expression
    /// means nothing for the frame's link type.
    #[inline]
    pub(crate) fn push(&mut self, f: &Frame, iface: &str) -> Result<Kept, Error> {
        if let Some(m) = self.filter.as_mut()
            && !m.matches(f.link, &f.data, f.wire_len)?
        {
            self.leave_out(f);
            return Ok(Kept::Left);
        }
        let mut kept = match self.decoder.decode(f.link, &f.data, f.time, f.wire_len) {
            Decoded::Packet(p) if !self.rows && wanted(&p, &self.ports) => Kept::Frame,
            Decoded::Other(_) if !self.rows && self.keep_other => Kept::Frame,
            Decoded::Packet(p) if wanted(&p, &self.ports) => {
                Kept::Packet(self.analyzer.push(&p), p)
            }
            Decoded::Other(o) if self.keep_other => Kept::Other(self.analyzer.push_other(&o)),
            Decoded::Packet(_) | Decoded::Other(_) => {
                self.leave_out(f);
                return Ok(Kept::Left);
            }
        };
        self.kept += 1;
        if self.iface_notes
            && let Kept::Packet(row, _) | Kept::Other(row) = &mut kept
        {
            row.notes.insert(0, format!("on {iface}"));
        }
        Ok(kept)
    }

    fn leave_out(&mut self, f: &Frame) {
        match self.numbering {
            Numbering::Every => self.analyzer.skip(f.time),
            Numbering::Kept => self.rejected += 1,
        }
    }

    /// The analysis, once the stream has ended.
    pub(crate) fn into_analyzer(self) -> Analyzer {
        self.analyzer
    }

    /// Frames that passed the filters: tcpdump's "packets captured".
    pub(crate) fn kept(&self) -> u64 {
        self.kept
    }

    /// Frames left out by the filters and not numbered
    /// ([`Numbering::Kept`]).
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Fragment, Icmp, Quoted, Udp};
    use std::time::Duration;

    fn packet(src: &str, dst: &str, transport: Transport) -> Packet {
        Packet {
            time: Duration::ZERO,
            wire_len: 60,
            cap_len: 60,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            transport,
            bad_checksum: None,
        }
    }

    #[test]
    fn the_port_filter_keeps_icmp_errors_about_its_ports() {
        let udp = packet(
            "127.0.0.1:40000",
            "127.0.0.1:12000",
            Transport::Udp(Udp {
                len: 0,
                payload: vec![],
            }),
        );
        assert!(wanted(&udp, &[]) && wanted(&udp, &[12000]) && !wanted(&udp, &[80]));
        let icmp = packet(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Transport::Icmp(Icmp {
                v6: false,
                kind: 3,
                code: 3,
                echo: None,
                ttl: 64,
                ndp: None,
                quoted: Some(Quoted {
                    protocol: 17,
                    src: udp.src,
                    dst: udp.dst,
                }),
            }),
        );
        assert!(wanted(&icmp, &[12000]) && wanted(&icmp, &[40000]) && !wanted(&icmp, &[80]));
        // A fragment is judged on the one that completes its datagram.
        let frag = packet(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Transport::Fragment(Fragment {
                protocol: 17,
                id: 1,
                offset: 0,
                len: 1480,
                more: true,
            }),
        );
        assert!(wanted(&frag, &[]) && !wanted(&frag, &[12000]));
    }
}
