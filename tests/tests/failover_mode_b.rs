//! Mode B failover with real traffic: a witness (`w`: founder, panel, votes but runs no WireGuard)
//! and two routers `r1`, `r2` share config `wg0` without an endpoint group. Raft keeps quorum
//! with r1 gone (w + r2), and the panel survives. r1 homes every peer; a stock client pings
//! through r1. r1 loses power; the panel marks it unhealthy and migrates its peers to r2
//! make-before-break (the drain completes once r2 reports it has applied them); the client's
//! downloaded config now names r2's endpoint and the client connects with it. r1 comes back and
//! nothing moves back; `POST /api/configs/wg0/rebalance` evens the load, and a sampler reading
//! both routers' wireguard-go proves no moved peer was ever carried by neither.
//!
//! Needs root and the lab's Debian packages (installed when missing); under `CI=true` a missing
//! prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{
    self, audit_times, create_config, create_peers, fmt_s, load_by_node, now_ms, placement_problems, secs, wait_for, ClientConf,
    LabCluster, Switch, WgClient, WG_PORT,
};
use wgcluster_tests::lab::Lab;

const PEERS: usize = 10;

#[test]
fn mode_b_peers_move_make_before_break_and_stay_until_rebalanced() {
    if !failover::prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let lab = Lab::new("fo-mode-b");
    let client_host = lab.add_host("client");
    let mut cluster = LabCluster::start(&lab, &client_host, &[("w", true), ("r1", false), ("r2", false)]);
    say("witness w (panel) + routers r1, r2 up");
    let api = cluster.api("w");
    let target = lab.tunnel_addr(1);
    let net = Ipv4Addr::from(u32::from(target) & 0xffff_ff00);
    create_config(&api, "wg0", &format!("{target}/24"), &format!("{net}/24"), &["r1", "r2"]);
    // Every peer on r1 (the client is one of them).
    let mut peers = create_peers(&api, "wg0", "peer", PEERS - 1, Some("r1"));
    let laptop = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop", "node_id": "r1" })));
    peers.push(laptop.clone());
    let keys: BTreeSet<String> = peers.iter().map(|p| p["public_key"].as_str().unwrap_or("").to_string()).collect();
    let (r1_addr, r2_addr) = (cluster.router("r1").host.addr, cluster.router("r2").host.addr);
    wait_for("r1 to carry every peer, r2 none", Duration::from_secs(30), || {
        (cluster.router("r1").wg_keys("wg0") == keys && cluster.router("r2").wg_keys("wg0").is_empty()).then_some(())
    });

    let pid = laptop["id"].as_str().expect("id").to_string();
    let conf_path = format!("/api/configs/wg0/peers/{pid}/config");
    let conf = ClientConf::parse(&api.text(&conf_path));
    assert_eq!(conf.endpoint, format!("{r1_addr}:{WG_PORT}"), "Mode B config names the peer's node");
    let mut client = WgClient::start(&client_host, conf, None);
    assert!(client_host.ping_until(target, Duration::from_secs(20)), "no traffic through r1");
    say("client pings through r1");

    // r1 loses power.
    let killed_at = now_ms();
    let n = cluster.router_mut("r1").kill_all();
    say(&format!("killed every process of r1 ({n})"));
    // The peers move to r2; r2 carries them before the drain completes (make-before-break).
    let moved = wait_for("the drain off r1 to complete", Duration::from_secs(40), || {
        let ps = api.peers("wg0");
        placement_problems(&ps, &["r2".to_string()]).is_empty().then_some(ps)
    });
    assert_eq!(moved.len(), PEERS);
    let t = audit_times(&api, "wg0", "r1", killed_at);
    say(&format!(
        "detected unhealthy {} / migration committed {} ({:?} peers) / drain completed {}",
        fmt_s(secs(killed_at, t.unhealthy_at)),
        fmt_s(secs(killed_at, t.migrated_at)),
        t.migrated_count,
        fmt_s(secs(killed_at, t.drained_at))
    ));
    assert_eq!(t.migrated_count, Some(PEERS as u64), "one migration command for all of r1's peers");
    let (m, d) = (t.migrated_at.expect("migrated"), t.drained_at.expect("drained"));
    assert!(t.unhealthy_at.expect("detected") <= m && m <= d, "{t:?}");
    assert_eq!(cluster.router("r2").wg_keys("wg0"), keys, "r2 carries every moved peer");
    assert_eq!(api.node_health().get("r1"), Some(&false));

    // The downloadable config names r2 now; the client takes it and traffic flows through r2.
    let conf2 = ClientConf::parse(&api.text(&conf_path));
    assert_eq!(conf2.endpoint, format!("{r2_addr}:{WG_PORT}"), "the config follows the peer to r2");
    let configs = api.get(&format!("/api/peers/{pid}/configs"));
    assert!(configs.to_string().contains(&format!("{r2_addr}:{WG_PORT}")), "{configs}");
    client.reconfigure(conf2, Switch::Rehandshake);
    assert!(client_host.ping_until(target, Duration::from_secs(20)), "no traffic through r2");
    say(&format!("client reconnected through r2, {:.1} s after the kill", (now_ms() - killed_at) as f64 / 1000.0));

    // r1 returns: healthy again, carries nothing, nothing moves back.
    cluster.router_mut("r1").start();
    let ns = client_host.ns.clone();
    cluster.router_mut("r1").wait_ready(&ns, Duration::from_secs(30));
    wait_for("r1 healthy again", Duration::from_secs(30), || (api.node_health().get("r1") == Some(&true)).then_some(()));
    wait_for("r1's interface back, with no peers", Duration::from_secs(20), || {
        failover::uapi_peers(&cluster.router("r1").uapi_sock("wg0")).ok().filter(|p| p.is_empty()).map(|_| ())
    });
    std::thread::sleep(Duration::from_secs(3));
    let after = api.peers("wg0");
    assert_eq!(load_by_node(&after).get("r2"), Some(&PEERS), "nothing moves back on its own: {:?}", load_by_node(&after));
    assert!(cluster.router("r1").wg_keys("wg0").is_empty());
    say("r1 is back and healthy; all peers stay on r2");

    // Rebalance evens the load, make-before-break: sample r2 (source) then r1 (destination).
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (src, dst, stop) = (cluster.router("r2").uapi_sock("wg0"), cluster.router("r1").uapi_sock("wg0"), stop.clone());
        std::thread::spawn(move || {
            let mut samples: Vec<(BTreeSet<String>, BTreeSet<String>)> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let s = failover::uapi_keys(&src);
                let d = failover::uapi_keys(&dst);
                samples.push((s, d));
                std::thread::sleep(Duration::from_millis(5));
            }
            samples
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let reb = api.ok("POST", "/api/configs/wg0/rebalance", None);
    assert_eq!(reb["peers_moved"], json!(PEERS / 2), "{reb}");
    let moved_now: Vec<Value> = api.peers("wg0").into_iter().filter(|p| p["node_id"] == "r1").collect();
    assert_eq!(moved_now.len(), PEERS / 2);
    let balanced = wait_for("the rebalance drain to complete", Duration::from_secs(30), || {
        let ps = api.peers("wg0");
        placement_problems(&ps, &["r1".to_string(), "r2".to_string()]).is_empty().then_some(ps)
    });
    let by_node = load_by_node(&balanced);
    assert_eq!((by_node.get("r1"), by_node.get("r2")), (Some(&(PEERS / 2)), Some(&(PEERS / 2))), "{by_node:?}");
    let key_of = |p: &Value| p["public_key"].as_str().unwrap_or("").to_string();
    let on_r1: BTreeSet<String> = balanced.iter().filter(|p| p["node_id"] == "r1").map(key_of).collect();
    let on_r2: BTreeSet<String> = balanced.iter().filter(|p| p["node_id"] == "r2").map(key_of).collect();
    wait_for("each router's wireguard-go to carry exactly its peers", Duration::from_secs(20), || {
        (cluster.router("r1").wg_keys("wg0") == on_r1 && cluster.router("r2").wg_keys("wg0") == on_r2).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().expect("sampler");
    let broken: Vec<&String> = on_r1.iter().filter(|k| samples.iter().any(|(s, d)| !s.contains(*k) && !d.contains(*k))).collect();
    assert!(broken.is_empty(), "moved peers carried by neither router at some moment: {broken:?}");
    assert!(
        samples.iter().any(|(s, d)| on_r1.iter().all(|k| s.contains(k) && d.contains(k))) || samples.len() < 3,
        "expected a moment where both routers carried the moved peers ({} samples)",
        samples.len()
    );
    say(&format!("rebalanced to {by_node:?} make-before-break ({} samples of both routers)", samples.len()));

    // The client: if its peer moved, its config changed; it follows and traffic flows.
    let conf3 = ClientConf::parse(&api.text(&conf_path));
    if conf3.endpoint != client.conf.endpoint {
        client.reconfigure(conf3, Switch::Rehandshake);
    }
    assert!(client_host.ping_until(target, Duration::from_secs(20)), "no traffic after the rebalance");
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}
