#!/usr/bin/env bash
# tests/packaging/stubs.sh APK ARCH OUTDIR
#
# TEST STUBS ONLY. Builds empty stand-ins for the OpenWrt packages wgcluster's packages depend on,
# so `apk add` resolves their dependencies for real (no --force) in an empty root:
#   kmod-wireguard, wireguard-go, ca-bundle, luci-base, rpcd   (empty; rpcd has a logging
#                                                               /etc/init.d/rpcd)
#   test-stub-base   /bin/sh (the host's static busybox), a logging /etc/rc.common and a /sbin/ubus
#                    that answers `call service list` from what rc.common started, so the
#                    packages' install scripts really run inside the root
# Every stub is version 0.0.0-r0, origin "wgcluster-test-stubs", and its description starts with
# "TEST STUB". They are never shipped: they go to a separate test-only repository.
# The logging scripts append "<script> <action>" to /tmp/stub-actions.log inside the root.
set -euo pipefail
[ "$#" -eq 3 ] || { echo "usage: $0 APK ARCH OUTDIR" >&2; exit 2; }
apk="$1"; arch="$2"; out="$3"
busybox="${BUSYBOX:-/bin/busybox}"
[ -x "$busybox" ] || { echo "stubs.sh: missing static busybox $busybox: run tests/scripts/prereqs.sh" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-stubs.XXXXXX")"
trap 'rm -rf "$work"' EXIT

stub() { # NAME ARCH FILESDIR
    "$apk" mkpkg --info "name:$1" --info "version:0.0.0-r0" --info "arch:$2" \
        --info "description:TEST STUB of $1 for wgcluster's package tests; not the real package" \
        --info "origin:wgcluster-test-stubs" --info "license:none" \
        --files "$3" --output "$out/$1-0.0.0-r0.apk"
}

for n in kmod-wireguard wireguard-go ca-bundle luci-base; do
    mkdir -p "$work/$n"
    a="$arch"; [ "$n" = luci-base ] && a=noarch
    stub "$n" "$a" "$work/$n"
done

logger='#!/bin/sh
# TEST STUB: records the call instead of acting
echo "$(basename "$0") $*" >> /tmp/stub-actions.log
'
mkdir -p "$work/rpcd/etc/init.d"
printf '%s' "$logger" > "$work/rpcd/etc/init.d/rpcd"
chmod 0755 "$work/rpcd/etc/init.d/rpcd"
stub rpcd "$arch" "$work/rpcd"

b="$work/test-stub-base"
mkdir -p "$b/bin" "$b/etc" "$b/tmp" "$b/var/run"
cp "$busybox" "$b/bin/busybox"
for t in sh ash cat sed grep ls ln rm mkdir head tail tr basename dirname cp mv chmod touch; do
    ln -s busybox "$b/bin/$t"
done
# rc.common as OpenWrt's init scripts use it ("#!/bin/sh /etc/rc.common"): $1 is the script
cat > "$b/etc/rc.common" <<'RC'
#!/bin/sh
# TEST STUB of OpenWrt's /etc/rc.common: records "<service> <action>"; `enabled` answers from the
# rc.d links like the real one; `enable`/`disable` also make/remove the links
name="$(basename "$1")"; action="$2"
echo "$name $action" >> /tmp/stub-actions.log
case "$action" in
start|restart) : > "/tmp/stub-running-$name" ;;
stop) rm -f "/tmp/stub-running-$name" ;;
enabled) ls /etc/rc.d/S??"$name" >/dev/null 2>&1 ;;
enable) mkdir -p /etc/rc.d; ln -sf "../init.d/$name" "/etc/rc.d/S95$name"; ln -sf "../init.d/$name" "/etc/rc.d/K10$name" ;;
disable) rm -f /etc/rc.d/S??"$name" /etc/rc.d/K??"$name" ;;
esac
RC
# ubus: answers `ubus call service list {"name":"X"}` from the state rc.common keeps
mkdir -p "$b/sbin"
cat > "$b/sbin/ubus" <<'UBUS'
#!/bin/sh
# TEST STUB of ubus: records the call; `call service list` reports the services rc.common started
echo "ubus $*" >> /tmp/stub-actions.log
if [ "$1 $2 $3" = "call service list" ]; then
	name="$(echo "$4" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')"
	if [ -n "$name" ] && [ -e "/tmp/stub-running-$name" ]; then echo "{\"$name\":{}}"; else echo "{}"; fi
fi
UBUS
chmod 0755 "$b/etc/rc.common" "$b/bin/busybox" "$b/sbin/ubus"
chmod 1777 "$b/tmp"
stub test-stub-base "$arch" "$b"
ls "$out"/*.apk
