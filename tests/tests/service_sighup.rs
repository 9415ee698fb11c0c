//! SIGHUP against the real daemon, as procd sends it after `uci commit wgcluster` (LuCI's Save &
//! Apply): a new `endpoint` in the UCI file reaches `GET /api/nodes` and the cluster domain's
//! records on a real BIND9 (RFC 2136 + TSIG); options that need a restart are named in the log and
//! left as they were; a broken file keeps the daemon running on the config it had, with the
//! error's FILE:LINE in the log, and a good file after it is applied again.
//!
//! The data plane options, against a daemon in a lab router namespace running real wireguard-go
//! with a client pinging through it (this host has no WireGuard kernel module, so the kernel side
//! of a switch is shown by the VM test, tests/vm): `wg_backend 'kernel'` without the module is
//! refused and the running interface kept; `auto` falls back to (stays on) userspace; a new
//! `uapi_dir` is a clean switch to a new wireguard-go — the old process stopped, its socket gone,
//! every peer programmed on the new one, the tunnel up again, state changes and drift healing
//! continuing on it.
//!
//! Needs bind9 and bind9-dnsutils, and the lab's tools (tests/scripts/prereqs.sh); under
//! `CI=true` a missing prerequisite fails, it never skips.

mod dataplane_common;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wgcluster_tests::bind9::{self, Bind9};
use wgcluster_tests::daemon::{Daemon, Options};
use wgcluster_tests::lab::{self, Lab};

const NAME: &str = "vpn.example.test";

fn sighup(d: &Daemon) {
    let pid = d.pid().expect("the daemon runs");
    // SAFETY: kill(2) on the PID of the harness's child, which has not been reaped (the harness
    // holds its `Child`), so the PID cannot have been reused.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
    assert_eq!(rc, 0, "kill -HUP {pid}");
}

fn wait_until(what: &str, d: &Daemon, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}\ndaemon log:\n{}", d.log_tail(60));
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn node_endpoint(d: &Daemon, id: &str) -> Value {
    let nodes = d.ok("GET", "/api/nodes", None);
    let list = nodes.as_array().cloned().unwrap_or_default();
    list.into_iter().find(|n| n["id"] == id).map(|n| n["endpoint"].clone()).unwrap_or(Value::Null)
}

/// Log lines that contain `needle`.
fn lines_with(d: &Daemon, needle: &str) -> Vec<String> {
    d.log().lines().filter(|l| l.contains(needle)).map(String::from).collect()
}

