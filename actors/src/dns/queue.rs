//! The DNS retry queue: failed DNS work, persisted in the store's `dns-queue` file (node-local,
//! never replicated; replaced whole and fsync'd on every persisted change), one entry per record
//! name. An entry says what should be published, how often it failed, when it is tried next, and
//! why it failed; past the attempt limit it is `dead`: it stays visible, is tried once more at each
//! full resync (so the records heal once the provider is back) and can be retried or dropped
//! through the API.
//!
//! Owns: the `dns-queue` file. Must not: decide schedules (that is `backoff`) or talk to a
//! provider. Entries hold no secrets.
//!
//! Flash: a provider outage fails every retry of the same work. Such a repeat (same work, still
//! alive) only updates the entry in memory (attempts, next attempt, last error), which every read
//! here sees; the file is written when work is queued, superseded, given up (`dead`), retried or
//! dropped (`must_persist`). After a restart the entry resumes from its last persisted state: its
//! next attempt is due at once and its count continues from there.

use super::backoff::{self, BackoffPolicy};
use crate::model::Millis;
use crate::store::{Store, StoreError, DNS_QUEUE_FILE};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One unit of failed DNS work. Field order matters (postcard): add fields at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: u64,
    /// The config whose endpoint group this is.
    pub config: String,
    /// The DNS name (lower case, no trailing dot): newer work for the same name replaces this.
    pub record_name: String,
    /// `cloudflare` or `rfc2136`.
    pub provider: String,
    /// The addresses that were to be published when the work last failed.
    pub desired: Vec<String>,
    /// `plan::fingerprint` of that work: the same fingerprint is the same work.
    pub fingerprint: u64,
    /// Failed attempts of this work.
    pub attempts: u32,
    /// Unix ms of the next automatic attempt (meaningless while `dead`).
    pub next_attempt_at: Millis,
    pub last_error: String,
    /// Past the attempt limit: not retried until `POST /api/dns/queue/{id}/retry` or newer work.
    pub dead: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What failed, for `record_failure`.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub config: &'a str,
    pub record_name: &'a str,
    pub provider: &'a str,
    pub desired: &'a [String],
    pub fingerprint: u64,
    pub error: &'a str,
    /// The provider's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// The `dns-queue` file: the last id given out (so an id is never reused for other work) and the
/// entries, oldest (lowest id) first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct QueueFile {
    last_id: u64,
    entries: Vec<QueueEntry>,
}

/// A handle on the queue. Cheap to clone; safe to use from the API and the sync task at once
/// (read-modify-write cycles hold the store's file lock).
#[derive(Clone)]
pub struct DnsQueue {
    store: Arc<Store>,
    /// Entries by id whose latest failure is newer than the file (repeats kept off the flash).
    newer: Arc<Mutex<HashMap<u64, QueueEntry>>>,
}

/// Whether a failure that turned the entry `persisted` (as the file holds it; None: not in the
/// file) into `updated` must be written: new work, work superseded by other work, or work given
/// up. A repeat of the same live work stays in memory.
pub fn must_persist(persisted: Option<&QueueEntry>, updated: &QueueEntry) -> bool {
    match persisted {
        None => true,
        Some(p) => p.fingerprint != updated.fingerprint || p.dead != updated.dead || p.record_name != updated.record_name,
    }
}

impl DnsQueue {
    /// Opens the queue (reads its file once to check it).
    pub fn open(store: Arc<Store>) -> Result<Self, StoreError> {
        let q = Self { store, newer: Arc::default() };
        q.load()?;
        Ok(q)
    }

    fn newer(&self) -> MutexGuard<'_, HashMap<u64, QueueEntry>> {
        self.newer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn load(&self) -> Result<QueueFile, StoreError> {
        Ok(self.store.read(DNS_QUEUE_FILE)?.unwrap_or_default())
    }

    fn save(&self, file: &QueueFile) -> Result<(), StoreError> {
        self.store.write(DNS_QUEUE_FILE, file)
    }

    /// Every entry as the file holds it, oldest first.
    fn persisted(&self) -> Result<Vec<QueueEntry>, StoreError> {
        Ok(self.load()?.entries)
    }

