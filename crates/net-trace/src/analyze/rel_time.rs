//! A frame's time relative to the first frame, which may be negative.

use std::fmt;
use std::time::Duration;

/// Time since the first frame, as tshark's `frame.time_relative`: negative
/// for a frame stamped before the first one (captures concatenated with
/// `mergecap -a`, a clock stepped back during a capture). Nanoseconds; an
/// `i128` holds the difference of any two time stamps a file can carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelTime {
    nanos: i128,
}

impl RelTime {
    /// The first frame's.
    pub const ZERO: RelTime = RelTime { nanos: 0 };

    /// `time` relative to `start`.
    pub fn between(start: Duration, time: Duration) -> RelTime {
        // Each below 2^64 seconds, so both fit an i128 of nanoseconds.
        RelTime {
            nanos: time.as_nanos() as i128 - start.as_nanos() as i128,
        }
    }

    /// Signed nanoseconds.
    pub fn as_nanos(self) -> i128 {
        self.nanos
    }

    /// Signed seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / 1e9
    }

    /// How long after `earlier` this is; zero when it is not after it.
    pub fn since(self, earlier: RelTime) -> Duration {
        let nanos = u128::try_from(self.nanos - earlier.nanos).unwrap_or(0);
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }

    /// Written with `decimals` (at most 9) decimals, rounded half away
    /// from zero, a minus sign before a negative time: `-19.884049`.
    pub fn to_decimals(self, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let unit = 10u128.pow(9 - decimals);
        let n = (self.nanos.unsigned_abs() + unit / 2) / unit;
        let scale = 10u128.pow(decimals);
        let sign = if self.nanos < 0 && n > 0 { "-" } else { "" };
        if decimals == 0 {
            return format!("{sign}{n}");
        }
        format!(
            "{sign}{}.{:0width$}",
            n / scale,
            n % scale,
            width = decimals as usize
        )
    }
}

impl From<Duration> for RelTime {
    fn from(d: Duration) -> RelTime {
        RelTime::between(Duration::ZERO, d)
    }
}

/// Six decimals, the microseconds tshark's Time column shows.
impl fmt::Display for RelTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimals(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_the_first_frame_is_negative() {
        let start = Duration::new(1_764_095_448, 954_312_000);
        let earlier = Duration::new(1_764_095_429, 70_263_000);
        let t = RelTime::between(start, earlier);
        assert_eq!(t.as_nanos(), -19_884_049_000);
        assert_eq!(t.to_string(), "-19.884049");
        assert_eq!(RelTime::between(earlier, start).to_string(), "19.884049");
        assert!(t < RelTime::ZERO);
        assert_eq!(RelTime::ZERO.since(t), Duration::from_nanos(19_884_049_000));
        assert_eq!(t.since(RelTime::ZERO), Duration::ZERO);
        assert_eq!((t.as_secs_f64() * 1e6).round(), -19_884_049.0);
    }

    #[test]
    fn decimals_round_half_away_from_zero() {
        let t = |n: i128| RelTime { nanos: n };
        assert_eq!(t(10_849_999).to_decimals(4), "0.0108");
        assert_eq!(t(10_850_000).to_decimals(4), "0.0109");
        assert_eq!(t(-10_850_000).to_decimals(4), "-0.0109");
        assert_eq!(t(9_000_000_000).to_decimals(6), "9.000000");
        assert_eq!(t(1_500).to_string(), "0.000002");
        assert_eq!(t(-400).to_string(), "0.000000");
        assert_eq!(t(-1_999_999_999).to_decimals(0), "-2");
        assert_eq!(
            RelTime::from(Duration::from_micros(1500)).to_string(),
            "0.001500"
        );
    }
}
