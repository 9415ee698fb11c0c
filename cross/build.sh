#!/usr/bin/env bash
# cross/build.sh [TARGET...]
#
# Builds the static musl `wgclusterd` release binary for router CPUs, without the OpenWrt SDK.
# TARGET is an OpenWrt arch name or a Rust target from cross/targets.sh (default: all of them):
#
#   a row of cross/targets.sh             stable toolchain, rustup's prebuilt musl std, linked by
#   marked "stable" (none today)          rust-lld (the musl targets are self-contained); ring's C
#                                         by the host gcc (x86_64) or aarch64-linux-gnu-gcc
#   x86_64, aarch64_cortex-a53,           the pinned nightly of cross/toolchain.env with
#   arm_cortex-a7_neon-vfpv4, mipsel_24kc, -Zbuild-std (rustup has no std for armv7/mips here;
#   mips_24kc                             x86_64/aarch64 for size: std built at opt-level "z" without
#                                         its backtrace code fits their budgets), linked by
#                                         zig through cargo-zigbuild: zig brings musl libc/crt and
#                                         compiles ring's C for the target
#
#   output: $CARGO_TARGET_DIR/<rust target>/<profile>/wgclusterd, then a table of sizes and times
#           (CARGO_TARGET_DIR defaults to <repo>/target-cross)
#
# Targets of one kind are built by one cargo invocation (host build scripts and proc macros are
# compiled once). Nothing is installed here: a missing tool is an error that names it; run
# tests/scripts/prereqs.sh.
#
# Environment:
#   CARGO_TARGET_DIR                build directory (default: <repo>/target-cross)
#   CARGO_PROFILE                   cargo profile (default: release)
#   CARGO_TARGET_<TRIPLE>_RUSTFLAGS kept, the build's own flags are appended
#   RUSTFLAGS                       folded into every target's flags (cargo would otherwise
#                                   ignore the per-target flags this script needs)
#   WGC_PANIC=abort                 nightly targets: keep panic messages (default: immediate-abort,
#                                   no panic formatting code; the profile already aborts on panic)
#   CC_<triple>                     honoured as-is for the stable targets
# cross/size-flags.sh, when present, defines `size_rustflags TRIPLE`; its output is appended too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=toolchain.env
. "$here/toolchain.env"
# shellcheck source=targets.sh
. "$here/targets.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-cross}"
profile="${CARGO_PROFILE:-release}"
outdir="$profile"; [ "$profile" = dev ] && outdir=debug

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }
prereqs="run tests/scripts/prereqs.sh"

if [ -f "$here/size-flags.sh" ]; then
    # shellcheck source=/dev/null
    . "$here/size-flags.sh"
    declare -F size_rustflags >/dev/null || die "cross/size-flags.sh does not define size_rustflags"
fi

[ "$#" -gt 0 ] || mapfile -t _all < <(wgc_triples)
[ "$#" -gt 0 ] || set -- "${_all[@]}"
stable=(); nightly=()
for name in "$@"; do
    t="$(wgc_triple "$name")" || die "unknown target '$name' (known: $(wgc_archs | tr '\n' ' ')or their Rust targets; see cross/targets.sh)"
    case "$(wgc_mode "$t")" in
        stable) stable+=("$t") ;;
        nightly) nightly+=("$t") ;;
    esac
done

command -v cargo >/dev/null || die "cargo not found ($prereqs)"
command -v rustup >/dev/null || die "rustup not found ($prereqs)"

upper() { echo "$1" | tr '[:lower:]-' '[:upper:]_'; }
lower_() { echo "$1" | tr '-' '_'; }

# set_rustflags TRIPLE FLAGS...: CARGO_TARGET_<T>_RUSTFLAGS = user's value + RUSTFLAGS + FLAGS + size flags
user_rustflags="${RUSTFLAGS:-}"
unset RUSTFLAGS
[ -z "$user_rustflags" ] || log "RUSTFLAGS folded into each target's CARGO_TARGET_<TRIPLE>_RUSTFLAGS"
set_rustflags() {
    local t="$1" var v extra=""
    shift
    var="CARGO_TARGET_$(upper "$t")_RUSTFLAGS"
    if declare -F size_rustflags >/dev/null; then extra="$(size_rustflags "$t")"; fi
    v="${!var:-} $user_rustflags $* $extra"
    v="$(echo "$v" | xargs)"
    export "$var=$v"
    log "$t: $var=$v"
}

declare -a rows=()
record() { # MODE SECONDS TRIPLE...
    local mode="$1" secs="$2" t bin
    shift 2
    for t in "$@"; do
        bin="$CARGO_TARGET_DIR/$t/$outdir/wgclusterd"
        [ -f "$bin" ] || die "expected binary not found: $bin"
        rows+=("$t|$mode|$bin|$secs")
    done
}

