//! The rpcd bridge (DESIGN §2, §6): `wgclusterd rpcd list` and `wgclusterd rpcd call METHOD`, the
//! rpcd exec-plugin protocol behind the ubus object `wgcluster` (the LuCI app's only way in).
//!
//! rpcd runs `/usr/libexec/rpcd/wgcluster list` once to learn the methods and their argument
//! types, then `… call METHOD` with the call's arguments as one JSON object on stdin, and expects
//! exactly one JSON object on stdout. Each method here is one row of [`METHODS`]: an HTTP method and
//! a path template of the API, which arguments fill the path (validated as single path segments),
//! which go into the query string, and whether the rest is the JSON body. The request goes to the
//! local daemon over the control socket (no token: the socket is root-only), with the ubus
//! session's username as `X-Wgcluster-User`, so audit entries name the LuCI user.
//!
//! Every outcome is a JSON object and exit code 0: the daemon's own envelope
//! `{"status", "message", "data"}` when it answered JSON (plus `error` and `code` on failure), a
//! wrapped `data` object for the text and SVG of a peer config, and `{"status": false, "error": …}`
//! when the daemon cannot be reached or the call is malformed.
//!
//! The bridge is three parts: [`table`] (the method table), [`plan`] (the pure translation of a
//! call into requests and of answers into the reply) and this module (the I/O: reading the call
//! from stdin, asking ubus for the session's user, the control socket, printing the reply).

mod plan;
mod table;
#[cfg(test)]
mod tests;

pub use plan::*;
pub use table::*;

use crate::config;
use crate::control;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use wgcluster_actors::model::quote_prefix;

/// Who is calling: the ubus session's username (`ubus call session get`), or `ubus` when there
/// is no session, no `ubus` binary, or the session has no username.
pub fn session_user(input: &Map<String, Value>) -> String {
    const FALLBACK: &str = "ubus";
    let Some(sid) = input.get(SESSION_ARG).and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return FALLBACK.into();
    };
    let arg = json!({ SESSION_ARG: sid }).to_string();
    let out = Command::new("ubus").args(["-t", "5", "call", "session", "get", &arg]).stdin(Stdio::null()).stderr(Stdio::null()).output();
    let Ok(out) = out else { return FALLBACK.into() };
    if !out.status.success() {
        return FALLBACK.into();
    }
    let user = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["values"]["username"].as_str().map(sanitize_user))
        .unwrap_or_default();
    if user.is_empty() {
        FALLBACK.into()
    } else {
        user
    }
}

fn print(v: &Value) {
    println!("{v}");
}

/// `wgclusterd rpcd list`.
pub fn list() -> ExitCode {
    print(&signatures());
    ExitCode::SUCCESS
}

fn read_input() -> Result<Map<String, Value>, String> {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw).map_err(|e| format!("cannot read the call's input: {e}"))?;
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("the call's input must be a JSON object".into()),
        Err(e) => Err(format!("the call's input is not valid JSON: {e}")),
    }
}

/// A fresh Idempotency-Key for a write the caller sent without one.
fn new_key() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    format!("rpcd-{}", hex::encode(b))
}

/// Does the call; every failure is an error object.
pub fn call_value(config_path: &Path, name: &str) -> Value {
    let Some(method) = find(name) else {
        return error(&format!("unknown method {}", quote_prefix(name)));
    };
    let input = match read_input() {
        Ok(i) => i,
        Err(e) => return error(&e),
    };
    let reqs = match plan(method, &input) {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => return error(&e.to_string()),
    };
    let key = match plan::key(method, &input) {
        Ok(k) => k,
        Err(e) => return error(&e),
    };
    // A write always carries a key: the caller's (LuCI keeps one per submitted form), else one
    // made here, so the one retry below can never apply the write twice.
    let key = key.or_else(|| (method.http != "GET").then(new_key));
    let user = session_user(&input);
    let mut answers = Vec::new();
    for req in &reqs {
        let body = req.body.as_ref().map(|b| b.to_string().into_bytes());
        let send = || control::request(&cfg.control_socket, req.http, &req.path, Some(&user), key.as_deref(), body.as_deref());
        let mut res = send();
        // Outcome unknown (504) or the daemon went away mid-call: repeat once with the same key.
        if key.is_some() && matches!(res, Ok((504, _)) | Err(control::ControlError::Io(_))) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            res = send();
        }
        match res {
            Ok((code, bytes)) => answers.push((req, code, bytes)),
            Err(e) => return error(&e.to_string()),
        }
    }
    match method.reply {
        Reply::PeerConfig => peer_config_reply(answers),
        Reply::Envelope => match answers.pop() {
            Some((_, code, body)) => envelope(code, &body),
            None => error("nothing to send"),
        },
    }
}

/// `wgclusterd rpcd call METHOD`: exactly one JSON object on stdout, exit 0.
pub fn call(config_path: &Path, name: &str) -> ExitCode {
    print(&call_value(config_path, name));
    ExitCode::SUCCESS
}
