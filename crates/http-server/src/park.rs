//! Idle keep-alive connections parked without a thread (Linux).
//!
//! A connection is served by one thread from its request to its response
//! and on to the next request while requests keep coming. Once it has
//! waited [`PARK_AFTER`] for the next one, it is parked: registered in one
//! epoll set (one-shot, so one thread wakes for it), its slot among the
//! connections served kept with it, and the thread goes back to `accept`.
//! Threads of a small pool wait in that epoll set; when a parked
//! connection's next request arrives (or its client leaves, or the server
//! closes it to make room or to stop), the kernel wakes one of them, and
//! it serves the connection as the first thread did, up to the next pause.
//! So a thousand idle connections cost a thousand sockets and a few
//! hundred bytes each, not a thousand threads' stacks and buffers, and a
//! busy connection costs no more than before: the pool's thread is woken
//! by the request as a thread blocked in `recv` would be.
//!
//! The pool keeps one thread waiting for each connection it serves, so a
//! request is never left waiting for another's response; threads beyond
//! [`SPARE_THREADS`] waiting leave. Waiting threads look every
//! [`tick`] for parked connections whose keep-alive time-out has passed,
//! and close them as the thread that parked them would have.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use net_core::acceptor::Slot;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::config::Config;
use crate::registry::{Entry, Registry};

/// How long a connection waits for its next request on its thread before
/// it is parked: far longer than a client that keeps requesting takes
/// between a response and its next request (tens of microseconds; a few
/// milliseconds on a loaded machine), so busy connections keep their
/// threads, and short enough that a burst of connections left idle holds
/// few threads at once.
pub const PARK_AFTER: Duration = Duration::from_millis(20);

/// Threads of the pool allowed to wait with nothing to serve; more leave.
pub const SPARE_THREADS: usize = 1;

/// Stack size of the pool's threads, as the acceptor's connection threads.
const STACK_SIZE: usize = net_core::acceptor::DEFAULT_STACK_SIZE;

/// The epoll token of the shutdown wake-up (connections' tokens are their
/// registry ids, which start at 0 and never reach this).
const WAKE_TOKEN: u64 = u64::MAX;

