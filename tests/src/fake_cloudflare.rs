//! A fake Cloudflare API v4 (the DNS records part) on 127.0.0.1, for tests and benchmarks.
//!
//! Faithful where our client depends on it: paths under `/client/v4`
//! (`GET|POST /zones/{zone}/dns_records`, `GET|PATCH|PUT|DELETE /zones/{zone}/dns_records/{id}`,
//! `POST /zones/{zone}/dns_records/batch`), `?name=&type=&page=&per_page=` with `result_info`,
//! the `{success, errors: [{code, message}], messages, result}` envelope, the bearer token check
//! (401, code 10000), the zone check (404, code 7003), duplicate records (400, code 81058
//! "An identical record already exists."), missing records (404, code 81044) and validation of
//! type/content/ttl. The batch endpoint is atomic, like Cloudflare's.
//!
//! Fault injection: 5xx for the next N requests (or until cleared), 429 with `Retry-After`, a
//! delay before every answer, the batch endpoint switched off, and records edited "behind our
//! back". Every request is logged (method, path, query, JSON body, status) for assertions.
//!
//! Must not: listen anywhere but 127.0.0.1, or need anything beyond std and serde_json. One thread
//! per connection, one request per connection (`Connection: close`).

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One DNS record as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub zone: String,
    pub kind: String,
    pub name: String,
    pub content: String,
    pub ttl: u32,
    pub proxied: bool,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "zone_id": self.zone, "zone_name": "example.test", "name": self.name, "type": self.kind,
            "content": self.content, "proxiable": true, "proxied": self.proxied, "ttl": self.ttl, "locked": false,
            "meta": { "auto_added": false, "source": "primary" }, "comment": null, "tags": [],
            "created_on": "2024-01-01T00:00:00.000000Z", "modified_on": "2024-01-01T00:00:00.000000Z",
        })
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// The path without `/client/v4` and without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug, Clone, Default)]
struct Faults {
    /// (status, remaining requests; None = until cleared)
    fail: Option<(u16, Option<u32>)>,
    /// (Retry-After seconds, remaining requests; None = until cleared)
    rate_limit: Option<(u64, Option<u32>)>,
    delay: Duration,
    no_batch: bool,
}

struct Inner {
    token: String,
    zones: BTreeSet<String>,
    records: Vec<Record>,
    next_id: u64,
    log: Vec<Logged>,
    faults: Faults,
}

