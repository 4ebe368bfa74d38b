//! One connection: read request heads, consume bodies, answer in order,
//! keep alive or close gracefully.
//!
//! Timing rules: the first request's head must arrive within the header
//! timeout, counted from the connection (a client dripping a byte a second
//! is cut off with 408); later requests may take the keep-alive timeout to
//! start, then the header timeout to finish their head.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::output::{self, SendFile, Writer};
use crate::registry::{Entry, Phase};
use crate::request::{self, BodyFraming, Expect, Request, Version};
use crate::response::Response;
use crate::route::Answer;
use crate::status::Status;

/// A connection's first read buffer: enough for a typical request head,
/// small enough that a thousand idle connections cost little memory.
const INITIAL_BUFFER: usize = 4 * 1024;

/// How much room to make when the buffer fills (a large head, or
/// pipelined requests).
const READ_CHUNK: usize = 16 * 1024;

/// How long an idle keep-alive connection waits on its thread before it
/// is parked (see `park`).
#[cfg(target_os = "linux")]
use crate::park::PARK_AFTER;

/// Nothing is parked off Linux (`serve` is never asked to park there).
#[cfg(not(target_os = "linux"))]
const PARK_AFTER: Duration = Duration::ZERO;

/// Room for a response head, with a small file's body behind it (one
/// of a kilobyte or so, without growing the buffer).
const SCRATCH: usize = 2 * 1024;

/// Largest request body read and discarded to keep the connection; larger
/// ones get 413 and the connection is closed.
pub const MAX_DISCARDED_BODY: u64 = 8 * 1024 * 1024;

/// Longest chunk-size line or trailer section accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// How far a read may run past a deadline before the socket's time-out is
/// set again (each setting is a system call).
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// When closing after an error, how long to read (and drop) what the
/// client is still sending, so our response is not destroyed by a reset.
const LINGER: Duration = Duration::from_secs(1);

/// How many bytes to drop at most while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// A connection's input: bytes read but not yet consumed, and the stream.
/// `buf[start..end]` is unconsumed; `buf` stays initialised to its full
/// length so reads need no zeroing.
struct Input<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The socket's read time-out now, to skip setting it again.
    timeout: Option<Duration>,
    /// Whether what was read of the request now being read has been
    /// acknowledged at once (see [`Input::ack_before_waiting`]).
    acked: bool,
}

enum Fill {
    Data,
    Eof,
    TimedOut,
}

