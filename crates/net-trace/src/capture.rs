//! Live capture: frames from packet sockets (on their own thread), decoded,
//! filtered, analysed, joined with the process that sent each, then shown
//! and saved, until a count, a duration, Ctrl-C or the end of a command.
//! [`Replay`] takes a saved capture through the same decode, filter and
//! analysis.
//!
//! # Flow
//! ```text
//! live::LiveSource ──frames──▶ decode ─▶ filter ─▶ Analyzer ─▶ join ──▶ on_row, pcap/pcapng
//!   (capture thread)                                            ▲
//!                                      owners::Owners ──────────┘ (kernel events / /proc)
//! ```
//! Nothing slow runs between the socket and its queue: the capture thread
//! only copies frames out of the kernel, so a burst never overflows the
//! socket while a row waits for its owner.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use net_core::Shutdown;

use crate::Error;
use crate::analyze::{Analyzer, Direction, Row};
use crate::decode::{Decoded, Decoder, Packet, Transport};
use crate::join::{Answer, Join};
use crate::owners::{Lookup, Method, Owner, Owners, Query, Role};
use crate::pcapio::{
    FileReader, Frame, PcapNgOut, PcapOut, SNAPLEN, parse_process_comment, process_comment,
};

/// How often the loop looks at stop conditions and held rows when no
/// frame arrives.
const POLL: Duration = Duration::from_millis(5);

/// After the command of `capture -- COMMAND` exits, frames still in flight
/// (the kernel's FIN and ACKs for its sockets) are taken this long.
const AFTER_COMMAND: Duration = Duration::from_millis(200);

/// What to capture.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interface names; `any` for every interface.
    pub ifaces: Vec<String>,
    /// Keep only frames to or from these ports (all when empty).
    pub ports: Vec<u16>,
    /// Keep only frames this expression keeps (run in the kernel).
    pub filter: Option<crate::filter::Filter>,
    /// Save the frames shown to this classic pcap file.
    pub pcap: Option<PathBuf>,
    /// Save the frames shown to this pcapng file, each with its sending
    /// process as a packet comment.
    pub pcapng: Option<PathBuf>,
    /// Stop after this many frames.
    pub count: Option<usize>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Name the process that sent each frame.
    pub attribute: bool,
    /// Show only connections of this process.
    pub pid: Option<u32>,
    /// Show only connections of processes with this program name.
    pub pname: Option<String>,
    /// Run this command (program and arguments) once capturing, show only
    /// its process tree's connections, and stop when it exits.
    pub command: Option<Vec<String>>,
}

/// Whether a packet passes the port filter; an ICMP error passes when the
/// datagram it quotes would.
pub fn wanted(p: &Packet, ports: &[u16]) -> bool {
    if ports.is_empty() {
        return true;
    }
    let hit = |a: u16, b: u16| ports.contains(&a) || ports.contains(&b);
    match &p.transport {
        Transport::Icmp(icmp) => icmp.quoted.is_some_and(|q| hit(q.src.port(), q.dst.port())),
        // A fragment's ports are in its first piece only; the datagram is
        // judged on the fragment that completes it, as tshark's display
        // filters do.
        Transport::Fragment(_) => false,
        _ => hit(p.src.port(), p.dst.port()),
    }
}

/// A saved capture through the same stages as a live one: each frame
/// decoded, filtered by port and analysed, with the process its packet
/// comment names (net-trace's pcapng writes one per frame). Frames the
/// filter leaves out still take their number, as in tshark's display.
#[derive(Debug)]
pub struct Replay<'a> {
    reader: &'a mut FileReader,
    ports: &'a [u16],
    filter: Option<crate::filter::Matcher>,
    decoder: Decoder,
    analyzer: Analyzer,
    /// One frame buffer, reused for every record.
    frame: Frame,
    /// Some frame's comment named its process.
    named: bool,
}

impl<'a> Replay<'a> {
    /// Reads `reader`'s frames, keeping those to or from `ports` (all when
    /// empty) as [`wanted`] says.
    pub fn new(reader: &'a mut FileReader, ports: &'a [u16]) -> Self {
        Replay {
            reader,
            ports,
            filter: None,
            decoder: Decoder::new(),
            analyzer: Analyzer::new(),
            frame: Frame::default(),
            named: false,
        }
    }

    /// Also keeps only the frames `filter` keeps (as `tcpdump -r FILE
    /// EXPR` does), before decoding.
    pub fn with_filter(mut self, filter: Option<&crate::filter::Filter>) -> Self {
        self.filter = filter.map(crate::filter::Filter::matcher);
        self
    }

