//! The seed's config-node routes (assign, list, remove with migration), manual migration, and the
//! config's endpoint group (Mode A).

use super::auth::User;
use super::body::Body;
use super::configs::config_name;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Response};
use super::{now_ms, read_body, views, App};
use serde_json::json;
use wgcluster_actors::model::{quote_prefix, Endpoint, Host};
use wgcluster_actors::model::{DnsProviderKind, NodeId, Vip};
use wgcluster_actors::state::{Command, EndpointGroupSpec, Outcome};

fn exists(app: &App, c: &wgcluster_actors::model::ConfigName) -> Result<(), ApiError> {
    if app.cluster.read(|s| s.configs.contains_key(c)) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("config '{c}' not found")))
    }
}

pub async fn list_nodes(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let c = config_name(&path)?;
    exists(&app, &c)?;
    let data = app.cluster.read(|s| s.nodes_of(&c).map(|cn| views::config_node(s, cn)).collect::<Vec<_>>());
    Ok(ok("Nodes retrieved successfully", data.into()))
}

pub async fn assign_node(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["node_id"])?;
    let node_id = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    app.submit_as(&u, Command::AssignNode { config: config.clone(), node_id: node_id.clone() }).await?;
    let v = app.cluster.read(|s| s.config_nodes.get(&(config, node_id)).map(|cn| views::config_node(s, cn)));
    Ok(ok("Node assigned successfully", v.unwrap_or_default()))
}

pub async fn remove_node(app: App, u: User, path: Path<(String, String)>) -> Result<Response, ApiError> {
    let (c, n) = path.into_inner();
    let config = config_name(&c)?;
    let node_id = NodeId::parse("node_id", &n)?;
    let out = app.removal.remove(config, node_id, u.0, now_ms()).await?;
    match out {
        Outcome::NodeRemoved { peers_migrated, backup_id } => {
            Ok(ok("Node removed successfully", json!({ "peers_migrated": peers_migrated, "backup_id": backup_id })))
        }
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

pub async fn migrate(app: App, u: User, path: Path<(String, String)>, payload: Payload) -> Result<Response, ApiError> {
    let (c, n) = path.into_inner();
    let config = config_name(&c)?;
    let from = NodeId::parse("node_id", &n)?;
    let bytes = read_body(payload).await?;
    let to = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        None
    } else {
        let b = Body::parse(&bytes)?;
        b.only(&["destination_node_id"])?;
        b.opt_str("destination_node_id")?.map(|d| NodeId::parse("destination_node_id", &d)).transpose()?
    };
    let out = app.submit_as(&u, Command::MigratePeers { config, from, to }).await?;
    match out {
        Outcome::PeersMigrated { count } => Ok(ok("Peers migrated successfully", json!({ "peers_migrated": count }))),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

pub async fn get_group(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let c = config_name(&path)?;
    exists(&app, &c)?;
    let v = app.cluster.read(|s| s.endpoint_groups.get(&c).map(|g| views::with_vip(views::endpoint_group(g), s.vips.get(&c))));
    let v = v.ok_or_else(|| ApiError::NotFound(format!("config '{c}' has no endpoint group")))?;
    Ok(ok("Endpoint group retrieved successfully", v))
}

/// A DNS name: labels of letters, digits and '-', dot-separated, at most 253 characters.
fn domain(field: &str, s: &str) -> Result<String, ApiError> {
    // The one host rule (`model::Endpoint`), then: a name (not an address), no port, at least two
    // labels; stored lower case.
    let refused = || ApiError::BadRequest(format!("{field}: {} is not a DNS name like vpn.example.com", quote_prefix(s)));
    let e = Endpoint::parse(field, s.trim()).map_err(|_| refused())?;
    match (&e.host, e.port) {
        (Host::Name(n), None) if n.contains('.') => Ok(n.to_ascii_lowercase()),
        _ => Err(refused()),
    }
}

/// Longest Cloudflare zone id accepted (real ones are 32 hex digits).
pub const ZONE_ID_MAX: usize = 64;

/// A Cloudflare zone id: 1 to `ZONE_ID_MAX` letters, digits, '-' or '_' (it goes into URL paths).
fn zone_id(s: &str) -> Result<String, ApiError> {
    let z = s.trim();
    if z.is_empty() || z.len() > ZONE_ID_MAX || !z.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::BadRequest(format!(
            "cloudflare_zone_id: {} is not a Cloudflare zone id (1 to {ZONE_ID_MAX} letters, digits, '-' or '_')",
            quote_prefix(z)
        )));
    }
    Ok(z.to_string())
}

pub async fn set_group(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&[
        "domain",
        "port",
        "provider",
        "cloudflare_zone_id",
        "cloudflare_record_name",
        "ttl",
        "proxied",
        "auto_migrate",
        "publish_only_healthy",
        "min_nodes",
        "vip",
        "vip_interface",
        "vrid",
        "vip_preempt",
        "vip_in_dns",
    ])?;
    let vip = floating_address(&b)?;
    let domain_name = domain("domain", &b.req_str("domain")?)?;
    let default_port = app.cluster.read(|s| s.configs.get(&config).map(|c| c.listen_port));
    let default_port = default_port.ok_or_else(|| ApiError::NotFound(format!("config '{config}' not found")))?;
    let provider = match b.opt_str("provider")?.as_deref() {
        None | Some("cloudflare") => DnsProviderKind::Cloudflare,
        Some("rfc2136") => DnsProviderKind::Rfc2136,
        Some(other) => return Err(ApiError::BadRequest(format!("provider: {} is not cloudflare or rfc2136", quote_prefix(other)))),
    };
    let record_name = b.opt_str("cloudflare_record_name")?.map(|r| domain("cloudflare_record_name", &r)).transpose()?;
    let proxied_sent = b.opt_bool("proxied")?.unwrap_or(false);
    let group = EndpointGroupSpec {
        config: config.clone(),
        domain: domain_name,
        port: b.opt_uint("port", 1, 65535)?.map(|p| p as u16).unwrap_or(default_port),
        provider,
        cloudflare_zone_id: b.opt_str("cloudflare_zone_id")?.map(|z| zone_id(&z)).transpose()?,
        cloudflare_record_name: record_name,
        ttl: b.opt_uint("ttl", 1, 86400)?.unwrap_or(60) as u32,
        auto_migrate: b.opt_bool("auto_migrate")?.unwrap_or(true),
        publish_only_healthy: b.opt_bool("publish_only_healthy")?.unwrap_or(true),
        min_nodes: b.opt_uint("min_nodes", 1, 64)?.unwrap_or(1) as u32,
    };
    app.submit_as(&u, Command::SetEndpointGroupVip { group, vip }).await?;
    let v = app.cluster.read(|s| s.endpoint_groups.get(&config).map(|g| views::with_vip(views::endpoint_group(g), s.vips.get(&config))));
    let message = if proxied_sent {
        "Endpoint group saved; proxied was set to false: the cluster endpoint must be DNS-only (WireGuard is UDP)"
    } else {
        "Endpoint group saved successfully"
    };
    Ok(ok(message, v.unwrap_or_default()))
}

