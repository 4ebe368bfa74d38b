//! Which process sent a frame — named only when proven for that exact
//! connection, otherwise unknown.
//!
//! # Layout
//! - `evidence/`: the owner table, kernel events in, proven owners out
//!   (pure).
//! - `tracefs/`: the private tracing instance, its records and the
//!   thread that reads it.
//! - `answer.rs`: the one answer type, from the table up to
//!   the capture.
//! - `procfs.rs`: `/proc` sockets and processes, the fallback and the source
//!   of what events do not say (arguments, listeners from before the start).
//!
//! [`Owners`] is what the capture uses: [`Owners::start`] picks kernel
//! events when tracefs works, else /proc, and never fails;
//! [`Owners::lookup`] answers `Known`, `Unknown` and why, or `Pending`
//! while evidence for the frame's time may still be on its way (see
//! [`Answer`]).

mod answer;
pub(crate) mod evidence;
pub(crate) mod procfs;
pub(crate) mod tracefs;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use answer::{Answer, Reason};
use evidence::Table;
pub use tracefs::RING_KB;

use crate::hash::FastMap;

/// A process that sent frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id (the thread group's id, not a thread's).
    pub pid: u32,
    /// The kernel's name for the process (`comm`: its main thread's, not a
    /// thread's like `conn-3`; at most 15 bytes). What is shown is
    /// [`Owner::program`].
    pub name: String,
    /// Executable path, when known.
    pub cmd: Option<String>,
    /// Arguments after the program, when known.
    pub args: Vec<String>,
}

impl Owner {
    /// An owner read back from a saved capture's packet comment.
    pub(crate) fn from_comment(pid: u32, cmd: Option<String>, args: Vec<String>) -> Self {
        let name = cmd
            .as_deref()
            .and_then(file_name)
            .unwrap_or("?")
            .to_string();
        Self {
            pid,
            name,
            cmd,
            args,
        }
    }

    /// The process's name wherever it is shown (table, summary, diagram,
    /// JSON and TSV, and read back from a saved capture, whose comment
    /// keeps only the path): the executable's file name when its path is
    /// known, else the kernel's name. So a `python3` started as
    /// `/usr/bin/python3.11` is `python3.11` everywhere, never `python3`
    /// in one place and `python3.11` in another.
    pub fn program(&self) -> &str {
        self.cmd
            .as_deref()
            .and_then(file_name)
            .unwrap_or(&self.name)
    }
}

/// The last component of a path, unless empty.
fn file_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} {}", self.pid, self.program())
    }
}

/// How an owner was proven, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Kernel events (tracefs).
    Kernel,
    /// A socket found in `/proc` while its process lived.
    Proc,
    /// A saved capture's packet comment.
    File,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kernel => "kernel events",
            Self::Proc => "/proc",
            Self::File => "the capture file",
        })
    }
}

/// Which side of a connection sent a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that connected (sent the first SYN); for UDP, the sender.
    Client,
    /// The side that listened.
    Server,
}

/// One frame to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// TCP (else UDP).
    pub tcp: bool,
    /// The frame's sender.
    pub src: SocketAddr,
    /// The frame's receiver.
    pub dst: SocketAddr,
    /// The frame's kernel timestamp, since the epoch.
    pub time: Duration,
    /// The first frame of this connection generation, since the epoch.
    pub stream_start: Duration,
    /// Which side sent the frame.
    pub role: Role,
    /// `stream_start` is this generation's first SYN (the capture saw the
    /// connection open), which pins the connecting socket's creation.
    pub syn: bool,
    /// The payload length: a UDP datagram's (what its sender's send
    /// system call returned), a TCP segment's (0 for a bare ACK).
    pub len: u32,
}

/// How the TCP and UDP frames shown fared: named, or "unknown" and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Named.
    pub named: u64,
    /// Unknown: the kernel's event rings lost events near the frame (and
    /// /proc could not say either).
    pub lost: u64,
    /// Unknown: the evidence had not been read when the row had to go.
    pub late: u64,
    /// Unknown: nothing proved an owner.
    pub unproven: u64,
}

impl Tally {
    /// Frames shown without a process.
    pub fn unknown(&self) -> u64 {
        self.lost + self.late + self.unproven
    }

    /// Frames asked about.
    pub fn total(&self) -> u64 {
        self.named + self.unknown()
    }

