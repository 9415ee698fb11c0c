//! Durability: a clean restart keeps everything; `kill -9` in the middle of a burst of writes from
//! several client threads loses nothing that was acknowledged and leaves nothing half-applied
//! (a bulk creation is all there or absent, addresses stay unique, every acknowledged change has
//! its audit entry and every change present has its audit entry).

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wgcluster_tests::daemon::{wait_for, Client, Daemon, Options};

/// Audit entries written by background jobs (DNS sync, health, start-up) come and go on their
/// own; the durability checks look at the ones the admin caused.
fn is_background(e: &Value) -> bool {
    matches!(e["user"].as_str(), Some("dns-sync") | Some("system") | Some("health"))
        || e["action"].as_str().is_some_and(|a| a.starts_with("dns_") || a == "node_health_changed")
}

/// Every audit entry matching `query`, paging through with offset.
fn all_audit(c: &Client, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let sep = if query.is_empty() { "" } else { "&" };
    loop {
        let page = c.ok("GET", &format!("/api/audit-logs?{query}{sep}limit=1000&offset={}", out.len()), None);
        let page = page.as_array().expect("audit page").clone();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(o) => {
            o.retain(|k, _| !keys.contains(&k.as_str()));
            for x in o.values_mut() {
                strip(x, keys);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, keys)),
        _ => {}
    }
}

/// The durable state as the API shows it, with peer config files (they carry the keys).
fn snapshot(d: &Daemon) -> Value {
    let configs = d.ok("GET", "/api/configs", None);
    let mut per = serde_json::Map::new();
    for c in configs.as_array().expect("configs") {
        let name = c["name"].as_str().expect("name");
        let peers = d.ok("GET", &format!("/api/configs/{name}/peers"), None);
        let mut files = BTreeMap::new();
        for p in peers.as_array().expect("peers") {
            let id = p["id"].as_str().expect("id");
            let (code, text) = d.get_text(&format!("/api/configs/{name}/peers/{id}/config"));
            files.insert(id.to_string(), if code == 200 { text } else { format!("HTTP {code}") });
        }
        let (_, group) = d.get(&format!("/api/configs/{name}/endpoint-group"));
        per.insert(
            name.to_string(),
            json!({
                "peers": peers,
                "files": files,
                "nodes": d.ok("GET", &format!("/api/configs/{name}/nodes"), None),
                "group": group["data"],
            }),
        );
    }
    // Each download above is itself audited (`peer_private_key_read`): those entries are this
    // snapshot's own reads, so they are kept apart; `reads` counts them, and a later snapshot must
    // still hold every earlier one.
    let (reads, audit): (Vec<Value>, Vec<Value>) = all_audit(d, "")
        .into_iter()
        .filter(|e| !is_background(e))
        .partition(|e| e["action"].as_str().is_some_and(|a| a.ends_with("_private_key_read")));
    let mut v = json!({
        "reads": reads.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        "configs": configs,
        "per_config": per,
        "nodes": d.ok("GET", "/api/nodes", None),
        "backups": d.ok("GET", "/api/backups", None),
        "settings": d.ok("GET", "/api/settings/dns", None),
        "audit": audit,
    });
    // What background jobs update by themselves.
    strip(&mut v, &["dns_status", "last_sync", "published", "degraded", "last_error"]);
    v
}

fn without_reads(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("reads");
    }
    v
}

/// Every audited key read of `earlier` is still there in `later`, and `later`'s own downloads
/// added one per file.
fn assert_reads_kept(earlier: &Value, later: &Value) {
    let ids = |v: &Value| v["reads"].as_array().cloned().unwrap_or_default();
    let (e, l) = (ids(earlier), ids(later));
    assert!(e.iter().all(|id| l.contains(id)), "audited key reads lost: {} before, {} after", e.len(), l.len());
    assert!(l.len() > e.len(), "the downloads after the restart were not audited ({} then {})", e.len(), l.len());
}

