//! Telling a line's reply from a late or duplicated one.
//!
//! The lab's protocol carries no ids: a reply is only text. UDP may
//! deliver a reply twice, late (after the client resent the line, or gave
//! up on it and went on), or not at all, so "the next datagram" is not
//! necessarily the answer to the line just sent. The [`Ledger`] remembers
//! the lines sent and judges each datagram by its content:
//!
//! - A datagram that is the uppercase of the line waiting for its answer
//!   (as the server computes it, Python's `str.upper()`), or that line's
//!   text unchanged when echo replies count (a server that echoes), is
//!   that line's [`Verdict::Answer`].
//! - Otherwise, one that is the uppercase (or echo) of an earlier line, or
//!   a copy of an answer already taken, is [`Verdict::Again`] (that line
//!   had its answer: this is a duplicate) or [`Verdict::Late`] (that line
//!   had none: the reply arrived after it was given up, or after the next
//!   line was sent).
//! - Anything else matches no line: [`Verdict::Unknown`]. A server that
//!   transforms text its own way answers like that; the caller decides
//!   (the line client takes it as the waiting line's answer, as the
//!   textbook client would).
//!
//! Identical lines (or lines with the same uppercase) have identical
//! answers, so one may stand in for the other: the text taken is the right
//! text either way.
//!
//! Earlier lines are remembered by fingerprints (64-bit keyed hashes), the
//! last [`MEMORY_LINES`] of them, so memory stays bounded however long the
//! input; the waiting line is compared byte for byte. A fingerprint
//! collision (odds 2⁻⁶⁴ per comparison) could only make a datagram look
//! like a duplicate, never print one as another line's answer.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

use net_core::text::{preview, uppercase_bytes};

/// How many earlier lines are remembered. A reply is late only when its
/// line was given up (after all its retries) or when, in a chat, the next
/// line was already sent; a reply later than ten thousand lines is
/// unheard of on real links, and the memory this costs (about a megabyte
/// at most) is small.
pub const MEMORY_LINES: usize = 10_000;

/// Longest quote of a line kept for messages, in characters.
const QUOTE_CHARS: usize = 32;

/// What a datagram is, judged against the lines sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first answer to the line waiting for one.
    Answer {
        /// That line's number (1 for the first line sent).
        line: u64,
    },
    /// A copy of an answer already taken for this line.
    Again {
        /// The line it answers.
        line: u64,
    },
    /// The first answer to a line that is no longer waiting: it was
    /// given up, or a later line has been sent since.
    Late {
        /// The line it answers.
        line: u64,
    },
    /// Answers no line remembered.
    Unknown,
}

type Fingerprint = u64;

/// The line waiting for its answer (or, in a chat, the latest line).
#[derive(Debug)]
struct Current {
    line: u64,
    text: Vec<u8>,
    upper: Vec<u8>,
    quote: String,
    answer: Option<Fingerprint>,
}

/// A line sent before the current one.
#[derive(Debug)]
struct Earlier {
    line: u64,
    /// Its uppercase, and its text when echoes count.
    forms: [Option<Fingerprint>; 2],
    quote: String,
    answer: Option<Fingerprint>,
    /// An answer was seen (in time or late).
    answered: bool,
}

/// The record of lines sent, in order; see the module docs.
#[derive(Debug)]
pub struct Ledger {
    keys: RandomState,
    echo_counts: bool,
    sent: u64,
    current: Option<Current>,
    earlier: VecDeque<Earlier>,
}

impl Ledger {
    /// An empty ledger. With `echo_counts`, a line's own text coming back
    /// unchanged also answers it (a server that echoes instead of
    /// uppercasing); a chat leaves it off, since people repeat each other's
    /// words.
    pub fn new(echo_counts: bool) -> Ledger {
        Ledger {
            keys: RandomState::new(),
            echo_counts,
            sent: 0,
            current: None,
            earlier: VecDeque::new(),
        }
    }

    /// Records `text` as sent and waiting for its answer (the line before
    /// it, if still open, is closed); returns its line number.
    pub fn send(&mut self, text: &[u8]) -> u64 {
        self.close();
        self.sent += 1;
        self.current = Some(Current {
            line: self.sent,
            text: text.to_vec(),
            upper: uppercase_bytes(text),
            quote: preview(text, QUOTE_CHARS),
            answer: None,
        });
        self.sent
    }

    /// The current line stops waiting (answered, or given up): any later
    /// reply to it is [`Verdict::Again`] or [`Verdict::Late`].
    pub fn close(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let echo = (self.echo_counts && cur.text != cur.upper).then(|| self.fingerprint(&cur.text));
        let forms = [Some(self.fingerprint(&cur.upper)), echo];
        if self.earlier.len() == MEMORY_LINES {
            self.earlier.pop_front();
        }
        self.earlier.push_back(Earlier {
            line: cur.line,
            forms,
            quote: cur.quote,
            answered: cur.answer.is_some(),
            answer: cur.answer,
        });
    }

