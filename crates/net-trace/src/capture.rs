//! Running the pipeline: frames from a [`Source`] through the
//! `Stages` (decode, filter, analyse), joined with the process that sent
//! each, to the [`Sink`]s, until the source ends, a count, a duration,
//! Ctrl-C or the end of a command.
//!
//! # Flow
//! ```text
//! Source ──frames──▶ Stages ──rows──▶ join ──▶ narrowing ──▶ Sinks
//!  live sockets (capture thread)        ▲      (--pid, --pname, -- COMMAND)
//!  or a file      owners::Owners ───────┘ (kernel events / /proc)
//! ```
//! Nothing slow runs between a live socket and its queue: the capture
//! thread only copies frames out of the kernel, so a burst never overflows
//! the socket while a row waits for its owner. Without owners to look up
//! (a saved capture, `--no-processes`) a row goes straight to the sinks,
//! its process taken from the frame's packet comment when it has one.

use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net_core::Shutdown;

use crate::Error;
use crate::analyze::{Analyzer, Direction, Row};
use crate::decode::{LinkType, Packet, Transport};
use crate::join::Join;
use crate::owners::{Answer, Method, Owner, Owners, Query, Reason, Role, Tally};
use crate::pcapio::{Frame, parse_process_comment};
use crate::pipeline::{Kept, Numbering, Stages};
use crate::sink::{End, Narrowed, Shown, Sink};
use crate::source::{Next, Source};

/// How often the loop looks at stop conditions and held rows when no
/// frame arrives.
const POLL: Duration = Duration::from_millis(5);

/// After the command of `capture -- COMMAND` exits, frames still in flight
/// (the kernel's FIN and ACKs for its sockets) are taken this long.
const AFTER_COMMAND: Duration = Duration::from_millis(200);

/// What to capture and when to stop.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interface names; `any` for every interface (live sources).
    pub ifaces: Vec<String>,
    /// Keep only frames to or from these ports (all when empty).
    pub ports: Vec<u16>,
    /// Keep only frames this expression keeps (run in the kernel for a
    /// live source, over each frame's bytes for a file).
    pub filter: Option<crate::filter::Filter>,
    /// How frames the filters leave out are numbered.
    pub numbering: Numbering,
    /// Stop after this many frames.
    pub count: Option<usize>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Name the process that sent each frame (live sources).
    pub attribute: bool,
    /// Show only connections of this process.
    pub pid: Option<u32>,
    /// Show only connections of processes with this program name.
    pub pname: Option<String>,
    /// Run this command (program and arguments) once capturing, show only
    /// its process tree's connections, and stop when it exits.
    pub command: Option<Vec<String>>,
    /// Each CPU's ring of kernel events, in KiB (`None`: the default,
    /// [`crate::owners::RING_KB`]).
    pub event_ring_kb: Option<u32>,
}

impl Options {
    /// Whether only some processes' connections are wanted.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn narrowed(&self) -> bool {
        self.pid.is_some() || self.pname.is_some() || self.command.is_some()
    }
}

/// Frames still to be shown at a Ctrl-C from which on it says so.
const BACKLOG_NOTICE: u64 = 10_000;

/// After Ctrl-C (or SIGTERM), how long frames already captured are still
/// shown and held rows wait for their evidence; what is left then is
/// counted as captured but not shown, as after a second Ctrl-C. A capture
/// far behind a flood would otherwise take seconds to stop, where tcpdump
/// stops at once (leaving what it had not taken uncounted). The rest of a
/// stop (the last ring blocks, the summary, removing the tracing
/// instance) took up to half a second under a flood beside `stress -c 2`
/// on two cores, so a stop stays within a second.
pub const STOP_GRACE: Duration = Duration::from_millis(300);

