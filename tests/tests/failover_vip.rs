//! Failover for stock clients through a floating address (#16): three Mode A routers, an
//! endpoint group with a `vip`, keepalived (VRRP) in every router namespace writing nothing of
//! its own — the daemons write its configuration and learn mastership from its notify hook. A
//! stock client (wireguard-go set up with `wg` and `ip`; no re-resolve, no watchdog, nothing
//! else running) has the address as its endpoint. The master loses power (its cable pulled, every
//! process of its namespace SIGKILLed by PID, keepalived too): the address moves to the next router by priority,
//! whose daemon initiates the handshake at once, and the client's ping comes back within the
//! target. Then the dead router is powered on again: with preemption the address returns to it
//! (one more switch, a short gap, no second outage); without, it stays.
//!
//! Needs root, the lab's Debian packages and keepalived (tests/scripts/prereqs.sh); under
//! `CI=true` a missing prerequisite fails. Build the daemon first (`cargo build -p wgclusterd`).

use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, fmt_s, now_ms, wait_for, VipLab};
use wgcluster_tests::lab;

fn prereqs() -> bool {
    failover::prereqs() && lab::ensure_prereqs_for(&[("keepalived", "keepalived")])
}

/// The target for a stock client behind a floating address.
const TARGET_S: f64 = 4.0;

fn failover_and_return(preempt: bool) {
    if !prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut l = VipLab::setup(if preempt { "fo-vip-pre" } else { "fo-vip-nopre" }, preempt, true, &say);
    let f = l.power_off("r1", Duration::from_secs(30), &say);
    eprintln!("  power-off -> address moved {} (to {:?}) / traffic restored {}", fmt_s(f.moved_s), f.moved_to, fmt_s(f.restored_s));
    assert_eq!(f.moved_to.as_deref(), Some("r2"), "the address moves to the next router by priority: {f:?}");
    let restored = f.restored_s.unwrap_or_else(|| panic!("the stock client's traffic did not come back within 30 s: {f:?}"));
    assert!(restored <= TARGET_S, "traffic restored after {restored:.2} s; the target is {TARGET_S} s: {f:?}");
    // The handshake r2 initiated left from the VIP (r2's source policy while master), so the
    // client's endpoint is still the address it was configured with.
    assert_eq!(l.client.endpoint_ip(), Some(l.vip.to_string()), "the takeover's handshake came from the floating address");
    let log = l.cluster.router("r2").log_tail(300);
    assert!(log.contains("VRRP master") && log.contains("took over"), "r2 learned mastership and took the peer over:\n{log}");

    // The dead router comes back.
    l.power_on("r1", &say);
    let back_at = now_ms();
    if preempt {
        wait_for("the address to return to r1 (preemption)", Duration::from_secs(20), || {
            (l.holder().as_deref() == Some("r1")).then_some(())
        });
        say("r1 holds the address again");
    } else {
        std::thread::sleep(Duration::from_secs(8));
        assert_eq!(l.holder().as_deref(), Some("r2"), "without preemption the address stays on r2");
        say("r2 keeps the address (no preemption)");
    }
    // Sessions follow at most once more: the ping never stops for long after the return.
    std::thread::sleep(Duration::from_secs(5));
    let gap = l.longest_gap(back_at, now_ms());
    eprintln!("  after r1 came back: longest gap between ping replies {gap} ms");
    assert!(gap < 2_000, "the return dropped the client's traffic for {gap} ms");
    if preempt {
        let log = l.cluster.router("r1").log_tail(300);
        assert!(log.contains("took over"), "r1 took the peer back over:\n{log}");
    }
    assert!(l.client_host.ping_until(l.target, Duration::from_secs(5)));
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}

