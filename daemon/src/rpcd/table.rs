//! The method table of the rpcd bridge: one row per ubus method of the `wgcluster` object (HTTP
//! method, API path template, argument signature, query arguments, body rule, ACL group, reply
//! kind), and what `rpcd list` prints from it. Data only.

use serde_json::{json, Map, Value};

/// The type of one argument, as rpcd reads it from the example value in `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Str,
    Int,
    Bool,
    List,
    Obj,
}

impl Arg {
    fn example(self) -> Value {
        match self {
            Arg::Str => json!("str"),
            Arg::Int => json!(1),
            Arg::Bool => json!(true),
            Arg::List => json!([]),
            Arg::Obj => json!({}),
        }
    }
}

/// What becomes the request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Every input argument that is neither a path nor a query argument, as one JSON object
    /// (unknown ones included: the daemon refuses them with a message naming the field).
    Fields,
    /// As `Fields`, but an input `peers` array is sent as the body itself (bulk creation).
    FieldsOrBulk,
}

/// How the daemon's answer becomes the ubus reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The daemon's JSON envelope, passed on.
    Envelope,
    /// A peer's client config: wg-quick text and/or an SVG QR code, wrapped in an envelope.
    PeerConfig,
}

/// One ubus method of the `wgcluster` object.
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    pub http: &'static str,
    /// The API path with `{arg}` placeholders; each placeholder is an argument of the method.
    pub path: &'static str,
    /// The signature `list` prints (path arguments included).
    pub args: &'static [(&'static str, Arg)],
    /// Arguments that go into the query string instead of the body.
    pub query: &'static [&'static str],
    pub body: BodyKind,
    /// Mutating methods: the ACL's "write" group; the others are "read" (checked against the
    /// LuCI app's ACL file by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub write: bool,
    pub reply: Reply,
}

const fn m(
    name: &'static str,
    http: &'static str,
    path: &'static str,
    args: &'static [(&'static str, Arg)],
    body: BodyKind,
    write: bool,
) -> Method {
    Method { name, http, path, args, query: &[], body, write, reply: Reply::Envelope }
}

use Arg::*;
use BodyKind::*;

const PEER_PATCH: &[(&str, Arg)] = &[
    ("config", Str),
    ("peer_id", Str),
    ("name", Str),
    ("allowed_ips", List),
    ("keepalive", Int),
    ("enabled", Bool),
    ("node_id", Str),
    ("data_limit_bytes", Int),
    ("rx_limit_bytes", Int),
    ("tx_limit_bytes", Int),
    ("expires_at", Str),
];

