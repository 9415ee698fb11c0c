#!/usr/bin/env bash
# cross/apk.sh KIND ARCH BINARY OUTDIR
#
# Builds apk v3 packages (OpenWrt 25.12, apk-tools 3) without the OpenWrt SDK, with
# `apk mkpkg` of cross/apk-tools.sh, and prints the path of each package it wrote.
#
#   KIND     daemon  -> wgcluster-<ver>-r<rel>.apk (Depends kmod-wireguard) and
#                       wgcluster-userspace-<ver>-r<rel>.apk (Depends wireguard-go), from BINARY
#            luci    -> luci-app-wgcluster-<ver>-r<rel>.apk (noarch) and one
#                       luci-i18n-wgcluster-<lang>-<ver>-r<rel>.apk per po/<lang>/wgcluster.po;
#                       give ARCH and BINARY as "-"
#   ARCH     OpenWrt package architecture (`apk --print-arch` on the router: aarch64_cortex-a53,
#            x86_64, mipsel_24kc, arm_cortex-a7_neon-vfpv4, ...); must match BINARY's ELF machine
#   OUTDIR   where the .apk files go. apk file names carry no architecture: use one OUTDIR per
#            ARCH (a feed directory, see cross/feed.sh).
#
# Environment: PKG_RELEASE (default 1), WGC_PKG_VERSION (default: Cargo.toml's version),
# SOURCE_DATE_EPOCH, APK (an apk binary; default: cross/apk-tools.sh builds one), PKG_URL,
# PKG_MAINTAINER, APK_COMPRESSION (default deflate:9, which every apk-tools 3 reads; zstd:19
# makes the daemon package 11 % smaller but needs an apk built with zstd).
#
# The package follows what the 25.12 SDK's package-pack.mk puts in an apk: info fields name,
# version (X.Y.Z-rN), description, arch (noarch for LuCI), license, origin, url, maintainer,
# depends, provides; scripts post-install, post-upgrade, pre-deinstall, post-deinstall; and the
# files /lib/apk/packages/<name>.list, .conffiles and .conffiles_static (sysupgrade reads these to
# keep changed config files). Files are owned by root: run as root (or under fakeroot).
set -euo pipefail

usage() { echo "usage: $0 daemon ARCH BINARY OUTDIR | $0 luci - - OUTDIR" >&2; exit 2; }
[ "$#" -eq 4 ] || usage
kind="$1"; arch="$2"; bin="$3"; outdir="$4"

# shellcheck source=cross/pkg-lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pkg-lib.sh"

case "$kind" in
    daemon) pkg_check_arch "$arch" "$bin" ;;
    luci) ;;
    *) usage ;;
esac
if [ "$(id -u)" != 0 ] && [ -z "${FAKEROOTKEY:-}" ]; then
    pkg_die "run as root (or under fakeroot): apk mkpkg records the files' owners"
fi
apk="${APK:-$("$pkg_here/apk-tools.sh")}"
[ -x "$apk" ] || pkg_die "apk binary not found: $apk"
command -v sha256sum >/dev/null || pkg_die "sha256sum (coreutils) is required"

version="$(pkg_version)"
release="$(pkg_release)"
apkver="$version-r$release"
epoch="$(pkg_epoch)"
export SOURCE_DATE_EPOCH="$epoch"

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-apk.XXXXXX")"
trap 'rm -rf "$work"' EXIT
umask 022

