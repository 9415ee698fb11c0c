//! The OS side of the userspace data plane: every raw system call the supervisor makes, and all
//! of its `unsafe`. The child's isolation before `exec` (its own session, SIGHUP ignored, the
//! network namespace, the private mount namespace), signalling and reaping children, and reading
//! process facts (`/proc/PID/stat`, `SO_PEERCRED`, `fstat`).
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

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The socket directory wireguard-go (and boringtun) hard-code.
pub const DEFAULT_UAPI_DIR: &str = "/var/run/wireguard";

/// Makes `cmd`'s child, between fork and exec: a session of its own with SIGHUP ignored, inside
/// the network namespace `netns_fd` (if any), and, when `bind_source` is given, in a private
/// mount namespace with `bind_source` bind-mounted over `/var/run/wireguard` (see the module doc).
pub(super) fn isolate_child(cmd: &mut Command, netns_fd: Option<RawFd>, bind_source: Option<CString>) {
    let target = c"/var/run/wireguard";
    // SAFETY: the closure runs in the forked child before exec and only makes raw system
    // calls (setsid, signal, setns, unshare, mount) on data prepared before the fork; it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // A session of its own: signals to the daemon's process group and a terminal
            // hang-up do not reach the data plane (see the module doc).
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
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
                if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::mount(src.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Whether writing to `fd` fails with EPIPE (which kills a Go program writing to fd 1 or 2) once
/// the daemon is gone: a pipe or a socket. A closed descriptor counts too.
pub(super) fn breaks_without_reader(fd: libc::c_int) -> bool {
    // SAFETY: fstat(2) into a zeroed stat buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return true;
    }
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
}

/// Start time (field 22 of `/proc/PID/stat`) of a live process; `None` when the PID is gone or a
/// zombie. PID plus start time names one process, whatever reuses the PID later.
pub fn live_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = after_comm.split_whitespace();
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// PID of the process that listens on the other end of a connected Unix socket (`SO_PEERCRED`:
/// the credentials it had when it called `listen`).
pub fn peer_pid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt(2) into a ucred we own, with its size.
    let rc = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, (&mut cred as *mut libc::ucred).cast(), &mut len)
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

/// Whether `dir` is something other than the hard-coded socket directory.
pub(super) fn needs_private_mount(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(dir) != canon(Path::new(DEFAULT_UAPI_DIR))
}

/// SIGTERM to every child, wait up to `timeout` for all of them together, then SIGKILL the rest
/// and reap them. Only children we hold (not yet reaped) are signalled.
pub(super) fn terminate(children: &mut [(String, Child)], timeout: Duration) {
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

/// The interface's index in this network namespace (`if_nametoindex`); `None` when there is no
/// such interface. A re-created interface (a new wireguard-go `tun`, a new kernel link) gets a
/// new index: part of the usage epoch (`usage::collect`).
pub fn interface_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`; empty when unreadable): changes with every
/// reboot, when interface indexes may repeat.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn default_dir_needs_no_mount_namespace() {
        assert!(!needs_private_mount(Path::new(DEFAULT_UAPI_DIR)));
        assert!(needs_private_mount(Path::new("/tmp/some-other-uapi-dir")));
    }

    #[test]
    fn pipes_and_sockets_break_without_a_reader() {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(breaks_without_reader(fds[1]));
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        let path = std::env::temp_dir().join(format!("wg-sup-out-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        assert!(!breaks_without_reader(file.as_raw_fd()));
        let _ = std::fs::remove_file(&path);
        let null = File::open("/dev/null").unwrap();
        assert!(!breaks_without_reader(null.as_raw_fd()));
        assert!(breaks_without_reader(-1));
    }

    #[test]
    fn peer_pid_names_the_listener() {
        let dir = std::env::temp_dir().join(format!("wg-sup-peercred-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("x.sock");
        let _ = std::fs::remove_file(&path);
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let stream = UnixStream::connect(&path).unwrap();
        assert_eq!(peer_pid(&stream), Some(std::process::id()));
        assert!(live_start_time(std::process::id()).is_some());
        assert!(live_start_time(u32::MAX).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Nice value of the reconciler thread: data-plane programming is background work that must not
/// take CPU from Raft heartbeats, votes and the API on a busy router (#13).
pub const RECONCILER_NICE: i32 = 5;

/// Sets the calling thread's own nice value. On Linux the nice value is per thread and
/// `setpriority(PRIO_PROCESS, 0)` acts on the calling thread only (setpriority(2), NOTES). Not
/// `gettid()`: the static musl build crashed in it. Raising the value needs no privilege.
pub fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod nice_tests {
    use super::*;

    #[test]
    fn a_thread_lowers_only_its_own_priority() {
        // SAFETY (all three): getpriority takes plain integers.
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let inside = std::thread::spawn(|| {
            set_thread_nice(RECONCILER_NICE).unwrap();
            // SAFETY: see above.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        })
        .join()
        .unwrap();
        assert_eq!(inside, RECONCILER_NICE);
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before, "the process keeps its priority");
    }
}
