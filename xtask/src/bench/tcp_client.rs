//! `tcp-uppercase client` against `socat -`: a large text sent through
//! our server by each, in alternating rounds.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Bench, Workload, alternating};
use crate::util::have;

/// The text sent: 50 MiB, as the measurement that found the lockstep
/// client 56× slower than socat.
const INPUT_BYTES: usize = 50 * 1024 * 1024;

/// Transfers per client per round: one takes a fraction of a second, so
/// a round times a few to even out the machine's jitter.
const TRANSFERS_PER_ROUND: usize = 3;

/// socat's wait for the server's end of stream after its own input ends
/// (`-t`, default 0.5 s, after which it cuts the replies off): long enough
/// that, like our client, it prints everything.
const SOCAT_CLOSE_WAIT_SECS: &str = "30";

/// The title of the row (see report's targets).
pub const TITLE: &str = "50 MiB of text through tcp-uppercase server, client vs `socat -`";

/// Lowercase lines of 20–100 bytes, `n` bytes in all, ending in `\n`.
fn text(n: usize) -> Vec<u8> {
    let words = [
        "tanmayi", "amrita", "31", "hello", "from", "the", "lab", "x",
    ];
    let mut out = Vec::with_capacity(n + 128);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let target = out.len() + 20 + (seed % 80) as usize;
        let mut i = seed;
        while out.len() < target {
            out.extend_from_slice(words[(i % words.len() as u64) as usize].as_bytes());
            out.push(b' ');
            i /= 3;
            i ^= seed.rotate_left(7);
        }
        out.push(b'\n');
    }
    out.truncate(n - 1);
    out.push(b'\n');
    out
}

/// Lines in `text` (each ends in `\n`).
fn lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}

impl Bench {
    /// 50 MiB of text through our server, from `tcp-uppercase client` and
    /// from `socat - TCP:…` (skipped with a notice when not installed), the
    /// output read through a pipe and counted.
    pub(super) fn tcp_client(
        &self,
        notes: &mut Vec<String>,
        results: &mut Vec<Workload>,
    ) -> Result<()> {
        println!("\n== tcp-uppercase client: {TITLE}");
        let mut w = Workload::new(TITLE, "MiB/s", "tcp-uppercase client");
        let input_path = self.work.join("text-50m.txt");
        let input = text(INPUT_BYTES);
        fs::write(&input_path, &input)?;
        // What each prints: ours prefixes every line, socat copies.
        let ours_len = input.len() + lines(&input) * "From Server: ".len();
        let socat_len = input.len();
        drop(input);

        let socat = have("socat", "-V");
        if !socat {
            let n = "socat is not installed (apt-get install socat): the TCP client row measures tcp-uppercase client alone.";
            println!("notice: {n}");
            notes.push(n.to_string());
        }
        let mut clients = vec!["tcp-uppercase client"];
        if socat {
            clients.push("socat -");
        }
        let client_bin = self.release.join("tcp-uppercase");
        alternating(self.opts.rounds, &clients, |round, name| {
            let server = self.ours_tcp()?;
            let port = server.addr.port().to_string();
            let (program, args, want): (&Path, Vec<String>, usize) = if *name == "socat -" {
                (
                    Path::new("socat"),
                    vec![
                        "-t".into(),
                        SOCAT_CLOSE_WAIT_SECS.into(),
                        "-".into(),
                        format!("TCP:127.0.0.1:{port}"),
                    ],
                    socat_len,
                )
            } else {
                (
                    &client_bin,
                    vec!["client".into(), "--port".into(), port],
                    ours_len,
                )
            };
            let mut secs = 0.0;
            for _ in 0..TRANSFERS_PER_ROUND {
                secs += transfer(program, &args, &input_path, want)
                    .with_context(|| format!("{name} through {}", server.name))?;
            }
            let rate = (TRANSFERS_PER_ROUND * INPUT_BYTES) as f64 / 1_048_576.0 / secs;
            println!(
                "  round {}: {name:<22} {rate:>10.1} MiB/s ({:.3} s per 50 MiB)",
                round + 1,
                secs / TRANSFERS_PER_ROUND as f64
            );
            w.add(name, rate);
            Ok(())
        })?;
        results.push(w);
        Ok(())
    }
}

/// Runs `program args…` with `input` as stdin and its stdout read through a
/// pipe; fails unless it exits 0 having printed `want` bytes. Returns the
/// seconds from start to exit.
fn transfer(program: &Path, args: &[String], input: &Path, want: usize) -> Result<f64> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(File::open(input)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let mut stdout = child.stdout.take().context("stdout was not piped")?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut printed = 0usize;
    loop {
        match stdout.read(&mut buf)? {
            0 => break,
            n => printed += n,
        }
    }
    let out = child.wait_with_output()?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() || printed != want {
        bail!(
            "printed {printed} bytes of {want} ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_lowercase_lines_of_the_size_asked() {
        let t = text(100_000);
        assert_eq!(t.len(), 100_000);
        assert!(t.ends_with(b"\n"));
        assert!(lines(&t) > 100_000 / 130);
        assert!(t.split(|&b| b == b'\n').all(|l| l.len() <= 130));
        assert!(!t.iter().any(u8::is_ascii_uppercase));
    }
}
