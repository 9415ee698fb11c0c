#!/bin/sh
# /init of the kernel WireGuard VM test (tests/vm/run.sh builds the initramfs around it).
# Drives the daemon only through what the binary offers: `wgclusterd rpcd call` over its control
# socket for changes, `GET /v1/health` (no token) for the reconciler's counters. Prints one line
# per check, `VMTEST <name> PASS|FAIL <detail>`, then `VMTEST-END`, and powers the VM off.
# The host fails the test on any FAIL and on any check below ("# CHECK name") without a line.
#
# CHECK fallback_userspace     wg_backend=auto without the module: userspace (wireguard-go), reason logged
# CHECK backend_kernel         the module loaded: auto takes the kernel
# CHECK switch_to_kernel       the leftover wireguard-go interface of the previous run is replaced
# CHECK keys                   private key (its public key) and listen port programmed
# CHECK link                   IPv4 + IPv6 addresses, MTU, link up
# CHECK peers                  v4/v6 allowed IPs (the peers' allocated addresses), PSK set / absent
# CHECK ping                   a kernel-wg client in a namespace pings v4 and v6 through the tunnel
# CHECK drift_peer_removed     each drift below is put back by a resync and counted as drift
# CHECK drift_peer_added
# CHECK drift_private_key
# CHECK drift_listen_port
# CHECK drift_allowed_ips
# CHECK drift_psk
# CHECK drift_address
# CHECK drift_mtu
# CHECK drift_link_down
# CHECK drift_link_deleted
# CHECK ping_after_drift       the tunnel works again
# CHECK peers_1200             1,200 peers programmed
# CHECK no_false_drift         API changes racing the resyncs are not counted as drift
# CHECK restart_adoption       restart keeps the interface (same ifindex), no change made
# CHECK remove_old_order_slow  control: `ip link del` of a 1,000-peer link (the old order, peers
#                              still on it) blocks > 3 s: the condition the next check times
# CHECK remove_1000_fast       a 1,000-peer interface: gone ≤ 1 s after the API's answer, the
#                              removal call ≤ 1 s, the reconciler done with it (call returned,
#                              pass applied) ≤ 2 s after the answer
# CHECK live_to_userspace      SIGHUP wg_backend=userspace: wg0 moves to wireguard-go (all peers),
#                              no kernel wireguard link left, the client pings through it
# CHECK live_to_kernel         SIGHUP wg_backend=auto: back on the kernel (all peers), no
#                              wireguard-go or socket left, the client pings through it
# CHECK switch_to_userspace    wg_backend=userspace: the kernel interface is replaced by wireguard-go

export PATH=/usr/bin:/bin:/sbin
# Busybox's shell runs its own applets before PATH: iproute2's `ip` (netns, wireguard, veth
# support) by its full path.
ip() { /usr/bin/ip "$@"; }
CFG=/etc/wgcluster
LOG=/tmp/daemon.log
API=http://127.0.0.1:10086
DPID=

umask 077
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /var/run/wireguard /run/netns /data
chmod 0700 /data
# No module autoloading: the test loads wireguard itself, after the fallback check.
echo /nonexistent >/proc/sys/kernel/modprobe
ip link set lo up
insmod /modules/tun.ko

now_ms() {
	read -r up _ </proc/uptime
	c=$(echo "$up" | tr -d . | sed 's/^0*//')
	echo $((${c:-0} * 10))
}
T0=$(now_ms)
echo
result() { # name PASS|FAIL detail...
	n=$1 r=$2
	shift 2
	echo "VMTEST $n $r t=$((($(now_ms) - T0) / 1000))s $*"
}
check() { # name detail -- command...: PASS when the command succeeds
	n=$1 d=$2
	shift 3
	if "$@"; then result "$n" PASS "$d"; else result "$n" FAIL "$d"; fi
}
# Polls a shell condition every 0.1 s for at most $1 seconds.
wait_for() {
	limit=$(($(now_ms) + $1 * 1000))
	shift
	while [ "$(now_ms)" -lt "$limit" ]; do
		if eval "$@"; then return 0; fi
		sleep 0.1
	done
	eval "$@"
}

write_config() { # backend [resync period, s]
	cat >"$CFG" <<UCI
config daemon 'main'
	option node_id 'vm1'
	option data_dir '/data'
	option api_listen '127.0.0.1:10086'
	option cluster_listen '127.0.0.1:10087'
	option control_socket '/run/wgcluster.sock'
	option endpoint '127.0.0.1'
	option wg_backend '$1'
	option uapi_dir '/var/run/wireguard'
	option auto_init '1'
	option resync_interval_s '${2:-1}'
	option log_level 'info'
UCI
}

