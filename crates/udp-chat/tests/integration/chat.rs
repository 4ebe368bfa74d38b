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

#[cfg(target_os = "linux")]
#[test]
fn the_operator_is_told_when_the_client_has_quit() {
    let mut server = Server::start(BIN, &["server", "--port", "0", "--chat"]);
    let mut client = Server::spawn(BIN, &["client", "--port", &server.port(), "--chat"]).unwrap();
    client.send_stdin("hello server\n").unwrap();
    let line = server.wait_for_stdout(T, |l| l.ends_with(": hello server"));
    let from = line
        .strip_prefix("Client ")
        .and_then(|rest| rest.strip_suffix(": hello server"))
        .unwrap_or_else(|| panic!("{line}"));

    client.send_stdin("quit\n").unwrap();
    let status = client.wait_exit(T).expect("client exits on quit");
    assert!(status.success(), "{status}");

    // Its port is closed now: the operator's next line cannot arrive, and
    // the operator hears so instead of silence.
    server.send_stdin("are you still there?\n").unwrap();
    let gone = format!("(client {from} is gone; your line was not delivered)");
    server.wait_for_stdout(T, |l| l == gone);
    server.send_stdin("hello?\n").unwrap();
    let said = || server.stdout().iter().filter(|l| **l == gone).count();
    let deadline = std::time::Instant::now() + T;
    while said() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(said(), 2, "{:?}", server.stdout());

    server.close_stdin();
    let status = server.wait_exit(T).expect("server exits at end of input");
    assert!(status.success(), "{status}");
}
