//! Text output: a tshark-like frame table and a per-connection summary.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::analyze::{Direction, Row, Summary};
use crate::owners::Owner;

/// The table's heading.
pub fn heading() -> String {
    format!(
        "{:>5} {:>10}  {:<15} {:<15} {:<5} {:>6}  {:<14} {:<34} {}",
        "No.", "Time", "Source", "Destination", "Proto", "Length", "Role", "Sent by", "Info"
    )
}

/// `client (pid 4242 tcp-uppercase)`, or just `client`.
pub fn who(side: &str, owner: Option<&Owner>) -> String {
    match owner {
        Some(o) => format!("{side} ({o})"),
        None => side.to_string(),
    }
}

/// One table line.
pub fn row(r: &Row, sender: Option<&Owner>) -> String {
    let mut line = format!(
        "{:>5} {:>10.6}  {:<15} {:<15} {:<5} {:>6}  {:<14} {:<34} {}",
        r.no,
        r.time.as_secs_f64(),
        r.src.ip().to_string(),
        r.dst.ip().to_string(),
        r.protocol,
        r.length,
        r.direction.to_string(),
        who(r.direction.sender(), sender),
        r.info
    );
    if !r.notes.is_empty() {
        let _ = write!(line, "   ← {}", r.notes.join("; "));
    }
    line
}

fn frames_range(nos: &[usize]) -> String {
    match nos {
        [] => String::new(),
        [one] => format!("frame {one}"),
        [first, .., last] => format!("frames {first}–{last}"),
    }
}

fn side(d: Direction) -> &'static str {
    d.sender()
}

/// The summary of one connection; `owner` names the process at an address.
pub fn summary(s: &Summary, owner: &dyn Fn(SocketAddr) -> Option<Owner>) -> String {
    let mut out = String::new();
    let named = |a: SocketAddr| owner(a).map_or(a.to_string(), |o| format!("{a} ({o})"));
    let _ = writeln!(
        out,
        "{} {} {}: client {} ↔ server {}",
        s.protocol,
        if s.protocol == "TCP" {
            "connection"
        } else {
            "flow"
        },
        s.conn,
        named(s.client),
        named(s.server),
    );
    if s.protocol == "TCP" {
        if s.handshake.is_empty() {
            let _ = writeln!(out, "  handshake: not in this capture");
        } else {
            let nos: Vec<usize> = s.handshake.iter().map(|h| h.0).collect();
            let parts: Vec<String> = s
                .handshake
                .iter()
                .map(|(no, what, d)| format!("{no} {what} sent by the {}", side(*d)))
                .collect();
            let complete = if s.handshake.len() == 3 {
                ""
            } else {
                " (incomplete)"
            };
            let _ = writeln!(
                out,
                "  handshake{complete}: {}: {}",
                frames_range(&nos),
                parts.join(", ")
            );
        }
    }
    let _ = writeln!(
        out,
        "  data: {} frame(s); {} bytes client→server, {} bytes server→client",
        s.data_frames.len(),
        s.bytes[0],
        s.bytes[1]
    );
    if s.protocol == "TCP" {
        match &s.close {
            Some(shape) => {
                let nos: Vec<usize> = s.teardown.iter().map(|t| t.0).collect();
                let parts: Vec<String> = s
                    .teardown
                    .iter()
                    .map(|(no, what, d)| format!("{no} {what} sent by the {}", side(*d)))
                    .collect();
                let _ = writeln!(
                    out,
                    "  teardown: {} ({shape}): {}",
                    frames_range(&nos),
                    parts.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "  teardown: not in this capture (still open)");
            }
        }
        if !s.retransmissions.is_empty() {
            let list: Vec<String> = s.retransmissions.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  retransmissions: frames {}", list.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn row_and_summary_text() {
        let r = Row {
            no: 1,
            time: Duration::from_micros(1500),
            src: "127.0.0.1:52581".parse().unwrap(),
            dst: "127.0.0.1:13000".parse().unwrap(),
            protocol: "TCP",
            length: 74,
            conn: 1,
            direction: Direction::ClientToServer,
            info: "52581 → 13000 [SYN] Seq=0 Win=65495 Len=0".into(),
            notes: vec!["handshake 1/3 (SYN)".into()],
        };
        let owner = Owner {
            pid: 4242,
            name: "tcp-uppercase".into(),
            cmd: None,
            args: Vec::new(),
        };
        let line = row(&r, Some(&owner));
        assert!(line.contains("client→server"));
        assert!(line.contains("client (pid 4242 tcp-uppercase)"));
        assert!(line.contains("0.001500"));
        assert!(line.ends_with("[SYN] Seq=0 Win=65495 Len=0   ← handshake 1/3 (SYN)"));

        let s = Summary {
            conn: 1,
            protocol: "TCP",
            client: r.src,
            server: r.dst,
            handshake: vec![
                (1, "SYN", Direction::ClientToServer),
                (2, "SYN-ACK", Direction::ServerToClient),
                (3, "ACK", Direction::ClientToServer),
            ],
            teardown: vec![(6, "FIN-ACK".into(), Direction::ClientToServer)],
            close: Some("half-closed: only the client sent FIN in this capture".into()),
            data_frames: vec![4, 5],
            bytes: [10, 10],
            retransmissions: vec![],
            frames: 6,
        };
        let text = summary(&s, &|a| (a.port() == 13000).then(|| owner.clone()));
        assert!(text.starts_with("TCP connection 1: client 127.0.0.1:52581 ↔ server 127.0.0.1:13000 (pid 4242 tcp-uppercase)"), "{text}");
        assert!(text.contains("handshake: frames 1–3: 1 SYN sent by the client, 2 SYN-ACK sent by the server, 3 ACK sent by the client"));
        assert!(text.contains("teardown: frame 6 (half-closed"));
    }
}