/// Every method, one per API operation the LuCI views use.
pub static METHODS: &[Method] = &[
    m("status", "GET", "/api/cluster", &[], Empty, false),
    m("health", "GET", "/api/health", &[], Empty, false),
    m("health_settings_get", "GET", "/api/settings/health", &[], Empty, false),
    m(
        "health_settings_set",
        "PUT",
        "/api/settings/health",
        &[
            ("profile", Str),
            ("probe_interval_ms", Int),
            ("unhealthy_after", Int),
            ("healthy_after", Int),
            ("auto_migrate_independent", Bool),
        ],
        Fields,
        true,
    ),
    // The answer holds the token's secret (shown once): write only.
    m("join_token_create", "POST", "/api/cluster/join-tokens", &[("ttl_s", Int)], Fields, true),
    m("member_remove", "DELETE", "/api/cluster/members/{node_id}", &[("node_id", Str)], Empty, true),
    m("nodes_list", "GET", "/api/nodes", &[], Empty, false),
    m(
        "node_create",
        "POST",
        "/api/nodes",
        &[("id", Str), ("name", Str), ("endpoint", Str), ("cluster_addr", Str), ("weight", Int)],
        Fields,
        true,
    ),
    m(
        "node_update",
        "PATCH",
        "/api/nodes/{node_id}",
        &[("node_id", Str), ("name", Str), ("endpoint", Str), ("weight", Int), ("enabled", Bool)],
        Fields,
        true,
    ),
    m("node_delete", "DELETE", "/api/nodes/{node_id}", &[("node_id", Str)], Empty, true),
    m("configs_list", "GET", "/api/configs", &[], Empty, false),
    m(
        "config_create",
        "POST",
        "/api/configs",
        &[
            ("name", Str),
            ("address", List),
            ("listen_port", Int),
            ("mtu", Int),
            ("dns", List),
            ("peer_allowed_ips", List),
            ("peer_keepalive", Int),
            ("placement", Str),
        ],
        Fields,
        true,
    ),
    m(
        "config_update",
        "PATCH",
        "/api/configs/{config}",
        &[
            ("config", Str),
            ("listen_port", Int),
            ("mtu", Int),
            ("dns", List),
            ("peer_allowed_ips", List),
            ("peer_keepalive", Int),
            ("placement", Str),
        ],
        Fields,
        true,
    ),
    Method {
        name: "config_delete",
        http: "DELETE",
        path: "/api/configs/{config}",
        args: &[("config", Str), ("force", Bool)],
        query: &["force"],
        body: Empty,
        write: true,
        reply: Reply::Envelope,
    },
    m("config_nodes", "GET", "/api/configs/{config}/nodes", &[("config", Str)], Empty, false),
    m("config_node_assign", "POST", "/api/configs/{config}/nodes", &[("config", Str), ("node_id", Str)], Fields, true),
    m("config_node_remove", "DELETE", "/api/configs/{config}/nodes/{node_id}", &[("config", Str), ("node_id", Str)], Empty, true),
    m(
        "migrate",
        "POST",
        "/api/configs/{config}/nodes/{node_id}/migrate",
        &[("config", Str), ("node_id", Str), ("destination_node_id", Str)],
        Fields,
        true,
    ),
    m("endpoint_group_get", "GET", "/api/configs/{config}/endpoint-group", &[("config", Str)], Empty, false),
    m(
        "endpoint_group_set",
        "POST",
        "/api/configs/{config}/endpoint-group",
        &[
            ("config", Str),
            ("domain", Str),
            ("port", Int),
            ("provider", Str),
            ("cloudflare_zone_id", Str),
            ("cloudflare_record_name", Str),
            ("ttl", Int),
            ("proxied", Bool),
            ("auto_migrate", Bool),
            ("publish_only_healthy", Bool),
            ("min_nodes", Int),
            ("vip", Str),
            ("vip_interface", Str),
            ("vrid", Int),
            ("vip_preempt", Bool),
            ("vip_in_dns", Bool),
        ],
        Fields,
        true,
    ),
    m("endpoint_group_delete", "DELETE", "/api/configs/{config}/endpoint-group", &[("config", Str)], Empty, true),
    Method {
        name: "peers_list",
        http: "GET",
        path: "/api/configs/{config}/peers",
        args: &[("config", Str), ("limit", Int), ("offset", Int), ("node_id", Str), ("enabled", Bool), ("q", Str)],
        query: &["limit", "offset", "node_id", "enabled", "q"],
        body: Empty,
        write: false,
        reply: Reply::Envelope,
    },
    m(
        "peer_create",
        "POST",
        "/api/configs/{config}/peers",
        &[
            ("config", Str),
            ("name", Str),
            ("public_key", Str),
            ("preshared_key", Str),
            ("node_id", Str),
            ("allowed_ips", List),
            ("keepalive", Int),
            ("enabled", Bool),
            ("data_limit_bytes", Int),
            ("rx_limit_bytes", Int),
            ("tx_limit_bytes", Int),
            ("expires_at", Str),
            ("peers", List),
        ],
        FieldsOrBulk,
        true,
    ),
    m("peer_update", "PATCH", "/api/configs/{config}/peers/{peer_id}", PEER_PATCH, Fields, true),
    m("peer_delete", "DELETE", "/api/configs/{config}/peers/{peer_id}", &[("config", Str), ("peer_id", Str)], Empty, true),
    // The download holds the peer's private key when the daemon generated it: "write" in the ACL,
    // so a read-only LuCI user cannot take a client's identity.
    Method {
        name: "peer_config",
        http: "GET",
        path: "/api/configs/{config}/peers/{peer_id}/config",
        args: &[("config", Str), ("peer_id", Str), ("format", Str)],
        query: &["format"],
        body: Empty,
        write: true,
        reply: Reply::PeerConfig,
    },
    Method {
        name: "audit_list",
        http: "GET",
        path: "/api/audit-logs",
        args: &[("entity_type", Str), ("entity_id", Str), ("action", Str), ("limit", Int), ("offset", Int)],
        query: &["entity_type", "entity_id", "action", "limit", "offset"],
        body: Empty,
        write: false,
        reply: Reply::Envelope,
    },
    Method {
        name: "peer_usage",
        http: "GET",
        path: "/api/configs/{config}/peers/{peer_id}/usage",
        args: &[("config", Str), ("peer_id", Str), ("from", Str), ("to", Str), ("step", Str)],
        query: &["from", "to", "step"],
        body: Empty,
        write: false,
        reply: Reply::Envelope,
    },
    m("usage_settings_get", "GET", "/api/settings/usage", &[], Empty, false),
    m("usage_settings_set", "PUT", "/api/settings/usage", &[("interval_s", Int), ("metrics_per_peer", Bool)], Fields, true),
    m("audit_actions", "GET", "/api/audit-logs/actions", &[], Empty, false),
    m("dns_status", "GET", "/api/dns/status", &[], Empty, false),
    m("dns_removals", "GET", "/api/dns/removals", &[], Empty, false),
    m("dns_queue_list", "GET", "/api/dns/queue", &[], Empty, false),
    m("dns_queue_retry", "POST", "/api/dns/queue/{id}/retry", &[("id", Str)], Empty, true),
    m("dns_queue_drop", "DELETE", "/api/dns/queue/{id}", &[("id", Str)], Empty, true),
    m("dns_settings_get", "GET", "/api/settings/dns", &[], Empty, false),
    m(
        "dns_settings_set",
        "PUT",
        "/api/settings/dns",
        &[("cloudflare", Obj), ("rfc2136", Obj), ("reconcile_interval_s", Int)],
        Fields,
        true,
    ),
    m("backups_list", "GET", "/api/backups", &[], Empty, false),
    // A backup is the interface as the router reported it, without the private key: a read.
    m("backup_get", "GET", "/api/backups/{id}", &[("id", Str)], Empty, false),
];

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}
/// `rpcd list`: `{"method": {"arg": example}}` for every method.
pub fn signatures() -> Value {
    let mut out = Map::new();
    for m in METHODS {
        let mut args: Map<String, Value> = m.args.iter().map(|(n, a)| (n.to_string(), a.example())).collect();
        if m.http != "GET" {
            // Every write takes an Idempotency-Key (the bridge makes one when the caller gives none).
            args.insert(super::plan::KEY_ARG.to_string(), Arg::Str.example());
        }
        out.insert(m.name.to_string(), Value::Object(args));
    }
    Value::Object(out)
}

/// The `{arg}` placeholders of a path template, in order.
pub(crate) fn placeholders(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}
