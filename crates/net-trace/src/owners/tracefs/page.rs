//! Pages of the kernel's per-CPU ring buffer, as each CPU's
//! `trace_pipe_raw` hands them out: a checked view over the bytes of one
//! page, and its records with their times.
//!
//! A page is a header (`events/header_page`: the time of its first record,
//! then `commit`, the bytes of records that follow, whose top bits flag
//! events the ring lost before this page) and records. Each record starts
//! with a 32-bit word (`events/header_event`): 5 bits of type and length,
//! 27 bits of time since the previous record. Lengths 1 to 28 count 32-bit
//! words of payload; 0 puts the length in the next word; 29 is padding
//! (a discarded record, or with no time the end of the page's data); 30
//! extends the next record's time delta by 32 more bits; 31 sets an
//! absolute time.
//!
//! Nothing here trusts the page: a length that runs past the committed
//! bytes ends the page with an error, never a read out of bounds.

use std::time::Duration;

/// Where the page header's fields are (`events/header_page`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    time: usize,
    commit: usize,
    commit_size: usize,
    data: usize,
    data_size: usize,
}

impl Default for Layout {
    /// A 64-bit kernel's layout of a 4 KiB page.
    fn default() -> Self {
        Self {
            time: 0,
            commit: 8,
            commit_size: 8,
            data: 16,
            data_size: 4080,
        }
    }
}

impl Layout {
    /// Reads `events/header_page`:
    /// `field: u64 timestamp; offset:0; size:8; signed:0;` and so on.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut found = (None, None, None);
        for line in text.lines() {
            let Some((name, offset, size)) = field_line(line) else {
                continue;
            };
            match name {
                "timestamp" => found.0 = Some(offset),
                // `overwrite` shares commit's offset and is one byte: the
                // commit field is the wider one.
                "commit" => found.1 = Some((offset, size)),
                "data" => found.2 = Some((offset, size)),
                _ => {}
            }
        }
        let (time, (commit, commit_size), (data, data_size)) = (found.0?, found.1?, found.2?);
        let fits = |off: usize, size: usize| off.checked_add(size).is_some_and(|e| e <= data);
        (matches!(commit_size, 4 | 8) && fits(time, 8) && fits(commit, commit_size)).then_some(
            Self {
                time,
                commit,
                commit_size,
                data,
                data_size,
            },
        )
    }

    /// The bytes one read of `trace_pipe_raw` returns: a whole page.
    pub(crate) fn page_len(&self) -> usize {
        self.data + self.data_size
    }
}

/// A `field:TYPE NAME; offset:N; size:N; …` line of a format file: the
/// name (without an array's `[N]`), offset and size.
pub(super) fn field_line(line: &str) -> Option<(&str, usize, usize)> {
    let mut parts = line.trim().split(';');
    let decl = parts.next()?.trim().strip_prefix("field:")?;
    let name = decl.rsplit([' ', '\t']).next()?;
    let name = name.split('[').next()?;
    let mut offset = None;
    let mut size = None;
    for part in parts {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("offset:") {
            offset = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("size:") {
            size = v.trim().parse().ok();
        }
    }
    Some((name, offset?, size?))
}

/// `commit`'s flag: the ring lost events before this page.
const MISSED_EVENTS: u64 = 1 << 31;
/// `commit`'s flag: how many, as an `unsigned long` after the records.
const MISSED_STORED: u64 = 1 << 30;
/// `commit`'s bytes of records, below the flags.
const COMMIT_MASK: u64 = (1 << 27) - 1;

/// Record types (`events/header_event`).
const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;
/// Bits of time delta in a record's first word.
const TS_SHIFT: u32 = 27;
/// The top bits of an absolute time a `TIME_STAMP` record leaves out
/// (`TS_MSB` in the kernel's ring buffer): taken from the time before.
const TS_MSB: u64 = 0xf8 << 56;

/// Events the ring lost before a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// None.
    None,
    /// This many.
    Count(u64),
    /// Some, how many not said (no room after the records to say it).
    Some,
}

