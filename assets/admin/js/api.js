// The public API as the console uses it, through the browser client every SPA can use
// (clients/js/authkit.js, served beside this file): the access token in memory only, the
// HttpOnly refresh cookie renewing it, one refresh shared by concurrent calls and by tabs. This
// module only turns the client's errors into sentences for the operator.

import { AuthClient, AuthError } from './authkit.js';

const client = new AuthClient();
let onSignedOut = () => {};
let leaving = false;

export { AuthError as ApiError };

/** Called when the session ends other than by this tab's sign-out button (a refresh refused,
 *  another tab signed out): the console shows the sign-in form. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

client.onSessionChange((session) => {
  if (session === null && !leaving) onSignedOut();
});

/** What a failed answer means to the operator, in one sentence. */
function explain(error) {
  const message = error.message || '';
  const details = error.details.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
  switch (error.status) {
    case 0: return 'The server cannot be reached. Check the connection and try again.';
    case 401: return `Not signed in or the session ended (${message || 'unauthorized'}).`;
    case 403: return `Refused: ${message || 'your role does not allow this'}.`;
    case 429: return `Too many attempts: ${message}${error.retryAfter !== null ? ` Try again in ${error.retryAfter} s.` : ''}`;
    case 503: return `The server cannot answer right now (${message || 'unavailable'}); try again in a moment.`;
    default: return [message || `The server answered ${error.status}.`, details].filter(Boolean).join(' — ');
  }
}

/** The same error, its message said for the operator. */
function explained(error) {
  if (!(error instanceof AuthError)) return error;
  return new AuthError(error.status, error.code, explain(error), error.details, error.retryAfter);
}

/** An error of a sign-in step: a 401 there means wrong credentials or code, said as the server says it. */
function signInError(error) {
  return error instanceof AuthError && error.status === 401 ? error : explained(error);
}

/** A new access token from the refresh cookie; false when there is no live session. */
export function refresh() {
  return client.refresh();
}

/** Calls the API (`/api/v1/...`) and answers `data`; a 401 renews the token once and tries again. */
export async function call(method, path, body) {
  try {
    return await client.request(method, path.replace(/^\/api\/v1/, ''), body);
  } catch (error) {
    throw explained(error);
  }
}

/** Login's first step: `{status: 'signed_in'}` or `{status: 'mfa_required', mfaToken}`. */
export async function login(email, password) {
  return client.login(email, password).catch((error) => { throw signInError(error); });
}

/** Login's second step, with a TOTP code or a recovery code. */
export async function verifySecondFactor(code) {
  const proof = /^\d{6}$/.test(code) ? { code } : { recoveryCode: code };
  return client.verifySecondFactor(proof).catch((error) => { throw signInError(error); });
}

/** The sign-in providers the server offers: `[{id, name}]` (none when it cannot say). */
export async function providers() {
  return client.providers().catch(() => []);
}

/** To the provider's sign-in, back at /admin (with a PKCE challenge of the client's). */
export function signInWithProvider(id) {
  return client.signInWithProvider(id, { redirectTo: `${location.origin}/admin` });
}

/** Back from a provider: the sign-in (or its second step), or null on an ordinary load. */
export async function providerReturn() {
  return client.handleRedirect().catch((error) => { throw signInError(error); });
}

/** Ends this session on the server (the cookie is cleared by the answer) and forgets the token. */
export async function logout() {
  leaving = true;
  try {
    await client.logout();
  } catch {
    // Signed out here whatever the server said.
  } finally {
    leaving = false;
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
