//! Audit log queries (`GET /api/audit-logs`): filter by entity type, entity id and action, newest
//! first, with limit and offset. Pure.

use crate::model::AuditEntry;

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

impl AuditFilter {
    fn matches(&self, e: &AuditEntry) -> bool {
        self.entity_type.as_deref().is_none_or(|t| t == e.entity_type)
            && self.entity_id.as_deref().is_none_or(|t| t == e.entity_id)
            && self.action.as_deref().is_none_or(|t| t == e.action)
    }
}

/// Matching entries, newest first, one page.
pub fn query<'a>(entries: impl DoubleEndedIterator<Item = &'a AuditEntry>, f: &AuditFilter) -> Vec<&'a AuditEntry> {
    entries.rev().filter(|e| f.matches(e)).skip(f.offset).take(f.limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64, action: &str, et: &str, eid: &str) -> AuditEntry {
        AuditEntry {
            id,
            timestamp: id,
            action: action.into(),
            entity_type: et.into(),
            entity_id: eid.into(),
            details: "{}".into(),
            user: "admin".into(),
        }
    }

    #[test]
    fn table() {
        let log = [
            e(1, "node_assigned", "config_node", "wg0:node1"),
            e(2, "node_assigned", "config_node", "wg0:node2"),
            e(3, "dns_updated", "endpoint_group", "wg0"),
            e(4, "node_removed", "config_node", "wg0:node2"),
        ];
        let f = |et: Option<&str>, eid: Option<&str>, a: Option<&str>, limit, offset| AuditFilter {
            entity_type: et.map(Into::into),
            entity_id: eid.map(Into::into),
            action: a.map(Into::into),
            limit,
            offset,
        };
        let cases: Vec<(AuditFilter, Vec<u64>)> = vec![
            (f(None, None, None, 100, 0), vec![4, 3, 2, 1]),
            (f(Some("config_node"), None, None, 100, 0), vec![4, 2, 1]),
            (f(None, Some("wg0:node2"), None, 100, 0), vec![4, 2]),
            (f(None, None, Some("dns_updated"), 100, 0), vec![3]),
            (f(Some("config_node"), None, Some("node_assigned"), 1, 1), vec![1]),
            (f(None, None, None, 2, 3), vec![1]),
            (f(None, None, Some("nothing"), 100, 0), vec![]),
        ];
        for (filter, want) in cases {
            let got: Vec<u64> = query(log.iter(), &filter).iter().map(|x| x.id).collect();
            assert_eq!(got, want, "{filter:?}");
        }
    }
}
