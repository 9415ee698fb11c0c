#!/usr/bin/env bash
# cross/check-ipk.sh IPK...            check packages
# cross/check-ipk.sh --feed DIR        check every .ipk in DIR and its Packages / Packages.gz index
#
# Unpacks wgcluster .ipk packages and checks that OpenWrt's opkg (opkg-lede, 24.10) can install
# them and that they hold what each package must hold:
#   - outer container: gzip'd tar with debian-binary ("2.0"), control.tar.gz, data.tar.gz
#   - every tar in GNU/ustar format (no pax headers), every member owned by 0:0
#   - control: Package, Version, Architecture, Maintainer, Description, Installed-Size (a number)
#   - wgcluster / wgcluster-userspace: Depends kmod-wireguard / wireguard-go (and ca-bundle), the
#     userspace flavour Provides and Conflicts wgcluster; conffiles lists /etc/config/wgcluster;
#     postinst/prerm/postrm executable shell scripts; data: /usr/sbin/wgclusterd (executable ELF
#     matching Architecture), /etc/init.d/wgcluster (procd), /etc/config/wgcluster (0600, config
#     daemon 'main'), /usr/libexec/rpcd/wgcluster, /etc/uci-defaults/90-wgcluster, keep.d file
#   - luci-app-wgcluster: Architecture all, Depends luci-base, rpcd, wgcluster; the views, the
#     menu and the rpcd ACL
#   - luci-i18n-wgcluster-<lang>: Depends luci-app-wgcluster; /usr/lib/lua/luci/i18n/wgcluster.<lang>.lmo
#   - --feed: every .ipk has one Packages stanza whose Filename, Size and SHA256sum match, the
#     stanza's fields equal the package's control, and Packages.gz unpacks to Packages
#
# Exit status: 0 all checks pass, 1 a check failed (each failure is printed),
# 2 usage error. Prints "N passed, N failed" as its last line.
set -uo pipefail

