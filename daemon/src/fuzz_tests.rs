//! Fuzz targets of the daemon, run by the shared driver (`wgcluster_actors::fuzz`) within the
//! normal test run: `uci` (config parser and typed loader), `json_body` (request bodies, field
//! getters, model constructors, and the commands built from them applied to a state), `rpcd`
//! (the ubus bridge's request planning and user names), `http_request` (the HTTP server's request
//! parsing and route lookup). Corpora: `fuzz/corpus/<target>/`.

use crate::config;
use crate::config::uci::{self, UciError};
use crate::http::body::{parse_cidr, Body};
use crate::http::error::ApiError;
use crate::rpcd;
use serde_json::{Map, Value};
use std::path::Path;
use wgcluster_actors::fuzz::{self, Reader, Target};
use wgcluster_actors::model::*;
use wgcluster_actors::state::*;

fn class_of(parts: &[u64]) -> u64 {
    parts.iter().fold(17u64, |h, p| h.wrapping_mul(31).wrapping_add(*p))
}

// ---------------------------------------------------------------- uci

fn uci_error_line(e: &UciError) -> usize {
    match e {
        UciError::UnterminatedQuote { line, .. }
        | UciError::MissingValue { line, .. }
        | UciError::OutsideSection { line, .. }
        | UciError::BadKeyword { line, .. }
        | UciError::InvalidIdentifier { line, .. }
        | UciError::TrailingText { line, .. }
        | UciError::NotUtf8 { line, .. } => *line,
    }
}

/// `FILE:LINE:` at the start of a message, with 1 <= LINE <= `lines`.
fn assert_located(msg: &str, file: &str, lines: usize) {
    let rest = msg.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
    let line = rest.and_then(|r| r.split(':').next()).and_then(|n| n.parse::<usize>().ok());
    assert!(matches!(line, Some(l) if (1..=lines).contains(&l)), "message without a line in 1..={lines}: {msg:?}");
}

fn uci_one(data: &[u8]) -> u64 {
    let file = "/etc/config/wgcluster";
    let path = Path::new(file);
    // Raw bytes first: invalid UTF-8 must be an error naming a line of the file.
    if let Err(e) = uci::decode(path, data) {
        let raw_lines = data.split(|b| *b == b'\n').count();
        assert!((1..=raw_lines).contains(&uci_error_line(&e)), "{e}");
        assert_located(&e.to_string(), file, raw_lines);
    }
    let text = String::from_utf8_lossy(data);
    // An empty file is still "line 1" for an error that points at it.
    let lines = text.lines().count().max(1);
    let (sections, errors) = uci::parse_all(path, &text);
    for e in &errors {
        let line = uci_error_line(e);
        assert!((1..=lines).contains(&line), "error line {line} outside 1..={lines}: {e}");
        assert_located(&e.to_string(), file, lines);
    }
    for s in &sections {
        assert!((1..=lines).contains(&s.line), "section line {}", s.line);
        for o in &s.options {
            assert!((s.line..=lines).contains(&o.line), "option {} at line {} outside its section", o.key, o.line);
        }
    }
    match uci::parse(path, &text) {
        Ok(parsed) => assert!(errors.is_empty() && parsed == sections),
        Err(first) => assert_eq!(errors.first(), Some(&first), "parse must stop at the first error of parse_all"),
    }
    let loaded = config::parse(path, &text);
    match &loaded {
        Ok(cfg) => {
            assert!(errors.is_empty());
            assert!(config::is_valid_node_id(&cfg.node_id), "node_id {:?}", cfg.node_id);
            assert!(cfg.election_timeout_ms >= cfg.heartbeat_ms.saturating_mul(3));
        }
        Err(config::ConfigError::Invalid(msgs)) => {
            assert!(!msgs.is_empty());
            for m in msgs {
                assert_located(m, file, lines);
            }
        }
        Err(other) => panic!("parse of text gave {other}"),
    }
    class_of(&[errors.len().min(3) as u64, sections.len().min(3) as u64, u64::from(loaded.is_ok())])
}

