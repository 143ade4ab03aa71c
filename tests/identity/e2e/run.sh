#!/usr/bin/env bash
# End to end against a real OpenID Connect provider: node's `oidc-provider` runs on a loopback
# port and issues signed JWT access tokens (client credentials grant, one audience per signing
# algorithm); `rbac` finds the provider's keys by OIDC discovery, verifies each token and
# decides. Nothing leaves the machine. Usage: RBAC=path/to/rbac tests/identity/e2e/run.sh
set -euo pipefail
cd "$(dirname "$0")"
RBAC=${RBAC:-../../../target/release/rbac}
RBAC=$(cd "$(dirname "$RBAC")" && pwd)/$(basename "$RBAC")
[ -x "$RBAC" ] || { echo "e2e: no rbac binary at $RBAC (cargo build --release)"; exit 1; }

npm ci --no-audit --no-fund --loglevel=error

work=$(mktemp -d)
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
node provider.mjs "$port" >"$work/provider.log" 2>&1 &
provider=$!
cleanup() {
    kill "$provider" 2>/dev/null || true
    wait "$provider" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

issuer="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" 2>/dev/null && break
    if ! kill -0 "$provider" 2>/dev/null; then
        echo "e2e: the provider exited"; cat "$work/provider.log"; exit 1
    fi
    sleep 0.2
done
curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" || { cat "$work/provider.log"; exit 1; }

# A JWT access token for a resource (its audience), as a client gets one.
token() {
    curl -fsS -u ci-bot:e2e-only-secret -d grant_type=client_credentials -d scope=rbac -d "resource=$1" \
        "$issuer/token" | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).access_token))'
}
token urn:rbac:e2e >"$work/rs256.jwt"
token urn:rbac:e2e-es256 >"$work/es256.jwt"
token urn:rbac:e2e-eddsa >"$work/eddsa.jwt"
token urn:rbac:other >"$work/other-audience.jwt"
# The RS256 token with its payload changed after signing (another email).
node -e '
const [h, p, s] = require("fs").readFileSync(process.argv[1], "utf8").trim().split(".");
const claims = JSON.parse(Buffer.from(p, "base64url"));
claims.email = "root@acme.example";
console.log([h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join("."));
' "$work/rs256.jwt" >"$work/tampered.jwt"

# One identity per audience of the one issuer: the token's `aud` selects it.
cat >"$work/policy.rbac" <<EOF
identity local {
    issuer "$issuer";
    audience "urn:rbac:e2e";
    user from claim "email";
    groups from claim "groups";
}
identity local_es {
    issuer "$issuer";
    audience "urn:rbac:e2e-es256";
    user from claim "client_id";
    groups from claim "groups";
}
identity local_ed {
    issuer "$issuer";
    audience "urn:rbac:e2e-eddsa";
    user from claim "sub";
    groups from claim "groups";
}
group ml_platform from local "ML Platform Engineers", local_es "ML Platform Engineers", local_ed "ML Platform Engineers";
resource workspace { actions read, deploy; }
role deployer { allow read, deploy on workspace; }
assign deployer to group:ml_platform on workspace:prod;
EOF

passed=0
failed=0
# expect NAME EXIT PATTERN -- rbac ARGS...: the exit code and a line of the output.
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local out code=0
    out=$("$RBAC" "$@" 2>&1) || code=$?
    if [ "$code" = "$want" ] && grep -qF -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
        echo "ok: $name"
    else
        failed=$((failed + 1))
        printf 'FAILED: %s (exit %s, expected %s and %s)\n%s\n' "$name" "$code" "$want" "$pattern" "$out"
    fi
}

P="$work/policy.rbac"
expect "the policy checks clean" 0 "ok (0 errors, 0 warnings)" -- check "$P"
expect "RS256 token, discovered keys: allow" 0 'held by `group:ml_platform` (from `local` claim `groups` value "ML Platform Engineers")' \
    -- can "$P" --token "$work/rs256.jwt" deploy workspace:prod
expect "the token names its user" 0 'as `user:ci-bot@acme.example` (key `e2e-rs256`)' \
    -- can "$P" --token "$work/rs256.jwt" read workspace:prod
expect "ES256 token of the second audience" 0 'token verified for identity `local_es` as `user:ci-bot`' \
    -- can "$P" --token "$work/es256.jwt" deploy workspace:prod
expect "EdDSA token of the third audience" 0 'token verified for identity `local_ed`' \
    -- can "$P" --token "$work/eddsa.jwt" deploy workspace:prod
expect "a valid token outside its scope: deny" 1 "no rule allows it" \
    -- can "$P" --token "$work/rs256.jwt" deploy workspace:dev
expect "a tampered token: bad signature" 2 "[E0756]" -- can "$P" --token "$work/tampered.jwt" read workspace:prod
expect "a token for another audience" 2 "[E0759]" -- can "$P" --token "$work/other-audience.jwt" read workspace:prod

printf '{"principal": {"token": "%s"}, "action": "deploy", "resource": "workspace:prod"}\n' \
    "$(cat "$work/es256.jwt")" "$(cat "$work/tampered.jwt")" >"$work/requests.jsonl"
expect "eval: the valid token allows" 0 '{"decision":"allow"' -- eval "$P" --request "$work/requests.jsonl"
expect "eval: the tampered token is denied" 0 '"code":"E0756"' -- eval "$P" --request "$work/requests.jsonl"
expect "eval: the wasm engine decides alike" 0 '"identity":"local_es","claim":"groups","value":"ML Platform Engineers"' \
    -- eval "$P" --request "$work/requests.jsonl" --engine wasm

echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
