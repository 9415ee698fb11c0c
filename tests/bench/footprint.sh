#!/usr/bin/env bash
# tests/bench/footprint.sh BINARY [PEERS]
#
# Memory and thread footprint of a real wgclusterd (#12 budgets): in a network namespace of its
# own (loopback only), `init` + `run` with the userspace backend, one config with this node
# assigned (so the reconciler programs every peer into wireguard-go), PEERS (default 1000) peers
# created in ONE bulk request, the full peer list read over TCP (HTTP/1.1, chunked) and over the
# control socket (HTTP/1.0, read to EOF), then 5 s idle. Samples /proc/<pid>/status every 50 ms:
#
#   peak    VmHWM at the end (the process's high-water mark: bulk create + lists included), or
#           the largest sampled VmRSS when that is higher (the kernel updates VmHWM lazily)
#   idle    VmRSS after the idle pause, with PEERS peers
#   threads the most `Threads` seen in any sample
#
# and prints a table against the budgets (peak <= 10 MiB, idle <= 8 MiB, threads <= 4). Exit 1
# when a budget is exceeded or a step fails, 0 otherwise.
#
# A binary of another architecture runs under qemu-user (qemu-<arch>): the numbers are then the
# EMULATOR's (its own code, translation cache and a thread or two of its own on top of the
# daemon's), so they are printed for information and not checked; only a native run (x86_64 on
# an x86_64 host) is a measurement of the daemon.
#
# Needs: root (network namespace), iproute2, curl, python3, wireguard-go; qemu-user for a foreign
# binary. Missing tools: run tests/scripts/prereqs.sh.
# Environment: WGC_BENCH_KEEP=1 keeps the temp dir; WGC_BENCH_IDLE_S (default 5).
set -euo pipefail

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || { echo "usage: $0 BINARY [PEERS]" >&2; exit 2; }
bin="$1"
peers="${2:-1000}"
idle_s="${WGC_BENCH_IDLE_S:-5}"
budget_peak_kib=$((10 * 1024))
budget_idle_kib=$((8 * 1024))
budget_threads=4

log() { echo "footprint: $*" >&2; }
die() { echo "footprint: FAIL: $*" >&2; exit 1; }

for t in ip curl python3 wireguard-go; do
    command -v "$t" >/dev/null 2>&1 || die "$t is missing (run tests/scripts/prereqs.sh)"
done
[ "$(id -u)" = 0 ] || die "needs root (it creates a network namespace)"
[ -f "$bin" ] || die "binary not found: $bin"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# ---- native or emulated ------------------------------------------------------------------------
read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
if [ "$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')" = 2 ]; then mach=$((b0 * 256 + b1)); else mach=$((b1 * 256 + b0)); fi
case "$mach" in
    62) arch=x86_64 ;; 183) arch=aarch64 ;; 40) arch=arm ;;
    8) if [ "$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')" = 2 ]; then arch=mips; else arch=mipsel; fi ;;
    *) die "unsupported ELF machine $mach" ;;
esac
runner=()
native=1
if [ "$arch" != "$(uname -m)" ]; then
    native=0
    q="$(command -v "qemu-$arch" || command -v "qemu-$arch-static" || true)"
    [ -n "$q" ] || die "qemu-$arch is missing (run tests/scripts/prereqs.sh)"
    runner=("$q")
    log "$arch binary: runs under $q; RSS and threads are the emulator's (reported, not checked)"
fi

