#!/usr/bin/env bash
# Runs a one-router cluster on the embedded defaults (examples/wgcluster), in the foreground.
# Data lives in /tmp/wgcluster-example; Ctrl-C stops it. The admin token is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p wgclusterd
mkdir -p /tmp/wgcluster-example
bin=./target/debug/wgclusterd
$bin run --config examples/wgcluster &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:10086/api/health >/dev/null 2>&1 && break
  sleep 0.1
done
token=$(cat /tmp/wgcluster-example/data/admin.token)
echo
echo "wgclusterd is running: http://127.0.0.1:10086  (token: /tmp/wgcluster-example/data/admin.token)"
echo "try:  curl -H \"Authorization: Bearer $token\" http://127.0.0.1:10086/api/cluster"
echo
wait $pid
