//! Shared by `tests/tests/dataplane_*.rs`: one `wgclusterd run` inside a lab "router" namespace
//! with the real wireguard-go it starts (userspace backend, its own UAPI directory), reached from
//! the test over HTTP by a thread that has entered the router's namespace; and a "client"
//! namespace brought up with the stock tools from a peer's downloaded wg-quick file.
//!
//! Cleanup: the daemon and the client's processes are started through the lab (killed by PID and
//! process group on drop); the wireguard-go the daemon starts runs in a session of its own (it
//! must outlive daemon restarts) and is killed when the lab deletes the router's namespace (every
//! PID living in it, `ip netns pids`). Every wait polls with a deadline.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};
use wgcluster_tests::daemon::spawn_in_host;
use wgcluster_tests::failover::http;
use wgcluster_tests::lab::{wait_until, Host, Lab};
use wgcluster_tests::util::DaemonUci;
use wgcluster_tests::wg::{start_wireguard_go, uapi_get};

pub const API_PORT: u16 = 10086;
pub const CLUSTER_PORT: u16 = 10087;
pub const WG_PORT: u16 = 51820;
pub const IFACE: &str = "wgdp0";

#[allow(unused_imports)] // each test binary uses its own subset
pub use wgcluster_tests::failover::{in_netns, wait_for};

/// Field 22 of /proc/PID/stat (start time), `None` when the PID is gone or a zombie.
pub fn live_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// PIDs of the processes called `comm` living in namespace `ns`.
pub fn pids_in_ns(ns: &str, comm: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = wgcluster_tests::lab::ns_pids(ns)
        .into_iter()
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).map(|c| c.trim() == comm).unwrap_or(false))
        .filter(|p| live_start_time(*p).is_some())
        .collect();
    pids.sort();
    pids
}

/// A `wgclusterd run` in a lab namespace (node id = the host's name).
pub struct Router {
    pub host: Host,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    child: Option<Child>,
    token: Option<String>,
}

