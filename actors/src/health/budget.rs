//! The failure-detection budget (#16), pure: how long a probe may take (`probe_timeout`), how
//! long the panel may take, at worst, to call a router that stopped answering unhealthy
//! (`detection_budget_ms`), and the named profiles of the health settings route.
//!
//! The trade-off: a shorter interval and fewer misses detect a dead router sooner (its peers
//! migrate and DNS drops it sooner), but a router that is only slow for a moment — CPU busy, a
//! Wi-Fi backhaul hiccup — is then called dead too: its peers move (and, in Mode B, move back only
//! on a rebalance), every verdict is a Raft entry on flash, and DNS changes. The sub-second `lan`
//! profile is for routers on one wired LAN, where a probe answers in milliseconds.

/// A probe never waits less than this (a TLS handshake with a small router on a LAN) ...
pub const PROBE_TIMEOUT_MIN_MS: u64 = 250;
/// ... nor more than this.
pub const PROBE_TIMEOUT_MAX_MS: u64 = 1500;

/// The probe timeout for an interval: the interval itself within the bounds above, so a round of
/// probes at a short interval does not hold up the next ones.
pub fn probe_timeout_ms(interval_ms: u64) -> u64 {
    interval_ms.clamp(PROBE_TIMEOUT_MIN_MS, PROBE_TIMEOUT_MAX_MS)
}

/// Worst case, in ms, from the moment a router stops answering to the panel's verdict (before
/// its Raft write): the next round starts within one interval; a round in flight holds up the
/// next tick, so failed rounds come every `period` (the interval, or whole intervals covering a
/// longer timeout); the last of `unhealthy_after` failed rounds ends after its timeout. A router
/// whose host refuses connections (daemon dead, host up) fails at once, within
/// `unhealthy_after` × interval.
pub fn detection_budget_ms(interval_ms: u64, unhealthy_after: u32) -> u64 {
    let interval = interval_ms.max(1);
    let timeout = probe_timeout_ms(interval);
    let period = timeout.div_ceil(interval) * interval;
    let misses = u64::from(unhealthy_after.max(1));
    interval + (misses - 1) * period + timeout
}

/// A named set of health settings: (name, probe interval ms, unhealthy after, healthy after).
pub type Profile = (&'static str, u64, u32, u32);

/// `default`: the settings a new cluster starts with (7.5 s budget). `lan`: sub-second detection
/// (1 s budget) for routers on one wired LAN; coming back takes 4 good probes (1 s), so a router
/// that flaps is not re-admitted on one lucky answer.
pub const PROFILES: &[Profile] = &[("default", 2000, 3, 2), ("lan", 250, 3, 4)];

pub fn profile(name: &str) -> Option<Profile> {
    PROFILES.iter().copied().find(|p| p.0 == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_budgets() {
        // (interval, unhealthy_after) -> (timeout, budget)
        let cases = [
            (2000, 3, 1500, 7500),
            (1000, 3, 1000, 4000),
            (250, 3, 250, 1000),
            (200, 3, 250, 1250),
            (200, 1, 250, 450),
            (600_000, 3, 1500, 1_801_500),
            (500, 5, 500, 3000),
        ];
        for (interval, misses, timeout, budget) in cases {
            assert_eq!(probe_timeout_ms(interval), timeout, "timeout at {interval} ms");
            assert_eq!(detection_budget_ms(interval, misses), budget, "budget at {interval} ms x {misses}");
        }
        // Every profile is within the route's bounds, and lan is sub-second per probe.
        for p in PROFILES {
            assert!((200..=600_000).contains(&p.1) && (1..=100).contains(&p.2) && (1..=100).contains(&p.3), "{p:?}");
        }
        let lan = profile("lan").expect("lan");
        assert!(lan.1 < 1000 && detection_budget_ms(lan.1, lan.2) <= 1000, "{lan:?}");
        assert_eq!(profile("default").map(|p| (p.1, p.2, p.3)), Some((2000, 3, 2)));
        assert_eq!(profile("fast"), None);
    }
}
