//! Fuzz targets of this crate, run by the shared driver (`fuzz.rs`) within the normal test run:
//! `render` (wg-quick client config), `uapi` (wireguard-go `get=1` answers), `dns_cloudflare` and
//! `dns_rfc2136` (provider answers), `dns_message` (the DNS wire decoder and encoder), `commands`
//! (the pure `State::apply` fed decoded commands).
//! Each checks invariants, not only that nothing panics. Corpora: `fuzz/corpus/<target>/`.

use crate::dns::cloudflare::{self, Method};
use crate::dns::message::{self as wire, Message, Name, Question, Record};
use crate::dns::provider::ProviderError;
use crate::dns::rfc2136::{self, Rfc2136};
use crate::fuzz::{self, Reader, Target};
use crate::model::*;
use crate::state::render::client_config;
use crate::state::*;
use crate::wg::{parse_get_response, WgError};
use std::time::Duration;

fn class_of(parts: &[u64]) -> u64 {
    parts.iter().fold(17u64, |h, p| h.wrapping_mul(31).wrapping_add(*p))
}

// ---------------------------------------------------------------- render

const INTERFACE_KEYS: &[&str] = &["PrivateKey", "Address", "DNS", "MTU"];
const PEER_KEYS: &[&str] = &["PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"];

/// The wg-quick shape: one `[Interface]`, then one `[Peer]`; every other line is blank, a comment,
/// or `Key = value` with a key we write, in its section, at most once.
fn check_wg_quick(text: &str) {
    let mut section = "";
    let (mut interfaces, mut peers) = (0, 0);
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for line in text.split('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t {
            "[Interface]" => {
                interfaces += 1;
                section = "Interface";
                continue;
            }
            "[Peer]" => {
                peers += 1;
                section = "Peer";
                continue;
            }
            _ => {}
        }
        let key = t.split('=').next().unwrap_or("").trim();
        let allowed = match section {
            "Interface" => INTERFACE_KEYS,
            "Peer" => PEER_KEYS,
            _ => &[][..],
        };
        assert!(allowed.contains(&key) && t.contains('='), "unexpected line {line:?} in section [{section}]");
        assert!(!seen.contains(&(section, key)), "{key} twice in [{section}]");
        seen.push((section, key));
    }
    assert_eq!((interfaces, peers), (1, 1), "sections in {text:?}");
}

/// Input: peer name, DNS servers (comma-separated), endpoint host, flags — separated by 0x1F.
fn render_one(data: &[u8]) -> u64 {
    let mut r = Reader::new(data);
    let name = r.field();
    let dns: Vec<String> = r.field().split(',').map(str::to_string).filter(|s| !s.is_empty()).collect();
    let host = r.field();
    let flags = r.byte();
    let port = r.u16().max(1);
    let config_name = ConfigName::parse("c", "wg0").expect("literal");
    let config = Config {
        name: config_name.clone(),
        private_key: WgKey([1; 32]),
        public_key: WgKey([2; 32]),
        addresses: vec!["10.0.0.1/24".parse().expect("literal")],
        listen_port: 51820,
        mtu: (flags & 1 != 0).then_some(1420),
        dns,
        peer_allowed_ips: vec!["0.0.0.0/0".parse().expect("literal")],
        peer_keepalive: Some(25),
        created_at: 0,
        updated_at: 0,
        placement: Placement::Peers,
    };
    let peer = Peer {
        id: PeerId::parse("id", "00ff").expect("literal"),
        config: config_name,
        name,
        public_key: WgKey([3; 32]),
        private_key: (flags & 2 != 0).then_some(WgKey([4; 32])),
        preshared_key: (flags & 4 != 0).then_some(WgKey([5; 32])),
        addresses: vec!["10.0.0.2/32".parse().expect("literal")],
        allowed_ips: vec!["0.0.0.0/0".parse().expect("literal")],
        keepalive: (flags & 8 != 0).then_some(25),
        enabled: true,
        node_id: None,
        draining_from: None,
        created_at: 0,
        updated_at: 0,
        limits: Default::default(),
        limited: None,
        limit_override: false,
    };
    // A host that parses is rendered by `Endpoint` (and must parse back); any other string goes in
    // as given: the renderer itself must refuse whatever could add a line.
    let ep = match Endpoint::parse("endpoint", &host) {
        Ok(e) => {
            let ep = e.with_port(port).to_string();
            assert_eq!(Endpoint::parse("endpoint", &ep), Ok(e.with_port(port)), "{host:?}");
            ep
        }
        Err(_) => format!("{host}:{port}"),
    };
    assert!(ep.ends_with(&format!(":{port}")), "{ep:?}");
    // Safe by construction: either a file with exactly the expected sections and keys, or a
    // refusal (a value that cannot be written as one line).
    match client_config(&config, &peer, &ep) {
        Ok(text) => {
            check_wg_quick(&text);
            assert!(!text.contains(&config.private_key.to_base64()), "the server's private key leaked");
            class_of(&[u64::from(flags & 15), text.lines().count() as u64])
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            class_of(&[u64::from(flags & 15), 1 << 40])
        }
    }
}

