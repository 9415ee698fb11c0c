//! DNS: a BIND9 in the lab (part of [the failover lab](super)).

use super::*;

/// `named` in a lab host, authoritative for bind9's zone on `<host>:53`, accepting TSIG-signed
/// dynamic updates (the daemon's rfc2136 provider). The same config as [`bind9::Bind9`], but
/// listening on the lab address so routers and the client reach it.
pub struct LabDns {
    pub host: Host,
    pub key_secret: String,
    dir: PathBuf,
    child: Child,
}

impl LabDns {
    /// Starts `named` in `host` and waits until it answers. Call [`prereqs`] first.
    pub fn start(host: Host) -> LabDns {
        let dir = host.dir().join("named");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let key_secret = bind9::random_secret();
        let zone = bind9::ZONE;
        let a = host.addr;
        let conf_path =
            bind9::ServerFiles { dir: &dir, addr: a, port: 53, allow_query: "any", key_secret: &key_secret, negative_ttl: 1 }.write();
        let named = bind9::named_path().expect("named is installed (prereqs)");
        let child = host.spawn(
            "sh",
            &[
                "-c",
                "exec \"$0\" -g -4 -n 1 -u root -c \"$1\" >\"$2\" 2>&1",
                &named.to_string_lossy(),
                &conf_path.to_string_lossy(),
                &dir.join("named.log").to_string_lossy(),
            ],
        );
        let mut me = LabDns { host, key_secret, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if !me.query(&me.host.clone(), zone, "SOA").is_empty() {
                break;
            }
            let exited = me.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "named did not come up on {a}:53 (exit {exited:?}); its log:\n{}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }

    /// The body of `PUT /api/settings/dns` pointing the cluster at this server.
    pub fn settings(&self) -> Value {
        json!({ "rfc2136": { "server": format!("{}:53", self.host.addr), "zone": bind9::ZONE,
                             "key_name": bind9::KEY_NAME, "key_secret": self.key_secret,
                             "algorithm": bind9::ALGORITHM } })
    }

    /// `dig +short` from `from`'s namespace to this server, sorted (empty when no answer).
    pub fn query(&self, from: &Host, name: &str, rtype: &str) -> Vec<String> {
        dig(from, Some(self.host.addr), name, rtype)
    }
}

impl Drop for LabDns {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("---- named log, last 20 lines ----\n{}", lines[lines.len().saturating_sub(20)..].join("\n"));
        }
        // The lab kills named (by PID) and removes its directory.
    }
}

/// `dig +short NAME RTYPE` run in `from` (at `server`, else the namespace's resolv.conf), sorted.
pub fn dig(from: &Host, server: Option<Ipv4Addr>, name: &str, rtype: &str) -> Vec<String> {
    let at = server.map(|s| format!("@{s}"));
    let mut args: Vec<&str> = Vec::new();
    if let Some(a) = &at {
        args.push(a);
    }
    args.extend(["+short", "+tries=1", "+time=1", name, rtype]);
    let out = from.exec_timeout("dig", &args, Duration::from_secs(5));
    if !out.status.success() {
        return Vec::new();
    }
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .collect();
    v.sort();
    v
}

/// `/etc/netns/<ns>/resolv.conf`: `ip netns exec` (so every `host.exec`/`spawn`) bind-mounts it
/// over `/etc/resolv.conf`, so names in the host resolve with the lab's DNS. Removed on drop.
pub struct ClientResolver {
    dir: PathBuf,
}

impl ClientResolver {
    pub fn install(host: &Host, nameserver: Ipv4Addr) -> ClientResolver {
        clean_stale_resolvers();
        let dir = Path::new("/etc/netns").join(&host.ns);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {nameserver}\noptions timeout:1 attempts:1\n"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        ClientResolver { dir }
    }
}

impl Drop for ClientResolver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes `/etc/netns/wgl-<pid>-…` directories whose process is gone (a crashed earlier run).
fn clean_stale_resolvers() {
    let Ok(entries) = std::fs::read_dir("/etc/netns") else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("wgl-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
