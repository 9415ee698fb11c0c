//! The network lab: Linux network namespaces as hosts ("routers", "clients"), joined by veth pairs
//! to one bridge that lives in its own namespace ("the internet"). Needs root.
//!
//! - Names are unique per lab: `wgl-<pid>-<n>-<prefix>-<host>` (the PID first, so a later run can
//!   recognise and delete the namespaces of a crashed run whose process is gone), so tests run in
//!   parallel, in one process or several.
//! - Each lab numbers its hosts inside `10.A.B.0/24` and offers a second `/24` for tunnels, with
//!   A/B derived from the PID and a per-process counter. Each lab is its own L2 island, so even a
//!   clash would not mix traffic; traffic only ever goes to these lab addresses.
//! - Every host has its own UAPI directory ([`Host::uapi_dir`]). Commands run through
//!   [`Host::spawn`] / [`Host::exec`] are started with `ip netns exec NS`, which already gives them
//!   a private (slave) mount namespace, and there the host's directory is bind-mounted over
//!   `/var/run/wireguard` before the command is exec'd: stock `wireguard-go` and `wg` then see only
//!   that host's sockets, and nothing leaks into the real `/var/run/wireguard`. Our own
//!   `UapiBackend` reaches the same sockets directly at `uapi_dir/IFACE.sock`, starting its
//!   wireguard-go with `netns = Host::netns_path()` and `uapi_dir = Host::uapi_dir()`.
//! - `Drop` (also while unwinding from a panic) kills every process the lab started — by PID and
//!   process group, only after checking the PID still belongs to the process it started — then
//!   deletes its namespaces by name and its temporary directory.
//!
//! [`ensure_prereqs`] installs missing Debian packages when running as root; under `CI=true`
//! a prerequisite that is still missing fails the test, it never silently skips.

use std::io::Read;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Commands the WireGuard lab needs, with the Debian package that ships each.
pub const WG_LAB_PREREQS: &[(&str, &str)] =
    &[("wireguard-go", "wireguard-go"), ("wg", "wireguard-tools"), ("ip", "iproute2"), ("ping", "iputils-ping")];

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
static PREREQ_LOCK: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `cmd` is on PATH (or in the sbin directories root normally has).
pub fn have_command(cmd: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]).any(|dir| Path::new(dir).join(cmd).is_file());
    found
}

/// [`ensure_prereqs_for`] with the WireGuard lab's packages.
pub fn ensure_prereqs() -> bool {
    ensure_prereqs_for(WG_LAB_PREREQS)
}

/// Makes sure we are root and every `(command, debian package)` is installed, installing
/// missing packages with apt-get. Returns true when the lab can run. When something is still
/// missing: panics under `CI=true`; otherwise prints a loud SKIPPED line and returns false.
pub fn ensure_prereqs_for(cmds: &[(&str, &str)]) -> bool {
    let _guard = PREREQ_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let missing = |cmds: &[(&str, &str)]| -> Vec<String> {
        let mut m: Vec<String> = cmds.iter().filter(|(c, _)| !have_command(c)).map(|(_, p)| p.to_string()).collect();
        m.dedup();
        m
    };
    let mut problems = Vec::new();
    if !is_root() {
        problems.push("not running as root".to_string());
    } else {
        let pkgs = missing(cmds);
        if !pkgs.is_empty() {
            eprintln!("lab: installing missing packages: {}", pkgs.join(" "));
            let install = |pkgs: &[String]| {
                Command::new("apt-get")
                    .args(["install", "-y", "--no-install-recommends"])
                    .args(pkgs)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            if !install(&pkgs) {
                let _ = Command::new("apt-get").arg("update").stdout(Stdio::null()).status();
                install(&pkgs);
            }
        }
        let still = missing(cmds);
        if !still.is_empty() {
            problems.push(format!("missing packages: {}", still.join(" ")));
        }
        if !Path::new("/dev/net/tun").exists() {
            problems.push("no /dev/net/tun".to_string());
        }
    }
    if problems.is_empty() {
        return true;
    }
    let msg = format!("network lab prerequisites: {}", problems.join("; "));
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg} (CI=true: failing, not skipping)");
    }
    eprintln!("SKIPPED (not under CI): {msg}");
    false
}

pub use crate::util::wait_until;

/// Field 22 of /proc/PID/stat: the process start time, to tell a PID from its reuse.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// PIDs of every process living in network namespace `ns` (`ip netns pids`; empty when it
/// cannot be listed).
pub fn ns_pids(ns: &str) -> Vec<libc::pid_t> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

fn sanitize(prefix: &str) -> String {
    let s: String = prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(16).collect();
    if s.is_empty() {
        "lab".into()
    } else {
        s
    }
}

