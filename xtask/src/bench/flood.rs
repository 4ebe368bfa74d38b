//! The live capture under a UDP flood, beside tcpdump on the same traffic:
//! several processes of this program, each sending small datagrams that
//! carry its pid on a connected socket.
//!
//! - CPU per frame of each capturer (the scheduler's count of its
//!   threads' time on a CPU, which the machine's load changes far less
//!   than wall time):
//!   net-trace's table to a file, with and without naming processes,
//!   beside `tcpdump -nn` writing text to a file; and net-trace saving a
//!   pcap alone (`--quiet --pcap`) beside `tcpdump -w`.
//! - The rate the senders reach, with `stress -c 2` beside them when it is
//!   installed, beside tcpdump alone and beside net-trace (naming
//!   processes) and tcpdump; the frames each kept, the rows named, the
//!   wrong names.
//! - How long net-trace takes to exit after Ctrl-C while the flood runs.
//!
//! A row is wrong when it names a pid other than the one its datagram
//! carries.

use std::fs::File;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::report::Workload;

/// Processes of the flood.
pub const FLOOD_PROCS: usize = 4;

/// Datagrams each flood process sends for the CPU rows.
const FLOOD_DATAGRAMS: usize = 50_000;

/// A flood datagram's size: the pid, padded.
const FLOOD_LEN: usize = 32;

/// How long the senders send for the rate rows.
const RATE_SECONDS: f64 = 3.0;

/// The rate the issue asks net-trace to keep up with, from
/// [`FLOOD_PROCS`] processes beside `stress -c 2`.
const TARGET_RATE: f64 = 300_000.0;

/// After the flood, before the capturers are stopped: tcpdump hands its
/// ring's blocks to itself when full or after its 1 s time-out, and
/// frames in a block it has not taken when stopped are never counted.
const SETTLE: Duration = Duration::from_millis(1500);

/// How long either capture may take to say it is capturing, or to stop.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A capture's output unchanged this long has caught up with what it
/// captured (its rows wait at most a fraction of this for evidence once
/// the traffic ends).
const QUIET_OUTPUT: Duration = Duration::from_millis(700);

/// Waits (at most [`TIMEOUT`]) until `progress` (a capture's output so
/// far) has not moved for [`QUIET_OUTPUT`]: after a stop request a
/// capture shows what it has for 0.3 s at most, and the bench
/// compares the frames kept, not how far behind the table was.
pub fn caught_up(progress: impl Fn() -> u64) {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = (progress(), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = progress();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= QUIET_OUTPUT {
            return;
        }
    }
}

/// How long the flood runs before the Ctrl-C, and the longest the exit
/// after it may take.
const CTRL_C_AFTER: Duration = Duration::from_millis(1500);
const CTRL_C_LIMIT: Duration = Duration::from_secs(1);

/// How net-trace captures the flood, and the tcpdump beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The table to a file, naming processes; beside `tcpdump -nn`.
    Processes,
    /// The table to a file, `--no-processes`; beside `tcpdump -nn`.
    NoProcesses,
    /// `--quiet --pcap FILE`; beside `tcpdump -w FILE`.
    PcapOnly,
}

impl Mode {
    fn title(self) -> String {
        let what = match self {
            Mode::Processes => "table to a file, processes named",
            Mode::NoProcesses => "table to a file, --no-processes",
            Mode::PcapOnly => "a pcap only (--quiet --pcap)",
        };
        format!("live capture, UDP flood of {FLOOD_PROCS} processes, CPU per frame, {what}")
    }

    fn peer(self) -> &'static str {
        match self {
            Mode::PcapOnly => "tcpdump -w",
            _ => "tcpdump -nn",
        }
    }
}

