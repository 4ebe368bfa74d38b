//! A shutdown handle fired by Ctrl-C / SIGTERM (or by code), which wakes
//! threads blocked in `accept` or `recv`.
//!
//! A flag alone cannot wake a thread blocked in a system call, so each
//! blocking socket registers a *waker* that makes its call return: for a
//! listener, a connection to itself; for a UDP socket, an empty datagram to
//! itself. The woken loop checks [`Shutdown::is_fired`] and stops. This works
//! the same on Linux, macOS and Windows, without signals or `unsafe`.

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::endpoint::Host;
use crate::error::{Error, Result};

/// How long a waker's self-connection may take: it is on the same machine.
const WAKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a server takes at most to exit after Ctrl-C or SIGTERM: its
/// connections in flight get [`DRAIN_TIMEOUT`](crate::acceptor::DRAIN_TIMEOUT),
/// then its access log and its diagnostics get
/// [`LOG_DRAIN_TIMEOUT`](crate::output::LOG_DRAIN_TIMEOUT) each to be
/// written, whatever state its stdout and stderr are in (nobody reading,
/// a full disk): the contract's "a few seconds".
pub const STOP_GRACE: Duration = crate::acceptor::DRAIN_TIMEOUT
    .saturating_add(crate::output::LOG_DRAIN_TIMEOUT)
    .saturating_add(crate::output::LOG_DRAIN_TIMEOUT);

type Waker = Box<dyn Fn() + Send + Sync>;

/// Cloneable handle; every clone sees the same state.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    /// Signals received: a second one asks to hurry.
    signals: std::sync::atomic::AtomicU32,
    wakers: Mutex<Vec<Waker>>,
    lock: Mutex<()>,
    cond: Condvar,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("fired", &self.is_fired())
            .finish()
    }
}

impl Shutdown {
    /// A handle that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires this handle on Ctrl-C, SIGTERM or SIGHUP. Only one handler can
    /// exist per process: call it once, from `main` (feature `cli`).
    #[cfg(feature = "cli")]
    pub fn install_signal_handler(&self) -> Result<()> {
        let me = self.clone();
        ctrlc::set_handler(move || {
            log::info!("signal received, shutting down");
            me.inner.signals.fetch_add(1, Ordering::SeqCst);
            me.fire();
        })
        .map_err(|e| Error::Signal(e.to_string()))
    }

    /// How many stop signals arrived: a program that takes time to finish
    /// (draining, saving) cuts that short at the second, as users expect
    /// of a second Ctrl-C.
    pub fn signals(&self) -> u32 {
        self.inner.signals.load(Ordering::SeqCst)
    }

    /// Whether shutdown has been requested.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Requests shutdown: sets the flag, runs every waker, wakes every
    /// [`wait_timeout`](Self::wait_timeout). Idempotent.
    pub fn fire(&self) {
        if self.inner.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let _guard = self
                .inner
                .lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.inner.cond.notify_all();
        }
        let wakers = std::mem::take(
            &mut *self
                .inner
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for wake in wakers {
            wake();
        }
    }

    /// Runs `wake` when shutdown fires (at once if it already has).
    pub fn on_fire(&self, wake: impl Fn() + Send + Sync + 'static) {
        let mut wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: `fire` sets the flag before taking the
        // list, so a waker is either taken by `fire` or run here.
        if self.is_fired() {
            drop(wakers);
            wake();
        } else {
            wakers.push(Box::new(wake));
        }
    }

    /// Sleeps up to `timeout`, returning early (with `true`) when shutdown
    /// fires. Returns whether shutdown has fired.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while !self.is_fired() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = self
                .inner
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.is_fired()
    }

    /// Makes a blocked `listener.accept()` return when shutdown fires, by
    /// connecting to the listener once.
    pub fn wake_listener(&self, listener: &TcpListener) -> Result<()> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("read the listener's address", e))?;
        let target = SocketAddr::new(Host::loopback_for(addr.ip()), addr.port());
        self.on_fire(move || {
            if let Err(e) = TcpStream::connect_timeout(&target, WAKE_CONNECT_TIMEOUT) {
                log::debug!("shutdown: waking the listener on {target} failed: {e}");
            }
        });
        Ok(())
    }

    /// Makes a blocked `socket.recv_from()` return when shutdown fires, by
    /// sending it an empty datagram from a fresh socket.
    pub fn wake_udp(&self, socket: &UdpSocket) -> Result<()> {
        let addr = socket
            .local_addr()
            .map_err(|e| Error::io("read the socket's address", e))?;
        let target = SocketAddr::new(Host::loopback_for(addr.ip()), addr.port());
        self.on_fire(move || {
            let from = crate::sock::unspecified_for(target);
            let sent = UdpSocket::bind(from).and_then(|s| s.send_to(&[], target));
            if let Err(e) = sent {
                log::debug!("shutdown: waking the socket on {target} failed: {e}");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn fire_wakes_a_blocked_accept() {
        let l = crate::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let sd = Shutdown::new();
        sd.wake_listener(&l).unwrap();
        let sd2 = sd.clone();
        let t = thread::spawn(move || {
            let _ = l.accept();
            sd2.is_fired()
        });
        sd.fire();
        assert!(t.join().unwrap(), "accept returned before the flag was set");
    }

    #[test]
    fn fire_wakes_a_blocked_recv() {
        let s = crate::sock::udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let sd = Shutdown::new();
        sd.wake_udp(&s).unwrap();
        let sd2 = sd.clone();
        let t = thread::spawn(move || {
            let mut buf = [0u8; 16];
            let _ = s.recv_from(&mut buf);
            sd2.is_fired()
        });
        sd.fire();
        assert!(t.join().unwrap());
    }

    #[test]
    fn wait_timeout_returns_early_on_fire() {
        let sd = Shutdown::new();
        let sd2 = sd.clone();
        let t = thread::spawn(move || sd2.wait_timeout(Duration::from_secs(60)));
        sd.fire();
        assert!(t.join().unwrap());
        assert!(!Shutdown::new().wait_timeout(Duration::from_millis(1)));
    }

    #[test]
    fn late_wakers_run_at_once() {
        let sd = Shutdown::new();
        sd.fire();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        sd.on_fire(move || r.store(true, Ordering::SeqCst));
        assert!(ran.load(Ordering::SeqCst));
    }
}
