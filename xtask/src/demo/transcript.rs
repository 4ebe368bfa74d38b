//! A scenario's transcript: `@server` and `@client` blocks plus checks,
//! kept twice: as the text saved to `NN-scenario.txt` and printed as the
//! demo runs, and as typed [`Item`]s the report is built from.

use std::fmt::Write as _;
use std::path::PathBuf;

use testkit::{Run, Server};

use super::frames::Frame;

/// A piece of a transcript, as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `@label $ command` and what it printed, one line each.
    Pane { head: String, lines: Vec<String> },
    /// A capture: its command, its frames as net-trace reads them back
    /// from the saved file, what it printed after its table (the
    /// summary, its counts) and the ladder diagram it drew.
    Capture {
        head: String,
        frames: Vec<Frame>,
        lines: Vec<String>,
        diagram: Option<PathBuf>,
    },
    /// One step of a conversation (`client types: hi`): consecutive
    /// steps share one pane.
    Step(String),
    /// `✓ what` (passed) or `✗ what` (failed).
    Check { ok: bool, what: String },
    /// A remark (a skipped step, say).
    Note(String),
}

#[derive(Debug)]
pub struct Transcript {
    id: String,
    title: String,
    text: String,
    items: Vec<Item>,
    failures: Vec<String>,
    artifacts: Vec<PathBuf>,
}

impl Transcript {
    pub fn new(id: &str, title: &str, header: &str) -> Self {
        let mut text = String::from(header);
        let _ = writeln!(text, "== {id}: {title} ==");
        Transcript {
            id: id.to_string(),
            title: title.to_string(),
            text,
            items: Vec::new(),
            failures: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    pub fn banner(&self) -> String {
        format!("== {}: {} ==", self.id, self.title)
    }

    /// A line of the text, printed and saved, not an item of its own.
    pub fn record(&mut self, line: &str) {
        // After Ctrl-C the scenario's children die under it: what it
        // would print then is not what happened, so it is not shown.
        if !super::interrupted() {
            println!("{line}");
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// A remark: a step left out, or why a check was not made.
    pub fn note(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        self.record(&format!("  {line}"));
        self.items.push(Item::Note(line.to_string()));
    }

    /// A command that `label` ran; [`Transcript::output`] adds what it
    /// printed.
    pub fn command(&mut self, label: &str, command: impl AsRef<str>) {
        let head = format!("{label} $ {}", command.as_ref());
        self.record(&format!("@{head}"));
        self.items.push(Item::Pane {
            head,
            lines: Vec::new(),
        });
    }

    /// A line the last command or capture printed. Without one (after a
    /// check, say) it is a remark.
    pub fn output(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        let open = matches!(
            self.items.last(),
            Some(Item::Pane { .. } | Item::Capture { .. })
        );
        if !open {
            return self.note(line);
        }
        self.record(&format!("  {line}"));
        if let Some(Item::Pane { lines, .. } | Item::Capture { lines, .. }) = self.items.last_mut()
        {
            lines.push(line.to_string());
        }
    }

    /// One step of a conversation: `client types: hi`.
    pub fn step(&mut self, what: impl AsRef<str>) {
        let what = what.as_ref();
        self.record(&format!("@{what}"));
        self.items.push(Item::Step(what.to_string()));
    }

    /// A capture's command, its frames and its diagram. The caller
    /// records its table as text ([`Transcript::record`]) and what
    /// followed the table as its output.
    pub fn capture(&mut self, command: &str, frames: Vec<Frame>, diagram: Option<PathBuf>) {
        let head = format!("capture $ {command}");
        self.record(&format!("@{head}"));
        self.items.push(Item::Capture {
            head,
            frames,
            lines: Vec::new(),
            diagram,
        });
    }

    /// Records the server's command line and everything it printed.
    pub fn server(&mut self, label: &str, server: &Server) {
        self.command(label, server.command());
        for line in server.stdout() {
            self.output(line);
        }
        for line in server.stderr() {
            self.output(format!("(stderr) {line}"));
        }
    }

    /// Records a client run: command, stdin, stdout, stderr, status.
    pub fn client(&mut self, label: &str, run: &Run, stdin: &str) {
        self.command(label, &run.command);
        for line in stdin.lines() {
            self.output(format!("(typed) {line}"));
        }
        for line in run.stdout_text().lines() {
            self.output(line);
        }
        for line in run.stderr_text().lines() {
            self.output(format!("(stderr) {line}"));
        }
        if run.code() != Some(0) {
            match run.status {
                Some(s) => self.output(format!("({s})")),
                None => self.output("(killed: did not finish in time)"),
            }
        }
    }

    /// Records a check; a failed one fails the scenario.
    pub fn check(&mut self, ok: bool, what: impl AsRef<str>) {
        let what = what.as_ref();
        if ok {
            self.record(&format!("  ✓ {what}"));
            self.items.push(Item::Check {
                ok: true,
                what: what.to_string(),
            });
        } else {
            self.fail(what.to_string());
        }
    }

    /// Records a check that did not hold for a reason the network gives
    /// (a lossy link loses a connection's last segments, which nobody
    /// resends): noted as what happened, not failed.
    pub fn not_so(&mut self, _ok: bool, what: impl AsRef<str>) {
        self.note(format!(
            "(not so: {}; the link loses packets, and the last of a connection are never resent)",
            what.as_ref()
        ));
    }

    pub fn fail(&mut self, what: String) {
        self.record(&format!("  ✗ {what}"));
        self.items.push(Item::Check {
            ok: false,
            what: what.clone(),
        });
        self.failures.push(what);
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Records a file the scenario produced (pcap, screenshot).
    pub fn artifact(&mut self, path: PathBuf) {
        self.artifacts.push(path);
    }

    pub fn artifacts(&self) -> &[PathBuf] {
        &self.artifacts
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_belongs_to_its_command_and_is_a_remark_elsewhere() {
        let mut t = Transcript::new("01-x", "X", "# run by ana\n");
        t.command("server", "udp-chat server");
        t.output("listening");
        t.check(true, "it answered");
        t.output("(skipped: no python)");
        t.step("client types: hi");
        t.fail("it broke".into());
        assert_eq!(
            t.items(),
            [
                Item::Pane {
                    head: "server $ udp-chat server".into(),
                    lines: vec!["listening".into()],
                },
                Item::Check {
                    ok: true,
                    what: "it answered".into()
                },
                Item::Note("(skipped: no python)".into()),
                Item::Step("client types: hi".into()),
                Item::Check {
                    ok: false,
                    what: "it broke".into()
                },
            ]
        );
        assert_eq!(
            t.text(),
            "# run by ana\n== 01-x: X ==\n@server $ udp-chat server\n  listening\n  ✓ it answered\n  (skipped: no python)\n@client types: hi\n  ✗ it broke\n"
        );
        assert_eq!(t.failures(), ["it broke"]);
    }
}