    /// The next row kept, with the process that sent its frame when the
    /// file says; `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<(Row, Option<Owner>)>, Error> {
        let f = &mut self.frame;
        while self.reader.read_frame(f)? {
            if let Some(m) = self.filter.as_mut()
                && !m.matches(f.link, &f.data, f.wire_len)?
            {
                self.analyzer.skip(f.time);
                continue;
            }
            let row = match self.decoder.decode(f.link, &f.data, f.time, f.wire_len) {
                Decoded::Packet(p) if wanted(&p, self.ports) => self.analyzer.push(&p),
                Decoded::Other(o) if self.ports.is_empty() => self.analyzer.push_other(&o),
                Decoded::Packet(p) => {
                    self.analyzer.skip(p.time);
                    continue;
                }
                Decoded::Other(o) => {
                    self.analyzer.skip(o.time);
                    continue;
                }
            };
            let sender = f
                .comment
                .as_deref()
                .and_then(parse_process_comment)
                .map(|c| Owner::from_comment(c.pid, Some(c.cmd), split_args(&c.args)));
            self.named |= sender.is_some();
            return Ok(Some((row, sender)));
        }
        Ok(None)
    }

    /// The analysis so far, for summaries.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// How processes were named: from the file's comments when any frame
    /// had one, else not at all.
    pub fn methods(&self) -> &'static [Method] {
        if self.named { &[Method::File] } else { &[] }
    }
}

/// A comment's argument line, split at spaces (an argument that held a
/// space cannot be told apart; the line itself is kept whole in the file).
fn split_args(args: &str) -> Vec<String> {
    args.split(' ')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// Frames still to be shown at a Ctrl-C from which on it says so.
const BACKLOG_NOTICE: u64 = 10_000;

/// Everything a capture produced.
#[derive(Debug)]
pub struct Report {
    /// The analysis, for summaries.
    pub analyzer: Analyzer,
    /// How owners were proven, the main method first (empty when not
    /// looked up).
    pub methods: Vec<Method>,
    /// Frames shown.
    pub frames: usize,
    /// The kernel's counts: received by its filter, and dropped for want
    /// of room.
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
    /// than [`crate::join::MAX_HOLD`].
    pub late: u64,
    /// Frames taken from the kernel but left unshown because a second
    /// Ctrl-C asked to stop at once.
    pub abandoned: u64,
    /// With `--pid`, `--pname` or a command: the connections shown (the
    /// others' summaries are left out too); `None` when not narrowed.
    pub shown: Option<std::collections::HashSet<usize>>,
}

/// A row waiting for its owner, with the bytes to save once it has one.
#[derive(Debug)]
struct Held {
    row: Row,
    /// The receiving side's lookup, for a capture narrowed to one
    /// program: a connection is its program's when either end is.
    receiver: Option<Query>,
    time: Duration,
    data: Vec<u8>,
    wire_len: u32,
    /// The interface it was captured on, and its frames' link type.
    iface: std::sync::Arc<str>,
    link: crate::decode::LinkType,
}

/// Which processes a capture is narrowed to.
enum Target {
    Pid(u32),
    Name(String),
    Tree(u32),
}

/// The stages between the capture thread and the caller: decode, filter,
/// analyse, join with owners, show and save.
struct Pipeline<'a> {
    opts: &'a Options,
    owners: Option<Owners>,
    target: Option<Target>,
    decoder: Decoder,
    analyzer: Analyzer,
    join: Join<Held, Query, Owner>,
    /// Each connection's first frame time and whether it was a SYN.
    starts: HashMap<usize, (Duration, bool)>,
    /// Connections proven to involve the target process.
    involved: HashMap<usize, bool>,
    pcap: Option<PcapOut>,
    pcapng: Option<PcapNgOut>,
    shown: usize,
    failure: Option<Error>,
    /// Frames come from several interfaces (or `any`): each row names its
    /// own.
    several: bool,
    /// The evidence reader's progress when last seen, and when it last
    /// moved.
    progress: (u64, Instant),
    /// Asked to finish at once: no more lookups.
    hurry: bool,
    /// Some frame was named from /proc in a capture using kernel events
    /// (sockets from before the start, or a moment the events were lost).
    proc_named: bool,
    /// Frames that passed the port filter: "packets captured".
    kept: u64,
    /// Frames the kernel's filter passed for a closer look that the port
    /// filter then left out.
    rejected: u64,
    /// The pcapng's interface number of each interface seen.
    ng_ifaces: HashMap<std::sync::Arc<str>, u32>,
}

