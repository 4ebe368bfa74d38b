//! `cargo xtask bench`: netlab's servers measured side by side with the
//! tools people would use instead, in alternating rounds so the machine's
//! drift cancels out. Prints a table of medians and ratios and writes
//! `target/bench/report.md` and `target/bench/chart.svg`.

pub mod flood;
pub mod live;
mod load;
pub mod peers;
mod profile;
mod report;
mod tcp_client;
pub mod trace;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util::{cargo, has_python, have, relative, root, run_checked, target_dir};
use peers::Running;
pub use report::Workload;

/// Starts one server under test.
type Start<'a> = Box<dyn Fn() -> Result<Running> + 'a>;

/// `cargo xtask bench`'s options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds per run (at least 1).
    #[arg(long, value_name = "N", default_value_t = 5)]
    seconds: u64,
    /// Alternating rounds per comparison (1 to 99).
    #[arg(long, value_name = "N", default_value_t = 3)]
    rounds: u64,
    /// Measure only these areas (comma-separated; default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::util::only(AREAS))]
    only: Vec<String>,
}

struct Options {
    seconds: u64,
    rounds: usize,
    /// Areas to measure: http, rss, tcp, udp, client, trace, live (all
    /// when empty).
    only: Vec<String>,
}

impl Options {
    fn wants(&self, area: &str) -> bool {
        crate::util::wants(&self.only, area)
    }
}

/// The areas `--only` accepts.
const AREAS: &[&str] = &["http", "rss", "tcp", "udp", "client", "trace", "live"];

fn parse(args: Args) -> Options {
    Options {
        seconds: args.seconds.max(1),
        rounds: args.rounds.clamp(1, 99) as usize,
        only: args.only,
    }
}

/// A load generator for HTTP: wrk when installed, else the built-in one.
struct Http {
    wrk: bool,
    secs: Duration,
}

/// What one HTTP run measured.
struct HttpResult {
    requests_per_sec: f64,
    mib_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

fn parse_size_mib(s: &str) -> Option<f64> {
    let s = s.trim();
    for (suffix, mult) in [
        ("GB", 1024.0),
        ("MB", 1.0),
        ("KB", 1.0 / 1024.0),
        ("B", 1.0 / 1_048_576.0),
    ] {
        if let Some(v) = s.strip_suffix(suffix) {
            return v.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    None
}

/// Parses wrk's `--latency` report.
fn parse_wrk(out: &str) -> Option<HttpResult> {
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::trim))
    };
    let requests_per_sec = field("Requests/sec:")?.parse().ok()?;
    let mib_per_sec = field("Transfer/sec:")
        .and_then(parse_size_mib)
        .unwrap_or(0.0);
    let p50_ms = field("50%").and_then(parse_duration_ms).unwrap_or(0.0);
    let p99_ms = field("99%").and_then(parse_duration_ms).unwrap_or(0.0);
    Some(HttpResult {
        requests_per_sec,
        mib_per_sec,
        p50_ms,
        p99_ms,
    })
}

