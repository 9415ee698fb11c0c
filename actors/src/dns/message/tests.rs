//! Known-good bytes from BIND 9.18's own tools, captured once from a UDP socket on loopback
//! (`testdata/`), with key `wgcluster-key`, hmac-sha256, secret `c2VjcmV0LXNlY3JldC1zZWNyZXQ=`:
//!
//! - `dig-query.bin`: `dig +norec +noad +noedns +nocookie -y hmac-sha256:wgcluster-key:… vpn.example.test AAAA`
//! - `nsupdate-update.bin`: `nsupdate -y …` with `zone example.test`, `update delete
//!   vpn.example.test. A 192.0.2.1`, `update add vpn.example.test. 60 A 192.0.2.2`,
//!   `update add vpn.example.test. 60 AAAA 2001:db8::3`, `send` (names compressed by nsupdate).

use super::*;
use crate::dns::tsig::{Algorithm, Key, TsigError};

const DIG_QUERY: &[u8] = include_bytes!("../testdata/dig-query.bin");
const NSUPDATE: &[u8] = include_bytes!("../testdata/nsupdate-update.bin");
const SECRET: &[u8] = b"secret-secret-secret";

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn key() -> Key {
    Key::new(name("wgcluster-key"), Algorithm::HmacSha256, SECRET)
}

#[test]
fn names_parse_and_print() {
    let ok = [
        ("vpn.example.test", &b"\x03vpn\x07example\x04test\x00"[..], "vpn.example.test"),
        ("VPN.Example.Test.", b"\x03vpn\x07example\x04test\x00", "vpn.example.test"),
        ("_acme-challenge.x1", b"\x0f_acme-challenge\x02x1\x00", "_acme-challenge.x1"),
        ("a", b"\x01a\x00", "a"),
    ];
    for (text, wire, back) in ok {
        let n = name(text);
        assert_eq!(n.wire(), wire, "{text}");
        assert_eq!(n.to_string(), back);
    }
    let long = "a".repeat(64);
    let too_long_name = ["abcdefghi"; 26].join(".");
    let bad = [
        ("", "empty"),
        (".", "empty"),
        ("a..b", "empty label"),
        ("bad zone", "contains ' '"),
        ("ex\u{e4}mple.test", "contains 'ä'"),
        (long.as_str(), "longer than 63"),
        (too_long_name.as_str(), "longer than 255"),
    ];
    for (text, want) in bad {
        let e = Name::parse(text).unwrap_err();
        assert!(e.contains(want), "{text}: {e} !~ {want}");
    }
}

#[test]
fn zones_contain_names_by_label() {
    let zone = name("example.test");
    for (n, inside) in [
        ("example.test", true),
        ("vpn.example.test", true),
        ("a.b.EXAMPLE.test.", true),
        ("badexample.test", false),
        ("example.test.org", false),
        ("test", false),
    ] {
        assert_eq!(zone.contains(&name(n)), inside, "{n}");
    }
}

/// Our query for the same id, name, type, key and time is byte for byte what dig sent.
#[test]
fn query_matches_dig() {
    let theirs = Message::decode(DIG_QUERY).unwrap();
    let t = theirs.tsig.clone().unwrap();
    assert_eq!((theirs.id, theirs.flags), (0x694a, 0));
    assert_eq!(theirs.questions, vec![Question { name: name("vpn.example.test"), qtype: TYPE_AAAA, class: CLASS_IN }]);
    assert_eq!((t.key.to_string().as_str(), t.algorithm.to_string().as_str(), t.fudge, t.error), ("wgcluster-key", "hmac-sha256", 300, 0));

    let mut ours = Message::request(theirs.id, OPCODE_QUERY);
    ours.questions.push(Question { name: name("vpn.example.test"), qtype: TYPE_AAAA, class: CLASS_IN });
    let signed = key().sign(&ours, t.time, 300).unwrap();
    assert_eq!(signed.bytes, DIG_QUERY);
    assert_eq!(signed.mac, t.mac);
    // And dig's signature verifies with our code, as a request (no prior MAC).
    key().verify(DIG_QUERY, &[], t.time + 10).unwrap();
}

/// nsupdate's UPDATE decodes (through its compression pointers) to the message we build for the
/// same change, and its TSIG verifies with our MAC code.
#[test]
fn update_matches_nsupdate() {
    let theirs = Message::decode(NSUPDATE).unwrap();
    let vpn = name("vpn.example.test");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut ours = Message::request(theirs.id, OPCODE_UPDATE);
    ours.questions.push(Question { name: name("example.test"), qtype: TYPE_SOA, class: CLASS_IN });
    ours.authority = vec![
        Record::address(vpn.clone(), CLASS_NONE, 0, ip("192.0.2.1")),
        Record::address(vpn.clone(), CLASS_IN, 60, ip("192.0.2.2")),
        Record::address(vpn.clone(), CLASS_IN, 60, ip("2001:db8::3")),
    ];
    let t = theirs.tsig.clone().unwrap();
    assert_eq!(Message { tsig: None, ..theirs.clone() }, ours);
    key().verify(NSUPDATE, &[], t.time).unwrap();
    // Our uncompressed encoding of the same message carries the same MAC: the MAC covers the
    // bytes as sent, so only the decoded content can be compared, and the MAC over ours differs.
    let signed = key().sign(&ours, t.time, 300).unwrap();
    assert_ne!(signed.mac, t.mac);
    key().verify(&signed.bytes, &[], t.time).unwrap();
    assert_eq!(Message::decode(&signed.bytes).unwrap(), Message { tsig: Some(Tsig { mac: signed.mac.clone(), ..t }), ..ours });
}

