//! `MigrationPlanner` — on the panel (leader) only: every tick it asks the pure `plan::decide`
//! what to do (migrate peers off failed nodes, complete drains whose destinations have applied
//! the moves, report blocked migrations once) and proposes those commands. Everything it decides
//! from is replicated state plus the applied versions the health monitor collects, so a new panel
//! picks up a migration or drain exactly where the old one left it (resumable).
//!
//! Drains are event-driven (#16): for every destination a pending drain still waits for
//! (`plan::awaited`), the planner keeps one long-poll open (`AppliedWatch`: the router answers
//! the moment its reconciler has applied the drain's version; this router's own reconciler is
//! read directly), and the answer wakes the planner at once. So a drain completes a few
//! milliseconds after the last destination applied the move, not up to a probe interval later.
//! A health verdict (the set of failed assignments changed) makes it decide at once too.
//!
//! Owns: the set of blocked (config, node) pairs already reported (reset on gaining leadership),
//! the open watches. Receives: its own `Tick`, `Wake` (a watch answered). Sends: commands through
//! `ClusterHandle::write`; watches through an `AppliedWatch`.

pub mod plan;

use crate::model::{ConfigName, Millis, Node, NodeId};
use crate::raft::ClusterHandle;
use crate::state::{Outcome, Request};
use actix::prelude::*;
use futures_util::future::BoxFuture;
use plan::{decide, AppliedVersions};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Applied versions of every router, shared between the health monitor (writer) and the planner.
pub type SharedApplied = Arc<RwLock<AppliedVersions>>;

/// How long one watch waits for a router before it answers with what it has (then the planner
/// asks again while the drain still waits).
pub const WATCH_WAIT: Duration = Duration::from_secs(5);
/// After a failed watch (router unreachable), the pause before asking that router again.
pub const WATCH_RETRY: Duration = Duration::from_secs(1);
/// How often this router's own applied version is read while a drain waits for it.
const LOCAL_POLL: Duration = Duration::from_millis(5);

/// How the panel waits for a router to apply a state version.
pub trait AppliedWatch: Send + Sync + 'static {
    /// `Ok(applied)`: the router's applied version as soon as it is at least `at_least`, or
    /// whatever it is after `wait`; `Err(why)`: the router could not be asked.
    fn wait_applied(&self, node: &Node, at_least: u64, wait: Duration) -> BoxFuture<'static, Result<Option<u64>, String>>;
}

pub struct MigrationPlanner {
    cluster: ClusterHandle,
    applied: SharedApplied,
    /// This router's own applied version (its reconciler), when it carries WireGuard.
    local_applied: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
    blocked: BTreeSet<(ConfigName, NodeId)>,
    was_leader: bool,
    busy: bool,
    /// A wake came while busy: decide again as soon as the writes are done.
    again: bool,
    clock: fn() -> Millis,
    every: Duration,
    watch: Option<Arc<dyn AppliedWatch>>,
    /// Node → the version its open watch waits for.
    watching: BTreeMap<NodeId, u64>,
    /// The failed assignments at the last decision (`plan::failed_assignments`).
    failed: BTreeSet<(ConfigName, NodeId)>,
}

impl MigrationPlanner {
    pub fn new(
        cluster: ClusterHandle,
        applied: SharedApplied,
        local_applied: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
        clock: fn() -> Millis,
        every: Duration,
    ) -> Self {
        Self {
            cluster,
            applied,
            local_applied,
            blocked: BTreeSet::new(),
            was_leader: false,
            busy: false,
            again: false,
            clock,
            every,
            watch: None,
            watching: BTreeMap::new(),
            failed: BTreeSet::new(),
        }
    }

    /// Watches the destinations of pending drains through `watch` (without one, drains complete
    /// when the health monitor's probes bring the applied versions).
    pub fn with_watch(mut self, watch: Arc<dyn AppliedWatch>) -> Self {
        self.watch = Some(watch);
        self
    }
}

/// A watch answered (or the planner should decide again now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The replicated state changed.
#[derive(Message)]
#[rtype(result = "()")]
struct StateChanged;

impl Handler<StateChanged> for MigrationPlanner {
    type Result = ();
    fn handle(&mut self, _: StateChanged, ctx: &mut Self::Context) {
        if !self.cluster.is_leader() {
            return;
        }
        // A health verdict: migrate now, not at the next tick.
        if self.cluster.read(plan::failed_assignments) != self.failed {
            ctx.notify(Wake);
            return;
        }
        let applied = self.applied_now();
        self.watch_destinations(&applied, ctx);
    }
}