impl Http {
    fn run(
        &self,
        addr: std::net::SocketAddr,
        path: &str,
        conns: usize,
        keep_alive: bool,
    ) -> Result<HttpResult> {
        if !self.wrk {
            let rps = load::http(addr, path, conns, keep_alive, self.secs);
            return Ok(HttpResult {
                requests_per_sec: rps,
                mib_per_sec: 0.0,
                p50_ms: 0.0,
                p99_ms: 0.0,
            });
        }
        let url = format!("http://{addr}{path}");
        let mut cmd = Command::new("wrk");
        cmd.args([
            "-t2",
            &format!("-c{conns}"),
            &format!("-d{}s", self.secs.as_secs()),
            "--latency",
        ]);
        if !keep_alive {
            cmd.args(["-H", "Connection: close"]);
        }
        let out = cmd.arg(&url).output().context("run wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
    }
}

/// Runs `load` (a rate per second over `secs`) against `server` and
/// returns the rate and the server's CPU time per operation, in µs.
fn rate_and_cpu(server: &Running, secs: Duration, load: impl FnOnce() -> f64) -> (f64, f64) {
    let cpu_before = peers::cpu_ns(&server.pids());
    let rate = load();
    let cpu_used = peers::cpu_ns(&server.pids()).saturating_sub(cpu_before);
    let per_op_us = cpu_used as f64 / 1000.0 / (rate * secs.as_secs_f64()).max(1.0);
    (rate, per_op_us)
}

/// Runs `each` on every item in every round, the order reversed every
/// other round so drift in the machine's speed cancels out.
fn alternating<T>(
    rounds: usize,
    items: &[T],
    mut each: impl FnMut(usize, &T) -> Result<()>,
) -> Result<()> {
    for round in 0..rounds {
        let order: Vec<&T> = if round % 2 == 0 {
            items.iter().collect()
        } else {
            items.iter().rev().collect()
        };
        for item in order {
            each(round, item)?;
        }
    }
    Ok(())
}

/// Measures the areas `--only` names (all by default) in this order, then
/// writes the report.
pub fn run(args: Args) -> Result<()> {
    let (bench, mut notes) = Bench::set_up(parse(args))?;
    let mut results: Vec<Workload> = Vec::new();
    let opts = &bench.opts;
    if opts.wants("http") {
        bench.http(&mut results)?;
    }
    if opts.wants("rss") {
        bench.rss(&mut results)?;
    }
    if opts.wants("tcp") {
        bench.tcp(&mut notes, &mut results)?;
    }
    if opts.wants("udp") {
        bench.udp(&mut results)?;
    }
    if opts.wants("client") {
        bench.client(&mut results)?;
        bench.client_https(&mut results)?;
        bench.tcp_client(&mut notes, &mut results)?;
    }
    // net-trace reading a large capture, against tcpdump and tshark.
    if opts.wants("trace") {
        trace::bench(
            &bench.release,
            &bench.out_dir,
            opts.rounds,
            bench.http.wrk,
            &mut notes,
            &mut results,
        )?;
    }
    // net-trace capturing live beside tcpdump under the lab's heaviest runs.
    if opts.wants("live") {
        live::bench(
            &bench.release,
            opts.rounds,
            bench.http.wrk,
            &mut notes,
            &mut results,
        )?;
    }
    bench.write_report(&notes, &results)
}

/// What every area's measurements share, fixed once set up: the options,
/// the release binaries, the files served, the HTTP load generator and
/// which peers are installed. Each area's method adds its rows to the
/// results (and its notices to the notes) it is handed.
struct Bench {
    opts: Options,
    /// Where the release binaries are.
    release: PathBuf,
    /// `target/bench`: the report, the chart and `work`.
    out_dir: PathBuf,
    /// Scratch space (nginx's files, downloads), removed at the end.
    work: PathBuf,
    /// The files the HTTP servers serve.
    www: PathBuf,
    /// Seconds per run.
    secs: Duration,
    http: Http,
    nginx: Option<PathBuf>,
    python: bool,
}

/// An HTTP workload: what is fetched, how, and which number counts.
struct HttpLoad {
    title: &'static str,
    path: &'static str,
    conns: usize,
    keep_alive: bool,
    unit: &'static str,
    metric: fn(&HttpResult) -> f64,
}

/// The HTTP workloads, in the order they are measured.
const HTTP_LOADS: [HttpLoad; 3] = [
    HttpLoad {
        title: "1 KiB file, keep-alive, 64 connections",
        path: "/1k.bin",
        conns: 64,
        keep_alive: true,
        unit: "requests/s",
        metric: |r| r.requests_per_sec,
    },
    HttpLoad {
        title: "1 KiB file, Connection: close, 32 connections",
        path: "/1k.bin",
        conns: 32,
        keep_alive: false,
        unit: "requests/s",
        metric: |r| r.requests_per_sec,
    },
    HttpLoad {
        title: "10 MiB file, 8 connections",
        path: "/10m.bin",
        conns: 8,
        keep_alive: true,
        unit: "MiB/s",
        metric: |r| {
            if r.mib_per_sec > 0.0 {
                r.mib_per_sec
            } else {
                r.requests_per_sec * 10.0
            }
        },
    },
];

impl Bench {
    /// Builds the release binaries, writes the files to serve, looks for
    /// the peers and prints a notice for each one missing (also returned,
    /// as the report's first notes).
    fn set_up(opts: Options) -> Result<(Bench, Vec<String>)> {
        run_checked(cargo().args(["build", "--release", "--quiet", "--bins"]))?;
        let release = target_dir().join("release");
        let out_dir = target_dir().join("bench");
        fs::create_dir_all(&out_dir)?;
        let work = out_dir.join("work");
        let _ = fs::remove_dir_all(&work);
        let www = work.join("www");
        fs::create_dir_all(&www)?;
        fs::write(www.join("1k.bin"), vec![b'x'; 1024])?;
        let big: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        fs::write(www.join("10m.bin"), big)?;

        let secs = Duration::from_secs(opts.seconds);
        let http = Http {
            wrk: have("wrk", "--version") || Command::new("wrk").output().is_ok(),
            secs,
        };
        let mut notes = Vec::new();
        if !http.wrk {
            notes.push("wrk is not installed (apt-get install wrk): HTTP loads come from the built-in generator, without latency percentiles.".to_string());
        }
        let nginx = peers::nginx_path();
        if nginx.is_none() {
            notes.push(
                "nginx is not installed (apt-get install nginx-light): its columns are skipped."
                    .into(),
            );
        }
        let python = has_python();
        if !python {
            notes.push("python3 is not installed: the Python peers are skipped.".into());
        }
        for n in &notes {
            println!("notice: {n}");
        }
        let bench = Bench {
            opts,
            release,
            out_dir,
            work,
            www,
            secs,
            http,
            nginx,
            python,
        };
        Ok((bench, notes))
    }

