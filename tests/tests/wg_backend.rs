//! Real data-plane tests (root, real wireguard-go, real WireGuard traffic inside lab namespaces):
//! a "router" namespace whose wireguard-go is started and programmed by OUR `UapiBackend`
//! (+ rtnetlink link configuration) from an `InterfaceSpec`, and a "client" namespace brought up
//! with the stock tools (`wireguard-go`, `wg setconf`, `ip`). Every wait polls with a deadline.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Child;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use wgcluster_actors::wg::{
    clamp_private_key, diff, key_to_base64, probe_kernel_support, public_key_of, reconcile, select_backend, BackendChoice, BackendRequest,
    InterfaceSpec, Key, PeerOp, PeerSpec, SuperviseEvent, UapiBackend, UapiConfig, WgBackend,
};
use wgcluster_tests::lab::{self, wait_until, Host, Lab};
use wgcluster_tests::wg::start_wireguard_go;

const ROUTER_PORT: u16 = 51820;
const CLIENT_PORT: u16 = 51821;

fn genkey() -> Key {
    x25519_dalek::StaticSecret::random_from_rng(rand_core::OsRng).to_bytes()
}

fn router_backend(host: &Host) -> UapiBackend {
    let mut cfg = UapiConfig::new(host.uapi_dir(), Some("wireguard-go".into()));
    cfg.netns = Some(host.netns_path());
    UapiBackend::new(cfg)
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test network")
}

/// Brings the client up with the stock tools only: wireguard-go, `wg setconf`, `ip`.
fn start_client(client: &Host, client_key: &Key, router_pub: &Key, router_underlay: Ipv4Addr, client_tunnel: Ipv4Addr) -> Child {
    let child = start_wireguard_go(client, "wg0");
    let conf = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {CLIENT_PORT}\n\n\
         [Peer]\nPublicKey = {}\nEndpoint = {router_underlay}:{ROUTER_PORT}\nAllowedIPs = {}/24\n",
        key_to_base64(client_key),
        key_to_base64(router_pub),
        Ipv4Addr::from(u32::from(client_tunnel) & 0xffff_ff00),
    );
    let path = client.dir().join("wg0.conf");
    std::fs::write(&path, conf).expect("write client config");
    client.exec_ok("wg", &["setconf", "wg0", &path.to_string_lossy()]);
    client.exec_ok("ip", &["addr", "add", &format!("{client_tunnel}/24"), "dev", "wg0"]);
    client.exec_ok("ip", &["link", "set", "wg0", "up"]);
    child
}

/// One peer line of `wg show IFACE dump`, as comparable values.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DumpPeer {
    public_key: String,
    preshared_key: String,
    allowed_ips: BTreeSet<String>,
    keepalive: String,
}

/// (private key, listen port, peers) from `wg show wg0 dump` run in the host.
fn wg_dump(host: &Host) -> (String, u16, BTreeSet<DumpPeer>) {
    let out = host.exec_ok("wg", &["show", "wg0", "dump"]);
    let mut lines = out.lines();
    let first: Vec<&str> = lines.next().expect("interface line").split('\t').collect();
    let port = first[2].parse().expect("listen port");
    let peers = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            DumpPeer {
                public_key: f[0].to_string(),
                preshared_key: f[1].to_string(),
                allowed_ips: f[3].split(',').filter(|s| *s != "(none)").map(str::to_string).collect(),
                keepalive: f[7].to_string(),
            }
        })
        .collect();
    (first[0].to_string(), port, peers)
}

/// What `wg show dump` should print for a spec.
fn expected_dump(spec: &InterfaceSpec) -> (String, u16, BTreeSet<DumpPeer>) {
    let peers = spec
        .peers
        .iter()
        .map(|p| DumpPeer {
            public_key: key_to_base64(&p.public_key),
            preshared_key: p.preshared_key.map(|k| key_to_base64(&k)).unwrap_or_else(|| "(none)".into()),
            allowed_ips: p.allowed_ips.iter().map(|n| n.trunc().to_string()).collect(),
            keepalive: match p.persistent_keepalive {
                Some(k) if k > 0 => k.to_string(),
                _ => "off".into(),
            },
        })
        .collect();
    // WireGuard reports the clamped private key (our random test keys are not pre-clamped).
    (key_to_base64(&clamp_private_key(&spec.private_key)), spec.listen_port, peers)
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    eprintln!("  {what}: {:?}", t.elapsed());
    v
}

