//! A download from http-server on another host over a link that loses,
//! delays, duplicates and reorders packets: byte for byte what was served.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use http_server::server::{self, Config};
use testkit::Run;
use testkit::impair::{Link, SERVER_ADDR};

use crate::BIN;

/// The lab's bad network: every kind of trouble at once, both ways.
const IMPAIRMENT: &str = "loss 5%, delay 50ms 10ms, duplicate 5%, reorder 10%";

/// Large enough for many windows of loss and recovery, small enough to
/// come through this link in a few seconds.
const FILE_BYTES: usize = 1 << 20;

/// Longest the download may take: several times what it needs.
const FETCH_DEADLINE: Duration = Duration::from_secs(25);

#[test]
#[ignore = "needs root"]
fn a_download_over_an_impaired_link_is_byte_exact() {
    let link = Link::need(IMPAIRMENT, 24);
    let root = tempfile::tempdir().unwrap();
    let data = testkit::Rng::new(6).bytes(FILE_BYTES);
    fs::write(root.path().join("data.bin"), &data).unwrap();
    // The server's socket is made on the server host.
    let listener = link
        .spawn_in_server(|| {
            net_core::sock::tcp_listener(format!("{SERVER_ADDR}:0").parse().unwrap())
        })
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
        .unwrap();
    let url = format!("http://{}/data.bin", listener.local_addr().unwrap());
    let config = Config::new(root.path()).unwrap();
    let shutdown = config.shutdown.clone();
    thread::spawn(move || server::run(listener, config));

    let out = root.path().join("fetched.bin");
    let mut args = link.client_prefix();
    args.extend([BIN, "-s", "-o", out.to_str().unwrap(), &url].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let start = Instant::now();
    let r = Run::with_timeout(args[0], &args[1..], b"", FETCH_DEADLINE);
    let took = start.elapsed();
    shutdown.fire();
    r.assert_success();
    let fetched = fs::read(&out).unwrap();
    assert!(
        fetched == data,
        "{} of {} bytes, not the file served",
        fetched.len(),
        data.len()
    );
    eprintln!(
        "{FILE_BYTES} bytes over \"{IMPAIRMENT}\" in {took:.2?}\n{}",
        link.stats()
    );
}
