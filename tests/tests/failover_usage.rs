//! Usage across a Mode B migration (#15), real traffic: a witness panel `w` (no WireGuard: every
//! reading reaches it over `GET /v1/usage`, mutual TLS) and routers `r1`, `r2` share config `wg0`.
//! A stock client moves bytes through r1; the API's usage equals the client's counters. The peer
//! is moved to r2 (make-before-break), the client follows the new config, moves more bytes through
//! r2: the total keeps counting from where it was (the sum of both routers' traffic, equal to the
//! client's counters), and the serving router is now r2. Its data limit moves with it: a limit set
//! after the move is enforced through r2's readings and cuts the client there.
//!
//! Needs root and the lab's Debian packages; build the daemon first (`cargo build -p wgclusterd`).

use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, create_config, wait_for, Api, ClientConf, LabCluster, Switch, WgClient, WG_PORT};
use wgcluster_tests::lab::{Host, Lab};

const INTERVAL_S: u64 = 5;

fn traffic(host: &Host, addr: Ipv4Addr, count: u32) {
    host.exec("ping", &["-n", "-q", "-c", &count.to_string(), "-i", "0.01", "-s", "1200", "-W", "1", &addr.to_string()]);
}

/// Waits until the peer's API usage equals the client's counters (router rx = client tx, router tx
/// = client rx) within keepalive/handshake slack; returns the peer.
fn wait_usage_matches(api: &Api, client: &WgClient, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(6 * INTERVAL_S);
    loop {
        let c = client.peer().expect("client peer");
        let p = api.ok("GET", &format!("/api/configs/wg0/peers/{id}"), None);
        let (rx, tx) = (p["status"]["rx_bytes"].as_u64().unwrap_or(0), p["status"]["tx_bytes"].as_u64().unwrap_or(0));
        let tol = |v: u64| 2048 + v / 100;
        if rx.abs_diff(c.tx_bytes) <= tol(c.tx_bytes) && tx.abs_diff(c.rx_bytes) <= tol(c.rx_bytes) {
            eprintln!("  usage: api rx {rx} tx {tx}; client tx {} rx {}", c.tx_bytes, c.rx_bytes);
            return p;
        }
        assert!(Instant::now() < deadline, "usage never matched: api rx {rx} tx {tx}, client tx {} rx {}\n{p}", c.tx_bytes, c.rx_bytes);
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn usage_keeps_counting_across_a_mode_b_migration_and_the_limit_moves_with_the_peer() {
    if !failover::prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let lab = Lab::new("fo-usage");
    let client_host = lab.add_host("client");
    let cluster = LabCluster::start(&lab, &client_host, &[("w", true), ("r1", false), ("r2", false)]);
    let api = cluster.api("w");
    api.ok("PUT", "/api/settings/usage", Some(&json!({ "interval_s": INTERVAL_S })));
    let target = lab.tunnel_addr(1);
    let net = Ipv4Addr::from(u32::from(target) & 0xffff_ff00);
    create_config(&api, "wg0", &format!("{target}/24"), &format!("{net}/24"), &["r1", "r2"]);
    let laptop = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop", "node_id": "r1" })));
    let id = laptop["id"].as_str().expect("id").to_string();
    let key = laptop["public_key"].as_str().expect("key").to_string();
    wait_for("r1 to carry the peer", Duration::from_secs(30), || cluster.router("r1").wg_keys("wg0").contains(&key).then_some(()));
    let conf_path = format!("/api/configs/wg0/peers/{id}/config");
    let client = WgClient::start(&client_host, ClientConf::parse(&api.text(&conf_path)), None);
    assert!(client_host.ping_until(target, Duration::from_secs(20)), "no traffic through r1");

    traffic(&client_host, target, 150);
    let p = wait_usage_matches(&api, &client, &id);
    assert_eq!(p["status"]["serving_node"], "r1", "{p}");
    assert_eq!(p["status"]["connected"], true, "{p}");
    let before = p["status"]["rx_bytes"].as_u64().unwrap();
    say(&format!("usage through r1 matches the client ({before} bytes received)"));

    // Moved to r2 (make-before-break); the client takes the new config (same keys, new endpoint).
    api.ok("PATCH", &format!("/api/configs/wg0/peers/{id}"), Some(&json!({ "node_id": "r2" })));
    wait_for("r2 to carry the peer", Duration::from_secs(30), || cluster.router("r2").wg_keys("wg0").contains(&key).then_some(()));
    let conf2 = ClientConf::parse(&api.text(&conf_path));
    let r2_addr = cluster.router("r2").host.addr;
    assert_eq!(conf2.endpoint, format!("{r2_addr}:{WG_PORT}"));
    let mut client = client;
    client.reconfigure(conf2, Switch::Endpoint);
    assert!(client_host.ping_until(target, Duration::from_secs(20)), "no traffic through r2");
    traffic(&client_host, target, 150);
    let p = wait_usage_matches(&api, &client, &id);
    assert!(p["status"]["rx_bytes"].as_u64().unwrap() > before + 150 * 1200, "the total did not keep counting: {p}");
    assert_eq!(p["status"]["serving_node"], "r2", "the newest handshake is r2's: {p}");
    let cfg = api.ok("GET", "/api/configs/wg0", None);
    assert_eq!(cfg["status"]["peers_online_by_node"]["r2"], 1, "{cfg}");
    say("after the move to r2 the total keeps counting and matches the client");

    // The limit moves with the peer: set now, enforced from r2's readings.
    let used = p["status"]["rx_bytes"].as_u64().unwrap() + p["status"]["tx_bytes"].as_u64().unwrap();
    api.ok("PATCH", &format!("/api/configs/wg0/peers/{id}"), Some(&json!({ "data_limit_bytes": used + 100_000 })));
    traffic(&client_host, target, 100);
    let p = wait_for("the peer cut by its data limit", Duration::from_secs(4 * INTERVAL_S), || {
        let p = api.ok("GET", &format!("/api/configs/wg0/peers/{id}"), None);
        (p["enabled"] == false).then_some(p)
    });
    assert_eq!(p["limited"], "data_limit_bytes", "{p}");
    wait_for("r2 to drop the peer", Duration::from_secs(15), || (!cluster.router("r2").wg_keys("wg0").contains(&key)).then_some(()));
    assert!(!cluster.router("r1").wg_keys("wg0").contains(&key), "r1 still carries the limited peer");
    say("the data limit, set after the move, cut the peer on r2");
    drop(client);
}
