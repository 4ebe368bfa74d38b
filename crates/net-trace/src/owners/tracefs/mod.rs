//! Kernel events from a private tracefs instance.
//!
//! The instance `instances/net-trace-PID` has only the events owner proof
//! needs, `record-tgid` on (each record's line has the same columns;
//! the process id printed there is never trusted, see `Tasks`) and the
//! `fields` option on (every field printed raw, among
//! them `skaddr`, which the normal text of `inet_sock_set_state` omits).
//! Its clock is `mono`; the offset to the packets' CLOCK_REALTIME is
//! measured with markers written to the instance's `trace_marker` at a
//! known wall-clock time, so no clock is read through `unsafe`.
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
//! - [`format`](mod@format): the records the reader reads, parsed into events.
//! - [`clock`]: the trace clock placed on the packets' clock.
//! - [`tasks`]: which process each task belongs to, from the records.
//! - [`reader`]: the thread that reads the instance into the owner table.

pub mod clock;
pub mod format;
pub mod instance;
pub mod mount;
pub mod reader;
pub mod tasks;

use std::path::Path;

pub use reader::{Kernel, Losses, Shared};

/// Where tracefs lives.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Ways tracefs could not be used; the caller falls back to /proc.
#[derive(Debug, thiserror::Error)]
#[error("kernel events are unavailable ({0})")]
pub struct Unavailable(String);

fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Unavailable {
    Unavailable(format!("{what} {}: {e}", path.display()))
}
