#!/usr/bin/env bash
# cross/all.sh [OUTDIR]
#
# The whole cross chain, once: build x86_64 + aarch64 musl binaries, assemble
# the aarch64 (and x86_64) .ipk, check both packages, and run the aarch64
# binary under qemu-aarch64. Prints a summary with sizes and timings.
#
#   OUTDIR         where the .ipk files go (default: $CARGO_TARGET_DIR/ipk)
#   IPK_ARCH_AARCH64  OpenWrt arch for the aarch64 package (default aarch64_cortex-a53)
#   IPK_ARCH_X86_64   OpenWrt arch for the x86_64 package (default x86_64)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-cross}"
out="${1:-$CARGO_TARGET_DIR/ipk}"
a64="${IPK_ARCH_AARCH64:-aarch64_cortex-a53}"
x64="${IPK_ARCH_X86_64:-x86_64}"

t0=$(date +%s)
"$here/build.sh" x86_64-unknown-linux-musl aarch64-unknown-linux-musl
t1=$(date +%s)

bin_x="$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/wgclusterd"
bin_a="$CARGO_TARGET_DIR/aarch64-unknown-linux-musl/release/wgclusterd"
ipk_a="$("$here/ipk.sh" "$a64" "$bin_a" "$out")"
ipk_x="$("$here/ipk.sh" "$x64" "$bin_x" "$out")"
"$here/check-ipk.sh" "$ipk_a" | tail -n 1
"$here/check-ipk.sh" "$ipk_x" | tail -n 1
"$here/smoke-qemu.sh" "$bin_a"
t2=$(date +%s)

echo
echo "cross chain OK"
printf '  %-44s %10d bytes\n' "x86_64 binary (stripped)" "$(stat -c %s "$bin_x")"
printf '  %-44s %10d bytes\n' "aarch64 binary (stripped)" "$(stat -c %s "$bin_a")"
printf '  %-44s %10d bytes\n' "$(basename "$ipk_a")" "$(stat -c %s "$ipk_a")"
printf '  %-44s %10d bytes\n' "$(basename "$ipk_x")" "$(stat -c %s "$ipk_x")"
echo "  builds: $((t1 - t0)) s; package + check + qemu smoke: $((t2 - t1)) s"
