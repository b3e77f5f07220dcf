#!/usr/bin/env bash
# Installs what the VS Code end-to-end run needs, from package registries only:
#   Debian: chromium (the browser), ripgrep (code-server's search binary), libkrb5-dev (kerberos build)
#   npm:    code-server 4.100.3 (VS Code 1.100.3; the last release for Node 20) and playwright-core
# code-server's postinstall runs `npm install` in lib/vscode, where @vscode/ripgrep downloads rg
# from GitHub unless its download cache already holds the release asset: we put Debian's rg there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

missing=()
for package in chromium ripgrep libkrb5-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "e2e setup: apt-get install ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# @vscode/ripgrep 1.15.11 (pinned by code-server 4.100.3's lib/vscode/npm-shrinkwrap.json) fetches
# release v13.0.0-10 into $TMPDIR/vscode-ripgrep-cache-<npm version>/ripgrep-<release>-<target>.tar.gz
# and untars `rg` from the archive's top level.
rg_npm_version=1.15.11
rg_release=v13.0.0-10
case "$(uname -m)" in
  x86_64) rg_target=x86_64-unknown-linux-musl ;;
  aarch64) rg_target=aarch64-unknown-linux-musl ;;
  *) echo "e2e setup: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
cache_dir="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$rg_npm_version"
asset="$cache_dir/ripgrep-$rg_release-$rg_target.tar.gz"
if [[ ! -s "$asset" ]]; then
  mkdir -p "$cache_dir"
  staging=$(mktemp -d)
  cp "$(command -v rg)" "$staging/rg"
  tar -czf "$asset" -C "$staging" rg
  rm -rf "$staging"
fi

cd "$here"
if [[ ! -x node_modules/.bin/code-server || package-lock.json -nt node_modules/.installed ]]; then
  export npm_config_yes=true npm_config_unsafe_perm=true
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
  touch node_modules/.installed
fi
node_modules/.bin/code-server --version