/// A page that cannot be read as the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PageError {
    /// Shorter than its header.
    #[error("a ring-buffer page of {0} bytes is shorter than its header")]
    Short(usize),
    /// Its commit count runs past the page.
    #[error("a ring-buffer page commits {0} bytes, past its end")]
    Commit(u64),
    /// A record's length runs past the committed bytes.
    #[error("a ring-buffer record at byte {0} runs past the page's records")]
    Record(usize),
}

/// One page: a checked view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    /// The first record's time base, on the trace clock (ns).
    pub(crate) time: u64,
    /// Events lost before this page.
    pub(crate) missed: Missed,
    records: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

impl<'a> Page<'a> {
    /// Checks the header of `buf` (what one read returned).
    pub(crate) fn parse(buf: &'a [u8], layout: &Layout) -> Result<Self, PageError> {
        let short = PageError::Short(buf.len());
        let time = u64_at(buf, layout.time).ok_or(short)?;
        let commit = match layout.commit_size {
            4 => u32_at(buf, layout.commit).map(u64::from),
            _ => u64_at(buf, layout.commit),
        }
        .ok_or(short)?;
        let len = commit & COMMIT_MASK;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| layout.data.checked_add(l))
            .filter(|&e| e <= buf.len() && e <= layout.page_len())
            .ok_or(PageError::Commit(len))?;
        let records = buf.get(layout.data..end).ok_or(short)?;
        let missed = if commit & MISSED_EVENTS == 0 {
            Missed::None
        } else if commit & MISSED_STORED != 0 {
            u64_at(buf, end).map_or(Missed::Some, Missed::Count)
        } else {
            Missed::Some
        };
        Ok(Self {
            time,
            missed,
            records,
        })
    }

    /// The page's records: each one's time (trace clock, ns) and payload.
    pub(crate) fn records(&self) -> Records<'a> {
        Records {
            data: self.records,
            at: 0,
            time: self.time,
        }
    }
}

/// The records of a page, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Records<'a> {
    data: &'a [u8],
    at: usize,
    time: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(u64, &'a [u8]), PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let at = self.at;
            if at >= self.data.len() {
                return None;
            }
            let bad = || {
                // Nothing after a bad record can be trusted.
                PageError::Record(at)
            };
            let Some(word) = u32_at(self.data, at) else {
                self.at = self.data.len();
                return Some(Err(bad()));
            };
            let kind = word & 0x1f;
            let delta = u64::from(word >> 5);
            let array = u32_at(self.data, at + 4);
            let step: Option<(usize, Option<(usize, usize)>)> = match kind {
                // The rest of the page holds nothing.
                TYPE_PADDING if delta == 0 => return None,
                TYPE_PADDING => {
                    // A discarded record: its time still counts.
                    self.time = self.time.wrapping_add(delta);
                    array.map(|len| (4 + len as usize, None))
                }
                TYPE_TIME_EXTEND => array.map(|ext| {
                    self.time = self.time.wrapping_add((u64::from(ext) << TS_SHIFT) | delta);
                    (8, None)
                }),
                TYPE_TIME_STAMP => array.map(|ext| {
                    let mut abs = (u64::from(ext) << TS_SHIFT) | delta;
                    if self.time & TS_MSB != 0 {
                        abs |= self.time & TS_MSB;
                        if abs < self.time {
                            abs = abs.wrapping_add(1 << 59);
                        }
                    }
                    self.time = abs;
                    (8, None)
                }),
                0 => array.filter(|&len| len >= 4).map(|len| {
                    self.time = self.time.wrapping_add(delta);
                    (4 + len as usize, Some((at + 8, at + 4 + len as usize)))
                }),
                words => {
                    self.time = self.time.wrapping_add(delta);
                    let end = at + 4 + 4 * words as usize;
                    Some((end - at, Some((at + 4, end))))
                }
            };
            let Some((len, payload)) = step.filter(|(len, _)| at + len <= self.data.len()) else {
                self.at = self.data.len();
                return Some(Err(bad()));
            };
            self.at = at + len;
            if let Some((from, to)) = payload {
                return Some(Ok((self.time, &self.data[from..to])));
            }
        }
    }
}

