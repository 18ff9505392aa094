#!/usr/bin/env bash
# Builds the function app's deployment package in .tools/package/ (git-ignored):
#   dist/ (compiled from functions/ and shared/), host.json, package.json, package-lock.json and
#   node_modules with production dependencies only.
# `azd package` / `azd up` run this as the api service's prepackage hook and zip the folder
# (azure.yaml: dist: .tools/package). With --zip it also writes .tools/sendmode-connector.zip for
# `az functionapp deploy` (see docs/deploy.md).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
stage="$root/.tools/package"
zipfile="$root/.tools/sendmode-connector.zip"
cd "$root"

# The compiler is a dev dependency of the project itself.
[[ -x node_modules/.bin/tsc ]] || npm ci --no-audit --no-fund

rm -rf "$stage"
mkdir -p "$stage"
# Compile straight into the package, so no stale file of an earlier build in dist/ is shipped.
node_modules/.bin/tsc -p tsconfig.json --outDir "$stage/dist"
cp host.json package.json package-lock.json "$stage/"
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
rm -rf "$stage/node_modules/.bin"

echo "package-app: $stage ($(du -sh "$stage" | cut -f1))"

if [[ "${1:-}" == --zip ]]; then
  rm -f "$zipfile"
  if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -qr "$zipfile" .)
  else
    (cd "$stage" && python3 -m zipfile -c "$zipfile" ./*)
  fi
  echo "package-app: $zipfile ($(du -h "$zipfile" | cut -f1))"
fi