# ---- namespace, temp dir, config ---------------------------------------------------------------
ns="wgc-footprint-$$"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/wgc-footprint.XXXXXX")"
pid=""
sampler=""
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
    if [ "${WGC_BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }

mkdir -p "$tmp/data" "$tmp/uapi"
cfg="$tmp/wgcluster.uci"
cat >"$cfg" <<EOF
config daemon 'main'
	option node_id 'bench1'
	option data_dir '$tmp/data'
	option api_listen '127.0.0.1:18080'
	option cluster_listen '127.0.0.1:18443'
	option control_socket '$tmp/wgcluster.sock'
	option endpoint '127.0.0.1'
	option wg_backend 'userspace'
	option wg_userspace_bin 'wireguard-go'
	option uapi_dir '$tmp/uapi'
	option auto_init '0'
	option log_level 'warn'
EOF
api="http://127.0.0.1:18080"

inns "${runner[@]}" "$bin" init --config "$cfg" >"$tmp/init.log" 2>&1 || { tail -20 "$tmp/init.log" >&2; die "init failed"; }
token="$(cat "$tmp/data/admin.token")"
# A simple command (not the inns function), so $! is the daemon (or qemu) itself.
ip netns exec "$ns" "${runner[@]}" "$bin" run --config "$cfg" >"$tmp/run.log" 2>&1 &
pid=$!

status() { # FIELD -> value in kB (or count)
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0
}
thread_names() { cat /proc/"$pid"/task/*/comm 2>/dev/null | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}'; }
# Samples (VmRSS kB, Threads, thread names) every 50 ms; the file's maxima are the peaks.
( while kill -0 "$pid" 2>/dev/null; do
      printf '%s %s %s\n' "$(status VmRSS)" "$(status Threads)" "$(thread_names | tr ' ' '_')"
      sleep 0.05
  done ) >"$tmp/samples" 2>/dev/null &
sampler=$!

call() { # METHOD PATH [BODY-FILE] -> body on stdout; fails on HTTP >= 400
    local args=(-fsS --max-time 120 -X "$1" -H "Authorization: Bearer $token")
    [ $# -ge 3 ] && args+=(-H "Content-Type: application/json" --data-binary "@$3")
    inns curl "${args[@]}" "$api$2"
}

deadline=$(( $(date +%s) + 60 ))
until inns curl -fsS --max-time 2 "$api/api/health" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$tmp/run.log" >&2; die "wgclusterd run exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$tmp/run.log" >&2; die "/api/health did not answer in 60 s"; }
    sleep 0.2
done
start_rss="$(status VmRSS)"; start_threads="$(status Threads)"
log "running (pid $pid): RSS ${start_rss} kB, ${start_threads} threads at start"

echo '{"name":"wg0","address":"10.0.0.1/20","listen_port":51820}' >"$tmp/config.json"
call POST /api/configs "$tmp/config.json" >/dev/null || die "POST /api/configs failed"
echo '{"node_id":"bench1"}' >"$tmp/assign.json"
call POST /api/configs/wg0/nodes "$tmp/assign.json" >/dev/null || die "assigning the node failed"

python3 -c 'import json,sys; print(json.dumps([{"name": "peer-%04d" % i} for i in range(int(sys.argv[1]))]))' "$peers" >"$tmp/bulk.json"
t0=$(date +%s.%N)
call POST /api/configs/wg0/peers "$tmp/bulk.json" >"$tmp/created.json" || die "bulk create of $peers peers failed"
t1=$(date +%s.%N)
hwm_create="$(status VmHWM)"
call GET /api/configs/wg0/peers >"$tmp/list.json" || die "GET peers failed"
t2=$(date +%s.%N)
inns curl -fsS --max-time 120 --http1.0 --unix-socket "$tmp/wgcluster.sock" "http://localhost/api/configs/wg0/peers" \
    >"$tmp/list10.json" || die "GET peers on the control socket (HTTP/1.0) failed"
python3 - "$peers" "$tmp/created.json" "$tmp/list.json" "$tmp/list10.json" <<'EOF' || die "the answers are not the expected JSON"
import json, sys
n = int(sys.argv[1])
created, listed, listed10 = (json.load(open(p)) for p in sys.argv[2:5])
assert created["status"] is True and len(created["data"]) == n, "bulk create: %r" % created.get("message")
assert listed["status"] is True and len(listed["data"]) == n, "list: %d items" % len(listed["data"])
assert listed10 == listed, "the HTTP/1.0 list differs from the HTTP/1.1 list"
assert {p["id"] for p in created["data"]} == {p["id"] for p in listed["data"]}
EOF
log "bulk create of $peers peers: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s; list: $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}') s ($(stat -c %s "$tmp/list.json") bytes)"

sleep "$idle_s"
idle_rss="$(status VmRSS)"
peak_rss="$(status VmHWM)"
idle_threads="$(status Threads)"
kill -0 "$pid" 2>/dev/null || die "wgclusterd exited during the benchmark"
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=""
max_threads="$(awk 'BEGIN{m=0} $2>m{m=$2} END{print m}' "$tmp/samples")"
max_sampled_rss="$(awk 'BEGIN{m=0} $1>m{m=$1} END{print m}' "$tmp/samples")"
# The kernel folds RSS into VmHWM lazily, so a sample can be above it: the peak is the larger.
[ "$max_sampled_rss" -gt "$peak_rss" ] && peak_rss="$max_sampled_rss"
max_thread_names="$(awk 'BEGIN{m=0} $2>m{m=$2; n=$3} END{print n}' "$tmp/samples" | tr '_' ' ')"

mib() { awk -v k="$1" 'BEGIN{printf "%.2f MiB", k/1024}'; }
verdict() { # VALUE BUDGET
    if [ "$native" = 0 ]; then echo "n/a (emulated)"; elif [ "$1" -le "$2" ]; then echo ok; else echo OVER; fi
}
echo
echo "wgclusterd footprint, $peers peers ($arch$([ "$native" = 0 ] && echo ", under ${runner[0]##*/}: emulator's numbers"))"
printf '%-34s %14s %14s  %s\n' MEASURE VALUE BUDGET RESULT
printf '%-34s %14s %14s  %s\n' "peak RSS (VmHWM, samples)" "$(mib "$peak_rss")" "$(mib $budget_peak_kib)" "$(verdict "$peak_rss" $budget_peak_kib)"
printf '%-34s %14s %14s  %s\n' "idle RSS after ${idle_s}s (VmRSS)" "$(mib "$idle_rss")" "$(mib $budget_idle_kib)" "$(verdict "$idle_rss" $budget_idle_kib)"
printf '%-34s %14s %14s  %s\n' "threads (max sampled)" "$max_threads" "$budget_threads" "$(verdict "$max_threads" $budget_threads)"
printf '%-34s %14s\n' "RSS at start" "$(mib "$start_rss")"
printf '%-34s %14s\n' "VmHWM after the bulk create" "$(mib "$hwm_create")"
printf '%-34s %14s\n' "max sampled VmRSS" "$(mib "$max_sampled_rss")"
printf '%-34s %14s\n' "threads at start / idle" "$start_threads / $idle_threads"
echo "threads at the most: $max_thread_names"

if [ "$native" = 1 ] && { [ "$peak_rss" -gt $budget_peak_kib ] || [ "$idle_rss" -gt $budget_idle_kib ] || [ "$max_threads" -gt $budget_threads ]; }; then
    echo "footprint: FAIL: over budget" >&2
    exit 1
fi
echo "footprint: PASS"
