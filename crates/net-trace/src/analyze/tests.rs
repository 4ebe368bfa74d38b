use super::*;
use crate::decode::{ChecksumOf, Decoded, Decoder, Flags, LinkType, Quoted, build};

const C: &str = "127.0.0.1:52581";
const S: &str = "127.0.0.1:13000";

use TcpState::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Script {
    a: Analyzer,
    rows: Vec<Row>,
    t: u64,
    client: SocketAddr,
    server: SocketAddr,
}

impl Script {
    fn new() -> Self {
        Script::between(C, S)
    }

    fn between(client: &str, server: &str) -> Self {
        Script {
            a: Analyzer::new(),
            rows: Vec::new(),
            t: 0,
            client: addr(client),
            server: addr(server),
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
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        self.push(build::tcp(src, dst, seq, ack, flags, payload))
    }

    fn packet(&mut self, frame: &[u8]) -> Packet {
        self.t += 1000;
        match Decoder::new().decode(
            LinkType::Ethernet,
            frame,
            Duration::from_micros(self.t),
            frame.len() as u32,
        ) {
            Decoded::Packet(p) => p,
            Decoded::Other(o) => panic!("not a packet: {o:?}"),
        }
    }

    fn push(&mut self, frame: Vec<u8>) -> &Row {
        let p = self.packet(&frame);
        self.push_packet(&p)
    }

    fn push_packet(&mut self, p: &Packet) -> &Row {
        let row = self.a.push(p);
        self.rows.push(row);
        self.rows.last().unwrap()
    }

    fn handshake(&mut self) {
        self.tcp(true, 1000, None, "S", b"");
        self.tcp(false, 5000, Some(1001), "S", b"");
        self.tcp(true, 1001, Some(5001), "", b"");
    }

    fn summaries(&self) -> Vec<Summary> {
        self.a.summaries().collect()
    }

    fn states(&self) -> Vec<[TcpState; 2]> {
        self.rows.iter().map(|r| r.states.unwrap()).collect()
    }

    fn teardown_frames(&self, conn: usize) -> Vec<usize> {
        self.summaries()[conn]
            .teardown
            .iter()
            .map(|t| t.0)
            .collect()
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
    assert_eq!(r[1].direction, Some(Direction::ServerToClient));
    assert_eq!(
        s.states(),
        [
            [SynSent, SynReceived],
            [Established, SynReceived],
            [Established, Established],
            [Established, Established],
            [Established, Established],
            [FinWait1, CloseWait],
            [FinWait2, CloseWait],
            [TimeWait, LastAck],
            [TimeWait, Closed],
        ]
    );

    let sum = &s.summaries()[0];
    assert_eq!(
        sum.handshake.iter().map(|h| h.0).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(s.teardown_frames(0), [6, 7, 8, 9]);
    assert_eq!(
        sum.close.as_deref(),
        Some("four segments: the client closed first")
    );
    assert_eq!(sum.data_frames, 2);
    assert_eq!(sum.bytes, [10, 10]);
    assert_eq!((sum.frames, sum.span), (9, (1, 9)));
    assert!(!sum.mid_stream);
    assert_eq!(sum.retransmissions.count, 0);
    assert_eq!(sum.states, Some([TimeWait, Closed]));
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
    assert_eq!(
        s.states()[3..],
        [
            [FinWait1, CloseWait],
            [TimeWait, LastAck],
            [TimeWait, Closed]
        ]
    );
    assert_eq!(s.teardown_frames(0), [4, 5, 6]);
    let sum = &s.summaries()[0];
    assert!(sum.close.as_deref().unwrap().starts_with("three segments"));
    assert_eq!(sum.teardown[1].1, "FIN-ACK (acknowledges the client's FIN)");
}

#[test]
fn server_closes_first() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(false, 5001, Some(1001), "F", b"");
    s.tcp(true, 1001, Some(5002), "F", b"");
    s.tcp(false, 5002, Some(1002), "", b"");
    assert_eq!(
        s.states()[3..],
        [
            [CloseWait, FinWait1],
            [LastAck, TimeWait],
            [Closed, TimeWait]
        ]
    );
    let sum = &s.summaries()[0];
    assert_eq!(
        sum.close.as_deref(),
        Some(
            "three segments: the server closed first; its FIN was acknowledged together with the client's FIN"
        )
    );
}

#[test]
fn simultaneous_close() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(false, 5001, Some(1001), "F", b""); // had not seen the client's FIN
    s.tcp(true, 1002, Some(5002), "", b"");
    s.tcp(false, 5002, Some(1002), "", b"");
    let sum = &s.summaries()[0];
    assert!(
        sum.close
            .as_deref()
            .unwrap()
            .starts_with("simultaneous close"),
        "{:?}",
        sum.close
    );
    assert_eq!(s.teardown_frames(0), [4, 5, 6, 7]);
    assert_eq!(
        s.states()[3..],
        [
            [FinWait1, CloseWait],
            [Closing, Closing],
            [Closing, TimeWait],
            [TimeWait, TimeWait]
        ]
    );
}

#[test]
fn half_close_keeps_the_other_side_sending() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(false, 5001, Some(1002), "", b"");
    s.tcp(false, 5001, Some(1002), "P", b"still talking");
    assert_eq!(s.rows[5].states, Some([FinWait2, CloseWait]));
    let sum = &s.summaries()[0];
    assert_eq!(
        sum.close.as_deref(),
        Some("half-closed: only the client sent FIN in this capture")
    );
    assert_eq!(s.teardown_frames(0), [4, 5]);
    assert_eq!(sum.bytes, [0, 13]);
}

