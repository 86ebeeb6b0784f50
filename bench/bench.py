#!/usr/bin/env python3
"""The benchmark behind bench/run.sh (which installs wrk and SecantusDB and builds the binaries
first; run that, not this file).

For each store (the embedded SQLite store, and MongoDB as played by SecantusDB, a fresh in-memory
instance and a fresh server per scenario because it slows down as writes accumulate) it starts the
release server with a clean environment, prepares users and tokens, counts the database round
trips of one request of each scenario from /metrics, drives wrk over loopback, and reads the
server's RSS. It also measures the raw Argon2id verify rate, the time from process start to
/ready = 200, the binary size and the container runtime layer it makes; prints one table and the targets, and saves everything as JSON
under bench/results/.

BENCH_MONGO_URL names a MongoDB elsewhere to use instead of SecantusDB (say, on another host, so
that the database does not take CPU from the server being measured); each scenario then gets a
fresh database, authkit_bench_<run>_<scenario>, dropped afterwards.

The machine may be shared: before each measurement it waits (at most BENCH_QUIET_WAIT seconds,
default 60) until other processes use less than 10% of the CPU, and it reports for each scenario
the share of the CPU that other processes took while it ran ("other CPU"), with the CPU seconds of
the server, the database and the load generator in the JSON.

Only the standard library: it runs on the system python3.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import http.client
import io
import json
import os
import platform
import re
import resource
import sqlite3
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "authkit"
ARGON2_RATE = ROOT / "target" / "argon2-rate" / "release" / "argon2-rate"
SECANTUSD = ROOT / os.environ.get("VENV", ".venv") / "bin" / "secantusd-py"
LUA = ROOT / "bench" / "wrk" / "bench.lua"
RESULTS = ROOT / "bench" / "results"

EXTERNAL_MONGO = os.environ.get("BENCH_MONGO_URL")  # a MongoDB to use instead of SecantusDB
VENV_PYTHON = ROOT / os.environ.get("VENV", ".venv") / "bin" / "python"  # has pymongo
DURATION = int(os.environ.get("BENCH_DURATION", "10"))  # seconds per scenario
SECRET_KEY = "authkit-benchmark-signing-key-not-a-secret-0123456789"
PASSWORD = "bench password 0123456789"
# The abuse limits would refuse most of a load test by design; they are switched off.
LIMITS_OFF = {
    "RATE_LIMIT_LOGIN": "off",
    "RATE_LIMIT_REGISTER": "off",
    "RATE_LIMIT_REFRESH": "off",
    "LOGIN_LOCKOUT": "off",
    "RATE_LIMIT_MAIL_ADDRESS": "off",
    "RATE_LIMIT_MAIL_IP": "off",
}
LOGIN_USERS = 8  # accounts the login scenario cycles over

# name, title, wrk threads, wrk connections. Every connection count stays far below
# MAX_IN_FLIGHT (512), so nothing is shed.
SCENARIOS = [
    ("health", "GET /health", 2, 64),
    ("hot", "GET /api/v1/user/ (hot path)", 2, 64),
    ("hot_eddsa", "GET /api/v1/user/ (hot path), JWT_ALG=EdDSA", 2, 64),
    ("jwks", "GET /.well-known/jwks.json, JWT_ALG=EdDSA", 2, 64),
    ("login", "POST /api/v1/auth/login", 2, 8),
    ("register", "POST /api/v1/auth/register (unique)", 2, 8),
    ("refresh", "POST /api/v1/auth/refresh (rotation)", 2, 32),
    ("admin_users", "GET /api/v1/admin/users?page=1&size=10", 2, 64),
    ("hot_storm", "hot path during a login storm", 2, 64),
    ("events_first", "GET /api/v1/admin/security-events, first page (100k events)", 2, 64),
    ("events_last", "GET /api/v1/admin/security-events, last page by cursor (100k events)", 2, 64),
    ("forgot_known", "POST /api/v1/auth/password/forgot, known address (SMTP 1 s per mail)", 2, 16),
    ("forgot_unknown", "POST /api/v1/auth/password/forgot, unknown address (SMTP 1 s per mail)", 2, 16),
    ("org_read", "GET /api/v1/orgs/{id} (organization-scoped read, membership check)", 2, 64),
    ("members_first", "GET /api/v1/orgs/{id}/members, first page (100k members)", 2, 64),
    ("members_last", "GET /api/v1/orgs/{id}/members, last page by cursor (100k members)", 2, 64),
    ("users_first", "GET /api/v1/admin/users?size=10, first page (100k users)", 2, 64),
    ("users_last", "GET /api/v1/admin/users, last page by cursor (100k users)", 2, 64),
]
# Scenarios run on a server with JWT_ALG=EdDSA (Ed25519 access tokens, keys in the store).
EDDSA_SCENARIOS = {"hot_eddsa", "jwks"}
EDDSA_ENV = {"JWT_ALG": "EdDSA",
             "ENCRYPTION_KEY": "62656e63682d656e6372797074696f6e2d6b65792d6e6f742d73656372657421"}
SMTP_DELAY = 1.0  # seconds the benchmark's SMTP server takes to accept each mail
FORGOT_KNOWN = "benchforgot@bench.example.com"
EVENTS_SEEDED = 100_000  # security events written straight into the store for the events pages
EVENTS_PAGE = 20  # the listing's default page size
MEMBERS_SEEDED = 100_000  # members written straight into the store for the members pages
STORM = (1, 8)  # wrk threads and connections of the login storm beside the hot path
# The hot-path target is a ratio of two scenarios, and this host's speed drifts within a run: on
# the embedded store /health and the hot path run this many times, alternating, and the row of
# each is its median run (every run is in the JSON).
PAIRED_REPEATS = int(os.environ.get("BENCH_PAIRED_REPEATS", "5"))

# MongoDB command names by kind (anything else, e.g. ping, is counted as "other").
MONGO_READS = {"find", "aggregate", "count", "getMore", "distinct"}
MONGO_WRITES = {"insert", "update", "findAndModify", "delete"}
# Store operations (the Store trait's methods) by kind, for both backends.
STORE_READS = re.compile(r"^(find_|list_|get_|ping$)")

children: list[subprocess.Popen] = []


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


# --- processes -------------------------------------------------------------------------------


def spawn(args, **kw) -> subprocess.Popen:
    p = subprocess.Popen(args, **kw)
    children.append(p)
    return p


def stop(p: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    if p is None:
        return
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in children:
        children.remove(p)


def stop_all() -> None:
    for p in list(reversed(children)):
        stop(p)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_seconds(pid: int) -> float:
    """CPU time (user + system) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuShare:
    """Where the machine's CPU went while it was watching: the server, its database, the load
    generator (and this script), and everything else: the noise, e.g. a compile running beside."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.start = self.sample()

    def sample(self) -> dict[str, float]:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished wrk runs
        me = resource.getrusage(resource.RUSAGE_SELF)
        out = {
            "busy": (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK,
            "capacity": sum(ticks) / CLK_TCK,
            "load_generator": children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime,
        }
        for name, pid in self.pids.items():
            out[name] = proc_seconds(pid)
        return out

    def report(self) -> dict[str, float]:
        now = self.sample()
        d = {k: now[k] - self.start[k] for k in now}
        ours = sum(v for k, v in d.items() if k not in ("busy", "capacity"))
        out = {k: round(v, 2) for k, v in d.items() if k not in ("busy", "capacity")}
        out["other"] = round(max(0.0, d["busy"] - ours), 2)
        out["capacity"] = round(d["capacity"], 2)
        out["other_percent"] = round(out["other"] / d["capacity"] * 100, 1) if d["capacity"] else 0.0
        return out

    def other_percent(self) -> float:
        return self.report()["other_percent"]


IDLE_WAIT = 25  # seconds: long enough for every hashing thread to free its memory
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "60"))
QUIET_PERCENT = 10


def wait_quiet(pids: dict[str, int]) -> float:
    """On a shared machine: waits (at most BENCH_QUIET_WAIT s) until other processes use less
    than 10% of the CPU over a second. Returns the seconds waited."""
    start = time.monotonic()
    while True:
        share = CpuShare(pids)
        time.sleep(1)
        if share.other_percent() < QUIET_PERCENT or time.monotonic() - start >= QUIET_WAIT:
            return round(time.monotonic() - start - 1, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def status_of(port: int, path: str) -> int | None:
    """Status of a GET over a fresh connection, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
        return int(head.split(b" ", 2)[1])
    except (OSError, IndexError, ValueError):
        return None


