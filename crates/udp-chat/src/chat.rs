//! The full-duplex chat between the server operator and a client.
//!
//! A receiving thread prints each datagram as it arrives
//! (`Client 127.0.0.1:60915: hi` on the server, `Server 127.0.0.1:12000: hi`
//! on the client) while the calling thread sends each input line as one
//! datagram — the server's to the client that wrote most recently. `quit`
//! or the end of input ends the session. Input and output are any
//! `BufRead` and `Write`, so a session runs the same in a terminal, a pipe
//! or a test.
//!
//! A client may chat with the uppercase server, whose replies then print
//! under whatever line was typed last. So a client remembers its lines (a
//! [`Ledger`]), and a message that is the uppercase of an earlier line
//! rather than of the last one says so, as does a second copy of a reply:
//! `Server 127.0.0.1:12000 (late, answers your line 1 "one"): ONE`.

use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use net_core::text::escape;
use net_core::{Error as NetError, Shutdown};

use crate::ledger::{Ledger, Verdict};
use crate::{RECV_BUFFER_SIZE, Result, max_datagram};

/// How often the receiving thread checks whether the session ended. A
/// connected client socket cannot be woken by a datagram from elsewhere,
/// so the receive waits at most this long.
const RECV_POLL: Duration = Duration::from_millis(100);

/// The word that ends a session.
pub const QUIT: &str = "quit";

/// Which side of the chat this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server operator: replies go to the most recent client.
    Server,
    /// A client talking to this server (its socket is connected to it).
    Client(SocketAddr),
}

/// A chat session over one socket.
#[derive(Debug)]
pub struct Chat {
    socket: Arc<UdpSocket>,
    role: Role,
}

type Shared<W> = Arc<Mutex<W>>;

/// A client's record of the lines it sent (none on the server's side).
type Lines = Option<Arc<Mutex<Ledger>>>;

/// Whom the operator's lines go to.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    /// The client that wrote last (the server itself, on a client).
    addr: Option<SocketAddr>,
    /// Its host said nothing listens there any more.
    gone: bool,
}

fn gone_line(addr: SocketAddr) -> String {
    format!("(client {addr} is gone; your line was not delivered)")
}

fn say<W: Write>(out: &Shared<W>, line: &str) {
    let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = writeln!(w, "{line}").and_then(|()| w.flush());
}

impl Chat {
    /// The operator's side, on the server's bound socket.
    pub fn server(socket: UdpSocket) -> Chat {
        Chat {
            socket: Arc::new(socket),
            role: Role::Server,
        }
    }

    /// A client's side; `socket` should be connected to `server` so ICMP
    /// errors are reported.
    pub fn client(socket: UdpSocket, server: SocketAddr) -> Chat {
        Chat {
            socket: Arc::new(socket),
            role: Role::Client(server),
        }
    }

