//! Scenario: Mode B, 1,000 peers (a witness panel, two routers) (part of [the failover lab](super)).

use super::*;

/// A witness (`w`, founder and panel, no WireGuard) and two routers `r1`, `r2` sharing config
/// `wg0` without an endpoint group; `peers` peers all homed on `r1`. Fields drop in order: the
/// lab last.
pub struct ModeB {
    pub cluster: LabCluster,
    pub operator: Host,
    pub keys: BTreeSet<String>,
    pub lab: Lab,
}

impl ModeB {
    pub fn setup(prefix: &str, peers: usize, say: &dyn Fn(&str)) -> ModeB {
        let lab = Lab::new(prefix);
        let operator = lab.add_host("operator");
        let t = Instant::now();
        let cluster = LabCluster::start(&lab, &operator, &[("w", true), ("r1", false), ("r2", false)]);
        say(&format!("witness panel + two routers up in {:.1} s", t.elapsed().as_secs_f64()));
        let api = cluster.api("w");
        // 1,000 peers need more than a /24.
        create_config(&api, "wg0", "172.20.0.1/20", "172.20.0.0/20", &["r1", "r2"]);
        let t = Instant::now();
        let made = create_peers(&api, "wg0", "p", peers, Some("r1"));
        assert_eq!(made.len(), peers);
        let keys: BTreeSet<String> = made.iter().map(|p| p["public_key"].as_str().unwrap_or("").to_string()).collect();
        say(&format!("{peers} peers created on r1 in one request ({:.2} s)", t.elapsed().as_secs_f64()));
        let r1 = cluster.router("r1");
        wait_for("r1's wireguard-go to carry every peer", Duration::from_secs(60), || (r1.wg_keys("wg0") == keys).then_some(()));
        say(&format!("r1's wireguard-go carries all {peers} peers ({:.2} s after the request)", t.elapsed().as_secs_f64()));
        ModeB { cluster, operator, keys, lab }
    }

    /// Kills r1 (every process) and times detection, the migration command, the destination's
    /// wireguard-go carrying every peer, and the drain's completion.
    pub fn fail_r1(&mut self, timeout: Duration, say: &dyn Fn(&str)) -> Failover {
        let api = self.cluster.api("w");
        let killed_at = now_ms();
        let n = self.cluster.router_mut("r1").kill_all();
        say(&format!("t=0.00 s  killed every process of r1 ({n})"));
        let mut f = Failover { killed_at, killed: "r1".into(), ..Default::default() };
        let r2 = self.cluster.router("r2");
        let deadline = Instant::now() + timeout;
        let mut a = AuditTimes::default();
        while Instant::now() < deadline {
            if f.applied_s.is_none() && r2.wg_keys("wg0") == self.keys {
                f.applied_s = secs(killed_at, Some(now_ms()));
                say(&format!("t={:.2} s  r2's wireguard-go carries all {} peers", f.applied_s.unwrap_or(0.0), self.keys.len()));
            }
            a = audit_times(&api, "wg0", "r1", killed_at);
            if f.applied_s.is_some() && a.drained_at.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f.detected_s = secs(killed_at, a.unhealthy_at);
        f.migrated_s = secs(killed_at, a.migrated_at);
        f.migrated_count = a.migrated_count;
        f.drained_s = secs(killed_at, a.drained_at);
        say(&format!(
            "detected {} / migration committed {} ({} peers) / all applied on r2 {} / drain completed {}",
            fmt_s(f.detected_s),
            fmt_s(f.migrated_s),
            f.migrated_count.unwrap_or(0),
            fmt_s(f.applied_s),
            fmt_s(f.drained_s)
        ));
        f
    }
}

/// The median of `v` (None when empty).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}
