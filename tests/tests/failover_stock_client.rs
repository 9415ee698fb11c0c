//! Failover for stock clients (#16), DNS mode: two clients that resolve the cluster name once and
//! never again, with no watchdog — one on a public address of the lab, one behind an iptables
//! MASQUERADE namespace — ping through the same router, which loses power (every process in its
//! namespace SIGKILLed by PID). The router that takes their peers over (the one the migration
//! re-homes them to, or their home if it survived) initiates a handshake to each client's last
//! known endpoint, learned from the replicated usage book:
//! - the public client answers; its endpoint roams to the new router and its ping resumes;
//! - the NATed client is NOT reached: its NAT has a mapping only for the dead router's address
//!   and port, so the new router's initiations (which it did send: bytes to the peer, no
//!   handshake) are dropped, and the client, which keeps sending to the dead address, stays down.
//!
//! Needs root and the lab's Debian packages plus iptables (tests/scripts/prereqs.sh); under
//! `CI=true` a missing prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, fmt_s, StockClients};
use wgcluster_tests::lab;

#[test]
fn dns_mode_server_initiated_handshake_reaches_the_public_client_not_the_natted_one() {
    if !failover::prereqs() || !lab::ensure_prereqs_for(&[("iptables", "iptables")]) {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut s = StockClients::setup("fo-stock", 10, &say);
    let f = s.fail(Duration::from_secs(30), &say);
    eprintln!(
        "  failure -> detected {} / migrated {} / public client restored {} (now at {:?}) / NATed client restored {} \
         (taken over by {:?}: endpoint {:?}, {} bytes sent, handshake {})",
        fmt_s(f.detected_s),
        fmt_s(f.migrated_s),
        fmt_s(f.public_restored_s),
        f.public_now_at,
        fmt_s(f.natted_restored_s),
        f.natted_taken_over_by,
        f.natted_endpoint_there,
        f.natted_tx_there,
        f.natted_handshake_there
    );
    let restored = f.public_restored_s.unwrap_or_else(|| panic!("the public client's traffic did not come back within 30 s: {f:?}"));
    // The design target is 8 s (detection ~5 s + migration 0.5 s + one round trip); a loaded
    // 2-core box gets some slack, never the client's own 15 s rekey timer.
    assert!(restored < 14.0, "public client restored only after {restored:.1} s (its own rekey would be ≥ 15 s): {f:?}");
    let now_at = f.public_now_at.clone().expect("the public client's endpoint is a router");
    assert_ne!(now_at, f.killed, "the public client's endpoint roamed to a surviving router");

    // The NATed client: never restored, although the new router did initiate (to the NAT's
    // address and the client's mapped port).
    assert_eq!(f.natted_restored_s, None, "the NATed client came back — the NAT passed the new router's handshake? {f:?}");
    let ep = f.natted_endpoint_there.clone().expect("the taking-over router has an endpoint for the NATed peer");
    assert!(ep.starts_with(&format!("{}:", s.nat.addr)), "endpoint {ep} is the NAT's address {}", s.nat.addr);
    assert!(f.natted_tx_there > 0, "the taking-over router sent handshake initiations to the NATed client: {f:?}");
    assert!(!f.natted_handshake_there, "no handshake completed through the NAT: {f:?}");
    let by = f.natted_taken_over_by.clone().unwrap_or_default();
    assert!(s.a.cluster.router(&by).log_tail(400).contains("took over"), "{by} logged its takeover");
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
    s.natted_pinger.stop();
    s.public_pinger.stop();
}
