#!/usr/bin/env bash
# cross/smoke-qemu.sh BINARY
#
# Smoke test of a cross-built wgclusterd under qemu user-mode emulation (qemu-aarch64, qemu-arm,
# qemu-mipsel, qemu-mips, picked from the ELF header; a binary of the host's arch runs natively).
# Installs nothing: a missing emulator, curl or python3 is an error (run tests/scripts/prereqs.sh).
#
#   1. wgclusterd --version
#   2. wgclusterd init --config CFG     (temp data_dir, free 127.0.0.1 ports,
#                                        control socket and uapi dir in the temp dir)
#   3. wgclusterd run --config CFG &    then poll GET /api/health until it answers
#                                        {"status":true,...} (bounded wait)
#   3b. wgclusterd rpcd list prints one JSON object
#   3c. a peer through the HTTP API (admin token): POST /api/configs, POST /api/configs/C/peers,
#       GET /api/configs/C/peers reads it back (id, name, address, public key); a second peer
#       through the control socket (`rpcd call peer_create`), and `rpcd call peers_list` shows both
#   3d. SIGHUP keeps it running and healthy
#   4. SIGTERM, wait for a clean exit (status 0)
#
# The config is not assigned to the node, so no WireGuard interface is created on the host: the
# test exercises the API, Raft, the store and key generation on the emulated CPU, not the data plane.
#
# Environment:
#   WGC_SMOKE_TIMEOUT       seconds to wait for /api/health (default 60: emulation is slow)
#   WGC_SMOKE_EXIT_TIMEOUT  seconds to wait for exit after SIGTERM (default 30)
#   WGC_SMOKE_BACKEND       wg_backend for the test config (default userspace: no
#                           kernel WireGuard is touched; qemu-user cannot translate
#                           generic netlink anyway)
#   WGC_SMOKE_KEEP=1        keep the temp dir (logs, data) for inspection
#   QEMU                    emulator to use (default: picked from the ELF machine)
# Exit status 0 when every step passed; otherwise 1 with a message saying which failed.
set -uo pipefail

[ "$#" -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
bin="$1"
timeout_s="${WGC_SMOKE_TIMEOUT:-60}"
exit_timeout_s="${WGC_SMOKE_EXIT_TIMEOUT:-30}"
backend="${WGC_SMOKE_BACKEND:-userspace}"

log()  { echo "smoke-qemu: $*" >&2; }
fail() { echo "smoke-qemu: FAIL: $*" >&2; exit 1; }

[ -f "$bin" ] || fail "binary not found: $bin"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# ---- which emulator ---------------------------------------------------------
magic="$(od -An -tx1 -N4 "$bin" | tr -d ' \n')"
[ "$magic" = 7f454c46 ] || fail "$bin is not an ELF executable"
read -r b0 b1 < <(od -An -tu1 -j18 -N2 "$bin")
if [ "$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')" = 2 ]; then mach=$((b0 * 256 + b1)); else mach=$((b1 * 256 + b0)); fi
case "$mach" in
    183) qarch=aarch64 ;;
    62)  qarch=x86_64 ;;
    40)  qarch=arm ;;
    8)   if [ "$(od -An -tu1 -j5 -N1 "$bin" | tr -d ' \n')" = 2 ]; then qarch=mips; else qarch=mipsel; fi ;;
    *)   fail "unsupported ELF machine $mach" ;;
esac
host_arch="$(uname -m)"

need() { # CMD WHAT
    command -v "$1" >/dev/null 2>&1 || fail "$1 not found ($2; run tests/scripts/prereqs.sh)"
}

runner=()
if [ -n "${QEMU:-}" ]; then
    runner=("$QEMU")
elif [ "$qarch" = "$host_arch" ]; then
    runner=()
    log "binary is $qarch like the host: running natively"
else
    q="qemu-$qarch"
    command -v "$q" >/dev/null 2>&1 || q="qemu-$qarch-static"
    need "$q" "the qemu-user emulator for $qarch, Debian package qemu-user"
    runner=("$q")
fi
need curl "Debian package curl"
need python3 "Debian package python3"
run() { "${runner[@]}" "$bin" "$@"; }
[ "${#runner[@]}" -gt 0 ] && log "emulator: $(command -v "${runner[0]}") ($("${runner[0]}" --version 2>/dev/null | head -n1))"

# ---- temp dir, ports, config --------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/wgcluster-smoke.XXXXXX")"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    if [ "${WGC_SMOKE_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
api_port="$(free_port)"
cluster_port="$(free_port)"
while [ "$cluster_port" = "$api_port" ]; do cluster_port="$(free_port)"; done

