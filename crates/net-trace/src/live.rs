//! Live frames from packet sockets: every frame the kernel kept, and a
//! count of the ones it could not.
//!
//! [`LiveSource::open`] starts a capture thread that only reads frames and
//! copies them into an unbounded channel, a block of frames at a time;
//! everything slow (decoding, process lookups, printing, writing files)
//! belongs to the consumer, so the kernel's ring is emptied as fast as it
//! fills. When the consumer falls behind, frames wait in the channel, up
//! to `BACKLOG_LIMIT` bytes; past that the capture thread leaves the ring
//! alone until the consumer catches up, so a table slower than the
//! traffic (a terminal under a flood) costs frames the kernel drops and
//! counts, as with tcpdump, never memory without bound. It says so once,
//! at the time.
//!
//! # Capacity: a `TPACKET_V3` ring
//! The kernel copies each frame into a ring of `RING_BLOCKS` blocks of
//! `RING_BLOCK` bytes shared with this process (`sys::Ring`),
//! handing a block over when it is full or `RING_RETIRE` after its first
//! frame. The capture thread copies a whole block's frames into one
//! buffer and gives the block back: under a flood no system call, no
//! wake-up and no allocation per frame (with `recvmsg` on a socket
//! buffer, those took about a microsecond a frame, half of a capture's
//! CPU). The ring holds as much as the socket buffer did
//! (`RECEIVE_BUFFER`), absorbing bursts while the capture thread is off
//! the CPU. Where a ring cannot be set up, the socket's receive buffer is
//! enlarged to `RECEIVE_BUFFER` instead and frames are read one by one.
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
use std::time::{Duration, Instant};

use crate::Error;
use crate::decode::LinkType;

/// The kernel memory asked for, as a ring or else as a receive buffer:
/// in the ring, about 400,000 small frames of slack while the capture
/// thread waits for a CPU (in a receive buffer, at loopback's 2–3 KiB of
/// kernel memory per small frame, about 20,000).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const RECEIVE_BUFFER: usize = 64 << 20;

/// A ring block: large enough for the largest loopback frame (64 KiB)
/// many times over, small enough that the ring has many.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const RING_BLOCK: usize = 1 << 20;

/// Blocks in the ring.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const RING_BLOCKS: usize = RECEIVE_BUFFER / RING_BLOCK;

/// A block is handed over at the latest this long after its first frame:
/// the longest a frame of a capture with little traffic waits to be seen.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const RING_RETIRE: Duration = Duration::from_millis(10);

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
    /// Bytes of batches handed on and not yet taken ([`batch_weight`]).
    queued: std::sync::atomic::AtomicUsize,
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

/// Frames handed from the capture thread to the consumer together: their
/// bytes back to back in one buffer.
#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    frames: Vec<Slot>,
}

/// One frame of a [`Batch`]: its bytes end at `end`, where the next
/// frame's begin.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    end: usize,
    pub(crate) time: Duration,
    pub(crate) wire_len: u32,
    pub(crate) ifindex: u32,
    pub(crate) iface: Arc<str>,
    pub(crate) outgoing: bool,
}

/// A running live capture; frames arrive through [`LiveSource::recv`].
#[derive(Debug)]
pub struct LiveSource {
    link: LinkType,
    ifaces: Vec<String>,
    frames: Option<Receiver<Batch>>,
    /// The batch being taken, and the next frame's place in it.
    batch: Batch,
    taken: usize,
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
    pub fn recv(&mut self, timeout: Duration) -> Option<LiveFrame> {
        let (slot, data) = self.next_slot(timeout)?;
        Some(LiveFrame {
            time: slot.time,
            data: data.to_vec(),
            wire_len: slot.wire_len,
            link: self.link,
            ifindex: slot.ifindex,
            iface: slot.iface,
            outgoing: slot.outgoing,
        })
    }

