//! Peer usage (#15): the limit fields of a peer body (`data_limit_bytes`, `rx_limit_bytes`,
//! `tx_limit_bytes`, `expires_at`), the
//! usage history route `GET /api/configs/{c}/peers/{id}/usage?from&to&step`, and the usage
//! settings `GET|PUT /api/settings/usage`. Every bad value is a 400 naming its field.

use super::auth::User;
use super::body::Body;
use super::configs::config_name;
use super::error::{ok, ApiError};
use super::server::{HttpRequest, Path, Payload, Query, Response};
use super::{now_ms, read_body, App};
use serde_json::{json, Value};
use wgcluster_actors::model::*;
use wgcluster_actors::state::Command;
use wgcluster_actors::usage::merge::{DAY_MS, HOUR_MS};

/// Largest data limit accepted (2^53: exact in every JSON reader).
pub const DATA_LIMIT_MAX: u64 = 1 << 53;

/// A byte limit (`data_limit_bytes`, `rx_limit_bytes`, `tx_limit_bytes`): absent → `None`;
/// `null` → remove (`Some(None)`); an integer of bytes, 0 to 2^53.
pub fn byte_limit(b: &Body, field: &str) -> Result<Option<Option<u64>>, ApiError> {
    if b.is_null(field) {
        return Ok(Some(None));
    }
    Ok(b.opt_uint(field, 0, DATA_LIMIT_MAX)?.map(Some))
}

/// `expires_at`: absent → `None`; `null` → remove; an RFC 3339 date-time (`2026-12-31T23:59:59Z`,
/// offsets and fractions accepted), a date (`2026-12-31`, midnight UTC) or unix milliseconds.
pub fn expires_at(b: &Body) -> Result<Option<Option<Millis>>, ApiError> {
    let field = b.name("expires_at");
    if b.is_null("expires_at") {
        return Ok(Some(None));
    }
    if !b.has("expires_at") {
        return Ok(None);
    }
    let v = b.raw("expires_at");
    match v {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(ms) if ms <= DATA_LIMIT_MAX => Ok(Some(Some(ms))),
            _ => Err(ApiError::BadRequest(format!("{field}: unix milliseconds must be an integer from 0 to {DATA_LIMIT_MAX}, got {n}"))),
        },
        Some(Value::String(s)) => parse_time(&field, s).map(|t| Some(Some(t))),
        _ => Err(ApiError::BadRequest(format!(
            "{field}: expected an RFC 3339 date-time (e.g. 2026-12-31T23:59:59Z), a date (2026-12-31) or unix milliseconds"
        ))),
    }
}

/// PURE: an RFC 3339 date-time, a date (midnight UTC) or unix milliseconds (digits) → unix ms.
pub fn parse_time(field: &str, s: &str) -> Result<Millis, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "{field}: {} is not a date; use RFC 3339 (e.g. 2026-12-31T23:59:59Z), a date (2026-12-31) or unix milliseconds",
            quote_prefix(s)
        ))
    };
    if !s.is_empty() && s.len() <= 16 && s.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse::<u64>().map_err(|_| bad());
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, ApiError> {
        let part = s.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    let mut ms = 0i64;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't') || b.len() < 20 || b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if hh > 23 || mm > 59 || ss > 60 {
            return Err(bad());
        }
        secs += hh * 3600 + mm * 60 + ss.min(59);
        let mut i = 19;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            let frac = &s[start..i.min(start + 3)];
            ms = frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(3 - frac.len() as u32);
        }
        match &s[i..] {
            "Z" | "z" => {}
            off if off.len() == 6 && matches!(off.as_bytes()[0], b'+' | b'-') && off.as_bytes()[3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                let off_s = oh * 3600 + om * 60;
                secs += if off.as_bytes()[0] == b'+' { -off_s } else { off_s };
            }
            _ => return Err(bad()),
        }
    }
    let total = secs * 1000 + ms;
    u64::try_from(total).map_err(|_| bad())
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `GET /api/configs/{c}/peers/{id}/usage?from&to&step`: the peer's traffic in hourly (`step=hour`,
/// kept 48 hours) or daily (`step=day`, kept 35 days) buckets over `[from, to)`; defaults: `to` now,
/// `from` 24 hours (hour) or 30 days (day) before `to`. Only buckets with traffic are listed.
pub async fn peer_usage(app: App, _u: User, path: Path<(String, String)>, req: HttpRequest) -> Result<Response, ApiError> {
    let (c, p) = path.into_inner();
    let config = config_name(&c)?;
    let id = PeerId::parse("peer_id", &p)?;
    let q = Query::from_query(req.query_string()).map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    let (mut from, mut to, mut step) = (None, None, HOUR_MS);
    for (k, v) in q.into_inner() {
        match k.as_str() {
            "from" => from = Some(parse_time("from", &v)?),
            "to" => to = Some(parse_time("to", &v)?),
            "step" => {
                step = match v.as_str() {
                    "hour" | "3600" => HOUR_MS,
                    "day" | "86400" => DAY_MS,
                    _ => return Err(ApiError::BadRequest(format!("step: must be hour (3600) or day (86400), got {}", quote_prefix(&v)))),
                }
            }
            other => return Err(ApiError::BadRequest(format!("{}: unknown query parameter (known: from, to, step)", quote_prefix(other)))),
        }
    }
    let to = to.unwrap_or_else(now_ms);
    let from = from.unwrap_or_else(|| to.saturating_sub(if step == HOUR_MS { 24 * HOUR_MS } else { 30 * DAY_MS }));
    if from >= to {
        return Err(ApiError::BadRequest(format!("from: must be before to ({from} >= {to})")));
    }
    let v = app.cluster.read(|s| {
        if !s.configs.contains_key(&config) {
            return Err(ApiError::NotFound(format!("config '{config}' not found")));
        }
        if s.peers.get(&id).is_none_or(|p| p.config != config) {
            return Err(ApiError::NotFound(format!("peer '{id}' not found in config '{config}'")));
        }
        let u = s.usage.peers.get(&id);
        let buckets: Vec<Value> = u
            .map(|u| u.history.range(step, from, to))
            .unwrap_or_default()
            .into_iter()
            .map(|b| json!({ "start": b.start, "rx_bytes": b.rx, "tx_bytes": b.tx }))
            .collect();
        Ok(json!({
            "peer_id": id, "config": config, "from": from, "to": to, "step": step / 1000,
            "rx_bytes": u.map(|u| u.rx).unwrap_or(0), "tx_bytes": u.map(|u| u.tx).unwrap_or(0),
            "buckets": buckets,
        }))
    })?;
    Ok(ok("Peer usage retrieved successfully", v))
}

