#!/usr/bin/env bash
# Fuzzes the API from its own OpenAPI document with Schemathesis (PyPI), on both stores.
#
# For each store (embedded SQLite in a fresh temp DATA_DIR, then MongoDB: a SecantusDB started
# like scripts/test.sh does, in memory, or the server at TEST_MONGO_URL when set) it starts the
# debug server binary on a free port with a fixed SECRET_KEY, creates a SUPER_ADMIN with
# `authkit create-admin --password-stdin` and a few normal users, logs them in, and runs
# Schemathesis once against /openapi.json with the admin's Bearer token, so admin routes are
# exercised past 403. Checks: no 5xx, status codes, content types and bodies as documented.
#
# Destructive operations: POST /api/v1/auth/logout, POST /api/v1/auth/logout-all and
# DELETE /api/v1/user/ revoke the token they are called with (and the last one deactivates the
# account), which would turn the rest of the run into 401s. Each of them gets the token of its own
# throwaway user instead of the admin's (per-operation headers in the generated config), so its
# first call succeeds and later calls get the documented 401. Path ids are drawn half of the time
# from known ids (the normal user, the admin itself, a spare admin session), so the handlers run
# past their 404s; the admin token is checked to be still alive after the run.
#
# 429 answers (rate limits on login/register) are accepted wherever the document declares them,
# and the account setup waits for Retry-After before retrying. The caller's environment reaches
# the server, so limits can also be loosened for a run through their own variables.
#
# Usage: scripts/fuzz.sh
# Environment: FUZZ_EXAMPLES (examples per operation, default 50), FUZZ_SEED (default 1),
# FUZZ_STORES (default "sqlite mongo"), FUZZ_RELEASE=1 (release build), TEST_MONGO_URL (a
# MongoDB to use instead of SecantusDB; the run's database authkit_fuzz_<pid> is left there),
# FUZZ_CHECKS (Schemathesis checks, for exploration; default below).
# Full Schemathesis output, its JSON/NDJSON reports and the server log go to target/fuzz/<store>/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
SECANTUS_VERSION="0.7.0b3" # keep in step with scripts/test.sh
VENV="${VENV:-.venv}"
SECANTUSD="$PWD/$VENV/bin/secantusd-py"
SCHEMATHESIS="$PWD/$VENV/bin/schemathesis"
EXAMPLES="${FUZZ_EXAMPLES:-50}"
SEED="${FUZZ_SEED:-1}"
STORES="${FUZZ_STORES:-sqlite mongo}"
SECRET="fuzz-secret-key-0123456789abcdef0123456789abcdef"
ADMIN_PASSWORD="fuzz admin password"
# The contract checks. Schemathesis' others are left out on purpose: positive_data_acceptance and
# use_after_free report documented rules as failures (an admin's own id is 400, deletion is soft
# so a deleted user still reads as 200 with is_active=false).
CHECKS="${FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}"
OUT_ROOT="$PWD/target/fuzz"

WORK=$(mktemp -d)
PIDS=()

# PIDS holds the processes this script started and has not reaped yet.
forget() {
  local i
  for i in "${!PIDS[@]}"; do
    [ "${PIDS[i]}" != "$1" ] || unset 'PIDS[i]'
  done
  PIDS=("${PIDS[@]}")
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# Stops what is still running, newest first (Schemathesis, the server, then the database).
cleanup() {
  while [ "${#PIDS[@]}" -gt 0 ]; do
    stop "${PIDS[-1]}"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
  python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$1)))"
}

install_tools() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$SCHEMATHESIS" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
    echo "==> installing Schemathesis $SCHEMATHESIS_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  if [[ " $STORES " == *" mongo "* ]] && [ -z "${TEST_MONGO_URL:-}" ] && [ ! -x "$SECANTUSD" ]; then
    echo "==> installing SecantusDB $SECANTUS_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
  fi
}

# Starts an in-memory SecantusDB and sets MONGO_URL_FOR_FUZZ to it.
start_secantus() {
  local port log
  port=$(free_port)
  log="$WORK/secantus.log"
  "$SECANTUSD" --host 127.0.0.1 --port "$port" --storage-path :memory: --log-level WARNING >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 150); do
    if port_open "$port"; then
      MONGO_URL_FOR_FUZZ="mongodb://127.0.0.1:$port"
      return
    fi
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  echo "SecantusDB did not start:" >&2
  cat "$log" >&2
  exit 1
}

# Sets STORE_ENV to the `env` arguments that configure the server binary for a store. The binary
# runs from the store's temp directory, so no .env of the repository is read.
store_env() {
  local store=$1
  local dir="$WORK/$store"
  STORE_ENV=(
    -u MONGO_URL -u MONGODB_NAME
    ENVIRONMENT=development HOST=127.0.0.1 SECRET_KEY="$SECRET" WORKERS=2
    DATA_DIR="$dir/data" LOG_DIR="$dir/logs" LOG_FORMAT=json LOG_LEVEL=info
    # The run must not outlive the admin's token.
    ACCESS_TOKEN_TTL=2h
  )
  if [ "$store" = mongo ]; then
    STORE_ENV+=(MONGO_URL="$MONGO_URL_FOR_FUZZ" MONGODB_NAME="authkit_fuzz_$$")
  fi
}

