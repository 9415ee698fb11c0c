//! `GET|PUT /api/settings/health`: the health monitor's probe interval and hysteresis, and whether
//! Mode B peers migrate automatically. Replicated settings, changed by one command.

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::{read_body, App};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use wgcluster_actors::state::Command;

fn view(app: &App) -> Value {
    app.cluster.read(|s| {
        let h = &s.settings;
        json!({ "probe_interval_ms": h.probe_interval_ms, "unhealthy_after": h.unhealthy_after,
                "healthy_after": h.healthy_after, "auto_migrate_independent": h.auto_migrate_independent })
    })
}

pub async fn get_health(app: App, _u: User) -> HttpResponse {
    ok("Health settings retrieved successfully", view(&app))
}

pub async fn put_health(app: App, u: User, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["probe_interval_ms", "unhealthy_after", "healthy_after", "auto_migrate_independent"])?;
    let cmd = Command::SetHealthSettings {
        probe_interval_ms: b.opt_uint("probe_interval_ms", 200, 600_000)?,
        unhealthy_after: b.opt_uint("unhealthy_after", 1, 100)?.map(|v| v as u32),
        healthy_after: b.opt_uint("healthy_after", 1, 100)?.map(|v| v as u32),
        auto_migrate_independent: b.opt_bool("auto_migrate_independent")?,
    };
    app.submit_as(&u, cmd).await?;
    Ok(ok("Health settings saved", view(&app)))
}
