//! The DNS provider seam: `DnsProvider` (list the A/AAAA records at a name, apply a `Plan`),
//! `ProviderError` (what went wrong, classified so the sync actor can schedule the retry), and
//! `Providers`, which builds the configured provider from the replicated `DnsSettings` and keeps
//! what must outlive one sync (Cloudflare's HTTP agent, rate limiter and worker thread).
//!
//! Must not: log or return secrets (tokens, TSIG keys) — errors are built without them and the
//! Cloudflare client scrubs its token from anything the server echoes.

use super::cloudflare::{Cloudflare, CloudflareOptions};
use super::plan::{ActualRecord, Plan};
use super::rfc2136::Rfc2136;
use crate::assign::BoxFuture;
use crate::model::{DnsProviderKind, DnsSettings};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where records live: the zone (Cloudflare zone id, or the RFC 2136 zone name), the record
/// name (lower case, no trailing dot) and the TTL new records get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub zone: String,
    pub name: String,
    pub ttl: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The settings are missing or unusable (fix them; retrying alone will not help).
    #[error("{0}")]
    Config(String),
    /// The provider refused our credentials.
    #[error("{0}")]
    Auth(String),
    /// Too many requests: wait `retry_after` (when the provider said) before trying again.
    #[error("{message}")]
    RateLimited { message: String, retry_after: Option<Duration> },
    /// Server errors, timeouts, connection failures: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// The provider refused the request for another reason.
    #[error("{0}")]
    Rejected(String),
    /// Cloudflare 81058: the record we tried to create exists already.
    #[error("{0}")]
    Duplicate(String),
}

impl ProviderError {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub trait DnsProvider: Send + Sync + 'static {
    /// `cloudflare` or `rfc2136`.
    fn kind(&self) -> DnsProviderKind;
    /// The A and AAAA records at `target.name`.
    fn list(&self, target: &Target) -> BoxFuture<Result<Vec<ActualRecord>, ProviderError>>;
    /// Applies `plan` (every new or corrected record with `target.ttl`, never proxied). Returns the
    /// number of requests it took.
    fn apply(&self, target: &Target, plan: &Plan) -> BoxFuture<Result<usize, ProviderError>>;
}

/// Builds providers from settings. The sync actor asks for one per unit of work.
pub trait ProviderFactory: Send + Sync + 'static {
    fn provider(&self, kind: DnsProviderKind, settings: &DnsSettings) -> Result<Arc<dyn DnsProvider>, ProviderError>;
}

/// A short, secret-free identity of the credentials a group's work uses: the non-secret fields
/// plus a hash of the secret. Part of the work fingerprint, so new credentials mean new work.
pub fn settings_key(kind: DnsProviderKind, settings: &DnsSettings) -> String {
    let hash = |s: &str| hex::encode(&Sha256::digest(s.as_bytes())[..8]);
    match kind {
        DnsProviderKind::Cloudflare => match &settings.cloudflare {
            Some(c) => format!("cf|{}|{}", c.api_base, hash(&c.api_token)),
            None => "cf|none".into(),
        },
        DnsProviderKind::Rfc2136 => match &settings.rfc2136 {
            Some(r) => format!("rfc|{}|{}|{}|{}|{}", r.server, r.zone, r.key_name, r.algorithm, hash(&r.key_secret)),
            None => "rfc|none".into(),
        },
    }
}

/// Tunables of the real providers.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// Per request (Cloudflare) or per exchange (RFC 2136).
    pub timeout: Duration,
    /// Cloudflare pacing: requests per second on average, and the burst.
    pub cloudflare_rate: f64,
    pub cloudflare_burst: f64,
    /// Use Cloudflare's batch endpoint when a change has several record operations.
    pub cloudflare_batch: bool,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        // Cloudflare allows 1200 requests per 5 minutes per user: 4/s keeps us well inside.
        Self { timeout: Duration::from_secs(10), cloudflare_rate: 4.0, cloudflare_burst: 8.0, cloudflare_batch: true }
    }
}

