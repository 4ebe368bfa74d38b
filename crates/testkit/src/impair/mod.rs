//! An impaired link between two hosts (Linux only; elsewhere
//! [`Link::available`] says it is not supported): two network namespaces joined by a
//! relay in this process that loses, delays, reorders, duplicates and
//! corrupts what crosses it, as Linux's `netem` qdisc would (this kernel has
//! none).
//!
//! # How it works
//! Each namespace gets a TAP device (`nlimp0`, an Ethernet interface whose
//! frames are read and written by a file descriptor in this process). One
//! relay thread per direction reads the frames one side sends, decides each
//! frame's fate from the [`Impairment`] of that direction, and writes it to
//! the other side when its time comes. ARP passes untouched, so the
//! lesson stays with IP, UDP and TCP; every IP packet is subject to the
//! impairment. IPv6 is off on the link, so the only packets crossing it
//! are the ones the hosts' programs cause, and a seed gives the same fates
//! to the same sequence of packets in every run. The queue of delayed frames is bounded ([`QUEUE_LIMIT`], as
//! netem's default `limit 1000`); a frame over the limit is dropped and
//! counted apart from the random losses.
//!
//! # Meaning of each term
//! - `loss P%`: each packet is dropped with probability P.
//! - `delay D [J]`: each packet is held D, plus or minus up to J (uniform),
//!   so a jitter reorders packets as a real path can.
//! - `reorder P%`: with a delay, P% of packets skip it (sent at once,
//!   overtaking the delayed ones, as netem's `reorder`); without a delay,
//!   P% are held back [`REORDER_HOLD`] so the next ones overtake them.
//! - `duplicate P%`: a packet is sent twice with probability P (each copy
//!   delayed on its own).
//! - `corrupt P%`: one random bit of the IP packet is flipped with
//!   probability P (the receiver's checksum then drops it, as on a real
//!   link).
//!
//! ```no_run
//! use testkit::impair::{Impairment, Link};
//! let imp: Impairment = "loss 5%, delay 100ms 20ms".parse().unwrap();
//! // In a test marked #[ignore = "needs root"]; Link::need does this too.
//! if let Err(why) = Link::available() {
//!     panic!("{why}");
//! }
//! let link = Link::new(imp.clone(), imp, 7).unwrap();
//! let mut ping = link.client_command("ping");
//! ping.args(["-c", "3", testkit::impair::SERVER_ADDR]);
//! println!("{}", link.stats());
//! ```

#[cfg(target_os = "linux")]
mod tap;
/// Elsewhere there are no network namespaces: every link is unavailable.
#[cfg(not(target_os = "linux"))]
mod tap {
    use std::io;
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::time::Duration;

    pub const CLONE_DEVICE: &str = "/dev/net/tun (network namespaces are Linux-only)";
    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "an impaired link is not supported on this system",
        )
    }
    pub fn open_in(_: &str, _: &str) -> io::Result<OwnedFd> {
        Err(unsupported())
    }
    pub fn enter(_: &str) -> io::Result<()> {
        Err(unsupported())
    }
    pub fn wait_readable(_: BorrowedFd<'_>, _: Duration) -> bool {
        false
    }
    pub fn read(_: BorrowedFd<'_>, _: &mut [u8]) -> io::Result<Option<usize>> {
        Err(unsupported())
    }
    pub fn write(_: BorrowedFd<'_>, _: &[u8]) -> io::Result<usize> {
        Err(unsupported())
    }
}

use std::collections::BinaryHeap;
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::Rng;

