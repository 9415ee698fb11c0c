//! The DNS sync task — a tokio task (not an actix actor: it awaits provider calls one after the
//! other and owns nothing any other actor needs to poke synchronously).
//!
//! Owns: the per-record-name memory of work already done (`seen`, cleared on every leadership
//! change), the coalescing and retry timers, and the provider clients. Takes these messages
//! through `DnsHandle`: `Kick` (the queue was edited through the API: re-read its schedule) and
//! `SyncAll` (reconcile every group now). It also wakes on every state version tick (coalesced
//! for `coalesce`), on Raft metrics changes (leadership), at the queue's (or a failed removal's)
//! next due time, and every reconcile interval (the replicated `dns_reconcile_interval_s`, or
//! `resync_every` in tests) for a full reconcile that corrects records edited behind our back:
//! the drift against the published set is reported as `RecordDnsDrift` (#16). It also carries out
//! the replicated record removals of deleted or moved groups (`State::dns_removals`), closing each
//! with `CompleteDnsRemoval`; its own view (last reconcile, per-group checks, removal errors) is
//! `LocalStatus`, read by the status route through `DnsHandle::local`.
//!
//! Leader only: while this router is not the panel it does nothing. The Raft term it started
//! under is its fencing token: before changing records and before reporting, it checks that it
//! is still leader in that term, so a deposed panel stops instead of overwriting newer work.
//!
//! Per endpoint group and attempt: read the state (desired set, fail static), list the provider's
//! records, diff, apply only the difference, then report with `RecordDnsSync` (when records
//! changed, the status changed, or it failed for the first time or with another kind of error:
//! `decide::failure_report`; repeats of one failure are not replicated, which keeps a provider
//! outage off the flash). A failure goes to the retry queue with backoff; newer desired state for
//! the same record name supersedes the queued work.

use super::backoff::{self, BackoffPolicy};
use super::decide::{self, AfterApplyError, Preflight, RemovalAction, RetryAction, SuccessLog};
use super::factory::{ProviderOptions, Providers};
use super::now_ms;
use super::plan::{self, Desired};
use super::provider::{self, ProviderError, ProviderFactory, Target};
use super::queue::{DnsQueue, Failure, QueueEntry};
use crate::model::{ConfigName, DnsDrift, DnsProviderKind, DnsRemoval, DnsSettings, DnsStatus, Millis};
use crate::raft::ClusterHandle;
use crate::state::{Command, Request, State};
use crate::store::StoreError;
use rand_core::RngCore;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The audit `user` of DNS sync's reports.
pub const SYNC_USER: &str = "dns-sync";

#[derive(Debug, Clone)]
pub struct DnsSyncConfig {
    /// Changes within this window after a state tick are handled in one pass.
    pub coalesce: Duration,
    pub backoff: BackoffPolicy,
    /// Full reconcile even without changes (corrects records edited behind our back): None
    /// follows the replicated `dns_reconcile_interval_s` (#16); tests may fix it here.
    pub resync_every: Option<Duration>,
    /// How long a `RecordDnsSync` report may wait for Raft.
    pub write_timeout: Duration,
    pub providers: ProviderOptions,
}

impl Default for DnsSyncConfig {
    fn default() -> Self {
        Self {
            coalesce: Duration::from_millis(300),
            backoff: BackoffPolicy::default(),
            resync_every: None,
            write_timeout: Duration::from_secs(5),
            providers: ProviderOptions::default(),
        }
    }
}

enum Msg {
    Kick,
    SyncAll,
}

/// What this router's sync task saw (not replicated: it is the panel's own view, for the DNS
/// status route). Times are unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalStatus {
    /// The last full reconcile (every group read back from its provider) this router started.
    pub last_reconcile: Option<Millis>,
    /// The reconcile interval in force.
    pub reconcile_every_s: u64,
    /// Config → when its records were last read from the provider and found (or made) right.
    pub checked: HashMap<String, Millis>,
    /// Drift found and corrected by this router since it started (all groups).
    pub drift_corrected: u64,
    /// Removal key → the last error of a pending removal.
    pub removal_errors: HashMap<String, String>,
}

/// The API's door to DNS sync: the queue (read and edited directly, never waiting for a sync in
/// progress) and a nudge to the task.
#[derive(Clone)]
pub struct DnsHandle {
    queue: DnsQueue,
    tx: mpsc::UnboundedSender<Msg>,
    max_attempts: u32,
    local: Arc<Mutex<LocalStatus>>,
}