#[test]
fn sighup_applies_endpoint_warns_about_restart_options_and_survives_a_broken_file() {
    if !bind9::ensure_bind9() {
        return;
    }
    let b = Bind9::start();
    let mut d = Daemon::start(Options::default().tag("sighup"));
    let rfc = json!({ "rfc2136": { "server": b.server(), "zone": bind9::ZONE, "key_name": bind9::KEY_NAME, "key_secret": b.key_secret, "algorithm": bind9::ALGORITHM } });
    d.ok("PUT", "/api/settings/dns", Some(&rfc));
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.77.0.1/24", "listen_port": 51820 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(&json!({ "node_id": "node1" })));
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(&json!({ "domain": NAME, "provider": "rfc2136", "ttl": 60 })));
    b.wait_for(NAME, &["192.0.2.1"], Duration::from_secs(20)).unwrap_or_else(|got| panic!("first publish: {got:?}\n{}", d.log_tail(40)));
    assert_eq!(node_endpoint(&d, "node1"), "192.0.2.1");

    // The new endpoint and two restart-only options, then SIGHUP.
    d.setup.opts.endpoint = Some("198.51.100.7".into());
    d.setup.opts.extra_uci = vec!["option heartbeat_ms '250'".into(), "option resync_interval_s '5'".into()];
    d.setup.write_config();
    let t = Instant::now();
    sighup(&d);
    wait_until("GET /api/nodes shows the new endpoint", &d, Duration::from_secs(10), || node_endpoint(&d, "node1") == "198.51.100.7");
    let api = t.elapsed();
    b.wait_for(NAME, &["198.51.100.7"], Duration::from_secs(20))
        .unwrap_or_else(|got| panic!("records after SIGHUP: {got:?}\n{}", d.log_tail(40)));
    eprintln!("endpoint change: in GET /api/nodes after {api:?}, in DNS after {:?}", t.elapsed());
    wait_until("the reload is logged", &d, Duration::from_secs(5), || !lines_with(&d, "reloaded ").is_empty());
    let applied = lines_with(&d, "option endpoint changed (192.0.2.1 -> 198.51.100.7): applied");
    assert_eq!(applied.len(), 1, "{}", d.log_tail(40));
    assert!(applied[0].starts_with("<6>"), "info severity: {}", applied[0]);
    for name in ["option heartbeat_ms changed (300 -> 250)", "option resync_interval_s changed (30 -> 5)"] {
        let got = lines_with(&d, name);
        assert_eq!(got.len(), 1, "{name}: {}", d.log_tail(40));
        assert!(got[0].ends_with("restart wgcluster to apply") && got[0].starts_with("<4>"), "{}", got[0]);
    }
    // The endpoint change was written once, as this router's own registration.
    let audit = d.ok("GET", "/api/audit-logs?action=node_registered&limit=100", None).to_string();
    assert!(audit.contains("198.51.100.7"), "{audit}");

    // A broken file: the error names FILE:LINE, the daemon keeps running on the old config.
    let good = std::fs::read_to_string(&d.setup.config_path).expect("read the config");
    let broken = good.replace("option endpoint '198.51.100.7'", "option endpoint '203.0.113.9'\n\toption api_listen 'nowhere'");
    assert_ne!(broken, good, "the config holds the endpoint line: {good}");
    std::fs::write(&d.setup.config_path, &broken).expect("write the broken config");
    let line = broken.lines().position(|l| l.contains("api_listen 'nowhere'")).expect("the bad line") + 1;
    let want = format!("{}:{line}: option 'api_listen': 'nowhere' is not an address:port", d.setup.config_path.display());
    sighup(&d);
    wait_until("the reload error is logged", &d, Duration::from_secs(5), || !lines_with(&d, &want).is_empty());
    let err = lines_with(&d, &want);
    assert!(err[0].starts_with("<3>"), "error severity: {}", err[0]);
    assert!(!lines_with(&d, "still running on the config read before").is_empty(), "{}", d.log_tail(20));
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.is_running(), "the daemon exited on a broken config:\n{}", d.log_tail(40));
    assert_eq!(node_endpoint(&d, "node1"), "198.51.100.7", "nothing of the broken file was applied");
    assert_eq!(b.addresses(NAME), vec!["198.51.100.7".to_string()]);

    // A good file again: applied (the handler still works); the pending restart is still named.
    d.setup.opts.endpoint = Some("198.51.100.8".into());
    d.setup.write_config();
    sighup(&d);
    wait_until("the second endpoint reaches the API", &d, Duration::from_secs(10), || node_endpoint(&d, "node1") == "198.51.100.8");
    b.wait_for(NAME, &["198.51.100.8"], Duration::from_secs(20)).unwrap_or_else(|got| panic!("records after the 2nd SIGHUP: {got:?}"));
    wait_until("the restart warning repeats", &d, Duration::from_secs(5), || {
        lines_with(&d, "option heartbeat_ms changed (300 -> 250)").len() == 2
    });
    d.stop();
}

/// `wg set IFACE peer KEY remove` through the UAPI socket (`key` in hex, as `get=1` lists it).
fn uapi_remove_peer(sock: &std::path::Path, key: &str) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("socket timeout");
    s.write_all(format!("set=1\npublic_key={key}\nremove=true\n\n").as_bytes()).expect("write the set request");
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).expect("read the answer");
    assert!(String::from_utf8_lossy(&answer[..n]).contains("errno=0"), "{}", String::from_utf8_lossy(&answer[..n]));
}

/// Rewrites one `option NAME '…'` line of the router's UCI file and sends SIGHUP to its daemon;
/// waits for the reload to be logged (the `n`th "reloaded" line).
fn reload_with(r: &dataplane_common::Router, name: &str, value: &str, n: usize) {
    let text = std::fs::read_to_string(&r.config_path).expect("read the router's config");
    let prefix = format!("option {name} '");
    let line = text.lines().find(|l| l.trim_start().starts_with(&prefix)).unwrap_or_else(|| panic!("no option {name} in:\n{text}"));
    let new = text.replace(line, &format!("\toption {name} '{value}'"));
    std::fs::write(&r.config_path, new).expect("write the router's config");
    let pids = dataplane_common::pids_in_ns(&r.host.ns, "wgclusterd");
    assert_eq!(pids.len(), 1, "{pids:?}");
    // SAFETY: kill(2) on the daemon's PID, listed in the lab router's namespace this test made.
    assert_eq!(unsafe { libc::kill(pids[0], libc::SIGHUP) }, 0);
    let logged = lab::wait_until(Duration::from_secs(60), Duration::from_millis(50), || r.log().matches("reloaded ").count() >= n);
    assert!(logged, "reload {n} not logged:\n{}", r.log_tail(40));
}

