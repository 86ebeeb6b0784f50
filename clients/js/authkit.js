// The authkit browser client: one ES module, no dependencies, no build step.
//
// - The access token lives in this module's memory only, never in storage, where any script of
//   the page could read it. The refresh token stays in the server's HttpOnly cookie, so a reload
//   (or a new tab) gets a fresh access token with one refresh: `restore()`.
// - Calls are reactive: a 401 refreshes once and retries once. Calls that meet the expired token
//   at the same time share that one refresh, and so do tabs: the refresh runs under a Web Lock
//   (or, where there are none, after an announcement on a BroadcastChannel), and the new access
//   token is passed to the other tabs of this origin over a BroadcastChannel. A tab never
//   presents a refresh cookie that another tab has just rotated away, which the server would
//   treat as theft.
// - Signing out in one tab signs out every tab.
// - Every failure is an `AuthError` carrying the envelope's `code`, `message` and `details`, the
//   HTTP `status` and `Retry-After` in seconds.
//
// Types: authkit.d.ts beside this file.

const API = '/api/v1';
const CHANNEL_PREFIX = 'authkit:';
/** How long a tab that finds another tab refreshing waits for its token before refreshing itself. */
const PEER_WAIT_MS = 2000;
/** Without Web Locks: how long a tab listens after announcing its refresh, so that of two tabs
 *  announcing at once one refreshes and the other waits for its token. */
const ANNOUNCE_MS = 100;
/** sessionStorage key of the PKCE verifier between a provider redirect and its return. */
const PKCE_KEY = 'authkit:pkce';

/** An answer the server refused, or a server that could not be reached (`status` 0). */
export class AuthError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the server could not be reached.
   * @param {number | string} code The envelope's `code` (the HTTP status), or the stable error
   *   code a provider redirect returned (`access_denied`, `provider_unavailable`, ...).
   * @param {string} message The envelope's message, as the server wrote it.
   * @param {Array<{loc: string[], msg: string, type: string}>} [details] Validation problems (422).
   * @param {number | null} [retryAfter] Seconds to wait, from `Retry-After` (429, 503).
   */
  constructor(status, code, message, details = [], retryAfter = null) {
    super(message);
    this.name = 'AuthError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

const base64url = {
  /** @param {ArrayBuffer | Uint8Array} bytes */
  encode(bytes) {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let text = '';
    for (const b of view) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
  /** @param {string} text */
  decode(text) {
    const plain = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0)).buffer;
  },
};

/** The claims of a JWT, read without checking (the server checks; this is for display). */
function claimsOf(token) {
  try {
    return JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1])));
  } catch {
    return {};
  }
}

function retryAfterOf(response) {
  const value = response.headers.get('Retry-After');
  const seconds = value === null ? NaN : Number(value);
  return Number.isFinite(seconds) ? seconds : null;
}

/** A client of one authkit server. */
export class AuthClient {
  #base;
  #fetch;
  /** @type {string | null} */
  #token = null;
  /** When the current token was set (any tab's refresh counts), for the refresh coordination. */
  #tokenSetAt = 0;
  /** @type {Promise<boolean> | null} */
  #refreshing = null;
  /** @type {Set<(session: any) => void>} */
  #listeners = new Set();
  /** @type {BroadcastChannel | null} */
  #channel = null;
  /** The last refresh another tab announced (the fallback without Web Locks): when, and its
   *  random ballot; of tabs announcing at once, the lowest ballot refreshes. */
  #peerRefreshing = { at: 0, ballot: 1 };
  /** @type {Set<() => void>} woken by any token or sign-out from another tab */
  #peerWaiters = new Set();
  #pendingMfaToken = null;
  #lockName;

