//! DNS benchmarks (not timed tests: every function is `#[ignore]`; run them with
//! `tests/bench/dns/run.sh`, which passes `--ignored --nocapture --test-threads=1`).
//!
//! 1. `bench_rfc2136_unhealthy_to_bind`: a node is marked unhealthy (the `SetNodeHealth` command
//!    is committed) → the A record set served by a real BIND9 has changed. Polled with our own
//!    UDP query every millisecond. Median, p90, min, max over N rounds, default 300 ms coalescing.
//! 2. `bench_cloudflare_requests_per_change`: requests sent to the fake Cloudflare API per change,
//!    ours (list + one batch) vs one request per record (the same client with the batch endpoint
//!    switched off), over several kinds of change on a 10-node group.
//!
//! Must not: talk to anything but 127.0.0.1.

mod dns_common;

use dns_common::*;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use wgcluster_actors::dns::{self, DnsSyncConfig};
use wgcluster_actors::model::{DnsProviderKind, Rfc2136Settings};
use wgcluster_actors::state::{Command, NodePatch};
use wgcluster_tests::bind9::{self, Bind9};
use wgcluster_tests::fake_cloudflare::FakeCloudflare;

/// A minimal DNS A query over UDP (no recursion); the IPv4 answers, sorted.
fn query_a(port: u16, name: &str) -> Vec<Ipv4Addr> {
    let sock = match UdpSocket::bind("127.0.0.1:0") {
        Ok(s) => s,
        Err(_) => return vec![],
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut q = vec![0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if sock.send_to(&q, ("127.0.0.1", port)).is_err() {
        return vec![];
    }
    let mut buf = [0u8; 1500];
    let Ok(n) = sock.recv(&mut buf) else { return vec![] };
    let b = &buf[..n];
    if n < 12 {
        return vec![];
    }
    let ancount = u16::from_be_bytes([b[6], b[7]]) as usize;
    let mut i = q.len(); // the question is echoed back verbatim
    let mut out = Vec::new();
    for _ in 0..ancount {
        // name: a pointer (2 bytes) or labels
        while i < n {
            if b[i] & 0xc0 == 0xc0 {
                i += 2;
                break;
            }
            if b[i] == 0 {
                i += 1;
                break;
            }
            i += b[i] as usize + 1;
        }
        if i + 10 > n {
            break;
        }
        let rtype = u16::from_be_bytes([b[i], b[i + 1]]);
        let rdlen = u16::from_be_bytes([b[i + 8], b[i + 9]]) as usize;
        i += 10;
        if rtype == 1 && rdlen == 4 && i + 4 <= n {
            out.push(Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]));
        }
        i += rdlen;
    }
    out.sort();
    out
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "n={} median={:.1} ms p90={:.1} ms min={:.1} ms max={:.1} ms",
        v.len(),
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(v[0]),
        ms(v[v.len() - 1])
    )
}