    /// Counts a frame shown with `named` or without a process, whose
    /// evidence was `late`, near `lost` events.
    pub(crate) fn count(&mut self, named: bool, late: bool, lost: bool) {
        let n = match (named, lost, late) {
            (true, _, _) => &mut self.named,
            (false, true, _) => &mut self.lost,
            (false, false, true) => &mut self.late,
            (false, false, false) => &mut self.unproven,
        };
        *n += 1;
    }
}

/// How long a caller should keep asking while lookups say `Pending`.
pub const MAX_WAIT: Duration = Duration::from_millis(200);

/// Events are applied this far past a frame's time before a lookup stops
/// waiting for them: a frame's own events come microseconds before it.
const MARGIN: Duration = Duration::from_millis(2);

/// Events this long before a stream began still bear on its frames (the
/// socket's creation, the process's start): a loss of events reaching back
/// this far from a frame leaves it to /proc.
const LOSS_REACH: Duration = Duration::from_secs(1);

/// Answers remembered, at most; past it the cache starts over.
const MAX_CACHED: usize = 65_536;

/// How to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Try kernel events before /proc.
    pub kernel: bool,
    /// Only connections and flows on these ports are asked about (empty:
    /// all): the kernel then records events of those ports only, so other
    /// traffic on the machine costs the event reader nothing.
    pub ports: Vec<u16>,
    /// Each CPU's ring of kernel events, in KiB: more rides out longer
    /// bursts while the reader catches up, less loses events sooner.
    pub ring_kb: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kernel: true,
            ports: Vec::new(),
            ring_kb: tracefs::RING_KB,
        }
    }
}

/// TCP?, sender, receiver, generation start, sent by the client?
type CacheKey = (bool, SocketAddr, SocketAddr, Duration, bool);

fn cache_key(q: &Query) -> CacheKey {
    (q.tcp, q.src, q.dst, q.stream_start, q.role == Role::Client)
}

/// The owner source of a capture.
#[derive(Debug)]
pub struct Owners {
    kernel: Option<tracefs::Kernel>,
    /// /proc's answers by (tcp, src, dst, generation start, role): never
    /// reused across generations.
    cache: Mutex<FastMap<CacheKey, Answer>>,
    /// When /proc last found nothing for (tcp, src, dst): a flow nothing
    /// proves is not scanned for again on every frame (a scan reads every
    /// socket and every process's descriptors).
    misses: Mutex<HashMap<(bool, SocketAddr, SocketAddr), std::time::Instant>>,
    /// Scans made in the current second, and when that second began.
    scans: Mutex<(u32, std::time::Instant)>,
    /// /proc's holders of sockets whose frames wait for the events up to
    /// the scan (wall-clock ns) to be applied (see `proc_checked`).
    proc_scans: Mutex<HashMap<CacheKey, (Owner, u64)>>,
}

/// How long a /proc miss stands before the flow is looked up again.
const PROC_MISS_TTL: Duration = Duration::from_secs(1);

/// /proc scans allowed per second. A scan reads every socket and every
/// process's descriptors (milliseconds on a busy machine); past this
/// budget a flow is unknown rather than the capture falling behind by
/// minutes.
const PROC_SCANS_PER_SEC: u32 = 50;

impl Owners {
    /// Starts kernel events when tracefs works (root, tracefs mountable),
    /// else uses /proc alone; never fails.
    pub fn start(opts: &Options) -> Self {
        let kernel = if opts.kernel && cfg!(target_os = "linux") {
            let mut table = Table::new();
            for l in procfs::listeners() {
                table.add_listener(&l);
            }
            match tracefs::Kernel::start(table, &opts.ports, opts.ring_kb) {
                Ok(k) => Some(k),
                Err(e) => {
                    log::info!("{e}; naming processes from /proc");
                    None
                }
            }
        } else {
            None
        };
        Self {
            kernel,
            cache: Mutex::new(FastMap::default()),
            misses: Mutex::new(HashMap::new()),
            scans: Mutex::new((0, std::time::Instant::now())),
            proc_scans: Mutex::new(HashMap::new()),
        }
    }

    /// How owners are found in this capture.
    pub fn method(&self) -> Method {
        if self.kernel.is_some() {
            Method::Kernel
        } else {
            Method::Proc
        }
    }

    /// The tracing instance's directory, when kernel events are used.
    pub fn instance(&self) -> Option<&std::path::Path> {
        self.kernel.as_ref().map(tracefs::Kernel::dir)
    }

