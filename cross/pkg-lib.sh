# cross/pkg-lib.sh — shared by ipk.sh, apk.sh and luci-pkg.sh (sourced, not run).
#
# What the SDK-less packages hold, in one place: the version, the two daemon flavours and their
# dependencies, the staged file trees (the same files the SDK Makefiles install), and the
# maintainer scripts from openwrt/wgcluster/files and luci-app/luci-app-wgcluster/pkg.
#
# Flavours of the daemon package (same binary, same files, different dependency):
#   wgcluster            Depends kmod-wireguard (the kernel's WireGuard; what OpenWrt routers run)
#   wgcluster-userspace  Depends wireguard-go; Provides wgcluster and conflicts with it, so
#                        luci-app-wgcluster (Depends wgcluster) installs on top of either.
# Both depend on ca-bundle (the Cloudflare provider verifies api.cloudflare.com).

pkg_die() { echo "${0##*/}: error: $*" >&2; exit 1; }

pkg_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg_repo="$(cd "$pkg_here/.." && pwd)"
pkg_files="$pkg_repo/openwrt/wgcluster/files"
# WGC_LUCI_DIR: another luci-app-wgcluster tree (the tests add a translation to a copy)
pkg_luci="${WGC_LUCI_DIR:-$pkg_repo/luci-app/luci-app-wgcluster}"

PKG_MAINTAINER="${PKG_MAINTAINER:-wgcluster developers}"
PKG_LICENSE="GPL-2.0-only"
PKG_URL="${PKG_URL:-https://github.com/wgcluster/wgcluster}"

# pkg_version: [workspace.package] version of Cargo.toml (WGC_PKG_VERSION overrides it, e.g. for
# the upgrade test); PKG_RELEASE (default 1) is the package release.
pkg_version() {
    if [ -n "${WGC_PKG_VERSION:-}" ]; then echo "$WGC_PKG_VERSION"; return; fi
    local v
    v="$(sed -n '/^\[workspace\.package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' \
        "$pkg_repo/Cargo.toml" | head -n1)"
    [ -n "$v" ] || pkg_die "cannot read [workspace.package] version from $pkg_repo/Cargo.toml"
    echo "$v"
}
pkg_release() {
    local r="${PKG_RELEASE:-1}"
    [[ "$r" =~ ^[0-9]+$ ]] || pkg_die "PKG_RELEASE must be a number, not '$r'"
    echo "$r"
}
# fixed timestamp of every packaged file, for reproducible output
pkg_epoch() { echo "${SOURCE_DATE_EPOCH:-$(stat -c %Y "$pkg_repo/Cargo.toml")}"; }

# flavour NAME -> package name / dependencies
pkg_flavour_name() {
    case "$1" in
        kernel) echo wgcluster ;;
        userspace) echo wgcluster-userspace ;;
        *) pkg_die "unknown flavour '$1' (kernel or userspace)" ;;
    esac
}
pkg_flavour_depends() { # space separated
    case "$1" in
        kernel) echo "kmod-wireguard ca-bundle" ;;
        userspace) echo "wireguard-go ca-bundle" ;;
        *) pkg_die "unknown flavour '$1'" ;;
    esac
}
pkg_flavour_other() { case "$1" in kernel) echo wgcluster-userspace ;; *) echo wgcluster ;; esac; }

pkg_description() {
    case "$1" in
        kernel) echo "wgcluster daemon: several OpenWrt routers as one WireGuard service (kernel WireGuard)." ;;
        userspace) echo "wgcluster daemon: several OpenWrt routers as one WireGuard service (wireguard-go, for routers without kmod-wireguard)." ;;
        luci) echo "LuCI support for wgcluster: status, configurations, peers, DNS, audit log and daemon settings." ;;
        i18n) echo "Translation of luci-app-wgcluster: $2" ;;
    esac
}

# pkg_check_arch ARCH BINARY: the binary's ELF machine must match the OpenWrt arch name
pkg_check_arch() {
    local arch="$1" bin="$2" magic data b0 b1 m want
    [[ "$arch" =~ ^[a-z0-9_.+-]+$ ]] || pkg_die "bad ARCH '$arch' (expected e.g. aarch64_cortex-a53, x86_64)"
    [ -f "$bin" ] || pkg_die "binary not found: $bin"
    magic="$(od -An -tx1 -N4 "$bin" | tr -d ' \n')"
    [ "$magic" = 7f454c46 ] || pkg_die "$bin is not an ELF executable"
    data="$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')"
    read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
    if [ "$data" = 2 ]; then m=$((b0 * 256 + b1)); else m=$((b1 * 256 + b0)); fi
    case "$m" in
        183) want='aarch64*' ;;
        62)  want='x86_64*' ;;
        40)  want='arm_*' ;;
        8)   if [ "$data" = 1 ]; then want='mipsel*'; else want='mips_*'; fi ;;  # EI_DATA: 1 little, 2 big endian
        3)   want='i386*' ;;
        *)   want='*' ;;
    esac
    # shellcheck disable=SC2053
    [[ "$arch" == $want ]] || pkg_die "ARCH '$arch' does not match the binary $bin (ELF machine $m wants $want)"
}

