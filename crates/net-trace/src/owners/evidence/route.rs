//! Route lookups and UDP sends: a datagram's verdict, and a TCP stream's
//! by its connect's route when its socket's state changes do not tell.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::event::Ctx;
use super::socket::CONNECT_LEAD;
use super::{CLOCK_SLACK, Table, norm};
use crate::owners::{Answer, Owner, Query, Reason};

/// A datagram's send system call began at most this long before its
/// capture stamp (the record's process is what is checked, not which
/// record is nearest, so a wide window costs nothing in precision).
const CORROBORATE_WINDOW: Duration = Duration::from_millis(50);

/// A datagram's `sock_send_length` record is written as its send system
/// call returns, after the frame was stamped: microseconds later, or tens
/// of milliseconds when the sender is preempted on the way out on a busy
/// machine. A UDP lookup that nothing else confirms waits for events this
/// far past the frame.
pub(crate) const SEND_AFTER: Duration = Duration::from_millis(100);

/// Event times are never late against frame times (the clock offset is
/// measured from markers and only ever errs early, by microseconds), and a
/// datagram's route lookup comes before its capture stamp; so a flow's
/// route counts for frames from this long after it was looked up.
const ROUTE_SLACK: Duration = Duration::from_micros(5);

/// Send records are kept this long: they only ever match frames within
/// [`CORROBORATE_WINDOW`] of them, asked about within the caller's bounded wait.
const SEND_RETAIN: Duration = Duration::from_secs(5);

/// Route-lookup runs kept per flow, at most (older ones are dropped).
const MAX_RUNS: usize = 16;

/// UDP sockets tracked by kernel address, at most (past it the map starts
/// over; a socket seen again is tracked afresh).
const MAX_UDP_SOCKETS: usize = 65_536;

/// `IPPROTO_TCP`.
pub(super) const TCP: u8 = 6;

/// `IPPROTO_UDP`.
pub(super) const UDP: u8 = 17;

/// The processes seen sending on one UDP socket address.
#[derive(Debug, Clone)]
pub(super) struct UdpSenders {
    /// The latest.
    latest: u32,
    /// The one before it, if another.
    before: Option<u32>,
    /// When anyone last sent.
    last: Duration,
}

/// Consecutive route lookups of one flow by one process.
#[derive(Debug, Clone)]
pub(super) struct Run {
    tgid: u32,
    first: Duration,
    last: Duration,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    v6: bool,
}

impl Run {
    /// Whether this run's flow is the frame's (`src` → `dst`, normalised).
    fn fits(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        self.v6 == src.is_ipv6()
            && self.dst.is_none_or(|d| d == dst.ip())
            && self.src.is_none_or(|s| s == src.ip())
    }
}

impl Table {
    /// `sock:sock_send_length` of the UDP socket at `sk`, in process
    /// context.
    pub(super) fn udp_sent(&mut self, ctx: &Ctx, len: u32, sk: u64) {
        // A socket sent on by two processes in turn (inherited, or passed
        // over a Unix socket): neither's route lookups nor /proc tell
        // whose its datagrams are (a connected socket routes once, at
        // connect, and again only when routes change, so the one that
        // routed last need not be the one that sent). A socket's address
        // is reused once it is freed, and no event says when a UDP socket
        // closes: another process sending from it may be on a new socket,
        // so only a return to the earlier sender (A, B, A) proves the
        // socket is one both hold.
        if sk != 0 {
            let at = ctx.time;
            match self.udp_socks.get_mut(&sk) {
                Some(seen) if seen.latest == ctx.tgid => seen.last = at,
                Some(seen) => {
                    let back = seen.before == Some(ctx.tgid);
                    let other = seen.latest;
                    *seen = UdpSenders {
                        latest: ctx.tgid,
                        before: Some(other),
                        last: at,
                    };
                    if back {
                        self.udp_shared.insert(other, at);
                        self.udp_shared.insert(ctx.tgid, at);
                    }
                }
                None => {
                    if self.udp_socks.len() >= MAX_UDP_SOCKETS {
                        self.udp_socks.clear();
                    }
                    let first = UdpSenders {
                        latest: ctx.tgid,
                        before: None,
                        last: at,
                    };
                    self.udp_socks.insert(sk, first);
                }
            }
        }
        self.sends.add(ctx.time, ctx.tgid, len);
        self.forget_sends();
        self.sweep();
    }

