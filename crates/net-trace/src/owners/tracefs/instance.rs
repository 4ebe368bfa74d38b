//! The private tracing instance: created with only the events owner proof
//! needs and their filters, removed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::mount::{mount_private, remove_stale_mounts, unmount};
use super::{TRACEFS, Unavailable, io_err};

/// The instance name's prefix; the pid follows.
const PREFIX: &str = "net-trace-";

/// Events the owner table reads.
pub(super) const EVENTS: [&str; 6] = [
    "sock/inet_sock_set_state",
    // A sending socket's ports: each send of an unconnected UDP socket and
    // each connect routes its flow in the process that owns the socket.
    "fib/fib_table_lookup",
    // Each UDP or TCP send system call, with its socket and length:
    // confirms a datagram's sender, and shows who else sends on a TCP
    // socket (a child, or a process the socket was handed to).
    "sock/sock_send_length",
    // Task creations, execs and exits: which process each task is.
    "task/task_newtask",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
];

/// IPv6 route lookups: enabled when the kernel has IPv6.
pub(super) const OPTIONAL_IPV6: &str = "fib6/fib6_table_lookup";

/// A kernel-side filter keeping records whose local or remote port is one
/// of `ports` (`None` for all).
fn port_filter(ports: &[u16]) -> Option<String> {
    let mut unique = ports.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let terms: Vec<String> = unique
        .iter()
        .map(|p| format!("sport == {p} || dport == {p}"))
        .collect();
    (!terms.is_empty()).then(|| format!("({})", terms.join(" || ")))
}

/// The kernel-side filter of send records: UDP and TCP, bytes sent.
const SEND_FILTER: &str = "(protocol == 17 || protocol == 6) && ret > 0";

/// The kernel-side filter of route-lookup records.
const ROUTE_FILTER: &str = "sport != 0 && dport != 0 && (proto == 6 || proto == 17)";

/// Per-CPU ring size (KiB) unless told otherwise: bursts of a few thousand
/// frames a second fit while the reader catches up.
pub const RING_KB: u32 = 8192;

/// The instance: created by [`Instance::create`], removed on drop.
#[derive(Debug)]
pub(crate) struct Instance {
    dir: PathBuf,
}

/// Instances of this process alive, and the private mount of tracefs this
/// process made, if it made one (the last instance to go unmounts it).
static USERS: Mutex<(usize, Option<PathBuf>)> = Mutex::new((0, None));

/// Numbers a process's second and later instances (`net-trace-PID-N`).
static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Instance {
    /// Mounts tracefs if needed, removes dead runs' instances, and creates
    /// and configures ours.
    pub(crate) fn create(ports: &[u16], ring_kb: u32) -> Result<Self, Unavailable> {
        let mut users = USERS
            .lock()
            .map_err(|_| Unavailable("a previous start panicked".into()))?;
        remove_stale_mounts();
        let root = match &users.1 {
            _ if Path::new(TRACEFS).join("instances").is_dir() => PathBuf::from(TRACEFS),
            Some(own) => own.clone(),
            None => {
                let own = mount_private()?;
                users.1 = Some(own.clone());
                own
            }
        };
        remove_stale(&root);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let name = match serial {
            0 => format!("{PREFIX}{}", std::process::id()),
            n => format!("{PREFIX}{}-{n}", std::process::id()),
        };
        let dir = root.join("instances").join(name);
        if let Err(e) = fs::create_dir(&dir) {
            if users.0 == 0
                && let Some(own) = users.1.take()
            {
                unmount(&own);
            }
            return Err(io_err("create", &dir, &e));
        }
        users.0 += 1;
        drop(users);
        // From here the guard exists: a failure below removes the instance.
        let instance = Self { dir };
        instance.configure(ports, ring_kb)?;
        Ok(instance)
    }

    fn configure(&self, ports: &[u16], ring_kb: u32) -> Result<(), Unavailable> {
        self.write("tracing_on", "0")?;
        self.write("trace_clock", "mono")?;
        self.write("buffer_size_kb", &ring_kb.max(1).to_string())?;
        // `poll` on a ring says "readable" as soon as it holds a record,
        // not once it is half full (the default): the reader gathers
        // records itself (see `reader::GATHER`). Older kernels lack the
        // file and wake on any record anyway.
        let _ = self.write("buffer_percent", "0");
        // Only sends that sent something tell anything; without the
        // filter the capture would still work, with a busier ring.
        let _ = self.write("events/sock/sock_send_length/filter", SEND_FILTER);
        // Only lookups with both ports (a socket's, not a forwarded or
        // received packet's) of TCP and UDP are worth the ring's room.
        // With ports to watch, sockets and routes of other ports are
        // never recorded. Both filters are best effort: without them the
        // records are only more numerous.
        let on_ports = port_filter(ports);
        let routes = match &on_ports {
            Some(p) => format!("{ROUTE_FILTER} && {p}"),
            None => ROUTE_FILTER.to_string(),
        };
        for fib in ["fib/fib_table_lookup", OPTIONAL_IPV6] {
            let _ = self.write(&format!("events/{fib}/filter"), &routes);
        }
        if let Some(p) = &on_ports {
            let _ = self.write("events/sock/inet_sock_set_state/filter", p);
        }
        for e in EVENTS {
            self.write(&format!("events/{e}/enable"), "1")?;
        }
        // Without IPv6 in the kernel, its route lookups are simply absent.
        let _ = self.write(&format!("events/{OPTIONAL_IPV6}/enable"), "1");
        self.write("tracing_on", "1")
    }

    fn write(&self, file: &str, value: &str) -> Result<(), Unavailable> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(|e| io_err("write", &path, &e))
    }

    /// The instance's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Disabling first lets the removal succeed even if a reader lags.
        let _ = fs::write(self.dir.join("tracing_on"), "0");
        if let Err(e) = fs::remove_dir(&self.dir) {
            log::warn!("cannot remove {}: {e}", self.dir.display());
        }
        if let Ok(mut users) = USERS.lock() {
            users.0 = users.0.saturating_sub(1);
            if users.0 == 0
                && let Some(own) = users.1.take()
            {
                unmount(&own);
            }
        }
    }
}

/// Removes `net-trace-PID` instances whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(dir) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::write(entry.path().join("tracing_on"), "0");
            let _ = fs::remove_dir(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filters() {
        assert_eq!(port_filter(&[]), None);
        assert_eq!(
            port_filter(&[13000, 80, 13000]).as_deref(),
            Some("(sport == 80 || dport == 80 || sport == 13000 || dport == 13000)")
        );
    }
}
