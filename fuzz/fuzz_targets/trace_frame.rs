//! Frame decoding and connection analysis on arbitrary frames.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use net_trace::analyze::Analyzer;
use net_trace::decode::{LinkType, decode};

fuzz_target!(|data: &[u8]| {
    let mut analyzer = Analyzer::new();
    // Split the input into frames at 0xfe, so sequences are fuzzed too.
    for (i, frame) in data.split(|&b| b == 0xfe).enumerate() {
        for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::Null] {
            if let Some(p) = decode(link, frame, Duration::from_micros(i as u64), frame.len() as u32) {
                let row = analyzer.push(&p);
                assert!(!row.info.is_empty());
            }
        }
    }
    let _ = analyzer.summaries();
});