    /// The next frame's details and bytes, waiting at most `timeout` for
    /// a batch when the current one is used up.
    pub(crate) fn next_slot(&mut self, timeout: Duration) -> Option<(Slot, &[u8])> {
        if self.taken >= self.batch.frames.len() {
            let batch = self.frames.as_ref()?.recv_timeout(timeout).ok()?;
            self.counters
                .queued
                .fetch_sub(batch_weight(&batch), Ordering::Relaxed);
            self.batch = batch;
            self.taken = 0;
        }
        let slot = self.batch.frames.get(self.taken)?.clone();
        let start = match self.taken {
            0 => 0,
            n => self.batch.frames[n - 1].end,
        };
        self.taken += 1;
        let end = slot.end;
        Some((slot, self.batch.bytes.get(start..end)?))
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
        let ring = match socket.map_ring(RING_BLOCK, RING_BLOCKS, RING_RETIRE) {
            Ok(ring) => Some(ring),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(Error::Privilege);
            }
            Err(e) => {
                log::debug!("no packet ring ({e}); reading frames one by one");
                None
            }
        };
        if ring.is_none() {
            socket
                .set_receive_buffer(RECEIVE_BUFFER)
                .map_err(|e| os("receive buffer", e))?;
        }
        // Frames are stamped as they arrive (the ring takes the stamp the
        // kernel gave the frame), not when copied out: without this, a
        // ring frame gets the time of its copy, later under load, and
        // kernel events are compared with frame times to the microsecond.
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
            ring,
            cooked: plan.cooked,
            snaplen: snaplen as usize,
            names,
            tx,
            stop: Arc::clone(&stop),
            counters: Arc::clone(&counters),
            said_behind: false,
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
            batch: Batch::default(),
            taken: 0,
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

/// Most frame bytes (with their bookkeeping) waiting for the consumer:
/// as much as the kernel's ring holds. A consumer slower than the traffic
/// for longer than that leaves the rest to the kernel, which drops and
/// counts it; a burst the consumer soon catches up with costs nothing.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const BACKLOG_LIMIT: usize = RECEIVE_BUFFER;

/// How long the capture thread waits for the consumer before looking
/// again, while the backlog is full.
#[cfg(target_os = "linux")]
const BACKLOG_WAIT: Duration = Duration::from_millis(1);

/// What a batch holds against [`BACKLOG_LIMIT`].
fn batch_weight(batch: &Batch) -> usize {
    batch.bytes.len() + batch.frames.len() * std::mem::size_of::<Slot>()
}

/// The capture thread's stack: it holds no large locals (the frame buffer
/// is on the heap).
#[cfg(target_os = "linux")]
const CAPTURE_STACK: usize = 256 << 10;

/// The capture thread's state.
#[cfg(target_os = "linux")]
struct Reader {
    socket: crate::sys::PacketSocket,
    ring: Option<crate::sys::Ring>,
    cooked: bool,
    snaplen: usize,
    names: std::collections::HashMap<u32, Arc<str>>,
    tx: std::sync::mpsc::Sender<Batch>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// Whether the consumer's falling behind was said.
    said_behind: bool,
}

#[cfg(target_os = "linux")]
impl Reader {
    fn run(mut self) -> Result<(), Error> {
        crate::sys::raise_thread_priority();
        match self.ring.take() {
            Some(ring) => self.run_ring(ring)?,
            None => self.run_socket()?,
        }
        self.read_stats().map_err(fail)
    }

