//! Issue 10, holes 2, 6 and 7 against the real daemon: one name rule at every entry point (API
//! single and bulk, PATCH, the agent route, the rpcd bridge), client configs that no value can add
//! a line to, bounded string fields with short error messages, and audited private-key reads.

use serde_json::{json, Value};
use std::process::Stdio;
use wgcluster_actors::model::generate_keypair;
use wgcluster_tests::daemon::{run_with_timeout, Daemon, Options, REQUEST_TIMEOUT};

const HOSTILE: &[&str] = &["x\n[Interface]\nPostUp = touch /tmp/pwned", "a\rb", "nul\0byte", "evil\u{202E}gpj.exe", "zero\u{200B}width"];

fn setup(tag: &str) -> Daemon {
    let d = Daemon::start(Options::default().tag(tag));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d
}

fn message(v: &Value) -> String {
    v["message"].as_str().unwrap_or("").to_string()
}

fn assert_refused(what: &str, code: u16, v: &Value, field: &str) {
    assert_eq!(code, 400, "{what}: {v}");
    let m = message(v);
    assert!(m.contains(field), "{what}: {m:?} does not name {field}");
    assert!(m.len() < 300 && !m.contains('\n') && !m.contains('\r'), "{what}: {m:?}");
}

/// `wgclusterd rpcd call METHOD` with `input` on stdin: the reply object.
fn rpcd(d: &Daemon, method: &str, input: &Value) -> Value {
    let mut cmd = d.setup.command(&["rpcd", "call", method]);
    let input_file = d.setup.dir.path.join("rpcd-input.json");
    std::fs::write(&input_file, input.to_string()).expect("write rpcd input");
    cmd.stdin(Stdio::from(std::fs::File::open(&input_file).expect("open rpcd input")));
    let out = run_with_timeout(cmd, REQUEST_TIMEOUT);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("rpcd {method}: not JSON ({e}): {:?}", String::from_utf8_lossy(&out.stdout)))
}

fn peer_names(d: &Daemon) -> Vec<String> {
    let v = d.ok("GET", "/api/configs/wg0/peers", None);
    v.as_array().map(|a| a.iter().map(|p| p["name"].as_str().unwrap_or("").to_string()).collect()).unwrap_or_default()
}

/// Parses wg-quick text as INI: (sections in order, keys per section). Panics on a line that is
/// neither blank, a comment, a section header nor `Key = value`.
fn ini(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.split('\n') {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            out.push((l.to_string(), Vec::new()));
            continue;
        }
        let (k, _) = l.split_once('=').unwrap_or_else(|| panic!("not an INI line: {l:?} in\n{text}"));
        out.last_mut().unwrap_or_else(|| panic!("key before any section: {l:?}")).1.push(k.trim().to_string());
    }
    out
}

#[test]
fn hole2_peer_name_cannot_inject_config_lines() {
    let d = setup("hole2");
    let good = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop # [Peer] = x" })));
    let id = good["id"].as_str().expect("peer id").to_string();
    let before = peer_names(&d);

    for bad in HOSTILE {
        let (c, v) = d.post("/api/configs/wg0/peers", &json!({ "name": bad }));
        assert_refused(&format!("single {bad:?}"), c, &v, "name");
        let (c, v) = d.post("/api/configs/wg0/peers", &json!([{ "name": "fine" }, { "name": bad }]));
        assert_refused(&format!("bulk {bad:?}"), c, &v, "[1].name");
        let (c, v) = d.call("PATCH", &format!("/api/configs/wg0/peers/{id}"), Some(&json!({ "name": bad })));
        assert_refused(&format!("patch {bad:?}"), c, &v, "name");
        let (_, public) = generate_keypair();
        let (c, v) = d.post("/v1/wg/wg0/peers", &json!({ "public_key": public.to_base64(), "name": bad }));
        assert_refused(&format!("agent {bad:?}"), c, &v, "name");
        let r = rpcd(&d, "peer_create", &json!({ "config": "wg0", "name": bad }));
        assert_eq!(r["status"], false, "rpcd {bad:?}: {r}");
        let r = rpcd(&d, "peer_update", &json!({ "config": "wg0", "peer_id": id, "name": bad }));
        assert_eq!(r["status"], false, "rpcd update {bad:?}: {r}");
    }
    assert_eq!(peer_names(&d), before, "a refused name changed the peers");
    // The agent route without a name still works (a generated one).
    let (_, public) = generate_keypair();
    let (c, v) = d.post("/v1/wg/wg0/peers", &json!({ "public_key": public.to_base64() }));
    assert_eq!(c, 200, "{v}");

    let (code, text) = d.call_text_as(Some(d.token()), "GET", &format!("/api/configs/wg0/peers/{id}/config"), None);
    assert_eq!(code, 200, "{text}");
    let sections = ini(&text);
    let names: Vec<&str> = sections.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["[Interface]", "[Peer]"], "{text}");
    for (section, keys) in &sections {
        for k in keys {
            assert!(!["PostUp", "PreUp", "PostDown", "PreDown", "Table", "SaveConfig"].contains(&k.as_str()), "{section} has {k}:\n{text}");
        }
        let mut dedup = keys.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), keys.len(), "duplicate key in {section}:\n{text}");
    }
}

