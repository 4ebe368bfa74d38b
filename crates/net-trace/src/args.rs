//! The command line of `net-trace`: its arguments, and the lines on stderr
//! that repeat them (the readiness line, the counts at the end).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use net_core::cli::parse_seconds;
use net_trace::capture::Report;
use net_trace::filter::Filter;
use net_trace::sink::{Conversations, Details, Follow, Format, Raw, Records, Sink, Summary, Table};

#[derive(Parser)]
#[command(
    name = "net-trace",
    version,
    about = "Capture the lab's traffic and explain each TCP handshake and teardown, with the process that sent each frame."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Capture live (needs root or CAP_NET_RAW).
    Capture(CaptureArgs),
    /// Analyse a saved capture (pcap or pcapng); no privileges needed.
    Read(ReadArgs),
}

#[derive(Args)]
pub struct CaptureArgs {
    /// Interface to capture on; repeat it for several, or `any` for all.
    #[arg(long = "iface", value_name = "NAME", default_value = "lo")]
    pub ifaces: Vec<String>,
    /// Keep only frames to or from this port, and ICMP errors about them
    /// (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Also save the frames to this file: classic pcap, or pcapng with each
    /// frame's process when the name ends in `.pcapng`.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Also save the frames to this pcapng file, each with the process
    /// that sent it as a packet comment (Wireshark shows it).
    #[arg(long, value_name = "FILE")]
    pub pcapng: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Do not look up which process sent each frame.
    #[arg(long, conflicts_with_all = ["pid", "pname", "command"])]
    pub no_processes: bool,
    /// Each CPU's ring of kernel events, in KiB, for naming processes
    /// (default 8192): a bigger one rides out longer bursts on a busy
    /// machine before events are lost.
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u32).range(1..=MAX_EVENT_BUFFER_KIB))]
    pub event_buffer: Option<u32>,
    /// Show no frames and no summaries, only the counts at the end: for
    /// saving to `--pcap`/`--pcapng` alone, as `tshark -q -w` (processes
    /// are then looked up only for a pcapng's comments or a narrowing).
    #[arg(short, long, conflicts_with_all = ["follow", "summary_only", "detail", "verbose", "states"])]
    pub quiet: bool,
    /// Show only the connections of this process.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Show only the connections of programs with this name.
    #[arg(long, value_name = "NAME", conflicts_with = "pid")]
    pub pname: Option<String>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// A tcpdump filter expression (pcap-filter(7)), e.g. `tcp and port
    /// 13000`; its words may come as separate arguments. Run in the
    /// kernel; with `--port`, a frame must pass both.
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,
    /// Run this command, capture only its traffic, and stop when it exits.
    #[arg(last = true, value_name = "COMMAND", conflicts_with_all = ["pid", "pname"])]
    pub command: Vec<String>,
}

#[derive(Args)]
pub struct ReadArgs {
    /// The capture file (`-` for standard input).
    pub file: PathBuf,
    /// A tcpdump filter expression (pcap-filter(7)): only the frames
    /// `tcpdump -r FILE EXPRESSION` keeps are shown (with their numbers in
    /// the file); with `--port`, a frame must pass both.
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,
    /// Keep only frames to or from this port, and ICMP errors about them
    /// (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// How the analysis is shown, for `capture` and `read` alike.
#[derive(Args)]
pub struct ViewArgs {
    /// Show each side's TCP state after every frame.
    #[arg(long)]
    pub states: bool,
    /// Write a ladder diagram of each connection to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub diagram: Option<PathBuf>,
    /// Draw only this connection (its number in the table and summary).
    #[arg(long, value_name = "K", requires = "diagram")]
    pub connection: Option<usize>,
    /// How frames are written: the table, tab-separated values with a
    /// header line, or JSON lines (one object per frame, then one per
    /// connection).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: OutputFormat,
    /// Only the conversations: one line per connection with its frames,
    /// bytes, duration, analysis counts, round-trip times and processes
    /// (as `tshark -q -z conv,tcp`).
    #[arg(long, conflicts_with = "format")]
    pub summary_only: bool,
    /// Show frame N field by field, as Wireshark's details pane, with the
    /// process that sent it (repeatable, or a list: `--detail 1,2,3`).
    #[arg(long = "detail", value_name = "N", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with_all = ["format", "summary_only"])]
    pub detail: Vec<u64>,
    /// Show every frame field by field (as `tshark -V`).
    #[arg(short = 'V', long = "verbose", conflicts_with_all = ["format", "summary_only"])]
    pub verbose: bool,
    /// Print connection K's payload in order, both directions marked, as
    /// `tshark -q -z follow,tcp,ascii` (K as numbered in the table and
    /// summaries, from 1).
    #[arg(long, value_name = "K",
          conflicts_with_all = ["format", "summary_only", "detail", "verbose"])]
    pub follow: Option<usize>,
    /// With `--follow`: write the payload bytes themselves, of both
    /// directions as delivered, or of the client's or the server's only.
    #[arg(long, value_enum, value_name = "SIDE", requires = "follow", num_args = 0..=1, default_missing_value = "both")]
    pub raw: Option<RawSide>,
}

