//! Security review, holes 3, 4 and 9, against the real daemon:
//! - hole 3: a router's client certificate authorises only router-to-router routes (Raft RPCs,
//!   forwarded writes, health, the agent's interface read without private keys); everything an
//!   administrator does needs the admin token, and forwarded writes keep the original user;
//! - hole 4: cluster routes (`/v1/join`, Raft, forward, members) exist only on `cluster_listen`;
//!   the plain-HTTP API listener answers 404 for them;
//! - hole 9: a declared body over the limit gets an early 413 (no byte of it read), and a client
//!   that trickles its body is cut off with 408 after the body deadline.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wgcluster_tests::cluster::{Cluster, Opts};
use wgcluster_tests::daemon::{parse_http_response, Daemon, Options, RawRequest};
use wgcluster_tests::tls_client::{client, own_identity};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn hole3_member_certificate_is_not_an_admin() {
    let mut c = Cluster::start(2, Opts::fast());
    let leader = c.wait_leader(SECS(10));
    let follower = 1 - leader;
    c.post_ok(leader, "/api/configs", &json!({ "name": "wg0", "address": "10.8.0.1/24", "listen_port": 51820 }));
    let peer = c.post_ok(leader, "/api/configs/wg0/peers", &json!({ "name": "laptop" }));
    let pid = peer["data"]["id"].as_str().unwrap_or_else(|| panic!("peer id in {peer}")).to_string();

    let (cert, key) = own_identity(&c, follower);
    let as_router = client(Some((&cert, &key)));
    let rt = runtime();
    let (lid, laddr) = (c.id(leader).to_string(), c.routers[leader].cluster_listen.to_string());
    let call = |method: &str, path: &str, body: Option<Value>| {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ct = (!bytes.is_empty()).then_some("application/json");
        rt.block_on(as_router.request(&lid, &laddr, method, path, bytes, ct, SECS(5)))
            .map(|(code, body)| (code, String::from_utf8_lossy(&body).into_owned()))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };

    // Administration with a router certificate: refused, and no secret in any answer.
    let admin_routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/configs/wg0/peers/{pid}/config"), None),
        ("GET", format!("/api/peers/{pid}/configs"), None),
        ("GET", "/api/configs/wg0/peers".into(), None),
        ("POST", "/api/cluster/join-tokens".into(), Some(json!({}))),
        ("PUT", "/api/settings/dns".into(), Some(json!({ "cloudflare": { "api_token": "x", "api_base": "https://127.0.0.1:9" } }))),
        ("GET", "/api/settings/dns".into(), None),
        ("POST", "/api/nodes".into(), Some(json!({ "id": "w-by-router" }))),
        ("GET", "/api/backups".into(), None),
        ("GET", "/api/audit-logs".into(), None),
        ("POST", "/v1/wg/wg0/peers".into(), Some(json!({ "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }))),
        ("DELETE", "/v1/wg/wg0".into(), None),
        ("GET", "/v1/wg/wg0/config?include_private=1".into(), None),
    ];
    for (method, path, body) in admin_routes {
        let (code, text) = call(method, &path, body);
        eprintln!("router certificate: {method} {path} -> {code}");
        assert!(code == 403 || code == 404, "{method} {path} with a router certificate: HTTP {code} {text}");
        assert!(!text.contains("PrivateKey") && !text.contains("private_key\":\""), "{method} {path} leaked a key: {text}");
    }
    assert!(c.node_ids(leader).iter().all(|id| id != "w-by-router"), "a router certificate created a node");

    // What a router needs still works with its certificate.
    let (code, text) = call("POST", "/v1/raft/vote", None);
    assert_eq!(code, 400, "the Raft vote route must be reached (empty body: 400): {text}");
    let (code, text) = call("GET", "/v1/health", None);
    assert_eq!(code, 200, "{text}");
    let (code, text) = call("GET", "/v1/wg/wg0/config", None);
    assert!(
        ![401, 403, 404].contains(&code) || text.contains("does not exist on this router"),
        "agent read with a certificate: {code} {text}"
    );
    assert!(!text.contains("\"private_key\""), "the agent read without include_private must not carry the private key: {text}");

    // A write on the follower is forwarded to the panel and audited as the administrator.
    let (code, v) = c.post(follower, "/api/nodes", &json!({ "id": "w-forwarded" }));
    assert!((200..300).contains(&code), "{v}");
    let audit = c.get_data(leader, "/api/audit-logs?entity_id=w-forwarded");
    let users: Vec<&str> = audit.as_array().map(|a| a.iter().filter_map(|e| e["user"].as_str()).collect()).unwrap_or_default();
    assert!(!users.is_empty(), "no audit entry for the forwarded write: {audit}");
    assert!(users.iter().all(|u| !u.starts_with("router:")), "a forwarded write was audited as the router, not the user: {users:?}");
}

#[test]
fn hole4_cluster_routes_are_not_on_the_api_listener() {
    let d = Daemon::start(Options::default());
    let join = json!({ "token": "wgcj_x", "node_id": "r9", "cluster_addr": "127.0.0.1:9", "public_key_pem": "x" });
    for path in ["/v1/join", "/v1/raft/append", "/v1/raft/vote", "/v1/raft/snapshot", "/v1/forward", "/v1/members", "/v1/members/remove"] {
        for token in [None, Some(d.token())] {
            let (code, v) = d.call_as(token, "POST", path, Some(&join));
            assert_eq!(code, 404, "POST {path} on the API listener (token: {}): {v}", token.is_some());
        }
    }
    // The administrative API and the shared routes are still there.
    assert_eq!(d.get("/api/cluster").0, 200);
    assert_eq!(d.call_as(None, "GET", "/v1/health", None).0, 200);
}

/// Sends `head` (a request head announcing a body) and then `body_bytes` one byte per `gap`,
/// until the server answers or `give_up` passes. Returns the response and when it came.
fn trickle(addr: std::net::SocketAddr, head: &str, body_bytes: usize, gap: Duration, give_up: Duration) -> (Option<u16>, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    s.write_all(head.as_bytes()).expect("head");
    let mut buf = Vec::new();
    let mut sent = 0;
    while start.elapsed() < give_up {
        if sent < body_bytes {
            if s.write_all(b" ").is_err() {
                // The server stopped reading: it answered or closed.
            } else {
                sent += 1;
            }
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(r) = parse_http_response(&buf) {
                    return (Some(r.status), start.elapsed());
                }
            }
            Err(_) => std::thread::sleep(gap.saturating_sub(Duration::from_millis(200))),
        }
    }
    (parse_http_response(&buf).map(|r| r.status), start.elapsed())
}

#[test]
fn hole9_slow_and_huge_bodies() {
    let d = Daemon::start(Options::default());

    // A declared gigabyte: 413 at once, before any byte of the body is sent.
    let head = format!(
        "POST /api/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n",
        d.token()
    );
    let (code, took) = trickle(d.addr, &head, 0, Duration::from_millis(200), SECS(10));
    assert_eq!(code, Some(413), "a declared 1 GiB body must get an early 413 (answer after {took:?})");
    assert!(took < SECS(3), "the 413 must come before the body: {took:?}");
    // The same without a token: refused as early (the limit is checked before authentication).
    let head_no_auth = "POST /api/nodes HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n";
    let (code, _) = trickle(d.addr, head_no_auth, 0, Duration::from_millis(200), SECS(10));
    assert_eq!(code, Some(413));
    // Over the limit by one byte, declared: 413 too.
    let r = d.raw(&RawRequest::new("POST", "/api/nodes").header("Content-Length", &(1024 * 1024 + 1).to_string()).no_content_length());
    assert_eq!(r.status, 413, "{}", r.text());

    // A valid token and a body trickled at one byte a second: cut off with 408 after the body
    // deadline (15 s), never held open for the minute it would take.
    let head = format!(
        "POST /api/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n",
        d.token()
    );
    let (code, took) = trickle(d.addr, &head, 60, SECS(1), SECS(40));
    eprintln!("trickled body: {code:?} after {took:?}");
    assert_eq!(code, Some(408), "a trickled body must be cut off with 408 (after {took:?})");
    assert!(took < SECS(25), "the body deadline must cut a trickling client off: {took:?}");
    // The daemon still serves others.
    assert_eq!(d.get("/api/cluster").0, 200);
}
