//! Reading JSON request bodies field by field, so every error names the field and says what was
//! expected. Unknown fields are refused (a typo must not be silently ignored).

use super::error::ApiError;
use ipnet::IpNet;
use serde_json::{Map, Value};
use wgcluster_actors::model::{is_forbidden_char, quote_prefix};

#[derive(Debug)]
pub struct Body {
    obj: Map<String, Value>,
    prefix: String,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses bytes as JSON (any value).
pub fn json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::BadRequest("the request body is empty; a JSON object is expected".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        Self::from_value(json(bytes)?, "")
    }

    /// `prefix` is prepended to field names in messages (e.g. `[3].` for the 4th item of an array).
    pub fn from_value(v: Value, prefix: &str) -> Result<Self, ApiError> {
        match v {
            Value::Object(obj) => Ok(Self { obj, prefix: prefix.to_string() }),
            other => Err(ApiError::BadRequest(format!("{}the body must be a JSON object, not {}", prefix, kind(&other)))),
        }
    }

    pub fn name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn bad(&self, key: &str, want: &str, got: &Value) -> ApiError {
        ApiError::BadRequest(format!("{}: expected {}, got {}", self.name(key), want, kind(got)))
    }

    /// Refuses fields other than `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        if let Some(k) = self.obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            // The key is the caller's text: quote at most a prefix of it.
            let shown = match k.len() <= 64 && !k.chars().any(is_forbidden_char) {
                true => self.name(k),
                false => format!("{}{}", self.prefix, quote_prefix(k)),
            };
            return Err(ApiError::BadRequest(format!("{shown}: unknown field (known: {})", allowed.join(", "))));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// The value as given (not null), for fields of more than one JSON type.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// Present and explicitly null (to clear an optional value in a PATCH).
    pub fn is_null(&self, key: &str) -> bool {
        matches!(self.obj.get(key), Some(Value::Null))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, "a string", v)),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<String, ApiError> {
        self.opt_str(key)?.ok_or_else(|| ApiError::BadRequest(format!("{}: is required", self.name(key))))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(key, "true or false", v)),
        }
    }

    pub fn opt_uint(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
                _ => Err(ApiError::BadRequest(format!("{}: must be an integer from {min} to {max}, got {n}", self.name(key)))),
            },
            Some(v) => Err(self.bad(key, &format!("an integer from {min} to {max}"), v)),
        }
    }

    pub fn req_uint(&self, key: &str, min: u64, max: u64) -> Result<u64, ApiError> {
        self.opt_uint(key, min, max)?.ok_or_else(|| ApiError::BadRequest(format!("{}: is required", self.name(key))))
    }

    /// A list of strings, given as a JSON array or as one comma-separated string.
    pub fn opt_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(ApiError::BadRequest(format!("{}[{i}]: expected a string, got {}", self.name(key), kind(other)))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.bad(key, "a string or an array of strings", v)),
        }
    }

    /// CIDRs (`10.0.0.0/24`, `fd00::/64`); a bare address is taken as a host route.
    pub fn opt_cidrs(&self, key: &str) -> Result<Option<Vec<IpNet>>, ApiError> {
        let Some(list) = self.opt_list(key)? else { return Ok(None) };
        list.iter()
            .map(|s| parse_cidr(s).map_err(|r| ApiError::BadRequest(format!("{}: {r}", self.name(key)))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(a) = s.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(a));
    }
    Err(format!("{} is not an IP network in CIDR notation (like 10.0.0.1/24 or fd00::1/64)", quote_prefix(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let b = Body::parse(br#"{"name": 5, "port": 70000, "ips": ["10.0.0.0/8", 3], "ok": true}"#).unwrap();
        let cases: Vec<(Result<(), ApiError>, &str)> = vec![
            (b.req_str("name").map(|_| ()), "name: expected a string, got a number"),
            (b.opt_uint("port", 1, 65535).map(|_| ()), "port: must be an integer from 1 to 65535, got 70000"),
            (b.opt_list("ips").map(|_| ()), "ips[1]: expected a string"),
            (b.req_str("missing").map(|_| ()), "missing: is required"),
            (b.only(&["name", "port", "ips"]), "ok: unknown field"),
        ];
        for (res, want) in cases {
            let msg = res.unwrap_err().to_string();
            assert!(msg.contains(want), "{msg} !~ {want}");
        }
        assert!(Body::parse(b"[1]").is_err());
        assert!(Body::parse(b"{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(Body::parse(b"").unwrap_err().to_string().contains("empty"));
        assert_eq!(parse_cidr("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert!(parse_cidr("10.0.0.1/33").is_err());
    }
}
