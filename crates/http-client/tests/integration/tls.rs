//! `https://` against nginx with certificates made here (rcgen): a CA
//! and the server certificates it signs, one of them expired. Each case
//! is run with curl too, when it is installed, and must end the same.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{CertificateParams, DnType, IsCa, KeyPair};
use testkit::Run;

use crate::BIN;

/// nginx, stopped on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// Its configuration, certificates and files.
    pub dir: tempfile::TempDir,
    /// The ports of the `server` blocks, in order.
    pub ports: Vec<u16>,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// Starts nginx with one `server` block per entry of `servers`, each
    /// given its `listen` port as `{port}` and `{dir}` for the directory,
    /// with `www/` under it as the root. For tests marked
    /// `#[ignore = "needs nginx"]`: fails the test when nginx is not
    /// installed.
    pub fn start(http_extra: &str, servers: &[&str], files: &[(&str, &[u8])]) -> Nginx {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(nginx) = nginx else {
            panic!(
                "nginx is not installed: `apt-get install nginx-light`, or leave this ignored test out"
            );
        };
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir(&www).unwrap();
        for (name, data) in files {
            std::fs::write(www.join(name), data).unwrap();
        }
        let p = dir.path().display().to_string();
        let mut ports = Vec::new();
        let mut blocks = String::new();
        for server in servers {
            let port = free_port();
            ports.push(port);
            let body = server
                .replace("{port}", &port.to_string())
                .replace("{dir}", &p);
            blocks.push_str(&format!("server {{ root {p}/www; {body} }}\n"));
        }
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off; master_process off; worker_processes 1; pid {p}/nginx.pid; error_log {p}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {p}; proxy_temp_path {p}; fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
                 {http_extra}\n{blocks} }}\n"
            ),
        )
        .unwrap();
        let child = Command::new(nginx)
            .args(["-c", conf.to_str().unwrap(), "-p", &p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx { child, dir, ports };
        for &port in &nginx.ports {
            assert!(
                testkit::wait_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(15)),
                "nginx did not start: {}",
                std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
            );
        }
        nginx
    }

    /// A file in its directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Certificates for the tests, as PEM files in `dir`: `ca.pem` (the
/// issuer), `good.pem`/`good.key` (localhost, signed by it),
/// `expired.pem`/`expired.key` (localhost, expired a year ago), and
/// `selfsigned.pem`/`selfsigned.key` (a CA certificate serving as its own
/// server certificate, as `openssl req -x509` makes them).
pub fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "netlab test CA");
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();

    let leaf = |name: &str, expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    leaf("good", false);
    leaf("expired", true);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("selfsigned.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("selfsigned.key"), key.serialize_pem()).unwrap();
}

/// nginx serving `hello.txt` over TLS with the good certificate, the
/// expired one and the self-signed one (ports 0, 1, 2), and plain HTTP
/// redirecting to the first (port 3).
pub fn tls_nginx() -> Nginx {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let c = certs.path().display().to_string();
    let tls = |name: &str| {
        format!(
            "listen 127.0.0.1:{{port}} ssl; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate {c}/{name}.pem; ssl_certificate_key {c}/{name}.key;"
        )
    };
    let (good, expired, selfsigned) = (tls("good"), tls("expired"), tls("selfsigned"));
    let nginx = Nginx::start(
        "",
        &[
            &format!("{good} location /back {{ return 302 http://localhost:$arg_to/hello.txt; }}"),
            &expired,
            &selfsigned,
            "listen 127.0.0.1:{port}; location /secure { return 301 https://localhost:$arg_to/hello.txt; }",
        ],
        &[("hello.txt", b"hello over TLS\n")],
    );
    for f in ["ca.pem", "selfsigned.pem"] {
        std::fs::copy(certs.path().join(f), nginx.path(f)).unwrap();
    }
    nginx
}

/// Runs curl with the same arguments, when it is installed (see
/// [`testkit::peers::available`]).
pub fn curl(args: &[&str]) -> Option<Run> {
    testkit::peers::available("curl", "curl").then(|| Run::new("curl", args, b""))
}

/// Runs ours and curl with `args`; both must exit `code`; ours must print
/// `body` when it is given. Returns our run.
fn both(args: &[&str], code: i32, body: Option<&[u8]>) -> Run {
    let ours = Run::new(BIN, args, b"");
    ours.assert_code(code);
    if let Some(body) = body {
        assert_eq!(ours.stdout, body, "{ours}");
    }
    if let Some(theirs) = curl(args) {
        assert_eq!(theirs.code(), Some(code), "curl ends otherwise:\n{theirs}");
        assert_eq!(
            theirs.stdout, ours.stdout,
            "curl prints otherwise:\n{theirs}"
        );
    }
    ours
}

