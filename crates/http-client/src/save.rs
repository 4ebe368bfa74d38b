//! Saving a body into a file the way `curl -o FILE` does, without ever
//! harming what is already there.
//!
//! - A target that is not a regular file (a terminal, `/dev/null`, a FIFO,
//!   a socket) is written straight into: replacing it would destroy it.
//! - A symlink is followed: the file it points to receives the body.
//! - A regular file (or a new one) receives the body through a temporary
//!   file in the same directory, renamed into place only once the body is
//!   complete, so a failed download leaves the old file untouched. The
//!   temporary file gets the existing file's mode and owner, or
//!   `0666 & !umask` for a new file. When the rename would lose something
//!   (other hard links, an owner we cannot give), the finished body is
//!   copied into the existing file instead.
//! - An existing file whose directory refuses the temporary file (the user
//!   may write the file but not create files beside it) is written in
//!   place instead, as curl always writes: truncated once the final status
//!   is known, then filled. This alone gives up the old contents before
//!   the body is complete, so a download that fails then leaves the file
//!   holding what arrived (an interrupted one too: there is no temporary
//!   file to remove), and the error says how many bytes that is.
//! - A response of 400 or more is not saved at all, as with `curl -f`,
//!   unless asked for (`--fail-with-body`).
//! - Resuming (`-C -`) appends to the existing file instead, once the
//!   server's `206` and `Content-Range` say the body continues it.
//! - While a temporary file exists its path is registered, so
//!   [`remove_on_signals`] can delete it when the user interrupts.
//!
//! Saving into a file exactly as `http-client -o page.html URL` does:
//! ```no_run
//! use http_client::{Client, Request, Url, save, show::Show};
//! let request = Request::new(Url::parse("http://127.0.0.1:6789/HelloWorld.html")?);
//! let output = save::Output::File("page.html".into());
//! let mut show = Show::new().silent(true);
//! let done = save::fetch(&mut Client::new(), &request, &output, &mut show, false)?;
//! assert!(done.head.status < 400);
//! # Ok::<(), http_client::Error>(())
//! ```
//!
//! Only with the `cli` feature (the default): it needs tempfile, and nix
//! for the signals.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::client::{Client, Observer, Transfer};
use crate::request::Request;
use crate::response::Head;
use crate::{Error, Result};

/// Most symlinks followed to find where a dangling link points (Linux's
/// own limit).
const MAX_SYMLINKS: usize = 40;

/// Write buffer in front of the file: smaller than the client's reads, so
/// whole reads go straight to the file and only small pieces are gathered.
const WRITE_BUFFER: usize = 64 * 1024;

/// The temporary file being written now, for removal on a signal.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

fn pending() -> std::sync::MutexGuard<'static, Option<PathBuf>> {
    // The slot holds a plain path; a panic elsewhere cannot leave it torn.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a download goes, decided before the request is sent.
#[derive(Debug)]
enum Plan {
    /// Not a regular file: opened for writing and written straight into.
    Direct(PathBuf),
    /// A regular file, or none yet: through a temporary file.
    Replace {
        /// The file finally written (symlinks resolved).
        path: PathBuf,
        /// Its metadata when it exists.
        existing: Option<fs::Metadata>,
    },
}

fn plan(path: &Path) -> io::Result<Plan> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        )),
        Ok(m) if !m.is_file() => Ok(Plan::Direct(path.to_path_buf())),
        Ok(m) => {
            // A file we may not write stays as it is, as with curl, even
            // when its directory would let a rename replace it. Opening
            // without truncating changes nothing.
            OpenOptions::new().write(true).open(path)?;
            Ok(Plan::Replace {
                path: fs::canonicalize(path)?,
                existing: Some(m),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Plan::Replace {
            path: dangling_target(path)?,
            existing: None,
        }),
        Err(e) => Err(e),
    }
}

