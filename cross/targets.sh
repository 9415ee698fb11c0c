# cross/targets.sh — OpenWrt arch names and the Rust targets they are built as. Source it (bash).
#
#   OpenWrt arch (opkg/apk)    Rust target                        how          qemu-user
WGC_TARGET_TABLE="
x86_64                     x86_64-unknown-linux-musl          nightly      -
aarch64_cortex-a53         aarch64-unknown-linux-musl         nightly      qemu-aarch64
arm_cortex-a7_neon-vfpv4   armv7-unknown-linux-musleabihf     nightly      qemu-arm
mipsel_24kc                mipsel-unknown-linux-musl          nightly      qemu-mipsel
mips_24kc                  mips-unknown-linux-musl            nightly      qemu-mips
"
# stable:  rustup's prebuilt musl std, linked by rust-lld (self-contained musl crt/libc).
# nightly: $WGC_NIGHTLY (cross/toolchain.env) with -Zbuild-std, linked by zig through
#          cargo-zigbuild (zig brings musl libc/crt and the C compiler for ring). x86_64 and
#          aarch64 have a prebuilt std but are built this way for size: aarch64 2,792,008 B
#          against 3,326,520 on stable (budget 3,145,728), x86_64 3,567,792 against 4,230,192
#          (budget 4,194,304); ARCHITECTURE.md, "Size and memory budget". The "stable" mode
#          (rustup's std, rust-lld) stays in cross/build.sh for a row that wants it.
# One static binary serves every OpenWrt arch of its family (aarch64_generic, arm_cortex-a9_vfpv3-d16,
# arm_cortex-a15_neon-vfpv4, ...): armv7 is built for VFPv3-D16 without NEON, mips for MIPS32r2
# soft float (the 24Kc ABI of OpenWrt).

# All OpenWrt arch names of the table, one line each.
wgc_archs() { awk 'NF == 4 { print $1 }' <<<"$WGC_TARGET_TABLE"; }
# All Rust targets of the table, one line each.
wgc_triples() { awk 'NF == 4 { print $2 }' <<<"$WGC_TARGET_TABLE"; }
# wgc_lookup NAME: "ARCH TRIPLE MODE QEMU" for an OpenWrt arch name or a Rust target; status 1 if unknown.
wgc_lookup() { awk -v n="$1" 'NF == 4 && ($1 == n || $2 == n) { print; found = 1; exit } END { exit !found }' <<<"$WGC_TARGET_TABLE"; }
# shellcheck disable=SC2086  # (the row is split into its fields on purpose)
# wgc_triple NAME / wgc_arch NAME / wgc_mode NAME / wgc_qemu NAME: one field of the row.
wgc_triple() { local r; r="$(wgc_lookup "$1")" || return 1; set -- $r; echo "$2"; }
wgc_arch() { local r; r="$(wgc_lookup "$1")" || return 1; set -- $r; echo "$1"; }
wgc_mode() { local r; r="$(wgc_lookup "$1")" || return 1; set -- $r; echo "$3"; }
wgc_qemu() { local r; r="$(wgc_lookup "$1")" || return 1; set -- $r; echo "$4"; }
