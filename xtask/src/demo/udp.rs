//! Scenarios 1 and 2: the UDP uppercase server and client, and the
//! two-way chat between the server operator and a client.

use std::time::Duration;

use anyhow::Result;

use super::{Ctx, Transcript};

const WAIT: Duration = Duration::from_secs(10);

/// How long a chat message may take on an impaired link before it is
/// taken as lost: the link delays by tenths of a second, but a machine
/// busy with other jobs once held one over 3 s (the wait ends as soon as
/// the message arrives, so only a lost one costs the whole of it).
const LOSSY_WAIT: Duration = Duration::from_secs(8);

/// The client's resends on an impaired link: with 5% loss each way, a
/// line then goes unanswered about once in a million.
pub(super) const LOSSY_RETRIES: &str = "5";

pub fn uppercase(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let bin = ctx.bin("udp-chat");
    let server = ctx.server("udp-chat", &["server", "--port", "0"])?;
    let port = server.port();
    let host = ctx.host();

    let input = format!("{}\nstraße in unicode\n", ctx.name.to_lowercase());
    let mut args = vec!["client", "--host", host, "--port", &port];
    // On an impaired link the client resends more before giving a line up.
    if ctx.net.link.is_some() {
        args.extend(["--retries", LOSSY_RETRIES]);
    }
    let run = ctx.client(&bin, &args, input.as_bytes())?;
    t.client("client", &run, &input);
    let want = format!(
        "{}\nreceived from {host}:{port}\nSTRASSE IN UNICODE\nreceived from {host}:{port}\n",
        ctx.name.to_uppercase()
    );
    t.check(
        run.code() == Some(0) && run.stdout_text() == want,
        "each line came back uppercased, with the server's address",
    );

    ctx.textbook_client(t, "UDPClient.py", &port, "amrita 31", "AMRITA 31\n")?;

    let _ = server.try_wait_for_stdout(WAIT, |l| l.starts_with("AMRITA 31 from"));
    t.server("server", &server);
    t.check(
        server
            .stdout()
            .iter()
            .any(|l| l.starts_with("STRASSE IN UNICODE from ")),
        "the server logged each message with its sender",
    );

    // No server: a clear error, not a hang.
    drop(server);
    let run = ctx.client(
        &bin,
        &["client", "--host", host, "--port", &port, "--timeout", "1"],
        b"hello?\n",
    )?;
    t.client("client-without-server", &run, "hello?");
    t.check(
        run.code() == Some(1) && run.stderr_text().contains("nothing is listening on"),
        "without a server the client says nothing is listening",
    );
    Ok(())
}

pub fn chat(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let bin = ctx.bin("udp-chat");
    let mut server = ctx.server("udp-chat", &["server", "--port", "0", "--chat"])?;
    let port = server.port();
    let mut client = ctx.spawn_client(
        &bin,
        &["client", "--host", ctx.host(), "--port", &port, "--chat"],
    )?;

    // A scripted conversation: each side types only after it has seen the
    // other's message, so the transcript shows messages as they arrive.
    let hello = format!("hello from {}", ctx.name);
    let steps: [(bool, &str); 4] = [
        (false, &hello),
        (true, "hi! the server got your message"),
        (false, "both directions work over one UDP socket"),
        (true, "bye"),
    ];
    let mut typed_client = Vec::new();
    let mut typed_server = Vec::new();
    for (from_server, text) in steps {
        let (sender, receiver, typed, labels) = if from_server {
            (
                &mut server,
                &client,
                &mut typed_server,
                ("server", "client"),
            )
        } else {
            (
                &mut client,
                &server,
                &mut typed_client,
                ("client", "server"),
            )
        };
        let losses = ctx.link_losses();
        sender.send_stdin(&format!("{text}\n"))?;
        typed.push(text.to_string());
        t.step(format!("{} types: {text}", labels.0));
        let wait = if ctx.net.link.is_some() {
            LOSSY_WAIT
        } else {
            WAIT
        };
        match receiver.try_wait_for_stdout(wait, |l| l.ends_with(&format!(": {text}"))) {
            Ok(line) => t.step(format!("{} prints: {line}", labels.1)),
            Err(e) => {
                ctx.check_unresent(t, false, &format!("{text:?} did not arrive: {e}"), losses)
            }
        }
    }
    client.send_stdin("quit\n")?;
    let client_status = client.wait_exit(WAIT);
    server.close_stdin();
    let server_status = server.wait_exit(WAIT);

    t.command(
        "server",
        format!(
            "{}   (operator typed: {})",
            server.command(),
            typed_server.join(" | ")
        ),
    );
    for line in server.stdout() {
        t.output(line);
    }
    t.command(
        "client",
        format!(
            "{}   (typed: {} | quit)",
            client.command(),
            typed_client.join(" | ")
        ),
    );
    for line in client.stdout() {
        t.output(line);
    }
    t.check(
        client_status.is_some_and(|s| s.success()),
        "the client left on `quit`",
    );
    t.check(
        server_status.is_some_and(|s| s.success()),
        "the server stopped at the end of its input",
    );
    Ok(())
}
