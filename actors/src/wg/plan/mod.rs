//! The pure peer differ: given what an interface should hold ([`InterfaceSpec`]) and what it
//! holds ([`ActualInterface`]), [`diff`] returns the minimal [`Plan`] that closes the gap — never a
//! full replace, and no operation at all for a peer that already matches. Backends turn a plan into
//! one UAPI `set` transaction (userspace) or one netlink `SET_DEVICE` request (kernel).
//! [`diff_specs`] is the same diff between two specs (the reconciler's incremental path, no device
//! read); both compare peers with the one rule set below.
//!
//! Comparison rules (what counts as "the same"):
//! - allowed IPs are compared as sets after masking host bits (`10.0.0.5/24` == `10.0.0.0/24`),
//!   because that is how WireGuard stores them;
//! - an endpoint is compared only when the spec pins one: a learned (roaming) endpoint is not a
//!   difference;
//! - keepalive `None` == `Some(0)`, preshared key `None` == all-zero key;
//! - a desired listen port of 0 ("any") never triggers an identity change on its own;
//! - private keys are compared clamped (WireGuard stores and reports the clamped form), and the
//!   identity a plan sets carries the clamped key.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;

use ipnet::IpNet;

use super::error::WgError;
use super::spec::{clamp_private_key, key_to_base64, ActualInterface, ActualPeer, InterfaceSpec, Key, PeerSpec};

/// The interface identity to (re)program: private key and listen port.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub private_key: Key,
    pub listen_port: u16,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("private_key", &format_args!("<redacted>")).field("listen_port", &self.listen_port).finish()
    }
}

/// One change to one peer.
#[derive(Clone, PartialEq)]
pub enum PeerOp {
    /// Create the peer with these fields.
    Add(PeerSpec),
    /// Change an existing peer in place (`update_only`): replace its allowed IPs and set its
    /// preshared key, keepalive and (if pinned) endpoint. Other peers are untouched.
    Update(PeerSpec),
    /// Remove the peer with this public key.
    Remove(Key),
}

impl PeerOp {
    /// The public key the operation is about.
    pub fn public_key(&self) -> &Key {
        match self {
            PeerOp::Add(p) | PeerOp::Update(p) => &p.public_key,
            PeerOp::Remove(k) => k,
        }
    }
}

impl fmt::Debug for PeerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerOp::Add(p) => f.debug_tuple("Add").field(p).finish(),
            PeerOp::Update(p) => f.debug_tuple("Update").field(p).finish(),
            PeerOp::Remove(k) => f.debug_tuple("Remove").field(&format_args!("{}", key_to_base64(k))).finish(),
        }
    }
}

/// The difference between desired and actual state of one interface.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Plan {
    /// The interface does not exist yet (create it before applying the rest).
    pub create_interface: bool,
    /// Private key and/or listen port differ (or the interface is new).
    pub set_identity: Option<Identity>,
    /// Peer changes: removals first, then updates, then additions (each in input order).
    pub peer_ops: Vec<PeerOp>,
}

/// How many peers a plan adds, updates and removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanCounts {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.create_interface && self.set_identity.is_none() && self.peer_ops.is_empty()
    }

    /// Operations a backend applies for this plan: one for the identity, one per peer op.
    /// (Interface creation is done by `ensure_interface`, not counted here.)
    pub fn op_count(&self) -> usize {
        usize::from(self.set_identity.is_some()) + self.peer_ops.len()
    }

    /// Peer op counts by kind.
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for op in &self.peer_ops {
            match op {
                PeerOp::Add(_) => c.added += 1,
                PeerOp::Update(_) => c.updated += 1,
                PeerOp::Remove(_) => c.removed += 1,
            }
        }
        c
    }
}

