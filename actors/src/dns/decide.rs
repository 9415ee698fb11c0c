//! The decisions of the DNS sync task, as pure functions: which endpoint groups need an attempt
//! now, which queued work is due and what to do with it, whether an attempt may talk to the
//! provider at all, what to do after a provider error (read again or give up), what to report
//! after an attempt, and when the task wakes next. `sync.rs` owns the timers, the queue and the
//! providers and asks these functions; nothing here reads a clock, a socket or the database.

use super::provider::ProviderError;
use super::queue::QueueEntry;
use crate::model::{ConfigName, DnsDrift, DnsProviderKind, DnsStatus, Millis};
use crate::state::Command;
use std::time::Duration;

/// Provider rounds (list, diff, apply) one attempt may take before it gives up: a create that
/// finds the record already there (`Duplicate`) reads again, at most this many times in all.
pub const APPLY_ROUNDS: u32 = 3;

/// Whether the group's work (`fingerprint`) was already done in this term, so a pass skips it.
/// `force` (a full resync, `sync_now`) attempts every group anyway.
pub fn done_in_this_term(force: bool, seen: Option<u64>, fingerprint: u64) -> bool {
    !force && seen == Some(fingerprint)
}

/// Whether the same work (`fingerprint`) already waits in the retry queue (`queued`: the
/// fingerprint of the group's queue entry and whether it is dead, if any): it then keeps its
/// backoff instead of being attempted by a pass. Newer work (another fingerprint) supersedes the
/// queued one. A dead entry gets one attempt per full resync (`force`), so the records heal on
/// their own once the provider is back; a failure of that attempt leaves the entry as it was (no
/// flash write, `queue::must_persist`).
pub fn waits_in_queue(queued: Option<(u64, bool)>, fingerprint: u64, force: bool) -> bool {
    match queued {
        Some((fp, dead)) => fp == fingerprint && !(dead && force),
        None => false,
    }
}

/// Whether a queue entry is due for an automatic attempt at `now` (dead entries never are).
pub fn is_due(entry: &QueueEntry, now: Millis) -> bool {
    !entry.dead && entry.next_attempt_at <= now
}

/// What to do with a due queue entry, given the group's work as the state says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// The group still publishes under the entry's name: attempt the current work.
    Attempt,
    /// The group now publishes under another name: the old work is moot (drop the entry), the new
    /// work is attempted.
    DropThenAttempt,
    /// The group is gone: drop the entry.
    Drop,
}

/// `job_record_name`: the record name of the group's current work (None: the group is gone).
pub fn retry_action(entry_record_name: &str, job_record_name: Option<&str>) -> RetryAction {
    match job_record_name {
        Some(name) if name == entry_record_name => RetryAction::Attempt,
        Some(_) => RetryAction::DropThenAttempt,
        None => RetryAction::Drop,
    }
}

/// Before an attempt talks to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// Degraded and nothing was ever published: there is no set we may publish; done, unchanged.
    Hold,
    /// Go ahead: list, diff, apply.
    Proceed,
}

/// `hold`: the desired set says hold (fail static with nothing published); `zone`: the target
/// zone. An empty zone is a configuration error (retrying alone will not help).
pub fn preflight(hold: bool, zone: &str, provider: DnsProviderKind, config: &ConfigName) -> Result<Preflight, ProviderError> {
    if hold {
        return Ok(Preflight::Hold);
    }
    if zone.trim().is_empty() {
        return Err(ProviderError::Config(match provider {
            DnsProviderKind::Cloudflare => format!("endpoint group of config {config} has no cloudflare_zone_id"),
            DnsProviderKind::Rfc2136 => "no RFC 2136 zone in the DNS settings (rfc2136.zone)".to_string(),
        }));
    }
    Ok(Preflight::Proceed)
}

/// After the provider refused to apply a plan in round `round` (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterApplyError {
    /// The record exists already (an earlier attempt whose answer was lost?): list again; the
    /// message is for the log.
    ReadAgain(String),
    /// The attempt fails with this error (it goes to the retry queue).
    Fail(ProviderError),
}