#[test]
fn fuzz_uci() {
    let tokens: &[&[u8]] = &[
        b"config daemon 'main'\n",
        b"\toption ",
        b"\tlist ",
        b"node_id",
        b"api_listen '127.0.0.1:1'",
        b"election_timeout_ms",
        b"heartbeat_ms",
        b"endpoint '[2001:db8::1]:51820'",
        b"wg_backend",
        b"data_dir '/tmp/x'",
        b" # comment",
    ];
    fuzz::run(Target { tokens, ..Target::new("uci") }, uci_one);
}

// ---------------------------------------------------------------- json_body

/// Every field name of every request body, so the getters meet the fuzzed values.
const FIELDS: &[&str] = &[
    "name",
    "id",
    "node_id",
    "endpoint",
    "cluster_addr",
    "weight",
    "enabled",
    "address",
    "listen_port",
    "mtu",
    "dns",
    "peer_allowed_ips",
    "peer_keepalive",
    "public_key",
    "preshared_key",
    "allowed_ips",
    "keepalive",
    "domain",
    "port",
    "ttl",
    "destination_node_id",
    "probe_interval_ms",
    "unhealthy_after",
];

/// A getter's error names the field (with the body's prefix) first.
fn names_field<T>(b: &Body, key: &str, r: Result<T, ApiError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&b.name(key)), "error of {key:?} does not name it: {msg:?}");
            None
        }
    }
}

/// Model constructors on a string: accepted values obey their documented shape.
fn constructors(s: &str) -> u64 {
    let mut bits = 0;
    if let Ok(c) = ConfigName::parse("f", s) {
        let v = c.as_str();
        assert!((1..=15).contains(&v.len()) && v != "." && v != "..", "config name {v:?}");
        assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || "_=+.-".contains(c)), "config name {v:?}");
        bits |= 1;
    }
    if let Ok(n) = NodeId::parse("f", s) {
        let v = n.as_str();
        assert!((1..=63).contains(&v.len()) && !v.contains('/') && !v.starts_with(['.', '-']), "node id {v:?}");
        bits |= 2;
    }
    if let Ok(p) = PeerId::parse("f", s) {
        assert!(p.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "peer id {p}");
        bits |= 4;
    }
    if let Ok(k) = WgKey::parse("f", s) {
        assert_eq!(WgKey::parse("f", &k.to_base64()), Ok(k), "key round trip");
        bits |= 8;
    }
    if let Ok(n) = parse_cidr(s) {
        assert_eq!(parse_cidr(&n.to_string()), Ok(n), "cidr round trip");
        bits |= 16;
    }
    if let Ok(e) = crate::http::nodes::parse_endpoint("f", s) {
        assert!(!e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/'), "endpoint {e:?}");
        bits |= 32;
    }
    bits
}

fn json_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| json_strings(i, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k);
            json_strings(v, out)
        }),
        _ => {}
    }
}

/// A small cluster: node1 and node2, config wg0 (10.0.0.1/28) assigned to node1.
fn fixture() -> State {
    let mut s = State::default();
    let node = |id: &str| NodeSpec {
        id: NodeId::parse("n", id).expect("literal"),
        name: None,
        endpoint: Some("192.0.2.1".into()),
        cluster_addr: None,
        witness: false,
    };
    let wg0 = ConfigName::parse("c", "wg0").expect("literal");
    let config = NewConfig {
        name: wg0.clone(),
        private_key: WgKey([9; 32]),
        addresses: vec!["10.0.0.1/28".parse().expect("literal")],
        listen_port: 51820,
        mtu: None,
        dns: vec![],
        peer_allowed_ips: vec!["0.0.0.0/0".parse().expect("literal")],
        peer_keepalive: Some(25),
        placement: Default::default(),
    };
    let token = ApiToken { name: "admin".into(), sha256: [7; 32], created_at: 0 };
    let cmds = vec![
        Command::Bootstrap { token, node: node("node1"), ca: None, serial: 0 },
        Command::CreateNode { node: node("node2"), weight: 1 },
        Command::CreateConfig { config },
        Command::AssignNode { config: wg0, node_id: NodeId::parse("n", "node1").expect("literal") },
    ];
    for cmd in cmds {
        if let Err(e) = s.apply(&Request { at: 1, user: "admin".into(), cmd, idempotency: None }) {
            panic!("fixture: {e}");
        }
    }
    s
}

