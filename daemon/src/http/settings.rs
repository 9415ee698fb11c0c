//! `GET|PUT /api/settings/health`: the health monitor's probe interval and hysteresis, and whether
//! Mode B peers migrate automatically. Replicated settings, changed by one command. A named
//! `profile` (`default`, or `lan`: sub-second detection for routers on one LAN, #16) sets the
//! three numbers at once; fields given with it override it. The answer shows the probe timeout
//! and the failure-detection budget the settings give (`health::budget`).

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::server::{Payload, Response};
use super::{read_body, App};
use serde_json::{json, Value};
use wgcluster_actors::health::budget;
use wgcluster_actors::model::quote_prefix;
use wgcluster_actors::state::Command;

fn view(app: &App) -> Value {
    app.cluster.read(|s| {
        let h = &s.settings;
        let profile = budget::PROFILES.iter().find(|p| (p.1, p.2, p.3) == (h.probe_interval_ms, h.unhealthy_after, h.healthy_after));
        json!({ "probe_interval_ms": h.probe_interval_ms, "unhealthy_after": h.unhealthy_after,
                "healthy_after": h.healthy_after, "auto_migrate_independent": h.auto_migrate_independent,
                "profile": profile.map(|p| p.0),
                "probe_timeout_ms": budget::probe_timeout_ms(h.probe_interval_ms),
                "detection_budget_ms": budget::detection_budget_ms(h.probe_interval_ms, h.unhealthy_after) })
    })
}

pub async fn get_health(app: App, _u: User) -> Response {
    ok("Health settings retrieved successfully", view(&app))
}

pub async fn put_health(app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["profile", "probe_interval_ms", "unhealthy_after", "healthy_after", "auto_migrate_independent"])?;
    let profile = match b.opt_str("profile")? {
        None => None,
        Some(name) => Some(budget::profile(&name).ok_or_else(|| {
            let names: Vec<&str> = budget::PROFILES.iter().map(|p| p.0).collect();
            ApiError::BadRequest(format!("profile: {} is not one of {}", quote_prefix(&name), names.join(", ")))
        })?),
    };
    let cmd = Command::SetHealthSettings {
        probe_interval_ms: b.opt_uint("probe_interval_ms", 200, 600_000)?.or(profile.map(|p| p.1)),
        unhealthy_after: b.opt_uint("unhealthy_after", 1, 100)?.map(|v| v as u32).or(profile.map(|p| p.2)),
        healthy_after: b.opt_uint("healthy_after", 1, 100)?.map(|v| v as u32).or(profile.map(|p| p.3)),
        auto_migrate_independent: b.opt_bool("auto_migrate_independent")?,
    };
    app.submit_as(&u, cmd).await?;
    Ok(ok("Health settings saved", view(&app)))
}
