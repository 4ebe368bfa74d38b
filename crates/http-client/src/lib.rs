//! http-client: the lab's HTTP client as a library.
//!
//! Fetches over HTTP/1.1, plain or over TLS, keeping one connection for several requests to
//! the same server and reconnecting transparently when the server closed it
//! in between. Response bodies are decoded however a real server frames
//! them — Content-Length, chunked (with trailers) or close-delimited — and
//! a body cut short is an error, never a success.
//!
//! # Layout
//! - [`url`]: `http[s]://HOST[:PORT]/PATH` and the lab's `HOST PORT PATH`.
//! - [`response`]: response heads, read as curl reads them, and how their
//!   body is framed.
//! - [`body`]: streaming body decoding into any `Write`.
//! - [`decode`]: content codings (`--compressed`): gzip, deflate, br, zstd.
//! - [`tls`]: `https://` with rustls, the certificates trusted.
//! - [`proxy`]: HTTP proxies from `-x` and the environment, `no_proxy`.
//! - [`request`]: [`Request`], what is sent (method, headers, body,
//!   credentials) as curl builds it from its options.
//! - [`client`]: [`Client`], connections, time-outs, redirects, uploads.
//! - `save` (feature `cli`): where a body goes — stdout, or `-o FILE` as
//!   curl writes it — and removing a download's temporary file on signals.
//! - `show` (feature `cli`): heads, `-v`, `-D` and the progress bar, as
//!   the binary shows them.
//! - [`write_out`]: `-w FORMAT`, curl's `--write-out` variables.
//! - `cli` (feature `cli`): the binary's options, with curl's spelling
//!   and meaning, and what it does with them.
//!
//! # Features
//! - `cli` (default): the binary, and the two modules that do what it does
//!   with a response, `save` and `show`, with the crates only they need
//!   (clap, env_logger, indicatif, tempfile). With `default-features =
//!   false` the library fetches into any `Write` and builds none of them.
//!
//! # Example
//! ```no_run
//! use http_client::{Client, Request, Url};
//! let mut client = Client::new();
//! let response = client.get(&Url::parse("http://127.0.0.1:6789/HelloWorld.html")?)?;
//! println!("{} {}", response.head.status, String::from_utf8_lossy(&response.body));
//!
//! // What `curl -X PUT -H 'X-Lab: 3' -d 'name=lab' -u me:pw URL` sends:
//! let request = Request::new(Url::parse("http://127.0.0.1:6789/form")?)
//!     .method("PUT")
//!     .header("X-Lab", "3")
//!     .body("name=lab")
//!     .basic_auth("me", "pw");
//! let response = client.request(&request)?;
//! assert!(response.head.status < 500);
//!
//! // `curl --compressed --cacert ca.pem -x 127.0.0.1:3128 https://localhost:8443/`:
//! let mut client = Client::new()
//!     .compressed(true)
//!     .trust(http_client::Trust::File("ca.pem".into()))
//!     .proxies(http_client::Proxies::from_env().proxy("127.0.0.1:3128"));
//! let page = client.get(&Url::parse("https://localhost:8443/")?)?;
//! println!("{} bytes, decoded", page.body.len());
//! # Ok::<(), http_client::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod decode;
pub mod proxy;
pub mod request;
pub mod response;
#[cfg(feature = "cli")]
pub mod save;
#[cfg(feature = "cli")]
pub mod show;
pub mod tls;
pub mod url;
pub mod write_out;

use std::io;
use std::path::{Path, PathBuf};

pub use client::{Client, Response, Transfer};
pub use proxy::Proxies;
pub use request::Request;
pub use tls::Trust;
pub use url::Url;

