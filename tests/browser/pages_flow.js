// The pages mails link to when APP_URL is not set (/reset-password, /verify-email, /sign-in), in headless
// Chromium, against a development server without SMTP_URL: the mails go to its log (JSON lines),
// where this script finds their links, as a developer would. Checks that the token leaves the
// address bar, that nothing happens on load, that the button and the form work, that a used
// link says so, and that the strict CSP blocks nothing the pages need. Screenshots go to target/.
// Usage: node pages_flow.js BASE_URL SERVER_LOG
const fs = require('fs');
const { expect, apiAt, launch } = require('./common');

const [base, serverLog] = process.argv.slice(2);
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new password';
const api = apiAt(base);

// The newest logged mail to `to` whose subject contains `subject`: its text.
async function mailedText(to, subject) {
  for (let i = 0; i < 100; i++) {
    const lines = fs.readFileSync(serverLog, 'utf8').split('\n').filter((l) => l.startsWith('{'));
    const mails = lines.map((l) => JSON.parse(l))
      .filter((e) => e.target === 'mail' && e.to === to && e.subject.includes(subject));
    if (mails.length) return mails[mails.length - 1].message;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail about "${subject}" to ${to} in the log`);
}

// The newest logged mail to `to` whose subject contains `subject`: its link.
async function mailedLink(to, subject, seen) {
  for (let i = 0; i < 100; i++) {
    const lines = fs.readFileSync(serverLog, 'utf8').split('\n').filter((l) => l.startsWith('{'));
    const mails = lines.map((l) => JSON.parse(l))
      .filter((e) => e.target === 'mail' && e.to === to && e.subject.includes(subject));
    const link = mails.length && mails[mails.length - 1].message.match(/https?:\/\/\S+/)[0];
    if (link && link !== seen) return link;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail about "${subject}" to ${to} in the log`);
}