    /// Starts netlab's http-server on the bench's files.
    fn ours_http(&self) -> Result<Running> {
        peers::ours(
            "http-server",
            &self.release.join("http-server"),
            &[
                "--port",
                "0",
                "--root",
                &self.www.to_string_lossy(),
                "--quiet",
                "--keepalive-timeout",
                "75",
            ],
        )
    }

    /// http-server, then nginx when installed, then (when `python`)
    /// Python's http.server.
    fn http_servers(&self, python: bool) -> Vec<Start<'_>> {
        let mut servers: Vec<Start<'_>> = vec![Box::new(move || self.ours_http())];
        if let Some(n) = &self.nginx {
            servers.push(Box::new(move || peers::nginx(n, &self.work, &self.www)));
        }
        if python {
            servers.push(Box::new(move || peers::python_http(&self.www)));
        }
        servers
    }

    /// HTTP workloads: each of [`HTTP_LOADS`] against every HTTP server,
    /// with latency rows when wrk measures them, and what each server
    /// spends per request (for the 10 MiB file, per response).
    fn http(&self, results: &mut Vec<Workload>) -> Result<()> {
        for load in &HTTP_LOADS {
            let (title, unit, metric) = (load.title, load.unit, load.metric);
            println!("\n== http-server: {title}");
            let mut w = Workload::new(title, unit, "http-server");
            let mut latency =
                Workload::new(&format!("Latency p50 / p99 — {title}"), "ms", "http-server")
                    .lower_is_better();
            let servers = self.http_servers(self.python && load.path == "/1k.bin");
            alternating(self.opts.rounds, &servers, |round, start| {
                let server = start()?;
                let r = self
                    .http
                    .run(server.addr, load.path, load.conns, load.keep_alive)?;
                println!(
                    "  round {}: {:<22} {:>12.1} {unit}",
                    round + 1,
                    server.name,
                    metric(&r)
                );
                w.add(&server.name, metric(&r));
                if self.http.wrk {
                    latency.add(&format!("{} p50", server.name), r.p50_ms);
                    latency.add(&format!("{} p99", server.name), r.p99_ms);
                }
                Ok(())
            })?;
            results.push(w);
            if self.http.wrk {
                results.push(latency);
            }
            self.http_profile(load, results)?;
        }
        Ok(())
    }