health() { timeout 5 wget -q -O - "$API/v1/health" 2>/dev/null; }
field() { health | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
# (busybox wget -T crashes on a refused connection: `timeout` bounds it instead)
api_ready() { timeout 5 wget -q -O - "$API/api/health" 2>/dev/null | grep -q '"leader":"vm1"'; }

start_daemon() {
	wgclusterd run --config "$CFG" >>"$LOG" 2>&1 &
	DPID=$!
	if ! wait_for 60 api_ready; then
		echo "# daemon did not come up; log:"
		tail -n 30 "$LOG" | sed 's/^/# /'
		return 1
	fi
	# The first pass (a full one) has run.
	wait_for 30 '[ "$(field passes)" -ge 1 ] 2>/dev/null'
}
stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID"
	i=0
	while kill -0 "$DPID" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	wait "$DPID" 2>/dev/null
	DPID=
}

# rpc METHOD JSON: the ubus method through `wgclusterd rpcd call`; prints the reply, fails unless
# the daemon said status true.
rpc() {
	out=$(printf '%s' "$2" | wgclusterd rpcd call "$1" --config "$CFG" 2>&1)
	case "$out" in
	*'"status":true'*) printf '%s\n' "$out" ;;
	*)
		echo "# rpc $1 failed: $(printf '%s' "$out" | head -c 400)" >&2
		return 1
		;;
	esac
}

kind_of() { ip -d link show "$1" 2>/dev/null | sed -n 's/^ *\(wireguard\|tun\) .*/\1/p' | head -n1; }
peer_count() { wg show "$1" peers 2>/dev/null | wc -l; }
has_peer() { wg show wg0 peers 2>/dev/null | grep -qxF "$1"; }
wggo_running() { pidof wireguard-go >/dev/null 2>&1; }
drift() { field drift_healed; }

finish() {
	stop_daemon
	echo "# daemon log (warnings and errors):"
	grep -E 'WARN|ERROR|drift|adopted|removed|backend' "$LOG" | tail -n 40 | sed 's/^/# /'
	echo "VMTEST-END t=$((($(now_ms) - T0) / 1000))s"
	poweroff -f
}

# ---------------------------------------------------------------- no module: userspace fallback
write_config auto
start_daemon || finish
rpc config_create '{"name":"wg0","address":["10.8.0.1/20","fd00:8::1/64"],"listen_port":51820,"mtu":1380}' >/dev/null
rpc config_node_assign '{"config":"wg0","node_id":"vm1"}' >/dev/null
wait_for 30 '[ "$(kind_of wg0)" = tun ] && wg show wg0 >/dev/null 2>&1'
check fallback_userspace "backend=$(field backend) kind=$(kind_of wg0)" -- \
	sh -c "[ '$(field backend)' = userspace ] && [ '$(kind_of wg0)' = tun ] && grep -q 'kernel WireGuard unavailable' $LOG"
stop_daemon
wggo_running || echo "# note: wireguard-go did not outlive the daemon"

# ---------------------------------------------------------------- the kernel backend
for m in $(cat /modules/wireguard.order); do insmod "/modules/$m.ko" || echo "# insmod $m failed"; done
start_daemon || finish
check backend_kernel "backend=$(field backend)" -- sh -c "[ '$(field backend)' = kernel ]"
wait_for 20 '[ "$(kind_of wg0)" = wireguard ] && ! wggo_running'
check switch_to_kernel "kind=$(kind_of wg0)" -- sh -c "[ '$(kind_of wg0)' = wireguard ] && ! pidof wireguard-go >/dev/null"

SRVPUB=$(rpc configs_list '{}' | sed -n 's/.*"name":"wg0"[^}]*"public_key":"\([^"]*\)".*/\1/p; s/.*"public_key":"\([^"]*\)"[^}]*"name":"wg0".*/\1/p' | head -n1)
check keys "pub=$SRVPUB port=$(wg show wg0 listen-port)" -- \
	sh -c "[ '$(kind_of wg0)' = wireguard ] && [ -n '$SRVPUB' ] && [ \"\$(wg show wg0 public-key)\" = '$SRVPUB' ] && [ \"\$(wg show wg0 listen-port)\" = 51820 ] && [ \"\$(wg show wg0 private-key)\" != '(none)' ]"
link_ok() {
	[ "$(kind_of wg0)" = wireguard ] &&
		ip -o addr show dev wg0 | grep -q 'inet 10.8.0.1/20' &&
		ip -o addr show dev wg0 | grep -q 'inet6 fd00:8::1/64' &&
		[ "$(cat /sys/class/net/wg0/mtu)" = 1380 ] &&
		ip link show wg0 | grep -q '<[^>]*UP'
}
check link "mtu=$(cat /sys/class/net/wg0/mtu) $(ip -o addr show dev wg0 | awk '{print $4}' | tr '\n' ' ')" -- link_ok

