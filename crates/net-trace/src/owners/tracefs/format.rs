//! The records of the ring buffer, decoded into events with the field
//! offsets of each event's `format` file (`events/SYSTEM/NAME/format`), so
//! nothing depends on one kernel's layout: a field that moved is read where
//! it now is, and a kernel without a field the proof needs is told apart
//! from one with it at start, not misread.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::Unavailable;
use super::page::field_line;
use crate::owners::evidence::{Ctx, Event};

/// `CLONE_THREAD` in `task_newtask`'s `clone_flags`.
const CLONE_THREAD: u64 = 0x0001_0000;

/// `AF_INET` and `AF_INET6` in the records' `family`.
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

/// `common_flags`: recorded in a hardware or software interrupt or an NMI
/// (`TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ | TRACE_FLAG_NMI`), not as
/// the work of the task that happened to be running.
const IRQ_FLAGS: u64 = 0x08 | 0x10 | 0x40;

/// Clock markers' event (what `trace_marker` writes).
pub(crate) const MARKER_EVENT: &str = "ftrace/print";

/// A decoded record: the event, or one of our clock markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// An event; its time is still on the trace clock.
    Event(Event),
    /// A marker written by this process, at this trace-clock time.
    Marker(Duration),
}

/// Where a field is in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    offset: usize,
    size: usize,
}

/// An event's `format` file: its id and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format {
    /// The id records carry in `common_type`.
    pub(crate) id: u16,
    fields: HashMap<String, Field>,
}

impl Format {
    /// Reads a `format` file: `ID: 2287` and
    /// `field:__u16 sport; offset:24; size:2; signed:0;` lines.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut id = None;
        let mut fields = HashMap::new();
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("ID:") {
                id = n.trim().parse().ok();
            } else if let Some((name, offset, size)) = field_line(line) {
                fields.insert(name.to_string(), Field { offset, size });
            }
        }
        Some(Self { id: id?, fields })
    }

    fn field(&self, name: &str) -> Option<Field> {
        self.fields.get(name).copied()
    }

    /// A field that must be an integer of one of `sizes` bytes.
    fn int(&self, name: &str, sizes: &[usize]) -> Option<Field> {
        self.field(name).filter(|f| sizes.contains(&f.size))
    }

    /// A byte array of exactly `size` bytes.
    fn array(&self, name: &str, size: usize) -> Option<Field> {
        self.field(name).filter(|f| f.size == size)
    }
}

/// A record's bytes, read by field; `None` past its end.
#[derive(Clone, Copy)]
struct Raw<'a>(&'a [u8]);

impl<'a> Raw<'a> {
    fn bytes(self, f: Field) -> Option<&'a [u8]> {
        self.0.get(f.offset..f.offset.checked_add(f.size)?)
    }

    /// An unsigned integer of 1, 2, 4 or 8 bytes, in the host's order.
    fn uint(self, f: Field) -> Option<u64> {
        let b = self.bytes(f)?;
        Some(match f.size {
            1 => u64::from(b[0]),
            2 => u64::from(u16::from_ne_bytes(b.try_into().ok()?)),
            4 => u64::from(u32::from_ne_bytes(b.try_into().ok()?)),
            8 => u64::from_ne_bytes(b.try_into().ok()?),
            _ => return None,
        })
    }

    /// A signed 32-bit integer.
    fn i32(self, f: Field) -> Option<i32> {
        Some(i32::from_ne_bytes(self.bytes(f)?.try_into().ok()?))
    }

    /// A NUL-terminated name in a fixed array.
    fn name(self, f: Field) -> Option<String> {
        let b = self.bytes(f)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }

    /// A `__data_loc` string: a 32-bit word holding its offset in the
    /// record (low half) and length (high half, its NUL included).
    fn data_loc(self, f: Field) -> Option<String> {
        let loc = u32::try_from(self.uint(f)?).ok()?;
        let (at, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
        let b = self.0.get(at..at.checked_add(len)?)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }

    fn v4(self, f: Field) -> Option<IpAddr> {
        let b: [u8; 4] = self.bytes(f)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(b)))
    }

    fn v6(self, f: Field) -> Option<IpAddr> {
        let b: [u8; 16] = self.bytes(f)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(b)))
    }
}

