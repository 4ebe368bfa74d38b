//! Scenario 4: the web server with a generated `HelloWorld.html`, fetched
//! by http-client (200, then a 404), then 20 fetches at once.

use std::fs;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use testkit::{Run, Server};

use super::{Ctx, Transcript};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
const CONCURRENT_FETCHES: usize = 20;

/// The page the lab asks for, with the hand-in's name on it.
pub fn hello_world(name: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello World</title></head>\n\
         <body><h1>Hello, World!</h1><p>Served by netlab's http-server for {}.</p></body></html>\n",
        name.replace('&', "&amp;").replace('<', "&lt;")
    )
}

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let root = ctx.out_dir.join("www");
    fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let page = hello_world(&ctx.name);
    fs::write(root.join("HelloWorld.html"), &page).context("write HelloWorld.html")?;
    let root_arg = root.to_string_lossy().to_string();
    let server = Server::try_start(
        ctx.bin("http-server"),
        &["--port", "0", "--root", &root_arg],
        None,
    )
    .map_err(|e| anyhow!(e))?;
    let port = server.port();
    let client = ctx.bin("http-client");

    let run = Run::try_run(
        &client,
        &["127.0.0.1", &port, "HelloWorld.html"],
        b"",
        CLIENT_TIMEOUT,
    )
    .map_err(|e| anyhow!(e))?;
    t.client("client", &run, "");
    t.check(
        run.code() == Some(0)
            && run.stdout_text() == page
            && run.stderr_text().starts_with("HTTP/1.1 200 OK"),
        "HelloWorld.html arrives whole with 200 OK",
    );

    let run = Run::try_run(
        &client,
        &["127.0.0.1", &port, "missing.html"],
        b"",
        CLIENT_TIMEOUT,
    )
    .map_err(|e| anyhow!(e))?;
    t.client("client", &run, "");
    t.check(
        run.code() == Some(22)
            && run.stderr_text().starts_with("HTTP/1.1 404 Not Found")
            && run.stdout_text().contains("404 Not Found"),
        "a missing file is 404 Not Found with a page (exit 22, as curl --fail)",
    );

    let fetches: Vec<_> = (0..CONCURRENT_FETCHES)
        .map(|_| {
            let (client, port) = (client.clone(), port.clone());
            thread::spawn(move || {
                Run::try_run(
                    &client,
                    &["-s", "127.0.0.1", &port, "HelloWorld.html"],
                    b"",
                    CLIENT_TIMEOUT,
                )
            })
        })
        .collect();
    let mut ok = 0;
    for f in fetches {
        let run = f
            .join()
            .map_err(|_| anyhow!("a fetch thread panicked"))?
            .map_err(|e| anyhow!(e))?;
        if run.code() == Some(0) && run.stdout_text() == page {
            ok += 1;
        }
    }
    t.note(format!("@clients: {CONCURRENT_FETCHES} × http-client -s 127.0.0.1 {port} HelloWorld.html, all at once"));
    t.check(
        ok == CONCURRENT_FETCHES,
        format!("{ok} of {CONCURRENT_FETCHES} concurrent fetches got the page"),
    );

    let wanted = 2 + CONCURRENT_FETCHES;
    let _ = server.try_wait_for_stdout(Duration::from_secs(5), |_| server.stdout().len() > wanted);
    t.server("server", &server);
    t.check(
        server
            .stdout()
            .iter()
            .filter(|l| l.contains("\"GET /HelloWorld.html HTTP/1.1\" 200"))
            .count()
            == 1 + CONCURRENT_FETCHES,
        "the access log shows every request in Common Log Format",
    );
    Ok(())
}
