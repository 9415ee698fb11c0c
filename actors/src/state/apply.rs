//! `State::apply`: the one entry point the state machine calls, dispatching to the per-area apply
//! functions. Every function checks everything first and mutates after, so an error leaves the
//! state untouched (the tests compare the whole state before and after).

use super::*;

impl State {
    pub fn apply(&mut self, req: &Request) -> Response {
        self.version += 1;
        let at = req.at;
        let user = req.user.as_str();
        if let Some(idem) = &req.idempotency {
            if idem.key.is_empty() || idem.key.len() > idempotency::MAX_KEY_LEN {
                return Err(CommandError::Invalid {
                    field: "Idempotency-Key".into(),
                    reason: format!("must be 1 to {} characters", idempotency::MAX_KEY_LEN),
                });
            }
            match self.idempotency.seen(user, idem, at) {
                idempotency::Seen::New => {}
                idempotency::Seen::Repeat(first) => return Ok(Outcome::Replayed(Box::new(first.clone()))),
                idempotency::Seen::OtherRequest(first_at) => {
                    return Err(CommandError::Conflict(format!(
                        "Idempotency-Key '{}' was first used {} s earlier for a different request (another method, path or body); \
                         use a new key for a new request",
                        idem.key,
                        at.saturating_sub(first_at) / 1000
                    )))
                }
            }
        }
        let resp = self.dispatch(at, user, &req.cmd);
        if let Ok(outcome) = &resp {
            if !keeps_peer_index(&req.cmd) {
                self.index.clear();
            }
            if let Some(change) = journal_change(&req.cmd, outcome) {
                self.journal.record(change);
            }
            if let Some(idem) = &req.idempotency {
                self.idempotency.record(user, idem, at, outcome);
            }
        }
        resp
    }

    fn dispatch(&mut self, at: Millis, user: &str, cmd: &Command) -> Response {
        match cmd {
            Command::Bootstrap { token, node, ca, serial } => self.bootstrap(at, user, token, node, ca.as_ref(), *serial),
            Command::IssueJoinToken { sha256, expires_at } => self.issue_join_token(at, user, sha256, *expires_at),
            Command::AdmitNode { token_sha256, node, serial } => self.admit_node(at, user, token_sha256, node, *serial),
            Command::RevokeMember { node_id } => self.revoke_member(at, user, node_id),
            Command::RegisterNode { node } => self.register_node(at, user, node),
            Command::CreateNode { node, weight } => self.create_node(at, user, node, *weight),
            Command::UpdateNode { id, patch } => self.update_node(at, user, id, patch),
            Command::DeleteNode { id } => self.delete_node(at, user, id),
            Command::CreateConfig { config } => self.create_config(at, user, config),
            Command::UpdateConfig { name, patch } => self.update_config(at, user, name, patch),
            Command::DeleteConfig { name, force } => self.delete_config(at, user, name, *force),
            Command::AssignNode { config, node_id } => self.assign_node(at, user, config, node_id),
            Command::RemoveNode { config, node_id, backup_interface, backup_note } => {
                self.remove_node(at, user, config, node_id, backup_interface.clone(), backup_note)
            }
            Command::SetEndpointGroup { group } => self.set_endpoint_group(at, user, group),
            Command::DeleteEndpointGroup { config } => self.delete_endpoint_group(at, user, config),
            Command::CreatePeers { config, peers } => self.create_peers(at, user, config, peers),
            Command::UpdatePeer { config, id, patch } => self.update_peer(at, user, config, id, patch),
            Command::DeletePeer { config, id } => self.delete_peer(at, user, config, id),
            Command::MigratePeers { config, from, to } => self.migrate_peers(at, user, config, from, to.as_ref()),
            Command::Rebalance { config } => self.rebalance(at, user, config),
            Command::CompleteDrain { config, node_id } => self.complete_drain(at, user, config, node_id),
            Command::ReportMigrationBlocked { config, node_id, reason } => self.report_blocked(at, user, config, node_id, reason),
            Command::SetNodeHealth { node_id, config, healthy, reason } => {
                self.set_node_health(at, user, node_id, config.as_ref(), *healthy, reason)
            }
            Command::SetDnsSettings { cloudflare, rfc2136, reconcile_interval_s } => {
                self.set_dns_settings(at, user, cloudflare, rfc2136, *reconcile_interval_s)
            }
            Command::RecordDnsSync { config, published, degraded, changed, error } => {
                self.record_dns_sync(at, user, config, published, *degraded, *changed, error.as_deref())
            }
            Command::RecordSecretRead { config, peer, via } => self.record_secret_read(at, user, config, peer.as_ref(), via),
            Command::SetHealthSettings { probe_interval_ms, unhealthy_after, healthy_after, auto_migrate_independent } => {
                self.set_health_settings(at, user, *probe_interval_ms, *unhealthy_after, *healthy_after, *auto_migrate_independent)
            }
            Command::RecordUsage { reports } => self.record_usage(at, user, reports),
            Command::SetUsageSettings { interval_s, metrics_per_peer } => self.set_usage_settings(at, user, *interval_s, *metrics_per_peer),
            Command::RecordDnsDrift { config, published, degraded, drift } => {
                self.record_dns_drift(at, user, config, published, *degraded, drift)
            }
            Command::CompleteDnsRemoval { key, removed } => self.complete_dns_removal(at, user, key, removed),
            Command::SetEndpointGroupVip { group, vip } => self.set_endpoint_group_vip(at, user, group, vip.as_ref()),
        }
    }

