#!/usr/bin/env bash
# tests/packaging/run.sh [ARCH BINARY]...
#
# The package tests: builds wgcluster (kernel flavour), wgcluster-userspace, luci-app-wgcluster and
# a luci-i18n-wgcluster-de (from a test translation) as apk v3 and ipk for each ARCH from BINARY,
# makes a feed per ARCH, and then, with the real apk-tools 3.0.5 (cross/apk-tools.sh):
#   - reads the feed's index back with apk and installs FROM THE FEED into empty roots
#     (`apk add --root R --initdb`), the dependencies resolved for real against test-only stub
#     packages (tests/packaging/stubs.sh: kmod-wireguard, wireguard-go, ca-bundle, luci-base,
#     rpcd, and a base with /bin/sh so the install scripts run inside the root);
#   - asserts files, modes, scripts (adbdump), dependencies per flavour, the rc.d links, that the
#     uci-defaults script waits for the first boot in an offline root and that nothing outside
#     the root is touched (also in the ImageBuilder mode: --no-scripts, then the post-install
#     scripts run on the host with IPKG_INSTROOT);
#   - upgrades to version+1 from the feed (a changed /etc/config/wgcluster is kept), and removes;
#   - on a simulated running router (ubus socket, logging rc.common/ubus/uci stubs): first install
#     enables and starts quietly, upgrade restarts, an admin's disable survives an upgrade,
#     removal stops and disables, rpcd is reloaded;
#   - the two flavours conflict; luci-app installs on either;
#   - a signed index is trusted with the public key and refused without it;
#   - the .lmo of the translation answers LuCI's own cbi.js _() lookup (node);
#   - ipk: cross/check-ipk.sh --feed (every .ipk + the Packages index), and the ipk scripts in an
#     offline root (IPKG_INSTROOT).
# Without arguments it uses the x86_64 and aarch64 musl binaries under target/cross/ or
# $CARGO_TARGET_DIR. Run as root. Prints "N passed, N failed" last; exits 1 on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cross="$repo/cross"
t_start=$(date +%s)

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { local msg="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$msg"; else bad "$msg"; fi; }
die() { echo "packaging tests: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apk --root chroots into the test roots to run the install scripts)"
for t in python3 node openssl gzip tar sha256sum; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t: run tests/scripts/prereqs.sh"
done
[ -x /bin/busybox ] || die "missing /bin/busybox (busybox-static): run tests/scripts/prereqs.sh"
cbi="${LUCI_CBI_JS:-$repo/third_party/luci-25.12/cbi.js}"
[ -f "$cbi" ] || die "missing LuCI's cbi.js at $cbi (third_party/luci-25.12)"

# ---- binaries ----------------------------------------------------------------------------------
if [ "$#" -eq 0 ]; then
    for triple_arch in x86_64-unknown-linux-musl:x86_64 aarch64-unknown-linux-musl:aarch64_cortex-a53; do
        triple="${triple_arch%%:*}"; a="${triple_arch##*:}"; found=""
        for dir in "${CARGO_TARGET_DIR:-}" "$repo/target/cross" "$repo/target-cross" "$repo/target"; do
            [ -n "$dir" ] && [ -f "$dir/$triple/release/wgclusterd" ] && { found="$dir/$triple/release/wgclusterd"; break; }
        done
        [ -n "$found" ] || die "no $triple build of wgclusterd (cross/build.sh), or pass ARCH BINARY pairs"
        set -- "$@" "$a" "$found"
    done
fi
[ $(($# % 2)) -eq 0 ] || die "usage: $0 [ARCH BINARY]..."

apk="$("$cross/apk-tools.sh")"
export APK="$apk"

work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-pkgtest.XXXXXX")"
cleanup() {
    if [ -n "${WGC_PKGTEST_KEEP:-}" ]; then echo "kept $work" >&2; return; fi
    # apk bind-mounts /proc and /dev into a root only inside its own mount namespace; never
    # recurse into a mount that leaked out all the same
    if grep -q " $work/" /proc/self/mounts; then
        echo "packaging tests: mounts left under $work, not removing it:" >&2
        grep " $work/" /proc/self/mounts >&2
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT
log="$work/log"; mkdir -p "$log"

version="$(sed -n '/^\[workspace\.package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' "$repo/Cargo.toml" | head -n1)"
[ -n "$version" ] || die "cannot read the version from Cargo.toml"
v2="${version%.*}.$(( ${version##*.} + 1 ))"   # version+1 (patch)
echo "packaging tests: version $version, upgrade to $v2; apk: $("$apk" --version | head -n1)"

# ---- a translation for the test: German machine-made from the template -------------------------
luci="$work/luci-app-wgcluster"
cp -R "$repo/luci-app/luci-app-wgcluster" "$luci"
mkdir -p "$luci/po/de"
python3 - "$luci/po/templates/wgcluster.pot" "$luci/po/de/wgcluster.po" <<'PY'
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
out = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"', '']
for m in re.finditer(r'^msgid "(.+)"\nmsgstr ""$', src, re.M):
    out += ['msgid "%s"' % m.group(1), 'msgstr "[de] %s"' % m.group(1), '']
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out))
PY
export WGC_LUCI_DIR="$luci"

# ---- build: packages v1 and v2, stubs, feeds ---------------------------------------------------
build() { # LOGNAME CMD... ; prints CMD's stdout (the package paths)
    local name="$1"; shift
    if ! "$@" 2>"$log/$name.err"; then cat "$log/$name.err" >&2; die "$name failed: $*"; fi
}
t0=$(date +%s)
mkdir -p "$work/noarch/v1" "$work/noarch/v2"
mapfile -t luci_v1 < <(build luci-apk "$cross/apk.sh" luci - - "$work/noarch/v1"; build luci-ipk "$cross/ipk.sh" luci - - "$work/noarch/v1")
mapfile -t luci_v2 < <(WGC_PKG_VERSION="$v2" build luci-apk2 "$cross/apk.sh" luci - - "$work/noarch/v2")
[ ${#luci_v1[@]} -eq 4 ] || die "expected 4 LuCI packages (apk+ipk of luci-app and luci-i18n-de), got: ${luci_v1[*]}"
archs=()
while [ "$#" -gt 0 ]; do
    a="$1"; bin="$2"; shift 2
    archs+=("$a")
    mkdir -p "$work/$a/v1" "$work/$a/v2"
    mapfile -t d1 < <(build "apk-$a" "$cross/apk.sh" daemon "$a" "$bin" "$work/$a/v1"; build "ipk-$a" "$cross/ipk.sh" daemon "$a" "$bin" "$work/$a/v1")
    mapfile -t d2 < <(WGC_PKG_VERSION="$v2" build "apk2-$a" "$cross/apk.sh" daemon "$a" "$bin" "$work/$a/v2")
    build "feed-$a" "$cross/feed.sh" "$work/feed/$a" "${d1[@]}" "${luci_v1[@]}" >/dev/null
    build "stubs-$a" "$here/stubs.sh" "$apk" "$a" "$work/stubs/$a" >/dev/null
    build "stubfeed-$a" "$cross/feed.sh" "$work/stubs/$a" >/dev/null
    # the v2 packages wait in their own feed; the upgrade adds them to the main one
    build "feed2-$a" "$cross/feed.sh" "$work/feed2/$a" "${d2[@]}" "${luci_v2[@]}" >/dev/null
    echo "built $a: $(for p in "${d1[@]}"; do printf '%s %s B; ' "$(basename "$p")" "$(stat -c %s "$p")"; done)"
    # a signed copy of the feed and the stubs (one EC key for both)
    if [ ! -f "$work/key.pem" ]; then
        openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
        mkdir -p "$work/keys" "$work/nokeys"
        openssl ec -in "$work/key.pem" -pubout -out "$work/keys/wgcluster-test.pem" 2>/dev/null
    fi
    APK_SIGN_KEY="$work/key.pem" build "sfeed-$a" "$cross/feed.sh" "$work/sfeed/$a" "${d1[@]}" "${luci_v1[@]}" >/dev/null
    mkdir -p "$work/sstubs/$a" && cp "$work/stubs/$a"/*.apk "$work/sstubs/$a/"
    APK_SIGN_KEY="$work/key.pem" build "sstubs-$a" "$cross/feed.sh" "$work/sstubs/$a" >/dev/null
done
echo "built everything in $(( $(date +%s) - t0 )) s"

# ---- helpers -----------------------------------------------------------------------------------
# apkr ROOT ARGS...: apk on a test root; output in $log/last
apkr() {
    local r="$1" rc=0; shift
    "$apk" --root "$r" --no-network --no-progress "$@" >"$log/last" 2>&1 || rc=$?
    { echo "### apk --root $r $* (exit $rc)"; cat "$log/last"; } >> "$log/apk.log"
    return "$rc"
}
# newroot ARCH ROOT: an empty root with only the test base (a router's /bin/sh)
newroot() {
    rm -rf "$2"
    apkr "$2" --initdb --allow-untrusted --arch "$1" -X "$work/stubs/$1/packages.adb" add test-stub-base ||
        { cat "$log/last"; die "cannot make the test root $2"; }
}
installed() { "$apk" --root "$1" --no-network info -e "$2" >/dev/null 2>&1; }
inst_version() { "$apk" --root "$1" --no-network list -I "$2" 2>/dev/null | awk -v n="$2" '$1 ~ "^"n"-[0-9]" {sub("^"n"-", "", $1); print $1}'; }
mode() { stat -c %a "$1" 2>/dev/null; }
quiet() { ! grep -Eq '^[[:space:]]*\* |ERROR|WARNING' "$log/last"; }  # no script output, no errors
stublog() { cat "$1/tmp/stub-actions.log" 2>/dev/null; }
host_untouched() { [ ! -e /etc/rc.d/S95wgcluster ] && [ ! -e /etc/rc.d/K10wgcluster ] && [ ! -e /etc/uci-defaults/90-wgcluster ] && [ ! -e /usr/sbin/wgclusterd ]; }
host_untouched || die "the host already has wgcluster files (/etc/rc.d, /etc/uci-defaults, /usr/sbin): cannot tell whether a test touched it"

files_ok() { # ROOT: the daemon package's files with their modes
    local r="$1"
    check "files: /usr/sbin/wgclusterd 0755" test "$(mode "$r/usr/sbin/wgclusterd")" = 755
    check "files: /etc/init.d/wgcluster 0755" test "$(mode "$r/etc/init.d/wgcluster")" = 755
    check "files: /etc/config/wgcluster 0600" test "$(mode "$r/etc/config/wgcluster")" = 600
    check "files: /usr/libexec/rpcd/wgcluster 0755" test "$(mode "$r/usr/libexec/rpcd/wgcluster")" = 755
    check "files: /lib/upgrade/keep.d/wgcluster 0644, keeps /etc/wgcluster/ and the config" \
        bash -c '[ "$(stat -c %a "$1")" = 644 ] && grep -qx /etc/wgcluster/ "$1" && grep -qx /etc/config/wgcluster "$1"' _ "$r/lib/upgrade/keep.d/wgcluster"
    check "files: the binary is the one packaged (sha256)" \
        test "$(sha256sum < "$r/usr/sbin/wgclusterd")" = "$(sha256sum < "$bin_of_arch")"
    check "files: /lib/apk/packages/$2.list names the files" grep -qx /usr/sbin/wgclusterd "$r/lib/apk/packages/$2.list"
    check "files: /lib/apk/packages/$2.conffiles_static has the config's sha256 (sysupgrade)" \
        grep -qx "/etc/config/wgcluster $(sha256sum < "$repo/openwrt/wgcluster/files/wgcluster.config" | cut -d' ' -f1)" "$r/lib/apk/packages/$2.conffiles_static"
}
luci_files_ok() {
    local r="$1" v
    for v in status routers configs peers dns audit backups settings; do
        check "luci files: view/wgcluster/$v.js 0644" test "$(mode "$r/www/luci-static/resources/view/wgcluster/$v.js")" = 644
    done
    check "luci files: wgcluster/common.js 0644 (the views' shared module)" test "$(mode "$r/www/luci-static/resources/wgcluster/common.js")" = 644
    check "luci files: menu.d and rpcd ACL" test -f "$r/usr/share/luci/menu.d/luci-app-wgcluster.json" -a -f "$r/usr/share/rpcd/acl.d/luci-app-wgcluster.json"
}
links_made() { [ -L "$1/etc/rc.d/S95wgcluster" ] && [ -L "$1/etc/rc.d/K10wgcluster" ] && [ "$(readlink "$1/etc/rc.d/S95wgcluster")" = ../init.d/wgcluster ]; }
no_links() { ! ls "$1"/etc/rc.d/[SK]??wgcluster >/dev/null 2>&1; }

# ---- per architecture --------------------------------------------------------------------------
for a in "${archs[@]}"; do
    echo "=== $a"
    feed="$work/feed/$a"; stubs="$work/stubs/$a"
    p_k="$work/$a/v1/wgcluster-$version-r1.apk"
    p_u="$work/$a/v1/wgcluster-userspace-$version-r1.apk"
    p_l="$work/noarch/v1/luci-app-wgcluster-$version-r1.apk"
    mkdir -p "$work/x-$a" && tar -xzf "$work/$a/v1/wgcluster_${version}-1_$a.ipk" -C "$work/x-$a" ./data.tar.gz &&
        tar -xzf "$work/x-$a/data.tar.gz" -C "$work/x-$a" ./usr/sbin/wgclusterd
    bin_of_arch="$work/x-$a/usr/sbin/wgclusterd"

    # -- the packages themselves (adbdump)
    for p in "$p_k" "$p_u" "$p_l"; do "$apk" adbdump "$p" > "$log/$(basename "$p").dump" 2>&1 || bad "adbdump $(basename "$p")"; done
    dk="$log/$(basename "$p_k").dump"; du="$log/$(basename "$p_u").dump"; dl="$log/$(basename "$p_l").dump"
    check "apk wgcluster: arch $a, version $version-r1" bash -c 'grep -qx "  arch: $2" "$1" && grep -qx "  version: $3-r1" "$1"' _ "$dk" "$a" "$version"
    check "apk wgcluster: depends kmod-wireguard and ca-bundle, not wireguard-go" \
        bash -c 'grep -qx "    - kmod-wireguard" "$1" && grep -qx "    - ca-bundle" "$1" && ! grep -qx "    - wireguard-go" "$1"' _ "$dk"
    check "apk wgcluster-userspace: depends wireguard-go, not kmod-wireguard; provides wgcluster=$version-r1" \
        bash -c 'grep -qx "    - wireguard-go" "$1" && ! grep -qx "    - kmod-wireguard" "$1" && grep -qx "    - wgcluster=$2-r1" "$1"' _ "$du" "$version"
    check "apk wgcluster: scripts post-install, post-upgrade, pre-deinstall, post-deinstall" \
        bash -c 'for s in post-install post-upgrade pre-deinstall post-deinstall; do grep -q "^  $s: " "$1" || exit 1; done' _ "$dk"
    check "apk wgcluster: info license, url, maintainer, description" \
        bash -c 'grep -q "^  license: GPL-2.0-only" "$1" && grep -q "^  url: " "$1" && grep -q "^  maintainer: " "$1" && grep -q "^  description: " "$1"' _ "$dk"
    check "apk luci-app-wgcluster: arch noarch; depends luci-base, rpcd, wgcluster" \
        bash -c 'grep -qx "  arch: noarch" "$1" && for d in luci-base rpcd wgcluster; do grep -qx "    - $d" "$1" || exit 1; done' _ "$dl"
    check "apk luci-app-wgcluster: scripts post-install, post-upgrade, post-deinstall" \
        bash -c 'for s in post-install post-upgrade post-deinstall; do grep -q "^  $s: " "$1" || exit 1; done' _ "$dl"

    # -- the index read back with apk
    r="$work/root-$a-index"; newroot "$a" "$r"
    apkr "$r" --allow-untrusted -X "$feed/packages.adb" list --available || true
    cp "$log/last" "$log/list-$a"
    for n in "wgcluster-$version-r1 $a" "wgcluster-userspace-$version-r1 $a" "luci-app-wgcluster-$version-r1 noarch" "luci-i18n-wgcluster-de-$version-r1 noarch"; do
        check "index read back by apk: $n" grep -q "^$n " "$log/list-$a"
    done

    # -- kernel flavour from the feed, the way a router is configured (repositories.d)
    r="$work/root-$a-kernel"; newroot "$a" "$r"
    mkdir -p "$r/etc/apk/repositories.d"
    echo "$feed/packages.adb" > "$r/etc/apk/repositories.d/customfeeds.list"
    if apkr "$r" --allow-untrusted -X "$stubs/packages.adb" add luci-app-wgcluster; then ok "apk add luci-app-wgcluster from the feed (customfeeds.list) into an empty root"; else bad "apk add luci-app-wgcluster: $(tail -n 5 "$log/last")"; fi
    check "install printed nothing from the scripts, no error or warning" quiet
    for n in wgcluster luci-app-wgcluster kmod-wireguard ca-bundle luci-base rpcd; do
        check "installed: $n" installed "$r" "$n"
    done
    check "not installed: wireguard-go (kernel flavour)" bash -c '! "$1" --root "$2" --no-network info -e wireguard-go' _ "$apk" "$r"
    files_ok "$r" wgcluster
    luci_files_ok "$r"
    check "offline root: rc.d links S95wgcluster and K10wgcluster made" links_made "$r"
    check "offline root: /etc/uci-defaults/90-wgcluster kept for the first boot" test -f "$r/etc/uci-defaults/90-wgcluster"
    check "offline root: no service was started or stopped, rpcd not reloaded" test -z "$(stublog "$r")"
    check "installed scripts recorded (lib/apk/db/scripts.tar.gz)" \
        bash -c 'tar -tzf "$1" | grep -qx "wgcluster-$2-r1.*post-install" || tar -tzf "$1" | grep -q "^wgcluster-$2-r1\..*post-install"' _ "$r/lib/apk/db/scripts.tar.gz" "$version"

    # upgrade to version+1 from the feed, with a changed config
    echo "	option endpoint 'admin-edit.example.org'" >> "$r/etc/config/wgcluster"
    build "feed-up-$a" "$cross/feed.sh" "$feed" "$work/feed2/$a"/*.apk >/dev/null
    if apkr "$r" --allow-untrusted -X "$stubs/packages.adb" upgrade; then ok "apk upgrade to $v2 from the feed"; else bad "apk upgrade: $(tail -n 5 "$log/last")"; fi
    check "upgrade printed nothing from the scripts" quiet
    check "upgraded: wgcluster is $v2-r1" test "$(inst_version "$r" wgcluster)" = "$v2-r1"
    check "upgraded: luci-app-wgcluster is $v2-r1" test "$(inst_version "$r" luci-app-wgcluster)" = "$v2-r1"
    check "upgrade keeps the changed /etc/config/wgcluster (new default as .apk-new)" \
        bash -c 'grep -q admin-edit.example.org "$1/etc/config/wgcluster" && test -f "$1/etc/config/wgcluster.apk-new"' _ "$r"
    check "upgrade: /etc/config/wgcluster still 0600" test "$(mode "$r/etc/config/wgcluster")" = 600
    check "upgrade: rc.d links still there" links_made "$r"
    # back to the v1 feed for the next checks
    rm -f "$feed"/*"-$v2-r1.apk" && build "feed-down-$a" "$cross/feed.sh" "$feed" >/dev/null

    # remove
    if apkr "$r" --allow-untrusted del luci-app-wgcluster wgcluster; then ok "apk del luci-app-wgcluster wgcluster"; else bad "apk del: $(tail -n 5 "$log/last")"; fi
    check "removal printed nothing from the scripts" quiet
    check "removed: wgcluster, luci-app-wgcluster, and the dependencies pulled in" \
        bash -c '! "$1" --root "$2" --no-network info -e wgcluster && ! "$1" --root "$2" --no-network info -e luci-app-wgcluster && ! "$1" --root "$2" --no-network info -e kmod-wireguard' _ "$apk" "$r"
    check "removed: binary, init script, rpcd plugin, LuCI views" \
        bash -c '! test -e "$1/usr/sbin/wgclusterd" && ! test -e "$1/etc/init.d/wgcluster" && ! test -e "$1/usr/libexec/rpcd/wgcluster" && ! test -e "$1/www/luci-static/resources/view/wgcluster/status.js"' _ "$r"
    check "removed: rc.d links" no_links "$r"
    check "removal keeps the changed config" grep -q admin-edit.example.org "$r/etc/config/wgcluster"
    check "offline root: still no service action" test -z "$(stublog "$r")"

    # -- userspace flavour; the flavours conflict; luci-app installs on top of it
    r="$work/root-$a-user"; newroot "$a" "$r"
    if apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" add wgcluster-userspace luci-app-wgcluster; then
        ok "apk add wgcluster-userspace luci-app-wgcluster from the feed"; else bad "apk add wgcluster-userspace: $(tail -n 5 "$log/last")"; fi
    check "userspace install printed nothing from the scripts" quiet
    check "installed: wgcluster-userspace, wireguard-go, luci-app-wgcluster" \
        bash -c 'for n in wgcluster-userspace wireguard-go luci-app-wgcluster; do "$1" --root "$2" --no-network info -e $n >/dev/null || exit 1; done' _ "$apk" "$r"
    check "not installed: kmod-wireguard, wgcluster (luci-app's dependency met by the provider)" \
        bash -c '! "$1" --root "$2" --no-network info -e kmod-wireguard && ! "$1" --root "$2" --no-network list -I wgcluster | grep -q "^wgcluster-[0-9]"' _ "$apk" "$r"
    files_ok "$r" wgcluster-userspace
    check "userspace: rc.d links made" links_made "$r"
    apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" add wgcluster ||
        bad "apk add wgcluster on the userspace flavour: $(tail -n 3 "$log/last")"
    check "flavours never together: 'apk add wgcluster' is met by wgcluster-userspace (no kmod-wireguard)" \
        bash -c '"$1" --root "$2" --no-network info -e wgcluster-userspace && ! "$1" --root "$2" --no-network info -e kmod-wireguard' _ "$apk" "$r"
    r="$work/root-$a-swap"; newroot "$a" "$r"
    apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" add wgcluster || bad "swap: apk add wgcluster"
    apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" add wgcluster-userspace || bad "swap: apk add wgcluster-userspace"
    check "flavour swap: 'apk add wgcluster-userspace' replaces wgcluster and kmod-wireguard" \
        bash -c '"$1" --root "$2" --no-network info -e wgcluster-userspace && "$1" --root "$2" --no-network info -e wireguard-go && ! "$1" --root "$2" --no-network info -e kmod-wireguard && ! "$1" --root "$2" --no-network list -I wgcluster | grep -q "^wgcluster-[0-9]"' _ "$apk" "$r"
    check "flavour swap: the files are the userspace package's, rc.d links in place" \
        bash -c 'grep -qx /usr/sbin/wgclusterd "$1/lib/apk/packages/wgcluster-userspace.list" && test -x "$1/usr/sbin/wgclusterd" && [ -L "$1/etc/rc.d/S95wgcluster" ]' _ "$r"

    # -- a running router (simulated): ubus socket, stub rc.common / ubus / uci record the calls
    r="$work/root-$a-online"; newroot "$a" "$r"
    mkdir -p "$r/var/run/ubus" "$r/sbin"
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$r/var/run/ubus/ubus.sock"
    printf '#!/bin/sh\n# TEST STUB of uci: records the call\necho "uci $*" >> /tmp/stub-actions.log\nexit 1\n' > "$r/sbin/uci"
    chmod 0755 "$r/sbin/uci"
    if apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" add luci-app-wgcluster; then
        ok "router: apk add luci-app-wgcluster"; else bad "router: apk add: $(tail -n 5 "$log/last")"; fi
    cp "$log/last" "$log/online-install-$a"
    check "router: first install is quiet (no script output, no 'Command failed')" quiet
    stublog "$r" > "$log/online-actions-$a"
    check "router: first install enables and starts the service" \
        bash -c 'grep -qx "wgcluster enable" "$1" && grep -qx "wgcluster start" "$1"' _ "$log/online-actions-$a"
    check "router: first install neither stops nor restarts (the old 'ubus call service delete' error)" \
        bash -c '! grep -Eq "^wgcluster (stop|restart)$" "$1"' _ "$log/online-actions-$a"
    check "router: rpcd reloaded" grep -qx "rpcd reload" "$log/online-actions-$a"
    check "router: uci-defaults ran (node_id) and was removed" \
        bash -c 'grep -q "^uci -q set wgcluster.main.node_id=" "$1" && ! test -e "$2/etc/uci-defaults/90-wgcluster"' _ "$log/online-actions-$a" "$r"
    : > "$r/tmp/stub-actions.log"
    build "feed-up2-$a" "$cross/feed.sh" "$feed" "$work/feed2/$a"/*.apk >/dev/null
    apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" upgrade || bad "router: apk upgrade: $(tail -n 5 "$log/last")"
    check "router: upgraded to $v2-r1" test "$(inst_version "$r" wgcluster)" = "$v2-r1"
    check "router: upgrade is quiet" quiet
    check "router: upgrade restarts the running service, does not re-enable" \
        bash -c 'grep -qx "wgcluster restart" "$1/tmp/stub-actions.log" && ! grep -qx "wgcluster enable" "$1/tmp/stub-actions.log"' _ "$r"
    # an admin stops and disables it; a reinstall of the same version is an upgrade for apk's scripts
    rm -f "$r/tmp/stub-running-wgcluster" "$r"/etc/rc.d/[SK]??wgcluster
    : > "$r/tmp/stub-actions.log"
    apkr "$r" --allow-untrusted -X "$stubs/packages.adb" -X "$feed/packages.adb" fix --reinstall wgcluster ||
        bad "router: apk fix --reinstall: $(tail -n 5 "$log/last")"
    check "router: the reinstall ran the post-upgrade script" grep -q "Executing wgcluster-$v2-r1.post-upgrade" "$log/last"
    rm -f "$feed"/*"-$v2-r1.apk" && build "feed-down2-$a" "$cross/feed.sh" "$feed" >/dev/null
    check "router: a disabled service stays disabled and stopped across a reinstall/upgrade" \
        bash -c '! grep -Eq "^wgcluster (enable|start|restart)$" "$1/tmp/stub-actions.log" && ! ls "$1"/etc/rc.d/S??wgcluster' _ "$r"
    : > "$r/tmp/stub-running-wgcluster"; : > "$r/tmp/stub-actions.log"
    apkr "$r" del luci-app-wgcluster wgcluster || bad "router: apk del: $(tail -n 5 "$log/last")"
    check "router: removal is quiet" quiet
    check "router: removal stops and disables the service, reloads rpcd" \
        bash -c 'grep -qx "wgcluster stop" "$1" && grep -qx "wgcluster disable" "$1" && grep -qx "rpcd reload" "$1"' _ "$r/tmp/stub-actions.log"

    # -- ImageBuilder mode: apk --no-scripts, then the post-install scripts on the host with IPKG_INSTROOT
    r="$work/root-$a-image"; newroot "$a" "$r"
    apkr "$r" --allow-untrusted --no-scripts -X "$stubs/packages.adb" -X "$feed/packages.adb" add luci-app-wgcluster ||
        bad "image: apk add --no-scripts: $(tail -n 5 "$log/last")"
    mkdir -p "$work/img-scripts-$a"
    tar -xzf "$r/lib/apk/db/scripts.tar.gz" -C "$work/img-scripts-$a"
    n_run=0; rc_all=0
    for s in "$work/img-scripts-$a"/*post-install; do
        [ -f "$s" ] || continue
        n_run=$((n_run + 1))
        out="$(IPKG_INSTROOT="$r" bash "$s" 2>&1)" || rc_all=1
        [ -z "$out" ] || { rc_all=1; echo "$out" | head -n 3; }
    done
    check "image: the post-install scripts run on the host with IPKG_INSTROOT ($n_run), exit 0, print nothing" \
        test "$n_run" -ge 2 -a "$rc_all" = 0
    check "image: rc.d links made inside the image root" links_made "$r"
    check "image: uci-defaults left for the first boot" test -f "$r/etc/uci-defaults/90-wgcluster"
    check "image: the build host was not touched" host_untouched

    # -- signed feed: trusted with the key, refused without it
    r="$work/root-$a-signed"; rm -rf "$r"
    if "$apk" --root "$r" --initdb --no-network --no-progress --arch "$a" --keys-dir "$work/keys" \
        -X "$work/sstubs/$a/packages.adb" -X "$work/sfeed/$a/packages.adb" add test-stub-base wgcluster >"$log/last" 2>&1; then
        ok "signed feed: installs with the public key and without --allow-untrusted"
    else
        bad "signed feed: $(tail -n 3 "$log/last")"
    fi
    r="$work/root-$a-unsigned"; rm -rf "$r"
    if "$apk" --root "$r" --initdb --no-network --no-progress --arch "$a" --keys-dir "$work/nokeys" \
        -X "$work/sstubs/$a/packages.adb" -X "$work/sfeed/$a/packages.adb" add wgcluster >"$log/last" 2>&1; then
        bad "signed feed without its key must be refused"
    else
        ok "signed feed without its key is refused"
    fi

    # -- ipk: unpack checks of every package and the Packages index
    if "$cross/check-ipk.sh" --feed "$feed" >"$log/check-ipk-$a" 2>&1; then
        ok "cross/check-ipk.sh --feed $a: $(tail -n 1 "$log/check-ipk-$a")"
    else
        bad "cross/check-ipk.sh --feed $a:"; grep '^FAIL' "$log/check-ipk-$a" | head -n 20
    fi
    # ipk scripts in an offline root (opkg -o ROOT / image build: IPKG_INSTROOT)
    r="$work/root-$a-ipk"; rm -rf "$r"; mkdir -p "$r" "$work/ipkc-$a"
    ipk="$feed/wgcluster_${version}-1_$a.ipk"
    tar -xzf "$ipk" -C "$work/ipkc-$a" ./data.tar.gz ./control.tar.gz
    tar -xzf "$work/ipkc-$a/data.tar.gz" -C "$r" && tar -xzf "$work/ipkc-$a/control.tar.gz" -C "$work/ipkc-$a"
    rc=0; out="$(IPKG_INSTROOT="$r" sh "$work/ipkc-$a/postinst" 2>&1)" || rc=$?
    check "ipk postinst with IPKG_INSTROOT: exit 0, quiet, rc.d links in the root, uci-defaults kept" \
        bash -c '[ "$1" = 0 ] && [ -z "$2" ] && [ -L "$3/etc/rc.d/S95wgcluster" ] && [ -f "$3/etc/uci-defaults/90-wgcluster" ]' _ "$rc" "$out" "$r"
    rc=0; out="$(IPKG_INSTROOT="$r" sh "$work/ipkc-$a/prerm" 2>&1)" || rc=$?
    check "ipk prerm with IPKG_INSTROOT: exit 0, quiet, rc.d links removed" \
        bash -c '[ "$1" = 0 ] && [ -z "$2" ] && ! ls "$3"/etc/rc.d/[SK]??wgcluster' _ "$rc" "$out" "$r"
    check "ipk scripts: the build host was not touched" host_untouched
done

# ---- the translation answers LuCI's own lookup --------------------------------------------------
lmo_root="$work/root-i18n"; newroot "${archs[0]}" "$lmo_root"
apkr "$lmo_root" --allow-untrusted -X "$work/stubs/${archs[0]}/packages.adb" -X "$work/feed/${archs[0]}/packages.adb" add luci-i18n-wgcluster-de ||
    bad "apk add luci-i18n-wgcluster-de: $(tail -n 3 "$log/last")"
lmo="$lmo_root/usr/lib/lua/luci/i18n/wgcluster.de.lmo"
check "i18n: luci-i18n-wgcluster-de pulls in luci-app-wgcluster and installs wgcluster.de.lmo (0644)" \
    bash -c '"$1" --root "$2" --no-network info -e luci-app-wgcluster && [ "$(stat -c %a "$3")" = 644 ]' _ "$apk" "$lmo_root" "$lmo"
if python3 "$cross/po2lmo.py" --dump "$lmo" > "$work/tr.json" 2>"$log/lmo.err"; then
    out="$(node - "$cbi" "$work/tr.json" <<'JS' 2>&1 || true
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
// LuCI's own sfh(), trimws() and _() from cbi.js: everything before N_()
const end = src.indexOf('function N_(');
if (end < 0) { console.log('cbi.js has no N_()'); process.exit(1); }
const window = { TR: JSON.parse(fs.readFileSync(process.argv[3], 'utf8')) };
const TR = window.TR;
eval(src.slice(0, end) + '; globalThis._t = _;');
const got = [_t('%d peers migrated.'), _t('  %dd   %dh %dm '), _t('not in the catalogue')];
console.log(JSON.stringify(got));
JS
)"
    check "i18n: LuCI's cbi.js _() finds the translations in the .lmo (whitespace-normalised too)" \
        test "$out" = '["[de] %d peers migrated.","[de] %dd %dh %dm","not in the catalogue"]'
    [ "$out" = '["[de] %d peers migrated.","[de] %dd %dh %dm","not in the catalogue"]' ] || echo "      node said: $out"
else
    bad "po2lmo.py --dump: $(cat "$log/lmo.err")"
fi

echo "packaging tests: $(( $(date +%s) - t_start )) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
