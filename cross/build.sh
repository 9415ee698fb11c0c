#!/usr/bin/env bash
# cross/build.sh [TARGET...]
#
# Builds the `wgclusterd` release binary for router targets with the stable
# toolchain, linking with rust-lld (no OpenWrt SDK, no cross linker; a C cross
# compiler only for crates that compile C for the target, i.e. ring).
#
#   default targets: x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#   output:          $CARGO_TARGET_DIR/<target>/release/wgclusterd
#                    (CARGO_TARGET_DIR defaults to <repo>/target-cross)
#
# The musl targets ship their own crt objects and libc.a ("self-contained"),
# and rustc links musl targets self-contained whenever crt-static is on (the
# default for *-linux-musl), so `-C linker=rust-lld` is all that is needed.
# We pass it through CARGO_TARGET_<TRIPLE>_LINKER so a user's RUSTFLAGS stay
# untouched.
#
# Optional targets (armv7/mips/mipsel) whose std `rustup target add` cannot
# install are built with nightly -Zbuild-std + cargo-zigbuild when those are
# present (see cross/README.md); they are never required.
#
# Environment:
#   CARGO_TARGET_DIR   build directory (default: <repo>/target-cross)
#   CARGO_PROFILE      cargo profile (default: release)
#   WGC_NO_RUSTUP=1    do not call `rustup target add`
#   WGC_NO_APT=1       never apt-get a C cross compiler (only needed if a
#                      crate compiles C for the target, e.g. ring)
#   CC_<triple>        honoured as-is when set
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-cross}"
profile="${CARGO_PROFILE:-release}"

if [ "$#" -eq 0 ]; then
    set -- x86_64-unknown-linux-musl aarch64-unknown-linux-musl
fi

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"

# rust-lld ships with every rustup toolchain under lib/rustlib/<host>/bin.
sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
lld="$sysroot/lib/rustlib/$host/bin/rust-lld"
[ -x "$lld" ] || die "rust-lld not found at $lld"
# Put it on PATH so `linker=rust-lld` resolves for cargo and build scripts.
export PATH="$sysroot/lib/rustlib/$host/bin:$PATH"

upper() { echo "$1" | tr '[:lower:]-' '[:upper:]_'; }
lower_() { echo "$1" | tr '-' '_'; }

# A C compiler for the target is only needed when some crate in the graph
# compiles C (cc-rs) for it: today ring (rustls, rcgen, hickory dnssec-ring).
setup_cc() {
    local t="$1" tl
    tl="$(lower_ "$t")"
    local var="CC_$tl"
    if [ -n "${!var:-}" ]; then return 0; fi
    # `cargo tree -i cc` prints nothing (exit 0) or fails when cc is not in
    # this target's graph.
    if [ -z "$(cd "$repo" && cargo tree -p wgclusterd --target "$t" -e normal,build -i cc 2>/dev/null)" ]; then
        return 0
    fi
    log "$t: a dependency compiles C; selecting a C compiler"
    local gcc="" pkg=""
    case "$t" in
        x86_64-*)   gcc="$(command -v musl-gcc || command -v gcc || true)" ;;
        # The C cross compiler and its libc headers: --no-install-recommends does not pull the
        # headers in, and ring's C code needs them.
        aarch64-*)  gcc="aarch64-linux-gnu-gcc"; pkg="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
        armv7-*|arm-*) gcc="arm-linux-gnueabihf-gcc"; pkg="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
        mipsel-*)   gcc="mipsel-linux-gnu-gcc"; pkg="gcc-mipsel-linux-gnu libc6-dev-mipsel-cross" ;;
        mips-*)     gcc="mips-linux-gnu-gcc"; pkg="gcc-mips-linux-gnu libc6-dev-mips-cross" ;;
    esac
    local missing=""
    for p in ${pkg:-}; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$gcc" ] && [ -n "$missing" ] \
        && [ "${WGC_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
        log "installing$missing (apt-get)"
        # shellcheck disable=SC2086
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } \
            >"${TMPDIR:-/tmp}/wgcluster-apt.log" 2>&1 || die "apt-get install$missing failed (see ${TMPDIR:-/tmp}/wgcluster-apt.log)"
    fi
    if [ -n "$gcc" ] && command -v "$gcc" >/dev/null 2>&1; then
        export "CC_$tl=$gcc"
        local ar="${gcc%gcc}ar"
        command -v "$ar" >/dev/null 2>&1 && export "AR_$tl=$ar"
        log "$t: CC=$gcc"
    else
        log "$t: warning: no C compiler for this target; set CC_$tl if the build fails"
    fi
}

