//! `WgReconciler` — on every router that carries WireGuard (not on a witness). Makes this router's
//! interfaces equal to the desired state (`desired`), with the minimal difference (`reconcile`:
//! single-peer adds, updates and removals in one UAPI transaction; never a full replace).
//!
//! Owns: the backend (a [`SharedBackend`]: the handle's `backend` always names the one in use),
//! the set of interfaces it manages (persisted one name per line, so an
//! interface of a config that was removed while the daemon was down is still cleaned up, and an
//! interface it never made — someone's own `wg1` — is never touched), what each interface holds
//! as of the last pass (`Known`), and `ReconcileStats`.
//! Runs on one OS thread of its own, because backends block (UAPI sockets, netlink).
//! Receives: `Kick::StateChanged` (after every applied state change), `Kick::Resync` (periodic,
//! heals drift such as a hand-made `wg set … remove` or a restarted wireguard-go),
//! `Kick::Switch` (SIGHUP with a new `wg_backend`/`uapi_dir`/`wg_userspace_bin`: a live switch of
//! the data plane, see `switch.rs`; answered with a `SwitchOutcome`), `Kick::WithBackend` (a
//! blocking read of the data plane for someone else — the usage counters of #15 — run on this
//! thread so that it borrows no thread of the async runtimes; see [`ReconcilerHandle::with_backend`]),
//! `Kick::Stop`.
//! Publishes: the state version it has applied (`stats.applied_version`), read by `/v1/health`.
//!
//! ## Takeovers (#16)
//! After a pass, while some router is unhealthy (or when this router's VRRP mastership changed),
//! it asks [`takeover::takeovers`] which peers it takes over from another router, queues the
//! ones not yet acted on (once per cause) and initiates their handshakes in batches of
//! [`TAKEOVER_BATCH`] every [`TAKEOVER_TICK`] (see `takeover.rs` for the trigger).
//!
//! ## Two kinds of pass
//! - **Full** (the first pass, every periodic resync, after a wireguard-go restart, and for any
//!   interface whose last pass failed or that is new): read the device through the backend, diff,
//!   apply, configure the link — [`reconcile`]. This is what heals drift. ~40 ms at 10,000 peers.
//! - **Incremental** (a state change): the device is taken to hold what the previous pass left it
//!   with (`Known::spec`), so the plan is the difference between the previous and the new desired
//!   spec (`plan::diff_specs`: a merge walk over the two key-sorted peer lists, no device read), and
//!   the link is configured only when its addresses, MTU or peer routes changed. A no-op state
//!   change does no I/O at all. Anything unexpected — apply failed (the process died, a line was
//!   rejected), the peer list is not sorted — falls back to a full pass of that interface at once,
//!   so correctness never rests on the cache; drift made behind our back between two resyncs is
//!   healed by the next resync, as before.
//!
//! ## Shutdown
//! [`ReconcilerHandle::shutdown`] stops the thread (waiting for a pass in progress) and then
//! leaves the data plane running ([`WgBackend::detach`]): userspace processes keep forwarding
//! while the daemon is down, and the next start adopts them (their sockets answer, the first full
//! pass finds nothing to change).

use super::backend::{reconcile, reconcile_observed, LinkChanges, ReconcileReport, WgBackend};
use super::desired::DesiredCache;
use super::error::WgError;
use super::netlink::desired_routes;
use super::plan::{diff, diff_specs, PeerOp, Plan};
use super::spec::{key_to_base64, public_key_of, ActualInterface, InterfaceSpec, Key};
use super::switch::{run_switch, SharedBackend, SwitchOutcome, SwitchRequest};
use super::takeover::{self, still_needed, takeover_plan, Cause, Takeover, TAKEOVER_BATCH, TAKEOVER_TICK};
use super::userspace_proc::SuperviseEvent;
use super::vip_source::VipSource;
use crate::model::{ConfigName, Millis, PeerId};
use crate::raft::ClusterHandle;
use ipnet::IpNet;
use portable_atomic::{AtomicU64, Ordering};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A job for the reconciler thread: called with the backend in use.
pub type BackendJob = Box<dyn FnOnce(&dyn WgBackend) + Send>;

pub enum Kick {
    StateChanged,
    Resync,
    /// Switch the data plane (handled before any other kick of the same burst).
    Switch(Box<SwitchRequest>),
    /// Run a job with the backend (handled after the switches of the burst, before its pass).
    WithBackend(BackendJob),
    /// keepalived says this router is (`true`) or is no longer VRRP master of the config's
    /// floating address (#16); becoming master takes the config's peers over.
    Vrrp {
        config: ConfigName,
        master: bool,
    },
    /// Still master of `config`'s address and another router advertised it too (#16, a split
    /// healing): take the config's live sessions back, at most once per [`RECLAIM_MIN_INTERVAL`].
    VrrpReclaim {
        config: ConfigName,
    },
    Stop,
}

impl std::fmt::Debug for Kick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kick::StateChanged => f.write_str("StateChanged"),
            Kick::Resync => f.write_str("Resync"),
            Kick::Switch(r) => f.debug_tuple("Switch").field(r).finish(),
            Kick::WithBackend(_) => f.write_str("WithBackend"),
            Kick::Vrrp { config, master } => f.debug_struct("Vrrp").field("config", config).field("master", master).finish(),
            Kick::VrrpReclaim { config } => f.debug_struct("VrrpReclaim").field("config", config).finish(),
            Kick::Stop => f.write_str("Stop"),
        }
    }
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
    /// Wall time of the most recent pass, in microseconds.
    pub last_pass_us: AtomicU64,
    /// Passes that read every interface from the device (first pass, resyncs, restarts).
    pub full_passes: AtomicU64,
    /// Peers this router initiated a handshake with when it took them over (#16).
    pub takeovers: AtomicU64,
    /// Woken whenever `applied_version` moves (`/v1/applied` waits on it instead of polling).
    pub applied_changed: tokio::sync::Notify,
}

