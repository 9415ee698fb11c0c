# cross/size-flags.sh — sourced, not run: the extra RUSTFLAGS that make the router binary small.
#
#   . cross/size-flags.sh
#   export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="$(size_rustflags aarch64-unknown-linux-musl)"
#
# size_rustflags TRIPLE  echoes the flags for TRIPLE (nothing for a triple it has no flags for):
#   every *-linux-musl   -C link-arg=-T<repo>/cross/link/discard-eh-frame.ld
#                        drops .eh_frame/.eh_frame_hdr/.gcc_except_table (panic = "abort":
#                        nothing unwinds), −0.85 MiB
#                        --remap-path-prefix=<cargo registry source dir>/=
#                        panic locations name a dependency's file as `tokio-1.54.1/src/…`
#                        instead of `/root/.cargo/registry/src/index.crates.io-<hash>/tokio-…`:
#                        the 59-byte prefix was stored ~760 times (−45 K on aarch64)
#   aarch64-*-linux-musl -C llvm-args=-enable-machine-outliner=always
#                        -C llvm-args=-machine-outliner-reruns=3
#                        the outliner runs by default only on functions built at opt-level "z";
#                        "always" takes the prebuilt std's functions too (−52 K), and three more
#                        rounds outline sequences that span earlier outlined calls (−21 K)
#   x86_64-*-linux-musl  -C relocation-model=static
#                        a static non-PIE executable instead of static-pie: no dynamic
#                        relocations or GOT indirection, −359 K (aarch64 musl is already non-PIE)
#                        -C llvm-args=-enable-machine-outliner=always
#                        LLVM's machine outliner: repeated instruction sequences become shared
#                        functions (on by default for aarch64 at opt-level "z", not for x86_64);
#                        −184 K with the .gcc_except_table discard
#   mips*-linux-musl     -C relocation-model=static
#                        non-PIC code in a static executable: calls are `jal f` instead of a GOT
#                        load into $t9 and `jalr`, and no function sets up $gp from $t9; still the
#                        o32 abicalls ABI (ELF flags keep `cpic`), so ring's C from zig links as
#                        before. mipsel 4,842,004 → 4,223,956 B (−618 K)
#   nightly targets      --remap-path-prefix=<nightly sysroot>/lib/rustlib/src/rust/=/rustc/src/
#                        the same for the std that -Zbuild-std compiles from rust-src
# Paths are absolute (computed from this file's location), so cargo's working directory and
# build scripts do not matter. Measurements: ARCHITECTURE.md, "Size and memory budget".

size_flags_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The directories cargo unpacks registry crates into (one per registry index), one per line.
size_registry_dirs() {
    local d
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
        [ -d "$d" ] && echo "$d"
    done
    return 0
}

size_rustflags() {
    local triple="${1:?usage: size_rustflags TRIPLE}" flags="" d sysroot
    case "$triple" in
        *-linux-musl*)
            flags="-C link-arg=-T$size_flags_dir/link/discard-eh-frame.ld"
            while IFS= read -r d; do
                flags="$flags --remap-path-prefix=$d="
            done < <(size_registry_dirs)
            ;;
    esac
    case "$triple" in
        aarch64-*-linux-musl)
            flags="$flags -C llvm-args=-enable-machine-outliner=always -C llvm-args=-machine-outliner-reruns=3" ;;
        x86_64-*-linux-musl) flags="$flags -C relocation-model=static -C llvm-args=-enable-machine-outliner=always" ;;
        mips-*-linux-musl | mipsel-*-linux-musl) flags="$flags -C relocation-model=static" ;;
    esac
    # std built from source by -Zbuild-std (cross/targets.sh mode "nightly", cross/toolchain.env)
    if declare -F wgc_mode >/dev/null && [ "$(wgc_mode "$triple" 2>/dev/null)" = nightly ] \
        && [ -n "${WGC_NIGHTLY:-}" ] \
        && sysroot="$(rustup run "$WGC_NIGHTLY" rustc --print sysroot 2>/dev/null)"; then
        flags="$flags --remap-path-prefix=$sysroot/lib/rustlib/src/rust/=/rustc/src/"
    fi
    echo "$flags"
}