pub fn after_apply_error(error: ProviderError, round: u32) -> AfterApplyError {
    match error {
        ProviderError::Duplicate(m) if round + 1 < APPLY_ROUNDS => AfterApplyError::ReadAgain(m),
        e => AfterApplyError::Fail(e),
    }
}

/// The error of an attempt that used up its [`APPLY_ROUNDS`] without the records settling.
pub fn kept_changing(record_name: &str) -> ProviderError {
    ProviderError::Transient(format!("the records of {record_name} kept changing while we updated them"))
}

/// What a successful attempt logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessLog {
    /// Records changed: say what is published now.
    Changed,
    /// Nothing changed but the group just became degraded: warn that the last set is kept.
    NowDegraded,
    /// Nothing worth a line.
    Quiet,
}

pub fn success_log(changed: bool, degraded: bool, was_degraded: bool) -> SuccessLog {
    if changed {
        SuccessLog::Changed
    } else if degraded && !was_degraded {
        SuccessLog::NowDegraded
    } else {
        SuccessLog::Quiet
    }
}

/// The `RecordDnsSync` report after a successful attempt, or None when the replicated status
/// already says it all (records unchanged, same set, same degradation, no error to clear, and a
/// sync was recorded before).
pub fn success_report(config: &ConfigName, status: &DnsStatus, published: Vec<String>, degraded: bool, changed: bool) -> Option<Command> {
    let needed = changed
        || status.published != published
        || status.degraded != degraded
        || status.last_error.is_some()
        || status.last_sync.is_none();
    needed.then(|| Command::RecordDnsSync { config: config.clone(), published, degraded, changed, error: None })
}

/// The drift to report after a successful attempt that found the provider's records differing
/// from what the status says we published (`plan::drift`), or None when there is nothing to
/// report: nothing was changed, nothing differed, or the status cannot vouch for the provider's
/// records (never synced, or the last attempt failed: our own half-done work is no drift). A TTL
/// difference is ours, not drift, when the group was saved (perhaps with a new TTL) since the
/// last sync (`group_updated_at`).
pub fn drift_to_report(status: &DnsStatus, group_updated_at: Millis, mut drift: DnsDrift, changed: bool) -> Option<DnsDrift> {
    let last_sync = status.last_sync?;
    if !changed || status.last_error.is_some() {
        return None;
    }
    if group_updated_at >= last_sync {
        drift.corrected.clear();
    }
    (!drift.is_empty()).then_some(drift)
}

/// The report after a successful attempt: `RecordDnsDrift` when drift was corrected (it carries
/// the success too: one Raft entry), else `success_report`.
pub fn report_after_success(
    config: &ConfigName,
    status: &DnsStatus,
    published: Vec<String>,
    degraded: bool,
    changed: bool,
    drift: Option<DnsDrift>,
) -> Option<Command> {
    match drift {
        Some(drift) => Some(Command::RecordDnsDrift { config: config.clone(), published, degraded, drift }),
        None => success_report(config, status, published, degraded, changed),
    }
}

/// What to do with a pending record removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalAction {
    /// A live endpoint group publishes at the same place again: its sync owns the records; the
    /// removal is closed without touching them.
    Moot,
    /// Its retry time has not come.
    Wait,
    /// Remove the records now.
    Remove,
}

/// `live`: whether a live group publishes at the removal's place; `next_at`: when a failed
/// removal may be tried again (None: never failed in this term).
pub fn removal_action(live: bool, next_at: Option<Millis>, now: Millis) -> RemovalAction {
    if live {
        RemovalAction::Moot
    } else if next_at.is_some_and(|at| at > now) {
        RemovalAction::Wait
    } else {
        RemovalAction::Remove
    }
}

/// Whether a failed removal is logged as a warning: the first failure and each change of kind
/// (repeats of one outage are one line, and never a Raft entry: the removal itself is durable).
pub fn removal_failure_logged(last: Option<ErrorKind>, kind: ErrorKind) -> bool {
    last != Some(kind)
}

