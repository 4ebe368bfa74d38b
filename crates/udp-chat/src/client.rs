//! The uppercase client: one datagram per line, its reply awaited.
//!
//! The socket is `connect()`ed to the server, so the kernel reports an ICMP
//! "port unreachable" as a refused receive: that becomes "nothing is
//! listening on ADDR" at once instead of a time-out. UDP may drop, delay or
//! duplicate either datagram, so an unanswered line is sent again, up to
//! `retries` times, and every datagram that arrives is judged by the
//! [`Ledger`]: only the waiting line's answer is returned, while copies of
//! earlier replies and replies to lines already given up are reported as
//! [`Notice`]s, never taken as the answer. Whatever is queued before a line
//! goes out is judged (and set aside) first.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use net_core::{Endpoint, sock};

use crate::ledger::{Ledger, Verdict};
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
    /// The line it answers (1 for the first line sent).
    pub line: u64,
}

/// A datagram that arrived but is no line's answer, so it was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Another copy of a reply already taken (the link or the server sent
    /// it twice, or both the line and its resend were answered).
    Duplicate {
        /// The line it answers.
        line: u64,
    },
    /// The reply to a line the client had given up on.
    Late {
        /// The line it answers.
        line: u64,
    },
    /// A datagram that answers no line sent, arriving while no line was
    /// waiting for its reply.
    Stray {
        /// Its size.
        len: usize,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Duplicate { line } => {
                write!(f, "a duplicate of line {line}'s reply arrived; ignored")
            }
            Notice::Late { line } => write!(
                f,
                "line {line}'s reply arrived after the client had given up on it; not printed"
            ),
            Notice::Stray { len } => write!(
                f,
                "a {len}-byte datagram that answers no line arrived between lines; ignored"
            ),
        }
    }
}

/// A client socket connected to one server.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
    buf: Vec<u8>,
    ledger: Ledger,
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
            // A server that echoes instead of uppercasing is matched too.
            ledger: Ledger::new(true),
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

    /// Lines sent so far.
    pub fn lines_sent(&self) -> u64 {
        self.ledger.sent()
    }

    /// The client socket, for a chat session.
    pub fn into_socket(self) -> UdpSocket {
        self.socket
    }

    /// Sends `msg` as one datagram and returns its reply; datagrams set
    /// aside on the way are logged at debug level.
    pub fn exchange(&mut self, msg: &[u8]) -> Result<Reply> {
        self.exchange_noting(msg, &mut |n| log::debug!("{n}"))
    }

    /// Sends `msg` as one datagram (again after each time-out, up to the
    /// retries) and returns its reply, passing each datagram set aside to
    /// `notice`. A reply that comes after [`Error::NoReply`] is a
    /// [`Notice::Late`] of a later exchange.
    pub fn exchange_noting(&mut self, msg: &[u8], notice: &mut dyn FnMut(Notice)) -> Result<Reply> {
        let max = max_datagram(self.server);
        if msg.len() > max {
            return Err(Error::TooLong {
                len: msg.len(),
                max,
                peer: self.server,
            });
        }
        self.set_aside_queued(notice);
        let line = self.ledger.send(msg);
        let result = self.await_reply(msg, line, notice);
        self.ledger.close();
        result
    }

    fn await_reply(
        &mut self,
        msg: &[u8],
        line: u64,
        notice: &mut dyn FnMut(Notice),
    ) -> Result<Reply> {
        let attempts = self.retries.saturating_add(1);
        for attempt in 1..=attempts {
            self.socket
                .send(msg)
                .map_err(|e| peer_error("send to", self.server, e))?;
            // Datagrams set aside do not extend the wait.
            let deadline = Instant::now() + self.timeout;
            while let Some(n) = self.recv_until(deadline)? {
                let data = &self.buf[..n];
                let answer = match self.ledger.judge(data) {
                    Verdict::Answer { .. } => true,
                    Verdict::Again { line } => {
                        notice(Notice::Duplicate { line });
                        false
                    }
                    Verdict::Late { line } => {
                        notice(Notice::Late { line });
                        false
                    }
                    // The server transforms text its own way (it neither
                    // uppercases nor echoes): take it, as the textbook
                    // client would.
                    Verdict::Unknown => self.ledger.accept(data).is_some(),
                };
                if answer {
                    return Ok(Reply {
                        data: data.to_vec(),
                        from: self.server,
                        line,
                    });
                }
            }
            log::debug!("no reply from {} to attempt {attempt}", self.server);
        }
        Err(Error::NoReply {
            line,
            peer: self.server,
            attempts,
            timeout_secs: self.timeout.as_secs_f64(),
        })
    }

    /// Receives one datagram into the buffer, waiting until `deadline`;
    /// `None` when it passes first.
    fn recv_until(&mut self, deadline: Instant) -> Result<Option<usize>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(left))
                .map_err(|e| peer_error("configure the socket for", self.server, e))?;
            match self.socket.recv(&mut self.buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if net_core::error::is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(peer_error("receive from", self.server, e)),
            }
        }
    }

    /// Judges the datagrams that arrived since the last exchange ended
    /// (copies and late replies, after a resend both copies may be
    /// answered), so none is taken as the answer to the next line.
    fn set_aside_queued(&mut self, notice: &mut dyn FnMut(Notice)) {
        if self.socket.set_nonblocking(true).is_err() {
            return;
        }
        while let Ok(n) = self.socket.recv(&mut self.buf) {
            notice(match self.ledger.judge(&self.buf[..n]) {
                Verdict::Again { line } | Verdict::Answer { line } => Notice::Duplicate { line },
                Verdict::Late { line } => Notice::Late { line },
                Verdict::Unknown => Notice::Stray { len: n },
            });
        }
        let _ = self.socket.set_nonblocking(false);
    }
}