#[derive(Clone)]
pub struct ReconcilerHandle {
    tx: mpsc::Sender<Kick>,
    pub stats: Arc<ReconcileStats>,
    pub backend: Arc<dyn WgBackend>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl ReconcilerHandle {
    pub fn kick(&self, k: Kick) {
        let _ = self.tx.send(k);
    }

    /// keepalived's notify (#16): this router is, or no longer is, master of `config`'s address.
    /// `Err` when the reconciler is not running.
    pub fn vrrp(&self, config: ConfigName, master: bool) -> Result<(), String> {
        self.tx.send(Kick::Vrrp { config, master }).map_err(|_| "the WireGuard reconciler is not running".to_string())
    }

    /// keepalived's `notify_master_rx_lower_pri` (#16): still master of `config`'s address while
    /// another router advertised it (a split healing). `Err` when the reconciler is not running.
    pub fn vrrp_reclaim(&self, config: ConfigName) -> Result<(), String> {
        self.tx.send(Kick::VrrpReclaim { config }).map_err(|_| "the WireGuard reconciler is not running".to_string())
    }

    /// The daemon's shutdown: stops the reconciler thread (waiting up to `timeout` for a pass in
    /// progress), then leaves the data plane running ([`WgBackend::detach`]) so it keeps
    /// forwarding until the next start adopts it. Blocking. Returns how many data-plane processes
    /// were left running.
    pub fn shutdown(&self, timeout: Duration) -> usize {
        self.kick(Kick::Stop);
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let deadline = Instant::now() + timeout;
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                log::warn!("the WireGuard reconciler is still busy after {timeout:?}; leaving the data plane running anyway");
            }
        }
        let left = self.backend.detach();
        if left > 0 {
            log::info!("left {left} userspace WireGuard process(es) running; the next start adopts them");
        }
        left
    }

    /// Runs `job` with the backend on the reconciler thread and answers its result: a blocking
    /// read (UAPI sockets, netlink) without a thread of the async runtimes (the router's thread
    /// budget is 4). Waits behind a pass in progress. `Err` when the reconciler is not running
    /// (the job is dropped unanswered).
    pub fn with_backend<R: Send + 'static>(
        &self,
        job: impl FnOnce(&dyn WgBackend) -> R + Send + 'static,
    ) -> impl std::future::Future<Output = Result<R, String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Kick::WithBackend(Box::new(move |b: &dyn WgBackend| {
            let _ = tx.send(job(b));
        })));
        async move {
            sent.map_err(|_| "the WireGuard reconciler is not running".to_string())?;
            rx.await.map_err(|_| "the WireGuard reconciler stopped before answering".to_string())
        }
    }

    /// Asks the reconciler thread to switch the data plane ([`SwitchRequest`] without `reply`)
    /// and waits up to `timeout` for the outcome. Blocking.
    pub fn switch_backend(&self, mut req: SwitchRequest, timeout: Duration) -> Result<SwitchOutcome, String> {
        let (tx, rx) = mpsc::channel();
        req.reply = Some(tx);
        self.tx.send(Kick::Switch(Box::new(req))).map_err(|_| "the WireGuard reconciler is not running".to_string())?;
        rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => format!("no answer from the WireGuard reconciler within {timeout:?}; the switch goes on"),
            RecvTimeoutError::Disconnected => "the WireGuard reconciler stopped before switching".to_string(),
        })
    }
}

/// What an interface holds as of the last successful pass over it: the spec it was made equal to,
/// its public key, and the routes its peers need (see `netlink::desired_routes`).
struct Known {
    spec: InterfaceSpec,
    public_key: Key,
    routes: Vec<IpNet>,
}

/// The reconciler's work without its thread and without Raft: passes over a list of desired
/// interfaces. Public for tests and benchmarks.
pub struct ReconcileCore {
    backend: Arc<dyn WgBackend>,
    managed_file: PathBuf,
    managed: BTreeSet<String>,
    known: HashMap<String, Known>,
    /// Interfaces reconciled at least once by this process (to log adoption once).
    seen: BTreeSet<String>,
    /// Managed interfaces not yet checked for a leftover of the other backend (an earlier run
    /// with another `wg_backend`): each is checked once, at the first pass that can.
    leftovers_unchecked: BTreeSet<String>,
    stats: Arc<ReconcileStats>,
    /// Use the incremental path for state changes (true); false makes every pass full.
    pub incremental: bool,
}