/// The server host's address on the link.
pub const SERVER_ADDR: &str = "10.78.0.1";
/// The client host's address on the link.
pub const CLIENT_ADDR: &str = "10.78.0.2";
/// The prefix length of the link's subnet.
const PREFIX: u8 = 24;
/// The TAP device's name inside each namespace (namespaces keep names
/// apart, so every link uses the same one).
pub const DEVICE: &str = "nlimp0";
/// Most frames waiting in one direction's delay queue; more are dropped
/// and counted as over the limit (netem's default `limit 1000`).
pub const QUEUE_LIMIT: usize = 1000;
/// How long `reorder` holds a packet back when the link has no delay.
pub const REORDER_HOLD: Duration = Duration::from_millis(10);
/// How often an idle relay thread checks whether the link is closing.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Largest frame a TAP device hands over (MTU 1500 plus headers, with room).
const FRAME_MAX: usize = 65_536;
/// Prefix of the namespaces' names, followed by this process's id.
const NS_PREFIX: &str = "nlimp-";

/// What one direction of the link does to the packets crossing it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impairment {
    /// Probability (0–1) that a packet is dropped.
    pub loss: f64,
    /// How long each packet is held.
    pub delay: Duration,
    /// Up to how much more or less than `delay` a packet is held.
    pub jitter: Duration,
    /// Probability that a packet is sent out of turn (see the module doc).
    pub reorder: f64,
    /// Probability that a packet is sent twice.
    pub duplicate: f64,
    /// Probability that one bit of a packet is flipped.
    pub corrupt: f64,
}

impl Impairment {
    /// Whether this impairment leaves packets alone.
    pub fn is_clean(&self) -> bool {
        *self == Impairment::default()
    }
}

/// A term of an impairment that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn percent(term: &str, value: Option<&str>) -> Result<f64, ParseError> {
    let text = value
        .ok_or_else(|| ParseError(format!("`{term}` needs a percentage, e.g. `{term} 5%`")))?;
    let number = text.strip_suffix('%').ok_or_else(|| {
        ParseError(format!(
            "`{term} {text}`: the value must end in %, e.g. `{term} 5%`"
        ))
    })?;
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(ParseError(format!(
            "`{term} {text}`: the percentage must be a number from 0 to 100"
        ))),
    }
}

/// Reads `100ms`, `1.5s`, `250us` (the units netem takes).
fn duration(term: &str, text: &str) -> Result<Duration, ParseError> {
    if text.starts_with('-') {
        return Err(ParseError(format!(
            "`{term} {text}`: a time cannot be negative"
        )));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        _ => {
            return Err(ParseError(format!(
                "`{term} {text}`: a time needs a unit (s, ms or us), e.g. `{term} 100ms`"
            )));
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * scale <= 60.0 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(ParseError(format!(
            "`{term} {text}`: the time must be a number of at most 60 s"
        ))),
    }
}

impl FromStr for Impairment {
    type Err = ParseError;

    /// Reads netem's words, comma separated: `loss 5%, delay 100ms 20ms,
    /// reorder 25%, duplicate 10%, corrupt 1%` (any subset, any order).
    fn from_str(text: &str) -> Result<Impairment, ParseError> {
        let mut imp = Impairment::default();
        let mut seen = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let words: Vec<&str> = term.split_whitespace().collect();
            let name = words[0];
            if seen.contains(&name) {
                return Err(ParseError(format!("`{name}` is given twice")));
            }
            let arity = if name == "delay" { 3 } else { 2 };
            if words.len() > arity {
                return Err(ParseError(format!(
                    "`{term}`: unexpected `{}` (separate terms with commas)",
                    words[arity]
                )));
            }
            match name {
                "loss" => imp.loss = percent(name, words.get(1).copied())?,
                "reorder" => imp.reorder = percent(name, words.get(1).copied())?,
                "duplicate" => imp.duplicate = percent(name, words.get(1).copied())?,
                "corrupt" => imp.corrupt = percent(name, words.get(1).copied())?,
                "delay" => {
                    let d = words.get(1).ok_or_else(|| {
                        ParseError("`delay` needs a time, e.g. `delay 100ms 20ms`".into())
                    })?;
                    imp.delay = duration(name, d)?;
                    if let Some(j) = words.get(2) {
                        imp.jitter = duration(name, j)?;
                        if imp.jitter > imp.delay {
                            return Err(ParseError(format!(
                                "`{term}`: the jitter cannot be larger than the delay"
                            )));
                        }
                    }
                }
                other => {
                    return Err(ParseError(format!(
                        "unknown impairment `{other}` (known: loss, delay, reorder, duplicate, corrupt)"
                    )));
                }
            }
            seen.push(name);
        }
        Ok(imp)
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms = Vec::new();
        let pct = |p: f64| format!("{}%", (p * 1e4).round() / 1e2);
        if self.loss > 0.0 {
            terms.push(format!("loss {}", pct(self.loss)));
        }
        if !self.delay.is_zero() {
            let mut t = format!("delay {}ms", self.delay.as_secs_f64() * 1e3);
            if !self.jitter.is_zero() {
                t.push_str(&format!(" {}ms", self.jitter.as_secs_f64() * 1e3));
            }
            terms.push(t);
        }
        if self.reorder > 0.0 {
            terms.push(format!("reorder {}", pct(self.reorder)));
        }
        if self.duplicate > 0.0 {
            terms.push(format!("duplicate {}", pct(self.duplicate)));
        }
        if self.corrupt > 0.0 {
            terms.push(format!("corrupt {}", pct(self.corrupt)));
        }
        if terms.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&terms.join(", "))
        }
    }
}

