#!/usr/bin/env bash
# Signs the test tokens with the test keys (tests/identity/keys). They expire in 2100, except
# those made to be rejected. Needs node. The tests that depend on the clock make their own
# tokens (tests/identity.rs).
set -euo pipefail
cd "$(dirname "$0")"
node - <<'JS'
const fs = require('fs'), crypto = require('crypto');
const b64 = (b) => Buffer.from(b).toString('base64url');
const key = (name) => crypto.createPrivateKey(fs.readFileSync(`../keys/${name}.pem`));
const RS256 = (k) => (d) => crypto.sign('sha256', d, key(k));
const RS384 = (k) => (d) => crypto.sign('sha384', d, key(k));
const ES256 = (k) => (d) => crypto.sign('sha256', d, { key: key(k), dsaEncoding: 'ieee-p1363' });
const EdDSA = (k) => (d) => crypto.sign(null, d, key(k));
const HS256 = (secret) => (d) => crypto.createHmac('sha256', secret).update(d).digest();
const jwt = (header, claims, sign) => {
  const data = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  return `${data}.${sign ? b64(sign(Buffer.from(data))) : ''}`;
};
const write = (name, token) => fs.writeFileSync(name, token + '\n');

const OKTA = 'https://acme.okta.example/oauth2/default';
const KEYCLOAK = 'https://sso.acme.example/realms/acme';
const YEAR_2100 = 4102444800;
const carol = { iss: OKTA, aud: 'zenml', sub: '00u1carol', email: 'carol@acme.com',
                groups: ['Everyone', 'ML Platform Engineers'], iat: 1700000000, exp: YEAR_2100 };
const erin = { iss: KEYCLOAK, aud: ['zenml', 'account'], sub: 'f81d4fae', preferred_username: 'erin',
               realm_access: { roles: ['offline_access', 'admin'] }, iat: 1700000000, exp: YEAR_2100 };
const dave = { iss: OKTA, aud: 'zenml', sub: '00u1dave', email: 'dave@acme.com', groups: [],
               iat: 1700000000, exp: YEAR_2100 };

// Valid, one per algorithm.
write('okta-carol-rs256.jwt', jwt({ alg: 'RS256', kid: 'rsa-1', typ: 'JWT' }, carol, RS256('rsa-1')));
write('keycloak-erin-es256.jwt', jwt({ alg: 'ES256', kid: 'ec-1', typ: 'JWT' }, erin, ES256('ec-1')));
write('okta-dave-eddsa.jwt', jwt({ alg: 'EdDSA', kid: 'ed-1', typ: 'JWT' }, dave, EdDSA('ed-1')));
write('okta-carol-no-kid.jwt', jwt({ alg: 'RS256', typ: 'JWT' }, carol, RS256('rsa-1')));

// Each rejected for one reason.
write('expired.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, { ...carol, iat: 999990000, exp: 1000000000 }, RS256('rsa-1')));
write('not-yet-valid.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, { ...carol, nbf: 4000000000 }, RS256('rsa-1')));
write('wrong-audience.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, { ...carol, aud: 'grafana' }, RS256('rsa-1')));
write('no-audience.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, (({ aud, ...c }) => c)(carol), RS256('rsa-1')));
write('unknown-issuer.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, { ...carol, iss: 'https://evil.example' }, RS256('rsa-1')));
write('no-exp.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, (({ exp, ...c }) => c)(carol), RS256('rsa-1')));
write('alg-none.jwt', jwt({ alg: 'none', typ: 'JWT' }, carol, null));
write('hs256-public-key.jwt', jwt({ alg: 'HS256', kid: 'rsa-1' }, carol, HS256(fs.readFileSync('../keys/rsa-1.pub.pem'))));
write('alg-not-the-keys.jwt', jwt({ alg: 'RS384', kid: 'rsa-1' }, carol, RS384('rsa-1')));
write('unknown-kid.jwt', jwt({ alg: 'RS256', kid: 'rsa-2' }, carol, RS256('rsa-2')));
// A key id that would act on a terminal and print a line of its own where it is shown.
write('kid-with-escapes.jwt', jwt({ alg: 'RS256', kid: 'x\u001b[2J\nallow' }, carol, RS256('rsa-2')));
write('other-key.jwt', jwt({ alg: 'RS256', kid: 'rsa-1' }, carol, RS256('rsa-other')));
const [h, , s] = jwt({ alg: 'RS256', kid: 'rsa-1', typ: 'JWT' }, carol, RS256('rsa-1')).split('.');
write('tampered.jwt', `${h}.${b64(JSON.stringify({ ...carol, groups: ['ML Platform Engineers', 'admin'] }))}.${s}`);
write('not-a-jwt.jwt', 'this is not a token');

// requests.jsonl: `rbac eval` input mixing token, claims and direct principals.
const token = (name) => fs.readFileSync(name, 'utf8').trim();
const req = (principal, action, resource) => JSON.stringify({ principal, action, resource });
fs.writeFileSync('requests.jsonl', [
  req({ token: token('okta-carol-rs256.jwt') }, 'write', 'workspace:prod/project:churn'),
  req({ token: token('keycloak-erin-es256.jwt') }, 'delete', 'workspace:dev/project:x'),
  req({ token: token('okta-dave-eddsa.jwt') }, 'read', 'workspace:prod'),
  req({ token: token('expired.jwt') }, 'read', 'workspace:prod'),
  req({ token: token('tampered.jwt') }, 'read', 'workspace:prod'),
  req({ token: token('alg-none.jwt') }, 'read', 'workspace:prod'),
  req({ identity: 'keycloak', claims: { preferred_username: 'fay', realm_access: { roles: ['ml-platform'] } } }, 'write', 'workspace:prod'),
  req({ id: 'user:dave@acme.com' }, 'read', 'workspace:prod'),
].join('\n') + '\n');
JS
