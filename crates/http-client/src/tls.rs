//! `https://`: TLS with rustls (ring as its crypto provider, so nothing
//! but a C compiler is needed to build it, and no OpenSSL).
//!
//! The server's certificate is checked against the system's store of
//! trusted roots (what `rustls-native-certs` finds: `SSL_CERT_FILE`,
//! `SSL_CERT_DIR`, else the distribution's bundle such as
//! `/etc/ssl/certs`), or against the roots of one PEM file instead
//! (`--cacert`), or not at all (`-k`). The host name is sent in SNI and
//! checked against the certificate; an IP address is checked against the
//! certificate's IP addresses and, as RFC 6066 says, not sent.
//!
//! Failures carry curl's exit codes: a certificate that is not trusted is
//! 60, any other failure of the handshake 35, a `--cacert` file that
//! cannot be read 77.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};

use crate::Error;

/// Which certificates are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's store of roots (the default).
    #[default]
    System,
    /// Only the certificates in this PEM file (`--cacert FILE`).
    File(PathBuf),
    /// Any certificate at all (`-k`/`--insecure`): the connection is
    /// encrypted but the server is not authenticated.
    Insecure,
}

/// A TLS configuration, built once per client when its first `https://`
/// URL is fetched (reading the system's roots takes a few milliseconds).
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
}

impl Tls {
    /// Builds the configuration for `trust`.
    pub fn new(trust: &Trust) -> Result<Tls, Error> {
        // ring, though rustls now prefers aws-lc-rs for its post-quantum
        // key exchange: aws-lc-rs needs cmake and nasm to build, ring a
        // C compiler only. X25519, P-256 and P-384 are still offered.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("cannot set up TLS ({e})")))?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
                .with_no_client_auth(),
            Trust::System => builder
                .dangerous()
                .with_custom_certificate_verifier(Trusted::new(system_roots(), provider)?)
                .with_no_client_auth(),
            Trust::File(path) => builder
                .dangerous()
                .with_custom_certificate_verifier(Trusted::new(file_roots(path)?, provider)?)
                .with_no_client_auth(),
        };
        // This client speaks HTTP/1.1 only; saying so lets a server that
        // prefers HTTP/2 know it must not switch.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// Runs the handshake over `tcp` with the server called `host`,
    /// within `limit` (the rest of the connect time-out). `target` names
    /// the server in messages.
    pub fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
        target: &str,
        limit: Duration,
    ) -> Result<TlsStream, Error> {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| Error::Tls(format!("{host} cannot be used as a TLS server name ({e})")))?
            .to_owned();
        let mut conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| Error::Tls(format!("cannot start TLS with {target} ({e})")))?;
        let deadline = Instant::now() + limit;
        let mut tcp = tcp;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out(target, limit));
            }
            let set = tcp
                .set_read_timeout(Some(left))
                .and_then(|()| tcp.set_write_timeout(Some(left)));
            if let Err(e) = set.and_then(|()| conn.complete_io(&mut tcp).map(drop)) {
                return Err(handshake_error(e, host, target, limit));
            }
        }
        let _ = tcp.set_write_timeout(None);
        Ok(TlsStream {
            inner: rustls::StreamOwned::new(conn, tcp),
        })
    }
}

/// An established TLS connection.
pub struct TlsStream {
    inner: rustls::StreamOwned<ClientConnection, TcpStream>,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.inner.sock.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.inner.sock
    }

    /// `TLSv1.3 / TLS_AES_256_GCM_SHA384`, as curl's `-v` names them.
    pub fn summary(&self) -> String {
        let version = match self.inner.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".into(),
        };
        let cipher = self
            .inner
            .conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            // rustls says TLS13_AES_256_GCM_SHA384 for what the RFC (and
            // curl) call TLS_AES_256_GCM_SHA384.
            .map(|name| match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name.to_string(),
            })
            .unwrap_or_else(|| "unknown".into());
        format!("{version} / {cipher}")
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            // A server that closes without TLS's close_notify ends the
            // stream as a TCP close would: a body with a length is still
            // checked against it, and a close-delimited body ends here, as
            // with curl.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                log::debug!("the server closed the TLS connection without close_notify");
                Ok(0)
            }
            other => other,
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A connection to a server: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The TCP connection underneath, for its time-outs.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.tcp(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The system's trusted roots. Unreadable ones are skipped (and logged):
/// with none at all, every certificate fails as not trusted, and the
/// message says how to trust one.
fn system_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("system certificate store: {e}");
    }
    if found.certs.is_empty() {
        log::warn!(
            "no trusted certificates were found on this system (install ca-certificates, or name some with --cacert FILE): no https:// server can be trusted"
        );
    }
    found.certs
}

