//! DNS routes: the provider settings and the reconcile interval (`GET|PUT /api/settings/dns`;
//! secrets are write-only and come back masked), the DNS retry queue of this router
//! (`GET /api/dns/queue`, `POST /api/dns/queue/{id}/retry`, `DELETE /api/dns/queue/{id}`), each
//! endpoint group's last sync report with its drift corrections (`GET /api/dns/status`), and the
//! records of deleted or moved groups still to be removed (`GET /api/dns/removals`, #16). All need
//! the admin token (`User`).
//!
//! Must not: return or log a secret; wait for a DNS sync in progress (the queue is read and edited
//! directly in the store's `dns-queue` file, then the sync task is nudged).

use super::auth::User;
use super::body::{self, Body};
use super::error::{ok, ApiError};
use super::server::{HttpRequest, Path, Payload, Response};
use super::{read_body, App};
use serde_json::{json, Value};
use wgcluster_actors::dns::rfc2136::{parse_algorithm, server_addr};
use wgcluster_actors::dns::{plan, DnsHandle, QueueEntry};
use wgcluster_actors::model::{check_secret, is_forbidden_char, quote_prefix};
use wgcluster_actors::model::{CloudflareSettings, DnsSettings, Rfc2136Settings, Settings};
use wgcluster_actors::model::{DNS_RECONCILE_MAX_S, DNS_RECONCILE_MIN_S};
use wgcluster_actors::state::Command;
use wgcluster_actors::tls::web::{BaseUrl, WebError};

pub const DEFAULT_CLOUDFLARE_API: &str = "https://api.cloudflare.com/client/v4";
const MASK: &str = "***";

fn handle(req: &HttpRequest) -> Result<DnsHandle, ApiError> {
    req.dns().cloned().ok_or_else(|| ApiError::Unavailable("DNS sync is not running on this router".into()))
}

fn store_err(e: wgcluster_actors::store::StoreError) -> ApiError {
    ApiError::Internal(format!("DNS queue: {e}"))
}

/// The DNS settings with every secret masked, and the reconcile interval.
pub fn settings_view(s: &Settings) -> Value {
    let mut v = credentials_view(&s.dns);
    v["reconcile_interval_s"] = json!(s.dns_reconcile_interval_s);
    v
}

/// The provider credentials with every secret masked.
fn credentials_view(s: &DnsSettings) -> Value {
    json!({
        "cloudflare": s.cloudflare.as_ref().map(|c| json!({
            "api_base": c.api_base, "api_token": MASK, "api_token_set": !c.api_token.is_empty(),
        })),
        "rfc2136": s.rfc2136.as_ref().map(|r| json!({
            "server": r.server, "zone": r.zone, "key_name": r.key_name, "algorithm": r.algorithm,
            "key_secret": MASK, "key_secret_set": !r.key_secret.is_empty(),
        })),
    })
}

fn queue_view(e: &QueueEntry, max_attempts: u32) -> Value {
    json!({
        "id": e.id, "config_name": e.config, "record_name": e.record_name, "provider": e.provider,
        "desired": e.desired, "attempts": e.attempts, "max_attempts": max_attempts,
        "state": if e.dead { "dead" } else { "pending" },
        "next_attempt_at": if e.dead { Value::Null } else { json!(e.next_attempt_at) },
        "last_error": e.last_error, "created_at": e.created_at, "updated_at": e.updated_at,
    })
}

fn queue_id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest(format!("id: {} is not a DNS queue entry id", quote_prefix(s))))
}

/// A DNS name (letters, digits, '-', '_' labels); returned lower case without the trailing dot.
fn dns_name(field: &str, s: &str) -> Result<String, ApiError> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let good = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if good {
        Ok(d)
    } else {
        Err(ApiError::BadRequest(format!("{field}: {} is not a DNS name", quote_prefix(s))))
    }
}

/// A part of the body that must be an object, or absent/null.
fn part(top: &Value, key: &str) -> Result<Option<Body>, ApiError> {
    match top.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(Body::from_value(v.clone(), &format!("{key}."))?)),
        Some(_) => Err(ApiError::BadRequest(format!("{key}: expected an object"))),
    }
}

/// Longest Cloudflare API token accepted, in bytes (real ones are 40).
pub const API_TOKEN_MAX: usize = 256;
/// Longest Cloudflare API base URL, in bytes.
pub const API_BASE_MAX: usize = 256;
/// Longest RFC 2136 server (`host:port`), in bytes.
pub const SERVER_MAX: usize = 255;
/// Longest TSIG secret (base64), in bytes.
pub const KEY_SECRET_MAX: usize = 1024;

