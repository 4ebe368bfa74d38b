//! The thread-per-connection acceptor shared by netlab's TCP servers.
//!
//! Each connection is handled on its own thread, as the lab asks, but
//! threads are not thrown away, and no thread hands sockets to another:
//! every connection thread, once done with its connection, goes back to
//! calling `accept` on the shared listener itself (the kernel wakes exactly
//! one waiting thread per connection). Whenever a thread takes a connection
//! and no other is left waiting in `accept`, it starts one more, so a new
//! client never waits for a thread to be created. Spawning costs tens of
//! microseconds and a hand-off between threads a wake-up; this design pays
//! neither on the common path, which is what lets a threaded server keep
//! up with an event-driven one on short connections.
//!
//! # The thread bound
//! At most `max_connections` connections are served at once, and the
//! threads are bounded with them: a thread may wait in `accept` only while
//! the connections served, the threads in `accept` and the thread holding
//! an accepted connection at the cap number at most `max_connections + 1`
//! ([`OVER_THE_CAP`]). So at the cap exactly one thread is in `accept`
//! (or holds the one connection it accepted there), and no other thread is
//! started until that one gets a slot: at every moment the pool has at
//! most `max_connections + 1` threads, plus a thread that is just exiting.
//! The thread holding a connection at the cap asks the server to make
//! room (an HTTP server closes a stalled connection, see
//! [`Acceptor::on_full`]) and otherwise waits for a slot; further clients
//! wait in the kernel's backlog instead of being refused. Threads beyond
//! `max_spare` waiting for a client exit, so a burst leaves few behind; and
//! when the listener has a read time-out, spare threads that see no client
//! for that long exit too, down to one.
//!
//! # Few threads in `accept`, the other spares in reserve
//! Every client that arrives while a thread sleeps in `accept` wakes one,
//! even when a busy thread would have taken it a few microseconds later
//! without sleeping at all. So at most [`Acceptor::max_accepting`] spare
//! threads may wait in `accept` (as many as the CPUs that could run them
//! is enough); the others wait in a reserve, which no client wakes. When a
//! thread takes a connection and leaves none in `accept`, it calls one up
//! from the reserve (or starts one when the reserve is empty). Under a
//! load of short connections the threads then mostly go from one client to
//! the next without sleeping, as an event loop's workers do.
//!
//! # Out of file descriptors
//! Linux reserves a descriptor for each thread waiting in `accept`, so the
//! spare threads are also bounded by an eighth of the descriptor limit;
//! and when `accept` fails for want of descriptors or memory, the thread
//! exits at once unless no other waits in `accept` and none is already
//! backing off to try again, and no thread is started to replace one
//! that took a connection while one backs off: a single thread goes round
//! trying while the condition lasts, instead of hundreds failing.
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::endpoint::Host;
use crate::error::{Error, Result};
use crate::ratelimit::RateLimit;
use crate::shutdown::Shutdown;

/// Default cap on connections served at once: one thread each, so this is
/// also (plus [`OVER_THE_CAP`]) the cap on connection threads.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Stack size of connection threads. Handlers keep their buffers on the
/// heap, so 256 KiB is ample and keeps 1,000 threads' memory low.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Threads allowed to wait in `accept` at once; more exit after their
/// connection. Enough to absorb a burst without spawning, few enough to
/// hold little memory when idle.
pub const DEFAULT_MAX_SPARE: usize = 64;

/// How long `run` waits, after shutdown fires, for connections in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Threads allowed beyond `max_connections`: the one thread in `accept`
/// (or holding the connection it accepted) while every slot is taken.
pub const OVER_THE_CAP: usize = 1;

/// Back-off after an `accept` error such as "too many open files", so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// At most this share of the process's file descriptor limit
/// (RLIMIT_NOFILE) may be held by threads waiting in `accept`: Linux
/// reserves the new connection's descriptor when `accept` starts to wait,
/// not when a client arrives, so 64 waiting threads under `ulimit -n 64`
/// would leave no descriptor to open a file with, or to accept with.
const SPARE_FD_SHARE: usize = 8;

/// At the cap, how often to ask the server again to make room (a busy
/// connection may have become idle since).
const MAKE_ROOM_RETRY: Duration = Duration::from_millis(50);

/// How long the shutdown waker may take to connect to the listener.
const WAKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Live counters of an acceptor, shareable with tests and monitoring.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connection threads alive now (busy or waiting in `accept`).
    pub threads: AtomicUsize,
    /// Connections being handled now.
    pub active: AtomicUsize,
    /// Threads spawned since start.
    pub spawned: AtomicU64,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Spare threads waiting in the reserve now, outside `accept` (see
    /// [`Acceptor::max_accepting`]).
    pub reserved: AtomicUsize,
}

