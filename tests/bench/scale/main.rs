//! Scale benchmark (issue #13; not a timed test): three routers of real `wgclusterd` (release
//! build, the daemon's default Raft timing: heartbeat 300 ms, election timeout 1.5 s), each in
//! its own network namespace of the lab with its own wireguard-go, one config in Mode A (every
//! router carries every peer). Reported figures, in the order:
//!
//! 1. 20 consecutive bulks of 1,000 peers from empty to 20,000: each bulk's time, last ÷ first,
//!    elections (Raft term changes) during the fill.
//! 2. The peer list at 20,000: unpaged (streamed) and one page of 100, medians.
//! 3. One peer added at 20,000 → programmed on every router: from the request to the moment every
//!    router's reconciler reports the new state version applied to WireGuard (`/v1/health`).
//! 4. A bulk of 5,000 into 20,000: time and elections.
//! 5. RSS of each daemon (VmRSS, VmHWM), leader and followers, at 25,000 peers.
//! 6. Restart to serving: a follower killed (`kill -9`) and started again; time until its API
//!    answers with a leader and the full peer count.
//! 7. (first) One more bulk of the fill's size once every router has applied everything: the
//!    write path without the routers' WireGuard programming competing for the CPUs. Then a
//!    1,000-peer bulk with an `Idempotency-Key`, the panel killed part-way, retried with the
//!    same key until it succeeds: duplicates and losses (both must be 0).
//! 8. The desired WireGuard state after a one-peer change at 10,000 peers (pure; in-process).
//!
//! Environment: `WGCLUSTERD_BIN` (the release build; see run.sh), `WGC_SCALE_PEERS` (20000).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, create_config, wait_for, Api, LabCluster, DEFAULT_TIMING};
use wgcluster_tests::lab::Lab;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The highest term any live router reports (an election on any router raises it).
fn max_term(c: &LabCluster) -> u64 {
    c.routers
        .iter()
        .filter(|r| r.alive)
        .filter_map(|r| c.api(&r.node_id).try_call("GET", "/api/cluster", None).ok())
        .filter_map(|(_, v)| v["data"]["term"].as_u64())
        .max()
        .unwrap_or(0)
}

