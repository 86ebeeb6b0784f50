// One user: profile and sign-in methods, role, active, the actions an operator takes on an
// account (reset mail, second factor reset, delete), their identities at sign-in providers with
// unlink, their passkeys with remove, their sessions with revoke one / revoke all, and their security events. Every action goes to the API, which decides what this operator may do: a refusal is
// shown as the API words it.

import * as api from './api.js';
import { h, field, statusLine, when, confirmed } from './dom.js';
import { roles } from './users.js';
import { eventList } from './events.js';

/** Whether a role can administer (only `*` holders may grant it or touch its holders). */
function privileged(role) {
  return api.grants(role.permissions, 'admin:*');
}

export function userView(id, { operator }) {
  const base = `/api/v1/admin/${encodeURIComponent(id)}`;
  const status = statusLine();
  const title = h('h1', { id: 'user-title' }, 'User');
  const profile = h('dl', { class: 'profile' });
  const actions = h('div', { class: 'actions' });
  const sessions = h('div');
  const identities = h('div');
  const passkeys = h('div');
  const events = h('div');
  const mayTouchAdmins = api.grants(operator.role.permissions, '*');

  /** Runs an API action, reports it, and reloads the page's data. */
  async function act(what, method, path, body, done) {
    status.show(`${what}…`, 'info');
    try {
      await api.call(method, path, body);
      status.show(done, 'ok');
      await load();
    } catch (error) {
      status.show(error.message, 'error');
    }
  }

  function showProfile(user) {
    title.textContent = user.username;
    const rows = [
      ['Id', user.id], ['Username', user.username], ['Email', user.email],
      ['Pending email', user.pending_email || '—'], ['Full name', user.full_name || '—'],
      ['Role', user.role.name], ['Active', user.is_active ? 'yes' : 'no'],
      ['Email verified', user.email_verified ? 'yes' : 'no'],
      ['Password', user.has_password ? 'set' : 'none (signs in by provider or mail)'],
      ['Second factor', user.mfa_enabled ? 'on' : 'off'],
      ['Created', when(user.created_at)], ['Updated', when(user.updated_at)],
      ['Last login', when(user.last_login_at)],
    ];
    profile.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
  }

  async function showActions(user) {
    const roleSelect = h('select', { name: 'role' });
    for (const role of await roles()) {
      // The API refuses a privileged role from anyone but a `*` holder; offer only what it allows.
      roleSelect.append(h('option', { value: role.name, disabled: privileged(role) && !mayTouchAdmins }, role.name));
    }
    roleSelect.value = user.role.name;
    const roleForm = h('form', { class: 'inline' },
      field('Role', roleSelect),
      h('button', { type: 'submit' }, 'Change role'));
    roleForm.addEventListener('submit', (event) => {
      event.preventDefault();
      act('Changing the role', 'PUT', base, { role: roleSelect.value }, `Role changed to ${roleSelect.value}.`);
    });
    const toggle = user.is_active
      ? h('button', { type: 'button', class: 'danger', onclick: () => confirmed(`Deactivate ${user.username}? Their sessions end.`)
        && act('Deactivating', 'PUT', base, { is_active: false }, 'Deactivated; their sessions ended.') }, 'Deactivate')
      : h('button', { type: 'button', onclick: () => act('Reactivating', 'PUT', base, { is_active: true }, 'Reactivated.') }, 'Reactivate');
    actions.replaceChildren(
      roleForm,
      h('div', { class: 'buttons' },
        toggle,
        h('button', { type: 'button', onclick: () => act('Sending', 'POST', `${base}/password-reset`, undefined, 'A password reset mail is on its way.') }, 'Send password reset mail'),
        user.mfa_enabled && h('button', { type: 'button', onclick: () => confirmed(`Remove ${user.username}'s second factor? Their sessions end.`)
          && act('Resetting the second factor', 'DELETE', `${base}/mfa`, undefined, 'Second factor removed; their sessions ended.') }, 'Reset second factor'),
        user.is_active && h('button', { type: 'button', class: 'danger', onclick: () => confirmed(`Delete ${user.username}? The account is deactivated and marked deleted.`)
          && act('Deleting', 'DELETE', base, undefined, 'Deleted.') }, 'Delete')));
  }

  function showSessions(list) {
    const body = h('tbody');
    for (const s of list) {
      body.append(h('tr', {},
        h('td', {}, s.device || '—'), h('td', {}, s.ip_address || '—'),
        h('td', {}, when(s.last_activity)), h('td', {}, when(s.created_at)), h('td', {}, when(s.expires_at)),
        h('td', {}, h('button', { type: 'button', 'aria-label': `Revoke the session from ${s.device || 'an unknown device'}`,
          onclick: () => act('Revoking', 'DELETE', `${base}/sessions/${encodeURIComponent(s.id)}`, undefined, 'Session revoked.') }, 'Revoke'))));
    }
    sessions.replaceChildren(
      list.length === 0
        ? h('p', {}, 'No active sessions.')
        : h('div', { class: 'scroll' }, h('table', { class: 'list sessions' },
          h('thead', {}, h('tr', {}, ['Device', 'IP address', 'Last activity', 'Started', 'Expires', '']
            .map((t) => h('th', { scope: 'col' }, t)))), body)),
      list.length > 0 && h('button', { type: 'button', class: 'danger',
        onclick: () => confirmed('Revoke every session of this user?')
          && act('Revoking all', 'DELETE', `${base}/sessions`, undefined, 'Every session revoked.') }, 'Revoke all sessions'));
  }

  function showIdentities(list) {
    const body = h('tbody');
    for (const i of list) {
      body.append(h('tr', {},
        h('td', {}, i.provider), h('td', {}, i.email || '—'), h('td', {}, i.email_verified ? 'yes' : 'no'),
        h('td', {}, when(i.created_at)), h('td', {}, when(i.last_used_at)),
        h('td', {}, h('button', { type: 'button', 'aria-label': `Unlink ${i.provider}`,
          onclick: () => confirmed(`Unlink ${i.provider} from this account?`)
            && act('Unlinking', 'DELETE', `${base}/identities/${encodeURIComponent(i.id)}`, undefined, 'Identity unlinked.') }, 'Unlink'))));
    }
    identities.replaceChildren(list.length === 0
      ? h('p', {}, 'No linked identities.')
      : h('div', { class: 'scroll' }, h('table', { class: 'list identities' },
        h('thead', {}, h('tr', {}, ['Provider', 'Email', 'Verified', 'Linked', 'Last used', '']
          .map((t) => h('th', { scope: 'col' }, t)))), body)));
  }

  function showPasskeys(list) {
    const body = h('tbody');
    for (const p of list) {
      body.append(h('tr', {},
        h('td', {}, p.name), h('td', {}, p.backed_up ? 'yes' : 'no'), h('td', {}, (p.transports || []).join(', ') || '—'),
        h('td', {}, when(p.created_at)), h('td', {}, when(p.last_used_at)),
        h('td', {}, h('button', { type: 'button', 'aria-label': `Remove the passkey ${p.name}`,
          onclick: () => confirmed(`Remove the passkey "${p.name}" from this account?`)
            && act('Removing', 'DELETE', `${base}/passkeys/${encodeURIComponent(p.id)}`, undefined, 'Passkey removed.') }, 'Remove'))));
    }
    passkeys.replaceChildren(list.length === 0
      ? h('p', {}, 'No passkeys.')
      : h('div', { class: 'scroll' }, h('table', { class: 'list passkeys' },
        h('thead', {}, h('tr', {}, ['Name', 'Synced', 'Transports', 'Added', 'Last used', '']
          .map((t) => h('th', { scope: 'col' }, t)))), body)));
  }

  async function load() {
    const user = await api.call('GET', base);
    showProfile(user);
    await showActions(user);
    showIdentities(await api.call('GET', `${base}/identities`));
    showPasskeys(await api.call('GET', `${base}/passkeys`));
    showSessions(await api.call('GET', `${base}/sessions`));
    events.replaceChildren(eventList({ user_id: user.id }, { showUser: false }));
  }

  load().catch((error) => status.show(error.message, 'error'));
  return h('section', { 'aria-labelledby': 'user-title' },
    h('p', {}, h('a', { href: '#/users' }, '← Users')),
    title, status,
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', {}, 'Profile'), profile),
      h('div', { class: 'card' }, h('h2', {}, 'Actions'), actions)),
    h('div', { class: 'card' }, h('h2', {}, 'Sign-in providers'), identities),
    h('div', { class: 'card' }, h('h2', {}, 'Passkeys'), passkeys),
    h('div', { class: 'card' }, h('h2', {}, 'Sessions'), sessions),
    h('div', { class: 'card' }, h('h2', {}, 'Security events'), events));
}
