//! `cargo xtask soak --seconds N`: every server at once under a mix of
//! valid and hostile traffic; afterwards each server's memory, threads and
//! open files must come back to their baseline, and every valid request
//! must have had a correct answer.
//!
//! A second http-server with a small connection cap is kept full of
//! stalled clients (header drippers, non-readers, idle keep-alive
//! connections, topped up as the server closes them to make room) while
//! newcomers are timed: each must be answered within a second, and the
//! server's threads, sampled every 10 ms, must stay within the cap plus
//! one plus a few fixed threads.
//!
//! Last, a fresh http-server takes bursts of 2,000 connections: once no
//! connection is open after each, its memory must be back within twice
//! its idle RSS or 16 MiB, whichever is larger (tcp-uppercase has the same
//! check first; `--bursts-only` runs just that one).

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use testkit::{Rng, Server};

use crate::util::{cargo, run_checked, target_dir};

/// How long servers get after the traffic to close idle connections and
/// let spare threads go (above the keep-alive and idle time-outs used).
const SETTLE: Duration = Duration::from_secs(6);

/// The connection cap of the http-server kept full of stalled clients.
const STALL_CAP: usize = 64;

/// Stalled connections held against it per stalling worker (three
/// workers: together well over the cap).
const STALLED_PER_WORKER: usize = 32;

/// How soon a newcomer must be answered while the house is full.
const NEWCOMER_WITHIN: Duration = Duration::from_secs(1);

/// Threads a server has before any client, as `ps -T` lists them for the
/// quiet http-server: the main thread, the signal handler's, the stderr
/// writer and the first spare connection thread, waiting in `accept`.
const FIXED_THREADS: usize = 4;

/// Threads the capped http-server may have besides one per connection:
/// its [`FIXED_THREADS`], a spare in `accept` for each further CPU (so
/// each CPU can take a newcomer at once: net-core's `max_accepting`), the
/// one thread waiting for parked keep-alive connections, and one on its
/// way out.
fn allowed_extra_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    FIXED_THREADS + (cpus - 1) + 1 + 1
}

/// Connections opened at once in each burst against tcp-uppercase: about
/// twice its default cap, so half of them queue.
const BURST_CONNECTIONS: usize = 2_000;

/// Bursts in a row: memory that is not given back grows with each.
const BURSTS: usize = 4;

/// After a burst, the server's RSS must come back under the larger of
/// this many times its idle RSS and [`BURST_RSS_FLOOR_KIB`].
const BURST_RSS_FACTOR: u64 = 2;

/// See [`BURST_RSS_FACTOR`]: 16 MiB.
const BURST_RSS_FLOOR_KIB: u64 = 16 * 1024;

/// Slowest newcomer answer seen, in microseconds.
static SLOWEST_NEWCOMER_US: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy)]
struct Usage {
    rss_kib: u64,
    threads: u64,
    fds: u64,
}

fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Usage {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64),
    }
}

/// Counters of one kind of traffic.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    wrong: AtomicU64,
    hostile: AtomicU64,
}

fn http_get(
    addr: SocketAddr,
    path: &str,
    keep: Option<&mut Option<BufReader<TcpStream>>>,
) -> Option<(u16, Vec<u8>)> {
    let mut fresh = None;
    let slot = keep.unwrap_or(&mut fresh);
    if slot.is_none() {
        let s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        *slot = Some(BufReader::new(s));
    }
    let s = slot.as_mut()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n");
    let got = s
        .get_mut()
        .write_all(req.as_bytes())
        .and_then(|()| testkit::http::read_response(s, false));
    match got {
        Ok(r) => Some((r.status, r.body)),
        Err(_) => {
            *slot = None;
            None
        }
    }
}

/// `cargo xtask soak`'s options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long the traffic runs.
    #[arg(long, value_name = "N", default_value_t = 30)]
    seconds: u64,
    /// Only the check of tcp-uppercase's memory after bursts of
    /// connections (quick).
    #[arg(long)]
    bursts_only: bool,
}

