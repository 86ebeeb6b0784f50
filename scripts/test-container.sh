#!/usr/bin/env bash
# Builds the container image from the Dockerfile and checks it as an operator would run it, with
# podman (no Docker engine needed):
#   - the image: built from the Dockerfile's `runtime` stage with an already compiled server
#     (target/debug/authkit, or AUTHKIT_BINARY), stripped, given as the build context named
#     `binary`, so nothing is compiled here (see the Dockerfile's header);
#   - the base: `debian:bookworm-slim`. Without a registry to pull from, it is made once with
#     debootstrap (minbase) and imported under that name, then reused from podman's storage
#     (`podman rmi docker.io/library/debian:bookworm-slim` makes it again);
#   - the checks, each printed as PASS/FAIL (the script fails if any fails):
#     /health and /ready answer 200 on the published port; the server runs as uid 10001; the
#     image keeps its HEALTHCHECK and `podman healthcheck run` passes; without SECRET_KEY the
#     container exits non-zero naming it; `check-config` names SECRET_KEY (and every other
#     problem) when it is missing and passes on a good configuration; `authkit backup` works in
#     the running container; a registered user can still log in after `podman restart` and in a
#     new container on the same volume; with MONGO_URL the API is served from MongoDB
#     (TEST_MONGO_URL, or a SecantusDB started here from .venv/ as scripts/test.sh does); `podman stop` (SIGTERM) ends it with exit code 0
#     within the grace period.
# On a fresh Debian machine it installs podman, debootstrap and runc (apt-get, as root). Where
# podman cannot run at all (not root, no podman, `podman info` fails) it skips with a note and
# exits 0, except under CI=true, where that is a failure. Containers, volumes, the test image and
# a database it started are removed on exit. About 10 s once the base image exists; making the
# base adds about 30 s.
# Usage: scripts/test-container.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY="${AUTHKIT_BINARY:-target/debug/authkit}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
GRACE=10                    # seconds `podman stop` waits before SIGKILL
ID="authkit-ct-$$"          # prefix of every container, volume and image made here
IMAGE="localhost/$ID:test"
SECRET="container-test-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PASSWORD="container check $(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# Every podman call goes through these global flags. runc, the runtime installed above, because
# crun (podman's first choice when present) fails to set up the cgroups on cgroup v1 hosts
# without systemd; cgroupfs, because there may be no systemd to ask for a cgroup.
podman() { command podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

# podman's default rlimits for a rootful container (nofile 1048576, nproc 4194304) may be more
# than the calling process may grant: without CAP_SYS_RESOURCE runc then fails with "error
# setting rlimit". These fit under usual limits and are ample for the server.
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
[[ $hard_nofile == unlimited || $hard_nofile -gt 65536 ]] && hard_nofile=65536
[[ $hard_nproc == unlimited || $hard_nproc -gt 4096 ]] && hard_nproc=4096
RUN_FLAGS=(--ulimit "nofile=$hard_nofile:$hard_nofile" --ulimit "nproc=$hard_nproc:$hard_nproc")

# Not being able to run podman at all is a skip locally and a failure in CI.
cannot_run() {
  if [[ ${CI:-} == true ]]; then
    echo "==> container tests: FAILED, podman cannot run here: $*" >&2
    exit 1
  fi
  echo "==> container tests: SKIPPED, podman cannot run here: $*"
  exit 0
}

if [[ $(id -u) != 0 ]]; then
  cannot_run "not root (rootful podman and debootstrap need root)"
fi
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v runc >/dev/null || missing+=(runc)
command -v strip >/dev/null || missing+=(binutils)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]} (apt-get)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
    cannot_run "apt-get install ${missing[*]} failed"
  fi
fi
if ! podman_info=$(podman info 2>&1); then
  cannot_run "podman info failed: $(tail -n 3 <<<"$podman_info")"
fi

if [[ ! -x $BINARY ]]; then
  echo "==> container tests: FAILED, no server binary at $BINARY (cargo build, or set AUTHKIT_BINARY)" >&2
  exit 1
fi

WORK=$(mktemp -d)
MONGO_PID=""
cleanup() {
  local c v
  for c in $(command podman ps -a --filter "name=^$ID-" --format '{{.Names}}' 2>/dev/null); do
    podman rm -f -v -t 0 "$c" >/dev/null 2>&1 || true
  done
  for v in $(command podman volume ls --filter "name=^$ID-" --format '{{.Name}}' 2>/dev/null); do
    podman volume rm -f "$v" >/dev/null 2>&1 || true
  done
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  if [[ -n $MONGO_PID ]]; then
    kill "$MONGO_PID" 2>/dev/null || true
    wait "$MONGO_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*" >&2; FAILED=$((FAILED + 1)); }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- the base image ------------------------------------------------------------------------------
