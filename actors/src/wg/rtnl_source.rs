//! The rtnetlink messages of the floating address's source policy ([`super::vip_source`]): a
//! route of the main table read back from a dump ([`MainRoute`]), its copy in our table with the
//! VIP as preferred source, and the rule that sends WireGuard's own UDP port to that table.
//! Built with neli like `rtnl.rs`; pure and unit-tested (byte layouts as `ip` sends them).
//!
//! A FIB rule message has the route message's layout (`struct fib_rule_hdr`: family, dst_len,
//! src_len, tos, table, res1, res2, action, flags), so rules are built as an `Rtmsg` with the
//! action in `rtm_type` (`FR_ACT_TO_TBL` = 1 = `RTN_UNICAST`) and `FRA_*` attributes.

use std::net::IpAddr;

use ipnet::IpNet;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmFFlags, Rtn, Rtprot};
use neli::nl::Nlmsghdr;
use neli::rtnl::{Rtattr, Rtmsg};
use neli::types::{Buffer, RtBuffer};

use super::netlink::ROUTE_PROTO;
use super::rtnl::{attr, family, header, ip_bytes, ip_from, u32_from, Failure, Op};

/// `FRA_PRIORITY`, `FRA_TABLE`, `FRA_IP_PROTO`, `FRA_SPORT_RANGE` (linux/fib_rules.h).
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
/// `RT_TABLE_MAIN`.
const MAIN_TABLE: u32 = 254;

/// A unicast route of the main table, as much of it as a copy needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MainRoute {
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    /// The route's metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// `RT_SCOPE_*` as the kernel reported it (link for on-link prefixes, universe via a gateway).
    pub scope: u8,
}

fn raw(ty: u16, payload: &[u8]) -> Result<Rtattr<Rta, Buffer>, Failure> {
    attr(Rta::UnrecognizedConst(ty), payload)
}

/// PURE: a unicast route of the main table, or `None` for anything else (other tables, local,
/// broadcast, multipath without a single `RTA_OIF`).
pub fn parse_main_route(msg: &Rtmsg) -> Option<MainRoute> {
    if msg.rtm_type != Rtn::Unicast {
        return None;
    }
    let mut table = u32::from(u8::from(msg.rtm_table));
    let (mut dst, mut gateway, mut oif, mut metric) = (None, None, None, None);
    for a in msg.rtattrs.as_ref() {
        let bytes = a.rta_payload.as_ref();
        match a.rta_type {
            Rta::Table => table = u32_from(bytes)?,
            Rta::Dst => dst = ip_from(bytes),
            Rta::Gateway => gateway = ip_from(bytes),
            Rta::Oif => oif = u32_from(bytes),
            Rta::Priority => metric = u32_from(bytes),
            _ => {}
        }
    }
    if table != MAIN_TABLE {
        return None;
    }
    let any = match msg.rtm_family {
        RtAddrFamily::Inet6 => IpAddr::from([0u8; 16]),
        RtAddrFamily::Inet => IpAddr::from([0u8; 4]),
        _ => return None,
    };
    let dst = IpNet::new(dst.unwrap_or(any), msg.rtm_dst_len).ok()?;
    Some(MainRoute { dst, gateway, oif: oif?, metric, scope: u8::from(msg.rtm_scope) })
}

/// PURE: `(family, destination, prefix length)` of a route in `table`, for deleting it, or `None`
/// for a route of another table.
pub fn parse_table_route(msg: &Rtmsg, table: u32) -> Option<(RtAddrFamily, Option<IpAddr>, u8)> {
    let mut t = u32::from(u8::from(msg.rtm_table));
    let mut dst = None;
    for a in msg.rtattrs.as_ref() {
        match a.rta_type {
            Rta::Table => t = u32_from(a.rta_payload.as_ref())?,
            Rta::Dst => dst = ip_from(a.rta_payload.as_ref()),
            _ => {}
        }
    }
    (t == table).then_some((msg.rtm_family, dst, msg.rtm_dst_len))
}