    pub(super) fn config_or_404(&self, name: &ConfigName) -> Result<&Config, CommandError> {
        self.configs.get(name).ok_or_else(|| CommandError::not_found("config", name))
    }

    pub(super) fn node_or_404(&self, id: &NodeId) -> Result<&Node, CommandError> {
        self.nodes.get(id).ok_or_else(|| CommandError::not_found("node", id))
    }
}

/// What a successful command touched, for the state's derived data (the peer index, `index.rs`,
/// and the change journal, `journal.rs`). Refused commands change nothing and touch nothing. A
/// new command must take a side here (the match is exhaustive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Touches {
    /// No peer, config, assignment, endpoint group or drain.
    Nothing,
    /// Peers only, one by one (the index and the journal follow them).
    Peers,
    /// Mode A/B (an endpoint group): every router's desired peers, but no address or home node.
    Mode,
    /// Configs, assignments, homes of many peers, drains, the cluster itself: rebuild.
    Structure,
}

fn touches(cmd: &Command) -> Touches {
    match cmd {
        Command::CreatePeers { .. } | Command::UpdatePeer { .. } | Command::DeletePeer { .. } => Touches::Peers,
        Command::IssueJoinToken { .. }
        | Command::RevokeMember { .. }
        | Command::RegisterNode { .. }
        | Command::CreateNode { .. }
        | Command::UpdateNode { .. }
        | Command::ReportMigrationBlocked { .. }
        | Command::SetNodeHealth { .. }
        | Command::SetDnsSettings { .. }
        | Command::RecordDnsSync { .. }
        | Command::RecordDnsDrift { .. }
        | Command::CompleteDnsRemoval { .. }
        | Command::RecordSecretRead { .. }
        | Command::SetHealthSettings { .. }
        | Command::SetUsageSettings { .. } => Touches::Nothing,
        // Usage itself is no peer data; a limit that disables peers is handled in `journal_change`.
        Command::RecordUsage { .. } => Touches::Peers,
        Command::SetEndpointGroup { .. } | Command::SetEndpointGroupVip { .. } | Command::DeleteEndpointGroup { .. } => Touches::Mode,
        Command::Bootstrap { .. }
        | Command::AdmitNode { .. }
        | Command::DeleteNode { .. }
        | Command::AssignNode { .. }
        | Command::CreateConfig { .. }
        | Command::UpdateConfig { .. }
        | Command::DeleteConfig { .. }
        | Command::RemoveNode { .. }
        | Command::MigratePeers { .. }
        | Command::Rebalance { .. }
        | Command::CompleteDrain { .. } => Touches::Structure,
    }
}

/// Whether the peer index is still right after `cmd` succeeded: the peer commands keep it current
/// themselves; a Mode change moves no address or home; anything structural drops it (rebuilt on
/// the next use).
fn keeps_peer_index(cmd: &Command) -> bool {
    touches(cmd) != Touches::Structure
}

/// What a successful command changed for views derived from peers (`journal.rs`): the peers it
/// created, changed or deleted; nothing; or `All` (the view rebuilds).
fn journal_change(cmd: &Command, outcome: &Outcome) -> Option<journal::Change> {
    use journal::Change;
    match (touches(cmd), cmd, outcome) {
        (Touches::Nothing, ..) => None,
        (_, Command::RecordUsage { .. }, Outcome::UsageRecorded { limited, .. }) if limited.is_empty() => None,
        (_, Command::RecordUsage { .. }, _) => Some(Change::All),
        (Touches::Peers, Command::CreatePeers { config, .. }, Outcome::PeersCreated { ids }) => {
            Some(Change::Peers { config: config.clone(), ids: ids.clone() })
        }
        (Touches::Peers, Command::UpdatePeer { config, id, .. } | Command::DeletePeer { config, id }, _) => {
            Some(Change::Peers { config: config.clone(), ids: vec![id.clone()] })
        }
        _ => Some(Change::All),
    }
}
