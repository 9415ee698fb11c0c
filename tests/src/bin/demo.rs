//! `demo` — wgcluster failover, live, in the network lab (needs root; see `examples/demo.sh`).
//!
//! `demo` brings up three routers (each its own network namespace, `wgclusterd` and wireguard-go),
//! a BIND9 serving the cluster endpoint `vpn.example.test`, and a client whose config names that
//! endpoint. It shows the client's traffic, kills the router the client uses (every process in its
//! namespace), and narrates the failover with timings: failure -> detected unhealthy -> migration
//! committed -> DNS changed -> client traffic restored. Then it cleans everything up. A second
//! scene (#16) does the same for a *stock* client — plain `wg setconf`, no watchdog, an endpoint
//! it never re-resolves — whose endpoint is a floating address (VRRP through keepalived): the
//! master loses power, the address moves, and the new master's handshake brings the client back.
//! `demo vip` runs that scene alone.
//!
//! `demo bench [--runs N] [--plain-runs N] [--stall-runs N] [--panel-runs N] [--mode-b-runs N] [--peers N]
//! [--vip-runs N] [--vip-alone-runs N] [--stock-runs N]` is the failover benchmark
//! (`tests/bench/failover/`): fresh labs, medians over several runs.

use std::time::{Duration, Instant};
use wgcluster_tests::failover::{self, fmt_s, median, Failover, ModeA, ModeB, StockClients, Switch, VipFailover, VipLab};

fn usage() -> ! {
    eprintln!(
        "usage: demo                      narrated Mode A failover, then the floating-address scene\n\
         \x20      demo vip                  the floating-address scene alone (stock client, keepalived)\n\
         \x20      demo bench [--runs N] [--plain-runs N] [--stall-runs N] [--panel-runs N]\n\
         \x20                  [--mode-b-runs N] [--peers N] [--vip-runs N] [--vip-alone-runs N] [--stock-runs N]\n\
         needs root; the wgclusterd binary is $WGCLUSTERD_BIN, else $CARGO_TARGET_DIR/debug/wgclusterd"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {
            demo();
            vip_scene();
        }
        Some("vip") => vip_scene(),
        Some("bench") => bench(&args[1..]),
        _ => usage(),
    }
}

fn demo() {
    if !failover::prereqs() {
        eprintln!("demo: prerequisites missing (run as root; see examples/demo.sh)");
        std::process::exit(1);
    }
    let start = Instant::now();
    let say = move |s: &str| println!("[{:6.2} s] {s}", start.elapsed().as_secs_f64());
    println!("== wgcluster failover demo ==");
    let mut a = ModeA::setup("demo", 20, false, &say);
    let via = a.via.clone();
    say(&format!("the client's traffic (ping {} through the tunnel, via {via}):", a.target));
    for _ in 0..3 {
        let t = Instant::now();
        let ok = a.client_host.ping_once(a.target);
        say(&format!(
            "  ping {} -> {} ({:.1} ms, starting ping included)",
            a.target,
            if ok { "reply" } else { "no reply" },
            t.elapsed().as_secs_f64() * 1000.0
        ));
    }
    println!();
    say(&format!("now {via} loses power. The client runs a re-resolve watchdog (1 s period):"));
    let f = a.fail_and_recover(Switch::Rehandshake, Some(Duration::from_secs(10)), Duration::from_secs(60), &say);
    println!();
    println!("== timeline after {} died ==", f.killed);
    println!("  failure -> detected unhealthy   {}", fmt_s(f.detected_s));
    println!("  failure -> migration committed  {}  ({} peers re-homed)", fmt_s(f.migrated_s), f.migrated_count.unwrap_or(0));
    println!("  failure -> DNS answer changed   {}", fmt_s(f.dns_changed_s));
    println!("  failure -> client switched      {}  (to {})", fmt_s(f.switched_s), f.switched_to.clone().unwrap_or_default());
    println!("  failure -> traffic restored     {}  (ping gap {})", fmt_s(f.restored_s), fmt_s(f.outage_s));
    println!("  reference: 60 s health poll + manual migration (the replaced design); OpenWrt's");
    println!("  wireguard_watchdog re-resolves only after 150 s without a handshake.");
    let api = a.cluster.any_api(&[&f.killed]);
    let peers = api.peers("wg0");
    println!("  peers per router now: {:?}", failover::load_by_node(&peers));
    let ok = f.restored_s.is_some();
    say("cleaning up (killing every lab process, deleting the namespaces)");
    drop(a);
    say(&format!("done in {:.1} s", start.elapsed().as_secs_f64()));
    if !ok {
        eprintln!("demo: client traffic did not come back");
        std::process::exit(1);
    }
}

