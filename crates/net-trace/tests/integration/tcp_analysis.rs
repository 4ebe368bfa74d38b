//! tshark's TCP analysis tags on conversations over a simulated lossy,
//! reordering, duplicating link, as captured on the server's side:
//! net-trace's must be tshark's, frame by frame.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use net_trace::decode::LinkType;
use net_trace::pcapio::PcapOut;

use crate::fixtures::{our_rows, shark_info};

/// Payload bytes per segment, segments the client sends, and how many
/// may be unacknowledged at once.
const MSS: u32 = 100;
const SEGMENTS: u32 = 120;
const IN_FLIGHT: u32 = 8;
/// One-way delay, and its jitter (microseconds).
const DELAY_US: u64 = 5_000;
const JITTER_US: u64 = 3_000;
/// The client's retransmission timeout.
const RTO_US: u64 = 200_000;
/// Simulated time after which the client gives up.
const GIVE_UP_US: u64 = 600_000_000;

/// A small deterministic generator (xorshift64*), so a failing seed can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What happens at a moment of the simulation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A client segment reaches the server (and the capture): seq, len, flags.
    AtServer(u32, u32, &'static str),
    /// A server ACK reaches the client.
    AtClient(u32),
    /// The client's retransmission timer fires (for this generation).
    Timeout(u64),
}

/// The link and what is under way on it.
struct Link {
    rng: Rng,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    order: u64,
    /// Loss, duplication and reordering, in per cent.
    loss: u64,
    duplicate: u64,
    reorder: u64,
}

impl Link {
    fn at(&mut self, t: u64, e: Event) {
        self.order += 1;
        self.events.push(Reverse((t, self.order, e)));
    }

    /// The client sends a segment towards the server.
    fn send(&mut self, t: u64, seq: u32, len: u32, flags: &'static str) {
        if self.rng.chance(self.loss) {
            return;
        }
        let mut delay = DELAY_US + self.rng.below(JITTER_US);
        if self.rng.chance(self.reorder) {
            delay += self.rng.below(4 * DELAY_US);
        }
        self.at(t + delay, Event::AtServer(seq, len, flags));
        if self.rng.chance(self.duplicate) {
            let later = t + delay + self.rng.below(JITTER_US);
            self.at(later, Event::AtServer(seq, len, flags));
        }
    }
}

/// The client's sending side, in relative sequence numbers (data from 1).
struct Sender {
    una: u32,
    nxt: u32,
    fin_sent: bool,
    dup_acks: u32,
    /// The generation of the armed retransmission timer.
    timer: u64,
}

/// Payload bytes in all; the FIN follows them.
const TOTAL: u32 = SEGMENTS * MSS;

impl Sender {
    /// Sends what the window allows and restarts the timer.
    fn pump(&mut self, link: &mut Link, t: u64) {
        while self.nxt < 1 + TOTAL && self.nxt < self.una + IN_FLIGHT * MSS {
            link.send(t, self.nxt, MSS, "P");
            self.nxt += MSS;
        }
        if self.nxt == 1 + TOTAL && !self.fin_sent {
            link.send(t, self.nxt, 0, "F");
            self.fin_sent = true;
        }
        self.arm(link, t);
    }

    fn arm(&mut self, link: &mut Link, t: u64) {
        self.timer += 1;
        link.at(t + RTO_US, Event::Timeout(self.timer));
    }

    /// Sends the oldest unacknowledged segment again.
    fn resend(&self, link: &mut Link, t: u64) {
        if self.una == 1 + TOTAL {
            link.send(t, self.una, 0, "F");
        } else {
            link.send(t, self.una, MSS, "P");
        }
    }
}

