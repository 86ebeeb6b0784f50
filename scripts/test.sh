#!/usr/bin/env bash
# The whole test suite, on both stores. Brings up a MongoDB-compatible server (SecantusDB, from
# PyPI, in a venv under .venv/) on a free port unless TEST_MONGO_URL already names a MongoDB, runs
# `cargo test`, and stops the server again. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

SECANTUS_VERSION="0.7.0b3"
VENV="${VENV:-.venv}"

start_test_mongo() {
  if [ ! -x "$VENV/bin/secantusd-py" ]; then
    echo "==> installing SecantusDB $SECANTUS_VERSION into $VENV (test-only MongoDB wire-protocol server)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  MONGO_LOG=$(mktemp)
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path :memory: --log-level WARNING >"$MONGO_LOG" 2>&1 &
  MONGO_PID=$!
  trap stop_test_mongo EXIT
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)))"; then
      export TEST_MONGO_URL="mongodb://127.0.0.1:$port"
      echo "==> SecantusDB listening on $TEST_MONGO_URL (pid $MONGO_PID)"
      return
    fi
    if ! kill -0 "$MONGO_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "SecantusDB did not start:" >&2
  cat "$MONGO_LOG" >&2
  exit 1
}

stop_test_mongo() {
  if [ -n "${MONGO_PID:-}" ]; then
    kill "$MONGO_PID" 2>/dev/null || true
    wait "$MONGO_PID" 2>/dev/null || true
  fi
}

if [ -n "${TEST_MONGO_URL:-}" ]; then
  echo "==> using the MongoDB at TEST_MONGO_URL"
else
  start_test_mongo
fi

echo "==> cargo test (every API test runs on sqlite and on mongo)"
cargo test "$@"
