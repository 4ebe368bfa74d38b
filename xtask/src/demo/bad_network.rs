//! Scenario 7, with `--impair` only: TCP on a bad network. The TCP
//! uppercase exchange and a web page fetch cross the impaired link, each
//! captured on the server's side with each side's TCP state and a ladder
//! diagram. Both arrive byte for byte, and the captures show what TCP did
//! about the link — retransmissions, duplicate ACKs, out-of-order
//! segments — in the table, the summary and the diagram: the lab's
//! handshake lesson carried on to a network that misbehaves.

use anyhow::{Context, Result, anyhow};
use testkit::impair::{DirStats, Link, Stats};

use super::capture::traced;
use super::{Ctx, Transcript};

/// Payload of one TCP segment on the link (an Ethernet MTU, less the IP
/// and TCP headers with timestamps).
const SEGMENT: f64 = 1448.0;

/// Data segments the link should drop in one exchange, on average, before
/// the demo insists on seeing a retransmission: every data segment lost
/// is sent again, and only one lost at the very end of a burst can be
/// resent unseen as such; with this many, a capture without a single
/// retransmission has odds of about one in twenty thousand.
const EXPECTED_DROPS: f64 = 10.0;

/// Least an exchange carries: enough segments to see TCP's window at work
/// even on a link that only delays or reorders.
const MIN_BYTES: usize = 64 * 1024;

/// Most an exchange carries: a slow, lossy link still finishes within the
/// clients' time limit (a 1.4% loss needs about this much for
/// [`EXPECTED_DROPS`]; below that the retransmission check is left out).
const MAX_BYTES: usize = 1024 * 1024;

/// Each line of the TCP exchange (with its newline, 64 bytes).
const LINE: &str = "the lab's sentence, sent again and again over a bad link";

/// Bytes for an exchange whose data crosses a link losing `loss` (0–1) of
/// its packets, and whether a retransmission is then certain enough to be
/// checked.
fn size_for(loss: f64) -> (usize, bool) {
    if loss <= 0.0 {
        return (MIN_BYTES, false);
    }
    let wanted = (EXPECTED_DROPS / loss * SEGMENT).ceil();
    if wanted > MAX_BYTES as f64 {
        (MAX_BYTES, false)
    } else {
        // Truncation is fine: `wanted` is at most MAX_BYTES.
        ((wanted as usize).max(MIN_BYTES), true)
    }
}

/// What the relay did in each direction between `before` and `after`.
fn since(before: &Stats, after: &Stats) -> Stats {
    let d = |a: &DirStats, b: &DirStats| DirStats {
        packets: b.packets.saturating_sub(a.packets),
        delivered: b.delivered.saturating_sub(a.delivered),
        dropped: b.dropped.saturating_sub(a.dropped),
        delayed: b.delayed.saturating_sub(a.delayed),
        reordered: b.reordered.saturating_sub(a.reordered),
        duplicated: b.duplicated.saturating_sub(a.duplicated),
        corrupted: b.corrupted.saturating_sub(a.corrupted),
        overflow: b.overflow.saturating_sub(a.overflow),
    };
    Stats {
        to_server: d(&before.to_server, &after.to_server),
        to_client: d(&before.to_client, &after.to_client),
    }
}

