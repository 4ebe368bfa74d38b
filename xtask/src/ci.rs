//! `cargo xtask ci`: the checks CI runs, in order of speed.

use anyhow::{Context, Result};

use crate::util::{cargo, run_checked, target_dir};

pub fn run() -> Result<()> {
    run_checked(cargo().args(["fmt", "--all", "--check"]))?;
    run_checked(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    tests()?;
    eprintln!("ci: all checks passed");
    Ok(())
}

/// Runs the tests, then lists every check that was skipped: libtest shows
/// a passing test's stderr to nobody, so a test whose peer is missing
/// would otherwise read as `ok`.
fn tests() -> Result<()> {
    let log = target_dir().join("ci-skipped.txt");
    match std::fs::remove_file(&log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove the old {}", log.display()));
        }
        _ => {}
    }
    let result = run_checked(
        cargo()
            .args(["test", "--workspace", "--locked"])
            .env(testkit::SKIP_LOG_ENV, &log)
            // net-trace's cross-check of owners against tcpdump runs the
            // lab's own clients, built by this very test run.
            .env("NETLAB_BIN_DIR", target_dir().join("debug")),
    );
    // Shown even when a test failed: what did not run matters then too.
    let skipped = match std::fs::read_to_string(&log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", log.display())),
    };
    let mut lines: Vec<&str> = skipped.lines().collect();
    lines.sort_unstable();
    for line in &lines {
        eprintln!("skipped: {line}");
    }
    match lines.len() {
        0 => eprintln!("ci: no check was skipped"),
        1 => eprintln!("ci: 1 check was skipped"),
        n => eprintln!("ci: {n} checks were skipped"),
    }
    result
}
