//! The Linux packet socket, a thread's priority, the clocks and waiting on
//! the tracing rings:
//! net-trace's only `unsafe` (docs/hardening.md lists the other places in
//! netlab that have any).
//!
//! `AF_PACKET` addresses (`struct sockaddr_ll`), classic BPF programs,
//! `recvmsg` control messages and `PACKET_STATISTICS` are not modelled by
//! socket2, nor a thread's priority or `clock_gettime` of a chosen clock by
//! std, so this module calls libc for them, with libc's structs and
//! constants. Every `unsafe` block is a system call given pointers to live,
//! properly sized and aligned Rust values, an all-zero plain C struct, a
//! read of a plain C struct the kernel filled in, or taking ownership of
//! the descriptor `socket` just returned.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::live::bpf::Insn;

/// `ETH_P_ALL`: every protocol (`sll_protocol` is 16 bits wide).
const ETH_P_ALL: u16 = libc::ETH_P_ALL as u16;

// The capture filter spells out `PACKET_OUTGOING`, since it is built and
// tested on every system, libc or not; here it must agree with the kernel's.
const _: () = assert!(crate::live::bpf::PACKET_OUTGOING == libc::PACKET_OUTGOING as u32);

// So must its opcodes and ancillary offsets (`<linux/filter.h>`).
const _: () = {
    use crate::live::bpf;
    use libc::{
        BPF_ABS, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX,
        BPF_MSH, BPF_RET, BPF_W,
    };
    assert!(bpf::LD_W_ABS as u32 == BPF_LD | BPF_W | BPF_ABS);
    assert!(bpf::LD_H_ABS as u32 == BPF_LD | BPF_H | BPF_ABS);
    assert!(bpf::LD_B_ABS as u32 == BPF_LD | BPF_B | BPF_ABS);
    assert!(bpf::LD_H_IND as u32 == BPF_LD | BPF_H | BPF_IND);
    assert!(bpf::LDX_B_MSH as u32 == BPF_LDX | BPF_B | BPF_MSH);
    assert!(bpf::JEQ_K as u32 == BPF_JMP | BPF_JEQ | BPF_K);
    assert!(bpf::JSET_K as u32 == BPF_JMP | BPF_JSET | BPF_K);
    assert!(bpf::RET_K as u32 == BPF_RET | BPF_K);
    assert!(bpf::SKF_AD_OFF == libc::SKF_AD_OFF as u32);
    assert!(bpf::SKF_AD_PROTOCOL == libc::SKF_AD_PROTOCOL as u32);
    assert!(bpf::SKF_AD_PKTTYPE == libc::SKF_AD_PKTTYPE as u32);
    assert!(bpf::SKF_AD_IFINDEX == libc::SKF_AD_IFINDEX as u32);
};

/// Room for control messages: one `SCM_TIMESTAMPNS` (a `timespec`) needs
/// 32 bytes on 64-bit Linux; the rest is slack for anything else the kernel
/// adds.
const CMSG_SPACE: usize = 128;

/// Which view of a frame the socket gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SOCK_RAW`: the frame from its link-layer header on.
    Raw,
    /// `SOCK_DGRAM`: the frame from its network header on (cooked).
    Cooked,
}

/// One frame read from the socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Bytes copied into the buffer.
    pub(crate) caplen: usize,
    /// The frame's length as the socket sees it (link header included for
    /// `Raw`, excluded for `Cooked`), before any truncation to the buffer.
    pub(crate) len: usize,
    /// The kernel's receive time, since the epoch.
    pub(crate) time: Option<Duration>,
    /// `sll_protocol`, host byte order (the ethertype).
    pub(crate) protocol: u16,
    /// `sll_ifindex`.
    pub(crate) ifindex: i32,
    /// `sll_hatype` (ARPHRD_*).
    pub(crate) hatype: u16,
    /// `sll_pkttype` (PACKET_HOST, PACKET_OUTGOING, …).
    pub(crate) pkttype: u8,
    /// `sll_halen`.
    pub(crate) halen: u8,
    /// `sll_addr`, the first eight bytes.
    pub(crate) addr: [u8; 8],
}