/// A split (#16's report): r1 and r2 stop hearing each other's VRRP adverts (dropped on the way
/// in at both, as when a switch between the routers loses multicast), so both hold the address.
/// r2, the new master, takes the client's session over (a handshake from the VIP) and the client's
/// ARP entry for the VIP follows r2's gratuitous ARP. When the split heals, r2 hears the higher
/// priority and yields; r1, still master, hears r2's lower-priority advert, answers with its own
/// advert and gratuitous ARP (the client's packets come to r1 again) and keepalived runs
/// `notify_master_rx_lower_pri`: r1's daemon takes the sessions back at once instead of leaving
/// the client to its own rekey. The client's traffic must not stop for long at either edge.
#[test]
fn vip_split_two_masters_then_heal_keeps_the_session() {
    if !prereqs() || !lab::ensure_prereqs_for(&[("iptables", "iptables")]) {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut l = VipLab::setup("fo-vip-split", true, true, &say);
    l.pinger = Some(failover::Pinger::start(&l.client_host, l.target));
    let pinger = l.pinger.as_ref().expect("pinger");
    wait_for("the ping to answer", Duration::from_secs(10), || pinger.first_reply_after(now_ms().saturating_sub(500)));

    let drop_vrrp = ["INPUT", "-p", "vrrp", "-j", "DROP"];
    let split_at = now_ms();
    for r in ["r1", "r2"] {
        l.cluster.router(r).host.exec_ok("iptables", &[&["-A"][..], &drop_vrrp[..]].concat());
    }
    say("r1 and r2 no longer hear VRRP adverts");
    wait_for("two masters: r1 and r2 both hold the address", Duration::from_secs(20), || {
        (l.cluster.router("r1").holds(l.vip) && l.cluster.router("r2").holds(l.vip)).then_some(())
    });
    let two_masters_s = (now_ms() - split_at) as f64 / 1000.0;
    say(&format!("two masters after {two_masters_s:.2} s"));
    wait_for("r2 (the new master) to take the client over", Duration::from_secs(20), || {
        l.cluster.router("r2").log_tail(300).contains("took over").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let split_gap = l.longest_gap(split_at, now_ms());
    say(&format!("during the split: longest gap between ping replies {split_gap} ms"));

    let heal_at = now_ms();
    for r in ["r1", "r2"] {
        l.cluster.router(r).host.exec_ok("iptables", &[&["-D"][..], &drop_vrrp[..]].concat());
    }
    say("split healed");
    wait_for("one master again (r1, the higher priority)", Duration::from_secs(20), || (l.holder().as_deref() == Some("r1")).then_some(()));
    say(&format!("r1 alone holds the address {:.2} s after the heal", (now_ms() - heal_at) as f64 / 1000.0));
    wait_for("r1 to reclaim the sessions (notify_master_rx_lower_pri)", Duration::from_secs(10), || {
        l.cluster.router("r1").log_tail(300).contains("reclaiming").then_some(())
    });
    std::thread::sleep(Duration::from_secs(5));
    let heal_gap = l.longest_gap(heal_at, now_ms());
    say(&format!("after the heal: longest gap between ping replies {heal_gap} ms; keepalived: {:?}", l.vrrp_transitions()));
    assert!(split_gap < 2_000, "the split dropped the client's traffic for {split_gap} ms");
    assert!(heal_gap < 2_000, "the heal dropped the client's traffic for {heal_gap} ms");
    assert_eq!(l.client.endpoint_ip(), Some(l.vip.to_string()), "the client talks to the floating address throughout");
    assert!(l.client_host.ping_until(l.target, Duration::from_secs(5)));
    eprintln!(
        "  split: two masters {two_masters_s:.2} s, gaps {split_gap} / {heal_gap} ms; whole test {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A client behind a NAT (iptables MASQUERADE: only replies from the address and port it sent to
/// get back in) with the floating address as endpoint: the new master's handshake must come from
/// the VIP and WireGuard's port, or the NAT drops it and the client waits for its own rekey.
#[test]
fn vip_takeover_reaches_a_client_behind_nat() {
    if !prereqs() || !lab::ensure_prereqs_for(&[("iptables", "iptables")]) {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut l = VipLab::setup("fo-vip-nat", true, true, &say);
    let (_nat, natted_host) = l.lab.add_natted_host("natc");
    let api = l.cluster.any_api(&[]);
    let peer = api.ok("POST", "/api/configs/wg0/peers", Some(&serde_json::json!({ "name": "natted" })));
    let key = peer["public_key"].as_str().expect("public key").to_string();
    wait_for("every router to carry the NATed client's peer", Duration::from_secs(30), || {
        l.cluster.routers.iter().all(|r| r.wg_keys("wg0").contains(&key)).then_some(())
    });
    let pid = peer["id"].as_str().expect("peer id").to_string();
    let conf = failover::ClientConf::parse(&api.text(&format!("/api/configs/wg0/peers/{pid}/config")));
    let natted = failover::WgClient::start(&natted_host, conf, None);
    assert!(natted_host.ping_until(l.target, Duration::from_secs(20)), "the NATed client cannot ping through {}", l.vip);
    wait_for("the usage book to know the NATed client's endpoint on r1", Duration::from_secs(40), || {
        api.peers("wg0")
            .iter()
            .any(|p| p["id"] == pid.as_str() && p["status"]["serving_node"] == "r1" && p["status"]["endpoint"].is_string())
            .then_some(())
    });
    say("NATed client pings through the floating address");
    let natted_pinger = failover::Pinger::start(&natted_host, l.target);
    wait_for("the NATed ping to answer", Duration::from_secs(10), || natted_pinger.first_reply_after(now_ms().saturating_sub(500)));
    let f = l.power_off("r1", Duration::from_secs(30), &say);
    let killed_at = f.killed_at;
    let natted_s = wait_for_opt(Duration::from_secs(30), || natted_pinger.first_reply_after(killed_at + 100))
        .map(|r| r.saturating_sub(killed_at) as f64 / 1000.0);
    eprintln!(
        "  power-off -> address moved {} (to {:?}); direct client back {}; NATed client back {}",
        fmt_s(f.moved_s),
        f.moved_to,
        fmt_s(f.restored_s),
        fmt_s(natted_s)
    );
    assert_eq!(f.moved_to.as_deref(), Some("r2"), "{f:?}");
    let natted_s = natted_s.unwrap_or_else(|| panic!("the NATed client's traffic did not come back within 30 s: {f:?}"));
    assert!(natted_s <= TARGET_S, "the NATed client's traffic came back after {natted_s:.2} s; the target is {TARGET_S} s");
    assert_eq!(natted.endpoint_ip(), Some(l.vip.to_string()), "the NATed client still talks to the floating address");
    let log = l.cluster.router("r2").log_tail(300);
    assert!(log.contains(&format!("now leave from {}", l.vip)), "r2 made the VIP the source of its handshakes:\n{log}");
    eprintln!("  whole test: {:.1} s", started.elapsed().as_secs_f64());
}

/// A daemon restarted while its keepalived stays master (a service restart or an upgrade):
/// keepalived sends no new MASTER, so the daemon learns its mastership from the interfaces at
/// start (the VIP is on one of them), puts the source policy back and leaves the adopted sessions
/// alone; the client's traffic does not notice.
#[test]
fn a_master_restarted_knows_it_is_master() {
    if !prereqs() {
        return;
    }
    let started = Instant::now();
    let say = |s: &str| eprintln!("  [{:5.1} s] {s}", started.elapsed().as_secs_f64());
    let mut l = VipLab::setup("fo-vip-restart", true, true, &say);
    l.pinger = Some(failover::Pinger::start(&l.client_host, l.target));
    let pinger = l.pinger.as_ref().expect("pinger");
    wait_for("the ping to answer", Duration::from_secs(10), || pinger.first_reply_after(now_ms().saturating_sub(500)));
    let ns = l.client_host.ns.clone();
    let before = now_ms();
    l.cluster.router_mut("r1").restart_daemon(&ns, Duration::from_secs(30));
    say("r1's daemon restarted (keepalived still master, wireguard-go adopted)");
    // A restarted follower applies the log's tail (where the VIP was set) once the leader reaches
    // it; the mastership is read right after the pass that shows the VIP.
    wait_for("r1 to learn it is master", Duration::from_secs(15), || {
        l.cluster.router("r1").log_tail(200).contains("the floating address is on this router at start: VRRP master").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let gap = l.longest_gap(before, now_ms());
    let log = l.cluster.router("r1").log_tail(200);
    let rules = l.cluster.router("r1").host.exec_ok("ip", &["rule", "show"]);
    assert!(rules.contains("9051:") && rules.contains("sport 51820"), "the source rule is back:\n{rules}");
    assert_eq!(l.holder().as_deref(), Some("r1"));
    assert!(!log.contains("took over"), "the adopted sessions were left alone:\n{log}");
    eprintln!("  restart of the master's daemon: longest ping gap {gap} ms; whole test {:.1} s", started.elapsed().as_secs_f64());
    assert!(gap < 2_000, "the restart dropped the client's traffic for {gap} ms");
}

/// Polls `f` every 50 ms until it answers or `timeout` passes.
fn wait_for_opt<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn vip_moves_on_power_off_and_returns_with_preemption() {
    failover_and_return(true);
}

#[test]
fn vip_moves_on_power_off_and_stays_without_preemption() {
    failover_and_return(false);
}
