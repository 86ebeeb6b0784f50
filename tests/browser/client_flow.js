// The browser client (clients/js/authkit.js) in headless Chromium, from an SPA on a second origin
// (tests/browser/client/, served here) against a real server whose access tokens live 3-4 s and
// whose refresh grace is 0 (a refresh cookie presented twice ends the session):
// - register, login, nothing in storage, a reload restores the session through the cookie;
// - two tabs whose calls meet the expired token at once both stay signed in, with Web Locks and
//   without (the BroadcastChannel announcements);
// - in one tab, five calls after expiry share one refresh and each is retried;
// - logout in one tab is seen by the other;
// - errors carry the envelope: 422 details, 401 message, 429 Retry-After;
// - the second-factor step; a passkey added and signed in with Chromium's virtual authenticator;
// - sign in with a provider (the test OpenID provider) and back through handleRedirect.
// Usage: node client_flow.js API_BASE APP_PORT PROVIDER_ID
const fs = require('fs');
const http = require('http');
const path = require('path');
const { expect, apiAt, launch, totp } = require('./common');

const [apiBase, appPort, providerId] = process.argv.slice(2);
const app = `http://localhost:${appPort}`;
const api = apiAt(apiBase);
const PASSWORD = 'correct horse battery';
const ROOT = path.resolve(__dirname, '../..');