impl ReconcileCore {
    /// `managed_file`: where the names of the interfaces this router made are kept (read now).
    pub fn new(backend: Arc<dyn WgBackend>, managed_file: PathBuf, stats: Arc<ReconcileStats>) -> Self {
        let managed: BTreeSet<String> = std::fs::read_to_string(&managed_file)
            .map(|s| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let leftovers_unchecked = managed.clone();
        ReconcileCore {
            backend,
            managed_file,
            managed,
            known: HashMap::new(),
            seen: BTreeSet::new(),
            leftovers_unchecked,
            stats,
            incremental: true,
        }
    }

    pub fn stats(&self) -> &Arc<ReconcileStats> {
        &self.stats
    }

    /// Interfaces whose last pass succeeded.
    pub fn working_interfaces(&self) -> usize {
        self.known.len()
    }

    /// Interfaces this router made (the managed list).
    pub fn managed_count(&self) -> usize {
        self.managed.len()
    }

    /// Before a backend switch: removes every managed interface through the current backend and
    /// forgets what they held; the names stay managed (the next pass makes them again) and are
    /// checked once more for a leftover of the other kind (a removal that failed here).
    pub fn retire_interfaces(&mut self) {
        for name in &self.managed {
            let t = Instant::now();
            match self.backend.remove_interface(name) {
                Ok(()) => log::info!("{name}: removed from the {} data plane in {} ms", self.backend.kind(), t.elapsed().as_millis()),
                Err(e) => log::warn!("{name}: removal from the {} data plane failed: {e}", self.backend.kind()),
            }
        }
        self.known.clear();
        self.seen.clear();
        self.leftovers_unchecked = self.managed.clone();
    }

    /// One pass: makes the interfaces equal to `specs` (state `version`) and removes managed
    /// interfaces no longer wanted. `full`: read every interface from the device (a resync).
    /// Returns (operations applied, whether everything succeeded).
    pub fn pass(&mut self, version: u64, specs: Vec<InterfaceSpec>, full: bool) -> (u64, bool) {
        let started = Instant::now();
        let wanted: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let before = self.managed.clone();
        let mut total = InterfacePass { ops: 0, ok: true, read_device: full };
        total.add(self.remove_leftovers());
        for spec in specs {
            total.add(self.pass_interface(spec, full));
        }
        total.add(self.remove_unwanted(&wanted));
        if self.managed != before {
            self.save_managed();
        }
        self.record_pass(version, &total, started.elapsed());
        (total.ops, total.ok)
    }

    /// One wanted interface: the incremental path when we know what it holds (and this is not a
    /// full pass), else (or when that fails) a full read → diff → apply.
    fn pass_interface(&mut self, spec: InterfaceSpec, full: bool) -> InterfacePass {
        self.managed.insert(spec.name.clone());
        let prior = self.known.remove(&spec.name);
        let path = choose_path(full, self.incremental, prior.is_some());
        let (known, prior) = if path.incremental { (prior, None) } else { (None, prior) };
        let mut read_device = false;
        let result = match known {
            Some(k) => match self.incremental_pass(&spec, &k) {
                Ok(Some((r, routes))) => Ok((r, Some(routes), false)),
                Ok(None) => {
                    // Nothing changed: keep what we know, no I/O.
                    self.known.insert(spec.name.clone(), k);
                    return InterfacePass { ops: 0, ok: true, read_device: false };
                }
                Err(e) => {
                    log::info!("{}: incremental update failed ({e}); reading the device", spec.name);
                    read_device = true;
                    reconcile(self.backend.as_ref(), &spec).map(|r| (r, None, false))
                }
            },
            None => {
                read_device = true;
                reconcile_observed(self.backend.as_ref(), &spec).map(|(r, found)| {
                    // Drift is what changed behind our back since the last pass, not the change
                    // (made through the API) this pass may also carry.
                    let drift = path.drift && prior.as_ref().is_some_and(|k| found_drift(k, &spec, found.as_ref(), &r.link));
                    (r, None, drift)
                })
            }
        };
        match result {
            Ok((r, routes, drift)) => {
                let ops = self.applied(spec, &r, routes, drift);
                InterfacePass { ops, ok: true, read_device }
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                log::warn!("{}: reconcile failed: {e}", spec.name);
                InterfacePass { ops: 0, ok: false, read_device }
            }
        }
    }

    /// Book-keeping after a successful reconcile of `spec`: logs, drift and adoption, and what the
    /// interface now holds. Returns the operations it took.
    fn applied(&mut self, spec: InterfaceSpec, r: &ReconcileReport, routes: Option<Vec<IpNet>>, drift: bool) -> u64 {
        let n = report_ops(r);
        if n > 0 {
            log::info!(
                "{}: {} (peers +{} ~{} -{}){}",
                spec.name,
                if r.created { "created" } else { "updated" },
                r.peers.added,
                r.peers.updated,
                r.peers.removed,
                if drift { " — drift healed" } else { "" }
            );
            if drift {
                self.stats.drift_healed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !r.created && self.seen.insert(spec.name.clone()) {
            // Found running (an earlier daemon left it): let the backend supervise it.
            if let Err(e) = self.backend.ensure_interface(&spec) {
                log::debug!("{}: cannot take charge of the running interface: {e}", spec.name);
            }
            log::info!("{}: adopted the running interface ({n} change(s) needed)", spec.name);
        }
        self.seen.insert(spec.name.clone());
        let routes = routes.unwrap_or_else(|| desired_routes(&spec));
        let public_key = public_key_of(&spec.private_key);
        self.known.insert(spec.name.clone(), Known { spec, public_key, routes });
        n
    }

    /// Removes leftovers of the other backend under the names of the managed interfaces (once per
    /// name; a failure is retried at the next pass).
    fn remove_leftovers(&mut self) -> InterfacePass {
        let mut out = InterfacePass { ops: 0, ok: true, read_device: false };
        for name in std::mem::take(&mut self.leftovers_unchecked) {
            match self.backend.remove_leftover(&name) {
                Ok(true) => {
                    log::info!("{name}: removed the interface an earlier run made with the other WireGuard backend");
                    out.ops += 1;
                }
                Ok(false) => {}
                Err(e) => {
                    log::warn!("{name}: cannot check for or remove a leftover interface of the other backend: {e}");
                    self.leftovers_unchecked.insert(name);
                    out.ok = false;
                }
            }
        }
        out
    }

    /// Removes the managed interfaces that are no longer wanted.
    fn remove_unwanted(&mut self, wanted: &BTreeSet<String>) -> InterfacePass {
        let mut out = InterfacePass { ops: 0, ok: true, read_device: false };
        let stale: Vec<String> = self.managed.difference(wanted).cloned().collect();
        for name in stale {
            self.known.remove(&name);
            let t = Instant::now();
            match self.backend.remove_interface(&name) {
                Ok(()) => {
                    log::info!("{name}: removed (no longer assigned to this router) in {} ms", t.elapsed().as_millis());
                    self.managed.remove(&name);
                    out.ops += 1;
                }
                Err(e) => {
                    out.ok = false;
                    log::warn!("{name}: removal failed: {e}");
                }
            }
        }
        out
    }

    /// Records the managed interfaces in `managed_file` (0600).
    fn save_managed(&self) {
        let text: String = self.managed.iter().map(|n| format!("{n}\n")).collect();
        if let Err(e) = write_private(&self.managed_file, &text) {
            log::warn!("cannot record managed interfaces in {}: {e}", self.managed_file.display());
        }
    }

    /// Updates the counters after a pass; the applied version moves only when all went well.
    fn record_pass(&self, version: u64, total: &InterfacePass, took: Duration) {
        log::debug!("wg pass ({}): {} operation(s) in {took:?}", if total.read_device { "full" } else { "incremental" }, total.ops);
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        if total.read_device {
            self.stats.full_passes.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.ops_total.fetch_add(total.ops, Ordering::Relaxed);
        self.stats.last_pass_ops.store(total.ops, Ordering::Relaxed);
        self.stats.last_pass_us.store(took.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        if total.ok {
            self.stats.applied_version.store(version, Ordering::Relaxed);
            self.stats.applied_changed.notify_waiters();
        }
    }

    /// Initiates handshakes with the peers of `batch` that still need it (the device is read once
    /// per interface: a client that came on its own is left alone). Only interfaces whose last
    /// pass succeeded are touched; a takeover of another is dropped (the next scan offers it
    /// again if it still applies). Returns how many handshakes were initiated.
    pub fn take_over(&mut self, batch: &[Takeover]) -> usize {
        let mut by_config: BTreeMap<&ConfigName, Vec<&Takeover>> = BTreeMap::new();
        for t in batch {
            by_config.entry(&t.config).or_default().push(t);
        }
        let mut started = 0;
        for (config, list) in by_config {
            let Some(known) = self.known.get(config.as_str()) else { continue };
            let device = match self.backend.read(config.as_str()) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    log::warn!("{config}: cannot read the device before taking peers over: {e}");
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let needed: Vec<&Takeover> = list.into_iter().filter(|t| still_needed(t, &device)).collect();
            let plan = takeover_plan(&known.spec, &needed);
            let n = plan.peer_ops.len() / 3;
            if n == 0 {
                continue;
            }
            match self.backend.apply(config.as_str(), &plan) {
                Ok(_) => {
                    started += n;
                    self.stats.takeovers.fetch_add(n as u64, Ordering::Relaxed);
                    let why = match &needed[0].cause {
                        Cause::Failed { node, .. } => format!("their router {node} is unhealthy"),
                        Cause::Master { .. } => "this router became VRRP master".to_string(),
                    };
                    log::info!("{config}: took over {n} peer(s) ({why}): handshake initiated to their last known endpoint");
                }
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    log::warn!("{config}: taking over {n} peer(s) failed: {e}");
                }
            }
        }
        started
    }

    /// A state change on an interface we know: apply the difference between the previous and
    /// the new spec. `Ok(None)`: nothing to do. `Err`: the caller falls back to a full pass.
    fn incremental_pass(&self, spec: &InterfaceSpec, known: &Known) -> Result<Option<(ReconcileReport, Vec<IpNet>)>, WgError> {
        let plan = diff_specs(&known.spec, spec)?;
        let link_same = spec.addresses == known.spec.addresses && spec.mtu == known.spec.mtu;
        let routes = if !link_same || plan_touches_routes(&known.spec, spec, &plan) { desired_routes(spec) } else { known.routes.clone() };
        let routes_same = routes == known.routes;
        if plan.is_empty() && link_same && routes_same {
            return Ok(None);
        }
        // No name check here: `known` holds only names a full pass (`reconcile` → `validate`)
        // already accepted, and every name comes from a `ConfigName` (`desired`).
        let own = if plan.set_identity.is_some() { public_key_of(&spec.private_key) } else { known.public_key };
        for op in &plan.peer_ops {
            if let PeerOp::Add(p) | PeerOp::Update(p) = op {
                if p.public_key == [0u8; 32] {
                    return Err(WgError::InvalidSpec("peer with all-zero public key".into()));
                }
                if p.public_key == own {
                    return Err(WgError::InvalidSpec(format!("peer {} has the interface's own public key", key_to_base64(&p.public_key))));
                }
            }
        }
        let ops_applied = self.backend.apply(&spec.name, &plan)?;
        let link = if link_same && routes_same { LinkChanges::default() } else { self.backend.configure_link(spec)? };
        let report = ReconcileReport { created: false, identity_set: plan.set_identity.is_some(), peers: plan.counts(), ops_applied, link };
        Ok(Some((report, routes)))
    }
}

/// What (part of) a pass did: operations applied, whether all of it succeeded, and whether it read
/// an interface from the device (a full pass of that interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InterfacePass {
    ops: u64,
    ok: bool,
    read_device: bool,
}

impl InterfacePass {
    fn add(&mut self, other: InterfacePass) {
        self.ops += other.ops;
        self.ok &= other.ok;
        self.read_device |= other.read_device;
    }
}

/// How one interface is reconciled in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PassKind {
    /// Diff against what the last pass left (no device read).
    incremental: bool,
    /// A full read of an interface we had made equal: differences found are drift.
    drift: bool,
}

/// PURE: the path for one interface. `full`: a resync; `incremental`: the core's switch;
/// `known`: the last pass over this interface succeeded.
fn choose_path(full: bool, incremental: bool, known: bool) -> PassKind {
    PassKind { incremental: known && !full && incremental, drift: full && known }
}

/// PURE: whether a full pass over an interface found drift: the device no longer held what the
/// last pass left on it (`known`), or the link needed a change its part of the spec did not ask
/// for. The new `spec` may differ from `known.spec` (a state change that coincides with the
/// resync): differences that change explains are ours, not drift.
fn found_drift(known: &Known, spec: &InterfaceSpec, found: Option<&ActualInterface>, link: &LinkChanges) -> bool {
    if !diff(&known.spec, found).is_empty() {
        return true;
    }
    link.brought_up
        || (link.mtu_set && known.spec.mtu == spec.mtu)
        || (link.addresses_added + link.addresses_removed > 0 && known.spec.addresses == spec.addresses)
        || (link.routes_added + link.routes_removed > 0 && known.routes == desired_routes(spec))
}

/// PURE: the operations a reconcile report counts: peer ops and the identity, interface creation,
/// and every link change.
fn report_ops(r: &ReconcileReport) -> u64 {
    let link = &r.link;
    r.ops_applied as u64
        + u64::from(r.created)
        + (link.addresses_added + link.addresses_removed + link.routes_added + link.routes_removed) as u64
        + u64::from(link.mtu_set)
        + u64::from(link.brought_up)
}

/// Whether a peer the plan adds, updates or removes has (or had) an allowed IP that needs a route
/// of its own (not `/0`, not inside the interface's own subnets; see `netlink::desired_routes`).
/// Only then can the interface's routes change. `old.peers` must be sorted by key.
fn plan_touches_routes(old: &InterfaceSpec, new: &InterfaceSpec, plan: &Plan) -> bool {
    let own: Vec<IpNet> = new.addresses.iter().map(IpNet::trunc).collect();
    let routed = |ips: &[IpNet]| ips.iter().any(|n| n.prefix_len() > 0 && !own.iter().any(|o| o.contains(&n.trunc())));
    let old_ips = |key: &Key| match old.peers.binary_search_by(|p| p.public_key.cmp(key)) {
        Ok(i) => old.peers[i].allowed_ips.as_slice(),
        Err(_) => &[],
    };
    plan.peer_ops.iter().any(|op| match op {
        PeerOp::Add(p) => routed(&p.allowed_ips),
        PeerOp::Update(p) => routed(&p.allowed_ips) || routed(old_ips(&p.public_key)),
        PeerOp::Remove(k) => routed(old_ips(k)),
    })
}

/// Takeovers waiting for their batch, and the causes already acted on (each peer is taken over
/// once per cause; a cause the scan no longer finds is forgotten, so memory is bounded by the
/// current candidates).
#[derive(Debug, Default)]
struct TakeoverQueue {
    pending: VecDeque<Takeover>,
    done: HashSet<(PeerId, Cause)>,
}

impl TakeoverQueue {
    /// Queues what a scan found and was not acted on yet; returns how many were queued.
    fn offer(&mut self, found: Vec<Takeover>) -> usize {
        let current: HashSet<(PeerId, Cause)> = found.iter().map(|t| (t.peer.clone(), t.cause.clone())).collect();
        self.done.retain(|k| current.contains(k));
        let mut queued = 0;
        for t in found {
            if self.done.insert((t.peer.clone(), t.cause.clone())) {
                self.pending.push_back(t);
                queued += 1;
            }
        }
        queued
    }

    /// Up to [`TAKEOVER_BATCH`] takeovers, oldest first.
    fn batch(&mut self) -> Vec<Takeover> {
        let n = self.pending.len().min(TAKEOVER_BATCH);
        self.pending.drain(..n).collect()
    }
}

/// Starts the reconciler thread and a task that kicks it on every state change. Call inside the
/// actix/tokio runtime.
pub fn start(cluster: ClusterHandle, backend: Arc<dyn WgBackend>, managed_file: PathBuf, resync: Duration) -> ReconcilerHandle {
    let (tx, rx) = mpsc::channel();
    let stats = Arc::new(ReconcileStats::default());
    let shared = Arc::new(SharedBackend::new(backend));
    let backend: Arc<dyn WgBackend> = shared.clone();
    let core = ReconcileCore::new(backend.clone(), managed_file, stats.clone());
    let node = cluster.node_id.clone();
    let state = cluster.clone();
    // The desired state is patched from the state's change journal (O(changed peers)) under the
    // state's read lock; the copy handed to the pass is made after the lock is released.
    let cache = Mutex::new(DesiredCache::default());
    let desired = move || {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let version = state.read(|s| {
            cache.update(s, &node);
            s.version
        });
        (version, cache.specs())
    };
    // Takeover candidates (#16): scanned only while a router is unhealthy or when the
    // mastership changed (`force`), so a healthy cluster pays nothing per state change.
    let me = cluster.node_id.clone();
    let state = cluster.clone();
    let scan = move |masters: &BTreeMap<ConfigName, Millis>, force: bool| {
        let now = crate::clock::now_ms();
        state.read(|s| if force || s.nodes.values().any(|n| !n.healthy) { takeover::takeovers(s, &me, masters, now) } else { Vec::new() })
    };
    // The floating address's source policy (#16, `vip_source`): what a config needs, from the
    // state; held in this router's own namespace (the daemon's).
    let state = cluster.clone();
    let vips = move || {
        state.read(|s| {
            let source = |(c, v): (&ConfigName, &crate::model::Vip)| {
                Some((c.clone(), VipSource { vip: v.address, vrid: v.vrid, port: s.configs.get(c)?.listen_port }))
            };
            s.vips.iter().filter_map(source).collect::<BTreeMap<_, _>>()
        })
    };
    let spawned = std::thread::Builder::new().name("wg-reconciler".into()).spawn(move || {
        if let Err(e) = super::userspace_os::set_thread_nice(super::userspace_os::RECONCILER_NICE) {
            log::warn!("cannot lower the WireGuard reconciler's CPU priority: {e}");
        }
        run(core, &shared, desired, scan, vips, rx, resync)
    });
    let thread = match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            log::error!("cannot start the WireGuard reconciler thread: {e}");
            None
        }
    };
    let mut versions = cluster.versions();
    let kick_tx = tx.clone();
    tokio::spawn(async move {
        while versions.changed().await.is_ok() {
            if kick_tx.send(Kick::StateChanged).is_err() {
                break;
            }
        }
    });
    let _ = tx.send(Kick::Resync);
    ReconcilerHandle { tx, stats, backend, thread: Arc::new(Mutex::new(thread)) }
}