/// `sock:inet_sock_set_state`'s fields.
#[derive(Debug, Clone)]
struct StateFields {
    sk: Field,
    old: Field,
    new: Field,
    sport: Field,
    dport: Field,
    family: Field,
    protocol: Field,
    saddr: Field,
    daddr: Field,
    saddr6: Field,
    daddr6: Field,
}

/// `fib:fib_table_lookup`'s and `fib6:fib6_table_lookup`'s fields.
#[derive(Debug, Clone)]
struct RouteFields {
    v6: bool,
    proto: Field,
    sport: Field,
    dport: Field,
    src: Field,
    dst: Field,
}

/// What a record of one event id is, and where its fields are.
#[derive(Debug, Clone)]
enum Kind {
    State(StateFields),
    Route(RouteFields),
    Send {
        sk: Field,
        protocol: Field,
        ret: Field,
    },
    Exec {
        filename: Field,
        old_pid: Field,
    },
    Fork {
        pid: Field,
        comm: Field,
        clone_flags: Field,
    },
    Exit {
        group_dead: Field,
    },
    Marker,
}

impl Kind {
    /// The fields of event `name` (`system/event`), from its format.
    fn of(name: &str, f: &Format) -> Option<Self> {
        Some(match name {
            "sock/inet_sock_set_state" => Self::State(StateFields {
                sk: f.int("skaddr", &[8])?,
                old: f.int("oldstate", &[4])?,
                new: f.int("newstate", &[4])?,
                sport: f.int("sport", &[2])?,
                dport: f.int("dport", &[2])?,
                family: f.int("family", &[2])?,
                protocol: f.int("protocol", &[1, 2, 4])?,
                saddr: f.array("saddr", 4)?,
                daddr: f.array("daddr", 4)?,
                saddr6: f.array("saddr_v6", 16)?,
                daddr6: f.array("daddr_v6", 16)?,
            }),
            "fib/fib_table_lookup" | "fib6/fib6_table_lookup" => {
                let v6 = name.starts_with("fib6");
                let size = if v6 { 16 } else { 4 };
                Self::Route(RouteFields {
                    v6,
                    proto: f.int("proto", &[1])?,
                    sport: f.int("sport", &[2])?,
                    dport: f.int("dport", &[2])?,
                    src: f.array("src", size)?,
                    dst: f.array("dst", size)?,
                })
            }
            "sock/sock_send_length" => Self::Send {
                sk: f.int("sk", &[8])?,
                protocol: f.int("protocol", &[1, 2, 4])?,
                ret: f.int("ret", &[4])?,
            },
            "sched/sched_process_exec" => Self::Exec {
                filename: f.int("filename", &[4])?,
                old_pid: f.int("old_pid", &[4])?,
            },
            "task/task_newtask" => Self::Fork {
                pid: f.int("pid", &[4])?,
                comm: f.field("comm")?,
                clone_flags: f.int("clone_flags", &[4, 8])?,
            },
            "sched/sched_process_exit" => Self::Exit {
                group_dead: f.int("group_dead", &[1, 4])?,
            },
            MARKER_EVENT => Self::Marker,
            _ => return None,
        })
    }
}

/// The fields every record starts with.
#[derive(Debug, Clone)]
struct Common {
    kind: Field,
    flags: Field,
    pid: Field,
}

impl Common {
    fn of(f: &Format) -> Option<Self> {
        Some(Self {
            kind: f.int("common_type", &[2])?,
            flags: f.int("common_flags", &[1])?,
            pid: f.int("common_pid", &[4])?,
        })
    }
}

