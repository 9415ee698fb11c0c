//! The Cloudflare provider: the v4 DNS records API over the binary's one HTTP client
//! (`tls::web`: TLS 1.3 with the system's public CAs for https; plain http only to a loopback
//! host, for the tests' fake Cloudflare). Lists records by name (and optionally type) with
//! pagination; creates, patches and deletes records one by one, or several at once through the
//! batch endpoint (`POST /zones/{zone}/dns_records/batch`, atomic at Cloudflare). Every record
//! body says `"proxied": false`, whatever anyone configured: the cluster endpoint is UDP.
//!
//! Requests are paced by a token bucket; a 429 pauses the bucket for `Retry-After` and the
//! attempt fails at once (the retry queue comes back later) instead of blocking.
//! Errors come from Cloudflare's `{success, errors: [{code, message}]}` envelope.
//!
//! Every call runs on this client's own worker thread (`dns-cloudflare`), which drives the async
//! client with its own current-thread runtime (its connections and pacing sleeps never touch
//! the sync task's runtime), and is awaited through a oneshot.
//!
//! Must not: put the API token anywhere but the `Authorization` header (messages are scrubbed
//! of it).

use super::backoff::{parse_retry_after, Take, TokenBucket};
use super::plan::{ActualRecord, Plan, RecordKind};
use super::provider::{DnsProvider, ProviderError, Target};
use crate::model::DnsProviderKind;
use crate::tls::web::{query_string, WebClient};
use crate::tls::{ClientError, ClientOptions, Request};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Records asked for per page (Cloudflare allows up to 5000; 100 is its documented default max).
const PER_PAGE: u32 = 100;
/// Never follow more pages than this (a name with 10,000 A records is not ours).
const MAX_PAGES: u32 = 100;
/// Largest answer read (a page of 100 records is about 50 KB).
const MAX_RESPONSE_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct CloudflareOptions {
    pub timeout: Duration,
    pub rate: f64,
    pub burst: f64,
    pub batch: bool,
    /// PEM bundles of public CAs for an https base (`tls::web::DEFAULT_CA_BUNDLES`).
    pub ca_bundles: Vec<PathBuf>,
}

type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;
pub type Limiter = Arc<Mutex<TokenBucket>>;

/// A Cloudflare account (API base + token) with its pacing state and worker thread.
pub struct Cloudflare {
    client: Arc<Client>,
    jobs: mpsc::Sender<Job>,
}

struct Client {
    base: String,
    token: String,
    web: WebClient,
    timeout: Duration,
    limiter: Limiter,
    batch: AtomicBool,
}

/// A failed call: the HTTP status (0 when there was no answer) and the classified error.
struct Failed {
    status: u16,
    err: ProviderError,
}

impl From<ProviderError> for Failed {
    fn from(err: ProviderError) -> Self {
        Failed { status: 0, err }
    }
}

pub(crate) struct Envelope {
    pub(crate) result: Value,
    pub(crate) result_info: Value,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Zone and record ids go into URL paths: only Cloudflare's id alphabet is accepted.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), ProviderError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Config(format!("{what} '{}' is not a Cloudflare id (letters, digits, '-', '_')", id.escape_debug())))
    }
}

/// `code: message; code: message` from Cloudflare's `errors` array (empty when there is none).
pub fn describe_errors(body: &Value) -> (String, Vec<i64>) {
    let mut parts = Vec::new();
    let mut codes = Vec::new();
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for e in errors {
            let code = e.get("code").and_then(Value::as_i64);
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("").trim();
            if let Some(c) = code {
                codes.push(c);
                parts.push(format!("{c}: {msg}"));
            } else if !msg.is_empty() {
                parts.push(msg.to_string());
            }
        }
    }
    (parts.join("; "), codes)
}

/// Classifies a non-success answer. `retry_after` is the parsed header, if any.
pub(crate) fn classify(status: u16, body: &Value, retry_after: Option<Duration>) -> ProviderError {
    let (msgs, codes) = describe_errors(body);
    let detail = if msgs.is_empty() { String::new() } else { format!(": {msgs}") };
    if status == 429 || codes.contains(&971) || codes.contains(&10429) {
        let wait = retry_after.map(|d| format!(", Retry-After {}s", d.as_secs())).unwrap_or_default();
        return ProviderError::RateLimited { message: format!("Cloudflare rate limit (HTTP {status}{wait}){detail}"), retry_after };
    }
    if codes.contains(&81058) || codes.contains(&81057) {
        return ProviderError::Duplicate(format!("Cloudflare: the record exists already (HTTP {status}){detail}"));
    }
    match status {
        401 => ProviderError::Auth(format!("Cloudflare refused the API token (HTTP 401){detail}")),
        403 => ProviderError::Auth(format!(
            "Cloudflare refused the request with this API token (HTTP 403){detail}; the token needs DNS edit permission on the zone"
        )),
        500..=599 => ProviderError::Transient(format!("Cloudflare API error (HTTP {status}){detail}")),
        _ => ProviderError::Rejected(format!("Cloudflare API error (HTTP {status}){detail}")),
    }
}

