//! Peer status and usage across the cluster (#15): `merge` is the pure delta merger (router
//! readings → cumulative usage, history buckets, live status), replicated inside `State`.

pub mod collect;
pub mod merge;
pub mod series;

pub use merge::{PeerReading, PeerStatus, PeerUsage, RouterReport, UsageBook};