/// `ip route add DST [via GW] dev OIF [metric M] src PREFSRC table TABLE proto 87`.
pub fn add_copy(route: &MainRoute, prefsrc: IpAddr, table: u32) -> Result<Nlmsghdr<Rtm, Rtmsg>, Failure> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Rta::Table, table)?);
    if route.dst.prefix_len() > 0 {
        attrs.push(attr(Rta::Dst, ip_bytes(&route.dst.addr()).as_slice())?);
    }
    if let Some(gw) = &route.gateway {
        attrs.push(attr(Rta::Gateway, ip_bytes(gw).as_slice())?);
    }
    attrs.push(attr(Rta::Oif, route.oif)?);
    if let Some(m) = route.metric {
        attrs.push(attr(Rta::Priority, m)?);
    }
    attrs.push(attr(Rta::Prefsrc, ip_bytes(&prefsrc).as_slice())?);
    let msg = Rtmsg {
        rtm_family: family(&route.dst.addr()),
        rtm_dst_len: route.dst.prefix_len(),
        rtm_src_len: 0,
        rtm_tos: 0,
        rtm_table: RtTable::Unspec,
        rtm_protocol: Rtprot::from(ROUTE_PROTO),
        rtm_scope: RtScope::from(route.scope),
        rtm_type: Rtn::Unicast,
        rtm_flags: RtmFFlags::empty(),
        rtattrs: attrs,
    };
    Ok(header(Rtm::Newroute, &[NlmF::Ack, NlmF::Create, NlmF::Replace], msg))
}

/// `ip route del DST table TABLE` (any scope, as `ip` asks).
pub fn delete_in_table(family: RtAddrFamily, dst: Option<IpAddr>, dst_len: u8, table: u32) -> Result<Nlmsghdr<Rtm, Rtmsg>, Failure> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Rta::Table, table)?);
    if let Some(d) = dst {
        attrs.push(attr(Rta::Dst, ip_bytes(&d).as_slice())?);
    }
    let msg = Rtmsg {
        rtm_family: family,
        rtm_dst_len: dst_len,
        rtm_src_len: 0,
        rtm_tos: 0,
        rtm_table: RtTable::Unspec,
        rtm_protocol: Rtprot::Unspec,
        rtm_scope: RtScope::Nowhere,
        rtm_type: Rtn::Unspec,
        rtm_flags: RtmFFlags::empty(),
        rtattrs: attrs,
    };
    Ok(header(Rtm::Delroute, &[NlmF::Ack], msg))
}