impl Input<'_> {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Before waiting for more of a request begun: the socket delays its
    /// ACKs until a response carries them (see `server::prepare_listener`,
    /// and Linux's own delayed ACKs once requests and responses alternate),
    /// and a client that waits for the ACK of what it sent before sending
    /// the rest (Nagle's algorithm) would wait the delayed-ACK time. So
    /// the ACK goes now, once per request.
    fn ack_before_waiting(&mut self) {
        if !self.acked {
            self.acked = true;
            net_core::sock::ack_now(self.stream);
        }
    }

    /// Reads more, waiting at most `timeout`.
    fn fill(&mut self, timeout: Duration) -> io::Result<Fill> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < INITIAL_BUFFER / 2 {
            // Room for a large head (the parser bounds how large).
            self.buf.resize(self.end + READ_CHUNK, 0);
        }
        // A shorter time-out than needed only costs another turn of the
        // caller's loop; a longer one may overshoot a deadline, by at most
        // TIMEOUT_SLACK (the caller then sees the deadline has passed).
        let timeout = timeout.max(Duration::from_millis(1));
        // A much shorter one than needed (the wait before parking, when a
        // request has started) is set again too, not to wake for nothing.
        if self
            .timeout
            .is_none_or(|t| t > timeout + TIMEOUT_SLACK || t < timeout / 4)
        {
            self.stream.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        let mut stream = self.stream;
        let result = loop {
            match stream.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match result {
            Ok(n) => {
                self.end += n;
                Ok(if n == 0 { Fill::Eof } else { Fill::Data })
            }
            Err(e) => {
                if net_core::error::is_timeout(&e) {
                    Ok(Fill::TimedOut)
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// What ended a wait for a request head.
enum Head {
    Request(Request),
    /// Idle for `park::PARK_AFTER`: wait without a thread (until the
    /// keep-alive time-out passes, at the instant given).
    Park(Instant),
    Reject(request::Reject),
    /// Nothing more will come: close quietly.
    Done,
    /// The head did not arrive in time.
    TimedOut,
    /// The server closed the connection mid-request to make room.
    Evicted,
}

/// The 503 for a client whose request was cut short to make room.
fn busy_page() -> Response {
    Response::page(
        Status::SERVICE_UNAVAILABLE,
        "The server is at its connection limit; please try again.",
    )
    .header("Retry-After", "1")
    .closing()
}

/// Whether the connection goes on to its next request after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Request,
    /// Answer first, then read and drop the request body: the client
    /// waits for `100 Continue` before sending it, and never gets one.
    BodyAfterAnswer,
    /// The connection was answered and closed (or the client left).
    Closed,
}

/// One connection being served: its input, where answers go, and the
/// access log.
struct Conn<'a> {
    stream: &'a TcpStream,
    peer: SocketAddr,
    config: &'a Config,
    entry: &'a Entry,
    input: Input<'a>,
    /// Reused for response heads.
    scratch: Vec<u8>,
}

/// How a connection's service on a thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Answered and closed (or the client left).
    Closed,
    /// Kept alive and idle, nothing unread: to wait for its next request
    /// without a thread, until the keep-alive time-out passes at the
    /// instant given (see `park`).
    Idle(Instant),
}

/// Serves one connection, to completion or (when `park`) until it idles
/// between requests. `resumed`: it was parked, and its next request (or
/// its end) has arrived.
pub fn serve(
    stream: &TcpStream,
    peer: SocketAddr,
    config: &Config,
    entry: &Entry,
    park: bool,
    resumed: bool,
) -> io::Result<Served> {
    if !config.inherited && !resumed {
        let _ = stream.set_nodelay(true);
        stream.set_write_timeout(Some(config.write_timeout))?;
    }
    let mut conn = Conn {
        stream,
        peer,
        config,
        entry,
        input: Input {
            stream,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            // Unknown after a pause: set before the first wait.
            timeout: (config.inherited && !resumed).then_some(config.header_timeout),
            acked: false,
        },
        scratch: Vec::with_capacity(SCRATCH),
    };
    let mut first = !resumed;
    loop {
        let req = match read_head(&mut conn.input, config, entry, first, park) {
            Head::Request(req) => req,
            Head::Park(idle_until) => return Ok(Served::Idle(idle_until)),
            ended => return conn.end_without_request(ended).map(|()| Served::Closed),
        };
        first = false;
        conn.input.consume(req.head_len);
        entry.set(Phase::Busy, Instant::now());
        let next = match conn.expectation_and_body(&req)? {
            Next::BodyAfterAnswer => match conn.answer(&req)? {
                Next::Request => conn.body_after_answer(&req)?,
                closed => closed,
            },
            Next::Request => conn.answer(&req)?,
            Next::Closed => Next::Closed,
        };
        if next == Next::Closed {
            return Ok(Served::Closed);
        }
    }
}

impl<'a> Conn<'a> {
    /// Every write, error pages included, goes out under the write deadline.
    fn writer(&self) -> Writer<'a> {
        output::writer(self.stream, self.config.write_timeout, Some(self.entry))
    }

    /// Answers with a closing error page, logs it against `line`, and
    /// closes gracefully.
    fn reject(&mut self, line: Line<'_>, page: Response) -> io::Result<()> {
        let status = page.status;
        let sent = page.send(&mut self.writer(), false, false, &mut self.scratch);
        log(
            self.config,
            self.peer,
            &line,
            status,
            *sent.as_ref().unwrap_or(&0),
        );
        sent?;
        self.close_unread(status)
    }

    /// Closes gracefully; when the client had sent more than was read
    /// (a body, requests pipelined behind), says on stderr that it was
    /// dropped and why, since no access log line will show it.
    fn close_unread(&mut self, status: Status) -> io::Result<()> {
        let buffered = self.input.pending().len();
        self.input.consume(buffered);
        let dropped = buffered + close_gracefully(self.stream);
        if dropped > 0 {
            log::info!(
                "{}: connection closed after {status}: {dropped} byte{} the client sent \
                 after that request (its body, or requests behind it) not read",
                self.peer,
                if dropped == 1 { "" } else { "s" }
            );
        }
        Ok(())
    }

    /// The request line of a head that did not arrive whole, when its
    /// first line did.
    fn partial_line(&self) -> Line<'static> {
        let pending = self.input.pending();
        match raw_request_line(pending) {
            Some(line) if pending.len() > line.len() => Line::Raw(line.to_vec()),
            _ => Line::None,
        }
    }

    /// Consumes the head that was refused or cut short, to its blank line
    /// when it has one: what follows is what the client sent after it.
    fn consume_head(&mut self) {
        let pending = self.input.pending();
        let end = pending
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(pending.len(), |i| i + 4);
        self.input.consume(end);
    }

    /// The wait for a request head ended without one.
    fn end_without_request(&mut self, ended: Head) -> io::Result<()> {
        match ended {
            Head::Request(_) | Head::Park(_) | Head::Done => Ok(()),
            Head::Evicted => {
                let line = self.partial_line();
                self.consume_head();
                self.reject(line, busy_page())
            }
            Head::TimedOut => {
                let line = self.partial_line();
                self.consume_head();
                self.reject(
                    line,
                    Response::page(
                        Status::REQUEST_TIMEOUT,
                        "The request took too long to arrive.",
                    )
                    .closing(),
                )
            }
            Head::Reject(rej) => {
                log::debug!("{}: {}", self.peer, rej.reason);
                let page = Response::page(rej.status, rej.reason).closing();
                // As the client sent it, escaped: the line the parser could
                // not make sense of is the one to see.
                let raw = raw_request_line(self.input.pending());
                let line = match (raw, rej.line) {
                    (Some(raw), _) => Line::Raw(raw.to_vec()),
                    (None, Some(line)) => Line::Raw(line.into_bytes()),
                    (None, None) => Line::None,
                };
                self.consume_head();
                self.reject(line, page)
            }
        }
    }

    /// Handles `Expect` and reads the request's body (dropping it), so the
    /// next request parses correctly. A client that waits for `100
    /// Continue` before sending a body is told to go on only when its
    /// request will be served (a GET or HEAD, as nginx does); one that will
    /// be refused (405; 413 for a body over [`MAX_DISCARDED_BODY`]) gets
    /// the final answer at once, so it uploads nothing, and its body is
    /// read and dropped should it come anyway ([`Next::BodyAfterAnswer`]).
    fn expectation_and_body(&mut self, req: &Request) -> io::Result<Next> {
        if req.expect == Expect::Unsupported {
            let page = Response::page(
                Status::EXPECTATION_FAILED,
                "Only 100-continue is supported.",
            );
            return self
                .reject(Line::Request(req), page.closing())
                .map(|()| Next::Closed);
        }
        if let BodyFraming::Length(n) = req.body
            && n > MAX_DISCARDED_BODY
        {
            let page = Response::page(
                Status::CONTENT_TOO_LARGE,
                "Request bodies are not accepted here.",
            );
            return self
                .reject(Line::Request(req), page.closing())
                .map(|()| Next::Closed);
        }
        if req.body == BodyFraming::None {
            return Ok(Next::Request);
        }
        if req.expect == Expect::Continue {
            if matches!(req.method, request::Method::NotAllowed(_)) {
                return Ok(Next::BodyAfterAnswer);
            }
            if req.version == Version::Http11 {
                self.writer().write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
        }
        self.drop_body(req)
    }

    /// After answering a request whose client waited for `100 Continue`:
    /// the client either sends its body anyway, which is read and dropped,
    /// or closes the connection (curl does).
    fn body_after_answer(&mut self, req: &Request) -> io::Result<Next> {
        self.entry.set(Phase::Reading, Instant::now());
        match discard_body(&mut self.input, req.body, self.config.header_timeout) {
            Ok(()) => {
                self.entry.set(Phase::Busy, Instant::now());
                Ok(Next::Request)
            }
            // Answered already: whatever went wrong (the client left, the
            // body is malformed or too large, the connection was closed
            // to make room), there is nothing more to say.
            Err(Some(status)) => self.close_unread(status).map(|()| Next::Closed),
            Err(None) => {
                close_gracefully(self.stream);
                Ok(Next::Closed)
            }
        }
    }

    /// Reads and drops a request body, at most [`MAX_DISCARDED_BODY`].
    fn drop_body(&mut self, req: &Request) -> io::Result<Next> {
        self.entry.set(Phase::Reading, Instant::now());
        match discard_body(&mut self.input, req.body, self.config.header_timeout) {
            Ok(()) => {
                self.entry.set(Phase::Busy, Instant::now());
                Ok(Next::Request)
            }
            Err(status) => {
                let evicted = self.entry.is_evicted();
                match status.or(evicted.then_some(Status::SERVICE_UNAVAILABLE)) {
                    Some(Status::SERVICE_UNAVAILABLE) => {
                        self.reject(Line::Request(req), busy_page())
                    }
                    Some(Status::CONTENT_TOO_LARGE) => {
                        let page = Response::page(
                            Status::CONTENT_TOO_LARGE,
                            "Request bodies are not accepted here.",
                        );
                        self.reject(Line::Request(req), page.closing())
                    }
                    Some(status) => {
                        let page = Response::page(status, "The request body is malformed.");
                        self.reject(Line::Request(req), page.closing())
                    }
                    None => {
                        close_gracefully(self.stream);
                        Ok(())
                    }
                }
                .map(|()| Next::Closed)
            }
        }
    }

    /// Chooses and sends the response, logs it, and keeps the connection
    /// or closes it.
    fn answer(&mut self, req: &Request) -> io::Result<Next> {
        let config = self.config;
        let answer = crate::route::answer(req, config);
        let wants_close = match &answer {
            Answer::Made(response) => response.close,
            Answer::Kept(_) => false,
        };
        let keep = req.keep_alive
            && !wants_close
            && !config.shutdown.is_fired()
            && !self.entry.is_evicted();
        let head_only = matches!(req.method, request::Method::Head);
        let keep_alive_10 = keep && req.version == Version::Http10;
        // Closing after this response: its FIN leaves with its last bytes.
        let mut out = if keep {
            self.writer()
        } else {
            self.writer().closing()
        };
        let (status, sent) = match answer {
            Answer::Made(mut response) => {
                response.close = !keep;
                let status = response.status;
                let sent =
                    response.send_to_socket(&mut out, head_only, keep_alive_10, &mut self.scratch);
                (status, sent)
            }
            Answer::Kept(small) => {
                // The whole response in one buffer, sent with one call.
                self.scratch.clear();
                small.write(&mut self.scratch, head_only, !keep, keep_alive_10);
                let head_len =
                    self.scratch.len() as u64 - if head_only { 0 } else { small.body_len() };
                let sent = out
                    .write_all(&self.scratch)
                    .map(|()| if head_only { 0 } else { small.body_len() })
                    .map_err(|e| (e, out.accepted.saturating_sub(head_len)));
                out.finish();
                (Status::OK, sent)
            }
        };
        match sent {
            Ok(sent) => log(config, self.peer, &Line::Request(req), status, sent),
            Err((e, sent)) => {
                // The bytes that did go out: a cut transfer is told apart
                // from a whole one by its size.
                log(config, self.peer, &Line::Request(req), status, sent);
                let why = if out.cut || e.kind() == io::ErrorKind::UnexpectedEof {
                    // The write deadline's words, or the file's.
                    e.to_string()
                } else if config.shutdown.is_fired() {
                    "the server is stopping".to_string()
                } else {
                    // The client left: nothing to report.
                    return Err(e);
                };
                log::warn!(
                    "{}: response to \"{}\" cut after {sent} body byte{}: {why}",
                    self.peer,
                    Line::Request(req),
                    if sent == 1 { "" } else { "s" },
                );
                return Ok(Next::Closed);
            }
        }
        if keep {
            return Ok(Next::Request);
        }
        if !self.input.pending().is_empty() {
            if req.keep_alive {
                // The client meant to go on: say why it cannot.
                self.close_unread(status)?;
            } else {
                close_gracefully(self.stream);
            }
        } else if req.keep_alive {
            finish(self.stream)?;
        }
        // Otherwise the client asked to close and sends nothing more:
        // closing the socket (when the caller drops it) sends our FIN.
        Ok(Next::Closed)
    }
}

fn read_head(
    input: &mut Input<'_>,
    config: &Config,
    entry: &Entry,
    first: bool,
    park: bool,
) -> Head {
    // Until the first byte: the header time-out for a new connection, the
    // keep-alive time-out between requests. Then the header time-out.
    let mut deadline = first.then(|| Instant::now() + config.header_timeout);
    let idle_until = Instant::now() + config.keepalive_timeout;
    // Idle that long, the connection waits without its thread.
    let park_at = park.then(|| Instant::now() + PARK_AFTER);
    // What the registry is told, so the right connection makes room at the
    // cap: idle between requests, reading once a head has started (or from
    // the connection, for the first request).
    let mut shown: Option<Phase> = None;
    // A new request: its first wait for more acknowledges what came.
    input.acked = false;
    loop {
        if !input.pending().is_empty() {
            match request::parse(input.pending()) {
                Ok(Some(req)) => return Head::Request(req),
                Ok(None) => {}
                Err(rej) => return Head::Reject(rej),
            }
        }
        let fresh = input.pending().is_empty();
        let now = Instant::now();
        let mut timeout = deadline
            .unwrap_or(idle_until)
            .saturating_duration_since(now);
        if timeout.is_zero() {
            return if fresh { Head::Done } else { Head::TimedOut };
        }
        // Between requests the connection is idle: it may be closed to make
        // room for a new client, or at shutdown.
        let idle = fresh && !first;
        if idle && config.shutdown.is_fired() {
            return Head::Done;
        }
        if idle && let Some(park_at) = park_at {
            if now >= park_at {
                return Head::Park(idle_until);
            }
            timeout = timeout.min(park_at - now);
        }
        let phase = if idle { Phase::Idle } else { Phase::Reading };
        if shown != Some(phase) {
            entry.set(phase, Instant::now());
            shown = Some(phase);
        }
        if !fresh {
            input.ack_before_waiting();
        }
        let filled = input.fill(timeout);
        if entry.is_evicted() {
            // A request that had in fact arrived whole (it was waiting in
            // the socket) is served, then the connection closes. Nothing
            // started: just close. A request cut short: answer 503.
            return match request::parse(input.pending()) {
                _ if input.pending().is_empty() => Head::Done,
                Ok(Some(req)) => Head::Request(req),
                Ok(None) => Head::Evicted,
                Err(rej) => Head::Reject(rej),
            };
        }
        match filled {
            Ok(Fill::Data) => {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + config.header_timeout);
                }
            }
            Ok(Fill::Eof) | Err(_) => return Head::Done,
            // The socket's time-out may be shorter than the wait: go round.
            Ok(Fill::TimedOut) => {}
        }
    }
}

