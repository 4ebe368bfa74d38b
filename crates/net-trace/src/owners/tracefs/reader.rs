//! The thread that reads the instance's per-CPU rings in binary and
//! applies their events to the owner table in time order, and what it
//! shares with lookups.
//!
//! Each CPU's `per_cpu/cpuN/trace_pipe_raw` hands out whole ring-buffer
//! pages (see [`super::page`]), read without waiting; one thread polls
//! them all. A CPU's records come in time order, but the CPUs' do not come
//! together: each ring has a watermark, the time up to which all its
//! records have been read (its newest record's, or, when it was found
//! empty, the time of that look less [`EMPTY_SLACK`]), and records are
//! applied, merged by time, only up to the lowest watermark. That lowest
//! watermark is what lookups wait for.
//!
//! A page flagged with events the ring lost before it marks the span
//! between that CPU's previous record and the page's first as a loss (the
//! table then proves nothing for frames near it), counts them, and is said
//! once at the time.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::clock::{Clock, now};
use super::format::{Decoder, Record};
use super::instance::{EVENTS, Instance, OPTIONAL_IPV6};
use super::page::{Layout, Missed, Page, ns};
use super::tasks::Tasks;
use super::{Unavailable, io_err};
use crate::owners::evidence::{Event, Table};

/// How long to wait for the first marker (the clock offset) at start.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// A record is committed to its ring within this long of its time stamp
/// (the kernel writes it with preemption off): a ring found empty holds
/// every record up to the look's time less this.
pub(crate) const EMPTY_SLACK: Duration = Duration::from_millis(1);

/// How long the reader sleeps in `poll` when nothing comes: the longest a
/// stop or a loss check waits.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// After a wake-up, how long the reader lets records gather before it
/// reads: a flood then costs a read per page, not a wake-up per record,
/// and lookups wait on the order of [`crate::owners::MARGIN`] anyway.
const GATHER: Duration = Duration::from_millis(1);

/// Records applied under one hold of the table's lock: lookups from the
/// capture thread get their turn between batches.
const APPLY_BATCH: usize = 512;

/// Processes remembered as not describable by /proc, at most; past it the
/// set starts over.
const MAX_TRIED: usize = 65_536;

/// The reader is said to be behind when what it has applied is this much
/// older than now.
const BEHIND: Duration = Duration::from_secs(1);

/// What the reader thread shares with lookups.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The owner table.
    pub(crate) table: Mutex<Table>,
    /// Events up to this wall-clock time (ns) have been applied.
    pub(crate) watermark_ns: AtomicU64,
    /// Markers for the offset and the watermark.
    pub(crate) clock: Clock,
    /// When the ring lost events (the reader fell behind): wall-clock
    /// spans (ns) in which the table may miss a socket's close or a send,
    /// so it proves nothing for frames near them.
    pub(crate) losses: Mutex<Losses>,
    /// Events the rings lost, as far as they said (at least one for each
    /// loss whose count they could not give).
    pub(crate) lost_events: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// Notes that events between trace-clock times `from` and `to` were
    /// lost (`count` of them), and says so the first time.
    fn lost(&self, from: u64, to: u64, count: u64, where_: &str) {
        let wall = |t: u64| {
            self.clock
                .to_wall(ns(t))
                .map(|w| u64::try_from(w.as_nanos()).unwrap_or(u64::MAX))
        };
        let (from, to) = (wall(from).unwrap_or(0), wall(to).unwrap_or(u64::MAX));
        self.lost_wall(from, to, count, where_);
    }

    /// As [`Shared::lost`], with wall-clock times (ns).
    fn lost_wall(&self, from: u64, to: u64, count: u64, where_: &str) {
        if let Ok(mut losses) = self.losses.lock() {
            losses.add(from, to);
        }
        if self.lost_events.fetch_add(count, Ordering::AcqRel) == 0 {
            log::warn!(
                "kernel events were lost ({where_}: the system was too busy to read them); frames near those moments are named from /proc or left unknown, and counted at the end"
            );
        }
    }
}

/// Spans of lost events, newest last.
#[derive(Debug, Default)]
pub(crate) struct Losses {
    spans: VecDeque<(u64, u64)>,
}

