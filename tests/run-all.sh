#!/usr/bin/env bash
# The whole test suite (the README's test command; .ci/run calls it).
# Builds once into ./target and reuses it; every layer below fails the run when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# The whole suite never skips: a lab test whose prerequisite is missing fails (tests/src/lab.rs).
export CI=true
# Fuzz targets (fuzz/README.md): seconds per target in this run, and a fixed seed so that a red run
# is reproducible as it stands; tests/scripts/fuzz-long.sh explores new seeds for longer.
export WGC_FUZZ_SECS="${WGC_FUZZ_SECS:-20}"
export WGC_FUZZ_SEED="${WGC_FUZZ_SEED:-20261207}"
start=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

step "prerequisites"
bash tests/scripts/prereqs.sh

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "build"
cargo build --workspace --all-targets

step "unit, property, storage-conformance and integration tests (real daemon, network lab)"
cargo test --workspace --no-fail-fast -- --test-threads=1

step "LuCI app: contract, syntax and headless Chromium (real daemon through the real rpcd bridge)"
WGCLUSTERD="$PWD/target/debug/wgclusterd" bash tests/luci/run.sh

step "router chain: x86_64 + aarch64 + mipsel musl release builds, size budget, qemu-user smoke, apk/ipk packages and feeds, package tests"
export CARGO_TARGET_DIR="$PWD/target/cross"
bash cross/all.sh x86_64 aarch64_cortex-a53 mipsel_24kc
bin_x86="$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/wgclusterd"

step "footprint: RSS and threads of the x86_64 musl build at 1,000 peers against the budgets"
bash tests/bench/footprint.sh "$bin_x86"

step "kernel WireGuard: the x86_64 musl build in a Debian kernel under QEMU"
bash tests/vm/run.sh "$bin_x86"

step "done"