/// Reads and drops a request body. `Err(Some(status))`: answer and close;
/// `Err(None)`: just close (the client went away or stalled).
fn discard_body(
    input: &mut Input<'_>,
    framing: BodyFraming,
    timeout: Duration,
) -> Result<(), Option<Status>> {
    let deadline = Instant::now() + timeout;
    let mut more = |input: &mut Input<'_>| -> Result<(), Option<Status>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(None);
            }
            input.ack_before_waiting();
            match input.fill(left) {
                Ok(Fill::Data) => return Ok(()),
                Ok(Fill::TimedOut) => {}
                _ => return Err(None),
            }
        }
    };
    match framing {
        BodyFraming::None => Ok(()),
        BodyFraming::Length(mut n) => {
            while n > 0 {
                if input.pending().is_empty() {
                    more(input)?;
                }
                let take = (input.pending().len() as u64).min(n);
                input.consume(take as usize);
                n -= take;
            }
            Ok(())
        }
        BodyFraming::Chunked => {
            let mut total = 0u64;
            loop {
                let (used, size) = match httparse::parse_chunk_size(input.pending()) {
                    Ok(httparse::Status::Complete(found)) => found,
                    Ok(httparse::Status::Partial) => {
                        if input.pending().len() > MAX_CHUNK_LINE {
                            return Err(Some(Status::BAD_REQUEST));
                        }
                        more(input)?;
                        continue;
                    }
                    Err(_) => return Err(Some(Status::BAD_REQUEST)),
                };
                input.consume(used);
                if size == 0 {
                    return discard_trailers(input, &mut more);
                }
                total = total.saturating_add(size);
                if total > MAX_DISCARDED_BODY {
                    return Err(Some(Status::CONTENT_TOO_LARGE));
                }
                let mut left = size;
                while left > 0 {
                    if input.pending().is_empty() {
                        more(input)?;
                    }
                    let take = (input.pending().len() as u64).min(left);
                    input.consume(take as usize);
                    left -= take;
                }
                while input.pending().len() < 2 {
                    more(input)?;
                }
                if &input.pending()[..2] != b"\r\n" {
                    return Err(Some(Status::BAD_REQUEST));
                }
                input.consume(2);
            }
        }
    }
}

