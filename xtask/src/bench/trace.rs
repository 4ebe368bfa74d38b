//! The trace rows: `net-trace read` on a large loopback capture, against
//! `tcpdump -r -nn` and `tshark -r`, all writing to /dev/null; and its
//! JSON lines and TSV against tshark's nearest (`-T ek`, `-T fields`).
//! Each run's CPU time (user and system, the kernel's `ru_utime` and
//! `ru_stime` of that one child, from `wait4`: what the reader costs,
//! whatever else the shared machine runs) and peak resident memory
//! (`ru_maxrss`).
//!
//! tshark takes minutes on the whole file, so it reads the first
//! [`CUT_FRAMES`] frames (`editcap`), once, and the records rows compare
//! frames per CPU second.
//!
//! The capture is recorded once and kept under `target/bench/trace/`:
//! tcpdump on loopback, stopped by `-c` at exactly [`FRAMES`] frames, while
//! wrk (or the built-in generator) loads http-server with `Connection:
//! close` and keep-alive requests in turn — many short connections and a
//! few long ones, as in the lab.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::peers;
use super::report::Workload;

/// Frames in the benchmark capture (`tcpdump -c`).
pub const FRAMES: u64 = 500_000;

/// Frames of the capture tshark writes as JSON or fields: at its pace
/// (tens of thousands a second) enough for a steady rate in seconds.
pub const CUT_FRAMES: u64 = 50_000;

/// The fields tshark writes for the TSV row: net-trace's TSV columns, as
/// near as tshark names them.
const TSHARK_FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_relative",
    "frame.time_epoch",
    "ip.src",
    "tcp.srcport",
    "ip.dst",
    "tcp.dstport",
    "_ws.col.Protocol",
    "frame.len",
    "tcp.stream",
    "_ws.col.Info",
    "tcp.analysis.flags",
];

/// The longest the recording may take before it is given up.
const RECORD_TIMEOUT: Duration = Duration::from_secs(300);

/// How long each burst of load runs (wrk's `-d`) while recording.
const LOAD_BURST: Duration = Duration::from_secs(2);

/// How long tcpdump may take to say it is listening.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Kernel buffer for the recording tcpdump, KiB (`-B`): large, so bursts
/// of loopback traffic are not dropped while the file is written.
const CAPTURE_BUFFER_KIB: &str = "262144";

/// The page the load fetches: about the size of the lab's HelloWorld.html.
const PAGE: &[u8] = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello World</title></head>\n<body><h1>Hello World</h1><p>A page served for the capture benchmark.</p></body></html>\n";

/// A reader measured: its name in the report and `program args… FILE`.
struct Reader {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// tshark takes minutes on this file: it is measured in the first
    /// round only.
    once: bool,
    /// It reads the first [`CUT_FRAMES`] frames only.
    cut: bool,
}

impl Reader {
    fn new(name: &'static str, program: impl Into<PathBuf>, args: &[&str]) -> Reader {
        Reader {
            name,
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            once: false,
            cut: false,
        }
    }

    /// Measured in the first round only.
    fn once(mut self) -> Reader {
        self.once = true;
        self
    }

    /// Reads the cut capture.
    fn cut(mut self) -> Reader {
        self.cut = true;
        self
    }
}

/// What one read measured.
struct Sample {
    /// CPU time, user and system.
    cpu_secs: f64,
    rss_mib: f64,
}

