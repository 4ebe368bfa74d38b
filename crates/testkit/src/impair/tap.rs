//! TAP devices: the one place the impaired link needs `unsafe`, for the
//! `TUNSETIFF` ioctl that names a device and ties it to a descriptor
//! (neither std nor nix wraps it). Everything else goes through nix.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};

/// The TUN/TAP clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";

/// `_IOW('T', 202, int)`, from `<linux/if_tun.h>`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `struct ifreq` as `TUNSETIFF` reads it: the name, then the flags in the
/// union that fills the rest of its 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _rest: [u8; 22],
}

/// Opens a new TAP device called `name` in the network namespace `ns`
/// (made by `ip netns add`). The descriptor is non-blocking; the device
/// lives until it is closed.
pub fn open_in(ns: &str, name: &str) -> io::Result<OwnedFd> {
    let name = name.to_string();
    // A thread of its own joins the namespace, so no other thread of this
    // process changes namespace; the device stays in the namespace it was
    // made in when the thread ends.
    let ns = ns.to_string();
    thread::Builder::new()
        .name("impair-open".into())
        .spawn(move || -> io::Result<OwnedFd> {
            enter(&ns)?;
            let dev = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(CLONE_DEVICE)
                .map_err(|e| io::Error::new(e.kind(), format!("open {CLONE_DEVICE}: {e}")))?;
            if name.len() >= libc::IFNAMSIZ {
                return Err(io::Error::other(format!("device name {name} is too long")));
            }
            let mut req = IfReq {
                name: [0; libc::IFNAMSIZ],
                flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
                _rest: [0; 22],
            };
            req.name[..name.len()].copy_from_slice(name.as_bytes());
            // SAFETY: `dev` is an open descriptor of the clone device and
            // `req` a properly sized, initialised `struct ifreq` that
            // outlives the call; TUNSETIFF reads and writes only within it.
            let rc =
                unsafe { libc::ioctl(dev.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("create TAP device {name}: {e}"),
                ));
            }
            Ok(OwnedFd::from(dev))
        })?
        .join()
        .map_err(|_| io::Error::other("the thread opening a TAP device panicked"))?
}

/// Moves the calling thread into the network namespace `ns`; sockets it
/// makes from then on belong there, wherever they are used.
pub fn enter(ns: &str) -> io::Result<()> {
    let ns_path = format!("/run/netns/{ns}");
    let ns_file = File::open(&ns_path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {ns_path}: {e}")))?;
    setns(&ns_file, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io::Error::other(format!("enter namespace {ns_path}: {e}")))
}

/// Waits up to `timeout` for a frame to read.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, t), Ok(n) if n > 0)
}

/// One frame, or `None` when none is waiting.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match nix::unistd::read(fd, buf) {
        Ok(n) => Ok(Some(n)),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Hands one frame to the device's side of the kernel.
pub fn write(fd: BorrowedFd<'_>, frame: &[u8]) -> io::Result<usize> {
    Ok(nix::unistd::write(fd, frame)?)
}