/// The certificates of a PEM file, as roots (`--cacert`).
fn file_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let unreadable =
        |why: String| Error::CaCert(format!("cannot use --cacert {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| unreadable(net_core::error::describe(&e)))?;
    let certs = rustls_pemfile_certs(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(certs.iter().cloned());
    if roots.is_empty() {
        return Err(unreadable(if unusable > 0 {
            format!("none of its {unusable} certificates can be used")
        } else {
            "it holds no PEM certificate".into()
        }));
    }
    Ok(certs)
}

/// The certificate checks of rustls (webpki) against `roots`, and one
/// more way to trust a server, as curl with OpenSSL does: a certificate
/// that is itself among the trusted ones, though it is a CA certificate
/// (as `openssl req -x509` makes them), which webpki never takes as a
/// server's own. Its name and dates are still checked.
#[derive(Debug)]
struct Trusted {
    /// `None` when no root could be used: then nothing is trusted.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    roots: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Trusted {
    fn new(
        roots: Vec<CertificateDer<'static>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<Trusted>, Error> {
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(roots.iter().cloned());
        log::debug!("{added} trusted roots ({ignored} unusable)");
        let webpki = if store.is_empty() {
            None
        } else {
            Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    provider.clone(),
                )
                .build()
                .map_err(|e| Error::Tls(format!("cannot set up certificate checks ({e})")))?,
            )
        };
        Ok(Arc::new(Trusted {
            webpki,
            roots,
            provider,
        }))
    }
}

impl ServerCertVerifier for Trusted {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        let checked =
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match checked {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(ref other)))
                if is_ca_as_server(other)
                    && self.roots.iter().any(|r| r.as_ref() == end_entity.as_ref()) =>
            {
                let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
                    rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
                })?;
                cert.verify_is_valid_for_subject_name(server_name)
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
                    })?;
                match validity(end_entity.as_ref()) {
                    Some((from, _)) if now.as_secs() < from => Err(
                        rustls::Error::InvalidCertificate(CertificateError::NotValidYet),
                    ),
                    Some((_, until)) if now.as_secs() > until => {
                        Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
                    }
                    Some(_) => Ok(ServerCertVerified::assertion()),
                    None => Err(rustls::Error::InvalidCertificate(
                        CertificateError::BadEncoding,
                    )),
                }
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether webpki refused a certificate for being a CA's.
fn is_ca_as_server(e: &rustls::OtherError) -> bool {
    e.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
}

