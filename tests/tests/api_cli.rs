//! The command line (DESIGN §6): `--version`, `init` (once, token file 0600), `run` on an
//! uninitialised data dir, and config errors that name the file, line and option.

use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use wgcluster_tests::daemon::{binary, run_with_timeout, Daemon, Options, Setup, START_TIMEOUT};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(out: &Output) -> String {
    format!("exit {}\nstdout:\n{}\nstderr:\n{}", out.status, text(&out.stdout), text(&out.stderr))
}

#[test]
fn version() {
    let out = run_with_timeout(
        {
            let mut c = std::process::Command::new(binary());
            c.arg("--version");
            c
        },
        START_TIMEOUT,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout).trim(), format!("wgclusterd {}", env!("CARGO_PKG_VERSION")), "{}", describe(&out));
}

#[test]
fn init_once_then_run() {
    let setup = Setup::new(Options::default().auto_init(false).tag("init"));
    let out = setup.run(&["init"]);
    assert!(out.status.success(), "{}", describe(&out));
    let token_path = setup.token_path();
    assert!(text(&out.stdout).contains(&token_path.display().to_string()), "init should say where the token is: {}", describe(&out));
    let meta = std::fs::metadata(&token_path).expect("admin.token exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "admin.token mode {:o}", meta.permissions().mode() & 0o777);
    let token = std::fs::read_to_string(&token_path).expect("read token");
    let token = token.trim();
    assert!(token.len() >= 32, "a short token: {token:?}");
    assert!(token.chars().all(|c| c.is_ascii_graphic()), "{token:?}");
    let data_mode = std::fs::metadata(&setup.data_dir).expect("data dir").permissions().mode();
    assert_eq!(data_mode & 0o077, 0, "the data dir is open to others: {:o}", data_mode & 0o777);

    // A second init refuses and leaves the token alone.
    let out = setup.run(&["init"]);
    assert!(!out.status.success(), "second init succeeded: {}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("already initialised") || stderr.contains("already initialized"), "{}", describe(&out));
    assert!(stderr.contains(&setup.data_dir.display().to_string()), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(&token_path).expect("token").trim(), token);

    // `run` without auto_init works on the initialised dir, with init's token.
    let mut d = Daemon::spawn_only(setup);
    d.wait_ready().unwrap_or_else(|log| panic!("run after init did not come up:\n{log}"));
    assert_eq!(d.token(), token);
    let nodes = d.ok("GET", "/api/nodes", None);
    assert_eq!(nodes[0]["id"], "node1", "{nodes}");
    d.ok("POST", "/api/configs", Some(&json!({ "name": "wg0", "address": "10.0.0.1/24", "listen_port": 51820 })));
    let st = d.stop().expect("running");
    assert!(st.success(), "SIGTERM exit: {st}");
    // init on a data dir that is in use by a cluster still refuses.
    let out = d.setup.run(&["init"]);
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn run_without_init_names_the_fix() {
    let setup = Setup::new(Options::default().auto_init(false).tag("noinit"));
    let out = setup.run(&["run"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = text(&out.stderr);
    for needle in [
        "wgclusterd init".to_string(),
        "auto_init".to_string(),
        setup.config_path.display().to_string(),
        setup.data_dir.display().to_string(),
    ] {
        assert!(stderr.contains(&needle), "stderr does not mention {needle:?}:\n{}", describe(&out));
    }
    assert!(!setup.token_path().exists(), "run made a token without init");
    assert!(!setup.control_socket.exists());
}

#[test]
fn bad_config_names_file_line_and_option() {
    let setup = Setup::new(Options::default().tag("badcfg"));
    let file = setup.config_path.display().to_string();
    let cases: &[(&str, usize, &str, &str)] = &[
        ("config daemon 'main'\n\toption node_id 'node1'\n\toption api_listen 'nonsense'\n", 3, "api_listen", "nonsense"),
        ("config daemon 'main'\n\toption wg_backend 'tun'\n", 2, "wg_backend", "tun"),
        ("config daemon 'main'\n\n# comment\n\toption auto_init 'maybe'\n", 4, "auto_init", "maybe"),
        ("config daemon 'main'\n\toption node_id 'node1'\n\toption data_dir 'relative/dir'\n", 3, "data_dir", "relative/dir"),
        ("config daemon 'main'\n\toption cluster_listen '0.0.0.0:70000'\n", 2, "cluster_listen", "70000"),
        ("config daemon 'main'\n\toption endpoint 'http://x'\n", 2, "endpoint", "http://x"),
    ];
    for (uci, line, option, value) in cases {
        std::fs::write(&setup.config_path, uci).expect("write config");
        for cmd in ["run", "init", "status"] {
            let out = setup.run(&[cmd]);
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{cmd} with {uci:?} succeeded: {}", describe(&out));
            let at = format!("{file}:{line}");
            assert!(
                stderr.contains(&at) && stderr.contains(option) && stderr.contains(value),
                "{cmd}: stderr must name {at}, '{option}' and '{value}':\n{}",
                describe(&out)
            );
        }
    }
    // An unterminated quote is a syntax error with its line too.
    std::fs::write(&setup.config_path, "config daemon 'main'\n\toption data_dir '/x\n").expect("write config");
    let out = setup.run(&["run"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&format!("{file}:2")), "{}", describe(&out));
    // A missing file is named.
    std::fs::remove_file(&setup.config_path).expect("rm config");
    let out = setup.run(&["run"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&file), "{}", describe(&out));
    assert!(!setup.data_dir.exists(), "a bad config must not initialise anything");
}

#[test]
fn unknown_options_are_warnings_not_errors() {
    let d = Daemon::start(Options::default().tag("unknownopt").uci("option colour 'blue'"));
    assert_eq!(d.ok("GET", "/api/cluster", None)["leader"], "node1");
    let log = d.log();
    assert!(log.lines().any(|l| l.contains("colour") && l.contains("unknown")), "no warning about the unknown option in:\n{log}");
}
