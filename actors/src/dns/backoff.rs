//! Retry timing, all pure: the exponential backoff with jitter of the DNS retry queue, the
//! `Retry-After` header, and the token bucket that paces requests to a provider. Time and
//! randomness come in as arguments, so every schedule is reproducible in tests.
//!
//! Must not: read a clock, sleep, or draw random numbers itself.

use crate::model::Millis;
use std::time::{Duration, Instant};

/// When failed DNS work is tried again, and when it is given up (left `dead` in the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Largest delay (before jitter).
    pub max: Duration,
    /// Failed attempts after which an entry is dead (kept, but not retried automatically).
    pub max_attempts: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(1), max: Duration::from_secs(120), max_attempts: 12 }
    }
}

/// Longest `Retry-After` we accept; a larger value is clamped (a bad proxy must not park us for days).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Delay before the next attempt after `failures` failed attempts (1 = the first failure).
/// "Equal jitter": half the exponential delay is fixed, the other half scaled by `jitter` (0..1),
/// so retries of many routers spread out but never come sooner than half the schedule.
pub fn delay(policy: &BackoffPolicy, failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(32);
    let full = policy.base.saturating_mul(1u32 << exp.min(31)).min(policy.max);
    let j = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    let half = full / 2;
    half + half.mul_f64(j)
}

/// Unix milliseconds of the next attempt: the backoff delay, or the server's `Retry-After` when
/// that is longer.
pub fn next_attempt_at(now: Millis, policy: &BackoffPolicy, failures: u32, jitter: f64, retry_after: Option<Duration>) -> Millis {
    let d = delay(policy, failures, jitter).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
    now.saturating_add(d.as_millis() as Millis)
}

/// Whether an entry with `failures` failed attempts is given up.
pub fn is_dead(policy: &BackoffPolicy, failures: u32) -> bool {
    failures >= policy.max_attempts
}

/// A `Retry-After` value in delay-seconds form (what Cloudflare sends). HTTP dates are not
/// accepted (None: the backoff schedule applies).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let s = v.trim();
    let secs: u64 = s.parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// A token bucket: `rate` requests a second on average, bursts up to `burst`, and a hard pause
/// (`pause_until`) after a 429.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    pub rate: f64,
    pub burst: f64,
    tokens: f64,
    last: Option<Instant>,
    paused_until: Option<Instant>,
}

/// What the bucket says about sending a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Send it (a token was taken).
    Go,
    /// Wait this long, then ask again (a short pacing delay).
    Wait(Duration),
    /// The provider asked us to stop until this much time has passed: do not wait, fail the
    /// attempt and let the retry queue come back later.
    Paused(Duration),
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let burst = if burst.is_finite() && burst >= 1.0 { burst } else { 1.0 };
        Self { rate, burst, tokens: burst, last: None, paused_until: None }
    }

    pub fn take(&mut self, now: Instant) -> Take {
        if let Some(until) = self.paused_until {
            if until > now {
                return Take::Paused(until - now);
            }
            self.paused_until = None;
        }
        if let Some(last) = self.last {
            let add = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + add).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Take::Go
        } else {
            Take::Wait(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// After a 429: no request before `now + d`, and the bucket starts empty afterwards.
    pub fn pause(&mut self, now: Instant, d: Duration) {
        let until = now + d;
        let until = self.paused_until.map_or(until, |u| u.max(until));
        self.paused_until = Some(until);
        self.tokens = 0.0;
        self.last = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule() {
        let p = BackoffPolicy { base: Duration::from_secs(1), max: Duration::from_secs(60), max_attempts: 5 };
        // (failures, jitter, expected)
        let cases = [
            (1, 0.0, 500),
            (1, 1.0, 1000),
            (2, 0.0, 1000),
            (3, 0.5, 3000),
            (4, 1.0, 8000),
            (7, 1.0, 60_000),
            (7, 0.0, 30_000),
            (40, 1.0, 60_000),
            (0, 1.0, 1000),
            (3, f64::NAN, 2000),
            (3, 7.0, 4000),
        ];
        for (n, j, ms) in cases {
            assert_eq!(delay(&p, n, j), Duration::from_millis(ms), "failures {n} jitter {j}");
        }
        // Monotone in the failure count for a fixed jitter, never above max.
        for j in [0.0, 0.3, 0.99] {
            let mut prev = Duration::ZERO;
            for n in 1..50 {
                let d = delay(&p, n, j);
                assert!(d >= prev && d <= p.max, "{n} {j}");
                prev = d;
            }
        }
        assert!(!is_dead(&p, 4));
        assert!(is_dead(&p, 5));
    }

    #[test]
    fn next_attempt_honours_retry_after() {
        let p = BackoffPolicy::default();
        let now: Millis = 1_000_000;
        assert_eq!(next_attempt_at(now, &p, 1, 1.0, None), now + 1000);
        assert_eq!(next_attempt_at(now, &p, 1, 1.0, Some(Duration::from_secs(30))), now + 30_000);
        assert_eq!(next_attempt_at(now, &p, 8, 1.0, Some(Duration::from_secs(2))), now + 120_000);
        assert_eq!(next_attempt_at(now, &p, 1, 0.0, Some(Duration::from_secs(999_999))), now + 3_600_000);
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn bucket_paces_and_pauses() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut b = TokenBucket::new(4.0, 2.0);
        assert_eq!(b.take(ms(0)), Take::Go);
        assert_eq!(b.take(ms(0)), Take::Go);
        assert_eq!(b.take(ms(0)), Take::Wait(Duration::from_millis(250)));
        assert_eq!(b.take(ms(250)), Take::Go);
        // A 429 with Retry-After 2 s: paused, then the bucket refills from empty.
        b.pause(ms(300), Duration::from_secs(2));
        assert_eq!(b.take(ms(1300)), Take::Paused(Duration::from_millis(1000)));
        assert!(matches!(b.take(ms(2300)), Take::Wait(_)));
        assert_eq!(b.take(ms(2550)), Take::Go);
        // A shorter second pause does not shorten the first.
        b.pause(ms(3000), Duration::from_secs(10));
        b.pause(ms(3000), Duration::from_secs(1));
        assert_eq!(b.take(ms(5000)), Take::Paused(Duration::from_secs(8)));
    }

    /// The same schedule under tokio's paused clock: sleeping the computed delays moves the
    /// virtual clock by exactly the sum of the schedule.
    #[tokio::test(start_paused = true)]
    async fn schedule_under_paused_clock() {
        let p = BackoffPolicy { base: Duration::from_millis(100), max: Duration::from_secs(1), max_attempts: 6 };
        let start = tokio::time::Instant::now();
        let mut total = Duration::ZERO;
        for n in 1..=6 {
            let d = delay(&p, n, 0.5);
            total += d;
            tokio::time::sleep(d).await;
        }
        assert_eq!(tokio::time::Instant::now() - start, total);
        // 75+150+300+600+750+750 ms
        assert_eq!(total, Duration::from_millis(2625));
    }
}
