//! The RFC 2136 provider (BIND, Knot, PowerDNS): dynamic updates signed with TSIG (RFC 8945,
//! hmac-sha256/384/512) over TCP to the zone's primary. Lists the A/AAAA records at a name with
//! two signed queries on one connection, and applies a whole `Plan` as ONE update message
//! (deletes of exact RRs, then adds), which the server applies atomically.
//!
//! Messages (`message.rs`) and TSIG (`tsig.rs`) are our own small modules, not hickory-proto: the
//! provider needs two message shapes and one record type pair, and hickory cost 328 K of the
//! router binary (ARCHITECTURE.md, "Size and memory budget"). The exchange is a length-prefixed TCP
//! round trip; the answer's code is read before its TSIG, so a refused key surfaces as the server's
//! answer (NOTAUTH with BADSIG/BADKEY/BADTIME), not as an opaque verification failure.
//!
//! Must not: log, return or format the TSIG secret; send an update outside the configured zone.

use super::message::{self as wire, Message, Name, Question, Record};
use super::plan::{ActualRecord, Plan, RecordKind};
use super::provider::{DnsProvider, ProviderError, Target};
use super::tsig::{self, Algorithm, Key};
use crate::model::{DnsProviderKind, Rfc2136Settings};
use base64::Engine;
use futures_util::future::BoxFuture;
use rand_core::RngCore;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Allowed clock difference between us and the server, in seconds (BIND's default is 300).
const FUDGE: u16 = 300;

pub struct Rfc2136 {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    server: String,
    zone: Name,
    pub(crate) key: Key,
    timeout: Duration,
}

/// `hmac-sha256` (also `HMAC-SHA256.`, and 384/512).
pub fn parse_algorithm(s: &str) -> Option<Algorithm> {
    Algorithm::parse(s)
}

/// `host:port`, `[v6]:port`, or a bare host / IPv4 (port 53).
pub fn server_addr(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.contains('/') || s.chars().any(char::is_whitespace) {
        return None;
    }
    if s.starts_with('[') {
        let (host, rest) = s.split_once(']')?;
        return match rest.strip_prefix(':') {
            Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Some(s.to_string()),
            None if rest.is_empty() => Some(format!("{host}]:53")),
            _ => None,
        };
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(format!("[{s}]:53"));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Some(s.to_string()),
        Some(_) => None,
        None => Some(format!("{s}:53")),
    }
}

fn fqdn(what: &str, s: &str) -> Result<Name, ProviderError> {
    let s = s.trim();
    Name::parse(s).map_err(|e| ProviderError::Config(format!("{what} '{}' is not a DNS name: {e}", s.escape_debug())))
}

/// The extended TSIG error of an answer, named (BADSIG, BADKEY, BADTIME, BADTRUNC).
pub(crate) fn tsig_error(resp: &Message) -> Option<&'static str> {
    resp.tsig.as_ref().and_then(|t| tsig::error_name(t.error))
}

/// PURE: the A and AAAA records (class IN) at `name` in an answer (others are skipped).
pub(crate) fn records_at(resp: &Message, name: &Name) -> Vec<ActualRecord> {
    let mut out = Vec::new();
    for r in &resp.answers {
        if r.name != *name || r.class != wire::CLASS_IN {
            continue;
        }
        let (kind, content) = match r.ip() {
            Some(IpAddr::V4(a)) => (RecordKind::A, a.to_string()),
            Some(IpAddr::V6(a)) => (RecordKind::Aaaa, a.to_string()),
            None => continue,
        };
        out.push(ActualRecord { id: content.clone(), kind, content, ttl: r.ttl, proxied: false });
    }
    out
}

/// The DNS name of a response code, for messages.
fn rcode_name(code: u8) -> String {
    let names = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"];
    names.get(usize::from(code)).map_or_else(|| format!("RCODE {code}"), |n| n.to_string())
}

