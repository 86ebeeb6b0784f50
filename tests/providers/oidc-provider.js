// A real OpenID provider for the tests: panva's oidc-provider (tests/providers/package.json pins
// it), configured so that a test needs no setup beyond registering its own client.
// - Signing keys are made at start (RSA 2048 "rsa-1" for RS256, P-256 "ec-1" for ES256) and are
//   the provider's JWKS; --keys-out writes them to a file (PEM and DER) so tests can sign crafted
//   ID tokens with the very keys the server under test trusts.
// - GET /test/jwks-hits answers {"hits": N}, the JWKS fetches so far, so tests can check how
//   often the server under test refetches keys.
// - Open dynamic registration (POST /reg, no initial access token): the server under test runs
//   on random ports, so each test registers a client with its own redirect_uris.
// - The development login page accepts any login and any password; the login decides the person
//   (see subFor). Consent is never asked: the flow is login, then straight back.
// - PKCE (S256) is required of every client, and a confidential client must authenticate at
//   the token endpoint with the method it registered (client_secret_basic or _post).
// Usage: node tests/providers/oidc-provider.js [--port N] [--issuer URL] [--keys-out FILE]
// (port 9000, issuer http://127.0.0.1:PORT by default). Prints `listening <issuer>` when ready.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

import Provider, { interactionPolicy } from 'oidc-provider';

// Arguments only, not the environment: PORT there is the server under test's.
function option(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}

const port = Number(option('port') || 9000);
const issuer = (option('issuer') || `http://127.0.0.1:${port}`).replace(/\/$/, '');
const keysOut = option('keys-out');

// Fresh keys every run: nothing the tests hold survives a restart, which is what a key rotation
// at a real provider looks like anyway.
// Besides PEM, `private_der` (base64) is the DER that jsonwebtoken's EncodingKey::from_rsa_der
// (PKCS#1) and from_ec_der (PKCS#8) take: the tests' jsonwebtoken is built without PEM support.
function makeKey(kid, alg, type, options, derType) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, options);
  return {
    kid,
    jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
    pem: {
      kid,
      private_pem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
      public_pem: publicKey.export({ format: 'pem', type: 'spki' }),
      private_der: privateKey.export({ format: 'der', type: derType }).toString('base64'),
    },
  };
}
const rsa = makeKey('rsa-1', 'RS256', 'rsa', { modulusLength: 2048 }, 'pkcs1');
const ec = makeKey('ec-1', 'ES256', 'ec', { namedCurve: 'P-256' }, 'pkcs8');
if (keysOut) {
  fs.writeFileSync(keysOut, JSON.stringify({ rsa: rsa.pem, ec: ec.pem }, null, 2), { mode: 0o600 });
}

// The login string is the person, so a test makes whoever it needs without configuration:
// `verified:<email>`, `unverified:<email>`, `noemail:<name>`; anything else is `verified:` when
// it holds an @ and `noemail:` when not. oidc-provider makes the account id the `sub`, so the
// login form's answer is turned into the sub here (see the middleware below), and findAccount
// reads the person back out of the sub: `v-<email>`, `u-<email>`, `n-<name>`.
function subFor(login) {
  const colon = login.indexOf(':');
  const prefix = colon === -1 ? '' : login.slice(0, colon);
  switch (prefix) {
    case 'verified': return `v-${login.slice(colon + 1)}`;
    case 'unverified': return `u-${login.slice(colon + 1)}`;
    case 'noemail': return `n-${login.slice(colon + 1)}`;
    default: return login.includes('@') ? `v-${login}` : `n-${login}`;
  }
}

function claimsFor(sub) {
  const kind = sub.slice(0, 2);
  const value = sub.slice(2);
  if (kind === 'v-' || kind === 'u-') {
    const local = value.split('@')[0];
    return {
      sub,
      email: value,
      email_verified: kind === 'v-',
      preferred_username: local,
      name: local,
    };
  }
  return { sub, preferred_username: value, name: value };
}

