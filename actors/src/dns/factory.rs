//! The real provider factory: [`Providers`] builds the configured provider (Cloudflare or
//! RFC 2136) from the replicated `DnsSettings`, and keeps what must outlive one sync
//! (Cloudflare's HTTP client, rate limiter and worker thread) while its settings stay the same.
//! [`ProviderOptions`] are the tunables of the real providers.

use super::cloudflare::{Cloudflare, CloudflareOptions};
use super::provider::{settings_key, DnsProvider, ProviderError, ProviderFactory};
use super::rfc2136::Rfc2136;
use crate::model::{DnsProviderKind, DnsSettings};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// PEM bundles of public CAs for Cloudflare over https.
    ca_bundles: Vec<PathBuf>,
    cloudflare: Mutex<Option<(String, Arc<Cloudflare>)>>,
}

impl Providers {
    pub fn new(opts: ProviderOptions) -> Self {
        Self { opts, ca_bundles: crate::tls::web::default_ca_bundles(), cloudflare: Mutex::new(None) }
    }

    /// Reads public CAs from `paths` instead of [`crate::tls::web::DEFAULT_CA_BUNDLES`].
    pub fn with_ca_bundles(mut self, paths: Vec<PathBuf>) -> Self {
        self.ca_bundles = paths;
        self
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
                    ca_bundles: self.ca_bundles.clone(),
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