/// How often waiting threads look for parked connections past their
/// keep-alive time-out: an eighth of it (so a connection is closed at
/// most an eighth late), between 10 ms and 1 s.
pub fn tick(keepalive: Duration) -> Duration {
    (keepalive / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Microseconds since the process first asked: instants in an atomic.
fn micros(at: Instant) -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_micros() as u64
}

/// A connection waiting, without a thread, for its next request.
pub struct Parked {
    pub stream: Arc<TcpStream>,
    pub peer: SocketAddr,
    pub id: u64,
    pub entry: Arc<Entry>,
    pub slot: Slot,
    /// When its keep-alive time-out passes.
    pub idle_until: Instant,
}

/// The epoll set of parked connections and the threads that wait in it.
pub struct Parking {
    epoll: Epoll,
    /// Written at shutdown: level-triggered, it wakes every waiting thread.
    wake: EventFd,
    parked: Mutex<HashMap<u64, Parked>>,
    /// Threads waiting in the epoll set (or about to).
    waiting: AtomicUsize,
    stopping: AtomicBool,
    /// [`micros`] when the time-outs were last looked at.
    swept: AtomicU64,
    config: Arc<Config>,
    registry: Arc<Registry>,
}

impl Parking {
    /// An empty epoll set; its first thread starts with the first parked
    /// connection.
    pub fn new(config: Arc<Config>, registry: Arc<Registry>) -> std::io::Result<Arc<Parking>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)?;
        epoll.add(
            wake.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN),
        )?;
        Ok(Arc::new(Parking {
            epoll,
            wake,
            parked: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            swept: AtomicU64::new(0),
            config,
            registry,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Parked>> {
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parks `conn` until its next request. Where it cannot be (the epoll
    /// set refuses it, or no thread can be started to wait), the
    /// connection is closed, as one idle at shutdown is.
    pub fn park(self: &Arc<Self>, conn: Parked, first_time: bool) {
        let id = conn.id;
        let stream = conn.stream.clone();
        if self.waiting.load(Ordering::SeqCst) == 0 && !self.start_thread() {
            self.close(conn);
            return;
        }
        // In the table before it can fire: the thread woken for it finds it.
        self.lock().insert(id, conn);
        let interest = EpollEvent::new(
            EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT,
            id,
        );
        let armed = if first_time {
            self.epoll.add(stream.as_fd(), interest)
        } else {
            // Registered before; the one-shot disarmed it when it fired.
            self.epoll.modify(stream.as_fd(), &mut { interest })
        };
        if let Err(e) = armed {
            log::warn!("cannot wait for the next request without a thread: {e}");
            if let Some(conn) = self.lock().remove(&id) {
                self.close(conn);
            }
        }
    }

    /// Stops the pool: its waiting threads leave (call once the parked
    /// connections are closed).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Err(e) = self.wake.write(1) {
            log::debug!("cannot wake the parked connections' threads: {e}");
        }
    }

    /// Starts a thread to wait in the epoll set; false if none could be.
    fn start_thread(self: &Arc<Self>) -> bool {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let pool = self.clone();
        let started = std::thread::Builder::new()
            .name("http-server-park".into())
            .stack_size(STACK_SIZE)
            .spawn(move || pool.work());
        match started {
            Ok(_) => true,
            Err(e) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                log::warn!(
                    "cannot start a thread for parked connections: {}",
                    net_core::error::describe(&e)
                );
                false
            }
        }
    }

    /// A pool thread: wait, serve the connection whose request came, wait
    /// again. Counted in `waiting` on entry.
    fn work(self: Arc<Self>) {
        let tick = tick(self.config.keepalive_timeout);
        let timeout = EpollTimeout::try_from(tick).unwrap_or(EpollTimeout::NONE);
        loop {
            let mut events = [EpollEvent::empty()];
            let ready = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    log::warn!("waiting for parked connections: {e}");
                    std::thread::sleep(tick);
                    0
                }
            };
            if self.stopping.load(Ordering::SeqCst) {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            if ready == 0 {
                self.sweep_due(Duration::ZERO);
                self.close_expired();
                if self.leave_if_spare() {
                    return;
                }
                continue;
            }
            // A pool kept busy by requests may seldom see a wait time out:
            // the time-outs of the others are looked at as often anyway.
            if self.sweep_due(tick) {
                self.close_expired();
            }
            let id = events[0].data();
            let Some(conn) = self.lock().remove(&id) else {
                continue; // closed meanwhile (its time-out passed)
            };
            // Off to serve: another thread waits in its stead.
            if self.waiting.fetch_sub(1, Ordering::SeqCst) == 1 && !self.start_thread() {
                log::debug!("no thread waits for parked connections meanwhile");
            }
            self.serve(conn);
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if self.leave_if_spare() {
                return;
            }
        }
    }

    /// Leaves the pool when more than [`SPARE_THREADS`] others wait.
    fn leave_if_spare(&self) -> bool {
        let left = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n > SPARE_THREADS).then(|| n - 1)
            });
        left.is_ok()
    }

    /// Serves a connection woken in the epoll set, up to its next pause.
    fn serve(self: &Arc<Self>, conn: Parked) {
        let Parked {
            stream,
            peer,
            id,
            entry,
            slot,
            ..
        } = conn;
        match crate::conn::serve(&stream, peer, &self.config, &entry, true, true) {
            Ok(crate::conn::Served::Idle(idle_until)) => self.park(
                Parked {
                    stream,
                    peer,
                    id,
                    entry,
                    slot,
                    idle_until,
                },
                false,
            ),
            result => {
                self.registry.remove(id);
                drop(slot);
                if let Err(e) = result
                    && !crate::server::is_disconnect(&e)
                {
                    log::warn!("connection with {peer}: {e}");
                }
            }
        }
    }

    /// Whether `tick` has passed since the parked connections' time-outs
    /// were last looked at; if so, the caller looks now.
    fn sweep_due(&self, tick: Duration) -> bool {
        let now = micros(Instant::now());
        let last = self.swept.load(Ordering::Relaxed);
        now.saturating_sub(last) >= tick.as_micros() as u64
            && self
                .swept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Closes the parked connections whose keep-alive time-out has passed.
    fn close_expired(&self) {
        let now = Instant::now();
        let expired: Vec<Parked> = {
            let mut parked = self.lock();
            let ids: Vec<u64> = parked
                .iter()
                .filter(|(_, c)| c.idle_until <= now)
                .map(|(&id, _)| id)
                .collect();
            ids.iter().filter_map(|id| parked.remove(id)).collect()
        };
        for conn in expired {
            self.close(conn);
        }
    }

    /// Closes a parked connection quietly, as its thread would have at the
    /// end of its keep-alive time-out.
    fn close(&self, conn: Parked) {
        let _ = self.epoll.delete(conn.stream.as_fd());
        self.registry.remove(conn.id);
        drop(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick(Duration::from_secs(5)), Duration::from_millis(625));
        assert_eq!(tick(Duration::from_secs(75)), Duration::from_secs(1));
        assert_eq!(tick(Duration::from_millis(1)), Duration::from_millis(10));
    }
}
