#!/usr/bin/env bash
# Finds or installs the Bicep CLI and prints its path (the only thing written to stdout).
#
#   1. $BICEP, when set to an executable;
#   2. `bicep` on PATH (or the one `az bicep install` puts in ~/.azure/bin), used as is;
#   3. otherwise the version pinned in infra/tools/bicep-cli.csproj, fetched from NuGet by
#      `dotnet restore` (package Azure.Bicep.CommandLine.linux-x64, whose tools/bicep is a
#      self-contained binary) and linked as .tools/bin/bicep.
#
# Usage: bicep="$(bash scripts/install-bicep.sh)"
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
project="$root/infra/tools/bicep-cli.csproj"
link="$root/.tools/bin/bicep"

say() { echo "install-bicep: $*" >&2; }

found() {
  say "using $1 ($("$1" --version 2>/dev/null | head -n 1))"
  echo "$1"
  exit 0
}

if [[ -n "${BICEP:-}" ]]; then
  [[ -x "$BICEP" ]] || { say "BICEP=$BICEP is not an executable"; exit 1; }
  found "$BICEP"
fi
if command -v bicep >/dev/null 2>&1; then
  found "$(command -v bicep)"
fi
if [[ -x "$HOME/.azure/bin/bicep" ]]; then
  found "$HOME/.azure/bin/bicep"
fi

if [[ "$(uname -s)" != Linux || "$(uname -m)" != x86_64 ]]; then
  say "no bicep on PATH, and the NuGet fallback is for Linux x64 only: install Bicep (az bicep install)"
  exit 1
fi

version="$(sed -n 's:.*<BicepVersion>\(.*\)</BicepVersion>.*:\1:p' "$project")"
[[ -n "$version" ]] || { say "no <BicepVersion> in $project"; exit 1; }

# Where NuGet keeps packages: $NUGET_PACKAGES, else the user's global packages folder.
packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
binary="$packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"

if [[ ! -f "$binary" ]]; then
  command -v dotnet >/dev/null 2>&1 || {
    say "no bicep on PATH and no dotnet to fetch it with: install Bicep or the .NET SDK"
    exit 1
  }
  say "restoring Azure.Bicep.CommandLine.linux-x64 $version with dotnet"
  dotnet restore "$project" --nologo --verbosity quiet >&2
  if [[ ! -f "$binary" ]]; then
    # A NuGet.Config may move the global packages folder: ask dotnet where it is.
    packages="$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')"
    binary="${packages%/}/azure.bicep.commandline.linux-x64/$version/tools/bicep"
  fi
  [[ -f "$binary" ]] || { say "restore finished but $binary is missing"; exit 1; }
fi

# NuGet extracts files without their execute bit.
[[ -x "$binary" ]] || chmod +x "$binary"
mkdir -p "$(dirname "$link")"
ln -sfn "$binary" "$link"
found "$link"
