//! The failover lab: `wgclusterd` routers as namespaces of the network lab ([`crate::lab`]), each
//! with its own daemon and the wireguard-go that daemon starts; a real BIND9 in a "dns" namespace
//! serving the Mode A cluster endpoint (updated by the daemon over RFC 2136 + TSIG); and a stock
//! WireGuard client (wireguard-go + `wg`) with a re-resolve watchdog. Shared by
//! `tests/tests/failover_*.rs`, the `demo` binary and the failover benchmark (`demo bench`, see
//! `tests/bench/failover/README.md`).
//!
//! - The test process stays in the root namespace, which has no route into the lab. Calls to a
//!   router's HTTP API are made from a short-lived thread that has entered the operator's
//!   namespace (`setns(CLONE_NEWNET)` affects only that thread): plain TCP to `<router>:10086` with
//!   the admin bearer token, like an operator on the routers' LAN ([`Api`]).
//! - UAPI sockets are files: the test reads every wireguard-go (routers and client) directly
//!   through `<host uapi dir>/IFACE.sock` ([`uapi_peers`]).
//! - A router dies with [`Router::kill_all`]: SIGKILL, by PID, to every process in its namespace
//!   (the daemon and the wireguard-go it started) — as if the box lost power.
//! - Cleanup: everything started here runs in a lab namespace; the [`Lab`]'s `Drop` kills and
//!   deletes it all. The one file outside the lab directory, `/etc/netns/<client-ns>/resolv.conf`
//!   (so the client resolves names with the lab's DNS), is removed by [`ClientResolver`]'s `Drop`;
//!   leftovers of crashed runs are removed by the next run.
//! - Every wait polls with a deadline. Times are wall-clock milliseconds (the daemon stamps audit
//!   entries with the same clock), so the test can line its own events up with the cluster's.

use crate::bind9;
use crate::daemon::{binary, parse_http_response};
use crate::lab::{self, wait_until, Host, Lab};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every router's HTTP API port (on its lab address).
pub const API_PORT: u16 = 10086;
/// Every router's cluster (mutual TLS) port.
pub const CLUSTER_PORT: u16 = 10087;
/// The WireGuard listen port of the configs the scenarios make.
pub const WG_PORT: u16 = 51820;
/// The Mode A cluster endpoint name (in bind9's zone).
pub const ENDPOINT_NAME: &str = "vpn.example.test";
/// Per-request bound of API calls.
pub const API_TIMEOUT: Duration = Duration::from_secs(30);

/// What the failover lab needs: the WireGuard lab's commands plus BIND9 and dig. Under
/// `CI=true` a missing one fails (never skips); otherwise a loud SKIPPED line and `false`.
pub fn prereqs() -> bool {
    lab::ensure_prereqs_for(&[
        ("wireguard-go", "wireguard-go"),
        ("wg", "wireguard-tools"),
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("named", "bind9"),
        ("dig", "bind9-dnsutils"),
    ])
}

/// Wall-clock milliseconds (the daemon's audit timestamps use the same clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How often the lab's waits poll (each poll may enter a namespace and make an API call).
pub const LAB_POLL: Duration = Duration::from_millis(50);

/// [`crate::util::wait_for_every`] at [`LAB_POLL`]: polls `check` until it returns `Some`,
/// panicking with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    crate::util::wait_for_every(what, timeout, LAB_POLL, check)
}

// ---- network namespaces from the test process -------------------------------------------------