    /// Judges a datagram that arrived, recording it as the answer it is.
    pub fn judge(&mut self, data: &[u8]) -> Verdict {
        let fp = self.fingerprint(data);
        if let Some(cur) = &mut self.current {
            let own = data == cur.upper.as_slice() || (self.echo_counts && data == cur.text);
            if own || cur.answer == Some(fp) {
                if cur.answer.is_some() {
                    return Verdict::Again { line: cur.line };
                }
                cur.answer = Some(fp);
                return Verdict::Answer { line: cur.line };
            }
        }
        // The newest match: a reply is more likely to answer a recent line.
        let found = self
            .earlier
            .iter_mut()
            .rev()
            .find(|e| e.answer == Some(fp) || e.forms.contains(&Some(fp)));
        match found {
            Some(e) if e.answered => Verdict::Again { line: e.line },
            Some(e) => {
                e.answered = true;
                e.answer = Some(fp);
                Verdict::Late { line: e.line }
            }
            None => Verdict::Unknown,
        }
    }

    /// Takes `data`, judged [`Verdict::Unknown`], as the current line's
    /// answer (so a copy of it is later known as a duplicate); returns
    /// the line, or `None` when no line is waiting or it has its answer.
    pub fn accept(&mut self, data: &[u8]) -> Option<u64> {
        let fp = self.fingerprint(data);
        let cur = self.current.as_mut().filter(|c| c.answer.is_none())?;
        cur.answer = Some(fp);
        Some(cur.line)
    }

    /// A short quote of line `line`'s text, while it is remembered.
    pub fn quote(&self, line: u64) -> Option<&str> {
        if let Some(cur) = self.current.as_ref().filter(|c| c.line == line) {
            return Some(&cur.quote);
        }
        self.earlier
            .iter()
            .find(|e| e.line == line)
            .map(|e| e.quote.as_str())
    }

    /// Lines sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn fingerprint(&self, data: &[u8]) -> Fingerprint {
        self.keys.hash_one(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn answer_then_duplicate_then_late() {
        let mut l = Ledger::new(true);
        assert_eq!(l.send(b"one"), 1);
        assert_eq!(l.judge(b"ONE"), Answer { line: 1 });
        assert_eq!(l.judge(b"ONE"), Again { line: 1 });
        l.close();
        assert_eq!(l.send(b"two"), 2);
        l.close(); // given up
        assert_eq!(l.send(b"three"), 3);
        assert_eq!(l.judge(b"ONE"), Again { line: 1 });
        assert_eq!(l.judge(b"TWO"), Late { line: 2 });
        assert_eq!(l.judge(b"TWO"), Again { line: 2 });
        assert_eq!(l.judge(b"THREE"), Answer { line: 3 });
    }

    #[test]
    fn unicode_uppercase_as_the_server_computes_it() {
        let mut l = Ledger::new(false);
        l.send("straße".as_bytes());
        assert_eq!(l.judge("STRASSE".as_bytes()), Answer { line: 1 });
    }

    #[test]
    fn same_text_lines_answer_each_other() {
        let mut l = Ledger::new(true);
        l.send(b"a");
        assert_eq!(l.judge(b"A"), Answer { line: 1 });
        l.send(b"a");
        // Line 1's duplicate, or line 2's own reply: the same text.
        assert_eq!(l.judge(b"A"), Answer { line: 2 });
        assert_eq!(l.judge(b"A"), Again { line: 2 });
        l.send(b"b");
        assert_eq!(l.judge(b"A"), Again { line: 2 });
    }

    #[test]
    fn echoes_count_only_when_asked() {
        let mut echo = Ledger::new(true);
        echo.send(b"hi");
        assert_eq!(echo.judge(b"hi"), Answer { line: 1 });
        echo.send(b"yo");
        assert_eq!(echo.judge(b"hi"), Again { line: 1 });

        let mut chat = Ledger::new(false);
        chat.send(b"hi");
        assert_eq!(chat.judge(b"hi"), Unknown);
        chat.send(b"yo");
        assert_eq!(chat.judge(b"hi"), Unknown);
        assert_eq!(chat.judge(b"HI"), Late { line: 1 });
    }

    #[test]
    fn an_accepted_unknown_reply_is_known_when_it_comes_again() {
        let mut l = Ledger::new(true);
        l.send(b"abc");
        assert_eq!(l.judge(b"cba"), Unknown);
        assert_eq!(l.accept(b"cba"), Some(1));
        assert_eq!(l.accept(b"xyz"), None, "line 1 has its answer");
        assert_eq!(l.judge(b"cba"), Again { line: 1 });
        l.send(b"def");
        assert_eq!(l.judge(b"cba"), Again { line: 1 });
        assert_eq!(l.judge(b"fed"), Unknown);
    }

    #[test]
    fn nothing_sent_nothing_matches() {
        let mut l = Ledger::new(true);
        assert_eq!(l.judge(b"X"), Unknown);
        assert_eq!(l.accept(b"X"), None);
        assert_eq!(l.quote(1), None);
    }

    #[test]
    fn memory_is_bounded() {
        let mut l = Ledger::new(true);
        for i in 0..MEMORY_LINES + 5 {
            l.send(format!("line {i}").as_bytes());
        }
        l.close();
        assert_eq!(l.earlier.len(), MEMORY_LINES);
        // The oldest lines are forgotten, the newest still known.
        assert_eq!(l.judge(b"LINE 0"), Unknown);
        let last = MEMORY_LINES + 4;
        assert_eq!(
            l.judge(format!("LINE {last}").as_bytes()),
            Late {
                line: last as u64 + 1
            }
        );
        assert_eq!(l.quote(last as u64 + 1), Some(&*format!("\"line {last}\"")));
    }
}