# Optional targets (armv7, mips, mipsel, ...) whose std cannot be installed with
# `rustup target add` (tier 3, or not on the dist mirror) are built with nightly
# `-Zbuild-std` and linked by cargo-zigbuild (zig provides the musl libc/crt for
# the target). Needs: a nightly toolchain with rust-src, and cargo-zigbuild
# (`pip install cargo-zigbuild` brings zig too). See cross/README.md.
nightly_zigbuild_ok() {
    rustup run nightly rustc --version >/dev/null 2>&1 || return 1
    [ -d "$(rustup run nightly rustc --print sysroot)/lib/rustlib/src/rust/library" ] || return 1
    command -v cargo-zigbuild >/dev/null 2>&1
}

declare -a built=()
for t in "$@"; do
    mode=stable
    if [ "${WGC_NO_RUSTUP:-0}" != 1 ] && command -v rustup >/dev/null; then
        if ! rustup target list --installed | grep -qx "$t"; then
            log "rustup target add $t"
            if ! rustup target add "$t" >&2 2>/dev/null; then
                if nightly_zigbuild_ok; then
                    log "$t: no prebuilt std for stable here; using nightly -Zbuild-std + cargo-zigbuild"
                    mode=nightly-zig
                else
                    die "rustup target add $t failed and nightly+rust-src+cargo-zigbuild are not available (see cross/README.md, optional targets)"
                fi
            fi
        fi
    fi
    start=$(date +%s)
    if [ "$mode" = stable ]; then
        setup_cc "$t"
        T="$(upper "$t")"
        export "CARGO_TARGET_${T}_LINKER=rust-lld"
        log "building wgclusterd for $t ($profile, linker rust-lld, target dir $CARGO_TARGET_DIR)"
        (cd "$repo" && cargo build --profile "$profile" -p wgclusterd --bin wgclusterd --target "$t") \
            || die "cargo build for $t failed"
    else
        log "building wgclusterd for $t ($profile, nightly -Zbuild-std, zig linker, target dir $CARGO_TARGET_DIR)"
        (cd "$repo" && cargo +nightly zigbuild --profile "$profile" -p wgclusterd --bin wgclusterd \
            --target "$t" -Zbuild-std=std,panic_abort) || die "cargo zigbuild for $t failed"
    fi
    end=$(date +%s)
    outdir="$profile"; [ "$profile" = dev ] && outdir=debug
    bin="$CARGO_TARGET_DIR/$t/$outdir/wgclusterd"
    [ -f "$bin" ] || die "expected binary not found: $bin"
    log "$t: built in $((end - start)) s"
    built+=("$t|$bin|$((end - start))")
done

echo
printf '%-32s %12s %10s %8s  %s\n' TARGET BYTES MiB BUILD_S PATH
for row in "${built[@]}"; do
    IFS='|' read -r t bin secs <<<"$row"
    sz=$(stat -c %s "$bin")
    printf '%-32s %12d %10s %8s  %s\n' "$t" "$sz" "$(awk -v s="$sz" 'BEGIN{printf "%.2f", s/1048576}')" "$secs" "$bin"
done
if command -v file >/dev/null; then
    echo
    for row in "${built[@]}"; do
        IFS='|' read -r _ bin _ <<<"$row"
        file "$bin"
    done
fi
