//! Switching the data plane while the daemon runs (SIGHUP after `wg_backend`, `uapi_dir` or
//! `wg_userspace_bin` changed): the reconciler's `Kick::Switch` message.
//!
//! [`SharedBackend`] is the backend everyone holds (the reconciler, `/v1/health`, the agent's
//! read route): it forwards to the backend of the moment, so a switch is one pointer swap.
//! [`decide`] is the pure decision, with the start-up selection rules (`select::select_backend`):
//! `auto` takes the kernel when the probe succeeds, else userspace; `userspace` never probes. The
//! one difference: an explicit `kernel` whose probe fails is *refused* live — at start-up there is
//! nothing to keep, so the request is honoured and interfaces fail loudly; while running, the
//! working data plane is kept and the error says why (the next SIGHUP tries again).
//!
//! [`run_switch`] does it on the reconciler's thread: every managed interface removed through the
//! old backend (kernel: peers cleared, then the link deleted; userspace: the wireguard-go child
//! stopped, its socket gone), the new backend swapped in, one full pass (every interface created
//! and programmed from the desired state; the applied version moves as after any pass). When the
//! new backend brings up fewer interfaces than the old one ran ([`rollback_needed`]), its
//! interfaces are removed and the old backend programs them again: a failed switch never leaves
//! the router without WireGuard.

use super::backend::{LinkChanges, WgBackend, WgError};
use super::plan::Plan;
use super::reconciler::ReconcileCore;
use super::select::{build_backend, probe_kernel_support, select_backend, BackendChoice, BackendRequest, BackendSettings};
use super::spec::{ActualInterface, InterfaceSpec};
use super::userspace_proc::SuperviseEvent;
use std::sync::{mpsc, Arc, RwLock};
use std::time::{Duration, Instant};

/// The backend of the moment, swappable while others hold it.
pub struct SharedBackend {
    current: RwLock<Arc<dyn WgBackend>>,
}

impl SharedBackend {
    pub fn new(backend: Arc<dyn WgBackend>) -> Self {
        SharedBackend { current: RwLock::new(backend) }
    }

    /// The backend in use now.
    pub fn current(&self) -> Arc<dyn WgBackend> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `next` in place; returns the one it replaced.
    pub fn replace(&self, next: Arc<dyn WgBackend>) -> Arc<dyn WgBackend> {
        std::mem::replace(&mut *self.current.write().unwrap_or_else(|e| e.into_inner()), next)
    }
}

impl WgBackend for SharedBackend {
    fn kind(&self) -> &'static str {
        self.current().kind()
    }
    fn list_interfaces(&self) -> Result<Vec<String>, WgError> {
        self.current().list_interfaces()
    }
    fn read(&self, iface: &str) -> Result<Option<ActualInterface>, WgError> {
        self.current().read(iface)
    }
    fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<bool, WgError> {
        self.current().ensure_interface(spec)
    }
    fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError> {
        self.current().apply(iface, plan)
    }
    fn configure_link(&self, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
        self.current().configure_link(spec)
    }
    fn remove_interface(&self, iface: &str) -> Result<(), WgError> {
        self.current().remove_interface(iface)
    }
    fn supervise(&self) -> Vec<SuperviseEvent> {
        self.current().supervise()
    }
    fn remove_leftover(&self, iface: &str) -> Result<bool, WgError> {
        self.current().remove_leftover(iface)
    }
    fn detach(&self) -> usize {
        self.current().detach()
    }
}

/// The message: what the configuration now asks for. `from`: the settings the running backend
/// was built with (to see whether a userspace backend must be rebuilt for a new `uapi_dir` or
/// binary).
#[derive(Debug)]
pub struct SwitchRequest {
    pub request: BackendRequest,
    pub from: BackendSettings,
    pub to: BackendSettings,
    pub reply: Option<mpsc::Sender<SwitchOutcome>>,
}

