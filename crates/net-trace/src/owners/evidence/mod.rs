//! The owner table: kernel events in, proven owners out.
//!
//! Pure state, fed in time order with [`Event`]s whose timestamps are already
//! on the packets' clock (time since the epoch), so it is unit-tested with
//! literals. What counts as proof:
//! - TCP: a socket generation (from one `skaddr`'s CLOSE→SYN_SENT,
//!   CLOSE→LISTEN or LISTEN→SYN_RECV to its →CLOSE) whose 4-tuple is the
//!   frame's and whose lifetime covers the stream; its owner is the one
//!   process that touched it in process context (connect, listen, close).
//!   A server's frame on a socket nobody was seen touching yet (the SYN-ACK)
//!   goes to the listener, only when one process alone can hold it.
//! - UDP: the route lookup the sending process made for this flow
//!   (`fib:fib_table_lookup`, which carries both ports and, for IPv4, both
//!   addresses), by the one process on that flow not gone by the frame's
//!   time, corroborated by a UDP send system call of that process, of the
//!   datagram's payload length, around the frame (`sock:sock_send_length`).
//!   A send's length and time alone never name a process: another sender
//!   of the same length is always possible.
//! - TCP, when the socket's state changes do not tell: the connect's route
//!   lookup with the whole 4-tuple, made as the stream began.
//!
//! A socket address (`skaddr`) is reused by the kernel after a socket is
//! freed, so each state change out of CLOSE starts a new generation; a
//! reused 4-tuple is a new generation too, and never inherits an owner.
//!
//! # Layout
//! - `event.rs`: the kernel events the table is fed.
//! - `process.rs`: forks, execs and exits; what a process ran when.
//! - `socket.rs`: TCP socket generations, who acted and sent on each,
//!   listeners; a TCP frame's verdict.
//! - `route.rs`: route lookups and UDP sends; a datagram's verdict, and a
//!   TCP stream's by its connect's route.
//! - `sends.rs`: UDP send records, indexed by length and process.
//!
//! [`Table::apply`] hands each event to its room; [`Table::lookup`] asks
//! the room of the frame's protocol.

mod event;
mod process;
mod route;
mod sends;
mod socket;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) use event::{Ctx, Event};
pub(crate) use route::SEND_AFTER;
pub(crate) use socket::InitialListener;

use super::{Answer, Owner, Query, canonical};
use process::Proc;
use route::{Run, UdpSenders};
use socket::Sock;

/// How far a frame's timestamp may run ahead of or behind the kernel event
/// that caused it: the two clocks are joined by an offset measured to a few
/// microseconds, and the capture stamps a frame just after it is queued.
const CLOCK_SLACK: Duration = Duration::from_micros(500);

/// Closed sockets and exited processes older than this (relative to the
/// newest event) are forgotten: the capture holds a frame for well under a
/// second, and a saved capture's frames are asked about as they are read.
const RETAIN: Duration = Duration::from_secs(30);

/// How often (in event time) forgotten sockets and processes are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Sockets, sends and processes learned from kernel events.
#[derive(Debug, Default)]
pub(crate) struct Table {
    procs: HashMap<u32, Proc>,
    /// Tasks known to be threads of a process: tid → tgid.
    threads: HashMap<u32, u32>,
    socks: Vec<Option<Sock>>,
    current: HashMap<u64, usize>,
    /// The slot each socket address held before its current one: an event
    /// read late (another CPU's ring, merged after a newer one) belongs to
    /// the socket that was there at its time, not to the one there now.
    previous: HashMap<u64, usize>,
    by_tuple: HashMap<(SocketAddr, SocketAddr), Vec<usize>>,
    /// Connecting sockets whose 4-tuple is not known yet, by destination.
    connecting: HashMap<u64, SocketAddr>,
    listeners: Vec<usize>,
    /// UDP send system calls of the last few seconds.
    sends: sends::SendLog,
    /// UDP sockets by kernel address: who sent on each, lately.
    udp_socks: HashMap<u64, UdpSenders>,
    /// Processes seen sending on a UDP socket another process also sent
    /// on, and when that was last seen.
    udp_shared: HashMap<u32, Duration>,
    /// Route lookups by (protocol, local port, remote port).
    routes: HashMap<(u8, u16, u16), Vec<Run>>,
    newest: Duration,
    /// Wall-clock time the reader applies records at (see `reading`).
    reading_at: Duration,
    /// Events up to this time have been applied (`None`: all there are,
    /// as in tests).
    events_until: Option<Duration>,
    swept: Duration,
}

