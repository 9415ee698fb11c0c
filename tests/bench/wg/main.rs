//! Data-plane benchmark (not a timed test): programming peers into a fresh wireguard-go
//! interface through our `UapiBackend` vs. `wg setconf`, and a one-peer change on a 10,000-peer
//! interface (ours vs. `wg set`), side by side in one run. See README.md beside this file.
//!
//! The process first moves itself into a private network namespace and a private mount
//! namespace with a temporary directory bind-mounted over `/var/run/wireguard`, so both our
//! backend and the stock `wg` it runs see only the benchmark's sockets, and no interface,
//! socket or packet ever reaches the host. Needs root, `wireguard-go` and `wg`.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use wgcluster_actors::wg::{
    diff, diff_peer, key_to_base64, InterfaceSpec, Key, PeerOp, PeerSpec, Plan, UapiBackend, UapiConfig, WgBackend,
};

fn die(msg: &str) -> ! {
    eprintln!("wg bench: {msg}");
    std::process::exit(2)
}

/// Private netns + private mount ns with `dir` over /var/run/wireguard (single-threaded here).
fn isolate(dir: &Path) {
    std::fs::create_dir_all("/var/run/wireguard").unwrap_or_else(|e| die(&format!("mkdir /var/run/wireguard: {e}")));
    std::fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("mkdir {}: {e}", dir.display())));
    let src = CString::new(dir.to_string_lossy().as_bytes()).unwrap_or_else(|_| die("bad dir"));
    // SAFETY: raw namespace/mount syscalls on valid C strings, before any thread is started.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) != 0 {
            die(&format!("unshare: {}", std::io::Error::last_os_error()));
        }
        let root = c"/";
        if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
            die(&format!("make / private: {}", std::io::Error::last_os_error()));
        }
        let target = c"/var/run/wireguard";
        if libc::mount(src.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) != 0 {
            die(&format!("bind mount: {}", std::io::Error::last_os_error()));
        }
    }
}

