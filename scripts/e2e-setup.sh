#!/usr/bin/env bash
# Installs what the end-to-end tests (test/e2e/) and `npm run demo -- --vscode`
# need to run real VS Code offline: code-server 4.100.3 (VS Code 1.100.3; later
# versions need Node 22) and playwright-core into .cache/code-server (ignored by
# git), and Debian's chromium, ripgrep and libkrb5-dev. Nothing is downloaded
# except from the npm registry and Debian's archive. Does nothing that is done.
#
# Why each step: code-server's own postinstall refuses root and downloads
# ripgrep, so it is installed with --ignore-scripts and its parts are finished
# by hand: VS Code's production modules, Debian's rg in place of the download,
# the native modules rebuilt (kerberos needs libkrb5-dev), the built-in
# extensions' modules, node_modules.asar pointing at node_modules, and argon2
# (allowed in this directory's package.json, as npm 11 wants).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir="$root/.cache/code-server"
version=4.100.3
stamp="$dir/.installed-$version"

apt_need=()
[ -x /usr/bin/chromium ] || apt_need+=(chromium)
command -v rg >/dev/null 2>&1 || apt_need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || apt_need+=(libkrb5-dev)
if [ "${#apt_need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "e2e-setup: need root to apt-get install ${apt_need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_need[@]}"
fi

if [ -f "$stamp" ] && [ -f "$dir/node_modules/playwright-core/package.json" ]; then
  echo "e2e-setup: code-server $version and playwright-core already installed in ${dir#"$root"/}"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
# A package.json of its own: argon2's install script must be allowed here, and
# code-server's own postinstall (which refuses root and downloads ripgrep) must not run.
cat > package.json <<'JSON'
{ "name": "slipstream-e2e-code-server", "private": true, "allowScripts": { "argon2": true } }
JSON
echo "e2e-setup: installing code-server $version (VS Code 1.100.3) and playwright-core into ${dir#"$root"/}..."
npm install --no-audit --no-fund --ignore-scripts "code-server@$version" playwright-core >/dev/null
vscode="$dir/node_modules/code-server/lib/vscode"
(cd "$vscode" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >/dev/null)
mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
cp "$(command -v rg)" "$vscode/node_modules/@vscode/ripgrep/bin/rg"
(cd "$vscode" && npm_config_yes=true npm rebuild --ignore-scripts=false kerberos node-pty @vscode/spdlog native-watchdog @parcel/watcher @vscode/deviceid >/dev/null)
(cd "$vscode/extensions" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >/dev/null)
ln -sfn node_modules "$vscode/node_modules.asar"
npm rebuild argon2 >/dev/null
touch "$stamp"
echo "e2e-setup: done (${SECONDS} s)"
