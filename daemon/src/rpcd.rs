//! The rpcd bridge (DESIGN §2, §6): `wgclusterd rpcd list` and `wgclusterd rpcd call METHOD`, the
//! rpcd exec-plugin protocol behind the ubus object `wgcluster` (the LuCI app's only way in).
//!
//! rpcd runs `/usr/libexec/rpcd/wgcluster list` once to learn the methods and their argument
//! types, then `… call METHOD` with the call's arguments as one JSON object on stdin, and expects
//! exactly one JSON object on stdout. Each method here is one row of [`METHODS`]: an HTTP method and
//! a path template of the API, which arguments fill the path (validated as single path segments),
//! which go into the query string, and whether the rest is the JSON body. The request goes to the
//! local daemon over the control socket (no token: the socket is root-only), with the ubus
//! session's username as `X-Wgcluster-User`, so audit entries name the LuCI user.
//!
//! Every outcome is a JSON object and exit code 0: the daemon's own envelope
//! `{"status", "message", "data"}` when it answered JSON (plus `error` and `code` on failure), a
//! wrapped `data` object for the text and SVG of a peer config, and `{"status": false, "error": …}`
//! when the daemon cannot be reached or the call is malformed.

use crate::config;
use crate::control;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use wgcluster_actors::model::quote_prefix;

/// The type of one argument, as rpcd reads it from the example value in `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Str,
    Int,
    Bool,
    List,
    Obj,
}

impl Arg {
    fn example(self) -> Value {
        match self {
            Arg::Str => json!("str"),
            Arg::Int => json!(1),
            Arg::Bool => json!(true),
            Arg::List => json!([]),
            Arg::Obj => json!({}),
        }
    }
}

/// What becomes the request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Every input argument that is neither a path nor a query argument, as one JSON object
    /// (unknown ones included: the daemon refuses them with a message naming the field).
    Fields,
    /// As `Fields`, but an input `peers` array is sent as the body itself (bulk creation).
    FieldsOrBulk,
}

/// How the daemon's answer becomes the ubus reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The daemon's JSON envelope, passed on.
    Envelope,
    /// A peer's client config: wg-quick text and/or an SVG QR code, wrapped in an envelope.
    PeerConfig,
}

/// One ubus method of the `wgcluster` object.
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    pub http: &'static str,
    /// The API path with `{arg}` placeholders; each placeholder is an argument of the method.
    pub path: &'static str,
    /// The signature `list` prints (path arguments included).
    pub args: &'static [(&'static str, Arg)],
    /// Arguments that go into the query string instead of the body.
    pub query: &'static [&'static str],
    pub body: BodyKind,
    /// Mutating methods: the ACL's "write" group; the others are "read" (checked against the
    /// LuCI app's ACL file by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub write: bool,
    pub reply: Reply,
}

const fn m(
    name: &'static str,
    http: &'static str,
    path: &'static str,
    args: &'static [(&'static str, Arg)],
    body: BodyKind,
    write: bool,
) -> Method {
    Method { name, http, path, args, query: &[], body, write, reply: Reply::Envelope }
}

use Arg::*;
use BodyKind::*;

const PEER_PATCH: &[(&str, Arg)] =
    &[("config", Str), ("peer_id", Str), ("name", Str), ("allowed_ips", List), ("keepalive", Int), ("enabled", Bool), ("node_id", Str)];