/// `ip [-6] rule add|del pref PREF ipproto udp sport PORT lookup TABLE` (`Add`), or
/// `ip [-6] rule del pref PREF` (`Delete`: whatever rule holds that preference).
pub fn rule(op: Op, v6: bool, pref: u32, port: u16, table: u32) -> Result<Nlmsghdr<Rtm, Rtmsg>, Failure> {
    let mut attrs = RtBuffer::new();
    attrs.push(raw(FRA_PRIORITY, &pref.to_ne_bytes())?);
    if op == Op::Add {
        attrs.push(raw(FRA_TABLE, &table.to_ne_bytes())?);
        attrs.push(raw(FRA_IP_PROTO, &[libc::IPPROTO_UDP as u8])?);
        let mut range = port.to_ne_bytes().to_vec();
        range.extend_from_slice(&port.to_ne_bytes());
        attrs.push(raw(FRA_SPORT_RANGE, &range)?);
    }
    let msg = Rtmsg {
        rtm_family: if v6 { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet },
        rtm_dst_len: 0,
        rtm_src_len: 0,
        rtm_tos: 0,
        rtm_table: RtTable::Unspec,
        // res1, res2
        rtm_protocol: Rtprot::Unspec,
        rtm_scope: RtScope::Universe,
        // action: FR_ACT_TO_TBL for an add; unspecified for a delete by preference
        rtm_type: if op == Op::Add { Rtn::Unicast } else { Rtn::Unspec },
        rtm_flags: RtmFFlags::empty(),
        rtattrs: attrs,
    };
    Ok(match op {
        Op::Add => header(Rtm::Newrule, &[NlmF::Ack, NlmF::Create, NlmF::Excl], msg),
        Op::Delete => header(Rtm::Delrule, &[NlmF::Ack], msg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::{FromBytesWithInput, ToBytes};
    use std::io::Cursor;

    fn bytes(msg: &Nlmsghdr<Rtm, Rtmsg>) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        msg.to_bytes(&mut c).unwrap();
        c.into_inner()
    }

    fn rta(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn reparse(msg: &Nlmsghdr<Rtm, Rtmsg>) -> Rtmsg {
        let b = bytes(msg);
        Rtmsg::from_bytes_with_input(&mut Cursor::new(&b[16..]), b.len() - 16).unwrap()
    }

    fn flags(b: &[u8]) -> u16 {
        u16::from_ne_bytes([b[6], b[7]])
    }

    const REQUEST: u16 = libc::NLM_F_REQUEST as u16;
    const ACK: u16 = libc::NLM_F_ACK as u16;

    #[test]
    fn sport_rule_is_what_ip_rule_sends() {
        let b = bytes(&rule(Op::Add, false, 9051, 51820, 0x7767_0033).unwrap());
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), libc::RTM_NEWRULE);
        assert_eq!(flags(&b), REQUEST | ACK | (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16);
        // family, dst_len, src_len, tos, table, res1, res2, action (FR_ACT_TO_TBL), flags
        assert_eq!(&b[16..28], &[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let mut want = rta(FRA_PRIORITY, &9051u32.to_ne_bytes());
        want.extend(rta(FRA_TABLE, &0x7767_0033u32.to_ne_bytes()));
        want.extend(rta(FRA_IP_PROTO, &[17]));
        let mut range = 51820u16.to_ne_bytes().to_vec();
        range.extend(51820u16.to_ne_bytes());
        want.extend(rta(FRA_SPORT_RANGE, &range));
        assert_eq!(&b[28..], &want[..]);

        let b = bytes(&rule(Op::Delete, true, 9051, 51820, 0x7767_0033).unwrap());
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), libc::RTM_DELRULE);
        assert_eq!(flags(&b), REQUEST | ACK);
        assert_eq!(&b[16..28], &[libc::AF_INET6 as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "delete by preference only");
        assert_eq!(&b[28..], &rta(FRA_PRIORITY, &9051u32.to_ne_bytes())[..]);
    }

    #[test]
    fn a_copy_keeps_the_route_and_adds_the_source() {
        let via = MainRoute {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("10.0.0.1".parse().unwrap()),
            oif: 4,
            metric: Some(10),
            scope: libc::RT_SCOPE_UNIVERSE,
        };
        let b = bytes(&add_copy(&via, "10.0.0.200".parse().unwrap(), 0x7767_0033).unwrap());
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), libc::RTM_NEWROUTE);
        assert_eq!(flags(&b), REQUEST | ACK | (libc::NLM_F_CREATE | libc::NLM_F_REPLACE) as u16);
        assert_eq!(&b[16..24], &[libc::AF_INET as u8, 0, 0, 0, 0, 87, libc::RT_SCOPE_UNIVERSE, libc::RTN_UNICAST]);
        let mut want = rta(libc::RTA_TABLE, &0x7767_0033u32.to_ne_bytes());
        want.extend(rta(libc::RTA_GATEWAY, &[10, 0, 0, 1]));
        want.extend(rta(libc::RTA_OIF, &4u32.to_ne_bytes()));
        want.extend(rta(libc::RTA_PRIORITY, &10u32.to_ne_bytes()));
        want.extend(rta(libc::RTA_PREFSRC, &[10, 0, 0, 200]));
        assert_eq!(&b[28..], &want[..], "no RTA_DST for the default route");

        // the kernel's own dump of a main-table route reads back as the same route
        let mut main = reparse(&add_copy(&via, "10.0.0.200".parse().unwrap(), MAIN_TABLE).unwrap());
        assert_eq!(parse_main_route(&main), Some(via.clone()));
        assert_eq!(parse_table_route(&main, MAIN_TABLE), Some((RtAddrFamily::Inet, None, 0)));
        main.rtm_type = Rtn::Local;
        assert_eq!(parse_main_route(&main), None, "local routes are not copied");
        let ours = reparse(&add_copy(&via, "10.0.0.200".parse().unwrap(), 0x7767_0033).unwrap());
        assert_eq!(parse_main_route(&ours), None, "another table");
        assert_eq!(parse_table_route(&ours, 0x7767_0033), Some((RtAddrFamily::Inet, None, 0)));

        let link = MainRoute { dst: "fd00:1::/64".parse().unwrap(), gateway: None, oif: 4, metric: None, scope: libc::RT_SCOPE_UNIVERSE };
        let back = reparse(&add_copy(&link, "fd00:1::200".parse().unwrap(), MAIN_TABLE).unwrap());
        assert_eq!(parse_main_route(&back), Some(link));
        let del = bytes(&delete_in_table(RtAddrFamily::Inet6, Some("fd00:1::".parse().unwrap()), 64, 7).unwrap());
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), libc::RTM_DELROUTE);
        assert_eq!(&del[16..24], &[libc::AF_INET6 as u8, 64, 0, 0, 0, 0, libc::RT_SCOPE_NOWHERE, 0]);
    }
}
