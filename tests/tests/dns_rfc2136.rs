//! RFC 2136 against a real BIND9 (`named -g` on 127.0.0.1, zone example.test, TSIG hmac-sha256):
//! the provider on its own (list, one atomic update per plan, TTL corrections, a wrong key
//! refused with a clear NOTAUTH/BADSIG error), and the whole daemon: `dig` shows the healthy set
//! after each change, a wrong TSIG key gives an authentication error and a queued retry, and
//! fixing the key drains the queue.
//!
//! Needs root to install bind9 when missing; under `CI=true` a missing prerequisite fails.

mod dns_common;

use dns_common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;
use wgcluster_actors::dns::plan::{diff, Plan};
use wgcluster_actors::dns::rfc2136::Rfc2136;
use wgcluster_actors::dns::{DnsProvider, ProviderError, Target};
use wgcluster_actors::model::Rfc2136Settings;
use wgcluster_tests::bind9::{self, Bind9};

fn settings(b: &Bind9, secret: &str) -> Rfc2136Settings {
    Rfc2136Settings {
        server: b.server(),
        zone: bind9::ZONE.into(),
        key_name: bind9::KEY_NAME.into(),
        key_secret: secret.into(),
        algorithm: bind9::ALGORITHM.into(),
    }
}

fn set(items: &[&str]) -> BTreeSet<IpAddr> {
    items.iter().map(|s| s.parse().expect("ip")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_lists_updates_atomically_and_names_auth_errors() {
    if !bind9::ensure_bind9() {
        return;
    }
    let b = tokio::task::spawn_blocking(Bind9::start).await.expect("start named");
    let p = Rfc2136::new(&settings(&b, &b.key_secret), Duration::from_secs(3)).expect("provider");
    let t = Target { zone: bind9::ZONE.into(), name: NAME.into(), ttl: 60 };
    assert!(p.list(&t).await.expect("list").is_empty());

    let want = set(&["192.0.2.1", "192.0.2.2", "2001:db8::3"]);
    let plan = diff(&want, 60, &p.list(&t).await.expect("list"));
    assert_eq!(p.apply(&t, &plan).await.expect("apply"), 1, "one update message");
    assert_eq!(b.addresses(NAME), sorted(&["192.0.2.1", "192.0.2.2", "2001:db8::3"]));
    let listed = p.list(&t).await.expect("list");
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| r.ttl == 60));
    assert!(diff(&want, 60, &listed).is_empty(), "in sync after one update");

    // Swap one address and change the TTL: still one message; the set is never empty.
    let want = set(&["192.0.2.1", "192.0.2.9", "2001:db8::3"]);
    let plan: Plan = diff(&want, 120, &p.list(&t).await.expect("list"));
    assert_eq!((plan.create.len(), plan.delete.len(), plan.update.len()), (1, 1, 2));
    let t120 = Target { ttl: 120, ..t.clone() };
    p.apply(&t120, &plan).await.expect("apply");
    assert_eq!(b.addresses(NAME), sorted(&["192.0.2.1", "192.0.2.9", "2001:db8::3"]));
    let l = p.list(&t).await.expect("list");
    assert!(l.len() == 3 && l.iter().all(|r| r.ttl == 120), "{l:?}");

    // A wrong key: the server says NOTAUTH (BADSIG), and we say so.
    let wrong = Rfc2136::new(&settings(&b, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="), Duration::from_secs(3)).expect("provider");
    match wrong.list(&t).await {
        Err(ProviderError::Auth(m)) => {
            assert!(m.contains("TSIG authentication failed") && m.contains("NOTAUTH"), "{m}");
            assert!(m.contains("BADSIG"), "{m}");
            assert!(!m.contains("d3Jvbmc"), "secret in message: {m}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    match wrong.apply(&t, &plan).await {
        Err(ProviderError::Auth(m)) => assert!(m.contains("update"), "{m}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    // A key name the server does not know: BADKEY.
    let mut unknown = settings(&b, &b.key_secret);
    unknown.key_name = "nobody-key".into();
    match Rfc2136::new(&unknown, Duration::from_secs(3)).expect("provider").list(&t).await {
        Err(ProviderError::Auth(m)) => assert!(m.contains("BADKEY"), "{m}"),
        other => panic!("expected BADKEY, got {other:?}"),
    }
    // Outside the zone: refused before anything is sent.
    let outside = Target { zone: bind9::ZONE.into(), name: "vpn.example.com".into(), ttl: 60 };
    assert!(matches!(p.list(&outside).await, Err(ProviderError::Config(_))));
    // Nobody listening: a transient error (retried by the queue).
    let mut gone = settings(&b, &b.key_secret);
    gone.server = format!("127.0.0.1:{}", free_port());
    assert!(matches!(Rfc2136::new(&gone, Duration::from_secs(1)).expect("p").list(&t).await, Err(ProviderError::Transient(_))));
    assert_eq!(b.addresses(NAME), sorted(&["192.0.2.1", "192.0.2.9", "2001:db8::3"]), "nothing changed by refused requests");
}

/// node2 is pre-registered without a cluster address (not probed: keeps its assumed health);
/// node3 with a cluster address where nothing listens, so the health monitor marks it unhealthy
/// a few probe intervals after it was created.
#[test]
fn daemon_keeps_bind_equal_to_the_healthy_set_and_recovers_from_a_wrong_key() {
    if !bind9::ensure_bind9() {
        return;
    }
    let b = Bind9::start();
    let d = Daemon::start("rfc", "192.0.2.1");
    let rfc = |secret: &str| json!({ "rfc2136": { "server": b.server(), "zone": bind9::ZONE, "key_name": bind9::KEY_NAME, "key_secret": secret, "algorithm": "hmac-sha256" } });
    d.ok("PUT", "/api/settings/dns", Some(rfc(&b.key_secret)));
    let dead = format!("127.0.0.1:{}", free_port());
    d.config_with_nodes(&[("node2", "192.0.2.2:51820", None), ("node3", "[2001:db8::3]:51820", Some(&dead))]);
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(json!({ "domain": NAME, "provider": "rfc2136", "ttl": 60 })));
    // Published while node3 still counts as healthy (it has not missed enough probes yet)...
    let node3_healthy = || d.ok("GET", "/api/nodes/node3", None)["healthy"] == true;
    let all = sorted(&["192.0.2.1", "192.0.2.2", "2001:db8::3"]);
    d.wait("the healthy set in BIND", Duration::from_secs(15), || b.addresses(NAME) == all || !node3_healthy());
    // ...and node3 leaves DNS once the health monitor marks it unhealthy.
    d.wait("node3 unhealthy", Duration::from_secs(40), || !node3_healthy());
    b.wait_for(NAME, &["192.0.2.1", "192.0.2.2"], Duration::from_secs(15)).unwrap_or_else(|got| panic!("dig: {got:?}"));
    assert_eq!(b.dig(NAME, "AAAA"), Vec::<String>::new());

    // A wrong key: an authentication error and a queued retry; DNS keeps the last good set.
    d.ok("PUT", "/api/settings/dns", Some(rfc("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")));
    d.ok("PATCH", "/api/nodes/node2", Some(json!({ "enabled": false })));
    d.wait("auth failure queued", Duration::from_secs(20), || {
        let q = d.ok("GET", "/api/dns/queue", None);
        q[0]["last_error"].as_str().is_some_and(|e| e.contains("TSIG authentication failed")) && q[0]["desired"] == json!(["192.0.2.1"])
    });
    let q = d.ok("GET", "/api/dns/queue", None);
    assert_eq!(q.as_array().map(Vec::len), Some(1), "{q}");
    assert_eq!(q[0]["provider"], "rfc2136");
    assert_eq!(q[0]["desired"], json!(["192.0.2.1"]));
    assert!(q[0]["last_error"].as_str().unwrap_or("").contains("BADSIG"), "{q}");
    d.wait("the failure reported in the group's status", Duration::from_secs(10), || {
        d.ok("GET", "/api/dns/status", None)[0]["last_error"].as_str().unwrap_or("").contains("TSIG")
    });
    assert_eq!(b.addresses(NAME), sorted(&["192.0.2.1", "192.0.2.2"]));

    // Fixing the key is new work: it runs at once and drains the queue.
    d.ok("PUT", "/api/settings/dns", Some(rfc(&b.key_secret)));
    b.wait_for(NAME, &["192.0.2.1"], Duration::from_secs(15)).unwrap_or_else(|got| panic!("dig: {got:?}\n{}", d.log()));
    d.wait("queue drained", Duration::from_secs(10), || d.ok("GET", "/api/dns/queue", None) == json!([]));
    d.wait("status clear", Duration::from_secs(10), || d.ok("GET", "/api/dns/status", None)[0]["last_error"].is_null());
    let audit = d.ok("GET", "/api/audit-logs?limit=1000", None).to_string();
    assert!(audit.contains("dns_failed") && audit.contains("dns_updated"));
    for text in [audit, d.log(), d.ok("GET", "/api/settings/dns", None).to_string()] {
        assert!(!text.contains(&b.key_secret) && !text.contains("d3Jvbmcta2V5"), "TSIG secret leaked");
    }
}
