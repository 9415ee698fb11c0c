#!/usr/bin/env bash
# cross/apk-tools.sh
#
# Builds apk-tools 3.0.5 (the package manager of OpenWrt 25.12) on the build host, once, and prints
# the path of its `apk` binary. The packaging scripts use it to make v3 packages (`apk mkpkg`),
# indexes (`apk mkndx`), and the tests to install into empty roots (`apk add --root`).
#
# Source: third_party/apk-tools/apk-tools-3.0.5.tar.gz (a copy of ../shared/vendor's; APK_TOOLS_TARBALL overrides).
# Cache:  $APK_TOOLS_DIR, default $CARGO_TARGET_DIR/apk-tools (CARGO_TARGET_DIR default <repo>/target).
#         A build whose stamp names the same tarball (sha256) is reused: the second call takes
#         milliseconds. Concurrent calls wait for each other (flock).
# Needs:  meson, ninja, pkg-config, a C compiler, OpenSSL/zlib/zstd headers (tests/scripts/prereqs.sh).
set -euo pipefail

die() { echo "apk-tools.sh: error: $*" >&2; exit 1; }
[ "$#" -eq 0 ] || { echo "usage: $0   (prints the path of the apk binary)" >&2; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
tarball="${APK_TOOLS_TARBALL:-$repo/third_party/apk-tools/apk-tools-3.0.5.tar.gz}"
# The one source we build (third_party/apk-tools/README.md): a different tarball is refused.
want_sum=038e2d3b8a4f6cbca2246752e6ce32f9fdad8a19ff437af45a23146a0dedf46e
cache="${APK_TOOLS_DIR:-${CARGO_TARGET_DIR:-$repo/target}/apk-tools}"

[ -f "$tarball" ] || die "apk-tools source not found: $tarball (set APK_TOOLS_TARBALL)"
tarball="$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
apk="$cache/build/src/apk"
stamp="$cache/stamp"

sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
[ -n "${APK_TOOLS_TARBALL:-}" ] || [ "$sum" = "$want_sum" ] || die "$tarball: sha256 $sum, expected $want_sum"
want="$sum -Dlua=disabled -Ddocs=disabled -Dtests=disabled"

built_ok() { [ -x "$apk" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if built_ok; then
    echo "$apk"
    exit 0
fi

missing=()
for t in meson ninja pkg-config cc; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
for p in openssl zlib libzstd; do pkg-config --exists "$p" 2>/dev/null || missing+=("$p (pkg-config)"); done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run tests/scripts/prereqs.sh"
command -v flock >/dev/null 2>&1 || die "missing flock (util-linux): run tests/scripts/prereqs.sh"

exec 9>"$cache/.lock"
flock 9
if built_ok; then # another caller built it while we waited
    echo "$apk"
    exit 0
fi

t0=$(date +%s)
rm -rf "$cache/src" "$cache/build" "$stamp"
mkdir -p "$cache/src"
tar -C "$cache/src" --strip-components=1 -xzf "$tarball" || die "cannot unpack $tarball"
[ -f "$cache/src/meson.build" ] || die "$tarball has no meson.build at its top"
log="$cache/build.log"
if ! { meson setup "$cache/build" "$cache/src" --buildtype=release \
        -Dlua=disabled -Ddocs=disabled -Dtests=disabled &&
       ninja -C "$cache/build" src/apk; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building apk-tools failed (full log: $log)"
fi
[ -x "$apk" ] || die "build finished but $apk is missing (log: $log)"
"$apk" --version >/dev/null 2>&1 || die "$apk does not run (log: $log)"
echo "$want" > "$stamp"
echo "apk-tools.sh: built $("$apk" --version 2>/dev/null | head -n1) in $(( $(date +%s) - t0 )) s" >&2
echo "$apk"