const SCOPES = ['openid', 'email', 'profile'];

// The base policy, less the check that makes native clients always show the consent page: the
// native-app client should also go login, then straight back.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const configuration = {
  clients: [
    {
      // For the README walkthrough (scripts/test-provider.sh; the server on its default port).
      client_id: 'walkthrough',
      client_secret: 'walkthrough-secret',
      redirect_uris: ['http://localhost:8000/api/v1/auth/oauth/test/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      response_types: ['code'],
      grant_types: ['authorization_code'],
    },
    {
      // A mobile app that signs in at the provider itself and hands the ID token over.
      client_id: 'native-app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['com.example.app:/callback', 'http://127.0.0.1/callback'],
      response_types: ['code'],
      grant_types: ['authorization_code'],
    },
  ],
  jwks: { keys: [rsa.jwk, ec.jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  // The server under test reads only the ID token, so the granted claims go in it rather than
  // only in the userinfo answer.
  conformIdTokenClaims: false,
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true, initialAccessToken: false },
  },
  interactions: { policy },
  async findAccount(_ctx, id) {
    // Every account id comes from subFor; one that does not (none should) still gets a person.
    const claims = claimsFor(/^[vun]-/.test(id) ? id : subFor(id));
    claims.sub = id;
    return {
      accountId: id,
      async claims() {
        return claims;
      },
    };
  },
  // No consent page: whatever openid scopes and claims the request asks for are granted, on the
  // session's grant for this client or a new one.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!grant) {
      grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    }
    const scopes = [...oidc.requestParamOIDCScopes].filter((s) => SCOPES.includes(s));
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);

let jwksHits = 0;
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/test/jwks-hits') {
    ctx.body = { hits: jwksHits };
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/jwks') jwksHits += 1;
  await next();
});

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The development login form posts `prompt=login&login=…&password=…` to /interaction/<uid>; the
// password is never looked at. Its built-in handler would make the login string itself the
// account id (and so the sub); this answers the login prompt instead, with the sub for that
// login, and sends the browser on to /auth/<uid> as the built-in one does.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) {
    await next();
    return;
  }
  const form = await readForm(ctx.req);
  if (form.get('prompt') !== 'login') {
    // Consent is never asked (loadExistingGrant), but should it be, the built-in handler takes
    // the already read body from here.
    ctx.request.body = Object.fromEntries(form);
    await next();
    return;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId: subFor(form.get('login') || '') },
  }, { mergeWithLastSubmission: false });
  ctx.set('cache-control', 'no-store');
  ctx.status = 303;
  ctx.redirect(returnTo);
});

// oidc-provider takes a client secret sent either way, whichever method the client registered;
// some real providers take only one. So the token endpoint here holds each confidential client
// to its registered `token_endpoint_auth_method`, and a test learns which one the server used.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.is('application/x-www-form-urlencoded')) {
    await next();
    return;
  }
  const form = await readForm(ctx.req);
  // oidc-provider's own body parser takes the already read body from here.
  ctx.request.body = Object.fromEntries(form);
  let used;
  let clientId;
  const authorization = ctx.get('authorization');
  if (/^basic /i.test(authorization)) {
    used = 'client_secret_basic';
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon === -1 ? undefined : colon).replace(/\+/g, ' '));
    } catch {
      clientId = undefined;
    }
  } else if (form.has('client_secret')) {
    used = 'client_secret_post';
    clientId = form.get('client_id');
  }
  const client = clientId ? await provider.Client.find(clientId) : undefined;
  const registered = client?.tokenEndpointAuthMethod;
  if (used && ['client_secret_basic', 'client_secret_post'].includes(registered) && used !== registered) {
    ctx.status = 401;
    ctx.body = {
      error: 'invalid_client',
      error_description: `client authenticated with ${used}, but registered ${registered}`,
    };
    return;
  }
  await next();
});

// Loopback only. With an issuer on `localhost`, clients that try ::1 first fall back to 127.0.0.1.
provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
