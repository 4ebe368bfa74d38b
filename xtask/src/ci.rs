//! `cargo xtask ci`: the checks CI runs, in order of speed.

use anyhow::{Result, bail};

use crate::util::{cargo, run_checked};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("ci takes no arguments, got {extra:?}");
    }
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
    run_checked(cargo().args(["test", "--workspace", "--locked"]))?;
    eprintln!("ci: all checks passed");
    Ok(())
}
