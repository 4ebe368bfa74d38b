//! Socket owners from `/proc`: `/proc/net/{tcp,tcp6,udp,udp6}` give each
//! socket's inode, and `/proc/PID/fd/*` link to `socket:[INODE]`.
//!
//! Only what /proc proves: a connected socket by its exact 4-tuple; a
//! listening or unconnected socket only for its own local address and only
//! when it has no peer; a socket held by several processes is nobody's.
//! Another network namespace's sockets are looked at only for addresses
//! that namespace owns and that are not loopback (every namespace has its
//! own 127.0.0.1; the capture's is ours).
//!
//! Linux only; elsewhere nothing is found.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Owner, canonical};

/// One line of `/proc/net/tcp` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketEntry {
    /// Local address.
    pub(crate) local: SocketAddr,
    /// Remote address (unspecified for listeners and unconnected sockets).
    pub(crate) remote: SocketAddr,
    /// TCP state (`0A` is LISTEN); UDP sockets show 07 or 01.
    pub(crate) state: u8,
    /// Socket inode (0 for sockets no process holds, like TIME_WAIT).
    pub(crate) inode: u64,
}

/// `TCP_LISTEN` in `/proc/net/tcp`'s `st` column.
const LISTEN: u8 = 0x0A;

/// Parses an address as `/proc/net/*` writes it: `0100007F:3A98`, or 32
/// hex digits for IPv6, each 32-bit word in host byte order.
pub(crate) fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
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
pub(crate) fn parse_proc_net(text: &str) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(SocketEntry {
                local: parse_proc_addr(f.get(1)?)?,
                remote: parse_proc_addr(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Local addresses a namespace owns, from its `fib_trie` (`/32 host
/// LOCAL` entries) and `if_inet6`.
pub(crate) fn parse_local_addresses(fib_trie: &str, if_inet6: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = t.parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !out.contains(&IpAddr::V4(ip))
        {
            out.push(IpAddr::V4(ip));
        }
    }
    for line in if_inet6.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let mut bytes = [0u8; 16];
        let ok = bytes.iter_mut().enumerate().all(|(i, b)| {
            hex.get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map(|v| *b = v)
                .is_some()
        });
        if ok {
            out.push(IpAddr::V6(Ipv6Addr::from(bytes)));
        }
    }
    out
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

/// The socket that proves `local → remote` among `entries`: the connected
/// one with that exact 4-tuple, else the one peer-less socket bound to
/// `local` (exactly, or to the wildcard of its family), if only one is.
pub(crate) fn proving_socket(
    entries: &[SocketEntry],
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<u64> {
    let live = || entries.iter().filter(|e| e.inode != 0);
    // Several sockets connected with one 4-tuple (SO_REUSEPORT, or
    // another namespace's lo): none of them proves the frame.
    let exact: Vec<&SocketEntry> = live()
        .filter(|e| same(e.local, local) && same(e.remote, remote))
        .collect();
    match exact[..] {
        [one] => return Some(one.inode),
        [] => {}
        _ => return None,
    }
    let unconnected: Vec<&SocketEntry> = live()
        .filter(|e| {
            e.remote.ip().is_unspecified()
                && e.remote.port() == 0
                && e.local.port() == local.port()
                && (same(e.local, local) || e.local.ip().is_unspecified())
        })
        .collect();
    match unconnected[..] {
        [one] => Some(one.inode),
        _ => None,
    }
}

/// The owner of the socket sending `local → remote`, proven by /proc;
/// for TCP only a connected socket or a listener counts.
#[cfg(target_os = "linux")]
pub(crate) fn find(tcp: bool, local: SocketAddr, remote: SocketAddr) -> Option<Owner> {
    let inode = namespaces_for(local.ip())
        .iter()
        .find_map(|root| socket_in(root, tcp, local, remote))?;
    let owner = sole_holder(inode);
    log::debug!("{local} → {remote}: socket inode {inode}, owner {owner:?}");
    owner
}

/// Elsewhere /proc does not exist.
#[cfg(not(target_os = "linux"))]
pub(crate) fn find(_tcp: bool, _local: SocketAddr, _remote: SocketAddr) -> Option<Owner> {
    None
}

#[cfg(target_os = "linux")]
fn socket_in(root: &str, tcp: bool, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let mut entries = entries_in(root, tcp);
    if tcp {
        // A TCP socket without a peer proves only if it listens.
        entries.retain(|e| !e.remote.ip().is_unspecified() || e.state == LISTEN);
    }
    proving_socket(&entries, local, remote)
}

#[cfg(target_os = "linux")]
fn entries_in(root: &str, tcp: bool) -> Vec<SocketEntry> {
    let files: &[&str] = if tcp {
        &["tcp", "tcp6"]
    } else {
        &["udp", "udp6"]
    };
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("{root}/{f}")).ok())
        .flat_map(|t| parse_proc_net(&t))
        .collect()
}

/// `net` directories to search for a socket at `ip`: ours always; another
/// namespace's only if it owns `ip`, which loopback never proves.
#[cfg(target_os = "linux")]
fn namespaces_for(ip: IpAddr) -> Vec<String> {
    let mut roots = vec![String::from("/proc/net")];
    let ip = canonical(ip);
    if ip.is_loopback() || ip.is_unspecified() {
        return roots;
    }
    let owning: Vec<String> = other_namespaces()
        .into_iter()
        .filter(|root| {
            let fib = std::fs::read_to_string(format!("{root}/fib_trie")).unwrap_or_default();
            let v6 = std::fs::read_to_string(format!("{root}/if_inet6")).unwrap_or_default();
            parse_local_addresses(&fib, &v6)
                .into_iter()
                .any(|a| canonical(a) == ip)
        })
        .collect();
    roots.extend(owning);
    roots
}

/// `/proc/PID/net` for one process of every network namespace but ours.
#[cfg(target_os = "linux")]
fn other_namespaces() -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    if let Ok(own) = std::fs::read_link("/proc/self/ns/net") {
        seen.insert(own);
    }
    pids()
        .into_iter()
        .filter_map(|pid| {
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
            seen.insert(ns).then(|| format!("/proc/{pid}/net"))
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc").map_or_else(
        |_| Vec::new(),
        |dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        },
    )
}

