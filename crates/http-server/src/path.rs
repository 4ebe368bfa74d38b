//! From request target to file: the only way a path reaches the file system.
//!
//! The policy, in order:
//! 1. The target must be origin-form (`/…`) or absolute-form
//!    (`http://host/…`); the query and fragment are dropped.
//! 2. Every `%` must start a valid escape, and the path is percent-decoded
//!    exactly once (so `%252e` stays the literal name `%2e`). The result
//!    must be UTF-8 without NUL or backslash. Otherwise: 400.
//! 3. Segments are split on `/`; empty and `.` segments are dropped; a `..`
//!    segment is refused (400) rather than resolved, and so is any segment
//!    the platform would read as a root, prefix or drive.
//! 4. A segment starting with `.` (`.env`, `.git/`) is hidden: 404.
//! 5. The joined path is canonicalised (following symlinks) and must still
//!    lie under the canonical root, again with no hidden component, else
//!    403. A symlink may point elsewhere inside the root, never outside.
//! 6. Only regular files and directories are served: a FIFO, socket or
//!    device is 404, as nginx answers.
//!
//! Running out of file descriptors or memory on the way is a 503, never a
//! 404: the file may well be there.

use std::io;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

use crate::status::Status;

/// Characters escaped when a path goes back out (Location, listing links).
pub const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\'')
    .add(b'\\');

/// Where a request target leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical path of the file or directory, under the root.
    pub path: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// The decoded, normalised URL path (`/docs/a b/`), always starting with
    /// exactly one `/`: safe to put in a Location header once re-encoded.
    pub url_path: String,
    /// Whether the request path ended with `/`.
    pub trailing_slash: bool,
}

/// Why a target does not lead to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status to answer.
    pub status: Status,
    /// Why, for the log.
    pub reason: &'static str,
}

fn refuse(status: Status, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// The system is out of file descriptors or memory: the path may well
/// lead to a file, so this is 503, never 404 (see `route`).
fn refuse_exhausted() -> Refusal {
    refuse(Status::SERVICE_UNAVAILABLE, RESOURCES_EXHAUSTED)
}

/// The reason of a [`Refusal`] for want of descriptors or memory.
pub const RESOURCES_EXHAUSTED: &str = "out of file descriptors or memory";

/// The URL path part of a request target, still encoded.
pub fn target_path(target: &str) -> Result<&str, Refusal> {
    let path = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // absolute-form: the path starts at the first '/' after the authority
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if target.starts_with('/') {
        target
    } else {
        return Err(refuse(Status::BAD_REQUEST, "request target is not a path"));
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Ok(&path[..end])
}

/// Decodes and checks the URL path, returning its normal segments.
pub fn segments(encoded: &str) -> Result<Vec<String>, Refusal> {
    let bytes = encoded.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(refuse(Status::BAD_REQUEST, "broken percent-escape"));
        }
    }
    let decoded = percent_decode(bytes)
        .decode_utf8()
        .map_err(|_| refuse(Status::BAD_REQUEST, "path is not UTF-8"))?;
    if decoded.contains(['\0', '\\']) {
        return Err(refuse(Status::BAD_REQUEST, "NUL or backslash in path"));
    }
    let mut out = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(refuse(Status::BAD_REQUEST, "'..' in path")),
            _ => {}
        }
        let mut comps = Path::new(seg).components();
        if !matches!(
            (comps.next(), comps.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(refuse(
                Status::BAD_REQUEST,
                "path segment is not a plain name",
            ));
        }
        if seg.starts_with('.') {
            return Err(refuse(Status::NOT_FOUND, "hidden file"));
        }
        out.push(seg.to_string());
    }
    Ok(out)
}

/// Resolves `target` under `root`, which must already be canonical.
pub fn resolve(root: &Path, target: &str) -> Result<Resolved, Refusal> {
    let encoded = target_path(target)?;
    let segs = segments(encoded)?;
    let mut joined = root.to_path_buf();
    joined.extend(&segs);
    let canonical = joined.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => refuse(Status::NOT_FOUND, "no such file"),
        io::ErrorKind::PermissionDenied => refuse(Status::FORBIDDEN, "permission denied"),
        _ if net_core::error::is_resource_exhausted(&e) => refuse_exhausted(),
        // A file used as a directory (`/a.txt/x`) and the like.
        _ => refuse(Status::NOT_FOUND, "not a path to a file"),
    })?;
    let inside = canonical
        .strip_prefix(root)
        .map_err(|_| refuse(Status::FORBIDDEN, "symlink leads outside the root"))?;
    if inside.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => true,
    }) {
        return Err(refuse(Status::FORBIDDEN, "symlink leads to a hidden file"));
    }
    let meta = canonical.metadata().map_err(|e| {
        if net_core::error::is_resource_exhausted(&e) {
            refuse_exhausted()
        } else {
            refuse(Status::NOT_FOUND, "no such file")
        }
    })?;
    // A FIFO, socket or device is not a document (404, as nginx): opening
    // a FIFO would wait for a writer, reading a device has no end.
    if !meta.is_file() && !meta.is_dir() {
        return Err(refuse(Status::NOT_FOUND, "not a regular file"));
    }
    // `/a.txt/` and `/a.txt/.` name a directory: a file is not one (404,
    // as a file system would say ENOTDIR).
    let last = encoded.rsplit('/').next().unwrap_or_default();
    let dir_form = !segs.is_empty()
        && (last.is_empty() || percent_decode(last.as_bytes()).eq(b".".iter().copied()));
    if dir_form && !meta.is_dir() {
        return Err(refuse(Status::NOT_FOUND, "a file named as a directory"));
    }
    let mut url_path = String::from("/");
    url_path.push_str(&segs.join("/"));
    let trailing_slash = encoded.ends_with('/') && !segs.is_empty();
    if trailing_slash {
        url_path.push('/');
    }
    Ok(Resolved {
        path: canonical,
        is_dir: meta.is_dir(),
        url_path,
        trailing_slash,
    })
}

