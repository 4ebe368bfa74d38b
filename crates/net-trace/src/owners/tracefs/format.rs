//! The text records of the instance's `trace_pipe`, parsed into events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::owners::table::{Ctx, Event};

/// `CLONE_THREAD` in `task_newtask`'s `clone_flags`.
const CLONE_THREAD: u64 = 0x0001_0000;

/// `AF_INET` as the records print it.
const AF_INET: u64 = 2;

/// A parsed record: the event, or one of our clock markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An event; its time is still on the trace clock.
    Event(Event),
    /// A marker written by this process, at this trace-clock time.
    Marker(Duration),
}

/// Parses one line of `trace_pipe` with `record-tgid` and `fields` on:
/// `python3-15820   (  15820) [000] .....  1896.147352: sock_send_length: sk=0x… (…) family=0x2 (2) protocol=0x11 (17) ret=0x5 (5) flags=0x0 (0)`.
/// `own_pid` tells our markers (which print as `UNKNOWN TYPE` in `fields`
/// mode) from other lines. `None` for lines it does not need.
pub fn parse_line(line: &str, own_pid: u32) -> Option<Record> {
    let line = line.trim_end();
    let close = line.find(") [")?;
    let (head, rest) = line.split_at(close);
    let open = head.rfind('(')?;
    let tgid_text = head.get(open + 1..)?.trim();
    let (comm, tid) = head.get(..open)?.trim_end().rsplit_once('-')?;
    let tid: u32 = tid.parse().ok()?;
    // `(-------)` when the kernel no longer knows the task's group.
    let tgid: u32 = tgid_text.parse().unwrap_or(tid);
    let rest = rest.get(3..)?; // after ") ["
    let (_cpu, rest) = rest.split_once("] ")?;
    let rest = rest.trim_start();
    let (flags, rest) = rest.split_once(' ')?;
    // The third flag is the interrupt context: `.` for a task.
    let irq = flags.chars().nth(2).is_some_and(|c| c != '.');
    let (ts, rest) = rest.trim_start().split_once(": ")?;
    let time = parse_time(ts)?;
    let (event, fields) = rest.split_once(": ").unwrap_or((rest, ""));
    let ctx = Ctx {
        time,
        tid,
        tgid,
        comm: comm.trim().to_string(),
        irq,
    };
    if event.starts_with("UNKNOWN TYPE") || event.starts_with("tracing_mark_write") {
        // The printed process id may be stale (see `Tasks`): the thread
        // id is checked against this process's own threads too.
        let ours = tgid == own_pid || Path::new(&format!("/proc/{own_pid}/task/{tid}")).exists();
        return ours.then_some(Record::Marker(time));
    }
    let f = Fields(fields);
    let event = match event {
        "inet_sock_set_state" => {
            if f.num("protocol")? != 6 {
                return None;
            }
            let v4 = f.num("family")? == AF_INET;
            let addr = |ip: &str, port: &str| -> Option<SocketAddr> {
                let port = u16::try_from(f.num(port)?).ok()?;
                // IPv6 addresses are not printed in `fields` mode: such a
                // socket's tuple is its ports alone, on the unspecified
                // address (see `table::ports_only`).
                if !v4 {
                    return Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
                }
                let raw = u32::try_from(f.num(ip)?).ok()?;
                // The field holds network-order bytes read as a host
                // (little-endian) integer.
                Some(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(raw.to_le_bytes())),
                    port,
                ))
            };
            Event::State {
                sk: f.num("skaddr")?,
                old: u8::try_from(f.num("oldstate")?).ok()?,
                new: u8::try_from(f.num("newstate")?).ok()?,
                local: addr("saddr", "sport"),
                remote: addr("daddr", "dport"),
                ctx,
            }
        }
        "fib_table_lookup" | "fib6_table_lookup" => {
            let v6 = event == "fib6_table_lookup";
            // IPv6 addresses are not printed in `fields` mode: the ports
            // alone then name the flow.
            let ip = |name: &str| -> Option<IpAddr> {
                let raw = u32::try_from(f.num(name)?).ok()?;
                (!v6).then(|| IpAddr::V4(Ipv4Addr::from(raw.to_le_bytes())))
            };
            Event::Route {
                proto: u8::try_from(f.num("proto")?).ok()?,
                sport: u16::try_from(f.num("sport")?).ok()?,
                dport: u16::try_from(f.num("dport")?).ok()?,
                src: ip("src"),
                dst: ip("dst"),
                v6,
                ctx,
            }
        }
        "sock_send_length" => {
            let tcp = match f.num("protocol")? {
                6 => true,
                17 => false,
                _ => return None,
            };
            // `ret` is an `int` printed as 32 bits: an error is
            // 0xffffff91 (-111), above `i32::MAX`.
            let ret = u32::try_from(f.num("ret")?).ok()?;
            Event::Send {
                len: (ret > 0 && ret <= i32::MAX.unsigned_abs()).then_some(ret)?,
                sk: f.num("sk")?,
                tcp,
                ctx,
            }
        }
        "sched_process_exec" => Event::Exec {
            path: f.text("filename")?.to_string(),
            old_tid: u32::try_from(f.num("old_pid")?).ok()?,
            ctx,
        },
        "task_newtask" => Event::Fork {
            child: u32::try_from(f.num("pid")?).ok()?,
            thread: f.num("clone_flags")? & CLONE_THREAD != 0,
            // A name may hold spaces: it runs up to the next field.
            comm: f.text_until("comm", " clone_flags=")?.to_string(),
            ctx,
        },
        "sched_process_exit" => Event::Exit {
            group_dead: f.num("group_dead")? != 0,
            ctx,
        },
        _ => return None,
    };
    Some(Record::Event(event))
}

