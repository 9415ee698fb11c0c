//! Floating addresses through keepalived (#16). Every router of a config with a `vip` writes
//! keepalived's configuration for its addresses ([`render`], pure) to `keepalived_conf` whenever
//! the replicated state changes what it would hold, and reloads keepalived: SIGHUP to the PID in
//! `keepalived_pidfile`, after checking that this PID is a live `keepalived` (a stale pidfile
//! never gets a stranger signalled; nothing is ever looked up by name). keepalived's notify hooks
//! run `wgclusterd vrrp-notify --config <uci> <config> MASTER|BACKUP|FAULT|MASTER_RX_LOWER_PRI`, which tells this
//! daemon over the control socket; on MASTER the reconciler takes the config's peers over
//! (server-initiated handshakes, `wg/takeover.rs`).
//!
//! keepalived itself is the system's (OpenWrt's `keepalived` package: point its
//! `alt_config_file` at `keepalived_conf`; in the lab, `keepalived -f <conf> -p <pidfile>`).

pub mod render;

use crate::model::{ConfigName, NodeId};
use crate::raft::ClusterHandle;
use render::{instances, NotifyCommand, RenderError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What keepalived reported for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    Master,
    Backup,
    Fault,
    /// Still master, and an advert with a lower priority arrived: another router believed itself
    /// master (a split that is healing) — `notify_master_rx_lower_pri`.
    MasterRxLowerPri,
}

impl FromStr for VrrpState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "MASTER" => Ok(VrrpState::Master),
            "BACKUP" => Ok(VrrpState::Backup),
            "FAULT" => Ok(VrrpState::Fault),
            "MASTER_RX_LOWER_PRI" => Ok(VrrpState::MasterRxLowerPri),
            other => Err(format!("{} is not MASTER, BACKUP, FAULT or MASTER_RX_LOWER_PRI", crate::model::quote_prefix(other))),
        }
    }
}

impl VrrpState {
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Master => "MASTER",
            VrrpState::Backup => "BACKUP",
            VrrpState::Fault => "FAULT",
            VrrpState::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
        }
    }
}

/// Where the configuration goes and how keepalived is found (UCI `keepalived_conf`,
/// `keepalived_pidfile`, `vrrp_interface`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedSettings {
    pub conf: PathBuf,
    pub pidfile: PathBuf,
    pub default_interface: String,
    pub notify: NotifyCommand,
}

#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The file already held this text.
    Unchanged,
    /// Written; keepalived reloaded (its PID).
    Reloaded(u32),
    /// Written; keepalived is not running (no pidfile, or its PID is not a live keepalived).
    WrittenNotRunning,
}

/// Writes the file when its text changes and reloads keepalived.
pub struct Keepalived {
    settings: KeepalivedSettings,
    me: NodeId,
    last: Option<String>,
}

impl Keepalived {
    pub fn new(settings: KeepalivedSettings, me: NodeId) -> Self {
        Keepalived { settings, me, last: None }
    }

    /// The text this router's keepalived should run now.
    pub fn text(&self, state: &crate::state::State) -> Result<Option<String>, RenderError> {
        let list = instances(state, &self.me, &self.settings.default_interface);
        // A router that never had an address writes nothing; one that had keeps a file with no
        // instance (keepalived then drops the address).
        if list.is_empty() && self.last.is_none() && !self.settings.conf.exists() {
            return Ok(None);
        }
        render::render(&list, &self.settings.notify).map(Some)
    }

    /// Writes `text` if it differs from the file and reloads keepalived. Blocking (small file).
    pub fn apply(&mut self, text: &str) -> Result<Synced, VrrpError> {
        let current = std::fs::read_to_string(&self.settings.conf).ok();
        if current.as_deref() == Some(text) {
            self.last = Some(text.to_string());
            return Ok(Synced::Unchanged);
        }
        write_atomic(&self.settings.conf, text)
            .map_err(|source| VrrpError::Write { path: self.settings.conf.display().to_string(), source })?;
        self.last = Some(text.to_string());
        Ok(match keepalived_pid(&self.settings.pidfile) {
            Some(pid) if reload(pid) => Synced::Reloaded(pid),
            _ => Synced::WrittenNotRunning,
        })
    }
}

/// Writes through a temporary file in the same directory and a rename (keepalived never reads
/// half a file). Mode 0644: no secrets in it.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// PURE: the PID in a pidfile's text.
pub fn parse_pidfile(text: &str) -> Option<u32> {
    text.trim().parse::<u32>().ok().filter(|p| *p > 1)
}

