//! JSON views of the state's entities, as the API returns them. Private and preshared keys never
//! appear here; the only way a peer's private key leaves the daemon is its config download.

use super::server::Response;
use serde_json::{json, Value};
use wgcluster_actors::model::*;
use wgcluster_actors::state::State;

/// Items per streamed chunk of a list (a chunk of peers is then about 40 KB of JSON; fewer, larger
/// chunks cost fewer state reads and socket writes: #13).
pub(crate) const ITEMS_PER_CHUNK: usize = 64;

/// The success envelope around a list, `{"data":[…],"message":"…","status":true}`: the bytes
/// `error::ok` writes (serde_json orders an object's keys, so `data` comes first), but streamed.
/// Each item becomes a `Value` and then JSON only when the client is ready for the next chunk, so
/// a 1,000-peer list never exists as 1,000 `Value` trees nor as one buffer (peak RSS, #12).
/// `items` is a snapshot taken under one state read, so the list is consistent.
pub fn ok_list<T: 'static>(message: &str, items: Vec<T>, view: fn(&T) -> Value) -> Response {
    let mut items = items.into_iter();
    let fill = move |buf: &mut Vec<u8>, mut first: bool| {
        let mut n = 0;
        for item in items.by_ref().take(ITEMS_PER_CHUNK) {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(view(&item).to_string().as_bytes());
            n += 1;
        }
        n == ITEMS_PER_CHUNK
    };
    ok_stream_filled(message, fill)
}

/// The streamed envelope for a source that writes a whole chunk itself: `fill(buf, first)` appends the next
/// items' JSON, comma-separated (a leading comma unless `first`: nothing was written yet), and
/// says whether more may follow. The peer list writes each chunk straight from the state into
/// the buffer that is sent (no per-item buffer).
pub fn ok_stream_filled(message: &str, fill: impl FnMut(&mut Vec<u8>, bool) -> bool + 'static) -> Response {
    let chunks =
        FilledChunks { fill, head: true, first: true, tail: Some(format!("],\"message\":{},\"status\":true}}", Value::from(message))) };
    Response::new(200).content_type("application/json").streaming(chunks)
}

struct FilledChunks<F> {
    fill: F,
    head: bool,
    /// No item written yet.
    first: bool,
    tail: Option<String>,
}

impl<F: FnMut(&mut Vec<u8>, bool) -> bool> Iterator for FilledChunks<F> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let tail = self.tail.as_ref()?;
        let mut buf = Vec::with_capacity(48 * 1024);
        if self.head {
            self.head = false;
            buf.extend_from_slice(b"{\"data\":[");
        }
        let start = buf.len();
        let more = (self.fill)(&mut buf, self.first);
        self.first &= buf.len() == start;
        if !more {
            buf.extend_from_slice(tail.as_bytes());
            self.tail = None;
        }
        Some(buf)
    }
}

/// A peer as the API shows it. Fields in alphabetical order: the bytes equal the `Value` that
/// `peer` returns (serde_json sorts object keys), so a streamed list can serialise it directly.
#[derive(serde::Serialize)]
pub struct PeerView<'a> {
    address: Joined<'a, ipnet::IpNet>,
    addresses: &'a [ipnet::IpNet],
    allowed_ips: &'a [ipnet::IpNet],
    config: &'a ConfigName,
    created_at: Millis,
    data_limit_bytes: Option<u64>,
    draining_from: &'a Option<NodeId>,
    enabled: bool,
    expires_at: Option<Millis>,
    has_preshared_key: bool,
    has_private_key: bool,
    id: &'a PeerId,
    keepalive: Option<u16>,
    limited: Option<&'static str>,
    name: &'a str,
    node_id: &'a Option<NodeId>,
    public_key: Base64Key<'a>,
    rx_limit_bytes: Option<u64>,
    status: StatusView,
    tx_limit_bytes: Option<u64>,
    updated_at: Millis,
}

/// A peer's live status and usage (#15), keys in alphabetical order.
#[derive(serde::Serialize, Default)]
pub struct StatusView {
    /// The newest handshake is younger than `usage::merge::CONNECTED_MAX_AGE_MS` (180 s).
    connected: bool,
    endpoint: Option<String>,
    /// Unix ms of the newest handshake on any router.
    latest_handshake: Option<Millis>,
    rx_bytes: u64,
    rx_rate: u64,
    /// The router with the newest handshake (Mode A: several carry the peer).
    serving_node: Option<NodeId>,
    tx_bytes: u64,
    tx_rate: u64,
}

