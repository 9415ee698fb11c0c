# cross/size-flags.sh — sourced, not run: the extra RUSTFLAGS that make the router binary small.
#
#   . cross/size-flags.sh
#   export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="$(size_rustflags aarch64-unknown-linux-musl)"
#
# size_rustflags TRIPLE  echoes the flags for TRIPLE (nothing for a triple it has no flags for):
#   every *-linux-musl   -C link-arg=-T<repo>/cross/link/discard-eh-frame.ld
#                        drops .eh_frame/.eh_frame_hdr (panic = "abort": nothing unwinds), −0.85 MiB
#   x86_64-*-linux-musl  -C relocation-model=static
#                        a static non-PIE executable instead of static-pie: no dynamic
#                        relocations or GOT indirection, −359 K (aarch64 musl is already non-PIE)
# Paths are absolute (computed from this file's location), so cargo's working directory and
# build scripts do not matter. Measurements: ARCHITECTURE.md, "Size and memory budget".

size_flags_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

size_rustflags() {
    local triple="${1:?usage: size_rustflags TRIPLE}" flags=""
    case "$triple" in
        *-linux-musl*) flags="-C link-arg=-T$size_flags_dir/link/discard-eh-frame.ld" ;;
    esac
    case "$triple" in
        x86_64-*-linux-musl) flags="$flags -C relocation-model=static" ;;
    esac
    echo "$flags"
}
