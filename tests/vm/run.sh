#!/usr/bin/env bash
# The kernel WireGuard VM test: boots Debian 12's cloud kernel (it has wireguard.ko) under QEMU
# with an initramfs holding busybox, the static daemon BINARY, `wg`, `ip`, wireguard-go and the
# modules, runs tests/vm/guest.sh as the guest's /init, and checks the result line of every check
# the guest prints on the serial console. Fails on any failed or missing check.
#
#   tests/vm/run.sh BINARY        BINARY: a static x86_64 wgclusterd (musl)
#
# Debian packages are fetched with `apt-get download` into the cache (WGC_VM_CACHE, default
# target/vm-cache) and unpacked with dpkg-deb; nothing is installed on the host. KVM is used only
# when the CPU offers vmx/svm and /dev/kvm opens; otherwise TCG. WGC_VM_TIMEOUT bounds the boot
# (seconds, default 300).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: tests/vm/run.sh BINARY (a static x86_64 wgclusterd)}
cache=${WGC_VM_CACHE:-$repo/target/vm-cache}
timeout_s=${WGC_VM_TIMEOUT:-300}

die() { echo "vm-test: $*" >&2; exit 1; }
for t in apt-get apt-cache dpkg-deb qemu-system-x86_64 cpio gzip timeout; do
  command -v "$t" >/dev/null 2>&1 || die "missing $t: run tests/scripts/prereqs.sh"
done
[ -f "$bin" ] || die "no such binary: $bin"
# ELF, 64-bit, x86-64 (e_machine 0x3e), no program interpreter (static).
magic=$(od -An -tx1 -N20 "$bin" | tr -d ' \n')
case "$magic" in 7f454c4602*) ;; *) die "$bin is not a 64-bit ELF file" ;; esac
[ "${magic:36:4}" = 3e00 ] || die "$bin is not an x86-64 binary"
if grep -q -a -m1 'ld-linux' <(head -c 4096 "$bin"); then die "$bin is dynamically linked; give a static (musl) build"; fi

started=$(date +%s)

# --- guest packages (Debian 12, from the configured apt sources) ---
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || die "apt-cache knows no linux-image-cloud-amd64 (run apt-get update)"
pkgs=("$kpkg" busybox-static wireguard-tools wireguard-go iproute2
      libc6 libbpf1 libelf1 libmnl0 libbsd0 libmd0 libcap2 zlib1g libzstd1)