#[test]
fn verification_refuses() {
    let k = key();
    let time = Message::decode(DIG_QUERY).unwrap().tsig.unwrap().time;
    let flip = |at: usize| {
        let mut b = DIG_QUERY.to_vec();
        b[at] ^= 0x20;
        b
    };
    let other_key = Key::new(name("other-key"), Algorithm::HmacSha256, SECRET);
    let other_alg = Key::new(name("wgcluster-key"), Algorithm::HmacSha512, SECRET);
    let other_secret = Key::new(name("wgcluster-key"), Algorithm::HmacSha256, b"another secret");
    let unsigned = Message { tsig: None, ..Message::decode(DIG_QUERY).unwrap() }.encode().unwrap();
    let mac_size = DIG_QUERY.len() - 6 - 32 - 2; // the MAC size field (0x0020), before the MAC
    let cases: Vec<(&Key, Vec<u8>, u64, TsigError)> = vec![
        (&k, unsigned, time, TsigError::Unsigned),
        (&other_key, DIG_QUERY.to_vec(), time, TsigError::OtherKey("wgcluster-key".into())),
        (&other_alg, DIG_QUERY.to_vec(), time, TsigError::OtherAlgorithm("hmac-sha256".into())),
        (&other_secret, DIG_QUERY.to_vec(), time, TsigError::BadMac),
        // "vpn" → "vPn": names compare without case, but the MAC covers the bytes.
        (&k, flip(14), time, TsigError::BadMac),
        (&k, DIG_QUERY.to_vec(), time + 301, TsigError::Time { signed: time, diff: 301, fudge: 300 }),
        (&k, DIG_QUERY.to_vec(), time - 301, TsigError::Time { signed: time, diff: 301, fudge: 300 }),
        (&k, flip(DIG_QUERY.len() - 3), time, TsigError::Error("32".into())),
        // MAC size 0: the MAC's bytes are read as the fields after it, "other length" 0xd90c.
        (&k, flip(mac_size + 1), time, TsigError::Wire(WireError::Short("the TSIG other data"))),
    ];
    for (i, (key, buf, now, want)) in cases.into_iter().enumerate() {
        assert_eq!(key.verify(&buf, &[], now), Err(want), "case {i}");
    }
}

/// Malformed messages are refused with a reason, never a panic.
#[test]
fn decoding_refuses() {
    let header = |qd: u8, an: u8| vec![0, 1, 0x80, 0, 0, qd, 0, an, 0, 0, 0, 0];
    let with = |mut h: Vec<u8>, rest: &[u8]| {
        h.extend_from_slice(rest);
        h
    };
    let a_rr = |name: &[u8], rdata: &[u8]| {
        let mut v = name.to_vec();
        v.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, rdata.len() as u8]);
        v.extend_from_slice(rdata);
        v
    };
    let cases: Vec<(Vec<u8>, WireError)> = vec![
        (vec![0, 1, 0x80], WireError::Short("the header")),
        (with(header(1, 0), b"\x03vpn"), WireError::Short("a name")),
        (with(header(1, 0), b"\x00\x00\x01"), WireError::Short("a question")),
        (with(header(1, 0), b"\xc0\x0c\x00\x01\x00\x01"), WireError::BadPointer),
        (with(header(1, 0), b"\x80\x00\x00\x01\x00\x01"), WireError::BadLabel(0x80)),
        (with(header(0, 1), &a_rr(b"\x00", &[1, 2, 3])), WireError::BadRdata("A", 3)),
        (with(header(0, 1), &a_rr(b"\x00", &[1, 2, 3, 4, 5])[..13]), WireError::Short("a record's data")),
        (with(header(0, 0), b"\x00"), WireError::Trailing(1)),
        (with(header(0, 1), &DIG_QUERY[34..]), WireError::TsigNotLast),
    ];
    for (buf, want) in cases {
        assert_eq!(Message::decode(&buf), Err(want.clone()), "{buf:02x?}");
    }
    // A pointer loop through a label ends at the name length limit.
    let mut looped = header(1, 0);
    looped.extend_from_slice(b"\x01a\xc0\x0c");
    assert_eq!(Message::decode(&looped), Err(WireError::NameTooLong));
}

#[test]
fn encoding_round_trips() {
    let mut m = Message::request(0xbeef, OPCODE_UPDATE);
    m.questions.push(Question { name: name("example.test"), qtype: TYPE_SOA, class: CLASS_IN });
    m.authority.push(Record::address(name("a.example.test"), CLASS_IN, 30, "2001:db8::1".parse().unwrap()));
    m.additional.push(Record { name: name("x"), rtype: 16, class: CLASS_IN, ttl: 1, rdata: b"\x02hi".to_vec() });
    let bytes = m.encode().unwrap();
    assert_eq!(&bytes[..12], &[0xbe, 0xef, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 1]);
    assert_eq!(Message::decode(&bytes).unwrap(), m);
    assert_eq!(m.opcode(), OPCODE_UPDATE);
    assert!(!m.is_response());
    assert_eq!(m.authority[0].ip(), Some("2001:db8::1".parse().unwrap()));
}