/// What the relay did in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Frames read from the sending side (ARP included).
    pub packets: u64,
    /// Frames written to the receiving side (copies included).
    pub delivered: u64,
    /// Packets dropped by `loss`.
    pub dropped: u64,
    /// Packets held by `delay`.
    pub delayed: u64,
    /// Packets sent out of turn by `reorder`.
    pub reordered: u64,
    /// Extra copies sent by `duplicate`.
    pub duplicated: u64,
    /// Packets with a bit flipped by `corrupt`.
    pub corrupted: u64,
    /// Packets dropped because [`QUEUE_LIMIT`] frames were already waiting.
    pub overflow: u64,
}

impl fmt::Display for DirStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} packets: {} dropped, {} delayed, {} reordered, {} duplicated, {} corrupted, {} over the queue limit",
            self.packets,
            self.dropped,
            self.delayed,
            self.reordered,
            self.duplicated,
            self.corrupted,
            self.overflow
        )
    }
}

/// What the relay did in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client to server.
    pub to_server: DirStats,
    /// Server to client.
    pub to_client: DirStats,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "client→server: {}", self.to_server)?;
        write!(f, "server→client: {}", self.to_client)
    }
}

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    delayed: AtomicU64,
    reordered: AtomicU64,
    duplicated: AtomicU64,
    corrupted: AtomicU64,
    overflow: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> DirStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DirStats {
            packets: get(&self.packets),
            delivered: get(&self.delivered),
            dropped: get(&self.dropped),
            delayed: get(&self.delayed),
            reordered: get(&self.reordered),
            duplicated: get(&self.duplicated),
            corrupted: get(&self.corrupted),
            overflow: get(&self.overflow),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// One direction's settings and counters, shared with its relay thread.
#[derive(Debug, Default)]
struct Direction {
    impairment: Mutex<Impairment>,
    counters: Counters,
}

/// Two network namespaces joined by an impaired link; dropping it stops the
/// relay and deletes both namespaces (their devices go with them).
#[derive(Debug)]
pub struct Link {
    server_ns: String,
    client_ns: String,
    to_server: Arc<Direction>,
    to_client: Arc<Direction>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// Why an impaired link cannot be made here, if it cannot: it needs root,
/// `ip` from iproute2 and the TUN/TAP driver.
fn unavailable() -> Option<String> {
    if !crate::is_root() {
        return Some("an impaired link needs root (network namespaces and TAP devices)".into());
    }
    let ip = Command::new("ip").args(["netns", "list"]).output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Some(
            "an impaired link needs `ip` with network namespaces (apt-get install iproute2)".into(),
        );
    }
    if !Path::new(tap::CLONE_DEVICE).exists() {
        return Some(format!(
            "an impaired link needs {} (the TUN/TAP driver)",
            tap::CLONE_DEVICE
        ));
    }
    None
}

fn ip(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Turns IPv6 off on the link's device in `ns` before it comes up: its
/// router solicitations, multicast reports and address checks would cross
/// the link at moments of their own, each taking a draw of the random
/// generator, so the same impairment and seed would not give the same
/// fate to the lab's own packets from one run to the next.
fn quiet_ipv6(ns: &str) -> std::io::Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{DEVICE}/disable_ipv6");
    // /proc/sys/net shows the namespace of the thread that opens it.
    spawn_in(ns, move || {
        if !Path::new(&path).exists() {
            return Ok(()); // No IPv6 in this kernel: nothing to quiet.
        }
        std::fs::write(&path, "1")
            .map_err(|e| std::io::Error::new(e.kind(), format!("write {path}: {e}")))
    })?
    .join()
    .map_err(|_| std::io::Error::other("the thread turning IPv6 off panicked"))??
}

/// Removes namespaces that an earlier, killed process of this kind left.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Numbers the links a process makes, so each has namespaces of its own.
static NEXT_LINK: AtomicUsize = AtomicUsize::new(0);

impl Link {
    /// `Ok` when a link can be made here, else the reason (which
    /// [`Link::need`] fails a test with). Under `CI=true`, which runs as
    /// root, a missing privilege fails the caller at once.
    pub fn available() -> Result<(), String> {
        match unavailable() {
            None => Ok(()),
            Some(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI must be able to make impaired links: {why}"
                );
                Err(why)
            }
        }
    }

    /// Makes the two hosts and starts the relay: `to_server` applies to
    /// what the client host sends, `to_client` to what the server host
    /// sends; `seed` makes the random choices repeatable.
    pub fn new(to_server: Impairment, to_client: Impairment, seed: u64) -> std::io::Result<Link> {
        if let Some(why) = unavailable() {
            return Err(std::io::Error::other(why));
        }
        remove_stale();
        let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NS_PREFIX}{}-{n}", std::process::id());
        let mut link = Link {
            server_ns: format!("{base}-srv"),
            client_ns: format!("{base}-cli"),
            to_server: Arc::new(Direction {
                impairment: Mutex::new(to_server),
                counters: Counters::default(),
            }),
            to_client: Arc::new(Direction {
                impairment: Mutex::new(to_client),
                counters: Counters::default(),
            }),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        // From here on, dropping `link` removes whatever was made.
        ip(&["netns", "add", &link.server_ns])?;
        ip(&["netns", "add", &link.client_ns])?;
        let srv_tap = tap::open_in(&link.server_ns, DEVICE)?;
        let cli_tap = tap::open_in(&link.client_ns, DEVICE)?;
        for (ns, addr) in [
            (&link.server_ns, SERVER_ADDR),
            (&link.client_ns, CLIENT_ADDR),
        ] {
            quiet_ipv6(ns)?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/{PREFIX}"),
                "dev",
                DEVICE,
            ])?;
            ip(&["-n", ns, "link", "set", DEVICE, "up"])?;
        }
        let srv_tap = Arc::new(srv_tap);
        let cli_tap = Arc::new(cli_tap);
        let dirs = [
            (
                "impair-to-srv",
                cli_tap.clone(),
                srv_tap.clone(),
                link.to_server.clone(),
                seed,
            ),
            (
                "impair-to-cli",
                srv_tap,
                cli_tap,
                link.to_client.clone(),
                seed ^ 0x5555_5555,
            ),
        ];
        for (name, from, to, dir, seed) in dirs {
            let stop = link.stop.clone();
            let handle = thread::Builder::new()
                .name(name.into())
                .spawn(move || relay(&from, &to, &dir, Rng::new(seed), &stop))?;
            link.threads.push(handle);
        }
        Ok(link)
    }

    /// For a test marked `#[ignore = "needs root"]`: a link with `spec`
    /// both ways. Panics, saying why, when none can be made here (see
    /// [`crate::need_root`]) or `spec` is bad.
    pub fn need(spec: &str, seed: u64) -> Link {
        if let Err(why) = Link::available() {
            panic!(
                "{why}: run the ignored tests as root (`sudo -E cargo test --workspace -- --ignored`)"
            );
        }
        let imp = spec
            .parse()
            .unwrap_or_else(|e| panic!("impairment {spec:?}: {e}"));
        Link::symmetric(imp, seed).unwrap_or_else(|e| panic!("make an impaired link: {e}"))
    }

    /// For tests: starts `bin ARGS…` on the server host and waits for its
    /// readiness line (see [`crate::Server::start`]).
    pub fn start_server(&self, bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> crate::Server {
        let bin = bin.as_ref().to_string_lossy().into_owned();
        let mut all: Vec<&str> = vec!["netns", "exec", &self.server_ns, &bin];
        all.extend_from_slice(args);
        crate::Server::start("ip", &all)
    }

    /// A link with the same impairment both ways.
    pub fn symmetric(imp: Impairment, seed: u64) -> std::io::Result<Link> {
        Link::new(imp.clone(), imp, seed)
    }

    /// The server host's namespace.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// The client host's namespace.
    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    /// `ip netns exec NS`: put before a command to run it on the server host.
    pub fn server_prefix(&self) -> Vec<String> {
        prefix(&self.server_ns)
    }

    /// `ip netns exec NS`: put before a command to run it on the client host.
    pub fn client_prefix(&self) -> Vec<String> {
        prefix(&self.client_ns)
    }

    /// `program` to be run on the server host.
    pub fn server_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        command(&self.server_ns, program)
    }

    /// `program` to be run on the client host.
    pub fn client_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        command(&self.client_ns, program)
    }

    /// Runs `f` on a new thread inside the server host's namespace: the
    /// sockets it makes are the server host's (they stay so when handed to
    /// other threads), for in-process peers in tests.
    pub fn spawn_in_server<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<thread::JoinHandle<std::io::Result<T>>> {
        spawn_in(&self.server_ns, f)
    }

    /// Runs `f` on a new thread inside the client host's namespace.
    pub fn spawn_in_client<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<thread::JoinHandle<std::io::Result<T>>> {
        spawn_in(&self.client_ns, f)
    }

    /// Changes the impairment of each direction from the next packet on.
    pub fn set(&self, to_server: Impairment, to_client: Impairment) {
        *lock(&self.to_server.impairment) = to_server;
        *lock(&self.to_client.impairment) = to_client;
    }

    /// The impairment of each direction: (to the server, to the client).
    pub fn impairment(&self) -> (Impairment, Impairment) {
        (
            lock(&self.to_server.impairment).clone(),
            lock(&self.to_client.impairment).clone(),
        )
    }

    /// What the relay has done so far.
    pub fn stats(&self) -> Stats {
        Stats {
            to_server: self.to_server.counters.snapshot(),
            to_client: self.to_client.counters.snapshot(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<thread::JoinHandle<std::io::Result<T>>> {
    let ns = ns.to_string();
    thread::Builder::new()
        .name(format!("in-{ns}"))
        .spawn(move || {
            tap::enter(&ns)?;
            Ok(f())
        })
}

fn prefix(ns: &str) -> Vec<String> {
    ["ip", "netns", "exec", ns].map(String::from).to_vec()
}

fn command(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A frame waiting for its time; the heap pops the earliest first, and
/// among equal times the first queued.
#[derive(Debug)]
struct Pending {
    due: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

const ETHERTYPE_ARP: u16 = 0x0806;
const ETH_HEADER: usize = 14;

/// A number in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// What happens to each frame read from one side: the frames to send,
/// each with how long to hold it.
fn decide(frame: &[u8], imp: &Impairment, rng: &mut Rng, c: &Counters) -> Vec<(Duration, Vec<u8>)> {
    let ethertype = frame
        .get(12..14)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .unwrap_or(0);
    if ethertype == ETHERTYPE_ARP || imp.is_clean() {
        return vec![(Duration::ZERO, frame.to_vec())];
    }
    if chance(rng, imp.loss) {
        bump(&c.dropped);
        return Vec::new();
    }
    let copies = if chance(rng, imp.duplicate) {
        bump(&c.duplicated);
        2
    } else {
        1
    };
    let mut out = Vec::with_capacity(copies);
    for _ in 0..copies {
        let mut bytes = frame.to_vec();
        if chance(rng, imp.corrupt) && bytes.len() > ETH_HEADER {
            let at = ETH_HEADER + (rng.next_u64() as usize) % (bytes.len() - ETH_HEADER);
            bytes[at] ^= 1 << (rng.next_u64() % 8);
            bump(&c.corrupted);
        }
        let mut hold = imp.delay;
        if !imp.jitter.is_zero() {
            let j = imp.jitter.as_secs_f64() * (2.0 * unit(rng) - 1.0);
            hold = Duration::from_secs_f64((imp.delay.as_secs_f64() + j).max(0.0));
        }
        if chance(rng, imp.reorder) {
            bump(&c.reordered);
            hold = if imp.delay.is_zero() {
                REORDER_HOLD
            } else {
                Duration::ZERO
            };
        }
        if !hold.is_zero() {
            bump(&c.delayed);
        }
        out.push((hold, bytes));
    }
    out
}

/// One direction of the link until `stop`: frames from `from` are decided
/// on and written to `to` when due.
fn relay(from: &OwnedFd, to: &OwnedFd, dir: &Direction, mut rng: Rng, stop: &AtomicBool) {
    let mut queue: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; FRAME_MAX];
    let c = &dir.counters;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while queue.peek().is_some_and(|p| p.due <= now) {
            if let Some(p) = queue.pop()
                && tap::write(to.as_fd(), &p.frame).is_ok()
            {
                bump(&c.delivered);
            }
        }
        let wait = queue.peek().map_or(POLL_INTERVAL, |p| {
            p.due.saturating_duration_since(now).min(POLL_INTERVAL)
        });
        if !tap::wait_readable(from.as_fd(), wait) {
            continue;
        }
        // Everything the sender has queued, then back to what is due.
        let imp = lock(&dir.impairment).clone();
        while let Ok(Some(n)) = tap::read(from.as_fd(), &mut buf) {
            bump(&c.packets);
            let now = Instant::now();
            for (hold, frame) in decide(&buf[..n], &imp, &mut rng, c) {
                if hold.is_zero() && queue.is_empty() {
                    if tap::write(to.as_fd(), &frame).is_ok() {
                        bump(&c.delivered);
                    }
                    continue;
                }
                if queue.len() >= QUEUE_LIMIT {
                    bump(&c.overflow);
                    continue;
                }
                seq += 1;
                queue.push(Pending {
                    due: now + hold,
                    seq,
                    frame,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_term() {
        let imp: Impairment = "loss 5%, delay 100ms 20ms, reorder 25%, duplicate 10%, corrupt 1%"
            .parse()
            .unwrap();
        assert_eq!(
            imp,
            Impairment {
                loss: 0.05,
                delay: Duration::from_millis(100),
                jitter: Duration::from_millis(20),
                reorder: 0.25,
                duplicate: 0.10,
                corrupt: 0.01,
            }
        );
        assert_eq!(
            imp.to_string(),
            "loss 5%, delay 100ms 20ms, reorder 25%, duplicate 10%, corrupt 1%"
        );
        assert_eq!(imp.to_string().parse::<Impairment>().unwrap(), imp);
    }

    #[test]
    fn reads_a_subset_and_other_units() {
        let imp: Impairment = "delay 1.5s".parse().unwrap();
        assert_eq!(imp.delay, Duration::from_millis(1500));
        assert_eq!(imp.jitter, Duration::ZERO);
        assert_eq!("".parse::<Impairment>().unwrap(), Impairment::default());
        assert_eq!(
            "delay 250us".parse::<Impairment>().unwrap().delay,
            Duration::from_micros(250)
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_term() {
        for (text, needle) in [
            ("loss 5", "must end in %"),
            ("loss 150%", "from 0 to 100"),
            ("delay 100", "needs a unit"),
            ("delay 10ms 20ms", "jitter cannot be larger"),
            ("jitter 5ms", "unknown impairment `jitter`"),
            ("loss 5% delay 10ms", "unexpected `delay`"),
            ("loss 1%, loss 2%", "given twice"),
            ("loss", "needs a percentage"),
            ("delay -1ms", "cannot be negative"),
            ("loss -5%", "from 0 to 100"),
        ] {
            let err = text.parse::<Impairment>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    fn ip_frame() -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12] = 0x08; // IPv4
        f
    }

    #[test]
    fn decisions_follow_the_probabilities() {
        let imp: Impairment = "loss 10%, duplicate 20%, corrupt 5%".parse().unwrap();
        let c = Counters::default();
        let mut rng = Rng::new(1);
        let frame = ip_frame();
        let mut sent = 0;
        for _ in 0..10_000 {
            sent += decide(&frame, &imp, &mut rng, &c).len();
        }
        let s = c.snapshot();
        assert!((900..1100).contains(&s.dropped), "{s:?}");
        // Duplicates are drawn among the packets not lost.
        assert!((1600..2000).contains(&s.duplicated), "{s:?}");
        assert_eq!(sent as u64, 10_000 - s.dropped + s.duplicated);
        assert!((400..700).contains(&s.corrupted), "{s:?}");
    }

    #[test]
    fn arp_passes_untouched_and_delay_holds() {
        let imp: Impairment = "loss 100%".parse().unwrap();
        let c = Counters::default();
        let mut rng = Rng::new(2);
        let mut arp = ip_frame();
        arp[13] = 0x06;
        assert_eq!(decide(&arp, &imp, &mut rng, &c).len(), 1);
        assert!(decide(&ip_frame(), &imp, &mut rng, &c).is_empty());

        let imp: Impairment = "delay 100ms 20ms".parse().unwrap();
        for _ in 0..100 {
            let out = decide(&ip_frame(), &imp, &mut rng, &c);
            let hold = out[0].0;
            assert!(hold >= Duration::from_millis(80) && hold <= Duration::from_millis(120));
        }
        let imp: Impairment = "delay 100ms, reorder 100%".parse().unwrap();
        assert_eq!(decide(&ip_frame(), &imp, &mut rng, &c)[0].0, Duration::ZERO);
        let imp: Impairment = "reorder 100%".parse().unwrap();
        assert_eq!(decide(&ip_frame(), &imp, &mut rng, &c)[0].0, REORDER_HOLD);
    }

    #[test]
    fn a_corrupted_frame_differs_by_one_bit_after_the_ethernet_header() {
        let imp: Impairment = "corrupt 100%".parse().unwrap();
        let c = Counters::default();
        let mut rng = Rng::new(3);
        let frame = ip_frame();
        for _ in 0..50 {
            let out = decide(&frame, &imp, &mut rng, &c);
            let got = &out[0].1;
            let diff: u32 = frame
                .iter()
                .zip(got)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(diff, 1);
            assert_eq!(&got[..ETH_HEADER], &frame[..ETH_HEADER]);
        }
    }
}
