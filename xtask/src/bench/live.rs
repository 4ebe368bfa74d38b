//! The live rows: `net-trace capture` beside tcpdump on loopback during the
//! lab's heaviest runs — 200 back-to-back `tcp-uppercase client` runs, and
//! `wrk -c16` keep-alive against http-server for 4 s — counting the frames
//! each captured and the kernel's drops, and checking every process
//! net-trace named against the pids the run started: a client named with
//! another client's pid, or a server frame with anything but the server's,
//! is counted as wrong. Then the UDP flood ([`super::flood`]).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use testkit::Server;

use super::peers;
use super::report::Workload;

/// Short clients per round.
const CLIENTS: usize = 200;

/// How long wrk loads http-server per round.
const WRK_SECONDS: u64 = 4;

/// How long either capture may take to say it is capturing, or to stop.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Frames still in flight when the last client exits (the server's last
/// ACK) are on the wire well within this.
const SETTLE: Duration = Duration::from_millis(300);

/// What one paired capture saw.
struct Paired {
    tcpdump: u64,
    ours: u64,
    dropped: u64,
    /// net-trace's table.
    rows: Vec<String>,
    /// net-trace's last word on naming (`Processes named … "unknown" for
    /// N: …`), which says why rows went unnamed.
    naming: Option<String>,
}

/// Adds the live rows to `results`, or a notice to `notes` saying why they
/// are skipped.
pub fn bench(
    release: &Path,
    rounds: usize,
    wrk: bool,
    notes: &mut Vec<String>,
    results: &mut Vec<Workload>,
) -> Result<()> {
    if !testkit::is_root() {
        notes.push("live capture rows need root (packet sockets): skipped.".into());
        return Ok(());
    }
    if !crate::util::have("tcpdump", "--version") {
        notes.push("live capture rows need tcpdump (apt-get install tcpdump): skipped.".into());
        return Ok(());
    }
    let mut short = Workload::new(
        &format!("live capture, {CLIENTS} short TCP clients (frames)"),
        "frames",
        "net-trace",
    );
    let mut load = Workload::new(
        &format!("live capture, wrk -c16 keep-alive {WRK_SECONDS} s (frames)"),
        "frames",
        "net-trace",
    );
    for round in 1..=rounds {
        let (paired, named, wrong) = short_clients(release)?;
        let what = format!("{CLIENTS} short `tcp-uppercase client` runs");
        let named = format!("clients named with their own pid {named}/{CLIENTS}");
        record(&mut short, notes, round, &what, &paired, &named, wrong);
        if wrk {
            let (paired, named, wrong) = keep_alive_load(release)?;
            let what = format!("wrk -c16 keep-alive {WRK_SECONDS} s");
            let mut named = format!("rows named {named} of {}", paired.rows.len());
            if let Some(why) = paired
                .naming
                .as_deref()
                .filter(|l| l.contains("\"unknown\""))
            {
                named.push_str(&format!(" (net-trace: {why})"));
            }
            record(&mut load, notes, round, &what, &paired, &named, wrong);
        }
    }
    if !wrk {
        notes.push("the wrk live row needs wrk (apt-get install wrk): skipped.".into());
    }
    results.push(short);
    if wrk {
        results.push(load);
    }
    super::flood::bench(release, rounds, notes, results)
}

/// Prints and notes one paired capture, and adds its counts to `w`.
fn record(
    w: &mut Workload,
    notes: &mut Vec<String>,
    round: usize,
    what: &str,
    paired: &Paired,
    named: &str,
    wrong: usize,
) {
    let line = format!(
        "round {round}, {what}: net-trace {} frames, tcpdump {}, kernel drops {}; {named}; wrong names {wrong}",
        paired.ours, paired.tcpdump, paired.dropped
    );
    println!("  {line}");
    notes.push(format!("Live, {line}."));
    w.add("net-trace", paired.ours as f64);
    w.add("tcpdump", paired.tcpdump as f64);
}

/// 200 sequential clients; returns the captures, the clients named with
/// their own pid, and the wrong names.
fn short_clients(release: &Path) -> Result<(Paired, usize, usize)> {
    let server = peers::ours(
        "tcp-uppercase",
        &release.join("tcp-uppercase"),
        &["server", "--port", "0", "--quiet"],
    )?;
    let port = server.addr.port();
    let started = Capture::start(release, port)?;
    let mut pids = HashSet::new();
    for i in 0..CLIENTS {
        let child = Command::new(release.join("tcp-uppercase"))
            .args([
                "client",
                "--port",
                &port.to_string(),
                "word",
                &i.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start tcp-uppercase client")?;
        pids.insert(child.id());
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("tcp-uppercase client {i} failed: {}", out.status);
        }
    }
    std::thread::sleep(SETTLE);
    let paired = started.stop()?;
    let servers: HashSet<u32> = server.pids().into_iter().collect();
    let (named, wrong) = check_names(&paired.rows, &pids, &servers);
    Ok((paired, named.len(), wrong))
}

/// wrk keep-alive against http-server; returns the captures, the rows
/// named, and the wrong names.
fn keep_alive_load(release: &Path) -> Result<(Paired, usize, usize)> {
    let www = std::env::temp_dir().join(format!("netlab-live-{}", std::process::id()));
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), b"<h1>Hello World</h1>\n")?;
    let server = peers::ours(
        "http-server",
        &release.join("http-server"),
        &["--port", "0", "--root", &www.to_string_lossy(), "--quiet"],
    )?;
    let measured = load_with_wrk(release, &server);
    let _ = std::fs::remove_dir_all(&www);
    measured
}

