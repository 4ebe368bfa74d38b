//! Where the demo's processes run: all on loopback, or servers in one
//! network namespace and clients in another, joined by a veth pair (the
//! lab's "client and server on different hosts"), or by an impaired link
//! that loses, delays, reorders, duplicates and corrupts packets
//! ([`testkit::impair`]).

use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use anyhow::{Context, Result, bail};
use testkit::impair::{self, Impairment, Link};

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
    /// The impaired link the hosts are joined by, with `--impair`.
    pub link: Option<Arc<Link>>,
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
            link: None,
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
            link: None,
        };
        Ok((hosts, net))
    }

    /// Two hosts joined by an impaired link, `to_server` applied to what the
    /// client host sends and `to_client` to what the server host sends. The
    /// link's relay runs in this process and stops, its namespaces removed,
    /// when the returned [`Net`]'s last handle to it is dropped.
    pub fn create_impaired(
        cleanup: &Cleanup,
        to_server: Impairment,
        to_client: Impairment,
    ) -> Result<Net> {
        if let Err(why) = Link::available() {
            bail!("--impair cannot run here: {why}");
        }
        // A fixed seed: the same impairment gives the same run of choices.
        let link = Link::new(to_server.clone(), to_client.clone(), SEED)
            .context("make the impaired link")?;
        cleanup
            .lock()
            .map_err(|_| anyhow::anyhow!("cleanup list poisoned"))?
            .extend([link.server_ns().to_string(), link.client_ns().to_string()]);
        let (srv, cli) = (link.server_ns().to_string(), link.client_ns().to_string());
        let link = Arc::new(link);
        let _ = LINK.set(Arc::downgrade(&link));
        let what = if to_server == to_client {
            format!("{to_server}, both ways")
        } else {
            format!("{to_server} client→server, {to_client} server→client")
        };
        Ok(Net {
            server_prefix: link.server_prefix(),
            client_prefix: link.client_prefix(),
            host: impair::SERVER_ADDR.into(),
            bind: Some(impair::SERVER_ADDR.into()),
            capture_iface: impair::DEVICE.into(),
            description: format!(
                "two hosts: servers in {srv} ({}), clients in {cli} ({}), joined by an impaired link ({what})",
                impair::SERVER_ADDR,
                impair::CLIENT_ADDR
            ),
            link: Some(link),
        })
    }
}

/// The run's impaired link, for Ctrl-C's report of what it did. Weak, so
/// that the link (and its namespaces) still goes when the demo is done.
static LINK: OnceLock<Weak<Link>> = OnceLock::new();

/// What the run's impaired link has done so far, if there is one.
pub fn link_stats() -> Option<impair::Stats> {
    LINK.get().and_then(Weak::upgrade).map(|l| l.stats())
}

/// The seed of the impaired link's random choices.
const SEED: u64 = 24;

/// Reads `--impair`: one impairment for both directions, or
/// `to-server: SPEC; to-client: SPEC` for each its own (either part may be
/// left out, leaving that direction clean).
pub fn parse_impairment(text: &str) -> Result<(Impairment, Impairment), String> {
    let text = text.trim();
    if !text.contains(':') {
        let imp: Impairment = text.parse().map_err(|e| format!("{e}"))?;
        if imp.is_clean() {
            return Err(NOTHING.into());
        }
        return Ok((imp.clone(), imp));
    }
    let (mut to_server, mut to_client) = (None, None);
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (slot, spec) = if let Some(spec) = part.strip_prefix("to-server:") {
            (&mut to_server, spec)
        } else if let Some(spec) = part.strip_prefix("to-client:") {
            (&mut to_client, spec)
        } else {
            return Err(format!(
                "`{part}`: each part must start with `to-server:` or `to-client:`"
            ));
        };
        if slot.is_some() {
            return Err(format!("`{part}`: that direction is given twice"));
        }
        *slot = Some(spec.parse::<Impairment>().map_err(|e| format!("{e}"))?);
    }
    let (to_server, to_client) = (to_server.unwrap_or_default(), to_client.unwrap_or_default());
    if to_server.is_clean() && to_client.is_clean() {
        return Err(NOTHING.into());
    }
    Ok((to_server, to_client))
}

/// Why an empty impairment is refused.
const NOTHING: &str = "no impairment given: name at least one of loss, delay, reorder, duplicate, corrupt (for a clean link between two hosts, use --hosts)";

/// Those of `names` that `ip netns list` still lists.
pub fn still_there(names: &[String]) -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    names
        .iter()
        .filter(|n| listed.contains(&n.as_str()))
        .cloned()
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_impairment_for_both_ways_or_one_for_each() {
        let (a, b) = parse_impairment("loss 5%, delay 100ms 20ms").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "loss 5%, delay 100ms 20ms");
        let (a, b) = parse_impairment("to-client: duplicate 10%; to-server: loss 1%").unwrap();
        assert_eq!(a.to_string(), "loss 1%");
        assert_eq!(b.to_string(), "duplicate 10%");
        let (a, b) = parse_impairment("to-client: corrupt 1%").unwrap();
        assert!(a.is_clean());
        assert_eq!(b.to_string(), "corrupt 1%");
        for bad in [
            "lose 5%",
            "to-server: loss 1%; to-server: loss 2%",
            "to-server: loss 1%; x",
            "from-server: loss 5%",
            "",
            "loss 0%",
            "to-server: ; to-client:",
        ] {
            assert!(parse_impairment(bad).is_err(), "{bad}");
        }
        for (bad, says) in [
            ("from-server: loss 5%", "must start with `to-server:`"),
            ("", "no impairment given"),
        ] {
            let err = parse_impairment(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