  /**
   * @param {{baseUrl?: string, fetch?: typeof fetch, channelName?: string}} [options]
   */
  constructor(options = {}) {
    this.#base = (options.baseUrl || '').replace(/\/+$/, '');
    this.#fetch = options.fetch || globalThis.fetch.bind(globalThis);
    const name = CHANNEL_PREFIX + (options.channelName || this.#base || 'same-origin');
    this.#lockName = `${name}:refresh`;
    if (typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(name);
      this.#channel.onmessage = (event) => this.#fromPeer(event.data);
    }
  }

  // --- session state -------------------------------------------------------------------------

  /** The current session as this tab knows it, or null when signed out. */
  get session() {
    if (this.#token === null) return null;
    const claims = claimsOf(this.#token);
    return {
      accessToken: this.#token,
      userId: claims.sub ?? null,
      expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
      orgId: claims.org_id ?? null,
      orgRole: claims.org_role ?? null,
      amr: claims.amr ?? [],
    };
  }

  /** The access token, for calling other services that accept it; null when signed out. */
  get accessToken() {
    return this.#token;
  }

  /**
   * Calls `listener` with the session whenever it changes (sign-in, refresh, another tab's
   * sign-out: null). Returns the function that stops it.
   * @param {(session: any) => void} listener
   */
  onSessionChange(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #setToken(token, { announce }) {
    const changed = token !== this.#token;
    this.#token = token;
    this.#tokenSetAt = Date.now();
    if (announce) this.#post(token === null ? { type: 'signed-out' } : { type: 'token', token });
    if (changed) for (const listener of this.#listeners) listener(this.session);
  }

  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed channel (the page is going away): nothing to tell.
    }
  }

  #fromPeer(message) {
    if (!message || typeof message !== 'object') return;
    if (message.type === 'refreshing') {
      this.#peerRefreshing = { at: Date.now(), ballot: Number(message.ballot) };
      return;
    }
    if (message.type === 'token' && typeof message.token === 'string') {
      this.#setToken(message.token, { announce: false });
    } else if (message.type === 'signed-out') {
      this.#setToken(null, { announce: false });
    } else {
      return;
    }
    for (const wake of this.#peerWaiters) wake();
  }

  /** Resolves when another tab passes a token or signs out, or after `ms`. */
  #peerNews(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#peerWaiters.delete(wake);
        resolve(undefined);
      };
      const timer = setTimeout(wake, ms);
      this.#peerWaiters.add(wake);
    });
  }

  // --- transport -----------------------------------------------------------------------------

  /**
   * One request; the parsed envelope or an AuthError. `auth`: send the access token.
   * @returns {Promise<{response: Response, answer: any}>}
   */
  async #send(method, path, body, auth) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.#token !== null) headers.Authorization = `Bearer ${this.#token}`;
    let response;
    try {
      response = await this.#fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // The refresh cookie must ride along to an API on another origin of the same site.
        credentials: 'include',
      });
    } catch (cause) {
      throw new AuthError(0, 'network_error', `The server cannot be reached (${cause}).`);
    }
    const answer = await response.json().catch(() => null);
    return { response, answer };
  }

  static #failure(response, answer) {
    return new AuthError(
      response.status,
      answer && answer.code !== undefined ? answer.code : response.status,
      (answer && answer.message) || `The server answered ${response.status}.`,
      (answer && Array.isArray(answer.details) && answer.details) || [],
      retryAfterOf(response),
    );
  }

  /** A call that needs no session. */
  async #public(method, path, body) {
    const { response, answer } = await this.#send(method, path, body, false);
    if (!response.ok) throw AuthClient.#failure(response, answer);
    return answer ? answer.data : null;
  }

  /**
   * Calls the API as the signed-in user and answers the envelope's `data`. Without a token it
   * first restores the session from the cookie; a 401 refreshes once and retries once.
   * @param {string} method
   * @param {string} path under `/api/v1`, e.g. `/user/sessions`
   * @param {unknown} [body]
   */
  async request(method, path, body) {
    if (this.#token === null) await this.refresh();
    const sentWith = this.#token;
    let { response, answer } = await this.#send(method, API + path, body, true);
    if (response.status === 401 && sentWith !== null) {
      // Another call or tab may have refreshed meanwhile: then its token is tried first.
      if (this.#token !== sentWith || (await this.refresh())) {
        ({ response, answer } = await this.#send(method, API + path, body, true));
      }
    }
    if (!response.ok) throw AuthClient.#failure(response, answer);
    return answer ? answer.data : null;
  }

  /**
   * `fetch` for your own routes on this server (or any that accept its tokens): adds the access
   * token, and on a 401 refreshes once and retries. Answers the Response as fetch does.
   * @param {string} url absolute, or a path on this server
   * @param {RequestInit} [init] a body must be repeatable (a string, not a stream)
   */
  async fetch(url, init = {}) {
    if (this.#token === null) await this.refresh();
    const target = /^[a-z][a-z0-9+.-]*:/i.test(url) ? url : this.#base + url;
    const attempt = () => {
      const headers = new Headers(init.headers);
      if (this.#token !== null) headers.set('Authorization', `Bearer ${this.#token}`);
      return this.#fetch(target, { credentials: 'include', ...init, headers });
    };
    const sentWith = this.#token;
    const response = await attempt();
    if (response.status !== 401 || sentWith === null) return response;
    if (this.#token !== sentWith || (await this.refresh())) return attempt();
    return response;
  }

  // --- refresh -------------------------------------------------------------------------------

  /**
   * A new access token from the refresh cookie. Concurrent callers in this tab share one
   * request, and tabs take turns (see the module's comment); a tab that finds another tab has
   * just refreshed takes its token instead of refreshing again. Resolves false when there is no
   * live session (the tabs are told), throws an AuthError for anything else (429, 503, offline).
   * @returns {Promise<boolean>}
   */
  refresh() {
    const wantedAt = Date.now();
    this.#refreshing ??= this.#exclusive(() => this.#refreshOnce(wantedAt)).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** Runs `task` while no other tab of this origin refreshes. */
  async #exclusive(task) {
    const locks = globalThis.navigator && globalThis.navigator.locks;
    if (locks && typeof locks.request === 'function') {
      return locks.request(this.#lockName, task);
    }
    // No Web Locks: if another tab said a moment ago that it refreshes, wait for its token.
    if (Date.now() - this.#peerRefreshing.at < PEER_WAIT_MS) {
      await this.#peerNews(PEER_WAIT_MS);
      return task();
    }
    // Else announce this refresh and listen a moment: of two tabs that announced at once, the
    // one with the lower ballot refreshes and the other waits for its token.
    const announcedAt = Date.now();
    const ballot = Math.random();
    this.#post({ type: 'refreshing', ballot });
    await new Promise((resolve) => setTimeout(resolve, ANNOUNCE_MS));
    const rival = this.#peerRefreshing;
    if (rival.at >= announcedAt && rival.ballot < ballot) await this.#peerNews(PEER_WAIT_MS);
    return task();
  }

  async #refreshOnce(wantedAt) {
    // Another tab refreshed while this one waited its turn: its token is already here.
    if (this.#token !== null && this.#tokenSetAt > wantedAt) return true;
    const { response, answer } = await this.#send('POST', `${API}/auth/refresh`, undefined, false);
    if (response.ok && answer && answer.data && answer.data.token) {
      this.#setToken(answer.data.token.access_token, { announce: true });
      return true;
    }
    if (response.status === 401) {
      // The cookie is gone, expired or revoked: every tab of this browser is signed out.
      if (this.#token !== null) this.#setToken(null, { announce: true });
      return false;
    }
    throw AuthClient.#failure(response, answer);
  }

  /**
   * After a page load: the session the refresh cookie holds, with the user, or null.
   * @returns {Promise<object | null>}
   */
  async restore() {
    if (!(await this.refresh())) return null;
    return this.me();
  }

  // --- sign-in -------------------------------------------------------------------------------

  /** A login-shaped answer: signed in (token kept), or the second factor's challenge. */
  #signedIn(data) {
    if (data && data.mfa_required) {
      this.#pendingMfaToken = data.mfa_token;
      return {
        status: 'mfa_required',
        mfaToken: data.mfa_token,
        methods: data.methods || [],
        expiresIn: data.expires_in,
      };
    }
    this.#pendingMfaToken = null;
    this.#setToken(data.token.access_token, { announce: true });
    return { status: 'signed_in', user: data.user };
  }

  /**
   * Creates an account (it does not sign in; `login` next).
   * @param {{username: string, email: string, password: string, full_name?: string}} account
   */
  register(account) {
    return this.#public('POST', `${API}/auth/register`, account);
  }

  /**
   * Signs in with a password (`login` is a username or an email). Answers
   * `{status: 'signed_in', user}` or `{status: 'mfa_required', mfaToken, methods, expiresIn}`,
   * which `verifySecondFactor` completes.
   * @param {string} login
   * @param {string} password
   */
  async login(login, password) {
    return this.#signedIn(await this.#public('POST', `${API}/auth/login`, { email: login, password }));
  }

  /**
   * The second step of any sign-in that answered `mfa_required`: a TOTP `code` or a
   * `recoveryCode`. `mfaToken` defaults to the last challenge this client received.
   * @param {{code?: string, recoveryCode?: string, mfaToken?: string}} proof
   */
  async verifySecondFactor(proof) {
    const mfaToken = proof.mfaToken || this.#pendingMfaToken;
    if (!mfaToken) throw new AuthError(400, 400, 'There is no second-factor step to complete.');
    const body = proof.recoveryCode !== undefined
      ? { mfa_token: mfaToken, recovery_code: proof.recoveryCode }
      : { mfa_token: mfaToken, code: proof.code };
    return this.#signedIn(await this.#public('POST', `${API}/auth/mfa/verify`, body));
  }

  /** The sign-in providers the server offers: `[{id, name}]`. */
  providers() {
    return this.#public('GET', `${API}/auth/oauth/providers`);
  }

  /**
   * Leaves the page for the provider's sign-in. Back at `redirectTo` (one of the server's
   * `OAUTH_REDIRECT_URLS`; default: this page without its query), call `handleRedirect()`.
   * Adds a PKCE challenge of its own where Web Crypto is available, so a code that leaks from
   * the address bar is useless to anyone else.
   * @param {string} provider
   * @param {{redirectTo?: string}} [options]
   */
  async signInWithProvider(provider, options = {}) {
    const redirectTo = options.redirectTo || `${location.origin}${location.pathname}`;
    const query = new URLSearchParams({ redirect_to: redirectTo });
    const verifier = await newPkceVerifier();
    if (verifier) {
      query.set('code_challenge', await pkceChallenge(verifier));
      query.set('code_challenge_method', 'S256');
    }
    location.assign(
      `${this.#base}${API}/auth/oauth/${encodeURIComponent(provider)}/authorize?${query}`,
    );
  }

  /**
   * On the page a provider sign-in returned to: exchanges `?code=` for the session (or the
   * second-factor step), throws an AuthError for `?error=`, reports `?linked=`, and answers null
   * on a page that is no such return. The parameters leave the address bar either way.
   * @param {{url?: string}} [options]
   */
  async handleRedirect(options = {}) {
    const url = new URL(options.url || location.href);
    const params = url.searchParams;
    const code = params.get('code');
    const error = params.get('error');
    const linked = params.get('linked');
    if (code === null && error === null && linked === null) return null;
    for (const name of ['code', 'error', 'error_description', 'linked']) params.delete(name);
    if (!options.url && typeof history !== 'undefined') {
      history.replaceState(history.state, '', url.toString());
    }
    const verifier = takePkceVerifier();
    if (error !== null) {
      throw new AuthError(400, error, params.get('error_description') || error);
    }
    if (linked !== null) return { status: 'linked', provider: linked };
    /** @type {{code: string, code_verifier?: string}} */
    const body = { code: /** @type {string} */ (code) };
    if (verifier) body.code_verifier = verifier;
    return this.#signedIn(await this.#public('POST', `${API}/auth/oauth/exchange`, body));
  }

  /**
   * Mails a sign-in link and code to the address. The server answers alike whether or not an
   * account holds it.
   * @param {string} email
   */
  async sendEmailSignIn(email) {
    await this.#public('POST', `${API}/auth/email/sign-in/start`, { email });
  }

  /**
   * Signs in with the mailed link's `token`, or the `email` and the mailed `code`. Call it on a
   * user's action (a button), not on page load: mail scanners open links too.
   * @param {{token: string} | {email: string, code: string}} proof
   */
  async verifyEmailSignIn(proof) {
    return this.#signedIn(await this.#public('POST', `${API}/auth/email/sign-in`, proof));
  }

  /**
   * Signs in with a passkey and no username: the browser offers the passkeys it holds for this
   * site. `mediation: 'conditional'` for autofill (an input with `autocomplete="webauthn"`).
   * @param {{mediation?: CredentialMediationRequirement, signal?: AbortSignal}} [options]
   */
  async signInWithPasskey(options = {}) {
    const { challenge_id: challengeId, options: publicKey } = await this.#public(
      'POST',
      `${API}/auth/passkeys/login/start`,
    );
    const got = /** @type {PublicKeyCredential} */ (await navigator.credentials.get({
      publicKey: requestOptions(publicKey),
      mediation: options.mediation,
      signal: options.signal,
    }));
    const credential = assertionJSON(got);
    return this.#signedIn(
      await this.#public('POST', `${API}/auth/passkeys/login/finish`, {
        challenge_id: challengeId,
        credential,
      }),
    );
  }

  /**
   * Adds a passkey to the signed-in account. Needs a recent sign-in, or `currentPassword`.
   * @param {{name?: string, currentPassword?: string}} [options]
   */
  async registerPasskey(options = {}) {
    const { challenge_id: challengeId, options: publicKey } = await this.request(
      'POST',
      '/user/passkeys/register/start',
      options.currentPassword ? { current_password: options.currentPassword } : {},
    );
    const made = /** @type {PublicKeyCredential} */ (await navigator.credentials.create({
      publicKey: creationOptions(publicKey),
    }));
    return this.request('POST', '/user/passkeys/register/finish', {
      challenge_id: challengeId,
      credential: attestationJSON(made),
      name: options.name || undefined,
    });
  }

  /** The account's passkeys. */
  passkeys() {
    return this.request('GET', '/user/passkeys');
  }

  /**
   * @param {string} id
   * @param {{currentPassword?: string}} [options]
   */
  removePasskey(id, options = {}) {
    return this.request('DELETE', `/user/passkeys/${encodeURIComponent(id)}`,
      options.currentPassword ? { current_password: options.currentPassword } : {});
  }

  // --- signing out ---------------------------------------------------------------------------

  /** Ends this session on the server and signs out every tab of this browser. */
  async logout() {
    try {
      const { response, answer } = await this.#send('POST', `${API}/auth/logout`, undefined, true);
      // 401: the session had ended already, which is what was wanted.
      if (!response.ok && response.status !== 401) throw AuthClient.#failure(response, answer);
    } finally {
      this.#pendingMfaToken = null;
      this.#setToken(null, { announce: true });
    }
  }

  /** Ends every session of the account, on every device; answers how many. */
  async logoutEverywhere() {
    const data = await this.request('POST', '/auth/logout-all');
    this.#setToken(null, { announce: true });
    return data;
  }

  // --- the account ---------------------------------------------------------------------------

  /** The signed-in user. */
  me() {
    return this.request('GET', '/user/');
  }

  /**
   * Changes the account (`username`, `email`, `full_name`, `password` with `current_password`).
   * @param {Record<string, unknown>} changes
   */
  updateMe(changes) {
    return this.request('PUT', '/user/', changes);
  }

  /** The account's sessions (`current` marks this one). */
  sessions() {
    return this.request('GET', '/user/sessions');
  }

  /** @param {string} sessionId */
  revokeSession(sessionId) {
    return this.request('DELETE', `/user/sessions/${encodeURIComponent(sessionId)}`);
  }

  /**
   * The account's security events, newest first: `{events, next}`; pass `next` as `before`.
   * @param {{limit?: number, before?: string}} [page]
   */
  securityEvents(page = {}) {
    return this.request('GET', `/user/security-events${queryOf(page)}`);
  }

  // --- organizations -------------------------------------------------------------------------

  /** The organizations the user belongs to, with the user's `role` in each. */
  organizations() {
    return this.request('GET', '/orgs');
  }

  /** @param {{name: string, slug?: string}} org */
  createOrganization(org) {
    return this.request('POST', '/orgs', org);
  }

  /** @param {string} orgId */
  organization(orgId) {
    return this.request('GET', `/orgs/${encodeURIComponent(orgId)}`);
  }

  /**
   * One page of members: `{members, next}`; pass `next` as `before` for the next page.
   * @param {string} orgId
   * @param {{limit?: number, before?: string}} [page]
   */
  members(orgId, page = {}) {
    return this.request('GET', `/orgs/${encodeURIComponent(orgId)}/members${queryOf(page)}`);
  }

  /**
   * @param {string} orgId
   * @param {{email: string, role: string}} invitation
   */
  invite(orgId, invitation) {
    return this.request('POST', `/orgs/${encodeURIComponent(orgId)}/invitations`, invitation);
  }

  /** Invitations waiting for the user (to a verified address). */
  invitations() {
    return this.request('GET', '/user/invitations');
  }

  /** @param {{token: string} | {invitation_id: string}} which */
  acceptInvitation(which) {
    return this.request('POST', '/user/invitations/accept', which);
  }

  /** @param {{token: string} | {invitation_id: string}} which */
  declineInvitation(which) {
    return this.request('POST', '/user/invitations/decline', which);
  }

  /**
   * Makes `orgId` the active organization (null: none): the new access token carries `org_id`
   * and `org_role`, and so do the refreshes after it, in every tab.
   * @param {string | null} orgId
   */
  async switchOrganization(orgId) {
    const data = await this.request('POST', '/user/active-org', { org_id: orgId });
    this.#setToken(data.token.access_token, { announce: true });
    return this.session;
  }

  /** Stops listening to other tabs (the client is not used after). */
  close() {
    this.#channel?.close();
    this.#channel = null;
    this.#listeners.clear();
  }
}

/**
 * A client of the authkit server at `baseUrl` (default: this page's origin).
 * @param {{baseUrl?: string, fetch?: typeof fetch, channelName?: string}} [options]
 */
export function createAuthClient(options) {
  return new AuthClient(options);
}

// --- helpers -------------------------------------------------------------------------------

function queryOf(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function newPkceVerifier() {
  if (!globalThis.crypto || !globalThis.crypto.subtle || typeof sessionStorage === 'undefined') {
    return null;
  }
  const verifier = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  try {
    sessionStorage.setItem(PKCE_KEY, verifier);
  } catch {
    return null; // storage refused (private mode): go without
  }
  return verifier;
}

async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url.encode(digest);
}

/** The verifier of the flow that just returned, used once. */
function takePkceVerifier() {
  try {
    const verifier = sessionStorage.getItem(PKCE_KEY);
    sessionStorage.removeItem(PKCE_KEY);
    return verifier;
  } catch {
    return null;
  }
}

// The server's WebAuthn options carry binary fields as base64url; the browser wants
// ArrayBuffers, and its answers go back as base64url JSON.

function creationOptions(options) {
  return {
    ...options,
    challenge: base64url.decode(options.challenge),
    user: { ...options.user, id: base64url.decode(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({
      ...c,
      id: base64url.decode(c.id),
    })),
  };
}

function requestOptions(options) {
  return {
    ...options,
    challenge: base64url.decode(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({
      ...c,
      id: base64url.decode(c.id),
    })),
  };
}

function attestationJSON(made) {
  const response = /** @type {AuthenticatorAttestationResponse} */ (made.response);
  return {
    id: made.id,
    rawId: base64url.encode(made.rawId),
    type: made.type,
    response: {
      attestationObject: base64url.encode(response.attestationObject),
      clientDataJSON: base64url.encode(response.clientDataJSON),
      transports: typeof response.getTransports === 'function' ? response.getTransports() : [],
    },
    extensions: made.getClientExtensionResults(),
  };
}

function assertionJSON(got) {
  const response = /** @type {AuthenticatorAssertionResponse} */ (got.response);
  return {
    id: got.id,
    rawId: base64url.encode(got.rawId),
    type: got.type,
    response: {
      authenticatorData: base64url.encode(response.authenticatorData),
      clientDataJSON: base64url.encode(response.clientDataJSON),
      signature: base64url.encode(response.signature),
      userHandle: response.userHandle ? base64url.encode(response.userHandle) : null,
    },
    extensions: got.getClientExtensionResults(),
  };
}
