//! The seed's API usage examples (reference/phase8-summary.md, "API Usage Examples") against the
//! real daemon with the admin token, plus what DESIGN §5/§6 adds around them: peer config
//! downloads in both modes, `GET /api/peers/{id}/configs`, all-or-nothing bulk creation and
//! weighted least-loaded placement. Each test runs its own daemon.

use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use wgcluster_tests::daemon::{Daemon, Options};

fn daemon(tag: &str) -> Daemon {
    Daemon::start(Options::default().tag(tag))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A random 32-byte value in base64: a syntactically valid WireGuard key.
fn random_key() -> String {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").expect("urandom"), &mut b).expect("urandom");
    b64(&b)
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected an array: {v}"))
}

/// Peers of `config` per node id.
fn per_node(d: &Daemon, config: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in arr(&d.ok("GET", &format!("/api/configs/{config}/peers"), None)) {
        *m.entry(p["node_id"].as_str().unwrap_or("(none)").to_string()).or_default() += 1;
    }
    m
}

fn audit(d: &Daemon, query: &str) -> Vec<Value> {
    arr(&d.ok("GET", &format!("/api/audit-logs?{query}"), None)).clone()
}

/// The seed's four examples, in one cluster: setup (nodes + endpoint group), node removal with
/// automatic migration, audit queries, and the config's node listing.
#[test]
fn seed_examples() {
    let d = daemon("seed");
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })));
    d.ok("PATCH", "/api/nodes/node1", Some(&json!({ "name": "US-East-1" })));
    let n2 = d.ok("POST", "/api/nodes", Some(&json!({ "id": "node2", "name": "US-West-1", "endpoint": "192.0.2.2" })));
    assert_eq!(n2["id"], "node2");
    assert_eq!(n2["endpoint"], "192.0.2.2");

    // Example 1, step 1: assign both nodes.
    let a1 = d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    let a2 = d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node2" })));
    assert_eq!((a1["id"].as_str(), a2["id"].as_str()), (Some("node1"), Some("node2")));
    assert!(a1["config_node_id"].is_u64() && a2["config_node_id"].is_u64());
    assert_ne!(a1["config_node_id"], a2["config_node_id"]);

    // Peers, spread over both nodes (equal weights: 3 and 3).
    let created = d.ok(
        "POST",
        "/api/configs/wg0/peers",
        Some(&json!([
            { "name": "alice" }, { "name": "bob" }, { "name": "carol" },
            { "name": "dave" }, { "name": "erin" }, { "name": "frank" }
        ])),
    );
    assert_eq!(arr(&created).len(), 6);
    let before = per_node(&d, "wg0");
    assert_eq!(before.get("node1"), Some(&3), "{before:?}");
    assert_eq!(before.get("node2"), Some(&3), "{before:?}");
    let on_node2: HashSet<String> =
        arr(&created).iter().filter(|p| p["node_id"] == "node2").map(|p| p["id"].as_str().expect("id").to_string()).collect();

    // Example 1, step 2: the endpoint group, exactly the seed's body plus `proxied: true`.
    let (code, v) = d.post(
        "/api/configs/wg0/endpoint-group",
        &json!({
            "domain": "vpn.example.com",
            "port": 51820,
            "cloudflare_zone_id": "abc123",
            "cloudflare_record_name": "vpn.example.com",
            "ttl": 60,
            "auto_migrate": true,
            "publish_only_healthy": true,
            "min_nodes": 1,
            "proxied": true
        }),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["proxied"], false, "{v}");
    let msg = v["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(msg.contains("proxied") && msg.contains("false"), "the message must say proxied was forced off: {msg}");
    let g = d.ok("GET", "/api/configs/wg0/endpoint-group", None);
    for (k, want) in [
        ("domain", json!("vpn.example.com")),
        ("port", json!(51820)),
        ("cloudflare_zone_id", json!("abc123")),
        ("cloudflare_record_name", json!("vpn.example.com")),
        ("ttl", json!(60)),
        ("proxied", json!(false)),
        ("auto_migrate", json!(true)),
        ("publish_only_healthy", json!(true)),
        ("min_nodes", json!(1)),
    ] {
        assert_eq!(g[k], want, "endpoint group field {k}: {g}");
    }

    // Example 4: the config's nodes.
    let (code, v) = d.get("/api/configs/wg0/nodes");
    assert_eq!(code, 200);
    assert!(v["message"].is_string());
    let nodes = arr(&v["data"]);
    assert_eq!(nodes.len(), 2, "{v}");
    let want = [("node1", "US-East-1", "192.0.2.1"), ("node2", "US-West-1", "192.0.2.2")];
    for (n, (id, name, endpoint)) in nodes.iter().zip(want) {
        assert_eq!(n["id"], id, "{n}");
        assert_eq!(n["name"], name, "{n}");
        assert_eq!(n["endpoint"], endpoint, "{n}");
        assert_eq!(n["is_healthy"], true, "{n}");
        assert!(n["config_node_id"].is_u64(), "{n}");
    }
    assert_eq!(nodes[0]["config_node_id"], a1["config_node_id"]);
    assert_eq!(nodes[1]["config_node_id"], a2["config_node_id"]);

    // Example 2: remove node2; its peers move to node1.
    let (code, v) = d.delete("/api/configs/wg0/nodes/node2");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["peers_migrated"], json!(on_node2.len()), "{v}");
    let after = per_node(&d, "wg0");
    assert_eq!(after, BTreeMap::from([("node1".to_string(), 6)]), "all peers on node1 now");
    for id in &on_node2 {
        let p = d.ok("GET", &format!("/api/configs/wg0/peers/{id}"), None);
        assert_eq!(p["node_id"], "node1", "{p}");
    }
    let nodes = d.ok("GET", "/api/configs/wg0/nodes", None);
    assert_eq!(arr(&nodes).len(), 1);
    assert_eq!(nodes[0]["id"], "node1");
    // node2 itself is still known to the cluster, just not assigned to wg0.
    let n2 = d.ok("GET", "/api/nodes/node2", None);
    assert_eq!(n2["configs"], json!([]), "{n2}");

    // Example 3: audit queries.
    let by_type = audit(&d, "entity_type=config_node&limit=50");
    assert!(!by_type.is_empty());
    assert!(by_type.iter().all(|e| e["entity_type"] == "config_node"), "{by_type:?}");
    let actions: Vec<&str> = by_type.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["node_assigned", "node_removed", "peer_migrated"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // Newest first.
    let ids: Vec<u64> = by_type.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "not newest first: {ids:?}");

    let node1 = audit(&d, "entity_id=wg0:node1");
    assert!(!node1.is_empty());
    assert!(node1.iter().all(|e| e["entity_id"] == "wg0:node1"), "{node1:?}");
    assert!(node1.iter().any(|e| e["action"] == "node_assigned"), "{node1:?}");
    for e in &node1 {
        for k in ["id", "timestamp", "action", "entity_type", "entity_id", "details", "user"] {
            assert!(e.get(k).is_some(), "audit entry without {k}: {e}");
        }
        assert_eq!(e["user"], "admin", "{e}");
    }

    let dns = audit(&d, "action=dns_updated");
    assert!(dns.iter().all(|e| e["action"] == "dns_updated"), "{dns:?}");

    let removed = audit(&d, "action=node_removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["entity_id"], "wg0:node2");
    assert_eq!(removed[0]["details"]["peers_migrated"], json!(on_node2.len()));
    let migrated = audit(&d, "action=peer_migrated&entity_id=wg0:node2");
    assert_eq!(migrated.len(), 1, "one audit entry for the whole migration: {migrated:?}");
    assert_eq!(migrated[0]["details"]["count"], json!(on_node2.len()));
    let backups = audit(&d, "action=backup_created");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let group = audit(&d, "action=endpoint_group_updated");
    assert_eq!(group.len(), 1);
    assert_eq!(group[0]["details"]["proxied"], false);
    // Paging: limit and offset.
    let all = audit(&d, "limit=1000");
    let page = audit(&d, "limit=2&offset=1");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], all[1]["id"]);
    assert_eq!(page[1]["id"], all[2]["id"]);
}