    /// Who sent the frame `q` describes.
    pub fn lookup(&self, q: &Query) -> Answer {
        let key = cache_key(q);
        let hit = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        match hit {
            Some(Answer::Known((o, m))) => match self.still_holds(&o, q) {
                Some(true) => return Answer::Known((o, m)),
                // Gone, or another process is on the socket or the flow
                // now (a UDP flow outlives the program that began it):
                // ask afresh.
                Some(false) => {
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.remove(&key);
                    }
                }
                // The events up to the frame are not read yet.
                None => {}
            },
            Some(hit) => return hit,
            None => {}
        }
        let answer = match &self.kernel {
            Some(k) => self.lookup_kernel(k, q),
            None => self.proc_answer(q, Reason::Unproven),
        };
        // Only /proc's answers are remembered (its scans are slow); kernel
        // answers are cheap and may change within a stream (a forked child
        // takes over a connection), so they are asked afresh.
        let remember = match &answer {
            Answer::Known((_, Method::Proc)) => true,
            Answer::Unknown(_) => q.tcp && self.kernel.is_none(),
            _ => false,
        };
        if remember && let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, answer.clone());
        }
        answer
    }

    /// Whether a remembered /proc holder stands for frame `q` by what is
    /// read already: the events up to the frame are in, none near it was
    /// lost, it was alive then with no live child that may hold the socket
    /// now, and no other process was seen on its socket (a UDP flow's,
    /// too); without events, its process lives.
    /// `None` while the events up to the frame are still to be read.
    fn still_holds(&self, o: &Owner, q: &Query) -> Option<bool> {
        let Some(k) = &self.kernel else {
            return Some(process_lives(o.pid));
        };
        let ns = |t: Duration| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        if k.shared.watermark_ns.load(Ordering::Acquire) < ns(q.time + MARGIN) {
            return None;
        }
        Some(
            !lost_around(&k.shared, q.stream_start, q.time)
                && k.shared.table.lock().is_ok_and(|t| {
                    t.proc_owner_fits(o.pid, q, q.time) && !t.others_on_socket(o.pid, q)
                }),
        )
    }

    /// `/proc`'s owner of the socket, else unknown `otherwise`.
    fn proc_answer(&self, q: &Query, otherwise: Reason) -> Answer {
        self.proc_find(q).map_or(Answer::Unknown(otherwise), |o| {
            Answer::Known((o, Method::Proc))
        })
    }

    /// `/proc`'s owner of the socket, unless it found nothing for this
    /// flow less than [`PROC_MISS_TTL`] ago.
    fn proc_find(&self, q: &Query) -> Option<Owner> {
        let key = (q.tcp, q.src, q.dst);
        if let Ok(misses) = self.misses.lock()
            && misses
                .get(&key)
                .is_some_and(|at| at.elapsed() < PROC_MISS_TTL)
        {
            return None;
        }
        if let Ok(mut scans) = self.scans.lock() {
            if scans.1.elapsed() >= Duration::from_secs(1) {
                *scans = (0, std::time::Instant::now());
            }
            if scans.0 >= PROC_SCANS_PER_SEC {
                return None;
            }
            scans.0 += 1;
        }
        let found = procfs::find(q.tcp, q.src, q.dst);
        if found.is_none()
            && let Ok(mut misses) = self.misses.lock()
        {
            if misses.len() >= MAX_CACHED {
                misses.retain(|_, at| at.elapsed() < PROC_MISS_TTL);
                if misses.len() >= MAX_CACHED {
                    misses.clear();
                }
            }
            misses.insert(key, std::time::Instant::now());
        }
        found
    }

    /// Whether the kernel's rings lost events that bear on a frame sent
    /// at `time` in a stream begun at `stream_start`: then kernel events
    /// prove nothing for it.
    pub(crate) fn lost_around(&self, stream_start: Duration, time: Duration) -> bool {
        self.kernel
            .as_ref()
            .is_some_and(|k| lost_around(&k.shared, stream_start, time))
    }

    /// Events the kernel's rings lost during the capture, as far as they
    /// said.
    pub fn events_lost(&self) -> u64 {
        self.kernel
            .as_ref()
            .map_or(0, |k| k.shared.lost_events.load(Ordering::Acquire))
    }

    fn lookup_kernel(&self, k: &tracefs::Kernel, q: &Query) -> Answer {
        let shared = &k.shared;
        // What the lost events said (a hand-over, a process that held the
        // socket and left, a new socket on the same ports) is exactly what
        // would show /proc's holder to be someone else: it is not asked.
        if lost_around(shared, q.stream_start, q.time) {
            return Answer::Unknown(Reason::Lost);
        }
        let ns = |t: Duration| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        let watermark = shared.watermark_ns.load(Ordering::Acquire);
        if watermark < ns(q.time + MARGIN) {
            // The reader may be idle: a marker moves its watermark on.
            shared.clock.mark();
            return Answer::Pending;
        }
        let Ok(mut table) = shared.table.lock() else {
            return Answer::Unknown(Reason::Unproven);
        };
        table.events_until(Duration::from_nanos(watermark));
        let verdict = table.lookup(q);
        match verdict {
            Answer::Pending => {
                // The reader may be idle: a marker moves its watermark on.
                shared.clock.mark();
                return Answer::Pending;
            }
            // Proven; or handed over, which /proc, naming whoever holds
            // the socket now, must not be asked about.
            Answer::Known(_) | Answer::Unknown(Reason::HandedOver) => {
                return verdict.map(|o| (o, Method::Kernel));
            }
            Answer::Unknown(_) => {}
        }
        // A datagram's send record comes as its system call returns, just
        // after the frame (later when the sender is preempted on the way
        // out): until events that far on are read, it may still prove it,
        // unless what is in already rules that out (a flood of several
        // processes' datagrams of one length: /proc is read at once then,
        // while the senders live).
        if !q.tcp && watermark < ns(q.time + evidence::SEND_AFTER + MARGIN) && !table.udp_settled(q)
        {
            shared.clock.mark();
            return Answer::Pending;
        }
        // Sockets from before the events began: /proc, vetoed by what the
        // events know (a newer generation of that tuple, a process that
        // did not exist at the frame's time).
        if q.tcp && table.reopened_after(q.src, q.dst, q.stream_start) {
            return Answer::Unknown(Reason::Unproven);
        }
        drop(table);
        self.proc_checked(k, q, true)
    }

    /// /proc's holder of the frame's socket, when the events do not
    /// contradict it: it was alive then, and it is the only process the
    /// events saw on a UDP flow; for a frame's sender (`sent`), also the
    /// only process the events saw on that socket.
    ///
    /// /proc says who holds the socket when it is read, which may be after
    /// the frame: a forking server's child, created after the frame, holds
    /// the connection by then; a process the socket was passed to holds
    /// it alone once the one that made it exits, after both sent on it.
    /// Only events up to that reading can say so, so for a sender the
    /// answer is `Pending` until they are applied (the scan is kept
    /// meanwhile, not repeated).
    fn proc_checked(&self, k: &tracefs::Kernel, q: &Query, sent: bool) -> Answer {
        let key = cache_key(q);
        let kept = self.proc_scans.lock().ok().and_then(|mut m| m.remove(&key));
        let (owner, read_at) = match kept {
            Some(kept) => kept,
            None => {
                let read_at = u64::try_from(tracefs::clock::now().as_nanos()).unwrap_or(u64::MAX);
                let Some(owner) = self.proc_find(q) else {
                    return Answer::Unknown(Reason::Unproven);
                };
                (owner, read_at)
            }
        };
        if sent && k.shared.watermark_ns.load(Ordering::Acquire) < read_at {
            if let Ok(mut m) = self.proc_scans.lock() {
                if m.len() >= MAX_CACHED {
                    m.clear();
                }
                m.insert(key, (owner, read_at));
            }
            k.shared.clock.mark();
            return Answer::Pending;
        }
        let Ok(table) = k.shared.table.lock() else {
            return Answer::Unknown(Reason::Unproven);
        };
        if sent && table.others_on_socket(owner.pid, q) {
            return Answer::Unknown(Reason::HandedOver);
        }
        if table.proc_owner_fits(owner.pid, q, q.stream_start.min(q.time)) {
            Answer::Known((owner, Method::Proc))
        } else {
            Answer::Unknown(Reason::Unproven)
        }
    }

    /// Who holds the socket a frame arrived at, for narrowing a capture to
    /// one program (`q` describes the receiving side as the sender): a TCP
    /// side as [`Owners::lookup`] proves it, or a server's connection as
    /// its listener's (a forking server's child serves it); a UDP socket,
    /// which may not have sent anything yet, also from /proc while its
    /// process lives. Never `Pending`; never a frame's sender.
    pub(crate) fn receiver(&self, q: &Query) -> Answer {
        // A connection to a server, forking a child per connection or
        // not: whose server it is, whoever serves it by the time this is
        // asked (its frames may be a child's).
        if let Some(k) = &self.kernel
            && q.tcp
            && q.role == Role::Server
            && let Some(o) = k
                .shared
                .table
                .lock()
                .ok()
                .and_then(|t| t.listener_holder(q.src, q.time))
        {
            return Answer::Known((o, Method::Kernel));
        }
        match (self.lookup(q), &self.kernel) {
            (known @ Answer::Known(_), _) => known,
            (_, Some(k)) if !q.tcp => self.proc_checked(k, q, false),
            (Answer::Unknown(why), _) => Answer::Unknown(why),
            (Answer::Pending, _) => Answer::Unknown(Reason::Unproven),
        }
    }

    /// How far the kernel events have been read (a time on the packets'
    /// clock, in ns; 0 without kernel events). A caller waiting on
    /// `Pending` answers keeps waiting while this moves: the reader is
    /// behind, not stuck.
    pub fn progress(&self) -> u64 {
        self.kernel
            .as_ref()
            .map_or(0, |k| k.shared.watermark_ns.load(Ordering::Acquire))
    }

    /// Whether `pid` is `root` or descends from it (for `capture --
    /// COMMAND`): from fork events, else from /proc while both live.
    pub(crate) fn is_in_tree(&self, pid: u32, root: u32) -> bool {
        if let Some(k) = &self.kernel
            && let Some(answer) = k
                .shared
                .table
                .lock()
                .ok()
                .and_then(|t| t.is_in_tree(pid, root))
        {
            return answer;
        }
        let mut at = procfs::tgid(pid).unwrap_or(pid);
        for _ in 0..MAX_DEPTH {
            if at == root {
                return true;
            }
            match procfs::parent(at) {
                Some(p) if p != 0 && p != at => at = p,
                _ => return false,
            }
        }
        false
    }
}