impl Handler<Wake> for MigrationPlanner {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        if self.busy {
            self.again = true;
        } else {
            self.tick(ctx);
        }
    }
}

impl Actor for MigrationPlanner {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.every, |act, ctx| act.tick(ctx));
        // Every state change: a new drain is watched at once, not at the next tick.
        let (addr, mut versions) = (ctx.address(), self.cluster.versions());
        actix::spawn(async move {
            while versions.changed().await.is_ok() {
                if addr.try_send(StateChanged).is_err() {
                    break;
                }
            }
        });
    }
}

impl MigrationPlanner {
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let leader = self.cluster.is_leader();
        if leader && !self.was_leader {
            self.blocked.clear();
        }
        self.was_leader = leader;
        if !leader || self.busy {
            return;
        }
        self.failed = self.cluster.read(plan::failed_assignments);
        let applied = self.applied_now();
        self.watch_destinations(&applied, ctx);
        let now = (self.clock)();
        let d = self.cluster.read(|s| decide(s, &applied, now, &self.blocked));
        // A blocked pair that is no longer blocked may be reported again later.
        let still: BTreeSet<_> =
            self.cluster.read(|s| self.blocked.iter().filter(|(c, n)| s.candidates(c, Some(n)).is_empty()).cloned().collect());
        self.blocked = still;
        self.blocked.extend(d.newly_blocked);
        if d.commands.is_empty() {
            return;
        }
        self.busy = true;
        let cluster = self.cluster.clone();
        let fut = async move {
            for cmd in d.commands {
                let what = format!("{cmd:?}");
                match cluster.write(Request { at: now, user: "migration-planner".into(), cmd, idempotency: None }).await {
                    Ok(Ok(Outcome::PeersMigrated { count })) => log::info!("migrated {count} peer(s): {what}"),
                    Ok(Ok(_)) => log::info!("{}", what.split_whitespace().next().unwrap_or("done")),
                    Ok(Err(e)) => log::warn!("migration step refused: {e}"),
                    Err(e) => {
                        log::warn!("migration step not written: {e}");
                        break;
                    }
                }
            }
        };
        ctx.spawn(fut.into_actor(self).map(|_, act, ctx| {
            act.busy = false;
            if std::mem::take(&mut act.again) {
                act.tick(ctx);
            }
        }));
    }

    /// Opens a watch on every destination a pending drain waits for and no watch covers yet.
    fn watch_destinations(&mut self, applied: &AppliedVersions, ctx: &mut Context<Self>) {
        let awaited = self.cluster.read(|s| plan::awaited(s, applied));
        for (node, version) in plan::to_watch(&awaited, &self.watching) {
            let fut: BoxFuture<'static, Result<Option<u64>, String>> = if node == self.cluster.node_id {
                let local = self.local_applied.clone();
                Box::pin(async move {
                    let deadline = tokio::time::Instant::now() + WATCH_WAIT;
                    loop {
                        let v = local();
                        if v.is_none_or(|v| v >= version) || tokio::time::Instant::now() >= deadline {
                            return Ok(v);
                        }
                        tokio::time::sleep(LOCAL_POLL).await;
                    }
                })
            } else {
                let Some(watch) = self.watch.clone() else { continue };
                let Some(n) = self.cluster.read(|s| s.nodes.get(&node).cloned()) else { continue };
                watch.wait_applied(&n, version, WATCH_WAIT)
            };
            self.watching.insert(node.clone(), version);
            ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
                Ok(Some(v)) => {
                    if let Ok(mut a) = act.applied.write() {
                        a.insert(node.clone(), v);
                    }
                    act.unwatch(&node, version);
                    ctx.notify(Wake);
                }
                // No WireGuard there (nothing to wait for), or not reachable: ask again later.
                other => {
                    if let Err(e) = other {
                        log::debug!("drain: cannot ask {node} for its applied version: {e}");
                    }
                    ctx.run_later(WATCH_RETRY, move |act, _| act.unwatch(&node, version));
                }
            }));
        }
    }

    /// The applied versions the health monitor and the watches brought, and this router's own.
    fn applied_now(&self) -> AppliedVersions {
        let mut applied = self.applied.read().map(|a| a.clone()).unwrap_or_default();
        if let Some(v) = (self.local_applied)() {
            applied.insert(self.cluster.node_id.clone(), v);
        }
        applied
    }

    fn unwatch(&mut self, node: &NodeId, version: u64) {
        if self.watching.get(node) == Some(&version) {
            self.watching.remove(node);
        }
    }
}
