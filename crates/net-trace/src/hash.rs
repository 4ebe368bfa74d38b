//! The hasher of the maps looked up for every frame (a connection by its
//! addresses and ports, a row's connection by its number): std's SipHash
//! costs more than the rest of such a lookup, and these keys are a few
//! machine words.
//!
//! FxHash's step (rustc's hasher: rotate, xor, multiply) over the words,
//! started from a random seed per map and finished with MurmurHash3's
//! 64-bit mixer, so every bit of a key reaches the bits that choose its
//! bucket, and a capture file made to put every connection in one bucket
//! cannot be written without knowing the seed.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

/// A map with the fast hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// FxHash's multiplier.
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Builds [`FastHasher`]s from one random seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        // std's per-process random keys, moved on for each map.
        FastState {
            seed: RandomState::new().hash_one(0x6e65_742d_7472_6163_u64),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { hash: self.seed }
    }
}

/// See the module's documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word.get_mut(..rest.len())
                .unwrap_or_default()
                .copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn keys_that_differ_only_in_high_bits_spread_over_buckets() {
        let state = FastState::default();
        // Ports differ in their high byte only: FxHash alone would give
        // them the same low bits, the bits a small table's bucket is.
        let buckets: std::collections::HashSet<u64> = (0..64u16)
            .map(|i| {
                let a: SocketAddr = ([127, 0, 0, 1], i << 10).into();
                state.hash_one((a, a, 6u8)) & 0xff
            })
            .collect();
        assert!(buckets.len() > 32, "{} buckets of 64 keys", buckets.len());
    }

    #[test]
    fn equal_keys_hash_equal_and_maps_work() {
        let mut m: FastMap<(SocketAddr, u8), usize> = FastMap::default();
        let a: SocketAddr = "[::1]:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:80".parse().unwrap();
        m.insert((a, 6), 1);
        m.insert((b, 6), 2);
        assert_eq!(
            (m.get(&(a, 6)), m.get(&(b, 6)), m.get(&(a, 17))),
            (Some(&1), Some(&2), None)
        );
    }
}
