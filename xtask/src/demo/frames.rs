//! A capture's frames as data: what `net-trace read FILE --states
//! --format json` says of each frame of a saved capture, one JSON object
//! a line, for the report's tables.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// One frame of a capture, with the columns net-trace's table shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Frame {
    /// The frame's number in its file, from 1.
    pub no: usize,
    /// Seconds since the capture's first frame.
    pub time: f64,
    pub source: String,
    pub destination: String,
    pub protocol: String,
    /// Bytes on the wire.
    pub length: u64,
    /// `client→server` or `server→client`; none for a frame of no
    /// connection (a neighbour solicitation, say).
    pub direction: Option<String>,
    /// `client` or `server`: which end sent it.
    pub sender: Option<String>,
    /// The process that sent it, when one was proven.
    pub process: Option<Process>,
    /// Each side's TCP state after the frame.
    #[serde(default)]
    pub states: Option<States>,
    /// As Wireshark's Info column, tshark's analysis tags first.
    pub info: String,
    /// tshark's `tcp.analysis.*` names of what the analysis found.
    #[serde(default)]
    pub analysis: Vec<String>,
    /// What the frame is in the exchange (`handshake 1/3 (SYN)`).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A process that sent frames.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}

/// Each side's TCP state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct States {
    pub client: String,
    pub server: String,
}

impl Frame {
    /// The Time column: seconds with microseconds, as the table shows it.
    pub fn time_text(&self) -> String {
        format!("{:.6}", self.time)
    }

    /// The Sent by column: `server (pid 42 udp-chat)`, `client` when no
    /// process was proven, `client's host` for an ICMP error (the
    /// kernel's, not a process's).
    pub fn sent_by(&self) -> String {
        let Some(side) = &self.sender else {
            return String::new();
        };
        if self.protocol.starts_with("ICMP") {
            return format!("{side}'s host");
        }
        match &self.process {
            Some(p) => format!("{side} (pid {} {})", p.pid, p.name),
            None => side.clone(),
        }
    }

    /// The States column: `SYN_SENT / SYN_RECEIVED` (client / server).
    pub fn states_text(&self) -> String {
        self.states
            .as_ref()
            .map(|s| format!("{} / {}", s.client, s.server))
            .unwrap_or_default()
    }

    /// Whether it belongs to a connection (its direction is known).
    pub fn in_connection(&self) -> bool {
        self.direction.is_some()
    }
}

/// One line of net-trace's JSON output: a frame, or something else (a
/// connection's summary) the table does not need.
#[derive(Deserialize)]
struct Record {
    #[serde(rename = "type")]
    kind: String,
}

/// The frames of net-trace's JSON lines.
pub fn parse(json_lines: &str) -> Result<Vec<Frame>> {
    let mut frames = Vec::new();
    for (i, line) in json_lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(line).with_context(|| format!("line {}: not a record", i + 1))?;
        if record.kind == "frame" {
            frames.push(
                serde_json::from_str(line)
                    .with_context(|| format!("line {}: not a frame", i + 1))?,
            );
        }
    }
    Ok(frames)
}

/// Reads the frames of the capture saved in `pcap` with the net-trace
/// binary `net_trace`.
pub fn read(net_trace: &Path, pcap: &Path) -> Result<Vec<Frame>> {
    let file = pcap.to_string_lossy();
    let args = ["read", file.as_ref(), "--states", "--format", "json"];
    let run = testkit::Run::try_run(net_trace, &args, b"", super::CLIENT_TIMEOUT)
        .map_err(|e| anyhow!(e))?;
    if run.code() != Some(0) {
        bail!("net-trace read {file} failed:\n{run}");
    }
    parse(&run.stdout_text()).with_context(|| format!("net-trace read {file} --format json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_from_json_lines_and_the_rest_skipped() {
        let json = r#"{"type":"frame","no":2,"time":0.000122,"epoch":1796537057.611756,"source":"10.78.0.1","source_port":60497,"destination":"10.78.0.2","destination_port":33741,"protocol":"UDP","length":51,"interface":"x.pcapng","connection":1,"direction":"server→client","sender":"server","process":{"pid":12932,"name":"udp-chat","cmd":"udp-chat","args":[]},"states":null,"info":"60497 → 33741 Len=9","analysis":[],"notes":["datagram \"AMRITA 31\""]}
{"type":"frame","no":3,"time":1.5,"epoch":1.0,"source":"fe80::1","source_port":null,"destination":"ff02::1","destination_port":null,"protocol":"ICMPv6","length":86,"interface":"x","connection":null,"direction":null,"sender":null,"process":null,"info":"Neighbor Solicitation","analysis":[],"notes":[]}
{"type":"connection","connection":1,"protocol":"UDP"}
"#;
        let frames = parse(json).unwrap();
        assert_eq!(frames.len(), 2);
        let f = &frames[0];
        assert_eq!((f.no, f.time_text().as_str()), (2, "0.000122"));
        assert_eq!(f.sent_by(), "server (pid 12932 udp-chat)");
        assert_eq!(f.notes, ["datagram \"AMRITA 31\""]);
        assert!(f.in_connection() && f.states_text().is_empty());
        let f = &frames[1];
        assert_eq!(
            (f.time_text().as_str(), f.sent_by()),
            ("1.500000", "".into())
        );
        assert!(!f.in_connection());
        assert!(parse("{\"type\":\"frame\",\"no\":1}").is_err());
        assert!(parse("not json").is_err());
    }
}
