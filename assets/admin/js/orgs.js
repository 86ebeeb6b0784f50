// Organizations: every one, newest first, narrowed by a slug prefix and paged by cursor
// (`#/orgs?q=...`); one organization with its members and pending invitations, and deleting it.

import * as api from './api.js';
import { h, field, statusLine, when, confirmed } from './dom.js';

const PAGE_SIZE = 20;

export function orgsView({ params }) {
  const status = statusLine();
  const q = h('input', { name: 'q', type: 'search', value: params.get('q') || '', autocomplete: 'off' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find organizations' },
    field('Slug starts with', q),
    h('button', { type: 'submit' }, 'Search'));
  const body = h('tbody');
  const table = h('table', { class: 'list orgs' },
    h('caption', { class: 'visually-hidden' }, 'Organizations'),
    h('thead', {}, h('tr', {}, ['Name', 'Slug', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams(q.value.trim() ? { q: q.value.trim() } : {});
    location.hash = `#/orgs?${next}`;
  });

  (async () => {
    try {
      const query = { q: params.get('q'), limit: PAGE_SIZE, before: params.get('before') };
      const page = await api.call('GET', `/api/v1/admin/orgs${api.query(query)}`);
      body.replaceChildren(...page.orgs.map((o) => h('tr', {},
        h('td', {}, h('a', { href: `#/orgs/${encodeURIComponent(o.id)}` }, o.name)),
        h('td', {}, o.slug), h('td', {}, when(o.created_at)))));
      if (page.orgs.length === 0) status.show('No organizations.', 'info');
      const older = new URLSearchParams({ ...(params.get('q') ? { q: params.get('q') } : {}), before: page.next || '' });
      pager.replaceChildren(page.next ? h('a', { href: `#/orgs?${older}` }, 'Older →') : '');
    } catch (error) {
      status.show(error.message, 'error');
    }
  })();
  return h('section', { 'aria-labelledby': 'orgs-title' },
    h('h1', { id: 'orgs-title' }, 'Organizations'), filters, status, h('div', { class: 'scroll' }, table), pager);
}

export function orgView(id) {
  const base = `/api/v1/admin/orgs/${encodeURIComponent(id)}`;
  const status = statusLine();
  const title = h('h1', { id: 'org-title' }, 'Organization');
  const profile = h('dl', { class: 'profile' });
  const members = h('div');
  const invitations = h('div');
  const actions = h('div', { class: 'buttons' });

  function table(columns, rows) {
    return h('div', { class: 'scroll' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, columns.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows)));
  }

  (async () => {
    try {
      const org = await api.call('GET', base);
      title.textContent = org.name;
      profile.replaceChildren(...[['Id', org.id], ['Slug', org.slug], ['Created', when(org.created_at)]]
        .flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
      const page = await api.call('GET', `${base}/members?limit=100`);
      members.replaceChildren(table(['Username', 'Email', 'Role', 'Joined'], page.members.map((m) => h('tr', {},
        h('td', {}, h('a', { href: `#/users/${encodeURIComponent(m.user.id)}` }, m.user.username)),
        h('td', {}, m.user.email), h('td', {}, m.role), h('td', {}, when(m.joined_at))))),
      page.next ? h('p', {}, 'The first 100 members are shown.') : '');
      const pending = await api.call('GET', `${base}/invitations`);
      invitations.replaceChildren(pending.length === 0
        ? h('p', {}, 'No pending invitations.')
        : table(['Email', 'Role', 'Sent', 'Expires'], pending.map((i) => h('tr', {},
          h('td', {}, i.email), h('td', {}, i.role), h('td', {}, when(i.created_at)), h('td', {}, when(i.expires_at))))));
      actions.replaceChildren(h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirmed(`Delete ${org.name}? Its memberships and invitations end.`)) return;
        try {
          await api.call('DELETE', base);
          location.hash = '#/orgs';
        } catch (error) {
          status.show(error.message, 'error');
        }
      } }, 'Delete organization'));
    } catch (error) {
      status.show(error.message, 'error');
    }
  })();
  return h('section', { 'aria-labelledby': 'org-title' },
    h('p', {}, h('a', { href: '#/orgs' }, '← Organizations')),
    title, status,
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', {}, 'Profile'), profile),
      h('div', { class: 'card' }, h('h2', {}, 'Actions'), actions)),
    h('div', { class: 'card' }, h('h2', {}, 'Members'), members),
    h('div', { class: 'card' }, h('h2', {}, 'Pending invitations'), invitations));
}