fn create_config(b: &Body) -> Result<Command, ApiError> {
    let name = ConfigName::parse("name", &b.req_str("name")?)?;
    let addresses = b.opt_cidrs("address")?.ok_or_else(|| ApiError::BadRequest("address: is required".into()))?;
    crate::http::configs::check_interface_addresses(&addresses)?;
    let config = NewConfig {
        name,
        private_key: WgKey([5; 32]),
        addresses,
        listen_port: b.req_uint("listen_port", 1, 65535)? as u16,
        mtu: b.opt_uint("mtu", 1280, 9000)?.map(|m| m as u16),
        dns: crate::http::configs::dns_list(b)?.unwrap_or_default(),
        peer_allowed_ips: b.opt_cidrs("peer_allowed_ips")?.unwrap_or_default(),
        peer_keepalive: b.opt_uint("peer_keepalive", 0, 65535)?.map(|k| k as u16),
        placement: Default::default(),
    };
    Ok(Command::CreateConfig { config })
}

fn update_config(b: &Body, name: ConfigName) -> Result<Command, ApiError> {
    let patch = ConfigPatch {
        listen_port: b.opt_uint("listen_port", 1, 65535)?.map(|p| p as u16),
        mtu: if b.is_null("mtu") { Some(None) } else { b.opt_uint("mtu", 1280, 9000)?.map(|m| Some(m as u16)) },
        dns: crate::http::configs::dns_list(b)?,
        peer_allowed_ips: b.opt_cidrs("peer_allowed_ips")?,
        peer_keepalive: b.opt_uint("peer_keepalive", 0, 65535)?.map(|k| if k == 0 { None } else { Some(k as u16) }),
        placement: None,
    };
    Ok(Command::UpdateConfig { name, patch })
}

fn create_node(b: &Body) -> Result<Command, ApiError> {
    let id = NodeId::parse("id", &b.req_str("id")?)?;
    let endpoint = b.opt_str("endpoint")?.map(|e| crate::http::nodes::parse_endpoint("endpoint", &e)).transpose()?;
    let spec = NodeSpec { id, name: b.opt_str("name")?, endpoint, cluster_addr: None, witness: false };
    Ok(Command::CreateNode { node: spec, weight: b.opt_uint("weight", 1, 1000)?.unwrap_or(1) as u32 })
}

fn update_peer(b: &Body, config: ConfigName) -> Result<Command, ApiError> {
    let patch = PeerPatch {
        name: b.opt_str("name")?,
        allowed_ips: b.opt_cidrs("allowed_ips")?,
        keepalive: b.opt_uint("keepalive", 0, 65535)?.map(|k| Some(k as u16)),
        enabled: b.opt_bool("enabled")?,
        node_id: b.opt_str("node_id")?.map(|n| NodeId::parse("node_id", &n)).transpose()?,
        ..Default::default()
    };
    Ok(Command::UpdatePeer { config, id: PeerId::parse("p", "0")?, patch })
}

fn health_settings(b: &Body) -> Result<Command, ApiError> {
    Ok(Command::SetHealthSettings {
        probe_interval_ms: b.opt_uint("probe_interval_ms", 100, 3_600_000)?,
        unhealthy_after: b.opt_uint("unhealthy_after", 1, 100)?.map(|v| v as u32),
        healthy_after: None,
        auto_migrate_independent: None,
    })
}

