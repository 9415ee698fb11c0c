//! JSON views of the state's entities, as the API returns them. Private and preshared keys never
//! appear here; the only way a peer's private key leaves the daemon is its config download.

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde_json::{json, Value};
use wgcluster_actors::model::*;
use wgcluster_actors::state::State;

/// Items per streamed chunk of a list (a chunk is then about 10 KB of JSON).
const ITEMS_PER_CHUNK: usize = 16;

/// The success envelope around a list, `{"data":[…],"message":"…","status":true}`: the bytes
/// `error::ok` writes (serde_json orders an object's keys, so `data` comes first), but streamed.
/// Each item becomes a `Value` and then JSON only when the client is ready for the next chunk, so
/// a 1,000-peer list never exists as 1,000 `Value` trees nor as one buffer (peak RSS, #12).
/// `items` is a snapshot taken under one state read, so the list is consistent.
pub fn ok_list<T: 'static>(message: &str, items: Vec<T>, view: fn(&T) -> Value) -> HttpResponse {
    let chunks = ListChunks {
        items: items.into_iter(),
        view,
        head: true,
        tail: Some(format!("],\"message\":{},\"status\":true}}", Value::from(message))),
    };
    HttpResponse::Ok().content_type("application/json").streaming(futures_util::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>)))
}

struct ListChunks<T> {
    items: std::vec::IntoIter<T>,
    view: fn(&T) -> Value,
    /// Nothing sent yet: the next chunk starts with `{"data":[` and its first item has no comma.
    head: bool,
    tail: Option<String>,
}

impl<T> Iterator for ListChunks<T> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut buf = Vec::with_capacity(12 * 1024);
        let mut first = self.head;
        if self.head {
            self.head = false;
            buf.extend_from_slice(b"{\"data\":[");
        }
        let mut items = 0;
        for item in self.items.by_ref().take(ITEMS_PER_CHUNK) {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice((self.view)(&item).to_string().as_bytes());
            items += 1;
        }
        if items < ITEMS_PER_CHUNK {
            buf.extend_from_slice(self.tail.take()?.as_bytes());
        }
        Some(Bytes::from(buf))
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
        "mode": if group.is_some() { "cluster" } else { "independent" },
        "endpoint": group.map(|g| format!("{}:{}", g.domain, g.port)),
        "nodes": nodes, "peers": s.peers_of(&c.name).count(),
        "created_at": c.created_at, "updated_at": c.updated_at,
    })
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

pub fn peer(p: &Peer) -> Value {
    json!({
        "id": p.id, "config": p.config, "name": p.name, "public_key": p.public_key.to_base64(),
        "address": join(&p.addresses), "addresses": p.addresses, "allowed_ips": p.allowed_ips,
        "keepalive": p.keepalive, "enabled": p.enabled, "node_id": p.node_id, "draining_from": p.draining_from,
        "has_private_key": p.private_key.is_some(), "has_preshared_key": p.preshared_key.is_some(),
        "created_at": p.created_at, "updated_at": p.updated_at,
    })
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

    async fn body(r: HttpResponse) -> Vec<u8> {
        actix_web::body::to_bytes(r.into_body()).await.expect("body").to_vec()
    }

    /// The streamed list is byte for byte the envelope `error::ok` writes, at every chunk boundary.
    #[actix_web::test]
    async fn streamed_lists_are_the_envelope() {
        let item = |i: &u32| json!({ "id": i, "name": format!("peer \"{i}\""), "z": [i, null], "a": { "b": true } });
        for n in [0u32, 1, 2, 15, 16, 17, 32, 33, 1000] {
            let items: Vec<u32> = (0..n).collect();
            let want = super::super::error::ok("Peers \"listed\" ✓", items.iter().map(item).collect::<Vec<_>>().into());
            let got = ok_list("Peers \"listed\" ✓", items, item);
            assert_eq!(got.headers().get("content-type"), want.headers().get("content-type"));
            let (got, want) = (body(got).await, body(want).await);
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{n} items");
        }
    }
}