/** The SPA: its page, its script with the API's address, and the client module as published. */
function serveApp() {
  const files = {
    '/': ['tests/browser/client/index.html', 'text/html'],
    '/app.js': ['tests/browser/client/app.js', 'text/javascript'],
    '/authkit.js': ['clients/js/authkit.js', 'text/javascript'],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, app).pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const body = fs.readFileSync(path.join(ROOT, file[0]), 'utf8').replace('__API__', apiBase);
    res.writeHead(200, { 'Content-Type': `${file[1]}; charset=utf-8`, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(Number(appPort), 'localhost', () => resolve(server)));
}

async function open(context, query = '') {
  const page = await context.newPage();
  page.on('pageerror', (e) => { throw new Error(`page error: ${e.message}`); });
  await page.goto(`${app}/${query}`);
  return { page, boot: await page.evaluate(() => window.booted) };
}

/** The rejection of `fn` inside the page as `{status, code, message, details, retryAfter}`. */
function failureOf(page, fn, arg) {
  return page.evaluate(async ([source, value]) => {
    try {
      await (0, eval)(source)(value);
      return null;
    } catch (e) {
      if (!(e instanceof window.AuthError)) return { notAuthError: String(e) };
      return { status: e.status, code: e.code, message: e.message, details: e.details, retryAfter: e.retryAfter };
    }
  }, [fn.toString(), arg]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

(async () => {
  const server = await serveApp();
  const browser = await launch();
  try {
    const context = await browser.newContext();
    let refreshes = 0;
    let meCalls = 0;
    context.on('request', (request) => {
      const url = request.url();
      if (url.endsWith('/api/v1/auth/refresh')) refreshes += 1;
      if (url.endsWith('/api/v1/user/')) meCalls += 1;
    });

    // --- sign in, keep nothing in storage, reload ------------------------------------------
    const { page: tab1, boot } = await open(context);
    expect('a first visit has no session', boot.restored, null);
    let r = await tab1.evaluate(async (password) => {
      await window.client.register({ username: 'ada', email: 'ada@example.com', password });
      const result = await window.client.login('ada', password);
      return { status: result.status, user: result.user.username };
    }, PASSWORD);
    expect('login through the client', JSON.stringify(r), '{"status":"signed_in","user":"ada"}');
    const token = await tab1.evaluate(() => window.client.accessToken);
    const stored = await tab1.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    expect('the access token is in no storage', stored.includes(token.split('.')[2]), false);
    await tab1.reload();
    expect('a reload restores the session through the cookie', (await tab1.evaluate(() => window.booted)).restored, 'ada');

    const { page: tab2, boot: boot2 } = await open(context);
    expect('a second tab restores it too', boot2.restored, 'ada');

    // --- two tabs meet the expired token at once -------------------------------------------
    await sleep(4200);
    refreshes = 0;
    const calls = () => Promise.all([1, 2, 3].map(() => window.client.me().then((u) => u.username)));
    const [one, two] = await Promise.all([tab1.evaluate(calls), tab2.evaluate(calls)]);
    expect('after expiry every call of both tabs answers', [...one, ...two].every((u) => u === 'ada'), true);
    console.log(`    (${refreshes} refresh request(s) for the two tabs)`);
    expect('the tabs took turns: at most one refresh each', refreshes >= 1 && refreshes <= 2, true);
    for (const [name, tab] of [['tab 1', tab1], ['tab 2', tab2]]) {
      const changes = await tab.evaluate(() => window.sessionChanges.join(','));
      expect(`${name} was never signed out`, changes.includes('out'), false);
      expect(`${name} is still signed in`, await tab.evaluate(() => window.client.me().then((u) => u.username)), 'ada');
    }

    // --- the same without Web Locks: the tabs' announcements on the BroadcastChannel ---------
    {
      const bare = await browser.newContext();
      let bareRefreshes = 0;
      bare.on('request', (request) => {
        if (request.url().endsWith('/api/v1/auth/refresh')) bareRefreshes += 1;
      });
      const { page: first } = await open(bare, '?nolocks');
      expect('the fallback page has no Web Locks', await first.evaluate(() => navigator.locks), undefined);
      await first.evaluate(async (password) => {
        await window.client.register({ username: 'nolocks', email: 'nolocks@example.com', password });
        await window.client.login('nolocks', password);
      }, PASSWORD);
      const { page: second, boot: secondBoot } = await open(bare, '?nolocks');
      expect('without Web Locks a second tab restores the session', secondBoot.restored, 'nolocks');
      await sleep(4200);
      bareRefreshes = 0;
      const both = await Promise.all([first.evaluate(calls), second.evaluate(calls)]);
      expect('without Web Locks both tabs answer after expiry', both.flat().every((u) => u === 'nolocks'), true);
      console.log(`    (${bareRefreshes} refresh request(s) for the two tabs without Web Locks)`);
      for (const tab of [first, second]) {
        expect('and stay signed in', await tab.evaluate(() => window.client.me().then((u) => u.username)), 'nolocks');
      }
      await bare.close();
    }

    // --- one tab: five calls after expiry, one refresh, each retried ------------------------
    await sleep(4200);
    refreshes = 0;
    meCalls = 0;
    r = await tab1.evaluate(() => Promise.all([1, 2, 3, 4, 5].map(() => window.client.me())));
    expect('five calls after expiry all answer', r.length, 5);
    expect('they shared one refresh', refreshes, 1);
    expect('each was sent, refused with 401 and retried', meCalls, 10);

    // --- logout in one tab is seen by the other --------------------------------------------
    await tab1.evaluate(() => window.client.logout());
    await tab2.waitForFunction(() => window.client.session === null);
    expect('tab 2 saw the sign-out', await tab2.evaluate(() => window.sessionChanges.at(-1)), 'out');
    r = await failureOf(tab2, () => window.client.me());
    expect('tab 2 is signed out on the server too', r.status, 401);

    // --- errors carry the envelope -----------------------------------------------------------
    r = await failureOf(tab1, (p) => window.client.register({ username: 'x', email: 'not-an-address', password: p }), PASSWORD);
    expect('a 422 is an AuthError with its status and code', `${r.status} ${r.code}`, '422 422');
    expect('with the details naming the field', r.details.some((d) => d.loc.join('.') === 'body.email'), true);
    r = await failureOf(tab1, () => window.client.login('ada', 'not the password'));
    expect('a wrong password: 401 and the server\'s message', `${r.status} ${r.message}`, '401 Invalid credentials');
    // Wrong passwords soon meet the account's lockout (after half its budget, a pause between
    // attempts), which answers 429.
    for (let i = 0; i < 12 && r.status !== 429; i += 1) {
      r = await failureOf(tab1, () => window.client.login('ada', 'not the password'));
    }
    expect('over the lockout: 429', r.status, 429);
    expect('with Retry-After in seconds', typeof r.retryAfter === 'number' && r.retryAfter > 0, true);

    // --- the second factor -----------------------------------------------------------------
    r = await api('POST', '/api/v1/auth/register', { username: 'grace', email: 'grace@example.com', password: PASSWORD });
    expect('register grace', r.status, 201);
    const graceToken = (await api('POST', '/api/v1/auth/login', { email: 'grace', password: PASSWORD })).body.data.token.access_token;
    const enrolment = (await api('POST', '/api/v1/user/mfa/totp', { current_password: PASSWORD }, graceToken)).body.data;
    r = await api('POST', '/api/v1/user/mfa/totp/confirm', { code: totp(enrolment.secret) }, graceToken);
    expect('grace turns on a second factor', r.status, 200);
    r = await tab1.evaluate((p) => window.client.login('grace', p), PASSWORD);
    expect('the password step asks for the second factor', r.status, 'mfa_required');
    expect('naming the methods', r.methods.join(','), 'totp,recovery_code');
    r = await failureOf(tab1, () => window.client.verifySecondFactor({ code: '000000' }));
    expect('a wrong code: 401', r.status, 401);
    r = await tab1.evaluate((code) => window.client.verifySecondFactor({ code }), totp(enrolment.secret, Date.now() + 30000));
    expect('the code completes the sign-in', `${r.status} ${r.user.username}`, 'signed_in grace');
    expect('with amr pwd and otp', (await tab1.evaluate(() => window.client.session.amr)).join(','), 'pwd,otp');
    await tab2.waitForFunction(() => window.client.session !== null);
    expect('tab 2 got the sign-in from tab 1', await tab2.evaluate(() => window.client.me().then((u) => u.username)), 'grace');

    // --- a passkey: added, then the only thing needed to sign in ------------------------------
    await tab1.bringToFront(); // WebAuthn answers only the focused page
    const cdp = await context.newCDPSession(tab1);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      },
    });
    r = await tab1.evaluate((p) => window.client.registerPasskey({ name: 'Virtual authenticator', currentPassword: p }), PASSWORD);
    expect('a passkey is added through the client', r.name, 'Virtual authenticator');
    await tab1.evaluate(() => window.client.logout());
    r = await tab1.evaluate(() => window.client.signInWithPasskey().then((s) => `${s.status} ${s.user.username}`));
    expect('signed out, the passkey alone signs in', r, 'signed_in grace');
    expect('as multi-factor', (await tab1.evaluate(() => window.client.session.amr)).join(','), 'hwk,user');

    // --- sign in with a provider -------------------------------------------------------------
    if (providerId) {
      await tab1.evaluate(() => window.client.logout());
      await Promise.all([
        tab1.waitForSelector('input[name="login"]'),
        tab1.evaluate((id) => window.client.signInWithProvider(id), providerId),
      ]);
      await tab1.fill('input[name="login"]', 'verified:lin@example.com');
      await tab1.fill('input[name="password"]', 'any password');
      await Promise.all([tab1.waitForURL(`${app}/**`), tab1.click('button[type="submit"]')]);
      r = await tab1.evaluate(() => window.booted);
      expect('back from the provider, handleRedirect signs in', JSON.stringify(r), '{"redirect":"signed_in","user":"lin"}');
      expect('and takes the code out of the address bar', new URL(tab1.url()).search, '');
      r = await tab1.evaluate(() => window.client.me().then((u) => u.email));
      expect('as the provider\'s person', r, 'lin@example.com');
    } else {
      console.log('    (no provider configured: the provider sign-in is left out)');
    }
  } finally {
    await browser.close();
    server.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
