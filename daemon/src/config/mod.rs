//! The daemon's typed configuration, read from the UCI file (default `/etc/config/wgcluster`, section
//! `config daemon 'main'`; see DESIGN.md §6). This module owns the option names, their defaults and their
//! validation; `uci` owns the file syntax. Every problem in a file is reported at once, each naming
//! `FILE:LINE` and the option; unknown options and sections become `warnings` for the caller to log.
//!
//! The built-in defaults only fill in options a `daemon` section leaves out. A missing file, a file
//! that is not UTF-8, an empty file, and a file without a `config daemon 'main'` (or unnamed
//! `config daemon`) section are errors: a mangled header must never start the daemon on defaults.

pub mod uci;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use log::LevelFilter;
use wgcluster_actors::model::Endpoint;

use self::uci::{UciOption, UciSection, UciValue};

/// Where `wgclusterd` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/config/wgcluster";
/// The UCI section type holding the daemon options, and the preferred section name.
pub const SECTION_TYPE: &str = "daemon";
pub const SECTION_NAME: &str = "main";

/// Longest Unix socket path (`sun_path` is 108 bytes including the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Which WireGuard implementation to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WgBackendKind {
    /// Kernel module if present, else the userspace binary.
    #[default]
    Auto,
    Kernel,
    Userspace,
}

impl WgBackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WgBackendKind::Auto => "auto",
            WgBackendKind::Kernel => "kernel",
            WgBackendKind::Userspace => "userspace",
        }
    }
}

impl FromStr for WgBackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(WgBackendKind::Auto),
            "kernel" => Ok(WgBackendKind::Kernel),
            "userspace" => Ok(WgBackendKind::Userspace),
            _ => Err(format!("'{s}' is not one of auto, kernel, userspace")),
        }
    }
}

