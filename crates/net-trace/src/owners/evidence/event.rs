//! The kernel events the table is fed, their times already on the
//! packets' clock.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One kernel event, its time already on the packets' clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `sock:inet_sock_set_state`.
    State {
        /// Who ran it and when.
        ctx: Ctx,
        /// The socket's kernel address.
        sk: u64,
        /// State before.
        old: u8,
        /// State after.
        new: u8,
        /// Local address (IPv4 or IPv6), when the record carries it.
        local: Option<SocketAddr>,
        /// Remote address, when the record carries it.
        remote: Option<SocketAddr>,
    },
    /// `sock:sock_send_length` of a UDP or TCP socket: a send system call
    /// returned, having sent this many payload bytes.
    Send {
        /// Who ran it and when.
        ctx: Ctx,
        /// Payload bytes sent.
        len: u32,
        /// The socket's kernel address (a TCP socket's is its `skaddr`).
        sk: u64,
        /// A TCP socket (else UDP).
        tcp: bool,
    },
    /// `fib:fib_table_lookup` or `fib6:fib6_table_lookup` in process
    /// context: a socket of this process routing a flow (each send of an
    /// unconnected UDP socket, a UDP or TCP connect).
    Route {
        /// Who ran it and when.
        ctx: Ctx,
        /// IP protocol (6 TCP, 17 UDP).
        proto: u8,
        /// Local port.
        sport: u16,
        /// Remote port.
        dport: u16,
        /// Local address, when recorded and bound.
        src: Option<IpAddr>,
        /// Remote address, when recorded.
        dst: Option<IpAddr>,
        /// An IPv6 lookup.
        v6: bool,
    },
    /// `sched:sched_process_exec`.
    Exec {
        /// Who ran it and when.
        ctx: Ctx,
        /// The program's path.
        path: String,
        /// The task's id before the exec (another thread's, when a thread
        /// other than the main one ran the program).
        old_tid: u32,
    },
    /// `task:task_newtask`: `ctx` is the creator.
    Fork {
        /// Who ran it and when.
        ctx: Ctx,
        /// The new task's id.
        child: u32,
        /// A thread of the creator's process (`CLONE_THREAD`), else a
        /// process of its own.
        thread: bool,
        /// The new task's name.
        comm: String,
    },
    /// `sched:sched_process_exit`.
    Exit {
        /// Who ran it and when.
        ctx: Ctx,
        /// The whole process ended (its last thread).
        group_dead: bool,
    },
}

impl Event {
    /// Who ran it and when.
    pub(crate) fn ctx(&self) -> &Ctx {
        match self {
            Self::State { ctx, .. }
            | Self::Send { ctx, .. }
            | Self::Route { ctx, .. }
            | Self::Exec { ctx, .. }
            | Self::Fork { ctx, .. }
            | Self::Exit { ctx, .. } => ctx,
        }
    }

    /// Who ran it and when, to be completed by the reader.
    pub(crate) fn ctx_mut(&mut self) -> &mut Ctx {
        match self {
            Self::State { ctx, .. }
            | Self::Send { ctx, .. }
            | Self::Route { ctx, .. }
            | Self::Exec { ctx, .. }
            | Self::Fork { ctx, .. }
            | Self::Exit { ctx, .. } => ctx,
        }
    }
}

/// The common part of every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ctx {
    /// When, since the epoch.
    pub(crate) time: Duration,
    /// Thread id.
    pub(crate) tid: u32,
    /// Process id (thread group): the task's process as the reader knows
    /// it (see `tracefs::tasks::Tasks`), the task's own id when unknown.
    pub(crate) tgid: u32,
    /// The thread's name.
    pub(crate) comm: String,
    /// No process may be credited with the record: it was recorded in
    /// interrupt context (softirq/hardirq: not the work of the task that
    /// happened to be running), or by a task whose process is unknown.
    pub(crate) irq: bool,
}
