//! WireGuard data plane of one router: the desired/actual interface model ([`spec`]), the pure
//! minimal differ ([`plan`]), the backend contract and one-call reconcile ([`backend`]), the
//! userspace UAPI backend ([`uapi`]) with its wireguard-go supervisor ([`userspace_proc`]; its raw
//! OS calls in [`userspace_os`]), the kernel netlink backend ([`kernel`]), link/address/route
//! configuration ([`netlink`]), the choice between backends ([`select`]), the switch between
//! them while running ([`switch`]) and server-initiated handshakes for taken-over peers ([`takeover`]).
//! The reconciler actor drives this API; nothing here knows
//! about Raft, actors or HTTP.

pub mod backend;
pub mod desired;
pub mod error;
pub mod kernel;
pub mod netlink;
pub mod plan;
pub mod reconciler;
mod rtnl;
mod rtnl_source;
pub mod select;
pub mod spec;
pub mod switch;
pub mod takeover;
pub mod uapi;
pub mod userspace_os;
pub mod userspace_proc;
pub mod vip_source;

pub use backend::{reconcile, LinkChanges, ReconcileReport, WgBackend};
pub use error::WgError;
pub use kernel::{device_to_actual, KernelBackend, KernelSetRequest};
pub use netlink::{desired_routes, LinkState, Netlink, ROUTE_PROTO};
pub use plan::{diff, diff_peer, diff_specs, normalize_allowed_ips, peer_matches, spec_peer_matches, Identity, PeerOp, Plan, PlanCounts};
pub use select::{build_backend, probe_kernel_support, select_backend, BackendChoice, BackendRequest, BackendSettings};
pub use spec::{
    clamp_private_key, key_from_base64, key_to_base64, public_key_of, validate_ifname, ActualInterface, ActualPeer, InterfaceSpec, Key,
    PeerSpec,
};
pub use switch::{SharedBackend, SwitchOutcome, SwitchRequest};
pub use uapi::{parse_get_response, write_set_request, UapiBackend, UapiConfig};
pub use userspace_proc::{SuperviseEvent, SupervisorConfig, UserspaceSupervisor, DEFAULT_UAPI_DIR};
