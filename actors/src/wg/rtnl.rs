//! The rtnetlink messages `netlink.rs` sends and reads, built and parsed with neli (the netlink
//! library wireguard-uapi already links; rtnetlink/netlink-packet-route cost 585 KiB on aarch64),
//! and a small blocking socket around neli's `NlSocketHandle` that sends one request and collects
//! its answer (an acknowledgement, or every part of a dump).
//!
//! Building and parsing are pure and unit-tested here (byte layouts as `ip` sends them); the socket
//! is exercised by the namespace tests (userspace backend: addresses and routes) and the kernel VM
//! test (`tests/vm`: wireguard links).

use std::fmt::Debug;
use std::io::Cursor;
use std::net::IpAddr;

use ipnet::IpNet;
use neli::consts::nl::{NlmF, NlmFFlags, Nlmsg};
use neli::consts::rtnl::{
    Arphrd, Ifa, IfaFFlags, Iff, IffFlags, Ifla, IflaInfo, RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmFFlags, Rtn, Rtprot,
};
use neli::consts::socket::NlFamily;
use neli::err::NlError;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::rtnl::{Ifaddrmsg, Ifinfomsg, Rtattr, Rtmsg};
use neli::socket::NlSocketHandle;
use neli::types::{Buffer, RtBuffer};
use neli::{FromBytesWithInput, Size, ToBytes};

use super::netlink::{LinkState, ROUTE_PROTO};

/// Why a request failed: the kernel's errno, or something below it (socket, encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Errno(i32),
    Other(String),
}

impl Failure {
    pub(crate) fn errno(&self) -> Option<i32> {
        match self {
            Failure::Errno(e) => Some(*e),
            Failure::Other(_) => None,
        }
    }
}

fn other(e: impl std::fmt::Display) -> Failure {
    Failure::Other(e.to_string())
}

/// Add or delete (addresses, routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Delete,
}

pub(crate) fn family(ip: &IpAddr) -> RtAddrFamily {
    match ip {
        IpAddr::V4(_) => RtAddrFamily::Inet,
        IpAddr::V6(_) => RtAddrFamily::Inet6,
    }
}

pub(crate) fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub(crate) fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

pub(crate) fn u32_from(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// A string attribute without its trailing NULs.
fn text_from(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

pub(crate) fn header<P: Size>(ty: Rtm, flags: &[NlmF], payload: P) -> Nlmsghdr<Rtm, P> {
    let mut all = vec![NlmF::Request];
    all.extend_from_slice(flags);
    Nlmsghdr::new(None, ty, NlmFFlags::new(&all), None, None, NlPayload::Payload(payload))
}

pub(crate) fn attr<T: neli::consts::rtnl::RtaType, P: Size + ToBytes>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>, Failure> {
    Rtattr::new(None, ty, payload).map_err(other)
}

fn ifinfo(index: i32, flags: IffFlags, change: IffFlags, attrs: RtBuffer<Ifla, Buffer>) -> Ifinfomsg {
    Ifinfomsg::new(RtAddrFamily::Unspecified, Arphrd::from(0u16), index, flags, change, attrs)
}

/// `ip link add NAME type wireguard`.
pub(crate) fn new_wireguard_link(name: &str) -> Result<Nlmsghdr<Rtm, Ifinfomsg>, Failure> {
    let mut info = RtBuffer::new();
    info.push(attr(IflaInfo::Kind, "wireguard".as_bytes())?);
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Ifla::Ifname, name.as_bytes())?);
    attrs.push(attr(Ifla::Linkinfo, info)?);
    let msg = ifinfo(0, IffFlags::empty(), IffFlags::empty(), attrs);
    Ok(header(Rtm::Newlink, &[NlmF::Ack, NlmF::Create, NlmF::Excl], msg))
}

/// `ip link del` of the link with this index.
pub(crate) fn delete_link(index: i32) -> Nlmsghdr<Rtm, Ifinfomsg> {
    header(Rtm::Dellink, &[NlmF::Ack], ifinfo(index, IffFlags::empty(), IffFlags::empty(), RtBuffer::new()))
}

/// `ip link set dev INDEX mtu MTU` (when given) and `up` (when asked).
pub(crate) fn set_link(index: i32, mtu: Option<u32>, up: bool) -> Result<Nlmsghdr<Rtm, Ifinfomsg>, Failure> {
    let mut attrs = RtBuffer::new();
    if let Some(mtu) = mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    let (flags, change) = if up { (IffFlags::new(&[Iff::Up]), IffFlags::new(&[Iff::Up])) } else { (IffFlags::empty(), IffFlags::empty()) };
    Ok(header(Rtm::Newlink, &[NlmF::Ack], ifinfo(index, flags, change, attrs)))
}