/// Where a missing `path` will be created: through a dangling symlink, the
/// file it names (as `open(O_CREAT)` would).
fn dangling_target(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_SYMLINKS} symbolic links"),
    ))
}

/// The destination: opened (or created) only once the final status is
/// known, so an error response creates nothing.
#[derive(Debug)]
struct Sink<'a> {
    plan: &'a Plan,
    /// Whether the final body is dropped (see [`Watch`]).
    discard: &'a Cell<bool>,
    out: Option<Out>,
}

#[derive(Debug)]
enum Out {
    Direct(BufWriter<File>),
    Temp(BufWriter<tempfile::NamedTempFile>),
    /// The existing file itself, truncated: its directory refused the
    /// temporary file.
    InPlace(BufWriter<File>),
    /// The response is an error: its body is not saved.
    Discard,
}

impl Sink<'_> {
    fn open(&mut self) -> io::Result<&mut Out> {
        if self.out.is_none() {
            let out = if self.discard.get() {
                Out::Discard
            } else {
                match self.plan {
                    Plan::Direct(path) => Out::Direct(BufWriter::with_capacity(
                        WRITE_BUFFER,
                        OpenOptions::new().write(true).open(path)?,
                    )),
                    Plan::Replace { path, existing } => match temporary(path, existing.as_ref()) {
                        Ok(tmp) => Out::Temp(BufWriter::with_capacity(WRITE_BUFFER, tmp)),
                        // `plan` checked that the file itself may be
                        // written; only its directory refuses a new file.
                        Err(e) if existing.is_some() => {
                            log::debug!(
                                "no temporary file beside {} ({e}): writing in place",
                                path.display()
                            );
                            Out::InPlace(BufWriter::with_capacity(
                                WRITE_BUFFER,
                                OpenOptions::new().write(true).truncate(true).open(path)?,
                            ))
                        }
                        Err(e) => return Err(e),
                    },
                }
            };
            self.out = Some(out);
        }
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the output is not open"))
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.open()? {
            Out::Direct(w) | Out::InPlace(w) => w.write(buf),
            Out::Temp(w) => w.write(buf),
            Out::Discard => Ok(buf.len()),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.open()? {
            Out::Direct(w) | Out::InPlace(w) => w.write_all(buf),
            Out::Temp(w) => w.write_all(buf),
            Out::Discard => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(Out::Direct(w) | Out::InPlace(w)) => w.flush(),
            Some(Out::Temp(w)) => w.flush(),
            _ => Ok(()),
        }
    }
}

/// Creates the temporary file beside `path`, with the mode (and owner)
/// the finished file must have, and registers it for removal on signals.
fn temporary(path: &Path, existing: Option<&fs::Metadata>) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".http-client-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to this, as for any new file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir)?;
    *pending() = Some(tmp.path().to_path_buf());
    if let Some(m) = existing {
        // Exactly the existing file's mode, whatever the umask.
        tmp.as_file().set_permissions(m.permissions())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mine = tmp.as_file().metadata()?;
            if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
                // Failure is handled at the end: the body is then copied
                // into the existing file, which keeps its owner.
                let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
            }
        }
    }
    Ok(tmp)
}

/// Whether renaming over the existing file would lose something a write
/// into it keeps: other hard links, or an owner the new file lacks.
fn must_copy_in(tmp: &File, existing: Option<&fs::Metadata>) -> io::Result<bool> {
    let Some(_m) = existing else {
        return Ok(false);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mine = tmp.metadata()?;
        Ok(_m.nlink() > 1 || (mine.uid(), mine.gid()) != (_m.uid(), _m.gid()))
    }
    #[cfg(not(unix))]
    {
        let _ = tmp;
        Ok(false)
    }
}

/// Puts the finished temporary file in place of `path`.
fn finish(
    tmp: tempfile::NamedTempFile,
    path: &Path,
    existing: Option<&fs::Metadata>,
) -> io::Result<()> {
    // Held until the file is in place, so a signal arriving now waits and
    // then finds nothing left to remove.
    let mut slot = pending();
    let result = finish_locked(tmp, path, existing);
    *slot = None;
    result
}

