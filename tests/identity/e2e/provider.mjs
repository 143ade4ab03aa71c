// A real OpenID Connect provider (node `oidc-provider`) for the end-to-end test: it listens on
// 127.0.0.1:PORT, publishes its discovery document and keys, and issues JWT access tokens to
// the client `ci-bot` by the client credentials grant. Each resource indicator is an audience
// and picks the signing algorithm; every token carries Okta-like `email` and `groups` claims.
// Keys are made at start-up and never leave the process. Usage: node provider.mjs PORT
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs PORT');
  process.exit(2);
}

const jwk = (type, options, kid, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});
const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'e2e-rs256', 'RS256'),
  jwk('ec', { namedCurve: 'P-256' }, 'e2e-es256', 'ES256'),
  jwk('ed25519', {}, 'e2e-eddsa', 'EdDSA'),
];

// Resource indicator (the token's `aud`) -> signing algorithm.
const resources = {
  'urn:rbac:e2e': 'RS256',
  'urn:rbac:e2e-es256': 'ES256',
  'urn:rbac:e2e-eddsa': 'EdDSA',
  'urn:rbac:other': 'RS256',
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: { ClientCredentials: 300 },
  clients: [{
    client_id: 'ci-bot',
    client_secret: 'e2e-only-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:rbac:e2e',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const alg = resources[resource];
        if (!alg) throw new errors.InvalidTarget();
        return { scope: 'rbac', audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
  extraTokenClaims: () => ({ email: 'ci-bot@acme.example', groups: ['Everyone', 'ML Platform Engineers'] }),
});

const server = provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on http://127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
