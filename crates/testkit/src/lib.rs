//! testkit: process helpers for netlab's integration tests and demo.
//!
//! # Layout
//! - [`Server`]: spawns a server binary, waits (bounded) for its readiness
//!   line `listening on ADDR (PROTO)`, collects its output, kills it on drop;
//!   [`Server::builder`] gives its stdout and stderr to a pipe nobody
//!   reads, to one pipe (`2>&1`) or to a file such as `/dev/full`.
//! - [`Run`]: runs a client binary to completion with stdin and a deadline,
//!   and on a failed expectation prints the command, status, stdout and
//!   stderr.
//! - [`bin_path`]: finds a workspace binary from a test of another package.
//! - [`SharedBuf`]: a `Write` whose bytes another clone can read, for
//!   output sinks handed to code under test.
//! - [`need_root`], [`need`]: the first line of a test that needs root or
//!   a peer program (and is marked `#[ignore = "needs root"]`,
//!   `#[ignore = "needs tshark"]`…, so a plain `cargo test` reports it as
//!   ignored): run on request without them, it fails, saying what is
//!   missing.
//! - [`skip`]: reports a part of a check this machine cannot do (no IPv6
//!   loopback, one CPU), on stderr and in the file named by
//!   [`SKIP_LOG_ENV`], so it is visible in CI rather than a silent `ok`.
//! - [`peers`]: the programs tests compare against (`python3 -m
//!   http.server`, tshark) and the shared shape of the stalled-output tests.
//! - [`http`]: reads one HTTP response off a raw connection.
//! - [`proxy`]: a forwarding HTTP proxy (absolute form and `CONNECT`)
//!   that keeps the request heads it saw.
//! - [`impair`] (Linux and root only): two hosts in network namespaces joined by a
//!   link that loses, delays, reorders, duplicates and corrupts packets.
//!
//! ```no_run
//! let server = testkit::Server::start("target/debug/tcp-uppercase", &["server", "--port", "0"]);
//! println!("server on {}", server.addr());
//! ```
#![warn(missing_docs)]

pub mod http;
pub mod impair;
pub mod peers;
pub mod proxy;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Default deadline for a client run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long, after a child has exited, its output collectors may take to
/// read what is left in its pipes. Only reached when a grandchild keeps
/// the pipes open; the output read so far is kept.
pub const COLLECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Interval between checks while waiting for a child to exit.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Path of the binary `name` built in the same target directory as the
/// running test (for tests in a package other than the binary's). Panics
/// with a hint when it has not been built, or was built before one of
/// its sources last changed: a test of a stale binary would check old
/// code and pass or fail for nothing.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    // target/<profile>/deps/test-hash → target/<profile>/name
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: {BUILD_THE_BINS}",
        path.display()
    );
    if let Some(changed) = newer_source(&path, &dir.join(format!("{name}.d"))) {
        panic!(
            "{} is older than {}: {BUILD_THE_BINS}",
            path.display(),
            changed.display()
        );
    }
    path
}

/// What to do when a binary another package's test runs is missing or
/// stale: cargo builds a package's binaries for that package's own tests
/// only.
const BUILD_THE_BINS: &str = "run `cargo test --workspace`, or `cargo build --bins` before testing one package, so every binary is built from the current sources";

/// A source file of `binary` changed (or gone) since it was built, going
/// by the dependency list cargo wrote beside it (`NAME.d`: `BINARY: SRC
/// SRC…`, spaces in paths escaped); `None` when all are older, or when
/// there is no list to go by.
fn newer_source(binary: &Path, dep_info: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok()?;
    // Cargo rewrites the list after linking, but not on every build that
    // links the binary (a test build of the same sources leaves an older
    // list): a source gone from an older list is no sign of staleness.
    let listed = std::fs::metadata(dep_info)
        .and_then(|m| m.modified())
        .ok()?;
    let list_is_current = listed >= built;
    let text = std::fs::read_to_string(dep_info).ok()?;
    let first = text.lines().next()?;
    // The target is the binary's own path; the sources follow the colon
    // that ends it.
    let target = binary.to_string_lossy().replace(' ', "\\ ");
    let sources = first.strip_prefix(target.as_str())?.strip_prefix(':')?;
    dep_info_paths(sources).into_iter().find(|source| {
        std::fs::metadata(source)
            .and_then(|m| m.modified())
            .map_or(list_is_current, |changed| changed > built)
    })
}

