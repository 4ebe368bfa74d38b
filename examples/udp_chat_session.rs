//! udp-chat used as a library: an uppercase server and client in one
//! process, then a scripted chat between an operator session and a client
//! session — any `BufRead` in, any `Write` out.
//!
//! Run with `cargo run -p netlab-examples --example udp_chat_session`.

use std::io::{self, BufReader, Read};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use net_core::{Shutdown, sock};
use udp_chat::chat::Chat;
use udp_chat::client::Client;
use udp_chat::uppercase_server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Uppercase: server thread + client.
    let socket = sock::udp_socket("127.0.0.1:0".parse()?)?;
    let addr = socket.local_addr()?;
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let server = thread::spawn(move || {
        uppercase_server::run(socket, &stop, uppercase_server::Config::default())
    });
    let mut client = Client::connect(addr)?;
    for line in ["amrita 31", "straße"] {
        let reply = client.exchange(line.as_bytes())?;
        println!(
            "{}\nreceived from {}",
            String::from_utf8_lossy(&reply.data),
            reply.from
        );
    }
    shutdown.fire();
    server.join().map_err(|_| "server thread panicked")??;

    // Chat: both sessions run at once, each fed lines through a channel,
    // as a terminal would type them.
    let operator_socket = sock::udp_socket("127.0.0.1:0".parse()?)?;
    let operator_addr = operator_socket.local_addr()?;
    let (operator_keys, operator_input) = typed();
    let (client_keys, client_input) = typed();
    let stop = Shutdown::new();
    let operator_stop = stop.clone();
    let operator = thread::spawn(move || {
        Chat::server(operator_socket).run(operator_input, io::stdout(), &operator_stop)
    });
    let client = Client::connect(operator_addr)?;
    let server = client.server();
    let client_stop = stop.clone();
    let client_side = thread::spawn(move || {
        Chat::client(client.into_socket(), server).run(client_input, io::stdout(), &client_stop)
    });

    client_keys.send("hello operator\n".into())?;
    thread::sleep(Duration::from_millis(200)); // let a person read it
    operator_keys.send("hello client\n".into())?;
    thread::sleep(Duration::from_millis(200));
    client_keys.send("quit\n".into())?;
    drop(operator_keys); // end of the operator's input
    client_side.join().map_err(|_| "client thread panicked")??;
    operator.join().map_err(|_| "operator thread panicked")??;
    Ok(())
}

/// A `BufRead` fed by a channel: what a chat session reads from a terminal.
fn typed() -> (mpsc::Sender<String>, BufReader<Keys>) {
    let (tx, rx) = mpsc::channel();
    (tx, BufReader::new(Keys(rx)))
}

struct Keys(mpsc::Receiver<String>);

impl Read for Keys {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv() {
            Ok(line) => {
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line.as_bytes()[..n]);
                Ok(n)
            }
            Err(_) => Ok(0), // sender dropped: end of input
        }
    }
}
