//! The userspace data-plane supervisor: one `wireguard-go -f IFACE` child per interface
//! (`WG_PROCESS_FOREGROUND=1`), its PID kept, restarted by [`UserspaceSupervisor::supervise`]
//! when it died (with backoff when it keeps dying), stopped with SIGTERM then SIGKILL after a
//! bound, and every child stopped when the supervisor is dropped. It only ever signals children
//! it started and has not reaped yet, so a PID it signals can never belong to someone else.
//!
//! ## Where the UAPI socket goes
//! wireguard-go (Debian's 0.0.20220316 and upstream alike) always listens on
//! `/var/run/wireguard/IFACE.sock`: the directory is a compile-time constant, and the only
//! environment variables it reads are `WG_PROCESS_FOREGROUND`, `WG_TUN_FD`, `WG_UAPI_FD` and
//! `LOG_LEVEL` (`WG_UAPI_FD` does not help: it still watches the socket path under
//! `/var/run/wireguard` with inotify). `ip netns exec` does not help either: it gives the command
//! a private mount namespace but only re-mounts `/sys` and bind-mounts `/etc/netns/NAME/*` over
//! `/etc`, so every namespace would share `/var/run/wireguard` and two routers' `wg0.sock` clash.
//!
//! So when the configured `uapi_dir` is not `/var/run/wireguard` itself, the child is started in
//! its own mount namespace (`unshare(CLONE_NEWNS)`, `/` made private recursively) with `uapi_dir`
//! bind-mounted over `/var/run/wireguard`, all in `pre_exec` before `exec`. The socket wireguard-go
//! creates there is a file in `uapi_dir`, reachable from the daemon at `uapi_dir/IFACE.sock`
//! (a Unix socket is found by inode, whatever path leads to it). Nothing in the daemon's own mount
//! namespace changes. This needs CAP_SYS_ADMIN, which the daemon has as root on OpenWrt; with the
//! default `uapi_dir` no namespace is made. An optional `netns` (a `/var/run/netns/NAME` file) is
//! entered with `setns` in the same `pre_exec`, so the TUN device appears in that namespace: this
//! is how the network lab runs one "router" per namespace from a single test process.
//!
//! Children inherit stdout/stderr (wireguard-go logs there; `LOG_LEVEL` defaults to `error`).
//! `PR_SET_PDEATHSIG` is deliberately not used: it fires when the *thread* that spawned the child
//! exits, and callers spawn from short-lived blocking-pool threads.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::backend::WgError;
use super::spec::validate_ifname;

/// The socket directory wireguard-go (and boringtun) hard-code.
pub const DEFAULT_UAPI_DIR: &str = "/var/run/wireguard";

/// A child that lived at least this long before dying resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// Longest wait between restarts of a process that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to run the userspace data plane.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    /// The binary (`wg_userspace_bin`, default `wireguard-go`).
    pub bin: PathBuf,
    /// Where the UAPI sockets must appear (`uapi_dir`).
    pub uapi_dir: PathBuf,
    /// Network namespace file to start children in (`None`: the daemon's own).
    pub netns: Option<PathBuf>,
    /// `LOG_LEVEL` for wireguard-go: `verbose`, `error` or `silent`.
    pub log_level: String,
    /// How long `stop` waits after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
}

impl SupervisorConfig {
    pub fn new(bin: impl Into<PathBuf>, uapi_dir: impl Into<PathBuf>) -> Self {
        SupervisorConfig {
            bin: bin.into(),
            uapi_dir: uapi_dir.into(),
            netns: None,
            log_level: "error".into(),
            stop_timeout: Duration::from_secs(3),
        }
    }
}

/// What [`UserspaceSupervisor::supervise`] noticed and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SuperviseEvent {
    /// The process had exited (`status` as text); it will be restarted (now or after backoff).
    Died { iface: String, pid: u32, status: String },
    /// A new process runs for the interface: it has no configuration, reconcile it.
    Restarted { iface: String, pid: u32 },
    /// Starting it again failed; retried by a later `supervise` call.
    RestartFailed { iface: String, error: String },
}

struct Managed {
    child: Option<Child>,
    started: Instant,
    quick_failures: u32,
    next_attempt: Instant,
}

/// Starts, watches and stops one userspace WireGuard process per interface.
pub struct UserspaceSupervisor {
    config: SupervisorConfig,
    children: Mutex<HashMap<String, Managed>>,
}

