//! The bad-input table: every bad request the API must refuse, with the status and the words
//! its message must carry, and the runner that checks each one leaves the visible state exactly as
//! it was. Shared by the real-daemon suite (`tests/tests/api_bad_input.rs`, raw TCP) and the
//! daemon's in-process tests (`daemon/src/in_process_tests.rs`, the server on a loopback port), through `Api`.

use base64::Engine;
use serde_json::{json, Value};

pub const MIB: usize = 1024 * 1024;
pub const NO_PEER: &str = "0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What a case sends as its body.
pub enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
    /// Sent with `Transfer-Encoding: chunked` where the transport has framing.
    Chunked(Vec<u8>),
}

pub struct Case {
    pub method: &'static str,
    pub path: String,
    pub body: Body,
    pub status: u16,
    /// Each must appear in the message (case-insensitively).
    pub needles: Vec<String>,
}

pub fn case(method: &'static str, path: &str, body: Body, status: u16, needles: &[&str]) -> Case {
    Case { method, path: path.to_string(), body, status, needles: needles.iter().map(|s| s.to_string()).collect() }
}

fn j(v: Value) -> Body {
    Body::Json(v)
}

/// One way to talk to the API with the admin token: (status, envelope).
#[allow(async_fn_in_trait)]
pub trait Api {
    async fn call(&mut self, method: &str, path: &str, body: &Body) -> (u16, Value);
}

async fn data<A: Api>(api: &mut A, path: &str) -> Value {
    let (code, v) = api.call("GET", path, &Body::None).await;
    assert!((200..300).contains(&code), "GET {path}: HTTP {code} {v}");
    v["data"].clone()
}

async fn ok<A: Api>(api: &mut A, method: &str, path: &str, body: Value) -> Value {
    let (code, v) = api.call(method, path, &Body::Json(body)).await;
    assert!((200..300).contains(&code), "{method} {path}: HTTP {code} {v}");
    v["data"].clone()
}

/// Everything a client can see, minus what background jobs may change on their own (DNS sync
/// status, audit entries written by the system rather than the admin).
pub async fn snapshot<A: Api>(api: &mut A) -> Value {
    let configs = data(api, "/api/configs").await;
    let mut per_config = serde_json::Map::new();
    for c in configs.as_array().expect("configs") {
        let name = c["name"].as_str().expect("name");
        per_config.insert(
            name.to_string(),
            json!({
                "config": data(api, &format!("/api/configs/{name}")).await,
                "peers": data(api, &format!("/api/configs/{name}/peers")).await,
                "nodes": data(api, &format!("/api/configs/{name}/nodes")).await,
            }),
        );
    }
    let mut group = data(api, "/api/configs/wg0/endpoint-group").await;
    if let Some(o) = group.as_object_mut() {
        // DNS sync reports its own progress here in the background; that is not admin state.
        o.retain(|k, _| !k.starts_with("dns") && !["last_sync", "published", "degraded", "last_error"].contains(&k.as_str()));
    }
    let audit = data(api, "/api/audit-logs?limit=1000").await;
    let admin_entries = audit.as_array().expect("audit").iter().filter(|e| e["user"] == "admin").count();
    json!({
        "configs": configs,
        "per_config": per_config,
        "nodes": data(api, "/api/nodes").await,
        "group": group,
        "backups": data(api, "/api/backups").await,
        "admin_audit_entries": admin_entries,
    })
}

/// The state the cases run against; returns the table for it.
pub async fn seed<A: Api>(api: &mut A) -> Vec<Case> {
    let wg0 = ok(api, "POST", "/api/configs", json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })).await;
    ok(api, "POST", "/api/configs", json!({ "name": "tiny", "address": "10.9.9.1/30", "listen_port": 51821 })).await;
    ok(api, "POST", "/api/configs", json!({ "name": "solo", "address": "10.8.0.1/24", "listen_port": 51822 })).await;
    for n in ["node2", "node3"] {
        ok(api, "POST", "/api/nodes", json!({ "id": n, "endpoint": "192.0.2.9" })).await;
    }
    for (c, n) in [("wg0", "node1"), ("wg0", "node2"), ("tiny", "node1"), ("solo", "node1")] {
        ok(api, "POST", &format!("/api/configs/{c}/nodes"), json!({ "node_id": n })).await;
    }
    ok(api, "POST", "/api/configs/wg0/endpoint-group", json!({ "domain": "vpn.example.com", "provider": "rfc2136" })).await;
    let key1 = b64(&[7u8; 32]);
    let peers =
        ok(api, "POST", "/api/configs/wg0/peers", json!([{ "name": "a", "public_key": key1 }, { "name": "b" }, { "name": "c" }])).await;
    let p = peers[0]["id"].as_str().expect("peer id").to_string();
    ok(api, "POST", "/api/configs/tiny/peers", json!({ "name": "only" })).await;
    ok(api, "POST", "/api/configs/solo/peers", json!({ "name": "alone" })).await;
    let wg0_key = wg0["public_key"].as_str().expect("config key").to_string();
    table(&p, &key1, &wg0_key)
}