/// An `AF_PACKET` socket.
#[derive(Debug)]
pub(crate) struct PacketSocket {
    fd: OwnedFd,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl PacketSocket {
    /// Opens a packet socket that receives nothing yet (protocol 0): the
    /// kernel only starts queueing frames at [`PacketSocket::bind`], so a
    /// filter attached before that applies to every frame received.
    /// Needs root or CAP_NET_RAW.
    pub(crate) fn open(kind: Kind) -> io::Result<PacketSocket> {
        let ty = match kind {
            Kind::Raw => libc::SOCK_RAW,
            Kind::Cooked => libc::SOCK_DGRAM,
        };
        // SAFETY: socket(2) takes no pointers.
        let fd = check(unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: fd was just returned by socket(2) and is owned by no one
        // else.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn setsockopt<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: value points at a live T of the given size.
        check(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
    pub(crate) fn attach_filter(&self, program: &[Insn]) -> io::Result<()> {
        let mut insns: Vec<libc::sock_filter> = program
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let len = u16::try_from(insns.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "filter too long"))?;
        let prog = libc::sock_fprog {
            len,
            filter: insns.as_mut_ptr(),
        };
        // The kernel copies the program during the call; `insns` outlives it.
        self.setsockopt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
    }

    /// Sets the receive buffer to `bytes`, above the `rmem_max` limit when
    /// allowed (`SO_RCVBUFFORCE` needs CAP_NET_ADMIN), else as large as
    /// `SO_RCVBUF` allows.
    pub(crate) fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &value)
            .or_else(|_| self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &value))
    }