/// The commands the handlers build from a body like `b`, built the same way (the field rules of
/// `http/configs.rs`, `nodes.rs`, `peers.rs`, `settings.rs`); a constructor error drops a command.
fn commands_from(b: &Body) -> Vec<Command> {
    let wg0 = ConfigName::parse("c", "wg0").expect("literal");
    let mut out = Vec::new();
    out.extend(create_config(b).ok());
    out.extend(update_config(b, wg0.clone()).ok());
    out.extend(create_node(b).ok());
    if let Ok(peer) = crate::http::peers::new_peer(b) {
        assert!(!peer.name.is_empty() && peer.name.len() <= 64 && !peer.name.chars().any(char::is_control), "peer name {:?}", peer.name);
        out.push(Command::CreatePeers { config: wg0.clone(), peers: vec![peer] });
    }
    out.extend(update_peer(b, wg0).ok());
    out.extend(health_settings(b).ok());
    out
}

/// Applies each command to the fixture: a refused one leaves the state as it was (but the version).
fn apply_all(base: &State, cmds: Vec<Command>) -> u64 {
    let mut s = base.clone();
    let mut class = 0;
    for cmd in cmds {
        let before = s.clone();
        match s.apply(&Request { at: 2, user: "fuzz".into(), cmd, idempotency: None }) {
            Ok(_) => class = class * 3 + 1,
            Err(e) => {
                let mut expected = before;
                expected.version += 1;
                assert!(s == expected, "a refused command ({e}) changed the state");
                class = class * 3 + 2;
            }
        }
    }
    class
}

fn body_one(base: &State, data: &[u8]) -> u64 {
    let parsed = Body::parse(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        assert!(parsed.is_err(), "accepted bytes serde_json refuses");
        return 1;
    };
    let mut found = Vec::new();
    json_strings(&value, &mut found);
    let strings: Vec<String> = found.into_iter().take(64).map(str::to_string).collect();
    let mut bits = 0;
    for s in &strings {
        bits |= constructors(s);
    }
    // A top-level array is a bulk peer creation: each item is a body with its own prefix.
    let bodies: Vec<Body> = match value {
        Value::Array(items) => items
            .into_iter()
            .take(32)
            .enumerate()
            .filter_map(|(i, item)| {
                let prefix = format!("[{i}].");
                match Body::from_value(item, &prefix) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        assert!(e.to_string().starts_with(&prefix), "{e}");
                        None
                    }
                }
            })
            .collect(),
        other => Body::from_value(other, "").into_iter().collect(),
    };
    let mut class = class_of(&[2, bits, bodies.len().min(3) as u64]);
    for b in &bodies {
        for key in FIELDS.iter().copied().chain(strings.iter().take(16).map(String::as_str)) {
            let _ = b.has(key);
            let _ = b.is_null(key);
            names_field(b, key, b.opt_str(key));
            names_field(b, key, b.opt_bool(key));
            if let Some(Some(n)) = names_field(b, key, b.opt_uint(key, 1, 65535)) {
                assert!((1..=65535).contains(&n));
            }
            if let Some(Some(list)) = names_field(b, key, b.opt_list(key)) {
                assert!(list.iter().all(|s| s.trim() == s), "untrimmed list item");
            }
            names_field(b, key, b.opt_cidrs(key));
        }
        if let Err(e) = b.only(FIELDS) {
            assert!(e.to_string().contains("unknown field"));
        }
        class = class_of(&[class, apply_all(base, commands_from(b))]);
    }
    class
}

#[test]
fn fuzz_json_body() {
    let base = fixture();
    let tokens: &[&[u8]] = &[
        b"\"name\":",
        b"\"address\":[\"10.0.0.1/24\"]",
        b"\"listen_port\":",
        b"\"public_key\":\"",
        b"\"allowed_ips\":\"10.1.0.0/16,fd00::/64\"",
        b"\"endpoint\":\"[2001:db8::1]:51820\"",
        b"\"node_id\":\"node2\"",
        b"\"dns\":[\"1.1.1.1\"]",
        b"\"mtu\":null",
        b"{\"name\":\"p\"}",
        b"\\u202e",
    ];
    fuzz::run(Target { tokens, ..Target::new("json_body") }, |data| body_one(&base, data));
}

// ---------------------------------------------------------------- rpcd