impl DnsHandle {
    /// This router's own view of reconciliation (empty on a router that is not the panel).
    pub fn local(&self) -> LocalStatus {
        self.local.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn queue(&self) -> &DnsQueue {
        &self.queue
    }

    /// Attempts after which an entry is dead.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub fn list(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.queue.list()
    }

    /// Makes entry `id` due now (reviving a dead one). None: no such entry.
    pub fn retry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        let e = self.queue.retry(id, now_ms())?;
        if e.is_some() {
            let _ = self.tx.send(Msg::Kick);
        }
        Ok(e)
    }

    /// Drops entry `id`. False: no such entry.
    pub fn drop_entry(&self, id: u64) -> Result<bool, StoreError> {
        let gone = self.queue.drop_entry(id)?;
        let _ = self.tx.send(Msg::Kick);
        Ok(gone)
    }

    /// Reconcile every endpoint group now, even those believed in sync (queued work keeps its
    /// backoff). Does nothing on a router that is not the panel.
    pub fn sync_now(&self) {
        let _ = self.tx.send(Msg::SyncAll);
    }
}

/// Starts DNS sync with the real providers. Must run inside a tokio runtime.
pub fn start(cluster: ClusterHandle, store: Arc<crate::store::Store>, cfg: DnsSyncConfig) -> Result<DnsHandle, StoreError> {
    let providers = Arc::new(Providers::new(cfg.providers.clone()));
    start_with(cluster, store, cfg, providers)
}

/// Starts DNS sync with the given providers (tests inject their own).
pub fn start_with(
    cluster: ClusterHandle,
    store: Arc<crate::store::Store>,
    cfg: DnsSyncConfig,
    providers: Arc<dyn ProviderFactory>,
) -> Result<DnsHandle, StoreError> {
    let queue = DnsQueue::open(store)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let local: Arc<Mutex<LocalStatus>> = Arc::default();
    let handle = DnsHandle { queue: queue.clone(), tx, max_attempts: cfg.backoff.max_attempts, local: local.clone() };
    let task = Syncer {
        cluster,
        queue,
        cfg,
        providers,
        rx,
        seen: HashMap::new(),
        warned: HashSet::new(),
        reported: HashMap::new(),
        due: None,
        due_stale: true,
        removals: HashMap::new(),
        local,
    };
    tokio::spawn(task.run());
    Ok(handle)
}

/// One unit of work: an endpoint group as the state says now.
struct Job {
    config: ConfigName,
    key: String,
    provider: DnsProviderKind,
    settings: DnsSettings,
    target: Target,
    desired: Desired,
    fingerprint: u64,
    status: DnsStatus,
    /// When the group was last saved (a TTL difference after that is ours, not drift).
    updated_at: Millis,
}

fn build_job(s: &State, config: &ConfigName) -> Option<Job> {
    let g = s.endpoint_groups.get(config)?;
    let desired = plan::desired(s, g);
    let settings = s.settings.dns.clone();
    let zone = plan::zone(g, &settings);
    let key = plan::record_name(g);
    let fingerprint = plan::fingerprint(g, &desired, &provider::settings_key(g.provider, &settings));
    Some(Job {
        config: config.clone(),
        target: Target { zone, name: key.clone(), ttl: g.ttl },
        key,
        provider: g.provider,
        settings,
        desired,
        fingerprint,
        status: g.dns_status.clone(),
        updated_at: g.updated_at,
    })
}

enum Executed {
    Done {
        changed: bool,
        requests: usize,
        /// How the records first read differed from the published set (`plan::drift`).
        drift: DnsDrift,
    },
    /// Leadership moved on while we worked: nothing more is done or reported.
    Fenced,
}

fn jitter() -> f64 {
    f64::from(rand_core::OsRng.next_u32()) / (f64::from(u32::MAX) + 1.0)
}

fn instant_of(at: Millis) -> Instant {
    Instant::now() + decide::delay_until(at, now_ms())
}