/// Everything a run produced.
#[derive(Debug)]
pub struct Report {
    /// The analysis, for summaries.
    pub(crate) analyzer: Analyzer,
    /// How owners were proven, the main method first (empty when not
    /// looked up).
    pub(crate) methods: Vec<Method>,
    /// Frames shown.
    pub frames: usize,
    /// The source's counts: received by the kernel's filter, and dropped
    /// for want of room.
    pub kernel: crate::live::Stats,
    /// Frames that passed the port filter (the kernel's lets every ICMP
    /// message through for a closer look): tcpdump's "packets captured".
    pub captured: u64,
    /// Frames that passed the kernel's filter and the port filter, dropped
    /// ones included: tcpdump's "packets received by filter" (the kernel's
    /// own count less the ICMP messages and fragments it passed only for
    /// a closer look).
    pub received: u64,
    /// The command's exit status, for `capture -- COMMAND`.
    pub command_status: Option<ExitStatus>,
    /// Frames shown without a process because its evidence came later
    /// than `join::MAX_HOLD`.
    pub late: u64,
    /// How the TCP and UDP frames shown fared, when processes were looked
    /// up.
    pub tally: Option<Tally>,
    /// Events the kernel's rings lost, as far as they said.
    pub events_lost: u64,
    /// Frames taken from the source but left unshown: a second Ctrl-C
    /// asked to stop at once, or [`STOP_GRACE`] ran out after the first.
    pub abandoned: u64,
    /// With `--pid`, `--pname` or a command: what was shown (see
    /// [`End::narrowed`]; the other connections' summaries are left out
    /// too); `None` when not narrowed.
    pub(crate) narrowed: Option<Narrowed>,
}

impl Report {
    /// What the sinks see at the end.
    pub fn end(&self) -> End<'_> {
        End {
            analyzer: &self.analyzer,
            methods: &self.methods,
            tally: self.tally.as_ref(),
            narrowed: self.narrowed.as_ref(),
        }
    }
}

/// Ends every sink in order; the first error is returned, after every sink
/// had its turn.
pub fn finish(sinks: &mut [&mut dyn Sink], end: &End<'_>) -> Result<(), Error> {
    let mut first = Ok(());
    for sink in sinks.iter_mut() {
        let result = sink.finish(end);
        if first.is_ok() {
            first = result;
        }
    }
    first
}

/// A row waiting for its owner, with the bytes to save once it has one.
#[derive(Debug)]
struct Held {
    row: Row,
    /// The receiving side's lookup, for a capture narrowed to one
    /// program: a connection is its program's when either end is.
    receiver: Option<Query>,
    /// When the sender was asked for: the start of the frame's stream.
    asked: Option<Duration>,
    time: Duration,
    data: Vec<u8>,
    wire_len: u32,
    /// The interface it was captured on, and its frames' link type.
    iface: Arc<str>,
    link: LinkType,
}

/// Which processes a capture is narrowed to.
enum Target {
    Pid(u32),
    Name(String),
    Tree(u32),
}

/// The stages after the source: decode, filter, analyse, join with
/// owners, narrow, and hand on to the sinks.
struct Pipeline {
    stages: Stages,
    owners: Option<Owners>,
    target: Option<Target>,
    join: Join<Held, Query, Owner>,
    /// Each connection's first frame time and whether it was a SYN.
    starts: HashMap<usize, (Duration, bool)>,
    /// Connections proven to involve the target process.
    involved: HashMap<usize, bool>,
    /// A narrowed capture's numbering, as in the file it saves.
    renumber: Renumber,
    shown: usize,
    failure: Option<Error>,
    /// The evidence reader's progress when last seen, and when it last
    /// moved.
    progress: (u64, Instant),
    /// Asked to finish at once: no more lookups.
    hurry: bool,
    /// Some frame was named from /proc in a capture using kernel events
    /// (sockets from before the start, or a moment the events were lost).
    proc_named: bool,
    /// Some frame was named by its packet comment.
    comment_named: bool,
    /// How the TCP and UDP frames shown fared.
    tally: Tally,
    /// The sinks were started.
    started: bool,
    /// The time of the last poll, which runs between frames: when a frame
    /// taken since began to wait (one clock read per frame saved).
    now: Instant,
}