wg genkey >/tmp/c.key
CPUB=$(wg pubkey </tmp/c.key)
wg genpsk >/tmp/c.psk
PSK=$(cat /tmp/c.psk)
# The daemon allocates each peer's tunnel addresses (v4 and v6) from the config's networks.
C1=$(rpc peer_create "{\"config\":\"wg0\",\"name\":\"c1\",\"public_key\":\"$CPUB\",\"preshared_key\":\"$PSK\"}")
C1V4=$(printf '%s' "$C1" | grep -o '10\.8\.[0-9]*\.[0-9]*/32' | head -n1)
C1V6=$(printf '%s' "$C1" | grep -o 'fd00:8::[0-9a-f]*/128' | head -n1)
LANPUB=$(wg genkey | wg pubkey)
LAN=$(rpc peer_create "{\"config\":\"wg0\",\"name\":\"lan\",\"public_key\":\"$LANPUB\",\"preshared_key\":\"none\"}")
LANV4=$(printf '%s' "$LAN" | grep -o '10\.8\.[0-9]*\.[0-9]*/32' | head -n1)
c1_ok() { wg show wg0 dump | grep -F "$CPUB" | grep -F "$PSK" | grep -q "$C1V4,$C1V6"; }
lan_ok() { wg show wg0 dump | grep -F "$LANPUB" | grep -F '(none)' | grep -q "$LANV4"; }
wait_for 10 'c1_ok && lan_ok'
peers_ok() { [ -n "$C1V4" ] && [ -n "$C1V6" ] && [ -n "$LANV4" ] && [ "$(peer_count wg0)" = 2 ] && c1_ok && lan_ok; }
check peers "$(wg show wg0 dump | tail -n +2 | cut -f1,2,4 | tr '\t\n' ' ;')" -- peers_ok

# The client: a kernel interface made in the root namespace (its UDP socket stays there) and
# moved into the namespace `cl`, so the tunnel runs over loopback.
ip netns add cl
ip -n cl link set lo up
ip link add wgc type wireguard
wg set wgc private-key /tmp/c.key peer "$SRVPUB" preshared-key /tmp/c.psk endpoint 127.0.0.1:51820 \
	allowed-ips 10.8.0.0/20,fd00:8::/64 persistent-keepalive 1
ip link set wgc netns cl
ip -n cl addr add "${C1V4%/32}/20" dev wgc
ip -n cl addr add "${C1V6%/128}/64" dev wgc nodad
ip -n cl link set wgc up
ping_ok() {
	nsenter --net=/run/netns/cl ping -c 1 -W 2 10.8.0.1 >/dev/null 2>&1 &&
		nsenter --net=/run/netns/cl ping6 -c 1 -W 2 fd00:8::1 >/dev/null 2>&1
}
wait_for 20 ping_ok
check ping "$C1V4 -> 10.8.0.1, $C1V6 -> fd00:8::1" -- ping_ok

# ---------------------------------------------------------------- drift, each kind healed
# drift_check NAME HEALED-CONDITION: waits (≤ 10 s) for the condition and for drift_healed to rise.
drift_check() {
	n=$1 cond=$2
	t=$(now_ms)
	if wait_for 10 "$cond && [ \"\$(drift)\" -gt $D0 ]"; then
		result "$n" PASS "healed in $(($(now_ms) - t)) ms, drift_healed $D0 -> $(drift)"
	else
		result "$n" FAIL "not healed within 10 s (drift_healed $D0 -> $(drift))"
	fi
	D0=$(drift)
}
wg genkey >/tmp/other.key
wg genpsk >/tmp/other.psk
D0=$(drift)
wg set wg0 peer "$CPUB" remove
drift_check drift_peer_removed c1_ok
STRAY=$(wg genkey | wg pubkey)
wg set wg0 peer "$STRAY" allowed-ips 10.8.0.250/32
drift_check drift_peer_added "! has_peer $STRAY"
wg set wg0 private-key /tmp/other.key
drift_check drift_private_key "[ \"\$(wg show wg0 public-key)\" = $SRVPUB ]"
wg set wg0 listen-port 51999
drift_check drift_listen_port "[ \"\$(wg show wg0 listen-port)\" = 51820 ]"
wg set wg0 peer "$CPUB" allowed-ips 10.8.0.77/32
drift_check drift_allowed_ips c1_ok
wg set wg0 peer "$CPUB" preshared-key /tmp/other.psk
drift_check drift_psk c1_ok
ip addr del 10.8.0.1/20 dev wg0
drift_check drift_address link_ok
ip link set wg0 mtu 1300
drift_check drift_mtu link_ok
ip link set wg0 down
drift_check drift_link_down link_ok
ip link del wg0
drift_check drift_link_deleted 'link_ok && c1_ok && lan_ok'
wait_for 25 ping_ok
check ping_after_drift "" -- ping_ok

