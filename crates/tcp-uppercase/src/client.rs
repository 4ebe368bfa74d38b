//! The uppercase client.
//!
//! Two ways to talk to a server:
//! - [`Client::send_sentence_to`]: send the sentence, half-close, and copy
//!   the reply to a writer as it arrives, until EOF — what the textbook
//!   `TCPServer.py` (one `recv`, reply, close) needs, and what our server
//!   answers the same way. Nothing is held beyond one read's worth, so a
//!   reply of any size (or a server that never stops) streams through.
//! - [`Client::exchange_line`]: send a line ending in `\n` and read the reply
//!   up to its `\n`, over one connection kept for the next line. If the
//!   server closed it in between (the textbook server closes after each
//!   reply), the next line reconnects transparently.
//! - [`run_stream`]: standard input and the replies at once, over one
//!   connection (see [`duplex`](crate::duplex)).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as Half, SocketAddr, TcpStream};
use std::time::Duration;

use net_core::{Endpoint, Error as NetError, sock};

use crate::{Error, Result};

/// Default time to wait for a reply (per read), and for the server to
/// take the next bytes of a message (per write).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The lab's prompt (the textbook TCP client's), shown only when input
/// comes from a terminal.
pub const PROMPT: &str = "Input lowercase sentence: ";
/// Messages up to this size are written before the reply is read, on one
/// thread: the message and its reply (at most three times as big) fit the
/// socket buffers, so the server can never be left waiting for us to read.
/// Longer ones are written by a second thread while this one reads, so a
/// line of any size comes back without deadlock.
pub const INLINE_WRITE_MAX: usize = 16 * 1024;

/// A client for one server.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    connect_timeout: Duration,
    timeout: Duration,
    conn: Option<Conn>,
}

#[derive(Debug)]
struct Conn {
    reader: BufReader<TcpStream>,
    peer: SocketAddr,
}

impl Client {
    /// A client for `endpoint` with default time-outs; nothing is connected
    /// until the first exchange.
    pub fn new(endpoint: Endpoint) -> Self {
        Client {
            endpoint,
            connect_timeout: sock::DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            conn: None,
        }
    }

    /// Sets the connect time-out.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets how long to wait for reply bytes.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// How long a reply may stall.
    pub(crate) fn reply_timeout(&self) -> Duration {
        self.timeout
    }

    /// A client with the same server and time-outs, not connected.
    pub(crate) fn clone_settings(&self) -> Client {
        Client::new(self.endpoint.clone())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
    }

    /// Opens a connection (no delay, time-outs set) and returns it with
    /// the server's address.
    pub(crate) fn open(&self) -> Result<(TcpStream, SocketAddr)> {
        let conn = self.connect()?;
        Ok((conn.reader.into_inner(), conn.peer))
    }

    fn connect(&self) -> Result<Conn> {
        let stream = sock::connect(&self.endpoint, self.connect_timeout)?;
        let peer = stream
            .peer_addr()
            .map_err(|e| NetError::io(format!("connect to {}", self.endpoint), e))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| NetError::io(format!("configure the connection to {peer}"), e))?;
        Ok(Conn {
            reader: BufReader::new(stream),
            peer,
        })
    }

    /// Sends `sentence` on a fresh connection, half-closes, and returns
    /// everything the server sends until it closes (in memory: for
    /// replies known to be small; see [`send_sentence_to`](Self::send_sentence_to)).
    pub fn send_sentence(&mut self, sentence: &[u8]) -> Result<Vec<u8>> {
        let mut reply = Vec::new();
        self.send_sentence_to(sentence, &mut reply)?;
        Ok(reply)
    }

    /// Sends `sentence` on a fresh connection, half-closes, and writes
    /// what the server sends to `out` as it arrives (flushing each piece),
    /// until the server closes. Returns the bytes received.
    pub fn send_sentence_to<W: Write>(&mut self, sentence: &[u8], out: &mut W) -> Result<u64> {
        let mut conn = self.connect()?;
        let peer = conn.peer;
        let mut sink_error = None;
        let (sent, read) = send_while_reading(&mut conn.reader, sentence, true, |r| {
            copy_reply(r, out, &mut sink_error)
        });
        if let Some(e) = sink_error {
            return Err(NetError::io("write the reply", e).into());
        }
        sent.map_err(|e| self.send_error(peer, e))?;
        let n = read.map_err(|e| self.io_error("read the reply from", peer, e))?;
        if n == 0 && !sentence.is_empty() {
            return Err(Error::NoReply {
                peer: peer.to_string(),
            });
        }
        Ok(n)
    }

    /// Sends `line` (a `\n` is appended) and returns the reply without its
    /// line ending, keeping the connection for the next line.
    pub fn exchange_line(&mut self, line: &[u8]) -> Result<Vec<u8>> {
        let mut msg = Vec::with_capacity(line.len() + 1);
        msg.extend_from_slice(line);
        msg.push(b'\n');
        // A kept connection may have been closed by the server since the
        // last line; that shows up as an empty reply, and one retry on a
        // fresh connection is safe because nothing was answered.
        let reused = self.conn.is_some();
        match self.try_exchange(&msg) {
            Err(Error::NoReply { .. }) if reused => self.try_exchange(&msg),
            other => other,
        }
    }

    fn try_exchange(&mut self, msg: &[u8]) -> Result<Vec<u8>> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let peer = conn.peer;
        let mut reply = Vec::new();
        let (sent, read) = send_while_reading(&mut conn.reader, msg, false, |r| {
            r.read_until(b'\n', &mut reply)
        });
        if let Err(e) = sent {
            // A reset from a server that already closed: treat like EOF.
            if is_disconnect(&e) {
                return Err(Error::NoReply {
                    peer: peer.to_string(),
                });
            }
            return Err(self.send_error(peer, e));
        }
        let n = match read {
            Ok(n) => n,
            Err(e) if is_disconnect(&e) => 0,
            Err(e) => return Err(self.io_error("read the reply from", peer, e)),
        };
        if n == 0 {
            return Err(Error::NoReply {
                peer: peer.to_string(),
            });
        }
        if reply.ends_with(b"\n") {
            reply.pop();
            if reply.ends_with(b"\r") {
                reply.pop();
            }
            self.conn = Some(conn); // complete line: the connection is in sync
        }
        // Otherwise the server closed after a partial line: forget it.
        Ok(reply)
    }

    fn send_error(&self, peer: SocketAddr, e: io::Error) -> Error {
        if net_core::error::is_timeout(&e) {
            return NetError::TimedOut {
                action: "waiting for the server to take our message at",
                target: peer.to_string(),
                after: self.timeout,
            }
            .into();
        }
        NetError::io(format!("send to {peer}"), e).into()
    }

    fn io_error(&self, what: &str, peer: SocketAddr, e: io::Error) -> Error {
        if net_core::error::is_timeout(&e) {
            return NetError::TimedOut {
                action: "waiting for a reply from",
                target: peer.to_string(),
                after: self.timeout,
            }
            .into();
        }
        NetError::io(format!("{what} {peer}"), e).into()
    }
}

