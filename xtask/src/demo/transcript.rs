//! A scenario's transcript: `@server` and `@client` blocks plus checks.

use std::fmt::Write as _;

use testkit::{Run, Server};

pub struct Transcript {
    id: String,
    title: String,
    text: String,
    failures: Vec<String>,
    artifacts: Vec<std::path::PathBuf>,
}

impl Transcript {
    pub fn new(id: &str, title: &str, header: &str) -> Self {
        let mut text = String::from(header);
        let _ = writeln!(text, "== {id}: {title} ==");
        Transcript {
            id: id.to_string(),
            title: title.to_string(),
            text,
            failures: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    pub fn banner(&self) -> String {
        format!("== {}: {} ==", self.id, self.title)
    }

    /// A free-form line, printed and recorded.
    pub fn note(&mut self, line: impl AsRef<str>) {
        self.push(line.as_ref());
    }

    fn push(&mut self, line: &str) {
        // After Ctrl-C the scenario's children die under it: what it
        // would print then is not what happened, so it is not shown.
        if !super::interrupted() {
            println!("{line}");
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Records the server's command line and everything it printed.
    pub fn server(&mut self, label: &str, server: &Server) {
        self.push(&format!("@{label} $ {}", server.command()));
        for line in server.stdout() {
            self.push(&format!("  {line}"));
        }
        for line in server.stderr() {
            self.push(&format!("  (stderr) {line}"));
        }
    }

    /// Records a client run: command, stdin, stdout, stderr, status.
    pub fn client(&mut self, label: &str, run: &Run, stdin: &str) {
        self.push(&format!("@{label} $ {}", run.command));
        for line in stdin.lines() {
            self.push(&format!("  (typed) {line}"));
        }
        for line in run.stdout_text().lines() {
            self.push(&format!("  {line}"));
        }
        for line in run.stderr_text().lines() {
            self.push(&format!("  (stderr) {line}"));
        }
        if run.code() != Some(0) {
            match run.status {
                Some(s) => self.push(&format!("  ({s})")),
                None => self.push("  (killed: did not finish in time)"),
            }
        }
    }

    /// Records a check; a failed one fails the scenario.
    pub fn check(&mut self, ok: bool, what: impl AsRef<str>) {
        let what = what.as_ref();
        if ok {
            self.push(&format!("  ✓ {what}"));
        } else {
            self.fail(what.to_string());
        }
    }

    /// Records a check that did not hold for a reason the network gives
    /// (a lossy link loses a connection's last segments, which nobody
    /// resends): noted as what happened, not failed.
    pub fn not_so(&mut self, _ok: bool, what: impl AsRef<str>) {
        self.push(&format!(
            "  (not so: {}; the link loses packets, and the last of a connection are never resent)",
            what.as_ref()
        ));
    }

    pub fn fail(&mut self, what: String) {
        self.push(&format!("  ✗ {what}"));
        self.failures.push(what);
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Records a file the scenario produced (pcap, screenshot).
    pub fn artifact(&mut self, path: std::path::PathBuf) {
        self.artifacts.push(path);
    }

    pub fn artifacts(&self) -> &[std::path::PathBuf] {
        &self.artifacts
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}
