//! Scenario (#16): a floating address (VRRP through keepalived) in front of three Mode A routers
//! (part of [the failover lab](super)). Each router's daemon writes keepalived's configuration for
//! the endpoint group's `vip`; the test runs keepalived in every router namespace. A stock client
//! (wireguard-go configured with `wg` and `ip`, nothing else running) has the address as its
//! endpoint. The master loses power (its cable pulled, every process of its namespace,
//! keepalived included, SIGKILLed by PID); the next router by priority takes the address, keepalived's notify tells its
//! daemon, and the daemon initiates handshakes to the peers' last known endpoints.

use super::*;

/// The VRRP router id the scenario uses.
pub const VRID: u8 = 51;

/// Three routers with a VIP and one stock client pinging through it. Fields drop in order: the
/// lab (which kills everything) last.
pub struct VipLab {
    pub pinger: Option<Pinger>,
    pub client: WgClient,
    pub client_peer: Value,
    pub vip: Ipv4Addr,
    pub target: Ipv4Addr,
    pub cluster: LabCluster,
    pub dns: LabDns,
    pub client_host: Host,
    pub lab: Lab,
}

/// One power-off of the master, seconds after the kill.
#[derive(Clone, Debug, Default)]
pub struct VipFailover {
    pub killed: String,
    /// When the cable was pulled (ms since the epoch).
    pub killed_at: u64,
    /// The next router holds the address (its keepalived added it).
    pub moved_s: Option<f64>,
    pub moved_to: Option<String>,
    /// The client's ping answers again.
    pub restored_s: Option<f64>,
}

impl VipLab {
    /// `hooks`: keepalived runs the daemon's configuration as written; without, a copy with the
    /// notify hooks taken out (the benchmark's "keepalived alone" baseline: the address moves,
    /// nobody initiates a handshake, the client waits for its own timers).
    pub fn setup(prefix: &str, preempt: bool, hooks: bool, say: &dyn Fn(&str)) -> VipLab {
        let lab = Lab::new(prefix);
        let dns = LabDns::start(lab.add_host("dns"));
        let client_host = lab.add_host("client");
        let t = Instant::now();
        let mut cluster = LabCluster::start(&lab, &client_host, &[("r1", false), ("r2", false), ("r3", false)]);
        say(&format!("cluster of three routers up in {:.1} s", t.elapsed().as_secs_f64()));
        let api = cluster.api("r1");
        api.ok("PUT", "/api/settings/dns", Some(&dns.settings()));
        api.ok("PUT", "/api/settings/usage", Some(&json!({ "interval_s": 5 })));
        let tunnel_net = Ipv4Addr::from(u32::from(lab.tunnel_addr(1)) & 0xffff_ff00);
        let target = lab.tunnel_addr(1);
        create_config(&api, "wg0", &format!("{target}/24"), &format!("{tunnel_net}/24"), &["r1", "r2", "r3"]);
        let vip = Ipv4Addr::from(u32::from(lab.underlay().0) | 200);
        api.ok(
            "POST",
            "/api/configs/wg0/endpoint-group",
            Some(&json!({ "domain": ENDPOINT_NAME, "port": WG_PORT, "provider": "rfc2136", "ttl": 1,
                          "vip": vip.to_string(), "vip_interface": "eth0", "vrid": VRID, "vip_preempt": preempt })),
        );
        wait_for("every router to write keepalived's configuration", Duration::from_secs(20), || {
            cluster
                .routers
                .iter()
                .all(|r| std::fs::read_to_string(r.keepalived_conf()).is_ok_and(|t| t.contains(&format!("virtual_router_id {VRID}"))))
                .then_some(())
        });
        // r1 first, alone until it holds the address: without preemption the first master keeps
        // it, and the others must join a running master (as a powered-on router would).
        let start = |r: &mut Router| {
            if hooks {
                r.start_keepalived();
            } else {
                let text = std::fs::read_to_string(r.keepalived_conf()).expect("keepalived.conf");
                let bare: String = text.lines().filter(|l| !l.trim_start().starts_with("notify_")).map(|l| format!("{l}\n")).collect();
                let copy = r.host.dir().join("keepalived-nohooks.conf");
                std::fs::write(&copy, bare).expect("write the copy without hooks");
                r.start_keepalived_with(&copy);
            }
        };
        start(cluster.router_mut("r1"));
        wait_for("r1 (started first) to hold the floating address", Duration::from_secs(20), || {
            cluster.router("r1").holds(vip).then_some(())
        });
        start(cluster.router_mut("r2"));
        start(cluster.router_mut("r3"));
        // Past their master-down interval (3 adverts + skew): they heard r1 and stayed backups.
        std::thread::sleep(Duration::from_millis(3500));
        wait_for("r1 (highest priority) to hold the floating address", Duration::from_secs(20), || {
            (cluster.router("r1").holds(vip) && !cluster.router("r2").holds(vip) && !cluster.router("r3").holds(vip)).then_some(())
        });
        say(&format!("keepalived in every router; r1 holds {vip} (preemption {})", if preempt { "on" } else { "off" }));
        let client_peer = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop" })));
        let key = client_peer["public_key"].as_str().expect("public key").to_string();
        wait_for("every router to carry the client's peer", Duration::from_secs(30), || {
            cluster.routers.iter().all(|r| r.wg_keys("wg0").contains(&key)).then_some(())
        });
        let pid = client_peer["id"].as_str().expect("peer id").to_string();
        let text = api.text(&format!("/api/configs/wg0/peers/{pid}/config"));
        let conf = ClientConf::parse(&text);
        assert_eq!(conf.endpoint, format!("{vip}:{WG_PORT}"), "with a vip the client config names it:\n{text}");
        let client = WgClient::start(&client_host, conf, None);
        assert!(client_host.ping_until(target, Duration::from_secs(20)), "the client cannot ping {target} through {vip}");
        let l = VipLab { pinger: None, client, client_peer, vip, target, cluster, dns, client_host, lab };
        l.wait_book("r1");
        say("stock client pings through the floating address; the usage book has its endpoint");
        l
    }

