//! The DNS provider seam: `DnsProvider` (list the A/AAAA records at a name, apply a `Plan`),
//! `ProviderError` (what went wrong, classified so the sync actor can schedule the retry),
//! `ProviderFactory` (how the sync task gets a provider) and `settings_key`. The real factory,
//! which knows the concrete providers, is `factory::Providers`: this module imports none of
//! them, so `cloudflare` and `rfc2136` depend on it and not the other way round.
//!
//! Must not: log or return secrets (tokens, TSIG keys) — errors are built without them and the
//! Cloudflare client scrubs its token from anything the server echoes.

use super::plan::{ActualRecord, Plan};
use crate::model::{DnsProviderKind, DnsSettings};
use futures_util::future::BoxFuture;
use std::sync::Arc;
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
    fn list(&self, target: &Target) -> BoxFuture<'static, Result<Vec<ActualRecord>, ProviderError>>;
    /// Applies `plan` (every new or corrected record with `target.ttl`, never proxied). Returns the
    /// number of requests it took.
    fn apply(&self, target: &Target, plan: &Plan) -> BoxFuture<'static, Result<usize, ProviderError>>;
}

/// Builds providers from settings. The sync actor asks for one per unit of work.
pub trait ProviderFactory: Send + Sync + 'static {
    fn provider(&self, kind: DnsProviderKind, settings: &DnsSettings) -> Result<Arc<dyn DnsProvider>, ProviderError>;
}

/// A short, secret-free identity of the credentials a group's work uses: the non-secret fields
/// plus a hash of the secret. Part of the work fingerprint, so new credentials mean new work.
pub fn settings_key(kind: DnsProviderKind, settings: &DnsSettings) -> String {
    let hash = |s: &str| hex::encode(&crate::model::sha256(s.as_bytes())[..8]);
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
}
