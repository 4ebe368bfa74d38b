//! The few socket calls no safe wrapper in use offers: TCP_DEFER_ACCEPT,
//! a send that never blocks, a wait for room to write, and a close that
//! resets.
//!
//! With it, Linux completes `accept` only once the client's first bytes
//! (the request) have arrived, so a connection thread wakes once per
//! connection instead of twice (accept, then read). HTTP clients always
//! speak first, so nothing is lost; a client that connects and never sends
//! is not even handed to a thread.
#![allow(unsafe_code)]

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Sets TCP_DEFER_ACCEPT on `listener` (rounded up to whole seconds).
pub fn defer_accept(listener: &TcpListener, wait: Duration) -> std::io::Result<()> {
    let secs: nix::libc::c_int = wait
        .as_secs()
        .max(1)
        .try_into()
        .unwrap_or(nix::libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid
    // pointer to a live c_int; the fd is owned by `listener`.
    let rc = unsafe {
        nix::libc::setsockopt(
            listener.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_DEFER_ACCEPT,
            (&secs as *const nix::libc::c_int).cast(),
            std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sends what fits now: never blocks (MSG_DONTWAIT), and a closed peer is
/// an error rather than a SIGPIPE (MSG_NOSIGNAL). `WouldBlock` when the
/// socket's send buffer is full.
pub fn send_nowait(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send reads at most `buf.len()` bytes from a live slice; the
    // fd is owned by `stream`, which outlives the call.
    let n = unsafe {
        nix::libc::send(
            stream.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            nix::libc::MSG_DONTWAIT | nix::libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Waits at most `timeout` for `stream` to accept more bytes (or to fail:
/// an error or hang-up also ends the wait, and the next write reports it).
/// False when the time ran out.
pub fn wait_writable(stream: &TcpStream, timeout: Duration) -> io::Result<bool> {
    let mut fds = nix::libc::pollfd {
        fd: stream.as_raw_fd(),
        events: nix::libc::POLLOUT,
        revents: 0,
    };
    // Rounded up, so a wait never ends just before a deadline.
    let ms: nix::libc::c_int = timeout
        .as_micros()
        .div_ceil(1000)
        .try_into()
        .unwrap_or(nix::libc::c_int::MAX);
    // SAFETY: poll reads and writes exactly one pollfd, a live local.
    let rc = unsafe { nix::libc::poll(&mut fds, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(true) // the caller's next write tries again
            } else {
                Err(e)
            }
        }
    }
}

/// Makes closing `stream` reset the connection (SO_LINGER with a zero
/// time) instead of keeping unsent data queued for a client that does not
/// read it: the memory is freed and the client learns it was cut.
pub fn reset_on_close(stream: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a valid
    // pointer to a live linger; the fd is owned by `stream`.
    let rc = unsafe {
        nix::libc::setsockopt(
            stream.as_raw_fd(),
            nix::libc::SOL_SOCKET,
            nix::libc::SO_LINGER,
            (&linger as *const nix::libc::linger).cast(),
            std::mem::size_of::<nix::libc::linger>() as nix::libc::socklen_t,
        )
    };
    if rc != 0 {
        log::debug!("SO_LINGER: {}", io::Error::last_os_error());
    }
}
