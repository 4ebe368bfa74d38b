//! What servers print: the readiness line, the access log, and their
//! diagnostics on stderr. None of it may hold a server up: a stdout or
//! stderr that nobody reads, or that cannot be written at all (a full
//! disk), costs lines, counted, never the service or a clean stop.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::error::describe;

/// Prints the readiness line, `listening on ADDR:PORT (PROTO)`, as the first
/// line on stdout, and flushes it so scripts waiting on a pipe see it.
///
/// A stdout that cannot be written (a full disk, a closed pipe) does not
/// stop the server: one warning on stderr says so and carries the
/// readiness line instead, and the server goes on serving with its log
/// lines dropped and counted.
pub fn announce(addr: SocketAddr, proto: &str) {
    let line = readiness_line(addr, proto);
    // One write of the whole line: a failed write leaves nothing in
    // stdout's buffer to come out later, out of place.
    let mut out = io::stdout().lock();
    let written = out
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = written {
        stdout_failed(&e, Some(&line));
    }
}

/// Set once stdout has been found unwritable and said so: the readiness
/// line and the access log share one warning.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Says, once per process, that stdout cannot be written; with the
/// readiness line when it is the line that failed, so a script or a
/// person still learns the address.
fn stdout_failed(e: &io::Error, readiness: Option<&str>) {
    if STDOUT_FAILED.swap(true, Ordering::SeqCst) {
        return;
    }
    let why = describe(e);
    match readiness {
        Some(line) => log::warn!(
            "stdout cannot be written ({why}): log lines are dropped and counted, and the readiness line is here: {line}"
        ),
        None => log::warn!("stdout cannot be written ({why}): log lines are dropped and counted"),
    }
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
/// output drains (or at exit). An output that fails (a full disk, a
/// closed pipe) is said once on stderr, and its lines are dropped and
/// counted the same way.
///
/// On a terminal each line is written as it comes. Into a file or a pipe,
/// lines are gathered for up to [`LOG_FLUSH_INTERVAL`] and written
/// together, as nginx's buffered `access_log` does, so a busy server does
/// not pay a system call per line; [`flush`](Self::flush), called before
/// exiting (SIGTERM and Ctrl-C included), writes what is gathered.
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

/// Into a file or pipe, how long a line may wait for others to share its
/// write: short enough that `server | tail` looks live, long enough that a
/// server answering tens of thousands of requests a second writes its log
/// in a few dozen calls a second instead of one per request.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Bytes gathered that are written at once, without waiting for the
/// interval: a pipe's buffer (64 KiB on Linux) in one write.
pub const LOG_BATCH_BYTES: usize = 64 * 1024;

/// When the log's writer thread writes what is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// As soon as a line arrives: someone is watching (a terminal).
    EachLine,
    /// At most this long after a line arrives, sooner once
    /// [`LOG_BATCH_BYTES`] are queued or when [`AccessLog::flush`] asks:
    /// a file or a pipe gets few large writes instead of one per line.
    Every(Duration),
}

impl Flush {
    /// Line by line on a terminal, else every [`LOG_FLUSH_INTERVAL`].
    pub fn for_output(output: &impl IsTerminal) -> Flush {
        if output.is_terminal() {
            Flush::EachLine
        } else {
            Flush::Every(LOG_FLUSH_INTERVAL)
        }
    }
}

/// How long [`AccessLog::flush`] (and [`Diagnostics::flush`]) waits for
/// queued lines to be written out: a stalled output must not hold up a
/// shutdown for longer than this.
pub const LOG_DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

struct Queue {
    state: Mutex<QueueState>,
    flush: Flush,
    /// What the lines are written to, for the words of its reports.
    output: Output,
    /// Signalled when the writer has something to do: the first line
    /// after it went idle, a full batch, or a flush asked for.
    filled: Condvar,
    /// Signalled when the writer has written everything it took.
    drained: Condvar,
}

