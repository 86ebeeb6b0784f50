// The console's entry: restores the session from the refresh cookie (or, back from a sign-in
// provider, exchanges the `?code=` of the redirect), shows the sign-in form when there is none,
// and routes `#/users`, `#/users/<id>`, `#/orgs`, `#/orgs/<id>`, `#/events` and `#/keys`.

import * as api from './api.js';
import { replace } from './dom.js';
import { signInView } from './signin.js';
import { usersView } from './users.js';
import { userView } from './user.js';
import { eventsView } from './events.js';
import { keysView } from './keys.js';
import { orgsView, orgView } from './orgs.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signOutButton = document.getElementById('sign-out');

/** The signed-in operator (`GET /api/v1/user/`), or null. */
let operator = null;

function showChrome(visible) {
  nav.hidden = !visible;
  signOutButton.hidden = !visible;
  document.getElementById('nav-keys').hidden = !(visible && api.grants(operator.role.permissions, '*'));
  who.textContent = visible ? `${operator.username} (${operator.role.name})` : '';
}

async function signedIn() {
  const me = await api.call('GET', '/api/v1/user/');
  if (!api.grants(me.role.permissions, 'admin:*')) {
    await api.logout();
    throw new api.ApiError(403, 403, `The account ${me.username} has no admin permission.`);
  }
  operator = me;
  showChrome(true);
  if (!location.hash || location.hash === '#/' || location.hash === '#/sign-in') location.hash = '#/users';
  else route();
}

function signedOut(message, providerReturn) {
  operator = null;
  showChrome(false);
  replace(main, signInView({ message, onSignedIn: signedIn, providerReturn }));
}

async function route() {
  if (!operator) return;
  const [path, search = ''] = location.hash.replace(/^#\/?/, '/').split('?');
  const [, section, id] = path.split('/');
  for (const link of nav.querySelectorAll('a')) {
    link.toggleAttribute('aria-current', link.getAttribute('href') === `#/${section}`);
  }
  const context = { operator, main, params: new URLSearchParams(search) };
  let view;
  if (section === 'users' && id) view = userView(decodeURIComponent(id), context);
  else if (section === 'orgs' && id) view = orgView(decodeURIComponent(id));
  else if (section === 'orgs') view = orgsView(context);
  else if (section === 'events') view = eventsView(context);
  else if (section === 'keys') view = keysView(context);
  else view = usersView(context);
  replace(main, view);
  main.focus({ preventScroll: true });
}

signOutButton.addEventListener('click', async () => {
  await api.logout();
  location.hash = '#/sign-in';
  signedOut('Signed out.');
});
window.addEventListener('hashchange', route);
api.whenSignedOut(() => signedOut('Your session ended; sign in again.'));

(async () => {
  // Back from a provider: the client reads `?code=` (or `?error=`) once and takes it out of the
  // address bar; the sign-in view shows the outcome (or asks for the second factor).
  const back = new URLSearchParams(location.search);
  if (back.has('code') || back.has('error')) {
    signedOut('', api.providerReturn());
    return;
  }
  try {
    if (await api.refresh()) {
      await signedIn();
      return;
    }
  } catch (error) {
    signedOut(error.message);
    return;
  }
  signedOut('');
})();

