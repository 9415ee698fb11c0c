//! Issue #13 on one real daemon: the paged and filtered peer list, and `Idempotency-Key` on write
//! routes (a repeat applies nothing and answers with the first outcome, across a restart; the same
//! key for another request is refused; bad keys are 400 naming the header). The cluster side —
//! leader killed in the middle of an idempotent bulk — is in `cluster_idempotency.rs`.

use serde_json::{json, Value};
use std::collections::HashSet;
use wgcluster_tests::daemon::{Daemon, Options, RawRequest, RawResponse};

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected an array: {v}"))
}

fn with_key(d: &Daemon, method: &str, path: &str, key: &str, body: Option<&Value>) -> RawResponse {
    let mut r = RawRequest::new(method, path).header("Idempotency-Key", key);
    if let Some(b) = body {
        r = r.json(b);
    }
    d.client().raw(&r)
}

fn ids(v: &Value) -> Vec<String> {
    arr(v).iter().map(|p| p["id"].as_str().expect("id").to_string()).collect()
}

/// Pages partition the list (no peer twice, none missing, stable order), `total` counts the
/// filtered set, filters combine, and every bad parameter is a 400 naming it.
#[test]
fn peer_list_pages_and_filters() {
    let d = Daemon::start(Options::default().tag("pages"));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.20.0.1/20", "listen_port": 51820 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    let body: Vec<Value> =
        (0..250).map(|i| json!({ "name": format!("{}-{i}", if i % 5 == 0 { "alice" } else { "bob" }), "enabled": i % 10 != 3 })).collect();
    d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(body)));

    let full = ids(&d.ok("GET", "/api/configs/wg0/peers", None));
    assert_eq!(full.len(), 250, "without limit: the plain list, as before");
    let mut paged = Vec::new();
    for offset in (0..300).step_by(100) {
        let page = d.ok("GET", &format!("/api/configs/wg0/peers?limit=100&offset={offset}"), None);
        assert_eq!(page["total"], 250, "{page}");
        assert_eq!((page["limit"].as_u64(), page["offset"].as_u64()), (Some(100), Some(offset as u64)));
        paged.extend(ids(&page["items"]));
    }
    assert_eq!(paged, full, "pages in order make the full list");

    let count = |q: &str| {
        let v = d.ok("GET", &format!("/api/configs/wg0/peers?limit=1000&{q}"), None);
        assert_eq!(v["total"].as_u64(), Some(arr(&v["items"]).len() as u64), "{q}");
        arr(&v["items"]).clone()
    };
    let alice = count("q=alice");
    assert_eq!(alice.len(), 50);
    assert!(alice.iter().all(|p| p["name"].as_str().is_some_and(|n| n.starts_with("alice"))));
    let disabled = count("enabled=false");
    assert_eq!(disabled.len(), 25);
    assert!(disabled.iter().all(|p| p["enabled"] == false));
    assert_eq!(count("enabled=false&q=bob").len(), 25, "i % 10 == 3 is never a multiple of 5");
    assert_eq!(count("node_id=node1").len(), 250);
    assert_eq!(count("node_id=node9").len(), 0);
    // Filters without limit: the plain list, filtered.
    assert_eq!(arr(&d.ok("GET", "/api/configs/wg0/peers?q=alice", None)).len(), 50);

    let bad = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("limit=10&offset=-1", "offset"),
        ("offset=10", "offset"),
        ("enabled=maybe", "enabled"),
        ("node_id=bad%20id", "node_id"),
        ("q=%01", "q"),
        (&format!("q={}", "a".repeat(65)), "q"),
        ("colour=red", "colour"),
    ];
    for (q, field) in bad {
        let (code, v) = d.get(&format!("/api/configs/wg0/peers?{q}"));
        assert_eq!(code, 400, "{q}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(field), "{q}: {msg:?} does not name {field}");
    }
    assert_eq!(d.get("/api/configs/nope/peers?limit=5").0, 404);
}