    /// Waits until the usage book says `router` serves the client, with its endpoint.
    pub fn wait_book(&self, router: &str) {
        let api = self.cluster.any_api(&[]);
        let id = self.client_peer["id"].as_str().unwrap_or("").to_string();
        wait_for(&format!("the usage book to show the client served by {router}"), Duration::from_secs(40), || {
            let peers = api.peers("wg0");
            peers
                .iter()
                .any(|p| p["id"] == id.as_str() && p["status"]["serving_node"] == router && p["status"]["endpoint"].is_string())
                .then_some(())
        });
    }

    /// keepalived's state changes so far, per router (`Entering MASTER STATE` and friends from
    /// its log), for the narration and for diagnosing a transition the test did not cause.
    pub fn vrrp_transitions(&self) -> Vec<(String, Vec<String>)> {
        self.cluster
            .routers
            .iter()
            .map(|r| {
                let log = std::fs::read_to_string(r.host.dir().join("keepalived.log")).unwrap_or_default();
                let lines = log.lines().filter(|l| l.contains("Entering") && l.contains("STATE")).map(|l| l.trim().to_string()).collect();
                (r.node_id.clone(), lines)
            })
            .collect()
    }

    /// The router holding the address now, if exactly one does.
    pub fn holder(&self) -> Option<String> {
        let holders: Vec<&Router> = self.cluster.routers.iter().filter(|r| r.alive && r.holds(self.vip)).collect();
        (holders.len() == 1).then(|| holders[0].node_id.clone())
    }

    /// Powers the master off and follows until the address moved and the ping answers again.
    pub fn power_off(&mut self, dead: &str, timeout: Duration, say: &dyn Fn(&str)) -> VipFailover {
        if self.pinger.is_none() {
            self.pinger = Some(Pinger::start(&self.client_host, self.target));
        }
        let pinger = self.pinger.as_ref().expect("pinger");
        wait_for("the ping to answer", Duration::from_secs(10), || pinger.first_reply_after(now_ms().saturating_sub(500)));
        say(&format!("keepalived so far: {:?}", self.vrrp_transitions()));
        let killed_at = now_ms();
        // The cable first: whatever a dying process still sends (keepalived was seen sending its
        // priority-0 farewell advert while the namespace was being killed) never leaves the box,
        // as in a power cut.
        self.lab.cut_link(&self.cluster.router(dead).host);
        let n = self.cluster.router_mut(dead).kill_all();
        let gone_at = now_ms();
        say(&format!("t=0.00 s  killed every process of {dead} ({n}: wgclusterd, wireguard-go, keepalived)"));
        let mut f = VipFailover { killed: dead.to_string(), killed_at, ..Default::default() };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && (f.moved_s.is_none() || f.restored_s.is_none()) {
            if f.moved_s.is_none() {
                if let Some(h) = self.holder() {
                    f.moved_s = secs(killed_at, Some(now_ms()));
                    say(&format!("t={:.2} s  {h} holds {}", f.moved_s.unwrap_or(0.0), self.vip));
                    f.moved_to = Some(h);
                }
            }
            if f.restored_s.is_none() {
                if let Some(r) = self.pinger.as_ref().and_then(|p| p.first_reply_after(gone_at + 100)) {
                    f.restored_s = secs(killed_at, Some(r));
                    say(&format!("t={:.2} s  the client's ping answers again", f.restored_s.unwrap_or(0.0)));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if f.moved_s.is_some_and(|m| m < 2.0) {
            // Faster than VRRP's master-down interval (3 adverts + skew): say what keepalived saw.
            for r in &self.cluster.routers {
                say(&format!(
                    "{} keepalived log (moved early):\n{}",
                    r.node_id,
                    crate::util::tail(&r.host.dir().join("keepalived.log"), 25)
                ));
            }
        }
        f
    }

    /// Powers a router back on: its daemon (which adopts nothing: its wireguard-go died with it)
    /// until its WireGuard carries every peer, then its keepalived.
    pub fn power_on(&mut self, id: &str, say: &dyn Fn(&str)) {
        let ns = self.client_host.ns.clone();
        let n = self.cluster.routers.iter().find(|r| r.alive).map(|r| r.wg_keys("wg0").len()).unwrap_or(0);
        self.lab.restore_link(&self.cluster.router(id).host);
        let r = self.cluster.router_mut(id);
        r.start();
        r.wait_ready(&ns, Duration::from_secs(30));
        let r = self.cluster.router(id);
        wait_for(&format!("{id}'s WireGuard to carry every peer again"), Duration::from_secs(30), || {
            (r.wg_keys("wg0").len() == n).then_some(())
        });
        self.cluster.router_mut(id).start_keepalived();
        say(&format!("{id} powered on: daemon, WireGuard and keepalived running"));
    }

    /// The longest gap between two ping replies in `[from, to]` (ms), counting the edges.
    pub fn longest_gap(&self, from: u64, to: u64) -> u64 {
        let replies: Vec<u64> =
            self.pinger.as_ref().map(|p| p.replies()).unwrap_or_default().into_iter().filter(|r| *r >= from && *r <= to).collect();
        let mut points = vec![from];
        points.extend(replies);
        points.push(to);
        points.windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap_or(0)
    }
}