fn discard_trailers(
    input: &mut Input<'_>,
    more: &mut impl FnMut(&mut Input<'_>) -> Result<(), Option<Status>>,
) -> Result<(), Option<Status>> {
    let mut seen = 0;
    loop {
        match input.pending().iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line_len = end + 1;
                let empty = end == 0 || (end == 1 && input.pending()[0] == b'\r');
                input.consume(line_len);
                if empty {
                    return Ok(());
                }
                seen += line_len;
                if seen > MAX_CHUNK_LINE {
                    return Err(Some(Status::BAD_REQUEST));
                }
            }
            None => {
                if input.pending().len() > MAX_CHUNK_LINE {
                    return Err(Some(Status::BAD_REQUEST));
                }
                more(input)?;
            }
        }
    }
}

/// Closes after a response when nothing more is expected from the client.
fn finish(stream: &TcpStream) -> io::Result<()> {
    // If the client already sent more (pipelined), closing with unread
    // data would reset the connection and could destroy our response.
    let mut probe = [0u8; 1];
    stream.set_nonblocking(true)?;
    let unread = matches!(stream.peek(&mut probe), Ok(n) if n > 0);
    stream.set_nonblocking(false)?;
    if unread {
        close_gracefully(stream);
        Ok(())
    } else {
        let _ = stream.shutdown(Half::Write);
        Ok(())
    }
}

