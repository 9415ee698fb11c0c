//! DNS sync (DESIGN §5.5): keeps each endpoint group's A/AAAA records equal to the set of its
//! healthy nodes, through Cloudflare or any RFC 2136 server, on the panel (leader) only.
//!
//! - `plan` (pure): desired addresses with the fail-static rule, the record diff, fingerprints.
//! - `backoff` (pure): retry schedule with jitter, `Retry-After`, request pacing.
//! - `queue`: the persistent retry queue (the store's `dns-queue` file, node-local).
//! - `provider`: the provider trait and its errors; `cloudflare` and `rfc2136` are the two
//!   providers; `factory` builds them from the replicated settings. `message` (DNS wire format)
//!   and `tsig` (RFC 8945 signatures) are what `rfc2136` sends and reads.
//! - `decide` (pure): the sync task's decisions (which groups need an attempt, due retries, what
//!   to do after a provider error, what to report, when to wake).
//! - `sync`: the DNS sync task, which owns the timers and talks to the providers.
//!
//! Must not: block peer management (the task runs on its own; blocking HTTP runs on a worker
//! thread), publish an empty set or fewer than `min_nodes` addresses, or let a secret reach a
//! log line, an audit entry, a queue entry or an API answer.

pub mod backoff;
pub mod cloudflare;
pub mod decide;
pub mod factory;
pub mod message;
pub mod plan;
pub mod provider;
pub mod queue;
pub mod rfc2136;
pub mod sync;
pub mod tsig;

pub use backoff::BackoffPolicy;
pub use factory::{ProviderOptions, Providers};
pub use provider::{DnsProvider, ProviderError, ProviderFactory, Target};
pub use queue::{DnsQueue, QueueEntry};
pub use sync::{start, start_with, DnsHandle, DnsSyncConfig, LocalStatus};

/// Unix time in milliseconds (the queue's schedule survives restarts, so it is wall-clock time).
pub use crate::clock::now_ms;
