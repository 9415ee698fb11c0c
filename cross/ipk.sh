#!/usr/bin/env bash
# cross/ipk.sh ARCH BINARY OUTDIR
#
# Assembles an OpenWrt .ipk for wgclusterd without the OpenWrt SDK, from a
# static binary (cross/build.sh) and the package files in openwrt/wgcluster/files.
#
#   ARCH    OpenWrt package architecture, as `opkg print-architecture` prints it
#           on the router: aarch64_cortex-a53, aarch64_generic, x86_64,
#           arm_cortex-a7_neon-vfpv4, mipsel_24kc, ... (the binary is static,
#           so any aarch64_* arch works for the aarch64 build).
#   BINARY  the wgclusterd executable for that architecture
#   OUTDIR  where wgcluster_<version>-<release>_<ARCH>.ipk is written
#
# Environment:
#   PKG_RELEASE        package release (default 1)
#   IPK_MAINTAINER     Maintainer field (default "wgcluster developers")
#   IPK_DEPENDS        Depends field (default "kmod-wireguard, ca-bundle": the kernel module, and
#                      the CA bundle the Cloudflare provider verifies api.cloudflare.com with; set it to ""
#                      for a router that uses wireguard-go, wg_backend 'userspace')
#   SOURCE_DATE_EPOCH  timestamp of every archive member (default: the mtime
#                      of the workspace Cargo.toml), for reproducible output
#
# The format is what OpenWrt's scripts/ipkg-build makes, which is the only one
# that opkg-lede (the opkg of OpenWrt 24.10 and earlier) reads: the OUTER
# container is a gzip-compressed tar (not a Debian `ar` archive; opkg-lede's
# deb_extract() walks a gzipped tar only) holding ./debian-binary ("2.0"),
# ./data.tar.gz and ./control.tar.gz; all tars are GNU/ustar format (opkg-lede
# rejects pax extended headers), owned by 0:0.
# OpenWrt 25.12 uses apk instead: build an .apk with the SDK (openwrt/README.md).
set -euo pipefail

usage() { echo "usage: $0 ARCH BINARY OUTDIR" >&2; exit 2; }
die() { echo "ipk.sh: error: $*" >&2; exit 1; }
[ "$#" -eq 3 ] || usage

arch="$1"; bin="$2"; outdir="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
files="$repo/openwrt/wgcluster/files"

[[ "$arch" =~ ^[a-z0-9_.+-]+$ ]] || die "bad ARCH '$arch' (expected e.g. aarch64_cortex-a53, x86_64)"
[ -f "$bin" ] || die "binary not found: $bin"
for f in wgcluster.init wgcluster.config wgcluster.rpcd wgcluster.uci-defaults wgcluster.keep; do
    [ -f "$files/$f" ] || die "missing package file $files/$f"
done
command -v tar >/dev/null && command -v gzip >/dev/null || die "tar and gzip are required"
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is required (for --format=gnu --owner=0)"

# --- version: [workspace.package] version in Cargo.toml (daemon's own as fallback)
ws_version() {
    sed -n '/^\[workspace\.package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' "$1" | head -n1
}
crate_version() {
    sed -n '/^\[package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' "$1" | head -n1
}
version="$(ws_version "$repo/Cargo.toml")"
[ -n "$version" ] || version="$(crate_version "$repo/daemon/Cargo.toml")"
[ -n "$version" ] || die "cannot read the version from $repo/Cargo.toml"
release="${PKG_RELEASE:-1}"
pkgver="$version-$release"
maintainer="${IPK_MAINTAINER:-wgcluster developers}"
depends="${IPK_DEPENDS-kmod-wireguard, ca-bundle}"
epoch="${SOURCE_DATE_EPOCH:-$(stat -c %Y "$repo/Cargo.toml")}"

# --- sanity: the binary's ELF machine must match ARCH
elf_machine() {
    # ELF magic, then e_machine: 2 bytes at offset 18, in the file's byte order (EI_DATA)
    local magic data b0 b1
    magic="$(od -An -tx1 -N4 "$1" | tr -d ' \n')"
    [ "$magic" = 7f454c46 ] || { echo none; return; }
    data="$(od -An -tu1 -j5 -N1 "$1" | tr -d ' \n')"
    read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$1")
    if [ "$data" = 2 ]; then echo $(( b0 * 256 + b1 )); else echo $(( b1 * 256 + b0 )); fi
}
m="$(elf_machine "$bin")"
case "$m" in
    none) die "$bin is not an ELF executable" ;;
    183) want='aarch64*' ;;
    62)  want='x86_64*' ;;
    40)  want='arm_*' ;;
    8)   want='mips*' ;;
    3)   want='i386*' ;;
    *)   want='*' ;;
esac
# shellcheck disable=SC2053
[[ "$arch" == $want ]] || die "ARCH '$arch' does not match the binary (ELF machine $m wants $want)"
if command -v readelf >/dev/null 2>&1; then
    if readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        echo "ipk.sh: warning: $bin is dynamically linked; the package only depends on '$depends'" >&2
    fi
