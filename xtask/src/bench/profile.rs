//! What a server spends per request: system calls, context switches and
//! CPU time, counted by `perf stat` over all its processes and threads
//! while a load runs (nginx: master and workers). Without `perf` (or
//! without the right to count), switches and CPU time come from `/proc`
//! and system calls are unknown.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

/// Per request (or exchange), what the server spent.
#[derive(Debug, Clone, Copy)]
pub struct PerOp {
    /// System calls entered (`raw_syscalls:sys_enter`); None without perf.
    pub syscalls: Option<f64>,
    /// Context switches of the server's threads.
    pub switches: f64,
    /// CPU time, µs.
    pub cpu_us: f64,
}

/// The events counted, in `perf stat -x,`'s names.
const EVENTS: &str = "raw_syscalls:sys_enter,context-switches,task-clock";

/// Runs `load` (which runs for `secs` and returns operations per second)
/// and counts the middle of the run (from a fifth in, for three fifths:
/// past the start, when threads and connections are set up, and clear of
/// the end) over the processes `pids` lists then (nginx forks its workers
/// after it listens, so they are looked for once the load runs). None
/// when nothing could be counted.
pub fn per_op(
    pids: impl FnOnce() -> Vec<u32>,
    secs: Duration,
    load: impl FnOnce() -> f64 + Send,
) -> Option<PerOp> {
    let warm = secs / 5;
    let window = secs * 3 / 5;
    thread::scope(|scope| {
        let running = scope.spawn(load);
        thread::sleep(warm);
        let counted = count(&pids(), window);
        let rate = running.join().ok()?;
        let ops = rate * window.as_secs_f64();
        if ops <= 0.0 {
            return None;
        }
        let c = counted?;
        Some(PerOp {
            syscalls: c.syscalls.map(|n| n / ops),
            switches: c.switches / ops,
            cpu_us: c.cpu_ns / 1000.0 / ops,
        })
    })
}

struct Counts {
    syscalls: Option<f64>,
    switches: f64,
    cpu_ns: f64,
}

/// Counts over `window`: with `perf stat` when it can, else from `/proc`.
fn count(pids: &[u32], window: Duration) -> Option<Counts> {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let out = Command::new("perf")
        .args(["stat", "-x,", "-e", EVENTS, "-p", &list.join(","), "--"])
        .args(["sleep", &format!("{:.3}", window.as_secs_f64())])
        .output();
    if let Ok(out) = out
        && out.status.success()
        && let Some(c) = parse_perf(&String::from_utf8_lossy(&out.stderr))
    {
        return Some(c);
    }
    let before = proc_counts(pids);
    thread::sleep(window);
    let after = proc_counts(pids);
    Some(Counts {
        syscalls: None,
        switches: after.0.saturating_sub(before.0) as f64,
        cpu_ns: after.1.saturating_sub(before.1) as f64,
    })
}

/// `perf stat -x,` output: `VALUE,UNIT,EVENT,…` per line.
fn parse_perf(text: &str) -> Option<Counts> {
    let value = |event: &str| {
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(2) == Some(&event))
                .then(|| f[0].parse::<f64>().ok())
                .flatten()
        })
    };
    Some(Counts {
        syscalls: value("raw_syscalls:sys_enter"),
        switches: value("context-switches")?,
        // msec
        cpu_ns: value("task-clock")? * 1e6,
    })
}

/// Context switches and CPU ns of every thread of `pids` now (threads
/// that ended are missed).
fn proc_counts(pids: &[u32]) -> (u64, u64) {
    let mut switches = 0;
    for p in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(status) = fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    (switches, super::peers::cpu_ns(pids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_stat_output() {
        let text = "123456,,raw_syscalls:sys_enter,3000000000,100.00,,\n\
                    7890,,context-switches,3000000000,100.00,0.003,K/sec\n\
                    2999.50,msec,task-clock,3000000000,100.00,0.999,CPUs utilized\n";
        let c = parse_perf(text).unwrap();
        assert_eq!(c.syscalls, Some(123_456.0));
        assert_eq!(c.switches, 7890.0);
        assert_eq!(c.cpu_ns, 2_999_500_000.0);
        let no_tracepoint = "<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n\
                             7890,,context-switches,3000000000,100.00,,\n\
                             2999.50,msec,task-clock,3000000000,100.00,,\n";
        assert_eq!(parse_perf(no_tracepoint).unwrap().syscalls, None);
    }
}
