//! Writing a response under a progress deadline.
//!
//! A client that stops reading must not hold its connection (and its
//! thread) for long: once it has accepted no byte for the write time-out,
//! the response is cut. The deadline runs across the whole response — head,
//! body, every `sendfile` call — and restarts only when the client takes
//! bytes, so a response that trickles in tiny pieces is not cut while one
//! that stalls is, however its writes are split. A socket's own send
//! time-out cannot do this: it applies per call, and one `sendfile` call
//! makes many waits of its own.
//!
//! While a write waits, the connection is marked as stalled in the server's
//! registry with the time of its last progress, so at the connection cap
//! the longest-stalled writer can be chosen to make room.

use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::registry::{Entry, Phase};

/// A response's way to its socket; see the module docs.
#[derive(Debug)]
pub struct Writer<'a> {
    stream: &'a TcpStream,
    timeout: Duration,
    entry: Option<&'a Entry>,
    last_progress: Instant,
    /// Whether a write has waited (the registry shows the stall).
    waited: bool,
    /// Bytes the socket has accepted.
    pub accepted: u64,
    /// Whether the deadline cut the response.
    pub cut: bool,
}

impl<'a> Writer<'a> {
    /// A writer for one response on `stream`: no progress for `timeout`
    /// ends it. `entry`, when given, shows stalls to the registry.
    pub fn new(stream: &'a TcpStream, timeout: Duration, entry: Option<&'a Entry>) -> Writer<'a> {
        Writer {
            stream,
            timeout,
            entry,
            last_progress: Instant::now(),
            waited: false,
            accepted: 0,
            cut: false,
        }
    }

    fn progress(&mut self, n: usize) {
        self.accepted += n as u64;
        self.last_progress = Instant::now();
        if self.waited
            && let Some(entry) = self.entry
        {
            entry.set(Phase::Writing, self.last_progress);
        }
    }

    /// Waits for room to write, up to the deadline; an error once it passed.
    #[cfg(target_os = "linux")]
    fn wait(&mut self) -> io::Result<()> {
        if !self.waited {
            self.waited = true;
            if let Some(entry) = self.entry {
                entry.set(Phase::Writing, self.last_progress);
            }
        }
        let left = (self.last_progress + self.timeout).saturating_duration_since(Instant::now());
        if left.is_zero() || !crate::sys::wait_writable(self.stream, left)? {
            return Err(self.cut_off());
        }
        Ok(())
    }

    fn cut_off(&mut self) -> io::Error {
        self.cut = true;
        #[cfg(target_os = "linux")]
        crate::sys::reset_on_close(self.stream);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client accepted no byte for {} s",
                self.timeout.as_secs_f64()
            ),
        )
    }

    /// Sends `len` bytes of `file` from its current position, zero-copy
    /// (`sendfile(2)`) on Linux.
    pub fn send_file(&mut self, file: File, len: u64) -> io::Result<u64> {
        #[cfg(target_os = "linux")]
        {
            self.send_file_linux(file, len)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let sent = io::copy(&mut io::Read::take(file, len), self)?;
            if sent < len {
                return Err(shrank());
            }
            Ok(sent)
        }
    }

    #[cfg(target_os = "linux")]
    fn send_file_linux(&mut self, mut file: File, len: u64) -> io::Result<u64> {
        use std::io::Seek;
        /// Bytes per call: what a non-blocking call sends is bounded by
        /// the socket buffer anyway; this only caps one call's work.
        const CHUNK: u64 = 4 * 1024 * 1024;
        let mut offset = file.stream_position()? as nix::libc::off_t;
        // Non-blocking for the loop only: the wait is ours (poll, with the
        // deadline), never inside sendfile. Reads rely on blocking mode.
        self.stream.set_nonblocking(true)?;
        let result = (|| {
            let mut left = len;
            while left > 0 {
                let want = left.min(CHUNK) as usize;
                match nix::sys::sendfile::sendfile(self.stream, &file, Some(&mut offset), want) {
                    Ok(0) => return Err(shrank()),
                    Ok(n) => {
                        left -= n as u64;
                        self.progress(n);
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(nix::errno::Errno::EAGAIN) => self.wait()?,
                    Err(e) => return Err(io::Error::from(e)),
                }
            }
            Ok(len)
        })();
        let restored = self.stream.set_nonblocking(false);
        let sent = result?;
        restored?;
        Ok(sent)
    }

    /// Back to "busy" in the registry after a write that waited.
    pub fn finish(&self) {
        if self.waited
            && let Some(entry) = self.entry
        {
            entry.set(Phase::Busy, Instant::now());
        }
    }
}

impl Write for Writer<'_> {
    #[cfg(target_os = "linux")]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match crate::sys::send_nowait(self.stream, buf) {
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

    /// Elsewhere: blocking writes under the socket's send time-out, set
    /// to the write time-out (per call, a looser bound).
    #[cfg(not(target_os = "linux"))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        match stream.write(buf) {
            Ok(n) => {
                self.progress(n);
                Ok(n)
            }
            Err(e) if net_core::error::is_timeout(&e) => Err(self.cut_off()),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn shrank() -> io::Error {
    // The client must not take a short body for a whole one.
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_reader_that_stops_is_cut_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        let mut w = Writer::new(&server, Duration::from_millis(300), None);
        let chunk = vec![b'x'; 64 * 1024];
        let start = Instant::now();
        let err = loop {
            if let Err(e) = w.write_all(&chunk) {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never cut");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(w.cut);
        assert!(w.accepted > 0);
        drop(client);
    }

    #[test]
    fn a_file_goes_out_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            io::Read::read_to_end(&mut client, &mut got).unwrap();
            got
        });
        let mut w = Writer::new(&server, Duration::from_secs(10), None);
        assert_eq!(
            w.send_file(File::open(&path).unwrap(), data.len() as u64)
                .unwrap(),
            data.len() as u64
        );
        drop(server);
        assert_eq!(reader.join().unwrap(), data);
    }
}
