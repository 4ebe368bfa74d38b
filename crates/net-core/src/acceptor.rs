//! The thread-per-connection acceptor shared by netlab's TCP servers.
//!
//! Each connection is handled on its own thread, as the lab asks, but
//! threads are not thrown away: a thread that finishes a connection waits
//! [`IDLE_THREAD_TIMEOUT`] for the next one before exiting. Spawning a
//! thread costs tens of microseconds; handing a socket to a parked thread
//! costs a few, which is what lets a threaded server out-run a
//! single-threaded one on short connections.
//!
//! At most `max_connections` connections are served at once. When the cap
//! is reached the acceptor stops calling `accept`, so further clients wait
//! in the kernel's backlog (and are served as soon as a slot frees) instead
//! of being refused.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// Default cap on connections served at once: one thread each, so this is
/// also the cap on connection threads.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Stack size of connection threads. Handlers keep their buffers on the
/// heap, so 256 KiB is ample and keeps 1,000 threads' reserved memory low.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// How long an idle connection thread waits for a new connection before
/// exiting.
pub const IDLE_THREAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `run` waits, after shutdown fires, for connections in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Back-off after an `accept` error such as "too many open files", so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Live counters of an acceptor, shareable with tests and monitoring.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connection threads alive now (busy or idle).
    pub threads: AtomicUsize,
    /// Connections being handled now.
    pub active: AtomicUsize,
    /// Threads spawned since start.
    pub spawned: AtomicU64,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
}

/// Configuration of the acceptor; [`Acceptor::run`] serves a listener.
#[derive(Debug, Clone)]
pub struct Acceptor {
    name: String,
    max_connections: usize,
    stack_size: usize,
    idle_timeout: Duration,
    drain_timeout: Duration,
    stats: Arc<Stats>,
}

type Job = (TcpStream, SocketAddr);

struct Pool {
    state: Mutex<State>,
    /// Signalled when a job is queued for an idle thread, or on shutdown.
    work: Condvar,
    /// Signalled when a connection finishes (a slot frees) or on shutdown.
    slot: Condvar,
}

#[derive(Default)]
struct State {
    /// Threads waiting for work and not yet promised a job: always
    /// `waiting threads - queue.len()`.
    idle: usize,
    queue: Vec<Job>,
    stopping: bool,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Acceptor {
    /// An acceptor whose threads are named `NAME-conn`.
    pub fn new(name: &str) -> Self {
        Acceptor {
            name: format!("{name}-conn"),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stack_size: DEFAULT_STACK_SIZE,
            idle_timeout: IDLE_THREAD_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
            stats: Arc::default(),
        }
    }

    /// Caps connections served at once (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the stack size of connection threads.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Sets how long an idle thread waits for another connection.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Sets how long `run` waits for connections in flight at shutdown.
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
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
        let handler = Arc::new(handler);
        let pool = Arc::new(Pool {
            state: Mutex::default(),
            work: Condvar::new(),
            slot: Condvar::new(),
        });
        shutdown.wake_listener(&listener)?;
        {
            let pool = pool.clone();
            shutdown.on_fire(move || {
                pool.lock().stopping = true;
                pool.work.notify_all();
                pool.slot.notify_all();
            });
        }

        while !shutdown.is_fired() {
            if !self.wait_for_slot(&pool) {
                break;
            }
            let (stream, peer) = match listener.accept() {
                Ok(conn) => conn,
                Err(e) => {
                    if shutdown.is_fired() {
                        break;
                    }
                    self.accept_failed(&e, shutdown);
                    continue;
                }
            };
            if shutdown.is_fired() {
                break; // the waker's own connection, or one that came too late
            }
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            self.dispatch(&pool, &handler, stream, peer);
        }
        drop(listener);
        self.drain(&pool);
        Ok(())
    }

