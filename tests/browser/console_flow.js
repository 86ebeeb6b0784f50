// The admin console (/admin) in headless Chromium, against a server whose SUPER_ADMIN was made
// by `create-admin`: sign in, find a user, change a role, deactivate and reactivate, revoke a
// session and see that user's token refused, the events of those acts, a name full of HTML
// shown as text, key rotation, reload, sign out; then an ADMIN with a second factor signs in by
// keyboard and sees the privileged actions refused. Screenshots of each page go to
// target/screenshots/console-*.png.
// Usage: node console_flow.js BASE_URL ADMIN_LOGIN ADMIN_PASSWORD
const fs = require('fs');
const { expect, apiAt, launch, totp } = require('./common');

const [base, rootLogin, rootPassword] = process.argv.slice(2);
const PASSWORD = 'correct horse battery';
const XSS_NAME = '<img src=x onerror="window.__xss=1">';
const api = apiAt(base);

async function register(username, fullName) {
  const r = await api('POST', '/api/v1/auth/register',
    { username, email: `${username}@example.com`, password: PASSWORD, full_name: fullName });
  expect(`register ${username}`, r.status, 201);
  return r.body.data;
}

async function login(name, password = PASSWORD) {
  const r = await api('POST', '/api/v1/auth/login', { email: name, password });
  expect(`login ${name}`, r.status, 200);
  return r.body.data.token.access_token;
}

async function shot(page, name) {
  await page.screenshot({ path: `target/screenshots/console-${name}.png`, fullPage: true });
}