/// Decodes records of the events it was built for.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    common: Common,
    kinds: HashMap<u16, Kind>,
    own_pid: u32,
}

impl Decoder {
    /// A decoder of the events `(name, format)`; `own_pid` tells our
    /// markers from others'. `None` when a format lacks a field the proof
    /// needs (or the common fields).
    pub(crate) fn new<'a>(
        formats: impl IntoIterator<Item = (&'a str, Format)>,
        own_pid: u32,
    ) -> Option<Self> {
        let mut common = None;
        let mut kinds = HashMap::new();
        for (name, format) in formats {
            common = common.or_else(|| Common::of(&format));
            kinds.insert(format.id, Kind::of(name, &format)?);
        }
        Some(Self {
            common: common?,
            kinds,
            own_pid,
        })
    }

    /// Reads the formats of `required` and `optional` events (and the
    /// markers') under the tracefs directory `events`.
    pub(crate) fn load(
        events: &Path,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Self, Unavailable> {
        let read = |name: &str| -> Result<Format, Unavailable> {
            let path = events.join(name).join("format");
            let text = super::read_text(&path).map_err(|e| super::io_err("read", &path, &e))?;
            Format::parse(&text).ok_or_else(|| Unavailable(format!("{} has no ID", path.display())))
        };
        let mut formats = Vec::new();
        for &name in required.iter().chain([&MARKER_EVENT]) {
            formats.push((name, read(name)?));
        }
        for &name in optional {
            if let Ok(f) = read(name) {
                formats.push((name, f));
            }
        }
        let names: Vec<&str> = formats.iter().map(|(n, _)| *n).collect();
        Self::new(formats, std::process::id()).ok_or_else(|| {
            Unavailable(format!(
                "the format of one of {} lacks a field owner proof needs",
                names.join(", ")
            ))
        })
    }

    /// Decodes one record's payload, recorded at `time` on the trace
    /// clock. `None` for records it does not need (another protocol, a
    /// failed send, someone else's marker) and for records too short for
    /// their fields.
    pub(crate) fn decode(&self, payload: &[u8], time: Duration) -> Option<Record> {
        let r = Raw(payload);
        let c = &self.common;
        let id = u16::try_from(r.uint(c.kind)?).ok()?;
        let kind = self.kinds.get(&id)?;
        let tid = u32::try_from(r.i32(c.pid)?).ok()?;
        let ctx = Ctx {
            time,
            tid,
            // The task's process is the task map's to say (see `Tasks`).
            tgid: tid,
            comm: String::new(),
            irq: r.uint(c.flags)? & IRQ_FLAGS != 0,
        };
        let event = match kind {
            Kind::State(f) => {
                if r.uint(f.protocol)? != 6 {
                    return None;
                }
                let (src, dst) = match r.uint(f.family)? {
                    AF_INET => (r.v4(f.saddr)?, r.v4(f.daddr)?),
                    AF_INET6 => (r.v6(f.saddr6)?, r.v6(f.daddr6)?),
                    _ => return None,
                };
                let port = |p| u16::try_from(r.uint(p)?).ok();
                Event::State {
                    sk: r.uint(f.sk)?,
                    old: u8::try_from(r.i32(f.old)?).ok()?,
                    new: u8::try_from(r.i32(f.new)?).ok()?,
                    local: Some(SocketAddr::new(src, port(f.sport)?)),
                    remote: Some(SocketAddr::new(dst, port(f.dport)?)),
                    ctx,
                }
            }
            Kind::Route(f) => {
                let ip = |a| if f.v6 { r.v6(a) } else { r.v4(a) };
                Event::Route {
                    proto: u8::try_from(r.uint(f.proto)?).ok()?,
                    sport: u16::try_from(r.uint(f.sport)?).ok()?,
                    dport: u16::try_from(r.uint(f.dport)?).ok()?,
                    src: ip(f.src),
                    dst: ip(f.dst),
                    v6: f.v6,
                    ctx,
                }
            }
            Kind::Send { sk, protocol, ret } => {
                let tcp = match r.uint(*protocol)? {
                    6 => true,
                    17 => false,
                    _ => return None,
                };
                let ret = r.i32(*ret)?;
                Event::Send {
                    len: u32::try_from(ret).ok().filter(|&n| n > 0)?,
                    sk: r.uint(*sk)?,
                    tcp,
                    ctx,
                }
            }
            Kind::Exec { filename, old_pid } => Event::Exec {
                path: r.data_loc(*filename)?,
                old_tid: u32::try_from(r.i32(*old_pid)?).ok()?,
                ctx,
            },
            Kind::Fork {
                pid,
                comm,
                clone_flags,
            } => Event::Fork {
                child: u32::try_from(r.i32(*pid)?).ok()?,
                thread: r.uint(*clone_flags)? & CLONE_THREAD != 0,
                comm: r.name(*comm)?,
                ctx,
            },
            Kind::Exit { group_dead } => Event::Exit {
                group_dead: r.uint(*group_dead)? != 0,
                ctx,
            },
            Kind::Marker => {
                // Written by one of this process's threads: the record's
                // task is the writer itself, so its id is exact.
                let ours = tid == self.own_pid
                    || Path::new(&format!("/proc/{}/task/{tid}", self.own_pid)).exists();
                return ours.then_some(Record::Marker(time));
            }
        };
        Some(Record::Event(event))
    }
}

/// Records built by hand as this kernel writes them, with its formats, for
/// the tests here and beside the other parts of the reader.
#[cfg(test)]
pub(super) mod samples {
    use super::*;

