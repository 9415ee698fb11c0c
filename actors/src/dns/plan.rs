//! DNS record planning, all pure: which addresses an endpoint group should publish (`desired`,
//! with the fail-static rule of DESIGN §5.5), and the smallest set of provider operations that
//! turns the provider's actual records into that set (`diff`). Also the record name and the work
//! fingerprint that the sync actor and the retry queue key on.
//!
//! Must not: do I/O, read a clock, or look at provider credentials beyond hashing them.

use crate::model::Sha256;
use crate::model::{removal_key, DnsDrift, DnsProviderKind, DnsRemoval, DnsSettings, Endpoint, EndpointGroup, Millis};
use crate::state::State;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The two record types DNS sync manages. Other types at the same name are never touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    A,
    Aaaa,
}

impl RecordKind {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => RecordKind::A,
            IpAddr::V6(_) => RecordKind::Aaaa,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "A" => Some(RecordKind::A),
            "AAAA" => Some(RecordKind::Aaaa),
            _ => None,
        }
    }
}

/// A record as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualRecord {
    /// The provider's id (Cloudflare's record id; for RFC 2136 the content itself).
    pub id: String,
    pub kind: RecordKind,
    /// The record's content exactly as the provider returned it.
    pub content: String,
    pub ttl: u32,
    pub proxied: bool,
}

impl ActualRecord {
    /// The content as an address of the record's family, if it is one.
    pub fn addr(&self) -> Option<IpAddr> {
        let ip: IpAddr = self.content.trim().parse().ok()?;
        (RecordKind::of(&ip) == self.kind).then_some(ip)
    }
}

/// What to do at the provider. Applying it to the actual records gives exactly the desired set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Addresses to add (A for IPv4, AAAA for IPv6), with the group's TTL, never proxied.
    pub create: Vec<IpAddr>,
    /// Records whose address stays but whose TTL or `proxied` flag must be corrected.
    pub update: Vec<ActualRecord>,
    /// Records to remove: addresses no longer desired, duplicates, and unparsable contents.
    pub delete: Vec<ActualRecord>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// Number of record operations.
    pub fn len(&self) -> usize {
        self.create.len() + self.update.len() + self.delete.len()
    }
}

/// The operations that turn `actual` into `desired` (each with `ttl`, not proxied).
/// Deterministic: the result does not depend on the order of `actual`.
pub fn diff(desired: &BTreeSet<IpAddr>, ttl: u32, actual: &[ActualRecord]) -> Plan {
    let mut sorted: Vec<&ActualRecord> = actual.iter().collect();
    // Keep the record that already has the right TTL when there are duplicates, then by id.
    sorted.sort_by(|a, b| (a.kind, a.addr(), a.ttl != ttl || a.proxied, &a.id).cmp(&(b.kind, b.addr(), b.ttl != ttl || b.proxied, &b.id)));
    let mut plan = Plan::default();
    let mut kept: BTreeSet<IpAddr> = BTreeSet::new();
    for r in sorted {
        match r.addr() {
            Some(ip) if desired.contains(&ip) && kept.insert(ip) => {
                if r.ttl != ttl || r.proxied {
                    plan.update.push(r.clone());
                }
            }
            _ => plan.delete.push(r.clone()),
        }
    }
    plan.create = desired.iter().filter(|ip| !kept.contains(ip)).copied().collect();
    plan
}

/// What an endpoint group should publish now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// The addresses to publish (A and AAAA).
    pub addrs: BTreeSet<IpAddr>,
    /// Fewer eligible addresses than `min_nodes` (or none): the last published set is kept.
    pub degraded: bool,
    /// Degraded and nothing was ever published: leave the provider's records as they are.
    pub hold: bool,
    /// Addresses of the eligible nodes (before the fail-static rule).
    pub eligible: usize,
    /// `(node id, endpoint)` of eligible nodes whose endpoint is a host name (not publishable).
    pub skipped: Vec<(String, String)>,
}

impl Desired {
    /// The published set as the state stores it (`DnsStatus::published`), IPv4 first.
    pub fn published(&self) -> Vec<String> {
        self.addrs.iter().map(|a| a.to_string()).collect()
    }
}

