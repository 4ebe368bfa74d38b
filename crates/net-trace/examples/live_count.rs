//! Counts live frames and nothing else, to measure the capture source
//! against tcpdump: `live_count IFACE[,IFACE…] SECONDS [PORT…] [--pcap FILE]`.
//! Prints `N packets captured`, `R packets received by filter` and
//! `M packets dropped by kernel`, as tcpdump does.

use std::time::{Duration, Instant};

use net_trace::live::{LiveOptions, LiveSource};
use net_trace::pcapio::PcapOut;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let pcap = match args.iter().position(|a| a == "--pcap") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            Some(path)
        }
        _ => None,
    };
    let [ifaces, seconds, ports @ ..] = args.as_slice() else {
        anyhow::bail!("usage: live_count IFACE[,IFACE…] SECONDS [PORT…] [--pcap FILE]");
    };
    let opts = LiveOptions {
        ifaces: ifaces.split(',').map(String::from).collect(),
        ports: ports.iter().map(|p| p.parse()).collect::<Result<_, _>>()?,
        snaplen: 0,
        filter: None,
    };
    let duration = Duration::from_secs_f64(seconds.parse()?);
    let mut source = LiveSource::open(&opts)?;
    let mut writer = match &pcap {
        Some(path) => Some(PcapOut::create(std::path::Path::new(path), source.link())?),
        None => None,
    };
    eprintln!("listening on {} ({:?})", ifaces, source.link());
    let started = Instant::now();
    let mut counted = 0u64;
    let mut take = |source: &mut LiveSource, wait: Duration| -> anyhow::Result<bool> {
        let Some(f) = source.recv(wait) else {
            return Ok(false);
        };
        counted += 1;
        if let Some(w) = writer.as_mut() {
            w.write(f.time, &f.data, f.wire_len)?;
        }
        Ok(true)
    };
    while started.elapsed() < duration {
        take(&mut source, Duration::from_millis(50))?;
    }
    let stats = source.stop()?;
    while take(&mut source, Duration::ZERO)? {}
    println!("{counted} packets captured");
    println!("{} packets received by filter", stats.received);
    println!("{} packets dropped by kernel", stats.dropped);
    Ok(())
}