pub struct FakeCloudflare {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn envelope_err(code: i64, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

fn ok(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A record body (POST/PUT, or the fields a PATCH sets) checked like Cloudflare does.
fn validate(kind: &str, name: &str, content: &str, ttl: u32) -> Result<(), (u16, Value)> {
    let bad = |code: i64, m: &str| Err((400, envelope_err(code, m)));
    match kind {
        "A" if content.parse::<std::net::Ipv4Addr>().is_err() => return bad(9005, "Content for A record must be a valid IPv4 address."),
        "AAAA" if content.parse::<std::net::Ipv6Addr>().is_err() => {
            return bad(9006, "Content for AAAA record must be a valid IPv6 address.")
        }
        "A" | "AAAA" | "CNAME" | "TXT" => {}
        _ => return bad(9000, "DNS record type is invalid."),
    }
    if name.is_empty() {
        return bad(9007, "DNS record name is invalid.");
    }
    if ttl != 1 && !(30..=86400).contains(&ttl) {
        return bad(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.");
    }
    Ok(())
}

impl Inner {
    fn zone_records(&self, zone: &str) -> impl Iterator<Item = &Record> {
        let zone = zone.to_string();
        self.records.iter().filter(move |r| r.zone == zone)
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", 0x5eed_0000_0000u64 + self.next_id)
    }

    fn duplicate(&self, zone: &str, kind: &str, name: &str, content: &str, except: Option<&str>) -> bool {
        self.zone_records(zone)
            .any(|r| Some(r.id.as_str()) != except && r.kind == kind && r.name.eq_ignore_ascii_case(name) && r.content == content)
    }

    /// POST: a new record, or the error Cloudflare gives.
    fn create(&mut self, zone: &str, body: &Value) -> Result<Record, (u16, Value)> {
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        let name = body.get("name").and_then(Value::as_str).unwrap_or("").trim_end_matches('.').to_ascii_lowercase();
        let content = body.get("content").and_then(Value::as_str).unwrap_or("").to_string();
        let ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(1) as u32;
        let proxied = body.get("proxied").and_then(Value::as_bool).unwrap_or(false);
        validate(&kind, &name, &content, ttl)?;
        if self.duplicate(zone, &kind, &name, &content, None) {
            return Err((400, envelope_err(81058, "An identical record already exists.")));
        }
        let rec = Record { id: self.new_id(), zone: zone.to_string(), kind, name, content, ttl, proxied };
        self.records.push(rec.clone());
        Ok(rec)
    }

    /// PATCH (merge) or PUT (replace) of record `id`.
    fn modify(&mut self, zone: &str, id: &str, body: &Value, replace: bool) -> Result<Record, (u16, Value)> {
        let Some(pos) = self.records.iter().position(|r| r.zone == zone && r.id == id) else {
            return Err((404, envelope_err(81044, "Record does not exist.")));
        };
        let mut r = self.records[pos].clone();
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        if replace {
            r.kind = s("type").unwrap_or_default();
            r.name = s("name").unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
            r.content = s("content").unwrap_or_default();
            r.ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(1) as u32;
            r.proxied = body.get("proxied").and_then(Value::as_bool).unwrap_or(false);
        } else {
            if let Some(v) = s("type") {
                r.kind = v;
            }
            if let Some(v) = s("name") {
                r.name = v.trim_end_matches('.').to_ascii_lowercase();
            }
            if let Some(v) = s("content") {
                r.content = v;
            }
            if let Some(v) = body.get("ttl").and_then(Value::as_u64) {
                r.ttl = v as u32;
            }
            if let Some(v) = body.get("proxied").and_then(Value::as_bool) {
                r.proxied = v;
            }
        }
        validate(&r.kind, &r.name, &r.content, r.ttl)?;
        if self.duplicate(zone, &r.kind, &r.name, &r.content, Some(id)) {
            return Err((400, envelope_err(81058, "An identical record already exists.")));
        }
        self.records[pos] = r.clone();
        Ok(r)
    }

    fn delete(&mut self, zone: &str, id: &str) -> Result<Value, (u16, Value)> {
        let Some(pos) = self.records.iter().position(|r| r.zone == zone && r.id == id) else {
            return Err((404, envelope_err(81044, "Record does not exist.")));
        };
        self.records.remove(pos);
        Ok(json!({ "id": id }))
    }

    fn list(&self, zone: &str, query: &[(String, String)]) -> Value {
        let q = |k: &str| query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let name = q("name").or_else(|| q("name.exact")).map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        let kind = q("type");
        let content = q("content");
        let page: usize = q("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
        let per_page: usize = q("per_page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(100).min(5000);
        let all: Vec<&Record> = self
            .zone_records(zone)
            .filter(|r| name.as_ref().is_none_or(|n| r.name.eq_ignore_ascii_case(n)))
            .filter(|r| kind.as_ref().is_none_or(|k| &r.kind == k))
            .filter(|r| content.as_ref().is_none_or(|c| &r.content == c))
            .collect();
        let total = all.len();
        let items: Vec<Value> = all.iter().skip((page - 1) * per_page).take(per_page).map(|r| r.to_json()).collect();
        let total_pages = total.div_ceil(per_page);
        json!({
            "success": true, "errors": [], "messages": [], "result": items,
            "result_info": { "page": page, "per_page": per_page, "count": items.len(), "total_count": total, "total_pages": total_pages },
        })
    }

    /// The batch endpoint: deletes, patches, puts, posts — all or nothing.
    fn batch(&mut self, zone: &str, body: &Value) -> Result<Value, (u16, Value)> {
        let saved = (self.records.clone(), self.next_id);
        let arr = |k: &str| body.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        let run = |me: &mut Inner| -> Result<Value, (u16, Value)> {
            let mut out = json!({ "deletes": [], "patches": [], "puts": [], "posts": [] });
            for d in arr("deletes") {
                let id = d.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                me.delete(zone, &id)?;
                if let Some(a) = out["deletes"].as_array_mut() {
                    a.push(json!({ "id": id }));
                }
            }
            for p in arr("patches") {
                let id = p.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                let r = me.modify(zone, &id, &p, false)?;
                if let Some(a) = out["patches"].as_array_mut() {
                    a.push(r.to_json());
                }
            }
            for p in arr("puts") {
                let id = p.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                let r = me.modify(zone, &id, &p, true)?;
                if let Some(a) = out["puts"].as_array_mut() {
                    a.push(r.to_json());
                }
            }
            for p in arr("posts") {
                let r = me.create(zone, &p)?;
                if let Some(a) = out["posts"].as_array_mut() {
                    a.push(r.to_json());
                }
            }
            Ok(out)
        };
        match run(self) {
            Ok(v) => Ok(v),
            Err(e) => {
                (self.records, self.next_id) = saved;
                Err(e)
            }
        }
    }
}

struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    auth: Option<String>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<Req> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut len = 0usize;
    let mut auth = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.parse().ok()?,
                "authorization" => auth = Some(v.to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    let (path, qs) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query = qs
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect();
    Some(Req { method, path: url_decode(path), query, auth, body })
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value, extra: &[(&str, String)]) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let text = body.to_string();
    let mut head =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", text.len());
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

fn handle(inner: &Mutex<Inner>, mut stream: TcpStream) {
    let Some(req) = read_request(&mut stream) else { return };
    let body_json: Option<Value> = if req.body.is_empty() { None } else { serde_json::from_slice(&req.body).ok() };
    let path = req.path.strip_prefix("/client/v4").unwrap_or(&req.path).to_string();
    let mut extra: Vec<(&str, String)> = Vec::new();
    let delay;
    let (status, reply) = {
        let mut g = lock(inner);
        delay = g.faults.delay;
        let (status, reply) = route(&mut g, &req, &path, body_json.as_ref(), &mut extra);
        g.log.push(Logged {
            method: req.method.clone(),
            path: path.clone(),
            query: req.query.clone(),
            body: body_json.clone(),
            status,
            at: Instant::now(),
        });
        (status, reply)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    respond(&mut stream, status, &reply, &extra);
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(counter: &mut Option<u32>) -> bool {
    match counter {
        None => true,
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
    }
}

fn route(g: &mut Inner, req: &Req, path: &str, body: Option<&Value>, extra: &mut Vec<(&str, String)>) -> (u16, Value) {
    // Faults first: an overloaded Cloudflare answers before it looks at anything.
    if let Some((secs, mut left)) = g.faults.rate_limit {
        if take(&mut left) {
            g.faults.rate_limit = if left == Some(0) { None } else { Some((secs, left)) };
            extra.push(("Retry-After", secs.to_string()));
            return (429, envelope_err(10429, "Rate limited. Please wait and consider throttling your request speed"));
        }
        g.faults.rate_limit = None;
    }
    if let Some((status, mut left)) = g.faults.fail {
        if take(&mut left) {
            g.faults.fail = if left == Some(0) { None } else { Some((status, left)) };
            return (status, envelope_err(10000 + i64::from(status), "Internal server error (injected)"));
        }
        g.faults.fail = None;
    }
    let want = format!("Bearer {}", g.token);
    if req.auth.as_deref() != Some(want.as_str()) {
        return (401, envelope_err(10000, "Authentication error"));
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (zone, rest) = match segs.as_slice() {
        ["zones", zone, rest @ ..] if rest.first() == Some(&"dns_records") => (zone.to_string(), &rest[1..]),
        _ => return (404, envelope_err(7000, "No route for that URI")),
    };
    if !g.zones.contains(&zone) {
        return (
            404,
            envelope_err(7003, &format!("Could not route to /zones/{zone}/dns_records, perhaps your object identifier is invalid?")),
        );
    }
    let empty = Value::Null;
    let body = body.unwrap_or(&empty);
    let res = match (req.method.as_str(), rest) {
        ("GET", []) => return (200, g.list(&zone, &req.query)),
        ("POST", []) => g.create(&zone, body).map(|r| r.to_json()),
        ("POST", ["batch"]) if g.faults.no_batch => {
            Err((404, envelope_err(7003, &format!("Could not route to /zones/{zone}/dns_records/batch"))))
        }
        ("POST", ["batch"]) => g.batch(&zone, body),
        ("GET", [id]) => {
            g.zone_records(&zone).find(|r| r.id == *id).map(|r| r.to_json()).ok_or((404, envelope_err(81044, "Record does not exist.")))
        }
        ("PATCH", [id]) => g.modify(&zone, id, body, false).map(|r| r.to_json()),
        ("PUT", [id]) => g.modify(&zone, id, body, true).map(|r| r.to_json()),
        ("DELETE", [id]) => g.delete(&zone, id),
        _ => Err((405, envelope_err(10405, "Method not allowed for this route"))),
    };
    match res {
        Ok(v) => (200, ok(v)),
        Err(e) => e,
    }
}

impl FakeCloudflare {
    /// Starts the fake on 127.0.0.1 (a free port) accepting `token` for zone `zone`.
    pub fn start(token: &str, zone: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Cloudflare API on 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            zones: [zone.to_string()].into_iter().collect(),
            records: Vec::new(),
            next_id: 0,
            log: Vec::new(),
            faults: Faults::default(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (inner2, stop2) = (inner.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("fake-cloudflare".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let inner = inner2.clone();
                    let _ = std::thread::Builder::new().name("fake-cloudflare-conn".into()).spawn(move || handle(&inner, stream));
                }
            })
            .expect("spawn the fake Cloudflare thread");
        Self { addr, inner, stop, thread: Some(thread) }
    }

    /// What to put in `cloudflare.api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn add_zone(&self, zone: &str) {
        lock(&self.inner).zones.insert(zone.to_string());
    }

    /// All records of `zone`.
    pub fn records(&self, zone: &str) -> Vec<Record> {
        lock(&self.inner).zone_records(zone).cloned().collect()
    }

    /// Sorted contents of the A and AAAA records at `name` (duplicates kept, so tests can see them).
    pub fn addresses(&self, zone: &str, name: &str) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner)
            .zone_records(zone)
            .filter(|r| (r.kind == "A" || r.kind == "AAAA") && r.name.eq_ignore_ascii_case(name))
            .map(|r| r.content.clone())
            .collect();
        v.sort();
        v
    }

    /// Adds a record as someone else would (not logged as our request). Returns its id.
    pub fn add_behind_our_back(&self, zone: &str, kind: &str, name: &str, content: &str, ttl: u32, proxied: bool) -> String {
        let mut g = lock(&self.inner);
        let id = g.new_id();
        g.records.push(Record {
            id: id.clone(),
            zone: zone.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            content: content.to_string(),
            ttl,
            proxied,
        });
        id
    }

    /// Deletes the record(s) with this content at `name`, as someone else would.
    pub fn delete_behind_our_back(&self, zone: &str, name: &str, content: &str) -> usize {
        let mut g = lock(&self.inner);
        let before = g.records.len();
        g.records.retain(|r| !(r.zone == zone && r.name.eq_ignore_ascii_case(name) && r.content == content));
        before - g.records.len()
    }

    /// The next `count` requests (None: every request until `clear_faults`) get `status`.
    pub fn fail_with(&self, status: u16, count: Option<u32>) {
        lock(&self.inner).faults.fail = Some((status, count));
    }

    /// The next `count` requests (None: until cleared) get 429 with `Retry-After: secs`.
    pub fn rate_limit(&self, retry_after_secs: u64, count: Option<u32>) {
        lock(&self.inner).faults.rate_limit = Some((retry_after_secs, count));
    }

    /// Every answer is delayed by `d` (a slow API).
    pub fn set_delay(&self, d: Duration) {
        lock(&self.inner).faults.delay = d;
    }

    /// Switches the batch endpoint off (404), like an API or proxy without it.
    pub fn set_batch_enabled(&self, enabled: bool) {
        lock(&self.inner).faults.no_batch = !enabled;
    }

    pub fn clear_faults(&self) {
        let mut g = lock(&self.inner);
        let no_batch = g.faults.no_batch;
        g.faults = Faults { no_batch, ..Faults::default() };
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.inner).log.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.inner).log.len()
    }

    pub fn clear_log(&self) {
        lock(&self.inner).log.clear();
    }

    /// Whether any request body ever said `"proxied": true` (at any depth, e.g. inside a batch).
    pub fn proxied_ever_true(&self) -> bool {
        fn walk(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.iter().any(|(k, v)| (k == "proxied" && v == &Value::Bool(true)) || walk(v)),
                Value::Array(a) => a.iter().any(walk),
                _ => false,
            }
        }
        lock(&self.inner).log.iter().filter_map(|l| l.body.as_ref()).any(walk)
    }
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(fake: &FakeCloudflare, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}{}", fake.base_url(), path);
        let auth = format!("Bearer {token}");
        let resp = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent.post(&url).header("Authorization", &auth).send_json(&b),
            ("PATCH", Some(b)) => agent.patch(&url).header("Authorization", &auth).send_json(&b),
            _ => panic!("bad call"),
        };
        let mut resp = resp.expect("fake answers");
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v)
    }

