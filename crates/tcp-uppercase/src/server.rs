//! The uppercase server: one thread per connection, replies streamed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use net_core::acceptor::{self, Acceptor};
use net_core::deadline::WriteDeadline;
use net_core::text::{PREVIEW_CHARS, UppercaseStream, preview};
use net_core::{AccessLog, Error, Shutdown};

/// Read size per `recv`: large enough that a bulk stream moves in few
/// system calls, small enough to live on a connection thread's stack. A
/// heap buffer of this size per connection (or per thread) is what kept a
/// server's memory up after a burst: glibc's per-thread arenas held the
/// freed buffers of a thousand threads.
pub const READ_BUFFER_SIZE: usize = 16 * 1024;

/// A connection that sends nothing for this long is closed, so idle clients
/// cannot hold connection slots forever.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A client that accepts no byte of its reply for this long is cut off, so
/// one that sends and never reads cannot hold its thread (and a slot)
/// forever. Measured across the whole reply (net-core's
/// [`WriteDeadline`]), not per write call.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections served at once; more wait in the backlog.
    pub max_connections: usize,
    /// Close a connection after this long without input.
    pub idle_timeout: Duration,
    /// Cut a connection whose client accepts no byte for this long.
    pub write_timeout: Duration,
    /// Where `sent "…" to ADDR` lines go.
    pub log: AccessLog,
    /// Accepted sockets already have TCP_NODELAY and the idle time-out:
    /// set by [`prepare_listener`].
    pub inherited: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: acceptor::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            log: AccessLog::stdout(),
            inherited: false,
        }
    }
}

impl Config {
    /// Defaults, without the access log: for embedding and tests.
    pub fn quiet() -> Self {
        Config {
            log: AccessLog::disabled(),
            ..Config::default()
        }
    }
}

/// Sets the listener options every accepted socket inherits (TCP_NODELAY
/// and the idle and write time-outs) and records in `config` that connections need not
/// set them again; and since every piece is answered at once, accepted
/// sockets delay their ACKs so that the answer carries them (see
/// [`net_core::sock::delay_first_acks`]). Call it before the listener's
/// address is announced: a connection queued before the options are set
/// would not have them.
pub fn prepare_listener(listener: &TcpListener, config: &mut Config) {
    config.inherited = net_core::sock::set_accepted_defaults(
        listener,
        true,
        Some(config.idle_timeout),
        Some(config.write_timeout),
    );
    if !net_core::sock::delay_first_acks(listener) {
        log::debug!("ACKs of first pieces go out in packets of their own");
    }
}

/// Serves `listener` until `shutdown` fires.
pub fn run(listener: TcpListener, shutdown: &Shutdown, config: Config) -> crate::Result<()> {
    // Batch scheduling: each exchange wakes a connection thread up to three
    // times (connect, sentence, end of stream), each time by the client's
    // own system call; without wake-up preemption the client finishes that
    // call and the next before the thread runs, so the thread finds the
    // sentence already there more often (fewer context switches).
    //
    // Each connection thread also runs on the CPU its client's packets
    // arrive on (the client's own, on loopback): the exchange's hand-offs
    // then stay on one CPU instead of waking another for each. A
    // connection that turns into a bulk stream lets go (see
    // `serve_connection`).
    let acceptor = Acceptor::new("tcp-uppercase")
        .max_connections(config.max_connections)
        .batch_scheduling(true)
        .follow_incoming_cpu(true);
    let log = config.log.clone();
    acceptor.run(listener, shutdown, move |stream, peer| {
        serve_connection(stream, peer, &config)
    })?;
    log.flush();
    Ok(())
}

/// Serves one connection: uppercase everything until the client half-closes,
/// then close our side too.
pub fn serve_connection(stream: TcpStream, peer: SocketAddr, config: &Config) -> Result<(), Error> {
    log::debug!("connection from {peer}");
    if !config.inherited {
        // Replies are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(config.idle_timeout))
            .and_then(|()| stream.set_write_timeout(Some(config.write_timeout)))
            .map_err(|e| acceptor::conn_error(peer, "configure the connection from", e))?;
    }
    let mut reader = LetsGoOnStream {
        inner: &stream,
        reads: 0,
    };
    let mut writer = WriteDeadline::new(&stream, config.write_timeout);
    let log = &config.log;
    let on_sent = |sent: &[u8]| {
        if log.is_enabled() {
            log.line(format_args!(
                "sent {} to {peer}",
                preview(sent, PREVIEW_CHARS)
            ));
        }
    };
    // A piece that ends inside a character and holds nothing else gets no
    // answer yet, so no answer carries its ACK (see `prepare_listener`):
    // it is sent now, or a client that waits for it would wait the
    // delayed-ACK time.
    let held = || net_core::sock::ack_now(&stream);
    let result = uppercase_pieces(&mut reader, &mut writer, on_sent, held);
    match result {
        Ok(total) => {
            log::debug!("{peer} closed after {total} bytes");
            // Closing the socket (when it is dropped) sends our FIN, which
            // tells the client the reply is complete; everything it sent
            // has been read, so the close is a clean one.
            Ok(())
        }
        Err(_) if writer.cut => {
            // The deadline made the close a reset.
            log::info!(
                "closing {peer}: it accepted no byte of its reply for {} s",
                config.write_timeout.as_secs_f64()
            );
            Ok(())
        }
        Err(e) if net_core::error::is_timeout(&e) => {
            log::info!("closing {peer}: idle for {:?}", config.idle_timeout);
            Ok(())
        }
        Err(e) => Err(acceptor::conn_error(peer, "connection with", e)),
    }
}

