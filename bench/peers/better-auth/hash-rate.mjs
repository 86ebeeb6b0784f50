// Raw password-verify rate of better-auth on this machine, the peer of bench/argon2-rate: its own
// `verifyPassword` from "better-auth/crypto" (what POST /api/auth/sign-in/email runs), on a hash
// made by its own `hashPassword`. That is node:crypto's scrypt with the parameters of
// @better-auth/utils (read from its source below, so a new version reports its own), run on the
// libuv thread pool (UV_THREADPOOL_SIZE, 4 by default), as in the server.
//
// Measures one verify at a time for SECONDS / 2, then CONCURRENCY verifies in flight at once (the
// sign-in scenario's connection count) for SECONDS.
// Usage: node hash-rate.mjs [SECONDS] [CONCURRENCY]   (defaults: 5 s, 8)
// Prints one JSON object on stdout.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { hashPassword, verifyPassword } from "better-auth/crypto";

const seconds = Number(process.argv[2] ?? 5);
const concurrency = Number(process.argv[3] ?? 8);
const PASSWORD = "correct horse battery staple";

// The parameters as @better-auth/utils configures scrypt on Node.js (the "node" export).
const source = readFileSync(fileURLToPath(import.meta.resolve("@better-auth/utils/password")), "utf8");
const param = (name) => Number(source.match(new RegExp(`\\b${name}:\\s*(\\d+)`))?.[1] ?? NaN);
const params = { N: param("N"), r: param("r"), p: param("p"), dkLen: param("dkLen") };

const hash = await hashPassword(PASSWORD);
if (!(await verifyPassword({ hash, password: PASSWORD }))) throw new Error("verify failed");

// Verifies per second with `inFlight` verifies at once for `duration` seconds.
async function rate(inFlight, duration) {
  const stop = performance.now() + duration * 1000;
  const start = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < stop) {
      await verifyPassword({ hash, password: PASSWORD });
      done++;
    }
  }));
  return { rate: done / ((performance.now() - start) / 1000), done };
}

const single = await rate(1, seconds / 2);
const all = await rate(concurrency, seconds);
console.log(JSON.stringify({
  scheme: "scrypt",
  ...params,
  memory_kib: (128 * params.N * params.r) / 1024,
  threadpool: Number(process.env.UV_THREADPOOL_SIZE || 4),
  concurrency,
  verifies: all.done,
  verifies_per_sec: Number(all.rate.toFixed(2)),
  single_thread_verifies_per_sec: Number(single.rate.toFixed(2)),
  ms_per_verify_single_thread: Number((1000 / single.rate).toFixed(2)),
}));
