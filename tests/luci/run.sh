#!/usr/bin/env bash
# The LuCI app's tests (CI: `bash tests/luci/run.sh`):
#   static.test.js    every view compiles in LuCI's module wrapper, feed layout, menu, .pot up to date
#   contract.test.js  views ⊆ ACL ⊆ `wgclusterd rpcd list`; every method through `rpcd call` on a real daemon
#   browser.test.js   the views in headless Chromium on the real LuCI 25.12 runtime (vendored), real
#                     daemon, real rpcd bridge, emulated /ubus enforcing the ACL per login (admin, read-only)
# Builds wgclusterd unless WGCLUSTERD points at a binary. Screenshots: tests/artifacts/luci/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

bash "$repo/tests/luci/setup.sh"

if [ -z "${WGCLUSTERD:-}" ]; then
  (cd "$repo" && cargo build -p wgclusterd --quiet)
  target=${CARGO_TARGET_DIR:-$repo/target}
  case "$target" in /*) ;; *) target=$repo/$target ;; esac
  export WGCLUSTERD=$target/debug/wgclusterd
fi

cd "$repo/tests/luci"
exec node --test test/static.test.js test/contract.test.js test/browser.test.js
