//! Connection tracking: who is client and server, relative sequence
//! numbers, the handshake, the teardown in each of its shapes, and
//! retransmissions.
//!
//! [`Analyzer::push`] annotates each packet as it arrives (so a live
//! capture can print rows at once); [`Analyzer::summaries`] describes every
//! connection at the end.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use net_core::text::preview;

use crate::decode::{Flags, Packet, Transport};

/// Payload characters shown for data frames.
const PREVIEW: usize = 40;

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

    /// `client` or `server`: who sent it.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ClientToServer => "client→server",
            Direction::ServerToClient => "server→client",
        })
    }
}

/// One annotated frame, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Frame number, from 1.
    pub no: usize,
    /// Seconds since the first frame.
    pub time: Duration,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// Frame length.
    pub length: u32,
    /// Connection (or UDP flow) number, from 1.
    pub conn: usize,
    /// Direction.
    pub direction: Direction,
    /// tshark-style info: ports, flags, relative Seq/Ack, Win, Len.
    pub info: String,
    /// What this frame is in the conversation: `handshake 1/3 (SYN)`,
    /// `teardown: FIN from client`, `retransmission`, `data`.
    pub notes: Vec<String>,
}

/// What a connection's frames amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Connection number.
    pub conn: usize,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// Handshake frames with what each was: `(1, "SYN", client)`.
    pub handshake: Vec<(usize, &'static str, Direction)>,
    /// Teardown frames with what each was.
    pub teardown: Vec<(usize, String, Direction)>,
    /// The teardown's shape, when it happened.
    pub close: Option<String>,
    /// Frames carrying payload.
    pub data_frames: Vec<usize>,
    /// Payload bytes client→server and server→client.
    pub bytes: [u64; 2],
    /// Retransmitted frames.
    pub retransmissions: Vec<usize>,
    /// Frames in total.
    pub frames: usize,
}

#[derive(Debug, Clone)]
struct Seen {
    no: usize,
    dir: Direction,
    flags: Flags,
    seq: u32,
    seq_end: u32,
    ack: u32,
    len: usize,
}

#[derive(Debug)]
struct Conn {
    id: usize,
    protocol: &'static str,
    client: SocketAddr,
    server: SocketAddr,
    /// Base for relative sequence numbers, per direction.
    base: [Option<u32>; 2],
    /// Highest sequence end seen, per direction.
    high: [Option<u32>; 2],
    /// A FIN awaiting its ACK, per direction: its sequence end.
    fin_end: [Option<u32>; 2],
    /// Window scale announced in each direction's SYN; scaling applies
    /// only when both sides announced one.
    scale: [Option<u8>; 2],
    frames: Vec<Seen>,
    bytes: [u64; 2],
}

/// `a` is before `b` in sequence space.
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

/// Guesses the client when the capture missed the SYN: the side on the
/// ephemeral (higher) port.
fn client_by_port(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a.port() >= b.port() { (a, b) } else { (b, a) }
}

/// Connection tracker.
#[derive(Debug, Default)]
pub struct Analyzer {
    start: Option<Duration>,
    conns: Vec<Conn>,
    index: HashMap<(SocketAddr, SocketAddr, bool), usize>,
    frames: usize,
}