/// Deterministic pseudo-random keys (xorshift), distinct per index.
fn key(seed: u64, i: u64) -> Key {
    let mut x = seed ^ (i.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut k = [0u8; 32];
    for chunk in k.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    k
}

fn peer_net(i: u64) -> IpNet {
    let addr = std::net::Ipv4Addr::new(10, 100 + (i >> 16) as u8, (i >> 8) as u8, i as u8);
    IpNet::new(addr.into(), 32).unwrap_or_else(|_| die("bad prefix"))
}

fn spec(name: &str, n: u64) -> InterfaceSpec {
    InterfaceSpec {
        name: name.into(),
        private_key: key(7, u64::MAX),
        listen_port: 0,
        addresses: vec![],
        mtu: None,
        peers: (0..n).map(|i| PeerSpec::new(key(1, i), vec![peer_net(i)])).collect(),
    }
}

/// The wg(8) config file for the same interface.
fn wg_conf(spec: &InterfaceSpec) -> String {
    let mut s = format!("[Interface]\nPrivateKey = {}\n", key_to_base64(&spec.private_key));
    for p in &spec.peers {
        s.push_str("\n[Peer]\nPublicKey = ");
        s.push_str(&key_to_base64(&p.public_key));
        s.push_str("\nAllowedIPs = ");
        let ips: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
        s.push_str(&ips.join(", "));
        s.push('\n');
    }
    s
}

fn wg(args: &[&str]) -> Duration {
    let t = Instant::now();
    let status = Command::new("wg").args(args).status().unwrap_or_else(|e| die(&format!("run wg: {e}")));
    let took = t.elapsed();
    if !status.success() {
        die(&format!("wg {} failed: {status}", args.join(" ")));
    }
    took
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat.
fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let f: Vec<u64> = after.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = f.iter().sum::<u64>();
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// CPU time of this thread (`RUSAGE_THREAD`) or of all reaped children (`RUSAGE_CHILDREN`).
fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn dataplane_pid(backend: &UapiBackend, iface: &str) -> u32 {
    backend.supervisor().and_then(|s| s.pid(iface)).unwrap_or_else(|| die("no wireguard-go pid"))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn peer_count(backend: &UapiBackend, iface: &str) -> usize {
    backend.read(iface).ok().flatten().map(|a| a.peers.len()).unwrap_or(0)
}

fn fresh(backend: &UapiBackend, name: &str) {
    let s = spec(name, 0);
    backend.ensure_interface(&s).unwrap_or_else(|e| die(&format!("start {name}: {e}")));
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        die("needs root (network and mount namespaces, wireguard-go)");
    }
    for cmd in ["wireguard-go", "wg"] {
        if !wgcluster_tests::lab::have_command(cmd) {
            die(&format!("{cmd} not installed (apt-get install wireguard-go wireguard-tools)"));
        }
    }
    let reps: usize = std::env::var("WG_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let sizes: Vec<u64> =
        std::env::var("WG_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".into()).split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let dir = std::env::temp_dir().join(format!("wg-bench-{}", std::process::id()));
    isolate(&dir);

    let backend = UapiBackend::new(UapiConfig::new("/var/run/wireguard", Some(PathBuf::from("wireguard-go"))));
    println!(
        "wgcluster data-plane benchmark: wireguard-go {}, {reps} rep(s), median shown",
        Command::new("wireguard-go")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_default()
    );
    println!();
    println!("| measure | ours | wg | ours / wg |");
    println!("|---|---|---|---|");

    for &n in &sizes {
        let ours_spec = spec("wgo0", n);
        let wg_spec = spec("wgw0", n);
        let conf_path = dir.join("wgw0.conf");
        std::fs::write(&conf_path, wg_conf(&wg_spec)).unwrap_or_else(|e| die(&format!("write conf: {e}")));
        let conf = conf_path.to_string_lossy().to_string();
        let (mut ours_total, mut ours_apply, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        // CPU time (data-plane process + client) spent programming: independent of machine load.
        let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            // Ours: read + diff + one set transaction, on a fresh interface.
            let mut run_ours = || {
                fresh(&backend, "wgo0");
                let dp = dataplane_pid(&backend, "wgo0");
                let (dp0, me0) = (proc_cpu(dp), rusage(libc::RUSAGE_THREAD));
                let t = Instant::now();
                let actual = backend.read("wgo0").unwrap_or_else(|e| die(&e.to_string()));
                let plan = diff(&ours_spec, actual.as_ref());
                let t_apply = Instant::now();
                let ops = backend.apply("wgo0", &plan).unwrap_or_else(|e| die(&format!("apply: {e}")));
                ours_apply.push(t_apply.elapsed());
                ours_total.push(t.elapsed());
                ours_cpu.push(proc_cpu(dp) - dp0 + (rusage(libc::RUSAGE_THREAD) - me0));
                assert_eq!(ops as u64, n + 1);
                let got = peer_count(&backend, "wgo0");
                if got as u64 != n {
                    die(&format!("ours programmed {got} peers, want {n}"));
                }
                let _ = backend.remove_interface("wgo0");
            };
            // wg setconf on an equally fresh interface.
            let mut run_wg = || {
                fresh(&backend, "wgw0");
                let dp = dataplane_pid(&backend, "wgw0");
                let (dp0, ch0) = (proc_cpu(dp), rusage(libc::RUSAGE_CHILDREN));
                theirs.push(wg(&["setconf", "wgw0", &conf]));
                theirs_cpu.push(proc_cpu(dp) - dp0 + (rusage(libc::RUSAGE_CHILDREN) - ch0));
                let got = peer_count(&backend, "wgw0");
                if got as u64 != n {
                    die(&format!("wg setconf programmed {got} peers, want {n}"));
                }
                let _ = backend.remove_interface("wgw0");
            };
            // Alternate who goes first, so neither always runs on a warmer machine.
            if rep % 2 == 0 {
                run_ours();
                run_wg();
            } else {
                run_wg();
                run_ours();
            }
        }
        let (o, a, w) = (median(&mut ours_total), median(&mut ours_apply), median(&mut theirs));
        println!(
            "| program {n} peers into a fresh interface (read+diff+apply) | {} | {} | {:.2} |",
            ms(o),
            ms(w),
            o.as_secs_f64() / w.as_secs_f64()
        );
        println!("| … of which the one `set` transaction (apply) | {} | | {:.2} |", ms(a), a.as_secs_f64() / w.as_secs_f64());
        let (oc, wc) = (median(&mut ours_cpu), median(&mut theirs_cpu));
        println!(
            "| … CPU time, wireguard-go + client (load-independent) | {} | {} | {:.2} |",
            ms(oc),
            ms(wc),
            oc.as_secs_f64() / wc.as_secs_f64()
        );
    }

    // One-peer change on a 10,000-peer interface.
    let n = 10_000;
    let base = spec("wgo0", n);
    fresh(&backend, "wgo0");
    backend.apply("wgo0", &diff(&base, backend.read("wgo0").ok().flatten().as_ref())).unwrap_or_else(|e| die(&format!("apply: {e}")));
    let mut cached = backend.read("wgo0").ok().flatten().unwrap_or_else(|| die("read back"));
    let wg_conf_path = dir.join("wgw1.conf");
    std::fs::write(&wg_conf_path, wg_conf(&spec("wgw1", n))).unwrap_or_else(|e| die(&format!("write conf: {e}")));
    fresh(&backend, "wgw1");
    wg(&["setconf", "wgw1", &wg_conf_path.to_string_lossy()]);

    let changes = 21;
    let (mut full, mut incremental, mut apply_only, mut reread, mut theirs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let target = 4242usize;
    let target_b64 = key_to_base64(&key(1, target as u64));
    let record = |cached: &mut wgcluster_actors::wg::ActualInterface, plan: &Plan| {
        for op in &plan.peer_ops {
            if let PeerOp::Update(p) = op {
                if let Some(a) = cached.peers.iter_mut().find(|a| a.public_key == p.public_key) {
                    a.allowed_ips = p.allowed_ips.clone();
                }
            }
        }
    };
    for r in 0..changes {
        // Every round changes the peer's allowed IP to values it does not hold yet.
        let (net_a, net_b) = (peer_net(n + 1 + (r % 2)), peer_net(n + 3 + (r % 2)));

        // (a) In the daemon, full diff of the 10,000-peer spec against the last-read state,
        //     then the one-op transaction.
        let mut desired = base.clone();
        desired.peers[target].allowed_ips = vec![net_a];
        let t = Instant::now();
        let plan = diff(&desired, Some(&cached));
        let t_apply = Instant::now();
        let ops = backend.apply("wgo0", &plan).unwrap_or_else(|e| die(&format!("apply: {e}")));
        apply_only.push(t_apply.elapsed());
        full.push(t.elapsed());
        assert_eq!(ops, 1);
        record(&mut cached, &plan);

        // (b) In the daemon, incremental: the changed peer is known (an API edit), so only
        //     that peer is diffed against its last-read state.
        desired.peers[target].allowed_ips = vec![net_b];
        let t = Instant::now();
        let current = cached.peers.iter().find(|a| a.public_key == desired.peers[target].public_key);
        let plan = Plan { peer_ops: diff_peer(Some(&desired.peers[target]), current).into_iter().collect(), ..Plan::default() };
        let ops = backend.apply("wgo0", &plan).unwrap_or_else(|e| die(&format!("apply: {e}")));
        incremental.push(t.elapsed());
        assert_eq!(ops, 1);
        record(&mut cached, &plan);

        // (c) A reconcile from scratch: re-read all 10,000 peers and diff (a no-op now).
        let t = Instant::now();
        let actual = backend.read("wgo0").ok().flatten();
        let plan = diff(&desired, actual.as_ref());
        let _ = backend.apply("wgo0", &plan);
        reread.push(t.elapsed());
        assert!(plan.is_empty());

        // wg set on the other 10,000-peer interface.
        theirs.push(wg(&["set", "wgw1", "peer", &target_b64, "allowed-ips", &net_a.to_string()]));
    }
    let (f, i, a, rr, w) = (median(&mut full), median(&mut incremental), median(&mut apply_only), median(&mut reread), median(&mut theirs));
    let ratio = |x: Duration| x.as_secs_f64() / w.as_secs_f64();
    println!("| one-peer change on {n} peers, incremental (diff_peer + apply) | {} | {} | {:.3} |", ms(i), ms(w), ratio(i));
    println!("| one-peer change on {n} peers, full diff of cached state + apply | {} | {} | {:.3} |", ms(f), ms(w), ratio(f));
    println!("| … of which the one-op `set` transaction | {} | | {:.3} |", ms(a), ratio(a));
    println!("| reconcile from scratch: re-read {n} peers + diff (no-op) | {} | | {:.2} |", ms(rr), ratio(rr));
    let _ = backend.remove_interface("wgo0");
    let _ = backend.remove_interface("wgw1");
    drop(backend);
    let _ = std::fs::remove_dir_all(&dir);
}