/// The thread: waits for kicks (coalescing bursts), supervises userspace processes every second,
/// and runs a pass per kick — full for `Resync`, incremental for `StateChanged`; a `Switch` is
/// done first (its full pass covers the other kicks of the burst).
fn run(
    mut core: ReconcileCore,
    shared: &SharedBackend,
    desired: impl Fn() -> (u64, Vec<InterfaceSpec>),
    scan: impl Fn(&BTreeMap<ConfigName, Millis>, bool) -> Vec<Takeover>,
    vips: impl Fn() -> BTreeMap<ConfigName, VipSource>,
    rx: mpsc::Receiver<Kick>,
    resync: Duration,
) {
    let mut next_resync = Instant::now() + resync;
    let mut queue = TakeoverQueue::default();
    let mut masters: BTreeMap<ConfigName, Millis> = BTreeMap::new();
    let mut sources = SourcePolicies::default();
    let mut last_reclaim: BTreeMap<ConfigName, Millis> = BTreeMap::new();
    // A restart while keepalived is master (#16): no new MASTER notify comes, so mastership is read
    // from the interfaces, once per config with a VIP — at start, or after the pass that first
    // shows its VIP (a restarted follower applies the log's tail only once a leader is known).
    // Master since 0: a takeover then leaves alone every peer with a handshake here (the adopted
    // sessions), and the source policy is installed again.
    let vip_of = |config: &ConfigName| vips().remove(config);
    let mut vips_seen: BTreeSet<ConfigName> = BTreeSet::new();
    let mut learn_masters = |masters: &mut BTreeMap<ConfigName, Millis>, sources: &mut SourcePolicies| {
        let fresh: BTreeMap<ConfigName, VipSource> = vips().into_iter().filter(|(c, _)| !vips_seen.contains(c)).collect();
        if fresh.is_empty() {
            return;
        }
        match sources.netlink.local_addresses() {
            Ok(local) => {
                vips_seen.extend(fresh.keys().cloned());
                for config in super::vip_source::masters_at_start(fresh.iter().map(|(c, s)| (c, s.vip)), &local) {
                    if masters.contains_key(&config) {
                        continue;
                    }
                    log::info!("{config}: the floating address is on this router at start: VRRP master");
                    sources.hold(&config, fresh.get(&config).cloned());
                    masters.insert(config, 0);
                }
            }
            Err(e) => log::warn!("cannot read this router's addresses to learn its VRRP mastership: {e}"),
        }
    };
    learn_masters(&mut masters, &mut sources);
    let mut next_batch = Instant::now();
    loop {
        let mut wait = Duration::from_secs(1).min(next_resync.saturating_duration_since(Instant::now()));
        if !queue.pending.is_empty() {
            wait = wait.min(next_batch.saturating_duration_since(Instant::now()));
        }
        let mut switches = Vec::new();
        let mut jobs: Vec<BackendJob> = Vec::new();
        let mut vrrp: Vec<(ConfigName, bool)> = Vec::new();
        let mut reclaims: Vec<ConfigName> = Vec::new();
        let mut kick = match rx.recv_timeout(wait) {
            Ok(Kick::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Kick::Switch(req)) => {
                switches.push(req);
                None
            }
            Ok(Kick::WithBackend(job)) => {
                jobs.push(job);
                None
            }
            Ok(Kick::Vrrp { config, master }) => {
                vrrp.push((config, master));
                None
            }
            Ok(Kick::VrrpReclaim { config }) => {
                reclaims.push(config);
                None
            }
            Ok(k) => Some(k),
            Err(RecvTimeoutError::Timeout) => None,
        };
        // Coalesce a burst of kicks into one pass (full if any of them asks for it).
        while let Ok(k) = rx.try_recv() {
            match k {
                Kick::Stop => return,
                Kick::Switch(req) => switches.push(req),
                Kick::WithBackend(job) => jobs.push(job),
                Kick::Vrrp { config, master } => vrrp.push((config, master)),
                Kick::VrrpReclaim { config } => reclaims.push(config),
                k if !matches!(kick, Some(Kick::Resync)) => kick = Some(k),
                _ => {}
            }
        }
        for req in switches {
            let outcome = run_switch(&mut core, shared, &req, &desired);
            match &outcome {
                SwitchOutcome::Refused { .. } | SwitchOutcome::RolledBack { .. } => log::error!("{}", outcome.message()),
                _ => log::info!("{}", outcome.message()),
            }
            if let Some(reply) = &req.reply {
                let _ = reply.send(outcome);
            }
            next_resync = Instant::now() + resync;
            kick = None;
        }
        for job in jobs {
            job(core.backend.as_ref());
        }
        for ev in core.backend.supervise() {
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
            kick = Some(Kick::Resync);
        }
        if let Some(k) = kick {
            let full = matches!(k, Kick::Resync);
            if full {
                next_resync = Instant::now() + resync;
            }
            let t = Instant::now();
            let (version, specs) = desired();
            log::debug!("wg: desired state of version {version} built in {:?}", t.elapsed());
            core.pass(version, specs, full);
            learn_masters(&mut masters, &mut sources);
            let queued = queue.offer(scan(&masters, false));
            if queued > 0 {
                log::info!("{queued} peer(s) to take over from other routers");
            }
        }
        if !vrrp.is_empty() {
            let now = crate::clock::now_ms();
            for (config, master) in vrrp {
                if master {
                    log::info!("{config}: this router is VRRP master of the floating address; taking the config's peers over");
                    sources.hold(&config, vip_of(&config));
                    masters.insert(config, now);
                } else {
                    sources.release(&config);
                    if masters.remove(&config).is_some() {
                        log::info!("{config}: this router is no longer VRRP master");
                    }
                }
            }
            let queued = queue.offer(scan(&masters, true));
            if queued > 0 {
                log::info!("{queued} peer(s) to take over (VRRP)");
            }
        }
        if !reclaims.is_empty() {
            let now = crate::clock::now_ms();
            let mut any = false;
            for config in reclaims {
                let Some(since) = masters.get(&config).copied() else { continue };
                if !reclaim_due(since, last_reclaim.get(&config).copied(), now) {
                    continue;
                }
                log::info!(
                    "{config}: another router advertised the floating address too (a split healing); reclaiming the config's sessions"
                );
                last_reclaim.insert(config.clone(), now);
                sources.hold(&config, vip_of(&config));
                masters.insert(config, now);
                any = true;
            }
            if any {
                let queued = queue.offer(scan(&masters, true));
                if queued > 0 {
                    log::info!("{queued} peer(s) to take back (VRRP reclaim)");
                }
            }
        }
        if !queue.pending.is_empty() && Instant::now() >= next_batch {
            core.take_over(&queue.batch());
            next_batch = Instant::now() + TAKEOVER_TICK;
        }
    }
}