/// Runs `f` on a fresh thread that has entered the network namespace `ns` (only that thread
/// moves; sockets it opens live in `ns`).
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = Path::new("/var/run/netns").join(ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            // SAFETY: setns(2) on a namespace file we just opened; it changes only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert!(rc == 0, "setns {}: {}", path.display(), std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// One HTTP/1.1 request (`Connection: close`) from namespace `ns` to `addr`. `Err` only when no
/// HTTP answer came.
pub fn http(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    req.push_str(body);
    in_netns(ns, move || {
        let what = format!("{method} {path} on {addr}");
        let mut s = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(5))).map_err(|e| format!("{what}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.write_all(req.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| format!("{what}: {e}"))?;
        let r = parse_http_response(&buf).ok_or_else(|| format!("{what}: malformed answer {:?}", String::from_utf8_lossy(&buf)))?;
        Ok((r.status, r.text()))
    })
}

/// A router's HTTP API as the operator reaches it: from the operator's namespace, with the token.
#[derive(Clone, Debug)]
pub struct Api {
    pub ns: String,
    pub addr: SocketAddr,
    pub token: String,
    /// The router's node id (for messages).
    pub node: String,
}

impl Api {
    /// (status, text) of a request; `Err` when no answer came.
    pub fn try_text(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let b = body.map(|b| b.to_string());
        http(&self.ns, self.addr, method, path, Some(&self.token), b.as_deref(), API_TIMEOUT)
    }

    /// (status, envelope); `Err` when no answer came or it was not JSON.
    pub fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let (code, text) = self.try_text(method, path, body)?;
        let v =
            serde_json::from_str(&text).map_err(|e| format!("{method} {path} on {}: HTTP {code} is not JSON ({e}): {text}", self.node))?;
        Ok((code, v))
    }

    /// (status, envelope); panics when no answer came.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `data` of a 2xx answer; panics otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.call(method, path, body);
        assert!((200..300).contains(&code) && v["status"] == true, "{method} {path} on {}: HTTP {code} {v}", self.node);
        v["data"].clone()
    }

    pub fn get(&self, path: &str) -> Value {
        self.ok("GET", path, None)
    }

    /// A text answer (a peer's config file); panics unless 200.
    pub fn text(&self, path: &str) -> String {
        let (code, text) = self.try_text("GET", path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "GET {path} on {}: {text}", self.node);
        text
    }

    /// The peers of `config`.
    pub fn peers(&self, config: &str) -> Vec<Value> {
        self.get(&format!("/api/configs/{config}/peers")).as_array().cloned().unwrap_or_default()
    }

    /// Node id -> healthy, from `GET /api/nodes`.
    pub fn node_health(&self) -> BTreeMap<String, bool> {
        self.get("/api/nodes")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| (n["id"].as_str().unwrap_or("").to_string(), n["healthy"] == true))
            .collect()
    }

    /// Audit entries of `action`, newest first (empty when the router does not answer).
    pub fn audit(&self, action: &str) -> Vec<Value> {
        match self.try_call("GET", &format!("/api/audit-logs?action={action}&limit=500"), None) {
            Ok((200, v)) => v["data"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

// ---- UAPI (reading any wireguard-go of the lab) -----------------------------------------------

/// One peer as wireguard-go reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UapiPeer {
    /// Base64, as the API shows keys.
    pub public_key: String,
    pub endpoint: Option<String>,
    pub last_handshake_s: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

fn hex_to_base64(hex: &str) -> Option<String> {
    if hex.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes?))
}

/// The peers of the interface behind the UAPI socket `sock` (`get=1`); `Err` when there is no
/// such interface or it does not answer.
pub fn uapi_peers(sock: &Path) -> Result<Vec<UapiPeer>, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(b"get=1\n\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).map_err(|e| format!("{}: {e}", sock.display()))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"\n\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut peers: Vec<UapiPeer> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "public_key" => peers.push(UapiPeer {
                public_key: hex_to_base64(v).unwrap_or_else(|| v.to_string()),
                endpoint: None,
                last_handshake_s: 0,
                rx_bytes: 0,
                tx_bytes: 0,
            }),
            "errno" if v != "0" => return Err(format!("{}: errno={v}", sock.display())),
            _ => {
                if let Some(p) = peers.last_mut() {
                    match k {
                        "endpoint" => p.endpoint = Some(v.to_string()),
                        "last_handshake_time_sec" => p.last_handshake_s = v.parse().unwrap_or(0),
                        "rx_bytes" => p.rx_bytes = v.parse().unwrap_or(0),
                        "tx_bytes" => p.tx_bytes = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(peers)
}

/// The set of public keys (base64) an interface carries; empty when it does not answer.
pub fn uapi_keys(sock: &Path) -> BTreeSet<String> {
    uapi_peers(sock).map(|ps| ps.into_iter().map(|p| p.public_key).collect()).unwrap_or_default()
}

// ---- routers -----------------------------------------------------------------------------------

/// One router of the lab: a namespace running `wgclusterd run` (and, unless a witness, the
/// wireguard-go processes the daemon starts).
pub struct Router {
    pub host: Host,
    pub node_id: String,
    pub witness: bool,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// False after `kill_all` until `start` again.
    pub alive: bool,
    child: Option<Child>,
}

impl Router {
    fn new(host: Host, witness: bool) -> Router {
        let dir = host.dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Router {
            node_id: host.name.clone(),
            config_path: dir.join("wgcluster"),
            data_dir: dir.join("data"),
            log_path: dir.join("daemon.log"),
            host,
            witness,
            alive: false,
            child: None,
        }
    }

    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host.addr, API_PORT))
    }

    pub fn cluster_addr(&self) -> String {
        format!("{}:{CLUSTER_PORT}", self.host.addr)
    }

    /// Where this router's wireguard-go answers for `iface` (a file the test can open).
    pub fn uapi_sock(&self, iface: &str) -> PathBuf {
        self.host.uapi_dir().join(format!("{iface}.sock"))
    }

    /// Public keys its wireguard-go carries on `iface` (empty when it has no such interface).
    pub fn wg_keys(&self, iface: &str) -> BTreeSet<String> {
        uapi_keys(&self.uapi_sock(iface))
    }

    fn write_config(&self, auto_init: bool) {
        let a = self.host.addr;
        let text = format!(
            "config daemon 'main'\n\
             \toption node_id '{id}'\n\
             \toption data_dir '{data}'\n\
             \toption api_listen '{a}:{API_PORT}'\n\
             \toption cluster_listen '{a}:{CLUSTER_PORT}'\n\
             \toption control_socket '{ctl}'\n\
             \toption endpoint '{a}'\n\
             \toption wg_backend 'userspace'\n\
             \toption uapi_dir '{uapi}'\n\
             \toption auto_init '{init}'\n\
             \toption heartbeat_ms '100'\n\
             \toption election_timeout_ms '600'\n\
             \toption resync_interval_s '5'\n\
             \toption log_level 'info'\n",
            id = self.node_id,
            data = self.data_dir.display(),
            ctl = self.host.dir().join("ctl.sock").display(),
            uapi = self.host.uapi_dir().display(),
            init = u8::from(auto_init),
        );
        std::fs::write(&self.config_path, text).unwrap_or_else(|e| panic!("write {}: {e}", self.config_path.display()));
    }

    /// Starts `wgclusterd run` in the router's namespace (stdout and stderr appended to its log).
    pub fn start(&mut self) {
        let bin = binary();
        let script = if self.witness {
            "exec \"$0\" run --witness --config \"$1\" >>\"$2\" 2>&1"
        } else {
            "exec \"$0\" run --config \"$1\" >>\"$2\" 2>&1"
        };
        let child = self
            .host
            .spawn("sh", &["-c", script, &bin.to_string_lossy(), &self.config_path.to_string_lossy(), &self.log_path.to_string_lossy()]);
        self.child = Some(child);
        self.alive = true;
    }

    /// Waits until the API answers `GET /api/health` with a known leader.
    pub fn wait_ready(&mut self, ns: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, text)) = http(ns, self.api_addr(), "GET", "/api/health", None, None, Duration::from_secs(3)) {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                if !v["data"]["leader"].is_null() {
                    return;
                }
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "{}: wgclusterd exited ({exited:?}); its log:\n{}", self.node_id, self.log_tail(80));
            assert!(Instant::now() < deadline, "{}: not ready within {timeout:?}; its log:\n{}", self.node_id, self.log_tail(80));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// PIDs of every process in this router's namespace.
    pub fn pids(&self) -> Vec<libc::pid_t> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &self.host.ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace().filter_map(|p| p.parse().ok()).collect()
    }

    /// The router loses power: SIGKILL to every process in its namespace (by PID), then waits
    /// until none is left. Returns how many were killed.
    pub fn kill_all(&mut self) -> usize {
        let mut killed = BTreeSet::new();
        // The daemon first, at once (it is our child: its PID is known and not yet reaped), so
        // it can commit nothing more; then everything else the namespace holds.
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own un-reaped child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGKILL);
            }
            killed.insert(c.id() as libc::pid_t);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) on a process listed as living in this lab router's namespace.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                killed.insert(pid);
            }
            assert!(Instant::now() < deadline, "{}: processes survive SIGKILL", self.node_id);
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        self.alive = false;
        killed.len()
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} log ({}), last 40 lines ----\n{}\n---- end ----", self.node_id, self.log_path.display(), self.log_tail(40));
        }
    }
}

