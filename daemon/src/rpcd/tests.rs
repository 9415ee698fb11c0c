//! The bridge's tests: the table, the translation, the replies, the ACL file.

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => panic!("not an object"),
    }
}

fn one(http: &'static str, path: &str, body: Option<Value>) -> Vec<Req> {
    vec![Req { http, path: path.into(), body }]
}

#[test]
fn method_to_http_table() {
    let s = json!({ "ubus_rpc_session": "0123" });
    let cases: Vec<(&str, Value, Vec<Req>)> = vec![
        ("status", s.clone(), one("GET", "/api/cluster", None)),
        ("health", json!({}), one("GET", "/api/health", None)),
        ("nodes_list", json!({}), one("GET", "/api/nodes", None)),
        (
            "node_create",
            json!({ "id": "r2", "endpoint": "192.0.2.2", "ubus_rpc_session": "x" }),
            one("POST", "/api/nodes", Some(json!({ "id": "r2", "endpoint": "192.0.2.2" }))),
        ),
        (
            "node_update",
            json!({ "node_id": "r2", "weight": 3, "enabled": false }),
            one("PATCH", "/api/nodes/r2", Some(json!({ "weight": 3, "enabled": false }))),
        ),
        ("node_delete", json!({ "node_id": "r2" }), one("DELETE", "/api/nodes/r2", None)),
        ("configs_list", json!({}), one("GET", "/api/configs", None)),
        (
            "config_create",
            json!({ "name": "wg0", "address": ["10.0.0.1/24"], "listen_port": 51820 }),
            one("POST", "/api/configs", Some(json!({ "name": "wg0", "address": ["10.0.0.1/24"], "listen_port": 51820 }))),
        ),
        ("config_update", json!({ "config": "wg0", "mtu": 1420 }), one("PATCH", "/api/configs/wg0", Some(json!({ "mtu": 1420 })))),
        ("config_delete", json!({ "config": "wg0" }), one("DELETE", "/api/configs/wg0", None)),
        ("config_delete", json!({ "config": "wg0", "force": true }), one("DELETE", "/api/configs/wg0?force=true", None)),
        ("config_nodes", json!({ "config": "wg0" }), one("GET", "/api/configs/wg0/nodes", None)),
        (
            "config_node_assign",
            json!({ "config": "wg0", "node_id": "r1" }),
            one("POST", "/api/configs/wg0/nodes", Some(json!({ "node_id": "r1" }))),
        ),
        ("config_node_remove", json!({ "config": "wg0", "node_id": "r1" }), one("DELETE", "/api/configs/wg0/nodes/r1", None)),
        (
            "migrate",
            json!({ "config": "wg0", "node_id": "r1", "destination_node_id": "r2" }),
            one("POST", "/api/configs/wg0/nodes/r1/migrate", Some(json!({ "destination_node_id": "r2" }))),
        ),
        ("migrate", json!({ "config": "wg0", "node_id": "r1" }), one("POST", "/api/configs/wg0/nodes/r1/migrate", Some(json!({})))),
        ("endpoint_group_get", json!({ "config": "wg0" }), one("GET", "/api/configs/wg0/endpoint-group", None)),
        (
            "endpoint_group_set",
            json!({ "config": "wg0", "domain": "vpn.example.com", "ttl": 60 }),
            one("POST", "/api/configs/wg0/endpoint-group", Some(json!({ "domain": "vpn.example.com", "ttl": 60 }))),
        ),
        ("endpoint_group_delete", json!({ "config": "wg0" }), one("DELETE", "/api/configs/wg0/endpoint-group", None)),
        ("peers_list", json!({ "config": "wg0" }), one("GET", "/api/configs/wg0/peers", None)),
        (
            "peer_create",
            json!({ "config": "wg0", "name": "phone", "allowed_ips": ["0.0.0.0/0"] }),
            one("POST", "/api/configs/wg0/peers", Some(json!({ "name": "phone", "allowed_ips": ["0.0.0.0/0"] }))),
        ),
        (
            "peer_create",
            json!({ "config": "wg0", "peers": [{ "name": "a" }, { "name": "b" }] }),
            one("POST", "/api/configs/wg0/peers", Some(json!([{ "name": "a" }, { "name": "b" }]))),
        ),
        (
            "peer_update",
            json!({ "config": "wg0", "peer_id": "00ff", "enabled": false }),
            one("PATCH", "/api/configs/wg0/peers/00ff", Some(json!({ "enabled": false }))),
        ),
        ("peer_delete", json!({ "config": "wg0", "peer_id": "00ff" }), one("DELETE", "/api/configs/wg0/peers/00ff", None)),
        (
            "peer_config",
            json!({ "config": "wg0", "peer_id": "00ff" }),
            vec![
                Req { http: "GET", path: "/api/configs/wg0/peers/00ff/config?format=conf".into(), body: None },
                Req { http: "GET", path: "/api/configs/wg0/peers/00ff/config?format=qr".into(), body: None },
            ],
        ),
        (
            "peer_config",
            json!({ "config": "wg0", "peer_id": "00ff", "format": "qr" }),
            one("GET", "/api/configs/wg0/peers/00ff/config?format=qr", None),
        ),
        ("audit_list", json!({}), one("GET", "/api/audit-logs", None)),
        (
            "audit_list",
            json!({ "entity_type": "peer", "action": "peer created&x=1", "limit": 25, "offset": 50, "entity_id": "" }),
            one("GET", "/api/audit-logs?entity_type=peer&action=peer%20created%26x%3D1&limit=25&offset=50", None),
        ),
        ("audit_actions", json!({}), one("GET", "/api/audit-logs/actions", None)),
        ("dns_status", json!({}), one("GET", "/api/dns/status", None)),
        ("dns_removals", json!({}), one("GET", "/api/dns/removals", None)),
        (
            "dns_settings_set",
            json!({ "reconcile_interval_s": 60 }),
            one("PUT", "/api/settings/dns", Some(json!({ "reconcile_interval_s": 60 }))),
        ),
        ("health_settings_set", json!({ "profile": "lan" }), one("PUT", "/api/settings/health", Some(json!({ "profile": "lan" })))),
        ("dns_queue_list", json!({}), one("GET", "/api/dns/queue", None)),
        ("dns_queue_retry", json!({ "id": 7 }), one("POST", "/api/dns/queue/7/retry", None)),
        ("dns_queue_drop", json!({ "id": "7" }), one("DELETE", "/api/dns/queue/7", None)),
        ("dns_settings_get", json!({}), one("GET", "/api/settings/dns", None)),
        (
            "dns_settings_set",
            json!({ "cloudflare": { "api_token": "t", "api_base": "http://127.0.0.1:1" } }),
            one("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": "t", "api_base": "http://127.0.0.1:1" } }))),
        ),
        ("backups_list", json!({}), one("GET", "/api/backups", None)),
        ("backup_get", json!({ "id": "3" }), one("GET", "/api/backups/3", None)),
        ("health_settings_get", json!({}), one("GET", "/api/settings/health", None)),
        (
            "health_settings_set",
            json!({ "unhealthy_after": 4, "auto_migrate_independent": true }),
            one("PUT", "/api/settings/health", Some(json!({ "unhealthy_after": 4, "auto_migrate_independent": true }))),
        ),
        ("join_token_create", json!({ "ttl_s": 600 }), one("POST", "/api/cluster/join-tokens", Some(json!({ "ttl_s": 600 })))),
        ("join_token_create", json!({}), one("POST", "/api/cluster/join-tokens", Some(json!({})))),
        ("member_remove", json!({ "node_id": "r2" }), one("DELETE", "/api/cluster/members/r2", None)),
        (
            "peer_usage",
            json!({ "config": "wg0", "peer_id": "p1", "from": "2026-12-01", "step": "day" }),
            one("GET", "/api/configs/wg0/peers/p1/usage?from=2026-12-01&step=day", None),
        ),
        ("usage_settings_get", json!({}), one("GET", "/api/settings/usage", None)),
        ("usage_settings_set", json!({ "interval_s": 30 }), one("PUT", "/api/settings/usage", Some(json!({ "interval_s": 30 })))),
        // ubus has no null: an empty string clears a peer's limit (JSON null to the API) ...
        (
            "peer_update",
            json!({ "config": "wg0", "peer_id": "p1", "data_limit_bytes": "", "expires_at": "", "rx_limit_bytes": "", "tx_limit_bytes": "" }),
            one(
                "PATCH",
                "/api/configs/wg0/peers/p1",
                Some(json!({ "data_limit_bytes": null, "expires_at": null, "rx_limit_bytes": null, "tx_limit_bytes": null })),
            ),
        ),
        // ... and only in those fields; values pass through as given.
        (
            "peer_update",
            json!({ "config": "wg0", "peer_id": "p1", "name": "", "data_limit_bytes": 1000, "expires_at": "2027-01-01" }),
            one("PATCH", "/api/configs/wg0/peers/p1", Some(json!({ "name": "", "data_limit_bytes": 1000, "expires_at": "2027-01-01" }))),
        ),
        // an endpoint group's floating address: "" is none (null), the other VIP fields pass
        (
            "endpoint_group_set",
            json!({ "config": "wg0", "domain": "vpn.example.com", "vip": "", "vip_interface": "" }),
            one(
                "POST",
                "/api/configs/wg0/endpoint-group",
                Some(json!({ "domain": "vpn.example.com", "vip": null, "vip_interface": null })),
            ),
        ),
        (
            "endpoint_group_set",
            json!({ "config": "wg0", "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 51, "vip_interface": "br-lan", "vip_preempt": false }),
            one(
                "POST",
                "/api/configs/wg0/endpoint-group",
                Some(
                    json!({ "domain": "vpn.example.com", "vip": "192.0.2.10", "vrid": 51, "vip_interface": "br-lan", "vip_preempt": false }),
                ),
            ),
        ),
        (
            "peer_create",
            json!({ "config": "wg0", "name": "a", "expires_at": "" }),
            one("POST", "/api/configs/wg0/peers", Some(json!({ "name": "a", "expires_at": null }))),
        ),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for (name, input, want) in cases {
        let m = find(name).unwrap_or_else(|| panic!("no method {name}"));
        assert_eq!(plan(m, &obj(input.clone())), Ok(want), "{name} {input}");
        covered.insert(name);
    }
    for m in METHODS {
        assert!(covered.contains(m.name), "method {} has no row in the table", m.name);
    }
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("node_delete", json!({}), "node_id: is required"),
        ("node_delete", json!({ "node_id": "../cluster" }), "node_id: '../cluster' must not contain '/' or '..'"),
        ("node_delete", json!({ "node_id": "a/b" }), "must not contain '/'"),
        ("node_delete", json!({ "node_id": ".." }), "must not contain"),
        ("node_delete", json!({ "node_id": "" }), "node_id: must not be empty"),
        ("node_delete", json!({ "node_id": "a?b=1" }), "contains '?'"),
        ("node_delete", json!({ "node_id": "a%2f" }), "contains '%'"),
        ("node_delete", json!({ "node_id": "a b" }), "contains ' '"),
        ("node_delete", json!({ "node_id": ["x"] }), "node_id: expected a string"),
        ("peer_delete", json!({ "config": "wg0", "peer_id": "x#y" }), "peer_id:"),
        ("node_delete", json!({ "node_id": "r1", "force": true }), "force: unknown argument of node_delete"),
        ("audit_list", json!({ "limit": [1] }), "limit: expected a string, number or boolean"),
        ("peer_config", json!({ "config": "wg0", "peer_id": "1", "format": "pdf" }), "format: 'pdf' is not conf, qr or both"),
        ("peer_create", json!({ "config": "wg0", "peers": 5 }), "peers: expected an array"),
        ("peer_create", json!({ "config": "wg0", "peers": [], "name": "x" }), "peers: give either"),
    ];
    for (name, input, want) in cases {
        let m = find(name).expect("method");
        let err = plan(m, &obj(input.clone())).expect_err(&format!("{name} {input} should fail"));
        assert!(err.contains(want), "{name} {input}: {err} !~ {want}");
    }
    assert_eq!(segment("x", Some(&json!("vpn.example.com"))), Ok("vpn.example.com".into()));
    assert_eq!(segment("x", Some(&json!("wg=+_.-0"))), Ok("wg=+_.-0".into()));
    assert!(segment("x", Some(&json!("a".repeat(254)))).is_err());
}

