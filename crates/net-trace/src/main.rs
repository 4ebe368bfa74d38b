//! `net-trace capture|read`: see the crate docs and the README.

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use net_core::Shutdown;
use net_core::cli::parse_seconds;
use net_trace::analyze::Row;
use net_trace::capture;
use net_trace::filter::Filter;
use net_trace::owners::Owner;
use net_trace::render::{ConnOwners, write_summaries};
use net_trace::{diagram, pcapio, render};

#[derive(Parser)]
#[command(
    name = "net-trace",
    version,
    about = "Capture the lab's traffic and explain each TCP handshake and teardown, with the process that sent each frame."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture live (needs root or CAP_NET_RAW).
    Capture(CaptureArgs),
    /// Analyse a saved capture (pcap or pcapng); no privileges needed.
    Read(ReadArgs),
}

#[derive(Args)]
struct CaptureArgs {
    /// Interface to capture on; repeat it for several, or `any` for all.
    #[arg(long = "iface", value_name = "NAME", default_value = "lo")]
    ifaces: Vec<String>,
    /// Keep only frames to or from this port, and ICMP errors about them
    /// (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,
    /// Also save the frames to this file: classic pcap, or pcapng with each
    /// frame's process when the name ends in `.pcapng`.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Also save the frames to this pcapng file, each with the process
    /// that sent it as a packet comment (Wireshark shows it).
    #[arg(long, value_name = "FILE")]
    pcapng: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Do not look up which process sent each frame.
    #[arg(long, conflicts_with_all = ["pid", "pname", "command"])]
    no_processes: bool,
    /// Show only the connections of this process.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Show only the connections of programs with this name.
    #[arg(long, value_name = "NAME", conflicts_with = "pid")]
    pname: Option<String>,
    #[command(flatten)]
    view: ViewArgs,
    /// A tcpdump filter expression (pcap-filter(7)), e.g. `tcp and port
    /// 13000`; its words may come as separate arguments. Run in the
    /// kernel; with `--port`, a frame must pass both.
    #[arg(value_name = "EXPRESSION")]
    expression: Vec<String>,
    /// Run this command, capture only its traffic, and stop when it exits.
    #[arg(last = true, value_name = "COMMAND", conflicts_with_all = ["pid", "pname"])]
    command: Vec<String>,
}

#[derive(Args)]
struct ReadArgs {
    /// The capture file (`-` for standard input).
    file: PathBuf,
    /// A tcpdump filter expression (pcap-filter(7)): only the frames
    /// `tcpdump -r FILE EXPRESSION` keeps are shown (with their numbers in
    /// the file); with `--port`, a frame must pass both.
    #[arg(value_name = "EXPRESSION")]
    expression: Vec<String>,
    /// Keep only frames to or from this port, and ICMP errors about them
    /// (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,
    #[command(flatten)]
    view: ViewArgs,
}

/// How the analysis is shown, for `capture` and `read` alike.
#[derive(Args)]
struct ViewArgs {
    /// Show each side's TCP state after every frame.
    #[arg(long)]
    states: bool,
    /// Write a ladder diagram of each connection to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    diagram: Option<PathBuf>,
    /// Draw only this connection (its number in the table and summary).
    #[arg(long, value_name = "K", requires = "diagram")]
    connection: Option<usize>,
}

fn main() -> ExitCode {
    // Diagnostics read like the program's other messages on stderr:
    // `warning: kernel events were lost; …`.
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
    let command = Cli::parse().command;
    let words = match &command {
        Command::Capture(a) => &a.expression,
        Command::Read(a) => &a.expression,
    };
    let filter = match Filter::from_words(words) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let result = match command {
        Command::Capture(args) => run_capture(args, filter.as_ref()),
        Command::Read(args) => run_read(args, filter.as_ref()).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // An expression that means nothing for the capture's link type
        // (`vlan` on a cooked capture) is a usage error too.
        Err(e) => match e.downcast_ref::<net_trace::Error>() {
            Some(net_trace::Error::Filter(f)) => usage_error(f),
            _ => net_core::cli::exit(Err(e)),
        },
    }
}

/// Exit status of a usage error, as clap's.
const USAGE: u8 = 2;