#[test]
fn restart_keeps_everything() {
    let mut d = Daemon::start(Options::default().tag("restart"));
    d.ok(
        "POST",
        "/api/configs",
        Some(&json!({ "name": "wg0", "address": ["10.0.0.1/24", "fd00::1/64"], "listen_port": 51820,
                      "dns": ["10.0.0.1"], "mtu": 1380 })),
    );
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg1", "address": "10.1.0.1/24", "listen_port": 51821 })));
    d.ok("POST", "/api/nodes", Some(&json!({ "id": "node2", "name": "West", "endpoint": "192.0.2.2", "weight": 2 })));
    for (c, n) in [("wg0", "node1"), ("wg0", "node2"), ("wg1", "node1"), ("wg1", "node2")] {
        d.ok("POST", &format!("/api/configs/{c}/nodes"), Some(&json!({ "node_id": n })));
    }
    d.ok("PUT", "/api/settings/dns", Some(&json!({ "cloudflare": { "api_token": "secret-token", "api_base": "http://127.0.0.1:1" } })));
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(&json!({ "domain": "vpn.example.com", "cloudflare_zone_id": "z1", "ttl": 120 })));
    let bulk: Vec<Value> = (0..30).map(|i| json!({ "name": format!("p{i}") })).collect();
    let made = d.ok("POST", "/api/configs/wg0/peers", Some(&Value::Array(bulk)));
    let ids: Vec<String> = made.as_array().expect("peers").iter().map(|p| p["id"].as_str().expect("id").to_string()).collect();
    for i in 0..5 {
        d.ok("POST", "/api/configs/wg1/peers", Some(&json!({ "name": format!("q{i}") })));
    }
    d.ok("PATCH", &format!("/api/configs/wg0/peers/{}", ids[0]), Some(&json!({ "name": "renamed", "enabled": false, "keepalive": 10 })));
    d.ok("DELETE", &format!("/api/configs/wg0/peers/{}", ids[1]), None);
    d.ok("PATCH", "/api/configs/wg1", Some(&json!({ "mtu": 1400 })));
    let removed = d.ok("DELETE", "/api/configs/wg1/nodes/node2", None);
    assert!(removed["peers_migrated"].as_u64().is_some(), "{removed}");

    let before = snapshot(&d);
    let token = d.token().to_string();

    // A clean stop: SIGTERM exits 0.
    let st = d.stop().expect("running");
    assert!(st.success(), "SIGTERM exit status {st}");
    d.start_again();
    assert_eq!(d.token(), token);
    let after = snapshot(&d);
    assert_eq!(without_reads(&before), without_reads(&after), "state changed across a clean restart");
    assert_reads_kept(&before, &after);

    // kill -9 while idle: the same.
    d.kill9();
    d.start_again();
    let again = snapshot(&d);
    assert_eq!(without_reads(&before), without_reads(&again), "state changed across kill -9");
    assert_reads_kept(&after, &again);
    // The stale control socket file of the killed process does not stop the new one.
    let (code, v) = d.control("GET", "/api/cluster", None);
    assert_eq!((code, v["data"]["leader"].as_str()), (200, Some("node1")), "{v}");
    // The DNS credentials are write-only.
    assert!(!before.to_string().contains("secret-token"), "a DNS secret is visible: {before}");

    // It still takes writes, and new peers never reuse an address.
    let p = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "after" })));
    let addrs: HashSet<String> = d
        .ok("GET", "/api/configs/wg0/peers", None)
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| p["address"].as_str().expect("address").to_string())
        .collect();
    assert_eq!(addrs.len(), 30, "29 old peers + 1 new, all distinct");
    assert!(p["address"].as_str().is_some_and(|a| a.contains("10.0.0.") && a.contains("fd00::")), "{p}");
}

/// What the writer threads were told.
#[derive(Default)]
struct Acks {
    /// batch name -> ids of its peers, for every bulk creation answered 2xx.
    batches: BTreeMap<String, Vec<String>>,
    /// batch names sent whose answer never came (the daemon died mid-request) or was not 2xx.
    unsure: BTreeSet<String>,
    /// peer ids whose rename was sent.
    rename_sent: HashSet<String>,
    /// peer id -> new name, for every rename answered 2xx.
    renames: HashMap<String, String>,
    /// peer ids whose deletion was sent.
    delete_sent: HashSet<String>,
    /// peer ids whose deletion was answered 2xx.
    deleted: HashSet<String>,
}

const BATCH: usize = 5;
const THREADS: usize = 4;

