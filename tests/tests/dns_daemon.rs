//! DNS sync through the real daemon (`wgclusterd run`) against the fake Cloudflare API: the DNS
//! settings and queue routes, an endpoint group publishing exactly the healthy nodes (health from
//! the real health monitor probing stand-in routers), a router dying, and a Cloudflare outage
//! (500s, then 429s) with the daemon restarted in the middle: afterwards the records converge,
//! without duplicates, and no request ever said `proxied: true`. Secrets never show up in API
//! answers, audit entries, the queue or the daemon's log.

mod dns_common;

use dns_common::*;
use serde_json::{json, Value};
use std::time::Duration;
use wgcluster_tests::fake_cloudflare::FakeCloudflare;

fn queue(d: &Daemon) -> Vec<Value> {
    d.ok("GET", "/api/dns/queue", None).as_array().cloned().unwrap_or_default()
}

fn healthy(d: &Daemon, n: &str) -> bool {
    d.ok("GET", &format!("/api/nodes/{n}"), None)["healthy"].as_bool() == Some(true)
}

/// Health comes from the real health monitor: a pre-registered router with a `cluster_addr`
/// where nothing listens is marked unhealthy after a few missed probes; one without an address is
/// not probed and keeps its assumed health.
#[test]
fn cloudflare_through_the_daemon_with_health_outage_and_restart() {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let mut d = Daemon::start("cf", "192.0.2.1");

    // Settings: write-only token, masked on the way back.
    let v = d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": TOKEN, "api_base": fake.base_url() } })));
    assert_eq!(v["cloudflare"]["api_token"], "***");
    assert_eq!(v["cloudflare"]["api_base"], fake.base_url());
    let got = d.ok("GET", "/api/settings/dns", None);
    assert!(!got.to_string().contains(TOKEN));
    assert!(got["rfc2136"].is_null());

    let dead2 = format!("127.0.0.1:{}", free_port());
    d.config_with_nodes(&[("node2", "192.0.2.2", Some(&dead2)), ("node3", "2001:db8::3", None)]);
    d.wait("node2 marked unhealthy", Duration::from_secs(40), || !healthy(&d, "node2"));
    assert!(healthy(&d, "node3"));

    // Creating the group publishes exactly the healthy nodes; proxied is refused.
    let group = json!({ "domain": NAME, "provider": "cloudflare", "cloudflare_zone_id": ZONE_ID, "ttl": 60, "proxied": true });
    let (s, v) = d.call("POST", "/api/configs/wg0/endpoint-group", Some(group));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["proxied"], false);
    let healthy_set = sorted(&["192.0.2.1", "2001:db8::3"]);
    d.wait("healthy nodes published", Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == healthy_set);
    d.wait("status reported", Duration::from_secs(5), || {
        let st = d.ok("GET", "/api/dns/status", None);
        st[0]["published"] == json!(["192.0.2.1", "2001:db8::3"]) && st[0]["degraded"] == false
    });

    // A new router (assumed healthy until probed) joins the config, then turns unhealthy: its
    // record comes and goes.
    let dead4 = format!("127.0.0.1:{}", free_port());
    d.ok("POST", "/api/nodes", Some(json!({ "id": "node4", "endpoint": "192.0.2.4", "cluster_addr": dead4 })));
    d.ok("POST", "/api/configs/wg0/nodes", Some(json!({ "node_id": "node4" })));
    let with4 = sorted(&["192.0.2.1", "192.0.2.4", "2001:db8::3"]);
    d.wait("node4 published or already unhealthy", Duration::from_secs(15), || {
        fake.addresses(ZONE_ID, NAME) == with4 || !healthy(&d, "node4")
    });
    let took = d.wait("node4 unhealthy and out of DNS", Duration::from_secs(40), || {
        !healthy(&d, "node4") && fake.addresses(ZONE_ID, NAME) == healthy_set
    });
    eprintln!("node4 published, then removed {took:?} later");
    assert!(fake.requests().iter().any(|r| r.body.as_ref().is_some_and(|b| b.to_string().contains("192.0.2.4"))));

    // Outage: 500s. New work (publish every assigned node) fails and is queued.
    fake.fail_with(500, None);
    let all = json!({ "domain": NAME, "provider": "cloudflare", "cloudflare_zone_id": ZONE_ID, "ttl": 60, "publish_only_healthy": false });
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(all));
    d.wait("failure queued", Duration::from_secs(10), || queue(&d).first().is_some_and(|e| e["attempts"].as_u64() >= Some(1)));
    let e = queue(&d).remove(0);
    assert_eq!(e["state"], "pending");
    assert_eq!(e["record_name"], NAME);
    assert!(e["last_error"].as_str().unwrap_or("").contains("HTTP 500"), "{e}");
    let id = e["id"].as_u64().unwrap_or(0);

    // Then 429s with Retry-After; the daemon restarts in the middle of it.
    fake.clear_faults();
    fake.rate_limit(1, None);
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();
    let after = queue(&d);
    assert_eq!(after.len(), 1, "the queue survived the restart: {after:?}");
    assert_eq!(after[0]["id"].as_u64(), Some(id));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fake.addresses(ZONE_ID, NAME), healthy_set, "nothing changed during the outage");

    // Recovery: records converge, the queue drains.
    fake.clear_faults();
    let everyone = sorted(&["192.0.2.1", "192.0.2.2", "192.0.2.4", "2001:db8::3"]);
    d.wait("converged after the outage", Duration::from_secs(30), || fake.addresses(ZONE_ID, NAME) == everyone);
    d.wait("queue drained", Duration::from_secs(10), || queue(&d).is_empty());
    let all = fake.addresses(ZONE_ID, NAME);
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(all, dedup, "no duplicate records");
    assert!(!fake.proxied_ever_true(), "a request said proxied: true");
    assert!(fake.requests().iter().any(|r| r.status == 429) && fake.requests().iter().any(|r| r.status == 500));

    // Audit: dns_updated and dns_failed entries, no secret anywhere.
    let audit = d.ok("GET", "/api/audit-logs?limit=1000", None).to_string();
    assert!(audit.contains("dns_updated") && audit.contains("dns_failed") && audit.contains("dns_settings_updated"));
    for text in [audit, d.ok("GET", "/api/dns/status", None).to_string(), d.ok("GET", "/api/settings/dns", None).to_string(), d.log()] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}

