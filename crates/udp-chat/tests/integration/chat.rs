use std::time::Duration;

use testkit::Server;

use crate::BIN;

const T: Duration = Duration::from_secs(10);

#[test]
fn full_duplex_with_scripted_stdins() {
    let mut server = Server::start(BIN, &["server", "--port", "0", "--chat"]);
    let port = server.port();

    // Before anyone wrote, the operator is told there is nobody to answer.
    server.send_stdin("is anyone there?\n").unwrap();
    server.wait_for_stdout(T, |l| l.starts_with("(no client has written yet"));

    let mut client = Server::spawn(BIN, &["client", "--port", &port, "--chat"]).unwrap();
    client.send_stdin("hello server\n").unwrap();
    let line = server.wait_for_stdout(T, |l| l.ends_with(": hello server"));
    assert!(line.starts_with("Client 127.0.0.1:"), "{line}");

    // The client's stdin stays idle: the message must print anyway.
    server.send_stdin("hello client\n").unwrap();
    client.wait_for_stdout(T, |l| l == format!("Server 127.0.0.1:{port}: hello client"));
    server.send_stdin("second from server\n").unwrap();
    client.wait_for_stdout(T, |l| l.ends_with(": second from server"));
    client.send_stdin("straße stays as typed\n").unwrap();
    server.wait_for_stdout(T, |l| l.ends_with(": straße stays as typed"));

    client.send_stdin("quit\n").unwrap();
    let status = client.wait_exit(T).expect("client exits on quit");
    assert!(status.success(), "{status}");

    server.close_stdin(); // end of input ends the operator's session too
    let status = server.wait_exit(T).expect("server exits at end of input");
    assert!(status.success(), "{status}");
}

#[test]
fn quit_exits_promptly_while_a_receive_is_pending() {
    let server = Server::start(BIN, &["server", "--port", "0", "--chat"]);
    let mut client = Server::spawn(BIN, &["client", "--port", &server.port(), "--chat"]).unwrap();
    client.send_stdin("quit\n").unwrap();
    let status = client.wait_exit(T).expect("client exits on quit");
    assert!(status.success(), "{status}");
}