/// What a queue writes to: a failure of stdout is said once for the whole
/// process; stderr's own failures and drops cannot be reported on stderr
/// while it fails, or each report would make the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Stdout,
    Stderr,
    Other,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<u8>,
    /// Lines dropped (queue full or output failed) not yet reported.
    dropped: u64,
    /// Why the output failed, when it did since the last report: the
    /// lines were lost to that, not merely to nobody reading.
    failure: Option<String>,
    /// The last write failed: lines are reported once a write succeeds.
    failing: bool,
    /// The writer holds lines it has taken but not yet written.
    writing: bool,
    /// The writer sleeps until a line comes: the next line wakes it (the
    /// others are gathered without a wake-up, which costs a system call).
    idle: bool,
    /// Write what is queued now, without waiting for the interval.
    urgent: bool,
    /// The writer holds off, letting more lines join the first one's
    /// write until the interval ends (or a flush asks).
    gathering: bool,
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
    /// type's docs): at once on a terminal, gathered into few writes into
    /// a file or a pipe.
    pub fn stdout() -> Self {
        let out = io::stdout();
        let flush = Flush::for_output(&out);
        match Queue::spawn(out, flush, Output::Stdout) {
            Some(queue) => AccessLog {
                sink: Some(Sink::Queued(queue)),
            },
            // No thread, no queue: better a log that may block than none.
            None => Self::to_writer(io::stdout()),
        }
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
    /// own, so a writer that blocks never blocks the caller; each line is
    /// written as soon as the thread can.
    pub fn queued(w: impl Write + Send + 'static) -> Self {
        Self::queued_with(w, Flush::EachLine)
    }

    /// As [`queued`](Self::queued), written when `flush` says.
    pub fn queued_with(w: impl Write + Send + 'static, flush: Flush) -> Self {
        match Queue::spawn(w, flush, Output::Other) {
            Some(queue) => AccessLog {
                sink: Some(Sink::Queued(queue)),
            },
            None => Self::to_writer(io::stdout()),
        }
    }

    /// Writes what is queued now and waits, up to [`LOG_DRAIN_TIMEOUT`],
    /// for it to be written, then reports lines that were dropped. Call it
    /// before exiting: lines still gathered would be lost.
    pub fn flush(&self) {
        match &self.sink {
            None => {}
            Some(Sink::Direct(w)) => {
                let _ = w.lock().unwrap_or_else(PoisonError::into_inner).flush();
            }
            Some(Sink::Queued(q)) => {
                let mut state = q.drain(LOG_DRAIN_TIMEOUT);
                // What is still queued will not be written: count it.
                let stuck = count_lines(&state.pending);
                state.pending.clear();
                let dropped = std::mem::take(&mut state.dropped) + stuck;
                let failure = state.failure.take();
                drop(state);
                q.report_dropped(dropped, failure);
            }
        }
    }

    /// Lines dropped so far and not yet reported (always 0 unless queued).
    pub fn dropped(&self) -> u64 {
        match &self.sink {
            Some(Sink::Queued(q)) => q.lock().dropped,
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
            Some(Sink::Queued(q)) => q.push(1, |pending| {
                let _ = writeln!(pending, "{args}");
            }),
        }
    }

    /// Writes one line already rendered (without its newline), as
    /// [`line`](Self::line) does, but copied as it is: no formatting
    /// machinery per line for a caller that keeps its own buffer.
    pub fn line_str(&self, line: &str) {
        match &self.sink {
            Some(Sink::Queued(q)) => q.push(1, |pending| {
                pending.extend_from_slice(line.as_bytes());
                pending.push(b'\n');
            }),
            _ => self.line(format_args!("{line}")),
        }
    }
}

/// A server's diagnostics (what the `log` crate's records become) on
/// stderr, through a bounded queue written by a thread of its own, as the
/// access log's: a stderr nobody reads (`server 2>&1 | less` left paused)
/// or one that fails costs diagnostics, never the server, and never its
/// stop on a signal. Drops are counted, and said on stderr once it is read
/// again.
///
/// It is a [`Write`] that takes whole records, as a logger's target:
/// each `write` is queued whole (or dropped whole), never blocking.
/// [`Diagnostics::stderr`] is the process's one stderr queue; call
/// [`flush_diagnostics`] before exiting.
///
/// ```
/// use std::io::Write;
/// let buf = testkit::SharedBuf::default();
/// let mut diag = net_core::output::Diagnostics::queued(buf.clone());
/// diag.write_all(b"[WARN] something worth saying\n")?;
/// diag.flush_queue();
/// assert_eq!(buf.contents(), "[WARN] something worth saying\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Diagnostics {
    queue: Option<Arc<Queue>>,
}

/// The process's stderr queue, started by the first [`Diagnostics::stderr`].
static STDERR_QUEUE: OnceLock<Option<Arc<Queue>>> = OnceLock::new();

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics")
            .field("queued", &self.queue.is_some())
            .finish()
    }
}