fn usage_error(e: &impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(USAGE)
}

/// Longest a shown row waits in the output buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The live table on stdout. A closed stdout ends the table, not the
/// capture: the files and the counts still matter.
struct Table {
    out: io::BufWriter<io::Stdout>,
    closed: bool,
    flushed: Instant,
}

impl Table {
    fn line(&mut self, text: &str) {
        if !self.closed {
            self.closed = writeln!(self.out, "{text}").is_err();
        }
    }

    fn row(&mut self, row: &Row, sender: Option<&Owner>, states: bool) {
        if !self.closed {
            self.closed = render::write_row(&mut self.out, row, sender, states).is_err();
        }
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.closed {
            self.closed = self.out.flush().is_err();
        }
        self.flushed = Instant::now();
    }
}

/// Writes the diagram file, if one was asked for.
fn write_diagram(view: &ViewArgs, diagrams: Option<&diagram::Collector>) -> anyhow::Result<()> {
    let (Some(path), Some(d)) = (&view.diagram, diagrams) else {
        return Ok(());
    };
    if d.is_empty() {
        if let Some(k) = view.connection {
            anyhow::bail!(
                "no connection {k} in this capture (the summary numbers them); {} not written",
                path.display()
            );
        }
        eprintln!(
            "warning: no connection to draw; {} not written",
            path.display()
        );
        return Ok(());
    }
    std::fs::write(path, d.svg())
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), net_core::error::describe(&e)))?;
    eprintln!("diagram written to {}", path.display());
    Ok(())
}

fn run_capture(args: CaptureArgs, expression: Option<&Filter>) -> anyhow::Result<ExitCode> {
    if let Some(pid) = args.pid
        && cfg!(target_os = "linux")
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        anyhow::bail!("no process {pid} is running");
    }
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let (pcap, pcapng) = match (&args.pcap, &args.pcapng) {
        (Some(p), None)
            if p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pcapng")) =>
        {
            (None, Some(p.clone()))
        }
        (p, ng) => (p.clone(), ng.clone()),
    };
    let opts = capture::Options {
        ifaces: args.ifaces.clone(),
        ports: args.ports.clone(),
        filter: expression.cloned(),
        pcap,
        pcapng,
        count: args.count.map(|c| usize::try_from(c).unwrap_or(usize::MAX)),
        duration: args.duration,
        attribute: !args.no_processes,
        pid: args.pid,
        pname: args.pname.clone(),
        command: (!args.command.is_empty()).then(|| args.command.clone()),
    };
    let mut filter = match (args.ports.is_empty(), expression) {
        (true, None) => String::from("all traffic"),
        (true, Some(e)) => e.to_string(),
        (false, e) => {
            let ports: Vec<String> = args.ports.iter().map(u16::to_string).collect();
            let ports = format!("port {}", ports.join(", "));
            match e {
                Some(e) => format!("{ports} and {e}"),
                None => ports,
            }
        }
    };
    if let Some(pid) = args.pid {
        filter.push_str(&format!(", pid {pid}"));
    }
    if let Some(name) = &args.pname {
        filter.push_str(&format!(", program {name}"));
    }
    if let Some(program) = args.command.first() {
        filter.push_str(&format!(", {program} and its children"));
    }
    let ifaces = args.ifaces.join(", ");
    let stop = if args.command.is_empty() {
        "Ctrl-C to stop"
    } else {
        "until the command exits"
    };
    // Rows go through a buffer flushed whenever the capture is idle and at
    // least every FLUSH_EVERY: one write per row to a terminal would slow
    // the whole capture down.
    let out = RefCell::new(Table {
        out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        closed: false,
        flushed: Instant::now(),
    });
    let ready = || {
        eprintln!("capturing on {ifaces} ({filter}); {stop}");
        out.borrow_mut().line(&render::heading());
    };
    let mut diagrams = args
        .view
        .diagram
        .as_ref()
        .map(|_| diagram::Collector::new(args.view.connection));
    let mut owners = ConnOwners::new();
    let report = capture::run(
        &opts,
        &shutdown,
        ready,
        |row, sender| {
            owners.note(row, sender);
            if let Some(d) = diagrams.as_mut() {
                d.push(row, sender);
            }
            out.borrow_mut().row(row, sender, args.view.states);
        },
        || out.borrow_mut().flush(),
    )?;
    let mut out = out.into_inner();
    if !out.closed {
        let _ = write_summaries(
            &mut out.out,
            &report.analyzer,
            &owners,
            &report.methods,
            report.shown.as_ref(),
        );
    }
    out.flush();
    write_diagram(&args.view, diagrams.as_ref())?;
    // As tcpdump reports it, also when nothing was dropped.
    eprintln!("{} packets captured", report.captured);
    eprintln!("{} packets received by filter", report.received);
    eprintln!("{} packets dropped by kernel", report.kernel.dropped);
    if report.abandoned > 0 {
        eprintln!(
            "{} packets captured but not shown or saved: stopped by a second signal",
            report.abandoned
        );
    }
    if report.late > 0 {
        eprintln!(
            "{} frame(s) shown without a process: the kernel's evidence came too late",
            report.late
        );
    }
    for path in [&args.pcap, &args.pcapng].into_iter().flatten() {
        eprintln!("{} frame(s) saved to {}", report.frames, path.display());
    }
    Ok(match report.command_status {
        // The command's own status, as `time` and `strace` pass it on.
        Some(status) => match status.code() {
            Some(0) | None => ExitCode::SUCCESS,
            Some(code) => {
                eprintln!("{} exited with status {code}", args.command[0]);
                ExitCode::from(u8::try_from(code).unwrap_or(1))
            }
        },
        None => ExitCode::SUCCESS,
    })
}

