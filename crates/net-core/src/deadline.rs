//! Writing to a client under a progress deadline, shared by the TCP
//! servers.
//!
//! A client that stops reading must not hold its connection (and its
//! thread) for long: once it has accepted no byte for the write time-out,
//! the write is cut. The deadline runs across the whole reply — every
//! `write` call, and every wait of a caller's own loop (`sendfile`) — and
//! restarts only when the client takes bytes, so a reply that trickles out
//! in tiny pieces is not cut while one that stalls is, however its writes
//! are split. A socket's own send time-out cannot do this: it applies per
//! call, so a client that takes one byte per call stretches it without
//! end, and one `sendfile` call makes many waits of its own.
//!
//! On Linux the writes never block: a send that finds the socket's buffer
//! full waits in `poll` for what is left of the deadline. The common case
//! (the reply fits) costs the one `send` a blocking write would. Elsewhere
//! writes block under the socket's send time-out, set to the deadline (per
//! call, a looser bound).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use net_core::deadline::WriteDeadline;
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
//! let (server, _) = listener.accept()?;
//! let mut out = WriteDeadline::new(&server, Duration::from_secs(30));
//! out.write_all(b"HELLO")?;
//! assert_eq!(out.accepted, 5);
//! drop(server);
//! let mut got = String::new();
//! client.read_to_string(&mut got)?;
//! assert_eq!(got, "HELLO");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Told when a write has to wait for the client, and of progress after
/// that: a server can show stalled writers (and pick one to close when
/// full). `()` watches nothing.
pub trait Watch {
    /// A write is waiting for the client, whose last progress was at
    /// `last_progress` (called on the first wait and on each progress
    /// after it).
    fn writing(&self, last_progress: Instant);
}

impl Watch for () {
    fn writing(&self, _: Instant) {}
}

/// A connection's way to its client under a progress deadline; see the
/// module docs. Use one per reply (or per connection: the deadline only
/// runs while a write waits).
#[derive(Debug)]
pub struct WriteDeadline<'a, W: Watch = ()> {
    stream: &'a TcpStream,
    timeout: Duration,
    watch: W,
    last_progress: Instant,
    /// Whether a write has waited (the watcher was told).
    waited: bool,
    /// Bytes the socket has accepted.
    pub accepted: u64,
    /// Whether the deadline cut the connection (it then resets on close).
    pub cut: bool,
    /// Whether the connection closes right after these writes (see
    /// [`WriteDeadline::closing`]).
    closing: bool,
}

impl<'a> WriteDeadline<'a> {
    /// Writes to `stream`, cut once the client accepts no byte for
    /// `timeout`.
    pub fn new(stream: &'a TcpStream, timeout: Duration) -> Self {
        WriteDeadline::watched(stream, timeout, ())
    }
}

impl<'a, W: Watch> WriteDeadline<'a, W> {
    /// Like [`WriteDeadline::new`], telling `watch` of waits.
    pub fn watched(stream: &'a TcpStream, timeout: Duration, watch: W) -> Self {
        WriteDeadline {
            stream,
            timeout,
            watch,
            last_progress: Instant::now(),
            waited: false,
            accepted: 0,
            cut: false,
            closing: false,
        }
    }

    /// Says that the connection is closed (or half-closed) right after
    /// these writes: each is sent saying more follows (MSG_MORE), so a
    /// last piece smaller than a packet waits in the socket for the close,
    /// whose FIN then leaves in the same packet — one packet fewer per
    /// reply. Only for a caller that closes at once: until it does, that
    /// piece may wait.
    pub fn closing(mut self) -> Self {
        self.closing = true;
        self
    }

    /// The stream written to.
    pub fn stream(&self) -> &'a TcpStream {
        self.stream
    }

    /// Whether a write has had to wait for the client.
    pub fn waited(&self) -> bool {
        self.waited
    }

    /// The watcher.
    pub fn watch(&self) -> &W {
        &self.watch
    }

    /// Counts `n` bytes taken by the client (for a caller's own sends,
    /// such as `sendfile`): the deadline starts again.
    pub fn progress(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.accepted += n as u64;
        self.last_progress = Instant::now();
        if self.waited {
            self.watch.writing(self.last_progress);
        }
    }

    /// Waits for room to write, up to the deadline (for a caller's own
    /// non-blocking sends, which found the socket's buffer full); once it
    /// has passed, cuts the connection and returns a `TimedOut` error.
    pub fn wait(&mut self) -> io::Result<()> {
        if !self.waited {
            self.waited = true;
            self.watch.writing(self.last_progress);
        }
        let left = (self.last_progress + self.timeout).saturating_duration_since(Instant::now());
        if left.is_zero() || !sys::wait_writable(self.stream, left)? {
            return Err(self.cut_off());
        }
        Ok(())
    }

    fn cut_off(&mut self) -> io::Error {
        self.cut = true;
        // The unread reply would otherwise stay queued (and the kernel
        // retrying) after the close; a reset frees it and tells the client.
        crate::sock::reset_on_close(self.stream);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client accepted no byte for {} s",
                self.timeout.as_secs_f64()
            ),
        )
    }
}

