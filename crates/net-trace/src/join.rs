//! Join: pairs each row with the process that sent its frame, holding a
//! row only as long as evidence may still be on its way, and hands rows on
//! in frame order.
//!
//! Owner evidence comes from another thread (kernel events, /proc), so it
//! can arrive a little after the frame it explains. A row waits at the head
//! of a bounded queue until its lookup answers "known" or "unknown", or
//! until it has waited [`MAX_HOLD`]; rows behind it wait with it, so the
//! table keeps frame order.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::owners::{Answer, Reason};

/// Longest a row waits for its owner's evidence before it is shown as
/// "unknown": long enough for the evidence reader to catch up under load,
/// short enough that a live table still feels live.
pub(crate) const MAX_HOLD: Duration = Duration::from_millis(250);

/// Longest a row waits even while the evidence reader keeps moving (a
/// reader far behind, on a machine flooded with other traffic): past it the
/// row is shown as "unknown" and counted, so the table never stalls for
/// good.
pub(crate) const MAX_PATIENCE: Duration = Duration::from_secs(5);

/// Most rows held at once; beyond it the oldest is released as "unknown"
/// rather than letting memory grow while evidence is late.
pub(crate) const MAX_HELD: usize = 100_000;

/// Which side of which connection sent a frame: an owner, once known, is
/// the owner of every later frame from that side of that connection (a
/// connection number is unique per generation of a 4-tuple).
pub(crate) type SideKey = (usize, bool);

#[derive(Debug)]
struct Held<T, Q> {
    item: T,
    query: Option<Q>,
    side: Option<SideKey>,
    since: Instant,
}

/// The queue of rows waiting for owners.
#[derive(Debug)]
pub(crate) struct Join<T, Q, O> {
    held: VecDeque<Held<T, Q>>,
    /// The proven owner of each connection side, kept for the whole
    /// capture (a side's later frames need no lookup): one entry per side
    /// named, so it grows with the connections seen, as the analysis's
    /// own state per connection does, and not with the frames.
    known: HashMap<SideKey, O>,
    max_hold: Duration,
    expired: u64,
}

impl<T, Q, O: Clone> Default for Join<T, Q, O> {
    fn default() -> Self {
        Self::new(MAX_HOLD)
    }
}

impl<T, Q, O: Clone> Join<T, Q, O> {
    /// An empty queue whose rows wait at most `max_hold`.
    pub(crate) fn new(max_hold: Duration) -> Self {
        Join {
            held: VecDeque::new(),
            known: HashMap::new(),
            max_hold,
            expired: 0,
        }
    }

    /// Queues a row; `query` is `None` when no owner is to be looked up,
    /// `side` names the connection side whose owner this is.
    pub(crate) fn push(&mut self, item: T, query: Option<Q>, side: Option<SideKey>, now: Instant) {
        self.held.push_back(Held {
            item,
            query,
            side,
            since: now,
        });
    }

