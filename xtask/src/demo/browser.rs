//! Scenario 6: headless Chromium loads HelloWorld.html and the 404 page
//! from the server and saves screenshots — the lab's hand-in.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Ctx, Transcript};

/// The headless browser, when one is installed.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Flags every headless run takes: no sandbox (root), no GPU, and nothing
/// that reaches out to the network on its own (this machine's network is
/// closed; each attempt would only slow the run).
pub const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let Some(browser) = chromium() else {
        t.note(
            "(skipped: Chromium is not installed; `apt-get install chromium` adds the screenshots)",
        );
        return Ok(());
    };
    let (root, _) = super::web::site(ctx)?;
    let root = root.to_string_lossy().to_string();
    let server = ctx.server("http-server", &["--port", "0", "--root", &root])?;
    let port = server.port();
    let profile = tempfile_dir(ctx)?;
    for (page, shot) in [
        ("HelloWorld.html", "06-helloworld.png"),
        ("missing.html", "06-not-found.png"),
    ] {
        let path = ctx.out_dir.join(shot);
        let _ = std::fs::remove_file(&path);
        let url = format!("http://{}:{port}/{page}", ctx.host());
        let profile_arg = format!("--user-data-dir={}", profile.display());
        let shot_arg = format!("--screenshot={}", path.display());
        let mut args = HEADLESS.to_vec();
        args.extend([
            "--hide-scrollbars",
            "--window-size=900,500",
            &profile_arg,
            &shot_arg,
            &url,
        ]);
        let run = ctx.client(Path::new(browser), &args, b"")?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        t.command(
            "browser",
            format!("{browser} --headless --screenshot={} {url}", path.display()),
        );
        t.check(
            run.code() == Some(0) && size > 1000,
            format!("{shot} saved ({size} bytes)"),
        );
        if size > 0 {
            t.artifact(path);
        }
    }
    t.server("server", &server);
    t.check(
        server
            .stdout()
            .iter()
            .any(|l| l.contains("\"GET /missing.html HTTP/1.1\" 404")),
        "the browser's requests are in the access log",
    );
    let _ = std::fs::remove_dir_all(&profile);
    Ok(())
}

fn tempfile_dir(_ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = super::profile_dir("shots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