# ---- stable: x86_64 -------------------------------------------------------------------------
if [ "${#stable[@]}" -gt 0 ]; then
    sysroot="$(rustup run stable rustc --print sysroot)" || die "no stable toolchain ($prereqs)"
    host="$(rustup run stable rustc -vV | sed -n 's/^host: //p')"
    lld_dir="$sysroot/lib/rustlib/$host/bin"
    [ -x "$lld_dir/rust-lld" ] || die "rust-lld not found at $lld_dir/rust-lld ($prereqs)"
    installed="$(rustup target list --installed --toolchain stable)"
    args=()
    for t in "${stable[@]}"; do
        grep -qx "$t" <<<"$installed" || die "rustup target $t is not installed for stable ($prereqs)"
        # ring compiles C for the target; its C and assembly do not use the libc, so a glibc
        # cross gcc serves a musl target.
        ccvar="CC_$(lower_ "$t")"
        if [ -z "${!ccvar:-}" ]; then
            case "$t" in
                x86_64-*) cc=gcc ;;
                aarch64-*) cc=aarch64-linux-gnu-gcc ;;
                *) die "no C compiler known for $t" ;;
            esac
            command -v "$cc" >/dev/null || die "$cc not found: ring needs a C compiler for $t ($prereqs)"
            export "$ccvar=$cc"
            command -v "${cc%gcc}ar" >/dev/null && export "AR_$(lower_ "$t")=${cc%gcc}ar"
        fi
        export "CARGO_TARGET_$(upper "$t")_LINKER=rust-lld"
        set_rustflags "$t"
        args+=(--target "$t")
    done
    log "building wgclusterd for ${stable[*]} (stable, $profile, rust-lld, target dir $CARGO_TARGET_DIR)"
    start=$(date +%s)
    (cd "$repo" && PATH="$lld_dir:$PATH" RUSTUP_TOOLCHAIN=stable \
        cargo build --profile "$profile" -p wgclusterd --bin wgclusterd "${args[@]}") \
        || die "cargo build for ${stable[*]} failed"
    record stable $(($(date +%s) - start)) "${stable[@]}"
fi

# ---- nightly -Zbuild-std + zig: aarch64, armv7, mipsel, mips---------------------------------------
if [ "${#nightly[@]}" -gt 0 ]; then
    rustup run "$WGC_NIGHTLY" rustc --version >/dev/null 2>&1 \
        || die "toolchain $WGC_NIGHTLY is not installed ($prereqs)"
    nsys="$(rustup run "$WGC_NIGHTLY" rustc --print sysroot)"
    [ -d "$nsys/lib/rustlib/src/rust/library" ] \
        || die "rust-src is not installed for $WGC_NIGHTLY ($prereqs)"
    # prereqs.sh installs zig and cargo-zigbuild in a venv; its python3 is the one with ziglang
    [ -d "$WGC_TOOLS_VENV/bin" ] && export PATH="$WGC_TOOLS_VENV/bin:$PATH"
    command -v cargo-zigbuild >/dev/null || die "cargo-zigbuild not found ($prereqs)"
    zigbuild_v="$(cargo-zigbuild --version 2>/dev/null)" || die "cargo-zigbuild does not run ($prereqs)"
    python3 -m ziglang version >/dev/null 2>&1 || command -v zig >/dev/null \
        || die "zig not found (the ziglang package from PyPI; $prereqs)"
    panic=(-Zunstable-options -Cpanic=immediate-abort)
    [ "${WGC_PANIC:-immediate-abort}" = abort ] && panic=()
    args=()
    for t in "${nightly[@]}"; do
        # crt-static: the mips targets default to dynamic linking; link-self-contained=no: these
        # targets have no self-contained crt objects without rustup's std, zig provides them.
        set_rustflags "$t" -C target-feature=+crt-static -C link-self-contained=no "${panic[@]}"
        args+=(--target "$t")
    done
    log "building wgclusterd for ${nightly[*]} ($WGC_NIGHTLY -Zbuild-std, $zigbuild_v, $profile, target dir $CARGO_TARGET_DIR)"
    start=$(date +%s)
    (cd "$repo" && RUSTUP_TOOLCHAIN="$WGC_NIGHTLY" \
        cargo-zigbuild zigbuild --profile "$profile" -p wgclusterd --bin wgclusterd "${args[@]}" \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size) \
        || die "cargo zigbuild for ${nightly[*]} failed"
    record "nightly" $(($(date +%s) - start)) "${nightly[@]}"
fi

echo
printf '%-26s %-32s %-8s %10s %7s %8s  %s\n' ARCH TARGET MODE BYTES MiB BUILD_S PATH
for row in "${rows[@]}"; do
    IFS='|' read -r t mode bin secs <<<"$row"
    sz=$(stat -c %s "$bin")
    printf '%-26s %-32s %-8s %10d %7s %8s  %s\n' "$(wgc_arch "$t")" "$t" "$mode" "$sz" \
        "$(awk -v s="$sz" 'BEGIN{printf "%.2f", s/1048576}')" "$secs" "$bin"
done
echo "(BUILD_S: wall time of the one cargo invocation that built all targets of that mode)"
if command -v file >/dev/null; then
    for row in "${rows[@]}"; do
        IFS='|' read -r _ _ bin _ <<<"$row"
        file "$bin"
    done
fi
