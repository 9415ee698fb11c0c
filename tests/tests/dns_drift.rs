//! DNS that stays right (#16): the periodic reconciliation reads every group's records back from
//! the provider and corrects what was edited behind our back (an extra A record added, one of ours
//! deleted), within one reconcile interval, audited (`dns_drift_corrected`) and counted in the
//! status; a reconcile that finds nothing writes nothing; a provider outage during reconciles is
//! one replicated report. Deleting an endpoint group (or moving it to another name) removes its
//! records at the provider (`dns_records_removed`), only ours, and the removal survives an outage
//! and a kill -9 of the daemon.
//!
//! Against the fake Cloudflare (in-process cluster, and the real daemon for kill -9) and a real
//! BIND9, edited behind our back with BIND's own `nsupdate`. Prints the measured
//! "edited behind our back -> corrected" times.

mod dns_common;

use dns_common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgcluster_actors::dns::{self, DnsHandle};
use wgcluster_actors::model::{DnsProviderKind, Rfc2136Settings};
use wgcluster_actors::state::Command;
use wgcluster_tests::bind9::{self, Bind9};
use wgcluster_tests::fake_cloudflare::FakeCloudflare;

/// The interval the tests set (the smallest the API accepts).
const INTERVAL: Duration = Duration::from_secs(10);
/// Slack on top of one interval: a pass (list + apply) and the test's polling.
const SLACK: Duration = Duration::from_millis(2500);

const ALL: [&str; 3] = ["192.0.2.1", "192.0.2.2", "2001:db8::3"];

/// Sync config that follows the replicated reconcile interval (no test override).
fn following_the_setting() -> dns::DnsSyncConfig {
    dns::DnsSyncConfig { resync_every: None, ..fast_config() }
}

async fn interval(c: &TestCluster, s: u64) {
    c.cmd(Command::SetDnsSettings { cloudflare: None, rfc2136: None, reconcile_interval_s: Some(s) }).await;
}

async fn cloudflare(tag: &str, cfg: dns::DnsSyncConfig) -> (TestCluster, FakeCloudflare, DnsHandle) {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let c = TestCluster::start(tag).await;
    c.nodes_and_config(&["192.0.2.1:51820", "192.0.2.2", "[2001:db8::3]:51820"]).await;
    c.cloudflare_settings(&fake.base_url(), TOKEN).await;
    let h = dns::start(c.cluster.clone(), c.db.clone(), cfg).expect("start dns sync");
    (c, fake, h)
}