fn finish_locked(
    tmp: tempfile::NamedTempFile,
    path: &Path,
    existing: Option<&fs::Metadata>,
) -> io::Result<()> {
    if must_copy_in(tmp.as_file(), existing)? {
        let mut from = tmp.reopen()?;
        from.rewind()?;
        let mut to = OpenOptions::new().write(true).truncate(true).open(path)?;
        io::copy(&mut from, &mut to)?;
        // `tmp` is removed as it goes out of scope.
        Ok(())
    } else {
        tmp.persist(path).map(drop).map_err(|e| e.error)
    }
}

/// Tells the sink, before the body arrives, whether to drop it: a status
/// of 400 or more unless error bodies are kept, or a time condition
/// (`-z`) the server ignored and the document does not meet (as curl
/// drops it).
struct Watch<'a> {
    inner: &'a mut dyn Observer,
    discard: &'a Cell<bool>,
    request: &'a Request,
    keep_errors: bool,
}

impl Observer for Watch<'_> {
    fn request(&mut self, raw: &[u8]) {
        self.inner.request(raw);
    }
    fn head(&mut self, head: &Head) {
        self.discard
            .set((head.status >= 400 && !self.keep_errors) || !self.request.condition_met(head));
        self.inner.head(head);
    }
    fn body_start(&mut self, len: Option<u64>) {
        self.inner.body_start(len);
    }
    fn progress(&mut self, n: u64) {
        self.inner.progress(n);
    }
    fn info(&mut self, line: &str) {
        self.inner.info(line);
    }
}

/// Where a body goes: `-o FILE`, or stdout (no `-o`, or `-o -`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output, byte for byte.
    Stdout,
    /// A file, written as [`to_file`] does.
    File(PathBuf),
}

impl Output {
    /// The output an `-o` argument names: `-` is stdout, as for curl.
    pub fn from_arg(arg: Option<&Path>) -> Output {
        match arg {
            Some(p) if p != Path::new("-") => Output::File(p.to_path_buf()),
            _ => Output::Stdout,
        }
    }
}

/// Sends `request` and puts the body into `output` exactly as the binary
/// does; the body of a response of 400 or more only with `keep_errors`.
pub fn fetch(
    client: &mut Client,
    request: &Request,
    output: &Output,
    observer: &mut dyn Observer,
    keep_errors: bool,
) -> Result<Transfer> {
    match output {
        Output::File(path) => to_file(client, request, path, observer, keep_errors),
        Output::Stdout => {
            let stdout = io::stdout();
            let discard = Cell::new(false);
            let mut out = Gate {
                inner: BufWriter::with_capacity(WRITE_BUFFER, stdout.lock()),
                discard: &discard,
            };
            let result = client.send(
                request,
                &mut out,
                &mut Watch {
                    inner: observer,
                    discard: &discard,
                    request,
                    keep_errors,
                },
            );
            // What arrived is written out even when the download failed.
            out.flush()
                .map_err(|source| Error::Write { path: None, source })
                .and(result)
        }
    }
}

