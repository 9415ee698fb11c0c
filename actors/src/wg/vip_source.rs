//! The floating address as the source of this router's own WireGuard packets (#16), while this
//! router is VRRP master of it.
//!
//! A takeover ([`super::takeover`]) points a peer at its last known endpoint and makes the data
//! plane send a handshake initiation. The data plane has no source address cached for that
//! endpoint (setting an endpoint clears it), so the kernel picks one from the route: the
//! router's own LAN address. A client behind a NAT sent its packets to the VIP; its NAT lets back
//! only packets from the VIP and port it sent to (Linux MASQUERADE, most home routers), and drops
//! an initiation from any other address. So, while master:
//!
//! - table [`table`]`(vrid)` holds a copy of every main-table route out of the interface that
//!   carries the VIP, each with the VIP as preferred source (`src`);
//! - rule [`pref`]`(vrid)`: `ipproto udp sport <listen_port> lookup <table>`.
//!
//! Only packets whose source address is not already chosen take the copy's `src`: a reply on an
//! existing session leaves from the address the client sent to (both data planes cache it), so a
//! client of the router's own address is answered from it as before. WireGuard's own port only:
//! nothing else the router sends changes. The kernel deletes routes whose preferred source
//! disappears, so when keepalived takes the VIP away (BACKUP, FAULT, stop) the table empties by
//! itself and the rule falls through to the main table; the BACKUP/FAULT hook also removes both.
//! Routes of the main table that change while master (a DHCP renewal) are copied again at the
//! next MASTER event, not followed.

use std::net::IpAddr;

use neli::rtnl::{Ifaddrmsg, Rtmsg};

use super::error::WgError;
use super::netlink::{nl_err, Netlink};
use super::rtnl::{self, Op};
use super::rtnl_source::{self, MainRoute};
use crate::model::ConfigName;

/// Our tables: `0x7767_00VV` ("wg", the VRRP router id), far from OpenWrt's and mwan3's.
pub const TABLE_BASE: u32 = 0x7767_0000;
/// Our rules' preferences: 9000 + the VRRP router id (before `main` at 32766; after the
/// preferences OpenWrt's netifd and mwan3 use for their own source rules, which match by source
/// address and so never see a packet without one).
pub const RULE_PREF_BASE: u32 = 9000;

pub fn table(vrid: u8) -> u32 {
    TABLE_BASE | u32::from(vrid)
}

pub fn pref(vrid: u8) -> u32 {
    RULE_PREF_BASE + u32::from(vrid)
}

/// What one floating address needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipSource {
    pub vip: IpAddr,
    pub vrid: u8,
    /// The config's WireGuard listen port.
    pub port: u16,
}

/// PURE: the main table's routes to copy: those out of `ifindex`, of the VIP's family.
pub fn to_copy(vip: IpAddr, ifindex: u32, main: &[MainRoute]) -> Vec<MainRoute> {
    main.iter().filter(|r| r.oif == ifindex && r.dst.addr().is_ipv4() == vip.is_ipv4()).cloned().collect()
}

impl Netlink {
    /// Installs the source policy for `s` (replacing any earlier one of the same VRRP router
    /// id). Returns the number of routes copied. Fails when no interface carries the VIP.
    pub fn hold_vip_source(&self, s: &VipSource) -> Result<usize, WgError> {
        let s = s.clone();
        self.run(move |sock| {
            let context = |what: &str| format!("{what} (source policy of {})", s.vip);
            let ifindex = addresses(sock)?.into_iter().find(|(_, a)| *a == s.vip).map(|(i, _)| i);
            let ifindex = ifindex.ok_or_else(|| WgError::Netlink {
                message: format!("the floating address {} is on no interface of this router", s.vip),
                transient: false,
            })?;
            let mut main = Vec::new();
            for p in sock.dump(rtnl::dump_routes(s.vip.is_ipv6())).map_err(|e| nl_err(&context("list routes"), e))? {
                let msg: Rtmsg = rtnl::parse(&p).map_err(|e| nl_err(&context("list routes"), e))?;
                main.extend(rtnl_source::parse_main_route(&msg));
            }
            flush(sock, s.vip.is_ipv6(), table(s.vrid))?;
            let copies = to_copy(s.vip, ifindex, &main);
            for r in &copies {
                let msg = rtnl_source::add_copy(r, s.vip, table(s.vrid)).map_err(|e| nl_err(&context("copy a route"), e))?;
                sock.ack(msg).map_err(|e| nl_err(&context(&format!("copy the route to {}", r.dst)), e))?;
            }
            delete_rule(sock, s.vip.is_ipv6(), s.vrid)?;
            let add = rtnl_source::rule(Op::Add, s.vip.is_ipv6(), pref(s.vrid), s.port, table(s.vrid))
                .map_err(|e| nl_err(&context("add the rule"), e))?;
            sock.ack(add).map_err(|e| nl_err(&context("add the rule"), e))?;
            Ok(copies.len())
        })
    }

    /// Every address on this router's interfaces.
    pub fn local_addresses(&self) -> Result<Vec<IpAddr>, WgError> {
        self.run(|sock| Ok(addresses(sock)?.into_iter().map(|(_, a)| a).collect()))
    }

