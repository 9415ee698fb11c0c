#!/bin/sh
# Scale benchmark (issue #13): three routers in the network lab (namespaces, one wireguard-go
# each), release wgclusterd with the default Raft timing, 20,000 peers in Mode A. Builds the
# release daemon (the shipped profile) and runs the driver (`cargo bench`, dev profile: the
# driver only makes HTTP calls). The table goes to stdout; progress to stderr. Needs root and
# the lab's packages (tests/scripts/prereqs.sh).
set -eu
cd "$(dirname "$0")/../../.."
: "${CARGO_TARGET_DIR:=$PWD/target}"
export CARGO_TARGET_DIR
cargo build --release -p wgclusterd
export WGCLUSTERD_BIN="${WGCLUSTERD_BIN:-$CARGO_TARGET_DIR/release/wgclusterd}"
exec cargo bench --profile dev -p wgcluster-tests --bench scale "$@"
