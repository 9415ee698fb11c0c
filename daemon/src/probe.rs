//! The health probe the panel uses: `GET /v1/health` on a router's cluster listener, over the
//! cluster's mutual TLS (the router must prove it is that node), bounded by a timeout, async.

use futures_util::future::BoxFuture;
use std::time::Duration;
use wgcluster_actors::health::HealthProbe;
use wgcluster_actors::model::Node;
use wgcluster_actors::tls::ClusterClient;
use wgcluster_actors::usage::collect::{IfaceReading, UsageSource};

pub struct TlsProbe {
    pub client: ClusterClient,
    pub timeout: Duration,
}

impl HealthProbe for TlsProbe {
    fn probe(&self, node: &Node) -> BoxFuture<'static, Result<Option<u64>, String>> {
        let (client, timeout, id) = (self.client.clone(), self.timeout, node.id.to_string());
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
