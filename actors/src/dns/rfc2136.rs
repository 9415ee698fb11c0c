//! The RFC 2136 provider (BIND, Knot, PowerDNS): dynamic updates signed with TSIG (RFC 8945,
//! hmac-sha256/384/512) over TCP to the zone's primary. Lists the A/AAAA records at a name with
//! two signed queries on one connection, and applies a whole `Plan` as ONE update message
//! (deletes of exact RRs, then adds), which the server applies atomically.
//!
//! Built on hickory-proto (message building, TSIG signing and verification). The exchange itself
//! is ours (a length-prefixed TCP round trip): that way a refused key surfaces as the server's
//! answer (NOTAUTH with BADSIG/BADKEY/BADTIME), not as an opaque verification failure.
//!
//! Must not: log, return or format the TSIG secret; send an update outside the configured zone.

use super::plan::{ActualRecord, Plan, RecordKind};
use super::provider::{DnsProvider, ProviderError, Target};
use crate::model::{DnsProviderKind, Rfc2136Settings};
use base64::Engine;
use futures_util::future::BoxFuture;
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::message::MessageVerifier;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
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
    key_name: Name,
    algorithm: TsigAlgorithm,
    algorithm_name: String,
    secret: Vec<u8>,
    timeout: Duration,
}

/// `hmac-sha256` (also `HMAC-SHA256.`, and 384/512).
pub fn parse_algorithm(s: &str) -> Option<TsigAlgorithm> {
    match s.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
        "hmac-sha256" => Some(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Some(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Some(TsigAlgorithm::HmacSha512),
        _ => None,
    }
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
    let s = s.trim().trim_end_matches('.');
    Name::from_str_relaxed(format!("{s}."))
        .map_err(|e| ProviderError::Config(format!("{what} '{}' is not a DNS name: {e}", s.escape_debug())))
}

/// The extended TSIG error of an answer, named (the TSIG RR is the last thing in the message and
/// ends with error, other-length, other-data; other-data is empty or, for BADTIME, 6 bytes).
pub(crate) fn tsig_error(buf: &[u8]) -> Option<&'static str> {
    let n = buf.len();
    let u16_at = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    let code = if n >= 4 && u16_at(n - 2) == 0 {
        u16_at(n - 4)
    } else if n >= 10 && u16_at(n - 8) == 6 {
        u16_at(n - 10)
    } else {
        return None;
    };
    match code {
        16 => Some("BADSIG"),
        17 => Some("BADKEY"),
        18 => Some("BADTIME"),
        22 => Some("BADTRUNC"),
        _ => None,
    }
}

/// PURE: the A and AAAA records at `name` in an answer (others are skipped).
pub(crate) fn records_at(resp: &Message, name: &Name) -> Vec<ActualRecord> {
    let mut out = Vec::new();
    for r in resp.answers() {
        if r.name() != name {
            continue;
        }
        let (kind, content) = match r.data() {
            RData::A(a) => (RecordKind::A, a.0.to_string()),
            RData::AAAA(a) => (RecordKind::Aaaa, a.0.to_string()),
            _ => continue,
        };
        out.push(ActualRecord { id: content.clone(), kind, content, ttl: r.ttl(), proxied: false });
    }
    out
}

fn rdata(ip: &IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(*v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
    }
}

pub(crate) fn new_message(op: OpCode) -> Message {
    let mut m = Message::new();
    m.set_id((rand_core::OsRng.next_u32() & 0xffff) as u16)
        .set_message_type(MessageType::Query)
        .set_op_code(op)
        .set_recursion_desired(false);
    m
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
            .map_err(|_| ProviderError::Config("rfc2136.key_secret is not base64 (as in a BIND key file)".into()))?;
        if secret.is_empty() {
            return Err(ProviderError::Config("rfc2136.key_secret is empty".into()));
        }
        let algorithm_name = s.algorithm.trim().trim_end_matches('.').to_ascii_lowercase();
        Ok(Self { inner: Arc::new(Inner { server, zone, key_name, algorithm, algorithm_name, secret, timeout }) })
    }
}

