//! Kernel events from a private tracefs instance.
//!
//! The instance `instances/net-trace-PID` has only the events owner proof
//! needs, `record-tgid` on (each record's line has the same columns;
//! the process id printed there is never trusted, see `Tasks`) and the
//! `fields` option on (every field printed raw, among
//! them `skaddr`, which the normal text of `inet_sock_set_state` omits).
//! Its clock is `mono`; the offset to the packets' CLOCK_REALTIME is
//! measured with markers written to the instance's `trace_marker` at a
//! known wall-clock time, so no clock is read through `unsafe`.
//!
//! Dynamic events (kprobes, fprobes, eprobes, BTF-typed tracepoint probes)
//! would give ports straight from `skb->sk`, but this kernel's tracefs
//! accepts only uprobes (`CONFIG_KPROBE_EVENTS`, `CONFIG_FPROBE` and
//! `CONFIG_EPROBE_EVENTS` are off; its README lists no `t[`/`f[` forms), so
//! none are created: nothing global is touched beyond the instance, which
//! a guard removes on drop (normal exit, Ctrl-C and SIGTERM through the
//! shutdown handler, panic unwinding); instances left by a killed run are
//! removed at the next start when their pid is dead.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::table::{Ctx, Event, Table};

/// Where tracefs lives.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// The instance name's prefix; the pid follows.
const PREFIX: &str = "net-trace-";

/// Events the owner table reads.
const EVENTS: [&str; 6] = [
    "sock/inet_sock_set_state",
    // A sending socket's ports: each send of an unconnected UDP socket and
    // each connect routes its flow in the process that owns the socket.
    "fib/fib_table_lookup",
    // Each UDP or TCP send system call, with its socket and length:
    // confirms a datagram's sender, and shows who else sends on a TCP
    // socket (a child, or a process the socket was handed to).
    "sock/sock_send_length",
    // Task creations, execs and exits: which process each task is.
    "task/task_newtask",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
];

/// `CLONE_THREAD` in `task_newtask`'s `clone_flags`.
const CLONE_THREAD: u64 = 0x0001_0000;

/// IPv6 route lookups: enabled when the kernel has IPv6.
const OPTIONAL_IPV6: &str = "fib6/fib6_table_lookup";

/// A kernel-side filter keeping records whose local or remote port is one
/// of `ports` (`None` for all).
fn port_filter(ports: &[u16]) -> Option<String> {
    let mut unique = ports.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let terms: Vec<String> = unique
        .iter()
        .map(|p| format!("sport == {p} || dport == {p}"))
        .collect();
    (!terms.is_empty()).then(|| format!("({})", terms.join(" || ")))
}

/// The kernel-side filter of send records: UDP and TCP, bytes sent.
const SEND_FILTER: &str = "(protocol == 17 || protocol == 6) && ret > 0";

/// The kernel-side filter of route-lookup records.
const ROUTE_FILTER: &str = "sport != 0 && dport != 0 && (proto == 6 || proto == 17)";

/// Per-CPU ring size: bursts of a few thousand frames a second fit while the
/// reader catches up.
const BUFFER_KB: u32 = 8192;

/// `AF_INET` as the records print it.
const AF_INET: u64 = 2;

/// How long to wait for the first marker (the clock offset) at start.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// Ways tracefs could not be used; the caller falls back to /proc.
#[derive(Debug, thiserror::Error)]
#[error("kernel events are unavailable ({0})")]
pub struct Unavailable(String);

fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Unavailable {
    Unavailable(format!("{what} {}: {e}", path.display()))
}

/// A parsed record: the event, or one of our clock markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An event; its time is still on the trace clock.
    Event(Event),
    /// A marker written by this process, at this trace-clock time.
    Marker(Duration),
}

