// Signing keys: the published key set and rotation, for `*` holders (the API refuses others).

import * as api from './api.js';
import { h, statusLine } from './dom.js';

export function keysView() {
  const status = statusLine();
  const list = h('div');

  async function showKeys() {
    // The JWKS is public and cacheable; ask past any cache for what the server publishes now.
    const response = await fetch('/.well-known/jwks.json', { cache: 'no-store' });
    const set = await response.json();
    list.replaceChildren(set.keys.length === 0
      ? h('p', {}, 'This server signs with HS256 (JWT_ALG): there are no public keys to publish or rotate.')
      : h('ul', { class: 'keys' }, set.keys.map((key) => h('li', {}, h('code', {}, key.kid), ` ${key.alg} ${key.crv || ''}`))));
  }

  const rotate = h('button', { type: 'button' }, 'Rotate keys');
  rotate.addEventListener('click', async () => {
    if (!window.confirm('Rotate the signing keys? The next key starts signing; the active one retires.')) return;
    rotate.disabled = true;
    try {
      const rotation = await api.call('POST', '/api/v1/admin/keys/rotate');
      status.show(`Rotated: now signing with ${rotation.active_kid}; next key ${rotation.next_kid}.`, 'ok');
      await showKeys();
    } catch (error) {
      status.show(error.message, 'error');
    } finally {
      rotate.disabled = false;
    }
  });

  showKeys().catch((error) => status.show(`Could not read the key set: ${error.message}`, 'error'));
  return h('section', { 'aria-labelledby': 'keys-title' },
    h('h1', { id: 'keys-title' }, 'Signing keys'),
    h('p', {}, 'Published at ', h('a', { href: '/.well-known/jwks.json' }, '/.well-known/jwks.json'),
      '. A rotation publishes a new next key at once; services that cache the set pick it up before it signs.'),
    list, rotate, status);
}