/// Every method, one per API operation the LuCI views use.
pub static METHODS: &[Method] = &[
    m("status", "GET", "/api/cluster", &[], Empty, false),
    m("health", "GET", "/api/health", &[], Empty, false),
    m("nodes_list", "GET", "/api/nodes", &[], Empty, false),
    m(
        "node_create",
        "POST",
        "/api/nodes",
        &[("id", Str), ("name", Str), ("endpoint", Str), ("cluster_addr", Str), ("weight", Int)],
        Fields,
        true,
    ),
    m(
        "node_update",
        "PATCH",
        "/api/nodes/{node_id}",
        &[("node_id", Str), ("name", Str), ("endpoint", Str), ("weight", Int), ("enabled", Bool)],
        Fields,
        true,
    ),
    m("node_delete", "DELETE", "/api/nodes/{node_id}", &[("node_id", Str)], Empty, true),
    m("configs_list", "GET", "/api/configs", &[], Empty, false),
    m(
        "config_create",
        "POST",
        "/api/configs",
        &[
            ("name", Str),
            ("address", List),
            ("listen_port", Int),
            ("mtu", Int),
            ("dns", List),
            ("peer_allowed_ips", List),
            ("peer_keepalive", Int),
        ],
        Fields,
        true,
    ),
    m(
        "config_update",
        "PATCH",
        "/api/configs/{config}",
        &[("config", Str), ("listen_port", Int), ("mtu", Int), ("dns", List), ("peer_allowed_ips", List), ("peer_keepalive", Int)],
        Fields,
        true,
    ),
    Method {
        name: "config_delete",
        http: "DELETE",
        path: "/api/configs/{config}",
        args: &[("config", Str), ("force", Bool)],
        query: &["force"],
        body: Empty,
        write: true,
        reply: Reply::Envelope,
    },
    m("config_nodes", "GET", "/api/configs/{config}/nodes", &[("config", Str)], Empty, false),
    m("config_node_assign", "POST", "/api/configs/{config}/nodes", &[("config", Str), ("node_id", Str)], Fields, true),
    m("config_node_remove", "DELETE", "/api/configs/{config}/nodes/{node_id}", &[("config", Str), ("node_id", Str)], Empty, true),
    m(
        "migrate",
        "POST",
        "/api/configs/{config}/nodes/{node_id}/migrate",
        &[("config", Str), ("node_id", Str), ("destination_node_id", Str)],
        Fields,
        true,
    ),
    m("endpoint_group_get", "GET", "/api/configs/{config}/endpoint-group", &[("config", Str)], Empty, false),
    m(
        "endpoint_group_set",
        "POST",
        "/api/configs/{config}/endpoint-group",
        &[
            ("config", Str),
            ("domain", Str),
            ("port", Int),
            ("provider", Str),
            ("cloudflare_zone_id", Str),
            ("cloudflare_record_name", Str),
            ("ttl", Int),
            ("proxied", Bool),
            ("auto_migrate", Bool),
            ("publish_only_healthy", Bool),
            ("min_nodes", Int),
        ],
        Fields,
        true,
    ),
    m("endpoint_group_delete", "DELETE", "/api/configs/{config}/endpoint-group", &[("config", Str)], Empty, true),
    m("peers_list", "GET", "/api/configs/{config}/peers", &[("config", Str)], Empty, false),
    m(
        "peer_create",
        "POST",
        "/api/configs/{config}/peers",
        &[
            ("config", Str),
            ("name", Str),
            ("public_key", Str),
            ("preshared_key", Str),
            ("node_id", Str),
            ("allowed_ips", List),
            ("keepalive", Int),
            ("enabled", Bool),
            ("peers", List),
        ],
        FieldsOrBulk,
        true,
    ),
    m("peer_update", "PATCH", "/api/configs/{config}/peers/{peer_id}", PEER_PATCH, Fields, true),
    m("peer_delete", "DELETE", "/api/configs/{config}/peers/{peer_id}", &[("config", Str), ("peer_id", Str)], Empty, true),
    // The download holds the peer's private key when the daemon generated it: "write" in the ACL,
    // so a read-only LuCI user cannot take a client's identity.
    Method {
        name: "peer_config",
        http: "GET",
        path: "/api/configs/{config}/peers/{peer_id}/config",
        args: &[("config", Str), ("peer_id", Str), ("format", Str)],
        query: &["format"],
        body: Empty,
        write: true,
        reply: Reply::PeerConfig,
    },
    Method {
        name: "audit_list",
        http: "GET",
        path: "/api/audit-logs",
        args: &[("entity_type", Str), ("entity_id", Str), ("action", Str), ("limit", Int), ("offset", Int)],
        query: &["entity_type", "entity_id", "action", "limit", "offset"],
        body: Empty,
        write: false,
        reply: Reply::Envelope,
    },
    m("dns_status", "GET", "/api/dns/status", &[], Empty, false),
    m("dns_queue_list", "GET", "/api/dns/queue", &[], Empty, false),
    m("dns_queue_retry", "POST", "/api/dns/queue/{id}/retry", &[("id", Str)], Empty, true),
    m("dns_queue_drop", "DELETE", "/api/dns/queue/{id}", &[("id", Str)], Empty, true),
    m("dns_settings_get", "GET", "/api/settings/dns", &[], Empty, false),
    m("dns_settings_set", "PUT", "/api/settings/dns", &[("cloudflare", Obj), ("rfc2136", Obj)], Fields, true),
    m("backups_list", "GET", "/api/backups", &[], Empty, false),
];