    /// A route lookup of the flow `(protocol, local port, remote port)`
    /// between `src` and `dst` made in process context.
    pub(super) fn routed(
        &mut self,
        ctx: &Ctx,
        flow: (u8, u16, u16),
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
        v6: bool,
    ) {
        let (_, sport, dport) = flow;
        if sport == 0 || dport == 0 {
            return;
        }
        let ip = |a: Option<IpAddr>| {
            a.map(crate::owners::canonical)
                .filter(|a| !a.is_unspecified())
        };
        self.add_route(
            flow,
            Run {
                tgid: ctx.tgid,
                first: ctx.time,
                last: ctx.time,
                src: ip(src),
                dst: ip(dst),
                v6,
            },
        );
    }

    /// Extends the flow's latest run when the same process routes it again,
    /// else starts a run.
    fn add_route(&mut self, key: (u8, u16, u16), run: Run) {
        let runs = self.routes.entry(key).or_default();
        if let Some(last) = runs.last_mut()
            && last.tgid == run.tgid
            && last.src == run.src
            && last.dst == run.dst
            && last.v6 == run.v6
        {
            last.first = last.first.min(run.first);
            last.last = last.last.max(run.last);
            return;
        }
        if runs.len() >= MAX_RUNS {
            runs.remove(0);
        }
        runs.push(run);
    }

    /// Forgets sends too old to corroborate any frame still asked about.
    fn forget_sends(&mut self) {
        self.sends
            .forget_before(self.newest.saturating_sub(SEND_RETAIN));
    }

    /// Forgets UDP sockets last sent on, and sharing last seen, before
    /// `horizon`.
    pub(super) fn forget_udp_sockets(&mut self, horizon: Duration) {
        self.udp_socks.retain(|_, seen| seen.last >= horizon);
        self.udp_shared.retain(|_, last| *last >= horizon);
    }

    /// Whether `pid` sent on a UDP socket another process sent on too.
    pub(super) fn shares_udp(&self, pid: u32) -> bool {
        self.udp_shared.contains_key(&pid)
    }

    /// Forgets route lookups last made before `horizon`.
    pub(super) fn forget_routes(&mut self, horizon: Duration) {
        self.routes.retain(|_, runs| {
            runs.retain(|r| r.last >= horizon);
            !runs.is_empty()
        });
    }

    /// Whether route lookups of the flow `src` → `dst` by a process other
    /// than `pid` were seen: then /proc's view of the port now (perhaps
    /// another program's by then) does not name the flow's frames.
    pub(crate) fn routed_by_other(
        &self,
        tcp: bool,
        src: SocketAddr,
        dst: SocketAddr,
        pid: u32,
    ) -> bool {
        let (src, dst) = (norm(src), norm(dst));
        let proto = if tcp { TCP } else { UDP };
        self.routes
            .get(&(proto, src.port(), dst.port()))
            .is_some_and(|runs| runs.iter().any(|r| r.fits(src, dst) && r.tgid != pid))
    }

