//! `cargo xtask ci`: the checks CI runs, in order of speed.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util::{cargo, root, run_checked, target_dir};

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
/// (ctrlc too: a library never installs the process's signal handler.)
const CLI_ONLY: [&str; 6] = [
    "clap",
    "env_logger",
    "anyhow",
    "indicatif",
    "tempfile",
    "ctrlc",
];

pub fn run() -> Result<()> {
    run_checked(cargo().args(["fmt", "--all", "--check"]))?;
    // Clippy's incompatible_msrv (on by default) also refuses a standard
    // library item newer than the manifests' rust-version.
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
    timed("docs", docs)?;
    timed("fuzz targets", fuzz_targets)?;
    timed("rust-version", rust_version)?;
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

/// Runs `step`, then says how long it took: a check added to CI is paid
/// for on every run.
fn timed(name: &str, step: fn() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    let result = step();
    eprintln!("ci: {name} took {:.0?}", start.elapsed());
    result
}

/// The API documentation builds without a warning: no broken or
/// ambiguous intra-doc link, no bare URL, no unclosed HTML tag.
fn docs() -> Result<()> {
    run_checked(
        cargo()
            .args(["doc", "--no-deps", "--workspace", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// The cargo-fuzz targets in `fuzz/` (outside the workspace) compile
/// against the libraries as they are now. Checked without libFuzzer
/// (`--no-default-features`), whose C++ build only running them needs;
/// into the workspace's target directory, so the libraries' dependencies
/// already checked by clippy are reused.
fn fuzz_targets() -> Result<()> {
    run_checked(
        cargo()
            .args(["check", "--bins", "--locked", "--no-default-features"])
            .arg("--manifest-path")
            .arg(root().join("fuzz").join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir()),
    )
    .context(
        "the fuzz targets do not compile; if fuzz/Cargo.lock is out of date, \
         copy Cargo.lock over it and run `cargo update --manifest-path fuzz/Cargo.toml --workspace`",
    )
}

/// The workspace builds with the oldest Rust its manifests claim
/// (`rust-version`), and so do its dependencies (cargo refuses one whose
/// own rust-version is newer): that toolchain checks every target, through
/// rustup, which installs it on first use. Where rustup or its download
/// is missing, this says so and goes on; clippy's incompatible_msrv has
/// still checked the standard library items used against the claim.
fn rust_version() -> Result<()> {
    let version = claimed_rust_version()?;
    let installed = Command::new("rustup")
        .args(["run", &version, "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        let install = Command::new("rustup")
            .args(["toolchain", "install", &version, "--profile", "minimal"])
            .status();
        if !install.is_ok_and(|s| s.success()) {
            eprintln!(
                "ci: NOT checked with Rust {version} (rustup cannot install it here); \
                 only clippy's incompatible_msrv vouches for rust-version"
            );
            return Ok(());
        }
    }
    run_checked(
        Command::new("rustup")
            .args(["run", &version, "cargo", "check", "--workspace"])
            .args(["--all-targets", "--locked", "--target-dir"])
            .arg(target_dir().join("rust-version"))
            .current_dir(root()),
    )
    .with_context(|| format!("the workspace does not build with Rust {version}, its rust-version"))
}

/// The workspace's `rust-version`, which every member inherits.
fn claimed_rust_version() -> Result<String> {
    let manifest = root().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("rust-version"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_string())
        .next()
        .with_context(|| format!("{} names no rust-version", manifest.display()))
}

/// Tests run by name only (`cargo test NAME -- --ignored`), never by CI:
/// measurements whose figures a person reads, not checks.
const MEASUREMENTS: [&str; 1] = ["compare_with_socat_on_an_impaired_link"];

/// Runs the tests, then lists every part of a check this machine could
/// not do: libtest shows a passing test's stderr to nobody, so those
/// would otherwise read as `ok`.
///
/// Tests that need root or a peer program are `#[ignore = "needs …"]`,
/// so a plain `cargo test --workspace` reports them as ignored. Where
/// `NETLAB_REQUIRE_PEERS=1` (`.ci/run`, as root, having installed the
/// peers) they run in the same pass (`--include-ignored`, so the suite
/// is not run twice), and a missing privilege or peer fails its test.
fn tests() -> Result<()> {
    let log = target_dir().join("ci-skipped.txt");
    match std::fs::remove_file(&log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove the old {}", log.display()));
        }
        _ => {}
    }
    let required = testkit::peers::required();
    let mut cmd = cargo();
    // Every test binary runs even after one fails, so one CI run lists
    // every failure (cargo names the failed targets at the end).
    cmd.args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .env(testkit::SKIP_LOG_ENV, &log);
    if required {
        cmd.args(["--", "--include-ignored"]);
        for name in MEASUREMENTS {
            cmd.args(["--skip", name]);
        }
    }
    let result = run_checked(&mut cmd);
    if !required {
        eprintln!(
            "ci: tests that need root or a peer program were ignored (each says which); \
             as root with the peers installed, {}=1 runs them too",
            testkit::peers::REQUIRE_PEERS_ENV
        );
    }
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