/// Before the render hardening a newline in a peer name or a DNS entry started a new wg-quick line
/// (`fuzz/corpus/render/regress-name-injection`, `regress-dns-injection` replay it every run).
#[test]
fn fuzz_render() {
    let tokens: &[&[u8]] = &[b"\x1f", b"\n[Peer]\n", b"\nPostUp = x", b"\nDNS = 1.1.1.1", b"[::1]:51820", b"2001:db8::1"];
    fuzz::run(Target { tokens, max_len: 1024, ..Target::new("render") }, render_one);
}

// ---------------------------------------------------------------- uapi

fn uapi_one(data: &[u8]) -> u64 {
    match parse_get_response(data, "wg0") {
        Ok(dev) => {
            let text = String::from_utf8_lossy(data);
            // Success needs an `errno=` line whose number is zero (`errno=-0` is zero too: found by
            // this target, kept in the corpus as `regress-errno-minus-zero`).
            let zero_errno = text.lines().any(|l| l.strip_prefix("errno=").is_some_and(|v| v.trim().parse::<i64>() == Ok(0)));
            assert!(zero_errno, "accepted an answer without a zero errno");
            let announced = text.matches("public_key=").count();
            assert!(dev.peers.len() <= announced, "{} peers from {announced} public_key lines", dev.peers.len());
            for p in &dev.peers {
                assert_eq!(p.public_key.len(), 32);
                assert!(p.allowed_ips.iter().all(|n| n.prefix_len() <= n.max_prefix_len()));
            }
            if let Some(k) = dev.private_key {
                assert_eq!(dev.public_key, Some(crate::wg::spec::public_key_of(&k)), "public key not derived");
            }
            class_of(&[1, dev.peers.len() as u64, u64::from(dev.private_key.is_some())])
        }
        Err(WgError::Protocol(m)) => {
            // The kind of complaint (its first words), not the quoted value.
            let head = m.split(['"', ':']).next().unwrap_or("");
            let kind: Vec<&str> = head.split(' ').take(4).collect();
            class_of(&[2, fuzz::fnv1a(kind.join(" ").as_bytes())])
        }
        Err(WgError::Rejected { errno, .. }) => {
            assert_ne!(errno, 0);
            class_of(&[3])
        }
        Err(other) => class_of(&[4, fuzz::fnv1a(other.to_string().as_bytes()) & 0xff]),
    }
}

#[test]
fn fuzz_uapi() {
    let tokens: &[&[u8]] = &[
        b"errno=0\n\n",
        b"public_key=",
        b"preshared_key=",
        b"allowed_ip=",
        b"endpoint=",
        b"last_handshake_time_sec=",
        b"last_handshake_time_nsec=",
        b"persistent_keepalive_interval=",
        b"listen_port=",
        b"private_key=",
        b"0000000000000000000000000000000000000000000000000000000000000000",
    ];
    fuzz::run(Target { tokens, ..Target::new("uapi") }, uapi_one);
}

// ---------------------------------------------------------------- dns_cloudflare

fn provider_class(e: &ProviderError) -> u64 {
    match e {
        ProviderError::Config(_) => 1,
        ProviderError::Auth(_) => 2,
        ProviderError::RateLimited { .. } => 3,
        ProviderError::Transient(_) => 4,
        ProviderError::Rejected(_) => 5,
        ProviderError::Duplicate(_) => 6,
    }
}

