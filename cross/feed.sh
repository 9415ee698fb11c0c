#!/usr/bin/env bash
# cross/feed.sh OUTDIR PKG...
#
# Makes OUTDIR a package feed for one router architecture: copies each PKG (.apk or .ipk) into
# OUTDIR, then indexes every package there:
#   packages.adb           apk v3 index (`apk mkndx`), for OpenWrt 25.12: a router lists
#                          <URL>/packages.adb in /etc/apk/repositories.d/customfeeds.list
#   Packages, Packages.gz  opkg index, for OpenWrt 24.10: `src/gz wgcluster <URL>` in
#                          /etc/opkg/customfeeds.conf
# Both may live in the same directory (apk reads packages.adb, opkg Packages.gz). apk file names
# have no architecture, so use one OUTDIR per architecture (e.g. feed/aarch64_cortex-a53/).
#
# Environment: APK (an apk binary; default: cross/apk-tools.sh builds one), APK_SIGN_KEY (an
# ECDSA/RSA private key in PEM: the apk index is signed with it; the router needs the public key
# in /etc/apk/keys/), SOURCE_DATE_EPOCH.
# Prints the paths of the index files.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR PKG..." >&2; exit 2; }
die() { echo "feed.sh: error: $*" >&2; exit 1; }
[ "$#" -ge 1 ] || usage
outdir="$1"; shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
for p in "$@"; do
    [ -f "$p" ] || die "no such package: $p"
    case "$p" in *.apk|*.ipk) ;; *) die "not an .apk or .ipk: $p" ;; esac
    dest="$outdir/$(basename "$p")"
    if [ "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")" != "$dest" ]; then
        cp -f "$p" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
    fi
done

shopt -s nullglob
apks=("$outdir"/*.apk)
ipks=("$outdir"/*.ipk)
[ ${#apks[@]} -gt 0 ] || [ ${#ipks[@]} -gt 0 ] || die "no .apk or .ipk in $outdir"

# ---- apk v3 index ------------------------------------------------------------------------------
if [ ${#apks[@]} -gt 0 ]; then
    apk="${APK:-$("$here/apk-tools.sh")}"
    [ -x "$apk" ] || die "apk binary not found: $apk"
    sign=()
    if [ -n "${APK_SIGN_KEY:-}" ]; then
        [ -f "$APK_SIGN_KEY" ] || die "APK_SIGN_KEY: no such file $APK_SIGN_KEY"
        sign=(--sign-key "$APK_SIGN_KEY")
    fi
    # packages are found next to the index, by the name apk.sh gives them
    # shellcheck disable=SC2016
    "$apk" mkndx "${sign[@]}" --allow-untrusted --pkgname-spec '${name}-${version}.apk' \
        --description "wgcluster feed" --output "$outdir/packages.adb.tmp" "${apks[@]}" \
        >"$outdir/.mkndx.log" 2>&1 || { cat "$outdir/.mkndx.log" >&2; die "apk mkndx failed"; }
    rm -f "$outdir/.mkndx.log"
    mv -f "$outdir/packages.adb.tmp" "$outdir/packages.adb"
    echo "$outdir/packages.adb"
else
    rm -f "$outdir/packages.adb"
fi

# ---- opkg index --------------------------------------------------------------------------------
if [ ${#ipks[@]} -gt 0 ]; then
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-feed.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    : > "$tmp/Packages"
    for p in "${ipks[@]}"; do
        rm -rf "$tmp/x" && mkdir -p "$tmp/x"
        tar -xzf "$p" -C "$tmp/x" ./control.tar.gz 2>/dev/null || tar -xzf "$p" -C "$tmp/x" control.tar.gz \
            || die "$p: no control.tar.gz (not an OpenWrt .ipk)"
        tar -xzf "$tmp/x/control.tar.gz" -C "$tmp/x" ./control 2>/dev/null || tar -xzf "$tmp/x/control.tar.gz" -C "$tmp/x" control \
            || die "$p: no control file"
        # what OpenWrt's ipkg-make-index.sh writes: the control fields, then Filename, Size,
        # SHA256sum, with the (multi-line) Description last
        {
            sed '/^Description:/,$d' "$tmp/x/control"
            echo "Filename: $(basename "$p")"
            echo "Size: $(stat -c %s "$p")"
            echo "SHA256sum: $(sha256sum "$p" | cut -d' ' -f1)"
            sed -n '/^Description:/,$p' "$tmp/x/control"
            echo
        } >> "$tmp/Packages"
    done
    cp "$tmp/Packages" "$outdir/Packages.tmp" && mv -f "$outdir/Packages.tmp" "$outdir/Packages"
    gzip -n -9 -c "$outdir/Packages" > "$outdir/Packages.gz.tmp" && mv -f "$outdir/Packages.gz.tmp" "$outdir/Packages.gz"
    echo "$outdir/Packages"
    echo "$outdir/Packages.gz"
else
    rm -f "$outdir/Packages" "$outdir/Packages.gz"
fi