    /// Removes the source policy of VRRP router id `vrid` (nothing to remove is fine).
    pub fn release_vip_source(&self, v6: bool, vrid: u8) -> Result<(), WgError> {
        self.run(move |sock| {
            delete_rule(sock, v6, vrid)?;
            flush(sock, v6, table(vrid))
        })
    }
}

/// Every address on this router's interfaces, with its link's index.
fn addresses(sock: &mut rtnl::Socket) -> Result<Vec<(u32, IpAddr)>, WgError> {
    let mut out = Vec::new();
    for p in sock.dump(rtnl::dump_addresses()).map_err(|e| nl_err("list addresses", e))? {
        let msg: Ifaddrmsg = rtnl::parse(&p).map_err(|e| nl_err("list addresses", e))?;
        out.extend(rtnl::parse_address(&msg).map(|(i, net)| (i, net.addr())));
    }
    Ok(out)
}

/// Deletes every rule at our preference for `vrid` (at most a few: an earlier run's).
fn delete_rule(sock: &mut rtnl::Socket, v6: bool, vrid: u8) -> Result<(), WgError> {
    for _ in 0..8 {
        let del = rtnl_source::rule(Op::Delete, v6, pref(vrid), 0, 0).map_err(|e| nl_err("delete the source rule", e))?;
        match sock.ack(del) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(nl_err(&format!("delete the source rule at preference {}", pref(vrid)), e)),
        }
    }
    Ok(())
}

/// Deletes every route of `table` (one family).
fn flush(sock: &mut rtnl::Socket, v6: bool, table: u32) -> Result<(), WgError> {
    let mut ours = Vec::new();
    for p in sock.dump(rtnl::dump_routes(v6)).map_err(|e| nl_err("list routes", e))? {
        let msg: Rtmsg = rtnl::parse(&p).map_err(|e| nl_err("list routes", e))?;
        ours.extend(rtnl_source::parse_table_route(&msg, table));
    }
    for (family, dst, len) in ours {
        let del = rtnl_source::delete_in_table(family, dst, len, table).map_err(|e| nl_err("delete a copied route", e))?;
        match sock.ack(del) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::ESRCH) => {}
            Err(e) => return Err(nl_err(&format!("delete a route of table {table}"), e)),
        }
    }
    Ok(())
}

/// PURE: the configs this router is VRRP master of when it starts: those whose VIP is on one of
/// its interfaces (keepalived added it). A daemon restarted while its keepalived is master gets no
/// new MASTER notify, so this is how it learns.
pub fn masters_at_start<'a>(vips: impl IntoIterator<Item = (&'a ConfigName, IpAddr)>, local: &[IpAddr]) -> Vec<ConfigName> {
    vips.into_iter().filter(|(_, vip)| local.contains(vip)).map(|(c, _)| c.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: &str, gw: Option<&str>, oif: u32) -> MainRoute {
        MainRoute { dst: dst.parse().unwrap(), gateway: gw.map(|g| g.parse().unwrap()), oif, metric: None, scope: 0 }
    }

    #[test]
    fn copies_the_routes_out_of_the_vips_interface_of_its_family() {
        let main = [
            r("0.0.0.0/0", Some("10.0.0.1"), 2),
            r("10.0.0.0/24", None, 2),
            r("192.168.9.0/24", None, 3),
            r("::/0", Some("fe80::1"), 2),
            r("fd00::/64", None, 2),
        ];
        let cases: &[(&str, u32, &[usize])] =
            &[("10.0.0.200", 2, &[0, 1]), ("10.0.0.200", 3, &[2]), ("fd00::200", 2, &[3, 4]), ("10.0.0.200", 9, &[])];
        for (vip, ifindex, want) in cases {
            let want: Vec<MainRoute> = want.iter().map(|i| main[*i].clone()).collect();
            assert_eq!(to_copy(vip.parse().unwrap(), *ifindex, &main), want, "{vip} on {ifindex}");
        }
    }

    #[test]
    fn masters_at_start_are_the_configs_whose_vip_is_here() {
        let (a, b) = (ConfigName::parse("c", "wg0").unwrap(), ConfigName::parse("c", "wg1").unwrap());
        let vips = [(&a, "192.0.2.10".parse().unwrap()), (&b, "fd00::10".parse().unwrap())];
        let cases: &[(&[&str], &[&ConfigName])] =
            &[(&[], &[]), (&["192.0.2.1"], &[]), (&["192.0.2.1", "192.0.2.10"], &[&a]), (&["fd00::10", "192.0.2.10"], &[&a, &b])];
        for (local, want) in cases {
            let local: Vec<IpAddr> = local.iter().map(|s| s.parse().unwrap()).collect();
            let want: Vec<ConfigName> = want.iter().map(|c| (*c).clone()).collect();
            assert_eq!(masters_at_start(vips.iter().map(|(c, ip)| (*c, *ip)), &local), want, "{local:?}");
        }
    }

    #[test]
    fn tables_and_preferences_per_vrid() {
        assert_eq!((table(1), table(255)), (0x7767_0001, 0x7767_00ff));
        assert_eq!((pref(1), pref(255)), (9001, 9255));
    }
}