usage() { echo "usage: $0 IPK... | $0 --feed DIR" >&2; exit 2; }
[ "$#" -ge 1 ] || usage
feed=""
if [ "$1" = --feed ]; then
    [ "$#" -eq 2 ] || usage
    feed="$2"
    [ -d "$feed" ] || { echo "check-ipk.sh: no such directory: $feed" >&2; exit 2; }
    shopt -s nullglob
    set -- "$feed"/*.ipk
    shopt -u nullglob
    [ "$#" -ge 1 ] || { echo "check-ipk.sh: no .ipk in $feed" >&2; exit 2; }
fi
for f in "$@"; do [ -f "$f" ] || { echo "check-ipk.sh: no such file: $f" >&2; exit 2; }; done

pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok    $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { local msg="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$msg"; else bad "$msg"; fi; }

top="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-check-ipk.XXXXXX")"
trap 'rm -rf "$top"' EXIT
wsver="$(sed -n '/^\[workspace\.package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' \
    "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml" 2>/dev/null | head -n1)"

# ---- tar format and ownership (python's tarfile sees pax headers; tar -tv does not)
tar_format_ok() { # FILE (a .tar.gz or .ipk)
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as t:
    bad = [m.name for m in t.getmembers() if m.pax_headers]
    types = {m.type for m in t.getmembers()}
    if bad or t.pax_headers:
        sys.exit("pax headers in %s: %s" % (sys.argv[1], bad[:5]))
    if types - {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE}:
        sys.exit("unexpected member types %r" % (types,))
PY
    else
        gzip -dc "$1" | head -c 512 | od -An -c -j257 -N5 | tr -d ' \n' | grep -q '^ustar'
    fi
}
owners_root() { # FILE.tar.gz
    ! tar -tvzf "$1" --numeric-owner | awk '{print $2}' | grep -qv '^0/0$'
}
mode_of() { # FILE.tar.gz MEMBER -> e.g. -rwxr-xr-x
    tar -tvzf "$1" --numeric-owner "./$2" 2>/dev/null | awk '{print $1}'
}

check_one() {
    local ipk="$1" work="$2"
    echo "== $(basename "$ipk")"
    local magic members
    magic="$(od -An -tx1 -N2 "$ipk" | tr -d ' \n')"
    if [ "$magic" = 1f8b ]; then
        ok "outer container is gzip-compressed (what opkg-lede reads)"
    else
        bad "outer container is not gzip (magic $magic; an ar-format .ipk is not readable by OpenWrt's opkg)"
        return
    fi
    mkdir -p "$work/outer"
    if ! tar -C "$work/outer" -xzf "$ipk"; then bad "outer tar extracts"; return; fi
    members="$(tar -tzf "$ipk" | sed 's#^\./##' | sort | tr '\n' ' ')"
    if [ "$members" = "control.tar.gz data.tar.gz debian-binary " ]; then
        ok "outer members: debian-binary control.tar.gz data.tar.gz"
    else
        bad "outer members are '$members' (want debian-binary control.tar.gz data.tar.gz)"
    fi
    check "debian-binary is \"2.0\"" test "$(cat "$work/outer/debian-binary" 2>/dev/null)" = "2.0"
    check "outer tar: GNU/ustar format, no pax headers" tar_format_ok "$ipk"

    local part f
    for part in control data; do
        f="$work/outer/$part.tar.gz"
        if [ ! -f "$f" ]; then bad "$part.tar.gz present"; continue; fi
        mkdir -p "$work/$part"
        if tar -C "$work/$part" -xzf "$f"; then ok "$part.tar.gz extracts"; else bad "$part.tar.gz extracts"; continue; fi
        check "$part.tar.gz: GNU/ustar format, no pax headers" tar_format_ok "$f"
        check "$part.tar.gz: every member owned by root (0/0)" owners_root "$f"
    done

    # ---- control ----------------------------------------------------------------
    local ctl="$work/control/control" k v pkg arch
    field() { sed -n "s/^$1:[[:space:]]*//p" "$ctl" | head -n1; }
    if [ ! -f "$ctl" ]; then bad "control file present"; return; fi
    ok "control file present"
    for k in Package Version Architecture Maintainer Description Installed-Size; do
        v="$(field "$k")"
        if [ -n "$v" ]; then ok "control: $k: $v"; else bad "control: $k missing or empty"; fi
    done
    pkg="$(field Package)"; arch="$(field Architecture)"
    check "control: Installed-Size is a number" grep -Eq '^Installed-Size: [0-9]+$' "$ctl"
    check "control: Version looks like X.Y.Z-R" grep -Eq '^Version: [0-9]+\.[0-9]+\.[0-9]+([.~+a-z0-9]*)?-[0-9]+$' "$ctl"
    check "control: every line is 'Field: value' or a continuation" \
        bash -c '! grep -Ev "^([A-Za-z][A-Za-z0-9-]*: .*| .+)$" "$1"' _ "$ctl"
    check "file name is <Package>_<Version>_<Architecture>.ipk" \
        test "$(basename "$ipk")" = "${pkg}_$(field Version)_${arch}.ipk"
    if [ -n "$wsver" ] && [ -z "${WGC_PKG_VERSION:-}" ]; then
        check "control: Version starts with the workspace version $wsver" \
            bash -c '[[ "$1" == "$2"-* ]]' _ "$(field Version)" "$wsver"
    fi
    local real
    real="$(tar -cf - -C "$work/data" . --format=gnu --owner=0 --group=0 | wc -c)"
    check "control: Installed-Size ($(field Installed-Size)) is near the data size ($real)" \
        bash -c 'a=$1; b=$2; [ $((a > b ? a - b : b - a)) -lt 65536 ]' _ "$(field Installed-Size)" "$real"
    local s
    for s in postinst prerm postrm; do
        [ -f "$work/control/$s" ] || continue
        check "control: $s is executable" test -x "$work/control/$s"
        check "control: $s is valid sh" sh -n "$work/control/$s"
        check "control: $s does nothing on the running system in an offline root (IPKG_INSTROOT)" \
            grep -q 'IPKG_INSTROOT' "$work/control/$s"
    done

    local d="$work/data" data_tgz="$work/outer/data.tar.gz"
    case "$pkg" in
    wgcluster|wgcluster-userspace)
        if [ "$pkg" = wgcluster ]; then
            check "control: Depends names kmod-wireguard (kernel flavour)" grep -Eq '^Depends:.*\bkmod-wireguard\b' "$ctl"
            check "control: Depends does not name wireguard-go" bash -c '! grep -Eq "^Depends:.*wireguard-go" "$1"' _ "$ctl"
            check "control: Conflicts wgcluster-userspace" grep -Eq '^Conflicts:.*\bwgcluster-userspace\b' "$ctl"
        else
            check "control: Depends names wireguard-go (userspace flavour)" grep -Eq '^Depends:.*\bwireguard-go\b' "$ctl"
            check "control: Depends does not name kmod-wireguard" bash -c '! grep -Eq "^Depends:.*kmod-wireguard" "$1"' _ "$ctl"
            check "control: Provides wgcluster" grep -Eq '^Provides:.*\bwgcluster\b' "$ctl"
            check "control: Conflicts wgcluster" grep -Eq '^Conflicts:( |.*, )wgcluster(,|$)' "$ctl"
        fi
        check "control: Depends names ca-bundle (Cloudflare's certificate is verified)" grep -Eq '^Depends:.*ca-bundle' "$ctl"
        check "conffiles lists /etc/config/wgcluster" grep -qx /etc/config/wgcluster "$work/control/conffiles"
        for s in postinst prerm postrm; do
            check "control: $s present" test -x "$work/control/$s"
        done
        check "postinst: enables and starts on first install, never 'restart's a stopped service" \
            bash -c 'grep -q "\"\$init\" enable" "$1" && grep -q "\"\$init\" start" "$1" && ! grep -Eq "^[[:space:]]*\"\\\$init\" (stop|restart)\$" <(sed -n "/^if running; then/,+1!p" "$1")' _ "$work/control/postinst"
        check "postinst: reloads rpcd" grep -q '/etc/init.d/rpcd reload' "$work/control/postinst"
        check "prerm: stops and disables the service" bash -c 'grep -q "\"\$init\" stop" "$1" && grep -q "\"\$init\" disable" "$1"' _ "$work/control/prerm"

        local bin="$d/usr/sbin/wgclusterd" b0 b1 data mach want
        check "data: /usr/sbin/wgclusterd is an executable file" test -f "$bin" -a -x "$bin"
        check "data: /usr/sbin/wgclusterd is ELF" test "$(od -An -tx1 -N4 "$bin" 2>/dev/null | tr -d ' \n')" = 7f454c46
        if [ -f "$bin" ]; then
            read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
            data="$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')"
            if [ "$data" = 2 ]; then mach=$((b0 * 256 + b1)); else mach=$((b1 * 256 + b0)); fi
            case "$mach" in 183) want='aarch64*';; 62) want='x86_64*';; 40) want='arm_*';; 8) want='mips*';; *) want='*';; esac
            # shellcheck disable=SC2053
            check "data: binary (ELF machine $mach) matches Architecture $arch" bash -c '[[ "$1" == $2 ]]' _ "$arch" "$want"
        fi
        check "data: modes: wgclusterd 0755, init 0755, config 0600, rpcd plugin 0755, uci-defaults 0755, keep 0644" \
            test "$(mode_of "$data_tgz" usr/sbin/wgclusterd) $(mode_of "$data_tgz" etc/init.d/wgcluster) $(mode_of "$data_tgz" etc/config/wgcluster) $(mode_of "$data_tgz" usr/libexec/rpcd/wgcluster) $(mode_of "$data_tgz" etc/uci-defaults/90-wgcluster) $(mode_of "$data_tgz" lib/upgrade/keep.d/wgcluster)" \
            = "-rwxr-xr-x -rwxr-xr-x -rw------- -rwxr-xr-x -rwxr-xr-x -rw-r--r--"

        local init="$d/etc/init.d/wgcluster"
        check "data: /etc/init.d/wgcluster is executable" test -x "$init"
        check "init: rc.common shebang" grep -qx '#!/bin/sh /etc/rc.common' "$init"
        check "init: USE_PROCD=1" grep -qx 'USE_PROCD=1' "$init"
        check "init: START=95" grep -qx 'START=95' "$init"
        check "init: runs wgclusterd run --config /etc/config/wgcluster" \
            grep -Eq 'procd_set_param command .*wgclusterd.* run --config .*/etc/config/wgcluster|procd_set_param command "\$PROG" run --config "\$CONFIG"' "$init"
        check "init: respawn" grep -q 'procd_set_param respawn' "$init"
        check "init: reload trigger on the wgcluster config" grep -q 'procd_add_reload_trigger wgcluster' "$init"
        check "init: reload_service sends SIGHUP" grep -Eq 'procd_send_signal wgcluster|kill -HUP' "$init"
        check "init: valid sh" sh -n "$init"

        local cfg="$d/etc/config/wgcluster"
        check "data: /etc/config/wgcluster present" test -f "$cfg"
        check "config: has config daemon 'main'" grep -Eq "^config daemon '?main'?$" "$cfg"
        check "config: auto_init '1'" grep -Eq "^[[:space:]]*option auto_init '?1'?$" "$cfg"
        check "config: data_dir set" grep -Eq "^[[:space:]]*option data_dir '?/[^']*'?$" "$cfg"

        local rpcd="$d/usr/libexec/rpcd/wgcluster"
        check "data: /usr/libexec/rpcd/wgcluster is executable" test -x "$rpcd"
        check "rpcd: execs wgclusterd rpcd \"\$@\"" grep -Eq '^exec /usr/sbin/wgclusterd rpcd "\$@"' "$rpcd"
        check "rpcd: valid sh" sh -n "$rpcd"

        local ucid="$d/etc/uci-defaults/90-wgcluster"
        check "data: /etc/uci-defaults/90-wgcluster present" test -f "$ucid"
        check "uci-defaults: sets wgcluster.main.node_id" grep -q 'wgcluster.main.node_id' "$ucid"
        check "uci-defaults: valid sh" sh -n "$ucid"
        check "keep.d: sysupgrade keeps /etc/wgcluster/ and /etc/config/wgcluster" \
            bash -c 'grep -qx /etc/wgcluster/ "$1" && grep -qx /etc/config/wgcluster "$1"' _ "$d/lib/upgrade/keep.d/wgcluster"
        ;;
    luci-app-wgcluster)
        check "control: Architecture all" test "$arch" = all
        check "control: Depends luci-base, rpcd, wgcluster" \
            bash -c 'for p in luci-base rpcd wgcluster; do grep -Eq "^Depends:(.*[ ,])?$p(,|$)" "$1" || exit 1; done' _ "$ctl"
        check "control: postinst and postrm present" test -x "$work/control/postinst" -a -x "$work/control/postrm"
        check "postinst: reloads rpcd (for the ACL)" grep -q '/etc/init.d/rpcd reload' "$work/control/postinst"
        local v
        for v in status routers configs peers dns audit backups settings; do
            check "data: view $v.js (0644)" test "$(mode_of "$data_tgz" "www/luci-static/resources/view/wgcluster/$v.js")" = "-rw-r--r--"
        done
        check "data: wgcluster/common.js (0644)" test "$(mode_of "$data_tgz" "www/luci-static/resources/wgcluster/common.js")" = "-rw-r--r--"
        check "data: menu /usr/share/luci/menu.d/luci-app-wgcluster.json is JSON" \
            python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/usr/share/luci/menu.d/luci-app-wgcluster.json"
        check "data: ACL /usr/share/rpcd/acl.d/luci-app-wgcluster.json is JSON" \
            python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/usr/share/rpcd/acl.d/luci-app-wgcluster.json"
        ;;
    luci-i18n-wgcluster-*)
        local lang="${pkg#luci-i18n-wgcluster-}"
        check "control: Architecture all" test "$arch" = all
        check "control: Depends luci-app-wgcluster" grep -Eq '^Depends:.*luci-app-wgcluster' "$ctl"
        check "data: /usr/lib/lua/luci/i18n/wgcluster.$lang.lmo present and not empty" \
            test -s "$d/usr/lib/lua/luci/i18n/wgcluster.$lang.lmo"
        ;;
    *)
        bad "unknown package $pkg"
        ;;
    esac
    echo "ipk: $ipk ($(stat -c %s "$ipk") bytes)"
}

