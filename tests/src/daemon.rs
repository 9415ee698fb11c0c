//! A real `wgclusterd run` for black-box tests: one temporary directory per daemon (under `/tmp`),
//! free `127.0.0.1` ports, a UCI config file, the child's stdout and stderr in a log file, and
//! helpers to talk to its HTTP API (TCP with the admin token, or the Unix control socket), to send
//! hostile raw requests, and to stop, kill and restart it on the same data dir and ports.
//!
//! - The binary is `$WGCLUSTERD_BIN`, else `$CARGO_TARGET_DIR/debug/wgclusterd`, else
//!   `<workspace>/target/debug/wgclusterd`; a missing binary panics saying how to build it.
//! - Waits poll with deadlines; nothing here sleeps for a fixed long time.
//! - `Drop` (also while unwinding from a failed assertion) kills the child by its PID and removes
//!   the temporary directory; when the test is panicking the end of the daemon's log is printed
//!   first. Set `WGC_KEEP_TEST_DIRS=1` to keep the directories.
//! - Only `serde_json`, `ureq` and `libc`: other test crates can use this without new deps.
//! - Every JSON helper checks the `{"status", "message", "data"}` envelope (status true exactly
//!   for 2xx) and panics when a body is not that envelope: the contract is checked everywhere.
//!
//! ```no_run
//! use serde_json::json;
//! use wgcluster_tests::daemon::{Daemon, Options, RawRequest};
//!
//! let mut d = Daemon::start(Options::default().node_id("node1").uci("option log_level 'debug'"));
//! let (code, v) = d.post("/api/nodes", &json!({ "id": "node2" }));   // with the admin token
//! assert_eq!(code, 200, "{v}");
//! let cfg = d.ok("GET", "/api/cluster", None);                       // `data`, or panic
//! let r = d.raw(&RawRequest::new("GET", "/api/configs/..").no_auth()); // verbatim, no token
//! let c = d.client();            // Send + Clone: for other threads
//! d.kill9();
//! d.start_again();               // same data dir, ports and token
//! # let _ = (cfg, r, c);
//! ```

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `start`/`restart` wait for `GET /api/health` to answer with a leader.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `stop` waits for the process to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-request timeout of the HTTP helpers.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

use crate::util::DaemonUci;
pub use crate::util::{free_port, wait_for};

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The `wgclusterd` binary under test (see the module docs for where it is looked for).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WGCLUSTERD_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "WGCLUSTERD_BIN={} is not a file", p.display());
        return p;
    }
    let mut tried = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        let t = if t.is_absolute() { t } else { workspace_root().join(t) };
        tried.push(t.join("debug").join("wgclusterd"));
    }
    tried.push(workspace_root().join("target").join("debug").join("wgclusterd"));
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    panic!(
        "the wgclusterd binary was not found (tried {}). Build it first with \
         `cargo build -p wgclusterd` (with the same CARGO_TARGET_DIR), or point WGCLUSTERD_BIN at it.",
        list.join(", ")
    );
}

/// `wgclusterd ARGS… --config CONFIG` with stdin from /dev/null, ready to run here (in the test's
/// namespace); see [`spawn_in_host`] for a lab host.
pub fn wgclusterd(args: &[&str], config: &Path) -> Command {
    let mut c = Command::new(binary());
    c.args(args).arg("--config").arg(config).stdin(Stdio::null());
    c
}

/// Starts `wgclusterd run --config CONFIG` (with `--witness` when asked) inside the lab host
/// `host`'s namespace, stdout and stderr appended to `log`. The one launcher of the lab harnesses
/// (cluster, failover, data plane); the caller owns the child.
pub fn spawn_in_host(host: &crate::lab::Host, witness: bool, config: &Path, log: &Path) -> Child {
    let script =
        if witness { "exec \"$0\" run --witness --config \"$1\" >>\"$2\" 2>&1" } else { "exec \"$0\" run --config \"$1\" >>\"$2\" 2>&1" };
    host.spawn("sh", &["-c", script, &binary().to_string_lossy(), &config.to_string_lossy(), &log.to_string_lossy()])
}