/// Masks host bits, sorts and de-duplicates: the set WireGuard would store.
pub fn normalize_allowed_ips(ips: &[IpNet]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = ips.iter().map(IpNet::trunc).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Allowed-IP sets equal after masking. Fast path without allocation when both lists are in
/// the same order (the usual case: the device reports them as they were programmed).
fn same_allowed_ips(desired: &[IpNet], actual: &[IpNet]) -> bool {
    if desired.len() == actual.len() && desired.iter().zip(actual).all(|(d, a)| d.trunc() == a.trunc()) {
        return true;
    }
    normalize_allowed_ips(desired) == normalize_allowed_ips(actual)
}

/// The fields of a peer as the device holds them: what the comparison rules (module doc) look at.
struct Held<'a> {
    preshared_key: Option<Key>,
    persistent_keepalive: Option<u16>,
    endpoint: Option<SocketAddr>,
    allowed_ips: &'a [IpNet],
}

/// THE peer comparison: whether a peer holding `held` already carries everything `desired` asks
/// for. Both [`peer_matches`] (against the device) and [`spec_peer_matches`] (against the spec the
/// device was programmed with) are this function.
fn carries(desired: &PeerSpec, held: Held<'_>) -> bool {
    let zero = [0u8; 32];
    desired.preshared_key.unwrap_or(zero) == held.preshared_key.unwrap_or(zero)
        && desired.persistent_keepalive.unwrap_or(0) == held.persistent_keepalive.unwrap_or(0)
        && desired.endpoint.is_none_or(|e| held.endpoint == Some(e))
        && same_allowed_ips(&desired.allowed_ips, held.allowed_ips)
}

/// Whether the device's peer already carries everything the spec asks for.
pub fn peer_matches(desired: &PeerSpec, actual: &ActualPeer) -> bool {
    let held = Held {
        preshared_key: actual.preshared_key,
        persistent_keepalive: actual.persistent_keepalive,
        endpoint: actual.endpoint,
        allowed_ips: &actual.allowed_ips,
    };
    carries(desired, held)
}

/// Whether a device programmed with `old` already carries everything `new` asks for: the rules of
/// [`peer_matches`], with the device's peer being what `old` programmed (a pinned endpoint stays,
/// an unpinned one is learned and never a difference).
pub fn spec_peer_matches(new: &PeerSpec, old: &PeerSpec) -> bool {
    let held = Held {
        preshared_key: old.preshared_key,
        persistent_keepalive: old.persistent_keepalive,
        endpoint: old.endpoint,
        allowed_ips: &old.allowed_ips,
    };
    carries(new, held)
}

/// The operation (if any) for ONE peer, for incremental changes when the caller already knows
/// which peer changed (e.g. one peer edited through the API) and holds its last-read state:
/// `desired` None = the peer must go, `actual` None = the device does not have it.
pub fn diff_peer(desired: Option<&PeerSpec>, actual: Option<&ActualPeer>) -> Option<PeerOp> {
    match (desired, actual) {
        (Some(d), None) => Some(PeerOp::Add(d.clone())),
        (Some(d), Some(a)) if !peer_matches(d, a) => Some(PeerOp::Update(d.clone())),
        (Some(_), Some(_)) => None,
        (None, Some(a)) => Some(PeerOp::Remove(a.public_key)),
        (None, None) => None,
    }
}