impl fmt::Display for WgBackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where log lines go (`log_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// The system log when running under procd (OpenWrt), stderr otherwise.
    #[default]
    Auto,
    /// The system log socket (`syslog_socket`), RFC 3164 lines with facility daemon.
    Syslog,
    /// Standard error, each line prefixed with its `<N>` severity (sd-daemon style).
    Stderr,
}

impl LogTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            LogTarget::Auto => "auto",
            LogTarget::Syslog => "syslog",
            LogTarget::Stderr => "stderr",
        }
    }
}

impl FromStr for LogTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(LogTarget::Auto),
            "syslog" => Ok(LogTarget::Syslog),
            "stderr" => Ok(LogTarget::Stderr),
            _ => Err(format!("'{s}' is not one of auto, syslog, stderr")),
        }
    }
}

/// The daemon configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub node_id: String,
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub cluster_listen: SocketAddr,
    pub control_socket: PathBuf,
    /// This router's public address (`model::Endpoint`: IPv4, IPv6 or a DNS name, optionally with
    /// `:port`; IPv6 with a port in brackets: `[2001:db8::1]:51820`).
    pub endpoint: Option<Endpoint>,
    pub wg_backend: WgBackendKind,
    pub wg_userspace_bin: String,
    pub uapi_dir: PathBuf,
    pub auto_init: bool,
    pub log_level: LevelFilter,
    pub log_target: LogTarget,
    /// The system log's datagram socket (`/dev/log`).
    pub syslog_socket: PathBuf,
    pub election_timeout_ms: u64,
    pub heartbeat_ms: u64,
    pub resync_interval_s: u64,
    /// Raft: build a snapshot (and allow compacting the log) after this many entries.
    pub snapshot_logs: u64,
    /// keepalived's configuration file this router writes for its floating addresses (#16);
    /// `None`: `<data_dir>/keepalived.conf`.
    pub keepalived_conf: Option<PathBuf>,
    /// keepalived's pidfile: the PID that gets SIGHUP after a new configuration.
    pub keepalived_pidfile: PathBuf,
    /// The interface a floating address goes on when its group names none.
    pub vrrp_interface: String,
    /// Things worth logging that do not stop the daemon (unknown options, ignored sections).
    pub warnings: Vec<String>,
}

/// Why a config could not be loaded. `Invalid` holds one complete message per problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: config file not found", .path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read config file: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl DaemonConfig {
    /// Every option at its default; `node_id` is the hostname if that is a valid node id, else `router`.
    pub fn defaults() -> Self {
        DaemonConfig {
            node_id: hostname_node_id().unwrap_or_else(|| "router".to_string()),
            data_dir: PathBuf::from("/etc/wgcluster"),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 10086)),
            cluster_listen: SocketAddr::from(([0, 0, 0, 0], 10087)),
            control_socket: PathBuf::from("/var/run/wgcluster.sock"),
            endpoint: None,
            wg_backend: WgBackendKind::Auto,
            wg_userspace_bin: "wireguard-go".to_string(),
            uapi_dir: PathBuf::from("/var/run/wireguard"),
            auto_init: false,
            log_level: LevelFilter::Info,
            log_target: LogTarget::Auto,
            syslog_socket: PathBuf::from("/dev/log"),
            election_timeout_ms: 1500,
            heartbeat_ms: 300,
            resync_interval_s: 30,
            snapshot_logs: 1000,
            keepalived_conf: None,
            keepalived_pidfile: PathBuf::from("/var/run/keepalived.pid"),
            vrrp_interface: "br-lan".to_string(),
            warnings: Vec::new(),
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self::defaults()
    }
}

/// Reads and validates the config file at `path`. A missing file is an error (`NotFound`), never
/// the built-in defaults; so is a file that is not UTF-8 (naming the line of the first bad byte).
pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = uci::decode(path, &bytes).map_err(|e| ConfigError::Invalid(vec![e.to_string()]))?;
            parse(path, text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::NotFound { path: path.into() }),
        Err(source) => Err(ConfigError::Read { path: path.into(), source }),
    }
}

/// Validates config `text`; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<DaemonConfig, ConfigError> {
    let (sections, syntax) = uci::parse_all(path, text);
    if !syntax.is_empty() {
        return Err(ConfigError::Invalid(syntax.iter().map(ToString::to_string).collect()));
    }
    let file = path.display();
    let mut cfg = DaemonConfig::defaults();
    let mut problems = Vec::new();
    let Some(section) = pick_section(path, &sections, &mut cfg.warnings) else {
        return Err(ConfigError::Invalid(vec![no_daemon_section(path, &sections)]));
    };
    // (option, value was good) for the two timing options, checked against each other below.
    let (mut election, mut heartbeat) = (None, None);
    for opt in &section.options {
        let p = &mut problems;
        let ok = match opt.key.as_str() {
            "node_id" => apply(p, path, opt, parse_node_id, &mut cfg.node_id),
            "data_dir" => apply(p, path, opt, parse_dir, &mut cfg.data_dir),
            "api_listen" => apply(p, path, opt, parse_socket_addr, &mut cfg.api_listen),
            "cluster_listen" => apply(p, path, opt, parse_socket_addr, &mut cfg.cluster_listen),
            "control_socket" => apply(p, path, opt, parse_socket_path, &mut cfg.control_socket),
            "endpoint" => apply(p, path, opt, parse_endpoint, &mut cfg.endpoint),
            "wg_backend" => apply(p, path, opt, WgBackendKind::from_str, &mut cfg.wg_backend),
            "wg_userspace_bin" => apply(p, path, opt, parse_program, &mut cfg.wg_userspace_bin),
            "uapi_dir" => apply(p, path, opt, parse_dir, &mut cfg.uapi_dir),
            "auto_init" => apply(p, path, opt, parse_bool, &mut cfg.auto_init),
            "log_level" => apply(p, path, opt, parse_log_level, &mut cfg.log_level),
            "log_target" => apply(p, path, opt, LogTarget::from_str, &mut cfg.log_target),
            "syslog_socket" => apply(p, path, opt, parse_socket_path, &mut cfg.syslog_socket),
            "election_timeout_ms" => apply(p, path, opt, parse_positive, &mut cfg.election_timeout_ms),
            "heartbeat_ms" => apply(p, path, opt, parse_positive, &mut cfg.heartbeat_ms),
            "resync_interval_s" => apply(p, path, opt, parse_positive, &mut cfg.resync_interval_s),
            "snapshot_logs" => apply(p, path, opt, parse_positive, &mut cfg.snapshot_logs),
            "keepalived_conf" => apply(p, path, opt, |v| parse_abs_path(v, None).map(Some), &mut cfg.keepalived_conf),
            "keepalived_pidfile" => apply(p, path, opt, |v| parse_abs_path(v, None), &mut cfg.keepalived_pidfile),
            "vrrp_interface" => apply(p, path, opt, parse_ifname, &mut cfg.vrrp_interface),
            _ => {
                let (line, key, section) = (opt.line, &opt.key, section.describe());
                let msg = format!("{file}:{line}: unknown option '{key}' in section {section} (ignored)");
                cfg.warnings.push(msg);
                true
            }
        };
        match opt.key.as_str() {
            "election_timeout_ms" => election = Some((opt, ok)),
            "heartbeat_ms" => heartbeat = Some((opt, ok)),
            _ => {}
        }
    }
    let min_election = cfg.heartbeat_ms.saturating_mul(3);
    let timing_ok = [election, heartbeat].iter().flatten().all(|(_, ok)| *ok);
    // The defaults are consistent, so a failure means at least one of the two was set.
    if let (true, true, Some((opt, _))) = (timing_ok, cfg.election_timeout_ms < min_election, election.or(heartbeat)) {
        let msg = format!(
            "election_timeout_ms ({}) must be at least 3 times heartbeat_ms ({}), i.e. >= {min_election}",
            cfg.election_timeout_ms, cfg.heartbeat_ms
        );
        problems.push(problem(path, opt, &msg));
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    if section.option("node_id").is_none() {
        warn_default_node_id(path, &mut cfg);
    }
    Ok(cfg)
}

/// The first `daemon 'main'` or unnamed `daemon` section; warns about every other section.
fn pick_section<'a>(path: &Path, sections: &'a [UciSection], warnings: &mut Vec<String>) -> Option<&'a UciSection> {
    let file = path.display();
    let mut chosen: Option<&UciSection> = None;
    for s in sections {
        let line = s.line;
        if s.kind != SECTION_TYPE {
            warnings.push(format!("{file}:{line}: unknown section type '{}' (ignored)", s.kind));
        } else if s.name.as_deref().is_some_and(|n| n != SECTION_NAME) {
            warnings.push(format!("{file}:{line}: section {} ignored (expected '{SECTION_NAME}')", s.describe()));
        } else if let Some(first) = chosen {
            warnings.push(format!("{file}:{line}: second '{SECTION_TYPE}' section ignored (using the one at line {})", first.line));
        } else {
            chosen = Some(s);
        }
    }
    chosen
}

/// The error for a file without a usable `daemon` section. The built-in defaults are never used
/// for such a file: a typo in the header (`config deamon 'main'`) would otherwise start the daemon
/// on `cluster_listen 0.0.0.0:10087` under the hostname as node id. Names the first section that is
/// there (the likely misspelling), or line 1 of a file that holds no section at all.
fn no_daemon_section(path: &Path, sections: &[UciSection]) -> String {
    let file = path.display();
    let want = format!("'config {SECTION_TYPE} '{SECTION_NAME}''");
    match sections.first() {
        Some(s) => format!(
            "{file}:{}: section {} is not {want}, and the file has no {want} section; \
             check the spelling of the section header (wgclusterd does not start on built-in defaults)",
            s.line,
            s.describe()
        ),
        None => format!(
            "{file}:1: no {want} section (the file is empty or holds only comments); \
             add the section with at least node_id and data_dir (wgclusterd does not start on built-in defaults)"
        ),
    }
}

fn warn_default_node_id(path: &Path, cfg: &mut DaemonConfig) {
    if hostname_node_id().is_none() {
        cfg.warnings.push(format!("{}: node_id not set and the hostname is not a valid node id; using '{}'", path.display(), cfg.node_id));
    }
}

fn problem(path: &Path, opt: &UciOption, msg: &str) -> String {
    format!("{}:{}: option '{}': {msg}", path.display(), opt.line, opt.key)
}

/// Parses the option's single value into `slot`, or records the problem; returns whether it was good.
fn apply<T>(
    problems: &mut Vec<String>,
    path: &Path,
    opt: &UciOption,
    parser: impl FnOnce(&str) -> Result<T, String>,
    slot: &mut T,
) -> bool {
    let parsed = match &opt.value {
        UciValue::Single(v) => parser(v),
        UciValue::List(_) => Err("must be set with 'option', not 'list'".to_string()),
    };
    match parsed {
        Ok(v) => {
            *slot = v;
            true
        }
        Err(msg) => {
            problems.push(problem(path, opt, &msg));
            false
        }
    }
}

/// The trimmed hostname from the kernel, if it is a valid node id.
fn hostname_node_id() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = raw.trim();
    is_valid_node_id(name).then(|| name.to_string())
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]{0,62}`
pub fn is_valid_node_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn parse_node_id(v: &str) -> Result<String, String> {
    if is_valid_node_id(v) {
        Ok(v.to_string())
    } else {
        Err(format!("'{v}' is not a valid node id (1-63 letters, digits, '_', '.', '-', starting with a letter or digit)"))
    }
}

fn parse_dir(v: &str) -> Result<PathBuf, String> {
    parse_abs_path(v, None)
}

fn parse_socket_path(v: &str) -> Result<PathBuf, String> {
    parse_abs_path(v, Some(MAX_SOCKET_PATH))
}

fn parse_abs_path(v: &str, max_len: Option<usize>) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("empty path".into());
    }
    if !v.starts_with('/') {
        return Err(format!("'{v}' is not an absolute path"));
    }
    if v.contains('\0') {
        return Err(format!("'{}' contains a NUL byte", v.escape_debug()));
    }
    match max_len {
        Some(max) if v.len() > max => Err(format!("'{v}' is longer than {max} bytes")),
        _ => Ok(PathBuf::from(v)),
    }
}