    /// Blocks while `max_connections` connections are being served.
    /// Returns false when shutdown interrupted the wait.
    fn wait_for_slot(&self, pool: &Pool) -> bool {
        let mut state = pool.lock();
        loop {
            if state.stopping {
                return false;
            }
            let busy = self.stats.active.load(Ordering::SeqCst);
            if busy < self.max_connections {
                return true;
            }
            state = pool
                .slot
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn accept_failed(&self, e: &io::Error, shutdown: &Shutdown) {
        match e.kind() {
            // The client gave up before we accepted: nothing to report.
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset => {
                log::debug!("accept: {e}")
            }
            io::ErrorKind::Interrupted => {}
            _ => {
                log::warn!("accept failed: {}", crate::error::describe(e));
                shutdown.wait_timeout(ACCEPT_ERROR_BACKOFF);
            }
        }
    }

    fn dispatch<H, E>(
        &self,
        pool: &Arc<Pool>,
        handler: &Arc<H>,
        stream: TcpStream,
        peer: SocketAddr,
    ) where
        H: Fn(TcpStream, SocketAddr) -> std::result::Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.stats.active.fetch_add(1, Ordering::SeqCst);
        let mut state = pool.lock();
        if state.idle > 0 {
            state.idle -= 1;
            state.queue.push((stream, peer));
            drop(state);
            pool.work.notify_one();
            return;
        }
        drop(state);

        let worker = Worker {
            pool: pool.clone(),
            handler: handler.clone(),
            stats: self.stats.clone(),
            idle_timeout: self.idle_timeout,
        };
        self.stats.threads.fetch_add(1, Ordering::SeqCst);
        self.stats.spawned.fetch_add(1, Ordering::Relaxed);
        let spawned = thread::Builder::new()
            .name(self.name.clone())
            .stack_size(self.stack_size)
            .spawn(move || worker.run((stream, peer)));
        if let Err(e) = spawned {
            // The job (and its socket) was dropped with the closure: the
            // client sees the connection close.
            self.stats.threads.fetch_sub(1, Ordering::SeqCst);
            self.stats.active.fetch_sub(1, Ordering::SeqCst);
            log::warn!(
                "cannot start a thread for {peer}: {}",
                crate::error::describe(&e)
            );
        }
    }

    fn drain(&self, pool: &Pool) {
        let deadline = Instant::now() + self.drain_timeout;
        let mut state = pool.lock();
        state.stopping = true;
        pool.work.notify_all();
        while self.stats.active.load(Ordering::SeqCst) > 0 {
            let now = Instant::now();
            if now >= deadline {
                log::warn!(
                    "shutdown: {} connection(s) still open after {:?}, leaving them",
                    self.stats.active.load(Ordering::SeqCst),
                    self.drain_timeout
                );
                break;
            }
            state = pool
                .slot
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

struct Worker<H> {
    pool: Arc<Pool>,
    handler: Arc<H>,
    stats: Arc<Stats>,
    idle_timeout: Duration,
}

impl<H, E> Worker<H>
where
    H: Fn(TcpStream, SocketAddr) -> std::result::Result<(), E> + Send + Sync + 'static,
    E: fmt::Display,
{
    fn run(self, first: Job) {
        let mut job = first;
        loop {
            self.handle(job);
            match self.next_job() {
                Some(next) => job = next,
                None => break,
            }
        }
        self.stats.threads.fetch_sub(1, Ordering::SeqCst);
    }

    fn handle(&self, (stream, peer): Job) {
        match catch_unwind(AssertUnwindSafe(|| (self.handler)(stream, peer))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("connection from {peer}: {e}"),
            Err(_) => log::error!("connection from {peer}: the handler panicked"),
        }
    }

    /// Frees this thread's slot and waits, as an idle thread, for the
    /// acceptor to hand over the next job. Both happen under one lock, so an
    /// acceptor that sees the slot free also sees the thread idle.
    fn next_job(&self) -> Option<Job> {
        let deadline = Instant::now() + self.idle_timeout;
        let mut state = self.pool.lock();
        self.stats.active.fetch_sub(1, Ordering::SeqCst);
        self.pool.slot.notify_all();
        if state.stopping {
            return None;
        }
        state.idle += 1;
        loop {
            if let Some(job) = state.queue.pop() {
                return Some(job);
            }
            let now = Instant::now();
            if state.stopping || now >= deadline {
                state.idle -= 1;
                return None;
            }
            state = self
                .pool
                .work
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

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
    fn sequential_connections_reuse_one_thread() {
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
        assert_eq!(
            stats.spawned.load(Ordering::SeqCst),
            1,
            "threads were not reused"
        );
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
        assert!(stats.threads.load(Ordering::SeqCst) <= 2);
        drop(held);
        sd.fire();
        t.join().unwrap().unwrap();
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
