//! The server: settings, the listener loop (net-core's acceptor), the
//! registry of connections, and the choice of response for a request.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Shutdown as Half, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use net_core::acceptor::{self, Acceptor};
use net_core::{AccessLog, Shutdown};

use crate::cache;
use crate::files;
use crate::listing;
use crate::path::{self, Resolved};
use crate::request::{Method, Request};
use crate::response::Response;
use crate::status::Status;
use crate::{Error, Result};

/// The lab's port for the web server.
pub const DEFAULT_PORT: u16 = 6789;

/// Total time for a request head to arrive once it has started (or from
/// the connection, for the first request).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle keep-alive connection waits for its next request.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a response may go without the client accepting a byte before
/// it is cut (see [`crate::output`]).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The document root, canonical.
    pub root: PathBuf,
    /// Serve an HTML listing for directories without `index.html`.
    pub listing: bool,
    /// Connections served at once.
    pub max_connections: usize,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_KEEPALIVE_TIMEOUT`].
    pub keepalive_timeout: Duration,
    /// See [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// Access log (Common Log Format).
    pub log: AccessLog,
    /// Fired to stop the server; connections check it between requests.
    pub shutdown: Shutdown,
    /// Accepted sockets already have TCP_NODELAY, the header time-out as
    /// read time-out and the write time-out: set by [`prepare_listener`].
    pub inherited: bool,
}

impl Config {
    /// Defaults for serving `root`, which must be an existing directory
    /// the server can read.
    pub fn new(root: &Path) -> Result<Config> {
        let canonical = root.canonicalize().map_err(|source| Error::Root {
            root: root.to_path_buf(),
            source,
        })?;
        if !canonical.is_dir() {
            return Err(Error::Root {
                root: root.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        // A root the server may not read would answer 403 to everything:
        // refuse it at start, with the reason, instead.
        if let Err(source) = std::fs::read_dir(&canonical) {
            return Err(Error::Root {
                root: root.to_path_buf(),
                source,
            });
        }
        Ok(Config {
            root: canonical,
            listing: true,
            max_connections: acceptor::DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            log: AccessLog::disabled(),
            shutdown: Shutdown::new(),
            inherited: false,
        })
    }
}

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
                crate::sys::reset_on_close(&self.stream);
                let _ = self.stream.shutdown(Half::Both);
            }
            _ => {
                let _ = self.stream.shutdown(Half::Read);
            }
        }
    }
}

/// Every live connection, so stalled ones can be closed at the cap and
/// idle ones at shutdown.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<Entry>>>,
    next: AtomicU64,
    /// `next` when free memory was last handed back.
    released_at: AtomicU64,
    /// A release is waiting for the burst's threads to finish.
    release_pending: AtomicBool,
}

impl Registry {
    fn add(&self, stream: Arc<TcpStream>) -> (u64, Arc<Entry>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            stream,
            phase: AtomicU8::new(Phase::Reading as u8),
            since: AtomicU64::new(clock_us(Instant::now())),
            evicted: AtomicBool::new(false),
            evicted_at: AtomicU64::new(0),
        });
        self.lock().insert(id, entry.clone());
        (id, entry)
    }

    /// Forgets a connection. When it was the last one open after a burst,
    /// the memory the burst's threads freed is handed back to the system
    /// (see [`crate::memory`]) a moment later, once those threads have
    /// ended, if no connection has come since.
    fn remove(self: &Arc<Self>, id: u64) {
        let mut conns = self.lock();
        conns.remove(&id);
        if !conns.is_empty() || !self.burst_since_release() {
            return;
        }
        drop(conns);
        if self.release_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let registry = self.clone();
        let started = std::thread::Builder::new()
            .name("http-release".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                std::thread::sleep(crate::memory::RELEASE_DELAY);
                let mut conns = registry.lock();
                let idle = conns.is_empty() && registry.burst_since_release();
                if idle {
                    let opened = registry.next.load(Ordering::Relaxed);
                    registry.released_at.store(opened, Ordering::Relaxed);
                    // The table had room for the whole burst.
                    conns.shrink_to_fit();
                }
                drop(conns);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Entry>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for a new client at the connection cap by closing one
    /// connection, oldest first among: idle keep-alive connections, then
    /// connections whose request has not fully arrived, then connections
    /// whose client has accepted no response byte for longest. A connection
    /// busy preparing a response is never chosen. True if a connection was
    /// closed or is still closing (within [`EVICTION_GRACE`]).
    pub fn make_room(&self) -> bool {
        let conns = self.lock();
        let now = clock_us(Instant::now());
        let closing = conns.values().any(|e| {
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
        let chosen = conns
            .iter()
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
        for entry in self.lock().values() {
            if entry.phase() == Phase::Idle && !entry.evicted.swap(true, Ordering::SeqCst) {
                let _ = entry.stream.shutdown(Half::Both);
            }
        }
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sets the listener options every accepted socket inherits (TCP_NODELAY,
/// the read and write time-outs) and TCP_DEFER_ACCEPT, and records in
/// `config` that connections need not set them again. Call it before the
/// listener's address is announced: a connection queued before the options
/// are set would not have them.
pub fn prepare_listener(listener: &TcpListener, config: &mut Config) {
    config.inherited = net_core::sock::set_accepted_defaults(
        listener,
        true,
        Some(config.header_timeout),
        Some(config.write_timeout),
    );
    #[cfg(target_os = "linux")]
    if let Err(e) = crate::sys::defer_accept(listener, config.header_timeout) {
        log::debug!("TCP_DEFER_ACCEPT: {e}");
    }
}

/// Serves `listener` until `config.shutdown` fires, then lets requests in
/// flight finish (a few seconds at most).
pub fn run(listener: TcpListener, config: Config) -> Result<()> {
    let registry = Arc::new(Registry::default());
    let acceptor = {
        let registry = registry.clone();
        Acceptor::new("http-server")
            .max_connections(config.max_connections)
            .on_full(move || registry.make_room())
    };
    {
        let registry = registry.clone();
        config.shutdown.on_fire(move || registry.close_idle());
    }
    let shutdown = config.shutdown.clone();
    let log = config.log.clone();
    let config = Arc::new(config);
    acceptor.run(listener, &shutdown, move |stream, peer| {
        let stream = Arc::new(stream);
        let (id, entry) = registry.add(stream.clone());
        let result = crate::conn::serve(&stream, peer, &config, &entry);
        registry.remove(id);
        match result {
            Err(e) if is_disconnect(&e) => Ok(()),
            other => other.map_err(|e| acceptor::conn_error(peer, "connection with", e)),
        }
    })?;
    log.flush();
    Ok(())
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// Chooses the response for a parsed request.
pub fn respond(req: &Request, config: &Config) -> Response {
    if let Method::NotAllowed(m) = &req.method {
        return Response::page(
            Status::METHOD_NOT_ALLOWED,
            &format!("{m} is not supported; use GET or HEAD."),
        )
        .header("Allow", "GET, HEAD");
    }
    let resolved = match cache::resolve(&config.root, &req.target) {
        Ok(r) => r,
        Err(refusal) => {
            let message = match refusal.status {
                Status::NOT_FOUND => "The requested URL was not found on this server.",
                Status::FORBIDDEN => "You do not have permission to access this URL.",
                _ => refusal.reason,
            };
            return Response::page(refusal.status, message);
        }
    };
    if resolved.is_dir {
        return directory(req, config, &resolved);
    }
    open_file(req, &resolved.path)
}

fn open_file(req: &Request, path: &Path) -> Response {
    let opened = open_no_follow(path).and_then(|f| {
        let meta = f.metadata()?;
        Ok((f, meta))
    });
    match opened {
        Ok((file, meta)) if meta.is_file() => files::serve(req, path, file, &meta),
        Ok(_) => Response::page(
            Status::FORBIDDEN,
            "You do not have permission to access this URL.",
        ),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Response::page(
            Status::FORBIDDEN,
            "You do not have permission to access this URL.",
        ),
        Err(_) => Response::page(
            Status::NOT_FOUND,
            "The requested URL was not found on this server.",
        ),
    }
}

/// Opens a path already resolved to be canonical. On Unix the last
/// component may not be a symlink (O_NOFOLLOW): if one appeared since the
/// path was resolved (a cached resolution, or a race), the open fails
/// rather than follow it.
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::libc::O_NOFOLLOW);
    }
    let opened = options.open(path);
    if opened.is_err() {
        cache::forget(path);
    }
    opened
}

fn directory(req: &Request, config: &Config, resolved: &Resolved) -> Response {
    if !resolved.trailing_slash && resolved.url_path != "/" {
        // Built from the normalised path, so it always starts with exactly
        // one '/': `//evil.example/x` cannot become an open redirect.
        let mut location = path::encode(&resolved.url_path);
        location.push('/');
        if let Some(q) = req.target.find('?') {
            location.push_str(&req.target[q..]);
        }
        return Response::page(Status::MOVED_PERMANENTLY, &format!("Moved to {location}"))
            .header("Location", location);
    }
    // index.html goes through the same policy as any path: it may be a
    // symlink, and must not lead out of the root.
    let index_target = format!("{}index.html", path::encode(&resolved.url_path));
    if let Ok(index) = cache::resolve(&config.root, &index_target)
        && !index.is_dir
    {
        return open_file(req, &index.path);
    }
    if !config.listing {
        return Response::page(Status::FORBIDDEN, "Directory listing is turned off.");
    }
    match listing::render(&config.root, &resolved.path, &resolved.url_path) {
        Ok(html) => Response::bytes(Status::OK, "text/html; charset=utf-8", html.into_bytes()),
        Err(e) => {
            log::warn!("cannot list {}: {e}", resolved.path.display());
            Response::page(
                Status::FORBIDDEN,
                "You do not have permission to access this URL.",
            )
        }
    }
}
