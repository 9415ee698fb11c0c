//! Start-up guards against the real binary (issue 10, holes 5, 8 and 10): a data dir runs only
//! as the router it belongs to; a mangled or non-UTF-8 config stops `run` naming the file and
//! line and never falls back to the built-in defaults; every file in the data dir is 0600 and
//! every directory 0700, and `run` warns about and fixes anything else. The store (#12) takes one
//! daemon per data dir and refuses the redb database of schema 4 by name.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use wgcluster_tests::daemon::{Daemon, Options, Setup};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(out: &Output) -> String {
    format!("exit {}\nstdout:\n{}\nstderr:\n{}", out.status, text(&out.stdout), text(&out.stderr))
}

fn listening(addr: std::net::SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

/// Every path under `dir` (not following links), `dir` first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() && !all[i].is_symlink() {
            let entries = std::fs::read_dir(&all[i]).unwrap_or_else(|e| panic!("{}: {e}", all[i].display()));
            let mut children: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
            children.sort();
            all.extend(children);
        }
        i += 1;
    }
    all
}

fn node_ids(d: &Daemon) -> Vec<String> {
    let nodes = d.ok("GET", "/api/nodes", None);
    nodes.as_array().expect("node list").iter().map(|n| n["id"].as_str().expect("node id").to_string()).collect()
}

