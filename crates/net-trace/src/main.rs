//! `net-trace capture|read`: see the crate docs and the README. This file
//! parses the arguments and chooses the sinks; `net_trace::capture` runs
//! the pipeline.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use net_core::Shutdown;
use net_trace::capture::{self, Options};
use net_trace::filter::Filter;
use net_trace::pipeline::Numbering;
use net_trace::sink::{Diagram, Pcap, PcapNg, Sink};
use net_trace::source::{FileSource, Source};
use net_trace::{Error, pcapio};

mod args;
use args::{CaptureArgs, Cli, Command, ReadArgs, ViewArgs};

fn main() -> ExitCode {
    args::init_logging();
    let command = Cli::parse().command;
    let words = match &command {
        Command::Capture(a) => &a.expression,
        Command::Read(a) => &a.expression,
    };
    let filter = match Filter::from_words(words) {
        Ok(f) => f,
        Err(e) => return args::usage_error(&e),
    };
    let result = match command {
        Command::Capture(args) => run_capture(args, filter),
        Command::Read(args) => run_read(args, filter).map(|()| ExitCode::SUCCESS),
    };
    args::exit(result)
}

/// The diagram asked for, if any.
fn diagram(view: &ViewArgs) -> Option<Box<dyn Sink>> {
    let path = view.diagram.as_ref()?;
    Some(Box::new(Diagram::new(path, view.connection)))
}

/// Each sink's `&mut`, in order, for the pipeline.
fn refs(sinks: &mut [Box<dyn Sink>]) -> Vec<&mut dyn Sink> {
    sinks
        .iter_mut()
        .map(|s| &mut **s as &mut dyn Sink)
        .collect()
}

fn run_capture(args: CaptureArgs, filter: Option<Filter>) -> anyhow::Result<ExitCode> {
    if let Some(pid) = args.pid
        && cfg!(target_os = "linux")
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        anyhow::bail!("no process {pid} is running");
    }
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let (pcap, pcapng) = args.files();
    // The files first: one that cannot be created stops the capture
    // before anything is shown.
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    sinks.extend(
        pcap.as_deref()
            .map(|p| Box::new(Pcap::new(p)) as Box<dyn Sink>),
    );
    sinks.extend(
        pcapng
            .as_deref()
            .map(|p| Box::new(PcapNg::new(p)) as Box<dyn Sink>),
    );
    if !args.quiet {
        sinks.extend(args.view.output(true));
    }
    sinks.extend(diagram(&args.view));
    let opts = Options {
        ifaces: args.ifaces.clone(),
        ports: args.ports.clone(),
        filter: filter.clone(),
        numbering: Numbering::Kept,
        count: args.count.map(|c| usize::try_from(c).unwrap_or(usize::MAX)),
        duration: args.duration,
        // Nothing would show a process that a quiet capture looks up,
        // except a pcapng's comments.
        attribute: !args.no_processes && (!args.quiet || pcapng.is_some()),
        pid: args.pid,
        pname: args.pname.clone(),
        command: (!args.command.is_empty()).then(|| args.command.clone()),
        event_ring_kb: args.event_buffer,
    };
    let ready = || eprintln!("{}", args.readiness(filter.as_ref()));
    let mut refs = refs(&mut sinks);
    let report = capture::run(&opts, &shutdown, ready, &mut refs)?;
    capture::finish(&mut refs, &report.end())?;
    args::print_counts(&report, [&args.pcap, &args.pcapng]);
    Ok(args.exit_code(&report))
}

fn run_read(args: ReadArgs, filter: Option<Filter>) -> anyhow::Result<()> {
    // `-` is standard input, as for tcpdump -r and tshark -r.
    let reader = if args.file.as_os_str() == "-" {
        pcapio::FileReader::from_reader("standard input", io::stdin())?
    } else {
        pcapio::FileReader::open(&args.file)?
    };
    let mut source = FileSource::new(reader, &args.file.to_string_lossy());
    let mut sinks = args.view.output(false);
    let shown = sinks.len();
    sinks.extend(diagram(&args.view));
    let mut refs = refs(&mut sinks);
    let opts = Options {
        ports: args.ports.clone(),
        filter,
        numbering: Numbering::Every,
        ..Options::default()
    };
    let result = capture::run_source(&mut source, &opts, None, None, || (), &mut refs);
    // The diagram is written last, after any warning about the file.
    let (now, last) = refs.split_at_mut(shown);
    let result = result.and_then(|report| capture::finish(now, &report.end()).map(|()| report));
    // The rows read before an error are shown before the error is.
    if result.is_err() {
        now.iter_mut().for_each(|s| s.idle());
    }
    // A closed stdout (`| head`) is the reader's choice, not a failure.
    if let Err(Error::Output(e)) = &result
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        return Ok(());
    }
    for w in source.take_warnings() {
        eprintln!("warning: {w}");
    }
    Ok(capture::finish(last, &result?.end())?)
}
