//! `wgclusterd run`: opens the store, starts Raft (a one-voter cluster on the same write path as a
//! cluster), bootstraps a freshly initialised cluster, registers this router, starts the actors and
//! the HTTP listeners (TCP API and the 0600 control socket), and handles signals: SIGHUP reloads
//! the config (log level; listener changes need a restart and say so), SIGTERM/SIGINT stop cleanly.

use crate::config::{self, DaemonConfig};
use crate::http::{self, AppState, LocalConn};
use crate::init::{self, PENDING_BOOTSTRAP};
use actix::Actor;
use actix_web::{web, App, HttpServer};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgcluster_actors::assign::{AssignmentActor, BackupSource, BoxFuture};
use wgcluster_actors::audit::AuditLog;
use wgcluster_actors::health::HealthMonitor;
use wgcluster_actors::model::{ApiToken, ConfigName, NodeId};
use wgcluster_actors::raft::{ClusterHandle, NoTransport, RaftTiming};
use wgcluster_actors::state::{Command, NodeSpec, Request};
use wgcluster_actors::store::{self, META};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Init(#[from] init::InitError),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Start(String),
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen { what: &'static str, addr: String, source: std::io::Error },
}

/// Until the data-plane work lands, a node's actual interface cannot be read: the backup is
/// skipped and the audit entry says so.
struct NoDataPlane;

impl BackupSource for NoDataPlane {
    fn fetch(&self, node: &NodeId, iface: &ConfigName) -> BoxFuture<Result<Option<String>, String>> {
        let why = format!("no WireGuard data plane on this build to read {iface} from node {node}");
        Box::pin(async move { Err(why) })
    }
}

fn take_pending_bootstrap(db: &redb::Database) -> Result<Option<[u8; 32]>, store::StoreError> {
    let txn = db.begin_read()?;
    let t = txn.open_table(META)?;
    let v = t.get(PENDING_BOOTSTRAP)?;
    Ok(v.and_then(|v| v.value().try_into().ok()))
}

fn clear_pending_bootstrap(db: &redb::Database) -> Result<(), store::StoreError> {
    let txn = db.begin_write()?;
    txn.open_table(META)?.remove(PENDING_BOOTSTRAP)?;
    txn.commit()?;
    Ok(())
}

pub fn run(config_path: &Path, cfg: DaemonConfig) -> Result<(), RunError> {
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
    let system = actix_web::rt::System::new();
    system.block_on(serve(config_path.to_path_buf(), cfg))
}

async fn serve(config_path: std::path::PathBuf, cfg: DaemonConfig) -> Result<(), RunError> {
    let started = Instant::now();
    let db = Arc::new(store::open(&init::db_path(&cfg))?);
    let pending = take_pending_bootstrap(&db)?;
    let node_id = NodeId::parse("node_id", &cfg.node_id).map_err(|e| RunError::Config(e.to_string()))?;
    let timing = RaftTiming { heartbeat_ms: cfg.heartbeat_ms, election_timeout_ms: cfg.election_timeout_ms, ..Default::default() };
    let cluster = ClusterHandle::start(db.clone(), node_id.clone(), Arc::new(NoTransport), &timing)
        .await
        .map_err(|e| RunError::Start(e.to_string()))?;
    let cluster_addr = cfg.cluster_listen.to_string();
    if cluster.initialize_single(&cluster_addr).await.map_err(|e| RunError::Start(e.to_string()))? {
        log::info!("raft initialised as a one-voter cluster");
    }
    if cluster.wait_for_leader(Duration::from_secs(30)).await.is_none() {
        log::warn!("no panel (leader) elected yet; writes will fail until one is");
    }
    let now = http::now_ms();
    let spec = NodeSpec { id: node_id.clone(), name: None, endpoint: cfg.endpoint.clone(), cluster_addr: Some(cluster_addr) };
    if let Some(hash) = pending {
        if cluster.read(|s| s.tokens.is_empty()) {
            let token = ApiToken { name: "admin".into(), sha256: hash, created_at: now };
            let req = Request { at: now, user: "system".into(), cmd: Command::Bootstrap { token, node: spec.clone(), ca: None, serial: 0 } };
            match cluster.write(req).await {
                Ok(Ok(_)) => log::info!("cluster bootstrapped with this router as its first node"),
                Ok(Err(e)) => log::warn!("bootstrap refused: {e}"),
                Err(e) => return Err(RunError::Start(format!("bootstrap: {e}"))),
            }
        }
        clear_pending_bootstrap(&db)?;
    }
    if cluster.is_leader() {
        let req = Request { at: now, user: "system".into(), cmd: Command::RegisterNode { node: spec } };
        if let Err(e) = cluster.write(req).await {
            log::warn!("could not register this router: {e}");
        }
    }

    let assign = AssignmentActor::new(cluster.clone(), Arc::new(NoDataPlane), http::WRITE_TIMEOUT).start();
    let audit = AuditLog::new(cluster.clone()).start();
    // dns: DNS sync (runs while this router is the panel) and its persistent retry queue.
    let dns = wgcluster_actors::dns::start(cluster.clone(), db.clone(), Default::default())
        .map_err(|e| RunError::Start(format!("dns sync: {e}")))?;
    let dns_data = web::Data::new(dns); // dns:
    let probe = Arc::new(crate::probe::HttpProbe { timeout: Duration::from_millis(1500) });
    let _health = HealthMonitor::new(cluster.clone(), probe, http::now_ms).start();
    let state = Arc::new(AppState { cluster: cluster.clone(), assign, audit, started, node_id: cfg.node_id.clone() });

    let sock = cfg.control_socket.clone();
    if let Some(dir) = sock.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&sock);
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(dns_data.clone()) // dns:
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .workers(1)
    .disable_signals()
    .on_connect(|conn, ext| {
        if conn.downcast_ref::<actix_web::rt::net::UnixStream>().is_some() {
            ext.insert(LocalConn);
        }
    })
    .bind(cfg.api_listen)
    .map_err(|source| RunError::Listen { what: "api_listen", addr: cfg.api_listen.to_string(), source })?
    .listen_uds(
        std::os::unix::net::UnixListener::bind(&sock)
            .map_err(|source| RunError::Listen { what: "control_socket", addr: sock.display().to_string(), source })?,
    )
    .map_err(|source| RunError::Listen { what: "control_socket", addr: sock.display().to_string(), source })?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|source| RunError::Listen { what: "control_socket", addr: sock.display().to_string(), source })?;
    let server = server.run();
    let handle = server.handle();
    log::info!("wgclusterd {} node '{}' listening on {} and {}", env!("CARGO_PKG_VERSION"), cfg.node_id, cfg.api_listen, sock.display());

    let signals = actix_web::rt::spawn(signals(config_path, cfg.clone(), handle));
    let res = server.await;
    signals.abort();
    cluster.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    log::info!("stopped");
    res.map_err(|source| RunError::Listen { what: "api_listen", addr: cfg.api_listen.to_string(), source })
}

async fn signals(config_path: std::path::PathBuf, cfg: DaemonConfig, server: actix_web::dev::ServerHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        log::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&config_path, &cfg),
        }
    }
    log::info!("stopping");
    server.stop(true).await;
}

fn reload(path: &Path, running: &DaemonConfig) {
    match config::load(path) {
        Err(e) => log::error!("reload: keeping the running config: {e}"),
        Ok(new) => {
            for w in &new.warnings {
                log::warn!("{w}");
            }
            crate::logging::set_level(new.log_level);
            let restart_needed = new.api_listen != running.api_listen
                || new.cluster_listen != running.cluster_listen
                || new.control_socket != running.control_socket
                || new.data_dir != running.data_dir
                || new.node_id != running.node_id;
            log::info!("reloaded {} (log level {})", path.display(), new.log_level);
            if restart_needed {
                log::warn!("listener, data_dir or node_id changes take effect after a restart");
            }
        }
    }
}