# pkg_stage_daemon DIR BINARY: the installed tree of wgcluster / wgcluster-userspace
pkg_stage_daemon() {
    local d="$1" bin="$2" f
    for f in wgcluster.init wgcluster.config wgcluster.rpcd wgcluster.uci-defaults wgcluster.keep; do
        [ -f "$pkg_files/$f" ] || pkg_die "missing package file $pkg_files/$f"
    done
    install -d -m 0755 "$d/usr/sbin" "$d/etc/init.d" "$d/etc/config" "$d/usr/libexec/rpcd" \
        "$d/etc/uci-defaults" "$d/lib/upgrade/keep.d"
    install -m 0755 "$bin"                              "$d/usr/sbin/wgclusterd"
    install -m 0755 "$pkg_files/wgcluster.init"         "$d/etc/init.d/wgcluster"
    install -m 0600 "$pkg_files/wgcluster.config"       "$d/etc/config/wgcluster"
    install -m 0755 "$pkg_files/wgcluster.rpcd"         "$d/usr/libexec/rpcd/wgcluster"
    install -m 0755 "$pkg_files/wgcluster.uci-defaults" "$d/etc/uci-defaults/90-wgcluster"
    install -m 0644 "$pkg_files/wgcluster.keep"         "$d/lib/upgrade/keep.d/wgcluster"
}

# pkg_stage_luci DIR: the installed tree of luci-app-wgcluster (what luci.mk installs)
pkg_stage_luci() {
    local d="$1"
    [ -d "$pkg_luci/htdocs" ] || pkg_die "missing $pkg_luci/htdocs"
    install -d -m 0755 "$d/www"
    cp -R "$pkg_luci/htdocs/." "$d/www/"
    if [ -d "$pkg_luci/root" ]; then cp -R "$pkg_luci/root/." "$d/"; fi
    find "$d" -type d -exec chmod 0755 {} +
    find "$d" -type f -exec chmod 0644 {} +
}

# pkg_langs: languages with a translation, po/<lang>/wgcluster.po (templates/ is not one)
pkg_langs() {
    local p
    for p in "$pkg_luci"/po/*/wgcluster.po; do
        [ -f "$p" ] || continue
        p="${p%/wgcluster.po}"
        echo "${p##*/}"
    done
}

# pkg_stage_i18n DIR LANG: /usr/lib/lua/luci/i18n/wgcluster.LANG.lmo compiled by cross/po2lmo.py
pkg_stage_i18n() {
    local d="$1" lang="$2"
    command -v python3 >/dev/null 2>&1 || pkg_die "python3 is required for po2lmo: run tests/scripts/prereqs.sh"
    install -d -m 0755 "$d/usr/lib/lua/luci/i18n"
    python3 "$pkg_here/po2lmo.py" "$pkg_luci/po/$lang/wgcluster.po" \
        "$d/usr/lib/lua/luci/i18n/wgcluster.$lang.lmo" || pkg_die "po2lmo failed for $lang"
    chmod 0644 "$d/usr/lib/lua/luci/i18n/wgcluster.$lang.lmo"
}

# pkg_scripts KIND DIR: writes postinst, prerm, postrm (the ones KIND has) into DIR, mode 0755
pkg_scripts() {
    local kind="$1" d="$2"
    mkdir -p "$d"
    case "$kind" in
        daemon)
            cp "$pkg_files/wgcluster.postinst" "$d/postinst"
            cp "$pkg_files/wgcluster.prerm" "$d/prerm"
            cp "$pkg_files/wgcluster.postrm" "$d/postrm"
            ;;
        luci)
            cp "$pkg_luci/pkg/luci-app.postinst" "$d/postinst"
            cp "$pkg_luci/pkg/luci-app.postinst" "$d/postrm"
            ;;
        i18n) ;;
        *) pkg_die "unknown script kind $kind" ;;
    esac
    local s
    for s in "$d"/*; do
        [ -f "$s" ] || continue
        sh -n "$s" || pkg_die "syntax error in $s"
        chmod 0755 "$s"
    done
}

# pkg_touch DIR: every file and directory gets the fixed timestamp
pkg_touch() { find "$1" -exec touch -h -d "@$(pkg_epoch)" {} +; }
