//! Which process each task belongs to, from the records themselves.

use std::collections::HashMap;
use std::fs;

use crate::owners::evidence::{Ctx, Event};

/// Which process each task belongs to, and its name, from the records
/// themselves.
///
/// A record carries only the id of the task that wrote it (a thread's id).
/// The process ids and names the kernel keeps beside the ring are refreshed
/// only when a task is next switched out, so a new task that reuses an old
/// task's id can show the old task's process and name (seen once the pid
/// counter had wrapped: a client's frames credited to a long-running
/// process that once had a thread with the client's id): they are never
/// read. This map gives the task's process: task creations
/// (`task:task_newtask`, whose clone flags tell a thread from a process),
/// execs, and for a task older than the capture, /proc while the task
/// lives. A record of a task known by none of them is credited to no
/// process.
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
        if !self.of.contains_key(&ctx.tid)
            && let Some(task) = from_proc(ctx.tid)
        {
            self.of.insert(ctx.tid, task);
        }
        if let Some(task) = self.of.get(&ctx.tid) {
            ctx.tgid = task.tgid;
            ctx.comm.clone_from(&task.comm);
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
    use super::super::format::samples::{event, exec, fork, send};
    use super::*;

    /// A task id no live task has (above any `pid_max`, within a record's
    /// 32 signed bits).
    const GONE: u32 = i32::MAX as u32 - 10;

    fn resolved(tasks: &mut Tasks, record: &[u8]) -> Event {
        let mut e = event(record);
        tasks.resolve(&mut e);
        e
    }

    fn ctx_of(e: &Event) -> (u32, &str, bool) {
        let ctx = e.ctx();
        (ctx.tgid, ctx.comm.as_str(), ctx.irq)
    }

    #[test]
    fn a_tasks_process_comes_from_its_own_history() {
        let mut tasks = Tasks::default();
        // A client created as a process by a task unknown to all.
        let client = GONE + 1;
        resolved(&mut tasks, &fork(GONE, client, "bash", false));
        assert_eq!(
            ctx_of(&resolved(&mut tasks, &send(client, 0, 0xa, 17, 5))),
            (client, "bash", false)
        );
        // After exec, the program's name.
        let e = resolved(
            &mut tasks,
            &exec(client, client, "/opt/lab/tcp-uppercase-with-a-long-name"),
        );
        assert_eq!(ctx_of(&e), (client, "tcp-uppercase-w", false));
        // A thread it creates is its.
        let thread = GONE + 2;
        resolved(&mut tasks, &fork(client, thread, "worker", true));
        let by_thread = send(thread, 0, 0xa, 17, 5);
        assert_eq!(ctx_of(&resolved(&mut tasks, &by_thread)).0, client);
        // Once it exits, its id means nothing.
        tasks.forget(Some(thread));
        let e = resolved(&mut tasks, &by_thread);
        assert_eq!(ctx_of(&e), (thread, "", true), "credited to no one");
        // The creator of a record nobody knows gets no credit for it.
        let e = resolved(&mut tasks, &send(GONE, 0, 0xa, 17, 5));
        assert!(ctx_of(&e).2);
    }

    #[test]
    fn a_task_older_than_the_capture_is_asked_of_proc() {
        let mut tasks = Tasks::default();
        let me = std::process::id();
        let e = resolved(&mut tasks, &send(me, 0, 0xa, 17, 5));
        let (tgid, _, irq) = ctx_of(&e);
        assert_eq!((tgid, irq), (me, false));
    }
}