#[test]
fn uapi_backend_programs_real_wireguard_go_end_to_end() {
    if !lab::ensure_prereqs() {
        return;
    }
    let lab = Lab::new("wg-e2e");
    let router = lab.add_host("router");
    let client = lab.add_host("client");
    let backend = router_backend(&router);

    let router_key = genkey();
    let client_key = genkey();
    let router_tun = lab.tunnel_addr(1);
    let client_tun = lab.tunnel_addr(2);
    let client_peer = PeerSpec {
        public_key: public_key_of(&client_key),
        preshared_key: None,
        allowed_ips: vec![net(&format!("{client_tun}/32"))],
        // A pinned endpoint + keepalive make the router start the handshake as soon as the
        // peer is (re)programmed, so restoring traffic does not wait for the client's rekey.
        endpoint: Some(SocketAddr::from((client.addr, CLIENT_PORT))),
        persistent_keepalive: Some(25),
    };
    let spec = InterfaceSpec {
        name: "wg0".into(),
        private_key: router_key,
        listen_port: ROUTER_PORT,
        // Dual stack: the IPv6 ULA lives only inside the lab namespaces.
        addresses: vec![net(&format!("{router_tun}/24")), net("fd77:77::1/64")],
        mtu: Some(1380),
        peers: vec![
            client_peer.clone(),
            PeerSpec {
                public_key: public_key_of(&genkey()),
                preshared_key: Some(genkey()),
                allowed_ips: vec![net(&format!("{}/32", lab.tunnel_addr(3)))],
                endpoint: None,
                persistent_keepalive: None,
            },
            PeerSpec {
                public_key: public_key_of(&genkey()),
                preshared_key: None,
                // Outside the interface subnet: needs a route of its own (no traffic is sent).
                allowed_ips: vec![
                    net(&format!("{}/32", lab.tunnel_addr(4))),
                    net("172.31.77.0/24"),
                    net("fd77:77::4/128"),
                    net("fd77:78::/64"),
                ],
                endpoint: None,
                persistent_keepalive: Some(0),
            },
        ],
    };

    // 1. Program the router from nothing.
    let report = timed("first reconcile (start wireguard-go + program)", || reconcile(&backend, &spec).expect("first reconcile"));
    assert!(report.created);
    assert!(report.identity_set);
    assert_eq!(report.peers.added, 3);
    assert_eq!(report.ops_applied, 4);
    assert_eq!(report.link.addresses_added, 2);
    // 172.31.77.0/24 and fd77:78::/64; the /32 and /128 are covered by the interface subnets.
    assert_eq!(report.link.routes_added, 2, "{:?}", report.link);
    assert!(report.link.mtu_set && report.link.brought_up);
    assert_eq!(backend.list_interfaces().expect("list"), vec!["wg0".to_string()]);

    // 2. `wg show` on the router matches the spec.
    assert_eq!(wg_dump(&router), expected_dump(&spec));
    let link = router.exec_ok("ip", &["-o", "link", "show", "wg0"]);
    assert!(link.contains("mtu 1380") && link.contains(",UP"), "{link}");
    let routes = router.exec_ok("ip", &["route", "show", "dev", "wg0"]);
    assert!(routes.contains("172.31.77.0/24 proto 87"), "{routes}");
    let routes6 = router.exec_ok("ip", &["-6", "route", "show", "dev", "wg0"]);
    assert!(routes6.contains("fd77:78::/64 proto 87"), "{routes6}");

    // 3. Nothing to do: an empty plan applies 0 ops, and a second reconcile changes nothing.
    let actual = backend.read("wg0").expect("read").expect("exists");
    assert_eq!(actual.public_key, Some(public_key_of(&router_key)));
    let plan = diff(&spec, Some(&actual));
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(backend.apply("wg0", &plan).expect("apply"), 0);
    let again = reconcile(&backend, &spec).expect("second reconcile");
    assert_eq!(again.ops_applied, 0);
    assert!(!again.created && again.link.is_empty(), "{again:?}");

    // 4. Real traffic through the tunnel from a stock client.
    let mut client_wg = start_client(&client, &client_key, &public_key_of(&router_key), router.addr, client_tun);
    assert!(
        timed("client ping through tunnel", || client.ping_until(router_tun, Duration::from_secs(20))),
        "ping through the tunnel failed"
    );
    let actual = backend.read("wg0").expect("read").expect("exists");
    let seen = actual.peer(&client_peer.public_key).expect("client peer");
    assert!(seen.last_handshake.is_some() && seen.rx_bytes > 0 && seen.tx_bytes > 0);

    // 5. Remove the client's peer with a one-op plan: traffic stops, other peers untouched.
    let mut without = spec.clone();
    without.peers.retain(|p| p.public_key != client_peer.public_key);
    let plan = diff(&without, Some(&actual));
    assert_eq!(plan.peer_ops, vec![PeerOp::Remove(client_peer.public_key)]);
    assert_eq!(timed("apply remove", || backend.apply("wg0", &plan)).expect("apply"), 1);
    assert_eq!(wg_dump(&router), expected_dump(&without));
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(10), || { !client.ping_once(router_tun) }),
        "ping still answered after the peer was removed"
    );
    for _ in 0..2 {
        assert!(!client.ping_once(router_tun), "removed peer still reaches the router");
    }

    // 6. Re-add it: traffic restored.
    let back = reconcile(&backend, &spec).expect("re-add");
    assert_eq!((back.peers.added, back.ops_applied), (1, 1), "{back:?}");
    assert!(
        timed("ping after re-add", || client.ping_until(router_tun, Duration::from_secs(20))),
        "ping not restored after re-adding the peer"
    );
    assert_eq!(wg_dump(&router), expected_dump(&spec));

    // 7. Crash: kill -9 the router's wireguard-go; supervise() restarts it; reconcile restores.
    let sup = backend.supervisor().expect("supervisor");
    let pid = sup.pid("wg0").expect("running");
    // SAFETY: kill(2) on the wireguard-go our backend started (PID from its supervisor).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
    let mut restarted = None;
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            for ev in backend.supervise() {
                if let SuperviseEvent::Restarted { iface, pid } = ev {
                    assert_eq!(iface, "wg0");
                    restarted = Some(pid);
                }
            }
            restarted.is_some()
        }),
        "supervise() did not restart wireguard-go"
    );
    eprintln!("  restart noticed after {:?}", t.elapsed());
    assert_ne!(restarted, Some(pid));
    let healed = timed("reconcile after restart", || reconcile(&backend, &spec).expect("reconcile after restart"));
    assert!(healed.identity_set && healed.peers.added == 3, "{healed:?}");
    assert!(healed.link.addresses_added == 2 && healed.link.brought_up, "{healed:?}");
    assert!(
        timed("ping after restart", || client.ping_until(router_tun, Duration::from_secs(30))),
        "ping not restored after the data plane restart"
    );
    assert_eq!(wg_dump(&router), expected_dump(&spec));

    // 8. Remove the interface: process stopped, socket gone.
    let pid = sup.pid("wg0").expect("running");
    backend.remove_interface("wg0").expect("remove");
    assert!(backend.read("wg0").expect("read").is_none());
    assert!(!router.uapi_dir().join("wg0.sock").exists());
    assert!(sup.pid("wg0").is_none());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "wireguard-go {pid} still exists after remove_interface");
    assert!(backend.list_interfaces().expect("list").is_empty());
    backend.remove_interface("wg0").expect("removing twice is fine");
    assert!(client.stop(&mut client_wg).is_some());
}