    /// Whether no row waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Releases every row that can go, in order, to `emit` with its owner
    /// and whether it goes without one only because its evidence was late.
    /// With `flush`, nothing is pending any more: every row goes, with
    /// whatever its lookup answers now. With `patient` (the evidence is
    /// still coming in, only late, as when the machine is busy), rows wait
    /// past [`MAX_HOLD`], up to [`MAX_HELD`] of them and [`MAX_PATIENCE`]
    /// each.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        flush: bool,
        patient: bool,
        mut lookup: impl FnMut(&Q) -> Answer<O>,
        mut emit: impl FnMut(T, Option<O>, bool),
    ) {
        while let Some(head) = self.held.front() {
            let cached = head.side.and_then(|s| self.known.get(&s).cloned());
            let answer = match (cached, &head.query) {
                (Some(o), _) => Answer::Known(o),
                (None, None) => Answer::Unknown(Reason::Unproven),
                (None, Some(q)) => lookup(q),
            };
            let waited = now.saturating_duration_since(head.since);
            let expired = flush
                || !patient && waited >= self.max_hold
                || waited >= MAX_PATIENCE.max(self.max_hold)
                || self.held.len() > MAX_HELD;
            let (owner, late) = match answer {
                Answer::Known(o) => (Some(o), false),
                Answer::Unknown(_) => (None, false),
                Answer::Pending if expired => {
                    self.expired += 1;
                    (None, true)
                }
                Answer::Pending => return,
            };
            let Some(head) = self.held.pop_front() else {
                return;
            };
            if let (Some(side), Some(o)) = (head.side, &owner) {
                self.known.insert(side, o.clone());
            }
            emit(head.item, owner, late);
        }
    }

    /// Rows released while their evidence was still pending: shown
    /// without a process because it came too late, not because none was
    /// there.
    pub(crate) fn expired(&self) -> u64 {
        self.expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_wait_for_evidence_and_keep_their_order() {
        let t0 = Instant::now();
        let mut j: Join<u32, u32, &str> = Join::new(Duration::from_millis(100));
        j.push(1, Some(1), Some((1, true)), t0);
        j.push(2, None, None, t0);
        j.push(3, Some(3), Some((1, true)), t0);
        let mut out = Vec::new();
        // Row 1's evidence is not in yet: nothing goes, not even row 2.
        j.poll(
            t0,
            false,
            false,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert!(out.is_empty());
        // It arrives: 1 is named, 2 has no lookup, 3 inherits 1's owner
        // (same side of the same connection) without a lookup.
        j.poll(
            t0,
            false,
            false,
            |q| {
                assert_eq!(*q, 1, "row 3 must use the side's known owner");
                Answer::Known("tcp-uppercase")
            },
            |i, o, _| out.push((i, o)),
        );
        assert_eq!(
            out,
            [
                (1, Some("tcp-uppercase")),
                (2, None),
                (3, Some("tcp-uppercase"))
            ]
        );
        assert!(j.is_empty());
    }

    #[test]
    fn late_evidence_gives_unknown_never_a_guess() {
        let t0 = Instant::now();
        let mut j: Join<u32, u32, &str> = Join::new(Duration::from_millis(100));
        j.push(1, Some(1), Some((1, false)), t0);
        let mut out = Vec::new();
        j.poll(
            t0 + Duration::from_millis(50),
            false,
            false,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert!(out.is_empty());
        // While evidence is still coming in, only late, the row waits on.
        j.poll(
            t0 + Duration::from_millis(100),
            false,
            true,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert!(out.is_empty());
        j.poll(
            t0 + Duration::from_millis(100),
            false,
            false,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert_eq!(out, [(1, None)]);
        // Patience has a bound too: a reader far behind never stalls the
        // table for good.
        j.push(2, Some(2), Some((2, false)), t0);
        j.poll(
            t0 + MAX_PATIENCE - Duration::from_millis(1),
            false,
            true,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert_eq!(out.len(), 1);
        j.poll(
            t0 + MAX_PATIENCE,
            false,
            true,
            |_| Answer::Pending,
            |i, o, _| out.push((i, o)),
        );
        assert_eq!(out, [(1, None), (2, None)]);
        assert_eq!(j.expired(), 2);
    }

    #[test]
    fn flush_releases_everything() {
        let t0 = Instant::now();
        let mut j: Join<u32, u32, &str> = Join::new(Duration::from_secs(10));
        j.push(1, Some(1), Some((7, true)), t0);
        j.push(2, Some(2), Some((8, true)), t0);
        let mut out = Vec::new();
        j.poll(
            t0,
            true,
            false,
            |q| {
                if *q == 1 {
                    Answer::Known("a")
                } else {
                    Answer::Pending
                }
            },
            |i, o, _| out.push((i, o)),
        );
        assert_eq!(out, [(1, Some("a")), (2, None)]);
        assert!(j.is_empty());
    }
}
