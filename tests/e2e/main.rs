//! Cross-crate end-to-end tests: netlab's binaries against each other and
//! against the lab's textbook Python programs (`tests/textbook/`).
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod live_capture;
mod textbook_tcp;
mod textbook_udp;

use std::path::PathBuf;
use std::process::Command;

/// Path of a textbook program.
pub fn textbook(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("textbook")
        .join(name)
}

/// The Python interpreter, or `None` (with a skip notice) when there is none.
pub fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 is not installed, so the textbook programs cannot run");
        return None;
    }
    Some("python3")
}
