#!/usr/bin/env bash
# Core daemon benchmark (not a test): stripped release binary size, start-up to first answer,
# bulk and single peer creation, listing, and idle RSS with 1,000 peers. Prints a table.
# Usage: bash tests/bench/core/run.sh   (as root or not; uses 127.0.0.1 only)
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release -q -p wgclusterd
bin=target/release/wgclusterd
dir=$(mktemp -d /tmp/wgc-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/conf" <<UCI
config daemon 'main'
	option node_id 'bench1'
	option data_dir '$dir/data'
	option api_listen '127.0.0.1:$port'
	option cluster_listen '127.0.0.1:$cport'
	option control_socket '$dir/sock'
	option endpoint '192.0.2.1'
	option wg_backend 'userspace'
	option uapi_dir '$dir/wg'
	option auto_init '1'
	option log_level 'warn'
UCI
cleanup() { [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null; wait "${pid:-}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
api="http://127.0.0.1:$port"

$bin init --config "$dir/conf" >/dev/null
t0=$(ms); $bin run --config "$dir/conf" & pid=$!
until curl -fsS "$api/api/health" >/dev/null 2>&1; do sleep 0.01; done
t1=$(ms)
H="Authorization: Bearer $(cat "$dir/data/admin.token")"
curl -fsS -H "$H" -XPOST "$api/api/configs" -d '{"name":"wg0","address":"10.80.0.1/16","listen_port":51820}' >/dev/null
python3 - "$dir/bulk.json" <<'PY'
import json, sys
json.dump([{"name": f"p{i}"} for i in range(1000)], open(sys.argv[1], "w"))
PY
b0=$(ms); curl -fsS -H "$H" -XPOST "$api/api/configs/wg0/peers" --data-binary @"$dir/bulk.json" >/dev/null; b1=$(ms)
o0=$(ms); curl -fsS -H "$H" -XPOST "$api/api/configs/wg0/peers" -d '{"name":"one-more"}' >/dev/null; o1=$(ms)
best_list=999999
for _ in 1 2 3 4 5; do
  l0=$(ms); curl -fsS -H "$H" "$api/api/configs/wg0/peers" >/dev/null; l1=$(ms)
  [ $((l1-l0)) -lt $best_list ] && best_list=$((l1-l0))
done
sleep 3
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
threads=$(awk '/Threads/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid 2>/dev/null || true
t2=$(ms); $bin run --config "$dir/conf" & pid=$!
until curl -fsS "$api/api/health" >/dev/null 2>&1; do sleep 0.01; done
t3=$(ms)
size=$(stat -c %s $bin)
printf '\n| measure | this run | target |\n|---|---|---|\n'
printf '| stripped release binary (x86_64, glibc) | %s KiB | <= 4 MiB |\n' $((size/1024))
printf '| start-up to first answer (empty) | %s ms | <= 300 ms |\n' $((t1-t0))
printf '| start-up to first answer (1,001 peers) | %s ms | <= 300 ms |\n' $((t3-t2))
printf '| add 1,000 peers (one bulk request) | %s ms | <= 680 ms |\n' $((b1-b0))
printf '| add one peer when 1,000 exist | %s ms | <= 10 ms |\n' $((o1-o0))
printf '| list 1,001 peers (best of 5) | %s ms | <= 20 ms |\n' $best_list
printf '| idle RSS with 1,001 peers | %s KiB (%s threads) | <= 12 MiB |\n' "$rss_kb" "$threads"