/// The argument rpcd adds to every call made through a LuCI session; never forwarded.
const SESSION_ARG: &str = "ubus_rpc_session";
/// Longest path segment accepted (a DNS name fits).
const MAX_SEGMENT: usize = 253;

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// One HTTP request to the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Req {
    pub http: &'static str,
    pub path: String,
    pub body: Option<Value>,
}

/// `rpcd list`: `{"method": {"arg": example}}` for every method.
pub fn signatures() -> Value {
    let mut out = Map::new();
    for m in METHODS {
        let args: Map<String, Value> = m.args.iter().map(|(n, a)| (n.to_string(), a.example())).collect();
        out.insert(m.name.to_string(), Value::Object(args));
    }
    Value::Object(out)
}

fn placeholders(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

/// A path argument: one safe path segment. Refuses `/`, `..`, and anything that would change how
/// the URL parses (`?`, `#`, `%`, spaces, control characters).
pub fn segment(field: &str, v: Option<&Value>) -> Result<String, String> {
    let s = match v {
        None | Some(Value::Null) => return Err(format!("{field}: is required")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(format!("{field}: expected a string")),
    };
    if s.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if s.len() > MAX_SEGMENT {
        return Err(format!("{field}: is longer than {MAX_SEGMENT} characters"));
    }
    if s.contains("..") || s.contains('/') {
        return Err(format!("{field}: {} must not contain '/' or '..'", quote_prefix(&s)));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "_=+.@:-".contains(*c))) {
        return Err(format!("{field}: {} contains {c:?}; allowed are letters, digits and _=+.@:-", quote_prefix(&s)));
    }
    Ok(s)
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_value(field: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(format!("{field}: expected a string, number or boolean")),
    }
}

/// The requests one call makes (pure: the table-driven tests pin it down).
pub fn plan(method: &Method, input: &Map<String, Value>) -> Result<Vec<Req>, String> {
    let params = placeholders(method.path);
    let mut path = String::new();
    for part in method.path.split('/').skip(1) {
        path.push('/');
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => path.push_str(&segment(name, input.get(name))?),
            None => path.push_str(part),
        }
    }
    let mut query = Vec::new();
    for q in method.query {
        if method.reply == Reply::PeerConfig && *q == "format" {
            continue;
        }
        if let Some(v) = input.get(*q) {
            if let Some(s) = query_value(q, v)? {
                query.push(format!("{q}={}", encode(&s)));
            }
        }
    }
    let rest: Map<String, Value> = input
        .iter()
        .filter(|(k, _)| k.as_str() != SESSION_ARG && !params.contains(&k.as_str()) && !method.query.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = match method.body {
        Empty => {
            if let Some(k) = rest.keys().next() {
                return Err(format!("{k}: unknown argument of {} (known: {})", method.name, arg_names(method)));
            }
            None
        }
        Fields => Some(Value::Object(rest)),
        FieldsOrBulk => match rest.get("peers") {
            Some(Value::Array(items)) if rest.len() == 1 => Some(Value::Array(items.clone())),
            Some(Value::Array(_)) => return Err("peers: give either a peers array or the fields of one peer".into()),
            Some(Value::Null) | None => Some(Value::Object(rest)),
            Some(_) => return Err("peers: expected an array of peers".into()),
        },
    };
    if method.reply == Reply::PeerConfig {
        let format = match input.get("format") {
            None | Some(Value::Null) => "both".to_string(),
            Some(Value::String(s)) if s.is_empty() => "both".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("format: expected conf, qr or both".into()),
        };
        let conf = Req { http: method.http, path: format!("{path}?format=conf"), body: None };
        let qr = Req { http: method.http, path: format!("{path}?format=qr"), body: None };
        return match format.as_str() {
            "conf" => Ok(vec![conf]),
            "qr" => Ok(vec![qr]),
            "both" => Ok(vec![conf, qr]),
            other => Err(format!("format: {} is not conf, qr or both", quote_prefix(other))),
        };
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    Ok(vec![Req { http: method.http, path, body }])
}

fn arg_names(m: &Method) -> String {
    m.args.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The error object every failure becomes.
pub fn error(msg: &str) -> Value {
    json!({ "status": false, "error": msg, "message": msg, "data": null })
}

/// Turns one HTTP answer into the ubus reply (JSON envelope case).
pub fn envelope(code: u16, body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut o)) => {
            let failed = code >= 400 || o.get("status") == Some(&Value::Bool(false));
            if failed {
                let msg = o.get("message").and_then(Value::as_str).unwrap_or("the daemon refused the request").to_string();
                o.insert("status".into(), Value::Bool(false));
                o.entry("error").or_insert(Value::String(msg));
                o.insert("code".into(), json!(code));
            }
            Value::Object(o)
        }
        Ok(other) if code < 400 => json!({ "status": true, "message": "", "data": other }),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            let mut e = error(&format!("the daemon answered {code}: {}", text.trim()));
            e["code"] = json!(code);
            e
        }
    }
}

