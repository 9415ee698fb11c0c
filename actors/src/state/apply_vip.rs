//! Applying an endpoint group with its floating address (#16): the group as `SetEndpointGroup`
//! applies it, and the address in `State::vips` — in one command, audited in the group's entry.

use super::*;
use serde_json::json;

impl State {
    pub(super) fn set_endpoint_group_vip(&mut self, at: Millis, user: &str, g: &EndpointGroupSpec, vip: Option<&Vip>) -> Response {
        self.config_or_404(&g.config)?;
        if let Some(v) = vip {
            // One VRRP router id and one address per group: two groups sharing either would fight
            // over it on a shared link.
            for (other, o) in self.vips.iter().filter(|(c, _)| *c != &g.config) {
                if o.vrid == v.vrid {
                    return Err(CommandError::Invalid {
                        field: "vrid".into(),
                        reason: format!("{} is already the VRRP router id of config '{other}'", v.vrid),
                    });
                }
                if o.address == v.address {
                    return Err(CommandError::Invalid {
                        field: "vip".into(),
                        reason: format!("{} is already the floating address of config '{other}'", v.address),
                    });
                }
            }
        }
        self.set_endpoint_group(at, user, g)?;
        match vip {
            Some(v) => self.vips.insert(g.config.clone(), v.clone()),
            None => self.vips.remove(&g.config),
        };
        // The group's audit entry (just appended) also says what the address is now.
        if let Some(e) = self.audit.back_mut() {
            if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str::<serde_json::Value>(&e.details) {
                let v = match vip {
                    Some(v) => json!({ "address": v.address.to_string(), "interface": v.interface, "vrid": v.vrid, "preempt": v.preempt }),
                    None => serde_json::Value::Null,
                };
                m.insert("vip".into(), v);
                e.details = serde_json::Value::Object(m).to_string();
            }
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wg::desired::{bench_state, mode_a_group};

    #[test]
    fn vips_are_set_unique_audited_and_removed_with_their_group() {
        let (mut s, wg0, _) = bench_state(1);
        let run = |s: &mut State, cmd| s.apply(&Request { at: 5, user: "t".into(), cmd, idempotency: None });
        let c2 = ConfigName::parse("c", "wg1").unwrap();
        let nc = |name: &ConfigName, net: &str| Command::CreateConfig {
            config: NewConfig {
                name: name.clone(),
                private_key: generate_keypair().0,
                addresses: vec![net.parse().unwrap()],
                listen_port: 51821,
                mtu: None,
                dns: vec![],
                peer_allowed_ips: vec![],
                peer_keepalive: None,
                placement: Default::default(),
            },
        };
        run(&mut s, nc(&c2, "10.99.0.1/24")).unwrap();
        let vip = |a: &str, vrid| Vip::parse(a, Some("eth0"), vrid, true).unwrap();
        let set = |c: &ConfigName, v: Option<Vip>| Command::SetEndpointGroupVip { group: mode_a_group(c.clone()), vip: v };
        run(&mut s, set(&wg0, Some(vip("192.0.2.10", 51)))).unwrap();
        assert_eq!(s.vips[&wg0].vrid, 51);
        let entry = s.audit.back().unwrap();
        assert!(entry.details.contains("\"vrid\":51") && entry.details.contains("192.0.2.10"), "{}", entry.details);
        // Another group may not take the same VRID or address; nothing changes then.
        let before = s.clone();
        let err = run(&mut s, set(&c2, Some(vip("192.0.2.11", 51)))).unwrap_err();
        assert!(matches!(&err, CommandError::Invalid { field, .. } if field == "vrid"), "{err:?}");
        let err = run(&mut s, set(&c2, Some(vip("192.0.2.10", 52)))).unwrap_err();
        assert!(matches!(&err, CommandError::Invalid { field, .. } if field == "vip"), "{err:?}");
        assert_eq!(s.vips, before.vips);
        assert!(!s.endpoint_groups.contains_key(&c2), "a refused command leaves the group unset");
        run(&mut s, set(&c2, Some(vip("192.0.2.11", 52)))).unwrap();
        // Saving a group without an address removes it; deleting the group removes it too.
        run(&mut s, set(&c2, None)).unwrap();
        assert!(!s.vips.contains_key(&c2));
        run(&mut s, Command::DeleteEndpointGroup { config: wg0.clone() }).unwrap();
        assert!(s.vips.is_empty());
    }
}
