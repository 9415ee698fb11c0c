//! Peer status, usage and limits end to end (#15), one router with real WireGuard traffic: the real
//! `wgclusterd` in a lab namespace with the wireguard-go it starts, a stock client in another
//! namespace moving bytes with `ping -s 1200`. The usage interval is 5 s.
//!
//! - The API's usage equals the client's own counters (router rx = client tx, router tx = client
//!   rx, within a small tolerance: keepalives and handshakes in flight), with the status object
//!   (connected, serving router, endpoint, handshake) and the config summary.
//! - A daemon restart (interface adopted, counters go on) and a killed wireguard-go (counters
//!   restart from zero, a new interface epoch) lose nothing: the totals keep matching the client.
//! - A data limit cuts the peer within about one interval (`peer_limit_reached`, traffic stops);
//!   raising it brings the peer back; an expiry in the past disables at once; removing it restores.

mod dataplane_common;

use dataplane_common::*;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use wgcluster_tests::lab::{self, Lab};

const INTERVAL_S: u64 = 5;

/// The client's counters with the server: (rx, tx).
fn client_transfer(client: &Client) -> (u64, u64) {
    let out = client.host.exec_ok("wg", &["show", "wg0", "transfer"]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3 && f[0] == client.server_key).then(|| (f[1].trim().parse().unwrap_or(0), f[2].trim().parse().unwrap_or(0)))
        })
        .next()
        .unwrap_or((0, 0))
}

/// `count` pings of 1,200 bytes, 10 ms apart.
fn traffic(client: &Client, addr: Ipv4Addr, count: u32) {
    client.host.exec("ping", &["-n", "-q", "-c", &count.to_string(), "-i", "0.01", "-s", "1200", "-W", "1", &addr.to_string()]);
}

fn peer(router: &Router, id: &str) -> Value {
    router.ok("GET", &format!("/api/configs/{IFACE}/peers/{id}"), None)
}