#[test]
fn dns_routes_validate_mask_and_need_the_token() {
    let d = Daemon::start("routes", "192.0.2.1");
    // 401 without a token.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for path in ["/api/dns/queue", "/api/settings/dns", "/api/dns/status"] {
        let r = agent.get(&format!("http://{}{path}", d.api())).call().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let cases = [
        (json!({}), "give cloudflare, rfc2136 and/or reconcile_interval_s"),
        (json!({ "reconcile_interval_s": 5 }), "reconcile_interval_s: must be an integer from 10 to 86400"),
        (json!({ "cloudflare": {} }), "cloudflare.api_token: is required"),
        (json!({ "cloudflare": { "api_token": "t", "api_base": "ftp://x" } }), "cloudflare.api_base"),
        (json!({ "cloudflare": "x" }), "cloudflare: expected an object"),
        (json!({ "route53": {} }), "route53: unknown field"),
        (json!({ "rfc2136": { "server": "127.0.0.1:53", "zone": "example.test", "key_name": "k" } }), "rfc2136.key_secret: is required"),
        (
            json!({ "rfc2136": { "server": "127.0.0.1:53", "zone": "example.test", "key_name": "k", "key_secret": "c2VjcmV0", "algorithm": "md5" } }),
            "rfc2136.algorithm",
        ),
        (json!({ "rfc2136": { "zone": "example.test", "key_name": "k", "key_secret": "c2VjcmV0" } }), "rfc2136.server: is required"),
    ];
    for (body, want) in cases {
        let (s, v) = d.call("PUT", "/api/settings/dns", Some(body.clone()));
        assert_eq!(s, 400, "{body} -> {v}");
        assert!(v["message"].as_str().unwrap_or("").contains(want), "{body}: {} !~ {want}", v["message"]);
        assert_eq!(v["status"], false);
    }
    // Either part alone replaces only that part; an omitted secret keeps the stored one.
    d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": "tok-1" } })));
    let rfc =
        json!({ "rfc2136": { "server": "127.0.0.1:5300", "zone": "example.test", "key_name": "k1", "key_secret": "c2VjcmV0LXZhbHVl" } });
    d.ok("PUT", "/api/settings/dns", Some(rfc));
    // The stored secret is kept for the same server, never carried to a new one (issue 10, hole 1).
    d.ok("PUT", "/api/settings/dns", Some(json!({ "rfc2136": { "server": "127.0.0.1:5300", "zone": "example.test", "key_name": "k1" } })));
    let moved = json!({ "rfc2136": { "server": "127.0.0.1:5301", "zone": "example.test", "key_name": "k1" } });
    let (s, v) = d.call("PUT", "/api/settings/dns", Some(moved));
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("rfc2136.server"), "{v}");
    let moved =
        json!({ "rfc2136": { "server": "127.0.0.1:5301", "zone": "example.test", "key_name": "k1", "key_secret": "c2VjcmV0LXZhbHVl" } });
    d.ok("PUT", "/api/settings/dns", Some(moved));
    let v = d.ok("GET", "/api/settings/dns", None);
    assert_eq!(v["cloudflare"]["api_base"], "https://api.cloudflare.com/client/v4");
    assert_eq!(v["cloudflare"]["api_token"], "***");
    assert_eq!(v["rfc2136"]["server"], "127.0.0.1:5301");
    assert_eq!(v["rfc2136"]["key_secret"], "***");
    assert_eq!(v["rfc2136"]["key_secret_set"], true);
    assert_eq!(v["rfc2136"]["algorithm"], "hmac-sha256");
    let audit = d.ok("GET", "/api/audit-logs?action=dns_settings_updated", None).to_string();
    assert!(!audit.contains("tok-1") && !audit.contains("c2VjcmV0LXZhbHVl"), "{audit}");
    // Queue routes.
    assert_eq!(d.ok("GET", "/api/dns/queue", None), json!([]));
    assert_eq!(d.call("POST", "/api/dns/queue/42/retry", None).0, 404);
    assert_eq!(d.call("DELETE", "/api/dns/queue/42", None).0, 404);
    let (s, v) = d.call("DELETE", "/api/dns/queue/abc", None);
    assert_eq!(s, 400);
    assert!(v["message"].as_str().unwrap_or("").starts_with("id:"), "{v}");
}