    /// Every entry, oldest first (with the failures kept in memory).
    pub fn list(&self) -> Result<Vec<QueueEntry>, StoreError> {
        let persisted = self.persisted()?;
        let newer = self.newer();
        Ok(persisted.into_iter().map(|e| newer.get(&e.id).cloned().unwrap_or(e)).collect())
    }

    pub fn get(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        let e = self.persisted()?.into_iter().find(|e| e.id == id);
        Ok(e.map(|e| self.newer().get(&id).cloned().unwrap_or(e)))
    }

    pub fn find_by_name(&self, record_name: &str) -> Result<Option<QueueEntry>, StoreError> {
        Ok(self.list()?.into_iter().find(|e| e.record_name == record_name))
    }

    /// Unix ms of the earliest automatic attempt due (dead entries excluded).
    pub fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        Ok(self.list()?.iter().filter(|e| !e.dead).map(|e| e.next_attempt_at).min())
    }

    /// Records a failed attempt: the entry for the record name gets one more failure (or, when its
    /// work was different, is superseded by this work with one failure), a new schedule from
    /// `policy` and `jitter`, and is marked dead past the attempt limit.
    pub fn record_failure(&self, f: &Failure<'_>, now: Millis, policy: &BackoffPolicy, jitter: f64) -> Result<QueueEntry, StoreError> {
        let _held = self.store.lock_files();
        let mut file = self.load()?;
        let slot = file.entries.iter().position(|e| e.record_name == f.record_name);
        let current = match slot {
            Some(i) => {
                let p = &file.entries[i];
                let current = self.newer().get(&p.id).cloned().unwrap_or_else(|| p.clone());
                let e = apply_failure(current, f, now, policy, jitter);
                // A repeat of queued work that stays alive: in memory only.
                if !must_persist(Some(p), &e) {
                    self.newer().insert(e.id, e.clone());
                    return Ok(e);
                }
                file.entries[i] = e.clone();
                e
            }
            None => {
                file.last_id += 1;
                let fresh = QueueEntry {
                    id: file.last_id,
                    config: String::new(),
                    record_name: f.record_name.to_string(),
                    provider: String::new(),
                    desired: Vec::new(),
                    fingerprint: f.fingerprint,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: String::new(),
                    dead: false,
                    created_at: now,
                    updated_at: now,
                };
                let e = apply_failure(fresh, f, now, policy, jitter);
                file.entries.push(e.clone());
                e
            }
        };
        self.save(&file)?;
        self.newer().remove(&current.id);
        Ok(current)
    }

    /// Removes the entry for `record_name` (its work succeeded). Returns whether one existed.
    pub fn remove_by_name(&self, record_name: &str) -> Result<bool, StoreError> {
        let Some(e) = self.find_by_name(record_name)? else { return Ok(false) };
        self.drop_entry(e.id)
    }

    /// Makes entry `id` due now with a fresh attempt count (also revives a dead entry).
    pub fn retry(&self, id: u64, now: Millis) -> Result<Option<QueueEntry>, StoreError> {
        let _held = self.store.lock_files();
        let mut file = self.load()?;
        let Some(slot) = file.entries.iter_mut().find(|e| e.id == id) else { return Ok(None) };
        let mut e = self.newer().get(&id).cloned().unwrap_or_else(|| slot.clone());
        e.attempts = 0;
        e.dead = false;
        e.next_attempt_at = now;
        e.updated_at = now;
        *slot = e.clone();
        self.save(&file)?;
        self.newer().remove(&id);
        Ok(Some(e))
    }

    /// Deletes entry `id`. Returns whether it existed.
    pub fn drop_entry(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.retain(|e| e.id != id)? > 0)
    }

    /// Deletes the entries `keep` refuses (e.g. of endpoint groups that no longer exist).
    pub fn retain(&self, keep: impl Fn(&QueueEntry) -> bool) -> Result<usize, StoreError> {
        let _held = self.store.lock_files();
        let mut file = self.load()?;
        let gone: Vec<u64> = {
            let newer = self.newer();
            file.entries.iter().filter(|e| !keep(newer.get(&e.id).unwrap_or(e))).map(|e| e.id).collect()
        };
        if gone.is_empty() {
            return Ok(0);
        }
        file.entries.retain(|e| !gone.contains(&e.id));
        self.save(&file)?;
        let mut newer = self.newer();
        for id in &gone {
            newer.remove(id);
        }
        Ok(gone.len())
    }
}

