//! The client: connections kept across requests, time-outs, redirects.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use net_core::sock;

use crate::proxy::{Proxies, Proxy};
use crate::request::{Body, Request};
use crate::response::{self, Framing, Head};
use crate::tls::{Stream, Tls, Trust};
use crate::url::Url;
use crate::{Error, Result};
use crate::{body, decode};

/// Default limit for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default limit for a stall: no byte of the response for this long ends
/// the request. There is no default limit for a whole request (as with
/// curl): a download that keeps moving may take as long as it takes.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Most redirects followed for one request unless told otherwise
/// (`--max-redirs`): curl's default.
pub const DEFAULT_MAX_REDIRECTS: u32 = 50;

/// The `User-Agent` sent.
pub use crate::request::USER_AGENT;

/// How long a request announced with `Expect: 100-continue` waits for the
/// server's `100 Continue` (or its refusal) before sending the body
/// anyway, unless told otherwise ([`Client::continue_wait`],
/// `--expect100-timeout`): curl's default, long enough for a server to
/// refuse and short enough not to hold up one that ignores the field.
pub const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// Pieces in which standard input is read and sent as chunks (`-T -`).
const UPLOAD_CHUNK: usize = 64 * 1024;

/// Read buffer of a connection: large enough for bulk downloads to move in
/// few system calls.
const READ_BUFFER: usize = 128 * 1024;

/// GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET: the head and the body.
    Get,
    /// HEAD: the head only.
    Head,
}

/// Hooks for what a caller may want to show while a request runs.
pub trait Observer {
    /// The request about to be sent, as bytes.
    fn request(&mut self, _raw: &[u8]) {}
    /// A response head (also for each redirect followed and interim 1xx).
    fn head(&mut self, _head: &Head) {}
    /// The body is about to start; `len` when known.
    fn body_start(&mut self, _len: Option<u64>) {}
    /// `n` more body bytes were written.
    fn progress(&mut self, _n: u64) {}
    /// Something learnt about the connection, such as the TLS version and
    /// cipher (`-v` shows it after a `*`, as curl does).
    fn info(&mut self, _line: &str) {}
}

/// What a request came to.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The final head (after redirects).
    pub head: Head,
    /// The URL that answered (after redirects).
    pub url: Url,
    /// Redirects followed.
    pub redirects: u32,
    /// The method of the last request sent.
    pub method: String,
    /// Bytes of the final body.
    pub downloaded: u64,
    /// From the start of the first request to the end of the last body.
    pub elapsed: Duration,
}

/// An observer that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// A complete response with its body in memory.
#[derive(Debug, Clone)]
pub struct Response {
    /// The final head (after redirects).
    pub head: Head,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered (after redirects).
    pub url: Url,
}

/// A read side that enforces the request's limits on every read: the
/// whole request's deadline, when there is one, and the stall time-out.
#[derive(Debug)]
struct Timed {
    stream: Stream,
    deadline: Option<Instant>,
    /// Longest wait for one read's first byte.
    stall: Duration,
    /// Whether the stall time-out (not the deadline) ended a read.
    stalled: bool,
    /// The socket's read time-out now.
    current: Option<Duration>,
}

impl Timed {
    /// Limits for a new request.
    fn arm(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.stalled = false;
    }
}

/// Longest single wait of a read: the socket's time-out is set to this (or
/// to what is left, near the deadline), so it is set about once per
/// request rather than once per read, and a deadline is overshot by at most
/// this much.
const READ_SLICE: Duration = Duration::from_secs(1);

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stall_end = Instant::now() + self.stall;
        loop {
            let now = Instant::now();
            let mut left = stall_end.saturating_duration_since(now);
            if left.is_zero() {
                self.stalled = true;
                return Err(io::ErrorKind::TimedOut.into());
            }
            if let Some(deadline) = self.deadline {
                let to_deadline = deadline.saturating_duration_since(now);
                if to_deadline.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                left = left.min(to_deadline);
            }
            let want = left.min(READ_SLICE);
            if self.current.is_none_or(|t| t > left)
                || (want == READ_SLICE && self.current != Some(READ_SLICE))
            {
                self.stream.tcp().set_read_timeout(Some(want))?;
                self.current = Some(want);
            }
            match self.stream.read(buf) {
                // A slice ran out; the loop checks the real deadline. A
                // read on a socket with a time-out is not restarted after
                // a signal, nor after Ctrl-Z and `fg` (EINTR, signal(7)):
                // it is read again, as curl does.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                other => return other,
            }
        }
    }
}