if podman image exists "$BASE_IMAGE"; then
  echo "==> base image $BASE_IMAGE: present"
else
  echo "==> base image $BASE_IMAGE: debootstrap --variant=minbase bookworm (once; kept in podman's storage)"
  rootfs="$WORK/rootfs"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    echo "==> container tests: FAILED, debootstrap did not finish" >&2
    exit 1
  fi
  # As slim as the published image: no downloaded packages or package lists.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  if ! tar -C "$rootfs" --numeric-owner -c . |
    podman import --change 'CMD ["bash"]' --message "debootstrap --variant=minbase bookworm" - "$BASE_IMAGE" \
      >"$WORK/import.log" 2>&1; then
    cat "$WORK/import.log" >&2
    echo "==> container tests: FAILED, podman import of the debootstrapped base" >&2
    exit 1
  fi
  rm -rf "$rootfs"
fi

# --- the image -----------------------------------------------------------------------------------
echo "==> building $IMAGE from the Dockerfile's runtime stage with $BINARY"
mkdir "$WORK/binary"
strip -o "$WORK/binary/authkit" "$BINARY" 2>/dev/null || cp "$BINARY" "$WORK/binary/authkit"
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it). Chroot
# isolation: the one RUN step then needs no OCI runtime, cgroups or rlimits (see above).
if ! podman build --quiet --isolation=chroot --pull=never --format docker \
  --target runtime --build-context binary="$WORK/binary" -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log" >&2
  echo "==> container tests: FAILED, podman build" >&2
  exit 1
fi
echo "==> image: $(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

# --- helpers -------------------------------------------------------------------------------------
# A detached container; podman's own complaints (e.g. no systemd for the healthcheck timer) go
# to a log shown only when it fails to start.
start() {
  local name=$1
  shift
  if ! podman run -d --name "$name" "${RUN_FLAGS[@]}" "$@" >"$WORK/$name.run" 2>&1; then
    cat "$WORK/$name.run" >&2
    return 1
  fi
}

# Waits until GET $1/health answers 200 while container $2 runs (30 s at most).
wait_healthy() {
  local base=$1 name=$2
  for _ in $(seq 1 150); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/health" || true) == 200 ]]; then
      return 0
    fi
    if [[ $(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null) != true ]]; then
      echo "container $name is not running; its output:" >&2
      podman logs "$name" 2>&1 | tail -n 20 >&2
      return 1
    fi
    sleep 0.2
  done
  echo "no 200 from $base/health within 30 s" >&2
  return 1
}

status_of() { curl -s -o /dev/null -w '%{http_code}' "$1" || true; }

# POST $2 (JSON) to $1; prints "STATUS BODY".
post() {
  curl -s -w '\n%{http_code}' -X POST "$1" -H 'Content-Type: application/json' -d "$2" |
    python3 -c 'import sys; *body, code = sys.stdin.read().split("\n"); print(code, "\n".join(body))'
}

register() { # base username
  post "$1/api/v1/auth/register" \
    "{\"username\":\"$2\",\"email\":\"$2@example.com\",\"password\":\"$PASSWORD\",\"full_name\":\"Container Check\"}"
}

# Logs in as $2 at $1 and prints the username GET /api/v1/user/ answers with the access token.
login_whoami() {
  local answer token
  answer=$(post "$1/api/v1/auth/login" "{\"email\":\"$2\",\"password\":\"$PASSWORD\"}")
  token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].split(" ",1)[1])["data"]["token"]["access_token"])' "$answer" 2>/dev/null) || {
    echo "login answered: ${answer:0:300}" >&2
    return 1
  }
  curl -s "$1/api/v1/user/" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["username"])'
}

