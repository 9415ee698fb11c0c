//! Scenario: Mode A (three routers, one DNS name, a client) (part of [the failover lab](super)).

use super::*;

/// Three routers sharing config `wg0` with an endpoint group (`vpn.example.test`, rfc2136 to the
/// lab's BIND9), `extra_peers` peers plus the client's, and a client connected through a router
/// that is not the panel (or is, with `via_panel`). Fields drop in order: the lab (which kills
/// everything) last.
pub struct ModeA {
    pub watchdog: Option<Watchdog>,
    pub pinger: Option<Pinger>,
    pub client: WgClient,
    pub client_peer: Value,
    /// The router the client uses.
    pub via: String,
    /// The router's tunnel address the client pings.
    pub target: Ipv4Addr,
    pub cluster: LabCluster,
    pub resolver: ClientResolver,
    pub dns: LabDns,
    pub client_host: Host,
    pub lab: Lab,
}

/// Timings of one failover (seconds from the kill, except where said).
#[derive(Clone, Debug, Default)]
pub struct Failover {
    pub killed_at: u64,
    pub killed: String,
    pub detected_s: Option<f64>,
    pub migrated_s: Option<f64>,
    pub migrated_count: Option<u64>,
    pub drained_s: Option<f64>,
    pub dns_changed_s: Option<f64>,
    pub switched_s: Option<f64>,
    pub restored_s: Option<f64>,
    /// Last reply before the kill -> first after it.
    pub outage_s: Option<f64>,
    /// Mode B: the destination's wireguard-go carries every moved peer (seconds after the kill).
    pub applied_s: Option<f64>,
    pub switched_to: Option<String>,
}

impl ModeA {
    pub fn setup(prefix: &str, extra_peers: usize, via_panel: bool, say: &dyn Fn(&str)) -> ModeA {
        let lab = Lab::new(prefix);
        let dns = LabDns::start(lab.add_host("dns"));
        say(&format!("BIND9 serving {} on {}:53", bind9::ZONE, dns.host.addr));
        let client_host = lab.add_host("client");
        let resolver = ClientResolver::install(&client_host, dns.host.addr);
        let t = Instant::now();
        let cluster = LabCluster::start(&lab, &client_host, &[("r1", false), ("r2", false), ("r3", false)]);
        say(&format!(
            "cluster of three routers up in {:.1} s: {}",
            t.elapsed().as_secs_f64(),
            cluster.routers.iter().map(|r| format!("{}={}", r.node_id, r.host.addr)).collect::<Vec<_>>().join(", ")
        ));
        let api = cluster.api("r1");
        api.ok("PUT", "/api/settings/dns", Some(&dns.settings()));
        // The failover benchmark's health profile (`WGC_BENCH_HEALTH_PROFILE=lan`: sub-second
        // detection for routers on one LAN, #16); unset, the product's defaults (tests).
        if let Ok(profile) = std::env::var("WGC_BENCH_HEALTH_PROFILE") {
            let h = api.ok("PUT", "/api/settings/health", Some(&json!({ "profile": profile })));
            say(&format!("health profile {profile}: detection budget {} ms", h["detection_budget_ms"]));
        }
        let tunnel_net = Ipv4Addr::from(u32::from(lab.tunnel_addr(1)) & 0xffff_ff00);
        let target = lab.tunnel_addr(1);
        create_config(&api, "wg0", &format!("{target}/24"), &format!("{tunnel_net}/24"), &["r1", "r2", "r3"]);
        api.ok(
            "POST",
            "/api/configs/wg0/endpoint-group",
            Some(&json!({ "domain": ENDPOINT_NAME, "port": WG_PORT, "provider": "rfc2136", "ttl": 1 })),
        );
        if extra_peers > 0 {
            create_peers(&api, "wg0", "peer", extra_peers, None);
        }
        let client_peer = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop" })));
        let all: BTreeSet<String> = cluster.routers.iter().map(|r| r.host.addr.to_string()).collect();
        wait_for("DNS to publish the three routers", Duration::from_secs(30), || {
            let got: BTreeSet<String> = dns.query(&client_host, ENDPOINT_NAME, "A").into_iter().collect();
            (got == all).then_some(())
        });
        say(&format!("{ENDPOINT_NAME} -> {}", all.iter().cloned().collect::<Vec<_>>().join(", ")));
        let n = extra_peers + 1;
        wait_for("every router's wireguard-go to carry every peer", Duration::from_secs(30), || {
            cluster.routers.iter().all(|r| r.wg_keys("wg0").len() == n).then_some(())
        });
        let pid = client_peer["id"].as_str().expect("peer id").to_string();
        let text = api.text(&format!("/api/configs/wg0/peers/{pid}/config"));
        let conf = ClientConf::parse(&text);
        assert_eq!(conf.endpoint, format!("{ENDPOINT_NAME}:{WG_PORT}"), "Mode A config names the cluster endpoint:\n{text}");
        // The client resolves the name like wg-quick (through the lab DNS)...
        let client = WgClient::start(&client_host, conf, None);
        // ...and for a deterministic run we put it on a router that is not the panel, or on the
        // panel when `via_panel` (then the kill also costs the cluster its panel).
        let leader = cluster.wait_leader(&[], Duration::from_secs(10));
        let resolved = client.endpoint_ip().unwrap_or_default();
        let fits = |r: &&Router| (r.node_id == leader) == via_panel;
        let via = cluster
            .routers
            .iter()
            .filter(fits)
            .find(|r| r.host.addr.to_string() == resolved)
            .or_else(|| cluster.routers.iter().find(fits))
            .expect("a router to use")
            .node_id
            .clone();
        let via_addr = cluster.router(&via).host.addr;
        if resolved != via_addr.to_string() {
            client.switch(&format!("{via_addr}:{WG_PORT}"), Switch::Rehandshake);
        }
        say(&format!("client 'laptop' resolved {ENDPOINT_NAME} and uses {via} ({via_addr}); the panel is {leader}"));
        assert!(client_host.ping_until(target, Duration::from_secs(20)), "client cannot ping {target} through {via}");
        ModeA { watchdog: None, pinger: None, client, client_peer, via, target, cluster, resolver, dns, client_host, lab }
    }