/// The PID in `pidfile` if it is a live process called `keepalived` (`/proc/PID/comm`).
fn keepalived_pid(pidfile: &Path) -> Option<u32> {
    let pid = parse_pidfile(&std::fs::read_to_string(pidfile).ok()?)?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "keepalived").then_some(pid)
}

/// SIGHUP: keepalived re-reads its configuration.
fn reload(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill(2) with a PID just checked to be a live keepalived (read from its pidfile).
    unsafe { libc::kill(pid, libc::SIGHUP) == 0 }
}

/// Starts the task that keeps keepalived's configuration current: after every state change,
/// renders this router's instances and writes/reloads when the text changed.
pub fn start(cluster: ClusterHandle, settings: KeepalivedSettings) {
    let me = cluster.node_id.clone();
    let mut versions = cluster.versions();
    tokio::spawn(async move {
        let keepalived = std::sync::Arc::new(std::sync::Mutex::new(Keepalived::new(settings, me)));
        let mut failed_text: Option<String> = None;
        loop {
            let k = keepalived.clone();
            let text = {
                let k = k.lock().unwrap_or_else(|e| e.into_inner());
                cluster.read(|s| k.text(s))
            };
            match text {
                Ok(Some(text)) => {
                    let changed = k.lock().unwrap_or_else(|e| e.into_inner()).last.as_deref() != Some(text.as_str());
                    if changed && failed_text.as_deref() != Some(text.as_str()) {
                        let t = text.clone();
                        let done = tokio::task::spawn_blocking(move || k.lock().unwrap_or_else(|e| e.into_inner()).apply(&t)).await;
                        match done {
                            Ok(Ok(Synced::Unchanged)) => failed_text = None,
                            Ok(Ok(Synced::Reloaded(pid))) => {
                                failed_text = None;
                                log::info!("vrrp: keepalived configuration written; keepalived (pid {pid}) reloaded");
                            }
                            Ok(Ok(Synced::WrittenNotRunning)) => {
                                failed_text = None;
                                log::warn!("vrrp: keepalived configuration written, but keepalived is not running (no live keepalived in its pidfile)");
                            }
                            Ok(Err(e)) => {
                                log::error!("vrrp: {e}");
                                failed_text = Some(text);
                            }
                            Err(e) => log::error!("vrrp: the writer failed: {e}"),
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => log::error!("vrrp: {e}"),
            }
            if versions.changed().await.is_err() {
                break;
            }
        }
    });
}

/// The config a notify names, checked.
pub fn parse_config(name: &str) -> Result<ConfigName, String> {
    ConfigName::parse("config", name).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_pidfiles() {
        assert_eq!("MASTER".parse::<VrrpState>(), Ok(VrrpState::Master));
        assert_eq!("BACKUP".parse::<VrrpState>(), Ok(VrrpState::Backup));
        assert_eq!("FAULT".parse::<VrrpState>(), Ok(VrrpState::Fault));
        assert_eq!("MASTER_RX_LOWER_PRI".parse::<VrrpState>(), Ok(VrrpState::MasterRxLowerPri));
        assert_eq!(VrrpState::MasterRxLowerPri.as_str(), "MASTER_RX_LOWER_PRI");
        assert!("master".parse::<VrrpState>().is_err());
        assert_eq!(parse_pidfile("1234\n"), Some(1234));
        for bad in ["", "x", "-5", "1", "0", "12 34"] {
            assert_eq!(parse_pidfile(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_only_changes_and_never_signals_a_stranger() {
        let dir = std::env::temp_dir().join(format!("wgc-vrrp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = KeepalivedSettings {
            conf: dir.join("keepalived.conf"),
            // Our own PID is not a keepalived: never signalled.
            pidfile: dir.join("keepalived.pid"),
            default_interface: "eth0".into(),
            notify: NotifyCommand { exe: "/usr/sbin/wgclusterd".into(), uci_config: "/etc/config/wgcluster".into() },
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&settings.pidfile, format!("{}\n", std::process::id())).unwrap();
        let mut k = Keepalived::new(settings.clone(), NodeId::parse("n", "r1").unwrap());
        let (s, ..) = crate::wg::desired::bench_state(1);
        assert_eq!(k.text(&s).unwrap(), None, "no address, no file: nothing written");
        assert_eq!(k.apply("a\n").unwrap(), Synced::WrittenNotRunning);
        assert_eq!(std::fs::read_to_string(&settings.conf).unwrap(), "a\n");
        assert_eq!(k.apply("a\n").unwrap(), Synced::Unchanged);
        assert!(k.text(&s).unwrap().is_some(), "a file exists: it is kept current (no instance)");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
