//! Authentication (DESIGN §6): every route of the HTTP API answers 401 without the admin token or
//! with a wrong one, except `GET /api/health` and `GET /v1/health`; with the right token no route
//! answers 401. The route list is read from the daemon's source (`daemon/src/http/*.rs`), so a
//! route added later is covered without editing this file. The control socket needs no token,
//! is mode 0600, and `wgclusterd status` prints the leader through it.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use wgcluster_tests::daemon::{assert_envelope, Daemon, Options, RawRequest, RawResponse};

const OPEN_ROUTES: &[(&str, &str)] = &[("GET", "/api/health"), ("GET", "/v1/health")];
/// Routes served on the control socket only (`edge::RouteClass::ControlOnly`: keepalived's notify
/// hook, #16): the TCP API listener must not serve them at all, token or not.
const CONTROL_ONLY_ROUTES: &[(&str, &str)] = &[("POST", "/v1/vrrp/{config}")];

/// `(METHOD, path pattern)` of every `.method("/…", handler)` of the route table in `daemon/src/http/*.rs`.
fn routes_from_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/src/http");
    let mut out = BTreeSet::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read source");
        // The route table (`http::routes`): `.get("/api/…", handler)`, `.post(…)`, ….
        for method in ["get", "post", "put", "patch", "delete"] {
            let needle = format!(".{method}(\"/");
            let mut rest = src.as_str();
            while let Some(i) = rest.find(&needle) {
                rest = &rest[i + needle.len() - 1..];
                let Some(end) = rest.find('"') else { break };
                out.insert((method.to_uppercase(), rest[..end].to_string()));
            }
        }
    }
    out
}