type MakeRoom = Arc<dyn Fn() -> bool + Send + Sync>;

/// Configuration of the acceptor; [`Acceptor::run`] serves a listener.
#[derive(Clone)]
pub struct Acceptor {
    name: String,
    max_connections: usize,
    max_spare: usize,
    max_accepting: Option<usize>,
    stack_size: usize,
    drain_timeout: Duration,
    stats: Arc<Stats>,
    make_room: Option<MakeRoom>,
    batch: bool,
    follow_cpu: bool,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("name", &self.name)
            .field("max_connections", &self.max_connections)
            .field("max_spare", &self.max_spare)
            .field("max_accepting", &self.max_accepting)
            .field("batch", &self.batch)
            .field("follow_cpu", &self.follow_cpu)
            .finish_non_exhaustive()
    }
}

/// The pool's counters. The common path (accept, serve, accept again)
/// touches only atomics; the mutex and condition variable are for the rare
/// waits — a connection at the cap, and the drain at shutdown — and are
/// signalled only when someone waits (a condition variable's notify is a
/// system call even with no waiter).
#[derive(Default)]
struct State {
    /// Threads in (or about to enter) `accept`.
    accepting: AtomicUsize,
    /// Connections being handled.
    active: AtomicUsize,
    stopping: AtomicBool,
    /// Threads waiting on `slot`.
    waiters: AtomicUsize,
    /// Threads engaged with a connection: handling one, waiting in
    /// `accept` for one, or holding one until a slot frees. At most
    /// `max_connections + OVER_THE_CAP`; a thread (or a thread about to be
    /// started) reserves its place here before it may call `accept`.
    engaged: AtomicUsize,
    /// 1 while a thread backs off after `accept` failed for want of
    /// descriptors or memory, to try again: the one thread that does.
    retrying: AtomicUsize,
}

struct Shared<H> {
    config: Acceptor,
    /// Threads allowed to wait in `accept` at once: `max_accepting`
    /// (`max_spare` unless set).
    max_accepting: usize,
    /// Threads allowed to wait in the reserve: the spares beyond those
    /// allowed in `accept`. The spares in all are `max_spare`, fewer
    /// under a low file descriptor limit (see [`SPARE_FD_SHARE`]).
    max_reserve: usize,
    /// How long a thread waits in the reserve before it leaves: the
    /// listener's read time-out, which ends idle waits in `accept` too
    /// (None: for ever, as `accept` then waits).
    reserve_idle: Option<Duration>,
    /// CPUs the process may run on.
    cpus: usize,
    listener: TcpListener,
    handler: H,
    state: State,
    lock: Mutex<()>,
    /// Signalled when a connection ends (a slot frees) or on shutdown.
    slot: Condvar,
    reserve: Mutex<Reserve>,
    /// Signalled when a thread is called up from the reserve, or on
    /// shutdown.
    called: Condvar,
}

/// Spare threads waiting outside `accept` (see the module docs).
#[derive(Default)]
struct Reserve {
    /// Threads waiting in it.
    waiting: usize,
    /// Calls up to `accept` not yet taken by a waiting thread.
    calls: usize,
}

