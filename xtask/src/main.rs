//! netlab's automation, reached as `cargo xtask TASK` (see
//! `.cargo/config.toml`).
//!
//! # Layout
//! - `ci`: formatting, clippy and the whole test suite — what `.ci/run` runs.
//! - `demo`: every lab scenario as separate processes, with transcripts.
//! - `bench`: the servers measured side by side with their peers.
//! - `fuzz`: the cargo-fuzz targets.
//! - `soak`: long mixed traffic against every server, checking for leaks.
//! - `util`: running cargo and other children, checking every exit status.

mod bench;
mod ci;
mod demo;
mod fuzz;
mod soak;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask TASK [OPTIONS]

tasks:
  demo [--name \"NAME ROLL\"] [--hosts] [--only udp,tcp,http,trace]
        run every lab scenario as separate processes, print and save the
        transcripts and the hand-in report (target/demo/index.html, and
        report.png when Chromium is installed); --name puts a name on
        them (default: the user); --hosts puts servers and clients in two
        network namespaces (needs root); non-zero exit if any misbehaves
  bench [--seconds N] [--rounds N] [--only http,rss,tcp,udp,client,trace]
        measure the servers side by side with nginx, python http.server,
        the textbook Python TCP server and a bare UDP loop; writes
        target/bench/report.md and chart.svg
  fuzz [--seconds N] [TARGET…]
        run the cargo-fuzz targets in fuzz/ (default 60 s each)
  soak [--seconds N]
        every server at once under valid and hostile traffic; checks that
        memory, threads and open files come back to their baseline, and
        http-server's memory after bursts of 2,000 connections
  ci    cargo fmt --check, clippy -D warnings, and cargo test --workspace
  help  this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            return if args.is_empty() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Some("ci") => ci::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        // Hidden: the bare UDP loop the bench compares udp-chat with.
        Some("udp-bare") => bench::peers::serve_bare_udp(),
        Some(other) => {
            eprint!("error: unknown task {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
