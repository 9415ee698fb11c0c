//! Three `wgclusterd` processes on 127.0.0.x form one cluster (init + two joins) and keep one
//! history through a leader's `kill -9`, its restart, and a follower that comes back after the
//! log it missed was compacted (catch-up by snapshot).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-cluster cargo build -p wgclusterd &&
//!       CARGO_TARGET_DIR=/work/target-cluster cargo test -p wgcluster-tests --test cluster_basic`

use serde_json::json;
use std::time::{Duration, Instant};
use wgcluster_tests::cluster::{message, Cluster, Opts};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn node(id: &str) -> serde_json::Value {
    json!({ "id": id })
}

/// Every router takes a write (followers forward it) and every router sees all of them.
fn write_everywhere_and_check(c: &Cluster, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..c.len() {
        let id = format!("w-{tag}-{}", c.id(i));
        let v = c.post_ok(i, "/api/nodes", &node(&id));
        assert_eq!(v["data"]["id"], id.as_str(), "{v}");
        // A follower answers once it has applied the forwarded write itself: read-your-writes.
        let (code, got) = c.get(i, &format!("/api/nodes/{id}"));
        assert_eq!(code, 200, "{} does not see its own write {id} at once: {got}", c.id(i));
        ids.push(id);
    }
    for i in 0..c.len() {
        c.wait_nodes(i, &ids, SECS(10));
    }
    ids
}

#[test]
fn replicate_fail_over_and_rejoin() {
    let mut c = Cluster::start(3, Opts::fast());
    let leader = c.wait_leader(SECS(10));
    for i in 0..3 {
        let v = c.view(i).expect("view");
        assert_eq!(v.voters(), ["r1", "r2", "r3"], "{v:?}");
        assert_eq!(v.leader.as_deref(), Some(c.id(leader)), "{v:?}");
        let roles: Vec<&str> = v.members.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles.iter().filter(|r| **r == "leader").count(), 1, "{v:?}");
        assert_eq!(roles.iter().filter(|r| **r == "follower").count(), 2, "{v:?}");
    }
    let mut acked = write_everywhere_and_check(&c, "before");

    // kill -9 of the panel: the two others elect a new one within seconds.
    let old = leader;
    let t0 = Instant::now();
    c.kill9(old);
    let new = c.wait_leader_other_than(old, SECS(10));
    let elected = t0.elapsed();
    assert_ne!(new, old);
    let follower = (0..3).find(|&i| i != old && i != new).expect("a surviving follower");
    // Writes continue through the new leader and through the surviving follower (forwarded).
    let (code, v, _) = c.post_retry(new, "/api/nodes", &node("w-after-leader"), SECS(5));
    assert_eq!(code, 200, "write on the new leader {}: {v}", c.id(new));
    let first_write = t0.elapsed();
    let (code, v, _) = c.post_retry(follower, "/api/nodes", &node("w-after-follower"), SECS(5));
    assert_eq!(code, 200, "write through the follower {}: {v}", c.id(follower));
    eprintln!("kill -9 of {}: {} elected after {elected:?}, first write accepted after {first_write:?}", c.id(old), c.id(new));
    assert!(first_write < SECS(5), "the first write after the leader's death took {first_write:?}");
    acked.extend(["w-after-leader".to_string(), "w-after-follower".to_string()]);
    for i in [new, follower] {
        c.wait_nodes(i, &acked, SECS(5));
    }

    // The old leader restarts, rejoins as a follower of the new panel and catches up.
    c.restart(old);
    let new_id = c.id(new).to_string();
    c.wait_nodes(old, &acked, SECS(20));
    let target = c.view(new).expect("leader view").applied_index;
    let v = c.wait_applied(old, target, SECS(20));
    assert_eq!(v.leader.as_deref(), Some(new_id.as_str()), "{v:?}");
    assert!(!v.is_leader());
    assert_eq!(v.voters(), ["r1", "r2", "r3"], "{v:?}");
    // The panel sees it replicating again.
    let ok = wgcluster_tests::lab::wait_until(SECS(10), Duration::from_millis(50), || {
        c.view(new).is_some_and(|v| v.members.iter().any(|m| m.id == c.id(old) && m.role == "follower" && m.matched_index >= Some(target)))
    });
    assert!(ok, "the panel does not see {} caught up: {:?}", c.id(old), c.view(new));
    // And the rejoined router takes writes again (forwarded to the new panel).
    let more = write_everywhere_and_check(&c, "rejoined");
    acked.extend(more);
    let all: Vec<Vec<String>> = (0..3).map(|i| c.node_ids(i)).collect();
    assert!(all.windows(2).all(|w| w[0] == w[1]), "routers disagree: {all:?}");
    for id in &acked {
        assert!(all[0].contains(id), "acknowledged write {id} is missing: {:?}", all[0]);
    }
}

