//! UDP send records (`sock_send_length`), indexed for the question a
//! datagram's lookup asks: did this process, and did any other, make a
//! send of the datagram's length within a window around it?
//!
//! A flood gives hundreds of thousands of records a second, most of one
//! length; a window of `CORROBORATE_WINDOW` plus `SEND_AFTER` (50 + 100
//! ms) then holds tens of thousands of them, and
//! walking them for every datagram took most of a capture's CPU. Records
//! are kept per length and per process instead, each list sorted by time,
//! so a lookup is one binary search per process that sent that length.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Send records by payload length, then by process.
#[derive(Debug, Default)]
pub(crate) struct SendLog {
    by_len: HashMap<u32, Vec<(u32, VecDeque<Duration>)>>,
    /// Records before this are forgotten (some may still be held until
    /// the next [`SendLog::sweep`]; they are never answered).
    horizon: Duration,
}

/// What the records in a window say about a datagram's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Around {
    /// The process asked about made such a send.
    pub own: bool,
    /// Another process did.
    pub other: bool,
}

impl SendLog {
    /// Records a send of `len` bytes by `tgid` at `time`. Records of
    /// different CPUs may come slightly out of order: each list is kept
    /// sorted.
    pub(super) fn add(&mut self, time: Duration, tgid: u32, len: u32) {
        let horizon = self.horizon;
        let group = self.by_len.entry(len).or_default();
        let times = match group.iter_mut().position(|(p, _)| *p == tgid) {
            Some(i) => &mut group[i].1,
            None => {
                group.push((tgid, VecDeque::new()));
                &mut group.last_mut().expect("just pushed").1
            }
        };
        while times.front().is_some_and(|t| *t < horizon) {
            times.pop_front();
        }
        let at = times.len() - times.iter().rev().take_while(|t| **t > time).count();
        times.insert(at, time);
    }

    /// Forgets records before `horizon` from now on.
    pub(super) fn forget_before(&mut self, horizon: Duration) {
        self.horizon = self.horizon.max(horizon);
    }

    /// Drops forgotten records and processes with none left.
    pub(super) fn sweep(&mut self) {
        let horizon = self.horizon;
        self.by_len.retain(|_, group| {
            group.retain_mut(|(_, times)| {
                while times.front().is_some_and(|t| *t < horizon) {
                    times.pop_front();
                }
                !times.is_empty()
            });
            !group.is_empty()
        });
    }

    /// Whether `pid`, and whether another process, made a send of `len`
    /// bytes from `from` to `to` (both included).
    pub(super) fn around(&self, len: u32, from: Duration, to: Duration, pid: u32) -> Around {
        let from = from.max(self.horizon);
        let mut found = Around::default();
        let Some(group) = self.by_len.get(&len) else {
            return found;
        };
        for (p, times) in group {
            let first = times.partition_point(|t| *t < from);
            if times.get(first).is_some_and(|t| *t <= to) {
                if *p == pid {
                    found.own = true;
                } else {
                    found.other = true;
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The plain walk over every record, as the index must answer.
    fn walk(records: &[(u64, u32, u32)], len: u32, from: u64, to: u64, pid: u32) -> Around {
        let mut a = Around::default();
        for &(t, p, l) in records {
            if l == len && t >= from && t <= to {
                if p == pid {
                    a.own = true;
                } else {
                    a.other = true;
                }
            }
        }
        a
    }

    #[test]
    fn answers_as_a_walk_over_every_record() {
        // Several processes, two lengths, records slightly out of order.
        let mut records = Vec::new();
        let mut seed = 7u64;
        for i in 0..2_000u64 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let jitter = (seed >> 33) % 3;
            let pid = 100 + ((seed >> 40) % 4) as u32;
            let len = if (seed >> 50).is_multiple_of(3) {
                9
            } else {
                32
            };
            records.push((i + 10 - jitter, pid, len));
        }
        let mut log = SendLog::default();
        for &(t, p, l) in &records {
            log.add(ms(t), p, l);
        }
        for from in (0..2_100).step_by(37) {
            for width in [0, 1, 5, 50] {
                for pid in 99..105 {
                    for len in [9, 32, 33] {
                        assert_eq!(
                            log.around(len, ms(from), ms(from + width), pid),
                            walk(&records, len, from, from + width, pid),
                            "len {len}, {from}..={}, pid {pid}",
                            from + width
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn forgotten_records_are_never_answered() {
        let mut log = SendLog::default();
        log.add(ms(10), 1, 32);
        log.add(ms(20), 2, 32);
        assert_eq!(
            log.around(32, ms(0), ms(30), 1),
            Around {
                own: true,
                other: true
            }
        );
        log.forget_before(ms(15));
        assert_eq!(
            log.around(32, ms(0), ms(30), 1),
            Around {
                own: false,
                other: true
            }
        );
        log.sweep();
        log.forget_before(ms(25));
        log.sweep();
        assert!(log.by_len.is_empty());
        assert_eq!(log.around(32, ms(0), ms(30), 2), Around::default());
    }
}
