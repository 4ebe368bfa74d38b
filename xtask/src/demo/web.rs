//! Scenario 4: the web server with a generated `HelloWorld.html`, fetched
//! by http-client (200, then a 404), then 20 fetches at once.

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use super::{Ctx, Transcript};

const CONCURRENT_FETCHES: usize = 20;

/// The page the lab asks for, with the hand-in's name on it.
pub fn hello_world(name: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello World</title></head>\n\
         <body><h1>Hello, World!</h1><p>Served by netlab's http-server for {}.</p></body></html>\n",
        net_core::text::escape_markup(name)
    )
}

/// Writes the demo's document root and returns it with the page.
pub fn site(ctx: &Ctx) -> Result<(PathBuf, String)> {
    let root = ctx.out_dir.join("www");
    fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let page = hello_world(&ctx.name);
    fs::write(root.join("HelloWorld.html"), &page).context("write HelloWorld.html")?;
    Ok((root, page))
}

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let (root, page) = site(ctx)?;
    let root_arg = root.to_string_lossy().to_string();
    let server = ctx.server("http-server", &["--port", "0", "--root", &root_arg])?;
    let port = server.port();
    let host = ctx.host();
    let client = ctx.bin("http-client");

    let run = ctx.client(&client, &[host, &port, "HelloWorld.html"], b"")?;
    t.client("client", &run, "");
    t.check(
        run.code() == Some(0)
            && run.stdout_text() == page
            && run.stderr_text().starts_with("HTTP/1.1 200 OK"),
        "HelloWorld.html arrives whole with 200 OK",
    );

    let run = ctx.client(&client, &[host, &port, "missing.html"], b"")?;
    t.client("client", &run, "");
    t.check(
        run.code() == Some(22)
            && run.stderr_text().starts_with("HTTP/1.1 404 Not Found")
            && run.stdout_text().contains("404 Not Found"),
        "a missing file is 404 Not Found with a page (exit 22, as curl --fail)",
    );

    let results: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..CONCURRENT_FETCHES)
            .map(|_| {
                let (client, port) = (&client, &port);
                scope.spawn(move || ctx.client(client, &["-s", host, port, "HelloWorld.html"], b""))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut ok = 0;
    for joined in results {
        let run = joined.map_err(|_| anyhow!("a fetch thread panicked"))??;
        if run.code() == Some(0) && run.stdout_text() == page {
            ok += 1;
        }
    }
    t.step(format!(
        "clients: {CONCURRENT_FETCHES} × http-client -s {host} {port} HelloWorld.html, all at once"
    ));
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