fn norm(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical(a.ip()), a.port())
}

/// The key of a frame's 4-tuple among the sockets' (`by_tuple`): both
/// ends, IPv4-mapped IPv6 addresses as IPv4 (the records carry either
/// family's addresses).
fn tuple_key(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    (norm(src), norm(dst))
}

impl Table {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Applies one event.
    pub(crate) fn apply(&mut self, e: &Event) {
        self.newest = self.newest.max(e.ctx().time);
        self.saw_task(e);
        match e {
            Event::State {
                ctx,
                sk,
                old,
                new,
                local,
                remote,
            } => self.state_change(ctx, *sk, *old, *new, *local, *remote),
            // A send in interrupt context is no process's.
            Event::Send { ctx, .. } if ctx.irq => {}
            Event::Send { ctx, sk, tcp, .. } if *tcp => self.tcp_sender(*sk, ctx),
            Event::Send { ctx, len, sk, .. } => self.udp_sent(ctx, *len, *sk),
            Event::Route { ctx, .. } if ctx.irq => {}
            Event::Route {
                ctx,
                proto,
                sport,
                dport,
                src,
                dst,
                v6,
            } => self.routed(ctx, (*proto, *sport, *dport), *src, *dst, *v6),
            Event::Exec { ctx, path, .. } => self.exec(ctx, path),
            Event::Fork {
                ctx, child, thread, ..
            } => self.fork(ctx, *child, *thread),
            Event::Exit { ctx, group_dead } if *group_dead => self.exit(ctx),
            Event::Exit { .. } => {}
        }
    }

    /// The owner this table proves for `q`.
    pub(crate) fn lookup(&self, q: &Query) -> Answer<Owner> {
        if q.tcp {
            self.lookup_tcp(q)
        } else {
            self.lookup_udp(q)
        }
    }

    /// Notes the wall-clock time the reader applies the next records at
    /// (what /proc says from then on is of that moment).
    pub(crate) fn reading(&mut self, now: Duration) {
        self.reading_at = now;
    }

    /// Notes that events up to `until` have been applied (a lookup may
    /// wait for records that come after its frame).
    pub(crate) fn events_until(&mut self, until: Duration) {
        self.events_until = Some(until);
    }

    /// Whether what /proc shows — `pid` holding the socket of frame `q` —
    /// fits the events: `pid` was alive from `alive_from` on, has no live
    /// child that may be the one sending (a forking server's handler holds
    /// the connection; /proc may show only the listener by then), and is
    /// the only process seen on a UDP flow.
    pub(crate) fn proc_owner_fits(&self, pid: u32, q: &Query, alive_from: Duration) -> bool {
        self.alive_at(pid, alive_from)
            && !self.may_share(pid, Duration::ZERO, q.time)
            && (q.tcp || !self.routed_by_other(false, q.src, q.dst, pid))
    }

    /// Whether the events saw a process other than `pid` on the socket of
    /// frame `q` — acting on or sending on its TCP socket, or sending on a
    /// UDP socket `pid` sent on too. /proc names whoever holds the socket
    /// when read: after another process had it too, that holder is not
    /// proven for any of its frames (the other may have sent them and be
    /// gone by then).
    pub(crate) fn others_on_socket(&self, pid: u32, q: &Query) -> bool {
        if q.tcp {
            self.tcp_touched_by_other(pid, q)
        } else {
            self.shares_udp(pid)
        }
    }

    /// Forgets, once every [`SWEEP_EVERY`] of event time, closed sockets,
    /// exited processes and routes older than [`RETAIN`].
    fn sweep(&mut self) {
        if self.newest < self.swept + SWEEP_EVERY {
            return;
        }
        self.swept = self.newest;
        let horizon = self.newest.saturating_sub(RETAIN);
        self.forget_sockets(horizon);
        self.forget_routes(horizon);
        self.forget_udp_sockets(horizon);
        self.forget_processes(horizon);
        self.sends.sweep();
    }
}
