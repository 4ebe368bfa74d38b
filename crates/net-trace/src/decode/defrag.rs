//! IP fragment reassembly, bounded in datagrams, bytes and capture time.

use std::net::IpAddr;
use std::time::Duration;

/// Most datagrams being reassembled at once; beyond it the oldest is
/// dropped (its fragments stay shown as fragments).
pub const MAX_PENDING_DATAGRAMS: usize = 64;
/// Most bytes held for datagrams being reassembled, all together (room for
/// 32 of the largest).
pub const MAX_PENDING_BYTES: usize = 2 << 20;
/// A datagram whose fragments span more capture time than this is given
/// up (the receiver's reassembly timer: Linux's `ipfrag_time`, 30 s).
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest datagram payload an IP length field allows.
const MAX_DATAGRAM: u32 = 65_535;

/// Which datagram a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) protocol: u8,
    pub(crate) id: u32,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    first: Duration,
    /// The payload so far; gaps are zeros until filled.
    data: Vec<u8>,
    /// Byte ranges received, sorted and disjoint.
    have: Vec<(u32, u32)>,
    /// The datagram's payload length, once the last fragment came.
    total: Option<u32>,
}

impl Pending {
    fn complete(&self) -> bool {
        matches!((self.total, self.have.as_slice()), (Some(t), [(0, end)]) if *end == t)
    }
}

/// Fragments of the datagrams not yet complete, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Defrag {
    pending: Vec<Pending>,
    bytes: usize,
}

impl Defrag {
    /// Adds one fragment: `data` is what was captured of its payload,
    /// `wire_len` its length on the wire. Returns the datagram's payload
    /// when this fragment completes it.
    pub(crate) fn add(
        &mut self,
        key: Key,
        time: Duration,
        offset: u32,
        more: bool,
        data: &[u8],
        wire_len: u32,
    ) -> Option<Vec<u8>> {
        self.expire(time);
        let end = offset.checked_add(wire_len)?;
        if end > MAX_DATAGRAM {
            return None;
        }
        let mut idx = match self.pending.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                while self.pending.len() >= MAX_PENDING_DATAGRAMS {
                    self.remove(0);
                }
                self.pending.push(Pending {
                    key,
                    first: time,
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                });
                self.pending.len() - 1
            }
        };
        // Only the bytes captured count as received: a fragment cut by the
        // snap length leaves a gap, and the datagram is never complete.
        let got_end = offset + (data.len() as u32).min(wire_len);
        let grow = (got_end as usize).saturating_sub(self.pending.get(idx)?.data.len());
        // Make room, oldest first, never evicting the datagram being added to.
        while self.bytes + grow > MAX_PENDING_BYTES && self.pending.len() > 1 {
            let victim = usize::from(idx == 0);
            self.remove(victim);
            if victim < idx {
                idx -= 1;
            }
        }
        let p = self.pending.get_mut(idx)?;
        if p.data.len() < got_end as usize {
            p.data.resize(got_end as usize, 0);
            self.bytes += grow;
        }
        if let Some(dst) = p.data.get_mut(offset as usize..got_end as usize)
            && let Some(src) = data.get(..dst.len())
        {
            dst.copy_from_slice(src);
        }
        if !more {
            p.total = Some(end);
        }
        if got_end > offset {
            insert_range(&mut p.have, (offset, got_end));
        }
        if p.complete() {
            let p = self.remove(idx);
            return Some(p.data);
        }
        None
    }

    fn remove(&mut self, i: usize) -> Pending {
        let p = self.pending.remove(i);
        self.bytes -= p.data.len();
        p
    }

    /// Drops datagrams older than [`FRAGMENT_TIMEOUT`] at `now`.
    fn expire(&mut self, now: Duration) {
        let mut freed = 0;
        self.pending.retain(|p| {
            let keep = now.saturating_sub(p.first) <= FRAGMENT_TIMEOUT;
            if !keep {
                freed += p.data.len();
            }
            keep
        });
        self.bytes -= freed;
    }

    /// Datagrams pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Bytes held for them.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Adds `r` to the sorted, disjoint `have`, merging what touches it.
fn insert_range(have: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    let (mut lo, mut hi) = r;
    have.retain(|&(a, b)| {
        if b < lo || a > hi {
            true
        } else {
            lo = lo.min(a);
            hi = hi.max(b);
            false
        }
    });
    let at = have.partition_point(|&(a, _)| a < lo);
    have.insert(at, (lo, hi));
}
