//! The servers measured: ours (release builds) and the peers people would
//! use instead, each started on a free loopback port and stopped after.

use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use testkit::Server;

/// A running server under test.
pub enum Proc {
    /// One of ours (or anything printing a readiness line).
    Ours(Server),
    /// A peer without a readiness line, and its process id.
    Peer(Child),
}

/// A server under test and its address.
pub struct Running {
    pub name: String,
    pub addr: SocketAddr,
    pub proc: Proc,
}

impl Running {
    /// Process ids whose memory counts as this server's (nginx: master
    /// and workers).
    pub fn pids(&self) -> Vec<u32> {
        let root = match &self.proc {
            Proc::Ours(s) => s.pid(),
            Proc::Peer(c) => c.id(),
        };
        let mut pids = vec![root];
        pids.extend(children(root));
        pids
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Proc::Peer(c) = &mut self.proc {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(str::to_string))
                .and_then(|rest| {
                    rest.split_whitespace()
                        .nth(1)
                        .and_then(|pp| pp.parse::<u32>().ok())
                })
                == Some(pid)
        })
        .collect()
}

/// Resident memory of `pids`, in MiB.
pub fn rss_mib(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

/// Proportional set size of `pids`, in MiB: each page shared by several
/// processes counted as its share (`Pss` in `/proc/PID/smaps_rollup`).
/// None where the kernel does not say.
pub fn pss_mib(pids: &[u32]) -> Option<f64> {
    let mut kib = 0.0;
    for p in pids {
        let rollup = fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
        kib += rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())?;
    }
    Some(kib / 1024.0)
}

/// Time `pids` (every thread) have spent on a CPU, in nanoseconds
/// (the scheduler's own count, in `/proc/PID/task/TID/schedstat`).
pub fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| fs::read_dir(format!("/proc/{p}/task")).ok())
        .flatten()
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// TCP sockets in TIME_WAIT on the host (`tw` in /proc/net/sockstat;
/// None where there is no such file).
pub fn time_wait_sockets() -> Option<u64> {
    let stat = fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = stat.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let mut fields = tcp.split_whitespace();
    while let Some(name) = fields.next() {
        let value = fields.next()?;
        if name == "tw" {
            return value.parse().ok();
        }
    }
    None
}

/// The most TIME_WAIT sockets the kernel keeps (`tcp_max_tw_buckets`).
pub fn time_wait_limit() -> Option<u64> {
    fs::read_to_string("/proc/sys/net/ipv4/tcp_max_tw_buckets")
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_tcp(addr: SocketAddr) -> Result<()> {
    if testkit::wait_tcp(addr, Duration::from_secs(15)) {
        Ok(())
    } else {
        bail!("nothing started listening on {addr}")
    }
}

pub fn ours(name: &str, bin: &Path, args: &[&str]) -> Result<Running> {
    let server = Server::try_start(bin, args).map_err(|e| anyhow!(e))?;
    Ok(Running {
        name: name.to_string(),
        addr: server.addr(),
        proc: Proc::Ours(server),
    })
}

fn spawn_peer(name: &str, cmd: &mut Command, addr: SocketAddr) -> Result<Running> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let running = Running {
        name: name.to_string(),
        addr,
        proc: Proc::Peer(child),
    };
    wait_tcp(addr)?;
    Ok(running)
}

pub fn nginx_path() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// nginx with 2 workers and sendfile, configured in `dir`, serving `root`.
pub fn nginx(nginx: &Path, dir: &Path, root: &Path) -> Result<Running> {
    let port = free_port()?;
    let d = dir.display();
    let conf = dir.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 2; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             worker_rlimit_nofile 8192;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 75s;\n\
               default_type application/octet-stream;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
            root.display()
        ),
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    spawn_peer(
        "nginx",
        Command::new(nginx).args(["-c", &conf.to_string_lossy(), "-p", &d.to_string()]),
        addr,
    )
}

/// nginx as [`nginx`] does, over TLS (1.2 and 1.3) with a certificate for
/// `localhost` made in `dir` by a CA also made there. Returns the server
/// and the CA's PEM file, for `--cacert`.
pub fn nginx_tls(nginx: &Path, dir: &Path, root: &Path) -> Result<(Running, PathBuf)> {
    fs::create_dir_all(dir)?;
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "netlab bench CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?
        .signed_by(&key, &ca, &ca_key)?;
    let ca_file = dir.join("ca.pem");
    fs::write(&ca_file, ca.pem())?;
    fs::write(dir.join("server.pem"), cert.pem())?;
    fs::write(dir.join("server.key"), key.serialize_pem())?;
    let port = free_port()?;
    let d = dir.display();
    let conf = dir.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 2; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off; sendfile on; tcp_nopush on;\n\
               default_type application/octet-stream;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:{port} ssl; ssl_protocols TLSv1.2 TLSv1.3;\n\
                 ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key; root {}; }}\n}}\n",
            root.display()
        ),
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let running = spawn_peer(
        "nginx (TLS)",
        Command::new(nginx).args(["-c", &conf.to_string_lossy(), "-p", &d.to_string()]),
        addr,
    )?;
    Ok((running, ca_file))
}

/// `python3 -m http.server` serving `root`.
pub fn python_http(root: &Path) -> Result<Running> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    spawn_peer(
        "python http.server",
        Command::new(crate::util::PYTHON)
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(root),
        addr,
    )
}

