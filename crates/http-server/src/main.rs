//! `http-server [--root DIR] …`: see the crate docs and the README.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use http_server::server::{self, Config, DEFAULT_PORT};
use net_core::cli::parse_seconds;
use net_core::output::Diagnostics;
use net_core::{AccessLog, Error as NetError, announce, sock};

#[derive(Parser)]
#[command(
    name = "http-server",
    version,
    about = "The lab's web server: a thread-per-connection HTTP/1.1 file server."
)]
struct Cli {
    #[command(flatten)]
    listen: net_core::cli::ServerFlags<DEFAULT_PORT>,
    /// Directory to serve.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Connections served at once; at the cap, room is made by closing
    /// the oldest idle keep-alive connection, else the oldest unfinished
    /// request, else the longest-stalled response.
    #[arg(long, default_value_t = net_core::acceptor::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Answer 403 for directories without index.html instead of listing them.
    #[arg(long)]
    no_listing: bool,
    /// Seconds an idle keep-alive connection is kept.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    keepalive_timeout: Duration,
    /// Seconds allowed for a request head to arrive.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    header_timeout: Duration,
    /// Seconds a response may go without the client accepting a byte
    /// before it is cut.
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    write_timeout: Duration,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    net_core::cli::exit(run(cli))
}

/// Diagnostics on stderr, `info` and above unless `RUST_LOG` says
/// otherwise, through net-core's stderr queue: a stderr nobody reads (or
/// one that fails) never holds the server up, nor its stop on Ctrl-C or
/// SIGTERM.
fn init_logging() {
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    logger.target(env_logger::Target::Pipe(Box::new(Diagnostics::stderr())));
    if net_core::output::diagnostics_in_color() {
        logger.write_style(env_logger::WriteStyle::Always);
    }
    logger.init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(&cli.root)?;
    config.listing = !cli.no_listing;
    config.max_connections = cli.max_connections;
    config.keepalive_timeout = cli.keepalive_timeout;
    config.header_timeout = cli.header_timeout;
    config.write_timeout = cli.write_timeout;
    config.log = if cli.listen.quiet {
        AccessLog::disabled()
    } else {
        AccessLog::stdout()
    };
    let listener = sock::tcp_listener(cli.listen.listen_addr()?)?;
    server::prepare_listener(&listener, &mut config);
    let local = listener
        .local_addr()
        .map_err(|e| NetError::io("read the bound address", e))?;
    // The handler first: a SIGTERM right after the readiness line must
    // already mean a clean stop.
    config.shutdown.install_signal_handler()?;
    announce(local, "http");
    server::run(listener, config)?;
    Ok(())
}