impl Router {
    /// A new lab host `name` with a UCI config (`resync_interval_s` as given); not started.
    pub fn new(lab: &Lab, name: &str, resync_s: u64) -> Router {
        let host = lab.add_host(name);
        let dir = host.dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let r = Router {
            config_path: dir.join("wgcluster"),
            data_dir: dir.join("data"),
            log_path: dir.join("daemon.log"),
            host,
            child: None,
            token: None,
        };
        let a = r.host.addr;
        DaemonUci::new()
            .opt("node_id", name)
            .opt("data_dir", r.data_dir.display())
            .opt("api_listen", format!("{a}:{API_PORT}"))
            .opt("cluster_listen", format!("{a}:{CLUSTER_PORT}"))
            .opt("control_socket", dir.join("ctl.sock").display())
            .opt("endpoint", a)
            .opt("wg_backend", "userspace")
            .opt("wg_userspace_bin", "wireguard-go")
            .opt("uapi_dir", r.host.uapi_dir().display())
            .opt("auto_init", 1)
            .opt("resync_interval_s", resync_s)
            .opt("log_level", "debug")
            .write(&r.config_path);
        r
    }

    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host.addr, API_PORT))
    }

    /// Starts the daemon (stdout and stderr appended to its log file) and waits until its API
    /// answers with a leader.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = spawn_in_host(&self.host, false, &self.config_path, &self.log_path);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, v)) = self.try_call("GET", "/api/health", None, false) {
                if !v["data"]["leader"].is_null() {
                    break;
                }
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "wgclusterd exited ({exited:?}); its log:\n{}", self.log_tail(60));
            assert!(Instant::now() < deadline, "wgclusterd not ready within 30 s; its log:\n{}", self.log_tail(60));
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.token.is_none() {
            let path = self.data_dir.join("admin.token");
            let t = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            self.token = Some(t.trim().to_string());
        }
    }

    /// SIGTERM to the daemon's process group (as a service manager stops it); waits for its exit.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take().expect("daemon running");
        self.host.stop(&mut child)
    }

    /// One HTTP request to the API from inside the router's namespace.
    pub fn try_call(&self, method: &str, path: &str, body: Option<&Value>, auth: bool) -> Result<(u16, Value), String> {
        let (code, text) = self.try_text(method, path, body, auth)?;
        let v = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: HTTP {code} is not JSON ({e}): {text}"))?;
        Ok((code, v))
    }

    fn try_text(&self, method: &str, path: &str, body: Option<&Value>, auth: bool) -> Result<(u16, String), String> {
        let token = if auth { Some(self.token.as_deref().ok_or("no token yet")?) } else { None };
        let body = body.map(|b| b.to_string());
        http(&self.host.ns, self.api_addr(), method, path, token, body.as_deref(), Duration::from_secs(30))
    }

    /// `data` of a 2xx answer (with the admin token); panics otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.try_call(method, path, body, true).unwrap_or_else(|e| panic!("{e}"));
        assert!((200..300).contains(&code) && v["status"] == true, "{method} {path}: HTTP {code} {v}");
        v["data"].clone()
    }

    /// A text answer (a peer's config file); panics unless 200.
    pub fn text(&self, path: &str) -> String {
        let (code, text) = self.try_text("GET", path, None, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "GET {path}: {text}");
        text
    }

    /// `data.wg` of `GET /v1/health` (the reconciler's counters).
    pub fn wg_stats(&self) -> Value {
        let (code, v) = self.try_call("GET", "/v1/health", None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "{v}");
        v["data"]["wg"].clone()
    }

    /// `data.state_version` of `GET /v1/health`.
    pub fn state_version(&self) -> u64 {
        let (_, v) = self.try_call("GET", "/v1/health", None, false).unwrap_or_else(|e| panic!("{e}"));
        v["data"]["state_version"].as_u64().unwrap_or(0)
    }

    /// The wireguard-go processes in the router's namespace.
    pub fn wg_pids(&self) -> Vec<i32> {
        pids_in_ns(&self.host.ns, "wireguard-go")
    }

    /// `uapi_dir/IFACE.sock`.
    pub fn uapi_sock(&self) -> PathBuf {
        self.host.uapi_dir().join(format!("{IFACE}.sock"))
    }

    /// Public key (base64) -> allowed IPs, from stock `wg show IFACE dump` run in the router;
    /// `None` when the interface does not answer.
    pub fn wg_show(&self) -> Option<WgShow> {
        let out = self.host.exec("wg", &["show", IFACE, "dump"]);
        if !out.status.success() {
            return None;
        }
        Some(WgShow::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        wgcluster_tests::util::tail(&self.log_path, n)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Creates the test config (`IFACE`, listen port `WG_PORT`) on the `/prefix_len` network
    /// around the lab's tunnel `/24` (clients route only that network) and assigns it to this
    /// router. Returns the router's tunnel address (the network's first).
    pub fn create_config(&self, lab: &Lab, prefix_len: u8) -> Ipv4Addr {
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        let net = Ipv4Addr::from(u32::from(lab.tunnel_addr(1)) & mask);
        let tun = Ipv4Addr::from(u32::from(net) + 1);
        self.ok(
            "POST",
            "/api/configs",
            Some(&json!({ "name": IFACE, "address": format!("{tun}/{prefix_len}"), "listen_port": WG_PORT,
                          "peer_allowed_ips": [format!("{net}/{prefix_len}")] })),
        );
        self.ok("POST", &format!("/api/configs/{IFACE}/nodes"), Some(&json!({ "node_id": self.host.name })));
        tun
    }

    /// Creates peers `prefix-0..n` in one bulk request; returns them.
    pub fn create_peers(&self, prefix: &str, n: usize) -> Vec<Value> {
        let body: Vec<Value> = (0..n).map(|i| json!({ "name": format!("{prefix}-{i}") })).collect();
        let data = self.ok("POST", &format!("/api/configs/{IFACE}/peers"), Some(&Value::Array(body)));
        let peers = match &data {
            Value::Array(a) => a.clone(),
            other => other["peers"].as_array().cloned().unwrap_or_else(|| panic!("bulk answer: {other}")),
        };
        assert_eq!(peers.len(), n, "{data}");
        peers
    }

    /// The enabled peers of the config assigned to this router: public key -> addresses, as
    /// `wg show` should list them.
    pub fn desired(&self) -> BTreeMap<String, BTreeSet<String>> {
        let peers = self.ok("GET", &format!("/api/configs/{IFACE}/peers"), None);
        peers
            .as_array()
            .expect("peer list")
            .iter()
            .filter(|p| p["enabled"] == true && p["node_id"] == self.host.name.as_str())
            .map(|p| {
                let ips =
                    p["addresses"].as_array().expect("addresses").iter().map(|a| a.as_str().unwrap_or_default().to_string()).collect();
                (p["public_key"].as_str().expect("public_key").to_string(), ips)
            })
            .collect()
    }

    /// Waits until `wg show` on the router lists exactly the desired peers with their allowed IPs.
    pub fn wait_wg_equals_desired(&self, timeout: Duration) -> WgShow {
        let want = self.desired();
        let mut last = None;
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            last = self.wg_show();
            last.as_ref().is_some_and(|s| s.peers == want)
        });
        assert!(ok, "wg show never matched the desired state\nwant {want:?}\ngot {last:?}\nlog:\n{}", self.log_tail(40));
        last.expect("matched")
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} log, last 60 lines ----\n{}\n---- end ----", self.host.name, self.log_tail(60));
        }
    }
}

