//! The data plane end to end, Mode B, one router: the real `wgclusterd` in a lab namespace
//! programs the real wireguard-go it starts; a stock client brings up a peer's downloaded config
//! and pings the router through the tunnel; `wg show` on the router equals the desired state; a
//! disabled peer's handshake fails and re-enabling restores it; a deleted peer's handshake fails.

mod dataplane_common;

use dataplane_common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use wgcluster_tests::lab::{self, Lab};

#[test]
fn mode_b_peers_reach_the_router_and_follow_the_api() {
    if !lab::ensure_prereqs() {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new("dp-mode-b");
    let mut router = Router::new(&lab, "r1", 2);
    let client_host = lab.add_host("client");
    router.start();
    let router_tun = router.create_config(&lab, 24);
    // Three peers through the API, one request each.
    let peers: Vec<_> =
        (0..3).map(|i| router.ok("POST", &format!("/api/configs/{IFACE}/peers"), Some(&json!({ "name": format!("p{i}") })))).collect();
    for p in &peers {
        assert_eq!(p["node_id"], "r1", "Mode B: the peer lives on the config's one node: {p}");
    }

    // `wg show` on the router (stock tool, inside its namespace) equals the desired state.
    let shown = router.wait_wg_equals_desired(Duration::from_secs(15));
    assert_eq!(shown.peers.len(), 3);
    let config = router.ok("GET", &format!("/api/configs/{IFACE}"), None);
    assert_eq!(shown.public_key, config["public_key"].as_str().expect("config public key"), "{config}");
    assert_eq!(shown.listen_port, WG_PORT);
    for p in &peers {
        let key = p["public_key"].as_str().unwrap();
        let ips: Vec<String> = p["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        assert_eq!(shown.peers[key].iter().cloned().collect::<Vec<_>>(), ips, "allowed IPs of {key}");
    }
    let pids = router.wg_pids();
    assert_eq!(pids.len(), 1, "one wireguard-go for the one interface: {pids:?}");

    // A client with p0's downloaded config pings the router's tunnel address.
    let id = peers[0]["id"].as_str().map(str::to_string).unwrap_or_else(|| peers[0]["id"].to_string());
    let conf = router.text(&format!("/api/configs/{IFACE}/peers/{id}/config"));
    assert!(conf.contains(&format!("Endpoint = {}:{WG_PORT}", router.host.addr)), "{conf}");
    let client = Client::start(&client_host, &conf);
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "no ping through the tunnel");
    assert!(client.last_handshake() > 0);
    eprintln!("  tunnel up after {:?}", t0.elapsed());

    // Disabled: the router drops the peer, a fresh handshake fails, nothing gets through.
    router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "enabled": false })));
    let shown = router.wait_wg_equals_desired(Duration::from_secs(10));
    assert_eq!(shown.peers.len(), 2);
    assert!(!shown.peers.contains_key(peers[0]["public_key"].as_str().unwrap()));
    client.reset_session();
    assert!(client.no_reply_for(router_tun, Duration::from_secs(3)), "a disabled peer still gets through");
    assert_eq!(client.last_handshake(), 0, "a disabled peer completed a handshake");

    // Re-enabled: the client's handshake retries (every 5 s) succeed again.
    let t = Instant::now();
    router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "enabled": true })));
    assert_eq!(router.wait_wg_equals_desired(Duration::from_secs(10)).peers.len(), 3);
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "re-enabled peer does not get through");
    assert!(client.last_handshake() > 0);
    eprintln!("  re-enabled peer through again after {:?}", t.elapsed());

    // Deleted: gone from the router; the client's handshake fails.
    router.ok("DELETE", &format!("/api/configs/{IFACE}/peers/{id}"), None);
    let shown = router.wait_wg_equals_desired(Duration::from_secs(10));
    assert_eq!(shown.peers.len(), 2);
    client.reset_session();
    assert!(client.no_reply_for(router_tun, Duration::from_secs(3)), "a deleted peer still gets through");
    assert_eq!(client.last_handshake(), 0, "a deleted peer completed a handshake");

    // The same wireguard-go all along: every change was applied in place.
    assert_eq!(router.wg_pids(), pids);
    let wg = router.wg_stats();
    assert_eq!(wg["errors"], 0, "{wg}");
    assert_eq!(wg["applied_version"].as_u64(), Some(router.state_version()), "{wg}");
    eprintln!("  total {:?}; reconciler {wg}", t0.elapsed());
}