/// The tcp-uppercase bursts; unless `--bursts-only`, then the mixed
/// traffic, the comparison with the baseline and the http-server bursts.
pub fn run(args: Args) -> Result<()> {
    let Args {
        seconds,
        bursts_only,
    } = args;
    if !cfg!(target_os = "linux") {
        bail!("soak reads /proc for memory, threads and files: Linux only");
    }
    run_checked(cargo().args(["build", "--release", "--quiet", "--bins"]))?;
    let release = target_dir().join("release");
    let mut failed = tcp_bursts(&release)?;
    if bursts_only {
        return verdict(
            &failed,
            "soak: tcp-uppercase's memory came back after every burst",
        );
    }
    let root = target_dir().join("soak-www");
    let servers = Servers::start(&release, &root)?;
    let before = servers.baseline();
    let traffic = mixed_traffic(&servers, seconds);
    settle_and_compare(&servers, &before, &mut failed);
    traffic.check(&mut failed);
    servers.check_panics(&mut failed);
    drop(servers);
    failed.extend(http_rss_after_bursts(&release, &root.to_string_lossy())?);
    let _ = std::fs::remove_dir_all(&root);
    verdict(
        &failed,
        "\nsoak: every valid request was answered correctly; memory, threads and files came back to their baseline",
    )
}

/// Fails with every problem found, or prints `all_well`.
fn verdict(failed: &[String], all_well: &str) -> Result<()> {
    if !failed.is_empty() {
        bail!("soak found problems:\n  {}", failed.join("\n  "));
    }
    println!("{all_well}");
    Ok(())
}

/// The servers under mixed traffic: http-server, tcp-uppercase, udp-chat,
/// and a second http-server with a small connection cap.
struct Servers {
    http: Server,
    tcp: Server,
    udp: Server,
    capped: Server,
}

impl Servers {
    /// Writes the files to serve under `root` and starts the servers.
    fn start(release: &Path, root: &Path) -> Result<Servers> {
        std::fs::create_dir_all(root)?;
        let small = b"soak small file\n".to_vec();
        let big: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(root.join("small.txt"), &small)?;
        std::fs::write(root.join("big.bin"), &big)?;
        let root_arg = root.to_string_lossy().to_string();

        let start = |bin: &str, args: &[&str]| {
            Server::try_start(release.join(bin), args).map_err(|e| anyhow!(e))
        };
        let http = start(
            "http-server",
            &[
                "--port",
                "0",
                "--root",
                &root_arg,
                "--quiet",
                "--keepalive-timeout",
                "2",
                "--header-timeout",
                "3",
            ],
        )?;
        let tcp = start(
            "tcp-uppercase",
            &["server", "--port", "0", "--quiet", "--idle-timeout", "3"],
        )?;
        let udp = start("udp-chat", &["server", "--port", "0", "--quiet"])?;
        let stall_cap = STALL_CAP.to_string();
        let capped = start(
            "http-server",
            &[
                "--port",
                "0",
                "--root",
                &root_arg,
                "--quiet",
                "--max-connections",
                &stall_cap,
                // Long, so making room is what frees slots; the header
                // time-out stays short because spare threads leave after it.
                "--keepalive-timeout",
                "60",
                "--header-timeout",
                "3",
                "--write-timeout",
                "60",
            ],
        )?;
        Ok(Servers {
            http,
            tcp,
            udp,
            capped,
        })
    }