class Mongo:
    """A fresh in-memory SecantusDB."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = workdir / f"secantus-{self.port}.log"
        self.proc = spawn(
            [str(SECANTUSD), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", ":memory:", "--log-level", "WARNING"],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"SecantusDB did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.url = f"mongodb://127.0.0.1:{self.port}"

    def stop(self):
        stop(self.proc)


class SlowSmtp:
    """bench/slow_smtp.py: an SMTP server taking SMTP_DELAY seconds per mail. Every server of the
    run sends its mail there, so the forgot scenarios show whether a request waits for SMTP."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = workdir / "slow-smtp.log"
        self.proc = spawn([str(VENV_PYTHON), str(ROOT / "bench" / "slow_smtp.py"), str(self.port),
                           str(SMTP_DELAY)], stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the SMTP server did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.url = f"smtp://127.0.0.1:{self.port}"

    def stop(self):
        stop(self.proc)


SMTP: SlowSmtp | None = None


class ExternalMongo:
    """A fresh database on the MongoDB at BENCH_MONGO_URL; its CPU is not measured."""

    def __init__(self, name: str):
        self.url, self.name, self.proc = EXTERNAL_MONGO, name, None

    def stop(self):
        # pymongo comes with SecantusDB in the venv; the system python3 has no driver.
        subprocess.run([str(VENV_PYTHON), "-c",
                        "import pymongo, sys; pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])",
                        self.url, self.name], check=False, timeout=60, capture_output=True)


class Server:
    """The release binary with a clean environment, in an empty working directory (no .env)."""

    def __init__(self, workdir: Path, name: str, mongo_url: str | None = None,
                 data_dir: Path | None = None, extra_env: dict | None = None,
                 mongo_db: str = "authkit_bench"):
        self.port = free_port()
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir or self.dir / "data"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SECRET_KEY": SECRET_KEY,
            "DATA_DIR": str(self.data_dir),
            "LOG_DIR": str(self.dir / "logs"),
            "LOG_LEVEL": "warn",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            # localhost: the passkeys' relying party (an IP address cannot be one).
            "PUBLIC_URL": f"http://localhost:{self.port}",
            **LIMITS_OFF,
            **({"SMTP_URL": SMTP.url} if SMTP else {}),
            **(extra_env or {}),
        }
        if mongo_url:
            self.env["MONGO_URL"] = mongo_url
            self.env["MONGODB_NAME"] = mongo_db
        self.log = self.dir / "server.log"
        self.companions: dict[str, int] = {}  # helper processes (the database) by role
        self.started = time.monotonic()
        self.proc = spawn([str(BIN)], cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                          stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        self.ready_ms = self.wait_ready()

    def wait_ready(self, limit: float = 30.0) -> float:
        """Milliseconds from spawning the process to the first /ready = 200."""
        while True:
            if status_of(self.port, "/ready") == 200:
                return (time.monotonic() - self.started) * 1000
            if self.proc.poll() is not None or time.monotonic() - self.started > limit:
                raise BenchError(f"server did not become ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.001)

    def memory(self) -> dict[str, float]:
        """Resident set size now, its peak, and its anonymous (heap, stacks) and file-backed
        (the binary's pages) parts, in MiB; with the thread count."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        mib = lambda k: round(int(fields[k].split()[0]) / 1024, 1)
        return {"rss_mib": mib("VmRSS"), "rss_peak_mib": mib("VmHWM"), "rss_anon_mib": mib("RssAnon"),
                "rss_file_mib": mib("RssFile"), "threads": int(fields["Threads"])}

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict | str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read().decode()
        except OSError as e:
            raise BenchError(f"{method} {path}: {e}; {self.state()}") from e
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw

    def ok(self, method: str, path: str, body=None, headers=None) -> dict:
        status, answer = self.request(method, path, body, headers)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} answered {status}: {str(answer)[:300]}")
        return answer

    def metrics(self) -> dict[str, float]:
        status, text = self.request("GET", "/metrics")
        if status != 200:
            raise BenchError(f"/metrics answered {status}")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def state(self) -> str:
        code = self.proc.poll()
        alive = "server running" if code is None else f"server exited with {code}"
        return f"{alive}; its log ends:\n{self.log.read_text()[-3000:]}"

    def stop(self):
        stop(self.proc)


# --- preparing users and tokens ----------------------------------------------------------------


def register(server: Server, username: str) -> None:
    server.ok("POST", "/api/v1/auth/register", {
        "username": username, "email": f"{username}@bench.example.com",
        "password": PASSWORD, "full_name": "Bench User"})


def login(server: Server, login_name: str, password: str = PASSWORD) -> dict:
    answer = server.ok("POST", "/api/v1/auth/login", {"email": login_name, "password": password},
                       {"X-Refresh-Token-Transport": "body"})
    return answer["data"]["token"]


def parallel(fn, items, workers: int = 4) -> list:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


class Prepared:
    """What the scenarios of one server need, made on demand."""

    def __init__(self, server: Server, workdir: Path):
        self.server = server
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:6]
        self._hot = self._admin = self._users_file = self._last_page = None
        self._org = self._members_last = self._users_last = None

    def hot_token(self) -> str:
        if self._hot is None:
            register(self.server, "benchhot")
            self._hot = login(self.server, "benchhot")["access_token"]
        return self._hot

    def admin_token(self) -> str:
        if self._admin is None:
            cli = subprocess.run(
                [str(BIN), "create-admin", "--email", "admin@bench.example.com",
                 "--username", "benchadmin", "--password-stdin"],
                input=PASSWORD + "\n", text=True, capture_output=True, cwd=self.server.dir,
                env=self.server.env, timeout=60)
            if cli.returncode != 0:
                raise BenchError(f"create-admin failed: {cli.stderr[-1000:]}")
            self._admin = login(self.server, "benchadmin")["access_token"]
        return self._admin

    def users_file(self) -> Path:
        if self._users_file is None:
            names = [f"benchlogin{i}" for i in range(LOGIN_USERS)]
            parallel(lambda n: register(self.server, n), names)
            self._users_file = self.workdir / f"users-{self.run_id}.tsv"
            self._users_file.write_text("".join(f"{n}\t{PASSWORD}\n" for n in names))
        return self._users_file

    def events_last_page(self) -> str:
        """Seeds EVENTS_SEEDED events (once per server), then walks the admin listing by its
        cursor to the last page: the path of that page."""
        if self._last_page is None:
            seed_events(self.server, EVENTS_SEEDED)
            auth = {"Authorization": f"Bearer {self.admin_token()}"}
            path = last_page(self.server, "/api/v1/admin/security-events", "events", auth,
                             EVENTS_SEEDED)
            self._last_page = path
        return self._last_page

    def org(self) -> str:
        """An organization the hot-path user owns (made once per server): its id."""
        if self._org is None:
            auth = {"Authorization": f"Bearer {self.hot_token()}"}
            self._org = self.server.ok("POST", "/api/v1/orgs", {"name": "Bench Org"}, auth)["data"]["id"]
        return self._org

    def members_last_page(self) -> str:
        """Seeds MEMBERS_SEEDED members into the organization (once per server), then walks its
        members by cursor to the last page: the path of that page."""
        if self._members_last is None:
            seed_members(self.server, self.org(), MEMBERS_SEEDED)
            auth = {"Authorization": f"Bearer {self.hot_token()}"}
            path = last_page(self.server, f"/api/v1/orgs/{self.org()}/members", "members", auth,
                             MEMBERS_SEEDED)
            self._members_last = path
        return self._members_last

    def users_last_page(self) -> str:
        """The admin listing's last page at depth: the members' seeding writes the accounts
        (once per server); the walk follows `next` (`limit` + `before`) in big pages, then pages
        of 10, to the last one: the path of that page."""
        if self._users_last is None:
            self.members_last_page()
            auth = {"Authorization": f"Bearer {self.admin_token()}"}
            base = "/api/v1/admin/users"
            before, seen, size = None, 0, 100
            while True:
                path = f"{base}?limit={size}" + (f"&before={before}" if before else "")
                page = self.server.ok("GET", path, headers=auth)["data"]
                if page["next"] is None:
                    break
                before = page["next"]
                seen += len(page["users"])
                if seen >= page["pagination"]["total_items"] - 200:
                    size = 10
            if size != 10 or before is None:
                raise BenchError("the walk did not end on a page of 10")
            self._users_last = path
        return self._users_last

    def forgot_user(self) -> None:
        if not getattr(self, "_forgot", False):
            self.server.ok("POST", "/api/v1/auth/register",
                           {"username": "benchforgot", "email": FORGOT_KNOWN, "password": PASSWORD})
            self._forgot = True

    def refresh_tokens(self, count: int) -> list[str]:
        self.users_file()
        tokens = parallel(lambda i: login(self.server, f"benchlogin{i % LOGIN_USERS}")["refresh_token"],
                          range(count))
        if not all(tokens):
            raise BenchError("login did not return refresh tokens in the body")
        return tokens


def event_rows(count: int):
    """Security events as the server writes them: one per millisecond up to now, of three types
    and a thousand users, all within the retention."""
    now = int(time.time() * 1000)
    keep = 90 * 24 * 3600 * 1000
    kinds = ("login.succeeded", "login.failed", "logout")
    for i in range(count):
        at = now - (count - i)
        user = f"00000000-0000-4000-8000-{i % 1000:012d}"
        yield (str(uuid.uuid4()), at, kinds[i % 3], user, user, None, "203.0.113.7",
               "Firefox 120 | Linux | pc", "Mozilla/5.0", '{"reason":"bench"}', at + keep)


SEED_MONGO_SCRIPT = """
import sys, json, datetime, pymongo
url, db = sys.argv[1], sys.argv[2]
events = pymongo.MongoClient(url)[db]["security_events"]
ms = lambda v: datetime.datetime.fromtimestamp(v / 1000, datetime.timezone.utc)
batch = []
for line in sys.stdin:
    r = json.loads(line)
    batch.append({"_id": r[0], "at": ms(r[1]), "type": r[2], "user_id": r[3], "actor_id": r[4],
                  "session_id": r[5], "ip": r[6], "device": r[7], "user_agent": r[8],
                  "detail": json.loads(r[9]), "expires_at": ms(r[10])})
    if len(batch) == 5000:
        events.insert_many(batch, ordered=False)
        batch = []
if batch:
    events.insert_many(batch, ordered=False)
"""


def seed_events(server: Server, count: int) -> None:
    """Writes `count` security events straight into the server's store (the API has no way to
    write them faster than by performing the acts)."""
    log(f"  seeding {count} security events")
    if server.env.get("MONGO_URL"):
        lines = "".join(json.dumps(r) + "\n" for r in event_rows(count))
        subprocess.run([str(VENV_PYTHON), "-c", SEED_MONGO_SCRIPT, server.env["MONGO_URL"],
                        server.env["MONGODB_NAME"]], input=lines, text=True, check=True,
                       timeout=1800)
        return
    db = sqlite3.connect(server.data_dir / "authkit.db", timeout=30)
    with db:
        db.executemany("INSERT INTO security_events (id, at, type, user_id, actor_id, session_id,"
                       " ip, device, user_agent, detail, expires_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", event_rows(count))
    db.close()


def last_page(server: Server, base: str, items: str, auth: dict, seeded: int) -> str:
    """Walks a keyset listing (`?limit&before`, answering `{<items>, next}`) by its cursor to
    the last page, in big strides and then pages of the default size: that page's path."""
    before, seen, limit = None, 0, 100
    while True:
        path = f"{base}?limit={limit}" + (f"&before={before}" if before else "")
        page = server.ok("GET", path, headers=auth)["data"]
        if page["next"] is None:
            break
        before, seen = page["next"], seen + len(page[items])
        if seen >= seeded - 200:
            limit = EVENTS_PAGE
    if limit != EVENTS_PAGE or before is None:
        raise BenchError("the walk did not end on a page of the default size")
    return path


def seed_members(server: Server, org_id: str, count: int) -> None:
    """Writes `count` accounts and their memberships of `org_id` straight into the embedded
    store, each account a copy of the hot-path user's row under a new id, name and address (the
    API would take an invitation and a sign-in each)."""
    import uuid
    log(f"  seeding {count} members")
    db = sqlite3.connect(server.data_dir / "authkit.db", timeout=30)
    cur = db.execute("SELECT * FROM users WHERE username = 'benchhot'")
    columns = [d[0] for d in cur.description]
    template = dict(zip(columns, cur.fetchone()))
    joined = int(time.time() * 1000)
    users, members = [], []
    for i in range(count):
        # One account a millisecond before the next, as sign-ups arrive: the admin listing pages
        # through them newest first.
        row = dict(template, id=str(uuid.uuid4()), username=f"member{i}",
                   username_lower=f"member{i}", email=f"member{i}@bench.example.com",
                   email_lower=f"member{i}@bench.example.com",
                   created_at=template["created_at"] - (count - i))
        users.append(tuple(row[c] for c in columns))
        members.append((org_id, row["id"], "member", joined + i))
    with db:
        db.executemany(f"INSERT INTO users ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' for _ in columns)})", users)
        db.executemany("INSERT INTO memberships (org_id, user_id, role, joined_at)"
                       " VALUES (?, ?, ?, ?)", members)
    db.close()


MFA_USERS = 200  # accounts with a second factor, one second step each
EMAIL_SIGN_INS = 200  # returning accounts signing in by an emailed link, one verify each


def totp_code(secret_b32: str, offset: int = 0) -> str:
    """The TOTP code (RFC 6238, SHA-1, 6 digits, 30 s) `offset` steps from now."""
    import base64, hmac, struct
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.digest(key, struct.pack(">Q", int(time.time()) // 30 + offset), "sha1")
    o = digest[-1] & 15
    return "%06d" % ((struct.unpack(">I", digest[o:o + 4])[0] & 0x7FFFFFFF) % 10**6)


def mfa_verify_rate(server: Server) -> dict:
    """The second step of a login with a second factor (POST /api/v1/auth/mfa/verify): each
    request needs an unused mfa_token and a code of an unused step, so it is not a wrk scenario:
    MFA_USERS accounts are enrolled and given a first step each, then their second steps are
    sent from 8 Python threads. The rate is a floor (the Python client is part of it)."""
    def prepare(name: str) -> tuple[str, str]:
        register(server, name)
        auth = {"Authorization": f"Bearer {login(server, name)['access_token']}"}
        secret = server.ok("POST", "/api/v1/user/mfa/totp", {"current_password": PASSWORD},
                           auth)["data"]["secret"]
        server.ok("POST", "/api/v1/user/mfa/totp/confirm", {"code": totp_code(secret)}, auth)
        first = server.ok("POST", "/api/v1/auth/login", {"email": name, "password": PASSWORD})
        return first["data"]["mfa_token"], secret

    pairs = parallel(prepare, [f"benchmfa{i}" for i in range(MFA_USERS)])
    native = {"X-Refresh-Token-Transport": "body"}
    token, secret = pairs.pop()
    trips = round_trips(server, lambda: server.ok(
        "POST", "/api/v1/auth/mfa/verify", {"mfa_token": token, "code": totp_code(secret, 1)},
        native))
    started = time.monotonic()
    statuses = parallel(lambda p: server.request(
        "POST", "/api/v1/auth/mfa/verify", {"mfa_token": p[0], "code": totp_code(p[1], 1)},
        native)[0], pairs, workers=8)
    elapsed = time.monotonic() - started
    return {"requests": len(pairs), "ok": statuses.count(200), "rps": round(len(pairs) / elapsed, 1),
            "db_per_request": trips}


def email_sign_in_rate(server: Server) -> dict:
    """The verify step of an email sign-in (POST /api/v1/auth/email/sign-in with the link's
    token): each request spends one unused secret, so it is not a wrk scenario. EMAIL_SIGN_INS
    accounts are registered and marked verified (a returning user), and a sign-in secret for each
    is written straight into the embedded store as the outbox worker would before mailing it
    (the link token's SHA-256 under the key `<user id>:sign_in`); then one verify each is sent
    from 8 Python threads. No mail, no Argon2id; the rate is a floor (the Python client is part
    of it)."""
    import hashlib
    import secrets
    names = [f"benchmail{i}" for i in range(EMAIL_SIGN_INS)]
    parallel(lambda name: register(server, name), names)
    now = int(time.time() * 1000)
    tokens = [secrets.token_urlsafe(32) for _ in names]
    db = sqlite3.connect(server.data_dir / "authkit.db", timeout=30)
    with db:
        db.execute("UPDATE users SET email_verified = 1 WHERE username LIKE 'benchmail%'")
        ids = dict(db.execute("SELECT username, id FROM users WHERE username LIKE 'benchmail%'"))
        db.executemany(
            "INSERT INTO one_time_tokens (key, user_id, purpose, email_lower, token_hash, code_hash,"
            " new_email, attempts, created_at, expires_at, used_at)"
            " VALUES (?, ?, 'sign_in', ?, ?, '', NULL, 0, ?, ?, NULL)",
            [(f"{ids[name]}:sign_in", ids[name], f"{name}@bench.example.com",
              hashlib.sha256(token.encode()).hexdigest(), now, now + 15 * 60 * 1000)
             for name, token in zip(names, tokens)])
    db.close()
    return spend_each(server, "/api/v1/auth/email/sign-in", [{"token": t} for t in tokens])


def spend_each(server: Server, path: str, bodies: list[dict], during=None) -> dict:
    """POSTs each body once to `path`, a route that spends a single-use secret per request (the
    refresh token in the body, as a native client asks): one request's store round trips first,
    then the rest from 8 Python threads, timed. `during` (a context manager) wraps the timed part."""
    import contextlib
    native = {"X-Refresh-Token-Transport": "body"}
    first = bodies.pop()
    trips = round_trips(server, lambda: server.ok("POST", path, first, native))
    with during or contextlib.nullcontext():
        started = time.monotonic()
        statuses = parallel(lambda body: server.request("POST", path, body, native)[0], bodies,
                            workers=8)
        elapsed = time.monotonic() - started
    return {"requests": len(bodies), "ok": statuses.count(200),
            "rps": round(len(bodies) / elapsed, 1), "db_per_request": trips}


OAUTH_EXCHANGES = 200  # provider sign-ins waiting for the app's code exchange, one exchange each


def oauth_exchange_rate(server: Server) -> dict:
    """The app's code exchange of a provider sign-in (POST /api/v1/auth/oauth/exchange): the
    step after the callback, with no provider call. Each request spends one code, so it is not a
    wrk scenario. OAUTH_EXCHANGES accounts log in (the callback would have opened these
    sessions), and a grant for each session is written straight into the embedded store as the
    callback files it (the code's SHA-256 in `oauth_tickets`); then one exchange each is sent
    from 8 Python threads. No Argon2id in the measured part; the rate is a floor (the Python
    client is part of it)."""
    import base64
    import hashlib
    import secrets
    names = [f"benchoauth{i}" for i in range(OAUTH_EXCHANGES)]
    parallel(lambda name: register(server, name), names)
    refresh_tokens = parallel(lambda name: login(server, name)["refresh_token"], names)

    def claims(jwt: str) -> dict:
        payload = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    codes, rows = [], []
    expires = int(time.time() * 1000) + 15 * 60 * 1000
    for token in refresh_tokens:
        c = claims(token)
        code = secrets.token_urlsafe(32)
        grant = {"user_id": c["uid"], "session": {"id": c["sid"], "jti": c["jti"]},
                 "client_challenge": None}
        codes.append(code)
        rows.append((hashlib.sha256(code.encode()).hexdigest(), json.dumps(grant), expires))
    db = sqlite3.connect(server.data_dir / "authkit.db", timeout=30)
    with db:
        db.executemany("INSERT INTO oauth_tickets (id_hash, kind, payload, expires_at)"
                       " VALUES (?, 'grant', ?, ?)", rows)
    db.close()
    return spend_each(server, "/api/v1/auth/oauth/exchange", [{"code": c} for c in codes])


PASSKEY_CREDENTIALS = 20  # accounts with a passkey each
PASSKEY_SIGN_INS = 200  # sign-ins, spread over them, each with its own challenge and assertion


def b64url(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value) -> bytes:
    """The little CBOR a WebAuthn authenticator writes: maps, text, bytes, small ints."""
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    if isinstance(value, bool) or value is None:
        raise TypeError(value)
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return head(3, len(raw)) + raw
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(value)


class BenchAuthenticator:
    """A software authenticator for the benchmark: one P-256 key (the `cryptography` package),
    user verified, and a signature counter of 0, as synced passkeys report it, so assertions may
    arrive in any order. The WebAuthn byte formats are written out by hand."""

    def __init__(self, origin: str):
        from cryptography.hazmat.primitives.asymmetric import ec
        self.ec = ec
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets_bytes(16)
        self.origin = origin
        self.user_handle = b""

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def register(self, options: dict) -> dict:
        import hashlib
        self.user_handle = unb64url(options["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                     -3: numbers.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(options["rp"]["id"].encode()).digest() + bytes([0x45])
                     + (0).to_bytes(4, "big") + bytes(16) + len(self.credential_id).to_bytes(2, "big")
                     + self.credential_id + cose)
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key", "extensions": {},
                "response": {"attestationObject": b64url(attestation),
                             "clientDataJSON": b64url(client_data), "transports": ["internal"]}}

    def assertion(self, options: dict, rp_id: str) -> dict:
        import hashlib
        from cryptography.hazmat.primitives import hashes
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([0x05]) + (0).to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  self.ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key", "extensions": {},
                "response": {"authenticatorData": b64url(auth_data),
                             "clientDataJSON": b64url(client_data), "signature": b64url(signature),
                             "userHandle": b64url(self.user_handle)}}


def secrets_bytes(n: int) -> bytes:
    import secrets
    return secrets.token_bytes(n)


def passkey_sign_in_rate(server: Server) -> dict:
    """Passkey sign-in's finish (POST /api/v1/auth/passkeys/login/finish): PASSKEY_CREDENTIALS
    accounts register a passkey each (BenchAuthenticator), then PASSKEY_SIGN_INS challenges are
    started and their assertions signed ahead, each used once, from 8 Python threads. Reports the
    rate, one request's store round trips, and the share of the server's CPU time spent checking
    assertions (authkit_passkey_verify_seconds_total over the process's CPU seconds). No Argon2id
    in the measured part; the rate is a floor (the Python client is part of it)."""
    origin = f"http://localhost:{server.port}"
    names = [f"benchkey{i}" for i in range(PASSKEY_CREDENTIALS)]
    parallel(lambda name: register(server, name), names)

    def enrol(name: str) -> BenchAuthenticator:
        token = login(server, name)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        start = server.ok("POST", "/api/v1/user/passkeys/register/start",
                          {"current_password": PASSWORD}, auth)["data"]
        device = BenchAuthenticator(origin)
        server.ok("POST", "/api/v1/user/passkeys/register/finish",
                  {"challenge_id": start["challenge_id"], "credential": device.register(start["options"])},
                  auth)
        return device

    devices = parallel(enrol, names)

    def signed(i: int) -> dict:
        start = server.ok("POST", "/api/v1/auth/passkeys/login/start")["data"]
        device = devices[i % len(devices)]
        return {"challenge_id": start["challenge_id"],
                "credential": device.assertion(start["options"], "localhost")}

    bodies = parallel(signed, list(range(PASSKEY_SIGN_INS)))
    share = VerifyShare(server)
    result = spend_each(server, "/api/v1/auth/passkeys/login/finish", bodies, during=share)
    return {**result,
            "verify_ms_per_request": round(1000 * share.verify / max(result["requests"], 1), 3),
            "verify_share_of_cpu": round(share.verify / share.cpu, 3) if share.cpu > 0 else None}


class VerifyShare:
    """Around a timed part: the server's seconds spent checking passkey assertions
    (`authkit_passkey_verify_seconds_total`) and its process CPU seconds."""

    def __init__(self, server: Server):
        self.server, self.verify, self.cpu = server, 0.0, 0.0

    def _verify_seconds(self) -> float:
        return self.server.metrics().get("authkit_passkey_verify_seconds_total", 0.0)

    def __enter__(self):
        self.verify, self.cpu = self._verify_seconds(), proc_seconds(self.server.proc.pid)
        return self

    def __exit__(self, *_):
        self.cpu = proc_seconds(self.server.proc.pid) - self.cpu
        self.verify = self._verify_seconds() - self.verify


# --- one request's round trips ------------------------------------------------------------------


def db_counts(m: dict[str, float]) -> dict[str, dict[str, float]]:
    ops, cmds = {}, {}
    for key, value in m.items():
        if key.startswith("authkit_store_operations_total{"):
            ops[re.search(r'operation="([^"]*)"', key).group(1)] = value
        elif key.startswith("authkit_mongodb_commands_total{"):
            cmds[re.search(r'command="([^"]*)"', key).group(1)] = value
    return {"store_operations": ops, "mongodb_commands": cmds}


def diff(after: dict, before: dict) -> dict:
    return {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}


def round_trips(server: Server, send) -> dict:
    """Database work of one request: store operations and (MongoDB) commands it caused."""
    before = db_counts(server.metrics())
    send()
    after = db_counts(server.metrics())
    ops = diff(after["store_operations"], before["store_operations"])
    cmds = diff(after["mongodb_commands"], before["mongodb_commands"])
    out = {
        "store_operations": ops,
        "store_reads": sum(n for k, n in ops.items() if STORE_READS.match(k)),
        "store_writes": sum(n for k, n in ops.items() if not STORE_READS.match(k)),
    }
    if server.env.get("MONGO_URL"):
        out.update({
            "mongodb_commands": cmds,
            "round_trips": sum(cmds.values()),
            "reads": sum(n for k, n in cmds.items() if k in MONGO_READS),
            "writes": sum(n for k, n in cmds.items() if k in MONGO_WRITES),
            "other": sum(n for k, n in cmds.items() if k not in MONGO_READS | MONGO_WRITES),
        })
    else:
        # The embedded store has no network: each store operation is one call into SQLite.
        out.update({"round_trips": sum(ops.values()), "reads": out["store_reads"],
                    "writes": out["store_writes"], "other": 0})
    return out


# --- wrk ----------------------------------------------------------------------------------------


def runtime_layer() -> dict:
    """The layer the Dockerfile's runtime stage adds on top of debian:bookworm-slim is the
    release binary (plus a few KiB for the user and the directories). No container engine is
    needed to size it: a layer is a tar of those files, pushed gzip-compressed (level 6)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(BIN, arcname="usr/local/bin/authkit")
    return {"bytes": len(raw.getvalue()),
            "gzip_bytes": len(gzip.compress(raw.getvalue(), compresslevel=6))}


def wrk_cmd(server: Server, threads: int, conns: int, path: str, headers=(),
            duration: int | None = None) -> list[str]:
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration or DURATION}s",
           "--timeout", "5s", "--latency", "-s", str(LUA)]
    for h in headers:
        cmd += ["-H", h]
    return cmd + [f"http://127.0.0.1:{server.port}{path}"]


def wrk_start(cmd: list[str], env: dict) -> subprocess.Popen:
    return spawn(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True, stdin=subprocess.DEVNULL)


def wrk_finish(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=DURATION + 60)
    if p in children:
        children.remove(p)
    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
    if p.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({p.returncode}):\n{out[-2000:]}\n{err[-2000:]}")
    r = json.loads(line[len("BENCH_JSON "):])
    socket_errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    # non2xx is counted by the script where it reads responses; otherwise wrk's status errors
    # (every status >= 400) are the non-2xx answers.
    http_errors = r["non2xx"] if r["non2xx"] >= 0 else r["status_errors"]
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "seconds": round(seconds, 3),
        "rps": round(r["requests"] / seconds, 1),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "errors": http_errors + socket_errors,
        "non2xx": http_errors,
        "socket_errors": socket_errors,
        "wrk": r,
    }


def server_statuses(m: dict[str, float], route: str) -> dict[str, float]:
    pattern = re.compile(r'authkit_http_requests_total\{method="[A-Z]+",route="' + re.escape(route)
                         + r'",status="(\d+)"\}')
    out = {}
    for key, value in m.items():
        hit = pattern.fullmatch(key)
        if hit:
            out[hit.group(1)] = value
    return out


def server_non2xx(before: dict, after: dict, route: str) -> int:
    b, a = server_statuses(before, route), server_statuses(after, route)
    return int(sum(v - b.get(s, 0) for s, v in a.items() if not s.startswith("2")))


ROUTES = {
    "health": "/health", "hot": "/api/v1/user/", "login": "/api/v1/auth/login",
    "hot_eddsa": "/api/v1/user/", "jwks": "/.well-known/jwks.json",
    "register": "/api/v1/auth/register", "refresh": "/api/v1/auth/refresh",
    "admin_users": "/api/v1/admin/users", "hot_storm": "/api/v1/user/",
    "events_first": "/api/v1/admin/security-events",
    "events_last": "/api/v1/admin/security-events",
    "forgot_known": "/api/v1/auth/password/forgot",
    "forgot_unknown": "/api/v1/auth/password/forgot",
    "org_read": "/api/v1/orgs/", "members_first": "/api/v1/orgs/", "members_last": "/api/v1/orgs/",
    "users_first": "/api/v1/admin/users", "users_last": "/api/v1/admin/users",
}


def run_scenario(key: str, threads: int, conns: int, server: Server, prep: Prepared) -> dict:
    """One scenario on a running server: one request's round trips, then the load."""
    env = {"BENCH_MODE": "get"}
    headers: list[str] = []
    path = ROUTES[key]
    single = None
    if key in ("health", "jwks"):
        single = lambda: server.ok("GET", path)
    elif key in ("hot", "hot_storm", "hot_eddsa"):
        token = prep.hot_token()
        headers = [f"Authorization: Bearer {token}"]
        server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})  # warm-up
        if key != "hot_storm":
            single = lambda: server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})
    elif key == "admin_users":
        token = prep.admin_token()
        headers = [f"Authorization: Bearer {token}"]
        path = "/api/v1/admin/users?page=1&size=10"
        server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})  # warm-up
        single = lambda: server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})
    elif key in ("users_first", "users_last"):
        token = prep.admin_token()
        headers = [f"Authorization: Bearer {token}"]
        last = prep.users_last_page()
        path = last if key == "users_last" else "/api/v1/admin/users?size=10"
        server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})  # warm-up
        single = lambda: server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})
    elif key in ("events_first", "events_last"):
        token = prep.admin_token()
        headers = [f"Authorization: Bearer {token}"]
        last = prep.events_last_page()
        path = last if key == "events_last" else f"{ROUTES[key]}?limit={EVENTS_PAGE}"
        server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})  # warm-up
        single = lambda: server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})
    elif key in ("org_read", "members_first", "members_last"):
        token = prep.hot_token()
        headers = [f"Authorization: Bearer {token}"]
        if key == "members_last":
            path = prep.members_last_page()
        elif key == "members_first":
            path = f"/api/v1/orgs/{prep.org()}/members?limit={EVENTS_PAGE}"
        else:
            path = f"/api/v1/orgs/{prep.org()}"
        server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})  # warm-up
        single = lambda: server.ok("GET", path, headers={"Authorization": f"Bearer {token}"})
    elif key in ("forgot_known", "forgot_unknown"):
        if key == "forgot_known":
            prep.forgot_user()
        email = FORGOT_KNOWN if key == "forgot_known" else "nobody@bench.example.com"
        body = json.dumps({"email": email})
        env = {"BENCH_MODE": "post", "BENCH_BODY": body}
        single = lambda: server.ok("POST", path, {"email": email})
    elif key == "login":
        env = {"BENCH_MODE": "login", "BENCH_USERS_FILE": str(prep.users_file())}
        single = lambda: login(server, "benchlogin0")
    elif key == "register":
        env = {"BENCH_MODE": "register", "BENCH_RUN_ID": "b" + prep.run_id}
        single = lambda: register(server, f"single{prep.run_id}")
    elif key == "refresh":
        # One token per connection, one spare per thread (wrk calls request() once before the
        # run to check the script), and one for the single request measured below.
        tokens = prep.refresh_tokens(conns + threads + 1)
        spare = tokens.pop()
        tokens_file = prep.workdir / f"tokens-{prep.run_id}.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        env = {"BENCH_MODE": "refresh", "BENCH_TOKENS_FILE": str(tokens_file),
               "BENCH_THREADS": str(threads)}
        single = lambda: server.ok("POST", path, {"refresh_token": spare})

    result: dict = {"scenario": key, "threads": threads, "connections": conns}
    if single is not None:
        result["db_per_request"] = round_trips(server, single)
    pids = {"server": server.proc.pid, **server.companions}
    result["waited_for_quiet_s"] = wait_quiet(pids)
    before = server.metrics()
    cpu = CpuShare(pids)
    hot = wrk_start(wrk_cmd(server, threads, conns, path, headers), env)
    storm = None
    if key == "hot_storm":
        storm = wrk_start(wrk_cmd(server, *STORM, ROUTES["login"]),
                          {"BENCH_MODE": "login", "BENCH_USERS_FILE": str(prep.users_file())})
    result.update(wrk_finish(hot))
    if storm is not None:
        s = wrk_finish(storm)
        result["storm"] = {k: s[k] for k in ("requests", "rps", "p50_ms", "p99_ms", "errors")}
        result["storm"].update({"threads": STORM[0], "connections": STORM[1]})
    result["cpu_seconds"] = cpu.report()
    result["other_cpu_percent"] = result["cpu_seconds"]["other_percent"]
    after = server.metrics()
    result["server_non2xx"] = server_non2xx(before, after, ROUTES[key])
    result.update(server.memory())
    if result["requests"] == 0:
        raise BenchError(f"scenario {key}: no request completed")
    return result


