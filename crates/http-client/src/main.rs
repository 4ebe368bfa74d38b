//! `http-client HOST PORT PATH…` or `http-client http[s]://HOST[:PORT]/PATH…`:
//! see the crate docs and the README. Exit codes are curl's.

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    http_client::cli::main()
}