    /// Runs the session until `quit`, end of input, or `stop` fires.
    pub fn run<R, W>(self, mut input: R, output: W, stop: &Shutdown) -> Result<()>
    where
        R: BufRead,
        W: Write + Send + 'static,
    {
        let out: Shared<W> = Arc::new(Mutex::new(output));
        let peer = Arc::new(Mutex::new(Peer {
            addr: match self.role {
                Role::Server => None,
                Role::Client(server) => Some(server),
            },
            gone: false,
        }));
        if self.role == Role::Server {
            // So a line to a client that has gone can say so.
            crate::unreachable::enable(&self.socket);
        }
        self.socket
            .set_read_timeout(Some(RECV_POLL))
            .map_err(|e| NetError::io("configure the chat socket", e))?;
        let lines: Lines = match self.role {
            Role::Server => None,
            // People repeat each other's words: only an uppercase reply is
            // taken to answer a line.
            Role::Client(_) => Some(Arc::new(Mutex::new(Ledger::new(false)))),
        };
        let session = Shutdown::new();
        {
            let session = session.clone();
            stop.on_fire(move || session.fire());
        }
        let receiver = {
            let (socket, out, peer, lines, session) = (
                self.socket.clone(),
                out.clone(),
                peer.clone(),
                lines.clone(),
                session.clone(),
            );
            let role = self.role;
            thread::Builder::new()
                .name("chat-recv".into())
                .spawn(move || receive(&socket, role, &out, &peer, &lines, &session))
                .map_err(|e| NetError::io("start the chat receiver", e))?
        };

        let mut line = Vec::new();
        let result = loop {
            if session.is_fired() {
                break Ok(());
            }
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(NetError::io("read input", e).into()),
            }
            let text = trim_newline(&line);
            if text == QUIT.as_bytes() {
                break Ok(());
            }
            self.send(text, &peer, &lines, &out);
        };
        session.fire();
        let _ = receiver.join();
        result
    }

    fn send<W: Write>(&self, text: &[u8], peer: &Mutex<Peer>, lines: &Lines, out: &Shared<W>) {
        let current = *peer.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some(addr), true, Role::Server) = (current.addr, current.gone, self.role) {
            say(out, &gone_line(addr));
            return;
        }
        let Some(target) = current.addr else {
            say(
                out,
                "(no client has written yet: there is nobody to send this to)",
            );
            return;
        };
        if text.len() > max_datagram(target) {
            say(
                out,
                &format!(
                    "(not sent: {} bytes is more than one datagram can carry)",
                    text.len()
                ),
            );
            return;
        }
        if let Some(lines) = lines {
            // Before it goes out, so even the fastest reply finds it.
            lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .send(text);
        }
        let sent = match self.role {
            Role::Server => self.socket.send_to(text, target),
            Role::Client(_) => self.socket.send(text),
        };
        if let Err(e) = sent {
            say(out, &format!("({})", describe_send_error(target, &e)));
        }
    }
}

fn describe_send_error(target: SocketAddr, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        format!("nothing is listening on {target}")
    } else {
        format!("cannot send to {target}: {}", net_core::error::describe(e))
    }
}

fn receive<W: Write>(
    socket: &UdpSocket,
    role: Role,
    out: &Shared<W>,
    peer: &Mutex<Peer>,
    lines: &Lines,
    session: &Shutdown,
) {
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    while !session.is_fired() {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let label = match role {
                    Role::Server => {
                        *peer.lock().unwrap_or_else(PoisonError::into_inner) = Peer {
                            addr: Some(from),
                            gone: false,
                        };
                        "Client"
                    }
                    Role::Client(_) => "Server",
                };
                let note = lines.as_ref().and_then(|l| {
                    let mut lines = l.lock().unwrap_or_else(PoisonError::into_inner);
                    answer_note(&mut lines, &buf[..n])
                });
                say(
                    out,
                    &format!(
                        "{label} {from}{}: {}",
                        note.unwrap_or_default(),
                        escape(&buf[..n])
                    ),
                );
            }
            Err(e) if net_core::error::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // ICMP port unreachable for something we sent.
                unreachable(socket, role, out, peer);
            }
            Err(e) => {
                log::warn!("chat receive failed: {}", net_core::error::describe(&e));
                session.wait_timeout(RECV_POLL);
            }
        }
    }
}

/// How a client's message is labelled when it answers a line other than
/// the last one typed, or repeats an answer already shown:
/// ` (late, answers your line 1 "one")`; `None` for anything else (the
/// answer to the last line, or a message of the operator's own).
fn answer_note(lines: &mut Ledger, data: &[u8]) -> Option<String> {
    let (what, line) = match lines.judge(data) {
        Verdict::Late { line } => ("late", line),
        Verdict::Again { line } => ("again", line),
        Verdict::Answer { .. } | Verdict::Unknown => return None,
    };
    let quote = lines.quote(line).unwrap_or_default();
    Some(format!(" ({what}, answers your line {line} {quote})"))
}

