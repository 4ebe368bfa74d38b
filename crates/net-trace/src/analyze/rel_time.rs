//! A frame's time relative to the first frame, which may be negative.

use std::fmt;
use std::io::Write as _;
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
    /// `time` relative to `start`.
    pub(crate) fn between(start: Duration, time: Duration) -> RelTime {
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
    pub(crate) fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / 1e9
    }

    /// How long after `earlier` this is; zero when it is not after it.
    pub(crate) fn since(self, earlier: RelTime) -> Duration {
        let nanos = u128::try_from(self.nanos - earlier.nanos).unwrap_or(0);
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }

    /// Written with `decimals` (at most 9) decimals, rounded half away
    /// from zero, a minus sign before a negative time: `-19.884049`.
    pub(crate) fn to_decimals(self, decimals: u32) -> String {
        self.decimals_str(decimals, &mut [0; TEXT_LEN]).to_string()
    }

    /// As [`RelTime::to_decimals`], in `buf`: the table writes one for
    /// every frame, without a string of its own.
    pub(crate) fn decimals_str(self, decimals: u32, buf: &mut [u8; TEXT_LEN]) -> &str {
        let decimals = decimals.min(9);
        let unit = POW10[9 - decimals as usize];
        let abs = self.nanos.unsigned_abs();
        // u64 arithmetic whenever it fits (any time within 584 years of
        // the first frame): i128 division is a call into a library.
        let n = match u64::try_from(abs) {
            Ok(a) if a <= u64::MAX - unit / 2 => u128::from((a + unit / 2) / unit),
            _ => (abs + u128::from(unit / 2)) / u128::from(unit),
        };
        let negative = self.nanos < 0 && n > 0;
        let Ok(n) = u64::try_from(n) else {
            // Further than 584 years at nanoseconds: exact, if slower.
            let scale = u128::from(POW10[decimals as usize]);
            let sign = if negative { "-" } else { "" };
            let mut rest = &mut buf[..];
            let _ = if decimals == 0 {
                write!(rest, "{sign}{n}")
            } else {
                write!(
                    rest,
                    "{sign}{}.{:0width$}",
                    n / scale,
                    n % scale,
                    width = decimals as usize
                )
            };
            let len = TEXT_LEN - rest.len();
            return std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default();
        };
        let mut i = TEXT_LEN;
        let mut put = |digit: u8| {
            i -= 1;
            if let Some(b) = buf.get_mut(i) {
                *b = digit;
            }
        };
        let scale = POW10[decimals as usize];
        let (mut int, mut frac) = (n / scale, n % scale);
        for _ in 0..decimals {
            put(b'0' + (frac % 10) as u8);
            frac /= 10;
        }
        if decimals > 0 {
            put(b'.');
        }
        loop {
            put(b'0' + (int % 10) as u8);
            int /= 10;
            if int == 0 {
                break;
            }
        }
        if negative {
            put(b'-');
        }
        // Only ASCII digits, a dot and a sign were written.
        std::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or_default()
    }
}

/// Room for any [`RelTime`] as text: a sign, 39 digits, a dot.
pub(crate) const TEXT_LEN: usize = 48;

/// Powers of ten up to a second's nanoseconds.
const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

impl From<Duration> for RelTime {
    fn from(d: Duration) -> RelTime {
        RelTime::between(Duration::ZERO, d)
    }
}

/// Six decimals, the microseconds tshark's Time column shows.
impl fmt::Display for RelTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.decimals_str(6, &mut [0; TEXT_LEN]))
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
        assert!(t < RelTime::default());
        assert_eq!(
            RelTime::default().since(t),
            Duration::from_nanos(19_884_049_000)
        );
        assert_eq!(t.since(RelTime::default()), Duration::ZERO);
        assert_eq!((t.as_secs_f64() * 1e6).round(), -19_884_049.0);
    }

    /// The text as it was first written, with i128 arithmetic and
    /// `format!`: the fast writer must give the same for every value.
    fn reference(t: RelTime, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let unit = 10u128.pow(9 - decimals);
        let n = (t.nanos.unsigned_abs() + unit / 2) / unit;
        let scale = 10u128.pow(decimals);
        let sign = if t.nanos < 0 && n > 0 { "-" } else { "" };
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

    #[test]
    fn the_fast_text_is_the_reference_text_at_the_edges() {
        let max = Duration::new(u64::MAX, 999_999_999).as_nanos() as i128;
        let mut values = vec![
            0,
            1,
            499,
            500,
            501,
            999,
            1_000,
            499_999,
            500_000,
            999_999_499,
            999_999_500,
            999_999_999,
            1_000_000_000,
            19_884_049_000,
            i128::from(u64::MAX) / 2,
            i128::from(u64::MAX) - 500_000_000,
            i128::from(u64::MAX) - 1,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            max,
        ];
        values.extend((0..64).map(|k| 1i128 << k));
        values.extend((0..64).map(|k| (1i128 << k) - 1));
        values.extend((0..40).map(|k| 10i128.pow(k / 2) * 5 - i128::from(k % 2)));
        for v in values.clone() {
            values.push(-v);
        }
        values.push(-max);
        for nanos in values {
            let t = RelTime { nanos };
            for decimals in 0..=10 {
                assert_eq!(
                    t.to_decimals(decimals),
                    reference(t, decimals),
                    "{nanos} ns, {decimals} decimals"
                );
            }
            assert_eq!(t.to_string(), reference(t, 6), "{nanos} ns");
        }
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
