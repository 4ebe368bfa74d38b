//! Processes: forks, execs and exits, what each ran when, and who may
//! share a socket with whom.

use std::time::Duration;

use super::event::{Ctx, Event};
use super::{CLOCK_SLACK, Table};
use crate::owners::{Answer, Owner, Reason};

/// A program a process ran before an exec.
#[derive(Debug, Clone)]
struct Program {
    /// When the next program replaced it.
    until: Duration,
    name: String,
    cmd: Option<String>,
    args: Vec<String>,
    /// Known from events (or read from /proc before the exec); `false`
    /// when what was read may already have been the next program's.
    known: bool,
}

/// How many parents up a process's ancestry is followed, at most (a
/// server's worker is its child or grandchild; a loop in what was read
/// cannot run for ever).
const MAX_ANCESTRY: usize = 64;

/// Earlier programs remembered per process, at most.
const MAX_PROGRAMS: usize = 4;

/// A process tree deeper than this is treated as a loop.
const MAX_TREE_DEPTH: usize = 256;

/// What the table knows of one process.
#[derive(Debug, Clone, Default)]
pub(super) struct Proc {
    /// The programs it ran before its latest exec, oldest first.
    earlier: Vec<Program>,
    /// When what the table knows of its program was read from /proc (a
    /// process first seen by one of its records), if it was.
    read_at: Option<Duration>,
    name: String,
    cmd: Option<String>,
    args: Vec<String>,
    parent: Option<u32>,
    started: Option<Duration>,
    exited: Option<Duration>,
    /// Children that may be processes (not known to be threads), with the
    /// time they were created.
    children: Vec<(u32, Duration)>,
}

impl Table {
    /// Notes the task that ran `e`: a thread of its process, or the
    /// process itself, whose main thread's name is the program's.
    pub(super) fn saw_task(&mut self, e: &Event) {
        let ctx = e.ctx();
        if ctx.tid != ctx.tgid {
            self.threads.insert(ctx.tid, ctx.tgid);
            // A task seen as a thread is not a child process of anyone.
            if let Some(parent) = self.procs.get_mut(&ctx.tgid) {
                parent.children.retain(|(c, _)| *c != ctx.tid);
            }
        } else if !ctx.irq && !matches!(e, Event::Exec { .. }) {
            // (An exec names the new program itself, keeping the old one.)
            let read_at = self.reading_at;
            let p = self.procs.entry(ctx.tgid).or_insert_with(|| Proc {
                // First seen here: its name came from /proc just now.
                read_at: Some(read_at),
                ..Proc::default()
            });
            // The main thread's name is the program's name.
            p.name.clone_from(&ctx.comm);
        }
    }

    /// `sched:sched_process_exec`: the process runs the program at `path`
    /// from `ctx.time` on.
    pub(super) fn exec(&mut self, ctx: &Ctx, path: &str) {
        let p = self.procs.entry(ctx.tgid).or_default();
        // Frames sent before the exec are the earlier program's;
        // what /proc said of it after the exec was the new one's.
        if !p.name.is_empty() {
            let known = p.read_at.is_none_or(|r| r <= ctx.time);
            p.earlier.push(Program {
                until: ctx.time,
                name: std::mem::take(&mut p.name),
                cmd: p.cmd.take(),
                args: std::mem::take(&mut p.args),
                known,
            });
            if p.earlier.len() > MAX_PROGRAMS {
                p.earlier.remove(0);
            }
        }
        p.read_at = None;
        p.cmd = Some(path.to_string());
        p.args.clear();
        p.name.clone_from(&ctx.comm);
    }

    /// `task:task_newtask`: `ctx`'s process created `child`, a thread of
    /// its own or a process running what it runs.
    pub(super) fn fork(&mut self, ctx: &Ctx, child: u32, thread: bool) {
        if thread {
            self.thread_of(child, ctx.tgid);
            return;
        }
        // A reused id: the task is a process now.
        self.threads.remove(&child);
        let read_at = self.reading_at;
        let parent = self.procs.entry(ctx.tgid).or_insert_with(|| Proc {
            read_at: Some(read_at),
            ..Proc::default()
        });
        parent.children.push((child, ctx.time));
        let inherited = Proc {
            name: parent.name.clone(),
            cmd: parent.cmd.clone(),
            args: parent.args.clone(),
            read_at: parent.read_at,
            parent: Some(ctx.tgid),
            started: Some(ctx.time),
            ..Proc::default()
        };
        self.procs.insert(child, inherited);
    }