/// Loss spans remembered; older ones are merged into the oldest kept.
const MAX_LOSS_SPANS: usize = 64;

impl Losses {
    /// Records that events between `from` and `to` (ns) may be missing.
    fn add(&mut self, from: u64, to: u64) {
        if self.spans.len() >= MAX_LOSS_SPANS
            && let (Some(a), Some(b)) = (self.spans.pop_front(), self.spans.front_mut())
        {
            b.0 = a.0.min(b.0);
        }
        self.spans.push_back((from, to.max(from)));
    }

    /// Whether events between `from` and `to` (ns) may be missing.
    pub(crate) fn overlap(&self, from: u64, to: u64) -> bool {
        self.spans.iter().any(|&(a, b)| a <= to && from <= b)
    }
}

/// How often the reader checks the ring's loss counters.
const LOSS_CHECK: Duration = Duration::from_millis(100);

/// How many events the rings of the instance at `dir` overwrote or
/// dropped so far, over all CPUs (`per_cpu/cpuN/stats`).
fn ring_losses(dir: &Path) -> u64 {
    let Ok(cpus) = fs::read_dir(dir.join("per_cpu")) else {
        return 0;
    };
    cpus.flatten()
        .filter_map(|cpu| fs::read_to_string(cpu.path().join("stats")).ok())
        .map(|stats| stats_losses(&stats))
        .sum()
}

