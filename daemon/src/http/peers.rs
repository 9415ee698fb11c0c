//! Peers of a config: bulk or single creation (one command, all or nothing), list, show, patch,
//! delete, and the client config download (wg-quick text or an SVG QR code).

use super::audit::parse_num;
use super::auth::User;
use super::body::{json, Body};
use super::configs::config_name;
use super::error::{ok, ApiError};
use super::server::{HttpRequest, Path, Payload, Query, Response};
use super::{read_body, views, App};
use serde_json::{json as j, Value};
use std::ops::Bound;
use wgcluster_actors::model::*;
use wgcluster_actors::state::peer_query::{PeerFilter, MAX_LIMIT};
use wgcluster_actors::state::{render, Command, NewPeer, Outcome, PeerPatch, State};

/// Largest bulk creation in one request.
const MAX_BULK: usize = 5000;

fn peer_id(s: &str) -> Result<PeerId, ApiError> {
    Ok(PeerId::parse("peer_id", s)?)
}

/// A peer name: the one text rule of `model::check_name` (every entry point uses it).
fn peer_name(b: &Body) -> Result<String, ApiError> {
    Ok(check_name(&b.name("name"), &b.req_str("name")?)?)
}

pub(crate) fn new_peer(b: &Body) -> Result<NewPeer, ApiError> {
    b.only(&[
        "name",
        "public_key",
        "preshared_key",
        "node_id",
        "allowed_ips",
        "keepalive",
        "enabled",
        "data_limit_bytes",
        "rx_limit_bytes",
        "tx_limit_bytes",
        "expires_at",
    ])?;
    let name = peer_name(b)?;
    let (public_key, private_key) = match b.opt_str("public_key")? {
        Some(k) => (WgKey::parse(&b.name("public_key"), &k)?, None),
        None => {
            let (private, public) = generate_keypair();
            (public, Some(private))
        }
    };
    let preshared_key = match b.opt_str("preshared_key")?.as_deref() {
        None => Some(random_key()),
        Some("") | Some("none") => None,
        Some(k) => Some(WgKey::parse(&b.name("preshared_key"), k)?),
    };
    Ok(NewPeer {
        id: PeerId::random(),
        name,
        public_key,
        private_key,
        preshared_key,
        node_id: b.opt_str("node_id")?.map(|n| NodeId::parse(&b.name("node_id"), &n)).transpose()?,
        allowed_ips: b.opt_cidrs("allowed_ips")?,
        keepalive: match b.opt_uint("keepalive", 0, 65535)? {
            Some(0) => Some(0),
            other => other.map(|k| k as u16),
        },
        enabled: b.opt_bool("enabled")?.unwrap_or(true),
        limits: PeerLimits {
            data_limit_bytes: super::usage::byte_limit(b, "data_limit_bytes")?.flatten(),
            expires_at: super::usage::expires_at(b)?.flatten(),
            rx_limit_bytes: super::usage::byte_limit(b, "rx_limit_bytes")?.flatten(),
            tx_limit_bytes: super::usage::byte_limit(b, "tx_limit_bytes")?.flatten(),
        },
    })
}

/// The list query: filters, and a page when `limit` is given.
fn list_query(req: &HttpRequest) -> Result<(PeerFilter, usize, Option<usize>), ApiError> {
    let q = Query::from_query(req.query_string()).map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    let (mut f, mut offset, mut limit) = (PeerFilter::default(), 0, None);
    for (k, v) in q.into_inner() {
        match k.as_str() {
            "limit" => limit = Some(parse_num("limit", &v, 1, MAX_LIMIT)?),
            "offset" => offset = parse_num("offset", &v, 0, u32::MAX as usize)?,
            "node_id" => f.node_id = Some(NodeId::parse("node_id", &v)?),
            "enabled" => {
                f.enabled = Some(match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::BadRequest(format!("enabled: must be true or false, got {}", quote_prefix(&v)))),
                })
            }
            // A name prefix: the name rule, so nothing a name could not hold.
            "q" => f.name_prefix = Some(if v.is_empty() { v } else { check_text("q", &v, NAME_MAX)? }),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "{}: unknown query parameter (known: limit, offset, node_id, enabled, q)",
                    quote_prefix(other)
                )))
            }
        }
    }
    if limit.is_none() && offset > 0 {
        return Err(ApiError::BadRequest("offset: needs limit (a page is limit peers from offset)".into()));
    }
    Ok((f, offset, limit))
}

