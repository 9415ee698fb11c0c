//! The floating address of an endpoint group (#16): a virtual IP the routers of the config hold
//! through keepalived (VRRP). Replicated in `State::vips`; rendered into keepalived's
//! configuration by every router of the config (`vrrp/`).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Valid VRRP router ids (RFC 5798: 1–255).
pub const VRID_RANGE: std::ops::RangeInclusive<u8> = 1..=255;

/// A config's floating address. Exists only validated: the address is an `IpAddr`, the
/// interface passed the interface-name rule, the VRID is 1–255.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vip {
    pub address: IpAddr,
    /// The interface keepalived holds it on; `None`: the router's UCI `vrrp_interface`.
    pub interface: Option<String>,
    pub vrid: u8,
    /// true: the router with the highest priority takes the address back when it returns;
    /// false (`nopreempt`): the address stays where it is until that router fails.
    pub preempt: bool,
    /// true: the group's domain publishes this address (its only A/AAAA record) and client
    /// configs name the domain; false: the domain lists the routers and client configs name the
    /// address itself.
    pub in_dns: bool,
}

/// Why a VIP is refused: the field and the reason (the API's 400 names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct VipError {
    pub field: &'static str,
    pub reason: String,
}

impl Vip {
    /// Validates the parts as the API receives them.
    pub fn parse(address: &str, interface: Option<&str>, vrid: u64, preempt: bool) -> Result<Vip, VipError> {
        let address: IpAddr = address.trim().parse().map_err(|_| VipError {
            field: "vip",
            reason: format!("{} is not an IPv4 or IPv6 address", crate::model::quote_prefix(address)),
        })?;
        if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
            return Err(VipError { field: "vip", reason: format!("{address} cannot be a floating address") });
        }
        if let Some(i) = interface {
            crate::wg::validate_ifname(i).map_err(|_| VipError {
                field: "vip_interface",
                reason: format!("{} is not an interface name (1 to 15 of A-Z a-z 0-9 _ = + . -)", crate::model::quote_prefix(i)),
            })?;
        }
        let vrid = u8::try_from(vrid)
            .ok()
            .filter(|v| VRID_RANGE.contains(v))
            .ok_or_else(|| VipError { field: "vrid", reason: format!("{vrid} is not a VRRP router id (1 to 255)") })?;
        Ok(Vip { address, interface: interface.map(String::from), vrid, preempt, in_dns: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (address, interface, vrid, Ok or the field named in the error)
    type Case<'a> = (&'a str, Option<&'a str>, u64, Result<(), &'a str>);

    #[test]
    fn parse_table() {
        let cases: &[Case] = &[
            ("192.0.2.10", None, 51, Ok(())),
            ("2001:db8::10", Some("br-lan"), 255, Ok(())),
            ("192.0.2.10", Some("eth0"), 1, Ok(())),
            ("192.0.2.300", None, 51, Err("vip")),
            ("vpn.example.com", None, 51, Err("vip")),
            ("0.0.0.0", None, 51, Err("vip")),
            ("224.0.0.18", None, 51, Err("vip")),
            ("::1", None, 51, Err("vip")),
            ("192.0.2.10", Some("eth0; rm -rf /"), 51, Err("vip_interface")),
            ("192.0.2.10", Some("a-very-long-interface"), 51, Err("vip_interface")),
            ("192.0.2.10", Some(""), 51, Err("vip_interface")),
            ("192.0.2.10", None, 0, Err("vrid")),
            ("192.0.2.10", None, 256, Err("vrid")),
        ];
        for (addr, iface, vrid, want) in cases {
            let got = Vip::parse(addr, *iface, *vrid, true).map(|_| ()).map_err(|e| e.field);
            assert_eq!(got, want.map_err(|f| f), "{addr} {iface:?} {vrid}");
        }
    }
}
