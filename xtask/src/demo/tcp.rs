//! Scenario 3: the TCP uppercase server with one client, the textbook
//! Python client, then 20 clients at once.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use anyhow::{Result, anyhow};
use testkit::{Run, Server};

use super::{Ctx, Transcript};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
const CONCURRENT_CLIENTS: usize = 20;

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let bin = ctx.bin("tcp-uppercase");
    let server =
        Server::try_start(&bin, &["server", "--port", "0"], None).map_err(|e| anyhow!(e))?;
    let port = server.port();

    // One client, the lab's example sentence.
    let sentence = format!("hello from {}", ctx.name).to_lowercase();
    let mut args = vec!["client", "--port", &port];
    args.extend(sentence.split_whitespace());
    let run = Run::try_run(&bin, &args, b"", CLIENT_TIMEOUT).map_err(|e| anyhow!(e))?;
    t.client("client", &run, "");
    let want = format!(
        "From Server: {}\n",
        sentence
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase()
    );
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
    let runs: Vec<_> = (1..=CONCURRENT_CLIENTS)
        .map(|i| {
            let bin = bin.clone();
            let port = port.clone();
            thread::spawn(move || {
                let input = format!("client {i:02} first line\nclient {i:02} second line\n");
                Run::try_run(
                    &bin,
                    &["client", "--port", &port],
                    input.as_bytes(),
                    CLIENT_TIMEOUT,
                )
                .map(|run| (i, run))
            })
        })
        .collect();
    let mut all_ok = true;
    for handle in runs {
        let (i, run) = handle
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))?
            .map_err(|e| anyhow!(e))?;
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
