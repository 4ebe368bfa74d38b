//! End-to-end tests of the `udp-chat` binary.
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod chat;
mod client;
mod impaired;
mod matching;
mod output;
mod server;

pub const BIN: &str = env!("CARGO_BIN_EXE_udp-chat");
