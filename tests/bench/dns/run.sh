#!/bin/sh
# Runs the DNS sync benchmarks (tests/tests/dns_bench.rs; every function there is #[ignore]):
#   1. node marked unhealthy -> record set changed on a real BIND9 (RFC 2136 + TSIG), median
#   2. Cloudflare requests per change (fake API on 127.0.0.1): ours vs one request per record
# Dev profile on purpose: the numbers are dominated by the coalescing window and the network
# round trip, and the release profile (LTO, one codegen unit) takes very long to build.
# Needs bind9 and bind9-dnsutils (installed here when missing and running as root).
#   tests/bench/dns/run.sh
#   ROUNDS=50 tests/bench/dns/run.sh
set -eu
cd "$(dirname "$0")/../../.."
if ! command -v named >/dev/null 2>&1 && [ ! -x /usr/sbin/named ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bind9 is missing: install bind9 bind9-dnsutils, or run as root" >&2
        exit 2
    fi
    echo "installing bind9 bind9-dnsutils" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bind9 bind9-dnsutils >/dev/null
fi
exec cargo test -p wgcluster-tests --test dns_bench -- --ignored --nocapture --test-threads=1
