//! End-to-end tests of cluster TLS on 127.0.0.1: a tokio-rustls listener built with
//! `server_config` (a tiny HTTP/1.1 handler that applies the daemon's route rule and echoes the
//! verified peer node id) against `ClusterClient` with the various client configs.

use super::client::{read_more, write_all, ClientOptions, ClusterClient, Request};
use super::config::{
    allow_all, client_config, cluster_route_allowed, join_client_config, peer_node_id, server_config, IsAllowed, JOIN_SERVER_NAME,
};
use super::pki::{ClusterCa, NodeKey};
use super::ClientError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const T: Duration = Duration::from_secs(5);

/// PEMs of one router.
struct Ident {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn ident(ca: &ClusterCa, node_id: &str, serial: u64) -> Ident {
    let key = NodeKey::generate().unwrap();
    let cert = ca.sign_node(node_id, &key.public_key(), serial).unwrap();
    Ident { ca_pem: ca.cert_pem().to_string(), cert_pem: cert.cert_pem, key_pem: key.key_pem().expose().to_string() }
}

fn client_for(id: &Ident) -> ClusterClient {
    ClusterClient::new(client_config(&id.ca_pem, &id.cert_pem, &id.key_pem).unwrap())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// keep-alive, as the daemon's server
    Normal,
    /// close every connection after one answer, without saying so (an idle close)
    CloseAfterAnswer,
}

struct Server {
    addr: String,
    accepts: Arc<AtomicUsize>,
    tls_errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(id: &Ident, is_allowed: IsAllowed, mode: Mode) -> Server {
    let config = server_config(&id.ca_pem, &id.cert_pem, &id.key_pem, is_allowed).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepts = Arc::new(AtomicUsize::new(0));
    let tls_errors = Arc::new(Mutex::new(Vec::new()));
    let (a, e) = (accepts.clone(), tls_errors.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let e = e.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => serve(tls, mode).await,
                    Err(err) => e.lock().unwrap().push(err.to_string()),
                }
            });
        }
    });
    Server { addr, accepts, tls_errors, task }
}

/// Serves requests on one connection: `/v1/health` (open), `/v1/whoami` (the peer's node id),
/// `/v1/echo` (the body), `/v1/chunked` (the body, chunked), `/v1/hang` (never answers).
async fn serve(mut tls: tokio_rustls::server::TlsStream<TcpStream>, mode: Mode) {
    let peer = peer_node_id(tls.get_ref().1.peer_certificates());
    let mut buf = Vec::new();
    loop {
        // head
        let (method, path, len, head_len) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut slots);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let len = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                        .unwrap_or(0);
                    break (req.method.unwrap_or("").to_string(), req.path.unwrap_or("").to_string(), len, n);
                }
                Ok(httparse::Status::Partial) => match read_more(&mut tls, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                Err(_) => return,
            }
        };
        while buf.len() < head_len + len {
            match read_more(&mut tls, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let body: Vec<u8> = buf[head_len..head_len + len].to_vec();
        buf.drain(..head_len + len);
        let route = path.split('?').next().unwrap_or("").to_string();

        let (status, answer, chunked) = if !cluster_route_allowed(&route, peer.as_deref()) {
            (403, b"no verified node identity".to_vec(), false)
        } else {
            match (method.as_str(), route.as_str()) {
                ("GET", "/v1/health") => (200, b"ok".to_vec(), false),
                ("GET", "/v1/whoami") => (200, peer.clone().unwrap_or_default().into_bytes(), false),
                ("POST", "/v1/echo") => (200, body, false),
                ("POST", "/v1/chunked") => (200, body, true),
                ("GET", "/v1/hang") => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                _ => (404, b"no such route".to_vec(), false),
            }
        };
        let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
        if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for part in answer.chunks(7) {
                out.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        } else {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", answer.len()).as_bytes());
            out.extend_from_slice(&answer);
        }
        if write_all(&mut tls, &out).await.is_err() || super::client::flush(&mut tls).await.is_err() {
            return;
        }
        if mode == Mode::CloseAfterAnswer {
            return; // dropped: TCP close without a word
        }
    }
}

async fn get(client: &ClusterClient, target: &str, addr: &str, path: &str) -> Result<(u16, Vec<u8>), ClientError> {
    client.request(target, addr, "GET", path, Vec::new(), None, T).await
}

