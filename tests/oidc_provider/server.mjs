// An independent OpenID Connect provider for Userdesk's sign-in tests: panva's certified
// oidc-provider, with a sign-in page of its own and a small control API for the tests.
//
// Configured by environment: PORT, ISSUER (http://127.0.0.1:PORT), CLIENT_ID, CLIENT_SECRET,
// REDIRECT_URI, ACCOUNTS (JSON: {"alice": {"password", "email", "name", "groups", "disabled"}}).
// The control API (tests only): PATCH /_test/accounts/<login> with a JSON body changes an
// account's groups or disabled flag; GET /_test/ready answers once the provider is up.
// Prints "listening <issuer>" when ready.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { interactionPolicy } from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`missing ${name}`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('PORT'));
const issuer = env('ISSUER');
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const redirectUri = env('REDIRECT_URI');
const accounts = JSON.parse(env('ACCOUNTS'));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'test-key-1' };

// A disabled or unknown account does not exist as far as the provider is concerned: its
// sessions stop counting (prompt=none then answers login_required) and no token is issued.
async function findAccount(ctx, sub) {
  const account = accounts[sub];
  if (!account || account.disabled) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: account.email,
        email_verified: true,
        name: account.name,
        groups: account.groups ?? [],
      };
    },
  };
}

// A session whose account was disabled since must sign in again: with prompt=none, the
// client gets login_required (without this check, the consent prompt would fail on it).
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'account_disabled',
  'the account is disabled',
  'login_required',
  (ctx) => {
    const { accountId } = ctx.oidc.session;
    if (accountId && (!accounts[accountId] || accounts[accountId].disabled)) {
      return interactionPolicy.Check.REQUEST_PROMPT;
    }
    return interactionPolicy.Check.NO_NEED_TO_PROMPT;
  },
));

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey] },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  // Every client must send a PKCE challenge (the default asks it of public clients only).
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Userdesk is a first-party client: grant what it asks without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      accountId: ctx.oidc.session.accountId,
      clientId: ctx.oidc.client.clientId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Error</title><h1>${escape(out.error)}</h1><p>${escape(out.error_description ?? '')}</p>`;
  },
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP</title></head><body><main>${body}</main></body></html>`);
}

function loginForm(uid, error = '') {
  return `<h1>Test IdP sign-in</h1>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<p><label for="login">Username</label> <input id="login" name="login" autocomplete="username" required></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in to Test IdP</button></p>
</form>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, '<p>This sign-in has expired. Start again.</p>');
    return;
  }
  if (req.method === 'GET') {
    page(res, 200, loginForm(uid));
    return;
  }
  if (action !== 'login' || req.method !== 'POST') {
    page(res, 404, '<p>Not found</p>');
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') ?? '';
  const account = accounts[login];
  if (!account || account.password !== form.get('password')) {
    page(res, 401, loginForm(uid, 'Wrong username or password.'));
    return;
  }
  if (account.disabled) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'This account is disabled.',
    }, { mergeWithLastSubmission: false });
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, {
    mergeWithLastSubmission: false,
  });
}

async function control(req, res, path) {
  if (path === '/_test/ready') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"ready":true}');
    return;
  }
  const match = path.match(/^\/_test\/accounts\/([^/]+)$/);
  if (!match || req.method !== 'PATCH' || !accounts[decodeURIComponent(match[1])]) {
    res.writeHead(404);
    res.end();
    return;
  }
  const login = decodeURIComponent(match[1]);
  const change = JSON.parse(await readBody(req) || '{}');
  for (const key of ['groups', 'disabled', 'email', 'name']) {
    if (key in change) accounts[login][key] = change[key];
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ login, ...accounts[login], password: undefined }));
}

const oidc = provider.callback();
const server = createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    if (path.startsWith('/_test/')) {
      await control(req, res, path);
      return;
    }
    const match = path.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) {
      await interaction(req, res, match[1], match[2]);
      return;
    }
    oidc(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) page(res, 500, `<p>${escape(error.message)}</p>`);
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
