//! net-trace used as a library, without a network: the lab's TCP exchange
//! built frame by frame, annotated as the capture table shows it, then
//! summarised.
//!
//! Run with `cargo run -p netlab-examples --example trace_offline`.

use std::net::SocketAddr;
use std::time::Duration;

use net_trace::analyze::Analyzer;
use net_trace::decode::{LinkType, build, decode};
use net_trace::render;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let c: SocketAddr = "127.0.0.1:52581".parse()?;
    let s: SocketAddr = "127.0.0.1:13000".parse()?;
    let frames = [
        build::tcp(c, s, 100, None, "S", b""),
        build::tcp(s, c, 900, Some(101), "S", b""),
        build::tcp(c, s, 101, Some(901), "", b""),
        build::tcp(c, s, 101, Some(901), "P", b"tanmayi 31"),
        build::tcp(s, c, 901, Some(111), "P", b"TANMAYI 31"),
        build::tcp(c, s, 111, Some(911), "F", b""),
        build::tcp(s, c, 911, Some(112), "F", b""),
        build::tcp(c, s, 112, Some(912), "", b""),
    ];
    let mut analyzer = Analyzer::new();
    println!("{}", render::heading());
    for (i, frame) in frames.iter().enumerate() {
        let time = Duration::from_micros(40 * i as u64);
        if let Some(packet) = decode(LinkType::Ethernet, frame, time, frame.len() as u32) {
            println!("{}", render::row(&analyzer.push(&packet), None));
        }
    }
    println!();
    for summary in analyzer.summaries() {
        print!("{}", render::summary(&summary, None, None));
    }
    Ok(())
}
