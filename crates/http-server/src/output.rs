//! Writing a response under the write deadline.
//!
//! The deadline itself is net-core's ([`WriteDeadline`]), shared with
//! tcp-uppercase: once a client has accepted no byte for the write
//! time-out, the response is cut, however its writes (head, body, every
//! `sendfile` call) are split. This module adds what only a file server
//! needs: zero-copy `sendfile` under the same deadline, and the registry
//! entry that shows a stalled writer, with the time of its last progress,
//! so at the connection cap the longest-stalled writer can be chosen to
//! make room.

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use net_core::deadline::{Watch, WriteDeadline};

use crate::registry::{Entry, Phase};

/// A response's way to its socket; see the module docs.
pub type Writer<'a> = WriteDeadline<'a, Stalls<'a>>;

/// Shows a connection's stalled writes in the server's registry.
#[derive(Debug, Clone, Copy)]
pub struct Stalls<'a>(Option<&'a Entry>);

impl Watch for Stalls<'_> {
    fn writing(&self, last_progress: Instant) {
        if let Some(entry) = self.0 {
            entry.set(Phase::Writing, last_progress);
        }
    }
}

/// A writer for one response on `stream`: no progress for `timeout`
/// ends it. `entry`, when given, shows stalls to the registry.
pub fn writer<'a>(
    stream: &'a std::net::TcpStream,
    timeout: Duration,
    entry: Option<&'a Entry>,
) -> Writer<'a> {
    WriteDeadline::watched(stream, timeout, Stalls(entry))
}

/// What a file server does with a [`Writer`] beyond writing bytes.
pub trait SendFile {
    /// Sends `len` bytes of `file` from its current position, zero-copy
    /// (`sendfile(2)`) on Linux.
    fn send_file(&mut self, file: File, len: u64) -> io::Result<u64>;

    /// Back to "busy" in the registry after a write that waited.
    fn finish(&self);
}

impl SendFile for Writer<'_> {
    fn send_file(&mut self, file: File, len: u64) -> io::Result<u64> {
        #[cfg(target_os = "linux")]
        {
            send_file_linux(self, file, len)
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

    fn finish(&self) {
        if self.waited()
            && let Some(entry) = self.watch().0
        {
            entry.set(Phase::Busy, Instant::now());
        }
    }
}

#[cfg(target_os = "linux")]
fn send_file_linux(out: &mut Writer<'_>, mut file: File, len: u64) -> io::Result<u64> {
    use std::io::Seek;
    /// Bytes per call: what a non-blocking call sends is bounded by
    /// the socket buffer anyway; this only caps one call's work.
    const CHUNK: u64 = 4 * 1024 * 1024;
    let stream = out.stream();
    let mut offset = file.stream_position()? as nix::libc::off_t;
    // Non-blocking for the loop only: the wait is the deadline's (poll),
    // never inside sendfile. Reads rely on blocking mode.
    stream.set_nonblocking(true)?;
    let result = (|| {
        let mut left = len;
        while left > 0 {
            let want = left.min(CHUNK) as usize;
            match nix::sys::sendfile::sendfile(stream, &file, Some(&mut offset), want) {
                Ok(0) => return Err(shrank()),
                Ok(n) => {
                    left -= n as u64;
                    out.progress(n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => out.wait()?,
                Err(e) => return Err(io::Error::from(e)),
            }
        }
        Ok(len)
    })();
    let restored = stream.set_nonblocking(false);
    let sent = result?;
    restored?;
    Ok(sent)
}

fn shrank() -> io::Error {
    // The client must not take a short body for a whole one.
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

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
        let mut w = writer(&server, Duration::from_secs(10), None);
        assert_eq!(
            w.send_file(File::open(&path).unwrap(), data.len() as u64)
                .unwrap(),
            data.len() as u64
        );
        drop(server);
        assert_eq!(reader.join().unwrap(), data);
    }
}
