#!/usr/bin/env bash
# End-to-end checks in a real browser: installs Debian's Chromium and playwright-core (npm) if
# missing, starts the server on the embedded store in a temp dir, and drives
# - Swagger UI through register, login, Authorize, /user/, refresh and sessions
#   (tests/browser/docs_flow.js);
# - a single-page app served on another localhost port, with CORS_ORIGINS naming it, through
#   login, reload, two tabs, a 429, a sibling origin's forged requests and logout
#   (tests/browser/spa_flow.js, against a second server);
# - the reset-password and verify-email pages that mails link to, on a third server that writes
#   its mail to the log as development does (tests/browser/pages_flow.js);
# - sign in with a provider (tests/browser/provider_flow.js): a real OpenID provider
#   (oidc-provider, the one scripts/test.sh starts, or one started here) on 127.0.0.1 and a server
#   on localhost, so the provider is another site, with a query and a form_post client; once on
#   the embedded store and once on MongoDB when TEST_MONGO_URL is set;
# - passkeys through the /passkeys page with Chromium's virtual authenticator
#   (tests/browser/passkey_flow.js), on a server at localhost (the relying party);
# - the browser client clients/js/authkit.js from an SPA on a second origin
#   (tests/browser/client_flow.js): two tabs through expiry, one refresh for many calls, logout
#   seen by the other tab, errors, the second factor, a passkey and a provider sign-in.
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
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# Waits (up to 10 s) until the server at $1 answers /ready.
wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf "$1/ready" >/dev/null && return 0
    sleep 0.1
  done
}
PORT=$(free_port)
SPA_API_PORT=$(free_port)
SPA_PORT=$(free_port)
SIBLING_PORT=$(free_port)
PAGES_PORT=$(free_port)
CONSOLE_PORT=$(free_port)
# `exec`, so that each PID is the server itself and the trap stops it, not only a subshell.
mkdir -p "$WORK/docs" "$WORK/spa"
(cd "$WORK/docs" && exec env -i PATH="$PATH" PORT="$PORT" "$OLDPWD/target/debug/authkit" >"$WORK/docs.log" 2>&1) &
SERVER=$!
(cd "$WORK/spa" && exec env -i PATH="$PATH" PORT="$SPA_API_PORT" \
  CORS_ORIGINS="http://localhost:$SPA_PORT,http://127.0.0.1:$SPA_PORT" LOGIN_LOCKOUT=2/30s \
  "$OLDPWD/target/debug/authkit" >"$WORK/spa.log" 2>&1) &
SPA_SERVER=$!
mkdir -p "$WORK/pages"
(cd "$WORK/pages" && exec env -i PATH="$PATH" PORT="$PAGES_PORT" LOG_FORMAT=json \
  "$OLDPWD/target/debug/authkit" >"$WORK/pages.log" 2>&1) &
PAGES_SERVER=$!
mkdir -p "$WORK/console"
CONSOLE_ENV=(PATH="$PATH" PORT="$CONSOLE_PORT" JWT_ALG=EdDSA JWKS_MAX_AGE=1s)
echo 'console admin password' | (cd "$WORK/console" && env -i "${CONSOLE_ENV[@]}" \
  "$OLDPWD/target/debug/authkit" create-admin --email root@example.com --username root --password-stdin)
(cd "$WORK/console" && exec env -i "${CONSOLE_ENV[@]}" "$OLDPWD/target/debug/authkit" >"$WORK/console.log" 2>&1) &
CONSOLE_SERVER=$!
SERVERS="$SERVER $SPA_SERVER $PAGES_SERVER $CONSOLE_SERVER"
trap 'kill $SERVERS 2>/dev/null || true; wait $SERVERS 2>/dev/null || true; rm -rf "$WORK"' EXIT
for port in "$PORT" "$SPA_API_PORT" "$PAGES_PORT" "$CONSOLE_PORT"; do
  wait_ready "http://127.0.0.1:$port"
done
mkdir -p target
echo "==> Swagger UI flow in headless Chromium"
node tests/browser/docs_flow.js "http://127.0.0.1:$PORT"
echo "==> single-page app flow in headless Chromium (app on :$SPA_PORT, API on :$SPA_API_PORT)"
node tests/browser/spa_flow.js "http://localhost:$SPA_API_PORT" "$SPA_PORT" "$SIBLING_PORT"
echo "==> reset-password and verify-email pages in headless Chromium"
node tests/browser/pages_flow.js "http://127.0.0.1:$PAGES_PORT" "$WORK/pages.log"
echo "==> admin console flow in headless Chromium"
node tests/browser/console_flow.js "http://127.0.0.1:$CONSOLE_PORT" root 'console admin password'
echo "==> admin console assets: $(cat assets/admin/index.html assets/admin/*.css assets/admin/js/*.js clients/js/authkit.js | wc -c) bytes," \
  "$(cat assets/admin/index.html assets/admin/*.css assets/admin/js/*.js clients/js/authkit.js | gzip -9 | wc -c) gzipped"

# --- Passkeys: Chromium's virtual authenticator against the /passkeys page ----------------------
PASSKEY_PORT=$(free_port)
mkdir -p "$WORK/passkeys"
(cd "$WORK/passkeys" && exec env -i PATH="$PATH" PORT="$PASSKEY_PORT" PUBLIC_URL="http://localhost:$PASSKEY_PORT" \
  "$OLDPWD/target/debug/authkit" >"$WORK/passkeys.log" 2>&1) &