impl Pipeline {
    /// Takes one frame from the source (its bytes, when the row must wait
    /// for its owner).
    #[inline]
    fn frame(&mut self, frame: &mut Frame, iface: &Arc<str>, sinks: &mut [&mut dyn Sink]) {
        let (row, packet) = match self.stages.push(frame, iface) {
            Ok(Kept::Packet(row, p)) => (row, Some(p)),
            Ok(Kept::Other(row)) => (row, None),
            Ok(Kept::Frame) => {
                // Nothing needs its row: straight to the sinks.
                self.start(sinks);
                let shown = Shown::of(frame, iface);
                if self.failure.is_none() {
                    match sinks.iter_mut().try_for_each(|s| s.frame(&shown)) {
                        Ok(()) => self.shown += 1,
                        Err(e) => self.failure = Some(e),
                    }
                }
                return;
            }
            Ok(Kept::Left) => return,
            Err(e) => {
                self.failure.get_or_insert(e);
                return;
            }
        };
        self.start(sinks);
        if self.owners.is_none() {
            // Nothing to wait for (and nothing to narrow to): the row goes
            // now, with the process its packet comment names, if any (a
            // frame corrupted on the way names nobody: the process sent a
            // packet with other contents).
            let sender = frame
                .comment
                .as_deref()
                .filter(|_| row.bad_checksum.is_none())
                .and_then(parse_process_comment)
                .map(|c| Owner::from_comment(c.pid, Some(c.cmd), split_args(&c.args)));
            self.comment_named |= sender.is_some();
            let shown = Shown::of(frame, iface);
            self.emit_now(&shown, &row, sender.as_ref(), sinks);
            return;
        }
        let time = frame.time;
        let query = packet.as_ref().and_then(|p| self.query(p, &row, time));
        // Narrowed to a program: its server's first frame may come from
        // the other end (a client's SYN or first datagram), so the
        // receiving side is asked too (for UDP, the socket bound to the
        // receiving port, found in /proc while it lives).
        let receiver = match (&self.target, &query) {
            (Some(_), Some(q)) => Some(Query {
                src: q.dst,
                dst: q.src,
                role: match q.role {
                    Role::Client => Role::Server,
                    Role::Server => Role::Client,
                },
                ..q.clone()
            }),
            _ => None,
        };
        let held = Held {
            asked: query.as_ref().map(|q| q.stream_start),
            row,
            receiver,
            time,
            data: std::mem::take(&mut frame.data),
            wire_len: frame.wire_len,
            iface: iface.clone(),
            link: frame.link,
        };
        // Every frame is proven on its own: a side's owner can change
        // within a connection (a child forked after connect or accept, a
        // socket handed to another process), so an earlier frame's answer
        // is never reused.
        let side = None;
        self.join.push(held, query, side, self.now);
    }

    /// Starts the sinks (a table writes its heading) once: before the
    /// first row, when the source first idles, or at the end. Not before
    /// a filter expression the source's link type refuses: that is a
    /// usage error, with no table before it.
    fn start(&mut self, sinks: &mut [&mut dyn Sink]) {
        if self.started || matches!(self.failure, Some(Error::Filter(_))) {
            return;
        }
        self.started = true;
        for sink in sinks.iter_mut() {
            if let Err(e) = sink.start() {
                self.failure.get_or_insert(e);
            }
        }
    }

    /// The owner lookup for a TCP or UDP packet's row.
    fn query(&mut self, p: &Packet, row: &Row, time: Duration) -> Option<Query> {
        let tcp = matches!(p.transport, Transport::Tcp(_));
        match (&p.transport, row.conn, row.direction) {
            (Transport::Tcp(_) | Transport::Udp(_), Some(conn), Some(dir)) => {
                let start = *self.starts.entry(conn).or_insert_with(|| (time, is_syn(p)));
                Some(Query {
                    tcp,
                    src: p.src,
                    dst: p.dst,
                    time,
                    stream_start: start.0,
                    role: match dir {
                        Direction::ClientToServer => Role::Client,
                        Direction::ServerToClient => Role::Server,
                    },
                    syn: start.1,
                    len: match &p.transport {
                        Transport::Udp(u) => u.len,
                        Transport::Tcp(t) => t.len,
                        _ => 0,
                    },
                })
            }
            _ => None,
        }
    }

    /// Hands a row that waited for nothing to the sinks.
    fn emit_now(
        &mut self,
        frame: &Shown<'_>,
        row: &Row,
        sender: Option<&Owner>,
        sinks: &mut [&mut dyn Sink],
    ) {
        if self.failure.is_some() {
            return;
        }
        match to_sinks(sinks, frame, row, sender) {
            Ok(()) => self.shown += 1,
            Err(e) => self.failure = Some(e),
        }
    }