#[tokio::test]
async fn member_client_is_identified_and_keep_alive_reuses_one_connection() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let client = client_for(&ident(&ca, "client_1.lan", 2));

    let (status, body) = get(&client, "server1", &server.addr, "/v1/whoami").await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"client_1.lan"[..]));
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let (status, body) =
        client.request("server1", &server.addr, "POST", "/v1/echo", payload.clone(), Some("application/octet-stream"), T).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, payload);
    let (status, body) =
        client.request("server1", &server.addr, "POST", "/v1/chunked", b"hello chunked world".to_vec(), None, T).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"hello chunked world"[..]));
    let (status, _) = get(&client, "server1", &server.addr, "/v1/nothing").await.unwrap();
    assert_eq!(status, 404);

    assert_eq!(server.accepts.load(Ordering::SeqCst), 1, "four requests, one TCP connection");
    assert_eq!(client.idle_count(), 1);

    // a clone shares the pool
    let clone = client.clone();
    get(&clone, "server1", &server.addr, "/v1/health").await.unwrap();
    assert_eq!(server.accepts.load(Ordering::SeqCst), 1);

    // `send` returns headers too
    let resp = client
        .send(
            "server1",
            &server.addr,
            Request { method: "GET", path: "/v1/health", headers: &[("X-Trace", "1")], content_type: None, body: Vec::new() },
            T,
        )
        .await
        .unwrap();
    assert_eq!(resp.header("Content-Length"), Some("2"));
}

#[tokio::test]
async fn a_dead_reused_connection_is_dialled_again() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::CloseAfterAnswer).await;
    let client = client_for(&ident(&ca, "client1", 2));
    for _ in 0..3 {
        let (status, body) = get(&client, "server1", &server.addr, "/v1/whoami").await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"client1"[..]));
    }
    assert_eq!(server.accepts.load(Ordering::SeqCst), 3);

    // without the idle probe the dead connection is found by the request itself, which is then
    // sent again on a fresh one
    let client = client_for(&ident(&ca, "client2", 3)).without_idle_probe();
    for _ in 0..3 {
        let payload = b"must arrive once".to_vec();
        let (status, body) = client.request("server1", &server.addr, "POST", "/v1/echo", payload.clone(), None, T).await.unwrap();
        assert_eq!((status, body), (200, payload));
    }
    assert_eq!(server.accepts.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn the_server_is_checked_as_the_target_node_id() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let client = client_for(&ident(&ca, "client1", 2));
    let err = get(&client, "server2", &server.addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn a_client_of_another_ca_is_refused() {
    let ca = ClusterCa::generate("test").unwrap();
    let other_ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let foreign = ident(&other_ca, "client1", 2);
    // client_config refuses a node certificate that is not from the CA it is given ...
    assert!(client_config(ca.cert_pem(), &foreign.cert_pem, &foreign.key_pem).is_err());
    // ... so build the impostor by hand: trusts our CA, presents the foreign certificate.
    let impostor = impostor_config(ca.cert_pem(), &foreign.cert_pem, &foreign.key_pem);
    let client = ClusterClient::new(impostor);
    let err = get(&client, "server1", &server.addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "the TLS refusal is Unreachable: {err}");
    // the server refused the handshake: no identity was ever handed to a route
    let errors = server.tls_errors.lock().unwrap().clone();
    // (BadSignature: both CAs are named "wgcluster CA test", so the chain is built and fails)
    assert!(errors.iter().any(|e| e.contains("invalid peer certificate")), "{errors:?}");
    // and had it not, the daemon's rule refuses a protected route without identity
    assert!(!cluster_route_allowed("/v1/raft/append", None));
}

/// A client config that trusts `ca_pem` and presents any certificate, without our checks.
fn impostor_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    Arc::new(config)
}

#[tokio::test]
async fn a_revoked_client_is_refused() {
    let ca = ClusterCa::generate("test").unwrap();
    let is_allowed: IsAllowed = Arc::new(|node, serial| !(node == "client1" && serial == 2));
    let server = start_server(&ident(&ca, "server1", 1), is_allowed, Mode::Normal).await;
    let revoked = client_for(&ident(&ca, "client1", 2));
    let err = get(&revoked, "server1", &server.addr, "/v1/whoami").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let renewed = client_for(&ident(&ca, "client1", 3));
    let (status, body) = get(&renewed, "server1", &server.addr, "/v1/whoami").await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"client1"[..]));
}

#[tokio::test]
async fn a_client_can_refuse_a_revoked_server() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let id = ident(&ca, "client1", 2);
    let refuse_server1: IsAllowed = Arc::new(|node, _| node != "server1");
    let config = super::config::client_config_checked(&id.ca_pem, &id.cert_pem, &id.key_pem, refuse_server1).unwrap();
    let err = get(&ClusterClient::new(config), "server1", &server.addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("Revoked"), "{err}");
}

