//! Log priorities reach the system log as syslog levels, not all as `daemon.err`: the real daemon
//! with `log_target 'syslog'` and `syslog_socket` pointing at a Unix datagram socket this test
//! binds (standing in for `/dev/log`, which OpenWrt's logd serves) sends RFC 3164 lines with
//! facility daemon and the severity of each level (`<30>` info, `<28>` warning, `<27>` err). When
//! the socket is gone, lines go to stderr with their `<N>` severity prefix instead, and nothing
//! is lost. The admin token never appears in a log line.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use wgcluster_tests::daemon::{Daemon, Options, TempDir};

fn sighup(d: &Daemon) {
    let pid = d.pid().expect("the daemon runs");
    // SAFETY: kill(2) on the PID of the harness's child, which has not been reaped.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
    assert_eq!(rc, 0, "kill -HUP {pid}");
}

/// Datagrams received until one contains `needle` (or `timeout`: panics with what came).
fn receive_until(sock: &UnixDatagram, got: &mut Vec<String>, needle: &str, timeout: Duration) {
    let start = Instant::now();
    let mut buf = vec![0u8; 8192];
    while !got.iter().any(|l| l.contains(needle)) {
        assert!(start.elapsed() < timeout, "no datagram with {needle:?} within {timeout:?}; received:\n{}", got.join("\n"));
        match sock.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("recv on the stand-in /dev/log: {e}"),
        }
    }
}

/// `<PRI>Mmm dd hh:mm:ss wgclusterd[PID]: `, returning PRI and the message.
fn parse_rfc3164(line: &str, pid: u32) -> (u8, &str) {
    let rest = line.strip_prefix('<').unwrap_or_else(|| panic!("no <PRI>: {line:?}"));
    let (pri, rest) = rest.split_once('>').unwrap_or_else(|| panic!("no <PRI>: {line:?}"));
    let pri: u8 = pri.parse().unwrap_or_else(|_| panic!("PRI is not a number: {line:?}"));
    let stamp = rest.get(..15).unwrap_or_else(|| panic!("no timestamp: {line:?}"));
    let b = stamp.as_bytes();
    let ok = b[0].is_ascii_uppercase()
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_lowercase()
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':';
    assert!(ok, "timestamp is not 'Mmm dd hh:mm:ss': {line:?}");
    let tag = format!(" wgclusterd[{pid}]: ");
    let msg = rest[15..].strip_prefix(&tag).unwrap_or_else(|| panic!("no '{tag}' after the timestamp: {line:?}"));
    (pri, msg)
}

#[test]
fn levels_reach_the_log_socket_as_daemon_facility_priorities() {
    let dir = TempDir::new("syslog");
    let path = dir.path.join("log");
    let sock = UnixDatagram::bind(&path).expect("bind the stand-in /dev/log");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let opts =
        Options::default().tag("syslog").uci("option log_target 'syslog'").uci(&format!("option syslog_socket '{}'", path.display()));
    let mut d = Daemon::start(opts);
    let pid = d.pid().expect("pid");
    let mut got = Vec::new();

    // Info: the start-up line.
    receive_until(&sock, &mut got, "node 'node1': API", Duration::from_secs(10));
    // Warning (a restart-only option changed) and error (a broken file) through SIGHUP.
    d.setup.opts.extra_uci.push("option resync_interval_s '5'".into());
    d.setup.write_config();
    sighup(&d);
    receive_until(&sock, &mut got, "option resync_interval_s changed", Duration::from_secs(10));
    let good = std::fs::read_to_string(&d.setup.config_path).expect("read config");
    std::fs::write(&d.setup.config_path, format!("{good}\toption log_level 'loud'\n")).expect("write config");
    sighup(&d);
    receive_until(&sock, &mut got, "option 'log_level': 'loud'", Duration::from_secs(10));

    let want = [("node 'node1': API", 30), ("option resync_interval_s changed (30 -> 5)", 28), ("option 'log_level': 'loud'", 27)];
    for (needle, pri) in want {
        let line = got.iter().find(|l| l.contains(needle)).expect("received above");
        let (p, msg) = parse_rfc3164(line, pid);
        assert_eq!(p, pri, "{needle}: {line:?}");
        assert!(!msg.contains('\n'), "one line per datagram: {line:?}");
    }
    // Every datagram is well formed, facility daemon (PRI 24..=31).
    for line in &got {
        let (p, _) = parse_rfc3164(line, pid);
        assert!((24..=31).contains(&p), "{line:?}");
    }
    // What went to the socket is not also on stderr.
    assert!(!d.log().contains("node 'node1': API"), "the start-up line went to stderr too:\n{}", d.log());

    // The socket disappears (logd restarting): lines fall back to stderr with their severity.
    drop(sock);
    std::fs::remove_file(&path).expect("remove the socket");
    std::fs::write(&d.setup.config_path, &good).expect("restore config");
    sighup(&d);
    let start = Instant::now();
    while !d.log().contains("reloaded ") {
        assert!(start.elapsed() < Duration::from_secs(10), "no fallback to stderr:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = d.log().lines().find(|l| l.contains("reloaded ")).map(String::from).unwrap_or_default();
    assert!(line.starts_with("<6>wgclusterd INFO "), "{line:?}");
    let token = d.token().to_string();
    assert!(!token.is_empty() && !got.iter().any(|l| l.contains(&token)) && !d.log().contains(&token), "the admin token was logged");
    d.stop();
}
