// The public API as the console uses it. The access token lives in this module's memory only
// (never in storage, so a reload or a new tab starts from the refresh cookie); the HttpOnly
// refresh cookie renews it. Every answer is the JSON envelope `{code, message, data}`.

let accessToken = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || [];
  }
}

/** Called when the session is gone (refresh refused): the console shows the sign-in form. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function setToken(token) {
  accessToken = token;
}

export function signedIn() {
  return accessToken !== null;
}

/** What a failed answer means to the operator, in one sentence. */
function explain(status, body, headers) {
  const message = (body && body.message) || '';
  const details = body && Array.isArray(body.details)
    ? body.details.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ')
    : '';
  switch (status) {
    case 401: return `Not signed in or the session ended (${message || 'unauthorized'}).`;
    case 403: return `Refused: ${message || 'your role does not allow this'}.`;
    case 429: {
      const wait = headers.get('Retry-After');
      return `Too many attempts: ${message}${wait ? ` Try again in ${wait} s.` : ''}`;
    }
    case 503: return `The server cannot answer right now (${message || 'unavailable'}); try again in a moment.`;
    default: return [message || `The server answered ${status}.`, details].filter(Boolean).join(' — ');
  }
}

async function send(method, path, body, withToken) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (withToken && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.');
  }
  const answer = await response.json().catch(() => null);
  return { response, answer };
}

let refreshing = null;

/** Renews the access token with the refresh cookie; false when there is no live session.
 *  Calls that find the token expired at the same time share one refresh: each refresh rotates
 *  the cookie, so a second one would present a cookie already rotated away. */
export function refresh() {
  refreshing ??= (async () => {
    const { response, answer } = await send('POST', '/api/v1/auth/refresh', undefined, false);
    accessToken = response.ok && answer && answer.data ? answer.data.token.access_token : null;
    return accessToken !== null;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Calls the API and answers `data`; a 401 renews the token once and tries again. */
export async function call(method, path, body) {
  let { response, answer } = await send(method, path, body, true);
  if (response.status === 401 && accessToken !== null) {
    if (await refresh()) {
      ({ response, answer } = await send(method, path, body, true));
    } else {
      onSignedOut();
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, explain(response.status, answer, response.headers),
      answer && answer.details);
  }
  return answer ? answer.data : null;
}

/** An error of a sign-in step: a 401 there means wrong credentials or code, said as the server says it. */
function signInError(response, answer) {
  const message = response.status === 401 && answer && answer.message
    ? answer.message
    : explain(response.status, answer, response.headers);
  return new ApiError(response.status, message);
}

/** Login's first step: `{token, user}` or, for an account with a second factor, `{mfa_token}`. */
export async function login(email, password) {
  const { response, answer } = await send('POST', '/api/v1/auth/login', { email, password }, false);
  if (!response.ok) throw signInError(response, answer);
  if (answer.data.token) accessToken = answer.data.token.access_token;
  return answer.data;
}

/** The sign-in providers the server offers: `[{id, name}]`. */
export async function providers() {
  const { response, answer } = await send('GET', '/api/v1/auth/oauth/providers', undefined, false);
  return response.ok && answer ? answer.data : [];
}

/** Back from a provider: swaps the redirect's code for the session (or a second-factor step). */
export async function exchange(code) {
  const { response, answer } = await send('POST', '/api/v1/auth/oauth/exchange', { code }, false);
  if (!response.ok) throw signInError(response, answer);
  if (answer.data.token) accessToken = answer.data.token.access_token;
  return answer.data;
}

/** Login's second step, with a TOTP code or a recovery code. */
export async function verifySecondFactor(mfaToken, code) {
  const body = /^\d{6}$/.test(code) ? { mfa_token: mfaToken, code } : { mfa_token: mfaToken, recovery_code: code };
  const { response, answer } = await send('POST', '/api/v1/auth/mfa/verify', body, false);
  if (!response.ok) throw signInError(response, answer);
  accessToken = answer.data.token.access_token;
  return answer.data;
}

/** Ends this session on the server (the cookie is cleared by the answer) and forgets the token. */
export async function logout() {
  try {
    await send('POST', '/api/v1/auth/logout', undefined, true);
  } finally {
    accessToken = null;
  }
}

/** Whether a permission list grants `required`: `*`, `ns:*` or the permission itself. */
export function grants(permissions, required) {
  return (permissions || []).some((granted) => granted === '*' || granted === required
    || (granted.endsWith(':*') && required.split(':')[0] === granted.slice(0, -2)));
}

/** A query string from the fields that have a value. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
