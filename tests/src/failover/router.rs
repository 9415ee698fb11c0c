//! Routers (part of [the failover lab](super)).

use super::*;

/// The lab's Raft timing (heartbeat 100 ms, election timeout 600 ms): quick fail-overs.
pub const FAST_TIMING: (u64, u64) = (100, 600);
/// The daemon's defaults.
pub const DEFAULT_TIMING: (u64, u64) = (300, 1500);

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
    /// Raft timing written into the UCI file: (heartbeat_ms, election_timeout_ms).
    pub timing: (u64, u64),
    child: Option<Child>,
    /// keepalived, when started (#16): reaped after `kill_all`.
    keepalived: Option<Child>,
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
            timing: FAST_TIMING,
            child: None,
            keepalived: None,
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
        crate::util::DaemonUci::new()
            .opt("node_id", &self.node_id)
            .opt("data_dir", self.data_dir.display())
            .opt("api_listen", format!("{a}:{API_PORT}"))
            .opt("cluster_listen", format!("{a}:{CLUSTER_PORT}"))
            .opt("control_socket", self.host.dir().join("ctl.sock").display())
            .opt("endpoint", a)
            .opt("wg_backend", "userspace")
            .opt("uapi_dir", self.host.uapi_dir().display())
            .opt("auto_init", u8::from(auto_init))
            .opt("heartbeat_ms", self.timing.0)
            .opt("election_timeout_ms", self.timing.1)
            .opt("resync_interval_s", 5)
            .opt("log_level", "info")
            // Floating addresses (#16): keepalived's files are this router's own.
            .opt("keepalived_pidfile", self.keepalived_pidfile().display())
            .opt("vrrp_interface", "eth0")
            .write(&self.config_path);
    }

    /// The keepalived configuration the daemon writes (the default, `<data_dir>/keepalived.conf`).
    pub fn keepalived_conf(&self) -> PathBuf {
        self.data_dir.join("keepalived.conf")
    }

    /// keepalived's pidfile (UCI `keepalived_pidfile`).
    pub fn keepalived_pidfile(&self) -> PathBuf {
        self.host.dir().join("keepalived.pid")
    }

    /// Starts keepalived (VRRP only, in the foreground) in the router's namespace with the
    /// configuration the daemon wrote; its log goes to `keepalived.log` in the router's directory.
    /// It dies with the router ([`Router::kill_all`]) and with the lab.
    pub fn start_keepalived(&mut self) {
        self.start_keepalived_with(&self.keepalived_conf());
    }

    /// [`Router::start_keepalived`] with another configuration file.
    pub fn start_keepalived_with(&mut self, conf: &Path) {
        let dir = self.host.dir();
        let script = "exec keepalived -n -l -D -P -f \"$1\" -p \"$2\" -r \"$3\" >>\"$4\" 2>&1";
        let child = self.host.spawn(
            "sh",
            &[
                "-c",
                script,
                "sh",
                &conf.to_string_lossy(),
                &self.keepalived_pidfile().to_string_lossy(),
                &dir.join("keepalived-vrrp.pid").to_string_lossy(),
                &dir.join("keepalived.log").to_string_lossy(),
            ],
        );
        self.keepalived = Some(child);
    }

    /// Whether `addr` is on this router's `eth0` (keepalived added it: this router is master).
    pub fn holds(&self, addr: Ipv4Addr) -> bool {
        let out = self.host.exec("ip", &["-o", "-4", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet {addr}/"))
    }

    /// Starts `wgclusterd run` in the router's namespace (stdout and stderr appended to its log).
    pub fn start(&mut self) {
        let child = crate::daemon::spawn_in_host(&self.host, self.witness, &self.config_path, &self.log_path);
        self.child = Some(child);
        self.alive = true;
    }

    /// Stops the daemon alone (SIGTERM, as a service restart; its data plane keeps running and
    /// keepalived is left alone) and starts it again, until it is ready.
    pub fn restart_daemon(&mut self, ns: &str, timeout: Duration) {
        if let Some(mut child) = self.child.take() {
            self.host.stop(&mut child);
        }
        self.start();
        self.wait_ready(ns, timeout);
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

    /// The daemon's PID while it runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// PIDs of every process in this router's namespace.
    pub fn pids(&self) -> Vec<libc::pid_t> {
        lab::ns_pids(&self.host.ns)
    }

    /// The router loses power: SIGKILL to every process in its namespace (by PID), then waits
    /// until none is left. Returns how many were killed.
    pub fn kill_all(&mut self) -> usize {
        let mut killed = BTreeSet::new();
        // Everything in the namespace is frozen first (SIGSTOP), so nothing gets to react to the
        // others' deaths (e.g. a keepalived child seeing its parent die and sending a farewell
        // advert), which a power cut never allows (#16).
        for pid in self.pids() {
            // SAFETY: kill(2) on a process listed as living in this lab router's namespace.
            unsafe {
                libc::kill(pid, libc::SIGSTOP);
            }
        }
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
        if let Some(mut c) = self.keepalived.take() {
            let _ = c.wait();
        }
        self.alive = false;
        killed.len()
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        crate::util::tail(&self.log_path, n)
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
        Self::start_with_timing(lab, operator, specs, FAST_TIMING)
    }

    /// `start` with the routers' Raft timing (heartbeat_ms, election_timeout_ms).
    pub fn start_with_timing(lab: &Lab, operator: &Host, specs: &[(&str, bool)], timing: (u64, u64)) -> LabCluster {
        assert!(!specs.is_empty());
        let mut routers: Vec<Router> = specs.iter().map(|(name, witness)| Router::new(lab.add_host(name), *witness)).collect();
        routers.iter_mut().for_each(|r| r.timing = timing);
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