impl Pipeline<'_> {
    /// Takes one frame from the capture thread.
    #[cfg(target_os = "linux")]
    fn frame(&mut self, frame: crate::live::LiveFrame) {
        let (time, wire_len) = (frame.time, frame.wire_len);
        let narrowed = !self.opts.ports.is_empty() || self.target.is_some();
        match self.decoder.decode(frame.link, &frame.data, time, wire_len) {
            Decoded::Packet(p) if wanted(&p, &self.opts.ports) => {
                let mut row = self.analyzer.push(&p);
                if self.several {
                    row.notes.insert(0, format!("on {}", frame.iface));
                }
                let tcp = matches!(p.transport, Transport::Tcp(_));
                let query = match (&p.transport, row.conn, row.direction) {
                    (Transport::Tcp(_) | Transport::Udp(_), Some(conn), Some(dir)) => {
                        let start = *self
                            .starts
                            .entry(conn)
                            .or_insert_with(|| (time, is_syn(&p)));
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
                };
                // Every frame is proven on its own: a side's owner can
                // change within a connection (a child forked after
                // connect or accept, a socket handed to another process),
                // so an earlier frame's answer is never reused.
                let side = None;
                // Narrowed to a program: its server's first frame may come
                // from the other end (a client's SYN or first datagram), so
                // the receiving side is asked too (for UDP, the socket bound
                // to the receiving port, found in /proc while it lives).
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
                    row,
                    receiver,
                    time,
                    data: frame.data,
                    wire_len,
                    iface: frame.iface.clone(),
                    link: frame.link,
                };
                self.kept += 1;
                self.join.push(held, query, side, Instant::now());
            }
            Decoded::Other(other) if !narrowed => {
                let mut row = self.analyzer.push_other(&other);
                if self.several {
                    row.notes.insert(0, format!("on {}", frame.iface));
                }
                let held = Held {
                    row,
                    receiver: None,
                    time,
                    data: frame.data,
                    wire_len,
                    iface: frame.iface.clone(),
                    link: frame.link,
                };
                self.kept += 1;
                self.join.push(held, None, None, Instant::now());
            }
            // Left out by the port filter: as a capture filter does, it is
            // neither numbered nor counted as received by the filter (the
            // kernel's filter lets every ICMP message and fragment through
            // for a look).
            _ => self.rejected += 1,
        }
    }

    /// Shows every row whose owner is settled; with `flush`, every row.
    fn poll(&mut self, flush: bool, on_row: &mut impl FnMut(&Row, Option<&Owner>)) {
        let owners = self.owners.as_ref().filter(|_| !self.hurry);
        // Rows wait for late evidence as long as the reader keeps moving:
        // on a busy machine it falls behind, and giving up then would
        // show "unknown" for what it is about to prove.
        let now = Instant::now();
        let progress = owners.map_or(0, Owners::progress);
        if progress != self.progress.0 {
            self.progress = (progress, now);
        }
        let patient =
            progress != 0 && now.saturating_duration_since(self.progress.1) < crate::join::MAX_HOLD;
        let proc_named = &mut self.proc_named;
        let lookup = |q: &Query| match owners {
            Some(o) => match o.lookup(q) {
                Lookup::Known(owner, method) => {
                    *proc_named |= method == Method::Proc && o.method() != Method::Proc;
                    Answer::Known(owner)
                }
                Lookup::Unknown => Answer::Unknown,
                Lookup::Pending => Answer::Pending,
            },
            None => Answer::Unknown,
        };
        let mut out = Emit {
            target: &self.target,
            owners,
            involved: &mut self.involved,
            pcap: &mut self.pcap,
            pcapng: &mut self.pcapng,
            ng_ifaces: &mut self.ng_ifaces,
            shown: &mut self.shown,
            failure: &mut self.failure,
        };
        self.join.poll(now, flush, patient, lookup, |held, owner| {
            out.emit(held, owner, on_row)
        });
    }
}