/// The real providers. Keeps the Cloudflare client (agent, rate limiter, worker thread) while its
/// settings stay the same, so pacing and a 429 pause carry over from one sync to the next.
pub struct Providers {
    opts: ProviderOptions,
    cloudflare: Mutex<Option<(String, Arc<Cloudflare>)>>,
}

impl Providers {
    pub fn new(opts: ProviderOptions) -> Self {
        Self { opts, cloudflare: Mutex::new(None) }
    }
}

impl ProviderFactory for Providers {
    fn provider(&self, kind: DnsProviderKind, settings: &DnsSettings) -> Result<Arc<dyn DnsProvider>, ProviderError> {
        match kind {
            DnsProviderKind::Cloudflare => {
                let Some(cf) = &settings.cloudflare else {
                    return Err(ProviderError::Config(
                        "no Cloudflare settings: set them with PUT /api/settings/dns {\"cloudflare\": {\"api_token\": …}}".into(),
                    ));
                };
                let key = settings_key(kind, settings);
                let mut cached = self.cloudflare.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((k, c)) = cached.as_ref() {
                    if *k == key {
                        return Ok(c.clone());
                    }
                }
                // Same account, new settings: keep the pacing state (a 429 pause must hold).
                let limiter = cached.as_ref().map(|(_, c)| c.limiter());
                let opts = CloudflareOptions {
                    timeout: self.opts.timeout,
                    rate: self.opts.cloudflare_rate,
                    burst: self.opts.cloudflare_burst,
                    batch: self.opts.cloudflare_batch,
                };
                let client = Arc::new(Cloudflare::new(&cf.api_base, &cf.api_token, &opts, limiter)?);
                *cached = Some((key, client.clone()));
                Ok(client)
            }
            DnsProviderKind::Rfc2136 => {
                let Some(r) = &settings.rfc2136 else {
                    return Err(ProviderError::Config(
                        "no RFC 2136 settings: set them with PUT /api/settings/dns {\"rfc2136\": {\"server\": …}}".into(),
                    ));
                };
                Ok(Arc::new(Rfc2136::new(r, self.opts.timeout)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CloudflareSettings, Rfc2136Settings};

    #[test]
    fn settings_keys_hold_no_secret() {
        let s = DnsSettings {
            cloudflare: Some(CloudflareSettings { api_token: "tok-SECRET".into(), api_base: "http://127.0.0.1:1".into() }),
            rfc2136: Some(Rfc2136Settings {
                server: "127.0.0.1:53".into(),
                zone: "example.test".into(),
                key_name: "k".into(),
                key_secret: "c2VjcmV0".into(),
                algorithm: "hmac-sha256".into(),
            }),
        };
        let a = settings_key(DnsProviderKind::Cloudflare, &s);
        let b = settings_key(DnsProviderKind::Rfc2136, &s);
        assert!(!a.contains("SECRET") && !b.contains("c2VjcmV0"), "{a} {b}");
        let mut s2 = s.clone();
        s2.cloudflare.as_mut().unwrap().api_token = "other".into();
        assert_ne!(a, settings_key(DnsProviderKind::Cloudflare, &s2));
        assert_eq!(b, settings_key(DnsProviderKind::Rfc2136, &s2));
        assert_eq!(settings_key(DnsProviderKind::Rfc2136, &DnsSettings::default()), "rfc|none");
    }

    #[test]
    fn missing_settings_are_config_errors() {
        let p = Providers::new(ProviderOptions::default());
        for kind in [DnsProviderKind::Cloudflare, DnsProviderKind::Rfc2136] {
            match p.provider(kind, &DnsSettings::default()) {
                Err(ProviderError::Config(m)) => assert!(m.contains("PUT /api/settings/dns"), "{m}"),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a provider without settings"),
            }
        }
    }
}
