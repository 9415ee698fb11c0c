//! Applying cluster-membership commands: join tokens (hash only, single use, expiring), admitting a
//! router that presented one, and revoking a router's certificates.

use super::*;
use crate::model::AuditAction;
use serde_json::json;

impl State {
    /// True when a certificate with this serial was issued to `node` and is not revoked.
    pub fn cert_allowed(&self, node: &str, serial: u64) -> bool {
        self.member_certs.get(&serial).is_some_and(|c| !c.revoked && c.node_id.as_str() == node)
    }

    /// The one revocation check of the cluster listener (TLS handshake and every request): a
    /// certificate of the cluster CA is refused when the replicated state says it was revoked or
    /// issued to another router. A deny-list: a serial the state does not know yet passes, so a
    /// fresh joiner whose state is still empty can talk to the cluster while it catches up.
    pub fn cert_refused(&self, node: &str, serial: u64) -> bool {
        self.member_certs.get(&serial).is_some_and(|c| c.revoked || c.node_id.as_str() != node)
    }

    pub(super) fn issue_join_token(&mut self, at: Millis, user: &str, sha256: &str, expires_at: Millis) -> Response {
        if expires_at <= at {
            return Err(CommandError::Invalid { field: "expires_at".into(), reason: "is in the past".into() });
        }
        // Expired tokens are dropped whenever a new one is issued, so the list stays short.
        self.join_tokens.retain(|t| t.expires_at > at);
        self.join_tokens.push(JoinTokenRecord { sha256: sha256.to_string(), expires_at, created_by: user.to_string() });
        self.audit(at, user, AuditAction::JoinTokenCreated, "cluster", "join_token", json!({ "expires_at": expires_at }));
        Ok(Outcome::Done)
    }

    pub(super) fn admit_node(&mut self, at: Millis, user: &str, token_sha256: &str, node: &NodeSpec, serial: u64) -> Response {
        super::apply_nodes::check_spec_name(node)?;
        let Some(pos) = self.join_tokens.iter().position(|t| t.sha256 == token_sha256) else {
            return Err(CommandError::Conflict("the join token is unknown or was already used".into()));
        };
        if self.join_tokens[pos].expires_at <= at {
            return Err(CommandError::Conflict("the join token has expired".into()));
        }
        if self.member_certs.contains_key(&serial) {
            return Err(CommandError::Conflict(format!("certificate serial {serial} was already issued")));
        }
        if self.member_certs.values().any(|c| c.node_id == node.id && !c.revoked) {
            return Err(CommandError::Conflict(format!("router '{}' is already a member", node.id)));
        }
        self.join_tokens.remove(pos);
        self.member_certs.insert(serial, MemberCert { node_id: node.id.clone(), serial, revoked: false });
        self.next_cert_serial = self.next_cert_serial.max(serial + 1);
        match self.nodes.get_mut(&node.id) {
            Some(n) => {
                n.registered = true;
                n.cluster_addr = node.cluster_addr.clone().or(n.cluster_addr.take());
                n.endpoint = node.endpoint.clone().or(n.endpoint.take());
                n.healthy = true;
                n.updated_at = at;
            }
            None => self.insert_node(at, node, 1, true),
        }
        let details = json!({ "cluster_addr": node.cluster_addr, "endpoint": node.endpoint, "serial": serial });
        self.audit(at, user, AuditAction::NodeJoined, "node", node.id.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn revoke_member(&mut self, at: Millis, user: &str, node_id: &NodeId) -> Response {
        let mut n = 0;
        for c in self.member_certs.values_mut().filter(|c| &c.node_id == node_id && !c.revoked) {
            c.revoked = true;
            n += 1;
        }
        if n == 0 {
            return Err(CommandError::not_found("cluster member", node_id));
        }
        if let Some(node) = self.nodes.get_mut(node_id) {
            node.registered = false;
            node.updated_at = at;
        }
        self.audit(at, user, AuditAction::MemberRemoved, "node", node_id.as_str(), json!({ "certificates_revoked": n }));
        Ok(Outcome::Done)
    }
}