/// The minimal plan that turns `actual` (None: interface absent) into `desired`.
/// Linear in the number of peers: one hash map over the device's peers, no allocation per
/// unchanged peer.
pub fn diff(desired: &InterfaceSpec, actual: Option<&ActualInterface>) -> Plan {
    let identity = Identity { private_key: clamp_private_key(&desired.private_key), listen_port: desired.listen_port };
    let Some(actual) = actual else {
        let mut seen = HashSet::with_capacity(desired.peers.len());
        return Plan {
            create_interface: true,
            set_identity: Some(identity),
            peer_ops: desired.peers.iter().filter(|p| seen.insert(p.public_key)).map(|p| PeerOp::Add(p.clone())).collect(),
        };
    };

    let key_differs = actual.private_key.map(|k| clamp_private_key(&k)) != Some(identity.private_key);
    let port_differs = desired.listen_port != 0 && actual.listen_port != desired.listen_port;
    let set_identity = (key_differs || port_differs).then_some(identity);

    // Key -> index of its (last) entry on the device; `matched` marks the ones still wanted.
    let index: HashMap<&Key, usize> = actual.peers.iter().enumerate().map(|(i, p)| (&p.public_key, i)).collect();
    let mut matched = vec![false; actual.peers.len()];
    let mut added: HashSet<&Key> = HashSet::new();
    let mut updates = Vec::new();
    let mut adds = Vec::new();
    for p in &desired.peers {
        match index.get(&p.public_key) {
            Some(&i) => {
                if std::mem::replace(&mut matched[i], true) {
                    continue; // duplicate in the spec: first one wins
                }
                if !peer_matches(p, &actual.peers[i]) {
                    updates.push(PeerOp::Update(p.clone()));
                }
            }
            None => {
                if added.insert(&p.public_key) {
                    adds.push(PeerOp::Add(p.clone()));
                }
            }
        }
    }
    let mut peer_ops: Vec<PeerOp> = actual
        .peers
        .iter()
        .enumerate()
        .filter(|(i, p)| !matched[*i] && index.get(&p.public_key) == Some(i))
        .map(|(_, p)| PeerOp::Remove(p.public_key))
        .collect();
    peer_ops.append(&mut updates);
    peer_ops.append(&mut adds);
    Plan { create_interface: false, set_identity, peer_ops }
}

/// The plan that turns an interface holding `old` into one holding `new` — the same plan
/// [`diff`]`(new, device)` gives when the device holds `old` — by a merge walk over the two
/// peer lists, which must be sorted by public key (as `desired` makes them). Linear, and it
/// allocates only for the operations. `Err` when a list is not sorted (the caller then reads the
/// device) or `new` lists a peer twice.
pub fn diff_specs(old: &InterfaceSpec, new: &InterfaceSpec) -> Result<Plan, WgError> {
    let unsorted = || WgError::InvalidSpec("peers are not sorted by public key".into());
    let identity = Identity { private_key: clamp_private_key(&new.private_key), listen_port: new.listen_port };
    let key_differs = clamp_private_key(&old.private_key) != identity.private_key;
    let port_differs = new.listen_port != 0 && old.listen_port != new.listen_port;
    let set_identity = (key_differs || port_differs).then_some(identity);

    let (mut removes, mut updates, mut adds) = (Vec::new(), Vec::new(), Vec::new());
    let (a, b) = (&old.peers, &new.peers);
    let (mut i, mut j) = (0, 0);
    // The order is checked during the walk: each key against the previous one of its list.
    let (mut prev_a, mut prev_b): (Option<&Key>, Option<&Key>) = (None, None);
    loop {
        // A duplicate in `old` (it was never programmed twice): skip it.
        while let (Some(x), Some(p)) = (a.get(i), prev_a) {
            match x.public_key.cmp(p) {
                Ordering::Equal => i += 1,
                Ordering::Less => return Err(unsorted()),
                Ordering::Greater => break,
            }
        }
        if let (Some(y), Some(p)) = (b.get(j), prev_b) {
            match y.public_key.cmp(p) {
                Ordering::Equal => return Err(WgError::InvalidSpec(format!("peer {} listed twice", key_to_base64(p)))),
                Ordering::Less => return Err(unsorted()),
                Ordering::Greater => {}
            }
        }
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.public_key.cmp(&y.public_key),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        match order {
            Ordering::Less => {
                removes.push(PeerOp::Remove(a[i].public_key));
                prev_a = Some(&a[i].public_key);
                i += 1;
            }
            Ordering::Greater => {
                adds.push(PeerOp::Add(b[j].clone()));
                prev_b = Some(&b[j].public_key);
                j += 1;
            }
            Ordering::Equal => {
                if !spec_peer_matches(&b[j], &a[i]) {
                    updates.push(PeerOp::Update(b[j].clone()));
                }
                prev_a = Some(&a[i].public_key);
                prev_b = Some(&b[j].public_key);
                i += 1;
                j += 1;
            }
        }
    }
    removes.append(&mut updates);
    removes.append(&mut adds);
    Ok(Plan { create_interface: false, set_identity, peer_ops: removes })
}

#[cfg(test)]
pub(crate) mod tests;