#[test]
fn sighup_switches_the_wireguard_data_plane_live() {
    use dataplane_common::*;
    if !lab::ensure_prereqs() {
        return;
    }
    let lab = Lab::new("sighup-wg");
    let mut router = Router::new(&lab, "r1", 2);
    let client_host = lab.add_host("client");
    router.start();
    let tun = router.create_config(&lab, 24);
    let peers = router.create_peers("p", 20);
    router.wait_wg_equals_desired(Duration::from_secs(30));
    let id = peers[0]["id"].as_str().map(str::to_string).unwrap_or_else(|| peers[0]["id"].to_string());
    let client = Client::start(&client_host, &router.text(&format!("/api/configs/{IFACE}/peers/{id}/config")));
    assert!(client.host.ping_until(tun, Duration::from_secs(20)), "no ping through the tunnel");
    let first = router.wg_pids();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(router.wg_stats()["backend"], "userspace");

    // wg_backend 'kernel' without the module: refused, the running interface kept.
    reload_with(&router, "wg_backend", "kernel", 1);
    let log = router.log();
    assert!(log.contains("keeping the running userspace interfaces"), "{}", router.log_tail(30));
    assert!(
        log.contains("reload: option wg_backend changed (userspace -> kernel): not applied; the next reload tries again"),
        "{}",
        router.log_tail(30)
    );
    assert_eq!(router.wg_pids(), first, "the refused switch touched wireguard-go");
    assert_eq!(router.wg_stats()["backend"], "userspace");
    assert!(client.host.ping_until(tun, Duration::from_secs(5)), "the tunnel broke on a refused switch");

    // auto: the start-up rule falls back to userspace, which runs already: applied, untouched.
    reload_with(&router, "wg_backend", "auto", 2);
    let log = router.log();
    assert!(log.contains("WireGuard backend stays userspace (wg_backend=auto; kernel WireGuard unavailable"), "{}", router.log_tail(30));
    assert!(log.contains("option wg_backend changed (userspace -> auto): applied"), "{}", router.log_tail(30));
    assert_eq!(router.wg_pids(), first);

    // A new uapi_dir: a clean switch to a new wireguard-go.
    let old_sock = router.uapi_sock();
    let new_dir = router.host.dir().join("wireguard-b");
    let new_sock = new_dir.join(format!("{IFACE}.sock"));
    let t = Instant::now();
    reload_with(&router, "uapi_dir", &new_dir.display().to_string(), 3);
    let took = t.elapsed();
    let log = router.log();
    assert!(log.contains("WireGuard backend switched from userspace to userspace"), "{}", router.log_tail(30));
    assert!(log.contains(&format!("{IFACE}: removed from the userspace data plane in ")), "{}", router.log_tail(30));
    assert!(log.contains("option uapi_dir changed"), "{}", router.log_tail(30));
    let now = router.wg_pids();
    assert_eq!(now.len(), 1, "one wireguard-go after the switch: {now:?}");
    assert_ne!(now, first, "wireguard-go was not replaced");
    assert_eq!(live_start_time(first[0]), None, "the old wireguard-go {} still runs", first[0]);
    assert!(!old_sock.exists(), "the old socket {} is left", old_sock.display());
    assert_eq!(uapi_peer_count(&new_sock), Some(20), "every peer on the new interface");
    assert_eq!(router.wg_stats()["backend"], "userspace");
    eprintln!("uapi_dir switch: reload handled in {took:?}");
    client.reset_session();
    assert!(client.host.ping_until(tun, Duration::from_secs(20)), "no ping through the new interface");

    // Programming and reporting continue on the new interface: a state change is applied (and
    // reported as applied), drift is healed by the next resync.
    router.create_peers("q", 1);
    let applied = lab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        uapi_peer_count(&new_sock) == Some(21) && router.wg_stats()["applied_version"].as_u64() == Some(router.state_version())
    });
    assert!(applied, "a state change after the switch: {}\n{}", router.wg_stats(), router.log_tail(30));
    let healed = router.wg_stats()["drift_healed"].as_u64().unwrap_or(0);
    let listing = wgcluster_tests::wg::uapi_get(&new_sock).expect("read the new interface");
    let victim = listing.lines().find_map(|l| l.strip_prefix("public_key=")).expect("a peer").to_string();
    uapi_remove_peer(&new_sock, &victim);
    let back = lab::wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        uapi_peer_count(&new_sock) == Some(21) && router.wg_stats()["drift_healed"].as_u64().unwrap_or(0) > healed
    });
    assert!(back, "drift after the switch not healed: {}\n{}", router.wg_stats(), router.log_tail(30));
    let errors = router.log().lines().filter(|l| l.starts_with("<3>") && !l.contains("wg_backend")).map(String::from).collect::<Vec<_>>();
    assert!(errors.iter().all(|l| l.contains("kernel")), "unexpected errors: {errors:?}");
    router.stop();
}
