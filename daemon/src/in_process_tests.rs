//! In-process API tests: the real application (`startup::services`: routes, auth; the server's
//! edge checks) over a real one-router cluster (redb store, Raft, `State::apply`, the actors) in a
//! temp data dir, served by the daemon's own HTTP server on a loopback port — no processes,
//! seconds on any laptop. The same bad-input table as the real-daemon suite (`wgcluster_tests::bad_input`) runs here, so
//! `cargo test -p wgclusterd` covers the API's refusals.
//!
//! The router is registered as a full router (it can carry configs) but runs no WireGuard data
//! plane here: what is tested is the API and the replicated state, not the device.

use crate::config::DaemonConfig;
use crate::http::server::parse::ChunkedDecoder;
use crate::http::server::{Limits, Listeners, Server};
use crate::startup::{open_cluster, services, start_actors};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wgcluster_tests::bad_input::{Api, Body};
use wgcluster_tests::daemon::TempDir;

fn config(dir: &std::path::Path) -> DaemonConfig {
    let text = format!(
        "config daemon 'main'\n\toption node_id 'node1'\n\toption data_dir '{}'\n\toption endpoint '192.0.2.1'\n\
         \toption control_socket '{}'\n\toption uapi_dir '{}'\n",
        dir.join("data").display(),
        dir.join("ctl.sock").display(),
        dir.join("uapi").display()
    );
    let path = dir.join("wgcluster");
    std::fs::write(&path, &text).expect("config file");
    crate::config::parse(&path, &text).expect("test config")
}

/// A running in-process API: the real server on a loopback port (the API listener: token
/// required), over a fresh one-router cluster.
pub struct InProcessServer {
    pub addr: SocketAddr,
    pub token: String,
    _server: Server,
    _dir: TempDir,
}

/// The application over a fresh one-router cluster, served on 127.0.0.1 (any port).
pub async fn start(tag: &str) -> InProcessServer {
    let dir = TempDir::new(&format!("inproc-{tag}"));
    let cfg = config(&dir.path);
    let token_file = crate::init::init(&cfg).expect("init");
    let token = std::fs::read_to_string(token_file).expect("token").trim().to_string();
    // A full router in the replicated state (it can carry configs), with no data plane here.
    let opened = open_cluster(&cfg, false).await.expect("open the cluster");
    let started = start_actors(&cfg, opened, true, Instant::now()).expect("start the actors");
    let api = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = api.local_addr().expect("local address");
    let listeners = Listeners { api: Some(api), ..Default::default() };
    let server = Server::start(services(started.state, started.dns), listeners, Limits::default()).expect("start the server");
    InProcessServer { addr, token, _server: server, _dir: dir }
}

/// An answer: status, headers (names lower case), body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 exchange on a fresh connection.
pub async fn exchange(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(raw).await.expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read the answer");
    parse_response(&buf).unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(&buf)))
}

/// Parses a whole response (fixed or chunked body).
pub fn parse_response(buf: &[u8]) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = r.parse(buf).ok()? else { return None };
    let hs: Vec<(String, String)> =
        r.headers.iter().map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned())).collect();
    let rest = &buf[n..];
    let body = if hs.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked") {
        let mut d = ChunkedDecoder::new(usize::MAX / 2);
        d.feed(rest).ok()?;
        if !d.is_done() {
            return None;
        }
        d.out
    } else {
        rest.to_vec()
    };
    Some((r.code?, hs, body))
}

/// A request with `Connection: close`, the token if given, and a body (`chunked`: so framed).
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>, chunked: bool) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(t) = token {
        out.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let mut out = out.into_bytes();
    match body {
        None => out.extend_from_slice(b"\r\n"),
        Some(b) if chunked => {
            out.extend_from_slice(b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            for c in b.chunks(64 * 1024) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Some(b) => {
            out.extend_from_slice(format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
    }
    out
}

/// `wgcluster_tests::bad_input::Api` over the in-process server.
pub struct InProcess<'a> {
    pub srv: &'a InProcessServer,
}

impl Api for InProcess<'_> {
    async fn call(&mut self, method: &str, path: &str, body: &Body) -> (u16, Value) {
        let raw = match body {
            Body::None => request(method, path, Some(&self.srv.token), None, false),
            Body::Json(v) => request(method, path, Some(&self.srv.token), Some(v.to_string().as_bytes()), false),
            Body::Bytes(b) => request(method, path, Some(&self.srv.token), Some(b), false),
            Body::Chunked(b) => request(method, path, Some(&self.srv.token), Some(b), true),
        };
        let (status, _, bytes) = exchange(self.srv.addr, &raw).await;
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("HTTP {status}: not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
        (status, v)
    }
}

#[actix_rt::test]
async fn every_bad_input_is_refused_and_changes_nothing_in_process() {
    let srv = start("badinput").await;
    let mut api = InProcess { srv: &srv };
    let failures = wgcluster_tests::bad_input::run(&mut api).await;
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[actix_rt::test]
async fn admin_routes_need_the_token_in_process() {
    let srv = start("auth").await;
    for (method, path) in [("GET", "/api/configs"), ("POST", "/api/nodes"), ("GET", "/api/audit-logs"), ("PUT", "/api/settings/dns")] {
        let (status, headers, _) = exchange(srv.addr, &request(method, path, None, None, false)).await;
        assert_eq!(status, 401, "{method} {path} without a token");
        assert!(headers.iter().any(|(k, v)| k == "www-authenticate" && v == "Bearer"), "{headers:?}");
        let (status, _, _) = exchange(srv.addr, &request(method, path, Some("wgc_not_the_token"), None, false)).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
    }
    // The token works, and cluster routes do not exist on this (API) listener.
    let mut api = InProcess { srv: &srv };
    assert_eq!(api.call("GET", "/api/configs", &Body::None).await.0, 200);
    assert_eq!(api.call("POST", "/v1/forward", &Body::Bytes(vec![1, 2, 3])).await.0, 404);
}
