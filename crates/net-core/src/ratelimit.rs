//! Rate-limited reporting: a condition that repeats many times a second
//! (`accept` failing for want of file descriptors, requests refused for
//! the same reason) is worth one line a second with a count, not a line
//! each time.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use net_core::ratelimit::{RateLimit, Report};
//!
//! let mut limit = RateLimit::new(Duration::from_secs(1));
//! let start = Instant::now();
//! assert_eq!(limit.hit(start), Some(Report::First));
//! assert_eq!(limit.hit(start + Duration::from_millis(10)), None);
//! let report = limit.hit(start + Duration::from_secs(1)).unwrap();
//! assert_eq!(report.times(), " 2 times in the last 1 s");
//! ```

use std::time::{Duration, Instant};

/// Counts repeated events and says when one deserves a line.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    /// When the last line was printed.
    since: Option<Instant>,
    /// Events since then.
    count: u64,
}

/// What a [`RateLimit`] asks to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The first event: the plain message.
    First,
    /// `count` events in the last `secs` seconds.
    Since {
        /// Events since the last line.
        count: u64,
        /// Seconds since the last line, rounded (at least 1).
        secs: u64,
    },
}

impl Report {
    /// What to add to the message: nothing for the first event,
    /// ` N times in the last S s` after that.
    pub fn times(&self) -> String {
        match *self {
            Report::First => String::new(),
            Report::Since { count, secs } => format!(
                " {} time{} in the last {secs} s",
                crate::output::grouped(count),
                if count == 1 { "" } else { "s" },
            ),
        }
    }
}

impl RateLimit {
    /// At most one line per `interval`.
    pub const fn new(interval: Duration) -> Self {
        RateLimit {
            interval,
            since: None,
            count: 0,
        }
    }

    /// Counts an event at `now`; `Some` when it deserves a line.
    pub fn hit(&mut self, now: Instant) -> Option<Report> {
        self.count += 1;
        let Some(since) = self.since else {
            self.since = Some(now);
            self.count = 0;
            return Some(Report::First);
        };
        let elapsed = now.saturating_duration_since(since);
        if elapsed < self.interval {
            return None;
        }
        let report = Report::Since {
            count: self.count,
            secs: elapsed.as_secs_f64().round().max(1.0) as u64,
        };
        self.since = Some(now);
        self.count = 0;
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_events_makes_one_line_a_second_with_a_count() {
        let mut limit = RateLimit::new(Duration::from_secs(1));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(limit.hit(at(0)), Some(Report::First));
        let mut lines = 0;
        // 2,000 events a second for three seconds.
        for i in 1..6_000u64 {
            if let Some(r) = limit.hit(at(i / 2)) {
                lines += 1;
                assert_eq!(
                    r,
                    Report::Since {
                        count: 2_000,
                        secs: 1
                    }
                );
                assert_eq!(r.times(), " 2,000 times in the last 1 s");
            }
        }
        assert_eq!(lines, 2);
    }
}
