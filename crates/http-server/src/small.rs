//! Small files' responses kept in memory, head and body in one buffer.
//!
//! A small file costs more in system calls than in bytes: opening it,
//! `fstat`, reading it and closing it were four of the six calls of a
//! keep-alive request for a 1 KiB file. So the first plain `GET` of a
//! regular file of at most [`MAX_FILE`] bytes keeps its `200` response —
//! the head without its date and `Connection` header, then the body — in
//! memory shared by every connection thread, and later plain `GET`s and
//! `HEAD`s of the same file (no `Range`, no condition) are answered from it
//! with the one `send` of the response: a request is then a `recv` and a
//! `send`.
//!
//! The answer is the same, byte for byte, as one built afresh: the head is
//! the one [`Response::write_head`] writes, cut around the date (written
//! anew for each response) and completed by the same `Connection` header.
//! An entry is compared with the file (`lstat`: the same file, size,
//! modification and change times, still a regular file and not a symlink)
//! at most once per [`REVALIDATE`], as nginx's `open_file_cache_valid`
//! does; one that differs is dropped and the file read afresh. The path it
//! is found by was resolved under the root as for any request (see
//! `cache`). At most [`MAX_TOTAL`] bytes are kept; past that the memory
//! starts over.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::request::{Method, Request};
use crate::response::{Body, Response};
use crate::status::Status;

/// Largest file whose response is kept: a few pages, where the system
/// calls of opening and reading cost more than copying the bytes.
pub const MAX_FILE: u64 = 16 * 1024;

/// Most bytes kept in all (heads and bodies): a few hundred small files,
/// little next to a thousand connections' buffers.
pub const MAX_TOTAL: usize = 4 * 1024 * 1024;

/// How long an entry is trusted before it is compared with the file
/// again: a file changed on disk is served changed within this time.
pub const REVALIDATE: Duration = Duration::from_secs(1);

const REVALIDATE_US: u64 = REVALIDATE.as_micros() as u64;

/// Every response head starts so; the date follows.
const DATE_PREFIX: &[u8] = b"HTTP/1.1 200 OK\r\nDate: ";

/// What makes a file the same file with the same contents, as far as
/// `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Identity {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        meta.file_type().is_file().then(|| Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Option<Identity> {
        None
    }
}

/// One file's `200` response, less its date and `Connection` header.
#[derive(Debug)]
pub struct Small {
    /// The head after the date (`\r\nServer: …`, up to the last header's
    /// value), then the body.
    bytes: Vec<u8>,
    /// Where the body starts in `bytes`.
    body_at: usize,
    identity: Identity,
    /// [`micros`] until which the entry is trusted without comparing it
    /// with the file.
    trusted_until: AtomicU64,
}

impl Small {
    /// Body bytes a `GET` sends.
    pub fn body_len(&self) -> u64 {
        (self.bytes.len() - self.body_at) as u64
    }

    /// Appends the whole response to `out`, as [`Response::send`] would
    /// write it: no body for `head_only`; `Connection: close` when
    /// `close`, else `Connection: keep-alive` for `keep_alive_10`.
    pub fn write(&self, out: &mut Vec<u8>, head_only: bool, close: bool, keep_alive_10: bool) {
        out.extend_from_slice(DATE_PREFIX);
        crate::date::http_now(out);
        out.extend_from_slice(&self.bytes[..self.body_at]);
        if close {
            out.extend_from_slice(b"\r\nConnection: close");
        } else if keep_alive_10 {
            out.extend_from_slice(b"\r\nConnection: keep-alive");
        }
        out.extend_from_slice(b"\r\n\r\n");
        if !head_only {
            out.extend_from_slice(&self.bytes[self.body_at..]);
        }
    }
}

#[derive(Default)]
struct Store {
    files: HashMap<PathBuf, Arc<Small>>,
    bytes: usize,
}

fn store() -> &'static RwLock<Store> {
    static STORE: OnceLock<RwLock<Store>> = OnceLock::new();
    STORE.get_or_init(RwLock::default)
}

/// Microseconds since the process first asked: instants in an atomic.
fn micros(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_micros() as u64
}