#[test]
fn reset() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "R", b"");
    assert_eq!(s.rows[3].notes, ["reset by the client"]);
    assert_eq!(s.rows[3].states, Some([Closed, Closed]));
    let sum = &s.summaries()[0];
    assert_eq!(sum.close.as_deref(), Some("reset by the client"));
    assert_eq!(
        sum.teardown,
        [(4, "RST".to_string(), Direction::ClientToServer)]
    );
}

#[test]
fn refused_and_abandoned_connections() {
    // Nothing listening: the server's host answers the SYN with RST.
    let mut s = Script::new();
    s.tcp(true, 1000, None, "S", b"");
    s.tcp(false, 0, Some(1001), "R", b"");
    assert_eq!(s.states(), [[SynSent, SynReceived], [Closed, Closed]]);
    assert_eq!(
        s.summaries()[0].close.as_deref(),
        Some("reset by the server")
    );
    // The client resets a half-open connection: the listener goes back
    // to listening.
    let mut s = Script::new();
    s.tcp(true, 1000, None, "S", b"");
    s.tcp(false, 5000, Some(1001), "S", b"");
    s.tcp(true, 1001, None, "R", b"");
    assert_eq!(s.rows[2].states, Some([Closed, Listen]));
}

#[test]
fn retransmitted_syn_and_fin_stay_in_one_connection() {
    let mut s = Script::new();
    s.tcp(true, 1000, None, "S", b"");
    s.tcp(true, 1000, None, "S", b"");
    s.tcp(false, 5000, Some(1001), "S", b"");
    s.tcp(true, 1001, Some(5001), "", b"");
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(false, 5001, Some(1002), "F", b"");
    s.tcp(true, 1002, Some(5002), "", b"");
    assert_eq!(s.a.connection_count(), 1);
    assert_eq!(s.rows[1].notes, ["retransmission", "handshake 1/3 (SYN)"]);
    assert_eq!(s.rows[1].states, Some([SynSent, SynReceived]));
    assert_eq!(s.rows[5].notes, ["retransmission"]);
    assert_eq!(s.rows[5].states, Some([FinWait1, CloseWait]));
    let sum = &s.summaries()[0];
    assert_eq!(
        sum.handshake.iter().map(|h| h.0).collect::<Vec<_>>(),
        [1, 3, 4]
    );
    assert_eq!(
        (
            sum.retransmissions.frames.as_slice(),
            sum.retransmissions.count
        ),
        (&[2, 6][..], 2)
    );
    assert_eq!(s.teardown_frames(0), [5, 7, 8]);
    assert_eq!(sum.states, Some([TimeWait, Closed]));
}

#[test]
fn retransmission_is_flagged() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"hello");
    s.tcp(true, 1001, Some(5001), "P", b"hello");
    assert!(s.rows[4].notes.contains(&"retransmission".to_string()));
    assert!(!s.rows[3].notes.contains(&"retransmission".to_string()));
    assert_eq!(s.summaries()[0].retransmissions.frames, [5]);
}

/// The summary tells the stream's length from the bytes sent again: a
/// resent segment, a segment overlapping one already sent, and the data
/// riding on a FIN.
#[test]
fn stream_bytes_are_counted_once_and_resent_ones_apart() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"hello");
    s.tcp(true, 1006, Some(5001), "P", b"world");
    s.tcp(true, 1001, Some(5001), "P", b"hello");
    s.tcp(true, 1003, Some(5001), "P", b"llowor");
    s.tcp(false, 5001, Some(1011), "FP", b"HELLOWORLD");
    let sum = &s.summaries()[0];
    assert_eq!(sum.bytes, [21, 10]);
    assert_eq!(sum.stream, [10, 10]);
    let text = crate::render::summary(sum, None, None);
    assert!(
        text.contains(
            "data: 5 frame(s); 10 bytes (11 more sent again) client→server, 10 bytes server→client"
        ),
        "{text}"
    );
}

#[test]
fn retransmission_list_is_capped_but_counted() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"hello");
    for _ in 0..RETRANSMISSIONS_LISTED + 4 {
        s.tcp(true, 1001, Some(5001), "P", b"hello");
    }
    let sum = &s.summaries()[0];
    assert_eq!(sum.retransmissions.frames.len(), RETRANSMISSIONS_LISTED);
    assert_eq!(sum.retransmissions.count, RETRANSMISSIONS_LISTED as u64 + 4);
    assert_eq!(sum.retransmissions.more(), 4);
    assert_eq!(sum.retransmissions.frames[0], 5);
}