#[test]
fn routers_get_private_uapi_dirs_and_drop_stops_only_our_processes() {
    if !lab::ensure_prereqs() {
        return;
    }
    let lab = Lab::new("wg-dirs");
    let r1 = lab.add_host("r1");
    let r2 = lab.add_host("r2");
    let b1 = router_backend(&r1);
    let b2 = router_backend(&r2);
    let spec = |key: Key, host: u8| InterfaceSpec {
        name: "wg0".into(),
        private_key: key,
        listen_port: ROUTER_PORT,
        addresses: vec![net(&format!("{}/24", lab.tunnel_addr(host)))],
        mtu: None,
        peers: vec![PeerSpec::new(public_key_of(&genkey()), vec![])],
    };
    let (k1, k2) = (genkey(), genkey());
    reconcile(&b1, &spec(k1, 1)).expect("r1");
    reconcile(&b2, &spec(k2, 2)).expect("r2");
    // Same interface name in two namespaces, two sockets, each in its own directory.
    let a1 = b1.read("wg0").expect("read").expect("r1 wg0");
    let a2 = b2.read("wg0").expect("read").expect("r2 wg0");
    assert_eq!(a1.private_key, Some(clamp_private_key(&k1)));
    assert_eq!(a2.private_key, Some(clamp_private_key(&k2)));
    // Stock `wg` inside each host sees that host's interface only.
    assert_eq!(wg_dump(&r1).0, key_to_base64(&clamp_private_key(&k1)));
    assert_eq!(wg_dump(&r2).0, key_to_base64(&clamp_private_key(&k2)));
    // The TUN devices live in the router namespaces.
    r1.exec_ok("ip", &["link", "show", "wg0"]);
    r2.exec_ok("ip", &["link", "show", "wg0"]);
    // The real /var/run/wireguard did not get any of our sockets (no mount leaked either).
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let leaked: Vec<&str> = mounts
        .lines()
        .filter(|l| {
            let point = l.split_whitespace().nth(4).unwrap_or("");
            point == "/run/wireguard" || point == "/var/run/wireguard"
        })
        .collect();
    assert!(leaked.is_empty(), "a bind mount leaked into the test's namespace: {leaked:?}");

    // A wireguard-go the backend did not start (here: started by the lab in r1's namespace
    // under another name) survives the backend's drop; the backend's own child does not.
    let mut foreign = r1.spawn_with("wireguard-go", &["-f", "wg9"], &[("WG_PROCESS_FOREGROUND", "1")]);
    let sock9 = r1.uapi_dir().join("wg9.sock");
    assert!(wait_until(Duration::from_secs(10), Duration::from_millis(10), || { std::os::unix::net::UnixStream::connect(&sock9).is_ok() }));
    assert_eq!(b1.list_interfaces().expect("list"), vec!["wg0".to_string(), "wg9".to_string()]);
    let ours = b1.supervisor().and_then(|s| s.pid("wg0")).expect("our pid");
    drop(b1);
    assert!(!std::path::Path::new(&format!("/proc/{ours}")).exists(), "our wireguard-go {ours} survived the backend's drop");
    assert!(std::os::unix::net::UnixStream::connect(&sock9).is_ok(), "the foreign wireguard-go was affected");
    assert!(matches!(foreign.try_wait(), Ok(None)), "the foreign wireguard-go died");
    drop(b2);
    assert!(r1.stop(&mut foreign).is_some());
}

