//! `cargo xtask ci`: the checks CI runs, in order of speed.

use anyhow::{Context, Result, bail};

use crate::util::{cargo, run_checked, target_dir};

/// The crates a program may use as libraries, without their binaries.
const LIBRARIES: [&str; 6] = [
    "net-core",
    "udp-chat",
    "tcp-uppercase",
    "http-server",
    "http-client",
    "net-trace",
];

/// Crates only a binary needs (argument parsing, logging set-up, `main`'s
/// error type, `-o`'s progress bar and temporary file): each library keeps
/// them behind its `cli` feature, so a user who turns it off builds none.
const CLI_ONLY: [&str; 5] = ["clap", "env_logger", "anyhow", "indicatif", "tempfile"];

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
    libraries()?;
    tests()?;
    eprintln!("ci: all checks passed");
    Ok(())
}

/// The libraries as their users build them, without the `cli` feature:
/// they compile and lint cleanly (nothing in them needs the binary's
/// crates), and none of the binary's crates is among their dependencies.
fn libraries() -> Result<()> {
    let packages = LIBRARIES.iter().flat_map(|p| ["-p", p]);
    run_checked(
        cargo()
            .args([
                "clippy",
                "--locked",
                "--no-default-features",
                "--all-targets",
            ])
            .args(packages)
            .args(["--", "-D", "warnings"]),
    )?;
    for lib in LIBRARIES {
        let mut cmd = cargo();
        cmd.args(["tree", "--locked", "--no-default-features", "-e", "normal"])
            .args(["--prefix", "none", "--format", "{p}", "-p", lib]);
        let out = cmd
            .output()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        if !out.status.success() {
            bail!(
                "{cmd:?} failed with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        let mut found: Vec<&str> = tree
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| CLI_ONLY.contains(name))
            .collect();
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            bail!(
                "{lib} without its cli feature still depends on {}: only its binary may",
                found.join(", ")
            );
        }
    }
    eprintln!(
        "ci: without the cli feature no library depends on {}",
        CLI_ONLY.join(", ")
    );
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