fn unreachable<W: Write>(socket: &UdpSocket, role: Role, out: &Shared<W>, peer: &Mutex<Peer>) {
    let mut current = peer.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(target) = current.addr else { return };
    match role {
        Role::Client(_) => {
            drop(current);
            say(out, &format!("(nothing is listening on {target})"));
        }
        Role::Server => {
            let dest = crate::unreachable::take(socket);
            // An error for an earlier client, who has been replaced since,
            // is old news.
            if dest.is_some_and(|d| d != target) || current.gone {
                return;
            }
            current.gone = true;
            drop(current);
            say(out, &gone_line(target));
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;
    use std::time::Instant;
    use testkit::SharedBuf;

    /// Input that yields the given lines, each after waiting for a
    /// condition, so a test can script a conversation.
    struct Script(Vec<(Box<dyn Fn() -> bool + Send>, String)>);

    impl io::Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let (ready, line) = self.0.remove(0);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ready() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            let bytes = line.as_bytes();
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    fn always() -> Box<dyn Fn() -> bool + Send> {
        Box::new(|| true)
    }

    #[test]
    fn both_directions_and_quit() {
        let server_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server_sock.local_addr().unwrap();
        let client_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        client_sock.connect(server_addr).unwrap();
        let client_addr = client_sock.local_addr().unwrap();

        let server_out = SharedBuf::default();
        let client_out = SharedBuf::default();
        let (so, co) = (server_out.clone(), client_out.clone());
        // The server answers once the client's message has arrived.
        let server_script = Script(vec![
            (
                Box::new(move || so.contents().contains("hello server")),
                "hello client\n".into(),
            ),
            (always(), "quit\n".into()),
        ]);
        // The client quits once the answer has been printed.
        let client_script = Script(vec![
            (always(), "hello server\n".into()),
            (
                Box::new(move || co.contents().contains("hello client")),
                "quit\n".into(),
            ),
        ]);
        let stop = Shutdown::new();
        let s = {
            let (out, stop) = (server_out.clone(), stop.clone());
            thread::spawn(move || {
                Chat::server(server_sock).run(BufReader::new(server_script), out, &stop)
            })
        };
        Chat::client(client_sock, server_addr)
            .run(BufReader::new(client_script), client_out.clone(), &stop)
            .unwrap();
        s.join().unwrap().unwrap();
        assert_eq!(
            server_out.contents(),
            format!("Client {client_addr}: hello server\n")
        );
        assert_eq!(
            client_out.contents(),
            format!("Server {server_addr}: hello client\n")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_line_to_a_client_that_is_gone_says_so() {
        let server_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client_addr = client.local_addr().unwrap();
        client
            .send_to(b"hi", server_sock.local_addr().unwrap())
            .unwrap();
        drop(client); // quit or killed: nothing listens on its port now
        let out = SharedBuf::default();
        let (o1, o2) = (out.clone(), out.clone());
        let gone = gone_line(client_addr);
        let gone2 = gone.clone();
        let script = Script(vec![
            (
                Box::new(move || o1.contents().contains("Client ")),
                "are you there?\n".into(),
            ),
            (
                Box::new(move || o2.contents().contains(&gone2)),
                "hello?\n".into(),
            ),
            (always(), "quit\n".into()),
        ]);
        Chat::server(server_sock)
            .run(BufReader::new(script), out.clone(), &Shutdown::new())
            .unwrap();
        assert_eq!(
            out.contents(),
            format!("Client {client_addr}: hi\n{gone}\n{gone}\n")
        );
        assert_eq!(
            gone,
            format!("(client {client_addr} is gone; your line was not delivered)")
        );
    }

    #[test]
    fn server_says_when_nobody_has_written() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let out = SharedBuf::default();
        Chat::server(sock)
            .run(&b"anyone?\n"[..], out.clone(), &Shutdown::new())
            .unwrap();
        assert_eq!(
            out.contents(),
            "(no client has written yet: there is nobody to send this to)\n"
        );
    }

    #[test]
    fn stop_ends_a_session_waiting_for_input() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stop = Shutdown::new();
        stop.fire();
        // Input that would block forever is never read once stopped.
        struct Never;
        impl io::Read for Never {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("input read after stop")
            }
        }
        Chat::server(sock)
            .run(BufReader::new(Never), SharedBuf::default(), &stop)
            .unwrap();
    }
}
