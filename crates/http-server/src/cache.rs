//! A per-thread, one-second cache of path resolutions.
//!
//! Resolving a request path means canonicalising it (a `readlink` or
//! `lstat` for every component) and a `stat`: most of the system calls of
//! serving a small file. Each connection thread remembers what it resolved
//! for [`TTL`], as nginx's `open_file_cache` does. The cached path is
//! canonical, and files are then opened without following a final symlink
//! (see `server::open_no_follow`), so a file replaced by a symlink meanwhile
//! is refused and resolved afresh.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::path::{self, Refusal, Resolved};

/// How long a resolution is trusted.
pub const TTL: Duration = Duration::from_secs(1);

/// Entries per thread before the cache starts over.
const MAX_ENTRIES: usize = 1024;

struct Entry {
    at: Instant,
    root: PathBuf,
    resolved: Resolved,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
}

/// [`path::resolve`], remembered for [`TTL`]. Refusals are not cached.
pub fn resolve(root: &Path, target: &str) -> Result<Resolved, Refusal> {
    if !cfg!(target_os = "linux") {
        // Without O_NOFOLLOW on open, a stale entry could follow a symlink.
        return path::resolve(root, target);
    }
    // The query does not change where a target leads.
    let key = target.split(['?', '#']).next().unwrap_or(target);
    let now = Instant::now();
    let hit = CACHE.with(|c| {
        c.borrow().get(key).and_then(|e| {
            (now.duration_since(e.at) < TTL && e.root == root).then(|| e.resolved.clone())
        })
    });
    if let Some(resolved) = hit {
        return Ok(resolved);
    }
    let resolved = path::resolve(root, target)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(
            key.to_string(),
            Entry {
                at: now,
                root: root.to_path_buf(),
                resolved: resolved.clone(),
            },
        );
    });
    Ok(resolved)
}

/// Drops every entry that leads to `path` (it could not be opened).
pub fn forget(path: &Path) {
    CACHE.with(|c| c.borrow_mut().retain(|_, e| e.resolved.path != path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_then_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        let first = resolve(&root, "/a.txt?x=1").unwrap();
        // Removed from disk: the cached answer stands for the TTL...
        std::fs::remove_file(root.join("a.txt")).unwrap();
        assert_eq!(resolve(&root, "/a.txt").unwrap(), first);
        // ...until the open fails and the entry is forgotten.
        forget(&first.path);
        assert_eq!(resolve(&root, "/a.txt").unwrap_err().status.code(), 404);
    }

    #[test]
    fn refusals_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert!(resolve(&root, "/later.txt").is_err());
        std::fs::write(root.join("later.txt"), "x").unwrap();
        assert!(resolve(&root, "/later.txt").is_ok());
    }
}