/// Desired addresses for `group`: the endpoints of its healthy nodes (node healthy and enabled,
/// assignment healthy), or of all its assigned nodes when `publish_only_healthy` is off. Below
/// `min_nodes` addresses (and never an empty set) the last published set is kept: fail static.
pub fn desired(state: &State, group: &EndpointGroup) -> Desired {
    let mut out = Desired::default();
    // A floating address the domain publishes (#16): it is the only record, whichever router
    // holds it (VRRP moves it; the routers' health does not change the record).
    if let Some(vip) = state.vips.get(&group.config).filter(|v| v.in_dns) {
        out.addrs.insert(vip.address);
        out.eligible = 1;
        return out;
    }
    for cn in state.nodes_of(&group.config) {
        let Some(node) = state.nodes.get(&cn.node_id) else { continue };
        if group.publish_only_healthy && !(node.healthy && node.enabled && cn.is_healthy) {
            continue;
        }
        let Some(endpoint) = node.endpoint.as_deref() else { continue };
        // A name (or a stored value that no longer parses) cannot be an A/AAAA record.
        match Endpoint::parse("endpoint", endpoint).ok().and_then(|e| e.host.ip()) {
            Some(ip) => {
                out.addrs.insert(ip);
            }
            None => out.skipped.push((node.id.to_string(), endpoint.to_string())),
        }
    }
    out.eligible = out.addrs.len();
    let floor = (group.min_nodes as usize).max(1);
    if out.addrs.len() < floor {
        let last: BTreeSet<IpAddr> = group.dns_status.published.iter().filter_map(|s| s.parse().ok()).collect();
        out.degraded = true;
        out.hold = last.is_empty();
        out.addrs = last;
    }
    out
}

/// The DNS name a group's records live at: Cloudflare's `cloudflare_record_name` when given,
/// else the group's `domain` (always the domain for RFC 2136). Lower case, no trailing dot.
pub fn record_name(group: &EndpointGroup) -> String {
    let name = match (group.provider, &group.cloudflare_record_name) {
        (DnsProviderKind::Cloudflare, Some(n)) if !n.trim().is_empty() => n.as_str(),
        _ => group.domain.as_str(),
    };
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The zone a group's records live in: its Cloudflare zone id, or the RFC 2136 zone of the
/// settings (empty when unset).
pub fn zone(group: &EndpointGroup, settings: &DnsSettings) -> String {
    match group.provider {
        DnsProviderKind::Cloudflare => group.cloudflare_zone_id.clone().unwrap_or_default(),
        DnsProviderKind::Rfc2136 => settings.rfc2136.as_ref().map(|r| r.zone.clone()).unwrap_or_default(),
    }
}

/// Where a group's records live (`removal_key` of provider, zone and record name): two groups, or
/// a group and a pending removal, with the same location manage the same records.
pub fn location(group: &EndpointGroup, settings: &DnsSettings) -> String {
    removal_key(group.provider, &zone(group, settings), &record_name(group))
}

/// The removal to schedule when `group` stops publishing where it does (deleted, or moved to
/// another name, provider or zone): None when it never published anything.
pub fn removal_of(group: &EndpointGroup, settings: &DnsSettings, at: Millis) -> Option<DnsRemoval> {
    (!group.dns_status.published.is_empty()).then(|| DnsRemoval {
        config: group.config.clone(),
        provider: group.provider,
        zone: zone(group, settings),
        record_name: record_name(group),
        addrs: group.dns_status.published.clone(),
        created_at: at,
    })
}

/// The records a removal deletes: the A/AAAA records at the name whose address is one we
/// published (records others put there are left alone).
pub fn removal_plan(addrs: &[String], actual: &[ActualRecord]) -> Plan {
    let ours: BTreeSet<IpAddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
    let delete = actual.iter().filter(|r| r.addr().is_some_and(|ip| ours.contains(&ip))).cloned().collect();
    Plan { create: Vec::new(), update: Vec::new(), delete }
}

/// Drift: how the provider's records differ from what we last published (`published`, with
/// `ttl`) — records added behind our back (`removed` once corrected), ours that were deleted
/// (`restored`), and ours whose TTL or proxying was changed (`corrected`). Only meaningful when
/// the replicated status says the last sync succeeded (see `decide::drift_to_report`).
pub fn drift(published: &[String], ttl: u32, actual: &[ActualRecord]) -> DnsDrift {
    let ours: BTreeSet<IpAddr> = published.iter().filter_map(|a| a.parse().ok()).collect();
    let mut seen: BTreeSet<IpAddr> = BTreeSet::new();
    let mut out = DnsDrift::default();
    let mut sorted: Vec<&ActualRecord> = actual.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.content, &a.id).cmp(&(b.kind, &b.content, &b.id)));
    for r in sorted {
        match r.addr() {
            Some(ip) if ours.contains(&ip) && seen.insert(ip) => {
                if r.ttl != ttl || r.proxied {
                    out.corrected.push(ip.to_string());
                }
            }
            // A duplicate of ours, an address that is not ours, or a content that is no address.
            Some(ip) => out.removed.push(ip.to_string()),
            None => out.removed.push(r.content.clone()),
        }
    }
    out.restored = ours.iter().filter(|ip| !seen.contains(ip)).map(|ip| ip.to_string()).collect();
    out
}