/// The floating-address scene: a stock client whose endpoint is the VIP; the master loses power.
fn vip_scene() {
    if !failover::prereqs() || !wgcluster_tests::lab::ensure_prereqs_for(&[("keepalived", "keepalived")]) {
        eprintln!("demo: prerequisites missing (run as root; keepalived; see examples/demo.sh)");
        std::process::exit(1);
    }
    let start = Instant::now();
    let say = move |s: &str| println!("[{:6.2} s] {s}", start.elapsed().as_secs_f64());
    println!();
    println!("== a stock client and a floating address ==");
    let mut l = VipLab::setup("demo-vip", true, true, &say);
    let master = l.holder().unwrap_or_else(|| "r1".into());
    say(&format!(
        "the client is a stock WireGuard client: its config names {} (the VIP), it never re-resolves, nothing \
         watches it. {master} holds the address (keepalived, VRRP) and carries its session.",
        l.vip
    ));
    say(&format!("now {master} loses power (cable pulled, every process killed, keepalived included):"));
    let f = l.power_off(&master, Duration::from_secs(60), &say);
    println!();
    println!("== timeline after {} died ==", f.killed);
    println!("  failure -> address moved        {}  (to {})", fmt_s(f.moved_s), f.moved_to.clone().unwrap_or_default());
    println!("  failure -> traffic restored     {}", fmt_s(f.restored_s));
    println!("  the new master started the handshake itself, from the VIP (it knew the client's endpoint from the usage");
    println!("  its routers report); with keepalived alone the client waits for its own timers (~15 s).");
    let ok = f.restored_s.is_some();
    say("cleaning up (killing every lab process, deleting the namespaces)");
    drop(l);
    say(&format!("done in {:.1} s", start.elapsed().as_secs_f64()));
    if !ok {
        eprintln!("demo: the stock client's traffic did not come back");
        std::process::exit(1);
    }
}

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(default)
}

/// One table row; a measure with no runs (its scenario was given 0 runs) is left out.
fn row(name: &str, v: &[Option<f64>], reference: &str) {
    if v.is_empty() {
        return;
    }
    let got: Vec<f64> = v.iter().flatten().copied().collect();
    let runs: Vec<String> = v.iter().map(|x| x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())).collect();
    println!("| {name} | {} | {} | {reference} |", fmt_s(median(&got)), runs.join(", "));
}

