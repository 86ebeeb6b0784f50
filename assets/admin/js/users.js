// The users table: search by username or email prefix (`q`), role and active filters, paging.
// The filters live in the address (`#/users?q=...&page=2`), so Back returns to the same page.

import * as api from './api.js';
import { h, field, statusLine, when } from './dom.js';

const PAGE_SIZE = 20;
/** Columns a phone-width screen leaves out (their values are on the user's page). */
const SECONDARY = new Set([2, 5, 6, 7]);

let rolesCache = null;

/** The roles, for filters and the role picker (`GET /api/v1/admin/roles`), read once. */
export async function roles() {
  if (!rolesCache) rolesCache = await api.call('GET', '/api/v1/admin/roles');
  return rolesCache;
}

function yesNo(value) {
  return value ? 'yes' : 'no';
}

export function usersView({ params }) {
  const status = statusLine();
  const q = h('input', { name: 'q', type: 'search', value: params.get('q') || '', autocomplete: 'off' });
  const role = h('select', { name: 'role' }, h('option', { value: '' }, 'Any role'));
  const active = h('select', { name: 'is_active' },
    h('option', { value: '' }, 'Active or not'),
    h('option', { value: 'true' }, 'Active'),
    h('option', { value: 'false' }, 'Deactivated'));
  active.value = params.get('is_active') || '';
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find users' },
    field('Search username or email', q),
    field('Role', role),
    field('Status', active),
    h('button', { type: 'submit' }, 'Search'));
  const body = h('tbody');
  const table = h('table', { class: 'list' },
    h('caption', { class: 'visually-hidden' }, 'Users'),
    h('thead', {}, h('tr', {},
      ['Username', 'Email', 'Name', 'Role', 'Active', 'Verified', 'MFA', 'Last login']
        .map((title, i) => h('th', { scope: 'col', class: SECONDARY.has(i) ? 'secondary' : null }, title)))),
    body);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });

  const page = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);
  const go = (changes) => {
    const next = new URLSearchParams({
      q: q.value.trim(), role: role.value, is_active: active.value, page: String(page), ...changes,
    });
    for (const [key, value] of [...next]) if (!value) next.delete(key);
    location.hash = `#/users?${next}`;
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    go({ page: '1' });
  });

  (async () => {
    try {
      for (const r of await roles()) role.append(h('option', { value: r.name }, r.name));
      role.value = params.get('role') || '';
      const data = await api.call('GET', `/api/v1/admin/users${api.query({
        page, size: PAGE_SIZE, q: params.get('q'), role: params.get('role'), is_active: params.get('is_active'),
      })}`);
      for (const user of data.users) {
        body.append(h('tr', {},
          h('td', {}, h('a', { href: `#/users/${encodeURIComponent(user.id)}` }, user.username)),
          h('td', {}, user.email),
          h('td', { class: 'secondary' }, user.full_name || ''),
          h('td', {}, user.role.name),
          h('td', {}, yesNo(user.is_active)),
          h('td', { class: 'secondary' }, yesNo(user.email_verified)),
          h('td', { class: 'secondary' }, yesNo(user.mfa_enabled)),
          h('td', { class: 'secondary' }, when(user.last_login_at))));
      }
      const p = data.pagination;
      if (data.users.length === 0) status.show('No user matches.', 'info');
      pager.append(
        h('button', { type: 'button', disabled: !p.has_previous, onclick: () => go({ page: String(p.current_page - 1) }) }, 'Previous'),
        h('span', {}, ` Page ${p.current_page} of ${Math.max(p.total_pages, 1)} · ${p.total_items} users `),
        h('button', { type: 'button', disabled: !p.has_next, onclick: () => go({ page: String(p.current_page + 1) }) }, 'Next'));
    } catch (error) {
      status.show(error.message, 'error');
    }
  })();

  return h('section', { 'aria-labelledby': 'users-title' },
    h('h1', { id: 'users-title' }, 'Users'),
    filters, status, h('div', { class: 'scroll' }, table), pager);
}
