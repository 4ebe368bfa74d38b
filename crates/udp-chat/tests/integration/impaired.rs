//! The client between two hosts joined by an impaired link (duplication,
//! delay longer than the client's wait, heavy loss): every printed answer
//! is its own line's uppercase, in order; each line left unanswered is
//! reported and makes the exit status 1.

use std::collections::BTreeSet;
use std::time::Duration;

use testkit::impair::{Link, SERVER_ADDR};
use testkit::{Run, Server};

use crate::BIN;

/// Longest a run may take: each case takes well under half of it.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

fn link(impairment: &str, seed: u64) -> Link {
    Link::need(impairment, seed)
}

/// The uppercase server on the link's server host.
fn server(link: &Link) -> Server {
    link.start_server(
        BIN,
        &["server", "--bind", SERVER_ADDR, "--port", "0", "--quiet"],
    )
}

/// `udp-chat client` on the client host, sending `lines`.
fn client(link: &Link, server: &Server, extra: &[&str], lines: &[String]) -> Run {
    let port = server.port();
    let mut args: Vec<String> = link.client_prefix();
    args.extend(
        [BIN, "client", "--host", SERVER_ADDR, "--port", &port]
            .into_iter()
            .chain(extra.iter().copied())
            .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Run::with_timeout(args[0], &args[1..], input.as_bytes(), RUN_DEADLINE)
}

fn lines(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("line {i} of {n}")).collect()
}

/// Checks the run's promise and returns the numbers (from 1) of the lines
/// answered and of those reported unanswered.
fn check(run: &Run, server: &Server, lines: &[String]) -> (Vec<usize>, BTreeSet<usize>) {
    let from = format!("received from {SERVER_ADDR}:{}", server.port());
    let out = run.stdout_text();
    let printed: Vec<&str> = out.lines().collect();
    assert!(printed.len().is_multiple_of(2), "{run}");
    // Every answer is some line's uppercase, each after the last.
    let mut answered = Vec::new();
    for pair in printed.chunks(2) {
        assert_eq!(pair[1], from, "{run}");
        let n = lines
            .iter()
            .position(|l| l.to_uppercase() == pair[0])
            .unwrap_or_else(|| panic!("{:?} answers no line\n{run}", pair[0]))
            + 1;
        assert!(
            answered.last().is_none_or(|&last| n > last),
            "line {n}'s answer printed out of turn\n{run}"
        );
        answered.push(n);
    }
    // Every line missing an answer, and only those, is reported.
    let reported: BTreeSet<usize> = run
        .stderr_text()
        .lines()
        .filter_map(|l| l.strip_prefix("warning: no reply to line "))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let missing: BTreeSet<usize> = (1..=lines.len())
        .filter(|n| !answered.contains(n))
        .collect();
    assert_eq!(missing, reported, "{run}");
    if missing.is_empty() {
        run.assert_success();
    } else {
        run.assert_code(1);
        let last = run.stderr_text().lines().last().unwrap_or("").to_string();
        assert_eq!(
            last,
            format!(
                "error: {} of {} lines got no reply from {SERVER_ADDR}:{}",
                missing.len(),
                lines.len(),
                server.port()
            ),
            "{run}"
        );
    }
    (answered, missing)
}

#[test]
#[ignore = "needs root"]
fn duplication_never_shifts_the_answers() {
    let link = link("duplicate 10%", 24);
    let server = server(&link);
    let lines = lines(200);
    let run = client(&link, &server, &[], &lines);
    let (answered, _) = check(&run, &server, &lines);
    assert_eq!(answered.len(), lines.len(), "{run}");
    let stats = link.stats();
    assert!(
        stats.to_server.duplicated + stats.to_client.duplicated > 0,
        "the link duplicated nothing: {stats}"
    );
}

#[test]
#[ignore = "needs root"]
fn replies_slower_than_the_timeout_are_matched_to_their_lines() {
    // 400 ms there and back, a 150 ms wait: every line is sent three
    // times, and the replies to the resends arrive while later lines wait.
    let link = link("delay 200ms", 24);
    let server = server(&link);
    let lines = lines(30);
    let run = client(
        &link,
        &server,
        &["--timeout", "0.15", "--retries", "3"],
        &lines,
    );
    let (answered, _) = check(&run, &server, &lines);
    assert!(answered.len() >= lines.len() / 2, "{run}");
    assert!(
        run.stderr_text().contains("note: a duplicate of line "),
        "no reply came twice: the case was not exercised\n{run}"
    );
}

#[test]
#[ignore = "needs root"]
fn heavy_loss_reports_unanswered_lines_and_goes_on() {
    // 30% each way: about one line in eight loses all three tries.
    let link = link("loss 30%", 24);
    let server = server(&link);
    let lines = lines(200);
    let run = client(
        &link,
        &server,
        &["--timeout", "0.05", "--retries", "2"],
        &lines,
    );
    let (answered, missing) = check(&run, &server, &lines);
    assert!(!missing.is_empty(), "no line went unanswered\n{run}");
    assert!(answered.len() >= lines.len() / 2, "{run}");
}
