-- wrk script for bench/run.sh. The mode comes from the environment:
--   BENCH_MODE=get       the URL and headers given on the command line (static request)
--   BENCH_MODE=login     POST {"email":...,"password":...} to /api/v1/auth/login (or to
--                        BENCH_LOGIN_PATH), cycling over the users in BENCH_USERS_FILE
--                        (one "login<TAB>password" per line)
--   BENCH_MODE=register  POST /api/v1/auth/register, a new unique user every request
--                        (names start with BENCH_RUN_ID)
--   BENCH_MODE=post      POST the JSON body BENCH_BODY to the URL's path, every request alike
--   BENCH_MODE=refresh   POST /api/v1/auth/refresh with rotation: each thread holds a pool of
--                        refresh tokens from BENCH_TOKENS_FILE (one per line); a request takes a
--                        token out of the pool and a 200 puts the rotated one back, so every
--                        token is sent exactly once. A refused refresh loses its token; when a
--                        pool runs dry the request goes out with an invalid token and fails,
--                        so errors are never hidden.
--   BENCH_MODE=bearer    GET the URL's path with `Authorization: Bearer <token>`, cycling over
--                        the tokens in BENCH_TOKENS_FILE (one per line), split between the
--                        threads as in refresh mode (BENCH_THREADS)
-- BENCH_EXPECT (modes login, register, post, bearer): a 2xx answer whose body does not contain
-- this text counts as non-2xx too (for a server that answers a refused request with 200, as
-- better-auth's get-session answers `null`).
-- done() prints one line `BENCH_JSON {...}` with the counts and latency percentiles (µs).
-- Errors: wrk counts every status >= 400 and every socket error; modes that read the
-- response also count every non-2xx answer themselves (non2xx).

local mode = os.getenv("BENCH_MODE") or "get"
local threads = {}
local counter = 0

local function lines(path)
  local out = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  return out
end

-- Runs in the main state, once per thread, before that thread starts.
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  threads[#threads + 1] = thread
  if mode == "refresh" or mode == "bearer" then
    local per = tonumber(os.getenv("BENCH_THREADS") or "1")
    local all = lines(os.getenv("BENCH_TOKENS_FILE"))
    local mine = {}
    for i = counter, #all, per do mine[#mine + 1] = all[i] end
    thread:set("pool", table.concat(mine, "\n"))
  end
end

non2xx = 0
local json = { ["Content-Type"] = "application/json" }

if mode == "login" then
  local users
  local n = 0
  function init(args)
    users = lines(os.getenv("BENCH_USERS_FILE"))
    n = id or 0
  end
  local path = os.getenv("BENCH_LOGIN_PATH") or "/api/v1/auth/login"
  function request()
    n = n + 1
    local login, password = users[(n % #users) + 1]:match("^([^\t]+)\t(.+)$")
    return wrk.format("POST", path, json,
      string.format('{"email":"%s","password":"%s"}', login, password))
  end
elseif mode == "register" then
  local n = 0
  local run = os.getenv("BENCH_RUN_ID") or "r"
  function request()
    n = n + 1
    local name = string.format("%s_%d_%d", run, id or 0, n)
    return wrk.format("POST", "/api/v1/auth/register", json,
      string.format('{"username":"%s","email":"%s@bench.example.com","password":"bench password %s","full_name":"Bench User"}',
        name, name, name))
  end
elseif mode == "post" then
  local body = os.getenv("BENCH_BODY") or "{}"
  function request()
    return wrk.format("POST", nil, json, body)
  end
elseif mode == "refresh" then
  local tokens = {}
  function init(args)
    for t in (pool or ""):gmatch("[^\n]+") do tokens[#tokens + 1] = t end
  end
  function request()
    local t = table.remove(tokens) or "pool-exhausted"
    return wrk.format("POST", "/api/v1/auth/refresh", json,
      string.format('{"refresh_token":"%s"}', t))
  end
  function response(status, headers, body)
    if status == 200 then
      local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if t then tokens[#tokens + 1] = t end
    end
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
  end
elseif mode == "bearer" then
  local requests = {}
  local n = 0
  function init(args)
    for t in (pool or ""):gmatch("[^\n]+") do
      requests[#requests + 1] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. t })
    end
    if #requests == 0 then requests[1] = wrk.format("GET", nil, {}) end
  end
  function request()
    n = n + 1
    return requests[(n % #requests) + 1]
  end
end

local expect = os.getenv("BENCH_EXPECT")
if expect == "" then expect = nil end
if mode ~= "get" and response == nil then
  function response(status, headers, body)
    if status < 200 or status > 299 or (expect and not body:find(expect, 1, true)) then
      non2xx = non2xx + 1
    end
  end
end

function done(summary, latency, requests)
  local counted = -1
  if mode ~= "get" then
    counted = 0
    for _, t in ipairs(threads) do counted = counted + (t:get("non2xx") or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, counted, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