/// Least time between two reclaims of one config (#16): keepalived runs the hook for every
/// lower-priority advert (one a second while the other router still believes itself master), and
/// a reclaim makes every live client of the config handshake again.
pub const RECLAIM_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// A reclaim this soon after becoming master is not needed: that takeover took the sessions here
/// (the router it preempted sends one more advert as it yields, `higher_prio_send_advert`).
pub const RECLAIM_AFTER_MASTER: Duration = Duration::from_secs(5);

/// PURE: whether a reclaim may run at `now`, master since `since`, the last reclaim at `last`.
fn reclaim_due(since: Millis, last: Option<Millis>, now: Millis) -> bool {
    now.saturating_sub(since) >= RECLAIM_AFTER_MASTER.as_millis() as u64
        && last.is_none_or(|l| now.saturating_sub(l) >= RECLAIM_MIN_INTERVAL.as_millis() as u64)
}

/// The floating addresses whose source policy this router holds (`vip_source`), by config.
#[derive(Default)]
struct SourcePolicies {
    netlink: super::netlink::Netlink,
    held: BTreeMap<ConfigName, VipSource>,
}

impl SourcePolicies {
    /// Before the takeover's initiations leave: they must carry the VIP as source. A failure is
    /// logged; the takeover still runs (clients without a NAT follow any address).
    fn hold(&mut self, config: &ConfigName, source: Option<VipSource>) {
        let Some(source) = source else {
            log::warn!("{config}: VRRP master, but the config has no floating address or no listen port in the state");
            return;
        };
        if let Some(old) = self.held.get(config).filter(|old| old.vrid != source.vrid || old.vip.is_ipv4() != source.vip.is_ipv4()) {
            if let Err(e) = self.netlink.release_vip_source(old.vip.is_ipv6(), old.vrid) {
                log::warn!("{config}: cannot remove the old source policy of {}: {e}", old.vip);
            }
        }
        match self.netlink.hold_vip_source(&source) {
            Ok(n) => log::info!(
                "{config}: WireGuard's own packets from port {} now leave from {} ({n} route(s) copied to table {:#x}, rule {})",
                source.port,
                source.vip,
                super::vip_source::table(source.vrid),
                super::vip_source::pref(source.vrid)
            ),
            Err(e) => log::warn!(
                "{config}: cannot make {} the source of this router's handshakes ({e}); clients behind a NAT will not follow the takeover",
                source.vip
            ),
        }
        self.held.insert(config.clone(), source);
    }

