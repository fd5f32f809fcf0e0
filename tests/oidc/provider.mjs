// A real OpenID Connect provider for the tests (panva's oidc-provider), with a login form that checks
// passwords and a consent page. Usage: node provider.mjs config.json
// config.json (0600, written by tests/oidc_provider.py):
//   {"issuer": "http://127.0.0.1:PORT", "host": "127.0.0.1", "port": PORT,
//    "clients": [{"client_id": ..., "client_secret": ..., "redirect_uris": [...]}],
//    "users": {"alice": {"password": ..., "groups": ["data-science"]}},
//    "client_auth_methods": null or ["client_secret_basic", ...],
//    "tls": null or {"cert_file": ..., "key_file": ...}}   (https: the issuer must then be https://)
// Prints "listening <issuer>" once it serves. Never prints a password or a secret.
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = config.users || {};

// A fresh signing key each run (the package's built-in development key is public).
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

function account(username) {
  const user = users[username];
  if (!user) return undefined;
  return {
    accountId: username,
    async claims() {
      return {
        sub: username,
        preferred_username: username,
        name: user.name || username,
        email: user.email || `${username}@example.test`,
        groups: user.groups || [],
      };
    },
  };
}

function passwordOk(username, password) {
  const user = Object.hasOwn(users, username) ? users[username] : undefined;
  if (!user || typeof password !== 'string') return false;
  const a = Buffer.from(String(user.password));
  const b = Buffer.from(password);
  return a.length === b.length && timingSafeEqual(a, b);
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method || (config.client_auth_methods || ['client_secret_basic'])[0],
  })),
  jwks: { keys: [signingKey] },
  ...(config.client_auth_methods ? { clientAuthMethods: config.client_auth_methods } : {}),
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // scope -> the claims it releases; the scopes become scopes_supported
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  // the ID token carries the scopes' claims too (not only userinfo), as many real providers do
  conformIdTokenClaims: false,
  findAccount: async (_ctx, sub) => account(sub),
  features: { devInteractions: { enabled: false } },
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 120, IdToken: 600 },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>oidc error</title><h1>oops</h1><pre>${esc(JSON.stringify(out))}</pre>`;
  },
});

function esc(s) {
  return String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${body}</body></html>`);
}

function loginForm(uid, clientId, error) {
  return `<h1>Sign in</h1><p>to ${esc(clientId)}</p>${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label>Username <input type="text" name="login" id="login" required autofocus></label>
<label>Password <input type="password" name="password" id="password" required></label>
<button type="submit" id="submit">Sign in</button>
</form>`;
}

function consentForm(uid, clientId, scope) {
  return `<h1>Authorize</h1><p>${esc(clientId)} asks for: ${esc(scope)}</p>
<form method="post" action="/interaction/${esc(uid)}/confirm">
<button type="submit" id="allow">Allow</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" id="deny">Deny</button></form>`;
}

async function readForm(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// /interaction/<uid>[/login|/confirm|/abort]: the login and consent pages; everything else is the provider.
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'error', '<p>interaction mismatch</p>');
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return page(res, 200, 'Sign in', loginForm(uid, params.client_id));
    return page(res, 200, 'Authorize', consentForm(uid, params.client_id, params.scope));
  }
  if (req.method !== 'POST') return page(res, 405, 'error', '<p>method not allowed</p>');
  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'denied by the user' }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    if (prompt.name !== 'login') return page(res, 400, 'error', '<p>not a login prompt</p>');
    const form = await readForm(req);
    const username = form.get('login') || '';
    if (!passwordOk(username, form.get('password'))) {
      console.log(`login refused: ${JSON.stringify(username)}`);
      return page(res, 200, 'Sign in', loginForm(uid, params.client_id, 'Invalid username or password.'));
    }
    console.log(`login: ${JSON.stringify(username)}`);
    return provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
  }
  // confirm: grant what the client asked for (the openid scope set and the claims it requested)
  if (prompt.name !== 'consent') return page(res, 400, 'error', '<p>not a consent prompt</p>');
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const tls = config.tls ? { cert: readFileSync(config.tls.cert_file), key: readFileSync(config.tls.key_file) } : null;
const handler = (req, res) => {
  const path = (req.url || '').split('?')[0];
  const m = INTERACTION.exec(path);
  if (!m) return callback(req, res);
  interaction(req, res, m[1], m[2]).catch((err) => {
    console.log(`interaction error: ${err && err.name}: ${err && err.message}`);
    if (!res.headersSent) page(res, 400, 'error', `<p>${esc(err && err.message)}</p>`);
  });
};
const server = tls ? createTlsServer(tls, handler) : createServer(handler);

server.listen(config.port, config.host || '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