/// `https://host[:port][/path]`, or `http://` to a loopback host only (the token must never
/// cross a network in clear text; the tests' fake Cloudflare listens on 127.0.0.1). The rule is the
/// provider client's own (`tls::web::BaseUrl`): what is stored is exactly what the client accepts.
fn api_base(raw: Option<String>) -> Result<String, ApiError> {
    let base = raw.map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty());
    let base = base.unwrap_or_else(|| DEFAULT_CLOUDFLARE_API.to_string());
    if base.len() > API_BASE_MAX {
        return Err(ApiError::BadRequest(format!("cloudflare.api_base: is {} bytes long; at most {API_BASE_MAX} are allowed", base.len())));
    }
    match BaseUrl::parse(&base) {
        Ok(_) => Ok(base),
        Err(WebError::BadUrl { why, .. }) => Err(ApiError::BadRequest(format!(
            "cloudflare.api_base: {} is not an API base URL like {DEFAULT_CLOUDFLARE_API}: {why}",
            quote_prefix(&base)
        ))),
        Err(other) => Err(ApiError::BadRequest(format!("cloudflare.api_base: {other}"))),
    }
}

fn parse_cloudflare(b: &Body, current: Option<&CloudflareSettings>) -> Result<CloudflareSettings, ApiError> {
    b.only(&["api_token", "api_base"])?;
    let api_base = api_base(b.opt_str("api_base")?)?;
    // Write-only: a form that cannot show the token may leave it out to keep the current one,
    // but only for the destination it was entered for: a stored token never follows a new base.
    let api_token = match b.opt_str("api_token")? {
        Some(t) => check_secret("cloudflare.api_token", &t, API_TOKEN_MAX)?,
        None => match current {
            Some(c) if c.api_base == api_base => c.api_token.clone(),
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "cloudflare.api_base: changing the API base needs cloudflare.api_token in the same request \
                     (a stored token is only ever sent to the base it was entered for)"
                        .into(),
                ))
            }
            None => return Err(ApiError::BadRequest("cloudflare.api_token: is required".into())),
        },
    };
    if api_token == MASK {
        return Err(ApiError::BadRequest("cloudflare.api_token: must be a Cloudflare API token (no spaces)".into()));
    }
    Ok(CloudflareSettings { api_token, api_base })
}

fn parse_rfc2136(b: &Body, current: Option<&Rfc2136Settings>) -> Result<Rfc2136Settings, ApiError> {
    b.only(&["server", "zone", "key_name", "key_secret", "algorithm"])?;
    let server = b.req_str("server")?.trim().to_string();
    if server.len() > SERVER_MAX {
        return Err(ApiError::BadRequest(format!("rfc2136.server: is {} bytes long; at most {SERVER_MAX} are allowed", server.len())));
    }
    if server.chars().any(is_forbidden_char) || server_addr(&server).is_none() {
        return Err(ApiError::BadRequest(format!("rfc2136.server: {} is not host:port", quote_prefix(&server))));
    }
    let zone = dns_name("rfc2136.zone", &b.req_str("zone")?)?;
    let key_name = dns_name("rfc2136.key_name", &b.req_str("key_name")?)?;
    // As for Cloudflare: a stored TSIG secret is kept only while the server stays the same.
    let key_secret = match b.opt_str("key_secret")? {
        Some(s) => check_secret("rfc2136.key_secret", &s, KEY_SECRET_MAX)?,
        None => match current {
            Some(c) if c.server == server => c.key_secret.clone(),
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "rfc2136.server: changing the server needs rfc2136.key_secret in the same request \
                     (a stored secret is only ever used with the server it was entered for)"
                        .into(),
                ))
            }
            None => return Err(ApiError::BadRequest("rfc2136.key_secret: is required".into())),
        },
    };
    {
        use base64::Engine;
        let compact: String = key_secret.chars().filter(|c| !c.is_whitespace()).collect();
        let ok = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).is_ok_and(|k| !k.is_empty());
        if !ok {
            // Never echo the value: it is a secret.
            return Err(ApiError::BadRequest("rfc2136.key_secret: must be the base64 TSIG secret (as in a BIND key file)".into()));
        }
    }
    let algorithm = b.opt_str("algorithm")?.unwrap_or_else(|| "hmac-sha256".into()).trim().trim_end_matches('.').to_ascii_lowercase();
    if parse_algorithm(&algorithm).is_none() {
        return Err(ApiError::BadRequest(format!(
            "rfc2136.algorithm: {} is not one of hmac-sha256, hmac-sha384, hmac-sha512",
            quote_prefix(&algorithm)
        )));
    }
    Ok(Rfc2136Settings { server, zone, key_name, key_secret, algorithm })
}

