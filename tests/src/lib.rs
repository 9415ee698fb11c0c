pub mod lab;
// shared by every harness: free ports, polling with a deadline, the UCI writer, log tails
pub mod util;
// dns tests: the fake Cloudflare API and a real BIND9 for RFC 2136
pub mod bind9;
pub mod daemon;
pub mod fake_cloudflare;
// cluster tests: a multi-router cluster harness (loopback or network lab)
pub mod cluster;
// failover: routers in the network lab, lab DNS, client with a re-resolve watchdog
pub mod failover;
// security tests: a cluster-port client with a chosen client certificate
pub mod tls_client;
// the bad-input table, shared by the real-daemon suite and the daemon's in-process tests
pub mod bad_input;
// WireGuard from the test side: the UAPI reader, a stock wireguard-go in a lab host
pub mod wg;
