//! The client's stream mode: standard input goes to the server while its
//! replies are printed, both at once over one connection, as `socat -` and
//! `nc -N` do.
//!
//! A thread (`tcp-uppercase-input`) reads the input a chunk at a time and
//! writes each chunk to the connection as it is; the caller's thread reads
//! the replies and prints each line as `From Server: LINE`. Each side holds
//! one chunk ([`CHUNK`]), so memory stays bounded whatever the sizes and
//! speeds: a server that stops reading stops our reading of the input, and
//! an output nobody reads stops our reading of the replies (and, through
//! the server's flow control, our sending). At the end of the input the
//! connection is half-closed, and the replies are printed to the server's
//! end of stream.
//!
//! # When the server closes first
//! The server may end the connection before the input does (the textbook
//! `TCPServer.py` answers one `recv` and closes; our server closes an idle
//! connection after `--idle-timeout`). If it had answered every line sent
//! on that connection, nothing is lost: the next input goes over a new
//! connection. Otherwise the lines in flight cannot be matched to replies,
//! so that is an error naming how many were answered.
//!
//! # Time-outs
//! The time-out bounds a stall: while something is owed (a reply to a line
//! sent, the server's end of stream after ours, or the server taking our
//! bytes), the client gives up when no byte has moved either way for that
//! long. A wait for the user's next line is not a stall, and neither is an
//! output that takes its time.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use net_core::Error as NetError;

use crate::client::{Client, PROMPT};
use crate::{Error, Result};

/// Bytes read from the input (and written to the connection) at a time,
/// and bytes of reply read at a time: large enough that a bulk transfer
/// costs a few system calls per chunk, small enough to hold two of.
pub const CHUNK: usize = 64 * 1024;

/// Printed output gathered before it is written: one write for many short
/// reply lines.
const OUT_BUFFER: usize = 64 * 1024;

/// How often a thread blocked on the connection wakes to look for a stall;
/// the time-out is kept to within this.
const STALL_CHECK: Duration = Duration::from_millis(100);

/// What each printed reply line starts with.
pub const PREFIX: &[u8] = b"From Server: ";

/// Sends `input` to `client`'s server and prints the replies to `out` at
/// the same time (see the [module docs](self)). With `prompt`, the lab's
/// prompt is shown at the start and whenever every line sent has been
/// answered (for a terminal). Returns when the server has ended the stream
/// after the input's end, or at the first error; the input thread then
/// stops at its next read.
pub fn run<R, W>(client: &Client, input: R, out: &mut W, prompt: bool) -> Result<()>
where
    R: Read + Send + 'static,
    W: Write,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        closed: Condvar::new(),
        clock: Instant::now(),
        last_progress: AtomicU64::new(0),
        printing: AtomicBool::new(false),
        sending: AtomicBool::new(false),
        timeout: client.reply_timeout(),
    });
    // One connection at a time passes from the input side (which opens it
    // when there is something to send) to the reply side.
    let (conns, next_conn) = mpsc::sync_channel::<(TcpStream, SocketAddr)>(1);
    let input_side = InputSide {
        client: client.clone_settings(),
        shared: shared.clone(),
        conns,
    };
    std::thread::Builder::new()
        .name("tcp-uppercase-input".into())
        .spawn(move || input_side.run(input))
        .map_err(|e| NetError::io("start the input thread", e))?;

    let mut out = io::BufWriter::with_capacity(OUT_BUFFER, out);
    let mut replies = ReplySide {
        shared: &shared,
        lines: Lines::default(),
        prompt,
    };
    let result = replies.run(&next_conn, &mut out);
    // Whatever happened, a reply line begun is ended.
    let end = replies
        .lines
        .finish(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| NetError::io("write the reply", e).into());
    shared.lock().over = true;
    shared.closed.notify_all();
    result.and(end)
}

/// What both sides share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when the reply side has seen a connection end (or the
    /// session is over).
    closed: Condvar,
    /// The start of `last_progress`'s count.
    clock: Instant,
    /// Milliseconds after `clock` when a byte last moved either way (or
    /// the input handed over something to move).
    last_progress: AtomicU64,
    /// Set while the reply side writes to the output: a stall there is
    /// the output's, not the server's.
    printing: AtomicBool,
    /// Set while the input side waits for the server to take its bytes.
    sending: AtomicBool,
    timeout: Duration,
}