/// One DER element at the start of `der`: its tag, its contents and what
/// follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate's validity, as seconds since 1970: (notBefore,
/// notAfter). RFC 5280: Certificate ::= SEQUENCE { tbsCertificate
/// SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
/// validity SEQUENCE { notBefore Time, notAfter Time }, … }, … }.
fn validity(cert: &[u8]) -> Option<(u64, u64)> {
    let (_, cert, _) = der_element(cert)?;
    let (_, mut tbs, _) = der_element(cert)?;
    let (tag, _, after) = der_element(tbs)?;
    if tag == 0xa0 {
        tbs = after;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        tbs = der_element(tbs)?.2;
    }
    let (_, validity, _) = der_element(tbs)?;
    let (tag_from, from, rest) = der_element(validity)?;
    let (tag_until, until, _) = der_element(rest)?;
    Some((asn1_time(tag_from, from)?, asn1_time(tag_until, until)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// seconds since 1970.
fn asn1_time(tag: u8, text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    // Days since 1970 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// The `CERTIFICATE` blocks of a PEM file.
fn rustls_pemfile_certs(
    pem: &[u8],
) -> impl Iterator<Item = Result<CertificateDer<'static>, rustls::pki_types::pem::Error>> + '_ {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
}

/// A time-out during the handshake, worded as a connect time-out (which
/// it is: curl's `--connect-timeout` covers the handshake too).
fn timed_out(target: &str, limit: Duration) -> Error {
    Error::Net(net_core::Error::TimedOut {
        action: "in the TLS handshake with",
        target: target.to_string(),
        after: limit,
    })
}

/// A failed handshake as curl's exit code and one sentence.
fn handshake_error(e: io::Error, host: &str, target: &str, limit: Duration) -> Error {
    if net_core::error::is_timeout(&e) {
        return timed_out(target, limit);
    }
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(why)) => {
            let issuer = matches!(why, CertificateError::UnknownIssuer)
                || matches!(why, CertificateError::Other(o) if is_ca_as_server(o));
            Error::Certificate(format!(
                "the certificate of {target} is not trusted: {}{}",
                certificate_reason(why, host),
                if issuer {
                    " (--cacert FILE trusts its issuer; -k skips the check)"
                } else {
                    " (-k skips the check)"
                }
            ))
        }
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            Error::Tls(format!(
                "the TLS handshake with {target} failed: the answer is not TLS (a plain HTTP port?)"
            ))
        }
        Some(other) => Error::Tls(format!("the TLS handshake with {target} failed ({other})")),
        None if e.kind() == io::ErrorKind::UnexpectedEof => Error::Tls(format!(
            "the TLS handshake with {target} failed: the server closed the connection"
        )),
        None => Error::Tls(format!(
            "the TLS handshake with {target} failed ({})",
            net_core::error::describe(&e)
        )),
    }
}

/// Why the certificate of `host` was refused, in a few words.
fn certificate_reason(why: &CertificateError, host: &str) -> String {
    match why {
        CertificateError::UnknownIssuer => {
            "it is signed by an unknown issuer (or self-signed)".into()
        }
        CertificateError::NotValidForName => format!("it is not valid for the name {host}"),
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "it is not valid for the name {host} (it names {})",
            presented
                .iter()
                .map(|p| {
                    // webpki's `DnsName("a.test")`, `IpAddress(127.0.0.1)`.
                    let inner = p.split_once('(').map_or(p.as_str(), |(_, rest)| rest);
                    inner.trim_end_matches(')').trim_matches('"')
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CertificateError::Expired => "it has expired".into(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("it expired {}", since_epoch(not_after.as_secs()))
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".into()
        }
        CertificateError::Revoked => "it has been revoked".into(),
        CertificateError::BadSignature => "its signature is wrong".into(),
        CertificateError::BadEncoding => "it cannot be decoded".into(),
        CertificateError::Other(other) if is_ca_as_server(other) => {
            "it is self-signed (a CA certificate used as the server's own)".into()
        }
        CertificateError::Other(other) => other.to_string(),
        other => format!("{other:?}"),
    }
}

/// `at 2024-01-02 03:04:05 UTC` for seconds since 1970.
fn since_epoch(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "on {year}-{month:02}-{day:02} at {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `-k`: accepts any certificate, yet still checks that the server holds
/// the key of the certificate it sent (so the handshake is a real one).
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times() {
        assert_eq!(asn1_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(asn1_time(0x17, b"240229235959Z"), Some(1_709_251_199));
        assert_eq!(asn1_time(0x18, b"20240229235959Z"), Some(1_709_251_199));
        assert_eq!(asn1_time(0x18, b"20240229235959"), None);
        assert_eq!(asn1_time(0x17, b"2402292359Z"), None);
        assert_eq!(der_element(&[0x30, 0x82, 0x01]), None);
        assert_eq!(
            der_element(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[5u8][..], &[0xffu8][..]))
        );
        assert_eq!(validity(b"\x30\x00"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(since_epoch(0), "on 1970-01-01 at 00:00:00 UTC");
        assert_eq!(since_epoch(1_709_251_199), "on 2024-02-29 at 23:59:59 UTC");
    }

    #[test]
    fn a_missing_or_empty_cacert_is_77() {
        let e = Tls::new(&Trust::File("/nonexistent/ca.pem".into())).unwrap_err();
        assert_eq!(e.exit_code(), 77, "{e}");
        let dir = std::env::temp_dir().join(format!("netlab-cacert-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let e = Tls::new(&Trust::File(dir.clone())).unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(e.exit_code(), 77);
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    }
}