# Registers and logs in the accounts of the run and writes the Schemathesis config.
# Arguments: base URL, admin login, admin password, config path.
setup_accounts() {
  python3 - "$@" <<'PY'
import json, sys, time, urllib.error, urllib.request

base, admin_login, admin_password, config_path = sys.argv[1:5]
USER_PASSWORD = "fuzz user password"

def call(method, path, body=None, token=None):
    """One API call; waits out 429s (Retry-After) and returns (status, json body)."""
    for _ in range(20):
        req = urllib.request.Request(base + path, method=method)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, data, timeout=30) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code == 429:
                wait = min(float(e.headers.get("Retry-After") or 1), 60)
                print(f"    429 on {path}; retrying in {wait:g}s", file=sys.stderr)
                time.sleep(wait)
                continue
            return e.code, json.loads(e.read() or b"null")
    sys.exit(f"{path}: still rate limited after 20 tries")

def register(username):
    status, body = call("POST", "/api/v1/auth/register", {
        "username": username, "email": f"{username}@example.com", "password": USER_PASSWORD})
    if status != 201:
        sys.exit(f"register {username}: {status} {body}")

def login(username, password=USER_PASSWORD):
    status, body = call("POST", "/api/v1/auth/login", {"email": username, "password": password})
    if status != 200:
        sys.exit(f"login {username}: {status} {body}")
    return body["data"]["token"]["access_token"], body["data"]["user"]["id"]

def current_session(token):
    status, body = call("GET", "/api/v1/user/sessions", token=token)
    if status != 200:
        sys.exit(f"sessions: {status} {body}")
    return next(s["id"] for s in body["data"] if s["current"])

admin_token, admin_id = login(admin_login, admin_password)
# A second admin session, offered to DELETE /api/v1/user/sessions/{session_id}.
spare_admin_session = current_session(login(admin_login, admin_password)[0])
# The normal user: the target of the admin routes.
register("fuzz_user")
user_token, user_id = login("fuzz_user")
user_session = current_session(user_token)
# One throwaway account per destructive operation.
victims = {}
for name, path, method in [
    ("fuzz_logout", "/api/v1/auth/logout", "POST"),
    ("fuzz_logout_all", "/api/v1/auth/logout-all", "POST"),
    ("fuzz_delete_me", "/api/v1/user/", "DELETE"),
]:
    register(name)
    victims[(path, method)] = login(name)[0]

q = json.dumps  # a JSON string is a valid TOML basic string
lines = [
    "# Generated by scripts/fuzz.sh for one run.",
    f"headers = {{ Authorization = {q('Bearer ' + admin_token)} }}",
    # Admin routes answering nothing but 401/403 means the token is not working: fail.
    'warnings = { fail-on = ["missing_auth"] }',
    # No replay of earlier runs' failures: a run depends on the seed and the code only.
    "cache = { enabled = false }",
    "",
    "[dictionaries.user_ids]",
    f"values = [{q(user_id)}, {q(admin_id)}]",
    "[dictionaries.session_ids]",
    f"values = [{q(spare_admin_session)}, {q(user_session)}]",
    "",
    "[parameters]",
    '"path.user_id" = { dictionary = "user_ids", probability = 0.5 }',
    '"path.session_id" = { dictionary = "session_ids", probability = 0.5 }',
]
for (path, method), token in victims.items():
    lines += [
        "",
        "[[operations]]",
        # One `include-name` ("METHOD /path"): separate include-* keys would match either.
        f"include-name = {q(method + ' ' + path)}",
        f"headers = {{ Authorization = {q('Bearer ' + token)} }}",
    ]
with open(config_path, "w") as f:
    f.write("\n".join(lines) + "\n")
with open(config_path + ".admin", "w") as f:
    f.write(admin_token)
PY
}

# Prints the one-line summary of a run from its reports; exit status 1 when the token died.
summarize() {
  python3 - "$@" <<'PY'
import collections, glob, json, sys

store, out, base, token_file = sys.argv[1:5]
report = json.load(open(sorted(glob.glob(f"{out}/json-*.json"))[-1]))
requests, statuses = 0, collections.Counter()
for line in open(sorted(glob.glob(f"{out}/ndjson-*.ndjson"))[-1]):
    event = json.loads(line).get("ScenarioFinished")
    if not event:
        continue
    for interaction in event["recorder"].get("interactions", {}).values():
        requests += 1
        response = interaction.get("response")
        statuses[f"{response['status_code'] // 100}xx" if response else "no answer"] += 1
ops, cases = report["operations"], report["test_cases"]
failures = sum(f["count"] for f in report["failures"])
print(f"==> {store}: {ops['tested']}/{ops['selected']} operations, {cases['generated']} test cases, "
      f"{requests} requests ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}), "
      f"{failures} failures, {len(report['errors'])} errors")
for f in report["failures"]:
    print(f"    {f['code']} {f['title']} x{f['count']}: {', '.join(f['operations'])}")
for e in report["errors"]:
    print(f"    error: {json.dumps(e)[:300]}")

import urllib.request, urllib.error
# The admin token must have survived the run, or its later operations only tested the 401 path.
req = urllib.request.Request(base + "/api/v1/user/", headers={"Authorization": "Bearer " + open(token_file).read()})
try:
    urllib.request.urlopen(req, timeout=10).close()
except urllib.error.HTTPError as e:
    print(f"    the admin token no longer works ({e.code}): the run did not exercise the admin routes as planned")
    sys.exit(1)
except OSError as e:
    print(f"    the server no longer answers: {e}")
    sys.exit(1)
PY
}

