//! `http-client HOST PORT PATH…` or `http-client http://HOST[:PORT]/PATH…`:
//! see the crate docs and the README. Exit codes are curl's.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use http_client::client::Method;
use http_client::save::{self, Output};
use http_client::show::Show;
use http_client::{Client, Error, Proxies, Trust, Url};
use net_core::cli::parse_seconds;
#[derive(Parser)]
#[command(
    name = "http-client",
    version,
    about = "Fetch files over HTTP/1.1 or HTTPS: the body to stdout, the headers to stderr.",
    after_help = "Examples:\n  http-client localhost 6789 HelloWorld.html\n  http-client http://[::1]:6789/a.html http://[::1]:6789/b.html"
)]
struct Cli {
    /// `SERVER_HOST SERVER_PORT PATH [PATH…]`, or one or more http:// or https:// URLs.
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
    /// Seconds allowed for each whole request (no limit by default).
    #[arg(short = 'm', long, visible_alias = "max-time", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Seconds the server may send nothing before the request is given up.
    #[arg(long, value_parser = parse_seconds, default_value = "30")]
    stall_timeout: Duration,
    /// Ask for a compressed body (gzip, deflate, br, zstd) and decode it.
    #[arg(long)]
    compressed: bool,
    /// Trust only the CA certificates in this PEM file for https://.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Do not check the server's certificate for https:// (still encrypted).
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Send requests through this HTTP proxy: [http://][user:password@]host[:port]
    /// (port 1080 by default); "" for none, whatever http_proxy says.
    #[arg(short = 'x', long, value_name = "URL")]
    proxy: Option<String>,
    /// Hosts reached without the proxy, comma-separated (in place of no_proxy).
    #[arg(long, value_name = "LIST")]
    noproxy: Option<String>,
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
    let urls = match Url::from_args(&cli.args) {
        Ok(urls) => urls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                Error::Unsupported(_) => e.exit_code(),
                _ => EXIT_USAGE,
            });
        }
    };
    let output = Output::from_arg(cli.output.as_deref());
    if matches!(output, Output::File(_)) && urls.len() > 1 {
        eprintln!("error: -o takes one path; fetch several paths to stdout instead");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut client = Client::new()
        .connect_timeout(cli.connect_timeout)
        .stall_timeout(cli.stall_timeout)
        .follow_redirects(cli.location);
    if let Some(limit) = cli.timeout {
        client = client.timeout(limit);
    }
    let mut proxies = Proxies::from_env();
    if let Some(proxy) = &cli.proxy {
        proxies = proxies.proxy(proxy);
    }
    if let Some(list) = &cli.noproxy {
        proxies = proxies.noproxy(list);
    }
    // As curl: -k wins over --cacert.
    let trust = match (&cli.cacert, cli.insecure) {
        (_, true) => Trust::Insecure,
        (Some(file), false) => Trust::File(file.clone()),
        (None, false) => Trust::System,
    };
    client = client
        .compressed(cli.compressed)
        .trust(trust)
        .proxies(proxies);
    let method = if cli.head { Method::Head } else { Method::Get };
    let mut code = 0;
    for url in &urls {
        let mut show = Show::new()
            .silent(cli.silent)
            .include(cli.include)
            .verbose(cli.verbose)
            .progress(matches!(output, Output::File(_)));
        let fetched = save::fetch(&mut client, method, url, &output, &mut show);
        show.finish();
        match fetched {
            Ok((head, _)) if head.status >= 400 => code = EXIT_HTTP_ERROR,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(e.exit_code());
            }
        }
    }
    ExitCode::from(code)
}