/// `ip link show NAME`: one RTM_NEWLINK back, or ENODEV.
pub(crate) fn get_link(name: &str) -> Result<Nlmsghdr<Rtm, Ifinfomsg>, Failure> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Ifla::Ifname, name.as_bytes())?);
    Ok(header(Rtm::Getlink, &[], ifinfo(0, IffFlags::empty(), IffFlags::empty(), attrs)))
}

/// Every link.
pub(crate) fn dump_links() -> Nlmsghdr<Rtm, Ifinfomsg> {
    header(Rtm::Getlink, &[NlmF::Dump], ifinfo(0, IffFlags::empty(), IffFlags::empty(), RtBuffer::new()))
}

/// Adds or removes `net` (address and prefix length) on the link `index`.
pub(crate) fn address(op: Op, index: i32, net: &IpNet) -> Result<Nlmsghdr<Rtm, Ifaddrmsg>, Failure> {
    let ip = net.addr();
    let mut attrs = RtBuffer::new();
    if ip.is_ipv4() {
        attrs.push(attr(Ifa::Local, ip_bytes(&ip).as_slice())?);
    }
    attrs.push(attr(Ifa::Address, ip_bytes(&ip).as_slice())?);
    let msg = Ifaddrmsg {
        ifa_family: family(&ip),
        ifa_prefixlen: net.prefix_len(),
        ifa_flags: IfaFFlags::empty(),
        ifa_scope: 0,
        ifa_index: index,
        rtattrs: attrs,
    };
    Ok(match op {
        Op::Add => header(Rtm::Newaddr, &[NlmF::Ack, NlmF::Create, NlmF::Excl], msg),
        Op::Delete => header(Rtm::Deladdr, &[NlmF::Ack], msg),
    })
}

/// Every address of every link.
pub(crate) fn dump_addresses() -> Nlmsghdr<Rtm, Ifaddrmsg> {
    let msg = Ifaddrmsg {
        ifa_family: RtAddrFamily::Unspecified,
        ifa_prefixlen: 0,
        ifa_flags: IfaFFlags::empty(),
        ifa_scope: 0,
        ifa_index: 0,
        rtattrs: RtBuffer::new(),
    };
    header(Rtm::Getaddr, &[NlmF::Dump], msg)
}

/// Adds (`ip route add NET dev INDEX proto 87`, link scope for IPv4) or removes our route to
/// `net` on the link `index`, in the main table.
pub(crate) fn route(op: Op, index: i32, net: &IpNet) -> Result<Nlmsghdr<Rtm, Rtmsg>, Failure> {
    let net = net.trunc();
    let ip = net.addr();
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Rta::Dst, ip_bytes(&ip).as_slice())?);
    attrs.push(attr(Rta::Oif, index)?);
    // Deleting: any scope (RT_SCOPE_NOWHERE), as `ip route del` asks.
    let (scope, kind) = match op {
        Op::Add if ip.is_ipv4() => (RtScope::Link, Rtn::Unicast),
        Op::Add => (RtScope::Universe, Rtn::Unicast),
        Op::Delete => (RtScope::Nowhere, Rtn::Unspec),
    };
    let msg = Rtmsg {
        rtm_family: family(&ip),
        rtm_dst_len: net.prefix_len(),
        rtm_src_len: 0,
        rtm_tos: 0,
        rtm_table: RtTable::Main,
        rtm_protocol: Rtprot::from(ROUTE_PROTO),
        rtm_scope: scope,
        rtm_type: kind,
        rtm_flags: RtmFFlags::empty(),
        rtattrs: attrs,
    };
    Ok(match op {
        Op::Add => header(Rtm::Newroute, &[NlmF::Ack, NlmF::Create, NlmF::Excl], msg),
        Op::Delete => header(Rtm::Delroute, &[NlmF::Ack], msg),
    })
}

