//! PURE: keepalived's configuration for this router's floating addresses (#16). Safe by
//! construction: every value that reaches the text is a validated type (`IpAddr`, an interface
//! name that passed the one interface-name rule, a `ConfigName`, numbers) or a path checked here
//! against a plain character set, so nothing can close a quote, a block or start a new keyword.

use crate::model::{ConfigName, NodeId, Vip};
use crate::state::State;
use std::path::{Path, PathBuf};

/// Highest priority given (the first router of a config by node id); each next one gets
/// [`PRIORITY_STEP`] less. keepalived's own range is 1–254 (255 is the address owner).
pub const PRIORITY_TOP: u8 = 200;
pub const PRIORITY_STEP: u8 = 10;
/// VRRP advertisement interval, seconds: a master is declared dead 3 adverts plus a skew after
/// the last one it sent, 2.3–3.3 s after a power cut, within the stock client's 4 s target.
/// (VRRPv3 with 0.5 s was tried in the lab: keepalived 2.2.7 then showed two masters at once.)
pub const ADVERT_INT_S: u8 = 1;

/// One `vrrp_instance`: a config's address as this router holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub config: ConfigName,
    pub vip: Vip,
    /// The group's interface, or the router's default.
    pub interface: String,
    pub priority: u8,
}

/// What keepalived's notify hooks run: `<exe> vrrp-notify --config <uci> <config> <STATE>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyCommand {
    pub exe: PathBuf,
    pub uci_config: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{what} {path} cannot go into keepalived's configuration: it must be absolute and only hold A-Z a-z 0-9 / . _ + -")]
    Path { what: &'static str, path: String },
    #[error("vrrp_interface {0:?} is not an interface name")]
    Interface(String),
}

/// PURE: the instances `me` runs: one per floating address of a config assigned to it. Priority
/// by the position of `me` among the config's routers (sorted by node id), so every router
/// computes the same order without talking to the others.
pub fn instances(state: &State, me: &NodeId, default_interface: &str) -> Vec<Instance> {
    let mut out = Vec::new();
    for (config, vip) in &state.vips {
        if !state.endpoint_groups.contains_key(config) {
            continue;
        }
        let nodes: Vec<&NodeId> = state.config_nodes.keys().filter(|(c, _)| c == config).map(|(_, n)| n).collect();
        let Some(rank) = nodes.iter().position(|n| *n == me) else { continue };
        let step = u32::from(PRIORITY_STEP) * u32::try_from(rank).unwrap_or(u32::MAX);
        let priority = u32::from(PRIORITY_TOP).saturating_sub(step).max(1) as u8;
        let interface = vip.interface.clone().unwrap_or_else(|| default_interface.to_string());
        out.push(Instance { config: config.clone(), vip: vip.clone(), interface, priority });
    }
    out
}

/// A path allowed in the text: absolute, plain characters only.
fn plain_path(what: &'static str, p: &Path) -> Result<String, RenderError> {
    let s = p.to_str().unwrap_or("");
    let ok = s.starts_with('/') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(RenderError::Path { what, path: p.display().to_string() })
    }
}