/// Seeds the state, sends every case, and returns what failed: a wrong status, a message that
/// does not name what it must, or a change of the visible state. Then the limit itself: a body of
/// exactly 1 MiB is read, one byte more is refused.
pub async fn run<A: Api>(api: &mut A) -> Vec<String> {
    let cases = seed(api).await;
    let mut before = snapshot(api).await;
    let mut failures = Vec::new();
    for c in &cases {
        let what = format!("{} {}", c.method, c.path.chars().take(80).collect::<String>());
        let (code, v) = api.call(c.method, &c.path, &c.body).await;
        let msg = v["message"].as_str().unwrap_or_default().to_lowercase();
        if code != c.status {
            failures.push(format!("{what}: HTTP {code}, want {}: {msg}", c.status));
        }
        if v["status"].as_bool() != Some(false) || v.get("data").is_none() {
            failures.push(format!("{what}: not the error envelope: {v}"));
        }
        for n in &c.needles {
            if !msg.contains(&n.to_lowercase()) {
                failures.push(format!("{what}: message does not name {n:?}: {msg}"));
            }
        }
        let after = snapshot(api).await;
        if after != before {
            failures.push(format!("{what}: the state changed:\nbefore: {before}\nafter:  {after}"));
            before = after;
        }
    }
    let mut edge = br#"[{"name":"edge"}]"#.to_vec();
    edge.resize(MIB, b' ');
    let (code, v) = api.call("POST", "/api/configs/wg0/peers", &Body::Bytes(edge.clone())).await;
    if code != 200 {
        failures.push(format!("a body of exactly {MIB} bytes: HTTP {code} {v}"));
    }
    edge.push(b' ');
    let (code, v) = api.call("POST", "/api/configs/wg0/peers", &Body::Bytes(edge)).await;
    if code != 413 {
        failures.push(format!("a body of {MIB} + 1 bytes: HTTP {code} {v}"));
    }
    failures
}