(async () => {
  const browser = await launch();
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    fs.mkdirSync('target/screenshots', { recursive: true });

    const email = 'pages@example.com';
    let r = await api('POST', '/api/v1/auth/register', { username: 'pages', email, password: PASSWORD });
    expect('register', r.status, 201);
    expect('not verified yet', r.body.data.email_verified, false);

    // Verify: opening the link changes nothing; the button does.
    const verifyLink = await mailedLink(email, 'Confirm', null);
    expect('the verify link points to this server', verifyLink.startsWith(`${base.replace('127.0.0.1', 'localhost')}/verify-email?token=`), true);
    const response = await page.goto(verifyLink);
    const csp = response.headers()['content-security-policy'];
    expect('a strict CSP', /script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), true);
    expect('no Referer leaves the page', response.headers()['referrer-policy'], 'no-referrer');
    expect('the token leaves the address bar', new URL(page.url()).search, '');
    let token = (await api('POST', '/api/v1/auth/login', { email: 'pages', password: PASSWORD })).body.data.token.access_token;
    expect('opening the link verified nothing', (await api('GET', '/api/v1/user/', null, token)).body.data.email_verified, false);
    await page.screenshot({ path: 'target/screenshots/verify-email.png' });
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.waitForSelector('#status.ok');
    expect('the page confirms', (await page.textContent('#status')).startsWith('Thank you'), true);
    expect('the address is verified', (await api('GET', '/api/v1/user/', null, token)).body.data.email_verified, true);
    await page.screenshot({ path: 'target/screenshots/verify-email-done.png' });

    // Reset: the form, a mismatch caught on the page, then the new password.
    r = await api('POST', '/api/v1/auth/password/forgot', { email });
    expect('forgot', r.status, 202);
    const resetLink = await mailedLink(email, 'Reset', null);
    await page.goto(resetLink);
    expect('the token leaves the address bar', new URL(page.url()).search, '');
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByLabel('The same again').fill('something else entirely');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    expect('a mismatch is caught on the page', await page.textContent('#status'), 'The two passwords differ.');
    await page.getByLabel('The same again').fill(NEW_PASSWORD);
    await page.screenshot({ path: 'target/screenshots/reset-password.png' });
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.waitForSelector('#status.ok');
    await page.screenshot({ path: 'target/screenshots/reset-password-done.png' });
    expect('the old session ended', (await api('GET', '/api/v1/user/', null, token)).status, 401);
    r = await api('POST', '/api/v1/auth/login', { email: 'pages', password: NEW_PASSWORD });
    expect('the new password works', r.status, 200);

    // The same link again: the page says it no longer works.
    await page.goto(resetLink);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByLabel('The same again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.waitForSelector('#status.error');
    expect('a used link is refused', await page.textContent('#status'), 'Invalid or expired token or code');

    // Sign in by email: fetching the link (a prefetch, a mail scanner) and opening the page sign
    // nobody in; the button does.
    token = (await api('POST', '/api/v1/auth/login', { email: 'pages', password: NEW_PASSWORD })).body.data.token.access_token;
    const sessions = async () => (await api('GET', '/api/v1/user/sessions', null, token)).body.data.length;
    const before = await sessions();
    r = await api('POST', '/api/v1/auth/email/sign-in/start', { email });
    expect('sign-in start', r.status, 202);
    const signInLink = await mailedLink(email, 'sign-in link', null);
    expect('the sign-in link points to this server', signInLink.includes('/sign-in?token='), true);
    const prefetched = await page.request.get(signInLink);
    expect('a prefetch gets the page', prefetched.status(), 200);
    await page.goto(signInLink);
    expect('the token leaves the address bar', new URL(page.url()).search, '');
    expect('fetching and opening the link signed nobody in', await sessions(), before);
    await page.screenshot({ path: 'target/screenshots/sign-in.png' });
    await page.getByRole('button', { name: 'Sign me in' }).click();
    await page.waitForSelector('#status.ok');
    expect('the page says so', (await page.textContent('#status')).startsWith('You are signed in'), true);
    expect('the button opened a session', await sessions(), before + 1);
    await page.screenshot({ path: 'target/screenshots/sign-in-done.png' });

    // An invitation to someone without an account: the page signs them in by a mailed code
    // (making the account), then the button accepts.
    const owner = (await api('POST', '/api/v1/auth/login', { email: 'pages', password: NEW_PASSWORD })).body.data.token.access_token;
    r = await api('POST', '/api/v1/orgs', { name: 'Pages Team' }, owner);
    expect('an organization', r.status, 201);
    const orgId = r.body.data.id;
    const newcomer = 'newcomer@example.com';
    r = await api('POST', `/api/v1/orgs/${orgId}/invitations`, { email: newcomer, role: 'member' }, owner);
    expect('an invitation', r.status, 201);
    const invitationLink = await mailedLink(newcomer, 'invited to join Pages Team', null);
    expect('the invitation links to this server', invitationLink.includes('/invitation?token='), true);
    await page.context().clearCookies();
    await page.goto(invitationLink);
    expect('the token leaves the address bar', new URL(page.url()).search, '');
    await page.getByLabel('Your email address').fill(newcomer);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.waitForSelector('#status.ok');
    const code = (await mailedText(newcomer, 'sign-in')).match(/code in the app: (\d{6})/)[1];
    await page.getByLabel('The code from the mail').fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(`Signed in as ${newcomer}.`).waitFor();
    await page.screenshot({ path: 'target/screenshots/invitation.png' });
    await page.getByRole('button', { name: 'Accept the invitation' }).click();
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Welcome'));
    const members = (await api('GET', `/api/v1/orgs/${orgId}/members`, null, owner)).body.data.members;
    expect('the newcomer is a member', members.map((m) => m.user.email).includes(newcomer), true);
    await page.screenshot({ path: 'target/screenshots/invitation-accepted.png' });

    // (The invitation page asks /auth/refresh whether the browser is signed in: a 401 there is
    // the answer "no", which the browser logs as a failed load.)

    // A link without its token.
    await page.goto(`${base}/reset-password`);
    expect('an incomplete link says so', (await page.textContent('#status')).startsWith('This link is incomplete'), true);
    expect('no CSP violation or script error', problems.filter((p) => !/status of 40[01]/.test(p)).join(' | '), '');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
