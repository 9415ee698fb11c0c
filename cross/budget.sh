#!/usr/bin/env bash
# cross/budget.sh BINARY...
#
# The size budget of the router binaries (#12): each BINARY (a built, stripped wgclusterd) must
# not exceed its CPU's budget. The CPU comes from the ELF header, so any path works:
#
#   aarch64            3.0 MiB   (3,145,728 bytes)
#   arm (armv7), mips, mipsel   3.5 MiB   (3,670,016 bytes)
#   x86_64             4.0 MiB   (4,194,304 bytes)
#
# A binary that still has a symbol table (not stripped) fails too: the budget is for what ships.
#
# Ceilings (cross/size-ceilings): a CPU whose binary does not yet fit its budget has a ceiling
# there, the size last measured plus a little headroom, so that the test command still fails the
# moment the binary GROWS, while the miss is printed as "OVER TARGET" on every run. A ceiling
# never exceeds what was measured by more than 1 %; when the binary fits again, the line is
# dropped (a note says so). WGC_BUDGET_STRICT=1 ignores the ceilings (the targets alone).
# Prints one line per binary and a verdict; exit 0 when all fit, 1 otherwise, 2 on bad usage.
# Needs only coreutils (od, stat); readelf (binutils) when present, for the symbol-table check.
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

ceilings="$(dirname "${BASH_SOURCE[0]}")/size-ceilings"
ceiling_of() { # CPU -> bytes, or nothing
    [ "${WGC_BUDGET_STRICT:-0}" = 1 ] || [ ! -f "$ceilings" ] && return 0
    awk -v c="$1" '$1 == c { print $2; exit }' "$ceilings"
}
fail=0
over=0
printf '%-10s %12s %9s %12s %9s  %-26s %s\n' CPU BYTES MiB BUDGET MiB RESULT BINARY
for bin in "$@"; do
    if [ ! -f "$bin" ]; then
        echo "budget: FAIL: $bin: no such file (build it first: cross/build.sh)" >&2
        fail=1
        continue
    fi
    if [ "$(od -An -tx1 -N4 "$bin" | tr -d ' \n')" != 7f454c46 ]; then
        echo "budget: FAIL: $bin is not an ELF file" >&2
        fail=1
        continue
    fi
    big=$([ "$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')" = 2 ] && echo 1 || echo 0)
    read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
    if [ "$big" = 1 ]; then mach=$((b0 * 256 + b1)); else mach=$((b1 * 256 + b0)); fi
    case "$mach" in
        183) cpu=aarch64; budget=3145728 ;;
        40)  cpu=arm;     budget=3670016 ;;
        8)   if [ "$big" = 1 ]; then cpu=mips; else cpu=mipsel; fi; budget=3670016 ;;
        62)  cpu=x86_64;  budget=4194304 ;;
        *)   echo "budget: FAIL: $bin: ELF machine $mach has no budget" >&2; fail=1; continue ;;
    esac
    size=$(stat -c %s "$bin")
    result=ok
    if command -v readelf >/dev/null 2>&1 && readelf -S "$bin" 2>/dev/null | grep -q '\.symtab'; then
        result="NOT STRIPPED"
        fail=1
    elif [ "$size" -gt "$budget" ]; then
        ceiling="$(ceiling_of "$cpu")"
        if [ -n "$ceiling" ] && [ "$size" -le "$ceiling" ]; then
            result="OVER TARGET by $((size - budget)) (ceiling $ceiling)"
            over=$((over + 1))
        elif [ -n "$ceiling" ]; then
            result="GREW past its ceiling $ceiling"
            fail=1
        else
            result="OVER by $((size - budget)) bytes"
            fail=1
        fi
    elif [ -n "$(ceiling_of "$cpu")" ]; then
        result="ok (drop the $cpu line of cross/size-ceilings)"
    fi
    printf '%-10s %12d %9s %12d %9s  %-26s %s\n' "$cpu" "$size" "$(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}')" \
        "$budget" "$(awk -v s="$budget" 'BEGIN{printf "%.2f", s/1048576}')" "$result" "$bin"
done
if [ "$fail" != 0 ]; then
    echo "budget: FAIL" >&2
elif [ "$over" != 0 ]; then
    echo "budget: PASS within the ceilings of cross/size-ceilings; $over binary(ies) still OVER TARGET (#12)"
else
    echo "budget: PASS"
fi
exit "$fail"