/// The flood rows, added to `results`; what each run saw goes to `notes`.
pub fn bench(
    release: &Path,
    rounds: usize,
    notes: &mut Vec<String>,
    results: &mut Vec<Workload>,
) -> Result<()> {
    let modes = [Mode::Processes, Mode::NoProcesses, Mode::PcapOnly];
    let mut cpu: Vec<Workload> = modes
        .iter()
        .map(|m| Workload::new(&m.title(), "µs", "net-trace").lower_is_better())
        .collect();
    let stress = crate::util::have("stress", "--version");
    let beside = if stress {
        "beside stress -c 2"
    } else {
        "without stress (not installed: apt-get install stress)"
    };
    if !stress {
        notes.push(
            "stress is not installed (apt-get install stress): the flood's rate rows ran without it."
                .into(),
        );
    }
    let mut rate = Workload::new(
        &format!("live capture, UDP flood of {FLOOD_PROCS} processes {beside}: senders' rate"),
        "datagrams/s",
        "beside net-trace and tcpdump -w",
    );
    let mut named = Workload::new(
        &format!("live capture, UDP flood of {FLOOD_PROCS} processes {beside}: rows named"),
        "%",
        "net-trace",
    );
    let mut stop = Workload::new(
        &format!("live capture, Ctrl-C under the UDP flood {beside}: time to exit"),
        "s",
        "net-trace",
    )
    .lower_is_better();
    for round in 1..=rounds {
        for (mode, w) in modes.iter().zip(cpu.iter_mut()) {
            let run = capture_flood(
                release,
                Some(*mode),
                *mode,
                Flood::Count(FLOOD_DATAGRAMS),
                false,
            )?;
            let ours = per_frame(run.cpu.0, run.ours);
            let theirs = per_frame(run.cpu.1, run.tcpdump);
            let line = format!(
                "round {round}, {}: net-trace {} frames, {} dropped, {ours:.2} µs a frame; {} {} frames, {theirs:.2} µs a frame{}",
                mode.title(),
                run.ours,
                run.dropped,
                mode.peer(),
                run.tcpdump,
                run.names_line()
            );
            println!("  {line}");
            notes.push(format!("Live, {line}."));
            w.add("net-trace", ours);
            w.add(mode.peer(), theirs);
        }
        // The rate the senders reach beside tcpdump alone, then beside
        // net-trace too.
        let flood = Flood::Seconds(RATE_SECONDS);
        let alone = capture_flood(release, None, Mode::PcapOnly, flood, stress)?.rate;
        let run = capture_flood(
            release,
            Some(Mode::Processes),
            Mode::PcapOnly,
            flood,
            stress,
        )?;
        let share = 100.0 * run.named as f64 / run.rows.max(1) as f64;
        let line = format!(
            "round {round}, UDP flood for {RATE_SECONDS} s {beside}: senders {:.0}/s beside tcpdump -w alone, {:.0}/s beside net-trace and tcpdump -w (target {TARGET_RATE:.0}/s); net-trace kept {} frames ({} dropped), tcpdump {}; {share:.2}% named{}; summary: {}",
            alone,
            run.rate,
            run.ours,
            run.dropped,
            run.tcpdump,
            run.names_line(),
            run.last_line
        );
        println!("  {line}");
        notes.push(format!("Live, {line}."));
        if !run.warnings.is_empty() {
            notes.push(format!(
                "Live, round {round}: net-trace warned: {}.",
                run.warnings.join("; ")
            ));
        }
        rate.add("beside tcpdump -w", alone);
        rate.add("beside net-trace and tcpdump -w", run.rate);
        named.add("net-trace", share);
        let took = ctrl_c(release, stress)?;
        let line = format!(
            "round {round}, Ctrl-C {:.1} s into the flood: net-trace exited after {:.3} s with its counts (limit {:.0} s)",
            CTRL_C_AFTER.as_secs_f64(),
            took.as_secs_f64(),
            CTRL_C_LIMIT.as_secs_f64()
        );
        println!("  {line}");
        notes.push(format!("Live, {line}."));
        stop.add("net-trace", took.as_secs_f64());
    }
    for (w, limit) in [(&rate, TARGET_RATE), (&named, 99.0)] {
        if let Some(m) = w.measures().iter().find(|m| m.server == w.ours) {
            notes.push(format!(
                "{}: median {:.1} {} (target ≥ {limit}): {}",
                w.title,
                m.median,
                w.unit,
                if m.median >= limit { "met" } else { "MISSED" }
            ));
        }
    }
    if let Some(m) = stop.measures().first() {
        notes.push(format!(
            "{}: worst {:.3} s (limit {:.0} s): {}",
            stop.title,
            m.max,
            CTRL_C_LIMIT.as_secs_f64(),
            if m.max <= CTRL_C_LIMIT.as_secs_f64() {
                "met"
            } else {
                "MISSED"
            }
        ));
    }
    results.extend(cpu);
    results.extend([rate, named, stop]);
    Ok(())
}

