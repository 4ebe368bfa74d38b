//! TCP sockets: each generation of a socket address, the processes that
//! acted on it and sent on it, the listeners; and a TCP frame's verdict.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::event::Ctx;
use super::route::{SEND_AFTER, TCP};
use super::{CLOCK_SLACK, Table, norm, tuple_key};
use crate::owners::{Answer, Owner, Query, Reason, Role};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`).
pub(super) mod state {
    /// `TCP_SYN_SENT`.
    pub(crate) const SYN_SENT: u8 = 2;
    /// `TCP_SYN_RECV`.
    pub(crate) const SYN_RECV: u8 = 3;
    /// `TCP_CLOSE`.
    pub(crate) const CLOSE: u8 = 7;
    /// `TCP_LISTEN`.
    pub(crate) const LISTEN: u8 = 10;
    /// `TCP_FIN_WAIT1`: the owner closed or shut down first.
    pub(crate) const FIN_WAIT1: u8 = 4;
    /// `TCP_LAST_ACK`: the owner closed after the peer did.
    pub(crate) const LAST_ACK: u8 = 9;
}

/// A connecting socket's SYN_SENT comes microseconds before its first SYN;
/// a generation that began with a SYN must have its socket created this
/// shortly before, or the socket is some other generation's.
pub(super) const CONNECT_LEAD: Duration = Duration::from_millis(100);

/// A TCP segment no send record follows is its socket owner's only if the
/// owner sent on the socket this shortly before it (the body `sendfile`
/// sends after a header `write`, a segment the kernel held back).
const SENT_BEFORE: Duration = Duration::from_secs(1);

/// Senders remembered per TCP socket: two already say it is shared.
const MAX_SENDERS: usize = 4;

/// Send records kept per TCP socket.
const SOCK_SENDS: usize = 32;

/// One generation of a TCP socket.
#[derive(Debug, Clone)]
pub(super) struct Sock {
    opened: Duration,
    closed: Option<Duration>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    /// Processes seen acting on this socket in process context.
    actors: Vec<u32>,
    /// When a process closed or shut it down (FIN_WAIT1, LAST_ACK): the
    /// kernel finishes its teardown on the closer's behalf, even after the
    /// closer has exited.
    shut: Option<Duration>,
    /// Processes seen sending on it, with the time each first did: another
    /// than its owner means the socket is shared (a child, or a process it
    /// was handed to).
    senders: Vec<(u32, Duration)>,
    /// Its latest send system calls (`sock_send_length`: recorded as each
    /// returns), oldest first.
    sends: VecDeque<(u32, Duration)>,
}

impl Sock {
    /// A generation opened at `opened`, of which nothing else is known yet.
    fn opened(opened: Duration) -> Self {
        Self {
            opened,
            closed: None,
            local: None,
            remote: None,
            actors: Vec::new(),
            shut: None,
            senders: Vec::new(),
            sends: VecDeque::new(),
        }
    }

    /// Whether a process other than `pid` had sent on it by `time`.
    fn sent_by_other(&self, pid: u32, time: Duration) -> bool {
        self.senders
            .iter()
            .any(|(p, at)| *p != pid && *at <= time + CLOCK_SLACK)
    }
}

/// Whose send carried a TCP frame's payload (see `Table::data_sender`).
enum Carried {
    /// The socket's owner's, or no record says otherwise.
    Owner,
    /// Another process's.
    Other,
    /// Its record may still come.
    Wait,
}

/// Processes holding a listening socket found before the events began.
#[derive(Debug, Clone)]
pub(crate) struct InitialListener {
    /// Its local address.
    pub(crate) local: SocketAddr,
    /// Every process holding it.
    pub(crate) holders: Vec<Owner>,
}

impl Table {
    /// Listeners that existed before the events began (from /proc): each
    /// is a socket generation opened at time zero.
    pub(crate) fn add_listener(&mut self, l: &InitialListener) {
        let actors = l.holders.iter().map(|o| o.pid).collect();
        for o in &l.holders {
            self.name_as(o);
        }
        let idx = self.socks.len();
        self.socks.push(Some(Sock {
            local: Some(norm(l.local)),
            actors,
            ..Sock::opened(Duration::ZERO)
        }));
        self.listeners.push(idx);
    }

    /// `sock:inet_sock_set_state`: the socket at `sk` went from `old` to
    /// `new`.
    pub(super) fn state_change(
        &mut self,
        ctx: &Ctx,
        sk: u64,
        old: u8,
        new: u8,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let Some(idx) = self.generation(ctx, sk, old, new) else {
            return;
        };
        let Some(Some(sock)) = self.socks.get_mut(idx) else {
            return;
        };
        // Only the changes a process makes by its own system calls prove
        // it holds the socket: connect (SYN_SENT), listen, close or
        // shutdown (FIN_WAIT1, LAST_ACK). The others follow a received
        // segment and run in whichever task processes it, flagged as a
        // softirq or not (on loopback, now and then the peer's).
        let by_owner = matches!(
            new,
            state::SYN_SENT | state::FIN_WAIT1 | state::LAST_ACK | state::LISTEN
        );
        if by_owner && !ctx.irq && !sock.actors.contains(&ctx.tgid) {
            sock.actors.push(ctx.tgid);
        }
        if matches!(new, state::FIN_WAIT1 | state::LAST_ACK) && !ctx.irq {
            sock.shut.get_or_insert(ctx.time);
        }
        self.addresses(sk, idx, new, local, remote);
        if new == state::CLOSE {
            self.close(idx, ctx.time);
            if self.current.get(&sk) == Some(&idx) {
                self.current.remove(&sk);
                self.connecting.remove(&sk);
                self.previous.insert(sk, idx);
            }
        }
    }

    /// The socket generation a state change at `sk` is about (its slot),
    /// starting a new one when the change opens a socket or the address
    /// was freed since.
    fn generation(&mut self, ctx: &Ctx, sk: u64, old: u8, new: u8) -> Option<usize> {
        let opens = (old == state::CLOSE && (new == state::SYN_SENT || new == state::LISTEN))
            || (old == state::LISTEN && new == state::SYN_RECV);
        // A socket already closed before this event cannot be its subject:
        // the address was freed and belongs to a new socket now, whose
        // opening was not seen (or is still to be read).
        let stale = self
            .current
            .get(&sk)
            .and_then(|&i| self.socks.get(i)?.as_ref())
            .is_some_and(|s| s.closed.is_some_and(|c| c + CLOCK_SLACK < ctx.time));
        if opens || stale || !self.current.contains_key(&sk) {
            let idx = self.socks.len();
            self.socks.push(Some(Sock::opened(ctx.time)));
            if let Some(prev) = self.current.insert(sk, idx) {
                self.close(prev, ctx.time);
                self.previous.insert(sk, prev);
            }
            self.connecting.remove(&sk);
            if new == state::LISTEN {
                self.listeners.push(idx);
            }
        }
        let &idx = self.current.get(&sk)?;
        // An event older than the current socket's opening is the previous
        // socket's at this address (freed and reused in between).
        match self.socks.get(idx) {
            Some(Some(now)) if !opens && ctx.time < now.opened => self.previous.get(&sk).copied(),
            _ => Some(idx),
        }
    }

    /// Learns the addresses of the socket in slot `idx` from a state
    /// change to `new`.
    fn addresses(
        &mut self,
        sk: u64,
        idx: usize,
        new: u8,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let Some(Some(sock)) = self.socks.get_mut(idx) else {
            return;
        };
        // The source port is still 0 at SYN_SENT: the tuple comes with the
        // socket's next state change.
        let full = |a: Option<SocketAddr>| a.filter(|a| a.port() != 0).map(norm);
        if new == state::LISTEN {
            sock.local = local.map(norm);
        } else if sock.local.is_none()
            && let (Some(l), Some(r)) = (full(local), full(remote))
        {
            sock.local = Some(l);
            sock.remote = Some(r);
            self.by_tuple.entry((l, r)).or_default().push(idx);
            self.connecting.remove(&sk);
        } else if new == state::SYN_SENT
            && let Some(r) = full(remote)
        {
            self.connecting.insert(sk, r);
        }
    }

    /// Records a process sending on the TCP socket now at `sk`.
    pub(super) fn tcp_sender(&mut self, sk: u64, ctx: &Ctx) {
        let Some(&idx) = self.current.get(&sk) else {
            return;
        };
        let Some(Some(sock)) = self.socks.get_mut(idx) else {
            return;
        };
        if sock.closed.is_some() {
            return;
        }
        if sock.sends.len() >= SOCK_SENDS {
            sock.sends.pop_front();
        }
        sock.sends.push_back((ctx.tgid, ctx.time));
        if !sock.senders.iter().any(|(p, _)| *p == ctx.tgid) && sock.senders.len() < MAX_SENDERS {
            sock.senders.push((ctx.tgid, ctx.time));
        }
    }

    fn close(&mut self, idx: usize, time: Duration) {
        if let Some(Some(s)) = self.socks.get_mut(idx) {
            s.closed.get_or_insert(time);
        }
    }

    /// Forgets sockets closed before `horizon`; their slots stay (as
    /// `None`) so indices remain valid.
    pub(super) fn forget_sockets(&mut self, horizon: Duration) {
        for slot in &mut self.socks {
            if slot
                .as_ref()
                .is_some_and(|s| s.closed.is_some_and(|c| c < horizon))
            {
                *slot = None;
            }
        }
        let socks = &self.socks;
        self.by_tuple.retain(|_, v| {
            v.retain(|i| socks.get(*i).is_some_and(Option::is_some));
            !v.is_empty()
        });
        self.listeners
            .retain(|i| socks.get(*i).is_some_and(Option::is_some));
    }

    /// Whether a socket generation for this 4-tuple began after `time`:
    /// whatever /proc shows for it now is not the frame's socket.
    pub(crate) fn reopened_after(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        time: Duration,
    ) -> bool {
        self.by_tuple
            .get(&tuple_key(local, remote))
            .is_some_and(|v| {
                v.iter().any(|i| {
                    self.socks
                        .get(*i)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.opened > time + CLOCK_SLACK)
                })
            })
    }

    /// Whether a process other than `pid` acted or sent on the TCP socket
    /// of frame `q`, as far as the events tell.
    pub(super) fn tcp_touched_by_other(&self, pid: u32, q: &Query) -> bool {
        let key = tuple_key(norm(q.src), norm(q.dst));
        self.live_sockets(key, q)
            .iter()
            .any(|s| s.actors.iter().any(|p| *p != pid) || s.senders.iter().any(|(p, _)| *p != pid))
    }

    /// The verdict on a TCP frame.
    pub(super) fn lookup_tcp(&self, q: &Query) -> Answer<Owner> {
        let (src, dst) = (norm(q.src), norm(q.dst));
        let key = tuple_key(src, dst);
        let live = self.live_sockets(key, q);
        if live.len() > 1 {
            // Two sockets with one 4-tuple at once: another namespace's.
            return Answer::Unknown(Reason::Unproven);
        }
        if let Some(sock) = live.first()
            && let [pid] = sock.actors[..]
        {
            return self.sole_actor(sock, pid, src, q);
        }
        if live.first().is_some_and(|s| !s.actors.is_empty()) {
            // Two processes acted on it: it was handed from one to the
            // other (or shared), and /proc would name whoever holds it
            // when read, for frames sent before it got there too.
            return Answer::Unknown(Reason::HandedOver);
        }
        if q.role == Role::Server {
            // The accepted socket's own senders: a process other than the
            // listener's (a forking server's child) makes it nobody's.
            return match self.listener_owner(src, q) {
                Answer::Known(o) if live.iter().any(|s| s.sent_by_other(o.pid, q.time)) => {
                    Answer::Unknown(Reason::Unproven)
                }
                v => v,
            };
        }
        if live.is_empty()
            && let Some(v) = self.route_owner(TCP, src, dst, q)
        {
            return v;
        }
        // A connect whose tuple the next state change will tell.
        let waiting = self.connecting.values().any(|r| *r == key.1);
        if waiting {
            Answer::Pending
        } else {
            Answer::Unknown(Reason::Unproven)
        }
    }

    /// The generations of the frame's 4-tuple whose lifetimes cover its
    /// stream (for a stream seen from its SYN, a connecting socket created
    /// just before it).
    fn live_sockets(&self, key: (SocketAddr, SocketAddr), q: &Query) -> Vec<&Sock> {
        self.by_tuple
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.opened <= q.time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= q.stream_start)
                    && (!q.syn
                        || q.role == Role::Server
                        || s.opened + CONNECT_LEAD >= q.stream_start)
            })
            .collect()
    }

    /// The verdict on a frame of `sock`, which one process alone, `pid`,
    /// was seen acting on.
    fn sole_actor(&self, sock: &Sock, pid: u32, src: SocketAddr, q: &Query) -> Answer<Owner> {
        // An accepted socket's only actor is the process that closed
        // it. It held the socket from the start only if it is the
        // listener's process or one that process forked; another (the
        // socket handed to it, or a reader of /proc whose brief hold
        // on the file outlived the owner's close, so the last close
        // ran in its task) sent none of the frames before its close.
        // A frame within the clocks' slack of the close may be before
        // it: unknown too (the closer's own FIN among them).
        if q.role == Role::Server
            && sock.shut.is_some_and(|t| q.time <= t + CLOCK_SLACK)
            && !self
                .listener_since(src, q.time)
                .is_some_and(|(holder, since)| self.may_have_accepted(pid, holder, since))
        {
            return Answer::Unknown(Reason::HandedOver);
        }
        // A child forked since may be the one sending; and a process
        // gone by the frame's time, without having closed the socket,
        // left it to another (a child, or one it handed the socket to).
        let left_open =
            !self.alive_at(pid, q.time) && sock.shut.is_none_or(|t| t > q.time + CLOCK_SLACK);
        if self.may_share(pid, sock.opened, q.time) || left_open || sock.sent_by_other(pid, q.time)
        {
            return Answer::Unknown(Reason::Unproven);
        }
        match self.data_sender(sock, q) {
            Carried::Owner => self.known(pid, q.stream_start, q.time),
            Carried::Wait => Answer::Pending,
            Carried::Other => Answer::Unknown(Reason::Unproven),
        }
    }

    /// For a TCP frame with payload: whether the send system call that
    /// carried it was the socket's owner's. Its bytes left during a send
    /// still running at the frame's time, whose record comes as the call
    /// returns: the socket's first send record after the frame says whose
    /// it was (another process's — a socket passed to it, writing a large
    /// block — leaves the frame unproven). When none comes within
    /// [`SEND_AFTER`], the frame was sent later by the kernel, or by
    /// `sendfile` (which records nothing), or by a call still running: the
    /// owner's only if the owner itself sent on the socket shortly before.
    fn data_sender(&self, sock: &Sock, q: &Query) -> Carried {
        let [pid] = sock.actors[..] else {
            return Carried::Owner;
        };
        if q.len == 0 {
            return Carried::Owner;
        }
        let after = sock
            .sends
            .iter()
            .find(|(_, t)| *t + CLOCK_SLACK >= q.time && *t <= q.time + SEND_AFTER);
        match after {
            Some((p, _)) if *p == pid => return Carried::Owner,
            Some(_) => return Carried::Other,
            None => {}
        }
        if self
            .events_until
            .is_some_and(|until| until < q.time + SEND_AFTER)
        {
            return Carried::Wait;
        }
        let owner_just_before = sock
            .sends
            .iter()
            .any(|(p, t)| *p == pid && *t <= q.time + CLOCK_SLACK && *t + SENT_BEFORE >= q.time);
        if owner_just_before {
            Carried::Owner
        } else {
            Carried::Other
        }
    }

    /// The one process that can hold the listening socket at `local`.
    fn listener_owner(&self, local: SocketAddr, q: &Query) -> Answer<Owner> {
        let matches: Vec<&Sock> = self
            .listeners
            .iter()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.local.is_some_and(|l| {
                    l.port() == local.port()
                        && (l.ip() == local.ip()
                            || (l.ip().is_unspecified()
                                && matches!(
                                    (l.ip(), local.ip()),
                                    (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), _)
                                )))
                }) && s.opened <= q.time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= q.time)
            })
            .collect();
        let [sock] = matches[..] else {
            return Answer::Unknown(Reason::Unproven);
        };
        let [pid] = sock.actors[..] else {
            return Answer::Unknown(Reason::Unproven);
        };
        // A child process forked after listen() may hold it too.
        if self.may_share(pid, sock.opened, q.time) {
            return Answer::Unknown(Reason::Unproven);
        }
        self.known(pid, q.time, q.time)
    }

    /// The one process holding the listening socket a connection to
    /// `local` arrived at, at `time` — children it forked may serve the
    /// connection, so this says whose server it is, not who sent a frame.
    pub(crate) fn listener_holder(&self, local: SocketAddr, time: Duration) -> Option<Owner> {
        let (pid, _) = self.listener_since(local, time)?;
        self.owner_at(pid, time)
    }

    /// The one process holding the listening socket for `local` at `time`,
    /// and since when that socket was seen listening.
    fn listener_since(&self, local: SocketAddr, time: Duration) -> Option<(u32, Duration)> {
        let local = norm(local);
        let mut found: Option<(u32, Duration)> = None;
        for s in self
            .listeners
            .iter()
            .filter_map(|i| self.socks.get(*i)?.as_ref())
            .filter(|s| {
                s.local.is_some_and(|l| {
                    l.port() == local.port() && (l.ip() == local.ip() || l.ip().is_unspecified())
                }) && s.opened <= time + CLOCK_SLACK
                    && s.closed.is_none_or(|c| c + CLOCK_SLACK >= time)
            })
        {
            for &pid in &s.actors {
                match found {
                    Some((p, _)) if p != pid => return None,
                    Some((p, since)) => found = Some((p, since.min(s.opened))),
                    None => found = Some((pid, s.opened)),
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{CLOCK_SLACK, Event, Table};
    use super::state;
    use crate::owners::{Query, Role};

    #[test]
    fn port_reuse_is_a_new_owner() {
        let mut t = Table::new();
        connection(&mut t, 0, 100, 0xa);
        connection(&mut t, 50, 200, 0xa);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 51, 50, 74))), Some(200));
        // A third generation nobody was seen creating is nobody's.
        assert_eq!(t.lookup(&q(true, Role::Client, 91, 90, 74)), UNPROVEN);
    }

    #[test]
    fn a_late_event_of_a_freed_socket_stays_with_it() {
        use state::*;
        let mut t = Table::new();
        let other = "127.0.0.1:40001";
        // Client 100's socket at 0xa: connect, established, close begun.
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
        t.apply(&st(2, 100, false, 0xa, ESTABLISHED, 4, C, S));
        // Freed and reused by client 200 at 5; the old socket's last
        // change (at 4, in a softirq on another CPU) is read after it.
        t.apply(&st(5, 200, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        t.apply(&st(4, 300, true, 0xa, 5, CLOSE, C, S));
        t.apply(&st(5, 200, true, 0xa, SYN_SENT, ESTABLISHED, other, S));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        let second = Query {
            src: other.parse().unwrap(),
            ..q(true, Role::Client, 6, 5, 74)
        };
        assert_eq!(pid(t.lookup(&second)), Some(200));
    }

    #[test]
    fn a_decoy_on_the_same_local_port_never_matches() {
        use state::*;
        let mut t = Table::new();
        // pid 300 holds 127.0.0.1:40000 towards another server.
        t.apply(&st(
            0,
            300,
            false,
            0xd,
            CLOSE,
            SYN_SENT,
            "127.0.0.1:0",
            "127.0.0.1:9999",
        ));
        t.apply(&st(
            0,
            300,
            true,
            0xd,
            SYN_SENT,
            ESTABLISHED,
            C,
            "127.0.0.1:9999",
        ));
        assert_eq!(t.lookup(&q(true, Role::Client, 10, 10, 74)), UNPROVEN);
        assert_eq!(t.lookup(&q(true, Role::Server, 10, 10, 74)), UNPROVEN);
    }

    #[test]
    fn server_frames_go_to_the_single_listener_or_the_closer() {
        use state::*;
        let mut t = Table::new();
        t.apply(&st(
            0,
            500,
            false,
            0x1,
            CLOSE,
            LISTEN,
            "127.0.0.1:13000",
            "0.0.0.0:0",
        ));
        // The SYN-ACK: no accepted socket yet.
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 10, 10, 74))), Some(500));
        // A thread of the server does not share the listener with another
        // process.
        t.apply(&Event::Fork {
            ctx: ctx(11, 500, "server", false),
            child: 501,
            thread: true,
            comm: "server".into(),
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 12, 12, 74))), Some(500));
        // A forked child may hold the listener: only the accepted socket's
        // closer is proof then.
        t.apply(&Event::Fork {
            ctx: ctx(13, 500, "server", false),
            child: 600,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(t.lookup(&q(true, Role::Server, 14, 14, 74)), UNPROVEN);
        t.apply(&st(15, 500, true, 0x2, LISTEN, SYN_RECV, S, C));
        t.apply(&st(15, 500, true, 0x2, SYN_RECV, ESTABLISHED, S, C));
        t.apply(&st(16, 600, false, 0x2, ESTABLISHED, 4, S, C));
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 15, 14, 74))), Some(600));
    }

    #[test]
    fn a_listener_is_held_by_its_one_process_or_by_nobody() {
        use state::*;
        let listen = |t: &mut Table, at: u64, pid: u32, sk: u64, local: &str| {
            t.apply(&st(at, pid, false, sk, CLOSE, LISTEN, local, "0.0.0.0:0"));
        };
        let s = S.parse().unwrap();
        let mut t = Table::new();
        listen(&mut t, 0, 500, 0x1, "0.0.0.0:13000");
        assert_eq!(t.listener_holder(s, ms(10)).map(|o| o.pid), Some(500));
        assert_eq!(t.listener_holder(s, ms(10)), t.owner_at(500, ms(10)));
        // Not before it listened.
        assert_eq!(t.listener_holder(s, ms(0) - CLOCK_SLACK * 2), None);
        // Another process listening on the same port (SO_REUSEPORT): whose
        // server it is, is not known.
        listen(&mut t, 20, 501, 0x2, S);
        assert_eq!(t.listener_holder(s, ms(30)), None);
    }

    /// Server 500 listening on S from `listen` (ms), and socket 0x2 from C
    /// accepted at 5 ms and closed last by `closer` at 20 ms.
    fn accepted_then_closed_by(t: &mut Table, listen: u64, closer: u32) {
        use state::*;
        t.apply(&st(
            listen,
            500,
            false,
            0x1,
            CLOSE,
            LISTEN,
            "127.0.0.1:13000",
            "0.0.0.0:0",
        ));
        t.apply(&st(5, 500, true, 0x2, LISTEN, SYN_RECV, S, C));
        t.apply(&st(5, 500, true, 0x2, SYN_RECV, ESTABLISHED, S, C));
        t.apply(&st(20, closer, false, 0x2, ESTABLISHED, 4, S, C));
    }

    #[test]
    fn an_accepted_socket_closed_by_another_process_is_not_its_before_the_close() {
        // Process 700, not the server's nor forked by it, was handed the
        // socket and closed it last.
        let mut t = Table::new();
        accepted_then_closed_by(&mut t, 0, 700);
        // The server's frames before that close are not 700's.
        for at in [6, 10] {
            assert_eq!(t.lookup(&q(true, Role::Server, at, 5, 74)), HANDED_OVER);
        }
        // Its FIN, sent by that close, may be within the clocks' slack of
        // a frame before it: unknown too; what the kernel sends on the
        // closer's behalf afterwards is the closer's.
        assert_eq!(t.lookup(&q(true, Role::Server, 20, 5, 66)), HANDED_OVER);
        assert_eq!(pid(t.lookup(&q(true, Role::Server, 25, 5, 66))), Some(700));

        // A child the server forked before it listened cannot have
        // accepted: it was handed the socket.
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 500, "server", false),
            child: 600,
            thread: false,
            comm: "grabber".into(),
        });
        accepted_then_closed_by(&mut t, 1, 600);
        assert_eq!(t.lookup(&q(true, Role::Server, 10, 5, 74)), HANDED_OVER);
    }

    #[test]
    fn a_socket_its_owner_left_open_at_exit_is_nobody_s_after() {
        let mut t = connected_client();
        // Gone at 10 with the socket still open (another holds it now).
        t.apply(&Event::Exit {
            ctx: ctx(10, 100, "client", false),
            group_dead: true,
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 5, 0, 74))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 20, 0, 74)), UNPROVEN);
        // Closed by its owner, who then exits: the kernel's last ACK after
        // the exit is still the closer's side.
        let mut t = Table::new();
        connection(&mut t, 0, 200, 0xb);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 7, 0, 66))), Some(200));
    }

    #[test]
    fn a_socket_another_process_sends_on_is_nobody_s() {
        let mut t = connected_client();
        let send_on = tcp_send;
        send_on(&mut t, 1, 100);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 2, 0, 0))), Some(100));
        // Handed over a Unix socket to 300, which sends too.
        send_on(&mut t, 5, 300);
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 2, 0, 0))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 6, 0, 0)), UNPROVEN);
    }

    #[test]
    fn proc_s_holder_is_not_the_sender_when_another_process_was_on_the_socket() {
        use state::*;
        let mut t = connected_client();
        let frame = q(true, Role::Client, 2, 0, 10);
        // Only its connector acted and sent: /proc's holder may be it.
        tcp_send(&mut t, 1, 100);
        assert!(!t.others_on_socket(100, &frame));
        // Passed to 300, which sends; 100 exits and 300 holds it alone.
        tcp_send(&mut t, 5, 300);
        for holder in [100, 300] {
            assert!(t.others_on_socket(holder, &frame));
        }
        // One that only shut it down is on it too.
        let mut t = connected_client();
        t.apply(&st(5, 300, false, 0xa, ESTABLISHED, FIN_WAIT1, C, S));
        assert!(t.others_on_socket(300, &frame));
    }

    #[test]
    fn a_socket_two_processes_acted_on_is_handed_over() {
        use state::*;
        let mut t = connected_client();
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 2, 0, 0))), Some(100));
        // Passed over a Unix socket to 300, which shuts it down and holds
        // it: /proc names 300 now, but neither the client's frames before
        // the hand-over nor any after are proven, so /proc must not be
        // asked about them either.
        t.apply(&st(5, 300, false, 0xa, ESTABLISHED, FIN_WAIT1, C, S));
        for at in [2, 6] {
            assert_eq!(t.lookup(&q(true, Role::Client, at, 0, 0)), HANDED_OVER);
        }
    }

    #[test]
    fn a_large_write_by_the_process_a_socket_was_passed_to_is_not_the_owners() {
        let mut t = connected_client();
        let send_on = tcp_send;
        let data = |at: u64| Query {
            len: 10,
            ..q(true, Role::Client, at, 0, 0)
        };
        // The owner's write: its frames leave before its record.
        send_on(&mut t, 2, 100);
        assert_eq!(pid(t.lookup(&data(1))), Some(100));
        // 300, handed the socket, writes a large block: its frames leave
        // from 5 ms, its record comes as the call returns at 10 ms.
        send_on(&mut t, 10, 300);
        assert_eq!(t.lookup(&data(6)), UNPROVEN);
        assert_eq!(t.lookup(&data(12)), UNPROVEN);
        // A bare ACK is not a send's.
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 0))), Some(100));
        // A frame whose record has not been read yet waits for it.
        let mut t = connected_client();
        send_on(&mut t, 1, 100);
        t.events_until(ms(5));
        assert_eq!(t.lookup(&data(3)), PENDING);
        send_on(&mut t, 6, 100);
        assert_eq!(pid(t.lookup(&data(3))), Some(100));
        // None comes (sent later by the kernel, or by sendfile after a
        // header write): the owner's, as it sent just before.
        t.events_until(ms(2000));
        assert_eq!(pid(t.lookup(&data(50))), Some(100));
        // Long after its last send, with no record after: unproven.
        assert_eq!(t.lookup(&data(1500)), UNPROVEN);
        // A socket its connector never sent on, passed to 300 whose long
        // write returns a second later: none of its frames is the
        // connector's.
        let mut t = connected_client();
        t.events_until(ms(3000));
        assert_eq!(t.lookup(&data(50)), UNPROVEN);
        send_on(&mut t, 1050, 300);
        assert_eq!(t.lookup(&data(50)), UNPROVEN);
        assert_eq!(t.lookup(&data(1000)), UNPROVEN);
    }

    #[test]
    fn a_client_that_forked_after_connecting_shares_its_socket() {
        let mut t = connected_client();
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        t.apply(&Event::Fork {
            ctx: ctx(2, 100, "client", false),
            child: 101,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 1, 0, 74))), Some(100));
        assert_eq!(t.lookup(&q(true, Role::Client, 3, 0, 74)), UNPROVEN);
        t.apply(&Event::Exit {
            ctx: ctx(4, 101, "child", false),
            group_dead: true,
        });
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 5, 0, 74))), Some(100));
    }

    #[test]
    fn ipv6_sockets_are_known_by_their_addresses_like_ipv4_ones() {
        use state::*;
        let mut t = Table::new();
        let (c, srv) = ("[::1]:40000", "[::1]:13000");
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "[::1]:0", srv));
        t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, c, srv));
        let v6 = |src: &str, dst: &str| Query {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ..q(true, Role::Client, 1, 0, 94)
        };
        assert_eq!(pid(t.lookup(&v6(c, srv))), Some(100));
        // The IPv4 flow with those ports is another socket's.
        assert_eq!(t.lookup(&q(true, Role::Client, 1, 0, 74)), UNPROVEN);
        // Another IPv6 socket with the same ports, to another address, is
        // another flow: each keeps its own owner.
        let other = "[fd00::1]:13000";
        t.apply(&st(
            0,
            200,
            false,
            0xb,
            CLOSE,
            SYN_SENT,
            "[fd00::2]:0",
            other,
        ));
        t.apply(&st(
            0,
            200,
            true,
            0xb,
            SYN_SENT,
            ESTABLISHED,
            "[fd00::2]:40000",
            other,
        ));
        assert_eq!(pid(t.lookup(&v6(c, srv))), Some(100));
        assert_eq!(pid(t.lookup(&v6("[fd00::2]:40000", other))), Some(200));
        // An IPv4 connection made through an IPv6 socket (an IPv4-mapped
        // address) is the IPv4 flow's.
        t.apply(&st(
            0,
            300,
            false,
            0xc,
            CLOSE,
            SYN_SENT,
            "[::ffff:127.0.0.1]:0",
            "[::ffff:127.0.0.1]:13000",
        ));
        t.apply(&st(
            0,
            300,
            true,
            0xc,
            SYN_SENT,
            ESTABLISHED,
            "[::ffff:127.0.0.1]:41000",
            "[::ffff:127.0.0.1]:13000",
        ));
        let mapped = Query {
            src: "127.0.0.1:41000".parse().unwrap(),
            dst: "127.0.0.1:13000".parse().unwrap(),
            ..q(true, Role::Client, 1, 0, 74)
        };
        assert_eq!(pid(t.lookup(&mapped)), Some(300));
    }

    #[test]
    fn a_connect_waits_for_its_tuple() {
        use state::*;
        let mut t = Table::new();
        t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
        assert_eq!(t.lookup(&q(true, Role::Client, 0, 0, 74)), PENDING);
        t.apply(&st(1, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
        assert_eq!(pid(t.lookup(&q(true, Role::Client, 0, 0, 74))), Some(100));
    }
}
