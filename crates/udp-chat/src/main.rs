//! `udp-chat server|client [--chat]`: see the crate docs and the README.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use net_core::cli::parse_seconds;
use net_core::output::Diagnostics;
use net_core::{AccessLog, Endpoint, Error as NetError, Shutdown, announce, sock};
use udp_chat::chat::Chat;
use udp_chat::client::{Client, DEFAULT_RETRIES};
use udp_chat::{DEFAULT_PORT, uppercase_server};

#[derive(Parser)]
#[command(
    name = "udp-chat",
    version,
    about = "The lab's UDP uppercase server and client, and a two-way chat."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer every datagram uppercased, or chat with clients (--chat).
    Server(ServerArgs),
    /// Send each stdin line as a datagram and print the reply, or chat (--chat).
    Client(ClientArgs),
}

#[derive(Args)]
// The chat prints every message whatever --quiet says.
#[command(mut_arg("quiet", |a| a.help("Do not log each message (uppercase mode)")))]
struct ServerArgs {
    #[command(flatten)]
    listen: net_core::cli::ServerFlags<DEFAULT_PORT>,
    /// Chat with clients: print what they send, send them what you type.
    #[arg(long)]
    chat: bool,
}

#[derive(Args)]
struct ClientArgs {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Seconds to wait for each reply.
    #[arg(long, default_value = "2", value_parser = parse_seconds)]
    timeout: Duration,
    /// Times an unanswered message is sent again.
    #[arg(long, default_value_t = DEFAULT_RETRIES)]
    retries: u32,
    /// Chat with the server operator instead of asking for uppercase.
    #[arg(long)]
    chat: bool,
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

/// Ctrl-C / SIGTERM: a server stops its loop; an interactive session, whose
/// main thread may be blocked reading the terminal, simply exits.
fn shutdown_handle(interactive_session: bool) -> anyhow::Result<Shutdown> {
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    if interactive_session {
        shutdown.on_fire(|| std::process::exit(0));
    }
    Ok(shutdown)
}

fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let socket = sock::udp_socket(args.listen.listen_addr()?)?;
    let local = socket
        .local_addr()
        .map_err(|e| NetError::io("read the bound address", e))?;
    // The handler first: a SIGTERM right after the readiness line must
    // already mean a clean stop.
    let shutdown = shutdown_handle(args.chat)?;
    announce(local, "udp");
    if args.chat {
        hint(
            "clients' messages appear as they arrive; each line you type goes to the client that wrote last",
        );
        Chat::server(socket).run(io::stdin().lock(), io::stdout(), &shutdown)?;
    } else {
        let log = if args.listen.quiet {
            AccessLog::disabled()
        } else {
            AccessLog::stdout()
        };
        uppercase_server::run(socket, &shutdown, uppercase_server::Config { log })?;
    }
    Ok(())
}

fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    let endpoint = Endpoint::new(&args.host, args.port)?;
    let mut client = Client::resolve(&endpoint)?
        .timeout(args.timeout)
        .retries(args.retries);
    if args.chat {
        let shutdown = shutdown_handle(true)?;
        hint("messages from the server appear as they arrive; type lines to send, `quit` to leave");
        let server = client.server();
        Chat::client(client.into_socket(), server).run(
            io::stdin().lock(),
            io::stdout(),
            &shutdown,
        )?;
        return Ok(());
    }

    let stdin = io::stdin();
    let prompt = stdin.is_terminal();
    udp_chat::client::run_lines(
        &mut client,
        stdin.lock(),
        &mut io::stdout().lock(),
        &mut io::stderr(),
        prompt,
    )?;
    Ok(())
}

/// A one-line hint for people at a terminal; scripts never see it.
fn hint(text: &str) {
    if io::stdin().is_terminal() {
        eprintln!("({text})");
    }
}