/// `wg show IFACE dump`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgShow {
    pub public_key: String,
    pub listen_port: u16,
    pub peers: BTreeMap<String, BTreeSet<String>>,
}

impl WgShow {
    pub fn parse(dump: &str) -> WgShow {
        let mut lines = dump.lines();
        let first: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let peers = lines
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let ips = f.get(3).copied().unwrap_or("(none)").split(',').filter(|s| *s != "(none)").map(str::to_string).collect();
                (f[0].to_string(), ips)
            })
            .collect();
        WgShow {
            public_key: first.get(1).copied().unwrap_or_default().to_string(),
            listen_port: first.get(2).and_then(|p| p.parse().ok()).unwrap_or(0),
            peers,
        }
    }
}

/// How many peers the interface behind a UAPI socket holds (`None`: it does not answer).
pub fn uapi_peer_count(sock: &Path) -> Option<usize> {
    let text = uapi_get(sock).ok()?;
    text.contains("errno=0").then(|| text.lines().filter(|l| l.starts_with("public_key=")).count())
}

/// A stock WireGuard client in a lab namespace: wireguard-go + `wg setconf` + `ip`, from a
/// peer's wg-quick file as the API serves it.
pub struct Client {
    pub host: Host,
    /// The wg-quick text it was brought up with.
    pub conf: String,
    /// The server's public key (the client's one peer).
    pub server_key: String,
    child: Child,
}

impl Client {
    pub fn start(host: &Host, conf: &str) -> Client {
        let child = start_wireguard_go(host, "wg0");
        let mut addresses = Vec::new();
        let mut routes = Vec::new();
        let mut server_key = String::new();
        // wg-quick keys that `wg setconf` does not know are taken out (as `wg-quick strip` does).
        let mut stripped = String::new();
        for line in conf.lines() {
            let (k, v) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => ("", ""),
            };
            match k {
                "Address" => addresses.extend(v.split(',').map(|a| a.trim().to_string())),
                "DNS" | "MTU" | "Table" | "SaveConfig" | "PreUp" | "PostUp" | "PreDown" | "PostDown" => {}
                _ => {
                    if k == "AllowedIPs" {
                        routes.extend(v.split(',').map(|a| a.trim().to_string()));
                    }
                    if k == "PublicKey" {
                        server_key = v.to_string();
                    }
                    stripped.push_str(line);
                    stripped.push('\n');
                }
            }
        }
        let path = host.dir().join("wg0.conf");
        std::fs::create_dir_all(host.dir()).ok();
        std::fs::write(&path, &stripped).expect("write client config");
        host.exec_ok("wg", &["setconf", "wg0", &path.to_string_lossy()]);
        for a in addresses.iter().filter(|a| !a.contains(':')) {
            host.exec_ok("ip", &["addr", "add", a, "dev", "wg0"]);
        }
        host.exec_ok("ip", &["link", "set", "wg0", "up"]);
        for r in routes.iter().filter(|r| !r.contains(':')) {
            host.exec_ok("ip", &["route", "replace", r, "dev", "wg0"]);
        }
        Client { host: host.clone(), conf: conf.to_string(), server_key, child }
    }

    /// Forgets the session with the server (the peer is removed and set again from the file),
    /// so the next packet needs a fresh handshake.
    pub fn reset_session(&self) {
        self.host.exec_ok("wg", &["set", "wg0", "peer", &self.server_key, "remove"]);
        let path = self.host.dir().join("wg0.conf");
        self.host.exec_ok("wg", &["addconf", "wg0", &path.to_string_lossy()]);
    }

    /// Seconds since the epoch of the last handshake with the server (0: none).
    pub fn last_handshake(&self) -> u64 {
        let out = self.host.exec_ok("wg", &["show", "wg0", "latest-handshakes"]);
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(k, _)| *k == self.server_key)
            .and_then(|(_, t)| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// True when no ping to `addr` is answered for `period` (each ping waits 1 s).
    pub fn no_reply_for(&self, addr: Ipv4Addr, period: Duration) -> bool {
        let end = Instant::now() + period;
        while Instant::now() < end {
            if self.host.ping_once(addr) {
                return false;
            }
        }
        true
    }
}
