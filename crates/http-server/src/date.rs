//! Dates for headers and the access log, formatted once per second per
//! thread: formatting a date for every response is a measurable cost.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

struct Cached {
    second: u64,
    http: String,
    clf: String,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn with_cache<R>(f: impl FnOnce(&Cached) -> R) -> R {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.as_ref().is_some_and(|c| c.second != second) {
            *cache = None;
        }
        f(cache.get_or_insert_with(|| Cached {
            second,
            http: httpdate::fmt_http_date(now),
            clf: clf_date(second),
        }))
    })
}

/// Now, as an HTTP date: `Wed, 25 Nov 2026 00:23:29 GMT`.
pub fn http_now(out: &mut Vec<u8>) {
    with_cache(|c| out.extend_from_slice(c.http.as_bytes()));
}

/// Now, as the access log writes it: `25/Nov/2026:00:23:29 +0000`.
pub fn clf_now() -> String {
    with_cache(|c| c.clf.clone())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Common Log Format date of a Unix time, in UTC.
pub fn clf_date(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let month = MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{d:02}/{month}/{y}:{:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_dates() {
        assert_eq!(clf_date(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_date(971_186_136), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(clf_date(1_709_164_800), "29/Feb/2024:00:00:00 +0000");
        assert_eq!(clf_date(1_795_566_209), "25/Nov/2026:00:23:29 +0000");
    }

    #[test]
    fn http_now_is_an_http_date() {
        let mut out = Vec::new();
        http_now(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(httpdate::parse_http_date(&s).is_ok(), "{s}");
        assert!(s.ends_with(" GMT"));
    }
}