fn run_read(args: ReadArgs, filter: Option<&Filter>) -> anyhow::Result<()> {
    // `-` is standard input, as for tcpdump -r and tshark -r.
    let mut reader = if args.file.as_os_str() == "-" {
        pcapio::FileReader::from_reader("standard input", io::stdin())?
    } else {
        pcapio::FileReader::open(&args.file)?
    };
    let mut out = io::BufWriter::with_capacity(READ_BUFFER, io::stdout().lock());
    let mut diagrams = args
        .view
        .diagram
        .as_ref()
        .map(|_| diagram::Collector::new(args.view.connection));
    let mut result = read_into(&mut reader, &args, filter, &mut out, &mut diagrams);
    // The rows read before an error are shown before the error is.
    let flushed = out.flush();
    if result.is_ok() {
        result = flushed.map_err(Into::into);
    }
    // A closed stdout (`| head`) is the reader's choice, not a failure.
    if let Err(e) = &result
        && let Some(io) = e.downcast_ref::<io::Error>()
        && io.kind() == io::ErrorKind::BrokenPipe
    {
        return Ok(());
    }
    for w in reader.take_warnings() {
        eprintln!("warning: {w}");
    }
    result?;
    write_diagram(&args.view, diagrams.as_ref())
}

/// Output buffer of `read`: large enough that writes are few.
const READ_BUFFER: usize = 256 * 1024;

/// Streams the file through the decoder and the analyzer into `out`:
/// the table, then the summaries.
fn read_into(
    reader: &mut pcapio::FileReader,
    args: &ReadArgs,
    filter: Option<&Filter>,
    out: &mut impl Write,
    diagrams: &mut Option<diagram::Collector>,
) -> anyhow::Result<()> {
    let mut replay = capture::Replay::new(reader, &args.ports).with_filter(filter);
    let mut owners = ConnOwners::new();
    // The heading waits for the first row: an expression refused for the
    // file's link type is a usage error with no table before it.
    let mut headed = false;
    let read = loop {
        match replay.next_row() {
            Ok(Some((row, sender))) => {
                if !headed {
                    writeln!(out, "{}", render::heading())?;
                    headed = true;
                }
                owners.note(&row, sender.as_ref());
                if let Some(d) = diagrams.as_mut() {
                    d.push(&row, sender.as_ref());
                }
                render::write_row(out, &row, sender.as_ref(), args.view.states)?;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if !headed && !matches!(read, Err(net_trace::Error::Filter(_))) {
        writeln!(out, "{}", render::heading())?;
    }
    read?;
    write_summaries(out, replay.analyzer(), &owners, replay.methods(), None)?;
    Ok(())
}