fn download(d: &Daemon, config: &str, id: &str) -> String {
    let (code, text) = d.get_text(&format!("/api/configs/{config}/peers/{id}/config"));
    assert_eq!(code, 200, "{text}");
    text
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key} = "))).unwrap_or_else(|| panic!("no '{key} = ' line in:\n{text}"))
}

/// Peer config downloads: Mode B (the node's endpoint and the config's listen port), Mode A
/// (domain:port), the QR code, and `GET /api/peers/{id}/configs`.
#[test]
fn peer_config_downloads() {
    let d = daemon("download");
    let cfg = d.ok(
        "POST",
        "/api/configs",
        Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820,
                      "dns": ["10.0.0.1"], "mtu": 1380 })),
    );
    d.ok("POST", "/api/nodes", Some(&json!({ "id": "node2", "endpoint": "198.51.100.7" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node2" })));
    let own_key = random_key();
    let p1 = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop", "node_id": "node2" })));
    let p2 = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "phone", "public_key": own_key, "node_id": "node1" })));
    let (id1, id2) = (p1["id"].as_str().expect("id"), p2["id"].as_str().expect("id"));
    assert_eq!(p1["has_private_key"], true);
    assert_eq!(p2["has_private_key"], false);
    assert_eq!(p2["public_key"], own_key.as_str());
    for p in [&p1, &p2] {
        let s = p.to_string();
        assert!(!s.contains("private_key\":\""), "a private key leaked into a view: {s}");
    }

    // Mode B: the peer's node endpoint + the config's listen port.
    let t1 = download(&d, "wg0", id1);
    assert!(t1.starts_with("[Interface]"), "{t1}");
    assert_eq!(line(&t1, "Endpoint"), "198.51.100.7:51820");
    assert_eq!(line(&t1, "PublicKey"), cfg["public_key"].as_str().expect("config key"));
    assert_eq!(line(&t1, "Address"), p1["address"].as_str().expect("address"));
    assert_eq!(line(&t1, "DNS"), "10.0.0.1");
    assert_eq!(line(&t1, "MTU"), "1380");
    assert!(base64::engine::general_purpose::STANDARD.decode(line(&t1, "PrivateKey")).is_ok_and(|k| k.len() == 32), "{t1}");
    let t2 = download(&d, "wg0", id2);
    assert_eq!(line(&t2, "Endpoint"), "192.0.2.1:51820");
    assert!(!line(&t2, "PrivateKey").ends_with('='), "a client-supplied key has no server-side private key: {t2}");

    // The QR code is an SVG.
    let (code, svg) = d.get_text(&format!("/api/configs/wg0/peers/{id1}/config?format=qr"));
    assert_eq!(code, 200, "{svg}");
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    let r = d.raw(&wgcluster_tests::daemon::RawRequest::new("GET", &format!("/api/configs/wg0/peers/{id1}/config?format=qr")));
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("image/svg+xml")), "{:?}", r.headers);

    // The peer's configs (Mode B: one, its node's).
    let list = d.ok("GET", &format!("/api/peers/{id1}/configs"), None);
    let list = arr(&list);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["mode"], "independent");
    assert_eq!(list[0]["endpoint"], "198.51.100.7:51820");
    assert_eq!(list[0]["node_id"], "node2");
    // The same file with the keys redacted: only the download hands them out (issue 10, hole 7).
    let redacted = t1
        .replace(line(&t1, "PrivateKey"), "<secret: download the config file to get it>")
        .replace(line(&t1, "PresharedKey"), "<secret: download the config file to get it>");
    assert_eq!(list[0]["config_text"].as_str(), Some(redacted.as_str()));
    assert_eq!(list[0]["download"], format!("/api/configs/wg0/peers/{id1}/config"));

    // Secrets leave the daemon only in the config download: not in views, lists or the audit.
    let secrets = [line(&t1, "PrivateKey"), line(&t1, "PresharedKey")];
    for path in [
        "/api/configs/wg0/peers".to_string(),
        format!("/api/configs/wg0/peers/{id1}"),
        format!("/api/peers/{id1}/configs"),
        "/api/configs/wg0".to_string(),
        "/api/audit-logs?limit=1000".to_string(),
    ] {
        let (_, body) = d.get_text(&path);
        for secret in secrets {
            assert!(!body.contains(secret), "a peer secret leaked into GET {path}");
        }
    }

    // Moving the peer changes its Mode B config.
    d.ok("PATCH", &format!("/api/configs/wg0/peers/{id1}"), Some(&json!({ "node_id": "node1" })));
    assert_eq!(line(&download(&d, "wg0", id1), "Endpoint"), "192.0.2.1:51820");

    // Mode A: one config for every peer, endpoint domain:port.
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(&json!({ "domain": "vpn.example.com", "port": 443, "provider": "rfc2136" })));
    for id in [id1, id2] {
        assert_eq!(line(&download(&d, "wg0", id), "Endpoint"), "vpn.example.com:443");
        let list = d.ok("GET", &format!("/api/peers/{id}/configs"), None);
        assert_eq!(arr(&list).len(), 1, "{list}");
        assert_eq!(list[0]["mode"], "cluster");
        assert_eq!(list[0]["endpoint"], "vpn.example.com:443");
    }
    let c = d.ok("GET", "/api/configs/wg0", None);
    assert_eq!(c["mode"], "cluster");
    // Back to Mode B when the group goes.
    d.ok("DELETE", "/api/configs/wg0/endpoint-group", None);
    assert_eq!(line(&download(&d, "wg0", id1), "Endpoint"), "192.0.2.1:51820");
}

