//! A measurement, not a timed test (ignored by default): what a state change touching a few peers
//! of a 10,000-peer config costs the reconciler, on a real wireguard-go in a lab namespace —
//! the full path (read the device + diff + apply + configure the link: what every state change
//! did before) against the incremental path (diff against the last pass's spec, apply, no read).
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-dp cargo test --release -p wgcluster-tests --test dataplane_perf \
//!     -- --ignored --nocapture
//! ```
//! `WG_PERF_PEERS` (default 10000) and `WG_PERF_REPS` (default 21) change the size and the number
//! of repetitions; each figure is a median. No packet is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use wgcluster_actors::wg::reconciler::{ReconcileCore, ReconcileStats};
use wgcluster_actors::wg::{diff, public_key_of, InterfaceSpec, Key, PeerSpec, UapiBackend, UapiConfig, WgBackend};
use wgcluster_tests::lab::{self, Lab};

fn genkey() -> Key {
    x25519_dalek::StaticSecret::random_from_rng(rand_core::OsRng).to_bytes()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Peer `i` of the test network 10.200.0.0/16 (inside the lab namespace only).
fn addr(i: usize) -> IpNet {
    format!("10.200.{}.{}/32", (i + 2) / 256, (i + 2) % 256).parse().expect("address")
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture (best with --release)"]
fn state_change_cost_full_vs_incremental() {
    if !lab::ensure_prereqs() {
        return;
    }
    let n = env_usize("WG_PERF_PEERS", 10_000);
    let reps = env_usize("WG_PERF_REPS", 21);
    let lab = Lab::new("dp-perf");
    let router = lab.add_host("router");
    let mut cfg = UapiConfig::new(router.uapi_dir(), Some("wireguard-go".into()));
    cfg.netns = Some(router.netns_path());
    let backend: Arc<dyn WgBackend> = Arc::new(UapiBackend::new(cfg));
    let stats = Arc::new(ReconcileStats::default());
    let mut core = ReconcileCore::new(backend.clone(), lab.dir().join("managed"), stats);

    let mut peers: Vec<PeerSpec> = (0..n).map(|i| PeerSpec::new(public_key_of(&genkey()), vec![addr(i)])).collect();
    peers.sort_by_key(|p| p.public_key);
    let mut spec = InterfaceSpec {
        name: "wgperf0".into(),
        private_key: genkey(),
        listen_port: 51820,
        addresses: vec!["10.200.0.1/16".parse().expect("net")],
        mtu: None,
        peers,
    };
    let t = Instant::now();
    let (ops, ok) = core.pass(1, vec![spec.clone()], true);
    assert!(ok && ops > n as u64, "{ops}");
    eprintln!("program {n} peers into a fresh interface: {}", ms(t.elapsed()));

    let mut version = 1;
    let mut next = n;
    // Two kinds of change: one peer's allowed IP; and a few peers (one removed, one added, one
    // updated). Full and incremental alternate.
    let mut timings: Vec<(String, Vec<Duration>, Vec<Duration>)> = vec![
        ("one-peer change (allowed IP)".into(), vec![], vec![]),
        ("three-peer change (-1 +1 ~1)".into(), vec![], vec![]),
        ("no-op state change".into(), vec![], vec![]),
    ];
    for rep in 0..reps {
        for (kind, row) in timings.iter_mut().enumerate() {
            for incremental in [rep % 2 == 0, rep % 2 != 0] {
                let i = (rep * 7 + kind * 13) % spec.peers.len();
                match kind {
                    0 => spec.peers[i].allowed_ips = vec![addr(next)],
                    1 => {
                        spec.peers.remove(i);
                        let j = (i + 101) % spec.peers.len();
                        spec.peers[j].allowed_ips = vec![addr(next + 1)];
                        spec.peers.push(PeerSpec::new(public_key_of(&genkey()), vec![addr(next + 2)]));
                        spec.peers.sort_by_key(|p| p.public_key);
                    }
                    _ => {}
                }
                next += 3;
                version += 1;
                core.incremental = incremental;
                let input = vec![spec.clone()];
                let t = Instant::now();
                let (_, ok) = core.pass(version, input, false);
                let took = t.elapsed();
                assert!(ok);
                if incremental {
                    row.2.push(took);
                } else {
                    row.1.push(took);
                }
            }
        }
    }
    let actual = backend.read("wgperf0").expect("read").expect("interface");
    assert!(diff(&spec, Some(&actual)).is_empty(), "the device drifted from the spec");
    assert_eq!(actual.peers.len(), spec.peers.len());
    let t = Instant::now();
    let (ops, _) = core.pass(version, vec![spec.clone()], true);
    let resync = t.elapsed();
    assert_eq!(ops, 0);

    eprintln!("\n{n} peers, median of {reps}, one reconciler pass (ReconcileCore::pass):");
    eprintln!("| state change | full (before: read + diff + apply + link) | incremental (after) | ratio |");
    eprintln!("|---|---|---|---|");
    for (what, full, inc) in timings {
        let (f, i) = (median(full), median(inc));
        eprintln!("| {what} | {} | {} | {:.3} |", ms(f), ms(i), i.as_secs_f64() / f.as_secs_f64());
    }
    eprintln!("| periodic resync, nothing to do (full read + diff) | {} | | |", ms(resync));

    // Usage collection (#15): one round's read of the interface, and its `/v1/usage` JSON.
    let config = wgcluster_actors::model::ConfigName::parse("c", "wgperf0").expect("name");
    let mut reads = Vec::new();
    let mut bytes = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let readings = wgcluster_actors::usage::collect::read_local(backend.as_ref(), std::slice::from_ref(&config));
        reads.push(t.elapsed());
        assert_eq!(readings.first().map(|r| r.peers.len()), Some(n));
        bytes = serde_json::to_vec(&readings).expect("json").len();
    }
    eprintln!("| usage collection read of {n} peers (one round) | {} | | |", ms(median(reads)));
    eprintln!("  its /v1/usage answer: {bytes} bytes of JSON");
}

mod dataplane_common;

/// The same inside the real daemon: one peer disabled and re-enabled through the API on a
/// 10,000-peer config; the daemon's debug log gives each pass's time and the time to build the
/// desired state from the replicated state.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture (best with --release)"]
fn one_peer_change_inside_the_daemon() {
    use dataplane_common::*;
    use serde_json::json;
    if !lab::ensure_prereqs() {
        return;
    }
    let n = env_usize("WG_PERF_PEERS", 10_000);
    let reps = env_usize("WG_PERF_REPS", 21);
    let lab = Lab::new("dp-perf-d");
    let mut router = Router::new(&lab, "r1", 600);
    router.start();
    router.create_config(&lab, 16);
    let mut peers = Vec::new();
    for chunk in 0..n.div_ceil(1000) {
        peers.extend(router.create_peers(&format!("c{chunk}"), 1000.min(n - chunk * 1000)));
    }
    wait_for("all peers programmed", Duration::from_secs(120), || (uapi_peer_count(&router.uapi_sock()) == Some(n)).then_some(()));
    let id = peers[n / 2]["id"].as_str().map(str::to_string).unwrap_or_else(|| peers[n / 2]["id"].to_string());
    let mark = router.log().len();
    for rep in 0..reps {
        let enabled = rep % 2 == 1;
        router.ok("PATCH", &format!("/api/configs/{IFACE}/peers/{id}"), Some(&json!({ "enabled": enabled })));
        // Polled through the daemon, not the device: a concurrent `get` of 10,000 peers would
        // hold wireguard-go's configuration lock and delay the very transaction measured here.
        let version = router.state_version();
        wait_for("the change applied", Duration::from_secs(10), || {
            (router.wg_stats()["applied_version"].as_u64() >= Some(version)).then_some(())
        });
    }
    assert_eq!(uapi_peer_count(&router.uapi_sock()), Some(if reps % 2 == 1 { n - 1 } else { n }));
    let log = router.log()[mark..].to_string();
    if std::env::var_os("WG_PERF_SHOW_LOG").is_some() {
        eprintln!("{}", log.lines().filter(|l| l.contains("wg")).take(40).collect::<Vec<_>>().join("\n"));
    }
    let parse = |line: &str, after: &str| -> Option<Duration> {
        let rest = line.split(after).nth(1)?.trim();
        let (num, unit) = rest.split_at(rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?);
        let v: f64 = num.parse().ok()?;
        Some(Duration::from_secs_f64(match unit.trim() {
            "ms" => v / 1e3,
            "µs" => v / 1e6,
            "ns" => v / 1e9,
            "s" => v,
            _ => return None,
        }))
    };
    let passes: Vec<Duration> =
        log.lines().filter(|l| l.contains("wg pass (incremental): 1 operation(s) in")).filter_map(|l| parse(l, " in ")).collect();
    let builds: Vec<Duration> = log.lines().filter(|l| l.contains("built in")).filter_map(|l| parse(l, "built in")).collect();
    assert!(passes.len() >= reps / 2, "{} incremental passes logged:\n{log}", passes.len());
    eprintln!("\ninside the daemon, {n} peers, one peer disabled/enabled through the API ({} passes):", passes.len());
    eprintln!("  reconciler pass (diff + one-op transaction): median {}", ms(median(passes)));
    eprintln!("  building the desired state from the replicated state: median {}", ms(median(builds)));
}