fi

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-ipk.XXXXXX")"
trap 'rm -rf "$work"' EXIT
umask 022

# --- data: the installed file tree
d="$work/data"
install -d -m 0755 "$d/usr/sbin" "$d/etc/init.d" "$d/etc/config" "$d/usr/libexec/rpcd" \
    "$d/etc/uci-defaults" "$d/lib/upgrade/keep.d"
install -m 0755 "$bin"                          "$d/usr/sbin/wgclusterd"
install -m 0755 "$files/wgcluster.init"         "$d/etc/init.d/wgcluster"
install -m 0600 "$files/wgcluster.config"       "$d/etc/config/wgcluster"
install -m 0755 "$files/wgcluster.rpcd"         "$d/usr/libexec/rpcd/wgcluster"
install -m 0755 "$files/wgcluster.uci-defaults" "$d/etc/uci-defaults/90-wgcluster"
install -m 0644 "$files/wgcluster.keep"         "$d/lib/upgrade/keep.d/wgcluster"

tarc() { # tarc DIR MEMBERS... > out.tar   (deterministic, root-owned, GNU format)
    local dir="$1"; shift
    tar -C "$dir" --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
        --mtime="@$epoch" -cf - "$@"
}

tarc "$d" . | gzip -n -9 > "$work/data.tar.gz"
installed_size="$(gzip -dc "$work/data.tar.gz" | wc -c)"

# --- control
c="$work/control"
mkdir -p "$c"
{
    echo "Package: wgcluster"
    echo "Version: $pkgver"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Source: openwrt/wgcluster"
    echo "SourceName: wgcluster"
    echo "License: GPL-2.0-only"
    echo "Section: net"
    echo "SourceDateEpoch: $epoch"
    echo "Maintainer: $maintainer"
    echo "Architecture: $arch"
    echo "Installed-Size: $installed_size"
    echo "Description: wgcluster daemon: several OpenWrt routers as one WireGuard service."
    echo " Routers elect a panel (Raft leader), each programs its own WireGuard"
    echo " interfaces, peers migrate make-before-break when a router fails, and a"
    echo " cluster endpoint name is kept in DNS. HTTP API, ubus (rpcd) and LuCI app."
    echo " Needs kmod-wireguard, or wireguard-go with wg_backend 'userspace'."
} > "$c/control"
echo "/etc/config/wgcluster" > "$c/conffiles"

cat > "$c/postinst" <<'EOF'
#!/bin/sh
# wgcluster postinst: first-install defaults, enable + (re)start the procd service,
# and make rpcd publish the "wgcluster" ubus object.
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -n "${IPKG_INSTROOT}" ]; then
	# image build (opkg -o ROOT): enable only; uci-defaults run at first boot
	IPKG_INSTROOT="${IPKG_INSTROOT}" /bin/sh "${IPKG_INSTROOT}/etc/rc.common" \
		"${IPKG_INSTROOT}/etc/init.d/wgcluster" enable
	exit 0
fi
if [ -f /etc/uci-defaults/90-wgcluster ]; then
	( cd /etc/uci-defaults && . ./90-wgcluster ) && rm -f /etc/uci-defaults/90-wgcluster
fi
/etc/init.d/wgcluster enable
/etc/init.d/wgcluster restart
# rpcd scans /usr/libexec/rpcd only at start; reload re-executes it
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
rm -f /tmp/luci-indexcache* 2>/dev/null
exit 0
EOF
cat > "$c/prerm" <<'EOF'
#!/bin/sh
# wgcluster prerm: stop the procd service (and disable it unless this is an upgrade).
[ -n "${IPKG_INSTROOT}" ] && exit 0
[ -x /etc/init.d/wgcluster ] || exit 0
/etc/init.d/wgcluster stop || true
[ "${PKG_UPGRADE}" = "1" ] || /etc/init.d/wgcluster disable || true
exit 0
EOF
cat > "$c/postrm" <<'EOF'
#!/bin/sh
# wgcluster postrm: drop the ubus object of the removed rpcd plugin.
[ -n "${IPKG_INSTROOT}" ] && exit 0
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
exit 0
EOF
chmod 0644 "$c/control" "$c/conffiles"
chmod 0755 "$c/postinst" "$c/prerm" "$c/postrm"
for s in postinst prerm postrm; do sh -n "$c/$s" || die "syntax error in generated $s"; done

tarc "$c" . | gzip -n -9 > "$work/control.tar.gz"

# --- outer container: gzip'd tar, member order as ipkg-build writes it
echo "2.0" > "$work/debian-binary"
chmod 0644 "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"
ipk="$outdir/wgcluster_${pkgver}_${arch}.ipk"
tar -C "$work" --format=gnu --numeric-owner --owner=0 --group=0 --mtime="@$epoch" \
    -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n -9 > "$ipk.tmp"
mv -f "$ipk.tmp" "$ipk"

echo "$ipk"
echo "ipk.sh: $(basename "$ipk"): $(stat -c %s "$ipk") bytes (binary $(stat -c %s "$bin"), installed $installed_size)" >&2