/// Sends `msg` (then half-closes with `half_close`) while `read` reads the
/// reply from `reader`: long messages from a second thread, so neither side
/// waits on a buffer the other is not emptying. Returns both outcomes.
fn send_while_reading<T>(
    reader: &mut BufReader<TcpStream>,
    msg: &[u8],
    half_close: bool,
    read: impl FnOnce(&mut BufReader<TcpStream>) -> io::Result<T>,
) -> (io::Result<()>, io::Result<T>) {
    let send = |mut stream: &TcpStream| {
        stream.write_all(msg)?;
        if half_close {
            stream.shutdown(Half::Write)?;
        }
        Ok(())
    };
    if msg.len() <= INLINE_WRITE_MAX {
        let sent = send(reader.get_ref());
        if sent.is_err() {
            // No reply is awaited for a message that did not go out whole.
            return (sent, Err(io::Error::other("not sent")));
        }
        return (sent, read(reader));
    }
    let writer = match reader.get_ref().try_clone() {
        Ok(w) => w,
        Err(e) => return (Err(e), Err(io::Error::other("not sent"))),
    };
    std::thread::scope(|scope| {
        let sending = std::thread::Builder::new()
            .name("tcp-uppercase-send".into())
            .spawn_scoped(scope, || send(&writer));
        let sending = match sending {
            Ok(handle) => handle,
            Err(e) => return (Err(e), Err(io::Error::other("not sent"))),
        };
        let read = read(reader);
        let stopped = read.is_err();
        if stopped {
            // The reply failed: stop the sender rather than let it wait
            // out its own time-out.
            let _ = writer.shutdown(Half::Both);
        }
        let sent = sending
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sending thread failed")));
        match sent {
            // Failed because we stopped it: the reply's error is the news.
            Err(_) if stopped => (Ok(()), read),
            sent => (sent, read),
        }
    })
}

/// Bytes of a streamed reply read (and written on) at a time.
const REPLY_CHUNK: usize = 16 * 1024;

/// Copies the reply to `out` piece by piece until EOF. A failure to write
/// to `out` is kept in `sink_error` and ends the copy (as an error, so the
/// sender stops too).
fn copy_reply<R: Read, W: Write>(
    reader: &mut R,
    out: &mut W,
    sink_error: &mut Option<io::Error>,
) -> io::Result<u64> {
    let mut buf = [0u8; REPLY_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = out.write_all(&buf[..n]).and_then(|()| out.flush()) {
            *sink_error = Some(e);
            return Err(io::Error::other("the reply could not be written out"));
        }
        total += n as u64;
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// The client's stream mode: sends `input` and prints each reply line as
/// `From Server: REPLY` at the same time, over one connection (see
/// [`duplex`](crate::duplex)); with `prompt`, the lab's prompt is shown
/// (for a terminal).
pub fn run_stream<R, W>(client: &Client, input: R, out: &mut W, prompt: bool) -> Result<()>
where
    R: Read + Send + 'static,
    W: Write,
{
    crate::duplex::run(client, input, out, prompt)
}

/// Sends `sentence` and prints `From Server: REPLY`, the reply streamed
/// to `out` as it arrives. A reply cut short by an error still ends its
/// line before the error is returned.
pub fn print_sentence_reply<W: Write>(
    client: &mut Client,
    sentence: &[u8],
    out: &mut W,
) -> Result<()> {
    let mut prefixed = Prefixed {
        out,
        started: false,
    };
    let result = client.send_sentence_to(sentence, &mut prefixed);
    if prefixed.started {
        prefixed
            .out
            .write_all(b"\n")
            .and_then(|()| prefixed.out.flush())
            .map_err(|e| NetError::io("write the reply", e))?;
    }
    result.map(drop)
}

/// Writes `From Server: ` before the first bytes.
struct Prefixed<'a, W> {
    out: &'a mut W,
    started: bool,
}

impl<W: Write> Write for Prefixed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.started && !buf.is_empty() {
            self.out.write_all(crate::duplex::PREFIX)?;
            self.started = true;
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