fn load_with_wrk(release: &Path, server: &peers::Running) -> Result<(Paired, usize, usize)> {
    let started = Capture::start(release, server.addr.port())?;
    let wrk = Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{WRK_SECONDS}s")])
        .arg(format!("http://{}/index.html", server.addr))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start wrk")?;
    let wrk_pid = wrk.id();
    let status = wrk.wait_with_output()?.status;
    if !status.success() {
        bail!("wrk failed: {status}");
    }
    std::thread::sleep(SETTLE);
    let paired = started.stop()?;
    let servers: HashSet<u32> = server.pids().into_iter().collect();
    let (_, wrong) = check_names(&paired.rows, &HashSet::from([wrk_pid]), &servers);
    let named = paired.rows.iter().filter(|r| r.contains("(pid ")).count();
    Ok((paired, named, wrong))
}

/// The client pids named (among `clients`) and the count of wrong names in
/// a table: a client row naming a pid the run did not start, a server row
/// naming anything but the server.
fn check_names(
    rows: &[String],
    clients: &HashSet<u32>,
    servers: &HashSet<u32>,
) -> (HashSet<u32>, usize) {
    let pid_after = |row: &str, who: &str| -> Option<u32> {
        let at = row.find(&format!("{who} (pid "))? + who.len() + " (pid ".len();
        row.get(at..)?.split(' ').next()?.parse().ok()
    };
    let mut named = HashSet::new();
    let mut wrong = 0;
    for row in rows {
        if let Some(pid) = pid_after(row, "client") {
            if clients.contains(&pid) {
                named.insert(pid);
            } else {
                wrong += 1;
            }
        }
        if let Some(pid) = pid_after(row, "server")
            && !servers.contains(&pid)
        {
            wrong += 1;
        }
    }
    (named, wrong)
}

/// tcpdump and net-trace capturing the same port on loopback.
struct Capture {
    tcpdump: Child,
    tcpdump_err: mpsc::Receiver<String>,
    ours: Server,
}

impl Capture {
    /// TCP on `port`, naming processes.
    fn start(release: &Path, port: u16) -> Result<Capture> {
        let mut tcpdump = Command::new("tcpdump")
            .args(["-i", "lo", "-nn", "--immediate-mode", "-B", "65536"])
            // Counting only; `-Z root` keeps tcpdump from handing the
            // output file (here /dev/null) to its own user.
            .args(["-Z", "root", "-w", "/dev/null"])
            .args(["tcp", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start tcpdump")?;
        let stderr = tcpdump.stderr.take().context("tcpdump's stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        loop {
            match rx.recv_timeout(TIMEOUT) {
                Ok(line) if line.contains("listening on") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = tcpdump.kill();
                    bail!("tcpdump did not start listening within {TIMEOUT:?}");
                }
            }
        }
        let port = port.to_string();
        let args = ["capture", "--iface", "lo", "--port", &port];
        let ours =
            Server::spawn(release.join("net-trace"), &args).map_err(|e| anyhow::anyhow!(e))?;
        ours.wait_for_stderr(TIMEOUT, |l| l.starts_with("capturing on"));
        Ok(Capture {
            tcpdump,
            tcpdump_err: rx,
            ours,
        })
    }

    fn stop(mut self) -> Result<Paired> {
        // A stop shows what was captured for 0.3 s at most, so
        // the table is let catch up first: frames kept are compared, not
        // how far behind the table was.
        super::flood::caught_up(|| self.ours.stdout().len() as u64);
        let kill = |pid: u32| {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
        };
        kill(self.tcpdump.id())?;
        let status = self.ours.terminate(TIMEOUT);
        if !status.is_some_and(|s| s.success()) {
            bail!(
                "net-trace did not stop cleanly ({status:?}): {}",
                self.ours.stderr().join("; ")
            );
        }
        self.tcpdump.wait()?;
        let tcpdump = self
            .tcpdump_err
            .try_iter()
            .find_map(|l| count_before(&l, " packets captured"))
            .context("tcpdump printed no count")?;
        let err = self.ours.stderr();
        let ours = err
            .iter()
            .find_map(|l| count_before(l, " packets captured"))
            .context("net-trace printed no count")?;
        let dropped = err
            .iter()
            .find_map(|l| count_before(l, " packets dropped by kernel"))
            .context("net-trace printed no drop count")?;
        let out = self.ours.stdout();
        let naming = out
            .iter()
            .rev()
            .find(|l| l.starts_with("Processes named"))
            .cloned();
        Ok(Paired {
            tcpdump,
            ours,
            dropped,
            naming,
            // The table's rows (a frame number first), not the summaries.
            rows: out
                .into_iter()
                .filter(|l| {
                    l.split_whitespace()
                        .next()
                        .is_some_and(|n| n.parse::<u64>().is_ok())
                })
                .collect(),
        })
    }
}

/// `N` from a line `N<suffix>`.
fn count_before(line: &str, suffix: &str) -> Option<u64> {
    line.strip_suffix(suffix)?.trim().parse().ok()
}
