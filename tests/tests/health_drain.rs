//! Faster, steadier detection (#16), part 4.
//!
//! - A make-before-break drain completes as soon as its destinations have applied the move: the
//!   real migration planner (in process, over a real one-voter cluster) watches the destinations
//!   (`AppliedWatch`; here a stand-in whose routers "apply" when the test says so, and this
//!   router's own reconciler version) and is woken by the answer, not by its next tick or the next
//!   health probe. The planner's tick is set to 5 s so a completion within 150 ms is the watch's;
//!   the health verdict itself wakes the planner, so the peers move at once too.
//! - The sub-second `lan` health profile through the real daemons of a 3-router loopback cluster:
//!   accepted by the settings route (with its budget shown), and a router killed with -9 is called
//!   unhealthy within the budget (1 s).
//!
//! Prints the measured figures.

mod dns_common;

use actix::Actor;
use dns_common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wgcluster_actors::migration::{AppliedWatch, MigrationPlanner, SharedApplied};
use wgcluster_actors::model::*;
use wgcluster_actors::state::*;
use wgcluster_tests::cluster::{Cluster, Opts};

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Routers that apply a version when the test says so; a watch answers within a millisecond.
#[derive(Default)]
struct Routers {
    applied: Mutex<BTreeMap<String, u64>>,
    watches: AtomicU64,
}

impl Routers {
    fn apply(&self, node: &str, v: u64) {
        self.applied.lock().expect("lock").insert(node.to_string(), v);
    }
    fn get(&self, node: &str) -> u64 {
        self.applied.lock().expect("lock").get(node).copied().unwrap_or(0)
    }
}

struct Watch(Arc<Routers>);

