//! Each connection's round-trip times, for the summaries: the RTT of every
//! ACK that acknowledges a segment exactly (tshark's
//! `tcp.analysis.ack_rtt`, as the details pane shows it), summed up as
//! min, median and max.

use std::fmt;
use std::time::Duration;

use crate::analyze::Row;

/// RTTs kept per connection for its median (8 bytes each, 8 MiB at
/// most): past this many, the count, min and max stay exact and the
/// median is that of the first ones, so memory stays bounded however long
/// a connection runs.
pub(crate) const RTT_SAMPLES: usize = 1 << 20;

/// One connection's RTTs, in nanoseconds.
#[derive(Debug, Clone, Default)]
struct Samples {
    kept: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sorted: bool,
}

/// The round-trip times of each connection, gathered row by row.
#[derive(Debug, Default)]
pub(crate) struct Rtts {
    /// Connection K's at K − 1 (connections are numbered densely).
    conns: Vec<Samples>,
}

/// What a connection's RTTs add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RttStats {
    /// ACKs timed.
    pub(crate) count: u64,
    /// The shortest.
    pub(crate) min: Duration,
    /// The middle one (the mean of the two middle ones, to the
    /// nanosecond below, for an even count), as pandas' `median()`.
    pub(crate) median: Duration,
    /// The longest.
    pub(crate) max: Duration,
}

impl Rtts {
    /// None yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Takes the RTT of `row`, when it acknowledges a segment.
    #[inline]
    pub(crate) fn note(&mut self, row: &Row) {
        if let (Some(conn), Some((_, rtt))) = (row.conn, row.tcp.as_ref().and_then(|t| t.acks)) {
            self.add(conn, rtt);
        }
    }

    /// Takes one RTT of connection `conn`.
    fn add(&mut self, conn: usize, rtt: Duration) {
        let Some(i) = conn.checked_sub(1) else {
            return;
        };
        if i >= self.conns.len() {
            self.conns.resize_with(i + 1, Samples::default);
        }
        let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        let s = &mut self.conns[i];
        if s.count == 0 || ns < s.min {
            s.min = ns;
        }
        s.max = s.max.max(ns);
        s.count += 1;
        if s.kept.len() < RTT_SAMPLES {
            s.kept.push(ns);
            s.sorted = false;
        }
    }

    /// Connection `conn`'s RTTs summed up; `None` when no ACK was timed.
    pub(crate) fn stats(&mut self, conn: usize) -> Option<RttStats> {
        let s = self.conns.get_mut(conn.checked_sub(1)?)?;
        if s.count == 0 {
            return None;
        }
        if !s.sorted {
            s.kept.sort_unstable();
            s.sorted = true;
        }
        let n = s.kept.len();
        let median = if n % 2 == 1 {
            s.kept[n / 2]
        } else {
            // Halves first: the sum of two near u64::MAX would overflow.
            let (a, b) = (s.kept[n / 2 - 1], s.kept[n / 2]);
            a / 2 + b / 2 + (a % 2 + b % 2) / 2
        };
        Some(RttStats {
            count: s.count,
            min: Duration::from_nanos(s.min),
            median: Duration::from_nanos(median),
            max: Duration::from_nanos(s.max),
        })
    }
}

/// Seconds with nine decimals, as tshark writes `tcp.analysis.ack_rtt`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Milliseconds with three decimals (to the microsecond, a pcap's
/// resolution).
pub(crate) struct Millis(pub(crate) Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = (self.0.as_nanos() + 500) / 1000;
        f.pad(&format!("{}.{:03}", us / 1000, us % 1000))
    }
}

impl RttStats {
    /// The summary's line: `RTT (segment to its ACK): min 0.011 ms,
    /// median 0.014 ms, max 0.021 ms over 5 ACKs`.
    pub(crate) fn line(&self) -> String {
        format!(
            "  RTT (segment to its ACK): min {} ms, median {} ms, max {} ms over {} ACK{}",
            Millis(self.min),
            Millis(self.median),
            Millis(self.max),
            self.count,
            if self.count == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(rtts_us: &[u64]) -> Option<RttStats> {
        let mut r = Rtts::new();
        for &us in rtts_us {
            r.add(1, Duration::from_micros(us));
        }
        r.stats(1)
    }

    #[test]
    fn the_median_is_the_middle_one_or_the_mean_of_the_two() {
        let s = stats(&[250, 5, 100]).unwrap();
        assert_eq!(
            (s.count, s.min, s.median, s.max),
            (
                3,
                Duration::from_micros(5),
                Duration::from_micros(100),
                Duration::from_micros(250)
            )
        );
        let s = stats(&[3, 1, 4, 2]).unwrap();
        assert_eq!(s.median, Duration::from_nanos(2_500));
        assert_eq!(stats(&[]), None);
        assert_eq!(Rtts::new().stats(0), None);
    }

    #[test]
    fn times_are_written_as_tshark_and_in_milliseconds() {
        assert_eq!(seconds(Duration::from_micros(250_100)), "0.250100000");
        assert_eq!(Millis(Duration::from_nanos(10_500)).to_string(), "0.011");
        assert_eq!(Millis(Duration::from_millis(1_250)).to_string(), "1250.000");
        let s = stats(&[11]).unwrap();
        assert_eq!(
            s.line(),
            "  RTT (segment to its ACK): min 0.011 ms, median 0.011 ms, max 0.011 ms over 1 ACK"
        );
    }
}