fn parse_ifname(v: &str) -> Result<String, String> {
    wgcluster_actors::wg::validate_ifname(v)
        .map(|_| v.to_string())
        .map_err(|_| format!("'{v}' is not an interface name (1 to 15 of A-Z a-z 0-9 _ = + . -)"))
}

fn parse_socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse().map_err(|_| format!("'{v}' is not an address:port (e.g. 127.0.0.1:10086 or [::1]:10086)"))
}

/// `model::Endpoint` (one rule with the API); an empty value means none.
fn parse_endpoint(v: &str) -> Result<Option<Endpoint>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    Endpoint::parse("endpoint", v).map(Some).map_err(|e| e.reason)
}

/// A program name or path, run without a shell.
fn parse_program(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("empty program name".into())
    } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("'{}' must be a program name or path without spaces", v.escape_debug()))
    } else {
        Ok(v.to_string())
    }
}

/// UCI booleans, as understood by OpenWrt's `config_get_bool`.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" | "enabled" => Ok(true),
        "0" | "no" | "off" | "false" | "disabled" => Ok(false),
        _ => Err(format!("'{v}' is not a boolean (1/0, yes/no, on/off, true/false, enabled/disabled)")),
    }
}

fn parse_log_level(v: &str) -> Result<LevelFilter, String> {
    match v.to_ascii_lowercase().as_str() {
        "off" => Ok(LevelFilter::Off),
        "error" => Ok(LevelFilter::Error),
        "warn" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        _ => Err(format!("'{v}' is not one of error, warn, info, debug, trace, off")),
    }
}