/// What a switch request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// The running backend already is the one the rules choose; nothing was touched.
    Unchanged { backend: BackendChoice, reason: String },
    /// Every interface moved to `to`.
    Switched { from: BackendChoice, to: BackendChoice, reason: String, interfaces: usize, took: Duration },
    /// Not attempted; the running backend is kept.
    Refused { backend: BackendChoice, reason: String },
    /// Attempted, failed, and the interfaces are back on `backend`.
    RolledBack { backend: BackendChoice, tried: BackendChoice, reason: String },
}

impl SwitchOutcome {
    /// Whether the configuration asked for is now in force (the daemon adopts the new options).
    pub fn applied(&self) -> bool {
        matches!(self, SwitchOutcome::Unchanged { .. } | SwitchOutcome::Switched { .. })
    }

    /// The log line.
    pub fn message(&self) -> String {
        match self {
            SwitchOutcome::Unchanged { backend, reason } => format!("WireGuard backend stays {backend} ({reason})"),
            SwitchOutcome::Switched { from, to, reason, interfaces, took } => format!(
                "WireGuard backend switched from {from} to {to} ({reason}): {interfaces} interface(s) moved in {} ms",
                took.as_millis()
            ),
            SwitchOutcome::Refused { backend, reason } => format!("WireGuard backend not switched, still {backend}: {reason}"),
            SwitchOutcome::RolledBack { backend, tried, reason } => {
                format!("WireGuard backend switch to {tried} failed ({reason}); the interfaces run on {backend} again")
            }
        }
    }
}

/// What [`decide`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep(String),
    Switch { to: BackendChoice, reason: String },
    Refuse(String),
}

/// PURE: what to do with the running backend `current` when the configuration asks for
/// `requested`. `userspace_settings_changed`: `uapi_dir` or `wg_userspace_bin` differ from what
/// the running backend was built with (matters only for userspace). `kernel_supported` is called
/// at most once, never for `userspace`.
pub fn decide(
    current: BackendChoice,
    userspace_settings_changed: bool,
    requested: BackendRequest,
    kernel_supported: impl FnOnce() -> Result<(), String>,
) -> Decision {
    let mut probe_failed = None;
    let (choice, reason) = select_backend(requested, || {
        let r = kernel_supported();
        probe_failed = r.as_ref().err().cloned();
        r
    });
    if let (BackendRequest::Kernel, Some(why), BackendChoice::Userspace) = (requested, probe_failed, current) {
        return Decision::Refuse(format!(
            "wg_backend=kernel but kernel WireGuard is unavailable ({why}); keeping the running userspace interfaces (load the wireguard module, then reload)"
        ));
    }
    if choice == current && !(choice == BackendChoice::Userspace && userspace_settings_changed) {
        return Decision::Keep(reason);
    }
    Decision::Switch { to: choice, reason }
}

/// PURE: a switch is undone when the new backend runs fewer interfaces than the old one did.
pub fn rollback_needed(working_before: usize, working_after: usize) -> bool {
    working_after < working_before
}

/// The data plane a backend's `kind()` names (anything else is taken as userspace: only the
/// kernel backend says "kernel").
pub fn choice_of(kind: &str) -> BackendChoice {
    if kind == "kernel" {
        BackendChoice::Kernel
    } else {
        BackendChoice::Userspace
    }
}

/// The reconciler thread's handling of [`SwitchRequest`] with the real probe and backends.
pub fn run_switch(
    core: &mut ReconcileCore,
    shared: &SharedBackend,
    req: &SwitchRequest,
    desired: &dyn Fn() -> (u64, Vec<InterfaceSpec>),
) -> SwitchOutcome {
    let netns = req.to.netns.clone();
    let to = req.to.clone();
    switch_with(core, shared, req, desired, move || probe_kernel_support(netns.as_deref()), move |c| Arc::from(build_backend(c, &to)))
}