/// Whether `req` may be answered from memory: a `GET` or `HEAD` without a
/// `Range` or a condition (those are answered from the file itself).
pub fn plain(req: &Request) -> bool {
    matches!(req.method, Method::Get | Method::Head)
        && req.range.is_none()
        && req.if_range.is_none()
        && req.if_none_match.is_none()
        && req.if_modified_since.is_none()
        && req.if_match.is_none()
        && req.if_unmodified_since.is_none()
}

/// The response kept for the file at `path` (canonical), compared with the
/// file first if it was not for [`REVALIDATE`]; `None` when there is none
/// or the file has changed (the entry is then dropped).
pub fn get(path: &Path) -> Option<Arc<Small>> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let small = store()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .files
        .get(path)
        .cloned()?;
    let now = micros(Instant::now());
    if now < small.trusted_until.load(Ordering::Relaxed) {
        return Some(small);
    }
    // Not following a final symlink: one put in the file's place is not
    // the file (and the open that follows refuses it too).
    let same = std::fs::symlink_metadata(path)
        .ok()
        .and_then(|meta| Identity::of(&meta))
        == Some(small.identity);
    if same {
        small
            .trusted_until
            .store(now + REVALIDATE_US, Ordering::Relaxed);
        return Some(small);
    }
    forget(path);
    None
}

/// Drops what is kept for `path`.
pub fn forget(path: &Path) {
    let mut store = store().write().unwrap_or_else(PoisonError::into_inner);
    if let Some(gone) = store.files.remove(path) {
        store.bytes -= gone.bytes.len();
    }
}

/// Keeps `response` — the answer to the plain request `req` for the open
/// file at `path` whose metadata is `meta` — when it is a whole small
/// file's `200`, and returns it with the body read into memory; any other
/// response comes back as it was.
pub fn remember(
    req: &Request,
    path: &Path,
    meta: &std::fs::Metadata,
    response: Response,
) -> Response {
    if !cfg!(target_os = "linux") || !plain(req) || response.status != Status::OK {
        return response;
    }
    let Some(identity) = Identity::of(meta) else {
        return response;
    };
    let Response {
        status,
        content_type,
        headers,
        body,
        close,
    } = response;
    let body = match body {
        Body::File {
            file,
            start: 0,
            len,
        } if len <= MAX_FILE && len == identity.len && !close => {
            match read_whole(&file, len) {
                Some(bytes) => bytes,
                // Read as any file is, and fail the same way.
                None => Body::File {
                    file,
                    start: 0,
                    len,
                },
            }
        }
        other => other,
    };
    let response = Response {
        status,
        content_type,
        headers,
        body,
        close,
    };
    let Body::Bytes(content) = &response.body else {
        return response;
    };
    let mut head = Vec::with_capacity(256);
    response.write_head(&mut head, false);
    // `DATE_PREFIX`, the date, then the rest up to the blank line.
    let Some(rest) = head
        .strip_prefix(DATE_PREFIX)
        .and_then(|h| h.strip_suffix(b"\r\n\r\n"))
        .and_then(|h| h.windows(2).position(|w| w == b"\r\n").map(|i| &h[i..]))
    else {
        return response;
    };
    let mut bytes = Vec::with_capacity(rest.len() + content.len());
    bytes.extend_from_slice(rest);
    bytes.extend_from_slice(content);
    let small = Small {
        body_at: rest.len(),
        bytes,
        identity,
        trusted_until: AtomicU64::new(micros(Instant::now()) + REVALIDATE_US),
    };
    let mut store = store().write().unwrap_or_else(PoisonError::into_inner);
    if store.bytes + small.bytes.len() > MAX_TOTAL {
        store.files.clear();
        store.bytes = 0;
    }
    store.bytes += small.bytes.len();
    if let Some(old) = store.files.insert(path.to_path_buf(), Arc::new(small)) {
        store.bytes -= old.bytes.len();
    }
    response
}

/// The first `len` bytes of `file`, from its start; `None` when it has
/// fewer or cannot be read.
#[cfg(unix)]
fn read_whole(file: &std::fs::File, len: u64) -> Option<Body> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; usize::try_from(len).ok()?];
    // At an offset: the file's position stays at its start, should the
    // response be sent from the file after all.
    file.read_exact_at(&mut bytes, 0).ok()?;
    Some(Body::Bytes(bytes))
}

