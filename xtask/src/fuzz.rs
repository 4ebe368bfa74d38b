//! `cargo xtask fuzz [--seconds N] [TARGET…]`: runs each cargo-fuzz target
//! in `fuzz/` for N seconds (stable toolchain, through RUSTC_BOOTSTRAP=1),
//! starting from the committed seed corpora. New inputs go to
//! `target/fuzz-corpus/`, crashes to `fuzz/artifacts/` — each one found
//! becomes a regression test.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{root, run_checked, target_dir};

/// Every fuzz target.
pub const TARGETS: &[&str] = &[
    "http_request",
    "path_resolve",
    "http_response",
    "trace_frame",
    "uppercase_stream",
];

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut chosen: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = crate::util::number(&mut it, "--seconds")?;
            }
            t if TARGETS.contains(&t) => chosen.push(t.to_string()),
            other => bail!(
                "unknown fuzz target or option {other:?}; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let has_cargo_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_fuzz {
        bail!(
            "cargo-fuzz is not installed: run `cargo install cargo-fuzz` (it works on the stable toolchain)"
        );
    }
    let fuzz_dir = root().join("fuzz");
    for target in &chosen {
        let work = target_dir().join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&work)?;
        let seeds = fuzz_dir.join("corpus").join(target);
        eprintln!("== fuzzing {target} for {seconds} s");
        run_checked(
            Command::new("cargo")
                .current_dir(&fuzz_dir)
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run", target])
                .arg(&work)
                .arg(&seeds)
                .args([
                    "--",
                    &format!("-max_total_time={seconds}"),
                    "-print_final_stats=1",
                ]),
        )
        .with_context(|| format!("fuzz target {target} failed: see fuzz/artifacts/{target}/"))?;
    }
    eprintln!(
        "fuzz: {} target(s) ran {seconds} s each without a crash",
        chosen.len()
    );
    Ok(())
}