# --- the image's configuration -------------------------------------------------------------------
echo "==> the image"
healthcheck=$(podman image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE")
if [[ $healthcheck == *'"authkit","healthcheck"'* ]]; then
  pass "the image keeps its HEALTHCHECK: $healthcheck"
else
  fail "the image has no HEALTHCHECK running authkit healthcheck: $healthcheck"
fi
user=$(podman image inspect -f '{{.Config.User}}' "$IMAGE")
stop_signal=$(podman image inspect -f '{{.Config.StopSignal}}' "$IMAGE")
[[ $user == authkit ]] && pass "the image runs as user authkit" || fail "the image's user is '$user', not authkit"
[[ $stop_signal == SIGTERM ]] && pass "the image's stop signal is SIGTERM" || fail "the image's stop signal is '$stop_signal'"

# --- refusing to start without SECRET_KEY --------------------------------------------------------
echo "==> production configuration"
rc=0
out=$(timeout 60 podman run --rm --name "$ID-nosecret" --no-healthcheck "${RUN_FLAGS[@]}" "$IMAGE" 2>&1) || rc=$?
if [[ $rc == 124 ]]; then
  fail "without SECRET_KEY the container was still running after 60 s"
elif [[ $rc != 0 && $out == *SECRET_KEY* ]]; then
  pass "without SECRET_KEY the container exits $rc naming it: $(grep -m1 SECRET_KEY <<<"$out")"
else
  fail "without SECRET_KEY the container exited $rc; output: ${out:0:400}"
fi

# check-config: every problem named, non-zero; a good configuration passes.
rc=0
out=$(timeout 60 podman run --rm --name "$ID-check-bad" --no-healthcheck "${RUN_FLAGS[@]}" \
  -e RATE_LIMIT_LOGIN=lots "$IMAGE" check-config 2>&1) || rc=$?
if [[ $rc != 0 && $rc != 124 && $out == *SECRET_KEY* && $out == *RATE_LIMIT_LOGIN* ]]; then
  pass "check-config without SECRET_KEY and with RATE_LIMIT_LOGIN=lots exits $rc naming both"
else
  fail "check-config without SECRET_KEY and with RATE_LIMIT_LOGIN=lots exited $rc, expected non-zero naming both; output: ${out:0:400}"
fi
rc=0
out=$(timeout 60 podman run --rm --name "$ID-check-good" --no-healthcheck "${RUN_FLAGS[@]}" \
  -e SECRET_KEY="$SECRET" "$IMAGE" check-config 2>&1) || rc=$?
if [[ $rc == 0 ]]; then
  pass "check-config with SECRET_KEY exits 0: $(tail -n 1 <<<"$out")"
else
  fail "check-config with SECRET_KEY exited $rc; output: ${out:0:400}"
fi

# --- serving on the embedded store, published port, volume ---------------------------------------
echo "==> serving (embedded store on a named volume, published port)"
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
MAIN="$ID-main"
podman volume create "$ID-data" >/dev/null
if start "$MAIN" -p "127.0.0.1:$PORT:8000" -v "$ID-data:/app/data" -e SECRET_KEY="$SECRET" "$IMAGE" &&
  wait_healthy "$BASE" "$MAIN"; then
  for path in /health /ready; do
    code=$(status_of "$BASE$path")
    [[ $code == 200 ]] && pass "$path answers 200 on the published port $PORT" ||
      fail "$path answered $code on the published port $PORT"
  done

  uid=$(podman exec "$MAIN" id -u 2>&1 || true)
  pid1_uid=$(podman exec "$MAIN" awk '/^Uid:/ {print $2}' /proc/1/status 2>&1 || true)
  if [[ $uid == 10001 && $pid1_uid == 10001 ]]; then
    pass "the server (pid 1) runs as uid 10001, not root"
  else
    fail "expected uid 10001: exec id -u '$uid', pid 1's Uid '$pid1_uid'"
  fi

  # podman runs the configured HEALTHCHECK command on demand (its timer needs systemd).
  if out=$(podman healthcheck run "$MAIN" 2>&1); then
    health=$(podman inspect -f '{{.State.Health.Status}}' "$MAIN" 2>/dev/null || true)
    [[ $health == healthy ]] && pass "podman healthcheck run: exit 0, status $health" ||
      fail "podman healthcheck run: exit 0 but status '$health'"
  else
    fail "podman healthcheck run failed: $out"
  fi

  answer=$(register "$BASE" ada)
  if [[ ${answer%% *} == 201 || ${answer%% *} == 200 ]]; then
    pass "registered ada (${answer%% *})"
  else
    fail "registration answered ${answer:0:300}"
  fi

  # The README's backup, from inside the running container onto its volume.
  if out=$(podman exec "$MAIN" authkit backup /app/data/backup.db 2>&1) &&
    podman exec "$MAIN" test -s /app/data/backup.db; then
    pass "authkit backup in the running container: $(cut -c1-80 <<<"$out")..."
  else
    fail "authkit backup in the running container: $out"
  fi

  if podman restart -t "$GRACE" "$MAIN" >/dev/null 2>"$WORK/restart.log" && wait_healthy "$BASE" "$MAIN"; then
    who=$(login_whoami "$BASE" ada || true)
    [[ $who == ada ]] && pass "after podman restart ada logs in: the data survived on the volume" ||
      fail "after podman restart ada could not log in (got '$who')"
  else
    fail "podman restart: $(cat "$WORK/restart.log")"
  fi

  started=$(date +%s%N)
  podman stop -t "$GRACE" "$MAIN" >/dev/null 2>&1 || true
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  code=$(podman inspect -f '{{.State.ExitCode}}' "$MAIN" 2>/dev/null || true)
  if [[ $code == 0 && $elapsed_ms -lt $((GRACE * 1000)) ]]; then
    pass "podman stop (SIGTERM): exit code 0 after ${elapsed_ms} ms, within the ${GRACE} s grace period"
  else
    fail "podman stop (SIGTERM): exit code $code after ${elapsed_ms} ms (grace period ${GRACE} s)"
  fi

  # A new container on the same volume, as an upgrade does it.
  podman rm -f -v -t 0 "$MAIN" >/dev/null 2>&1 || true
  if start "$ID-next" -p "127.0.0.1:$PORT:8000" -v "$ID-data:/app/data" -e SECRET_KEY="$SECRET" "$IMAGE" &&
    wait_healthy "$BASE" "$ID-next"; then
    who=$(login_whoami "$BASE" ada || true)
    [[ $who == ada ]] && pass "in a new container on the same volume ada logs in" ||
      fail "in a new container on the same volume ada could not log in (got '$who')"
  else
    fail "a new container on the same volume did not serve"
  fi
  podman rm -f -v -t 0 "$ID-next" >/dev/null 2>&1 || true
else
  fail "the container did not serve on the published port $PORT"
fi

# --- MongoDB ---------------------------------------------------------------------------------------
echo "==> serving from MongoDB"
MONGO_URL="${TEST_MONGO_URL:-}"
if [[ -z $MONGO_URL ]]; then
  secantusd="$PWD/${VENV:-.venv}/bin/secantusd-py"
  if [[ -x $secantusd ]]; then
    mongo_port=$(free_port)
    "$secantusd" --host 127.0.0.1 --port "$mongo_port" --storage-path :memory: --log-level WARNING \
      >"$WORK/mongo.log" 2>&1 &
    MONGO_PID=$!
    for _ in $(seq 1 150); do
      if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$mongo_port)))"; then
        MONGO_URL="mongodb://127.0.0.1:$mongo_port"
        echo "==> SecantusDB listening on $MONGO_URL (pid $MONGO_PID)"
        break
      fi
      kill -0 "$MONGO_PID" 2>/dev/null || break
      sleep 0.2
    done
    [[ -n $MONGO_URL ]] || tail -n 20 "$WORK/mongo.log" >&2
  fi
