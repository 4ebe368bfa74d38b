//! udp-chat against the textbook `UDPClient.py` / `UDPServer.py`.

use testkit::{Run, Server, bin_path};

use crate::{python, textbook};

#[test]
fn textbook_client_against_our_server() {
    let py = python();
    let server = Server::start(bin_path("udp-chat"), &["server", "--port", "0"]);
    let client = textbook("UDPClient.py");
    let run = Run::new(
        py,
        &[client.to_str().unwrap(), "127.0.0.1", &server.port()],
        "amrita 31 straße\n".as_bytes(),
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "Input lowercase sentence:AMRITA 31 STRASSE\n",
        "{run}"
    );
    server.wait_for_stdout(std::time::Duration::from_secs(10), |l| {
        l.starts_with("AMRITA 31 STRASSE from 127.0.0.1:")
    });
}

#[test]
fn our_client_against_textbook_server() {
    let py = python();
    let script = textbook("UDPServer.py");
    let server = Server::start(py, &["-u", script.to_str().unwrap(), "0"]);
    let port = server.port();
    let run = Run::new(
        bin_path("udp-chat"),
        &["client", "--port", &port],
        "tanmayi 31\nstraße\n".as_bytes(),
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        format!(
            "TANMAYI 31\nreceived from 127.0.0.1:{port}\nSTRASSE\nreceived from 127.0.0.1:{port}\n"
        )
    );
}
