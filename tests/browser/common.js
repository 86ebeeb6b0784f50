// What the browser flows share: a check that prints what it saw, JSON calls to the API under
// test, and Debian's Chromium started headless the same way for every flow.
const { chromium } = require('playwright-core');

/** Fails the flow with both values unless `got` is `want`; prints the check otherwise. */
function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  console.log(`ok  ${what}: ${JSON.stringify(got)}`);
}

/** `api(method, path, body, token)` against `base`: the status and the parsed JSON answer. */
function apiAt(base) {
  return async (method, path, body, token) => {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
}

function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

module.exports = { expect, apiAt, launch };