/// The lab's client loop: each line of `input` goes out as one datagram
/// and its reply is printed followed by `received from ADDR`, until `quit`
/// or the end of input; with `prompt`, the lab's prompt comes first (for a
/// terminal). A line left unanswered after its retries is reported on
/// `diag` and the loop goes on with the next; datagrams set aside are
/// noted there too. At the end, [`Error::Unanswered`] says how many lines
/// got no reply; any other error (nothing listening, a line too long,
/// output failing) stops the loop at once.
pub fn run_lines<R: BufRead, W: Write, D: Write>(
    client: &mut Client,
    input: R,
    out: &mut W,
    diag: &mut D,
    prompt: bool,
) -> Result<()> {
    let prompt = prompt.then_some(PROMPT);
    let mut unanswered = 0u64;
    net_core::cli::for_each_line(input, out, prompt, |line, out| {
        if line == crate::chat::QUIT.as_bytes() {
            return Ok(false);
        }
        let mut note = |n: Notice| {
            let _ = writeln!(diag, "note: {n}");
        };
        match client.exchange_noting(line, &mut note) {
            Ok(reply) => out
                .write_all(&reply.data)
                .and_then(|()| writeln!(out, "\nreceived from {}", reply.from))
                .and_then(|()| out.flush())
                .map_err(|e| net_core::Error::io("write the reply", e))?,
            Err(e @ Error::NoReply { .. }) => {
                unanswered += 1;
                let _ = writeln!(diag, "warning: {e}");
            }
            Err(e) => return Err(e),
        }
        Ok(true)
    })?;
    if unanswered > 0 {
        return Err(Error::Unanswered {
            unanswered,
            sent: client.lines_sent(),
            peer: client.server(),
        });
    }
    Ok(())
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
            &mut io::sink(),
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

    #[test]
    fn datagrams_queued_between_lines_are_judged_before_the_next_line() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let between = server.try_clone().unwrap();
        let answering = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server
                    .send_to(&buf[..n].to_ascii_uppercase(), from)
                    .unwrap();
            }
        });
        let mut client = Client::connect(addr).unwrap();
        let mut notices = Vec::new();
        let mut note = |n| notices.push(n);
        assert_eq!(
            client.exchange_noting(b"one", &mut note).unwrap().data,
            b"ONE"
        );
        // Before the next line goes out: a copy of line 1's reply, and a
        // datagram that answers nothing (loopback queues them at once).
        let me = client.socket.local_addr().unwrap();
        between.send_to(b"ONE", me).unwrap();
        between.send_to(b"???", me).unwrap();
        let reply = client.exchange_noting(b"two", &mut note).unwrap();
        assert_eq!((reply.data.as_slice(), reply.line), (&b"TWO"[..], 2));
        answering.join().unwrap();
        assert_eq!(
            notices,
            [Notice::Duplicate { line: 1 }, Notice::Stray { len: 3 }]
        );
        assert_eq!(
            Notice::Stray { len: 3 }.to_string(),
            "a 3-byte datagram that answers no line arrived between lines; ignored"
        );
    }
}
