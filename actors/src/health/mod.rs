//! `HealthMonitor` — on the panel (leader) only: probes every router on an interval, applies
//! hysteresis (`hysteresis`), and turns verdict changes into `SetNodeHealth` commands (node level
//! and each of its config assignments; each change is audited by apply). Leaves run nothing.
//! Probes time out after `budget::probe_timeout_ms` of the interval, so the detection budget
//! (`budget::detection_budget_ms`) holds at sub-second intervals too.
//!
//! Owns: one `Tracker` per node (reset whenever this router gains leadership); writes the applied
//! versions it reads into the map the migration planner reads. Receives: its own
//! `Tick` (interval from the replicated settings). Sends: commands through `ClusterHandle::write`;
//! probes through a `HealthProbe`.
//!
//! What is probed: registered routers other than this one, and pre-registered routers that have a
//! `cluster_addr`. A pre-registered router without an address has not joined yet and keeps its
//! assumed health. This router is healthy by definition while it runs.

pub mod budget;
pub mod hysteresis;

use crate::model::{Millis, Node, NodeId};
use crate::raft::ClusterHandle;
use crate::state::{Command, Request};
use actix::prelude::*;
use futures_util::future::BoxFuture;
use hysteresis::{Thresholds, Tracker};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How the panel asks a router whether it is alive.
pub trait HealthProbe: Send + Sync + 'static {
    /// `Ok(applied)` the router answered `/v1/health` (with the state version its WireGuard
    /// reconciler has applied, when it runs one) within `timeout`; `Err(why)` it did not.
    fn probe(&self, node: &Node, timeout: Duration) -> BoxFuture<'static, Result<Option<u64>, String>>;
}

pub struct HealthMonitor {
    cluster: ClusterHandle,
    applied: crate::migration::SharedApplied,
    probe: Arc<dyn HealthProbe>,
    trackers: BTreeMap<NodeId, Tracker>,
    was_leader: bool,
    busy: bool,
    clock: fn() -> Millis,
}

impl HealthMonitor {
    pub fn new(
        cluster: ClusterHandle,
        probe: Arc<dyn HealthProbe>,
        applied: crate::migration::SharedApplied,
        clock: fn() -> Millis,
    ) -> Self {
        Self { cluster, applied, probe, trackers: BTreeMap::new(), was_leader: false, busy: false, clock }
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        let ms = self.cluster.read(|s| s.settings.probe_interval_ms).max(200);
        ctx.notify_later(Tick, Duration::from_millis(ms));
    }
}

impl Actor for HealthMonitor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.schedule(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

/// The results of one round of probes.
#[derive(Message)]
#[rtype(result = "()")]
struct Probed(Vec<(NodeId, Result<Option<u64>, String>)>);

impl Handler<Tick> for HealthMonitor {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        self.schedule(ctx);
        let leader = self.cluster.is_leader();
        if leader && !self.was_leader {
            self.trackers.clear();
        }
        self.was_leader = leader;
        if !leader || self.busy {
            return;
        }
        let me = self.cluster.node_id.clone();
        let targets: Vec<Node> =
            self.cluster.read(|s| s.nodes.values().filter(|n| n.id != me && (n.registered || n.cluster_addr.is_some())).cloned().collect());
        if targets.is_empty() {
            return;
        }
        self.busy = true;
        let probe = self.probe.clone();
        let timeout = Duration::from_millis(budget::probe_timeout_ms(self.cluster.read(|s| s.settings.probe_interval_ms)));
        let fut = async move {
            let futs: Vec<_> = targets.iter().map(|n| probe.probe(n, timeout)).collect();
            let results = futures_util::future::join_all(futs).await;
            targets.into_iter().map(|n| n.id).zip(results).collect::<Vec<_>>()
        };
        ctx.spawn(fut.into_actor(self).map(|res, _act, ctx| ctx.notify(Probed(res))));
    }
}

impl Handler<Probed> for HealthMonitor {
    type Result = ();
    fn handle(&mut self, Probed(results): Probed, ctx: &mut Self::Context) {
        self.busy = false;
        let t = self.cluster.read(|s| Thresholds { unhealthy_after: s.settings.unhealthy_after, healthy_after: s.settings.healthy_after });
        let mut cmds = Vec::new();
        if let Ok(mut a) = self.applied.write() {
            for (id, res) in &results {
                if let Ok(Some(v)) = res {
                    a.insert(id.clone(), *v);
                }
            }
        }
        for (id, res) in results {
            let current = self.cluster.read(|s| s.nodes.get(&id).map(|n| n.healthy));
            let Some(current) = current else { continue };
            let tr = self.trackers.entry(id.clone()).or_insert_with(|| Tracker::new(current));
            let flipped = tr.observe(res.is_ok(), t);
            // Without a flip, the tracker and the replicated verdict still disagree when an
            // earlier verdict was never written (its write failed in a leadership blip shorter
            // than a tick, so the trackers were kept): propose it again rather than lose it for
            // good. A duplicate of a verdict still in flight is applied as `Unchanged`.
            let verdict = flipped.or_else(|| (tr.healthy != current).then_some(tr.healthy));
            if let Some(healthy) = verdict {
                let reason = match &res {
                    _ if flipped.is_none() => "re-proposed: the earlier verdict was not recorded".to_string(),
                    Ok(_) => format!("{} good probes in a row", t.healthy_after),
                    Err(e) => format!("{} failed probes in a row; last: {e}", t.unhealthy_after),
                };
                log::info!("node {id} is now {}: {reason}", if healthy { "healthy" } else { "unhealthy" });
                cmds.push(Command::SetNodeHealth { node_id: id.clone(), config: None, healthy, reason: reason.clone() });
                let configs: Vec<_> =
                    self.cluster.read(|s| s.config_nodes.values().filter(|cn| cn.node_id == id).map(|cn| cn.config.clone()).collect());
                for c in configs {
                    cmds.push(Command::SetNodeHealth { node_id: id.clone(), config: Some(c), healthy, reason: reason.clone() });
                }
            }
        }
        if cmds.is_empty() {
            return;
        }
        let cluster = self.cluster.clone();
        let at = (self.clock)();
        ctx.spawn(
            async move {
                for cmd in cmds {
                    let req = Request { at, user: "health-monitor".into(), cmd, idempotency: None };
                    match cluster.write(req).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => log::warn!("health verdict refused: {e}"),
                        Err(e) => log::warn!("health verdict not written: {e}"),
                    }
                }
            }
            .into_actor(self),
        );
    }
}