async fn rfc2136_round(rounds: usize, cfg: DnsSyncConfig, label: &str) {
    let b = tokio::task::spawn_blocking(Bind9::start).await.expect("named");
    let c = TestCluster::start("bench-rfc").await;
    c.nodes_and_config(&["192.0.2.1", "192.0.2.2", "192.0.2.3"]).await;
    let rfc2136 = Some(Rfc2136Settings {
        server: b.server(),
        zone: bind9::ZONE.into(),
        key_name: bind9::KEY_NAME.into(),
        key_secret: b.key_secret.clone(),
        algorithm: bind9::ALGORITHM.into(),
    });
    c.cmd(Command::SetDnsSettings { cloudflare: None, rfc2136, reconcile_interval_s: None }).await;
    let _h = dns::start(c.cluster.clone(), c.db.clone(), cfg).expect("dns");
    c.group(DnsProviderKind::Rfc2136, 1, true).await;
    let port = b.port;
    let all: Vec<Ipv4Addr> = vec![[192, 0, 2, 1].into(), [192, 0, 2, 2].into(), [192, 0, 2, 3].into()];
    let two: Vec<Ipv4Addr> = all[..2].to_vec();
    let wait = |want: Vec<Ipv4Addr>| async move {
        let start = Instant::now();
        loop {
            if query_a(port, NAME) == want {
                return start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(20), "BIND never showed {want:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    wait(all.clone()).await;
    let mut down = Vec::new();
    let mut up = Vec::new();
    for _ in 0..rounds {
        c.health("node3", false).await;
        down.push(wait(two.clone()).await);
        c.health("node3", true).await;
        up.push(wait(all.clone()).await);
    }
    println!("RFC 2136 / BIND9, {label}: node marked unhealthy -> record set changed on the server: {}", stats(down));
    println!("RFC 2136 / BIND9, {label}: node marked healthy   -> record set changed on the server: {}", stats(up));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_rfc2136_unhealthy_to_bind() {
    if !bind9::ensure_bind9() {
        return;
    }
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    rfc2136_round(rounds, DnsSyncConfig::default(), "default 300 ms coalescing window").await;
    let fast = DnsSyncConfig { coalesce: Duration::ZERO, ..Default::default() };
    rfc2136_round(rounds, fast, "no coalescing window (provider round trip only)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_cloudflare_requests_per_change() {
    const NODES: usize = 10;
    println!("Cloudflare requests per change, {NODES}-node endpoint group (fake API on 127.0.0.1):");
    println!("measured = requests the fake saw; 1+ops = list + one request per record operation; rewrite = list + delete all + create all");
    println!("{:<48} {:>9} {:>6} {:>8}", "change", "measured", "1+ops", "rewrite");
    for batch in [true, false] {
        let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
        fake.set_batch_enabled(batch);
        let c = TestCluster::start("bench-cf").await;
        let eps: Vec<String> = (1..=NODES).map(|i| format!("192.0.2.{i}")).collect();
        let eps_ref: Vec<&str> = eps.iter().map(String::as_str).collect();
        c.nodes_and_config(&eps_ref).await;
        c.cloudflare_settings(&fake.base_url(), TOKEN).await;
        let mut cfg = DnsSyncConfig::default();
        cfg.providers.cloudflare_rate = 1000.0;
        cfg.providers.cloudflare_burst = 1000.0;
        let _h = dns::start(c.cluster.clone(), c.db.clone(), cfg).expect("dns");
        let wait_n = |n: usize| {
            let fake = &fake;
            async move {
                let start = Instant::now();
                while fake.addresses(ZONE_ID, NAME).len() != n {
                    assert!(start.elapsed() < Duration::from_secs(20), "never {n} records");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                // let the report settle
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        };
        let mut rows: Vec<(String, usize, usize)> = Vec::new();
        // (name, requests, record operations)
        fake.clear_log();
        c.group(DnsProviderKind::Cloudflare, 1, true).await;
        wait_n(NODES).await;
        rows.push(("first publication (10 records)".into(), fake.request_count(), NODES));
        fake.clear_log();
        c.health("node10", false).await;
        wait_n(NODES - 1).await;
        rows.push(("one node unhealthy".into(), fake.request_count(), 1));
        fake.clear_log();
        for i in 5..=9 {
            c.health(&format!("node{i}"), false).await;
        }
        wait_n(4).await;
        rows.push(("five nodes unhealthy at once (coalesced)".into(), fake.request_count(), 5));
        fake.clear_log();
        for i in 5..=10 {
            c.health(&format!("node{i}"), true).await;
        }
        wait_n(NODES).await;
        rows.push(("six nodes healthy again".into(), fake.request_count(), 6));
        fake.clear_log();
        for i in 1..=3 {
            let patch = NodePatch { endpoint: Some(Some(format!("198.51.100.{i}"))), ..Default::default() };
            c.cmd(Command::UpdateNode { id: node(&format!("node{i}")), patch }).await;
        }
        let start = Instant::now();
        while !fake.addresses(ZONE_ID, NAME).iter().any(|a| a == "198.51.100.3") {
            assert!(start.elapsed() < Duration::from_secs(20));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        rows.push(("three routers renumbered (3 deletes, 3 creates)".into(), fake.request_count(), 6));
        assert!(!fake.proxied_ever_true());
        let mode = if batch { "ours (list + batch)" } else { "batch endpoint off (one request per record)" };
        println!("-- {mode}");
        for (name, reqs, ops) in rows {
            // The naive baseline: read, delete every record, create every desired record.
            let naive = 1 + NODES + NODES;
            let per_record = 1 + ops;
            println!("{name:<48} {reqs:>9} {per_record:>6} {naive:>8}");
        }
    }
}
