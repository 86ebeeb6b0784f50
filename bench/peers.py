#!/usr/bin/env python3
"""Our server against a peer, better-auth, measured on this machine in one sitting: bench/run.sh
runs it after bench/bench.py (it installs Node.js and the peer's npm packages first; run that, or
`BENCH_PEERS=only bench/run.sh` for this part alone).

Both servers run at once, each on its SQLite store with a clean environment: ours is the release
binary (the embedded store, abuse limits off as in bench.py); theirs is
bench/peers/better-auth/server.mjs (better-auth with its documented production setup, its rate
limiter off and no cookie cache; see the comment at its top). PEER_USERS accounts are made on
each through its own sign-up route, and each signs in once for a session.

Three scenarios, each a wrk run of BENCH_DURATION seconds over loopback:
  floor   the server's route that touches no database: ours GET /health, theirs GET /api/auth/ok
  whoami  the signed-in user from a Bearer token: ours GET /api/v1/user/ (an access token),
          theirs GET /api/auth/get-session (the session token from the `set-auth-token` header
          of the bearer plugin); every request cycles over the PEER_USERS sessions
  signin  email and password: ours POST /api/v1/auth/login, theirs POST /api/auth/sign-in/email,
          cycling over the PEER_USERS accounts; each is set against its own hash's raw rate
          (ours Argon2id, bench/argon2-rate; theirs scrypt, bench/peers/better-auth/hash-rate.mjs),
          measured at the start and at the end of the sitting
Before the sitting each scenario runs BENCH_PEER_WARMUP seconds on each server, not recorded
(Node.js compiles its hot code as it runs). Then the sitting alternates: for each of
BENCH_PEER_PAIRS pairs, every scenario on ours and then on theirs. The table shows the median run
of each side, and the ratios ours/theirs are the medians of the pairs' ratios; every run is in the
JSON, bench/results/peers-<UTC time>.json.

Reuses bench.py's processes, wrk, CPU-share and quiet-machine helpers. Only the standard library.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench as b

PEER_DIR = b.ROOT / "bench" / "peers" / "better-auth"
PAIRS = int(os.environ.get("BENCH_PEER_PAIRS", "3"))
WARMUP = int(os.environ.get("BENCH_PEER_WARMUP", "2"))  # seconds per scenario and server
PEER_USERS = 256  # accounts on each server; the whoami and signin scenarios cycle over them
HASH_SECONDS = 6  # each raw hash-rate measurement: half of it one at a time, then all of it at once
# Our access tokens live 15 minutes by default; a sitting with long quiet-machine waits can be
# longer. The lifetime does not change what checking a token costs.
OURS_ENV = {"ACCESS_TOKEN_TTL": "2h"}

# key, title, wrk threads, wrk connections: as bench.py's /health, hot path and login scenarios.
SCENARIOS = [
    ("floor", "no-database floor", 2, 64),
    ("whoami", "who am I (Bearer)", 2, 64),
    ("signin", "sign-in (email + password)", 2, 8),
]


def users(n: int = PEER_USERS) -> list[str]:
    return [f"peer{i}@bench.example.com" for i in range(n)]


class Ours:
    """Our release binary on its embedded store."""

    name = "authkit"
    routes = {"floor": "/health", "whoami": "/api/v1/user/", "signin": "/api/v1/auth/login"}
    # A 2xx answer must carry this, or it counts as an error (see bench.lua's BENCH_EXPECT).
    expect = {"whoami": '"email"', "signin": '"access_token"'}

    def __init__(self, workdir: Path):
        self.server = b.Server(workdir, "peer-authkit", extra_env=OURS_ENV)
        self.proc, self.port = self.server.proc, self.server.port

    def sign_up_and_in(self, email: str) -> str:
        """A new account, then a login: its access token."""
        self.server.ok("POST", "/api/v1/auth/register", {
            "username": email.split("@")[0], "email": email, "password": b.PASSWORD,
            "full_name": "Bench User"})
        return b.login(self.server, email)["access_token"]

    def statements(self, key: str, token: str) -> dict:
        """Store operations of one request (each one call into SQLite), from /metrics."""
        send = {
            "floor": lambda: self.server.ok("GET", self.routes["floor"]),
            "whoami": lambda: self.server.ok("GET", self.routes["whoami"],
                                             headers={"Authorization": f"Bearer {token}"}),
            "signin": lambda: b.login(self.server, users()[0]),
        }[key]
        trips = b.round_trips(self.server, send)
        return {"reads": trips["store_reads"], "writes": trips["store_writes"], "other": 0,
                "operations": trips["store_operations"]}

    def memory(self) -> dict:
        return self.server.memory()

    def stop(self):
        self.server.stop()


class BetterAuth:
    """bench/peers/better-auth/server.mjs on Node.js, in an empty working directory. Borrows the
    request, memory and stop methods of bench.py's Server."""

    name = "better-auth"
    routes = {"floor": "/api/auth/ok", "whoami": "/api/auth/get-session",
              "signin": "/api/auth/sign-in/email"}
    # get-session answers 200 with `null` for a session it does not know.
    expect = {"whoami": '"session"', "signin": '"token"'}
    request, ok, state = b.Server.request, b.Server.ok, b.Server.state
    memory, stop = b.Server.memory, b.Server.stop

    def __init__(self, workdir: Path):
        self.port = b.free_port()
        self.dir = workdir / "peer-better-auth"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "server.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NODE_ENV": "production",
            "PORT": str(self.port),
            "BENCH_DB": str(self.dir / "better-auth.sqlite"),
            "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        }
        node = shutil.which("node")
        if node is None:
            raise b.BenchError("node is not installed: run bench/run.sh")
        started = time.monotonic()
        self.proc = b.spawn([node, str(PEER_DIR / "server.mjs")], cwd=self.dir, env=self.env,
                            stdin=subprocess.DEVNULL, stdout=self.log.open("a"),
                            stderr=subprocess.STDOUT)
        while b.status_of(self.port, "/api/auth/ok") != 200:
            if self.proc.poll() is not None or time.monotonic() - started > 60:
                raise b.BenchError(f"better-auth did not start: {self.state()}")
            time.sleep(0.05)
        self.ready_ms = round((time.monotonic() - started) * 1000, 1)
        # server.mjs prints one JSON line when it listens: the port and the versions it runs.
        line = next((l for l in self.log.read_text().splitlines() if l.startswith('{"listening"')),
                    None)
        self.versions = json.loads(line) if line else {"node": None, "sqlite": None}

    def sign_up_and_in(self, email: str) -> str:
        """A new account through sign-up, which signs it in: the session token as the bearer
        plugin hands it out (`set-auth-token`: the token and its signature, what a client sends
        as `Authorization: Bearer`)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", "/api/auth/sign-up/email", body=json.dumps(
                {"name": "Bench User", "email": email, "password": b.PASSWORD}),
                headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = resp.read().decode()
        finally:
            conn.close()
        token = resp.getheader("set-auth-token")
        if resp.status != 200 or not token:
            raise b.BenchError(f"better-auth sign-up answered {resp.status}: {body[:300]}")
        return token

    def statements(self, key: str, token: str) -> dict:
        """SQL statements of one request, counted by the server where better-sqlite3 prepares
        them (GET /bench/statements)."""
        before = self.ok("GET", "/bench/statements")
        if key == "signin":
            self.ok("POST", self.routes[key], {"email": users()[0], "password": b.PASSWORD})
        else:
            answer = self.ok("GET", self.routes[key], headers={"Authorization": f"Bearer {token}"})
            if key == "whoami" and not answer:
                raise b.BenchError(f"better-auth get-session did not know the session: {answer}")
        after = self.ok("GET", "/bench/statements")
        return {k: after[k] - before[k] for k in after}


def measure(side, other, key: str, threads: int, conns: int, tokens_file: Path, users_file: Path,
            duration: int | None = None) -> dict:
    """One wrk run of a scenario on one side; the other server idles (its CPU is counted apart,
    not as noise)."""
    path = side.routes[key]
    env = {"BENCH_MODE": "get"}
    if key == "whoami":
        env = {"BENCH_MODE": "bearer", "BENCH_TOKENS_FILE": str(tokens_file),
               "BENCH_THREADS": str(threads), "BENCH_EXPECT": side.expect[key]}
    elif key == "signin":
        env = {"BENCH_MODE": "login", "BENCH_LOGIN_PATH": path,
               "BENCH_USERS_FILE": str(users_file), "BENCH_EXPECT": side.expect[key]}
    pids = {"server": side.proc.pid, "idle_peer": other.proc.pid}
    result: dict = {"server": side.name, "scenario": key, "path": path, "threads": threads,
                    "connections": conns}
    if duration is None:
        result["waited_for_quiet_s"] = b.wait_quiet(pids)
    cpu = b.CpuShare(pids)
    result.update(b.wrk_finish(b.wrk_start(
        b.wrk_cmd(side, threads, conns, path, duration=duration), env)))
    result["cpu_seconds"] = cpu.report()
    result["other_cpu_percent"] = result["cpu_seconds"]["other_percent"]
    result["server_cpu_us_per_request"] = round(
        result["cpu_seconds"]["server"] / max(result["requests"], 1) * 1e6, 1)
    result.update(side.memory())
    if result["requests"] == 0:
        raise b.BenchError(f"{side.name} {key}: no request completed")
    return result


def scrypt_rate(concurrency: int) -> dict:
    """better-auth's raw verify rate (hash-rate.mjs), as bench.py's argon2_rate does ours."""
    waited = b.wait_quiet({})
    cpu = b.CpuShare({})
    out = subprocess.run([shutil.which("node") or "node", str(PEER_DIR / "hash-rate.mjs"),
                          str(HASH_SECONDS), str(concurrency)], cwd=PEER_DIR, capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise b.BenchError(f"hash-rate.mjs failed: {out.stderr[-2000:]}")
    return {**json.loads(out.stdout), "other_cpu_percent": cpu.other_percent(),
            "waited_for_quiet_s": waited}


# What a raw-rate run says of the hash and the threads rather than of its speed.
HASH_SETTINGS = ("m_cost_kib", "t_cost", "p_cost", "cores", "threads",  # Argon2id
                 "scheme", "N", "r", "p", "dkLen", "memory_kib", "threadpool", "concurrency")


def mean_of_clean(runs: list[dict]) -> dict:
    """The settings of the runs and the mean rate of those nothing else disturbed (of all runs
    if every one was), as bench.py does for the Argon2id rate."""
    clean = [r for r in runs if r["other_cpu_percent"] <= 5] or runs
    return {**{k: runs[0][k] for k in HASH_SETTINGS if k in runs[0]},
            "verifies_per_sec": round(statistics.mean(r["verifies_per_sec"] for r in clean), 2),
            "ms_per_verify_single_thread": round(
                statistics.mean(r["ms_per_verify_single_thread"] for r in clean), 2),
            "runs_used": len(clean), "other_cpu_percent": max(r["other_cpu_percent"] for r in clean)}


def package_version(name: str) -> str | None:
    try:
        return json.loads((PEER_DIR / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def summarize(runs: dict[str, dict[str, list[dict]]], rates: dict) -> list[dict]:
    out = []
    for key, title, threads, conns in SCENARIOS:
        ours, theirs = runs[key]["authkit"], runs[key]["better-auth"]
        pairs = [{"rps": round(o["rps"] / t["rps"], 2), "p50": round(o["p50_ms"] / t["p50_ms"], 2),
                  "p99": round(o["p99_ms"] / t["p99_ms"], 2)} for o, t in zip(ours, theirs)]
        row = {"scenario": key, "title": title, "threads": threads, "connections": conns,
               "authkit": median_run(ours), "better-auth": median_run(theirs),
               "pair_ratios": pairs,
               "ratio": {k: round(statistics.median(p[k] for p in pairs), 2)
                         for k in ("rps", "p50", "p99")}}
        if key == "signin":
            for side, hash_name in (("authkit", "argon2id"), ("better-auth", "scrypt")):
                rate = rates[hash_name]["verifies_per_sec"]
                row[f"{side}_of_raw_hash_rate"] = round(row[side]["rps"] / rate, 2)
        out.append(row)
    return out


def fmt_statements(s: dict | None) -> str:
    return "-" if s is None else f"{s['reads'] + s['writes'] + s['other']} ({s['reads']}r/{s['writes']}w" \
        + (f"/{s['other']}o)" if s["other"] else ")")


def report(result: dict) -> str:
    rows, lines = result["scenarios"], []
    for r in rows:
        for side in ("authkit", "better-auth"):
            m = r[side]
            lines.append([r["title"], side, f"{m['path']}", str(r["connections"]),
                          f"{m['rps']:.1f}", f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}",
                          str(m["errors"]), f"{m['server_cpu_us_per_request']:.0f}",
                          f"{m['rss_mib']:.1f}", fmt_statements(result["statements"][side][r["scenario"]]),
                          f"{m['other_cpu_percent']:.0f}%"])
    runs = b.markdown_table(
        ["scenario", "server", "route", "conns", "req/s", "p50 ms", "p99 ms", "errors",
         "CPU µs/req", "RSS MiB", "SQL/req", "other CPU"], lines, right={3, 4, 5, 6, 7, 8, 9, 11})
    lines = []
    for r in rows:
        each = lambda k: ", ".join(f"{p[k]:.2f}" for p in r["pair_ratios"])
        lines.append([r["title"], f"{r['ratio']['rps']:.2f} ({each('rps')})",
                      f"{r['ratio']['p50']:.2f} ({each('p50')})",
                      f"{r['ratio']['p99']:.2f} ({each('p99')})"])
    ratios = b.markdown_table(["scenario", "req/s ours/theirs (pairs)", "p50 ours/theirs (pairs)",
                               "p99 ours/theirs (pairs)"], lines, right=set())
    lines = []
    for key, title, _, _ in SCENARIOS:
        by_side = result["runs"][key]
        for i, (o, t) in enumerate(zip(by_side["authkit"], by_side["better-auth"])):
            lines.append([title, str(i + 1)]
                         + [f"{m['rps']:.1f} ({m['p50_ms']:.2f} / {m['p99_ms']:.2f})" for m in (o, t)]
                         + [f"{o['rps'] / t['rps']:.2f}",
                            f"{o['other_cpu_percent']:.0f}% / {t['other_cpu_percent']:.0f}%"])
    pairs = b.markdown_table(["scenario", "pair", "authkit req/s (p50 / p99 ms)",
                              "better-auth req/s (p50 / p99 ms)", "req/s ratio", "other CPU"],
                             lines, right={1, 2, 3, 4, 5})
    return runs + "\n\n" + ratios + "\n\nEvery pair, in the order run:\n\n" + pairs


def main() -> int:
    signal.signal(signal.SIGTERM, b.on_signal)
    signal.signal(signal.SIGINT, b.on_signal)
    if PAIRS < 1:
        raise b.BenchError("BENCH_PEER_PAIRS must be at least 1")
    for tool, path in (("server", b.BIN), ("argon2-rate", b.ARGON2_RATE),
                       ("better-auth", PEER_DIR / "node_modules" / "better-auth")):
        if not Path(path).exists():
            raise b.BenchError(f"{tool} missing at {path}: run bench/run.sh")
    if not shutil.which("wrk"):
        raise b.BenchError("wrk is not installed: run bench/run.sh")

    started = dt.datetime.now(dt.timezone.utc)
    machine = b.machine()
    result: dict = {
        "started_at": started.isoformat(timespec="seconds"), "machine": machine,
        "versions": {
            "authkit_commit": machine["commit"],
            "authkit_binary_built_at": dt.datetime.fromtimestamp(
                b.BIN.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds"),
            "better-auth": package_version("better-auth"),
            "better-sqlite3": package_version("better-sqlite3"),
        },
        "config": {
            "duration_s": b.DURATION, "pairs": PAIRS, "warmup_s": WARMUP, "users": PEER_USERS,
            "scenarios": {k: {"title": t, "threads": th, "connections": c}
                          for k, t, th, c in SCENARIOS},
            "authkit": {"store": "embedded (SQLite)", "workers": os.cpu_count(),
                        "abuse_limits": " ".join(f"{k}={v}" for k, v in b.LIMITS_OFF.items()),
                        "env": OURS_ENV},
            "better-auth": {"database": "better-sqlite3, journal_mode=WAL, synchronous=FULL",
                            "plugins": ["bearer"], "rateLimit": {"enabled": False},
                            "session.cookieCache": {"enabled": False}, "NODE_ENV": "production",
                            "processes": 1},
        },
    }
    runs = {key: {"authkit": [], "better-auth": []} for key, *_ in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="authkit-peers-") as tmp:
        workdir = Path(tmp)
        try:
            b.log("peer comparison: our server and better-auth, on this machine in one sitting")
            ours, theirs = Ours(workdir), BetterAuth(workdir)
            result["versions"].update(node=theirs.versions["node"],
                                      sqlite_better_auth=theirs.versions["sqlite"])
            result["startup_ms"] = {"authkit": round(ours.server.ready_ms, 1),
                                    "better-auth": theirs.ready_ms}
            sides = {"authkit": (ours, theirs), "better-auth": (theirs, ours)}
            files = {}
            for side, _ in sides.values():
                b.log(f"  {PEER_USERS} accounts and sessions on {side.name}")
                tokens = b.parallel(side.sign_up_and_in, users())
                files[side.name] = (workdir / f"tokens-{side.name}.txt",
                                    workdir / f"users-{side.name}.tsv")
                files[side.name][0].write_text("\n".join(tokens) + "\n")
                files[side.name][1].write_text("".join(f"{u}\t{b.PASSWORD}\n" for u in users()))
            result["statements"] = {
                name: {key: side.statements(key, files[name][0].read_text().split()[0])
                       for key, *_ in SCENARIOS}
                for name, (side, _) in sides.items()}
            concurrency = dict((k, c) for k, _, _, c in SCENARIOS)["signin"]
            b.log("  raw password-verify rates: Argon2id (ours), scrypt (better-auth)")
            result["hash_runs"] = {"argon2id": [b.argon2_rate()],
                                   "scrypt": [scrypt_rate(concurrency)]}
            if WARMUP > 0:
                b.log(f"  warm-up: each scenario {WARMUP} s on each server")
                for key, title, threads, conns in SCENARIOS:
                    for name, (side, other) in sides.items():
                        w = measure(side, other, key, threads, conns, *files[name], duration=WARMUP)
                        if w["errors"]:
                            raise b.BenchError(f"{name} {key}: {w['errors']} errors in the warm-up "
                                               f"({w['non2xx']} non-2xx); {side.state()}")
            for i in range(PAIRS):
                for key, title, threads, conns in SCENARIOS:
                    for name, (side, other) in sides.items():
                        b.log(f"  {title}, {name} ({i + 1} of {PAIRS})")
                        runs[key][name].append(
                            measure(side, other, key, threads, conns, *files[name]))
            time.sleep(2)  # let requests still in flight when wrk stopped finish
            result["rss_after_sitting"] = {name: side.memory() for name, (side, _) in sides.items()}
            b.log("  raw password-verify rates again")
            result["hash_runs"]["argon2id"].append(b.argon2_rate())
            result["hash_runs"]["scrypt"].append(scrypt_rate(concurrency))
        finally:
            b.stop_all()
    rates = {name: mean_of_clean(runs_) for name, runs_ in result["hash_runs"].items()}
    result["hash_rates"] = rates
    result["scenarios"] = summarize(runs, rates)
    result["runs"] = runs
    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    b.RESULTS.mkdir(parents=True, exist_ok=True)
    path = b.RESULTS / f"peers-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    v = result["versions"]
    print(f"\nauthkit {v['authkit_commit']} against better-auth {v['better-auth']} "
          f"(better-sqlite3 {v['better-sqlite3']}, SQLite {v['sqlite_better_auth']}, Node.js "
          f"{v['node']}), {result['started_at']}: {machine['nproc']} cores ({machine['cpu']}), "
          f"{b.DURATION} s per run, {PAIRS} alternating pairs, wrk over loopback.")
    print("Each side's row is its median run; ratios are the medians of the pairs' ratios. "
          "CPU µs/req: the server process's CPU time per request (all its threads). SQL/req: "
          "statements of one request (reads r, writes w, other o).\n")
    print(report(result))
    a, s = rates["argon2id"], rates["scrypt"]
    signin = next(r for r in result["scenarios"] if r["scenario"] == "signin")
    print(f"\nsign-in against its own hash's raw rate: authkit {signin['authkit']['rps']:.1f} req/s "
          f"vs Argon2id (m={a['m_cost_kib']} KiB, t={a['t_cost']}, p={a['p_cost']}) "
          f"{a['verifies_per_sec']:.1f}/s on {a['threads']} threads: {signin['authkit_of_raw_hash_rate']:.2f}; "
          f"better-auth {signin['better-auth']['rps']:.1f} req/s vs scrypt (N={s['N']}, r={s['r']}, "
          f"p={s['p']}) {s['verifies_per_sec']:.1f}/s with {s['concurrency']} in flight on "
          f"{s['threadpool']} pool threads: {signin['better-auth_of_raw_hash_rate']:.2f}")
    print(f"one verify on one thread: Argon2id {a['ms_per_verify_single_thread']:.1f} ms, scrypt "
          f"{s['ms_per_verify_single_thread']:.1f} ms (runs at the start and the end: "
          + "; ".join(f"{k} " + ", ".join(f"{r['verifies_per_sec']:.1f}/s with "
                                          f"{r['other_cpu_percent']:.0f}% other CPU" for r in rs)
                      for k, rs in result["hash_runs"].items()) + ")")
    rss = result["rss_after_sitting"]
    print("RSS after the sitting: " + ", ".join(
        f"{k} {m['rss_mib']:.1f} MiB (peak {m['rss_peak_mib']:.1f}, {m['threads']} threads)"
        for k, m in rss.items()))
    print(f"start to ready: authkit {result['startup_ms']['authkit']:.0f} ms, better-auth "
          f"{result['startup_ms']['better-auth']:.0f} ms (its schema created at start)")
    noisy = [m for by_side in runs.values() for side_runs in by_side.values() for m in side_runs
             if m["other_cpu_percent"] > 5]
    hashes_noisy = max(a["other_cpu_percent"], s["other_cpu_percent"]) > 5
    if noisy or hashes_noisy:
        print(f"\nWARNING: other processes used more than 5% of the CPU during {len(noisy)} of "
              f"{len(SCENARIOS) * 2 * PAIRS} runs" + (" and the raw hash rates" if hashes_noisy else "")
              + ": those numbers are noisy; rerun on a quiet machine.")
    print(f"\nsaved {path.relative_to(b.ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except b.BenchError as e:
        print(f"peers: {e}", file=sys.stderr)
        sys.exit(1)
