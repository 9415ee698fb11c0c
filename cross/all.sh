#!/usr/bin/env bash
# cross/all.sh [--all | ARCH...]
#
# The whole router chain, each binary built once and reused for every check:
#   1. cross/build.sh        static musl release binaries (stable + rust-lld; pinned nightly
#                            -Zbuild-std + zig where rustup has no std)
#   2. cross/budget.sh       each binary within its CPU's size budget (fails when one grows past it)
#   3. cross/smoke-qemu.sh   each binary under its qemu-user (x86_64 natively): --version, init,
#                            run + /api/health, a peer created through the API and read back, SIGHUP,
#                            SIGTERM
#   4. cross/packages.sh     wgcluster, wgcluster-userspace, luci-app-wgcluster as apk v3 and ipk,
#                            and a feed per arch (apk index + opkg Packages), every .ipk checked
#   5. tests/packaging/run.sh  install / upgrade / remove from the feed into empty roots with the
#                            real apk-tools 3.0.5 (for the first two archs: the package scripts
#                            and layout do not depend on the CPU)
# then a table per arch: stripped size, budget, package sizes.
#
#   ARCH     OpenWrt arch names or Rust targets of cross/targets.sh
#            (default: x86_64 aarch64_cortex-a53 mipsel_24kc — the test command's set)
#   --all    every target of cross/targets.sh (also arm_cortex-a7_neon-vfpv4 and mips_24kc)
#
# Environment: CARGO_TARGET_DIR (default <repo>/target-cross); WGC_FEED_DIR (default
# $CARGO_TARGET_DIR/feed) where the feeds go.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=targets.sh
. "$here/targets.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-cross}"
feed="${WGC_FEED_DIR:-$CARGO_TARGET_DIR/feed}"

if [ "${1:-}" = --all ]; then
    mapfile -t archs < <(wgc_archs)
elif [ "$#" -gt 0 ]; then
    archs=()
    for a in "$@"; do
        arch="$(wgc_arch "$a")" || { echo "all.sh: unknown target '$a' (see cross/targets.sh)" >&2; exit 2; }
        archs+=("$arch")
    done
else
    archs=(x86_64 aarch64_cortex-a53 mipsel_24kc)
fi

start=$(date +%s)
step() { echo; echo "--- cross: $* ($(( $(date +%s) - start ))s)"; }

step "build ${archs[*]}"
"$here/build.sh" "${archs[@]}"
t_build=$(( $(date +%s) - start ))

bins=(); pairs=()
for a in "${archs[@]}"; do
    b="$CARGO_TARGET_DIR/$(wgc_triple "$a")/release/wgclusterd"
    bins+=("$b"); pairs+=("$a" "$b")
done

step "size budget"
"$here/budget.sh" "${bins[@]}"

step "smoke test under qemu-user"
for b in "${bins[@]}"; do
    "$here/smoke-qemu.sh" "$b"
done

step "packages and feeds"
"$here/packages.sh" "$feed" "${pairs[@]}"

step "package tests (install, upgrade, remove from the feed)"
"$repo/tests/packaging/run.sh" "${pairs[@]:0:4}"

echo
echo "cross chain OK (builds ${t_build} s, all $(( $(date +%s) - start )) s)"
printf '  %-26s %12s %12s %12s %12s\n' ARCH "BINARY" "wgcluster.apk" "wgcluster.ipk" "luci.apk"
for a in "${archs[@]}"; do
    b="$CARGO_TARGET_DIR/$(wgc_triple "$a")/release/wgclusterd"
    apk="$(ls "$feed/$a"/wgcluster-[0-9]*.apk 2>/dev/null | head -n 1)"
    ipk="$(ls "$feed/$a"/wgcluster_*.ipk 2>/dev/null | head -n 1)"
    luci="$(ls "$feed/$a"/luci-app-wgcluster-*.apk 2>/dev/null | head -n 1)"
    printf '  %-26s %12s %12s %12s %12s\n' "$a" "$(stat -c %s "$b")" \
        "$( [ -n "$apk" ] && stat -c %s "$apk" || echo -)" \
        "$( [ -n "$ipk" ] && stat -c %s "$ipk" || echo -)" \
        "$( [ -n "$luci" ] && stat -c %s "$luci" || echo -)"
done