    /// Shows every row whose owner is settled; with `flush`, every row.
    fn poll(&mut self, flush: bool, sinks: &mut [&mut dyn Sink]) {
        // Rows wait only for owners.
        if self.owners.is_none() {
            return;
        }
        let now = Instant::now();
        self.now = now;
        if self.join.is_empty() {
            return;
        }
        let owners = self.owners.as_ref().filter(|_| !self.hurry);
        // Rows wait for late evidence as long as the reader keeps moving:
        // on a busy machine it falls behind, and giving up then would
        // show "unknown" for what it is about to prove.
        let progress = owners.map_or(0, Owners::progress);
        if progress != self.progress.0 {
            self.progress = (progress, now);
        }
        let patient =
            progress != 0 && now.saturating_duration_since(self.progress.1) < crate::join::MAX_HOLD;
        let proc_named = &mut self.proc_named;
        let lookup = |q: &Query| match owners {
            Some(o) => o.lookup(q).map(|(owner, method)| {
                *proc_named |= method == Method::Proc && o.method() != Method::Proc;
                owner
            }),
            None => Answer::Unknown(Reason::Unproven),
        };
        let mut out = Emit {
            target: &self.target,
            owners,
            involved: &mut self.involved,
            renumber: &mut self.renumber,
            shown: &mut self.shown,
            tally: &mut self.tally,
            failure: &mut self.failure,
            sinks,
        };
        self.join
            .poll(now, flush, patient, lookup, |held, owner, late| {
                out.emit(held, owner, late)
            });
    }

    /// How processes were named, the main method first.
    fn methods(&self) -> Vec<Method> {
        match &self.owners {
            Some(o) => {
                let mut m = vec![o.method()];
                if self.proc_named {
                    m.push(Method::Proc);
                }
                m
            }
            None if self.comment_named => vec![Method::File],
            None => Vec::new(),
        }
    }
}

/// Hands one row to every sink, in order; the first error stops it.
#[inline]
fn to_sinks(
    sinks: &mut [&mut dyn Sink],
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
) -> Result<(), Error> {
    for sink in sinks.iter_mut() {
        sink.row(frame, row, sender)?;
    }
    Ok(())
}