/// The current connection's account, kept under the lock.
#[derive(Debug, Default)]
struct State {
    /// Line ends handed to the current connection, counted before they are
    /// written, so the reply side never counts fewer than went out.
    sent_lines: u64,
    /// The bytes handed to the current connection end inside a line.
    sent_partial: bool,
    /// The input has ended (and the connection is half-closed).
    input_done: bool,
    /// The reply side saw the current connection end: the next input
    /// needs a new one.
    closed: bool,
    /// The session is over: the input side stops.
    over: bool,
    /// What stopped the input side, for the reply side to report.
    error: Option<Error>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked; the state is plain
        // counters and stays usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn progress(&self) {
        let now = self.clock.elapsed().as_millis() as u64;
        self.last_progress.store(now, Ordering::Relaxed);
    }

    /// Nothing has moved for the time-out, and not for the output's sake.
    fn stalled(&self) -> bool {
        if self.printing.load(Ordering::Relaxed) {
            return false;
        }
        let last = Duration::from_millis(self.last_progress.load(Ordering::Relaxed));
        self.clock.elapsed().saturating_sub(last) >= self.timeout
    }

    /// Records why the input side stopped (the first reason counts).
    fn fail(&self, error: Error) {
        let mut state = self.lock();
        state.error.get_or_insert(error);
        state.over = true;
    }

    fn timed_out(&self, action: &'static str, peer: SocketAddr) -> Error {
        NetError::TimedOut {
            action,
            target: peer.to_string(),
            after: self.timeout,
        }
        .into()
    }
}

/// The input thread: reads the input and writes it to the connection,
/// opening one when there is something to send and none is open.
struct InputSide {
    client: Client,
    shared: Arc<Shared>,
    conns: mpsc::SyncSender<(TcpStream, SocketAddr)>,
}