/// A trace-clock time in ns as a duration.
pub(super) fn ns(time: u64) -> Duration {
    Duration::from_nanos(time)
}

#[cfg(test)]
pub(super) mod build {
    //! Pages built by hand, as the kernel writes them.

    /// A page under construction: records appended with their deltas.
    #[derive(Debug, Default)]
    pub(crate) struct PageBuilder {
        pub(crate) time: u64,
        pub(crate) data: Vec<u8>,
        pub(crate) missed: Option<Option<u64>>,
    }

    impl PageBuilder {
        pub(crate) fn new(time: u64) -> Self {
            Self {
                time,
                ..Self::default()
            }
        }

        fn word(&mut self, kind: u32, delta: u32) {
            assert!(delta < 1 << 27);
            self.data.extend((kind | delta << 5).to_ne_bytes());
        }

        /// A record with a short header (length in the type).
        pub(crate) fn record(mut self, delta: u32, payload: &[u8]) -> Self {
            let words = payload.len().div_ceil(4);
            assert!((1..=28).contains(&words));
            self.word(words as u32, delta);
            self.data.extend(payload);
            self.data
                .resize(self.data.len() + words * 4 - payload.len(), 0);
            self
        }

        /// A record with its length in a word of its own.
        pub(crate) fn long_record(mut self, delta: u32, payload: &[u8]) -> Self {
            let padded = payload.len().div_ceil(4) * 4;
            self.word(0, delta);
            self.data.extend(((padded + 4) as u32).to_ne_bytes());
            self.data.extend(payload);
            self.data
                .resize(self.data.len() + padded - payload.len(), 0);
            self
        }

        /// A time extension of the next record's delta.
        pub(crate) fn extend(mut self, delta: u64) -> Self {
            self.word(super::TYPE_TIME_EXTEND, (delta & ((1 << 27) - 1)) as u32);
            self.data.extend(((delta >> 27) as u32).to_ne_bytes());
            self
        }

        /// An absolute time.
        pub(crate) fn absolute(mut self, time: u64) -> Self {
            self.word(super::TYPE_TIME_STAMP, (time & ((1 << 27) - 1)) as u32);
            self.data.extend(((time >> 27) as u32).to_ne_bytes());
            self
        }

        /// A discarded record of `len` bytes after its header.
        pub(crate) fn discarded(mut self, delta: u32, len: u32) -> Self {
            self.word(super::TYPE_PADDING, delta);
            self.data.extend(len.to_ne_bytes());
            self.data.resize(self.data.len() + len as usize - 4, 0xee);
            self
        }

        /// Padding to the end of the page's data.
        pub(crate) fn end_padding(mut self) -> Self {
            self.word(super::TYPE_PADDING, 0);
            self
        }