impl<H> Shared<H> {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most `timeout`) for `slot` to be signalled.
    fn wait_slot(&self, timeout: Duration, done: impl Fn() -> bool) {
        let guard = self.lock();
        self.state.waiters.fetch_add(1, Ordering::SeqCst);
        // Checked after announcing ourselves: a signal sent before this
        // point found `waiters` > 0 or changed what `done` sees.
        if !done() {
            let _ = self.slot.wait_timeout(guard, timeout);
        }
        self.state.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Signals `slot` if anyone waits.
    fn signal_slot(&self) {
        if self.state.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock();
            self.slot.notify_all();
        }
    }

    fn reserve_lock(&self) -> MutexGuard<'_, Reserve> {
        self.reserve.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits in the reserve until called up to `accept` (true), or until
    /// it is time to leave (false): the reserve is full, the server is
    /// stopping, or no call came for the listener's read time-out.
    fn wait_in_reserve(&self) -> bool {
        let mut reserve = self.reserve_lock();
        if reserve.waiting >= self.max_reserve {
            return false;
        }
        reserve.waiting += 1;
        self.config.stats.reserved.fetch_add(1, Ordering::Relaxed);
        let deadline = self.reserve_idle.map(|idle| Instant::now() + idle);
        let called = loop {
            if reserve.calls > 0 {
                reserve.calls -= 1;
                break true;
            }
            // Read under the lock the shutdown waker takes to signal, so
            // its signal cannot come between this look and the wait.
            if self.state.stopping.load(Ordering::SeqCst) {
                break false;
            }
            reserve = match deadline {
                None => self
                    .called
                    .wait(reserve)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    self.called
                        .wait_timeout(reserve, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        };
        reserve.waiting -= 1;
        self.config.stats.reserved.fetch_sub(1, Ordering::Relaxed);
        called
    }

    /// Calls a thread up from the reserve to `accept`; false when none
    /// waits there (none not already called).
    fn call_from_reserve(&self) -> bool {
        let mut reserve = self.reserve_lock();
        if reserve.waiting <= reserve.calls {
            return false;
        }
        reserve.calls += 1;
        drop(reserve);
        self.called.notify_one();
        true
    }
}

impl Acceptor {
    /// An acceptor whose threads are named `NAME-conn`.
    pub fn new(name: &str) -> Self {
        Acceptor {
            name: format!("{name}-conn"),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_spare: DEFAULT_MAX_SPARE,
            max_accepting: None,
            stack_size: DEFAULT_STACK_SIZE,
            drain_timeout: DRAIN_TIMEOUT,
            stats: Arc::default(),
            make_room: None,
            batch: false,
            follow_cpu: false,
        }
    }

    /// Caps connections served at once (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Caps the spare threads: those waiting for a client, in `accept` or
    /// in the reserve (at least 1).
    pub fn max_spare(mut self, n: usize) -> Self {
        self.max_spare = n.max(1);
        self
    }

    /// Caps the spare threads waiting in `accept` itself (at least 1; by
    /// default every spare may); the others wait in a reserve that no
    /// client wakes, and are called up one at a time when the last thread
    /// in `accept` takes a connection (see the module docs). As many as
    /// the CPUs the server may use is the fewest that lets every CPU take
    /// a client at once.
    pub fn max_accepting(mut self, n: usize) -> Self {
        self.max_accepting = Some(n.max(1));
        self
    }

    /// Sets the stack size of connection threads.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Sets how long `run` waits for connections in flight at shutdown.
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// Runs connection threads in `SCHED_BATCH` on Linux (see
    /// [`crate::sched`]): a thread woken by its client's connect or data
    /// does not preempt the client before it has sent what it was about
    /// to send, which saves a sleep and a wake-up per short connection.
    /// Off by default; a no-op off Linux.
    pub fn batch_scheduling(mut self, on: bool) -> Self {
        self.batch = on;
        self
    }

    /// Runs each connection's thread on the CPU that receives the
    /// connection's packets (`SO_INCOMING_CPU`, see
    /// [`crate::sched::follow_cpu`]): on loopback the client's own CPU, so a
    /// short exchange is handed back and forth on one CPU instead of waking
    /// another for each step. Only while no more connections are being
    /// served than the process has CPUs: with more, the CPUs are all busy
    /// anyway, and a thread held to one CPU could neither be moved to an
    /// idle one nor run before that CPU's client yields (measured with 4
    /// and 16 lockstep clients on 2 CPUs: following every connection cost a
    /// fifth of the rate). A handler moving a bulk stream should call
    /// [`crate::sched::stop_following`]. Off by default; a no-op off Linux.
    pub fn follow_incoming_cpu(mut self, on: bool) -> Self {
        self.follow_cpu = on;
        self
    }

    /// Called when a new connection arrives at the cap: it should end one
    /// connection of the server's choosing (an idle one, a stalled one) and
    /// return true, so the newcomer can be served. While no slot frees it
    /// is called again every 50 ms, so it should not end a second
    /// connection while one it ended is still closing.
    pub fn on_full(mut self, make_room: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.make_room = Some(Arc::new(make_room));
        self
    }

    /// The live counters of this acceptor.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Accepts connections on `listener` until `shutdown` fires, handing
    /// each to `handler` on a connection thread. A handler's error (or
    /// panic) is logged and ends only that connection. After shutdown, waits
    /// up to the drain timeout for connections in flight, then returns.
    pub fn run<H, E>(&self, listener: TcpListener, shutdown: &Shutdown, handler: H) -> Result<()>
    where
        H: Fn(TcpStream, SocketAddr) -> std::result::Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.run_holding(listener, shutdown, move |stream, peer, slot: Slot| {
            let result = handler(stream, peer);
            drop(slot);
            result
        })
    }

    /// Like [`run`](Self::run), handing the handler each connection's
    /// [`Slot`] too: the connection counts among the `max_connections`
    /// served until the slot is dropped, which may be after the handler
    /// returns. A server that keeps an idle connection without a thread
    /// (waiting for its next request in an epoll set) keeps its slot with
    /// it, so the cap still bounds the connections open, and the thread
    /// goes back to `accept`.
    pub fn run_holding<H, E>(
        &self,
        listener: TcpListener,
        shutdown: &Shutdown,
        handler: H,
    ) -> Result<()>
    where
        H: Fn(TcpStream, SocketAddr, Slot) -> std::result::Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("read the listener's address", e))?;
        let max_spare = spare_bound(self.max_spare);
        let max_accepting = self.max_accepting.map_or(max_spare, |n| n.min(max_spare));
        let reserve_idle = socket2::SockRef::from(&listener)
            .read_timeout()
            .ok()
            .flatten();
        let shared = Arc::new(Shared {
            config: self.clone(),
            max_accepting,
            max_reserve: max_spare - max_accepting,
            reserve_idle,
            cpus: thread::available_parallelism().map_or(1, |n| n.get()),
            listener,
            handler,
            state: State::default(),
            lock: Mutex::new(()),
            slot: Condvar::new(),
            reserve: Mutex::new(Reserve::default()),
            called: Condvar::new(),
        });
        {
            let shared = shared.clone();
            shutdown.on_fire(move || wake_all(&shared, local));
        }
        // The first thread's place: the bound is at least 2, so this holds.
        if reserve(&shared) {
            spawn_worker(&shared).map_err(|e| Error::io("start a connection thread", e))?;
        }
        while !shutdown.wait_timeout(Duration::from_secs(3600)) {}
        self.drain(&shared);
        Ok(())
    }

    fn drain<H>(&self, shared: &Shared<H>) {
        let deadline = Instant::now() + self.drain_timeout;
        let busy = || shared.state.active.load(Ordering::SeqCst);
        while busy() > 0 {
            let now = Instant::now();
            if now >= deadline {
                log::warn!(
                    "shutdown: {} connection(s) still open after {:?}, leaving them",
                    busy(),
                    self.drain_timeout
                );
                break;
            }
            shared.wait_slot(deadline - now, || busy() == 0);
        }
    }
}

