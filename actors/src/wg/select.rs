//! Choosing the data plane: [`select_backend`] is the pure decision (config `wg_backend` =
//! `auto | kernel | userspace`, with kernel support detection injected), [`probe_kernel_support`]
//! is the real detection (create a throwaway `wireguard` link through rtnetlink and delete it),
//! and [`build_backend`] turns the choice into a boxed [`WgBackend`].
//!
//! Decisions: `userspace` never probes; `auto` takes the kernel when the probe succeeds and falls
//! back to userspace (saying why) otherwise; an explicit `kernel` is honoured even when the probe
//! fails — the reason says so, and interfaces will then fail loudly instead of silently running
//! on a different data plane than the administrator asked for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::backend::{LinkChanges, WgBackend, WgError};
use super::kernel::KernelBackend;
use super::netlink::Netlink;
use super::plan::Plan;
use super::spec::{ActualInterface, InterfaceSpec};
use super::uapi::{UapiBackend, UapiConfig};
use super::userspace_proc::SuperviseEvent;

/// What the configuration asks for (`wg_backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendRequest {
    #[default]
    Auto,
    Kernel,
    Userspace,
}

/// The data plane actually used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Kernel,
    Userspace,
}

impl FromStr for BackendRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendRequest::Auto),
            "kernel" => Ok(BackendRequest::Kernel),
            "userspace" => Ok(BackendRequest::Userspace),
            other => Err(format!("wg_backend must be auto, kernel or userspace, not {other:?}")),
        }
    }
}

impl fmt::Display for BackendRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendRequest::Auto => "auto",
            BackendRequest::Kernel => "kernel",
            BackendRequest::Userspace => "userspace",
        })
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Kernel => "kernel",
            BackendChoice::Userspace => "userspace",
        })
    }
}

/// PURE: which backend to use, and a one-line reason for the log and `/v1/health`.
/// `kernel_supported` is called at most once (never for `userspace`).
pub fn select_backend(requested: BackendRequest, kernel_supported: impl FnOnce() -> Result<(), String>) -> (BackendChoice, String) {
    match requested {
        BackendRequest::Userspace => (BackendChoice::Userspace, "wg_backend=userspace".to_string()),
        BackendRequest::Kernel => match kernel_supported() {
            Ok(()) => (BackendChoice::Kernel, "wg_backend=kernel; kernel WireGuard available".to_string()),
            Err(why) => (
                BackendChoice::Kernel,
                format!("wg_backend=kernel although the probe failed ({why}); interfaces will fail until the module is loaded"),
            ),
        },
        BackendRequest::Auto => match kernel_supported() {
            Ok(()) => (BackendChoice::Kernel, "wg_backend=auto; kernel WireGuard available".to_string()),
            Err(why) => (BackendChoice::Userspace, format!("wg_backend=auto; kernel WireGuard unavailable ({why}), using userspace")),
        },
    }
}

/// Real detection: creates a throwaway `wireguard` link in `netns` (or the daemon's namespace)
/// and deletes it again.
pub fn probe_kernel_support(netns: Option<&Path>) -> Result<(), String> {
    let netlink = Netlink::new(netns.map(Path::to_path_buf));
    let name = format!("wgprobe{}", std::process::id() % 100_000);
    // A probe link left behind by a crashed earlier run: only ever delete our own kind.
    if let Ok(Some(link)) = netlink.link(&name) {
        if link.kind.as_deref() == Some("wireguard") {
            let _ = netlink.delete_link(&name);
        }
    }
    netlink.create_wireguard_link(&name).map_err(|e| e.to_string())?;
    netlink.delete_link(&name).map(|_| ()).map_err(|e| format!("probe link {name} created but not deleted: {e}"))
}

/// Everything needed to build either backend.
#[derive(Clone, Debug)]
pub struct BackendSettings {
    /// `wg_userspace_bin` (default `wireguard-go`).
    pub userspace_bin: PathBuf,
    /// `uapi_dir` (default `/var/run/wireguard`).
    pub uapi_dir: PathBuf,
    /// Network namespace file to work in (`None` on a router; the lab sets it).
    pub netns: Option<PathBuf>,
}

