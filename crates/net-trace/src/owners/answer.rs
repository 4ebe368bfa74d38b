//! What the evidence says of a frame's sender, one type from the owner
//! table up to the capture.

use super::{Method, Owner};

/// Who sent a frame: proven, not provable and why, or not known yet.
///
/// `O` is what a proof names: the owner table names an [`Owner`];
/// [`Owners`](super::Owners) adds how it was proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<O = (Owner, Method)> {
    /// Proven.
    Known(O),
    /// Not proven, and nothing still to come will prove it.
    Unknown(Reason),
    /// Evidence may still arrive: ask again shortly (and give up after
    /// [`MAX_WAIT`](super::MAX_WAIT)).
    Pending,
}

/// Why a frame's sender is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Nothing proves an owner.
    Unproven,
    /// The socket passed between processes during the capture: nothing
    /// proves who sent its frames, and /proc, which names whoever holds
    /// it when read (perhaps long after the frame), must not be asked
    /// either.
    HandedOver,
    /// The kernel's rings lost events that bear on the frame, and /proc
    /// could not say either.
    Lost,
}

impl<O> Answer<O> {
    /// The same answer with the proof's name turned into another.
    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> Answer<P> {
        match self {
            Self::Known(o) => Answer::Known(f(o)),
            Self::Unknown(why) => Answer::Unknown(why),
            Self::Pending => Answer::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_answer_keeps_its_reason() {
        let named: Answer<u32> = Answer::Known(7);
        assert_eq!(named.map(|n| n * 2), Answer::Known(14));
        for why in [Reason::Unproven, Reason::HandedOver, Reason::Lost] {
            assert_eq!(
                Answer::<u32>::Unknown(why).map(|n| n * 2),
                Answer::Unknown(why)
            );
        }
        assert_eq!(Answer::<u32>::Pending.map(|n| n * 2), Answer::Pending);
    }
}
