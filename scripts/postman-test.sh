#!/usr/bin/env bash
# Runs the Postman collection (docs/postman/authkit.postman_collection.json) with newman against a
# fresh server: installs newman (npm, pinned in tests/postman/package.json) if missing, makes a
# SUPER_ADMIN with `authkit create-admin` in a temp dir, starts the server there on the embedded
# store in development mode (mail goes to its log), waits for /ready and runs every request of
# the collection in order. Uses target/debug/authkit as `scripts/test.sh` built it (builds only
# if it is missing). The server's log is printed if the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x tests/postman/node_modules/.bin/newman ]; then
  echo "==> installing newman (npm)"
  (cd tests/postman && npm ci --no-audit --no-fund --silent)
fi
[ -x target/debug/authkit ] || cargo build --quiet

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
ADMIN_PASSWORD='postman admin password'
echo "$ADMIN_PASSWORD" | (cd "$WORK" && env -i PATH="$PATH" "$OLDPWD/target/debug/authkit" \
  create-admin --email root@example.com --username root --password-stdin >/dev/null)
# `exec`, so that the PID is the server itself and the trap stops it, not only a subshell.
(cd "$WORK" && exec env -i PATH="$PATH" PORT="$PORT" "$OLDPWD/target/debug/authkit" >"$WORK/server.log" 2>&1) &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.1
done

echo "==> Postman collection with newman against a fresh server on :$PORT"
# --env-var: environment variables win over the collection's defaults of the same name.
if ! tests/postman/node_modules/.bin/newman run docs/postman/authkit.postman_collection.json \
  --env-var "base_url=http://127.0.0.1:$PORT" \
  --env-var admin_login=root \
  --env-var "admin_password=$ADMIN_PASSWORD" \
  --reporters cli --reporter-cli-no-banner --color off; then
  echo "==> server log:" >&2
  tail -n 50 "$WORK/server.log" >&2
  exit 1
fi