/// Marks the pool stopping and wakes every thread blocked in `accept` (one
/// connection each; the kernel gives each waiting thread one).
fn wake_all<H>(shared: &Shared<H>, local: SocketAddr) {
    shared.state.stopping.store(true, Ordering::SeqCst);
    let waiting = shared.state.accepting.load(Ordering::SeqCst);
    {
        let _guard = shared.lock();
        shared.slot.notify_all();
    }
    {
        let _reserve = shared.reserve_lock();
        shared.called.notify_all();
    }
    let target = SocketAddr::new(Host::loopback_for(local.ip()), local.port());
    for _ in 0..waiting {
        if let Err(e) = TcpStream::connect_timeout(&target, WAKE_CONNECT_TIMEOUT) {
            log::debug!("shutdown: waking the listener on {target} failed: {e}");
            break;
        }
    }
}

/// `max_spare`, bounded by a share of the file descriptor limit (see
/// [`SPARE_FD_SHARE`]), at least 1.
fn spare_bound(max_spare: usize) -> usize {
    #[cfg(target_os = "linux")]
    let fd_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .and_then(|(soft, _hard)| usize::try_from(soft).ok());
    #[cfg(not(target_os = "linux"))]
    let fd_limit: Option<usize> = None;
    match fd_limit {
        Some(limit) => max_spare.min(limit / SPARE_FD_SHARE).max(1),
        None => max_spare,
    }
}

/// Reserves a place among the engaged threads, if the bound allows one.
fn reserve<H>(shared: &Shared<H>) -> bool {
    let bound = shared.config.max_connections + OVER_THE_CAP;
    shared
        .state
        .engaged
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < bound).then_some(n + 1)
        })
        .is_ok()
}

fn release<H>(shared: &Shared<H>) {
    shared.state.engaged.fetch_sub(1, Ordering::SeqCst);
}