n=0
for ipk in "$@"; do
    n=$((n + 1))
    mkdir -p "$top/$n"
    check_one "$ipk" "$top/$n"
done

# ---- the feed index ---------------------------------------------------------
if [ -n "$feed" ]; then
    echo "== $feed/Packages"
    check "Packages present" test -f "$feed/Packages"
    check "Packages.gz unpacks to Packages" bash -c 'gzip -dc "$1/Packages.gz" | cmp -s - "$1/Packages"' _ "$feed"
    check "Packages has one stanza per .ipk ($#)" test "$(grep -c '^Package: ' "$feed/Packages" 2>/dev/null)" = "$#"
    for ipk in "$@"; do
        b="$(basename "$ipk")"
        st="$top/stanza"
        awk -v f="$b" 'BEGIN{RS=""; ORS="\n"} $0 ~ "(^|\n)Filename: " f "(\n|$)" {print}' "$feed/Packages" > "$st"
        if [ ! -s "$st" ]; then bad "Packages: stanza with Filename: $b"; continue; fi
        ok "Packages: stanza with Filename: $b"
        check "Packages: $b Size matches" grep -qx "Size: $(stat -c %s "$ipk")" "$st"
        check "Packages: $b SHA256sum matches" grep -qx "SHA256sum: $(sha256sum "$ipk" | cut -d' ' -f1)" "$st"
        mkdir -p "$top/c"
        tar -xzf "$ipk" -C "$top/c" ./control.tar.gz && tar -xzf "$top/c/control.tar.gz" -C "$top/c" ./control
        check "Packages: $b has the control file's fields" \
            bash -c 'diff <(sort "$1") <(grep -Ev "^(Filename|Size|SHA256sum): " "$2" | sort)' _ "$top/c/control" "$st"
    done
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