/// Sends `request` and saves the body into the file at `path` as `curl
/// -o` does (see the module docs); a status of 400 or more leaves the file
/// as it was unless `keep_errors`.
pub fn to_file(
    client: &mut Client,
    request: &Request,
    path: &Path,
    observer: &mut dyn Observer,
    keep_errors: bool,
) -> Result<Transfer> {
    let write_err = |source: io::Error| Error::Write {
        path: Some(path.to_path_buf()),
        source,
    };
    let plan = plan(path).map_err(write_err)?;
    let discard = Cell::new(false);
    let mut sink = Sink {
        plan: &plan,
        discard: &discard,
        out: None,
    };
    let fetched = client.send(
        request,
        &mut sink,
        &mut Watch {
            inner: observer,
            discard: &discard,
            request,
            keep_errors,
        },
    );
    let fetched = match fetched {
        Ok(f) => f,
        Err(e) => {
            let in_place = match sink.out.take() {
                Some(Out::InPlace(w)) => Some(w),
                _ => None,
            };
            drop(sink);
            *pending() = None;
            let e = match e {
                // The file is the only thing written here: name it.
                Error::Write { source, .. } => write_err(source),
                e => e,
            };
            let Some(w) = in_place else {
                return Err(e);
            };
            // The old contents are gone: say what the file holds now.
            let bytes = match w.into_inner() {
                Ok(file) => file.metadata().map(|m| m.len()).ok(),
                Err(_) => None,
            };
            return Err(Error::InPlace {
                path: path.to_path_buf(),
                bytes,
                source: Box::new(e),
            });
        }
    };
    // An empty body still creates (or empties) the file, as curl does.
    sink.open().map_err(write_err)?;
    match sink.out.take() {
        Some(Out::Direct(w) | Out::InPlace(w)) => {
            w.into_inner().map_err(|e| write_err(e.into_error()))?;
        }
        Some(Out::Temp(w)) => {
            let tmp = w.into_inner().map_err(|e| {
                *pending() = None;
                write_err(e.into_error())
            })?;
            if let Plan::Replace { path, existing } = &plan {
                finish(tmp, path, existing.as_ref()).map_err(write_err)?;
            }
        }
        Some(Out::Discard) | None => {}
    }
    Ok(fetched)
}

/// Sends `request` (which asks for `Range: bytes=OFFSET-`) and appends
/// the body to `output` as `curl -C` does, once the final head shows the
/// server resumes at `offset`: a `206` whose `Content-Range` starts there.
/// A `416` (the file is already whole) or a `200` of exactly `offset`
/// bytes writes nothing and succeeds; any other answer below 400 is
/// [`Error::Range`], and the file is left as it was.
pub fn resume(
    client: &mut Client,
    request: &Request,
    output: &Output,
    offset: u64,
    observer: &mut dyn Observer,
) -> Result<Transfer> {
    let verdict = std::cell::RefCell::new(Verdict::Ignore);
    let mut sink = Appender {
        output,
        verdict: &verdict,
        out: None,
    };
    let sent = client.send(
        request,
        &mut sink,
        &mut Judge {
            inner: observer,
            verdict: &verdict,
            offset,
        },
    );
    let flushed = match sink.out.take() {
        Some(mut w) => w.flush(),
        None => Ok(()),
    };
    if let Verdict::Refuse(why) = verdict.into_inner() {
        return Err(Error::Range(why));
    }
    let done = sent?;
    flushed.map_err(|source| Error::Write {
        path: match output {
            Output::File(p) => Some(p.clone()),
            Output::Stdout => None,
        },
        source,
    })?;
    Ok(done)
}

/// What a resumed download does with the final body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Append it: the server resumed where asked.
    Append,
    /// Drop it: nothing to add (or an error status).
    Ignore,
    /// Stop: the server would not resume, for this reason.
    Refuse(String),
}

/// Judges each final head of a resumed download.
struct Judge<'a> {
    inner: &'a mut dyn Observer,
    verdict: &'a std::cell::RefCell<Verdict>,
    offset: u64,
}

impl Observer for Judge<'_> {
    fn request(&mut self, raw: &[u8]) {
        self.inner.request(raw);
    }
    fn info(&mut self, line: &str) {
        self.inner.info(line);
    }
    fn head(&mut self, head: &Head) {
        if head.status >= 200 {
            *self.verdict.borrow_mut() = judge(head, self.offset);
        }
        self.inner.head(head);
    }
    fn body_start(&mut self, len: Option<u64>) {
        self.inner.body_start(len);
    }
    fn progress(&mut self, n: u64) {
        self.inner.progress(n);
    }
}

