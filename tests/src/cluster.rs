//! A real multi-router cluster for black-box tests: `n` `wgclusterd` processes, each with its own
//! temporary directory, UCI config and log file. Router 1 initialises the cluster (`auto_init`),
//! the others get a join token from it, run `wgclusterd join`, then `wgclusterd run`, and the
//! harness waits until all `n` are voters and agree on one leader (the panel).
//!
//! - Placement: on loopback ([`Cluster::start`]: each router on its own `127.X.Y.i` address, ports
//!   found free there; the API is reached over TCP with the replicated admin token), or one router
//!   per network-lab host ([`Cluster::start_in_lab`]: `cluster_listen` on the host's lab address;
//!   the API is reached over the router's Unix control socket, which lives on the shared file
//!   system and so works from outside the namespace; the lab's link controls cut the network).
//! - The binary is `$WGCLUSTERD_BIN`, else `$CARGO_TARGET_DIR/debug/wgclusterd`, else
//!   `<workspace>/target/debug/wgclusterd`.
//! - Every wait polls with a deadline; nothing sleeps for a fixed long time.
//! - `Drop` (also while unwinding) kills every child by its PID, prints the end of each router's
//!   log when the test failed, and removes the temporary directories (`WGC_KEEP_TEST_DIRS=1`
//!   keeps them).

use crate::lab::Host;
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a cluster may take to form (init, joins, promotions) on a loaded 2-core machine.
pub const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Per-request timeout of the HTTP helpers (a write without quorum fails after 5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

static CLUSTER_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Raft timing and logging of every router of a cluster. `None` leaves the daemon's default.
#[derive(Debug, Clone)]
pub struct Opts {
    pub heartbeat_ms: Option<u64>,
    pub election_timeout_ms: Option<u64>,
    pub snapshot_logs: Option<u64>,
    pub log_level: &'static str,
}

impl Opts {
    /// Fast elections for tests: heartbeat 100 ms, election timeout 500 ms.
    pub fn fast() -> Opts {
        Opts { heartbeat_ms: Some(100), election_timeout_ms: Some(500), snapshot_logs: None, log_level: "info" }
    }

    /// The daemon's defaults (heartbeat 300 ms, election timeout 1500 ms, snapshot every 1000).
    pub fn defaults() -> Opts {
        Opts { heartbeat_ms: None, election_timeout_ms: None, snapshot_logs: None, log_level: "info" }
    }

    pub fn snapshot_logs(mut self, n: u64) -> Opts {
        self.snapshot_logs = Some(n);
        self
    }

    /// The election timeout the routers run with.
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms.unwrap_or(1500))
    }
}

impl Default for Opts {
    fn default() -> Self {
        Opts::fast()
    }
}

/// `GET /api/cluster` as one router sees it.
#[derive(Debug, Clone)]
pub struct View {
    pub node_id: String,
    pub leader: Option<String>,
    pub term: u64,
    pub applied_index: u64,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone)]
pub struct MemberView {
    pub id: String,
    pub addr: String,
    pub role: String,
    pub voter: bool,
    pub matched_index: Option<u64>,
}

impl View {
    fn parse(data: &Value) -> Option<View> {
        let members = data["members"]
            .as_array()?
            .iter()
            .map(|m| MemberView {
                id: m["id"].as_str().unwrap_or_default().to_string(),
                addr: m["addr"].as_str().unwrap_or_default().to_string(),
                role: m["role"].as_str().unwrap_or_default().to_string(),
                voter: m["voter"].as_bool().unwrap_or(false),
                matched_index: m["matched_index"].as_u64(),
            })
            .collect();
        Some(View {
            node_id: data["node_id"].as_str()?.to_string(),
            leader: data["leader"].as_str().map(str::to_string),
            term: data["term"].as_u64()?,
            applied_index: data["applied_index"].as_u64()?,
            members,
        })
    }