#[cfg(not(unix))]
fn read_whole(_: &std::fs::File, _: u64) -> Option<Body> {
    None
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    fn request(method: Method) -> Request {
        let mut req = crate::request::parse(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap()
            .unwrap();
        req.method = method;
        req
    }

    fn fresh(req: &Request, path: &Path) -> Response {
        let file = std::fs::File::open(path).unwrap();
        let meta = file.metadata().unwrap();
        crate::files::serve(req, path, file, &meta)
    }

    #[test]
    fn answers_as_a_response_built_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap().join("a.html");
        std::fs::write(&path, "<p>small</p>").unwrap();
        let req = request(Method::Get);
        let file = std::fs::File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let first = remember(
            &req,
            &path,
            &meta,
            crate::files::serve(&req, &path, file, &meta),
        );
        assert!(matches!(first.body, Body::Bytes(_)));
        let small = get(&path).expect("kept");
        assert_eq!(small.body_len(), 12);
        for (method, head_only) in [(Method::Get, false), (Method::Head, true)] {
            let req = request(method);
            for (close, keep_alive_10) in [(false, false), (true, false), (false, true)] {
                let mut want = Vec::new();
                let mut response = fresh(&req, &path);
                response.close = close;
                response
                    .send(&mut want, head_only, keep_alive_10, &mut Vec::new())
                    .unwrap();
                let mut got = Vec::new();
                small.write(&mut got, head_only, close, keep_alive_10);
                // Within the same second (the date): try again otherwise.
                if got != want {
                    got.clear();
                    small.write(&mut got, head_only, close, keep_alive_10);
                }
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
            }
        }
        forget(&path);
    }

    #[test]
    fn a_changed_file_is_read_afresh_once_the_entry_is_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap().join("b.txt");
        std::fs::write(&path, "old").unwrap();
        let req = request(Method::Get);
        let file = std::fs::File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        remember(
            &req,
            &path,
            &meta,
            crate::files::serve(&req, &path, file, &meta),
        );
        std::fs::write(&path, "new!").unwrap();
        let small = get(&path).expect("trusted for a while");
        // As if the last comparison were a while ago.
        small.trusted_until.store(0, Ordering::Relaxed);
        assert!(get(&path).is_none(), "changed on disk");
        let file = std::fs::File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        remember(
            &req,
            &path,
            &meta,
            crate::files::serve(&req, &path, file, &meta),
        );
        let small = get(&path).expect("kept again");
        assert_eq!(small.body_len(), 4);
        // Unchanged: trusted again after the comparison.
        small.trusted_until.store(0, Ordering::Relaxed);
        assert!(get(&path).is_some());
        // A symlink in the file's place is not the file.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        small.trusted_until.store(0, Ordering::Relaxed);
        assert!(get(&path).is_none());
    }

    #[test]
    fn only_plain_requests_of_small_whole_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let big = root.join("big.bin");
        std::fs::write(&big, vec![b'x'; MAX_FILE as usize + 1]).unwrap();
        let req = request(Method::Get);
        let file = std::fs::File::open(&big).unwrap();
        let meta = file.metadata().unwrap();
        let r = remember(
            &req,
            &big,
            &meta,
            crate::files::serve(&req, &big, file, &meta),
        );
        assert!(matches!(r.body, Body::File { .. }));
        assert!(get(&big).is_none());

        let small = root.join("s.txt");
        std::fs::write(&small, "0123456789").unwrap();
        let mut ranged = request(Method::Get);
        ranged.range = Some("bytes=0-1".into());
        assert!(!plain(&ranged));
        let file = std::fs::File::open(&small).unwrap();
        let meta = file.metadata().unwrap();
        let r = remember(
            &ranged,
            &small,
            &meta,
            crate::files::serve(&ranged, &small, file, &meta),
        );
        assert_eq!(r.status, Status::PARTIAL_CONTENT);
        assert!(get(&small).is_none());
    }
}