# Called in a `||` list, so `set -e` does not apply here: every step checks its own status.
fuzz_store() {
  local store=$1
  local dir="$WORK/$store" out="$OUT_ROOT/$store" port base config status=0
  mkdir -p "$dir/data" "$dir/logs"
  rm -rf "$out"
  mkdir -p "$out"
  if [ "$store" = mongo ]; then
    if [ -n "${TEST_MONGO_URL:-}" ]; then
      MONGO_URL_FOR_FUZZ="$TEST_MONGO_URL"
    else
      start_secantus
    fi
  fi
  port=$(free_port)
  base="http://127.0.0.1:$port"
  echo "==> $store: server on $base"
  store_env "$store"
  # `exec` all the way down, so that $! is the server itself.
  (cd "$dir" && exec env "${STORE_ENV[@]}" PORT="$port" "$BIN") >"$out/server.log" 2>&1 &
  local server_pid=$!
  PIDS+=("$server_pid")
  local tries=0
  until port_open "$port"; do
    tries=$((tries + 1))
    if ! kill -0 "$server_pid" 2>/dev/null || [ "$tries" -gt 150 ]; then
      echo "the server did not start:" >&2
      cat "$out/server.log" >&2
      return 1
    fi
    sleep 0.2
  done

  printf '%s\n' "$ADMIN_PASSWORD" |
    (cd "$dir" && exec env "${STORE_ENV[@]}" "$BIN" create-admin \
      --email fuzz_admin@example.com --username fuzz_admin --password-stdin) >/dev/null || return 1
  config="$dir/schemathesis.toml"
  setup_accounts "$base" fuzz_admin "$ADMIN_PASSWORD" "$config" || return 1
  cp "$config" "$out/schemathesis.toml"

  echo "==> $store: schemathesis, $EXAMPLES examples per operation, seed $SEED"
  local -a cmd=(
    "$SCHEMATHESIS" --config-file "$config" run "$base/openapi.json"
    --checks "$CHECKS" --max-examples "$EXAMPLES" --seed "$SEED"
    --workers 1 --generation-database none --request-timeout 10 --no-color
    --report "json,ndjson" --report-dir "$out"
  )
  echo "    ${cmd[*]}" | sed "s|$PWD/||g"
  # From the temp dir: Hypothesis keeps its scratch files in the working directory. In the
  # background with `wait`, so that INT/TERM reach the trap at once and stop everything.
  (cd "$dir" && exec "${cmd[@]}") >"$out/schemathesis.txt" 2>&1 &
  local fuzzer_pid=$!
  PIDS+=("$fuzzer_pid")
  wait "$fuzzer_pid" || status=$?
  forget "$fuzzer_pid"

  summarize "$store" "$out" "$base" "$config.admin" || status=1
  if [ "$status" -ne 0 ]; then
    # The failures with their reproductions, without the banner and the per-phase progress.
    if grep -q '^=* FAILURES =*$' "$out/schemathesis.txt"; then
      sed -n '/^=* FAILURES =*$/,$p' "$out/schemathesis.txt"
    else
      cat "$out/schemathesis.txt"
    fi
    if grep -qE '"level":"(ERROR|WARN)"' "$out/server.log"; then
      echo "--- last server errors and warnings (${out#"$PWD/"}/server.log):"
      grep -E '"level":"(ERROR|WARN)"' "$out/server.log" | tail -n 20
    fi
  fi
  echo "    full output: ${out#"$PWD/"}/schemathesis.txt"

  stop "$server_pid"
  return "$status"
}

install_tools
if [ "${FUZZ_RELEASE:-0}" = 1 ]; then
  echo "==> cargo build --release"
  cargo build --release --quiet
  BIN="$PWD/target/release/authkit"
else
  echo "==> cargo build"
  cargo build --quiet
  BIN="$PWD/target/debug/authkit"
fi

failed=()
for store in $STORES; do
  case "$store" in
    sqlite | mongo) fuzz_store "$store" || failed+=("$store") ;;
    *)
      echo "unknown store in FUZZ_STORES: $store" >&2
      exit 2
      ;;
  esac
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "==> FAILED on: ${failed[*]}"
  exit 1
fi
echo "==> fuzzing passed on: $STORES"