/// PURE: the whole configuration file.
pub fn render(instances: &[Instance], notify: &NotifyCommand) -> Result<String, RenderError> {
    let exe = plain_path("the wgclusterd binary", &notify.exe)?;
    let uci = plain_path("the UCI configuration", &notify.uci_config)?;
    let mut out = String::from(
        "# Written by wgclusterd from the cluster's replicated state (#16); rewritten on every change.\n\
         # Do not edit: change the endpoint group's vip, vip_interface, vrid or vip_preempt instead.\n\
         global_defs {\n    enable_script_security\n    script_user root\n}\n",
    );
    for i in instances {
        crate::wg::validate_ifname(&i.interface).map_err(|_| RenderError::Interface(i.interface.clone()))?;
        let prefix = if i.vip.address.is_ipv4() { 32 } else { 128 };
        let hook = |state: &str| format!("\"{exe} vrrp-notify --config {uci} {} {state}\"", i.config);
        out.push_str(&format!("\nvrrp_instance wgc_{} {{\n", i.config));
        out.push_str("    state BACKUP\n");
        out.push_str(&format!("    interface {}\n", i.interface));
        out.push_str(&format!("    virtual_router_id {}\n", i.vip.vrid));
        out.push_str(&format!("    priority {}\n", i.priority));
        out.push_str(&format!("    advert_int {ADVERT_INT_S}\n"));
        if !i.vip.preempt {
            out.push_str("    nopreempt\n");
        }
        out.push_str(&format!("    virtual_ipaddress {{\n        {}/{prefix} dev {}\n    }}\n", i.vip.address, i.interface));
        out.push_str(&format!("    notify_master {}\n", hook("MASTER")));
        out.push_str(&format!("    notify_backup {}\n", hook("BACKUP")));
        out.push_str(&format!("    notify_fault {}\n", hook("FAULT")));
        out.push_str(&format!("    notify_stop {}\n", hook("BACKUP")));
        // A split healing (two masters): the one that yields sends one more advert first, so the
        // one that stays hears a lower priority, sends gratuitous ARPs (the LAN's packets for the
        // VIP come back to it) and runs the hook: its daemon takes the sessions back (reconciler,
        // `reclaim`) instead of leaving clients to their own rekey.
        out.push_str("    higher_prio_send_advert\n");
        out.push_str("    garp_lower_prio_repeat 2\n");
        out.push_str(&format!("    notify_master_rx_lower_pri {}\n", hook("MASTER_RX_LOWER_PRI")));
        out.push_str("}\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, Request};
    use crate::wg::desired::{bench_state, mode_a_group};

    fn notify() -> NotifyCommand {
        NotifyCommand { exe: "/usr/sbin/wgclusterd".into(), uci_config: "/etc/config/wgcluster".into() }
    }

    #[test]
    fn renders_one_instance_per_address_with_priority_by_rank() {
        let (mut s, wg0, r1) = bench_state(1);
        let run = |s: &mut State, cmd| s.apply(&Request { at: 5, user: "t".into(), cmd, idempotency: None }).unwrap();
        let r0 = NodeId::parse("n", "r0").unwrap();
        run(
            &mut s,
            Command::CreateNode {
                node: crate::state::NodeSpec { id: r0.clone(), name: None, endpoint: None, cluster_addr: None, witness: false },
                weight: 1,
            },
        );
        run(&mut s, Command::AssignNode { config: wg0.clone(), node_id: r0.clone() });
        assert!(instances(&s, &r1, "br-lan").is_empty(), "no address: no instance");
        let vip = Vip::parse("192.0.2.10", None, 51, false).unwrap();
        run(&mut s, Command::SetEndpointGroupVip { group: mode_a_group(wg0.clone()), vip: Some(vip.clone()) });
        let mine = instances(&s, &r1, "br-lan");
        assert_eq!(
            mine,
            vec![Instance { config: wg0.clone(), vip: vip.clone(), interface: "br-lan".into(), priority: PRIORITY_TOP - PRIORITY_STEP }]
        );
        assert_eq!(instances(&s, &r0, "br-lan")[0].priority, PRIORITY_TOP, "r0 sorts first");
        assert!(instances(&s, &NodeId::parse("n", "r9").unwrap(), "br-lan").is_empty(), "not a router of the config");
        let text = render(&mine, &notify()).unwrap();
        let want = "\nvrrp_instance wgc_wg0 {\n    state BACKUP\n    interface br-lan\n    virtual_router_id 51\n    priority 190\n    advert_int 1\n    nopreempt\n    virtual_ipaddress {\n        192.0.2.10/32 dev br-lan\n    }\n    notify_master \"/usr/sbin/wgclusterd vrrp-notify --config /etc/config/wgcluster wg0 MASTER\"\n";
        assert!(text.contains(want), "{text}");
        assert!(text.contains("notify_stop \"/usr/sbin/wgclusterd vrrp-notify --config /etc/config/wgcluster wg0 BACKUP\""), "{text}");
        assert!(text.contains("\n    higher_prio_send_advert\n    garp_lower_prio_repeat 2\n"), "{text}");
        assert!(
            text.contains(
                "notify_master_rx_lower_pri \"/usr/sbin/wgclusterd vrrp-notify --config /etc/config/wgcluster wg0 MASTER_RX_LOWER_PRI\""
            ),
            "{text}"
        );
        // Preemption on: no nopreempt; IPv6 gets a /128.
        let v6 = Instance { vip: Vip::parse("2001:db8::5", Some("eth1"), 7, true).unwrap(), interface: "eth1".into(), ..mine[0].clone() };
        let text = render(&[v6], &notify()).unwrap();
        assert!(!text.contains("nopreempt") && text.contains("2001:db8::5/128 dev eth1"), "{text}");
        assert!(render(&[], &notify()).unwrap().starts_with("# Written by wgclusterd"));
    }

    #[test]
    fn unsafe_values_are_refused() {
        let i = Instance {
            config: ConfigName::parse("c", "wg0").unwrap(),
            vip: Vip::parse("192.0.2.10", None, 51, true).unwrap(),
            interface: "eth0".into(),
            priority: 200,
        };
        for (exe, uci) in
            [("/usr/sbin/wgc lusterd", "/etc/config/wgcluster"), ("wgclusterd", "/etc/x"), ("/usr/sbin/wgclusterd", "/etc/\"x\"")]
        {
            let n = NotifyCommand { exe: exe.into(), uci_config: uci.into() };
            assert!(matches!(render(std::slice::from_ref(&i), &n), Err(RenderError::Path { .. })), "{exe} {uci}");
        }
        let bad = Instance { interface: "eth0 }".into(), ..i };
        assert!(matches!(render(&[bad], &notify()), Err(RenderError::Interface(_))));
    }
}
