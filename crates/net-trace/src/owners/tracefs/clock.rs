//! The trace clock on the packets' clock: markers written to the
//! instance's `trace_marker` at a known wall-clock time.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::instance::Instance;
use super::{Unavailable, io_err};

/// Clock markers: the wall-clock time each was written at, oldest first.
#[derive(Debug)]
pub struct Clock {
    marker: Mutex<File>,
    pending: Mutex<VecDeque<Duration>>,
    /// Wall clock minus trace clock, in nanoseconds (0 until measured).
    pub(super) offset_ns: AtomicU64,
}

impl Clock {
    pub(super) fn open(instance: &Instance) -> Result<Self, Unavailable> {
        let path = instance.dir().join("trace_marker");
        let marker = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open", &path, &e))?;
        Ok(Self {
            marker: Mutex::new(marker),
            pending: Mutex::new(VecDeque::new()),
            offset_ns: AtomicU64::new(0),
        })
    }

    /// Writes a marker; the reader measures the offset and advances its
    /// watermark when it reads it back.
    pub fn mark(&self) {
        let (Ok(mut file), Ok(mut pending)) = (self.marker.lock(), self.pending.lock()) else {
            return;
        };
        // Bounded: markers are only written while lookups wait.
        if pending.len() >= MAX_PENDING_MARKERS {
            return;
        }
        let before = now();
        if file.write_all(b"net-trace\n").is_ok() {
            pending.push_back(before);
        }
    }

    pub(super) fn read_back(&self, trace_time: Duration) {
        let Some(wall) = self.pending.lock().ok().and_then(|mut p| p.pop_front()) else {
            return;
        };
        // Where the clocks can be read directly, the offset is exact and
        // follows any step of the wall clock: a marker delayed on a busy
        // machine (by milliseconds, now and then) cannot skew it.
        #[cfg(target_os = "linux")]
        if let Some(offset) = crate::sys::realtime_minus_monotonic() {
            let _ = (wall, trace_time);
            let ns = u64::try_from(offset.as_nanos()).unwrap_or(0);
            self.offset_ns.store(ns.max(1), Ordering::Release);
            return;
        }
        // Each estimate is low by the marker write's latency: the largest
        // is the closest, and converted times then err early, never late.
        // A much lower one means the wall clock was set back: start over.
        let offset = u64::try_from(wall.saturating_sub(trace_time).as_nanos()).unwrap_or(0);
        let current = self.offset_ns.load(Ordering::Acquire);
        if offset > current || current - offset > CLOCK_STEP_NS {
            self.offset_ns.store(offset, Ordering::Release);
        }
    }

    /// Converts a trace-clock time to the packets' clock, once measured.
    pub(super) fn to_wall(&self, trace_time: Duration) -> Option<Duration> {
        let offset = self.offset_ns.load(Ordering::Acquire);
        (offset != 0).then(|| trace_time + Duration::from_nanos(offset))
    }
}

/// An offset estimate this much (ns) below the best one is a step of the
/// wall clock, not the latency of a marker write.
const CLOCK_STEP_NS: u64 = 1_000_000;

/// Markers written and not yet read back, at most.
const MAX_PENDING_MARKERS: usize = 64;

pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_placed_once_a_marker_came_back() {
        let clock = Clock {
            marker: Mutex::new(OpenOptions::new().write(true).open("/dev/null").unwrap()),
            pending: Mutex::new(VecDeque::new()),
            offset_ns: AtomicU64::new(0),
        };
        let (t1, t2) = (Duration::from_secs(5), Duration::from_millis(5_250));
        assert_eq!(clock.to_wall(t1), None, "nothing placed before");
        clock.mark();
        clock.read_back(t1);
        let (w1, w2) = (clock.to_wall(t1).unwrap(), clock.to_wall(t2).unwrap());
        assert_eq!(w2 - w1, t2 - t1, "one offset for all");
        assert!(w1 > t1);
        // A marker that was never written is not read back as one.
        clock.read_back(t2);
        assert_eq!(clock.to_wall(t1), Some(w1));
    }
}