#[test]
fn port_reuse_starts_a_new_connection() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(false, 5001, Some(1002), "F", b"");
    s.tcp(true, 1002, Some(5002), "", b"");
    // Same 4-tuple, new ISNs.
    s.tcp(true, 777_000, None, "S", b"");
    s.tcp(false, 888_000, Some(777_001), "S", b"");
    s.tcp(true, 777_001, Some(888_001), "P", b"again");
    assert_eq!(s.a.connection_count(), 2);
    let conns: Vec<_> = s.rows.iter().map(|r| r.conn.unwrap()).collect();
    assert_eq!(conns, [1, 1, 1, 1, 1, 1, 2, 2, 2]);
    // tshark tags the SYN that reuses the tuple.
    assert_eq!(
        s.rows[6].info,
        "[TCP Port numbers reused] 52581 → 13000 [SYN] Seq=0 Win=65483 Len=0"
    );
    assert!(s.rows[6].analysis.ports_reused && !s.rows[7].analysis.ports_reused);
    assert_eq!(
        s.rows[8].info,
        "52581 → 13000 [PSH, ACK] Seq=1 Ack=1 Win=65483 Len=5"
    );
    assert_eq!(s.rows[8].notes[0], "handshake 3/3 (ACK)");
    assert_eq!(s.rows[8].states, Some([Established, Established]));
    let sums = s.summaries();
    assert_eq!(
        sums[1].handshake.iter().map(|h| h.0).collect::<Vec<_>>(),
        [7, 8, 9]
    );
    assert!(
        sums[0]
            .close
            .as_deref()
            .unwrap()
            .starts_with("three segments")
    );
    assert_eq!(sums[1].close, None);
}

#[test]
fn port_reuse_by_the_former_server_swaps_roles() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "R", b"");
    s.tcp(false, 42, None, "S", b"");
    let sums = s.summaries();
    assert_eq!(sums.len(), 2);
    assert_eq!((sums[1].client, sums[1].server), (addr(S), addr(C)));
    assert_eq!(s.rows[4].direction, Some(Direction::ClientToServer));
}

#[test]
fn a_syn_with_the_same_sequence_number_is_a_retransmission() {
    // tshark 4.0 keeps a SYN with the first ISN in the same stream, even
    // after a reset.
    let mut s = Script::new();
    s.handshake();
    s.tcp(false, 5001, Some(1001), "R", b"");
    s.tcp(true, 1000, None, "S", b"");
    assert_eq!(s.a.connection_count(), 1);
    assert_eq!(s.rows[4].notes[0], "retransmission");
}

#[test]
fn mid_stream_capture_numbers_from_one_like_tshark() {
    // tshark: 80 → 5000 [PSH, ACK] Seq=1 Ack=1 … Len=5, then
    // 5000 → 80 [ACK] Seq=1 Ack=6, 5000 → 80 [PSH, ACK] Seq=1 Ack=6 Len=3,
    // 80 → 5000 [ACK] Seq=6 Ack=4.
    let mut s = Script::between("127.0.0.1:5000", "127.0.0.1:80");
    let row = s.tcp(false, 9000, Some(3000), "P", b"reply").clone();
    assert_eq!(row.direction, Some(Direction::ServerToClient));
    assert_eq!(row.info, "80 → 5000 [PSH, ACK] Seq=1 Ack=1 Win=65483 Len=5");
    assert_eq!(
        s.tcp(true, 3000, Some(9005), "", b"").info,
        "5000 → 80 [ACK] Seq=1 Ack=6 Win=65483 Len=0"
    );
    assert_eq!(
        s.tcp(true, 3000, Some(9005), "P", b"abc").info,
        "5000 → 80 [PSH, ACK] Seq=1 Ack=6 Win=65483 Len=3"
    );
    let row = s.tcp(false, 9005, Some(3003), "", b"").clone();
    assert_eq!(row.info, "80 → 5000 [ACK] Seq=6 Ack=4 Win=65483 Len=0");
    assert_eq!(row.states, Some([Established, Established]));
    let sum = &s.summaries()[0];
    assert!(sum.mid_stream && sum.handshake.is_empty());
    assert_eq!((sum.client, sum.server), (s.client, s.server));
}

#[test]
fn mid_stream_without_ack_learns_the_other_base_later() {
    // tshark: 5000 → 80 [PSH] Seq=1 Len=3; 80 → 5000 [PSH, ACK] Seq=1
    // Ack=4 Len=5; 5000 → 80 [ACK] Seq=4 Ack=6.
    let mut s = Script::between("127.0.0.1:5000", "127.0.0.1:80");
    let p = s.packet(&build::tcp(s.client, s.server, 3000, None, "P", b"abc"));
    let mut p = p;
    if let Transport::Tcp(t) = &mut p.transport {
        t.flags.ack = false;
    }
    assert_eq!(
        s.push_packet(&p).info,
        "5000 → 80 [PSH] Seq=1 Win=65483 Len=3"
    );
    assert_eq!(
        s.tcp(false, 9000, Some(3003), "P", b"reply").info,
        "80 → 5000 [PSH, ACK] Seq=1 Ack=4 Win=65483 Len=5"
    );
    assert_eq!(
        s.tcp(true, 3003, Some(9005), "", b"").info,
        "5000 → 80 [ACK] Seq=4 Ack=6 Win=65483 Len=0"
    );
}

#[test]
fn roles_without_a_syn_follow_the_ports() {
    assert_eq!(server_by_port(80, 5000), Some(true));
    assert_eq!(server_by_port(40000, 13000), Some(false));
    assert_eq!(server_by_port(13000, 12000), None);
    assert_eq!(server_by_port(50000, 40000), None);
    // A UDP flow whose first datagram was lost: the server's reply comes
    // first, and the server stays the server.
    let mut s = Script::new();
    let (c, sv) = (s.client, s.server);
    s.push(build::udp(sv, c, b"REPLY"));
    let sum = &s.summaries()[0];
    assert_eq!((sum.client, sum.server), (c, sv));
    assert_eq!(s.rows[0].direction, Some(Direction::ServerToClient));
    // Neither port tells: the first sender is the client.
    let mut s = Script::new();
    let (a, b) = (addr("127.0.0.1:13000"), addr("127.0.0.1:12000"));
    s.push(build::udp(a, b, b"x"));
    assert_eq!(s.summaries()[0].client, a);
}