/// Parses one line of `trace_pipe` with `record-tgid` and `fields` on:
/// `python3-15820   (  15820) [000] .....  1896.147352: sock_send_length: sk=0x… (…) family=0x2 (2) protocol=0x11 (17) ret=0x5 (5) flags=0x0 (0)`.
/// `own_pid` tells our markers (which print as `UNKNOWN TYPE` in `fields`
/// mode) from other lines. `None` for lines it does not need.
pub fn parse_line(line: &str, own_pid: u32) -> Option<Record> {
    let line = line.trim_end();
    let close = line.find(") [")?;
    let (head, rest) = line.split_at(close);
    let open = head.rfind('(')?;
    let tgid_text = head.get(open + 1..)?.trim();
    let (comm, tid) = head.get(..open)?.trim_end().rsplit_once('-')?;
    let tid: u32 = tid.parse().ok()?;
    // `(-------)` when the kernel no longer knows the task's group.
    let tgid: u32 = tgid_text.parse().unwrap_or(tid);
    let rest = rest.get(3..)?; // after ") ["
    let (_cpu, rest) = rest.split_once("] ")?;
    let rest = rest.trim_start();
    let (flags, rest) = rest.split_once(' ')?;
    // The third flag is the interrupt context: `.` for a task.
    let irq = flags.chars().nth(2).is_some_and(|c| c != '.');
    let (ts, rest) = rest.trim_start().split_once(": ")?;
    let time = parse_time(ts)?;
    let (event, fields) = rest.split_once(": ").unwrap_or((rest, ""));
    let ctx = Ctx {
        time,
        tid,
        tgid,
        comm: comm.trim().to_string(),
        irq,
    };
    if event.starts_with("UNKNOWN TYPE") || event.starts_with("tracing_mark_write") {
        // The printed process id may be stale (see `Tasks`): the thread
        // id is checked against this process's own threads too.
        let ours = tgid == own_pid || Path::new(&format!("/proc/{own_pid}/task/{tid}")).exists();
        return ours.then_some(Record::Marker(time));
    }
    let f = Fields(fields);
    let event = match event {
        "inet_sock_set_state" => {
            if f.num("protocol")? != 6 {
                return None;
            }
            let v4 = f.num("family")? == AF_INET;
            let addr = |ip: &str, port: &str| -> Option<SocketAddr> {
                let port = u16::try_from(f.num(port)?).ok()?;
                // IPv6 addresses are not printed in `fields` mode: such a
                // socket's tuple is its ports alone, on the unspecified
                // address (see `table::ports_only`).
                if !v4 {
                    return Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
                }
                let raw = u32::try_from(f.num(ip)?).ok()?;
                // The field holds network-order bytes read as a host
                // (little-endian) integer.
                Some(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(raw.to_le_bytes())),
                    port,
                ))
            };
            Event::State {
                sk: f.num("skaddr")?,
                old: u8::try_from(f.num("oldstate")?).ok()?,
                new: u8::try_from(f.num("newstate")?).ok()?,
                local: addr("saddr", "sport"),
                remote: addr("daddr", "dport"),
                ctx,
            }
        }
        "fib_table_lookup" | "fib6_table_lookup" => {
            let v6 = event == "fib6_table_lookup";
            // IPv6 addresses are not printed in `fields` mode: the ports
            // alone then name the flow.
            let ip = |name: &str| -> Option<IpAddr> {
                let raw = u32::try_from(f.num(name)?).ok()?;
                (!v6).then(|| IpAddr::V4(Ipv4Addr::from(raw.to_le_bytes())))
            };
            Event::Route {
                proto: u8::try_from(f.num("proto")?).ok()?,
                sport: u16::try_from(f.num("sport")?).ok()?,
                dport: u16::try_from(f.num("dport")?).ok()?,
                src: ip("src"),
                dst: ip("dst"),
                v6,
                ctx,
            }
        }
        "sock_send_length" => {
            let tcp = match f.num("protocol")? {
                6 => true,
                17 => false,
                _ => return None,
            };
            // `ret` is an `int` printed as 32 bits: an error is
            // 0xffffff91 (-111), above `i32::MAX`.
            let ret = u32::try_from(f.num("ret")?).ok()?;
            Event::Send {
                len: (ret > 0 && ret <= i32::MAX.unsigned_abs()).then_some(ret)?,
                sk: f.num("sk")?,
                tcp,
                ctx,
            }
        }
        "sched_process_exec" => Event::Exec {
            path: f.text("filename")?.to_string(),
            old_tid: u32::try_from(f.num("old_pid")?).ok()?,
            ctx,
        },
        "task_newtask" => Event::Fork {
            child: u32::try_from(f.num("pid")?).ok()?,
            thread: f.num("clone_flags")? & CLONE_THREAD != 0,
            // A name may hold spaces: it runs up to the next field.
            comm: f.text_until("comm", " clone_flags=")?.to_string(),
            ctx,
        },
        "sched_process_exit" => Event::Exit {
            group_dead: f.num("group_dead")? != 0,
            ctx,
        },
        _ => return None,
    };
    Some(Record::Event(event))
}