/// A stable digest of one unit of DNS work: the group's settings (but not its `dns_status`),
/// the desired set and the provider credentials (`provider_key`, which the caller derives from
/// the settings; only its hash is kept). Equal fingerprints mean "the same work".
pub fn fingerprint(group: &EndpointGroup, desired: &Desired, provider_key: &str) -> u64 {
    let mut h = Sha256::new();
    let fields = [
        group.config.as_str().to_string(),
        record_name(group),
        group.provider.as_str().to_string(),
        group.cloudflare_zone_id.clone().unwrap_or_default(),
        group.ttl.to_string(),
        group.min_nodes.to_string(),
        group.publish_only_healthy.to_string(),
        group.updated_at.to_string(),
        desired.published().join(","),
        desired.degraded.to_string(),
        desired.hold.to_string(),
        provider_key.to_string(),
    ];
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    let d = h.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rec(id: &str, content: &str, ttl: u32, proxied: bool) -> ActualRecord {
        let kind = if content.contains(':') { RecordKind::Aaaa } else { RecordKind::A };
        ActualRecord { id: id.into(), kind, content: content.into(), ttl, proxied }
    }

    fn set(items: &[&str]) -> BTreeSet<IpAddr> {
        items.iter().map(|s| ip(s)).collect()
    }

    #[test]
    fn diff_table() {
        struct Case {
            name: &'static str,
            desired: &'static [&'static str],
            actual: Vec<ActualRecord>,
            create: &'static [&'static str],
            update: &'static [&'static str],
            delete: &'static [&'static str],
        }
        let cases = vec![
            Case { name: "empty to one", desired: &["192.0.2.1"], actual: vec![], create: &["192.0.2.1"], update: &[], delete: &[] },
            Case {
                name: "in sync",
                desired: &["192.0.2.1", "2001:db8::1"],
                actual: vec![rec("a", "192.0.2.1", 60, false), rec("b", "2001:db8::1", 60, false)],
                create: &[],
                update: &[],
                delete: &[],
            },
            Case {
                name: "one gone one new",
                desired: &["192.0.2.1", "192.0.2.3"],
                actual: vec![rec("a", "192.0.2.1", 60, false), rec("b", "192.0.2.2", 60, false)],
                create: &["192.0.2.3"],
                update: &[],
                delete: &["b"],
            },
            Case {
                name: "duplicates removed, the right-TTL one kept",
                desired: &["192.0.2.1"],
                actual: vec![rec("z", "192.0.2.1", 300, false), rec("y", "192.0.2.1", 60, false), rec("x", "192.0.2.1", 60, false)],
                create: &[],
                update: &[],
                delete: &["y", "z"],
            },
            Case {
                name: "proxied and wrong ttl corrected in place",
                desired: &["192.0.2.1", "192.0.2.2"],
                actual: vec![rec("a", "192.0.2.1", 60, true), rec("b", "192.0.2.2", 1, false)],
                create: &[],
                update: &["a", "b"],
                delete: &[],
            },
            Case {
                name: "garbage and family mismatch deleted",
                desired: &["192.0.2.1"],
                actual: vec![
                    rec("a", "not-an-ip", 60, false),
                    ActualRecord { id: "b".into(), kind: RecordKind::Aaaa, content: "192.0.2.1".into(), ttl: 60, proxied: false },
                ],
                create: &["192.0.2.1"],
                update: &[],
                delete: &["a", "b"],
            },
            Case {
                name: "ipv6 written differently is the same address",
                desired: &["2001:db8::1"],
                actual: vec![rec("a", "2001:0db8:0000::0001", 60, false)],
                create: &[],
                update: &[],
                delete: &[],
            },
            Case {
                name: "empty desired deletes all (callers never ask this, fail static guards it)",
                desired: &[],
                actual: vec![rec("a", "192.0.2.1", 60, false)],
                create: &[],
                update: &[],
                delete: &["a"],
            },
        ];
        for c in cases {
            let p = diff(&set(c.desired), 60, &c.actual);
            let create: Vec<String> = p.create.iter().map(|i| i.to_string()).collect();
            let mut update: Vec<&str> = p.update.iter().map(|r| r.id.as_str()).collect();
            let mut delete: Vec<&str> = p.delete.iter().map(|r| r.id.as_str()).collect();
            update.sort();
            delete.sort();
            assert_eq!(create, c.create, "{}: create", c.name);
            assert_eq!(update, c.update, "{}: update", c.name);
            assert_eq!(delete, c.delete, "{}: delete", c.name);
            // Applying the plan gives exactly the desired set.
            let mut after: Vec<IpAddr> = c
                .actual
                .iter()
                .filter(|r| !p.delete.iter().any(|d| d.id == r.id))
                .filter_map(|r| r.addr())
                .chain(p.create.iter().copied())
                .collect();
            after.sort();
            assert_eq!(after, set(c.desired).into_iter().collect::<Vec<_>>(), "{}: result", c.name);
        }
    }

    #[test]
    fn drift_table() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (name, published, actual, removed, restored, corrected)
        type Case = (
            &'static str,
            &'static [&'static str],
            Vec<ActualRecord>,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            ("in sync", &["192.0.2.1"], vec![rec("a", "192.0.2.1", 60, false)], &[], &[], &[]),
            (
                "extra added behind our back",
                &["192.0.2.1"],
                vec![rec("a", "192.0.2.1", 60, false), rec("x", "203.0.113.66", 60, false)],
                &["203.0.113.66"],
                &[],
                &[],
            ),
            ("ours deleted", &["192.0.2.1", "2001:db8::3"], vec![rec("a", "192.0.2.1", 60, false)], &[], &["2001:db8::3"], &[]),
            ("ttl and proxy changed", &["192.0.2.1"], vec![rec("a", "192.0.2.1", 300, true)], &[], &[], &["192.0.2.1"]),
            (
                "duplicate of ours and garbage",
                &["192.0.2.1"],
                vec![rec("a", "192.0.2.1", 60, false), rec("b", "192.0.2.1", 60, false), rec("g", "junk", 60, false)],
                &["192.0.2.1", "junk"],
                &[],
                &[],
            ),
            ("all gone", &["192.0.2.1", "192.0.2.2"], vec![], &[], &["192.0.2.1", "192.0.2.2"], &[]),
        ];
        for (name, published, actual, removed, restored, corrected) in cases {
            let d = drift(&v(published), 60, &actual);
            assert_eq!((d.removed, d.restored, d.corrected), (v(removed), v(restored), v(corrected)), "{name}");
        }
    }

    #[test]
    fn removal_deletes_only_what_we_published() {
        let actual = vec![
            rec("a", "192.0.2.1", 60, false),
            rec("b", "2001:0db8::3", 60, false),
            rec("x", "203.0.113.66", 60, false),
            rec("g", "junk", 1, false),
        ];
        let p = removal_plan(&["192.0.2.1".into(), "2001:db8::3".into(), "192.0.2.9".into()], &actual);
        let mut ids: Vec<&str> = p.delete.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, vec!["a", "b"]);
        assert!(p.create.is_empty() && p.update.is_empty());
        assert!(removal_plan(&[], &actual).is_empty());
    }

    #[test]
    fn diff_ignores_input_order() {
        let a = vec![rec("1", "192.0.2.1", 60, false), rec("2", "192.0.2.1", 60, false), rec("3", "192.0.2.9", 60, false)];
        let mut b = a.clone();
        b.reverse();
        let d = set(&["192.0.2.1", "192.0.2.5"]);
        assert_eq!(diff(&d, 60, &a), diff(&d, 60, &b));
    }

    struct Fixture {
        state: State,
        group: EndpointGroup,
    }

    /// A state with config wg0 on nodes n1..n3, endpoints as given (None = no endpoint).
    fn fixture(endpoints: &[Option<&str>]) -> Fixture {
        let mut state = State::default();
        let config = ConfigName::parse("c", "wg0").unwrap();
        for (i, e) in endpoints.iter().enumerate() {
            let id = NodeId::parse("n", &format!("n{}", i + 1)).unwrap();
            state.nodes.insert(
                id.clone(),
                Node {
                    id: id.clone(),
                    name: id.to_string(),
                    endpoint: e.map(str::to_string),
                    cluster_addr: None,
                    weight: 1,
                    enabled: true,
                    healthy: true,
                    registered: true,
                    witness: false,
                    created_at: 0,
                    updated_at: 0,
                },
            );
            state.config_nodes.insert(
                (config.clone(), id.clone()),
                ConfigNode { id: i as u64, config: config.clone(), node_id: id, is_healthy: true, created_at: 0, updated_at: 0 },
            );
        }
        let group = EndpointGroup {
            config,
            domain: "vpn.example.test".into(),
            port: 51820,
            provider: DnsProviderKind::Cloudflare,
            cloudflare_zone_id: Some("z".into()),
            cloudflare_record_name: None,
            ttl: 60,
            proxied: false,
            auto_migrate: true,
            publish_only_healthy: true,
            min_nodes: 1,
            created_at: 0,
            updated_at: 0,
            dns_status: DnsStatus::default(),
        };
        Fixture { state, group }
    }

    fn node_mut<'a>(f: &'a mut Fixture, n: &str) -> &'a mut Node {
        f.state.nodes.get_mut(&NodeId::parse("n", n).unwrap()).unwrap()
    }

    fn cn_mut<'a>(f: &'a mut Fixture, n: &str) -> &'a mut ConfigNode {
        let key = (f.group.config.clone(), NodeId::parse("n", n).unwrap());
        f.state.config_nodes.get_mut(&key).unwrap()
    }

    #[test]
    fn desired_table() {
        type Tweak = fn(&mut Fixture);
        let cases: Vec<(&str, Tweak, &[&str], bool, bool)> = vec![
            ("all healthy", |_| {}, &["192.0.2.1", "192.0.2.2", "2001:db8::3"], false, false),
            ("node unhealthy", |f| node_mut(f, "n2").healthy = false, &["192.0.2.1", "2001:db8::3"], false, false),
            ("node disabled", |f| node_mut(f, "n1").enabled = false, &["192.0.2.2", "2001:db8::3"], false, false),
            ("assignment unhealthy", |f| cn_mut(f, "n3").is_healthy = false, &["192.0.2.1", "192.0.2.2"], false, false),
            (
                "publish all when publish_only_healthy is off",
                |f| {
                    f.group.publish_only_healthy = false;
                    node_mut(f, "n2").healthy = false;
                    cn_mut(f, "n3").is_healthy = false;
                },
                &["192.0.2.1", "192.0.2.2", "2001:db8::3"],
                false,
                false,
            ),
            (
                "all unhealthy keeps the last published set",
                |f| {
                    for n in ["n1", "n2", "n3"] {
                        node_mut(f, n).healthy = false;
                    }
                    f.group.dns_status.published = vec!["192.0.2.1".into(), "192.0.2.2".into()];
                },
                &["192.0.2.1", "192.0.2.2"],
                true,
                false,
            ),
            (
                "below min_nodes keeps the last published set",
                |f| {
                    f.group.min_nodes = 3;
                    node_mut(f, "n3").healthy = false;
                    f.group.dns_status.published = vec!["192.0.2.9".into()];
                },
                &["192.0.2.9"],
                true,
                false,
            ),
            (
                "a floating address in DNS is the only record, whatever the routers' health",
                |f| {
                    let vip = crate::model::Vip::parse("192.0.2.200", None, 51, true).unwrap();
                    f.state.vips.insert(f.group.config.clone(), crate::model::Vip { in_dns: true, ..vip });
                    node_mut(f, "n1").healthy = false;
                    f.group.min_nodes = 3;
                },
                &["192.0.2.200"],
                false,
                false,
            ),
            (
                "a floating address not in DNS leaves the routers' records",
                |f| {
                    let vip = crate::model::Vip::parse("192.0.2.200", None, 51, true).unwrap();
                    f.state.vips.insert(f.group.config.clone(), vip);
                },
                &["192.0.2.1", "192.0.2.2", "2001:db8::3"],
                false,
                false,
            ),
            (
                "nothing eligible and nothing published: hold",
                |f| {
                    for n in ["n1", "n2", "n3"] {
                        node_mut(f, n).healthy = false;
                    }
                },
                &[],
                true,
                true,
            ),
            (
                "exactly min_nodes is fine",
                |f| {
                    f.group.min_nodes = 2;
                    node_mut(f, "n3").healthy = false;
                },
                &["192.0.2.1", "192.0.2.2"],
                false,
                false,
            ),
        ];
        for (name, tweak, want, degraded, hold) in cases {
            let mut f = fixture(&[Some("192.0.2.1:51820"), Some("192.0.2.2"), Some("[2001:db8::3]:51820")]);
            tweak(&mut f);
            let d = desired(&f.state, &f.group);
            let got: Vec<String> = d.published();
            assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
            assert_eq!(d.degraded, degraded, "{name}: degraded");
            assert_eq!(d.hold, hold, "{name}: hold");
        }
    }

    #[test]
    fn host_name_endpoints_are_skipped() {
        let f = fixture(&[Some("r1.example.net:51820"), Some("192.0.2.2"), None]);
        let d = desired(&f.state, &f.group);
        assert_eq!(d.published(), vec!["192.0.2.2".to_string()]);
        assert_eq!(d.skipped, vec![("n1".to_string(), "r1.example.net:51820".to_string())]);
        assert!(!d.degraded);
    }

    #[test]
    fn names_and_fingerprints() {
        let mut f = fixture(&[Some("192.0.2.1")]);
        assert_eq!(record_name(&f.group), "vpn.example.test");
        f.group.cloudflare_record_name = Some("Edge.Example.Test.".into());
        assert_eq!(record_name(&f.group), "edge.example.test");
        f.group.provider = DnsProviderKind::Rfc2136;
        assert_eq!(record_name(&f.group), "vpn.example.test");

        let d = desired(&f.state, &f.group);
        let base = fingerprint(&f.group, &d, "k1");
        assert_eq!(base, fingerprint(&f.group, &d, "k1"));
        // Where the records live, and what a deleted group leaves to remove.
        let settings = DnsSettings::default();
        assert_eq!(location(&f.group, &settings), "rfc2136||vpn.example.test");
        assert_eq!(removal_of(&f.group, &settings, 5), None, "nothing published, nothing to remove");
        let mut p = f.group.clone();
        p.dns_status.published = vec!["192.0.2.1".into()];
        let r = removal_of(&p, &settings, 5).expect("a removal");
        assert_eq!((r.key(), r.addrs.clone(), r.created_at), (location(&p, &settings), vec!["192.0.2.1".to_string()], 5));
        assert_ne!(base, fingerprint(&f.group, &d, "k2"), "credentials change the work");
        let mut g = f.group.clone();
        g.dns_status.last_error = Some("x".into());
        g.dns_status.last_sync = Some(5);
        assert_eq!(base, fingerprint(&g, &d, "k1"), "our own status report is not new work");
        g.updated_at = 1;
        assert_ne!(base, fingerprint(&g, &d, "k1"), "re-saving the group asks for a sync");
        let mut d2 = d.clone();
        d2.addrs.insert(ip("192.0.2.7"));
        assert_ne!(base, fingerprint(&f.group, &d2, "k1"));
    }
}
