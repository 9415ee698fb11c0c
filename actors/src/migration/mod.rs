//! `MigrationPlanner` — on the panel (leader) only: every tick it asks the pure `plan::decide`
//! what to do (migrate peers off failed nodes, complete drains whose destinations have applied
//! the moves, report blocked migrations once) and proposes those commands. Everything it decides
//! from is replicated state plus the applied versions the health monitor collects, so a new panel
//! picks up a migration or drain exactly where the old one left it (resumable).
//!
//! Owns: the set of blocked (config, node) pairs already reported (reset on gaining leadership).
//! Receives: its own `Tick`. Sends: commands through `ClusterHandle::write`.

pub mod plan;

use crate::model::{ConfigName, Millis, NodeId};
use crate::raft::ClusterHandle;
use crate::state::{Outcome, Request};
use actix::prelude::*;
use plan::{decide, AppliedVersions};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Applied versions of every router, shared between the health monitor (writer) and the planner.
pub type SharedApplied = Arc<RwLock<AppliedVersions>>;

pub struct MigrationPlanner {
    cluster: ClusterHandle,
    applied: SharedApplied,
    /// This router's own applied version (its reconciler), when it carries WireGuard.
    local_applied: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
    blocked: BTreeSet<(ConfigName, NodeId)>,
    was_leader: bool,
    busy: bool,
    clock: fn() -> Millis,
    every: Duration,
}

impl MigrationPlanner {
    pub fn new(
        cluster: ClusterHandle,
        applied: SharedApplied,
        local_applied: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
        clock: fn() -> Millis,
        every: Duration,
    ) -> Self {
        Self { cluster, applied, local_applied, blocked: BTreeSet::new(), was_leader: false, busy: false, clock, every }
    }
}

impl Actor for MigrationPlanner {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.every, |act, ctx| act.tick(ctx));
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
        let mut applied = self.applied.read().map(|a| a.clone()).unwrap_or_default();
        if let Some(v) = (self.local_applied)() {
            applied.insert(self.cluster.node_id.clone(), v);
        }
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
        ctx.spawn(fut.into_actor(self).map(|_, act, _| act.busy = false));
    }
}