pub(crate) fn new_message(opcode: u8) -> Message {
    Message::request((rand_core::OsRng.next_u32() & 0xffff) as u16, opcode)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Rfc2136 {
    pub fn new(s: &Rfc2136Settings, timeout: Duration) -> Result<Self, ProviderError> {
        let server = server_addr(&s.server)
            .ok_or_else(|| ProviderError::Config(format!("rfc2136.server '{}' is not host:port", s.server.escape_debug())))?;
        let zone = fqdn("rfc2136.zone", &s.zone)?;
        let key_name = fqdn("rfc2136.key_name", &s.key_name)?;
        let algorithm = parse_algorithm(&s.algorithm).ok_or_else(|| {
            ProviderError::Config(format!(
                "rfc2136.algorithm '{}' is not one of hmac-sha256, hmac-sha384, hmac-sha512",
                s.algorithm.escape_debug()
            ))
        })?;
        let compact: String = s.key_secret.chars().filter(|c| !c.is_whitespace()).collect();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(zeroize::Zeroizing::new)
            .map_err(|_| ProviderError::Config("rfc2136.key_secret is not base64 (as in a BIND key file)".into()))?;
        if secret.is_empty() {
            return Err(ProviderError::Config("rfc2136.key_secret is empty".into()));
        }
        let key = Key::new(key_name, algorithm, &secret);
        Ok(Self { inner: Arc::new(Inner { server, zone, key, timeout }) })
    }
}

impl Inner {
    fn name_of(&self, t: &Target) -> Result<Name, ProviderError> {
        let name = fqdn("domain", &t.name)?;
        if !self.zone.contains(&name) {
            return Err(ProviderError::Config(format!(
                "the record name {} is not inside the RFC 2136 zone {} (rfc2136.zone)",
                t.name, self.zone
            )));
        }
        Ok(name)
    }

    async fn connect(&self) -> Result<TcpStream, ProviderError> {
        match tokio::time::timeout(self.timeout, TcpStream::connect(&self.server)).await {
            Err(_) => Err(ProviderError::Transient(format!("no connection to the DNS server {} within {:?}", self.server, self.timeout))),
            Ok(Err(e)) => Err(ProviderError::Transient(format!("cannot reach the DNS server {}: {e}", self.server))),
            Ok(Ok(s)) => Ok(s),
        }
    }

    async fn round_trip(&self, stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let len = u16::try_from(bytes.len()).map_err(|_| std::io::Error::other("message larger than 64 KiB"))?;
        let mut out = Vec::with_capacity(bytes.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        stream.write_all(&out).await?;
        let mut lenb = [0u8; 2];
        stream.read_exact(&mut lenb).await?;
        let mut buf = vec![0u8; u16::from_be_bytes(lenb) as usize];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    /// Signs `msg`, sends it, checks the answer's code and TSIG. `what` names the request in errors.
    async fn exchange(&self, stream: &mut TcpStream, msg: &Message, what: &str) -> Result<Message, ProviderError> {
        let signed = self.key.sign(msg, now(), FUDGE).map_err(|e| ProviderError::Rejected(format!("cannot sign the {what}: {e}")))?;
        let buf = match tokio::time::timeout(self.timeout, self.round_trip(stream, &signed.bytes)).await {
            Err(_) => {
                return Err(ProviderError::Transient(format!(
                    "no answer from the DNS server {} to the {what} within {:?}",
                    self.server, self.timeout
                )))
            }
            Ok(Err(e)) => return Err(ProviderError::Transient(format!("the DNS server {} dropped the {what}: {e}", self.server))),
            Ok(Ok(b)) => b,
        };
        self.read_answer(&buf, &signed, now(), what)
    }

    /// PURE: checks the answer `buf` to the signed request `sent` at time `now`: decodes it,
    /// matches the id, maps the response code to an error naming the cause, and verifies its TSIG.
    pub(crate) fn read_answer(&self, buf: &[u8], sent: &tsig::Signed, now: u64, what: &str) -> Result<Message, ProviderError> {
        let resp = Message::decode(buf)
            .map_err(|e| ProviderError::Transient(format!("the DNS server {} sent an unreadable answer: {e}", self.server)))?;
        if resp.id != sent.id || !resp.is_response() {
            return Err(ProviderError::Transient(format!("the DNS server {} answered another request", self.server)));
        }
        let key = &self.key.name;
        let zone = &self.zone;
        match resp.rcode() {
            wire::RCODE_NOERROR | wire::RCODE_NXDOMAIN => {}
            wire::RCODE_NOTAUTH => {
                let why = tsig_error(&resp).map(|w| format!(" ({w})")).unwrap_or_default();
                return Err(ProviderError::Auth(format!(
                    "TSIG authentication failed: the DNS server {} answered NOTAUTH{why} to the {what}; check that key_name '{key}', \
                     key_secret and algorithm '{}' match the server's key",
                    self.server,
                    self.key.algorithm.text()
                )));
            }
            wire::RCODE_REFUSED => {
                return Err(ProviderError::Auth(format!(
                    "the DNS server {} REFUSED the {what}: key '{key}' may not update zone '{zone}' there (update-policy / allow-update)",
                    self.server
                )))
            }
            wire::RCODE_NOTZONE => {
                return Err(ProviderError::Config(format!(
                    "the DNS server {} is not authoritative for zone '{zone}' (NOTZONE)",
                    self.server
                )))
            }
            wire::RCODE_SERVFAIL => {
                return Err(ProviderError::Transient(format!("the DNS server {} answered SERVFAIL to the {what}", self.server)))
            }
            other => {
                return Err(ProviderError::Rejected(format!("the DNS server {} answered {} to the {what}", self.server, rcode_name(other))))
            }
        }
        self.key.verify(buf, &sent.mac, now).map_err(|e| {
            ProviderError::Auth(format!(
                "the answer of the DNS server {} failed TSIG verification ({e}); check key_secret and algorithm",
                self.server
            ))
        })?;
        Ok(resp)
    }

    async fn list(&self, t: &Target) -> Result<Vec<ActualRecord>, ProviderError> {
        let name = self.name_of(t)?;
        let mut stream = self.connect().await?;
        let mut out = Vec::new();
        for qtype in [wire::TYPE_A, wire::TYPE_AAAA] {
            let mut msg = new_message(wire::OPCODE_QUERY);
            msg.questions.push(Question { name: name.clone(), qtype, class: wire::CLASS_IN });
            let resp = self.exchange(&mut stream, &msg, "query").await?;
            out.extend(records_at(&resp, &name));
        }
        Ok(out)
    }

    async fn apply(&self, t: &Target, plan: &Plan) -> Result<usize, ProviderError> {
        if plan.is_empty() {
            return Ok(0);
        }
        let msg = self.update_message(t, plan, new_message(wire::OPCODE_UPDATE))?;
        let mut stream = self.connect().await?;
        self.exchange(&mut stream, &msg, "update").await?;
        Ok(1)
    }

    /// PURE: the update for `plan` at `t`, in `msg` (an empty UPDATE request): zone section =
    /// our zone's SOA, no prerequisites, the update section below.
    pub(crate) fn update_message(&self, t: &Target, plan: &Plan, mut msg: Message) -> Result<Message, ProviderError> {
        let name = self.name_of(t)?;
        msg.questions.push(Question { name: self.zone.clone(), qtype: wire::TYPE_SOA, class: wire::CLASS_IN });
        // RFC 2136 §2.5.4: delete an RR from an RRset (class NONE, TTL 0, exact RDATA).
        for r in plan.delete.iter().chain(plan.update.iter()) {
            let Some(ip) = r.addr() else { continue };
            msg.authority.push(Record::address(name.clone(), wire::CLASS_NONE, 0, ip));
        }
        // §2.5.1: add to an RRset (class IN); corrected records come back with the right TTL.
        for ip in plan.create.iter().copied().chain(plan.update.iter().filter_map(|r| r.addr())) {
            msg.authority.push(Record::address(name.clone(), wire::CLASS_IN, t.ttl, ip));
        }
        Ok(msg)
    }
}

impl DnsProvider for Rfc2136 {
    fn kind(&self) -> DnsProviderKind {
        DnsProviderKind::Rfc2136
    }

    fn list(&self, target: &Target) -> BoxFuture<'static, Result<Vec<ActualRecord>, ProviderError>> {
        let (inner, t) = (self.inner.clone(), target.clone());
        Box::pin(async move { inner.list(&t).await })
    }

    fn apply(&self, target: &Target, plan: &Plan) -> BoxFuture<'static, Result<usize, ProviderError>> {
        let (inner, t, p) = (self.inner.clone(), target.clone(), plan.clone());
        Box::pin(async move { inner.apply(&t, &p).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Rfc2136Settings {
        Rfc2136Settings {
            server: "127.0.0.1:5353".into(),
            zone: "example.test".into(),
            key_name: "wgcluster-key".into(),
            key_secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
            algorithm: "hmac-sha256".into(),
        }
    }

    #[test]
    fn settings_are_checked() {
        let t = Duration::from_secs(1);
        assert!(Rfc2136::new(&settings(), t).is_ok());
        type Tweak = fn(&mut Rfc2136Settings);
        let cases: Vec<(Tweak, &str)> = vec![
            (|s| s.server = "".into(), "rfc2136.server"),
            (|s| s.server = "1.2.3.4:0".into(), "rfc2136.server"),
            (|s| s.algorithm = "hmac-md5".into(), "rfc2136.algorithm"),
            (|s| s.key_secret = "***not base64***".into(), "rfc2136.key_secret is not base64"),
            (|s| s.zone = "bad zone".into(), "rfc2136.zone"),
        ];
        for (tweak, want) in cases {
            let mut s = settings();
            tweak(&mut s);
            match Rfc2136::new(&s, t) {
                Err(ProviderError::Config(m)) => {
                    assert!(m.contains(want), "{m} !~ {want}");
                    assert!(!m.contains("c2VjcmV0"), "secret leaked: {m}");
                }
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("accepted: {want}"),
            }
        }
    }

    #[test]
    fn servers_and_algorithms() {
        let cases = [
            ("127.0.0.1:5353", Some("127.0.0.1:5353")),
            ("ns1.example.test", Some("ns1.example.test:53")),
            ("192.0.2.1", Some("192.0.2.1:53")),
            ("2001:db8::1", Some("[2001:db8::1]:53")),
            ("[2001:db8::1]:5300", Some("[2001:db8::1]:5300")),
            ("[2001:db8::1]", Some("[2001:db8::1]:53")),
            ("host:x", None),
            ("a b:53", None),
        ];
        for (s, want) in cases {
            assert_eq!(server_addr(s).as_deref(), want, "{s}");
        }
        assert_eq!(parse_algorithm("HMAC-SHA256."), Some(Algorithm::HmacSha256));
        assert_eq!(parse_algorithm("hmac-sha384"), Some(Algorithm::HmacSha384));
        assert_eq!(parse_algorithm("hmac-sha512"), Some(Algorithm::HmacSha512));
        assert_eq!(parse_algorithm("hmac-sha1"), None);
    }

    #[test]
    fn names_outside_the_zone_are_refused() {
        let p = Rfc2136::new(&settings(), Duration::from_secs(1)).unwrap();
        let inside = Target { zone: String::new(), name: "vpn.example.test".into(), ttl: 60 };
        let outside = Target { zone: String::new(), name: "vpn.example.com".into(), ttl: 60 };
        assert!(p.inner.name_of(&inside).is_ok());
        assert!(matches!(p.inner.name_of(&outside), Err(ProviderError::Config(m)) if m.contains("not inside")));
    }

    fn answer(id: u16, rcode: u8) -> Message {
        Message { id, flags: 0x8000 | u16::from(wire::OPCODE_UPDATE) << 11 | u16::from(rcode), ..Message::default() }
    }

    /// What the server answers decides the error kind and its words; the TSIG comes last.
    #[test]
    fn answers_are_classified() {
        let p = Rfc2136::new(&settings(), Duration::from_secs(1)).unwrap();
        let now = 1_700_000_000;
        let sent = p.inner.key.sign(&Message::request(7, wire::OPCODE_UPDATE), now, FUDGE).unwrap();
        // The server signs its answer with the request's MAC first (as BIND does).
        let server_sign = |m: &Message| p.inner.key.sign_answer(m, &sent.mac, now + 5, 300).unwrap().bytes;
        let ok = server_sign(&answer(7, wire::RCODE_NOERROR));
        assert!(p.inner.read_answer(&ok, &sent, now, "update").is_ok());
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (server_sign(&answer(8, 0)), "Transient", "answered another request"),
            (answer(7, 0).encode().unwrap(), "Auth", "not signed"),
            (ok[..ok.len() - 1].to_vec(), "Transient", "unreadable"),
            (answer(7, wire::RCODE_REFUSED).encode().unwrap(), "Auth", "REFUSED"),
            (answer(7, wire::RCODE_NOTZONE).encode().unwrap(), "Config", "NOTZONE"),
            (answer(7, wire::RCODE_SERVFAIL).encode().unwrap(), "Transient", "SERVFAIL"),
            (answer(7, 1).encode().unwrap(), "Rejected", "FORMERR"),
            (answer(7, 8).encode().unwrap(), "Rejected", "NXRRSET"),
            (answer(7, 15).encode().unwrap(), "Rejected", "RCODE 15"),
        ];
        for (buf, kind, want) in cases {
            let e = p.inner.read_answer(&buf, &sent, now, "update").unwrap_err();
            let got = format!("{e:?}");
            assert!(got.starts_with(kind) && got.contains(want), "{got} !~ {kind} {want}");
        }
        // A wrong MAC, a late answer.
        let mut bad = ok.clone();
        let at = bad.len() - 7;
        bad[at] ^= 1;
        assert!(matches!(p.inner.read_answer(&bad, &sent, now, "update"), Err(ProviderError::Auth(m)) if m.contains("MAC does not match")));
        assert!(matches!(p.inner.read_answer(&ok, &sent, now + 400, "update"), Err(ProviderError::Auth(m)) if m.contains("fudge")));
        // NOTAUTH names the TSIG error and never the secret.
        let mut m = answer(7, wire::RCODE_NOTAUTH);
        m.tsig = Some(wire::Tsig {
            key: p.inner.key.name.clone(),
            algorithm: Name::parse("hmac-sha256").unwrap(),
            time: now,
            fudge: 300,
            mac: Vec::new(),
            original_id: 7,
            error: 16,
            other: Vec::new(),
        });
        match p.inner.read_answer(&m.encode().unwrap(), &sent, now, "update") {
            Err(ProviderError::Auth(m)) => {
                assert!(m.contains("NOTAUTH (BADSIG)") && m.contains("'wgcluster-key'") && m.contains("'hmac-sha256'"), "{m}");
                assert!(!m.contains("c2VjcmV0"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records_at_the_name_only() {
        let name = Name::parse("vpn.example.test").unwrap();
        let mut m = answer(1, 0);
        m.answers = vec![
            Record::address(name.clone(), wire::CLASS_IN, 60, "192.0.2.1".parse().unwrap()),
            Record::address(Name::parse("VPN.Example.TEST.").unwrap(), wire::CLASS_IN, 30, "2001:db8::1".parse().unwrap()),
            Record::address(Name::parse("other.example.test").unwrap(), wire::CLASS_IN, 60, "192.0.2.2".parse().unwrap()),
            Record { name: name.clone(), rtype: 5, class: wire::CLASS_IN, ttl: 60, rdata: vec![0] },
        ];
        let got: Vec<(RecordKind, String, u32)> = records_at(&m, &name).into_iter().map(|r| (r.kind, r.content, r.ttl)).collect();
        assert_eq!(got, vec![(RecordKind::A, "192.0.2.1".into(), 60), (RecordKind::Aaaa, "2001:db8::1".into(), 30)]);
    }

    /// The update for a plan: zone SOA, exact-RR deletes (class NONE, TTL 0), then adds.
    #[test]
    fn update_messages() {
        let p = Rfc2136::new(&settings(), Duration::from_secs(1)).unwrap();
        let t = Target { zone: String::new(), name: "vpn.example.test".into(), ttl: 60 };
        let rec = |ip: &str, ttl| ActualRecord { id: ip.into(), kind: RecordKind::A, content: ip.into(), ttl, proxied: false };
        let plan =
            Plan { create: vec!["2001:db8::3".parse().unwrap()], delete: vec![rec("192.0.2.1", 60)], update: vec![rec("192.0.2.2", 30)] };
        let m = p.inner.update_message(&t, &plan, Message::request(0x1968, wire::OPCODE_UPDATE)).unwrap();
        let name = Name::parse("vpn.example.test").unwrap();
        assert_eq!(
            m.questions,
            vec![Question { name: Name::parse("example.test").unwrap(), qtype: wire::TYPE_SOA, class: wire::CLASS_IN }]
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            m.authority,
            vec![
                Record::address(name.clone(), wire::CLASS_NONE, 0, ip("192.0.2.1")),
                Record::address(name.clone(), wire::CLASS_NONE, 0, ip("192.0.2.2")),
                Record::address(name.clone(), wire::CLASS_IN, 60, ip("2001:db8::3")),
                Record::address(name.clone(), wire::CLASS_IN, 60, ip("192.0.2.2")),
            ]
        );
        assert!(m.answers.is_empty() && m.additional.is_empty());
    }

    /// A signed update carries the key name and never the secret in clear.
    #[test]
    fn updates_are_signed() {
        let p = Rfc2136::new(&settings(), Duration::from_secs(1)).unwrap();
        let mut msg = new_message(wire::OPCODE_UPDATE);
        msg.authority.push(Record::address(fqdn("d", "vpn.example.test").unwrap(), wire::CLASS_IN, 60, "192.0.2.1".parse().unwrap()));
        let signed = p.inner.key.sign(&msg, 1_700_000_000, FUDGE).unwrap();
        assert_eq!(signed.mac.len(), 32);
        assert!(signed.bytes.windows(13).any(|w| w == b"wgcluster-key"));
        assert!(!signed.bytes.windows(6).any(|w| w == b"secret"));
        assert!(p.inner.key.verify(&signed.bytes, &[], 1_700_000_000).is_ok(), "a request verifies as a request");
    }
}
