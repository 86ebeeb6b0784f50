#!/usr/bin/env bash
# A/B of the hot path and /health between two release binaries, alternating, on the embedded store:
# for telling whether a change costs the hot path anything, on a host whose speed drifts.
# Build the other commit's release binary in a worktree first (CARGO_TARGET_DIR elsewhere).
# Usage: bench/ab-hot-path.sh OLD_BINARY NEW_BINARY [ROUNDS]   (needs wrk, curl, python3)
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-3}
run() {
  local bin=$1 dir port token
  dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  (cd "$dir" && exec env -i PATH="$PATH" PORT=$port LOG_LEVEL=warn SECRET_KEY=ab-secret-key-long-enough-0123456789abcdef \
     RATE_LIMIT_LOGIN=off RATE_LIMIT_REGISTER=off RATE_LIMIT_REFRESH=off LOGIN_LOCKOUT=off "$bin" >/dev/null 2>&1) &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.05; done
  curl -s -X POST "http://127.0.0.1:$port/api/v1/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"abtest","email":"ab@example.com","password":"correct horse battery"}' >/dev/null
  token=$(curl -s -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"abtest","password":"correct horse battery"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"]["access_token"])')
  local h u
  h=$(wrk -t2 -c64 -d5s "http://127.0.0.1:$port/health" | awk '/Requests\/sec/ {print $2}')
  u=$(wrk -t2 -c64 -d5s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/user/" | awk '/Requests\/sec/ {print $2}')
  kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir"
  python3 -c "print(f'{\"$3\":4} health {float($h):9.0f}  hot {float($u):9.0f}  ratio {float($u)/float($h):.3f}')"
}
for r in $(seq 1 "$ROUNDS"); do
  run "$OLD" x old
  run "$NEW" x new
done