#[test]
fn a_capture_that_missed_the_syn() {
    let mut s = Script::new();
    s.tcp(false, 5000, Some(1001), "S", b"");
    s.tcp(true, 1001, Some(5001), "P", b"hi");
    assert_eq!(
        s.rows[0].info,
        "13000 → 52581 [SYN, ACK] Seq=0 Ack=1 Win=65483 Len=0"
    );
    assert_eq!(
        s.states(),
        [[Established, SynReceived], [Established, Established]]
    );
    let sum = &s.summaries()[0];
    assert!(!sum.mid_stream);
    assert_eq!((sum.client, sum.server), (s.client, s.server));
    assert_eq!(
        sum.handshake,
        [
            (1, "SYN-ACK", Direction::ServerToClient),
            (2, "ACK", Direction::ClientToServer)
        ]
    );
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
fn every_flag_and_the_urgent_pointer_are_shown() {
    let mut s = Script::new();
    let mut p = s.packet(&build::tcp(s.client, s.server, 1, None, "S", b""));
    if let Transport::Tcp(t) = &mut p.transport {
        t.flags = Flags {
            syn: true,
            ece: true,
            cwr: true,
            ..Flags::default()
        };
    }
    assert_eq!(
        s.push_packet(&p).info,
        "52581 → 13000 [SYN, ECE, CWR] Seq=0 Win=65483 Len=0"
    );
    let mut p = s.packet(&build::tcp(s.client, s.server, 2, Some(1), "", b""));
    if let Transport::Tcp(t) = &mut p.transport {
        t.flags.urg = true;
        t.urgent = 3;
    }
    assert_eq!(
        s.push_packet(&p).info,
        "52581 → 13000 [ACK, URG] Seq=1 Ack=1 Win=65483 Urg=3 Len=0"
    );
}

#[test]
fn truncated_frames_show_their_wire_length() {
    let mut s = Script::new();
    s.handshake();
    let mut p = s.packet(&build::tcp(
        s.client,
        s.server,
        1001,
        Some(5001),
        "P",
        b"abcdef",
    ));
    if let Transport::Tcp(t) = &mut p.transport {
        t.len = 1448;
        t.payload.truncate(2);
    }
    p.wire_len = p.cap_len + 1442;
    let row = s.push_packet(&p).clone();
    // As tshark: Len= is the wire length, and Info stays as for a whole
    // frame; the note says bytes are missing.
    assert_eq!(
        row.info,
        "52581 → 13000 [PSH, ACK] Seq=1 Ack=1 Win=65483 Len=1448"
    );
    assert_eq!(row.notes[0], SIZE_LIMITED);
    assert_eq!(row.notes[1], "data \"ab\"");
    assert_eq!(s.summaries()[0].bytes, [1448, 0]);
    // A header cut short.
    let mut q = p.clone();
    q.transport = Transport::Truncated(6);
    let row = s.push_packet(&q);
    assert_eq!(
        (&*row.protocol, row.info.as_str(), row.conn),
        (
            "TCP",
            "52581 → 13000 [Packet size limited during capture]",
            None
        )
    );
    // Cut before the ports: nothing but the cut to show.
    q.src.set_port(0);
    q.dst.set_port(0);
    assert_eq!(s.push_packet(&q).info, SIZE_LIMITED);
}

#[test]
fn ipv6_and_udp_flows() {
    let mut s = Script::new();
    let (c, sv): (SocketAddr, SocketAddr) = (addr("[::1]:40000"), addr("[::1]:12000"));
    s.push(build::udp(c, sv, b"amrita 31"));
    let row = s.push(build::udp(sv, c, b"AMRITA 31")).clone();
    assert_eq!(row.protocol, "UDP");
    assert_eq!(row.direction, Some(Direction::ServerToClient));
    assert_eq!(row.info, "12000 → 40000 Len=9");
    assert_eq!(row.notes, ["datagram \"AMRITA 31\""]);
    assert_eq!(row.states, None);
    let sum = &s.summaries()[0];
    assert_eq!((sum.client, sum.server, sum.bytes), (c, sv, [9, 9]));
    assert_eq!(sum.states, None);
}

fn port_unreachable(from: SocketAddr, to: SocketAddr, quoted: Quoted) -> Packet {
    Packet {
        time: Duration::from_millis(50),
        wire_len: 70,
        cap_len: 70,
        src: SocketAddr::new(from.ip(), 0),
        dst: SocketAddr::new(to.ip(), 0),
        transport: Transport::Icmp(Icmp {
            v6: false,
            kind: 3,
            code: 3,
            echo: None,
            quoted: Some(quoted),
            ttl: 64,
            ndp: None,
        }),
        bad_checksum: None,
    }
}

#[test]
fn icmp_port_unreachable_is_attached_to_its_udp_flow() {
    let mut s = Script::new();
    let (c, sv) = (addr("127.0.0.1:40000"), addr("127.0.0.1:12000"));
    s.push(build::udp(c, sv, b"hello"));
    let icmp = port_unreachable(
        sv,
        c,
        Quoted {
            protocol: 17,
            src: c,
            dst: sv,
        },
    );
    let row = s.push_packet(&icmp).clone();
    assert_eq!(row.protocol, "ICMP");
    assert_eq!(row.info, "Destination unreachable (Port unreachable)");
    assert_eq!(
        row.notes,
        ["answers frame 1: nothing is listening on 12000"]
    );
    assert_eq!(
        (row.conn, row.direction),
        (Some(1), Some(Direction::ServerToClient))
    );
    let sum = &s.summaries()[0];
    assert_eq!(sum.icmp_count, 1);
    assert_eq!(
        sum.icmp[0],
        IcmpAnswer {
            frame: 2,
            answers: Some(1),
            from: Direction::ServerToClient,
            port_unreachable: true,
            what: "Destination unreachable (Port unreachable)".into(),
        }
    );
    assert_eq!(sum.frames, 1);
    // An error about nothing we saw is still a row, attached to nothing.
    let stray = port_unreachable(
        sv,
        c,
        Quoted {
            protocol: 17,
            src: addr("127.0.0.1:1"),
            dst: addr("127.0.0.1:2"),
        },
    );
    let row = s.push_packet(&stray);
    assert_eq!((row.conn, row.notes.len()), (None, 0));
}

#[test]
fn fragments_and_other_protocols_are_rows() {
    let mut s = Script::new();
    let p = Packet {
        time: Duration::ZERO,
        wire_len: 1514,
        cap_len: 1514,
        src: addr("10.0.0.1:0"),
        dst: addr("10.0.0.2:0"),
        transport: Transport::Fragment(Fragment {
            protocol: 17,
            id: 0x1c46,
            offset: 0,
            len: 1480,
            more: true,
        }),
        bad_checksum: None,
    };
    let row = s.push_packet(&p).clone();
    assert_eq!(row.protocol, "IPv4");
    assert_eq!(
        row.info,
        "Fragmented IP protocol (proto=UDP 17, off=0, ID=1c46)"
    );
    // IPv6 fragments say whether more follow, as tshark does.
    let mut v6 = p.clone();
    v6.src = addr("[::1]:0");
    v6.dst = addr("[::1]:0");
    for (more, offset, flag) in [(true, 0, 'y'), (false, 1448, 'n')] {
        v6.transport = Transport::Fragment(Fragment {
            protocol: 17,
            id: 0x0dfc_a9c7,
            offset,
            len: 568,
            more,
        });
        assert_eq!(
            s.push_packet(&v6).info,
            format!("IPv6 fragment (off={offset} more={flag} ident=0x0dfca9c7 nxt=17)")
        );
    }
    let mut q = p.clone();
    q.transport = Transport::OtherIp(47);
    assert_eq!(s.push_packet(&q).protocol, "GRE");
    q.transport = Transport::OtherIp(253);
    assert_eq!(s.push_packet(&q).protocol, "IPv4");
    assert_eq!(s.a.connection_count(), 0);
}

#[test]
fn every_frame_is_numbered_and_timed_from_the_first() {
    let mut a = Analyzer::new();
    let arp = OtherFrame {
        time: Duration::from_millis(1000),
        wire_len: 42,
        cap_len: 42,
        protocol: "ARP".into(),
        src: "00:00:00:00:00:01".into(),
        dst: "Broadcast".into(),
        info: "Who has 10.0.0.2? Tell 10.0.0.1".into(),
    };
    // Frame 1 is filtered out, yet it is the time origin.
    a.skip(Duration::from_millis(900));
    let row = a.push_other(&arp);
    assert_eq!((row.no, row.time), (2, Duration::from_millis(100).into()));
    assert_eq!(row.protocol, "ARP");
    assert_eq!(
        row.ends,
        Ends::Link {
            src: "00:00:00:00:00:01".into(),
            dst: "Broadcast".into()
        }
    );
    assert_eq!((row.conn, row.direction, row.states), (None, None, None));
    let frame = build::udp(addr(C), addr(S), b"x");
    let Decoded::Packet(p) = Decoder::new().decode(
        LinkType::Ethernet,
        &frame,
        Duration::from_millis(1500),
        frame.len() as u32,
    ) else {
        panic!("not a packet")
    };
    let row = a.push(&p);
    assert_eq!((row.no, row.time), (3, Duration::from_millis(600).into()));
    assert_eq!(row.ip_ends(), Some((addr(C), addr(S))));
    // A cut non-IP frame says so.
    let cut = OtherFrame { cap_len: 20, ..arp };
    assert!(a.push_other(&cut).info.ends_with(SIZE_LIMITED));
    // A frame stamped before the first (files concatenated with
    // `mergecap -a`): a negative time, as tshark's.
    let early = OtherFrame {
        time: Duration::from_millis(250),
        ..cut
    };
    let row = a.push_other(&early);
    assert_eq!((row.no, row.time.as_nanos()), (5, -650_000_000));
    assert_eq!(row.time.to_string(), "-0.650000");
}

#[test]
fn many_connections_stay_small() {
    // Each connection is a fixed-size record: frames do not add memory.
    // (About 140 bytes of it are tshark's sequence analysis, 56 the
    // streams' extents and what each receiver misses, 48 the lists of
    // segments waiting for their ACK, each at most UNACKED_LISTED long.)
    assert!(
        std::mem::size_of::<Conn>() <= 592,
        "{}",
        std::mem::size_of::<Conn>()
    );
    let mut s = Script::new();
    s.handshake();
    for i in 0..1000u32 {
        s.tcp(true, 1001 + i, Some(5001), "P", b"x");
    }
    let c = &s.a.conns[0];
    assert_eq!(c.frames, 1003);
    assert!(c.rare.is_none());
}

// Mirrors the `trace_frame` fuzz target.
proptest::proptest! {
    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..12)) {
        let mut a = Analyzer::new();
        let mut d = Decoder::new();
        for (i, f) in frames.iter().enumerate() {
            for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::Null] {
                match d.decode(link, f, Duration::from_micros(i as u64), f.len() as u32) {
                    Decoded::Packet(p) => { let _ = a.push(&p); }
                    Decoded::Other(o) => { let _ = a.push_other(&o); }
                }
            }
        }
        let _ = a.summaries().count();
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
            let Decoded::Packet(p) = Decoder::new().decode(LinkType::Ethernet, &frame, Duration::from_micros(i as u64), frame.len() as u32) else {
                panic!("not a packet");
            };
            let row = a.push(&p);
            proptest::prop_assert!(row.info.contains("Seq="));
            proptest::prop_assert!(row.states.is_some());
        }
        for s in a.summaries() {
            proptest::prop_assert!(s.handshake.len() <= 3);
            proptest::prop_assert!(s.teardown.len() <= 4);
        }
    }
}

