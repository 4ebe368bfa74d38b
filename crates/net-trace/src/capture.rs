//! Live capture: frames from a packet socket, filtered, analysed, printed
//! and optionally saved, until a count, a duration or Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use net_core::Shutdown;

use crate::Error;
use crate::analyze::{Analyzer, Row};
use crate::decode::{LinkType, Packet, Transport, decode};
use crate::owners::Owner;
#[cfg(target_os = "linux")]
use crate::owners::{Lookup, Owners, Query, Role};
use crate::pcapio::{PcapOut, SNAPLEN};

/// How often the capture loop checks for a stop request.
const POLL: Duration = Duration::from_millis(100);

/// What to capture.
#[derive(Debug, Clone)]
pub struct Options {
    /// Interface name, e.g. `lo`.
    pub iface: String,
    /// Keep only frames to or from these ports (all when empty).
    pub ports: Vec<u16>,
    /// Save the frames kept to this classic pcap file.
    pub pcap: Option<PathBuf>,
    /// Stop after this many frames.
    pub count: Option<usize>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Name the process that sent each frame (reads /proc).
    pub attribute: bool,
}

/// Whether a packet passes the port filter.
pub fn wanted(p: &Packet, ports: &[u16]) -> bool {
    ports.is_empty() || ports.contains(&p.src.port()) || ports.contains(&p.dst.port())
}

/// Everything a capture produced.
#[derive(Debug)]
pub struct Report {
    /// The analysis, for summaries.
    pub analyzer: Analyzer,
    /// Who owned each local address seen.
    pub owners: Vec<(std::net::SocketAddr, Owner)>,
    /// Frames kept.
    pub frames: usize,
}

/// Captures until a stop condition; `on_row` sees each annotated frame with
/// the process that sent it, when known.
#[cfg(target_os = "linux")]
pub fn run(
    opts: &Options,
    shutdown: &Shutdown,
    on_ready: impl FnOnce(),
    mut on_row: impl FnMut(&Row, Option<&Owner>),
) -> Result<Report, Error> {
    use crate::sys::{PACKET_OUTGOING, PacketSocket};
    let mut socket =
        PacketSocket::open(&opts.iface, SNAPLEN as usize).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => Error::Privilege,
            std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => Error::Interface {
                iface: opts.iface.clone(),
                reason: net_core::error::describe(&e),
            },
            _ => Error::Capture(net_core::error::describe(&e)),
        })?;
    let mut pcap = opts.pcap.as_deref().map(PcapOut::create).transpose()?;
    // Owner evidence starts before the caller is told the capture runs.
    let procs = opts
        .attribute
        .then(|| Owners::start(&crate::owners::Options::default()));
    on_ready();
    let mut analyzer = Analyzer::new();
    let mut owners: Vec<(std::net::SocketAddr, Owner)> = Vec::new();
    let loopback = socket.loopback;
    let started = Instant::now();
    let mut frames = 0;
    let result = loop {
        if shutdown.is_fired()
            || opts.count.is_some_and(|c| frames >= c)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break Ok(());
        }
        let wait = opts.duration.map_or(POLL, |d| {
            d.saturating_sub(started.elapsed())
                .clamp(Duration::from_millis(1), POLL)
        });
        let (data, pkttype, now) = match socket.recv(wait) {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(e) => break Err(Error::Capture(net_core::error::describe(&e))),
        };
        // On loopback each frame is seen leaving and arriving; keep the
        // arriving copy, as libpcap does.
        if loopback && pkttype == PACKET_OUTGOING {
            continue;
        }
        let Some(packet) = decode(LinkType::Ethernet, data, now, data.len() as u32) else {
            continue;
        };
        if !wanted(&packet, &opts.ports) {
            continue;
        }
        if let Some(out) = pcap.as_mut() {
            if let Err(e) = out.write(now, data, data.len() as u32) {
                break Err(e);
            }
        }
        frames += 1;
        let tcp = matches!(packet.transport, Transport::Tcp(_));
        let row = analyzer.push(&packet);
        let sender = procs
            .as_ref()
            .and_then(|p| owner_of(p, &packet, &row, tcp, &opts.iface));
        if let Some(o) = &sender
            && !owners.iter().any(|(a, _)| *a == packet.src)
        {
            owners.push((packet.src, o.clone()));
        }
        on_row(&row, sender.as_ref());
    };
    if let Some(out) = pcap.as_mut() {
        out.flush()?;
    }
    result.map(|()| Report {
        analyzer,
        owners,
        frames,
    })
}

/// Asks `owners` who sent `packet`, waiting at most [`crate::owners::MAX_WAIT`]
/// while evidence is pending.
#[cfg(target_os = "linux")]
fn owner_of(owners: &Owners, packet: &Packet, row: &Row, tcp: bool, iface: &str) -> Option<Owner> {
    let q = Query {
        tcp,
        src: packet.src,
        dst: packet.dst,
        time: packet.time,
        stream_start: packet.time,
        role: match row.direction {
            crate::analyze::Direction::ClientToServer => Role::Client,
            crate::analyze::Direction::ServerToClient => Role::Server,
        },
        syn: false,
        len: packet.wire_len,
        iface: Some(iface.to_string()),
    };
    let asked = Instant::now();
    loop {
        match owners.lookup(&q) {
            Lookup::Known(o, _) => return Some(o),
            Lookup::Unknown => return None,
            Lookup::Pending if asked.elapsed() < crate::owners::MAX_WAIT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Lookup::Pending => return None,
        }
    }
}

/// Live capture needs Linux packet sockets.
#[cfg(not(target_os = "linux"))]
pub fn run(
    _opts: &Options,
    _shutdown: &Shutdown,
    _on_ready: impl FnOnce(),
    _on_row: impl FnMut(&Row, Option<&Owner>),
) -> Result<Report, Error> {
    Err(Error::Capture(
        "live capture is not supported on this system; capture with tshark or Wireshark and use `net-trace read FILE`".into(),
    ))
}