# apk_meta DIR NAME [CONFFILE...]: OpenWrt's per-package files under /lib/apk/packages
apk_meta() {
    local d="$1" name="$2" f
    shift 2
    install -d -m 0755 "$d/lib/apk/packages"
    if [ "$#" -gt 0 ]; then
        : > "$d/lib/apk/packages/$name.conffiles"
        : > "$d/lib/apk/packages/$name.conffiles_static"
        for f in "$@"; do
            echo "$f" >> "$d/lib/apk/packages/$name.conffiles"
            echo "$f $(sha256sum "$d$f" | cut -d' ' -f1)" >> "$d/lib/apk/packages/$name.conffiles_static"
        done
    fi
    # the list names itself too, as the SDK's does (it is written after the find)
    ( cd "$d" && { find . \( -type f -o -type l \) -printf '/%P\n'; echo "/lib/apk/packages/$name.list"; } |
        sort -u > "$work/$name.list" )
    mv "$work/$name.list" "$d/lib/apk/packages/$name.list"
    chmod 0644 "$d/lib/apk/packages/$name".*
}

# mkpkg NAME ARCH DEPENDS PROVIDES DESCRIPTION FILESDIR SCRIPTSDIR
mkpkg() {
    local name="$1" a="$2" deps="$3" provides="$4" desc="$5" files="$6" scripts="$7"
    local out="$outdir/$name-$apkver.apk"
    local args=(
        --info "name:$name" --info "version:$apkver" --info "description:$desc"
        --info "arch:$a" --info "license:$PKG_LICENSE" --info "origin:wgcluster"
        --info "url:$PKG_URL" --info "maintainer:$PKG_MAINTAINER"
    )
    [ -n "$deps" ] && args+=(--info "depends:$deps")
    [ -n "$provides" ] && args+=(--info "provides:$provides")
    [ -f "$scripts/postinst" ] && args+=(--script "post-install:$scripts/postinst" --script "post-upgrade:$scripts/postinst")
    [ -f "$scripts/prerm" ] && args+=(--script "pre-deinstall:$scripts/prerm")
    [ -f "$scripts/postrm" ] && args+=(--script "post-deinstall:$scripts/postrm")
    pkg_touch "$files"
    rm -f "$out.tmp"
    "$apk" mkpkg --compression "${APK_COMPRESSION:-deflate:9}" "${args[@]}" --files "$files" --output "$out.tmp" >"$work/mkpkg.log" 2>&1 || {
        cat "$work/mkpkg.log" >&2
        pkg_die "apk mkpkg failed for $name"
    }
    mv -f "$out.tmp" "$out"
    echo "$out"
    echo "apk.sh: $(basename "$out") ($a): $(stat -c %s "$out") bytes" >&2
}

case "$kind" in
daemon)
    for flavour in kernel userspace; do
        name="$(pkg_flavour_name "$flavour")"
        d="$work/$flavour/data"
        pkg_stage_daemon "$d" "$bin"
        apk_meta "$d" "$name" /etc/config/wgcluster
        pkg_scripts daemon "$work/$flavour/scripts"
        provides=""
        # a versioned provide makes the userspace flavour the owner of the name "wgcluster":
        # it satisfies luci-app-wgcluster's dependency and conflicts with the kernel flavour
        [ "$flavour" = userspace ] && provides="wgcluster=$apkver"
        mkpkg "$name" "$arch" "$(pkg_flavour_depends "$flavour")" "$provides" \
            "$(pkg_description "$flavour")" "$d" "$work/$flavour/scripts"
    done
    ;;
luci)
    d="$work/luci/data"
    pkg_stage_luci "$d"
    apk_meta "$d" luci-app-wgcluster
    pkg_scripts luci "$work/luci/scripts"
    mkpkg luci-app-wgcluster noarch "luci-base rpcd wgcluster" "" "$(pkg_description luci)" \
        "$d" "$work/luci/scripts"
    for lang in $(pkg_langs); do
        d="$work/i18n-$lang/data"
        pkg_stage_i18n "$d" "$lang"
        apk_meta "$d" "luci-i18n-wgcluster-$lang"
        pkg_scripts i18n "$work/i18n-$lang/scripts"
        mkpkg "luci-i18n-wgcluster-$lang" noarch "luci-app-wgcluster" "" \
            "$(pkg_description i18n "$lang")" "$d" "$work/i18n-$lang/scripts"
    done
    ;;
esac