    /// `sched:sched_process_exit` of a process's last thread.
    pub(super) fn exit(&mut self, ctx: &Ctx) {
        let p = self.procs.entry(ctx.tgid).or_default();
        p.exited = Some(ctx.time);
    }

    /// Names the holders of a socket found in /proc as /proc did.
    pub(super) fn name_as(&mut self, o: &Owner) {
        let p = self.procs.entry(o.pid).or_default();
        p.name.clone_from(&o.name);
        p.cmd.clone_from(&o.cmd);
        p.args.clone_from(&o.args);
    }

    /// Forgets processes that exited before `horizon`, and their threads.
    pub(super) fn forget_processes(&mut self, horizon: Duration) {
        self.procs
            .retain(|_, p| p.exited.is_none_or(|e| e >= horizon));
        let procs = &self.procs;
        self.threads.retain(|_, tgid| procs.contains_key(tgid));
    }

    /// Records what a process is, learned outside the events (/proc).
    pub(crate) fn describe(
        &mut self,
        pid: u32,
        name: &str,
        cmd: Option<String>,
        args: Vec<String>,
    ) {
        let read_at = self.reading_at;
        let p = self.procs.entry(pid).or_default();
        p.read_at = p.read_at.or(Some(read_at));
        if p.name.is_empty() {
            p.name = name.to_string();
        }
        if p.cmd.is_none() {
            p.cmd = cmd;
        }
        if p.args.is_empty() {
            p.args = args;
        }
    }

    /// Whether the table has a name for `pid` (else the reader asks /proc).
    pub(crate) fn knows(&self, pid: u32) -> bool {
        self.procs.get(&pid).is_some_and(|p| !p.name.is_empty())
    }

    /// Marks `child` a thread of `tgid` (learned from /proc).
    pub(crate) fn thread_of(&mut self, child: u32, tgid: u32) {
        if child != tgid {
            self.threads.insert(child, tgid);
            if let Some(p) = self.procs.get_mut(&tgid) {
                p.children.retain(|(c, _)| *c != child);
            }
            self.procs.remove(&child);
        }
    }

