//! Where the demo's processes run: all on loopback, or servers in one
//! network namespace and clients in another, joined by a veth pair (the
//! lab's "client and server on different hosts").

use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

/// Server side address in `--hosts` mode.
pub const SERVER_ADDR: &str = "10.77.0.1";
/// Client side address in `--hosts` mode.
pub const CLIENT_ADDR: &str = "10.77.0.2";

/// How to run a server, a client and a capture.
#[derive(Debug, Clone)]
pub struct Net {
    /// Prepended to every server command (`ip netns exec NS`).
    pub server_prefix: Vec<String>,
    /// Prepended to every client command.
    pub client_prefix: Vec<String>,
    /// The address clients connect to.
    pub host: String,
    /// What servers bind (`--bind`), when not the default loopback.
    pub bind: Option<String>,
    /// The interface a capture on the server side watches.
    pub capture_iface: String,
    /// What this network is, for transcripts.
    pub description: String,
}

impl Net {
    /// Everything on this host's loopback.
    pub fn loopback() -> Net {
        Net {
            server_prefix: Vec::new(),
            client_prefix: Vec::new(),
            host: "127.0.0.1".into(),
            bind: None,
            capture_iface: "lo".into(),
            description: "loopback (127.0.0.1)".into(),
        }
    }
}

/// Two namespaces and a veth pair, removed on drop (and on Ctrl-C).
#[derive(Debug)]
pub struct Hosts {
    names: Vec<String>,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| "cannot run `ip` (install iproute2)".to_string())?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Namespaces to remove if the demo is interrupted.
pub type Cleanup = Arc<Mutex<Vec<String>>>;

impl Hosts {
    /// Creates `netlab-PID-srv` (10.77.0.1/24) and `netlab-PID-cli`
    /// (10.77.0.2/24) joined by a veth pair. Names include the process id so
    /// two runs cannot collide.
    pub fn create(cleanup: &Cleanup) -> Result<(Hosts, Net)> {
        if !testkit::is_root() {
            bail!(
                "--hosts needs root (it creates network namespaces): run `sudo cargo xtask demo --hosts`"
            );
        }
        let pid = std::process::id();
        let srv = format!("netlab-{pid}-srv");
        let cli = format!("netlab-{pid}-cli");
        // Interface names are at most 15 characters.
        let (vs, vc) = (
            format!("nls{}", pid % 1_000_000),
            format!("nlc{}", pid % 1_000_000),
        );
        let hosts = Hosts {
            names: vec![srv.clone(), cli.clone()],
        };
        cleanup
            .lock()
            .map_err(|_| anyhow::anyhow!("cleanup list poisoned"))?
            .extend(hosts.names.clone());
        ip(&["netns", "add", &srv])?;
        ip(&["netns", "add", &cli])?;
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc])?;
        ip(&["link", "set", &vs, "netns", &srv])?;
        ip(&["link", "set", &vc, "netns", &cli])?;
        ip(&[
            "-n",
            &srv,
            "addr",
            "add",
            &format!("{SERVER_ADDR}/24"),
            "dev",
            &vs,
        ])?;
        ip(&[
            "-n",
            &cli,
            "addr",
            "add",
            &format!("{CLIENT_ADDR}/24"),
            "dev",
            &vc,
        ])?;
        for (ns, dev) in [(&srv, &vs), (&cli, &vc)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        let exec = |ns: &str| {
            vec![
                "ip".to_string(),
                "netns".into(),
                "exec".into(),
                ns.to_string(),
            ]
        };
        let net = Net {
            server_prefix: exec(&srv),
            client_prefix: exec(&cli),
            host: SERVER_ADDR.into(),
            bind: Some(SERVER_ADDR.into()),
            capture_iface: vs.clone(),
            description: format!(
                "two hosts: servers in {srv} ({SERVER_ADDR}), clients in {cli} ({CLIENT_ADDR}), joined by {vs}–{vc}"
            ),
        };
        Ok((hosts, net))
    }
}

/// Deletes namespaces (their veth ends go with them).
pub fn remove(names: &[String]) {
    for ns in names {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        remove(&self.names);
    }
}
