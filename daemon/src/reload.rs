//! What a SIGHUP changes (procd sends one after every `uci commit wgcluster`, e.g. LuCI's Save &
//! Apply): the pure part. [`diff`] compares the running config with the file just read and says,
//! per changed option, whether the running daemon applies it now ([`Effect::Live`]), whether it
//! only matters at start-up ([`Effect::NextStart`]), or whether it needs a restart
//! ([`Effect::Restart`], logged by name). [`adopt`] is the config the daemon runs with afterwards:
//! the live options from the file, every other option as it was started with (so a later SIGHUP
//! still warns about a restart that is pending).
//!
//! Live: `log_level`, `log_target`, `syslog_socket` (the logger), `endpoint` (this router's
//! advertised endpoint and cluster address, replicated through Raft, hence `GET /api/nodes` and
//! the endpoint groups' DNS records), and the data plane options `wg_backend`, `wg_userspace_bin`,
//! `uapi_dir` ([`is_data_plane`]: a message to the WireGuard reconciler, which moves every
//! interface to the backend the start-up rules now choose, or keeps the running one and says why;
//! see `wg::switch`). Needs a restart: the listeners and the control socket, the data dir and
//! node id (the router's identity), the Raft timings, and `resync_interval_s` (the reconciler
//! thread's period, set when it starts).

use crate::config::DaemonConfig;

/// When a changed option takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied by this reload.
    Live,
    /// Only read at start-up; nothing to do while running.
    NextStart,
    /// Takes effect after `/etc/init.d/wgcluster restart`.
    Restart,
}

/// One changed option: its UCI name, old and new value (as written in the file; no option holds
/// a secret) and when it takes effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub option: &'static str,
    pub old: String,
    pub new: String,
    pub effect: Effect,
}

impl Change {
    /// The log line for this change.
    pub fn message(&self) -> String {
        let (o, old, new) = (self.option, &self.old, &self.new);
        match self.effect {
            Effect::Live => format!("option {o} changed ({old} -> {new}): applied"),
            Effect::NextStart => format!("option {o} changed ({old} -> {new}): used at the next start"),
            Effect::Restart => format!("option {o} changed ({old} -> {new}): restart wgcluster to apply"),
        }
    }
}

type Show = fn(&DaemonConfig) -> String;

/// Every option, how it is shown, and when a change takes effect. A new option must be added
/// here (the `every_option_is_listed` test reads the parser's list).
const OPTIONS: &[(&str, Show, Effect)] = &[
    ("node_id", |c| c.node_id.clone(), Effect::Restart),
    ("data_dir", |c| c.data_dir.display().to_string(), Effect::Restart),
    ("api_listen", |c| c.api_listen.to_string(), Effect::Restart),
    ("cluster_listen", |c| c.cluster_listen.to_string(), Effect::Restart),
    ("control_socket", |c| c.control_socket.display().to_string(), Effect::Restart),
    ("endpoint", |c| c.endpoint.as_ref().map_or_else(|| "none".to_string(), ToString::to_string), Effect::Live),
    ("wg_backend", |c| c.wg_backend.to_string(), Effect::Live),
    ("wg_userspace_bin", |c| c.wg_userspace_bin.clone(), Effect::Live),
    ("uapi_dir", |c| c.uapi_dir.display().to_string(), Effect::Live),
    ("auto_init", |c| c.auto_init.to_string(), Effect::NextStart),
    ("log_level", |c| c.log_level.to_string().to_ascii_lowercase(), Effect::Live),
    ("log_target", |c| c.log_target.as_str().to_string(), Effect::Live),
    ("syslog_socket", |c| c.syslog_socket.display().to_string(), Effect::Live),
    ("election_timeout_ms", |c| c.election_timeout_ms.to_string(), Effect::Restart),
    ("heartbeat_ms", |c| c.heartbeat_ms.to_string(), Effect::Restart),
    ("resync_interval_s", |c| c.resync_interval_s.to_string(), Effect::Restart),
    ("snapshot_logs", |c| c.snapshot_logs.to_string(), Effect::Restart),
    (
        "keepalived_conf",
        |c| c.keepalived_conf.as_ref().map_or_else(|| "<data_dir>/keepalived.conf".to_string(), |p| p.display().to_string()),
        Effect::Restart,
    ),
    ("keepalived_pidfile", |c| c.keepalived_pidfile.display().to_string(), Effect::Restart),
    ("vrrp_interface", |c| c.vrrp_interface.clone(), Effect::Restart),
];

/// The options that differ between `running` and `new`, in the file's documented order.
pub fn diff(running: &DaemonConfig, new: &DaemonConfig) -> Vec<Change> {
    OPTIONS
        .iter()
        .filter_map(|&(option, show, effect)| {
            let (old, new) = (show(running), show(new));
            (old != new).then_some(Change { option, old, new, effect })
        })
        .collect()
}

