#!/usr/bin/env bash
# The failover benchmark (see README.md here): fresh network labs, real wireguard-go, real BIND9,
# medians over several runs. Needs root. Arguments go to `demo bench`:
#   --runs N         Mode A runs, watchdog follows DNS and re-handshakes (default 5)
#   --plain-runs N   Mode A runs, watchdog follows DNS with `wg set … endpoint` only (default 3)
#   --stall-runs N   Mode A runs, watchdog also moves after 4 s without a reply (default 3)
#   --panel-runs N   Mode A runs where the router that dies is the panel (default 3)
#   --mode-b-runs N  Mode B runs with --peers peers on the failing router (default = --runs)
#   --peers N        peers on the failing router in Mode B (default 1000)
#   --vip-runs N     floating address (keepalived), stock client, master powered off (default = --runs)
#   --vip-alone-runs N  the same with keepalived's notify hooks taken out: keepalived alone (default 3)
#   --stock-runs N   DNS mode, stock clients (public address and MASQUERADE), no watchdog (default = --runs)
# BENCH_VERBOSE=1 narrates every run. The table goes to stdout and to results-<date>.md here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
if [ "$(id -u)" != 0 ]; then
  echo "run.sh: run as root (network namespaces)" >&2
  exit 1
fi
bash tests/scripts/prereqs.sh >/dev/null
target="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
CARGO_TARGET_DIR="$target" cargo build -q -p wgclusterd
CARGO_TARGET_DIR="$target" cargo build -q -p wgcluster-tests --bin demo
export WGCLUSTERD_BIN="${WGCLUSTERD_BIN:-$target/debug/wgclusterd}"
out="$here/results-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "# failover benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  "$target/debug/demo" bench "$@"
} | tee "$out"
echo "written: $out" >&2