/// A planned request is safe for the daemon's router: no traversal, no raw separators or line
/// breaks, one `?` at most, a query of unreserved characters and escapes only.
fn check_req(m: &rpcd::Method, req: &rpcd::Req) {
    assert_eq!(req.http, m.http);
    let p = &req.path;
    assert!(p.starts_with("/api/"), "{p:?}");
    assert!(!p.chars().any(|c| c.is_control() || c.is_whitespace() || c == '#'), "{p:?}");
    let (path, query) = p.split_once('?').unwrap_or((p, ""));
    // `..` is only traversal in the path; in a query value it is data (`.` is unreserved).
    assert!(!path.contains(".."), "traversal in {p:?}");
    assert!(!query.contains('?') && !path.contains('%'), "{p:?}");
    let template = m.path.split('/').count();
    assert_eq!(path.split('/').count(), template, "a path argument added a segment: {p:?} for {}", m.path);
    for (seg, tpl) in path.split('/').zip(m.path.split('/')) {
        if !tpl.starts_with('{') {
            assert_eq!(seg, tpl);
        } else {
            assert!(!seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || "_=+.@:-".contains(c)), "segment {seg:?}");
        }
    }
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        assert!(pair.chars().all(|c| c.is_ascii_alphanumeric() || "-._~%=".contains(c)), "query {pair:?}");
        assert_eq!(pair.matches('=').count(), 1, "query {pair:?}");
    }
    if m.body == rpcd::BodyKind::Empty {
        assert!(req.body.is_none());
    }
}

/// Input: a method selector byte; then either a JSON object or fields that fill the method's
/// arguments (each typed by one byte).
fn rpcd_one(data: &[u8]) -> u64 {
    let mut r = Reader::new(data);
    let m = &rpcd::METHODS[usize::from(r.byte()) % rpcd::METHODS.len()];
    let rest = r.rest();
    let input: Map<String, Value> = match serde_json::from_slice::<Value>(rest) {
        Ok(Value::Object(o)) => o,
        _ => {
            let mut r = Reader::new(rest);
            let mut o = Map::new();
            let names = m.args.iter().map(|(n, _)| *n).chain(["format", "force", "extra"]);
            for name in names {
                if r.is_empty() {
                    break;
                }
                let kind = r.byte();
                let s = r.field();
                let v = match kind % 7 {
                    0 => continue,
                    1 => Value::Null,
                    2 => Value::from(u64::from(kind)),
                    3 => Value::Bool(kind & 8 != 0),
                    4 => Value::Array(vec![Value::String(s)]),
                    5 => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                    _ => Value::String(s),
                };
                o.insert(name.to_string(), v);
            }
            o
        }
    };
    let class = match rpcd::plan(m, &input) {
        Ok(reqs) => {
            assert!(!reqs.is_empty() && reqs.len() <= 2);
            for req in &reqs {
                check_req(m, req);
            }
            class_of(&[1, reqs.len() as u64])
        }
        Err(e) => {
            assert!(!e.is_empty());
            // The complaint without the field name and value: "expected a string", "is required"…
            let why = e.split_once(": ").map_or(e.as_str(), |(_, w)| w);
            let words: Vec<&str> = why.split(['\'', '"']).next().unwrap_or("").split(' ').take(3).collect();
            class_of(&[2, fuzz::fnv1a(words.join(" ").as_bytes())])
        }
    };
    // The ubus user name: only safe characters reach the header.
    let raw = String::from_utf8_lossy(data);
    let user = rpcd::sanitize_user(&raw);
    assert!(user.len() <= 64 && user.chars().all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c)), "user {user:?}");
    if !input.contains_key("ubus_rpc_session") {
        assert_eq!(rpcd::session_user(&input), "ubus");
    }
    // Whatever the daemon answers becomes one JSON object; a failure says so in `status`.
    let code = 100 + u16::from(data.first().copied().unwrap_or(0)) * 2;
    let reply = rpcd::envelope(code, rest);
    assert!(reply.is_object(), "{reply}");
    if code >= 400 {
        assert_eq!(reply["status"], Value::Bool(false), "{reply}");
    }
    class_of(&[class, fuzz::fnv1a(m.name.as_bytes())])
}

