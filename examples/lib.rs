//! Examples live beside this file; run one with `cargo run -p netlab-examples --example NAME`.