/// Percent-encodes a decoded URL path for a header or a link.
pub fn encode(url_path: &str) -> String {
    utf8_percent_encode(url_path, PATH_ESCAPE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        fs::create_dir_all(root.join("docs/sub")).unwrap();
        fs::write(root.join("index.html"), "hi").unwrap();
        fs::write(root.join("docs/a b.txt"), "ab").unwrap();
        fs::write(root.join("docs/%2e"), "literal").unwrap();
        fs::write(root.join(".env"), "SECRET").unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/config"), "x").unwrap();
        fs::write(base.join("secret.txt"), "outside").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret.txt"), root.join("escape")).unwrap();
            std::os::unix::fs::symlink(&base, root.join("up")).unwrap();
            std::os::unix::fs::symlink(root.join("index.html"), root.join("alias.html")).unwrap();
            std::os::unix::fs::symlink(root.join(".env"), root.join("env-link")).unwrap();
        }
        Tree {
            outside: base.join("secret.txt"),
            _dir: dir,
            root,
        }
    }

    fn code(t: &Tree, target: &str) -> u16 {
        match resolve(&t.root, target) {
            Ok(r) => {
                assert!(
                    r.path.starts_with(&t.root),
                    "{target} escaped to {}",
                    r.path.display()
                );
                assert_ne!(r.path, t.outside);
                200
            }
            Err(e) => e.status.code(),
        }
    }

    #[test]
    fn traversal_attempts_are_refused() {
        let t = tree();
        let table = [
            ("/index.html", 200),
            ("/", 200),
            ("/docs/a%20b.txt", 200),
            ("/docs/%252e", 200), // decoded once: the literal file "%2e"
            ("/./index.html", 200),
            ("//index.html", 200),
            ("/index.html?x=../../etc/passwd", 200),
            ("http://example.test/index.html", 200),
            ("/../secret.txt", 400),
            ("/docs/../../secret.txt", 400),
            ("/%2e%2e/secret.txt", 400),
            ("/%2E%2E%2Fsecret.txt", 400),
            ("/docs/..%2f..%2fsecret.txt", 400),
            ("/%252e%252e/secret.txt", 404), // literal "%2e%2e" dir: absent
            ("/..\\secret.txt", 400),
            ("/docs%5c..%5c..%5csecret.txt", 400),
            ("/index.html%00.txt", 400),
            ("/%zz", 400),
            ("/%4", 400),
            ("/%ff", 400), // not UTF-8
            ("index.html", 400),
            ("*", 400),
            ("/.env", 404),
            ("/.git/config", 404),
            ("/docs/%2eenv", 404),
            ("/missing", 404),
            ("/index.html/x", 404),
        ];
        for (target, want) in table {
            assert_eq!(code(&t, target), want, "{target}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_leave_the_root() {
        let t = tree();
        assert_eq!(code(&t, "/escape"), 403);
        assert_eq!(code(&t, "/up/secret.txt"), 403);
        assert_eq!(code(&t, "/up/root/index.html"), 200); // back inside
        assert_eq!(code(&t, "/alias.html"), 200);
        assert_eq!(code(&t, "/env-link"), 403);
    }

    #[test]
    fn directories_and_url_paths() {
        let t = tree();
        let r = resolve(&t.root, "/docs").unwrap();
        assert!(r.is_dir && !r.trailing_slash);
        assert_eq!(r.url_path, "/docs");
        let r = resolve(&t.root, "//docs//sub/").unwrap();
        assert!(r.is_dir && r.trailing_slash);
        assert_eq!(r.url_path, "/docs/sub/");
        assert_eq!(encode("/docs/a b.txt"), "/docs/a%20b.txt");
        assert_eq!(encode("/x?#%"), "/x%3F%23%25");
    }

    proptest::proptest! {
        #[test]
        fn any_target_stays_under_the_root(target in "(/|%2[eEfF]|%5[cC]|\\.|\\.\\.|[a-z]|%00|%|/docs|/up|/escape){0,12}") {
            let t = tree();
            if let Ok(r) = resolve(&t.root, &target) {
                proptest::prop_assert!(r.path.starts_with(&t.root));
                proptest::prop_assert!(!r.url_path.starts_with("//"));
            }
        }
    }
}