fn writer(c: Client, t: usize, stop: Arc<AtomicBool>, acks: Arc<Mutex<Acks>>, count: Arc<AtomicUsize>) {
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let batch = format!("t{t}-b{i}");
        let body: Vec<Value> = (0..BATCH).map(|j| json!({ "name": format!("{batch}-{j}") })).collect();
        match c.try_call("POST", "/api/configs/wg0/peers", Some(&Value::Array(body))) {
            Ok((200, v)) => {
                let ids: Vec<String> =
                    v["data"].as_array().expect("created peers").iter().map(|p| p["id"].as_str().expect("id").to_string()).collect();
                assert_eq!(ids.len(), BATCH, "{v}");
                let mut a = acks.lock().unwrap_or_else(|e| e.into_inner());
                a.batches.insert(batch.clone(), ids.clone());
                drop(a);
                count.fetch_add(1, Ordering::SeqCst);
                // Every other batch: rename its first peer, delete its second.
                if i % 2 == 0 {
                    let new_name = format!("{batch}-renamed");
                    let path = format!("/api/configs/wg0/peers/{}", ids[0]);
                    acks.lock().unwrap_or_else(|e| e.into_inner()).rename_sent.insert(ids[0].clone());
                    match c.try_call("PATCH", &path, Some(&json!({ "name": new_name }))) {
                        Ok((200, _)) => {
                            acks.lock().unwrap_or_else(|e| e.into_inner()).renames.insert(ids[0].clone(), new_name);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                    acks.lock().unwrap_or_else(|e| e.into_inner()).delete_sent.insert(ids[1].clone());
                    match c.try_call("DELETE", &format!("/api/configs/wg0/peers/{}", ids[1]), None) {
                        Ok((200, _)) => {
                            acks.lock().unwrap_or_else(|e| e.into_inner()).deleted.insert(ids[1].clone());
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            }
            Ok((code, v)) => {
                // The daemon may refuse while it goes down (503); the batch is then unsure.
                let _ = (code, v);
                acks.lock().unwrap_or_else(|e| e.into_inner()).unsure.insert(batch);
            }
            Err(_) => {
                acks.lock().unwrap_or_else(|e| e.into_inner()).unsure.insert(batch);
                return;
            }
        }
        i += 1;
    }
}

#[test]
fn kill9_during_a_write_burst_loses_nothing_acknowledged() {
    burst_then("kill9", |d| d.kill9());
}

#[test]
fn sigterm_during_a_write_burst_loses_nothing_acknowledged() {
    burst_then("sigterm", |d| {
        let st = d.stop().expect("running");
        assert!(st.success(), "SIGTERM during writes: exit status {st}");
    });
}

/// Several writer threads create (in bulk), rename and delete peers; after 40 acknowledged bulk
/// creations `interrupt` stops the daemon mid-burst; after a restart everything acknowledged is
/// there and nothing is half-applied.
fn burst_then(tag: &str, interrupt: impl FnOnce(&mut Daemon)) {
    let mut d = Daemon::start(Options::default().tag(tag));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.20.0.1/16", "listen_port": 51820 })));
    d.ok("POST", "/api/nodes", Some(&json!({ "id": "node2", "endpoint": "192.0.2.2" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node2" })));

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Acks::default()));
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, stop, acks, count) = (d.client(), stop.clone(), acks.clone(), count.clone());
            std::thread::spawn(move || writer(c, t, stop, acks, count))
        })
        .collect();
    // Let the burst run until a good number of batches are in, then kill mid-flight.
    let started = Instant::now();
    wait_for("40 acknowledged bulk creations", Duration::from_secs(20), || (count.load(Ordering::SeqCst) >= 40).then_some(()));
    interrupt(&mut d);
    let killed_after = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("writer thread panicked");
    }
    let acks = Arc::try_unwrap(acks).ok().expect("threads done").into_inner().expect("lock");
    eprintln!(
        "{tag}: interrupted after {killed_after:?}: {} batches acknowledged, {} unsure, {} renames, {} deletes",
        acks.batches.len(),
        acks.unsure.len(),
        acks.renames.len(),
        acks.deleted.len()
    );

    d.start_again();
    let peers = d.ok("GET", "/api/configs/wg0/peers", None);
    let peers = peers.as_array().expect("peers");
    let by_id: HashMap<&str, &Value> = peers.iter().map(|p| (p["id"].as_str().expect("id"), p)).collect();
    let mut problems = Vec::new();

    // Acknowledged creations, renames and deletes are all there.
    for (batch, ids) in &acks.batches {
        for (j, id) in ids.iter().enumerate() {
            if acks.deleted.contains(id) {
                if by_id.contains_key(id.as_str()) {
                    problems.push(format!("{batch}: peer {id} was deleted (acknowledged) but is back"));
                }
                continue;
            }
            let Some(p) = by_id.get(id.as_str()) else {
                // A delete that was sent may have been applied without its answer arriving.
                if !acks.delete_sent.contains(id) {
                    problems.push(format!("{batch}: acknowledged peer {id} is missing"));
                }
                continue;
            };
            let original = format!("{batch}-{j}");
            let renamed = format!("{batch}-renamed");
            let ok = match (acks.renames.contains_key(id), acks.rename_sent.contains(id)) {
                (true, _) => p["name"] == renamed.as_str(),
                (false, true) => p["name"] == renamed.as_str() || p["name"] == original.as_str(),
                (false, false) => p["name"] == original.as_str(),
            };
            if !ok {
                problems.push(format!("{batch}: peer {id} is named {}", p["name"]));
            }
        }
    }
    // All or nothing, for every batch including those whose answer never came.
    let mut per_batch: BTreeMap<String, usize> = BTreeMap::new();
    for p in peers {
        let name = p["name"].as_str().expect("name");
        let batch = name.rsplit_once('-').map(|(b, _)| b).expect("batch name");
        *per_batch.entry(batch.to_string()).or_default() += 1;
    }
    for (batch, n) in &per_batch {
        let ids = acks.batches.get(batch);
        let count = |set: &HashSet<String>| ids.map(|ids| ids.iter().filter(|id| set.contains(*id)).count()).unwrap_or(0);
        // Between the acknowledged deletes and every delete sent (one may have been applied
        // without its answer arriving).
        let (max, min) = (BATCH - count(&acks.deleted), BATCH - count(&acks.delete_sent));
        if !(min..=max).contains(n) {
            problems.push(format!("batch {batch} is half there: {n} of {BATCH} peers (want {min}..={max})"));
        }
        if ids.is_none() && !acks.unsure.contains(batch) {
            problems.push(format!("batch {batch} exists but was never sent"));
        }
    }
    // Addresses unique.
    let mut seen = HashMap::new();
    for p in peers {
        let a = p["address"].as_str().expect("address");
        if let Some(other) = seen.insert(a.to_string(), p["id"].clone()) {
            problems.push(format!("address {a} is given to {} and {}", other, p["id"]));
        }
    }
    // Audit: every peer present has its creation entry, every acknowledged change its entry.
    let audit = all_audit(&d, "entity_type=peer");
    let mut actions: HashMap<(String, String), usize> = HashMap::new();
    for e in &audit {
        let key = (e["action"].as_str().unwrap_or("").to_string(), e["entity_id"].as_str().unwrap_or("").to_string());
        *actions.entry(key).or_default() += 1;
    }
    let has = |action: &str, id: &str| actions.contains_key(&(action.to_string(), id.to_string()));
    for p in peers {
        let id = p["id"].as_str().expect("id");
        if !has("peer_created", id) {
            problems.push(format!("peer {id} exists without a peer_created audit entry"));
        }
    }
    for ids in acks.batches.values() {
        for id in ids {
            if !has("peer_created", id) {
                problems.push(format!("acknowledged peer {id} has no peer_created audit entry"));
            }
        }
    }
    for id in acks.renames.keys() {
        if !has("peer_updated", id) {
            problems.push(format!("acknowledged rename of {id} has no peer_updated audit entry"));
        }
    }
    for id in &acks.deleted {
        if !has("peer_deleted", id) {
            problems.push(format!("acknowledged delete of {id} has no peer_deleted audit entry"));
        }
    }
    // No audit entry for a change that is not there (a creation whose peer vanished without a
    // deletion entry).
    for ((action, id), _) in actions.iter().filter(|((a, _), _)| a == "peer_created") {
        if !by_id.contains_key(id.as_str()) && !has("peer_deleted", id) {
            problems.push(format!("{action} audit entry for {id}, but the peer is gone without a deletion"));
        }
    }
    assert!(problems.is_empty(), "{} problems after {tag} ({} peers present):\n{}", problems.len(), peers.len(), problems.join("\n"));
    assert!(!acks.batches.is_empty());

    // The daemon is healthy again: a write works and takes a fresh address.
    let p = d.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "after-1" })));
    let a = p["address"].as_str().expect("address");
    assert!(!seen.contains_key(a), "new peer got a used address {a}");
}