impl InputSide {
    fn run(self, mut input: impl Read) {
        let mut buf = vec![0u8; CHUNK];
        let mut conn: Option<(TcpStream, SocketAddr)> = None;
        loop {
            let n = match read_some(&mut input, &mut buf) {
                Ok(n) => n,
                Err(e) => return self.shared.fail(NetError::io("read the input", e).into()),
            };
            let mut state = self.shared.lock();
            if let Some((stream, _)) = &conn {
                // The server may have closed the connection while we
                // waited for input (the textbook server closes after each
                // reply): then wait for the reply side to finish with it,
                // and send this over a new one.
                if !state.closed && net_core::sock::peer_has_closed(stream) {
                    state = self
                        .shared
                        .closed
                        .wait_while(state, |s| !s.closed && !s.over)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
            if state.over {
                return;
            }
            if n == 0 {
                state.input_done = true;
                drop(state);
                if let Some((stream, _)) = &conn {
                    // The server's end of stream follows ours. A failure
                    // here means the connection is gone, which the reply
                    // side sees and reports.
                    let _ = stream.shutdown(Half::Write);
                }
                // Dropping `conns` tells the reply side that no other
                // connection follows.
                return;
            }
            if conn.is_none() || state.closed {
                drop(state);
                drop(conn.take()); // the server has closed it
                let (stream, peer) = match self.client.open() {
                    Ok(opened) => opened,
                    Err(e) => return self.shared.fail(e),
                };
                // Blocked calls wake this often to look for a stall.
                let stall_check = STALL_CHECK.min(self.shared.timeout);
                let reader = stream
                    .set_read_timeout(Some(stall_check))
                    .and_then(|()| stream.set_write_timeout(Some(stall_check)))
                    .and_then(|()| stream.try_clone());
                let reader = match reader {
                    Ok(reader) => reader,
                    Err(e) => {
                        let e = NetError::io(format!("set up the connection to {peer}"), e);
                        return self.shared.fail(e.into());
                    }
                };
                state = self.shared.lock();
                *state = State {
                    over: state.over,
                    ..State::default()
                };
                if state.over || self.conns.send((reader, peer)).is_err() {
                    return;
                }
                conn = Some((stream, peer));
            }
            let chunk = &buf[..n];
            state.sent_lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
            state.sent_partial = chunk.last() != Some(&b'\n');
            drop(state);
            let Some((stream, peer)) = &conn else { return };
            self.shared.progress();
            self.shared.sending.store(true, Ordering::Relaxed);
            let sent = self.send_all(stream, chunk);
            self.shared.sending.store(false, Ordering::Relaxed);
            if let Err(e) = sent {
                if !is_disconnect(&e) {
                    let e = if net_core::error::is_timeout(&e) {
                        self.shared
                            .timed_out("waiting for the server to take our message at", *peer)
                    } else {
                        NetError::io(format!("send to {peer}"), e).into()
                    };
                    self.shared.fail(e);
                }
                // Wakes the reply side, which reports what became of the
                // connection (a reset or an early close counts the lines
                // left unanswered).
                let _ = stream.shutdown(Half::Both);
                return;
            }
        }
    }

    /// Writes all of `data`, giving up on a stall (each write waits at most
    /// [`STALL_CHECK`], then the stall is looked for).
    fn send_all(&self, mut stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match stream.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.shared.progress();
                    data = &data[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if net_core::error::is_timeout(&e) => {
                    if self.shared.stalled() {
                        return Err(e);
                    }
                    if self.shared.lock().over {
                        return Err(io::ErrorKind::ConnectionAborted.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads what is there, up to `buf`'s size (retrying an interrupted read).
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// The caller's thread: reads each connection's replies and prints them.
struct ReplySide<'a> {
    shared: &'a Shared,
    lines: Lines,
    prompt: bool,
}

impl ReplySide<'_> {
    fn run<W: Write>(
        &mut self,
        next_conn: &mpsc::Receiver<(TcpStream, SocketAddr)>,
        out: &mut W,
    ) -> Result<()> {
        if self.prompt {
            self.print(out, |_, out| out.write_all(PROMPT.as_bytes()))?;
        }
        let mut buf = vec![0u8; CHUNK];
        // Until the input side is done with connections.
        while let Ok((stream, peer)) = next_conn.recv() {
            self.lines.start_connection();
            let ended = self.read_replies(&stream, peer, &mut buf, out);
            let mut state = self.shared.lock();
            state.closed = true;
            self.shared.closed.notify_all();
            if let Some(e) = state.error.take() {
                return Err(e);
            }
            // (On any error `run` ends the session.)
            ended?;
            // The stream ended: was every line sent on it answered?
            let sent = state.sent_lines + u64::from(state.sent_partial);
            let answered = self.lines.count + u64::from(self.lines.partial());
            let between_lines = !state.sent_partial && !self.lines.partial();
            if answered >= sent && (state.input_done || between_lines) {
                // Done; or closed between lines, when the next input (if
                // any) goes over a new connection.
                continue;
            }
            state.over = true;
            if self.lines.bytes == 0 {
                return Err(Error::NoReply {
                    peer: peer.to_string(),
                });
            }
            return Err(Error::Unanswered {
                peer: peer.to_string(),
                answered,
                sent,
            });
        }
        // The input side ended; if it failed, say why.
        match self.shared.lock().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Prints one connection's replies until its end of stream.
    fn read_replies<W: Write>(
        &mut self,
        mut stream: &TcpStream,
        peer: SocketAddr,
        buf: &mut [u8],
        out: &mut W,
    ) -> Result<()> {
        loop {
            let n = match stream.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if net_core::error::is_timeout(&e) => {
                    self.check_stall(stream, peer)?;
                    continue;
                }
                Err(e) if is_disconnect(&e) && self.shared.lock().error.is_some() => {
                    // The input side stopped the connection; its reason
                    // is the news.
                    return Ok(());
                }
                Err(e) => {
                    return Err(NetError::io(format!("read the reply from {peer}"), e).into());
                }
            };
            self.shared.progress();
            let data = &buf[..n];
            let (prompt, shared) = (self.prompt, self.shared);
            self.print(out, |lines, out| {
                lines.push(data, out)?;
                if prompt && lines.at_start() {
                    let state = shared.lock();
                    if !state.input_done && lines.count >= state.sent_lines {
                        out.write_all(PROMPT.as_bytes())?;
                    }
                }
                Ok(())
            })?;
        }
    }

    /// Writes to the output with the stall clock stopped, then flushes, so
    /// each read's replies are out before the next read waits.
    fn print<W: Write>(
        &mut self,
        out: &mut W,
        write: impl FnOnce(&mut Lines, &mut W) -> io::Result<()>,
    ) -> Result<()> {
        self.shared.printing.store(true, Ordering::Relaxed);
        let written = write(&mut self.lines, out).and_then(|()| out.flush());
        self.shared.progress();
        self.shared.printing.store(false, Ordering::Relaxed);
        written.map_err(|e| NetError::io("write the reply", e).into())
    }

    /// After a read waited [`STALL_CHECK`] in vain: fails when something is
    /// owed and nothing has moved for the time-out.
    fn check_stall(&self, stream: &TcpStream, peer: SocketAddr) -> Result<()> {
        let mut state = self.shared.lock();
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        let sending = self.shared.sending.load(Ordering::Relaxed);
        let owed = state.input_done || sending || self.lines.count < state.sent_lines;
        if !owed || !self.shared.stalled() {
            return Ok(());
        }
        state.over = true;
        // Stops the input side too, if it is still writing.
        let _ = stream.shutdown(Half::Both);
        Err(self.shared.timed_out(
            if sending {
                "waiting for the server to take our message at"
            } else {
                "waiting for a reply from"
            },
            peer,
        ))
    }
}

/// Turns the reply stream into `From Server: LINE` lines: the prefix
/// before each line, a `\r` before the `\n` dropped (as the line-at-a-time
/// client did), and a last line without `\n` ended at the very end.
#[derive(Debug)]
pub struct Lines {
    /// The next byte starts a line (the prefix is due).
    at_start: bool,
    /// A `\r` ended the last piece: dropped if a `\n` follows.
    held_cr: bool,
    /// Line ends seen on the current connection.
    count: u64,
    /// Reply bytes seen on the current connection.
    bytes: u64,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            at_start: true,
            held_cr: false,
            count: 0,
            bytes: 0,
        }
    }
}

impl Lines {
    /// Formats `data`, the next piece of the reply, into `out`.
    ///
    /// ```
    /// use tcp_uppercase::duplex::Lines;
    /// let mut lines = Lines::default();
    /// let mut out = Vec::new();
    /// lines.push(b"ONE\r", &mut out)?;
    /// lines.push(b"\nTWO", &mut out)?;
    /// lines.finish(&mut out)?;
    /// assert_eq!(out, b"From Server: ONE\nFrom Server: TWO\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn push<W: Write>(&mut self, mut data: &[u8], out: &mut W) -> io::Result<()> {
        self.bytes += data.len() as u64;
        while !data.is_empty() {
            if self.at_start {
                out.write_all(PREFIX)?;
                self.at_start = false;
            }
            let held_cr = std::mem::take(&mut self.held_cr);
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    let line = &data[..i];
                    if held_cr && !line.is_empty() {
                        out.write_all(b"\r")?;
                    }
                    out.write_all(line.strip_suffix(b"\r").unwrap_or(line))?;
                    out.write_all(b"\n")?;
                    self.at_start = true;
                    self.count += 1;
                    data = &data[i + 1..];
                }
                None => {
                    if held_cr {
                        out.write_all(b"\r")?;
                    }
                    let (body, cr) = match data.strip_suffix(b"\r") {
                        Some(body) => (body, true),
                        None => (data, false),
                    };
                    out.write_all(body)?;
                    self.held_cr = cr;
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// Ends a reply line left open (the stream ended without its `\n`).
    pub fn finish<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if std::mem::take(&mut self.held_cr) {
            out.write_all(b"\r")?;
        }
        if !self.at_start {
            out.write_all(b"\n")?;
            self.at_start = true;
        }
        Ok(())
    }

    fn at_start(&self) -> bool {
        self.at_start
    }

    /// Bytes after the last line end: a line begun.
    fn partial(&self) -> bool {
        !self.at_start
    }

    fn start_connection(&mut self) {
        self.count = 0;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pieces: &[&[u8]]) -> (Vec<u8>, u64) {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for p in pieces {
            lines.push(p, &mut out).unwrap();
        }
        let count = lines.count;
        lines.finish(&mut out).unwrap();
        (out, count)
    }

    #[test]
    fn each_line_prefixed_and_crlf_folded() {
        let (out, n) = format(&[b"HELLO\nSTRASSE\r\n\nLAST LINE"]);
        assert_eq!(
            out,
            b"From Server: HELLO\nFrom Server: STRASSE\nFrom Server: \nFrom Server: LAST LINE\n"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn pieces_split_anywhere_give_the_same_output() {
        let whole: &[u8] = b"AB\r\nC\rD\n\r\n\nEND\r";
        let (want, _) = format(&[whole]);
        assert_eq!(
            want,
            b"From Server: AB\nFrom Server: C\rD\nFrom Server: \nFrom Server: \nFrom Server: END\r\n"
        );
        for i in 0..=whole.len() {
            for j in i..=whole.len() {
                let (got, _) = format(&[&whole[..i], &whole[i..j], &whole[j..]]);
                assert_eq!(got, want, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert_eq!(format(&[]).0, b"");
        assert_eq!(format(&[b""]).0, b"");
    }
}