    /// The process whose route lookups prove the flow `src` → `dst` is its
    /// socket's at `q.time`: the latest run on the flow begun by then (for
    /// a TCP stream seen from its SYN, begun as the stream did), no other
    /// process on the flow still alive, and no child forked since that may
    /// share the socket. `None` when no lookup of this flow was seen.
    pub(super) fn route_owner(
        &self,
        proto: u8,
        src: SocketAddr,
        dst: SocketAddr,
        q: &Query,
    ) -> Option<Answer<Owner>> {
        let runs = self.routes.get(&(proto, src.port(), dst.port()))?;
        let mut fitting = runs
            .iter()
            .filter(|r| r.fits(src, dst) && r.first <= q.time + ROUTE_SLACK)
            .peekable();
        fitting.peek()?;
        let fitting: Vec<&Run> = fitting.collect();
        let latest = fitting.iter().max_by_key(|r| r.first)?;
        let pid = latest.tgid;
        // A TCP stream's connect comes before its first frame, and, for a
        // stream seen from its SYN, just before.
        if proto == TCP
            && (latest.first > q.stream_start + CLOCK_SLACK
                || (q.syn && latest.first + CONNECT_LEAD < q.stream_start))
        {
            return Some(Answer::Unknown(Reason::Unproven));
        }
        // Another process on this flow not gone by the frame: a socket
        // shared, or the same ports in another namespace.
        if fitting
            .iter()
            .any(|r| r.tgid != pid && self.alive_at(r.tgid, q.time))
        {
            return Some(Answer::Unknown(Reason::Unproven));
        }
        let since = fitting
            .iter()
            .filter(|r| r.tgid == pid)
            .map(|r| r.first)
            .min()
            .unwrap_or(latest.first);
        // A TCP stream is one socket's, from its first frame; a UDP flow
        // may pass from program to program.
        let gone_at_start = proto == TCP && !self.alive_at(pid, q.stream_start);
        if self.may_share(pid, since, q.time) || gone_at_start {
            return Some(Answer::Unknown(Reason::Unproven));
        }
        Some(self.known(pid, q.time, q.time))
    }

    /// Whether a datagram this table does not prove now can be proven by
    /// no send record still to come: its flow's process has no route
    /// lookup near it and another process already made a send of its
    /// length around it. Asked once the events up to the frame are in, so
    /// its owner's /proc holder is read without waiting for the records
    /// after it.
    pub(crate) fn udp_settled(&self, q: &Query) -> bool {
        let (src, dst) = (norm(q.src), norm(q.dst));
        let Some(Answer::Known(owner)) = self.route_owner(UDP, src, dst, q) else {
            return false;
        };
        let from = q.time.saturating_sub(CORROBORATE_WINDOW);
        self.sends
            .around(q.len, from, q.time + SEND_AFTER, owner.pid)
            .other
    }