/// A fresh directory `/tmp/wgc-<tag>-<pid>-<n>-<nanos>`, removed on drop (unless
/// `WGC_KEEP_TEST_DIRS` is set).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(16).collect();
        let path = PathBuf::from(format!("/tmp/wgc-{tag}-{}-{n}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("WGC_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// How to start a daemon. `Options::default()` is node `node1`, endpoint `192.0.2.1`, auto_init.
#[derive(Debug, Clone)]
pub struct Options {
    pub node_id: String,
    pub endpoint: Option<String>,
    pub auto_init: bool,
    /// Lines appended inside the `config daemon 'main'` section (a later option overrides an
    /// earlier one, so these can replace the defaults), e.g. `option log_level 'debug'`.
    pub extra_uci: Vec<String>,
    /// A tag in the temporary directory's name (helps when a directory is kept).
    pub tag: String,
}

impl Default for Options {
    fn default() -> Self {
        Self { node_id: "node1".into(), endpoint: Some("192.0.2.1".into()), auto_init: true, extra_uci: Vec::new(), tag: "daemon".into() }
    }
}

impl Options {
    pub fn node_id(mut self, id: &str) -> Self {
        self.node_id = id.into();
        self
    }
    pub fn endpoint(mut self, e: Option<&str>) -> Self {
        self.endpoint = e.map(Into::into);
        self
    }
    pub fn auto_init(mut self, on: bool) -> Self {
        self.auto_init = on;
        self
    }
    /// One more UCI line, e.g. `option log_level 'debug'` (indentation is added).
    pub fn uci(mut self, line: &str) -> Self {
        self.extra_uci.push(line.into());
        self
    }
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.into();
        self
    }
}

/// Where one daemon lives: its directory, ports and config file. Made by `Setup::new`, which also
/// writes the UCI file; usable without starting the daemon (CLI tests run `init` etc. with it).
pub struct Setup {
    pub dir: TempDir,
    pub opts: Options,
    pub api_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub control_socket: PathBuf,
    pub uapi_dir: PathBuf,
    pub log_path: PathBuf,
}

impl Setup {
    pub fn new(opts: Options) -> Self {
        let dir = TempDir::new(&opts.tag);
        let p = dir.path.clone();
        let s = Setup {
            api_addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            cluster_addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            data_dir: p.join("data"),
            config_path: p.join("wgcluster"),
            control_socket: p.join("wgcluster.sock"),
            uapi_dir: p.join("wireguard"),
            log_path: p.join("daemon.log"),
            dir,
            opts,
        };
        s.write_config();
        s
    }

    /// The UCI text for this setup (defaults, then `extra_uci`).
    pub fn config_text(&self) -> String {
        let mut uci = DaemonUci::new()
            .opt("node_id", &self.opts.node_id)
            .opt("data_dir", self.data_dir.display())
            .opt("api_listen", self.api_addr)
            .opt("cluster_listen", self.cluster_addr)
            .opt("control_socket", self.control_socket.display())
            .opt("wg_backend", "userspace")
            // No real WireGuard unless a test asks for it (override with extra_uci).
            .opt("wg_userspace_bin", "/bin/false")
            .opt("uapi_dir", self.uapi_dir.display())
            .opt("auto_init", u8::from(self.opts.auto_init))
            .opt_if("endpoint", self.opts.endpoint.as_ref());
        for l in &self.opts.extra_uci {
            uci = uci.line(l);
        }
        uci.render()
    }

    pub fn write_config(&self) {
        std::fs::write(&self.config_path, self.config_text()).unwrap_or_else(|e| panic!("write {}: {e}", self.config_path.display()));
    }

    /// `wgclusterd ARGS… --config FILE`, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        wgclusterd(args, &self.config_path)
    }

    /// Runs `wgclusterd ARGS… --config FILE` to completion (bounded by `REQUEST_TIMEOUT`).
    pub fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command(args), REQUEST_TIMEOUT)
    }

    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }
}

/// Runs `cmd` with piped output, killing it (by PID) when it outlives `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn wgclusterd");
    let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
}

/// A raw HTTP request for hostile cases: any method, path, headers and body bytes. The admin
/// token is added unless `no_auth` (or an `Authorization` header of its own) is given.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub no_auth: bool,
    /// Leave out `Content-Length` (e.g. to send chunked bodies by hand).
    pub no_content_length: bool,
}

impl RawRequest {
    pub fn new(method: &str, path: &str) -> Self {
        Self { method: method.into(), path: path.into(), ..Default::default() }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    pub fn json(self, v: &Value) -> Self {
        self.header("Content-Type", "application/json").body(v.to_string())
    }
    pub fn no_auth(mut self) -> Self {
        self.no_auth = true;
        self
    }
    pub fn no_content_length(mut self) -> Self {
        self.no_content_length = true;
        self
    }
}

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON; panics (showing it) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("HTTP {} body is not JSON ({e}): {:?}", self.status, self.text()))
    }
}

/// Parses `HTTP/1.x CODE …\r\nheaders\r\n\r\nbody` (body de-chunked when chunked).
pub fn parse_http_response(buf: &[u8]) -> Option<RawResponse> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let size_str = std::str::from_utf8(&rest[..eol]).ok()?;
            let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    } else if let Some(len) =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Some(RawResponse { status, headers, body })
}

