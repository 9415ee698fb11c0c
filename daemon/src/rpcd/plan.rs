//! The pure translation of one rpcd call: path arguments checked and filled in, the query string
//! and the body built from the call's arguments ([`plan`]), and the daemon's answers turned into
//! the one JSON object rpcd expects ([`envelope`], [`error`], the peer-config reply). No I/O.

use super::table::{placeholders, BodyKind::*, Method, Reply};
use serde_json::{json, Map, Value};
use wgcluster_actors::model::quote_prefix;

/// The argument rpcd adds to every call made through a LuCI session; never forwarded.
pub(crate) const SESSION_ARG: &str = "ubus_rpc_session";
/// The argument that becomes the write's `Idempotency-Key` header (never part of the body).
pub(crate) const KEY_ARG: &str = "idempotency_key";
/// Longest path segment accepted (a DNS name fits).
const MAX_SEGMENT: usize = 253;
/// One HTTP request to the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Req {
    pub http: &'static str,
    pub path: String,
    pub body: Option<Value>,
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

/// Body fields that JSON `null` removes (a peer's limits, an endpoint group's floating address).
/// ubus has no null, so an empty string in one of them stands for it: LuCI's "no limit" /
/// "never" / "no floating address".
pub const CLEARABLE: &[&str] = &["data_limit_bytes", "rx_limit_bytes", "tx_limit_bytes", "expires_at", "vip", "vip_interface"];

fn clear_empty(mut body: Map<String, Value>) -> Map<String, Value> {
    for f in CLEARABLE {
        if let Some(v) = body.get_mut(*f) {
            if v.as_str() == Some("") {
                *v = Value::Null;
            }
        }
    }
    body
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
        .filter(|(k, _)| {
            k.as_str() != SESSION_ARG && k.as_str() != KEY_ARG && !params.contains(&k.as_str()) && !method.query.contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = match method.body {
        Empty => {
            if let Some(k) = rest.keys().next() {
                return Err(format!("{k}: unknown argument of {} (known: {})", method.name, arg_names(method)));
            }
            None
        }
        Fields => Some(Value::Object(clear_empty(rest))),
        FieldsOrBulk => match rest.get("peers") {
            Some(Value::Array(items)) if rest.len() == 1 => Some(Value::Array(items.clone())),
            Some(Value::Array(_)) => return Err("peers: give either a peers array or the fields of one peer".into()),
            Some(Value::Null) | None => Some(Value::Object(clear_empty(rest))),
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

/// The `Idempotency-Key` a call gives (`idempotency_key`), checked by the daemon's own rule;
/// refused on a read (it would be ignored there).
pub fn key(method: &Method, input: &Map<String, Value>) -> Result<Option<String>, String> {
    match input.get(KEY_ARG) {
        None | Some(Value::Null) => Ok(None),
        Some(_) if method.http == "GET" => Err(format!("{KEY_ARG}: {} only reads; it takes no key", method.name)),
        Some(Value::String(s)) => crate::http::idempotency::parse_key(s.as_bytes()).map(Some).map_err(|e| format!("{KEY_ARG}: {e}")),
        Some(_) => Err(format!("{KEY_ARG}: expected a string")),
    }
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
pub(crate) fn peer_config_reply(answers: Vec<(&Req, u16, Vec<u8>)>) -> Value {
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
