//! Drift heals by reconciliation (DESIGN §2 rule 2), on the real daemon and wireguard-go:
//! a peer removed behind the daemon's back with stock `wg` is back within one resync period, and
//! a `kill -9` of the router's wireguard-go is healed — restarted, peers restored, the client's
//! traffic through the tunnel resumes.

mod dataplane_common;

use dataplane_common::*;
use std::time::{Duration, Instant};
use wgcluster_tests::lab::{self, wait_until, Lab};

const RESYNC_S: u64 = 2;

#[test]
fn manual_edits_and_a_killed_wireguard_go_are_healed() {
    if !lab::ensure_prereqs() {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new("dp-drift");
    let mut router = Router::new(&lab, "r1", RESYNC_S);
    let client_host = lab.add_host("client");
    router.start();
    let router_tun = router.create_config(&lab, 24);
    let peers = router.create_peers("d", 3);
    router.wait_wg_equals_desired(Duration::from_secs(15));
    let id = peers[0]["id"].as_str().map(str::to_string).unwrap_or_else(|| peers[0]["id"].to_string());
    let client = Client::start(&client_host, &router.text(&format!("/api/configs/{IFACE}/peers/{id}/config")));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "no ping through the tunnel");

    // 1. `wg set … peer X remove` behind the daemon's back: back within one resync period.
    let victim = peers[1]["public_key"].as_str().unwrap().to_string();
    let healed_before = router.wg_stats()["drift_healed"].as_u64().unwrap();
    router.host.exec_ok("wg", &["set", IFACE, "peer", &victim, "remove"]);
    let removed_at = Instant::now();
    assert!(!router.wg_show().expect("wg show").peers.contains_key(&victim));
    let ok = wait_until(Duration::from_secs(RESYNC_S) + Duration::from_millis(1500), Duration::from_millis(20), || {
        router.wg_show().is_some_and(|s| s.peers.contains_key(&victim))
    });
    assert!(ok, "the removed peer was not restored within one resync period ({RESYNC_S} s); log:\n{}", router.log_tail(30));
    eprintln!("  manual removal healed after {:?}", removed_at.elapsed());
    router.wait_wg_equals_desired(Duration::from_secs(5));
    let wg = router.wg_stats();
    assert!(wg["drift_healed"].as_u64().unwrap() > healed_before, "{wg}");

    // 2. kill -9 of the router's wireguard-go: restarted, peers restored, traffic resumes.
    let pids = router.wg_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    // SAFETY: kill(2) on the wireguard-go PID just listed in the lab router's namespace.
    unsafe {
        libc::kill(pids[0], libc::SIGKILL);
    }
    let killed_at = Instant::now();
    let new_pid = wait_for("a new wireguard-go", Duration::from_secs(10), || router.wg_pids().into_iter().find(|p| *p != pids[0]));
    let shown = router.wait_wg_equals_desired(Duration::from_secs(10));
    assert_eq!(shown.peers.len(), 3);
    eprintln!("  wireguard-go {} killed; {new_pid} serves all peers after {:?}", pids[0], killed_at.elapsed());
    // The client still holds a session the new process never had: its handshake retry (after
    // 15 s without an answer) re-establishes the tunnel.
    assert!(client.host.ping_until(router_tun, Duration::from_secs(30)), "client traffic did not resume");
    eprintln!("  client traffic resumed {:?} after the kill", killed_at.elapsed());
    assert!(router.log().contains("restarted as pid"), "the supervisor did not report the restart");
    assert_eq!(router.wg_pids(), vec![new_pid]);
    eprintln!("  total {:?}; reconciler {}", t0.elapsed(), router.wg_stats());
}