    /// Asks for a nanosecond receive timestamp with every frame.
    pub(crate) fn enable_timestamps(&self) -> io::Result<()> {
        self.setsockopt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1 as &libc::c_int)
    }

    /// Starts receiving every protocol on `ifindex` (0: every interface).
    pub(crate) fn bind(&self, ifindex: i32) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut ll: libc::sockaddr_ll = unsafe { zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_protocol = ETH_P_ALL.to_be();
        ll.sll_ifindex = ifindex;
        // SAFETY: ll is a live sockaddr_ll and the length is its size.
        check(unsafe {
            libc::bind(
                self.raw(),
                (&ll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Waits at most `timeout` for the socket to become readable.
    pub(crate) fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one live pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads one frame into `buf` without waiting; `None` when none is
    /// queued.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid. It is
        // larger than any sockaddr_ll the kernel writes (hardware addresses
        // longer than 8 bytes included).
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; CMSG_SPACE / 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is valid.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; CMSG_SPACE / 8]>() as _;
        // MSG_TRUNC: the return value is the frame's full length even when
        // the buffer is shorter.
        // SAFETY: every pointer in msg refers to a live local or to `buf`,
        // with the lengths given.
        let n =
            unsafe { libc::recvmsg(self.raw(), &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let len = n as usize;
        let mut time = None;
        // SAFETY: the CMSG_* walk stays inside msg_control as the kernel
        // filled it (msg_controllen was updated by recvmsg); the timespec
        // payload is read unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                    if ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec) {
                        time = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        // SAFETY: the kernel wrote a sockaddr_ll (AF_PACKET socket) into
        // storage that is sized and aligned for it.
        let ll = unsafe { std::ptr::read(std::ptr::from_ref(&name).cast::<libc::sockaddr_ll>()) };
        Ok(Some(Received {
            caplen: len.min(buf.len()),
            len,
            time,
            protocol: u16::from_be(ll.sll_protocol),
            ifindex: ll.sll_ifindex,
            hatype: ll.sll_hatype,
            pkttype: ll.sll_pkttype,
            halen: ll.sll_halen,
            addr: ll.sll_addr,
        }))
    }

    /// `PACKET_STATISTICS`: frames that passed the filter (dropped ones
    /// included) and frames dropped for want of buffer space, since the
    /// previous call (the kernel resets both on every read).
    pub(crate) fn statistics(&self) -> io::Result<(u32, u32)> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: st is a live tpacket_stats and len its size.
        check(unsafe {
            libc::getsockopt(
                self.raw(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        })?;
        Ok((st.tp_packets, st.tp_drops))
    }
}

/// A `TPACKET_V3` receive ring: the kernel copies each frame that passes
/// the filter straight into memory shared with this process, in blocks
/// handed over whole (when full, or after the retire time-out), so a
/// flood costs the reader no system call and no copy per frame — the
/// ring's point over `recvmsg`, which cost a system call, a context
/// switch every few frames and a socket buffer free per frame.
///
/// The `unsafe` here is the mapping itself and the block status words
/// shared with the kernel: a block is read only after its status says it
/// belongs to user space (an acquire load, pairing with the kernel's
/// release when it hands the block over), and given back by storing
/// `TP_STATUS_KERNEL` with a release store once nothing borrows it. The
/// kernel never writes a block user space owns, so while [`Block`] lives
/// its bytes are a plain immutable slice, parsed with bounds checks like
/// any other input.
#[derive(Debug)]
pub(crate) struct Ring {
    base: std::ptr::NonNull<u8>,
    len: usize,
    block_size: usize,
    blocks: usize,
    /// The block the kernel hands over next (blocks go round in order).
    next: usize,
}

// SAFETY: the mapping is owned by this value alone and holds no
// thread-bound state; the kernel side is synchronised by the status words.
unsafe impl Send for Ring {}

/// `offsetof(struct tpacket_block_desc, hdr.bh1.block_status)` and the
/// fields after it (`<linux/if_packet.h>`).
const BLOCK_STATUS: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, block_status);
const BLOCK_NUM_PKTS: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, num_pkts);
const BLOCK_FIRST: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
/// A frame's `sockaddr_ll` follows its header, aligned.
const FRAME_SLL: usize = (size_of::<libc::tpacket3_hdr>() + libc::TPACKET_ALIGNMENT - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);
const _: () = assert!(BLOCK_STATUS.is_multiple_of(4));

/// The `tp_frame_size` given with the ring: for `TPACKET_V3` it only
/// sets how frames are counted (the kernel packs frames of any size into
/// a block), and must hold a frame's header and address.
const RING_FRAME_SIZE: usize = 2048;

impl PacketSocket {
    /// Maps a `TPACKET_V3` receive ring of `blocks` blocks of
    /// `block_size` bytes (a multiple of the page size), each handed over
    /// at the latest `retire` after its first frame. Before
    /// [`PacketSocket::bind`], so no frame goes anywhere else.
    pub(crate) fn map_ring(
        &self,
        block_size: usize,
        blocks: usize,
        retire: Duration,
    ) -> io::Result<Ring> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let uint = |n: usize| libc::c_uint::try_from(n).map_err(|_| invalid("ring too large"));
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        self.setsockopt(libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
        let req = libc::tpacket_req3 {
            tp_block_size: uint(block_size)?,
            tp_block_nr: uint(blocks)?,
            tp_frame_size: uint(RING_FRAME_SIZE)?,
            tp_frame_nr: uint(block_size / RING_FRAME_SIZE * blocks)?,
            tp_retire_blk_tov: uint(retire.as_millis().max(1) as usize)?,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        self.setsockopt(libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let len = block_size
            .checked_mul(blocks)
            .ok_or_else(|| invalid("ring too large"))?;
        // SAFETY: a fresh shared mapping of the socket's ring, of the size
        // just set up; no Rust value aliases it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                self.raw(),
                0,
            )
        };
        // MAP_LOCKED is refused past RLIMIT_MEMLOCK: map without it then.
        let base = if base == libc::MAP_FAILED {
            // SAFETY: as above.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    self.raw(),
                    0,
                )
            }
        } else {
            base
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = std::ptr::NonNull::new(base.cast::<u8>()).ok_or_else(|| invalid("null map"))?;
        Ok(Ring {
            base,
            len,
            block_size,
            blocks,
            next: 0,
        })
    }
}

impl Ring {
    /// The status word of block `i`.
    fn status(&self, i: usize) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: `i < blocks`, so the word lies inside the mapping; it is
        // 4-aligned (page-aligned block, offset a multiple of 4), lives as
        // long as `self`, and is only ever accessed atomically here.
        unsafe {
            std::sync::atomic::AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(i * self.block_size + BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    /// The next block, when the kernel has handed it over; it goes back
    /// to the kernel when the [`Block`] is dropped.
    pub(crate) fn block(&mut self) -> Option<Block<'_>> {
        let i = self.next;
        let owned =
            self.status(i).load(std::sync::atomic::Ordering::Acquire) & libc::TP_STATUS_USER != 0;
        if !owned {
            return None;
        }
        self.next = (i + 1) % self.blocks;
        // SAFETY: block `i` lies inside the mapping, and user space owns
        // it (acquire load above): the kernel writes nothing into it until
        // its status is given back in `Block::drop`, after this borrow.
        let bytes = unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(i * self.block_size), self.block_size)
        };
        Some(Block {
            bytes,
            status: self.status(i),
        })
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map_ring`, of `len` bytes; no
        // `Block` borrows it any more (they borrow `self`).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// A block of frames handed over by the kernel.
#[derive(Debug)]
pub(crate) struct Block<'a> {
    bytes: &'a [u8],
    status: &'a std::sync::atomic::AtomicU32,
}

/// One frame in a [`Block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingFrame<'a> {
    /// The bytes captured, from the link header (`Raw`) or the network
    /// header (`Cooked`) on.
    pub data: &'a [u8],
    /// The same frame's [`Received`] fields (`caplen` is `data.len()`).
    pub meta: Received,
}

impl<'a> Block<'a> {
    /// The block's frames, in order; a malformed header ends the walk.
    pub(crate) fn frames(&self) -> impl Iterator<Item = RingFrame<'a>> + '_ {
        let b = self.bytes;
        let u16_at = move |at: usize| Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?));
        let u32_at = move |at: usize| Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?));
        let count = u32_at(BLOCK_NUM_PKTS).unwrap_or(0);
        let mut at = u32_at(BLOCK_FIRST).map_or(usize::MAX, |o| o as usize);
        let mut left = count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let h = at;
            let field = |off: usize| u32_at(h.checked_add(off)?);
            let next = field(std::mem::offset_of!(libc::tpacket3_hdr, tp_next_offset))?;
            let sec = field(std::mem::offset_of!(libc::tpacket3_hdr, tp_sec))?;
            let nsec = field(std::mem::offset_of!(libc::tpacket3_hdr, tp_nsec))?;
            let snaplen = field(std::mem::offset_of!(libc::tpacket3_hdr, tp_snaplen))? as usize;
            let len = field(std::mem::offset_of!(libc::tpacket3_hdr, tp_len))? as usize;
            let mac = u16_at(h + std::mem::offset_of!(libc::tpacket3_hdr, tp_mac))? as usize;
            let sll = h + FRAME_SLL;
            let data = b.get(h + mac..h + mac + snaplen)?;
            let ll = b.get(sll..sll + size_of::<libc::sockaddr_ll>())?;
            let mut addr = [0u8; 8];
            addr.copy_from_slice(&ll[12..20]);
            at = if next == 0 {
                usize::MAX
            } else {
                h + next as usize
            };
            Some(RingFrame {
                data,
                meta: Received {
                    caplen: snaplen,
                    len,
                    time: (nsec < 1_000_000_000).then(|| Duration::new(u64::from(sec), nsec)),
                    protocol: u16::from_be_bytes([ll[2], ll[3]]),
                    ifindex: i32::from_ne_bytes([ll[4], ll[5], ll[6], ll[7]]),
                    hatype: u16::from_ne_bytes([ll[8], ll[9]]),
                    pkttype: ll[10],
                    halen: ll[11],
                    addr,
                },
            })
        })
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        // Back to the kernel; the release store orders every read of the
        // block before it.
        self.status
            .store(libc::TP_STATUS_KERNEL, std::sync::atomic::Ordering::Release);
    }
}

