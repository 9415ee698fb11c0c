//! `GET /api/audit-logs?entity_type&entity_id&action&limit&offset`: newest first.
//! `GET /api/audit-logs/actions`: every action name an audit entry can carry (`AuditAction::ALL`).

use super::auth::User;
use super::error::{ok, ApiError};
use super::server::{HttpRequest, Query, Response};
use super::{views, App};
use wgcluster_actors::model::{quote_prefix, AuditAction};
use wgcluster_actors::state::audit_query::{query, AuditFilter, DEFAULT_LIMIT, MAX_LIMIT};

/// A query parameter that must be an integer in `min..=max` (shared by the paged lists).
pub(super) fn parse_num(name: &str, v: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!("{name}: must be an integer from {min} to {max}, got {}", quote_prefix(v)))),
    }
}

pub async fn list(app: App, _u: User, req: HttpRequest) -> Result<Response, ApiError> {
    let mut f = AuditFilter { limit: DEFAULT_LIMIT, ..Default::default() };
    let q = Query::from_query(req.query_string()).map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    for (k, v) in q.into_inner() {
        match k.as_str() {
            "entity_type" => f.entity_type = Some(v),
            "entity_id" => f.entity_id = Some(v),
            "action" => {
                if AuditAction::parse(&v).is_none() {
                    return Err(ApiError::BadRequest(format!(
                        "action: {} is not an audit action (GET /api/audit-logs/actions lists them)",
                        quote_prefix(&v)
                    )));
                }
                f.action = Some(v)
            }
            "limit" => {
                f.limit = parse_num("limit", &v, 1, MAX_LIMIT)?;
            }
            "offset" => f.offset = parse_num("offset", &v, 0, u32::MAX as usize)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "{}: unknown query parameter (known: entity_type, entity_id, action, limit, offset)",
                    quote_prefix(other)
                )))
            }
        }
    }
    // A read of the replicated state: audit entries are written by apply, with their change.
    let data: Vec<_> = app.cluster.read(|s| query(s.audit.iter(), &f).into_iter().map(views::audit).collect());
    Ok(ok("Audit logs retrieved successfully", data.into()))
}

/// `GET /api/audit-logs/actions`: the names the `action` filter accepts, in `AuditAction::ALL` order.
pub async fn actions(_u: User) -> Result<Response, ApiError> {
    let data: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    Ok(ok("Audit actions retrieved successfully", data.into()))
}
