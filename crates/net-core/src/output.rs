//! What servers print: the readiness line and the access log.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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
///
/// The binaries' sink never blocks the server: lines go into a bounded
/// queue that a thread of its own writes out. When the output is not being
/// read (`server | less` left paused, a stopped terminal, a full journal),
/// the queue fills and further lines are dropped and counted, as a logger
/// that cannot keep up does; one line on stderr says how many once the
/// output drains (or at exit).
#[derive(Clone, Default)]
pub struct AccessLog {
    sink: Option<Sink>,
}

#[derive(Clone)]
enum Sink {
    /// Written by the caller, under a lock (tests, embedding).
    Direct(Arc<Mutex<Box<dyn Write + Send>>>),
    /// Queued for the writer thread.
    Queued(Arc<Queue>),
}

/// Bytes of log lines held while the output is slower than the server:
/// about ten thousand access-log lines, so a short stall loses nothing,
/// and a bound, so a stall that never ends costs no more memory than this.
pub const LOG_QUEUE_BYTES: usize = 1024 * 1024;

/// How long [`AccessLog::flush`] waits for queued lines to be written out:
/// a stalled output must not hold up a shutdown for longer than this.
pub const LOG_DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when lines arrive.
    filled: Condvar,
    /// Signalled when the writer has written everything it took.
    drained: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<u8>,
    /// Lines dropped (queue full or output failed) not yet reported.
    dropped: u64,
    /// The writer holds lines it has taken but not yet written.
    writing: bool,
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl AccessLog {
    /// Lines go to standard output through the non-blocking queue (see the
    /// type's docs). Lines appear at once when the output keeps up.
    pub fn stdout() -> Self {
        Self::queued(io::stdout())
    }

    /// The same as [`stdout`](Self::stdout): the queue already batches
    /// lines into few writes when the server is busy.
    pub fn stdout_buffered() -> Self {
        Self::stdout()
    }

    /// Lines are dropped.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Lines go to any writer (a shared buffer in tests), written by the
    /// caller: a slow writer slows the caller.
    pub fn to_writer(w: impl Write + Send + 'static) -> Self {
        AccessLog {
            sink: Some(Sink::Direct(Arc::new(Mutex::new(Box::new(w))))),
        }
    }

    /// Lines go to `w` through a bounded queue written by a thread of its
    /// own, so a writer that blocks never blocks the caller.
    pub fn queued(w: impl Write + Send + 'static) -> Self {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            filled: Condvar::new(),
            drained: Condvar::new(),
        });
        let writer_queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .stack_size(64 * 1024)
            .spawn(move || write_queue(&writer_queue, w));
        match spawned {
            Ok(_) => AccessLog {
                sink: Some(Sink::Queued(queue)),
            },
            // No thread, no queue: better a log that may block than none.
            Err(_) => Self::to_writer(io::stdout()),
        }
    }

    /// Waits, up to [`LOG_DRAIN_TIMEOUT`], for queued lines to be written,
    /// then reports lines that were dropped. Call it before exiting.
    pub fn flush(&self) {
        match &self.sink {
            None => {}
            Some(Sink::Direct(w)) => {
                let _ = w.lock().unwrap_or_else(PoisonError::into_inner).flush();
            }
            Some(Sink::Queued(q)) => {
                let state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut state, _) = q
                    .drained
                    .wait_timeout_while(state, LOG_DRAIN_TIMEOUT, |s| {
                        s.writing || !s.pending.is_empty()
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                // What is still queued will not be written: count it.
                let stuck = count_lines(&state.pending);
                state.pending.clear();
                let dropped = std::mem::take(&mut state.dropped) + stuck;
                drop(state);
                report_dropped(dropped);
            }
        }
    }

    /// Lines dropped so far and not yet reported (always 0 unless queued).
    pub fn dropped(&self) -> u64 {
        match &self.sink {
            Some(Sink::Queued(q)) => {
                q.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .dropped
            }
            _ => 0,
        }
    }

    /// Whether lines are written at all; lets callers skip formatting.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes one line. A failed write (closed stdout) is not an error for
    /// the server: the log is best effort.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        match &self.sink {
            None => {}
            Some(Sink::Direct(w)) => {
                // Formatted straight into the (locked) sink: no string per line.
                let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = writeln!(w, "{args}");
                let _ = w.flush();
            }
            Some(Sink::Queued(q)) => {
                let mut state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.pending.len() >= LOG_QUEUE_BYTES {
                    state.dropped += 1;
                    return;
                }
                let before = state.pending.len();
                let _ = writeln!(state.pending, "{args}");
                if state.pending.len() > LOG_QUEUE_BYTES {
                    state.pending.truncate(before);
                    state.dropped += 1;
                    return;
                }
                drop(state);
                q.filled.notify_one();
            }
        }
    }
}

/// The writer thread: takes everything queued, writes it with the lock
/// released, and reports drops once the output has caught up.
fn write_queue(q: &Queue, mut w: impl Write) {
    let mut batch = Vec::new();
    let mut state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        while state.pending.is_empty() {
            state.writing = false;
            q.drained.notify_all();
            let mut dropped = 0;
            if state.dropped > 0 {
                // Caught up after a stall: say what was lost, once.
                dropped = std::mem::take(&mut state.dropped);
            }
            if dropped > 0 {
                drop(state);
                report_dropped(dropped);
                state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state = q.filled.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::swap(&mut batch, &mut state.pending);
        state.writing = true;
        drop(state);
        let failed = w.write_all(&batch).and_then(|()| w.flush()).is_err();
        let lost = if failed { count_lines(&batch) } else { 0 };
        batch.clear();
        if batch.capacity() > LOG_QUEUE_BYTES {
            batch.shrink_to(LOG_QUEUE_BYTES);
        }
        state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.dropped += lost;
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn report_dropped(n: u64) {
    if n > 0 {
        log::warn!(
            "{} log line{} dropped: the output was not being read",
            grouped(n),
            if n == 1 { "" } else { "s" }
        );
    }
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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

    /// A writer that blocks until told to go on, as a pipe nobody reads.
    struct Gate(Arc<(Mutex<bool>, Condvar)>, SharedBuf);

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_lines_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = SharedBuf::default();
        let log = AccessLog::queued(Gate(gate.clone(), out.clone()));
        let line = "x".repeat(99);
        let n = 3 * LOG_QUEUE_BYTES / 100;
        let start = std::time::Instant::now();
        for _ in 0..n {
            log.line(format_args!("{line}"));
        }
        assert!(start.elapsed() < Duration::from_secs(5), "logging blocked");
        let dropped = log.dropped();
        // At most the queue and one batch the writer took (each up to
        // LOG_QUEUE_BYTES) are kept: the rest, about a third, is dropped.
        assert!(dropped as usize >= n / 4, "only {dropped} of {n} dropped");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        log.flush();
        let written = count_lines(out.contents().as_bytes());
        assert!(written + dropped <= n as u64);
        // Once drained, new lines flow again.
        log.line(format_args!("after"));
        log.flush();
        assert!(out.contents().ends_with("after\n"));
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1234), "1,234");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
