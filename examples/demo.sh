#!/usr/bin/env bash
# The wgcluster failover demo: three routers (network namespaces, each with wgclusterd and
# wireguard-go), a BIND9 for the cluster endpoint and a WireGuard client, all in a throw-away
# network lab on this machine. It shows the client's traffic, kills the router the client uses and
# narrates the failover with timings, then removes everything it made. A second scene does the same
# for a stock client whose endpoint is a floating address held through keepalived (#16); `vip` as
# the argument runs that scene alone. Takes about two minutes.
#
# Needs root (network namespaces) and Debian/Ubuntu packages, which it installs when missing:
# wireguard-go wireguard-tools iproute2 iputils-ping bind9 bind9-dnsutils keepalived.
# Traffic stays inside the lab's namespaces; nothing on the host's own network changes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: run as root (it creates network namespaces), e.g. sudo $0" >&2
  exit 1
fi
# Only the packages the lab needs (tests/scripts/prereqs.sh installs the whole suite's, Chromium
# and qemu included).
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have wireguard-go || need+=(wireguard-go)
have wg || need+=(wireguard-tools)
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have named || need+=(bind9)
have dig || need+=(bind9-dnsutils)
have keepalived || need+=(keepalived)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "demo.sh: cargo is missing (install Rust: https://rustup.rs)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
echo "building wgclusterd and the demo (target dir: $target) ..."
CARGO_TARGET_DIR="$target" cargo build -q -p wgclusterd
CARGO_TARGET_DIR="$target" cargo build -q -p wgcluster-tests --bin demo
export WGCLUSTERD_BIN="${WGCLUSTERD_BIN:-$target/debug/wgclusterd}"
exec "$target/debug/demo" "$@"