/// Starts a connection thread that owns a place already reserved (see
/// [`reserve`]); the place is released if the thread cannot be started.
fn spawn_worker<H, E>(shared: &Arc<Shared<H>>) -> io::Result<()>
where
    H: Fn(TcpStream, SocketAddr, Slot) -> std::result::Result<(), E> + Send + Sync + 'static,
    E: fmt::Display,
{
    let stats = &shared.config.stats;
    stats.threads.fetch_add(1, Ordering::SeqCst);
    let worker = shared.clone();
    let spawned = thread::Builder::new()
        .name(shared.config.name.clone())
        .stack_size(shared.config.stack_size)
        .spawn(move || {
            if worker.config.batch
                && let Err(e) = crate::sched::batch_current_thread()
            {
                log::debug!("connection thread keeps the default scheduling: {e}");
            }
            // Started by a thread that may be held to one CPU.
            if worker.config.follow_cpu
                && let Err(e) = crate::sched::run_anywhere()
            {
                log::debug!("connection thread keeps the CPUs it inherited: {e}");
            }
            work(&worker);
            worker.config.stats.threads.fetch_sub(1, Ordering::SeqCst);
        });
    match spawned {
        Ok(_) => {
            stats.spawned.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            stats.threads.fetch_sub(1, Ordering::SeqCst);
            release(shared);
            Err(e)
        }
    }
}

/// A connection thread: accept, serve, repeat. It starts with a reserved
/// place among the engaged threads and keeps it while it lives. When
/// `max_accepting` threads already wait in `accept` it waits in the
/// reserve; it exits (giving the place up) when the reserve is full too,
/// or an idle listener's time-out says there are threads enough.
fn work<H, E>(shared: &Arc<Shared<H>>)
where
    H: Fn(TcpStream, SocketAddr, Slot) -> std::result::Result<(), E> + Send + Sync + 'static,
    E: fmt::Display,
{
    let config = &shared.config;
    let state = &shared.state;
    loop {
        if state.stopping.load(Ordering::SeqCst) {
            release(shared);
            return;
        }
        // Counted before the second look at `stopping`: either the
        // shutdown waker sees this thread in `accepting` (and connects to
        // wake it), or this thread sees `stopping` (and never blocks).
        if state.accepting.fetch_add(1, Ordering::SeqCst) >= shared.max_accepting
            || state.stopping.load(Ordering::SeqCst)
        {
            state.accepting.fetch_sub(1, Ordering::SeqCst);
            if shared.wait_in_reserve() {
                continue;
            }
            release(shared);
            return;
        }
        let accepted = shared.listener.accept();
        let others = state.accepting.fetch_sub(1, Ordering::SeqCst) - 1;
        if state.stopping.load(Ordering::SeqCst) {
            release(shared);
            return; // a waker's connection, or one that came too late
        }
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            // A read time-out on the listener (see
            // `sock::set_accepted_defaults`) expired: no client for a while.
            // Spare threads beyond one leave, so an idle server shrinks
            // back after a burst.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if others >= 1 {
                    release(shared);
                    return;
                }
                continue;
            }
            Err(e) => {
                // Out of descriptors or memory: while another thread waits
                // in `accept` (it takes the next client once a descriptor
                // frees), this one leaves, as an idle spare would. Were every
                // failing thread to retry, a burst's hundreds of threads
                // would go round failing for as long as those waiting hold
                // their reserved descriptors, leaving only by tens as the
                // listener's time-out expires.
                let lasting = accept_failed(&e);
                if lasting && crate::error::is_resource_exhausted(&e) {
                    let retry = others == 0
                        && state
                            .retrying
                            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok();
                    if !retry {
                        release(shared);
                        return;
                    }
                    thread::sleep(ACCEPT_ERROR_BACKOFF);
                    state.retrying.store(0, Ordering::SeqCst);
                } else if lasting {
                    // Not to spin while the condition lasts.
                    thread::sleep(ACCEPT_ERROR_BACKOFF);
                }
                continue;
            }
        };
        config.stats.accepted.fetch_add(1, Ordering::Relaxed);
        // At the cap this waits (asking for room) while holding the
        // connection; `engaged` keeps every other thread out of `accept`
        // meanwhile, so no thread is started for the clients behind it.
        if !take_slot(shared) {
            release(shared);
            return; // stopping
        }
        // Keep one thread ready in `accept` for the next client, if the
        // bound leaves room for it.
        // Not while a thread backs off after a failed `accept`: it comes
        // back to `accept` soon, and a new one would only fail as it did.
        if state.accepting.load(Ordering::SeqCst) == 0
            && state.retrying.load(Ordering::SeqCst) == 0
            && !shared.call_from_reserve()
            && reserve(shared)
            && let Err(e) = spawn_worker(shared)
        {
            log::warn!(
                "cannot start a connection thread: {}",
                crate::error::describe(&e)
            );
        }

        if config.follow_cpu {
            // `active` counts this connection.
            if state.active.load(Ordering::Relaxed) <= shared.cpus {
                follow_incoming_cpu(&stream);
            } else if let Err(e) = crate::sched::stop_following() {
                log::debug!("connection thread stays on its CPU: {e}");
            }
        }
        let slot = Slot {
            pool: shared.clone(),
        };
        // The slot is given back when the handler drops it (or a panic
        // unwinds it), or later if the handler kept it.
        match catch_unwind(AssertUnwindSafe(|| (shared.handler)(stream, peer, slot))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("connection from {peer}: {e}"),
            Err(_) => log::error!("connection from {peer}: the handler panicked"),
        }
        // The thread keeps its place and goes back to `accept`: were it
        // to give the place up, a thread could be started in its stead
        // while it exits, and exiting threads still count.
    }
}

