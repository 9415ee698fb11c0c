//! The edge of every listener: which routes each listener serves, how large a body may be, and
//! how long a client may take to send it. Decisions are pure (`route_class`, `served_on`,
//! `body_limit`, `declared_length_ok`) with table tests; the connection (`server/conn.rs`)
//! applies them before any handler, extractor or authentication runs, and `read_limited` is the
//! one body reader of both listeners.
//!
//! Listeners: the API (`api_listen`, plain TCP, admin token), the control socket (local root) and
//! the cluster listener (`cluster_listen`, mutual TLS). Router-to-router routes exist only on the
//! cluster listener; administration only on the API listener and the control socket. A route a
//! listener does not serve answers 404, as if it did not exist.

use super::error::ApiError;
use super::server::{Method, Payload};
use std::time::Duration;

/// Largest accepted request body on the API listener and control socket (a bulk of a few
/// thousand peers fits).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest body on the cluster listener (snapshots of a big state).
pub const CLUSTER_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How long an API client may take to send its whole body (a trickling client is cut off).
pub const BODY_DEADLINE: Duration = Duration::from_secs(15);
/// The same on the cluster listener (a 64 MiB snapshot over a slow uplink).
pub const CLUSTER_BODY_DEADLINE: Duration = Duration::from_secs(300);

/// Where a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Api,
    Control,
    Cluster,
}

/// Which listeners a route belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// Router-to-router: Raft RPCs, forwarded writes, membership, joining.
    ClusterOnly,
    /// The health probe and the agent's interface read (backups of a router being removed).
    Shared,
    /// Everything an administrator uses.
    AdminOnly,
    /// Local hooks of this router only (keepalived's notify, #16): the control socket.
    ControlOnly,
}

/// The class of `method path` (path without the query string).
pub fn route_class(method: &Method, path: &str) -> RouteClass {
    const CLUSTER: &[&str] = &[
        "/v1/join",
        "/v1/raft/append",
        "/v1/raft/vote",
        "/v1/raft/snapshot",
        "/v1/forward",
        "/v1/members",
        "/v1/members/remove",
        "/v1/usage",
        "/v1/applied",
    ];
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    if CLUSTER.contains(&path) || path.starts_with("/v1/raft/") {
        return RouteClass::ClusterOnly;
    }
    if path == "/v1/health" {
        return RouteClass::Shared;
    }
    if path.starts_with("/v1/vrrp/") {
        return RouteClass::ControlOnly;
    }
    // GET /v1/wg/{iface}/config
    let segments: Vec<&str> = path.split('/').collect();
    if *method == Method::Get && segments.len() == 5 && segments[1] == "v1" && segments[2] == "wg" && segments[4] == "config" {
        return RouteClass::Shared;
    }
    RouteClass::AdminOnly
}

/// Whether `listener` serves routes of `class`.
pub fn served_on(listener: Listener, class: RouteClass) -> bool {
    match (listener, class) {
        (_, RouteClass::Shared) => true,
        (Listener::Cluster, RouteClass::ClusterOnly) => true,
        (Listener::Cluster, RouteClass::AdminOnly) => false,
        (Listener::Api | Listener::Control, RouteClass::ClusterOnly) => false,
        (Listener::Api | Listener::Control, RouteClass::AdminOnly) => true,
        (Listener::Control, RouteClass::ControlOnly) => true,
        (Listener::Api | Listener::Cluster, RouteClass::ControlOnly) => false,
    }
}

/// The largest body a listener takes.
pub fn body_limit(listener: Listener) -> usize {
    match listener {
        Listener::Cluster => CLUSTER_BODY_LIMIT,
        Listener::Api | Listener::Control => BODY_LIMIT,
    }
}

