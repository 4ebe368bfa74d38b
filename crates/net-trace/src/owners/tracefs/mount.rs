//! A private mount of tracefs, for a system where it is not mounted.

use std::fs;
use std::path::{Path, PathBuf};

use super::{TRACEFS, Unavailable, io_err};

/// Where a run mounts tracefs for itself when it is not mounted at
/// [`TRACEFS`]: `net-trace-tracefs-PID` in /run. Each run has its own
/// mount point and removes it when its last instance goes, so runs that
/// overlap never leave tracefs mounted, and the usual mount point is
/// never touched.
fn private_mount_dir(pid: u32) -> PathBuf {
    let base = Path::new("/run");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("{MOUNT_PREFIX}{pid}"))
}

/// The private mount point's name before the pid.
const MOUNT_PREFIX: &str = "net-trace-tracefs-";

pub(super) fn mount_private() -> Result<PathBuf, Unavailable> {
    let dir = private_mount_dir(std::process::id());
    fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, &e))?;
    let ok = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !dir.join("instances").is_dir() {
        unmount(&dir);
        return Err(Unavailable(format!(
            "cannot mount tracefs (not at {TRACEFS}, nor at {})",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Unmounts a private mount point (lazily: a reader still closing its
/// files cannot keep it) and removes it.
pub(super) fn unmount(dir: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status();
    let _ = fs::remove_dir(dir);
}

/// Removes private mounts left by runs that were killed.
pub(super) fn remove_stale_mounts() {
    let base = private_mount_dir(0);
    let Some(parent) = base.parent() else {
        return;
    };
    let Ok(dir) = fs::read_dir(parent) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(MOUNT_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            unmount(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_has_its_own_mount_point() {
        let a = private_mount_dir(41);
        let b = private_mount_dir(42);
        assert_ne!(a, b);
        assert!(a.ends_with("net-trace-tracefs-41"), "{}", a.display());
        assert_eq!(a.parent(), b.parent());
        assert_ne!(a, Path::new(TRACEFS));
    }
}
