//! The one socket option no safe wrapper in use offers: TCP_DEFER_ACCEPT.
//!
//! With it, Linux completes `accept` only once the client's first bytes
//! (the request) have arrived, so a connection thread wakes once per
//! connection instead of twice (accept, then read). HTTP clients always
//! speak first, so nothing is lost; a client that connects and never sends
//! is not even handed to a thread.
#![allow(unsafe_code)]

use std::net::TcpListener;
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
