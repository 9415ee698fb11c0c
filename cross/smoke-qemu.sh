#!/usr/bin/env bash
# cross/smoke-qemu.sh BINARY
#
# Smoke test of a cross-built wgclusterd under qemu user-mode emulation
# (qemu-aarch64 for an aarch64 binary; an x86_64 binary on an x86_64 host runs
# natively). Installs Debian's qemu-user with apt-get when it is missing.
#
#   1. wgclusterd --version
#   2. wgclusterd init --config CFG     (temp data_dir, free 127.0.0.1 ports,
#                                        control socket and uapi dir in the temp dir)
#   3. wgclusterd run --config CFG &    then poll GET /api/health until it answers
#                                        {"status":true,...} (bounded wait)
#   3b. wgclusterd rpcd list prints one JSON object; SIGHUP keeps it running and healthy
#   4. SIGTERM, wait for a clean exit (status 0)
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

need_cmd_pkg() { # CMD PKG: apt-get install PKG when CMD is missing
    command -v "$1" >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || fail "$1 is missing and apt-get is not available (install $2)"
    log "installing $2 (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2"; } \
        >/dev/null 2>&1 || return 1
    command -v "$1" >/dev/null 2>&1
}

runner=()
if [ -n "${QEMU:-}" ]; then
    runner=("$QEMU")
elif [ "$qarch" = "$host_arch" ]; then
    runner=()
    log "binary is $qarch like the host: running natively"
else
    q=""
    for cand in "qemu-$qarch" "qemu-$qarch-static"; do
        if command -v "$cand" >/dev/null 2>&1; then q="$cand"; break; fi
    done
    if [ -z "$q" ]; then
        if need_cmd_pkg "qemu-$qarch" qemu-user; then q="qemu-$qarch"
        elif need_cmd_pkg "qemu-$qarch-static" qemu-user-static; then q="qemu-$qarch-static"
        else fail "could not install qemu-user or qemu-user-static (apt-get); qemu-$qarch is required"
        fi
    fi
    runner=("$q")
fi
need_cmd_pkg curl curl || fail "curl is required"
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
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local p i
    for i in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    fail "no free port found"
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

# ---- 3b. rpcd bridge and SIGHUP reload while running ------------------------------
if ! run rpcd list --config "$cfg" >"$tmp/rpcd-list.json" 2>"$tmp/rpcd-list.err"; then
    show_log "$tmp/rpcd-list.err"
    fail "'wgclusterd rpcd list' exited non-zero"
fi
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, dict) and d, "not a non-empty JSON object"' \
        "$tmp/rpcd-list.json" 2>"$tmp/rpcd-list.err" || { show_log "$tmp/rpcd-list.err"; fail "'wgclusterd rpcd list' did not print one JSON object"; }
else
    grep -q '^{' "$tmp/rpcd-list.json" || fail "'wgclusterd rpcd list' did not print a JSON object"
fi
log "step 3b ok: rpcd list ($(tr -cd ':' < "$tmp/rpcd-list.json" | wc -c) fields)"
kill -HUP "$pid"
sleep 1
hup_deadline=$(( $(date +%s) + timeout_s ))
while ! curl -fsS --max-time 3 "$url" 2>/dev/null | grep -Eq '"status"[[:space:]]*:[[:space:]]*true'; do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; rc=$?; pid=""; show_log "$tmp/run.log"; fail "'wgclusterd run' exited (status $rc) after SIGHUP"; }
    [ "$(date +%s)" -lt "$hup_deadline" ] || { show_log "$tmp/run.log"; fail "/api/health stopped answering after SIGHUP"; }
    sleep 0.25
done
log "step 3c ok: SIGHUP -> still running and healthy"

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