/// A comment's argument line, split at spaces (an argument that held a
/// space cannot be told apart; the line itself is kept whole in the file).
fn split_args(args: &str) -> Vec<String> {
    args.split(' ')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// Live capture: starts the owner evidence (before the first frame can
/// arrive), opens the packet sockets, and runs the pipeline into `sinks`
/// until a stop condition. `on_ready` runs once the sockets are open and
/// the sinks' files created. The sinks are not finished: that is the
/// caller's, with [`Report::end`].
#[cfg(target_os = "linux")]
pub fn run(
    opts: &Options,
    shutdown: &Shutdown,
    on_ready: impl FnOnce(),
    sinks: &mut [&mut dyn Sink],
) -> Result<Report, Error> {
    use crate::live::{LiveOptions, LiveSource};

    let owners = (opts.attribute || opts.narrowed()).then(|| {
        Owners::start(&crate::owners::Options {
            ports: opts.ports.clone(),
            ring_kb: opts.event_ring_kb.unwrap_or(crate::owners::RING_KB),
            ..Default::default()
        })
    });
    let mut source = LiveSource::open(&LiveOptions {
        ifaces: opts.ifaces.clone(),
        ports: opts.ports.clone(),
        snaplen: crate::pcapio::SNAPLEN,
        filter: opts.filter.clone(),
    })?;
    // The kernel runs the expression: it is not run again.
    let opts = Options {
        filter: None,
        ..opts.clone()
    };
    run_source(&mut source, &opts, owners, Some(shutdown), on_ready, sinks)
}

/// Live capture needs Linux packet sockets.
#[cfg(not(target_os = "linux"))]
pub fn run(
    _opts: &Options,
    _shutdown: &Shutdown,
    _on_ready: impl FnOnce(),
    _sinks: &mut [&mut dyn Sink],
) -> Result<Report, Error> {
    Err(Error::Capture(
        "live capture is not supported on this system; capture with tshark or Wireshark and use `net-trace read FILE`".into(),
    ))
}

/// Runs the pipeline from `source` into `sinks` until the source ends or
/// a stop condition of `opts` (or `shutdown`) holds. With `owners`, each
/// row waits for its owner's evidence (see `join`); without, it
/// goes at once. The sinks are opened and started here, not finished.
pub fn run_source<S: Source>(
    source: &mut S,
    opts: &Options,
    owners: Option<Owners>,
    shutdown: Option<&Shutdown>,
    on_ready: impl FnOnce(),
    sinks: &mut [&mut dyn Sink],
) -> Result<Report, Error> {
    let link = source.link();
    for sink in sinks.iter_mut() {
        sink.open(link)?;
    }
    on_ready();
    let mut child: Option<Child> = match &opts.command {
        Some(argv) => Some(spawn(argv)?),
        None => None,
    };
    let target = match (&child, opts.pid, &opts.pname) {
        (Some(c), _, _) => Some(Target::Tree(c.id())),
        (None, Some(pid), _) => Some(Target::Pid(pid)),
        (None, None, Some(name)) => Some(Target::Name(name.clone())),
        (None, None, None) => None,
    };
    // Narrowing needs owners; without them, every row is shown.
    let target = target.filter(|_| owners.is_some());
    let mut stages = Stages::new(&opts.ports, target.is_some(), opts.numbering)
        .with_filter(opts.filter.as_ref())
        .with_iface_notes(source.several_interfaces());
    // Only files to save, and no process to look up: no analysis.
    if owners.is_none() && !sinks.is_empty() && sinks.iter().all(|s| !s.needs_rows()) {
        stages = stages.without_rows();
    }
    let mut pipe = Pipeline {
        stages,
        owners,
        target,
        join: Join::default(),
        starts: HashMap::new(),
        involved: HashMap::new(),
        renumber: Renumber::default(),
        shown: 0,
        failure: None,
        progress: (0, Instant::now()),
        now: Instant::now(),
        hurry: false,
        proc_named: false,
        comment_named: false,
        tally: Tally::default(),
        started: false,
    };
    let fired = || shutdown.is_some_and(Shutdown::is_fired);
    let mut frame = Frame::default();
    let mut seen = 0usize;
    let mut command_status = None;
    let mut command_done: Option<Instant> = None;
    let started = Instant::now();
    loop {
        let stop = fired()
            || opts.count.is_some_and(|c| seen >= c)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
            || command_done.is_some_and(|t| t.elapsed() >= AFTER_COMMAND)
            || pipe.failure.is_some();
        if stop {
            break;
        }
        if let Some(c) = child.as_mut()
            && command_done.is_none()
            && let Ok(Some(status)) = c.try_wait()
        {
            command_status = Some(status);
            command_done = Some(Instant::now());
        }
        match source.next(&mut frame, POLL) {
            Ok(Next::Frame) => {
                seen += 1;
                let iface = source.iface();
                pipe.frame(&mut frame, iface, sinks);
            }
            Ok(Next::Idle) => {
                pipe.start(sinks);
                sinks.iter_mut().for_each(|s| s.idle());
            }
            Ok(Next::End) => break,
            Err(e) => {
                pipe.failure.get_or_insert(e);
            }
        }
        pipe.poll(false, sinks);
    }

    // Frames already taken from the kernel, then every held row, each
    // with what its evidence says once the reader has caught up.
    // A second Ctrl-C cuts this short: what is left is counted, not shown.
    let stopped = source.stop();
    let interrupted = fired();
    let grace_end = Instant::now() + STOP_GRACE;
    let hurry = || {
        shutdown.is_some_and(|s| s.signals() >= 2) || (interrupted && Instant::now() >= grace_end)
    };
    // Behind a flood the table may be far behind the capture: say what is
    // still to come, and how to cut it short.
    let backlog = source.stats().captured.saturating_sub(seen as u64);
    if backlog >= BACKLOG_NOTICE && fired() && !hurry() {
        log::warn!(
            "stopping: {backlog} frames captured before the stop are still to be shown; those not shown within {} ms are counted, not shown (Ctrl-C again to stop at once)",
            STOP_GRACE.as_millis()
        );
    }
    let mut abandoned = 0u64;
    while pipe.failure.is_none()
        && opts.count.is_none_or(|c| seen < c)
        && let Ok(Next::Frame) = source.next(&mut frame, Duration::ZERO)
    {
        if hurry() {
            abandoned += 1;
            continue;
        }
        seen += 1;
        let iface = source.iface();
        pipe.frame(&mut frame, iface, sinks);
        pipe.poll(false, sinks);
    }
    // Held rows go once their evidence is in, or once the reader has
    // stopped moving (nothing more will come) for MAX_HOLD.
    let mut last = (
        pipe.owners.as_ref().map_or(0, Owners::progress),
        Instant::now(),
    );
    loop {
        if hurry() {
            pipe.hurry = true;
            pipe.poll(true, sinks);
            break;
        }
        pipe.poll(false, sinks);
        if pipe.join.is_empty() {
            break;
        }
        let progress = pipe.owners.as_ref().map_or(0, Owners::progress);
        if progress != last.0 {
            last = (progress, Instant::now());
        }
        if last.1.elapsed() >= crate::join::MAX_HOLD {
            pipe.poll(true, sinks);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    pipe.start(sinks);
    if let Some(mut c) = child
        && command_status.is_none()
    {
        // Stopped early (Ctrl-C, a count): the command is ours to end.
        let _ = c.kill();
        command_status = c.wait().ok();
    }
    let kernel = stopped?;
    if let Some(e) = pipe.failure.take() {
        return Err(e);
    }
    let methods = pipe.methods();
    Ok(Report {
        methods,
        frames: pipe.shown,
        kernel,
        command_status,
        late: pipe.join.expired(),
        tally: pipe.owners.is_some().then_some(pipe.tally),
        events_lost: pipe.owners.as_ref().map_or(0, Owners::events_lost),
        abandoned,
        captured: pipe.stages.kept(),
        received: kernel.received.saturating_sub(pipe.stages.rejected()),
        narrowed: pipe
            .target
            .as_ref()
            .map(|_| std::mem::take(&mut pipe.renumber.shown)),
        analyzer: pipe.stages.into_analyzer(),
    })
}

fn is_syn(p: &Packet) -> bool {
    matches!(&p.transport, Transport::Tcp(t) if t.flags.syn && !t.flags.ack)
}

/// Starts the command of `capture -- COMMAND`.
fn spawn(argv: &[String]) -> Result<Child, Error> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::Capture("no command given after `--`".into()));
    };
    Command::new(program)
        .args(args)
        .spawn()
        .map_err(|source| Error::Command {
            program: program.clone(),
            source,
        })
}