impl Diagnostics {
    /// Standard error, through the process's one queue (started on the
    /// first call; every later one shares it). Records are written as they
    /// come: diagnostics are few, and someone may be watching.
    pub fn stderr() -> Diagnostics {
        let queue = STDERR_QUEUE
            .get_or_init(|| Queue::spawn(io::stderr(), Flush::EachLine, Output::Stderr));
        Diagnostics {
            queue: queue.clone(),
        }
    }

    /// Records go to `w` through a queue of their own (tests, embedding).
    pub fn queued(w: impl Write + Send + 'static) -> Diagnostics {
        Diagnostics {
            queue: Queue::spawn(w, Flush::EachLine, Output::Stderr),
        }
    }

    /// Waits, up to [`LOG_DRAIN_TIMEOUT`], for what is queued to be
    /// written; what is not by then is left (the process may exit).
    pub fn flush_queue(&self) {
        if let Some(q) = &self.queue {
            drop(q.drain(LOG_DRAIN_TIMEOUT));
        }
    }

    /// Records dropped so far and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.queue.as_ref().map_or(0, |q| q.lock().dropped)
    }
}

impl Write for Diagnostics {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.queue {
            Some(q) => q.push(count_lines(buf).max(1), |pending| {
                pending.extend_from_slice(buf)
            }),
            // No thread for the queue: written as a logger would.
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    /// Queued records are written by the queue's thread; waiting for it
    /// here would make the caller wait on stderr after all.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes what the process's stderr queue holds, waiting up to
/// [`LOG_DRAIN_TIMEOUT`]; nothing when it was never started. Call it last
/// before exiting, after everything that reports (the access log's
/// [`flush`](AccessLog::flush) reports its drops here).
pub fn flush_diagnostics() {
    if let Some(Some(q)) = STDERR_QUEUE.get() {
        drop(q.drain(LOG_DRAIN_TIMEOUT));
    }
}

/// Writes one line of `text` on stderr: through the process's stderr
/// queue when it was started (a server's, which must not block), as
/// `eprintln!` otherwise.
pub fn eprint_line(text: fmt::Arguments<'_>) {
    match STDERR_QUEUE.get() {
        Some(Some(q)) => q.push(1, |pending| {
            let _ = writeln!(pending, "{text}");
        }),
        _ => eprintln!("{text}"),
    }
}

/// Whether records written through [`Diagnostics`] should carry colours,
/// as a logger writing to stderr itself would choose: stderr is a
/// terminal, and neither `NO_COLOR` nor `RUST_LOG_STYLE` (which the logger
/// reads itself) is set.
pub fn diagnostics_in_color() -> bool {
    io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var_os("RUST_LOG_STYLE").is_none()
}

impl Queue {
    /// A queue for `w` and the thread that writes it; None if no thread
    /// could be started.
    fn spawn(w: impl Write + Send + 'static, flush: Flush, output: Output) -> Option<Arc<Queue>> {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            flush,
            output,
            filled: Condvar::new(),
            drained: Condvar::new(),
        });
        let writer_queue = queue.clone();
        let name = match output {
            Output::Stderr => "stderr-writer",
            _ => "log-writer",
        };
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(64 * 1024)
            .spawn(move || {
                // Never preempt the server to write its log: the lines
                // wait for the next moment a CPU is free (see `sched`).
                if let Err(e) = crate::sched::batch_current_thread() {
                    log::debug!("the log's thread keeps the default scheduling: {e}");
                }
                write_queue(&writer_queue, w)
            })
            .ok()
            .map(|_| queue)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for what is queued to be written now and waits, up to
    /// `timeout`, for the writer to have written it; returns the state.
    fn drain(&self, timeout: Duration) -> std::sync::MutexGuard<'_, QueueState> {
        let mut state = self.lock();
        state.urgent = true;
        self.filled.notify_all();
        self.drained
            .wait_timeout_while(state, timeout, |s| s.writing || !s.pending.is_empty())
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Appends `lines` lines (written by `write`) unless the queue is
    /// full, waking the writer only when it needs it.
    fn push(&self, lines: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.lock();
        if state.pending.len() >= LOG_QUEUE_BYTES {
            state.dropped += lines;
            return;
        }
        let before = state.pending.len();
        write(&mut state.pending);
        let after = state.pending.len();
        if after > LOG_QUEUE_BYTES {
            state.pending.truncate(before);
            state.dropped += lines;
            return;
        }
        // Only a wake-up the writer needs: while it writes or
        // gathers, it finds the new line without one.
        let batch_full = matches!(self.flush, Flush::Every(_))
            && before < LOG_BATCH_BYTES
            && after >= LOG_BATCH_BYTES;
        if !(state.idle || batch_full) {
            return;
        }
        state.idle = false;
        state.urgent |= batch_full;
        drop(state);
        self.filled.notify_one();
    }