impl StatusView {
    pub fn of(s: &State, now: Millis, id: &PeerId) -> Self {
        Self::of_usage(s, now, s.usage.peers.get(id))
    }

    /// `of` with the peer's usage already at hand (a list walks peers and usage side by side).
    pub fn of_usage(s: &State, now: Millis, usage: Option<&wgcluster_actors::usage::PeerUsage>) -> Self {
        let fresh = 2 * 1000 * s.settings.usage_interval_s;
        let st = wgcluster_actors::usage::merge::status(usage, now, fresh);
        StatusView {
            connected: st.connected,
            endpoint: st.endpoint.map(|e| e.to_string()),
            latest_handshake: st.latest_handshake,
            rx_bytes: st.rx_bytes,
            rx_rate: st.rx_rate,
            serving_node: st.serving_node,
            tx_bytes: st.tx_bytes,
            tx_rate: st.tx_rate,
        }
    }
}

impl<'a> PeerView<'a> {
    pub fn of(p: &'a Peer, status: StatusView) -> Self {
        PeerView {
            address: Joined(&p.addresses),
            addresses: &p.addresses,
            allowed_ips: &p.allowed_ips,
            config: &p.config,
            created_at: p.created_at,
            data_limit_bytes: p.limits.data_limit_bytes,
            draining_from: &p.draining_from,
            enabled: p.enabled,
            expires_at: p.limits.expires_at,
            has_preshared_key: p.preshared_key.is_some(),
            has_private_key: p.private_key.is_some(),
            id: &p.id,
            keepalive: p.keepalive,
            limited: p.limited.map(|k| k.as_str()),
            name: &p.name,
            node_id: &p.node_id,
            public_key: Base64Key(&p.public_key),
            rx_limit_bytes: p.limits.rx_limit_bytes,
            status,
            tx_limit_bytes: p.limits.tx_limit_bytes,
            updated_at: p.updated_at,
        }
    }
}

/// Appends a peer's JSON (the streamed lists).
pub fn write_peer(s: &State, now: Millis, p: &Peer, buf: &mut Vec<u8>) {
    write_peer_with(s, now, p, s.usage.peers.get(&p.id), buf);
}

/// `write_peer` with the peer's usage already at hand.
pub fn write_peer_with(s: &State, now: Millis, p: &Peer, usage: Option<&wgcluster_actors::usage::PeerUsage>, buf: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *buf, &PeerView::of(p, StatusView::of_usage(s, now, usage))).is_err() {
        buf.extend_from_slice(b"null");
    }
}

/// A list as one `"a, b"` JSON string, written straight into the output (no `String` per peer:
/// the unpaged list writes 20,000 of them).
pub struct Joined<'a, T>(pub &'a [T]);

impl<T: std::fmt::Display> std::fmt::Display for Joined<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}

impl<T: std::fmt::Display> serde::Serialize for Joined<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A key as its base64 JSON string, encoded in a stack buffer.
pub struct Base64Key<'a>(pub &'a WgKey);

impl serde::Serialize for Base64Key<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let mut buf = [0u8; 44];
        let n = base64::engine::general_purpose::STANDARD.encode_slice(self.0 .0, &mut buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?)
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn node(s: &State, n: &Node) -> Value {
    let configs: Vec<&str> = s.config_nodes.values().filter(|cn| cn.node_id == n.id).map(|cn| cn.config.as_str()).collect();
    json!({
        "id": n.id, "name": n.name, "endpoint": n.endpoint, "cluster_addr": n.cluster_addr,
        "weight": n.weight, "enabled": n.enabled, "healthy": n.healthy, "registered": n.registered, "witness": n.witness,
        "configs": configs, "created_at": n.created_at, "updated_at": n.updated_at,
    })
}

pub fn config(s: &State, c: &Config) -> Value {
    let nodes: Vec<&str> = s.nodes_of(&c.name).map(|cn| cn.node_id.as_str()).collect();
    let group = s.endpoint_groups.get(&c.name);
    json!({
        "name": c.name, "public_key": c.public_key.to_base64(), "address": join(&c.addresses),
        "addresses": c.addresses, "listen_port": c.listen_port, "mtu": c.mtu, "dns": c.dns,
        "peer_allowed_ips": c.peer_allowed_ips, "peer_keepalive": c.peer_keepalive,
        "placement": c.placement.as_str(),
        "mode": if group.is_some() { "cluster" } else { "independent" },
        "endpoint": group.map(|g| format!("{}:{}", g.domain, g.port)),
        "nodes": nodes, "peers": s.config_peer_count(&c.name),
        "created_at": c.created_at, "updated_at": c.updated_at,
        "status": config_status(s, &c.name, super::now_ms()),
    })
}

