//! http-server and http-client used as libraries: a server over a
//! temporary directory, and a client fetching two files and a missing one
//! over one kept-alive connection.
//!
//! Run with `cargo run -p netlab-examples --example http_roundtrip`.

use std::thread;

use http_client::{Client, Url};
use http_server::server::{self, Config};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("netlab-example-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join("HelloWorld.html"), "<h1>Hello, World!</h1>\n")?;
    std::fs::write(root.join("notes.txt"), "served from a library\n")?;

    let config = Config::new(&root)?;
    let shutdown = config.shutdown.clone();
    let listener = net_core::sock::tcp_listener("127.0.0.1:0".parse()?)?;
    let port = listener.local_addr()?.port();
    let server = thread::spawn(move || server::run(listener, config));

    let mut client = Client::new();
    for path in ["/HelloWorld.html", "/notes.txt", "/missing.html"] {
        let response = client.get(&Url::parse(&format!("http://127.0.0.1:{port}{path}"))?)?;
        let first_line = String::from_utf8_lossy(&response.body)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        println!(
            "{path}: {} {} — {first_line}",
            response.head.status, response.head.reason
        );
    }
    println!("connections opened: {}", client.connections_opened());

    shutdown.fire();
    server.join().map_err(|_| "server thread panicked")??;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