/// A connection's place among the `max_connections` served at once (see
/// [`Acceptor::run_holding`]); dropping it gives the place back and lets
/// a client waiting at the cap in.
pub struct Slot {
    pool: Arc<dyn SlotPool>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.give_back();
    }
}

/// What a [`Slot`] gives its place back to, whatever the handler's type.
trait SlotPool: Send + Sync {
    fn give_back(&self);
}

impl<H: Send + Sync> SlotPool for Shared<H> {
    fn give_back(&self) {
        self.state.active.fetch_sub(1, Ordering::SeqCst);
        self.config.stats.active.fetch_sub(1, Ordering::SeqCst);
        self.signal_slot();
    }
}

/// Holds the calling thread to the CPU `stream`'s packets arrive on (see
/// [`Acceptor::follow_incoming_cpu`]); where the kernel does not say, or
/// the CPU is not one the process may use, the thread runs anywhere. A
/// thread keeps its CPU while it waits in `accept`, so the next client
/// from the same CPU wakes a thread already there.
fn follow_incoming_cpu(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    let held = socket2::SockRef::from(stream)
        .cpu_affinity()
        .and_then(crate::sched::follow_cpu);
    #[cfg(not(target_os = "linux"))]
    let held: io::Result<bool> = {
        let _ = stream;
        Ok(false)
    };
    match held {
        Ok(true) => {}
        Ok(false) => log::trace!("connection thread runs on any CPU"),
        Err(e) => {
            log::debug!("connection thread cannot follow its connection's CPU: {e}");
            let _ = crate::sched::run_anywhere();
        }
    }
}

/// Counts a connection as active, waiting while `max_connections` are (and
/// asking the server to make room). False when shutdown interrupted.
fn take_slot<H>(shared: &Shared<H>) -> bool {
    let config = &shared.config;
    let state = &shared.state;
    loop {
        if state.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let active = state.active.load(Ordering::SeqCst);
        if active < config.max_connections {
            if state
                .active
                .compare_exchange(active, active + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                config.stats.active.fetch_add(1, Ordering::SeqCst);
                return true;
            }
            continue;
        }
        // At the cap: ask for room (an idle keep-alive connection closed),
        // then wait for a slot, asking again now and then since a busy
        // connection may have turned idle.
        let made_room = config
            .make_room
            .as_ref()
            .is_some_and(|make_room| make_room());
        let wait = if made_room || config.make_room.is_some() {
            MAKE_ROOM_RETRY
        } else {
            Duration::from_secs(3600)
        };
        shared.wait_slot(wait, || {
            state.active.load(Ordering::SeqCst) < config.max_connections
                || state.stopping.load(Ordering::SeqCst)
        });
    }
}

/// Reports a failed `accept`; true when the failure may last (not a
/// client giving up), so the caller should back off.
fn accept_failed(e: &io::Error) -> bool {
    match e.kind() {
        // The client gave up before we accepted, or a read time-out set
        // on the listener (for accepted sockets to inherit) expired:
        // nothing to report.
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::TimedOut => {
            log::debug!("accept: {e}");
            false
        }
        _ => {
            let report = ACCEPT_ERRORS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .hit(Instant::now());
            if let Some(report) = report {
                log::warn!(
                    "accept failed{}: {}",
                    report.times(),
                    crate::error::describe(e)
                );
            }
            true
        }
    }
}

/// Shortest time between two warnings about failing `accept` calls: a
/// lasting condition (too many open files) repeats the error many times a
/// second, and one line per second with a count says the same.
pub const ACCEPT_ERROR_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Every acceptor's failed `accept` calls, reported together: the limit is
/// on what reaches stderr, shared by all listeners of the process.
static ACCEPT_ERRORS: Mutex<RateLimit> = Mutex::new(RateLimit::new(ACCEPT_ERROR_REPORT_INTERVAL));

