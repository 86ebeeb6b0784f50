// A single-page app on one localhost port calling the API on another, in headless Chromium, as
// SPA developers write it (tests/browser/spa/app.js): register, log in, reload and refresh by
// cookie, two tabs refreshing at once, a 429 whose Retry-After the script reads, a sibling page of
// the same site that is not in CORS_ORIGINS (its no-cors logout and refresh change nothing, its
// CORS request is blocked), logout, a refresh after logout refused, and the same app on another
// site losing its session on reload (the Lax cookie is dropped).
// Usage: node spa_flow.js API_URL SPA_PORT SIBLING_PORT (scripts/browser-test.sh starts the API
// with CORS_ORIGINS naming http://localhost:SPA_PORT and http://127.0.0.1:SPA_PORT).
const http = require('http');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [api, spaPort, siblingPort] = process.argv.slice(2);
const PASSWORD = 'correct horse battery';

function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  console.log(`ok  ${what}: ${JSON.stringify(got)}`);
}

// Serves tests/browser/spa on a port, as a dev server would.
function serve(port) {
  const root = path.join(__dirname, 'spa');
  const types = { '.html': 'text/html', '.js': 'text/javascript' };
  const server = http.createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/$/, '/index.html');
    const file = path.join(root, path.normalize(name));
    if (!file.startsWith(root) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'text/plain' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(Number(port), '127.0.0.1', () => resolve(server)));
}

(async () => {
  const servers = [await serve(spaPort), await serve(siblingPort)];
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext();
    const app = `http://localhost:${spaPort}/?api=${encodeURIComponent(api)}`;
    const tab = await context.newPage();
    await tab.goto(app);
    await tab.evaluate(() => window.ready);
    expect('a first visit', await tab.textContent('#status'), 'signed out');

    let r = await tab.evaluate((p) => window.auth.register('spauser', p), PASSWORD);
    expect('register', r.status, 201);
    r = await tab.evaluate((p) => window.auth.login('spauser', p), PASSWORD);
    expect('login', r.status, 200);
    const cookieOf = async () =>
      (await context.cookies(api + '/api/v1/auth/refresh')).find((c) => c.name === 'refresh_token');
    const cookie = await cookieOf();
    expect('the refresh cookie is HttpOnly', cookie.httpOnly, true);
    expect('the refresh cookie is SameSite=Lax', cookie.sameSite, 'Lax');
    expect('the token is not in the body', r.json.data.token.refresh_token, undefined);

    await tab.reload();
    await tab.evaluate(() => window.ready);
    expect('after a reload, by the cookie', await tab.textContent('#status'), 'signed in as spauser');

    const second = await context.newPage();
    await second.goto(app);
    await second.evaluate(() => window.ready);
    const both = await Promise.all([tab, second].map((p) => p.evaluate(() => window.auth.refresh())));
    expect('two tabs refreshing at once', both.map((x) => x.status).join(','), '200,200');
    expect('the second tab is signed in', await second.textContent('#status'), 'signed in as spauser');

    // Another account's lock: the script reads how long to wait.
    await tab.evaluate((p) => window.auth.register('locked', p), PASSWORD);
    let limited;
    for (let i = 0; i < 4 && !limited; i++) {
      const x = await tab.evaluate(() => window.auth.login('locked', 'wrong password'));
      if (x.status === 429) limited = x;
    }
    expect('a 429 reached the script', limited && limited.status, 429);
    expect('its Retry-After is readable', Number(limited.retryAfter) > 0, true);
    r = await tab.evaluate((p) => window.auth.login('spauser', p), PASSWORD);
    expect('logged in again', r.status, 200);

    // A page of the same site on another port, not listed in CORS_ORIGINS. The browser sends the
    // Lax cookie with its requests; the server must not act on them.
    const before = (await cookieOf()).value;
    const sibling = await context.newPage();
    await sibling.goto(`http://localhost:${siblingPort}/sibling.html`);
    await sibling.evaluate(async (base) => {
      for (const p of ['/api/v1/auth/logout', '/api/v1/auth/refresh']) {
        await fetch(base + p, { method: 'POST', credentials: 'include', mode: 'no-cors' });
      }
    }, api);
    expect('the cookie unchanged by the sibling\'s no-cors refresh and logout', (await cookieOf()).value === before, true);
    r = await tab.evaluate(() => window.auth.me());
    expect('the real tab still works', r.status, 200);
    const blocked = await sibling.evaluate(async (base) => {
      try {
        await fetch(base + '/api/v1/auth/refresh', { method: 'POST', credentials: 'include' });
        return 'read the answer';
      } catch (e) {
        return 'blocked';
      }
    }, api);
    expect('the sibling\'s CORS request', blocked, 'blocked');
    expect('the cookie unchanged after it', (await cookieOf()).value === before, true);

    r = await tab.evaluate(() => window.auth.logout());
    expect('logout', r.status, 200);
    r = await tab.evaluate(() => window.auth.refresh());
    expect('refresh after logout', r.status, 401);
    await tab.reload();
    await tab.evaluate(() => window.ready);
    expect('after a reload', await tab.textContent('#status'), 'signed out');
    await tab.screenshot({ path: path.join(__dirname, '..', '..', 'target', 'spa.png') });

    // The same app on another *site* (127.0.0.1 is not localhost), even with its origin listed:
    // login answers 200, but the browser drops the Lax cookie of a cross-site answer, so a reload
    // loses the session. The README's "Another site" says what to do instead.
    const crossSite = await (await browser.newContext()).newPage();
    await crossSite.goto(`http://127.0.0.1:${spaPort}/?api=${encodeURIComponent(api)}`);
    await crossSite.evaluate(() => window.ready);
    r = await crossSite.evaluate((p) => window.auth.login('spauser', p), PASSWORD);
    expect('cross-site login', r.status, 200);
    await crossSite.reload();
    await crossSite.evaluate(() => window.ready);
    expect('cross-site, after a reload', await crossSite.textContent('#status'), 'signed out');
  } finally {
    await browser.close();
    servers.forEach((s) => s.close());
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