    /// Starts the ping and the watchdog (`stale`: also move when nothing came back for that
    /// long), kills the router the client uses, and follows the failover until the client's
    /// traffic is back, DNS has changed and the migration is committed (bounded by `timeout`).
    pub fn fail_and_recover(&mut self, how: Switch, stale: Option<Duration>, timeout: Duration, say: &dyn Fn(&str)) -> Failover {
        self.pinger = Some(Pinger::start(&self.client_host, self.target));
        self.watchdog = Some(Watchdog::start(&self.client, ENDPOINT_NAME, Duration::from_secs(1), stale, how));
        let pinger = self.pinger.as_ref().expect("pinger");
        wait_for("the ping to answer", Duration::from_secs(10), || pinger.first_reply_after(now_ms().saturating_sub(500)));
        let dead = self.via.clone();
        let dead_addr = self.cluster.router(&dead).host.addr.to_string();
        let killed_at = now_ms();
        let n = self.cluster.router_mut(&dead).kill_all();
        // Every process of the router is gone now: a reply after this came through another one.
        let gone_at = now_ms();
        say(&format!("t=0.00 s  killed every process of {dead} ({n}: wgclusterd and its wireguard-go)"));
        let mut f = Failover { killed_at, killed: dead.clone(), ..Default::default() };
        let deadline = Instant::now() + timeout;
        let api = self.cluster.any_api(&[&dead]);
        let at = |t: u64| (t as f64 - killed_at as f64) / 1000.0;
        let mut switches = 0;
        loop {
            let now = now_ms();
            if f.dns_changed_s.is_none() {
                let got = self.dns.query(&self.client_host, ENDPOINT_NAME, "A");
                if !got.is_empty() && !got.contains(&dead_addr) {
                    f.dns_changed_s = secs(killed_at, Some(now));
                    say(&format!("t={:.2} s  DNS answer changed: {ENDPOINT_NAME} -> {}", at(now), got.join(", ")));
                }
            }
            if f.detected_s.is_none() || f.migrated_s.is_none() {
                let a = audit_times(&api, "wg0", &dead, killed_at);
                if let (Some(t), None) = (a.unhealthy_at, f.detected_s) {
                    f.detected_s = secs(killed_at, Some(t));
                    say(&format!("t={:.2} s  the panel marked {dead} unhealthy (3 missed probes)", at(t)));
                }
                if let (Some(t), None) = (a.migrated_at, f.migrated_s) {
                    f.migrated_s = secs(killed_at, Some(t));
                    f.migrated_count = a.migrated_count;
                    say(&format!("t={:.2} s  migration committed: {} peer(s) re-homed off {dead}", at(t), a.migrated_count.unwrap_or(0)));
                }
            }
            let events: Vec<WatchdogEvent> =
                self.watchdog.as_ref().map(|w| w.events()).unwrap_or_default().into_iter().filter(|e| e.at_ms >= killed_at).collect();
            for ev in events.iter().skip(switches) {
                if f.switched_s.is_none() {
                    f.switched_s = secs(killed_at, Some(ev.at_ms));
                    f.switched_to = Some(ev.to.clone());
                }
                say(&format!(
                    "t={:.2} s  client watchdog: {} -> {} ({})",
                    at(ev.at_ms),
                    ev.from.clone().unwrap_or_default(),
                    ev.to,
                    ev.why
                ));
            }
            switches = events.len();
            if f.restored_s.is_none() {
                if let Some(r) = self.pinger.as_ref().and_then(|p| p.first_reply_after(gone_at + 100)) {
                    f.restored_s = secs(killed_at, Some(r));
                    f.outage_s = self.pinger.as_ref().and_then(|p| p.last_reply_before(killed_at + 1)).map(|l| (r - l) as f64 / 1000.0);
                    say(&format!("t={:.2} s  client traffic restored (the ping through the tunnel answers again)", at(r)));
                }
            }
            let done = f.restored_s.is_some() && f.dns_changed_s.is_some() && f.migrated_s.is_some();
            if done || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f
    }
}