/// Maps an error of a connection handler into net-core's [`Error`] with the
/// peer as context; a convenience for handlers written with `?`.
pub fn conn_error(peer: SocketAddr, what: &str, e: io::Error) -> Error {
    Error::io(format!("{what} {peer}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn echo_server(acceptor: Acceptor) -> (SocketAddr, Shutdown, thread::JoinHandle<Result<()>>) {
        let l = crate::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let sd = Shutdown::new();
        let sd2 = sd.clone();
        let t = thread::spawn(move || {
            acceptor.run(l, &sd2, |mut s: TcpStream, _| -> io::Result<()> {
                let mut buf = [0u8; 64];
                loop {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    if &buf[..n] == b"panic" {
                        panic!("asked to");
                    }
                    s.write_all(&buf[..n])?;
                }
            })
        });
        (addr, sd, t)
    }

    fn roundtrip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(msg).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn sequential_connections_reuse_threads() {
        let acceptor = Acceptor::new("t");
        let stats = acceptor.stats();
        let (addr, sd, t) = echo_server(acceptor);
        for i in 0..50 {
            let msg = format!("hello {i}");
            assert_eq!(roundtrip(addr, msg.as_bytes()), msg.as_bytes());
            // Wait until the connection thread is idle again, so the next
            // connection finds it parked.
            let deadline = Instant::now() + Duration::from_secs(5);
            while stats.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                thread::yield_now();
            }
        }
        assert_eq!(stats.accepted.load(Ordering::SeqCst), 50);
        // One thread serves while another waits in accept; they take turns
        // instead of a thread being spawned per connection. (On a quiet
        // machine two or three are spawned in all; under heavy load a
        // finished thread is now and then not back in accept before the
        // next client, so the bound only rules out a thread per client.)
        let spawned = stats.spawned.load(Ordering::SeqCst);
        assert!(
            spawned <= 25,
            "{spawned} threads for 50 sequential connections"
        );
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn connection_threads_run_on_the_cpu_their_packets_arrive_on() {
        use std::sync::mpsc;
        let l = crate::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let sd = Shutdown::new();
        let sd2 = sd.clone();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let acceptor = Acceptor::new("t").follow_incoming_cpu(true);
        let stats = acceptor.stats();
        let t = thread::spawn(move || {
            acceptor.run(l, &sd2, move |mut s: TcpStream, _| -> io::Result<()> {
                // Read what the client sent: a close with unread data
                // would be a reset.
                s.read_exact(&mut [0u8; 2])?;
                let incoming = socket2::SockRef::from(&s).cpu_affinity()?;
                let runs_on = crate::sched::cpus_of_this_thread();
                let seen = (incoming, crate::sched::following(), runs_on);
                tx.lock().unwrap().send(seen).unwrap();
                s.write_all(b"ok")
            })
        });
        let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
        for _ in 0..20 {
            // One connection at a time (a thread follows only while
            // connections are no more than CPUs): wait until the last
            // one's thread is done.
            let deadline = Instant::now() + Duration::from_secs(5);
            while stats.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                thread::yield_now();
            }
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"hi").unwrap();
            let mut out = Vec::new();
            c.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"ok");
            let (incoming, following, runs_on) = rx.recv().unwrap();
            if allowed.is_set(incoming).unwrap() {
                assert_eq!(following, Some(incoming));
                assert_eq!(runs_on, vec![incoming]);
            } else {
                assert_eq!(following, None, "CPU {incoming} is not the process's");
            }
        }
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn cap_queues_instead_of_refusing() {
        let acceptor = Acceptor::new("t").max_connections(2);
        let stats = acceptor.stats();
        let (addr, sd, t) = echo_server(acceptor);
        // Two held-open connections fill the cap.
        let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for c in &mut held {
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
        }
        // A third is accepted by the kernel but not served until a slot frees.
        let waiter = thread::spawn(move || roundtrip(addr, b"third"));
        assert_eq!(stats.active.load(Ordering::SeqCst), 2);
        drop(held.pop());
        assert_eq!(waiter.join().unwrap(), b"third");
        // Bounded by the cap plus the thread holding the third connection
        // and one spare kept ready in accept.
        let threads = stats.threads.load(Ordering::SeqCst);
        assert!(threads <= 4, "{threads} threads for a cap of 2");
        drop(held);
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn idle_spares_leave_when_the_listener_times_out() {
        let l = crate::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        crate::sock::set_accepted_defaults(&l, true, Some(Duration::from_millis(200)), None);
        let addr = l.local_addr().unwrap();
        let acceptor = Acceptor::new("t");
        let stats = acceptor.stats();
        let sd = Shutdown::new();
        let sd2 = sd.clone();
        let t = thread::spawn(move || {
            acceptor.run(l, &sd2, |s: TcpStream, _| -> io::Result<()> {
                thread::sleep(Duration::from_millis(300));
                drop(s);
                Ok(())
            })
        });
        // A burst of concurrent connections grows the pool...
        let conns: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while stats.accepted.load(Ordering::SeqCst) < 8 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let peak = stats.threads.load(Ordering::SeqCst);
        assert!(peak >= 8, "{peak}");
        drop(conns);
        // ...and it shrinks back once clients stop coming.
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.threads.load(Ordering::SeqCst) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(stats.threads.load(Ordering::SeqCst), 1);
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn a_burst_at_the_cap_starts_no_extra_threads() {
        const CAP: usize = 4;
        let acceptor = Acceptor::new("t").max_connections(CAP);
        let stats = acceptor.stats();
        let (addr, sd, t) = echo_server(acceptor);
        // Threads are counted all along, while connections queue and while
        // they are served as others end (when a thread that finished would
        // otherwise go on to accept one and wait, and another start).
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (stats, done) = (stats.clone(), done.clone());
            thread::spawn(move || {
                let mut peak = 0;
                while !done.load(Ordering::SeqCst) {
                    peak = peak.max(stats.threads.load(Ordering::SeqCst));
                    thread::sleep(Duration::from_millis(1));
                }
                peak
            })
        };
        // Each client holds its connection open, so all but CAP queue.
        let clients: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while stats.active.load(Ordering::SeqCst) < CAP && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(stats.active.load(Ordering::SeqCst), CAP);
        // Every client is served once they all finish sending.
        for c in &clients {
            c.shutdown(std::net::Shutdown::Write).unwrap();
        }
        for mut c in clients {
            let mut out = Vec::new();
            c.read_to_end(&mut out).unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let peak = sampler.join().unwrap();
        assert!(
            peak <= CAP + OVER_THE_CAP,
            "{peak} threads for a cap of {CAP}"
        );
        assert_eq!(stats.accepted.load(Ordering::SeqCst), 40);
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn spares_beyond_max_accepting_wait_in_the_reserve_and_are_called_up() {
        let acceptor = Acceptor::new("t").max_accepting(1);
        let stats = acceptor.stats();
        let (addr, sd, t) = echo_server(acceptor);
        let hold = |n: usize| -> Vec<TcpStream> {
            let mut held: Vec<TcpStream> =
                (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect();
            for c in &mut held {
                c.write_all(b"x").unwrap();
                c.read_exact(&mut [0u8; 1]).unwrap();
            }
            held
        };
        let settled = |want_reserved: usize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while (stats.active.load(Ordering::SeqCst) > 0
                || stats.reserved.load(Ordering::SeqCst) < want_reserved)
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(5));
            }
        };
        // Eight connections served at once, then all gone: of the spare
        // threads left, one waits in `accept`, the others in the reserve.
        drop(hold(8));
        settled(7);
        let threads = stats.threads.load(Ordering::SeqCst);
        assert!(
            threads >= 9,
            "{threads} threads after 8 connections at once"
        );
        assert_eq!(stats.reserved.load(Ordering::SeqCst), threads - 1);
        // Eight at once again: each thread that takes the last place in
        // `accept` calls one up from the reserve, and none is started.
        let spawned = stats.spawned.load(Ordering::SeqCst);
        let held = hold(8);
        assert_eq!(stats.active.load(Ordering::SeqCst), 8);
        assert_eq!(stats.spawned.load(Ordering::SeqCst), spawned);
        drop(held);
        assert_eq!(roundtrip(addr, b"after"), b"after");
        sd.fire();
        t.join().unwrap().unwrap();
        // Shutdown wakes the reserve too: its threads leave.
        let deadline = Instant::now() + Duration::from_secs(5);
        while stats.reserved.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(stats.reserved.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_panicking_handler_does_not_stop_the_server() {
        let (addr, sd, t) = echo_server(Acceptor::new("t"));
        assert_eq!(roundtrip(addr, b"panic"), b"");
        assert_eq!(roundtrip(addr, b"still here"), b"still here");
        sd.fire();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn shutdown_returns_promptly_with_idle_threads() {
        let acceptor = Acceptor::new("t").drain_timeout(Duration::from_secs(10));
        let (addr, sd, t) = echo_server(acceptor);
        assert_eq!(roundtrip(addr, b"a"), b"a");
        let start = Instant::now();
        sd.fire();
        t.join().unwrap().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