/// Every route of one family (`v6`: IPv6, else IPv4), all tables.
pub(crate) fn dump_routes(v6: bool) -> Nlmsghdr<Rtm, Rtmsg> {
    let msg = Rtmsg {
        rtm_family: if v6 { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet },
        rtm_dst_len: 0,
        rtm_src_len: 0,
        rtm_tos: 0,
        rtm_table: RtTable::Unspec,
        rtm_protocol: Rtprot::Unspec,
        rtm_scope: RtScope::Universe,
        rtm_type: Rtn::Unspec,
        rtm_flags: RtmFFlags::empty(),
        rtattrs: RtBuffer::new(),
    };
    header(Rtm::Getroute, &[NlmF::Dump], msg)
}

/// A link's name and state.
pub(crate) fn parse_link(msg: &Ifinfomsg) -> (Option<String>, LinkState) {
    let mut state =
        LinkState { index: u32::try_from(msg.ifi_index).unwrap_or(0), mtu: None, up: msg.ifi_flags.contains(&Iff::Up), kind: None };
    let mut name = None;
    for a in msg.rtattrs.as_ref() {
        let bytes = a.rta_payload.as_ref();
        match a.rta_type {
            Ifla::Ifname => name = Some(text_from(bytes)),
            Ifla::Mtu => state.mtu = u32_from(bytes),
            Ifla::Linkinfo => {
                if let Ok(info) = a.get_attr_handle::<IflaInfo>() {
                    if let Some(kind) = info.get_attribute(IflaInfo::Kind) {
                        state.kind = Some(text_from(kind.rta_payload.as_ref()));
                    }
                }
            }
            _ => {}
        }
    }
    (name, state)
}

/// The address (with prefix length) an address message carries, and its link.
pub(crate) fn parse_address(msg: &Ifaddrmsg) -> Option<(u32, IpNet)> {
    let mut local = None;
    let mut address = None;
    for a in msg.rtattrs.as_ref() {
        match a.rta_type {
            Ifa::Local => local = ip_from(a.rta_payload.as_ref()),
            Ifa::Address => address = ip_from(a.rta_payload.as_ref()),
            _ => {}
        }
    }
    let net = IpNet::new(local.or(address)?, msg.ifa_prefixlen).ok()?;
    Some((u32::try_from(msg.ifa_index).ok()?, net))
}

/// The destination of one of our routes on `index`: protocol [`ROUTE_PROTO`], main table.
pub(crate) fn parse_our_route(msg: &Rtmsg, index: u32) -> Option<IpNet> {
    if msg.rtm_protocol != Rtprot::from(ROUTE_PROTO) {
        return None;
    }
    let mut oif = None;
    let mut dst = None;
    let mut table = u32::from(u8::from(msg.rtm_table));
    for a in msg.rtattrs.as_ref() {
        let bytes = a.rta_payload.as_ref();
        match a.rta_type {
            Rta::Oif => oif = u32_from(bytes),
            Rta::Dst => dst = ip_from(bytes),
            Rta::Table => table = u32_from(bytes)?,
            _ => {}
        }
    }
    if oif != Some(index) || table != u32::from(u8::from(RtTable::Main)) {
        return None;
    }
    let dst = dst.unwrap_or(match msg.rtm_family {
        RtAddrFamily::Inet6 => IpAddr::from([0u8; 16]),
        _ => IpAddr::from([0u8; 4]),
    });
    IpNet::new(dst, msg.rtm_dst_len).ok()
}

/// Parses one payload of a dump as `P`.
pub(crate) fn parse<P: for<'a> FromBytesWithInput<'a, Input = usize>>(payload: &Buffer) -> Result<P, Failure> {
    let bytes = payload.as_ref();
    P::from_bytes_with_input(&mut Cursor::new(bytes), bytes.len()).map_err(other)
}

/// One rtnetlink socket (blocking; one request at a time).
pub(crate) struct Socket(NlSocketHandle);

impl Socket {
    pub(crate) fn open() -> std::io::Result<Socket> {
        NlSocketHandle::connect(NlFamily::Route, None, &[]).map(Socket)
    }

    fn send<P: Size + ToBytes + Debug>(&mut self, msg: Nlmsghdr<Rtm, P>) -> Result<(), Failure> {
        self.0.send(msg).map_err(other)
    }