    /// Takes the ring's blocks as the kernel hands them over. After a
    /// stop request, the blocks holding frames from before it, and no
    /// more: a flood that goes on does not hold the stop up.
    fn run_ring(&mut self, mut ring: crate::sys::Ring) -> Result<(), Error> {
        let mut last_stats = Instant::now();
        // When the stop was asked for, and its time on the frames' clock.
        let mut stopping: Option<(Instant, Duration)> = None;
        loop {
            if stopping.is_none() && self.stop.load(Ordering::Relaxed) {
                stopping = Some((Instant::now(), wall_clock()));
            }
            if stopping.is_none() && self.backlog_full() {
                if last_stats.elapsed() >= STATS_INTERVAL {
                    self.read_stats().map_err(fail)?;
                    last_stats = Instant::now();
                }
                continue;
            }
            let Some(block) = ring.block() else {
                // Frames from before the stop may sit in a block the
                // kernel has not handed over yet: it does within
                // RING_RETIRE.
                if stopping.is_some_and(|(t, _)| t.elapsed() >= STOP_SETTLE) {
                    break;
                }
                if last_stats.elapsed() >= STATS_INTERVAL {
                    self.read_stats().map_err(fail)?;
                    last_stats = Instant::now();
                }
                let wait = if stopping.is_some() {
                    RING_RETIRE
                } else {
                    POLL_INTERVAL
                };
                self.socket.wait_readable(wait).map_err(fail)?;
                continue;
            };
            let mut batch = Batch::default();
            let mut past_stop = false;
            for frame in block.frames() {
                past_stop |=
                    stopping.is_some_and(|(_, at)| frame.meta.time.is_some_and(|t| t > at));
                self.add(&mut batch, &frame.meta, frame.data);
            }
            // The block goes back to the kernel before the batch is handed on.
            drop(block);
            if !self.deliver(batch) {
                break;
            }
            if last_stats.elapsed() >= STATS_INTERVAL {
                self.read_stats().map_err(fail)?;
                last_stats = Instant::now();
            }
            if past_stop || stopping.is_some_and(|(t, _)| t.elapsed() >= STOP_DRAIN_LIMIT) {
                break;
            }
        }
        Ok(())
    }

    /// Reads frames one by one from the socket's receive buffer, handing
    /// them on [`SOCKET_BATCH`] at a time, or fewer when no more are
    /// queued.
    fn run_socket(&mut self) -> Result<(), Error> {
        // A cooked frame gets a header in front, inside the snap length.
        let room = if self.cooked {
            self.snaplen - SLL2_HEADER_LEN
        } else {
            self.snaplen
        };
        let mut buf = vec![0u8; room];
        let mut batch = Batch::default();
        let mut last_stats = Instant::now();
        let mut stopping: Option<Instant> = None;
        loop {
            if stopping.is_none() && self.stop.load(Ordering::Relaxed) {
                stopping = Some(Instant::now());
            }
            if stopping.is_none() && batch.frames.is_empty() && self.backlog_full() {
                if last_stats.elapsed() >= STATS_INTERVAL {
                    self.read_stats().map_err(fail)?;
                    last_stats = Instant::now();
                }
                continue;
            }
            match self.socket.recv(&mut buf).map_err(fail)? {
                Some(r) => {
                    self.add(&mut batch, &r, &buf[..r.caplen]);
                    if batch.frames.len() >= SOCKET_BATCH
                        && !self.deliver(std::mem::take(&mut batch))
                    {
                        return Ok(());
                    }
                    if stopping.is_some_and(|t| t.elapsed() >= STOP_DRAIN_LIMIT) {
                        break;
                    }
                }
                None => {
                    if !self.deliver(std::mem::take(&mut batch)) {
                        return Ok(());
                    }
                    if stopping.is_some() {
                        break;
                    }
                    if last_stats.elapsed() >= STATS_INTERVAL {
                        self.read_stats().map_err(fail)?;
                        last_stats = Instant::now();
                    }
                    self.socket.wait_readable(POLL_INTERVAL).map_err(fail)?;
                }
            }
        }
        self.deliver(batch);
        Ok(())
    }

    /// Hands a batch on and counts its frames; false when nobody is
    /// listening any more.
    fn deliver(&self, batch: Batch) -> bool {
        let n = batch.frames.len() as u64;
        if n == 0 {
            return true;
        }
        let weight = batch_weight(&batch);
        self.counters.queued.fetch_add(weight, Ordering::Relaxed);
        if self.tx.send(batch).is_err() {
            return false;
        }
        self.counters.captured.fetch_add(n, Ordering::Relaxed);
        true
    }

