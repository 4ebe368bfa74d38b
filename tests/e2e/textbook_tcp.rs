//! tcp-uppercase against the textbook `TCPClient.py` / `TCPServer.py`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use testkit::{Run, Server, bin_path};

use crate::{python, textbook};

fn our_server() -> Server {
    Server::start(bin_path("tcp-uppercase"), &["server", "--port", "0"])
}

#[test]
fn textbook_client_against_our_server() {
    let py = python();
    let server = our_server();
    let client = textbook("TCPClient.py");
    let run = Run::new(
        py,
        &[client.to_str().unwrap(), "127.0.0.1", &server.port()],
        b"tanmayi 31\n",
    );
    run.assert_success();
    // The textbook prints its prompt even when piped, then the reply.
    assert_eq!(
        run.stdout_text(),
        "Input lowercase sentence:From Server:  TANMAYI 31\n",
        "{run}"
    );
    server.wait_for_stdout(std::time::Duration::from_secs(10), |l| {
        l.starts_with("sent \"TANMAYI 31\" to 127.0.0.1:")
    });
}

#[test]
fn our_client_against_textbook_server() {
    let py = python();
    let script = textbook("TCPServer.py");
    let server = Server::start(py, &["-u", script.to_str().unwrap(), "0"]);
    let bin = bin_path("tcp-uppercase");

    let run = Run::new(
        &bin,
        &["client", "--port", &server.port(), "amrita", "31"],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "From Server: AMRITA 31\n");

    // Stream mode: piped lines reach the textbook server's one `recv`
    // together and are answered before it closes.
    let run = Run::new(
        &bin,
        &["client", "--port", &server.port()],
        "one\nstraße\n".as_bytes(),
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "From Server: ONE\nFrom Server: STRASSE\n"
    );
}

#[test]
fn our_uppercase_equals_python_str_upper() {
    let py = python();
    let samples = [
        "straße",
        "ﬁne ﬂow ﬀ",
        "ǆemal ǈ ǋ",
        "ὀδυσσεύς ᾳ ῼ",
        "привет мир",
        "ŉ ǰ ΐ",
        "ⓐⓑⓒ ａｂｃ",
        "𐐨𐐩 𞤢",
        "tanmayi 31",
    ];
    let text = samples.join("\n");
    let want = std::process::Command::new(py)
        .args([
            "-c",
            "import sys; sys.stdout.write(sys.stdin.read().upper())",
        ])
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(want.status.success());

    let server = Server::start(
        bin_path("tcp-uppercase"),
        &["server", "--port", "0", "--quiet"],
    );
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    let want = String::from_utf8(want.stdout).unwrap();
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w);
    }
    assert_eq!(got, want);
}
