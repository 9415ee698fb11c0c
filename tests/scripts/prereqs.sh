#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine (as root). Idempotent.
# This is the one place that installs packages: the build and test scripts never apt-get.
# Under CI=true a prerequisite that cannot be installed is an error, never a skip.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }

# --- network lab, DNS, API and LuCI tests ---
have wireguard-go || need_apt+=(wireguard-go)
have wg || need_apt+=(wireguard-tools)
have ip || need_apt+=(iproute2)
have ping || need_apt+=(iputils-ping)
have named || need_apt+=(bind9)
have dig || need_apt+=(bind9-dnsutils)
have curl || need_apt+=(curl)
have chromium || need_apt+=(chromium)
have node || need_apt+=(nodejs)
have npm || need_apt+=(npm)

# --- cross builds (cross/build.sh): C cross compilers and their libc headers for ring ---
# (--no-install-recommends does not pull the headers in; ring's C code needs them)
pkg gcc-aarch64-linux-gnu
pkg libc6-dev-arm64-cross
have qemu-aarch64 || need_apt+=(qemu-user)

# --- router CPUs (armv7, mips, mipsel): cross/build.sh, cross/smoke-qemu.sh ---
# qemu-user has qemu-arm, qemu-mipsel, qemu-mips, qemu-aarch64; python3-venv holds zig and
# cargo-zigbuild (PyPI, below); the smoke test reads JSON with python3.
# shellcheck source=../../cross/toolchain.env
. "$(dirname "${BASH_SOURCE[0]}")/../../cross/toolchain.env"
for q in qemu-aarch64 qemu-arm qemu-mipsel qemu-mips; do have "$q" || { need_apt+=(qemu-user); break; }; done
have python3 || need_apt+=(python3)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# the pinned nightly builds std for armv7/mips/mipsel (-Zbuild-std needs rust-src)
rustup toolchain install "$WGC_NIGHTLY" --profile minimal --component rust-src >/dev/null 2>&1 \
  || { echo "prereqs: rustup toolchain install $WGC_NIGHTLY failed" >&2; exit 1; }

# --- packages (apk-tools 3.0.5 from third_party/apk-tools, built by cross/apk-tools.sh) ---
# meson + ninja build apk-tools; it links OpenSSL (libcrypto), zlib and zstd; python3 for check-ipk.sh
have cc || need_apt+=(gcc libc6-dev)
pkg meson
pkg ninja-build
pkg pkg-config
pkg libssl-dev
pkg zlib1g-dev
pkg libzstd-dev
have python3 || need_apt+=(python3)
# openssl makes the key of the signed-feed test
have openssl || need_apt+=(openssl)
# a static busybox is the /bin/sh of the test roots, so apk runs the install scripts inside them
pkg busybox-static

# --- kernel WireGuard VM test (tests/vm/) ---
# QEMU boots Debian's kernel (TCG here); cpio packs the initramfs. The guest's own packages
# (kernel, busybox-static, wireguard-tools, iproute2) are fetched by tests/vm/run.sh with
# `apt-get download` into a cache and unpacked with dpkg-deb, never installed on the host.
have qemu-system-x86_64 || need_apt+=(qemu-system-x86)
have cpio || need_apt+=(cpio)
# `apt-get download` needs the package lists even when nothing above is missing.
apt_lists_empty() { ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; }

# --- service behaviour (tests/tests/service_*.rs: bind9 above; tests/bench/flash-writes.sh) ---
have python3 || need_apt+=(python3)

# --- DNS drift (#16: tests/tests/dns_drift.rs edits BIND9 records behind the daemon's back) ---
# nsupdate ships in bind9-dnsutils with dig (above); named for the server is above too.
have nsupdate || need_apt+=(bind9-dnsutils)

# --- size and memory budget (cross/budget.sh: readelf; tests/bench/footprint.sh: python3, ip, curl, wireguard-go) ---
have readelf || need_apt+=(binutils)
have python3 || need_apt+=(python3)

# --- failover for stock clients (#16: tests/tests/failover_stock_client.rs, tests/bench/failover/) ---
# keepalived holds the floating address (VRRP) in each router namespace; iptables makes the
# MASQUERADE namespace of the NAT client.
have keepalived || need_apt+=(keepalived)
have iptables || need_apt+=(iptables)

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

if apt_lists_empty && [ "$(id -u)" = 0 ]; then
  echo "prereqs: apt-get update (no package lists; the VM test downloads Debian packages)"
  apt-get update -qq
fi

# --- Rust toolchains and components ---
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null

# --- tools from other registries (pip, cargo) ---
# router CPUs: zig (musl libc/crt and C compiler for armv7/mips/mipsel) and cargo-zigbuild, pinned
# in cross/toolchain.env, in their own venv (Debian's python refuses a system-wide pip install);
# cross/build.sh puts $WGC_TOOLS_VENV/bin first on PATH.
[ -x "$WGC_TOOLS_VENV/bin/pip" ] || python3 -m venv "$WGC_TOOLS_VENV"
if [ "$("$WGC_TOOLS_VENV/bin/python3" -m ziglang version 2>/dev/null)" != "$WGC_ZIGLANG_VERSION" ] \
  || [ "$("$WGC_TOOLS_VENV/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $WGC_CARGO_ZIGBUILD_VERSION" ]; then
  "$WGC_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check \
    "ziglang==$WGC_ZIGLANG_VERSION" "cargo-zigbuild==$WGC_CARGO_ZIGBUILD_VERSION"
fi
for b in cargo-zigbuild python3; do
  [ -x "$WGC_TOOLS_VENV/bin/$b" ] || { echo "prereqs: $WGC_TOOLS_VENV/bin/$b is missing" >&2; exit 1; }
done

for b in wireguard-go wg ip ping named dig curl qemu-aarch64 aarch64-linux-gnu-gcc qemu-arm qemu-mipsel qemu-mips python3; do
  if ! have "$b"; then
    echo "prereqs: $b is still missing" >&2
    exit 1
  fi
done
echo "prereqs: ok"
