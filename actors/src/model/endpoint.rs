//! `Endpoint`: a public address, `host[:port]`, where the host is an IPv4 address, an IPv6 address
//! or a DNS name. The one parser for node endpoints, cluster addresses, join-token issuers and the
//! `Endpoint =` line of a client config.
//!
//! Accepted forms: `192.0.2.1`, `192.0.2.1:51820`, `2001:db8::1`, `[2001:db8::1]`,
//! `[2001:db8::1]:51820`, `vpn.example.com`, `vpn.example.com:51820`. Surrounding blanks are
//! ignored. Brackets are only for IPv6.
//!
//! The rule for names: labels of 1–63 characters of `[A-Za-z0-9-]`, not starting or ending with
//! `-`, at most 253 characters in all, and the last label not all digits (`1.2.3.999` is a mistyped
//! address, not a name). One trailing dot (the fully qualified form, `vpn.example.com.`) is accepted
//! and dropped, everywhere: the stored and displayed name never ends with a dot. Case is kept.
//!
//! A port is 1–65535, written in decimal digits only.

use super::{quote_prefix, InvalidField};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest DNS name (without the trailing dot).
pub const NAME_MAX_LEN: usize = 253;
/// Longest DNS label.
pub const LABEL_MAX_LEN: usize = 63;

/// The host part of an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// A DNS name under the rule above, without a trailing dot.
    Name(String),
}

impl Host {
    /// The address, if the host is one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Host::V4(a) => Some((*a).into()),
            Host::V6(a) => Some((*a).into()),
            Host::Name(_) => None,
        }
    }
}

/// Unbracketed: `192.0.2.1`, `2001:db8::1`, `vpn.example.com`.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::V4(a) => a.fmt(f),
            Host::V6(a) => a.fmt(f),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A validated `host[:port]`. `Display` writes the canonical form, which parses back to the same
/// value: IPv6 is bracketed only when a port follows (`[2001:db8::1]:51820`, `2001:db8::1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: Host,
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses `s`; errors name `field` and quote (a prefix of) `s`.
    pub fn parse(field: &str, s: &str) -> Result<Self, InvalidField> {
        let t = s.trim();
        let err = |why: &str| InvalidField::new(field, format!("{} is not a valid endpoint ({why})", quote_prefix(s)));
        if t.is_empty() {
            return Err(InvalidField::new(field, "must not be empty"));
        }
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or_else(|| err("expected [IPv6] or [IPv6]:port"))?;
            let ip = inner.parse::<Ipv6Addr>().map_err(|_| err("expected [IPv6] or [IPv6]:port"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| err("expected [IPv6] or [IPv6]:port"))?),
            };
            (Host::V6(ip), port)
        } else if t.matches(':').count() >= 2 {
            // Several colons: a bare IPv6 address, which cannot carry a port.
            let ip = t.parse::<Ipv6Addr>().map_err(|_| err("an IPv6 address with a port needs brackets: [IPv6]:port"))?;
            (Host::V6(ip), None)
        } else {
            let (h, p) = match t.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (t, None),
            };
            let host = match h.parse::<Ipv4Addr>() {
                Ok(ip) => Host::V4(ip),
                Err(_) => Host::Name(check_dns_name(h).ok_or_else(|| err("expected an IP address or host name, optionally with :port"))?),
            };
            (host, p)
        };
        let port = port.map(|p| parse_port(p).ok_or_else(|| err("the port must be 1-65535"))).transpose()?;
        Ok(Endpoint { host, port })
    }

    /// Like [`Endpoint::parse`], and the port is required (`host:port`).
    pub fn parse_with_port(field: &str, s: &str) -> Result<Self, InvalidField> {
        let e = Self::parse(field, s)?;
        if e.port.is_none() {
            return Err(InvalidField::new(field, format!("{} is not a valid endpoint (expected host:port)", quote_prefix(s))));
        }
        Ok(e)
    }

    /// The same host with port `port` (replacing any port it had).
    pub fn with_port(&self, port: u16) -> Self {
        Endpoint { host: self.host.clone(), port: Some(port) }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (h, Some(p)) => write!(f, "{h}:{p}"),
            (h, None) => h.fmt(f),
        }
    }
}

/// `1`–`65535`, decimal digits only (no sign, no blanks).
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&p| p > 0)
}