/// Checks a declared `Content-Length` before any byte of the body is read: `Err` is the 413.
pub fn declared_length_ok(declared: Option<&str>, limit: usize) -> Result<(), ApiError> {
    let Some(v) = declared else { return Ok(()) };
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest("malformed Content-Length header".into()));
    }
    match v.parse::<u64>() {
        Ok(n) if n <= limit as u64 => Ok(()),
        // All digits: only a number too large for u64 fails to parse.
        _ => Err(ApiError::TooLarge(format!(
            "the request body ({} bytes declared) is larger than the limit of {limit} bytes",
            if v.len() > 20 { "over 2^64" } else { v }
        ))),
    }
}

/// Reads a whole body: at most `limit` bytes (413 past it), within `deadline` (408 after it).
pub async fn read_limited(payload: Payload, limit: usize, deadline: Duration) -> Result<Vec<u8>, ApiError> {
    payload.read(limit, deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use Listener::*;
    use RouteClass::*;

    #[test]
    fn routes_are_classified() {
        let cases: &[(&str, &str, RouteClass)] = &[
            ("POST", "/v1/join", ClusterOnly),
            ("POST", "/v1/raft/append", ClusterOnly),
            ("POST", "/v1/raft/vote", ClusterOnly),
            ("POST", "/v1/raft/snapshot", ClusterOnly),
            ("POST", "/v1/raft/anything", ClusterOnly),
            ("POST", "/v1/forward", ClusterOnly),
            ("POST", "/v1/forward/", ClusterOnly),
            ("POST", "/v1/members", ClusterOnly),
            ("POST", "/v1/members/remove", ClusterOnly),
            ("GET", "/v1/usage", ClusterOnly),
            ("GET", "/v1/applied", ClusterOnly),
            ("GET", "/v1/health", Shared),
            ("POST", "/v1/vrrp/wg0", ControlOnly),
            ("GET", "/v1/wg/wg0/config", Shared),
            ("POST", "/v1/wg/wg0/config", AdminOnly),
            ("POST", "/v1/wg/wg0/peers", AdminOnly),
            ("DELETE", "/v1/wg/wg0", AdminOnly),
            ("GET", "/v1/wg/wg0/config/x", AdminOnly),
            ("GET", "/api/health", AdminOnly),
            ("GET", "/api/configs", AdminOnly),
            ("POST", "/api/cluster/join-tokens", AdminOnly),
            ("GET", "/metrics", AdminOnly),
            ("GET", "/", AdminOnly),
        ];
        for (m, p, want) in cases {
            assert_eq!(route_class(&Method::parse(m), p), *want, "{m} {p}");
        }
    }

    #[test]
    fn listeners_serve_their_routes_only() {
        let cases = [
            (Api, ClusterOnly, false),
            (Control, ClusterOnly, false),
            (Cluster, ClusterOnly, true),
            (Api, AdminOnly, true),
            (Control, AdminOnly, true),
            (Cluster, AdminOnly, false),
            (Api, Shared, true),
            (Control, Shared, true),
            (Cluster, Shared, true),
            (Api, ControlOnly, false),
            (Control, ControlOnly, true),
            (Cluster, ControlOnly, false),
        ];
        for (l, c, want) in cases {
            assert_eq!(served_on(l, c), want, "{l:?} {c:?}");
        }
    }

    #[test]
    fn declared_lengths() {
        assert!(declared_length_ok(None, 10).is_ok());
        assert!(declared_length_ok(Some("10"), 10).is_ok());
        assert!(matches!(declared_length_ok(Some("11"), 10), Err(ApiError::TooLarge(_))));
        assert!(matches!(declared_length_ok(Some("99999999999999999999999"), 10), Err(ApiError::TooLarge(_))));
        assert!(matches!(declared_length_ok(Some("-1"), 10), Err(ApiError::BadRequest(_))));
        assert!(matches!(declared_length_ok(Some("?"), 10), Err(ApiError::BadRequest(_))));
        let msg = declared_length_ok(Some("1073741824"), BODY_LIMIT).unwrap_err().to_string();
        assert!(msg.contains("1073741824") && msg.contains(&BODY_LIMIT.to_string()), "{msg}");
    }
}