/// `e` after one more failure of `f`'s work.
fn apply_failure(mut e: QueueEntry, f: &Failure<'_>, now: Millis, policy: &BackoffPolicy, jitter: f64) -> QueueEntry {
    if e.fingerprint != f.fingerprint {
        // Newer desired state supersedes the queued work: its failure count starts over.
        e.fingerprint = f.fingerprint;
        e.attempts = 0;
    }
    e.config = f.config.to_string();
    e.provider = f.provider.to_string();
    e.desired = f.desired.to_vec();
    e.attempts = e.attempts.saturating_add(1);
    e.last_error = f.error.to_string();
    e.dead = backoff::is_dead(policy, e.attempts);
    e.next_attempt_at = backoff::next_attempt_at(now, policy, e.attempts, jitter, f.retry_after);
    e.updated_at = now;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> (Arc<Store>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("wgc-dnsq-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        (Arc::new(Store::open(&dir).unwrap()), dir)
    }

    fn fail<'a>(name: &'a str, fp: u64, desired: &'a [String], error: &'a str) -> Failure<'a> {
        Failure { config: "wg0", record_name: name, provider: "cloudflare", desired, fingerprint: fp, error, retry_after: None }
    }

    #[test]
    fn which_failures_are_written() {
        let base = |fp: u64, dead: bool| QueueEntry {
            id: 1,
            config: "wg0".into(),
            record_name: "vpn.example.test".into(),
            provider: "rfc2136".into(),
            desired: vec![],
            fingerprint: fp,
            attempts: 1,
            next_attempt_at: 0,
            last_error: "connection refused".into(),
            dead,
            created_at: 0,
            updated_at: 0,
        };
        let mut later = base(1, false);
        later.attempts = 5;
        later.last_error = "timed out".into();
        later.next_attempt_at = 99;
        // (persisted, updated) -> written
        let cases = [
            (None, base(1, false), true),
            (Some(base(1, false)), later.clone(), false),
            (Some(base(1, false)), base(1, true), true),
            (Some(base(1, false)), base(2, false), true),
            (Some(base(1, true)), base(1, false), true),
        ];
        for (persisted, updated, want) in cases {
            assert_eq!(must_persist(persisted.as_ref(), &updated), want, "{persisted:?} -> {updated:?}");
        }
    }

    #[test]
    fn repeats_stay_in_memory_until_the_work_dies() {
        let (db, dir) = temp_db("mem");
        let q = DnsQueue::open(db.clone()).unwrap();
        let p = BackoffPolicy { base: Duration::from_secs(1), max: Duration::from_secs(60), max_attempts: 4 };
        let d = vec!["192.0.2.1".to_string()];
        let f = fail("vpn.example.test", 1, &d, "refused");
        q.record_failure(&f, 1000, &p, 1.0).unwrap();
        q.record_failure(&f, 2000, &p, 1.0).unwrap();
        let e = q.record_failure(&f, 4000, &p, 1.0).unwrap();
        // This handle sees every failure; the file (another handle: a restart) the first only.
        assert_eq!((e.attempts, q.list().unwrap()[0].attempts, q.get(1).unwrap().map(|e| e.attempts)), (3, 3, Some(3)));
        assert_eq!(q.next_due().unwrap(), Some(e.next_attempt_at));
        let reopened = DnsQueue::open(db.clone()).unwrap();
        assert_eq!(reopened.list().unwrap()[0].attempts, 1);
        // Giving up is written.
        let e = q.record_failure(&f, 8000, &p, 1.0).unwrap();
        assert!(e.dead);
        let persisted = DnsQueue::open(db.clone()).unwrap().list().unwrap();
        assert_eq!((persisted[0].attempts, persisted[0].dead), (4, true));
        // Retry and drop clear the memory.
        q.record_failure(&fail("b.example.test", 1, &d, "x"), 1000, &p, 1.0).unwrap();
        q.record_failure(&fail("b.example.test", 1, &d, "x"), 2000, &p, 1.0).unwrap();
        let r = q.retry(2, 3000).unwrap().expect("entry 2");
        assert_eq!((r.attempts, q.get(2).unwrap().map(|e| e.attempts)), (0, Some(0)));
        assert!(q.drop_entry(2).unwrap());
        assert!(q.get(2).unwrap().is_none() && q.list().unwrap().len() == 1);
        drop((q, reopened, db));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn failures_back_off_supersede_and_die() {
        let (db, dir) = temp_db("life");
        let q = DnsQueue::open(db.clone()).unwrap();
        let p = BackoffPolicy { base: Duration::from_secs(1), max: Duration::from_secs(60), max_attempts: 3 };
        let d1 = vec!["192.0.2.1".to_string()];
        let e = q.record_failure(&fail("vpn.example.test", 1, &d1, "HTTP 500"), 1000, &p, 1.0).unwrap();
        assert_eq!((e.id, e.attempts, e.next_attempt_at, e.dead), (1, 1, 2000, false));
        let e = q.record_failure(&fail("vpn.example.test", 1, &d1, "HTTP 502"), 2000, &p, 1.0).unwrap();
        assert_eq!((e.id, e.attempts, e.next_attempt_at, e.last_error.as_str()), (1, 2, 4000, "HTTP 502"));
        // Another record name is its own entry.
        let other = q.record_failure(&fail("other.example.test", 9, &d1, "x"), 2000, &p, 0.0).unwrap();
        assert_eq!(other.id, 2);
        assert_eq!(q.next_due().unwrap(), Some(2500));
        // Newer desired state for the same name supersedes: same entry, count starts over.
        let d2 = vec!["192.0.2.1".to_string(), "192.0.2.2".to_string()];
        let e = q.record_failure(&fail("vpn.example.test", 2, &d2, "HTTP 500"), 3000, &p, 1.0).unwrap();
        assert_eq!((e.id, e.attempts, e.desired.clone()), (1, 1, d2.clone()));
        // Past the limit: dead, and no longer due.
        q.record_failure(&fail("vpn.example.test", 2, &d2, "e"), 4000, &p, 1.0).unwrap();
        let e = q.record_failure(&fail("vpn.example.test", 2, &d2, "e"), 5000, &p, 1.0).unwrap();
        assert!(e.dead);
        assert_eq!(q.next_due().unwrap(), Some(2500));
        // Survives reopening (another handle on the same file, as after a restart).
        drop(q);
        let q = DnsQueue::open(db).unwrap();
        assert_eq!(q.list().unwrap().len(), 2);
        assert!(q.get(1).unwrap().unwrap().dead);
        // Retry revives it; drop and success remove.
        let e = q.retry(1, 7000).unwrap().unwrap();
        assert_eq!((e.attempts, e.dead, e.next_attempt_at), (0, false, 7000));
        assert!(q.retry(99, 7000).unwrap().is_none());
        assert!(q.remove_by_name("vpn.example.test").unwrap());
        assert!(!q.remove_by_name("vpn.example.test").unwrap());
        assert!(q.drop_entry(2).unwrap());
        assert!(!q.drop_entry(2).unwrap());
        assert!(q.list().unwrap().is_empty());
        assert!(!q.drop_entry(0).unwrap());
        // Ids are never reused, even after every entry is gone.
        let e = q.record_failure(&fail("vpn.example.test", 3, &d2, "e"), 8000, &p, 1.0).unwrap();
        assert_eq!(e.id, 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn retry_after_and_retain() {
        let (db, dir) = temp_db("ra");
        let q = DnsQueue::open(db).unwrap();
        let p = BackoffPolicy::default();
        let d = vec![];
        let mut f = fail("a.example.test", 1, &d, "429");
        f.retry_after = Some(Duration::from_secs(30));
        let e = q.record_failure(&f, 0, &p, 0.0).unwrap();
        assert_eq!(e.next_attempt_at, 30_000);
        q.record_failure(&fail("b.example.test", 1, &d, "x"), 0, &p, 0.0).unwrap();
        assert_eq!(q.retain(|e| e.record_name.starts_with('b')).unwrap(), 1);
        let names: Vec<String> = q.list().unwrap().into_iter().map(|e| e.record_name).collect();
        assert_eq!(names, vec!["b.example.test".to_string()]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
