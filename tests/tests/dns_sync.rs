//! DNS sync against the fake Cloudflare API, at the actor level: a real one-voter cluster (Raft,
//! the file store) whose state the tests build and change with commands, the real DNS sync task and the
//! real Cloudflare client. Covers: publishing exactly the healthy nodes, a node turning unhealthy,
//! records edited behind our back, fail static, 5xx/429 outages with the persistent queue,
//! supersession, dead entries with retry and drop, pagination, the batch fallback, slow answers,
//! and that neither `proxied: true` nor the token ever leave the daemon.

mod dns_common;

use dns_common::*;
use std::time::{Duration, Instant};
use wgcluster_actors::dns::{self, DnsHandle};
use wgcluster_actors::model::DnsProviderKind;
use wgcluster_tests::fake_cloudflare::FakeCloudflare;

const N1: &str = "192.0.2.1";
const N2: &str = "192.0.2.2";
const N3: &str = "2001:db8::3";

/// Cluster with node1..3 (v4, v4, v6 endpoints), config wg0 on all, Cloudflare settings pointing
/// at a fresh fake, DNS sync started with `cfg`. The endpoint group is not created yet.
async fn setup(tag: &str, cfg: dns::DnsSyncConfig) -> (TestCluster, FakeCloudflare, DnsHandle) {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let c = TestCluster::start(tag).await;
    c.nodes_and_config(&["192.0.2.1:51820", N2, "[2001:db8::3]:51820"]).await;
    c.cloudflare_settings(&fake.base_url(), TOKEN).await;
    let h = dns::start(c.cluster.clone(), c.db.clone(), cfg).expect("start dns sync");
    (c, fake, h)
}

fn addrs(fake: &FakeCloudflare) -> Vec<String> {
    fake.addresses(ZONE_ID, NAME)
}