/// A config's peer summary (#15): peers connected now, and per serving router.
pub fn config_status(s: &State, c: &ConfigName, now: Millis) -> Value {
    let mut online = 0u64;
    let mut by_node: std::collections::BTreeMap<&str, u64> = s.nodes_of(c).map(|cn| (cn.node_id.as_str(), 0)).collect();
    for p in s.peers_of(c) {
        let st = wgcluster_actors::usage::merge::status(s.usage.peers.get(&p.id), now, 0);
        if st.connected {
            online += 1;
            if let Some(n) = st.serving_node {
                if let Some((k, _)) = s.nodes.get_key_value(&n) {
                    *by_node.entry(k.as_str()).or_default() += 1;
                }
            }
        }
    }
    json!({ "peers_online": online, "peers_online_by_node": by_node })
}

/// The seed's example 4: the node, enriched with its assignment.
pub fn config_node(s: &State, cn: &ConfigNode) -> Value {
    let mut v = match s.nodes.get(&cn.node_id) {
        Some(n) => node(s, n),
        None => json!({ "id": cn.node_id }),
    };
    v["is_healthy"] = json!(cn.is_healthy);
    v["config_node_id"] = json!(cn.id);
    v["config_name"] = json!(cn.config);
    v["peers"] = json!(s.peers_of(&cn.config).filter(|p| p.node_id.as_ref() == Some(&cn.node_id)).count());
    v["assigned_at"] = json!(cn.created_at);
    v
}

pub fn endpoint_group(g: &EndpointGroup) -> Value {
    json!({
        "config_name": g.config, "domain": g.domain, "port": g.port, "provider": g.provider.as_str(),
        "cloudflare_zone_id": g.cloudflare_zone_id, "cloudflare_record_name": g.cloudflare_record_name,
        "ttl": g.ttl, "proxied": g.proxied, "auto_migrate": g.auto_migrate,
        "publish_only_healthy": g.publish_only_healthy, "min_nodes": g.min_nodes,
        "created_at": g.created_at, "updated_at": g.updated_at,
        "last_sync": g.dns_status.last_sync, "published": g.dns_status.published,
        "degraded": g.dns_status.degraded, "last_error": g.dns_status.last_error,
    })
}

/// An endpoint group's view with its floating address (#16): `vip`, `vip_interface`, `vrid`,
/// `vip_preempt`, `vip_in_dns` (all null without one).
pub fn with_vip(mut v: Value, vip: Option<&wgcluster_actors::model::Vip>) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("vip".into(), json!(vip.map(|x| x.address.to_string())));
        m.insert("vip_interface".into(), json!(vip.and_then(|x| x.interface.clone())));
        m.insert("vrid".into(), json!(vip.map(|x| x.vrid)));
        m.insert("vip_preempt".into(), json!(vip.map(|x| x.preempt)));
        m.insert("vip_in_dns".into(), json!(vip.map(|x| x.in_dns)));
    }
    v
}

pub fn peer(s: &State, p: &Peer) -> Value {
    serde_json::to_value(PeerView::of(p, StatusView::of(s, super::now_ms(), &p.id))).unwrap_or(Value::Null)
}

/// A peer just created: no usage yet (for the bulk answer, streamed without the state).
pub fn new_peer(p: &Peer) -> Value {
    serde_json::to_value(PeerView::of(p, StatusView::default())).unwrap_or(Value::Null)
}

pub fn audit(e: &AuditEntry) -> Value {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::String(e.details.clone()));
    json!({
        "id": e.id, "timestamp": e.timestamp, "action": e.action, "entity_type": e.entity_type,
        "entity_id": e.entity_id, "details": details, "user": e.user,
    })
}

