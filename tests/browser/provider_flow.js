// Sign in with a provider in headless Chromium, against a real OpenID provider (oidc-provider,
// started by scripts/browser-test.sh on 127.0.0.1, another site than the server on localhost):
// - the query flow: /sign-in lists the provider, its button goes to the provider's login page,
//   the provider returns to the callback, and the page exchanges the code: a session, and the
//   account has no password and a verified address;
// - the form_post flow (as Apple answers): the provider's page POSTs the code across sites, the
//   browser leaves the SameSite=Lax flow cookie out, the server answers 303 to its GET callback,
//   which carries it: signed in as well;
// - the flow cookie: HttpOnly, scoped to the oauth routes, gone from no other route;
// - the console's sign-in lists the providers.
// Usage: node provider_flow.js BASE_URL STORE_NAME
const fs = require('fs');
const { expect, apiAt, launch } = require('./common');

const [base, store] = process.argv.slice(2);
const api = apiAt(base);

/** At the provider's login page: any login and password sign in; `verified:` gives a verified address. */
async function signInAtProvider(page, login) {
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password');
  await Promise.all([page.waitForURL(`${base}/sign-in**`), page.click('button[type="submit"]')]);
}

async function sessionsOf(context) {
  // The refresh cookie the callback set, swapped for an access token as an app would.
  const cookies = await context.cookies();
  const refresh = cookies.find((c) => c.name === 'refresh_token');
  const res = await fetch(`${base}/api/v1/auth/refresh`, { method: 'POST', headers: { Cookie: `refresh_token=${refresh.value}` } });
  const token = (await res.json()).data.token.access_token;
  return (await api('GET', '/api/v1/user/', null, token)).body.data;
}

(async () => {
  const browser = await launch();
  const problems = [];
  try {
    fs.mkdirSync('target/screenshots', { recursive: true });
    for (const [provider, mode, login] of [
      ['test', 'query', `verified:query-${store}@example.com`],
      ['post', 'form_post', `verified:post-${store}@example.com`],
    ]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(e.message));
      const callbacks = [];
      page.on('response', (r) => {
        if (r.url().includes('/callback')) callbacks.push(`${r.request().method()} ${r.status()}`);
      });
      await page.goto(`${base}/sign-in`);
      const button = page.getByRole('link', { name: provider === 'test' ? 'Sign in with Test provider' : 'Sign in with Posting provider' });
      await button.waitFor();
      if (provider === 'test') await page.screenshot({ path: `target/screenshots/sign-in-choices-${store}.png` });
      await button.click();
      await page.waitForSelector('input[name="login"]');
      expect(`${store} ${mode}: the browser is at the provider`, new URL(page.url()).hostname, '127.0.0.1');
      const flowCookie = (await context.cookies()).find((c) => c.name === 'oauth_flow');
      expect(`${store} ${mode}: the flow cookie is HttpOnly`, flowCookie.httpOnly, true);
      expect(`${store} ${mode}: ... and scoped to the oauth routes`, flowCookie.path, '/api/v1/auth/oauth');
      expect(`${store} ${mode}: ... and SameSite=Lax`, flowCookie.sameSite, 'Lax');
      await signInAtProvider(page, login);
      // "Signing in…" while the page exchanges the code, then the outcome.
      await page.waitForFunction(() => {
        const status = document.getElementById('status');
        return status.textContent && !status.textContent.startsWith('Signing in');
      });
      expect(`${store} ${mode}: the page says signed in`, (await page.textContent('#status')).startsWith('You are signed in'), true);
      expect(`${store} ${mode}: the code left the address bar`, new URL(page.url()).search, '');
      expect(`${store} ${mode}: the callback's answers`, callbacks.join(', '),
        mode === 'query' ? 'GET 302' : 'POST 303, GET 302');
      const me = await sessionsOf(context);
      expect(`${store} ${mode}: signed in as the provider's person`, me.email, login.replace('verified:', ''));
      expect(`${store} ${mode}: no password`, me.has_password, false);
      expect(`${store} ${mode}: the address is verified`, me.email_verified, true);
      if (provider === 'test') await page.screenshot({ path: `target/screenshots/sign-in-provider-done-${store}.png` });
      await context.close();
    }

    // A flow's code reaches only the browser that started it: a second browser opening a
    // callback URL would need the first one's cookie. Covered by the API tests; here, the
    // console's sign-in offers the same providers.
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${base}/admin`);
    await page.getByRole('link', { name: 'Sign in with Test provider' }).waitFor();
    expect(`${store}: the console lists the providers`, await page.getByRole('link', { name: /^Sign in with / }).count(), 2);
    expect(`${store}: no script error`, problems.join(' | '), '');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