/// A connection's reader that lets its thread leave the CPU it followed
/// (see [`run`]) once a second piece of input arrives: a one-sentence
/// exchange is over by then, and a stream moves faster with the client and
/// the thread on CPUs of their own.
struct LetsGoOnStream<R> {
    inner: R,
    reads: u32,
}

impl<R: Read> Read for LetsGoOnStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.reads = self.reads.saturating_add(1);
            if self.reads == 2
                && let Err(e) = net_core::sched::stop_following()
            {
                log::debug!("connection thread stays on its CPU: {e}");
            }
        }
        Ok(n)
    }
}

/// Copies `reader` to `writer` uppercased, chunk by chunk as it arrives,
/// calling `on_sent` with each chunk written. Returns the bytes read.
///
/// ```
/// let mut out = Vec::new();
/// let n = tcp_uppercase::server::uppercase_stream(&mut &b"hi there"[..], &mut out, |_| {})?;
/// assert_eq!((n, out.as_slice()), (8, &b"HI THERE"[..]));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn uppercase_stream<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    on_sent: impl FnMut(&[u8]),
) -> io::Result<u64> {
    uppercase_pieces(reader, writer, on_sent, || {})
}

/// [`uppercase_stream`], calling `on_held` after each piece read that
/// yields nothing to send yet (all of it the start of a character).
fn uppercase_pieces<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    mut on_sent: impl FnMut(&[u8]),
    mut on_held: impl FnMut(),
) -> io::Result<u64> {
    // On the stack: no allocation per connection or per thread (see
    // READ_BUFFER_SIZE). Text that is all ASCII — nearly all of it — is
    // uppercased in place; other text goes through `out`, allocated only
    // then and at most a few times a read's size (an uppercase character
    // can take three times the bytes of its lowercase).
    let mut buf = [0u8; READ_BUFFER_SIZE];
    let mut out = Vec::new();
    let mut upper = UppercaseStream::new();
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        let chunk = &mut buf[..n];
        if upper.pending().is_empty() && chunk.is_ascii() {
            chunk.make_ascii_uppercase();
            writer.write_all(chunk)?;
            on_sent(chunk);
            continue;
        }
        out.clear();
        upper.feed(chunk, &mut out);
        if out.is_empty() {
            on_held();
        } else {
            writer.write_all(&out)?;
            on_sent(&out);
        }
    }
    out.clear();
    upper.finish(&mut out);
    if !out.is_empty() {
        writer.write_all(&out)?;
        on_sent(&out);
    }
    writer.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its data in fixed-size pieces.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streams_uppercase_across_split_characters() {
        let input = "straße über ﬁ".as_bytes();
        for piece in 1..5 {
            let mut out = Vec::new();
            let mut chunks = 0;
            let n =
                uppercase_stream(&mut Trickle(input, piece), &mut out, |_| chunks += 1).unwrap();
            assert_eq!(n, input.len() as u64);
            assert_eq!(out, "STRASSE ÜBER FI".as_bytes(), "pieces of {piece}");
            assert!(chunks >= input.len() / piece / 2);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_lets_go_of_its_cpu_once_a_connection_streams() {
        std::thread::spawn(|| {
            // The first CPU this process may use.
            let cpu = (0..4096)
                .find(|&c| net_core::sched::follow_cpu(c).unwrap())
                .expect("a CPU to run on");
            let mut reader = LetsGoOnStream {
                inner: Trickle(b"one sentence, then more", 12),
                reads: 0,
            };
            let mut buf = [0u8; 64];
            assert_eq!(reader.read(&mut buf).unwrap(), 12);
            assert_eq!(net_core::sched::following(), Some(cpu), "after one piece");
            assert_eq!(reader.read(&mut buf).unwrap(), 11);
            assert_eq!(net_core::sched::following(), None, "after two");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_piece_with_nothing_to_send_yet_is_reported_held() {
        // "é" is two bytes: read one at a time, the first yields nothing.
        let mut out = Vec::new();
        let mut held = 0;
        uppercase_pieces(
            &mut Trickle("aé".as_bytes(), 1),
            &mut out,
            |_| {},
            || held += 1,
        )
        .unwrap();
        assert_eq!((out.as_slice(), held), ("AÉ".as_bytes(), 1));
    }

    #[test]
    fn invalid_utf8_passes_through_and_trailing_bytes_flush() {
        let mut out = Vec::new();
        uppercase_stream(&mut Trickle(b"ok\xff\xe2\x82", 1), &mut out, |_| {}).unwrap();
        assert_eq!(out, b"OK\xff\xe2\x82");
    }
}