fn per_frame(cpu: Duration, frames: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / frames.max(1) as f64
}

/// One flood sender (`cargo xtask udp-flood TO COUNT [--seconds S]`):
/// `count` datagrams to `to`, or as many as it can send in `seconds`, each
/// holding this process's pid, on a connected socket; prints how many it
/// sent.
pub fn send(to: std::net::SocketAddr, count: usize, seconds: Option<f64>) -> Result<()> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(to)?;
    let mut payload = format!("pid{}", std::process::id()).into_bytes();
    payload.resize(FLOOD_LEN, b'.');
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut sent = 0usize;
    while sent < count {
        // A full receive queue drops datagrams at the receiver, not here;
        // a refusal (nothing listening any more) ends nothing either.
        let _ = socket.send(&payload);
        sent += 1;
        if sent.is_multiple_of(1024) && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    // The bench reads it; nobody else may be listening.
    let _ = writeln!(std::io::stdout(), "{sent}");
    Ok(())
}

/// How much the senders send.
#[derive(Debug, Clone, Copy)]
enum Flood {
    /// This many datagrams each.
    Count(usize),
    /// As many as they can for this long.
    Seconds(f64),
}

/// What one flood beside tcpdump saw.
struct Run {
    /// Frames tcpdump counted.
    tcpdump: u64,
    /// Frames net-trace counted, and the kernel dropped.
    ours: u64,
    dropped: u64,
    /// CPU time (user and system) until they were stopped: net-trace's,
    /// tcpdump's.
    cpu: (Duration, Duration),
    /// Datagrams a second the senders sent.
    rate: f64,
    /// net-trace's table rows, those naming a process, those naming the
    /// wrong one.
    rows: usize,
    named: usize,
    wrong: usize,
    /// The table's last line (the summary of the processes named).
    last_line: String,
    /// net-trace's warnings.
    warnings: Vec<String>,
}