    fn release(&mut self, config: &ConfigName) {
        if let Some(old) = self.held.remove(config) {
            match self.netlink.release_vip_source(old.vip.is_ipv6(), old.vrid) {
                Ok(()) => log::info!("{config}: source policy of {} removed", old.vip),
                Err(e) => log::warn!("{config}: cannot remove the source policy of {}: {e}", old.vip),
            }
        }
    }
}

/// Writes `text` to `path`, creating it with mode 0600 (it lives in the data dir, where every
/// file is 0600; an existing file keeps its mode, which `run` checks at start).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wg::plan::diff;
    use crate::wg::spec::{ActualInterface, PeerSpec};

    use crate::wg::plan::tests::specs::{apply_to, device, k, net, peer, spec};

    #[test]
    fn reclaims_are_spaced() {
        let min = RECLAIM_MIN_INTERVAL.as_millis() as u64;
        let fresh = RECLAIM_AFTER_MASTER.as_millis() as u64;
        let t = 1_000_000;
        // (master since, last reclaim, now, due)
        let cases: &[(Millis, Option<Millis>, Millis, bool)] = &[
            (0, None, t, true),
            (t - fresh + 1, None, t, false),
            (t - fresh, None, t, true),
            (0, Some(t), t, false),
            (0, Some(t - min + 1), t, false),
            (0, Some(t - min), t, true),
            (0, Some(t + 5), t, false),
            (t + 5, None, t, false),
        ];
        for (since, last, now, want) in cases {
            assert_eq!(reclaim_due(*since, *last, *now), *want, "{since} {last:?} {now}");
        }
    }

    #[test]
    fn choose_path_table() {
        // (full, incremental switch, known) -> (incremental, drift)
        let cases = [
            (false, true, true, true, false),
            (false, true, false, false, false),
            (false, false, true, false, false),
            (false, false, false, false, false),
            (true, true, true, false, true),
            (true, true, false, false, false),
            (true, false, true, false, true),
            (true, false, false, false, false),
        ];
        for (full, incremental, known, want_inc, want_drift) in cases {
            let got = choose_path(full, incremental, known);
            assert_eq!((got.incremental, got.drift), (want_inc, want_drift), "full {full} incremental {incremental} known {known}");
        }
    }

    #[test]
    fn found_drift_table() {
        // The device as the last pass left it (peers 1, 2 on 10.8.0.0/24), and the link flags.
        let old = spec(vec![peer(1), peer(2)]);
        let known = Known { routes: desired_routes(&old), public_key: public_key_of(&old.private_key), spec: old.clone() };
        let as_left = || device(&old);
        let link = |mtu_set, brought_up, addresses, routes| LinkChanges {
            mtu_set,
            brought_up,
            addresses_added: addresses,
            addresses_removed: 0,
            routes_added: routes,
            routes_removed: 0,
        };
        let api_peer = spec(vec![peer(1), peer(2), peer(3)]);
        let mut api_mtu = old.clone();
        api_mtu.mtu = Some(1300);
        let mut api_address = old.clone();
        api_address.addresses.push(net("fd00:8::1/64"));
        let mut api_route = spec(vec![peer(1), peer(2)]);
        api_route.peers[0].allowed_ips.push(net("172.16.0.0/16"));
        let mut missing_peer = as_left();
        missing_peer.peers.retain(|p| p.public_key != k(2));
        let mut other_port = as_left();
        other_port.listen_port += 1;
        let none = LinkChanges::default();
        // (new spec, device found, link changes, drift?)
        let cases: Vec<(&str, &InterfaceSpec, Option<ActualInterface>, LinkChanges, bool)> = vec![
            ("nothing changed", &old, Some(as_left()), none.clone(), false),
            ("API added a peer during the resync", &api_peer, Some(as_left()), none.clone(), false),
            ("API changed the MTU", &api_mtu, Some(as_left()), link(true, false, 0, 0), false),
            ("API added an address", &api_address, Some(as_left()), link(false, false, 1, 0), false),
            ("API added a routed prefix", &api_route, Some(as_left()), link(false, false, 0, 1), false),
            ("peer removed by hand", &old, Some(missing_peer.clone()), none.clone(), true),
            ("peer removed by hand while the API adds one", &api_peer, Some(missing_peer), none.clone(), true),
            ("listen port changed by hand", &old, Some(other_port), none.clone(), true),
            ("interface deleted by hand", &old, None, none.clone(), true),
            ("MTU changed by hand", &old, Some(as_left()), link(true, false, 0, 0), true),
            ("link down by hand, API changed the MTU", &api_mtu, Some(as_left()), link(true, true, 0, 0), true),
            ("address removed by hand", &old, Some(as_left()), link(false, false, 1, 0), true),
            ("route removed by hand", &api_peer, Some(as_left()), link(false, false, 0, 1), true),
        ];
        for (what, new, found, changes, want) in cases {
            assert_eq!(found_drift(&known, new, found.as_ref(), &changes), want, "{what}");
        }
    }

    #[test]
    fn report_ops_table() {
        let report = |ops_applied: usize, created: bool, link: LinkChanges| ReconcileReport {
            created,
            identity_set: false,
            peers: Default::default(),
            ops_applied,
            link,
        };
        let link = |mtu_set, brought_up, addresses_added, addresses_removed, routes_added, routes_removed| LinkChanges {
            mtu_set,
            brought_up,
            addresses_added,
            addresses_removed,
            routes_added,
            routes_removed,
        };
        let cases = [
            (report(0, false, LinkChanges::default()), 0),
            (report(3, false, LinkChanges::default()), 3),
            (report(3, true, LinkChanges::default()), 4),
            (report(0, false, link(true, true, 0, 0, 0, 0)), 2),
            (report(0, false, link(false, false, 1, 2, 3, 4)), 10),
            (report(5, true, link(true, true, 1, 1, 1, 1)), 12),
        ];
        for (r, want) in cases {
            assert_eq!(report_ops(&r), want, "{r:?}");
        }
    }

    #[test]
    fn takeovers_are_queued_once_per_cause_and_batched() {
        let cfg = ConfigName::parse("c", "wg0").unwrap();
        let ids: Vec<PeerId> = (0..TAKEOVER_BATCH + 5).map(|_| PeerId::random()).collect();
        let found = |cause: Cause| -> Vec<Takeover> {
            ids.iter()
                .map(|id| Takeover {
                    config: cfg.clone(),
                    peer: id.clone(),
                    public_key: [1; 32],
                    endpoint: "192.0.2.1:1".parse().unwrap(),
                    cause: cause.clone(),
                })
                .collect()
        };
        let failed = Cause::Failed { node: crate::model::NodeId::parse("n", "r2").unwrap(), handshake: 1 };
        let mut q = TakeoverQueue::default();
        assert_eq!(q.offer(found(failed.clone())), ids.len());
        assert_eq!(q.offer(found(failed.clone())), 0, "the same cause again: nothing new");
        assert_eq!(q.batch().len(), TAKEOVER_BATCH);
        assert_eq!(q.batch().len(), 5);
        assert!(q.batch().is_empty());
        // A new cause (this router became master) takes them over again; the old one is forgotten.
        assert_eq!(q.offer(found(Cause::Master { since: 2 })), ids.len());
        assert_eq!(q.done.len(), ids.len());
        assert_eq!(q.offer(vec![]), 0);
        assert!(q.done.is_empty());
    }

    #[test]
    fn interface_passes_add_up() {
        let mut t = InterfacePass { ops: 0, ok: true, read_device: false };
        t.add(InterfacePass { ops: 2, ok: true, read_device: false });
        assert_eq!(t, InterfacePass { ops: 2, ok: true, read_device: false });
        t.add(InterfacePass { ops: 1, ok: false, read_device: true });
        t.add(InterfacePass { ops: 0, ok: true, read_device: false });
        assert_eq!(t, InterfacePass { ops: 3, ok: false, read_device: true });
    }

    /// A backend in memory: counts reads, applies plans to its device, can fail on demand.
    #[derive(Default)]
    struct Fake {
        dev: Mutex<Option<ActualInterface>>,
        reads: AtomicU64,
        applies: AtomicU64,
        links: AtomicU64,
        fail_apply: std::sync::atomic::AtomicBool,
        /// Names with a leftover of the other backend; `leftover_checks` counts the calls.
        leftovers: Mutex<BTreeSet<String>>,
        leftover_checks: AtomicU64,
    }

    impl WgBackend for Fake {
        fn kind(&self) -> &'static str {
            "fake"
        }
        fn list_interfaces(&self) -> Result<Vec<String>, WgError> {
            Ok(vec![])
        }
        fn read(&self, _iface: &str) -> Result<Option<ActualInterface>, WgError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            Ok(self.dev.lock().unwrap().clone())
        }
        fn ensure_interface(&self, _spec: &InterfaceSpec) -> Result<bool, WgError> {
            let mut d = self.dev.lock().unwrap();
            if d.is_some() {
                return Ok(false);
            }
            *d = Some(ActualInterface { listen_port: 0, private_key: None, public_key: None, peers: vec![] });
            Ok(true)
        }
        fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError> {
            if self.fail_apply.swap(false, Ordering::Relaxed) {
                return Err(WgError::NotFound(iface.into()));
            }
            self.applies.fetch_add(1, Ordering::Relaxed);
            let mut d = self.dev.lock().unwrap();
            let dev = d.as_mut().ok_or_else(|| WgError::NotFound(iface.into()))?;
            apply_to(dev, plan);
            Ok(plan.op_count())
        }
        fn configure_link(&self, _spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
            self.links.fetch_add(1, Ordering::Relaxed);
            Ok(LinkChanges::default())
        }
        fn remove_interface(&self, _iface: &str) -> Result<(), WgError> {
            *self.dev.lock().unwrap() = None;
            Ok(())
        }
        fn remove_leftover(&self, iface: &str) -> Result<bool, WgError> {
            self.leftover_checks.fetch_add(1, Ordering::Relaxed);
            Ok(self.leftovers.lock().unwrap().remove(iface))
        }
    }

    #[test]
    fn leftovers_of_managed_interfaces_are_removed_once() {
        let fake = Arc::new(Fake::default());
        let file = std::env::temp_dir().join(format!("wg-rec-leftover-{}", std::process::id()));
        std::fs::write(&file, "wg0\nwgold\n").unwrap();
        fake.leftovers.lock().unwrap().extend(["wg0".to_string(), "wgold".to_string(), "theirs".to_string()]);
        let backend: Arc<dyn WgBackend> = fake.clone();
        let mut c = ReconcileCore::new(backend, file.clone(), Arc::default());
        // wg0 still wanted, wgold not: both leftovers go (2 ops), wgold is then removed as
        // unwanted (1 op), wg0 is created with 3 peers (5 ops). `theirs` is not ours.
        let (ops, ok) = c.pass(1, vec![spec(vec![peer(1), peer(2), peer(3)])], true);
        assert!(ok);
        assert_eq!(ops, 2 + 1 + 5);
        assert_eq!(*fake.leftovers.lock().unwrap(), BTreeSet::from(["theirs".to_string()]));
        assert_eq!(fake.leftover_checks.load(Ordering::Relaxed), 2);
        // Checked once per run.
        c.pass(2, vec![spec(vec![peer(1), peer(2), peer(3)])], true);
        assert_eq!(fake.leftover_checks.load(Ordering::Relaxed), 2);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn api_change_during_a_resync_is_not_drift() {
        let fake = Arc::new(Fake::default());
        let (mut c, file) = core(&fake);
        c.pass(1, vec![spec(vec![peer(1), peer(2)])], false);
        // The state changed and a resync picks it up before the incremental pass does.
        assert_eq!(c.pass(2, vec![spec(vec![peer(1), peer(2), peer(3)])], true), (1, true));
        assert_eq!(c.stats().drift_healed.load(Ordering::Relaxed), 0);
        // A peer removed by hand in the same window is drift.
        fake.dev.lock().unwrap().as_mut().unwrap().peers.retain(|p| p.public_key != k(1));
        assert_eq!(c.pass(3, vec![spec(vec![peer(1), peer(2), peer(3), peer(4)])], true), (2, true));
        assert_eq!(c.stats().drift_healed.load(Ordering::Relaxed), 1);
        let _ = std::fs::remove_file(file);
    }

    fn core(fake: &Arc<Fake>) -> (ReconcileCore, PathBuf) {
        let file = std::env::temp_dir().join(format!("wg-rec-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_file(&file);
        let backend: Arc<dyn WgBackend> = fake.clone();
        (ReconcileCore::new(backend, file.clone(), Arc::default()), file)
    }

    #[test]
    fn state_changes_are_incremental_and_resyncs_read_the_device() {
        let fake = Arc::new(Fake::default());
        let (mut c, file) = core(&fake);
        let s1 = spec(vec![peer(1), peer(2), peer(3)]);
        // First pass: full (read, create, read again), 4 ops + created.
        assert_eq!(c.pass(1, vec![s1.clone()], false), (5, true));
        assert_eq!(fake.reads.load(Ordering::Relaxed), 2);
        // A no-op state change: no I/O at all.
        assert_eq!(c.pass(2, vec![s1.clone()], false), (0, true));
        assert_eq!((fake.reads.load(Ordering::Relaxed), fake.applies.load(Ordering::Relaxed)), (2, 1));
        // One peer removed, one added: one apply, no read; routes unchanged (inside 10.8.0.0/24).
        let s2 = spec(vec![peer(1), peer(3), peer(4)]);
        assert_eq!(c.pass(3, vec![s2.clone()], false), (2, true));
        assert_eq!((fake.reads.load(Ordering::Relaxed), fake.applies.load(Ordering::Relaxed)), (2, 2));
        assert_eq!(fake.links.load(Ordering::Relaxed), 1);
        // A peer routed outside the interface subnet: the link is configured again.
        let mut wide = peer(5);
        wide.allowed_ips.push(net("172.16.0.0/16"));
        let s3 = spec(vec![peer(1), peer(3), peer(4), wide]);
        assert_eq!(c.pass(4, vec![s3.clone()], false), (1, true));
        assert_eq!(fake.links.load(Ordering::Relaxed), 2);
        // Drift behind our back: not seen by a state change, healed by the resync.
        fake.dev.lock().unwrap().as_mut().unwrap().peers.retain(|p| p.public_key != k(1));
        assert_eq!(c.pass(5, vec![s3.clone()], false), (0, true));
        assert_eq!(c.pass(5, vec![s3.clone()], true), (1, true));
        assert_eq!(c.stats().drift_healed.load(Ordering::Relaxed), 1);
        // A failed incremental apply falls back to a full pass at once.
        fake.fail_apply.store(true, Ordering::Relaxed);
        let reads = fake.reads.load(Ordering::Relaxed);
        assert_eq!(c.pass(6, vec![s2.clone()], false), (1, true));
        assert_eq!(fake.reads.load(Ordering::Relaxed), reads + 1);
        assert!(diff(&s2, fake.dev.lock().unwrap().as_ref()).is_empty());
        assert_eq!(c.stats().applied_version.load(Ordering::Relaxed), 6);
        // Unassigned: removed.
        assert_eq!(c.pass(7, vec![], false), (1, true));
        assert!(fake.dev.lock().unwrap().is_none());
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn incremental_matches_full_on_random_changes() {
        // Many random state changes through the incremental path; after each, the device
        // equals the spec exactly as a full diff sees it.
        let fake = Arc::new(Fake::default());
        let (mut c, file) = core(&fake);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut peers: Vec<PeerSpec> = (1..40).map(peer).collect();
        for v in 0..200u64 {
            for _ in 0..=rnd(3) {
                match rnd(4) {
                    0 if !peers.is_empty() => {
                        let i = rnd(peers.len() as u64) as usize;
                        peers.remove(i);
                    }
                    1 => {
                        let n = 1 + rnd(120) as u8;
                        if !peers.iter().any(|p| p.public_key == k(n)) {
                            peers.push(peer(n));
                        }
                    }
                    2 if !peers.is_empty() => {
                        let i = rnd(peers.len() as u64) as usize;
                        peers[i].persistent_keepalive = Some(rnd(3) as u16);
                        peers[i].preshared_key = (rnd(2) == 0).then_some(k(7));
                    }
                    _ if !peers.is_empty() => {
                        // Inside the interface's subnet (no route), or outside (a route).
                        let i = rnd(peers.len() as u64) as usize;
                        peers[i].allowed_ips = match rnd(3) {
                            0 => vec![net(&format!("10.8.0.{}/32", rnd(250)))],
                            1 => vec![net(&format!("10.{}.0.0/16", 9 + rnd(3)))],
                            _ => vec![net("0.0.0.0/0"), net(&format!("172.16.{}.0/24", rnd(4)))],
                        };
                    }
                    _ => {}
                }
            }
            peers.sort_by_key(|p| p.public_key);
            let s = spec(peers.clone());
            let (_, ok) = c.pass(v, vec![s.clone()], v % 50 == 0);
            assert!(ok);
            assert_eq!(c.known["wg0"].routes, desired_routes(&s), "pass {v}");
            assert!(diff(&s, fake.dev.lock().unwrap().as_ref()).is_empty(), "pass {v}");
        }
        assert_eq!(fake.reads.load(Ordering::Relaxed), 2 + 3, "only the first pass and the resyncs read");
        let _ = std::fs::remove_file(file);
    }
}
