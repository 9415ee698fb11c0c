//! SIGHUP against the real daemon, as procd sends it after `uci commit wgcluster` (LuCI's Save &
//! Apply): a new `endpoint` in the UCI file reaches `GET /api/nodes` and the cluster domain's
//! records on a real BIND9 (RFC 2136 + TSIG); options that need a restart are named in the log and
//! left as they were; a broken file keeps the daemon running on the config it had, with the
//! error's FILE:LINE in the log, and a good file after it is applied again.
//!
//! Needs bind9 and bind9-dnsutils (tests/scripts/prereqs.sh); under `CI=true` a missing
//! prerequisite fails, it never skips.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wgcluster_tests::bind9::{self, Bind9};
use wgcluster_tests::daemon::{Daemon, Options};

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
    d.setup.opts.extra_uci = vec!["option heartbeat_ms '250'".into(), "option wg_backend 'kernel'".into()];
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
    for name in ["option heartbeat_ms changed (300 -> 250)", "option wg_backend changed (userspace -> kernel)"] {
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