    /// What http-server and nginx spend per request of `load`: system
    /// calls, context switches and CPU time, counted over all their
    /// processes and threads in one more run of each (counting slows the
    /// counted, so the rates above come from runs without it).
    fn http_profile(&self, load: &HttpLoad, results: &mut Vec<Workload>) -> Result<()> {
        let title = load.title;
        let mut calls = Workload::new(
            &format!("System calls per request — {title}"),
            "calls",
            "http-server",
        )
        .lower_is_better();
        let mut switches = Workload::new(
            &format!("Context switches per request — {title}"),
            "switches",
            "http-server",
        )
        .lower_is_better();
        let mut cpu = Workload::new(
            &format!("Server CPU per request — {title}"),
            "µs",
            "http-server",
        )
        .lower_is_better();
        for start in &self.http_servers(false) {
            let server = start()?;
            let addr = server.addr;
            let counted = profile::per_op(
                || server.pids(),
                self.secs,
                || {
                    self.http
                        .run(addr, load.path, load.conns, load.keep_alive)
                        .map_or(0.0, |r| r.requests_per_sec)
                },
            );
            let Some(c) = counted else {
                println!("  {:<22} not profiled (no requests counted)", server.name);
                continue;
            };
            println!(
                "  profile: {:<22} {} system calls, {:.2} context switches, {:.1} µs CPU per request",
                server.name,
                c.syscalls.map_or("?".to_string(), |n| format!("{n:.2}")),
                c.switches,
                c.cpu_us
            );
            if let Some(n) = c.syscalls {
                calls.add(&server.name, n);
            }
            switches.add(&server.name, c.switches);
            cpu.add(&server.name, c.cpu_us);
        }
        for w in [calls, switches, cpu] {
            if !w.samples.is_empty() {
                results.push(w);
            }
        }
        Ok(())
    }

    /// Memory with 1,000 idle keep-alive connections.
    fn rss(&self, results: &mut Vec<Workload>) -> Result<()> {
        println!("\n== http-server: RSS with 1,000 idle keep-alive connections");
        let mut rss = Workload::new(
            "RSS with 1,000 idle keep-alive connections",
            "MiB",
            "http-server",
        )
        .lower_is_better();
        // RSS counts the pages processes share (nginx's binary and
        // libraries, in its master and each worker) once per process;
        // PSS divides each shared page among the processes sharing it.
        let mut proportional = Workload::new(
            "PSS with 1,000 idle keep-alive connections (shared pages divided among processes)",
            "MiB",
            "http-server",
        )
        .lower_is_better();
        for start in &self.http_servers(false) {
            let server = start()?;
            let conns = load::idle_connections(server.addr, "/1k.bin", 1000);
            std::thread::sleep(Duration::from_millis(500));
            let pids = server.pids();
            let mib = peers::rss_mib(&pids);
            let pss = peers::pss_mib(&pids);
            println!(
                "  {:<22} {:>8.1} MiB RSS ({} process{}, summed), {} MiB PSS, with {} connections open",
                server.name,
                mib,
                pids.len(),
                if pids.len() == 1 { "" } else { "es" },
                pss.map_or("?".to_string(), |p| format!("{p:.1}")),
                conns.len()
            );
            rss.add(&server.name, mib);
            if let Some(p) = pss {
                proportional.add(&server.name, p);
            }
            drop(conns);
        }
        results.push(rss);
        if !proportional.samples.is_empty() {
            results.push(proportional);
        }
        Ok(())
    }

    /// Starts netlab's tcp-uppercase server.
    fn ours_tcp(&self) -> Result<Running> {
        peers::ours(
            "tcp-uppercase",
            &self.release.join("tcp-uppercase"),
            &["server", "--port", "0", "--quiet"],
        )
    }

    /// tcp-uppercase: short exchanges, the wait behind a slow typist, one
    /// streaming connection.
    fn tcp(&self, notes: &mut Vec<String>, results: &mut Vec<Workload>) -> Result<()> {
        let textbook = root().join("tests").join("textbook");
        self.tcp_exchanges(&textbook, notes, results)?;
        self.tcp_lab_exchanges(&textbook, results)?;
        self.tcp_behind_slow_typist(&textbook, notes, results)?;
        self.tcp_stream(results)
    }