fn peer_count(d: &Daemon, config: &str) -> usize {
    arr(&d.ok("GET", &format!("/api/configs/{config}/peers"), None)).len()
}

/// A JSON array creates many peers in one command; one bad item refuses the whole request,
/// naming the item and field, and creates nothing.
#[test]
fn bulk_creation_is_all_or_nothing() {
    let d = daemon("bulk");
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.1.0.1/24", "listen_port": 51820 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    let dup = random_key();
    let bad_cases: Vec<(Value, u16, &str)> = vec![
        (json!([{ "name": "a" }, { "name": "b" }, { "name": "c", "public_key": "abc" }]), 400, "[2].public_key"),
        (json!([{ "name": "a" }, { "name": 7 }]), 400, "[1].name"),
        (json!([{ "name": "a" }, { "name": "b", "allowed_ips": ["10.0.0.0/99"] }]), 400, "[1].allowed_ips"),
        (json!([{ "name": "a" }, { "name": "b", "colour": "red" }]), 400, "[1].colour"),
        (json!([{ "name": "a", "public_key": dup }, { "name": "b", "public_key": dup }]), 409, "[1].public_key"),
        (json!([{ "name": "a" }, { "name": "b", "node_id": "node9" }]), 404, "node9"),
        (json!([{ "name": "a" }, "b"]), 400, "[1]"),
        (json!([]), 400, "peers"),
    ];
    for (body, want, needle) in &bad_cases {
        let (code, v) = d.post("/api/configs/wg0/peers", body);
        assert_eq!(code, *want, "{body}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{body}: message {msg:?} does not name {needle}");
        assert_eq!(peer_count(&d, "wg0"), 0, "{body}: a peer was created");
    }
    assert!(audit(&d, "action=peer_created").is_empty());

    let body: Vec<Value> = (0..50).map(|i| json!({ "name": format!("p{i}") })).collect();
    let (code, v) = d.post("/api/configs/wg0/peers", &Value::Array(body));
    assert_eq!(code, 200, "{v}");
    let made = arr(&v["data"]);
    assert_eq!(made.len(), 50);
    let names: Vec<&str> = made.iter().filter_map(|p| p["name"].as_str()).collect();
    let want: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    assert_eq!(names, want, "peers come back in request order");
    let addrs: HashSet<&str> = made.iter().filter_map(|p| p["address"].as_str()).collect();
    assert_eq!(addrs.len(), 50, "addresses are unique");
    assert!(!addrs.contains("10.1.0.1/32"), "the interface's own address is never given out");
    assert_eq!(peer_count(&d, "wg0"), 50);
}