debs="$cache/debs"
mkdir -p "$debs"
missing=()
for p in "${pkgs[@]}"; do
  ls "$debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "vm-test: fetching ${missing[*]}"
  (cd "$debs" && apt-get download -q "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  for p in "${missing[@]}"; do
    ls "$debs/${p}_"*.deb >/dev/null 2>&1 || die "apt-get download $p failed"
  done
fi

# --- unpack (dpkg-deb -x only; never installed) ---
work=$(mktemp -d "${TMPDIR:-/tmp}/wgc-vm.XXXXXX")
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
pkgroot="$work/pkgroot"
mkdir -p "$pkgroot"
for p in "${pkgs[@]}"; do
  dpkg-deb -x "$(ls "$debs/${p}_"*.deb | head -n1)" "$pkgroot"
done
kver=$(ls "$pkgroot/lib/modules" | head -n1)
kernel="$pkgroot/boot/vmlinuz-$kver"
[ -f "$kernel" ] || die "no kernel image in $kpkg"
wgko=$(find "$pkgroot/lib/modules/$kver" -name wireguard.ko | head -n1)
[ -n "$wgko" ] || die "$kpkg has no wireguard.ko"

# --- initramfs ---
ir="$work/initramfs"
mkdir -p "$ir"/{bin,sbin,usr/bin,lib64,lib/x86_64-linux-gnu,modules,proc,sys,dev,tmp,run,etc,data,var/run}
cp "$pkgroot/bin/busybox" "$ir/bin/busybox"
for a in $("$pkgroot/bin/busybox" --list); do
  [ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a"
done
rm -f "$ir/bin/ip"
cp "$pkgroot/bin/ip" "$ir/usr/bin/ip"
cp "$pkgroot/usr/bin/wg" "$ir/usr/bin/wg"
cp "$pkgroot/usr/bin/wireguard-go" "$ir/usr/bin/wireguard-go"
cp "$bin" "$ir/usr/bin/wgclusterd"
cp -L "$pkgroot/lib64/ld-linux-x86-64.so.2" "$ir/lib64/"
find "$pkgroot/lib/x86_64-linux-gnu" "$pkgroot/usr/lib/x86_64-linux-gnu" -maxdepth 1 -name '*.so*' \
  -exec cp -L {} "$ir/lib/x86_64-linux-gnu/" \; 2>/dev/null
# Modules: wireguard (+ what modinfo's depends= names, recursively), tun for wireguard-go.
mods=()
add_mod() {
  local name=$1 f deps d
  for d in "${mods[@]:-}"; do [ "$d" = "$name" ] && return 0; done
  f=$(find "$pkgroot/lib/modules/$kver" -name "$name.ko" | head -n1)
  [ -n "$f" ] || die "module $name not found in $kpkg"
  deps=$(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | head -n1)
  for d in ${deps//,/ }; do add_mod "$d"; done
  mods+=("$name")
  cp "$f" "$ir/modules/$name.ko"
}
add_mod wireguard
add_mod tun
printf '%s\n' "${mods[@]}" | grep -v '^tun$' > "$ir/modules/wireguard.order"
cp "$here/guest.sh" "$ir/init"
chmod 0755 "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
prepared=$(date +%s)
echo "vm-test: kernel $kver, initramfs $(du -k "$work/initrd.gz" | cut -f1) KiB, prepared in $((prepared - started)) s"

# --- boot ---
# no_timer_check: a loaded host makes the emulated timer look broken to the kernel's early
# IO-APIC check (a panic under TCG otherwise).
accel=(-accel tcg)
if grep -qE 'vmx|svm' /proc/cpuinfo && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  # QEMU takes the first accelerator that initialises.
  accel=(-accel kvm -accel tcg)
fi
log="$work/serial.log"
echo "vm-test: booting (${accel[*]}), at most ${timeout_s} s"
timeout "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 512 -smp 2 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$work/initrd.gz" -nic none \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 no_timer_check" > "$log" 2>&1 &
qemu_pid=$!
set +e
wait "$qemu_pid"
qrc=$?
set -e
qemu_pid=
ended=$(date +%s)
# Result lines start a line of their own (the firmware's escape codes may precede the first).
tr -d '\r' < "$log" | sed 's/\(VMTEST\)/\n\1/g' > "$log.txt"
grep -E '^(VMT|#)' "$log.txt" || true
if [ -n "${WGC_VM_LOG:-}" ]; then cp "$log.txt" "$WGC_VM_LOG"; fi

# --- verdict ---
expected=$(sed -n 's/^# CHECK \([a-z0-9_]*\).*/\1/p' "$here/guest.sh")
fail=0
for c in $expected; do
  line=$(grep -E "^VMTEST $c (PASS|FAIL)" "$log.txt" | tail -n1 || true)
  case "$line" in
    "VMTEST $c PASS"*) ;;
    "VMTEST $c FAIL"*) fail=1 ;;
    *) echo "vm-test: check $c: no result" >&2; fail=1 ;;
  esac
done
grep -q '^VMTEST-END' "$log.txt" || { echo "vm-test: the guest did not finish (qemu exit $qrc)" >&2; fail=1; }
echo "vm-test: $(grep -c '^VMTEST [a-z0-9_]* PASS' "$log.txt") passed, boot+scenario $((ended - prepared)) s, total $((ended - started)) s"
if [ "$fail" != 0 ]; then
  echo "vm-test: FAILED; last serial lines:" >&2
  tail -n 60 "$log.txt" >&2
  exit 1
fi
echo "vm-test: ok"
