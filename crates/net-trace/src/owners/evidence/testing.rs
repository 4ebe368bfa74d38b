//! What the table's tests share: times, records and questions as
//! literals.

use std::net::SocketAddr;
use std::time::Duration;

use super::Table;
use super::event::{Ctx, Event};
use super::route::UDP;
use super::socket::state;
use crate::owners::{Answer, Owner, Query, Reason, Role};

/// Nothing proves an owner.
pub(super) const UNPROVEN: Answer<Owner> = Answer::Unknown(Reason::Unproven);

/// The socket passed between processes: not even /proc may say.
pub(super) const HANDED_OVER: Answer<Owner> = Answer::Unknown(Reason::HandedOver);

/// Evidence may still come.
pub(super) const PENDING: Answer<Owner> = Answer::Pending;

/// `TCP_ESTABLISHED`.
pub(super) const ESTABLISHED: u8 = 1;

pub(super) const C: &str = "127.0.0.1:40000";

pub(super) const S: &str = "127.0.0.1:13000";

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(1_000_000 + n)
}

pub(super) fn ctx(t: u64, pid: u32, comm: &str, irq: bool) -> Ctx {
    Ctx {
        time: ms(t),
        tid: pid,
        tgid: pid,
        comm: comm.into(),
        irq,
    }
}

#[allow(clippy::too_many_arguments)] // one state-change record, field by field
pub(super) fn st(
    t: u64,
    pid: u32,
    irq: bool,
    sk: u64,
    old: u8,
    new: u8,
    l: &str,
    r: &str,
) -> Event {
    Event::State {
        ctx: ctx(t, pid, "client", irq),
        sk,
        old,
        new,
        local: Some(l.parse().unwrap()),
        remote: Some(r.parse().unwrap()),
    }
}

/// One client connection by `pid` on socket `sk` from `t` to `t + 5`.
pub(super) fn connection(t: &mut Table, at: u64, pid: u32, sk: u64) {
    use state::*;
    t.apply(&st(at, pid, false, sk, CLOSE, SYN_SENT, "127.0.0.1:0", S));
    t.apply(&st(at, pid, true, sk, SYN_SENT, ESTABLISHED, C, S));
    t.apply(&st(at + 5, pid, false, sk, ESTABLISHED, 4, C, S));
    t.apply(&st(at + 5, pid, true, sk, 5, CLOSE, C, S));
    t.apply(&Event::Exit {
        ctx: ctx(at + 6, pid, "client", false),
        group_dead: true,
    });
}

/// A frame's question: for UDP `len` is the datagram's payload; for
/// TCP the frame is a bare segment (a handshake or an ACK, `len` its
/// size on the wire, unused) — see `tcp_data` for one with payload.
pub(super) fn q(tcp: bool, role: Role, t: u64, start: u64, len: u32) -> Query {
    let len = if tcp { 0 } else { len };
    let (src, dst) = match role {
        Role::Client => (C, S),
        Role::Server => (S, C),
    };
    Query {
        tcp,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        time: ms(t),
        stream_start: ms(start),
        role,
        syn: true,
        len,
    }
}

pub(super) fn pid(v: Answer<Owner>) -> Option<u32> {
    match v {
        Answer::Known(o) => Some(o.pid),
        _ => None,
    }
}

/// A table where 100 connected TCP socket 0xa from C to S.
pub(super) fn connected_client() -> Table {
    use state::*;
    let mut t = Table::new();
    t.apply(&st(0, 100, false, 0xa, CLOSE, SYN_SENT, "127.0.0.1:0", S));
    t.apply(&st(0, 100, true, 0xa, SYN_SENT, ESTABLISHED, C, S));
    t
}

/// `pid`'s send of 10 bytes on TCP socket 0xa, recorded at `at`.
pub(super) fn tcp_send(t: &mut Table, at: u64, pid: u32) {
    t.apply(&Event::Send {
        ctx: ctx(at, pid, "sender", false),
        len: 10,
        sk: 0xa,
        tcp: true,
    });
}

/// A route lookup of the flow `from` → `to` by `pid` at `at`.
pub(super) fn route(t: &mut Table, at: u64, pid: u32, proto: u8, from: &str, to: &str) {
    let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
    t.apply(&Event::Route {
        ctx: ctx(at, pid, "sender", false),
        proto,
        sport: from.port(),
        dport: to.port(),
        src: Some(from.ip()),
        dst: Some(to.ip()),
        v6: false,
    });
}

/// A datagram of 52 bytes from C to S, sent by `pid` running `comm`.
pub(super) fn datagram(t: &mut Table, at: u64, pid: u32, comm: &str) {
    let (from, to): (SocketAddr, SocketAddr) = (C.parse().unwrap(), S.parse().unwrap());
    t.apply(&Event::Route {
        ctx: ctx(at, pid, comm, false),
        proto: UDP,
        sport: from.port(),
        dport: to.port(),
        src: Some(from.ip()),
        dst: Some(to.ip()),
        v6: false,
    });
}