fn judge(head: &Head, offset: u64) -> Verdict {
    match head.status {
        206 => {
            let start = head
                .header("content-range")
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            match start {
                Some(s) if s == offset => Verdict::Append,
                Some(s) => Verdict::Refuse(format!(
                    "the server resumed at byte {s}, not at {offset} where the file ends"
                )),
                None => Verdict::Refuse(
                    "the server's 206 has no Content-Range saying where it resumes".into(),
                ),
            }
        }
        // Requested Range Not Satisfiable: the file is already whole.
        416 => Verdict::Ignore,
        s if s >= 400 => Verdict::Ignore,
        _ if head.header("content-length") == Some(offset.to_string().as_str()) => Verdict::Ignore,
        s => Verdict::Refuse(format!(
            "the server answered {s} instead of resuming at byte {offset} (it does not seem to support byte ranges)"
        )),
    }
}

/// Appends to the output once the verdict allows it.
struct Appender<'a> {
    output: &'a Output,
    verdict: &'a std::cell::RefCell<Verdict>,
    out: Option<Box<dyn Write>>,
}

impl Write for Appender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &*self.verdict.borrow() {
            Verdict::Append => {}
            Verdict::Ignore => return Ok(buf.len()),
            Verdict::Refuse(why) => return Err(io::Error::other(why.clone())),
        }
        if self.out.is_none() {
            let out: Box<dyn Write> = match self.output {
                Output::File(path) => Box::new(BufWriter::with_capacity(
                    WRITE_BUFFER,
                    OpenOptions::new().append(true).create(true).open(path)?,
                )),
                Output::Stdout => Box::new(io::stdout()),
            };
            self.out = Some(out);
        }
        match self.out.as_mut() {
            Some(w) => w.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Standard output, or nothing once the final status is 400 or more and
/// error bodies are not wanted (`-f`).
struct Gate<'a, W> {
    inner: W,
    discard: &'a Cell<bool>,
}

impl<W: Write> Write for Gate<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discard.get() {
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.discard.get() {
            return Ok(());
        }
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Removes the temporary file of a download in progress when SIGINT,
/// SIGTERM or SIGHUP arrives, then lets the signal end the process as it
/// would have (a shell reports 130, 143 or 129). Call it at the start of
/// `main`, before any other thread exists, since the signals are blocked
/// in every thread but the one that waits for them.
#[cfg(unix)]
pub fn remove_on_signals() -> io::Result<()> {
    use nix::sys::signal::{SigSet, Signal, raise};
    let mut set = SigSet::empty();
    let ignored = ignored_signals();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // An ignored signal (`nohup`, a shell's background job) stays
        // ignored: waiting for it would turn it into a kill.
        if ignored & (1 << (s as i32 - 1)) == 0 {
            set.add(s);
        }
    }
    set.thread_block().map_err(io::Error::from)?;
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let Ok(sig) = set.wait() else { return };
            if let Some(path) = pending().take() {
                let _ = fs::remove_file(path);
            }
            // Die of the signal itself, so the parent sees what happened;
            // the exit below only runs if that somehow did not end us.
            let _ = raise(sig);
            let _ = SigSet::from(sig).thread_unblock();
            std::process::exit(128 + sig as i32);
        });
    if let Err(e) = spawned {
        // Without the thread that waits for them, blocked signals would
        // make the program deaf to Ctrl-C.
        let _ = set.thread_unblock();
        return Err(e);
    }
    Ok(())
}

/// The set of signals this process ignores, as a bit mask (bit `n - 1`
/// for signal `n`), read from `/proc` since asking the kernel directly
/// would take `unsafe`. Empty when unknown.
#[cfg(unix)]
fn ignored_signals() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .unwrap_or(0)
}

/// Elsewhere an interrupted download may leave its temporary file.
#[cfg(not(unix))]
pub fn remove_on_signals() -> io::Result<()> {
    Ok(())
}
