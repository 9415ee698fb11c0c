//! Configs and peers (part of [the failover lab](super)).

use super::*;

/// Creates config `name` (`address` e.g. `10.1.2.1/24`, clients route `peer_allowed_ips`) and
/// assigns it to `nodes`.
pub fn create_config(api: &Api, name: &str, address: &str, peer_allowed_ips: &str, nodes: &[&str]) {
    api.ok(
        "POST",
        "/api/configs",
        Some(&json!({ "name": name, "address": address, "listen_port": WG_PORT,
                       "peer_allowed_ips": [peer_allowed_ips] })),
    );
    for n in nodes {
        api.ok("POST", &format!("/api/configs/{name}/nodes"), Some(&json!({ "node_id": n })));
    }
}

/// Creates peers `<prefix>0001…` in one bulk request, on `node` when given; returns their views.
pub fn create_peers(api: &Api, config: &str, prefix: &str, n: usize, node: Option<&str>) -> Vec<Value> {
    let items: Vec<Value> = (1..=n)
        .map(|i| match node {
            Some(node) => json!({ "name": format!("{prefix}{i:04}"), "node_id": node }),
            None => json!({ "name": format!("{prefix}{i:04}") }),
        })
        .collect();
    api.ok("POST", &format!("/api/configs/{config}/peers"), Some(&Value::Array(items))).as_array().cloned().unwrap_or_default()
}

/// Peer invariants after a failover, as a list of problems (empty = fine): every peer homed on
/// exactly one of `healthy` (its `node_id`), nothing left `draining_from`, no duplicate peer id,
/// public key or tunnel address.
pub fn placement_problems(peers: &[Value], healthy: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for p in peers {
        let id = p["id"].as_str().unwrap_or("?").to_string();
        if !ids.insert(id.clone()) {
            problems.push(format!("peer {id} listed twice"));
        }
        if !keys.insert(p["public_key"].to_string()) {
            problems.push(format!("public key of {id} used twice"));
        }
        for a in p["addresses"].as_array().cloned().unwrap_or_default() {
            if !addrs.insert(a.to_string()) {
                problems.push(format!("address {a} of {id} is given to two peers"));
            }
        }
        match p["node_id"].as_str() {
            Some(n) if healthy.iter().any(|h| h == n) => {}
            other => problems.push(format!("peer {id} is on {other:?}, not on a healthy node {healthy:?}")),
        }
        if !p["draining_from"].is_null() {
            problems.push(format!("peer {id} still draining from {}", p["draining_from"]));
        }
    }
    problems
}

/// Peer count per node id.
pub fn load_by_node(peers: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in peers {
        *m.entry(p["node_id"].as_str().unwrap_or("-").to_string()).or_default() += 1;
    }
    m
}
