//! The audit action names: one enum, so apply, the API's filter check, `GET
//! /api/audit-logs/actions` and the LuCI filter all read the same list. Stored entries keep the
//! string (`as_str`); the strings are a contract (DESIGN §6, the audit log), never renamed.

macro_rules! audit_actions {
    ($($variant:ident => $name:literal,)*) => {
        /// What an audit entry records. `as_str` is the stored and published name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in the order the API lists them.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The name stored in `AuditEntry::action`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

audit_actions! {
    ClusterInitialized => "cluster_initialized",
    NodeRegistered => "node_registered",
    NodeCreated => "node_created",
    NodeUpdated => "node_updated",
    NodeDeleted => "node_deleted",
    NodeAssigned => "node_assigned",
    NodeRemoved => "node_removed",
    NodeHealthChanged => "node_health_changed",
    NodeJoined => "node_joined",
    JoinTokenCreated => "join_token_created",
    MemberRemoved => "member_removed",
    ConfigCreated => "config_created",
    ConfigUpdated => "config_updated",
    ConfigDeleted => "config_deleted",
    EndpointGroupUpdated => "endpoint_group_updated",
    EndpointGroupDeleted => "endpoint_group_deleted",
    PeerCreated => "peer_created",
    PeerUpdated => "peer_updated",
    PeerDeleted => "peer_deleted",
    PeerMigrated => "peer_migrated",
    PeerPrivateKeyRead => "peer_private_key_read",
    ConfigPrivateKeyRead => "config_private_key_read",
    PeersRebalanced => "peers_rebalanced",
    DrainCompleted => "drain_completed",
    MigrationBlocked => "migration_blocked",
    BackupCreated => "backup_created",
    DnsUpdated => "dns_updated",
    DnsFailed => "dns_failed",
    DnsSettingsUpdated => "dns_settings_updated",
    SettingsUpdated => "settings_updated",
    PeerLimitReached => "peer_limit_reached",
    DnsDriftCorrected => "dns_drift_corrected",
    DnsRecordsRemoved => "dns_records_removed",
}

impl AuditAction {
    /// The action of a stored or requested name; None for a name no apply writes.
    pub fn parse(name: &str) -> Option<AuditAction> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;
    use std::collections::BTreeSet;
    use std::path::Path;

    #[test]
    fn every_action_round_trips_and_names_are_unique() {
        let mut names = BTreeSet::new();
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a), "{a:?}");
            assert_eq!(a.to_string(), a.as_str());
            assert!(names.insert(a.as_str()), "duplicate audit action name {}", a.as_str());
            let ok = !a.as_str().is_empty() && a.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            assert!(ok, "{:?}: names are lower_snake_case", a.as_str());
        }
        assert_eq!(AuditAction::parse("peer created"), None);
        assert_eq!(AuditAction::parse(""), None);
    }

    /// DESIGN §6 names these; they must stay exactly as they are.
    #[test]
    fn the_designed_names_are_kept() {
        for n in [
            "node_assigned",
            "node_removed",
            "peer_created",
            "peer_updated",
            "peer_deleted",
            "peer_migrated",
            "node_health_changed",
            "dns_updated",
            "dns_failed",
            "endpoint_group_updated",
            "config_created",
            "config_deleted",
            "backup_created",
        ] {
            assert!(AuditAction::parse(n).is_some(), "{n} missing");
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// 32-bit MIPS has no 64-bit atomic instructions: 64-bit atomics come from `portable_atomic`
    /// everywhere (ARCHITECTURE.md, "CPUs and 64-bit atomics"), never from `std`, in both crates
    /// (a `std` one builds on the host and breaks only the mipsel/mips cross builds).
    #[test]
    fn no_std_64_bit_atomics() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("../daemon/src"), &mut files);
        assert!(files.len() > 20, "scanned too few files: {files:?}");
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("source");
            for line in text.lines().filter(|l| l.contains(&["std::sync::", "atomic"].concat())) {
                if ["AtomicU64", "AtomicI64"].iter().any(|t| line.contains(t)) {
                    bad.push(format!("{}: {}", f.display(), line.trim()));
                }
            }
        }
        assert!(bad.is_empty(), "64-bit atomics from std (use portable_atomic): {bad:?}");
    }

    /// The list cannot drift again: no call of `State::audit` in `actors/src` names its action with
    /// a string literal (every call passes an `AuditAction`).
    #[test]
    fn no_audit_call_names_its_action_with_a_string_literal() {
        let mut files = Vec::new();
        rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(files.len() > 10, "scanned too few files: {files:?}");
        let needle = ["self", ".audit("].concat();
        let mut calls = 0;
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("source");
            for (at, _) in text.match_indices(&needle) {
                calls += 1;
                // The call's first three arguments: at, user, action.
                let args: String = text[at + needle.len()..].chars().take_while(|c| *c != ';').collect();
                let third = args.split(',').nth(2).unwrap_or("").trim();
                if !third.starts_with("AuditAction::") {
                    bad.push(format!("{}: {}", f.display(), third));
                }
            }
        }
        assert!(calls >= AuditAction::ALL.len(), "found only {calls} audit calls");
        assert!(bad.is_empty(), "audit calls without an AuditAction: {bad:?}");
    }
}
