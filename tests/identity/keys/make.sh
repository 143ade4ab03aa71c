#!/usr/bin/env bash
# Regenerates the test key pairs and the key sets the tests verify with. The keys are made
# for the tests only and protect nothing. Needs openssl and node.
set -euo pipefail
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-1.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-2.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-other.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec-1.pem 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed-1.pem 2>/dev/null
for k in rsa-1 rsa-2 rsa-other ec-1 ed-1; do openssl pkey -in "$k.pem" -pubout -out "$k.pub.pem"; done
# jwks.json: the issuer's published keys (rsa-1 RS256, ec-1 ES256, ed-1 EdDSA);
# jwks-rotated.json adds rsa-2; jwks-other.json has rsa-other under the name rsa-1.
node - <<'JS'
const fs = require('fs'), crypto = require('crypto');
const jwk = (file, kid, alg) => ({ ...crypto.createPublicKey(fs.readFileSync(file)).export({ format: 'jwk' }), kid, alg, use: 'sig' });
const set = (keys) => JSON.stringify({ keys }, null, 2) + '\n';
const base = [jwk('rsa-1.pub.pem', 'rsa-1', 'RS256'), jwk('ec-1.pub.pem', 'ec-1', 'ES256'), jwk('ed-1.pub.pem', 'ed-1', 'EdDSA')];
fs.writeFileSync('jwks.json', set(base));
fs.writeFileSync('jwks-rotated.json', set([...base, jwk('rsa-2.pub.pem', 'rsa-2', 'RS256')]));
fs.writeFileSync('jwks-other.json', set([jwk('rsa-other.pub.pem', 'rsa-1', 'RS256')]));
JS