/// The paths of a dep-info line's right-hand side: separated by spaces,
/// a space inside a path written `\ `.
fn dep_info_paths(list: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

type Lines = Arc<Mutex<Vec<String>>>;

/// A pipe kept open but not read (until [`Server::resume_stdout`]).
type Parked = Arc<Mutex<Option<Box<dyn Read + Send>>>>;

/// The threads copying a child's stdout and stderr into [`Lines`].
///
/// A child's last words are in its pipes until these threads have read
/// them: waiting for the exit status alone returns too early, so whoever
/// reports the output after an exit first calls [`Collectors::finish`].
struct Collectors {
    handles: Vec<thread::JoinHandle<()>>,
    /// One message per collector that has read its stream to the end.
    done: mpsc::Receiver<()>,
    done_tx: mpsc::Sender<()>,
}

impl Collectors {
    fn new() -> Collectors {
        let (done_tx, done) = mpsc::channel();
        Collectors {
            handles: Vec::new(),
            done,
            done_tx,
        }
    }

    /// Starts a thread that appends each line of `stream` to `into`; the
    /// first line also goes to `first`.
    fn collect(
        &mut self,
        stream: impl Read + Send + 'static,
        into: Lines,
        first: Option<mpsc::Sender<String>>,
    ) {
        self.collect_matching(stream, into, first, |_| true);
    }

    /// As [`collect`](Self::collect), but the first line that satisfies
    /// `pred` goes to `first`.
    fn collect_matching(
        &mut self,
        stream: impl Read + Send + 'static,
        into: Lines,
        first: Option<mpsc::Sender<String>>,
        pred: fn(&str) -> bool,
    ) {
        self.spawn(move || {
            let mut first = first;
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if first.is_some()
                    && pred(&line)
                    && let Some(tx) = first.take()
                {
                    let _ = tx.send(line.clone());
                }
                into.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
    }

    /// Starts a thread that appends the bytes of `stream` to `into` as
    /// they come, so a run stopped at its deadline keeps what it wrote.
    fn collect_bytes(&mut self, mut stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
        self.spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => into
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    }

    /// Starts a thread that reads the first line of `stream` (into `into`
    /// and `first`), then parks the unread rest in `keep`: the pipe stays
    /// open and nobody reads it, as with `server | less` left paused.
    fn collect_first_then_stall(
        &mut self,
        stream: impl Read + Send + 'static,
        into: Lines,
        first: Option<mpsc::Sender<String>>,
        keep: Parked,
    ) {
        self.spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                if let Some(tx) = first {
                    let _ = tx.send(line.clone());
                }
                into.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
            *keep.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(reader));
        });
    }

    /// Runs `work` on a new thread that reports when it is done.
    fn spawn(&mut self, work: impl FnOnce() + Send + 'static) {
        let done = self.done_tx.clone();
        let handle = thread::Builder::new()
            .name("testkit-output".into())
            .spawn(move || {
                work();
                let _ = done.send(());
            });
        match handle {
            Ok(handle) => self.handles.push(handle),
            Err(e) => panic!("cannot start an output collector thread: {e}"),
        }
    }

    /// Joins every collector once it has read its stream to the end (the
    /// child has exited and closed its pipes), waiting at most until
    /// `deadline`: a grandchild that inherited the pipes may keep them
    /// open, and then the output so far is all there is.
    fn finish(&mut self, deadline: Instant) {
        while !self.handles.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
            // One collector has finished: join those that have.
            let (finished, running): (Vec<_>, Vec<_>) =
                self.handles.drain(..).partition(|h| h.is_finished());
            self.handles = running;
            for handle in finished {
                let _ = handle.join();
            }
        }
    }
}