#[test]
#[ignore = "needs nginx"]
fn https_as_curl_for_every_certificate() {
    let nginx = tls_nginx();
    let ca = nginx.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let url = |i: usize, host: &str| format!("https://{host}:{}/hello.txt", nginx.ports[i]);
    let body = &b"hello over TLS\n"[..];

    // Trusted through --cacert.
    both(&["-s", "--cacert", ca, &url(0, "localhost")], 0, Some(body));
    // Not trusted: the test CA is in no system store.
    let r = both(&["-s", &url(0, "localhost")], 60, Some(b""));
    assert!(r.stderr_text().contains("unknown issuer"), "{r}");
    // Another name than the certificate's.
    let r = both(&["-s", "--cacert", ca, &url(0, "127.0.0.1")], 60, Some(b""));
    assert!(r.stderr_text().contains("not valid for the name"), "{r}");
    // Expired.
    let r = both(&["-s", "--cacert", ca, &url(1, "localhost")], 60, Some(b""));
    assert!(r.stderr_text().contains("expired"), "{r}");
    // -k takes any of them.
    both(&["-s", "-k", &url(1, "127.0.0.1")], 0, Some(body));
    both(&["-s", "-k", &url(2, "localhost")], 0, Some(body));
    // A system without trusted certificates says so.
    let r = Run::new(
        "env",
        &[
            "SSL_CERT_FILE=/nonexistent",
            "SSL_CERT_DIR=/nonexistent",
            BIN,
            "-s",
            &url(0, "localhost"),
        ],
        b"",
    );
    r.assert_code(60);
    assert!(
        r.stderr_text()
            .contains("no trusted certificates were found"),
        "{r}"
    );
    // An unreadable --cacert.
    both(
        &[
            "-s",
            "--cacert",
            "/nonexistent/ca.pem",
            &url(0, "localhost"),
        ],
        77,
        None,
    );
    // TLS to a plain HTTP port.
    both(
        &["-s", &format!("https://127.0.0.1:{}/", nginx.ports[3])],
        35,
        Some(b""),
    );
}

#[test]
#[ignore = "needs nginx"]
fn a_self_signed_certificate_named_by_cacert_is_trusted() {
    let nginx = tls_nginx();
    let own = nginx.path("selfsigned.pem");
    let url = format!("https://localhost:{}/hello.txt", nginx.ports[2]);
    both(
        &["-s", "--cacert", own.to_str().unwrap(), &url],
        0,
        Some(b"hello over TLS\n"),
    );
    let r = both(&["-s", &url], 60, Some(b""));
    assert!(r.stderr_text().contains("not trusted"), "{r}");
}

#[test]
#[ignore = "needs nginx"]
fn verbose_names_the_tls_version_and_cipher() {
    let nginx = tls_nginx();
    let ca = nginx.path("ca.pem");
    let r = Run::new(
        BIN,
        &[
            "-v",
            "--cacert",
            ca.to_str().unwrap(),
            &format!("https://localhost:{}/hello.txt", nginx.ports[0]),
        ],
        b"",
    );
    r.assert_success();
    let err = r.stderr_text();
    assert!(
        err.lines()
            .any(|l| l.starts_with("* SSL connection using TLSv1.3 / TLS_")),
        "{r}"
    );
    assert!(err.contains("> GET /hello.txt HTTP/1.1"), "{r}");

    // Two URLs of one server: one connection, one handshake.
    let url = format!("https://localhost:{}/hello.txt", nginx.ports[0]);
    let r = Run::new(
        BIN,
        &["-v", "--cacert", ca.to_str().unwrap(), &url, &url],
        b"",
    );
    r.assert_success();
    assert_eq!(r.stdout, b"hello over TLS\nhello over TLS\n");
    let err = r.stderr_text();
    assert_eq!(err.matches("* SSL connection using").count(), 1, "{r}");
    assert_eq!(err.matches("> GET /hello.txt").count(), 2, "{r}");
}

#[test]
fn a_silent_server_times_out_in_the_handshake_as_curl() {
    // Takes the connection and the ClientHello, and answers nothing.
    let server = crate::RawServer::start(|s, _, _| {
        let mut sink = [0u8; 4096];
        while matches!(std::io::Read::read(s, &mut sink), Ok(n) if n > 0) {}
    });
    let url = format!("https://{}/", server.addr);
    let args = ["-s", "--connect-timeout", "1", &url];
    let r = Run::new(BIN, &args, b"");
    r.assert_code(28);
    assert!(r.stderr_text().contains("TLS handshake"), "{r}");
    if let Some(theirs) = curl(&args) {
        theirs.assert_code(28);
    }
}

#[test]
#[ignore = "needs nginx"]
fn redirects_cross_between_http_and_https() {
    let nginx = tls_nginx();
    let ca = nginx.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let (tls, plain) = (nginx.ports[0], nginx.ports[3]);
    let body = &b"hello over TLS\n"[..];
    both(
        &[
            "-s",
            "-L",
            "--cacert",
            ca,
            &format!("http://127.0.0.1:{plain}/secure?to={tls}"),
        ],
        0,
        Some(body),
    );
    // And back: the plain server has no hello.txt route of its own but
    // serves the same root.
    both(
        &[
            "-s",
            "-L",
            "--cacert",
            ca,
            &format!("https://localhost:{tls}/back?to={plain}"),
        ],
        0,
        Some(body),
    );
}