mkdir -p "$tmp/data" "$tmp/uapi"
cfg="$tmp/wgcluster.uci"
cat > "$cfg" <<EOF
config daemon 'main'
	option node_id 'smoke1'
	option data_dir '$tmp/data'
	option api_listen '127.0.0.1:$api_port'
	option cluster_listen '127.0.0.1:$cluster_port'
	option control_socket '$tmp/wgcluster.sock'
	option endpoint '127.0.0.1'
	option wg_backend '$backend'
	option wg_userspace_bin 'wireguard-go'
	option uapi_dir '$tmp/uapi'
	option auto_init '0'
	option log_level 'info'
EOF

show_log() { # FILE
    [ -s "$1" ] || return 0
    echo "----- $(basename "$1") (last 40 lines) -----" >&2
    tail -n 40 "$1" >&2
    echo "-----" >&2
}

# ---- 1. --version -------------------------------------------------------------
t0=$(date +%s.%N)
if ! version="$(run --version 2>"$tmp/version.err")"; then
    show_log "$tmp/version.err"
    fail "'wgclusterd --version' exited non-zero"
fi
[ -n "$version" ] || fail "'wgclusterd --version' printed nothing"
log "step 1 ok: --version: $version ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s)"

# ---- 2. init --------------------------------------------------------------------
if ! run init --config "$cfg" >"$tmp/init.log" 2>&1; then
    show_log "$tmp/init.log"
    fail "'wgclusterd init --config $cfg' exited non-zero"
fi
[ -f "$tmp/data/admin.token" ] || { show_log "$tmp/init.log"; fail "init did not create <data_dir>/admin.token"; }
mode="$(stat -c %a "$tmp/data/admin.token")"
[ "$mode" = 600 ] || fail "<data_dir>/admin.token has mode $mode, want 600"
log "step 2 ok: init (admin.token mode 600)"

# ---- 3. run + /api/health -------------------------------------------------------
url="http://127.0.0.1:$api_port/api/health"
start=$(date +%s.%N)
# a simple command (not the run() function): $! is then the daemon (or qemu) itself
"${runner[@]}" "$bin" run --config "$cfg" >"$tmp/run.log" 2>&1 &
pid=$!
log "step 3: run started (pid $pid), polling $url for up to ${timeout_s}s"
deadline=$(( $(date +%s) + timeout_s ))
body=""
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"; rc=$?; pid=""
        show_log "$tmp/run.log"
        fail "'wgclusterd run' exited (status $rc) before /api/health answered"
    fi
    if body="$(curl -fsS --max-time 3 "$url" 2>/dev/null)"; then
        break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        show_log "$tmp/run.log"
        fail "GET /api/health did not answer within ${timeout_s}s"
    fi
    sleep 0.25
done
elapsed="$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')"
if ! printf '%s' "$body" | grep -Eq '"status"[[:space:]]*:[[:space:]]*true'; then
    show_log "$tmp/run.log"
    fail "GET /api/health answered without \"status\": true: $body"
fi
log "step 3 ok: /api/health answered after ${elapsed}s: $(printf '%s' "$body" | head -c 200)"

# ---- 3b. rpcd bridge ------------------------------
if ! run rpcd list --config "$cfg" >"$tmp/rpcd-list.json" 2>"$tmp/rpcd-list.err"; then
    show_log "$tmp/rpcd-list.err"
    fail "'wgclusterd rpcd list' exited non-zero"
fi
# jcheck FILE WHAT PYTHON-EXPR: FILE holds one JSON document `d` for which EXPR is true
jcheck() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert eval(sys.argv[2]), "assertion does not hold"' "$1" "$3" 2>"$1.err" \
        || { echo "----- $(basename "$1") -----" >&2; head -c 2000 "$1" >&2; echo >&2; show_log "$1.err"; fail "$2"; }
}
jcheck "$tmp/rpcd-list.json" "'wgclusterd rpcd list' did not print one non-empty JSON object" \
    'isinstance(d, dict) and "peer_create" in d and "peers_list" in d'