/// Input: 2 bytes HTTP status (mod 600), 1 byte method, then the body text.
fn cloudflare_one(data: &[u8]) -> u64 {
    let mut r = Reader::new(data);
    let status = r.u16() % 600;
    let method = match r.byte() % 4 {
        0 => Method::Get,
        1 => Method::Post,
        2 => Method::Patch,
        _ => Method::Delete,
    };
    let text = String::from_utf8_lossy(r.rest()).into_owned();
    let retry_after = crate::dns::backoff::parse_retry_after(&text);
    if let Some(d) = retry_after {
        assert!(d <= Duration::from_secs(24 * 3600), "Retry-After {d:?} not capped");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let (msgs, codes) = cloudflare::describe_errors(&v);
    assert!(codes.is_empty() || !msgs.is_empty());
    let err = cloudflare::classify(status, &v, retry_after);
    if status == 429 {
        assert!(matches!(err, ProviderError::RateLimited { .. }), "429 must be a rate limit: {err:?}");
    }
    match cloudflare::decode_answer(method, "/zones/z/dns_records", status, &text, retry_after) {
        Ok(env) => {
            assert!((200..300).contains(&status), "HTTP {status} taken as success");
            let listed = cloudflare::page_records("/zones/z/dns_records", "vpn.example.test", &env);
            match listed {
                Ok(l) => {
                    assert!(l.records.len() <= l.items);
                    for rec in &l.records {
                        let _ = cloudflare::check_id("record id", &rec.id);
                    }
                    class_of(&[10, l.records.len().min(4) as u64, l.items.min(4) as u64, u64::from(l.total_pages > 1)])
                }
                Err(e) => class_of(&[11, provider_class(&e)]),
            }
        }
        Err(e) => {
            if status == 429 {
                assert!(matches!(e, ProviderError::RateLimited { .. }));
            }
            class_of(&[12, provider_class(&e), u64::from(status / 100), codes.len().min(3) as u64])
        }
    }
}

#[test]
fn fuzz_dns_cloudflare() {
    let tokens: &[&[u8]] = &[
        b"\"success\":",
        b"\"errors\":[{\"code\":971,\"message\":\"x\"}]",
        b"\"result\":[",
        b"\"result_info\":{\"total_pages\":",
        b"\"type\":\"AAAA\"",
        b"\"name\":\"vpn.example.test.\"",
        b"\"ttl\":",
        b"\"id\":",
        b"81058",
        b"10429",
    ];
    let seeds = vec![b"\x00\xc8\x00".to_vec(), b"\x01\xad\x00120".to_vec()];
    fuzz::run(Target { tokens, seeds, ..Target::new("dns_cloudflare") }, cloudflare_one);
}

// ---------------------------------------------------------------- dns_rfc2136

fn rfc2136_provider() -> Rfc2136 {
    let s = Rfc2136Settings {
        server: "127.0.0.1:53".into(),
        zone: "example.test".into(),
        key_name: "wgcluster-key".into(),
        key_secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0Cg==".into(),
        algorithm: "hmac-sha256".into(),
    };
    match Rfc2136::new(&s, Duration::from_secs(1)) {
        Ok(p) => p,
        Err(e) => panic!("fixture settings refused: {e}"),
    }
}

const FUZZ_NOW: u64 = 1_700_000_000;

fn response(id: u16, opcode: u8, rcode: u8) -> Message {
    Message { id, flags: 0x8000 | u16::from(opcode) << 11 | u16::from(rcode), ..Message::default() }
}

/// Answers a server could send: records at the name, errors, a NOTAUTH with a TSIG error, a
/// compressed answer, and a signed answer (the provider's own key signs it, as the server would,
/// so the verifier sees a valid MAC to mutate and the success path is reached).
fn rfc2136_seeds() -> Vec<Vec<u8>> {
    let name = Name::parse("vpn.example.test").expect("literal");
    let mut out = Vec::new();
    for code in [wire::RCODE_NOERROR, wire::RCODE_NXDOMAIN, wire::RCODE_REFUSED, wire::RCODE_NOTAUTH, wire::RCODE_SERVFAIL] {
        let mut m = response(0x1234, wire::OPCODE_QUERY, code);
        m.questions.push(Question { name: name.clone(), qtype: wire::TYPE_A, class: wire::CLASS_IN });
        m.answers.push(Record::address(name.clone(), wire::CLASS_IN, 60, "192.0.2.1".parse().expect("literal")));
        m.answers.push(Record::address(name.clone(), wire::CLASS_IN, 60, "2001:db8::1".parse().expect("literal")));
        out.push(m.encode().expect("seed encodes"));
    }
    let p = rfc2136_provider();
    let mut m = response(0x1234, wire::OPCODE_UPDATE, 0);
    m.answers.push(Record::address(name.clone(), wire::CLASS_IN, 60, "192.0.2.7".parse().expect("literal")));
    // Signed as the answer to the request `rfc2136_one` makes, so it passes verification.
    let request = p.inner.key.sign(&Message::request(0x1234, wire::OPCODE_QUERY), FUZZ_NOW, 300).expect("seed signs");
    out.push(p.inner.key.sign_answer(&m, &request.mac, FUZZ_NOW, 300).expect("seed signs").bytes);
    let mut m = response(0x1234, wire::OPCODE_UPDATE, wire::RCODE_NOTAUTH);
    m.tsig = Some(wire::Tsig {
        key: p.inner.key.name.clone(),
        algorithm: Name::parse("hmac-sha256").expect("literal"),
        time: FUZZ_NOW,
        fudge: 300,
        mac: Vec::new(),
        original_id: 0x1234,
        error: 16,
        other: Vec::new(),
    });
    out.push(m.encode().expect("seed encodes"));
    // A compressed answer: question name at 12, the answer's owner a pointer to it.
    let mut c = vec![0x12, 0x34, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    c.extend_from_slice(name.wire());
    c.extend_from_slice(&[0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9]);
    out.push(c);
    out
}

fn rfc2136_one(p: &Rfc2136, data: &[u8]) -> u64 {
    // Answer the id the input carries half of the time, so the later checks are reached.
    let sent_id = match data {
        [a, b, ..] if data.len() & 1 == 0 => u16::from_be_bytes([*a, *b]),
        _ => 0x1234,
    };
    let sent = match p.inner.key.sign(&Message::request(sent_id, wire::OPCODE_QUERY), FUZZ_NOW, 300) {
        Ok(s) => s,
        Err(e) => panic!("signing: {e}"),
    };
    let name = Name::parse("vpn.example.test").expect("literal");
    match p.inner.read_answer(data, &sent, FUZZ_NOW, "query") {
        Ok(resp) => {
            assert!(matches!(resp.rcode(), wire::RCODE_NOERROR | wire::RCODE_NXDOMAIN));
            assert!(resp.tsig.is_some(), "accepted without a TSIG");
            let records = rfc2136::records_at(&resp, &name);
            for r in &records {
                assert!(r.content.parse::<std::net::IpAddr>().is_ok(), "record content {:?}", r.content);
            }
            class_of(&[20, records.len().min(4) as u64])
        }
        Err(e) => {
            // Also read records out of any decodable message, as `list` would after a pass.
            if let Ok(m) = Message::decode(data) {
                let _ = rfc2136::records_at(&m, &name);
                if let Some(w) = rfc2136::tsig_error(&m) {
                    assert!(["BADSIG", "BADKEY", "BADTIME", "BADTRUNC"].contains(&w));
                }
            }
            class_of(&[21, provider_class(&e), fuzz::fnv1a(e.to_string().split(['(', ':']).next().unwrap_or("").as_bytes()) & 0xfff])
        }
    }
}

#[test]
fn fuzz_dns_rfc2136() {
    let p = rfc2136_provider();
    let target = Target { seeds: rfc2136_seeds(), max_len: 2048, ..Target::new("dns_rfc2136") };
    fuzz::run(target, |data| rfc2136_one(&p, data));
}

// ---------------------------------------------------------------- dns_message

/// The decoder on any bytes: a decoded message encodes (uncompressed) to bytes that decode to the
/// same message, and whose TSIG (if any) is where the decoder says; names stay within 255 bytes.
fn message_one(data: &[u8]) -> u64 {
    match Message::decode(data) {
        Ok(m) => {
            let bytes = match m.encode() {
                Ok(b) => b,
                Err(e) => panic!("a decoded message does not encode: {e}"),
            };
            match Message::decode(&bytes) {
                Ok(again) => assert_eq!(again, m, "decode(encode(m)) != m"),
                Err(e) => panic!("the re-encoded message does not decode: {e}"),
            }
            for q in &m.questions {
                assert!(q.name.wire().len() <= 255);
            }
            class_of(&[
                1,
                m.questions.len().min(3) as u64,
                m.answers.len().min(3) as u64,
                m.authority.len().min(3) as u64,
                m.additional.len().min(3) as u64,
                u64::from(m.tsig.is_some()),
            ])
        }
        Err(e) => class_of(&[2, fuzz::fnv1a(e.to_string().as_bytes()) & 0xff]),
    }
}

#[test]
fn fuzz_dns_message() {
    let mut seeds = rfc2136_seeds();
    seeds.push(include_bytes!("dns/testdata/nsupdate-update.bin").to_vec());
    seeds.push(include_bytes!("dns/testdata/dig-query.bin").to_vec());
    let tokens: &[&[u8]] = &[b"\xc0\x0c", b"\xc0", b"\x00\xfa\x00\xff", b"\x00\x1c", b"\x3f", b"\x00\x00"];
    let target = Target { seeds, tokens, max_len: 2048, ..Target::new("dns_message") };
    fuzz::run(target, message_one);
}

// ---------------------------------------------------------------- commands

fn cn(s: &str) -> ConfigName {
    ConfigName::parse("c", s).expect("literal")
}
fn nid(s: &str) -> NodeId {
    NodeId::parse("n", s).expect("literal")
}
fn spec(id: NodeId, endpoint: Option<String>) -> NodeSpec {
    NodeSpec { id, name: None, endpoint, cluster_addr: None, witness: false }
}

/// wg0 (10.0.0.1/28) and wg1 (fd00::1/120) on node1 and node2, node3 unassigned, peers on wg0.
fn fixture() -> State {
    let mut s = State::default();
    let token = ApiToken { name: "admin".into(), sha256: [7; 32], created_at: 0 };
    let config = |name: &str, addr: &str, port| Command::CreateConfig {
        config: NewConfig {
            name: cn(name),
            private_key: WgKey([9; 32]),
            addresses: vec![addr.parse().expect("literal")],
            listen_port: port,
            mtu: None,
            dns: vec![],
            peer_allowed_ips: vec!["0.0.0.0/0".parse().expect("literal")],
            peer_keepalive: Some(25),
            placement: Default::default(),
        },
    };
    let peer = |n: u8, node: Option<&str>| NewPeer {
        id: PeerId::parse("p", &format!("seed{n}")).expect("literal"),
        name: format!("p{n}"),
        public_key: WgKey([n; 32]),
        private_key: None,
        preshared_key: None,
        node_id: node.map(nid),
        allowed_ips: None,
        keepalive: None,
        enabled: true,
        limits: Default::default(),
    };
    let cmds = vec![
        Command::Bootstrap { token, node: spec(nid("node1"), Some("192.0.2.1".into())), ca: None, serial: 0 },
        Command::CreateNode { node: spec(nid("node2"), Some("192.0.2.2".into())), weight: 1 },
        Command::CreateNode { node: spec(nid("node3"), None), weight: 2 },
        config("wg0", "10.0.0.1/28", 51820),
        config("wg1", "fd00::1/120", 51821),
        Command::AssignNode { config: cn("wg0"), node_id: nid("node1") },
        Command::AssignNode { config: cn("wg0"), node_id: nid("node2") },
        Command::AssignNode { config: cn("wg1"), node_id: nid("node2") },
        Command::CreatePeers { config: cn("wg0"), peers: vec![peer(1, Some("node1")), peer(2, Some("node1")), peer(3, None)] },
    ];
    for c in cmds {
        if let Err(e) = s.apply(&Request { at: 1000, user: "admin".into(), cmd: c, idempotency: None }) {
            panic!("fixture: {e}");
        }
    }
    s
}

fn pick_config(r: &mut Reader) -> Option<ConfigName> {
    match r.byte() % 4 {
        0 => Some(cn("wg0")),
        1 => Some(cn("wg1")),
        2 => Some(cn("wg2")),
        _ => ConfigName::parse("c", &r.field()).ok(),
    }
}

fn pick_node(r: &mut Reader) -> Option<NodeId> {
    match r.byte() % 5 {
        0 => Some(nid("node1")),
        1 => Some(nid("node2")),
        2 => Some(nid("node3")),
        3 => Some(nid("node4")),
        _ => NodeId::parse("n", &r.field()).ok(),
    }
}

fn pick_peer(r: &mut Reader, s: &State) -> Option<PeerId> {
    let i = usize::from(r.byte());
    match s.peers.keys().nth(i % (s.peers.len() + 1)) {
        Some(id) => Some(id.clone()),
        None => PeerId::parse("p", &r.field()).ok(),
    }
}

fn pick_net(r: &mut Reader) -> Option<ipnet::IpNet> {
    match r.byte() % 4 {
        0 => ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, r.byte() % 3, r.byte() % 2, r.byte()), r.byte() % 33).ok().map(Into::into),
        1 => {
            ipnet::Ipv6Net::new(std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(r.byte())), r.byte() % 129).ok().map(Into::into)
        }
        2 => Some("0.0.0.0/0".parse().expect("literal")),
        _ => r.field().parse().ok(),
    }
}

