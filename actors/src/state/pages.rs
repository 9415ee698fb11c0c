//! `PeerPages`: each config's peer count and every [`STRIDE`]-th of its peer ids (in id order),
//! derived from the state once per state version and cached, so that a page of an unfiltered peer
//! list and a config's peer count do not walk every peer of every config (#13: a page of 100 at
//! 20,000 peers walked 20,000 peers, touching each one's config name: ~6 ms of cache misses). Not
//! replicated; the cache lives beside the state behind its own lock and is rebuilt by the first
//! read after a change (one pass, the cost a page had before). Memory: one id per `STRIDE` peers.

use super::peer_query::{self, PeerFilter};
use super::State;
use crate::model::{ConfigName, Peer, PeerId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Peers between two marks: a page starts at most this many of the config's peers past a mark.
pub const STRIDE: usize = 128;

/// The cached `PeerPages` of one state version. Clones and comparisons ignore it (it is derived).
#[derive(Default)]
pub struct PageCache(Mutex<Option<Arc<PeerPages>>>);

impl Clone for PageCache {
    fn clone(&self) -> Self {
        PageCache::default()
    }
}

impl PartialEq for PageCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PageCache {}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageCache")
    }
}

pub struct PeerPages {
    /// The state version and peer count it was built from.
    version: u64,
    peers: usize,
    configs: HashMap<ConfigName, ConfigPages>,
}

struct ConfigPages {
    total: usize,
    /// `marks[i]`: the id of the config's `i × STRIDE`-th peer.
    marks: Vec<PeerId>,
}

impl PeerPages {
    fn build(s: &State) -> PeerPages {
        let mut configs: HashMap<ConfigName, ConfigPages> = HashMap::new();
        for (id, p) in &s.peers {
            let c = configs.entry(p.config.clone()).or_insert_with(|| ConfigPages { total: 0, marks: Vec::new() });
            if c.total.is_multiple_of(STRIDE) {
                c.marks.push(id.clone());
            }
            c.total += 1;
        }
        PeerPages { version: s.version, peers: s.peers.len(), configs }
    }
}

impl State {
    fn peer_pages(&self) -> Arc<PeerPages> {
        let mut cached = self.pages.0.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some(p) if p.version == self.version && p.peers == self.peers.len() => p.clone(),
            _ => {
                let p = Arc::new(PeerPages::build(self));
                *cached = Some(p.clone());
                p
            }
        }
    }

    /// How many peers `config` has.
    pub fn config_peer_count(&self, config: &ConfigName) -> usize {
        self.peer_pages().configs.get(config).map_or(0, |c| c.total)
    }

    /// `peer_query::page` over `config`'s peers, from the marks when there is no filter.
    pub fn peer_page<'a>(&'a self, config: &'a ConfigName, filter: &PeerFilter, offset: usize, limit: usize) -> (Vec<&'a Peer>, usize) {
        if *filter != PeerFilter::default() {
            return peer_query::page(self.peers_of(config), filter, offset, Some(limit));
        }
        let pages = self.peer_pages();
        let Some(c) = pages.configs.get(config) else { return (Vec::new(), 0) };
        let Some(mark) = c.marks.get(offset / STRIDE) else { return (Vec::new(), c.total) };
        let items =
            self.peers.range(mark.clone()..).map(|(_, p)| p).filter(|p| &p.config == config).skip(offset % STRIDE).take(limit).collect();
        (items, c.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{generate_keypair, NodeId};
    use proptest::prelude::*;

    fn peer(i: usize, config: &str) -> Peer {
        Peer {
            id: PeerId::parse("id", &format!("p{i:05}")).unwrap(),
            config: ConfigName::parse("c", config).unwrap(),
            name: format!("n{i}"),
            public_key: generate_keypair().1,
            private_key: None,
            preshared_key: None,
            addresses: vec![],
            allowed_ips: vec![],
            keepalive: None,
            enabled: !i.is_multiple_of(3),
            node_id: Some(NodeId::parse("n", if i.is_multiple_of(2) { "r1" } else { "r2" }).unwrap()),
            draining_from: None,
            created_at: 0,
            updated_at: 0,
            limits: Default::default(),
            limited: None,
            limit_override: false,
        }
    }

    proptest! {
        /// A page from the marks equals the one-pass page, for any mix of configs, offset and
        /// limit, also after the state changed (the cache follows the version).
        #[test]
        fn pages_equal_the_scan(configs in prop::collection::vec(0usize..3, 0..700), offset in 0usize..800,
                                limit in 1usize..300, drop in 0usize..50) {
            let names = ["wg0", "wg1", "wg2"];
            let mut s = State::default();
            for (i, c) in configs.iter().enumerate() {
                let p = peer(i, names[*c]);
                s.peers.insert(p.id.clone(), p);
            }
            for round in 0..2 {
                for name in names {
                    let c = ConfigName::parse("c", name).unwrap();
                    let want = peer_query::page(s.peers_of(&c), &PeerFilter::default(), offset, Some(limit));
                    let got = s.peer_page(&c, &PeerFilter::default(), offset, limit);
                    let ids = |v: &Vec<&Peer>| v.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
                    prop_assert_eq!(ids(&got.0), ids(&want.0), "round {} config {}", round, name);
                    prop_assert_eq!(got.1, want.1);
                    prop_assert_eq!(s.config_peer_count(&c), want.1);
                    let f = PeerFilter { enabled: Some(true), ..Default::default() };
                    let (a, b) = (s.peer_page(&c, &f, offset, limit), peer_query::page(s.peers_of(&c), &f, offset, Some(limit)));
                    prop_assert_eq!((ids(&a.0), a.1), (ids(&b.0), b.1));
                }
                // A change: some peers deleted, the version moves on.
                let gone: Vec<PeerId> = s.peers.keys().step_by(drop.max(1)).cloned().collect();
                for id in gone {
                    s.peers.remove(&id);
                }
                s.version += 1;
            }
        }
    }
}
