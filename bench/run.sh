#!/usr/bin/env bash
# Benchmarks the release server on both stores and checks the performance targets; see
# docs/PERFORMANCE.md. Installs what it needs (wrk from Debian, SecantusDB into .venv/ as
# scripts/test.sh does, and for the peer comparison Node.js and bench/peers/better-auth's npm
# packages with `npm ci`), builds the server and bench/argon2-rate, then runs bench/bench.py, which
# prints one table and saves it as JSON under bench/results/, and bench/peers.py, which measures
# better-auth against our server in one sitting and saves bench/results/peers-<time>.json.
# Every scenario runs BENCH_DURATION seconds (default 10); bench.py takes about 7 minutes, the
# peer comparison about 5 more (BENCH_PEER_PAIRS alternating pairs, default 3).
# BENCH_PEERS=off skips the peer comparison, BENCH_PEERS=only runs it alone.
# Exits non-zero if a scenario could not run; a missed target is reported, not an error.
# Usage: bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_PEERS="${BENCH_PEERS:-on}"
case "$BENCH_PEERS" in
  on|off|only) ;;
  *) echo "BENCH_PEERS must be on, off or only, not '$BENCH_PEERS'" >&2; exit 2 ;;
esac
PEER_DIR=bench/peers/better-auth
NODE_MAJOR_MIN=20  # better-sqlite3 12 supports Node.js 20 and newer

SECANTUS_VERSION="0.7.0b3"
VENV="${VENV:-.venv}"
export VENV
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  # Refresh the package lists only when the package is not known yet.
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  apt_install wrk
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "==> installing python3 and venv"
  apt_install python3 python3-venv
fi
if ! python3 -c 'import cryptography' 2>/dev/null; then
  echo "==> installing python3-cryptography (the passkey scenario's software authenticator)"
  apt_install python3-cryptography
fi
if [ "$BENCH_PEERS" != only ] && [ ! -x "$VENV/bin/secantusd-py" ]; then
  echo "==> installing SecantusDB $SECANTUS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
fi
if [ "$BENCH_PEERS" != only ] && ! "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "==> installing aiosmtpd into $VENV (the forgot-password scenarios' slow SMTP server)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==1.4.6"
fi

if [ "$BENCH_PEERS" != off ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "==> installing Node.js and npm (the peer comparison's better-auth server)"
    apt_install nodejs npm
  fi
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$node_major" -lt "$NODE_MAJOR_MIN" ]; then
    echo "the peer comparison needs Node.js $NODE_MAJOR_MIN or newer (better-sqlite3 12); this" \
      "machine has $(node --version). Install a newer Node.js, or run with BENCH_PEERS=off." >&2
    exit 1
  fi
  # npm ci again only when the lock file changed since the last install (it builds better-sqlite3).
  if ! cmp -s "$PEER_DIR/package-lock.json" "$PEER_DIR/node_modules/.bench-installed-lock"; then
    echo "==> installing better-auth and better-sqlite3 into $PEER_DIR (npm ci)"
    if ! command -v make >/dev/null || ! command -v g++ >/dev/null; then
      # better-sqlite3 compiles its addon when no prebuilt one can be downloaded.
      apt_install make g++ python3
    fi
    # Without a download of Node.js's headers, node-gyp can use the packaged ones.
    if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ] \
      && [ "$(npm config get nodedir 2>/dev/null || true)" = "undefined" ]; then
      export npm_config_nodedir=/usr
    fi
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$PEER_DIR/package-lock.json" "$PEER_DIR/node_modules/.bench-installed-lock"
  fi
fi

echo "==> building the release server and bench/argon2-rate"
cargo build --release --locked --quiet
cargo build --release --locked --quiet --manifest-path bench/argon2-rate/Cargo.toml \
  --target-dir target/argon2-rate

BENCH_PID=""
cleanup() {
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background so that a signal to this script reaches the benchmark, which then stops the
# servers, databases and load generators it started.
run_bench() {
  python3 "$1" &
  BENCH_PID=$!
  local status=0
  wait "$BENCH_PID" || status=$?
  BENCH_PID=""
  return "$status"
}

status=0
if [ "$BENCH_PEERS" != only ]; then
  run_bench bench/bench.py || status=$?
fi
if [ "$BENCH_PEERS" != off ]; then
  run_bench bench/peers.py || status=$?
fi
exit "$status"