# ---------------------------------------------------------------- 1,200 peers
bulk() { # config prefix count
	printf '{"config":"%s","peers":[' "$1"
	i=1
	while [ $i -le "$3" ]; do
		[ $i -gt 1 ] && printf ','
		printf '{"name":"%s%d","preshared_key":"none"}' "$2" $i
		i=$((i + 1))
	done
	printf ']}'
}
t=$(now_ms)
# In bulks of 200: one bulk of 1,198 can take longer than the API's 5 s commit wait here (TCG).
for b in 1 2 3 4 5 6; do
	n=200
	[ $b = 6 ] && n=198
	bulk wg0 "p${b}x" $n >/tmp/bulk.json
	rpc peer_create "$(cat /tmp/bulk.json)" >/dev/null
done
wait_for 60 '[ "$(peer_count wg0)" = 1200 ]'
check peers_1200 "$(peer_count wg0) peers in $(($(now_ms) - t)) ms" -- sh -c "[ $(peer_count wg0) = 1200 ]"

# API changes while resyncs run (1 s period; a full pass over 1,200 peers takes a while here):
# none of them is drift.
wait_for 5 '[ "$(field last_pass_ops)" = 0 ]'
D0=$(drift)
i=1
while [ $i -le 12 ]; do
	rpc peer_create "{\"config\":\"wg0\",\"name\":\"race$i\",\"preshared_key\":\"none\"}" >/dev/null
	sleep 0.$((i % 7 + 2))
	i=$((i + 1))
done
wait_for 20 '[ "$(peer_count wg0)" = 1212 ]'
sleep 2
check no_false_drift "12 API changes, drift_healed $D0 -> $(drift), $(peer_count wg0) peers" -- \
	sh -c "[ '$(drift)' = '$D0' ] && [ $(peer_count wg0) = 1212 ]"

# ---------------------------------------------------------------- removal: the old order (control)
# The link leaves /sys as soon as it is unregistered (0.44 s), but the deleting call returns only
# after the kernel has freed the peers still on it: ~17 ms each here (17-19 s per 1,000 peers,
# with or without endpoints, keepalives or load), blocking the reconciler that long; cleared
# first (one SET_DEVICE) they take 0.24 s. Control: the old order, timed on a 1,000-peer link
# like wg1 below (here, outside the 30 s resync window the removal below is timed in).
awk 'BEGIN { printf "[Interface]\n"; for (i = 1; i <= 1000; i++) printf "[Peer]\nPublicKey = %040dAAA=\nAllowedIPs = 10.20.%d.%d/32\n", i, int(i / 250), i % 250 + 1 }' >/tmp/old.conf
ip link add wgold type wireguard
wg setconf wgold /tmp/old.conf
ip link set wgold up
t=$(now_ms)
ip link del wgold
old_took=$(($(now_ms) - t))
check remove_old_order_slow "ip link del with 1,000 peers on it: $old_took ms" -- sh -c "[ $old_took -gt 3000 ]"

# ---------------------------------------------------------------- restart adoption
# From here on a 30 s resync period: no full pass (2,200 peers take a while under TCG) stands
# between a change and the pass it triggers, so the removal below is timed on its own.
IFX=$(cat /sys/class/net/wg0/ifindex)
stop_daemon
write_config auto 30
start_daemon
sleep 1
adopt_detail="ifindex $IFX -> $(cat /sys/class/net/wg0/ifindex), ops_total=$(field ops_total), passes=$(field passes), peers=$(peer_count wg0)"
check restart_adoption "$adopt_detail" -- sh -c "[ '$(cat /sys/class/net/wg0/ifindex)' = '$IFX' ] && [ '$(field ops_total)' = 0 ] && [ $(peer_count wg0) = 1212 ] && grep -q 'wg0: adopted' $LOG"

# ---------------------------------------------------------------- removing a 1,000-peer interface
rpc config_create '{"name":"wg1","address":["10.9.0.1/16"],"listen_port":51821}' >/dev/null
rpc config_node_assign '{"config":"wg1","node_id":"vm1"}' >/dev/null
for b in 1 2 3 4 5; do
	bulk wg1 "q${b}x" 200 >/tmp/bulk1.json
	rpc peer_create "$(cat /tmp/bulk1.json)" >/dev/null