/// `565.268121` → a duration.
fn parse_time(ts: &str) -> Option<Duration> {
    let (s, frac) = ts.trim().split_once('.')?;
    let s: u64 = s.parse().ok()?;
    let digits = frac.len().min(9);
    let frac: u64 = frac.get(..digits)?.parse().ok()?;
    let nanos = frac * 10u64.pow(9 - u32::try_from(digits).ok()?);
    Some(Duration::new(s, u32::try_from(nanos).ok()?))
}

/// The `name=value` fields of a `fields`-mode record.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    /// The raw text after `name=` up to the next space.
    fn text(&self, name: &str) -> Option<&str> {
        let mut at = 0;
        while let Some(found) = self.0.get(at..)?.find(name) {
            let start = at + found;
            let before_ok = start == 0 || self.0.as_bytes().get(start - 1) == Some(&b' ');
            let after = start + name.len();
            if before_ok && self.0.as_bytes().get(after) == Some(&b'=') {
                let value = self.0.get(after + 1..)?;
                return Some(value.split(' ').next().unwrap_or(value));
            }
            at = after;
        }
        None
    }

    /// The raw text after `name=` up to `next` (for text that may hold
    /// spaces).
    fn text_until(&self, name: &str, next: &str) -> Option<&str> {
        let start = self.0.find(&format!("{name}="))? + name.len() + 1;
        let rest = self.0.get(start..)?;
        Some(rest.find(next).map_or(rest, |end| &rest[..end]))
    }

    /// A number: `0x4a (74)` is read from its hex part, `(1)` (booleans
    /// and other bytes) and `':'(58)` (a printable byte) from inside the
    /// parentheses.
    fn num(&self, name: &str) -> Option<u64> {
        let t = self.text(name)?;
        if let Some(hex) = t.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else {
            let inner = t.rsplit_once('(').map_or(t, |(_, n)| n);
            inner.trim_end_matches(')').parse().ok()
        }
    }
}

/// Records captured from this kernel's instance, for the tests here and
/// beside the other parts of the reader.
#[cfg(test)]
pub(super) mod samples {
    use super::*;

