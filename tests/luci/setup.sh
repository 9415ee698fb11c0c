#!/usr/bin/env bash
# Installs what the LuCI tests need: Node.js, Debian's chromium, and playwright-core as pinned in
# package.json / package-lock.json (playwright-core only drives the system chromium; it downloads
# no browser). Idempotent. Under CI=true a prerequisite that is still missing is an error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

problem() {
  if [ "${CI:-}" = "true" ]; then
    echo "tests/luci/setup.sh: $* (CI=true: failing)" >&2
    exit 1
  fi
  echo "tests/luci/setup.sh: WARNING: $*; the browser tests will be SKIPPED" >&2
}

apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null; }
}

command -v node >/dev/null || apt_install nodejs npm || true
command -v node >/dev/null || { echo "tests/luci/setup.sh: node is missing and could not be installed" >&2; exit 1; }
command -v npm >/dev/null || apt_install npm || true

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "tests/luci/setup.sh: installing chromium (Debian package)" >&2
  apt_install chromium || true
fi
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || problem "chromium is not installed (apt-get install -y chromium)"

want=$(node -p "require('$here/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('$here/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$have" != "$want" ]; then
  echo "tests/luci/setup.sh: npm ci (playwright-core $want)" >&2
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || problem "npm ci failed"
fi
