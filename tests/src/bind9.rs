//! A real BIND9 for RFC 2136 tests: `named -g` (foreground) on 127.0.0.1:<free port> with its
//! own temporary config directory, serving zone `example.test` that accepts dynamic updates
//! signed with a TSIG key (hmac-sha256, random secret). Dropping it kills that `named` by PID
//! (only after checking the PID is still the process we started) and deletes the directory.
//!
//! [`ensure_bind9`] installs `bind9` and `bind9-dnsutils` with apt-get when they are missing and
//! we are root; under `CI=true` a missing prerequisite fails the test, it never skips.
//!
//! Must not: touch the system's BIND configuration or listen anywhere but 127.0.0.1.

use base64::Engine;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const ZONE: &str = "example.test";
pub const KEY_NAME: &str = "wgcluster-key";
pub const ALGORITHM: &str = "hmac-sha256";

static INSTALL_LOCK: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Where `named` is installed, if it is.
pub fn named_path() -> Option<PathBuf> {
    ["/usr/sbin/named", "/usr/bin/named", "/sbin/named"].iter().map(PathBuf::from).find(|p| p.is_file())
}

fn dig_path() -> Option<PathBuf> {
    ["/usr/bin/dig", "/bin/dig", "/usr/sbin/dig"].iter().map(PathBuf::from).find(|p| p.is_file())
}

fn nsupdate_path() -> Option<PathBuf> {
    ["/usr/bin/nsupdate", "/bin/nsupdate", "/usr/sbin/nsupdate"].iter().map(PathBuf::from).find(|p| p.is_file())
}

fn under_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Makes sure `named` and `dig` exist, installing them when root. Returns whether BIND tests can
/// run: panics under `CI=true` when they cannot; otherwise prints a loud SKIPPED line.
pub fn ensure_bind9() -> bool {
    let _g = INSTALL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if (named_path().is_none() || dig_path().is_none()) && is_root() {
        eprintln!("bind9: installing bind9 bind9-dnsutils");
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "bind9", "bind9-dnsutils"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !install() {
            let _ = Command::new("apt-get").arg("update").stdout(Stdio::null()).status();
            install();
        }
    }
    let mut problems = Vec::new();
    if named_path().is_none() {
        problems.push("named (Debian package bind9) is missing");
    }
    if dig_path().is_none() {
        problems.push("dig (Debian package bind9-dnsutils) is missing");
    }
    if nsupdate_path().is_none() {
        problems.push("nsupdate (Debian package bind9-dnsutils) is missing");
    }
    if problems.is_empty() {
        return true;
    }
    let msg = format!("BIND9 prerequisites: {}{}", problems.join("; "), if is_root() { "" } else { " (and not root to install them)" });
    if under_ci() {
        panic!("{msg} (CI=true: failing, not skipping)");
    }
    eprintln!("SKIPPED (not under CI): {msg}");
    false
}

pub use crate::util::free_port;

/// A random 32-byte TSIG secret, base64 (as in a BIND key file).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    assert!(ok, "read /dev/urandom");
    base64::engine::general_purpose::STANDARD.encode(b)
}

use crate::lab::start_time;

/// The files of one authoritative `named`: `named.conf` (listening on `addr:port` only, IPv4,
/// no recursion, the TSIG key [`KEY_NAME`], logging to stderr) and zone [`ZONE`] (dynamic updates
/// signed with that key; `ns1` is `addr`). Used by [`Bind9`] and by the failover lab's DNS.
pub struct ServerFiles<'a> {
    pub dir: &'a Path,
    pub addr: Ipv4Addr,
    pub port: u16,
    /// The `allow-query` match list, e.g. `127.0.0.1` or `any`.
    pub allow_query: &'a str,
    /// The TSIG secret, base64.
    pub key_secret: &'a str,
    /// The SOA minimum (how long resolvers cache a negative answer), seconds.
    pub negative_ttl: u32,
}

impl ServerFiles<'_> {
    /// Writes `named.conf` and the zone file into `dir`; returns the path of `named.conf`.
    pub fn write(&self) -> PathBuf {
        let ServerFiles { addr, port, allow_query, key_secret, negative_ttl, .. } = *self;
        let d = self.dir.display();
        let conf = format!(
            r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {addr}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query {{ {allow_query}; }};
    allow-transfer {{ none; }};
}};
key "{KEY_NAME}" {{
    algorithm {ALGORITHM};
    secret "{key_secret}";
}};
controls {{ }};
logging {{
    channel out {{ stderr; severity info; print-time yes; }};
    category default {{ out; }};
    category update {{ out; }};
    category security {{ out; }};
}};
zone "{ZONE}" {{
    type primary;
    file "{d}/{ZONE}.zone";
    allow-update {{ key "{KEY_NAME}"; }};
}};
"#
        );
        let zone = format!(
            "$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 600 86400 {negative_ttl} )\n@ IN NS ns1.{ZONE}.\nns1 IN A {addr}\n"
        );
        let conf_path = self.dir.join("named.conf");
        std::fs::write(&conf_path, conf).expect("write named.conf");
        std::fs::write(self.dir.join(format!("{ZONE}.zone")), zone).expect("write the zone file");
        conf_path
    }
}