#[derive(Debug)]
struct Conn {
    key: String,
    reader: BufReader<Timed>,
}

/// An HTTP/1.1 client that keeps its connection for the next request.
#[derive(Debug)]
pub struct Client {
    connect_timeout: Duration,
    timeout: Option<Duration>,
    stall_timeout: Duration,
    follow: bool,
    max_redirects: Option<u32>,
    continue_wait: Duration,
    conn: Option<Conn>,
    connections: u64,
    compressed: bool,
    trust: Trust,
    /// Built for the first `https://` URL.
    tls: Option<Tls>,
    proxies: Proxies,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with default time-outs that does not follow redirects,
    /// trusts the system's certificates and uses the proxies the
    /// environment names (as libcurl does).
    pub fn new() -> Self {
        Client {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: None,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            follow: false,
            max_redirects: Some(DEFAULT_MAX_REDIRECTS),
            continue_wait: CONTINUE_WAIT,
            conn: None,
            connections: 0,
            compressed: false,
            trust: Trust::System,
            tls: None,
            proxies: Proxies::from_env(),
        }
    }

    /// Asks for compressed bodies and decodes them (`--compressed`).
    pub fn compressed(mut self, yes: bool) -> Self {
        self.compressed = yes;
        self
    }

    /// Which server certificates are trusted (`--cacert`, `-k`).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self.tls = None;
        self
    }

    /// Which proxies are used ([`Proxies::from_env`] by default).
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Sets the connect time-out.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets a limit for each whole request (none by default).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The limit on each whole request ([`Client::timeout`]), if any.
    pub fn timeout_limit(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets how long a response may send nothing before the request ends.
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.stall_timeout = d;
        self
    }

    /// Follows redirects (at most [`DEFAULT_MAX_REDIRECTS`] unless
    /// [`Client::max_redirects`] says otherwise).
    pub fn follow_redirects(mut self, yes: bool) -> Self {
        self.follow = yes;
        self
    }

    /// How long to wait for `100 Continue` before sending a body anyway
    /// ([`CONTINUE_WAIT`] by default).
    pub fn continue_wait(mut self, d: Duration) -> Self {
        self.continue_wait = d;
        self
    }

    /// Most redirects followed for one request; `None` for no limit
    /// (`--max-redirs -1`). One more is an [`Error::Redirects`].
    pub fn max_redirects(mut self, limit: Option<u32>) -> Self {
        self.max_redirects = limit;
        self
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.connections
    }

    /// GETs `url` with the body in memory.
    pub fn get(&mut self, url: &Url) -> Result<Response> {
        self.request(&Request::new(url.clone()))
    }

    /// Sends `request` with the final body in memory.
    pub fn request(&mut self, request: &Request) -> Result<Response> {
        let mut body = Vec::new();
        let done = self.send(request, &mut body, &mut Quiet)?;
        Ok(Response {
            head: done.head,
            body,
            url: done.url,
        })
    }

    /// Sends `method url`, streaming the final body into `out`. Returns the
    /// final head and URL.
    pub fn fetch(
        &mut self,
        method: Method,
        url: &Url,
        out: &mut dyn Write,
        observer: &mut dyn Observer,
    ) -> Result<(Head, Url)> {
        let request = match method {
            Method::Get => Request::new(url.clone()),
            Method::Head => Request::new(url.clone()).head(),
        };
        let done = self.send(&request, out, observer)?;
        Ok((done.head, done.url))
    }

    /// Sends `request`, following redirects when asked to, and streams
    /// the final body into `out`.
    pub fn send(
        &mut self,
        request: &Request,
        out: &mut dyn Write,
        observer: &mut dyn Observer,
    ) -> Result<Transfer> {
        let started = Instant::now();
        let mut url = request.url().clone();
        let mut kind = request.kind();
        let mut visited = vec![url.to_string()];
        let mut redirects = 0;
        let mut stdin_sent = false;
        loop {
            let deadline = self.timeout.map(|t| Instant::now() + t);
            let body = request.body_for(kind);
            if matches!(body, Some(Body::Stdin)) {
                if stdin_sent {
                    return Err(Error::Rewind(format!(
                        "the redirect to {url} asks for the upload again, but it came from standard input and is gone"
                    )));
                }
                stdin_sent = true;
            }
            let proxy = self.proxies.for_url(&url)?;
            let (target, extra) = route_fields(&url, proxy.as_ref(), self.compressed);
            let raw = request.head_to(&url, kind, &target, &extra)?;
            let (head, unsent) = self.exchange(&raw, body, &url, deadline, observer)?;
            let no_body = request.method_for(kind).eq_ignore_ascii_case("HEAD");
            let framing = head.framing(no_body)?;
            let redirect = self.follow && matches!(head.status, 301 | 302 | 303 | 307 | 308);
            let location = head.header_bytes("location").map(<[u8]>::to_vec);
            match (redirect, location) {
                (true, Some(location)) => {
                    self.read_body(&head, framing, &url, deadline, &mut io::sink(), &mut Quiet)?;
                    if unsent {
                        // The server answered without the body it was
                        // promised: the connection's state is unknown.
                        self.conn = None;
                    }
                    let next = url.join(&location)?;
                    if self.max_redirects.is_some_and(|max| redirects >= max) {
                        return Err(Error::Redirects(format!(
                            "maximum ({}) redirects followed; the next was to {next}",
                            redirects
                        )));
                    }
                    if visited.contains(&next.to_string()) {
                        return Err(Error::Redirects(format!(
                            "redirect loop: {next} was visited before"
                        )));
                    }
                    visited.push(next.to_string());
                    redirects += 1;
                    kind = Request::redirected(kind, head.status);
                    url = next;
                }
                _ => {
                    observer.body_start(match framing {
                        Framing::Length(n) => Some(n),
                        Framing::None => Some(0),
                        _ => None,
                    });
                    let downloaded = if self.compressed {
                        // Unread, the body would be taken for the next head.
                        let mut decoder =
                            decode::writer(&head, out).inspect_err(|_| self.conn = None)?;
                        let n = self
                            .read_body(&head, framing, &url, deadline, &mut decoder, observer)
                            .map_err(|e| decoder.error(e))?;
                        decoder.finish()?;
                        n
                    } else {
                        self.read_body(&head, framing, &url, deadline, out, observer)?
                    };
                    if unsent {
                        self.conn = None;
                    }
                    return Ok(Transfer {
                        head,
                        url,
                        redirects,
                        method: request.method_for(kind).to_string(),
                        downloaded,
                        elapsed: started.elapsed(),
                    });
                }
            }
        }
    }

    fn read_body(
        &mut self,
        head: &Head,
        framing: Framing,
        url: &Url,
        deadline: Option<Instant>,
        out: &mut dyn Write,
        observer: &mut dyn Observer,
    ) -> Result<u64> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Broken("the connection is gone".into()));
        };
        conn.reader.get_mut().arm(deadline);
        let copied = body::copy(&mut conn.reader, framing, out, &mut |n| {
            observer.progress(n)
        });
        match copied {
            Ok(n) => {
                if !head.reusable(framing) {
                    self.conn = None;
                }
                Ok(n)
            }
            Err(e) => {
                let stalled = conn.reader.get_ref().stalled;
                self.conn = None;
                Err(self.timeout_error(e, url, stalled))
            }
        }
    }

    /// Names the limit that fired, for a time-out.
    fn timeout_error(&self, e: Error, url: &Url, stalled: bool) -> Error {
        match e {
            Error::Net(ref n) if n.is_timeout() => match self.timeout {
                Some(total) if !stalled => Error::Timeout {
                    url: url.to_string(),
                    secs: total.as_secs_f64(),
                },
                _ => Error::Stalled {
                    url: url.to_string(),
                    secs: self.stall_timeout.as_secs_f64(),
                },
            },
            other => other,
        }
    }

    /// Sends a request head (and its body), and reads the final (non-1xx)
    /// head, reconnecting once if a kept connection turns out to have been
    /// closed. The flag: whether the server answered before the body was
    /// sent (after `Expect: 100-continue`), which leaves the connection
    /// unusable.
    fn exchange(
        &mut self,
        request: &[u8],
        body: Option<&Body>,
        url: &Url,
        deadline: Option<Instant>,
        observer: &mut dyn Observer,
    ) -> Result<(Head, bool)> {
        let proxy = self.proxies.for_url(url)?;
        let key = route_key(url, proxy.as_ref());
        for attempt in 0..2 {
            let reused = self.conn.as_ref().is_some_and(|c| c.key == key);
            if !reused {
                self.conn = Some(self.connect(url, proxy.as_ref(), &key, deadline, observer)?);
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            conn.reader.get_mut().arm(deadline);
            observer.request(request);
            let stream = &mut conn.reader.get_mut().stream;
            if let Err(e) = stream.write_all(request).and_then(|()| stream.flush()) {
                self.conn = None;
                if reused && attempt == 0 {
                    continue;
                }
                return Err(Error::ConnectionBroke {
                    context: format!("cannot send the request to {key}"),
                    source: e,
                });
            }
            if let Some(body) = body {
                if Request::expects_continue(request) {
                    let wait = self.continue_wait;
                    match wait_continue(&mut conn.reader, wait, deadline, observer) {
                        Ok(Some(head)) => return Ok((head, true)),
                        Ok(None) => {}
                        Err(e) => {
                            let stalled = conn.reader.get_ref().stalled;
                            self.conn = None;
                            return Err(self.timeout_error(e, url, stalled));
                        }
                    }
                }
                if let Err(e) = send_body(&mut conn.reader.get_mut().stream, body) {
                    // A server that refuses a body may answer and close
                    // before taking all of it: its answer is the result.
                    if let (Error::ConnectionBroke { .. }, Ok(Some(head))) =
                        (&e, read_head(&mut conn.reader, observer, false))
                    {
                        return Ok((head, true));
                    }
                    self.conn = None;
                    return Err(e);
                }
            }
            match read_head(&mut conn.reader, observer, false) {
                Ok(Some(head)) => return Ok((head, false)),
                Ok(None) => {
                    self.conn = None;
                    if reused && attempt == 0 {
                        log::debug!("{key} closed the kept connection; reconnecting");
                        continue;
                    }
                    return Err(Error::EmptyReply(format!(
                        "{key} closed the connection without answering"
                    )));
                }
                Err(e) => {
                    let stalled = conn.reader.get_ref().stalled;
                    self.conn = None;
                    let e = self.timeout_error(e, url, stalled);
                    if matches!(e, Error::Reset { .. }) && reused && attempt == 0 {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(Error::Broken(format!("{key} keeps closing the connection")))
    }

    fn connect(
        &mut self,
        url: &Url,
        proxy: Option<&Proxy>,
        key: &str,
        deadline: Option<Instant>,
        observer: &mut dyn Observer,
    ) -> Result<Conn> {
        let limit = match deadline {
            Some(d) => self
                .connect_timeout
                .min(d.saturating_duration_since(Instant::now())),
            None => self.connect_timeout,
        };
        let started = Instant::now();
        let tcp = match proxy {
            Some(p) => sock::connect(&p.endpoint, limit).map_err(Error::Proxy)?,
            None => sock::connect(url.endpoint(), limit)?,
        };
        let _ = tcp.set_nodelay(true);
        // An upload to a server that stops reading ends as a stall does.
        let _ = tcp.set_write_timeout(Some(self.stall_timeout));
        self.connections += 1;
        let stream = if url.is_https() {
            let mut tcp = tcp;
            if let Some(p) = proxy {
                crate::proxy::tunnel(&mut tcp, p, url, limit, observer)?;
            }
            if self.tls.is_none() {
                self.tls = Some(Tls::new(&self.trust)?);
            }
            let Some(tls) = self.tls.as_ref() else {
                return Err(Error::Tls("TLS is not set up".into()));
            };
            let host = url.endpoint().host.to_string();
            let left = limit.saturating_sub(started.elapsed());
            let tls = tls.connect(tcp, &host, &url.endpoint().to_string(), left)?;
            observer.info(&format!("SSL connection using {}", tls.summary()));
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        Ok(Conn {
            key: key.to_string(),
            reader: BufReader::with_capacity(
                READ_BUFFER,
                Timed {
                    stream,
                    deadline,
                    stall: self.stall_timeout,
                    stalled: false,
                    current: None,
                },
            ),
        })
    }
}

/// What identifies a connection: the server, or the proxy that carries
/// requests to any server in absolute form.
fn route_key(url: &Url, proxy: Option<&Proxy>) -> String {
    let scheme = if url.is_https() { "https" } else { "http" };
    match proxy {
        Some(p) if !url.is_https() => format!("proxy {}", p.endpoint),
        // A tunnel is to one server.
        Some(p) => format!("{scheme}://{} via {}", url.endpoint(), p.endpoint),
        None => format!("{scheme}://{}", url.endpoint()),
    }
}

/// The request target and the fields a route adds: the absolute URL and
/// `Proxy-Authorization`, `Proxy-Connection` through an HTTP proxy, and
/// `Accept-Encoding` with `--compressed`.
fn route_fields(
    url: &Url,
    proxy: Option<&Proxy>,
    compressed: bool,
) -> (String, Vec<(&'static str, String)>) {
    let mut extra = Vec::new();
    if compressed {
        extra.push(("Accept-Encoding", decode::ACCEPT_ENCODING.to_string()));
    }
    match proxy {
        // Absolute form, to the proxy: one connection serves every host
        // behind it.
        Some(p) if !url.is_https() => {
            if let Some(a) = &p.authorization {
                extra.push(("Proxy-Authorization", a.clone()));
            }
            extra.push(("Proxy-Connection", "Keep-Alive".to_string()));
            (url.to_string(), extra)
        }
        _ => (url.path().to_string(), extra),
    }
}

/// Waits up to `wait` for the answer to `Expect:
/// 100-continue`: `None` to send the body (`100 Continue`, or silence),
/// or the final head of a server that answered without it.
fn wait_continue(
    reader: &mut BufReader<Timed>,
    wait: Duration,
    deadline: Option<Instant>,
    observer: &mut dyn Observer,
) -> Result<Option<Head>> {
    let wait_end = Instant::now() + wait;
    reader
        .get_mut()
        .arm(Some(deadline.map_or(wait_end, |d| d.min(wait_end))));
    let ready = reader.fill_buf().map(|b| !b.is_empty());
    reader.get_mut().arm(deadline);
    match ready {
        // Silence, or a close that sending the body will report.
        Err(e) if net_core::error::is_timeout(&e) => return Ok(None),
        Ok(false) => return Ok(None),
        Err(e) => {
            return Err(Error::ConnectionBroke {
                context: "the connection broke while waiting for 100 Continue".into(),
                source: e,
            });
        }
        Ok(true) => {}
    }
    loop {
        match read_head(reader, observer, true)? {
            Some(head) if head.status == 100 => return Ok(None),
            Some(head) if head.status < 200 => {}
            Some(head) => return Ok(Some(head)),
            None => {
                return Err(Error::EmptyReply(
                    "the server closed the connection without answering".into(),
                ));
            }
        }
    }
}

/// Sends a request body: bytes, a file of the length announced, or
/// standard input in chunks.
fn send_body(stream: &mut Stream, body: &Body) -> Result<()> {
    let broke = |source| Error::ConnectionBroke {
        context: "the connection broke while sending the body".into(),
        source,
    };
    match body {
        Body::Bytes(bytes) => stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .map_err(broke),
        Body::File(path) => {
            let unreadable = |e: io::Error| {
                Error::ReadBody(format!(
                    "cannot read {} ({})",
                    path.display(),
                    net_core::error::describe(&e)
                ))
            };
            let mut file = std::fs::File::open(path).map_err(unreadable)?;
            let len = file.metadata().map_err(unreadable)?.len();
            let mut buf = vec![0; UPLOAD_CHUNK];
            let mut left = len;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = file.read(&mut buf[..want]).map_err(unreadable)?;
                if n == 0 {
                    return Err(Error::ReadBody(format!(
                        "{} became shorter while it was sent ({} of {len} bytes sent)",
                        path.display(),
                        len - left
                    )));
                }
                stream.write_all(&buf[..n]).map_err(broke)?;
                left -= n as u64;
            }
            stream.flush().map_err(broke)
        }
        Body::Stdin => {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0; UPLOAD_CHUNK];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(Error::ReadBody(format!(
                            "cannot read standard input ({})",
                            net_core::error::describe(&e)
                        )));
                    }
                };
                let mut chunk = format!("{n:x}\r\n").into_bytes();
                chunk.extend_from_slice(&buf[..n]);
                chunk.extend_from_slice(b"\r\n");
                // Each piece goes out as it is read: standard input may be
                // a live producer.
                stream
                    .write_all(&chunk)
                    .and_then(|()| stream.flush())
                    .map_err(broke)?;
                if n == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads one final head (or, with `interim`, the first head, 1xx
/// included). `Ok(None)`: the server closed before any byte.
fn read_head(
    reader: &mut BufReader<Timed>,
    observer: &mut dyn Observer,
    interim: bool,
) -> Result<Option<Head>> {
    let mut acc: Vec<u8> = Vec::new();
    // Whether `acc` holds a whole first line.
    let mut has_line = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if net_core::error::is_timeout(&e) => {
                return Err(Error::Net(net_core::Error::io("wait for the response", e)));
            }
            Err(e)
                if acc.is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
            {
                return Err(Error::Reset { source: e });
            }
            Err(e) => {
                return Err(Error::ConnectionBroke {
                    context: "the connection broke while reading the response".into(),
                    source: e,
                });
            }
        };
        if buf.is_empty() {
            if acc.is_empty() {
                return Ok(None);
            }
            if !acc.contains(&b'\n') {
                // As curl: less than a status line is no reply at all.
                return Err(Error::EmptyReply(
                    "the server closed the connection before a whole status line".into(),
                ));
            }
            // curl takes the head as ended here; a head cut short may have
            // lost the very fields that say what the body is.
            return Err(Error::Broken(
                "the server closed the connection in the middle of the response head".into(),
            ));
        }
        let n = buf.len();
        let before = acc.len();
        acc.extend_from_slice(buf);
        let line_before = has_line;
        has_line = has_line || buf.contains(&b'\n');
        if !response::may_have_ended(&acc, before, line_before) {
            // Parsing again now could only say "incomplete": skipping it
            // keeps a head that trickles in small pieces linear to read.
            reader.consume(n);
            continue;
        }
        match response::parse(&acc)? {
            Some(head) => {
                reader.consume(head.raw.len() - before);
                if head.status == 101 {
                    // Nothing was asked to be upgraded, so what follows is
                    // not HTTP this client could read.
                    observer.head(&head);
                    return Err(Error::Broken(
                        "the server switched protocols (101) though no upgrade was requested"
                            .into(),
                    ));
                }
                if head.status < 200 {
                    // Interim response (100 Continue …): show it, read on.
                    observer.head(&head);
                    if interim {
                        return Ok(Some(head));
                    }
                    acc.clear();
                    has_line = false;
                    continue;
                }
                observer.head(&head);
                return Ok(Some(head));
            }
            None => reader.consume(n),
        }
    }
}