/// With `snapshot_logs 20`, a follower that was down for 120 writes can only catch up from a
/// snapshot: the leader compacted the log it missed.
#[test]
fn follower_catches_up_by_snapshot() {
    let mut c = Cluster::start(3, Opts::fast().snapshot_logs(20));
    let leader = c.wait_leader(SECS(10));
    let down = (0..3).find(|&i| i != leader).expect("a follower");
    let other = (0..3).find(|&i| i != leader && i != down).expect("another follower");
    c.post_ok(leader, "/api/nodes", &node("w-snap-first"));
    c.wait_nodes(down, &["w-snap-first".to_string()], SECS(10));
    let before = c.view(down).expect("view").applied_index;
    c.kill9(down);

    let ids: Vec<String> = (0..120).map(|k| format!("w-snap-{k:03}")).collect();
    for (k, id) in ids.iter().enumerate() {
        // Half through the panel, half forwarded by the other follower.
        let at = if k % 2 == 0 { leader } else { other };
        let (code, v, _) = c.post_retry(at, "/api/nodes", &node(id), SECS(5));
        assert_eq!(code, 200, "write {id} on {}: {v}", c.id(at));
    }
    let end = c.view(leader).expect("leader view").applied_index;
    assert!(end >= before + 120, "leader applied {end}, the follower stopped at {before}");

    c.restart(down);
    c.wait_nodes(down, &ids, SECS(30));
    let v = c.wait_applied(down, end, SECS(30));
    assert_eq!(v.voters(), ["r1", "r2", "r3"], "{v:?}");

    // Proof of the snapshot: stop the follower and read its store. A follower that received the
    // entries one by one would keep the last `keep_logs` (10) entries before its own snapshot;
    // one that installed the panel's snapshot purged its log up to the snapshot's last index.
    assert!(c.stop(down), "{} did not stop cleanly on SIGTERM", c.id(down));
    let (snapshot_index, first_log, last_log) = inspect_store(&c.routers[down].data_dir);
    eprintln!(
        "{}: stopped at {before}, leader at {end}; its store: snapshot at {snapshot_index:?}, log {first_log:?}..={last_log:?}",
        c.id(down)
    );
    let snapshot_index = snapshot_index.expect("the follower has no snapshot in its store");
    assert!(snapshot_index > before + 20, "snapshot at {snapshot_index} does not cover what was missed since {before}");
    if let Some(first) = first_log {
        assert_eq!(
            first,
            snapshot_index + 1,
            "the follower's log starts at {first}, not right after the snapshot at {snapshot_index}: \
             it built this snapshot itself from appended entries instead of installing the panel's"
        );
    }
    // The installed state survives a restart (snapshot + log replayed from disk).
    c.restart(down);
    c.wait_nodes(down, &ids, SECS(20));
    let (code, v) = c.get(down, "/api/nodes/w-snap-first");
    assert_eq!(code, 200, "{v}");
}

/// (snapshot last index, first log index, last log index) of a stopped router's store.
fn inspect_store(data_dir: &std::path::Path) -> (Option<u64>, Option<u64>, Option<u64>) {
    let snapshot = wgcluster_actors::raft::inspect_snapshot(data_dir).unwrap_or_else(|e| panic!("{}: {e}", data_dir.display()));
    let (first, last) = wgcluster_actors::raft::inspect_log(data_dir).unwrap_or_else(|e| panic!("{}: {e}", data_dir.display()));
    (snapshot, first, last)
}

/// The daemon's default timings (heartbeat 300 ms, election timeout 1500 ms) once: a new panel
/// after `kill -9`, and writes through the surviving follower.
#[test]
fn default_timings_fail_over() {
    let mut c = Cluster::start(3, Opts::defaults());
    let leader = c.wait_leader(SECS(10));
    write_everywhere_and_check(&c, "defaults");
    let t0 = Instant::now();
    c.kill9(leader);
    // Until a new panel is elected a write is refused at once with a clear 503, not left hanging.
    let survivor = (0..3).find(|&i| i != leader).expect("a survivor");
    let t = Instant::now();
    let (code, v) = c.post(survivor, "/api/nodes", &node("x-defaults-during"));
    eprintln!("write on {} right after the kill: {code} after {:?}: {}", c.id(survivor), t.elapsed(), message(&v));
    if code != 200 {
        assert_eq!(code, 503, "{v}");
        assert!(message(&v).contains("no quorum"), "{v}");
        assert!(t.elapsed() < SECS(2), "the refusal took {:?}", t.elapsed());
    }
    let new = c.wait_leader_other_than(leader, SECS(20));
    let follower = (0..3).find(|&i| i != leader && i != new).expect("a surviving follower");
    let (code, v, _) = c.post_retry(follower, "/api/nodes", &node("w-defaults-after"), SECS(10));
    assert_eq!(code, 200, "write through {}: {v}", c.id(follower));
    let took = t0.elapsed();
    eprintln!("default timings: kill -9 of {} -> write accepted through {} after {took:?}", c.id(leader), c.id(follower));
    assert!(took < SECS(10), "fail-over with the default timings took {took:?}");
    let ids = c.node_ids(follower);
    assert!(ids.contains(&"w-defaults-after".to_string()) && !ids.contains(&"x-defaults-during".to_string()), "{ids:?}");
}
