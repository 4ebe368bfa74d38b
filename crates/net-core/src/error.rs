//! The one error type of net-core, worded for people.
//!
//! Every message is a single sentence that names what failed and where, the
//! way the command-line contract shows them, e.g.
//! `nothing is listening on 127.0.0.1:13000 (connection refused)`.
//! Operating-system errors are rendered without the `(os error N)` suffix.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Result alias used throughout net-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in net-core, each with its context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An endpoint, host or port given by the user could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// What the user typed.
        input: String,
        /// Why it is not acceptable.
        reason: &'static str,
    },
    /// Name resolution failed.
    #[error("could not resolve host {host:?} ({})", Describe(.source))]
    Resolve {
        /// The host name that failed to resolve.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Name resolution succeeded but gave no usable address.
    #[error("host {host:?} has no address")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// A listening or bound socket could not be created.
    #[error("cannot listen on {addr} ({})", Describe(.source))]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The peer actively refused: nothing is listening there.
    #[error("nothing is listening on {target} (connection refused)")]
    Refused {
        /// The address (or `host:port`) that refused.
        target: String,
    },
    /// No answer within the allowed time.
    #[error("timed out {action} {target} after {}", Secs(*.after))]
    TimedOut {
        /// What we were doing, e.g. `connecting to` or `waiting for a reply from`.
        action: &'static str,
        /// The peer.
        target: String,
        /// How long we waited.
        after: Duration,
    },
    /// Connecting failed for another reason (unreachable network, …).
    #[error("cannot connect to {target} ({})", Describe(.source))]
    Connect {
        /// The peer.
        target: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Any other I/O failure, with what we were doing.
    #[error("{context} ({})", Describe(.source))]
    Io {
        /// What we were doing, e.g. `read from 127.0.0.1:5000`.
        context: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The Ctrl-C / SIGTERM handler could not be installed.
    #[error("cannot install the Ctrl-C handler ({0})")]
    Signal(String),
}

impl Error {
    /// An [`Error::Io`]: `source` with what we were doing. It is kept as it
    /// is — a refusal or a time-out is not turned into [`Error::Refused`]
    /// or [`Error::TimedOut`] (those need the peer and the wait, which only
    /// the connecting code has) — but [`Error::is_refused`] and
    /// [`Error::is_timeout`] see through it.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error means the peer was not there (refused).
    pub fn is_refused(&self) -> bool {
        match self {
            Error::Refused { .. } => true,
            Error::Io { source, .. } | Error::Connect { source, .. } => {
                source.kind() == io::ErrorKind::ConnectionRefused
            }
            _ => false,
        }
    }

    /// True when the error is a time-out.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::TimedOut { .. } => true,
            Error::Io { source, .. } | Error::Connect { source, .. } => is_timeout(source),
            _ => false,
        }
    }
}

/// True for the error kinds a socket time-out produces (`WouldBlock` on Unix
/// read time-outs, `TimedOut` on Windows and for connects).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// True when `e` says the system ran out of a resource rather than that
/// anything is wrong with what was asked for: too many open files, in the
/// process (EMFILE) or the system (ENFILE), or no memory (ENOMEM). Such a
/// failure passes; a server should say "try again", never "not found".
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::OutOfMemory {
        return true;
    }
    #[cfg(target_os = "linux")]
    const CODES: [i32; 3] = [libc::EMFILE, libc::ENFILE, libc::ENOMEM];
    // The historical Unix numbers, the same on the BSDs and macOS.
    #[cfg(all(unix, not(target_os = "linux")))]
    const CODES: [i32; 3] = [24, 23, 12];
    // WSAEMFILE, and ERROR_NOT_ENOUGH_MEMORY / ERROR_OUTOFMEMORY.
    #[cfg(windows)]
    const CODES: [i32; 3] = [10024, 8, 14];
    #[cfg(not(any(unix, windows)))]
    const CODES: [i32; 0] = [];
    e.raw_os_error().is_some_and(|code| CODES.contains(&code))
}

/// Renders an I/O error as a short lowercase phrase without the
/// `(os error N)` suffix: `connection refused`, `address already in use`.
pub fn describe(e: &io::Error) -> String {
    Describe(e).to_string()
}

struct Describe<'a>(&'a io::Error);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let text = match text.find(" (os error ") {
            Some(i) => &text[..i],
            None => &text,
        };
        let mut chars = text.chars();
        match chars.next() {
            // Lowercase only a leading capital of a normal word ("Connection
            // refused"), keeping acronyms like "IPv6" intact.
            Some(c) if c.is_uppercase() && chars.clone().next().is_some_and(char::is_lowercase) => {
                write!(f, "{}{}", c.to_lowercase(), chars.as_str())
            }
            _ => f.write_str(text),
        }
    }
}

/// Seconds rendered for people: `2 s`, `0.5 s`.
pub(crate) struct Secs(pub Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs_f64();
        if s.fract() == 0.0 {
            write!(f, "{s:.0} s")
        } else {
            write!(f, "{s} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn running_out_is_told_apart_from_a_missing_file() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOMEM] {
            assert!(is_resource_exhausted(&io::Error::from_raw_os_error(code)));
        }
        assert!(is_resource_exhausted(&io::Error::from(
            io::ErrorKind::OutOfMemory
        )));
        for code in [libc::ENOENT, libc::EACCES, libc::ENOTDIR, libc::ELOOP] {
            assert!(!is_resource_exhausted(&io::Error::from_raw_os_error(code)));
        }
    }

    #[test]
    fn refused_reads_like_the_contract() {
        let e = Error::Refused {
            target: "127.0.0.1:13000".into(),
        };
        assert_eq!(
            e.to_string(),
            "nothing is listening on 127.0.0.1:13000 (connection refused)"
        );
        assert!(e.is_refused());
    }

    #[test]
    fn os_errors_lose_their_code_and_capital() {
        let e = Error::Bind {
            addr: "127.0.0.1:80".parse().unwrap(),
            source: io::Error::from_raw_os_error(98),
        };
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:80 (address already in use)"
        );
    }

    #[test]
    fn custom_io_errors_are_kept() {
        let e = Error::io("read from x", io::Error::other("IPv6 is off"));
        assert_eq!(e.to_string(), "read from x (IPv6 is off)");
    }

    #[test]
    fn timeouts_name_the_wait() {
        let e = Error::TimedOut {
            action: "waiting for a reply from",
            target: "[::1]:12000".into(),
            after: Duration::from_millis(2500),
        };
        assert_eq!(
            e.to_string(),
            "timed out waiting for a reply from [::1]:12000 after 2.5 s"
        );
        assert!(e.is_timeout());
        assert!(is_timeout(&io::Error::from(io::ErrorKind::WouldBlock)));
    }
}