    /// Sets the arguments of the program `pid` ran from its latest exec,
    /// read from /proc while it still ran that program.
    pub(crate) fn exec_args(&mut self, pid: u32, args: Vec<String>) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.args = args;
        }
    }

    /// The owner of `pid` as the table knows it.
    pub(crate) fn owner_at(&self, pid: u32, at: Duration) -> Option<Owner> {
        let p = self.procs.get(&pid)?;
        // The program it ran at `at`: one replaced by an exec since, if so.
        let (name, cmd, args) = match p.earlier.iter().find(|e| at < e.until) {
            Some(e) if !e.known => return None,
            Some(e) => (&e.name, &e.cmd, &e.args),
            None => (&p.name, &p.cmd, &p.args),
        };
        if name.is_empty() {
            return None;
        }
        Some(Owner {
            pid,
            name: name.clone(),
            cmd: cmd.clone(),
            args: args.clone(),
        })
    }

    /// Whether `pid` may have been alive at `time`: not exited before it,
    /// not created after it.
    pub(crate) fn alive_at(&self, pid: u32, time: Duration) -> bool {
        self.procs.get(&pid).is_none_or(|p| {
            p.exited.is_none_or(|e| e + CLOCK_SLACK >= time)
                && p.started.is_none_or(|s| s <= time + CLOCK_SLACK)
        })
    }

    /// Whether `pid` descends from `root` (or is it).
    pub(crate) fn is_in_tree(&self, pid: u32, root: u32) -> Option<bool> {
        let mut at = self.threads.get(&pid).copied().unwrap_or(pid);
        for _ in 0..MAX_TREE_DEPTH {
            if at == root {
                return Some(true);
            }
            at = self.procs.get(&at)?.parent?;
        }
        Some(false)
    }

    /// `pid`, alive at `since`, with the program it ran at `at`.
    pub(super) fn known(&self, pid: u32, since: Duration, at: Duration) -> Answer<Owner> {
        if !self.alive_at(pid, since) {
            return Answer::Unknown(Reason::Unproven);
        }
        self.owner_at(pid, at)
            .map_or(Answer::Unknown(Reason::Unproven), Answer::Known)
    }

    /// Whether `pid` may have accepted a connection on a listener `holder`
    /// opened at `since`: it is `holder`, or descends from a child `holder`
    /// forked after `since` (so it inherited the listener). A child forked
    /// before could hold an accepted socket only if it was handed over.
    /// A fork the table did not see (before the capture) is given the
    /// benefit, as before.
    pub(super) fn may_have_accepted(&self, pid: u32, holder: u32, since: Duration) -> bool {
        let mut at = pid;
        for _ in 0..MAX_ANCESTRY {
            if at == holder {
                return true;
            }
            let Some(parent) = self.procs.get(&at).and_then(|p| p.parent) else {
                return false;
            };
            if parent == holder {
                let forked = self
                    .procs
                    .get(&holder)
                    .and_then(|h| h.children.iter().find(|(c, _)| *c == at))
                    .map(|(_, t)| *t);
                // Both times are kernel events on one clock: no slack.
                return forked.is_none_or(|t| t >= since);
            }
            if parent == at {
                return false;
            }
            at = parent;
        }
        false
    }

    /// Whether a child process of `pid` forked after `since` (when its
    /// socket appeared) may hold that socket too at `time`: a child not
    /// known to be a thread and not known to have exited.
    pub(super) fn may_share(&self, pid: u32, since: Duration, time: Duration) -> bool {
        self.procs.get(&pid).is_some_and(|p| {
            p.children
                .iter()
                .any(|(c, at)| *at >= since && *at <= time + CLOCK_SLACK && self.alive_at(*c, time))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::owners::Role;

    #[test]
    fn process_tree() {
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 10, "sh", false),
            child: 11,
            thread: false,
            comm: "child".into(),
        });
        t.apply(&Event::Fork {
            ctx: ctx(1, 11, "sh", false),
            child: 12,
            thread: false,
            comm: "child".into(),
        });
        assert_eq!(t.is_in_tree(12, 10), Some(true));
        assert_eq!(t.is_in_tree(10, 12), None);
    }

    fn program(v: Answer<Owner>) -> Option<(String, Option<String>)> {
        match v {
            Answer::Known(o) => Some((o.name, o.cmd)),
            _ => None,
        }
    }

    #[test]
    fn frames_sent_before_an_exec_keep_the_earlier_program() {
        let exec = |t: &mut Table, at: u64, comm: &str, path: &str| {
            t.apply(&Event::Exec {
                ctx: ctx(at, 100, comm, false),
                path: path.into(),
                old_tid: 100,
            });
        };
        let mut t = Table::new();
        t.apply(&Event::Fork {
            ctx: ctx(0, 1, "bash", false),
            child: 100,
            thread: false,
            comm: "bash".into(),
        });
        exec(&mut t, 1, "python3", "/usr/bin/python3");
        t.exec_args(100, vec!["client.py".into()]);
        datagram(&mut t, 5, 100, "python3");
        exec(&mut t, 10, "sleep", "/bin/sleep");
        let python = Some(("python3".to_string(), Some("/usr/bin/python3".to_string())));
        assert_eq!(program(t.lookup(&q(false, Role::Client, 5, 0, 52))), python);
        datagram(&mut t, 12, 100, "sleep");
        assert_eq!(
            program(t.lookup(&q(false, Role::Client, 12, 0, 52))),
            Some(("sleep".to_string(), Some("/bin/sleep".to_string())))
        );
        // A process first seen by a record read after it had exec'd (what
        // /proc said was already the next program): its frames before the
        // exec name no program, so no one.
        let mut t = Table::new();
        t.reading(ms(20));
        datagram(&mut t, 5, 100, "sleep");
        exec(&mut t, 10, "sleep", "/bin/sleep");
        assert_eq!(t.lookup(&q(false, Role::Client, 5, 0, 52)), UNPROVEN);
        datagram(&mut t, 12, 100, "sleep");
        assert_eq!(pid(t.lookup(&q(false, Role::Client, 12, 0, 52))), Some(100));
    }

    #[test]
    fn a_pid_that_exited_before_the_stream_is_never_named() {
        let mut t = Table::new();
        connection(&mut t, 0, 100, 0xa);
        // The socket lived on (closed at 5) but the stream starts at 20.
        let mut late = q(true, Role::Client, 21, 20, 74);
        late.syn = false;
        assert_eq!(t.lookup(&late), UNPROVEN);
        assert!(!t.alive_at(100, ms(20)));
    }
}
