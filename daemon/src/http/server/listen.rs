//! The accept loops: the API (TCP), the cluster listener (TLS, client certificates verified by
//! rustls; the identity is read from the session) and the control socket (Unix). Each connection
//! is a task on the current thread.
//!
//! Connection caps (bounded memory on a 128 MB router; an open TLS connection costs tens of KB):
//! each listener has its own budget of connections, so a flood on one cannot starve the others
//! (the control socket keeps working while the API is full). At the cap a listener stops
//! accepting: excess connections wait, queued in the kernel's listen backlog, until one closes
//! (or the client gives up); none is accepted and then dropped.
//!
//! Stopping (`Server::stop`, SIGTERM): the accept loops end at once, idle connections close,
//! a request in progress finishes and its connection then closes; after `grace` whatever is
//! left is abandoned.

use super::conn::{self, Limits};
use super::Services;
use crate::http::edge::Listener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};

/// Most open connections per listener.
pub const MAX_API_CONNECTIONS: usize = 128;
pub const MAX_CLUSTER_CONNECTIONS: usize = 128;
pub const MAX_CONTROL_CONNECTIONS: usize = 16;
/// How long a TLS handshake may take.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// The sockets a server accepts on (any may be absent).
#[derive(Default)]
pub struct Listeners {
    pub api: Option<std::net::TcpListener>,
    pub cluster: Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
    pub control: Option<std::os::unix::net::UnixListener>,
}

/// A running server.
pub struct Server {
    stop: watch::Sender<bool>,
    /// Each listener's connection budget (all permits back: no connection open).
    budgets: Vec<(Arc<Semaphore>, usize)>,
}

impl Server {
    /// Starts accepting on `listeners` (must run inside a `LocalSet`: the actix `System`).
    pub fn start(services: Rc<Services>, listeners: Listeners, limits: Limits) -> std::io::Result<Server> {
        let (stop, stopped) = watch::channel(false);
        let mut budgets = Vec::new();
        if let Some(l) = listeners.api {
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            let sem = Arc::new(Semaphore::new(MAX_API_CONNECTIONS));
            budgets.push((sem.clone(), MAX_API_CONNECTIONS));
            tokio::task::spawn_local(accept_tcp(l, None, sem, services.clone(), limits, stopped.clone()));
        }
        if let Some((l, tls)) = listeners.cluster {
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            let sem = Arc::new(Semaphore::new(MAX_CLUSTER_CONNECTIONS));
            budgets.push((sem.clone(), MAX_CLUSTER_CONNECTIONS));
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            tokio::task::spawn_local(accept_tcp(l, Some(acceptor), sem, services.clone(), limits, stopped.clone()));
        }
        if let Some(l) = listeners.control {
            l.set_nonblocking(true)?;
            let l = UnixListener::from_std(l)?;
            let sem = Arc::new(Semaphore::new(MAX_CONTROL_CONNECTIONS));
            budgets.push((sem.clone(), MAX_CONTROL_CONNECTIONS));
            tokio::task::spawn_local(accept_unix(l, sem, services, limits, stopped));
        }
        Ok(Server { stop, budgets })
    }

    /// Stops accepting, lets requests in progress finish (at most `grace`), closes the rest.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let drained = async {
            for (sem, n) in &self.budgets {
                let _ = sem.acquire_many(*n as u32).await;
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            log::warn!("HTTP: requests still in progress after {} s; closing them", grace.as_secs());
        }
    }
}

async fn accept_tcp(
    l: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    sem: Arc<Semaphore>,
    services: Rc<Services>,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        // At the cap: wait for a connection to close before accepting the next.
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let (stream, _) = tokio::select! {
            a = l.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("HTTP: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let _ = stream.set_nodelay(true);
        let (services, stopped) = (services.clone(), stopped.clone());
        match &tls {
            None => {
                tokio::task::spawn_local(async move {
                    conn::serve(Box::new(stream), Listener::Api, None, services, limits, stopped).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::task::spawn_local(async move {
                    let tls = match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            log::debug!("cluster listener: TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => return,
                    };
                    let peer = wgcluster_actors::tls::peer_identity(tls.get_ref().1.peer_certificates());
                    conn::serve(Box::new(tls), Listener::Cluster, peer, services, limits, stopped).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn accept_unix(l: UnixListener, sem: Arc<Semaphore>, services: Rc<Services>, limits: Limits, mut stopped: watch::Receiver<bool>) {
    loop {
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let stream = tokio::select! {
            a = l.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    log::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let (services, stopped) = (services.clone(), stopped.clone());
        tokio::task::spawn_local(async move {
            conn::serve(Box::new(stream), Listener::Control, None, services, limits, stopped).await;
            drop(permit);
        });
    }
}
