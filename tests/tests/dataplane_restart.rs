//! The data plane outlives the daemon (userspace backend): with 1,000 peers programmed, the
//! daemon is stopped (SIGTERM to its process group, as a service manager does); its wireguard-go
//! keeps running and keeps forwarding the client's traffic; the restarted daemon adopts it, and
//! its first reconcile finds nothing to change and changes nothing. Then the adopted process is
//! killed: the supervisor (which adopted it by PID) starts a new one at once — well before the
//! next periodic resync (30 s here) — and every peer is restored.

mod dataplane_common;

use serde_json::json;

use dataplane_common::*;
use std::time::{Duration, Instant};
use wgcluster_tests::lab::{self, Lab};

const PEERS: usize = 1000;

#[test]
fn restart_with_1000_peers_adopts_the_running_interface_and_changes_nothing() {
    if !lab::ensure_prereqs() {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new("dp-restart");
    // A long resync period: what heals the adopted process below is its supervision.
    let mut router = Router::new(&lab, "r1", 30);
    let client_host = lab.add_host("client");
    router.start();
    let router_tun = router.create_config(&lab, 22);
    let peers = router.create_peers("r", PEERS);
    let shown = router.wait_wg_equals_desired(Duration::from_secs(30));
    assert_eq!(shown.peers.len(), PEERS);
    let id = peers[0]["id"].as_str().map(str::to_string).unwrap_or_else(|| peers[0]["id"].to_string());
    let client = Client::start(&client_host, &router.text(&format!("/api/configs/{IFACE}/peers/{id}/config")));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "no ping through the tunnel");
    let pids = router.wg_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let wg_pid = pids[0];
    let wg_started = live_start_time(wg_pid).expect("wireguard-go start time");
    eprintln!("  {PEERS} peers programmed, client up after {:?}", t0.elapsed());

    // Stop the daemon the way a service manager does: SIGTERM to its whole process group.
    let status = router.stop().expect("daemon exit status");
    assert!(status.success(), "wgclusterd did not exit cleanly: {status:?}\n{}", router.log_tail(30));
    assert!(router.log().contains("leaving the userspace data plane for"), "no detach on shutdown:\n{}", router.log_tail(30));
    // The data plane is untouched: same process, all peers, and it still forwards.
    assert_eq!(live_start_time(wg_pid), Some(wg_started), "wireguard-go {wg_pid} did not survive the daemon's stop");
    assert_eq!(uapi_peer_count(&router.uapi_sock()), Some(PEERS));
    client.reset_session(); // a fresh handshake too, not just the running session
    assert!(client.host.ping_until(router_tun, Duration::from_secs(10)), "no traffic while the daemon is down");

    // Restart: the first reconcile adopts the interface and applies nothing.
    let restarted = Instant::now();
    router.start();
    let wg = wait_for("the first reconcile after the restart", Duration::from_secs(20), || {
        let wg = router.wg_stats();
        (wg["passes"].as_u64()? >= 1).then_some(wg)
    });
    eprintln!("  after restart ({:?}): {wg}", restarted.elapsed());
    assert_eq!(wg["ops_total"], 0, "the first reconcile after a restart changed something: {wg}\n{}", router.log_tail(30));
    assert_eq!(wg["errors"], 0, "{wg}");
    // A state change that does not concern this interface: still nothing to do.
    let passes = wg["passes"].as_u64().unwrap();
    router.ok("POST", "/api/configs", Some(&json!({ "name": "other0", "address": "10.255.254.1/24", "listen_port": 51999 })));
    let wg = wait_for("a pass after a state change", Duration::from_secs(10), || {
        let wg = router.wg_stats();
        (wg["passes"].as_u64()? > passes && wg["applied_version"].as_u64() == Some(router.state_version())).then_some(wg)
    });
    assert_eq!(wg["ops_total"], 0, "{wg}");
    assert_eq!(wg["applied_version"].as_u64(), Some(router.state_version()), "{wg}");
    assert_eq!(router.wg_pids(), vec![wg_pid], "the interface was re-created instead of adopted");
    assert_eq!(live_start_time(wg_pid), Some(wg_started));
    assert!(router.log().contains(&format!("{IFACE}: adopted the running interface (0 change(s) needed)")));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(5)));

    // The adopted process dies (it is not the daemon's child): the supervisor notices through
    // /proc, starts a new one and the reconciler restores every peer.
    // SAFETY: kill(2) on the wireguard-go PID listed in the lab router's namespace.
    unsafe {
        libc::kill(wg_pid, libc::SIGKILL);
    }
    let killed = Instant::now();
    let new_pid = wait_for("a new wireguard-go", Duration::from_secs(10), || router.wg_pids().into_iter().find(|p| *p != wg_pid));
    wait_for("all peers restored", Duration::from_secs(10), || (uapi_peer_count(&router.uapi_sock()) == Some(PEERS)).then_some(()));
    eprintln!("  adopted wireguard-go killed; {new_pid} carries {PEERS} peers after {:?}", killed.elapsed());
    assert!(killed.elapsed() < Duration::from_secs(10), "not healed by supervision (resync is 30 s)");
    assert!(router.log().contains(&format!("adopted userspace data plane for {IFACE} (pid {wg_pid}) is gone")), "{}", router.log_tail(30));
    router.wait_wg_equals_desired(Duration::from_secs(10));
    client.reset_session();
    assert!(client.host.ping_until(router_tun, Duration::from_secs(10)), "client traffic did not resume");
    let wg = router.wg_stats();
    assert!(wg["ops_total"].as_u64().unwrap() > PEERS as u64, "{wg}");
    eprintln!("  total {:?}", t0.elapsed());

    // Lab cleanup reaches the detached data plane too (it lives in the router's namespace).
    let ns = router.host.ns.clone();
    let new_started = live_start_time(new_pid).expect("new wireguard-go alive");
    drop(client);
    drop(router);
    drop(lab);
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        live_start_time(new_pid) != Some(new_started)
    });
    assert!(gone, "wireguard-go {new_pid} outlived the lab");
    assert!(!std::path::Path::new("/var/run/netns").join(ns).exists());
}