struct Syncer {
    cluster: ClusterHandle,
    queue: DnsQueue,
    cfg: DnsSyncConfig,
    providers: Arc<dyn ProviderFactory>,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Record name → fingerprint of the work last done for it (in this term).
    seen: HashMap<String, u64>,
    /// Host-name endpoints already warned about.
    warned: HashSet<(String, String)>,
    /// Record name → kind of the failure this panel last reported for it (cleared on success and
    /// on a leadership change): repeats of it are not replicated.
    reported: HashMap<String, decide::ErrorKind>,
    /// The queue's next due time, re-read when `due_stale`.
    due: Option<Millis>,
    due_stale: bool,
    /// Removal key → the retry schedule of a pending removal that failed (in memory: the removal
    /// itself is replicated, so a new panel starts it afresh).
    removals: HashMap<String, RemovalRetry>,
    local: Arc<Mutex<LocalStatus>>,
}

struct RemovalRetry {
    failures: u32,
    next_at: Millis,
    kind: decide::ErrorKind,
}

impl Syncer {
    fn still_leader(&self, term: u64) -> bool {
        self.cluster.is_leader() && self.cluster.leader().1 == term
    }

    fn next_due(&mut self) -> Option<Millis> {
        if self.due_stale {
            match self.queue.next_due() {
                Ok(d) => {
                    self.due = d;
                    self.due_stale = false;
                }
                Err(e) => {
                    log::error!("dns: cannot read the retry queue: {e}");
                    // Look again in a while rather than spinning.
                    self.due = Some(now_ms() + 5000);
                }
            }
        }
        self.due
    }

