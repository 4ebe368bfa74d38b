//! Choosing the response for a parsed request: a file, a directory's
//! index or listing, a redirect, or an error page.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::cache;
use crate::config::Config;
use crate::files;
use crate::listing;
use crate::path::{self, Resolved};
use crate::request::{Method, Request};
use crate::response::Response;
use crate::small;
use crate::status::Status;

/// Chooses the response for a parsed request.
pub fn respond(req: &Request, config: &Config) -> Response {
    if let Method::NotAllowed(m) = &req.method {
        return Response::page(
            Status::METHOD_NOT_ALLOWED,
            &format!("{m} is not supported; use GET or HEAD."),
        )
        .header("Allow", "GET, HEAD");
    }
    respond_resolved(req, config, cache::resolve(&config.root, &req.target))
}

/// A response to send: one made for the request, or a small file's kept
/// in memory (see [`crate::small`]).
pub(crate) enum Answer {
    Made(Response),
    Kept(std::sync::Arc<crate::small::Small>),
}

/// Chooses the answer for a parsed request, as [`respond`] does, from
/// memory when it is a plain request for a small file answered before.
pub(crate) fn answer(req: &Request, config: &Config) -> Answer {
    if !small::plain(req) {
        return Answer::Made(respond(req, config));
    }
    let resolved = cache::resolve(&config.root, &req.target);
    if let Ok(file) = &resolved
        && !file.is_dir
        && let Some(kept) = small::get(&file.path)
    {
        return Answer::Kept(kept);
    }
    Answer::Made(respond_resolved(req, config, resolved))
}

/// The response for a GET or HEAD whose target resolved as `resolved`.
fn respond_resolved(
    req: &Request,
    config: &Config,
    resolved: Result<Resolved, path::Refusal>,
) -> Response {
    let resolved = match resolved {
        Ok(r) => r,
        Err(refusal) if refusal.status == Status::SERVICE_UNAVAILABLE => {
            return resource_exhausted(refusal.reason);
        }
        Err(refusal) => {
            let message = match refusal.status {
                Status::NOT_FOUND => "The requested URL was not found on this server.",
                Status::FORBIDDEN => "You do not have permission to access this URL.",
                _ => refusal.reason,
            };
            return Response::page(refusal.status, message);
        }
    };
    if resolved.is_dir {
        return directory(req, config, &resolved);
    }
    open_file(req, &resolved.path)
}

fn open_file(req: &Request, path: &Path) -> Response {
    let opened = open_no_follow(path).and_then(|f| {
        let meta = f.metadata()?;
        Ok((f, meta))
    });
    match opened {
        Ok((file, meta)) if meta.is_file() => {
            let response = files::serve(req, path, file, &meta);
            small::remember(req, path, &meta, response)
        }
        // A FIFO, socket or device (or a directory that replaced the file
        // since it was resolved): not a document, as nginx says.
        Ok(_) => not_found(),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Response::page(
            Status::FORBIDDEN,
            "You do not have permission to access this URL.",
        ),
        Err(e) if net_core::error::is_resource_exhausted(&e) => {
            resource_exhausted(&net_core::error::describe(&e))
        }
        Err(_) => not_found(),
    }
}

fn not_found() -> Response {
    Response::page(
        Status::NOT_FOUND,
        "The requested URL was not found on this server.",
    )
}

/// How long a client is asked to wait after a resource failure: long
/// enough for a burst's connections to end, short enough that a client
/// that retries barely notices.
pub const RESOURCE_RETRY_AFTER: &str = "1";

/// Shortest time between two warnings about requests failed for want of
/// file descriptors or memory: the condition lasts while many requests
/// fail, and one line with a count says the same.
pub const RESOURCE_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The answer when the system is out of file descriptors or memory: the
/// file may well exist, so never 404 — 503 with `Retry-After`, and the
/// connection closed, which hands its descriptor back. Reported on stderr
/// at most once per [`RESOURCE_REPORT_INTERVAL`], with a count.
pub fn resource_exhausted(why: &str) -> Response {
    static REPORTS: std::sync::Mutex<net_core::ratelimit::RateLimit> = std::sync::Mutex::new(
        net_core::ratelimit::RateLimit::new(RESOURCE_REPORT_INTERVAL),
    );
    let report = REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .hit(std::time::Instant::now());
    if let Some(report) = report {
        log::warn!(
            "out of resources{}: {why}; answering 503 Service Unavailable",
            report.times(),
        );
    }
    Response::page(
        Status::SERVICE_UNAVAILABLE,
        "The server is short of resources; please try again.",
    )
    .header("Retry-After", RESOURCE_RETRY_AFTER)
    .closing()
}

/// Opens a path already resolved to be canonical. On Unix the last
/// component may not be a symlink (O_NOFOLLOW): if one appeared since the
/// path was resolved (a cached resolution, or a race), the open fails
/// rather than follow it. The open never blocks (O_NONBLOCK): opening a
/// FIFO for reading would wait for a writer forever, and a device may wait
/// too; the caller looks at what was opened and serves regular files only
/// (for which O_NONBLOCK changes nothing).
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK);
    }
    let opened = options.open(path);
    if opened.is_err() {
        cache::forget(path);
        small::forget(path);
    }
    opened
}

fn directory(req: &Request, config: &Config, resolved: &Resolved) -> Response {
    if !resolved.trailing_slash && resolved.url_path != "/" {
        // Built from the normalised path, so it always starts with exactly
        // one '/': `//evil.example/x` cannot become an open redirect.
        let mut location = path::encode(&resolved.url_path);
        location.push('/');
        if let Some(q) = req.target.find('?') {
            location.push_str(&req.target[q..]);
        }
        return Response::page(Status::MOVED_PERMANENTLY, &format!("Moved to {location}"))
            .header("Location", location);
    }
    // index.html goes through the same policy as any path: it may be a
    // symlink, and must not lead out of the root.
    let index_target = format!("{}index.html", path::encode(&resolved.url_path));
    match cache::resolve(&config.root, &index_target) {
        Ok(index) if !index.is_dir => return open_file(req, &index.path),
        // Whether index.html exists is unknown: listing instead would be
        // a wrong answer.
        Err(refusal) if refusal.status == Status::SERVICE_UNAVAILABLE => {
            return resource_exhausted(refusal.reason);
        }
        _ => {}
    }
    if !config.listing {
        return Response::page(Status::FORBIDDEN, "Directory listing is turned off.");
    }
    match listing::render(&config.root, &resolved.path, &resolved.url_path) {
        Ok(html) => Response::bytes(Status::OK, "text/html; charset=utf-8", html.into_bytes()),
        Err(e) if net_core::error::is_resource_exhausted(&e) => {
            resource_exhausted(&net_core::error::describe(&e))
        }
        Err(e) => {
            log::warn!("cannot list {}: {e}", resolved.path.display());
            Response::page(
                Status::FORBIDDEN,
                "You do not have permission to access this URL.",
            )
        }
    }
}
