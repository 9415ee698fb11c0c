//! `ApiError`: the one mapping from every failure to an HTTP status and the JSON envelope
//! `{"status": false, "message": …, "data": null}`.

use super::server::Response;
use serde_json::json;
use wgcluster_actors::model::InvalidField;
use wgcluster_actors::raft::{ForwardError, PanelRefusal, ProposeError, WriteError};
use wgcluster_actors::state::CommandError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BodyTimeout(String),
    /// 431: the request head is too large or has too many headers.
    #[error("{0}")]
    HeaderTooLarge(String),
    /// 503: nothing was applied (no panel, no quorum); repeating the write is safe.
    #[error("{0}")]
    Unavailable(String),
    /// 504: the write may have been applied (or may still be); the message says so.
    #[error("{0}")]
    OutcomeUnknown(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) => 413,
            ApiError::BodyTimeout(_) => 408,
            ApiError::HeaderTooLarge(_) => 431,
            ApiError::Unavailable(_) => 503,
            ApiError::OutcomeUnknown(_) => 504,
            ApiError::Internal(_) => 500,
        }
    }

    /// The error as the JSON envelope.
    pub fn response(&self) -> Response {
        let mut r = Response::new(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            r = r.header("WWW-Authenticate", "Bearer");
        }
        r.json(&json!({ "status": false, "message": self.to_string(), "data": null }))
    }
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            CommandError::Conflict(_) | CommandError::PoolExhausted(_) => ApiError::Conflict(e.to_string()),
            CommandError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotLeader { .. } | WriteError::NoQuorum(_) => ApiError::Unavailable(e.to_string()),
            WriteError::LeadershipLost { .. } => ApiError::OutcomeUnknown(unknown(&e)),
            WriteError::Fatal(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// The message of a 504: what happened, and that the write may be applied.
fn unknown(e: &dyn std::fmt::Display) -> String {
    let m = e.to_string();
    if m.contains("Idempotency-Key") {
        m
    } else {
        format!("{m}. The outcome is unknown: check before repeating the write, or repeat it with the same Idempotency-Key")
    }
}

/// The one mapping of the write path's failures (see `raft::ProposeError`): 503 when nothing was
/// applied, 504 when the outcome is unknown.
impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        if e.outcome_unknown() {
            return ApiError::OutcomeUnknown(unknown(&e));
        }
        match e {
            ProposeError::Command(c) => c.into(),
            ProposeError::Write(w) => w.into(),
            // Raft on the panel refused it: the same answer the panel itself would give.
            ProposeError::Forward(ForwardError::Panel { refusal: PanelRefusal::Write(w), .. }) => w.into(),
            ProposeError::Timeout(_) => ApiError::OutcomeUnknown(unknown(&e)),
            ProposeError::Forward(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// The success envelope.
pub fn ok(message: &str, data: serde_json::Value) -> Response {
    Response::new(200).json(&json!({ "status": true, "message": message, "data": data }))
}
