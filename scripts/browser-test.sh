#!/usr/bin/env bash
# End-to-end check of /docs in a real browser: installs Debian's Chromium and playwright-core
# (npm) if missing, starts the server on the embedded store in a temp dir, and drives Swagger UI
# through register, login, Authorize, /user/, refresh and sessions (tests/browser/docs_flow.js).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "==> installing playwright-core (npm)"
  (cd tests/browser && npm install --no-audit --no-fund --silent)
fi

cargo build --quiet
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
# `exec`, so that $SERVER is the server itself and the trap stops it, not only a subshell.
(cd "$WORK" && exec env -i PATH="$PATH" PORT="$PORT" "$OLDPWD/target/debug/authkit" >"$WORK/server.log" 2>&1) &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done
echo "==> Swagger UI flow in headless Chromium"
node tests/browser/docs_flow.js "http://127.0.0.1:$PORT"