#[test]
fn fuzz_rpcd() {
    let tokens: &[&[u8]] = &[
        b"\"config\":\"wg0\"",
        b"\"peer_id\":\"",
        b"\"node_id\":\"",
        b"\"format\":\"qr\"",
        b"\"force\":true",
        b"\"ubus_rpc_session\":\"",
        b"\"peers\":[{\"name\":\"a\"}]",
        b"\"action\":\"a&b=c\"",
        b"\x1f",
    ];
    fuzz::run(Target { tokens, ..Target::new("rpcd") }, rpcd_one);
}

// ---------------------------------------------------------------- http_request

/// The HTTP server's parsing of what a client sends (`http/server/parse.rs`): the request head,
/// the body's framing, a chunked body, the query string, and the route lookup with the real table.
/// Never a panic; every refusal is a well-formed error answer (400, 413 or 431, the JSON envelope).
fn http_one(router: &crate::http::server::Router, data: &[u8]) -> u64 {
    use crate::http::server::parse::{framing, parse_head, parse_query, percent_decode, ChunkedDecoder, Framing};
    use crate::http::server::parse_error;
    let refused = |e: crate::http::server::parse::ParseError| -> u64 {
        let resp = parse_error(e).response();
        assert!(matches!(resp.status, 400 | 413 | 431), "status {}", resp.status);
        let v: Value = serde_json::from_slice(&resp.into_bytes()).expect("the error body is JSON");
        assert_eq!(v["status"], Value::Bool(false), "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v["message"].as_str().map(|m| fuzz::fnv1a(m.split(':').next().unwrap_or("").as_bytes())).unwrap_or(0)
    };
    let (head, n) = match parse_head(data) {
        Ok(Some(h)) => h,
        Ok(None) => return 1,
        Err(e) => return class_of(&[2, refused(e)]),
    };
    assert!(n <= data.len() && head.path.starts_with('/'), "head length {n} of {}", data.len());
    let _ = head.wants_close();
    let found = router.find(&head.method, &head.path).map(|(_, params)| {
        for p in &params {
            assert!(!p.is_empty(), "an empty path parameter");
        }
        params.len() as u64
    });
    let _ = percent_decode(&head.path, false);
    let query = match parse_query(&head.query) {
        Ok(q) => q.len() as u64,
        Err(e) => refused(e),
    };
    let body = match framing(&head) {
        Ok(Framing::Chunked) => {
            let mut dec = ChunkedDecoder::new(256);
            match dec.feed(&data[n..]) {
                Ok(used) => {
                    assert!(used <= data.len() - n);
                    assert!(dec.out.len() <= 256);
                    4 + u64::from(dec.is_done())
                }
                Err(e) => refused(e),
            }
        }
        Ok(Framing::Length(l)) => 6 + u64::from(l > 256),
        Ok(Framing::None) => 8,
        Err(e) => refused(e),
    };
    class_of(&[3, found.map_or(0, |p| p + 1), query.min(3), body])
}

#[test]
fn fuzz_http_request() {
    let router = crate::cluster::server::routes(crate::http::routes(crate::http::server::Router::new()));
    let tokens: &[&[u8]] = &[
        b"GET /api/configs HTTP/1.1\r\n",
        b"POST /api/configs/wg0/peers?limit=5&offset=0 HTTP/1.1\r\n",
        b"HEAD /api/health HTTP/1.0\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 12\r\n",
        b"Connection: close\r\n",
        b"Idempotency-Key: k1\r\n",
        b"\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"%2F",
        b"%2e%2e",
        b"&a=1&a=2",
    ];
    let seeds = vec![
        b"GET /api/configs/wg0/peers/00ff/config?format=qr HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"POST /api/nodes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n".to_vec(),
        b"PUT /api/settings/dns HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
    ];
    fuzz::run(Target { tokens, seeds, ..Target::new("http_request") }, |data| http_one(&router, data));
}