    async fn run(mut self) {
        let mut versions = self.cluster.versions();
        let mut metrics = self.cluster.raft.metrics();
        let mut term: Option<u64> = None;
        let mut dirty: Option<Instant> = None;
        let mut force = false;
        let mut last_full = Instant::now();
        loop {
            let cur_term = self.cluster.leader().1;
            if !self.cluster.is_leader() {
                if term.take().is_some() {
                    log::info!("dns: this router is no longer the panel; DNS sync paused");
                    self.set_local(|l| *l = LocalStatus::default());
                }
                self.seen.clear();
                self.reported.clear();
                self.removals.clear();
                dirty = None;
                tokio::select! {
                    r = metrics.changed() => if r.is_err() { return },
                    m = self.rx.recv() => if m.is_none() { return },
                }
                continue;
            }
            if term != Some(cur_term) {
                log::info!("dns: this router is the panel (term {cur_term}); reconciling every endpoint group");
                term = Some(cur_term);
                self.seen.clear();
                self.reported.clear();
                self.removals.clear();
                self.due_stale = true;
                versions.borrow_and_update();
                dirty = Some(Instant::now());
                last_full = Instant::now();
            }
            let every = decide::reconcile_every(self.cfg.resync_every, self.cluster.read(|s| s.settings.dns_reconcile_interval_s));
            self.set_local(|l| l.reconcile_every_s = every.as_secs());
            let resync_at = last_full + every;
            let due = [self.next_due(), self.removal_due()].into_iter().flatten().min().map(instant_of);
            let wake = decide::wake_at(dirty, due, resync_at);
            tokio::select! {
                r = versions.changed() => {
                    if r.is_err() { return; }
                    if dirty.is_none() { dirty = Some(Instant::now() + self.cfg.coalesce); }
                }
                r = metrics.changed() => if r.is_err() { return },
                m = self.rx.recv() => match m {
                    None => return,
                    Some(Msg::Kick) => self.due_stale = true,
                    Some(Msg::SyncAll) => {
                        force = true;
                        dirty = Some(Instant::now());
                    }
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
            if !self.still_leader(cur_term) {
                continue;
            }
            let now = Instant::now();
            if now >= resync_at {
                last_full = now;
                force = true;
                dirty = Some(now);
                self.set_local(|l| l.last_reconcile = Some(now_ms()));
            }
            if dirty.is_some_and(|d| d <= now) {
                dirty = None;
                let f = std::mem::take(&mut force);
                self.pass(cur_term, f).await;
            }
            if self.next_due().is_some_and(|d| d <= now_ms()) {
                self.retry_due(cur_term).await;
            }
            self.remove_records(cur_term).await;
        }
    }

    fn set_local(&self, f: impl FnOnce(&mut LocalStatus)) {
        if let Ok(mut l) = self.local.lock() {
            f(&mut l);
        }
    }

    /// The earliest retry time of a failed removal that is still pending.
    fn removal_due(&self) -> Option<Millis> {
        self.removals.values().map(|r| r.next_at).min()
    }

    /// Removes the records of deleted or moved endpoint groups (`State::dns_removals`) whose time
    /// has come, and closes each removal with `CompleteDnsRemoval` once done.
    async fn remove_records(&mut self, term: u64) {
        let (pending, live): (Vec<DnsRemoval>, HashSet<String>) = self.cluster.read(|s| {
            let live = s.endpoint_groups.values().map(|g| plan::location(g, &s.settings.dns)).collect();
            (s.dns_removals.values().cloned().collect(), live)
        });
        self.removals.retain(|k, _| pending.iter().any(|r| &r.key() == k));
        for r in pending {
            if !self.still_leader(term) {
                return;
            }
            let key = r.key();
            let now = now_ms();
            let removed = match decide::removal_action(live.contains(&key), self.removals.get(&key).map(|x| x.next_at), now) {
                RemovalAction::Wait => continue,
                RemovalAction::Moot => {
                    log::info!("dns: {} is published by an endpoint group again; its pending removal is closed", r.record_name);
                    Vec::new()
                }
                RemovalAction::Remove => match self.execute_removal(&r, term).await {
                    Ok(Some(removed)) => removed,
                    Ok(None) => return,
                    Err(e) => {
                        let kind = decide::error_kind(&e);
                        let prev = self.removals.get(&key);
                        let failures = prev.map_or(0, |x| x.failures) + 1;
                        let next_at = backoff::next_attempt_at(now, &self.cfg.backoff, failures, jitter(), e.retry_after());
                        if decide::removal_failure_logged(prev.map(|x| x.kind), kind) {
                            log::warn!(
                                "dns: cannot remove the records of {} (endpoint group of {} deleted or moved): {e}; retrying with backoff",
                                r.record_name,
                                r.config
                            );
                        }
                        self.set_local(|l| {
                            l.removal_errors.insert(key.clone(), e.to_string());
                        });
                        self.removals.insert(key, RemovalRetry { failures, next_at, kind });
                        continue;
                    }
                },
            };
            let cmd = Command::CompleteDnsRemoval { key: key.clone(), removed: removed.clone() };
            if self.report(term, cmd).await {
                if !removed.is_empty() {
                    log::info!("dns: removed [{}] from {} (its endpoint group was deleted or moved)", removed.join(", "), r.record_name);
                }
                self.removals.remove(&key);
                self.set_local(|l| {
                    l.removal_errors.remove(&key);
                });
            }
        }
    }

    /// Lists the records at a removal's name and deletes ours. `Ok(None)`: leadership moved on.
    async fn execute_removal(&self, r: &DnsRemoval, term: u64) -> Result<Option<Vec<String>>, ProviderError> {
        decide::preflight(false, &r.zone, r.provider, &r.config)?;
        let settings = self.cluster.read(|s| s.settings.dns.clone());
        let (providers, kind) = (self.providers.clone(), r.provider);
        let provider = tokio::task::spawn_blocking(move || providers.provider(kind, &settings))
            .await
            .map_err(|e| ProviderError::Transient(format!("creating the DNS provider: {e}")))??;
        let target = Target { zone: r.zone.clone(), name: r.record_name.clone(), ttl: 0 };
        let actual = provider.list(&target).await?;
        let plan = plan::removal_plan(&r.addrs, &actual);
        if plan.is_empty() {
            return Ok(Some(Vec::new()));
        }
        if !self.still_leader(term) {
            return Ok(None);
        }
        provider.apply(&target, &plan).await?;
        Ok(Some(plan.delete.iter().map(|d| d.content.clone()).collect()))
    }

    /// Looks at every endpoint group and attempts those whose work is new (or all, `force`).
    /// Work already queued with the same fingerprint waits for its backoff.
    async fn pass(&mut self, term: u64, force: bool) {
        let live: HashMap<String, String> =
            self.cluster.read(|s| s.endpoint_groups.iter().map(|(c, g)| (c.as_str().to_string(), plan::record_name(g))).collect());
        match self.queue.retain(|e| live.get(&e.config) == Some(&e.record_name)) {
            Ok(0) => {}
            Ok(n) => {
                log::info!("dns: dropped {n} queued item(s) of endpoint groups that were deleted or renamed");
                self.due_stale = true;
            }
            Err(e) => log::error!("dns: cannot clean the retry queue: {e}"),
        }
        let configs: Vec<ConfigName> = self.cluster.read(|s| s.endpoint_groups.keys().cloned().collect());
        for c in configs {
            let Some(job) = self.cluster.read(|s| build_job(s, &c)) else { continue };
            if decide::done_in_this_term(force, self.seen.get(&job.key).copied(), job.fingerprint) {
                continue;
            }
            match self.queue.find_by_name(&job.key) {
                Ok(queued) if decide::waits_in_queue(queued.as_ref().map(|e| (e.fingerprint, e.dead)), job.fingerprint, force) => {
                    self.seen.insert(job.key.clone(), job.fingerprint);
                    continue;
                }
                Ok(_) => {}
                Err(e) => log::error!("dns: cannot read the retry queue: {e}"),
            }
            if !self.still_leader(term) {
                return;
            }
            self.attempt(job, term).await;
        }
    }

    /// Attempts queued work whose time has come, against the desired state of NOW.
    async fn retry_due(&mut self, term: u64) {
        self.due_stale = true;
        let now = now_ms();
        let due: Vec<QueueEntry> = match self.queue.list() {
            Ok(all) => all.into_iter().filter(|e| decide::is_due(e, now)).collect(),
            Err(e) => {
                log::error!("dns: cannot read the retry queue: {e}");
                return;
            }
        };
        for e in due {
            if !self.still_leader(term) {
                return;
            }
            let job = self.cluster.read(|s| {
                let config = s.endpoint_groups.keys().find(|c| c.as_str() == e.config).cloned()?;
                build_job(s, &config)
            });
            let action = decide::retry_action(&e.record_name, job.as_ref().map(|j| j.key.as_str()));
            if action != RetryAction::Attempt {
                // The group is gone or now publishes under another name: the old work is moot.
                if let Err(err) = self.queue.drop_entry(e.id) {
                    log::error!("dns: cannot drop queue entry {}: {err}", e.id);
                }
            }
            if let (RetryAction::Attempt | RetryAction::DropThenAttempt, Some(job)) = (action, job) {
                self.attempt(job, term).await;
            }
        }
    }

    async fn attempt(&mut self, job: Job, term: u64) {
        self.seen.insert(job.key.clone(), job.fingerprint);
        self.due_stale = true;
        for (node, endpoint) in &job.desired.skipped {
            if self.warned.insert((node.clone(), endpoint.clone())) {
                log::warn!(
                    "dns: node {node}'s endpoint '{endpoint}' is a host name, not an IP address; it cannot be published in {} (skipped)",
                    job.key
                );
            }
        }
        let published = job.desired.published();
        match self.execute(&job, term).await {
            Ok(Executed::Fenced) => {
                log::info!("dns: leadership changed during the sync of {}; leaving it to the new panel", job.key)
            }
            Ok(Executed::Done { changed, requests, drift }) => {
                self.reported.remove(&job.key);
                let at = now_ms();
                self.set_local(|l| {
                    l.checked.insert(job.config.as_str().to_string(), at);
                });
                match self.queue.remove_by_name(&job.key) {
                    Ok(true) => log::info!("dns: queued work for {} completed", job.key),
                    Ok(false) => {}
                    Err(e) => log::error!("dns: cannot update the retry queue: {e}"),
                }
                let degraded = job.desired.degraded;
                match decide::success_log(changed, degraded, job.status.degraded) {
                    SuccessLog::Changed => log::info!(
                        "dns: {} now publishes [{}] ({requests} provider request(s)){}",
                        job.key,
                        published.join(", "),
                        if degraded { "; degraded: too few healthy nodes, the last published set is kept" } else { "" }
                    ),
                    SuccessLog::NowDegraded => log::warn!(
                        "dns: {}: fewer healthy nodes than min_nodes; keeping the last published set [{}] (fail static)",
                        job.key,
                        published.join(", ")
                    ),
                    SuccessLog::Quiet => {}
                }
                let drift = decide::drift_to_report(&job.status, job.updated_at, drift, changed);
                if let Some(d) = &drift {
                    log::warn!(
                        "dns: the records of {} were edited behind our back; corrected (removed [{}], restored [{}], TTL/proxy reset [{}])",
                        job.key,
                        d.removed.join(", "),
                        d.restored.join(", "),
                        d.corrected.join(", ")
                    );
                    self.set_local(|l| l.drift_corrected += 1);
                }
                if let Some(cmd) = decide::report_after_success(&job.config, &job.status, published, degraded, changed, drift) {
                    let _ = self.report(term, cmd).await;
                }
            }
            Err(e) => {
                let msg = e.to_string();
                let failure = Failure {
                    config: job.config.as_str(),
                    record_name: &job.key,
                    provider: job.provider.as_str(),
                    desired: &published,
                    fingerprint: job.fingerprint,
                    error: &msg,
                    retry_after: e.retry_after(),
                };
                match self.queue.record_failure(&failure, now_ms(), &self.cfg.backoff, jitter()) {
                    Ok(entry) if entry.dead => log::error!(
                        "dns: giving up on {} after {} attempts: {msg} (queue entry {} is dead: tried again at each full resync, or now with POST /api/dns/queue/{}/retry)",
                        job.key,
                        entry.attempts,
                        entry.id,
                        entry.id
                    ),
                    Ok(entry) => log::warn!(
                        "dns: sync of {} failed (attempt {}): {msg}; next attempt in {:.1}s",
                        job.key,
                        entry.attempts,
                        entry.next_attempt_at.saturating_sub(now_ms()) as f64 / 1000.0
                    ),
                    Err(se) => log::error!("dns: sync of {} failed: {msg}; and the retry cannot be queued: {se}", job.key),
                }
                let kind = decide::error_kind(&e);
                let last = self.reported.get(&job.key).copied();
                if let Some(cmd) = decide::failure_report(&job.config, &job.status, kind, last, msg) {
                    if self.report(term, cmd).await {
                        self.reported.insert(job.key.clone(), kind);
                    }
                }
            }
        }
    }

    async fn execute(&self, job: &Job, term: u64) -> Result<Executed, ProviderError> {
        if decide::preflight(job.desired.hold, &job.target.zone, job.provider, &job.config)? == Preflight::Hold {
            // Degraded and nothing was ever published: there is no set we may publish.
            return Ok(Executed::Done { changed: false, requests: 0, drift: DnsDrift::default() });
        }
        // Making a provider may read the CA bundle from flash (once per settings change): off the
        // async thread, which also serves Raft.
        let (providers, kind, settings) = (self.providers.clone(), job.provider, job.settings.clone());
        let provider = tokio::task::spawn_blocking(move || providers.provider(kind, &settings))
            .await
            .map_err(|e| ProviderError::Transient(format!("creating the DNS provider: {e}")))??;
        let mut requests = 0;
        let mut changed = false;
        let mut first_read: Option<DnsDrift> = None;
        for round in 0..decide::APPLY_ROUNDS {
            let actual = provider.list(&job.target).await?;
            requests += 1;
            // Drift is what the first read shows against what we last published.
            let drift = first_read.get_or_insert_with(|| plan::drift(&job.status.published, job.target.ttl, &actual)).clone();
            let plan = plan::diff(&job.desired.addrs, job.target.ttl, &actual);
            if plan.is_empty() {
                return Ok(Executed::Done { changed, requests, drift });
            }
            if !self.still_leader(term) {
                return Ok(Executed::Fenced);
            }
            match provider.apply(&job.target, &plan).await {
                Ok(n) => return Ok(Executed::Done { changed: true, requests: requests + n, drift }),
                Err(e) => match decide::after_apply_error(e, round) {
                    AfterApplyError::ReadAgain(m) => {
                        // Someone (an earlier attempt whose answer was lost?) created it: look again.
                        log::info!("dns: {m}; reading {} again", job.key);
                        changed = true;
                    }
                    AfterApplyError::Fail(e) => return Err(e),
                },
            }
        }
        Err(decide::kept_changing(&job.key))
    }

    /// Writes a status report through Raft, only while still leader in `term`. Returns whether
    /// it was committed.
    async fn report(&self, term: u64, cmd: Command) -> bool {
        if !self.still_leader(term) {
            return false;
        }
        let req = Request { at: now_ms(), user: SYNC_USER.to_string(), cmd, idempotency: None };
        match tokio::time::timeout(self.cfg.write_timeout, self.cluster.write(req)).await {
            Ok(Ok(Ok(_))) => true,
            Ok(Ok(Err(e))) => {
                log::warn!("dns: status report refused: {e}");
                false
            }
            Ok(Err(e)) => {
                log::warn!("dns: status report not written: {e}");
                false
            }
            Err(_) => {
                log::warn!("dns: status report not committed within {:?}", self.cfg.write_timeout);
                false
            }
        }
    }
}