/// The kind of a provider error: repeated failures of one kind are one replicated report.
pub fn error_kind(e: &ProviderError) -> ErrorKind {
    match e {
        ProviderError::Config(_) => ErrorKind::Config,
        ProviderError::Auth(_) => ErrorKind::Auth,
        ProviderError::RateLimited { .. } => ErrorKind::RateLimited,
        ProviderError::Transient(_) => ErrorKind::Transient,
        ProviderError::Rejected(_) => ErrorKind::Rejected,
        ProviderError::Duplicate(_) => ErrorKind::Duplicate,
    }
}

/// [`ProviderError`] without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Config,
    Auth,
    RateLimited,
    Transient,
    Rejected,
    Duplicate,
}

/// The `RecordDnsSync` report after a failed attempt (the error, with the published set and the
/// degradation left as they were: nothing was changed that we know of), or None when it would
/// only repeat what the replicated status already says. Every report is a Raft entry and an
/// audit entry on flash, and a provider outage fails every retry: so a failure is reported when
/// it is the first (the status holds no error: never failed, or recovered since), when its kind
/// differs from the failure this panel reported last (`reported`: kept in memory, forgotten on a
/// leadership change or restart), and, with nothing in memory, when the status holds another
/// message. Attempt counts and times are in the node-local retry queue, not in the status.
pub fn failure_report(
    config: &ConfigName,
    status: &DnsStatus,
    kind: ErrorKind,
    reported: Option<ErrorKind>,
    error: String,
) -> Option<Command> {
    let needed = match (&status.last_error, reported) {
        (None, _) => true,
        (Some(_), Some(last)) => last != kind,
        (Some(stored), None) => *stored != error,
    };
    needed.then(|| Command::RecordDnsSync {
        config: config.clone(),
        published: status.published.clone(),
        degraded: status.degraded,
        changed: false,
        error: Some(error),
    })
}

/// How long until unix time `at`, seen from `now` (zero when it has passed).
pub fn delay_until(at: Millis, now: Millis) -> Duration {
    Duration::from_millis(at.saturating_sub(now))
}

/// The reconcile interval in force: the test override when given, else the replicated setting.
pub fn reconcile_every(override_every: Option<Duration>, setting_s: u64) -> Duration {
    override_every.unwrap_or(Duration::from_secs(setting_s.max(1)))
}