/// Routers of one lab that form one wgcluster cluster. The first router founds it (`auto_init`)
/// and starts as panel; the others `join` through it. API calls come from `operator`'s namespace.
pub struct LabCluster {
    pub routers: Vec<Router>,
    pub operator: Host,
    /// The admin token (from the founder's `admin.token`; valid on every router).
    pub token: String,
}

impl LabCluster {
    /// `specs`: (name, witness). Adds a lab host per router, founds, joins, and waits until every
    /// router is a voter, registered with its endpoint.
    pub fn start(lab: &Lab, operator: &Host, specs: &[(&str, bool)]) -> LabCluster {
        assert!(!specs.is_empty());
        let mut routers: Vec<Router> = specs.iter().map(|(name, witness)| Router::new(lab.add_host(name), *witness)).collect();
        let ns = operator.ns.clone();
        routers[0].write_config(true);
        routers[0].start();
        routers[0].wait_ready(&ns, Duration::from_secs(30));
        let token_path = routers[0].data_dir.join("admin.token");
        let token = std::fs::read_to_string(&token_path).unwrap_or_else(|e| panic!("{}: {e}", token_path.display())).trim().to_string();
        let mut cluster = LabCluster { routers: Vec::new(), operator: operator.clone(), token };
        let founder_cluster_addr = routers[0].cluster_addr();
        let founder = cluster.api_of(&routers[0]);
        for r in routers.iter_mut().skip(1) {
            let jt = founder.ok("POST", "/api/cluster/join-tokens", Some(&json!({ "ttl_s": 600 })));
            let jt = jt["token"].as_str().expect("join token").to_string();
            r.write_config(false);
            let out = r.host.exec(
                &binary().to_string_lossy(),
                &["join", "--token", &jt, "--peer", &founder_cluster_addr, "--config", &r.config_path.to_string_lossy()],
            );
            assert!(
                out.status.success(),
                "{}: wgclusterd join failed: {}{}",
                r.node_id,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            r.start();
        }
        for r in routers.iter_mut() {
            r.wait_ready(&ns, Duration::from_secs(30));
        }
        cluster.routers = routers;
        let n = specs.len();
        wait_for("every router to be a Raft voter", Duration::from_secs(40), || {
            let v = founder.try_call("GET", "/api/cluster", None).ok()?.1;
            let members = v["data"]["members"].as_array()?.clone();
            let voters = members.iter().filter(|m| m["voter"] == true).count();
            (voters == n).then_some(())
        });
        wait_for("every router to register with its endpoint", Duration::from_secs(30), || {
            let nodes = founder.try_call("GET", "/api/nodes", None).ok()?.1["data"].as_array()?.clone();
            let ok = cluster.routers.iter().all(|r| {
                nodes
                    .iter()
                    .any(|n| n["id"] == r.node_id.as_str() && n["registered"] == true && n["endpoint"] == r.host.addr.to_string().as_str())
            });
            ok.then_some(())
        });
        cluster
    }

    fn api_of(&self, r: &Router) -> Api {
        Api { ns: self.operator.ns.clone(), addr: r.api_addr(), token: self.token.clone(), node: r.node_id.clone() }
    }

    pub fn router(&self, id: &str) -> &Router {
        self.routers.iter().find(|r| r.node_id == id).unwrap_or_else(|| panic!("no router {id}"))
    }

    pub fn router_mut(&mut self, id: &str) -> &mut Router {
        self.routers.iter_mut().find(|r| r.node_id == id).unwrap_or_else(|| panic!("no router {id}"))
    }

    /// The API of router `id`.
    pub fn api(&self, id: &str) -> Api {
        self.api_of(self.router(id))
    }

    /// The API of the first router still alive (`except` excluded).
    pub fn any_api(&self, except: &[&str]) -> Api {
        let r = self.routers.iter().find(|r| r.alive && !except.contains(&r.node_id.as_str())).expect("a router is alive");
        self.api_of(r)
    }

    /// The panel as the live routers see it (the first answer with a leader).
    pub fn leader(&self) -> Option<String> {
        self.routers.iter().filter(|r| r.alive).find_map(|r| {
            let (code, v) = self.api_of(r).try_call("GET", "/api/cluster", None).ok()?;
            (code == 200).then(|| v["data"]["leader"].as_str().map(String::from)).flatten()
        })
    }

    /// Waits for a panel that is not in `not` and that every live router agrees on.
    pub fn wait_leader(&self, not: &[&str], timeout: Duration) -> String {
        wait_for("a panel every live router agrees on", timeout, || {
            let mut seen = BTreeSet::new();
            for r in self.routers.iter().filter(|r| r.alive) {
                let (code, v) = self.api_of(r).try_call("GET", "/api/cluster", None).ok()?;
                if code != 200 {
                    return None;
                }
                seen.insert(v["data"]["leader"].as_str()?.to_string());
            }
            if seen.len() != 1 {
                return None;
            }
            let l = seen.into_iter().next()?;
            (!not.contains(&l.as_str())).then_some(l)
        })
    }

    /// Ids of the routers that are alive and carry WireGuard.
    pub fn live_wg_routers(&self) -> Vec<String> {
        self.routers.iter().filter(|r| r.alive && !r.witness).map(|r| r.node_id.clone()).collect()
    }
}

// ---- configs and peers -------------------------------------------------------------------------

/// Creates config `name` (`address` e.g. `10.1.2.1/24`, clients route `peer_allowed_ips`) and
/// assigns it to `nodes`.
pub fn create_config(api: &Api, name: &str, address: &str, peer_allowed_ips: &str, nodes: &[&str]) {
    api.ok(
        "POST",
        "/api/configs",
        Some(&json!({ "name": name, "address": address, "listen_port": WG_PORT,
                       "peer_allowed_ips": [peer_allowed_ips] })),
    );
    for n in nodes {
        api.ok("POST", &format!("/api/configs/{name}/nodes"), Some(&json!({ "node_id": n })));
    }
}

/// Creates peers `<prefix>0001…` in one bulk request, on `node` when given; returns their views.
pub fn create_peers(api: &Api, config: &str, prefix: &str, n: usize, node: Option<&str>) -> Vec<Value> {
    let items: Vec<Value> = (1..=n)
        .map(|i| match node {
            Some(node) => json!({ "name": format!("{prefix}{i:04}"), "node_id": node }),
            None => json!({ "name": format!("{prefix}{i:04}") }),
        })
        .collect();
    api.ok("POST", &format!("/api/configs/{config}/peers"), Some(&Value::Array(items))).as_array().cloned().unwrap_or_default()
}

/// Peer invariants after a failover, as a list of problems (empty = fine): every peer homed on
/// exactly one of `healthy` (its `node_id`), nothing left `draining_from`, no duplicate peer id,
/// public key or tunnel address.
pub fn placement_problems(peers: &[Value], healthy: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for p in peers {
        let id = p["id"].as_str().unwrap_or("?").to_string();
        if !ids.insert(id.clone()) {
            problems.push(format!("peer {id} listed twice"));
        }
        if !keys.insert(p["public_key"].to_string()) {
            problems.push(format!("public key of {id} used twice"));
        }
        for a in p["addresses"].as_array().cloned().unwrap_or_default() {
            if !addrs.insert(a.to_string()) {
                problems.push(format!("address {a} of {id} is given to two peers"));
            }
        }
        match p["node_id"].as_str() {
            Some(n) if healthy.iter().any(|h| h == n) => {}
            other => problems.push(format!("peer {id} is on {other:?}, not on a healthy node {healthy:?}")),
        }
        if !p["draining_from"].is_null() {
            problems.push(format!("peer {id} still draining from {}", p["draining_from"]));
        }
    }
    problems
}

/// Peer count per node id.
pub fn load_by_node(peers: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in peers {
        *m.entry(p["node_id"].as_str().unwrap_or("-").to_string()).or_default() += 1;
    }
    m
}

// ---- DNS: a BIND9 in the lab -------------------------------------------------------------------

/// `named` in a lab host, authoritative for bind9's zone on `<host>:53`, accepting TSIG-signed
/// dynamic updates (the daemon's rfc2136 provider). The same config as [`bind9::Bind9`], but
/// listening on the lab address so routers and the client reach it.
pub struct LabDns {
    pub host: Host,
    pub key_secret: String,
    dir: PathBuf,
    child: Child,
}

impl LabDns {
    /// Starts `named` in `host` and waits until it answers. Call [`prereqs`] first.
    pub fn start(host: Host) -> LabDns {
        let dir = host.dir().join("named");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut secret = [0u8; 32];
        File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret)).expect("urandom");
        let key_secret = base64::engine::general_purpose::STANDARD.encode(secret);
        let (zone, key, alg) = (bind9::ZONE, bind9::KEY_NAME, bind9::ALGORITHM);
        let d = dir.display();
        let a = host.addr;
        let conf = format!(
            r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port 53 {{ {a}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query {{ any; }};
    allow-transfer {{ none; }};
}};
key "{key}" {{
    algorithm {alg};
    secret "{key_secret}";
}};
controls {{ }};
logging {{
    channel out {{ stderr; severity info; print-time yes; }};
    category default {{ out; }};
    category update {{ out; }};
    category security {{ out; }};
}};
zone "{zone}" {{
    type primary;
    file "{d}/{zone}.zone";
    allow-update {{ key "{key}"; }};
}};
"#
        );
        let zone_text =
            format!("$TTL 60\n@ IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 3600 600 86400 1 )\n@ IN NS ns1.{zone}.\nns1 IN A {a}\n");
        std::fs::write(dir.join("named.conf"), conf).expect("write named.conf");
        std::fs::write(dir.join(format!("{zone}.zone")), zone_text).expect("write zone");
        let named = ["/usr/sbin/named", "/usr/bin/named", "/sbin/named"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("named is installed (prereqs)");
        let child = host.spawn(
            "sh",
            &[
                "-c",
                "exec \"$0\" -g -4 -n 1 -u root -c \"$1\" >\"$2\" 2>&1",
                named,
                &dir.join("named.conf").to_string_lossy(),
                &dir.join("named.log").to_string_lossy(),
            ],
        );
        let mut me = LabDns { host, key_secret, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if !me.query(&me.host.clone(), zone, "SOA").is_empty() {
                break;
            }
            let exited = me.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "named did not come up on {a}:53 (exit {exited:?}); its log:\n{}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }

    /// The body of `PUT /api/settings/dns` pointing the cluster at this server.
    pub fn settings(&self) -> Value {
        json!({ "rfc2136": { "server": format!("{}:53", self.host.addr), "zone": bind9::ZONE,
                             "key_name": bind9::KEY_NAME, "key_secret": self.key_secret,
                             "algorithm": bind9::ALGORITHM } })
    }

    /// `dig +short` from `from`'s namespace to this server, sorted (empty when no answer).
    pub fn query(&self, from: &Host, name: &str, rtype: &str) -> Vec<String> {
        dig(from, Some(self.host.addr), name, rtype)
    }
}

impl Drop for LabDns {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("---- named log, last 20 lines ----\n{}", lines[lines.len().saturating_sub(20)..].join("\n"));
        }
        // The lab kills named (by PID) and removes its directory.
    }
}

