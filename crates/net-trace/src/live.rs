//! Live frames from packet sockets: every frame the kernel kept, and a
//! count of the ones it could not.
//!
//! [`LiveSource::open`] starts a capture thread that only reads frames and
//! copies them into an unbounded channel; everything slow (decoding,
//! process lookups, printing, writing files) belongs to the consumer, so
//! the socket is emptied as fast as the kernel fills it. When the consumer
//! falls behind, frames pile up in the channel (memory), not in the
//! kernel's buffer (loss).
//!
//! # Capacity: a large receive buffer, not a ring
//! The socket's receive buffer is set to `RECEIVE_BUFFER` with
//! `SO_RCVBUFFORCE` (above the `rmem_max` sysctl, which stays untouched;
//! without CAP_NET_ADMIN it falls back to `SO_RCVBUF`, capped by
//! `rmem_max`). That absorbs bursts for as long as the capture thread is
//! off the CPU; since that thread does nothing but `recvmsg` and a copy,
//! it keeps up with loopback traffic: on a 2-core machine, alongside
//! tcpdump, 200 sequential short TCP clients gave 2,000 of tcpdump's 2,000
//! frames and `wrk -c16` keep-alive against nginx for 4 s 166,586 of
//! 166,586, with no drops, on `lo` and on `any`. A TPACKET_V3 ring would
//! save one system call per frame, at the price of much more `unsafe`
//! (shared memory walked by hand); the buffer already meets the target,
//! so the simpler design stays.
//!
//! # Views
//! - One Ethernet or loopback interface: a `SOCK_RAW` socket bound to it,
//!   frames as [`LinkType::Ethernet`].
//! - `any`, several interfaces, or one interface of another hardware type:
//!   one `SOCK_DGRAM` socket (cooked capture, like libpcap's `any`), each
//!   frame given a Linux cooked v2 header built from its `sockaddr_ll`
//!   (`sll2_header`) and delivered as [`LinkType::LinuxSll2`], so the
//!   bytes go into a pcap as `tcpdump -i any -w` writes them.
//!
//! A loopback frame is seen twice (leaving and arriving); the outgoing copy
//! is dropped by the kernel filter, as libpcap does, so counts match
//! tcpdump's.
//!
//! # Kernel filter and the race it avoids
//! The socket is opened with protocol 0, so the kernel queues nothing for
//! it; the filter (`bpf`) is attached; only then does `bind` with
//! `ETH_P_ALL` start the flow. No frame is ever queued unfiltered, so there
//! is nothing to drain (draining afterwards would lose wanted frames).
//!
//! # Statistics
//! `PACKET_STATISTICS` is reset by the kernel on every read; [`Stats`]
//! adds the readings up, and the final reading is taken after the thread
//! has emptied the socket, so `captured + dropped` accounts for every frame
//! that passed the filter.

pub(crate) mod bpf;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Error;
use crate::decode::LinkType;

/// The receive buffer asked for: at loopback's typical 2–3 KiB of kernel
/// memory per small frame, about 20,000 frames of slack while the capture
/// thread waits for a CPU.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const RECEIVE_BUFFER: usize = 64 << 20;

/// How long the capture thread sleeps in `poll` before checking for a stop
/// request: the longest [`LiveSource::stop`] waits for it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How long, at most, the thread keeps emptying the socket after a stop
/// request, so frames that arrived before the stop are delivered rather
/// than lost, without a busy link keeping it alive forever.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const STOP_DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// How often, at most, the thread reads the kernel's counters while
/// running (they are read once more at the end).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The smallest snap length accepted: room for a cooked header and the IP
/// and TCP headers' ports.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const MIN_SNAPLEN: u32 = 64;

/// Length of a Linux cooked capture v2 header.
pub const SLL2_HEADER_LEN: usize = 20;

/// The interface name that means every interface.
pub(crate) const ANY: &str = "any";