/// Polls `f` every 20 ms; the time it took, or None after `timeout`.
async fn within(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn secs(d: &[Duration]) -> String {
    d.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_drift_is_corrected_within_one_interval_and_audited() {
    let (c, fake, h) = cloudflare("drift-cf", following_the_setting()).await;
    interval(&c, INTERVAL.as_secs()).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    let all = sorted(&ALL);
    within(Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == all).await.expect("published");
    c.wait(Duration::from_secs(5), || c.status("wg0").published == all).await;

    let mut took = Vec::new();
    for round in 0..3u64 {
        // An extra A record added and one of ours deleted, behind our back.
        let extra = format!("203.0.113.{}", 60 + round);
        fake.add_behind_our_back(ZONE_ID, "A", NAME, &extra, 60, false);
        assert_eq!(fake.delete_behind_our_back(ZONE_ID, NAME, "192.0.2.2"), 1);
        let t = within(INTERVAL + SLACK, || fake.addresses(ZONE_ID, NAME) == all)
            .await
            .unwrap_or_else(|| panic!("round {round}: records {:?} not corrected within one interval", fake.addresses(ZONE_ID, NAME)));
        took.push(t);
        c.wait(Duration::from_secs(5), || c.status("wg0").drift_corrected == round + 1).await;
        let st = c.status("wg0");
        let d = st.last_drift.clone().expect("last drift");
        assert_eq!((d.removed, d.restored), (vec![extra.clone()], vec!["192.0.2.2".to_string()]), "{st:?}");
        assert!(st.last_error.is_none() && st.published == all, "{st:?}");
    }
    println!("DNS drift (fake Cloudflare, reconcile interval {INTERVAL:?}): edited behind our back -> corrected in [{}] s", secs(&took));
    let audit = c.audit("dns_drift_corrected");
    assert_eq!(audit.len(), 3, "one audit entry per correction");
    assert!(audit[0].details.contains("203.0.113.60") && audit[0].details.contains("192.0.2.2"), "{}", audit[0].details);
    let local = h.local();
    assert!(local.last_reconcile.is_some() && local.checked.contains_key("wg0"), "{local:?}");
    assert_eq!((local.reconcile_every_s, local.drift_corrected), (INTERVAL.as_secs(), 3));

    // A reconcile that finds the records right reads them and writes nothing (no Raft entry).
    let version = c.cluster.read(|s| s.version);
    let reads = fake.request_count();
    within(INTERVAL + SLACK, || fake.request_count() > reads).await.expect("a reconcile read the records");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.cluster.read(|s| s.version), version, "a quiet reconcile wrote nothing");
    assert!(!fake.proxied_ever_true());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_reconciles_is_one_report() {
    let mut cfg = fast_config();
    cfg.resync_every = Some(Duration::from_millis(700));
    cfg.backoff.base = Duration::from_millis(300);
    let (c, fake, h) = cloudflare("drift-outage", cfg).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    let all = sorted(&ALL);
    within(Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == all).await.expect("published");
    c.wait(Duration::from_secs(5), || c.status("wg0").published == all).await;
    fake.fail_with(503, None);
    fake.add_behind_our_back(ZONE_ID, "A", NAME, "203.0.113.99", 60, false);
    let n = fake.request_count();
    // Several reconciles and retries fail...
    within(Duration::from_secs(10), || fake.request_count() >= n + 5).await.expect("reconciles kept trying");
    // ...and are one dns_failed entry, one queue entry, no drift report.
    assert_eq!(c.audit("dns_failed").len(), 1, "{}", c.all_audit_text());
    assert_eq!(h.list().expect("queue").len(), 1);
    assert!(c.audit("dns_drift_corrected").is_empty());
    // Back: the drift is corrected and reported once; the queue drains.
    fake.clear_faults();
    within(Duration::from_secs(10), || fake.addresses(ZONE_ID, NAME) == all).await.expect("corrected after the outage");
    c.wait(Duration::from_secs(5), || h.list().is_ok_and(|q| q.is_empty())).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").last_error.is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_moving_a_group_removes_its_records_even_after_an_outage() {
    let mut cfg = following_the_setting();
    cfg.backoff.base = Duration::from_millis(200);
    let (c, fake, h) = cloudflare("drift-delete", cfg).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    let all = sorted(&ALL);
    within(Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == all).await.expect("published");
    c.wait(Duration::from_secs(5), || c.status("wg0").published == all).await;
    // Someone else's record at the same name stays.
    fake.add_behind_our_back(ZONE_ID, "A", NAME, "198.51.100.7", 60, false);

    // The provider is down when the group is deleted: the removal waits, replicated.
    fake.fail_with(503, None);
    c.cmd(Command::DeleteEndpointGroup { config: cfg_name() }).await;
    c.wait(Duration::from_secs(5), || !h.local().removal_errors.is_empty()).await;
    assert_eq!(c.cluster.read(|s| s.dns_removals.len()), 1);
    assert!(fake.addresses(ZONE_ID, NAME).contains(&"192.0.2.1".to_string()));
    fake.clear_faults();
    let t = within(Duration::from_secs(10), || fake.addresses(ZONE_ID, NAME) == vec!["198.51.100.7".to_string()])
        .await
        .unwrap_or_else(|| panic!("records left: {:?}", fake.addresses(ZONE_ID, NAME)));
    c.wait(Duration::from_secs(5), || c.cluster.read(|s| s.dns_removals.is_empty())).await;
    let removed = c.audit("dns_records_removed");
    assert_eq!(removed.len(), 1);
    for a in ALL {
        assert!(removed[0].details.contains(a), "{}", removed[0].details);
    }
    assert!(!removed[0].details.contains("198.51.100.7"), "only ours: {}", removed[0].details);
    println!("DNS removal (fake Cloudflare): provider back -> deleted group's records removed in {:.2} s", t.as_secs_f64());

    // A group moved to another name: the old name's records go, the new name gets them.
    fake.delete_behind_our_back(ZONE_ID, NAME, "198.51.100.7");
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    within(Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == all).await.expect("published again");
    c.wait(Duration::from_secs(5), || c.status("wg0").published == all).await;
    let mut g = c.cluster.read(|s| s.endpoint_groups.values().next().cloned()).expect("group");
    g.domain = "edge.example.test".into();
    let spec = wgcluster_actors::state::EndpointGroupSpec {
        config: g.config,
        domain: g.domain,
        port: g.port,
        provider: g.provider,
        cloudflare_zone_id: g.cloudflare_zone_id,
        cloudflare_record_name: None,
        ttl: 60,
        auto_migrate: true,
        publish_only_healthy: true,
        min_nodes: 1,
    };
    c.cmd(Command::SetEndpointGroup { group: spec }).await;
    within(Duration::from_secs(10), || fake.addresses(ZONE_ID, NAME).is_empty() && fake.addresses(ZONE_ID, "edge.example.test") == all)
        .await
        .unwrap_or_else(|| panic!("old {:?} new {:?}", fake.addresses(ZONE_ID, NAME), fake.addresses(ZONE_ID, "edge.example.test")));
    c.wait(Duration::from_secs(5), || c.audit("dns_records_removed").len() == 2).await;
}

fn cfg_name() -> wgcluster_actors::model::ConfigName {
    cfg("wg0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind9_drift_edited_with_nsupdate_is_corrected_and_deletion_removes_the_records() {
    if !bind9::ensure_bind9() {
        return;
    }
    let b = Arc::new(tokio::task::spawn_blocking(Bind9::start).await.expect("named"));
    let c = TestCluster::start("drift-bind").await;
    c.nodes_and_config(&["192.0.2.1:51820", "192.0.2.2", "[2001:db8::3]:51820"]).await;
    let rfc2136 = Some(Rfc2136Settings {
        server: b.server(),
        zone: bind9::ZONE.into(),
        key_name: bind9::KEY_NAME.into(),
        key_secret: b.key_secret.clone(),
        algorithm: bind9::ALGORITHM.into(),
    });
    c.cmd(Command::SetDnsSettings { cloudflare: None, rfc2136, reconcile_interval_s: Some(INTERVAL.as_secs()) }).await;
    let _h = dns::start(c.cluster.clone(), c.db.clone(), following_the_setting()).expect("dns");
    c.group(DnsProviderKind::Rfc2136, 1, true).await;
    b.wait_for(NAME, &ALL, Duration::from_secs(15)).unwrap_or_else(|got| panic!("dig: {got:?}"));
    c.wait(Duration::from_secs(5), || c.status("wg0").published == sorted(&ALL)).await;
    // Another name in the zone, not ours.
    b.nsupdate(&["update add other.example.test. 60 A 198.51.100.8"]);

    let mut took = Vec::new();
    for round in 0..2u64 {
        let extra = format!("203.0.113.{}", 70 + round);
        let bin = b.clone();
        let add = format!("update add {NAME}. 60 A {extra}");
        let del = format!("update delete {NAME}. A 192.0.2.1");
        tokio::task::spawn_blocking(move || bin.nsupdate(&[&add, &del])).await.expect("nsupdate");
        let start = Instant::now();
        let want = ALL;
        let bw = b.clone();
        tokio::task::spawn_blocking(move || bw.wait_for(NAME, &want, INTERVAL + SLACK))
            .await
            .expect("dig")
            .unwrap_or_else(|got| panic!("round {round}: BIND still has {got:?} after one interval"));
        took.push(start.elapsed());
        c.wait(Duration::from_secs(5), || c.status("wg0").drift_corrected == round + 1).await;
        let d = c.status("wg0").last_drift.expect("last drift");
        assert_eq!((d.removed, d.restored), (vec![extra], vec!["192.0.2.1".to_string()]));
    }
    println!("DNS drift (BIND9 + nsupdate, reconcile interval {INTERVAL:?}): edited behind our back -> corrected in [{}] s", secs(&took));
    assert_eq!(c.audit("dns_drift_corrected").len(), 2);

    // Deleting the group removes its records from BIND; the other name stays.
    c.cmd(Command::DeleteEndpointGroup { config: cfg_name() }).await;
    let bw = b.clone();
    tokio::task::spawn_blocking(move || bw.wait_for(NAME, &[], Duration::from_secs(10)))
        .await
        .expect("dig")
        .unwrap_or_else(|got| panic!("BIND still has {got:?} after the group was deleted"));
    assert_eq!(b.addresses("other.example.test"), vec!["198.51.100.8".to_string()]);
    c.wait(Duration::from_secs(5), || c.audit("dns_records_removed").len() == 1 && c.cluster.read(|s| s.dns_removals.is_empty())).await;
}

/// Through the daemon: the interval is a DNS setting (bounded at the edge), the status shows the
/// reconciliation, and a removal pending when the daemon is killed (-9) is carried out after the
/// restart.
#[test]
fn daemon_setting_status_and_removal_across_kill_9() {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let mut d = Daemon::start("drift-daemon", "192.0.2.1");
    for bad in [json!(9), json!(86_401), json!("300"), json!(-1)] {
        let (s, v) = d.call("PUT", "/api/settings/dns", Some(json!({ "reconcile_interval_s": bad })));
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(v["message"].as_str().unwrap_or("").contains("reconcile_interval_s"), "{v}");
    }
    assert_eq!(d.ok("GET", "/api/settings/dns", None)["reconcile_interval_s"], 300);
    let v = d.ok(
        "PUT",
        "/api/settings/dns",
        Some(json!({ "cloudflare": { "api_token": TOKEN, "api_base": fake.base_url() }, "reconcile_interval_s": 10 })),
    );
    assert_eq!(v["reconcile_interval_s"], 10);
    d.config_with_nodes(&[("node2", "192.0.2.2", None)]);
    let group = json!({ "domain": NAME, "provider": "cloudflare", "cloudflare_zone_id": ZONE_ID, "ttl": 60 });
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(group));
    let both = sorted(&["192.0.2.1", "192.0.2.2"]);
    d.wait("published", Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == both);
    d.wait("status reported", Duration::from_secs(5), || d.ok("GET", "/api/dns/status", None)[0]["published"] == json!(both));

    fake.add_behind_our_back(ZONE_ID, "A", NAME, "203.0.113.50", 60, false);
    let t = d.wait("drift corrected", INTERVAL + SLACK, || fake.addresses(ZONE_ID, NAME) == both);
    println!("DNS drift (daemon, fake Cloudflare, interval 10 s): extra record removed in {:.2} s", t.as_secs_f64());
    d.wait("drift in the status", Duration::from_secs(5), || d.ok("GET", "/api/dns/status", None)[0]["drift_corrected"] == 1);
    let st = d.ok("GET", "/api/dns/status", None);
    assert_eq!(st[0]["last_drift"]["removed"], json!(["203.0.113.50"]), "{st}");
    assert_eq!(st[0]["reconcile_interval_s"], 10);
    assert!(st[0]["last_checked"].is_u64() && st[0]["last_reconcile"].is_u64(), "{st}");

    // Deleted while the provider is down, killed before it comes back: nothing is lost.
    fake.fail_with(503, None);
    d.ok("DELETE", "/api/configs/wg0/endpoint-group", None);
    d.wait("removal pending with an error", Duration::from_secs(10), || {
        let r = d.ok("GET", "/api/dns/removals", None);
        r[0]["record_name"] == NAME && r[0]["last_error"].is_string()
    });
    d.inner.kill9();
    fake.clear_faults();
    d.inner.start_again();
    let t = d.wait("records removed after the restart", Duration::from_secs(20), || fake.addresses(ZONE_ID, NAME).is_empty());
    println!("DNS removal (daemon): kill -9 during an outage -> records removed {:.2} s after the restart", t.as_secs_f64());
    d.wait("removal closed", Duration::from_secs(5), || d.ok("GET", "/api/dns/removals", None) == json!([]));
    let audit = d.ok("GET", "/api/audit-logs?action=dns_records_removed", None).to_string();
    assert!(audit.contains("192.0.2.1") && audit.contains("192.0.2.2"), "{audit}");
    assert!(!d.log().contains(TOKEN));
}