impl AppliedWatch for Watch {
    fn wait_applied(&self, node: &Node, at_least: u64, wait: Duration) -> BoxFuture<Result<Option<u64>, String>> {
        let (routers, id) = (self.0.clone(), node.id.to_string());
        routers.watches.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                let v = routers.get(&id);
                if v >= at_least || Instant::now() >= deadline {
                    return Ok(Some(v));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    }
}

fn peer(name: &str, home: &str) -> NewPeer {
    NewPeer {
        id: PeerId::random(),
        name: name.into(),
        public_key: generate_keypair().1,
        private_key: None,
        preshared_key: None,
        node_id: Some(node(home)),
        allowed_ips: None,
        keepalive: None,
        enabled: true,
        limits: Default::default(),
    }
}

#[test]
fn a_drain_completes_as_soon_as_the_destinations_applied() {
    actix::System::new().block_on(async {
        let c = TestCluster::start("drain-watch").await;
        // node1 (this router), node2, node3 on wg0 (Mode B: no endpoint group); 4 peers on node2.
        c.nodes_and_config(&["192.0.2.1", "192.0.2.2", "192.0.2.3"]).await;
        c.cmd(Command::CreatePeers { config: cfg("wg0"), peers: (0..4).map(|i| peer(&format!("p{i}"), "node2")).collect() }).await;
        let routers = Arc::new(Routers::default());
        let local = Arc::new(AtomicU64::new(0));
        let local_read = local.clone();
        let applied: SharedApplied = Default::default();
        let _planner = MigrationPlanner::new(
            c.cluster.clone(),
            applied,
            Arc::new(move || Some(local_read.load(Ordering::Relaxed))),
            now_ms,
            Duration::from_secs(5),
        )
        .with_watch(Arc::new(Watch(routers.clone())))
        .start();

        // node2 fails: the verdict wakes the planner (its tick is 5 s away), which moves the peers
        // to node1 and node3 at once.
        let verdict = Instant::now();
        c.health("node2", false).await;
        c.wait(Duration::from_secs(12), || c.cluster.read(|s| !s.drains.is_empty())).await;
        let migrated = verdict.elapsed();
        println!("drain: health verdict -> peers migrated in {} ms (planner tick 5 s)", migrated.as_millis());
        assert!(migrated < Duration::from_secs(1), "took {migrated:?}: the verdict did not wake the planner");
        let version = c.cluster.read(|s| s.drains.values().next().map(|d| d.version)).expect("a drain");
        // Nobody has applied it: the drain waits (and the planner watches both destinations).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(c.cluster.read(|s| !s.drains.is_empty()), "completed before the destinations applied the move");
        assert!(routers.watches.load(Ordering::Relaxed) >= 1, "node3 is watched");
        // One destination is not enough.
        routers.apply("node3", version);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(c.cluster.read(|s| !s.drains.is_empty()), "completed with node1 still behind");
        // The last one applies: the drain completes at once.
        let t0 = Instant::now();
        local.store(version, Ordering::Relaxed);
        c.wait(Duration::from_secs(5), || c.cluster.read(|s| s.drains.is_empty())).await;
        let took = t0.elapsed();
        println!("drain: last destination applied -> drain completed in {} ms (planner tick 5 s)", took.as_millis());
        assert!(took < Duration::from_millis(150), "took {took:?}: not woken by the watch");
        assert_eq!(c.audit("drain_completed").len(), 1);
        assert!(c.cluster.read(|s| s.peers.values().all(|p| p.draining_from.is_none() && p.node_id != Some(node("node2")))));
        actix::System::current().stop();
    });
}

fn put(c: &Cluster, i: usize, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    c.try_request(i, method, path, body).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_lan_profile_is_accepted_and_detects_a_dead_router_within_its_budget() {
    let mut c = Cluster::start(3, Opts::fast());
    let leader = c.wait_leader(Duration::from_secs(30));
    for bad in [json!({ "probe_interval_ms": 199 }), json!({ "profile": "fastest" }), json!({ "profile": 1 })] {
        let (s, v) = put(&c, leader, "PUT", "/api/settings/health", Some(&bad));
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (s, v) = put(&c, leader, "PUT", "/api/settings/health", Some(&json!({ "profile": "lan" })));
    assert_eq!(s, 200, "{v}");
    let h = c.get_data(leader, "/api/settings/health");
    assert_eq!(
        (h["probe_interval_ms"].as_u64(), h["unhealthy_after"].as_u64(), h["healthy_after"].as_u64()),
        (Some(250), Some(3), Some(4))
    );
    assert_eq!((h["profile"].as_str(), h["probe_timeout_ms"].as_u64()), (Some("lan"), Some(250)));
    let budget = Duration::from_millis(h["detection_budget_ms"].as_u64().expect("budget"));
    assert_eq!(budget, Duration::from_secs(1));
    // Explicit values override a profile; any sub-second interval from 200 ms is accepted.
    let (s, v) = put(&c, leader, "PUT", "/api/settings/health", Some(&json!({ "profile": "lan", "probe_interval_ms": 200 })));
    assert_eq!(s, 200, "{v}");
    assert_eq!(c.get_data(leader, "/api/settings/health")["profile"], serde_json::Value::Null);
    put(&c, leader, "PUT", "/api/settings/health", Some(&json!({ "profile": "lan" })));

    // Every router healthy for a while at 250 ms probes (no false verdicts on a quiet loopback).
    let victim = (0..3).find(|i| *i != leader).expect("a follower");
    let id = c.id(victim).to_string();
    let healthy = |c: &Cluster| c.get_data(leader, &format!("/api/nodes/{id}"))["healthy"].as_bool();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(healthy(&c), Some(true));
    let audit_before = c.get_data(leader, "/api/audit-logs?action=node_health_changed&limit=1000");
    assert_eq!(audit_before.as_array().map(Vec::len), Some(0), "a healthy router was called dead: {audit_before}");

    c.kill9(victim);
    let t0 = Instant::now();
    while healthy(&c) != Some(false) {
        assert!(t0.elapsed() < Duration::from_secs(10), "{id} still healthy after 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t0.elapsed();
    println!(
        "health (lan profile, 250 ms x 3): router killed -> marked unhealthy in {} ms (budget {} ms)",
        took.as_millis(),
        budget.as_millis()
    );
    // The budget, plus a Raft commit and this test's polling.
    assert!(took <= budget + Duration::from_millis(300), "took {took:?}, budget {budget:?}");
}
