#!/usr/bin/env bash
# The whole test suite, on both stores. Installs SecantusDB (a MongoDB wire-protocol server from
# PyPI, used only as a test tool) into a venv under .venv/, starts it on a free port unless
# TEST_MONGO_URL already names a MongoDB, runs `cargo test`, and stops the server again.
# The fault tests start and kill their own database process through TEST_MONGOD_CMD.
# The mail tests need a real SMTP server: aiosmtpd (PyPI, same venv) writing a Maildir the tests
# read, started here as TEST_SMTP_URL / TEST_MAILDIR; the outbox tests start and stop their own
# through TEST_SMTPD_CMD.
# The sign-in-with-provider tests need a real OpenID provider: panva's oidc-provider (npm, under
# tests/providers/), started here as TEST_OIDC_ISSUER unless that is already set, its signing keys
# written to TEST_OIDC_KEYS so tests can sign ID tokens of their own with them.
# First the structure checks (scripts/check-layers.py, scripts/check-standalone.sh).
# Then the fuzzing from the OpenAPI document (scripts/fuzz.sh), the pages in headless Chromium
# (scripts/browser-test.sh), the Postman collection with newman (scripts/postman-test.sh) and the
# container image built from the Dockerfile and run with podman (scripts/test-container.sh, on the
# binary `cargo test` built and the MongoDB started here);
# TEST_CARGO_ONLY=1 stops after `cargo test`, for a quick local loop.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

SECANTUS_VERSION="0.7.0b3"
AIOSMTPD_VERSION="1.4.6"
VENV="${VENV:-.venv}"
SECANTUSD="$PWD/$VENV/bin/secantusd-py"

install_secantus() {
  if [ ! -x "$SECANTUSD" ]; then
    echo "==> installing SecantusDB $SECANTUS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
  fi
}

install_aiosmtpd() {
  if ! "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    echo "==> installing aiosmtpd $AIOSMTPD_VERSION into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
  fi
}

wait_for_port() {
  local port=$1 pid=$2
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)))"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

start_test_smtp() {
  local port
  port=$(free_port)
  SMTP_DIR=$(mktemp -d)
  SMTP_LOG=$(mktemp)
  "$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$SMTP_DIR/mail" >"$SMTP_LOG" 2>&1 &
  SMTP_PID=$!
  if ! wait_for_port "$port" "$SMTP_PID"; then
    echo "aiosmtpd did not start:" >&2
    cat "$SMTP_LOG" >&2
    exit 1
  fi
  export TEST_SMTP_URL="smtp://127.0.0.1:$port"
  export TEST_MAILDIR="$SMTP_DIR/mail"
  echo "==> aiosmtpd listening on $TEST_SMTP_URL, writing $TEST_MAILDIR (pid $SMTP_PID)"
}

install_oidc_provider() {
  if [ ! -d tests/providers/node_modules/oidc-provider ]; then
    echo "==> installing oidc-provider (npm)"
    (cd tests/providers && npm install --no-audit --no-fund --silent)
  fi
}

start_test_oidc() {
  local port
  port=$(free_port)
  OIDC_KEYS=$(mktemp)
  OIDC_LOG=$(mktemp)
  node tests/providers/oidc-provider.js --port "$port" --keys-out "$OIDC_KEYS" >"$OIDC_LOG" 2>&1 &
  OIDC_PID=$!
  if ! wait_for_port "$port" "$OIDC_PID"; then
    echo "oidc-provider did not start:" >&2
    cat "$OIDC_LOG" >&2
    exit 1
  fi
  export TEST_OIDC_ISSUER="http://127.0.0.1:$port"
  export TEST_OIDC_KEYS="$OIDC_KEYS"
  echo "==> oidc-provider listening on $TEST_OIDC_ISSUER, keys in $TEST_OIDC_KEYS (pid $OIDC_PID)"
}

stop_test_servers() {
  stop_test_mongo
  if [ -n "${SMTP_PID:-}" ]; then
    kill "$SMTP_PID" 2>/dev/null || true
    wait "$SMTP_PID" 2>/dev/null || true
    rm -rf "$SMTP_DIR"
  fi
  if [ -n "${OIDC_PID:-}" ]; then
    kill "$OIDC_PID" 2>/dev/null || true
    wait "$OIDC_PID" 2>/dev/null || true
    rm -f "$OIDC_KEYS" "$OIDC_LOG"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_test_mongo() {
  local port
  port=$(free_port)
  MONGO_LOG=$(mktemp)
  "$SECANTUSD" --host 127.0.0.1 --port "$port" --storage-path :memory: --log-level WARNING --enable-test-commands >"$MONGO_LOG" 2>&1 &
  MONGO_PID=$!
  trap stop_test_servers EXIT
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)))"; then
      export TEST_MONGO_URL="mongodb://127.0.0.1:$port"
      echo "==> SecantusDB listening on $TEST_MONGO_URL (pid $MONGO_PID)"
      return
    fi
    kill -0 "$MONGO_PID" 2>/dev/null || break
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

# Structure checks, before anything is built: imports run down the layer order, and nothing in
# the repository refers to a path outside it.
python3 scripts/check-layers.py
scripts/check-standalone.sh

if [ -z "${TEST_MONGO_URL:-}" ] || [ -z "${TEST_MONGOD_CMD:-}" ]; then
  install_secantus
fi
if [ -n "${TEST_MONGO_URL:-}" ]; then
  echo "==> using the MongoDB at TEST_MONGO_URL"
else
  start_test_mongo
fi
install_aiosmtpd
trap stop_test_servers EXIT
if [ -z "${TEST_SMTP_URL:-}" ]; then
  start_test_smtp
fi
if [ -z "${TEST_OIDC_ISSUER:-}" ]; then
  install_oidc_provider
  start_test_oidc
else
  echo "==> using the OpenID provider at TEST_OIDC_ISSUER"
fi
# {port} and {dir} are filled in by the outbox tests.
export TEST_SMTPD_CMD="$PWD/$VENV/bin/python -m aiosmtpd -n -l 127.0.0.1:{port} -c aiosmtpd.handlers.Mailbox {dir}"
if [ -z "${TEST_MONGOD_CMD:-}" ]; then
  # {port} and {data} are filled in by the fault tests.
  export TEST_MONGOD_CMD="$SECANTUSD --host 127.0.0.1 --port {port} --storage-path {data} --sync-on-commit --log-level WARNING"
fi

echo "==> cargo test (every API test runs on sqlite and on mongo)"
TEST_LOG_FILE=$(mktemp)
cargo test "$@" 2>&1 | tee "$TEST_LOG_FILE"
# The store conformance suite: one behaviour per test, written once, run on each backend.
for backend in sqlite mongo; do
  passed=$(grep -cE "^test store::$backend::tests::conformance::[a-z_]+ \.\.\. ok$" "$TEST_LOG_FILE" || true)
  echo "==> store conformance suite on $backend: $passed behaviours passed"
done
rm -f "$TEST_LOG_FILE"

if [ "${TEST_CARGO_ONLY:-}" = "1" ]; then
  exit 0
fi
echo "==> scripts/fuzz.sh"
scripts/fuzz.sh
echo "==> scripts/browser-test.sh"
scripts/browser-test.sh
echo "==> scripts/postman-test.sh"
scripts/postman-test.sh
echo "==> scripts/test-container.sh"
scripts/test-container.sh
