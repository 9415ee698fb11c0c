//! Parsing what a client sends, with no I/O: the request head (httparse), the body's framing,
//! chunked bodies (decoded incrementally, bounded), percent-decoding and query strings. Every
//! failure is a `ParseError` that the connection answers as the JSON envelope.

/// Largest request head (request line and headers), in bytes: 431 past it.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request: 431 past it.
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line or trailer section of a chunked body.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// A request method. Unknown methods are kept (they answer 404: no route has them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other(String),
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// 431.
    #[error("the request head is larger than {MAX_HEAD} bytes or has more than {MAX_HEADERS} headers")]
    HeadTooLarge,
    /// 400.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 413.
    #[error("the request body is larger than the limit of {0} bytes")]
    BodyTooLarge(usize),
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// HTTP/1.0 (no keep-alive unless asked, no chunked answers).
    pub http10: bool,
    /// Names lower case.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// Whether the client asked to close after this exchange (or is HTTP/1.0 without keep-alive).
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").map(|v| String::from_utf8_lossy(v).to_ascii_lowercase()).unwrap_or_default();
        let tokens: Vec<&str> = conn.split(',').map(str::trim).collect();
        tokens.contains(&"close") || (self.http10 && !tokens.contains(&"keep-alive"))
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` while it is incomplete, else the
/// head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(ParseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
        Err(e) => return Err(ParseError::Malformed(e.to_string())),
    };
    if n > MAX_HEAD {
        return Err(ParseError::HeadTooLarge);
    }
    let method = Method::parse(req.method.unwrap_or(""));
    let target = req.path.unwrap_or("");
    if !target.starts_with('/') {
        return Err(ParseError::Malformed(format!("the request target must be a path starting with '/', got {}", shown(target))));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
    let head = Head { method, path: path.to_string(), query: query.to_string(), http10: req.version == Some(0), headers };
    Ok(Some((head, n)))
}

fn shown(s: &str) -> String {
    wgcluster_actors::model::quote_prefix(s)
}

/// How the request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The body's framing from the head. Both `Content-Length` and `Transfer-Encoding`, two
/// different lengths, or a transfer coding other than `chunked` are refused (the ways a request
/// can be read two ways by two parsers).
pub fn framing(head: &Head) -> Result<Framing, ParseError> {
    let te: Vec<&[u8]> = head.headers.iter().filter(|(n, _)| n == "transfer-encoding").map(|(_, v)| v.as_slice()).collect();
    let cl: Vec<&[u8]> = head.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v.as_slice()).collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err(ParseError::Malformed("both Content-Length and Transfer-Encoding were sent".into()));
        }
        let all: Vec<String> = te.iter().map(|v| String::from_utf8_lossy(v).trim().to_ascii_lowercase()).collect();
        if all.len() != 1 || all[0] != "chunked" {
            return Err(ParseError::Malformed(format!("Transfer-Encoding: only chunked is supported, got {}", shown(&all.join(", ")))));
        }
        return Ok(Framing::Chunked);
    }
    let Some(first) = cl.first() else { return Ok(Framing::None) };
    if cl.iter().any(|v| v != first) {
        return Err(ParseError::Malformed("conflicting Content-Length headers".into()));
    }
    let text = std::str::from_utf8(first).map(str::trim).unwrap_or("?");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Malformed("malformed Content-Length header".into()));
    }
    // All digits: only a number past u64 fails, and that is over any limit.
    Ok(Framing::Length(text.parse::<u64>().unwrap_or(u64::MAX)))
}

/// Decodes a chunked body as it arrives, into at most `limit` bytes.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: Chunk,
    line: Vec<u8>,
    limit: usize,
    pub out: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk: bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailer,
    Done,
}

impl ChunkedDecoder {
    pub fn new(limit: usize) -> Self {
        Self { state: Chunk::Size, line: Vec::new(), limit, out: Vec::new() }
    }

    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Takes bytes from `input`; returns how many it used (fewer than given only once done: the
    /// rest belongs to the next request).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                Chunk::Done => break,
                Chunk::Data(left) => {
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    if self.out.len() + take > self.limit {
                        return Err(ParseError::BodyTooLarge(self.limit));
                    }
                    self.out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) };
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                    let b = input[i];
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() >= MAX_CHUNK_LINE {
                            return Err(ParseError::Malformed("chunked body: a chunk line is too long".into()));
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = self.end_of_line(line)?;
                }
            }
        }
        Ok(i)
    }

    fn end_of_line(&mut self, line: &[u8]) -> Result<Chunk, ParseError> {
        match self.state {
            Chunk::DataEnd if line.is_empty() => Ok(Chunk::Size),
            Chunk::DataEnd => Err(ParseError::Malformed("chunked body: no CRLF after a chunk".into())),
            Chunk::Trailer if line.is_empty() => Ok(Chunk::Done),
            Chunk::Trailer => Ok(Chunk::Trailer),
            _ => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).map(str::trim).unwrap_or("");
                let n = match u64::from_str_radix(size, 16) {
                    Ok(n) if !size.is_empty() && !size.starts_with('+') => n,
                    _ => return Err(ParseError::Malformed(format!("chunked body: {} is not a chunk size", shown(size)))),
                };
                if n > (self.limit - self.out.len()) as u64 {
                    return Err(ParseError::BodyTooLarge(self.limit));
                }
                Ok(if n == 0 { Chunk::Trailer } else { Chunk::Data(n) })
            }
        }
    }
}

/// Percent-decodes `s` (invalid escapes are kept as sent); `plus` also turns '+' into a space
/// (query strings).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into its parameters. A name given twice is refused (it would be read
/// one way here and another way by a proxy or a log).
pub fn parse_query(q: &str) -> Result<std::collections::BTreeMap<String, String>, ParseError> {
    let mut out = std::collections::BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k, true), percent_decode(v, true));
        if out.contains_key(&k) {
            return Err(ParseError::Malformed(format!("duplicate field `{}`", wgcluster_actors::model::quote_prefix(&k))));
        }
        out.insert(k, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let ok = |raw: &str| parse_head(raw.as_bytes()).expect("parses").expect("complete");
        let (h, n) = ok("GET /api/x?a=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\nrest");
        assert_eq!((h.method.clone(), h.path.as_str(), h.query.as_str(), n), (Method::Get, "/api/x", "a=1", 44));
        assert_eq!(h.header("x-a"), Some(&b"b"[..]));
        assert!(!h.wants_close());
        assert!(ok("GET / HTTP/1.0\r\n\r\n").0.wants_close());
        assert!(!ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").0.wants_close());
        assert!(ok("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").0.wants_close());
        assert_eq!(ok("BREW /pot HTTP/1.1\r\n\r\n").0.method, Method::Other("BREW".into()));
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("partial").is_none());
        let cases: &[(&[u8], ParseError)] = &[
            (b"GET http://x/ HTTP/1.1\r\n\r\n", ParseError::Malformed(String::new())),
            (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", ParseError::Malformed(String::new())),
            (b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", ParseError::Malformed(String::new())),
        ];
        for (raw, want) in cases {
            let got = parse_head(raw).expect_err("refused");
            assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(want), "{}", String::from_utf8_lossy(raw));
        }
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).unwrap_err(), ParseError::HeadTooLarge);
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(big.as_bytes()).unwrap_err(), ParseError::HeadTooLarge);
    }

    #[test]
    #[allow(clippy::type_complexity)] // the case table
    fn framings() {
        let head = |hs: &[(&str, &str)]| Head {
            method: Method::Post,
            path: "/".into(),
            query: String::new(),
            http10: false,
            headers: hs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect(),
        };
        let cases: &[(&[(&str, &str)], Result<Framing, ()>)] = &[
            (&[], Ok(Framing::None)),
            (&[("content-length", "12")], Ok(Framing::Length(12))),
            (&[("content-length", " 12 ")], Ok(Framing::Length(12))),
            (&[("content-length", "12"), ("content-length", "12")], Ok(Framing::Length(12))),
            (&[("content-length", "12"), ("content-length", "13")], Err(())),
            (&[("content-length", "-1")], Err(())),
            (&[("content-length", "")], Err(())),
            (&[("content-length", "99999999999999999999999")], Ok(Framing::Length(u64::MAX))),
            (&[("transfer-encoding", "chunked")], Ok(Framing::Chunked)),
            (&[("transfer-encoding", "Chunked ")], Ok(Framing::Chunked)),
            (&[("transfer-encoding", "gzip, chunked")], Err(())),
            (&[("transfer-encoding", "chunked"), ("content-length", "3")], Err(())),
        ];
        for (hs, want) in cases {
            assert_eq!(framing(&head(hs)).map_err(|_| ()), *want, "{hs:?}");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // the case table
    fn chunked_bodies() {
        let cases: &[(&[u8], usize, Result<&[u8], ()>, usize)] = &[
            (b"3\r\nabc\r\n0\r\n\r\nNEXT", 100, Ok(b"abc"), 13),
            (b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", 100, Ok(b"abcde"), 34),
            (b"A\r\n0123456789\r\n0\n\n", 100, Ok(b"0123456789"), 18),
            (b"A\r\n0123456789\r\n0\r\n\r\n", 9, Err(()), 0),
            (b"zz\r\n", 100, Err(()), 0),
            (b"3\r\nabcX\r\n", 100, Err(()), 0),
            (b"ffffffffffffffffffff\r\n", 100, Err(()), 0),
            (b"\r\n", 100, Err(()), 0),
        ];
        for (input, limit, want, used) in cases {
            // Fed whole and byte by byte: the same result.
            for step in [input.len(), 1] {
                let mut d = ChunkedDecoder::new(*limit);
                let mut n = 0;
                let mut res = Ok(());
                while n < input.len() && !d.is_done() {
                    match d.feed(&input[n..(n + step).min(input.len())]) {
                        Ok(k) => n += k,
                        Err(_) => {
                            res = Err(());
                            break;
                        }
                    }
                }
                match want {
                    Ok(body) => {
                        assert!(d.is_done() && res.is_ok(), "{}", String::from_utf8_lossy(input));
                        assert_eq!((d.out.as_slice(), n), (*body, *used), "{}", String::from_utf8_lossy(input));
                    }
                    Err(()) => assert!(res.is_err(), "{}", String::from_utf8_lossy(input)),
                }
            }
        }
    }

    #[test]
    fn queries_and_escapes() {
        assert_eq!(percent_decode("wg%2F0", false), "wg/0");
        assert_eq!(percent_decode("%2e%2e", false), "..");
        assert_eq!(percent_decode("a+b%20c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("bad%zz%", false), "bad%zz%");
        assert_eq!(percent_decode("%4", false), "%4");
        let q = parse_query("a=1&b=x%26y&c&&d=").expect("query");
        assert_eq!(q.get("a").map(String::as_str), Some("1"));
        assert_eq!(q.get("b").map(String::as_str), Some("x&y"));
        assert_eq!(q.get("c").map(String::as_str), Some(""));
        assert_eq!(q.len(), 4);
        let e = parse_query("force=false&force=true").unwrap_err().to_string();
        assert!(e.contains("force"), "{e}");
    }
}