    pub fn voters(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.members.iter().filter(|m| m.voter).map(|m| m.id.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// This router believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader.as_deref() == Some(self.node_id.as_str())
    }
}

/// How the test reaches a router's API.
#[derive(Debug, Clone)]
enum Api {
    /// TCP `api_listen` with the admin token.
    Tcp(SocketAddr),
    /// The Unix control socket (local root: no token).
    Uds(PathBuf),
}

/// One router of a cluster.
pub struct Router {
    /// Node id: `r1`, `r2`, …
    pub id: String,
    /// Its directory (config, data dir, control socket, log).
    pub dir: PathBuf,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub api_listen: SocketAddr,
    pub cluster_listen: SocketAddr,
    api: Api,
    host: Option<Host>,
    child: Option<Child>,
}

impl Router {
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => matches!(c.try_wait(), Ok(None)),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `n` lines of the router's log.
    pub fn log_tail(&self, n: usize) -> String {
        crate::util::tail(&self.log, n)
    }
}

/// A running cluster. Indices are 0-based: `r1` is index 0.
pub struct Cluster {
    pub routers: Vec<Router>,
    pub opts: Opts,
    /// The admin token (replicated: works on every router).
    pub token: String,
    root: PathBuf,
    agent: ureq::Agent,
    /// When the harness started (log lines are stamped with the time since).
    started: Instant,
}

/// The `wgclusterd` binary under test: the same lookup as the single-daemon harness.
pub use crate::daemon::binary;

use crate::util::free_port_on as free_port;
pub use crate::util::wait_for;
use crate::util::DaemonUci;

/// The `message` of an envelope (empty when there is none).
pub fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

fn parse_envelope(method: &str, path: &str, code: u16, text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v.get("status").is_some() => v,
        _ => panic!("{method} {path}: HTTP {code}: not the JSON envelope: {text:?}"),
    }
}

/// One HTTP/1.1 request over a Unix socket (`Connection: close`). `Err` when no answer came.
pub fn uds_request(sock: &Path, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<(u16, String), String> {
    uds_request_with(sock, method, path, &[], body, timeout)
}

/// `uds_request` with extra request headers.
pub fn uds_request_with(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("{method} {path}: reading: {e}"))?;
    let r = crate::daemon::parse_http_response(&raw)
        .ok_or_else(|| format!("{method} {path}: malformed answer {:?}", String::from_utf8_lossy(&raw)))?;
    Ok((r.status, r.text()))
}

/// A loopback network `127.X.Y.0/24` for one cluster, from the PID and a per-process counter.
fn loopback_net() -> [u8; 2] {
    let n = CLUSTER_COUNTER.fetch_add(1, Ordering::SeqCst);
    let key = std::process::id().wrapping_mul(31).wrapping_add(n);
    [20 + (key % 200) as u8, ((key / 200) % 250) as u8 + 1]
}

