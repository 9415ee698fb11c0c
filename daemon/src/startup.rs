//! `wgclusterd run`: opens the store, starts Raft (a one-voter cluster on the same write path as a
//! cluster), bootstraps a freshly initialised cluster, registers this router, starts the actors and
//! the HTTP listeners (TCP API and the 0600 control socket), and handles signals: SIGHUP reloads
//! the config (`reload` decides what applies live and what needs a restart, named in the log),
//! SIGTERM/SIGINT stop cleanly.

use crate::cluster::forward::ForwardingProposer;
use crate::cluster::transport::HttpsTransport;
use crate::cluster::Identity;
use crate::config::{self, DaemonConfig};
use crate::http::server::{Limits, Listeners, Router, Server, Services};
use crate::http::{self, AppState};
use crate::init;
use actix::Actor;
use futures_util::future::BoxFuture;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgcluster_actors::assign::{BackupSource, NodeRemoval};
use wgcluster_actors::health::HealthMonitor;
use wgcluster_actors::model::ClusterCa;
use wgcluster_actors::model::{ApiToken, ConfigName, NodeId};
use wgcluster_actors::raft::Proposer;
use wgcluster_actors::raft::{ClusterHandle, RaftTiming};
use wgcluster_actors::state::{Command, NodeSpec, Request};
use wgcluster_actors::store::{self, Store};
use wgcluster_actors::tls::store::TlsFiles;
use wgcluster_actors::tls::{server_config, IsAllowed};
use wgcluster_actors::wg::reconciler::{self, ReconcilerHandle};
use wgcluster_actors::wg::{BackendRequest, BackendSettings, SwitchRequest, WgBackend};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Init(#[from] init::InitError),
    #[error("{0}")]
    DataDir(#[from] crate::datadir::DataDirError),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Start(String),
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen { what: &'static str, addr: String, source: std::io::Error },
}

/// Backups for the node-removal workflow: the node's actual interface from its agent route
/// (`GET /v1/wg/{iface}/config` over the cluster's mutual TLS), or read locally for this router.
struct AgentBackups {
    cluster: ClusterHandle,
    client: wgcluster_actors::tls::ClusterClient,
    local: Option<ReconcilerHandle>,
}

impl BackupSource for AgentBackups {
    fn fetch(&self, node: &NodeId, iface: &ConfigName) -> BoxFuture<'static, Result<Option<String>, String>> {
        let (node, iface) = (node.clone(), iface.clone());
        if node == self.cluster.node_id {
            let local = self.local.clone();
            return Box::pin(async move {
                let wg = local.ok_or("this router runs no WireGuard")?;
                let name = iface.to_string();
                let read = tokio::task::spawn_blocking(move || wg.backend.read(&name)).await.map_err(|e| e.to_string())?;
                Ok(read.map_err(|e| e.to_string())?.map(|a| http::interface_json(&a, false).to_string()))
            });
        }
        let addr = self.cluster.read(|s| s.nodes.get(&node).and_then(|n| n.cluster_addr.clone()));
        let client = self.client.clone();
        Box::pin(async move {
            let addr = addr.ok_or_else(|| format!("node '{node}' has no cluster address"))?;
            let path = format!("/v1/wg/{iface}/config");
            match client.request(node.as_str(), &addr, "GET", &path, Vec::new(), None, Duration::from_secs(5)).await {
                Ok((200, body)) => {
                    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    Ok(Some(v["data"].to_string()))
                }
                Ok((404, _)) => Ok(None),
                Ok((status, _)) => Err(format!("node '{node}' answered {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// `wg_backend` as the data plane's selection reads it.
fn backend_request(cfg: &DaemonConfig) -> BackendRequest {
    use crate::config::WgBackendKind;
    match cfg.wg_backend {
        WgBackendKind::Auto => BackendRequest::Auto,
        WgBackendKind::Kernel => BackendRequest::Kernel,
        WgBackendKind::Userspace => BackendRequest::Userspace,
    }
}

/// `wg_userspace_bin` and `uapi_dir` as the backends read them.
fn backend_settings(cfg: &DaemonConfig) -> BackendSettings {
    BackendSettings { userspace_bin: cfg.wg_userspace_bin.clone().into(), uapi_dir: cfg.uapi_dir.clone(), netns: None }
}

/// Picks and builds the WireGuard backend (`wg_backend`), logging which and why.
fn data_plane(cfg: &DaemonConfig) -> Arc<dyn WgBackend> {
    use wgcluster_actors::wg::{build_backend, probe_kernel_support, select_backend};
    let (choice, why) = select_backend(backend_request(cfg), || probe_kernel_support(None));
    log::info!("WireGuard backend: {choice:?} ({why})");
    Arc::from(build_backend(choice, &backend_settings(cfg)))
}

pub fn run(config_path: &Path, cfg: DaemonConfig, witness: bool) -> Result<(), RunError> {
    crate::logging::configure(cfg.log_level, cfg.log_target, &cfg.syslog_socket);
    if !init::is_initialised(&cfg)? {
        if cfg.auto_init {
            let token = init::init(&cfg)?;
            log::info!("initialised a new one-router cluster in {} (admin token in {})", cfg.data_dir.display(), token.display());
        } else {
            return Err(RunError::Config(format!(
                "{} is not initialised: run `wgclusterd init --config {}` or set option auto_init '1'",
                cfg.data_dir.display(),
                config_path.display()
            )));
        }
    }
    // Before Raft touches anything: file modes (warn and fix), then this data dir's identity.
    crate::datadir::check(config_path, &cfg)?;
    // Threads (#12, budget 4): this one (actors, Raft and the HTTP server, `http/server`), the
    // reconciler. A blocking call (DNS provider set-up, name resolution, an interface read)
    // borrows at most one more, which leaves within a second; tokio's default would allow 512.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .thread_keep_alive(Duration::from_secs(1))
        .build()
        .map_err(|e| RunError::Start(format!("cannot start the async runtime: {e}")))?;
    let system = actix_rt::System::with_tokio_rt(move || rt);
    system.block_on(serve(config_path.to_path_buf(), cfg, witness))
}

/// The cluster half of start-up: the store, Raft, and the bootstrap of a freshly initialised
/// cluster (its first write: the admin token, this router, the CA).
pub struct Opened {
    pub db: Arc<Store>,
    pub cluster: ClusterHandle,
    pub identity: Identity,
    pub cluster_addr: String,
    spec: NodeSpec,
    join_peer: Option<String>,
}

pub async fn open_cluster(cfg: &DaemonConfig, witness: bool) -> Result<Opened, RunError> {
    let db = Arc::new(Store::open(&cfg.data_dir)?);
    let store::NodeMeta { pending_bootstrap: pending, join_peer, .. } = db.node()?;
    let node_id = NodeId::parse("node_id", &cfg.node_id).map_err(|e| RunError::Config(e.to_string()))?;
    let identity = crate::cluster::Identity::load(&cfg.data_dir).map_err(|e| RunError::Start(e.to_string()))?;
    let timing = RaftTiming {
        heartbeat_ms: cfg.heartbeat_ms,
        election_timeout_ms: cfg.election_timeout_ms,
        snapshot_logs: cfg.snapshot_logs,
        keep_logs: (cfg.snapshot_logs / 5).max(10),
    };
    let transport = Arc::new(HttpsTransport { client: identity.client.clone() });
    let cluster =
        ClusterHandle::start(db.clone(), node_id.clone(), transport, &timing).await.map_err(|e| RunError::Start(e.to_string()))?;
    let cluster_addr = crate::cluster::advertised_addr(cfg.cluster_listen, cfg.endpoint.as_ref());
    // Only the founding router initialises Raft; a joined router waits to be added by the panel.
    if pending.is_some() && cluster.initialize_single(&cluster_addr).await.map_err(|e| RunError::Start(e.to_string()))? {
        log::info!("raft initialised as a one-voter cluster");
    }
    let spec = NodeSpec {
        id: node_id.clone(),
        name: None,
        endpoint: cfg.endpoint.as_ref().map(ToString::to_string),
        cluster_addr: Some(cluster_addr.clone()),
        witness,
    };
    if let Some(hash) = pending {
        if cluster.wait_for_leader(Duration::from_secs(30)).await.is_none() {
            return Err(RunError::Start("the new one-router cluster elected no leader within 30 s".into()));
        }
        if cluster.read(|s| s.tokens.is_empty()) {
            let now = http::now_ms();
            let token = ApiToken { name: "admin".into(), sha256: hash, created_at: now };
            let ca = TlsFiles::new(&cfg.data_dir).load_ca().map_err(|e| RunError::Start(e.to_string()))?.map(|ca| ClusterCa {
                cert_pem: ca.cert_pem().to_string(),
                key_pem: ca.key_pem().expose().to_string(),
                fingerprint: ca.fingerprint(),
            });
            let cmd = Command::Bootstrap { token, node: spec.clone(), ca, serial: 1 };
            match cluster.write(Request { at: now, user: "system".into(), cmd, idempotency: None }).await {
                Ok(Ok(_)) => log::info!("cluster bootstrapped with this router as its first node"),
                Ok(Err(e)) => log::warn!("bootstrap refused: {e}"),
                Err(e) => return Err(RunError::Start(format!("bootstrap: {e}"))),
            }
        }
        db.update_node(|m| m.pending_bootstrap = None)?;
    }
    catch_up_alone(&cluster).await;
    Ok(Opened { db, cluster, identity, cluster_addr, spec, join_peer })
}

/// The longest a one-voter router waits, at start, to apply its whole log before serving.
const CATCH_UP: Duration = Duration::from_secs(10);

/// After a restart, the entries past the committed index last saved are committed again once a
/// leader is known, and applied then: until that happens the state lags what clients were
/// already told (a peer whose creation was acknowledged would be missing from the first list).
/// A one-voter router commits its whole log as soon as it leads, so it serves only once it has
/// applied it (bounded by [`CATCH_UP`]). A router with other voters cannot wait here: the leader
/// that commits for it reaches it through the listeners this function runs before.
async fn catch_up_alone(cluster: &ClusterHandle) {
    let (Some(last), true) = cluster.last_log() else { return };
    if cluster.applied_index() >= last {
        return;
    }
    let t = Instant::now();
    let caught_up = cluster.wait_for_leader(CATCH_UP).await.is_some() && cluster.wait_applied(last, CATCH_UP).await;
    if caught_up {
        log::info!("applied the log's tail (up to index {last}) in {:?} before serving", t.elapsed());
    } else {
        log::warn!("the log's tail (up to index {last}) is not applied after {:?}; serving anyway", t.elapsed());
    }
}

/// The actors of this router and the state every handler reaches.
pub struct Started {
    pub state: Arc<AppState>,
    pub dns: wgcluster_actors::dns::DnsHandle,
    pub wg: Option<ReconcilerHandle>,
}

/// `witness`: run no WireGuard data plane (a witness router; also the in-process API tests).
pub fn start_actors(cfg: &DaemonConfig, opened: Opened, witness: bool, started: Instant) -> Result<Started, RunError> {
    let Opened { db, cluster, identity, cluster_addr, spec, join_peer } = opened;
    let proposer: Arc<dyn Proposer> = Arc::new(ForwardingProposer { cluster: cluster.clone(), client: Some(identity.client.clone()) });
    // Announce this router's current endpoint and address once a panel is known (forwarded when
    // this router is a follower), and, for a router that joined, ask to be added to Raft first.
    actix_rt::spawn(announce(cluster.clone(), proposer.clone(), identity.clone(), join_peer, spec));
    if witness {
        log::info!("witness: this router votes in the cluster but runs no WireGuard");
    }

    let wg = if witness {
        None
    } else {
        let backend = data_plane(cfg);
        let managed = cfg.data_dir.join("managed-interfaces");
        Some(reconciler::start(cluster.clone(), backend, managed, Duration::from_secs(cfg.resync_interval_s)))
    };
    let backups = Arc::new(AgentBackups { cluster: cluster.clone(), client: identity.client.clone(), local: wg.clone() });
    let removal = Arc::new(NodeRemoval::new(cluster.clone(), backups, proposer.clone()));
    // dns: DNS sync (runs while this router is the panel) and its persistent retry queue.
    let dns = wgcluster_actors::dns::start(cluster.clone(), db.clone(), Default::default())
        .map_err(|e| RunError::Start(format!("dns sync: {e}")))?;
    let probe = Arc::new(crate::probe::TlsProbe { client: identity.client.clone() });
    let applied: wgcluster_actors::migration::SharedApplied = Default::default();
    let _health = HealthMonitor::new(cluster.clone(), probe.clone(), applied.clone(), http::now_ms).start();
    // usage (#15): the panel collects every router's peer counters once per interval.
    let usage_source = Arc::new(crate::probe::TlsUsage { client: identity.client.clone(), timeout: Duration::from_secs(10) });
    let usage_local: Option<wgcluster_actors::usage::collect::LocalReader> = wg.clone().map(|w| {
        let read: wgcluster_actors::usage::collect::LocalReader = Arc::new(move |configs: Vec<wgcluster_actors::model::ConfigName>| {
            let read = w.with_backend(move |b| wgcluster_actors::usage::collect::read_local(b, &configs));
            Box::pin(async move {
                read.await.unwrap_or_else(|e| {
                    log::debug!("usage: no local readings: {e}");
                    Vec::new()
                })
            })
        });
        read
    });
    let _usage = wgcluster_actors::usage::collect::UsageCollector::new(cluster.clone(), usage_source, usage_local, http::now_ms).start();
    let local_wg = wg.clone();
    let local_applied = Arc::new(move || local_wg.as_ref().map(|w| w.stats.applied_version.load(std::sync::atomic::Ordering::Relaxed)));
    let _planner = wgcluster_actors::migration::MigrationPlanner::new(
        cluster.clone(),
        applied,
        local_applied,
        http::now_ms,
        Duration::from_millis(500),
    )
    .with_watch(probe)
    .start();
    let state = Arc::new(AppState {
        cluster,
        proposer,
        cluster_client: Some(identity.client.clone()),
        cluster_addr,
        removal,
        started,
        wg: wg.clone(),
        node_id: cfg.node_id.clone(),
    });
    Ok(Started { state, dns, wg })
}

/// Floating addresses (#16): keeps keepalived's configuration for this router's addresses
/// current. Its notify hooks call this binary with this UCI file.
fn start_vrrp(cfg: &DaemonConfig, config_path: &std::path::Path, cluster: ClusterHandle) {
    let exe = std::env::current_exe().unwrap_or_else(|_| std::path::PathBuf::from("/usr/sbin/wgclusterd"));
    let uci_config = std::fs::canonicalize(config_path).unwrap_or_else(|_| config_path.to_path_buf());
    let settings = wgcluster_actors::vrrp::KeepalivedSettings {
        conf: cfg.keepalived_conf.clone().unwrap_or_else(|| cfg.data_dir.join("keepalived.conf")),
        pidfile: cfg.keepalived_pidfile.clone(),
        default_interface: cfg.vrrp_interface.clone(),
        notify: wgcluster_actors::vrrp::render::NotifyCommand { exe, uci_config },
    };
    wgcluster_actors::vrrp::start(cluster, settings);
}

/// What every listener serves: the state and every route (`http::routes` and the cluster's);
/// `http::edge` decides per listener which routes exist there.
pub fn services(state: Arc<AppState>, dns: wgcluster_actors::dns::DnsHandle) -> Rc<Services> {
    let router = crate::cluster::server::routes(http::routes(Router::new()));
    Rc::new(Services { app: state, dns: Some(dns), router })
}

/// How long a stop (SIGTERM) waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

async fn serve(config_path: std::path::PathBuf, cfg: DaemonConfig, witness: bool) -> Result<(), RunError> {
    let started = Instant::now();
    let opened = open_cluster(&cfg, witness).await?;
    let (cluster, identity, cluster_addr) = (opened.cluster.clone(), opened.identity.clone(), opened.cluster_addr.clone());
    let Started { state: data, dns: dns_data, wg } = start_actors(&cfg, opened, witness, started)?;
    if !witness {
        start_vrrp(&cfg, &config_path, cluster.clone());
    }
    let proposer = data.proposer.clone();
    let tls = {
        let allowed_cluster = cluster.clone();
        let is_allowed: IsAllowed = Arc::new(move |node: &str, serial: u64| {
            // Deny-list: every certificate from the cluster CA passes unless the replicated state
            // says it was revoked or issued to another router (a fresh joiner's state is empty).
            allowed_cluster.read(|s| !s.cert_refused(node, serial))
        });
        let f = &identity.files;
        let mut tls = server_config(&f.ca_cert_pem, &f.node_cert_pem, f.node_key_pem.expose(), is_allowed)
            .map_err(|e| RunError::Start(format!("cluster TLS: {e}")))?;
        // HTTP/1.1 only (what actix-web's rustls listener offered without HTTP/2).
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls
    };

    let sock = cfg.control_socket.clone();
    if let Some(dir) = sock.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&sock);
    let listen_err = |what: &'static str, addr: String| move |source| RunError::Listen { what, addr, source };
    let api = std::net::TcpListener::bind(cfg.api_listen).map_err(listen_err("api_listen", cfg.api_listen.to_string()))?;
    let cluster_l =
        std::net::TcpListener::bind(cfg.cluster_listen).map_err(listen_err("cluster_listen", cfg.cluster_listen.to_string()))?;
    let control = std::os::unix::net::UnixListener::bind(&sock).map_err(listen_err("control_socket", sock.display().to_string()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(listen_err("control_socket", sock.display().to_string()))?;
    let listeners = Listeners { api: Some(api), cluster: Some((cluster_l, Arc::new(tls))), control: Some(control) };
    let server =
        Server::start(services(data, dns_data), listeners, Limits::default()).map_err(|e| RunError::Start(format!("HTTP server: {e}")))?;
    log::info!(
        "wgclusterd {} node '{}': API {}, cluster {} (advertised {}), control {}",
        env!("CARGO_PKG_VERSION"),
        cfg.node_id,
        cfg.api_listen,
        cfg.cluster_listen,
        cluster_addr,
        sock.display()
    );

    let reloader = Reloader { path: config_path, running: cfg.clone(), cluster: cluster.clone(), proposer, witness, wg: wg.clone() };
    signals(reloader).await;
    server.stop(SHUTDOWN_GRACE).await;
    // dataplane: stop the reconciler and leave the userspace data plane running: it keeps
    // forwarding while the daemon is down, and the next start adopts it (no interface re-created).
    if let Some(w) = wg.clone() {
        let _ = tokio::task::spawn_blocking(move || w.shutdown(Duration::from_secs(5))).await;
    }
    // end dataplane
    cluster.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    log::info!("stopped");
    Ok(())
}

/// Handles SIGHUP (reload) until SIGTERM or SIGINT.
async fn signals(mut reloader: Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        log::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reloader.reload().await,
        }
    }
    log::info!("stopping");
}

/// SIGHUP: re-reads the config file and applies what can change while running (`reload::diff`).
struct Reloader {
    path: std::path::PathBuf,
    /// The config the daemon runs with (restart-only options as started).
    running: DaemonConfig,
    cluster: ClusterHandle,
    proposer: Arc<dyn Proposer>,
    witness: bool,
    /// The WireGuard reconciler (none on a witness), for a live backend switch.
    wg: Option<ReconcilerHandle>,
}

impl Reloader {
    async fn reload(&mut self) {
        let new = match config::load(&self.path) {
            Ok(new) => new,
            Err(e) => {
                // Every problem names FILE:LINE; the daemon keeps running on the old config.
                for line in e.to_string().lines() {
                    log::error!("reload: {line}");
                }
                log::error!("reload: {} not applied; still running on the config read before", self.path.display());
                return;
            }
        };
        for w in &new.warnings {
            log::warn!("{w}");
        }
        let changes = crate::reload::diff(&self.running, &new);
        crate::logging::configure(new.log_level, new.log_target, &new.syslog_socket);
        let mut endpoint_applied = true;
        let wg_applied =
            if changes.iter().any(|c| crate::reload::is_data_plane(c.option)) { self.switch_data_plane(&new).await } else { true };
        for c in &changes {
            if c.option == "endpoint" {
                endpoint_applied = self.advertise(&new).await;
                if !endpoint_applied {
                    continue;
                }
            }
            if crate::reload::is_data_plane(c.option) && !wg_applied {
                log::error!("reload: option {} changed ({} -> {}): not applied; the next reload tries again", c.option, c.old, c.new);
                continue;
            }
            match c.effect {
                crate::reload::Effect::Restart => log::warn!("{}", c.message()),
                _ => log::info!("{}", c.message()),
            }
        }
        self.running = crate::reload::adopt(&self.running, &new, endpoint_applied, wg_applied);
        log::info!("reloaded {} ({} option(s) changed)", self.path.display(), changes.len());
    }

    /// A new `wg_backend`, `uapi_dir` or `wg_userspace_bin`: asks the reconciler to move the
    /// interfaces to the backend the start-up rules now choose (`wg::switch`). Returns whether the
    /// new options are in force; if not, the data plane runs as before and the error says why.
    async fn switch_data_plane(&self, new: &DaemonConfig) -> bool {
        let Some(wg) = self.wg.clone() else {
            return true; // a witness runs no WireGuard
        };
        let req =
            SwitchRequest { request: backend_request(new), from: backend_settings(&self.running), to: backend_settings(new), reply: None };
        let asked = tokio::task::spawn_blocking(move || wg.switch_backend(req, Duration::from_secs(120))).await;
        match asked.map_err(|e| e.to_string()).and_then(|r| r) {
            // The reconciler has logged the outcome; the reload's lines say what it means.
            Ok(outcome) => outcome.applied(),
            Err(e) => {
                log::error!("reload: WireGuard backend switch: {e}");
                false
            }
        }
    }

    /// Writes this router's new endpoint (and the cluster address derived from it) through Raft,
    /// as the start-up announcement does: `GET /api/nodes` and DNS sync follow from the state.
    async fn advertise(&self, new: &DaemonConfig) -> bool {
        let id = self.cluster.node_id.clone();
        let cluster_addr = crate::cluster::advertised_addr(self.running.cluster_listen, new.endpoint.as_ref());
        let endpoint = new.endpoint.as_ref().map(ToString::to_string);
        let spec =
            NodeSpec { id: id.clone(), name: None, endpoint: endpoint.clone(), cluster_addr: Some(cluster_addr), witness: self.witness };
        let mut cmds = vec![Command::RegisterNode { node: spec }];
        if endpoint.is_none() {
            // RegisterNode keeps a known endpoint when given none: clear it explicitly.
            let patch = wgcluster_actors::state::NodePatch { endpoint: Some(None), ..Default::default() };
            cmds.push(Command::UpdateNode { id, patch });
        }
        for cmd in cmds {
            let req = Request { at: http::now_ms(), user: "system".into(), cmd, idempotency: None };
            match tokio::time::timeout(Duration::from_secs(10), self.proposer.propose(req)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    log::error!("reload: option endpoint not applied: {e}; the next reload tries again");
                    return false;
                }
                Err(_) => {
                    log::error!("reload: option endpoint not applied: no answer within 10 s; the next reload tries again");
                    return false;
                }
            }
        }
        true
    }
}

/// For a router that joined: asks the router it joined through (then whoever is panel) to add it
/// to Raft, retrying until it is a member. Then announces this router's node details.
async fn announce(cluster: ClusterHandle, proposer: Arc<dyn Proposer>, identity: Identity, join_peer: Option<String>, spec: NodeSpec) {
    let raft_member = |c: &ClusterHandle| c.members().iter().any(|m| m.id == c.node_id.as_str());
    if let Some(peer) = join_peer.filter(|_| !raft_member(&cluster)) {
        // `peer` is "node_id@host:port" of the router that admitted us.
        let (mut target_id, mut target_addr) = match peer.split_once('@') {
            Some((id, addr)) => (id.to_string(), addr.to_string()),
            None => (String::new(), peer.clone()),
        };
        let body = serde_json::json!({ "node_id": spec.id, "addr": spec.cluster_addr }).to_string();
        let mut delay = Duration::from_millis(200);
        loop {
            let res = identity
                .client
                .request(
                    &target_id,
                    &target_addr,
                    "POST",
                    "/v1/members",
                    body.clone().into_bytes(),
                    Some("application/json"),
                    Duration::from_secs(30),
                )
                .await;
            match res {
                Ok((200, _)) => {
                    log::info!("added to the cluster by {target_id}");
                    break;
                }
                Ok((503, bytes)) => {
                    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    if let (Some(id), Some(addr)) = (v["data"]["leader_id"].as_str(), v["data"]["leader_addr"].as_str()) {
                        target_id = id.to_string();
                        target_addr = addr.to_string();
                        continue;
                    }
                    log::info!("waiting to be added: {}", v["message"].as_str().unwrap_or("no panel yet"));
                }
                Ok((status, bytes)) => log::warn!("adding this router failed ({status}): {}", String::from_utf8_lossy(&bytes)),
                Err(e) => log::info!("waiting to be added: {e}"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    if cluster.wait_for_leader(Duration::from_secs(3600)).await.is_none() {
        return;
    }
    let changed = cluster.read(|s| {
        s.nodes
            .get(&spec.id)
            .map(|n| !n.registered || n.endpoint != spec.endpoint || n.cluster_addr != spec.cluster_addr || n.witness != spec.witness)
            .unwrap_or(true)
    });
    if changed {
        let req = Request { at: http::now_ms(), user: "system".into(), cmd: Command::RegisterNode { node: spec }, idempotency: None };
        if let Err(e) = proposer.propose(req).await {
            log::warn!("could not register this router: {e}");
        }
    }
}
