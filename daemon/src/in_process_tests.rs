//! In-process API tests: the real application (`startup::services`: routes, auth; the server's
//! edge checks) over a real one-router cluster (file store, Raft, `State::apply`, the actors) in a
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
    start_with(tag, Limits::default()).await
}

/// `start` with the server's time limits given.
pub async fn start_with(tag: &str, limits: Limits) -> InProcessServer {
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
    let server = Server::start(services(started.state, started.dns), listeners, limits).expect("start the server");
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

/// Reads from `s` until one whole response is buffered or the peer closes; returns the responses
/// parsed so far and whether the connection was closed.
async fn read_answers(s: &mut tokio::net::TcpStream, want: usize, within: std::time::Duration) -> (Vec<Answer>, bool) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Peel off every complete response at the front.
        while let Some((a, used)) = parse_one(&buf) {
            out.push(a);
            buf.drain(..used);
        }
        if out.len() >= want {
            return (out, false);
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// One response at the front of `buf` (fixed length or chunked) and its length.
fn parse_one(buf: &[u8]) -> Option<(Answer, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = r.parse(buf).ok()? else { return None };
    let hs: Vec<(String, String)> =
        r.headers.iter().map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned())).collect();
    let code = r.code?;
    let header = |k: &str| hs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if header("transfer-encoding").as_deref() == Some("chunked") {
        let mut d = ChunkedDecoder::new(usize::MAX / 2);
        let used = d.feed(&buf[n..]).ok()?;
        return d.is_done().then(|| ((code, hs.clone(), d.out), n + used));
    }
    let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    (buf.len() >= n + len).then(|| ((code, hs.clone(), buf[n..n + len].to_vec()), n + len))
}

fn envelope(a: &Answer) -> Value {
    serde_json::from_slice(&a.2).unwrap_or_else(|e| panic!("HTTP {}: not JSON ({e}): {:?}", a.0, String::from_utf8_lossy(&a.2)))
}

