#!/usr/bin/env bash
# A real OpenID provider on http://localhost:9000 for trying sign-in with a provider by hand (the
# README walkthrough): panva's oidc-provider (npm, installed into tests/providers/ if missing),
# as the tests use it, in the foreground until Ctrl-C. Its static client `walkthrough` (secret
# `walkthrough-secret`) redirects to http://localhost:8000/api/v1/auth/oauth/test/callback, the
# server on its default port; `native-app` is a public client for a mobile app. Any login and
# any password sign in: `verified:<email>`, `unverified:<email>`, `noemail:<name>`, or an email.
# Extra arguments go to tests/providers/oidc-provider.js, e.g. `--keys-out keys.json`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d tests/providers/node_modules/oidc-provider ]; then
  echo "==> installing oidc-provider (npm)"
  (cd tests/providers && npm install --no-audit --no-fund --silent)
fi
exec node tests/providers/oidc-provider.js --port 9000 --issuer http://localhost:9000 "$@"