fn bulk(api: &Api, prefix: &str, n: usize) -> Duration {
    let items: Vec<Value> = (0..n).map(|i| json!({ "name": format!("{prefix}-{i}") })).collect();
    let t = Instant::now();
    let (code, v) = api.call("POST", "/api/configs/wg0/peers", Some(&Value::Array(items)));
    let d = t.elapsed();
    assert_eq!(code, 200, "bulk {prefix}: {v}");
    d
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn health(api: &Api) -> Option<Value> {
    let (code, v) = api.try_call("GET", "/v1/health", None).ok()?;
    (code == 200).then(|| v["data"].clone())
}

fn main() {
    if !failover::prereqs() {
        eprintln!("the lab's prerequisites are missing: run tests/scripts/prereqs.sh");
        std::process::exit(1);
    }
    let peers: usize = std::env::var("WGC_SCALE_PEERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let step = peers / 20;
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:6.1} s] {s}", started.elapsed().as_secs_f64());
    let mut report: Vec<(String, String)> = Vec::new();

    let lab = Lab::new("scale");
    let operator = lab.add_host("operator");
    let mut cluster = LabCluster::start_with_timing(&lab, &operator, &[("r1", false), ("r2", false), ("r3", false)], DEFAULT_TIMING);
    let leader = cluster.wait_leader(&[], Duration::from_secs(20));
    let api = cluster.api(&leader);
    say(&format!("three routers up, {leader} is the panel"));
    create_config(&api, "wg0", "10.100.0.1/15", "10.100.0.0/15", &["r1", "r2", "r3"]);
    // Mode A: an endpoint group (no DNS credentials are set: its sync only reports that).
    api.ok(
        "POST",
        "/api/configs/wg0/endpoint-group",
        Some(&json!({ "domain": "vpn.example.com", "port": 51820, "provider": "cloudflare", "ttl": 60 })),
    );

    // 1. The fill.
    let t0 = max_term(&cluster);
    let mut times = Vec::new();
    for b in 0..20 {
        times.push(ms(bulk(&api, &format!("fill{b}"), step)));
    }
    let fill_elections = max_term(&cluster) - t0;
    say(&format!("fill: {:?} ms", times.iter().map(|t| t.round() as u64).collect::<Vec<_>>()));
    report.push((
        format!("20 bulks of {step}: first / last / last÷first"),
        format!("{:.0} ms / {:.0} ms / {:.2}", times[0], times[19], times[19] / times[0]),
    ));
    report.push(("elections during the fill".into(), fill_elections.to_string()));

    // Every router programs every peer before the timings below.
    let target = health(&api).and_then(|h| h["state_version"].as_u64()).unwrap_or(0);
    wait_for("every router to apply the fill to WireGuard", Duration::from_secs(300), || {
        cluster
            .routers
            .iter()
            .all(|r| health(&cluster.api(&r.node_id)).and_then(|h| h["wg"]["applied_version"].as_u64()).is_some_and(|v| v >= target))
            .then_some(())
    });

    // 2. Lists.
    let mut full = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (code, text) = api.try_text("GET", "/api/configs/wg0/peers", None).expect("list");
        full.push(ms(t.elapsed()));
        assert_eq!(code, 200);
        assert!(text.len() > peers * 100, "the full list is {} bytes", text.len());
    }
    let mut page = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let v = api.get(&format!("/api/configs/wg0/peers?limit=100&offset={}", i * 500));
        page.push(ms(t.elapsed()));
        assert_eq!(v["total"].as_u64(), Some(peers as u64));
    }
    // The reference beside it: the cheapest authenticated read over the same path (a request from
    // the operator's namespace, connection set-up included).
    let mut reference = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        api.get("/api/cluster");
        reference.push(ms(t.elapsed()));
    }
    let reference = median(reference);
    report.push((format!("list {peers} peers unpaged (median of 5)"), format!("{:.1} ms", median(full))));
    let page = median(page);
    report.push((
        "one page of 100 (median of 20) / reference GET /api/cluster".into(),
        format!("{page:.2} ms / {reference:.2} ms (page − reference {:.2} ms)", page - reference),
    ));

    // 3. One peer → programmed everywhere.
    let apis: Vec<Api> = cluster.routers.iter().map(|r| cluster.api(&r.node_id)).collect();
    let mut add = Vec::new();
    let mut programmed = Vec::new();
    for i in 0..10 {
        let t = Instant::now();
        api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": format!("one-{i}") })));
        add.push(ms(t.elapsed()));
        let v = health(&api).and_then(|h| h["state_version"].as_u64()).unwrap_or(u64::MAX);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut done = [false; 3];
        while !done.iter().all(|d| *d) {
            for (k, a) in apis.iter().enumerate() {
                done[k] = done[k] || health(a).and_then(|h| h["wg"]["applied_version"].as_u64()).is_some_and(|x| x >= v);
            }
            assert!(Instant::now() < deadline, "a router did not program the peer within 10 s");
        }
        programmed.push(ms(t.elapsed()));
    }
    report.push((format!("one peer added at {peers}: answered (median of 10)"), format!("{:.1} ms", median(add))));
    report.push(("… programmed on all three routers (median of 10)".into(), format!("{:.1} ms", median(programmed))));

    // 4. The big bulk.
    let t0 = max_term(&cluster);
    let big = bulk(&api, "big", 5000);
    let big_elections = max_term(&cluster) - t0;
    report.push((format!("bulk of 5,000 into {peers}"), format!("{:.0} ms, {big_elections} elections", ms(big))));
    std::thread::sleep(Duration::from_secs(3));

    // 5. RSS.
    let leader = cluster.leader().unwrap_or(leader);
    for r in &cluster.routers {
        let pid = r.daemon_pid().expect("daemon runs");
        let role = if r.node_id == leader { "leader" } else { "follower" };
        report.push((
            format!("RSS {} ({role}) at {} peers: VmRSS / VmHWM", r.node_id, peers + 5010),
            format!("{:.1} / {:.1} MiB", status_kb(pid, "VmRSS:") as f64 / 1024.0, status_kb(pid, "VmHWM:") as f64 / 1024.0),
        ));
    }

    // 6. Restart to serving (a follower).
    let victim = cluster.routers.iter().find(|r| r.node_id != leader).map(|r| r.node_id.clone()).expect("a follower");
    let total = peers + 5010;
    cluster.router_mut(&victim).kill_all();
    let t = Instant::now();
    cluster.router_mut(&victim).start();
    let va = cluster.api(&victim);
    wait_for("the restarted router to serve", Duration::from_secs(60), || {
        let (code, v) = va.try_call("GET", "/api/configs/wg0/peers?limit=1", None).ok()?;
        (code == 200 && v["data"]["total"].as_u64() == Some(total as u64)).then_some(())
    });
    report.push((format!("restart to serving with {total} peers (kill -9 of a follower)"), format!("{:.0} ms", ms(t.elapsed()))));
    wait_for("the restarted router to apply everything", Duration::from_secs(120), || {
        let v = health(&api)?["state_version"].as_u64()?;
        (health(&va)?["wg"]["applied_version"].as_u64()? >= v).then_some(())
    });

    // 1b. The write path alone: a bulk of the fill's size once every router has applied
    // everything (no reconciler or wireguard-go work competing for the CPUs), against the
    // fill's first bulk (which met an idle cluster too).
    let quiet = bulk(&api, "quiet", step);
    report.push((
        format!("bulk of {step} at {total} peers after the routers caught up ÷ the fill's first"),
        format!("{:.0} ms / {:.0} ms = {:.2}", ms(quiet), times[0], ms(quiet) / times[0]),
    ));
    wait_for("every router to apply the quiet bulk", Duration::from_secs(120), || {
        let v = health(&api)?["state_version"].as_u64()?;
        apis.iter().all(|a| health(a).and_then(|h| h["wg"]["applied_version"].as_u64()).is_some_and(|x| x >= v)).then_some(())
    });

    // 7. Idempotent retry across a leader kill.
    let leader = cluster.wait_leader(&[], Duration::from_secs(20));
    let via = cluster.routers.iter().find(|r| r.node_id != leader).map(|r| r.node_id.clone()).expect("a follower");
    let vapi = cluster.api(&via);
    let items = Value::Array((0..1000).map(|i| json!({ "name": format!("idem-{i}") })).collect());
    let body = items.to_string();
    let key = "scale-bench-retry";
    let send_keyed = |a: &Api| {
        let req = format!("Idempotency-Key: {key}");
        failover::http_with(&a.ns, a.addr, "POST", "/api/configs/wg0/peers", Some(&a.token), &[&req], Some(&body), Duration::from_secs(30))
    };
    let first = std::thread::scope(|s| {
        let h = s.spawn(|| send_keyed(&vapi));
        std::thread::sleep(Duration::from_millis(60));
        cluster.router_mut(&leader).kill_all();
        h.join().expect("sender")
    });
    let survivor = cluster.any_api(&[leader.as_str()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut retries = 0;
    loop {
        retries += 1;
        if let Ok((200, _)) = send_keyed(&survivor) {
            break;
        }
        assert!(Instant::now() < deadline, "the retried bulk did not succeed within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for p in survivor.peers("wg0") {
        if let Some(n) = p["name"].as_str().filter(|n| n.starts_with("idem-")) {
            *names.entry(n.to_string()).or_default() += 1;
        }
    }
    let dups: usize = names.values().map(|n| n - 1).sum();
    let lost = 1000 - names.len();
    report.push((
        "retried 1,000-peer bulk, same key, panel killed at 60 ms".into(),
        format!(
            "{dups} duplicates, {lost} lost (first attempt: {}; {retries} retries)",
            first.map(|(c, _)| c.to_string()).unwrap_or_else(|e| format!("no answer ({e})"))
        ),
    ));

    // 8. Desired state, in-process.
    let (full_ms, incr_ms) = desired_bench(10_000);
    report.push(("desired state, one-peer change at 10,000: full rebuild".into(), format!("{full_ms:.3} ms")));
    report.push(("desired state, one-peer change at 10,000: incremental".into(), format!("{incr_ms:.3} ms")));

    println!("\n| measure | result |\n|---|---|");
    for (k, v) in report {
        println!("| {k} | {v} |");
    }
}

/// (full rebuild, incremental update) of one interface's desired state after one peer changed,
/// medians of 50, at `n` peers in Mode A.
fn desired_bench(n: usize) -> (f64, f64) {
    use wgcluster_actors::wg::desired;
    let (mut state, config, node) = desired::bench_state(n);
    let mut cache = desired::DesiredCache::default();
    cache.update(&state, &node);
    let (mut full, mut incr) = (Vec::new(), Vec::new());
    for i in 0..50 {
        desired::bench_touch(&mut state, &config, i);
        let t = Instant::now();
        let spec = desired::interface_for(&state, state.configs.get(&config).expect("config"), &node);
        full.push(ms(t.elapsed()));
        let t = Instant::now();
        cache.update(&state, &node);
        incr.push(ms(t.elapsed()));
        assert_eq!(cache.get(&config), Some(&spec), "the incremental state equals the full rebuild");
    }
    (median(full), median(incr))
}
