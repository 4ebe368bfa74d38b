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
    let resolved = match cache::resolve(&config.root, &req.target) {
        Ok(r) => r,
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
        Ok((file, meta)) if meta.is_file() => files::serve(req, path, file, &meta),
        Ok(_) => Response::page(
            Status::FORBIDDEN,
            "You do not have permission to access this URL.",
        ),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Response::page(
            Status::FORBIDDEN,
            "You do not have permission to access this URL.",
        ),
        Err(_) => Response::page(
            Status::NOT_FOUND,
            "The requested URL was not found on this server.",
        ),
    }
}

/// Opens a path already resolved to be canonical. On Unix the last
/// component may not be a symlink (O_NOFOLLOW): if one appeared since the
/// path was resolved (a cached resolution, or a race), the open fails
/// rather than follow it.
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::libc::O_NOFOLLOW);
    }
    let opened = options.open(path);
    if opened.is_err() {
        cache::forget(path);
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
    if let Ok(index) = cache::resolve(&config.root, &index_target)
        && !index.is_dir
    {
        return open_file(req, &index.path);
    }
    if !config.listing {
        return Response::page(Status::FORBIDDEN, "Directory listing is turned off.");
    }
    match listing::render(&config.root, &resolved.path, &resolved.url_path) {
        Ok(html) => Response::bytes(Status::OK, "text/html; charset=utf-8", html.into_bytes()),
        Err(e) => {
            log::warn!("cannot list {}: {e}", resolved.path.display());
            Response::page(
                Status::FORBIDDEN,
                "You do not have permission to access this URL.",
            )
        }
    }
}
