//! The DNS sync task — a tokio task (not an actix actor: it awaits provider calls one after the
//! other and owns nothing any other actor needs to poke synchronously).
//!
//! Owns: the per-record-name memory of work already done (`seen`, cleared on every leadership
//! change), the coalescing and retry timers, and the provider clients. Takes these messages
//! through `DnsHandle`: `Kick` (the queue was edited through the API: re-read its schedule) and
//! `SyncAll` (reconcile every group now). It also wakes on every state version tick (coalesced
//! for `coalesce`), on Raft metrics changes (leadership), at the queue's next due time, and every
//! `resync_every` for a full reconcile that corrects records edited behind our back.
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

use super::backoff::BackoffPolicy;
use super::decide::{self, AfterApplyError, Preflight, RetryAction, SuccessLog};
use super::factory::{ProviderOptions, Providers};
use super::now_ms;
use super::plan::{self, Desired};
use super::provider::{self, ProviderError, ProviderFactory, Target};
use super::queue::{DnsQueue, Failure, QueueEntry};
use crate::model::{ConfigName, DnsProviderKind, DnsSettings, DnsStatus, Millis};
use crate::raft::ClusterHandle;
use crate::state::{Command, Request, State};
use crate::store::StoreError;
use rand_core::RngCore;
use redb::Database;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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
    /// Full reconcile even without changes (corrects records edited behind our back).
    pub resync_every: Duration,
    /// How long a `RecordDnsSync` report may wait for Raft.
    pub write_timeout: Duration,
    pub providers: ProviderOptions,
}

impl Default for DnsSyncConfig {
    fn default() -> Self {
        Self {
            coalesce: Duration::from_millis(300),
            backoff: BackoffPolicy::default(),
            resync_every: Duration::from_secs(600),
            write_timeout: Duration::from_secs(5),
            providers: ProviderOptions::default(),
        }
    }
}

enum Msg {
    Kick,
    SyncAll,
}

/// The API's door to DNS sync: the queue (read and edited directly, never waiting for a sync in
/// progress) and a nudge to the task.
#[derive(Clone)]
pub struct DnsHandle {
    queue: DnsQueue,
    tx: mpsc::UnboundedSender<Msg>,
    max_attempts: u32,
}

impl DnsHandle {
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
pub fn start(cluster: ClusterHandle, db: Arc<Database>, cfg: DnsSyncConfig) -> Result<DnsHandle, StoreError> {
    let providers = Arc::new(Providers::new(cfg.providers.clone()));
    start_with(cluster, db, cfg, providers)
}

/// Starts DNS sync with the given providers (tests inject their own).
pub fn start_with(
    cluster: ClusterHandle,
    db: Arc<Database>,
    cfg: DnsSyncConfig,
    providers: Arc<dyn ProviderFactory>,
) -> Result<DnsHandle, StoreError> {
    let queue = DnsQueue::open(db)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = DnsHandle { queue: queue.clone(), tx, max_attempts: cfg.backoff.max_attempts };
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
}

fn build_job(s: &State, config: &ConfigName) -> Option<Job> {
    let g = s.endpoint_groups.get(config)?;
    let desired = plan::desired(s, g);
    let settings = s.settings.dns.clone();
    let zone = match g.provider {
        DnsProviderKind::Cloudflare => g.cloudflare_zone_id.clone().unwrap_or_default(),
        DnsProviderKind::Rfc2136 => settings.rfc2136.as_ref().map(|r| r.zone.clone()).unwrap_or_default(),
    };
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
    })
}

enum Executed {
    Done {
        changed: bool,
        requests: usize,
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
                }
                self.seen.clear();
                self.reported.clear();
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
                self.due_stale = true;
                versions.borrow_and_update();
                dirty = Some(Instant::now());
                last_full = Instant::now();
            }
            let resync_at = last_full + self.cfg.resync_every;
            let due = self.next_due().map(instant_of);
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
            }
            if dirty.is_some_and(|d| d <= now) {
                dirty = None;
                let f = std::mem::take(&mut force);
                self.pass(cur_term, f).await;
            }
            if self.next_due().is_some_and(|d| d <= now_ms()) {
                self.retry_due(cur_term).await;
            }
        }
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
            Ok(Executed::Done { changed, requests }) => {
                self.reported.remove(&job.key);
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
                if let Some(cmd) = decide::success_report(&job.config, &job.status, published, degraded, changed) {
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
            return Ok(Executed::Done { changed: false, requests: 0 });
        }
        // Making a provider may read the CA bundle from flash (once per settings change): off the
        // async thread, which also serves Raft.
        let (providers, kind, settings) = (self.providers.clone(), job.provider, job.settings.clone());
        let provider = tokio::task::spawn_blocking(move || providers.provider(kind, &settings))
            .await
            .map_err(|e| ProviderError::Transient(format!("creating the DNS provider: {e}")))??;
        let mut requests = 0;
        let mut changed = false;
        for round in 0..decide::APPLY_ROUNDS {
            let actual = provider.list(&job.target).await?;
            requests += 1;
            let plan = plan::diff(&job.desired.addrs, job.target.ttl, &actual);
            if plan.is_empty() {
                return Ok(Executed::Done { changed, requests });
            }
            if !self.still_leader(term) {
                return Ok(Executed::Fenced);
            }
            match provider.apply(&job.target, &plan).await {
                Ok(n) => return Ok(Executed::Done { changed: true, requests: requests + n }),
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