done
wait_for 60 '[ "$(peer_count wg1)" = 1000 ]'
echo "# wg1 holds $(peer_count wg1) peers"
sleep 1
rpc config_delete '{"config":"wg1","force":true}' >/dev/null
# Timed from the committed change (the API answered) to the link gone and the reconciler done
# with it (its removal returned: logged right after); then the pass has applied the state.
t=$(now_ms)
wait_for 60 '[ ! -e /sys/class/net/wg1 ]'
gone=$(($(now_ms) - t))
wait_for 60 'grep -q "wg1: removed (no longer assigned" $LOG'
took=$(($(now_ms) - t))
wait_for 5 '[ "$(field applied_version)" = "$(field state_version)" ]'
# The removal call itself, as the reconciler logs it (the old order: 17-26 s here).
call=$(sed -n 's/.*wg1: removed (no longer assigned to this router) in \([0-9]*\) ms.*/\1/p' $LOG | tail -n1)
check remove_1000_fast "its 1,000-peer link gone $gone ms after the API's answer, removed by a $call ms call, the reconciler done after $took ms" -- \
	sh -c "[ ! -e /sys/class/net/wg1 ] && [ '$(field applied_version)' = '$(field state_version)' ] && [ $gone -le 1000 ] && [ -n '$call' ] && [ '${call:-99999}' -le 1000 ] && [ $took -le 2000 ]"

# ---------------------------------------------------------------- live switches by SIGHUP
# The client forgets its session (the new data plane has none), as a roaming client would after
# its rekey timeout; then the tunnel must work through the new interface.
client_reset() {
	nsenter --net=/run/netns/cl wg set wgc peer "$SRVPUB" remove
	nsenter --net=/run/netns/cl wg set wgc peer "$SRVPUB" preshared-key /tmp/c.psk endpoint 127.0.0.1:51820 \
		allowed-ips 10.8.0.0/20,fd00:8::/64 persistent-keepalive 1
}
kernel_links() { ip -o link show type wireguard 2>/dev/null | wc -l; }
write_config userspace 30
t=$(now_ms)
kill -HUP "$DPID"
wait_for 60 '[ "$(kind_of wg0)" = tun ] && [ "$(peer_count wg0)" = 1212 ] && grep -q "backend switched from kernel to userspace" $LOG'
took=$(($(now_ms) - t))
client_reset
wait_for 20 ping_ok
live_us() {
	[ "$(field backend)" = userspace ] && [ "$(kind_of wg0)" = tun ] && [ "$(peer_count wg0)" = 1212 ] &&
		[ "$(kernel_links)" = 0 ] && [ "$(pidof wireguard-go | wc -w)" = 1 ] && c1_ok && link_ok_us && ping_ok
}
link_ok_us() {
	ip -o addr show dev wg0 | grep -q 'inet 10.8.0.1/20' && [ "$(cat /sys/class/net/wg0/mtu)" = 1380 ]
}
check live_to_userspace "backend=$(field backend) kind=$(kind_of wg0) peers=$(peer_count wg0) kernel links=$(kernel_links) in $took ms" -- live_us
write_config auto 30
t=$(now_ms)
kill -HUP "$DPID"
wait_for 60 '[ "$(kind_of wg0)" = wireguard ] && [ "$(peer_count wg0)" = 1212 ] && grep -q "backend switched from userspace to kernel" $LOG'
took=$(($(now_ms) - t))
wait_for 10 '! wggo_running'
client_reset
wait_for 20 ping_ok
live_k() {
	[ "$(field backend)" = kernel ] && [ "$(kind_of wg0)" = wireguard ] && [ "$(peer_count wg0)" = 1212 ] &&
		! wggo_running && [ ! -e /var/run/wireguard/wg0.sock ] && c1_ok && link_ok && ping_ok
}
check live_to_kernel "backend=$(field backend) kind=$(kind_of wg0) peers=$(peer_count wg0) wireguard-go=$(pidof wireguard-go) in $took ms" -- live_k

# ---------------------------------------------------------------- back to userspace
stop_daemon
write_config userspace
start_daemon
wait_for 60 '[ "$(kind_of wg0)" = tun ] && [ "$(peer_count wg0)" = 1212 ]'
check switch_to_userspace "backend=$(field backend) kind=$(kind_of wg0) peers=$(peer_count wg0)" -- \
	sh -c "[ '$(field backend)' = userspace ] && [ '$(kind_of wg0)' = tun ] && [ $(peer_count wg0) = 1212 ]"

finish