log "step 3b ok: rpcd list ($(tr -cd ':' < "$tmp/rpcd-list.json" | wc -c) fields)"
# ---- 3c. a peer through the API, one through the control socket, both read back -----
api="http://127.0.0.1:$api_port"
auth="Authorization: Bearer $(cat "$tmp/data/admin.token")"
post() { # PATH BODY OUT
    local code
    code="$(curl -sS --max-time 30 -o "$3" -w '%{http_code}' -H "$auth" -H 'Content-Type: application/json' \
        -X POST "$api$1" -d "$2")" || fail "POST $1: curl failed"
    [ "$code" = 200 ] || [ "$code" = 201 ] || { head -c 1000 "$3" >&2; echo >&2; show_log "$tmp/run.log"; fail "POST $1 answered HTTP $code"; }
}
post /api/configs '{"name":"smoke0","address":"10.208.0.1/24","listen_port":51820}' "$tmp/config.json"
jcheck "$tmp/config.json" "POST /api/configs did not create config smoke0" \
    'd["status"] is True and d["data"]["name"] == "smoke0" and len(d["data"]["public_key"]) == 44'
post /api/configs/smoke0/peers '{"name":"smoke-api-peer"}' "$tmp/peer.json"
jcheck "$tmp/peer.json" "POST /api/configs/smoke0/peers did not create the peer" \
    'd["status"] is True and d["data"]["name"] == "smoke-api-peer" and d["data"]["config"] == "smoke0" and d["data"]["address"] == "10.208.0.2/32" and len(d["data"]["public_key"]) == 44 and d["data"]["has_private_key"] is True'
peer_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["id"])' "$tmp/peer.json")"
curl -fsS --max-time 30 -H "$auth" "$api/api/configs/smoke0/peers" >"$tmp/peers.json" \
    || { show_log "$tmp/run.log"; fail "GET /api/configs/smoke0/peers failed"; }
jcheck "$tmp/peers.json" "GET /api/configs/smoke0/peers does not list the peer just created" \
    'd["status"] is True and [(p["id"], p["name"], p["address"]) for p in d["data"]] == [("'"$peer_id"'", "smoke-api-peer", "10.208.0.2/32")]'
log "step 3c ok: peer $peer_id created through the API and read back"
echo '{"config":"smoke0","name":"smoke-rpcd-peer"}' | run rpcd call peer_create --config "$cfg" >"$tmp/rpcd-create.json" 2>"$tmp/rpcd-create.err" \
    || { show_log "$tmp/rpcd-create.err"; fail "'wgclusterd rpcd call peer_create' exited non-zero"; }
jcheck "$tmp/rpcd-create.json" "'rpcd call peer_create' did not create the peer" \
    'd["status"] is True and d["data"]["name"] == "smoke-rpcd-peer" and d["data"]["address"] == "10.208.0.3/32"'
echo '{"config":"smoke0"}' | run rpcd call peers_list --config "$cfg" >"$tmp/rpcd-peers.json" 2>"$tmp/rpcd-peers.err" \
    || { show_log "$tmp/rpcd-peers.err"; fail "'wgclusterd rpcd call peers_list' exited non-zero"; }
jcheck "$tmp/rpcd-peers.json" "'rpcd call peers_list' does not show both peers" \
    'd["status"] is True and sorted(p["name"] for p in d["data"]) == ["smoke-api-peer", "smoke-rpcd-peer"]'
log "step 3c ok: second peer through the control socket (rpcd call peer_create), peers_list shows both"

# ---- 3d. SIGHUP reload while running ------------------------------------------------
kill -HUP "$pid"
sleep 1
hup_deadline=$(( $(date +%s) + timeout_s ))
while ! curl -fsS --max-time 3 "$url" 2>/dev/null | grep -Eq '"status"[[:space:]]*:[[:space:]]*true'; do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; rc=$?; pid=""; show_log "$tmp/run.log"; fail "'wgclusterd run' exited (status $rc) after SIGHUP"; }
    [ "$(date +%s)" -lt "$hup_deadline" ] || { show_log "$tmp/run.log"; fail "/api/health stopped answering after SIGHUP"; }
    sleep 0.25
done
log "step 3d ok: SIGHUP -> still running and healthy"

# ---- 4. SIGTERM -> clean exit ----------------------------------------------------
kill -TERM "$pid"
deadline=$(( $(date +%s) + exit_timeout_s ))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        show_log "$tmp/run.log"
        fail "'wgclusterd run' still running ${exit_timeout_s}s after SIGTERM"
    fi
    sleep 0.2
done
wait "$pid"; rc=$?; pid=""
if [ "$rc" -ne 0 ]; then
    show_log "$tmp/run.log"
    fail "'wgclusterd run' exited with status $rc after SIGTERM (want 0: clean exit)"
fi
log "step 4 ok: SIGTERM -> exit status 0"
echo "smoke-qemu: PASS ($qarch${runner:+ under ${runner[0]}}; health after ${elapsed}s)"