/// Errors, each mapped to curl's exit status by [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A URL or argument that cannot be used.
    #[error("{0}")]
    BadUrl(String),
    /// A scheme or feature this client does not have.
    #[error("{0}")]
    Unsupported(String),
    /// Name resolution, connection or time-out, worded by net-core.
    #[error(transparent)]
    Net(#[from] net_core::Error),
    /// The whole request took longer than its limit (`--max-time`).
    #[error("timed out after {secs} s waiting for {url} (the --max-time limit)")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit in seconds.
        secs: f64,
    },
    /// The server sent nothing for the stall time-out (`--stall-timeout`).
    #[error("timed out after {secs} s without a byte from {url} (the --stall-timeout limit)")]
    Stalled {
        /// The URL.
        url: String,
        /// The limit in seconds.
        secs: f64,
    },
    /// The server sent something that is not HTTP, or closed the
    /// connection in the middle of a response head.
    #[error("{0}")]
    Broken(String),
    /// The reply is not HTTP/1.x: no `HTTP/` at its start, another
    /// version, a status code that is not three digits of 100 or more
    /// (curl's "unsupported protocol").
    #[error("{0}")]
    NotHttp(String),
    /// The head is HTTP/1.x but cannot be read: a line without a colon, a
    /// NUL byte, an invalid Content-Length (curl's "weird server reply").
    #[error("{0}")]
    Malformed(String),
    /// The server closed the connection before a whole status line.
    #[error("{0}")]
    EmptyReply(String),
    /// The body ended before its framing said it would (curl's "partial
    /// file").
    #[error("{0}")]
    Partial(String),
    /// The body is sent in a transfer coding this client cannot decode.
    #[error("{0}")]
    Decoding(String),
    /// Sending or reading failed: the connection broke.
    #[error("{context} ({})", net_core::error::describe(.source))]
    ConnectionBroke {
        /// What was being done, e.g. `the connection broke while reading the body`.
        context: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The connection was reset before any byte of the response came: on
    /// a kept connection, the server closed it while idle, so the request
    /// is sent once more on a fresh one.
    #[error("the connection was reset before the response ({})", net_core::error::describe(.source))]
    Reset {
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The body could not be written out (to `path`, when it is a file).
    #[error("cannot write the body ({}{})", named(.path.as_deref()), net_core::error::describe(.source))]
    Write {
        /// The file written to, when there is one.
        path: Option<PathBuf>,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// A download written in place (`-o FILE` in a directory that refuses
    /// a temporary file) failed: the file now holds `bytes` of the body.
    #[error("{source}; {} was written in place (its directory does not allow a temporary file) and now holds only the first {} of the body", .path.display(), held(*.bytes))]
    InPlace {
        /// The file.
        path: PathBuf,
        /// Its length now, when known.
        bytes: Option<u64>,
        /// Why the download failed.
        source: Box<Error>,
    },
    /// Too many redirects, or a loop.
    #[error("{0}")]
    Redirects(String),
    /// The TLS handshake failed for another reason than the certificate
    /// (curl's "SSL connect error").
    #[error("{0}")]
    Tls(String),
    /// The server's certificate is not trusted: unknown issuer, another
    /// host's name, expired.
    #[error("{0}")]
    Certificate(String),
    /// With `--compressed`, more of the body came after the end of its
    /// coded stream (curl's "failed writing received data", 23).
    #[error("{0}")]
    AfterEnd(String),
    /// The `--cacert` file cannot be read or holds no certificate.
    #[error("{0}")]
    CaCert(String),
    /// A proxy URL that cannot be read.
    #[error("{0}")]
    BadProxy(String),
    /// A proxy of a kind this client cannot use (SOCKS, HTTPS).
    #[error("{0}")]
    ProxyUnsupported(String),
    /// The proxy could not be reached: not resolved (curl's 5), refused
    /// or timed out (7, 28).
    #[error("cannot use the proxy: {0}")]
    Proxy(net_core::Error),
    /// An option that cannot be used as given (a header without a colon,
    /// `-u USER` without a password …): a usage error.
    #[error("{0}")]
    Usage(String),
    /// The body to send could not be read (curl's "read error").
    #[error("{0}")]
    ReadBody(String),
    /// A redirect asks for the body again, but it was read from standard
    /// input and is gone (curl's "send fail rewind").
    #[error("{0}")]
    Rewind(String),
    /// A resumed download (`-C -`) that the server would not resume
    /// (curl's "range error").
    #[error("{0}")]
    Range(String),
}

impl Error {
    /// The exit status curl would use.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BadUrl(_) => 3,
            Error::Unsupported(_) | Error::NotHttp(_) => 1,
            Error::Malformed(_) => 8,
            Error::Partial(_) => 18,
            Error::EmptyReply(_) => 52,
            Error::Decoding(_) => 61,
            Error::Net(e) => match e {
                net_core::Error::Resolve { .. } | net_core::Error::NoAddress { .. } => 6,
                net_core::Error::InvalidAddress { .. } => 3,
                e if e.is_timeout() => 28,
                _ => 7,
            },
            Error::Timeout { .. } | Error::Stalled { .. } => 28,
            Error::Broken(_) | Error::ConnectionBroke { .. } | Error::Reset { .. } => 56,
            Error::Write { .. } => 23,
            Error::Redirects(_) => 47,
            Error::Usage(_) => 2,
            Error::ReadBody(_) => 26,
            Error::Rewind(_) => 65,
            Error::Range(_) => 33,
            Error::InPlace { source, .. } => source.exit_code(),
            Error::Tls(_) => 35,
            Error::Certificate(_) => 60,
            Error::CaCert(_) => 77,
            Error::AfterEnd(_) => 23,
            Error::BadProxy(_) => 5,
            Error::ProxyUnsupported(_) => 7,
            Error::Proxy(e) => match e {
                net_core::Error::Resolve { .. } | net_core::Error::NoAddress { .. } => 5,
                e if e.is_timeout() => 28,
                _ => 7,
            },
        }
    }
}

/// `path: ` for a message, or nothing.
fn named(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

/// `N bytes`, or `bytes` when unknown.
fn held(bytes: Option<u64>) -> String {
    match bytes {
        Some(1) => "1 byte".into(),
        Some(n) => format!("{n} bytes"),
        None => "bytes".into(),
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_cause_and_wording() {
        let e = Error::Write {
            path: Some("out.html".into()),
            source: io::Error::from_raw_os_error(13),
        };
        assert_eq!(
            e.to_string(),
            "cannot write the body (out.html: permission denied)"
        );
        assert_eq!(e.exit_code(), 23);
        let cause = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(cause.and_then(io::Error::raw_os_error), Some(13));

        let e = Error::Reset {
            source: io::Error::from_raw_os_error(104),
        };
        assert_eq!(
            e.to_string(),
            "the connection was reset before the response (connection reset by peer)"
        );
        assert_eq!(e.exit_code(), 56);
        assert!(std::error::Error::source(&e).is_some());
    }
}
