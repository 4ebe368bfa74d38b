//! The registry of live connections: what each is doing and since when,
//! so that at the connection cap a stalled one can make room for a
//! newcomer, and idle ones can be closed at shutdown.

use std::collections::HashMap;
use std::net::{Shutdown as Half, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// After making room, how long a closing connection may take to end
/// before another is chosen (instead of waiting for it): short next to the
/// second a newcomer should wait at most, long enough not to close two
/// connections for one newcomer on a busy machine.
pub const EVICTION_GRACE: Duration = Duration::from_millis(250);

/// What a connection is doing, as far as making room is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Choosing or preparing a response: not to be interrupted.
    Busy = 0,
    /// Waiting between requests (since: the end of the last response).
    Idle = 1,
    /// Waiting for a request head or body to complete (since: when it
    /// started, or the connection for the first request).
    Reading = 2,
    /// Waiting for the client to accept response bytes (since: the last
    /// byte it accepted).
    Writing = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Idle,
            2 => Phase::Reading,
            3 => Phase::Writing,
            _ => Phase::Busy,
        }
    }
}

/// Microseconds since the process's first use of this clock: instants
/// that fit in an atomic, fine enough to order connections opened in a
/// burst.
fn clock_us(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_micros() as u64
}

/// A live connection, as the registry sees it.
#[derive(Debug)]
pub struct Entry {
    stream: Arc<TcpStream>,
    phase: AtomicU8,
    /// [`clock_us`] of the phase's reference time (see [`Phase`]).
    since: AtomicU64,
    /// Closed by the server to make room or to stop.
    pub evicted: AtomicBool,
    /// [`clock_us`] of the eviction.
    evicted_at: AtomicU64,
}

impl Entry {
    /// Records what the connection does now, and since when.
    pub fn set(&self, phase: Phase, since: Instant) {
        self.since.store(clock_us(since), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// What the connection does now.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// Whether the server closed this connection to make room or to stop.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }

    /// Ends the connection by the state it is in: a reader's blocked read
    /// returns end-of-input (it can still answer 503 and close), a writer's
    /// connection is reset (it cannot be answered any more).
    fn evict(&self, phase: Phase) {
        self.evicted_at
            .store(clock_us(Instant::now()), Ordering::SeqCst);
        match phase {
            Phase::Writing => {
                #[cfg(target_os = "linux")]
                net_core::sock::reset_on_close(&self.stream);
                let _ = self.stream.shutdown(Half::Both);
            }
            _ => {
                let _ = self.stream.shutdown(Half::Read);
            }
        }
    }
}

/// Tables the registry's connections are spread over, by id: each
/// connection takes one table's lock as it starts and ends, and a thread
/// preempted while holding it (on a machine with more runnable threads
/// than CPUs) holds up only the connections of that table, not all.
const SHARDS: usize = 16;

type Table = HashMap<u64, Arc<Entry>>;

/// Every live connection, so stalled ones can be closed at the cap and
/// idle ones at shutdown.
#[derive(Debug, Default)]
pub struct Registry {
    shards: [Mutex<Table>; SHARDS],
    /// Connections in the tables.
    live: AtomicUsize,
    next: AtomicU64,
    /// `next` when free memory was last handed back.
    released_at: AtomicU64,
    /// A release is waiting for the burst's threads to finish.
    release_pending: AtomicBool,
}

impl Registry {
    pub(crate) fn add(&self, stream: Arc<TcpStream>) -> (u64, Arc<Entry>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            stream,
            phase: AtomicU8::new(Phase::Reading as u8),
            since: AtomicU64::new(clock_us(Instant::now())),
            evicted: AtomicBool::new(false),
            evicted_at: AtomicU64::new(0),
        });
        self.shard(id).insert(id, entry.clone());
        self.live.fetch_add(1, Ordering::SeqCst);
        (id, entry)
    }