/// When the task wakes next: the earliest of a pending coalesced pass, the queue's (or a pending
/// removal's) next due time and the periodic resync (which is always set).
pub fn wake_at<T: Ord + Copy>(dirty: Option<T>, due: Option<T>, resync_at: T) -> T {
    [dirty, due, Some(resync_at)].into_iter().flatten().min().unwrap_or(resync_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ConfigName {
        ConfigName::parse("config", s).expect("a valid config name")
    }

    fn entry(dead: bool, next_attempt_at: Millis) -> QueueEntry {
        QueueEntry {
            id: 1,
            config: "wg0".into(),
            record_name: "vpn.example.test".into(),
            provider: "cloudflare".into(),
            desired: vec![],
            fingerprint: 7,
            attempts: 1,
            next_attempt_at,
            last_error: String::new(),
            dead,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn status(published: &[&str], degraded: bool, last_error: Option<&str>, last_sync: Option<Millis>) -> DnsStatus {
        DnsStatus {
            last_sync,
            published: published.iter().map(|s| s.to_string()).collect(),
            degraded,
            last_error: last_error.map(String::from),
            ..Default::default()
        }
    }

    fn drift(removed: &[&str], restored: &[&str], corrected: &[&str]) -> DnsDrift {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        DnsDrift { at: 0, removed: v(removed), restored: v(restored), corrected: v(corrected) }
    }

    #[test]
    fn which_drift_is_reported() {
        let synced = status(&["192.0.2.1"], false, None, Some(100));
        let failed = status(&["192.0.2.1"], false, Some("503"), Some(100));
        let never = status(&[], false, None, None);
        let some = drift(&["203.0.113.9"], &["192.0.2.1"], &[]);
        let ttl_only = drift(&[], &[], &["192.0.2.1"]);
        // (status, group updated_at, drift, changed) -> reported
        type Case<'a> = (&'a str, &'a DnsStatus, Millis, DnsDrift, bool, Option<DnsDrift>);
        let cases: Vec<Case> = vec![
            ("extra and missing corrected", &synced, 50, some.clone(), true, Some(some.clone())),
            ("nothing changed", &synced, 50, some.clone(), false, None),
            ("no drift", &synced, 50, DnsDrift::default(), true, None),
            ("never synced: first publish is no drift", &never, 50, some.clone(), true, None),
            ("last attempt failed: our own half-done work", &failed, 50, some.clone(), true, None),
            ("ttl changed behind our back", &synced, 50, ttl_only.clone(), true, Some(ttl_only.clone())),
            ("ttl changed by us (group saved since)", &synced, 100, ttl_only.clone(), true, None),
            (
                "group saved since: ttl part dropped, the rest kept",
                &synced,
                150,
                drift(&["203.0.113.9"], &[], &["192.0.2.1"]),
                true,
                Some(drift(&["203.0.113.9"], &[], &[])),
            ),
        ];
        for (name, st, updated, d, changed, want) in cases {
            assert_eq!(drift_to_report(st, updated, d, changed), want, "{name}");
        }
        let c = name("wg0");
        let r = report_after_success(&c, &synced, vec!["192.0.2.1".into()], false, true, Some(some.clone()));
        assert!(matches!(r, Some(Command::RecordDnsDrift { ref drift, .. }) if *drift == some), "{r:?}");
        let r = report_after_success(&c, &synced, vec!["192.0.2.1".into()], false, false, None);
        assert_eq!(r, None, "in sync and nothing new: no Raft entry");
    }

    #[test]
    fn what_to_do_with_a_removal() {
        // (live, next_at, now) -> action
        let cases = [
            (true, None, 10, RemovalAction::Moot),
            (true, Some(50), 10, RemovalAction::Moot),
            (false, None, 10, RemovalAction::Remove),
            (false, Some(50), 10, RemovalAction::Wait),
            (false, Some(50), 50, RemovalAction::Remove),
        ];
        for (live, next, now, want) in cases {
            assert_eq!(removal_action(live, next, now), want, "live {live} next {next:?} now {now}");
        }
        // An outage is one log line per kind of failure.
        assert!(removal_failure_logged(None, ErrorKind::Transient));
        assert!(!removal_failure_logged(Some(ErrorKind::Transient), ErrorKind::Transient));
        assert!(removal_failure_logged(Some(ErrorKind::Transient), ErrorKind::Auth));
        assert_eq!(reconcile_every(None, 300), Duration::from_secs(300));
        assert_eq!(reconcile_every(Some(Duration::from_secs(2)), 300), Duration::from_secs(2));
    }

    #[test]
    fn which_groups_a_pass_attempts() {
        // (force, seen, fingerprint) -> skipped as done
        let cases = [
            (false, None, 1, false),
            (false, Some(1), 1, true),
            (false, Some(2), 1, false),
            (true, Some(1), 1, false),
            (true, None, 1, false),
        ];
        for (force, seen, fp, want) in cases {
            assert_eq!(done_in_this_term(force, seen, fp), want, "force {force} seen {seen:?} fp {fp}");
        }
        // (queued (fingerprint, dead), fingerprint, force) -> waits for its backoff
        let cases = [
            (None, 1, false, false),
            (None, 1, true, false),
            (Some((1, false)), 1, false, true),
            (Some((1, false)), 1, true, true),
            (Some((2, false)), 1, false, false),
            // dead work waits for the next full resync, which attempts it once
            (Some((1, true)), 1, false, true),
            (Some((1, true)), 1, true, false),
            (Some((2, true)), 1, false, false),
        ];
        for (queued, fp, force, want) in cases {
            assert_eq!(waits_in_queue(queued, fp, force), want, "queued {queued:?} fp {fp} force {force}");
        }
    }

    #[test]
    fn which_queue_entries_are_due() {
        // (dead, next_attempt_at, now) -> due
        let cases =
            [(false, 100, 99, false), (false, 100, 100, true), (false, 100, 101, true), (true, 100, 101, false), (true, 0, 0, false)];
        for (dead, at, now, want) in cases {
            assert_eq!(is_due(&entry(dead, at), now), want, "dead {dead} at {at} now {now}");
        }
    }

    #[test]
    fn what_to_do_with_due_work() {
        let cases = [
            ("a.test", Some("a.test"), RetryAction::Attempt),
            ("a.test", Some("b.test"), RetryAction::DropThenAttempt),
            ("a.test", None, RetryAction::Drop),
        ];
        for (queued, now, want) in cases {
            assert_eq!(retry_action(queued, now), want, "{queued} vs {now:?}");
        }
    }

    #[test]
    fn preflight_table() {
        let c = name("wg0");
        let cases = [
            (true, "", DnsProviderKind::Cloudflare, Ok(Preflight::Hold)),
            (true, "zone", DnsProviderKind::Rfc2136, Ok(Preflight::Hold)),
            (false, "zone", DnsProviderKind::Cloudflare, Ok(Preflight::Proceed)),
            (false, "example.test", DnsProviderKind::Rfc2136, Ok(Preflight::Proceed)),
            (false, " ", DnsProviderKind::Cloudflare, Err("endpoint group of config wg0 has no cloudflare_zone_id")),
            (false, "", DnsProviderKind::Rfc2136, Err("no RFC 2136 zone in the DNS settings (rfc2136.zone)")),
        ];
        for (hold, zone, kind, want) in cases {
            let got = preflight(hold, zone, kind, &c);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "hold {hold} zone {zone:?}"),
                (Err(ProviderError::Config(m)), Err(w)) => assert_eq!(m, w),
                (g, w) => panic!("hold {hold} zone {zone:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn after_a_provider_error() {
        let dup = || ProviderError::Duplicate("exists".into());
        let cases = [
            (dup(), 0, AfterApplyError::ReadAgain("exists".into())),
            (dup(), 1, AfterApplyError::ReadAgain("exists".into())),
            (dup(), 2, AfterApplyError::Fail(dup())),
            (ProviderError::Transient("503".into()), 0, AfterApplyError::Fail(ProviderError::Transient("503".into()))),
            (ProviderError::Auth("no".into()), 0, AfterApplyError::Fail(ProviderError::Auth("no".into()))),
            (
                ProviderError::RateLimited { message: "429".into(), retry_after: Some(Duration::from_secs(3)) },
                0,
                AfterApplyError::Fail(ProviderError::RateLimited { message: "429".into(), retry_after: Some(Duration::from_secs(3)) }),
            ),
        ];
        for (e, round, want) in cases {
            assert_eq!(after_apply_error(e.clone(), round), want, "{e:?} in round {round}");
        }
        let gave_up = kept_changing("vpn.example.test");
        assert!(matches!(&gave_up, ProviderError::Transient(m) if m.contains("vpn.example.test")), "{gave_up:?}");
    }

    #[test]
    fn what_a_success_logs() {
        // (changed, degraded, was degraded) -> log
        let cases = [
            (true, false, false, SuccessLog::Changed),
            (true, true, false, SuccessLog::Changed),
            (false, true, false, SuccessLog::NowDegraded),
            (false, true, true, SuccessLog::Quiet),
            (false, false, true, SuccessLog::Quiet),
            (false, false, false, SuccessLog::Quiet),
        ];
        for (changed, degraded, was, want) in cases {
            assert_eq!(success_log(changed, degraded, was), want, "changed {changed} degraded {degraded} was {was}");
        }
    }

    #[test]
    fn when_a_success_is_reported() {
        let c = name("wg0");
        let synced = status(&["192.0.2.1"], false, None, Some(5));
        // (status, published, degraded, changed) -> reported
        let cases = [
            (synced.clone(), vec!["192.0.2.1"], false, false, false),
            (synced.clone(), vec!["192.0.2.1"], false, true, true),
            (synced.clone(), vec!["192.0.2.2"], false, false, true),
            (synced.clone(), vec!["192.0.2.1"], true, false, true),
            (status(&["192.0.2.1"], false, Some("boom"), Some(5)), vec!["192.0.2.1"], false, false, true),
            (status(&["192.0.2.1"], false, None, None), vec!["192.0.2.1"], false, false, true),
        ];
        for (st, published, degraded, changed, want) in cases {
            let published: Vec<String> = published.into_iter().map(String::from).collect();
            let got = success_report(&c, &st, published.clone(), degraded, changed);
            assert_eq!(got.is_some(), want, "{st:?} {published:?} degraded {degraded} changed {changed}");
            if let Some(cmd) = got {
                assert_eq!(cmd, Command::RecordDnsSync { config: c.clone(), published, degraded, changed, error: None });
            }
        }
    }

    #[test]
    fn a_failure_keeps_the_published_set() {
        let c = name("wg0");
        let st = status(&["192.0.2.1", "2001:db8::1"], true, None, Some(5));
        let want = Command::RecordDnsSync {
            config: c.clone(),
            published: vec!["192.0.2.1".into(), "2001:db8::1".into()],
            degraded: true,
            changed: false,
            error: Some("503".into()),
        };
        assert_eq!(failure_report(&c, &st, ErrorKind::Transient, None, "503".into()), Some(want));
    }

    #[test]
    fn repeated_failures_collapse() {
        use ErrorKind::*;
        let c = name("wg0");
        let ok = status(&["192.0.2.1"], false, None, Some(5));
        let failing = status(&["192.0.2.1"], false, Some("connection refused"), Some(5));
        // (status, kind now, kind reported last by this panel, message) -> reported
        let cases = [
            // First failure (never failed, or recovered since): reported, whatever the memory says.
            (&ok, Transient, None, "connection refused", true),
            (&ok, Transient, Some(Transient), "connection refused", true),
            // The same kind again: a repeat, even with another message (a new port, a timeout).
            (&failing, Transient, Some(Transient), "connection refused", false),
            (&failing, Transient, Some(Transient), "timed out", false),
            // The kind changed: reported.
            (&failing, Auth, Some(Transient), "bad TSIG", true),
            (&failing, RateLimited, Some(Transient), "429", true),
            (&failing, Transient, Some(RateLimited), "connection refused", true),
            // Nothing in memory (new panel, restart): only a message the status does not hold.
            (&failing, Transient, None, "connection refused", false),
            (&failing, Transient, None, "timed out", true),
        ];
        for (st, kind, reported, msg, want) in cases {
            let got = failure_report(&c, st, kind, reported, msg.to_string());
            assert_eq!(got.is_some(), want, "{:?} now {kind:?} last {reported:?} {msg:?}", st.last_error);
        }
        let kinds = [
            (ProviderError::Config("x".into()), Config),
            (ProviderError::Auth("x".into()), Auth),
            (ProviderError::RateLimited { message: "x".into(), retry_after: None }, RateLimited),
            (ProviderError::Transient("x".into()), Transient),
            (ProviderError::Rejected("x".into()), Rejected),
            (ProviderError::Duplicate("x".into()), Duplicate),
        ];
        for (e, want) in kinds {
            assert_eq!(error_kind(&e), want, "{e:?}");
        }
    }

    #[test]
    fn timers() {
        let cases = [(100, 40, 60), (100, 100, 0), (100, 150, 0), (0, 0, 0)];
        for (at, now, want_ms) in cases {
            assert_eq!(delay_until(at, now), Duration::from_millis(want_ms), "at {at} now {now}");
        }
        let cases = [
            (None, None, 50, 50),
            (Some(10), None, 50, 10),
            (None, Some(20), 50, 20),
            (Some(30), Some(20), 50, 20),
            (Some(60), Some(70), 50, 50),
        ];
        for (dirty, due, resync, want) in cases {
            assert_eq!(wake_at(dirty, due, resync), want, "dirty {dirty:?} due {due:?} resync {resync}");
        }
    }
}