/// `--raw`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RawSide {
    /// Both directions, in the order delivered.
    Both,
    /// The client's bytes.
    Client,
    /// The server's bytes.
    Server,
}

/// `--format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The frame table, then each connection's summary.
    Table,
    /// Tab-separated values (summaries on stderr).
    Tsv,
    /// JSON lines.
    Json,
}

impl ViewArgs {
    /// The sinks writing to stdout (and stderr), in order: for a live
    /// capture, output that streams and survives a closed stdout.
    pub fn output(&self, live: bool) -> Vec<Box<dyn Sink>> {
        let states = self.states;
        let terminal = io::stdout().is_terminal();
        let records = |format| -> Box<dyn Sink> {
            if live {
                Box::new(Records::live(io::stdout(), format, states, terminal))
            } else {
                Box::new(Records::new(io::stdout().lock(), format, states))
            }
        };
        if let Some(conn) = self.follow {
            let raw = self.raw.map(|r| match r {
                RawSide::Both => Raw::Both,
                RawSide::Client => Raw::Client,
                RawSide::Server => Raw::Server,
            });
            return vec![Box::new(Follow::new(io::stdout().lock(), conn, raw))];
        }
        if self.summary_only {
            return vec![Box::new(Conversations::new(io::stdout().lock()))];
        }
        let summary = || -> Box<dyn Sink> {
            if live {
                Box::new(Summary::live(io::stdout()))
            } else {
                Box::new(Summary::new(io::stdout().lock()))
            }
        };
        match (self.format, self.details()) {
            // Every frame's details in place of the table, as `tshark -V`.
            (OutputFormat::Table, Some(frames)) if frames.is_empty() => vec![
                Box::new(Details::new(io::stdout(), frames, live)),
                summary(),
            ],
            // The table, then the chosen frames' details.
            (OutputFormat::Table, Some(frames)) => vec![
                if live {
                    Box::new(Table::live(io::stdout(), states))
                } else {
                    Box::new(Table::new(io::stdout().lock(), states))
                },
                Box::new(Details::new(io::stdout(), frames, live)),
                summary(),
            ],
            (OutputFormat::Table, None) if live => vec![
                Box::new(Table::live(io::stdout(), states)),
                Box::new(Summary::live(io::stdout())),
            ],
            (OutputFormat::Table, None) => vec![
                Box::new(Table::new(io::stdout().lock(), states)),
                Box::new(Summary::new(io::stdout().lock())),
            ],
            // The conversations follow the frames as JSON objects.
            (OutputFormat::Json, _) => vec![records(Format::Json)],
            // A TSV file stays one table: the summaries go to stderr.
            (OutputFormat::Tsv, _) => {
                vec![records(Format::Tsv), Box::new(Summary::new(io::stderr()))]
            }
        }
    }

    /// The frames the details pane shows: `None` for none, an empty set
    /// for all.
    pub fn details(&self) -> Option<std::collections::BTreeSet<usize>> {
        if self.verbose {
            return Some(Default::default());
        }
        if self.detail.is_empty() {
            return None;
        }
        Some(
            self.detail
                .iter()
                .map(|&n| usize::try_from(n).unwrap_or(usize::MAX))
                .collect(),
        )
    }
}