/// Adds the trace rows to `results`, or a notice to `notes` saying why
/// they are skipped.
pub fn bench(
    release: &Path,
    out_dir: &Path,
    rounds: usize,
    wrk: bool,
    notes: &mut Vec<String>,
    results: &mut Vec<Workload>,
) -> Result<()> {
    println!("\n== net-trace: reading a {FRAMES}-frame loopback capture");
    let file = match recorded(release, out_dir, wrk)? {
        Ok(file) => file,
        Err(why) => {
            println!("notice: {why}");
            notes.push(why);
            return Ok(());
        }
    };
    let net_trace = release.join("net-trace");
    let tshark = installed("tshark");
    if !tshark {
        let why =
            "tshark is not installed (apt-get install tshark): its trace columns are skipped.";
        println!("notice: {why}");
        notes.push(why.into());
    }
    let size_mib = fs::metadata(&file).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    println!("  capture: {} ({size_mib:.0} MiB)", file.display());
    let cut = if tshark { cut(&file, notes)? } else { None };
    let files = Files { file, cut };

    let mut readers = vec![
        Reader::new("net-trace read", &net_trace, &["read"]),
        Reader::new("tcpdump -r -nn", "tcpdump", &["-nn", "-r"]),
    ];
    if tshark {
        readers.push(Reader::new("tshark -r", "tshark", &["-r"]).once());
    }
    let title = format!(
        "read a {}k-frame loopback capture to /dev/null",
        FRAMES / 1000
    );
    let mut time = Workload::new(&title, "CPU ms", "net-trace read").lower_is_better();
    let mut rss = Workload::new(
        &format!(
            "Peak memory while reading a {}k-frame capture",
            FRAMES / 1000
        ),
        "MiB",
        "net-trace read",
    )
    .lower_is_better();
    super::alternating(rounds, &readers, |round, reader| {
        let Some(s) = measure(round, reader, &files, out_dir)? else {
            return Ok(());
        };
        time.add(reader.name, s.cpu_secs * 1000.0);
        rss.add(reader.name, s.rss_mib);
        Ok(())
    })?;
    results.push(time);
    results.push(rss);

    // The records, in frames per CPU second: tshark's on the cut file.
    let fields: Vec<String> = TSHARK_FIELDS
        .iter()
        .flat_map(|f| ["-e".to_string(), f.to_string()])
        .collect();
    let formats = [
        (
            "JSON lines",
            "net-trace read --format json",
            "json",
            "tshark -T ek",
            vec!["-T".to_string(), "ek".to_string()],
        ),
        (
            "TSV",
            "net-trace read --format tsv",
            "tsv",
            "tshark -T fields",
            [
                vec!["-T".to_string(), "fields".to_string()],
                vec!["-E".to_string(), "header=y".to_string()],
                fields,
            ]
            .concat(),
        ),
    ];
    for (what, ours, format, peer, peer_args) in formats {
        let mut readers = vec![Reader::new(ours, &net_trace, &["read", "--format", format])];
        if files.cut.is_some() {
            let mut args: Vec<&str> = peer_args.iter().map(String::as_str).collect();
            args.push("-r");
            readers.push(Reader::new(peer, "tshark", &args).once().cut());
        }
        let mut rate = Workload::new(
            &format!(
                "{what} of a {}k-frame loopback capture to /dev/null",
                FRAMES / 1000
            ),
            "frames per CPU s",
            ours,
        );
        super::alternating(rounds, &readers, |round, reader| {
            let Some(s) = measure(round, reader, &files, out_dir)? else {
                return Ok(());
            };
            let frames = if reader.cut { CUT_FRAMES } else { FRAMES };
            rate.add(
                reader.name,
                frames as f64 / s.cpu_secs.max(f64::MIN_POSITIVE),
            );
            Ok(())
        })?;
        results.push(rate);
    }
    Ok(())
}

/// The capture and its first [`CUT_FRAMES`] frames (`None` when editcap
/// could not cut it).
struct Files {
    file: PathBuf,
    cut: Option<PathBuf>,
}

/// Runs `reader` unless it is measured once and this is a later round,
/// printing what it measured.
fn measure(round: usize, reader: &Reader, files: &Files, out_dir: &Path) -> Result<Option<Sample>> {
    if reader.once && round > 0 {
        return Ok(None);
    }
    let file = match (&files.cut, reader.cut) {
        (Some(cut), true) => cut,
        _ => &files.file,
    };
    let s = read(reader, file, &out_dir.join("trace"))?;
    println!(
        "  round {}: {:<30} {:>8.2} s CPU {:>8.1} MiB peak RSS",
        round + 1,
        reader.name,
        s.cpu_secs,
        s.rss_mib
    );
    Ok(Some(s))
}

