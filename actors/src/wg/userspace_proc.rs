//! The userspace data-plane supervisor (the policy: what runs, restarts, backoff; every raw OS
//! call it makes is in `userspace_os.rs`): one `wireguard-go -f IFACE` child per interface
//! (`WG_PROCESS_FOREGROUND=1`), its PID kept, restarted by [`UserspaceSupervisor::supervise`]
//! when it died (with backoff when it keeps dying), stopped with SIGTERM then SIGKILL after a
//! bound, and every child stopped when the supervisor is dropped. It only ever signals children
//! it started and has not reaped yet, so a PID it signals can never belong to someone else.
//! Where the UAPI socket goes (and why a private mount namespace): see `userspace_os.rs`.
//!
//! ## Outliving the daemon
//! The data plane must keep forwarding while the daemon restarts (kernel interfaces do), so a
//! child is made to survive its parent:
//! - it runs in a session (and process group) of its own (`setsid` in `pre_exec`): a SIGTERM or
//!   SIGINT sent to the daemon's process group (a service manager, `kill -- -PGID`, Ctrl-C in a
//!   terminal) does not reach it, and it has no controlling terminal whose hang-up could SIGHUP
//!   it; SIGHUP is ignored as well (Go keeps an inherited SIG_IGN for SIGHUP);
//! - its stdout (wireguard-go's log; `LOG_LEVEL` defaults to `error`) and stderr are the daemon's
//!   own only when those are a file, a terminal or `/dev/null`. A pipe or a socket (procd's log
//!   pipe, `wgclusterd run | logger`) loses its reader when the daemon exits, and Go kills a
//!   program whose write to fd 1 or 2 fails with EPIPE, so then they go to `uapi_dir/IFACE.log`
//!   (truncated at each start) instead;
//! - `PR_SET_PDEATHSIG` is not used (it would kill the child with its parent; it also fires when
//!   the *thread* that spawned the child exits, and callers spawn from short-lived threads).
//!
//! [`UserspaceSupervisor::detach_all`] (the daemon's shutdown) forgets the children without
//! signalling them; the next start finds their sockets answering and adopts them (nothing is
//! created, the diff is empty). [`UserspaceSupervisor::adopt`] records an adopted process by the
//! PID that listens on its socket (`SO_PEERCRED`) and start time: it is not our child (no
//! `waitpid`), so `supervise` notices its death through `/proc` — confirmed by its socket no
//! longer answering, so a wrong PID (a process that forked after `listen`) never causes a second
//! process — and starts a new child in its place. Failing that, the next full reconcile finds the
//! socket dead and starts one. An adopted process is never signalled: it is stopped by deleting
//! its socket (see `uapi.rs`).
//! `Drop` still stops every child it holds, unless `detach_all` was called: then a child started
//! afterwards (a reconcile racing the shutdown) is left running too.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::WgError;
use super::spec::validate_ifname;
use super::userspace_os::{breaks_without_reader, isolate_child, live_start_time, needs_private_mount, terminate};

pub use super::userspace_os::{peer_pid, DEFAULT_UAPI_DIR};

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

/// A process found running (started by an earlier daemon), watched through `/proc`.
struct Adopted {
    pid: u32,
    start_time: u64,
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
    /// Set by `detach_all`: `Drop` then leaves children running.
    detached: AtomicBool,
    /// Interfaces served by processes we did not start. Never locked together with `children`.
    adopted: Mutex<HashMap<String, Adopted>>,
}

