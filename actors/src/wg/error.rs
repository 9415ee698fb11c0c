//! [`WgError`]: every way the data plane can fail, each variant knowing whether a retry may help.
//! A leaf module: the backends, the supervisor and the spec checks all return it, and it imports
//! nothing from them (so none of them needs `backend.rs` just for the error type).

/// Every failure of the data plane.
#[derive(Debug, thiserror::Error)]
pub enum WgError {
    /// Not a valid Linux interface name. Permanent.
    #[error("invalid interface name {0:?}")]
    InvalidName(String),
    /// The spec cannot be programmed as it is (duplicate peer, bad key, …). Permanent.
    #[error("invalid interface spec: {0}")]
    InvalidSpec(String),
    /// The interface does not exist (and this call does not create it). Transient: it may be
    /// created (or its process restarted) by the next reconcile.
    #[error("interface {0} does not exist")]
    NotFound(String),
    /// Socket or file I/O failed (connection refused, reset, timeout, …). Transient.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The device answered something we could not understand. Permanent (a bug or an
    /// incompatible data plane), retrying will not change the answer.
    #[error("UAPI protocol error: {0}")]
    Protocol(String),
    /// The device refused the configuration (`errno=N` from the UAPI). Permanent for this plan.
    #[error("device {iface} rejected the configuration: errno={errno}")]
    Rejected { iface: String, errno: i64 },
    /// A netlink request failed. `transient` is false for errors that will repeat (EINVAL,
    /// EOPNOTSUPP, EPERM, …) and true otherwise.
    #[error("netlink: {message}")]
    Netlink { message: String, transient: bool },
    /// Starting, watching or stopping the userspace data-plane process failed. Transient.
    #[error("userspace process for {iface}: {message}")]
    Process { iface: String, message: String },
    /// Waited too long (process start-up, socket I/O). Transient.
    #[error("timed out: {0}")]
    Timeout(String),
    /// This backend cannot do this here (no kernel module, no userspace binary, …). Permanent.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl WgError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            WgError::InvalidName(_) => false,
            WgError::InvalidSpec(_) => false,
            WgError::NotFound(_) => true,
            WgError::Io { .. } => true,
            WgError::Protocol(_) => false,
            WgError::Rejected { .. } => false,
            WgError::Netlink { transient, .. } => *transient,
            WgError::Process { .. } => true,
            WgError::Timeout(_) => true,
            WgError::Unsupported(_) => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        WgError::Io { context: context.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        let io = WgError::io("x", std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(io.is_transient());
        assert!(WgError::NotFound("wg0".into()).is_transient());
        assert!(WgError::Timeout("x".into()).is_transient());
        assert!(!WgError::InvalidName("a/b".into()).is_transient());
        assert!(!WgError::Rejected { iface: "wg0".into(), errno: 22 }.is_transient());
        assert!(!WgError::Unsupported("x".into()).is_transient());
        assert!(WgError::Netlink { message: "busy".into(), transient: true }.is_transient());
    }
}
