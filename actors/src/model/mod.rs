//! The replicated data model: validated names, keys and endpoints (`names`, `keys`, `endpoint`) and the entities that the
//! state machine stores (`entities`). Pure data; no I/O, no clock.
//!
//! Invariant: a value of any type here is valid by construction — parsing is the only way in.

mod audit;
mod digest;
mod endpoint;
mod entities;
mod keys;
mod names;
mod text;
mod vip;

pub use audit::AuditAction;
pub use digest::{sha256, Sha256};
pub use endpoint::{Endpoint, Host};
pub use entities::*;
pub use keys::{generate_keypair, random_key, WgKey};
pub use names::{ConfigName, NodeId, PeerId};
pub use text::{check_name, check_secret, check_text, is_forbidden_char, quote_prefix, text_rule, TextError, NAME_MAX, QUOTE_MAX};
pub use vip::{Vip, VipError, VRID_RANGE};

/// Unix time in milliseconds. The proposer of a command stamps it, so `apply` stays deterministic.
pub type Millis = u64;

/// Why a value from outside was refused. `field` names what the caller sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: String,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}