fn new_root() -> PathBuf {
    let n = CLUSTER_COUNTER.fetch_add(1, Ordering::SeqCst);
    let root = std::env::temp_dir().join(format!("wgc-cluster-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    root
}

impl Cluster {
    /// `n` routers on loopback, formed and agreed on a leader.
    pub fn start(n: usize, opts: Opts) -> Cluster {
        assert!(n >= 1);
        let [a, b] = loopback_net();
        let root = new_root();
        let routers = (1..=n)
            .map(|i| {
                let ip = Ipv4Addr::new(127, a, b, i as u8);
                let api_listen = SocketAddr::from((ip, free_port(ip)));
                let cluster_listen = SocketAddr::from((ip, free_port(ip)));
                Router::new(&root, i, api_listen, cluster_listen, Api::Tcp(api_listen), None)
            })
            .collect();
        Cluster::form(root, routers, opts)
    }

    /// One router per lab host (`hosts[0]` founds the cluster), formed and agreed on a leader.
    /// The cluster port is 10087 on each host's lab address; the API is reached over each
    /// router's control socket.
    pub fn start_in_lab(hosts: &[Host], opts: Opts) -> Cluster {
        let root = new_root();
        let routers = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let dir = root.join(format!("r{}", i + 1));
                let api_listen = SocketAddr::from(([127, 0, 0, 1], 10086));
                let cluster_listen = SocketAddr::from((h.addr, 10087));
                Router::new(&root, i + 1, api_listen, cluster_listen, Api::Uds(dir.join("ctl.sock")), Some(h.clone()))
            })
            .collect();
        Cluster::form(root, routers, opts)
    }

    fn form(root: PathBuf, routers: Vec<Router>, opts: Opts) -> Cluster {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(REQUEST_TIMEOUT)).max_redirects(0).build().into();
        let mut c = Cluster { routers, opts, token: String::new(), root, agent, started: Instant::now() };
        for i in 0..c.routers.len() {
            c.write_config(i, i == 0);
        }
        // Router 1: auto_init, then run.
        c.spawn(0);
        let token_file = c.routers[0].data_dir.join("admin.token");
        c.token = wait_for("r1's admin token", FORM_TIMEOUT, || {
            std::fs::read_to_string(&token_file).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
        });
        let r1 = c.routers[0].id.clone();
        wait_for("r1 to lead its one-router cluster", FORM_TIMEOUT, || c.view(0).filter(|v| v.leader.as_deref() == Some(r1.as_str())));
        // The others: join through r1, then run.
        for i in 1..c.routers.len() {
            let token = c.join_token(0, None);
            let peer = c.routers[0].cluster_listen.to_string();
            let (ok, out) = c.join(i, &token, &peer);
            assert!(ok, "{} could not join: {out}", c.routers[i].id);
            c.spawn(i);
        }
        c.wait_formed(FORM_TIMEOUT);
        c
    }

    /// The router's UCI file. `wg_backend 'userspace'`: `auto` would probe kernel WireGuard by
    /// creating a throwaway link in the test's (root) namespace; these tests assign no configs,
    /// so no WireGuard runs at all.
    fn write_config(&self, i: usize, founder: bool) {
        let r = &self.routers[i];
        let o = &self.opts;
        DaemonUci::new()
            .opt("node_id", &r.id)
            .opt("data_dir", r.data_dir.display())
            .opt("api_listen", r.api_listen)
            .opt("cluster_listen", r.cluster_listen)
            .opt("control_socket", r.dir.join("ctl.sock").display())
            .opt("uapi_dir", r.dir.join("wireguard").display())
            .opt("log_level", o.log_level)
            .opt("wg_backend", "userspace")
            .opt_if("auto_init", founder.then_some(1))
            .opt_if("heartbeat_ms", o.heartbeat_ms)
            .opt_if("election_timeout_ms", o.election_timeout_ms)
            .opt_if("snapshot_logs", o.snapshot_logs)
            .write(&r.config);
    }

    /// Adds a router to a loopback cluster (config written, nothing run): join it with
    /// [`Cluster::join`], then [`Cluster::start_router`]. Returns its index.
    pub fn add_router(&mut self) -> usize {
        let ip = match self.routers[0].api {
            Api::Tcp(SocketAddr::V4(a)) => *a.ip(),
            _ => panic!("add_router is for loopback clusters"),
        };
        let [_, a, b, _] = ip.octets();
        let i = self.routers.len() + 1;
        let ip = Ipv4Addr::new(127, a, b, i as u8);
        let api_listen = SocketAddr::from((ip, free_port(ip)));
        let cluster_listen = SocketAddr::from((ip, free_port(ip)));
        self.routers.push(Router::new(&self.root, i, api_listen, cluster_listen, Api::Tcp(api_listen), None));
        self.write_config(i - 1, false);
        i - 1
    }

    /// Starts `wgclusterd run` for router `i` (no wait).
    pub fn start_router(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Starts `wgclusterd run` for router `i` (stdout and stderr appended to its log).
    fn spawn(&mut self, i: usize) {
        let bin = binary();
        let r = &mut self.routers[i];
        assert!(!r.is_running(), "{} is already running", r.id);
        let line = format!("[{:8.3}] ==== wgclusterd run ====\n", self.started.elapsed().as_secs_f64());
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(&r.log).and_then(|mut f| f.write_all(line.as_bytes()));
        let child = match &r.host {
            None => {
                let mut child = crate::daemon::wgclusterd(&["run"], &r.config)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
                // Each line gets the time since the cluster started (the daemon logs none).
                let log = std::fs::OpenOptions::new().create(true).append(true).open(&r.log).expect("log file");
                let log = std::sync::Arc::new(std::sync::Mutex::new(log));
                let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
                let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
                for pipe in [out, err] {
                    let (log, started) = (log.clone(), self.started);
                    std::thread::spawn(move || {
                        for line in std::io::BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
                            let line = format!("[{:8.3}] {}\n", started.elapsed().as_secs_f64(), String::from_utf8_lossy(&line));
                            let _ = log.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes());
                        }
                    });
                }
                child
            }
            Some(h) => crate::daemon::spawn_in_host(h, false, &r.config, &r.log),
        };
        r.child = Some(child);
    }

    /// `wgclusterd join` for router `i`: (exit status 0, stdout + stderr).
    pub fn join(&self, i: usize, token: &str, peer: &str) -> (bool, String) {
        let bin = binary();
        let r = &self.routers[i];
        let out = match &r.host {
            None => crate::daemon::wgclusterd(&["join", "--token", token, "--peer", peer], &r.config)
                .output()
                .unwrap_or_else(|e| panic!("{}: {e}", bin.display())),
            Some(h) => h.exec(&bin.to_string_lossy(), &["join", "--token", token, "--peer", peer, "--config", &r.config.to_string_lossy()]),
        };
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// A fresh join token made on router `i` (`ttl_s` None: the daemon's default).
    pub fn join_token(&self, i: usize, ttl_s: Option<u64>) -> String {
        let v = self.join_token_data(i, ttl_s);
        v["token"].as_str().unwrap_or_else(|| panic!("no token in {v}")).to_string()
    }

    /// `data` of `POST /api/cluster/join-tokens` on router `i`: `token`, `expires_at`, `issuer`.
    pub fn join_token_data(&self, i: usize, ttl_s: Option<u64>) -> Value {
        let body = match ttl_s {
            Some(t) => json!({ "ttl_s": t }),
            None => json!({}),
        };
        self.post_ok(i, "/api/cluster/join-tokens", &body)["data"].clone()
    }

    /// Router `i`'s control socket (the API without a token, for local root).
    pub fn control_socket(&self, i: usize) -> PathBuf {
        self.routers[i].dir.join("ctl.sock")
    }

    /// Waits until every running router sees all routers as voters and they agree on a leader
    /// that is running. Returns the leader's index.
    pub fn wait_formed(&mut self, timeout: Duration) -> usize {
        let mut want: Vec<String> = self.routers.iter().map(|r| r.id.clone()).collect();
        want.sort();
        let deadline = Instant::now() + timeout;
        loop {
            let running: Vec<usize> = (0..self.len()).filter(|&i| self.routers[i].is_running()).collect();
            let views: Vec<Option<View>> = running.iter().map(|&i| self.view(i)).collect();
            let leaders: Vec<Option<String>> = views.iter().map(|v| v.as_ref().and_then(|v| v.leader.clone())).collect();
            let formed =
                views.iter().all(|v| v.as_ref().is_some_and(|v| v.voters() == want.iter().map(String::as_str).collect::<Vec<_>>()))
                    && leaders.windows(2).all(|w| w[0] == w[1])
                    && leaders.first().cloned().flatten().is_some_and(|l| running.iter().any(|&i| self.routers[i].id == l));
            if formed {
                let l = leaders[0].clone().unwrap_or_default();
                return self.index_of(&l);
            }
            for &i in &running {
                assert!(self.routers[i].is_running(), "{} exited:\n{}", self.routers[i].id, self.routers[i].log_tail(30));
            }
            assert!(Instant::now() < deadline, "the cluster did not form within {timeout:?}; last views: {views:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn len(&self) -> usize {
        self.routers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
    }

    pub fn id(&self, i: usize) -> &str {
        &self.routers[i].id
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.routers.iter().position(|r| r.id == id).unwrap_or_else(|| panic!("no router '{id}'"))
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        self.routers[i].is_running()
    }

    /// One API request to router `i`. `Err` when no HTTP answer came.
    pub fn try_request(&self, i: usize, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        self.try_request_with(i, method, path, &[], body)
    }

    /// `try_request` with extra request headers (e.g. `Idempotency-Key`).
    pub fn try_request_with(
        &self,
        i: usize,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let (code, text) = match &self.routers[i].api {
            Api::Uds(sock) => uds_request_with(sock, method, path, headers, body, REQUEST_TIMEOUT)?,
            Api::Tcp(addr) => {
                let mut builder = ureq::http::Request::builder()
                    .method(method)
                    .uri(format!("http://{addr}{path}"))
                    .header("Authorization", format!("Bearer {}", self.token));
                for (k, v) in headers {
                    builder = builder.header(*k, *v);
                }
                let result = match body {
                    Some(b) => {
                        self.agent.run(builder.header("Content-Type", "application/json").body(b.to_string()).map_err(|e| e.to_string())?)
                    }
                    None => self.agent.run(builder.body(()).map_err(|e| e.to_string())?),
                };
                let mut resp = result.map_err(|e| format!("{method} {path} on {}: {e}", self.routers[i].id))?;
                let code = resp.status().as_u16();
                let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| e.to_string())?;
                (code, text)
            }
        };
        Ok((code, parse_envelope(method, path, code, &text)))
    }

    fn request(&self, i: usize, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_request(i, method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn get(&self, i: usize, path: &str) -> (u16, Value) {
        self.request(i, "GET", path, None)
    }

    pub fn post(&self, i: usize, path: &str, body: &Value) -> (u16, Value) {
        self.request(i, "POST", path, Some(body))
    }

    pub fn delete(&self, i: usize, path: &str) -> (u16, Value) {
        self.request(i, "DELETE", path, None)
    }

    /// POST that must succeed (2xx); returns the envelope.
    pub fn post_ok(&self, i: usize, path: &str, body: &Value) -> Value {
        let (code, v) = self.post(i, path, body);
        assert!((200..300).contains(&code), "POST {path} on {}: HTTP {code}: {v}", self.id(i));
        v
    }

    /// GET that must succeed; returns `data`.
    pub fn get_data(&self, i: usize, path: &str) -> Value {
        let (code, v) = self.get(i, path);
        assert_eq!(code, 200, "GET {path} on {}: {v}", self.id(i));
        v["data"].clone()
    }

    /// POSTs until the answer is not 503 (no panel yet, no quorum) or `timeout` passes; a 409
    /// after an earlier attempt counts as success (that attempt was committed after all).
    /// Returns (status, envelope, attempts).
    pub fn post_retry(&self, i: usize, path: &str, body: &Value, timeout: Duration) -> (u16, Value, u32) {
        let deadline = Instant::now() + timeout;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let res = self.try_request(i, "POST", path, Some(body));
            match res {
                Ok((409, v)) if attempts > 1 => return (200, v, attempts),
                Ok((code, v)) if code != 503 || Instant::now() >= deadline => return (code, v, attempts),
                Err(e) if Instant::now() >= deadline => panic!("{e}"),
                _ => std::thread::sleep(Duration::from_millis(25)),
            }
        }
    }

    /// The cluster as router `i` sees it (None when it does not answer).
    pub fn view(&self, i: usize) -> Option<View> {
        match self.try_request(i, "GET", "/api/cluster", None) {
            Ok((200, v)) => View::parse(&v["data"]),
            _ => None,
        }
    }

    /// The leader that a majority of the running routers agree on and that claims it itself
    /// (an isolated old leader that still believes it leads is not counted).
    pub fn leader(&mut self) -> Option<usize> {
        self.leader_among(&(0..self.len()).collect::<Vec<_>>())
    }

    fn leader_among(&mut self, candidates: &[usize]) -> Option<usize> {
        let running: Vec<usize> = candidates.iter().copied().filter(|&i| self.routers[i].is_running()).collect();
        let views: Vec<(usize, View)> = running.iter().filter_map(|&i| self.view(i).map(|v| (i, v))).collect();
        for (i, v) in &views {
            if !v.is_leader() {
                continue;
            }
            let agree = views.iter().filter(|(_, w)| w.leader == v.leader && w.term == v.term).count();
            if agree * 2 > self.len() {
                return Some(*i);
            }
        }
        None
    }

    /// Waits for [`Cluster::leader`].
    pub fn wait_leader(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader() {
                return l;
            }
            assert!(Instant::now() < deadline, "no leader within {timeout:?}: {:?}", self.views());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the running routers other than `i` agree on a leader among themselves (a
    /// majority of the whole cluster) and returns it.
    pub fn wait_leader_other_than(&mut self, i: usize, timeout: Duration) -> usize {
        let others: Vec<usize> = (0..self.len()).filter(|&j| j != i).collect();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader_among(&others) {
                return l;
            }
            assert!(Instant::now() < deadline, "no leader other than {} within {timeout:?}: {:?}", self.id(i), self.views());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every router's view (None for a router that does not answer).
    pub fn views(&self) -> Vec<Option<View>> {
        (0..self.len()).map(|i| self.view(i)).collect()
    }

    /// Waits until router `i` has applied at least `index`.
    pub fn wait_applied(&self, i: usize, index: u64, timeout: Duration) -> View {
        wait_for(&format!("{} to apply index {index}", self.id(i)), timeout, || self.view(i).filter(|v| v.applied_index >= index))
    }

    /// Appends a harness note (time-stamped like the daemon's lines) to every router's log.
    pub fn note(&self, what: &str) {
        let line = format!("[{:8.3}] ==== {what} ====\n", self.started.elapsed().as_secs_f64());
        for r in &self.routers {
            let _ = std::fs::OpenOptions::new().append(true).open(&r.log).and_then(|mut f| f.write_all(line.as_bytes()));
        }
    }

    /// Waits until the cluster is formed and in sync: every running router follows the same
    /// leader and has applied everything the leader has, and the leader sees every member's log
    /// matched up to there. Returns the leader's index.
    pub fn wait_in_sync(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let leader = self.wait_formed(timeout);
        loop {
            let views = self.views();
            let top = views[leader].as_ref().map(|v| v.applied_index);
            let in_sync = top.is_some_and(|top| {
                views.iter().enumerate().all(|(i, v)| {
                    self.routers[i].pid().is_none()
                        || v.as_ref()
                            .is_some_and(|v| v.applied_index == top && v.leader == views[leader].as_ref().and_then(|l| l.leader.clone()))
                }) && views[leader].as_ref().is_some_and(|v| v.members.iter().all(|m| m.matched_index == Some(top)))
            });
            if in_sync {
                return leader;
            }
            assert!(Instant::now() < deadline, "the cluster did not get in sync within {timeout:?}: {views:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` of router `i` (by its PID); waits until it is gone.
    pub fn kill9(&mut self, i: usize) {
        self.note(&format!("kill -9 {}", self.routers[i].id));
        let r = &mut self.routers[i];
        if let Some(mut c) = r.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM to router `i` and wait for a clean exit (SIGKILL after 15 s). Returns whether it
    /// exited by itself with status 0.
    pub fn stop(&mut self, i: usize) -> bool {
        self.note(&format!("SIGTERM {}", self.routers[i].id));
        let r = &mut self.routers[i];
        let Some(mut c) = r.child.take() else { return false };
        if let Ok(pid) = libc::pid_t::try_from(c.id()) {
            // SAFETY: kill(2) on our own, not yet reaped child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return s.success();
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts router `i` again on its data dir and waits until its API answers.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        let id = self.id(i).to_string();
        wait_for(&format!("{id} to answer after a restart"), FORM_TIMEOUT, || {
            assert!(self.routers[i].is_running(), "{id} exited after a restart:\n{}", self.routers[i].log_tail(30));
            self.view(i)
        });
    }

    /// The router's `/metrics` value of `name`.
    pub fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let text = match &self.routers[i].api {
            Api::Uds(sock) => uds_request(sock, "GET", "/metrics", None, REQUEST_TIMEOUT).ok()?.1,
            Api::Tcp(addr) => {
                let mut r = self
                    .agent
                    .get(format!("http://{addr}/metrics"))
                    .header("Authorization", format!("Bearer {}", self.token))
                    .call()
                    .ok()?;
                r.body_mut().read_to_string().ok()?
            }
        };
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The ids of `GET /api/nodes` on router `i`, sorted.
    pub fn node_ids(&self, i: usize) -> Vec<String> {
        let data = self.get_data(i, "/api/nodes");
        let mut ids: Vec<String> =
            data.as_array().map(|a| a.iter().filter_map(|n| n["id"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        ids.sort();
        ids
    }

    /// Waits until router `i` lists every id in `want` among its nodes.
    pub fn wait_nodes(&self, i: usize, want: &[String], timeout: Duration) {
        let id = self.id(i).to_string();
        let mut missing = Vec::new();
        let ok = crate::lab::wait_until(timeout, Duration::from_millis(25), || {
            let have = self.node_ids(i);
            missing = want.iter().filter(|w| !have.contains(w)).cloned().collect();
            missing.is_empty()
        });
        assert!(ok, "{id} is missing {} of {} nodes after {timeout:?}: {:?}", missing.len(), want.len(), &missing[..missing.len().min(10)]);
    }

    /// The temporary directory of the whole cluster.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Router {
    fn new(root: &Path, i: usize, api_listen: SocketAddr, cluster_listen: SocketAddr, api: Api, host: Option<Host>) -> Router {
        let id = format!("r{i}");
        let dir = root.join(&id);
        std::fs::create_dir_all(dir.join("wireguard")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Router {
            config: dir.join("wgcluster.uci"),
            data_dir: dir.join("data"),
            log: dir.join("daemon.log"),
            id,
            dir,
            api_listen,
            cluster_listen,
            api,
            host,
            child: None,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.routers {
            if let Some(mut c) = r.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            for r in &self.routers {
                eprintln!("---- last lines of {} ({}) ----\n{}", r.id, r.log.display(), r.log_tail(40));
            }
        }
        if std::env::var_os("WGC_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            eprintln!("cluster: keeping {}", self.root.display());
        }
    }
}