    pub(super) fn lookup_udp(&self, q: &Query) -> Answer<Owner> {
        let (src, dst) = (norm(q.src), norm(q.dst));
        let Some(verdict) = self.route_owner(UDP, src, dst, q) else {
            return Answer::Unknown(Reason::Unproven);
        };
        let Answer::Known(owner) = verdict else {
            return verdict;
        };
        if self.shares_udp(owner.pid) {
            return Answer::Unknown(Reason::HandedOver);
        }
        // The datagram itself: that process routed this very flow just
        // before it (each send of an unconnected socket does), or made a
        // send of its payload's length around it (the record comes as the
        // system call returns, just after the frame left).
        let from = q.time.saturating_sub(CORROBORATE_WINDOW);
        let routed = self
            .routes
            .get(&(UDP, src.port(), dst.port()))
            .is_some_and(|runs| {
                runs.iter().any(|r| {
                    r.tgid == owner.pid
                        && r.fits(src, dst)
                        && r.first <= q.time + ROUTE_SLACK
                        && r.last >= from
                })
            });
        if routed {
            return Answer::Known(owner);
        }
        // The send records say which process sent how much, not on which
        // socket: a send of that length by another process in the same
        // window (a socket it was handed, or a flow it routed elsewhere)
        // leaves the datagram unproven.
        let sent = self
            .sends
            .around(q.len, from, q.time + SEND_AFTER, owner.pid);
        if sent.own && !sent.other {
            Answer::Known(owner)
        } else {
            Answer::Unknown(Reason::Unproven)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Event, Table};
    use super::{TCP, UDP};
    use crate::owners::{Query, Role};

    fn send(t: &mut Table, at: u64, pid: u32, irq: bool, len: u32) {
        t.apply(&Event::Send {
            ctx: ctx(at, pid, "sender", irq),
            len,
            sk: 0,
            tcp: false,
        });
    }

    #[test]
    fn a_datagram_another_process_matched_in_length_is_settled_unproven() {
        let mut t = Table::new();
        route(&mut t, 10, 800, UDP, C, S);
        let frame = q(false, Role::Client, 500, 500, 9);
        // Its own send may still come: not settled.
        assert!(!t.udp_settled(&frame));
        send(&mut t, 501, 800, false, 9);
        assert!(!t.udp_settled(&frame));
        assert_eq!(pid(t.lookup(&frame)), Some(800));
        // Another process's send of that length: no record to come can
        // prove it any more.
        send(&mut t, 502, 801, false, 9);
        assert!(t.udp_settled(&frame));
        assert_eq!(pid(t.lookup(&frame)), None);
        // A flow no route lookup proves may still be proven by events
        // still to come (its process described, its route read late).
        let other = Query {
            dst: "127.0.0.1:13001".parse().unwrap(),
            ..frame
        };
        assert!(!t.udp_settled(&other));
    }

    #[test]
    fn a_datagram_is_confirmed_by_its_senders_route_or_send_around_it() {
        let mut t = Table::new();
        // A connected socket routes its flow once, at connect: a datagram
        // sent much later on it...
        route(&mut t, 10, 800, UDP, C, S);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 10, 10, 9))), Some(800));
        assert_eq!(t.lookup(&q(false, Role::Client, 500, 500, 9)), UNPROVEN);
        // ...is confirmed by its send, whose record comes as the system
        // call returns, just after the frame was stamped.
        send(&mut t, 501, 800, false, 9);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 500, 500, 9))),
            Some(800)
        );
        // A send of another length confirms nothing.
        assert_eq!(t.lookup(&q(false, Role::Client, 500, 500, 8)), UNPROVEN);
        // Long after it, that send proves nothing.
        assert_eq!(t.lookup(&q(false, Role::Client, 900, 900, 9)), UNPROVEN);
    }

    #[test]
    fn a_udp_socket_two_processes_send_on_is_neither_s() {
        let on = |t: &mut Table, at: u64, pid: u32, sk: u64| {
            t.apply(&Event::Send {
                ctx: ctx(at, pid, "sender", false),
                len: 9,
                sk,
                tcp: false,
            });
        };
        let mut t = Table::new();
        // 800 sends on a socket whose route lookup (at connect) was not
        // seen: nothing proves its datagrams.
        on(&mut t, 1, 800, 0x5);
        assert_eq!(t.lookup(&q(false, Role::Client, 1, 1, 9)), UNPROVEN);
        // It passed the socket to 801, whose send routes anew; both send.
        // 801's route lookup is not proof of 800's datagram after it, nor
        // of its own; nor is /proc's holder of the socket.
        route(&mut t, 300, 801, UDP, C, S);
        on(&mut t, 300, 801, 0x5);
        on(&mut t, 301, 800, 0x5);
        for at in [300, 301] {
            assert_eq!(t.lookup(&q(false, Role::Client, at, 1, 9)), HANDED_OVER);
        }
        let frame = q(false, Role::Client, 301, 1, 9);
        assert!(t.others_on_socket(800, &frame) && t.others_on_socket(801, &frame));
        // Another process on a socket of its own is not concerned.
        on(&mut t, 302, 900, 0x6);
        assert!(!t.others_on_socket(900, &frame));
        // Nor are processes whose new sockets have the address of one
        // another process sent from before (it was freed and reused).
        on(&mut t, 304, 901, 0x6);
        on(&mut t, 305, 902, 0x6);
        for p in [900, 901, 902] {
            assert!(!t.others_on_socket(p, &frame));
        }
    }

    #[test]
    fn udp_needs_the_flows_route_and_that_processs_send() {
        let mut t = Table::new();
        // A send of the frame's length alone proves nothing.
        send(&mut t, 0, 700, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 0, 0, 52)), UNPROVEN);
        // With the flow's route lookup by that process, it does.
        route(&mut t, 0, 700, UDP, "0.0.0.0:40000", S);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // Another process's send of that length nearer the frame changes
        // nothing: the flow is 700's.
        send(&mut t, 1, 701, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 1, 0, 52))), Some(700));
        // Long after the route, a frame of another length: no send of
        // 700's proves it.
        assert_eq!(t.lookup(&q(false, Role::Client, 200, 0, 60)), UNPROVEN);
        // The server's reply flow is the server's.
        route(&mut t, 2, 900, UDP, S, C);
        send(&mut t, 2, 900, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Server, 2, 0, 52))), Some(900));
        // A send recorded in interrupt context is not the process's.
        send(&mut t, 300, 900, true, 80);
        assert_eq!(t.lookup(&q(false, Role::Server, 300, 0, 80)), UNPROVEN);
        // Another destination port is another flow.
        let other = Query {
            dst: "127.0.0.1:13001".parse().unwrap(),
            ..q(false, Role::Client, 1, 0, 52)
        };
        assert_eq!(t.lookup(&other), UNPROVEN);
    }

    #[test]
    fn a_handed_over_udp_socket_is_not_proven_by_its_connector_s_sends() {
        let mut t = Table::new();
        // 700 connects (routes the flow) and sends once.
        route(&mut t, 0, 700, UDP, C, S);
        send(&mut t, 0, 700, false, 52);
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // Later the socket is 701's (passed over a Unix socket), and 700
        // sends datagrams of the same length elsewhere: a datagram of the
        // flow is proven by neither.
        send(&mut t, 200, 700, false, 52);
        send(&mut t, 200, 701, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 200, 0, 52)), UNPROVEN);
        // With only 700 sending that length, it is 700's again.
        send(&mut t, 500, 700, false, 52);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 500, 0, 52))),
            Some(700)
        );
    }

    #[test]
    fn a_reused_udp_port_is_the_new_process_s_and_a_shared_one_nobody_s() {
        let mut t = Table::new();
        route(&mut t, 0, 700, UDP, C, S);
        send(&mut t, 0, 700, false, 52);
        t.apply(&Event::Exit {
            ctx: ctx(5, 700, "sender", false),
            group_dead: true,
        });
        route(&mut t, 10, 701, UDP, C, S);
        send(&mut t, 10, 701, false, 52);
        assert_eq!(
            pid(t.lookup(&q(false, Role::Client, 10, 10, 52))),
            Some(701)
        );
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 0, 0, 52))), Some(700));
        // A third process on the same flow while 701 lives (the same ports
        // in another namespace): nobody's.
        route(&mut t, 20, 702, UDP, C, S);
        send(&mut t, 20, 702, false, 52);
        assert_eq!(t.lookup(&q(false, Role::Client, 20, 20, 52)), UNPROVEN);
        // The events saw others on this flow: /proc's holder does not name it.
        let (c, srv) = (C.parse().unwrap(), S.parse().unwrap());
        assert!(t.routed_by_other(false, c, srv, 999));
        assert!(!t.routed_by_other(false, srv, c, 999) && !t.routed_by_other(true, c, srv, 999));
        t.apply(&Event::Exit {
            ctx: ctx(30, 702, "sender", false),
            group_dead: true,
        });
        assert!(t.routed_by_other(false, c, srv, 701));
    }

    #[test]
    fn a_tcp_connect_s_route_names_a_stream_the_states_do_not() {
        let mut t = Table::new();
        route(&mut t, 0, 300, TCP, C, S);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 0, 0, 74))), Some(300));
        // A stream begun long after that connect is not its.
        assert_eq!(t.lookup(&q(true, Role::Client, 500, 500, 74)), UNPROVEN);
        // Nor are the server's frames.
        assert_eq!(t.lookup(&q(true, Role::Server, 0, 0, 74)), UNPROVEN);
    }
}