/// The events a `stats` file counts as lost.
fn stats_losses(stats: &str) -> u64 {
    stats
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            matches!(name.trim(), "overrun" | "commit overrun" | "dropped events")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The running kernel source: instance, reader thread.
#[derive(Debug)]
pub(crate) struct Kernel {
    /// State shared with the reader.
    pub(crate) shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    // Dropped last: the instance outlives its reader.
    instance: Instance,
}

impl Kernel {
    /// Creates the instance (rings of `ring_kb` per CPU) and starts
    /// reading it; waits for the clock offset so every event can be placed
    /// on the packets' clock.
    pub(crate) fn start(table: Table, ports: &[u16], ring_kb: u32) -> Result<Self, Unavailable> {
        let instance = Instance::create(ports, ring_kb)?;
        let dir = instance.dir().to_path_buf();
        let events = dir.join("events");
        let decoder = Decoder::load(&events, &EVENTS, &[OPTIONAL_IPV6])?;
        // The page header is described once, at the top of tracefs (an
        // instance's `events` has only the events).
        let top = dir.ancestors().nth(2).unwrap_or(&dir).join("events");
        let layout = [&events, &top]
            .iter()
            .find_map(|d| super::read_text(&d.join("header_page")).ok())
            .and_then(|h| Layout::parse(&h))
            .ok_or_else(|| Unavailable("events/header_page cannot be read".into()))?;
        let rings = open_rings(&dir)?;
        let shared = Arc::new(Shared {
            table: Mutex::new(table),
            watermark_ns: AtomicU64::new(0),
            clock: Clock::open(&instance)?,
            losses: Mutex::new(Losses::default()),
            lost_events: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let for_reader = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("owner-events".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                Reader {
                    rings,
                    decoder,
                    layout,
                    dir,
                    tasks: Tasks::default(),
                    tried: HashSet::new(),
                }
                .run(&for_reader);
            })
            .map_err(|e| Unavailable(format!("cannot start the event reader: {e}")))?;
        let mut kernel = Self {
            shared,
            reader: Some(reader),
            instance,
        };
        kernel.shared.clock.mark();
        let started = Instant::now();
        while kernel.shared.clock.offset_ns.load(Ordering::Acquire) == 0 {
            if started.elapsed() > START_TIMEOUT {
                kernel.stop();
                return Err(Unavailable("no clock marker came back".into()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(kernel)
    }

    /// The instance's directory.
    pub(crate) fn dir(&self) -> &Path {
        self.instance.dir()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wakes the reader waiting in `poll`.
        let _ = fs::write(self.instance.dir().join("trace_marker"), "stop\n");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens every CPU's `trace_pipe_raw`, to be read without waiting.
fn open_rings(dir: &Path) -> Result<Vec<Ring>, Unavailable> {
    let per_cpu = dir.join("per_cpu");
    let entries = fs::read_dir(&per_cpu).map_err(|e| io_err("read", &per_cpu, &e))?;
    let mut rings = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(cpu) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path().join("trace_pipe_raw");
        rings.push(Ring::new(cpu, open_nonblocking(&path)?));
    }
    if rings.is_empty() {
        return Err(Unavailable(format!("no CPU under {}", per_cpu.display())));
    }
    rings.sort_by_key(|r| r.cpu);
    Ok(rings)
}

#[cfg(target_os = "linux")]
fn open_nonblocking(path: &Path) -> Result<File, Unavailable> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_err("open", path, &e))
}

#[cfg(not(target_os = "linux"))]
fn open_nonblocking(path: &Path) -> Result<File, Unavailable> {
    Err(Unavailable(format!(
        "{} needs Linux's tracing rings",
        path.display()
    )))
}

/// Trace-clock time now, in ns.
fn trace_now() -> Option<u64> {
    #[cfg(target_os = "linux")]
    return crate::sys::monotonic().and_then(|t| u64::try_from(t.as_nanos()).ok());
    #[cfg(not(target_os = "linux"))]
    None
}

/// One CPU's ring.
#[derive(Debug)]
struct Ring {
    cpu: u32,
    file: File,
    /// Records read and not yet applied, oldest first (trace-clock ns).
    queue: VecDeque<(u64, Record)>,
    /// Every record of this CPU up to this time has been read.
    upto: u64,
    /// The newest record's time.
    last: u64,
}

/// What one read of a ring gave.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// A page.
    Page,
    /// Nothing: the ring was empty.
    Empty,
}

impl Ring {
    fn new(cpu: u32, file: File) -> Self {
        Self {
            cpu,
            file,
            queue: VecDeque::new(),
            upto: 0,
            last: 0,
        }
    }

    /// Reads one page into the queue.
    fn read(
        &mut self,
        buf: &mut [u8],
        layout: &Layout,
        decoder: &Decoder,
        shared: &Shared,
    ) -> std::io::Result<Got> {
        let before = trace_now();
        let n = match self.file.read(buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(Got::Page),
            Err(e) => return Err(e),
        };
        if n == 0 {
            if let Some(t) = before {
                let slack = u64::try_from(EMPTY_SLACK.as_nanos()).unwrap_or(0);
                self.upto = self.upto.max(t.saturating_sub(slack));
            }
            return Ok(Got::Empty);
        }
        self.take_page(&buf[..n], layout, decoder, shared);
        Ok(Got::Page)
    }

    /// Decodes a page into the queue, noting what the ring lost before
    /// it.
    fn take_page(&mut self, bytes: &[u8], layout: &Layout, decoder: &Decoder, shared: &Shared) {
        let page = match Page::parse(bytes, layout) {
            Ok(page) => page,
            Err(e) => {
                // Its records are lost to the table: a loss like any other.
                shared.lost(self.last, self.last, 1, &format!("{e}, CPU {}", self.cpu));
                return;
            }
        };
        if page.missed != Missed::None {
            let count = match page.missed {
                Missed::Count(n) => n.max(1),
                _ => 1,
            };
            let first = page
                .records()
                .next()
                .and_then(Result::ok)
                .map_or(page.time, |(t, _)| t);
            shared.lost(
                self.last,
                first.max(self.last),
                count,
                &format!("the ring of CPU {} overflowed", self.cpu),
            );
        }
        for record in page.records() {
            match record {
                Ok((time, payload)) => {
                    self.last = self.last.max(time);
                    if let Some(r) = decoder.decode(payload, ns(time)) {
                        self.queue.push_back((time, r));
                    }
                }
                Err(e) => {
                    shared.lost(self.last, self.last, 1, &format!("{e}, CPU {}", self.cpu));
                    break;
                }
            }
        }
        self.upto = self.upto.max(self.last);
    }
}

/// The reader thread's state.
struct Reader {
    rings: Vec<Ring>,
    decoder: Decoder,
    layout: Layout,
    dir: PathBuf,
    tasks: Tasks,
    /// Processes /proc could not describe (see `learn`).
    tried: HashSet<u32>,
}

impl Reader {
    fn run(mut self, shared: &Shared) {
        // Behind the reader, rows wait and the rings fill: it goes first.
        #[cfg(target_os = "linux")]
        crate::sys::raise_thread_priority();
        let mut buf = vec![0u8; self.layout.page_len()];
        let mut checked = Instant::now();
        // Losses the rings' counters showed so far, and the watermark when
        // they were counted: events lost since were newer than it.
        let (mut counted, mut counted_at) = (0, 0);
        let mut behind_said = false;
        while !shared.stop.load(Ordering::Acquire) {
            // Records held for another ring's watermark: look again as
            // soon as that ring's emptiness can prove them in order.
            let held = self.rings.iter().any(|r| !r.queue.is_empty());
            if self.wait(if held { EMPTY_SLACK } else { IDLE_WAIT }) {
                std::thread::sleep(GATHER);
            }
            loop {
                let mut more = false;
                let mut failed = None;
                for (i, ring) in self.rings.iter_mut().enumerate() {
                    match ring.read(&mut buf, &self.layout, &self.decoder, shared) {
                        Ok(Got::Page) => more = true,
                        Ok(Got::Empty) => {}
                        Err(e) => failed = Some((i, e)),
                    }
                }
                if let Some((i, e)) = failed {
                    // Its events are lost from here on: said, and the
                    // other CPUs' records still go in.
                    let ring = self.rings.remove(i);
                    shared.lost(
                        ring.last,
                        u64::MAX,
                        1,
                        &format!("CPU {}'s ring: {e}", ring.cpu),
                    );
                    if self.rings.is_empty() {
                        return;
                    }
                }
                self.apply_ready(shared);
                if !more || shared.stop.load(Ordering::Acquire) {
                    break;
                }
            }
            if checked.elapsed() >= LOSS_CHECK {
                checked = Instant::now();
                let watermark = shared.watermark_ns.load(Ordering::Acquire);
                // Counters that moved past what the pages said: lost
                // somewhere since the last look.
                let now_lost = ring_losses(&self.dir);
                if now_lost > counted && now_lost > shared.lost_events.load(Ordering::Acquire) {
                    let extra = now_lost - counted.max(shared.lost_events.load(Ordering::Acquire));
                    shared.lost_wall(counted_at, u64::MAX, extra, "the rings' counters");
                }
                counted = counted.max(now_lost);
                counted_at = watermark;
                let now_ns = u64::try_from(now().as_nanos()).unwrap_or(0);
                let behind = Duration::from_nanos(now_ns.saturating_sub(watermark));
                if watermark != 0 && behind > BEHIND && !behind_said {
                    behind_said = true;
                    log::warn!(
                        "the kernel-event reader is {:.1} s behind (the system is busy); frames it cannot name in time are shown without a process and counted at the end",
                        behind.as_secs_f64()
                    );
                }
            }
        }
    }

    /// Waits for any ring to have records, at most `timeout`; whether one
    /// had.
    fn wait(&self, timeout: Duration) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let fds: Vec<_> = self.rings.iter().map(|r| r.file.as_fd()).collect();
            crate::sys::wait_readable_any(&fds, timeout).unwrap_or_else(|_| {
                std::thread::sleep(GATHER);
                false
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            std::thread::sleep(timeout);
            false
        }
    }

    /// Applies, merged by time, every record up to the lowest of the
    /// rings' watermarks, and publishes it.
    fn apply_ready(&mut self, shared: &Shared) {
        let Some(upto) = self.rings.iter().map(|r| r.upto).min() else {
            return;
        };
        let mut batch = Vec::new();
        loop {
            let next = self
                .rings
                .iter_mut()
                .filter(|r| r.queue.front().is_some_and(|(t, _)| *t <= upto))
                .min_by_key(|r| r.queue.front().map_or(u64::MAX, |(t, _)| *t));
            let Some((_, record)) = next.and_then(|r| r.queue.pop_front()) else {
                break;
            };
            batch.push(record);
            if batch.len() >= APPLY_BATCH {
                self.apply(shared, &mut batch);
            }
        }
        self.apply(shared, &mut batch);
        if let Some(wall) = shared.clock.to_wall(ns(upto)) {
            let wall = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
            shared.watermark_ns.fetch_max(wall, Ordering::AcqRel);
        }
    }

    /// Applies records in order, under one hold of the table's lock.
    fn apply(&mut self, shared: &Shared, batch: &mut Vec<Record>) {
        if batch.is_empty() {
            return;
        }
        let mut events = Vec::with_capacity(batch.len());
        for record in batch.drain(..) {
            match record {
                Record::Marker(_) => shared.clock.read_back(),
                Record::Event(mut event) => {
                    // Every record, also before the clock is known, keeps
                    // the task map whole.
                    self.tasks.resolve(&mut event);
                    let exited = match &event {
                        Event::Exit { ctx, .. } => Some(ctx.tid),
                        _ => None,
                    };
                    if let Some(wall) = shared.clock.to_wall(event.ctx().time) {
                        event.ctx_mut().time = wall;
                        events.push(event);
                    }
                    self.tasks.forget(exited);
                }
            }
        }
        learn(shared, &events, &mut self.tried);
    }
}

/// Applies events, completing from /proc what events do not say (a
/// program's arguments, a process first seen by one of its records).
/// `tried` holds the processes /proc was already asked about and could
/// not describe (gone): a process that sends on after exiting its main
/// thread, or many records of one short-lived process, cost one look.
fn learn(shared: &Shared, events: &[Event], tried: &mut HashSet<u32>) {
    if events.is_empty() {
        return;
    }
    let Ok(mut table) = shared.table.lock() else {
        return;
    };
    table.reading(now());
    for event in events {
        // Read while the process still runs the program just exec'd (its
        // name says so): by now it may have run another.
        let args = match event {
            Event::Exec { ctx, .. } => {
                let args = crate::owners::procfs::args(ctx.tgid);
                let comm = fs::read_to_string(format!("/proc/{}/comm", ctx.tgid));
                if comm.is_ok_and(|c| c.trim_end_matches('\n') == ctx.comm) {
                    args
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        let unknown_pid = match event {
            Event::State { ctx, .. } | Event::Send { ctx, .. } | Event::Route { ctx, .. }
                if !ctx.irq =>
            {
                Some(ctx.tgid)
            }
            // A new process, or a new program: worth a look again.
            Event::Fork { child, .. } => {
                tried.remove(child);
                None
            }
            Event::Exec { ctx, .. } => {
                tried.remove(&ctx.tgid);
                None
            }
            _ => None,
        };
        table.apply(event);
        if !args.is_empty()
            && let Event::Exec { ctx, .. } = event
        {
            table.exec_args(ctx.tgid, args);
        }
        if let Some(pid) = unknown_pid
            && !table.knows(pid)
            && !tried.contains(&pid)
        {
            match crate::owners::procfs::describe(pid) {
                Some(o) => table.describe(pid, &o.name, o.cmd, o.args),
                None => {
                    if tried.len() >= MAX_TRIED {
                        tried.clear();
                    }
                    tried.insert(pid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_losses() {
        let clean = "entries: 0\noverrun: 0\ncommit overrun: 0\nbytes: 0\noldest event ts:     0.000000\nnow ts:  1681.005475\ndropped events: 0\nread events: 0\n";
        assert_eq!(stats_losses(clean), 0);
        assert_eq!(
            stats_losses(&clean.replace("overrun: 0\ncommit", "overrun: 12\ncommit")),
            12
        );
        assert_eq!(
            stats_losses(&clean.replace("dropped events: 0", "dropped events: 1")),
            1
        );
        let mut spans = Losses::default();
        spans.add(100, 200);
        assert!(spans.overlap(150, 160) && spans.overlap(50, 100) && spans.overlap(200, 300));
        assert!(!spans.overlap(0, 99) && !spans.overlap(201, 300));
        for i in 0..100 {
            spans.add(1000 + i, 1000 + i);
        }
        assert!(spans.overlap(150, 160), "merged, never forgotten");
    }
}
