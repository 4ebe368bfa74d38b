//! Built-in load generators: HTTP (when wrk is missing), TCP exchanges and
//! streaming, UDP lockstep round trips, idle keep-alive connections.
//! Each runs for a fixed time and reports a rate.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `worker` on `threads` threads for `secs`, summing what they count.
fn run_for(
    threads: usize,
    secs: Duration,
    worker: impl Fn(&AtomicBool, &AtomicU64) + Send + Sync + 'static,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let worker = Arc::new(worker);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count, worker) = (stop.clone(), count.clone(), worker.clone());
            thread::spawn(move || worker(&stop, &count))
        })
        .collect();
    let start = Instant::now();
    thread::sleep(secs);
    stop.store(true, Ordering::SeqCst);
    let elapsed = start.elapsed().as_secs_f64();
    for h in handles {
        let _ = h.join();
    }
    count.load(Ordering::SeqCst) as f64 / elapsed
}

/// Sends `request` on `s` and reads the whole response, discarding the
/// body; false on error.
fn exchange(s: &mut BufReader<TcpStream>, request: &[u8]) -> bool {
    s.get_mut().write_all(request).is_ok()
        && testkit::http::read_response_to(s, false, &mut io::sink()).is_ok()
}

/// HTTP requests per second: `conns` connections, keep-alive or not.
pub fn http(addr: SocketAddr, path: &str, conns: usize, keep_alive: bool, secs: Duration) -> f64 {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: bench\r\n{}\r\n",
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    run_for(conns, secs, move |stop, count| {
        let mut conn: Option<BufReader<TcpStream>> = None;
        while !stop.load(Ordering::Relaxed) {
            let s = match conn.as_mut() {
                Some(s) => s,
                None => match TcpStream::connect(addr) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        conn.insert(BufReader::with_capacity(64 * 1024, s))
                    }
                    Err(_) => continue,
                },
            };
            if !exchange(s, request.as_bytes()) {
                conn = None;
                continue;
            }
            count.fetch_add(1, Ordering::Relaxed);
            if !keep_alive {
                conn = None;
            }
        }
    })
}