/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`.
const ARPHRD_LOOPBACK: u16 = 772;
/// `sll_pkttype` of a frame this host sent.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const PACKET_OUTGOING: u8 = bpf::PACKET_OUTGOING as u8;

// Spelled out above so the table and tests build everywhere; where libc
// has them, they are checked against it.
#[cfg(target_os = "linux")]
const _: () = assert!(
    ARPHRD_ETHER == libc::ARPHRD_ETHER
        && ARPHRD_LOOPBACK == libc::ARPHRD_LOOPBACK
        && PACKET_OUTGOING == libc::PACKET_OUTGOING
);

/// How many frames the capture thread reads between looks at the clock
/// for [`STATS_INTERVAL`] while frames keep coming.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const STATS_CHECK_EVERY: u64 = 1024;

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// Interface names; `["any"]` for every interface.
    pub ifaces: Vec<String>,
    /// Keep TCP and UDP frames to or from these ports, and ICMP/ICMPv6 and
    /// IP fragments (which may belong to them); every frame when empty.
    pub ports: Vec<u16>,
    /// Bytes kept of each frame (cooked header included); 0 means
    /// `pcapio::SNAPLEN`.
    pub snaplen: u32,
    /// Keep only frames this expression keeps too (compiled into the
    /// kernel filter, after the port test).
    pub filter: Option<crate::filter::Filter>,
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFrame {
    /// The kernel's receive time, since the epoch, in nanoseconds.
    pub time: Duration,
    /// The bytes kept (at most the snap length), starting with the link
    /// header of [`LiveFrame::link`].
    pub data: Vec<u8>,
    /// The frame's length on the wire (cooked header included).
    pub wire_len: u32,
    /// How `data` starts.
    pub link: LinkType,
    /// The interface's index.
    pub ifindex: u32,
    /// The interface's name (`ifindex N` if it vanished before it could be
    /// named).
    pub iface: Arc<str>,
    /// Sent by this host (`PACKET_OUTGOING`), rather than received.
    pub outgoing: bool,
}

/// What the capture saw, as tcpdump reports it at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames delivered through [`LiveSource::recv`] ("packets captured").
    pub captured: u64,
    /// Frames that passed the kernel filter, dropped ones included
    /// ("packets received by filter").
    pub received: u64,
    /// Frames the kernel dropped for want of buffer space ("packets dropped
    /// by kernel").
    pub dropped: u64,
}

/// Counters shared between the capture thread and [`LiveSource::stats`].
#[derive(Debug, Default)]
struct Counters {
    captured: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            captured: self.captured.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A running live capture; frames arrive through [`LiveSource::recv`].
#[derive(Debug)]
pub struct LiveSource {
    link: LinkType,
    ifaces: Vec<String>,
    frames: Option<Receiver<LiveFrame>>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<Result<(), Error>>>,
    failure: Option<Error>,
    /// The interface of the last frame handed out as a [`Source`](crate::source::Source).
    last_iface: Arc<str>,
}

impl LiveSource {
    /// The link type of every frame: the pcap writer's header.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The interface of the last frame taken through the
    /// [`Source`](crate::source::Source) trait.
    pub(crate) fn last_iface(&self) -> &Arc<str> {
        &self.last_iface
    }

    pub(crate) fn set_last_iface(&mut self, iface: Arc<str>) {
        self.last_iface = iface;
    }

    /// The interfaces captured on, as given (`any` included).
    pub fn interfaces(&self) -> &[String] {
        &self.ifaces
    }

    /// Waits at most `timeout` for the next frame. `None` on time-out, and
    /// once the capture has stopped and every frame has been taken.
    pub fn recv(&self, timeout: Duration) -> Option<LiveFrame> {
        self.frames.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Whether the capture thread has ended (stopped, or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The counts so far (the kernel's are read at most every
    /// [`STATS_INTERVAL`]); final once [`LiveSource::stop`] has returned.
    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Stops the capture thread (within `POLL_INTERVAL`, plus the time to
    /// hand over frames already queued in the kernel) and returns the final
    /// counts, or the error that ended the capture early. Frames not yet
    /// taken stay available to [`LiveSource::recv`]. Calling it again
    /// returns the same answer.
    pub fn stop(&mut self) -> Result<Stats, Error> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(Error::Capture("the capture thread panicked".into())));
            if let Err(e) = outcome {
                self.failure = Some(e);
            }
        }
        match &self.failure {
            None => Ok(self.stats()),
            // The first answer is kept for a second call, in its own words.
            Some(e) => Err(again(e)),
        }
    }
}

/// The same error once more (an I/O cause is not `Clone`: its kind and
/// words are kept).
fn again(e: &Error) -> Error {
    match e {
        Error::Privilege => Error::Privilege,
        Error::Interface { iface, reason } => Error::Interface {
            iface: iface.clone(),
            reason: reason.clone(),
        },
        Error::Capture(why) => Error::Capture(why.clone()),
        Error::CaptureIo { what, source } => Error::CaptureIo {
            what: what.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => Error::Capture(other.to_string()),
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver first lets a thread blocked on nothing but
        // delivery end at once; then wait for the socket to close.
        self.frames = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Builds the 20-byte Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2)
/// for a frame read from a `SOCK_DGRAM` packet socket, from the fields of
/// its `sockaddr_ll`, as libpcap does: protocol (big-endian), two reserved
/// zero bytes, interface index (big-endian), ARPHRD type (big-endian),
/// packet type, address length, then up to eight address bytes (zero
/// padded).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn sll2_header(
    protocol: u16,
    ifindex: u32,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: &[u8],
) -> [u8; SLL2_HEADER_LEN] {
    let mut h = [0u8; SLL2_HEADER_LEN];
    h[0..2].copy_from_slice(&protocol.to_be_bytes());
    h[4..8].copy_from_slice(&ifindex.to_be_bytes());
    h[8..10].copy_from_slice(&hatype.to_be_bytes());
    h[10] = pkttype;
    h[11] = halen;
    let n = usize::from(halen).min(8).min(addr.len());
    h[12..12 + n].copy_from_slice(&addr[..n]);
    h
}

/// A network interface as `/sys/class/net` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its index.
    pub(crate) ifindex: u32,
    /// Its hardware type (ARPHRD_*).
    pub(crate) hatype: u16,
}

/// The interfaces of this network namespace (empty where there is no
/// `/sys/class/net`).
pub fn interfaces() -> Vec<Interface> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    fn read<T: std::str::FromStr>(name: &str, what: &str) -> Option<T> {
        std::fs::read_to_string(format!("/sys/class/net/{name}/{what}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
    let mut all: Vec<Interface> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            Some(Interface {
                ifindex: read(&name, "ifindex")?,
                hatype: read(&name, "type")?,
                name,
            })
        })
        .collect();
    all.sort_by_key(|i| i.ifindex);
    all
}

/// How one capture is set up, decided from the options and the interface
/// list; pure, so it is tested without privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    cooked: bool,
    bind_ifindex: u32,
    filter: bpf::Spec,
}

fn plan(opts: &LiveOptions, all: &[Interface]) -> Result<Plan, Error> {
    let interface_error = |iface: &str, reason: String| Error::Interface {
        iface: iface.to_string(),
        reason,
    };
    if opts.ifaces.is_empty() {
        return Err(interface_error(ANY, "no interface given".into()));
    }
    let any = opts.ifaces.iter().any(|i| i == ANY);
    let mut chosen: Vec<&Interface> = Vec::new();
    if !any {
        for name in &opts.ifaces {
            let found = all
                .iter()
                .find(|i| i.name == *name)
                .ok_or_else(|| interface_error(name, format!("no interface named {name}")))?;
            if !chosen.contains(&found) {
                chosen.push(found);
            }
        }
    }
    let loopback = |i: &Interface| i.hatype == ARPHRD_LOOPBACK;
    let mut filter = bpf::Spec {
        ports: opts.ports.clone(),
        ..bpf::Spec::default()
    };
    let plan = match chosen.as_slice() {
        [one] if matches!(one.hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK) => {
            filter.drop_outgoing_on = Some(one.ifindex).filter(|_| loopback(one));
            Plan {
                cooked: false,
                bind_ifindex: one.ifindex,
                filter,
            }
        }
        [one] => Plan {
            cooked: true,
            bind_ifindex: one.ifindex,
            filter,
        },
        several => {
            let watched: Vec<&Interface> = if any {
                all.iter().collect()
            } else {
                several.to_vec()
            };
            filter.drop_outgoing_on = watched.iter().find(|i| loopback(i)).map(|i| i.ifindex);
            if !any {
                filter.only_ifindexes = several.iter().map(|i| i.ifindex).collect();
            }
            Plan {
                cooked: true,
                bind_ifindex: 0,
                filter,
            }
        }
    };
    let layout = if plan.cooked {
        bpf::Layout::Cooked
    } else {
        bpf::Layout::Ethernet
    };
    let mut plan = plan;
    if let Some(f) = &opts.filter {
        plan.filter.expression = Some(f.program(crate::filter::Target::Kernel(layout))?);
    }
    bpf::program(layout, &plan.filter).map_err(|e| Error::Capture(e.to_string()))?;
    Ok(plan)
}

#[cfg(target_os = "linux")]
impl LiveSource {
    /// Opens the packet socket, attaches the filter and starts the capture
    /// thread. Needs root or CAP_NET_RAW ([`Error::Privilege`]); an unknown
    /// name is [`Error::Interface`].
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, Error> {
        use crate::sys::{Kind, PacketSocket};
        let all = interfaces();
        let plan = plan(opts, &all)?;
        let layout = if plan.cooked {
            bpf::Layout::Cooked
        } else {
            bpf::Layout::Ethernet
        };
        let program =
            bpf::program(layout, &plan.filter).map_err(|e| Error::Capture(e.to_string()))?;
        let os = |what: &str, e: std::io::Error| match e.kind() {
            std::io::ErrorKind::PermissionDenied => Error::Privilege,
            _ => Error::CaptureIo {
                what: what.to_string(),
                source: e,
            },
        };
        let socket = PacketSocket::open(if plan.cooked { Kind::Cooked } else { Kind::Raw })
            .map_err(|e| os("packet socket", e))?;
        socket
            .set_receive_buffer(RECEIVE_BUFFER)
            .map_err(|e| os("receive buffer", e))?;
        socket
            .enable_timestamps()
            .map_err(|e| os("timestamps", e))?;
        socket
            .attach_filter(&program)
            .map_err(|e| os("kernel filter", e))?;
        let ifindex = i32::try_from(plan.bind_ifindex)
            .map_err(|_| Error::Capture("interface index out of range".into()))?;
        socket.bind(ifindex).map_err(|e| match e.raw_os_error() {
            Some(libc::ENODEV) => Error::Interface {
                iface: opts.ifaces.join(", "),
                reason: "the interface went away".into(),
            },
            _ => os("bind", e),
        })?;
        let snaplen = match opts.snaplen {
            0 => crate::pcapio::SNAPLEN,
            n => n.max(MIN_SNAPLEN),
        };
        let names = all
            .iter()
            .map(|i| (i.ifindex, Arc::<str>::from(i.name.as_str())))
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let reader = Reader {
            socket,
            cooked: plan.cooked,
            snaplen: snaplen as usize,
            names,
            tx,
            stop: Arc::clone(&stop),
            counters: Arc::clone(&counters),
        };
        let thread = std::thread::Builder::new()
            .name("net-trace-capture".into())
            .stack_size(CAPTURE_STACK)
            .spawn(move || reader.run())
            .map_err(|e| Error::Capture(format!("capture thread: {e}")))?;
        Ok(LiveSource {
            link: if plan.cooked {
                LinkType::LinuxSll2
            } else {
                LinkType::Ethernet
            },
            ifaces: opts.ifaces.clone(),
            frames: Some(rx),
            stop,
            counters,
            thread: Some(thread),
            failure: None,
            last_iface: Arc::from(""),
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl LiveSource {
    /// Live capture needs Linux packet sockets: elsewhere this is always an
    /// error saying so.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, Error> {
        let _ = plan(opts, &[]);
        Err(Error::Capture(
            "live capture is not supported on this system; capture with tshark or Wireshark and use `net-trace read FILE`".into(),
        ))
    }
}

/// The capture thread's stack: it holds no large locals (the frame buffer
/// is on the heap).
#[cfg(target_os = "linux")]
const CAPTURE_STACK: usize = 256 << 10;

/// The capture thread's state.
#[cfg(target_os = "linux")]
struct Reader {
    socket: crate::sys::PacketSocket,
    cooked: bool,
    snaplen: usize,
    names: std::collections::HashMap<u32, Arc<str>>,
    tx: std::sync::mpsc::Sender<LiveFrame>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

#[cfg(target_os = "linux")]
impl Reader {
    fn run(mut self) -> Result<(), Error> {
        crate::sys::raise_thread_priority();
        let fail = |e: std::io::Error| Error::CaptureIo {
            what: "reading the packet socket".into(),
            source: e,
        };
        // A cooked frame gets a header in front, inside the snap length.
        let room = if self.cooked {
            self.snaplen - SLL2_HEADER_LEN
        } else {
            self.snaplen
        };
        let mut buf = vec![0u8; room];
        let mut last_stats = std::time::Instant::now();
        let mut stopping: Option<std::time::Instant> = None;
        loop {
            if stopping.is_none() && self.stop.load(Ordering::Relaxed) {
                stopping = Some(std::time::Instant::now());
            }
            match self.socket.recv(&mut buf).map_err(fail)? {
                Some(r) => {
                    let frame = self.frame(&r, &buf[..r.caplen]);
                    if self.tx.send(frame).is_err() {
                        // Nobody is listening any more.
                        break;
                    }
                    let captured = self.counters.captured.fetch_add(1, Ordering::Relaxed);
                    if captured.is_multiple_of(STATS_CHECK_EVERY)
                        && last_stats.elapsed() >= STATS_INTERVAL
                    {
                        self.read_stats().map_err(fail)?;
                        last_stats = std::time::Instant::now();
                    }
                    if stopping.is_some_and(|t| t.elapsed() >= STOP_DRAIN_LIMIT) {
                        break;
                    }
                }
                None if stopping.is_some() => break,
                None => {
                    if last_stats.elapsed() >= STATS_INTERVAL {
                        self.read_stats().map_err(fail)?;
                        last_stats = std::time::Instant::now();
                    }
                    self.socket.wait_readable(POLL_INTERVAL).map_err(fail)?;
                }
            }
        }
        self.read_stats().map_err(fail)
    }

    fn read_stats(&self) -> std::io::Result<()> {
        let (received, dropped) = self.socket.statistics()?;
        self.counters
            .received
            .fetch_add(u64::from(received), Ordering::Relaxed);
        self.counters
            .dropped
            .fetch_add(u64::from(dropped), Ordering::Relaxed);
        Ok(())
    }

    fn name(&mut self, ifindex: u32) -> Arc<str> {
        if let Some(n) = self.names.get(&ifindex) {
            return Arc::clone(n);
        }
        // A new interface: rare, so a rescan is fine here.
        let name: Arc<str> = interfaces()
            .into_iter()
            .find(|i| i.ifindex == ifindex)
            .map_or_else(|| format!("ifindex {ifindex}").into(), |i| i.name.into());
        self.names.insert(ifindex, Arc::clone(&name));
        name
    }

    fn frame(&mut self, r: &crate::sys::Received, bytes: &[u8]) -> LiveFrame {
        let time = r.time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        });
        let ifindex = u32::try_from(r.ifindex).unwrap_or(0);
        let (data, wire_len, link) = if self.cooked {
            let mut data = Vec::with_capacity(SLL2_HEADER_LEN + bytes.len());
            data.extend_from_slice(&sll2_header(
                r.protocol, ifindex, r.hatype, r.pkttype, r.halen, &r.addr,
            ));
            data.extend_from_slice(bytes);
            (data, r.len + SLL2_HEADER_LEN, LinkType::LinuxSll2)
        } else {
            (bytes.to_vec(), r.len, LinkType::Ethernet)
        };
        LiveFrame {
            time,
            data,
            wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
            link,
            ifindex,
            iface: self.name(ifindex),
            outgoing: r.pkttype == PACKET_OUTGOING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sll2_header_is_libpcaps_layout() {
        // An IPv4 frame received on ifindex 1 (lo): what `tcpdump -i any -w`
        // writes for it (halen 6, all-zero address, PACKET_HOST).
        let h = sll2_header(0x0800, 1, 772, 0, 6, &[0; 8]);
        assert_eq!(
            h,
            [
                0x08, 0x00, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        // Outgoing IPv6 on ifindex 0x01020304 of Ethernet type with a MAC.
        let h = sll2_header(0x86dd, 0x0102_0304, 1, 4, 6, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            h,
            [
                0x86, 0xdd, 0, 0, 1, 2, 3, 4, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0
            ]
        );
        // A long hardware address keeps its length and first eight bytes.
        let h = sll2_header(0x0800, 9, 32, 0, 20, &[9; 8]);
        assert_eq!(&h[11..], &[20, 9, 9, 9, 9, 9, 9, 9, 9]);
    }

    fn iface(name: &str, ifindex: u32, hatype: u16) -> Interface {
        Interface {
            name: name.into(),
            ifindex,
            hatype,
        }
    }

    fn opts(ifaces: &[&str], ports: &[u16]) -> LiveOptions {
        LiveOptions {
            ifaces: ifaces.iter().map(|s| s.to_string()).collect(),
            ports: ports.to_vec(),
            snaplen: 0,
            filter: None,
        }
    }

    #[test]
    fn plans_follow_libpcap() {
        let all = [
            iface("lo", 1, 772),
            iface("eth0", 2, 1),
            iface("wg0", 3, 65534),
        ];
        let p = plan(&opts(&["lo"], &[5000]), &all).unwrap();
        assert!(!p.cooked);
        assert_eq!(p.bind_ifindex, 1);
        assert_eq!(p.filter.drop_outgoing_on, Some(1));
        assert_eq!(p.filter.ports, [5000]);
        let p = plan(&opts(&["eth0"], &[]), &all).unwrap();
        assert!(!p.cooked);
        assert_eq!(p.filter.drop_outgoing_on, None);
        let p = plan(&opts(&["any"], &[]), &all).unwrap();
        assert!(p.cooked);
        assert_eq!(p.bind_ifindex, 0);
        assert_eq!(p.filter.drop_outgoing_on, Some(1));
        assert!(p.filter.only_ifindexes.is_empty());
        let p = plan(&opts(&["eth0", "lo", "eth0"], &[]), &all).unwrap();
        assert!(p.cooked);
        assert_eq!(p.filter.only_ifindexes, [2, 1]);
        assert_eq!(p.filter.drop_outgoing_on, Some(1));
        let p = plan(&opts(&["wg0"], &[]), &all).unwrap();
        assert!(p.cooked);
        assert_eq!(p.bind_ifindex, 3);
    }

    #[test]
    fn unknown_interfaces_are_named() {
        let all = [iface("lo", 1, 772)];
        let e = plan(&opts(&["lo", "nope0"], &[]), &all).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot capture on nope0 (no interface named nope0)"
        );
        assert!(plan(&opts(&[], &[]), &all).is_err());
        let many: Vec<u16> = (1..=200).collect();
        assert!(plan(&opts(&["lo"], &many), &all).is_err());
    }
}