#[test]
fn icmp_rows_use_tshark_words_for_echo_and_icmpv6() {
    let mut a = Analyzer::new();
    let echo = |v6: bool, kind: u8, ttl: u8| Packet {
        time: Duration::ZERO,
        wire_len: 75,
        cap_len: 75,
        src: addr("[::1]:0"),
        dst: addr("[::1]:0"),
        transport: Transport::Icmp(Icmp {
            v6,
            kind,
            code: 0,
            echo: Some((0x4e4c, 1)),
            quoted: None,
            ttl,
            ndp: None,
        }),
        bad_checksum: None,
    };
    // tshark 4.0 reads ping.pcap this way (its reply adds "(request in N)").
    assert_eq!(
        a.push(&echo(false, 0, 64)).info,
        "Echo (ping) reply    id=0x4e4c, seq=1/256, ttl=64"
    );
    assert_eq!(
        a.push(&echo(true, 128, 64)).info,
        "Echo (ping) request id=0x4e4c, seq=1, hop limit=64"
    );
    let mut unreachable = echo(true, 1, 64);
    if let Transport::Icmp(i) = &mut unreachable.transport {
        (i.code, i.echo) = (4, None);
    }
    assert_eq!(
        a.push(&unreachable).info,
        "Destination Unreachable (Port unreachable)"
    );
}