    /// Reads the next message; a netlink error becomes its errno.
    fn recv(&mut self) -> Result<Nlmsghdr<Nlmsg, Buffer>, Failure> {
        match self.0.recv::<Nlmsg, Buffer>() {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Failure::Other("rtnetlink socket closed".into())),
            Err(NlError::Nlmsgerr(e)) => Err(Failure::Errno(e.error.abs())),
            Err(e) => Err(other(e)),
        }
    }

    /// A request answered by an acknowledgement.
    pub(crate) fn ack<P: Size + ToBytes + Debug>(&mut self, msg: Nlmsghdr<Rtm, P>) -> Result<(), Failure> {
        self.send(msg)?;
        loop {
            let m = self.recv()?;
            if let NlPayload::Ack(_) = m.nl_payload {
                return Ok(());
            }
        }
    }

    /// A request answered by one message (a `get`): its payload.
    pub(crate) fn get<P: Size + ToBytes + Debug>(&mut self, msg: Nlmsghdr<Rtm, P>) -> Result<Buffer, Failure> {
        self.send(msg)?;
        match self.recv()?.nl_payload {
            NlPayload::Payload(p) => Ok(p),
            other => Err(Failure::Other(format!("unexpected answer {other:?}"))),
        }
    }

    /// A dump: the payload of every message up to `NLMSG_DONE`.
    pub(crate) fn dump<P: Size + ToBytes + Debug>(&mut self, msg: Nlmsghdr<Rtm, P>) -> Result<Vec<Buffer>, Failure> {
        self.send(msg)?;
        let mut out = Vec::new();
        loop {
            let m = self.recv()?;
            if m.nl_type == Nlmsg::Done {
                return Ok(out);
            }
            if let NlPayload::Payload(p) = m.nl_payload {
                out.push(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<P: Size + ToBytes + Debug>(msg: &Nlmsghdr<Rtm, P>) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        msg.to_bytes(&mut c).unwrap();
        c.into_inner()
    }

    /// Splits a message into (nlmsghdr type, flags, payload).
    fn split(b: &[u8]) -> (u16, u16, &[u8]) {
        let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, b.len(), "nlmsg_len");
        (u16::from_ne_bytes([b[4], b[5]]), u16::from_ne_bytes([b[6], b[7]]), &b[16..])
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

    const REQUEST: u16 = libc::NLM_F_REQUEST as u16;
    const ACK: u16 = libc::NLM_F_ACK as u16;
    const CREATE_EXCL: u16 = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
    const DUMP: u16 = libc::NLM_F_DUMP as u16;

    #[test]
    fn wireguard_link_is_newlink_with_kind() {
        let b = bytes(&new_wireguard_link("wg0").unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!(ty, libc::RTM_NEWLINK);
        assert_eq!(flags, REQUEST | ACK | CREATE_EXCL);
        assert_eq!(&payload[..16], &[0u8; 16], "ifinfomsg: unspec family, index 0, no flags");
        let mut want = rta(libc::IFLA_IFNAME, b"wg0");
        want.extend(rta(libc::IFLA_LINKINFO, &rta(libc::IFLA_INFO_KIND, b"wireguard")));
        assert_eq!(&payload[16..], &want[..]);
    }

    #[test]
    fn delete_and_set_link() {
        let b = bytes(&delete_link(7));
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_DELLINK, REQUEST | ACK));
        assert_eq!(i32::from_ne_bytes(payload[4..8].try_into().unwrap()), 7);
        assert_eq!(payload.len(), 16);

        let b = bytes(&set_link(7, Some(1380), true).unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_NEWLINK, REQUEST | ACK));
        assert_eq!(i32::from_ne_bytes(payload[4..8].try_into().unwrap()), 7);
        let up = libc::IFF_UP as u32;
        assert_eq!(u32::from_ne_bytes(payload[8..12].try_into().unwrap()), up, "flags");
        assert_eq!(u32::from_ne_bytes(payload[12..16].try_into().unwrap()), up, "change mask");
        assert_eq!(&payload[16..], &rta(libc::IFLA_MTU, &1380u32.to_ne_bytes())[..]);

        let b = bytes(&set_link(7, Some(1280), false).unwrap());
        let payload = split(&b).2;
        assert_eq!(&payload[8..16], &[0u8; 8], "up untouched");
    }

    #[test]
    fn address_messages() {
        let b = bytes(&address(Op::Add, 3, &"10.8.0.1/24".parse().unwrap()).unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_NEWADDR, REQUEST | ACK | CREATE_EXCL));
        assert_eq!(&payload[..4], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(i32::from_ne_bytes(payload[4..8].try_into().unwrap()), 3);
        let mut want = rta(libc::IFA_LOCAL, &[10, 8, 0, 1]);
        want.extend(rta(libc::IFA_ADDRESS, &[10, 8, 0, 1]));
        assert_eq!(&payload[8..], &want[..]);

        let b = bytes(&address(Op::Delete, 3, &"fd00:8::1/64".parse().unwrap()).unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_DELADDR, REQUEST | ACK));
        assert_eq!(&payload[..2], &[libc::AF_INET6 as u8, 64]);
        let ip: std::net::Ipv6Addr = "fd00:8::1".parse().unwrap();
        assert_eq!(&payload[8..], &rta(libc::IFA_ADDRESS, &ip.octets())[..]);
    }

    #[test]
    fn route_messages() {
        let b = bytes(&route(Op::Add, 5, &"192.168.77.9/24".parse().unwrap()).unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_NEWROUTE, REQUEST | ACK | CREATE_EXCL));
        // family, dst_len, src_len, tos, table, protocol, scope, type
        assert_eq!(&payload[..8], &[libc::AF_INET as u8, 24, 0, 0, libc::RT_TABLE_MAIN, 87, libc::RT_SCOPE_LINK, libc::RTN_UNICAST]);
        let mut want = rta(libc::RTA_DST, &[192, 168, 77, 0]);
        want.extend(rta(libc::RTA_OIF, &5i32.to_ne_bytes()));
        assert_eq!(&payload[12..], &want[..]);

        let b = bytes(&route(Op::Delete, 5, &"fd01::/48".parse().unwrap()).unwrap());
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_DELROUTE, REQUEST | ACK));
        assert_eq!(&payload[..8], &[libc::AF_INET6 as u8, 48, 0, 0, libc::RT_TABLE_MAIN, 87, libc::RT_SCOPE_NOWHERE, 0]);

        let b = bytes(&dump_routes(true));
        let (ty, flags, payload) = split(&b);
        assert_eq!((ty, flags), (libc::RTM_GETROUTE, REQUEST | DUMP));
        assert_eq!(payload[0], libc::AF_INET6 as u8);
        assert_eq!(split(&bytes(&dump_links())).1, REQUEST | DUMP);
        assert_eq!(split(&bytes(&dump_addresses())).1, REQUEST | DUMP);
    }

    /// A message as the kernel would send it, read back through `parse`.
    fn reparse<P: Size + ToBytes + Debug + for<'a> FromBytesWithInput<'a, Input = usize>>(msg: &Nlmsghdr<Rtm, P>) -> P {
        let b = bytes(msg);
        parse(&Buffer::from(&b[16..])).unwrap()
    }

    #[test]
    fn parse_link_address_and_route() {
        let mut info = RtBuffer::new();
        info.push(attr(IflaInfo::Kind, "wireguard\0".as_bytes()).unwrap());
        let mut attrs = RtBuffer::new();
        attrs.push(attr(Ifla::Ifname, "wg0\0".as_bytes()).unwrap());
        attrs.push(attr(Ifla::Mtu, 1420u32).unwrap());
        attrs.push(attr(Ifla::Linkinfo, info).unwrap());
        let link = header(Rtm::Newlink, &[], ifinfo(9, IffFlags::new(&[Iff::Up]), IffFlags::empty(), attrs));
        let (name, state) = parse_link(&reparse(&link));
        assert_eq!(name.as_deref(), Some("wg0"));
        assert_eq!(state, LinkState { index: 9, mtu: Some(1420), up: true, kind: Some("wireguard".into()) });

        let addr = address(Op::Add, 9, &"10.8.0.1/24".parse().unwrap()).unwrap();
        assert_eq!(parse_address(&reparse(&addr)), Some((9, "10.8.0.1/24".parse().unwrap())));
        let addr = address(Op::Add, 9, &"fd00:8::1/64".parse().unwrap()).unwrap();
        assert_eq!(parse_address(&reparse(&addr)), Some((9, "fd00:8::1/64".parse().unwrap())));

        let ours = route(Op::Add, 9, &"172.16.0.0/16".parse().unwrap()).unwrap();
        assert_eq!(parse_our_route(&reparse(&ours), 9), Some("172.16.0.0/16".parse().unwrap()));
        assert_eq!(parse_our_route(&reparse(&ours), 8), None, "other link");
        let mut theirs: Rtmsg = reparse(&ours);
        theirs.rtm_protocol = Rtprot::Boot;
        assert_eq!(parse_our_route(&theirs, 9), None, "other protocol");
        let mut other_table: Rtmsg = reparse(&ours);
        other_table.rtm_table = RtTable::Local;
        assert_eq!(parse_our_route(&other_table, 9), None, "other table");
    }
}
