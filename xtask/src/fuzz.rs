//! `cargo xtask fuzz [--seconds N] [TARGET…]`: runs each cargo-fuzz target
//! in `fuzz/` for N seconds (stable toolchain, through RUSTC_BOOTSTRAP=1),
//! starting from the committed seed corpora. New inputs go to
//! `target/fuzz-corpus/`, crashes to `fuzz/artifacts/` — each one found
//! becomes a regression test.

use anyhow::{Context, Result, bail};

use crate::util::{cargo, root, run_checked, target_dir};

/// Every fuzz target.
pub const TARGETS: &[&str] = &[
    "http_request",
    "path_resolve",
    "http_response",
    "trace_frame",
    "uppercase_stream",
];

/// `cargo xtask fuzz`'s options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long each target runs.
    #[arg(long, value_name = "N", default_value_t = 60)]
    seconds: u64,
    /// The targets to run (default: all).
    #[arg(value_name = "TARGET", value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    targets: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        seconds,
        targets: mut chosen,
    } = args;
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let has_cargo_fuzz = cargo()
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
            cargo()
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
