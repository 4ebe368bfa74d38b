//! Request-head parsing: never panics, never claims more bytes than it got.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(req)) = http_server::request::parse(data) {
        assert!(req.head_len <= data.len());
        assert!(req.target.len() <= http_server::request::MAX_REQUEST_LINE);
    }
});