/// `dig +short NAME RTYPE` run in `from` (at `server`, else the namespace's resolv.conf), sorted.
pub fn dig(from: &Host, server: Option<Ipv4Addr>, name: &str, rtype: &str) -> Vec<String> {
    let at = server.map(|s| format!("@{s}"));
    let mut args: Vec<&str> = Vec::new();
    if let Some(a) = &at {
        args.push(a);
    }
    args.extend(["+short", "+tries=1", "+time=1", name, rtype]);
    let out = from.exec_timeout("dig", &args, Duration::from_secs(5));
    if !out.status.success() {
        return Vec::new();
    }
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .collect();
    v.sort();
    v
}

/// `/etc/netns/<ns>/resolv.conf`: `ip netns exec` (so every `host.exec`/`spawn`) bind-mounts it
/// over `/etc/resolv.conf`, so names in the host resolve with the lab's DNS. Removed on drop.
pub struct ClientResolver {
    dir: PathBuf,
}

impl ClientResolver {
    pub fn install(host: &Host, nameserver: Ipv4Addr) -> ClientResolver {
        clean_stale_resolvers();
        let dir = Path::new("/etc/netns").join(&host.ns);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {nameserver}\noptions timeout:1 attempts:1\n"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        ClientResolver { dir }
    }
}

