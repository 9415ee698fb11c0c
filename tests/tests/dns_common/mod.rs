//! Shared by the `dns_*` tests: an in-process one-voter cluster on a temporary redb file (the
//! same Raft write path as the daemon), commands to build a state with nodes, a config and an
//! endpoint group, and a minimal `wgclusterd run` helper for daemon-level tests.
//!
//! Must not: listen anywhere but 127.0.0.1, or leave processes behind (children are killed by PID
//! on drop).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wgcluster_actors::dns::{BackoffPolicy, DnsSyncConfig, ProviderOptions};
use wgcluster_actors::model::*;
use wgcluster_actors::raft::{ClusterHandle, NoTransport, RaftTiming};
use wgcluster_actors::state::*;

pub const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
pub const TOKEN: &str = "cf-test-token-Zq9";
pub const NAME: &str = "vpn.example.test";

pub fn now_ms() -> Millis {
    wgcluster_actors::dns::now_ms()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("wgc-dnstest-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Fast timings for tests.
pub fn fast_config() -> DnsSyncConfig {
    DnsSyncConfig {
        coalesce: Duration::from_millis(50),
        backoff: BackoffPolicy { base: Duration::from_millis(200), max: Duration::from_secs(1), max_attempts: 30 },
        resync_every: Duration::from_secs(600),
        write_timeout: Duration::from_secs(5),
        providers: ProviderOptions { timeout: Duration::from_secs(2), cloudflare_rate: 100.0, cloudflare_burst: 100.0, cloudflare_batch: true },
    }
}

pub struct TestCluster {
    pub cluster: ClusterHandle,
    pub db: Arc<redb::Database>,
    pub dir: PathBuf,
}

impl TestCluster {
    pub async fn start(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let db = Arc::new(wgcluster_actors::store::open(&dir.join("wgcluster.redb")).expect("open store"));
        let timing = RaftTiming { heartbeat_ms: 50, election_timeout_ms: 200, ..Default::default() };
        let node = NodeId::parse("node_id", "node1").expect("node id");
        let cluster = ClusterHandle::start(db.clone(), node, Arc::new(NoTransport), &timing).await.expect("start raft");
        cluster.initialize_single("127.0.0.1:1").await.expect("initialise");
        assert!(cluster.wait_for_leader(Duration::from_secs(10)).await.is_some(), "no leader");
        let me = Self { cluster, db, dir };
        me.wait(Duration::from_secs(10), || me.cluster.is_leader()).await;
        me
    }

    pub async fn cmd(&self, cmd: Command) -> Outcome {
        let req = Request { at: now_ms(), user: "test".into(), cmd: cmd.clone() };
        match self.cluster.write(req).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => panic!("{cmd:?} refused: {e}"),
            Err(e) => panic!("{cmd:?} not written: {e}"),
        }
    }

    /// Polls `f` every 20 ms until true; panics after `timeout`.
    pub async fn wait(&self, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn status(&self, config: &str) -> DnsStatus {
        self.cluster.read(|s| {
            s.endpoint_groups.iter().find(|(c, _)| c.as_str() == config).map(|(_, g)| g.dns_status.clone()).unwrap_or_default()
        })
    }

    pub fn audit(&self, action: &str) -> Vec<AuditEntry> {
        self.cluster.read(|s| s.audit.iter().filter(|a| a.action == action).cloned().collect())
    }

    pub fn all_audit_text(&self) -> String {
        self.cluster.read(|s| s.audit.iter().map(|a| format!("{} {}\n", a.action, a.details)).collect())
    }

    /// Nodes node1..nodeN with `endpoints`, config `wg0` assigned to all of them.
    pub async fn nodes_and_config(&self, endpoints: &[&str]) {
        for (i, e) in endpoints.iter().enumerate() {
            let id = NodeId::parse("id", &format!("node{}", i + 1)).expect("id");
            let spec = NodeSpec { id, name: None, endpoint: Some(e.to_string()), cluster_addr: None };
            if i == 0 {
                self.cmd(Command::RegisterNode { node: spec }).await;
            } else {
                self.cmd(Command::CreateNode { node: spec, weight: 1 }).await;
            }
        }
        let (private_key, _) = generate_keypair();
        let config = NewConfig {
            name: cfg("wg0"),
            private_key,
            addresses: vec!["10.77.0.1/24".parse().expect("net")],
            listen_port: 51820,
            mtu: None,
            dns: vec![],
            peer_allowed_ips: vec!["0.0.0.0/0".parse().expect("net")],
            peer_keepalive: None,
        };
        self.cmd(Command::CreateConfig { config }).await;
        for i in 1..=endpoints.len() {
            self.cmd(Command::AssignNode { config: cfg("wg0"), node_id: node(&format!("node{i}")) }).await;
        }
    }

    pub async fn cloudflare_settings(&self, base: &str, token: &str) {
        let cloudflare = Some(CloudflareSettings { api_token: token.into(), api_base: base.into() });
        self.cmd(Command::SetDnsSettings { cloudflare, rfc2136: None }).await;
    }

    pub async fn group(&self, provider: DnsProviderKind, min_nodes: u32, publish_only_healthy: bool) {
        let group = EndpointGroupSpec {
            config: cfg("wg0"),
            domain: NAME.into(),
            port: 51820,
            provider,
            cloudflare_zone_id: Some(ZONE_ID.into()),
            cloudflare_record_name: None,
            ttl: 60,
            auto_migrate: true,
            publish_only_healthy,
            min_nodes,
        };
        self.cmd(Command::SetEndpointGroup { group }).await;
    }

    pub async fn health(&self, n: &str, healthy: bool) {
        self.cmd(Command::SetNodeHealth { node_id: node(n), config: None, healthy, reason: "test".into() }).await;
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn cfg(s: &str) -> ConfigName {
    ConfigName::parse("config", s).expect("config name")
}

pub fn node(s: &str) -> NodeId {
    NodeId::parse("node_id", s).expect("node id")
}

pub fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Daemon-level helper: a real `wgclusterd run` on free 127.0.0.1 ports in a temp dir.

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The `wgclusterd` binary next to this test's target dir; built with cargo when missing.
pub fn daemon_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/wgclusterd
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    let bin = profile_dir.join("wgclusterd");
    if !bin.is_file() {
        let target = profile_dir.parent().expect("target root");
        let status = Proc::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "wgclusterd"])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p wgclusterd");
        assert!(status.success(), "cargo build -p wgclusterd failed");
    }
    assert!(bin.is_file(), "no wgclusterd binary at {}", bin.display());
    bin
}

pub struct Daemon {
    pub dir: PathBuf,
    pub api: String,
    pub config_path: PathBuf,
    pub token: String,
    child: Option<Child>,
}

impl Daemon {
    /// Writes a UCI config (endpoint `endpoint`) and starts the daemon; waits until it answers.
    pub fn start(tag: &str, endpoint: &str) -> Self {
        let dir = temp_dir(tag);
        let api = format!("127.0.0.1:{}", free_port());
        let cluster = format!("127.0.0.1:{}", free_port());
        let conf = format!(
            "config daemon 'main'\n\toption node_id 'node1'\n\toption data_dir '{d}/data'\n\toption api_listen '{api}'\n\
             \toption cluster_listen '{cluster}'\n\toption control_socket '{d}/wgcluster.sock'\n\toption endpoint '{endpoint}'\n\
             \toption wg_backend 'userspace'\n\toption wg_userspace_bin '/bin/false'\n\toption uapi_dir '{d}/wireguard'\n\
             \toption auto_init '1'\n\toption log_level 'info'\n",
            d = dir.display()
        );
        let config_path = dir.join("wgcluster");
        std::fs::write(&config_path, conf).expect("write config");
        let mut d = Self { dir, api, config_path, token: String::new(), child: None };
        d.spawn();
        d.token = std::fs::read_to_string(d.dir.join("data/admin.token")).expect("admin token").trim().to_string();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("daemon.log")).expect("log file");
        let log2 = log.try_clone().expect("dup log");
        let child = Proc::new(daemon_binary())
            .args(["run", "--config"])
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn wgclusterd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut r) = ureq::get(&format!("http://{}/api/health", self.api)).call() {
                let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                if v["data"]["leader"].is_string() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "wgclusterd did not come up; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait for the exit, start again on the same data dir.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the PID of a child we still own (not yet waited for).
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("wgclusterd did not stop within 15 s of SIGTERM; log:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// (HTTP status, JSON body).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(20))).build().into();
        let url = format!("http://{}{}", self.api, path);
        let auth = format!("Bearer {}", self.token);
        let resp = match method {
            "GET" => agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => agent.delete(&url).header("Authorization", &auth).call(),
            "POST" => agent.post(&url).header("Authorization", &auth).send_json(body.unwrap_or(json!({}))),
            "PUT" => agent.put(&url).header("Authorization", &auth).send_json(body.unwrap_or(json!({}))),
            "PATCH" => agent.patch(&url).header("Authorization", &auth).send_json(body.unwrap_or(json!({}))),
            m => panic!("method {m}"),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// Like `call`, panicking unless the answer is 2xx; returns `data`.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body);
        assert!((200..300).contains(&s), "{method} {path} -> {s} {v}");
        v["data"].clone()
    }

    /// Polls `f` until true; panics with the daemon log after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}; daemon log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
        start.elapsed()
    }

    /// Creates config wg0, pre-registers `others` (id, endpoint, cluster_addr) and assigns all.
    pub fn config_with_nodes(&self, others: &[(&str, &str, Option<&str>)]) {
        for (id, endpoint, cluster_addr) in others {
            let mut b = json!({ "id": id, "endpoint": endpoint });
            if let Some(c) = cluster_addr {
                b["cluster_addr"] = json!(c);
            }
            self.ok("POST", "/api/nodes", Some(b));
        }
        self.ok("POST", "/api/configs", Some(json!({ "name": "wg0", "address": "10.77.0.1/24", "listen_port": 51820 })));
        self.ok("POST", "/api/configs/wg0/nodes", Some(json!({ "node_id": "node1" })));
        for (id, _, _) in others {
            self.ok("POST", "/api/configs/wg0/nodes", Some(json!({ "node_id": id })));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var("WGC_KEEP_TEST_DIRS").is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A tiny `/v1/health` responder standing in for another router, stoppable (then it is dead).
pub struct FakeRouter {
    pub addr: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRouter {
    pub fn start() -> Self {
        use std::io::{Read, Write};
        let l = TcpListener::bind("127.0.0.1:0").expect("bind fake router");
        let addr = l.local_addr().expect("addr").to_string();
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf);
                        let body = r#"{"status":true,"message":"ok","data":{"node_id":"fake","state_version":0,"applied_index":0}}"#;
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { addr, stop, thread: Some(thread) }
    }

    /// Stops answering: the health monitor will see misses (connection refused).
    pub fn kill(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeRouter {
    fn drop(&mut self) {
        self.kill();
    }
}