/// Placement is least-loaded by peers ÷ weight: node weights 1 and 3 share peers 1:3, whether
/// the peers come in one bulk request or one by one.
#[test]
fn placement_follows_weights() {
    let d = daemon("weights");
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.2.0.1/24", "listen_port": 51820 })));
    d.ok("POST", "/api/nodes", Some(&json!({ "id": "node2", "endpoint": "192.0.2.2", "weight": 3 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node2" })));
    assert_eq!(d.ok("GET", "/api/nodes/node1", None)["weight"], 1);
    assert_eq!(d.ok("GET", "/api/nodes/node2", None)["weight"], 3);

    let bulk: Vec<Value> = (0..8).map(|i| json!({ "name": format!("b{i}") })).collect();
    d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(bulk)));
    let m = per_node(&d, "wg0");
    assert_eq!((m.get("node1"), m.get("node2")), (Some(&2), Some(&6)), "{m:?}");

    for i in 0..12 {
        d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": format!("s{i}") })));
    }
    let m = per_node(&d, "wg0");
    assert_eq!((m.get("node1"), m.get("node2")), (Some(&5), Some(&15)), "{m:?}");

    // The config-node listing counts them too.
    let nodes = d.ok("GET", "/api/configs/wg0/nodes", None);
    let counts: Vec<(String, u64)> =
        arr(&nodes).iter().map(|n| (n["id"].as_str().unwrap_or("").to_string(), n["peers"].as_u64().unwrap_or(0))).collect();
    assert_eq!(counts, vec![("node1".into(), 5), ("node2".into(), 15)]);

    // A weight change steers new peers: node1 at weight 3 is now the lighter one.
    d.ok("PATCH", "/api/nodes/node1", Some(&json!({ "weight": 3 })));
    let bulk: Vec<Value> = (0..10).map(|i| json!({ "name": format!("w{i}") })).collect();
    d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(bulk)));
    let m = per_node(&d, "wg0");
    assert_eq!((m.get("node1"), m.get("node2")), (Some(&15), Some(&15)), "{m:?}");

    // The traffic rule (#15) is stored and shown; with no traffic reported it places by peers.
    assert_eq!(d.ok("GET", "/api/configs/wg0", None)["placement"], "peers");
    assert_eq!(d.ok("PATCH", "/api/configs/wg0", Some(&json!({ "placement": "traffic" })))["placement"], "traffic");
    assert_eq!(d.ok("GET", "/api/configs/wg0", None)["placement"], "traffic");
    let bulk: Vec<Value> = (0..4).map(|i| json!({ "name": format!("t{i}") })).collect();
    d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(bulk)));
    let m = per_node(&d, "wg0");
    assert_eq!((m.get("node1"), m.get("node2")), (Some(&17), Some(&17)), "{m:?}");

    // A disabled node takes no new peers.
    d.ok("PATCH", "/api/nodes/node2", Some(&json!({ "enabled": false })));
    let bulk: Vec<Value> = (0..4).map(|i| json!({ "name": format!("d{i}") })).collect();
    let made = d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(bulk)));
    assert!(arr(&made).iter().all(|p| p["node_id"] == "node1"), "{made}");
}