    /// Whether the consumer has more than [`BACKLOG_LIMIT`] waiting: the
    /// ring is then left to the kernel for [`BACKLOG_WAIT`] (said once).
    fn backlog_full(&mut self) -> bool {
        if self.counters.queued.load(Ordering::Relaxed) <= BACKLOG_LIMIT {
            return false;
        }
        if !self.said_behind {
            self.said_behind = true;
            use std::io::IsTerminal as _;
            log::warn!("{}", behind_warning(std::io::stdout().is_terminal()));
        }
        std::thread::sleep(BACKLOG_WAIT);
        true
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

    /// Appends one frame to `batch`: a cooked frame gets its Linux cooked
    /// v2 header in front, and the whole stays within the snap length.
    fn add(&mut self, batch: &mut Batch, r: &crate::sys::Received, bytes: &[u8]) {
        let time = r.time.unwrap_or_else(wall_clock);
        let ifindex = u32::try_from(r.ifindex).unwrap_or(0);
        let wire_len = if self.cooked {
            batch.bytes.extend_from_slice(&sll2_header(
                r.protocol, ifindex, r.hatype, r.pkttype, r.halen, &r.addr,
            ));
            let room = self.snaplen - SLL2_HEADER_LEN;
            batch
                .bytes
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
            r.len + SLL2_HEADER_LEN
        } else {
            batch
                .bytes
                .extend_from_slice(&bytes[..bytes.len().min(self.snaplen)]);
            r.len
        };
        let iface = self.name(ifindex);
        batch.frames.push(Slot {
            end: batch.bytes.len(),
            time,
            wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
            ifindex,
            iface,
            outgoing: r.pkttype == PACKET_OUTGOING,
        });
    }
}

/// The time since the epoch, as frames are stamped.
#[cfg(target_os = "linux")]
fn wall_clock() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// What ends the capture thread on a failed system call.
#[cfg(target_os = "linux")]
fn fail(e: std::io::Error) -> Error {
    Error::CaptureIo {
        what: "reading the packet socket".into(),
        source: e,
    }
}

/// After a stop request, how long the ring reader waits for the blocks
/// holding frames from before it: the kernel hands a block over at the
/// latest [`RING_RETIRE`] after its first frame (its timer may just have
/// missed it once).
#[cfg(target_os = "linux")]
const STOP_SETTLE: Duration = Duration::from_millis(3 * RING_RETIRE.as_millis() as u64);

/// Frames read one by one are handed on this many at a time at most.
#[cfg(target_os = "linux")]
const SOCKET_BATCH: usize = 256;

/// What is said once when the table falls [`BACKLOG_LIMIT`] behind the
/// traffic; the advice depends on where the table goes: a terminal is the
/// usual cause, but a table written to a file can fall behind too (on two
/// CPUs shared with the traffic's own programs, from about 120,000 frames
/// a second with processes named).
fn behind_warning(table_on_terminal: bool) -> String {
    let advice = if table_on_terminal {
        "write the table to a file, or save with --quiet --pcap FILE"
    } else {
        "save with --quiet --pcap FILE and read it afterwards, or narrow the capture with a filter"
    };
    format!(
        "frames arrive faster than they are shown: {} MiB of them wait to be shown, and the kernel drops what comes on top (counted at the end); {advice}",
        BACKLOG_LIMIT >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_for_a_table_behind_advises_by_where_the_table_goes() {
        let terminal = behind_warning(true);
        let file = behind_warning(false);
        for w in [&terminal, &file] {
            assert!(
                w.starts_with("frames arrive faster than they are shown: 64 MiB"),
                "{w}"
            );
            assert!(w.contains("--quiet --pcap FILE"), "{w}");
        }
        // Already written to a file: not told to write it to one.
        assert!(terminal.contains("write the table to a file"), "{terminal}");
        assert!(!file.contains("write the table to a file"), "{file}");
        assert!(file.contains("narrow the capture with a filter"), "{file}");
    }

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