#[test]
fn hole5_copied_data_dir_with_other_node_id_is_refused() {
    let mut d = Daemon::start(Options::default().node_id("node1").tag("h5id"));
    assert_eq!(node_ids(&d), ["node1"]);
    d.stop();

    // The same data dir under another node_id.
    d.setup.opts.node_id = "node2".into();
    d.setup.write_config();
    let out = d.setup.run(&["run"]);
    assert!(!out.status.success(), "run as node2 on node1's data dir started: {}", describe(&out));
    let stderr = text(&out.stderr);
    let want = format!(
        "node_id 'node2' in {} does not match this data dir's identity 'node1' ({})",
        d.setup.config_path.display(),
        d.setup.data_dir.display()
    );
    assert!(stderr.contains(&want), "stderr must name both ids, the config and the data dir:\n{}", describe(&out));
    assert!(!listening(d.setup.cluster_addr) && !listening(d.setup.api_addr), "a refused run left a listener");

    // A copy of the data dir, given to a second router's config as node2, is refused too.
    let copy = Setup::new(Options::default().node_id("node2").tag("h5copy"));
    let cp = std::process::Command::new("cp").arg("-a").arg(&d.setup.data_dir).arg(&copy.data_dir).status().expect("cp");
    assert!(cp.success());
    let out = copy.run(&["run"]);
    assert!(!out.status.success(), "run on a copied data dir started: {}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("'node2'") && stderr.contains("'node1'") && stderr.contains("does not match"), "{}", describe(&out));

    // Nothing was registered: back as node1, the cluster still knows node1 only.
    d.setup.opts.node_id = "node1".into();
    d.setup.write_config();
    d.start_again();
    assert_eq!(node_ids(&d), ["node1"]);
    let cluster = d.ok("GET", "/api/cluster", None);
    assert_eq!(cluster["leader"], "node1", "{cluster}");
}

#[test]
fn hole5_mangled_daemon_header_stops_run_with_file_line() {
    let setup = Setup::new(Options::default().tag("h5hdr"));
    let file = setup.config_path.display().to_string();
    let good = setup.config_text();
    let body = good.strip_prefix("config daemon 'main'\n").expect("the harness writes the header first");
    // (replacement for the header line, line of the error)
    let cases: &[(&str, usize)] = &[
        ("config daemon 'main", 1),
        ("config daemon \"main", 1),
        ("config daemon main extra", 1),
        ("config deamon 'main'", 1),
        ("config Daemon 'main'", 1),
        ("config daemon 'mian'", 1),
        ("# wgcluster\n\nconfig wgcluster 'main'", 3),
        ("# no section header at all, options only", 2),
    ];
    for (header, line) in cases {
        let uci = format!("{header}\n{body}");
        std::fs::write(&setup.config_path, &uci).expect("write config");
        let out = setup.run(&["run"]);
        let stderr = text(&out.stderr);
        let at = format!("{file}:{line}:");
        assert!(!out.status.success(), "{header:?}: run started: {}", describe(&out));
        assert!(stderr.contains(&at), "{header:?}: stderr must name {at}\n{}", describe(&out));
        assert!(!listening(setup.cluster_addr), "{header:?}: something listens on the cluster port");
        assert!(!setup.data_dir.exists(), "{header:?}: the options of a mangled section were used (auto_init)");
    }
    // An empty file (or one with only comments) is an error too, never the defaults.
    for uci in ["", "\n", "# nothing here\n"] {
        std::fs::write(&setup.config_path, uci).expect("write config");
        let out = setup.run(&["run"]);
        assert!(!out.status.success(), "{uci:?}: {}", describe(&out));
        assert!(text(&out.stderr).contains(&format!("{file}:1:")), "{uci:?}: {}", describe(&out));
    }
    // The intact file still starts.
    std::fs::write(&setup.config_path, &good).expect("write config");
    let mut d = Daemon::spawn_only(setup);
    d.wait_ready().unwrap_or_else(|log| panic!("the intact config did not start:\n{log}"));
}

#[test]
fn hole8_data_dir_files_are_0600_and_dirs_0700() {
    let mut d = Daemon::start(Options::default().tag("h8modes"));
    let data = d.setup.data_dir.clone();
    let check_all = |when: &str| {
        let paths = walk(&data);
        assert!(paths.len() >= 7, "{when}: expected the store, token and TLS files: {paths:?}");
        for p in &paths {
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(p), want, "{when}: {} has mode {:04o}, want {want:04o}", p.display(), mode(p));
        }
    };
    check_all("after init and run");
    d.stop();

    let loose_file = data.join("store").join("raft-log");
    let loose_cert = data.join("tls").join("ca.crt");
    let loose_dir = data.join("tls");
    for (p, m) in [(&loose_file, 0o644), (&loose_cert, 0o644), (&loose_dir, 0o755), (&data, 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let before = d.log().len();
    d.start_again();
    let log = d.log()[before..].to_string();
    for (p, m, want) in
        [(&loose_file, "0644", "0600"), (&loose_cert, "0644", "0600"), (&loose_dir, "0755", "0700"), (&data, "0755", "0700")]
    {
        let needle = format!("{} had mode {m}; set it to {want}", p.display());
        assert!(log.lines().any(|l| l.contains(&needle) && l.to_lowercase().contains("warn")), "no warning {needle:?} in:\n{log}");
    }
    check_all("after the restart");
    assert_eq!(node_ids(&d), ["node1"]);
}

#[test]
fn hole10_non_utf8_config_names_file_and_line() {
    let setup = Setup::new(Options::default().tag("h10utf8"));
    let file = setup.config_path.display().to_string();
    let good = setup.config_text();
    let mut lines: Vec<Vec<u8>> = good.lines().map(|l| l.as_bytes().to_vec()).collect();
    // Line 3: a Latin-1 'é' in a value.
    lines[2] = b"\toption endpoint 'caf\xe9.example.com'".to_vec();
    let bytes = lines.join(&b"\n"[..]);
    std::fs::write(&setup.config_path, &bytes).expect("write config");
    for cmd in ["run", "init", "status"] {
        let out = setup.run(&[cmd]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{cmd}: {}", describe(&out));
        assert!(stderr.contains(&format!("{file}:3:")) && stderr.contains("UTF-8"), "{cmd}: stderr must name {file}:3\n{}", describe(&out));
    }
    assert!(!setup.data_dir.exists(), "a bad config must not initialise anything");
}

/// One daemon per data dir (#12): while a daemon runs, a second `run` or an `init` on its data dir
/// is refused naming the dir, and the first keeps serving; a data dir holding the redb database of
/// schema 4 is refused naming the file and what to do.
#[test]
fn store_lock_and_old_database() {
    let mut d = Daemon::start(Options::default().tag("lock"));
    let want = format!("{} is in use by another wgclusterd", d.setup.data_dir.display());
    for args in [&["run"][..], &["init"][..]] {
        let out = d.setup.run(args);
        assert!(!out.status.success(), "{args:?} beside a running daemon: {}", describe(&out));
        assert!(text(&out.stderr).contains(&want), "{args:?}: {}", describe(&out));
    }
    assert_eq!(node_ids(&d), ["node1"], "the first daemon still serves");
    d.stop();

    let old = Setup::new(Options::default().tag("oldredb"));
    std::fs::create_dir_all(&old.data_dir).expect("mkdir");
    let db = old.data_dir.join("wgcluster.redb");
    std::fs::write(&db, b"redb").expect("write");
    let out = old.run(&["run"]);
    assert!(!out.status.success(), "run on a schema-4 data dir started: {}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("wgclusterd init"), "{}", describe(&out));
    assert!(!old.data_dir.join("store").exists(), "nothing written beside the old database");
}
