//! The panel dies in the middle of a 1,000-peer migration, and the new panel completes it.
//!
//! Three voters r1, r2, r3 (each with its own wireguard-go) in the network lab; r1 founded the
//! cluster and is the panel. Config `wg0` (Mode B) starts on r1 alone and 1,000 peers are created
//! there in one bulk request; then r2 and r3 join the config. `POST …/nodes/r1/migrate` moves all
//! 1,000 make-before-break (one command; the peers keep `draining_from: r1` until the destinations
//! report they have applied them) and r1 — panel and source — is killed right after the answer,
//! before the drain can complete. A new panel is elected, learns the destinations' applied
//! versions from its own probes, and completes the drain: every peer ends on exactly one healthy
//! node, nothing is left draining, and each survivor's wireguard-go carries exactly its peers.
//!
//! Needs root and the lab's Debian packages (installed when missing); under `CI=true` a missing
//! prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, create_config, create_peers, load_by_node, now_ms, placement_problems, wait_for, LabCluster};
use wgcluster_tests::lab::Lab;

const PEERS: usize = 1000;

#[test]
fn new_panel_completes_a_1000_peer_migration_after_the_panel_dies_midway() {
    if !failover::prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let lab = Lab::new("fo-leader-kill");
    let operator = lab.add_host("operator");
    let mut cluster = LabCluster::start(&lab, &operator, &[("r1", false), ("r2", false), ("r3", false)]);
    assert_eq!(cluster.wait_leader(&[], Duration::from_secs(10)), "r1");
    say("three voters up; r1 is the panel");
    let api = cluster.api("r1");
    create_config(&api, "wg0", "172.20.0.1/20", "172.20.0.0/20", &["r1"]);
    let t = Instant::now();
    let made = create_peers(&api, "wg0", "p", PEERS, None);
    assert_eq!(made.len(), PEERS);
    say(&format!("{PEERS} peers created on r1 in one request ({:.2} s)", t.elapsed().as_secs_f64()));
    let keys: BTreeSet<String> = made.iter().map(|p| p["public_key"].as_str().unwrap_or("").to_string()).collect();
    wait_for("r1's wireguard-go to carry all peers", Duration::from_secs(60), || {
        (cluster.router("r1").wg_keys("wg0") == keys).then_some(())
    });
    for n in ["r2", "r3"] {
        api.ok("POST", "/api/configs/wg0/nodes", Some(&serde_json::json!({ "node_id": n })));
    }
    wait_for("r2 and r3 to run an empty wg0", Duration::from_secs(30), || {
        ["r2", "r3"].iter().all(|n| failover::uapi_peers(&cluster.router(n).uapi_sock("wg0")).is_ok_and(|p| p.is_empty())).then_some(())
    });

    // The migration, and the panel's death right after it was committed.
    let t = Instant::now();
    let out = api.ok("POST", "/api/configs/wg0/nodes/r1/migrate", None);
    let committed_at = now_ms();
    let killed = cluster.router_mut("r1").kill_all();
    say(&format!(
        "migrate r1 -> {} answered in {:.2} s; r1 (panel and source) killed at once ({killed} processes)",
        out["peers_migrated"],
        t.elapsed().as_secs_f64()
    ));
    // Every process of r1 is gone from here on: a drain completed after this was the new panel's.
    // (Reading a survivor's peers right now does not tell: a follower learns that the migration
    // is committed only from the next leader, so it may still show the peers as not moved.)
    let dead_at = now_ms();
    assert_eq!(out["peers_migrated"], PEERS as u64);

    let leader = cluster.wait_leader(&["r1"], Duration::from_secs(15));
    say(&format!("new panel: {leader} ({:.2} s after the commit)", (now_ms() - committed_at) as f64 / 1000.0));
    let survivors = vec!["r2".to_string(), "r3".to_string()];
    let lapi = cluster.api(&leader);
    let done = wait_for("the new panel to complete the drain", Duration::from_secs(45), || {
        let ps = lapi.peers("wg0");
        placement_problems(&ps, &survivors).is_empty().then_some(ps)
    });
    let drained = lapi.audit("drain_completed").into_iter().find(|e| e["entity_id"] == "wg0:r1").expect("drain_completed audit entry");
    say(&format!(
        "drain completed by {} {:.2} s after the commit: {}",
        drained["user"],
        (drained["timestamp"].as_u64().unwrap_or(0) as f64 - committed_at as f64) / 1000.0,
        drained["details"]
    ));
    let drained_at = drained["timestamp"].as_u64().unwrap_or(0);
    assert!(
        drained_at >= dead_at,
        "the kill must land mid-migration: the drain completed at {drained_at}, before r1 was dead at {dead_at}: {drained}"
    );
    assert_eq!(drained["details"]["peers_released"], PEERS as u64);
    assert_eq!(done.len(), PEERS);
    let problems = placement_problems(&done, &survivors);
    assert!(problems.is_empty(), "{problems:#?}");
    let by_node = load_by_node(&done);
    assert_eq!((by_node.get("r2"), by_node.get("r3")), (Some(&(PEERS / 2)), Some(&(PEERS / 2))), "{by_node:?}");
    let migrations = lapi.audit("peer_migrated");
    let off_r1: Vec<_> = migrations.iter().filter(|e| e["entity_id"] == "wg0:r1").collect();
    assert_eq!(off_r1.len(), 1, "one migration command (one audit entry with the count): {off_r1:?}");
    assert_eq!(off_r1[0]["details"]["count"], PEERS as u64);

    // Each survivor's wireguard-go carries exactly its own peers; together all of them, once.
    let key_of = |p: &serde_json::Value| p["public_key"].as_str().unwrap_or("").to_string();
    for n in &survivors {
        let want: BTreeSet<String> = done.iter().filter(|p| p["node_id"] == n.as_str()).map(key_of).collect();
        wait_for(&format!("{n}'s wireguard-go to carry exactly its peers"), Duration::from_secs(20), || {
            (cluster.router(n).wg_keys("wg0") == want).then_some(())
        });
    }
    let a = cluster.router("r2").wg_keys("wg0");
    let b = cluster.router("r3").wg_keys("wg0");
    assert!(a.is_disjoint(&b));
    assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), keys);
    wait_for("r1 marked unhealthy by the new panel", Duration::from_secs(20), || {
        (lapi.node_health().get("r1") == Some(&false)).then_some(())
    });
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}