/// The textbook single-threaded `TCPServer.py`.
pub fn python_tcp(textbook: &Path) -> Result<Running> {
    let script = textbook.join("TCPServer.py");
    let server = Server::try_start(crate::util::PYTHON, &["-u", &script.to_string_lossy(), "0"])
        .map_err(|e| anyhow!(e))?;
    Ok(Running {
        name: "textbook TCPServer.py".into(),
        addr: server.addr(),
        proc: Proc::Ours(server),
    })
}

/// `socat TCP-LISTEN:PORT,fork EXEC:'tr a-z A-Z'`: the usual one-line
/// forking server (a process per connection; `tr` answers at the client's
/// end of stream).
pub fn socat_uppercase() -> Result<Running> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    spawn_peer(
        "socat TCP-LISTEN,fork",
        Command::new("socat").args([
            &format!("TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1,backlog=1024"),
            "EXEC:tr a-z A-Z",
        ]),
        addr,
    )
}

/// udp-chat's uppercase server with its log on and stdout to /dev/null,
/// as a server whose log goes to a file: the port is chosen here (its
/// readiness line goes nowhere) and the first answered datagram says it
/// is up.
pub fn ours_udp_log_to_null(name: &str, bin: &Path) -> Result<Running> {
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(bin)
        .args(["server", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let running = Running {
        name: name.to_string(),
        addr,
        proc: Proc::Peer(child),
    };
    wait_udp(addr)?;
    Ok(running)
}

/// Waits (bounded) until a datagram to `addr` is answered.
fn wait_udp(addr: SocketAddr) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.connect(addr)?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 16];
    while Instant::now() < deadline {
        if s.send(b"up?").is_ok() && s.recv(&mut buf).is_ok() {
            return Ok(());
        }
        // Refused before it binds: the loop's pace is the sleep.
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing answered on {addr} (udp)")
}

/// A bare `recv_from`/`send_to` uppercase loop: the kernel's floor.
pub fn bare_udp(xtask: &Path) -> Result<Running> {
    let server = Server::try_start(xtask, &["udp-bare"]).map_err(|e| anyhow!(e))?;
    Ok(Running {
        name: "bare recv_from/send_to loop".into(),
        addr: server.addr(),
        proc: Proc::Ours(server),
    })
}

/// The hidden `cargo xtask udp-bare` task: the bare loop itself.
pub fn serve_bare_udp() -> Result<()> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    println!("listening on {} (udp)", socket.local_addr()?);
    let mut buf = [0u8; 65_536];
    loop {
        let (n, peer) = socket.recv_from(&mut buf)?;
        buf[..n].make_ascii_uppercase();
        let _ = socket.send_to(&buf[..n], peer);
    }
}

/// The textbook TCP server's own shape in Rust (see
/// [`serve_textbook_shape`]): what a server pays that closes after one
/// `recv` instead of reading to its client's end of stream.
pub fn textbook_shape_tcp(xtask: &Path) -> Result<Running> {
    let server = Server::try_start(xtask, &["tcp-textbook-shape"]).map_err(|e| anyhow!(e))?;
    Ok(Running {
        name: TEXTBOOK_SHAPE.into(),
        addr: server.addr(),
        proc: Proc::Ours(server),
    })
}

/// The name of [`textbook_shape_tcp`] in the report.
pub const TEXTBOOK_SHAPE: &str = "TCPServer.py's shape in Rust";

/// The hidden `cargo xtask tcp-textbook-shape` task: `TCPServer.py` line
/// for line in Rust — one thread; accept, one `recv`, reply, close — with
/// the textbook's backlog widened so that no SYN is dropped. Not a stream
/// server (input after the first `recv` is lost, a second line gets a
/// reset): a reference for the rate that closing first allows, which a
/// server that must read to the client's end of stream cannot reach.
pub fn serve_textbook_shape() -> Result<()> {
    let listener = net_core::sock::tcp_listener("127.0.0.1:0".parse()?)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    textbook_shape(&listener)
}

/// [`serve_textbook_shape`]'s loop.
fn textbook_shape(listener: &TcpListener) -> Result<()> {
    use std::io::{Read, Write};
    let mut buf = [0u8; 1024];
    loop {
        let Ok((mut conn, _)) = listener.accept() else {
            continue;
        };
        let n = conn.read(&mut buf).unwrap_or(0);
        buf[..n].make_ascii_uppercase();
        let _ = conn.write(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    // Test code: an unwrap is an assertion with the error shown.
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_textbook_shape_answers_one_recv_and_closes() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || textbook_shape(&listener));
        for sentence in ["tanmayi amrita 31", "second client"] {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(sentence.as_bytes()).unwrap();
            let mut reply = String::new();
            // Its close ends the reply: read_to_string returns.
            s.read_to_string(&mut reply).unwrap();
            assert_eq!(reply, sentence.to_uppercase());
        }
    }

    #[test]
    fn nginx_tls_serves_with_the_certificate_it_was_given() {
        let Some(nginx) = nginx_path() else {
            testkit::skip("nginx is not installed (apt-get install nginx-light)");
            return;
        };
        if !crate::util::have("curl", "--version") {
            testkit::skip("curl is not installed (apt-get install curl)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("netlab-bench-tls-{}", std::process::id()));
        let root = dir.join("www");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("x.txt"), "over TLS\n").unwrap();
        let (server, ca) = nginx_tls(&nginx, &dir.join("tls"), &root).unwrap();
        let out = Command::new("curl")
            .args([
                "-s",
                "--cacert",
                &ca.to_string_lossy(),
                &format!("https://localhost:{}/x.txt", server.addr.port()),
            ])
            .output()
            .unwrap();
        drop(server);
        let _ = fs::remove_dir_all(&dir);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"over TLS\n");
    }
}