async fn wait_addrs(c: &TestCluster, fake: &FakeCloudflare, want: &[&str]) {
    let want = sorted(want);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if addrs(fake) == want {
            return;
        }
        assert!(Instant::now() < deadline, "records {:?} never became {want:?}; status {:?}", addrs(fake), c.status("wg0"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn no_secret_anywhere(c: &TestCluster, h: &DnsHandle) {
    let audit = c.all_audit_text();
    assert!(!audit.contains(TOKEN), "token in audit: {audit}");
    let queue = format!("{:?}", h.list().unwrap());
    assert!(!queue.contains(TOKEN), "token in queue: {queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_exactly_the_healthy_nodes_and_follows_health() {
    let (c, fake, h) = setup("healthy", fast_config()).await;
    c.health("node2", false).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    wait_addrs(&c, &fake, &[N1, N3]).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").published == sorted(&[N1, N3])).await;
    let st = c.status("wg0");
    assert!(!st.degraded && st.last_error.is_none() && st.last_sync.is_some(), "{st:?}");
    assert!(!c.audit("dns_updated").is_empty());
    for r in fake.records(ZONE_ID) {
        assert!(!r.proxied && r.ttl == 60, "{r:?}");
        assert_eq!(r.kind, if r.content.contains(':') { "AAAA" } else { "A" });
    }

    // node2 recovers, node3 turns unhealthy: one change each, two requests (list + one op) or
    // list + batch when both happen in one coalescing window.
    fake.clear_log();
    c.health("node2", true).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    let after_one = fake.request_count();
    assert_eq!(after_one, 2, "list + one create: {:?}", fake.requests());
    c.health("node3", false).await;
    wait_addrs(&c, &fake, &[N1, N2]).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").published == sorted(&[N1, N2])).await;
    // A disabled node is not published either; the assignment's own health counts too.
    c.cmd(wgcluster_actors::state::Command::UpdateNode {
        id: node("node1"),
        patch: wgcluster_actors::state::NodePatch { enabled: Some(false), ..Default::default() },
    })
    .await;
    wait_addrs(&c, &fake, &[N2]).await;
    c.cmd(wgcluster_actors::state::Command::SetNodeHealth {
        node_id: node("node3"),
        config: Some(cfg("wg0")),
        healthy: false,
        reason: "test".into(),
    })
    .await;
    c.health("node3", true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(addrs(&fake), sorted(&[N2]), "assignment still unhealthy");
    assert!(!fake.proxied_ever_true());
    assert!(h.list().unwrap().is_empty());
    no_secret_anywhere(&c, &h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_edited_behind_our_back_are_corrected_on_the_next_sync() {
    let (c, fake, h) = setup("behind", fast_config()).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    // Someone adds an A record, deletes one of ours and turns another into a proxied one.
    fake.add_behind_our_back(ZONE_ID, "A", NAME, "203.0.113.66", 60, false);
    assert_eq!(fake.delete_behind_our_back(ZONE_ID, NAME, N1), 1);
    fake.delete_behind_our_back(ZONE_ID, NAME, N2);
    fake.add_behind_our_back(ZONE_ID, "A", NAME, N2, 300, true);
    // Other record types at the name are not ours to touch.
    fake.add_behind_our_back(ZONE_ID, "TXT", NAME, "v=hello", 60, false);
    fake.clear_log();
    h.sync_now();
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    c.wait(Duration::from_secs(5), || fake.records(ZONE_ID).iter().all(|r| !r.proxied && r.ttl == 60)).await;
    assert!(fake.records(ZONE_ID).iter().any(|r| r.kind == "TXT"));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2, "one list and one batch: {reqs:?}");
    assert_eq!((reqs[1].method.as_str(), reqs[1].path.ends_with("/dns_records/batch")), ("POST", true));
    assert!(!fake.proxied_ever_true());
    // The same correction happens on the next state change too (no explicit sync).
    fake.add_behind_our_back(ZONE_ID, "A", NAME, "203.0.113.67", 60, false);
    c.health("node3", false).await;
    wait_addrs(&c, &fake, &[N1, N2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_static_keeps_the_last_set_and_reports_degraded() {
    let (c, fake, h) = setup("failstatic", fast_config()).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    for n in ["node1", "node2", "node3"] {
        c.health(n, false).await;
    }
    c.wait(Duration::from_secs(5), || c.status("wg0").degraded).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(addrs(&fake), sorted(&[N1, N2, N3]), "the last set stays published");
    let st = c.status("wg0");
    assert_eq!(st.published, sorted(&[N1, N2, N3]));
    assert!(st.last_error.is_none());
    // One node back: it alone is published, not degraded any more.
    c.health("node2", true).await;
    wait_addrs(&c, &fake, &[N2]).await;
    c.wait(Duration::from_secs(5), || !c.status("wg0").degraded).await;
    // min_nodes 2 with one healthy: degraded again, keeping [N2].
    c.group(DnsProviderKind::Cloudflare, 2, true).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").degraded).await;
    assert_eq!(addrs(&fake), sorted(&[N2]));
    // publish_only_healthy off: every assigned node, healthy or not.
    c.group(DnsProviderKind::Cloudflare, 1, false).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    assert!(h.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_never_published_with_nothing_healthy_publishes_nothing() {
    let (c, fake, _h) = setup("hold", fast_config()).await;
    for n in ["node1", "node2", "node3"] {
        c.health(n, false).await;
    }
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").degraded).await;
    assert!(addrs(&fake).is_empty());
    assert_eq!(fake.request_count(), 0, "nothing to publish, nothing asked");
    c.health("node1", true).await;
    wait_addrs(&c, &fake, &[N1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_with_5xx_and_429_is_queued_then_converges() {
    let (c, fake, h) = setup("outage", fast_config()).await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;

    fake.fail_with(500, None);
    c.health("node2", false).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().iter().any(|e| e.attempts >= 2)).await;
    let e = h.list().unwrap().remove(0);
    assert_eq!((e.record_name.as_str(), e.config.as_str(), e.provider.as_str()), (NAME, "wg0", "cloudflare"));
    assert!(e.last_error.contains("HTTP 500"), "{}", e.last_error);
    assert_eq!(e.desired, sorted(&[N1, N3]));
    assert!(c.status("wg0").last_error.is_some_and(|m| m.contains("HTTP 500")));
    assert!(!c.audit("dns_failed").is_empty());

    // Newer desired state supersedes the queued work for the same name.
    c.health("node3", false).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().first().is_some_and(|x| x.desired == sorted(&[N1]))).await;
    let list = h.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, e.id, "same entry, superseded");

    // Now 429 with Retry-After 2: no request until the pause is over.
    fake.clear_faults();
    fake.rate_limit(2, None);
    fake.clear_log();
    c.wait(Duration::from_secs(5), || fake.request_count() >= 1).await;
    let first = fake.requests()[0].at;
    c.wait(Duration::from_secs(8), || h.list().unwrap().first().is_some_and(|x| x.last_error.contains("429"))).await;
    c.wait(Duration::from_secs(8), || fake.request_count() >= 2).await;
    let gap = fake.requests()[1].at - first;
    assert!(gap >= Duration::from_millis(1900), "Retry-After honoured: second request after {gap:?}");
    let entry = h.list().unwrap().remove(0);
    assert!(entry.last_error.contains("Retry-After 2s"), "{}", entry.last_error);

    fake.clear_faults();
    wait_addrs(&c, &fake, &[N1]).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().is_empty()).await;
    c.wait(Duration::from_secs(5), || c.status("wg0").last_error.is_none()).await;
    let all = addrs(&fake);
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(all, dedup, "no duplicate records");
    assert!(!fake.proxied_ever_true());
    no_secret_anywhere(&c, &h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_entries_stay_until_retried_or_dropped() {
    let mut cfg = fast_config();
    cfg.backoff.max_attempts = 2;
    cfg.backoff.base = std::time::Duration::from_millis(50);
    let (c, fake, h) = setup("dead", cfg).await;
    fake.fail_with(503, None);
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().first().is_some_and(|e| e.dead)).await;
    let n = fake.request_count();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fake.request_count(), n, "a dead entry is not retried automatically");
    let e = h.list().unwrap().remove(0);
    assert_eq!(e.attempts, 2);
    assert!(e.last_error.contains("HTTP 503"));

    // Retry with Cloudflare back: converges and the entry disappears.
    fake.clear_faults();
    assert!(h.retry(e.id).unwrap().is_some());
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().is_empty()).await;
    assert!(h.retry(e.id).unwrap().is_none());

    // Dropping a dead entry removes it for good (until the next change brings new work).
    fake.fail_with(503, None);
    c.health("node1", false).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().first().is_some_and(|e| e.dead)).await;
    let e = h.list().unwrap().remove(0);
    assert!(h.drop_entry(e.id).unwrap());
    assert!(!h.drop_entry(e.id).unwrap());
    assert!(h.list().unwrap().is_empty());
    fake.clear_faults();
    c.health("node2", false).await;
    wait_addrs(&c, &fake, &[N3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_entries_heal_at_the_next_full_resync_once_the_provider_is_back() {
    let mut cfg = fast_config();
    cfg.backoff.max_attempts = 2;
    cfg.backoff.base = std::time::Duration::from_millis(50);
    cfg.resync_every = Some(Duration::from_secs(2));
    let (c, fake, h) = setup("dead-heal", cfg).await;
    fake.fail_with(503, None);
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().first().is_some_and(|e| e.dead)).await;
    // Still failing: a full resync tries the dead work once more, and it stays dead.
    let n = fake.request_count();
    c.wait(Duration::from_secs(6), || fake.request_count() > n).await;
    assert!(h.list().unwrap().first().is_some_and(|e| e.dead), "a failed resync attempt leaves the entry dead");
    // The provider is back: the next full resync publishes without anyone calling retry.
    fake.clear_faults();
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().is_empty()).await;
    no_secret_anywhere(&c, &h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_zone_or_missing_settings_are_clear_errors() {
    let (c, fake, h) = setup("auth", fast_config()).await;
    c.cloudflare_settings(&fake.base_url(), "not-the-token").await;
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    c.wait(Duration::from_secs(5), || !h.list().unwrap().is_empty()).await;
    let e = h.list().unwrap().remove(0);
    assert!(e.last_error.contains("Cloudflare refused the API token (HTTP 401): 10000: Authentication error"), "{}", e.last_error);
    assert!(!e.last_error.contains("not-the-token"));
    // Fixing the token is new work: it runs at once and drains the queue.
    c.cloudflare_settings(&fake.base_url(), TOKEN).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().is_empty()).await;

    // A zone id Cloudflare does not know.
    let mut g = c.cluster.read(|s| s.endpoint_groups.values().next().cloned()).unwrap();
    g.cloudflare_zone_id = Some("ffffffffffffffffffffffffffffffff".into());
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
    c.cmd(wgcluster_actors::state::Command::SetEndpointGroup { group: spec }).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().first().is_some_and(|e| e.last_error.contains("7003"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_batch_fallback_and_slow_answers() {
    let mut cfg = fast_config();
    cfg.providers.timeout = Duration::from_millis(700);
    let (c, fake, h) = setup("pages", cfg).await;
    // 150 stray A records at our name: two pages of 100.
    for i in 0..150 {
        fake.add_behind_our_back(ZONE_ID, "A", NAME, &format!("198.51.{}.{}", 100 + i / 200, i % 200 + 1), 60, false);
    }
    c.group(DnsProviderKind::Cloudflare, 1, true).await;
    wait_addrs(&c, &fake, &[N1, N2, N3]).await;
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .filter_map(|r| r.query.iter().find(|(k, _)| k == "page").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(pages, vec!["1".to_string(), "2".to_string()], "both pages read");

    // Without the batch endpoint: one request per record operation, creates before deletes.
    fake.set_batch_enabled(false);
    fake.clear_log();
    c.health("node1", false).await;
    c.health("node2", false).await;
    c.cmd(wgcluster_actors::state::Command::UpdateNode {
        id: node("node2"),
        patch: wgcluster_actors::state::NodePatch { endpoint: Some(Some("192.0.2.22".into())), ..Default::default() },
    })
    .await;
    c.health("node2", true).await;
    wait_addrs(&c, &fake, &["192.0.2.22", N3]).await;
    let methods: Vec<String> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert!(methods.contains(&"DELETE".to_string()) && methods.contains(&"POST".to_string()), "{methods:?}");

    // Slow answers time out, get queued, and converge once Cloudflare is fast again.
    fake.set_delay(Duration::from_millis(1500));
    c.health("node3", false).await;
    c.wait(Duration::from_secs(10), || h.list().unwrap().first().is_some_and(|e| e.last_error.contains("in time"))).await;
    fake.set_delay(Duration::ZERO);
    wait_addrs(&c, &fake, &["192.0.2.22"]).await;
    c.wait(Duration::from_secs(5), || h.list().unwrap().is_empty()).await;
    assert!(!fake.proxied_ever_true());
}
