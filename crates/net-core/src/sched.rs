//! Scheduling policy for connection threads: the one place in net-core
//! that needs `unsafe` (`sched_setscheduler` has no safe wrapper in the
//! crates netlab uses), Linux only; elsewhere a no-op.
//!
//! A connection thread is woken by its client's own actions — the
//! connect, the sentence, the end of stream — and under the default
//! policy a woken thread may preempt the client on the spot, before the
//! client has written its sentence or gone to wait for the reply. Then the
//! thread finds nothing to read, sleeps again, and each exchange costs a
//! context switch more. `SCHED_BATCH` is the ordinary fair policy without
//! that wake-up preemption: the same CPU share, the woken thread runs when
//! the client blocks or its time slice ends.
#![allow(unsafe_code)]

use std::io;

/// Moves the calling thread to `SCHED_BATCH` (see the module docs).
#[cfg(target_os = "linux")]
pub fn batch_current_thread() -> io::Result<()> {
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

#[cfg(all(test, target_os = "linux"))]
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
}