    /// Connect–send–receive–close exchanges from [`EXCHANGE_THREADS`]
    /// client threads, against the textbook Python server: the rate, the
    /// server's CPU time per exchange, and a note on the host's TIME_WAIT
    /// sockets (see [`TimeWaitRange`]).
    fn tcp_exchanges(
        &self,
        textbook: &Path,
        notes: &mut Vec<String>,
        results: &mut Vec<Workload>,
    ) -> Result<()> {
        let mut time_wait = TimeWaitRange::default();
        for threads in EXCHANGE_THREADS {
            let title = exchanges_title(threads);
            println!("\n== tcp-uppercase: {title}");
            let mut ex = Workload::new(&title, "exchanges/s", "tcp-uppercase");
            // The rate swings with the machine's other load; the server's
            // own CPU time per exchange much less.
            let mut cpu = Workload::new(
                &format!(
                    "TCP server CPU per exchange, {threads} client thread{}",
                    if threads == 1 { "" } else { "s" }
                ),
                "µs",
                "tcp-uppercase",
            )
            .lower_is_better();
            let mut servers: Vec<Start<'_>> = vec![Box::new(|| self.ours_tcp())];
            if self.python {
                servers.push(Box::new(|| peers::python_tcp(textbook)));
            }
            alternating(self.opts.rounds, &servers, |round, start| {
                let server = start()?;
                let tw = peers::time_wait_sockets();
                time_wait.add(tw);
                let (rate, per_exchange_us) = rate_and_cpu(&server, self.secs, || {
                    load::tcp_exchanges(server.addr, threads, self.secs)
                });
                println!(
                    "  round {}: {:<22} {:>12.1} exchanges/s, {per_exchange_us:.1} µs server CPU each ({} TIME_WAIT sockets before)",
                    round + 1,
                    server.name,
                    rate,
                    tw.map_or("?".to_string(), |n| n.to_string()),
                );
                ex.add(&server.name, rate);
                cpu.add(&server.name, per_exchange_us);
                Ok(())
            })?;
            results.push(ex);
            results.push(cpu);
        }
        if let Some(note) = time_wait.note() {
            notes.push(note);
        }
        Ok(())
    }

    /// The lab's own client pattern (`TCPClient.py`: send, one `recv`,
    /// close; see [`load::lab_exchanges`]) against ours and the textbook
    /// server: from many source addresses at [`EXCHANGE_THREADS`] client
    /// threads, and from one address (where the client's TIME_WAIT ports
    /// cap any server that reads to the end of stream) at
    /// [`ONE_SOURCE_THREADS`].
    fn tcp_lab_exchanges(&self, textbook: &Path, results: &mut Vec<Workload>) -> Result<()> {
        let xtask = std::env::current_exe().context("path of xtask")?;
        let runs = EXCHANGE_THREADS
            .iter()
            .map(|&t| (t, true))
            .chain([(ONE_SOURCE_THREADS, false)]);
        for (threads, spread) in runs {
            let title = lab_title(threads, spread);
            println!("\n== tcp-uppercase: {title}");
            let mut ex = Workload::new(&title, "exchanges/s", "tcp-uppercase");
            let mut cpu = Workload::new(
                &format!("TCP server CPU per exchange — {title}"),
                "µs",
                "tcp-uppercase",
            )
            .lower_is_better();
            let mut servers: Vec<Start<'_>> = vec![Box::new(|| self.ours_tcp())];
            if self.python {
                servers.push(Box::new(|| peers::python_tcp(textbook)));
            }
            // Where the 1.5× target is set: how far closing after one
            // `recv` (the textbook's shape, without Python) would go.
            if spread && threads > 1 {
                servers.push(Box::new(|| peers::textbook_shape_tcp(&xtask)));
            }
            alternating(self.opts.rounds, &servers, |round, start| {
                let server = start()?;
                let (rate, per_exchange_us) = rate_and_cpu(&server, self.secs, || {
                    load::lab_exchanges(server.addr, threads, self.secs, spread)
                });
                println!(
                    "  round {}: {:<22} {:>12.1} exchanges/s, {per_exchange_us:.1} µs server CPU each",
                    round + 1,
                    server.name,
                    rate,
                );
                ex.add(&server.name, rate);
                cpu.add(&server.name, per_exchange_us);
                Ok(())
            })?;
            results.push(ex);
            results.push(cpu);
        }
        Ok(())
    }

