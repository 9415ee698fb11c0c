//! The WireGuard client (part of [the failover lab](super)).

use super::*;

/// The parts of a wg-quick file the lab client uses.
#[derive(Clone, Debug, Default)]
pub struct ClientConf {
    pub private_key: String,
    pub addresses: Vec<String>,
    pub public_key: String,
    pub preshared_key: Option<String>,
    pub allowed_ips: Vec<String>,
    /// `host:port` as written (a name in Mode A, an address in Mode B).
    pub endpoint: String,
    pub keepalive: Option<u16>,
}

impl ClientConf {
    pub fn parse(text: &str) -> ClientConf {
        let mut c = ClientConf::default();
        let list = |v: &str| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "PrivateKey" => c.private_key = v.to_string(),
                "Address" => c.addresses = list(v),
                "PublicKey" => c.public_key = v.to_string(),
                "PresharedKey" => c.preshared_key = Some(v.to_string()),
                "AllowedIPs" => c.allowed_ips = list(v),
                "Endpoint" => c.endpoint = v.to_string(),
                "PersistentKeepalive" => c.keepalive = v.parse().ok(),
                _ => {}
            }
        }
        assert!(!c.private_key.is_empty() && !c.public_key.is_empty() && !c.endpoint.is_empty(), "not a usable wg-quick file:\n{text}");
        c
    }

    /// The endpoint's port.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(WG_PORT)
    }

    /// The endpoint's host part.
    pub fn endpoint_host(&self) -> &str {
        self.endpoint.rsplit_once(':').map(|(h, _)| h).unwrap_or(&self.endpoint)
    }
}

/// How the client's watchdog moves to a new endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// `wg set IF peer PK endpoint IP:PORT` only, as wireguard-tools' reresolve-dns.sh and
    /// OpenWrt's watchdog do. WireGuard keeps the old session and sends its data to the new
    /// router, which cannot decrypt it; the client starts a new handshake only when its
    /// "no reply for 15 s" timer (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) fires.
    Endpoint,
    /// The same, but the peer entry is removed and added again (like `wg-quick down; up` for that
    /// peer): the client handshakes with the new router at once.
    Rehandshake,
}

/// A stock WireGuard client in a lab host: wireguard-go `wg0` configured with `wg` and `ip`.
/// Its wireguard-go is stopped when the last clone is dropped.
#[derive(Clone)]
pub struct WgClient {
    pub host: Host,
    pub conf: ClientConf,
    pub iface: String,
    _wireguard_go: Arc<OwnedChild>,
}

/// A child process killed (SIGKILL, by PID) and reaped on drop.
struct OwnedChild(Child);

