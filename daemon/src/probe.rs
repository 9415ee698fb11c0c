//! The health probe the panel uses: `GET /v1/health` on a router's cluster listener, over the
//! cluster's mutual TLS (the router must prove it is that node), bounded by a timeout, async.

use futures_util::future::BoxFuture;
use std::time::Duration;
use wgcluster_actors::health::HealthProbe;
use wgcluster_actors::migration::AppliedWatch;
use wgcluster_actors::model::Node;
use wgcluster_actors::tls::ClusterClient;
use wgcluster_actors::usage::collect::{IfaceReading, UsageSource};

pub struct TlsProbe {
    pub client: ClusterClient,
}

impl HealthProbe for TlsProbe {
    fn probe(&self, node: &Node, timeout: Duration) -> BoxFuture<'static, Result<Option<u64>, String>> {
        let (client, id) = (self.client.clone(), node.id.to_string());
        let Some(addr) = node.cluster_addr.clone() else {
            return Box::pin(async { Err("no cluster address".to_string()) });
        };
        Box::pin(async move {
            match client.request(&id, &addr, "GET", "/v1/health", Vec::new(), None, timeout).await {
                Ok((200, body)) => {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    Ok(v["data"]["wg"]["applied_version"].as_u64())
                }
                Ok((status, _)) => Err(format!("{addr} answered {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// The migration planner's drain watch (#16): `GET /v1/applied?at_least=V&wait_ms=W` on a
/// router's cluster listener (mutual TLS), which answers as soon as the router has applied
/// version V, or after W ms with what it has.
impl AppliedWatch for TlsProbe {
    fn wait_applied(&self, node: &Node, at_least: u64, wait: Duration) -> BoxFuture<'static, Result<Option<u64>, String>> {
        let (client, id) = (self.client.clone(), node.id.to_string());
        let Some(addr) = node.cluster_addr.clone() else {
            return Box::pin(async { Err("no cluster address".to_string()) });
        };
        let path = format!("/v1/applied?at_least={at_least}&wait_ms={}", wait.as_millis());
        // The answer may take `wait`; the connection and the TLS handshake get the usual 1.5 s.
        let timeout = wait + Duration::from_millis(1500);
        Box::pin(async move {
            match client.request(&id, &addr, "GET", &path, Vec::new(), None, timeout).await {
                Ok((200, body)) => {
                    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{addr}: not JSON: {e}"))?;
                    Ok(v["data"]["applied_version"].as_u64())
                }
                Ok((status, _)) => Err(format!("{addr} answered {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// The usage collector's source (#15): `GET /v1/usage` on a router's cluster listener, mutual TLS.
pub struct TlsUsage {
    pub client: ClusterClient,
    pub timeout: Duration,
}

impl UsageSource for TlsUsage {
    fn fetch(&self, node: &Node) -> BoxFuture<'static, Result<Vec<IfaceReading>, String>> {
        let (client, timeout, id) = (self.client.clone(), self.timeout, node.id.to_string());
        let Some(addr) = node.cluster_addr.clone() else {
            return Box::pin(async { Err("no cluster address".to_string()) });
        };
        Box::pin(async move {
            match client.request(&id, &addr, "GET", "/v1/usage", Vec::new(), None, timeout).await {
                Ok((200, body)) => {
                    let mut v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{addr}: not JSON: {e}"))?;
                    serde_json::from_value(v["data"].take()).map_err(|e| format!("{addr}: unexpected usage answer: {e}"))
                }
                Ok((status, _)) => Err(format!("{addr} answered {status}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
