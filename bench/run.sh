#!/usr/bin/env bash
# Benchmarks the release server on both stores and checks the performance targets; see
# docs/PERFORMANCE.md. Installs what it needs (wrk from Debian, SecantusDB into .venv/ as
# scripts/test.sh does), builds the server and bench/argon2-rate, then runs bench/bench.py, which
# prints one table and saves it as JSON under bench/results/.
# Every scenario runs BENCH_DURATION seconds (default 10); the whole run takes about 5 minutes.
# Exits non-zero if a scenario could not run; a missed target is reported, not an error.
# Usage: bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

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
if [ ! -x "$VENV/bin/secantusd-py" ]; then
  echo "==> installing SecantusDB $SECANTUS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
fi
if ! "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "==> installing aiosmtpd into $VENV (the forgot-password scenarios' slow SMTP server)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==1.4.6"
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
python3 bench/bench.py &
BENCH_PID=$!
status=0
wait "$BENCH_PID" || status=$?
BENCH_PID=""
exit "$status"