fn opt_u16(r: &mut Reader) -> Option<u16> {
    (r.flip()).then(|| r.u16())
}

fn new_peer(r: &mut Reader, n: u64) -> Option<NewPeer> {
    let key = r.byte();
    Some(NewPeer {
        id: PeerId::parse("p", &format!("f{n:x}{}", r.byte())).ok()?,
        name: r.field(),
        public_key: WgKey([key; 32]),
        private_key: None,
        preshared_key: (key & 1 == 0).then_some(WgKey([1; 32])),
        node_id: if r.flip() { pick_node(r) } else { None },
        allowed_ips: if r.byte() < 86 { Some(vec![pick_net(r)?]) } else { None },
        keepalive: opt_u16(r),
        enabled: r.byte() & 3 != 0,
        limits: Default::default(),
    })
}

/// One command out of the bytes (`None`: the bytes do not make a valid one, as a constructor
/// would refuse them).
fn decode_command(r: &mut Reader, s: &State, n: u64) -> Option<Command> {
    Some(match r.byte() % 28 {
        0 => Command::CreateNode { node: spec(pick_node(r)?, Some(r.field())), weight: u32::from(r.byte()) },
        1 => Command::UpdateNode {
            id: pick_node(r)?,
            patch: NodePatch {
                name: (r.flip()).then(|| r.field()),
                endpoint: (r.flip()).then(|| (r.flip()).then(|| r.field())),
                weight: (r.flip()).then(|| u32::from(r.byte())),
                enabled: (r.flip()).then(|| r.flip()),
            },
        },
        2 => Command::DeleteNode { id: pick_node(r)? },
        3 => Command::CreateConfig {
            config: NewConfig {
                name: pick_config(r)?,
                private_key: WgKey([r.byte(); 32]),
                addresses: vec![pick_net(r)?],
                listen_port: r.u16(),
                mtu: opt_u16(r),
                dns: vec![r.field()],
                peer_allowed_ips: vec![pick_net(r)?],
                peer_keepalive: opt_u16(r),
                placement: Default::default(),
            },
        },
        4 => Command::UpdateConfig {
            name: pick_config(r)?,
            patch: ConfigPatch {
                listen_port: opt_u16(r),
                mtu: (r.flip()).then(|| opt_u16(r)),
                dns: (r.flip()).then(|| vec![r.field()]),
                peer_allowed_ips: if r.flip() { Some(vec![pick_net(r)?]) } else { None },
                peer_keepalive: (r.flip()).then(|| opt_u16(r)),
                placement: None,
            },
        },
        5 => Command::DeleteConfig { name: pick_config(r)?, force: r.flip() },
        6 => Command::AssignNode { config: pick_config(r)?, node_id: pick_node(r)? },
        7 => Command::RemoveNode { config: pick_config(r)?, node_id: pick_node(r)?, backup_interface: None, backup_note: r.field() },
        8 => Command::SetEndpointGroup {
            group: EndpointGroupSpec {
                config: pick_config(r)?,
                domain: r.field(),
                port: r.u16(),
                provider: if r.flip() { DnsProviderKind::Cloudflare } else { DnsProviderKind::Rfc2136 },
                cloudflare_zone_id: Some(r.field()),
                cloudflare_record_name: None,
                ttl: u32::from(r.u16()),
                auto_migrate: r.flip(),
                publish_only_healthy: r.flip(),
                min_nodes: u32::from(r.byte() % 4),
            },
        },
        9 => Command::DeleteEndpointGroup { config: pick_config(r)? },
        10 => {
            let count = 1 + usize::from(r.byte() % 4);
            let peers = (0..count).map(|i| new_peer(r, n * 8 + i as u64)).collect::<Option<Vec<_>>>()?;
            Command::CreatePeers { config: pick_config(r)?, peers }
        }
        11 => Command::UpdatePeer {
            config: pick_config(r)?,
            id: pick_peer(r, s)?,
            patch: PeerPatch {
                name: (r.flip()).then(|| r.field()),
                allowed_ips: if r.flip() { Some(vec![pick_net(r)?]) } else { None },
                keepalive: (r.flip()).then(|| opt_u16(r)),
                enabled: (r.flip()).then(|| r.flip()),
                node_id: if r.flip() { pick_node(r) } else { None },
                data_limit_bytes: (r.flip()).then(|| r.flip().then(|| u64::from(r.u16()))),
                expires_at: (r.flip()).then(|| r.flip().then(|| u64::from(r.u16()))),
                rx_limit_bytes: (r.flip()).then(|| r.flip().then(|| u64::from(r.u16()))),
                tx_limit_bytes: (r.flip()).then(|| r.flip().then(|| u64::from(r.u16()))),
            },
        },
        12 => Command::DeletePeer { config: pick_config(r)?, id: pick_peer(r, s)? },
        13 => Command::MigratePeers { config: pick_config(r)?, from: pick_node(r)?, to: if r.flip() { pick_node(r) } else { None } },
        14 => Command::Rebalance { config: pick_config(r)? },
        15 => Command::CompleteDrain { config: pick_config(r)?, node_id: pick_node(r)? },
        16 => Command::ReportMigrationBlocked { config: pick_config(r)?, node_id: pick_node(r)?, reason: r.field() },
        17 => Command::SetNodeHealth {
            node_id: pick_node(r)?,
            config: if r.flip() { pick_config(r) } else { None },
            healthy: r.flip(),
            reason: r.field(),
        },
        18 => Command::RecordDnsSync {
            config: pick_config(r)?,
            published: vec![r.field()],
            degraded: r.flip(),
            changed: r.flip(),
            error: (r.flip()).then(|| r.field()),
        },
        19 => Command::SetHealthSettings {
            probe_interval_ms: (r.flip()).then(|| u64::from(r.u16())),
            unhealthy_after: (r.flip()).then(|| u32::from(r.byte())),
            healthy_after: (r.flip()).then(|| u32::from(r.byte())),
            auto_migrate_independent: (r.flip()).then(|| r.flip()),
        },
        20 => Command::IssueJoinToken { sha256: r.field(), expires_at: u64::from(r.u16()) },
        21 => Command::AdmitNode { token_sha256: r.field(), node: spec(pick_node(r)?, None), serial: u64::from(r.byte()) },
        22 => Command::RevokeMember { node_id: pick_node(r)? },
        23 => Command::RecordUsage {
            reports: vec![crate::usage::RouterReport {
                node: pick_node(r)?,
                epoch: u64::from(r.byte() % 3),
                at: u64::from(r.u16()),
                peers: vec![crate::usage::PeerReading {
                    peer: pick_peer(r, s)?,
                    rx: u64::from(r.u16()),
                    tx: u64::from(r.u16()),
                    handshake: (r.flip()).then(|| u64::from(r.u16())),
                    endpoint: None,
                }],
            }],
        },
        24 => Command::RecordDnsDrift {
            config: pick_config(r)?,
            published: vec![r.field()],
            degraded: r.flip(),
            drift: DnsDrift { at: 0, removed: vec![r.field()], restored: vec![r.field()], corrected: vec![] },
        },
        25 => Command::CompleteDnsRemoval {
            key: match s.dns_removals.keys().nth(usize::from(r.byte()) % (s.dns_removals.len() + 1)) {
                Some(k) => k.clone(),
                None => r.field(),
            },
            removed: vec![r.field()],
        },
        26 => Command::SetDnsSettings { cloudflare: None, rfc2136: None, reconcile_interval_s: (r.flip()).then(|| u64::from(r.u16())) },
        _ => Command::RegisterNode { node: spec(pick_node(r)?, Some(r.field())) },
    })
}