/// An endpoint group's floating address in DNS (#16, `vip_in_dns`): the domain's only record is
/// the VIP and client configs name the domain; switched off, the domain lists the routers again
/// and client configs name the VIP itself.
#[test]
fn a_floating_address_in_dns_is_the_only_record_and_configs_name_the_domain() {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let d = Daemon::start("cf-vip", "192.0.2.1");
    d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": TOKEN, "api_base": fake.base_url() } })));
    d.config_with_nodes(&[("node2", "192.0.2.2", None)]);
    let group = |in_dns: Option<bool>| {
        let mut g = json!({ "domain": NAME, "provider": "cloudflare", "cloudflare_zone_id": ZONE_ID, "ttl": 60,
                            "vip": "192.0.2.200", "vrid": 51 });
        if let Some(b) = in_dns {
            g["vip_in_dns"] = json!(b);
        }
        g
    };
    let v = d.ok("POST", "/api/configs/wg0/endpoint-group", Some(group(Some(true))));
    assert_eq!((v["vip"].as_str(), v["vip_in_dns"].as_bool()), (Some("192.0.2.200"), Some(true)), "{v}");
    d.wait("the VIP published as the only record", Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == sorted(&["192.0.2.200"]));
    let peer = d.ok("POST", "/api/configs/wg0/peers", Some(json!({ "name": "phone" })));
    let pid = peer["id"].as_str().unwrap_or_default().to_string();
    let endpoint = |d: &Daemon| {
        let (s, text) = d.inner.client().get_text(&format!("/api/configs/wg0/peers/{pid}/config"));
        assert_eq!(s, 200, "{text}");
        text.lines().find_map(|l| l.strip_prefix("Endpoint = ").map(str::to_string)).unwrap_or_default()
    };
    assert_eq!(endpoint(&d), format!("{NAME}:51820"), "with the VIP in DNS the config names the domain");

    // Off (the default): the routers are the records again, the config names the VIP.
    let v = d.ok("POST", "/api/configs/wg0/endpoint-group", Some(group(None)));
    assert_eq!(v["vip_in_dns"].as_bool(), Some(false), "{v}");
    d.wait("the routers published again", Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == sorted(&["192.0.2.1", "192.0.2.2"]));
    assert_eq!(endpoint(&d), "192.0.2.200:51820");
    assert!(!fake.proxied_ever_true());
}