/// [`run_switch`] with the probe and the backend builder injected (tests).
pub fn switch_with(
    core: &mut ReconcileCore,
    shared: &SharedBackend,
    req: &SwitchRequest,
    desired: &dyn Fn() -> (u64, Vec<InterfaceSpec>),
    kernel_supported: impl FnOnce() -> Result<(), String>,
    build: impl FnOnce(BackendChoice) -> Arc<dyn WgBackend>,
) -> SwitchOutcome {
    let current = choice_of(shared.kind());
    let changed = req.from.uapi_dir != req.to.uapi_dir || req.from.userspace_bin != req.to.userspace_bin;
    let (to, reason) = match decide(current, changed, req.request, kernel_supported) {
        Decision::Keep(reason) => return SwitchOutcome::Unchanged { backend: current, reason },
        Decision::Refuse(reason) => return SwitchOutcome::Refused { backend: current, reason },
        Decision::Switch { to, reason } => (to, reason),
    };
    let started = Instant::now();
    let before = core.working_interfaces();
    log::info!(
        "wg: switching the data plane from {current} to {to} ({reason}): removing {} interface(s) of {current}",
        core.managed_count()
    );
    core.retire_interfaces();
    let old = shared.replace(build(to));
    let (version, specs) = desired();
    core.pass(version, specs, true);
    let after = core.working_interfaces();
    if !rollback_needed(before, after) {
        return SwitchOutcome::Switched { from: current, to, reason, interfaces: after, took: started.elapsed() };
    }
    let why = format!("{after} of {before} interface(s) came up on {to}; see the warnings above");
    log::error!("wg: switch to {to} failed ({why}); moving the interfaces back to {current}");
    core.retire_interfaces();
    shared.replace(old);
    let (version, specs) = desired();
    core.pass(version, specs, true);
    SwitchOutcome::RolledBack { backend: current, tried: to, reason: why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wg::plan::tests::specs::{apply_to, peer, spec};
    use crate::wg::reconciler::ReconcileStats;
    use portable_atomic::Ordering;
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Mutex;

    #[test]
    fn decide_table() {
        use BackendChoice::{Kernel as K, Userspace as U};
        use BackendRequest as R;
        #[derive(Debug, PartialEq)]
        enum W {
            Keep,
            To(BackendChoice),
            Refuse,
        }
        // (running, userspace settings changed, requested, probe, want, probe called)
        type Case = (BackendChoice, bool, R, Result<(), &'static str>, W, bool);
        let cases: &[Case] = &[
            (U, false, R::Userspace, Ok(()), W::Keep, false),
            (U, true, R::Userspace, Ok(()), W::To(U), false),
            (U, false, R::Auto, Ok(()), W::To(K), true),
            (U, false, R::Auto, Err("no module"), W::Keep, true),
            (U, true, R::Auto, Err("no module"), W::To(U), true),
            (U, false, R::Kernel, Ok(()), W::To(K), true),
            (U, false, R::Kernel, Err("no module"), W::Refuse, true),
            (U, true, R::Kernel, Err("no module"), W::Refuse, true),
            (K, false, R::Userspace, Ok(()), W::To(U), false),
            (K, true, R::Userspace, Ok(()), W::To(U), false),
            (K, false, R::Auto, Ok(()), W::Keep, true),
            (K, true, R::Auto, Ok(()), W::Keep, true),
            (K, false, R::Auto, Err("module gone"), W::To(U), true),
            (K, false, R::Kernel, Ok(()), W::Keep, true),
            (K, false, R::Kernel, Err("module gone"), W::Keep, true),
        ];
        for (running, changed, req, probe, want, want_called) in cases {
            let mut called = false;
            let got = decide(*running, *changed, *req, || {
                called = true;
                probe.map_err(str::to_string)
            });
            let got_w = match &got {
                Decision::Keep(_) => W::Keep,
                Decision::Switch { to, .. } => W::To(*to),
                Decision::Refuse(why) => {
                    assert!(why.contains("no module") && why.contains("keeping the running userspace"), "{why}");
                    W::Refuse
                }
            };
            assert_eq!(&got_w, want, "{running:?} changed {changed} {req:?} {probe:?}: {got:?}");
            assert_eq!(called, *want_called, "{running:?} {req:?}");
        }
    }

    #[test]
    fn rollback_table() {
        for (before, after, want) in [(0, 0, false), (2, 2, false), (1, 2, false), (2, 1, true), (1, 0, true), (0, 1, false)] {
            assert_eq!(rollback_needed(before, after), want, "{before} -> {after}");
        }
    }

    #[test]
    fn outcome_messages_and_applied() {
        let ms = Duration::from_millis(42);
        let cases = [
            (
                SwitchOutcome::Unchanged { backend: BackendChoice::Userspace, reason: "r".into() },
                true,
                "WireGuard backend stays userspace (r)",
            ),
            (
                SwitchOutcome::Switched {
                    from: BackendChoice::Kernel,
                    to: BackendChoice::Userspace,
                    reason: "r".into(),
                    interfaces: 2,
                    took: ms,
                },
                true,
                "WireGuard backend switched from kernel to userspace (r): 2 interface(s) moved in 42 ms",
            ),
            (
                SwitchOutcome::Refused { backend: BackendChoice::Userspace, reason: "r".into() },
                false,
                "WireGuard backend not switched, still userspace: r",
            ),
            (
                SwitchOutcome::RolledBack { backend: BackendChoice::Userspace, tried: BackendChoice::Kernel, reason: "r".into() },
                false,
                "WireGuard backend switch to kernel failed (r); the interfaces run on userspace again",
            ),
        ];
        for (o, applied, msg) in cases {
            assert_eq!((o.applied(), o.message().as_str()), (applied, msg));
        }
    }

    /// A data plane in memory: devices by name; `broken` makes every interface creation fail.
    struct Plane {
        kind: &'static str,
        devs: Mutex<BTreeMap<String, ActualInterface>>,
        broken: bool,
        removed: Mutex<Vec<String>>,
    }

    impl Plane {
        fn new(kind: &'static str, broken: bool) -> Arc<Plane> {
            Arc::new(Plane { kind, devs: Mutex::default(), broken, removed: Mutex::default() })
        }
        fn names(&self) -> Vec<String> {
            self.devs.lock().unwrap().keys().cloned().collect()
        }
    }

    impl WgBackend for Plane {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn list_interfaces(&self) -> Result<Vec<String>, WgError> {
            Ok(self.names())
        }
        fn read(&self, iface: &str) -> Result<Option<ActualInterface>, WgError> {
            Ok(self.devs.lock().unwrap().get(iface).cloned())
        }
        fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<bool, WgError> {
            if self.broken {
                return Err(WgError::Unsupported("no module".into()));
            }
            let mut d = self.devs.lock().unwrap();
            let fresh = ActualInterface { listen_port: 0, private_key: None, public_key: None, peers: vec![] };
            Ok(d.insert(spec.name.clone(), fresh).is_none())
        }
        fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError> {
            let mut d = self.devs.lock().unwrap();
            apply_to(d.get_mut(iface).ok_or_else(|| WgError::NotFound(iface.into()))?, plan);
            Ok(plan.op_count())
        }
        fn configure_link(&self, _spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
            Ok(LinkChanges::default())
        }
        fn remove_interface(&self, iface: &str) -> Result<(), WgError> {
            if self.devs.lock().unwrap().remove(iface).is_some() {
                self.removed.lock().unwrap().push(iface.to_string());
            }
            Ok(())
        }
    }

    fn settings(dir: &str) -> BackendSettings {
        BackendSettings { uapi_dir: PathBuf::from(dir), ..BackendSettings::default() }
    }

    fn request(request: BackendRequest, from: &str, to: &str) -> SwitchRequest {
        SwitchRequest { request, from: settings(from), to: settings(to), reply: None }
    }

    fn wg(name: &str, n: u8) -> InterfaceSpec {
        let mut s = spec((1..=n).map(peer).collect());
        s.name = name.into();
        s
    }

    /// A core on `first` that has run one pass over wg0 (3 peers) and wg1 (2 peers).
    fn running(first: &Arc<Plane>, tag: &str) -> (ReconcileCore, Arc<SharedBackend>, PathBuf, Vec<InterfaceSpec>) {
        let file = std::env::temp_dir().join(format!("wg-switch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let backend: Arc<dyn WgBackend> = first.clone();
        let shared = Arc::new(SharedBackend::new(backend));
        let mut core = ReconcileCore::new(shared.clone(), file.clone(), Arc::new(ReconcileStats::default()));
        let specs = vec![wg("wg0", 3), wg("wg1", 2)];
        assert!(core.pass(1, specs.clone(), false).1);
        (core, shared, file, specs)
    }

    #[test]
    fn switch_moves_every_interface_and_keeps_reporting() {
        let old = Plane::new("userspace", false);
        let new = Plane::new("kernel", false);
        let (mut core, shared, file, specs) = running(&old, "ok");
        let desired = move || (7, specs.clone());
        let next: Arc<dyn WgBackend> = new.clone();
        let out = switch_with(
            &mut core,
            &shared,
            &request(BackendRequest::Auto, "/a", "/a"),
            &desired,
            || Ok(()),
            |c| {
                assert_eq!(c, BackendChoice::Kernel);
                next
            },
        );
        assert!(
            matches!(&out, SwitchOutcome::Switched { from: BackendChoice::Userspace, to: BackendChoice::Kernel, interfaces: 2, .. }),
            "{out:?}"
        );
        assert_eq!(*old.removed.lock().unwrap(), ["wg0", "wg1"]);
        assert!(old.names().is_empty());
        assert_eq!(new.names(), ["wg0", "wg1"]);
        assert_eq!(new.read("wg0").unwrap().unwrap().peers.len(), 3);
        assert_eq!(shared.kind(), "kernel");
        assert_eq!(core.stats().applied_version.load(Ordering::Relaxed), 7);
        // The next state change is incremental on the new backend.
        let more = vec![wg("wg0", 4), wg("wg1", 2)];
        assert_eq!(core.pass(8, more, false), (1, true));
        assert_eq!(new.read("wg0").unwrap().unwrap().peers.len(), 4);
        // Asking again for what runs: nothing is touched.
        let again = switch_with(
            &mut core,
            &shared,
            &request(BackendRequest::Auto, "/a", "/a"),
            &|| (8, vec![]),
            || Ok(()),
            |_| panic!("no backend is built when nothing changes"),
        );
        assert!(matches!(again, SwitchOutcome::Unchanged { backend: BackendChoice::Kernel, .. }), "{again:?}");
        assert_eq!(new.names(), ["wg0", "wg1"]);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn a_failed_switch_puts_the_interfaces_back() {
        let old = Plane::new("userspace", false);
        let broken = Plane::new("kernel", true);
        let (mut core, shared, file, specs) = running(&old, "rollback");
        let desired = move || (3, specs.clone());
        let next: Arc<dyn WgBackend> = broken.clone();
        let out = switch_with(&mut core, &shared, &request(BackendRequest::Kernel, "/a", "/a"), &desired, || Ok(()), |_| next);
        assert!(
            matches!(&out, SwitchOutcome::RolledBack { backend: BackendChoice::Userspace, tried: BackendChoice::Kernel, .. }),
            "{out:?}"
        );
        assert!(!out.applied());
        assert_eq!(shared.kind(), "userspace");
        assert_eq!(old.names(), ["wg0", "wg1"]);
        assert_eq!(old.read("wg1").unwrap().unwrap().peers.len(), 2);
        assert_eq!(core.working_interfaces(), 2);
        assert_eq!(core.stats().applied_version.load(Ordering::Relaxed), 3);
        // Refused without the module: nothing is touched.
        let out = switch_with(
            &mut core,
            &shared,
            &request(BackendRequest::Kernel, "/a", "/a"),
            &desired,
            || Err("no module".into()),
            |_| panic!("a refused switch builds nothing"),
        );
        assert!(matches!(out, SwitchOutcome::Refused { backend: BackendChoice::Userspace, .. }), "{out:?}");
        assert_eq!(*old.removed.lock().unwrap(), ["wg0", "wg1"], "removed once, by the failed attempt");
        let _ = std::fs::remove_file(file);
    }
}