/// `565.268121` → a duration.
fn parse_time(ts: &str) -> Option<Duration> {
    let (s, frac) = ts.trim().split_once('.')?;
    let s: u64 = s.parse().ok()?;
    let digits = frac.len().min(9);
    let frac: u64 = frac.get(..digits)?.parse().ok()?;
    let nanos = frac * 10u64.pow(9 - u32::try_from(digits).ok()?);
    Some(Duration::new(s, u32::try_from(nanos).ok()?))
}

/// The `name=value` fields of a `fields`-mode record.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    /// The raw text after `name=` up to the next space.
    fn text(&self, name: &str) -> Option<&str> {
        let mut at = 0;
        while let Some(found) = self.0.get(at..)?.find(name) {
            let start = at + found;
            let before_ok = start == 0 || self.0.as_bytes().get(start - 1) == Some(&b' ');
            let after = start + name.len();
            if before_ok && self.0.as_bytes().get(after) == Some(&b'=') {
                let value = self.0.get(after + 1..)?;
                return Some(value.split(' ').next().unwrap_or(value));
            }
            at = after;
        }
        None
    }

    /// The raw text after `name=` up to `next` (for text that may hold
    /// spaces).
    fn text_until(&self, name: &str, next: &str) -> Option<&str> {
        let start = self.0.find(&format!("{name}="))? + name.len() + 1;
        let rest = self.0.get(start..)?;
        Some(rest.find(next).map_or(rest, |end| &rest[..end]))
    }

    /// A number: `0x4a (74)` is read from its hex part, `(1)` (booleans
    /// and other bytes) and `':'(58)` (a printable byte) from inside the
    /// parentheses.
    fn num(&self, name: &str) -> Option<u64> {
        let t = self.text(name)?;
        if let Some(hex) = t.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else {
            let inner = t.rsplit_once('(').map_or(t, |(_, n)| n);
            inner.trim_end_matches(')').parse().ok()
        }
    }
}

/// The instance: created by [`Instance::create`], removed on drop.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
}

/// Instances of this process alive, and the private mount of tracefs this
/// process made, if it made one (the last instance to go unmounts it).
static USERS: Mutex<(usize, Option<PathBuf>)> = Mutex::new((0, None));

/// Numbers a process's second and later instances (`net-trace-PID-N`).
static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Instance {
    /// Mounts tracefs if needed, removes dead runs' instances, and creates
    /// and configures ours.
    pub fn create(ports: &[u16]) -> Result<Self, Unavailable> {
        let mut users = USERS
            .lock()
            .map_err(|_| Unavailable("a previous start panicked".into()))?;
        remove_stale_mounts();
        let root = match &users.1 {
            _ if Path::new(TRACEFS).join("instances").is_dir() => PathBuf::from(TRACEFS),
            Some(own) => own.clone(),
            None => {
                let own = mount_private()?;
                users.1 = Some(own.clone());
                own
            }
        };
        remove_stale(&root);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let name = match serial {
            0 => format!("{PREFIX}{}", std::process::id()),
            n => format!("{PREFIX}{}-{n}", std::process::id()),
        };
        let dir = root.join("instances").join(name);
        if let Err(e) = fs::create_dir(&dir) {
            if users.0 == 0
                && let Some(own) = users.1.take()
            {
                unmount(&own);
            }
            return Err(io_err("create", &dir, &e));
        }
        users.0 += 1;
        drop(users);
        // From here the guard exists: a failure below removes the instance.
        let instance = Self { dir };
        instance.configure(ports)?;
        Ok(instance)
    }

    fn configure(&self, ports: &[u16]) -> Result<(), Unavailable> {
        self.write("tracing_on", "0")?;
        self.write("trace_clock", "mono")?;
        self.write("options/record-tgid", "1")?;
        self.write("options/fields", "1")?;
        self.write("buffer_size_kb", &BUFFER_KB.to_string())?;
        // Only sends that sent something tell anything; without the
        // filter the capture would still work, with a busier ring.
        let _ = self.write("events/sock/sock_send_length/filter", SEND_FILTER);
        // Only lookups with both ports (a socket's, not a forwarded or
        // received packet's) of TCP and UDP are worth the ring's room.
        // With ports to watch, sockets and routes of other ports are
        // never recorded. Both filters are best effort: without them the
        // records are only more numerous.
        let on_ports = port_filter(ports);
        let routes = match &on_ports {
            Some(p) => format!("{ROUTE_FILTER} && {p}"),
            None => ROUTE_FILTER.to_string(),
        };
        for fib in ["fib/fib_table_lookup", OPTIONAL_IPV6] {
            let _ = self.write(&format!("events/{fib}/filter"), &routes);
        }
        if let Some(p) = &on_ports {
            let _ = self.write("events/sock/inet_sock_set_state/filter", p);
        }
        for e in EVENTS {
            self.write(&format!("events/{e}/enable"), "1")?;
        }
        // Without IPv6 in the kernel, its route lookups are simply absent.
        let _ = self.write(&format!("events/{OPTIONAL_IPV6}/enable"), "1");
        self.write("tracing_on", "1")
    }

    fn write(&self, file: &str, value: &str) -> Result<(), Unavailable> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(|e| io_err("write", &path, &e))
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Disabling first lets the removal succeed even if a reader lags.
        let _ = fs::write(self.dir.join("tracing_on"), "0");
        if let Err(e) = fs::remove_dir(&self.dir) {
            log::warn!("cannot remove {}: {e}", self.dir.display());
        }
        if let Ok(mut users) = USERS.lock() {
            users.0 = users.0.saturating_sub(1);
            if users.0 == 0
                && let Some(own) = users.1.take()
            {
                unmount(&own);
            }
        }
    }
}

