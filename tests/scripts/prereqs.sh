#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine (as root). Idempotent.
# Under CI=true a prerequisite that cannot be installed is an error, never a skip.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have wireguard-go || need_apt+=(wireguard-go)
have wg || need_apt+=(wireguard-tools)
have ip || need_apt+=(iproute2)
have ping || need_apt+=(iputils-ping)
have named || need_apt+=(bind9)
have dig || need_apt+=(bind9-dnsutils)
have curl || need_apt+=(curl)
have chromium || need_apt+=(chromium)
have qemu-aarch64 || need_apt+=(qemu-user)
have node || need_apt+=(nodejs)
have npm || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "prereqs: missing ${need_apt[*]} and not root: cannot install" >&2
    exit 1
  fi
  echo "prereqs: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Rust components used by the checks.
rustup component add rustfmt clippy >/dev/null 2>&1 || true

for b in wireguard-go wg ip ping named dig curl; do
  if ! have "$b"; then
    echo "prereqs: $b is still missing" >&2
    exit 1
  fi
done
echo "prereqs: ok"