    /// Says on stderr that `n` lines were dropped, and why. Through the
    /// `log` crate, so a server's report goes through its stderr queue and
    /// never blocks either.
    fn report_dropped(&self, n: u64, failure: Option<String>) {
        if n == 0 {
            return;
        }
        let (what, output) = match self.output {
            Output::Stdout => ("log line", "stdout"),
            Output::Stderr => ("diagnostic line", "stderr"),
            Output::Other => ("log line", "the output"),
        };
        let why = match failure {
            Some(reason) => format!("{output} could not be written ({reason})"),
            None if self.output == Output::Stderr => "stderr was not being read".to_string(),
            None => "the output was not being read".to_string(),
        };
        log::warn!(
            "{} {what}{} dropped: {why}",
            grouped(n),
            if n == 1 { "" } else { "s" }
        );
    }

    /// Says once that the output fails, as it first does: stdout's once
    /// for the process (the readiness line may have said it already);
    /// stderr's never, on the stderr that fails.
    fn warn_failed(&self, e: &io::Error) {
        match self.output {
            Output::Stdout => stdout_failed(e, None),
            Output::Stderr => {}
            Output::Other => log::warn!(
                "the log cannot be written ({}): its lines are dropped and counted",
                describe(e)
            ),
        }
    }
}

/// The writer thread: takes everything queued (after gathering for the
/// interval, with [`Flush::Every`]), writes it with the lock released, and
/// reports drops once the output has caught up.
fn write_queue(q: &Queue, mut w: impl Write) {
    let mut batch = Vec::new();
    // Whether this queue's failure was said: once is enough.
    let mut warned = false;
    let mut state = q.lock();
    loop {
        while state.pending.is_empty() {
            state.writing = false;
            state.urgent = false;
            q.drained.notify_all();
            // Caught up after a stall, or working again after failing:
            // say what was lost, once. Not while it fails: stderr's
            // report would be one more line lost, and the next report.
            if state.dropped > 0 && !state.failing {
                let dropped = std::mem::take(&mut state.dropped);
                let failure = state.failure.take();
                drop(state);
                q.report_dropped(dropped, failure);
                state = q.lock();
                continue;
            }
            state.idle = true;
            state = q.filled.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.idle = false;
        if let Flush::Every(interval) = q.flush {
            // Let the lines that follow this one share its write.
            let deadline = Instant::now() + interval;
            state.gathering = true;
            while !state.urgent {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = q
                    .filled
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            state.gathering = false;
        }
        state.urgent = false;
        std::mem::swap(&mut batch, &mut state.pending);
        state.writing = true;
        drop(state);
        let written = w.write_all(&batch).and_then(|()| w.flush());
        let lost = if written.is_err() {
            count_lines(&batch)
        } else {
            0
        };
        batch.clear();
        if batch.capacity() > LOG_QUEUE_BYTES {
            batch.shrink_to(LOG_QUEUE_BYTES);
        }
        state = q.lock();
        match written {
            Ok(()) => state.failing = false,
            Err(e) => {
                state.dropped += lost;
                state.failing = true;
                state.failure = Some(describe(&e));
                if !warned {
                    warned = true;
                    // The warning goes through the `log` crate, which may
                    // lead back to this very queue: not under its lock.
                    drop(state);
                    q.warn_failed(&e);
                    state = q.lock();
                }
            }
        }
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
        log.line_str("third, as it is");
        assert_eq!(
            buf.contents(),
            "sent \"A\" to 127.0.0.1:1\nsecond\nthird, as it is\n"
        );
        // The same through the writer thread's queue.
        let buf = SharedBuf::default();
        let log = AccessLog::queued_with(buf.clone(), Flush::Every(LOG_FLUSH_INTERVAL));
        log.line(format_args!("one {}", 1));
        log.line_str("two, as it is");
        log.flush();
        assert_eq!(buf.contents(), "one 1\ntwo, as it is\n");
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
    fn diagnostics_never_block_on_a_stalled_stderr() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = SharedBuf::default();
        let mut diag = Diagnostics::queued(Gate(gate.clone(), out.clone()));
        let record = format!("[WARN  server] {}\n", "x".repeat(85));
        let n = 3 * LOG_QUEUE_BYTES / record.len();
        let start = Instant::now();
        for _ in 0..n {
            diag.write_all(record.as_bytes()).unwrap();
            diag.flush().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "a record blocked");
        let dropped = diag.dropped();
        assert!(dropped as usize >= n / 4, "only {dropped} of {n} dropped");
        // The wait before an exit is bounded too.
        let start = Instant::now();
        diag.flush_queue();
        assert!(start.elapsed() < LOG_DRAIN_TIMEOUT + Duration::from_secs(5));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        diag.write_all(b"after\n").unwrap();
        assert!(eventually(|| out.contents().ends_with("after\n")));
        assert_eq!(
            count_lines(out.contents().as_bytes()) + dropped,
            n as u64 + 1
        );
    }

    /// An output every write to fails, as a full disk's.
    #[derive(Clone, Default)]
    struct Full(Arc<Mutex<usize>>);

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            *self.0.lock().unwrap() += 1;
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_output_costs_its_lines_counted_never_the_caller() {
        let out = Full::default();
        let log = AccessLog::queued(out.clone());
        for i in 0..100 {
            log.line(format_args!("line {i}"));
        }
        assert!(eventually(|| log.dropped() == 100), "{}", log.dropped());
        // Every batch was tried: the output may come back.
        assert!(*out.0.lock().unwrap() >= 1);
        let start = Instant::now();
        log.flush();
        assert!(start.elapsed() < LOG_DRAIN_TIMEOUT + Duration::from_secs(5));
        assert_eq!(log.dropped(), 0, "the count is reported at the flush");
    }

    /// Counts the writes that reach the output, as system calls would.
    #[derive(Clone, Default)]
    struct Counted(Arc<Mutex<usize>>, SharedBuf);

    impl Counted {
        fn writes(&self) -> usize {
            *self.0.lock().unwrap()
        }
    }

    impl Write for Counted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.0.lock().unwrap() += 1;
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Waits (bounded) for `done`; false if it never came.
    fn eventually(done: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        done()
    }

    /// Whether the writer is holding off for the interval with lines in
    /// hand: the moment a writer that wrote early would have written.
    fn gathering(log: &AccessLog) -> bool {
        let Some(Sink::Queued(q)) = &log.sink else {
            panic!("not a queued log")
        };
        let state = q.lock();
        state.gathering && !state.pending.is_empty()
    }

    #[test]
    fn gathered_lines_share_one_write_and_flush_writes_them() {
        let out = Counted::default();
        // An interval no test outlives: only `flush` can write these.
        let log = AccessLog::queued_with(out.clone(), Flush::Every(Duration::from_secs(3600)));
        for i in 0..1_000 {
            log.line(format_args!("line {i}"));
        }
        assert!(
            eventually(|| gathering(&log)),
            "the writer never took the lines up"
        );
        assert_eq!(out.writes(), 0, "written before the interval or a flush");
        log.flush();
        assert_eq!(out.writes(), 1);
        let text = out.1.contents();
        assert_eq!(text.lines().count(), 1_000);
        assert!(text.starts_with("line 0\nline 1\n") && text.ends_with("line 999\n"));
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn a_full_batch_is_written_without_waiting_for_the_interval() {
        let out = Counted::default();
        let log = AccessLog::queued_with(out.clone(), Flush::Every(Duration::from_secs(3600)));
        let line = "x".repeat(99);
        for _ in 0..LOG_BATCH_BYTES / 100 + 1 {
            log.line(format_args!("{line}"));
        }
        assert!(
            eventually(|| out.writes() > 0),
            "a full batch stayed queued"
        );
        assert!(out.1.contents().len() >= LOG_BATCH_BYTES);
    }

    #[test]
    fn gathered_lines_are_written_after_the_interval() {
        let out = Counted::default();
        let log = AccessLog::queued_with(out.clone(), Flush::Every(Duration::from_millis(20)));
        log.line(format_args!("first"));
        assert!(eventually(|| out.1.contents() == "first\n"));
        log.line(format_args!("second"));
        assert!(eventually(|| out.1.contents() == "first\nsecond\n"));
    }

    #[test]
    fn each_line_is_written_as_it_comes_without_a_flush() {
        let out = Counted::default();
        let log = AccessLog::queued(out.clone());
        for i in 0..3 {
            log.line(format_args!("line {i}"));
            let want = (0..=i).map(|j| format!("line {j}\n")).collect::<String>();
            assert!(
                eventually(|| out.1.contents() == want),
                "line {i} not written"
            );
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1234), "1,234");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
