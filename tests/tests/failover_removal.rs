//! The node-removal workflow (DESIGN §5.3) when the node cannot be reached.
//!
//! Three voters r1 (panel), r2, r3 in the network lab, config `wg0` (Mode B) on all three with
//! peers homed on r2 and r3. First, for contrast, r3 (reachable) is removed: its backup is taken
//! from its agent route (`backup_created` with `skipped: false`, the backup holds the interface).
//! Then r2's cable is pulled (its daemon keeps running, nobody can reach it) and
//! `DELETE /api/configs/wg0/nodes/r2` is sent at once, before the health monitor has noticed:
//! it still answers 200 with `peers_migrated`, the backup is skipped and the audit entry
//! (`backup_created`, `skipped: true`) says why. The peers end on r1, whose wireguard-go carries
//! them all, and nothing is left draining.
//!
//! Needs root and the lab's Debian packages (installed when missing); under `CI=true` a missing
//! prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, create_config, create_peers, placement_problems, wait_for, LabCluster};
use wgcluster_tests::lab::Lab;

fn backup_entry(api: &failover::Api, node: &str) -> Value {
    api.audit("backup_created")
        .into_iter()
        .find(|e| e["details"]["node_id"] == node)
        .unwrap_or_else(|| panic!("no backup_created audit entry for {node}"))
}

#[test]
fn removing_an_unreachable_node_completes_and_says_the_backup_was_skipped() {
    if !failover::prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let lab = Lab::new("fo-removal");
    let operator = lab.add_host("operator");
    let cluster = LabCluster::start(&lab, &operator, &[("r1", false), ("r2", false), ("r3", false)]);
    assert_eq!(cluster.wait_leader(&[], Duration::from_secs(10)), "r1");
    let api = cluster.api("r1");
    create_config(&api, "wg0", "172.21.0.1/24", "172.21.0.0/24", &["r1", "r2", "r3"]);
    let on_r2 = create_peers(&api, "wg0", "two", 6, Some("r2"));
    let on_r3 = create_peers(&api, "wg0", "three", 3, Some("r3"));
    let key_of = |p: &Value| p["public_key"].as_str().unwrap_or("").to_string();
    let k2: BTreeSet<String> = on_r2.iter().map(key_of).collect();
    let k3: BTreeSet<String> = on_r3.iter().map(key_of).collect();
    wait_for("r2 and r3 to carry their peers", Duration::from_secs(30), || {
        (cluster.router("r2").wg_keys("wg0") == k2 && cluster.router("r3").wg_keys("wg0") == k3).then_some(())
    });
    say("wg0 on r1, r2, r3; 6 peers on r2, 3 on r3");

    // Contrast: a reachable node's backup is taken.
    let out = api.ok("DELETE", "/api/configs/wg0/nodes/r3", None);
    assert_eq!(out["peers_migrated"], 3, "{out}");
    let e3 = backup_entry(&api, "r3");
    assert_eq!(e3["details"]["skipped"], false, "{e3}");
    let b3 = api.get(&format!("/api/backups/{}", out["backup_id"]));
    assert_eq!(b3["skipped"], false, "{b3}");
    assert!(!b3["interface"].is_null(), "the backup holds r3's interface: {b3}");
    say(&format!("removed reachable r3: backup {} taken, {} peers migrated", out["backup_id"], out["peers_migrated"]));

    // r2 becomes unreachable (cable pulled; its daemon still runs) and is removed at once.
    lab.cut_link(&cluster.router("r2").host);
    let t = Instant::now();
    let (code, v) = api.call("DELETE", "/api/configs/wg0/nodes/r2", None);
    let took = t.elapsed();
    say(&format!("DELETE r2 (unreachable) -> HTTP {code} in {:.2} s: {}", took.as_secs_f64(), v["data"]));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["peers_migrated"], 6, "{v}");
    assert!(took < Duration::from_secs(20), "removal took {took:?}");
    let e2 = backup_entry(&api, "r2");
    assert_eq!(e2["details"]["skipped"], true, "the audit entry says the backup was skipped: {e2}");
    let note = e2["details"]["note"].as_str().unwrap_or("");
    assert!(note.contains("skipped"), "the audit entry says why: {e2}");
    let b2 = api.get(&format!("/api/backups/{}", v["data"]["backup_id"]));
    assert_eq!(b2["skipped"], true, "{b2}");
    assert!(b2["interface"].is_null(), "{b2}");
    let removed: Vec<Value> = api.audit("node_removed").into_iter().filter(|e| e["entity_id"] == "wg0:r2").collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["details"]["peers_migrated"], 6);

    // Every peer on r1, carried by r1's wireguard-go, nothing left draining.
    let peers = wait_for("the drains to complete", Duration::from_secs(30), || {
        let ps = api.peers("wg0");
        placement_problems(&ps, &["r1".to_string()]).is_empty().then_some(ps)
    });
    assert_eq!(peers.len(), 9);
    let all: BTreeSet<String> = k2.union(&k3).cloned().collect();
    wait_for("r1 to carry all peers", Duration::from_secs(20), || (cluster.router("r1").wg_keys("wg0") == all).then_some(()));
    let nodes: Vec<String> = api
        .get("/api/configs/wg0/nodes")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| n["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(nodes, vec!["r1".to_string()]);
    // r3 (reachable) removed its interface once its drain completed.
    wait_for("r3 to remove its interface", Duration::from_secs(20), || {
        failover::uapi_peers(&cluster.router("r3").uapi_sock("wg0")).is_err().then_some(())
    });
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}