/// PURE: an answer to `method path` (status, body text, parsed `Retry-After`) as the envelope, or
/// the classified error (not yet scrubbed of the token).
pub(crate) fn decode_answer(
    method: Method,
    path: &str,
    status: u16,
    text: &str,
    retry_after: Option<Duration>,
) -> Result<Envelope, ProviderError> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let success = v.get("success").and_then(Value::as_bool);
    if (200..300).contains(&status) && success != Some(false) {
        if v.is_null() && method != Method::Delete {
            return Err(ProviderError::Rejected(format!(
                "Cloudflare answered HTTP {status} to {} {path} without a JSON body",
                method.as_str()
            )));
        }
        let result = v.get("result").cloned().unwrap_or(Value::Null);
        let result_info = v.get("result_info").cloned().unwrap_or(Value::Null);
        return Ok(Envelope { result, result_info });
    }
    let mut err = classify(status, &v, retry_after);
    if v.is_null() && !text.trim().is_empty() {
        // Not Cloudflare's envelope (an HTML error page from a proxy, say): say so briefly.
        let snippet: String = text.chars().filter(|c| !c.is_control()).take(120).collect();
        err = match err {
            ProviderError::Transient(m) => ProviderError::Transient(format!("{m}: {snippet}")),
            ProviderError::Rejected(m) => ProviderError::Rejected(format!("{m}: {snippet}")),
            other => other,
        };
    }
    Err(err)
}

/// One page of a record listing: the records named `name`, how many items the page had, and
/// how many pages Cloudflare says there are.
pub(crate) struct Listed {
    pub(crate) records: Vec<ActualRecord>,
    pub(crate) items: usize,
    pub(crate) total_pages: u64,
}

