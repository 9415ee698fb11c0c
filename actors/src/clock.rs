//! The wall clock, read in one place: [`now_ms`], unix time in milliseconds. Everything that
//! stamps a request, schedules a retry that must survive a restart, or checks an expiry reads the
//! time here (`dns::now_ms`, `tls::pki::now_ms` and the daemon's `http::now_ms` are this function).

use crate::model::Millis;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds; 0 if the clock is before 1970, `Millis::MAX` past the year 584
/// million.
pub fn now_ms() -> Millis {
    unix_ms(SystemTime::now())
}

/// `t` in unix milliseconds, with the same saturation as [`now_ms`].
pub fn unix_ms(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH).map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unix_ms_table() {
        let cases = [
            (UNIX_EPOCH, 0),
            (UNIX_EPOCH + Duration::from_millis(1), 1),
            (UNIX_EPOCH + Duration::from_secs(1_700_000_000), 1_700_000_000_000),
            (UNIX_EPOCH - Duration::from_secs(1), 0),
        ];
        for (t, want) in cases {
            assert_eq!(unix_ms(t), want, "{t:?}");
        }
    }

    #[test]
    fn now_is_after_2023() {
        assert!(now_ms() > 1_700_000_000_000);
    }
}
