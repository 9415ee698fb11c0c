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
# Prints one line per binary and a verdict; exit 0 when all fit, 1 otherwise, 2 on bad usage.
# Needs only coreutils (od, stat); readelf (binutils) when present, for the symbol-table check.
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

fail=0
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
        result="OVER by $((size - budget)) bytes"
        fail=1
    fi
    printf '%-10s %12d %9s %12d %9s  %-26s %s\n' "$cpu" "$size" "$(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}')" \
        "$budget" "$(awk -v s="$budget" 'BEGIN{printf "%.2f", s/1048576}')" "$result" "$bin"
done
if [ "$fail" = 0 ]; then echo "budget: PASS"; else echo "budget: FAIL" >&2; fi
exit "$fail"
