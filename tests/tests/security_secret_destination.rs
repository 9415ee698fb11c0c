//! Issue 10, hole 1: a stored DNS secret is only ever sent to the destination it was entered for.
//! A real daemon, the fake Cloudflare API (A) and a plain TCP listener (B) that records every byte
//! it receives: moving `api_base` to B without re-sending the token is refused, and the next sync
//! still talks to A only. `http://` bases must be loopback; the RFC 2136 server follows the same
//! rule as the Cloudflare base.

mod dns_common;

use dns_common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wgcluster_tests::fake_cloudflare::FakeCloudflare;

/// A listener on 127.0.0.1 that accepts every connection and keeps whatever bytes arrive.
struct Recorder {
    base: String,
    seen: Arc<Mutex<(usize, Vec<u8>)>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind recorder");
        let addr = listener.local_addr().expect("recorder address");
        let seen = Arc::new(Mutex::new((0usize, Vec::new())));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 4096];
                    sink.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        sink.lock().unwrap_or_else(|e| e.into_inner()).1.extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Self { base: format!("http://{addr}/client/v4"), seen }
    }

    fn connections(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn bytes(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap_or_else(|e| e.into_inner()).1).into_owned()
    }
}

fn refused(d: &Daemon, body: Value, wants: &[&str]) -> String {
    let (s, v) = d.call("PUT", "/api/settings/dns", Some(body.clone()));
    assert_eq!(s, 400, "{body} -> {v}");
    let msg = v["message"].as_str().unwrap_or("").to_string();
    for w in wants {
        assert!(msg.contains(w), "{body}: {msg:?} does not mention {w:?}");
    }
    msg
}

#[test]
fn hole1_cloudflare_token_never_sent_to_a_new_api_base() {
    let fake = FakeCloudflare::start(TOKEN, ZONE_ID);
    let b = Recorder::start();
    let d = Daemon::start("hole1", "192.0.2.1");
    d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": TOKEN, "api_base": fake.base_url() } })));
    let before = d.ok("GET", "/api/settings/dns", None);

    // The base moves to B without the token: refused, naming both fields.
    let msg = refused(&d, json!({ "cloudflare": { "api_base": b.base } }), &["cloudflare.api_base", "api_token"]);
    assert!(!msg.contains(TOKEN), "{msg}");
    // Leaving the base out means the default base: also a new destination.
    refused(&d, json!({ "cloudflare": {} }), &["cloudflare.api_base", "api_token"]);
    // The masked placeholder is not a token either.
    refused(&d, json!({ "cloudflare": { "api_base": b.base, "api_token": "***" } }), &["cloudflare.api_token"]);
    assert_eq!(d.ok("GET", "/api/settings/dns", None), before, "a refused PUT changed the settings");
    // Same base, no token: the stored token stays (a form that cannot show it).
    d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_base": fake.base_url() } })));

    // http:// only to loopback; the message says so. No tricks with userinfo or look-alike hosts.
    for base in ["http://192.0.2.10/client/v4", "http://127.0.0.1.evil.example/client/v4", "http://localhost@192.0.2.10/client/v4"] {
        let (s, v) = d.call("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": "other-token", "api_base": base } })));
        assert_eq!(s, 400, "{base} -> {v}");
        let msg = v["message"].as_str().unwrap_or("");
        assert!(msg.contains("cloudflare.api_base"), "{base}: {msg}");
    }
    refused(&d, json!({ "cloudflare": { "api_token": "other-token", "api_base": "http://192.0.2.10/client/v4" } }), &["loopback"]);
    assert_eq!(d.ok("GET", "/api/settings/dns", None), before);

    // A sync (a new endpoint group) goes to A with the token; B hears nothing at all.
    d.config_with_nodes(&[]);
    let group = json!({ "domain": NAME, "provider": "cloudflare", "cloudflare_zone_id": ZONE_ID, "ttl": 60 });
    d.ok("POST", "/api/configs/wg0/endpoint-group", Some(group));
    d.wait("records published at A", Duration::from_secs(15), || fake.addresses(ZONE_ID, NAME) == vec!["192.0.2.1".to_string()]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.connections(), 0, "B was contacted: {:?}", b.bytes());
    assert!(!b.bytes().contains(TOKEN));

    // With the token in the same request the base may move (the user entered it for B).
    d.ok("PUT", "/api/settings/dns", Some(json!({ "cloudflare": { "api_token": "token-for-b", "api_base": b.base } })));
    assert!(!b.bytes().contains(TOKEN), "the old token reached B");
}

#[test]
fn hole1_rfc2136_secret_stays_with_its_server() {
    let d = Daemon::start("hole1r", "192.0.2.1");
    let secret = "c2VjcmV0LWZvci01MzAw";
    let first = json!({ "rfc2136": { "server": "127.0.0.1:5300", "zone": "example.test", "key_name": "k1", "key_secret": secret } });
    d.ok("PUT", "/api/settings/dns", Some(first));
    let before = d.ok("GET", "/api/settings/dns", None);
    let moved = json!({ "rfc2136": { "server": "127.0.0.1:5301", "zone": "example.test", "key_name": "k1" } });
    let msg = refused(&d, moved, &["rfc2136.server", "key_secret"]);
    assert!(!msg.contains(secret), "{msg}");
    assert_eq!(d.ok("GET", "/api/settings/dns", None), before);
    // Same server, other zone: the stored secret is kept.
    d.ok("PUT", "/api/settings/dns", Some(json!({ "rfc2136": { "server": "127.0.0.1:5300", "zone": "other.test", "key_name": "k1" } })));
    // New server with its secret: fine.
    let with_secret =
        json!({ "rfc2136": { "server": "127.0.0.1:5301", "zone": "example.test", "key_name": "k1", "key_secret": "bmV3LXNlY3JldA==" } });
    let v = d.ok("PUT", "/api/settings/dns", Some(with_secret));
    assert_eq!(v["rfc2136"]["server"], "127.0.0.1:5301");
    let audit = d.ok("GET", "/api/audit-logs?limit=1000", None).to_string();
    assert!(!audit.contains(secret) && !audit.contains("bmV3LXNlY3JldA"), "{audit}");
}
