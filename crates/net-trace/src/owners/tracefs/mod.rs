//! Kernel events from a private tracefs instance.
//!
//! The instance `instances/net-trace-PID` has only the events owner proof
//! needs. Its rings are read in binary, per CPU (`per_cpu/cpuN/
//! trace_pipe_raw`): the kernel formats no text and none is parsed, each
//! record's fields are read at the offsets its event's `format` file gives,
//! and IPv6 addresses are read like IPv4's. Reading the rings' pages was
//! chosen over `perf_event_open` on the same tracepoints because it needs
//! no `unsafe` (no mmap'd ring, no memory barriers of our own: a `read` of
//! a whole page), keeps the private instance with its kernel-side filters,
//! its marker file and its clean-up, and costs one system call per page of
//! records (about a hundred).
//! Its clock is `mono`; the offset to the packets' CLOCK_REALTIME is
//! measured when markers written to the instance's `trace_marker` come
//! back, and markers wake the reader when lookups wait.
//!
//! Dynamic events (kprobes, fprobes, eprobes, BTF-typed tracepoint probes)
//! would give ports straight from `skb->sk`, but this kernel's tracefs
//! accepts only uprobes (`CONFIG_KPROBE_EVENTS`, `CONFIG_FPROBE` and
//! `CONFIG_EPROBE_EVENTS` are off; its README lists no `t[`/`f[` forms), so
//! none are created: nothing global is touched beyond the instance, which
//! a guard removes on drop (normal exit, Ctrl-C and SIGTERM through the
//! shutdown handler, panic unwinding); instances left by a killed run are
//! removed at the next start when their pid is dead.
//!
//! # Layout
//! - [`instance`]: the private instance, its events and filters.
//! - [`mount`]: a private mount of tracefs when it is not mounted.
//! - [`page`]: the rings' pages and their records, a checked view.
//! - [`format`](mod@format): the records decoded into events by their
//!   `format` files.
//! - [`clock`]: the trace clock placed on the packets' clock.
//! - [`tasks`]: which process each task belongs to, from the records.
//! - [`reader`]: the thread that reads the instance into the owner table.

pub(crate) mod clock;
pub(crate) mod format;
pub(crate) mod instance;
pub(crate) mod mount;
pub(crate) mod page;
pub(crate) mod reader;
pub(crate) mod tasks;

use std::path::Path;

pub use instance::RING_KB;
pub(crate) use reader::{Kernel, Shared};

/// Where tracefs lives.
pub(crate) const TRACEFS: &str = "/sys/kernel/tracing";

/// Ways tracefs could not be used; the caller falls back to /proc.
#[derive(Debug, thiserror::Error)]
#[error("kernel events are unavailable ({0})")]
pub(crate) struct Unavailable(String);

/// A tracefs file's text, read with one large buffer: some files
/// (`events/header_page`) answer only their first 32 bytes to a small
/// first read and then end, as `read_to_string`'s probing read would see
/// them.
fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; TEXT_MAX];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The longest tracefs text file read ([`read_text`]): a `format` file
/// is about 2 KiB.
const TEXT_MAX: usize = 64 * 1024;

fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Unavailable {
    Unavailable(format!("{what} {}: {e}", path.display()))
}
