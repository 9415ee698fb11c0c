//! `WgReconciler` — on every router that carries WireGuard (not on a witness). Makes this router's
//! interfaces equal to the desired state (`desired`), with the minimal difference (`reconcile`:
//! single-peer adds, updates and removals in one UAPI transaction; never a full replace).
//!
//! Owns: the backend, the set of interfaces it manages (persisted one name per line, so an
//! interface of a config that was removed while the daemon was down is still cleaned up, and an
//! interface it never made — someone's own `wg1` — is never touched), and `ReconcileStats`.
//! Runs on one OS thread of its own, because backends block (UAPI sockets, netlink).
//! Receives: `Kick::StateChanged` (after every applied state change), `Kick::Resync` (periodic,
//! heals drift such as a hand-made `wg set … remove` or a restarted wireguard-go), `Kick::Stop`.
//! Publishes: the state version it has applied (`stats.applied_version`), read by `/v1/health`.

use super::backend::{reconcile, WgBackend};
use super::desired::desired_interfaces;
use super::userspace_proc::SuperviseEvent;
use crate::model::NodeId;
use crate::raft::ClusterHandle;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    StateChanged,
    Resync,
    Stop,
}

/// Counters the health route and `/metrics` show.
#[derive(Debug, Default)]
pub struct ReconcileStats {
    pub applied_version: AtomicU64,
    pub passes: AtomicU64,
    /// Operations (peer ops + link changes + interfaces created/removed) over all passes.
    pub ops_total: AtomicU64,
    /// Operations of the most recent pass.
    pub last_pass_ops: AtomicU64,
    pub errors: AtomicU64,
    pub drift_healed: AtomicU64,
}

#[derive(Clone)]
pub struct ReconcilerHandle {
    tx: mpsc::Sender<Kick>,
    pub stats: Arc<ReconcileStats>,
    pub backend: Arc<dyn WgBackend>,
}

impl ReconcilerHandle {
    pub fn kick(&self, k: Kick) {
        let _ = self.tx.send(k);
    }
}

struct Reconciler {
    cluster: ClusterHandle,
    node: NodeId,
    backend: Arc<dyn WgBackend>,
    managed_file: PathBuf,
    managed: BTreeSet<String>,
    stats: Arc<ReconcileStats>,
}

/// Starts the reconciler thread and a task that kicks it on every state change. Call inside the
/// actix/tokio runtime.
pub fn start(cluster: ClusterHandle, backend: Arc<dyn WgBackend>, managed_file: PathBuf, resync: Duration) -> ReconcilerHandle {
    let (tx, rx) = mpsc::channel();
    let stats = Arc::new(ReconcileStats::default());
    let managed: BTreeSet<String> = std::fs::read_to_string(&managed_file)
        .map(|s| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let r = Reconciler {
        node: cluster.node_id.clone(),
        cluster: cluster.clone(),
        backend: backend.clone(),
        managed_file,
        managed,
        stats: stats.clone(),
    };
    let spawned = std::thread::Builder::new().name("wg-reconciler".into()).spawn(move || r.run(rx, resync));
    if let Err(e) = spawned {
        log::error!("cannot start the WireGuard reconciler thread: {e}");
    }
    let mut versions = cluster.versions();
    let kick_tx = tx.clone();
    tokio::spawn(async move {
        while versions.changed().await.is_ok() {
            if kick_tx.send(Kick::StateChanged).is_err() {
                break;
            }
        }
    });
    let _ = tx.send(Kick::StateChanged);
    ReconcilerHandle { tx, stats, backend }
}

impl Reconciler {
    fn run(mut self, rx: mpsc::Receiver<Kick>, resync: Duration) {
        let mut next_resync = Instant::now() + resync;
        loop {
            let wait = Duration::from_secs(1).min(next_resync.saturating_duration_since(Instant::now()));
            let mut kick = match rx.recv_timeout(wait) {
                Ok(Kick::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(k) => Some(k),
                Err(RecvTimeoutError::Timeout) => None,
            };
            // Coalesce a burst of state changes into one pass.
            while let Ok(k) = rx.try_recv() {
                if k == Kick::Stop {
                    return;
                }
                kick = Some(kick.unwrap_or(k));
            }
            for ev in self.backend.supervise() {
                match ev {
                    SuperviseEvent::Restarted { iface, pid } => {
                        log::warn!("wireguard-go for {iface} had died; restarted as pid {pid}, restoring its peers");
                        kick = Some(Kick::Resync);
                    }
                    SuperviseEvent::Died { iface, status, .. } => log::warn!("wireguard-go for {iface} exited ({status})"),
                    other => log::warn!("data plane: {other:?}"),
                }
            }
            if Instant::now() >= next_resync {
                kick = Some(kick.unwrap_or(Kick::Resync));
                next_resync = Instant::now() + resync;
            }
            if let Some(k) = kick {
                self.pass(k == Kick::Resync);
            }
        }
    }

    fn pass(&mut self, periodic: bool) {
        let (version, specs) = self.cluster.read(|s| (s.version, desired_interfaces(s, &self.node)));
        let mut ops = 0u64;
        let mut ok = true;
        let wanted: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let before = self.managed.clone();
        for spec in &specs {
            self.managed.insert(spec.name.clone());
            match reconcile(self.backend.as_ref(), spec) {
                Ok(r) => {
                    let link = &r.link;
                    let n = r.ops_applied as u64
                        + u64::from(r.created)
                        + (link.addresses_added + link.addresses_removed + link.routes_added + link.routes_removed) as u64
                        + u64::from(link.mtu_set)
                        + u64::from(link.brought_up);
                    if n > 0 {
                        log::info!(
                            "{}: {} (peers +{} ~{} -{}){}",
                            spec.name,
                            if r.created { "created" } else { "updated" },
                            r.peers.added,
                            r.peers.updated,
                            r.peers.removed,
                            if periodic { " — drift healed" } else { "" }
                        );
                        if periodic {
                            self.stats.drift_healed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    ops += n;
                }
                Err(e) => {
                    ok = false;
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    log::warn!("{}: reconcile failed: {e}", spec.name);
                }
            }
        }
        let stale: Vec<String> = self.managed.difference(&wanted).cloned().collect();
        for name in stale {
            match self.backend.remove_interface(&name) {
                Ok(()) => {
                    log::info!("{name}: removed (no longer assigned to this router)");
                    self.managed.remove(&name);
                    ops += 1;
                }
                Err(e) => {
                    ok = false;
                    log::warn!("{name}: removal failed: {e}");
                }
            }
        }
        if self.managed != before {
            let text: String = self.managed.iter().map(|n| format!("{n}\n")).collect();
            if let Err(e) = std::fs::write(&self.managed_file, text) {
                log::warn!("cannot record managed interfaces in {}: {e}", self.managed_file.display());
            }
        }
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        self.stats.ops_total.fetch_add(ops, Ordering::Relaxed);
        self.stats.last_pass_ops.store(ops, Ordering::Relaxed);
        if ok {
            self.stats.applied_version.store(version, Ordering::Relaxed);
        }
    }
}
