//! Scenario (#16): stock clients in DNS mode after their router dies (part of [the failover
//! lab](super)). Two clients that never re-resolve and run no watchdog — one on a public address
//! of the lab, one behind an iptables MASQUERADE namespace — ping through the same router; it
//! loses power; the router that takes their peers over initiates a handshake to each one's last
//! known endpoint (server-initiated handshake). The public client answers and its endpoint roams
//! to the new router; the NATed client's NAT drops the packet (no mapping for the new router's
//! address), so it stays down.

use super::*;

/// What one run saw (seconds after the kill).
#[derive(Clone, Debug, Default)]
pub struct StockFailover {
    pub killed: String,
    /// The public client's ping answered again.
    pub public_restored_s: Option<f64>,
    /// The router the public client's endpoint roamed to.
    pub public_now_at: Option<String>,
    /// The NATed client's ping answered again within the observation window (expected: never).
    pub natted_restored_s: Option<f64>,
    /// The router that took the NATed client's peer over, its endpoint for it, and whether it
    /// sent anything to it (handshake initiations).
    pub natted_taken_over_by: Option<String>,
    pub natted_endpoint_there: Option<String>,
    pub natted_tx_there: u64,
    pub natted_handshake_there: bool,
    pub detected_s: Option<f64>,
    pub migrated_s: Option<f64>,
}

/// Mode A lab plus a NATed client, both on the same router, usage collected every 5 s.
pub struct StockClients {
    pub natted_pinger: Pinger,
    pub public_pinger: Pinger,
    pub natted: WgClient,
    pub natted_peer: Value,
    pub nat: Host,
    pub natted_host: Host,
    pub a: ModeA,
}

impl StockClients {
    pub fn setup(prefix: &str, extra_peers: usize, say: &dyn Fn(&str)) -> StockClients {
        let a = ModeA::setup(prefix, extra_peers, false, say);
        let api = a.cluster.any_api(&[]);
        api.ok("PUT", "/api/settings/usage", Some(&json!({ "interval_s": 5 })));
        let (nat, natted_host) = a.lab.add_natted_host("natc");
        let natted_peer = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "natted" })));
        let pid = natted_peer["id"].as_str().expect("peer id").to_string();
        let conf = ClientConf::parse(&api.text(&format!("/api/configs/wg0/peers/{pid}/config")));
        let via_addr = a.cluster.router(&a.via).host.addr;
        let key = natted_peer["public_key"].as_str().expect("public key").to_string();
        wait_for("every router to carry the NATed client's peer", Duration::from_secs(30), || {
            a.cluster.routers.iter().all(|r| r.wg_keys("wg0").contains(&key)).then_some(())
        });
        // Resolved once, like the public client: the router it uses.
        let natted = WgClient::start(&natted_host, conf, Some(&format!("{via_addr}:{WG_PORT}")));
        assert!(natted_host.ping_until(a.target, Duration::from_secs(20)), "the NATed client cannot ping through {}", a.via);
        say(&format!("client 'natted' behind MASQUERADE ({} -> {}) uses {} too", natted_host.addr, nat.addr, a.via));
        let public_pinger = Pinger::start(&a.client_host, a.target);
        let natted_pinger = Pinger::start(&natted_host, a.target);
        // The takeover needs each client's endpoint in the replicated usage book.
        let ids = [a.client_peer["id"].as_str().unwrap_or("").to_string(), pid];
        let via = a.via.clone();
        wait_for("the usage book to know both clients' endpoints on their router", Duration::from_secs(40), || {
            let peers = api.peers("wg0");
            ids.iter()
                .all(|id| {
                    peers.iter().any(|p| {
                        p["id"] == id.as_str() && p["status"]["serving_node"] == via.as_str() && p["status"]["endpoint"].is_string()
                    })
                })
                .then_some(())
        });
        say("the usage book has both clients' endpoints (collected every 5 s)");
        StockClients { natted_pinger, public_pinger, natted, natted_peer, nat, natted_host, a }
    }

    /// Kills the router both clients use and watches for `window` (the NATed client is given the
    /// whole window, well past its own 15 s rekey timer).
    pub fn fail(&mut self, window: Duration, say: &dyn Fn(&str)) -> StockFailover {
        wait_for("both pings to answer", Duration::from_secs(10), || {
            let t = now_ms().saturating_sub(1000);
            (self.public_pinger.first_reply_after(t).is_some() && self.natted_pinger.first_reply_after(t).is_some()).then_some(())
        });
        let dead = self.a.via.clone();
        let killed_at = now_ms();
        let n = self.a.cluster.router_mut(&dead).kill_all();
        let gone_at = now_ms();
        say(&format!("t=0.00 s  killed every process of {dead} ({n}); neither client re-resolves nor runs a watchdog"));
        let api = self.a.cluster.any_api(&[&dead]);
        let mut f = StockFailover { killed: dead.clone(), ..Default::default() };
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            if f.public_restored_s.is_none() {
                if let Some(r) = self.public_pinger.first_reply_after(gone_at + 100) {
                    f.public_restored_s = secs(killed_at, Some(r));
                    say(&format!("t={:.2} s  the public client's ping answers again", f.public_restored_s.unwrap_or(0.0)));
                }
            }
            if f.natted_restored_s.is_none() {
                if let Some(r) = self.natted_pinger.first_reply_after(gone_at + 100) {
                    f.natted_restored_s = secs(killed_at, Some(r));
                    say(&format!("t={:.2} s  the NATed client's ping answers again", f.natted_restored_s.unwrap_or(0.0)));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let a = audit_times(&api, "wg0", &dead, killed_at);
        f.detected_s = secs(killed_at, a.unhealthy_at);
        f.migrated_s = secs(killed_at, a.migrated_at);
        let ip = self.a.client.endpoint_ip();
        f.public_now_at = self.a.cluster.routers.iter().find(|r| Some(r.host.addr.to_string()) == ip).map(|r| r.node_id.clone());
        // Which router took the NATed peer over, and what its wireguard-go says about it.
        let pid = self.natted_peer["id"].as_str().unwrap_or("");
        let key = self.natted_peer["public_key"].as_str().unwrap_or("").to_string();
        let home = api.peers("wg0").iter().find(|p| p["id"] == pid).and_then(|p| p["node_id"].as_str().map(String::from));
        if let Some(home) = home {
            if let Some(p) =
                uapi_peers(&self.a.cluster.router(&home).uapi_sock("wg0")).ok().and_then(|ps| ps.into_iter().find(|p| p.public_key == key))
            {
                f.natted_endpoint_there = p.endpoint.clone();
                f.natted_tx_there = p.tx_bytes;
                f.natted_handshake_there = p.last_handshake_s * 1000 >= killed_at;
            }
            f.natted_taken_over_by = Some(home);
        }
        f
    }
}
