// Drives the whole flow through Swagger UI at /docs in headless Chromium, as a person would:
// register, log in, Authorize with the Bearer token, read the account, refresh with the cookie,
// list sessions. Run by scripts/browser-test.sh, which starts the server and passes its URL.
const { chromium } = require('playwright-core');
const base = process.argv[2];
function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
  console.log(`ok  ${what}: ${got}`);
}
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(`${base}/docs`);
  await page.waitForSelector('.opblock');
  async function run(opId, body) {
    const block = page.locator(`#operations-${opId}`);
    await block.locator('.opblock-summary').first().click();
    await block.locator('button.try-out__btn').click();
    if (body !== undefined) await block.locator('textarea.body-param__text').fill(JSON.stringify(body));
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    const code = (await status.innerText()).trim();
    const text = await block.locator('.live-responses-table .response .microlight').first().innerText();
    await block.locator('.opblock-summary').first().click();
    return [code, text];
  }
  let [c, t] = await run('auth-register', { username: 'swagger', email: 'swagger@example.com', password: 'correct horse battery' });
  expect('register', c, '201');
  [c, t] = await run('auth-login', { email: 'swagger', password: 'correct horse battery' });
  expect('login', c, '200');
  const token = JSON.parse(t).data.token.access_token;
  await page.locator('button.authorize').first().click();
  await page.locator('.auth-container input[type=text], .auth-container input:not([type])').first().fill(token);
  await page.locator('.auth-btn-wrapper button.authorize').first().click();
  await page.locator('button.btn-done').first().click();
  [c, t] = await run('user-me');
  expect('GET /api/v1/user/ with the Authorize token', c, '200');
  expect('the caller', JSON.parse(t).data.username, 'swagger');
  [c, t] = await run('auth-refresh');
  expect('refresh with the HttpOnly cookie', c, '200');
  [c, t] = await run('user-my_sessions');
  expect('sessions', c, '200');
  expect('one session', JSON.parse(t).data.length, 1);
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
