//! How connection threads are scheduled: their policy, and the CPU they
//! run on. The policy is the one place in net-core that needs `unsafe`
//! (`sched_setscheduler` has no safe wrapper in the crates netlab uses);
//! the CPU goes through nix's safe `sched_setaffinity`. Linux only;
//! elsewhere no-ops.
//!
//! A connection thread is woken by its client's own actions — the
//! connect, the sentence, the end of stream — and under the default
//! policy a woken thread may preempt the client on the spot, before the
//! client has written its sentence or gone to wait for the reply. Then the
//! thread finds nothing to read, sleeps again, and each exchange costs a
//! context switch more. `SCHED_BATCH` is the ordinary fair policy without
//! that wake-up preemption: the same CPU share, the woken thread runs when
//! the client blocks or its time slice ends.
//!
//! A connection thread can also follow its connection to the CPU that
//! receives the connection's packets ([`follow_cpu`]). Each exchange of a
//! short connection is a hand-off between the client and the thread; when
//! the thread sleeps on another CPU than the one the packets arrive on,
//! every hand-off wakes that CPU with an interrupt (costly in a virtual
//! machine, where an idle CPU has left the hardware) and moves the data
//! between caches. On loopback the receiving CPU is the client's own, so a
//! thread that follows it takes the client's turn as the client waits;
//! from a network card it is the CPU the card's queue interrupts. A thread
//! moving a bulk stream does better on a CPU of its own: it lets go
//! ([`stop_following`]) and the scheduler places it again.
#![allow(unsafe_code)]

use std::io;

/// Moves the calling thread to `SCHED_BATCH` (see the module docs), if
/// it runs under the default policy: a policy chosen for the process
/// (`chrt --idle`, `chrt --rr`) is kept.
#[cfg(target_os = "linux")]
pub fn batch_current_thread() -> io::Result<()> {
    // SAFETY: pid 0 is the calling thread; no pointers involved.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return Err(io::Error::last_os_error());
    }
    if policy & !libc::SCHED_RESET_ON_FORK != libc::SCHED_OTHER {
        return Ok(());
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread and `param` is a valid,
    // initialised `sched_param` that outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Moves the calling thread to `SCHED_BATCH`: a no-op off Linux.
#[cfg(not(target_os = "linux"))]
pub fn batch_current_thread() -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
mod follow {
    use std::cell::Cell;
    use std::io;

    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::{Pid, gettid};

    thread_local! {
        /// The CPU the calling thread is held to now, if any.
        static HELD: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// The CPUs the process may use now: its main thread's, which follows
    /// none. Read afresh whenever a thread changes CPUs, so that a
    /// `taskset -a -p`, or a cpuset changed while the process runs, holds
    /// for the threads that follow CPUs too. None if it cannot be read.
    fn allowed() -> Option<CpuSet> {
        sched_getaffinity(Pid::this()).ok()
    }

    pub fn follow_cpu(cpu: usize) -> io::Result<bool> {
        if HELD.get() == Some(cpu) {
            return Ok(true);
        }
        // The main thread's CPUs are the reference for the others.
        if gettid() == Pid::this() {
            return Ok(false);
        }
        let Some(set) = allowed() else {
            return Ok(false);
        };
        if !set.is_set(cpu).unwrap_or(false) {
            stop_following()?;
            return Ok(false);
        }
        let mut one = CpuSet::new();
        one.set(cpu)?;
        sched_setaffinity(Pid::from_raw(0), &one)?;
        HELD.set(Some(cpu));
        Ok(true)
    }

    pub fn stop_following() -> io::Result<()> {
        if HELD.get().is_none() {
            return Ok(());
        }
        run_anywhere()
    }

    pub fn run_anywhere() -> io::Result<()> {
        if let Some(set) = allowed() {
            sched_setaffinity(Pid::from_raw(0), &set)?;
        }
        HELD.set(None);
        Ok(())
    }

    pub fn following() -> Option<usize> {
        HELD.get()
    }
}

/// Holds the calling thread to `cpu` (see the module docs), if `cpu` is
/// among the CPUs the process may use now (its main thread's, which never
/// follows one); otherwise lets it go back to those. True when the thread
/// is held to `cpu`. Cheap when the thread is held to `cpu` already: no
/// system call.
#[cfg(target_os = "linux")]
pub fn follow_cpu(cpu: usize) -> io::Result<bool> {
    follow::follow_cpu(cpu)
}

/// Lets a thread that [followed](follow_cpu) a CPU run on every CPU the
/// process may use again; a no-op for a thread held to none.
#[cfg(target_os = "linux")]
pub fn stop_following() -> io::Result<()> {
    follow::stop_following()
}

/// Lets the calling thread run on every CPU the process may use, whatever it
/// inherited: a thread started by one that followed a CPU is held to that
/// CPU without knowing it.
#[cfg(target_os = "linux")]
pub fn run_anywhere() -> io::Result<()> {
    follow::run_anywhere()
}

/// The CPU the calling thread is held to by [`follow_cpu`], if any.
#[cfg(target_os = "linux")]
pub fn following() -> Option<usize> {
    follow::following()
}

/// Off Linux threads are never held to a CPU: false.
#[cfg(not(target_os = "linux"))]
pub fn follow_cpu(_cpu: usize) -> io::Result<bool> {
    Ok(false)
}

/// A no-op off Linux.
#[cfg(not(target_os = "linux"))]
pub fn stop_following() -> io::Result<()> {
    Ok(())
}

/// A no-op off Linux.
#[cfg(not(target_os = "linux"))]
pub fn run_anywhere() -> io::Result<()> {
    Ok(())
}

/// None off Linux.
#[cfg(not(target_os = "linux"))]
pub fn following() -> Option<usize> {
    None
}

/// The CPUs the calling thread may run on now, in order: for tests.
#[cfg(test)]
#[cfg(target_os = "linux")]
pub(crate) fn cpus_of_this_thread() -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap())
        .collect()
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    #[test]
    fn a_thread_becomes_batch_and_others_keep_their_policy() {
        let policy = std::thread::spawn(|| {
            super::batch_current_thread().unwrap();
            // SAFETY: pid 0 is the calling thread; no pointers involved.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_BATCH);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[test]
    fn a_policy_chosen_for_the_thread_is_kept() {
        let policy = std::thread::spawn(|| {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread and `param` is a valid,
            // initialised `sched_param` that outlives the call.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            super::batch_current_thread().unwrap();
            // SAFETY: as above, no pointers involved.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
    }

    #[test]
    fn a_thread_follows_an_allowed_cpu_and_goes_back_to_all_of_them() {
        std::thread::spawn(|| {
            let before = super::cpus_of_this_thread();
            let last = *before.last().unwrap();
            assert!(super::follow_cpu(last).unwrap());
            assert_eq!(super::cpus_of_this_thread(), vec![last]);
            assert_eq!(super::following(), Some(last));
            // Following the same CPU again changes nothing.
            assert!(super::follow_cpu(last).unwrap());
            // A CPU the thread was never allowed is refused, and the
            // thread goes back to all it was allowed.
            let never = nix::sched::CpuSet::count() - 1;
            assert!(!before.contains(&never));
            assert!(!super::follow_cpu(never).unwrap());
            assert_eq!(super::cpus_of_this_thread(), before);
            assert_eq!(super::following(), None);
            assert!(super::follow_cpu(before[0]).unwrap());
            super::stop_following().unwrap();
            assert_eq!(super::cpus_of_this_thread(), before);
        })
        .join()
        .unwrap();
    }
}
