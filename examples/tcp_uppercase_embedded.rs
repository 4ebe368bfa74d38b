//! tcp-uppercase used as a library: an in-process server on an ephemeral
//! port and two clients — one sending a sentence, one sending lines.
//!
//! Run with `cargo run -p netlab-examples --example tcp_uppercase_embedded`.

use std::thread;

use net_core::{AccessLog, Endpoint, Shutdown, sock};
use tcp_uppercase::{client::Client, server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = sock::tcp_listener("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    println!("embedded server on {addr}");

    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let config = server::Config {
        log: AccessLog::stdout(),
        ..server::Config::default()
    };
    let srv = thread::spawn(move || server::run(listener, &stop, config));

    let endpoint = Endpoint::new("127.0.0.1", addr.port())?;
    let reply = Client::new(endpoint.clone()).send_sentence(b"tanmayi 31")?;
    println!("From Server: {}", String::from_utf8_lossy(&reply));

    let mut lines = Client::new(endpoint);
    for line in ["straße", "thread per connection"] {
        let reply = lines.exchange_line(line.as_bytes())?;
        println!("From Server: {}", String::from_utf8_lossy(&reply));
    }
    drop(lines);

    shutdown.fire();
    srv.join().map_err(|_| "server thread panicked")??;
    Ok(())
}