impl CaptureArgs {
    /// The classic pcap and the pcapng file to write: `--pcap` names a
    /// pcapng when it ends in `.pcapng`.
    pub fn files(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        match (&self.pcap, &self.pcapng) {
            (Some(p), None)
                if p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("pcapng")) =>
            {
                (None, Some(p.clone()))
            }
            (p, ng) => (p.clone(), ng.clone()),
        }
    }

    /// The exit status: the command's own, as `time` and `strace` pass it
    /// on (128 + N when a signal N ended it, as a shell says); else success.
    pub fn exit_code(&self, report: &Report) -> ExitCode {
        let Some(status) = report.command_status else {
            return ExitCode::SUCCESS;
        };
        let program = self.command.first().map_or("the command", String::as_str);
        if let Some(code) = status.code() {
            if code == 0 {
                return ExitCode::SUCCESS;
            }
            eprintln!("{program} exited with status {code}");
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        #[cfg(unix)]
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
            eprintln!("{program} was killed by signal {signal}");
            return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
        }
        ExitCode::FAILURE
    }

    /// The line saying the capture has begun, what it keeps and how it
    /// ends.
    pub fn readiness(&self, expression: Option<&Filter>) -> String {
        let mut filter = match (self.ports.is_empty(), expression) {
            (true, None) => String::from("all traffic"),
            (true, Some(e)) => e.to_string(),
            (false, e) => {
                let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
                let ports = format!("port {}", ports.join(", "));
                match e {
                    Some(e) => format!("{ports} and {e}"),
                    None => ports,
                }
            }
        };
        if let Some(pid) = self.pid {
            filter.push_str(&format!(", pid {pid}"));
        }
        if let Some(name) = &self.pname {
            filter.push_str(&format!(", program {name}"));
        }
        if let Some(program) = self.command.first() {
            filter.push_str(&format!(", {program} and its children"));
        }
        let stop = if self.command.is_empty() {
            "Ctrl-C to stop"
        } else {
            "until the command exits"
        };
        format!("capturing on {} ({filter}); {stop}", self.ifaces.join(", "))
    }
}

/// The counts at the end of a capture, as tcpdump reports them (also when
/// nothing was dropped), and the files written.
pub fn print_counts(report: &Report, files: [&Option<PathBuf>; 2]) {
    eprintln!("{} packets captured", report.captured);
    eprintln!("{} packets received by filter", report.received);
    eprintln!("{} packets dropped by kernel", report.kernel.dropped);
    if report.abandoned > 0 {
        eprintln!(
            "{} packets captured but not shown or saved: the capture was stopped before their turn",
            report.abandoned
        );
    }
    if report.late > 0 {
        eprintln!(
            "{} frame(s) shown without a process: the kernel's evidence came too late",
            report.late
        );
    }
    let lost_rows = report.tally.map_or(0, |t| t.lost);
    if report.events_lost > 0 || lost_rows > 0 {
        eprintln!(
            "{} kernel event(s) lost by the tracing rings; {lost_rows} frame(s) shown without a process because of it",
            report.events_lost
        );
    }
    for path in files.into_iter().flatten() {
        eprintln!("{} frame(s) saved to {}", report.frames, path.display());
    }
}

/// The largest `--event-buffer`: a GiB per CPU.
const MAX_EVENT_BUFFER_KIB: i64 = 1 << 20;

/// Exit status of a usage error, as clap's.
const USAGE: u8 = 2;

/// A usage error clap could not see (a filter expression): said on stderr,
/// exit status 2.
pub fn usage_error(e: &impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(USAGE)
}

/// The exit status for what a command returned; an expression that means
/// nothing for the capture's link type (`vlan` on a cooked capture) is a
/// usage error too.
pub fn exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<net_trace::Error>() {
            Some(net_trace::Error::Filter(f)) => usage_error(f),
            Some(n) if n.shell_status().is_some() => {
                let status = n.shell_status().unwrap_or(1);
                let _ = net_core::cli::exit(Err(e));
                ExitCode::from(status)
            }
            _ => net_core::cli::exit(Err(e)),
        },
    }
}

/// Diagnostics read like the program's other messages on stderr:
/// `warning: kernel events were lost; …`.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|buf, record| {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            writeln!(buf, "{level}: {}", record.args())
        })
        .init();
}
