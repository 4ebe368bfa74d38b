//! The uppercase server: each datagram is answered with its text
//! uppercased, one reply per datagram, nothing else.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use net_core::text::{PREVIEW_CHARS, UppercaseStream, excerpt_into};
use net_core::{AccessLog, Error as NetError, Shutdown};

use crate::{RECV_BUFFER_SIZE, max_datagram};

/// Pause after an unexpected receive error, so a persistent one cannot spin
/// the loop.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the `MESSAGE from ADDR` lines go.
    pub log: AccessLog,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log: AccessLog::stdout(),
        }
    }
}

impl Config {
    /// No log: for embedding and tests.
    pub fn quiet() -> Self {
        Config {
            log: AccessLog::disabled(),
        }
    }
}

/// Serves `socket` until `shutdown` fires. No datagram and no receive
/// error ends the loop; only shutdown does.
pub fn run(socket: UdpSocket, shutdown: &Shutdown, config: Config) -> Result<(), NetError> {
    shutdown.wake_udp(&socket)?;
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    // Reused for every reply: the ASCII path allocates nothing per datagram.
    let mut reply = Vec::with_capacity(RECV_BUFFER_SIZE);
    let mut line = LogLine::default();
    while !shutdown.is_fired() {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) => {
                recv_failed(&e, shutdown);
                continue;
            }
        };
        if shutdown.is_fired() {
            break; // the waker's datagram
        }
        if answer(&socket, &buf[..n], peer, &mut reply) && config.log.is_enabled() {
            config.log.line_str(line.render(&reply, peer));
        }
    }
    config.log.flush();
    Ok(())
}

/// The log line, `AMRITA 31 from 127.0.0.1:60915`, built in a buffer kept
/// from one datagram to the next. ` from ADDR` is kept for the last few
/// senders, so a server answering a handful of clients in turn does not
/// format an address per datagram.
#[derive(Default)]
struct LogLine {
    text: String,
    /// Recent senders and ` from ADDR` for each; the oldest is replaced.
    peers: Vec<(SocketAddr, String)>,
    next_slot: usize,
}

/// Senders whose ` from ADDR` text [`LogLine`] keeps.
const REMEMBERED_PEERS: usize = 16;

impl LogLine {
    fn render(&mut self, reply: &[u8], peer: SocketAddr) -> &str {
        self.text.clear();
        excerpt_into(&mut self.text, reply, PREVIEW_CHARS);
        let from = match self.peers.iter().position(|(p, _)| *p == peer) {
            Some(i) => &self.peers[i].1,
            None => {
                let text = format!(" from {peer}");
                let slot = if self.peers.len() < REMEMBERED_PEERS {
                    self.peers.push((peer, text));
                    self.peers.len() - 1
                } else {
                    let slot = self.next_slot;
                    self.next_slot = (slot + 1) % REMEMBERED_PEERS;
                    self.peers[slot] = (peer, text);
                    slot
                };
                &self.peers[slot].1
            }
        };
        self.text.push_str(from);
        &self.text
    }
}

/// Uppercases one datagram into `reply` and sends it back to `peer`;
/// false when nothing was sent.
fn answer(socket: &UdpSocket, msg: &[u8], peer: SocketAddr, reply: &mut Vec<u8>) -> bool {
    reply.clear();
    let mut upper = UppercaseStream::new();
    upper.feed(msg, reply);
    upper.finish(reply);
    let max = max_datagram(peer);
    if reply.len() > max {
        // Case mapping can grow text (ΐ → Ϊ́ is 2 bytes to 6).
        log::warn!(
            "not answering {peer}: the {}-byte message uppercases to {} bytes, over the {max}-byte datagram limit",
            msg.len(),
            reply.len()
        );
        return false;
    }
    if let Err(e) = socket.send_to(reply, peer) {
        log::warn!("cannot answer {peer}: {}", net_core::error::describe(&e));
        return false;
    }
    true
}

fn recv_failed(e: &io::Error, shutdown: &Shutdown) {
    match e.kind() {
        // An ICMP error for an earlier reply (some systems report it on the
        // next receive): that client is gone, the others are not.
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
            log::debug!("receive: {e}")
        }
        io::ErrorKind::Interrupted => {}
        _ => {
            log::warn!("receive failed: {}", net_core::error::describe(e));
            shutdown.wait_timeout(RECV_ERROR_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_logs() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let me = client.local_addr().unwrap();
        let mut reply = Vec::new();
        assert!(answer(&server, "straße".as_bytes(), me, &mut reply));
        let mut got = [0u8; 64];
        let (n, from) = client.recv_from(&mut got).unwrap();
        assert_eq!(&got[..n], b"STRASSE");
        assert_eq!(from, server.local_addr().unwrap());
        let mut line = LogLine::default();
        assert_eq!(line.render(&reply, me), format!("STRASSE from {me}"));
    }

    #[test]
    fn log_lines_follow_the_sender() {
        let mut line = LogLine::default();
        let (a, b) = ("127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap());
        assert_eq!(line.render(b"ONE", a), "ONE from 127.0.0.1:1");
        assert_eq!(line.render(b"", a), "(empty) from 127.0.0.1:1");
        assert_eq!(line.render(b"X\n", b), "X\\n from [::1]:2");
        assert_eq!(line.render(b"Y", a), "Y from 127.0.0.1:1");
        // More senders than are remembered, in turn, twice: each line
        // still names its own.
        for round in 0..2 {
            for port in 1..=(REMEMBERED_PEERS as u16 + 5) {
                let peer: SocketAddr = ([127, 0, 0, 9], port).into();
                assert_eq!(
                    line.render(b"Z", peer),
                    format!("Z from 127.0.0.9:{port}"),
                    "round {round}"
                );
            }
        }
        assert!(line.peers.len() <= REMEMBERED_PEERS);
    }

    #[test]
    fn growth_over_the_limit_is_skipped() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let huge = "ΐ".repeat(30_000); // 60,000 bytes → 180,000 uppercased
        let mut reply = Vec::new();
        let sent = answer(
            &server,
            huge.as_bytes(),
            client.local_addr().unwrap(),
            &mut reply,
        );
        assert!(!sent);
        client.set_nonblocking(true).unwrap();
        let mut got = [0u8; 16];
        assert!(client.recv_from(&mut got).is_err(), "nothing may be sent");
    }

    #[test]
    fn limits_depend_on_the_family() {
        assert_eq!(max_datagram("1.2.3.4:1".parse().unwrap()), 65_507);
        assert_eq!(max_datagram("[::1]:1".parse().unwrap()), 65_527);
        assert_eq!(max_datagram("[::ffff:1.2.3.4]:1".parse().unwrap()), 65_507);
    }
}