impl Run {
    fn names_line(&self) -> String {
        if self.rows == 0 {
            return String::new();
        }
        format!(
            "; rows named {} of {}, wrong names {}",
            self.named, self.rows, self.wrong
        )
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child whose process group is killed on drop (stress and its
/// workers; a capturer left behind by an error).
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        // Only while the child is unreaped is its group id still ours: a
        // reaped child's id may already be another process group's (pids
        // wrap at 32,768 on a busy machine).
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
}

/// A child whose stderr lines are collected as they come.
struct Capturer {
    child: Group,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Capturer {
    fn spawn(mut cmd: Command, stdout: &Path) -> Result<Capturer> {
        use std::os::unix::process::CommandExt as _;
        let mut child = cmd
            .stdout(File::create(stdout)?)
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stderr = child.stderr.take().context("stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("bench-stderr".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Capturer {
            child: Group(child),
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a line holding `text`.
    fn wait_for(&mut self, text: &str) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(text);
                    self.seen.push(line);
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => bail!(
                    "no line holding {text:?} within {TIMEOUT:?}: {:?}",
                    self.seen
                ),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit; how long it took.
    fn interrupt(&mut self) -> Result<Duration> {
        let start = Instant::now();
        Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()?;
        let deadline = start + TIMEOUT;
        loop {
            if let Some(status) = self.child.0.try_wait()? {
                let took = start.elapsed();
                self.seen.extend(self.lines.iter());
                if !status.success() {
                    bail!("exited with {status} after Ctrl-C: {:?}", self.seen);
                }
                return Ok(took);
            }
            if Instant::now() >= deadline {
                bail!("still running {TIMEOUT:?} after Ctrl-C: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// `N` from a line `N<suffix>`.
    fn count(&self, suffix: &str) -> Result<u64> {
        self.seen
            .iter()
            .find_map(|l| l.strip_suffix(suffix)?.trim().parse().ok())
            .with_context(|| format!("no line ending {suffix:?}: {:?}", self.seen))
    }
}

/// A UDP socket the flood goes to, bound but never read (its queue
/// overflows: the frames are on `lo` all the same).
fn sink() -> Result<std::net::UdpSocket> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?)
}

/// Starts `stress -c 2` for about `secs` (it stops itself too).
fn stress(secs: f64) -> Result<Group> {
    use std::os::unix::process::CommandExt as _;
    let child = Command::new("stress")
        .args(["-c", "2", "-t", &format!("{}", secs.ceil() as u64 + 5)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start stress")?;
    Ok(Group(child))
}

/// Starts the senders; each prints how many it sent when it ends.
fn senders(to: std::net::SocketAddr, flood: Flood) -> Result<Vec<Child>> {
    let xtask = std::env::current_exe()?;
    (0..FLOOD_PROCS)
        .map(|_| {
            let mut cmd = Command::new(&xtask);
            cmd.args(["udp-flood", &to.to_string()]);
            match flood {
                Flood::Count(n) => cmd.arg(n.to_string()),
                Flood::Seconds(s) => {
                    cmd.args([&usize::MAX.to_string(), "--seconds", &s.to_string()])
                }
            };
            cmd.stdout(Stdio::piped())
                .spawn()
                .context("cannot start a flood sender")
        })
        .collect()
}

/// Waits for the senders; the datagrams they sent in all.
fn sent(senders: Vec<Child>) -> Result<u64> {
    let mut total = 0;
    for s in senders {
        let out = s.wait_with_output()?;
        if !out.status.success() {
            bail!("a flood sender failed: {}", out.status);
        }
        total += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .context("a flood sender's count")?;
    }
    Ok(total)
}

/// Starts tcpdump for `mode` on `port`, writing into `dir`.
fn tcpdump(mode: Mode, port: u16, dir: &Path) -> Result<Capturer> {
    let mut cmd = Command::new("tcpdump");
    // Its defaults but a ring as large as net-trace's; `-Z root` keeps it
    // from handing its output file to its own user.
    cmd.args(["-i", "lo", "-nn", "-B", "65536", "-Z", "root"]);
    if mode == Mode::PcapOnly {
        cmd.arg("-w").arg(dir.join("tcpdump.pcap"));
    }
    cmd.args(["udp", "port", &port.to_string()]);
    let mut c = Capturer::spawn(cmd, &dir.join("tcpdump.txt"))?;
    c.wait_for("listening on")?;
    Ok(c)
}

/// Starts net-trace for `mode` on `port`, writing into `dir`.
fn net_trace(release: &Path, mode: Mode, port: u16, dir: &Path) -> Result<Capturer> {
    let mut cmd = Command::new(release.join("net-trace"));
    cmd.args(["capture", "--iface", "lo", "--port", &port.to_string()]);
    match mode {
        Mode::Processes => {}
        Mode::NoProcesses => {
            cmd.arg("--no-processes");
        }
        Mode::PcapOnly => {
            cmd.args(["--quiet", "--pcap"]).arg(dir.join("ours.pcap"));
        }
    }
    let mut c = Capturer::spawn(cmd, &dir.join("ours.txt"))?;
    c.wait_for("capturing on")?;
    Ok(c)
}

fn scratch() -> Result<Scratch> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("netlab-flood-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(Scratch(dir))
}

/// One flood captured by tcpdump as for `peer`, beside net-trace in mode
/// `ours` (or alone).
fn capture_flood(
    release: &Path,
    ours: Option<Mode>,
    peer: Mode,
    flood: Flood,
    with_stress: bool,
) -> Result<Run> {
    let dir = scratch()?;
    let sink = sink()?;
    let to = sink.local_addr()?;
    let mut theirs = tcpdump(peer, to.port(), &dir.0)?;
    let mut ours = match ours {
        Some(mode) => Some(net_trace(release, mode, to.port(), &dir.0)?),
        None => None,
    };
    let _stress = match flood {
        Flood::Seconds(s) if with_stress => Some(stress(s)?),
        _ => None,
    };
    let started = Instant::now();
    let total = sent(senders(to, flood)?)?;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let table = dir.0.join("ours.txt");
    let size = |name: &str| std::fs::metadata(dir.0.join(name)).map_or(0, |m| m.len());
    caught_up(|| size("ours.txt") + size("ours.pcap"));
    let cpu = (
        ours.as_ref().map_or(Duration::ZERO, |o| cpu_time(o.pid())),
        cpu_time(theirs.pid()),
    );
    theirs.interrupt()?;
    let tcpdump = theirs.count(" packets captured")?;
    let Some(ours) = ours.as_mut() else {
        return Ok(Run {
            tcpdump,
            ours: 0,
            dropped: 0,
            cpu,
            rate,
            rows: 0,
            named: 0,
            wrong: 0,
            last_line: String::new(),
            warnings: Vec::new(),
        });
    };
    ours.interrupt()?;
    let table = std::fs::read_to_string(&table).unwrap_or_default();
    let (rows, named, wrong) = check_names(&table);
    Ok(Run {
        tcpdump,
        ours: ours.count(" packets captured")?,
        dropped: ours.count(" packets dropped by kernel")?,
        cpu,
        rate,
        rows,
        named,
        wrong,
        last_line: table
            .lines()
            .rev()
            .find(|l| l.starts_with("Processes named") || l.starts_with("No process"))
            .unwrap_or("")
            .to_string(),
        warnings: ours
            .seen
            .iter()
            .filter(|l| l.starts_with("warning:"))
            .cloned()
            .collect(),
    })
}

/// net-trace naming processes, interrupted while the flood runs: how
/// long it took to exit (with its counts).
fn ctrl_c(release: &Path, with_stress: bool) -> Result<Duration> {
    let dir = scratch()?;
    let sink = sink()?;
    let to = sink.local_addr()?;
    let mut ours = net_trace(release, Mode::Processes, to.port(), &dir.0)?;
    let flood = Flood::Seconds(CTRL_C_AFTER.as_secs_f64() + 2.0);
    let _stress = if with_stress {
        Some(stress(CTRL_C_AFTER.as_secs_f64() + 2.0)?)
    } else {
        None
    };
    let senders = senders(to, flood)?;
    std::thread::sleep(CTRL_C_AFTER);
    let took = ours.interrupt();
    sent(senders)?;
    let took = took?;
    ours.count(" packets captured")?;
    ours.count(" packets dropped by kernel")?;
    Ok(took)
}

/// Table rows, rows naming a process, rows naming another pid than their
/// datagram carries.
fn check_names(table: &str) -> (usize, usize, usize) {
    let (mut rows, mut named, mut wrong) = (0, 0, 0);
    for row in table.lines().filter(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|n| n.parse::<u64>().is_ok())
    }) {
        rows += 1;
        let Some(at) = row.find("client (pid ") else {
            continue;
        };
        named += 1;
        let pid: String = row[at + "client (pid ".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !row.contains(&format!("\"pid{pid}.")) {
            wrong += 1;
        }
    }
    (rows, named, wrong)
}

/// CPU time (user and system, all threads) a live process has used, to
/// the nanosecond (the scheduler's count: a flood of 200,000 frames takes
/// tcpdump a few clock ticks).
fn cpu_time(pid: u32) -> Duration {
    Duration::from_nanos(super::peers::cpu_ns(&[pid]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_against_the_datagrams_pid() {
        let table = "\
No.  Time  Source\n\
    1   0.000  127.0.0.1  UDP  74  client→server  client (pid 42 xtask)  1 → 2 Len=32  ← datagram \"pid42.....\"\n\
    2   0.001  127.0.0.1  UDP  74  client→server  client (pid 43 xtask)  1 → 2 Len=32  ← datagram \"pid42.....\"\n\
    3   0.002  127.0.0.1  UDP  74  client→server                         1 → 2 Len=32  ← datagram \"pid42.....\"\n\
Processes named from kernel events for 2 of 3 TCP/UDP frames.\n";
        assert_eq!(check_names(table), (3, 2, 1));
    }
}