/// Captures until a stop condition; `on_row` sees each annotated frame
/// with the process that sent it, once proven (or known unknowable), and
/// `on_idle` runs when no frame came for a moment (the time to flush
/// buffered output).
#[cfg(target_os = "linux")]
pub fn run(
    opts: &Options,
    shutdown: &Shutdown,
    on_ready: impl FnOnce(),
    mut on_row: impl FnMut(&Row, Option<&Owner>),
    mut on_idle: impl FnMut(),
) -> Result<Report, Error> {
    use crate::live::{LiveOptions, LiveSource};

    let narrowed = opts.pid.is_some() || opts.pname.is_some() || opts.command.is_some();
    // Evidence must be gathering before the first frame arrives.
    let owners = (opts.attribute || narrowed).then(|| {
        Owners::start(&crate::owners::Options {
            ports: opts.ports.clone(),
            ..Default::default()
        })
    });
    let mut source = LiveSource::open(&LiveOptions {
        ifaces: opts.ifaces.clone(),
        ports: opts.ports.clone(),
        snaplen: SNAPLEN,
        filter: opts.filter.clone(),
    })?;
    let pcap = match &opts.pcap {
        Some(p) => Some(PcapOut::create(p, source.link())?),
        None => None,
    };
    let pcapng = match &opts.pcapng {
        Some(p) => {
            // Interfaces are described as their first frame comes, so
            // each frame names its own and a one-interface file stays
            // readable by tcpdump.
            Some(PcapNgOut::create(p)?)
        }
        None => None,
    };
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
    let mut pipe = Pipeline {
        opts,
        owners,
        target,
        decoder: Decoder::new(),
        analyzer: Analyzer::new(),
        join: Join::default(),
        starts: HashMap::new(),
        involved: HashMap::new(),
        pcap,
        pcapng,
        shown: 0,
        failure: None,
        several: opts.ifaces.len() > 1 || opts.ifaces.iter().any(|i| i == crate::live::ANY),
        progress: (0, Instant::now()),
        hurry: false,
        proc_named: false,
        kept: 0,
        rejected: 0,
        ng_ifaces: HashMap::new(),
    };
    let mut seen = 0usize;
    let mut command_status = None;
    let mut command_done: Option<Instant> = None;
    let started = Instant::now();
    loop {
        let stop = shutdown.is_fired()
            || opts.count.is_some_and(|c| seen >= c)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
            || command_done.is_some_and(|t| t.elapsed() >= AFTER_COMMAND)
            || pipe.failure.is_some()
            || source.is_finished();
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
        match source.recv(POLL) {
            Some(frame) => {
                seen += 1;
                pipe.frame(frame);
            }
            None => on_idle(),
        }
        pipe.poll(false, &mut on_row);
    }

    // Frames already taken from the kernel, then every held row, each
    // with what its evidence says once the reader has caught up.
    // A second Ctrl-C cuts this short: what is left is counted, not shown.
    let stopped = source.stop();
    let hurry = || shutdown.signals() >= 2;
    // Behind a flood the table may be far behind the capture: say what is
    // still to come, and how to cut it short.
    let backlog = source.stats().captured.saturating_sub(seen as u64);
    if backlog >= BACKLOG_NOTICE && shutdown.is_fired() && !hurry() {
        log::warn!(
            "stopping: {backlog} frames captured before the stop are still to be shown; Ctrl-C again to stop at once"
        );
    }
    let mut abandoned = 0u64;
    while opts.count.is_none_or(|c| seen < c)
        && let Some(frame) = source.recv(Duration::ZERO)
    {
        if hurry() {
            abandoned += 1;
            continue;
        }
        seen += 1;
        pipe.frame(frame);
        pipe.poll(false, &mut on_row);
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
            pipe.poll(true, &mut on_row);
            break;
        }
        pipe.poll(false, &mut on_row);
        if pipe.join.is_empty() {
            break;
        }
        let progress = pipe.owners.as_ref().map_or(0, Owners::progress);
        if progress != last.0 {
            last = (progress, Instant::now());
        }
        if last.1.elapsed() >= crate::join::MAX_HOLD {
            pipe.poll(true, &mut on_row);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(out) = pipe.pcap.as_mut() {
        out.flush()?;
    }
    if let Some(out) = pipe.pcapng.as_mut() {
        out.flush()?;
    }
    if let Some(mut c) = child
        && command_status.is_none()
    {
        // Stopped early (Ctrl-C, a count): the command is ours to end.
        let _ = c.kill();
        command_status = c.wait().ok();
    }
    let kernel = stopped?;
    if let Some(e) = pipe.failure {
        return Err(e);
    }
    Ok(Report {
        analyzer: pipe.analyzer,
        methods: pipe.owners.as_ref().map_or_else(Vec::new, |o| {
            let mut m = vec![o.method()];
            if pipe.proc_named {
                m.push(Method::Proc);
            }
            m
        }),
        frames: pipe.shown,
        kernel,
        command_status,
        late: pipe.join.expired(),
        abandoned,
        captured: pipe.kept,
        received: kernel.received.saturating_sub(pipe.rejected),
        shown: pipe.target.as_ref().map(|_| {
            pipe.involved
                .iter()
                .filter_map(|(conn, hit)| hit.then_some(*conn))
                .collect()
        }),
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
        .map_err(|source| Error::CaptureIo {
            what: format!("cannot run {program}"),
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

/// Where settled rows go: the narrowing, the owners' record, the files
/// and the caller.
struct Emit<'a> {
    target: &'a Option<Target>,
    owners: Option<&'a Owners>,
    involved: &'a mut HashMap<usize, bool>,
    pcap: &'a mut Option<PcapOut>,
    pcapng: &'a mut Option<PcapNgOut>,
    ng_ifaces: &'a mut HashMap<std::sync::Arc<str>, u32>,
    shown: &'a mut usize,
    failure: &'a mut Option<Error>,
}

impl Emit<'_> {
    /// Shows and saves one row, unless the narrowing hides it or saving
    /// already failed.
    fn emit(
        &mut self,
        held: Held,
        owner: Option<Owner>,
        on_row: &mut impl FnMut(&Row, Option<&Owner>),
    ) {
        if self.failure.is_some() {
            return;
        }
        let row = &held.row;
        if let Some(target) = self.target {
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
                        matches!(owners.receiver(q), Lookup::Known(o, _) if matches(target, &o, self.owners))
                    })
                });
            self.involved.insert(conn, hit);
            if !hit {
                return;
            }
        }
        if let Err(e) = self.save(&held, owner.as_ref()) {
            *self.failure = Some(e);
            return;
        }
        *self.shown += 1;
        on_row(row, owner.as_ref());
    }

    fn save(&mut self, held: &Held, owner: Option<&Owner>) -> Result<(), Error> {
        if let Some(out) = self.pcap.as_mut() {
            out.write(held.time, &held.data, held.wire_len)?;
        }
        if let Some(out) = self.pcapng.as_mut() {
            let comment = owner.map(|o| {
                let cmd = o.cmd.clone().unwrap_or_else(|| o.name.clone());
                process_comment(o.pid, &cmd, &o.args)
            });
            let id = match self.ng_ifaces.get(&held.iface) {
                Some(id) => *id,
                None => {
                    let id = out.add_interface(&held.iface, held.link)?;
                    self.ng_ifaces.insert(held.iface.clone(), id);
                    id
                }
            };
            out.write(id, held.time, &held.data, held.wire_len, comment.as_deref())?;
        }
        Ok(())
    }
}