/// The count a summary line gives (`  retransmissions: 7 (2 fast), frames
/// …`), 0 when the line is absent.
fn summary_count(out: &[String], name: &str) -> u64 {
    let key = format!("  {name}: ");
    out.iter()
        .filter_map(|l| l.strip_prefix(&key))
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

/// `1 duplicate ACK`, `2 duplicate ACKs`: `plural` is the name of many.
fn counted(n: u64, plural: &str) -> String {
    if n != 1 {
        return format!("{n} {plural}");
    }
    let (first, rest) = plural.split_once(' ').unwrap_or((plural, ""));
    let one = |w: &str| w.strip_suffix('s').unwrap_or(w).to_string();
    if rest.is_empty() {
        format!("1 {}", one(first))
    } else if first == "segments" {
        format!("1 segment {rest}")
    } else {
        // `duplicate ACKs`, `out-of-order segments`: the last word counts.
        let (head, last) = plural.rsplit_once(' ').unwrap_or(("", plural));
        format!("1 {head} {}", one(last))
    }
}

/// What the capture shows of TCP at work, checked in the table, the
/// summary and the diagram; a retransmission required when `expected`.
fn shown(t: &mut Transcript, ctx: &Ctx, name: &str, label: &str, out: &[String], expected: bool) {
    let svg = std::fs::read_to_string(ctx.out_dir.join(format!("{name}.svg"))).unwrap_or_default();
    let text = t.text().to_string();
    let kinds = [
        (
            "retransmissions",
            "retransmission",
            &[
                "[TCP Retransmission]",
                "[TCP Fast Retransmission]",
                "[TCP Spurious Retransmission]",
            ][..],
        ),
        ("duplicate ACKs", "duplicate ACK", &["[TCP Dup ACK "][..]),
        (
            "out-of-order segments",
            "out of order",
            &["[TCP Out-Of-Order]", "not sent before"][..],
        ),
    ];
    let mut found = Vec::new();
    for (summary, mark, tags) in kinds {
        let n = summary_count(out, summary);
        if n == 0 {
            continue;
        }
        found.push(counted(n, summary));
        let in_table = tags.iter().any(|tag| text.contains(tag));
        let in_diagram = svg.contains(&format!("data-analysis=\"{mark}\""));
        t.check(
            in_table && in_diagram,
            format!(
                "the {label} capture's {} {} in the table, the summary and the ladder diagram",
                counted(n, summary),
                if n == 1 { "is" } else { "are" }
            ),
        );
    }
    let resent = summary_count(out, "retransmissions");
    let gaps = summary_count(
        out,
        "segments after a gap (what came before was not captured)",
    );
    if gaps > 0 {
        found.push(counted(gaps, "segments after a gap"));
    }
    let what = if found.is_empty() {
        "nothing to repair".to_string()
    } else {
        found.join(", ")
    };
    if expected {
        t.check(
            resent > 0,
            format!("the {label} capture shows TCP resending what the link lost: {what}"),
        );
    } else {
        t.note(format!("(the {label} capture shows {what})"));
    }
}

/// Notes what the link did while `label` ran.
fn link_note(t: &mut Transcript, label: &str, link: &Link, before: &Stats) {
    let did = since(before, &link.stats());
    t.note(format!(
        "(the link during the {label} exchange: client→server {}; server→client {})",
        did.to_server, did.to_client
    ));
}

pub fn run(ctx: &Ctx, t: &mut Transcript) -> Result<()> {
    let Some(link) = ctx.net.link.as_deref() else {
        t.note("(only over an impaired link: `cargo xtask demo --impair SPEC`)");
        return Ok(());
    };
    if !testkit::is_root() {
        t.note("(skipped: capturing needs root or CAP_NET_RAW)");
        return Ok(());
    }
    let (to_server, to_client) = link.impairment();
    t.note(format!(
        "the link: client→server {}; server→client {}",
        if to_server.is_clean() {
            "clean".to_string()
        } else {
            to_server.to_string()
        },
        if to_client.is_clean() {
            "clean".to_string()
        } else {
            to_client.to_string()
        },
    ));
    tcp_exchange(ctx, t, link, to_server.loss.max(to_client.loss))?;
    web_fetch(ctx, t, link, to_client.loss)?;
    Ok(())
}

/// The TCP uppercase exchange: many lines each way, full duplex.
fn tcp_exchange(ctx: &Ctx, t: &mut Transcript, link: &Link, loss: f64) -> Result<()> {
    let (bytes, expected) = size_for(loss);
    let lines = bytes.div_ceil(LINE.len() + 8);
    let input: String = (1..=lines).map(|i| format!("{i:06} {LINE}\n")).collect();
    let want: String = (1..=lines)
        .map(|i| format!("From Server: {i:06} {}\n", LINE.to_uppercase()))
        .collect();
    let server = ctx.server("tcp-uppercase", &["server", "--port", "0"])?;
    let port = server.port();
    let before = link.stats();
    let mut result = None;
    let out = traced(ctx, t, "07-lossy-tcp", "tcp", &port, true, |_| {
        let run = ctx.client(
            &ctx.bin("tcp-uppercase"),
            &["client", "--host", ctx.host(), "--port", &port],
            input.as_bytes(),
        )?;
        let ok = run.code() == Some(0) && run.stdout_text() == want;
        result = Some((
            run.command.clone(),
            ok,
            run.stdout_text().len(),
            run.stderr_text(),
        ));
        Ok(())
    })?;
    link_note(t, "tcp", link, &before);
    let (command, ok, got, stderr) = result.ok_or_else(|| anyhow!("the tcp client did not run"))?;
    t.command(
        "client",
        format!("{command} < {lines} lines ({} bytes)", input.len()),
    );
    t.output(format!("(typed) {}", input.lines().next().unwrap_or("")));
    t.output(format!("(typed) … {lines} lines in all"));
    t.output(want.lines().next().unwrap_or(""));
    t.output(format!("… {got} bytes of replies"));
    for line in stderr.lines() {
        t.output(format!("(stderr) {line}"));
    }
    t.check(
        ok,
        format!(
            "the TCP exchange crossed the impaired link byte for byte: {lines} lines, {} bytes each way uppercased",
            input.len()
        ),
    );
    shown(t, ctx, "07-lossy-tcp", "tcp", &out, expected);
    Ok(())
}

/// One page of lab notes, `bytes` long, fetched by http-client.
fn web_fetch(ctx: &Ctx, t: &mut Transcript, link: &Link, loss: f64) -> Result<()> {
    let (bytes, expected) = size_for(loss);
    let (root, _) = super::web::site(ctx)?;
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Lab notes</title></head><body>\n",
    );
    let mut n = 0;
    while page.len() < bytes {
        n += 1;
        page.push_str(&format!(
            "<p>Note {n}: every byte of this page crossed a link that loses, delays, reorders and duplicates packets.</p>\n"
        ));
    }
    page.push_str("</body></html>\n");
    std::fs::write(root.join("lab-notes.html"), &page).context("write lab-notes.html")?;
    let root = root.to_string_lossy().to_string();
    let server = ctx.server("http-server", &["--port", "0", "--root", &root, "--quiet"])?;
    let port = server.port();
    let before = link.stats();
    let mut result = None;
    let out = traced(ctx, t, "07-lossy-http", "http", &port, true, |_| {
        let run = ctx.client(
            &ctx.bin("http-client"),
            &["-s", ctx.host(), &port, "lab-notes.html"],
            b"",
        )?;
        let ok = run.code() == Some(0) && run.stdout_text() == page;
        result = Some((
            run.command.clone(),
            ok,
            run.stdout_text().len(),
            run.stderr_text(),
        ));
        Ok(())
    })?;
    link_note(t, "http", link, &before);
    let (command, ok, got, stderr) = result.ok_or_else(|| anyhow!("the fetch did not run"))?;
    t.command("client", &command);
    t.output(page.lines().next().unwrap_or(""));
    t.output(format!("… {got} bytes in all"));
    for line in stderr.lines() {
        t.output(format!("(stderr) {line}"));
    }
    t.check(
        ok,
        format!(
            "the page crossed the impaired link byte for byte: {} bytes",
            page.len()
        ),
    );
    shown(t, ctx, "07-lossy-http", "http", &out, expected);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_grows_with_the_loss_until_the_check_is_left_out() {
        assert_eq!(size_for(0.0), (MIN_BYTES, false));
        // 5%: 200 segments' worth.
        let (bytes, check) = size_for(0.05);
        assert!(check && (285_000..=295_000).contains(&bytes), "{bytes}");
        // 50%: the least is still carried.
        assert_eq!(size_for(0.5), (MIN_BYTES, true));
        // 0.1%: more than the most; nothing is insisted on.
        assert_eq!(size_for(0.001), (MAX_BYTES, false));
    }

    #[test]
    fn counts_read_in_the_singular_and_plural() {
        assert_eq!(counted(1, "retransmissions"), "1 retransmission");
        assert_eq!(counted(2, "retransmissions"), "2 retransmissions");
        assert_eq!(counted(1, "duplicate ACKs"), "1 duplicate ACK");
        assert_eq!(
            counted(1, "out-of-order segments"),
            "1 out-of-order segment"
        );
        assert_eq!(counted(1, "segments after a gap"), "1 segment after a gap");
        assert_eq!(counted(0, "segments after a gap"), "0 segments after a gap");
    }

    #[test]
    fn summary_counts_are_read_back() {
        let out: Vec<String> = [
            "TCP connection 1: client 10.78.0.2:40000 ↔ server 10.78.0.1:13000",
            "  retransmissions: 7 (2 fast), frames 12, 19 and 5 more",
            "  duplicate ACKs: 1, frame 6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(summary_count(&out, "retransmissions"), 7);
        assert_eq!(summary_count(&out, "duplicate ACKs"), 1);
        assert_eq!(summary_count(&out, "out-of-order segments"), 0);
    }
}