fn parse_positive(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(n) => Err(format!("{n} is too small (minimum 1)")),
        Err(_) => Err(format!("'{v}' is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/config/wgcluster";

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse("endpoint", s).expect("literal")
    }

    fn parse_text(text: &str) -> Result<DaemonConfig, ConfigError> {
        parse(Path::new(FILE), text)
    }

    /// `config daemon 'main'` then `body`: the options start on line 2.
    fn daemon(body: &str) -> String {
        format!("config daemon 'main'\n{body}\n")
    }

    fn problems(text: &str) -> Vec<String> {
        match parse_text(text) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("{text:?}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn default_values() {
        let d = DaemonConfig::defaults();
        assert!(is_valid_node_id(&d.node_id), "{}", d.node_id);
        assert_eq!(d.node_id, hostname_node_id().unwrap_or_else(|| "router".into()));
        assert_eq!(d.data_dir, Path::new("/etc/wgcluster"));
        assert_eq!(d.api_listen.to_string(), "127.0.0.1:10086");
        assert_eq!(d.cluster_listen.to_string(), "0.0.0.0:10087");
        assert_eq!(d.control_socket, Path::new("/var/run/wgcluster.sock"));
        assert_eq!(d.endpoint, None);
        assert_eq!(d.wg_backend, WgBackendKind::Auto);
        assert_eq!(d.wg_userspace_bin, "wireguard-go");
        assert_eq!(d.uapi_dir, Path::new("/var/run/wireguard"));
        assert!(!d.auto_init);
        assert_eq!(d.log_level, LevelFilter::Info);
        assert_eq!((d.election_timeout_ms, d.heartbeat_ms, d.resync_interval_s), (1500, 300, 30));
        assert!(d.warnings.is_empty());
        assert_eq!(DaemonConfig::default(), d);
        // An empty section gives exactly the defaults.
        assert_eq!(parse_text(&daemon("")).expect("parses"), d);
        assert_eq!(parse_text("config daemon\n").expect("parses"), d);
    }

    #[test]
    fn good_values() {
        type Case = (&'static str, fn(&mut DaemonConfig));
        let cases: &[Case] = &[
            ("option node_id 'r1'", |c| c.node_id = "r1".into()),
            ("option node_id 'A.b_c-9'", |c| c.node_id = "A.b_c-9".into()),
            ("option node_id 9lives", |c| c.node_id = "9lives".into()),
            ("option data_dir '/srv/wg cluster'", |c| c.data_dir = "/srv/wg cluster".into()),
            ("option api_listen '0.0.0.0:80'", |c| c.api_listen = "0.0.0.0:80".parse().expect("addr")),
            ("option api_listen '[::1]:10086'", |c| c.api_listen = "[::1]:10086".parse().expect("addr")),
            ("option cluster_listen '[::]:1'", |c| c.cluster_listen = "[::]:1".parse().expect("addr")),
            ("option control_socket /tmp/x.sock", |c| c.control_socket = "/tmp/x.sock".into()),
            ("option endpoint '203.0.113.7'", |c| c.endpoint = Some(ep("203.0.113.7"))),
            ("option endpoint '203.0.113.7:51820'", |c| c.endpoint = Some(ep("203.0.113.7:51820"))),
            ("option endpoint '2001:db8::1'", |c| c.endpoint = Some(ep("2001:db8::1"))),
            ("option endpoint '[2001:db8::1]'", |c| c.endpoint = Some(ep("[2001:db8::1]"))),
            ("option endpoint '[2001:db8::1]:443'", |c| c.endpoint = Some(ep("[2001:db8::1]:443"))),
            ("option endpoint 'vpn.example.com'", |c| c.endpoint = Some(ep("vpn.example.com"))),
            ("option endpoint 'vpn.example.com.:65535'", |c| c.endpoint = Some(ep("vpn.example.com:65535"))),
            ("option endpoint 'router-1'", |c| c.endpoint = Some(ep("router-1"))),
            ("option endpoint ''", |c| c.endpoint = None),
            ("option wg_backend auto", |c| c.wg_backend = WgBackendKind::Auto),
            ("option wg_backend kernel", |c| c.wg_backend = WgBackendKind::Kernel),
            ("option wg_backend userspace", |c| c.wg_backend = WgBackendKind::Userspace),
            ("option wg_userspace_bin /usr/bin/boringtun", |c| c.wg_userspace_bin = "/usr/bin/boringtun".into()),
            ("option uapi_dir /tmp/wg", |c| c.uapi_dir = "/tmp/wg".into()),
            ("option keepalived_conf /tmp/k.conf", |c| c.keepalived_conf = Some("/tmp/k.conf".into())),
            ("option keepalived_pidfile /run/k.pid", |c| c.keepalived_pidfile = "/run/k.pid".into()),
            ("option vrrp_interface eth1", |c| c.vrrp_interface = "eth1".into()),
            ("option auto_init 1", |c| c.auto_init = true),
            ("option auto_init yes", |c| c.auto_init = true),
            ("option auto_init on", |c| c.auto_init = true),
            ("option auto_init true", |c| c.auto_init = true),
            ("option auto_init enabled", |c| c.auto_init = true),
            ("option auto_init TRUE", |c| c.auto_init = true),
            ("option auto_init 0", |c| c.auto_init = false),
            ("option auto_init no", |c| c.auto_init = false),
            ("option auto_init off", |c| c.auto_init = false),
            ("option auto_init false", |c| c.auto_init = false),
            ("option auto_init disabled", |c| c.auto_init = false),
            ("option log_level error", |c| c.log_level = LevelFilter::Error),
            ("option log_level warn", |c| c.log_level = LevelFilter::Warn),
            ("option log_level info", |c| c.log_level = LevelFilter::Info),
            ("option log_level debug", |c| c.log_level = LevelFilter::Debug),
            ("option log_level Trace", |c| c.log_level = LevelFilter::Trace),
            ("option log_level off", |c| c.log_level = LevelFilter::Off),
            ("option log_target auto", |c| c.log_target = LogTarget::Auto),
            ("option log_target syslog", |c| c.log_target = LogTarget::Syslog),
            ("option log_target stderr", |c| c.log_target = LogTarget::Stderr),
            ("option syslog_socket /tmp/log", |c| c.syslog_socket = "/tmp/log".into()),
            ("option election_timeout_ms 900", |c| c.election_timeout_ms = 900),
            ("option heartbeat_ms 500", |c| c.heartbeat_ms = 500),
            ("option heartbeat_ms 100\noption election_timeout_ms 300", |c| {
                c.heartbeat_ms = 100;
                c.election_timeout_ms = 300;
            }),
            ("option resync_interval_s 1", |c| c.resync_interval_s = 1),
            ("option snapshot_logs 20", |c| c.snapshot_logs = 20),
        ];
        for (body, change) in cases {
            let mut want = DaemonConfig::defaults();
            change(&mut want);
            let got = parse_text(&daemon(body)).unwrap_or_else(|e| panic!("{body:?}: {e}"));
            assert_eq!(got, want, "{body:?}");
        }
    }

    #[test]
    fn bad_values() {
        let long_socket = format!("/{}", "s".repeat(107));
        let long_id = format!("'{}'", "a".repeat(64));
        let cases: &[(&str, &str, &str)] = &[
            ("node_id", "''", "'' is not a valid node id"),
            ("node_id", "'-r1'", "'-r1' is not a valid node id"),
            ("node_id", "'r 1'", "'r 1' is not a valid node id"),
            ("node_id", "'r/1'", "'r/1' is not a valid node id"),
            ("node_id", &long_id, "is not a valid node id"),
            ("data_dir", "''", "empty path"),
            ("data_dir", "relative/dir", "'relative/dir' is not an absolute path"),
            ("api_listen", "'127.0.0.1'", "'127.0.0.1' is not an address:port"),
            ("api_listen", "'localhost:80'", "'localhost:80' is not an address:port"),
            ("api_listen", "'::1:80'", "'::1:80' is not an address:port"),
            ("cluster_listen", "'0.0.0.0:70000'", "'0.0.0.0:70000' is not an address:port"),
            ("control_socket", "wg.sock", "'wg.sock' is not an absolute path"),
            ("control_socket", &long_socket, "is longer than 107 bytes"),
            ("endpoint", "'example.com:0'", "'example.com:0' is not a valid endpoint (the port must be 1-65535)"),
            ("endpoint", "'1.2.3.4:0'", "'1.2.3.4:0' is not a valid endpoint (the port must be 1-65535)"),
            ("endpoint", "'example.com:x'", "(the port must be 1-65535)"),
            ("endpoint", "'1.2.3.999'", "'1.2.3.999' is not a valid endpoint (expected an IP address"),
            ("endpoint", "'a..b'", "'a..b' is not a valid endpoint"),
            ("endpoint", "'-a.com'", "'-a.com' is not a valid endpoint"),
            ("endpoint", "'a b'", "'a b' is not a valid endpoint"),
            ("endpoint", "'http://a.com'", "'http://a.com' is not a valid endpoint"),
            ("endpoint", "'[2001:db8::1'", "(expected [IPv6] or [IPv6]:port)"),
            ("endpoint", "'[1.2.3.4]:80'", "(expected [IPv6] or [IPv6]:port)"),
            ("endpoint", "'[::1]x'", "(expected [IPv6] or [IPv6]:port)"),
            ("wg_backend", "Kernel", "'Kernel' is not one of auto, kernel, userspace"),
            ("wg_userspace_bin", "''", "empty program name"),
            ("wg_userspace_bin", "'wireguard-go -f'", "must be a program name or path without spaces"),
            ("uapi_dir", "run/wg", "'run/wg' is not an absolute path"),
            ("keepalived_conf", "k.conf", "'k.conf' is not an absolute path"),
            ("vrrp_interface", "'eth 0'", "'eth 0' is not an interface name"),
            ("auto_init", "2", "'2' is not a boolean"),
            ("auto_init", "''", "'' is not a boolean"),
            ("log_level", "verbose", "'verbose' is not one of error, warn, info, debug, trace, off"),
            ("log_target", "journal", "'journal' is not one of auto, syslog, stderr"),
            ("syslog_socket", "dev/log", "'dev/log' is not an absolute path"),
            ("election_timeout_ms", "-1", "'-1' is not a whole number"),
            ("election_timeout_ms", "1.5", "'1.5' is not a whole number"),
            ("election_timeout_ms", "600", "election_timeout_ms (600) must be at least 3 times heartbeat_ms (300)"),
            ("heartbeat_ms", "0", "0 is too small (minimum 1)"),
            ("heartbeat_ms", "501", "election_timeout_ms (1500) must be at least 3 times heartbeat_ms (501)"),
            ("resync_interval_s", "0", "0 is too small (minimum 1)"),
            ("resync_interval_s", "99999999999999999999", "is not a whole number"),
        ];
        for (key, value, msg) in cases {
            let body = format!("option {key} {value}");
            let got = problems(&daemon(&body));
            let prefix = format!("{FILE}:2: option '{key}': ");
            assert_eq!(got.len(), 1, "{body:?}: {got:?}");
            assert!(got[0].starts_with(&prefix) && got[0].contains(msg), "{body:?}: {}", got[0]);
        }
    }

    #[test]
    fn list_for_a_single_option_is_an_error() {
        let got = problems(&daemon("list api_listen '127.0.0.1:1'"));
        assert_eq!(got, vec![format!("{FILE}:2: option 'api_listen': must be set with 'option', not 'list'")]);
    }

    #[test]
    fn all_problems_reported_together() {
        let text = "# wgcluster\n\
                    config daemon 'main'\n\
                    \toption node_id 'r1'\n\
                    \toption api_listen '127.0.0.1'\n\
                    \toption wg_backend 'tun'\n\
                    \toption frobnicate 1\n\
                    \toption auto_init 'maybe'\n";
        let err = parse_text(text).expect_err("invalid");
        let want = [
            format!("{FILE}:4: option 'api_listen': '127.0.0.1' is not an address:port (e.g. 127.0.0.1:10086 or [::1]:10086)"),
            format!("{FILE}:5: option 'wg_backend': 'tun' is not one of auto, kernel, userspace"),
            format!("{FILE}:7: option 'auto_init': 'maybe' is not a boolean (1/0, yes/no, on/off, true/false, enabled/disabled)"),
        ];
        assert_eq!(err.to_string(), want.join("\n"));
        // Syntax errors are all reported too, before any value is looked at.
        let got = problems("config daemon 'main'\noption data_dir '/x\noption api_listen bad\nbogus\n");
        assert_eq!(
            got,
            vec![
                format!("{FILE}:2: unterminated quote in option 'data_dir'"),
                format!("{FILE}:4: unknown keyword 'bogus' (expected 'config', 'option' or 'list')"),
            ]
        );
    }

    #[test]
    fn timing_check_skipped_when_a_timing_value_is_bad() {
        let got = problems(&daemon("option heartbeat_ms 1000\noption election_timeout_ms x"));
        assert_eq!(got, vec![format!("{FILE}:3: option 'election_timeout_ms': 'x' is not a whole number")]);
    }

    #[test]
    fn warnings() {
        let cases: &[(&str, &[&str])] = &[
            ("config daemon 'main'\n\toption colour 'blue'\n", &["2: unknown option 'colour' in section daemon 'main' (ignored)"]),
            ("config daemon\n\tlist colour 'blue'\n", &["2: unknown option 'colour' in section daemon (unnamed) (ignored)"]),
            ("config daemon 'main'\nconfig peer 'p1'\n", &["2: unknown section type 'peer' (ignored)"]),
            ("config daemon 'main'\nconfig daemon\n", &["2: second 'daemon' section ignored (using the one at line 1)"]),
            ("config daemon 'main'\nconfig daemon 'main'\n", &["2: second 'daemon' section ignored (using the one at line 1)"]),
            ("config daemon 'other'\nconfig daemon 'main'\n", &["1: section daemon 'other' ignored (expected 'main')"]),
            ("config peer\nconfig daemon\n", &["1: unknown section type 'peer' (ignored)"]),
        ];
        for (text, want) in cases {
            let cfg = parse_text(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let want: Vec<String> = want.iter().map(|w| format!("{FILE}:{w}")).collect();
            let got: Vec<&String> = cfg.warnings.iter().filter(|w| !w.contains("node_id not set")).collect();
            assert_eq!(got, want.iter().collect::<Vec<_>>(), "{text:?}");
        }
        // Options of ignored sections are not used.
        let cfg = parse_text("config daemon 'main'\nconfig daemon\noption auto_init 1\n").expect("parses");
        assert!(!cfg.auto_init);
    }

    #[test]
    fn no_daemon_section_is_an_error_not_defaults() {
        let not_main = "is not 'config daemon 'main'', and the file has no 'config daemon 'main'' section";
        let empty = "no 'config daemon 'main'' section (the file is empty or holds only comments)";
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, empty),
            ("\n\n", 1, empty),
            ("# only a comment\n\n  # another\n", 1, empty),
            ("config deamon 'main'\n\toption cluster_listen '127.0.0.1:1'\n", 1, "section deamon 'main' "),
            ("# c\nconfig Daemon 'main'\n", 2, "section Daemon 'main' "),
            ("config daemon 'mian'\n", 1, "section daemon 'mian' "),
            ("config daemon 'mainextra'\n", 1, "section daemon 'mainextra' "),
            ("config peer 'p1'\nconfig daemon 'other'\n", 1, "section peer 'p1' "),
            ("\n\nconfig wgcluster\n\toption node_id 'r1'\n", 3, "section wgcluster (unnamed) "),
        ];
        for (text, line, msg) in cases {
            let got = problems(text);
            assert_eq!(got.len(), 1, "{text:?}: {got:?}");
            let prefix = format!("{FILE}:{line}: ");
            assert!(got[0].starts_with(&prefix) && got[0].contains(msg), "{text:?}: {}", got[0]);
            assert!(!got[0].contains("\n"), "one line: {}", got[0]);
            if !msg.starts_with("no ") {
                assert!(got[0].contains(not_main), "{text:?}: {}", got[0]);
            }
        }
        // Mangled headers are syntax errors on their line; the section's options are not used.
        let cases: &[(&str, &str)] = &[
            ("config daemon 'main\n\toption cluster_listen '127.0.0.1:1'\n", "1: unterminated quote in section header"),
            ("config daemon main extra\n", "1: unexpected text 'extra' after section header"),
            ("# x\nconfig daemon \"main\n", "2: unterminated quote in section header"),
            ("config daemon 'ma in'\n", "1: invalid section name 'ma in'"),
            ("config\n\toption node_id r1\n", "1: missing section type after 'config'"),
            ("confg daemon 'main'\n", "1: unknown keyword 'confg'"),
        ];
        for (text, want) in cases {
            let got = problems(text);
            assert!(got.iter().any(|p| p.starts_with(&format!("{FILE}:{want}"))), "{text:?}: {got:?}");
        }
    }

    #[test]
    fn node_ids() {
        let max = "a".repeat(63);
        let good = ["a", "Z", "0", "r1", "router.lan", "a_b-c.d", max.as_str()];
        let too_long = "a".repeat(64);
        let bad = ["", "_a", ".a", "-a", "a b", "a/b", "a:b", "ä", too_long.as_str()];
        for id in good {
            assert!(is_valid_node_id(id), "{id:?}");
        }
        for id in bad {
            assert!(!is_valid_node_id(id), "{id:?}");
        }
    }

    #[test]
    fn load_from_disk() {
        let missing = Path::new("/nonexistent/wgcluster-test/config");
        let err = load(missing).expect_err("missing file");
        assert!(matches!(err, ConfigError::NotFound { .. }));
        assert_eq!(err.to_string(), "/nonexistent/wgcluster-test/config: config file not found");

        let dir = std::env::temp_dir().join(format!("wgcluster-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("wgcluster");
        std::fs::write(&file, "config daemon 'main'\n\toption node_id 'r7'\n\toption auto_init '1'\n").expect("write");
        let cfg = load(&file).expect("loads");
        assert_eq!((cfg.node_id.as_str(), cfg.auto_init), ("r7", true));

        std::fs::write(&file, "config daemon 'main'\n\toption log_level 'loud'\n").expect("write");
        let err = load(&file).expect_err("bad value").to_string();
        assert_eq!(err, format!("{}:2: option 'log_level': 'loud' is not one of error, warn, info, debug, trace, off", file.display()));

        // Not UTF-8: the file and the line of the first bad byte.
        std::fs::write(&file, b"config daemon 'main'\n\toption node_id 'r7'\n\toption data_dir '/srv/\xff'\n").expect("write");
        let err = load(&file).expect_err("not UTF-8").to_string();
        assert!(err.starts_with(&format!("{}:3: not valid UTF-8", file.display())), "{err}");

        // An empty file is an error, not the defaults.
        std::fs::write(&file, "").expect("write");
        let err = load(&file).expect_err("empty").to_string();
        assert!(err.starts_with(&format!("{}:1: no 'config daemon 'main'' section", file.display())), "{err}");

        // A directory is not a file: a read error naming the path.
        let err = load(&dir).expect_err("directory").to_string();
        assert!(err.starts_with(&format!("{}: cannot read config file: ", dir.display())), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