#[tokio::test]
async fn a_client_without_certificate_has_no_identity() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    // the joining router's config: no client certificate
    let client = ClusterClient::new(join_client_config(&ca.fingerprint()).unwrap());
    let (status, body) = get(&client, JOIN_SERVER_NAME, &server.addr, "/v1/health").await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, _) = get(&client, JOIN_SERVER_NAME, &server.addr, "/v1/whoami").await.unwrap();
    assert_eq!(status, 403, "protected routes need a verified node id");
    let (status, _) =
        client.request(JOIN_SERVER_NAME, &server.addr, "POST", "/v1/join", b"{}".to_vec(), Some("application/json"), T).await.unwrap();
    assert_eq!(status, 404, "/v1/join is reachable (this test server has no such handler)");
}

#[tokio::test]
async fn join_client_pins_the_ca_fingerprint() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let right = ClusterClient::new(join_client_config(&ca.fingerprint()).unwrap());
    assert_eq!(get(&right, JOIN_SERVER_NAME, &server.addr, "/v1/health").await.unwrap().0, 200);
    // any name works: the joiner does not know the issuer's node id
    assert_eq!(get(&right, "whatever", &server.addr, "/v1/health").await.unwrap().0, 200);

    let wrong_fp = ClusterCa::generate("test").unwrap().fingerprint();
    let wrong = ClusterClient::new(join_client_config(&wrong_fp).unwrap());
    let err = get(&wrong, JOIN_SERVER_NAME, &server.addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // a server of another cluster that sends our CA certificate in its chain does not pass
    // either: its own certificate is not signed by that CA
    let other_ca = ClusterCa::generate("test").unwrap();
    let fake = ident(&other_ca, "server1", 1);
    let fake_server = start_fake_chain_server(&fake, ca.cert_pem()).await;
    let err = get(&right, JOIN_SERVER_NAME, &fake_server.0, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    fake_server.1.abort();
}

/// A TLS server whose chain is [its own cert, `extra_ca_pem`] but whose cert is from another CA.
async fn start_fake_chain_server(id: &Ident, extra_ca_pem: &str) -> (String, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let leaf = CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).unwrap();
    let extra = CertificateDer::from_pem_slice(extra_ca_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf, extra], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve(tls, Mode::Normal).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let client = client_for(&ident(&ca, "client1", 2));
    let started = Instant::now();
    let err = client.request("server1", &server.addr, "GET", "/v1/hang", Vec::new(), None, Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(!err.is_unreachable());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(client.idle_count(), 0, "a timed-out connection is not kept");
}

#[tokio::test]
async fn a_peer_that_never_speaks_tls_is_unreachable_after_the_connect_timeout() {
    let ca = ClusterCa::generate("test").unwrap();
    let id = ident(&ca, "client1", 2);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp); // accepted, never answered
        }
    });
    let options = ClientOptions { connect_timeout: Duration::from_millis(300), ..ClientOptions::default() };
    let client = ClusterClient::with_options(client_config(&id.ca_pem, &id.cert_pem, &id.key_pem).unwrap(), options);
    let started = Instant::now();
    let err = get(&client, "server1", &addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    holder.abort();
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let ca = ClusterCa::generate("test").unwrap();
    let client = client_for(&ident(&ca, "client1", 2));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = get(&client, "server1", &addr, "/v1/health").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("connect"), "{err}");
}

#[tokio::test]
async fn answers_larger_than_the_limit_are_refused() {
    let ca = ClusterCa::generate("test").unwrap();
    let server = start_server(&ident(&ca, "server1", 1), allow_all(), Mode::Normal).await;
    let id = ident(&ca, "client1", 2);
    let options = ClientOptions { max_response_bytes: 1000, ..ClientOptions::default() };
    let client = ClusterClient::with_options(client_config(&id.ca_pem, &id.cert_pem, &id.key_pem).unwrap(), options);
    for path in ["/v1/echo", "/v1/chunked"] {
        let err = client.request("server1", &server.addr, "POST", path, vec![7; 2000], None, T).await.unwrap_err();
        assert!(matches!(&err, ClientError::Failed { reason, .. } if reason.contains("larger than 1000")), "{err}");
    }
    let (status, body) = client.request("server1", &server.addr, "POST", "/v1/echo", vec![7; 1000], None, T).await.unwrap();
    assert_eq!((status, body.len()), (200, 1000));
}