impl Inner {
    fn name_of(&self, t: &Target) -> Result<Name, ProviderError> {
        let name = fqdn("domain", &t.name)?;
        if !self.zone.zone_of(&name) {
            return Err(ProviderError::Config(format!(
                "the record name {} is not inside the RFC 2136 zone {} (rfc2136.zone)",
                t.name,
                self.zone.to_ascii().trim_end_matches('.')
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

    pub(crate) fn signer(&self) -> Result<TSigner, ProviderError> {
        TSigner::new(self.secret.clone(), self.algorithm.clone(), self.key_name.clone(), FUDGE)
            .map_err(|e| ProviderError::Config(format!("cannot use the TSIG key: {e}")))
    }

    /// Signs `msg`, sends it, checks the answer's code and TSIG. `what` names the request in errors.
    async fn exchange(&self, stream: &mut TcpStream, mut msg: Message, what: &str) -> Result<Message, ProviderError> {
        let signer = self.signer()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as u32;
        let verifier = msg.finalize(&signer, now).map_err(|e| ProviderError::Config(format!("cannot sign the {what} with TSIG: {e}")))?;
        let bytes = msg.to_vec().map_err(|e| ProviderError::Rejected(format!("cannot encode the {what}: {e}")))?;
        let buf = match tokio::time::timeout(self.timeout, self.round_trip(stream, &bytes)).await {
            Err(_) => {
                return Err(ProviderError::Transient(format!(
                    "no answer from the DNS server {} to the {what} within {:?}",
                    self.server, self.timeout
                )))
            }
            Ok(Err(e)) => return Err(ProviderError::Transient(format!("the DNS server {} dropped the {what}: {e}", self.server))),
            Ok(Ok(b)) => b,
        };
        self.read_answer(&buf, msg.id(), verifier, what)
    }

    /// PURE: checks the answer `buf` to the request `sent_id`: decodes it, matches the id, maps
    /// the response code to an error naming the cause, and verifies its TSIG with `verifier`.
    pub(crate) fn read_answer(
        &self,
        buf: &[u8],
        sent_id: u16,
        verifier: Option<MessageVerifier>,
        what: &str,
    ) -> Result<Message, ProviderError> {
        let resp = Message::from_vec(buf)
            .map_err(|e| ProviderError::Transient(format!("the DNS server {} sent an unreadable answer: {e}", self.server)))?;
        if resp.id() != sent_id {
            return Err(ProviderError::Transient(format!("the DNS server {} answered another request", self.server)));
        }
        let key = self.key_name.to_ascii();
        let key = key.trim_end_matches('.');
        let zone = self.zone.to_ascii();
        let zone = zone.trim_end_matches('.');
        match resp.response_code() {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            ResponseCode::NotAuth => {
                let why = if resp.signature().is_empty() { None } else { tsig_error(buf) };
                let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                return Err(ProviderError::Auth(format!(
                    "TSIG authentication failed: the DNS server {} answered NOTAUTH{why} to the {what}; check that key_name '{key}', \
                     key_secret and algorithm '{}' match the server's key",
                    self.server, self.algorithm_name
                )));
            }
            ResponseCode::Refused => {
                return Err(ProviderError::Auth(format!(
                    "the DNS server {} REFUSED the {what}: key '{key}' may not update zone '{zone}' there (update-policy / allow-update)",
                    self.server
                )))
            }
            ResponseCode::NotZone => {
                return Err(ProviderError::Config(format!(
                    "the DNS server {} is not authoritative for zone '{zone}' (NOTZONE)",
                    self.server
                )))
            }
            ResponseCode::ServFail => {
                return Err(ProviderError::Transient(format!("the DNS server {} answered SERVFAIL to the {what}", self.server)))
            }
            other => return Err(ProviderError::Rejected(format!("the DNS server {} answered {other} to the {what}", self.server))),
        }
        if let Some(mut verify) = verifier {
            verify(buf).map_err(|e| {
                ProviderError::Auth(format!(
                    "the answer of the DNS server {} failed TSIG verification ({e}); check key_secret and algorithm",
                    self.server
                ))
            })?;
        }
        Ok(resp)
    }

    async fn list(&self, t: &Target) -> Result<Vec<ActualRecord>, ProviderError> {
        let name = self.name_of(t)?;
        let mut stream = self.connect().await?;
        let mut out = Vec::new();
        for rt in [RecordType::A, RecordType::AAAA] {
            let mut msg = new_message(OpCode::Query);
            msg.add_query(Query::query(name.clone(), rt));
            let resp = self.exchange(&mut stream, msg, "query").await?;
            out.extend(records_at(&resp, &name));
        }
        Ok(out)
    }

    async fn apply(&self, t: &Target, plan: &Plan) -> Result<usize, ProviderError> {
        if plan.is_empty() {
            return Ok(0);
        }
        let name = self.name_of(t)?;
        let mut msg = new_message(OpCode::Update);
        let mut zone = Query::new();
        zone.set_name(self.zone.clone()).set_query_class(DNSClass::IN).set_query_type(RecordType::SOA);
        msg.add_zone(zone);
        // RFC 2136 §2.5.4: delete an RR from an RRset (class NONE, TTL 0, exact RDATA).
        for r in plan.delete.iter().chain(plan.update.iter()) {
            let Some(ip) = r.addr() else { continue };
            let mut rec = Record::from_rdata(name.clone(), 0, rdata(&ip));
            rec.set_dns_class(DNSClass::NONE);
            msg.add_update(rec);
        }
        // §2.5.1: add to an RRset (class IN); corrected records come back with the right TTL.
        for ip in plan.create.iter().copied().chain(plan.update.iter().filter_map(|r| r.addr())) {
            msg.add_update(Record::from_rdata(name.clone(), t.ttl, rdata(&ip)));
        }
        let mut stream = self.connect().await?;
        self.exchange(&mut stream, msg, "update").await?;
        Ok(1)
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
        assert_eq!(parse_algorithm("HMAC-SHA256."), Some(TsigAlgorithm::HmacSha256));
        assert_eq!(parse_algorithm("hmac-sha512"), Some(TsigAlgorithm::HmacSha512));
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

    #[test]
    fn tsig_errors_are_named() {
        // ... | error | other len | other
        assert_eq!(tsig_error(&[9, 9, 0, 16, 0, 0]), Some("BADSIG"));
        assert_eq!(tsig_error(&[9, 0, 17, 0, 0]), Some("BADKEY"));
        assert_eq!(tsig_error(&[0, 18, 0, 6, 1, 2, 3, 4, 5, 6]), Some("BADTIME"));
        assert_eq!(tsig_error(&[0, 0, 0, 0]), None);
        assert_eq!(tsig_error(&[1]), None);
    }

    /// A signed update carries the key name and never the secret in clear.
    #[test]
    fn updates_are_signed() {
        let p = Rfc2136::new(&settings(), Duration::from_secs(1)).unwrap();
        let signer = TSigner::new(p.inner.secret.clone(), p.inner.algorithm.clone(), p.inner.key_name.clone(), FUDGE).unwrap();
        let mut msg = new_message(OpCode::Update);
        msg.add_update(Record::from_rdata(fqdn("d", "vpn.example.test").unwrap(), 60, rdata(&"192.0.2.1".parse().unwrap())));
        assert!(msg.finalize(&signer, 1_700_000_000).unwrap().is_some());
        let bytes = msg.to_vec().unwrap();
        assert!(bytes.windows(13).any(|w| w == b"wgcluster-key"));
        assert!(!bytes.windows(6).any(|w| w == b"secret"));
    }
}