SERVERS="$SERVERS $!"
wait_ready "http://127.0.0.1:$PASSKEY_PORT"
echo "==> passkeys in headless Chromium with its virtual authenticator"
node tests/browser/passkey_flow.js "http://localhost:$PASSKEY_PORT"

# --- Sign in with a provider, once per store ---------------------------------------------------
if [ -z "${TEST_OIDC_ISSUER:-}" ]; then
  if [ ! -d tests/providers/node_modules/oidc-provider ]; then
    echo "==> installing oidc-provider (npm)"
    (cd tests/providers && npm install --no-audit --no-fund --silent)
  fi
  OIDC_PORT=$(free_port)
  node tests/providers/oidc-provider.js --port "$OIDC_PORT" >"$WORK/oidc.log" 2>&1 &
  SERVERS="$SERVERS $!"
  TEST_OIDC_ISSUER="http://127.0.0.1:$OIDC_PORT"
  for _ in $(seq 1 100); do
    curl -sf "$TEST_OIDC_ISSUER/.well-known/openid-configuration" >/dev/null && break
    sleep 0.1
  done
fi
# A client at the provider for one callback URL: prints "client_id client_secret".
register_client() {
  curl -sf "$TEST_OIDC_ISSUER/reg" -H 'Content-Type: application/json' -d "{\"redirect_uris\": [\"$1\"],
    \"response_types\": [\"code\"], \"grant_types\": [\"authorization_code\"],
    \"token_endpoint_auth_method\": \"client_secret_basic\", \"response_modes\": [\"$2\"]}" |
    python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"], c["client_secret"])'
}
STORES="sqlite"
[ -n "${TEST_MONGO_URL:-}" ] && STORES="sqlite mongo"
for store in $STORES; do
  port=$(free_port)
  base="http://localhost:$port"
  read -r test_id test_secret < <(register_client "$base/api/v1/auth/oauth/test/callback" query)
  read -r post_id post_secret < <(register_client "$base/api/v1/auth/oauth/post/callback" form_post)
  store_env=()
  [ "$store" = mongo ] && store_env=(MONGO_URL="$TEST_MONGO_URL" MONGODB_NAME="authkit_browser_$$")
  mkdir -p "$WORK/provider-$store"
  (cd "$WORK/provider-$store" && exec env -i PATH="$PATH" PORT="$port" PUBLIC_URL="$base" "${store_env[@]}" \
    OAUTH_PROVIDERS=test,post OAUTH_TEST_NAME="Test provider" OAUTH_TEST_ISSUER="$TEST_OIDC_ISSUER" \
    OAUTH_TEST_CLIENT_ID="$test_id" OAUTH_TEST_CLIENT_SECRET="$test_secret" \
    OAUTH_POST_NAME="Posting provider" OAUTH_POST_ISSUER="$TEST_OIDC_ISSUER" OAUTH_POST_RESPONSE_MODE=form_post \
    OAUTH_POST_CLIENT_ID="$post_id" OAUTH_POST_CLIENT_SECRET="$post_secret" \
    "$OLDPWD/target/debug/authkit" >"$WORK/provider-$store.log" 2>&1) &
  SERVERS="$SERVERS $!"
  wait_ready "$base"
  echo "==> sign in with a provider in headless Chromium ($store)"
  node tests/browser/provider_flow.js "$base" "$store"
done

# --- The browser client: an SPA on a second origin (same site) over clients/js/authkit.js -------
echo "==> clients/js: the hand-kept types and the module's JSDoc checked by tsc --noEmit"
if [ ! -x clients/js/node_modules/.bin/tsc ]; then
  (cd clients/js && npm ci --no-audit --no-fund --silent)
fi
(cd clients/js && node_modules/.bin/tsc -p .)
# Access tokens live 3 s so that expiry comes during the flow; a refresh grace of 0 makes a refresh
# cookie presented twice end the session, so the tabs must really take turns.
CLIENT_API_PORT=$(free_port)
CLIENT_APP_PORT=$(free_port)
client_base="http://localhost:$CLIENT_API_PORT"
client_app="http://localhost:$CLIENT_APP_PORT"
read -r client_id client_secret < <(register_client "$client_base/api/v1/auth/oauth/test/callback" query)
mkdir -p "$WORK/client"
(cd "$WORK/client" && exec env -i PATH="$PATH" PORT="$CLIENT_API_PORT" PUBLIC_URL="$client_base" \
  CORS_ORIGINS="$client_app" WEBAUTHN_ORIGINS="$client_app" OAUTH_REDIRECT_URLS="$client_app/" \
  ACCESS_TOKEN_TTL=3s REFRESH_GRACE_PERIOD=0 \
  OAUTH_PROVIDERS=test OAUTH_TEST_ISSUER="$TEST_OIDC_ISSUER" \
  OAUTH_TEST_CLIENT_ID="$client_id" OAUTH_TEST_CLIENT_SECRET="$client_secret" \
  "$OLDPWD/target/debug/authkit" >"$WORK/client.log" 2>&1) &
SERVERS="$SERVERS $!"
wait_ready "$client_base"
echo "==> the browser client in headless Chromium (app on $client_app, API on $client_base)"
node tests/browser/client_flow.js "$client_base" "$CLIENT_APP_PORT" test