/// The reply for `peer_config`: `data.config` (wg-quick text) and/or `data.qr_svg`.
fn peer_config_reply(answers: Vec<(&Req, u16, Vec<u8>)>) -> Value {
    let mut data = Map::new();
    for (req, code, body) in answers {
        if code >= 400 {
            return envelope(code, &body);
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let key = if req.path.ends_with("format=qr") { "qr_svg" } else { "config" };
        data.insert(key.into(), Value::String(text));
    }
    json!({ "status": true, "message": "Peer config retrieved successfully", "data": data })
}

/// Keeps what the daemon keeps of a user name (and nothing that could break the header).
pub(crate) fn sanitize_user(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || "_.@-".contains(*c)).take(64).collect()
}

/// Who is calling: the ubus session's username (`ubus call session get`), or `ubus` when there
/// is no session, no `ubus` binary, or the session has no username.
pub fn session_user(input: &Map<String, Value>) -> String {
    const FALLBACK: &str = "ubus";
    let Some(sid) = input.get(SESSION_ARG).and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return FALLBACK.into();
    };
    let arg = json!({ SESSION_ARG: sid }).to_string();
    let out = Command::new("ubus").args(["-t", "5", "call", "session", "get", &arg]).stdin(Stdio::null()).stderr(Stdio::null()).output();
    let Ok(out) = out else { return FALLBACK.into() };
    if !out.status.success() {
        return FALLBACK.into();
    }
    let user = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["values"]["username"].as_str().map(sanitize_user))
        .unwrap_or_default();
    if user.is_empty() {
        FALLBACK.into()
    } else {
        user
    }
}

fn print(v: &Value) {
    println!("{v}");
}

/// `wgclusterd rpcd list`.
pub fn list() -> ExitCode {
    print(&signatures());
    ExitCode::SUCCESS
}

fn read_input() -> Result<Map<String, Value>, String> {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw).map_err(|e| format!("cannot read the call's input: {e}"))?;
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("the call's input must be a JSON object".into()),
        Err(e) => Err(format!("the call's input is not valid JSON: {e}")),
    }
}

/// Does the call; every failure is an error object.
pub fn call_value(config_path: &Path, name: &str) -> Value {
    let Some(method) = find(name) else {
        return error(&format!("unknown method {}", quote_prefix(name)));
    };
    let input = match read_input() {
        Ok(i) => i,
        Err(e) => return error(&e),
    };
    let reqs = match plan(method, &input) {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => return error(&e.to_string()),
    };
    let user = session_user(&input);
    let mut answers = Vec::new();
    for req in &reqs {
        let body = req.body.as_ref().map(|b| b.to_string().into_bytes());
        match control::request(&cfg.control_socket, req.http, &req.path, Some(&user), body.as_deref()) {
            Ok((code, bytes)) => answers.push((req, code, bytes)),
            Err(e) => return error(&e.to_string()),
        }
    }
    match method.reply {
        Reply::PeerConfig => peer_config_reply(answers),
        Reply::Envelope => match answers.pop() {
            Some((_, code, body)) => envelope(code, &body),
            None => error("nothing to send"),
        },
    }
}

/// `wgclusterd rpcd call METHOD`: exactly one JSON object on stdout, exit 0.
pub fn call(config_path: &Path, name: &str) -> ExitCode {
    print(&call_value(config_path, name));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
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
            ("dns_status", json!({}), one("GET", "/api/dns/status", None)),
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
}
