//! Issue #13: a client that retries an idempotent bulk after the panel was killed in the middle of
//! it gets each peer exactly once — no duplicate, no loss — whatever the first attempt answered
//! (200, 503, 504, or no answer at all).
//!
//! Three voters on loopback (fast timings). Each round sends a 1,500-peer bulk with a fresh
//! `Idempotency-Key` through a follower (forwarded to the panel), kills the panel with `kill -9`
//! part-way (the delay is a fraction of a calibrated undisturbed bulk, so the kill lands while
//! the body is read, while the panel commits, and around the answer), then repeats the same request, same key, on the survivors until one
//! answers 200. The config must then hold exactly that round's 1,500 names once each; the killed
//! router is restarted and must converge to the same state.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wgcluster_tests::cluster::{message, Cluster, Opts};

const PEERS: usize = 1500;

fn names(c: &Cluster, i: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in c.get_data(i, "/api/configs/wg0/peers").as_array().expect("peer list") {
        *m.entry(p["name"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    m
}

#[test]
fn retried_bulk_after_a_leader_kill_applies_exactly_once() {
    let mut c = Cluster::start(3, Opts::fast());
    let leader = c.wait_in_sync(Duration::from_secs(20));
    // A config with no router assigned: the bulk goes through Raft and apply; no WireGuard runs.
    c.post_ok(leader, "/api/configs", &json!({ "name": "wg0", "address": "10.40.0.1/16", "listen_port": 51820 }));
    // Calibration: how long the same bulk takes through a follower with nobody killed. The kill
    // delays are fractions of it, so the kill lands while the body is read, while the panel
    // commits, and around the answer.
    let via = (leader + 1) % 3;
    let warm = Value::Array((0..PEERS).map(|i| json!({ "name": format!("warm-{i}") })).collect());
    let t = Instant::now();
    c.post_ok(via, "/api/configs/wg0/peers", &warm);
    let full_ms = t.elapsed().as_millis() as u64;
    eprintln!("calibration: a {PEERS}-peer bulk through a follower takes {full_ms} ms");
    let mut seen_first = Vec::new();
    let delays: Vec<u64> = [5u64, 6, 7, 8, 9, 10].iter().map(|tenths| full_ms * tenths / 10).collect();
    for (round, delay_ms) in delays.iter().copied().enumerate() {
        let leader = c.wait_in_sync(Duration::from_secs(30));
        let via = (leader + 1) % 3;
        let key = format!("round-{round}-{}", std::process::id());
        let body = Value::Array((0..PEERS).map(|i| json!({ "name": format!("r{round}-{i}") })).collect());
        let headers = [("Idempotency-Key", key.as_str())];
        let pid = c.routers[leader].pid().expect("the panel runs");

        let first = std::thread::scope(|s| {
            let sender = s.spawn(|| c.try_request_with(via, "POST", "/api/configs/wg0/peers", &headers, Some(&body)));
            std::thread::sleep(Duration::from_millis(delay_ms));
            // SAFETY: kill(2) on the harness's own child (it is reaped by kill9 below).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            sender.join().expect("sender thread")
        });
        c.kill9(leader);
        let first_desc = match &first {
            Ok((code, v)) => format!("{code} {}", message(v)),
            Err(e) => format!("no answer: {e}"),
        };
        if let Ok((code, v)) = &first {
            assert!([200, 503, 504].contains(code), "round {round}: first attempt answered {code}: {v}");
        }
        seen_first.push(first_desc.clone());

        // Retry, same key, on a survivor, until it answers 200.
        let deadline = Instant::now() + Duration::from_secs(60);
        let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let mut attempt = 0;
        let answer = loop {
            let at = survivors[attempt % 2];
            attempt += 1;
            match c.try_request_with(at, "POST", "/api/configs/wg0/peers", &headers, Some(&body)) {
                Ok((200, v)) => break v,
                Ok((code, v)) => assert!([503, 504].contains(&code), "round {round}: retry answered {code}: {v}"),
                Err(_) => {}
            }
            assert!(Instant::now() < deadline, "round {round}: no retry succeeded within 60 s (first: {first_desc})");
            std::thread::sleep(Duration::from_millis(100));
        };
        let answered = answer["data"].as_array().map(Vec::len).unwrap_or_default();
        assert_eq!(answered, PEERS, "round {round}: the retry's answer lists the bulk's peers");

        for at in &survivors {
            let mine: Vec<(String, usize)> = names(&c, *at).into_iter().filter(|(n, _)| n.starts_with(&format!("r{round}-"))).collect();
            assert_eq!(mine.len(), PEERS, "round {round} on {}: peers lost (first: {first_desc})", c.id(*at));
            let dup: Vec<&(String, usize)> = mine.iter().filter(|(_, k)| *k != 1).take(5).collect();
            assert!(dup.is_empty(), "round {round} on {}: duplicates {dup:?} (first: {first_desc})", c.id(*at));
        }
        c.restart(leader);
        eprintln!("round {round}: kill after {delay_ms} ms; first attempt: {first_desc}; retries: {attempt}");
    }
    // Every router, the restarted ones too, ends with every round's peers exactly once.
    let leader = c.wait_in_sync(Duration::from_secs(30));
    let want = names(&c, leader);
    assert_eq!(want.len(), (1 + delays.len()) * PEERS, "firsts: {seen_first:?}");
    assert!(want.values().all(|n| *n == 1));
    for i in 0..3 {
        assert_eq!(names(&c, i), want, "{} differs", c.id(i));
    }
}