/// Checks the JSON envelope of DESIGN §6: `{"status": bool, "message": str, "data": …}`, with
/// `status` true exactly for 2xx.
pub fn assert_envelope(what: &str, code: u16, v: &Value) {
    let ok = (200..300).contains(&code);
    assert!(v.is_object(), "{what}: HTTP {code}: body is not a JSON object: {v}");
    assert_eq!(v["status"].as_bool(), Some(ok), "{what}: HTTP {code}: 'status' must be {ok}: {v}");
    assert!(v["message"].is_string(), "{what}: HTTP {code}: 'message' must be a string: {v}");
    assert!(v.get("data").is_some(), "{what}: HTTP {code}: 'data' is missing: {v}");
}

/// Talks HTTP to one daemon's API listener: JSON calls through ureq (4xx/5xx bodies readable),
/// raw requests over a plain TCP socket for hostile cases. Cheap to clone and `Send`, so client
/// threads can hammer a daemon while the test holds the `Daemon` itself.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    /// Sent as `Authorization: Bearer <token>` by the token-carrying helpers.
    pub token: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(addr: SocketAddr, token: &str) -> Client {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(REQUEST_TIMEOUT)).max_redirects(0).build().into();
        Client { addr, token: token.to_string(), agent }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// One request; `token` None sends no Authorization header. `Err` only when no HTTP answer
    /// came (connection refused or reset, timeout).
    pub fn try_call_text_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let builder = ureq::http::Request::builder().method(method).uri(self.url(path));
        let builder = match token {
            Some(t) => builder.header("Authorization", format!("Bearer {t}")),
            None => builder,
        };
        let result = match body {
            Some(b) => {
                let req = builder.header("Content-Type", "application/json").body(b.to_string()).map_err(|e| e.to_string())?;
                self.agent.run(req)
            }
            None => self.agent.run(builder.body(()).map_err(|e| e.to_string())?),
        };
        let mut resp = result.map_err(|e| format!("{method} {path}: {e}"))?;
        let code = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("{method} {path}: reading the body: {e}"))?;
        Ok((code, text))
    }

    /// Like `try_call_text_as` with the token, parsing the envelope (panics when the answer is
    /// not the JSON envelope: that is a contract violation, not a transport error).
    pub fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let (code, text) = self.try_call_text_as(Some(&self.token), method, path, body)?;
        Ok((code, envelope(method, path, code, &text)))
    }

    /// (status, text) of a request with `token`; panics when no answer came.
    pub fn call_text_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        self.try_call_text_as(token, method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// (status, envelope) of a request with `token` (None: no Authorization header).
    pub fn call_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (code, text) = self.call_text_as(token, method, path, body);
        (code, envelope(method, path, code, &text))
    }

    /// (status, envelope) of a request with the admin token.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(Some(&self.token), method, path, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("PUT", path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None)
    }

    /// GET with the token, returning (status, text): config downloads, QR codes, metrics.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        self.call_text_as(Some(&self.token), "GET", path, None)
    }

    /// `call`, panicking unless 2xx; returns `data`.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.call(method, path, body);
        assert!((200..300).contains(&code), "{method} {path} {}: HTTP {code} {v}", body.map(|b| b.to_string()).unwrap_or_default());
        v["data"].clone()
    }

    /// Sends `req` on a fresh connection (`Connection: close`) and reads the whole response.
    pub fn raw(&self, req: &RawRequest) -> RawResponse {
        self.try_raw(req, REQUEST_TIMEOUT).unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
    }

    pub fn try_raw(&self, req: &RawRequest, timeout: Duration) -> Result<RawResponse, String> {
        self.send_raw_bytes(&self.raw_bytes(req), timeout)
    }

    /// Serialises `req` as given, plus `Host`, `Connection: close`, `Content-Length` and the
    /// token unless told otherwise. The path is sent verbatim (no normalisation, no encoding).
    pub fn raw_bytes(&self, req: &RawRequest) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", req.method, req.path, self.addr);
        let has = |name: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if !req.no_auth && !has("authorization") {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token));
        }
        if !req.no_content_length && !has("content-length") && !has("transfer-encoding") {
            head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
        }
        for (k, v) in &req.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&req.body);
        bytes
    }

    /// Writes `bytes` to a fresh TCP connection and reads the response until the server closes
    /// or a complete response has arrived. A write error is not fatal as long as a response can
    /// be read (the server may answer early, e.g. 413, and stop reading).
    pub fn send_raw_bytes(&self, bytes: &[u8], timeout: Duration) -> Result<RawResponse, String> {
        let mut s = TcpStream::connect_timeout(&self.addr, timeout).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let write_err = s.write_all(bytes).err();
        let _ = s.flush();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let deadline = Instant::now() + timeout;
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if buf.is_empty() {
                        return Err(format!("read: {e} (write: {write_err:?})"));
                    }
                    break;
                }
            }
            if complete_response(&buf) || Instant::now() > deadline {
                break;
            }
        }
        parse_http_response(&buf)
            .ok_or_else(|| format!("no complete HTTP response (write: {write_err:?}): {:?}", String::from_utf8_lossy(&buf)))
    }
}

