//! The health probe the panel uses: `GET /v1/health` on a router's `cluster_addr`, bounded by a
//! timeout, fully async (no blocking call on the runtime).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wgcluster_actors::assign::BoxFuture;
use wgcluster_actors::health::HealthProbe;
use wgcluster_actors::model::Node;

pub struct HttpProbe {
    pub timeout: Duration,
}

async fn get_health(addr: String, timeout: Duration) -> Result<(), String> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        s.write_all(b"GET /v1/health HTTP/1.0\r\nHost: wgcluster\r\n\r\n").await.map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(512);
        s.take(64 * 1024).read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let head = String::from_utf8_lossy(&buf[..buf.len().min(32)]).to_string();
        match head.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            Some(code) => Err(format!("{addr} answered {code}")),
            None => Err(format!("{addr} sent no HTTP answer")),
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("{addr}: no answer within {timeout:?}"))?
}

impl HealthProbe for HttpProbe {
    fn probe(&self, node: &Node) -> BoxFuture<Result<(), String>> {
        let timeout = self.timeout;
        match node.cluster_addr.clone() {
            Some(addr) => Box::pin(get_health(addr, timeout)),
            None => Box::pin(async { Err("no cluster address".to_string()) }),
        }
    }
}
