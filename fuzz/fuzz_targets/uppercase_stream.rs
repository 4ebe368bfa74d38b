//! Streaming uppercase: any chunking gives the one-shot result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net_core::text::{UppercaseStream, uppercase_bytes};

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, cuts) = input;
    let want = uppercase_bytes(&data);
    let mut up = UppercaseStream::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &c in &cuts {
        let end = (start + usize::from(c)).min(data.len());
        up.feed(&data[start..end], &mut out);
        start = end;
    }
    up.feed(&data[start..], &mut out);
    up.finish(&mut out);
    assert_eq!(out, want);
});
