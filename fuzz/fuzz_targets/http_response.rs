//! The client's response-head parsing and body decoding (every framing):
//! never panics, never produces more body than the input holds.
#![no_main]

use std::io::BufReader;

use http_client::response::{self, Framing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = response::parse(data) {
        let rest = &data[head.raw.len()..];
        if let Ok(framing) = head.framing(false) {
            let mut out = Vec::new();
            let mut input = BufReader::with_capacity(7, rest);
            if http_client::body::copy(&mut input, framing, &mut out, &mut |_| {}).is_ok() {
                assert!(out.len() <= rest.len());
            }
        }
    }
    // The chunked decoder on raw input too.
    let mut out = Vec::new();
    let _ = http_client::body::copy(&mut BufReader::new(data), Framing::Chunked, &mut out, &mut |_| {});
    assert!(out.len() <= data.len());
});
