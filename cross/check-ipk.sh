#!/usr/bin/env bash
# cross/check-ipk.sh IPK
#
# Unpacks a wgcluster .ipk and checks that OpenWrt's opkg (opkg-lede, 24.10)
# can install it and that it holds what the package must hold:
#   - outer container: gzip'd tar with debian-binary ("2.0"), control.tar.gz, data.tar.gz
#   - every tar in GNU/ustar format (no pax headers), every member owned by 0:0
#   - control: Package, Version, Architecture, Maintainer, Description,
#     Installed-Size (a number), Depends; conffiles lists /etc/config/wgcluster;
#     postinst/prerm are executable shell scripts using /etc/init.d/wgcluster
#   - data: /usr/sbin/wgclusterd (executable ELF matching Architecture),
#     /etc/init.d/wgcluster (procd), /etc/config/wgcluster (config daemon 'main'),
#     /usr/libexec/rpcd/wgcluster (exec plugin), /etc/uci-defaults/90-wgcluster
#
# Exit status: 0 all checks pass, 1 a check failed (each failure is printed),
# 2 usage error. Prints "N passed, N failed" as its last line.
set -uo pipefail

[ "$#" -eq 1 ] || { echo "usage: $0 IPK" >&2; exit 2; }
ipk="$1"
[ -f "$ipk" ] || { echo "check-ipk.sh: no such file: $ipk" >&2; exit 2; }

pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok    $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { local msg="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$msg"; else bad "$msg"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-check-ipk.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---- outer container --------------------------------------------------------
magic="$(od -An -tx1 -N2 "$ipk" | tr -d ' \n')"
if [ "$magic" = 1f8b ]; then
    ok "outer container is gzip-compressed (what opkg-lede reads)"
else
    bad "outer container is not gzip (magic $magic; an ar-format .ipk is not readable by OpenWrt's opkg)"
    finish
fi
mkdir -p "$work/outer"
if ! tar -C "$work/outer" -xzf "$ipk"; then
    bad "outer tar extracts"
    finish
fi
members="$(tar -tzf "$ipk" | sed 's#^\./##' | sort | tr '\n' ' ')"
if [ "$members" = "control.tar.gz data.tar.gz debian-binary " ]; then
    ok "outer members: debian-binary control.tar.gz data.tar.gz"
else
    bad "outer members are '$members' (want debian-binary control.tar.gz data.tar.gz)"
fi
check "debian-binary is \"2.0\"" test "$(cat "$work/outer/debian-binary" 2>/dev/null)" = "2.0"

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
        # without python: GNU tar -tv shows no pax headers either, so look at the raw magic
        gzip -dc "$1" | head -c 512 | od -An -c -j257 -N5 | tr -d ' \n' | grep -q '^ustar'
    fi
}
owners_root() { # FILE.tar.gz
    ! tar -tvzf "$1" --numeric-owner | awk '{print $2}' | grep -qv '^0/0$'
}
check "outer tar: GNU/ustar format, no pax headers" tar_format_ok "$ipk"

for part in control data; do
    f="$work/outer/$part.tar.gz"
    if [ ! -f "$f" ]; then bad "$part.tar.gz present"; continue; fi
    mkdir -p "$work/$part"
    if tar -C "$work/$part" -xzf "$f"; then ok "$part.tar.gz extracts"; else bad "$part.tar.gz extracts"; continue; fi
    check "$part.tar.gz: GNU/ustar format, no pax headers" tar_format_ok "$f"
    check "$part.tar.gz: every member owned by root (0/0)" owners_root "$f"
done