/// A running process (a server, or an interactive client), killed when
/// dropped.
pub struct Server {
    child: Child,
    addr: Option<SocketAddr>,
    readiness: String,
    command: String,
    stdin: Option<ChildStdin>,
    stdout: Lines,
    stderr: Lines,
    collectors: Collectors,
    /// With [`Server::start_stalled`], the stdout pipe nobody reads.
    parked: Parked,
    /// With [`Output::Unread`] for stderr, the stderr pipe nobody reads.
    parked_stderr: Option<Box<dyn Read + Send>>,
}

/// Where a server's stdout or stderr goes, for [`Server::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A pipe read as the server writes, into [`Server::stdout`] or
    /// [`Server::stderr`]: what [`Server::start`] does.
    Read,
    /// A pipe kept open that nobody reads, as a paused pager's or a
    /// stalled journal's. Stdout's first line (the readiness line) is
    /// read, then nothing more; stderr is never read.
    Unread,
    /// Stderr only: into stdout's pipe, as `2>&1`, read or not as stdout is.
    IntoStdout,
    /// A file opened for writing: `/dev/full` fails every write with
    /// ENOSPC, as a full disk does. With stdout here, the readiness line
    /// is looked for on stderr (which must be [`Output::Read`]): a server
    /// that cannot print it says it there.
    File(PathBuf),
}

/// How to start a server: its command, environment and output streams.
/// Made by [`Server::builder`].
#[derive(Debug, Clone)]
pub struct Launch {
    bin: OsString,
    args: Vec<String>,
    env: Vec<(OsString, OsString)>,
    stdout: Output,
    stderr: Output,
}

impl Launch {
    /// Where stdout goes (default [`Output::Read`]); not
    /// [`Output::IntoStdout`].
    pub fn stdout(mut self, output: Output) -> Launch {
        self.stdout = output;
        self
    }

    /// Where stderr goes (default [`Output::Read`]).
    pub fn stderr(mut self, output: Output) -> Launch {
        self.stderr = output;
        self
    }

