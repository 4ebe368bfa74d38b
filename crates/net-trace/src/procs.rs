//! Which process owns a local socket: `/proc/net/{tcp,tcp6,udp,udp6}` give
//! each socket's inode, and `/proc/PID/fd/*` link to `socket:[INODE]`.
//!
//! Linux only; elsewhere nothing is attributed.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Program name (`/proc/PID/comm`).
    pub name: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} {}", self.pid, self.name)
    }
}

/// One line of `/proc/net/tcp` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (unspecified for listeners).
    pub remote: SocketAddr,
    /// Socket inode (0 for sockets no process holds, like TIME_WAIT).
    pub inode: u64,
}

/// Parses an address as `/proc/net/*` writes it: `0100007F:3A98`, or 32
/// hex digits for IPv6, each 32-bit word in host byte order.
pub fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses the text of a `/proc/net/{tcp,udp}[6]` file.
pub fn parse_proc_net(text: &str) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(SocketEntry {
                local: parse_proc_addr(f.get(1)?)?,
                remote: parse_proc_addr(f.get(2)?)?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Finds socket owners, caching what it learns.
#[derive(Debug, Default)]
pub struct Procs {
    owners: HashMap<(bool, SocketAddr, SocketAddr), Option<Owner>>,
}

impl Procs {
    /// A resolver with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process owning the socket at `local` talking to `remote`: the
    /// connected socket if there is one, else a listener on the port (the
    /// server process that accepted the connection). `None` when the socket
    /// is gone (the process exited) or not on this host.
    pub fn owner(&mut self, tcp: bool, local: SocketAddr, remote: SocketAddr) -> Option<Owner> {
        if let Some(found) = self.owners.get(&(tcp, local, remote)) {
            return found.clone();
        }
        let found = find_owner(tcp, local, remote);
        // Remember successes; retry failures next time (the socket may not
        // have been listed yet), but not forever.
        if found.is_some() || self.owners.len() < 10_000 {
            self.owners.insert((tcp, local, remote), found.clone());
        }
        found
    }
}

#[cfg(target_os = "linux")]
fn find_owner(tcp: bool, local: SocketAddr, remote: SocketAddr) -> Option<Owner> {
    // Our own network namespace first; then the others on this machine
    // (the demo's two hosts are namespaces), each seen through one of its
    // processes' /proc/PID/net. Socket inodes are machine-wide, so the fd
    // scan finds the owner whichever namespace the socket lives in.
    let inode = socket_inode("/proc/net", tcp, local, remote).or_else(|| {
        other_namespaces()
            .iter()
            .find_map(|root| socket_inode(root, tcp, local, remote))
    })?;
    let owner = owner_of_inode(inode);
    log::debug!("{local} → {remote}: socket inode {inode}, owner {owner:?}");
    owner
}

/// The socket at `local` (talking to `remote`, or listening) in the
/// namespace whose `net` directory is `root`.
#[cfg(target_os = "linux")]
fn socket_inode(root: &str, tcp: bool, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let files: &[&str] = if tcp {
        &["tcp", "tcp6"]
    } else {
        &["udp", "udp6"]
    };
    let entries: Vec<SocketEntry> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("{root}/{f}")).ok())
        .flat_map(|t| parse_proc_net(&t))
        .collect();
    let same = |a: SocketAddr, b: SocketAddr| {
        a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
    };
    let exact = entries
        .iter()
        .find(|e| e.inode != 0 && same(e.local, local) && same(e.remote, remote));
    let bound = entries.iter().find(|e| {
        e.inode != 0
            && e.local.port() == local.port()
            && (same(e.local, local) || e.local.ip().is_unspecified())
    });
    exact.or(bound).map(|e| e.inode)
}

/// `/proc/PID/net` for one process of every network namespace but ours.
#[cfg(target_os = "linux")]
fn other_namespaces() -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    if let Ok(own) = std::fs::read_link("/proc/self/ns/net") {
        seen.insert(own);
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
            seen.insert(ns).then(|| format!("/proc/{pid}/net"))
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn find_owner(_tcp: bool, _local: SocketAddr, _remote: SocketAddr) -> Option<Owner> {
    None
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(target_os = "linux")]
fn owner_of_inode(inode: u64) -> Option<Owner> {
    let target = format!("socket:[{inode}]");
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Newest first: the lab's clients are short-lived and recent.
    pids.sort_unstable_by(|a, b| b.cmp(a));
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                return Some(Owner { pid, name });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:3A98"),
            Some("127.0.0.1:15000".parse().unwrap())
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:1A85"),
            Some("[::1]:6789".parse().unwrap())
        );
        assert_eq!(parse_proc_addr("zz:1"), None);
    }

    #[test]
    fn proc_net_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:32C8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n";
        let e = parse_proc_net(text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].local, "127.0.0.1:13000".parse().unwrap());
        assert_eq!(e[0].inode, 123_456);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let owner = Procs::new()
            .owner(true, addr, "127.0.0.1:1".parse().unwrap())
            .expect("our listener is listed");
        assert_eq!(owner.pid, std::process::id());
    }
}