/// Whether process `pid` lives (its /proc directory is there).
fn process_lives(pid: u32) -> bool {
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

/// See [`Owners::lost_around`].
fn lost_around(shared: &tracefs::Shared, stream_start: Duration, time: Duration) -> bool {
    let ns = |t: Duration| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
    let reach = ns(stream_start.min(time).saturating_sub(LOSS_REACH));
    shared
        .losses
        .lock()
        .map_or(true, |l| l.overlap(reach, ns(time + MARGIN)))
}

/// A process tree deeper than this is treated as a loop.
const MAX_DEPTH: usize = 256;

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_can_run_on_any_thread() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Owners>();
    }

    #[test]
    fn proc_only_start_never_fails() {
        let owners = Owners::start(&Options {
            kernel: false,
            ..Options::default()
        });
        assert_eq!(owners.method(), Method::Proc);
        assert!(owners.instance().is_none());
        assert!(owners.is_in_tree(std::process::id(), std::process::id()));
    }

    #[test]
    fn display_and_comment() {
        let o = Owner::from_comment(
            4242,
            Some("/usr/bin/tcp-uppercase".into()),
            vec!["client".into()],
        );
        assert_eq!(o.to_string(), "pid 4242 tcp-uppercase");
        // Seen live: the kernel's name and the executable's path differ
        // (a symbolic link, a name longer than comm's 15 bytes). It is
        // named by its path, as the saved capture's comment names it.
        for (comm, cmd, shown) in [
            ("python3", "/usr/bin/python3.11", "python3.11"),
            (
                "tcp-uppercase-w",
                "/opt/lab/tcp-uppercase-with-a-long-name",
                "tcp-uppercase-with-a-long-name",
            ),
        ] {
            let live = Owner {
                pid: 7,
                name: comm.into(),
                cmd: Some(cmd.into()),
                args: vec!["server".into()],
            };
            let saved = Owner::from_comment(7, live.cmd.clone(), live.args.clone());
            assert_eq!(
                (live.program(), live.to_string()),
                (shown, format!("pid 7 {shown}"))
            );
            assert_eq!(saved.to_string(), live.to_string());
        }
        // No path known: the kernel's name.
        let bare = Owner {
            pid: 8,
            name: "python3".into(),
            cmd: None,
            args: Vec::new(),
        };
        assert_eq!(bare.to_string(), "pid 8 python3");
        assert_eq!(Owner::from_comment(1, None, Vec::new()).name, "?");
        assert_eq!(
            Owner::from_comment(7, Some("/bin/nc".into()), Vec::new()).name,
            "nc"
        );
    }
}