fn bench(args: &[String]) {
    if !failover::prereqs() {
        eprintln!("bench: prerequisites missing (run as root)");
        std::process::exit(1);
    }
    let runs = flag(args, "--runs", 5);
    let plain_runs = flag(args, "--plain-runs", 3);
    let stall_runs = flag(args, "--stall-runs", 3);
    let panel_runs = flag(args, "--panel-runs", 3);
    let b_runs = flag(args, "--mode-b-runs", runs);
    let peers = flag(args, "--peers", 1000);
    let vip_runs = flag(args, "--vip-runs", runs);
    let vip_alone_runs = flag(args, "--vip-alone-runs", 3);
    let stock_runs = flag(args, "--stock-runs", runs);
    let quiet = |_: &str| {};
    let loud = |s: &str| eprintln!("    {s}");
    let say: &dyn Fn(&str) = if std::env::var_os("BENCH_VERBOSE").is_some() { &loud } else { &quiet };
    let mut a_runs: Vec<Failover> = Vec::new();
    let mut p_runs: Vec<Failover> = Vec::new();
    let mut s_runs: Vec<Failover> = Vec::new();
    let mut l_runs: Vec<Failover> = Vec::new();
    let mut b_res: Vec<Failover> = Vec::new();
    let variants = [
        ("DNS-driven, re-handshake", Switch::Rehandshake, None, false, runs),
        ("DNS-driven, `wg set endpoint` only", Switch::Endpoint, None, false, plain_runs),
        ("4 s no-reply rule + DNS, re-handshake", Switch::Rehandshake, Some(Duration::from_secs(4)), false, stall_runs),
        ("DNS-driven, re-handshake, the dead router was the panel", Switch::Rehandshake, None, true, panel_runs),
    ];
    for (i, (label, how, stale, via_panel, n)) in variants.into_iter().enumerate() {
        for r in 0..n {
            let t = Instant::now();
            let mut a = ModeA::setup("bench-a", 20, via_panel, say);
            let f = a.fail_and_recover(how, stale, Duration::from_secs(60), say);
            drop(a);
            eprintln!(
                "mode A ({label}) run {}/{n}: detected {} migrated {} dns {} restored {} ({:.0} s)",
                r + 1,
                fmt_s(f.detected_s),
                fmt_s(f.migrated_s),
                fmt_s(f.dns_changed_s),
                fmt_s(f.restored_s),
                t.elapsed().as_secs_f64()
            );
            [&mut a_runs, &mut p_runs, &mut s_runs, &mut l_runs][i].push(f);
        }
    }
    for r in 0..b_runs {
        let t = Instant::now();
        let mut b = ModeB::setup("bench-b", peers, say);
        let f = b.fail_r1(Duration::from_secs(60), say);
        drop(b);
        eprintln!(
            "mode B run {}/{b_runs}: detected {} migrated {} applied {} drained {} ({:.0} s)",
            r + 1,
            fmt_s(f.detected_s),
            fmt_s(f.migrated_s),
            fmt_s(f.applied_s),
            fmt_s(f.drained_s),
            t.elapsed().as_secs_f64()
        );
        b_res.push(f);
    }
    // #16: stock clients (no re-resolve, no watchdog) behind a floating address, with the daemon's
    // handshake and with keepalived alone; and in DNS mode on a public address and behind NAT.
    if vip_runs + vip_alone_runs > 0 && !wgcluster_tests::lab::ensure_prereqs_for(&[("keepalived", "keepalived")]) {
        eprintln!("bench: keepalived missing (run tests/scripts/prereqs.sh)");
        std::process::exit(1);
    }
    if stock_runs > 0 && !wgcluster_tests::lab::ensure_prereqs_for(&[("iptables", "iptables")]) {
        eprintln!("bench: iptables missing (run tests/scripts/prereqs.sh)");
        std::process::exit(1);
    }
    let mut v_res: Vec<VipFailover> = Vec::new();
    let mut va_res: Vec<VipFailover> = Vec::new();
    for (hooks, n) in [(true, vip_runs), (false, vip_alone_runs)] {
        for r in 0..n {
            let t = Instant::now();
            let mut l = VipLab::setup("bench-vip", true, hooks, say);
            let f = l.power_off("r1", Duration::from_secs(60), say);
            drop(l);
            let what = if hooks { "with server-initiated handshake" } else { "keepalived alone" };
            eprintln!(
                "VIP ({what}) run {}/{n}: moved {} restored {} ({:.0} s)",
                r + 1,
                fmt_s(f.moved_s),
                fmt_s(f.restored_s),
                t.elapsed().as_secs_f64()
            );
            if hooks {
                v_res.push(f)
            } else {
                va_res.push(f)
            }
        }
    }
    let mut st_res = Vec::new();
    for r in 0..stock_runs {
        let t = Instant::now();
        let mut s = StockClients::setup("bench-stock", 20, say);
        let f = s.fail(Duration::from_secs(25), say);
        drop(s);
        eprintln!(
            "DNS mode, stock clients run {}/{stock_runs}: detected {} migrated {} public restored {} NATed restored {} ({:.0} s)",
            r + 1,
            fmt_s(f.detected_s),
            fmt_s(f.migrated_s),
            fmt_s(f.public_restored_s),
            fmt_s(f.natted_restored_s),
            t.elapsed().as_secs_f64()
        );
        st_res.push(f);
    }
    let diff = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    println!();
    println!(
        "Failover benchmark: Mode A {runs} + {plain_runs} + {stall_runs} + {panel_runs} runs (three routers, 21 peers, BIND9, one client; \
         watchdog variants below), Mode B {b_runs} runs ({peers} peers on the failing router, witness panel)."
    );
    println!("Health probe every 2 s, 3 misses = unhealthy (defaults); Raft heartbeat 100 ms, election timeout 600 ms.");
    println!();
    println!("| measure | median | runs | reference |");
    println!("|---|---|---|---|");
    // The panel-death runs are reported on their own (election first, then a new panel's probes).
    let a_all: Vec<&Failover> = a_runs.iter().chain(p_runs.iter()).chain(s_runs.iter()).collect();
    let a_det: Vec<_> = a_all.iter().map(|f| f.detected_s).collect();
    let b_det: Vec<_> = b_res.iter().map(|f| f.detected_s).collect();
    let all_det: Vec<_> = a_det.iter().chain(b_det.iter()).copied().collect();
    row("failure -> detected unhealthy (all runs)", &all_det, "60 s poll: 0-60 s, 30 s on average");
    let a_mig: Vec<_> = a_all.iter().map(|f| diff(f.detected_s, f.migrated_s)).collect();
    row("detected -> migration committed (Mode A)", &a_mig, "manual action");
    let b_mig: Vec<_> = b_res.iter().map(|f| diff(f.detected_s, f.migrated_s)).collect();
    row(&format!("detected -> migration committed (Mode B, {peers} peers)"), &b_mig, "manual action");
    let b_app: Vec<_> = b_res.iter().map(|f| diff(f.migrated_s, f.applied_s)).collect();
    row(&format!("committed -> all {peers} peers applied on the destination"), &b_app, "serial per-peer agent calls; target <= 3 s");
    let b_drain: Vec<_> = b_res.iter().map(|f| diff(f.migrated_s, f.drained_s)).collect();
    row("committed -> drain completed (make-before-break done)", &b_drain, "-");
    let b_total: Vec<_> = b_res.iter().map(|f| f.applied_s).collect();
    row(&format!("Mode B: failure -> all {peers} peers carried by the destination"), &b_total, "60 s poll + manual migration");
    let a_dns: Vec<_> = a_all.iter().map(|f| f.dns_changed_s).collect();
    row("Mode A: failure -> DNS answer changed", &a_dns, "60 s poll, manual action; target <= 8 s");
    let a_rest: Vec<_> = a_runs.iter().map(|f| f.restored_s).collect();
    row(
        "Mode A: failure -> client traffic restored (1 s re-resolve, re-handshake)",
        &a_rest,
        "wireguard_watchdog: >= 150 s; target <= 10 s",
    );
    let p_rest: Vec<_> = p_runs.iter().map(|f| f.restored_s).collect();
    row("Mode A: failure -> client traffic restored (1 s re-resolve, `wg set endpoint` only)", &p_rest, "wireguard_watchdog: >= 150 s");
    let l_det: Vec<_> = l_runs.iter().map(|f| f.detected_s).collect();
    row("panel died: failure -> detected unhealthy by the new panel", &l_det, "-");
    let l_dns: Vec<_> = l_runs.iter().map(|f| f.dns_changed_s).collect();
    row("panel died: failure -> DNS answer changed", &l_dns, "target <= 8 s");
    let l_rest: Vec<_> = l_runs.iter().map(|f| f.restored_s).collect();
    row("panel died: failure -> client traffic restored (1 s re-resolve, re-handshake)", &l_rest, "target <= 10 s");
    let s_rest: Vec<_> = s_runs.iter().map(|f| f.restored_s).collect();
    row("Mode A: failure -> client traffic restored (client-side 4 s no-reply rule, re-handshake)", &s_rest, "-");
    let v_moved: Vec<_> = v_res.iter().chain(va_res.iter()).map(|f| f.moved_s).collect();
    row("VIP: master powered off -> address moved (keepalived, advert 1 s)", &v_moved, "-");
    let v_rest: Vec<_> = v_res.iter().map(|f| f.restored_s).collect();
    row("VIP: master powered off -> stock client traffic restored (server-initiated handshake)", &v_rest, "target <= 4 s");
    let va_rest: Vec<_> = va_res.iter().map(|f| f.restored_s).collect();
    row("VIP: master powered off -> stock client traffic restored (keepalived alone)", &va_rest, "the client's own rekey timer");
    let st_rest: Vec<_> = st_res.iter().map(|f| f.public_restored_s).collect();
    row("DNS mode: failure -> stock client on a public address restored (server-initiated handshake)", &st_rest, "never; target <= 8 s");
    let st_nat: Vec<_> = st_res.iter().map(|f| f.natted_restored_s).collect();
    row(
        "DNS mode: failure -> stock client behind MASQUERADE restored (25 s window)",
        &st_nat,
        "never (NAT drops the new router's packets)",
    );
}