impl Analyzer {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Annotates the next packet.
    pub fn push(&mut self, p: &Packet) -> Row {
        self.frames += 1;
        let no = self.frames;
        let start = *self.start.get_or_insert(p.time);
        let time = p.time.saturating_sub(start);
        let is_tcp = matches!(p.transport, Transport::Tcp(_));
        let key = if p.src <= p.dst {
            (p.src, p.dst, is_tcp)
        } else {
            (p.dst, p.src, is_tcp)
        };
        let idx = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let (client, server) = match &p.transport {
                    Transport::Tcp(t) if t.flags.syn && !t.flags.ack => (p.src, p.dst),
                    Transport::Tcp(t) if t.flags.syn && t.flags.ack => (p.dst, p.src),
                    Transport::Tcp(_) => client_by_port(p.src, p.dst),
                    // A UDP client speaks first.
                    _ => (p.src, p.dst),
                };
                self.conns.push(Conn {
                    id: self.conns.len() + 1,
                    protocol: if is_tcp { "TCP" } else { "UDP" },
                    client,
                    server,
                    base: [None; 2],
                    high: [None; 2],
                    fin_end: [None; 2],
                    scale: [None; 2],
                    frames: Vec::new(),
                    bytes: [0; 2],
                });
                self.index.insert(key, self.conns.len() - 1);
                self.conns.len() - 1
            }
        };
        let conn = &mut self.conns[idx];
        let direction = if p.src == conn.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let d = direction.index();
        let arrow = format!("{} → {}", p.src.port(), p.dst.port());
        let mut notes = Vec::new();
        let info = match &p.transport {
            Transport::Icmp(_)
            | Transport::Fragment(_)
            | Transport::Truncated(_)
            | Transport::OtherIp(_) => format!("{arrow}"),
            Transport::Udp(udp) => {
                let payload = &udp.payload;
                conn.bytes[d] += u64::from(udp.len);
                conn.frames.push(Seen {
                    no,
                    dir: direction,
                    flags: Flags::default(),
                    seq: 0,
                    seq_end: 0,
                    ack: 0,
                    len: udp.len as usize,
                });
                notes.push(format!("datagram {}", preview(payload, PREVIEW)));
                format!("{arrow} Len={}", udp.len)
            }
            Transport::Tcp(t) => {
                let base = *conn.base[d].get_or_insert(t.seq);
                let seq_end = t.seq.wrapping_add(t.seq_len());
                let rel_seq = t.seq.wrapping_sub(base);
                let other = 1 - d;
                let mut info = format!("{arrow} {} Seq={rel_seq}", t.flags.label());
                if t.flags.ack {
                    let rel_ack = conn.base[other].map_or(t.ack, |b| t.ack.wrapping_sub(b));
                    info.push_str(&format!(" Ack={rel_ack}"));
                }
                if t.flags.syn {
                    conn.scale[d] = t.window_scale;
                }
                // As Wireshark: the window is scaled except in SYNs.
                let window = match (t.flags.syn, conn.scale) {
                    (false, [Some(a), Some(b)]) => u64::from(t.window) << [a, b][d].min(14),
                    _ => u64::from(t.window),
                };
                info.push_str(&format!(" Win={window} Len={}", t.len as usize));

                // Retransmission: sequence space already sent this way.
                let retransmitted = t.seq_len() > 0
                    && conn.high[d].is_some_and(|h| seq_le(seq_end, h))
                    && !t.flags.rst;
                if retransmitted {
                    notes.push("retransmission".to_string());
                } else if conn.high[d].is_none_or(|h| seq_lt(h, seq_end)) {
                    conn.high[d] = Some(seq_end);
                }

                // Handshake.
                if t.flags.syn && !t.flags.ack {
                    notes.push("handshake 1/3 (SYN)".into());
                } else if t.flags.syn && t.flags.ack {
                    notes.push("handshake 2/3 (SYN-ACK)".into());
                } else if t.flags.ack && direction == Direction::ClientToServer && !retransmitted {
                    let completes = conn
                        .frames
                        .iter()
                        .any(|f| f.flags.syn && f.flags.ack && f.seq_end == t.ack)
                        && !conn
                            .frames
                            .iter()
                            .any(|f| f.dir == Direction::ClientToServer && !f.flags.syn);
                    if completes {
                        notes.push("handshake 3/3 (ACK)".into());
                    }
                }

                // Teardown: the ACK of the other side's FIN, then our FIN.
                if t.flags.ack
                    && let Some(end) = conn.fin_end[other]
                    && seq_le(end, t.ack)
                {
                    let whose = if other == 0 { "client" } else { "server" };
                    notes.push(format!("teardown: ACK of the {whose}'s FIN"));
                    conn.fin_end[other] = None;
                }
                if t.flags.fin && !retransmitted {
                    notes.push(format!("teardown: FIN from the {}", direction.sender()));
                    conn.fin_end[d] = Some(seq_end);
                }
                if t.flags.rst {
                    notes.push(format!("reset by the {}", direction.sender()));
                }
                if t.len > 0 {
                    conn.bytes[d] += t.len as usize as u64;
                    notes.push(format!("data {}", preview(&t.payload, PREVIEW)));
                }
                conn.frames.push(Seen {
                    no,
                    dir: direction,
                    flags: t.flags,
                    seq: t.seq,
                    seq_end,
                    ack: t.ack,
                    len: t.len as usize,
                });
                info
            }
        };
        Row {
            no,
            time,
            src: p.src,
            dst: p.dst,
            protocol: conn.protocol,
            length: p.wire_len,
            conn: conn.id,
            direction,
            info,
            notes,
        }
    }

    /// Every connection and flow seen, in order of first frame.
    pub fn summaries(&self) -> Vec<Summary> {
        self.conns.iter().map(summarize).collect()
    }
}

