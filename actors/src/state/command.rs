//! Commands: every change of desired state is one of these, appended through Raft and applied by
//! `State::apply`. A `Request` carries the proposer's clock and user so apply is deterministic.
//!
//! Values that need randomness (keys, peer ids) are made by the proposer and carried here; values
//! that depend on the state (addresses, placement) are decided in apply.

use crate::model::*;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What goes into one Raft log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub at: Millis,
    pub user: String,
    pub cmd: Command,
    /// The administrator's `Idempotency-Key`, when the write came with one: apply answers a repeat
    /// with the first outcome and changes nothing (`state/idempotency.rs`).
    pub idempotency: Option<Idempotency>,
}

/// An `Idempotency-Key` and the request it was sent with (SHA-256 over method, path, query and
/// body, taken at the HTTP edge before any random value — a peer id, a key pair — was made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// First command of a new cluster: the admin token, the founding router, the cluster CA and
    /// the founder's certificate serial.
    Bootstrap {
        token: ApiToken,
        node: NodeSpec,
        ca: Option<ClusterCa>,
        serial: u64,
    },
    /// A single-use join token (only its hash), valid until `expires_at`.
    IssueJoinToken {
        sha256: String,
        expires_at: Millis,
    },
    /// Admit a router that presented a valid join token: consume the token, record its
    /// certificate serial, register the node.
    AdmitNode {
        token_sha256: String,
        node: NodeSpec,
        serial: u64,
    },
    /// Remove a router from the cluster: revoke its certificates (the membership change itself is
    /// a Raft membership entry).
    RevokeMember {
        node_id: NodeId,
    },
    /// A router announces itself at start-up (creates or refreshes its own node).
    RegisterNode {
        node: NodeSpec,
    },
    /// Pre-register another router by id (`POST /api/nodes`).
    CreateNode {
        node: NodeSpec,
        weight: u32,
    },
    UpdateNode {
        id: NodeId,
        patch: NodePatch,
    },
    DeleteNode {
        id: NodeId,
    },
    CreateConfig {
        config: NewConfig,
    },
    UpdateConfig {
        name: ConfigName,
        patch: ConfigPatch,
    },
    DeleteConfig {
        name: ConfigName,
        force: bool,
    },
    AssignNode {
        config: ConfigName,
        node_id: NodeId,
    },
    /// The node-removal workflow's state change: backup record, peers re-homed, assignment removed.
    RemoveNode {
        config: ConfigName,
        node_id: NodeId,
        backup_interface: Option<String>,
        backup_note: String,
    },
    SetEndpointGroup {
        group: EndpointGroupSpec,
    },
    DeleteEndpointGroup {
        config: ConfigName,
    },
    /// One or many peers, all or nothing.
    CreatePeers {
        config: ConfigName,
        peers: Vec<NewPeer>,
    },
    UpdatePeer {
        config: ConfigName,
        id: PeerId,
        patch: PeerPatch,
    },
    DeletePeer {
        config: ConfigName,
        id: PeerId,
    },
    /// Re-home every peer of `config` on `from`, to `to` or least-loaded.
    MigratePeers {
        config: ConfigName,
        from: NodeId,
        to: Option<NodeId>,
    },
    /// Even out the load of `config` over its healthy nodes (by weight), make-before-break.
    Rebalance {
        config: ConfigName,
    },
    /// The panel saw every destination apply the moves away from `node` (or, in Mode A, the TTL
    /// pass): the drain ends, the node drops the moved peers (or the interface).
    CompleteDrain {
        config: ConfigName,
        node_id: NodeId,
    },
    /// The planner could not move peers off a failed node: recorded once, peers stay.
    ReportMigrationBlocked {
        config: ConfigName,
        node_id: NodeId,
        reason: String,
    },
    /// The health monitor's verdict on a node (and, with `config`, on one assignment).
    SetNodeHealth {
        node_id: NodeId,
        config: Option<ConfigName>,
        healthy: bool,
        reason: String,
    },
    /// Replace the Cloudflare and/or RFC 2136 credentials and/or the reconcile interval (a `None`
    /// part is left as it is).
    SetDnsSettings {
        cloudflare: Option<CloudflareSettings>,
        rfc2136: Option<Rfc2136Settings>,
        reconcile_interval_s: Option<u64>,
    },
    /// DNS sync's report for an endpoint group: records changed (`dns_updated`), or failed
    /// (`dns_failed`, with `error`). `degraded` marks fail-static.
    RecordDnsSync {
        config: ConfigName,
        published: Vec<String>,
        degraded: bool,
        changed: bool,
        error: Option<String>,
    },
    /// A peer's private and/or preshared key left the daemon (the config download): audited as
    /// `peer_private_key_read`, naming the user, the peer and the route, never the key.
    RecordSecretRead {
        config: ConfigName,
        /// The peer whose keys were read; `None`: the config's (interface's) own private key.
        peer: Option<PeerId>,
        /// How it was read, e.g. `download:conf` or `download:qr`.
        via: String,
    },
    /// Health thresholds (`None` leaves a value as it is).
    SetHealthSettings {
        probe_interval_ms: Option<u64>,
        unhealthy_after: Option<u32>,
        healthy_after: Option<u32>,
        auto_migrate_independent: Option<bool>,
    },
    /// The panel's periodic batch of router readings (#15): merged into `State::usage`, then the
    /// peers' limits are enforced at the command's time (`peer_limit_reached`).
    RecordUsage {
        reports: Vec<crate::usage::RouterReport>,
    },
    /// Usage collection settings (`None` leaves a value as it is).
    SetUsageSettings {
        interval_s: Option<u64>,
        metrics_per_peer: Option<bool>,
    },
    /// DNS sync found records edited behind our back and corrected them (#16): a successful sync
    /// (like `RecordDnsSync` without an error) that also counts and audits the drift
    /// (`dns_drift_corrected`, with the records).
    RecordDnsDrift {
        config: ConfigName,
        published: Vec<String>,
        degraded: bool,
        drift: DnsDrift,
    },
    /// DNS sync removed the records of a deleted or renamed endpoint group (#16): the removal
    /// entry `key` is done (`dns_records_removed`, with the records removed).
    CompleteDnsRemoval {
        key: String,
        removed: Vec<String>,
    },
    /// An endpoint group with its floating address (#16; `None` removes the address). What the
    /// API sends; `SetEndpointGroup` stays for log entries written before it (no address change).
    /// Last on purpose: variants are numbered in order in the stored log.
    SetEndpointGroupVip {
        group: EndpointGroupSpec,
        vip: Option<Vip>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: NodeId,
    pub name: Option<String>,
    pub endpoint: Option<String>,
    pub cluster_addr: Option<String>,
    /// A voter that runs no WireGuard (`run --witness`): never assigned a config.
    pub witness: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePatch {
    pub name: Option<String>,
    pub endpoint: Option<Option<String>>,
    pub weight: Option<u32>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConfig {
    pub name: ConfigName,
    pub private_key: WgKey,
    pub addresses: Vec<IpNet>,
    pub listen_port: u16,
    pub mtu: Option<u16>,
    pub dns: Vec<String>,
    pub peer_allowed_ips: Vec<IpNet>,
    pub peer_keepalive: Option<u16>,
    pub placement: Placement,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPatch {
    pub listen_port: Option<u16>,
    pub mtu: Option<Option<u16>>,
    pub dns: Option<Vec<String>>,
    pub peer_allowed_ips: Option<Vec<IpNet>>,
    pub peer_keepalive: Option<Option<u16>>,
    pub placement: Option<Placement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointGroupSpec {
    pub config: ConfigName,
    pub domain: String,
    pub port: u16,
    pub provider: DnsProviderKind,
    pub cloudflare_zone_id: Option<String>,
    pub cloudflare_record_name: Option<String>,
    pub ttl: u32,
    pub auto_migrate: bool,
    pub publish_only_healthy: bool,
    pub min_nodes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPeer {
    pub id: PeerId,
    pub name: String,
    pub public_key: WgKey,
    pub private_key: Option<WgKey>,
    pub preshared_key: Option<WgKey>,
    pub node_id: Option<NodeId>,
    /// None: the config's peer default.
    pub allowed_ips: Option<Vec<IpNet>>,
    pub keepalive: Option<u16>,
    pub enabled: bool,
    pub limits: PeerLimits,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPatch {
    pub name: Option<String>,
    pub allowed_ips: Option<Vec<IpNet>>,
    pub keepalive: Option<Option<u16>>,
    pub enabled: Option<bool>,
    pub node_id: Option<NodeId>,
    /// `Some(None)` removes the limit.
    pub data_limit_bytes: Option<Option<u64>>,
    pub expires_at: Option<Option<Millis>>,
    pub rx_limit_bytes: Option<Option<u64>>,
    pub tx_limit_bytes: Option<Option<u64>>,
}

/// What apply says back. Errors are deterministic (every replica reaches the same verdict) and
/// leave the state exactly as it was.
pub type Response = Result<Outcome, CommandError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    /// Nothing needed changing (e.g. a router re-registering with the same details).
    Unchanged,
    ConfigNodeCreated {
        id: u64,
    },
    PeersCreated {
        ids: Vec<PeerId>,
    },
    PeersMigrated {
        count: u64,
    },
    Rebalanced {
        moved: u64,
    },
    NodeRemoved {
        peers_migrated: u64,
        backup_id: u64,
    },
    /// A repeat of a write made earlier with the same `Idempotency-Key`: the first outcome,
    /// nothing applied this time.
    Replayed(Box<Outcome>),
    /// `RecordUsage`: readings merged, and the peers a limit disabled.
    UsageRecorded {
        accepted: u64,
        limited: Vec<PeerId>,
    },
}

impl Outcome {
    /// The outcome with a replay's wrapper taken off, and whether it was a replay.
    pub fn unwrap_replay(self) -> (Outcome, bool) {
        match self {
            Outcome::Replayed(first) => (*first, true),
            other => (other, false),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("{kind} '{id}' not found")]
    NotFound { kind: String, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    PoolExhausted(String),
}

impl CommandError {
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        CommandError::NotFound { kind: kind.to_string(), id: id.to_string() }
    }
}

impl From<InvalidField> for CommandError {
    fn from(e: InvalidField) -> Self {
        CommandError::Invalid { field: e.field, reason: e.reason }
    }
}