# ---- control ----------------------------------------------------------------
ctl="$work/control/control"
field() { sed -n "s/^$1:[[:space:]]*//p" "$ctl" | head -n1; }
if [ -f "$ctl" ]; then
    ok "control file present"
    for k in Package Version Architecture Maintainer Description Installed-Size Depends; do
        v="$(field "$k")"
        if [ -n "$v" ]; then ok "control: $k: $v"; else bad "control: $k missing or empty"; fi
    done
    check "control: Package is wgcluster" test "$(field Package)" = wgcluster
    check "control: Installed-Size is a number" grep -Eq '^Installed-Size: [0-9]+$' "$ctl"
    check "control: Depends names kmod-wireguard" grep -Eq '^Depends:.*kmod-wireguard' "$ctl"
    check "control: Depends names ca-bundle (Cloudflare's certificate is verified)" grep -Eq '^Depends:.*ca-bundle' "$ctl"
    check "control: Version looks like X.Y.Z-R" grep -Eq '^Version: [0-9]+\.[0-9]+\.[0-9]+([.~+a-z0-9]*)?-[0-9]+$' "$ctl"
    check "control: every line is 'Field: value' or a continuation" \
        bash -c '! grep -Ev "^([A-Za-z][A-Za-z0-9-]*: .*| .+)$" "$1"' _ "$ctl"
    wsver="$(sed -n '/^\[workspace\.package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' \
        "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml" 2>/dev/null | head -n1)"
    if [ -n "$wsver" ]; then
        check "control: Version starts with the workspace version $wsver" \
            bash -c '[[ "$1" == "$2"-* ]]' _ "$(field Version)" "$wsver"
    fi
else
    bad "control file present"
fi
check "conffiles lists /etc/config/wgcluster" grep -qx /etc/config/wgcluster "$work/control/conffiles"
for s in postinst prerm; do
    f="$work/control/$s"
    check "control: $s is executable" test -x "$f"
    check "control: $s is valid sh" sh -n "$f"
    check "control: $s uses /etc/init.d/wgcluster" grep -q '/etc/init.d/wgcluster' "$f"
done

# ---- data -------------------------------------------------------------------
d="$work/data"
bin="$d/usr/sbin/wgclusterd"
check "data: /usr/sbin/wgclusterd is an executable file" test -f "$bin" -a -x "$bin"
check "data: /usr/sbin/wgclusterd is ELF" test "$(od -An -tx1 -N4 "$bin" 2>/dev/null | tr -d ' \n')" = 7f454c46
if [ -f "$bin" ] && [ -f "$ctl" ]; then
    a="$(field Architecture)"
    read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
    data="$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')"
    if [ "$data" = 2 ]; then mach=$((b0 * 256 + b1)); else mach=$((b1 * 256 + b0)); fi
    case "$mach" in 183) want='aarch64*';; 62) want='x86_64*';; 40) want='arm_*';; 8) want='mips*';; *) want='*';; esac
    # shellcheck disable=SC2053
    check "data: binary (ELF machine $mach) matches Architecture $a" bash -c '[[ "$1" == $2 ]]' _ "$a" "$want"
fi

init="$d/etc/init.d/wgcluster"
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

cfg="$d/etc/config/wgcluster"
check "data: /etc/config/wgcluster present" test -f "$cfg"
check "config: has config daemon 'main'" grep -Eq "^config daemon '?main'?$" "$cfg"
check "config: auto_init '1'" grep -Eq "^[[:space:]]*option auto_init '?1'?$" "$cfg"
check "config: data_dir set" grep -Eq "^[[:space:]]*option data_dir '?/[^']*'?$" "$cfg"

rpcd="$d/usr/libexec/rpcd/wgcluster"
check "data: /usr/libexec/rpcd/wgcluster is executable" test -x "$rpcd"
check "rpcd: execs wgclusterd rpcd \"\$@\"" grep -Eq '^exec /usr/sbin/wgclusterd rpcd "\$@"' "$rpcd"
check "rpcd: valid sh" sh -n "$rpcd"

ucid="$d/etc/uci-defaults/90-wgcluster"
check "data: /etc/uci-defaults/90-wgcluster present" test -f "$ucid"
check "uci-defaults: sets wgcluster.main.node_id" grep -q 'wgcluster.main.node_id' "$ucid"
check "uci-defaults: valid sh" sh -n "$ucid"

if [ -f "$ctl" ] && [ -d "$d" ]; then
    real="$(tar -cf - -C "$d" . --format=gnu --owner=0 --group=0 | wc -c)"
    check "control: Installed-Size ($(field Installed-Size)) is near the data size ($real)" \
        bash -c 'a=$1; b=$2; [ $((a > b ? a - b : b - a)) -lt 65536 ]' _ "$(field Installed-Size)" "$real"
fi

echo "ipk: $ipk ($(stat -c %s "$ipk") bytes)"
finish
