//! Scenario 3: the TCP uppercase server with one client, the textbook
//! Python client, then 20 clients at once.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::{Ctx, Transcript};

const CONCURRENT_CLIENTS: usize = 20;

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let bin = ctx.bin("tcp-uppercase");
    let server = ctx.server("tcp-uppercase", &["server", "--port", "0"])?;
    let port = server.port();
    let host = ctx.host();

    // One client, the lab's example sentence.
    let sentence = format!("hello from {}", ctx.name).to_lowercase();
    let mut args = vec!["client", "--host", host, "--port", &port];
    args.extend(sentence.split_whitespace());
    let run = ctx.client(&bin, &args, b"")?;
    t.client("client", &run, "");
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let want = format!("From Server: {}\n", words.join(" ").to_uppercase());
    t.check(
        run.code() == Some(0) && run.stdout_text() == want,
        "the reply is the sentence uppercased",
    );

    // The textbook client, unchanged but for host and port.
    ctx.textbook_client(
        t,
        "TCPClient.py",
        &port,
        "amrita 31",
        "From Server:  AMRITA 31\n",
    )?;

    // Twenty clients at once, each sending two lines over its connection.
    let runs: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (1..=CONCURRENT_CLIENTS)
            .map(|i| {
                let (bin, port) = (&bin, &port);
                scope.spawn(move || {
                    let input = format!("client {i:02} first line\nclient {i:02} second line\n");
                    ctx.client(
                        bin,
                        &["client", "--host", host, "--port", port],
                        input.as_bytes(),
                    )
                    .map(|run| (i, run))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut all_ok = true;
    for joined in runs {
        let (i, run) = joined.map_err(|_| anyhow!("a client thread panicked"))??;
        let want = format!(
            "From Server: CLIENT {i:02} FIRST LINE\nFrom Server: CLIENT {i:02} SECOND LINE\n"
        );
        let ok = run.code() == Some(0) && run.stdout_text() == want;
        if !ok || i == 1 {
            t.client(&format!("client-{i:02}"), &run, "");
        }
        all_ok &= ok;
    }
    t.check(
        all_ok,
        format!("{CONCURRENT_CLIENTS} concurrent clients each got both lines back"),
    );

    let wanted_lines = 2 + CONCURRENT_CLIENTS * 2;
    let _ = server.try_wait_for_stdout(Duration::from_secs(5), |_| {
        server.stdout().len() > wanted_lines
    });
    t.server("server", &server);
    let peers: BTreeSet<String> = server
        .stdout()
        .iter()
        .filter(|l| l.starts_with("sent \"CLIENT "))
        .filter_map(|l| l.rsplit(' ').next().map(str::to_string))
        .collect();
    t.check(
        peers.len() == CONCURRENT_CLIENTS,
        format!(
            "the server log shows {} distinct client connections",
            peers.len()
        ),
    );
    Ok(())
}