/// Whether `owner` is one of the processes the capture is narrowed to.
fn matches(target: &Target, owner: &Owner, owners: Option<&Owners>) -> bool {
    match target {
        Target::Pid(pid) => owner.pid == *pid,
        Target::Name(name) => {
            owner.name == *name
                || owner
                    .cmd
                    .as_deref()
                    .and_then(|c| c.rsplit('/').next())
                    .is_some_and(|n| n == name)
        }
        Target::Tree(root) => owners.is_some_and(|o| o.is_in_tree(owner.pid, *root)),
    }
}

/// A narrowed capture's rows numbered as the file it saves holds them
/// (1, 2, 3…), not by their place among every frame captured, and the
/// frames they name (the one acknowledged, the one a duplicate ACK
/// repeats, the one an ICMP error answers) likewise; times are counted
/// from the first frame shown, as a reader of that file counts them.
/// Connections too are numbered in the order their first rows are shown,
/// as a reader of that file finds them (tshark's `tcp.stream`), so
/// hidden ones leave no gaps.
#[derive(Debug, Default)]
struct Renumber {
    /// The rows and connections shown so far (rows are shown in frame
    /// order).
    shown: Narrowed,
    /// The first row's capture time.
    start: Option<Duration>,
    /// Each connection's number as shown.
    conn_numbers: HashMap<usize, usize>,
}