pub struct Bind9 {
    pub port: u16,
    /// The TSIG secret, base64 (as in a BIND key file).
    pub key_secret: String,
    dir: PathBuf,
    child: Option<Child>,
    child_start: Option<u64>,
}

impl Bind9 {
    /// Starts `named`. Call [`ensure_bind9`] first. Panics (with named's log) when it does not come up.
    pub fn start() -> Self {
        let named = named_path().expect("named is installed (call ensure_bind9 first)");
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wgc-bind9-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the BIND9 temp dir");
        let key_secret = random_secret();
        let conf_path =
            ServerFiles { dir: &dir, addr: Ipv4Addr::LOCALHOST, port, allow_query: "127.0.0.1", key_secret: &key_secret, negative_ttl: 60 }
                .write();
        let log = std::fs::File::create(dir.join("named.log")).expect("create named.log");
        let log2 = log.try_clone().expect("dup named.log");
        let mut args: Vec<String> = vec!["-g".into(), "-4".into(), "-n".into(), "1".into(), "-c".into(), conf_path.display().to_string()];
        if is_root() {
            // Stay root: the temp dir is root's, and named must write its journal there.
            args.extend(["-u".into(), "root".into()]);
        }
        let child = Command::new(named).args(&args).stdin(Stdio::null()).stdout(log).stderr(log2).spawn().expect("start named");
        let child_start = start_time(child.id());
        let mut me = Self { port, key_secret, dir, child: Some(child), child_start };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && me.dig_raw(ZONE, "SOA").is_some_and(|s| !s.is_empty())
            {
                break;
            }
            let exited = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(me.dir.join("named.log")).unwrap_or_default();
                panic!("named did not come up on 127.0.0.1:{port} (exit: {exited:?}); its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    /// `127.0.0.1:<port>` — the `rfc2136.server` setting.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// named's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }

    fn dig_raw(&self, name: &str, rtype: &str) -> Option<String> {
        let dig = dig_path()?;
        let out = Command::new(dig)
            .args(["@127.0.0.1", "-p", &self.port.to_string(), "+short", "+norecurse", "+tries=1", "+time=2", name, rtype])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `dig +short` of `name` type `rtype`, sorted (empty on NXDOMAIN or no answer).
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.dig_raw(name, rtype).unwrap_or_default().lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        v.sort();
        v
    }

    /// A and AAAA answers for `name`, sorted.
    pub fn addresses(&self, name: &str) -> Vec<String> {
        let mut v = self.dig(name, "A");
        v.extend(self.dig(name, "AAAA"));
        v.sort();
        v
    }

    /// Runs BIND's own `nsupdate` against this server with the zone's TSIG key: `commands` are
    /// nsupdate lines such as `update add vpn.example.test. 60 A 192.0.2.9` (the `server`,
    /// `zone` and `send` lines are added). For editing records behind the daemon's back. Panics
    /// with nsupdate's output when it fails.
    pub fn nsupdate(&self, commands: &[&str]) {
        let nsupdate = nsupdate_path().expect("nsupdate is installed (call ensure_bind9 first)");
        let mut script = format!("server 127.0.0.1 {}\nzone {ZONE}\n", self.port);
        for c in commands {
            script.push_str(c);
            script.push('\n');
        }
        script.push_str("send\n");
        let key_file = self.dir.join("nsupdate.key");
        let key = format!("key \"{KEY_NAME}\" {{\n  algorithm {ALGORITHM};\n  secret \"{}\";\n}};\n", self.key_secret);
        std::fs::write(&key_file, key).expect("write the nsupdate key file");
        let mut child = Command::new(nsupdate)
            .arg("-k")
            .arg(&key_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nsupdate");
        child.stdin.take().expect("nsupdate stdin").write_all(script.as_bytes()).expect("write to nsupdate");
        let out = child.wait_with_output().expect("nsupdate output");
        assert!(
            out.status.success(),
            "nsupdate failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls until `addresses(name)` equals `want` (sorted) or `timeout` passes; returns the last answer.
    pub fn wait_for(&self, name: &str, want: &[&str], timeout: Duration) -> Result<Duration, Vec<String>> {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        let start = Instant::now();
        loop {
            let got = self.addresses(name);
            if got == want {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                return Err(got);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bind9 {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Kill by PID only if it is still the process we started (not a reused PID).
            if start_time(c.id()) == self.child_start {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
