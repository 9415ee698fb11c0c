//! In-process API tests: the real application (`startup::app`: edge guard, routes, auth) over a
//! real one-router cluster (file store, Raft, `State::apply`, the actors) in a temp data dir,
//! driven through `actix_web::test` — no sockets, no processes, seconds on any laptop. The same
//! bad-input table as the real-daemon suite (`wgcluster_tests::bad_input`) runs here, so
//! `cargo test -p wgclusterd` covers the API's refusals.
//!
//! The router is registered as a full router (it can carry configs) but runs no WireGuard data
//! plane here: what is tested is the API and the replicated state, not the device.

use crate::config::DaemonConfig;
use crate::startup::{app, open_cluster, start_actors};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{call_service, init_service, read_body, TestRequest};
use serde_json::Value;
use std::time::Instant;
use wgcluster_tests::bad_input::{Api, Body};
use wgcluster_tests::daemon::TempDir;

fn config(dir: &std::path::Path) -> DaemonConfig {
    let text = format!(
        "config daemon 'main'\n\toption node_id 'node1'\n\toption data_dir '{}'\n\toption endpoint '192.0.2.1'\n\
         \toption control_socket '{}'\n\toption uapi_dir '{}'\n",
        dir.join("data").display(),
        dir.join("ctl.sock").display(),
        dir.join("uapi").display()
    );
    let path = dir.join("wgcluster");
    std::fs::write(&path, &text).expect("config file");
    crate::config::parse(&path, &text).expect("test config")
}

/// The application over a fresh one-router cluster, and the admin token.
pub async fn start(
    tag: &str,
) -> (
    impl Service<actix_http::Request, Response = ServiceResponse<impl actix_web::body::MessageBody>, Error = actix_web::Error>,
    String,
    impl Drop,
) {
    let dir = TempDir::new(&format!("inproc-{tag}"));
    let cfg = config(&dir.path);
    let token_file = crate::init::init(&cfg).expect("init");
    let token = std::fs::read_to_string(token_file).expect("token").trim().to_string();
    // A full router in the replicated state (it can carry configs), with no data plane here.
    let opened = open_cluster(&cfg, false).await.expect("open the cluster");
    let started = start_actors(&cfg, opened, true, Instant::now()).expect("start the actors");
    let svc = init_service(app(started.state, started.dns)).await;
    (svc, token, dir)
}

/// `wgcluster_tests::bad_input::Api` over the in-process service.
pub struct InProcess<'a, S> {
    pub svc: &'a S,
    pub token: String,
}

impl<S, B> Api for InProcess<'_, S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    async fn call(&mut self, method: &str, path: &str, body: &Body) -> (u16, Value) {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let req = TestRequest::default().method(method).uri(path).insert_header(("Authorization", format!("Bearer {}", self.token)));
        let req = match body {
            Body::None => req,
            Body::Json(v) => req.insert_header(("Content-Type", "application/json")).set_payload(v.to_string()),
            // In process there is no HTTP framing: a chunked body is just its bytes.
            Body::Bytes(b) | Body::Chunked(b) => req.insert_header(("Content-Type", "application/json")).set_payload(b.clone()),
        };
        let resp = call_service(self.svc, req.to_request()).await;
        let status = resp.status().as_u16();
        let bytes = read_body(resp).await;
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("HTTP {status}: not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
        (status, v)
    }
}

#[actix_web::test]
async fn every_bad_input_is_refused_and_changes_nothing_in_process() {
    let (svc, token, _dir) = start("badinput").await;
    let mut api = InProcess { svc: &svc, token };
    let failures = wgcluster_tests::bad_input::run(&mut api).await;
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[actix_web::test]
async fn admin_routes_need_the_token_in_process() {
    let (svc, token, _dir) = start("auth").await;
    for (method, path) in [("GET", "/api/configs"), ("POST", "/api/nodes"), ("GET", "/api/audit-logs"), ("PUT", "/api/settings/dns")] {
        let m = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = call_service(&svc, TestRequest::default().method(m.clone()).uri(path).to_request()).await;
        assert_eq!(resp.status().as_u16(), 401, "{method} {path} without a token");
        let resp = call_service(
            &svc,
            TestRequest::default().method(m).uri(path).insert_header(("Authorization", "Bearer wgc_not_the_token")).to_request(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 401, "{method} {path} with a wrong token");
    }
    // The token works, and cluster routes do not exist on this (API) listener.
    let mut api = InProcess { svc: &svc, token };
    assert_eq!(api.call("GET", "/api/configs", &Body::None).await.0, 200);
    assert_eq!(api.call("POST", "/v1/forward", &Body::Bytes(vec![1, 2, 3])).await.0, 404);
}