impl Renumber {
    /// Numbers `row`, the next one shown, captured at `time`.
    fn row(&mut self, row: &mut Row, time: Duration) {
        let captured = row.no;
        let start = *self.start.get_or_insert(time);
        row.time = crate::analyze::RelTime::between(start, time);
        self.shown.numbers.push(captured);
        row.no = self.shown.numbers.len();
        self.shown.corrupted += u64::from(row.bad_checksum.is_some());
        if let Some(conn) = row.conn {
            let conns = &mut self.shown.conns;
            let n = *self.conn_numbers.entry(conn).or_insert_with(|| {
                conns.push(conn);
                conns.len()
            });
            row.conn = Some(n);
        }
        if let Some(t) = row.tcp.as_mut() {
            // A frame the narrowing hid has no number in the file.
            t.acks = t
                .acks
                .and_then(|(no, rtt)| self.number(no).map(|n| (n, rtt)));
        }
        if let Some((frame, n)) = row.analysis.dup_ack
            && let Some(new) = self.number(frame)
        {
            row.analysis.dup_ack = Some((new, n));
            row.info = row.info.replacen(
                &format!("[TCP Dup ACK {frame}#{n}]"),
                &format!("[TCP Dup ACK {new}#{n}]"),
                1,
            );
            renote(
                &mut row.notes,
                &format!("of frame {frame}:"),
                &format!("of frame {new}:"),
            );
        }
        if let Some(frame) = row
            .notes
            .iter()
            .find_map(|n| n.strip_prefix("answers frame "))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
        {
            let new = self.number(frame).map_or_else(
                || "answers a frame not in this capture:".to_string(),
                |n| format!("answers frame {n}:"),
            );
            renote(&mut row.notes, &format!("answers frame {frame}:"), &new);
        }
    }

    /// The number in the file of the frame the capture numbered `no`.
    fn number(&self, no: usize) -> Option<usize> {
        self.shown.numbers.binary_search(&no).ok().map(|i| i + 1)
    }
}

/// Replaces `old` with `new` in the first note holding it.
fn renote(notes: &mut [String], old: &str, new: &str) {
    if let Some(note) = notes.iter_mut().find(|n| n.contains(old)) {
        *note = note.replacen(old, new, 1);
    }
}

/// Where settled rows go: the narrowing, then the sinks.
struct Emit<'a, 's> {
    target: &'a Option<Target>,
    owners: Option<&'a Owners>,
    involved: &'a mut HashMap<usize, bool>,
    renumber: &'a mut Renumber,
    shown: &'a mut usize,
    tally: &'a mut Tally,
    failure: &'a mut Option<Error>,
    sinks: &'a mut [&'s mut dyn Sink],
}

impl Emit<'_, '_> {
    /// Shows and saves one row, unless the narrowing hides it or a sink
    /// already failed.
    fn emit(&mut self, mut held: Held, owner: Option<Owner>, late: bool) {
        if self.failure.is_some() {
            return;
        }
        if let Some(target) = self.target {
            let row = &held.row;
            // An ICMP error belongs to the flow it answers.
            let Some(conn) = row.conn else {
                return;
            };
            let marked = self.involved.get(&conn).copied().unwrap_or(false);
            let hit = marked
                || owner
                    .as_ref()
                    .is_some_and(|o| matches(target, o, self.owners))
                // The first frame may come from the other end (the SYN to
                // the program's server): its receiver is asked too.
                || held.receiver.as_ref().is_some_and(|q| {
                    self.owners.is_some_and(|owners| {
                        matches!(owners.receiver(q), Answer::Known((o, _)) if matches(target, &o, self.owners))
                    })
                });
            self.involved.insert(conn, hit);
            if !hit {
                return;
            }
            self.renumber.row(&mut held.row, held.time);
        }
        let row = &held.row;
        let frame = Shown {
            time: held.time,
            data: &held.data,
            wire_len: held.wire_len,
            link: held.link,
            iface: &held.iface,
        };
        match to_sinks(self.sinks, &frame, row, owner.as_ref()) {
            Ok(()) => *self.shown += 1,
            Err(e) => *self.failure = Some(e),
        }
        if let Some(start) = held.asked {
            let lost =
                owner.is_none() && self.owners.is_some_and(|o| o.lost_around(start, held.time));
            self.tally.count(owner.is_some(), late, lost);
        }
    }
}