/// `GET …/peers`: without `limit` the whole (filtered) list, streamed; with it one page,
/// `{"items", "total", "limit", "offset"}`. Ordered by peer id, stable between pages.
///
/// The unpaged list is read from the state a chunk at a time, by id, as the client takes it
/// (20,000 peers are never cloned at once): a peer that exists for the whole response appears
/// exactly once; one created or deleted meanwhile may or may not appear.
pub async fn list(app: App, _u: User, path: Path<String>, req: HttpRequest) -> Result<Response, ApiError> {
    let c = config_name(&path)?;
    let (filter, offset, limit) = list_query(&req)?;
    if !app.cluster.read(|s| s.configs.contains_key(&c)) {
        return Err(ApiError::NotFound(format!("config '{c}' not found")));
    }
    let now = super::now_ms();
    let Some(limit) = limit else {
        let cluster = app.cluster.clone();
        let mut last: Option<PeerId> = None;
        // Each chunk is written as JSON under one state read, straight into the buffer that is
        // sent (no clone of a peer, no buffer per peer). Peers and their usage are both in id
        // order: walked side by side, not looked up.
        let fill = move |buf: &mut Vec<u8>, mut first: bool| {
            let from = match last.take() {
                Some(id) => (Bound::Excluded(id), Bound::Unbounded),
                None => (Bound::Unbounded, Bound::Unbounded),
            };
            cluster.read(|s| {
                let mut usage = s.usage.peers.range(from.clone()).peekable();
                let mine = s.peers.range(from).map(|(_, p)| p).filter(|p| p.config == c && filter.matches(p));
                let mut n = 0;
                for p in mine.take(views::ITEMS_PER_CHUNK) {
                    while usage.next_if(|(id, _)| **id < p.id).is_some() {}
                    let u = usage.next_if(|(id, _)| **id == p.id).map(|(_, u)| u);
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    views::write_peer_with(s, now, p, u, buf);
                    last = Some(p.id.clone());
                    n += 1;
                }
                n == views::ITEMS_PER_CHUNK
            })
        };
        return Ok(views::ok_stream_filled("Peers retrieved successfully", fill));
    };
    // The page is written as JSON under the read (no clone of the peers): the bytes `ok` would
    // write for {"items", "limit", "offset", "total"} (keys in serde_json's sorted order).
    let body = app.cluster.read(|s| {
        let (peers, total) = s.peer_page(&c, &filter, offset, limit);
        let mut buf = Vec::with_capacity(512 * peers.len() + 128);
        buf.extend_from_slice(b"{\"data\":{\"items\":[");
        for (i, p) in peers.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            views::write_peer(s, now, p, &mut buf);
        }
        buf.extend_from_slice(format!("],\"limit\":{limit},\"offset\":{offset},\"total\":{total}}},").as_bytes());
        buf.extend_from_slice(b"\"message\":\"Peers retrieved successfully\",\"status\":true}");
        buf
    });
    Ok(Response::new(200).content_type("application/json").body(body))
}

pub async fn create(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let v = json(&read_body(payload).await?)?;
    let (bulk, peers) = match v {
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BULK {
                return Err(ApiError::BadRequest(format!("peers: give 1 to {MAX_BULK} peers, got {}", items.len())));
            }
            let peers = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| new_peer(&Body::from_value(item, &format!("[{i}]."))?))
                .collect::<Result<Vec<_>, _>>()?;
            (true, peers)
        }
        other => (false, vec![new_peer(&Body::from_value(other, "")?)?]),
    };
    let out = app.submit_as(&u, Command::CreatePeers { config, peers }).await?;
    let Outcome::PeersCreated { ids } = out else { return Err(ApiError::Internal(format!("unexpected outcome {out:?}"))) };
    let peers: Vec<Peer> = app.cluster.read(|s| ids.iter().filter_map(|id| s.peers.get(id)).cloned().collect());
    if bulk {
        Ok(views::ok_list(&format!("{} peers created successfully", peers.len()), peers, views::new_peer))
    } else {
        Ok(ok("Peer created successfully", peers.first().map(views::new_peer).unwrap_or_default()))
    }
}