/// A bulk sent twice with one key creates its peers once; the repeat answers with the same peers
/// and `Idempotent-Replayed: true`, also after a restart. The key with another body is a 409 and
/// changes nothing; a malformed key is a 400 naming the header, before anything is applied.
#[test]
fn idempotency_key_applies_a_write_once() {
    let mut d = Daemon::start(Options::default().tag("idem"));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.21.0.1/22", "listen_port": 51820 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    let bulk = Value::Array((0..300).map(|i| json!({ "name": format!("p{i}") })).collect());
    let path = "/api/configs/wg0/peers";

    let first = with_key(&d, "POST", path, "bulk-7f3a", Some(&bulk));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("Idempotent-Replayed"), None);
    let first_ids = ids(&first.json()["data"]);
    assert_eq!(first_ids.len(), 300);

    let again = with_key(&d, "POST", path, "bulk-7f3a", Some(&bulk));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(ids(&again.json()["data"]), first_ids, "the repeat answers with the first peers");
    assert_eq!(arr(&d.ok("GET", path, None)).len(), 300, "nothing applied twice");

    // Same key, another request: refused, nothing created.
    let other = Value::Array(vec![json!({ "name": "intruder" })]);
    let r = with_key(&d, "POST", path, "bulk-7f3a", Some(&other));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("Idempotency-Key"), "{}", r.text());
    assert_eq!(arr(&d.ok("GET", path, None)).len(), 300);

    // Bad keys: 400 naming the header; nothing applied.
    for key in ["", "has space", &"k".repeat(129)] {
        let r = with_key(&d, "POST", path, key, Some(&other));
        assert_eq!(r.status, 400, "key {key:?}: {}", r.text());
        assert!(r.json()["message"].as_str().is_some_and(|m| m.starts_with("Idempotency-Key")), "{}", r.text());
    }
    assert_eq!(arr(&d.ok("GET", path, None)).len(), 300);

    // Other write routes: a patch and a delete, each repeated.
    let victim = &first_ids[0];
    let patch = json!({ "name": "renamed" });
    for _ in 0..2 {
        let r = with_key(&d, "PATCH", &format!("{path}/{victim}"), "patch-1", Some(&patch));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let audit = d.ok("GET", &format!("/api/audit-logs?action=peer_updated&entity_id={victim}"), None);
    assert_eq!(arr(&audit).len(), 1, "one update, one audit entry: {audit}");
    for n in 0..2 {
        let r = with_key(&d, "DELETE", &format!("{path}/{victim}"), "delete-1", None);
        assert_eq!(r.status, 200, "delete #{n}: {}", r.text());
        assert_eq!(r.header("Idempotent-Replayed").is_some(), n == 1);
    }
    // Without a key a second delete is what it always was: 404.
    assert_eq!(d.delete(&format!("{path}/{victim}")).0, 404);

    // A join token's secret is shown once: its repeat is refused, not a second token.
    let t = with_key(&d, "POST", "/api/cluster/join-tokens", "token-1", Some(&json!({})));
    assert_eq!(t.status, 200, "{}", t.text());
    let t2 = with_key(&d, "POST", "/api/cluster/join-tokens", "token-1", Some(&json!({})));
    assert_eq!(t2.status, 409, "{}", t2.text());

    // The record is replicated state: it survives a restart (snapshot or log replay).
    d.restart();
    let after = with_key(&d, "POST", path, "bulk-7f3a", Some(&bulk));
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(after.header("Idempotent-Replayed"), Some("true"));
    let after_ids: HashSet<String> = ids(&after.json()["data"]).into_iter().collect();
    assert_eq!(after_ids.len(), 299, "the deleted peer is gone from the replayed answer, the rest are the first ones");
    assert!(after_ids.iter().all(|id| first_ids.contains(id)));
    assert_eq!(arr(&d.ok("GET", path, None)).len(), 299);
}