/// What must hold after every command, accepted or not.
fn check_state(s: &State) {
    for p in s.peers.values() {
        assert!(s.configs.contains_key(&p.config), "peer {} of a missing config {}", p.id, p.config);
        if let Some(n) = &p.node_id {
            assert!(s.nodes.contains_key(n), "peer {} on a missing node {n}", p.id);
        }
    }
    for c in s.configs.values() {
        let mut addrs: Vec<_> = s.peers_of(&c.name).flat_map(|p| p.addresses.iter().map(|a| a.addr())).collect();
        let n = addrs.len();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "duplicate peer address in {}", c.name);
        let mut keys: Vec<_> = s.peers_of(&c.name).map(|p| p.public_key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), s.peers_of(&c.name).count(), "duplicate public key in {}", c.name);
    }
    for (config, node) in s.config_nodes.keys() {
        assert!(s.configs.contains_key(config) && s.nodes.contains_key(node), "assignment {config}/{node} dangles");
    }
    assert!(s.audit.len() <= AUDIT_RETENTION);
    // The peer index, where held, answers as one rebuilt from the state would.
    for (name, idx) in s.index.iter() {
        let cfg = s.configs.get(name).expect("the index holds a config that does not exist");
        let rebuilt = crate::state::index::ConfigIndex::build(cfg, s.peers.values());
        assert!(idx.equivalent(&rebuilt), "peer index of {name} drifted from the state");
    }
}

