#!/bin/sh
# Cluster benchmark: leader fail-over time and write throughput of a 3-router cluster on loopback.
# Builds a release wgclusterd (the shipped profile) and runs the driver (`cargo bench`, dev
# profile: the driver only makes HTTP calls). Numbers go to stdout; progress to stderr.
set -eu
cd "$(dirname "$0")/../../.."
: "${CARGO_TARGET_DIR:=$PWD/target}"
export CARGO_TARGET_DIR
cargo build --release -p wgclusterd
export WGCLUSTERD_BIN="${WGCLUSTERD_BIN:-$CARGO_TARGET_DIR/release/wgclusterd}"
exec cargo bench --profile dev -p wgcluster-tests --bench cluster "$@"
