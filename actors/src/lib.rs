//! wgcluster-actors: everything a router needs to be part of a wgcluster, minus HTTP and the CLI.
//!
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod assign;
pub mod clock; // clock: the one wall-clock reading (`now_ms`)
pub mod dns; // dns: DNS sync, providers and the retry queue
/// The shared fuzz driver (tests of this crate and of the daemon; feature `fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod fuzz_tests;
pub mod health;
pub mod migration;
pub mod model;
pub mod raft;
pub mod state;
pub mod store;
pub mod tls;
pub mod usage; // usage: peer status, cumulative usage and history (#15)
pub mod vrrp; // vrrp: floating addresses through keepalived (#16)
pub mod wg;