/// Connect–send–receive–close exchanges per second against an uppercase
/// server, on `threads` threads, each connection from the next of
/// [`ExchangeSources`].
pub fn tcp_exchanges(addr: SocketAddr, threads: usize, secs: Duration) -> f64 {
    let sources = Arc::new(ExchangeSources::for_server(addr));
    run_for(threads, secs, move |stop, count| {
        let mut reply = [0u8; 16];
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = sources.connect() else {
                continue;
            };
            if s.write_all(b"tanmayi 31").is_ok()
                && s.read_exact(&mut reply[..10]).is_ok()
                && &reply[..10] == b"TANMAYI 31"
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// The sentence the lab's client sends, and the reply it expects.
const LAB_SENTENCE: (&[u8], &[u8]) = (b"tanmayi amrita 31", b"TANMAYI AMRITA 31");

/// Exchanges per second of the lab's own client pattern (`TCPClient.py`):
/// connect, one `send` of a sentence, one `recv(1024)`, close — no
/// half-close, and the client never waits for the server's end of stream.
/// On `threads` threads; each connection from the next of
/// [`ExchangeSources`] when `spread`, else all from 127.0.0.1 (where the
/// client's TIME_WAIT ports are the limit).
pub fn lab_exchanges(addr: SocketAddr, threads: usize, secs: Duration, spread: bool) -> f64 {
    let mut sources = ExchangeSources::for_server(addr);
    sources.spread &= spread;
    let sources = Arc::new(sources);
    run_for(threads, secs, move |stop, count| {
        let mut reply = [0u8; 1024];
        let (sentence, upper) = LAB_SENTENCE;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = sources.connect() else {
                continue;
            };
            // One call each, as the textbook client makes them.
            let sent = s.write(sentence).is_ok_and(|n| n == sentence.len());
            if sent && s.read(&mut reply).is_ok_and(|n| &reply[..n] == upper) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Where the exchange clients connect from: to a server on 127.0.0.1,
/// each connection from the next address of 127.1.0.0/16 in turn, as
/// clients on many hosts would.
///
/// From one address, the client's side is what runs out: the lab's client
/// closes first (the server replies until the client's end of stream), so
/// each closed connection leaves the client's port in TIME_WAIT, and
/// Linux hands such a port to a new connection to the same server port
/// only after a second — from one address about 14,000 exchanges a second
/// (measured: a server that does nothing else plateaus there), whatever
/// the server. The textbook server closes first and keeps the TIME_WAIT
/// on its side, which binds nothing. Elsewhere (IPv6, another address),
/// the kernel's choice.
pub struct ExchangeSources {
    server: SocketAddr,
    next: AtomicU64,
    spread: bool,
}

/// Addresses of 127.1.0.0/16 the exchange clients use in turn.
const SOURCE_ADDRESSES: u64 = 65_000;

impl ExchangeSources {
    pub fn for_server(server: SocketAddr) -> Self {
        let spread = server.ip() == std::net::Ipv4Addr::LOCALHOST;
        ExchangeSources {
            server,
            next: AtomicU64::new(0),
            spread,
        }
    }

    /// Connects from the next source address.
    pub fn connect(&self) -> io::Result<TcpStream> {
        if !self.spread {
            return TcpStream::connect(self.server);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % SOURCE_ADDRESSES + 1;
        let source = std::net::Ipv4Addr::from(0x7f01_0000 + n as u32);
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.bind(&SocketAddr::from((source, 0)).into())?;
        socket.connect(&self.server.into())?;
        Ok(socket.into())
    }
}

/// How long the slow client of [`behind_slow_typist`] takes to type.
pub const SLOW_TYPING: Duration = Duration::from_secs(1);

/// Clients that connect after the slow one.
pub const BEHIND_SLOW: usize = 19;

/// How long the clients behind the slow one waited for their replies.
pub struct Waits {
    pub median_ms: f64,
    pub max_ms: f64,
    /// Clients that got no right answer (a reset, a time-out): those of
    /// the textbook server's tiny backlog, now and then.
    pub failed: usize,
}

/// One client connects and takes [`SLOW_TYPING`] to send its sentence;
/// [`BEHIND_SLOW`] others connect after it and send theirs at once (with
/// their end of stream). Returns how long those waited, from connecting
/// to the end of their reply. A server that serves one client at a time
/// keeps them all waiting for the slow one.
pub fn behind_slow_typist(addr: SocketAddr) -> anyhow::Result<Waits> {
    use anyhow::{Context, bail};
    const LIMIT: Duration = Duration::from_secs(30);
    let mut slow = TcpStream::connect(addr).context("connect the slow client")?;
    slow.set_read_timeout(Some(LIMIT))?;
    let typist = thread::spawn(move || -> std::io::Result<String> {
        thread::sleep(SLOW_TYPING);
        slow.write_all(b"slow typist")?;
        slow.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        slow.read_to_string(&mut reply)?;
        Ok(reply)
    });
    // The others connect once the slow client's connection is established
    // (its connect returned), so they are behind it.
    let others: Vec<_> = (0..BEHIND_SLOW)
        .map(|i| {
            thread::spawn(move || -> Option<Duration> {
                let start = Instant::now();
                let mut s = TcpStream::connect(addr).ok()?;
                s.set_read_timeout(Some(LIMIT)).ok()?;
                let msg = format!("client {i}");
                s.write_all(msg.as_bytes()).ok()?;
                s.shutdown(std::net::Shutdown::Write).ok()?;
                let mut reply = String::new();
                s.read_to_string(&mut reply).ok()?;
                (reply == msg.to_uppercase()).then(|| start.elapsed())
            })
        })
        .collect();
    let mut waits: Vec<f64> = Vec::new();
    let mut failed = 0;
    for h in others {
        match h.join().ok().flatten() {
            Some(d) => waits.push(d.as_secs_f64() * 1000.0),
            None => failed += 1,
        }
    }
    if waits.is_empty() {
        bail!("no client behind the slow one got a right answer");
    }
    match typist.join() {
        Ok(Ok(reply)) if reply == "SLOW TYPIST" => {}
        other => bail!("the slow client got no right answer: {other:?}"),
    }
    waits.sort_by(f64::total_cmp);
    Ok(Waits {
        median_ms: waits[waits.len() / 2],
        max_ms: waits[waits.len() - 1],
        failed,
    })
}

/// MiB per second uppercased through one connection (sent and received).
pub fn tcp_stream(addr: SocketAddr, secs: Duration) -> f64 {
    let Ok(s) = TcpStream::connect(addr) else {
        return 0.0;
    };
    let Ok(mut writer) = s.try_clone() else {
        return 0.0;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = stop.clone();
    let w = thread::spawn(move || {
        let block = vec![b'a'; 256 * 1024];
        while !stop_w.load(Ordering::Relaxed) {
            if writer.write_all(&block).is_err() {
                break;
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut reader = s;
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut got = 0u64;
    while start.elapsed() < secs {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n as u64,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    // Drain so the writer can finish.
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let _ = w.join();
    got as f64 / elapsed / (1024.0 * 1024.0)
}

/// UDP round trips per second with `clients` lockstep clients.
pub fn udp_round_trips(addr: SocketAddr, clients: usize, secs: Duration) -> f64 {
    run_for(clients, secs, move |stop, count| {
        let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
            return;
        };
        if s.connect(addr).is_err()
            || s.set_read_timeout(Some(Duration::from_millis(200)))
                .is_err()
        {
            return;
        }
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if s.send(b"amrita 31").is_ok() && s.recv(&mut buf).is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Opens `n` keep-alive connections that each make one request and then
/// stay idle; returns them (so they stay open while RSS is measured).
pub fn idle_connections(addr: SocketAddr, path: &str, n: usize) -> Vec<TcpStream> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut s = BufReader::new(s);
        if exchange(&mut s, request.as_bytes()) {
            conns.push(s.into_inner());
        }
    }
    conns
}
