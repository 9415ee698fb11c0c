//! The entities of the replicated state (DESIGN §4): Node, Config, ConfigNode, EndpointGroup, Peer,
//! AuditEntry, Backup, ApiToken, Settings. Plain serde data, postcard-encoded in the Raft log and in
//! snapshots — so field order matters: add fields at the end and bump `SCHEMA_VERSION` in `store`.

use super::{ConfigName, Millis, NodeId, PeerId, WgKey};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A router of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    /// Public host or IP (v4 or v6, optionally with a port) that clients reach this router at.
    pub endpoint: Option<String>,
    /// host:port for router-to-router HTTPS.
    pub cluster_addr: Option<String>,
    /// Capacity for placement; peers are spread in proportion to it. At least 1.
    pub weight: u32,
    pub enabled: bool,
    /// Node-level liveness as last decided by the health monitor.
    pub healthy: bool,
    /// True once the router itself has registered (pre-registered nodes are not live yet).
    pub registered: bool,
    /// A Raft voter that runs no WireGuard; it can never be assigned a config.
    pub witness: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One WireGuard network. Every node it is assigned to carries the same interface identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub name: ConfigName,
    pub private_key: WgKey,
    pub public_key: WgKey,
    /// The interface's own address(es); the peer address pool is the rest of these networks.
    pub addresses: Vec<IpNet>,
    pub listen_port: u16,
    pub mtu: Option<u16>,
    /// DNS servers handed to clients in their config file.
    pub dns: Vec<String>,
    /// Peer defaults: what a client routes through the tunnel, and its keepalive.
    pub peer_allowed_ips: Vec<IpNet>,
    pub peer_keepalive: Option<u16>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// How new and moved peers pick their router (#15).
    pub placement: Placement,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("public_key", &self.public_key)
            .field("addresses", &self.addresses)
            .field("listen_port", &self.listen_port)
            .finish_non_exhaustive()
    }
}

/// The seed's ConfigNodes row: a config assigned to a node, with its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigNode {
    pub id: u64,
    pub config: ConfigName,
    pub node_id: NodeId,
    pub is_healthy: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DnsProviderKind {
    #[default]
    Cloudflare,
    Rfc2136,
}

impl DnsProviderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsProviderKind::Cloudflare => "cloudflare",
            DnsProviderKind::Rfc2136 => "rfc2136",
        }
    }
}

/// A config's placement rule: which router a new or moved peer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Fewest peers per unit of weight (the default).
    #[default]
    Peers,
    /// Least recent traffic (rx + tx of the last hour, from the usage book) per unit of weight;
    /// the peers rule while the config's routers have no recent traffic.
    Traffic,
}

impl Placement {
    pub const ALL: [Placement; 2] = [Placement::Peers, Placement::Traffic];

    pub fn as_str(&self) -> &'static str {
        match self {
            Placement::Peers => "peers",
            Placement::Traffic => "traffic",
        }
    }

    pub fn parse(s: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Mode A: a config with a cluster endpoint (one domain for all its nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointGroup {
    pub config: ConfigName,
    pub domain: String,
    pub port: u16,
    pub provider: DnsProviderKind,
    pub cloudflare_zone_id: Option<String>,
    pub cloudflare_record_name: Option<String>,
    pub ttl: u32,
    /// Always false: the cluster endpoint must be DNS-only. Stored so the API can show it.
    pub proxied: bool,
    pub auto_migrate: bool,
    pub publish_only_healthy: bool,
    pub min_nodes: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub dns_status: DnsStatus,
}

/// A client of a config.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub id: PeerId,
    pub config: ConfigName,
    pub name: String,
    pub public_key: WgKey,
    /// Only when the server generated the key pair (for the config download).
    pub private_key: Option<WgKey>,
    pub preshared_key: Option<WgKey>,
    /// Tunnel addresses allocated from the config's pool (/32 and /128).
    pub addresses: Vec<IpNet>,
    /// What the client routes through the tunnel.
    pub allowed_ips: Vec<IpNet>,
    pub keepalive: Option<u16>,
    pub enabled: bool,
    /// Home node (Mode A: for load accounting; Mode B: the only node that carries it).
    pub node_id: Option<NodeId>,
    /// Set while a make-before-break move away from this node is in flight.
    pub draining_from: Option<NodeId>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Data limit and expiry (#15); they move with the peer.
    pub limits: PeerLimits,
    /// The limit that disabled the peer (`None`: not disabled by a limit).
    pub limited: Option<LimitKind>,
    /// An administrator enabled the peer while a limit was still reached: that limit is not
    /// enforced again until the limits are changed.
    pub limit_override: bool,
}

/// Per-peer limits (#15). `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLimits {
    /// Cumulative rx + tx bytes at which the peer is disabled.
    pub data_limit_bytes: Option<u64>,
    /// When the peer is disabled (unix ms).
    pub expires_at: Option<Millis>,
    /// Cumulative bytes received from the peer (its upload) at which it is disabled.
    pub rx_limit_bytes: Option<u64>,
    /// Cumulative bytes sent to the peer (its download) at which it is disabled.
    pub tx_limit_bytes: Option<u64>,
}

/// Which limit disabled a peer; `as_str` is the API field's name (in the audit entry too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitKind {
    DataLimit,
    Expiry,
    RxLimit,
    TxLimit,
}

