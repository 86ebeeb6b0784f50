// The peer of bench/peers.py: a minimal better-auth server, as its documentation sets one up for
// production on Node.js: `betterAuth` on a better-sqlite3 database, email and password sign-in,
// the `bearer` plugin (sessions as `Authorization: Bearer <token>`, for clients that are not
// browsers), and the official Node handler (`toNodeHandler` from "better-auth/node") on
// node:http, under /api/auth. The schema is created at start with `getMigrations` from
// "better-auth/db/migration", which needs neither the CLI package nor the network.
//
// Changed from the defaults, for a throughput run, and why:
//   - rateLimit.enabled = false. In production it is on by default: 100 requests per 10 s per
//     client address, and 3 per 10 s on /sign-in/* and /sign-up/*. A load test from one address
//     would be refused at once; our own server's abuse limits are off in the benchmark alike.
//   - session.cookieCache.enabled = false. That is already the default in 1.7; it is set so that
//     the measured get-session is the database read. (The cache is a signed cookie the client
//     sends back; a Bearer client does not send it, so it would not apply anyway.)
//   - journal_mode = WAL and synchronous = FULL on the SQLite file: the mode better-sqlite3
//     recommends for a server, and the pragmas of our embedded store, so both write alike.
// Everything else is better-auth's default: scrypt password hashes (N=16384, r=16, p=1 on the
// libuv thread pool of 4 threads), 7-day sessions refreshed once a day, no cookie cache, no
// secondary storage, telemetry off, one Node.js process.
//
// Environment: PORT, BENCH_DB (the SQLite file), BETTER_AUTH_SECRET, NODE_ENV=production.
// GET /bench/statements (outside better-auth's routes) answers the SQL statements run so far,
// counted where better-sqlite3 prepares them, so that bench/peers.py can count one request's
// database work as it does for our server from /metrics.
import http from "node:http";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { bearer } from "better-auth/plugins/bearer";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";

const port = Number(process.env.PORT);
if (!port || !process.env.BENCH_DB || !process.env.BETTER_AUTH_SECRET) {
  console.error("PORT, BENCH_DB and BETTER_AUTH_SECRET must be set");
  process.exit(2);
}

const db = new Database(process.env.BENCH_DB);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");

// Kysely's SQLite driver prepares every statement it runs: one prepare is one statement.
const statements = { reads: 0, writes: 0, other: 0 };
const prepare = db.prepare.bind(db);
db.prepare = (sql) => {
  const verb = sql.trimStart().slice(0, 6).toLowerCase();
  if (verb === "select" || verb.startsWith("with")) statements.reads++;
  else if (verb === "insert" || verb === "update" || verb === "delete") statements.writes++;
  else statements.other++;
  return prepare(sql);
};

const options = {
  baseURL: `http://127.0.0.1:${port}`,
  secret: process.env.BETTER_AUTH_SECRET,
  database: db,
  emailAndPassword: { enabled: true },
  plugins: [bearer()],
  rateLimit: { enabled: false },
  session: { cookieCache: { enabled: false } },
};

const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
const handler = toNodeHandler(auth);

const server = http.createServer((req, res) => {
  if (req.url === "/bench/statements") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(statements));
    return;
  }
  handler(req, res);
});
server.listen(port, "127.0.0.1", () => {
  const sqlite = prepare("SELECT sqlite_version() AS v").get().v;
  console.log(JSON.stringify({ listening: port, node: process.version, sqlite }));
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    db.close();
    process.exit(0);
  });
}
