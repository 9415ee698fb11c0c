#!/usr/bin/env bash
# cross/packages.sh OUTDIR ARCH BINARY [ARCH BINARY]...
#
# Every package and a feed per router architecture, from binaries built by cross/build.sh:
#   OUTDIR/<ARCH>/  wgcluster, wgcluster-userspace          (.apk and .ipk, for ARCH)
#                   luci-app-wgcluster, luci-i18n-wgcluster-* (.apk noarch, .ipk all)
#                   packages.adb (apk index), Packages, Packages.gz (opkg index)
# then checks every .ipk and the Packages index (cross/check-ipk.sh --feed) and prints a table of
# package sizes. A router adds OUTDIR/<ARCH>/ as a feed (openwrt/README.md).
#
#   cross/packages.sh out/feed aarch64_cortex-a53 target-cross/aarch64-unknown-linux-musl/release/wgclusterd \
#                              x86_64 target-cross/x86_64-unknown-linux-musl/release/wgclusterd
#
# Environment: as cross/apk.sh and cross/ipk.sh (PKG_RELEASE, SOURCE_DATE_EPOCH, APK_SIGN_KEY...).
set -euo pipefail

usage() { echo "usage: $0 OUTDIR ARCH BINARY [ARCH BINARY]..." >&2; exit 2; }
[ "$#" -ge 3 ] && [ $(( ($# - 1) % 2 )) -eq 0 ] || usage
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1"; shift
mkdir -p "$out"
out="$(cd "$out" && pwd)"

t0=$(date +%s)
APK="$("$here/apk-tools.sh")"
export APK
noarch="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-noarch.XXXXXX")"
trap 'rm -rf "$noarch"' EXIT
mapfile -t luci < <("$here/apk.sh" luci - - "$noarch"; "$here/ipk.sh" luci - - "$noarch")

rows=()
while [ "$#" -gt 0 ]; do
    arch="$1"; bin="$2"; shift 2
    feed="$out/$arch"
    rm -f "$feed"/*.apk "$feed"/*.ipk
    mapfile -t pkgs < <("$here/apk.sh" daemon "$arch" "$bin" "$feed"; "$here/ipk.sh" daemon "$arch" "$bin" "$feed")
    "$here/feed.sh" "$feed" "${pkgs[@]}" "${luci[@]}" >/dev/null
    if ! "$here/check-ipk.sh" --feed "$feed" > "$feed/.check-ipk.log" 2>&1; then
        grep '^FAIL' "$feed/.check-ipk.log" >&2
        echo "packages.sh: error: check-ipk.sh --feed $feed failed (log: $feed/.check-ipk.log)" >&2
        exit 1
    fi
    rm -f "$feed/.check-ipk.log"
    for p in "${pkgs[@]}"; do
        rows+=("$(printf '%-22s %-52s %10d' "$arch" "$(basename "$p")" "$(stat -c %s "$p")")")
    done
done

echo "packages and feeds in $out ($(( $(date +%s) - t0 )) s)"
printf '%-22s %-52s %10s\n' arch package bytes
printf '%s\n' "${rows[@]}"
for p in "${luci[@]}"; do printf '%-22s %-52s %10d\n' noarch "$(basename "$p")" "$(stat -c %s "$p")"; done
