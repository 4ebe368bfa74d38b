//! Proxies: `-x`, `http_proxy` and friends, `no_proxy`, `CONNECT`,
//! through testkit's recording proxy, with the request heads compared to
//! curl's through the same proxy.

use testkit::Run;
use testkit::proxy::Proxy;

use crate::tls::{curl, tls_nginx};
use crate::{BIN, RawServer};

const UA: &str = http_client::client::USER_AGENT;

/// Runs `program args` with only `vars` as proxy variables.
fn with_env(vars: &[(&str, &str)], program: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ]
    .iter()
    .flat_map(|v| ["-u".to_string(), v.to_string()])
    .collect();
    all.extend(vars.iter().map(|(k, v)| format!("{k}={v}")));
    all.push(program.to_string());
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Run::new("env", &all, b"")
}

fn origin() -> RawServer {
    RawServer::once(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\norigin")
}

#[test]
fn http_goes_to_the_proxy_in_absolute_form_as_curl_sends_it() {
    let origin = origin();
    let proxy = Proxy::start();
    let url = origin.url("/a?b=1");
    let r = with_env(&[("http_proxy", &proxy.url())], BIN, &["-s", &url]);
    r.assert_success();
    assert_eq!(r.stdout, b"origin");
    let host = origin.addr.to_string();
    let expected = format!(
        "GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {UA}\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"
    );
    assert_eq!(proxy.requests(), vec![expected.clone()]);
    // The origin got it in origin form.
    assert!(origin.requests.lock().unwrap()[0].starts_with("GET /a?b=1 HTTP/1.1\r\n"));

    // -x, with credentials and --compressed, as curl orders them.
    let r = with_env(
        &[],
        BIN,
        &[
            "-s",
            "--compressed",
            "-x",
            &format!("http://u:p@{}", proxy.addr()),
            &url,
        ],
    );
    r.assert_success();
    let ours = proxy.requests()[1].clone();
    assert_eq!(
        ours,
        format!(
            "GET {url} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Basic dTpw\r\nUser-Agent: {UA}\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nProxy-Connection: Keep-Alive\r\n\r\n"
        )
    );
    if let Some(theirs) = curl(&[
        "-s",
        "--compressed",
        "-x",
        &format!("http://u:p@{}", proxy.addr()),
        &url,
    ]) {
        theirs.assert_success();
        assert_eq!(proxy.requests()[2].replace("curl/7.88.1", UA), ours);
    }
}

#[test]
fn which_variables_count_as_with_curl() {
    let origin = origin();
    let proxy = Proxy::start();
    let url = origin.url("/");
    // HTTP_PROXY is ignored for http:// (curl does not read it).
    with_env(&[("HTTP_PROXY", &proxy.url())], BIN, &["-s", &url]).assert_success();
    // no_proxy names the origin.
    with_env(
        &[
            ("http_proxy", &proxy.url()),
            ("no_proxy", "localhost,127.0.0.0/8"),
        ],
        BIN,
        &["-s", &url],
    )
    .assert_success();
    // -x "" is no proxy.
    with_env(
        &[("http_proxy", &proxy.url())],
        BIN,
        &["-s", "-x", "", &url],
    )
    .assert_success();
    // --noproxy.
    with_env(
        &[],
        BIN,
        &["-s", "-x", &proxy.url(), "--noproxy", "127.0.0.1", &url],
    )
    .assert_success();
    assert_eq!(proxy.requests(), Vec::<String>::new());
    // ALL_PROXY is read.
    with_env(&[("ALL_PROXY", &proxy.url())], BIN, &["-s", &url]).assert_success();
    assert_eq!(proxy.requests().len(), 1);
    if curl(&["--version"]).is_some() {
        with_env(&[("HTTP_PROXY", &proxy.url())], "curl", &["-s", &url]);
        with_env(
            &[
                ("http_proxy", &proxy.url()),
                ("no_proxy", "localhost,127.0.0.0/8"),
            ],
            "curl",
            &["-s", &url],
        );
        assert_eq!(proxy.requests().len(), 1, "curl used the proxy otherwise");
    }
}

#[test]
#[ignore = "needs nginx"]
fn https_goes_through_a_connect_tunnel() {
    let nginx = tls_nginx();
    let proxy = Proxy::start();
    let ca = nginx.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let url = format!("https://localhost:{}/hello.txt", nginx.ports[0]);
    let r = with_env(
        &[("https_proxy", &proxy.url())],
        BIN,
        &["-s", "--cacert", ca, &url],
    );
    r.assert_success();
    assert_eq!(r.stdout, b"hello over TLS\n");
    let target = format!("localhost:{}", nginx.ports[0]);
    let expected = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {UA}\r\nProxy-Connection: Keep-Alive\r\n\r\n"
    );
    assert_eq!(proxy.requests(), vec![expected.clone()]);
    if let Some(theirs) = curl(&["-s", "--cacert", ca, "-x", &proxy.url(), &url]) {
        theirs.assert_success();
        assert_eq!(proxy.requests()[1].replace("curl/7.88.1", UA), expected);
    }
    // Credentials in the proxy's URL go with CONNECT, where curl puts them.
    let with_user = format!("http://u:p@{}", proxy.addr());
    let args = ["-s", "--cacert", ca, "-x", &with_user, &url];
    with_env(&[], BIN, &args).assert_success();
    let ours = proxy.requests().last().cloned().unwrap();
    assert_eq!(
        ours,
        format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic dTpw\r\nUser-Agent: {UA}\r\nProxy-Connection: Keep-Alive\r\n\r\n"
        )
    );
    if let Some(theirs) = curl(&args) {
        theirs.assert_success();
        let theirs = proxy.requests().last().cloned().unwrap();
        assert_eq!(theirs.replace("curl/7.88.1", UA), ours);
    }
    // -i shows the proxy's answer before the server's, as curl does.
    let args = ["-s", "-i", "--cacert", ca, "-x", &proxy.url(), &url];
    let r = with_env(&[], BIN, &args);
    r.assert_success();
    let start = "HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert!(r.stdout_text().starts_with(start), "{r}");
    if let Some(theirs) = curl(&args) {
        assert!(theirs.stdout_text().starts_with(start), "{theirs}");
    }
    // A refused tunnel is curl's 56.
    proxy.refuse_connect(403);
    let r = with_env(&[], BIN, &["-s", "--cacert", ca, "-x", &proxy.url(), &url]);
    r.assert_code(56);
    assert!(r.stderr_text().contains("403"), "{r}");
    if let Some(theirs) = curl(&["-s", "--cacert", ca, "-x", &proxy.url(), &url]) {
        theirs.assert_code(56);
    }
}

#[test]
fn proxy_failures_are_curls_codes() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for (proxy, code) in [
        ("http://nonexistent.invalid:3128".to_string(), 5),
        (format!("127.0.0.1:{port}"), 7),
        ("socks9://127.0.0.1:1".to_string(), 7),
        ("http://[::1".to_string(), 5),
    ] {
        let r = with_env(&[], BIN, &["-s", "-x", &proxy, "http://127.0.0.1:9/"]);
        r.assert_code(code);
        if let Some(theirs) = curl(&["-s", "-x", &proxy, "http://127.0.0.1:9/"]) {
            theirs.assert_code(code);
        }
    }
}