    /// Sets an environment variable for the server (`RUST_LOG`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Starts the server and waits for its readiness line; panics (with
    /// the server's stderr, when read) if it does not come.
    pub fn start(self) -> Server {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the server and waits for its readiness line, reporting
    /// failure as one message.
    pub fn try_start(self) -> Result<Server, String> {
        Server::start_launch(&self)
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("command", &self.command)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Server {
    /// Starts `bin args…` and waits for its readiness line; panics (with
    /// the server's stderr) if it does not come.
    pub fn start(bin: impl AsRef<OsStr>, args: &[&str]) -> Server {
        Self::try_start(bin, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `bin args…` and waits for its readiness line, reporting
    /// failure as one message.
    pub fn try_start(bin: impl AsRef<OsStr>, args: &[&str]) -> Result<Server, String> {
        Self::start_with(bin.as_ref(), args, false)
    }

    /// Starts `bin args…` and waits for its readiness line, then never
    /// reads its stdout again (the pipe stays open): a stalled output.
    /// Panics (with the server's stderr) if the line does not come.
    pub fn start_stalled(bin: impl AsRef<OsStr>, args: &[&str]) -> Server {
        Self::start_with(bin.as_ref(), args, true).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A server to start with other output streams or environment than
    /// [`start`](Self::start)'s:
    ///
    /// ```no_run
    /// use testkit::{Output, Server};
    /// let server = Server::builder("target/debug/tcp-uppercase", &["server", "--port", "0"])
    ///     .stderr(Output::IntoStdout)
    ///     .stdout(Output::Unread)
    ///     .start();
    /// ```
    pub fn builder(bin: impl AsRef<OsStr>, args: &[&str]) -> Launch {
        Launch {
            bin: bin.as_ref().to_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            stdout: Output::Read,
            stderr: Output::Read,
        }
    }

    fn start_with(bin: &OsStr, args: &[&str], stall: bool) -> Result<Server, String> {
        let stdout = if stall { Output::Unread } else { Output::Read };
        Self::start_launch(&Self::builder(bin, args).stdout(stdout))
    }

    fn start_launch(launch: &Launch) -> Result<Server, String> {
        let (tx, rx) = mpsc::channel();
        let mut server = Self::launch_streams(launch, Some(tx))?;
        let fail = |server: &mut Server, what: String| {
            let _ = server.child.kill();
            let _ = server.child.wait();
            server.collectors.finish(Instant::now() + COLLECT_TIMEOUT);
            format!(
                "`{}` {what}\nstderr:\n{}",
                server.command,
                server.stderr().join("\n")
            )
        };
        let readiness = match rx.recv_timeout(READY_TIMEOUT) {
            // From stderr, the line carries the readiness line at its end.
            Ok(line) => match line.find(READINESS_PREFIX) {
                Some(at) => line[at..].to_string(),
                None => line,
            },
            Err(_) => {
                return Err(fail(
                    &mut server,
                    format!("printed no readiness line within {READY_TIMEOUT:?}"),
                ));
            }
        };
        let Some(addr) = parse_readiness(&readiness) else {
            return Err(fail(
                &mut server,
                format!("printed {readiness:?}, not a readiness line"),
            ));
        };
        server.addr = Some(addr);
        server.readiness = readiness;
        Ok(server)
    }

    /// Starts `bin args…` without waiting for anything: for interactive
    /// programs that print no readiness line (a chat client).
    pub fn spawn(bin: impl AsRef<OsStr>, args: &[&str]) -> Result<Server, String> {
        Self::launch_streams(&Self::builder(bin, args), None)
    }

    /// Starts the process and its output collectors; the readiness line
    /// (stdout's first line, or the stderr line that carries it when
    /// stdout is a file) also goes to `first`.
    fn launch_streams(
        launch: &Launch,
        first: Option<mpsc::Sender<String>>,
    ) -> Result<Server, String> {
        let bin = launch.bin.as_os_str();
        let args: Vec<&str> = launch.args.iter().map(String::as_str).collect();
        let args = &args[..];
        let command = describe(bin, args);
        let mut cmd = if launch.stderr == Output::IntoStdout {
            // `2>&1` by the shell, which then becomes the server (same
            // process id): both streams into stdout's pipe.
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg("exec \"$0\" \"$@\" 2>&1")
                .arg(bin)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            cmd
        } else {
            piped(bin, args)
        };
        cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
        for (output, is_stdout) in [(&launch.stdout, true), (&launch.stderr, false)] {
            if let Output::File(path) = output {
                let file = std::fs::File::options()
                    .write(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                if is_stdout {
                    cmd.stdout(file);
                } else {
                    cmd.stderr(file);
                }
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        let mut collectors = Collectors::new();
        let parked: Parked = Arc::default();
        let mut parked_stderr: Option<Box<dyn Read + Send>> = None;
        let mut stderr_first = None;
        match (child.stdout.take(), &launch.stdout) {
            (Some(out), Output::Unread) => {
                collectors.collect_first_then_stall(out, stdout.clone(), first, parked.clone())
            }
            (Some(out), _) => collectors.collect(out, stdout.clone(), first),
            // No pipe for stdout: the readiness line comes on stderr.
            (None, _) => stderr_first = first,
        }
        if let Some(err) = child.stderr.take() {
            match &launch.stderr {
                Output::Unread => parked_stderr = Some(Box::new(err)),
                _ => collectors.collect_matching(err, stderr.clone(), stderr_first, |line| {
                    line.contains(READINESS_PREFIX)
                }),
            }
        }
        let stdin = child.stdin.take();
        Ok(Server {
            child,
            addr: None,
            readiness: String::new(),
            command,
            stdin,
            stdout,
            stderr,
            collectors,
            parked,
            parked_stderr,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line that started this server.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The address from the readiness line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .expect("a process started with `spawn` has no readiness line")
    }

    /// The port from the readiness line, as a string for argv.
    pub fn port(&self) -> String {
        self.addr().port().to_string()
    }

    /// The readiness line itself.
    pub fn readiness(&self) -> &str {
        &self.readiness
    }

    /// Writes to the server's stdin (for servers that read it).
    pub fn send_stdin(&mut self, text: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin is closed"))?;
        stdin.write_all(text.as_bytes())?;
        stdin.flush()
    }

    /// Reads the stdout of a server started with
    /// [`start_stalled`](Self::start_stalled) again, as a paused pager
    /// that resumes: what it writes from now on (and what the pipe holds)
    /// joins [`stdout`](Self::stdout). Panics if there is no stalled
    /// stdout.
    pub fn resume_stdout(&mut self) {
        // The first-line reader parks the pipe just after the readiness
        // line is known: wait (bounded) for it to have done so.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let parked = self
                .parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(stream) = parked {
                self.collectors.collect(stream, self.stdout.clone(), None);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{}` has no stalled stdout to resume",
                self.command
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Closes the server's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Stdout lines so far (the readiness line first).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until some stdout line satisfies `pred`, returning it; panics
    /// with the output so far after `timeout`.
    pub fn wait_for_stdout(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.try_wait_for_stdout(timeout, pred)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until some stderr line satisfies `pred`, returning it; panics
    /// with the output so far after `timeout`.
    pub fn wait_for_stderr(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.try_wait_for_stderr(timeout, pred)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`wait_for_stderr`](Self::wait_for_stderr), reporting a miss as
    /// an error message with the output so far.
    pub fn try_wait_for_stderr(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        self.try_wait_for(&self.stderr, "stderr", timeout, pred)
    }

    /// Like [`wait_for_stdout`](Self::wait_for_stdout), reporting a miss as
    /// an error message with the output so far.
    pub fn try_wait_for_stdout(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        self.try_wait_for(&self.stdout, "stdout", timeout, pred)
    }

    fn try_wait_for(
        &self,
        lines: &Lines,
        which: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Copied out first: `pred` may itself look at the output.
            let snapshot = lines.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let found = snapshot.into_iter().find(|l| pred(l));
            if let Some(line) = found {
                return Ok(line);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "`{}`: expected {which} line not seen within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.command,
                    self.stdout().join("\n"),
                    self.stderr().join("\n")
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (Unix) and waits up to `timeout` for the exit status.
    /// When it has exited, [`stdout`](Self::stdout) and
    /// [`stderr`](Self::stderr) hold everything it wrote.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.wait_exit(timeout)
    }

    /// Sends SIGTERM and checks the server exits with status 0 within
    /// `timeout`, as the contract asks; panics (naming `what`, with the
    /// command and what stderr was read) otherwise. Returns how long the
    /// exit took, and prints it (`--nocapture`).
    pub fn assert_stops(&mut self, timeout: Duration, what: &str) -> Duration {
        let start = Instant::now();
        let status = self.terminate(timeout);
        let took = start.elapsed();
        eprintln!("{what}: exit {status:?} {took:?} after SIGTERM");
        let fail = |why: String| -> ! {
            panic!(
                "{what}: `{}` {why}\nstderr:\n{}",
                self.command,
                self.stderr().join("\n")
            )
        };
        match status {
            None => fail(format!("had not exited {took:?} after SIGTERM")),
            Some(s) if !s.success() => fail(format!("exited with {s} on SIGTERM")),
            Some(_) => took,
        }
    }

    /// Waits up to `timeout` for the server to exit by itself. When it has
    /// exited, [`stdout`](Self::stdout) and [`stderr`](Self::stderr) hold
    /// everything it wrote.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = wait_deadline(&mut self.child, timeout)?;
        self.collectors.finish(Instant::now() + COLLECT_TIMEOUT);
        Some(status)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The stalled pipes close last, after the child is gone.
        drop(
            self.parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        drop(self.parked_stderr.take());
    }
}

fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
            _ => return None,
        }
    }
}

/// The ways a server's output can be left unread, each named, as
/// `(name, stdout, stderr)` for [`Server::builder`]: stderr into a pipe
/// nobody reads; stdout and stderr each into one; and both into one pipe
/// nobody reads (`2>&1`). Stdout's readiness line is read in each.
pub fn unread_outputs() -> [(&'static str, Output, Output); 3] {
    [
        ("stderr unread", Output::Read, Output::Unread),
        ("stdout and stderr unread", Output::Unread, Output::Unread),
        ("2>&1 unread", Output::Unread, Output::IntoStdout),
    ]
}

/// Checks the stderr of a server that ran with stdout on `/dev/full`
/// (see [`Output::File`]): one warning said so (carrying the readiness
/// line), and at exit one line counted the log lines lost to it.
pub fn assert_full_stdout_told(stderr: &[String]) {
    let said = |what: &str| stderr.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        said("stdout cannot be written (no space left on device)"),
        1,
        "{stderr:#?}"
    );
    assert_eq!(said(READINESS_PREFIX), 1, "{stderr:#?}");
    assert_eq!(
        said("log lines dropped: stdout could not be written (no space left on device)"),
        1,
        "{stderr:#?}"
    );
}

/// How the readiness line begins.
const READINESS_PREFIX: &str = "listening on ";

/// Parses `listening on ADDR (PROTO)`.
pub fn parse_readiness(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix(READINESS_PREFIX)?;
    let (addr, proto) = rest.rsplit_once(' ')?;
    if !(proto.starts_with('(') && proto.ends_with(')')) {
        return None;
    }
    addr.parse().ok()
}

/// `bin args…` with all three standard streams piped.
fn piped(bin: &OsStr, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn describe(bin: &OsStr, args: &[&str]) -> String {
    let mut s = bin.to_string_lossy().into_owned();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Names the file where [`skip`] also records each skip notice, one line
/// per skipped check; `cargo xtask ci` sets it and prints the lines once
/// the tests have run, because libtest hides a passing test's stderr.
pub const SKIP_LOG_ENV: &str = "NETLAB_SKIP_LOG";

/// Reports that the calling test cannot check a part of what it is for on
/// this machine (no IPv6 loopback, a single CPU): something no package or
/// privilege provides, so the test is not ignored but says what it left
/// out. (A missing privilege or peer program is [`need_root`] or
/// [`need`] in an ignored test instead.) Prints
/// `skipped: REASON` to stderr and, when [`SKIP_LOG_ENV`] names a file,
/// appends `PACKAGE TEST: REASON` to it.
pub fn skip(reason: impl fmt::Display) {
    eprintln!("skipped: {reason}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    // libtest names each test's thread after the test.
    let current = thread::current();
    let test = current.name().unwrap_or("(unnamed test)");
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let line = format!("{package} {test}: {reason}\n");
    // One append per line: tests running in parallel (and in several
    // processes) do not interleave within a line.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "cannot record the skip in {}: {e}",
            Path::new(&path).display()
        );
    }
}

/// Whether this process runs as root (live capture, network namespaces).
/// On Linux read from `/proc/self/status` (the effective user id), not
/// from a child process: a test that captures traffic starts nothing it
/// does not mean to.
pub fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // `Uid:` real, effective, saved, filesystem.
        if let Some(uids) = status.lines().find_map(|l| l.strip_prefix("Uid:")) {
            return uids.split_whitespace().nth(1) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// For a test marked `#[ignore = "needs root"]`, which runs only when
/// asked (`cargo test -- --ignored`, as CI does): fails it, saying so,
/// unless this process runs as root. `what` names what needs root (live
/// capture, network namespaces, a private mount namespace).
///
/// A prerequisite missing when the test was asked for is a failure, never
/// a quiet `ok`: whoever runs ignored tests means to have them checked.
pub fn need_root(what: &str) {
    assert!(
        is_root(),
        "{what} needs root: run the ignored tests as root (`sudo -E cargo test --workspace -- --ignored`)"
    );
}

/// For a test marked `#[ignore = "needs PROGRAM"]`: fails it, naming the
/// Debian `package` that provides it, unless `program` is installed.
/// Tests that need python3, which the lab itself needs, call this without
/// being ignored.
pub fn need(program: &str, package: &str) {
    assert!(
        runs(program),
        "{program} is not installed: `apt-get install {package}`, or leave this ignored test out"
    );
}

/// Whether `program` is installed: it can be started (with `--version`,
/// which not every program knows: socat says it wants `-V`).
pub fn runs(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Waits (bounded) until something accepts TCP connections at `addr`:
/// for peers that print no readiness line (nginx, `python3 -m http.server`).
pub fn wait_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A `Write` that appends into a shared buffer: give a clone to the code
/// under test (an access log, a chat session) and read the other.
#[derive(Clone, Default, Debug)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// The bytes written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A small deterministic generator (xorshift), so a failing test or soak
/// can be replayed from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A finished client run.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Run {
    /// Runs `bin args…` with `stdin` as input, killed after `timeout`;
    /// panics if it cannot be started.
    pub fn with_timeout(
        bin: impl AsRef<OsStr>,
        args: &[&str],
        stdin: &[u8],
        timeout: Duration,
    ) -> Run {
        Self::try_run(bin, args, stdin, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `bin args…` with `stdin` as input, killed after `timeout`.
    pub fn try_run(
        bin: impl AsRef<OsStr>,
        args: &[&str],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Run, String> {
        let command = describe(bin.as_ref(), args);
        let mut child = piped(bin.as_ref(), args)
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        let mut input = child.stdin.take().ok_or("stdin was not piped")?;
        let stdin = stdin.to_vec();
        let stdout: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut collectors = Collectors::new();
        collectors.spawn(move || {
            // A child that exits without reading all of it is not an error.
            let _ = input.write_all(&stdin);
        });
        if let Some(out) = child.stdout.take() {
            collectors.collect_bytes(out, stdout.clone());
        }
        if let Some(err) = child.stderr.take() {
            collectors.collect_bytes(err, stderr.clone());
        }
        let status = wait_deadline(&mut child, timeout);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        collectors.finish(Instant::now() + COLLECT_TIMEOUT);
        let take = |bytes: Arc<Mutex<Vec<u8>>>| {
            std::mem::take(&mut *bytes.lock().unwrap_or_else(PoisonError::into_inner))
        };
        Ok(Run {
            command,
            status,
            stdout: take(stdout),
            stderr: take(stderr),
        })
    }

    /// Runs with the default deadline.
    pub fn new(bin: impl AsRef<OsStr>, args: &[&str], stdin: &[u8]) -> Run {
        Self::with_timeout(bin, args, stdin, RUN_TIMEOUT)
    }

    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code (`None` if killed by a signal or the deadline).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Panics, showing everything, unless the run exited 0.
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// Panics, showing everything, unless the run exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert!(self.code() == Some(code), "expected exit {code}\n{self}");
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        match self.status {
            Some(s) => writeln!(f, "status: {s}")?,
            None => writeln!(f, "status: killed at the deadline")?,
        }
        writeln!(f, "stdout:\n{}", self.stdout_text())?;
        write!(f, "stderr:\n{}", self.stderr_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_lines_parse() {
        assert_eq!(
            parse_readiness("listening on 127.0.0.1:12000 (udp)"),
            Some("127.0.0.1:12000".parse().unwrap())
        );
        assert_eq!(
            parse_readiness("listening on [::1]:6789 (http)"),
            Some("[::1]:6789".parse().unwrap())
        );
        assert_eq!(parse_readiness("listening on 127.0.0.1:1"), None);
        assert_eq!(parse_readiness("hello"), None);
    }

    /// A shell script as a "server": prints a readiness line, then `rest`.
    fn sh_server(rest: &str) -> Server {
        let script = format!("echo 'listening on 127.0.0.1:9 (tcp)'; {rest}");
        Server::start("sh", &["-c", &script])
    }

    #[test]
    fn output_is_complete_once_wait_exit_returns() {
        let mut server = sh_server("seq 1 50000; seq 1 3000 >&2");
        let status = server.wait_exit(RUN_TIMEOUT).expect("exits");
        assert!(status.success());
        let out = server.stdout();
        assert_eq!(out.len(), 50_001, "readiness line and 50000 numbers");
        assert_eq!(out.last().map(String::as_str), Some("50000"));
        assert_eq!(server.stderr().len(), 3000);
    }

    #[test]
    fn output_is_complete_once_terminate_returns() {
        // The last words are written after SIGTERM arrives.
        let mut server =
            sh_server("trap 'seq 1 40000; exit 0' TERM; echo armed; while :; do sleep 0.01; done");
        server.wait_for_stdout(READY_TIMEOUT, |l| l == "armed");
        let status = server.terminate(RUN_TIMEOUT).expect("exits on SIGTERM");
        assert!(status.success());
        let out = server.stdout();
        assert_eq!(out.len(), 40_002, "readiness, armed and 40000 numbers");
        assert_eq!(out.last().map(String::as_str), Some("40000"));
    }

    #[test]
    fn a_failed_start_reports_the_last_stderr_line() {
        let err = Server::try_start("sh", &["-c", "seq 1 2000 >&2; echo nope"]).unwrap_err();
        assert!(err.contains("\"nope\""), "{err}");
        assert!(err.ends_with("\n2000"), "{err}");
    }

    #[test]
    fn a_run_keeps_all_of_its_output() {
        let run = Run::new("sh", &["-c", "cat; seq 1 30000 >&2"], b"hello\n");
        run.assert_success();
        assert_eq!(run.stdout_text(), "hello\n");
        assert_eq!(run.stderr_text().lines().count(), 30000);
    }

    #[test]
    fn dep_info_paths_keep_escaped_spaces() {
        assert_eq!(
            super::dep_info_paths(" /a/b.rs /c\\ d/e.rs  /f.rs"),
            ["/a/b.rs", "/c d/e.rs", "/f.rs"].map(std::path::PathBuf::from)
        );
    }

    #[test]
    fn a_source_newer_than_the_binary_is_found() {
        use std::time::{Duration, SystemTime};
        let dir = std::env::temp_dir().join(format!("testkit-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bin, old, new) = (dir.join("tool"), dir.join("old.rs"), dir.join("new.rs"));
        for f in [&bin, &old, &new] {
            std::fs::write(f, "").unwrap();
        }
        let at = |f: &std::path::Path, t: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        let now = SystemTime::now();
        at(&old, now - Duration::from_secs(20));
        at(&bin, now - Duration::from_secs(10));
        at(&new, now);
        let dep_info = dir.join("tool.d");
        let list = |sources: &[&std::path::Path]| {
            let names: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
            std::fs::write(
                &dep_info,
                format!("{}: {}\n", bin.display(), names.join(" ")),
            )
            .unwrap();
        };
        list(&[&old]);
        assert_eq!(super::newer_source(&bin, &dep_info), None);
        list(&[&old, &new]);
        assert_eq!(super::newer_source(&bin, &dep_info), Some(new.clone()));
        list(&[&old, &dir.join("gone.rs")]);
        assert_eq!(
            super::newer_source(&bin, &dep_info),
            Some(dir.join("gone.rs"))
        );
        // A list older than the binary (a later build linked it without
        // rewriting the list): a source gone from it is no sign, a newer
        // source still is.
        at(&dep_info, now - Duration::from_secs(15));
        assert_eq!(super::newer_source(&bin, &dep_info), None);
        list(&[&old, &dir.join("gone.rs"), &new]);
        at(&dep_info, now - Duration::from_secs(15));
        assert_eq!(super::newer_source(&bin, &dep_info), Some(new.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
