//! `Response`: a status, headers and a body that is either fixed (sent with `Content-Length`) or
//! streamed (each piece produced only when the socket took the one before, sent chunked).

/// A response body.
pub enum Body {
    Fixed(Vec<u8>),
    /// Pieces produced on demand (`views::ok_stream_filled`); an empty piece is skipped.
    Stream(Box<dyn Iterator<Item = Vec<u8>>>),
}

pub struct Response {
    pub status: u16,
    /// Names as written; `Content-Length`, `Transfer-Encoding` and `Connection` are the
    /// connection's to add.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Body::Fixed(Vec::new()) }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn content_type(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Fixed(body.into());
        self
    }

    /// A JSON body.
    pub fn json(self, v: &serde_json::Value) -> Self {
        self.content_type("application/json").body(v.to_string())
    }

    /// A streamed body.
    pub fn streaming(mut self, pieces: impl Iterator<Item = Vec<u8>> + 'static) -> Self {
        self.body = Body::Stream(Box::new(pieces));
        self
    }

    /// The first value of header `name` (any case).
    #[cfg(test)]
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The whole body (tests; a stream is drained).
    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        match self.body {
            Body::Fixed(b) => b,
            Body::Stream(s) => s.flatten().collect(),
        }
    }

    /// The status line and headers. `chunked`: the body follows in chunked encoding; otherwise
    /// `length` is its `Content-Length` (None: delimited by closing the connection).
    pub fn head(&self, length: Option<usize>, chunked: bool, close: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            // Header values are ours; a stray line break must still not split the head.
            let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if chunked {
            out.push_str("Transfer-Encoding: chunked\r\n");
        } else if let Some(n) = length {
            out.push_str(&format!("Content-Length: {n}\r\n"));
        }
        out.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
        out.into_bytes()
    }
}

/// The reason phrase of the statuses the API answers.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let r = Response::new(413).content_type("application/json").header("X-A", "b\r\nInjected: 1");
        let h = String::from_utf8(r.head(Some(7), false, true)).expect("ascii");
        assert_eq!(
            h,
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nX-A: bInjected: 1\r\nContent-Length: 7\r\nConnection: close\r\n\r\n"
        );
        let h = String::from_utf8(Response::new(200).head(None, true, false)).expect("ascii");
        assert!(h.ends_with("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"), "{h}");
        let s = Response::new(200).streaming(vec![b"a".to_vec(), Vec::new(), b"bc".to_vec()].into_iter());
        assert_eq!(s.into_bytes(), b"abc");
    }
}
