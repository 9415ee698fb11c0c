pub mod lab;
// dns tests: the fake Cloudflare API and a real BIND9 for RFC 2136
pub mod bind9;
pub mod fake_cloudflare;
pub mod daemon;