/// The name rule (module docs); returns the name without its trailing dot.
fn check_dns_name(s: &str) -> Option<String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > NAME_MAX_LEN {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= LABEL_MAX_LEN
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    let last_numeric = name.rsplit('.').next().is_some_and(|l| l.bytes().all(|c| c.is_ascii_digit()));
    (name.split('.').all(label_ok) && !last_numeric).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> String {
        Endpoint::parse("endpoint", s).unwrap_or_else(|e| panic!("{s:?}: {e}")).to_string()
    }

    #[test]
    fn accepted_and_canonical() {
        let cases = [
            ("192.0.2.1", "192.0.2.1"),
            ("192.0.2.1:51820", "192.0.2.1:51820"),
            (" 192.0.2.1:1 ", "192.0.2.1:1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:51820", "[2001:db8::1]:51820"),
            ("2001:DB8:0::1", "2001:db8::1"),
            ("vpn.example.com", "vpn.example.com"),
            ("r1.example.com:7", "r1.example.com:7"),
            ("router-1", "router-1"),
            ("Vpn.Example.COM", "Vpn.Example.COM"),
            ("x:65535", "x:65535"),
            ("a1.b2.c3", "a1.b2.c3"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input:?}");
        }
    }

    /// Every case on which the four old parsers (the API's `parse_endpoint`, the UCI
    /// `parse_endpoint`, the join token's `check_host_port`, `render::endpoint_host`) disagreed,
    /// with the one decision. `Some(display)` = accepted, `None` = refused.
    #[test]
    fn former_disagreements() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            // UCI accepted a trailing dot, the API refused it: accepted and dropped everywhere.
            ("vpn.example.com.", Some("vpn.example.com"), "trailing dot"),
            ("vpn.example.com.:65535", Some("vpn.example.com:65535"), "trailing dot with port"),
            ("vpn.example.com..", None, "two trailing dots"),
            (".", None, "only a dot"),
            // The API accepted labels starting or ending with '-', UCI refused them: refused.
            ("-a.com", None, "leading hyphen"),
            ("a-.com", None, "trailing hyphen"),
            // The API accepted an all-digit last label, UCI refused it: refused (a mistyped address).
            ("1.2.3.999", None, "not an address, not a name"),
            ("1234", None, "all digits"),
            // The API accepted brackets around IPv4 and a port glued to ']': refused.
            ("[1.2.3.4]:80", None, "brackets around IPv4"),
            ("[::1]51820", None, "no colon after ]"),
            ("[::1]x", None, "junk after ]"),
            ("[2001:db8::1", None, "no closing bracket"),
            // The join token allowed '_' and empty labels in the issuer's host: refused.
            ("my_host:10087", None, "underscore"),
            ("a..b:10087", None, "empty label"),
            // `render::endpoint_host` took a non-numeric "port" as part of the host: refused.
            ("host:abc", None, "port not a number"),
            // u16 parsing accepted a sign: digits only.
            ("x:+80", None, "signed port"),
            ("x:", None, "empty port"),
            ("x:0", None, "port 0"),
            ("x:65536", None, "port too big"),
            ("1.2.3.4:0", None, "port 0 after IPv4"),
            ("2001:db8::1:80:", None, "bare IPv6 with a port"),
            ("", None, "empty"),
            ("a b", None, "blank inside"),
            ("bad_host!", None, "bad characters"),
            ("http://a.com", None, "a URL"),
            ("fe80::1%eth0", None, "zone id"),
        ];
        for (input, want, why) in cases {
            let got = Endpoint::parse("endpoint", input).ok().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{why}: {input:?}");
        }
    }

    #[test]
    fn name_lengths() {
        let label = "a".repeat(63);
        assert!(Endpoint::parse("e", &format!("{label}.com")).is_ok());
        assert!(Endpoint::parse("e", &format!("{label}a.com")).is_err(), "label of 64");
        // 4 × 63 + 3 dots = 255 > 253; 3 × 63 + 61 + 3 dots = 253.
        let long = [label.as_str(); 4].join(".");
        assert!(Endpoint::parse("e", &long).is_err());
        let max = format!("{}.{}", [label.as_str(); 3].join("."), "a".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(Endpoint::parse("e", &max).is_ok());
        assert!(Endpoint::parse("e", &format!("{max}.")).is_ok(), "253 plus the trailing dot");
    }

    #[test]
    fn errors_name_the_field_and_quote_a_prefix() {
        let long = format!("{}!", "x".repeat(100));
        let e = Endpoint::parse("cluster_addr", &long).expect_err("bad");
        assert_eq!(e.field, "cluster_addr");
        assert!(e.reason.starts_with(&quote_prefix(&long)), "{}", e.reason);
        assert!(e.reason.len() < 160, "{}", e.reason);
        let e = Endpoint::parse("endpoint", "x:0").expect_err("bad");
        assert_eq!(e.to_string(), "endpoint: 'x:0' is not a valid endpoint (the port must be 1-65535)");
        let e = Endpoint::parse("endpoint", "a\nb").expect_err("bad");
        assert!(e.reason.starts_with("'a\\nb'"), "{}", e.reason);
    }

    #[test]
    fn with_port_and_required_port() {
        let e = Endpoint::parse("e", "2001:db8::1").expect("ok");
        assert_eq!(e.with_port(51820).to_string(), "[2001:db8::1]:51820");
        let e = Endpoint::parse("e", "vpn.example.com.:1").expect("ok");
        assert_eq!(e.with_port(2).to_string(), "vpn.example.com:2");
        assert_eq!(e.host.ip(), None);
        assert_eq!(Endpoint::parse("e", "192.0.2.1:5").expect("ok").host.ip(), Some([192, 0, 2, 1].into()));
        assert!(Endpoint::parse_with_port("addr", "192.0.2.1").is_err());
        assert!(Endpoint::parse_with_port("addr", "[::1]:10087").is_ok());
    }

    fn any_host() -> impl Strategy<Value = Host> {
        let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?";
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| Host::V4(b.into())),
            any::<[u16; 8]>().prop_map(|s| Host::V6(s.into())),
            (proptest::collection::vec(label, 0..4), "[a-zA-Z][a-zA-Z0-9-]{0,8}[a-zA-Z0-9]|[a-zA-Z]").prop_map(|(mut ls, last)| {
                ls.push(last);
                Host::Name(ls.join("."))
            }),
        ]
    }

    proptest! {
        #[test]
        fn display_parses_back(host in any_host(), port in proptest::option::of(1u16..)) {
            let e = Endpoint { host, port };
            prop_assert_eq!(Endpoint::parse("e", &e.to_string()), Ok(e.clone()));
            prop_assert_eq!(Endpoint::parse("e", &e.with_port(7).to_string()), Ok(e.with_port(7)));
        }

        #[test]
        fn parsed_is_canonical(s in "[a-z0-9:.\\[\\]-]{0,24}") {
            if let Ok(e) = Endpoint::parse("e", &s) {
                prop_assert_eq!(Endpoint::parse("e", &e.to_string()), Ok(e));
            }
        }
    }
}