fn summarize(c: &Conn) -> Summary {
    let mut s = Summary {
        conn: c.id,
        protocol: c.protocol,
        client: c.client,
        server: c.server,
        handshake: Vec::new(),
        teardown: Vec::new(),
        close: None,
        data_frames: c
            .frames
            .iter()
            .filter(|f| f.len > 0)
            .map(|f| f.no)
            .collect(),
        bytes: c.bytes,
        retransmissions: Vec::new(),
        frames: c.frames.len(),
    };
    if c.protocol != "TCP" {
        return s;
    }
    // Retransmissions, recomputed over the whole connection.
    let mut high: [Option<u32>; 2] = [None; 2];
    for f in &c.frames {
        let d = f.dir.index();
        let len = f.seq_end.wrapping_sub(f.seq);
        if len > 0 && !f.flags.rst && high[d].is_some_and(|h| seq_le(f.seq_end, h)) {
            s.retransmissions.push(f.no);
        } else if high[d].is_none_or(|h| seq_lt(h, f.seq_end)) {
            high[d] = Some(f.seq_end);
        }
    }

    // Handshake: SYN, SYN-ACK acknowledging it, ACK acknowledging that.
    let syn = c
        .frames
        .iter()
        .find(|f| f.flags.syn && !f.flags.ack && f.dir == Direction::ClientToServer);
    let synack = syn.and_then(|syn| {
        c.frames
            .iter()
            .find(|f| f.no > syn.no && f.flags.syn && f.flags.ack && f.ack == syn.seq_end)
    });
    let ack3 = synack.and_then(|sa| {
        c.frames.iter().find(|f| {
            f.no > sa.no
                && f.dir == Direction::ClientToServer
                && f.flags.ack
                && !f.flags.syn
                && f.ack == sa.seq_end
        })
    });
    for (frame, what) in [(syn, "SYN"), (synack, "SYN-ACK"), (ack3, "ACK")] {
        if let Some(f) = frame {
            s.handshake.push((f.no, what, f.dir));
        }
    }

    // Teardown.
    if let Some(rst) = c.frames.iter().find(|f| f.flags.rst) {
        s.teardown.push((rst.no, "RST".to_string(), rst.dir));
        s.close = Some(format!("reset by the {}", rst.dir.sender()));
        return s;
    }
    let is_fin = |f: &&Seen| f.flags.fin && !s.retransmissions.contains(&f.no);
    let Some(fin1) = c.frames.iter().find(is_fin) else {
        return s;
    };
    let acks = |fin: &Seen| {
        c.frames.iter().find(|f| {
            f.no > fin.no && f.dir != fin.dir && f.flags.ack && seq_le(fin.seq_end, f.ack)
        })
    };
    let fin2 = c.frames.iter().filter(is_fin).find(|f| f.dir != fin1.dir);
    let ack1 = acks(fin1);
    let ack2 = fin2.and_then(acks);
    let flags = |f: &Seen| if f.flags.ack { "FIN-ACK" } else { "FIN" };
    let who = |f: &Seen| f.dir.sender();
    match (fin2, ack1) {
        (Some(f2), Some(a1)) if a1.no == f2.no => {
            s.teardown.push((fin1.no, flags(fin1).into(), fin1.dir));
            s.teardown.push((
                f2.no,
                format!("{} (acknowledges the {}'s FIN)", flags(f2), who(fin1)),
                f2.dir,
            ));
            if let Some(a2) = ack2 {
                s.teardown.push((a2.no, "ACK".into(), a2.dir));
            }
            s.close = Some(format!(
                "three segments: the {} closed first; its FIN was acknowledged together with the {}'s FIN",
                who(fin1),
                who(f2)
            ));
        }
        (Some(f2), Some(a1)) if a1.no < f2.no => {
            s.teardown.push((fin1.no, flags(fin1).into(), fin1.dir));
            s.teardown.push((a1.no, "ACK".into(), a1.dir));
            s.teardown.push((f2.no, flags(f2).into(), f2.dir));
            if let Some(a2) = ack2 {
                s.teardown.push((a2.no, "ACK".into(), a2.dir));
            }
            s.close = Some(format!("four segments: the {} closed first", who(fin1)));
        }
        (Some(f2), a1) => {
            s.teardown.push((fin1.no, flags(fin1).into(), fin1.dir));
            s.teardown.push((f2.no, flags(f2).into(), f2.dir));
            for a in [a1, ack2].into_iter().flatten() {
                s.teardown.push((a.no, "ACK".into(), a.dir));
            }
            s.teardown.sort_by_key(|t| t.0);
            s.teardown.dedup_by_key(|t| t.0);
            s.close = Some(
                "simultaneous close: both sides sent FIN before either FIN was acknowledged".into(),
            );
        }
        (None, a1) => {
            s.teardown.push((fin1.no, flags(fin1).into(), fin1.dir));
            if let Some(a1) = a1 {
                s.teardown.push((a1.no, "ACK".into(), a1.dir));
            }
            s.close = Some(format!(
                "half-closed: only the {} sent FIN in this capture",
                who(fin1)
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{LinkType, build, decode};

    const C: &str = "127.0.0.1:52581";
    const S: &str = "127.0.0.1:13000";

    struct Script {
        a: Analyzer,
        rows: Vec<Row>,
        t: u64,
    }

    impl Script {
        fn new() -> Self {
            Script {
                a: Analyzer::new(),
                rows: Vec::new(),
                t: 0,
            }
        }

        fn tcp(
            &mut self,
            from_client: bool,
            seq: u32,
            ack: Option<u32>,
            flags: &str,
            payload: &[u8],
        ) -> &Row {
            let (c, s) = (C.parse().unwrap(), S.parse().unwrap());
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            self.push(build::tcp(src, dst, seq, ack, flags, payload))
        }

        fn push(&mut self, frame: Vec<u8>) -> &Row {
            self.t += 1000;
            let p = decode(
                LinkType::Ethernet,
                &frame,
                Duration::from_micros(self.t),
                frame.len() as u32,
            )
            .unwrap();
            let row = self.a.push(&p);
            self.rows.push(row);
            self.rows.last().unwrap()
        }

        fn handshake(&mut self) {
            self.tcp(true, 1000, None, "S", b"");
            self.tcp(false, 5000, Some(1001), "S", b"");
            self.tcp(true, 1001, Some(5001), "", b"");
        }
    }

    #[test]
    fn handshake_data_and_four_segment_teardown() {
        let mut s = Script::new();
        s.handshake();
        s.tcp(true, 1001, Some(5001), "P", b"tanmayi 31");
        s.tcp(false, 5001, Some(1011), "P", b"TANMAYI 31");
        s.tcp(true, 1011, Some(5011), "F", b"");
        s.tcp(false, 5011, Some(1012), "", b"");
        s.tcp(false, 5011, Some(1012), "F", b"");
        s.tcp(true, 1012, Some(5012), "", b"");

        let r = &s.rows;
        assert_eq!(r[0].info, "52581 → 13000 [SYN] Seq=0 Win=65483 Len=0");
        assert_eq!(
            r[1].info,
            "13000 → 52581 [SYN, ACK] Seq=0 Ack=1 Win=65483 Len=0"
        );
        assert_eq!(r[2].info, "52581 → 13000 [ACK] Seq=1 Ack=1 Win=65483 Len=0");
        assert_eq!(
            r[3].info,
            "52581 → 13000 [PSH, ACK] Seq=1 Ack=1 Win=65483 Len=10"
        );
        assert_eq!(
            r[4].info,
            "13000 → 52581 [PSH, ACK] Seq=1 Ack=11 Win=65483 Len=10"
        );
        assert_eq!(
            r[5].info,
            "52581 → 13000 [FIN, ACK] Seq=11 Ack=11 Win=65483 Len=0"
        );
        assert_eq!(
            r[8].info,
            "52581 → 13000 [ACK] Seq=12 Ack=12 Win=65483 Len=0"
        );
        assert_eq!(r[0].notes, ["handshake 1/3 (SYN)"]);
        assert_eq!(r[1].notes, ["handshake 2/3 (SYN-ACK)"]);
        assert_eq!(r[2].notes, ["handshake 3/3 (ACK)"]);
        assert!(r[3].notes.contains(&"data \"tanmayi 31\"".to_string()));
        assert_eq!(r[5].notes, ["teardown: FIN from the client"]);
        assert_eq!(r[6].notes, ["teardown: ACK of the client's FIN"]);
        assert_eq!(r[7].notes, ["teardown: FIN from the server"]);
        assert_eq!(r[8].notes, ["teardown: ACK of the server's FIN"]);
        assert_eq!(r[1].direction, Direction::ServerToClient);

        let sum = &s.a.summaries()[0];
        assert_eq!(
            sum.handshake.iter().map(|h| h.0).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            sum.teardown.iter().map(|t| t.0).collect::<Vec<_>>(),
            [6, 7, 8, 9]
        );
        assert_eq!(
            sum.close.as_deref(),
            Some("four segments: the client closed first")
        );
        assert_eq!(sum.data_frames, [4, 5]);
        assert_eq!(sum.bytes, [10, 10]);
        assert!(sum.retransmissions.is_empty());
    }

    #[test]
    fn three_segment_teardown() {
        let mut s = Script::new();
        s.handshake();
        s.tcp(true, 1001, Some(5001), "F", b"");
        s.tcp(false, 5001, Some(1002), "F", b"");
        s.tcp(true, 1002, Some(5002), "", b"");
        assert_eq!(
            s.rows[4].notes,
            [
                "teardown: ACK of the client's FIN",
                "teardown: FIN from the server"
            ]
        );
        let sum = &s.a.summaries()[0];
        assert_eq!(
            sum.teardown.iter().map(|t| t.0).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        assert!(sum.close.as_deref().unwrap().starts_with("three segments"));
    }

    #[test]
    fn simultaneous_close() {
        let mut s = Script::new();
        s.handshake();
        s.tcp(true, 1001, Some(5001), "F", b"");
        s.tcp(false, 5001, Some(1001), "F", b""); // has not seen the client's FIN
        s.tcp(true, 1002, Some(5002), "", b"");
        s.tcp(false, 5002, Some(1002), "", b"");
        let sum = &s.a.summaries()[0];
        assert!(
            sum.close
                .as_deref()
                .unwrap()
                .starts_with("simultaneous close"),
            "{:?}",
            sum.close
        );
        assert_eq!(
            sum.teardown.iter().map(|t| t.0).collect::<Vec<_>>(),
            [4, 5, 6, 7]
        );
    }

    #[test]
    fn reset() {
        let mut s = Script::new();
        s.handshake();
        s.tcp(true, 1001, Some(5001), "R", b"");
        assert_eq!(s.rows[3].notes, ["reset by the client"]);
        let sum = &s.a.summaries()[0];
        assert_eq!(sum.close.as_deref(), Some("reset by the client"));
        assert_eq!(
            sum.teardown,
            [(4, "RST".to_string(), Direction::ClientToServer)]
        );
    }

    #[test]
    fn retransmission_is_flagged() {
        let mut s = Script::new();
        s.handshake();
        s.tcp(true, 1001, Some(5001), "P", b"hello");
        s.tcp(true, 1001, Some(5001), "P", b"hello");
        assert!(s.rows[4].notes.contains(&"retransmission".to_string()));
        assert!(!s.rows[3].notes.contains(&"retransmission".to_string()));
        assert_eq!(s.a.summaries()[0].retransmissions, [5]);
    }

    #[test]
    fn mid_connection_capture_guesses_the_client_by_port() {
        let mut s = Script::new();
        let row = s.tcp(false, 9000, Some(3000), "P", b"reply");
        assert_eq!(row.direction, Direction::ServerToClient);
        assert_eq!(
            row.info,
            "13000 → 52581 [PSH, ACK] Seq=0 Ack=3000 Win=65483 Len=5"
        );
        let row = s.tcp(true, 3000, Some(9005), "", b"");
        assert_eq!(row.info, "52581 → 13000 [ACK] Seq=0 Ack=5 Win=65483 Len=0");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Script::new();
        s.tcp(true, u32::MAX - 1, None, "S", b"");
        s.tcp(false, 7, Some(u32::MAX), "S", b"");
        s.tcp(true, u32::MAX, Some(8), "P", b"abcd");
        let row = s.tcp(false, 8, Some(3), "", b"");
        assert_eq!(row.info, "13000 → 52581 [ACK] Seq=1 Ack=5 Win=65483 Len=0");
    }

    #[test]
    fn ipv6_and_udp_flows() {
        let mut s = Script::new();
        let (c, sv): (SocketAddr, SocketAddr) = (
            "[::1]:40000".parse().unwrap(),
            "[::1]:12000".parse().unwrap(),
        );
        s.push(build::udp(c, sv, b"amrita 31"));
        let row = s.push(build::udp(sv, c, b"AMRITA 31")).clone();
        assert_eq!(row.protocol, "UDP");
        assert_eq!(row.direction, Direction::ServerToClient);
        assert_eq!(row.info, "12000 → 40000 Len=9");
        assert_eq!(row.notes, ["datagram \"AMRITA 31\""]);
        let sum = &s.a.summaries()[0];
        assert_eq!((sum.client, sum.server, sum.bytes), (c, sv, [9, 9]));
    }

    // Mirrors the `trace_frame` fuzz target.
    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..12)) {
            let mut a = Analyzer::new();
            for (i, f) in frames.iter().enumerate() {
                for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::Null] {
                    if let Some(p) = decode(link, f, Duration::from_micros(i as u64), f.len() as u32) {
                        let _ = a.push(&p);
                    }
                }
            }
            let _ = a.summaries();
        }

        #[test]
        fn random_tcp_conversations_never_panic(
            steps in proptest::collection::vec((proptest::bool::ANY, proptest::num::u32::ANY, proptest::num::u32::ANY, 0u8..32, 0usize..4), 1..30)
        ) {
            let mut a = Analyzer::new();
            for (i, (from_client, seq, ack, flags, len)) in steps.into_iter().enumerate() {
                let (c, s): (SocketAddr, SocketAddr) = (C.parse().unwrap(), S.parse().unwrap());
                let (src, dst) = if from_client { (c, s) } else { (s, c) };
                let mut f = String::new();
                for (bit, ch) in [(1, 'S'), (2, 'F'), (4, 'R'), (8, 'P')] {
                    if flags & bit != 0 { f.push(ch); }
                }
                let ack = (flags & 16 != 0).then_some(ack);
                let frame = build::tcp(src, dst, seq, ack, &f, &b"data"[..len]);
                let p = decode(LinkType::Ethernet, &frame, Duration::from_micros(i as u64), frame.len() as u32).unwrap();
                let row = a.push(&p);
                proptest::prop_assert!(row.info.contains("Seq="));
            }
            for s in a.summaries() {
                proptest::prop_assert!(s.handshake.len() <= 3);
            }
        }
    }
}
