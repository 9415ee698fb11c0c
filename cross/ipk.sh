#!/usr/bin/env bash
# cross/ipk.sh KIND ARCH BINARY OUTDIR      (or the older form: cross/ipk.sh ARCH BINARY OUTDIR)
#
# Assembles OpenWrt .ipk packages (opkg, OpenWrt 24.10 and earlier) without the OpenWrt SDK, and
# prints the path of each package it wrote.
#
#   KIND    daemon -> wgcluster_<ver>-<rel>_<ARCH>.ipk (Depends kmod-wireguard, ca-bundle) and
#                     wgcluster-userspace_<ver>-<rel>_<ARCH>.ipk (Depends wireguard-go, ca-bundle;
#                     Provides wgcluster, Conflicts wgcluster), from BINARY
#           luci   -> luci-app-wgcluster_<ver>-<rel>_all.ipk and one
#                     luci-i18n-wgcluster-<lang>_<ver>-<rel>_all.ipk per po/<lang>/wgcluster.po;
#                     give ARCH and BINARY as "-"
#   ARCH    OpenWrt package architecture, as `opkg print-architecture` prints it on the router:
#           aarch64_cortex-a53, aarch64_generic, x86_64, arm_cortex-a7_neon-vfpv4, mipsel_24kc, ...
#           (the binary is static, so any aarch64_* arch works for the aarch64 build)
#   OUTDIR  where the .ipk files go
# The older three-argument form builds the kernel flavour (wgcluster) only and prints one path.
#
# Environment: PKG_RELEASE (default 1), WGC_PKG_VERSION (default: Cargo.toml's version),
# PKG_MAINTAINER, SOURCE_DATE_EPOCH (timestamp of every archive member; default: the mtime of
# Cargo.toml), for reproducible output.
#
# The format is what OpenWrt's scripts/ipkg-build makes, the only one opkg-lede reads: the OUTER
# container is a gzip-compressed tar (not a Debian `ar` archive) holding ./debian-binary ("2.0"),
# ./data.tar.gz and ./control.tar.gz; all tars GNU format (no pax headers), owned by 0:0.
# The maintainer scripts are openwrt/wgcluster/files/wgcluster.{postinst,prerm,postrm} and
# luci-app/luci-app-wgcluster/pkg/luci-app.postinst, the same ones cross/apk.sh puts in the .apk.
set -euo pipefail

usage() { echo "usage: $0 daemon ARCH BINARY OUTDIR | $0 luci - - OUTDIR | $0 ARCH BINARY OUTDIR" >&2; exit 2; }
flavours="kernel userspace"
if [ "$#" -eq 3 ]; then
    set -- daemon "$@"
    flavours="kernel"
fi
[ "$#" -eq 4 ] || usage
kind="$1"; arch="$2"; bin="$3"; outdir="$4"

# shellcheck source=cross/pkg-lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pkg-lib.sh"

case "$kind" in
    daemon) pkg_check_arch "$arch" "$bin" ;;
    luci) arch=all ;;
    *) usage ;;
esac
command -v tar >/dev/null && command -v gzip >/dev/null || pkg_die "tar and gzip are required"
tar --version 2>/dev/null | grep -q 'GNU tar' || pkg_die "GNU tar is required (for --format=gnu --owner=0)"
if [ "$kind" = daemon ] && command -v readelf >/dev/null 2>&1 &&
    readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    echo "ipk.sh: warning: $bin is dynamically linked; the package depends on no C library" >&2
fi

version="$(pkg_version)"
release="$(pkg_release)"
pkgver="$version-$release"
epoch="$(pkg_epoch)"

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-ipk.XXXXXX")"
trap 'rm -rf "$work"' EXIT
umask 022

tarc() { # tarc DIR MEMBERS... > out.tar   (deterministic, root-owned, GNU format)
    local dir="$1"; shift
    tar -C "$dir" --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
        --mtime="@$epoch" -cf - "$@"
}

# ipk NAME DEPENDS(", " separated) EXTRA_CONTROL DESCRIPTION DATADIR SCRIPTSDIR [CONFFILE...]
ipk() {
    local name="$1" depends="$2" extra="$3" desc="$4" d="$5" s="$6"
    shift 6
    local w="$work/pack-$name" installed_size
    rm -rf "$w" && mkdir -p "$w/control"
    tarc "$d" . | gzip -n -9 > "$w/data.tar.gz"
    installed_size="$(gzip -dc "$w/data.tar.gz" | wc -c)"
    {
        echo "Package: $name"
        echo "Version: $pkgver"
        [ -n "$depends" ] && echo "Depends: $depends"
        [ -n "$extra" ] && printf '%s\n' "$extra"
        echo "Source: wgcluster"
        echo "SourceName: $name"
        echo "License: $PKG_LICENSE"
        echo "Section: $([ "$arch" = all ] && echo luci || echo net)"
        echo "SourceDateEpoch: $epoch"
        echo "URL: $PKG_URL"
        echo "Maintainer: $PKG_MAINTAINER"
        echo "Architecture: $arch"
        echo "Installed-Size: $installed_size"
        echo "Description: $desc"
    } > "$w/control/control"
    if [ "$#" -gt 0 ]; then printf '%s\n' "$@" > "$w/control/conffiles"; fi
    cp "$s"/* "$w/control/" 2>/dev/null || true
    find "$w/control" -type f -exec chmod 0644 {} +
    local f
    for f in postinst prerm postrm; do [ -f "$w/control/$f" ] && chmod 0755 "$w/control/$f"; done
    tarc "$w/control" . | gzip -n -9 > "$w/control.tar.gz"
    echo "2.0" > "$w/debian-binary"
    chmod 0644 "$w/debian-binary" "$w/data.tar.gz" "$w/control.tar.gz"
    local out="$outdir/${name}_${pkgver}_${arch}.ipk"
    tar -C "$w" --format=gnu --numeric-owner --owner=0 --group=0 --mtime="@$epoch" \
        -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n -9 > "$out.tmp"
    mv -f "$out.tmp" "$out"
    echo "$out"
    echo "ipk.sh: $(basename "$out"): $(stat -c %s "$out") bytes (installed $installed_size)" >&2
}

case "$kind" in
daemon)
    for flavour in $flavours; do
        name="$(pkg_flavour_name "$flavour")"
        d="$work/$flavour/data"
        pkg_stage_daemon "$d" "$bin"
        pkg_scripts daemon "$work/$flavour/scripts"
        extra="Conflicts: $(pkg_flavour_other "$flavour")"
        [ "$flavour" = userspace ] && extra="Provides: wgcluster"$'\n'"$extra"
        ipk "$name" "$(pkg_flavour_depends "$flavour" | sed 's/ /, /g')" "$extra" \
            "$(pkg_description "$flavour")" "$d" "$work/$flavour/scripts" /etc/config/wgcluster
    done
    ;;
luci)
    d="$work/luci/data"
    pkg_stage_luci "$d"
    pkg_scripts luci "$work/luci/scripts"
    ipk luci-app-wgcluster "luci-base, rpcd, wgcluster" "" "$(pkg_description luci)" "$d" "$work/luci/scripts"
    for lang in $(pkg_langs); do
        d="$work/i18n-$lang/data"
        pkg_stage_i18n "$d" "$lang"
        pkg_scripts i18n "$work/i18n-$lang/scripts"
        ipk "luci-i18n-wgcluster-$lang" "luci-app-wgcluster" "" "$(pkg_description i18n "$lang")" \
            "$d" "$work/i18n-$lang/scripts"
    done
    ;;
esac