#[test]
fn kernel_probe_and_selection_agree() {
    if !lab::ensure_prereqs() {
        return;
    }
    let lab = Lab::new("wg-probe");
    let host = lab.add_host("r");
    let probe = probe_kernel_support(Some(&host.netns_path()));
    eprintln!("  kernel WireGuard probe: {probe:?}");
    let (choice, reason) = select_backend(BackendRequest::Auto, || probe.clone());
    eprintln!("  auto selects {choice}: {reason}");
    match probe {
        Ok(()) => assert_eq!(choice, BackendChoice::Kernel),
        Err(_) => assert_eq!(choice, BackendChoice::Userspace),
    }
    // The probe leaves no link behind.
    let links = host.exec_ok("ip", &["-o", "link"]);
    assert!(!links.contains("wgprobe"), "{links}");
}

#[test]
fn lab_links_can_be_cut_and_restored() {
    if !lab::ensure_prereqs() {
        return;
    }
    let lab = Lab::new("wg-cut");
    let a = lab.add_host("a");
    let b = lab.add_host("b");
    assert!(a.ping_until(b.addr, Duration::from_secs(10)), "underlay ping");
    lab.cut_link(&b);
    assert!(!a.ping_once(b.addr), "ping crossed a cut link");
    lab.restore_link(&b);
    assert!(a.ping_until(b.addr, Duration::from_secs(10)), "ping after restore");
}