    #[test]
    fn shapes_auth_duplicates_pagination_and_faults() {
        let fake = FakeCloudflare::start("tok", "zone1");
        let (s, v) = call(&fake, "GET", "/zones/zone1/dns_records", "wrong", None);
        assert_eq!((s, v["errors"][0]["code"].as_i64()), (401, Some(10000)));
        let (s, v) = call(&fake, "GET", "/zones/nozone/dns_records", "tok", None);
        assert_eq!((s, v["errors"][0]["code"].as_i64()), (404, Some(7003)));
        for i in 1..=5 {
            let b = json!({ "type": "A", "name": "vpn.example.test", "content": format!("192.0.2.{i}"), "ttl": 60, "proxied": false });
            let (s, v) = call(&fake, "POST", "/zones/zone1/dns_records", "tok", Some(b));
            assert_eq!((s, v["success"].as_bool()), (200, Some(true)), "{v}");
        }
        let b = json!({ "type": "A", "name": "vpn.example.test", "content": "192.0.2.1", "ttl": 60 });
        let (s, v) = call(&fake, "POST", "/zones/zone1/dns_records", "tok", Some(b));
        assert_eq!((s, v["errors"][0]["code"].as_i64()), (400, Some(81058)));
        assert_eq!(v["errors"][0]["message"], "An identical record already exists.");
        let (s, v) = call(&fake, "GET", "/zones/zone1/dns_records?name=vpn.example.test&type=A&page=2&per_page=2", "tok", None);
        assert_eq!(s, 200);
        assert_eq!(v["result"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["result_info"], json!({ "page": 2, "per_page": 2, "count": 2, "total_count": 5, "total_pages": 3 }));
        let (_, v) = call(&fake, "GET", "/zones/zone1/dns_records?type=AAAA", "tok", None);
        assert_eq!(v["result"].as_array().map(Vec::len), Some(0));
        let id = fake.records("zone1")[0].id.clone();
        let (s, v) = call(&fake, "PATCH", &format!("/zones/zone1/dns_records/{id}"), "tok", Some(json!({ "ttl": 120 })));
        assert_eq!((s, v["result"]["ttl"].as_u64()), (200, Some(120)));
        let (s, _) = call(&fake, "DELETE", &format!("/zones/zone1/dns_records/{id}"), "tok", None);
        assert_eq!(s, 200);
        let (s, v) = call(&fake, "DELETE", &format!("/zones/zone1/dns_records/{id}"), "tok", None);
        assert_eq!((s, v["errors"][0]["code"].as_i64()), (404, Some(81044)));
        // A batch that fails part-way changes nothing.
        let keep = fake.records("zone1");
        let batch = json!({ "deletes": [{ "id": keep[0].id }], "posts": [{ "type": "A", "name": "vpn.example.test", "content": "192.0.2.3", "ttl": 60 }] });
        let (s, _) = call(&fake, "POST", "/zones/zone1/dns_records/batch", "tok", Some(batch));
        assert_eq!(s, 400);
        assert_eq!(fake.records("zone1"), keep);
        // Faults.
        fake.rate_limit(3, Some(1));
        fake.fail_with(503, Some(1));
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let r = agent.get(&format!("{}/zones/zone1/dns_records", fake.base_url())).header("Authorization", "Bearer tok").call().unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("3"));
        assert_eq!(call(&fake, "GET", "/zones/zone1/dns_records", "tok", None).0, 503);
        assert_eq!(call(&fake, "GET", "/zones/zone1/dns_records", "tok", None).0, 200);
        assert!(!fake.proxied_ever_true());
        assert!(fake.request_count() >= 15);
        assert!(fake.requests().iter().any(|l| l.method == "PATCH" && l.body == Some(json!({ "ttl": 120 }))));
    }
}