/// Waits until the API's usage of `id` is within `tol` of the client's counters plus `base` (what
/// they held before the client last forgot its session, which zeroes them): rx of the router = tx
/// of the client and the other way round; `rx_slack` allows the router to have received less
/// (client packets sent while the router's data plane was down). Returns the peer.
fn wait_usage_matches(router: &Router, client: &Client, base: (u64, u64), id: &str, rx_slack: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(6 * INTERVAL_S);
    loop {
        let (crx, ctx) = client_transfer(client);
        let (crx, ctx) = (crx + base.0, ctx + base.1);
        let p = peer(router, id);
        let (rx, tx) = (p["status"]["rx_bytes"].as_u64().unwrap_or(0), p["status"]["tx_bytes"].as_u64().unwrap_or(0));
        let tol = |v: u64| 2048 + v / 100;
        let rx_ok = rx <= ctx + tol(ctx) && rx + tol(ctx) + rx_slack >= ctx;
        let tx_ok = tx.abs_diff(crx) <= tol(crx);
        if rx_ok && tx_ok {
            eprintln!("  usage: api rx {rx} tx {tx}; client tx {ctx} rx {crx}");
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "usage never matched the client: api rx {rx} tx {tx}, client tx {ctx} rx {crx}\n{p}\n{}",
            router.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn usage_follows_real_traffic_across_restarts_and_limits_cut_it() {
    if !lab::ensure_prereqs() {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new("dp-usage");
    let mut router = Router::new(&lab, "r1", 30);
    let client_host = lab.add_host("client");
    router.start();
    let s = router.ok("PUT", "/api/settings/usage", Some(&json!({ "interval_s": INTERVAL_S })));
    assert_eq!(s["interval_s"], INTERVAL_S, "{s}");
    let router_tun = router.create_config(&lab, 24);
    let peers = router.create_peers("u", 2);
    let id = peers[0]["id"].as_str().expect("peer id").to_string();
    assert_eq!(peers[0]["status"]["connected"], false, "{}", peers[0]);
    router.wait_wg_equals_desired(Duration::from_secs(15));
    let client = Client::start(&client_host, &router.text(&format!("/api/configs/{IFACE}/peers/{id}/config")));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "no ping through the tunnel");

    // Bytes moved, the API agrees with the client; status and summary.
    traffic(&client, router_tun, 200);
    let p = wait_usage_matches(&router, &client, (0, 0), &id, 0);
    let st = &p["status"];
    assert_eq!(st["connected"], true, "{p}");
    assert_eq!(st["serving_node"], "r1", "{p}");
    assert!(st["endpoint"].as_str().unwrap_or_default().starts_with(&format!("{}:", client.host.addr)), "{p}");
    assert!(st["latest_handshake"].as_u64().unwrap_or(0) > 0, "{p}");
    assert!(st["rx_bytes"].as_u64().unwrap() > 200 * 1200, "{p}");
    let cfg = router.ok("GET", &format!("/api/configs/{IFACE}"), None);
    assert_eq!(cfg["status"]["peers_online"], 1, "{cfg}");
    assert_eq!(cfg["status"]["peers_online_by_node"]["r1"], 1, "{cfg}");
    let other = peer(&router, peers[1]["id"].as_str().unwrap());
    assert_eq!(other["status"]["connected"], false, "{other}");
    // History: the hourly buckets add up to the totals.
    let u = router.ok("GET", &format!("/api/configs/{IFACE}/peers/{id}/usage?step=hour"), None);
    let sum = |k: &str| u["buckets"].as_array().unwrap().iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("rx_bytes"), sum("tx_bytes")), (u["rx_bytes"].as_u64().unwrap(), u["tx_bytes"].as_u64().unwrap()), "{u}");
    let metrics = router.text("/metrics");
    assert!(
        metrics.contains("wgcluster_usage_rx_bytes_total{node=\"r1\"}") && metrics.contains("wgcluster_peers_connected{node=\"r1\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("wgcluster_peer_rx_bytes_total{"), "per-peer series are off by default");
    eprintln!("  usage matches after {:?}", t0.elapsed());

    // Daemon restart: the interface is adopted, its counters go on; nothing counted twice.
    router.stop();
    traffic(&client, router_tun, 100);
    router.start();
    traffic(&client, router_tun, 100);
    wait_usage_matches(&router, &client, (0, 0), &id, 0);
    eprintln!("  daemon restart: usage still matches after {:?}", t0.elapsed());

    // wireguard-go killed: the router's counters restart from zero; the totals go on.
    let pids = router.wg_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    // SAFETY: kill(2) on the wireguard-go PID listed in the lab router's namespace.
    unsafe {
        libc::kill(pids[0], libc::SIGKILL);
    }
    wait_for("a new wireguard-go", Duration::from_secs(10), || router.wg_pids().into_iter().find(|p| *p != pids[0]));
    router.wait_wg_equals_desired(Duration::from_secs(10));
    // The client forgets its session (its counters restart from zero too: kept in `base`).
    let base = client_transfer(&client);
    client.reset_session();
    assert!(client.host.ping_until(router_tun, Duration::from_secs(15)), "no traffic after the data plane restart");
    traffic(&client, router_tun, 150);
    // The client may have sent a keepalive or a handshake initiation into the outage.
    let p = wait_usage_matches(&router, &client, base, &id, 4 * 1024);
    eprintln!("  wireguard-go restart (counter reset): usage still matches after {:?}", t0.elapsed());

    // A data limit 150 KB above the usage: crossed by the next traffic, the peer is cut.
    let used = p["status"]["rx_bytes"].as_u64().unwrap() + p["status"]["tx_bytes"].as_u64().unwrap();
    let limit = used + 150_000;
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "data_limit_bytes": limit })));
    assert_eq!((p["enabled"].clone(), p["data_limit_bytes"].clone()), (json!(true), json!(limit)), "{p}");
    let crossing = Instant::now();
    // 100 pings (~260 KB both ways) cross it within a second; then keep pinging until cut.
    traffic(&client, router_tun, 100);
    let crossed = crossing.elapsed();
    let p = wait_for("the peer cut by its data limit", Duration::from_secs(4 * INTERVAL_S), || {
        let p = peer(&router, &id);
        (p["enabled"] == false).then_some(p)
    });
    let cut_after = crossing.elapsed();
    assert_eq!(p["limited"], "data_limit_bytes", "{p}");
    let audit = router.ok("GET", "/api/audit-logs?action=peer_limit_reached", None);
    let text = audit.to_string();
    assert!(text.contains(&id) && text.contains("\"limit\":\"data_limit_bytes\""), "{audit}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    client.reset_session();
    assert!(client.no_reply_for(router_tun, Duration::from_secs(3)), "traffic still flows past the data limit");
    eprintln!("  data limit crossed within {crossed:?}; peer cut {cut_after:?} after the traffic started (interval {INTERVAL_S} s)");

    // Raised: back at once, traffic flows.
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "data_limit_bytes": limit + 50_000_000 })));
    assert_eq!((p["enabled"].clone(), p["limited"].clone()), (json!(true), Value::Null), "{p}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "raised limit: no traffic");

    // An expiry in the past disables at once (in the answer to the change itself).
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "expires_at": "2020-01-01T00:00:00Z" })));
    assert_eq!((p["enabled"].clone(), p["limited"].clone()), (json!(false), json!("expires_at")), "{p}");
    assert_eq!(p["expires_at"], 1_577_836_800_000u64, "{p}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    client.reset_session();
    assert!(client.no_reply_for(router_tun, Duration::from_secs(3)), "an expired peer still gets through");
    // Expiry removed: back.
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "expires_at": null })));
    assert_eq!((p["enabled"].clone(), p["limited"].clone(), p["expires_at"].clone()), (json!(true), Value::Null, Value::Null), "{p}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "expiry removed: no traffic");

    // A limit on one direction: the bytes sent to the peer (tx), 100 KB above its tx so far.
    let p = peer(&router, &id);
    let tx_limit = p["status"]["tx_bytes"].as_u64().unwrap() + 100_000;
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "tx_limit_bytes": tx_limit })));
    assert_eq!((p["enabled"].clone(), p["tx_limit_bytes"].clone()), (json!(true), json!(tx_limit)), "{p}");
    traffic(&client, router_tun, 100);
    let p = wait_for("the peer cut by its tx limit", Duration::from_secs(4 * INTERVAL_S), || {
        let p = peer(&router, &id);
        (p["enabled"] == false).then_some(p)
    });
    assert_eq!(p["limited"], "tx_limit_bytes", "{p}");
    assert!(p["status"]["tx_bytes"].as_u64().unwrap() >= tx_limit, "{p}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    client.reset_session();
    assert!(client.no_reply_for(router_tun, Duration::from_secs(3)), "traffic still flows past the tx limit");
    let p = router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "tx_limit_bytes": null })));
    assert_eq!((p["enabled"].clone(), p["limited"].clone()), (json!(true), Value::Null), "{p}");
    router.wait_wg_equals_desired(Duration::from_secs(10));
    assert!(client.host.ping_until(router_tun, Duration::from_secs(20)), "tx limit removed: no traffic");

    // A peer created already expired is created disabled.
    let late = router.ok("POST", &format!("/api/configs/{IFACE}/peers"), Some(&json!({ "name": "late", "expires_at": "2001-01-01" })));
    assert_eq!((late["enabled"].clone(), late["limited"].clone()), (json!(false), json!("expires_at")), "{late}");
    let wg = router.wg_stats();
    assert_eq!(wg["errors"], 0, "{wg}");

    // Storage written per batch (one active peer): the daemon's `write_bytes` (its data dir and
    // its debug log, both on disk here) over four intervals of steady traffic, per applied command.
    let daemon = pids_in_ns(&router.host.ns, "wgclusterd");
    assert_eq!(daemon.len(), 1, "{daemon:?}");
    let write_bytes = || -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", daemon[0])).expect("/proc/<pid>/io");
        io.lines().find_map(|l| l.strip_prefix("write_bytes: ")).and_then(|v| v.trim().parse().ok()).expect("write_bytes")
    };
    let applied = || -> u64 {
        let m = router.text("/metrics");
        m.lines().find_map(|l| l.strip_prefix("wgcluster_raft_applied_index ")).and_then(|v| v.trim().parse().ok()).expect("applied index")
    };
    let mut pinger = client.host.spawn("ping", &["-n", "-q", "-i", "0.2", "-s", "100", &router_tun.to_string()]);
    std::thread::sleep(Duration::from_secs(INTERVAL_S));
    let (w0, a0) = (write_bytes(), applied());
    std::thread::sleep(Duration::from_secs(4 * INTERVAL_S));
    let (w1, a1) = (write_bytes(), applied());
    client.host.stop(&mut pinger);
    let batches = a1 - a0;
    assert!((3..=5).contains(&batches), "one batch per interval: {batches} commands in {} s", 4 * INTERVAL_S);
    let per_batch = (w1 - w0) / batches;
    eprintln!("  storage: {} bytes written for {batches} usage batches ({per_batch} per batch, one active peer)", w1 - w0);
    assert!(per_batch < 256 * 1024, "{per_batch} bytes per batch");
    eprintln!("  total {:?}", t0.elapsed());
}
