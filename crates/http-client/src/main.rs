//! `http-client HOST PORT PATH…` or `http-client http://HOST[:PORT]/PATH…`:
//! see the crate docs and the README. Exit codes are curl's.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use http_client::client::{Method, Observer};
use http_client::response::Head;
use http_client::{Client, Error, Url, save};
use indicatif::{ProgressBar, ProgressStyle};
use net_core::cli::parse_seconds;

/// Bodies larger than this get a progress bar with `-o` on a terminal.
const PROGRESS_THRESHOLD: u64 = 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "http-client",
    version,
    about = "Fetch files over HTTP/1.1: the body to stdout, the headers to stderr.",
    after_help = "Examples:\n  http-client localhost 6789 HelloWorld.html\n  http-client http://[::1]:6789/a.html http://[::1]:6789/b.html"
)]
struct Cli {
    /// `SERVER_HOST SERVER_PORT PATH [PATH…]`, or one or more http:// URLs.
    #[arg(required = true, value_name = "HOST PORT PATH… | URL…")]
    args: Vec<String>,
    /// Silent: do not print the status line and headers.
    #[arg(short, long)]
    silent: bool,
    /// Include the status line and headers in stdout, before the body.
    #[arg(short, long)]
    include: bool,
    /// Also show the request sent (lines marked > and <, on stderr).
    #[arg(short, long)]
    verbose: bool,
    /// Write the body to FILE instead of stdout (only with one path; `-` is
    /// stdout). A response of 400 or more is not saved.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Send HEAD instead of GET.
    #[arg(short = 'I', long)]
    head: bool,
    /// Follow redirects (at most 10).
    #[arg(short = 'L', long)]
    location: bool,
    /// Seconds allowed to connect.
    #[arg(long, value_parser = parse_seconds, default_value = "10")]
    connect_timeout: Duration,
    /// Seconds allowed for each whole request.
    #[arg(short = 'm', long, visible_alias = "max-time", value_parser = parse_seconds, default_value = "30")]
    timeout: Duration,
}

/// Usage errors exit 2, as clap's do.
const EXIT_USAGE: u8 = 2;
/// An HTTP status of 400 or more, as `curl --fail`.
const EXIT_HTTP_ERROR: u8 = 22;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // Early, while this is the only thread: the signals are blocked in
    // every thread started after it.
    if let Err(e) = save::remove_on_signals() {
        log::warn!("an interrupted download may leave its temporary file ({e})");
    }
    let cli = Cli::parse();
    let urls = match targets(&cli.args) {
        Ok(urls) => urls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                Error::Unsupported(_) => e.exit_code(),
                _ => EXIT_USAGE,
            });
        }
    };
    if cli.output.is_some() && urls.len() > 1 {
        eprintln!("error: -o takes one path; fetch several paths to stdout instead");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut client = Client::new()
        .connect_timeout(cli.connect_timeout)
        .timeout(cli.timeout)
        .follow_redirects(cli.location);
    let method = if cli.head { Method::Head } else { Method::Get };
    let mut code = 0;
    for url in &urls {
        match fetch(&mut client, &cli, method, url) {
            Ok(head) if head.status >= 400 => code = EXIT_HTTP_ERROR,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(e.exit_code());
            }
        }
    }
    ExitCode::from(code)
}

/// The URLs named on the command line, in either form.
fn targets(args: &[String]) -> Result<Vec<Url>, Error> {
    if args.iter().any(|a| a.contains("://")) {
        return args.iter().map(|a| Url::parse(a)).collect();
    }
    match args {
        [host, port, paths @ ..] if !paths.is_empty() => {
            let port =
                net_core::endpoint::parse_port(port).map_err(|e| Error::BadUrl(e.to_string()))?;
            paths
                .iter()
                .map(|p| Url::from_parts(host, port, p))
                .collect()
        }
        _ => Err(Error::BadUrl(
            "expected SERVER_HOST SERVER_PORT PATH [PATH…] or http://HOST[:PORT]/PATH".into(),
        )),
    }
}

/// What is shown while a request runs.
struct Show {
    silent: bool,
    include: bool,
    verbose: bool,
    bar: Option<ProgressBar>,
    want_bar: bool,
}

impl Observer for Show {
    fn request(&mut self, raw: &[u8]) {
        if self.verbose {
            let text = String::from_utf8_lossy(raw);
            let mut err = io::stderr().lock();
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let _ = writeln!(err, "> {line}");
            }
            let _ = writeln!(err, ">");
        }
    }

    fn head(&mut self, head: &Head) {
        if self.verbose {
            let text = String::from_utf8_lossy(&head.raw);
            let mut err = io::stderr().lock();
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let _ = writeln!(err, "< {line}");
            }
            let _ = writeln!(err, "<");
        } else if !self.silent {
            let _ = io::stderr().lock().write_all(&head.raw);
        }
        if self.include {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&head.raw).and_then(|()| out.flush());
        }
    }

    fn body_start(&mut self, len: Option<u64>) {
        if !self.want_bar || len.is_some_and(|n| n < PROGRESS_THRESHOLD) {
            return;
        }
        let bar = match len {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        self.bar = Some(bar);
    }

    fn progress(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }
}

fn fetch(client: &mut Client, cli: &Cli, method: Method, url: &Url) -> Result<Head, Error> {
    let mut show = Show {
        silent: cli.silent,
        include: cli.include,
        verbose: cli.verbose,
        bar: None,
        want_bar: cli.output.as_deref().is_some_and(|p| p != Path::new("-"))
            && io::stderr().is_terminal()
            && !cli.silent,
    };
    let result = match cli.output.as_deref().filter(|p| *p != Path::new("-")) {
        Some(path) => save::to_file(client, method, url, path, &mut show),
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
            let result = client.fetch(method, url, &mut out, &mut show);
            out.flush()
                .map_err(|e| Error::Write(net_core::error::describe(&e)))
                .and(result)
        }
    };
    if let Some(bar) = show.bar.take() {
        bar.finish_and_clear();
    }
    result.map(|(head, _)| head)
}
