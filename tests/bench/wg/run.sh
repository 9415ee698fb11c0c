#!/bin/sh
# Runs the WireGuard data-plane benchmark (needs root, wireguard-go and wireguard-tools).
#   tests/bench/wg/run.sh                      # 1,000 and 10,000 peers, 5 repetitions
#   WG_BENCH_SIZES=1000 WG_BENCH_REPS=5 tests/bench/wg/run.sh
set -eu
cd "$(dirname "$0")/../../.."
if [ "$(id -u)" != 0 ]; then
    echo "run as root: the benchmark makes its own network and mount namespaces" >&2
    exit 2
fi
for cmd in wireguard-go wg; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "installing wireguard-go wireguard-tools" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            wireguard-go wireguard-tools >/dev/null
        break
    fi
done
exec cargo bench -p wgcluster-tests --bench wg_uapi