/// Half-closes, then reads and drops what the client still sends (for a
/// while), so the client reads our response before the connection ends.
/// Returns how many bytes were dropped.
fn close_gracefully(mut stream: &TcpStream) -> usize {
    let _ = stream.shutdown(Half::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 8192];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n,
        }
    }
    dropped
}

/// The request line of an access log entry.
enum Line<'a> {
    /// None could be read: `-`.
    None,
    /// A parsed request's.
    Request(&'a Request),
    /// As the client sent it.
    Raw(Vec<u8>),
}

impl std::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::None => f.write_str("-"),
            // The method is a token and the version one of two: only the
            // target needs escaping.
            Line::Request(req) => write!(
                f,
                "{} {} {}",
                req.method.as_str(),
                Escaped(req.target.as_bytes()),
                req.version.as_str()
            ),
            Line::Raw(raw) => Escaped(raw).fmt(f),
        }
    }
}

/// Longest request line written to the access log as the client sent it;
/// the rest is left out and `...` added. A line the server refused may be
/// as long as the head limit, and the log is for reading.
const LOGGED_LINE_LIMIT: usize = 2 * 1024;

/// The first line of `buf` (after blank lines, as the parser skips them),
/// without its line ending; what there is when it has no end yet. `None`
/// when `buf` holds nothing but blank lines.
fn raw_request_line(buf: &[u8]) -> Option<&[u8]> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = &buf[start..];
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// `bytes` as nginx writes a request line in its access log: printable
/// ASCII as it is, `"`, `\`, control characters and bytes above 0x7E as
/// `\xHH`, so no request can break the line's quoting or forge a line.
/// Written as it is displayed: no string is built for it.
struct Escaped<'a>(&'a [u8]);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (bytes, cut) = match self.0.get(..LOGGED_LINE_LIMIT) {
            Some(head) if self.0.len() > LOGGED_LINE_LIMIT => (head, true),
            _ => (self.0, false),
        };
        let plain = |b: &u8| (0x20..0x7f).contains(b) && *b != b'"' && *b != b'\\';
        let mut rest = bytes;
        while !rest.is_empty() {
            let run = rest.iter().position(|b| !plain(b)).unwrap_or(rest.len());
            // Plain bytes are ASCII, so always UTF-8.
            f.write_str(std::str::from_utf8(&rest[..run]).map_err(|_| std::fmt::Error)?)?;
            if let Some(b) = rest.get(run) {
                write!(f, "\\x{b:02X}")?;
                rest = &rest[run + 1..];
            } else {
                rest = &[];
            }
        }
        if cut {
            f.write_str("...")?;
        }
        Ok(())
    }
}