/// A client's FIN overtaken by its own later ACK (reordered on the path),
/// as captured at the server of a real, impaired link.
#[test]
fn a_fin_overtaken_by_a_later_ack_is_the_teardown_not_a_retransmission() {
    let mut s = Script::new();
    s.tcp(true, 1000, None, "S", b"");
    s.tcp(false, 5000, Some(1001), "S", b"");
    s.tcp(true, 1001, Some(5001), "P", b"tanmayi 31");
    s.tcp(false, 5001, Some(1011), "", b"");
    s.tcp(false, 5001, Some(1011), "P", b"TANMAYI 31");
    // Sent after the FIN, arrives before it.
    s.tcp(true, 1012, Some(5001), "", b"");
    // A duplicate of the handshake's last ACK.
    s.tcp(true, 1001, Some(5001), "", b"");
    s.tcp(false, 5011, Some(1011), "", b"");
    s.tcp(true, 1011, Some(5001), "F", b"");
    s.tcp(false, 5011, Some(1012), "F", b"");
    s.tcp(true, 1012, Some(5011), "", b"");
    s.tcp(true, 1012, Some(5012), "", b"");
    assert!(
        s.rows
            .iter()
            .all(|r| !r.notes.iter().any(|n| n == "retransmission"))
    );
    // tshark tags the FIN a retransmission (its bare ACK moved tshark's
    // next sequence number past it); the note says what it is.
    assert!(s.rows[8].info.starts_with("[TCP Retransmission] "));
    assert!(s.rows[8].analysis.overtaken);
    assert_eq!(
        s.rows[8].notes,
        [
            "not sent before: a later segment overtook it (tshark calls it a retransmission)",
            "teardown: FIN from the client"
        ]
    );
    assert_eq!(s.teardown_frames(0), [9, 10, 12]);
    let sum = &s.summaries()[0];
    assert_eq!(sum.retransmissions.count, 0);
    assert_eq!(sum.out_of_order.frames, [9]);
    assert_eq!(sum.states, Some([TimeWait, Closed]));
}

/// After both FINs were acknowledged, a duplicated ACK reaches the closed
/// server, which answers it with a reset: the close was the FIN exchange.
#[test]
fn a_reset_answering_a_stray_segment_after_the_close_is_not_the_teardown() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"GET /");
    s.tcp(false, 5001, Some(1006), "P", b"HTTP/1.1 200 OK");
    s.tcp(true, 1006, Some(5016), "F", b"");
    s.tcp(false, 5016, Some(1007), "F", b"");
    s.tcp(true, 1007, Some(5017), "", b"");
    s.tcp(true, 1007, Some(5017), "", b"");
    s.tcp(false, 5017, None, "R", b"");
    assert_eq!(s.teardown_frames(0), [6, 7, 8]);
    let sum = &s.summaries()[0];
    assert!(
        sum.close
            .as_deref()
            .is_some_and(|c| c.starts_with("three segments")),
        "{:?}",
        sum.close
    );
    assert_eq!(sum.after_close, Some((10, Direction::ServerToClient)));
    assert!(
        s.rows[9]
            .notes
            .iter()
            .any(|n| n.contains("after the close")),
        "{:?}",
        s.rows[9].notes
    );
}