    /// How long clients wait behind one that types slowly, against the
    /// textbook Python server and socat (when installed); a note for each
    /// server some of whose clients got no answer.
    fn tcp_behind_slow_typist(
        &self,
        textbook: &Path,
        notes: &mut Vec<String>,
        results: &mut Vec<Workload>,
    ) -> Result<()> {
        let title = format!(
            "wait behind a client that types for {} s, {} clients after it",
            load::SLOW_TYPING.as_secs(),
            load::BEHIND_SLOW
        );
        println!("\n== tcp-uppercase: {title}");
        let mut behind = Workload::new(&title, "ms", "tcp-uppercase").lower_is_better();
        let socat = have("socat", "-V");
        if !socat {
            let n = "socat is not installed (apt-get install socat): its `TCP-LISTEN:…,fork` column in the slow-typist row is skipped.";
            println!("notice: {n}");
            notes.push(n.to_string());
        }
        let mut servers: Vec<Start<'_>> = vec![Box::new(|| self.ours_tcp())];
        if self.python {
            servers.push(Box::new(|| peers::python_tcp(textbook)));
        }
        if socat {
            servers.push(Box::new(peers::socat_uppercase));
        }
        let mut failures: Vec<(String, usize)> = Vec::new();
        alternating(self.opts.rounds, &servers, |round, start| {
            let server = start()?;
            let waits = load::behind_slow_typist(server.addr)?;
            println!(
                "  round {}: {:<22} median {:>8.1} ms, slowest {:>8.1} ms, {} of {} got no answer",
                round + 1,
                server.name,
                waits.median_ms,
                waits.max_ms,
                waits.failed,
                load::BEHIND_SLOW
            );
            behind.add(&format!("{} median", server.name), waits.median_ms);
            behind.add(&format!("{} slowest", server.name), waits.max_ms);
            match failures.iter_mut().find(|(n, _)| *n == server.name) {
                Some((_, f)) => *f += waits.failed,
                None => failures.push((server.name.clone(), waits.failed)),
            }
            Ok(())
        })?;
        results.push(behind);
        for (name, failed) in failures.into_iter().filter(|(_, f)| *f > 0) {
            notes.push(format!(
                "Behind the slow typist, {failed} of {} clients of {name} got no answer (reset or time-out); its waits count only those answered.",
                load::BEHIND_SLOW * self.opts.rounds
            ));
        }
        Ok(())
    }

    /// One streaming connection, uppercased both ways (ours alone).
    fn tcp_stream(&self, results: &mut Vec<Workload>) -> Result<()> {
        let mut stream = Workload::new(
            "one streaming connection (uppercased both ways)",
            "MiB/s",
            "tcp-uppercase",
        );
        for round in 0..self.opts.rounds {
            let server = self.ours_tcp()?;
            let rate = load::tcp_stream(server.addr, self.secs);
            println!("  round {}: streaming {:>10.1} MiB/s", round + 1, rate);
            stream.add(&server.name, rate);
        }
        results.push(stream);
        Ok(())
    }