/// Live capture needs Linux packet sockets.
#[cfg(not(target_os = "linux"))]
pub fn run(
    _opts: &Options,
    _shutdown: &Shutdown,
    _on_ready: impl FnOnce(),
    _on_row: impl FnMut(&Row, Option<&Owner>),
    _on_idle: impl FnMut(),
) -> Result<Report, Error> {
    Err(Error::Capture(
        "live capture is not supported on this system; capture with tshark or Wireshark and use `net-trace read FILE`".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Fragment, Icmp, Quoted, Udp};

    fn packet(src: &str, dst: &str, transport: Transport) -> Packet {
        Packet {
            time: Duration::ZERO,
            wire_len: 60,
            cap_len: 60,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            transport,
        }
    }

    #[test]
    fn the_port_filter_keeps_icmp_errors_about_its_ports() {
        let udp = packet(
            "127.0.0.1:40000",
            "127.0.0.1:12000",
            Transport::Udp(Udp {
                len: 0,
                payload: vec![],
            }),
        );
        assert!(wanted(&udp, &[]) && wanted(&udp, &[12000]) && !wanted(&udp, &[80]));
        let icmp = packet(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Transport::Icmp(Icmp {
                v6: false,
                kind: 3,
                code: 3,
                echo: None,
                ttl: 64,
                ndp: None,
                quoted: Some(Quoted {
                    protocol: 17,
                    src: udp.src,
                    dst: udp.dst,
                }),
            }),
        );
        assert!(wanted(&icmp, &[12000]) && wanted(&icmp, &[40000]) && !wanted(&icmp, &[80]));
        // A fragment is judged on the one that completes its datagram.
        let frag = packet(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Transport::Fragment(Fragment {
                protocol: 17,
                id: 1,
                offset: 0,
                len: 1480,
            }),
        );
        assert!(wanted(&frag, &[]) && !wanted(&frag, &[12000]));
    }
}
