//! Which process each task belongs to, from the records themselves.

use std::collections::HashMap;
use std::fs;

use crate::owners::table::{Ctx, Event};

/// Which process each task belongs to, and its name, from the records
/// themselves.
///
/// The kernel prints a record's process id and name from tables it
/// refreshes only when the task is next switched out, so the record of a
/// new task that reuses an old task's id can show the old task's process
/// and name (seen once the pid counter had wrapped: a client's frames
/// credited to a long-running process that once had a thread with the
/// client's id). Only the thread id is the record's own. This map gives its
/// process: task creations (`task:task_newtask`, whose clone flags tell a
/// thread from a process), execs, and for a task older than the capture,
/// /proc while the task lives. A record of a task known by none of them is
/// credited to no process.
#[derive(Debug, Default)]
pub(super) struct Tasks {
    of: HashMap<u32, Task>,
}

/// One task: its process and its own name.
#[derive(Debug, Clone)]
struct Task {
    tgid: u32,
    comm: String,
}

impl Tasks {
    /// Puts the task's true process and name into the record's context,
    /// and learns from task creations and execs.
    pub(super) fn resolve(&mut self, event: &mut Event) {
        match event {
            Event::Fork {
                ctx,
                child,
                thread,
                comm,
            } => {
                let creator = self.fill(ctx);
                match if *thread { creator } else { Some(*child) } {
                    Some(tgid) => {
                        let comm = comm.clone();
                        self.of.insert(*child, Task { tgid, comm });
                    }
                    None => {
                        self.of.remove(child);
                    }
                }
            }
            Event::Exec { ctx, path, old_tid } => {
                // The task is now its process's only thread (it took the
                // main thread's id), named after the program.
                self.of.remove(old_tid);
                let task = Task {
                    tgid: ctx.tid,
                    comm: exec_comm(path),
                };
                ctx.tgid = task.tgid;
                ctx.comm.clone_from(&task.comm);
                self.of.insert(ctx.tid, task);
            }
            Event::State { .. } | Event::Send { .. } | Event::Route { .. } | Event::Exit { .. } => {
                self.fill(event.ctx_mut());
            }
        }
    }

    /// Sets the context's process and name; `None` (and no credit) when
    /// the task's process is unknown.
    fn fill(&mut self, ctx: &mut Ctx) -> Option<u32> {
        if ctx.irq {
            // Whoever was running is not the record's author: no need to
            // know its process.
            ctx.tgid = ctx.tid;
            return None;
        }
        let known = match self.of.get(&ctx.tid) {
            Some(task) => Some(task.clone()),
            None => {
                let task = from_proc(ctx.tid);
                if let Some(task) = &task {
                    self.of.insert(ctx.tid, task.clone());
                }
                task
            }
        };
        if let Some(task) = known {
            if ctx.tgid != task.tgid {
                log::debug!(
                    "task {} printed as process {} ({}) is process {} ({})",
                    ctx.tid,
                    ctx.tgid,
                    ctx.comm,
                    task.tgid,
                    task.comm
                );
            }
            ctx.tgid = task.tgid;
            ctx.comm = task.comm;
            Some(task.tgid)
        } else {
            ctx.tgid = ctx.tid;
            ctx.irq = true;
            None
        }
    }

    /// Drops an exited task (its id may be reused).
    pub(super) fn forget(&mut self, tid: Option<u32>) {
        if let Some(tid) = tid {
            self.of.remove(&tid);
        }
    }
}

/// A live task's process and name, from /proc.
fn from_proc(tid: u32) -> Option<Task> {
    let tgid = crate::owners::procfs::tgid(tid)?;
    let comm = fs::read_to_string(format!("/proc/{tgid}/task/{tid}/comm")).ok()?;
    Some(Task {
        tgid,
        comm: comm.trim_end_matches('\n').to_string(),
    })
}

/// The name a program gets at exec: its file's name, cut to the kernel's
/// 15 bytes.
fn exec_comm(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path).as_bytes();
    String::from_utf8_lossy(&base[..base.len().min(15)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::format::samples::{EXEC, FORK, SEND, THREAD, event};
    use super::*;

    /// A task id no live task has (above any `pid_max`).
    const GONE: u32 = 4_000_000_000;

    pub(super) fn resolved(tasks: &mut Tasks, line: &str) -> Event {
        let mut e = event(line);
        tasks.resolve(&mut e);
        e
    }

    fn ctx_of(e: &Event) -> (u32, &str, bool) {
        let ctx = e.ctx();
        (ctx.tgid, ctx.comm.as_str(), ctx.irq)
    }

    #[test]
    fn a_printed_process_id_is_checked_against_the_tasks_own_history() {
        let gone = GONE.to_string();
        let mut tasks = Tasks::default();
        // A client created as a process; its send printed with the stale
        // process id and name of an old task that had the same id.
        let client = GONE + 1;
        resolved(
            &mut tasks,
            &FORK
                .replace("0x751 (1873)", &format!("{client:#x} ({client})"))
                .replace("1870", &gone),
        );
        // (The creator is unknown: no credit for its own record.)
        let send = SEND.replace(
            "python3-15820   (  15820)",
            &format!("cargo-{client} (28312)"),
        );
        assert_eq!(
            ctx_of(&resolved(&mut tasks, &send)),
            (client, "bash", false)
        );
        // After exec, the program's name.
        let exec = EXEC
            .replace("0x45a9", &format!("{client:#x}"))
            .replace("17833", &client.to_string())
            .replace(
                "filename=/usr/bin/python3",
                "filename=/opt/lab/tcp-uppercase-with-a-long-name",
            );
        let e = resolved(&mut tasks, &exec);
        assert_eq!(ctx_of(&e), (client, "tcp-uppercase-w", false));
        // A thread it creates is its, whatever the record prints.
        let thread = GONE + 2;
        resolved(
            &mut tasks,
            &THREAD
                .replace("0x45aa (17834)", &format!("{thread:#x} ({thread})"))
                .replace("17833", &client.to_string()),
        );
        let send = SEND.replace("python3-15820   (  15820)", &format!("x-{thread} (28312)"));
        assert_eq!(ctx_of(&resolved(&mut tasks, &send)).0, client);
        // Once it exits, its id means nothing.
        tasks.forget(Some(thread));
        let e = resolved(&mut tasks, &send);
        assert_eq!(ctx_of(&e), (thread, "x", true), "credited to no one");
    }

    #[test]
    fn a_task_older_than_the_capture_is_asked_of_proc() {
        let mut tasks = Tasks::default();
        let me = std::process::id();
        let send = SEND.replace("python3-15820   (  15820)", &format!("stale-{me} (    1)"));
        let e = resolved(&mut tasks, &send);
        let (tgid, _, irq) = ctx_of(&e);
        assert_eq!((tgid, irq), (me, false));
    }
}