impl UserspaceSupervisor {
    pub fn new(config: SupervisorConfig) -> Self {
        UserspaceSupervisor { config, children: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &SupervisorConfig {
        &self.config
    }

    /// Socket path of an interface: `uapi_dir/IFACE.sock`.
    pub fn socket_path(&self, iface: &str) -> PathBuf {
        self.config.uapi_dir.join(format!("{iface}.sock"))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Managed>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the interface's process unless one is already running. Returns its PID and whether
    /// it was started by this call.
    pub fn start(&self, iface: &str) -> Result<(u32, bool), WgError> {
        validate_ifname(iface)?;
        let mut children = self.lock();
        if let Some(m) = children.get_mut(iface) {
            if let Some(child) = m.child.as_mut() {
                if let Ok(None) = child.try_wait() {
                    return Ok((child.id(), false));
                }
            }
        }
        let child = self.spawn(iface)?;
        let pid = child.id();
        let now = Instant::now();
        let entry =
            children.entry(iface.to_string()).or_insert(Managed { child: None, started: now, quick_failures: 0, next_attempt: now });
        entry.child = Some(child);
        entry.started = now;
        log::info!("wg: started userspace data plane for {iface} (pid {pid})");
        Ok((pid, true))
    }

    /// Waits until the interface's UAPI socket accepts connections, failing early when the
    /// process exits. Bounded by `timeout`.
    pub fn wait_ready(&self, iface: &str, timeout: Duration) -> Result<(), WgError> {
        let path = self.socket_path(iface);
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if UnixStream::connect(&path).is_ok() {
                return Ok(());
            }
            {
                let mut children = self.lock();
                let exited = match children.get_mut(iface).and_then(|m| m.child.as_mut()) {
                    Some(child) => child.try_wait().ok().flatten().map(|s| s.to_string()),
                    None => Some("not running".to_string()),
                };
                if let Some(status) = exited {
                    return Err(WgError::Process {
                        iface: iface.to_string(),
                        message: format!("exited before its UAPI socket appeared ({status})"),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(WgError::Timeout(format!("UAPI socket {} did not come up within {timeout:?}", path.display())));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// PID of the running process of an interface.
    pub fn pid(&self, iface: &str) -> Option<u32> {
        let mut children = self.lock();
        let child = children.get_mut(iface)?.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// Interfaces this supervisor is responsible for (running or waiting for a restart).
    pub fn interfaces(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Checks every child; restarts the dead ones (immediately after a long run, with
    /// exponential backoff up to 30 s when they keep dying). Call it periodically. A restarted
    /// interface is empty: reconcile it after a `Restarted` event.
    pub fn supervise(&self) -> Vec<SuperviseEvent> {
        let mut events = Vec::new();
        let mut children = self.lock();
        let now = Instant::now();
        for (iface, m) in children.iter_mut() {
            if let Some(child) = m.child.as_mut() {
                match child.try_wait() {
                    Ok(None) => continue,
                    Ok(Some(status)) => {
                        let pid = child.id();
                        m.child = None;
                        if m.started.elapsed() >= HEALTHY_RUN {
                            m.quick_failures = 0;
                        }
                        m.quick_failures += 1;
                        m.next_attempt = now + backoff(m.quick_failures);
                        log::warn!("wg: userspace data plane for {iface} (pid {pid}) died: {status}");
                        events.push(SuperviseEvent::Died { iface: iface.clone(), pid, status: status.to_string() });
                    }
                    Err(e) => {
                        log::warn!("wg: cannot check userspace process of {iface}: {e}");
                        continue;
                    }
                }
            }
            if m.child.is_none() && now >= m.next_attempt {
                match self.spawn(iface) {
                    Ok(child) => {
                        let pid = child.id();
                        m.child = Some(child);
                        m.started = Instant::now();
                        log::info!("wg: restarted userspace data plane for {iface} (pid {pid})");
                        events.push(SuperviseEvent::Restarted { iface: iface.clone(), pid });
                    }
                    Err(e) => {
                        m.quick_failures += 1;
                        m.next_attempt = now + backoff(m.quick_failures);
                        events.push(SuperviseEvent::RestartFailed { iface: iface.clone(), error: e.to_string() });
                    }
                }
            }
        }
        events
    }

    /// Stops the interface's process (SIGTERM, SIGKILL after `stop_timeout`) and forgets it.
    /// Returns whether a process was running. Unknown interfaces are a no-op.
    pub fn stop(&self, iface: &str) -> Result<bool, WgError> {
        let managed = self.lock().remove(iface);
        let Some(Managed { child: Some(child), .. }) = managed else {
            return Ok(false);
        };
        let mut list = vec![(iface.to_string(), child)];
        terminate(&mut list, self.config.stop_timeout);
        self.remove_stale_socket(iface);
        Ok(true)
    }

    /// Stops every child (used by `Drop`).
    pub fn stop_all(&self) {
        let drained: Vec<(String, Managed)> = self.lock().drain().collect();
        let mut list: Vec<(String, Child)> = drained.into_iter().filter_map(|(iface, m)| m.child.map(|c| (iface, c))).collect();
        let names: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
        terminate(&mut list, self.config.stop_timeout);
        for name in names {
            self.remove_stale_socket(&name);
        }
    }

    /// Deletes `uapi_dir/IFACE.sock` if nothing listens on it any more (a SIGKILLed process
    /// leaves it behind).
    fn remove_stale_socket(&self, iface: &str) {
        let path = self.socket_path(iface);
        if path.exists() && UnixStream::connect(&path).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }

    fn spawn(&self, iface: &str) -> Result<Child, WgError> {
        let perr = |message: String| WgError::Process { iface: iface.to_string(), message };
        std::fs::create_dir_all(&self.config.uapi_dir)
            .map_err(|e| perr(format!("cannot create uapi_dir {}: {e}", self.config.uapi_dir.display())))?;
        let bind_source = if needs_private_mount(&self.config.uapi_dir) {
            std::fs::create_dir_all(DEFAULT_UAPI_DIR).map_err(|e| perr(format!("cannot create {DEFAULT_UAPI_DIR}: {e}")))?;
            let dir = std::fs::canonicalize(&self.config.uapi_dir).map_err(|e| perr(format!("uapi_dir: {e}")))?;
            Some(CString::new(dir.as_os_str().as_bytes()).map_err(|_| perr("uapi_dir contains a NUL byte".into()))?)
        } else {
            None
        };
        let netns = match &self.config.netns {
            Some(path) => Some(File::open(path).map_err(|e| perr(format!("cannot open netns {}: {e}", path.display())))?),
            None => None,
        };
        let netns_fd = netns.as_ref().map(|f| f.as_raw_fd());

        let mut cmd = Command::new(&self.config.bin);
        cmd.arg("-f").arg(iface).env("WG_PROCESS_FOREGROUND", "1").env("LOG_LEVEL", &self.config.log_level).stdin(Stdio::null());
        let target = c"/var/run/wireguard";
        // SAFETY: the closure runs in the forked child before exec and only makes raw system
        // calls (setns, unshare, mount) on data prepared before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(fd) = netns_fd {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(src) = &bind_source {
                    if libc::unshare(libc::CLONE_NEWNS) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let root = c"/";
                    if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null())
                        != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::mount(src.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| perr(format!("cannot start {} -f {iface}: {e}", self.config.bin.display())))?;
        drop(netns);
        Ok(child)
    }
}

impl Drop for UserspaceSupervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Whether `dir` is something other than the hard-coded socket directory.
fn needs_private_mount(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(dir) != canon(Path::new(DEFAULT_UAPI_DIR))
}

/// Delay before the next restart after `quick_failures` short-lived runs in a row:
/// 0 for the first, then 1 s, 2 s, 4 s, … up to 30 s.
fn backoff(quick_failures: u32) -> Duration {
    if quick_failures <= 1 {
        return Duration::ZERO;
    }
    let secs = 1u64 << (quick_failures - 2).min(6);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// SIGTERM to every child, wait up to `timeout` for all of them together, then SIGKILL the rest
/// and reap them. Only children we hold (not yet reaped) are signalled.
fn terminate(children: &mut [(String, Child)], timeout: Duration) {
    for (iface, child) in children.iter_mut() {
        if let Ok(None) = child.try_wait() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: plain kill(2) on the PID of our own un-reaped child.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
                log::info!("wg: stopping userspace data plane for {iface} (pid {pid})");
            }
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let mut running = 0;
        for (_, c) in children.iter_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                running += 1;
            }
        }
        if running == 0 {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (iface, child) in children.iter_mut() {
        if let Ok(None) = child.try_wait() {
            log::warn!("wg: {iface} (pid {}) ignored SIGTERM; killing it", child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(6), Duration::from_secs(16));
        assert_eq!(backoff(7), Duration::from_secs(30));
        assert_eq!(backoff(100), Duration::from_secs(30));
    }

    #[test]
    fn default_dir_needs_no_mount_namespace() {
        assert!(!needs_private_mount(Path::new(DEFAULT_UAPI_DIR)));
        assert!(needs_private_mount(Path::new("/tmp/some-other-uapi-dir")));
    }

    /// A supervisor with a stand-in binary that exits at once: restart events and backoff, with
    /// no root and no wireguard-go needed.
    #[test]
    fn restarts_a_dead_child_and_stops_on_drop() {
        // The default socket dir needs no mount namespace; creating it needs root.
        let root = unsafe { libc::geteuid() } == 0;
        if !root && !Path::new(DEFAULT_UAPI_DIR).is_dir() {
            eprintln!("SKIPPED: needs root or an existing {DEFAULT_UAPI_DIR}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("wg-sup-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        // A stand-in that ignores `-f IFACE` and just lives until killed.
        let script = dir.join("fake-wg.sh");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let sup = UserspaceSupervisor::new(SupervisorConfig::new(&script, DEFAULT_UAPI_DIR));
        let (pid, started) = sup.start("wgtest0").unwrap();
        assert!(started);
        assert_eq!(sup.start("wgtest0").unwrap(), (pid, false));
        assert!(sup.supervise().is_empty());
        // Kill our own child behind the supervisor's back.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let new_pid = loop {
            let events = sup.supervise();
            if let Some(SuperviseEvent::Restarted { pid, .. }) = events.iter().find(|e| matches!(e, SuperviseEvent::Restarted { .. })) {
                break *pid;
            }
            assert!(Instant::now() < deadline, "no restart");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_ne!(new_pid, pid);
        assert_eq!(sup.pid("wgtest0"), Some(new_pid));
        assert!(!sup.stop("unknown0").unwrap());
        drop(sup);
        // The child was reaped by Drop: its /proc entry is gone (or not ours any more).
        let stat = std::fs::read_to_string(format!("/proc/{new_pid}/cmdline")).unwrap_or_default();
        assert!(!stat.contains("sleep"), "child {new_pid} still alive: {stat:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