/// Where a run mounts tracefs for itself when it is not mounted at
/// [`TRACEFS`]: `net-trace-tracefs-PID` in /run. Each run has its own
/// mount point and removes it when its last instance goes, so runs that
/// overlap never leave tracefs mounted, and the usual mount point is
/// never touched.
fn private_mount_dir(pid: u32) -> PathBuf {
    let base = Path::new("/run");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("{MOUNT_PREFIX}{pid}"))
}

/// The private mount point's name before the pid.
const MOUNT_PREFIX: &str = "net-trace-tracefs-";

fn mount_private() -> Result<PathBuf, Unavailable> {
    let dir = private_mount_dir(std::process::id());
    fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, &e))?;
    let ok = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !dir.join("instances").is_dir() {
        unmount(&dir);
        return Err(Unavailable(format!(
            "cannot mount tracefs (not at {TRACEFS}, nor at {})",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Unmounts a private mount point (lazily: a reader still closing its
/// files cannot keep it) and removes it.
fn unmount(dir: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status();
    let _ = fs::remove_dir(dir);
}

/// Removes private mounts left by runs that were killed.
fn remove_stale_mounts() {
    let base = private_mount_dir(0);
    let Some(parent) = base.parent() else {
        return;
    };
    let Ok(dir) = fs::read_dir(parent) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(MOUNT_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            unmount(&entry.path());
        }
    }
}

/// Removes `net-trace-PID` instances whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(dir) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::write(entry.path().join("tracing_on"), "0");
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// Clock markers: the wall-clock time each was written at, oldest first.
#[derive(Debug)]
pub struct Clock {
    marker: Mutex<File>,
    pending: Mutex<VecDeque<Duration>>,
    /// Wall clock minus trace clock, in nanoseconds (0 until measured).
    offset_ns: AtomicU64,
}

impl Clock {
    fn open(instance: &Instance) -> Result<Self, Unavailable> {
        let path = instance.dir().join("trace_marker");
        let marker = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open", &path, &e))?;
        Ok(Self {
            marker: Mutex::new(marker),
            pending: Mutex::new(VecDeque::new()),
            offset_ns: AtomicU64::new(0),
        })
    }

    /// Writes a marker; the reader measures the offset and advances its
    /// watermark when it reads it back.
    pub fn mark(&self) {
        let (Ok(mut file), Ok(mut pending)) = (self.marker.lock(), self.pending.lock()) else {
            return;
        };
        // Bounded: markers are only written while lookups wait.
        if pending.len() >= MAX_PENDING_MARKERS {
            return;
        }
        let before = now();
        if file.write_all(b"net-trace\n").is_ok() {
            pending.push_back(before);
        }
    }

    fn read_back(&self, trace_time: Duration) {
        let Some(wall) = self.pending.lock().ok().and_then(|mut p| p.pop_front()) else {
            return;
        };
        // Where the clocks can be read directly, the offset is exact and
        // follows any step of the wall clock: a marker delayed on a busy
        // machine (by milliseconds, now and then) cannot skew it.
        #[cfg(target_os = "linux")]
        if let Some(offset) = crate::sys::realtime_minus_monotonic() {
            let _ = (wall, trace_time);
            let ns = u64::try_from(offset.as_nanos()).unwrap_or(0);
            self.offset_ns.store(ns.max(1), Ordering::Release);
            return;
        }
        // Each estimate is low by the marker write's latency: the largest
        // is the closest, and converted times then err early, never late.
        // A much lower one means the wall clock was set back: start over.
        let offset = u64::try_from(wall.saturating_sub(trace_time).as_nanos()).unwrap_or(0);
        let current = self.offset_ns.load(Ordering::Acquire);
        if offset > current || current - offset > CLOCK_STEP_NS {
            self.offset_ns.store(offset, Ordering::Release);
        }
    }

    /// Converts a trace-clock time to the packets' clock, once measured.
    fn to_wall(&self, trace_time: Duration) -> Option<Duration> {
        let offset = self.offset_ns.load(Ordering::Acquire);
        (offset != 0).then(|| trace_time + Duration::from_nanos(offset))
    }
}

/// An offset estimate this much (ns) below the best one is a step of the
/// wall clock, not the latency of a marker write.
const CLOCK_STEP_NS: u64 = 1_000_000;

/// Markers written and not yet read back, at most.
const MAX_PENDING_MARKERS: usize = 64;

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

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
            let args = super::procfs::args(ctx.tgid);
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
        && let Some(o) = super::procfs::describe(pid)
    {
        table.describe(pid, &o.name, o.cmd, o.args);
    }
}

/// Which process each task belongs to, and its name, from the records
/// themselves.
///
/// The kernel prints a record's process id and name from tables it
/// refreshes only when the task is next switched out, so the record of a
/// new task that reuses an old task's id can show the old task's process
/// and name (seen once the pid counter had wrapped: a client's frames
/// credited to a long-running process that once had a thread with the
/// client's id). Only the thread id is the record's own. This map gives its
/// process: task creations (`task:task_newtask`, whose clone flags tell a
/// thread from a process), execs, and for a task older than the capture,
/// /proc while the task lives. A record of a task known by none of them is
/// credited to no process.
#[derive(Debug, Default)]
struct Tasks {
    of: HashMap<u32, Task>,
}

/// One task: its process and its own name.
#[derive(Debug, Clone)]
struct Task {
    tgid: u32,
    comm: String,
}

impl Tasks {
    /// Puts the task's true process and name into the record's context,
    /// and learns from task creations and execs.
    fn resolve(&mut self, event: &mut Event) {
        match event {
            Event::Fork {
                ctx,
                child,
                thread,
                comm,
            } => {
                let creator = self.fill(ctx);
                match if *thread { creator } else { Some(*child) } {
                    Some(tgid) => {
                        let comm = comm.clone();
                        self.of.insert(*child, Task { tgid, comm });
                    }
                    None => {
                        self.of.remove(child);
                    }
                }
            }
            Event::Exec { ctx, path, old_tid } => {
                // The task is now its process's only thread (it took the
                // main thread's id), named after the program.
                self.of.remove(old_tid);
                let task = Task {
                    tgid: ctx.tid,
                    comm: exec_comm(path),
                };
                ctx.tgid = task.tgid;
                ctx.comm.clone_from(&task.comm);
                self.of.insert(ctx.tid, task);
            }
            Event::State { .. } | Event::Send { .. } | Event::Route { .. } | Event::Exit { .. } => {
                self.fill(event.ctx_mut());
            }
        }
    }

    /// Sets the context's process and name; `None` (and no credit) when
    /// the task's process is unknown.
    fn fill(&mut self, ctx: &mut Ctx) -> Option<u32> {
        if ctx.irq {
            // Whoever was running is not the record's author: no need to
            // know its process.
            ctx.tgid = ctx.tid;
            return None;
        }
        let known = match self.of.get(&ctx.tid) {
            Some(task) => Some(task.clone()),
            None => {
                let task = from_proc(ctx.tid);
                if let Some(task) = &task {
                    self.of.insert(ctx.tid, task.clone());
                }
                task
            }
        };
        if let Some(task) = known {
            if ctx.tgid != task.tgid {
                log::debug!(
                    "task {} printed as process {} ({}) is process {} ({})",
                    ctx.tid,
                    ctx.tgid,
                    ctx.comm,
                    task.tgid,
                    task.comm
                );
            }
            ctx.tgid = task.tgid;
            ctx.comm = task.comm;
            Some(task.tgid)
        } else {
            ctx.tgid = ctx.tid;
            ctx.irq = true;
            None
        }
    }

    /// Drops an exited task (its id may be reused).
    fn forget(&mut self, tid: Option<u32>) {
        if let Some(tid) = tid {
            self.of.remove(&tid);
        }
    }
}

/// A live task's process and name, from /proc.
fn from_proc(tid: u32) -> Option<Task> {
    let tgid = super::procfs::tgid(tid)?;
    let comm = fs::read_to_string(format!("/proc/{tgid}/task/{tid}/comm")).ok()?;
    Some(Task {
        tgid,
        comm: comm.trim_end_matches('\n').to_string(),
    })
}

/// The name a program gets at exec: its file's name, cut to the kernel's
/// 15 bytes.
fn exec_comm(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path).as_bytes();
    String::from_utf8_lossy(&base[..base.len().min(15)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Records captured from this kernel's instance with record-tgid and
    // fields on.
    const SYN_SENT: &str = "         python3-16845   (  16845) [001] .....   565.274301: inet_sock_set_state: skaddr=0xffff888106b83780 (-131387231815808) oldstate=0x7 (7) newstate=0x2 (2) sport=0x0 (0) dport=0xd1cb (53707) family=0x2 (2) protocol=0x6 (6) saddr=0x100007f (16777343) daddr=0x100007f (16777343) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>\n";
    const SEND: &str = "         python3-15820   (  15820) [000] .N...  1896.147352: sock_send_length: sk=0xffff88817b34df80 (-131385277489280) family=0x2 (2) protocol=0x11 (17) ret=0x5 (5) flags=0x0 (0)\n";
    const REFUSED: &str = "         python3-15820   (  15820) [000] .....  1896.147508: sock_send_length: sk=0xffff88817b34c540 (-131385277496000) family=0x2 (2) protocol=0x11 (17) ret=0xffffff91 (-111) flags=0x0 (0)\n";
    const EXEC: &str = "         python3-17833   (  17833) [001] .....   623.092839: sched_process_exec: filename=/usr/bin/python3 pid=0x45a9 (17833) old_pid=0x45a9 (17833)\n";
    const FORK: &str = "            bash-1870    (   1870) [000] ..... 10214.609862: task_newtask: pid=0x751 (1873) comm=bash clone_flags=0x1200000 (18874368) oom_score_adj=0x0 (0)\n";
    const THREAD: &str = "         python3-17833   (  17833) [001] .....   623.112629: task_newtask: pid=0x45aa (17834) comm=python3 clone_flags=0x3d0f00 (4001536) oom_score_adj=0x0 (0)\n";
    const THREAD_EXIT: &str = "         python3-17834   (  17833) [000] .....   623.112783: sched_process_exit: comm=python3 pid=0x45aa (17834) prio=0x78 (120) group_dead=(0)\n";
    const EXIT: &str = "         python3-17833   (  17833) [001] .....   623.115779: sched_process_exit: comm=python3 pid=0x45a9 (17833) prio=0x78 (120) group_dead=(1)\n";
    const UDP_ROUTE: &str = "         python3-19894   (  19894) [001] .....   293.587396: fib_table_lookup: tb_id=0xfe (254) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) proto=(17) tos=(0) scope=(0) flags=(0) src=0x0 (0) dst=0x100007f (16777343) gw4=0x0 (0) gw6=<INVALID-SIZE> sport=0xbd7e (48510) dport=0x59d7 (22999) name=lo\n";
    const UDP6_ROUTE: &str = "         python3-20888   (  20888) [000] .....   308.886267: fib6_table_lookup: tb_id=0xff (255) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) flowlabel=0x0 (0) tos=(0) scope=(0) flags=(0) src=<INVALID-SIZE> dst=<INVALID-SIZE> sport=0xb0e5 (45285) dport=0x59d7 (22999) proto=(17) rt_type=(0) name=lo gw=<INVALID-SIZE>\n";
    const ICMP6_ROUTE: &str = "         python3-20888   (  20888) [000] b.s2.   308.886305: fib6_table_lookup: tb_id=0xff (255) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) flowlabel=0x0 (0) tos=(0) scope=(0) flags=(0) src=<INVALID-SIZE> dst=<INVALID-SIZE> sport=0x0 (0) dport=0x0 (0) proto=':'(58) rt_type=(0) name=lo gw=<INVALID-SIZE>\n";
    const MARKER: &str =
        "            bash-17850   (  17850) [001] ...1.   625.424962: UNKNOWN TYPE 5\n";
    const SPACED: &str = "       lto cgu.3-16506   (  16464) [001] .....   548.774893: sched_process_exit: comm=lto cgu.3 pid=0x404a (16506) prio=0x78 (120) group_dead=(0)\n";

    fn event(line: &str) -> Event {
        match parse_line(line, 1) {
            Some(Record::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn syn_sent_in_the_connecting_task() {
        let Event::State {
            ctx,
            sk,
            old,
            new,
            local,
            remote,
        } = event(SYN_SENT)
        else {
            panic!("not a state change");
        };
        assert_eq!((ctx.tid, ctx.tgid, ctx.irq), (16845, 16845, false));
        assert_eq!(ctx.time, Duration::from_micros(565_274_301));
        assert_eq!(sk, 0xffff_8881_06b8_3780);
        assert_eq!((old, new), (7, 2));
        assert_eq!(local, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(remote, Some("127.0.0.1:53707".parse().unwrap()));
    }

    #[test]
    fn port_filters() {
        assert_eq!(port_filter(&[]), None);
        assert_eq!(
            port_filter(&[13000, 80, 13000]).as_deref(),
            Some("(sport == 80 || dport == 80 || sport == 13000 || dport == 13000)")
        );
    }

    #[test]
    fn udp_sends_and_their_lengths() {
        assert_eq!(
            event(SEND),
            Event::Send {
                ctx: Ctx {
                    time: Duration::from_micros(1_896_147_352),
                    tid: 15820,
                    tgid: 15820,
                    comm: "python3".into(),
                    irq: false
                },
                len: 5,
                sk: 0xffff_8881_7b34_df80,
                tcp: false,
            }
        );
        // A send that failed (connection refused) sent nothing.
        assert_eq!(parse_line(REFUSED, 1), None);
        assert!(matches!(
            parse_line(&SEND.replace("0x11 (17)", "0x6 (6)"), 1),
            Some(Record::Event(Event::Send { tcp: true, .. }))
        ));
        assert_eq!(
            parse_line(&SEND.replace("0x11 (17)", "0x84 (132)"), 1),
            None
        );
    }

    #[test]
    fn route_lookups_carry_the_flow() {
        assert_eq!(
            event(UDP_ROUTE),
            Event::Route {
                ctx: Ctx {
                    time: Duration::from_micros(293_587_396),
                    tid: 19894,
                    tgid: 19894,
                    comm: "python3".into(),
                    irq: false
                },
                proto: 17,
                sport: 48510,
                dport: 22999,
                src: Some("0.0.0.0".parse().unwrap()),
                dst: Some("127.0.0.1".parse().unwrap()),
                v6: false,
            }
        );
        let Event::Route {
            src,
            dst,
            v6,
            sport,
            ..
        } = event(UDP6_ROUTE)
        else {
            panic!("not a route lookup");
        };
        assert_eq!((src, dst, v6, sport), (None, None, true, 45285));
        let Event::Route { ctx, proto, .. } = event(ICMP6_ROUTE) else {
            panic!("not a route lookup");
        };
        assert_eq!((ctx.irq, proto), (true, 58));
    }

    #[test]
    fn process_events() {
        assert!(matches!(event(EXEC), Event::Exec { path, .. } if path == "/usr/bin/python3"));
        assert!(
            matches!(event(EXEC), Event::Exec { old_tid: 17833, .. }),
            "{:?}",
            event(EXEC)
        );
        assert_eq!(
            event(FORK),
            Event::Fork {
                ctx: Ctx {
                    time: Duration::from_micros(10_214_609_862),
                    tid: 1870,
                    tgid: 1870,
                    comm: "bash".into(),
                    irq: false
                },
                child: 1873,
                thread: false,
                comm: "bash".into(),
            }
        );
        assert!(matches!(
            event(THREAD),
            Event::Fork {
                child: 17834,
                thread: true,
                ..
            }
        ));
        assert!(matches!(
            event(&FORK.replace("comm=bash", "comm=lto cgu.3")),
            Event::Fork { comm, .. } if comm == "lto cgu.3"
        ));
        let Event::Exit { ctx, group_dead } = event(THREAD_EXIT) else {
            panic!("not an exit");
        };
        assert_eq!((ctx.tid, ctx.tgid, group_dead), (17834, 17833, false));
        assert!(matches!(
            event(EXIT),
            Event::Exit {
                group_dead: true,
                ..
            }
        ));
        let Event::Exit { ctx, .. } = event(SPACED) else {
            panic!("not an exit");
        };
        assert_eq!(
            (ctx.comm.as_str(), ctx.tid, ctx.tgid),
            ("lto cgu.3", 16506, 16464)
        );
    }

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

    #[test]
    fn markers_are_ours_only() {
        assert_eq!(
            parse_line(MARKER, 17850),
            Some(Record::Marker(Duration::from_micros(625_424_962)))
        );
        assert_eq!(parse_line(MARKER, 1), None);
        assert_eq!(parse_line("garbage", 1), None);
        assert_eq!(parse_line("", 1), None);
    }

    /// A task id no live task has (above any `pid_max`).
    const GONE: u32 = 4_000_000_000;

    fn resolved(tasks: &mut Tasks, line: &str) -> Event {
        let mut e = event(line);
        tasks.resolve(&mut e);
        e
    }

    fn ctx_of(e: &Event) -> (u32, &str, bool) {
        let ctx = e.ctx();
        (ctx.tgid, ctx.comm.as_str(), ctx.irq)
    }

    #[test]
    fn a_printed_process_id_is_checked_against_the_tasks_own_history() {
        let gone = GONE.to_string();
        let mut tasks = Tasks::default();
        // A client created as a process; its send printed with the stale
        // process id and name of an old task that had the same id.
        let client = GONE + 1;
        resolved(
            &mut tasks,
            &FORK
                .replace("0x751 (1873)", &format!("{client:#x} ({client})"))
                .replace("1870", &gone),
        );
        // (The creator is unknown: no credit for its own record.)
        let send = SEND.replace(
            "python3-15820   (  15820)",
            &format!("cargo-{client} (28312)"),
        );
        assert_eq!(
            ctx_of(&resolved(&mut tasks, &send)),
            (client, "bash", false)
        );
        // After exec, the program's name.
        let exec = EXEC
            .replace("0x45a9", &format!("{client:#x}"))
            .replace("17833", &client.to_string())
            .replace(
                "filename=/usr/bin/python3",
                "filename=/opt/lab/tcp-uppercase-with-a-long-name",
            );
        let e = resolved(&mut tasks, &exec);
        assert_eq!(ctx_of(&e), (client, "tcp-uppercase-w", false));
        // A thread it creates is its, whatever the record prints.
        let thread = GONE + 2;
        resolved(
            &mut tasks,
            &THREAD
                .replace("0x45aa (17834)", &format!("{thread:#x} ({thread})"))
                .replace("17833", &client.to_string()),
        );
        let send = SEND.replace("python3-15820   (  15820)", &format!("x-{thread} (28312)"));
        assert_eq!(ctx_of(&resolved(&mut tasks, &send)).0, client);
        // Once it exits, its id means nothing.
        tasks.forget(Some(thread));
        let e = resolved(&mut tasks, &send);
        assert_eq!(ctx_of(&e), (thread, "x", true), "credited to no one");
    }

    #[test]
    fn a_task_older_than_the_capture_is_asked_of_proc() {
        let mut tasks = Tasks::default();
        let me = std::process::id();
        let send = SEND.replace("python3-15820   (  15820)", &format!("stale-{me} (    1)"));
        let e = resolved(&mut tasks, &send);
        let (tgid, _, irq) = ctx_of(&e);
        assert_eq!((tgid, irq), (me, false));
    }
}
