//! Network namespaces from the test process (part of [the failover lab](super)).

use super::*;

/// Runs `f` on a fresh thread that has entered the network namespace `ns` (only that thread
/// moves; sockets it opens live in `ns`).
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = Path::new("/var/run/netns").join(ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            // SAFETY: setns(2) on a namespace file we just opened; it changes only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert!(rc == 0, "setns {}: {}", path.display(), std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// One HTTP/1.1 request (`Connection: close`) from namespace `ns` to `addr`. `Err` only when no
/// HTTP answer came.
pub fn http(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    http_with(ns, addr, method, path, token, &[], body, timeout)
}

/// `http` with extra header lines (`Name: value`).
#[allow(clippy::too_many_arguments)] // `http`'s arguments plus the headers
pub fn http_with(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[&str],
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    req.push_str(body);
    in_netns(ns, move || {
        let what = format!("{method} {path} on {addr}");
        let mut s = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(5))).map_err(|e| format!("{what}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.write_all(req.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| format!("{what}: {e}"))?;
        let r = parse_http_response(&buf).ok_or_else(|| format!("{what}: malformed answer {:?}", String::from_utf8_lossy(&buf)))?;
        Ok((r.status, r.text()))
    })
}

/// A router's HTTP API as the operator reaches it: from the operator's namespace, with the token.
#[derive(Clone, Debug)]
pub struct Api {
    pub ns: String,
    pub addr: SocketAddr,
    pub token: String,
    /// The router's node id (for messages).
    pub node: String,
}

impl Api {
    /// (status, text) of a request; `Err` when no answer came.
    pub fn try_text(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let b = body.map(|b| b.to_string());
        http(&self.ns, self.addr, method, path, Some(&self.token), b.as_deref(), API_TIMEOUT)
    }

    /// (status, envelope); `Err` when no answer came or it was not JSON.
    pub fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let (code, text) = self.try_text(method, path, body)?;
        let v =
            serde_json::from_str(&text).map_err(|e| format!("{method} {path} on {}: HTTP {code} is not JSON ({e}): {text}", self.node))?;
        Ok((code, v))
    }

    /// (status, envelope); panics when no answer came.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `data` of a 2xx answer; panics otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.call(method, path, body);
        assert!((200..300).contains(&code) && v["status"] == true, "{method} {path} on {}: HTTP {code} {v}", self.node);
        v["data"].clone()
    }

    pub fn get(&self, path: &str) -> Value {
        self.ok("GET", path, None)
    }

    /// A text answer (a peer's config file); panics unless 200.
    pub fn text(&self, path: &str) -> String {
        let (code, text) = self.try_text("GET", path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "GET {path} on {}: {text}", self.node);
        text
    }

    /// The peers of `config`.
    pub fn peers(&self, config: &str) -> Vec<Value> {
        self.get(&format!("/api/configs/{config}/peers")).as_array().cloned().unwrap_or_default()
    }

    /// Node id -> healthy, from `GET /api/nodes`.
    pub fn node_health(&self) -> BTreeMap<String, bool> {
        self.get("/api/nodes")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| (n["id"].as_str().unwrap_or("").to_string(), n["healthy"] == true))
            .collect()
    }

    /// Audit entries of `action`, newest first (empty when the router does not answer).
    pub fn audit(&self, action: &str) -> Vec<Value> {
        match self.try_call("GET", &format!("/api/audit-logs?action={action}&limit=500"), None) {
            Ok((200, v)) => v["data"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}
