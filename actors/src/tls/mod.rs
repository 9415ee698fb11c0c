//! Cluster TLS: the cluster PKI (a CA made at `init`, one certificate per router), the rustls
//! configurations of the cluster listener and of router-to-router clients (mutual TLS, TLS 1.3
//! only, the `ring` provider), and a small HTTP/1.1 client over tokio-rustls for router-to-router
//! calls. The daemon wires these in (its HTTP server's TLS listener, the Raft transport, the
//! join flow); nothing here opens a listener or reads configuration.
//!
//! - [`pki`]: CA, node keys and certificates (pure functions over bytes and PEM).
//! - [`join_token`]: join tokens (`wgcj1.…`), re-exported from `pki` for the old paths.
//! - [`store`]: the only file I/O of this module: PEM files under `<data_dir>/tls/`.
//! - [`config`]: `rustls::ServerConfig` / `ClientConfig` builders, peer identity, revocation hook.
//! - [`client`]: [`client::ClusterClient`], keep-alive HTTP/1.1 requests to other routers.
//! - [`web`]: [`web::WebClient`], the same client for provider APIs (Cloudflare): public CAs from
//!   the system trust store, or plain HTTP to a loopback test server. The binary has this one
//!   HTTP client and one TLS configuration style (TLS 1.3 only, `ring`).
//!
//! Identity rule: a router is identified by its node id, which is the one DNS SAN of its
//! certificate. Clients connect to `host:port` but verify the server as the target's node id
//! (SNI = node id), so addresses may be IPs. The listener accepts clients without a certificate
//! (a joining router has none yet); the daemon must require [`config::peer_node_id`] on every
//! route except `/v1/join` and `/v1/health` (see [`config::cluster_route_allowed`]).

pub mod client;
pub mod config;
pub mod join_token;
pub mod pki;
pub mod store;
pub mod web;

#[cfg(test)]
mod tests;

use std::sync::Arc;

/// The crypto provider of every config made here: rustls' `ring` provider, never the process
/// default (another part of the binary may install a different one).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub use client::{ClientError, ClientOptions, ClusterClient, Request, Response, RPC_TIMEOUT};
pub use config::{
    allow_all, client_config, client_config_checked, cluster_route_allowed, join_client_config, peer_identity, peer_node_id, server_config,
    IsAllowed, PeerIdentity, TlsConfigError, JOIN_SERVER_NAME, OPEN_CLUSTER_ROUTES,
};
pub use pki::{
    cert_der_from_pem, check_node_id, fingerprint_of_der, fingerprint_of_pem, node_id_of, not_after_of, now_ms, serial_of,
    verify_node_cert, ClusterCa, JoinToken, NodeCert, NodeKey, NodePublicKey, PkiError, SecretPem, TokenError, TokenSecret,
};
pub use store::{NodeFiles, StoreError, TlsFiles};
