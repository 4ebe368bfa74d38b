//! Small parsers for command-line values, shaped for clap's `value_parser`
//! (plain functions, so net-core does not depend on clap).

use std::time::Duration;

/// Longest time-out a flag accepts: a day. Longer values are almost
/// certainly typos and would overflow some platforms' socket time-outs.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Parses a positive number of seconds, fractions allowed: `2`, `0.5`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(net_core::cli::parse_seconds("0.5"), Ok(Duration::from_millis(500)));
/// assert!(net_core::cli::parse_seconds("0").is_err());
/// ```
pub fn parse_seconds(input: &str) -> Result<Duration, String> {
    let secs: f64 = input
        .trim()
        .parse()
        .map_err(|_| format!("{input:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{input:?} must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= MAX_TIMEOUT)
        .ok_or_else(|| format!("{input:?} is more than a day"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(
            parse_seconds("nan"),
            Err("\"nan\" must be more than 0 seconds".into())
        );
        assert_eq!(
            parse_seconds("-1"),
            Err("\"-1\" must be more than 0 seconds".into())
        );
        assert_eq!(
            parse_seconds("x"),
            Err("\"x\" is not a number of seconds".into())
        );
        assert_eq!(
            parse_seconds("1e9"),
            Err("\"1e9\" is more than a day".into())
        );
    }
}
