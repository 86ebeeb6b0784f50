// Security events: everyone's, filtered as the API allows (user, type, since, until), newest
// first, one page at a time by the API's cursor. The same list shows one user's events on
// their page.

import * as api from './api.js';
import { h, field, statusLine, when } from './dom.js';

/** The event types of the API description (src/domain/event.rs), for the type filter. */
const EVENT_TYPES = [
  'user.registered', 'user.updated', 'user.deleted', 'login.succeeded', 'login.failed',
  'login.locked', 'refresh.reuse_detected', 'logout', 'logout_all', 'session.revoked',
  'password.changed', 'password.check_failed', 'password.reset_requested',
  'password.reset_completed', 'email.verification_sent', 'email.verified',
  'email.change_requested', 'email.changed', 'mfa.enabled', 'mfa.disabled', 'mfa.failed',
  'mfa.recovery_code_used', 'mfa.reset_by_admin', 'mfa.recovery_codes_regenerated',
  'admin.user_updated', 'admin.user_deleted', 'admin.sessions_revoked', 'keys.rotated', 'keys.revoked',
];
const PAGE = 25;

/** `detail` as `key: value` pairs; the API keeps only names and counts there. */
function detailText(detail) {
  return Object.entries(detail || {})
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join(', ');
}

/** A table of events matching `filters`, with "Load more" while the API says there is more. */
export function eventList(filters, { showUser = true } = {}) {
  const status = statusLine();
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const columns = ['When', 'Type', showUser && 'User', 'By', 'IP address', 'Device', 'Detail'].filter(Boolean);
  const table = h('table', { class: 'list events' },
    h('thead', {}, h('tr', {}, columns.map((title) => h('th', { scope: 'col' }, title)))),
    body);
  let before = null;

  const userLink = (id) => (id ? h('a', { href: `#/users/${encodeURIComponent(id)}` }, id.slice(0, 8)) : '—');

  async function load() {
    more.disabled = true;
    try {
      const data = await api.call('GET', `/api/v1/admin/security-events${api.query({ ...filters, limit: PAGE, before })}`);
      for (const event of data.events) {
        body.append(h('tr', {},
          h('td', {}, when(event.at)),
          h('td', {}, h('code', {}, event.type)),
          showUser && h('td', {}, userLink(event.user_id)),
          h('td', {}, event.actor_id && event.actor_id !== event.user_id ? userLink(event.actor_id) : ''),
          h('td', {}, event.ip_address || ''),
          h('td', {}, event.device || ''),
          h('td', {}, detailText(event.detail))));
      }
      before = data.next;
      more.hidden = !before;
      if (!body.children.length) status.show('No events.', 'info');
      else status.show('', 'info');
    } catch (error) {
      status.show(error.message, 'error');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', load);
  load();
  return h('div', { class: 'events-list' }, status, h('div', { class: 'scroll' }, table), more);
}

/** `datetime-local` input value (local time) to RFC 3339 UTC, or '' when empty. */
function utc(value) {
  return value ? new Date(value).toISOString() : '';
}

export function eventsView({ params }) {
  const user = h('input', { name: 'user_id', value: params.get('user_id') || '', autocomplete: 'off' });
  const type = h('select', { name: 'type' }, h('option', { value: '' }, 'Any type'),
    EVENT_TYPES.map((t) => h('option', { value: t }, t)));
  type.value = params.get('type') || '';
  const since = h('input', { name: 'since', type: 'datetime-local' });
  const until = h('input', { name: 'until', type: 'datetime-local' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    field('User id', user), field('Type', type), field('Since', since), field('Until', until),
    h('button', { type: 'submit' }, 'Filter'));
  const results = h('div');
  const show = () => results.replaceChildren(eventList({
    user_id: user.value.trim(), type: type.value, since: utc(since.value), until: utc(until.value),
  }));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
  show();
  return h('section', { 'aria-labelledby': 'events-title' },
    h('h1', { id: 'events-title' }, 'Security events'), filters, results);
}