/// Fills `{param}`s with `values` (by name), anything unknown with `x`.
fn fill(pattern: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').map(|e| i + e).expect("closing brace");
        let name = &rest[i + 1..end];
        let v = values.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap_or("x");
        out.push_str(v);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A body that would succeed if the route let the request through (so a route that forgot to
/// check the token would change the state, and the test would see it).
fn plausible_body(method: &str, pattern: &str) -> Option<Value> {
    let body = match (method, pattern) {
        ("POST", "/api/nodes") => json!({ "id": "intruder" }),
        ("PATCH", "/api/nodes/{node_id}") => json!({ "name": "intruder" }),
        ("POST", "/api/configs") => {
            json!({ "name": "evil", "address": "10.99.0.1/24", "listen_port": 51999 })
        }
        ("PATCH", "/api/configs/{config}") => json!({ "mtu": 1300 }),
        ("POST", "/api/configs/{config}/nodes") => json!({ "node_id": "node3" }),
        ("POST", "/api/configs/{config}/endpoint-group") => json!({ "domain": "evil.example.com" }),
        ("POST", "/api/configs/{config}/peers") => json!({ "name": "intruder" }),
        ("PATCH", "/api/configs/{config}/peers/{peer_id}") => json!({ "name": "intruder" }),
        ("PUT", "/api/settings/dns") => json!({ "cloudflare": { "api_token": "intruder" } }),
        (m, _) if ["POST", "PUT", "PATCH"].contains(&m) => json!({}),
        _ => return None,
    };
    Some(body)
}

fn request(method: &str, path: &str, body: Option<&Value>) -> RawRequest {
    let r = RawRequest::new(method, path);
    match body {
        Some(b) => r.json(b),
        None => r,
    }
}

fn snapshot(d: &Daemon) -> Value {
    let audit = d.ok("GET", "/api/audit-logs?limit=1000", None);
    let user_entries: Vec<&Value> =
        audit.as_array().expect("audit").iter().filter(|e| e["user"] != "dns-sync" && e["user"] != "system").collect();
    json!({
        "configs": d.ok("GET", "/api/configs", None),
        "nodes": d.ok("GET", "/api/nodes", None),
        "peers": d.ok("GET", "/api/configs/wg0/peers", None),
        "config_nodes": d.ok("GET", "/api/configs/wg0/nodes", None),
        "group": d.ok("GET", "/api/configs/wg0/endpoint-group", None)["domain"],
        "audit": user_entries.len(),
    })
}

#[test]
fn every_route_needs_the_token() {
    let routes = routes_from_source();
    // The parser must have found the table (a broken parse must not pass vacuously).
    for known in [
        ("GET", "/api/configs"),
        ("POST", "/api/configs/{config}/peers"),
        ("DELETE", "/api/configs/{config}/nodes/{node_id}"),
        ("GET", "/api/audit-logs"),
        ("GET", "/api/health"),
        ("GET", "/v1/health"),
    ] {
        assert!(routes.contains(&(known.0.to_string(), known.1.to_string())), "route {known:?} not found in daemon/src/http: {routes:?}");
    }
    assert!(routes.len() >= 30, "only {} routes parsed: {routes:?}", routes.len());

    let d = Daemon::start(Options::default().tag("auth"));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })));
    for n in ["node2", "node3"] {
        d.ok("POST", "/api/nodes", Some(&json!({ "id": n, "endpoint": "192.0.2.2" })));
    }
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node2" })));
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(&json!({ "domain": "vpn.example.com", "provider": "rfc2136" })));
    let peers = d.ok("POST", "/api/configs/wg0/peers", Some(&json!([{ "name": "a" }, { "name": "b" }])));
    let peer = peers[0]["id"].as_str().expect("peer id").to_string();
    // Real names, so a request that got through would hit real entities.
    let real = [("config", "wg0"), ("node_id", "node2"), ("peer_id", peer.as_str()), ("id", "1")];

    let token = d.token().to_string();
    let mut wrong = token.clone();
    let last = wrong.pop().expect("token");
    wrong.push(if last == '0' { '1' } else { '0' });
    let b64_basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{token}"))
    };
    let bad_auth: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("a wrong token", Some("Bearer wrong".to_string())),
        ("the token with its last character changed", Some(format!("Bearer {wrong}"))),
        ("the token with a suffix", Some(format!("Bearer {token}x"))),
        ("a token prefix", Some(format!("Bearer {}", &token[..token.len() / 2]))),
        ("an empty bearer", Some("Bearer ".to_string())),
        ("the bare token without a scheme", Some(token.clone())),
        ("Basic credentials", Some(format!("Basic {b64_basic}"))),
        ("the token as a second value", Some(format!("Bearer wrong, Bearer {token}"))),
    ];

    let before = snapshot(&d);
    let mut failures = Vec::new();
    let check = |r: &RawResponse, what: &str, failures: &mut Vec<String>| -> Option<Value> {
        let v: Value = match serde_json::from_slice(&r.body) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!("{what}: HTTP {}: body is not JSON: {:?}", r.status, r.text()));
                return None;
            }
        };
        if !v.is_object() || v["status"].as_bool() != Some((200..300).contains(&r.status)) || !v["message"].is_string() {
            failures.push(format!("{what}: HTTP {}: not the envelope: {v}", r.status));
        }
        Some(v)
    };
    for (method, pattern) in &routes {
        let open = OPEN_ROUTES.contains(&(method.as_str(), pattern.as_str()));
        let control_only = CONTROL_ONLY_ROUTES.contains(&(method.as_str(), pattern.as_str()));
        let path = fill(pattern, &real);
        let body = plausible_body(method, pattern);
        if control_only {
            // Not served over TCP, with any credentials, the right token included.
            let with_token = format!("Bearer {token}");
            for header in bad_auth.iter().map(|(_, h)| h.as_deref()).chain([Some(with_token.as_str())]) {
                let req = request(method, &path, body.as_ref());
                let req = match header {
                    Some(h) => req.header("Authorization", h),
                    None => req.no_auth(),
                };
                let r = d.raw(&req);
                if r.status != 404 || !r.text().contains("no route for") {
                    failures.push(format!(
                        "{method} {path} over TCP ({header:?}): HTTP {}, want 404 (control socket only): {}",
                        r.status,
                        r.text()
                    ));
                }
            }
            continue;
        }
        for (what, header) in &bad_auth {
            let mut req = request(method, &path, body.as_ref());
            req = match header {
                Some(h) => req.header("Authorization", h),
                None => req.no_auth(),
            };
            let r = d.raw(&req);
            let what = format!("{method} {path} with {what}");
            if open {
                if r.status != 200 {
                    failures.push(format!("{what}: HTTP {}, want 200 (open route)", r.status));
                }
                continue;
            }
            if r.status != 401 {
                let stale = if r.text().contains("no route for") {
                    " (the route is in the source but not in the binary: rebuild wgclusterd)"
                } else {
                    ""
                };
                failures.push(format!("{what}: HTTP {}, want 401{stale}: {}", r.status, r.text()));
                continue;
            }
            if let Some(v) = check(&r, &what, &mut failures) {
                let msg = v["message"].as_str().unwrap_or_default().to_lowercase();
                if !(msg.contains("token") || msg.contains("authorization")) {
                    failures.push(format!("{what}: the 401 message does not say what is missing: {msg}"));
                }
            }
            if r.header("www-authenticate").is_none_or(|h| !h.starts_with("Bearer")) {
                failures.push(format!("{what}: 401 without 'WWW-Authenticate: Bearer'"));
            }
        }
    }
    let after = snapshot(&d);
    assert_eq!(before, after, "a request without a valid token changed the state");

    // With the right token no route says 401. Names that do not exist keep this harmless.
    let harmless = [("config", "nosuch"), ("node_id", "nosuch"), ("peer_id", "0123456789abcdef"), ("id", "999999")];
    for (method, pattern) in &routes {
        let path = fill(pattern, &harmless);
        let body = plausible_body(method, pattern).map(|_| json!({}));
        for scheme in ["Bearer", "bearer"] {
            let req = request(method, &path, body.as_ref()).header("Authorization", &format!("{scheme} {token}"));
            let r = d.raw(&req);
            let what = format!("{method} {path} with the right token ({scheme})");
            if r.status == 401 {
                failures.push(format!("{what}: HTTP 401: {}", r.text()));
            }
            if pattern != "/metrics" {
                check(&r, &what, &mut failures);
            }
        }
    }
    // The open routes really are open, on the API listener.
    for (method, path) in OPEN_ROUTES {
        let (code, v) = d.call_as(None, method, path, None);
        assert_eq!(code, 200, "{method} {path}: {v}");
        assert_eq!(v["data"]["node_id"], "node1", "{v}");
    }
    let (code, metrics) = d.get_text("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("wgcluster_peers 2"), "{metrics}");
    assert!(failures.is_empty(), "{} problems over {} routes:\n{}", failures.len(), routes.len(), failures.join("\n"));
}