    // The formats of this kernel (6.18), common fields left out; each is
    // completed by `format`.
    pub(crate) const STATE: &str = "ID: 2287
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;";
    pub(crate) const ROUTE: &str = "ID: 2264
\tfield:u8 proto;\toffset:24;\tsize:1;\tsigned:0;
\tfield:__u8 src[4];\toffset:28;\tsize:4;\tsigned:0;
\tfield:__u8 dst[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:u16 sport;\toffset:56;\tsize:2;\tsigned:0;
\tfield:u16 dport;\toffset:58;\tsize:2;\tsigned:0;";
    pub(crate) const ROUTE6: &str = "ID: 2315
\tfield:__u8 src[16];\toffset:31;\tsize:16;\tsigned:0;
\tfield:__u8 dst[16];\toffset:47;\tsize:16;\tsigned:0;
\tfield:u16 sport;\toffset:64;\tsize:2;\tsigned:0;
\tfield:u16 dport;\toffset:66;\tsize:2;\tsigned:0;
\tfield:u8 proto;\toffset:68;\tsize:1;\tsigned:0;";
    pub(crate) const SEND: &str = "ID: 2284
\tfield:void * sk;\toffset:8;\tsize:8;\tsigned:0;
\tfield:__u16 family;\toffset:16;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:18;\tsize:2;\tsigned:0;
\tfield:int ret;\toffset:20;\tsize:4;\tsigned:1;";
    pub(crate) const FORK: &str = "ID: 205
\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;
\tfield:u64 clone_flags;\toffset:32;\tsize:8;\tsigned:0;";
    pub(crate) const EXEC: &str = "ID: 365
\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;";
    pub(crate) const EXIT: &str = "ID: 369
\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;";
    pub(crate) const PRINT: &str = "ID: 5
\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;
\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;";

    const COMMON: &str = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n";

    /// A format file as the kernel writes it.
    pub(crate) fn format(body: &str) -> Format {
        let (id, fields) = body.split_once('\n').unwrap();
        Format::parse(&format!("name: x\n{id}\nformat:\n{COMMON}\n{fields}\n")).unwrap()
    }

    /// A decoder of every event, this process's markers its own.
    pub(crate) fn decoder() -> Decoder {
        Decoder::new(
            [
                ("sock/inet_sock_set_state", format(STATE)),
                ("fib/fib_table_lookup", format(ROUTE)),
                ("fib6/fib6_table_lookup", format(ROUTE6)),
                ("sock/sock_send_length", format(SEND)),
                ("task/task_newtask", format(FORK)),
                ("sched/sched_process_exec", format(EXEC)),
                ("sched/sched_process_exit", format(EXIT)),
                (MARKER_EVENT, format(PRINT)),
            ],
            std::process::id(),
        )
        .unwrap()
    }

    /// A record of event `id` by task `tid` with `flags`, `len` bytes,
    /// and `fields` written at their offsets.
    pub(crate) fn record(
        id: u16,
        tid: u32,
        flags: u8,
        len: usize,
        fields: &[(usize, &[u8])],
    ) -> Vec<u8> {
        let mut r = vec![0u8; len];
        r[0..2].copy_from_slice(&id.to_ne_bytes());
        r[2] = flags;
        r[4..8].copy_from_slice(&tid.to_ne_bytes());
        for (at, bytes) in fields {
            r[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        r
    }

    /// A state change of a TCP socket `sk` from `old` to `new`.
    pub(crate) fn state(
        tid: u32,
        sk: u64,
        old: i32,
        new: i32,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Vec<u8> {
        let (family, s4, d4, s6, d6) = match (local.ip(), remote.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (
                2u16,
                s.octets(),
                d.octets(),
                s.to_ipv6_mapped().octets(),
                d.to_ipv6_mapped().octets(),
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => (10, [0; 4], [0; 4], s.octets(), d.octets()),
            _ => panic!("mixed families"),
        };
        record(
            2287,
            tid,
            0,
            72,
            &[
                (8, &sk.to_ne_bytes()),
                (16, &old.to_ne_bytes()),
                (20, &new.to_ne_bytes()),
                (24, &local.port().to_ne_bytes()),
                (26, &remote.port().to_ne_bytes()),
                (28, &family.to_ne_bytes()),
                (30, &6u16.to_ne_bytes()),
                (32, &s4),
                (36, &d4),
                (40, &s6),
                (56, &d6),
            ],
        )
    }

    /// A send system call on `sk` that returned `ret`.
    pub(crate) fn send(tid: u32, flags: u8, sk: u64, protocol: u16, ret: i32) -> Vec<u8> {
        record(
            2284,
            tid,
            flags,
            32,
            &[
                (8, &sk.to_ne_bytes()),
                (16, &2u16.to_ne_bytes()),
                (18, &protocol.to_ne_bytes()),
                (20, &ret.to_ne_bytes()),
            ],
        )
    }

    /// Task `tid` creating `child` (a thread with `thread`) named `comm`.
    pub(crate) fn fork(tid: u32, child: u32, comm: &str, thread: bool) -> Vec<u8> {
        let mut name = [0u8; 16];
        name[..comm.len()].copy_from_slice(comm.as_bytes());
        let flags: u64 = if thread { 0x3d_0f00 } else { 0x120_0000 };
        record(
            205,
            tid,
            0,
            48,
            &[
                (8, &child.to_ne_bytes()),
                (12, &name),
                (32, &flags.to_ne_bytes()),
            ],
        )
    }

    /// Task `tid` (formerly `old_tid`) running `path`.
    pub(crate) fn exec(tid: u32, old_tid: u32, path: &str) -> Vec<u8> {
        let loc = (24u32) | (((path.len() + 1) as u32) << 16);
        let mut r = record(
            365,
            tid,
            0,
            24,
            &[
                (8, &loc.to_ne_bytes()),
                (12, &tid.to_ne_bytes()),
                (16, &old_tid.to_ne_bytes()),
            ],
        );
        r.extend(path.as_bytes());
        r.push(0);
        r
    }

    /// Task `tid` exiting, its process with it when `group_dead`.
    pub(crate) fn exit(tid: u32, group_dead: bool) -> Vec<u8> {
        record(
            369,
            tid,
            0,
            40,
            &[(24, &tid.to_ne_bytes()), (32, &[u8::from(group_dead)])],
        )
    }

    /// The event a record decodes to.
    pub(crate) fn event(record: &[u8]) -> Event {
        match decoder().decode(record, Duration::from_micros(565_274_301)) {
            Some(Record::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    const C: &str = "127.0.0.1:53707";
    const S: &str = "127.0.0.1:13000";

    #[test]
    fn a_tcp_state_change_with_its_addresses() {
        let Event::State {
            ctx,
            sk,
            old,
            new,
            local,
            remote,
        } = event(&state(
            16845,
            0xffff_8881_06b8_3780,
            7,
            2,
            C.parse().unwrap(),
            S.parse().unwrap(),
        ))
        else {
            panic!("not a state change");
        };
        assert_eq!((ctx.tid, ctx.tgid, ctx.irq), (16845, 16845, false));
        assert_eq!(ctx.time, Duration::from_micros(565_274_301));
        assert_eq!(sk, 0xffff_8881_06b8_3780);
        assert_eq!((old, new), (7, 2));
        assert_eq!(local, Some(C.parse().unwrap()));
        assert_eq!(remote, Some(S.parse().unwrap()));
    }

    #[test]
    fn ipv6_addresses_come_from_the_record() {
        let (c, s): (SocketAddr, SocketAddr) = (
            "[fd00::2]:40000".parse().unwrap(),
            "[::1]:13000".parse().unwrap(),
        );
        let Event::State { local, remote, .. } = event(&state(1, 0xa, 2, 1, c, s)) else {
            panic!("not a state change");
        };
        assert_eq!((local, remote), (Some(c), Some(s)));
        // Another protocol's socket tells nothing.
        let mut udp = state(1, 0xa, 2, 1, c, s);
        udp[30..32].copy_from_slice(&17u16.to_ne_bytes());
        assert_eq!(decoder().decode(&udp, Duration::ZERO), None);
    }

    #[test]
    fn udp_sends_and_their_lengths() {
        assert_eq!(
            event(&send(15820, 0x04, 0xffff_8881_7b34_df80, 17, 5)),
            Event::Send {
                ctx: Ctx {
                    time: Duration::from_micros(565_274_301),
                    tid: 15820,
                    tgid: 15820,
                    comm: String::new(),
                    irq: false
                },
                len: 5,
                sk: 0xffff_8881_7b34_df80,
                tcp: false,
            }
        );
        // A send that failed (connection refused) sent nothing.
        let d = decoder();
        assert_eq!(d.decode(&send(1, 0, 0xa, 17, -111), Duration::ZERO), None);
        assert!(matches!(
            d.decode(&send(1, 0, 0xa, 6, 9), Duration::ZERO),
            Some(Record::Event(Event::Send { tcp: true, .. }))
        ));
        assert_eq!(d.decode(&send(1, 0, 0xa, 132, 9), Duration::ZERO), None);
        // In a softirq: nobody's doing.
        assert!(matches!(
            d.decode(&send(1, 0x10, 0xa, 6, 9), Duration::ZERO),
            Some(Record::Event(Event::Send {
                ctx: Ctx { irq: true, .. },
                ..
            }))
        ));
    }

    #[test]
    fn route_lookups_carry_the_flow_with_either_family() {
        let v4 = record(
            2264,
            19894,
            0,
            76,
            &[
                (24, &[17]),
                (28, &[0, 0, 0, 0]),
                (32, &[127, 0, 0, 1]),
                (56, &48510u16.to_ne_bytes()),
                (58, &22999u16.to_ne_bytes()),
            ],
        );
        assert_eq!(
            event(&v4),
            Event::Route {
                ctx: Ctx {
                    time: Duration::from_micros(565_274_301),
                    tid: 19894,
                    tgid: 19894,
                    comm: String::new(),
                    irq: false
                },
                proto: 17,
                sport: 48510,
                dport: 22999,
                src: Some("0.0.0.0".parse().unwrap()),
                dst: Some("127.0.0.1".parse().unwrap()),
                v6: false,
            }
        );
        let one: Ipv6Addr = "::1".parse().unwrap();
        let v6 = record(
            2315,
            20888,
            0x10,
            102,
            &[
                (47, &one.octets()),
                (64, &45285u16.to_ne_bytes()),
                (66, &22999u16.to_ne_bytes()),
                (68, &[17]),
            ],
        );
        let Event::Route {
            src,
            dst,
            v6,
            sport,
            ctx,
            ..
        } = event(&v6)
        else {
            panic!("not a route lookup");
        };
        assert_eq!(
            (src, dst, v6, sport, ctx.irq),
            (
                Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                Some(IpAddr::V6(one)),
                true,
                45285,
                true
            )
        );
    }

    #[test]
    fn process_events() {
        assert_eq!(
            event(&exec(17833, 17833, "/usr/bin/python3")),
            Event::Exec {
                ctx: Ctx {
                    time: Duration::from_micros(565_274_301),
                    tid: 17833,
                    tgid: 17833,
                    comm: String::new(),
                    irq: false
                },
                path: "/usr/bin/python3".into(),
                old_tid: 17833,
            }
        );
        assert!(matches!(
            event(&fork(1870, 1873, "bash", false)),
            Event::Fork { child: 1873, thread: false, comm, .. } if comm == "bash"
        ));
        assert!(matches!(
            event(&fork(17833, 17834, "lto cgu.3", true)),
            Event::Fork { child: 17834, thread: true, comm, .. } if comm == "lto cgu.3"
        ));
        assert!(matches!(
            event(&exit(17834, false)),
            Event::Exit { group_dead: false, ctx } if ctx.tid == 17834
        ));
        assert!(matches!(
            event(&exit(17833, true)),
            Event::Exit {
                group_dead: true,
                ..
            }
        ));
        // A name running past its record is not read beyond it.
        let mut bad = exec(1, 1, "/bin/sh");
        bad[8..12].copy_from_slice(&(24u32 | 400 << 16).to_ne_bytes());
        assert_eq!(decoder().decode(&bad, Duration::ZERO), None);
    }

    #[test]
    fn short_and_unknown_records_are_skipped() {
        let d = decoder();
        let whole = send(1, 0, 0xa, 17, 5);
        for len in 0..whole.len() - 8 {
            assert_eq!(d.decode(&whole[..len], Duration::ZERO), None, "{len} bytes");
        }
        assert_eq!(d.decode(&record(4242, 1, 0, 32, &[]), Duration::ZERO), None);
    }

    #[test]
    fn markers_are_ours_only() {
        let ours = record(5, std::process::id(), 0, 26, &[(16, b"net-trace\n")]);
        assert_eq!(
            decoder().decode(&ours, Duration::from_micros(625_424_962)),
            Some(Record::Marker(Duration::from_micros(625_424_962)))
        );
        // Task 1 is init's, never ours.
        let theirs = record(5, 1, 0, 26, &[(16, b"net-trace\n")]);
        assert_eq!(decoder().decode(&theirs, Duration::ZERO), None);
    }

    #[test]
    fn a_format_without_a_needed_field_is_refused() {
        let without = STATE.replace("saddr_v6", "other");
        assert!(Decoder::new([("sock/inet_sock_set_state", format(&without))], 1).is_none());
        assert!(Decoder::new([("sock/inet_sock_set_state", format(STATE))], 1).is_some());
        assert_eq!(Format::parse("no id"), None);
    }
}
