// The auth client an SPA developer writes against authkit, as the README's "Using it from a
// browser app" describes it: the access token lives in memory only, the refresh token in the
// HttpOnly cookie the browser keeps, and every call says `credentials: 'include'`. On load it
// asks for a new access token with the cookie, so a reload keeps the user signed in.
const api = new URLSearchParams(location.search).get('api') + '/api/v1';
let accessToken = null;

async function call(method, path, body, { bearer = true } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (bearer && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const res = await fetch(api + path, {
    method,
    headers,
    credentials: 'include',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

async function register(username, password) {
  return call('POST', '/auth/register', { username, email: `${username}@example.com`, password });
}

async function login(login, password) {
  const r = await call('POST', '/auth/login', { email: login, password }, { bearer: false });
  if (r.status === 200) accessToken = r.json.data.token.access_token;
  return r;
}

async function refresh() {
  const r = await call('POST', '/auth/refresh', undefined, { bearer: false });
  accessToken = r.status === 200 ? r.json.data.token.access_token : null;
  return r;
}

async function me() {
  return call('GET', '/user/');
}

async function logout() {
  const r = await call('POST', '/auth/logout');
  accessToken = null;
  return r;
}

async function show() {
  const status = document.getElementById('status');
  const r = await refresh();
  if (r.status !== 200) {
    status.textContent = 'signed out';
    return;
  }
  const who = await me();
  // Text, never HTML: names come from users.
  status.textContent = `signed in as ${who.json.data.username}`;
}

window.auth = { register, login, refresh, me, logout, show, hasToken: () => accessToken !== null };
window.ready = show();