pub async fn get_settings(app: App, _u: User) -> Response {
    let v = app.cluster.read(|s| settings_view(&s.settings));
    ok("DNS settings retrieved successfully", v)
}

pub async fn put_settings(req: HttpRequest, app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let top = body::json(&read_body(payload).await?)?;
    let b = Body::from_value(top.clone(), "")?;
    b.only(&["cloudflare", "rfc2136", "reconcile_interval_s"])?;
    let reconcile_interval_s = b.opt_uint("reconcile_interval_s", DNS_RECONCILE_MIN_S, DNS_RECONCILE_MAX_S)?;
    let current = app.cluster.read(|s| s.settings.dns.clone());
    let cloudflare = part(&top, "cloudflare")?.map(|b| parse_cloudflare(&b, current.cloudflare.as_ref())).transpose()?;
    let rfc2136 = part(&top, "rfc2136")?.map(|b| parse_rfc2136(&b, current.rfc2136.as_ref())).transpose()?;
    if cloudflare.is_none() && rfc2136.is_none() && reconcile_interval_s.is_none() {
        return Err(ApiError::BadRequest("settings: give cloudflare, rfc2136 and/or reconcile_interval_s".into()));
    }
    app.submit_as(&u, Command::SetDnsSettings { cloudflare, rfc2136, reconcile_interval_s }).await?;
    if let Ok(dns) = handle(&req) {
        // A new interval takes effect now, not at the end of the old one.
        dns.sync_now();
    }
    let v = app.cluster.read(|s| settings_view(&s.settings));
    Ok(ok("DNS settings saved successfully", v))
}

pub async fn list_queue(req: HttpRequest, _u: User) -> Result<Response, ApiError> {
    let dns = handle(&req)?;
    let max = dns.max_attempts();
    let entries = dns.list().map_err(store_err)?;
    let v: Vec<Value> = entries.iter().map(|e| queue_view(e, max)).collect();
    Ok(ok("DNS queue retrieved successfully", v.into()))
}

pub async fn retry(req: HttpRequest, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id = queue_id(&path)?;
    let dns = handle(&req)?;
    let e = dns.retry(id).map_err(store_err)?.ok_or_else(|| ApiError::NotFound(format!("DNS queue entry '{id}' not found")))?;
    log::info!("dns: queue entry {id} ({}) retried by {}", e.record_name, u.0);
    Ok(ok("DNS queue entry scheduled for retry", queue_view(&e, dns.max_attempts())))
}

pub async fn drop_entry(req: HttpRequest, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id = queue_id(&path)?;
    let dns = handle(&req)?;
    if !dns.drop_entry(id).map_err(store_err)? {
        return Err(ApiError::NotFound(format!("DNS queue entry '{id}' not found")));
    }
    log::info!("dns: queue entry {id} dropped by {}", u.0);
    Ok(ok("DNS queue entry dropped", Value::Null))
}

/// Each endpoint group's DNS status as the last sync reported it (replicated: any router shows
/// it), with its drift corrections (#16). `last_reconcile` (the last full reconcile) and
/// `last_checked` (when the group's records were last read back and found or made right) are the
/// panel's own view: null on another router.
pub async fn status(req: HttpRequest, app: App, _u: User) -> Response {
    let local = handle(&req).map(|h| h.local()).unwrap_or_default();
    let v: Vec<Value> = app.cluster.read(|s| {
        s.endpoint_groups
            .values()
            .map(|g| {
                let st = &g.dns_status;
                json!({
                    "config_name": g.config, "domain": g.domain, "record_name": plan::record_name(g),
                    "provider": g.provider.as_str(), "published": st.published, "degraded": st.degraded,
                    "last_sync": st.last_sync, "last_error": st.last_error, "min_nodes": g.min_nodes,
                    "reconcile_interval_s": s.settings.dns_reconcile_interval_s,
                    "last_reconcile": local.last_reconcile, "last_checked": local.checked.get(g.config.as_str()),
                    "drift_corrected": st.drift_corrected, "last_drift": st.last_drift,
                })
            })
            .collect()
    });
    ok("DNS status retrieved successfully", v.into())
}

