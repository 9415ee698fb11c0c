//! Cluster benchmark (not a timed test): a 3-router cluster of real `wgclusterd` processes on
//! loopback (see `wgcluster_tests::cluster`).
//!
//! 1. Leader fail-over: `kill -9` of the panel -> the first write accepted by a surviving router
//!    (sent to both survivors in turn; a follower forwards to the new panel), median of N runs,
//!    with the daemon's default timings and with the fast test timings. After each run the
//!    killed router is restarted and the cluster re-formed.
//! 2. Throughput of small commands (`POST /api/nodes`, one Raft entry each, fsync'd on every
//!    router): sequential on the panel, sequential through a follower (forwarded), and with
//!    N concurrent clients.
//!
//! Environment: `WGC_BENCH_RUNS` (default 10), `WGC_BENCH_WRITES` (default 300 per sequential
//! series), `WGC_BENCH_CLIENTS` (default 8), `WGCLUSTERD_BIN` (use a release build; see run.sh).

use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wgcluster_tests::cluster::{Cluster, Opts, FORM_TIMEOUT};

static SEQ: AtomicU64 = AtomicU64::new(0);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn next_id(tag: &str) -> String {
    format!("b-{tag}-{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// `kill -9` of the leader -> first accepted write, `runs` times. Returns the sorted durations.
/// `settle`: before each kill wait until every router has caught up (the previous victim was
/// restarted) and let one more second of heartbeats pass; otherwise kill as soon as the cluster
/// has re-formed (all voters, one leader), 300 ms after the previous victim's restart.
fn failover(label: &str, opts: Opts, runs: usize, settle: bool) -> Vec<Duration> {
    let mut c = Cluster::start(3, opts);
    let mut out = Vec::new();
    for run in 0..runs {
        let leader = if settle {
            c.wait_in_sync(FORM_TIMEOUT);
            std::thread::sleep(Duration::from_millis(1000));
            c.wait_in_sync(FORM_TIMEOUT)
        } else {
            let l = c.wait_formed(FORM_TIMEOUT);
            std::thread::sleep(Duration::from_millis(300));
            l
        };
        let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        let t0 = Instant::now();
        c.kill9(leader);
        let mut k = 0;
        let (took, by) = loop {
            let i = survivors[k % 2];
            k += 1;
            if let Ok((200, _)) = c.try_request(i, "POST", "/api/nodes", Some(&json!({ "id": next_id("failover") }))) {
                break (t0.elapsed(), i);
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{label}: no write accepted 30 s after the kill");
            std::thread::sleep(Duration::from_millis(5));
        };
        eprintln!("  {label} run {}: kill -9 {} -> write accepted by {} after {}", run + 1, c.id(leader), c.id(by), ms(took));
        out.push(took);
        c.restart(leader);
    }
    out.sort();
    out
}

/// `writes` sequential writes on router `i`; per-write latencies, sorted, and the total time.
fn sequential(c: &Cluster, i: usize, writes: usize, tag: &str) -> (Vec<Duration>, Duration) {
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(writes);
    for _ in 0..writes {
        let t = Instant::now();
        c.post_ok(i, "/api/nodes", &json!({ "id": next_id(tag) }));
        lat.push(t.elapsed());
    }
    let total = t0.elapsed();
    lat.sort();
    (lat, total)
}

/// `clients` threads, each making `per_client` writes on the routers in `targets` (round robin
/// by client); returns (total writes, wall time, sorted latencies).
fn concurrent(c: &Cluster, targets: &[usize], clients: usize, per_client: usize) -> (usize, Duration, Vec<Duration>) {
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let i = targets[k % targets.len()];
                s.spawn(move || {
                    let mut l = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let t = Instant::now();
                        c.post_ok(i, "/api/nodes", &json!({ "id": next_id("conc") }));
                        l.push(t.elapsed());
                    }
                    l
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect()
    });
    let wall = t0.elapsed();
    lat.sort();
    (clients * per_client, wall, lat)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let runs = env_usize("WGC_BENCH_RUNS", 10);
    let writes = env_usize("WGC_BENCH_WRITES", 300);
    let clients = env_usize("WGC_BENCH_CLIENTS", 8);
    eprintln!("wgclusterd: {}", wgcluster_tests::cluster::binary().display());

    let mut report = Vec::new();
    for (settle, when) in [(true, "cluster in sync"), (false, "300 ms after the previous victim rejoined")] {
        let n = if settle { runs } else { runs.div_ceil(2) };
        for (label, opts) in [
            ("default timings (heartbeat 300 ms, election timeout 1500 ms)", Opts::defaults()),
            ("fast timings (heartbeat 100 ms, election timeout 500 ms)", Opts::fast()),
        ] {
            let d = failover(label, opts, n, settle);
            report.push(format!(
                "leader kill -> first write accepted, {label}, {when}: median {}, min {}, max {} ({n} runs)",
                ms(pct(&d, 0.5)),
                ms(d[0]),
                ms(d[d.len() - 1])
            ));
            eprintln!("{}", report.last().map(String::as_str).unwrap_or_default());
        }
    }

    let mut c = Cluster::start(3, Opts::defaults());
    let leader = c.wait_formed(FORM_TIMEOUT);
    let follower = (0..3).find(|&i| i != leader).unwrap_or(0);
    // Warm-up (connections, first snapshot of the state).
    sequential(&c, leader, 20, "warm");
    for (what, at) in [("on the panel", leader), ("through a follower (forwarded)", follower)] {
        let (lat, total) = sequential(&c, at, writes, "seq");
        report.push(format!(
            "sequential writes {what}: {:.0} writes/s ({writes} in {}), latency p50 {}, p99 {}",
            writes as f64 / total.as_secs_f64(),
            ms(total),
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99))
        ));
        eprintln!("{}", report.last().map(String::as_str).unwrap_or_default());
    }
    let per_client = writes.div_ceil(clients).max(10) * 2;
    for (what, targets) in [("on the panel", vec![leader]), ("spread over all 3 routers", vec![0, 1, 2])] {
        let (n, wall, lat) = concurrent(&c, &targets, clients, per_client);
        report.push(format!(
            "{clients} concurrent clients {what}: {:.0} writes/s ({n} in {}), latency p50 {}, p99 {}",
            n as f64 / wall.as_secs_f64(),
            ms(wall),
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99))
        ));
        eprintln!("{}", report.last().map(String::as_str).unwrap_or_default());
    }
    let _ = c.wait_formed(FORM_TIMEOUT);

    println!("\n== wgcluster cluster benchmark ==");
    for line in &report {
        println!("{line}");
    }
}
