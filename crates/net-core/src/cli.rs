//! Command-line helpers: value parsers shaped for clap's `value_parser`
//! (plain functions, usable without clap), the lab clients' read-a-line
//! loop, and (feature `cli`) the flags every server takes.

use std::fmt::Display;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::error::Error;

/// The flags every server takes, flattened into its own with
/// `#[command(flatten)]`: `--bind ADDR`, `--port N` (default `PORT`, the
/// tool's own port) and `--quiet`.
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: net_core::cli::ServerFlags<6789>,
/// }
///
/// let cli = Cli::parse_from(["server", "--port", "0"]);
/// assert_eq!(cli.server.listen_addr()?, "127.0.0.1:0".parse()?);
/// assert!(!cli.server.quiet);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "cli")]
#[derive(Debug, Clone, clap::Args)]
// Without this, clap takes the doc comment above as the help text of
// every program that flattens these flags.
#[command(about = None, long_about = None)]
pub struct ServerFlags<const PORT: u16> {
    /// Address to listen on (`::` or `0.0.0.0` for every address).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
    /// No access log: do not log each request or reply on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

#[cfg(feature = "cli")]
impl<const PORT: u16> ServerFlags<PORT> {
    /// The address to bind: `--bind` (a name is resolved) and `--port`.
    pub fn listen_addr(&self) -> crate::Result<std::net::SocketAddr> {
        crate::Endpoint::new(&self.bind, self.port)?.resolve_one()
    }
}

/// A binary's exit: 0 on success; otherwise the error on stderr as
/// `error: …` (our errors already read as one sentence with their cause)
/// and exit status 1. Diagnostics still queued for stderr are written
/// first, for at most [`LOG_DRAIN_TIMEOUT`](crate::output::LOG_DRAIN_TIMEOUT):
/// a stderr nobody reads does not keep the process from exiting.
pub fn exit(result: Result<(), impl Display>) -> ExitCode {
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::output::eprint_line(format_args!("error: {e}"));
            ExitCode::FAILURE
        }
    };
    crate::output::flush_diagnostics();
    code
}

/// Calls `each` with every line of `input` (without its `\n` or `\r\n`),
/// writing `prompt` to `out` before each read when given, until `each`
/// returns false or the input ends. Lines may hold any bytes.
///
/// ```
/// let mut seen = Vec::new();
/// let mut out = Vec::new();
/// net_core::cli::for_each_line(&b"one\r\ntwo"[..], &mut out, None, |line, _| {
///     seen.push(line.to_vec());
///     Ok::<_, net_core::Error>(true)
/// })?;
/// assert_eq!(seen, [b"one".to_vec(), b"two".to_vec()]);
/// # Ok::<(), net_core::Error>(())
/// ```
pub fn for_each_line<R, W, E>(
    mut input: R,
    out: &mut W,
    prompt: Option<&str>,
    mut each: impl FnMut(&[u8], &mut W) -> Result<bool, E>,
) -> Result<(), E>
where
    R: BufRead,
    W: Write,
    E: From<Error>,
{
    let mut line = Vec::new();
    loop {
        if let Some(prompt) = prompt {
            out.write_all(prompt.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Error::io("write the prompt", e))?;
        }
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("read the input", e))?;
        if n == 0 {
            return Ok(());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if !each(text, out)? {
            return Ok(());
        }
    }
}

/// Longest time-out a flag accepts: a day. Longer values are almost
/// certainly typos and would overflow some platforms' socket time-outs.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Parses a positive number of seconds, fractions allowed: `2`, `0.5`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(net_core::cli::parse_seconds("0.5"), Ok(Duration::from_millis(500)));
/// assert!(net_core::cli::parse_seconds("0").is_err());
/// ```
pub fn parse_seconds(input: &str) -> Result<Duration, String> {
    let secs: f64 = input
        .trim()
        .parse()
        .map_err(|_| format!("{input:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{input:?} must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= MAX_TIMEOUT)
        .ok_or_else(|| format!("{input:?} is more than a day"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(
            parse_seconds("nan"),
            Err("\"nan\" must be more than 0 seconds".into())
        );
        assert_eq!(
            parse_seconds("-1"),
            Err("\"-1\" must be more than 0 seconds".into())
        );
        assert_eq!(
            parse_seconds("x"),
            Err("\"x\" is not a number of seconds".into())
        );
        assert_eq!(
            parse_seconds("1e9"),
            Err("\"1e9\" is more than a day".into())
        );
    }
}