/// Records of deleted or moved endpoint groups still to be removed from their provider (#16;
/// replicated), with this router's last error for each when it is the panel.
pub async fn removals(req: HttpRequest, app: App, _u: User) -> Response {
    let local = handle(&req).map(|h| h.local()).unwrap_or_default();
    let v: Vec<Value> = app.cluster.read(|s| {
        s.dns_removals
            .iter()
            .map(|(key, r)| {
                json!({
                    "config_name": r.config, "record_name": r.record_name, "provider": r.provider.as_str(),
                    "zone": r.zone, "records": r.addrs, "created_at": r.created_at,
                    "last_error": local.removal_errors.get(key),
                })
            })
            .collect()
    });
    ok("DNS removals retrieved successfully", v.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_validated_and_masked() {
        let b = Body::parse(br#"{"api_token": "tok123"}"#).unwrap();
        let cf = parse_cloudflare(&b, None).unwrap();
        assert_eq!(cf.api_base, DEFAULT_CLOUDFLARE_API);
        let b = Body::parse(br#"{"api_base": "http://127.0.0.1:9/client/v4/"}"#).unwrap();
        assert!(parse_cloudflare(&b, None).unwrap_err().to_string().contains("cloudflare.api_token: is required"));
        // A stored token never follows a new base (issue 10, hole 1) ...
        let msg = parse_cloudflare(&b, Some(&cf)).unwrap_err().to_string();
        assert!(msg.contains("cloudflare.api_base") && msg.contains("api_token") && !msg.contains("tok123"), "{msg}");
        // ... but stays for the same base.
        let same = Body::parse(br#"{"api_base": "https://api.cloudflare.com/client/v4/"}"#).unwrap();
        let kept = parse_cloudflare(&same, Some(&cf)).unwrap();
        assert_eq!((kept.api_token.as_str(), kept.api_base.as_str()), ("tok123", DEFAULT_CLOUDFLARE_API));
        // http:// only to loopback.
        for (base, ok) in [
            ("http://127.0.0.1:9/client/v4", true),
            ("http://[::1]:9/client/v4", true),
            ("http://localhost:9", true),
            ("https://cf.example.com/client/v4", true),
            ("http://192.0.2.1/client/v4", false),
            ("http://127.0.0.1.evil.example/x", false),
            ("http://localhost@evil.example/x", false),
            ("https://a b", false),
        ] {
            let b = Body::from_value(serde_json::json!({ "api_token": "t", "api_base": base }), "").unwrap();
            assert_eq!(parse_cloudflare(&b, None).is_ok(), ok, "{base}");
        }
        let b = Body::parse(br#"{"api_token": "t", "api_base": "ftp://x"}"#).unwrap();
        assert!(parse_cloudflare(&b, None).unwrap_err().to_string().contains("cloudflare.api_base"));
        let b = Body::parse(br#"{"api_token": "t", "nope": 1}"#).unwrap();
        assert!(parse_cloudflare(&b, None).is_err());

        let good = br#"{"server": "127.0.0.1:5353", "zone": "Example.Test.", "key_name": "wgcluster-key", "key_secret": "c2VjcmV0"}"#;
        let r = parse_rfc2136(&Body::parse(good).unwrap(), None).unwrap();
        assert_eq!((r.zone.as_str(), r.algorithm.as_str()), ("example.test", "hmac-sha256"));
        let bad_secret = br#"{"server": "127.0.0.1:53", "zone": "example.test", "key_name": "k", "key_secret": "%%SECRET%%"}"#;
        let msg = parse_rfc2136(&Body::parse(bad_secret).unwrap(), None).unwrap_err().to_string();
        assert!(msg.contains("rfc2136.key_secret") && !msg.contains("SECRET%%"), "{msg}");
        let bad_alg =
            br#"{"server": "127.0.0.1:53", "zone": "example.test", "key_name": "k", "key_secret": "c2VjcmV0", "algorithm": "hmac-md5"}"#;
        assert!(parse_rfc2136(&Body::parse(bad_alg).unwrap(), None).unwrap_err().to_string().contains("rfc2136.algorithm"));
        let bad_server = br#"{"server": "127.0.0.1:x", "zone": "example.test", "key_name": "k", "key_secret": "c2VjcmV0"}"#;
        assert!(parse_rfc2136(&Body::parse(bad_server).unwrap(), None).unwrap_err().to_string().contains("rfc2136.server"));

        let settings = Settings { dns: DnsSettings { cloudflare: Some(cf), rfc2136: Some(r) }, ..Default::default() };
        let view = settings_view(&settings).to_string();
        assert!(view.contains("\"reconcile_interval_s\":300"), "{view}");
        assert!(!view.contains("tok123") && !view.contains("c2VjcmV0"), "{view}");
        assert!(view.contains("\"api_token\":\"***\""));
        assert!(queue_id("0").is_err() && queue_id("x").is_err() && queue_id("7").is_ok());
    }
}
