//! Peer list queries (`GET /api/configs/{c}/peers?limit&offset&node_id&enabled&q`): filters by home
//! node, enabled flag and name prefix, and one page with the total of matches. Pure; one pass over
//! the config's peers, cloning only the page.

use crate::model::{NodeId, Peer};

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerFilter {
    pub node_id: Option<NodeId>,
    pub enabled: Option<bool>,
    /// A prefix of the name (case-sensitive, as names are stored).
    pub name_prefix: Option<String>,
}

impl PeerFilter {
    pub fn matches(&self, p: &Peer) -> bool {
        self.node_id.as_ref().is_none_or(|n| p.node_id.as_ref() == Some(n))
            && self.enabled.is_none_or(|e| p.enabled == e)
            && self.name_prefix.as_deref().is_none_or(|q| p.name.starts_with(q))
    }
}

/// The matching peers from `offset`, at most `limit` of them (all when `limit` is None), in the
/// order given (peer id order: stable between pages), and how many match in all.
pub fn page<'a>(peers: impl Iterator<Item = &'a Peer>, f: &PeerFilter, offset: usize, limit: Option<usize>) -> (Vec<&'a Peer>, usize) {
    let mut total = 0;
    let mut out = Vec::with_capacity(limit.unwrap_or(0).min(MAX_LIMIT));
    for p in peers.filter(|p| f.matches(p)) {
        if total >= offset && limit.is_none_or(|l| out.len() < l) {
            out.push(p);
        }
        total += 1;
    }
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{generate_keypair, ConfigName, PeerId};

    fn peer(i: u32, name: &str, node: Option<&str>, enabled: bool) -> Peer {
        Peer {
            id: PeerId::parse("id", &format!("p{i:04}")).unwrap(),
            config: ConfigName::parse("c", "wg0").unwrap(),
            name: name.into(),
            public_key: generate_keypair().1,
            private_key: None,
            preshared_key: None,
            addresses: vec![],
            allowed_ips: vec![],
            keepalive: None,
            enabled,
            node_id: node.map(|n| NodeId::parse("n", n).unwrap()),
            draining_from: None,
            created_at: 0,
            updated_at: 0,
            limits: Default::default(),
            limited: None,
            limit_override: false,
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // the case table
    fn table() {
        let peers = [
            peer(1, "alice-phone", Some("r1"), true),
            peer(2, "alice-laptop", Some("r2"), false),
            peer(3, "bob", Some("r1"), true),
            peer(4, "carol", None, true),
            peer(5, "Alice", Some("r1"), true),
        ];
        let f = |node: Option<&str>, enabled: Option<bool>, q: Option<&str>| PeerFilter {
            node_id: node.map(|n| NodeId::parse("n", n).unwrap()),
            enabled,
            name_prefix: q.map(Into::into),
        };
        // (filter, offset, limit) → (ids of the page, total)
        let cases: &[(PeerFilter, usize, Option<usize>, &[u32], usize)] = &[
            (f(None, None, None), 0, None, &[1, 2, 3, 4, 5], 5),
            (f(None, None, None), 0, Some(2), &[1, 2], 5),
            (f(None, None, None), 2, Some(2), &[3, 4], 5),
            (f(None, None, None), 4, Some(2), &[5], 5),
            (f(None, None, None), 9, Some(2), &[], 5),
            (f(Some("r1"), None, None), 0, None, &[1, 3, 5], 3),
            (f(Some("r1"), None, None), 1, Some(1), &[3], 3),
            (f(None, Some(false), None), 0, None, &[2], 1),
            (f(None, None, Some("alice")), 0, None, &[1, 2], 2),
            (f(Some("r1"), Some(true), Some("alice")), 0, None, &[1], 1),
            (f(Some("r9"), None, None), 0, Some(10), &[], 0),
            (f(None, None, Some("")), 0, Some(1), &[1], 5),
        ];
        for (filter, offset, limit, want, total) in cases {
            let (got, n) = page(peers.iter(), filter, *offset, *limit);
            let ids: Vec<String> = got.iter().map(|p| p.id.to_string()).collect();
            let want: Vec<String> = want.iter().map(|i| format!("p{i:04}")).collect();
            assert_eq!((ids, n), (want, *total), "{filter:?} {offset} {limit:?}");
        }
    }
}