    // Records captured from this kernel's instance with record-tgid and
    // fields on.
    pub(crate) const SYN_SENT: &str = "         python3-16845   (  16845) [001] .....   565.274301: inet_sock_set_state: skaddr=0xffff888106b83780 (-131387231815808) oldstate=0x7 (7) newstate=0x2 (2) sport=0x0 (0) dport=0xd1cb (53707) family=0x2 (2) protocol=0x6 (6) saddr=0x100007f (16777343) daddr=0x100007f (16777343) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>\n";
    pub(crate) const SEND: &str = "         python3-15820   (  15820) [000] .N...  1896.147352: sock_send_length: sk=0xffff88817b34df80 (-131385277489280) family=0x2 (2) protocol=0x11 (17) ret=0x5 (5) flags=0x0 (0)\n";
    pub(crate) const REFUSED: &str = "         python3-15820   (  15820) [000] .....  1896.147508: sock_send_length: sk=0xffff88817b34c540 (-131385277496000) family=0x2 (2) protocol=0x11 (17) ret=0xffffff91 (-111) flags=0x0 (0)\n";
    pub(crate) const EXEC: &str = "         python3-17833   (  17833) [001] .....   623.092839: sched_process_exec: filename=/usr/bin/python3 pid=0x45a9 (17833) old_pid=0x45a9 (17833)\n";
    pub(crate) const FORK: &str = "            bash-1870    (   1870) [000] ..... 10214.609862: task_newtask: pid=0x751 (1873) comm=bash clone_flags=0x1200000 (18874368) oom_score_adj=0x0 (0)\n";
    pub(crate) const THREAD: &str = "         python3-17833   (  17833) [001] .....   623.112629: task_newtask: pid=0x45aa (17834) comm=python3 clone_flags=0x3d0f00 (4001536) oom_score_adj=0x0 (0)\n";
    pub(crate) const THREAD_EXIT: &str = "         python3-17834   (  17833) [000] .....   623.112783: sched_process_exit: comm=python3 pid=0x45aa (17834) prio=0x78 (120) group_dead=(0)\n";
    pub(crate) const EXIT: &str = "         python3-17833   (  17833) [001] .....   623.115779: sched_process_exit: comm=python3 pid=0x45a9 (17833) prio=0x78 (120) group_dead=(1)\n";
    pub(crate) const UDP_ROUTE: &str = "         python3-19894   (  19894) [001] .....   293.587396: fib_table_lookup: tb_id=0xfe (254) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) proto=(17) tos=(0) scope=(0) flags=(0) src=0x0 (0) dst=0x100007f (16777343) gw4=0x0 (0) gw6=<INVALID-SIZE> sport=0xbd7e (48510) dport=0x59d7 (22999) name=lo\n";
    pub(crate) const UDP6_ROUTE: &str = "         python3-20888   (  20888) [000] .....   308.886267: fib6_table_lookup: tb_id=0xff (255) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) flowlabel=0x0 (0) tos=(0) scope=(0) flags=(0) src=<INVALID-SIZE> dst=<INVALID-SIZE> sport=0xb0e5 (45285) dport=0x59d7 (22999) proto=(17) rt_type=(0) name=lo gw=<INVALID-SIZE>\n";
    pub(crate) const ICMP6_ROUTE: &str = "         python3-20888   (  20888) [000] b.s2.   308.886305: fib6_table_lookup: tb_id=0xff (255) err=0x0 (0) oif=0x0 (0) iif=0x1 (1) flowlabel=0x0 (0) tos=(0) scope=(0) flags=(0) src=<INVALID-SIZE> dst=<INVALID-SIZE> sport=0x0 (0) dport=0x0 (0) proto=':'(58) rt_type=(0) name=lo gw=<INVALID-SIZE>\n";
    pub(crate) const MARKER: &str =
        "            bash-17850   (  17850) [001] ...1.   625.424962: UNKNOWN TYPE 5\n";
    pub(crate) const SPACED: &str = "       lto cgu.3-16506   (  16464) [001] .....   548.774893: sched_process_exit: comm=lto cgu.3 pid=0x404a (16506) prio=0x78 (120) group_dead=(0)\n";