/// The options that move the data plane (one switch request covers all three).
pub fn is_data_plane(option: &str) -> bool {
    matches!(option, "wg_backend" | "wg_userspace_bin" | "uapi_dir")
}

/// The config the daemon runs with after the reload: `running` with the live and next-start
/// options taken from `new` (restart-only options keep their running value). `endpoint_applied`:
/// whether the new endpoint was written (if not, the running one is kept and the next SIGHUP tries
/// again); `wg_applied`: likewise for the data plane options (the switch was refused or undone).
pub fn adopt(running: &DaemonConfig, new: &DaemonConfig, endpoint_applied: bool, wg_applied: bool) -> DaemonConfig {
    let mut c = running.clone();
    c.log_level = new.log_level;
    c.log_target = new.log_target;
    c.syslog_socket = new.syslog_socket.clone();
    c.auto_init = new.auto_init;
    if endpoint_applied {
        c.endpoint = new.endpoint.clone();
    }
    if wg_applied {
        c.wg_backend = new.wg_backend;
        c.wg_userspace_bin = new.wg_userspace_bin.clone();
        c.uapi_dir = new.uapi_dir.clone();
    }
    c.warnings = new.warnings.clone();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, LogTarget, WgBackendKind};
    use log::LevelFilter;
    use std::path::Path;
    use wgcluster_actors::model::Endpoint;

    fn ep(s: &str) -> Option<Endpoint> {
        Some(Endpoint::parse("endpoint", s).expect("literal endpoint"))
    }

    #[test]
    fn changes_and_their_effect() {
        type Edit = fn(&mut DaemonConfig);
        type Want = &'static [(&'static str, &'static str, &'static str, Effect)];
        let cases: &[(Edit, Want)] = &[
            (|_| {}, &[]),
            (|c| c.endpoint = ep("198.51.100.7"), &[("endpoint", "none", "198.51.100.7", Effect::Live)]),
            (|c| c.log_level = LevelFilter::Debug, &[("log_level", "info", "debug", Effect::Live)]),
            (|c| c.log_target = LogTarget::Syslog, &[("log_target", "auto", "syslog", Effect::Live)]),
            (|c| c.syslog_socket = "/tmp/log".into(), &[("syslog_socket", "/dev/log", "/tmp/log", Effect::Live)]),
            (|c| c.auto_init = true, &[("auto_init", "false", "true", Effect::NextStart)]),
            (|c| c.node_id = "r9".into(), &[("node_id", "router", "r9", Effect::Restart)]),
            (|c| c.data_dir = "/srv/wg".into(), &[("data_dir", "/etc/wgcluster", "/srv/wg", Effect::Restart)]),
            (|c| c.api_listen = ([127, 0, 0, 1], 1).into(), &[("api_listen", "127.0.0.1:10086", "127.0.0.1:1", Effect::Restart)]),
            (
                |c| c.cluster_listen = ([10, 0, 0, 1], 10087).into(),
                &[("cluster_listen", "0.0.0.0:10087", "10.0.0.1:10087", Effect::Restart)],
            ),
            (|c| c.control_socket = "/tmp/s".into(), &[("control_socket", "/var/run/wgcluster.sock", "/tmp/s", Effect::Restart)]),
            (|c| c.wg_backend = WgBackendKind::Kernel, &[("wg_backend", "auto", "kernel", Effect::Live)]),
            (|c| c.wg_userspace_bin = "boringtun".into(), &[("wg_userspace_bin", "wireguard-go", "boringtun", Effect::Live)]),
            (|c| c.uapi_dir = "/tmp/wg".into(), &[("uapi_dir", "/var/run/wireguard", "/tmp/wg", Effect::Live)]),
            (|c| c.election_timeout_ms = 3000, &[("election_timeout_ms", "1500", "3000", Effect::Restart)]),
            (|c| c.heartbeat_ms = 100, &[("heartbeat_ms", "300", "100", Effect::Restart)]),
            (|c| c.resync_interval_s = 5, &[("resync_interval_s", "30", "5", Effect::Restart)]),
            (|c| c.snapshot_logs = 50, &[("snapshot_logs", "1000", "50", Effect::Restart)]),
            // Several at once, in the documented order; warnings are not options.
            (
                |c| {
                    c.log_level = LevelFilter::Warn;
                    c.api_listen = ([127, 0, 0, 1], 2).into();
                    c.endpoint = ep("[2001:db8::1]:51820");
                    c.warnings.push("x".into());
                },
                &[
                    ("api_listen", "127.0.0.1:10086", "127.0.0.1:2", Effect::Restart),
                    ("endpoint", "none", "[2001:db8::1]:51820", Effect::Live),
                    ("log_level", "info", "warn", Effect::Live),
                ],
            ),
        ];
        let mut base = DaemonConfig::defaults();
        base.node_id = "router".into();
        for (edit, want) in cases {
            let mut new = base.clone();
            edit(&mut new);
            let got: Vec<(&str, String, String, Effect)> =
                diff(&base, &new).into_iter().map(|c| (c.option, c.old, c.new, c.effect)).collect();
            let want: Vec<(&str, String, String, Effect)> = want.iter().map(|&(o, a, b, e)| (o, a.to_string(), b.to_string(), e)).collect();
            assert_eq!(got, want);
        }
        // An endpoint removed is a live change too.
        let mut with = base.clone();
        with.endpoint = ep("vpn.example.com");
        let got = diff(&with, &base);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].option, got[0].new.as_str(), got[0].effect), ("endpoint", "none", Effect::Live));
    }

    #[test]
    fn messages_name_the_option() {
        let c = Change { option: "api_listen", old: "a".into(), new: "b".into(), effect: Effect::Restart };
        assert_eq!(c.message(), "option api_listen changed (a -> b): restart wgcluster to apply");
        let c = Change { option: "endpoint", old: "none".into(), new: "1.2.3.4".into(), effect: Effect::Live };
        assert_eq!(c.message(), "option endpoint changed (none -> 1.2.3.4): applied");
        let c = Change { option: "auto_init", old: "false".into(), new: "true".into(), effect: Effect::NextStart };
        assert_eq!(c.message(), "option auto_init changed (false -> true): used at the next start");
    }

    #[test]
    fn adopt_takes_live_options_only() {
        let running = DaemonConfig::defaults();
        let mut new = running.clone();
        new.log_level = LevelFilter::Debug;
        new.endpoint = ep("198.51.100.7");
        new.api_listen = ([127, 0, 0, 1], 1).into();
        new.wg_backend = WgBackendKind::Kernel;
        new.uapi_dir = "/tmp/wg".into();
        new.resync_interval_s = 5;
        let after = adopt(&running, &new, true, true);
        assert_eq!((after.log_level, after.endpoint.clone()), (LevelFilter::Debug, ep("198.51.100.7")));
        assert_eq!((after.wg_backend, after.uapi_dir.clone()), (WgBackendKind::Kernel, new.uapi_dir.clone()));
        assert_eq!((after.api_listen, after.resync_interval_s), (running.api_listen, running.resync_interval_s));
        // The restart is still pending: the next reload of the same file warns again.
        let again: Vec<&str> = diff(&after, &new).iter().map(|c| c.option).collect();
        assert_eq!(again, ["api_listen", "resync_interval_s"]);
        // An endpoint that could not be written, a backend switch refused or undone: tried again
        // on the next reload.
        let after = adopt(&running, &new, false, false);
        assert_eq!(
            (after.endpoint.clone(), after.wg_backend, after.uapi_dir.clone()),
            (None, running.wg_backend, running.uapi_dir.clone())
        );
        let again: Vec<&str> = diff(&after, &new).iter().map(|c| c.option).collect();
        assert_eq!(again, ["api_listen", "endpoint", "wg_backend", "uapi_dir", "resync_interval_s"]);
    }

    #[test]
    fn data_plane_options() {
        let live: Vec<&str> = OPTIONS.iter().map(|o| o.0).filter(|o| is_data_plane(o)).collect();
        assert_eq!(live, ["wg_backend", "wg_userspace_bin", "uapi_dir"]);
        assert!(OPTIONS.iter().filter(|o| is_data_plane(o.0)).all(|o| o.2 == Effect::Live));
        assert!(!is_data_plane("resync_interval_s"));
    }

    #[test]
    fn every_option_is_listed() {
        // Each option the parser accepts, set to a non-default value, shows up in the diff.
        let text = "config daemon 'main'\n\
            option node_id 'r2'\noption data_dir '/d'\noption api_listen '127.0.0.1:1'\n\
            option cluster_listen '127.0.0.1:2'\noption control_socket '/s'\noption endpoint '1.2.3.4'\n\
            option wg_backend 'kernel'\noption wg_userspace_bin 'x'\noption uapi_dir '/u'\noption auto_init '1'\n\
            option log_level 'debug'\noption log_target 'syslog'\noption syslog_socket '/l'\n\
            option election_timeout_ms '9000'\noption heartbeat_ms '400'\noption resync_interval_s '7'\n\
            option snapshot_logs '9'\noption keepalived_conf '/k.conf'\noption keepalived_pidfile '/k.pid'\n\
            option vrrp_interface 'eth9'\n";
        let new = config::parse(Path::new("/etc/config/wgcluster"), text).expect("parses");
        assert!(new.warnings.iter().all(|w| !w.contains("unknown option")), "{:?}", new.warnings);
        let options = text.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).count();
        assert_eq!(diff(&DaemonConfig::defaults(), &new).len(), options);
        assert_eq!(OPTIONS.len(), options);
    }
}
