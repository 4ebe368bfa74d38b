//! The programs tests compare netlab's tools with, started and read the
//! same way everywhere, and the one shape of the stalled-output checks
//! every server's tests share.
//!
//! A test that needs a peer program calls [`crate::need`] (these helpers
//! do) and is marked `#[ignore = "needs tshark"]` and so on, except for
//! python3, which the lab itself needs. A test whose own checks run
//! everywhere and which also compares with a peer where there is one asks
//! [`available`].
//!
//! ```no_run
//! #[test]
//! #[ignore = "needs tshark"]
//! fn tshark_reads_our_file() {
//!     let text = testkit::peers::tshark_text("lab.pcap", &["-T", "fields", "-e", "frame.len"]);
//!     assert!(!text.is_empty());
//! }
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::{READY_TIMEOUT, Server};

/// Names the environment variable that makes every peer program required:
/// CI sets it to 1 (`.ci/run`), having installed them all, so a peer that
/// is missing there fails the test that wanted it instead of being
/// skipped.
pub const REQUIRE_PEERS_ENV: &str = "NETLAB_REQUIRE_PEERS";

/// Whether peer programs are required here (see [`REQUIRE_PEERS_ENV`]).
pub fn required() -> bool {
    std::env::var(REQUIRE_PEERS_ENV).is_ok_and(|v| v == "1")
}

/// For a comparison with a peer inside a test whose own checks run
/// everywhere (our exit codes, and curl's where curl is installed):
/// whether `program` runs. Where it does not, the comparison is left out
/// with a skip notice (see [`crate::skip`]) — or, where peers are
/// [`required`], the test fails.
pub fn available(program: &str, package: &str) -> bool {
    if crate::runs(program) {
        return true;
    }
    assert!(
        !required(),
        "{program} is not installed, and {REQUIRE_PEERS_ENV}=1 requires it (apt-get install {package})"
    );
    crate::skip(format_args!(
        "{program} is not installed (apt-get install {package}): the comparison with it is left out"
    ));
    false
}

/// Runs `tshark -r FILE ARGS…` and returns what it did; its status is the
/// caller's to judge (tshark exits 2 after printing the frames of a file
/// cut short). Fails the test when tshark is not installed.
pub fn tshark(file: impl AsRef<Path>, args: &[&str]) -> Output {
    crate::need("tshark", "tshark");
    Command::new("tshark")
        .arg("-r")
        .arg(file.as_ref())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark: {e}"))
}

/// As [`tshark`], for a reading that must succeed: its stdout as text.
/// A failure shows tshark's stderr.
pub fn tshark_text(file: impl AsRef<Path>, args: &[&str]) -> String {
    let out = tshark(file.as_ref(), args);
    assert!(
        out.status.success(),
        "tshark -r {} {}: {}\n{}",
        file.as_ref().display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python interpreter the lab's textbook programs run under; fails
/// the test when it is not installed (the lab needs it, so tests that use
/// it are not ignored).
pub fn python3() -> &'static str {
    crate::need("python3", "python3");
    "python3"
}

/// `python3 -m http.server` serving a directory on a free loopback port,
/// killed when dropped.
#[derive(Debug)]
pub struct PythonHttpServer {
    child: Child,
    addr: SocketAddr,
}

impl PythonHttpServer {
    /// Serves `dir`; returns once the server has said where it listens.
    /// Port 0 lets the system choose, so no other test can take the port
    /// between choosing and binding it.
    pub fn serve(dir: &Path) -> PythonHttpServer {
        let mut child = Command::new(python3())
            // Unbuffered, so its first line reaches the pipe at once.
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 -m http.server: {e}"));
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("python-http-server-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                if let Some(Ok(first)) = lines.next() {
                    let _ = tx.send(first);
                }
                // Keep reading, so the server never blocks on a full pipe.
                lines.for_each(drop);
            })
            .expect("start the python http.server reader");
        let mut server = PythonHttpServer {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        let first = rx.recv_timeout(READY_TIMEOUT).unwrap_or_else(|_| {
            panic!("python3 -m http.server said nothing within {READY_TIMEOUT:?}")
        });
        server.addr =
            serving_addr(&first).unwrap_or_else(|| panic!("python3 -m http.server said {first:?}"));
        server
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port, as text for a command line.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for PythonHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `Serving HTTP on 127.0.0.1 port 8000 (http://127.0.0.1:8000/) ...`.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("Serving HTTP on ")?;
    let mut words = rest.split_whitespace();
    let ip = words.next()?;
    let port = words.nth(1)?;
    format!("{ip}:{port}").parse().ok()
}

/// What a server says on stderr when its log drained after nobody read it.
pub const LOG_DROPPED: &str = "log lines dropped: the output was not being read";

/// How long a server may take to show the effects checked below: the log
/// draining, the notice, one more line.
const STALL_PATIENCE: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM with a stalled
/// stdout: its own half a second per stuck output, and a loaded machine.
const STALLED_STOP: Duration = Duration::from_secs(3);

/// For a server started with [`Server::start_stalled`] whose log has
/// filled its pipe: the reader comes back (the pager resumes), the log
/// drains and stderr counts the lines it dropped (more than none); one
/// more exchange with it (`exchange`) is then logged (`logged` finds its
/// line on stdout); and SIGTERM still stops the server with status 0.
pub fn assert_log_drains_and_counts(
    server: &mut Server,
    exchange: impl FnOnce(&Server),
    logged: impl Fn(&str) -> bool,
) {
    server.resume_stdout();
    let notice = server.wait_for_stderr(STALL_PATIENCE, |l| l.contains(LOG_DROPPED));
    assert!(!notice.contains(" 0 log lines"), "{notice}");
    exchange(server);
    server.wait_for_stdout(STALL_PATIENCE, logged);
    let status = server
        .terminate(STALLED_STOP)
        .expect("SIGTERM ignored after a stall");
    assert!(status.success(), "{status:?}");
}

/// For a server whose stdout is still stalled: SIGTERM stops it in time
/// with status 0, and stderr counted the log lines it dropped.
pub fn assert_stops_while_stalled(server: &mut Server) {
    let status = server
        .terminate(STALLED_STOP)
        .expect("SIGTERM ignored while stdout was stalled");
    assert!(status.success(), "{status:?}");
    let stderr = server.stderr().join("\n");
    assert!(stderr.contains(LOG_DROPPED), "{stderr}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_serving_line_gives_the_address() {
        assert_eq!(
            super::serving_addr(
                "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
            ),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(super::serving_addr("Traceback"), None);
    }
}
