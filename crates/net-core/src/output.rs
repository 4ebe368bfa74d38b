//! What servers print: the readiness line and the access log.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// Prints the readiness line, `listening on ADDR:PORT (PROTO)`, as the first
/// line on stdout, and flushes it so scripts waiting on a pipe see it.
pub fn announce(addr: SocketAddr, proto: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", readiness_line(addr, proto))?;
    out.flush()
}

/// The readiness line's text: `listening on [::1]:6789 (http)`.
pub fn readiness_line(addr: SocketAddr, proto: &str) -> String {
    format!("listening on {addr} ({proto})")
}

/// A shared, line-oriented log sink: stdout for the binaries, a buffer in
/// tests, nothing with `--quiet`. Each line is written whole, so lines from
/// concurrent connections never interleave.
#[derive(Clone, Default)]
pub struct AccessLog {
    sink: Option<Arc<Mutex<Box<dyn Write + Send>>>>,
    /// Lines are flushed by a background thread, not one by one.
    buffered: bool,
}

/// How often a buffered log is flushed: soon enough for someone watching,
/// rarely enough that logging costs no system call per request.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl AccessLog {
    /// Lines go to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(io::stdout())
    }

    /// Lines are dropped.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Lines go to any writer (a shared buffer in tests).
    pub fn to_writer(w: impl Write + Send + 'static) -> Self {
        AccessLog {
            sink: Some(Arc::new(Mutex::new(Box::new(w)))),
            buffered: false,
        }
    }

    /// Lines go to standard output through a 64 KiB buffer flushed every
    /// [`LOG_FLUSH_INTERVAL`] (and by [`flush`](Self::flush)), so a busy
    /// server does not make a `write` per request.
    pub fn stdout_buffered() -> Self {
        let sink: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(
            io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        )));
        let weak: Weak<Mutex<Box<dyn Write + Send>>> = Arc::downgrade(&sink);
        let flusher = std::thread::Builder::new()
            .name("log-flush".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                while let Some(sink) = weak.upgrade() {
                    let _ = sink.lock().unwrap_or_else(PoisonError::into_inner).flush();
                    drop(sink);
                    std::thread::sleep(LOG_FLUSH_INTERVAL);
                }
            });
        if flusher.is_err() {
            // No thread, no periodic flush: write through instead.
            return Self::stdout();
        }
        AccessLog {
            sink: Some(sink),
            buffered: true,
        }
    }

    /// Writes out anything buffered.
    pub fn flush(&self) {
        if let Some(sink) = &self.sink {
            let _ = sink.lock().unwrap_or_else(PoisonError::into_inner).flush();
        }
    }

    /// Whether lines are written at all; lets callers skip formatting.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes one line. A failed write (closed stdout) is not an error for
    /// the server: the log is best effort.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        if let Some(sink) = &self.sink {
            // Formatted straight into the (locked) sink: no string per line.
            let mut w = sink.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(w, "{args}");
            if !self.buffered {
                let _ = w.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::SharedBuf;

    #[test]
    fn readiness_line_brackets_v6() {
        assert_eq!(
            readiness_line("[::1]:6789".parse().unwrap(), "http"),
            "listening on [::1]:6789 (http)"
        );
        assert_eq!(
            readiness_line("127.0.0.1:12000".parse().unwrap(), "udp"),
            "listening on 127.0.0.1:12000 (udp)"
        );
    }

    #[test]
    fn log_lines_are_whole() {
        let buf = SharedBuf::default();
        let log = AccessLog::to_writer(buf.clone());
        log.line(format_args!("sent {} to {}", "\"A\"", "127.0.0.1:1"));
        log.line(format_args!("second"));
        assert_eq!(buf.contents(), "sent \"A\" to 127.0.0.1:1\nsecond\n");
        AccessLog::disabled().line(format_args!("dropped"));
        assert!(!AccessLog::disabled().is_enabled());
    }
}