fn settings_view(app: &App) -> Value {
    app.cluster.read(|s| json!({ "interval_s": s.settings.usage_interval_s, "metrics_per_peer": s.settings.usage_metrics_per_peer }))
}

/// `GET /api/settings/usage`: the collection interval and whether `/metrics` lists peers.
pub async fn get_settings(app: App, _u: User) -> Response {
    ok("Usage settings retrieved successfully", settings_view(&app))
}

/// `PUT /api/settings/usage` `{"interval_s": 5..3600, "metrics_per_peer": bool}`.
pub async fn put_settings(app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["interval_s", "metrics_per_peer"])?;
    let range = wgcluster_actors::state::USAGE_INTERVAL_RANGE;
    let cmd = Command::SetUsageSettings {
        interval_s: b.opt_uint("interval_s", *range.start(), *range.end())?,
        metrics_per_peer: b.opt_bool("metrics_per_peer")?,
    };
    app.submit_as(&u, cmd).await?;
    Ok(ok("Usage settings saved", settings_view(&app)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_time_table() {
        let cases: &[(&str, Option<Millis>)] = &[
            ("0", Some(0)),
            ("1767225599000", Some(1_767_225_599_000)),
            ("1970-01-01", Some(0)),
            ("2026-12-31", Some(1_798_675_200_000)),
            ("2026-12-31T23:59:59Z", Some(1_798_761_599_000)),
            ("2026-12-31t23:59:59z", Some(1_798_761_599_000)),
            ("2026-12-31T23:59:59.5Z", Some(1_798_761_599_500)),
            ("2026-12-31T23:59:59.123456Z", Some(1_798_761_599_123)),
            ("2027-01-01T01:00:00+02:00", Some(1_798_761_600_000 - 3_600_000)),
            ("2026-12-31T22:00:00-02:00", Some(1_798_761_600_000)),
            ("2024-02-29", Some(1_709_164_800_000)),
            ("2023-02-29", None),
            ("2026-13-01", None),
            ("2026-12-32", None),
            ("2026-12-31T24:00:00Z", None),
            ("2026-12-31T23:59:59", None),
            ("2026-12-31 23:59:59Z", None),
            ("31/12/2026", None),
            ("tomorrow", None),
            ("-5", None),
            ("", None),
            ("1969-12-31", None),
            ("2026-12-31T23:59:59.Z", None),
            ("2026-12-31T23:59:59+2:00", None),
        ];
        for (text, want) in cases {
            let got = parse_time("expires_at", text);
            match want {
                Some(ms) => assert_eq!(got.as_ref().ok(), Some(ms), "{text}: {got:?}"),
                None => {
                    let e = got.expect_err(text).to_string();
                    assert!(e.starts_with("expires_at: "), "{text}: {e}");
                }
            }
        }
    }
}
