//! Shared by the `dns_*` tests: an in-process one-voter cluster on a temporary store (the
//! same Raft write path as the daemon), commands to build a state with nodes, a config and an
//! endpoint group, and a thin layer over the shared daemon harness for daemon-level tests.
//!
//! Must not: listen anywhere but 127.0.0.1, or leave processes behind (children are killed by PID
//! on drop).
#![allow(dead_code)]

use std::path::PathBuf;
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
        resync_every: Some(Duration::from_secs(600)),
        write_timeout: Duration::from_secs(5),
        providers: ProviderOptions {
            timeout: Duration::from_secs(2),
            cloudflare_rate: 100.0,
            cloudflare_burst: 100.0,
            cloudflare_batch: true,
        },
    }
}

pub struct TestCluster {
    pub cluster: ClusterHandle,
    pub db: Arc<wgcluster_actors::store::Store>,
    pub dir: PathBuf,
}

impl TestCluster {
    pub async fn start(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let db = Arc::new(wgcluster_actors::store::Store::open(&dir).expect("open store"));
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
        let req = Request { at: now_ms(), user: "test".into(), cmd: cmd.clone(), idempotency: None };
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
        self.cluster
            .read(|s| s.endpoint_groups.iter().find(|(c, _)| c.as_str() == config).map(|(_, g)| g.dns_status.clone()).unwrap_or_default())
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
            let spec = NodeSpec { id, name: None, endpoint: Some(e.to_string()), cluster_addr: None, witness: false };
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
            placement: Default::default(),
        };
        self.cmd(Command::CreateConfig { config }).await;
        for i in 1..=endpoints.len() {
            self.cmd(Command::AssignNode { config: cfg("wg0"), node_id: node(&format!("node{i}")) }).await;
        }
    }

    pub async fn cloudflare_settings(&self, base: &str, token: &str) {
        let cloudflare = Some(CloudflareSettings { api_token: token.into(), api_base: base.into() });
        self.cmd(Command::SetDnsSettings { cloudflare, rfc2136: None, reconcile_interval_s: None }).await;
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
// Daemon-level helper: the shared harness (`wgcluster_tests::daemon`), with the few calls the DNS
// tests make, taking owned JSON bodies and waiting with the daemon's log in the failure message.

#[allow(unused_imports)] // each test binary uses its own subset
pub use wgcluster_tests::util::free_port;

pub struct Daemon {
    pub inner: wgcluster_tests::daemon::Daemon,
}

impl Daemon {
    /// Starts `wgclusterd run` (node1, endpoint `endpoint`) on free ports in a temp dir.
    pub fn start(tag: &str, endpoint: &str) -> Self {
        let opts = wgcluster_tests::daemon::Options::default().tag(tag).endpoint(Some(endpoint));
        Self { inner: wgcluster_tests::daemon::Daemon::start(opts) }
    }

    pub fn api(&self) -> String {
        self.inner.setup.api_addr.to_string()
    }

    /// SIGTERM, wait for the exit, start again on the same data dir.
    pub fn restart(&mut self) {
        self.inner.restart();
    }

    pub fn log(&self) -> String {
        self.inner.log()
    }

    /// (HTTP status, JSON body).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.inner.call(method, path, body.as_ref())
    }

    /// Like `call`, panicking unless the answer is 2xx; returns `data`.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body);
        assert!((200..300).contains(&s), "{method} {path} -> {s} {v}");
        v["data"].clone()
    }

    /// Polls `f` until true; panics with the daemon log after `timeout`. Returns the time taken.
    pub fn wait(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}; daemon log:\n{}", self.inner.log_tail(80));
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
