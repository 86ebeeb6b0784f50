// What the browser flows share: a check that prints what it saw, JSON calls to the API under
// test, and Debian's Chromium started headless the same way for every flow.
const crypto = require('crypto');
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

/** RFC 6238 code of a base32 secret (SHA-1, 6 digits, 30 s). */
function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30000)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1e6).padStart(6, '0');
}

function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

module.exports = { expect, apiAt, launch, totp };
