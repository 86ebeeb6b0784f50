// Sign-in: username or email and password, or a configured provider (the flow returns to
// /admin?code=...), then the second factor when the account has one.

import * as api from './api.js';
import { h, field, statusLine } from './dom.js';

export function signInView({ message, onSignedIn, providerReturn }) {
  const status = statusLine();
  if (message) status.show(message, 'info');

  const login = h('input', { name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  // Disabled while hidden: the browser neither validates nor submits it before the second step.
  const code = h('input', { name: 'code', autocomplete: 'one-time-code', required: true, disabled: true });
  const codeField = field('Authentication code or recovery code', code);
  codeField.hidden = true;
  const submit = h('button', { type: 'submit' }, 'Sign in');
  let secondStep = false;

  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    field('Username or email', login),
    field('Password', password),
    codeField,
    submit,
    status);

  const providers = h('nav', { class: 'providers', 'aria-label': 'Sign in with a provider' });
  form.append(providers);
  api.providers().then((list) => {
    const back = `${location.origin}/admin`;
    for (const p of list) {
      // A link that works as one; with scripts, the client adds its PKCE challenge on the way.
      providers.append(h('a', {
        class: 'provider',
        href: `/api/v1/auth/oauth/${encodeURIComponent(p.id)}/authorize?redirect_to=${encodeURIComponent(back)}`,
        onclick: (event) => {
          event.preventDefault();
          api.signInWithProvider(p.id);
        },
      }, `Sign in with ${p.name}`));
    }
  });

  /** The first step answered: signed in, or the second factor is still to come. */
  async function firstStepDone(answer) {
    if (answer.status === 'mfa_required') {
      secondStep = true;
      login.disabled = true;
      password.disabled = true;
      password.value = '';
      codeField.hidden = false;
      code.disabled = false;
      submit.textContent = 'Verify';
      status.show('Enter the code from your authenticator app, or a recovery code.', 'info');
      code.focus();
      return;
    }
    status.show('Signed in.', 'ok');
    await onSignedIn();
  }

  if (providerReturn) {
    status.show('Signing in…', 'info');
    providerReturn.then(firstStepDone).catch((error) => status.show(error.message, 'error'));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      if (secondStep) {
        await api.verifySecondFactor(code.value.trim());
      } else {
        await firstStepDone(await api.login(login.value.trim(), password.value));
        return;
      }
      status.show('Signed in.', 'ok');
      await onSignedIn();
    } catch (error) {
      status.show(error.message, 'error');
      if (secondStep && /mfa_token/.test(error.message)) {
        // The challenge expired or ran out of tries: start over.
        secondStep = false;
        login.disabled = false;
        password.disabled = false;
        codeField.hidden = true;
        code.disabled = true;
        submit.textContent = 'Sign in';
      }
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => login.focus());
  return form;
}