impl LimitKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitKind::DataLimit => "data_limit_bytes",
            LimitKind::Expiry => "expires_at",
            LimitKind::RxLimit => "rx_limit_bytes",
            LimitKind::TxLimit => "tx_limit_bytes",
        }
    }
}

impl PeerLimits {
    /// PURE: the limit reached at `at` with `rx`/`tx` bytes used; expiry first, then the total,
    /// then rx, then tx.
    pub fn reached(&self, rx: u64, tx: u64, at: Millis) -> Option<LimitKind> {
        let over = |limit: Option<u64>, used: u64| limit.is_some_and(|l| used >= l);
        if self.expires_at.is_some_and(|e| at >= e) {
            Some(LimitKind::Expiry)
        } else if over(self.data_limit_bytes, rx.saturating_add(tx)) {
            Some(LimitKind::DataLimit)
        } else if over(self.rx_limit_bytes, rx) {
            Some(LimitKind::RxLimit)
        } else if over(self.tx_limit_bytes, tx) {
            Some(LimitKind::TxLimit)
        } else {
            None
        }
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        *self != PeerLimits::default()
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id)
            .field("config", &self.config)
            .field("public_key", &self.public_key)
            .field("addresses", &self.addresses)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// One audit log entry, written by the same apply that made the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub timestamp: Millis,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    /// JSON text (postcard cannot carry a free-form JSON value). Never holds secrets.
    pub details: String,
    pub user: String,
}

/// A node's interface config, kept before the node was taken off a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub id: u64,
    pub config: ConfigName,
    pub node_id: NodeId,
    pub created_at: Millis,
    /// JSON of the interface as the node reported it (no private key), or None when it was skipped.
    pub interface: Option<String>,
    /// Why the interface is missing, or other remarks.
    pub note: String,
}

/// An API token: only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub name: String,
    pub sha256: [u8; 32],
    pub created_at: Millis,
}

/// Cluster-wide settings: health thresholds and DNS provider credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub probe_interval_ms: u64,
    pub unhealthy_after: u32,
    pub healthy_after: u32,
    /// Migrate Mode B peers off an unhealthy node automatically.
    pub auto_migrate_independent: bool,
    pub dns: DnsSettings,
    /// Peer usage collection interval (#15): one replicated batch per interval at most.
    pub usage_interval_s: u64,
    /// `/metrics` shows per-peer rx/tx/handshake age (cardinality: one series set per peer).
    pub usage_metrics_per_peer: bool,
    /// DNS reconciliation (#16): every endpoint group's records are read back from the provider
    /// and corrected this often, besides on every change.
    pub dns_reconcile_interval_s: u64,
}

/// Default peer usage collection interval, seconds.
pub const USAGE_INTERVAL_S: u64 = 60;
/// Default DNS reconcile interval, seconds (#16).
pub const DNS_RECONCILE_INTERVAL_S: u64 = 300;
/// Bounds of the DNS reconcile interval, seconds: one provider read per group per interval (10 s
/// keeps 40 Cloudflare groups under the API's 1200 requests per 5 minutes), at most a day.
pub const DNS_RECONCILE_MIN_S: u64 = 10;
pub const DNS_RECONCILE_MAX_S: u64 = 86_400;

impl Default for Settings {
    fn default() -> Self {
        Self {
            probe_interval_ms: 2000,
            unhealthy_after: 3,
            healthy_after: 2,
            auto_migrate_independent: true,
            dns: DnsSettings::default(),
            usage_interval_s: USAGE_INTERVAL_S,
            usage_metrics_per_peer: false,
            dns_reconcile_interval_s: DNS_RECONCILE_INTERVAL_S,
        }
    }
}