    /// Forgets a connection. When it was the last one open after a burst,
    /// the memory the burst's threads freed is handed back to the system
    /// (see [`crate::memory`]) a moment later, once those threads have
    /// ended, if no connection has come since.
    pub(crate) fn remove(self: &Arc<Self>, id: u64) {
        if self.shard(id).remove(&id).is_none() {
            return;
        }
        let left = self.live.fetch_sub(1, Ordering::SeqCst) - 1;
        if left > 0 || !self.burst_since_release() {
            return;
        }
        if self.release_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let registry = self.clone();
        let started = std::thread::Builder::new()
            .name("http-release".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                std::thread::sleep(crate::memory::RELEASE_DELAY);
                let mut shards = registry.lock_all();
                let idle = shards.iter().all(|t| t.is_empty()) && registry.burst_since_release();
                if idle {
                    let opened = registry.next.load(Ordering::Relaxed);
                    registry.released_at.store(opened, Ordering::Relaxed);
                    // The tables had room for the whole burst.
                    for table in &mut shards {
                        table.shrink_to_fit();
                    }
                }
                drop(shards);
                if idle {
                    crate::memory::release_free_memory();
                }
                registry.release_pending.store(false, Ordering::SeqCst);
            });
        if started.is_err() {
            self.release_pending.store(false, Ordering::SeqCst);
        }
    }

    /// Whether enough connections were opened since memory was last
    /// handed back for doing it again to be worth it.
    fn burst_since_release(&self) -> bool {
        let opened = self.next.load(Ordering::Relaxed);
        opened.saturating_sub(self.released_at.load(Ordering::Relaxed))
            >= crate::memory::RELEASE_AFTER_CONNECTIONS
    }

    /// The table of connection `id`, locked.
    fn shard(&self, id: u64) -> MutexGuard<'_, Table> {
        self.shards[(id % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every table, locked in order (as every caller locks them, so two
    /// cannot wait for each other).
    fn lock_all(&self) -> Vec<MutexGuard<'_, Table>> {
        self.shards
            .iter()
            .map(|t| t.lock().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Makes room for a new client at the connection cap by closing one
    /// connection, oldest first among: idle keep-alive connections, then
    /// connections whose request has not fully arrived, then connections
    /// whose client has accepted no response byte for longest. A connection
    /// busy preparing a response is never chosen. True if a connection was
    /// closed or is still closing (within [`EVICTION_GRACE`]).
    pub fn make_room(&self) -> bool {
        let shards = self.lock_all();
        let conns = || shards.iter().flat_map(|t| t.iter());
        let now = clock_us(Instant::now());
        let closing = conns().map(|(_, e)| e).any(|e| {
            e.is_evicted()
                && now.saturating_sub(e.evicted_at.load(Ordering::SeqCst))
                    < EVICTION_GRACE.as_micros() as u64
        });
        if closing {
            return true;
        }
        let rank = |phase| match phase {
            Phase::Idle => Some(0),
            Phase::Reading => Some(1),
            Phase::Writing => Some(2),
            Phase::Busy => None,
        };
        // Ties (a burst within a microsecond) go to the older connection.
        let chosen = conns()
            .filter(|(_, e)| !e.is_evicted())
            .filter_map(|(&id, e)| {
                let phase = e.phase();
                Some((
                    (rank(phase)?, e.since.load(Ordering::Relaxed), id),
                    phase,
                    e,
                ))
            })
            .min_by_key(|&(key, _, _)| key);
        match chosen {
            Some((_, phase, entry)) => {
                entry.evicted.store(true, Ordering::SeqCst);
                log::debug!("at the connection cap: closing a {phase:?} connection");
                entry.evict(phase);
                true
            }
            None => false,
        }
    }

    /// Closes every idle connection (at shutdown).
    pub fn close_idle(&self) {
        for entry in self.lock_all().iter().flat_map(|t| t.values()) {
            if entry.phase() == Phase::Idle && !entry.evicted.swap(true, Ordering::SeqCst) {
                let _ = entry.stream.shutdown(Half::Both);
            }
        }
    }

    /// Ends every connection still open (at shutdown, once the drain time
    /// is over): reads see end-of-input, writes fail, so each connection's
    /// thread logs what its response got out before it was cut.
    pub fn abort_all(&self) {
        for entry in self.lock_all().iter().flat_map(|t| t.values()) {
            if !entry.evicted.swap(true, Ordering::SeqCst) {
                entry
                    .evicted_at
                    .store(clock_us(Instant::now()), Ordering::SeqCst);
            }
            #[cfg(target_os = "linux")]
            net_core::sock::reset_on_close(&entry.stream);
            let _ = entry.stream.shutdown(Half::Both);
        }
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
