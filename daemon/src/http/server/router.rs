//! The route table: method + path pattern (`/api/configs/{config}/peers/{peer_id}`) to handler.
//! A `{param}` matches one non-empty segment; its value is percent-decoded (so `%2F` arrives as
//! '/', and the handler's own name rule refuses it). `HEAD` is served by the `GET` route.

use super::extract::{BoxHandler, IntoHandler};
use super::parse::{percent_decode, Method};

enum Seg {
    Lit(&'static str),
    Param,
}

struct Route {
    method: Method,
    segs: Vec<Seg>,
    handler: BoxHandler,
}

#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method pattern` → `handler`.
    pub fn route<Args>(mut self, method: Method, pattern: &'static str, handler: impl IntoHandler<Args>) -> Self {
        let segs = pattern
            .trim_start_matches('/')
            .split('/')
            .map(|s| if s.starts_with('{') && s.ends_with('}') { Seg::Param } else { Seg::Lit(s) })
            .collect();
        self.routes.push(Route { method, segs, handler: handler.boxed() });
        self
    }

    pub fn get<Args>(self, p: &'static str, h: impl IntoHandler<Args>) -> Self {
        self.route(Method::Get, p, h)
    }
    pub fn post<Args>(self, p: &'static str, h: impl IntoHandler<Args>) -> Self {
        self.route(Method::Post, p, h)
    }
    pub fn put<Args>(self, p: &'static str, h: impl IntoHandler<Args>) -> Self {
        self.route(Method::Put, p, h)
    }
    pub fn patch<Args>(self, p: &'static str, h: impl IntoHandler<Args>) -> Self {
        self.route(Method::Patch, p, h)
    }
    pub fn delete<Args>(self, p: &'static str, h: impl IntoHandler<Args>) -> Self {
        self.route(Method::Delete, p, h)
    }

    /// The handler of `method path` (path as sent, without the query) and its decoded params.
    pub fn find(&self, method: &Method, path: &str) -> Option<(&BoxHandler, Vec<String>)> {
        let method = if *method == Method::Head { &Method::Get } else { method };
        let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        'routes: for r in self.routes.iter().filter(|r| r.method == *method && r.segs.len() == segs.len()) {
            let mut params = Vec::new();
            for (pat, seg) in r.segs.iter().zip(&segs) {
                match pat {
                    Seg::Lit(l) if l == seg => {}
                    Seg::Param if !seg.is_empty() => params.push(percent_decode(seg, false)),
                    _ => continue 'routes,
                }
            }
            return Some((&r.handler, params));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::server::Response;

    async fn a() -> Response {
        Response::new(200)
    }

    #[test]
    fn matching() {
        let r = Router::new()
            .get("/api/configs", a)
            .post("/api/configs", a)
            .get("/api/configs/{config}", a)
            .get("/api/configs/{config}/peers/{peer_id}", a)
            .get("/", a);
        let cases: &[(Method, &str, Option<&[&str]>)] = &[
            (Method::Get, "/api/configs", Some(&[])),
            (Method::Head, "/api/configs", Some(&[])),
            (Method::Post, "/api/configs", Some(&[])),
            (Method::Delete, "/api/configs", None),
            (Method::Get, "/api/configs/", None),
            (Method::Get, "/api/configs/wg0", Some(&["wg0"])),
            (Method::Get, "/api/configs/wg%2F0", Some(&["wg/0"])),
            (Method::Get, "/api/configs/%2e%2e", Some(&[".."])),
            (Method::Get, "/api/configs/wg0/peers/ab%20c", Some(&["wg0", "ab c"])),
            (Method::Get, "/api/configs/wg0/peers", None),
            (Method::Get, "/api/configs/wg0/peers/x/y", None),
            (Method::Get, "/", Some(&[])),
            (Method::Get, "", None),
            (Method::Other("BREW".into()), "/api/configs", None),
        ];
        for (m, p, want) in cases {
            let got = r.find(m, p).map(|(_, params)| params);
            assert_eq!(got.as_deref(), want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>()).as_deref(), "{m} {p}");
        }
    }
}