/// DNS provider credentials. Write-only through the API: views mask the secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSettings {
    pub cloudflare: Option<CloudflareSettings>,
    pub rfc2136: Option<Rfc2136Settings>,
}

impl std::fmt::Debug for DnsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsSettings")
            .field("cloudflare", &self.cloudflare.as_ref().map(|c| &c.api_base))
            .field("rfc2136", &self.rfc2136.as_ref().map(|r| (&r.server, &r.zone, &r.key_name)))
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudflareSettings {
    pub api_token: String,
    /// e.g. `https://api.cloudflare.com/client/v4` (plain http allowed for tests and local proxies).
    pub api_base: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfc2136Settings {
    /// host:port of the primary server.
    pub server: String,
    pub zone: String,
    pub key_name: String,
    /// The TSIG secret, base64 as in BIND's key files.
    pub key_secret: String,
    /// e.g. `hmac-sha256`.
    pub algorithm: String,
}

/// What DNS sync last did for an endpoint group (replicated, so any router can show it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsStatus {
    pub last_sync: Option<Millis>,
    /// The addresses currently published (A and AAAA contents).
    pub published: Vec<String>,
    /// True while fewer healthy nodes than `min_nodes` exist and the last set is kept (fail static).
    pub degraded: bool,
    pub last_error: Option<String>,
    /// Reconciliations that found and corrected records edited behind our back (#16).
    pub drift_corrected: u64,
    /// The last such correction.
    pub last_drift: Option<DnsDrift>,
}

/// Records a reconciliation found edited behind our back and corrected (#16): addresses of
/// records that were not ours (removed), ours that were missing (restored), and ours whose TTL or
/// proxying was changed (corrected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsDrift {
    pub at: Millis,
    pub removed: Vec<String>,
    pub restored: Vec<String>,
    pub corrected: Vec<String>,
}

impl DnsDrift {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.restored.is_empty() && self.corrected.is_empty()
    }
}

/// Records still to be removed from a provider (#16): an endpoint group was deleted (alone or
/// with its config) or now publishes under another name, provider or zone. Replicated, so a
/// panel change or a restart loses none; DNS sync removes the records and then the entry
/// (`CompleteDnsRemoval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRemoval {
    pub config: ConfigName,
    pub provider: DnsProviderKind,
    /// The Cloudflare zone id (empty for RFC 2136: the zone of the DNS settings).
    pub zone: String,
    /// Lower case, no trailing dot.
    pub record_name: String,
    /// The addresses we published there: only records with these contents are removed.
    pub addrs: Vec<String>,
    pub created_at: Millis,
}

impl DnsRemoval {
    /// The key of the removal (and of the name it frees): provider, zone and record name.
    pub fn key(&self) -> String {
        removal_key(self.provider, &self.zone, &self.record_name)
    }
}

/// `provider|zone|name`: what identifies a set of records at a provider.
pub fn removal_key(provider: DnsProviderKind, zone: &str, record_name: &str) -> String {
    format!("{}|{}|{}", provider.as_str(), zone, record_name)
}

impl std::fmt::Debug for CloudflareSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareSettings").field("api_base", &self.api_base).field("api_token", &"***").finish()
    }
}

impl std::fmt::Debug for Rfc2136Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136Settings")
            .field("server", &self.server)
            .field("zone", &self.zone)
            .field("key_name", &self.key_name)
            .field("algorithm", &self.algorithm)
            .field("key_secret", &"***")
            .finish()
    }
}

/// The cluster CA, replicated so whichever router is panel can admit new routers. Only ever sent
/// between members over mutual TLS; never shown by the API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCa {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the CA certificate (DER), hex: what join tokens pin.
    pub fingerprint: String,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// A join token as stored: only the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    pub sha256: String,
    pub expires_at: Millis,
    pub created_by: String,
}

/// A router's membership certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCert {
    pub node_id: NodeId,
    pub serial: u64,
    pub revoked: bool,
}

/// A node being drained from a config (make-before-break): its interface stays up, carrying the
/// peers that are moving away (Mode B) or every peer until the DNS TTL has passed (Mode A), until
/// the panel completes the drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    pub config: ConfigName,
    pub node_id: NodeId,
    pub started_at: Millis,
    /// The state version of the latest move: destinations must have applied it.
    pub version: u64,
    /// Mode A: the interface may go once this time has passed (out of DNS + TTL).
    pub until: Option<Millis>,
    /// True when the node was taken off the config (not just emptied of peers).
    pub removed: bool,
}
