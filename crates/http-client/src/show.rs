//! What the binary shows while a request runs: the status line and
//! headers on stderr (or nothing, or also on stdout), the request with
//! `-v`, and a progress bar for large downloads to a file.
//!
//! Only with the `cli` feature (the default): the bar is indicatif's.

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::client::Observer;
use crate::response::Head;

/// Bodies at least this large get a progress bar (when asked for, on a
/// terminal): smaller ones finish before a bar would be of any use.
pub const PROGRESS_THRESHOLD: u64 = 1024 * 1024;

/// What is shown while a request runs.
#[derive(Default)]
pub struct Show<'a> {
    silent: bool,
    include: bool,
    verbose: bool,
    want_bar: bool,
    bar: Option<ProgressBar>,
    dump: Option<&'a mut dyn Write>,
    head_bytes: u64,
}

impl std::fmt::Debug for Show<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Show")
            .field("silent", &self.silent)
            .field("include", &self.include)
            .field("verbose", &self.verbose)
            .field("bar", &self.bar.is_some())
            .field("dump", &self.dump.is_some())
            .finish()
    }
}

impl<'a> Show<'a> {
    /// Shows the status line and headers on stderr, as the binary does by
    /// default.
    pub fn new() -> Show<'a> {
        Show::default()
    }

    /// Also writes every head received to `out` (`-D FILE`).
    pub fn dump(mut self, out: Option<&'a mut dyn Write>) -> Show<'a> {
        self.dump = out;
        self
    }

    /// Bytes of the heads received so far (`%{size_header}`).
    pub fn head_bytes(&self) -> u64 {
        self.head_bytes
    }

    /// Shows nothing (`-s`).
    pub fn silent(mut self, yes: bool) -> Show<'a> {
        self.silent = yes;
        self
    }

    /// Also writes the status line and headers to stdout (`-i`).
    pub fn include(mut self, yes: bool) -> Show<'a> {
        self.include = yes;
        self
    }

    /// Shows the request and the response head, marked `>` and `<` (`-v`).
    pub fn verbose(mut self, yes: bool) -> Show<'a> {
        self.verbose = yes;
        self
    }

    /// Draws a progress bar on stderr for bodies of at least
    /// [`PROGRESS_THRESHOLD`] bytes, when stderr is a terminal and the
    /// output is not silent.
    pub fn progress(mut self, yes: bool) -> Show<'a> {
        self.want_bar = yes && io::stderr().is_terminal();
        self
    }

    /// Clears the progress bar, if one was drawn.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Show<'_> {
    fn request(&mut self, raw: &[u8]) {
        if self.verbose {
            let text = String::from_utf8_lossy(raw);
            let mut err = io::stderr().lock();
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let _ = writeln!(err, "> {line}");
            }
            let _ = writeln!(err, ">");
        }
    }

    fn head(&mut self, head: &Head) {
        self.head_bytes += head.raw.len() as u64;
        if let Some(dump) = self.dump.as_mut() {
            let _ = dump.write_all(&head.raw).and_then(|()| dump.flush());
        }
        if self.verbose {
            let text = String::from_utf8_lossy(&head.raw);
            let mut err = io::stderr().lock();
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let _ = writeln!(err, "< {line}");
            }
            let _ = writeln!(err, "<");
        } else if !self.silent {
            let _ = io::stderr().lock().write_all(&head.raw);
        }
        if self.include {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&head.raw).and_then(|()| out.flush());
        }
    }

    fn body_start(&mut self, len: Option<u64>) {
        if !self.want_bar || self.silent || len.is_some_and(|n| n < PROGRESS_THRESHOLD) {
            return;
        }
        let bar = match len {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        self.bar = Some(bar);
    }

    fn progress(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn info(&mut self, line: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr().lock(), "* {line}");
        }
    }
}
