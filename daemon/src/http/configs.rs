//! `/api/configs`: create, list, show, patch and delete WireGuard configs.

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Query, Response};
use super::{read_body, views, App};
use ipnet::IpNet;
use wgcluster_actors::model::quote_prefix;
use wgcluster_actors::model::{generate_keypair, ConfigName, Placement};
use wgcluster_actors::state::{Command, ConfigPatch, NewConfig};

pub fn config_name(s: &str) -> Result<ConfigName, ApiError> {
    Ok(ConfigName::parse("config", s)?)
}

/// The interface's own addresses: host address plus prefix, leaving room for peers.
pub(crate) fn check_interface_addresses(addrs: &[IpNet]) -> Result<(), ApiError> {
    for a in addrs {
        let (max, bits) = match a {
            IpNet::V4(_) => (30, 32),
            IpNet::V6(_) => (126, 128),
        };
        if a.prefix_len() > max {
            return Err(ApiError::BadRequest(format!(
                "address: {a} leaves no room for peers (prefix must be /{max} or shorter, of {bits})"
            )));
        }
        if a.addr() == a.network() {
            return Err(ApiError::BadRequest(format!(
                "address: {a} is a network address; give the interface's own address, like {}",
                IpNet::new(ipnet_first_host(a), a.prefix_len()).map(|n| n.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

fn ipnet_first_host(n: &IpNet) -> std::net::IpAddr {
    n.hosts().next().unwrap_or(n.addr())
}

/// Most DNS servers (or search domains) in a config.
pub const DNS_MAX: usize = 16;

pub(crate) fn dns_list(b: &Body) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = b.opt_list("dns")? else { return Ok(None) };
    if list.len() > DNS_MAX {
        return Err(ApiError::BadRequest(format!("dns: give at most {DNS_MAX} servers, got {}", list.len())));
    }
    for d in &list {
        if d.parse::<std::net::IpAddr>().is_err() && super::nodes::parse_endpoint("dns", d).is_err() {
            return Err(ApiError::BadRequest(format!("dns: {} is not an IP address or domain", quote_prefix(d))));
        }
    }
    Ok(Some(list))
}

pub async fn list(app: App, _u: User) -> Response {
    let data = app.cluster.read(|s| s.configs.values().map(|c| views::config(s, c)).collect::<Vec<_>>());
    ok("Configs retrieved successfully", data.into())
}

pub async fn get(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let name = config_name(&path)?;
    let v = app.cluster.read(|s| s.configs.get(&name).map(|c| views::config(s, c)));
    Ok(ok("Config retrieved successfully", v.ok_or_else(|| ApiError::NotFound(format!("config '{name}' not found")))?))
}

pub async fn create(app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["name", "address", "listen_port", "mtu", "dns", "peer_allowed_ips", "peer_keepalive", "placement"])?;
    let name = ConfigName::parse("name", &b.req_str("name")?)?;
    let addresses = b.opt_cidrs("address")?.ok_or_else(|| ApiError::BadRequest("address: is required".into()))?;
    check_interface_addresses(&addresses)?;
    let listen_port = b.req_uint("listen_port", 1, 65535)? as u16;
    let mtu = b.opt_uint("mtu", 1280, 9000)?.map(|m| m as u16);
    let dns = dns_list(&b)?.unwrap_or_default();
    let peer_allowed_ips =
        b.opt_cidrs("peer_allowed_ips")?.unwrap_or_else(|| vec!["0.0.0.0/0".parse().expect("literal"), "::/0".parse().expect("literal")]);
    let peer_keepalive = match b.opt_uint("peer_keepalive", 0, 65535)? {
        Some(0) => None,
        Some(k) => Some(k as u16),
        None => Some(25),
    };
    let (private_key, _) = generate_keypair();
    let placement = placement(&b)?.unwrap_or_default();
    let config =
        NewConfig { name: name.clone(), private_key, addresses, listen_port, mtu, dns, peer_allowed_ips, peer_keepalive, placement };
    app.submit_as(&u, Command::CreateConfig { config }).await?;
    let v = app.cluster.read(|s| s.configs.get(&name).map(|c| views::config(s, c)));
    Ok(ok("Config created successfully", v.unwrap_or_default()))
}

pub async fn patch(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let name = config_name(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["listen_port", "mtu", "dns", "peer_allowed_ips", "peer_keepalive", "placement"])?;
    let patch = ConfigPatch {
        listen_port: b.opt_uint("listen_port", 1, 65535)?.map(|p| p as u16),
        mtu: if b.is_null("mtu") { Some(None) } else { b.opt_uint("mtu", 1280, 9000)?.map(|m| Some(m as u16)) },
        dns: dns_list(&b)?,
        peer_allowed_ips: b.opt_cidrs("peer_allowed_ips")?,
        peer_keepalive: b.opt_uint("peer_keepalive", 0, 65535)?.map(|k| if k == 0 { None } else { Some(k as u16) }),
        placement: placement(&b)?,
    };
    app.submit_as(&u, Command::UpdateConfig { name: name.clone(), patch }).await?;
    let v = app.cluster.read(|s| s.configs.get(&name).map(|c| views::config(s, c)));
    Ok(ok("Config updated successfully", v.unwrap_or_default()))
}

/// The `placement` field: `peers` or `traffic`.
fn placement(b: &Body) -> Result<Option<Placement>, ApiError> {
    let Some(s) = b.opt_str("placement")? else { return Ok(None) };
    Placement::parse(&s).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Placement::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::BadRequest(format!("placement: must be one of {}", names.join(", ")))
    })
}

pub async fn delete(app: App, u: User, path: Path<String>, q: Query) -> Result<Response, ApiError> {
    let name = config_name(&path)?;
    let force = match q.get("force") {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("force: {} is not true or false", quote_prefix(other)))),
    };
    app.submit_as(&u, Command::DeleteConfig { name, force }).await?;
    Ok(ok("Config deleted successfully", serde_json::Value::Null))
}