fn find<'a>(s: &'a State, c: &ConfigName, id: &PeerId) -> Result<&'a Peer, ApiError> {
    if !s.configs.contains_key(c) {
        return Err(ApiError::NotFound(format!("config '{c}' not found")));
    }
    s.peers.get(id).filter(|p| &p.config == c).ok_or_else(|| ApiError::NotFound(format!("peer '{id}' not found in config '{c}'")))
}

pub async fn get(app: App, _u: User, path: Path<(String, String)>) -> Result<Response, ApiError> {
    let (c, p) = path.into_inner();
    let (c, id) = (config_name(&c)?, peer_id(&p)?);
    let v = app.cluster.read(|s| find(s, &c, &id).map(|p| views::peer(s, p)))?;
    Ok(ok("Peer retrieved successfully", v))
}

pub async fn patch(app: App, u: User, path: Path<(String, String)>, payload: Payload) -> Result<Response, ApiError> {
    let (c, p) = path.into_inner();
    let (config, id) = (config_name(&c)?, peer_id(&p)?);
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&[
        "name",
        "allowed_ips",
        "keepalive",
        "enabled",
        "node_id",
        "data_limit_bytes",
        "rx_limit_bytes",
        "tx_limit_bytes",
        "expires_at",
    ])?;
    let patch = PeerPatch {
        name: if b.has("name") { Some(peer_name(&b)?) } else { None },
        allowed_ips: b.opt_cidrs("allowed_ips")?,
        keepalive: b.opt_uint("keepalive", 0, 65535)?.map(|k| if k == 0 { None } else { Some(k as u16) }),
        enabled: b.opt_bool("enabled")?,
        node_id: b.opt_str("node_id")?.map(|n| NodeId::parse("node_id", &n)).transpose()?,
        data_limit_bytes: super::usage::byte_limit(&b, "data_limit_bytes")?,
        expires_at: super::usage::expires_at(&b)?,
        rx_limit_bytes: super::usage::byte_limit(&b, "rx_limit_bytes")?,
        tx_limit_bytes: super::usage::byte_limit(&b, "tx_limit_bytes")?,
    };
    app.submit_as(&u, Command::UpdatePeer { config: config.clone(), id: id.clone(), patch }).await?;
    let v = app.cluster.read(|s| find(s, &config, &id).map(|p| views::peer(s, p)))?;
    Ok(ok("Peer updated successfully", v))
}

pub async fn delete(app: App, u: User, path: Path<(String, String)>) -> Result<Response, ApiError> {
    let (c, p) = path.into_inner();
    let (config, id) = (config_name(&c)?, peer_id(&p)?);
    app.submit_as(&u, Command::DeletePeer { config, id }).await?;
    Ok(ok("Peer deleted successfully", Value::Null))
}

/// Where `peer`'s client should connect, and how that was decided.
fn client_endpoint(s: &State, cfg: &Config, peer: &Peer, node: Option<&NodeId>) -> Result<(String, &'static str), ApiError> {
    if let Some(g) = s.endpoint_groups.get(&cfg.name) {
        // A floating address (#16) is where stock clients connect: whichever router holds it.
        // With `vip_in_dns` the domain publishes it, and the config names the domain.
        if let Some(v) = s.vips.get(&cfg.name).filter(|v| !v.in_dns) {
            return Ok((std::net::SocketAddr::new(v.address, g.port).to_string(), "cluster"));
        }
        // The group's domain is checked by its own rule (`http/assign.rs`); written as given if
        // it is not an `Endpoint` host.
        let ep =
            Endpoint::parse("domain", &g.domain).map_or_else(|_| format!("{}:{}", g.domain, g.port), |d| d.with_port(g.port).to_string());
        return Ok((ep, "cluster"));
    }
    let node_id = node
        .or(peer.node_id.as_ref())
        .ok_or_else(|| ApiError::Conflict(format!("peer '{}' has no node yet: assign a node to config '{}'", peer.id, cfg.name)))?;
    let node = s.nodes.get(node_id).ok_or_else(|| ApiError::NotFound(format!("node '{node_id}' not found")))?;
    let host = node
        .endpoint
        .as_deref()
        .ok_or_else(|| ApiError::Conflict(format!("node '{node_id}' has no endpoint; set it with PATCH /api/nodes/{node_id}")))?;
    let host = Endpoint::parse("endpoint", host).map_err(|e| {
        ApiError::Conflict(format!("node '{node_id}' has an invalid endpoint ({e}); set it with PATCH /api/nodes/{node_id}"))
    })?;
    Ok((host.with_port(cfg.listen_port).to_string(), "independent"))
}

