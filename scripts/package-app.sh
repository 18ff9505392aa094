#!/usr/bin/env bash
# Builds the function app's deployment package in .tools/package/ (git-ignored):
#   dist/app/ (the esbuild bundle of functions/ and shared/ with its npm dependencies inside:
#   main.js, the chunks it loads on first use, and their .js.map source maps), host.json and a
#   package.json whose `main` is dist/app/main.js. No node_modules: nothing is left unbundled
#   (`@azure/functions-core`, the one external, is supplied by the Functions worker).
# `azd package` / `azd up` run this as the api service's prepackage hook and zip the folder
# (azure.yaml: dist: .tools/package). With --zip it also writes .tools/sendmode-connector.zip for
# `az functionapp deploy` (see docs/deploy.md). PACKAGE_DIR=<dir> stages somewhere else (tests).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
stage="${PACKAGE_DIR:-$root/.tools/package}"
zipfile="$root/.tools/sendmode-connector.zip"
cd "$root"

# The bundler is a dev dependency of the project itself.
[[ -x node_modules/.bin/tsx && -d node_modules/esbuild ]] || npm ci --no-audit --no-fund

rm -rf "$stage"
mkdir -p "$stage"
# Bundle straight into the package, so no stale file of an earlier build is shipped.
node_modules/.bin/tsx scripts/bundle.ts --outdir "$stage/dist/app"
rm -f "$stage/dist/app/build.json"
cp host.json "$stage/"
# package.json for the worker: `main` and `type` (and what identifies the app), no dependencies.
node -e '
  const source = require("./package.json");
  const { name, version, description, type, main, engines } = source;
  const shipped = { name, version, private: true, description, type, main, engines };
  require("fs").writeFileSync(process.argv[1], JSON.stringify(shipped, null, 2) + "\n");
' "$stage/package.json"

echo "package-app: $stage ($(du -sh "$stage" | cut -f1), $(find "$stage" -type f | wc -l) files)"

if [[ "${1:-}" == --zip ]]; then
  rm -f "$zipfile"
  if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -qr "$zipfile" .)
  else
    (cd "$stage" && python3 -m zipfile -c "$zipfile" ./*)
  fi
  echo "package-app: $zipfile ($(du -h "$zipfile" | cut -f1))"
fi
