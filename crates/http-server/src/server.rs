//! The server: settings, the listener loop (net-core's acceptor), the
//! registry of connections, and the choice of response for a request.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Shutdown as Half, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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

/// How long a single write may block (a client that stops reading).
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
    /// Defaults for serving `root`, which must be an existing directory.
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

/// A live connection, as the registry sees it.
#[derive(Debug)]
pub struct Entry {
    stream: Arc<TcpStream>,
    /// Waiting between requests (safe to close).
    pub idle: AtomicBool,
    /// Closed by the server to make room or to stop.
    pub evicted: AtomicBool,
}

/// Every live connection, so idle ones can be closed at the cap and at
/// shutdown.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<Entry>>>,
    next: AtomicU64,
}

impl Registry {
    fn add(&self, stream: Arc<TcpStream>) -> (u64, Arc<Entry>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            stream,
            idle: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
        });
        self.lock().insert(id, entry.clone());
        (id, entry)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Entry>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes one idle keep-alive connection; false if none is idle.
    pub fn evict_one(&self) -> bool {
        let conns = self.lock();
        for entry in conns.values() {
            if entry.idle.load(Ordering::SeqCst) && !entry.evicted.swap(true, Ordering::SeqCst) {
                let _ = entry.stream.shutdown(Half::Both);
                return true;
            }
        }
        false
    }

    /// Closes every idle connection (at shutdown).
    pub fn close_idle(&self) {
        for entry in self.lock().values() {
            if entry.idle.load(Ordering::SeqCst) && !entry.evicted.swap(true, Ordering::SeqCst) {
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
            .on_full(move || registry.evict_one())
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
    match listing::render(&resolved.path, &resolved.url_path) {
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
