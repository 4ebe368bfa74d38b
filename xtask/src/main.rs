//! netlab's automation, reached as `cargo xtask TASK` (see
//! `.cargo/config.toml`).
//!
//! # Layout
//! - `ci`: formatting, clippy and the whole test suite — what `.ci/run` runs.
//! - `demo`: every lab scenario as separate processes, with transcripts.
//! - `bench`: the servers measured side by side with their peers.
//! - `fuzz`: the cargo-fuzz targets.
//! - `soak`: long mixed traffic against every server, checking for leaks.
//! - `util`: running cargo and other children, checking every exit status;
//!   what several tasks share.

mod bench;
mod ci;
mod demo;
mod fuzz;
mod soak;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// netlab's automation: the lab demo, CI checks, benchmarks, fuzzing and
/// the soak test.
#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every lab scenario as separate processes, print and save the
    /// transcripts and the hand-in report (target/demo/index.html, and
    /// report.png when Chromium is installed); non-zero exit if any
    /// misbehaves.
    Demo(demo::Args),
    /// Measure the servers side by side with nginx, python http.server,
    /// the textbook Python TCP server and a bare UDP loop; writes
    /// target/bench/report.md and chart.svg.
    Bench(bench::Args),
    /// Run the cargo-fuzz targets in fuzz/.
    Fuzz(fuzz::Args),
    /// Every server at once under valid and hostile traffic; checks that
    /// memory, threads and open files come back to their baseline, and
    /// both TCP servers' memory after bursts of 2,000 connections.
    Soak(soak::Args),
    /// cargo fmt --check, clippy -D warnings, the libraries without their
    /// cli feature, and cargo test --workspace.
    Ci,
    /// The bare UDP loop the bench compares udp-chat with.
    #[command(hide = true)]
    UdpBare,
    /// TCPServer.py's shape in Rust, the reference of the bench's
    /// lab-client rows: one thread; accept, one recv, reply, close.
    #[command(hide = true)]
    TcpTextbookShape,
    /// Runs PROGRAM ARGS… and writes its own CPU seconds and peak RSS
    /// (KiB) to OUT: the bench's trace readers are started from this
    /// small process, since a child started from the bench itself counts
    /// the bench's peak memory as its own (Linux keeps the peak of the
    /// address space a child leaves when it executes its program).
    #[command(hide = true)]
    Usage {
        /// Where to write `CPU_SECONDS PEAK_RSS_KIB`.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<std::ffi::OsString>,
    },
    /// One sender of the bench's UDP flood: COUNT datagrams to TO on a
    /// connected socket, each carrying this process's pid (or as many as
    /// it can send in SECS); prints how many it sent.
    #[command(hide = true)]
    UdpFlood {
        /// Where to send.
        to: std::net::SocketAddr,
        /// How many datagrams, at most.
        count: usize,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        seconds: Option<f64>,
    },
}

fn main() -> ExitCode {
    // Usage errors exit 2 with clap's one-line reason; `--help` exits 0.
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Demo(args) => demo::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Fuzz(args) => fuzz::run(args),
        Task::Soak(args) => soak::run(args),
        Task::Ci => ci::run(),
        Task::UdpBare => bench::peers::serve_bare_udp(),
        Task::TcpTextbookShape => bench::peers::serve_textbook_shape(),
        Task::UdpFlood { to, count, seconds } => bench::flood::send(to, count, seconds),
        Task::Usage { out, argv } => bench::trace::run_measured(&out, &argv),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
