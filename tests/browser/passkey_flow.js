// Passkeys in headless Chromium with its virtual authenticator (DevTools WebAuthn domain: ctap2,
// internal, resident keys, user verification), through the server's own /passkeys page:
// - a signed-in user adds a passkey from the page;
// - signed out, the page signs in with it and no username;
// - with user verification switched off, the sign-in fails;
// - a passkey removed from the account no longer signs in.
// Usage: node passkey_flow.js BASE_URL (a localhost origin: the relying party is `localhost`)
const fs = require('fs');
const { expect, apiAt, launch } = require('./common');

const [base] = process.argv.slice(2);
const api = apiAt(base);
const PASSWORD = 'correct horse battery';

async function statusOf(page) {
  await page.waitForFunction(() => document.getElementById('status').className !== '');
  // "ok: ..." or "error: ...", and cleared for the next step.
  const status = await page.$eval('#status', (s) => `${s.className}: ${s.textContent}`);
  await page.$eval('#status', (s) => { s.className = ''; });
  return status;
}

(async () => {
  const browser = await launch();
  const problems = [];
  try {
    fs.mkdirSync('target/screenshots', { recursive: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      },
    });

    let r = await api('POST', '/api/v1/auth/register', { username: 'keyholder', email: 'keyholder@example.com', password: PASSWORD });
    expect('register', r.status, 201);
    // Signed in in this browser: the login's refresh cookie lands in the context.
    r = await page.request.post(`${base}/api/v1/auth/login`, { data: { email: 'keyholder', password: PASSWORD } });
    expect('login', r.status(), 200);

    await page.goto(`${base}/passkeys`);
    await page.getByText('Signed in as keyholder.').waitFor();
    await page.getByLabel('Name of the new passkey').fill('Virtual authenticator');
    await page.getByLabel('Your password (if the account has one)').fill(PASSWORD);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    let status = await statusOf(page);
    expect('the passkey is added', status, 'ok: The passkey is added.');
    expect('the page lists it', (await page.textContent('#list')).includes('Virtual authenticator'), true);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect('the authenticator holds one resident credential', credentials.length === 1 && credentials[0].isResidentCredential, true);
    await page.screenshot({ path: 'target/screenshots/passkeys-added.png' });

    // Signed out: no username, the passkey alone.
    await context.clearCookies();
    await page.goto(`${base}/passkeys`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    status = await statusOf(page);
    expect('signed in with the passkey', status, 'ok: You are signed in with your passkey.');
    await page.getByText('Signed in as keyholder.').waitFor();
    await page.screenshot({ path: 'target/screenshots/passkeys-signed-in.png' });

    // User verification switched off: refused.
    await context.clearCookies();
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    await page.goto(`${base}/passkeys`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    status = await statusOf(page);
    expect('without user verification nobody signs in', status.startsWith('error: '), true);
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });

    // The passkey removed from the account: the authenticator still offers it, the server refuses.
    const token = (await api('POST', '/api/v1/auth/login', { email: 'keyholder', password: PASSWORD })).body.data.token.access_token;
    const listed = (await api('GET', '/api/v1/user/passkeys', null, token)).body.data;
    const res = await fetch(`${base}/api/v1/user/passkeys/${listed[0].id}`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ current_password: PASSWORD }),
    });
    expect('the passkey is removed', res.status, 200);
    await page.goto(`${base}/passkeys`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    status = await statusOf(page);
    expect('a removed passkey signs nobody in', status, 'error: Invalid credentials');
    expect('no script error', problems.join(' | '), '');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
