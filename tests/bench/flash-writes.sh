#!/usr/bin/env bash
# Flash-write budget of the data dir (not a test): bytes the real daemon writes to storage per
# hour (a) idle on a one-router cluster carrying one WireGuard config (wireguard-go in a network
# namespace of its own), and (b) the same router during a DNS provider outage (an RFC 2136
# endpoint group whose server is a closed port on the namespace's loopback).
#
# Measured: `write_bytes` of /proc/<pid>/io (bytes the daemon caused to be written to the block
# layer: Raft log appends, vote and snapshot files, the DNS retry queue (all under store/), and any other
# data dir file) over WINDOW seconds (idle: after a WARMUP; outage: from creating the endpoint
# group, one replicated write, whose first attempt fails at once),
# extrapolated to one hour; plus the data dir's size change and the DNS audit entries written in
# the window. (c) `writes` (not in the default CASES): bytes per single-peer create, with and
# without an Idempotency-Key, over a run that includes one snapshot. The outage's retries back off and stop after 12 attempts (~12 minutes), so a WINDOW
# of 900 s or more holds a whole outage hour's writes (the extrapolation then overstates it).
#
# Usage (as root: it makes a network namespace):
#   bash tests/bench/flash-writes.sh               # builds the debug daemon unless WGCLUSTERD_BIN is set
#   WINDOW=900 CASES=outage WGCLUSTERD_BIN=target/release/wgclusterd bash tests/bench/flash-writes.sh
#   CASES=writes WRITES=1100 bash tests/bench/flash-writes.sh
# Needs: ip (iproute2), wireguard-go, curl, python3 (run tests/scripts/prereqs.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

WINDOW=${WINDOW:-120}
WARMUP=${WARMUP:-10}
CASES=${CASES:-idle outage}

for tool in ip wireguard-go curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "flash-writes: '$tool' is missing: run tests/scripts/prereqs.sh" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "flash-writes: must run as root (it creates a network namespace)" >&2; exit 2; }

if [ -n "${WGCLUSTERD_BIN:-}" ]; then
    bin=$WGCLUSTERD_BIN
else
    cargo build -q -p wgclusterd
    bin=${CARGO_TARGET_DIR:-target}/debug/wgclusterd
fi
[ -x "$bin" ] || { echo "flash-writes: no daemon binary at $bin" >&2; exit 2; }
# The data dir must be on a block device: write_bytes does not count tmpfs. The daemon's log goes
# to tmpfs (on a router it goes to procd or logd, not to flash), so it is not counted.
base=$(mktemp -d /var/tmp/wgc-flash.XXXXXX)
logs=$(mktemp -d /dev/shm/wgc-flash-logs.XXXXXX)
pid=""
ns=""
namespaces=()

# Stops the daemon, then what it leaves running on purpose (wireguard-go: the next start adopts
# it) in namespace $1, by PID, and deletes the namespace.
stop_all() {
    local n=$1 p
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    pid=""
    for p in $(ip netns pids "$n" 2>/dev/null || true); do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do [ -z "$(ip netns pids "$n" 2>/dev/null || true)" ] && break; sleep 0.1; done
    for p in $(ip netns pids "$n" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$n" 2>/dev/null || true
}

cleanup() {
    local n
    for n in "${namespaces[@]}"; do stop_all "$n"; done
    rm -rf "$base" "$logs"
}
trap cleanup EXIT

inns() { ip netns exec "$ns" "$@"; }
free_port() { inns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a fresh one-router daemon in $base/$1, in a new namespace; sets ns, pid, api, H.
start_daemon() {
    local dir=$base/$1
    ns="wgc-flash-$$-$1"
    namespaces+=("$ns")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    mkdir -p "$dir"
    local port cport
    port=$(free_port)
    cport=$(free_port)
    cat >"$dir/conf" <<UCI
config daemon 'main'
	option node_id 'flash1'
	option data_dir '$dir/data'
	option api_listen '127.0.0.1:$port'
	option cluster_listen '127.0.0.1:$cport'
	option control_socket '$dir/sock'
	option endpoint '192.0.2.1'
	option wg_backend 'userspace'
	option wg_userspace_bin '$(command -v wireguard-go)'
	option uapi_dir '$dir/wg'
	option auto_init '1'
	option log_level 'info'
	option log_target 'stderr'
UCI
    api="http://127.0.0.1:$port"
    # `ip netns exec` execs the daemon: $! is the daemon's own PID (its /proc/<pid>/io is read).
    ip netns exec "$ns" "$bin" run --config "$dir/conf" 2>"$logs/$1.log" &
    pid=$!
    local ok=""
    for _ in $(seq 1 300); do
        if inns curl -fsS "$api/api/health" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "flash-writes: the daemon did not answer; its log:" >&2; cat "$logs/$1.log" >&2; exit 1; }
    H="Authorization: Bearer $(cat "$dir/data/admin.token")"
}

call() { inns curl -fsS -H "$H" -X "$1" "$api$2" ${3:+-d "$3"} >/dev/null; }

write_bytes() { awk '/^write_bytes/{print $2}' "/proc/$pid/io"; }
dir_bytes() { du -sb "$1/data" | cut -f1; }
audit_count() {
    inns curl -fsS -H "$H" "$api/api/audit-logs?action=$1&limit=1000" |
        python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d if isinstance(d,list) else d.get("items",d.get("entries",[]))))'
}

