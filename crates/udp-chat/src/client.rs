//! The uppercase client: one datagram per message, one reply awaited.
//!
//! The socket is `connect()`ed to the server, so the kernel reports an ICMP
//! "port unreachable" as a refused receive: that becomes "nothing is
//! listening on ADDR" at once instead of a time-out. UDP may drop either
//! datagram, so an unanswered message is sent again, up to `retries` times.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use net_core::{Endpoint, sock};

use crate::{Error, RECV_BUFFER_SIZE, Result, max_datagram, peer_error};

/// Default wait for each reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default number of resends after the first datagram goes unanswered.
pub const DEFAULT_RETRIES: u32 = 2;

/// The lab's prompt (the textbook UDP client's), shown only when input
/// comes from a terminal.
pub const PROMPT: &str = "Input lowercase sentence: ";

/// A reply datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its payload.
    pub data: Vec<u8>,
    /// Who sent it (the server).
    pub from: SocketAddr,
}

/// A client socket connected to one server.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
    buf: Vec<u8>,
}

impl Client {
    /// A socket of the server's family on an ephemeral port, connected to
    /// `server`.
    pub fn connect(server: SocketAddr) -> Result<Client> {
        let socket = sock::udp_socket(sock::unspecified_for(server))?;
        socket
            .connect(server)
            .map_err(|e| peer_error("connect to", server, e))?;
        Ok(Client {
            socket,
            server,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            buf: vec![0; RECV_BUFFER_SIZE],
        })
    }

    /// Resolves `endpoint` and connects to its first address.
    pub fn resolve(endpoint: &Endpoint) -> Result<Client> {
        Self::connect(endpoint.resolve_one()?)
    }

    /// Sets the wait for each reply.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Sets how many times an unanswered message is sent again.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The client socket, for a chat session.
    pub fn into_socket(self) -> UdpSocket {
        self.socket
    }

    /// Sends `msg` as one datagram and returns the reply.
    pub fn exchange(&mut self, msg: &[u8]) -> Result<Reply> {
        let max = max_datagram(self.server);
        if msg.len() > max {
            return Err(Error::TooLong {
                len: msg.len(),
                max,
                peer: self.server,
            });
        }
        self.discard_stale();
        self.socket
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| peer_error("configure the socket for", self.server, e))?;
        let attempts = self.retries.saturating_add(1);
        for attempt in 1..=attempts {
            self.socket
                .send(msg)
                .map_err(|e| peer_error("send to", self.server, e))?;
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    return Ok(Reply {
                        data: self.buf[..n].to_vec(),
                        from: self.server,
                    });
                }
                Err(e) if net_core::error::is_timeout(&e) => {
                    log::debug!("no reply from {} to attempt {attempt}", self.server);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(peer_error("receive from", self.server, e)),
            }
        }
        Err(Error::NoReply {
            peer: self.server,
            attempts,
            timeout_secs: self.timeout.as_secs_f64(),
        })
    }

    /// Drops replies that arrived late for an earlier message (after a
    /// resend, both copies may be answered), so they are not taken as the
    /// answer to the next one.
    fn discard_stale(&mut self) {
        if self.socket.set_nonblocking(true).is_err() {
            return;
        }
        while let Ok(n) = self.socket.recv(&mut self.buf) {
            log::debug!("discarding a late {n}-byte reply");
        }
        let _ = self.socket.set_nonblocking(false);
    }
}

/// The lab's client loop: each line of `input` goes out as one datagram
/// and its reply is printed followed by `received from ADDR`, until `quit`
/// or the end of input; with `prompt`, the lab's prompt comes first (for a
/// terminal).
pub fn run_lines<R: std::io::BufRead, W: std::io::Write>(
    client: &mut Client,
    input: R,
    out: &mut W,
    prompt: bool,
) -> Result<()> {
    let prompt = prompt.then_some(PROMPT);
    net_core::cli::for_each_line(input, out, prompt, |line, out| {
        if line == crate::chat::QUIT.as_bytes() {
            return Ok(false);
        }
        let reply = client.exchange(line)?;
        out.write_all(&reply.data)
            .and_then(|()| writeln!(out, "\nreceived from {}", reply.from))
            .and_then(|()| out.flush())
            .map_err(|e| net_core::Error::io("write the reply", e))?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_until_quit_with_replies() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server
                    .send_to(&buf[..n].to_ascii_uppercase(), from)
                    .unwrap();
            }
        });
        let mut client = Client::connect(addr).unwrap();
        let mut out = Vec::new();
        run_lines(
            &mut client,
            &b"one\ntwo\r\nquit\nnever\n"[..],
            &mut out,
            true,
        )
        .unwrap();
        echo.join().unwrap();
        let p = PROMPT;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{p}ONE\nreceived from {addr}\n{p}TWO\nreceived from {addr}\n{p}")
        );
    }
}
