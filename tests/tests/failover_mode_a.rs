//! Mode A failover with real traffic: three routers in the network lab share config `wg0` with a
//! cluster endpoint (`vpn.example.test`, kept in a real BIND9 by the panel over RFC 2136); a stock
//! client (wireguard-go + `wg`) resolves the name through the lab DNS and pings through one router;
//! that router loses power (every process in its namespace killed by PID). The client's re-resolve
//! watchdog (1 s period) follows DNS to a healthy router and traffic resumes. Afterwards, through a
//! surviving router's API: every peer is homed exactly once on a healthy node, no address is
//! given twice, DNS lists exactly the survivors, and each survivor's wireguard-go carries every peer.
//! Run twice: the dead router is a follower, and the dead router is the panel itself.
//!
//! Needs root and the lab's Debian packages (installed when missing); under `CI=true` a missing
//! prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, fmt_s, placement_problems, ModeA, Switch, ENDPOINT_NAME};

#[test]
fn mode_a_client_follows_dns_to_a_healthy_router_after_its_router_dies() {
    failover_with_traffic(false);
}

/// The same when the router the client uses is the panel: a new panel is elected, its own health
/// monitor finds the dead router, and it updates DNS.
#[test]
fn mode_a_client_follows_dns_when_the_dead_router_was_the_panel() {
    failover_with_traffic(true);
}

fn failover_with_traffic(via_panel: bool) {
    if !failover::prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut a = ModeA::setup(if via_panel { "fo-mode-a-panel" } else { "fo-mode-a" }, 30, via_panel, &say);
    let dead = a.via.clone();
    // The watchdog follows DNS; "nothing received for 10 s" is its fallback (a few seconds more
    // than the cluster needs to take a dead router out of DNS).
    let f = a.fail_and_recover(Switch::Rehandshake, Some(Duration::from_secs(10)), Duration::from_secs(45), &say);
    eprintln!(
        "  failure -> detected unhealthy {} / migration committed {} ({:?} peers) / DNS changed {} / \
         watchdog switched {} / traffic restored {} (outage {})",
        fmt_s(f.detected_s),
        fmt_s(f.migrated_s),
        f.migrated_count,
        fmt_s(f.dns_changed_s),
        fmt_s(f.switched_s),
        fmt_s(f.restored_s),
        fmt_s(f.outage_s)
    );
    let restored = f.restored_s.unwrap_or_else(|| {
        panic!("client traffic did not come back within 45 s of killing {dead}; watchdog: {:?}", a.watchdog.as_ref().map(|w| w.events()))
    });
    // The design target is 10 s; a loaded 2-core CI box gets some slack, never a minute.
    assert!(restored < 30.0, "traffic restored only after {restored:.1} s");
    assert!(f.detected_s.is_some(), "the panel never marked {dead} unhealthy");

    // The client now talks to a healthy router (one that DNS lists).
    let survivors: Vec<String> = a.cluster.live_wg_routers();
    assert_eq!(survivors.len(), 2);
    if via_panel {
        let leader = a.cluster.wait_leader(&[&dead], Duration::from_secs(10));
        say(&format!("the new panel is {leader}"));
    }
    let survivor_addrs: BTreeSet<String> = survivors.iter().map(|r| a.cluster.router(r).host.addr.to_string()).collect();
    let now_ip = a.client.endpoint_ip().expect("client endpoint");
    assert!(survivor_addrs.contains(&now_ip), "client endpoint {now_ip} is not a survivor {survivor_addrs:?}");
    let dns_now: BTreeSet<String> = a.dns.query(&a.client_host, ENDPOINT_NAME, "A").into_iter().collect();
    assert_eq!(dns_now, survivor_addrs, "DNS must list exactly the healthy routers");

    // Through a surviving router's API: the dead router is unhealthy, every peer re-homed once.
    let api = a.cluster.any_api(&[&dead]);
    let health = api.node_health();
    assert_eq!(health.get(&dead), Some(&false), "{health:?}");
    let peers = failover::wait_for("every peer re-homed on a healthy node", Duration::from_secs(30), || {
        let peers = api.peers("wg0");
        placement_problems(&peers, &survivors).is_empty().then_some(peers)
    });
    assert_eq!(peers.len(), 31);
    let problems = placement_problems(&peers, &survivors);
    assert!(problems.is_empty(), "{problems:#?}");
    eprintln!("  load after failover: {:?}", failover::load_by_node(&peers));
    let migrated = api.audit("peer_migrated");
    let off_dead: Vec<_> = migrated.iter().filter(|e| e["entity_id"] == format!("wg0:{dead}").as_str()).collect();
    assert_eq!(off_dead.len(), 1, "one migration command (one audit entry with the count): {off_dead:?}");

    // Mode A: each survivor's wireguard-go carries every peer (same identity, same peers).
    let keys: BTreeSet<String> = peers.iter().map(|p| p["public_key"].as_str().unwrap_or("").to_string()).collect();
    for r in &survivors {
        let got = a.cluster.router(r).wg_keys("wg0");
        assert_eq!(got, keys, "{r}'s wireguard-go does not carry exactly the config's peers");
    }
    // And traffic keeps flowing.
    assert!(a.client_host.ping_until(a.target, Duration::from_secs(10)));
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}