#[test]
fn signatures_list_every_method_with_typed_examples() {
    let sig = signatures();
    let o = sig.as_object().expect("object");
    assert_eq!(o.len(), METHODS.len());
    assert_eq!(sig["peer_update"]["keepalive"], json!(1));
    assert_eq!(sig["peer_update"]["enabled"], json!(true));
    assert_eq!(sig["peer_update"]["allowed_ips"], json!([]));
    assert_eq!(sig["peer_update"]["config"], json!("str"));
    assert_eq!(sig["dns_settings_set"]["cloudflare"], json!({}));
    assert_eq!(sig["status"], json!({}));
    let mut names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), METHODS.len(), "duplicate method names");
    for m in METHODS {
        for p in placeholders(m.path) {
            assert!(m.args.iter().any(|(n, _)| *n == p), "{}: path argument {p} missing from the signature", m.name);
        }
        for q in m.query {
            assert!(m.args.iter().any(|(n, _)| n == q), "{}: query argument {q} missing from the signature", m.name);
        }
        let mutating = m.http != "GET";
        assert!(mutating == m.write || m.name == "peer_config", "{}: write flag disagrees with {}", m.name, m.http);
    }
}

#[test]
fn answers_become_one_json_object() {
    let ok = envelope(200, br#"{"status":true,"message":"ok","data":[1]}"#);
    assert_eq!(ok, json!({ "status": true, "message": "ok", "data": [1] }));
    let bad = envelope(400, br#"{"status":false,"message":"public_key: bad","data":null}"#);
    assert_eq!(bad["status"], json!(false));
    assert_eq!(bad["error"], json!("public_key: bad"));
    assert_eq!(bad["code"], json!(400));
    let html = envelope(502, b"<html>bad gateway</html>");
    assert_eq!(html["status"], json!(false));
    assert!(html["error"].as_str().unwrap_or("").contains("502"));
    let arr = envelope(200, b"[1,2]");
    assert_eq!(arr["data"], json!([1, 2]));
    let req_conf = Req { http: "GET", path: "/x?format=conf".into(), body: None };
    let req_qr = Req { http: "GET", path: "/x?format=qr".into(), body: None };
    let both = peer_config_reply(vec![(&req_conf, 200, b"[Interface]\n".to_vec()), (&req_qr, 200, b"<svg/>".to_vec())]);
    assert_eq!(both["data"], json!({ "config": "[Interface]\n", "qr_svg": "<svg/>" }));
    let missing = peer_config_reply(vec![(&req_conf, 404, br#"{"status":false,"message":"peer 'x' not found"}"#.to_vec())]);
    assert_eq!(missing["error"], json!("peer 'x' not found"));
    assert_eq!(error("boom"), json!({ "status": false, "error": "boom", "message": "boom", "data": null }));
}

#[test]
fn user_names_cannot_break_the_header() {
    assert_eq!(sanitize_user("root\r\nX-Evil: 1"), "rootX-Evil1");
    assert_eq!(sanitize_user("alice@example.com"), "alice@example.com");
    assert_eq!(session_user(&Map::new()), "ubus");
}

/// The LuCI app's ACL groups the methods the same way: read for the others, write for `write`.
#[test]
fn acl_file_splits_read_and_write_like_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../luci-app/luci-app-wgcluster/root/usr/share/rpcd/acl.d/luci-app-wgcluster.json");
    let text = std::fs::read_to_string(path).expect("ACL file");
    let acl: Value = serde_json::from_str(&text).expect("ACL JSON");
    let group = &acl["luci-app-wgcluster"];
    let names = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = group[kind]["ubus"]["wgcluster"]
            .as_array()
            .unwrap_or_else(|| panic!("{kind}.ubus.wgcluster"))
            .iter()
            .map(|x| x.as_str().expect("string").to_string())
            .collect();
        v.sort();
        v
    };
    let want = |write: bool| -> Vec<String> {
        let mut v: Vec<String> = METHODS.iter().filter(|m| m.write == write).map(|m| m.name.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names("read"), want(false), "read methods");
    assert_eq!(names("write"), want(true), "write methods");
}

/// An argument value that fills a path placeholder (a valid segment of every kind).
fn sample(arg: &str) -> Value {
    match arg {
        "id" => json!(7),
        "peer_id" => json!("00ff"),
        _ => json!("wg0"),
    }
}

/// Every method's request reaches a route of `http::routes`: the router finds a handler for its
/// method and path (an unknown route is the JSON 404 "no route for …").
#[test]
fn every_method_path_is_a_route() {
    use crate::http::server::{Method as HttpMethod, Router};
    let router = crate::http::routes(Router::new());
    // The check cannot pass by matching everything.
    assert!(router.find(&HttpMethod::Get, "/api/no-such-route").is_none());
    for m in METHODS {
        let input: Map<String, Value> = placeholders(m.path).into_iter().map(|p| (p.to_string(), sample(p))).collect();
        let reqs = plan(m, &input).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        for r in reqs {
            let path = r.path.split('?').next().unwrap_or_default();
            assert!(router.find(&HttpMethod::parse(r.http), path).is_some(), "{}: {} {} is not a route", m.name, r.http, r.path);
        }
    }
}

/// `idempotency_key` becomes the header, never the body; it is checked like the daemon checks
/// the header, refused on reads, and every write's signature lists it.
#[test]
#[allow(clippy::type_complexity)] // the case table
fn idempotency_key_argument() {
    let create = find("peer_create").expect("peer_create");
    let list = find("peers_list").expect("peers_list");
    let input = |v: Value| v.as_object().cloned().unwrap_or_default();
    let cases: &[(&Method, Value, Result<Option<&str>, &str>)] = &[
        (create, json!({ "config": "wg0", "name": "a" }), Ok(None)),
        (create, json!({ "config": "wg0", "name": "a", "idempotency_key": "form-1" }), Ok(Some("form-1"))),
        (create, json!({ "config": "wg0", "idempotency_key": "has space" }), Err("idempotency_key: Idempotency-Key")),
        (create, json!({ "config": "wg0", "idempotency_key": 7 }), Err("idempotency_key: expected a string")),
        (list, json!({ "config": "wg0", "idempotency_key": "k" }), Err("only reads")),
    ];
    for (m, inp, want) in cases {
        let got = plan::key(m, &input(inp.clone()));
        match (got, want) {
            (Ok(k), Ok(w)) => assert_eq!(k.as_deref(), *w, "{inp}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{inp}: {e}"),
            (g, w) => panic!("{inp}: got {g:?}, want {w:?}"),
        }
    }
    let reqs = plan::plan(create, &input(json!({ "config": "wg0", "name": "a", "idempotency_key": "form-1" }))).unwrap();
    assert_eq!(reqs[0].body, Some(json!({ "name": "a" })), "the key is not part of the body");
    let sig = signatures();
    for m in METHODS {
        assert_eq!(sig[m.name].get("idempotency_key").is_some(), m.http != "GET", "{}", m.name);
    }
    let paged = plan::plan(list, &input(json!({ "config": "wg0", "limit": 100, "offset": 200, "q": "al ice" }))).unwrap();
    assert_eq!(paged[0].path, "/api/configs/wg0/peers?limit=100&offset=200&q=al%20ice");
}