/// The cases. `p` is a peer of wg0 with public key `key1`; `wg0_key` is wg0's own public key.
#[rustfmt::skip]
pub fn table(p: &str, key1: &str, wg0_key: &str) -> Vec<Case> {
    let big_json = {
        // A syntactically fine array of peers, just too long.
        let item = br#"{"name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"#;
        let mut b = b"[".to_vec();
        while b.len() <= MIB {
            b.extend_from_slice(item);
        }
        b.extend_from_slice(br#"{"name":"last"}]"#);
        b
    };
    let too_long_name = "n".repeat(65);

    use Body::None as Nb;
    vec![
        // -- invalid config names, in the body and in the path
        case("POST", "/api/configs", j(json!({ "name": "", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", "empty"]),
        case("POST", "/api/configs", j(json!({ "name": "abcdefghijklmnop", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", "15"]),
        case("POST", "/api/configs", j(json!({ "name": "wg/0", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", "wg/0"]),
        case("POST", "/api/configs", Body::Bytes(br#"{"name":"wg\/1","address":"10.50.0.1/24","listen_port":51900}"#.to_vec()), 400, &["name", "wg/1"]),
        case("POST", "/api/configs", j(json!({ "name": "wg%2F0", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name"]),
        case("POST", "/api/configs", j(json!({ "name": "..", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", ".."]),
        case("POST", "/api/configs", j(json!({ "name": ".", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name"]),
        case("POST", "/api/configs", j(json!({ "name": "wg 0", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", "wg 0"]),
        case("POST", "/api/configs", j(json!({ "name": "wg0\n", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name"]),
        case("POST", "/api/configs", j(json!({ "name": "wgé", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name"]),
        case("GET", "/api/configs/wg%2F0", Nb, 400, &["config"]),
        case("DELETE", "/api/configs/wg%2F0", Nb, 400, &["config"]),
        case("GET", "/api/configs/wg%2F0/peers", Nb, 400, &["config"]),
        case("POST", "/api/configs/..%2F..%2Fetc/peers", j(json!({ "name": "x" })), 400, &["config"]),
        case("GET", "/api/configs/..", Nb, 400, &["config", ".."]),
        case("GET", "/api/configs/%2e%2e", Nb, 400, &["config", ".."]),
        case("GET", "/api/configs/wg%200", Nb, 400, &["config", "wg 0"]),
        case("GET", "/api/configs/abcdefghijklmnop", Nb, 400, &["config", "15"]),
        case("PATCH", "/api/configs/abcdefghijklmnop", j(json!({ "mtu": 1400 })), 400, &["config"]),
        case("GET", "/api/nodes/node%2F1", Nb, 400, &["node_id"]),
        case("GET", "/api/nodes/-node", Nb, 400, &["node_id"]),
        case("GET", "/api/configs/wg0/peers/..%2Fx", Nb, 400, &["peer_id"]),
        case("GET", "/api/peers/a%20b/configs", Nb, 400, &["peer_id"]),
        // -- unknown config / node / peer
        case("GET", "/api/configs/nosuch", Nb, 404, &["nosuch"]),
        case("PATCH", "/api/configs/nosuch", j(json!({ "mtu": 1400 })), 404, &["nosuch"]),
        case("DELETE", "/api/configs/nosuch", Nb, 404, &["nosuch"]),
        case("GET", "/api/nodes/nosuch", Nb, 404, &["nosuch"]),
        case("PATCH", "/api/nodes/nosuch", j(json!({ "name": "x" })), 404, &["nosuch"]),
        case("DELETE", "/api/nodes/nosuch", Nb, 404, &["nosuch"]),
        case("GET", &format!("/api/configs/wg0/peers/{NO_PEER}"), Nb, 404, &[NO_PEER]),
        case("PATCH", &format!("/api/configs/wg0/peers/{NO_PEER}"), j(json!({ "name": "x" })), 404, &[NO_PEER]),
        case("DELETE", &format!("/api/configs/wg0/peers/{NO_PEER}"), Nb, 404, &[NO_PEER]),
        case("GET", &format!("/api/configs/wg0/peers/{NO_PEER}/config"), Nb, 404, &[NO_PEER]),
        case("GET", &format!("/api/peers/{NO_PEER}/configs"), Nb, 404, &[NO_PEER]),
        case("GET", &format!("/api/configs/solo/peers/{p}"), Nb, 404, &[p, "solo"]),
        case("DELETE", &format!("/api/configs/solo/peers/{p}"), Nb, 404, &[p]),
        case("POST", "/api/configs/nosuch/peers", j(json!({ "name": "x" })), 404, &["nosuch"]),
        case("GET", "/api/configs/nosuch/peers", Nb, 404, &["nosuch"]),
        case("POST", "/api/configs/wg0/nodes", j(json!({ "node_id": "nosuch" })), 404, &["nosuch"]),
        case("POST", "/api/configs/nosuch/nodes", j(json!({ "node_id": "node1" })), 404, &["nosuch"]),
        case("GET", "/api/configs/nosuch/nodes", Nb, 404, &["nosuch"]),
        case("DELETE", "/api/configs/wg0/nodes/node3", Nb, 404, &["node3"]),
        case("DELETE", "/api/configs/wg0/nodes/nosuch", Nb, 404, &["nosuch"]),
        case("DELETE", "/api/configs/nosuch/nodes/node1", Nb, 404, &["nosuch"]),
        case("POST", "/api/configs/wg0/nodes/nosuch/migrate", Nb, 404, &["nosuch"]),
        case("POST", "/api/configs/wg0/nodes/node3/migrate", Nb, 404, &["node3"]),
        case("GET", "/api/configs/tiny/endpoint-group", Nb, 404, &["tiny"]),
        case("DELETE", "/api/configs/tiny/endpoint-group", Nb, 404, &["tiny"]),
        case("GET", "/api/configs/nosuch/endpoint-group", Nb, 404, &["nosuch"]),
        case("POST", "/api/configs/nosuch/endpoint-group", j(json!({ "domain": "vpn.example.com" })), 404, &["nosuch"]),
        case("GET", "/api/backups/999", Nb, 404, &["999"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "x", "node_id": "nosuch" })), 404, &["nosuch"]),
        case("GET", "/api/no/such/route", Nb, 404, &["/api/no/such/route"]),
        // -- duplicates
        case("POST", "/api/configs/wg0/nodes", j(json!({ "node_id": "node1" })), 409, &["node1", "wg0"]),
        case("POST", "/api/configs", j(json!({ "name": "wg0", "address": "10.70.0.1/24", "listen_port": 51900 })), 409, &["wg0"]),
        case("POST", "/api/nodes", j(json!({ "id": "node2" })), 409, &["node2"]),
        case("POST", "/api/nodes", j(json!({ "id": "node1" })), 409, &["node1"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": key1 })), 409, &["public_key"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.71.0.1/24", "listen_port": 51820 })), 409, &["listen_port", "51820"]),
        case("PATCH", "/api/configs/tiny", j(json!({ "listen_port": 51820 })), 409, &["listen_port"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": wg0_key })), 400, &["public_key"]),
        // -- keys that are not 32 bytes of base64
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": "abc" })), 400, &["public_key"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": b64(&[1u8; 31]) })), 400, &["public_key", "32"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": b64(&[1u8; 33]) })), 400, &["public_key", "32"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": "" })), 400, &["public_key"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "public_key": 12 })), 400, &["public_key"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "preshared_key": "!!!!" })), 400, &["preshared_key"]),
        // -- invalid or overlapping CIDRs
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.0.0.300/24", "listen_port": 51900 })), 400, &["address"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.60.0.1/33", "listen_port": 51900 })), 400, &["address"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "banana", "listen_port": 51900 })), 400, &["address", "banana"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "listen_port": 51900 })), 400, &["address"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.0.0.5/24", "listen_port": 51900 })), 400, &["address", "overlaps", "wg0"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.0.0.2/8", "listen_port": 51900 })), 400, &["address", "overlaps"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": ["10.61.0.1/24", "10.61.0.129/25"], "listen_port": 51900 })), 400, &["address", "overlaps"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.62.0.0/24", "listen_port": 51900 })), 400, &["address"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.63.0.1/32", "listen_port": 51900 })), 400, &["address"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.64.0.1/24", "listen_port": 51900, "peer_allowed_ips": "0.0.0.0/0, ::/200" })), 400, &["peer_allowed_ips"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "allowed_ips": ["nonsense"] })), 400, &["allowed_ips", "nonsense"]),
        case("PATCH", "/api/configs/wg0", j(json!({ "peer_allowed_ips": ["1.2.3.4/40"] })), 400, &["peer_allowed_ips"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "allowed_ips": "10.0.0.0/8, x" })), 400, &["allowed_ips"]),
        // -- address pool exhausted (a /30 has room for the interface and one peer)
        case("POST", "/api/configs/tiny/peers", j(json!({ "name": "z" })), 409, &["10.9.9.0/30"]),
        case("POST", "/api/configs/tiny/peers", j(json!([{ "name": "z1" }, { "name": "z2" }])), 409, &["10.9.9.0/30"]),
        // -- bodies over the 1 MiB limit
        case("POST", "/api/configs/wg0/peers", Body::Bytes(big_json.clone()), 413, &["limit"]),
        case("POST", "/api/configs/wg0/peers", Body::Chunked(big_json), 413, &["limit"]),
        case("POST", "/api/configs", Body::Bytes(vec![b' '; MIB + 1]), 413, &["limit"]),
        case("PATCH", "/api/nodes/node2", Body::Bytes(vec![b'x'; 2 * MIB]), 413, &["limit"]),
        // -- malformed JSON, wrong types, unknown fields
        case("POST", "/api/configs", Body::Bytes(b"{".to_vec()), 400, &["json"]),
        case("POST", "/api/configs", Body::Bytes(Vec::new()), 400, &["empty"]),
        case("POST", "/api/configs", Body::Bytes(b"[1]".to_vec()), 400, &["object"]),
        case("POST", "/api/configs", Body::Bytes(b"null".to_vec()), 400, &["object"]),
        case("POST", "/api/configs", Body::Bytes(b"{\"name\": \"w\xff\"}".to_vec()), 400, &["json"]),
        case("POST", "/api/configs/wg0/peers", Body::Bytes(b"[{\"name\": \"a\"},".to_vec()), 400, &["json"]),
        case("POST", "/api/configs", Body::Bytes(vec![b'['; 100_000]), 400, &["json"]),
        case("POST", "/api/configs/wg0/peers", Body::Bytes(format!("[{}]", vec![r#"{"name":"a"}"#; 5001].join(",")).into_bytes()), 400, &["peers", "5000"]),
        case("PUT", "/api/configs", j(json!({ "name": "wg9" })), 404, &["PUT", "/api/configs"]),
        case("POST", "/api/configs", j(json!({ "name": 5, "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["name", "string"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": "51900" })), 400, &["listen_port"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 70000 })), 400, &["listen_port", "70000"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 0 })), 400, &["listen_port"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 51900.5 })), 400, &["listen_port"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24" })), 400, &["listen_port"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 51900, "mtu": 100 })), 400, &["mtu"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 51900, "dns": [1] })), 400, &["dns"]),
        case("POST", "/api/configs", j(json!({ "nmae": "wg9", "address": "10.50.0.1/24", "listen_port": 51900 })), 400, &["nmae"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 51900, "placement": "load" })), 400, &["placement", "peers, traffic"]),
        case("POST", "/api/configs", j(json!({ "name": "wg9", "address": "10.50.0.1/24", "listen_port": 51900, "placement": 1 })), 400, &["placement"]),
        case("PATCH", "/api/configs/wg0", j(json!({ "placement": "Traffic" })), 400, &["placement"]),
        case("PATCH", "/api/configs/wg0", j(json!({ "placement": "x".repeat(100_000) })), 400, &["placement"]),
        case("POST", "/api/nodes", j(json!({ "id": "node4", "weight": 0 })), 400, &["weight"]),
        case("POST", "/api/nodes", j(json!({ "id": "node4", "weight": "x" })), 400, &["weight"]),
        case("POST", "/api/nodes", j(json!({ "id": "-node4" })), 400, &["id"]),
        case("POST", "/api/nodes", j(json!({ "id": "node/4" })), 400, &["id"]),
        case("POST", "/api/nodes", j(json!({ "name": "no id" })), 400, &["id"]),
        case("POST", "/api/nodes", j(json!({ "id": "node4", "endpoint": "a b" })), 400, &["endpoint"]),
        case("POST", "/api/nodes", j(json!({ "id": "node4", "endpoint": "192.0.2.1:0" })), 400, &["endpoint"]),
        case("PATCH", "/api/nodes/node2", j(json!({ "enabled": "yes" })), 400, &["enabled"]),
        case("PATCH", "/api/nodes/node2", j(json!({ "weight": -1 })), 400, &["weight"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "enabled": "yes" })), 400, &["enabled"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "keepalive": -1 })), 400, &["keepalive"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "name": "" })), 400, &["name"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "public_key": key1 })), 400, &["public_key"]),
        // Peer limits and usage (#15): the field is named, nothing changes.
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "data_limit_bytes": -1 })), 400, &["data_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "data_limit_bytes": "10GB" })), 400, &["data_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "data_limit_bytes": 1.5 })), 400, &["data_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "rx_limit_bytes": -5 })), 400, &["rx_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "tx_limit_bytes": "1e9" })), 400, &["tx_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "tx_limit_bytes": 9007199254740993u64 })), 400, &["tx_limit_bytes"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "expires_at": "31/12/2026" })), 400, &["expires_at", "RFC 3339"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "expires_at": "2026-02-30" })), 400, &["expires_at"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "expires_at": -5 })), 400, &["expires_at"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "expires_at": true })), 400, &["expires_at"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "lim", "data_limit_bytes": -1 })), 400, &["data_limit_bytes"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "lim", "rx_limit_bytes": true })), 400, &["rx_limit_bytes"]),
        case("POST", "/api/configs/wg0/peers", j(json!([{ "name": "l1" }, { "name": "l2", "expires_at": "soon" }])), 400, &["[1].expires_at"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/usage?step=week"), Nb, 400, &["step", "week"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/usage?from=yesterday"), Nb, 400, &["from"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/usage?to=2026-13-01"), Nb, 400, &["to"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/usage?from=2026-12-02&to=2026-12-01"), Nb, 400, &["from", "before"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/usage?bucket=1"), Nb, 400, &["bucket"]),
        case("GET", &format!("/api/configs/wg0/peers/{NO_PEER}/usage"), Nb, 404, &[NO_PEER]),
        case("PUT", "/api/settings/usage", j(json!({ "interval_s": 1 })), 400, &["interval_s"]),
        case("PUT", "/api/settings/usage", j(json!({ "interval_s": 60, "every": 1 })), 400, &["every"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "public_key": b64(&[9u8; 32]) })), 400, &["name"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": too_long_name })), 400, &["name"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "tab\there" })), 400, &["name"]),
        case("POST", "/api/configs/wg0/peers", j(json!({ "name": "y", "keepalive": 70000 })), 400, &["keepalive"]),
        case("POST", "/api/configs/wg0/peers", j(json!("just a string")), 400, &["object"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "not a domain" })), 400, &["domain"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "port": 51820 })), 400, &["domain"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "port": 0 })), 400, &["port"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "provider": "route53" })), 400, &["provider", "route53"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "ttl": 0 })), 400, &["ttl"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "proxied": "yes" })), 400, &["proxied"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "min_nodes": 0 })), 400, &["min_nodes"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "cloudflare_record_name": "a..b" })), 400, &["cloudflare_record_name"]),
        // floating address (#16)
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.300", "vrid": 51 })), 400, &["vip", "192.0.2.300"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "vpn.example.com", "vrid": 51 })), 400, &["vip"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "0.0.0.0", "vrid": 51 })), 400, &["vip"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.10" })), 400, &["vrid", "required"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 0 })), 400, &["vrid"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 256 })), 400, &["vrid", "256"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 51, "vip_interface": "eth0;reboot" })), 400, &["vip_interface"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "2001:db8::1", "vrid": 51, "vip_preempt": "no" })), 400, &["vip_preempt"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vrid": 51 })), 400, &["vrid", "only with vip"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 51, "vip_in_dns": "yes" })), 400, &["vip_in_dns"]),
        case("POST", "/api/configs/wg0/endpoint-group", j(json!({ "domain": "vpn.example.com", "vip_in_dns": true })), 400, &["vip_in_dns", "only with vip"]),
        case("POST", "/api/configs/wg0/nodes", j(json!({ "node_id": 5 })), 400, &["node_id"]),
        case("POST", "/api/configs/wg0/nodes", j(json!({})), 400, &["node_id"]),
        case("POST", "/api/configs/wg0/nodes/node1/migrate", j(json!({ "destination_node_id": "node1" })), 400, &["destination_node_id"]),
        case("POST", "/api/configs/wg0/nodes/node1/migrate", j(json!({ "destination": "node2" })), 400, &["destination"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/config?format=xyz"), Nb, 400, &["format", "xyz"]),
        case("DELETE", "/api/configs/wg0?force=maybe", Nb, 400, &["force"]),
        case("DELETE", "/api/configs/wg0?force=false&force=true", Nb, 400, &["force"]),
        case("GET", &format!("/api/configs/wg0/peers/{p}/config?format=qr&format=conf"), Nb, 400, &["format"]),
        case("GET", "/api/backups/abc", Nb, 400, &["id"]),
        // -- limit / offset out of range
        case("GET", "/api/audit-logs?limit=0", Nb, 400, &["limit"]),
        case("GET", "/api/audit-logs?limit=1001", Nb, 400, &["limit"]),
        case("GET", "/api/audit-logs?limit=-1", Nb, 400, &["limit"]),
        case("GET", "/api/audit-logs?limit=abc", Nb, 400, &["limit"]),
        case("GET", "/api/audit-logs?limit=1.5", Nb, 400, &["limit"]),
        case("GET", "/api/audit-logs?offset=-1", Nb, 400, &["offset"]),
        case("GET", "/api/audit-logs?offset=99999999999", Nb, 400, &["offset"]),
        case("GET", "/api/audit-logs?offset=x&limit=5", Nb, 400, &["offset"]),
        case("GET", "/api/audit-logs?lmit=5", Nb, 400, &["lmit"]),
        // -- deleted while in use
        case("DELETE", "/api/configs/wg0", Nb, 409, &["wg0", "in use"]),
        case("DELETE", "/api/configs/wg0?force=false", Nb, 409, &["wg0"]),
        case("DELETE", "/api/configs/tiny", Nb, 409, &["tiny"]),
        case("DELETE", "/api/nodes/node2", Nb, 409, &["node2", "wg0"]),
        case("DELETE", "/api/nodes/node1", Nb, 409, &["node1"]),
        // -- moves with nowhere to go, or to a node that is not assigned
        case("DELETE", "/api/configs/solo/nodes/node1", Nb, 409, &["solo", "node1"]),
        case("POST", "/api/configs/solo/nodes/node1/migrate", Nb, 409, &["solo"]),
        case("POST", "/api/configs/wg0/nodes/node1/migrate", j(json!({ "destination_node_id": "node3" })), 409, &["node3"]),
        case("POST", "/api/configs/solo/peers", j(json!({ "name": "x", "node_id": "node3" })), 409, &["node3", "solo"]),
        case("PATCH", &format!("/api/configs/wg0/peers/{p}"), j(json!({ "node_id": "node3" })), 409, &["node3"]),
    ]
}