/// The capture's first [`CUT_FRAMES`] frames, cut once with editcap and
/// kept beside it; `None` (and a note) when editcap cannot.
fn cut(file: &Path, notes: &mut Vec<String>) -> Result<Option<PathBuf>> {
    let cut = file.with_file_name(format!("lo-{}k.pcap", CUT_FRAMES / 1000));
    if cut.exists() {
        return Ok(Some(cut));
    }
    let partial = cut.with_extension("partial");
    let made = Command::new("editcap")
        .args(["-F", "pcap", "-r"])
        .arg(file)
        .arg(&partial)
        .arg(format!("1-{CUT_FRAMES}"))
        .output();
    match made {
        Ok(out) if out.status.success() => {
            fs::rename(&partial, &cut)?;
            Ok(Some(cut))
        }
        _ => {
            let _ = fs::remove_file(&partial);
            let why = "editcap (wireshark-common) could not cut the capture for tshark: its JSON and TSV columns are skipped.";
            println!("notice: {why}");
            notes.push(why.into());
            Ok(None)
        }
    }
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs one reader over `file` with stdout to /dev/null, returning its
/// CPU time and peak RSS; a failed run is an error with its stderr.
///
/// The reader is started by `xtask usage` ([`run_measured`]), a process of a
/// few MiB: Linux counts the peak size of the address space a child
/// leaves at `execve` in the child's `ru_maxrss`, and a child started by
/// the bench itself (posix_spawn shares the bench's address space until
/// then) would report the bench's own peak — every reader showed the same
/// 107.7 MiB in a full run.
fn read(reader: &Reader, file: &Path, dir: &Path) -> Result<Sample> {
    let err_path = dir.join("reader.stderr");
    let usage_path = dir.join("reader.usage");
    let _ = fs::remove_file(&usage_path);
    let status = Command::new(std::env::current_exe().context("cannot find xtask itself")?)
        .arg("usage")
        .arg("--out")
        .arg(&usage_path)
        .arg("--")
        .arg(&reader.program)
        .args(&reader.args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::from(File::create("/dev/null")?))
        .stderr(Stdio::from(File::create(&err_path)?))
        .status()
        .with_context(|| format!("cannot start {}", reader.program.display()))?;
    if !status.success() {
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "{} failed ({status}) on {}:\n{}",
            reader.name,
            file.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let text = fs::read_to_string(&usage_path)
        .with_context(|| format!("no usage recorded for {}", reader.name))?;
    let mut fields = text.split_whitespace();
    let (Some(cpu), Some(rss)) = (fields.next(), fields.next()) else {
        bail!("unreadable usage for {}: {text:?}", reader.name);
    };
    Ok(Sample {
        cpu_secs: cpu.parse().context("CPU seconds")?,
        rss_mib: rss.parse::<f64>().context("peak RSS")? / 1024.0,
    })
}

/// `xtask usage --out OUT -- PROGRAM ARGS…`: runs the program with this
/// process's standard streams, writes `CPU_SECONDS PEAK_RSS_KIB` of that
/// child alone to `out`, and fails when the program does.
pub fn run_measured(out: &Path, argv: &[std::ffi::OsString]) -> Result<()> {
    let Some((program, args)) = argv.split_first() else {
        bail!("no program to measure");
    };
    let child = Command::new(program)
        .args(args)
        .spawn()
        .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
    let (status, usage) = sys::wait_rusage(&child)
        .with_context(|| format!("waiting for {}", program.to_string_lossy()))?;
    fs::write(out, format!("{} {}\n", usage.cpu_secs, usage.maxrss_kib))?;
    if !status.success() {
        bail!("{} failed ({status})", program.to_string_lossy());
    }
    Ok(())
}

/// The cached capture, recording it first when it is missing; `Ok(Err)`
/// says why it cannot be recorded here.
fn recorded(release: &Path, out_dir: &Path, wrk: bool) -> Result<Result<PathBuf, String>> {
    let dir = out_dir.join("trace");
    let file = dir.join(format!("lo-{}k.pcap", FRAMES / 1000));
    if file.exists() {
        return Ok(Ok(file));
    }
    if !installed("tcpdump") {
        return Ok(Err(
            "tcpdump is not installed (apt-get install tcpdump): the trace rows are skipped."
                .into(),
        ));
    }
    if !testkit::is_root() {
        return Ok(Err(
            "recording the trace benchmark's capture needs root (tcpdump on loopback): the trace rows are skipped."
                .into(),
        ));
    }
    fs::create_dir_all(&dir)?;
    let www = dir.join("www");
    fs::create_dir_all(&www)?;
    fs::write(www.join("index.html"), PAGE)?;
    let server = peers::ours(
        "http-server",
        &release.join("http-server"),
        &["--port", "0", "--root", &www.to_string_lossy(), "--quiet"],
    )?;
    let partial = dir.join("recording.pcap");
    println!(
        "  recording {FRAMES} frames of HTTP traffic on loopback (once; kept as {})",
        file.display()
    );
    let mut tcpdump = Command::new("tcpdump")
        .args(["-i", "lo", "-nn", "-B", CAPTURE_BUFFER_KIB, "-c"])
        .arg(FRAMES.to_string())
        .arg("-w")
        .arg(&partial)
        .args(["tcp", "port", &server.addr.port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start tcpdump")?;
    let stderr = tcpdump.stderr.take().context("tcpdump's stderr")?;
    let (tx, rx) = mpsc::channel();
    let lines = std::thread::Builder::new()
        .name("tcpdump-stderr".into())
        .spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                all.push(line);
            }
            all
        })?;
    let outcome = load_until_exit(&mut tcpdump, &rx, &server, wrk);
    if outcome.is_err() {
        let _ = tcpdump.kill();
        let _ = tcpdump.wait();
    }
    let stderr = lines.join().unwrap_or_default().join("\n");
    let status = outcome.with_context(|| format!("tcpdump said:\n{stderr}"))?;
    if !status.success() {
        bail!("tcpdump failed ({status}):\n{stderr}");
    }
    println!("  {}", stderr.lines().collect::<Vec<_>>().join("; "));
    fs::rename(&partial, &file)?;
    Ok(Ok(file))
}

/// Loads the server in bursts, `Connection: close` and keep-alive in turn,
/// until tcpdump has its frames and exits.
fn load_until_exit(
    tcpdump: &mut Child,
    listening: &mpsc::Receiver<()>,
    server: &peers::Running,
    wrk: bool,
) -> Result<ExitStatus> {
    if listening.recv_timeout(LISTEN_TIMEOUT).is_err() {
        bail!("tcpdump did not start listening within {LISTEN_TIMEOUT:?}");
    }
    let deadline = Instant::now() + RECORD_TIMEOUT;
    let url = format!("http://{}/index.html", server.addr);
    let mut keep_alive = false;
    loop {
        if let Some(status) = tcpdump.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("the capture did not reach {FRAMES} frames within {RECORD_TIMEOUT:?}");
        }
        keep_alive = !keep_alive;
        if wrk {
            let mut cmd = Command::new("wrk");
            cmd.args(["-t2", "-c8", &format!("-d{}s", LOAD_BURST.as_secs())]);
            if !keep_alive {
                cmd.args(["-H", "Connection: close"]);
            }
            let out = cmd.arg(&url).output().context("run wrk")?;
            if !out.status.success() {
                bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        } else {
            super::load::http(server.addr, "/index.html", 8, keep_alive, LOAD_BURST);
        }
    }
}

/// What the kernel counted for one child.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// User and system CPU time, seconds.
    cpu_secs: f64,
    /// Peak resident set size, KiB.
    maxrss_kib: i64,
}

/// The one system call std does not offer: a child's own resource usage.
#[cfg(unix)]
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, ExitStatus};

    use super::Usage;

    /// Waits for `child` and returns its exit status and what it used:
    /// its CPU time and peak resident set size (`ru_utime`, `ru_stime`
    /// and `ru_maxrss` of that child alone, from `wait4`). The child is
    /// reaped here: it must not be waited for again.
    pub fn wait_rusage(child: &Child) -> io::Result<(ExitStatus, Usage)> {
        let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; all zeros is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: both pointers are to live locals of the right types;
            // `pid` is our own unreaped child.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                let used = Usage {
                    cpu_secs: secs(usage.ru_utime) + secs(usage.ru_stime),
                    maxrss_kib: usage.ru_maxrss,
                };
                return Ok((ExitStatus::from_raw(status), used));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::io;
    use std::process::{Child, ExitStatus};

    use super::Usage;

    /// A child's CPU time and peak memory are only read on Unix (`wait4`).
    pub fn wait_rusage(_child: &Child) -> io::Result<(ExitStatus, Usage)> {
        Err(io::Error::other("the trace benchmark runs on Unix only"))
    }
}