#[test]
fn hole6_string_fields_are_bounded() {
    let d = setup("hole6");
    let big = "A".repeat(1_000_000);
    let nodes_before = d.ok("GET", "/api/nodes", None);
    for (label, name) in [("empty", ""), ("blank", "   "), ("nul", "a\0b"), ("crlf", "a\r\nb"), ("1 MB", big.as_str())] {
        let (c, v) = d.post("/api/nodes", &json!({ "id": "node9", "name": name }));
        assert_refused(&format!("create node, {label}"), c, &v, "name");
        assert!(!message(&v).contains(&big[..100]), "{label}: the value was echoed");
        let (c, v) = d.call("PATCH", "/api/nodes/node1", Some(&json!({ "name": name })));
        assert_refused(&format!("patch node, {label}"), c, &v, "name");
        assert!(!message(&v).contains(&big[..100]), "{label}: the value was echoed");
    }
    assert_eq!(d.ok("GET", "/api/nodes", None), nodes_before, "a refused node name changed the nodes");

    // Names at the limit are fine; one byte more is not.
    d.ok("PATCH", "/api/nodes/node1", Some(&json!({ "name": "n".repeat(64) })));
    let (c, v) = d.call("PATCH", "/api/nodes/node1", Some(&json!({ "name": "n".repeat(65) })));
    assert_refused("65-byte name", c, &v, "name");

    // Secrets and ids: bounded, and never echoed.
    let settings_before = d.ok("GET", "/api/settings/dns", None);
    let long_token = "t".repeat(10_000);
    let (c, v) = d.call("PUT", "/api/settings/dns", Some(&json!({ "cloudflare": { "api_token": long_token } })));
    assert_refused("long api_token", c, &v, "cloudflare.api_token");
    assert!(!message(&v).contains(&long_token[..40]));
    let long_server = format!("{}:53", "s".repeat(10_000));
    let rfc = json!({ "rfc2136": { "server": long_server, "zone": "example.test", "key_name": "k", "key_secret": "c2VjcmV0" } });
    let (c, v) = d.call("PUT", "/api/settings/dns", Some(&rfc));
    assert_refused("long rfc2136.server", c, &v, "rfc2136.server");
    assert!(!message(&v).contains(&"s".repeat(100)));
    assert_eq!(d.ok("GET", "/api/settings/dns", None), settings_before);
    for zone in ["z".repeat(1000), "abc/../x".to_string(), "a\nb".to_string()] {
        let group = json!({ "domain": "vpn.example.test", "cloudflare_zone_id": zone });
        let (c, v) = d.post("/api/configs/wg0/endpoint-group", &group);
        assert_refused("bad cloudflare_zone_id", c, &v, "cloudflare_zone_id");
        assert!(!message(&v).contains(&"z".repeat(100)));
    }
    assert_eq!(d.get("/api/configs/wg0/endpoint-group").0, 404, "a refused group was stored");

    // Other echoed values are quoted as a short prefix too.
    let (c, v) = d.post("/api/configs", &json!({ "name": "wg1", "address": "10.1.0.1/24", "listen_port": 51821, "dns": [big] }));
    assert_refused("long dns", c, &v, "dns");
    let (c, v) = d.post("/api/nodes", &json!({ "id": "node9", "endpoint": big }));
    assert_refused("long endpoint", c, &v, "endpoint");
    let mut obj = serde_json::Map::new();
    obj.insert(big.clone(), json!(1));
    let (c, v) = d.post("/api/nodes", &Value::Object(obj));
    assert_refused("long unknown field", c, &v, "unknown field");
}

