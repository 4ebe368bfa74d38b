//! The server: the listener loop (net-core's acceptor) over the registry
//! of connections, each served by `conn`; settings, the registry and the
//! choice of response live below it and are re-exported here.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net_core::acceptor::{self, Acceptor};

use crate::Result;
pub use crate::config::{
    Config, DEFAULT_HEADER_TIMEOUT, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_PORT, DEFAULT_WRITE_TIMEOUT,
};
pub use crate::registry::{EVICTION_GRACE, Entry, Phase, Registry};
pub use crate::route::respond;

/// Sets the listener options every accepted socket inherits (TCP_NODELAY,
/// the read and write time-outs) and TCP_DEFER_ACCEPT, and records in
/// `config` that connections need not set them again. Call it before the
/// listener's address is announced: a connection queued before the options
/// are set would not have them.
pub fn prepare_listener(listener: &TcpListener, config: &mut Config) {
    config.inherited = net_core::sock::set_accepted_defaults(
        listener,
        true,
        Some(config.header_timeout),
        Some(config.write_timeout),
    );
    #[cfg(target_os = "linux")]
    if let Err(e) = crate::sys::defer_accept(listener, config.header_timeout) {
        log::debug!("TCP_DEFER_ACCEPT: {e}");
    }
    // A request is answered as soon as its head is in: the response
    // carries the ACK of the request (one packet fewer per connection). A
    // connection waiting for the rest of a request acknowledges what came
    // at once (`conn::Input::ack_before_waiting`).
    if !net_core::sock::delay_first_acks(listener) {
        log::debug!("ACKs of requests go out in packets of their own");
    }
}

/// Serves `listener` until `config.shutdown` fires, then lets requests in
/// flight finish (a few seconds at most); those still going are then cut,
/// and logged as cut.
pub fn run(listener: TcpListener, config: Config) -> Result<()> {
    let registry = Arc::new(Registry::default());
    let acceptor = {
        let registry = registry.clone();
        Acceptor::new("http-server")
            .max_connections(config.max_connections)
            .max_accepting(accepting_threads())
            .on_full(move || registry.make_room())
    };
    {
        let registry = registry.clone();
        config.shutdown.on_fire(move || registry.close_idle());
    }
    let shutdown = config.shutdown.clone();
    let log = config.log.clone();
    let config = Arc::new(config);
    let live = registry.clone();
    let parking = parking(&config, &registry);
    let stop_parking = parking.clone();
    acceptor.run_holding(listener, &shutdown, move |stream, peer, slot| {
        let stream = Arc::new(stream);
        let (id, entry) = registry.add(stream.clone());
        let result = crate::conn::serve(&stream, peer, &config, &entry, parking.is_some(), false);
        #[cfg(target_os = "linux")]
        if let (Ok(crate::conn::Served::Idle(idle_until)), Some(parking)) = (&result, &parking) {
            let conn = crate::park::Parked {
                stream,
                peer,
                id,
                entry,
                slot,
                idle_until: *idle_until,
            };
            parking.park(conn, true);
            return Ok(());
        }
        registry.remove(id);
        drop(slot);
        match result {
            Err(e) if is_disconnect(&e) => Ok(()),
            other => other
                .map(|_| ())
                .map_err(|e| acceptor::conn_error(peer, "connection with", e)),
        }
    })?;
    #[cfg(target_os = "linux")]
    if let Some(parking) = stop_parking {
        parking.stop();
    }
    #[cfg(not(target_os = "linux"))]
    drop(stop_parking);
    // Responses still going when the drain time ran out are cut now, while
    // the process still runs, so each is logged with the bytes it sent.
    if !live.is_empty() {
        live.abort_all();
        let deadline = Instant::now() + ABORT_GRACE;
        while !live.is_empty() && Instant::now() < deadline {
            std::thread::sleep(ABORT_POLL);
        }
    }
    log.flush();
    Ok(())
}

/// Spare threads that may wait in `accept` at once: one per CPU the
/// server may use, so every CPU can take a new client at once, and no
/// more, so that a client arriving while threads are busy is taken by
/// one of them when it is done instead of waking another (the other
/// spares wait in net-core's reserve). Measured with 32 clients making
/// a connection per request on 2 CPUs: 1.1 → 0.5 context switches per
/// request.
fn accepting_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where idle keep-alive connections wait without a thread (Linux; see
/// [`crate::park`]); None elsewhere, or when no epoll set can be made, and
/// idle connections then keep their threads.
#[cfg(target_os = "linux")]
fn parking(config: &Arc<Config>, registry: &Arc<Registry>) -> Option<Arc<crate::park::Parking>> {
    crate::park::Parking::new(config.clone(), registry.clone())
        .inspect_err(|e| log::warn!("idle connections keep their threads: {e}"))
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn parking(_: &Arc<Config>, _: &Arc<Registry>) -> Option<std::convert::Infallible> {
    None
}

/// At shutdown, how long the connections cut after the drain time may
/// take to log their ends: their threads only have to see the error and
/// write a line.
pub const ABORT_GRACE: Duration = Duration::from_millis(500);

/// How often to look whether they have.
const ABORT_POLL: Duration = Duration::from_millis(10);

pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}
