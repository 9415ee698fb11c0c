//! What a handler can take as arguments (`FromReq`), and `IntoHandler`, which turns an async fn
//! of up to five such arguments into a boxed handler. Arguments are taken in order: an
//! authentication argument before `Payload` means no byte of the body is read for a caller that
//! is refused.

use super::conn::BodyIn;
use super::parse::{parse_query, ParseError};
use super::response::Response;
use super::Req;
use crate::http::error::ApiError;
use crate::http::idempotency::Capture;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use wgcluster_actors::dns::DnsHandle;

pub type HandlerFuture = Pin<Box<dyn Future<Output = Response>>>;
pub type BoxHandler = Box<dyn Fn(Req) -> HandlerFuture>;

/// A handler argument, taken from the request.
#[allow(async_fn_in_trait)] // single-threaded server: the futures need not be Send
pub trait FromReq: Sized {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError>;
}

/// What a handler returns.
pub trait IntoResult {
    fn into_result(self) -> Result<Response, ApiError>;
}

impl IntoResult for Response {
    fn into_result(self) -> Result<Response, ApiError> {
        Ok(self)
    }
}

impl IntoResult for Result<Response, ApiError> {
    fn into_result(self) -> Result<Response, ApiError> {
        self
    }
}

/// An async fn usable as a route's handler.
pub trait IntoHandler<Args> {
    fn boxed(self) -> BoxHandler;
}

macro_rules! handler {
    ($($a:ident),*) => {
        impl<F, Fut, R, $($a,)*> IntoHandler<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + 'static,
            Fut: Future<Output = R> + 'static,
            R: IntoResult,
            $($a: FromReq + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn boxed(self) -> BoxHandler {
                let f = Rc::new(self);
                Box::new(move |mut req: Req| -> HandlerFuture {
                    let f = f.clone();
                    Box::pin(async move {
                        $(
                            let $a = match <$a as FromReq>::from_req(&mut req).await {
                                Ok(v) => v,
                                Err(e) => return e.response(),
                            };
                        )*
                        f($($a),*).await.into_result().unwrap_or_else(|e| e.response())
                    })
                })
            }
        }
    };
}

handler!();
handler!(A);
handler!(A, B);
handler!(A, B, C);
handler!(A, B, C, D);
handler!(A, B, C, D, E);

impl FromReq for Arc<crate::http::AppState> {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Ok(req.app.clone())
    }
}

/// The route's `{param}` values: one (`Path<String>`) or two (`Path<(String, String)>`).
pub struct Path<T>(pub T);

impl<T> Path<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn param(req: &Req, i: usize) -> Result<String, ApiError> {
    req.params.get(i).cloned().ok_or_else(|| ApiError::Internal(format!("route has no path parameter {i}")))
}

impl FromReq for Path<String> {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Ok(Path(param(req, 0)?))
    }
}

impl FromReq for Path<(String, String)> {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Ok(Path((param(req, 0)?, param(req, 1)?)))
    }
}

/// The query string's parameters, decoded. A name given twice is a 400.
pub struct Query(pub BTreeMap<String, String>);

impl Query {
    pub fn from_query(q: &str) -> Result<Query, ApiError> {
        parse_query(q).map(Query).map_err(|e| {
            let m = match e {
                ParseError::Malformed(m) => m,
                other => other.to_string(),
            };
            ApiError::BadRequest(format!("malformed query string: {m}"))
        })
    }

    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
}

impl FromReq for Query {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Query::from_query(&req.query)
    }
}

/// The parts of a request a handler may keep: the query string and the DNS handle.
pub struct HttpRequest {
    query: String,
    dns: Option<DnsHandle>,
}

impl HttpRequest {
    pub fn query_string(&self) -> &str {
        &self.query
    }

    pub fn dns(&self) -> Option<&DnsHandle> {
        self.dns.as_ref()
    }
}

impl FromReq for HttpRequest {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Ok(HttpRequest { query: req.query.clone(), dns: req.dns.clone() })
    }
}

/// The request body, not yet read: `read` takes it, bounded in size and time.
pub struct Payload {
    body: Option<BodyIn>,
    capture: Option<Capture>,
}

impl Payload {
    /// Reads the whole body: at most `limit` bytes (413 past it), within `deadline` (408 after
    /// it). A body with an `Idempotency-Key` is hashed as it is read.
    pub async fn read(self, limit: usize, deadline: Duration) -> Result<Vec<u8>, ApiError> {
        let bytes = match self.body {
            Some(b) => b.read(limit, deadline).await?,
            None => Vec::new(),
        };
        if let Some(c) = &self.capture {
            c.update(&bytes);
        }
        Ok(bytes)
    }
}

impl FromReq for Payload {
    async fn from_req(req: &mut Req) -> Result<Self, ApiError> {
        Ok(Payload { body: req.body.take(), capture: req.capture.clone() })
    }
}
