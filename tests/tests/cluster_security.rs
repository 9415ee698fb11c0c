//! Who may talk to the cluster port: a certificate from another CA is refused at the handshake
//! (even when it names a real member), a caller without a certificate gets 401 on member routes,
//! join tokens work once and expire, and a removed router's certificate is refused by the others.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-cluster cargo test -p wgcluster-tests --test cluster_security`

use serde_json::json;
use std::time::{Duration, Instant};
use wgcluster_actors::model::NodeId;
use wgcluster_actors::raft::encode_forward;
use wgcluster_actors::state::{Command, NodeSpec, Request};
use wgcluster_actors::tls::pki::{ClusterCa, JoinToken, NodeKey};
use wgcluster_actors::tls::{join_client_config, ClientError, ClusterClient, JOIN_SERVER_NAME};
use wgcluster_tests::cluster::{message, Cluster, Opts};
use wgcluster_tests::tls_client::{client, own_identity};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// `POST path` with an empty body to `target` at `addr`, on a fresh connection.
fn call(client: &ClusterClient, target: &str, addr: &str, path: &str) -> Result<(u16, String), ClientError> {
    call_on(&runtime(), client, target, addr, path, Vec::new())
}

/// `POST path` with `body` on `rt`: a client keeps its idle connection alive between calls on
/// the same runtime (connections made on another runtime are dead).
fn call_on(
    rt: &tokio::runtime::Runtime,
    client: &ClusterClient,
    target: &str,
    addr: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, String), ClientError> {
    let ct = if body.is_empty() { "application/octet-stream" } else { "application/json" };
    rt.block_on(client.request(target, addr, "POST", path, body, Some(ct), SECS(5)))
        .map(|(code, body)| (code, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn foreign_ca_no_certificate_and_join_tokens() {
    let mut c = Cluster::start(2, Opts::fast());
    let r1 = c.routers[0].cluster_listen.to_string();

    // Control: r2's real certificate passes the handshake and reaches the Raft route (an empty
    // body is a bad request, not a refusal).
    let (cert, key) = own_identity(&c, 1);
    let res = call(&client(Some((&cert, &key))), "r1", &r1, "/v1/raft/vote");
    assert!(matches!(res, Ok((400, _))), "a member's certificate should reach /v1/raft/vote: {res:?}");

    // A certificate for "r2" signed by another CA: refused during the TLS handshake.
    let other = ClusterCa::generate("other").expect("CA");
    let k = NodeKey::generate().expect("key");
    let forged = other.sign_node("r2", &k.public_key(), 2).expect("cert");
    let forged_client = client(Some((&forged.cert_pem, k.key_pem().expose())));
    for path in ["/v1/raft/vote", "/v1/raft/append", "/v1/forward", "/v1/members"] {
        let res = call(&forged_client, "r1", &r1, path);
        eprintln!("foreign CA, {path}: {res:?}");
        match &res {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("alert") || text.contains("TLS") || text.contains("closed") || text.contains("reset"),
                    "{path}: refused, but not by TLS? {text}"
                );
            }
            Ok(r) => panic!("{path}: a certificate from another CA was answered: {r:?}"),
        }
    }
    // No certificate at all: the TLS handshake is allowed (joiners have none) but member routes
    // answer 401.
    let anonymous = client(None);
    for path in ["/v1/raft/vote", "/v1/raft/append", "/v1/raft/snapshot", "/v1/forward", "/v1/members", "/v1/members/remove"] {
        let res = call(&anonymous, "r1", &r1, path);
        assert!(matches!(res, Ok((401, _))), "{path} without a certificate: {res:?}");
    }

    // A join token works once.
    let token = c.join_token(0, None);
    let a = c.add_router();
    let (ok, out) = c.join(a, &token, &r1);
    assert!(ok, "first use of a token: {out}");
    let b = c.add_router();
    let (ok, out) = c.join(b, &token, &r1);
    assert!(!ok, "a reused join token was accepted: {out}");
    assert!(out.contains("unknown or was already used"), "reused token: {out}");
    assert!(!c.routers[b].data_dir.join("tls/node.crt").exists(), "a refused join left a certificate behind");
    // The router admitted with the token becomes a member.
    c.start_router(a);
    let ra = c.id(a).to_string();
    let joined = wgcluster_tests::lab::wait_until(SECS(30), Duration::from_millis(50), || {
        c.view(0).is_some_and(|v| v.members.iter().any(|m| m.id == ra && m.voter))
    });
    assert!(joined, "{ra} did not become a voter: {:?}", c.view(0));

    // The server itself refuses a reused token too (not just the CLI).
    let fp = JoinToken::parse(&token).expect("token").ca_fingerprint;
    let join_body = |token: &str| {
        json!({ "token": token, "node_id": "r9", "cluster_addr": "127.0.0.1:9",
                "public_key_pem": NodeKey::generate().expect("key").public_key().to_pem() })
        .to_string()
        .into_bytes()
    };
    let joiner = ClusterClient::new(join_client_config(&fp).expect("join config"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let post_join = |token: &str| {
        rt.block_on(joiner.request(JOIN_SERVER_NAME, &r1, "POST", "/v1/join", join_body(token), Some("application/json"), SECS(10)))
            .map(|(code, body)| (code, serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default()))
            .expect("an answer from /v1/join")
    };
    let (code, v) = post_join(&token);
    assert_eq!(code, 401, "reused token on /v1/join: {v}");
    assert!(message(&v).contains("already used"), "{v}");

    // An expired token (ttl 1 s) is refused by the CLI and by the server.
    let data = c.join_token_data(0, Some(1));
    let short = data["token"].as_str().expect("token").to_string();
    let expires_at = data["expires_at"].as_u64().expect("expires_at");
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    assert!(expires_at <= now_ms() + 1500, "ttl_s 1 gave expires_at {expires_at}, now {}", now_ms());
    let deadline = Instant::now() + SECS(3);
    while now_ms() <= expires_at + 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, out) = c.join(b, &short, &r1);
    assert!(!ok, "an expired join token was accepted: {out}");
    assert!(out.contains("expired"), "expired token: {out}");
    assert!(!c.routers[b].data_dir.join("tls/node.crt").exists());
    let (code, v) = post_join(&short);
    assert_eq!(code, 401, "expired token on /v1/join: {v}");
    assert!(message(&v).contains("expired"), "{v}");
}

#[test]
fn removed_member_is_refused_by_the_others() {
    let mut c = Cluster::start(3, Opts::fast());
    let leader = c.wait_leader(SECS(10));
    let victim = (0..3).rev().find(|&i| i != leader).expect("a follower");
    let other = (0..3).find(|&i| i != leader && i != victim).expect("another follower");
    let vid = c.id(victim).to_string();
    let (cert, key) = own_identity(&c, victim);
    let as_victim = client(Some((&cert, &key)));
    let addr = |i: usize| c.routers[i].cluster_listen.to_string();

    // Control: before its removal the victim's certificate is accepted everywhere. The calls on
    // `rt` leave a kept-alive connection to the panel open across the removal.
    let rt = runtime();
    for i in [leader, other] {
        let res = call_on(&rt, &as_victim, c.id(i), &addr(i), "/v1/raft/vote", Vec::new());
        assert!(matches!(res, Ok((400, _))), "before removal, {vid} -> {}: {res:?}", c.id(i));
    }
    // The victim's daemon also gets a warm connection to the panel (a forwarded write).
    c.post_ok(victim, "/api/nodes", &json!({ "id": "w-victim-before" }));

    // Removed through the other follower (forwarded to the panel).
    let (code, v) = c.delete(other, &format!("/api/cluster/members/{vid}"));
    assert_eq!(code, 200, "DELETE /api/cluster/members/{vid} on {}: {v}", c.id(other));
    for i in [leader, other] {
        let v = c.view(i).expect("view");
        assert!(v.members.iter().all(|m| m.id != vid), "{} still lists {vid}: {v:?}", c.id(i));
    }

    // A connection opened before the removal does not keep the victim in: every request on the
    // cluster port is checked against the replicated revocation list again.
    let res = call_on(&rt, &as_victim, c.id(leader), &addr(leader), "/v1/raft/vote", Vec::new());
    assert!(matches!(res, Ok((401, _))), "{vid} on a connection kept alive across its removal: {res:?}");
    drop(rt);

    // Its certificate is now refused at the handshake by both (each new connection asks the
    // replicated revocation list; the follower applies it within a heartbeat or two).
    for i in [leader, other] {
        let mut last = None;
        let gone = wgcluster_tests::lab::wait_until(SECS(10), Duration::from_millis(100), || {
            let res = call(&as_victim, c.id(i), &addr(i), "/v1/raft/vote");
            let r = res.is_err();
            last = Some(res);
            r
        });
        assert!(gone, "{} still accepts the removed {vid}'s certificate: {last:?}", c.id(i));
        eprintln!("{vid} -> {} after removal: {last:?}", c.id(i));
    }

    // The removed router's own writes fail (it cannot reach a panel any more), never succeed.
    for k in 0..3 {
        let (code, v) = c.post(victim, "/api/nodes", &json!({ "id": format!("w-removed-{k}") }));
        eprintln!("write on removed {vid}: {code} {}", message(&v));
        assert_eq!(code, 503, "a write on the removed {vid}: {v}");
    }
    // The other two still make a quorum and take writes; the removed router does not get them.
    c.post_ok(leader, "/api/nodes", &json!({ "id": "w-after-removal-1" }));
    c.post_ok(other, "/api/nodes", &json!({ "id": "w-after-removal-2" }));
    for i in [leader, other] {
        let ids = c.node_ids(i);
        assert!(ids.iter().all(|id| !id.starts_with("w-removed-")), "{}: {ids:?}", c.id(i));
    }
    std::thread::sleep(Duration::from_millis(500));
    let ids = c.node_ids(victim);
    assert!(!ids.iter().any(|id| id.starts_with("w-after-removal")), "the removed {vid} still receives the log: {ids:?}");
}

/// The HTTP API on the cluster port takes a member router's certificate as the user
/// `router:<id>` (no token). A removed router must lose that as well, also on a connection it
/// opened before its removal.
///
/// A removed router's kept-alive connection must not keep working: the revocation check runs per
/// request (`http::auth::verified_member`), not only at the TLS handshake. Shown on the route a
/// member certificate can write through: `/v1/forward`.
#[test]
fn removed_member_cannot_forward_on_a_kept_alive_connection() {
    let mut c = Cluster::start(3, Opts::fast());
    let leader = c.wait_leader(SECS(10));
    let victim = (0..3).rev().find(|&i| i != leader).expect("a follower");
    let other = (0..3).find(|&i| i != leader && i != victim).expect("another follower");
    let vid = c.id(victim).to_string();
    let (cert, key) = own_identity(&c, victim);
    let as_victim = client(Some((&cert, &key)));
    let lid = c.id(leader).to_string();
    let laddr = c.routers[leader].cluster_listen.to_string();
    let rt = runtime();
    let write = |id: &str| {
        let node = NodeSpec { id: NodeId::parse("id", id).expect("id"), name: None, endpoint: None, cluster_addr: None, witness: false };
        let req = Request { at: 1, user: "admin".into(), cmd: Command::CreateNode { node, weight: 1 }, idempotency: None };
        call_on(&rt, &as_victim, &lid, &laddr, "/v1/forward", encode_forward(&req).expect("encode"))
    };
    let res = write("w-member-fwd");
    assert!(matches!(res, Ok((200, _))), "a member's forwarded write: {res:?}");
    wgcluster_tests::daemon::wait_for("the forwarded node on the panel", SECS(10), || {
        c.node_ids(leader).iter().any(|id| id == "w-member-fwd").then_some(())
    });

    let (code, v) = c.delete(other, &format!("/api/cluster/members/{vid}"));
    assert_eq!(code, 200, "{v}");
    let res = write("w-ghost");
    eprintln!("removed {vid}, forwarded write on a kept-alive connection: {res:?}");
    assert!(c.node_ids(leader).iter().all(|id| id != "w-ghost"), "the removed {vid} still wrote through /v1/forward: {res:?}");
    assert!(matches!(res, Ok((401, _)) | Err(_)), "{res:?}");
}
