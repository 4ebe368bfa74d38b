//! The thread that reads the instance and applies its events to the owner
//! table, and what it shares with lookups.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock::{Clock, now};
use super::format::{Record, parse_line};
use super::instance::Instance;
use super::tasks::Tasks;
use super::{Unavailable, io_err};
use crate::owners::table::{Event, Table};

/// How long to wait for the first marker (the clock offset) at start.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// What the reader thread shares with lookups.
#[derive(Debug)]
pub struct Shared {
    /// The owner table.
    pub table: Mutex<Table>,
    /// Events up to this wall-clock time (ns) have been applied.
    pub watermark_ns: AtomicU64,
    /// Markers for the offset and the watermark.
    pub clock: Clock,
    /// When the ring lost events (the reader fell behind): wall-clock
    /// spans (ns) in which the table may miss a socket's close or a send,
    /// so it proves nothing for frames near them.
    pub losses: Mutex<Losses>,
    stop: AtomicBool,
}

/// Spans of lost events, newest last.
#[derive(Debug, Default)]
pub struct Losses {
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
    pub fn overlap(&self, from: u64, to: u64) -> bool {
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
pub struct Kernel {
    /// State shared with the reader.
    pub shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    // Dropped last: the instance outlives its reader.
    instance: Instance,
}

impl Kernel {
    /// Creates the instance and starts reading it; waits for the clock
    /// offset so every event can be placed on the packets' clock.
    pub fn start(table: Table, ports: &[u16]) -> Result<Self, Unavailable> {
        let instance = Instance::create(ports)?;
        let pipe_path = instance.dir().join("trace_pipe");
        let pipe = File::open(&pipe_path).map_err(|e| io_err("open", &pipe_path, &e))?;
        let shared = Arc::new(Shared {
            table: Mutex::new(table),
            watermark_ns: AtomicU64::new(0),
            clock: Clock::open(&instance)?,
            losses: Mutex::new(Losses::default()),
            stop: AtomicBool::new(false),
        });
        let for_reader = Arc::clone(&shared);
        let dir = instance.dir().to_path_buf();
        let reader = std::thread::Builder::new()
            .name("owner-events".into())
            .stack_size(256 * 1024)
            .spawn(move || read_events(pipe, &dir, &for_reader))
            .map_err(|e| Unavailable(format!("cannot start the event reader: {e}")))?;
        let mut kernel = Self {
            shared,
            reader: Some(reader),
            instance,
        };
        kernel.shared.clock.mark();
        let started = std::time::Instant::now();
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
    pub fn dir(&self) -> &Path {
        self.instance.dir()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wakes the reader blocked on the pipe.
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

fn read_events(pipe: File, dir: &Path, shared: &Shared) {
    // Behind the reader, rows wait and the rings fill: it goes first.
    #[cfg(target_os = "linux")]
    crate::sys::raise_thread_priority();
    let own = std::process::id();
    let mut checked = std::time::Instant::now();
    // Losses counted so far, and the watermark when they were counted:
    // events lost since were newer than it.
    let (mut lost, mut lost_since) = (0, 0);
    let mut lines = BufReader::with_capacity(1 << 16, pipe);
    let mut line = String::new();
    let mut tasks = Tasks::default();
    while !shared.stop.load(Ordering::Acquire) {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(record) = parse_line(&line, own) else {
            continue;
        };
        let trace_time = match &record {
            Record::Marker(t) => {
                shared.clock.read_back(*t);
                if checked.elapsed() >= LOSS_CHECK {
                    checked = std::time::Instant::now();
                    let now_lost = ring_losses(dir);
                    let watermark = shared.watermark_ns.load(Ordering::Acquire);
                    if now_lost > lost {
                        if lost == 0 {
                            log::warn!(
                                "kernel events were lost (the system was too busy to read them); frames near those moments are named from /proc or left unknown"
                            );
                        }
                        let to = shared.clock.to_wall(*t).map_or(u64::MAX, |w| {
                            u64::try_from(w.as_nanos()).unwrap_or(u64::MAX)
                        });
                        if let Ok(mut losses) = shared.losses.lock() {
                            losses.add(lost_since, to);
                        }
                        lost = now_lost;
                    }
                    lost_since = watermark;
                }
                *t
            }
            Record::Event(e) => e.ctx().time,
        };
        let mut record = record;
        // Every record, also before the clock is known, keeps the task map
        // whole.
        if let Record::Event(event) = &mut record {
            tasks.resolve(event);
        }
        let exited = match &record {
            Record::Event(Event::Exit { ctx, .. }) => Some(ctx.tid),
            _ => None,
        };
        let Some(wall) = shared.clock.to_wall(trace_time) else {
            tasks.forget(exited);
            continue;
        };
        if let Record::Event(mut event) = record {
            event.ctx_mut().time = wall;
            learn(shared, &event);
        }
        tasks.forget(exited);
        let ns = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
        shared.watermark_ns.fetch_max(ns, Ordering::AcqRel);
    }
}

/// Applies an event, completing from /proc what events do not say (a
/// program's arguments, a process first seen by one of its records).
fn learn(shared: &Shared, event: &Event) {
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
        _ => None,
    };
    let Ok(mut table) = shared.table.lock() else {
        return;
    };
    table.reading(now());
    table.apply(event);
    if !args.is_empty()
        && let Event::Exec { ctx, .. } = event
    {
        table.exec_args(ctx.tgid, args);
    }
    if let Some(pid) = unknown_pid
        && !table.knows(pid)
        && let Some(o) = crate::owners::procfs::describe(pid)
    {
        table.describe(pid, &o.name, o.cmd, o.args);
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
