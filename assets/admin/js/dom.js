// The console's only way to build the page: elements made with createElement, every string put
// in as text. Nothing from the API ever becomes HTML, so a username like `<img onerror=...>`
// shows as those characters.

/** An element with attributes (`class`, `for`, `type`, `aria-*`, ...; `on*` functions become
 *  listeners, booleans set or drop the attribute) and children (strings become text nodes;
 *  null, false and undefined are skipped; arrays are flattened). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value') {
      element.value = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** A timestamp as the reader's local date and time; an absent one as a dash. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A labelled form field: the label names the control, as screen readers and tests find it. */
export function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

/** A status line that screen readers announce; `show(text, kind)` with kind ok|error|info. */
export function statusLine() {
  const line = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  line.show = (text, kind = 'info') => {
    line.textContent = text || '';
    line.className = `status ${kind}`;
  };
  return line;
}

/** Asks before something that cannot be undone. */
export function confirmed(question) {
  return window.confirm(question);
}