# --- the stores ---------------------------------------------------------------------------------


def bench_embedded(workdir: Path) -> tuple[list[dict], dict]:
    log("embedded store (SQLite): one server for every scenario (and one with JWT_ALG=EdDSA)")
    server = Server(workdir, "embedded")
    prep = Prepared(server, workdir)
    eddsa = Server(workdir, "embedded-eddsa", extra_env=EDDSA_ENV)
    prep_eddsa = Prepared(eddsa, workdir)
    on = lambda key: (eddsa, prep_eddsa) if key in EDDSA_SCENARIOS else (server, prep)
    # Everything the scenarios need, made before any is measured.
    prep.hot_token(), prep.admin_token(), prep.users_file(), prep_eddsa.hot_token()
    rows = []
    try:
        paired = [s for s in SCENARIOS if s[0] in ("health", "hot", "hot_eddsa")]
        runs: dict[str, list[dict]] = {key: [] for key, *_ in paired}
        for i in range(PAIRED_REPEATS):
            for key, title, threads, conns in paired:
                log(f"  {title} ({i + 1} of {PAIRED_REPEATS})")
                runs[key].append(run_scenario(key, threads, conns, *on(key)))
        for key, title, _, _ in paired:
            by_rate = sorted(runs[key], key=lambda r: r["rps"])
            median = by_rate[len(by_rate) // 2]
            rows.append({"store": "embedded", "title": title, **median,
                         "runs_rps": [r["rps"] for r in runs[key]], "runs": runs[key]})
        # Before the later scenarios, so its Argon2id work (200 enrolments) is long over when
        # the RSS after all scenarios is read.
        log("  POST /api/v1/auth/mfa/verify (second step of a login)")
        mfa = mfa_verify_rate(server)
        log("  POST /api/v1/auth/email/sign-in (the emailed link's verify step)")
        email_sign_in = email_sign_in_rate(server)
        log("  POST /api/v1/auth/oauth/exchange (a provider sign-in's code exchange)")
        oauth_exchange = oauth_exchange_rate(server)
        log("  POST /api/v1/auth/passkeys/login/finish (a passkey sign-in's finish)")
        passkey_sign_in = passkey_sign_in_rate(server)
        for key, title, threads, conns in SCENARIOS:
            if key in runs:
                continue
            log(f"  {title}")
            rows.append({"store": "embedded", "title": title,
                         **run_scenario(key, threads, conns, *on(key))})
        time.sleep(2)  # let requests still in flight when wrk stopped finish
        final = server.memory()
        final["mfa_verify"] = mfa
        final["email_sign_in"] = email_sign_in
        final["oauth_exchange"] = oauth_exchange
        final["passkey_sign_in"] = passkey_sign_in
        # Hashing threads give their Argon2 memory back after 10 s without work, one after the
        # other: what an idle server holds.
        log(f"  RSS at rest ({IDLE_WAIT} s without requests)")
        time.sleep(IDLE_WAIT)
        final["at_rest"] = server.memory()
    finally:
        server.stop()
        eddsa.stop()
    return rows, final


def bench_mongo(workdir: Path, run_id: str) -> list[dict]:
    where = "BENCH_MONGO_URL" if EXTERNAL_MONGO else "SecantusDB"
    log(f"MongoDB ({where}): a fresh database and server per scenario")
    rows = []
    for key, title, threads, conns in SCENARIOS:
        if key.startswith(("members", "users_")):
            # Their 100k accounts are written straight into the embedded store's file.
            continue
        if key.startswith("events") and not EXTERNAL_MONGO:
            # SecantusDB sorts in Python rather than walking the index (1.4 s a page at 20k
            # events, at any depth): a real MongoDB (BENCH_MONGO_URL) is needed for this one.
            continue
        log(f"  {title}")
        db = f"authkit_bench_{run_id}_{key}"
        mongo = ExternalMongo(db) if EXTERNAL_MONGO else Mongo(workdir)
        server = None
        try:
            server = Server(workdir, f"mongo-{key}", mongo_url=mongo.url, mongo_db=db,
                            extra_env=EDDSA_ENV if key in EDDSA_SCENARIOS else None)
            if mongo.proc is not None:
                server.companions["database"] = mongo.proc.pid
            prep = Prepared(server, workdir)
            row = {"store": "mongodb", "title": title,
                   **run_scenario(key, threads, conns, server, prep)}
            if key == "hot":
                # What the database itself serves of the hot path's kind of work, on the same
                # database and machine: the ceiling the hot path is compared with.
                log("  the database's own find-by-_id rate")
                row["db_find_by_id_rps"] = find_by_id_rate(mongo.url, db, conns)
            rows.append(row)
        finally:
            if server:
                server.stop()
            mongo.stop()
    return rows


FIND_RATE_SCRIPT = """
import sys, threading, time, pymongo
url, db, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
users = pymongo.MongoClient(url, maxPoolSize=clients)[db]["users"]
some_id = users.find_one({}, {"_id": 1})["_id"]
counts = [0] * clients
stop = time.monotonic() + seconds
def run(i):
    while time.monotonic() < stop:
        users.find_one({"_id": some_id})
        counts[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
started = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts) / (time.monotonic() - started))
"""


def find_by_id_rate(url: str, db: str, clients: int) -> float:
    """find_one by `_id` on the users collection, from `clients` threads for DURATION seconds:
    requests/s the database answers for the simplest read there is (the client is Python, like
    the database; both share the machine as the server and wrk did)."""
    wait_quiet({})
    clients = min(clients, 16)
    out = subprocess.run([str(VENV_PYTHON), "-c", FIND_RATE_SCRIPT, url, db, str(clients),
                          str(DURATION)], capture_output=True, text=True, check=True,
                         timeout=DURATION + 60)
    return round(float(out.stdout.strip()), 1)


def startup_times(workdir: Path, runs: int = 5) -> dict:
    """Process start to /ready = 200 on the embedded store: the first run creates the database,
    the others open it."""
    data_dir = workdir / "startup-data"
    times = []
    for i in range(runs):
        server = Server(workdir, f"startup-{i}", data_dir=data_dir)
        times.append(round(server.ready_ms, 1))
        server.stop()
    return {"runs_ms": times, "first_run_creates_database": True,
            "median_ms": round(statistics.median(times), 1), "max_ms": max(times)}


def argon2_rate() -> dict:
    """The raw verify rate on every core, measured at the start and at the end of the run; the
    login target compares with their mean."""
    waited = wait_quiet({})
    cpu = CpuShare({})
    out = subprocess.run([str(ARGON2_RATE), "6"], capture_output=True, text=True, check=True,
                         timeout=120)
    return {**json.loads(out.stdout), "other_cpu_percent": cpu.other_percent(),
            "waited_for_quiet_s": waited}


# --- report -------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return None

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
        "wrk": version(["wrk", "-v"]),
        "rustc": version(["rustc", "--version"]),
        "commit": version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def verdict(ok: bool | None) -> str:
    """None: a figure that explains another, not a target of its own."""
    return "info" if ok is None else "met" if ok else "MISSED"


def round3_table(rows: list[dict], final: dict) -> str:
    """The routes users call often that round 3 added, side by side on the embedded store:
    req/s, one request's store operations, and the rate as a share of the hot path's."""
    by = {(r["store"], r["scenario"]): r for r in rows}
    hot = by[("embedded", "hot")]["rps"]

    def trips(d: dict) -> str:
        if "store_reads" in d:
            return f"{d['store_reads'] + d['store_writes']} ({d['store_reads']}r/{d['store_writes']}w)"
        return f"{d['round_trips']} ({d['reads']}r/{d['writes']}w)"

    lines = ["| route (embedded) | req/s | store operations per request | vs the hot path |",
             "|---|--:|---|--:|"]
    spent = [("POST /api/v1/auth/oauth/exchange (code exchange)", final["oauth_exchange"]),
             ("POST /api/v1/auth/email/sign-in (the link's verify)", final["email_sign_in"]),
             ("POST /api/v1/auth/passkeys/login/finish", final["passkey_sign_in"])]
    for title, r in spent:
        lines.append(f"| {title} | {r['rps']:,.0f} | {trips(r['db_per_request'])} | "
                     f"{r['rps'] / hot:.3f} |")
    for key in ("org_read", "members_first", "members_last", "users_first", "users_last"):
        if ("embedded", key) in by:
            r = by[("embedded", key)]
            lines.append(f"| {r['title']} | {r['rps']:,.0f} | {trips(r['db_per_request'])} | "
                         f"{r['rps'] / hot:.2f} |")
    lines.append(f"| GET /api/v1/user/ (the hot path) | {hot:,.0f} | "
                 f"{trips(by[('embedded', 'hot')]['db_per_request'])} | 1.00 |")
    return "\n".join(lines)


def targets(rows: list[dict], final: dict, argon: dict, startup: dict) -> list[dict]:
    by = {(r["store"], r["scenario"]): r for r in rows}
    out = []

    def add(name, measured, ratio, ok, limit):
        out.append({"target": name, "limit": limit, "measured": measured, "ratio": ratio,
                    "verdict": verdict(ok)})

    h, hot = by[("embedded", "health")]["rps"], by[("embedded", "hot")]["rps"]
    pairs = zip(by[("embedded", "health")]["runs_rps"], by[("embedded", "hot")]["runs_rps"])
    each = ", ".join(f"{b / a:.2f}" for a, b in pairs)
    add("hot path req/s (embedded) vs /health req/s",
        f"median {hot:.0f} vs {h:.0f} req/s (each pair: {each})",
        round(hot / h, 2), hot / h >= 0.6, ">= 0.6x")
    ed = by[("embedded", "hot_eddsa")]["rps"]
    pairs = zip(by[("embedded", "health")]["runs_rps"], by[("embedded", "hot_eddsa")]["runs_rps"])
    each = ", ".join(f"{b / a:.2f}" for a, b in pairs)
    add("hot path req/s with JWT_ALG=EdDSA (embedded) vs /health req/s",
        f"median {ed:.0f} vs {h:.0f} req/s (each pair: {each})",
        round(ed / h, 2), ed / h >= 0.6, ">= 0.6x")
    db = by[("mongodb", "hot")]["db_per_request"]
    add("hot path on MongoDB: round trips and writes per request",
        f"{db['round_trips']} round trips ({db['reads']} reads, {db['writes']} writes)",
        f"{db['round_trips']}/1", db["round_trips"] <= 1 and db["writes"] == 0,
        "1 round trip, 0 writes")
    hot_mongo = by[("mongodb", "hot")]
    if hot_mongo.get("db_find_by_id_rps"):
        find = hot_mongo["db_find_by_id_rps"]
        add("hot path req/s (MongoDB) vs the database's own find-by-_id rate",
            f"{hot_mongo['rps']:.0f} vs {find:.0f} /s", round(hot_mongo["rps"] / find, 2),
            hot_mongo["rps"] / find >= 0.5, ">= 0.5x")
    rate = argon["verifies_per_sec"]
    for store in ("embedded", "mongodb"):
        lg = by[(store, "login")]["rps"]
        add(f"login req/s ({store}) vs raw Argon2id verify rate",
            f"{lg:.1f} vs {rate:.1f} /s", round(lg / rate, 2), lg / rate >= 0.85, ">= 0.85x")
    # A database on this machine takes CPU that hashing would otherwise use: compare with the
    # rate the CPU it left could hash at.
    cpu = by[("mongodb", "login")]["cpu_seconds"]
    if cpu.get("database"):
        left = 1 - cpu["database"] / cpu["capacity"]
        lg = by[("mongodb", "login")]["rps"]
        add("  the same, vs the raw rate on the CPU the database left",
            f"{lg:.1f} vs {rate * left:.1f} /s ({left:.0%} of the CPU left)",
            round(lg / (rate * left), 2), None, "context")
    for store in ("embedded", "mongodb"):
        base, storm = by[(store, "hot")]["p99_ms"], by[(store, "hot_storm")]["p99_ms"]
        add(f"hot path p99 during the login storm ({store})",
            f"{storm:.2f} vs {base:.2f} ms", round(storm / base, 2), storm / base <= 3, "<= 3x")
    for store in ("embedded", "mongodb"):
        if (store, "events_last") not in by:
            continue
        first, last = by[(store, "events_first")]["rps"], by[(store, "events_last")]["rps"]
        add(f"admin events: last page by cursor vs first page, cost per request ({store})",
            f"{last:.0f} vs {first:.0f} req/s", round(first / last, 2), first / last <= 1.5,
            "<= 1.5x")
    for store in ("embedded", "mongodb"):
        if (store, "org_read") in by:
            org, hot = by[(store, "org_read")], by[(store, "hot")]
            trips = org["db_per_request"]["round_trips"]
            add(f"  organization-scoped read vs the hot path ({store})",
                f"{org['rps']:.0f} vs {hot['rps']:.0f} req/s, {trips} store round trips",
                round(org["rps"] / hot["rps"], 2), None, "context")
        if (store, "members_last") in by:
            first, last = by[(store, "members_first")]["rps"], by[(store, "members_last")]["rps"]
            add(f"members: last page by cursor vs first page, cost per request ({store})",
                f"{last:.0f} vs {first:.0f} req/s", round(first / last, 2), first / last <= 1.5,
                "<= 1.5x")
        if (store, "users_last") in by:
            first, last = by[(store, "users_first")]["rps"], by[(store, "users_last")]["rps"]
            add(f"admin users: last page by cursor vs first page, cost per request ({store})",
                f"{last:.0f} vs {first:.0f} req/s", round(first / last, 2), first / last <= 1.5,
                "<= 1.5x")
    for store in ("embedded", "mongodb"):
        if (store, "forgot_known") not in by:
            continue
        known, unknown = by[(store, "forgot_known")], by[(store, "forgot_unknown")]
        spread = abs(known["p50_ms"] - unknown["p50_ms"]) / unknown["p50_ms"]
        add(f"forgot password p50, known vs unknown address ({store})",
            f"{known['p50_ms']:.2f} vs {unknown['p50_ms']:.2f} ms", round(spread, 2),
            spread < 0.10, "< 10% apart")
        slowest = max(known["p99_ms"], unknown["p99_ms"])
        add(f"forgot password p99 with SMTP taking {SMTP_DELAY:.0f} s per mail ({store})",
            f"known {known['p99_ms']:.2f} ms, unknown {unknown['p99_ms']:.2f} ms",
            round(slowest / (SMTP_DELAY * 1000), 3), slowest < SMTP_DELAY * 1000 / 10,
            "< a tenth of the SMTP delay")
    add("RSS after all scenarios (embedded server)", f"{final['rss_mib']:.1f} MiB "
        f"(peak {final['rss_peak_mib']:.1f})", round(final["rss_mib"] / 64, 2),
        final["rss_mib"] <= 64, "<= 64 MiB")
    add("process start to /ready = 200 (embedded)",
        f"median {startup['median_ms']:.0f} ms, max {startup['max_ms']:.0f} ms",
        round(startup["max_ms"] / 200, 2), startup["max_ms"] <= 200, "<= 200 ms (max of runs)")
    return out


def fmt_db(r: dict) -> str:
    d = r.get("db_per_request")
    if d is None:
        return "-"
    text = f"{d['round_trips']} ({d['reads']}r/{d['writes']}w"
    return text + (f"/{d['other']}o)" if d.get("other") else ")")


def table(rows: list[dict]) -> str:
    head = ["store", "scenario", "conns", "req/s", "p50 ms", "p99 ms", "errors", "RSS MiB",
            "DB trips/req", "other CPU"]
    lines = []
    for r in rows:
        conns = str(r["connections"])
        if "storm" in r:
            conns += f"+{r['storm']['connections']}"
        lines.append([r["store"], r["title"], conns, f"{r['rps']:.1f}", f"{r['p50_ms']:.2f}",
                      f"{r['p99_ms']:.2f}", str(r["errors"]), f"{r['rss_mib']:.1f}", fmt_db(r),
                      f"{r['other_cpu_percent']:.0f}%"])
    return markdown_table(head, lines, right={2, 3, 4, 5, 6, 7, 9})


def markdown_table(head: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A Markdown table, padded to line up as text; the columns in `right` aligned right."""
    lines = [head, *rows]
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    out = []
    for n, l in enumerate(lines):
        out.append("| " + " | ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                                     for i, c in enumerate(l)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 1) + (":" if i in right else "-")
                                      for i, w in enumerate(widths)) + "|")
    return "\n".join(out)


def main() -> int:
    global SMTP
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for tool, path in (("server", BIN), ("argon2-rate", ARGON2_RATE), ("SecantusDB", SECANTUSD)):
        if not Path(path).exists():
            raise BenchError(f"{tool} missing at {path}: run bench/run.sh")
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed: run bench/run.sh")

    started = dt.datetime.now(dt.timezone.utc)
    result: dict = {"started_at": started.isoformat(timespec="seconds"), "machine": machine(),
                    "config": {
                        "duration_s": DURATION, "workers": os.cpu_count(),
                        "abuse_limits": "off for the benchmark: " + " ".join(
                            f"{k}={v}" for k, v in LIMITS_OFF.items()),
                        "log_level": "warn", "storm": {"threads": STORM[0], "connections": STORM[1]},
                        "login_users": LOGIN_USERS,
                        # Not the URL itself: it may carry credentials.
                        "mongodb": "BENCH_MONGO_URL (external)" if EXTERNAL_MONGO
                        else "SecantusDB, in memory, on this machine"}}
    with tempfile.TemporaryDirectory(prefix="authkit-bench-") as tmp:
        workdir = Path(tmp)
        try:
            log("binary size")
            result["binary_bytes"] = BIN.stat().st_size
            result["runtime_layer"] = runtime_layer()
            log("raw Argon2id verify rate (all cores)")
            result["argon2_runs"] = [argon2_rate()]
            log("start-up time to /ready (embedded)")
            result["startup"] = startup_times(workdir)
            SMTP = SlowSmtp(workdir)
            rows, final = bench_embedded(workdir)
            result["embedded_final"] = final
            rows += bench_mongo(workdir, started.strftime("%Y%m%dT%H%M%S"))
            log("raw Argon2id verify rate again (the CPU's speed drifts on a shared host)")
            result["argon2_runs"].append(argon2_rate())
        finally:
            stop_all()
    # The mean of the runs that nothing else disturbed (of all runs if every one was disturbed).
    runs = result["argon2_runs"]
    clean = [r for r in runs if r["other_cpu_percent"] <= 5] or runs
    result["argon2"] = {
        **{k: runs[0][k] for k in ("m_cost_kib", "t_cost", "p_cost", "cores", "threads")},
        "verifies_per_sec": round(statistics.mean(r["verifies_per_sec"] for r in clean), 2),
        "ms_per_verify_single_thread": round(
            statistics.mean(r["ms_per_verify_single_thread"] for r in clean), 2),
        "runs_used": len(clean),
        "other_cpu_percent": max(r["other_cpu_percent"] for r in clean),
    }
    result["scenarios"] = rows
    result["targets"] = targets(rows, final, result["argon2"], result["startup"])
    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    a = result["argon2"]
    print(f"\nauthkit benchmark, {result['started_at']}: {result['machine']['nproc']} cores "
          f"({result['machine']['cpu']}), {DURATION} s per scenario, wrk over loopback.")
    print(f"Abuse limits {result['config']['abuse_limits'].split(': ', 1)[1]} (off for the "
          f"benchmark); LOG_LEVEL=warn; WORKERS = cores.")
    print("DB trips/req: one request of the scenario; MongoDB commands on mongodb (reads r, writes w, "
          "other o), store operations on embedded.")
    print("other CPU: share of the machine's CPU used by processes outside the benchmark during the "
          "scenario (noise).\n")
    print(table(rows))
    mfa = final["mfa_verify"]
    d = mfa["db_per_request"]
    print(f"\nsecond step of an MFA login (embedded, {mfa['requests']} second steps from 8 Python "
          f"threads): {mfa['rps']:.0f} req/s, {mfa['ok']} answered 200; one request: "
          f"{d['store_reads']} store reads, {d['store_writes']} store writes "
          f"({', '.join(f'{k} {v}' for k, v in d['store_operations'].items())}), no Argon2id")
    mail = final["email_sign_in"]
    d = mail["db_per_request"]
    print(f"email sign-in, the link's verify step (embedded, {mail['requests']} returning accounts "
          f"from 8 Python threads): {mail['rps']:.0f} req/s, {mail['ok']} answered 200; one "
          f"request: {d['store_reads']} store reads, {d['store_writes']} store writes "
          f"({', '.join(f'{k} {v}' for k, v in d['store_operations'].items())}), no Argon2id")
    grant = final["oauth_exchange"]
    d = grant["db_per_request"]
    print(f"provider sign-in, the app's code exchange (embedded, {grant['requests']} sign-ins from 8 "
          f"Python threads): {grant['rps']:.0f} req/s, {grant['ok']} answered 200; one request: "
          f"{d['store_reads']} store reads, {d['store_writes']} store writes "
          f"({', '.join(f'{k} {v}' for k, v in d['store_operations'].items())}), no provider call")
    keys = final["passkey_sign_in"]
    d = keys["db_per_request"]
    print(f"passkey sign-in, the finish (embedded, {keys['requests']} assertions signed ahead over "
          f"{PASSKEY_CREDENTIALS} passkeys, from 8 Python threads): {keys['rps']:.0f} req/s, {keys['ok']} "
          f"answered 200; one request: {d['store_reads']} store reads, {d['store_writes']} store writes "
          f"({', '.join(f'{k} {v}' for k, v in d['store_operations'].items())}); checking the assertion "
          f"took {keys['verify_ms_per_request']} ms a request, {100 * (keys['verify_share_of_cpu'] or 0):.0f}% "
          f"of the server's CPU time")
    print("\n" + round3_table(rows, final) + "\n")
    print(f"storm beside the hot path: "
          + "; ".join(f"{r['store']} login {r['storm']['rps']:.1f} req/s, p99 {r['storm']['p99_ms']:.0f} ms,"
                      f" {r['storm']['errors']} errors" for r in rows if "storm" in r))
    print(f"raw Argon2id verify (m={a['m_cost_kib']} KiB, t={a['t_cost']}, p={a['p_cost']}): "
          f"{a['verifies_per_sec']:.1f}/s on {a['threads']} threads (runs at the start and the end: "
          + ", ".join(f"{r['verifies_per_sec']:.1f}/s with {r['other_cpu_percent']:.0f}% other CPU"
                      for r in result["argon2_runs"])
          + "; the mean of the undisturbed ones is used) "
          f"({a['ms_per_verify_single_thread']:.1f} ms per verify on one thread)")
    s = result["startup"]
    print(f"start to /ready (embedded): {', '.join(f'{t:.0f}' for t in s['runs_ms'])} ms "
          f"(first run creates the database)")
    print(f"release binary: {result['binary_bytes'] / 1024 / 1024:.1f} MiB ({result['binary_bytes']} bytes)")
    layer = result["runtime_layer"]
    print(f"container runtime layer (the Dockerfile's COPY of the binary): "
          f"{layer['bytes'] / 1024 / 1024:.1f} MiB, {layer['gzip_bytes'] / 1024 / 1024:.1f} MiB "
          f"gzipped as a registry stores it; the user and directories layer under it is a few KiB")
    print(f"embedded server RSS after all scenarios: {final['rss_mib']:.1f} MiB (anonymous "
          f"{final['rss_anon_mib']:.1f}, file-backed {final['rss_file_mib']:.1f}; peak "
          f"{final['rss_peak_mib']:.1f} MiB; {final['threads']} threads); at rest "
          f"{IDLE_WAIT} s later: {final['at_rest']['rss_mib']:.1f} MiB\n")
    noisy = [r for r in rows if r["other_cpu_percent"] > 5]
    if noisy or a["other_cpu_percent"] > 5:
        print("WARNING: other processes used more than 5% of the CPU during "
              + ", ".join([f"{r['store']}/{r['scenario']}" for r in noisy]
                          + (["the Argon2id rate"] if a["other_cpu_percent"] > 5 else []))
              + ": those numbers are noisy; rerun on a quiet machine.\n")
    for t in result["targets"]:
        print(f"  [{t['verdict']:>6}] {t['target']}: {t['measured']} -> {t['ratio']} "
              f"(target {t['limit']})")
    print(f"\nsaved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
