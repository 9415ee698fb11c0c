//! `wgclusterd status`: asks the running daemon over the control socket and prints the cluster.

use crate::config::DaemonConfig;
use crate::control;
use std::process::ExitCode;

pub fn run(cfg: &DaemonConfig) -> ExitCode {
    let (code, body) = match control::request(&cfg.control_socket, "GET", "/api/cluster", None, None, None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wgclusterd: {e}");
            return ExitCode::from(1);
        }
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            eprintln!("wgclusterd: the daemon answered {code} with a body that is not JSON");
            return ExitCode::from(1);
        }
    };
    if code != 200 {
        eprintln!("wgclusterd: {}", v["message"].as_str().unwrap_or("error"));
        return ExitCode::from(1);
    }
    let d = &v["data"];
    println!("node:    {}", d["node_id"].as_str().unwrap_or("?"));
    println!("panel:   {}", d["leader"].as_str().unwrap_or("(none)"));
    println!("term:    {}", d["term"]);
    println!("applied: {}", d["applied_index"]);
    println!("members:");
    for m in d["members"].as_array().into_iter().flatten() {
        println!("  {:<20} {:<9} {}", m["id"].as_str().unwrap_or("?"), m["role"].as_str().unwrap_or("?"), m["addr"].as_str().unwrap_or(""));
    }
    ExitCode::SUCCESS
}

/// `wgclusterd vrrp-notify CONFIG STATE` (#16): keepalived's notify hook. Checks its arguments,
/// tells the daemon over the control socket, and exits 0 only when the daemon took it.
pub fn vrrp_notify(cfg: &DaemonConfig, group: &str, state: &str) -> ExitCode {
    let config = match wgcluster_actors::vrrp::parse_config(group) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wgclusterd: {e}");
            return ExitCode::from(2);
        }
    };
    let state: wgcluster_actors::vrrp::VrrpState = match state.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wgclusterd: state: {e}");
            return ExitCode::from(2);
        }
    };
    let body = serde_json::json!({ "state": state.as_str() }).to_string();
    let path = format!("/v1/vrrp/{config}");
    match control::request(&cfg.control_socket, "POST", &path, Some("keepalived"), None, Some(body.as_bytes())) {
        Ok((200, _)) => ExitCode::SUCCESS,
        Ok((code, body)) => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            eprintln!("wgclusterd: the daemon answered {code}: {}", v["message"].as_str().unwrap_or("error"));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("wgclusterd: {e}");
            ExitCode::from(1)
        }
    }
}