// The offsets read by hand above, against the C layout.
const _: () = {
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_protocol) == 2);
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_ifindex) == 4);
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_hatype) == 8);
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_pkttype) == 10);
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_halen) == 11);
    assert!(std::mem::offset_of!(libc::sockaddr_ll, sll_addr) == 12);
    assert!(size_of::<libc::sockaddr_ll>() == 20);
};

/// Gives the calling thread a higher scheduling priority (nice -10), best
/// effort: the capture thread copies frames out of the kernel and the
/// event reader drains the tracing rings, and on a busy machine (a
/// terminal rendering the table, the traffic itself) neither must be the
/// one that waits. Needs root or CAP_SYS_NICE; without
/// them nothing changes.
pub(crate) fn raise_thread_priority() {
    // SAFETY: gettid and setpriority take and return plain integers; the
    // thread id is this thread's own.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, -10)
    };
    if rc != 0 {
        log::debug!(
            "{} thread keeps its priority: {}",
            std::thread::current().name().unwrap_or("a"),
            io::Error::last_os_error()
        );
    }
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, now: what turns a time on the
/// tracing instance's `mono` clock into the packets' wall-clock time. Read
/// as a monotonic–real–monotonic sandwich, keeping the tightest of a few,
/// so it is right to a microsecond whatever the machine's load.
pub(crate) fn realtime_minus_monotonic() -> Option<Duration> {
    let read = read_clock;
    let mut best: Option<(Duration, Duration)> = None;
    for _ in 0..5 {
        let before = read(libc::CLOCK_MONOTONIC)?;
        let real = read(libc::CLOCK_REALTIME)?;
        let after = read(libc::CLOCK_MONOTONIC)?;
        let gap = after.saturating_sub(before);
        let mono = before + gap / 2;
        let offset = real.checked_sub(mono)?;
        if best.is_none_or(|(g, _)| gap < g) {
            best = Some((gap, offset));
        }
    }
    best.map(|(_, offset)| offset)
}

/// A clock's time now.
fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer to a
    // live, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0 && ts.tv_sec >= 0 && ts.tv_nsec >= 0)
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CLOCK_MONOTONIC now: the tracing instance's `mono` clock.
pub(crate) fn monotonic() -> Option<Duration> {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// Waits at most `timeout` for any of `fds` to become readable; whether
/// one did.
pub(crate) fn wait_readable_any(fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let n = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: a live, writable array of `n` pollfds.
    match check(unsafe { libc::poll(pfds.as_mut_ptr(), n, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}