/// PURE: reads one page of `GET path` (records of other names and types are skipped).
pub(crate) fn page_records(path: &str, name: &str, env: &Envelope) -> Result<Listed, ProviderError> {
    let Some(items) = env.result.as_array() else {
        return Err(ProviderError::Rejected(format!("Cloudflare: GET {path} did not return a list of records")));
    };
    let mut records = Vec::new();
    for r in items {
        let Some(kind) = r.get("type").and_then(Value::as_str).and_then(RecordKind::parse) else { continue };
        let rname = r.get("name").and_then(Value::as_str).unwrap_or("");
        if !rname.trim_end_matches('.').eq_ignore_ascii_case(name) {
            continue;
        }
        let Some(id) = r.get("id").and_then(Value::as_str) else { continue };
        records.push(ActualRecord {
            id: id.to_string(),
            kind,
            content: r.get("content").and_then(Value::as_str).unwrap_or("").to_string(),
            ttl: r.get("ttl").and_then(Value::as_u64).unwrap_or(1) as u32,
            proxied: r.get("proxied").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    let total_pages = env.result_info.get("total_pages").and_then(Value::as_u64).unwrap_or(1);
    Ok(Listed { records, items: items.len(), total_pages })
}

fn scrub(s: String, token: &str) -> String {
    if token.len() >= 4 && s.contains(token) {
        s.replace(token, "***")
    } else {
        s
    }
}

fn scrub_err(e: ProviderError, token: &str) -> ProviderError {
    match e {
        ProviderError::Config(m) => ProviderError::Config(scrub(m, token)),
        ProviderError::Auth(m) => ProviderError::Auth(scrub(m, token)),
        ProviderError::RateLimited { message, retry_after } => ProviderError::RateLimited { message: scrub(message, token), retry_after },
        ProviderError::Transient(m) => ProviderError::Transient(scrub(m, token)),
        ProviderError::Rejected(m) => ProviderError::Rejected(scrub(m, token)),
        ProviderError::Duplicate(m) => ProviderError::Duplicate(scrub(m, token)),
    }
}

fn record_body(name: &str, ip: &IpAddr, ttl: u32) -> Value {
    json!({ "type": RecordKind::of(ip).as_str(), "name": name, "content": ip.to_string(), "ttl": ttl, "proxied": false })
}

impl Client {
    async fn pace(&self) -> Result<(), ProviderError> {
        loop {
            let take = self.limiter.lock().unwrap_or_else(|e| e.into_inner()).take(Instant::now());
            match take {
                Take::Go => return Ok(()),
                Take::Wait(d) => tokio::time::sleep(d).await,
                Take::Paused(d) => {
                    return Err(ProviderError::RateLimited {
                        message: format!("Cloudflare asked us to slow down; next request allowed in {}s", d.as_secs().max(1)),
                        retry_after: Some(d),
                    })
                }
            }
        }
    }

    /// One request, paced; decodes the envelope. Runs on the worker thread only.
    async fn call(&self, method: Method, path: &str, query: &[(&str, String)], body: Option<&Value>) -> Result<Envelope, Failed> {
        self.pace().await?;
        let target = if query.is_empty() { path.to_string() } else { format!("{path}?{}", query_string(query)) };
        let auth = format!("Bearer {}", self.token);
        let user_agent = concat!("wgclusterd/", env!("CARGO_PKG_VERSION"));
        let headers = [("Authorization", auth.as_str()), ("Accept", "application/json"), ("User-Agent", user_agent)];
        let (content_type, body) = match method {
            Method::Get | Method::Delete => (None, Vec::new()),
            Method::Post | Method::Patch => {
                let bytes = serde_json::to_vec(body.unwrap_or(&Value::Null)).unwrap_or_default();
                (Some("application/json"), bytes)
            }
        };
        let req = Request { method: method.as_str(), path: &target, headers: &headers, content_type, body };
        let resp = match self.web.send(req, self.timeout).await {
            Ok(r) => r,
            Err(ClientError::Timeout { .. }) => {
                return Err(ProviderError::Transient(format!(
                    "Cloudflare did not answer {} {path} in time ({}): the API is slow or unreachable",
                    method.as_str(),
                    self.base
                ))
                .into())
            }
            Err(ClientError::InvalidRequest(m)) => {
                let msg = scrub(format!("cannot send a request to the Cloudflare API at {}: {m}", self.base), &self.token);
                return Err(ProviderError::Config(msg).into());
            }
            Err(e) => {
                let msg = scrub(format!("cannot reach the Cloudflare API at {}: {e}", self.base), &self.token);
                return Err(ProviderError::Transient(msg).into());
            }
        };
        let status = resp.status;
        let retry_after = resp.header("retry-after").and_then(parse_retry_after);
        let text = String::from_utf8_lossy(&resp.body);
        if status == 429 {
            let pause = retry_after.unwrap_or(Duration::from_secs(1));
            self.limiter.lock().unwrap_or_else(|e| e.into_inner()).pause(Instant::now(), pause);
        }
        decode_answer(method, path, status, &text, retry_after).map_err(|err| Failed { status, err: scrub_err(err, &self.token) })
    }

    async fn list(&self, zone: &str, name: &str, kind: Option<RecordKind>) -> Result<Vec<ActualRecord>, ProviderError> {
        check_id("cloudflare_zone_id", zone)?;
        let path = format!("/zones/{zone}/dns_records");
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let mut q = vec![("name", name.to_string()), ("page", page.to_string()), ("per_page", PER_PAGE.to_string())];
            if let Some(k) = kind {
                q.push(("type", k.as_str().to_string()));
            }
            let env = self.call(Method::Get, &path, &q, None).await.map_err(|f| f.err)?;
            let listed = page_records(&path, name, &env)?;
            out.extend(listed.records);
            if listed.items == 0 || u64::from(page) >= listed.total_pages || page >= MAX_PAGES {
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    async fn apply(&self, t: &Target, plan: &Plan) -> Result<usize, ProviderError> {
        if plan.is_empty() {
            return Ok(0);
        }
        check_id("cloudflare_zone_id", &t.zone)?;
        for r in plan.update.iter().chain(plan.delete.iter()) {
            check_id("record id", &r.id)?;
        }
        let mut requests = 0;
        if plan.len() > 1 && self.batch.load(Ordering::Relaxed) {
            requests += 1;
            match self.batch(t, plan).await {
                Ok(()) => return Ok(requests),
                // No batch endpoint here (an older API or a proxy): fall back to one by one.
                Err(Failed { status: 404 | 405 | 501, err }) => {
                    log::info!("Cloudflare batch endpoint unavailable ({err}); one request per record")
                }
                Err(f) => return Err(f.err),
            }
            requests += self.one_by_one(t, plan).await?;
            self.batch.store(false, Ordering::Relaxed);
            return Ok(requests);
        }
        Ok(requests + self.one_by_one(t, plan).await?)
    }

    async fn batch(&self, t: &Target, plan: &Plan) -> Result<(), Failed> {
        let body = json!({
            "deletes": plan.delete.iter().map(|r| json!({ "id": r.id })).collect::<Vec<_>>(),
            "patches": plan.update.iter().map(|r| json!({ "id": r.id, "ttl": t.ttl, "proxied": false })).collect::<Vec<_>>(),
            "posts": plan.create.iter().map(|ip| record_body(&t.name, ip, t.ttl)).collect::<Vec<_>>(),
        });
        self.call(Method::Post, &format!("/zones/{}/dns_records/batch", t.zone), &[], Some(&body)).await.map(|_| ())
    }

    /// Creates first, then corrections, then deletes: the name never goes empty in between.
    async fn one_by_one(&self, t: &Target, plan: &Plan) -> Result<usize, ProviderError> {
        let mut n = 0;
        let base = format!("/zones/{}/dns_records", t.zone);
        for ip in &plan.create {
            n += 1;
            match self.call(Method::Post, &base, &[], Some(&record_body(&t.name, ip, t.ttl))).await {
                Ok(_) => {}
                // Created by an earlier attempt whose answer we lost: fine.
                Err(Failed { err: ProviderError::Duplicate(_), .. }) => {}
                Err(f) => return Err(f.err),
            }
        }
        for r in &plan.update {
            n += 1;
            self.call(Method::Patch, &format!("{base}/{}", r.id), &[], Some(&json!({ "ttl": t.ttl, "proxied": false })))
                .await
                .map_err(|f| f.err)?;
        }
        for r in &plan.delete {
            n += 1;
            match self.call(Method::Delete, &format!("{base}/{}", r.id), &[], None).await {
                Ok(_) => {}
                // Gone already.
                Err(Failed { status: 404, .. }) => {}
                Err(f) => return Err(f.err),
            }
        }
        Ok(n)
    }
}

impl Cloudflare {
    /// A client for `api_base` (e.g. `https://api.cloudflare.com/client/v4`). `limiter` carries
    /// the pacing state over from a previous client of the same account.
    pub fn new(api_base: &str, api_token: &str, opts: &CloudflareOptions, limiter: Option<Limiter>) -> Result<Self, ProviderError> {
        let base = api_base.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() < 10 {
            return Err(ProviderError::Config(format!(
                "cloudflare.api_base '{}' is not an http(s) URL like https://api.cloudflare.com/client/v4",
                base.escape_debug()
            )));
        }
        if api_token.trim().is_empty() || api_token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ProviderError::Config("cloudflare.api_token is empty or has spaces or control characters".into()));
        }
        let options = ClientOptions { connect_timeout: opts.timeout, max_response_bytes: MAX_RESPONSE_BYTES, ..ClientOptions::default() };
        let web =
            WebClient::new(&base, &opts.ca_bundles, options).map_err(|e| ProviderError::Config(format!("cloudflare.api_base: {e}")))?;
        let limiter = limiter.unwrap_or_else(|| Arc::new(Mutex::new(TokenBucket::new(opts.rate, opts.burst))));
        let client = Arc::new(Client {
            base,
            token: api_token.trim().to_string(),
            web,
            timeout: opts.timeout,
            limiter,
            batch: AtomicBool::new(opts.batch),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let (started_tx, started_rx) = mpsc::channel::<Result<(), String>>();
        std::thread::Builder::new()
            .name("dns-cloudflare".into())
            .spawn(move || {
                // The runtime lives and dies on this thread (never dropped inside another runtime).
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => {
                        let _ = started_tx.send(Ok(()));
                        rt
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    // A panicking job must not take the worker (and every later sync) with it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(job())));
                }
            })
            .map_err(|e| ProviderError::Transient(format!("cannot start the Cloudflare worker thread: {e}")))?;
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ProviderError::Transient(format!("cannot start the Cloudflare worker's runtime: {e}"))),
            Err(_) => return Err(ProviderError::Transient("the Cloudflare worker thread stopped at start".into())),
        }
        Ok(Self { client, jobs: tx })
    }

    pub fn limiter(&self) -> Limiter {
        self.client.limiter.clone()
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Client>) -> BoxFuture<'static, Result<T, ProviderError>> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, ProviderError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let client = self.client.clone();
        let sent = self.jobs.send(Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(f(client).await);
            })
        }));
        Box::pin(async move {
            if sent.is_err() {
                return Err(ProviderError::Transient("the Cloudflare worker thread has stopped".into()));
            }
            rx.await.unwrap_or_else(|_| Err(ProviderError::Transient("the Cloudflare worker thread has stopped".into())))
        })
    }

    /// Records at `name` in `zone`, of one type or (None) of both A and AAAA, every page.
    pub fn list_records(
        &self,
        zone: &str,
        name: &str,
        kind: Option<RecordKind>,
    ) -> BoxFuture<'static, Result<Vec<ActualRecord>, ProviderError>> {
        let (zone, name) = (zone.to_string(), name.to_string());
        self.run(move |c| Box::pin(async move { c.list(&zone, &name, kind).await }))
    }
}

