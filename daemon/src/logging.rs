//! The daemon's logger. Every record carries its syslog severity, so an info line is never filed
//! as an error:
//! - **syslog** (`log_target 'syslog'`, or `auto` when running under procd): one RFC 3164
//!   datagram per line to `syslog_socket` (`/dev/log`), `<PRI>Mmm dd hh:mm:ss wgclusterd[PID]: …`
//!   with facility daemon, so OpenWrt's logd files it as `daemon.info`, `daemon.warn`, ….
//!   procd would file everything the daemon writes to stderr as `daemon.err` (and stdout as
//!   `daemon.info`), whatever it says; that is why the daemon talks to the log socket itself.
//! - **stderr** (`log_target 'stderr'`, or `auto` elsewhere): `<N>wgclusterd LEVEL message`, the
//!   `<N>` severity prefix of sd-daemon(3), which journald and many collectors understand.
//!
//! A line the log socket does not take (logd restarting, socket gone, buffer full) goes to stderr
//! instead: nothing is lost and the daemon never blocks on logging. Target, socket and level change
//! on SIGHUP. Nothing logs secrets: keys and tokens have redacting `Debug` impls or are never
//! formatted.

use crate::config::LogTarget;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The syslog facility `daemon` (RFC 3164 / RFC 5424 code 3).
pub const FACILITY_DAEMON: u8 = 3;

/// The program name in log lines.
const TAG: &str = "wgclusterd";

/// The syslog severity of a log level: error → 3 (err), warn → 4 (warning), info → 6 (info),
/// debug and trace → 7 (debug).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The RFC 3164 `PRI` value of a level with facility daemon.
pub fn priority(level: Level) -> u8 {
    FACILITY_DAEMON * 8 + severity(level)
}

/// Where lines go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    Syslog(PathBuf),
}

/// What `log_target` means on this machine: `auto` is syslog under procd, stderr otherwise.
pub fn sink_for(target: LogTarget, socket: &Path, under_procd: bool) -> Sink {
    match target {
        LogTarget::Syslog => Sink::Syslog(socket.to_path_buf()),
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::Auto if under_procd => Sink::Syslog(socket.to_path_buf()),
        LogTarget::Auto => Sink::Stderr,
    }
}

/// Whether this process is an instance started by procd (OpenWrt's init: our parent is PID 1
/// and PID 1 is procd).
pub fn under_procd() -> bool {
    std::os::unix::process::parent_id() == 1 && std::fs::read_to_string("/proc/1/comm").map(|c| c.trim() == "procd").unwrap_or(false)
}

/// One stderr line: `<N>wgclusterd LEVEL message`.
pub fn stderr_line(level: Level, line: &str) -> String {
    format!("<{}>{TAG} {level:<5} {line}", severity(level))
}

/// One RFC 3164 datagram: `<PRI>Mmm dd hh:mm:ss wgclusterd[PID]: message` (UTC timestamp; logd
/// and syslogd stamp lines with their own clock anyway).
pub fn syslog_line(level: Level, line: &str, unix_secs: u64, pid: u32) -> String {
    format!("<{}>{} {TAG}[{pid}]: {line}", priority(level), rfc3164_time(unix_secs))
}

/// `Mmm dd hh:mm:ss` (day space-padded, as RFC 3164 wants) of a Unix time, UTC.
fn rfc3164_time(unix_secs: u64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let name = MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan");
    format!("{name} {day:>2} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

struct Logger {
    sink: RwLock<Sink>,
    socket: OnceLock<Option<UnixDatagram>>,
}

impl Logger {
    /// An unbound, non-blocking datagram socket (sent to the log socket's path line by line, so
    /// a restarted logd is found again).
    fn socket(&self) -> Option<&UnixDatagram> {
        self.socket
            .get_or_init(|| {
                let s = UnixDatagram::unbound().ok()?;
                s.set_nonblocking(true).ok()?;
                Some(s)
            })
            .as_ref()
    }

    fn emit(&self, level: Level, text: &str) {
        let sink = self.sink.read().map(|s| s.clone()).unwrap_or(Sink::Stderr);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let pid = std::process::id();
        let mut err = std::io::stderr().lock();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Sink::Syslog(path) = &sink {
                let sent = self.socket().map(|s| s.send_to(syslog_line(level, line, now, pid).as_bytes(), path));
                if matches!(sent, Some(Ok(_))) {
                    continue;
                }
            }
            let _ = writeln!(err, "{}", stderr_line(level, line));
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level() && (m.target().starts_with("wgcluster") || m.level() <= Level::Warn)
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            self.emit(r.level(), &r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger { sink: RwLock::new(Sink::Stderr), socket: OnceLock::new() };

/// Installs the logger with `log_target 'auto'` on `/dev/log` (so that even the config file's
/// warnings reach the system log under procd) until `configure` applies the config.
pub fn init(level: LevelFilter) {
    if let Ok(mut s) = LOGGER.sink.write() {
        *s = sink_for(LogTarget::Auto, Path::new("/dev/log"), under_procd());
    }
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// Applies `log_level`, `log_target` and `syslog_socket` (at start and on SIGHUP).
pub fn configure(level: LevelFilter, target: LogTarget, socket: &Path) {
    let sink = sink_for(target, socket, under_procd());
    if let Ok(mut s) = LOGGER.sink.write() {
        *s = sink;
    }
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        // (level, severity, PRI with facility daemon, what logd files it as)
        let cases = [
            (Level::Error, 3, 27, "daemon.err"),
            (Level::Warn, 4, 28, "daemon.warn"),
            (Level::Info, 6, 30, "daemon.info"),
            (Level::Debug, 7, 31, "daemon.debug"),
            (Level::Trace, 7, 31, "daemon.debug"),
        ];
        for (level, sev, pri, what) in cases {
            assert_eq!(severity(level), sev, "{level} ({what})");
            assert_eq!(priority(level), pri, "{level} ({what})");
        }
    }

    #[test]
    fn line_formats() {
        assert_eq!(stderr_line(Level::Info, "stopped"), "<6>wgclusterd INFO  stopped");
        assert_eq!(stderr_line(Level::Error, "x"), "<3>wgclusterd ERROR x");
        // 2026-12-07 09:05:03 UTC
        assert_eq!(syslog_line(Level::Warn, "w", 1_796_634_303, 42), "<28>Dec  7 09:05:03 wgclusterd[42]: w");
        let cases = [(0, "Jan  1 00:00:00"), (951_782_400, "Feb 29 00:00:00"), (1_735_689_599, "Dec 31 23:59:59")];
        for (t, want) in cases {
            assert_eq!(rfc3164_time(t), want, "{t}");
        }
    }

    #[test]
    fn targets() {
        let sock = Path::new("/dev/log");
        let syslog = Sink::Syslog(sock.into());
        let cases = [
            (LogTarget::Auto, true, syslog.clone()),
            (LogTarget::Auto, false, Sink::Stderr),
            (LogTarget::Syslog, false, syslog.clone()),
            (LogTarget::Syslog, true, syslog),
            (LogTarget::Stderr, true, Sink::Stderr),
        ];
        for (target, procd, want) in cases {
            assert_eq!(sink_for(target, sock, procd), want, "{target:?} under procd: {procd}");
        }
    }
}
