// An SPA on another origin than the API, using the browser client as its README shows. The test
// server fills in the API's address. `window.client` is what the test drives.
import { createAuthClient, AuthError } from './authkit.js';

// `?nolocks`: a browser without Web Locks, so the client falls back to its announcements.
if (new URLSearchParams(location.search).has('nolocks')) {
  Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });
}

const auth = createAuthClient({ baseUrl: '__API__' });
window.client = auth;
window.AuthError = AuthError;
// Every change of the session this tab saw, in order: 'in' or 'out'.
window.sessionChanges = [];
auth.onSessionChange((session) => {
  window.sessionChanges.push(session ? 'in' : 'out');
  document.getElementById('status').textContent = session ? 'signed in' : 'signed out';
});

// On load: back from a provider (`?code=`), else the session the cookie holds.
window.booted = (async () => {
  try {
    const back = await auth.handleRedirect();
    if (back) return { redirect: back.status, user: back.user && back.user.username };
    const user = await auth.restore();
    return { restored: user && user.username };
  } catch (error) {
    return { error: error instanceof AuthError ? error.code : String(error) };
  }
})();