impl DnsProvider for Cloudflare {
    fn kind(&self) -> DnsProviderKind {
        DnsProviderKind::Cloudflare
    }

    fn list(&self, target: &Target) -> BoxFuture<'static, Result<Vec<ActualRecord>, ProviderError>> {
        self.list_records(&target.zone, &target.name, None)
    }

    fn apply(&self, target: &Target, plan: &Plan) -> BoxFuture<'static, Result<usize, ProviderError>> {
        let (t, p) = (target.clone(), plan.clone());
        self.run(move |c| Box::pin(async move { c.apply(&t, &p).await }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_decoded_and_classified() {
        let body = json!({ "success": false, "errors": [{ "code": 81058, "message": "An identical record already exists." }] });
        let e = classify(400, &body, None);
        assert_eq!(
            e,
            ProviderError::Duplicate("Cloudflare: the record exists already (HTTP 400): 81058: An identical record already exists.".into())
        );
        let body = json!({ "success": false, "errors": [{ "code": 10000, "message": "Authentication error" }] });
        assert_eq!(
            classify(401, &body, None),
            ProviderError::Auth("Cloudflare refused the API token (HTTP 401): 10000: Authentication error".into())
        );
        assert!(matches!(classify(403, &body, None), ProviderError::Auth(m) if m.contains("DNS edit permission")));
        let e = classify(429, &Value::Null, Some(Duration::from_secs(7)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.to_string(), "Cloudflare rate limit (HTTP 429, Retry-After 7s)");
        assert!(matches!(classify(502, &Value::Null, None), ProviderError::Transient(m) if m == "Cloudflare API error (HTTP 502)"));
        let body = json!({ "success": false, "errors": [{ "code": 7003, "message": "Could not route" }, { "message": "x" }] });
        assert_eq!(classify(404, &body, None), ProviderError::Rejected("Cloudflare API error (HTTP 404): 7003: Could not route; x".into()));
    }

    #[test]
    fn ids_and_bases_are_checked_and_tokens_scrubbed() {
        assert!(check_id("z", "023e105f4ecef8ad9ca31a8372d0c353").is_ok());
        assert!(check_id("z", "../x").is_err());
        assert!(check_id("z", "").is_err());
        let opts = CloudflareOptions { timeout: Duration::from_secs(1), rate: 4.0, burst: 4.0, batch: true, ca_bundles: Vec::new() };
        assert!(matches!(Cloudflare::new("ftp://x", "t", &opts, None), Err(ProviderError::Config(_))));
        assert!(matches!(Cloudflare::new("http://127.0.0.1:1", " ", &opts, None), Err(ProviderError::Config(_))));
        assert!(Cloudflare::new("http://127.0.0.1:1/", "tok", &opts, None).is_ok());
        // Clear text only to this machine; https needs a trust store (none configured here).
        assert!(
            matches!(Cloudflare::new("http://192.0.2.1/client/v4", "tok", &opts, None), Err(ProviderError::Config(m)) if m.contains("loopback"))
        );
        assert!(
            matches!(Cloudflare::new("https://api.cloudflare.com/client/v4", "tok", &opts, None), Err(ProviderError::Config(m)) if m.contains("CA"))
        );
        assert_eq!(scrub("bad token sekrit-123 here".into(), "sekrit-123"), "bad token *** here");
    }

    #[test]
    fn bodies_are_never_proxied() {
        let b = record_body("vpn.example.test", &"2001:db8::1".parse().unwrap(), 60);
        assert_eq!(b, json!({ "type": "AAAA", "name": "vpn.example.test", "content": "2001:db8::1", "ttl": 60, "proxied": false }));
    }
}