    /// udp-chat: lockstep round trips from 1 and 4 clients, logging and
    /// quiet, against a bare UDP loop; the rate and the server's CPU time
    /// per round trip.
    fn udp(&self, results: &mut Vec<Workload>) -> Result<()> {
        let xtask = std::env::current_exe().context("path of xtask")?;
        for clients in [1, 4] {
            println!("\n== udp-chat: lockstep round trips, {clients} client(s)");
            // The target is for the server as people run it: logging each
            // message, into a file or pipe (here /dev/null: nothing reads).
            let logging = "udp-chat (log to /dev/null)";
            let mut w = Workload::new(
                &format!("UDP round trips, {clients} lockstep client(s)"),
                "round trips/s",
                logging,
            );
            let udp_chat = self.release.join("udp-chat");
            let servers: Vec<Start<'_>> = vec![
                Box::new(|| peers::ours_udp_log_to_null(logging, &udp_chat)),
                Box::new(|| {
                    peers::ours(
                        "udp-chat --quiet",
                        &udp_chat,
                        &["server", "--port", "0", "--quiet"],
                    )
                }),
                Box::new(|| peers::bare_udp(&xtask)),
            ];
            // On a shared machine the rate swings with everyone else's load;
            // the server's own CPU time per round trip barely does.
            let mut cpu = Workload::new(
                &format!("UDP server CPU per round trip, {clients} lockstep client(s)"),
                "µs",
                logging,
            )
            .lower_is_better();
            let secs = self.secs;
            alternating(self.opts.rounds, &servers, |round, start| {
                let server = start()?;
                let (rate, per_trip_us) = rate_and_cpu(&server, secs, || {
                    load::udp_round_trips(server.addr, clients, secs)
                });
                println!(
                    "  round {}: {:<28} {:>12.1} round trips/s, {per_trip_us:.2} µs server CPU each",
                    round + 1,
                    server.name,
                    rate
                );
                w.add(&server.name, rate);
                cpu.add(&server.name, per_trip_us);
                Ok(())
            })?;
            results.push(w);
            results.push(cpu);
        }
        Ok(())
    }

    /// http-client: a large download to a file, against curl.
    fn client(&self, results: &mut Vec<Workload>) -> Result<()> {
        println!("\n== http-client: 100 MiB download to a file");
        let mut w = Workload::new("100 MiB download to a file", "MiB/s", "http-client");
        let file: Vec<u8> = (0..100 * 1024 * 1024u32).map(|i| (i % 247) as u8).collect();
        fs::write(self.www.join("100m.bin"), &file)?;
        drop(file);
        let server = match &self.nginx {
            Some(n) => peers::nginx(n, &self.work, &self.www)?,
            None => self.ours_http()?,
        };
        let url = format!("http://{}/100m.bin", server.addr);
        let out = self.work.join("download.bin");
        let curl = have("curl", "--version");
        if !curl {
            println!(
                "notice: curl is not installed (apt-get install curl): http-client is measured alone"
            );
        }
        let mut clients = vec![(
            "http-client",
            self.release.join("http-client").into_os_string(),
        )];
        if curl {
            clients.push(("curl", "curl".into()));
        }
        alternating(self.opts.rounds, &clients, |round, (name, program)| {
            let _ = fs::remove_file(&out);
            let started = std::time::Instant::now();
            let status = Command::new(program)
                .args(["-s", "-o", &out.to_string_lossy(), &url])
                .status()
                .with_context(|| format!("run {name}"))?;
            let secs = started.elapsed().as_secs_f64();
            let size = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if !status.success() || size != 100 * 1024 * 1024 {
                bail!("{name} did not download the whole file ({status}, {size} bytes)");
            }
            let rate = 100.0 / secs;
            println!(
                "  round {}: {name:<12} {rate:>10.1} MiB/s (via {})",
                round + 1,
                server.name
            );
            w.add(name, rate);
            Ok(())
        })?;
        results.push(w);
        Ok(())
    }

    /// http-client: a large download over HTTPS (TLS 1.3 from nginx) to a
    /// file, against curl; the certificate is checked (`--cacert`).
    fn client_https(&self, results: &mut Vec<Workload>) -> Result<()> {
        println!("\n== http-client: 100 MiB HTTPS download to a file");
        let Some(nginx) = &self.nginx else {
            println!("notice: nginx is not installed (apt-get install nginx-light): no HTTPS row");
            return Ok(());
        };
        let mut w = Workload::new("100 MiB HTTPS download to a file", "MiB/s", "http-client");
        let file: Vec<u8> = (0..100 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        fs::write(self.www.join("100m-tls.bin"), &file)?;
        drop(file);
        let (server, ca) = peers::nginx_tls(nginx, &self.work.join("tls"), &self.www)?;
        let url = format!("https://localhost:{}/100m-tls.bin", server.addr.port());
        let out = self.work.join("download-tls.bin");
        let mut clients = vec![(
            "http-client",
            self.release.join("http-client").into_os_string(),
        )];
        if have("curl", "--version") {
            clients.push(("curl", "curl".into()));
        } else {
            println!(
                "notice: curl is not installed (apt-get install curl): http-client is measured alone"
            );
        }
        alternating(self.opts.rounds, &clients, |round, (name, program)| {
            let _ = fs::remove_file(&out);
            let started = std::time::Instant::now();
            let status = Command::new(program)
                .args([
                    "-s",
                    "--cacert",
                    &ca.to_string_lossy(),
                    "-o",
                    &out.to_string_lossy(),
                    &url,
                ])
                .status()
                .with_context(|| format!("run {name}"))?;
            let secs = started.elapsed().as_secs_f64();
            let size = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if !status.success() || size != 100 * 1024 * 1024 {
                bail!("{name} did not download the whole file over HTTPS ({status}, {size} bytes)");
            }
            let rate = 100.0 / secs;
            println!(
                "  round {}: {name:<12} {rate:>10.1} MiB/s (via {})",
                round + 1,
                server.name
            );
            w.add(name, rate);
            Ok(())
        })?;
        results.push(w);
        Ok(())
    }

    /// Writes `report.md` and `chart.svg`, removes the scratch space and
    /// prints the table and where the files are.
    fn write_report(&self, notes: &[String], results: &[Workload]) -> Result<()> {
        let machine = report::machine();
        let method = opts_line(&self.opts, self.http.wrk);
        let md = report::markdown(results, notes, &machine, &method);
        let svg = report::svg(results);
        fs::write(self.out_dir.join("report.md"), &md)?;
        fs::write(self.out_dir.join("chart.svg"), &svg)?;
        let _ = fs::remove_dir_all(&self.work);
        println!("\n{}", report::table(results));
        println!("report: {}", relative(&self.out_dir.join("report.md")));
        println!("chart:  {}", relative(&self.out_dir.join("chart.svg")));
        Ok(())
    }
}

