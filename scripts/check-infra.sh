#!/usr/bin/env bash
# Compiles infra/main.bicep to ARM JSON (.tools/infra/main.json, git-ignored) and lints every
# .bicep file with the rules in infra/bicepconfig.json. Fails on any error or warning (bicep lint
# exits 0 when it only warns, so its output is read too), and on a file `bicep format` would change.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bicep="$(bash scripts/install-bicep.sh)"
out="$root/.tools/infra"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
mkdir -p "$out"
problems=0

# Runs one bicep command, echoing its output; counts a failure, or any warning or error printed.
run() {
  local label="$1"
  shift
  local status=0
  "$bicep" "$@" >"$log" 2>&1 || status=$?
  if ((status != 0)); then
    echo "FAIL $label (exit code $status)"
    problems=$((problems + 1))
  elif grep -Eq '\b(Warning|Error)\b' "$log"; then
    echo "FAIL $label (warnings or errors)"
    problems=$((problems + 1))
  else
    echo "ok   $label"
  fi
  sed 's/^/     /' "$log"
}

run "build infra/main.bicep -> .tools/infra/main.json" build infra/main.bicep --outfile "$out/main.json"

mapfile -t files < <(find infra -name '*.bicep' -not -path '*/node_modules/*' | sort)
for file in "${files[@]}"; do
  run "lint $file" lint "$file"
  formatted="$out/formatted.bicep"
  if "$bicep" format "$file" --outfile "$formatted" >"$log" 2>&1 && cmp -s "$file" "$formatted"; then
    echo "ok   format $file"
  else
    echo "FAIL format $file: run '$bicep format $file'"
    diff -u "$file" "$formatted" | head -n 40 || true
    problems=$((problems + 1))
  fi
  rm -f "$formatted"
done

if ((problems > 0)); then
  echo "infra: $problems problem(s) in ${#files[@]} Bicep files"
  exit 1
fi
echo "infra: ${#files[@]} Bicep files build, lint and format clean ($("$bicep" --version | head -n 1))"