#[test]
fn loss_duplicate_acks_and_a_fast_retransmission() {
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"one..");
    s.tcp(false, 5001, Some(1006), "", b"");
    // "two.." (1006) is lost before the capture.
    s.tcp(true, 1011, Some(5001), "P", b"three");
    s.tcp(false, 5001, Some(1006), "", b"");
    s.tcp(true, 1016, Some(5001), "P", b"four.");
    s.tcp(false, 5001, Some(1006), "", b"");
    s.tcp(true, 1006, Some(5001), "P", b"two..");
    s.tcp(false, 5001, Some(1021), "", b"");
    let tags: Vec<&str> = s
        .rows
        .iter()
        .map(|r| {
            r.info.rfind("[TCP ").map_or("", |at| {
                &r.info[..at + r.info[at..].find(']').unwrap_or(0) + 1]
            })
        })
        .collect();
    assert_eq!(
        tags[3..],
        [
            "",
            "",
            "[TCP Previous segment not captured]",
            "[TCP Dup ACK 5#1]",
            "",
            "[TCP Dup ACK 5#2]",
            "[TCP Fast Retransmission]",
            "",
        ]
    );
    assert_eq!(s.rows[6].analysis.dup_ack, Some((5, 1)));
    assert_eq!(
        s.rows[9].notes[0],
        "fast retransmission: the server's duplicate ACKs asked for it"
    );
    assert!(s.rows[8].notes[0].starts_with("duplicate ACK #2 of frame 5"));
    let sum = &s.summaries()[0];
    assert_eq!(sum.retransmissions.frames, [10]);
    assert_eq!(sum.fast_retransmissions, 1);
    assert_eq!(sum.dup_acks.frames, [7, 9]);
    assert_eq!(sum.not_captured.frames, [6]);
    assert_eq!(sum.out_of_order.count, 0);
}

#[test]
fn overtaken_copied_and_already_acknowledged_segments() {
    let mut s = Script::new();
    // A 10 ms first round trip.
    s.t = 0;
    s.tcp(true, 1000, None, "S", b"");
    s.t += 4_000;
    s.tcp(false, 5000, Some(1001), "S", b"");
    s.t += 4_000;
    s.tcp(true, 1001, Some(5001), "", b"");
    // The second segment overtakes the first by 5 ms: out of order.
    s.tcp(true, 1006, Some(5001), "P", b"bbbbb");
    s.t += 4_000;
    s.tcp(true, 1001, Some(5001), "P", b"aaaaa");
    assert!(s.rows[4].analysis.out_of_order, "{:?}", s.rows[4]);
    assert!(s.rows[4].info.starts_with("[TCP Out-Of-Order] 52581"));
    assert!(!s.rows[4].analysis.resent());
    // An exact copy of the latest segment is a retransmission however
    // soon it comes (a duplicating network).
    s.tcp(true, 1011, Some(5001), "P", b"ccccc");
    s.tcp(true, 1011, Some(5001), "P", b"ccccc");
    assert!(s.rows[6].analysis.retransmission);
    // Acknowledged, then sent again: spurious.
    s.tcp(false, 5001, Some(1016), "", b"");
    s.t += 300_000;
    s.tcp(true, 1011, Some(5001), "P", b"ccccc");
    assert!(s.rows[8].analysis.spurious_retransmission);
    assert!(s.rows[8].info.starts_with("[TCP Spurious Retransmission] "));
    let sum = &s.summaries()[0];
    assert_eq!(sum.out_of_order.frames, [5]);
    assert_eq!(
        (
            sum.retransmissions.frames.as_slice(),
            sum.spurious_retransmissions
        ),
        (&[7, 9][..], 1)
    );
    // Notes say it in words.
    assert_eq!(
        s.rows[4].notes[0],
        "out of order: a later segment came first"
    );
}