pub fn backup(b: &Backup, with_interface: bool) -> Value {
    let mut v = json!({
        "id": b.id, "config_name": b.config, "node_id": b.node_id, "created_at": b.created_at,
        "skipped": b.interface.is_none(), "note": b.note,
    });
    if with_interface {
        v["interface"] = b.interface.as_deref().and_then(|i| serde_json::from_str(i).ok()).unwrap_or(Value::Null);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> Vec<u8> {
        r.into_bytes()
    }

    /// `PeerView` writes exactly what the hand-built `Value` of the API before it did, plus the
    /// additive fields of #15 (limits and `status`).
    #[test]
    fn peer_view_is_the_old_value() {
        let mut p = Peer {
            id: PeerId::parse("id", "00ff11").unwrap(),
            config: ConfigName::parse("c", "wg0").unwrap(),
            name: "laptop \"x\"".into(),
            public_key: generate_keypair().1,
            private_key: Some(generate_keypair().0),
            preshared_key: None,
            addresses: vec!["10.0.0.2/32".parse().unwrap(), "fd00::2/128".parse().unwrap()],
            allowed_ips: vec!["0.0.0.0/0".parse().unwrap()],
            keepalive: Some(25),
            enabled: true,
            node_id: Some(NodeId::parse("n", "r1").unwrap()),
            draining_from: None,
            created_at: 1,
            updated_at: 2,
            limits: PeerLimits { data_limit_bytes: Some(1000), ..Default::default() },
            limited: Some(LimitKind::DataLimit),
            limit_override: false,
        };
        let mut s = State::default();
        let now = super::super::now_ms();
        let seen = wgcluster_actors::usage::merge::RouterSeen {
            epoch: 1,
            at: now - 1000,
            rx: 600,
            tx: 500,
            handshake: Some(now - 30_000),
            endpoint: Some("192.0.2.7:51000".parse().unwrap()),
            rx_rate: 12,
            tx_rate: 34,
        };
        let mut u = wgcluster_actors::usage::PeerUsage { rx: 600, tx: 500, ..Default::default() };
        u.routers.insert(NodeId::parse("n", "r2").unwrap(), seen);
        s.usage.peers.insert(p.id.clone(), u);
        for _ in 0..2 {
            let old = json!({
                "id": p.id, "config": p.config, "name": p.name, "public_key": p.public_key.to_base64(),
                "address": join(&p.addresses), "addresses": p.addresses, "allowed_ips": p.allowed_ips,
                "keepalive": p.keepalive, "enabled": p.enabled, "node_id": p.node_id, "draining_from": p.draining_from,
                "has_private_key": p.private_key.is_some(), "has_preshared_key": p.preshared_key.is_some(),
                "created_at": p.created_at, "updated_at": p.updated_at,
                "data_limit_bytes": 1000, "expires_at": null, "limited": "data_limit_bytes",
                "rx_limit_bytes": null, "tx_limit_bytes": null,
                "status": { "connected": true, "endpoint": "192.0.2.7:51000", "latest_handshake": now - 30_000,
                            "rx_bytes": 600, "tx_bytes": 500, "rx_rate": 12, "tx_rate": 34, "serving_node": "r2" },
            });
            let mut buf = Vec::new();
            write_peer(&s, now, &p, &mut buf);
            assert_eq!(String::from_utf8_lossy(&buf), old.to_string());
            assert_eq!(peer(&s, &p), old);
            (p.node_id, p.draining_from, p.keepalive, p.private_key) = (None, p.node_id.clone(), None, None);
        }
    }

    /// The streamed list is byte for byte the envelope `error::ok` writes, at every chunk boundary.
    #[actix_rt::test]
    async fn streamed_lists_are_the_envelope() {
        let item = |i: &u32| json!({ "id": i, "name": format!("peer \"{i}\""), "z": [i, null], "a": { "b": true } });
        let c = ITEMS_PER_CHUNK as u32;
        for n in [0u32, 1, 2, c - 1, c, c + 1, 2 * c, 2 * c + 1, 1000] {
            let items: Vec<u32> = (0..n).collect();
            let want = super::super::error::ok("Peers \"listed\" ✓", items.iter().map(item).collect::<Vec<_>>().into());
            let got = ok_list("Peers \"listed\" ✓", items.clone(), item);
            assert_eq!(got.header_value("content-type"), want.header_value("content-type"));
            let want = body(want).await;
            assert_eq!(String::from_utf8_lossy(&body(got).await), String::from_utf8_lossy(&want), "{n} items");
            // The same through a source that fills whole chunks itself.
            let mut next = 0u32;
            let fill = move |buf: &mut Vec<u8>, mut first: bool| {
                let end = (next + c).min(n);
                for i in next..end {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    buf.extend_from_slice(item(&i).to_string().as_bytes());
                }
                let full = end - next == c;
                next = end;
                full
            };
            let got = ok_stream_filled("Peers \"listed\" ✓", fill);
            assert_eq!(String::from_utf8_lossy(&body(got).await), String::from_utf8_lossy(&want), "{n} items, filled");
        }
    }
}