/// Runs a command to completion, failing the test with its output when it fails.
fn run_ok(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("lab: cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "lab: {cmd} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ns_exists(name: &str) -> bool {
    Path::new("/var/run/netns").join(name).exists()
}

/// Kills the processes inside a namespace (by the PIDs `ip netns pids` lists) and deletes it.
fn delete_namespace(name: &str) {
    if !ns_exists(name) {
        return;
    }
    for pid in ns_pids(name) {
        // SAFETY: kill(2); the PID was just listed as living in our lab namespace.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).stderr(Stdio::null()).status();
}

/// Deletes namespaces and directories of earlier labs whose process no longer exists.
fn clean_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("wgl-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("lab: removing stale namespace {name} (pid {pid} is gone)");
            delete_namespace(&name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(lab_root()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

fn lab_root() -> PathBuf {
    std::env::temp_dir().join("wgcluster-lab")
}

struct Proc {
    pid: u32,
    start: Option<u64>,
    what: String,
}

struct HostRecord {
    ns: String,
    bridge_port: String,
}

struct LabInner {
    id: String,
    inet_ns: String,
    net: [u8; 2],
    dir: PathBuf,
    hosts: Mutex<Vec<HostRecord>>,
    procs: Mutex<Vec<Proc>>,
}

/// A set of namespaces joined by one bridge. See the module doc.
pub struct Lab {
    inner: Arc<LabInner>,
}

/// One namespace of a lab.
#[derive(Clone)]
pub struct Host {
    /// Short name given to `add_host`.
    pub name: String,
    /// Network namespace name (for `ip netns exec`, `ip -n`).
    pub ns: String,
    /// Underlay address (on `eth0`, in the lab's `/24`).
    pub addr: Ipv4Addr,
    index: u8,
    lab: Arc<LabInner>,
}

impl Lab {
    /// A new lab; `prefix` (usually the test's name) goes into every namespace name.
    /// Call [`ensure_prereqs`] first.
    pub fn new(prefix: &str) -> Lab {
        clean_stale_labs();
        let pid = std::process::id();
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("wgl-{pid}-{n}-{}", sanitize(prefix));
        // 10.A.B.0/24 with A in 64..=127 and B in 0..=255 from pid and counter.
        let key = pid.wrapping_mul(16).wrapping_add(n) & 0x3fff;
        let net = [64 + (key >> 8) as u8, (key & 0xff) as u8];
        let dir = lab_root().join(&id[4..]);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("lab dir {}: {e}", dir.display()));
        let inet_ns = format!("{id}-inet");
        let lab = Lab {
            inner: Arc::new(LabInner {
                id,
                inet_ns: inet_ns.clone(),
                net,
                dir,
                hosts: Mutex::new(Vec::new()),
                procs: Mutex::new(Vec::new()),
            }),
        };
        // From here on, Drop cleans up whatever was made.
        run_ok("ip", &["netns", "add", &inet_ns]);
        run_ok("ip", &["-n", &inet_ns, "link", "set", "lo", "up"]);
        run_ok("ip", &["-n", &inet_ns, "link", "add", "br0", "type", "bridge"]);
        run_ok("ip", &["-n", &inet_ns, "link", "set", "br0", "up"]);
        // /var/run/wireguard must exist as a mount point for the per-host bind mounts.
        let _ = std::fs::create_dir_all("/var/run/wireguard");
        lab
    }

    /// The lab's unique id (`wgl-<pid>-<n>-<prefix>`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The lab's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Underlay network of the lab (`10.A.B.0/24`).
    pub fn underlay(&self) -> (Ipv4Addr, u8) {
        let [a, b] = self.inner.net;
        (Ipv4Addr::new(10, a, b, 0), 24)
    }

    /// Address `host` in a `/24` reserved for tunnels of this lab (`10.A+64.B.host`).
    pub fn tunnel_addr(&self, host: u8) -> Ipv4Addr {
        let [a, b] = self.inner.net;
        Ipv4Addr::new(10, a + 64, b, host)
    }

    /// Adds a host namespace connected to the bridge, with `eth0` = `10.A.B.(index+1)/24`.
    pub fn add_host(&self, name: &str) -> Host {
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let index = u8::try_from(hosts.len() + 1).expect("at most 250 hosts per lab");
        assert!(index < 250, "at most 249 hosts per lab");
        let ns = format!("{}-{}", self.inner.id, sanitize(name));
        let bridge_port = format!("h{index}");
        let inet = &self.inner.inet_ns;
        run_ok("ip", &["netns", "add", &ns]);
        hosts.push(HostRecord { ns: ns.clone(), bridge_port: bridge_port.clone() });
        run_ok("ip", &["link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &bridge_port, "netns", inet]);
        run_ok("ip", &["-n", inet, "link", "set", &bridge_port, "master", "br0"]);
        run_ok("ip", &["-n", inet, "link", "set", &bridge_port, "up"]);
        let [a, b] = self.inner.net;
        let addr = Ipv4Addr::new(10, a, b, index);
        run_ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        run_ok("ip", &["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        run_ok("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        let host = Host { name: name.to_string(), ns, addr, index, lab: self.inner.clone() };
        std::fs::create_dir_all(host.uapi_dir()).unwrap_or_else(|e| panic!("uapi dir {}: {e}", host.uapi_dir().display()));
        host
    }

    /// A host behind a NAT (#16): `<name>-nat` joins the bridge like [`Lab::add_host`] and
    /// masquerades (`iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE`: Linux conntrack,
    /// whose filtering is address- and port-dependent — only replies from the address and port a
    /// mapping was made for are let back in) for `<name>`, a host on the private
    /// `192.168.77.0/24` behind it (`eth0` = `.2`, default route via the NAT's `.1`). Returns
    /// (NAT, inner host); the inner host's `addr` is its private address. Needs `iptables`.
    pub fn add_natted_host(&self, name: &str) -> (Host, Host) {
        let nat = self.add_host(&format!("{name}-nat"));
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let index = u8::try_from(hosts.len() + 1).expect("at most 250 hosts per lab");
        let ns = format!("{}-{}", self.inner.id, sanitize(name));
        run_ok("ip", &["netns", "add", &ns]);
        // No bridge port: the inner host hangs off the NAT only (deleting its namespace removes
        // the veth pair).
        hosts.push(HostRecord { ns: ns.clone(), bridge_port: String::new() });
        run_ok("ip", &["link", "add", "lan0", "netns", &nat.ns, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
        run_ok("ip", &["-n", &nat.ns, "addr", "add", "192.168.77.1/24", "dev", "lan0"]);
        run_ok("ip", &["-n", &nat.ns, "link", "set", "lan0", "up"]);
        run_ok("ip", &["netns", "exec", &nat.ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        run_ok("ip", &["netns", "exec", &nat.ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"]);
        run_ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        run_ok("ip", &["-n", &ns, "addr", "add", "192.168.77.2/24", "dev", "eth0"]);
        run_ok("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        run_ok("ip", &["-n", &ns, "route", "add", "default", "via", "192.168.77.1"]);
        let host = Host { name: name.to_string(), ns, addr: Ipv4Addr::new(192, 168, 77, 2), index, lab: self.inner.clone() };
        std::fs::create_dir_all(host.uapi_dir()).unwrap_or_else(|e| panic!("uapi dir {}: {e}", host.uapi_dir().display()));
        (nat, host)
    }

    /// Takes the host's cable out: its port on the bridge goes down.
    pub fn cut_link(&self, host: &Host) {
        run_ok("ip", &["-n", &self.inner.inet_ns, "link", "set", &format!("h{}", host.index), "down"]);
    }

    /// Plugs the host's cable back in.
    pub fn restore_link(&self, host: &Host) {
        run_ok("ip", &["-n", &self.inner.inet_ns, "link", "set", &format!("h{}", host.index), "up"]);
    }
}

impl Host {
    /// `/var/run/netns/NS`: give it to backends as their `netns`.
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.ns)
    }

    /// This host's UAPI socket directory (its `/var/run/wireguard`).
    pub fn uapi_dir(&self) -> PathBuf {
        self.lab.dir.join(&self.name).join("wireguard")
    }

    /// A private scratch directory of this host (config files, …).
    pub fn dir(&self) -> PathBuf {
        self.lab.dir.join(&self.name)
    }

    /// The command line that runs `cmd args` in this host: its netns, its `/var/run/wireguard`.
    fn command(&self, cmd: &str, args: &[&str]) -> Command {
        let script = format!("mount --bind '{}' /var/run/wireguard && exec \"$@\"", self.uapi_dir().display());
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, "sh", "-c", &script, "sh", cmd]).args(args).stdin(Stdio::null()).process_group(0);
        c
    }

    fn record(&self, child: &Child, what: String) {
        let pid = child.id();
        self.lab.procs.lock().unwrap_or_else(|e| e.into_inner()).push(Proc { pid, start: start_time(pid), what });
    }

    /// Starts `cmd args` in this host (its own process group); the lab kills it on drop.
    /// Its stdout/stderr go to the test's.
    pub fn spawn(&self, cmd: &str, args: &[&str]) -> Child {
        self.spawn_with(cmd, args, &[])
    }

    /// [`Host::spawn`] with extra environment variables.
    pub fn spawn_with(&self, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut c = self.command(cmd, args);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().unwrap_or_else(|e| panic!("lab: cannot spawn {cmd} in {}: {e}", self.ns));
        self.record(&child, format!("{cmd} {}", args.join(" ")));
        child
    }

    /// Stops a process started with [`Host::spawn`]: SIGTERM to its process group, SIGKILL
    /// after 3 s, then reaps it. Returns its exit status.
    pub fn stop(&self, child: &mut Child) -> Option<ExitStatus> {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let pgid = libc::pid_t::try_from(child.id()).ok()?;
        // SAFETY: kill(2) on the group of our own un-reaped child (group id = its PID).
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let mut status = None;
        wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            // SAFETY: as above.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            status = child.wait().ok();
        }
        status
    }

    /// Runs `cmd args` in this host to completion (at most 60 s) and returns its output.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Output {
        self.exec_timeout(cmd, args, Duration::from_secs(60))
    }

    /// [`Host::exec`] with a bound: past `timeout` the process group is killed and the output
    /// so far is returned with a failed status.
    pub fn exec_timeout(&self, cmd: &str, args: &[&str], timeout: Duration) -> Output {
        let mut child = self
            .command(cmd, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("lab: cannot run {cmd} in {}: {e}", self.ns));
        self.record(&child, format!("{cmd} {}", args.join(" ")));
        let mut out_pipe = child.stdout.take();
        let mut err_pipe = child.stderr.take();
        let out_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(p) = out_pipe.as_mut() {
                let _ = p.read_to_end(&mut v);
            }
            v
        });
        let err_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(p) = err_pipe.as_mut() {
                let _ = p.read_to_end(&mut v);
            }
            v
        });
        let deadline = Instant::now() + timeout;
        let status: ExitStatus = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
                        // SAFETY: kill(2) on the group of our own un-reaped child.
                        unsafe {
                            libc::kill(-pgid, libc::SIGKILL);
                        }
                    }
                    break child.wait().unwrap_or_else(|e| panic!("lab: wait {cmd}: {e}"));
                }
            }
        };
        Output { status, stdout: out_reader.join().unwrap_or_default(), stderr: err_reader.join().unwrap_or_default() }
    }

    /// Runs a command and panics with its output unless it succeeds; returns stdout.
    pub fn exec_ok(&self, cmd: &str, args: &[&str]) -> String {
        let out = self.exec(cmd, args);
        assert!(
            out.status.success(),
            "{}: {cmd} {} failed ({}): {}{}",
            self.name,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One ping with a 1 s reply timeout; true when answered.
    pub fn ping_once(&self, addr: Ipv4Addr) -> bool {
        self.exec_timeout("ping", &["-n", "-q", "-c", "1", "-W", "1", &addr.to_string()], Duration::from_secs(5)).status.success()
    }

    /// Pings until answered or `timeout` passes.
    pub fn ping_until(&self, addr: Ipv4Addr, timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(50), || self.ping_once(addr))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let inner = &self.inner;
        let procs: Vec<Proc> = std::mem::take(&mut *inner.procs.lock().unwrap_or_else(|e| e.into_inner()));
        let ours = |p: &Proc| p.start.is_some() && start_time(p.pid) == p.start;
        let signal = |p: &Proc, sig: libc::c_int| {
            if let Ok(pgid) = libc::pid_t::try_from(p.pid) {
                // SAFETY: kill(2) on the process group we created for a process we started
                // (its start time was checked just before).
                unsafe {
                    libc::kill(-pgid, sig);
                    libc::kill(pgid, sig);
                }
            }
        };
        for p in procs.iter().filter(|p| ours(p)) {
            signal(p, libc::SIGTERM);
        }
        let alive =
            |p: &Proc| ours(p) && std::fs::read_to_string(format!("/proc/{}/stat", p.pid)).map(|s| !s.contains(") Z ")).unwrap_or(false);
        wait_until(Duration::from_secs(3), Duration::from_millis(20), || !procs.iter().any(alive));
        for p in procs.iter().filter(|p| alive(p)) {
            eprintln!("lab: {} (pid {}) ignored SIGTERM, killing it", p.what, p.pid);
            signal(p, libc::SIGKILL);
        }
        let hosts: Vec<HostRecord> = std::mem::take(&mut *inner.hosts.lock().unwrap_or_else(|e| e.into_inner()));
        for h in &hosts {
            if !h.bridge_port.is_empty() {
                let _ = Command::new("ip").args(["-n", &inner.inet_ns, "link", "del", &h.bridge_port]).stderr(Stdio::null()).status();
            }
            delete_namespace(&h.ns);
        }
        delete_namespace(&inner.inet_ns);
        let _ = std::fs::remove_dir_all(&inner.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_names() {
        assert_eq!(sanitize("wg_backend::roundtrip"), "wg-backend--roun");
        assert_eq!(sanitize(""), "lab");
    }

    #[test]
    fn start_time_of_self() {
        assert!(start_time(std::process::id()).is_some());
        assert!(start_time(u32::MAX).is_none());
    }
}