    pub(crate) fn event(line: &str) -> Event {
        match parse_line(line, 1) {
            Some(Record::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    #[test]
    fn syn_sent_in_the_connecting_task() {
        let Event::State {
            ctx,
            sk,
            old,
            new,
            local,
            remote,
        } = event(SYN_SENT)
        else {
            panic!("not a state change");
        };
        assert_eq!((ctx.tid, ctx.tgid, ctx.irq), (16845, 16845, false));
        assert_eq!(ctx.time, Duration::from_micros(565_274_301));
        assert_eq!(sk, 0xffff_8881_06b8_3780);
        assert_eq!((old, new), (7, 2));
        assert_eq!(local, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(remote, Some("127.0.0.1:53707".parse().unwrap()));
    }

    #[test]
    fn udp_sends_and_their_lengths() {
        assert_eq!(
            event(SEND),
            Event::Send {
                ctx: Ctx {
                    time: Duration::from_micros(1_896_147_352),
                    tid: 15820,
                    tgid: 15820,
                    comm: "python3".into(),
                    irq: false
                },
                len: 5,
                sk: 0xffff_8881_7b34_df80,
                tcp: false,
            }
        );
        // A send that failed (connection refused) sent nothing.
        assert_eq!(parse_line(REFUSED, 1), None);
        assert!(matches!(
            parse_line(&SEND.replace("0x11 (17)", "0x6 (6)"), 1),
            Some(Record::Event(Event::Send { tcp: true, .. }))
        ));
        assert_eq!(
            parse_line(&SEND.replace("0x11 (17)", "0x84 (132)"), 1),
            None
        );
    }

    #[test]
    fn route_lookups_carry_the_flow() {
        assert_eq!(
            event(UDP_ROUTE),
            Event::Route {
                ctx: Ctx {
                    time: Duration::from_micros(293_587_396),
                    tid: 19894,
                    tgid: 19894,
                    comm: "python3".into(),
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
        let Event::Route {
            src,
            dst,
            v6,
            sport,
            ..
        } = event(UDP6_ROUTE)
        else {
            panic!("not a route lookup");
        };
        assert_eq!((src, dst, v6, sport), (None, None, true, 45285));
        let Event::Route { ctx, proto, .. } = event(ICMP6_ROUTE) else {
            panic!("not a route lookup");
        };
        assert_eq!((ctx.irq, proto), (true, 58));
    }

    #[test]
    fn process_events() {
        assert!(matches!(event(EXEC), Event::Exec { path, .. } if path == "/usr/bin/python3"));
        assert!(
            matches!(event(EXEC), Event::Exec { old_tid: 17833, .. }),
            "{:?}",
            event(EXEC)
        );
        assert_eq!(
            event(FORK),
            Event::Fork {
                ctx: Ctx {
                    time: Duration::from_micros(10_214_609_862),
                    tid: 1870,
                    tgid: 1870,
                    comm: "bash".into(),
                    irq: false
                },
                child: 1873,
                thread: false,
                comm: "bash".into(),
            }
        );
        assert!(matches!(
            event(THREAD),
            Event::Fork {
                child: 17834,
                thread: true,
                ..
            }
        ));
        assert!(matches!(
            event(&FORK.replace("comm=bash", "comm=lto cgu.3")),
            Event::Fork { comm, .. } if comm == "lto cgu.3"
        ));
        let Event::Exit { ctx, group_dead } = event(THREAD_EXIT) else {
            panic!("not an exit");
        };
        assert_eq!((ctx.tid, ctx.tgid, group_dead), (17834, 17833, false));
        assert!(matches!(
            event(EXIT),
            Event::Exit {
                group_dead: true,
                ..
            }
        ));
        let Event::Exit { ctx, .. } = event(SPACED) else {
            panic!("not an exit");
        };
        assert_eq!(
            (ctx.comm.as_str(), ctx.tid, ctx.tgid),
            ("lto cgu.3", 16506, 16464)
        );
    }

    #[test]
    fn markers_are_ours_only() {
        assert_eq!(
            parse_line(MARKER, 17850),
            Some(Record::Marker(Duration::from_micros(625_424_962)))
        );
        assert_eq!(parse_line(MARKER, 1), None);
        assert_eq!(parse_line("garbage", 1), None);
        assert_eq!(parse_line("", 1), None);
    }
}