impl Drop for OwnedChild {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child, not yet reaped (so its PID is still ours).
            unsafe {
                libc::kill(self.0.id() as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

impl WgClient {
    /// Starts wireguard-go and programs `conf`; `endpoint` overrides the file's (`host:port`).
    /// Names are resolved by `wg` in the host (its resolv.conf), as wg-quick would.
    pub fn start(host: &Host, conf: ClientConf, endpoint: Option<&str>) -> WgClient {
        let iface = "wg0".to_string();
        let proc = Arc::new(OwnedChild(crate::wg::start_wireguard_go(host, &iface)));
        let key = host.dir().join("client.key");
        std::fs::create_dir_all(host.dir()).ok();
        std::fs::write(&key, format!("{}\n", conf.private_key)).expect("write client key");
        host.exec_ok("wg", &["set", &iface, "private-key", &key.to_string_lossy()]);
        let c = WgClient { host: host.clone(), conf, iface, _wireguard_go: proc };
        c.add_peer(endpoint.unwrap_or(&c.conf.endpoint.clone()));
        for a in &c.conf.addresses {
            host.exec_ok("ip", &["addr", "add", a, "dev", &c.iface]);
        }
        host.exec_ok("ip", &["link", "set", &c.iface, "up"]);
        for net in &c.conf.allowed_ips {
            if net.contains(':') {
                continue;
            }
            let out = host.exec("ip", &["route", "replace", net, "dev", &c.iface]);
            assert!(out.status.success(), "route {net}: {}", String::from_utf8_lossy(&out.stderr));
        }
        c
    }

    fn add_peer(&self, endpoint: &str) {
        let mut args: Vec<String> = vec!["set".into(), self.iface.clone(), "peer".into(), self.conf.public_key.clone()];
        if let Some(psk) = &self.conf.preshared_key {
            let f = self.host.dir().join("client.psk");
            std::fs::write(&f, format!("{psk}\n")).expect("write psk");
            args.extend(["preshared-key".into(), f.to_string_lossy().into_owned()]);
        }
        args.extend(["endpoint".into(), endpoint.to_string()]);
        args.extend(["allowed-ips".into(), self.conf.allowed_ips.join(",")]);
        if let Some(k) = self.conf.keepalive {
            args.extend(["persistent-keepalive".into(), k.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.host.exec_ok("wg", &args);
    }

    /// Points the client at `endpoint` (`ip:port`), the way `how` says.
    pub fn switch(&self, endpoint: &str, how: Switch) {
        match how {
            Switch::Endpoint => {
                self.host.exec_ok("wg", &["set", &self.iface, "peer", &self.conf.public_key, "endpoint", endpoint]);
            }
            Switch::Rehandshake => {
                self.host.exec_ok("wg", &["set", &self.iface, "peer", &self.conf.public_key, "remove"]);
                self.add_peer(endpoint);
            }
        }
    }

    /// Takes a new config file (Mode B after a migration): new endpoint, same keys.
    pub fn reconfigure(&mut self, conf: ClientConf, how: Switch) {
        let ep = conf.endpoint.clone();
        self.conf = conf;
        self.switch(&ep, how);
    }

    /// The server peer as the client's wireguard-go reports it.
    pub fn peer(&self) -> Option<UapiPeer> {
        let sock = self.host.uapi_dir().join(format!("{}.sock", self.iface));
        uapi_peers(&sock).ok()?.into_iter().find(|p| p.public_key == self.conf.public_key)
    }

    /// The endpoint's IP the client currently sends to.
    pub fn endpoint_ip(&self) -> Option<String> {
        let ep = self.peer()?.endpoint?;
        Some(ep.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']']).to_string()).unwrap_or(ep))
    }
}

/// What the watchdog did, and when (wall-clock ms).
#[derive(Clone, Debug)]
pub struct WatchdogEvent {
    pub at_ms: u64,
    pub from: Option<String>,
    pub to: String,
    pub why: String,
}

/// A re-resolve watchdog like wireguard-tools' `reresolve-dns.sh`, with a 1 s period: resolve the
/// endpoint name (in the client's namespace, through its resolv.conf: the lab's BIND9), and move
/// to a resolved address when the current one is no longer in DNS (the cluster dropped that
/// router) or, when `stale` is given, the tunnel looks dead (data sent, nothing received for
/// `stale`: reresolve-dns.sh's handshake-age rule, shortened from its 135 s).
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<WatchdogEvent>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(client: &WgClient, name: &str, period: Duration, stale: Option<Duration>, how: Switch) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let events: Arc<Mutex<Vec<WatchdogEvent>>> = Arc::default();
        let (c, name, st, ev) = (client.clone(), name.to_string(), stop.clone(), events.clone());
        let port = client.conf.port();
        let handle = std::thread::spawn(move || {
            let mut last_rx = (0u64, Instant::now());
            let mut tx_at_last_rx = 0u64;
            let mut rotate = 0usize;
            while !st.load(Ordering::SeqCst) {
                let tick = Instant::now();
                let answers = dig(&c.host, None, &name, "A");
                if let Some(p) = c.peer() {
                    if p.rx_bytes != last_rx.0 {
                        last_rx = (p.rx_bytes, Instant::now());
                        tx_at_last_rx = p.tx_bytes;
                    }
                    let current = p.endpoint.as_deref().and_then(|e| e.rsplit_once(':')).map(|(h, _)| h.to_string());
                    let stalled = stale.is_some_and(|st| last_rx.1.elapsed() > st) && p.tx_bytes > tx_at_last_rx;
                    let gone = current.as_ref().is_some_and(|cur| !answers.is_empty() && !answers.contains(cur));
                    let others: Vec<&String> = answers.iter().filter(|a| Some(*a) != current.as_ref()).collect();
                    if (gone || stalled) && !others.is_empty() {
                        let to = others[rotate % others.len()].clone();
                        rotate += 1;
                        c.switch(&format!("{to}:{port}"), how);
                        let why = if gone {
                            format!("{} is no longer in DNS ({})", current.clone().unwrap_or_default(), answers.join(", "))
                        } else {
                            format!("nothing received for {:?}", last_rx.1.elapsed())
                        };
                        ev.lock().unwrap_or_else(|e| e.into_inner()).push(WatchdogEvent { at_ms: now_ms(), from: current, to, why });
                        // Give the new endpoint `stale` before judging it.
                        last_rx = (p.rx_bytes, Instant::now());
                        tx_at_last_rx = p.tx_bytes;
                    }
                }
                let spent = tick.elapsed();
                if spent < period {
                    std::thread::sleep(period - spent);
                }
            }
        });
        Watchdog { stop, events, handle: Some(handle) }
    }

    pub fn events(&self) -> Vec<WatchdogEvent> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A continuous `ping -i 0.2` through the tunnel from a lab host, its replies timestamped
/// (`-D`) into a file, so the test can say when traffic stopped and when it came back.
pub struct Pinger {
    child: Option<Child>,
    file: PathBuf,
}

impl Pinger {
    pub fn start(host: &Host, target: Ipv4Addr) -> Pinger {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let file = host.dir().join(format!("ping-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        let child =
            host.spawn("sh", &["-c", "exec ping -n -D -O -i 0.2 -W 1 \"$0\" >\"$1\" 2>&1", &target.to_string(), &file.to_string_lossy()]);
        Pinger { child: Some(child), file }
    }

    /// Reply times (wall-clock ms), in order.
    pub fn replies(&self) -> Vec<u64> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| {
                let ts = l.strip_prefix('[')?.split(']').next()?;
                let secs: f64 = ts.parse().ok()?;
                Some((secs * 1000.0) as u64)
            })
            .collect()
    }

    /// The first reply at or after `t_ms`.
    pub fn first_reply_after(&self, t_ms: u64) -> Option<u64> {
        self.replies().into_iter().find(|r| *r >= t_ms)
    }

    /// The last reply before `t_ms`.
    pub fn last_reply_before(&self, t_ms: u64) -> Option<u64> {
        self.replies().into_iter().rev().find(|r| *r < t_ms)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own un-reaped child (the ping process).
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop();
    }
}
