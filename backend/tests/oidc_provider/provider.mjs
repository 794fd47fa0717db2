// A real OpenID Connect provider (panva's oidc-provider, OpenID Certified) for the test suite.
//
// Started by backend/tests/oidc_provider.py on a free loopback port. Configuration from the env:
//   PORT           listen on 127.0.0.1:PORT, the issuer is http://127.0.0.1:PORT
//   CLIENT_ID      the one registered client (a confidential web client, client_secret_basic)
//   CLIENT_SECRET
//   REDIRECT_URIS  comma-separated
//
// Sign-in goes through the provider's built-in development interactions (its default login and
// consent pages). The account id is whatever login name is typed there; see findAccount below.
// Prints one line `listening <issuer>` to stdout when ready; every other line goes to stderr.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

// The provider announces its quick-start defaults (dev interactions, the in-memory adapter,
// default helper functions) on the console: expected here, so they are dropped; anything else it
// says goes to stderr, keeping stdout for the `listening` line alone.
const QUIET = /quick start development-only|you SHOULD change it|Unsupported runtime/;
for (const name of ['log', 'info', 'warn']) {
  console[name] = (...args) => {
    const text = args.map(String).join(' ');
    if (!QUIET.test(text)) process.stderr.write(`${text}\n`);
  };
}

const { default: Provider } = await import('oidc-provider');

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`provider.mjs: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(required('PORT'), 10);
const clientId = required('CLIENT_ID');
const clientSecret = required('CLIENT_SECRET');
const redirectUris = required('REDIRECT_URIS').split(',').map((uri) => uri.trim()).filter(Boolean);
const issuer = `http://127.0.0.1:${port}`;

// A fresh RS256 signing key per run (instead of the library's published development keys).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

// The account is the login name typed at the dev login form:
//   "alice@example.com"            -> email alice@example.com, email_verified true, name "alice"
//   "unverified:bob@example.com"   -> email bob@example.com, email_verified false, name "bob"
//   "carol"                        -> no email claims at all, name "carol"
function claimsFor(login) {
  const unverified = login.startsWith('unverified:');
  const address = unverified ? login.slice('unverified:'.length) : login;
  const claims = { sub: login, name: address.split('@')[0] };
  if (address.includes('@')) {
    claims.email = address;
    claims.email_verified = !unverified;
  }
  return claims;
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The scope claims (email, email_verified, name) go in the ID Token too, not only in userinfo.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: true },
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return claimsFor(id);
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, error) => {
  process.stderr.write(`server_error: ${error?.stack ?? error}\n`);
});

const server = createServer(provider.callback());
server.on('error', (error) => {
  process.stderr.write(`provider.mjs: ${error.stack ?? error}\n`);
  process.exit(1);
});

// Everything lives in memory: nothing to flush, so stop listening and exit at once.
function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
