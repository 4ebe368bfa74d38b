//! Server settings and their defaults.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use net_core::acceptor;
use net_core::{AccessLog, Shutdown};

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
    /// read time-out and the write time-out: set by
    /// [`crate::server::prepare_listener`].
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