    /// Each server with its name in the report, in the report's order.
    fn named(&self) -> [(&'static str, &Server); 4] {
        [
            ("http-server", &self.http),
            ("tcp-uppercase", &self.tcp),
            ("udp-chat", &self.udp),
            ("http (capped)", &self.capped),
        ]
    }

    /// Each server's usage now, in the report's order.
    fn usage(&self) -> Vec<Usage> {
        self.named().iter().map(|(_, s)| usage(s.pid())).collect()
    }

    /// Warms up, lets the servers settle, then takes the baseline.
    fn baseline(&self) -> Vec<Usage> {
        for _ in 0..20 {
            http_get(self.http.addr(), "/small.txt", None);
        }
        thread::sleep(SETTLE);
        self.usage()
    }

    /// A failure for each server that panicked.
    fn check_panics(&self, failed: &mut Vec<String>) {
        for (name, s) in self.named() {
            if s.stderr().iter().any(|l| l.contains("panicked")) {
                failed.push(format!("{name} panicked"));
            }
        }
    }
}

/// Runs the valid, hostile and stalling clients against every server for
/// `seconds`, printing each server's threads and files every second, while
/// the capped server's threads are sampled every 10 ms.
fn mixed_traffic(servers: &Servers, seconds: u64) -> Traffic {
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Arc<[Tally; 4]> = Arc::new(Default::default());
    let workers = spawn_clients(servers, &stop, &tallies);
    let peak_threads = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak_threads.clone(), servers.capped.pid());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(usage(pid).threads as usize, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    println!(
        "soak: {seconds} s of mixed traffic against http-server {}, tcp-uppercase {}, udp-chat {}",
        servers.http.addr(),
        servers.tcp.addr(),
        servers.udp.addr()
    );
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(seconds) {
        thread::sleep(Duration::from_secs(1));
        let peak: Vec<String> = servers
            .named()
            .iter()
            .map(|(n, s)| {
                let u = usage(s.pid());
                format!("{n}: {} threads, {} fds", u.threads, u.fds)
            })
            .collect();
        println!("  t={:>3}s  {}", t0.elapsed().as_secs(), peak.join("; "));
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    let _ = sampler.join();
    Traffic {
        tallies,
        peak_threads: peak_threads.load(Ordering::SeqCst),
    }
}

/// Starts the client threads, each counting into its kind's tally: valid,
/// hostile, TCP and UDP clients (four of each), the three kinds of stalled
/// clients of the capped server and its timed newcomers.
fn spawn_clients(
    servers: &Servers,
    stop: &Arc<AtomicBool>,
    tallies: &Arc<[Tally; 4]>,
) -> Vec<thread::JoinHandle<()>> {
    let (ha, ta, ua, ca) = (
        servers.http.addr(),
        servers.tcp.addr(),
        servers.udp.addr(),
        servers.capped.addr(),
    );
    let mut workers = Vec::new();
    let spawn = |workers: &mut Vec<thread::JoinHandle<()>>,
                 seed: u64,
                 f: fn(u64, SocketAddr, &AtomicBool, &Tally),
                 addr: SocketAddr,
                 which: usize| {
        let (stop, tallies) = (stop.clone(), tallies.clone());
        workers.push(thread::spawn(move || f(seed, addr, &stop, &tallies[which])));
    };
    for seed in 0..4 {
        spawn(&mut workers, seed, http_valid, ha, 0);
        spawn(&mut workers, seed + 100, http_hostile, ha, 0);
        spawn(&mut workers, seed + 200, tcp_mixed, ta, 1);
        spawn(&mut workers, seed + 300, udp_mixed, ua, 2);
    }
    for kind in 0..3 {
        spawn(&mut workers, kind, http_stalled, ca, 3);
    }
    spawn(&mut workers, 400, http_newcomer, ca, 3);
    workers
}

/// Gives the servers [`SETTLE`] after the traffic, then prints each one's
/// memory, threads and files before and after; a failure for each that
/// did not come back to its baseline.
fn settle_and_compare(servers: &Servers, before: &[Usage], failed: &mut Vec<String>) {
    thread::sleep(SETTLE);
    let after = servers.usage();
    println!(
        "\n{:<14} {:>22} {:>22} {:>18}",
        "server", "RSS KiB (before→after)", "threads (before→after)", "fds (before→after)"
    );
    for (i, (name, _)) in servers.named().iter().enumerate() {
        let (b, a) = (before[i], after[i]);
        println!(
            "{name:<14} {:>10} → {:<10} {:>10} → {:<10} {:>8} → {:<8}",
            b.rss_kib, a.rss_kib, b.threads, a.threads, b.fds, a.fds
        );
        if a.fds > b.fds + 2 {
            failed.push(format!(
                "{name} holds {} more file descriptors than before",
                a.fds - b.fds
            ));
        }
        if a.threads > b.threads + 2 {
            failed.push(format!(
                "{name} has {} more threads than before",
                a.threads - b.threads
            ));
        }
        // The allocator keeps some freed memory; growth beyond this is a leak.
        if a.rss_kib > b.rss_kib * 2 + 16 * 1024 {
            failed.push(format!(
                "{name} grew from {} to {} KiB",
                b.rss_kib, a.rss_kib
            ));
        }
    }
}

/// What the mixed traffic left: each kind's counters (http, tcp, udp,
/// stall) and the capped server's peak thread count.
struct Traffic {
    tallies: Arc<[Tally; 4]>,
    peak_threads: usize,
}

impl Traffic {
    /// Prints the capped server's peak threads and slowest newcomer and
    /// each kind's counters; a failure for too many threads, for any valid
    /// request answered wrongly or not at all, and for a kind with none
    /// answered.
    fn check(&self, failed: &mut Vec<String>) {
        let peak = self.peak_threads;
        let slowest = Duration::from_micros(SLOWEST_NEWCOMER_US.load(Ordering::SeqCst));
        println!(
            "capped http-server (cap {STALL_CAP}, full of stalled clients): peak {peak} threads (sampled every 10 ms), slowest newcomer {slowest:?}"
        );
        if peak > STALL_CAP + allowed_extra_threads() {
            failed.push(format!(
                "the capped http-server reached {peak} threads at a cap of {STALL_CAP}"
            ));
        }
        let names = ["http", "tcp", "udp", "stall"];
        for (i, t) in self.tallies.iter().enumerate() {
            let (ok, wrong, hostile) = (
                t.ok.load(Ordering::SeqCst),
                t.wrong.load(Ordering::SeqCst),
                t.hostile.load(Ordering::SeqCst),
            );
            println!(
                "{:<5} valid answered correctly: {ok}, wrong or missing: {wrong}, hostile sent: {hostile}",
                names[i]
            );
            if wrong > 0 {
                failed.push(format!(
                    "{wrong} valid {} request(s) got a wrong or no answer",
                    names[i]
                ));
            }
            if ok == 0 {
                failed.push(format!("no valid {} request was answered", names[i]));
            }
        }
    }
}

/// How long after a burst's last connection closed http-server's memory is
/// measured: above the server's delay before it hands memory back.
const BURST_SETTLE: Duration = Duration::from_secs(3);

/// A fresh http-server (as users run it: log on, default cap) takes
/// [`BURSTS`] bursts of [`BURST_CONNECTIONS`] connections, each making one
/// request; once no connection is open after a burst, its RSS must be
/// within the bound. Returns the failures.
fn http_rss_after_bursts(release: &std::path::Path, root: &str) -> Result<Vec<String>> {
    let server = Server::try_start(
        release.join("http-server"),
        &["--port", "0", "--root", root],
    )
    .map_err(|e| anyhow!(e))?;
    let (addr, pid) = (server.addr(), server.pid());
    for _ in 0..20 {
        http_get(addr, "/small.txt", None);
    }
    thread::sleep(Duration::from_secs(1));
    let idle = usage(pid);
    let bound = (idle.rss_kib * BURST_RSS_FACTOR).max(BURST_RSS_FLOOR_KIB);
    let mut rss = Vec::new();
    for burst in 1..=BURSTS {
        let mut conns = Vec::with_capacity(BURST_CONNECTIONS);
        for _ in 0..BURST_CONNECTIONS {
            let s = TcpStream::connect(addr).map_err(|e| {
                anyhow!(
                    "burst {burst}: connection {} failed: {e} (ulimit -n?)",
                    conns.len() + 1
                )
            })?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            conns.push(s);
        }
        for s in &mut conns {
            s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: soak\r\n\r\n")?;
        }
        let mut answered = 0;
        for s in conns.drain(..) {
            let reply = testkit::http::read_response(&mut BufReader::new(s), false);
            if matches!(reply, Ok(r) if r.status == 200 && r.body == b"soak small file\n") {
                answered += 1;
            }
        }
        // No connection open: the server's sockets are back to idle.
        let deadline = Instant::now() + Duration::from_secs(20);
        while usage(pid).fds > idle.fds && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        // The server hands memory back a second after its last connection
        // closed (once the burst's threads have ended).
        thread::sleep(BURST_SETTLE);
        let after = usage(pid);
        println!(
            "http-server burst {burst} of {BURST_CONNECTIONS} connections: {answered} answered; RSS {} KiB idle, {} KiB after ({} threads, {} fds)",
            idle.rss_kib, after.rss_kib, after.threads, after.fds
        );
        rss.push(after.rss_kib);
        if answered < BURST_CONNECTIONS {
            bail!(
                "burst {burst}: only {answered} of {BURST_CONNECTIONS} connections were answered"
            );
        }
    }
    Ok(rss
        .iter()
        .enumerate()
        .filter(|&(_, &kib)| kib > bound)
        .map(|(i, kib)| {
            format!(
                "http-server holds {kib} KiB after burst {} of {BURST_CONNECTIONS} connections (idle {} KiB, bound {bound} KiB)",
                i + 1,
                idle.rss_kib
            )
        })
        .collect())
}

/// Bursts of [`BURST_CONNECTIONS`] connections at once against a fresh
/// tcp-uppercase server: after each, with every connection closed and the
/// spare threads gone, its RSS must be back under the bound. Returns the
/// problems found.
fn tcp_bursts(release: &std::path::Path) -> Result<Vec<String>> {
    let server = Server::try_start(
        release.join("tcp-uppercase"),
        &["server", "--port", "0", "--quiet", "--idle-timeout", "2"],
    )
    .map_err(|e| anyhow!(e))?;
    let (addr, pid) = (server.addr(), server.pid());
    for _ in 0..20 {
        burst(addr, 1);
    }
    thread::sleep(Duration::from_secs(3));
    let idle = usage(pid).rss_kib;
    let bound = (idle * BURST_RSS_FACTOR).max(BURST_RSS_FLOOR_KIB);
    println!(
        "soak: {BURSTS} bursts of {BURST_CONNECTIONS} connections against tcp-uppercase {addr} (idle RSS {idle} KiB, bound {bound} KiB)"
    );
    let mut failed = Vec::new();
    let mut after = Vec::new();
    for i in 0..BURSTS {
        let t0 = Instant::now();
        let ((made, answered), peak) = burst_sampled(addr, pid);
        // The idle time-out (2 s) lets spare threads go.
        thread::sleep(Duration::from_secs(4));
        let u = usage(pid);
        println!(
            "  burst {}: {made} connected, {answered} answered in {:.1} s, peak {} threads / {} KiB; after: {} threads, {} KiB",
            i + 1,
            t0.elapsed().as_secs_f64(),
            peak.threads,
            peak.rss_kib,
            u.threads,
            u.rss_kib
        );
        // A connect that fails is the load's (ports, the machine), not
        // the server's; every connection made must be answered.
        if answered < made || made < BURST_CONNECTIONS / 2 {
            failed.push(format!(
                "tcp-uppercase answered {answered} of {made} connections made ({BURST_CONNECTIONS} tried) in burst {}",
                i + 1
            ));
        }
        after.push(u.rss_kib);
    }
    if let Some(&last) = after.last()
        && last > bound
    {
        failed.push(format!(
            "tcp-uppercase kept {last} KiB after {BURSTS} bursts (idle {idle} KiB, bound {bound} KiB)"
        ));
    }
    Ok(failed)
}

/// One burst while sampling the server's threads and RSS; returns the
/// connections made and answered, and the peak usage.
fn burst_sampled(addr: SocketAddr, pid: u32) -> ((usize, usize), Usage) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        thread::spawn(move || {
            let mut peak = usage(pid);
            while !done.load(Ordering::Relaxed) {
                let u = usage(pid);
                peak.threads = peak.threads.max(u.threads);
                peak.rss_kib = peak.rss_kib.max(u.rss_kib);
                thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let counts = burst(addr, BURST_CONNECTIONS);
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(usage(pid));
    (counts, peak)
}

/// Opens `n` connections (from 8 threads) before any sends, so the server
/// holds as many at once as its cap allows (a thread each); then each
/// sends a sentence and its end of stream, and reads the whole reply.
/// Returns the connections made and the replies that were right.
fn burst(addr: SocketAddr, n: usize) -> (usize, usize) {
    const THREADS: usize = 8;
    let made = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (made, answered) = (made.clone(), answered.clone());
            let share = n / THREADS + usize::from(t < n % THREADS);
            thread::spawn(move || {
                let conns: Vec<TcpStream> = (0..share)
                    .filter_map(|_| match TcpStream::connect(addr) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            log_once(&format!("burst: connect failed: {e}"));
                            None
                        }
                    })
                    .collect();
                made.fetch_add(conns.len(), Ordering::Relaxed);
                for (i, mut s) in conns.iter().enumerate() {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = write!(s, "burst {t} {i}");
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
                for (i, mut s) in conns.into_iter().enumerate() {
                    let mut got = String::new();
                    match s.read_to_string(&mut got) {
                        Ok(_) if got == format!("BURST {t} {i}") => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => log_once(&format!("burst: wrong reply {got:?}")),
                        Err(e) => log_once(&format!("burst: reading the reply failed: {e}")),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    (made.load(Ordering::SeqCst), answered.load(Ordering::SeqCst))
}

/// Prints each distinct burst failure once.
fn log_once(what: &str) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !seen.iter().any(|s| s == what) {
        println!("  {what}");
        seen.push(what.to_string());
    }
}

/// Valid GETs, keep-alive and fresh connections, small and large files.
fn http_valid(seed: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    let mut rng = Rng::new(seed);
    let mut kept = None;
    while !stop.load(Ordering::Relaxed) {
        let big = rng.next_u64().is_multiple_of(10);
        let path = if big { "/big.bin" } else { "/small.txt" };
        let keep = rng.next_u64().is_multiple_of(2);
        let got = if keep {
            http_get(addr, path, Some(&mut kept))
        } else {
            http_get(addr, path, None)
        };
        let good = match got {
            Some((200, body)) if big => {
                body.len() == 2 * 1024 * 1024
                    && body.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8)
            }
            Some((200, body)) => body == b"soak small file\n",
            _ => {
                // A kept connection may have been closed by the keep-alive
                // time-out between requests; retry once on a fresh one.
                kept = None;
                matches!(http_get(addr, path, None), Some((200, _)))
            }
        };
        let counter = if good { &t.ok } else { &t.wrong };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Garbage, half requests, abandoned downloads, resets.
fn http_hostile(seed: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let payload: Vec<u8> = match rng.next_u64() % 5 {
            0 => {
                let n = 1 + (rng.next_u64() % 2000) as usize;
                rng.bytes(n)
            }
            1 => b"GET /small.txt HTTP/1.1\r\nHo".to_vec(),
            2 => b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            3 => b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            _ => format!("GET /{} HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(9000), "b".repeat(40_000)).into_bytes(),
        };
        let _ = s.write_all(&payload);
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf); // read a little, then vanish
        t.hostile.fetch_add(1, Ordering::Relaxed);
    }
}

/// Valid exchanges and garbage streams against tcp-uppercase.
fn tcp_mixed(seed: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        if rng.next_u64().is_multiple_of(3) {
            let n = 1 + (rng.next_u64() % 50_000) as usize;
            let junk = rng.bytes(n);
            let _ = s.write_all(&junk);
            t.hostile.fetch_add(1, Ordering::Relaxed);
            continue; // dropped with the reply unread
        }
        let msg = format!("soak {} straße", rng.next_u64());
        let want = format!("SOAK {} STRASSE", msg.split(' ').nth(1).unwrap_or(""));
        let mut got = Vec::new();
        let ok = s.write_all(msg.as_bytes()).is_ok()
            && s.shutdown(std::net::Shutdown::Write).is_ok()
            && s.read_to_end(&mut got).is_ok()
            && got == want.as_bytes();
        let counter = if ok { &t.ok } else { &t.wrong };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a stalled connection is still held by the server: nothing to
/// read yet (or, for a non-reader, response bytes waiting unread). An
/// answer (a 503), an end or a reset means it was closed to make room.
fn still_held(s: &TcpStream, non_reader: bool) -> bool {
    let mut probe = [0u8; 1];
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let held = match s.peek(&mut probe) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        Ok(0) => false,
        Ok(_) => non_reader,
    };
    let _ = s.set_nonblocking(false);
    held
}

/// Keeps `STALLED_PER_WORKER` stalled connections of one kind open against
/// the capped server (0: header drippers, 1: non-readers, 2: idle
/// keep-alive), opening new ones as the server closes old ones.
fn http_stalled(kind: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    let mut held: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        held.retain(|s| still_held(s, kind == 1));
        while held.len() < STALLED_PER_WORKER && !stop.load(Ordering::Relaxed) {
            let conn = match kind {
                0 => TcpStream::connect(addr).ok().and_then(|mut s| {
                    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: soak\r\nX-Slow: ")
                        .ok()?;
                    Some(s)
                }),
                1 => TcpStream::connect(addr).ok().and_then(|mut s| {
                    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
                        .ok()?;
                    Some(s)
                }),
                _ => {
                    let mut slot = None;
                    match http_get(addr, "/small.txt", Some(&mut slot)) {
                        Some((200, _)) => slot.map(BufReader::into_inner),
                        _ => None,
                    }
                }
            };
            match conn {
                Some(s) => {
                    held.push(s);
                    t.hostile.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// New clients of the capped server, timed: each must be answered
/// correctly within `NEWCOMER_WITHIN`.
fn http_newcomer(_seed: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let got = http_get(addr, "/small.txt", None);
        let took = start.elapsed();
        SLOWEST_NEWCOMER_US.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
        let good = matches!(got, Some((200, body)) if body == b"soak small file\n")
            && took < NEWCOMER_WITHIN;
        let counter = if good { &t.ok } else { &t.wrong };
        counter.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(20));
    }
}

/// Valid round trips and random datagrams against udp-chat.
fn udp_mixed(seed: u64, addr: SocketAddr, stop: &AtomicBool, t: &Tally) {
    let mut rng = Rng::new(seed);
    let Ok(junk) = UdpSocket::bind("127.0.0.1:0") else {
        return;
    };
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
        return;
    };
    if s.connect(addr).is_err() || s.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
        return;
    }
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..3 {
            let n = (rng.next_u64() % 1400) as usize;
            let _ = junk.send_to(&rng.bytes(n), addr);
            t.hostile.fetch_add(1, Ordering::Relaxed);
        }
        let msg = format!("soak {}", rng.next_u64());
        let ok = s.send(msg.as_bytes()).is_ok()
            && matches!(s.recv(&mut buf), Ok(n) if buf[..n] == *msg.to_uppercase().as_bytes());
        // UDP may drop under load: a lost datagram is retried once.
        let ok = ok
            || (s.send(msg.as_bytes()).is_ok()
                && matches!(s.recv(&mut buf), Ok(n) if buf[..n] == *msg.to_uppercase().as_bytes()));
        let counter = if ok { &t.ok } else { &t.wrong };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