/// The host's TIME_WAIT sockets seen before the exchange runs. A client
/// that closes first (as it must with a server that reads to its end of
/// stream) keeps its port in TIME_WAIT; loopback reuses such a port only
/// after `tcp_tw_reuse_delay`, which would cap one client address's
/// connection rate to one server port: the exchange clients connect from
/// many addresses (see [`load::ExchangeSources`]), and the note says so.
#[derive(Default)]
struct TimeWaitRange {
    seen: Vec<u64>,
}

impl TimeWaitRange {
    fn add(&mut self, n: Option<u64>) {
        self.seen.extend(n);
    }

    fn note(&self) -> Option<String> {
        let (min, max) = (self.seen.iter().min()?, self.seen.iter().max()?);
        let limit = peers::time_wait_limit().map_or(String::new(), |l| {
            format!(" (the kernel keeps at most {l})")
        });
        Some(format!(
            "TCP exchange rows: {min}–{max} TIME_WAIT sockets on the host before the runs{limit}. \
             The bench client closes first, so against a server that reads to the end of stream each \
             exchange leaves the client's port in TIME_WAIT, and loopback hands it to a new connection \
             to the same server port only a second later: from one address that caps any such server near \
             14k exchanges/s. So each connection comes from the next address of 127.1.0.0/16, as clients \
             on many hosts would; the textbook server closes first and is measured the same way."
        ))
    }
}

/// Client threads of the connect–send–receive–close rows.
const EXCHANGE_THREADS: [usize; 3] = [1, 4, 16];

/// Client threads of the lab-client row from one source address.
const ONE_SOURCE_THREADS: usize = 4;

/// The title of a lab-client row (see report's targets).
fn lab_title(threads: usize, spread: bool) -> String {
    format!(
        "lab client (TCPClient.py: send, one recv, close), {threads} client thread{}, {}",
        if threads == 1 { "" } else { "s" },
        if spread {
            "many source addresses"
        } else {
            "one source address"
        }
    )
}

/// The title of a connect–send–receive–close row (see report's targets).
fn exchanges_title(threads: usize) -> String {
    format!(
        "connect–send–receive–close exchanges, {threads} client thread{}",
        if threads == 1 { "" } else { "s" }
    )
}

fn opts_line(opts: &Options, wrk: bool) -> String {
    format!(
        "{} s per run, {} alternating rounds, medians; HTTP load from {}",
        opts.seconds,
        opts.rounds,
        if wrk {
            "wrk -t2"
        } else {
            "the built-in generator"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:1/1k.bin\n  2 threads and 64 connections\n  Latency Distribution\n     50%  1.20ms\n     75%    2.00ms\n     90%  3.00ms\n     99%  250.00us\n  200000 requests in 5.00s, 250.00MB read\nRequests/sec:  41778.39\nTransfer/sec:     50.00MB\n";
        let r = parse_wrk(out).unwrap();
        assert_eq!(r.requests_per_sec, 41778.39);
        assert_eq!(r.mib_per_sec, 50.0);
        assert_eq!(r.p50_ms, 1.2);
        assert_eq!(r.p99_ms, 0.25);
        assert_eq!(parse_size_mib("1.5GB"), Some(1536.0));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500.0));
    }
}