/// Every process holding socket `inode`.
#[cfg(target_os = "linux")]
fn holders(inode: u64) -> Vec<u32> {
    let target = format!("socket:[{inode}]");
    pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
                })
            })
        })
        .collect()
}

/// The one process holding `inode`; none when shared (a prefork server's
/// listener) or gone.
#[cfg(target_os = "linux")]
fn sole_holder(inode: u64) -> Option<Owner> {
    match holders(inode)[..] {
        [pid] => describe(pid),
        _ => None,
    }
}

/// Listening TCP sockets of our namespace, with every process holding each.
#[cfg(target_os = "linux")]
pub(crate) fn listeners() -> Vec<super::evidence::InitialListener> {
    entries_in("/proc/net", true)
        .into_iter()
        .filter(|e| e.state == LISTEN && e.inode != 0)
        .map(|e| super::evidence::InitialListener {
            local: e.local,
            holders: holders(e.inode).into_iter().filter_map(describe).collect(),
        })
        .collect()
}

/// Elsewhere there are none to find.
#[cfg(not(target_os = "linux"))]
pub(crate) fn listeners() -> Vec<super::evidence::InitialListener> {
    Vec::new()
}

/// A live process as /proc describes it: name from `comm` (the main
/// thread's, the program's), path from `exe`, arguments from `cmdline`.
pub(crate) fn describe(pid: u32) -> Option<Owner> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let cmd = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Some(Owner {
        pid,
        name: name.trim().to_string(),
        cmd,
        args: args(pid),
    })
}

/// A live process's arguments after the program (empty once it is gone).
pub(crate) fn args(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline")).map_or_else(
        |_| Vec::new(),
        |raw| {
            raw.split(|b| *b == 0)
                .skip(1)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        },
    )
}

/// The process a task belongs to (`Tgid` in its status), while it lives.
pub(crate) fn tgid(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The parent of a live process.
pub(crate) fn parent(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

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
        let text = format!(
            "{HEAD}   0: 0100007F:32C8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n"
        );
        let e = parse_proc_net(&text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].local, "127.0.0.1:13000".parse().unwrap());
        assert_eq!(e[0].state, LISTEN);
        assert_eq!(e[0].inode, 123_456);
    }

    fn entry(local: &str, remote: &str, inode: u64) -> SocketEntry {
        SocketEntry {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state: 1,
            inode,
        }
    }

    #[test]
    fn only_the_exact_tuple_or_a_peerless_socket_proves() {
        let c: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "127.0.0.1:13000".parse().unwrap();
        // A decoy on the same local port towards another server.
        let decoy = [entry("127.0.0.1:40000", "127.0.0.1:9999", 7)];
        assert_eq!(proving_socket(&decoy, c, s), None);
        let exact = [
            decoy[0].clone(),
            entry("127.0.0.1:40000", "127.0.0.1:13000", 8),
        ];
        assert_eq!(proving_socket(&exact, c, s), Some(8));
        // Two connected with that very tuple (SO_REUSEPORT): neither.
        let reused = [
            exact[1].clone(),
            entry("127.0.0.1:40000", "127.0.0.1:13000", 11),
        ];
        assert_eq!(proving_socket(&reused, c, s), None);
        let bound = [entry("0.0.0.0:40000", "0.0.0.0:0", 9)];
        assert_eq!(proving_socket(&bound, c, s), Some(9));
        // Two sockets bound to the port (SO_REUSEPORT): neither proves.
        let two = [bound[0].clone(), entry("127.0.0.1:40000", "0.0.0.0:0", 10)];
        assert_eq!(proving_socket(&two, c, s), None);
    }

    #[test]
    fn namespace_addresses() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.0.1\n        /32 host LOCAL\n     |-- 10.0.0.255\n        /32 link BROADCAST\nLocal:\n     |-- 10.0.0.1\n        /32 host LOCAL\n";
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            parse_local_addresses(fib, v6),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Other tests of this binary start programs (tshark, tcpdump): a
        // child holds a copy of every descriptor from its fork to its
        // exec, and a socket held twice proves no owner. That window
        // passes; a wrong answer would not.
        let owner = (0..100)
            .find_map(|_| find(true, addr, "127.0.0.1:1".parse().unwrap()))
            .expect("our listener");
        assert_eq!(owner.pid, std::process::id());
    }
}