fn envelope(method: &str, path: &str, code: u16, text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{method} {path}: HTTP {code}: body is not JSON ({e}): {text:?}"));
    assert_envelope(&format!("{method} {path}"), code, &v);
    v
}

/// A running `wgclusterd run` (see the module docs). Derefs to its [`Client`], so `d.get(…)`,
/// `d.post(…)`, `d.raw(…)` talk to it with the admin token.
pub struct Daemon {
    pub setup: Setup,
    client: Client,
    child: Option<Child>,
}

impl std::ops::Deref for Daemon {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Daemon {
    /// Writes the config, starts the daemon, waits until it answers with a leader, reads the token.
    /// When the chosen ports turn out to be taken (a race with another process), tries new ones.
    pub fn start(opts: Options) -> Daemon {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut d = Daemon::spawn_only(Setup::new(opts.clone()));
            match d.wait_ready() {
                Ok(()) => return d,
                Err(log) if attempt < 3 && log.contains("cannot listen") => {
                    eprintln!("wgclusterd could not bind its ports, retrying with new ones:\n{log}");
                }
                Err(log) => {
                    panic!("wgclusterd did not come up within {START_TIMEOUT:?}; its log:\n{log}")
                }
            }
        }
    }

    /// Starts the daemon for `setup` without waiting for it (see `wait_ready`).
    pub fn spawn_only(setup: Setup) -> Daemon {
        let client = Client::new(setup.api_addr, "");
        let mut d = Daemon { setup, client, child: None };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.setup.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.setup.log_path.display()));
        let log2 = log.try_clone().expect("dup log file");
        let child =
            self.setup.command(&["run"]).stdout(log).stderr(log2).spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", binary().display()));
        self.child = Some(child);
    }

    /// Waits until `GET /api/health` names a leader, then reads the admin token. `Err(log)` when
    /// the process exited or did not answer within `START_TIMEOUT`.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let probe = RawRequest::new("GET", "/api/health").no_auth();
        loop {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!("(exited with {st})\n{}", self.log()));
            }
            if let Ok(r) = self.client.try_raw(&probe, Duration::from_secs(2)) {
                let leader = serde_json::from_slice::<Value>(&r.body).is_ok_and(|v| v["data"]["leader"].is_string());
                if r.status == 200 && leader {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(t) = std::fs::read_to_string(self.setup.token_path()) {
            self.client.token = t.trim().to_string();
        }
        Ok(())
    }

    /// A handle for other threads (same address and token).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    pub fn token(&self) -> &str {
        &self.client.token
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything the daemon has written to stdout and stderr (over all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.setup.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        crate::util::tail(&self.setup.log_path, n)
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on the PID of our own child, which has not been reaped yet (we
            // hold its `Child` and reap only through it), so the PID cannot have been reused.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }

    /// SIGKILL and reap: the daemon dies in the middle of whatever it was doing.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit (panics with the log after `STOP_TIMEOUT`). Returns the
    /// exit status, `None` when it was not running.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        let mut c = self.child.take()?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("wgclusterd did not exit within {STOP_TIMEOUT:?} of SIGTERM; its log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops (SIGTERM) if running, then starts again on the same data dir, ports and config.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts a stopped (or killed) daemon again on the same data dir, ports and config.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again: the daemon is still running");
        self.spawn();
        if let Err(log) = self.wait_ready() {
            panic!("wgclusterd did not come back within {START_TIMEOUT:?}; its log:\n{log}");
        }
    }

    // ---- the control socket (HTTP/1.0 over the Unix socket, no token) ------------------------

    /// One request on the control socket; returns the raw response.
    pub fn control_raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
        let sock = &self.setup.control_socket;
        let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
        s.set_read_timeout(Some(REQUEST_TIMEOUT)).expect("socket timeout");
        let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).expect("write control socket");
        s.write_all(body).expect("write control socket");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("read control socket");
        parse_http_response(&buf).unwrap_or_else(|| panic!("malformed control socket answer: {:?}", String::from_utf8_lossy(&buf)))
    }

    /// A JSON request on the control socket; returns (status, envelope).
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = self.control_raw(method, path, &[], &bytes);
        (r.status, envelope(&format!("control {method}"), path, r.status, &r.text()))
    }
}

/// True when `buf` holds a whole response (head plus Content-Length bytes, or a final chunk).
fn complete_response(buf: &[u8]) -> bool {
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let body = &buf[split + 4..];
    if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()) {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- wgclusterd log ({}), last 60 lines ----\n{}\n---- end of log ----",
                self.setup.log_path.display(),
                self.log_tail(60)
            );
        }
        self.kill9();
        // `setup.dir` (a TempDir) removes the directory after this.
    }
}
