//! Every bad input the API must refuse, in one table (`wgcluster_tests::bad_input`): for each
//! request the right status code, `status: false`, a message naming the bad field or the missing
//! entity, and the whole visible state (configs, nodes, peers, config nodes, the endpoint group,
//! backups and the count of the admin's audit entries) exactly as it was before. The daemon's
//! in-process tests run the same table without sockets.
//!
//! Requests go out raw (`RawRequest`), so paths reach the daemon verbatim: `..`, `%2F` and
//! friends are not normalised away by a client library.

use serde_json::Value;
use wgcluster_tests::bad_input::{case, Api, Body};
use wgcluster_tests::daemon::{assert_envelope, Daemon, Options, RawRequest};

fn send(d: &Daemon, method: &str, path: &str, body: &Body) -> (u16, Value) {
    let r = match body {
        Body::None => d.raw(&RawRequest::new(method, path)),
        Body::Json(v) => d.raw(&RawRequest::new(method, path).json(v)),
        Body::Bytes(b) => d.raw(&RawRequest::new(method, path).header("Content-Type", "application/json").body(b.clone())),
        Body::Chunked(b) => {
            let mut body = Vec::new();
            for chunk in b.chunks(64 * 1024) {
                body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                body.extend_from_slice(chunk);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n\r\n");
            d.raw(
                &RawRequest::new(method, path).header("Content-Type", "application/json").header("Transfer-Encoding", "chunked").body(body),
            )
        }
    };
    let v = r.json();
    assert_envelope(&format!("{method} {path}"), r.status, &v);
    (r.status, v)
}

/// The real daemon over raw TCP.
struct Live<'a>(&'a Daemon);

impl Api for Live<'_> {
    async fn call(&mut self, method: &str, path: &str, body: &Body) -> (u16, Value) {
        send(self.0, method, path, body)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
}

#[test]
fn every_bad_input_is_refused_and_changes_nothing() {
    let d = Daemon::start(Options::default().tag("badinput"));
    let failures = block_on(wgcluster_tests::bad_input::run(&mut Live(&d)));
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// A router that is a member of the cluster (here: the panel itself) is not a pre-registered
/// node that `DELETE /api/nodes/{id}` may drop: it would vanish from `/api/nodes` while it
/// still leads the cluster, and could not be assigned to any config until it restarts.
#[test]
fn deleting_a_cluster_member_is_refused() {
    let d = Daemon::start(Options::default().tag("delmember"));
    let before = snapshot_nodes(&d);
    let c = case("DELETE", "/api/nodes/node1", Body::None, 409, &["node1"]);
    let (code, v) = send(&d, c.method, &c.path, &c.body);
    assert_eq!(code, 409, "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains("node1"), "{v}");
    assert_eq!(before, snapshot_nodes(&d));
    let cluster = d.ok("GET", "/api/cluster", None);
    assert_eq!(cluster["leader"], "node1");
}

fn snapshot_nodes(d: &Daemon) -> Value {
    d.ok("GET", "/api/nodes", None)
}
