//! `AuditLog` — answers audit queries. The entries themselves are written by `State::apply` in the
//! same command as the change they describe (so none can be lost between a change and its entry);
//! this actor only reads them, filtered and paged, newest first.
//!
//! Owns: nothing mutable. Receives: `QueryAudit`. Replies: the matching entries.

use crate::model::AuditEntry;
use crate::raft::ClusterHandle;
use crate::state::audit_query::{query, AuditFilter};
use actix::prelude::*;

pub struct AuditLog {
    cluster: ClusterHandle,
}

impl AuditLog {
    pub fn new(cluster: ClusterHandle) -> Self {
        Self { cluster }
    }
}

impl Actor for AuditLog {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "Vec<AuditEntry>")]
pub struct QueryAudit(pub AuditFilter);

impl Handler<QueryAudit> for AuditLog {
    type Result = MessageResult<QueryAudit>;
    fn handle(&mut self, q: QueryAudit, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.cluster.read(|s| query(s.audit.iter(), &q.0).into_iter().cloned().collect()))
    }
}