(async () => {
  fs.mkdirSync('target/screenshots', { recursive: true });
  // The accounts the console will act on.
  const root = await login(rootLogin, rootPassword);
  const alice = await register('alice', 'Alice Example');
  const bob = await register('bob', 'Bob Example');
  const mallory = await register('mallory', XSS_NAME);
  const adam = await register('adam', 'Adam Admin');
  expect('adam made ADMIN', (await api('PUT', `/api/v1/admin/${adam.id}`, { role: 'ADMIN' }, root)).status, 200);
  const adamToken = await login('adam');
  const enrolment = (await api('POST', '/api/v1/user/mfa/totp', { current_password: PASSWORD }, adamToken)).body.data;
  expect('adam confirms a second factor',
    (await api('POST', '/api/v1/user/mfa/totp/confirm', { code: totp(enrolment.secret) }, adamToken)).status, 200);
  const bobToken = await login('bob');
  expect('bob is signed in', (await api('GET', '/api/v1/user/', null, bobToken)).status, 200);

  const browser = await launch();
  const problems = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => d.accept());
    const status = () => page.locator('main .status').first();
    const waitStatus = async (kind) => {
      await page.locator(`main .status.${kind}`).first().waitFor();
      return (await status().textContent()).trim();
    };

    // Sign in as the SUPER_ADMIN.
    const response = await page.goto(`${base}/admin`);
    const csp = response.headers()['content-security-policy'];
    expect('a strict CSP', /script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), true);
    expect('no framing', /frame-ancestors 'none'/.test(csp) && response.headers()['x-frame-options'], 'DENY');
    await page.getByLabel('Username or email').waitFor();
    await shot(page, 'sign-in');
    await page.getByLabel('Username or email').fill(rootLogin);
    await page.getByLabel('Password').fill(rootPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.locator('table.list tbody tr').first().waitFor();
    expect('the token is in no storage', await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
    expect('the refresh cookie is out of the script\'s reach', await page.evaluate(() => document.cookie), '');
    await shot(page, 'users');

    // A name full of HTML is text, in the table and on the user's page.
    const malloryRow = page.locator('tr', { hasText: 'mallory' });
    expect('the name shows as text', (await malloryRow.locator('td').nth(2).textContent()), XSS_NAME);
    expect('no element was made from it', await page.locator('main img').count(), 0);

    // Find alice by search, open her page.
    await page.getByLabel('Search username or email').fill('ali');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForFunction(() => location.hash.includes('q=ali'));
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length === 1);
    expect('search finds alice alone', (await page.locator('table.list tbody tr').textContent()).includes('alice@example.com'), true);
    await shot(page, 'users-search');
    await page.getByRole('link', { name: 'alice' }).click();
    await page.getByRole('heading', { name: 'alice' }).waitFor();
    await page.getByRole('button', { name: 'Deactivate' }).waitFor();
    await page.getByRole('heading', { name: 'Sign-in providers' }).waitFor();
    await page.getByText('No linked identities.').waitFor();
    await page.getByText('No passkeys.').waitFor();
    expect('her sign-in methods show her password', await page.locator('dd', { hasText: /^set$/ }).count(), 1);

    // Change her role.
    await page.getByLabel('Role').selectOption('ADMIN');
    await page.getByRole('button', { name: 'Change role' }).click();
    expect('the role change is reported', await waitStatus('ok'), 'Role changed to ADMIN.');
    expect('the API has the new role', (await api('GET', `/api/v1/admin/${alice.id}`, null, root)).body.data.role.name, 'ADMIN');

    // Deactivate, then reactivate.
    await page.getByRole('button', { name: 'Deactivate' }).click();
    await page.getByRole('button', { name: 'Reactivate' }).waitFor();
    expect('deactivated', (await api('GET', `/api/v1/admin/${alice.id}`, null, root)).body.data.is_active, false);
    await shot(page, 'user-deactivated');
    await page.getByRole('button', { name: 'Reactivate' }).click();
    await page.getByRole('button', { name: 'Deactivate' }).waitFor();
    expect('reactivated', (await api('GET', `/api/v1/admin/${alice.id}`, null, root)).body.data.is_active, true);
    // The page reloads its lists after each act: wait for the last reload to show all three.
    await page.waitForFunction(() => [...document.querySelectorAll('table.events tbody tr')]
      .filter((row) => row.textContent.includes('admin.user_updated')).length >= 3, null, { timeout: 10000 })
      .catch(() => {});
    expect('her events show the acts',
      await page.locator('table.events tbody tr', { hasText: 'admin.user_updated' }).count() >= 3, true);

    // Organizations: bob's team with alice invited... as a member list and a pending invitation.
    const team = (await api('POST', '/api/v1/orgs', { name: 'Bob Team' }, bobToken)).body.data;
    expect('bob makes a team', team.slug, 'bob-team');
    await page.goto(`${base}/admin#/orgs`);
    await page.getByRole('heading', { name: 'Organizations' }).waitFor();
    await page.getByRole('link', { name: 'Bob Team' }).click();
    await page.getByRole('heading', { name: 'Bob Team' }).waitFor();
    await page.locator('table tbody tr', { hasText: 'bob' }).first().waitFor();
    expect('the team lists bob as its owner', (await page.locator('table tbody tr', { hasText: 'bob' }).first().textContent()).includes('owner'), true);
    await page.getByText('No pending invitations.').waitFor();
    await shot(page, 'org');

    // The HTML name on its own page.
    await page.goto(`${base}/admin#/users/${mallory.id}`);
    await page.getByRole('heading', { name: 'mallory' }).waitFor();
    await page.locator('dd', { hasText: XSS_NAME }).waitFor();
    expect('the page made no element of it either', await page.locator('main img').count(), 0);
    expect('and ran nothing', await page.evaluate(() => window.__xss), undefined);
    expect('a reload kept the session (refresh cookie)', await page.locator('#who').textContent(), `${rootLogin} (SUPER_ADMIN)`);

    // Revoke bob's session: his token is refused.
    await page.goto(`${base}/admin#/users/${bob.id}`);
    await page.getByRole('heading', { name: 'bob' }).waitFor();
    await page.locator('table.sessions tbody tr').first().waitFor();
    await shot(page, 'user');
    await page.locator('table.sessions tbody tr').first().getByRole('button', { name: /Revoke/ }).click();
    expect('the revocation is reported', await waitStatus('ok'), 'Session revoked.');
    expect('bob\'s token is refused', (await api('GET', '/api/v1/user/', null, bobToken)).status, 401);
    await page.locator('table.events tbody tr', { hasText: 'session.revoked' }).first().waitFor();
    await page.getByText('No active sessions.').waitFor();

    // The events page, filtered by type.
    await page.getByRole('link', { name: 'Security events' }).click();
    await page.getByRole('heading', { name: 'Security events' }).waitFor();
    await page.getByLabel('Type').selectOption('session.revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('table.events tbody tr')]
      .every((row) => row.textContent.includes('session.revoked')) && document.querySelectorAll('table.events tbody tr').length > 0);
    expect('the filtered list shows bob\'s revocation', (await page.locator('table.events tbody').textContent()).includes('revoked_by_admin'), true);
    await shot(page, 'events');

    // Rotate the signing keys.
    const before = (await (await fetch(`${base}/.well-known/jwks.json`)).json()).keys.map((k) => k.kid);
    await page.getByRole('link', { name: 'Signing keys' }).click();
    await page.locator('ul.keys li').first().waitFor();
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    const rotated = await waitStatus('ok');
    expect('the rotation is reported', rotated.startsWith('Rotated: now signing with'), true);
    const after = (await (await fetch(`${base}/.well-known/jwks.json`)).json()).keys.map((k) => k.kid);
    expect('the key set gained a new next key', after.some((kid) => !before.includes(kid)), true);
    await shot(page, 'keys');

    // Phone width: the users page still reads.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/admin#/users`);
    await page.locator('table.list tbody tr').first().waitFor();
    expect('nothing wider than the screen but the table\'s own scroller',
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
    await shot(page, 'users-phone');
    await page.setViewportSize({ width: 1280, height: 860 });

    // Sign out: the sign-in form, and a reload does not bring the session back.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username or email').waitFor();
    await page.reload();
    await page.getByLabel('Username or email').waitFor();
    expect('signed out for good', await page.locator('#nav').isHidden(), true);

    // An ADMIN with a second factor, by keyboard alone.
    await page.keyboard.type('adam');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByLabel('Authentication code or recovery code').waitFor();
    await shot(page, 'sign-in-code');
    // The next step's code: each code works once, and the confirmation spent this step's.
    await page.keyboard.type(totp(enrolment.secret, Date.now() + 30000));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    expect('an ADMIN sees no key rotation', await page.locator('#nav-keys').isHidden(), true);
    const rootUser = (await api('GET', '/api/v1/user/', null, root)).body.data;
    await page.goto(`${base}/admin#/users/${rootUser.id}`);
    await page.getByRole('button', { name: 'Deactivate' }).click();
    expect('an ADMIN may not deactivate the SUPER_ADMIN', await waitStatus('error'),
      'Refused: Only a super admin may modify an administrator.');
    await page.goto(`${base}/admin#/users/${bob.id}`);
    await page.getByRole('heading', { name: 'bob' }).waitFor();
    expect('an ADMIN cannot pick SUPER_ADMIN',
      await page.locator('select[name=role] option[value=SUPER_ADMIN]').isDisabled(), true);
    await page.goto(`${base}/admin#/keys`);
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    expect('an ADMIN may not rotate keys', (await waitStatus('error')).startsWith('Refused: Only a holder of every permission'), true);
    await shot(page, 'admin-refused');

    expect('no CSP violation or script error',
      problems.filter((p) => !/status of (401|403)/.test(p)).join(' | '), '');
  } catch (error) {
    // What the page showed when it went wrong, for whoever reads the CI log.
    if (page) {
      await page.screenshot({ path: 'target/screenshots/console-failure.png', fullPage: true }).catch(() => {});
      console.error(`page at failure: ${page.url()}\n${await page.locator('body').innerText().catch(() => '?')}`);
    }
    console.error(`script errors: ${problems.join(' | ')}`);
    throw error;
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