impl Default for BackendSettings {
    fn default() -> Self {
        BackendSettings {
            userspace_bin: PathBuf::from("wireguard-go"),
            uapi_dir: PathBuf::from(super::userspace_proc::DEFAULT_UAPI_DIR),
            netns: None,
        }
    }
}

/// The backend for a choice.
pub fn build_backend(choice: BackendChoice, settings: &BackendSettings) -> Box<dyn WgBackend> {
    match choice {
        BackendChoice::Kernel => Box::new(KernelBackend::new(settings.netns.clone())),
        BackendChoice::Userspace => {
            let mut config = UapiConfig::new(&settings.uapi_dir, Some(settings.userspace_bin.clone()));
            config.netns = settings.netns.clone();
            Box::new(Userspace { uapi: UapiBackend::new(config), kernel: KernelBackend::new(settings.netns.clone()) })
        }
    }
}

/// The userspace backend, which also removes a kernel interface an earlier run (with the kernel
/// backend) left under one of our names ([`WgBackend::remove_leftover`]); everything else is
/// the UAPI backend's.
struct Userspace {
    uapi: UapiBackend,
    /// Only for the leftover check (links are listed over rtnetlink, no module needed).
    kernel: KernelBackend,
}

impl WgBackend for Userspace {
    fn kind(&self) -> &'static str {
        self.uapi.kind()
    }
    fn list_interfaces(&self) -> Result<Vec<String>, WgError> {
        self.uapi.list_interfaces()
    }
    fn read(&self, iface: &str) -> Result<Option<ActualInterface>, WgError> {
        self.uapi.read(iface)
    }
    fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<bool, WgError> {
        self.uapi.ensure_interface(spec)
    }
    fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError> {
        self.uapi.apply(iface, plan)
    }
    fn configure_link(&self, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
        self.uapi.configure_link(spec)
    }
    fn remove_interface(&self, iface: &str) -> Result<(), WgError> {
        self.uapi.remove_interface(iface)
    }
    fn remove_leftover(&self, iface: &str) -> Result<bool, WgError> {
        self.kernel.remove_if_kind(iface, "wireguard")
    }
    fn supervise(&self) -> Vec<SuperviseEvent> {
        self.uapi.supervise()
    }
    fn detach(&self) -> usize {
        self.uapi.detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn table() {
        use BackendChoice as C;
        use BackendRequest as R;
        // (requested, probe result, expected choice, probe called, reason contains)
        type Case = (R, Result<(), &'static str>, C, bool, &'static str);
        let cases: &[Case] = &[
            (R::Auto, Ok(()), C::Kernel, true, "available"),
            (R::Auto, Err("no module"), C::Userspace, true, "no module"),
            (R::Kernel, Ok(()), C::Kernel, true, "available"),
            (R::Kernel, Err("no module"), C::Kernel, true, "probe failed (no module)"),
            (R::Userspace, Ok(()), C::Userspace, false, "userspace"),
            (R::Userspace, Err("no module"), C::Userspace, false, "userspace"),
        ];
        for (req, probe, want, want_called, reason_part) in cases {
            let called = Cell::new(false);
            let (choice, reason) = select_backend(*req, || {
                called.set(true);
                probe.map_err(str::to_string)
            });
            assert_eq!(choice, *want, "{req:?} {probe:?}");
            assert_eq!(called.get(), *want_called, "{req:?} {probe:?}");
            assert!(reason.contains(reason_part), "{req:?}: {reason}");
        }
    }

    #[test]
    fn parse_and_display() {
        for s in ["auto", "kernel", "userspace"] {
            assert_eq!(s.parse::<BackendRequest>().unwrap().to_string(), s);
        }
        assert!("Kernel".parse::<BackendRequest>().is_err());
        assert!("".parse::<BackendRequest>().is_err());
        assert_eq!(BackendRequest::default(), BackendRequest::Auto);
        assert_eq!(serde_json::to_string(&BackendChoice::Userspace).unwrap(), "\"userspace\"");
    }

    #[test]
    fn build_backend_kinds() {
        let s = BackendSettings::default();
        assert_eq!(build_backend(BackendChoice::Kernel, &s).kind(), "kernel");
        assert_eq!(build_backend(BackendChoice::Userspace, &s).kind(), "userspace");
    }
}
