//! The trace clock on the packets' clock: the offset between the instance's
//! `mono` clock and CLOCK_REALTIME, measured each time a marker written to
//! the instance's `trace_marker` comes back.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::instance::Instance;
use super::{Unavailable, io_err};

/// The marker file, and the offset measured when markers come back.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The marker file and how many markers written to it have not come
    /// back yet.
    marker: Mutex<(File, usize)>,
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
            marker: Mutex::new((marker, 0)),
            offset_ns: AtomicU64::new(0),
        })
    }

    /// Writes a marker; the reader measures the offset and advances its
    /// watermark when it reads it back.
    pub(crate) fn mark(&self) {
        let Ok(mut marker) = self.marker.lock() else {
            return;
        };
        let (file, pending) = &mut *marker;
        // Bounded: markers are only written while lookups wait.
        if *pending >= MAX_PENDING_MARKERS {
            return;
        }
        if file.write_all(b"net-trace\n").is_ok() {
            *pending += 1;
        }
    }

    /// A marker came back: the offset is measured afresh, so it follows
    /// any step of the wall clock. The clocks are read directly, so the
    /// offset is exact: a marker delayed on a busy machine (by
    /// milliseconds, now and then) cannot skew it.
    pub(super) fn read_back(&self) {
        let Ok(mut marker) = self.marker.lock() else {
            return;
        };
        // A marker that was never written (another writer's) is not taken
        // for one of ours.
        if marker.1 == 0 {
            return;
        }
        marker.1 -= 1;
        if let Some(offset) = realtime_minus_monotonic() {
            let ns = u64::try_from(offset.as_nanos()).unwrap_or(0);
            self.offset_ns.store(ns.max(1), Ordering::Release);
        }
    }

    /// Converts a trace-clock time to the packets' clock, once measured.
    pub(super) fn to_wall(&self, trace_time: Duration) -> Option<Duration> {
        let offset = self.offset_ns.load(Ordering::Acquire);
        (offset != 0).then(|| trace_time + Duration::from_nanos(offset))
    }
}

/// CLOCK_REALTIME minus the instance's `mono` clock; unknown where the
/// clocks cannot be read (kernel events are then not used).
fn realtime_minus_monotonic() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    return crate::sys::realtime_minus_monotonic();
    #[cfg(not(target_os = "linux"))]
    return None;
}

/// Markers written and not yet read back, at most.
const MAX_PENDING_MARKERS: usize = 64;

pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn times_are_placed_once_a_marker_came_back() {
        let clock = Clock {
            marker: Mutex::new((OpenOptions::new().write(true).open("/dev/null").unwrap(), 0)),
            offset_ns: AtomicU64::new(0),
        };
        let (t1, t2) = (Duration::from_secs(5), Duration::from_millis(5_250));
        // A marker that was never written is not read back as one.
        clock.read_back();
        assert_eq!(clock.to_wall(t1), None, "nothing placed before");
        clock.mark();
        clock.read_back();
        let (w1, w2) = (clock.to_wall(t1).unwrap(), clock.to_wall(t2).unwrap());
        assert_eq!(w2 - w1, t2 - t1, "one offset for all");
        assert!(w1 > t1);
        // Placed on the wall clock: the offset is the time since boot
        // subtracted from now, within a second of it.
        let wall_now = now();
        let mono_now = crate::sys::monotonic().unwrap();
        let placed = clock.to_wall(mono_now).unwrap();
        assert!(placed.abs_diff(wall_now) < Duration::from_secs(1));
    }
}