/// The group's floating address (#16): `vip` (IPv4 or IPv6), `vrid` (1–255, required with it),
/// optional `vip_interface`, `vip_preempt` (default true) and `vip_in_dns` (default false: the
/// domain keeps listing the routers). No `vip` (or null): none, and the others must not be given.
fn floating_address(b: &Body) -> Result<Option<Vip>, ApiError> {
    let Some(address) = b.opt_str("vip")? else {
        for f in ["vip_interface", "vrid", "vip_preempt", "vip_in_dns"] {
            if b.has(f) && !b.is_null(f) {
                return Err(ApiError::BadRequest(format!("{f}: only with vip (the floating address)")));
            }
        }
        return Ok(None);
    };
    let vrid =
        b.opt_uint("vrid", 0, u64::from(u32::MAX))?.ok_or_else(|| ApiError::BadRequest("vrid: required with vip (1 to 255)".into()))?;
    let interface = b.opt_str("vip_interface")?;
    let preempt = b.opt_bool("vip_preempt")?.unwrap_or(true);
    let in_dns = b.opt_bool("vip_in_dns")?.unwrap_or(false);
    let vip = Vip::parse(&address, interface.as_deref(), vrid, preempt).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Some(Vip { in_dns, ..vip }))
}

pub async fn delete_group(app: App, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    app.submit_as(&u, Command::DeleteEndpointGroup { config }).await?;
    Ok(ok("Endpoint group deleted successfully", serde_json::Value::Null))
}

/// `POST /api/configs/{config}/rebalance`: even out the load by weight (make-before-break).
pub async fn rebalance(app: App, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    match app.submit_as(&u, Command::Rebalance { config }).await? {
        Outcome::Rebalanced { moved } => Ok(ok("Config rebalanced", json!({ "peers_moved": moved }))),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::domain;

    #[test]
    fn endpoint_group_domains_follow_the_one_host_rule() {
        let cases: &[(&str, Option<&str>)] = &[
            ("vpn.example.com", Some("vpn.example.com")),
            ("VPN.Example.com.", Some("vpn.example.com")),
            (" vpn.example.com ", Some("vpn.example.com")),
            ("localhost", None),
            ("-vpn.example.com", None),
            ("vpn-.example.com", None),
            ("vpn.example.123", None),
            ("192.0.2.1", None),
            ("2001:db8::1", None),
            ("vpn.example.com:51820", None),
            ("vpn..example.com", None),
            ("vpn.example.com\n", Some("vpn.example.com")),
            ("vpn.exa mple.com", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(domain("domain", input).ok().as_deref(), *want, "{input:?}");
        }
        let msg = domain("domain", &"x".repeat(10_000)).unwrap_err().to_string();
        assert!(msg.len() < 200 && msg.starts_with("domain:"), "{msg}");
    }
}