/// Up to 16 commands decoded from the input, applied in turn to the fixture.
fn commands_one(base: &State, data: &[u8]) -> u64 {
    let mut s = base.clone();
    let mut r = Reader::new(data);
    let mut class = 0u64;
    // The incremental desired state of every router, checked against a rebuild after each command.
    let nodes = [nid("node1"), nid("node2"), nid("node3")];
    let mut caches: Vec<crate::wg::desired::DesiredCache> = nodes.iter().map(|_| Default::default()).collect();
    for (c, n) in caches.iter_mut().zip(&nodes) {
        c.update(&s, n);
    }
    for n in 0..16u64 {
        if r.is_empty() {
            break;
        }
        let Some(cmd) = decode_command(&mut r, &s, n) else { continue };
        let before = s.clone();
        let kind = format!("{cmd:?}").split([' ', '{', '(']).next().unwrap_or("").to_string();
        let res = s.apply(&Request { at: 2000 + n, user: "fuzz".into(), cmd, idempotency: None });
        match &res {
            Err(e) => {
                let mut expected = before;
                expected.version += 1;
                assert!(s == expected, "refused {kind} ({e}) changed the state");
            }
            Ok(_) => assert_eq!(s.version, before.version + 1, "{kind}: version"),
        }
        check_state(&s);
        for (c, n) in caches.iter_mut().zip(&nodes) {
            c.update(&s, n);
            assert!(c.specs() == crate::wg::desired::desired_interfaces(&s, n), "{kind}: the incremental desired state of {n} drifted");
        }
        class = class_of(&[class, fuzz::fnv1a(kind.as_bytes()), u64::from(res.is_ok())]);
    }
    class
}

#[test]
fn fuzz_commands() {
    let base = fixture();
    fuzz::run(Target { max_len: 512, ..Target::new("commands") }, |data| commands_one(&base, data));
}
