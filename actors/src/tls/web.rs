//! HTTP(S) to a provider API (Cloudflare) over the same client as router-to-router calls
//! ([`ClusterClient`]): one HTTP/1.1 implementation, one rustls, TLS 1.3 only.
//!
//! - `https://` bases: the server is verified against the public CAs of the system trust store
//!   (PEM bundles: OpenWrt's `ca-bundle`, Debian's `ca-certificates`; [`DEFAULT_CA_BUNDLES`]),
//!   with SNI = the URL's host. This is a second `rustls::ClientConfig`, separate from the
//!   cluster's (which trusts only the cluster CA).
//! - `http://` bases: loopback hosts only (the tests' fake Cloudflare), refused here when the URL
//!   is parsed and again by the client when it resolves the address.
//!
//! Must not: trust anything but the configured bundles; send a request in clear text off this
//! machine; log request headers (they carry the API token).

use super::client::{ClientError, ClientOptions, ClusterClient, Dest, Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the system's public CA certificates are looked for, in order (PEM bundles).
/// OpenWrt's `ca-bundle` and Debian's `ca-certificates` install the first; others the second.
pub const DEFAULT_CA_BUNDLES: &[&str] = &["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"];

/// Why a provider client could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    /// The base URL is not `https://host[:port][/path]` or `http://<loopback>[:port][/path]`.
    #[error("'{}' is not a usable API base URL: {why}", .url.escape_debug())]
    BadUrl { url: String, why: &'static str },
    /// No usable CA certificate in any of the bundles.
    #[error("{0}")]
    TrustStore(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// The defaults as paths.
pub fn default_ca_bundles() -> Vec<PathBuf> {
    DEFAULT_CA_BUNDLES.iter().map(PathBuf::from).collect()
}

/// The public CAs from every readable PEM bundle of `paths` (missing files are skipped). An
/// error names every path tried when none gave a usable certificate.
pub fn load_trust_store(paths: &[PathBuf]) -> Result<rustls::RootCertStore, WebError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut problems = Vec::new();
    for path in paths {
        let pem = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            problems.push(format!("{}: no usable certificate ({ignored} unparsable)", path.display()));
        } else if ignored > 0 {
            log::debug!("{}: {ignored} certificates could not be used", path.display());
        }
    }
    if roots.is_empty() {
        let tried: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(WebError::TrustStore(format!(
            "no public CA certificates found (tried {}; {}): install the CA bundle (OpenWrt: ca-bundle, Debian: ca-certificates)",
            if tried.is_empty() { "no path".to_string() } else { tried.join(", ") },
            problems.join("; ")
        )));
    }
    Ok(roots)
}

/// A TLS 1.3 client config that verifies servers against `roots` (public web PKI), no client
/// certificate, the `ring` provider.
pub fn public_client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, WebError> {
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| WebError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A parsed base URL: `https://host[:port][/prefix]` or `http://<loopback>[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub https: bool,
    /// The host without brackets (a DNS name or an IP address): the TLS server name.
    pub host: String,
    pub port: u16,
    /// The `Host` header: host (IPv6 in brackets), with the port unless it is the scheme's default.
    pub authority: String,
    /// The path prefix, without a trailing `/` (empty for none).
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<Self, WebError> {
        let url = url.trim().trim_end_matches('/');
        let bad = |why: &'static str| WebError::BadUrl { url: url.to_string(), why };
        let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            _ => return Err(bad("it must start with https://")),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !prefix.bytes().all(|b| (b'!'..=b'~').contains(&b)) || prefix.contains(['?', '#']) {
            return Err(bad("the path holds spaces, control characters, '?' or '#'"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address in brackets"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let default_port = if https { 443 } else { 80 };
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("bad port"))?,
        };
        let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
        if !host_ok {
            return Err(bad("bad host"));
        }
        if !https && !is_loopback_host(host) {
            return Err(bad("http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://"));
        }
        let bracketed = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        let authority = if port == default_port { bracketed } else { format!("{bracketed}:{port}") };
        Ok(Self { https, host: host.to_string(), port, authority, prefix: prefix.to_string() })
    }

    /// `host:port` to dial.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `127.0.0.0/8`, `::1` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `k=v&k=v` with keys and values percent-encoded (everything but RFC 3986's unreserved set).
pub fn query_string(pairs: &[(&str, String)]) -> String {
    fn enc(out: &mut String, s: &str) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(&mut out, k);
        out.push('=');
        enc(&mut out, v);
    }
    out
}

/// A client for one API base URL: keep-alive HTTP/1.1 over TLS 1.3 (public CAs), or plain TCP to
/// a loopback host.
#[derive(Clone)]
pub struct WebClient {
    base: BaseUrl,
    addr: String,
    client: ClusterClient,
}

impl std::fmt::Debug for WebClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl WebClient {
    /// A client for `base_url`; for `https://` the trust store is read from `ca_bundles` now.
    pub fn new(base_url: &str, ca_bundles: &[PathBuf], options: ClientOptions) -> Result<Self, WebError> {
        let base = BaseUrl::parse(base_url)?;
        let client = if base.https {
            ClusterClient::with_options(public_client_config(load_trust_store(ca_bundles)?)?, options)
        } else {
            ClusterClient::plain_loopback(options)
        };
        Ok(Self { addr: base.addr(), base, client })
    }

    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// `req` with its path taken relative to the base's prefix (`/zones/…?…`).
    pub async fn send(&self, mut req: Request<'_>, timeout: Duration) -> Result<Response, ClientError> {
        let path = format!("{}{}", self.base.prefix, req.path);
        req.path = &path;
        let dest = Dest { key: &self.base.authority, host: &self.base.authority, server_name: &self.base.host, addr: &self.addr };
        self.client.send_to(dest, req, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A bundle path that does not exist.
    fn missing(dir: &Path) -> PathBuf {
        dir.join("no-such-bundle.pem")
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wgc-web-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn trust_store_is_read_from_the_first_usable_bundles() {
        let dir = temp_dir("trust");
        let ca = crate::tls::ClusterCa::generate("web-test").unwrap();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, format!("junk before\n{}\n", ca.cert_pem())).unwrap();
        let roots = load_trust_store(&[missing(&dir), bundle.clone()]).unwrap();
        assert_eq!(roots.len(), 1);
        assert!(public_client_config(roots).is_ok());

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_trust_store(&[missing(&dir), empty.clone()]).unwrap_err().to_string();
        assert!(err.contains(&missing(&dir).display().to_string()) && err.contains(&empty.display().to_string()), "{err}");
        assert!(err.contains("ca-bundle"), "{err}");
        assert!(matches!(load_trust_store(&[]), Err(WebError::TrustStore(_))));
        let https = WebClient::new("https://api.example.test/v4", &[empty], ClientOptions::default());
        assert!(matches!(https, Err(WebError::TrustStore(_))));
        assert!(WebClient::new("https://api.example.test/v4", &[bundle], ClientOptions::default()).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn base_urls_split_into_scheme_host_port_and_prefix() {
        let b = BaseUrl::parse("https://api.cloudflare.com/client/v4/").unwrap();
        assert_eq!(
            b,
            BaseUrl {
                https: true,
                host: "api.cloudflare.com".into(),
                port: 443,
                authority: "api.cloudflare.com".into(),
                prefix: "/client/v4".into()
            }
        );
        assert_eq!(b.addr(), "api.cloudflare.com:443");
        let b = BaseUrl::parse("http://127.0.0.1:8080/client/v4").unwrap();
        assert!(!b.https);
        assert_eq!((b.host.as_str(), b.port, b.authority.as_str(), b.prefix.as_str()), ("127.0.0.1", 8080, "127.0.0.1:8080", "/client/v4"));
        let b = BaseUrl::parse("http://[::1]:81").unwrap();
        assert_eq!((b.host.as_str(), b.authority.as_str(), b.prefix.as_str(), b.addr()), ("::1", "[::1]:81", "", "[::1]:81".into()));
        assert_eq!(BaseUrl::parse("https://h.test:8443").unwrap().authority, "h.test:8443");
        assert_eq!(BaseUrl::parse("http://localhost").unwrap().port, 80);
        for bad in [
            "ftp://x.test",
            "https://",
            "https://h.test:0",
            "https://h.test:99999",
            "https://a b.test",
            "https://h.test/a?b",
            "https://[::1",
        ] {
            assert!(matches!(BaseUrl::parse(bad), Err(WebError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for url in ["http://api.cloudflare.com/client/v4", "http://192.0.2.1:80", "http://[2001:db8::1]:80", "http://10.0.0.1"] {
            let e = BaseUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains("loopback"), "{url}: {e}");
            assert!(WebClient::new(url, &[], ClientOptions::default()).is_err());
        }
        assert!(WebClient::new("http://127.0.0.2:1", &[], ClientOptions::default()).is_ok());
    }

    #[tokio::test]
    async fn the_plain_client_refuses_a_non_loopback_address() {
        let client = ClusterClient::plain_loopback(ClientOptions::default());
        let req = Request { method: "GET", path: "/", headers: &[], content_type: None, body: Vec::new() };
        let dest = Dest { key: "x", host: "192.0.2.1", server_name: "192.0.2.1", addr: "192.0.2.1:80" };
        let e = client.send_to(dest, req, Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(&e, ClientError::InvalidRequest(m) if m.contains("loopback")), "{e}");
    }

    #[tokio::test]
    async fn plain_requests_reach_a_loopback_server_with_prefix_query_and_headers() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"{\"a\":1}") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await.unwrap();
            String::from_utf8(got).unwrap()
        });
        let web = WebClient::new(&format!("http://127.0.0.1:{port}/client/v4/"), &[], ClientOptions::default()).unwrap();
        let q = query_string(&[("name", "vpn.example.test".into()), ("x", "a b&c/é".into())]);
        let path = format!("/zones/z1/dns_records?{q}");
        let headers = [("Authorization", "Bearer tok")];
        let req =
            Request { method: "POST", path: &path, headers: &headers, content_type: Some("application/json"), body: b"{\"a\":1}".to_vec() };
        let resp = web.send(req, Duration::from_secs(5)).await.unwrap();
        assert_eq!((resp.status, resp.header("Retry-After"), resp.body.as_slice()), (429, Some("7"), &b"{}"[..]));
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /client/v4/zones/z1/dns_records?name=vpn.example.test&x=a%20b%26c%2F%C3%A9 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.contains(&format!("Host: 127.0.0.1:{port}\r\n")) && seen.contains("Authorization: Bearer tok\r\n"), "{seen}");
        assert!(seen.contains("Content-Type: application/json\r\n"), "{seen}");
    }
}
