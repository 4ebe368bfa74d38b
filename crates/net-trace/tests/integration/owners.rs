//! Short-lived clients named from kernel events, with their right pids
//! (root only; skipped when tracefs cannot be used).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use net_trace::owners::{Lookup, MAX_WAIT, Method, Options, Owners, Query, Role};

/// Clients of each kind.
const CLIENTS: usize = 30;

/// UDP payload length: unusual, so other traffic on `lo` rarely shares it.
const PAYLOAD: usize = 37;

/// Ethernet + IPv4 + UDP headers on `lo`.
const UDP_OVERHEAD: usize = 14 + 20 + 8;

const PYTHON: &str = "python3";

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Asks until the answer is final, as the capture does.
fn ask(owners: &Owners, q: &Query) -> Lookup {
    let asked = Instant::now();
    loop {
        match owners.lookup(q) {
            Lookup::Pending if asked.elapsed() < MAX_WAIT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Lookup::Pending => return Lookup::Unknown,
            answer => return answer,
        }
    }
}

/// Runs a Python snippet to completion; returns its pid and stdout.
fn run_python(code: &str) -> (u32, String) {
    let child = Command::new(PYTHON)
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{code}: {:?}", out.status);
    (pid, String::from_utf8(out.stdout).unwrap())
}

/// A Python receiver printing each datagram's kernel receive time
/// (`SO_TIMESTAMPNS`, the clock packet captures use): the frame times a
/// capture would ask about. Returns the child, its address, and a thread
/// collecting source port → time.
fn udp_receiver() -> (
    Reaped,
    SocketAddr,
    std::thread::JoinHandle<HashMap<u16, Duration>>,
) {
    let code = format!(
        "import socket, struct, sys\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, 35, 1)\n\
         s.bind(('127.0.0.1', 0))\n\
         print(s.getsockname()[1], flush=True)\n\
         for _ in range({CLIENTS}):\n    \
             data, anc, flags, addr = s.recvmsg(64, 64)\n    \
             sec, nsec = struct.unpack('qq', anc[0][2][:16])\n    \
             print(addr[1], sec, nsec, flush=True)\n"
    );
    let mut child = Command::new(PYTHON)
        .args(["-c", &code])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let collect = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .filter_map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let [port, sec, nsec] = f[..] else {
                    return None;
                };
                Some((
                    u16::try_from(port).ok()?,
                    Duration::new(sec, u32::try_from(nsec).ok()?),
                ))
            })
            .collect()
    });
    (
        Reaped(child),
        SocketAddr::from(([127, 0, 0, 1], port)),
        collect,
    )
}

/// A child killed on drop, so a failing test leaves nothing running.
struct Reaped(std::process::Child);

impl Reaped {
    /// Waits (bounded) for the child to exit by itself, then kills it.
    fn finish(mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.0.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default, Debug)]
struct Tally {
    right: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn check(&mut self, answer: Lookup, pid: u32, what: &str) {
        match answer {
            Lookup::Known(o, _) if o.pid == pid => self.right += 1,
            Lookup::Known(o, m) => self
                .wrong
                .push(format!("{what}: {o} by {m}, expected pid {pid}")),
            _ => {}
        }
    }
}

#[test]
fn short_lived_clients_are_named_and_never_wrongly() {
    if !testkit::is_root() {
        eprintln!("skipped: kernel events need root");
        return;
    }
    if !testkit::installed(PYTHON, "python3") {
        return;
    }
    let owners = Owners::start(&Options::default());
    if owners.method() != Method::Kernel {
        eprintln!("skipped: tracefs is unavailable here");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server: SocketAddr = listener.local_addr().unwrap();
    let acceptor = std::thread::spawn(move || {
        for _ in 0..CLIENTS {
            let (mut s, _) = listener.accept().unwrap();
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    });
    let mut tcp = Tally::default();
    let server_side = Tally::default();
    for i in 0..CLIENTS {
        let start = now();
        let (pid, out) = run_python(&format!(
            "import socket\ns = socket.create_connection(('127.0.0.1', {}))\nprint(s.getsockname()[1])\ns.sendall(b'hello')\ns.close()",
            server.port()
        ));
        let port: u16 = out.trim().parse().unwrap();
        let q = Query {
            tcp: true,
            src: SocketAddr::new(server.ip(), port),
            dst: server,
            time: now(),
            stream_start: start,
            role: Role::Client,
            syn: false,
            len: 66,
            iface: Some("lo".into()),
        };
        tcp.check(
            ask(&owners, &q),
            pid,
            &format!("TCP client {i} port {port}"),
        );
    }
    acceptor.join().unwrap();

    let mut udp_tally = Tally::default();
    let (receiver, udp_addr, stamps) = udp_receiver();
    let payload = "x".repeat(PAYLOAD);
    let mut senders = Vec::new();
    for _ in 0..CLIENTS {
        let (pid, out) = run_python(&format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'{payload}', ('127.0.0.1', {}))\nprint(s.getsockname()[1])",
            udp_addr.port()
        ));
        senders.push((pid, out.trim().parse::<u16>().unwrap()));
    }
    receiver.finish(Duration::from_secs(5));
    let received = stamps.join().unwrap();
    for (i, (pid, port)) in senders.into_iter().enumerate() {
        let Some(time) = received.get(&port) else {
            continue;
        };
        let q = Query {
            tcp: false,
            src: SocketAddr::new(udp_addr.ip(), port),
            dst: udp_addr,
            time: *time,
            stream_start: *time,
            role: Role::Client,
            syn: false,
            len: u32::try_from(PAYLOAD + UDP_OVERHEAD).unwrap(),
            iface: Some("lo".into()),
        };
        udp_tally.check(
            ask(&owners, &q),
            pid,
            &format!("UDP sender {i} port {port}"),
        );
    }
    eprintln!(
        "named: TCP {}/{CLIENTS}, UDP {}/{CLIENTS}, server side {}/{CLIENTS}",
        tcp.right, udp_tally.right, server_side.right
    );
    assert!(tcp.wrong.is_empty(), "{:?}", tcp.wrong);
    assert!(server_side.wrong.is_empty(), "{:?}", server_side.wrong);
    assert!(udp_tally.wrong.is_empty(), "{:?}", udp_tally.wrong);
    assert!(tcp.right >= CLIENTS - 1, "TCP: {tcp:?}");
    assert!(udp_tally.right >= CLIENTS - 1, "UDP: {udp_tally:?}");
    let dir = owners.instance().unwrap().to_path_buf();
    drop(owners);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