#[test]
fn hole7_private_key_reads_are_audited() {
    let d = setup("hole7");
    let peer = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "phone" })));
    let id = peer["id"].as_str().expect("peer id").to_string();
    let download = format!("/api/configs/wg0/peers/{id}/config");
    let audit_of = |d: &Daemon| -> Vec<Value> {
        d.ok("GET", "/api/audit-logs?action=peer_private_key_read&limit=100", None).as_array().cloned().unwrap_or_default()
    };
    assert!(audit_of(&d).is_empty());

    // The rule: keys leave only through the download route, each download is audited first.
    let (code, text) = d.call_text_as(Some(d.token()), "GET", &download, None);
    assert_eq!(code, 200, "{text}");
    let key_of = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} = "))).unwrap_or_else(|| panic!("no {name} in {text}")).to_string()
    };
    let (private, psk) = (key_of("PrivateKey"), key_of("PresharedKey"));
    assert_eq!(private.len(), 44, "{text}");

    // The second route renders the same files without the keys (and is not a key read).
    let configs = d.ok("GET", &format!("/api/peers/{id}/configs"), None);
    let listed = configs.to_string();
    assert!(!listed.contains(&private) && !listed.contains(&psk), "keys in /api/peers/{{id}}/configs: {listed}");
    assert_eq!(configs[0]["keys_redacted"], true, "{configs}");
    assert_eq!(configs[0]["download"], download);
    let entries = audit_of(&d);
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Through the control socket as a named ubus user, and as a QR code: audited as well.
    let r = d.control_raw("GET", &download, &[("X-Wgcluster-User", "alice")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let (code, svg) = d.call_text_as(Some(d.token()), "GET", &format!("{download}?format=qr"), None);
    assert_eq!(code, 200, "{svg}");
    let entries = audit_of(&d);
    assert_eq!(entries.len(), 3, "{entries:?}");
    let created_by = d.ok("GET", "/api/audit-logs?action=peer_created", None)[0]["user"].clone();
    let users: Vec<&str> = entries.iter().map(|e| e["user"].as_str().unwrap_or("")).collect();
    assert!(users.contains(&"alice") && users.contains(&created_by.as_str().unwrap_or("?")), "{users:?}");
    for e in &entries {
        assert_eq!(e["entity_id"], id.as_str(), "{e}");
        let t = e.to_string();
        assert!(t.contains("phone") && t.contains("wg0"), "{t}");
        assert!(!t.contains(&private) && !t.contains(&psk), "a key in the audit log: {t}");
    }
    let all = d.ok("GET", "/api/audit-logs?limit=1000", None).to_string();
    assert!(!all.contains(&private) && !all.contains(&psk));
    assert!(!d.log().contains(&private), "a key in the daemon log");

    // A peer whose client holds its own key and no preshared key: nothing secret, nothing audited.
    let (_, public) = generate_keypair();
    let own = d.ok(
        "POST",
        "/api/configs/wg0/peers",
        Some(&json!({ "name": "own-key", "public_key": public.to_base64(), "preshared_key": "none" })),
    );
    let own_id = own["id"].as_str().expect("peer id");
    assert_eq!(d.call_text_as(Some(d.token()), "GET", &format!("/api/configs/wg0/peers/{own_id}/config"), None).0, 200);
    assert_eq!(audit_of(&d).len(), 3);
}
