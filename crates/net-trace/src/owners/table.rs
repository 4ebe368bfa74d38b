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

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Owner, Query, Role, canonical};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`).
pub(crate) mod state {
    /// `TCP_SYN_SENT`.
    pub const SYN_SENT: u8 = 2;
    /// `TCP_SYN_RECV`.
    pub const SYN_RECV: u8 = 3;
    /// `TCP_CLOSE`.
    pub const CLOSE: u8 = 7;
    /// `TCP_LISTEN`.
    pub const LISTEN: u8 = 10;
    /// `TCP_FIN_WAIT1`: the owner closed or shut down first.
    pub const FIN_WAIT1: u8 = 4;
    /// `TCP_LAST_ACK`: the owner closed after the peer did.
    pub const LAST_ACK: u8 = 9;
}

/// How far a frame's timestamp may run ahead of or behind the kernel event
/// that caused it: the two clocks are joined by an offset measured to a few
/// microseconds, and the capture stamps a frame just after it is queued.
pub const CLOCK_SLACK: Duration = Duration::from_micros(500);

/// A connecting socket's SYN_SENT comes microseconds before its first SYN;
/// a generation that began with a SYN must have its socket created this
/// shortly before, or the socket is some other generation's.
pub const CONNECT_LEAD: Duration = Duration::from_millis(100);

/// A datagram's send system call began at most this long before its
/// capture stamp (the record's process is what is checked, not which
/// record is nearest, so a wide window costs nothing in precision).
pub const CORROBORATE_WINDOW: Duration = Duration::from_millis(50);

/// A datagram's `sock_send_length` record is written as its send system
/// call returns, after the frame was stamped: microseconds later, or tens
/// of milliseconds when the sender is preempted on the way out on a busy
/// machine. A UDP lookup that nothing else confirms waits for events this
/// far past the frame.
pub const SEND_AFTER: Duration = Duration::from_millis(100);

/// A TCP segment no send record follows is its socket owner's only if the
/// owner sent on the socket this shortly before it (the body `sendfile`
/// sends after a header `write`, a segment the kernel held back).
pub const SENT_BEFORE: Duration = Duration::from_secs(1);

/// Senders remembered per TCP socket: two already say it is shared.
const MAX_SENDERS: usize = 4;

/// Route-lookup runs kept per flow, at most (older ones are dropped).
const MAX_RUNS: usize = 16;

/// `IPPROTO_TCP`.
pub(crate) const TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub(crate) const UDP: u8 = 17;

/// Event times are never late against frame times (the clock offset is
/// measured from markers and only ever errs early, by microseconds), and a
/// datagram's route lookup comes before its capture stamp; so a flow's
/// route counts for frames from this long after it was looked up.
pub const ROUTE_SLACK: Duration = Duration::from_micros(5);

/// Closed sockets and exited processes older than this (relative to the
/// newest event) are forgotten: the capture holds a frame for well under a
/// second, and a saved capture's frames are asked about as they are read.
pub const RETAIN: Duration = Duration::from_secs(30);

/// Send records are kept this long: they only ever match frames within
/// [`CORROBORATE_WINDOW`] of them, asked about within the caller's bounded wait.
pub const SEND_RETAIN: Duration = Duration::from_secs(5);

/// How often (in event time) forgotten sockets and processes are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One kernel event, its time already on the packets' clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
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
    pub fn ctx(&self) -> &Ctx {
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
    pub fn ctx_mut(&mut self) -> &mut Ctx {
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
pub struct Ctx {
    /// When, since the epoch.
    pub time: Duration,
    /// Thread id.
    pub tid: u32,
    /// Process id (thread group): the task's process as the reader knows
    /// it (see `tracefs::tasks::Tasks`), the task's own id when unknown.
    pub tgid: u32,
    /// The thread's name.
    pub comm: String,
    /// No process may be credited with the record: it was recorded in
    /// interrupt context (softirq/hardirq: not the work of the task that
    /// happened to be running), or by a task whose process is unknown.
    pub irq: bool,
}

/// A program a process ran before an exec.
#[derive(Debug, Clone)]
struct Program {
    /// When the next program replaced it.
    until: Duration,
    name: String,
    cmd: Option<String>,
    args: Vec<String>,
    /// Known from events (or read from /proc before the exec); `false`
    /// when what was read may already have been the next program's.
    known: bool,
}

/// How many parents up a process's ancestry is followed, at most (a
/// server's worker is its child or grandchild; a loop in what was read
/// cannot run for ever).
const MAX_ANCESTRY: usize = 64;

/// Earlier programs remembered per process, at most.
const MAX_PROGRAMS: usize = 4;

/// What the table knows of one process.
#[derive(Debug, Clone, Default)]
struct Proc {
    /// The programs it ran before its latest exec, oldest first.
    earlier: Vec<Program>,
    /// When what the table knows of its program was read from /proc (a
    /// process first seen by one of its records), if it was.
    read_at: Option<Duration>,
    name: String,
    cmd: Option<String>,
    args: Vec<String>,
    parent: Option<u32>,
    started: Option<Duration>,
    exited: Option<Duration>,
    /// Children that may be processes (not known to be threads), with the
    /// time they were created.
    children: Vec<(u32, Duration)>,
}

/// One generation of a TCP socket.
#[derive(Debug, Clone)]
struct Sock {
    opened: Duration,
    closed: Option<Duration>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    /// Processes seen acting on this socket in process context.
    actors: Vec<u32>,
    /// When a process closed or shut it down (FIN_WAIT1, LAST_ACK): the
    /// kernel finishes its teardown on the closer's behalf, even after the
    /// closer has exited.
    shut: Option<Duration>,
    /// Processes seen sending on it, with the time each first did: another
    /// than its owner means the socket is shared (a child, or a process it
    /// was handed to).
    senders: Vec<(u32, Duration)>,
    /// Its latest send system calls (`sock_send_length`: recorded as each
    /// returns), oldest first.
    sends: VecDeque<(u32, Duration)>,
}

/// Whose send carried a TCP frame's payload (see `Table::data_sender`).
enum Carried {
    /// The socket's owner's, or no record says otherwise.
    Owner,
    /// Another process's.
    Other,
    /// Its record may still come.
    Wait,
}

/// Send records kept per TCP socket.
const SOCK_SENDS: usize = 32;

impl Sock {
    /// Whether a process other than `pid` had sent on it by `time`.
    fn sent_by_other(&self, pid: u32, time: Duration) -> bool {
        self.senders
            .iter()
            .any(|(p, at)| *p != pid && *at <= time + CLOCK_SLACK)
    }
}

/// A UDP send system call.
#[derive(Debug, Clone)]
struct Sent {
    time: Duration,
    tgid: u32,
    len: u32,
}

/// Consecutive route lookups of one flow by one process.
#[derive(Debug, Clone)]
struct Run {
    tgid: u32,
    first: Duration,
    last: Duration,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    v6: bool,
}

impl Run {
    /// Whether this run's flow is the frame's (`src` → `dst`, normalised).
    fn fits(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        self.v6 == src.is_ipv6()
            && self.dst.is_none_or(|d| d == dst.ip())
            && self.src.is_none_or(|s| s == src.ip())
    }
}

/// The verdict of the table alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Proven.
    Known(Owner),
    /// Evidence may still come (a connect whose 4-tuple is not known yet).
    Wait,
    /// Nothing proves an owner.
    None,
    /// The socket was closed last by a process that cannot have held it
    /// from its start (it was handed over during the capture): nothing
    /// proves who sent its earlier frames, and /proc, which names whoever
    /// holds it when read, must not be asked either.
    HandedOver,
}

/// Sockets, sends and processes learned from kernel events.
#[derive(Debug, Default)]
pub struct Table {
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
    sends: VecDeque<Sent>,
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

/// Processes holding a listening socket found before the events began.
#[derive(Debug, Clone)]
pub struct InitialListener {
    /// Its local address.
    pub local: SocketAddr,
    /// Every process holding it.
    pub holders: Vec<Owner>,
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
    pub fn new() -> Self {
        Self::default()
    }

    /// Listeners that existed before the events began (from /proc): each
    /// is a socket generation opened at time zero.
    pub fn add_listener(&mut self, l: &InitialListener) {
        let actors = l.holders.iter().map(|o| o.pid).collect();
        for o in &l.holders {
            let p = self.procs.entry(o.pid).or_default();
            p.name.clone_from(&o.name);
            p.cmd.clone_from(&o.cmd);
            p.args.clone_from(&o.args);
        }
        let idx = self.socks.len();
        self.socks.push(Some(Sock {
            opened: Duration::ZERO,
            closed: None,
            local: Some(norm(l.local)),
            remote: None,
            actors,
            shut: None,
            senders: Vec::new(),
            sends: VecDeque::new(),
        }));
        self.listeners.push(idx);
    }

    /// Records what a process is, learned outside the events (/proc).
    pub fn describe(&mut self, pid: u32, name: &str, cmd: Option<String>, args: Vec<String>) {
        let read_at = self.reading_at;
        let p = self.procs.entry(pid).or_default();
        p.read_at = p.read_at.or(Some(read_at));
        if p.name.is_empty() {
            p.name = name.to_string();
        }
        if p.cmd.is_none() {
            p.cmd = cmd;
        }
        if p.args.is_empty() {
            p.args = args;
        }
    }

    /// Whether the table has a name for `pid` (else the reader asks /proc).
    pub fn knows(&self, pid: u32) -> bool {
        self.procs.get(&pid).is_some_and(|p| !p.name.is_empty())
    }

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        let ctx = e.ctx();
        self.newest = self.newest.max(ctx.time);
        if ctx.tid != ctx.tgid {
            self.threads.insert(ctx.tid, ctx.tgid);
            // A task seen as a thread is not a child process of anyone.
            if let Some(parent) = self.procs.get_mut(&ctx.tgid) {
                parent.children.retain(|(c, _)| *c != ctx.tid);
            }
        } else if !ctx.irq && !matches!(e, Event::Exec { .. }) {
            // (An exec names the new program itself, keeping the old one.)
            let read_at = self.reading_at;
            let p = self.procs.entry(ctx.tgid).or_insert_with(|| Proc {
                // First seen here: its name came from /proc just now.
                read_at: Some(read_at),
                ..Proc::default()
            });
            // The main thread's name is the program's name.
            p.name.clone_from(&ctx.comm);
        }
        match e {
            Event::State {
                ctx,
                sk,
                old,
                new,
                local,
                remote,
            } => self.state(ctx, *sk, *old, *new, *local, *remote),
            Event::Send { ctx, len, sk, tcp } => {
                if ctx.irq {
                } else if *tcp {
                    self.tcp_sender(*sk, ctx);
                } else {
                    self.add_send(Sent {
                        time: ctx.time,
                        tgid: ctx.tgid,
                        len: *len,
                    });
                }
            }
            Event::Route {
                ctx,
                proto,
                sport,
                dport,
                src,
                dst,
                v6,
            } => {
                if !ctx.irq && *sport != 0 && *dport != 0 {
                    let ip = |a: &Option<IpAddr>| a.map(canonical).filter(|a| !a.is_unspecified());
                    self.add_route(
                        (*proto, *sport, *dport),
                        Run {
                            tgid: ctx.tgid,
                            first: ctx.time,
                            last: ctx.time,
                            src: ip(src),
                            dst: ip(dst),
                            v6: *v6,
                        },
                    );
                }
            }
            Event::Exec { ctx, path, .. } => {
                let p = self.procs.entry(ctx.tgid).or_default();
                // Frames sent before the exec are the earlier program's;
                // what /proc said of it after the exec was the new one's.
                if !p.name.is_empty() {
                    let known = p.read_at.is_none_or(|r| r <= ctx.time);
                    p.earlier.push(Program {
                        until: ctx.time,
                        name: std::mem::take(&mut p.name),
                        cmd: p.cmd.take(),
                        args: std::mem::take(&mut p.args),
                        known,
                    });
                    if p.earlier.len() > MAX_PROGRAMS {
                        p.earlier.remove(0);
                    }
                }
                p.read_at = None;
                p.cmd = Some(path.clone());
                p.args.clear();
                p.name.clone_from(&ctx.comm);
            }
            Event::Fork {
                ctx, child, thread, ..
            } => {
                if *thread {
                    self.thread_of(*child, ctx.tgid);
                    return;
                }
                // A reused id: the task is a process now.
                self.threads.remove(child);
                let read_at = self.reading_at;
                let parent = self.procs.entry(ctx.tgid).or_insert_with(|| Proc {
                    read_at: Some(read_at),
                    ..Proc::default()
                });
                parent.children.push((*child, ctx.time));
                let inherited = Proc {
                    name: parent.name.clone(),
                    cmd: parent.cmd.clone(),
                    args: parent.args.clone(),
                    read_at: parent.read_at,
                    parent: Some(ctx.tgid),
                    started: Some(ctx.time),
                    ..Proc::default()
                };
                self.procs.insert(*child, inherited);
            }
            Event::Exit { ctx, group_dead } => {
                if *group_dead {
                    let p = self.procs.entry(ctx.tgid).or_default();
                    p.exited = Some(ctx.time);
                }
            }
        }
    }

    /// Marks `child` a thread of `tgid` (learned from /proc).
    pub fn thread_of(&mut self, child: u32, tgid: u32) {
        if child != tgid {
            self.threads.insert(child, tgid);
            if let Some(p) = self.procs.get_mut(&tgid) {
                p.children.retain(|(c, _)| *c != child);
            }
            self.procs.remove(&child);
        }
    }

    fn state(
        &mut self,
        ctx: &Ctx,
        sk: u64,
        old: u8,
        new: u8,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let opens = (old == state::CLOSE && (new == state::SYN_SENT || new == state::LISTEN))
            || (old == state::LISTEN && new == state::SYN_RECV);
        // A socket already closed before this event cannot be its subject:
        // the address was freed and belongs to a new socket now, whose
        // opening was not seen (or is still to be read).
        let stale = self
            .current
            .get(&sk)
            .and_then(|&i| self.socks.get(i)?.as_ref())
            .is_some_and(|s| s.closed.is_some_and(|c| c + CLOCK_SLACK < ctx.time));
        if opens || stale || !self.current.contains_key(&sk) {
            let idx = self.socks.len();
            self.socks.push(Some(Sock {
                opened: ctx.time,
                closed: None,
                local: None,
                remote: None,
                actors: Vec::new(),
                shut: None,
                senders: Vec::new(),
                sends: VecDeque::new(),
            }));
            if let Some(prev) = self.current.insert(sk, idx) {
                self.close(prev, ctx.time);
                self.previous.insert(sk, prev);
            }
            self.connecting.remove(&sk);
            if new == state::LISTEN {
                self.listeners.push(idx);
            }
        }
        let Some(&idx) = self.current.get(&sk) else {
            return;
        };
        // An event older than the current socket's opening is the previous
        // socket's at this address (freed and reused in between).
        let idx = match self.socks.get(idx) {
            Some(Some(now)) if !opens && ctx.time < now.opened => match self.previous.get(&sk) {
                Some(&prev) => prev,
                None => return,
            },
            _ => idx,
        };
        let Some(Some(sock)) = self.socks.get_mut(idx) else {
            return;
        };
        // Only the changes a process makes by its own system calls prove
        // it holds the socket: connect (SYN_SENT), listen, close or
        // shutdown (FIN_WAIT1, LAST_ACK). The others follow a received
        // segment and run in whichever task processes it, flagged as a
        // softirq or not (on loopback, now and then the peer's).
        let by_owner = matches!(
            new,
            state::SYN_SENT | state::FIN_WAIT1 | state::LAST_ACK | state::LISTEN
        );
        if by_owner && !ctx.irq && !sock.actors.contains(&ctx.tgid) {
            sock.actors.push(ctx.tgid);
        }
        if matches!(new, state::FIN_WAIT1 | state::LAST_ACK) && !ctx.irq {
            sock.shut.get_or_insert(ctx.time);
        }
        // The source port is still 0 at SYN_SENT: the tuple comes with the
        // socket's next state change.
        let full = |a: Option<SocketAddr>| a.filter(|a| a.port() != 0).map(norm);
        if new == state::LISTEN {
            sock.local = local.map(norm);
        } else if sock.local.is_none()
            && let (Some(l), Some(r)) = (full(local), full(remote))
        {
            sock.local = Some(l);
            sock.remote = Some(r);
            self.by_tuple.entry((l, r)).or_default().push(idx);
            self.connecting.remove(&sk);
        } else if new == state::SYN_SENT
            && let Some(r) = full(remote)
        {
            self.connecting.insert(sk, r);
        }
        if new == state::CLOSE {
            self.close(idx, ctx.time);
            if self.current.get(&sk) == Some(&idx) {
                self.current.remove(&sk);
                self.connecting.remove(&sk);
                self.previous.insert(sk, idx);
            }
        }
    }

    /// Records a process sending on the TCP socket now at `sk`.
    fn tcp_sender(&mut self, sk: u64, ctx: &Ctx) {
        let Some(&idx) = self.current.get(&sk) else {
            return;
        };
        let Some(Some(sock)) = self.socks.get_mut(idx) else {
            return;
        };
        if sock.closed.is_some() {
            return;
        }
        if sock.sends.len() >= SOCK_SENDS {
            sock.sends.pop_front();
        }
        sock.sends.push_back((ctx.tgid, ctx.time));
        if !sock.senders.iter().any(|(p, _)| *p == ctx.tgid) && sock.senders.len() < MAX_SENDERS {
            sock.senders.push((ctx.tgid, ctx.time));
        }
    }

    fn close(&mut self, idx: usize, time: Duration) {
        if let Some(Some(s)) = self.socks.get_mut(idx) {
            s.closed.get_or_insert(time);
        }
    }

    /// Records a send, keeping the list sorted by time (records of
    /// different CPUs may come slightly out of order), so a window is found
    /// by search.
    fn add_send(&mut self, send: Sent) {
        let at = self.sends.len()
            - self
                .sends
                .iter()
                .rev()
                .take_while(|s| s.time > send.time)
                .count();
        self.sends.insert(at, send);
        self.prune();
    }

    /// Extends the flow's latest run when the same process routes it again,
    /// else starts a run.
    fn add_route(&mut self, key: (u8, u16, u16), run: Run) {
        let runs = self.routes.entry(key).or_default();
        if let Some(last) = runs.last_mut()
            && last.tgid == run.tgid
            && last.src == run.src
            && last.dst == run.dst
            && last.v6 == run.v6
        {
            last.first = last.first.min(run.first);
            last.last = last.last.max(run.last);
            return;
        }
        if runs.len() >= MAX_RUNS {
            runs.remove(0);
        }
        runs.push(run);
    }

    fn prune(&mut self) {
        let horizon = self.newest.saturating_sub(SEND_RETAIN);
        while self.sends.front().is_some_and(|s| s.time < horizon) {
            self.sends.pop_front();
        }
        if self.newest < self.swept + SWEEP_EVERY {
            return;
        }
        self.swept = self.newest;
        // Closed sockets and exited processes are forgotten in sweeps;
        // socket slots stay (as `None`) so indices remain valid.
        let horizon = self.newest.saturating_sub(RETAIN);
        for slot in &mut self.socks {
            if slot
                .as_ref()
                .is_some_and(|s| s.closed.is_some_and(|c| c < horizon))
            {
                *slot = None;
            }
        }
        let socks = &self.socks;
        self.by_tuple.retain(|_, v| {
            v.retain(|i| socks.get(*i).is_some_and(Option::is_some));
            !v.is_empty()
        });
        self.listeners
            .retain(|i| socks.get(*i).is_some_and(Option::is_some));
        self.routes.retain(|_, runs| {
            runs.retain(|r| r.last >= horizon);
            !runs.is_empty()
        });
        self.procs
            .retain(|_, p| p.exited.is_none_or(|e| e >= horizon));
        let procs = &self.procs;
        self.threads.retain(|_, tgid| procs.contains_key(tgid));
    }

    /// The owner of `pid` as the table knows it.
    pub fn owner_at(&self, pid: u32, at: Duration) -> Option<Owner> {
        let p = self.procs.get(&pid)?;
        // The program it ran at `at`: one replaced by an exec since, if so.
        let (name, cmd, args) = match p.earlier.iter().find(|e| at < e.until) {
            Some(e) if !e.known => return None,
            Some(e) => (&e.name, &e.cmd, &e.args),
            None => (&p.name, &p.cmd, &p.args),
        };
        if name.is_empty() {
            return None;
        }
        Some(Owner {
            pid,
            name: name.clone(),
            cmd: cmd.clone(),
            args: args.clone(),
        })
    }

    /// Notes the wall-clock time the reader applies the next records at
    /// (what /proc says from then on is of that moment).
    pub fn reading(&mut self, now: Duration) {
        self.reading_at = now;
    }

    /// Sets the arguments of the program `pid` ran from its latest exec,
    /// read from /proc while it still ran that program.
    pub fn exec_args(&mut self, pid: u32, args: Vec<String>) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.args = args;
        }
    }

    /// Whether `pid` may have been alive at `time`: not exited before it,
    /// not created after it.
    pub fn alive_at(&self, pid: u32, time: Duration) -> bool {
        self.procs.get(&pid).is_none_or(|p| {
            p.exited.is_none_or(|e| e + CLOCK_SLACK >= time)
                && p.started.is_none_or(|s| s <= time + CLOCK_SLACK)
        })
    }

    /// Whether a socket generation for this 4-tuple began after `time`:
    /// whatever /proc shows for it now is not the frame's socket.
    pub fn reopened_after(&self, local: SocketAddr, remote: SocketAddr, time: Duration) -> bool {
        self.by_tuple
            .get(&tuple_key(local, remote))
            .is_some_and(|v| {
                v.iter().any(|i| {
                    self.socks
                        .get(*i)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.opened > time + CLOCK_SLACK)
                })
            })
    }

    /// Whether what /proc shows — `pid` holding the socket of frame `q` —
    /// fits the events: `pid` was alive from `alive_from` on, has no live
    /// child that may be the one sending (a forking server's handler holds
    /// the connection; /proc may show only the listener by then), and is
    /// the only process seen on a UDP flow.
    pub fn proc_owner_fits(&self, pid: u32, q: &Query, alive_from: Duration) -> bool {
        self.alive_at(pid, alive_from)
            && !self.may_share(pid, Duration::ZERO, q.time)
            && (q.tcp || !self.routed_by_other(false, q.src, q.dst, pid))
    }

    /// Whether route lookups of the flow `src` → `dst` by a process other
    /// than `pid` were seen: then /proc's view of the port now (perhaps
    /// another program's by then) does not name the flow's frames.
    pub fn routed_by_other(&self, tcp: bool, src: SocketAddr, dst: SocketAddr, pid: u32) -> bool {
        let (src, dst) = (norm(src), norm(dst));
        let proto = if tcp { TCP } else { UDP };
        self.routes
            .get(&(proto, src.port(), dst.port()))
            .is_some_and(|runs| runs.iter().any(|r| r.fits(src, dst) && r.tgid != pid))
    }

    /// Whether `pid` descends from `root` (or is it).
    pub fn is_in_tree(&self, pid: u32, root: u32) -> Option<bool> {
        let mut at = self.threads.get(&pid).copied().unwrap_or(pid);
        for _ in 0..MAX_TREE_DEPTH {
            if at == root {
                return Some(true);
            }
            at = self.procs.get(&at)?.parent?;
        }
        Some(false)
    }

    /// The owner this table proves for `q`.
    pub fn lookup(&self, q: &Query) -> Verdict {
        if q.tcp {
            self.lookup_tcp(q)
        } else {
            self.lookup_udp(q)
        }
    }

    fn lookup_tcp(&self, q: &Query) -> Verdict {
        let (src, dst) = (norm(q.src), norm(q.dst));
        let key = tuple_key(src, dst);
        let live: Vec<&Sock> = self
            .by_tuple
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.opened <= q.time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= q.stream_start)
                    && (!q.syn
                        || q.role == Role::Server
                        || s.opened + CONNECT_LEAD >= q.stream_start)
            })
            .collect();
        if live.len() > 1 {
            // Two sockets with one 4-tuple at once: another namespace's.
            return Verdict::None;
        }
        if let Some(sock) = live.first()
            && let [pid] = sock.actors[..]
        {
            // An accepted socket's only actor is the process that closed
            // it. It held the socket from the start only if it is the
            // listener's process or one that process forked; another (the
            // socket handed to it, or a reader of /proc whose brief hold
            // on the file outlived the owner's close, so the last close
            // ran in its task) sent none of the frames before its close.
            // A frame within the clocks' slack of the close may be before
            // it: unknown too (the closer's own FIN among them).
            if q.role == Role::Server
                && sock.shut.is_some_and(|t| q.time <= t + CLOCK_SLACK)
                && !self
                    .listener_since(src, q.time)
                    .is_some_and(|(holder, since)| self.may_have_accepted(pid, holder, since))
            {
                return Verdict::HandedOver;
            }
            // A child forked since may be the one sending; and a process
            // gone by the frame's time, without having closed the socket,
            // left it to another (a child, or one it handed the socket to).
            let left_open =
                !self.alive_at(pid, q.time) && sock.shut.is_none_or(|t| t > q.time + CLOCK_SLACK);
            if self.may_share(pid, sock.opened, q.time)
                || left_open
                || sock.sent_by_other(pid, q.time)
            {
                return Verdict::None;
            }
            return match self.data_sender(sock, q) {
                Carried::Owner => self.known(pid, q.stream_start, q.time),
                Carried::Wait => Verdict::Wait,
                Carried::Other => Verdict::None,
            };
        }
        if live.first().is_some_and(|s| !s.actors.is_empty()) {
            // Handed between processes: no single owner.
            return Verdict::None;
        }
        if q.role == Role::Server {
            // The accepted socket's own senders: a process other than the
            // listener's (a forking server's child) makes it nobody's.
            return match self.listener_owner(src, q) {
                Verdict::Known(o) if live.iter().any(|s| s.sent_by_other(o.pid, q.time)) => {
                    Verdict::None
                }
                v => v,
            };
        }
        if live.is_empty()
            && let Some(v) = self.route_owner(TCP, src, dst, q)
        {
            return v;
        }
        // A connect whose tuple the next state change will tell.
        let waiting = self.connecting.values().any(|r| *r == key.1);
        if waiting {
            Verdict::Wait
        } else {
            Verdict::None
        }
    }

    /// The process whose route lookups prove the flow `src` → `dst` is its
    /// socket's at `q.time`: the latest run on the flow begun by then (for
    /// a TCP stream seen from its SYN, begun as the stream did), no other
    /// process on the flow still alive, and no child forked since that may
    /// share the socket. `None` when no lookup of this flow was seen.
    fn route_owner(
        &self,
        proto: u8,
        src: SocketAddr,
        dst: SocketAddr,
        q: &Query,
    ) -> Option<Verdict> {
        let runs = self.routes.get(&(proto, src.port(), dst.port()))?;
        let mut fitting = runs
            .iter()
            .filter(|r| r.fits(src, dst) && r.first <= q.time + ROUTE_SLACK)
            .peekable();
        fitting.peek()?;
        let fitting: Vec<&Run> = fitting.collect();
        let latest = fitting.iter().max_by_key(|r| r.first)?;
        let pid = latest.tgid;
        // A TCP stream's connect comes before its first frame, and, for a
        // stream seen from its SYN, just before.
        if proto == TCP
            && (latest.first > q.stream_start + CLOCK_SLACK
                || (q.syn && latest.first + CONNECT_LEAD < q.stream_start))
        {
            return Some(Verdict::None);
        }
        // Another process on this flow not gone by the frame: a socket
        // shared, or the same ports in another namespace.
        if fitting
            .iter()
            .any(|r| r.tgid != pid && self.alive_at(r.tgid, q.time))
        {
            return Some(Verdict::None);
        }
        let since = fitting
            .iter()
            .filter(|r| r.tgid == pid)
            .map(|r| r.first)
            .min()
            .unwrap_or(latest.first);
        // A TCP stream is one socket's, from its first frame; a UDP flow
        // may pass from program to program.
        let gone_at_start = proto == TCP && !self.alive_at(pid, q.stream_start);
        if self.may_share(pid, since, q.time) || gone_at_start {
            return Some(Verdict::None);
        }
        Some(self.known(pid, q.time, q.time))
    }

    /// For a TCP frame with payload: whether the send system call that
    /// carried it was the socket's owner's. Its bytes left during a send
    /// still running at the frame's time, whose record comes as the call
    /// returns: the socket's first send record after the frame says whose
    /// it was (another process's — a socket passed to it, writing a large
    /// block — leaves the frame unproven). When none comes within
    /// [`SEND_AFTER`], the frame was sent later by the kernel, or by
    /// `sendfile` (which records nothing), or by a call still running: the
    /// owner's only if the owner itself sent on the socket shortly before.
    fn data_sender(&self, sock: &Sock, q: &Query) -> Carried {
        let [pid] = sock.actors[..] else {
            return Carried::Owner;
        };
        if q.len == 0 {
            return Carried::Owner;
        }
        let after = sock
            .sends
            .iter()
            .find(|(_, t)| *t + CLOCK_SLACK >= q.time && *t <= q.time + SEND_AFTER);
        match after {
            Some((p, _)) if *p == pid => return Carried::Owner,
            Some(_) => return Carried::Other,
            None => {}
        }
        if self
            .events_until
            .is_some_and(|until| until < q.time + SEND_AFTER)
        {
            return Carried::Wait;
        }
        let owner_just_before = sock
            .sends
            .iter()
            .any(|(p, t)| *p == pid && *t <= q.time + CLOCK_SLACK && *t + SENT_BEFORE >= q.time);
        if owner_just_before {
            Carried::Owner
        } else {
            Carried::Other
        }
    }

    /// Notes that events up to `until` have been applied (a lookup may
    /// wait for records that come after its frame).
    pub fn events_until(&mut self, until: Duration) {
        self.events_until = Some(until);
    }

    /// `pid`, alive at `since`, with the program it ran at `at`.
    fn known(&self, pid: u32, since: Duration, at: Duration) -> Verdict {
        if !self.alive_at(pid, since) {
            return Verdict::None;
        }
        self.owner_at(pid, at).map_or(Verdict::None, Verdict::Known)
    }

    /// The one process that can hold the listening socket at `local`.
    fn listener_owner(&self, local: SocketAddr, q: &Query) -> Verdict {
        let matches: Vec<&Sock> = self
            .listeners
            .iter()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.local.is_some_and(|l| {
                    l.port() == local.port()
                        && (l.ip() == local.ip()
                            || (l.ip().is_unspecified()
                                && matches!(
                                    (l.ip(), local.ip()),
                                    (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), _)
                                )))
                }) && s.opened <= q.time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= q.time)
            })
            .collect();
        let [sock] = matches[..] else {
            return Verdict::None;
        };
        let [pid] = sock.actors[..] else {
            return Verdict::None;
        };
        // A child process forked after listen() may hold it too.
        if self.may_share(pid, sock.opened, q.time) {
            return Verdict::None;
        }
        self.known(pid, q.time, q.time)
    }

    /// The one process holding the listening socket a connection to
    /// `local` arrived at, at `time` — children it forked may serve the
    /// connection, so this says whose server it is, not who sent a frame.
    pub fn listener_holder(&self, local: SocketAddr, time: Duration) -> Option<Owner> {
        let local = norm(local);
        let mut holders = self
            .listeners
            .iter()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.local.is_some_and(|l| {
                    l.port() == local.port() && (l.ip() == local.ip() || l.ip().is_unspecified())
                }) && s.opened <= time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= time)
            })
            .flat_map(|s| s.actors.iter().copied());
        let pid = holders.next()?;
        if holders.any(|p| p != pid) {
            return None;
        }
        self.owner_at(pid, time)
    }

    /// The one process holding the listening socket for `local` at `time`,
    /// and since when that socket was seen listening.
    fn listener_since(&self, local: SocketAddr, time: Duration) -> Option<(u32, Duration)> {
        let local = norm(local);
        let mut found: Option<(u32, Duration)> = None;
        for s in self
            .listeners
            .iter()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.local.is_some_and(|l| {
                    l.port() == local.port() && (l.ip() == local.ip() || l.ip().is_unspecified())
                }) && s.opened <= time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= time)
            })
        {
            for &pid in &s.actors {
                match found {
                    Some((p, _)) if p != pid => return None,
                    Some((p, since)) => found = Some((p, since.min(s.opened))),
                    None => found = Some((pid, s.opened)),
                }
            }
        }
        found
    }

    /// Whether `pid` may have accepted a connection on a listener `holder`
    /// opened at `since`: it is `holder`, or descends from a child `holder`
    /// forked after `since` (so it inherited the listener). A child forked
    /// before could hold an accepted socket only if it was handed over.
    /// A fork the table did not see (before the capture) is given the
    /// benefit, as before.
    fn may_have_accepted(&self, pid: u32, holder: u32, since: Duration) -> bool {
        let mut at = pid;
        for _ in 0..MAX_ANCESTRY {
            if at == holder {
                return true;
            }
            let Some(parent) = self.procs.get(&at).and_then(|p| p.parent) else {
                return false;
            };
            if parent == holder {
                let forked = self
                    .procs
                    .get(&holder)
                    .and_then(|h| h.children.iter().find(|(c, _)| *c == at))
                    .map(|(_, t)| *t);
                // Both times are kernel events on one clock: no slack.
                return forked.is_none_or(|t| t >= since);
            }
            if parent == at {
                return false;
            }
            at = parent;
        }
        false
    }

    /// Whether a child process of `pid` forked after `since` (when its
    /// socket appeared) may hold that socket too at `time`: a child not
    /// known to be a thread and not known to have exited.
    fn may_share(&self, pid: u32, since: Duration, time: Duration) -> bool {
        self.procs.get(&pid).is_some_and(|p| {
            p.children
                .iter()
                .any(|(c, at)| *at >= since && *at <= time + CLOCK_SLACK && self.alive_at(*c, time))
        })
    }

    fn lookup_udp(&self, q: &Query) -> Verdict {
        let (src, dst) = (norm(q.src), norm(q.dst));
        let Some(verdict) = self.route_owner(UDP, src, dst, q) else {
            return Verdict::None;
        };
        let Verdict::Known(owner) = verdict else {
            return verdict;
        };
        // The datagram itself: that process routed this very flow just
        // before it (each send of an unconnected socket does), or made a
        // send of its payload's length around it (the record comes as the
        // system call returns, just after the frame left).
        let from = q.time.saturating_sub(CORROBORATE_WINDOW);
        let routed = self
            .routes
            .get(&(UDP, src.port(), dst.port()))
            .is_some_and(|runs| {
                runs.iter().any(|r| {
                    r.tgid == owner.pid
                        && r.fits(src, dst)
                        && r.first <= q.time + ROUTE_SLACK
                        && r.last >= from
                })
            });
        if routed {
            return Verdict::Known(owner);
        }
        // The send records say which process sent how much, not on which
        // socket: a send of that length by another process in the same
        // window (a socket it was handed, or a flow it routed elsewhere)
        // leaves the datagram unproven.
        let to = q.time + SEND_AFTER;
        let first = self.sends.partition_point(|s| s.time < from);
        let (mut own, mut other) = (false, false);
        for s in self
            .sends
            .range(first..)
            .take_while(|s| s.time <= to)
            .filter(|s| s.len == q.len)
        {
            if s.tgid == owner.pid {
                own = true;
            } else {
                other = true;
            }
        }
        if own && !other {
            Verdict::Known(owner)
        } else {
            Verdict::None
        }
    }
}

/// A process tree deeper than this is treated as a loop.
const MAX_TREE_DEPTH: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// `TCP_ESTABLISHED`.
    const ESTABLISHED: u8 = 1;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(1_000_000 + n)
    }

    fn ctx(t: u64, pid: u32, comm: &str, irq: bool) -> Ctx {
        Ctx {
            time: ms(t),
            tid: pid,
            tgid: pid,
            comm: comm.into(),
            irq,
        }
    }

    #[allow(clippy::too_many_arguments)] // one state-change record, field by field
    fn st(t: u64, pid: u32, irq: bool, sk: u64, old: u8, new: u8, l: &str, r: &str) -> Event {
        Event::State {
            ctx: ctx(t, pid, "client", irq),
            sk,
            old,
            new,
            local: Some(l.parse().unwrap()),
            remote: Some(r.parse().unwrap()),
        }
    }

    const C: &str = "127.0.0.1:40000";
    const S: &str = "127.0.0.1:13000";

    /// One client connection by `pid` on socket `sk` from `t` to `t + 5`.
    fn connection(t: &mut Table, at: u64, pid: u32, sk: u64) {
        use state::*;
        t.apply(&st(at, pid, false, sk, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(at, pid, true, sk, SYN_SENT, ESTABLISHED, C, S));
        t.apply(&st(at + 5, pid, false, sk, ESTABLISHED, 4, C, S));
        t.apply(&st(at + 5, pid, true, sk, 5, CLOSE, C, S));
        t.apply(&Event::Exit {
            ctx: ctx(at + 6, pid, "client", false),
            group_dead: true,
        });
    }

    /// A frame's question: for UDP `len` is the datagram's payload; for
    /// TCP the frame is a bare segment (a handshake or an ACK, `len` its
    /// size on the wire, unused) — see `tcp_data` for one with payload.
    fn q(tcp: bool, role: Role, t: u64, start: u64, len: u32) -> Query {
        let len = if tcp { 0 } else { len };
        let (src, dst) = match role {
            Role::Client => (C, S),
            Role::Server => (S, C),
        };
        Query {
            tcp,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            time: ms(t),
            stream_start: ms(start),
            role,
            syn: true,
            len,
        }
    }

    fn pid(v: Verdict) -> Option<u32> {
        match v {
            Verdict::Known(o) => Some(o.pid),
            _ => None,
        }
    }

    #[test]
    fn port_reuse_is_a_new_owner() {
        let mut t = Table::new();
        connection(&mut t, 0, 100, 0xa);
        connection(&mut t, 50, 200, 0xa);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 51, 50, 74))), Some(200));
        // A third generation nobody was seen creating is nobody's.
        assert_eq!(t.lookup(&q(true, Role::Client, 91, 90, 74)), Verdict::None);
    }

    #[test]
    fn a_late_event_of_a_freed_socket_stays_with_it() {
        use state::*;
        let mut t = Table::new();
        let other = "127.0.0.1:40001";
        // Client 100's socket at 0xa: connect, established, close begun.
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
        t.apply(&st(2, 100, false, 0xa, ESTABLISHED, 4, C, S));
        // Freed and reused by client 200 at 5; the old socket's last
        // change (at 4, in a softirq on another CPU) is read after it.
        t.apply(&st(5, 200, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(4, 300, true, 0xa, 5, CLOSE, C, S));
        t.apply(&st(5, 200, true, 0xa, SYN_SENT, ESTABLISHED, other, S));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        let second = Query {
            src: other.parse().unwrap(),
            ..q(true, Role::Client, 6, 5, 74)
        };
        assert_eq!(pid(t.lookup(&second)), Some(200));
    }

    #[test]
    fn a_decoy_on_the_same_local_port_never_matches() {
        use state::*;
        let mut t = Table::new();
        // pid 300 holds 127.0.0.1:40000 towards another server.
        t.apply(&st(
            0,
            300,
            false,
            0xd,
            CLOSE,
            SYN_SENT,
            "127.0.0.1:0",
            "127.0.0.1:9999",
        ));
        t.apply(&st(
            0,
            300,
            true,
            0xd,
            SYN_SENT,
            ESTABLISHED,
            C,
            "127.0.0.1:9999",
        ));
        assert_eq!(t.lookup(&q(true, Role::Client, 10, 10, 74)), Verdict::None);
        assert_eq!(t.lookup(&q(true, Role::Server, 10, 10, 74)), Verdict::None);
    }

    #[test]
    fn a_pid_that_exited_before_the_stream_is_never_named() {
        let mut t = Table::new();
        connection(&mut t, 0, 100, 0xa);
        // The socket lived on (closed at 5) but the stream starts at 20.
        let mut late = q(true, Role::Client, 21, 20, 74);
        late.syn = false;
        assert_eq!(t.lookup(&late), Verdict::None);
        assert!(!t.alive_at(100, ms(20)));
    }

    #[test]
    fn server_frames_go_to_the_single_listener_or_the_closer() {
        use state::*;
        let mut t = Table::new();
        t.apply(&st(
            0,
            500,
            false,
            0x1,
            CLOSE,
            LISTEN,
            "127.0.0.1:13000",
            "0.0.0.0:0",
        ));
        // The SYN-ACK: no accepted socket yet.
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 10, 10, 74))), Some(500));
        // A thread of the server does not share the listener with another
        // process.
        t.apply(&Event::Fork {
            ctx: ctx(11, 500, "server", false),
            child: 501,
            thread: true,
            comm: "server".into(),
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 12, 12, 74))), Some(500));
        // A forked child may hold the listener: only the accepted socket's
        // closer is proof then.
        t.apply(&Event::Fork {
            ctx: ctx(13, 500, "server", false),
            child: 600,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(t.lookup(&q(true, Role::Server, 14, 14, 74)), Verdict::None);
        t.apply(&st(15, 500, true, 0x2, LISTEN, SYN_RECV, S, C));
        t.apply(&st(15, 500, true, 0x2, SYN_RECV, ESTABLISHED, S, C));
        t.apply(&st(16, 600, false, 0x2, ESTABLISHED, 4, S, C));
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 15, 14, 74))), Some(600));
    }

    /// Server 500 listening on S from `listen` (ms), and socket 0x2 from C
    /// accepted at 5 ms and closed last by `closer` at 20 ms.
    fn accepted_then_closed_by(t: &mut Table, listen: u64, closer: u32) {
        use state::*;
        t.apply(&st(
            listen,
            500,
            false,
            0x1,
            CLOSE,
            LISTEN,
            "127.0.0.1:13000",
            "0.0.0.0:0",
        ));
        t.apply(&st(5, 500, true, 0x2, LISTEN, SYN_RECV, S, C));
        t.apply(&st(5, 500, true, 0x2, SYN_RECV, ESTABLISHED, S, C));
        t.apply(&st(20, closer, false, 0x2, ESTABLISHED, 4, S, C));
    }

    #[test]
    fn an_accepted_socket_closed_by_another_process_is_not_its_before_the_close() {
        // Process 700, not the server's nor forked by it, was handed the
        // socket and closed it last.
        let mut t = Table::new();
        accepted_then_closed_by(&mut t, 0, 700);
        // The server's frames before that close are not 700's.
        for at in [6, 10] {
            assert_eq!(
                t.lookup(&q(true, Role::Server, at, 5, 74)),
                Verdict::HandedOver
            );
        }
        // Its FIN, sent by that close, may be within the clocks' slack of
        // a frame before it: unknown too; what the kernel sends on the
        // closer's behalf afterwards is the closer's.
        assert_eq!(
            t.lookup(&q(true, Role::Server, 20, 5, 66)),
            Verdict::HandedOver
        );
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 25, 5, 66))), Some(700));

        // A child the server forked before it listened cannot have
        // accepted: it was handed the socket.
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 500, "server", false),
            child: 600,
            thread: false,
            comm: "grabber".into(),
        });
        accepted_then_closed_by(&mut t, 1, 600);
        assert_eq!(
            t.lookup(&q(true, Role::Server, 10, 5, 74)),
            Verdict::HandedOver
        );
    }

    #[test]
    fn a_socket_its_owner_left_open_at_exit_is_nobody_s_after() {
        let mut t = connected_client();
        // Gone at 10 with the socket still open (another holds it now).
        t.apply(&Event::Exit {
            ctx: ctx(10, 100, "client", false),
            group_dead: true,
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 5, 0, 74))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 20, 0, 74)), Verdict::None);
        // Closed by its owner, who then exits: the kernel's last ACK after
        // the exit is still the closer's side.
        let mut t = Table::new();
        connection(&mut t, 0, 200, 0xb);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 7, 0, 66))), Some(200));
    }

    /// A table where 100 connected TCP socket 0xa from C to S.
    fn connected_client() -> Table {
        use state::*;
        let mut t = Table::new();
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
        t
    }

    /// `pid`'s send of 10 bytes on TCP socket 0xa, recorded at `at`.
    fn tcp_send(t: &mut Table, at: u64, pid: u32) {
        t.apply(&Event::Send {
            ctx: ctx(at, pid, "sender", false),
            len: 10,
            sk: 0xa,
            tcp: true,
        });
    }

    #[test]
    fn a_socket_another_process_sends_on_is_nobody_s() {
        let mut t = connected_client();
        let send_on = tcp_send;
        send_on(&mut t, 1, 100);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 2, 0, 0))), Some(100));
        // Handed over a Unix socket to 300, which sends too.
        send_on(&mut t, 5, 300);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 2, 0, 0))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 6, 0, 0)), Verdict::None);
    }

    #[test]
    fn a_large_write_by_the_process_a_socket_was_passed_to_is_not_the_owners() {
        let mut t = connected_client();
        let send_on = tcp_send;
        let data = |at: u64| Query {
            len: 10,
            ..q(true, Role::Client, at, 0, 0)
        };
        // The owner's write: its frames leave before its record.
        send_on(&mut t, 2, 100);
        assert_eq!(pid(t.lookup(&data(1))), Some(100));
        // 300, handed the socket, writes a large block: its frames leave
        // from 5 ms, its record comes as the call returns at 10 ms.
        send_on(&mut t, 10, 300);
        assert_eq!(t.lookup(&data(6)), Verdict::None);
        assert_eq!(t.lookup(&data(12)), Verdict::None);
        // A bare ACK is not a send's.
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 0))), Some(100));
        // A frame whose record has not been read yet waits for it.
        let mut t = connected_client();
        send_on(&mut t, 1, 100);
        t.events_until(ms(5));
        assert_eq!(t.lookup(&data(3)), Verdict::Wait);
        send_on(&mut t, 6, 100);
        assert_eq!(pid(t.lookup(&data(3))), Some(100));
        // None comes (sent later by the kernel, or by sendfile after a
        // header write): the owner's, as it sent just before.
        t.events_until(ms(2000));
        assert_eq!(pid(t.lookup(&data(50))), Some(100));
        // Long after its last send, with no record after: unproven.
        assert_eq!(t.lookup(&data(1500)), Verdict::None);
        // A socket its connector never sent on, passed to 300 whose long
        // write returns a second later: none of its frames is the
        // connector's.
        let mut t = connected_client();
        t.events_until(ms(3000));
        assert_eq!(t.lookup(&data(50)), Verdict::None);
        send_on(&mut t, 1050, 300);
        assert_eq!(t.lookup(&data(50)), Verdict::None);
        assert_eq!(t.lookup(&data(1000)), Verdict::None);
    }

    #[test]
    fn a_client_that_forked_after_connecting_shares_its_socket() {
        let mut t = connected_client();
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        t.apply(&Event::Fork {
            ctx: ctx(2, 100, "client", false),
            child: 101,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 3, 0, 74)), Verdict::None);
        t.apply(&Event::Exit {
            ctx: ctx(4, 101, "child", false),
            group_dead: true,
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 5, 0, 74))), Some(100));
    }

    fn send(t: &mut Table, at: u64, pid: u32, irq: bool, len: u32) {
        t.apply(&Event::Send {
            ctx: ctx(at, pid, "sender", irq),
            len,
            sk: 0,
            tcp: false,
        });
    }

    #[test]
    fn a_datagram_is_confirmed_by_its_senders_route_or_send_around_it() {
        let mut t = Table::new();
        // A connected socket routes its flow once, at connect: a datagram
        // sent much later on it...
        route(&mut t, 10, 800, UDP, C, S);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 10, 10, 9))), Some(800));
        assert_eq!(
            t.lookup(&q(false, Role::Client, 500, 500, 9)),
            Verdict::None
        );
        // ...is confirmed by its send, whose record comes as the system
        // call returns, just after the frame was stamped.
        send(&mut t, 501, 800, false, 9);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 500, 500, 9))),
            Some(800)
        );
        // A send of another length confirms nothing.
        assert_eq!(
            t.lookup(&q(false, Role::Client, 500, 500, 8)),
            Verdict::None
        );
        // Long after it, that send proves nothing.
        assert_eq!(
            t.lookup(&q(false, Role::Client, 900, 900, 9)),
            Verdict::None
        );
    }

    /// A route lookup of the flow `from` → `to` by `pid` at `at`.
    fn route(t: &mut Table, at: u64, pid: u32, proto: u8, from: &str, to: &str) {
        let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
        t.apply(&Event::Route {
            ctx: ctx(at, pid, "sender", false),
            proto,
            sport: from.port(),
            dport: to.port(),
            src: Some(from.ip()),
            dst: Some(to.ip()),
            v6: false,
        });
    }

    #[test]
    fn udp_needs_the_flows_route_and_that_processs_send() {
        let mut t = Table::new();
        // A send of the frame's length alone proves nothing.
        send(&mut t, 0, 700, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 0, 0, 52)), Verdict::None);
        // With the flow's route lookup by that process, it does.
        route(&mut t, 0, 700, UDP, "0.0.0.0:40000", S);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // Another process's send of that length nearer the frame changes
        // nothing: the flow is 700's.
        send(&mut t, 1, 701, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 1, 0, 52))), Some(700));
        // Long after the route, a frame of another length: no send of
        // 700's proves it.
        assert_eq!(t.lookup(&q(false, Role::Client, 200, 0, 60)), Verdict::None);
        // The server's reply flow is the server's.
        route(&mut t, 2, 900, UDP, S, C);
        send(&mut t, 2, 900, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Server, 2, 0, 52))), Some(900));
        // A send recorded in interrupt context is not the process's.
        send(&mut t, 300, 900, true, 80);
        assert_eq!(t.lookup(&q(false, Role::Server, 300, 0, 80)), Verdict::None);
        // Another destination port is another flow.
        let other = Query {
            dst: "127.0.0.1:13001".parse().unwrap(),
            ..q(false, Role::Client, 1, 0, 52)
        };
        assert_eq!(t.lookup(&other), Verdict::None);
    }

    /// A datagram of 52 bytes from C to S, sent by `pid` running `comm`.
    fn datagram(t: &mut Table, at: u64, pid: u32, comm: &str) {
        let (from, to): (SocketAddr, SocketAddr) = (C.parse().unwrap(), S.parse().unwrap());
        t.apply(&Event::Route {
            ctx: ctx(at, pid, comm, false),
            proto: UDP,
            sport: from.port(),
            dport: to.port(),
            src: Some(from.ip()),
            dst: Some(to.ip()),
            v6: false,
        });
    }

    fn program(v: Verdict) -> Option<(String, Option<String>)> {
        match v {
            Verdict::Known(o) => Some((o.name, o.cmd)),
            _ => None,
        }
    }

    #[test]
    fn frames_sent_before_an_exec_keep_the_earlier_program() {
        let exec = |t: &mut Table, at: u64, comm: &str, path: &str| {
            t.apply(&Event::Exec {
                ctx: ctx(at, 100, comm, false),
                path: path.into(),
                old_tid: 100,
            });
        };
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 1, "bash", false),
            child: 100,
            thread: false,
            comm: "bash".into(),
        });
        exec(&mut t, 1, "python3", "/usr/bin/python3");
        t.exec_args(100, vec!["client.py".into()]);
        datagram(&mut t, 5, 100, "python3");
        exec(&mut t, 10, "sleep", "/bin/sleep");
        let python = Some(("python3".to_string(), Some("/usr/bin/python3".to_string())));
        assert_eq!(program(t.lookup(&q(false, Role::Client, 5, 0, 52))), python);
        datagram(&mut t, 12, 100, "sleep");
        assert_eq!(
            program(t.lookup(&q(false, Role::Client, 12, 0, 52))),
            Some(("sleep".to_string(), Some("/bin/sleep".to_string())))
        );
        // A process first seen by a record read after it had exec'd (what
        // /proc said was already the next program): its frames before the
        // exec name no program, so no one.
        let mut t = Table::new();
        t.reading(ms(20));
        datagram(&mut t, 5, 100, "sleep");
        exec(&mut t, 10, "sleep", "/bin/sleep");
        assert_eq!(t.lookup(&q(false, Role::Client, 5, 0, 52)), Verdict::None);
        datagram(&mut t, 12, 100, "sleep");
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 12, 0, 52))), Some(100));
    }

    #[test]
    fn a_handed_over_udp_socket_is_not_proven_by_its_connector_s_sends() {
        let mut t = Table::new();
        // 700 connects (routes the flow) and sends once.
        route(&mut t, 0, 700, UDP, C, S);
        send(&mut t, 0, 700, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // Later the socket is 701's (passed over a Unix socket), and 700
        // sends datagrams of the same length elsewhere: a datagram of the
        // flow is proven by neither.
        send(&mut t, 200, 700, false, 52);
        send(&mut t, 200, 701, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 200, 0, 52)), Verdict::None);
        // With only 700 sending that length, it is 700's again.
        send(&mut t, 500, 700, false, 52);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 500, 0, 52))),
            Some(700)
        );
    }

    #[test]
    fn a_reused_udp_port_is_the_new_process_s_and_a_shared_one_nobody_s() {
        let mut t = Table::new();
        route(&mut t, 0, 700, UDP, C, S);
        send(&mut t, 0, 700, false, 52);
        t.apply(&Event::Exit {
            ctx: ctx(5, 700, "sender", false),
            group_dead: true,
        });
        route(&mut t, 10, 701, UDP, C, S);
        send(&mut t, 10, 701, false, 52);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 10, 10, 52))),
            Some(701)
        );
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // A third process on the same flow while 701 lives (the same ports
        // in another namespace): nobody's.
        route(&mut t, 20, 702, UDP, C, S);
        send(&mut t, 20, 702, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 20, 20, 52)), Verdict::None);
        // The events saw others on this flow: /proc's holder does not name it.
        let (c, srv) = (C.parse().unwrap(), S.parse().unwrap());
        assert!(t.routed_by_other(false, c, srv, 999));
        assert!(!t.routed_by_other(false, srv, c, 999) && !t.routed_by_other(true, c, srv, 999));
        t.apply(&Event::Exit {
            ctx: ctx(30, 702, "sender", false),
            group_dead: true,
        });
        assert!(t.routed_by_other(false, c, srv, 701));
    }

    #[test]
    fn a_tcp_connect_s_route_names_a_stream_the_states_do_not() {
        let mut t = Table::new();
        route(&mut t, 0, 300, TCP, C, S);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 0, 0, 74))), Some(300));
        // A stream begun long after that connect is not its.
        assert_eq!(
            t.lookup(&q(true, Role::Client, 500, 500, 74)),
            Verdict::None
        );
        // Nor are the server's frames.
        assert_eq!(t.lookup(&q(true, Role::Server, 0, 0, 74)), Verdict::None);
    }

    #[test]
    fn ipv6_sockets_are_known_by_their_addresses_like_ipv4_ones() {
        use state::*;
        let mut t = Table::new();
        let (c, srv) = ("[::1]:40000", "[::1]:13000");
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "[::1]:0", srv));
        t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, c, srv));
        let v6 = |src: &str, dst: &str| Query {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ..q(true, Role::Client, 1, 0, 94)
        };
        assert_eq!(pid(t.lookup(&v6(c, srv))), Some(100));
        // The IPv4 flow with those ports is another socket's.
        assert_eq!(t.lookup(&q(true, Role::Client, 1, 0, 74)), Verdict::None);
        // Another IPv6 socket with the same ports, to another address, is
        // another flow: each keeps its own owner.
        let other = "[fd00::1]:13000";
        t.apply(&st(
            0,
            200,
            false,
            0xb,
            CLOSE,
            SYN_SENT,
            "[fd00::2]:0",
            other,
        ));
        t.apply(&st(
            0,
            200,
            true,
            0xb,
            SYN_SENT,
            ESTABLISHED,
            "[fd00::2]:40000",
            other,
        ));
        assert_eq!(pid(t.lookup(&v6(c, srv))), Some(100));
        assert_eq!(pid(t.lookup(&v6("[fd00::2]:40000", other))), Some(200));
        // An IPv4 connection made through an IPv6 socket (an IPv4-mapped
        // address) is the IPv4 flow's.
        t.apply(&st(
            0,
            300,
            false,
            0xc,
            CLOSE,
            SYN_SENT,
            "[::ffff:127.0.0.1]:0",
            "[::ffff:127.0.0.1]:13000",
        ));
        t.apply(&st(
            0,
            300,
            true,
            0xc,
            SYN_SENT,
            ESTABLISHED,
            "[::ffff:127.0.0.1]:41000",
            "[::ffff:127.0.0.1]:13000",
        ));
        let mapped = Query {
            src: "127.0.0.1:41000".parse().unwrap(),
            dst: "127.0.0.1:13000".parse().unwrap(),
            ..q(true, Role::Client, 1, 0, 74)
        };
        assert_eq!(pid(t.lookup(&mapped)), Some(300));
    }

    #[test]
    fn a_connect_waits_for_its_tuple() {
        use state::*;
        let mut t = Table::new();
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        assert_eq!(t.lookup(&q(true, Role::Client, 0, 0, 74)), Verdict::Wait);
        t.apply(&st(1, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 0, 0, 74))), Some(100));
    }

    #[test]
    fn process_tree() {
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 10, "sh", false),
            child: 11,
            thread: false,
            comm: "child".into(),
        });
        t.apply(&Event::Fork {
            ctx: ctx(1, 11, "sh", false),
            child: 12,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(t.is_in_tree(12, 10), Some(true));
        assert_eq!(t.is_in_tree(10, 12), None);
    }
}