#[test]
fn control_socket_needs_no_token_and_is_private() {
    let mut d = Daemon::start(Options::default().tag("control"));
    let sock = d.setup.control_socket.clone();
    let meta = std::fs::metadata(&sock).expect("control socket exists");
    assert!(meta.file_type().is_socket(), "{} is not a socket", sock.display());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "control socket mode is {:o}", meta.permissions().mode() & 0o777);

    let (code, v) = d.control("GET", "/api/cluster", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["leader"], "node1", "{v}");
    assert_eq!(v["data"]["node_id"], "node1", "{v}");

    // Writes work too, audited as the local root user or the user the rpcd bridge names.
    let (code, v) = d.control("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })));
    assert_eq!(code, 200, "{v}");
    let body = json!({ "id": "node2" }).to_string();
    let r = d.control_raw("POST", "/api/nodes", &[("X-Wgcluster-User", "alice")], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = d.ok("GET", "/api/audit-logs?action=config_created", None);
    assert_eq!(entries[0]["user"], "root", "{entries}");
    let entries = d.ok("GET", "/api/audit-logs?action=node_created", None);
    assert_eq!(entries[0]["user"], "alice", "{entries}");
    // Errors on the socket are the same envelope.
    let (code, v) = d.control("GET", "/api/configs/nosuch", None);
    assert_eq!(code, 404, "{v}");
    assert_envelope("control GET /api/configs/nosuch", code, &v);

    // `wgclusterd status` goes through the socket and prints the leader.
    let out = d.setup.run(&["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "status failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let panel = stdout.lines().find_map(|l| l.strip_prefix("panel:")).unwrap_or_else(|| panic!("no 'panel:' line in:\n{stdout}"));
    assert_eq!(panel.trim(), "node1", "{stdout}");
    assert!(stdout.contains("node1"), "{stdout}");

    // With the daemon gone, `status` fails and says why; the socket file is removed.
    let st = d.stop().expect("was running");
    assert!(st.success(), "SIGTERM exit: {st}");
    assert!(!sock.exists(), "the control socket outlived the daemon");
    let out = d.setup.run(&["status"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&sock.display().to_string()), "{stderr}");
}
