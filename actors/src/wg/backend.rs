//! The backend contract: [`WgBackend`] is what the reconciler programs an interface through
//! (userspace UAPI socket or kernel netlink; its failures are [`WgError`], defined in `error.rs`
//! and re-exported here), and [`reconcile`] is the one-call "make it so" built on the
//! trait: read → diff → create if absent → apply one transaction → configure the link.
//!
//! All methods are blocking (socket and netlink I/O, process start-up); async callers run them
//! with `spawn_blocking`/`web::block` or on a SyncArbiter, never on an async worker thread.

use super::plan::{diff, Plan, PlanCounts};
use super::spec::{ActualInterface, InterfaceSpec};
use super::userspace_proc::SuperviseEvent;

pub use super::error::WgError;

/// What `configure_link` changed on the link (all zero/false when it already matched).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkChanges {
    pub mtu_set: bool,
    pub brought_up: bool,
    pub addresses_added: usize,
    pub addresses_removed: usize,
    pub routes_added: usize,
    pub routes_removed: usize,
}

impl LinkChanges {
    /// Nothing was changed.
    pub fn is_empty(&self) -> bool {
        *self == LinkChanges::default()
    }
}

/// A way to program this router's WireGuard interfaces.
pub trait WgBackend: Send + Sync {
    /// `"kernel"` or `"userspace"`.
    fn kind(&self) -> &'static str;

    /// Names of the WireGuard interfaces this backend can see.
    fn list_interfaces(&self) -> Result<Vec<String>, WgError>;

    /// The interface's current configuration, `None` when it does not exist.
    fn read(&self, iface: &str) -> Result<Option<ActualInterface>, WgError>;

    /// Makes sure the interface exists (creates the link / starts the userspace process).
    /// Returns true when it was created by this call. Does not program keys or peers.
    fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<bool, WgError>;

    /// Applies a plan to an existing interface as one transaction; returns how many operations it
    /// carried ([`Plan::op_count`]; 0 for an empty plan, which does no I/O).
    fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError>;

    /// Addresses, MTU, link up, and routes for peers' allowed IPs (see `netlink.rs` for the rules).
    fn configure_link(&self, spec: &InterfaceSpec) -> Result<LinkChanges, WgError>;

    /// Removes the interface (and stops its userspace process). Absent is not an error.
    fn remove_interface(&self, iface: &str) -> Result<(), WgError>;

    /// Restarts data-plane processes that died (userspace backend; a no-op for the kernel).
    /// Call it periodically; reconcile every interface named in a `Restarted` event.
    fn supervise(&self) -> Vec<SuperviseEvent> {
        Vec::new()
    }

    /// Removes a leftover interface called `iface` of the *other* backend — made by an earlier
    /// run whose `wg_backend` chose the other data plane (a kernel `wireguard` link for the
    /// userspace backend, wireguard-go's `tun` device for the kernel backend). The reconciler
    /// calls it once per interface it made (the managed list), never for anyone else's. Returns
    /// whether one was removed. Default: there is nothing of another kind to remove.
    fn remove_leftover(&self, _iface: &str) -> Result<bool, WgError> {
        Ok(false)
    }

    /// The daemon is shutting down: leave the data plane running so it keeps forwarding (the
    /// next start adopts it). Userspace: forget the processes instead of stopping them; kernel
    /// interfaces outlive the daemon anyway (the default, a no-op). Returns how many processes
    /// were left running.
    fn detach(&self) -> usize {
        0
    }
}

/// What one [`reconcile`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub created: bool,
    pub identity_set: bool,
    pub peers: PlanCounts,
    pub ops_applied: usize,
    pub link: LinkChanges,
}

/// Makes the interface match `spec`: read, diff, create if absent, apply the plan in one
/// transaction, then configure the link. Idempotent; a second call reports no changes.
pub fn reconcile(backend: &dyn WgBackend, spec: &InterfaceSpec) -> Result<ReconcileReport, WgError> {
    reconcile_observed(backend, spec).map(|(report, _)| report)
}

/// [`reconcile`], also returning the device as it was first read (`None`: it did not exist), so
/// the reconciler can tell drift from the change it was asked to make.
pub fn reconcile_observed(backend: &dyn WgBackend, spec: &InterfaceSpec) -> Result<(ReconcileReport, Option<ActualInterface>), WgError> {
    spec.validate()?;
    let found = backend.read(&spec.name)?;
    let mut created = false;
    let fresh;
    let actual = match &found {
        Some(a) => a,
        None => {
            created = backend.ensure_interface(spec)?;
            fresh = backend.read(&spec.name)?.ok_or_else(|| WgError::NotFound(spec.name.clone()))?;
            &fresh
        }
    };
    let plan = diff(spec, Some(actual));
    let ops_applied = backend.apply(&spec.name, &plan)?;
    let link = backend.configure_link(spec)?;
    Ok((ReconcileReport { created, identity_set: plan.set_identity.is_some(), peers: plan.counts(), ops_applied, link }, found))
}