impl UserspaceSupervisor {
    pub fn new(config: SupervisorConfig) -> Self {
        UserspaceSupervisor {
            config,
            children: Mutex::new(HashMap::new()),
            detached: AtomicBool::new(false),
            adopted: Mutex::new(HashMap::new()),
        }
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
        // A process we adopted is gone if we are asked to start one (its socket is dead).
        self.lock_adopted().remove(iface);
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

    /// Interfaces this supervisor is responsible for (running, adopted or waiting for a restart).
    pub fn interfaces(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.extend(self.lock_adopted().keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    fn lock_adopted(&self) -> MutexGuard<'_, HashMap<String, Adopted>> {
        self.adopted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the interface has a process of ours or an adopted one (or awaits a restart).
    pub fn knows(&self, iface: &str) -> bool {
        self.lock().contains_key(iface) || self.lock_adopted().contains_key(iface)
    }

    /// PID of the adopted process of an interface.
    pub fn adopted_pid(&self, iface: &str) -> Option<u32> {
        self.lock_adopted().get(iface).map(|a| a.pid)
    }

    /// Takes charge of a running process we did not start (found by its answering socket;
    /// `pid` from `SO_PEERCRED`): from now on `supervise` restarts the interface when it dies.
    /// Returns false (and records nothing) when we already run a process for it or `pid` is not
    /// alive.
    pub fn adopt(&self, iface: &str, pid: u32) -> bool {
        if validate_ifname(iface).is_err() || self.lock().contains_key(iface) {
            return false;
        }
        let Some(start_time) = live_start_time(pid) else { return false };
        let mut adopted = self.lock_adopted();
        if adopted.get(iface).is_some_and(|a| a.pid == pid && a.start_time == start_time) {
            return false;
        }
        log::info!("wg: adopted the running userspace data plane for {iface} (pid {pid})");
        adopted.insert(iface.to_string(), Adopted { pid, start_time });
        true
    }

    /// Adopted processes that are gone (their PID is dead or reused, and their socket no longer
    /// answers) become entries waiting for a restart. A socket that still answers means someone
    /// else serves the interface: it is no longer watched, and nothing is started.
    fn reap_adopted(&self, events: &mut Vec<SuperviseEvent>) {
        let gone: Vec<(String, u32)> = {
            let mut adopted = self.lock_adopted();
            let dead: Vec<(String, u32)> =
                adopted.iter().filter(|(_, a)| live_start_time(a.pid) != Some(a.start_time)).map(|(i, a)| (i.clone(), a.pid)).collect();
            for (iface, _) in &dead {
                adopted.remove(iface);
            }
            dead
        };
        for (iface, pid) in gone {
            if UnixStream::connect(self.socket_path(&iface)).is_ok() {
                log::info!("wg: {iface} is served by another process than pid {pid}; no longer watching it");
                continue;
            }
            log::warn!("wg: adopted userspace data plane for {iface} (pid {pid}) is gone");
            events.push(SuperviseEvent::Died { iface: iface.clone(), pid, status: "adopted process exited".into() });
            let now = Instant::now();
            self.lock().entry(iface).or_insert(Managed { child: None, started: now, quick_failures: 1, next_attempt: now });
        }
    }

    /// Checks every child; restarts the dead ones (immediately after a long run, with
    /// exponential backoff up to 30 s when they keep dying). Call it periodically. A restarted
    /// interface is empty: reconcile it after a `Restarted` event.
    pub fn supervise(&self) -> Vec<SuperviseEvent> {
        let mut events = Vec::new();
        self.reap_adopted(&mut events);
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
        // An adopted process is not ours to signal: forgotten here, stopped by the caller
        // deleting its socket.
        self.lock_adopted().remove(iface);
        let managed = self.lock().remove(iface);
        let Some(Managed { child: Some(child), .. }) = managed else {
            return Ok(false);
        };
        let mut list = vec![(iface.to_string(), child)];
        terminate(&mut list, self.config.stop_timeout);
        self.remove_stale_socket(iface);
        Ok(true)
    }

    /// Lets go of every child without signalling it: the processes keep running (and forwarding)
    /// after this supervisor and the daemon are gone; the next start adopts them through their
    /// sockets. From now on `Drop` detaches instead of stopping. Returns `(iface, pid)` of the
    /// processes left running. Used by the daemon's shutdown.
    pub fn detach_all(&self) -> Vec<(String, u32)> {
        self.detached.store(true, Ordering::SeqCst);
        self.lock_adopted().clear();
        let drained: Vec<(String, Managed)> = self.lock().drain().collect();
        let mut left = Vec::new();
        for (iface, m) in drained {
            let Some(mut child) = m.child else { continue };
            // Dropping a `Child` neither signals nor waits for the process.
            if let Ok(None) = child.try_wait() {
                log::info!("wg: leaving the userspace data plane for {iface} running (pid {})", child.id());
                left.push((iface, child.id()));
            }
        }
        left.sort();
        left
    }

    /// Whether `detach_all` was called.
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::SeqCst)
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
    /// leaves it behind), and the output file of the process we stopped (if any).
    fn remove_stale_socket(&self, iface: &str) {
        let path = self.socket_path(iface);
        if path.exists() && UnixStream::connect(&path).is_err() {
            let _ = std::fs::remove_file(&path);
        }
        let _ = std::fs::remove_file(self.config.uapi_dir.join(format!("{iface}.log")));
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

        let (stdout, stderr) = self.child_output(iface)?;
        let mut cmd = Command::new(&self.config.bin);
        cmd.arg("-f")
            .arg(iface)
            .env("WG_PROCESS_FOREGROUND", "1")
            .env("LOG_LEVEL", &self.config.log_level)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        isolate_child(&mut cmd, netns_fd, bind_source);
        let child = cmd.spawn().map_err(|e| perr(format!("cannot start {} -f {iface}: {e}", self.config.bin.display())))?;
        drop(netns);
        Ok(child)
    }
}

impl Drop for UserspaceSupervisor {
    fn drop(&mut self) {
        if self.is_detached() {
            self.detach_all();
        } else {
            self.stop_all();
        }
    }
}

impl UserspaceSupervisor {
    /// stdout and stderr for a child: the daemon's own when they cannot break under a process
    /// that outlives the daemon (a file, a terminal, `/dev/null`), else `uapi_dir/IFACE.log`.
    fn child_output(&self, iface: &str) -> Result<(Stdio, Stdio), WgError> {
        if !breaks_without_reader(libc::STDOUT_FILENO) && !breaks_without_reader(libc::STDERR_FILENO) {
            return Ok((Stdio::inherit(), Stdio::inherit()));
        }
        let perr = |message: String| WgError::Process { iface: iface.to_string(), message };
        let path = self.config.uapi_dir.join(format!("{iface}.log"));
        let file = File::create(&path).map_err(|e| perr(format!("cannot create {}: {e}", path.display())))?;
        let copy = file.try_clone().map_err(|e| perr(format!("cannot duplicate {}: {e}", path.display())))?;
        log::debug!("wg: output of the {iface} data plane goes to {} (the daemon's is a pipe or socket)", path.display());
        Ok((Stdio::from(file), Stdio::from(copy)))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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

    /// `detach_all` leaves the child running (in a session of its own, so signals to our process
    /// group do not reach it) and `Drop` afterwards does not stop it.
    #[test]
    fn detached_children_outlive_the_supervisor() {
        let root = unsafe { libc::geteuid() } == 0;
        if !root && !Path::new(DEFAULT_UAPI_DIR).is_dir() {
            eprintln!("SKIPPED: needs root or an existing {DEFAULT_UAPI_DIR}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("wg-sup-detach-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let script = dir.join("fake-wg.sh");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let sup = UserspaceSupervisor::new(SupervisorConfig::new(&script, DEFAULT_UAPI_DIR));
        let (pid, _) = sup.start("wgdetach0").unwrap();
        let p = pid as libc::pid_t;
        // Its own session and process group.
        let deadline = Instant::now() + Duration::from_secs(5);
        while unsafe { libc::getsid(p) } != p {
            assert!(Instant::now() < deadline, "child {pid} is not a session leader");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(unsafe { libc::getpgid(p) }, p);
        assert_ne!(unsafe { libc::getsid(0) }, p);
        assert_eq!(sup.detach_all(), vec![("wgdetach0".to_string(), pid)]);
        assert!(sup.is_detached());
        assert!(sup.pid("wgdetach0").is_none());
        drop(sup);
        std::thread::sleep(Duration::from_millis(50));
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(cmdline.contains("sleep"), "detached child {pid} was stopped: {cmdline:?}");
        // Still our (un-reaped) child: kill and reap it by PID.
        unsafe {
            libc::kill(p, libc::SIGKILL);
            libc::waitpid(p, std::ptr::null_mut(), 0);
        }
        let _ = std::fs::remove_file(Path::new(DEFAULT_UAPI_DIR).join("wgdetach0.log"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A process we did not start is adopted by PID, watched through /proc, and replaced by a
    /// child of ours when it dies (its socket is dead).
    #[test]
    fn adopted_processes_are_restarted_when_they_die() {
        let root = unsafe { libc::geteuid() } == 0;
        if !root && !Path::new(DEFAULT_UAPI_DIR).is_dir() {
            eprintln!("SKIPPED: needs root or an existing {DEFAULT_UAPI_DIR}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("wg-sup-adopt-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let script = dir.join("fake-wg.sh");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let sup = UserspaceSupervisor::new(SupervisorConfig::new(&script, DEFAULT_UAPI_DIR));
        // "Left running by an earlier daemon": started by the test, not by the supervisor.
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        let other_pid = other.id();
        assert!(sup.adopt("wgadopt0", other_pid));
        assert!(!sup.adopt("wgadopt0", other_pid), "adopting twice");
        assert!(!sup.adopt("wgadopt1", u32::MAX), "a dead PID is not adopted");
        assert!(sup.knows("wgadopt0") && !sup.knows("wgadopt1"));
        assert_eq!(sup.adopted_pid("wgadopt0"), Some(other_pid));
        assert_eq!(sup.pid("wgadopt0"), None, "not our child");
        assert!(sup.supervise().is_empty());
        other.kill().unwrap();
        other.wait().unwrap();
        let events = sup.supervise();
        assert!(matches!(&events[0], SuperviseEvent::Died { pid, .. } if *pid == other_pid), "{events:?}");
        let Some(SuperviseEvent::Restarted { pid: new_pid, .. }) = events.get(1) else { panic!("no restart: {events:?}") };
        assert_eq!(sup.pid("wgadopt0"), Some(*new_pid));
        assert_eq!(sup.adopted_pid("wgadopt0"), None);
        assert!(!sup.adopt("wgadopt0", std::process::id()), "an interface we run is not adopted");
        // Stopping an adopted interface only forgets it (the caller deletes its socket).
        let mut third = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(sup.adopt("wgadopt2", third.id()));
        assert!(!sup.stop("wgadopt2").unwrap());
        assert!(!sup.knows("wgadopt2"));
        assert!(matches!(third.try_wait(), Ok(None)), "an adopted process was signalled");
        third.kill().unwrap();
        third.wait().unwrap();
        drop(sup);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