/// The frames a capture on the server's side records for one connection
/// whose client sends `SEGMENTS` segments over a link that loses,
/// duplicates and delays (reorders) them; times in microseconds.
pub(crate) fn simulate(seed: u64, loss: u64, duplicate: u64, reorder: u64) -> Vec<(u64, Vec<u8>)> {
    use net_trace::decode::build::tcp;
    let client: SocketAddr = "10.78.0.2:40000".parse().unwrap();
    let server: SocketAddr = "10.78.0.1:13000".parse().unwrap();
    let (isn_c, isn_s) = (1_000u32, 9_000u32);
    let mut link = Link {
        rng: Rng(seed | 1),
        events: BinaryHeap::new(),
        order: 0,
        loss,
        duplicate,
        reorder,
    };
    // The handshake, with a clean round trip.
    let mut frames = vec![
        (1_000, tcp(client, server, isn_c, None, "S", b"")),
        (1_010, tcp(server, client, isn_s, Some(isn_c + 1), "S", b"")),
    ];
    let now = 1_010 + 2 * DELAY_US;
    frames.push((
        now,
        tcp(client, server, isn_c + 1, Some(isn_s + 1), "", b""),
    ));
    let mut sender = Sender {
        una: 1,
        nxt: 1,
        fin_sent: false,
        dup_acks: 0,
        timer: 0,
    };
    sender.pump(&mut link, now);
    let mut received = BTreeSet::new();
    let mut rcv_nxt = 1u32;
    while let Some(Reverse((t, _, e))) = link.events.pop() {
        // However bad the link, the simulation ends.
        if t > GIVE_UP_US {
            break;
        }
        match e {
            Event::AtServer(seq, len, flags) => {
                let data = vec![b'a' + (seq / MSS % 26) as u8; len as usize];
                let ack = Some(isn_s + 1);
                frames.push((t, tcp(client, server, isn_c + seq, ack, flags, &data)));
                received.insert(seq);
                while received.contains(&rcv_nxt) {
                    rcv_nxt += if rcv_nxt == 1 + TOTAL { 1 } else { MSS };
                }
                // The server acknowledges every segment at once.
                let reply = tcp(server, client, isn_s + 1, Some(isn_c + rcv_nxt), "", b"");
                frames.push((t + 5, reply));
                if !link.rng.chance(link.loss) {
                    let delay = DELAY_US + link.rng.below(JITTER_US);
                    link.at(t + 5 + delay, Event::AtClient(rcv_nxt));
                }
            }
            Event::AtClient(ack) if ack > sender.una => {
                sender.una = ack;
                sender.dup_acks = 0;
                if sender.una == TOTAL + 2 {
                    break;
                }
                sender.pump(&mut link, t);
            }
            Event::AtClient(_) => {
                sender.dup_acks += 1;
                if sender.dup_acks == 3 {
                    sender.resend(&mut link, t);
                }
            }
            Event::Timeout(generation) if generation == sender.timer => {
                sender.resend(&mut link, t);
                sender.arm(&mut link, t);
            }
            Event::Timeout(_) => {}
        }
    }
    frames.sort_by_key(|f| f.0);
    frames
}

pub(crate) fn write(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut out = PcapOut::create(path, LinkType::Ethernet).unwrap();
    for (t, f) in frames {
        out.write(Duration::from_micros(*t), f, f.len() as u32)
            .unwrap();
    }
    out.flush().unwrap();
}

/// The leading `[TCP …]` tags of an Info text.
fn tags(info: &str) -> Vec<String> {
    shark_info(info).0.into_iter().map(str::to_string).collect()
}

fn ours(path: &Path) -> Vec<Vec<String>> {
    our_rows(path).0.iter().map(|r| tags(&r.info)).collect()
}

fn tsharks(path: &Path) -> Vec<Vec<String>> {
    testkit::peers::tshark_text(path, &["-T", "fields", "-e", "_ws.col.Info"])
        .lines()
        .map(tags)
        .collect()
}

/// The links simulated: (loss, duplicate, reorder) in per cent.
pub(crate) const LINKS: [(u64, u64, u64); 5] =
    [(5, 0, 0), (0, 10, 0), (0, 0, 25), (10, 5, 20), (30, 0, 10)];

#[test]
#[ignore = "needs tshark"]
fn lossy_links_are_tagged_as_tshark_tags_them() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    let mut seen = BTreeSet::new();
    // Two seeds each.
    for (i, &(loss, duplicate, reorder)) in LINKS.iter().enumerate() {
        for seed in [7u64, 1234] {
            let path = dir.path().join(format!("link{i}-{seed}.pcap"));
            let frames = simulate(seed + i as u64, loss, duplicate, reorder);
            write(&path, &frames);
            let (ours, theirs) = (ours(&path), tsharks(&path));
            assert_eq!(ours.len(), theirs.len(), "{}", path.display());
            let diffs: Vec<String> = ours
                .iter()
                .zip(&theirs)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(n, (a, b))| format!("frame {}: ours {a:?}, tshark {b:?}", n + 1))
                .collect();
            assert!(
                diffs.is_empty(),
                "loss {loss}% duplicate {duplicate}% reorder {reorder}% seed {seed}:\n{}",
                diffs.join("\n")
            );
            for t in theirs.iter().flatten() {
                // `[TCP Dup ACK 12#3]` counts as one kind.
                seen.insert(
                    t.split(|c: char| c.is_ascii_digit())
                        .next()
                        .unwrap_or(t)
                        .to_string(),
                );
            }
        }
    }
    // The simulation did produce what it is for.
    for kind in [
        "[TCP Retransmission]",
        "[TCP Fast Retransmission]",
        "[TCP Spurious Retransmission]",
        "[TCP Out-Of-Order]",
        "[TCP Dup ACK ",
        "[TCP Previous segment not captured]",
    ] {
        assert!(seen.contains(kind), "no {kind} in {seen:?}");
    }
}