impl Drop for ClientResolver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes `/etc/netns/wgl-<pid>-…` directories whose process is gone (a crashed earlier run).
fn clean_stale_resolvers() {
    let Ok(entries) = std::fs::read_dir("/etc/netns") else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("wgl-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

// ---- the WireGuard client ----------------------------------------------------------------------

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
        let proc = Arc::new(OwnedChild(host.spawn_with("wireguard-go", &["-f", &iface], &[("WG_PROCESS_FOREGROUND", "1")])));
        let sock = host.uapi_dir().join(format!("{iface}.sock"));
        assert!(
            wait_until(Duration::from_secs(10), Duration::from_millis(10), || UnixStream::connect(&sock).is_ok()),
            "client wireguard-go socket did not appear"
        );
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

// ---- timings from the audit log ----------------------------------------------------------------

/// The cluster's own record of a failover, from the audit log (wall-clock ms).
#[derive(Clone, Debug, Default)]
pub struct AuditTimes {
    /// `node_health_changed` (node level, healthy=false) of the failed node.
    pub unhealthy_at: Option<u64>,
    /// `peer_migrated` off the failed node.
    pub migrated_at: Option<u64>,
    pub migrated_count: Option<u64>,
    /// `drain_completed` of the failed node (Mode B: destinations applied the moved peers).
    pub drained_at: Option<u64>,
    /// `dns_updated` after the failure (Mode A).
    pub dns_updated_at: Option<u64>,
}

/// Reads the audit times of `node`'s failure in `config`, counting only entries at or after
/// `since_ms`.
pub fn audit_times(api: &Api, config: &str, node: &str, since_ms: u64) -> AuditTimes {
    let first = |action: &str, pred: &dyn Fn(&Value) -> bool| -> Option<Value> {
        let mut v: Vec<Value> =
            api.audit(action).into_iter().filter(|e| e["timestamp"].as_u64().unwrap_or(0) >= since_ms && pred(e)).collect();
        v.sort_by_key(|e| e["timestamp"].as_u64());
        v.into_iter().next()
    };
    let entity = format!("{config}:{node}");
    let unhealthy =
        first("node_health_changed", &|e| e["entity_type"] == "node" && e["entity_id"] == node && e["details"]["healthy"] == false);
    let migrated = first("peer_migrated", &|e| e["entity_id"] == entity.as_str());
    let drained = first("drain_completed", &|e| e["entity_id"] == entity.as_str());
    let dns = first("dns_updated", &|_| true);
    AuditTimes {
        unhealthy_at: unhealthy.and_then(|e| e["timestamp"].as_u64()),
        migrated_count: migrated.as_ref().and_then(|e| e["details"]["count"].as_u64()),
        migrated_at: migrated.and_then(|e| e["timestamp"].as_u64()),
        drained_at: drained.and_then(|e| e["timestamp"].as_u64()),
        dns_updated_at: dns.and_then(|e| e["timestamp"].as_u64()),
    }
}

/// `b - a` in seconds, for reports.
pub fn secs(a: u64, b: Option<u64>) -> Option<f64> {
    b.map(|b| (b as f64 - a as f64) / 1000.0)
}

/// `1.23 s` or `-`.
pub fn fmt_s(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} s")).unwrap_or_else(|| "-".into())
}

// ---- scenario: Mode A (three routers, one DNS name, a client) ---------------------------------

/// Three routers sharing config `wg0` with an endpoint group (`vpn.example.test`, rfc2136 to the
/// lab's BIND9), `extra_peers` peers plus the client's, and a client connected through a router
/// that is not the panel (or is, with `via_panel`). Fields drop in order: the lab (which kills
/// everything) last.
pub struct ModeA {
    pub watchdog: Option<Watchdog>,
    pub pinger: Option<Pinger>,
    pub client: WgClient,
    pub client_peer: Value,
    /// The router the client uses.
    pub via: String,
    /// The router's tunnel address the client pings.
    pub target: Ipv4Addr,
    pub cluster: LabCluster,
    pub resolver: ClientResolver,
    pub dns: LabDns,
    pub client_host: Host,
    pub lab: Lab,
}

/// Timings of one failover (seconds from the kill, except where said).
#[derive(Clone, Debug, Default)]
pub struct Failover {
    pub killed_at: u64,
    pub killed: String,
    pub detected_s: Option<f64>,
    pub migrated_s: Option<f64>,
    pub migrated_count: Option<u64>,
    pub drained_s: Option<f64>,
    pub dns_changed_s: Option<f64>,
    pub switched_s: Option<f64>,
    pub restored_s: Option<f64>,
    /// Last reply before the kill -> first after it.
    pub outage_s: Option<f64>,
    /// Mode B: the destination's wireguard-go carries every moved peer (seconds after the kill).
    pub applied_s: Option<f64>,
    pub switched_to: Option<String>,
}

impl ModeA {
    pub fn setup(prefix: &str, extra_peers: usize, via_panel: bool, say: &dyn Fn(&str)) -> ModeA {
        let lab = Lab::new(prefix);
        let dns = LabDns::start(lab.add_host("dns"));
        say(&format!("BIND9 serving {} on {}:53", bind9::ZONE, dns.host.addr));
        let client_host = lab.add_host("client");
        let resolver = ClientResolver::install(&client_host, dns.host.addr);
        let t = Instant::now();
        let cluster = LabCluster::start(&lab, &client_host, &[("r1", false), ("r2", false), ("r3", false)]);
        say(&format!(
            "cluster of three routers up in {:.1} s: {}",
            t.elapsed().as_secs_f64(),
            cluster.routers.iter().map(|r| format!("{}={}", r.node_id, r.host.addr)).collect::<Vec<_>>().join(", ")
        ));
        let api = cluster.api("r1");
        api.ok("PUT", "/api/settings/dns", Some(&dns.settings()));
        let tunnel_net = Ipv4Addr::from(u32::from(lab.tunnel_addr(1)) & 0xffff_ff00);
        let target = lab.tunnel_addr(1);
        create_config(&api, "wg0", &format!("{target}/24"), &format!("{tunnel_net}/24"), &["r1", "r2", "r3"]);
        api.ok(
            "POST",
            "/api/configs/wg0/endpoint-group",
            Some(&json!({ "domain": ENDPOINT_NAME, "port": WG_PORT, "provider": "rfc2136", "ttl": 1 })),
        );
        if extra_peers > 0 {
            create_peers(&api, "wg0", "peer", extra_peers, None);
        }
        let client_peer = api.ok("POST", "/api/configs/wg0/peers", Some(&json!({ "name": "laptop" })));
        let all: BTreeSet<String> = cluster.routers.iter().map(|r| r.host.addr.to_string()).collect();
        wait_for("DNS to publish the three routers", Duration::from_secs(30), || {
            let got: BTreeSet<String> = dns.query(&client_host, ENDPOINT_NAME, "A").into_iter().collect();
            (got == all).then_some(())
        });
        say(&format!("{ENDPOINT_NAME} -> {}", all.iter().cloned().collect::<Vec<_>>().join(", ")));
        let n = extra_peers + 1;
        wait_for("every router's wireguard-go to carry every peer", Duration::from_secs(30), || {
            cluster.routers.iter().all(|r| r.wg_keys("wg0").len() == n).then_some(())
        });
        let pid = client_peer["id"].as_str().expect("peer id").to_string();
        let text = api.text(&format!("/api/configs/wg0/peers/{pid}/config"));
        let conf = ClientConf::parse(&text);
        assert_eq!(conf.endpoint, format!("{ENDPOINT_NAME}:{WG_PORT}"), "Mode A config names the cluster endpoint:\n{text}");
        // The client resolves the name like wg-quick (through the lab DNS)...
        let client = WgClient::start(&client_host, conf, None);
        // ...and for a deterministic run we put it on a router that is not the panel, or on the
        // panel when `via_panel` (then the kill also costs the cluster its panel).
        let leader = cluster.wait_leader(&[], Duration::from_secs(10));
        let resolved = client.endpoint_ip().unwrap_or_default();
        let fits = |r: &&Router| (r.node_id == leader) == via_panel;
        let via = cluster
            .routers
            .iter()
            .filter(fits)
            .find(|r| r.host.addr.to_string() == resolved)
            .or_else(|| cluster.routers.iter().find(fits))
            .expect("a router to use")
            .node_id
            .clone();
        let via_addr = cluster.router(&via).host.addr;
        if resolved != via_addr.to_string() {
            client.switch(&format!("{via_addr}:{WG_PORT}"), Switch::Rehandshake);
        }
        say(&format!("client 'laptop' resolved {ENDPOINT_NAME} and uses {via} ({via_addr}); the panel is {leader}"));
        assert!(client_host.ping_until(target, Duration::from_secs(20)), "client cannot ping {target} through {via}");
        ModeA { watchdog: None, pinger: None, client, client_peer, via, target, cluster, resolver, dns, client_host, lab }
    }

    /// Starts the ping and the watchdog (`stale`: also move when nothing came back for that
    /// long), kills the router the client uses, and follows the failover until the client's
    /// traffic is back, DNS has changed and the migration is committed (bounded by `timeout`).
    pub fn fail_and_recover(&mut self, how: Switch, stale: Option<Duration>, timeout: Duration, say: &dyn Fn(&str)) -> Failover {
        self.pinger = Some(Pinger::start(&self.client_host, self.target));
        self.watchdog = Some(Watchdog::start(&self.client, ENDPOINT_NAME, Duration::from_secs(1), stale, how));
        let pinger = self.pinger.as_ref().expect("pinger");
        wait_for("the ping to answer", Duration::from_secs(10), || pinger.first_reply_after(now_ms().saturating_sub(500)));
        let dead = self.via.clone();
        let dead_addr = self.cluster.router(&dead).host.addr.to_string();
        let killed_at = now_ms();
        let n = self.cluster.router_mut(&dead).kill_all();
        // Every process of the router is gone now: a reply after this came through another one.
        let gone_at = now_ms();
        say(&format!("t=0.00 s  killed every process of {dead} ({n}: wgclusterd and its wireguard-go)"));
        let mut f = Failover { killed_at, killed: dead.clone(), ..Default::default() };
        let deadline = Instant::now() + timeout;
        let api = self.cluster.any_api(&[&dead]);
        let at = |t: u64| (t as f64 - killed_at as f64) / 1000.0;
        let mut switches = 0;
        loop {
            let now = now_ms();
            if f.dns_changed_s.is_none() {
                let got = self.dns.query(&self.client_host, ENDPOINT_NAME, "A");
                if !got.is_empty() && !got.contains(&dead_addr) {
                    f.dns_changed_s = secs(killed_at, Some(now));
                    say(&format!("t={:.2} s  DNS answer changed: {ENDPOINT_NAME} -> {}", at(now), got.join(", ")));
                }
            }
            if f.detected_s.is_none() || f.migrated_s.is_none() {
                let a = audit_times(&api, "wg0", &dead, killed_at);
                if let (Some(t), None) = (a.unhealthy_at, f.detected_s) {
                    f.detected_s = secs(killed_at, Some(t));
                    say(&format!("t={:.2} s  the panel marked {dead} unhealthy (3 missed probes)", at(t)));
                }
                if let (Some(t), None) = (a.migrated_at, f.migrated_s) {
                    f.migrated_s = secs(killed_at, Some(t));
                    f.migrated_count = a.migrated_count;
                    say(&format!("t={:.2} s  migration committed: {} peer(s) re-homed off {dead}", at(t), a.migrated_count.unwrap_or(0)));
                }
            }
            let events: Vec<WatchdogEvent> =
                self.watchdog.as_ref().map(|w| w.events()).unwrap_or_default().into_iter().filter(|e| e.at_ms >= killed_at).collect();
            for ev in events.iter().skip(switches) {
                if f.switched_s.is_none() {
                    f.switched_s = secs(killed_at, Some(ev.at_ms));
                    f.switched_to = Some(ev.to.clone());
                }
                say(&format!(
                    "t={:.2} s  client watchdog: {} -> {} ({})",
                    at(ev.at_ms),
                    ev.from.clone().unwrap_or_default(),
                    ev.to,
                    ev.why
                ));
            }
            switches = events.len();
            if f.restored_s.is_none() {
                if let Some(r) = self.pinger.as_ref().and_then(|p| p.first_reply_after(gone_at + 100)) {
                    f.restored_s = secs(killed_at, Some(r));
                    f.outage_s = self.pinger.as_ref().and_then(|p| p.last_reply_before(killed_at + 1)).map(|l| (r - l) as f64 / 1000.0);
                    say(&format!("t={:.2} s  client traffic restored (the ping through the tunnel answers again)", at(r)));
                }
            }
            let done = f.restored_s.is_some() && f.dns_changed_s.is_some() && f.migrated_s.is_some();
            if done || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f
    }
}

// ---- scenario: Mode B, 1,000 peers (a witness panel, two routers) -----------------------------

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