# measure NAME WARMUP [API CALL...]: wait WARMUP seconds, read the counters, make the call (if
# any), then write_bytes over WINDOW; prints one table row.
measure() {
    local name=$1 dir=$base/$1
    sleep "$2"
    shift 2
    local w0 s0 f0 w1 s1 f1
    w0=$(write_bytes); s0=$(dir_bytes "$dir"); f0=$(audit_count dns_failed)
    if [ $# -gt 0 ]; then call "$@"; fi
    sleep "$WINDOW"
    w1=$(write_bytes); s1=$(dir_bytes "$dir"); f1=$(audit_count dns_failed)
    local per_hour=$(( (w1 - w0) * 3600 / WINDOW ))
    printf '| %s | %s s | %s B | %s KiB/h | %+d B | %s |\n' \
        "$name" "$WINDOW" "$((w1 - w0))" "$((per_hour / 1024))" "$((s1 - s0))" "$((f1 - f0))"
}

rows=()
retries=-
# (a) idle: one config on this router, nothing happening.
if [[ " $CASES " == *" idle "* ]]; then
start_daemon idle
call POST /api/configs '{"name":"wg0","address":"10.77.0.1/24","listen_port":51820}'
call POST /api/configs/wg0/nodes '{"node_id":"flash1"}'
rows+=("$(measure idle "$WARMUP")")
stop_all "$ns"
fi

# (b) outage: an RFC 2136 endpoint group whose server refuses every connection.
if [[ " $CASES " == *" outage "* ]]; then
start_daemon outage
closed=$(free_port)
call POST /api/configs '{"name":"wg0","address":"10.77.0.1/24","listen_port":51820}'
call POST /api/configs/wg0/nodes '{"node_id":"flash1"}'
call PUT /api/settings/dns "{\"rfc2136\":{\"server\":\"127.0.0.1:$closed\",\"zone\":\"example.test\",\"key_name\":\"k\",\"key_secret\":\"c2VjcmV0LWZsYXNoLWJlbmNo\"}}"
# From the outage's start: the window opens with the endpoint group's creation (one replicated
# write, in both the before and after numbers), whose first attempt follows within 300 ms; the
# retries back off (1 s doubling to 120 s) and give up after 12 attempts (~12 min).
rows+=("$(measure outage 0 POST /api/configs/wg0/endpoint-group '{"domain":"vpn.example.test","provider":"rfc2136","ttl":60}')")
retries=$(grep -c "dns: sync of vpn.example.test failed\|dns: giving up on vpn.example.test" "$logs/outage.log" || true)
stop_all "$ns"
fi

# (c) writes: WRITES single-peer creates in a row, without and with an Idempotency-Key (each key
# is kept in the replicated IdempotencyLog, hence in every snapshot for 24 h), so the cost of the
# keys shows as bytes per write beside the same writes unkeyed. WRITES > 1,000 so that each run
# contains one snapshot (every 1,000 log entries), whose size the kept keys add to.
WRITES=${WRITES:-1100}
burst_rows=()
burst() {
    local name=$1 keyed=$2 i t0 t1 w0 w1 kh
    start_daemon "$name"
    call POST /api/configs '{"name":"wg0","address":"10.77.0.1/16","listen_port":51820}'
    call POST /api/configs/wg0/nodes '{"node_id":"flash1"}'
    sleep 2
    w0=$(write_bytes); t0=$(date +%s)
    for i in $(seq 1 "$WRITES"); do
        kh="X-Unkeyed: 1"
        [ "$keyed" = 1 ] && kh="Idempotency-Key: flash-bench-$i-$(printf '%08d' "$i")-abcdefghijklmnop"
        inns curl -fsS -H "$H" -H "$kh" -X POST "$api/api/configs/wg0/peers" -d "{\"name\":\"p$i\"}" >/dev/null
    done
    sleep 3
    w1=$(write_bytes); t1=$(date +%s)
    burst_rows+=("$(printf '| %s | %s | %s s | %s B | %s B |' "$name" "$WRITES" "$((t1 - t0))" "$((w1 - w0))" "$(( (w1 - w0) / WRITES ))")")
    stop_all "$ns"
}
if [[ " $CASES " == *" writes "* ]]; then
    burst writes-unkeyed 0
    burst writes-keyed 1
fi

if [ "${#burst_rows[@]}" -gt 0 ]; then
    printf '\n| case | peer creates | took | written (write_bytes) | per write |\n|---|---|---|---|---|\n'
    printf '%s\n' "${burst_rows[@]}"
fi
[ "${#rows[@]}" -gt 0 ] || exit 0
printf '\n| case | window | written (write_bytes) | per hour | data dir size change | dns_failed audit entries |\n|---|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
printf '\nDNS attempts that failed during the outage run (daemon log): %s\n' "$retries"