fn log(config: &Config, peer: SocketAddr, line: &Line<'_>, status: Status, bytes: u64) {
    if config.log.is_enabled() {
        let bytes: &dyn std::fmt::Display = if bytes == 0 { &"-" } else { &bytes };
        config.log.line(format_args!(
            "{} - - [{}] \"{}\" {} {}",
            peer.ip(),
            crate::date::clf_now(),
            line,
            status.code(),
            bytes
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(bytes: &[u8]) -> String {
        Escaped(bytes).to_string()
    }

    #[test]
    fn request_lines_are_logged_escaped_as_nginx_does() {
        assert_eq!(escaped(b"GET /a.html HTTP/1.1"), "GET /a.html HTTP/1.1");
        assert_eq!(
            escaped(b"GET /\"q\"\\ HTTP/1.1"),
            "GET /\\x22q\\x22\\x5C HTTP/1.1"
        );
        assert_eq!(
            escaped(b"\x16\x03\x01\x02\x00\x01\xfc"),
            "\\x16\\x03\\x01\\x02\\x00\\x01\\xFC"
        );
        assert_eq!(escaped("/é".as_bytes()), "/\\xC3\\xA9");
        let long = vec![b'a'; LOGGED_LINE_LIMIT + 1];
        assert_eq!(escaped(&long).len(), LOGGED_LINE_LIMIT + 3);
    }

    #[test]
    fn the_raw_request_line() {
        assert_eq!(
            raw_request_line(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n"),
            Some(&b"GET / HTTP/1.1"[..])
        );
        assert_eq!(
            raw_request_line(b"GET /partial"),
            Some(&b"GET /partial"[..])
        );
        assert_eq!(raw_request_line(b"\r\n"), None);
    }
}
