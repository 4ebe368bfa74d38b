//! `net-trace capture|read`: see the crate docs and the README.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use net_core::Shutdown;
use net_core::cli::parse_seconds;
use net_trace::analyze::Analyzer;
use net_trace::capture::{self, wanted};
use net_trace::decode::{Decoded, Decoder, Packet, Transport};
use net_trace::render::Owner;
use net_trace::{pcapio, render};

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
    /// Interface to capture on.
    #[arg(long, default_value = "lo")]
    iface: String,
    /// Keep only frames to or from this port (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,
    /// Also save the frames to this classic pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Do not look up which process sent each frame.
    #[arg(long)]
    no_processes: bool,
}

#[derive(Args)]
struct ReadArgs {
    /// The capture file.
    file: PathBuf,
    /// Keep only frames to or from this port (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,
    /// Show each side's TCP state after every frame.
    #[arg(long)]
    states: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let result = match Cli::parse().command {
        Command::Capture(args) => run_capture(args),
        Command::Read(args) => run_read(args),
    };
    net_core::cli::exit(result)
}

fn print_summaries(analyzer: &Analyzer, owners: &HashMap<SocketAddr, Owner>) {
    let mut out = io::stdout().lock();
    let _ = write_summaries(&mut out, analyzer, &|a| owners.get(&a));
}

/// Writes every connection's summary after a blank line; `owner` names
/// the process at an address.
fn write_summaries<'a>(
    out: &mut impl Write,
    analyzer: &Analyzer,
    owner: &dyn Fn(SocketAddr) -> Option<&'a Owner>,
) -> io::Result<()> {
    writeln!(out)?;
    if analyzer.connection_count() == 0 {
        writeln!(out, "No TCP or UDP traffic matched.")?;
    }
    for s in analyzer.summaries() {
        out.write_all(render::summary(&s, owner(s.client), owner(s.server)).as_bytes())?;
    }
    Ok(())
}

fn run_capture(args: CaptureArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let opts = capture::Options {
        iface: args.iface.clone(),
        ports: args.ports.clone(),
        pcap: args.pcap.clone(),
        count: args.count,
        duration: args.duration,
        attribute: !args.no_processes,
    };
    let filter = if args.ports.is_empty() {
        String::from("all TCP and UDP")
    } else {
        let ports: Vec<String> = args.ports.iter().map(u16::to_string).collect();
        format!("port {}", ports.join(", "))
    };
    let mut printed_heading = false;
    let ready = || eprintln!("capturing on {} ({filter}); Ctrl-C to stop", args.iface);
    let report = capture::run(&opts, &shutdown, ready, |row, sender| {
        let mut out = io::stdout().lock();
        if !printed_heading {
            let _ = writeln!(out, "{}", render::heading());
            printed_heading = true;
        }
        let _ = writeln!(out, "{}", render::row(row, sender));
    });
    let report = report?;
    if !printed_heading {
        println!("{}", render::heading());
    }
    let owners: HashMap<SocketAddr, Owner> = report.owners.into_iter().collect();
    print_summaries(&report.analyzer, &owners);
    eprintln!(
        "{} frame(s) captured on {} ({filter}){}",
        report.frames,
        args.iface,
        args.pcap
            .map_or(String::new(), |p| format!(", saved to {}", p.display()))
    );
    Ok(())
}

fn run_read(args: ReadArgs) -> anyhow::Result<()> {
    let mut reader = pcapio::FileReader::open(&args.file)?;
    let mut out = io::BufWriter::with_capacity(READ_BUFFER, io::stdout().lock());
    let mut result = read_into(&mut reader, &args, &mut out);
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
    result
}

/// Output buffer of `read`: large enough that writes are few.
const READ_BUFFER: usize = 256 * 1024;

/// Streams the file through the decoder and the analyzer into `out`:
/// the table, then the summaries.
fn read_into(
    reader: &mut pcapio::FileReader,
    args: &ReadArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut decoder = Decoder::new();
    let mut analyzer = Analyzer::new();
    writeln!(out, "{}", render::heading())?;
    while let Some(f) = reader.next_frame()? {
        let row = match decoder.decode(f.link, &f.data, f.time, f.wire_len) {
            Decoded::Packet(p) if shown(&p, &args.ports) => analyzer.push(&p),
            Decoded::Other(o) if args.ports.is_empty() => analyzer.push_other(&o),
            Decoded::Packet(p) => {
                analyzer.skip(p.time);
                continue;
            }
            Decoded::Other(o) => {
                analyzer.skip(o.time);
                continue;
            }
        };
        render::write_row(out, &row, None, args.states)?;
    }
    write_summaries(out, &analyzer, &|_| None)?;
    Ok(())
}

/// Whether `read --port` shows a packet: either end on a listed port, or
/// an ICMP error quoting a datagram that was.
fn shown(p: &Packet, ports: &[u16]) -> bool {
    if ports.is_empty() || wanted(p, ports) {
        return true;
    }
    match &p.transport {
        Transport::Icmp(i) => i
            .quoted
            .is_some_and(|q| ports.contains(&q.src.port()) || ports.contains(&q.dst.port())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use net_trace::decode::{Icmp, Quoted, Udp};

    fn packet(src: &str, dst: &str, transport: Transport) -> Packet {
        Packet {
            time: Duration::ZERO,
            wire_len: 60,
            cap_len: 60,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            transport,
        }
    }

    #[test]
    fn the_port_filter_keeps_icmp_errors_about_its_ports() {
        let udp = packet(
            "127.0.0.1:40000",
            "127.0.0.1:12000",
            Transport::Udp(Udp {
                len: 0,
                payload: vec![],
            }),
        );
        assert!(shown(&udp, &[]) && shown(&udp, &[12000]) && !shown(&udp, &[80]));
        let icmp = packet(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Transport::Icmp(Icmp {
                v6: false,
                kind: 3,
                code: 3,
                echo: None,
                quoted: Some(Quoted {
                    protocol: 17,
                    src: udp.src,
                    dst: udp.dst,
                }),
            }),
        );
        assert!(shown(&icmp, &[12000]) && shown(&icmp, &[40000]) && !shown(&icmp, &[80]));
    }
}