impl<W: Watch> Write for WriteDeadline<'_, W> {
    #[cfg(target_os = "linux")]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match sys::send_nowait(self.stream, buf, self.closing) {
                Ok(n) => {
                    self.progress(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Blocking writes under the socket's send time-out, which the caller
    /// sets to the write time-out.
    #[cfg(not(target_os = "linux"))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        match stream.write(buf) {
            Ok(n) => {
                self.progress(n);
                Ok(n)
            }
            Err(e) if crate::error::is_timeout(&e) => Err(self.cut_off()),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::Duration;

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::socket::{MsgFlags, send};

    /// Sends what fits now: never blocks (MSG_DONTWAIT), and a closed peer
    /// is an error rather than a SIGPIPE (MSG_NOSIGNAL); with `more`, says
    /// more follows (MSG_MORE). `WouldBlock` when the socket's send buffer
    /// is full.
    pub fn send_nowait(stream: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
        let mut flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        if more {
            // nix names no MSG_MORE.
            flags |= MsgFlags::from_bits_retain(libc::MSG_MORE);
        }
        send(stream.as_raw_fd(), buf, flags).map_err(io::Error::from)
    }

    /// Waits at most `timeout` for `stream` to accept more bytes (or to
    /// fail: an error or hang-up also ends the wait, and the next write
    /// reports it). False when the time ran out.
    pub fn wait_writable(stream: &TcpStream, timeout: Duration) -> io::Result<bool> {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
        // Rounded up, so a wait never ends just before a deadline.
        let ms = u32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        let ms = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            // The caller's next write tries again.
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(e) => Err(io::Error::from(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::TcpStream;
    use std::time::Duration;

    /// Elsewhere the blocking write itself waits (under the socket's send
    /// time-out): nothing to wait for here.
    pub fn wait_writable(_: &TcpStream, _: Duration) -> io::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        (client, server)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_closing_reply_waits_for_the_close_and_leaves_with_it() {
        let (client, server) = pair();
        let mut out = WriteDeadline::new(&server, Duration::from_secs(5)).closing();
        out.write_all(b"last words").unwrap();
        // Held in the server's socket (MSG_MORE) until the close…
        client.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let held = client.peek(&mut buf).unwrap_err();
        assert_eq!(held.kind(), io::ErrorKind::WouldBlock);
        // …whose FIN then leaves with it.
        drop(server);
        client.set_nonblocking(false).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        io::Read::read_to_end(&mut &client, &mut got).unwrap();
        assert_eq!(got, b"last words");
    }

    #[test]
    fn a_reader_that_stops_is_cut_at_the_deadline() {
        let (client, server) = pair();
        let stalls = Cell::new(0);
        struct Count<'a>(&'a Cell<u32>);
        impl Watch for Count<'_> {
            fn writing(&self, _: Instant) {
                self.0.set(self.0.get() + 1);
            }
        }
        let mut w = WriteDeadline::watched(&server, Duration::from_millis(300), Count(&stalls));
        let chunk = vec![b'x'; 64 * 1024];
        let start = Instant::now();
        let err = loop {
            if let Err(e) = w.write_all(&chunk) {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never cut");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(w.cut && w.waited());
        assert!(w.accepted > 0);
        assert!(stalls.get() >= 1);
        drop(client);
    }

    #[test]
    fn a_reader_gets_the_whole_reply() {
        let (mut client, server) = pair();
        let total = 8 * 1024 * 1024;
        let reader = std::thread::spawn(move || {
            let mut got = 0;
            let mut buf = [0u8; 256 * 1024];
            loop {
                match io::Read::read(&mut client, &mut buf) {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got += n,
                }
            }
        });
        let mut w = WriteDeadline::new(&server, Duration::from_secs(10));
        w.write_all(&vec![b'y'; total]).unwrap();
        assert_eq!(w.accepted, total as u64);
        drop(server);
        assert_eq!(reader.join().unwrap(), total);
    }
}
