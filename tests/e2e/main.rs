//! Cross-crate end-to-end tests: netlab's binaries against each other and
//! against the lab's textbook Python programs (`tests/textbook/`).
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod attribution;
mod capture_cli;
mod live_capture;
mod stalled_log;
mod textbook_tcp;
mod textbook_udp;

use std::path::PathBuf;

/// Path of a textbook program.
pub fn textbook(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("textbook")
        .join(name)
}

/// The Python interpreter the textbook programs run under (the lab needs
/// it, so a test that uses it fails where it is missing).
pub fn python() -> &'static str {
    testkit::peers::python3()
}