/// The server's own behaviour (`http/server`): keep-alive and pipelining, HEAD, the limits on
/// heads, chunked request bodies, `Connection: close`, the idle and head deadlines, and JSON
/// errors for what cannot be parsed.
#[actix_rt::test]
async fn server_behaviour() {
    use std::time::Duration;
    let limits = Limits { idle: Duration::from_millis(400), head: Duration::from_millis(800), write: Duration::from_secs(5) };
    let srv = start_with("server", limits).await;
    let t = srv.token.clone();
    let connect = || tokio::net::TcpStream::connect(srv.addr);
    let auth = format!("Authorization: Bearer {t}\r\n");

    // Keep-alive: two requests pipelined in one write, two answers in order, connection open.
    let mut s = connect().await.expect("connect");
    let two = format!("GET /api/health HTTP/1.1\r\n\r\nGET /api/configs HTTP/1.1\r\n{auth}\r\n");
    s.write_all(two.as_bytes()).await.expect("send");
    let (answers, closed) = read_answers(&mut s, 2, Duration::from_secs(5)).await;
    assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), vec![200, 200], "pipelined");
    assert_eq!(envelope(&answers[1])["status"], Value::Bool(true));
    assert!(!closed);
    // The same connection idles out after `limits.idle`: closed without an answer.
    let (answers, closed) = read_answers(&mut s, 1, Duration::from_secs(3)).await;
    assert!(answers.is_empty() && closed, "idle keep-alive connection must be closed");

    // HEAD: the GET route's head, no body.
    let (code, hs, body) = exchange(srv.addr, b"HEAD /api/health HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(code, 200);
    assert!(body.is_empty(), "HEAD has no body: {:?}", String::from_utf8_lossy(&body));
    assert!(hs.iter().any(|(k, v)| k == "content-length" && v != "0"), "{hs:?}");

    // Refusals that never reach a handler: each the JSON envelope, status false.
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    let long = format!("X-Long: {}\r\n", "a".repeat(20_000));
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("GET /api/health HTTP/1.1\r\n{many}\r\n"), 431, "headers"),
        (format!("GET /api/health HTTP/1.1\r\n{long}\r\n"), 431, "head"),
        ("GARBAGE\r\n\r\n".into(), 400, "malformed"),
        ("GET http://x/api/health HTTP/1.1\r\n\r\n".into(), 400, "path"),
        ("BREW /api/health HTTP/1.1\r\n\r\n".into(), 404, "no route for BREW /api/health"),
        ("GET /api/nope HTTP/1.1\r\n\r\n".into(), 404, "no route for GET /api/nope"),
        (format!("POST /api/nodes HTTP/1.1\r\n{auth}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "both"),
        (format!("POST /api/nodes HTTP/1.1\r\n{auth}Transfer-Encoding: gzip\r\n\r\n"), 400, "chunked"),
        (format!("POST /api/nodes HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n"), 400, "chunk size"),
        (format!("GET /api/audit-logs?limit=1&limit=2 HTTP/1.1\r\n{auth}\r\n"), 400, "malformed query string"),
        (format!("POST /api/nodes HTTP/1.1\r\n{auth}Idempotency-Key: has space\r\nContent-Length: 2\r\n\r\n{{}}"), 400, "Idempotency-Key"),
    ];
    for (raw, status, needle) in cases {
        let (code, _, body) = exchange(srv.addr, raw.as_bytes()).await;
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{raw:.60}: not JSON ({e})"));
        assert_eq!(code, status, "{raw:.60}: {v}");
        assert_eq!(v["status"], Value::Bool(false), "{raw:.60}");
        let msg = v["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(msg.contains(&needle.to_lowercase()), "{raw:.60}: {msg}");
    }

    // A chunked request body is decoded (within the limit), and the connection stays usable.
    let mut s = connect().await.expect("connect");
    let body = br#"{"id":"chunky","endpoint":"192.0.2.9"}"#;
    let mut raw =
        format!("POST /api/nodes HTTP/1.1\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for c in body.chunks(7) {
        raw.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        raw.extend_from_slice(c);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(format!("0\r\n\r\nGET /api/nodes/chunky HTTP/1.1\r\n{auth}Connection: close\r\n\r\n").as_bytes());
    s.write_all(&raw).await.expect("send");
    let (answers, _) = read_answers(&mut s, 2, Duration::from_secs(5)).await;
    assert_eq!(answers.len(), 2, "two answers");
    assert_eq!(answers[0].0, 200, "{}", envelope(&answers[0]));
    assert_eq!(envelope(&answers[1])["data"]["endpoint"], "192.0.2.9");
    // `Connection: close` was honoured: the server closed after the second answer.
    let (more, closed) = read_answers(&mut s, 1, Duration::from_secs(3)).await;
    assert!(more.is_empty() && closed, "Connection: close");

    // Slowloris: a head that never completes gets 408 after `limits.head`, then the close.
    let mut s = connect().await.expect("connect");
    s.write_all(b"GET /api/health HTTP/1.1\r\nX-Slow: ").await.expect("send");
    let started = std::time::Instant::now();
    let (answers, _) = read_answers(&mut s, 1, Duration::from_secs(5)).await;
    assert_eq!(answers.first().map(|a| a.0), Some(408), "slow head");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A streamed list answers chunked, and is the envelope.
    let config = br#"{"name":"wg0","address":"10.9.0.1/24","listen_port":51820}"#;
    let (code, _, body) = exchange(srv.addr, &request("POST", "/api/configs", Some(&t), Some(config), false)).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let peers = br#"[{"name":"a"},{"name":"b"}]"#;
    let (code, _, body) = exchange(srv.addr, &request("POST", "/api/configs/wg0/peers", Some(&t), Some(peers), false)).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let (code, hs, body) = exchange(srv.addr, &request("GET", "/api/configs/wg0/peers", Some(&t), None, false)).await;
    assert_eq!(code, 200);
    assert!(hs.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked"), "{hs:?}");
    let v: Value = serde_json::from_slice(&body).expect("the streamed list is JSON");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{v}");
}