/// A frame whose checksum is wrong was corrupted on the way, and its
/// receiver dropped it: it is shown, tagged, and kept out of everything
/// else (no connection, direction, state, analysis or count).
#[test]
fn a_corrupted_frame_is_shown_and_left_out_of_the_analysis() {
    let (c, sv) = (addr("10.78.0.2:40001"), addr("10.78.0.1:13000"));
    let mut s = Script::between("10.78.0.2:40001", "10.78.0.1:13000");
    s.handshake();
    s.tcp(true, 1001, Some(5001), "P", b"segment 1 ");
    s.tcp(false, 5001, Some(1011), "", b"");
    let before = s.rows.last().unwrap().states;
    // A copy of the ACK with a bit flipped in its window: as delivered it
    // would be a duplicate ACK.
    let mut dup = build::tcp(sv, c, 5001, Some(1011), "", b"");
    dup[14 + 20 + 14] ^= 0x01;
    let row = s.push(dup).clone();
    assert_eq!(
        row.info,
        "13000 → 40001 [ACK] Seq=1 Ack=11 Win=65227 [TCP CHECKSUM INCORRECT] Len=0"
    );
    assert_eq!(
        (row.conn, row.direction, row.states),
        (None, None, None),
        "{row:?}"
    );
    assert_eq!(row.analysis, Findings::default());
    assert!(
        row.notes
            .iter()
            .any(|n| n.ends_with("corrupted on the way: the receiver drops it")),
        "{:?}",
        row.notes
    );
    // A copy of the data with a bit flipped in its source address
    // (10.78.0.2 became 10.78.0.130): no new connection, no retransmission.
    let mut data = build::tcp(c, sv, 1001, Some(5001), "P", b"segment 1 ");
    data[14 + 15] ^= 0x80;
    let row = s.push(data).clone();
    assert_eq!(row.bad_checksum.map(|b| b.of), Some(ChecksumOf::Ipv4));
    assert_eq!(
        row.ends,
        Ends::Ip {
            src: addr("10.78.0.130:40001"),
            dst: sv
        }
    );
    assert!(
        row.info.starts_with("40001 → 13000 [PSH, ACK] Seq=1001 "),
        "{}",
        row.info
    );
    assert!(
        row.info.ends_with(" [IPv4 CHECKSUM INCORRECT] Len=10"),
        "{}",
        row.info
    );
    assert_eq!((row.conn, row.direction), (None, None));
    // A FIN corrupted on the way closes nothing.
    let mut fin = build::tcp(c, sv, 1011, Some(5001), "F", b"");
    fin[14 + 20 + 4] ^= 0x01;
    s.push(fin);
    let sums = s.summaries();
    assert_eq!(sums.len(), 1, "{sums:?}");
    let sum = &sums[0];
    assert_eq!(sum.frames, 5);
    assert_eq!(sum.data_frames, 1);
    assert_eq!(sum.bytes, [10, 0]);
    assert_eq!(sum.retransmissions.count, 0);
    assert_eq!(sum.dup_acks.count, 0);
    assert!(sum.teardown.is_empty(), "{:?}", sum.teardown);
    assert_eq!(sum.states, before);
    assert_eq!(s.a.corrupted(), 3);
}

/// A FIN is taken by its receiver only once everything before it is in:
/// while the receiver's duplicate ACKs (or the sender's resending, or a
/// gap in the capture) show bytes before the FIN missing there, only the
/// sender's state moves; the receiver's ACK covering the FIN proves it
/// arrived.
#[test]
fn a_fin_behind_missing_bytes_waits_for_them() {
    // Captured at the server: its first segment is lost after the capture.
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1001, Some(5001), "F", b"");
    s.tcp(false, 5001, Some(1002), "", b"");
    s.tcp(false, 5001, Some(1002), "P", b"aaaaaaaaaa");
    s.tcp(false, 5011, Some(1002), "P", b"bbbbbbbbbb");
    let dup = s.tcp(true, 1002, Some(5001), "", b"").clone();
    assert!(dup.analysis.dup_ack.is_some(), "{}", dup.info);
    s.tcp(false, 5021, Some(1002), "F", b"");
    s.tcp(true, 1002, Some(5001), "", b"");
    s.tcp(false, 5001, Some(1002), "P", b"aaaaaaaaaa");
    s.tcp(true, 1002, Some(5022), "", b"");
    assert_eq!(
        s.states()[7..],
        [
            [FinWait2, CloseWait],
            [FinWait2, LastAck],
            [FinWait2, LastAck],
            [FinWait2, LastAck],
            [TimeWait, Closed],
        ]
    );

    // Captured at the client: the lost segment is a gap in the capture.
    let mut s = Script::new();
    s.handshake();
    s.tcp(false, 5011, Some(1001), "P", b"bbbbbbbbbb");
    s.tcp(false, 5021, Some(1001), "FP", b"cccccccccc");
    assert_eq!(s.states()[4], [Established, FinWait1]);
    s.tcp(true, 1001, Some(5001), "", b"");
    s.tcp(false, 5001, Some(1001), "P", b"aaaaaaaaaa");
    assert_eq!(s.states()[6], [Established, FinWait1]);
    s.tcp(true, 1001, Some(5032), "", b"");
    assert_eq!(s.states()[7], [CloseWait, FinWait2]);
    s.tcp(true, 1001, Some(5032), "F", b"");
    s.tcp(false, 5032, Some(1002), "", b"");
    assert_eq!(s.states()[9], [Closed, TimeWait]);

    // On a connection that has lost segments, bytes in flight before a
    // FIN may be lost too: the FIN waits for the receiver's ACK of what
    // came before it (here the server's reply was lost after the capture,
    // which only the client's later duplicate ACK shows).
    let mut s = Script::new();
    s.handshake();
    s.tcp(true, 1011, Some(5001), "F", b"");
    assert_eq!(s.states()[3], [FinWait1, Established]);
    s.tcp(true, 1001, Some(5001), "P", b"tanmayi 31");
    s.tcp(false, 5001, Some(1012), "", b"");
    assert_eq!(s.states()[5], [FinWait2, CloseWait]);
    s.tcp(false, 5001, Some(1012), "P", b"TANMAYI 31");
    s.tcp(false, 5011, Some(1012), "F", b"");
    assert_eq!(s.states()[7], [FinWait2, LastAck]);
    s.tcp(true, 1012, Some(5001), "", b"");
    s.tcp(false, 5001, Some(1012), "P", b"TANMAYI 31");
    assert_eq!(s.states()[9], [FinWait2, LastAck]);
    s.tcp(true, 1012, Some(5012), "", b"");
    assert_eq!(s.states()[10], [TimeWait, Closed]);
}
