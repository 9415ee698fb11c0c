//! The client write path, this router's half. A handler (or a workflow such as node removal)
//! builds a `Request` and gives it to a `Proposer`:
//! `submit` proposes to this router's Raft and waits, bounded, for apply's verdict; the daemon's
//! `ForwardingProposer` (`daemon/src/cluster/forward.rs`) calls it and, when this router is a
//! follower, forwards the request to the panel over the cluster listener.
//!
//! `ProposeError` says what happened to a write that did not succeed, typed: refused by apply
//! (nothing changed), refused by Raft, timed out (outcome unknown), or failed to forward.

use super::{ClusterHandle, WriteError};
use crate::state::{CommandError, Outcome, Request};
use futures_util::future::BoxFuture;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// Apply refused the command; the state is unchanged.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Raft refused the write (not the panel, no quorum, fatal).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Not committed within the bound: it may still be applied.
    #[error(
        "the write was not confirmed within {} s and may still be applied: check before repeating it, \
         or repeat it with the same Idempotency-Key (a repeat is then applied at most once)",
        .0.as_secs()
    )]
    Timeout(Duration),
    /// A follower could not hand the write to the panel.
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// Why a forwarded write failed. Whether the panel may have applied it is part of the type.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No panel is elected; nothing was sent.
    #[error("no quorum: no panel (leader) is elected right now; writes are refused")]
    NoPanel,
    /// This router has no cluster client (a data dir from before clusters existed).
    #[error("not the panel, and this router cannot reach the cluster")]
    NoClient,
    /// The panel could not be reached; nothing was sent.
    #[error(
        "no quorum: the panel {panel} cannot be reached from this router ({reason}); the write was not sent. \
         This router may be cut off from the cluster, or a new panel is being elected: retry shortly"
    )]
    Unreachable { panel: String, reason: String },
    /// Sent, but no answer came: the panel may have applied it.
    #[error(
        "the panel {panel} did not answer the forwarded write ({reason}); this router may be cut off from the \
         cluster. The write may still be applied if the panel received it"
    )]
    NoAnswer { panel: String, reason: String },
    /// The panel answered with an HTTP status other than 200.
    #[error("the panel {panel} refused the forwarded write ({status})")]
    Refused { panel: String, status: u16 },
    /// The panel took the request but Raft there refused it (it lost leadership, no quorum):
    /// nothing was applied.
    #[error("the panel {panel} refused the forwarded write: {refusal}")]
    Panel { panel: String, refusal: super::PanelRefusal },
    /// Encoding the request or decoding the reply failed.
    #[error("cannot forward the write to the panel {panel}: {reason}")]
    Failed { panel: String, reason: String },
}

impl ForwardError {
    /// True when the panel may have applied the write (the outcome is unknown).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ForwardError::NoAnswer { .. } | ForwardError::Failed { .. })
    }
}

impl ProposeError {
    /// True when the write may have been applied (or may still be): the API answers 504, not 503.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ProposeError::Command(_) => false,
            ProposeError::Write(w) => w.outcome_unknown(),
            ProposeError::Timeout(_) => true,
            ProposeError::Forward(ForwardError::Panel { refusal: super::PanelRefusal::Write(w), .. }) => w.outcome_unknown(),
            ProposeError::Forward(f) => f.outcome_unknown(),
        }
    }
}

/// How a command reaches Raft: directly on the panel, forwarded to it on a follower.
pub trait Proposer: Send + Sync + 'static {
    fn propose(&self, req: Request) -> BoxFuture<'static, Result<Outcome, ProposeError>>;
}

/// Proposes one command to this router's Raft and waits for its verdict, bounded by `timeout`.
pub async fn submit(cluster: &ClusterHandle, timeout: Duration, req: Request) -> Result<Outcome, ProposeError> {
    match tokio::time::timeout(timeout, cluster.write(req)).await {
        Err(_) => Err(ProposeError::Timeout(timeout)),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(resp)) => Ok(resp?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_errors_say_whether_the_outcome_is_unknown() {
        let p = || "r1".to_string();
        let cases = [
            (ForwardError::NoPanel, false),
            (ForwardError::NoClient, false),
            (ForwardError::Unreachable { panel: p(), reason: "refused".into() }, false),
            (ForwardError::Refused { panel: p(), status: 401 }, false),
            (ForwardError::Panel { panel: p(), refusal: super::super::PanelRefusal::Undecodable("x".into()) }, false),
            (ForwardError::NoAnswer { panel: p(), reason: "timeout".into() }, true),
            (ForwardError::Failed { panel: p(), reason: "undecodable".into() }, true),
        ];
        for (e, unknown) in cases {
            assert_eq!(e.outcome_unknown(), unknown, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
}