/// A stored value that cannot be written safely into a wg-quick file.
fn render_err(e: render::RenderError) -> ApiError {
    ApiError::Conflict(e.to_string())
}

/// `GET /api/configs/{c}/peers/{id}/config`: the only route that hands out a peer's private and
/// preshared keys. Administrators only (not member routers), and every download that holds a
/// key is first audited (`peer_private_key_read`, a replicated command): no audit entry, no key.
pub async fn download(app: App, u: User, path: Path<(String, String)>, q: Query) -> Result<Response, ApiError> {
    let (c, p) = path.into_inner();
    let (config, id) = (config_name(&c)?, peer_id(&p)?);
    let format = match q.get("format") {
        None | Some("conf") | Some("text") => "conf",
        Some("qr") => "qr",
        Some(other) => return Err(ApiError::BadRequest(format!("format: {} is not conf or qr", quote_prefix(other)))),
    };
    // `User` is an administrator by construction (a router certificate is refused with 403).
    let (text, file, secret) = app.cluster.read(|s| -> Result<_, ApiError> {
        let peer = find(s, &config, &id)?;
        let cfg = s.configs.get(&config).ok_or_else(|| ApiError::NotFound(format!("config '{config}' not found")))?;
        let (endpoint, _) = client_endpoint(s, cfg, peer, None)?;
        let safe: String = peer.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let secret = peer.private_key.is_some() || peer.preshared_key.is_some();
        Ok((render::client_config(cfg, peer, &endpoint).map_err(render_err)?, format!("{config}-{safe}.conf"), secret))
    })?;
    if secret {
        let via = format!("download:{format}");
        app.submit_as(&u, Command::RecordSecretRead { config: config.clone(), peer: Some(id.clone()), via }).await?;
    }
    if format == "qr" {
        let svg = render::qr_svg(&text).map_err(ApiError::Internal)?;
        return Ok(Response::new(200).content_type("image/svg+xml").body(svg));
    }
    Ok(Response::new(200)
        .content_type("text/plain; charset=utf-8")
        .header("Content-Disposition", format!("attachment; filename=\"{file}\""))
        .body(text))
}

/// `GET /api/peers/{peer_id}/configs`: every config file the peer can use right now (Mode A: one,
/// Mode B: its node's, plus the old node's while a move is draining). Keys are redacted here: the
/// download route (`download`) is the only one that hands them out.
pub async fn configs_of(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id = peer_id(&path)?;
    let data = app.cluster.read(|s| -> Result<Vec<Value>, ApiError> {
        let peer = s.peers.get(&id).ok_or_else(|| ApiError::NotFound(format!("peer '{id}' not found")))?;
        let cfg = s.configs.get(&peer.config).ok_or_else(|| ApiError::NotFound(format!("config '{}' not found", peer.config)))?;
        let mut nodes: Vec<Option<&NodeId>> = vec![peer.node_id.as_ref()];
        if !s.endpoint_groups.contains_key(&cfg.name) && peer.draining_from.is_some() {
            nodes.push(peer.draining_from.as_ref());
        }
        let mut out = Vec::new();
        for n in nodes {
            let rendered = client_endpoint(s, cfg, peer, n).and_then(|(endpoint, mode)| {
                Ok((render::client_config_redacted(cfg, peer, &endpoint).map_err(render_err)?, endpoint, mode))
            });
            match rendered {
                Ok((text, endpoint, mode)) => out.push(j!({
                    "config": cfg.name, "node_id": n, "mode": mode, "endpoint": endpoint,
                    "current": n == peer.node_id.as_ref(),
                    "download": format!("/api/configs/{}/peers/{}/config", cfg.name, peer.id),
                    "config_text": text, "keys_redacted": true,
                })),
                Err(e) => out.push(j!({ "config": cfg.name, "node_id": n, "error": e.to_string() })),
            }
        }
        Ok(out)
    })?;
    Ok(ok("Peer configs retrieved successfully", data.into()))
}