        /// The page's bytes, as one read of `trace_pipe_raw` returns them.
        pub(crate) fn bytes(&self) -> Vec<u8> {
            let mut commit = self.data.len() as u64;
            let mut page = Vec::with_capacity(4096);
            page.extend(self.time.to_ne_bytes());
            let mut tail = Vec::new();
            if let Some(count) = self.missed {
                commit |= super::MISSED_EVENTS;
                if let Some(n) = count {
                    commit |= super::MISSED_STORED;
                    tail.extend(n.to_ne_bytes());
                }
            }
            page.extend(commit.to_ne_bytes());
            page.extend(&self.data);
            page.extend(tail);
            page.resize(4096, 0);
            page
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::PageBuilder;
    use super::*;

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

    fn all(page: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let page = Page::parse(page, &Layout::default()).unwrap();
        page.records()
            .map(|r| r.map(|(t, p)| (t, p.to_vec())).unwrap())
            .collect()
    }

    #[test]
    fn the_header_layout_is_read_from_the_kernel() {
        let layout = Layout::parse(HEADER_PAGE).unwrap();
        assert_eq!(layout, Layout::default());
        assert_eq!(layout.page_len(), 4096);
        assert_eq!(Layout::parse("nothing"), None);
        assert_eq!(
            Layout::parse(&HEADER_PAGE.replace("offset:16", "offset:4")),
            None,
            "a commit running into the data"
        );
    }

    #[test]
    fn records_and_their_times() {
        let page = PageBuilder::new(1_000)
            .record(0, &[1, 2, 3, 4, 5, 6, 7, 8])
            .record(25, &[9; 12])
            .long_record(5, &[7; 200])
            .bytes();
        let records = all(&page);
        assert_eq!(records.len(), 3);
        assert_eq!(
            (records[0].0, &records[0].1[..]),
            (1_000, &[1, 2, 3, 4, 5, 6, 7, 8][..])
        );
        assert_eq!((records[1].0, records[1].1.len()), (1_025, 12));
        assert_eq!((records[2].0, records[2].1.len()), (1_030, 200));
        let parsed = Page::parse(&page, &Layout::default()).unwrap();
        assert_eq!(parsed.missed, Missed::None);
    }

    #[test]
    fn extended_and_absolute_times() {
        // A delta too large for 27 bits comes as an extension before the
        // record; an absolute time replaces the running one.
        let big = (1u64 << 27) * 3 + 17;
        let page = PageBuilder::new(500)
            .extend(big)
            .record(0, &[1; 4])
            .absolute(9_000_000_000)
            .record(3, &[2; 4])
            .bytes();
        let times: Vec<u64> = all(&page).iter().map(|r| r.0).collect();
        assert_eq!(times, [500 + big, 9_000_000_003]);
    }

    #[test]
    fn padding_is_skipped_and_ends_the_page() {
        let page = PageBuilder::new(100)
            .record(1, &[1; 4])
            .discarded(10, 36)
            .record(2, &[2; 4])
            .end_padding()
            .bytes();
        let records = all(&page);
        assert_eq!(
            records,
            [(101, vec![1; 4]), (113, vec![2; 4])],
            "a discarded record's time still counts"
        );
    }

    #[test]
    fn missed_events_before_a_page() {
        let mut b = PageBuilder::new(7).record(0, &[1; 4]);
        b.missed = Some(Some(1234));
        let page = b.bytes();
        let parsed = Page::parse(&page, &Layout::default()).unwrap();
        assert_eq!(parsed.missed, Missed::Count(1234));
        assert_eq!(parsed.records().count(), 1, "the count is not a record");
        b.missed = Some(None);
        let page = b.bytes();
        assert_eq!(
            Page::parse(&page, &Layout::default()).unwrap().missed,
            Missed::Some
        );
    }

    #[test]
    fn a_page_that_lies_is_an_error_never_a_read_past_it() {
        // Short.
        assert_eq!(
            Page::parse(&[0; 10], &Layout::default()).err(),
            Some(PageError::Short(10))
        );
        // Commit past the page.
        let mut page = PageBuilder::new(0).record(0, &[1; 4]).bytes();
        page[8..16].copy_from_slice(&5000u64.to_ne_bytes());
        assert_eq!(
            Page::parse(&page, &Layout::default()).err(),
            Some(PageError::Commit(5000))
        );
        // A record longer than what is committed.
        let mut b = PageBuilder::new(0)
            .record(0, &[1; 4])
            .long_record(0, &[2; 8]);
        let n = b.data.len();
        b.data[n - 12..n - 8].copy_from_slice(&400u32.to_ne_bytes());
        let page = b.bytes();
        let parsed = Page::parse(&page, &Layout::default()).unwrap();
        let got: Vec<_> = parsed.records().collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(PageError::Record(8)));
        // A length word cut off by the commit.
        let mut b = PageBuilder::new(0).record(0, &[1; 4]);
        b.data.extend(0u32.to_ne_bytes());
        let page = b.bytes();
        let got: Vec<_> = Page::parse(&page, &Layout::default())
            .unwrap()
            .records()
            .collect();
        assert_eq!(got[1], Err(PageError::Record(8)));
    }

    #[test]
    fn a_truncated_read_stops_at_what_was_read() {
        let page = PageBuilder::new(0).record(0, &[1; 40]).bytes();
        assert!(matches!(
            Page::parse(&page[..30], &Layout::default()),
            Err(PageError::Commit(44))
        ));
    }
}
