//! `tcp-uppercase server|client`: see the crate docs and the README.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use net_core::Error as NetError;
use net_core::cli::parse_seconds;
use net_core::output::Diagnostics;
use net_core::{Endpoint, Shutdown, announce, sock};
use tcp_uppercase::client::{self, Client};
use tcp_uppercase::{DEFAULT_PORT, server};

#[derive(Parser)]
#[command(
    name = "tcp-uppercase",
    version,
    about = "The lab's TCP uppercase server and client."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Uppercase every connection's byte stream, one thread per connection.
    Server(ServerArgs),
    /// Send a sentence (or standard input) and print the uppercased reply.
    Client(ClientArgs),
}

#[derive(Args)]
struct ServerArgs {
    #[command(flatten)]
    listen: net_core::cli::ServerFlags<DEFAULT_PORT>,
    /// Connections served at once; more wait their turn.
    #[arg(long, default_value_t = net_core::acceptor::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Close a connection idle for this many seconds.
    #[arg(long, default_value = "120", value_parser = parse_seconds)]
    idle_timeout: Duration,
    /// Cut a connection whose client accepts no byte of its reply for
    /// this many seconds.
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    write_timeout: Duration,
}

#[derive(Args)]
struct ClientArgs {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Seconds to wait for the connection.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    connect_timeout: Duration,
    /// Seconds a reply may stall, or the server may take no byte of ours.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,
    /// The sentence to send; without it, standard input is sent while the
    /// replies are printed, over one connection.
    sentence: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Server(_)));
    let result = match cli.command {
        Command::Server(args) => run_server(args),
        Command::Client(args) => run_client(args),
    };
    net_core::cli::exit(result)
}

/// Diagnostics on stderr, `info` and above unless `RUST_LOG` says
/// otherwise. A server's go through net-core's stderr queue, so a stderr
/// nobody reads (or one that fails) never holds it up, nor its stop on
/// Ctrl-C or SIGTERM; a client's are written as they come.
fn init_logging(server: bool) {
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if server {
        logger.target(env_logger::Target::Pipe(Box::new(Diagnostics::stderr())));
        if net_core::output::diagnostics_in_color() {
            logger.write_style(env_logger::WriteStyle::Always);
        }
    }
    logger.init();
}

fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let listener = sock::tcp_listener(args.listen.listen_addr()?)?;
    let mut config = server::Config {
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
        write_timeout: args.write_timeout,
        log: if args.listen.quiet {
            net_core::AccessLog::disabled()
        } else {
            net_core::AccessLog::stdout()
        },
        inherited: false,
    };
    server::prepare_listener(&listener, &mut config);
    let local = listener
        .local_addr()
        .map_err(|e| NetError::io("read the bound address", e))?;
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    announce(local, "tcp");
    server::run(listener, &shutdown, config)?;
    Ok(())
}

fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    let endpoint = Endpoint::new(&args.host, args.port)?;
    let mut client = Client::new(endpoint)
        .connect_timeout(args.connect_timeout)
        .timeout(args.timeout);
    let mut out = io::stdout().lock();
    if !args.sentence.is_empty() {
        client::print_sentence_reply(&mut client, args.sentence.join(" ").as_bytes(), &mut out)?;
        return Ok(());
    }
    let stdin = io::stdin();
    let prompt = stdin.is_terminal();
    client::run_stream(&client, stdin, &mut out, prompt)?;
    Ok(())
}