fi
if [[ -z $MONGO_URL ]]; then
  fail "no MongoDB: set TEST_MONGO_URL, or SecantusDB in .venv/ (scripts/test.sh installs it) did not start"
else
  # The database listens on the host's loopback only, which a container on the bridge network
  # cannot reach: its 127.0.0.1 is its own, and host.containers.internal is the bridge's gateway
  # address (connection refused there). So this container shares the host's network
  # (--network host), listens on a free port of the loopback, and publishes nothing.
  MPORT=$(free_port)
  MBASE="http://127.0.0.1:$MPORT"
  MONGO="$ID-mongo"
  if start "$MONGO" --network host -e HOST=127.0.0.1 -e PORT="$MPORT" -e SECRET_KEY="$SECRET" \
    -e MONGO_URL="$MONGO_URL" -e MONGODB_NAME="authkit_container_$$" "$IMAGE" &&
    wait_healthy "$MBASE" "$MONGO"; then
    if podman logs "$MONGO" 2>&1 | grep -q 'store: mongo'; then
      pass "the server uses MongoDB at MONGO_URL"
    else
      fail "the server's log does not name the mongo store: $(podman logs "$MONGO" 2>&1 | grep -m1 listening)"
    fi
    ready=$(curl -s "$MBASE/ready" -w ' %{http_code}' || true)
    [[ $ready == *' 200' ]] && pass "/ready with MongoDB: ${ready% *}" || fail "/ready with MongoDB: $ready"
    answer=$(register "$MBASE" grace)
    who=$(login_whoami "$MBASE" grace || true)
    if [[ ${answer%% *} =~ ^20[01]$ && $who == grace ]]; then
      pass "with MongoDB grace registers and logs in"
    else
      fail "with MongoDB: registration answered ${answer:0:200}; login as grace got '$who'"
    fi
    started=$(date +%s%N)
    podman stop -t "$GRACE" "$MONGO" >/dev/null 2>&1 || true
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    code=$(podman inspect -f '{{.State.ExitCode}}' "$MONGO" 2>/dev/null || true)
    [[ $code == 0 && $elapsed_ms -lt $((GRACE * 1000)) ]] &&
      pass "podman stop with MongoDB: exit code 0 after ${elapsed_ms} ms" ||
      fail "podman stop with MongoDB: exit code $code after ${elapsed_ms} ms"
  else
    fail "the container with MONGO_URL did not serve"
  fi
fi

if ((FAILED)); then
  echo "==> container tests: $FAILED check(s) FAILED" >&2
  exit 1
fi
echo "==> container tests: all checks passed"
