//! Token verification end to end through the library and the `rbac` binary: tokens signed in
//! the test with the key pairs of tests/identity/keys (RS256, ES256, EdDSA), each way a token
//! can be wrong with its own error code, clock leeway, key rotation, selection of the identity
//! by issuer and audience, and OIDC discovery from a provider served on loopback.

#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rbac::identity::{Jwks, KeySource, StaticKeys, TokenVerifier};
use rbac::{Decision, Policy, Request};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const OKTA: &str = "https://acme.okta.example/oauth2/default";
const KEYCLOAK: &str = "https://sso.acme.example/realms/acme";
const DIR: &str = "tests/identity";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn jwks(file: &str) -> Jwks {
    Jwks::from_json(&read(&format!("keys/{file}"))).expect("a key set")
}

fn policy() -> Policy {
    let c = rbac::compile(&rbac::FsLoader, &[&format!("{DIR}/policy.rbac")]);
    assert!(c.diagnostics.is_empty(), "{}", c.render(false));
    c.policy.expect("the test policy compiles")
}

fn verifier() -> TokenVerifier {
    TokenVerifier::new(StaticKeys::new().with_issuer(OKTA, jwks("jwks.json")).with_issuer(KEYCLOAK, jwks("jwks.json")))
}

/// Signs `claims` with the named test key.
fn sign(alg: Algorithm, key: &str, kid: Option<&str>, claims: &impl serde::Serialize) -> String {
    let pem = read(&format!("keys/{key}.pem"));
    let encoding = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("a private key");
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding).expect("signed")
}

fn carol() -> Value {
    json!({"iss": OKTA, "aud": "zenml", "sub": "00u1", "email": "carol@acme.com",
           "groups": ["Everyone", "ML Platform Engineers"], "iat": now(), "exp": now() + 600})
}

fn erin() -> Value {
    json!({"iss": KEYCLOAK, "aud": ["account", "zenml"], "preferred_username": "erin",
           "realm_access": {"roles": ["offline_access", "admin"]}, "exp": now() + 600})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if let Some(obj) = claims.as_object_mut() {
        if value.is_null() {
            obj.remove(key);
        } else {
            obj.insert(key.to_string(), value);
        }
    }
    claims
}

fn request(token: &str, action: &str, path: &str) -> Request {
    Request::from_value(&json!({"principal": {"token": token}, "action": action, "resource": path}))
        .expect("a token request")
}

fn decide(token: &str) -> Decision<'static> {
    policy().decide_with(&request(token, "write", "workspace:prod"), &verifier()).into_owned()
}

fn code<'a>(d: &'a Decision<'_>) -> &'a str {
    d.errors.first().map_or("", |e| e.code.as_str())
}

/// Claims written in this order, a key given twice kept twice (as a `Value` cannot hold).
struct Pairs(Vec<(&'static str, Value)>);

impl serde::Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[test]
fn a_signed_token_that_gives_a_claim_twice_is_malformed() {
    let carol = carol();
    let claims = |extra: Option<(&'static str, Value)>| {
        let mut pairs: Vec<(&'static str, Value)> = ["iss", "aud", "exp", "email", "groups"]
            .into_iter()
            .map(|k| (k, carol.get(k).cloned().unwrap_or(Value::Null)))
            .collect();
        pairs.extend(extra);
        Pairs(pairs)
    };
    // Signed by the issuer, so the signature holds: the claims are what is refused.
    let once = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &claims(None));
    assert!(decide(&once).is_allow(), "{:?}", decide(&once));
    for (key, value) in [("email", json!("alice@acme.com")), ("groups", json!(["Admins"])), ("exp", json!(now() + 9))] {
        let twice = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &claims(Some((key, value))));
        let d = decide(&twice);
        assert_eq!(code(&d), "E0751", "{key}: {d:?}");
        assert!(d.errors[0].message.contains(&format!("`{key}` is given twice")), "{key}: {d:?}");
    }
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn valid_tokens_of_each_algorithm_decide_as_their_identity() {
    let rs = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
    let d = decide(&rs);
    assert!(d.is_allow(), "{d:?}");
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["reasons"][0]["subject"], "group:ml_platform");
    assert_eq!(json["reasons"][0]["identity"], "okta");
    assert_eq!(json["reasons"][0]["claim"], "groups");
    assert_eq!(json["reasons"][0]["value"], "ML Platform Engineers");

    let es = sign(Algorithm::ES256, "ec-1", Some("ec-1"), &erin());
    let d = policy().decide_with(&request(&es, "delete", "workspace:dev/project:p"), &verifier()).into_owned();
    assert!(d.is_allow(), "{d:?}");
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["reasons"][0]["claim"], "realm_access.roles");
    assert_eq!(json["reasons"][0]["value"], "admin");

    // dave has no groups; as `user:dave@acme.com` he may read, not write.
    let dave = with(with(carol(), "email", json!("dave@acme.com")), "groups", json!([]));
    let ed = sign(Algorithm::EdDSA, "ed-1", Some("ed-1"), &dave);
    assert!(policy().decide_with(&request(&ed, "read", "workspace:prod"), &verifier()).is_allow());
    let d = decide(&ed);
    assert!(!d.is_allow() && d.errors.is_empty(), "{d:?}");

    let verified = verifier().verify(&policy(), &ed).expect("verified");
    assert_eq!(verified.identity, "okta");
    assert_eq!(verified.key_id.as_deref(), Some("ed-1"));
    assert_eq!(verified.principal.as_deref(), Some("user:dave@acme.com"));
}

#[test]
fn every_rejection_names_its_cause_and_denies() {
    let rsa = |claims: &Value| sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), claims);
    let valid = rsa(&carol());
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(carol(), "groups", json!(["ML Platform Engineers", "admin"])).to_string()),
        parts[2]
    );
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let unsigned_upper = format!("{}.{}.", b64(r#"{"alg":"NONE"}"#), parts[1]);
    let public_key = read("keys/rsa-1.pub.pem");
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hs256 = jsonwebtoken::encode(&hs, &carol(), &EncodingKey::from_secret(public_key.as_bytes())).expect("hs256");
    let cases: Vec<(&str, String, &str)> = vec![
        ("not a JWT", "abc".into(), "E0751"),
        ("five parts (JWE)", "a.b.c.d.e".into(), "E0751"),
        ("header not JSON", format!("{}.{}.{}", b64("nope"), parts[1], parts[2]), "E0751"),
        (
            "critical extension",
            format!("{}.{}.{}", b64(r#"{"alg":"RS256","crit":["b64"]}"#), parts[1], parts[2]),
            "E0751",
        ),
        ("alg none", unsigned, "E0752"),
        ("alg NONE", unsigned_upper, "E0752"),
        ("HS256 with the public key as secret", hs256, "E0753"),
        ("unknown algorithm", format!("{}.{}.{}", b64(r#"{"alg":"XS999"}"#), parts[1], parts[2]), "E0753"),
        ("RS384 under an RS256 key", sign(Algorithm::RS384, "rsa-1", Some("rsa-1"), &carol()), "E0754"),
        ("ES256 under an RSA key", sign(Algorithm::ES256, "ec-1", Some("rsa-1"), &carol()), "E0754"),
        ("unknown kid", sign(Algorithm::RS256, "rsa-2", Some("rsa-2"), &carol()), "E0755"),
        ("signed by another key", sign(Algorithm::RS256, "rsa-other", Some("rsa-1"), &carol()), "E0756"),
        ("another key, no kid", sign(Algorithm::RS256, "rsa-other", None, &carol()), "E0756"),
        ("tampered payload", tampered, "E0756"),
        ("expired", rsa(&with(carol(), "exp", json!(now() - 3600))), "E0757"),
        ("not yet valid", rsa(&with(carol(), "nbf", json!(now() + 3600))), "E0758"),
        ("wrong audience", rsa(&with(carol(), "aud", json!("grafana"))), "E0759"),
        ("no audience", rsa(&with(carol(), "aud", Value::Null)), "E0759"),
        ("unknown issuer", rsa(&with(carol(), "iss", json!("https://evil.example"))), "E0760"),
        ("no issuer", rsa(&with(carol(), "iss", Value::Null)), "E0760"),
        ("issuer with a trailing slash", rsa(&with(carol(), "iss", json!(format!("{OKTA}/")))), "E0760"),
        ("no exp", rsa(&with(carol(), "exp", Value::Null)), "E0762"),
        ("exp not a number", rsa(&with(carol(), "exp", json!("tomorrow"))), "E0762"),
    ];
    for (name, token, expected) in &cases {
        let d = decide(token);
        assert!(!d.is_allow(), "{name}: allowed");
        assert_eq!(code(&d), *expected, "{name}: {:?}", d.errors);
        assert!(d.reasons.is_empty(), "{name}: an invalid request has no reasons");
    }
    // The valid token these were made from allows: the rejections are the token's fault.
    assert!(decide(&valid).is_allow());
}

#[test]
fn malformed_claims_are_named_as_malformed_not_missing() {
    let message = |claims: &Value| {
        let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), claims);
        let d = policy().decide_with(&request(&token, "write", "workspace:prod"), &verifier()).into_owned();
        assert!(!d.is_allow());
        d.errors.first().map(|e| format!("{}: {}", e.code, e.message)).unwrap_or_default()
    };
    for exp in [json!("tomorrow"), json!(-5), json!(-0.5), json!([1])] {
        let m = message(&with(carol(), "exp", exp.clone()));
        assert!(m.starts_with("E0762: the token's `exp` claim is not a non-negative number"), "exp {exp}: {m}");
    }
    assert!(message(&with(carol(), "exp", Value::Null)).starts_with("E0762: the token lacks the `exp` claim"));
    // A NumericDate may have a fraction (RFC 7519 section 2): such a token verifies.
    let fractional = with(with(carol(), "nbf", json!(now() as f64 - 10.5)), "exp", json!(now() as f64 + 600.5));
    let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &fractional);
    assert!(policy().decide_with(&request(&token, "write", "workspace:prod"), &verifier()).is_allow());
    // However large: a date past any clock (the token never expires, or is not valid yet).
    for exp in [json!(1e30), json!(u64::MAX), json!(1.7e308)] {
        let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "exp", exp.clone()));
        assert!(policy().decide_with(&request(&token, "write", "workspace:prod"), &verifier()).is_allow(), "exp {exp}");
    }
    let m = message(&with(carol(), "nbf", json!(1e300)));
    assert_eq!(m, "E0758: the token is not valid before 1e+300 (unix time), more than the leeway of 60 s from now");
    let m = message(&with(carol(), "exp", json!(-0.0)));
    assert_eq!(m, "E0757: the token expired at 0 (unix time), more than the leeway of 60 s ago");
    let m = message(&with(carol(), "exp", json!(0.5)));
    assert_eq!(m, "E0757: the token expired at 0.5 (unix time), more than the leeway of 60 s ago");
    let m = message(&with(carol(), "aud", json!(["zenml", 5])));
    assert_eq!(m, "E0759: the token's `aud` claim is not a string or a list of strings");
}

#[test]
fn leeway_allows_small_clock_skew_only() {
    let just_expired = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "exp", json!(now() - 20)));
    let almost_valid = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "nbf", json!(now() + 20)));
    let req = |t: &str| request(t, "write", "workspace:prod");
    assert!(policy().decide_with(&req(&just_expired), &verifier()).is_allow());
    assert!(policy().decide_with(&req(&almost_valid), &verifier()).is_allow());
    let strict = verifier().with_leeway(0);
    assert_eq!(code(&policy().decide_with(&req(&just_expired), &strict)), "E0757");
    assert_eq!(code(&policy().decide_with(&req(&almost_valid), &strict)), "E0758");
    assert_eq!(verifier().with_leeway(1_000_000).leeway(), rbac::identity::MAX_LEEWAY);
}

#[test]
fn a_token_principal_is_never_decided_unverified() {
    let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
    let d = policy().decide(&request(&token, "write", "workspace:prod")).into_owned();
    assert!(!d.is_allow());
    assert_eq!(code(&d), "E0763");
}

#[test]
fn verified_claims_are_mapped_like_any_identity_principal() {
    // A groups claim of the wrong shape is an error, never an empty list.
    let token =
        sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "groups", json!("ML Platform Engineers")));
    assert_eq!(code(&decide(&token)), "E0714");
    // A token whose user claim is missing is verified, but names no user.
    let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "email", Value::Null));
    assert_eq!(verifier().verify(&policy(), &token).map(|v| v.principal), Ok(None));
    assert_eq!(code(&decide(&token)), "E0713");
    // The token principal's attributes are kept; request errors still show after verification.
    let token = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
    let d = policy().decide_with(&request(&token, "fly", "workspace:prod"), &verifier()).into_owned();
    assert_eq!(code(&d), "E0731");
}

#[test]
fn claims_principals_say_where_their_groups_came_from() {
    let req = Request::from_value(&json!({
        "principal": {"identity": "keycloak",
                      "claims": {"preferred_username": "fay", "realm_access": {"roles": ["ml-platform", "admin"]}}},
        "action": "write", "resource": "workspace:prod"}))
    .expect("a request");
    let d = serde_json::to_value(policy().decide(&req)).expect("json");
    let reasons = d["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 2, "{d}");
    for r in reasons {
        let expected = if r["subject"] == "group:admins" { "admin" } else { "ml-platform" };
        assert_eq!(r["identity"], "keycloak");
        assert_eq!(r["claim"], "realm_access.roles");
        assert_eq!(r["value"], expected);
    }
    // A direct principal's reasons are as before: no source fields.
    let d = serde_json::to_value(policy().decide(&Request::new("user:x", &["admins"], "read", "workspace:a")))
        .expect("json");
    assert!(d["reasons"][0].get("identity").is_none(), "{d}");
}

/// A key source that counts its calls and serves a rotated key set on refresh.
struct Rotating {
    first: Arc<Jwks>,
    rotated: Arc<Jwks>,
    keys: AtomicUsize,
    refreshes: AtomicUsize,
}

impl KeySource for Rotating {
    fn keys(&self, _issuer: &str) -> Result<Arc<Jwks>, String> {
        self.keys.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::clone(&self.first))
    }
    fn refresh(&self, _issuer: &str) -> Result<Arc<Jwks>, String> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::clone(&self.rotated))
    }
}

#[test]
fn an_unknown_kid_refreshes_the_keys_once() {
    let source = Arc::new(Rotating {
        first: Arc::new(jwks("jwks.json")),
        rotated: Arc::new(jwks("jwks-rotated.json")),
        keys: AtomicUsize::new(0),
        refreshes: AtomicUsize::new(0),
    });
    struct Shared(Arc<Rotating>);
    impl KeySource for Shared {
        fn keys(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
            self.0.keys(issuer)
        }
        fn refresh(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
            self.0.refresh(issuer)
        }
    }
    let verifier = TokenVerifier::new(Shared(Arc::clone(&source)));
    let known = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
    assert!(policy().decide_with(&request(&known, "write", "workspace:prod"), &verifier).is_allow());
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 0);
    let rotated = sign(Algorithm::RS256, "rsa-2", Some("rsa-2"), &carol());
    assert!(policy().decide_with(&request(&rotated, "write", "workspace:prod"), &verifier).is_allow());
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
    let unknown = sign(Algorithm::RS256, "rsa-2", Some("rsa-9"), &carol());
    assert_eq!(code(&policy().decide_with(&request(&unknown, "write", "workspace:prod"), &verifier)), "E0755");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 2);
}

#[test]
fn identities_sharing_an_issuer_are_selected_by_audience() {
    let src = format!(
        r#"identity app {{ issuer "{OKTA}"; audience "zenml"; user from claim "email"; groups from claim "groups"; }}
           identity grafana {{ issuer "{OKTA}"; audience "grafana"; user from claim "sub"; groups from claim "groups"; }}
           group ml from app "ML Platform Engineers", grafana "ML Platform Engineers";
           resource doc {{ actions read; }}
           role r {{ allow read on doc; }}
           assign r to group:ml;"#
    );
    let policy = rbac::compile_str("shared.rbac", &src).policy.expect("checks");
    let verifier = TokenVerifier::new(StaticKeys::for_any_issuer(jwks("jwks.json")));
    let token = |aud: Value| sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "aud", aud));
    let who = |aud: Value| verifier.verify(&policy, &token(aud)).map(|v| (v.identity, v.principal));
    assert_eq!(who(json!("zenml")), Ok(("app".into(), Some("user:carol@acme.com".into()))));
    assert_eq!(who(json!(["x", "grafana"])), Ok(("grafana".into(), Some("user:00u1".into()))));
    assert_eq!(who(json!("other")).map_err(|e| e.code), Err("E0759".into()));
    assert_eq!(who(json!(["zenml", "grafana"])).map_err(|e| e.code), Err("E0759".into()));
}

#[test]
fn keys_without_alg_must_still_fit_the_token() {
    // The issuer's RSA key without `alg`: an ES256 token naming it is refused before any
    // signature check, and an RS256 token verifies.
    let mut set: Value = serde_json::from_str(&read("keys/jwks.json")).expect("json");
    for k in set["keys"].as_array_mut().expect("keys") {
        k.as_object_mut().map(|o| o.remove("alg"));
    }
    let verifier = TokenVerifier::new(StaticKeys::for_any_issuer(Jwks::from_json(&set.to_string()).expect("keys")));
    let es = sign(Algorithm::ES256, "ec-1", Some("rsa-1"), &carol());
    assert_eq!(verifier.verify(&policy(), &es).map_err(|e| e.code), Err("E0754".into()));
    let rs = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
    assert!(verifier.verify(&policy(), &rs).is_ok());
    // A PS256 token may use an RSA key that does not pin its algorithm.
    let ps = sign(Algorithm::PS256, "rsa-1", Some("rsa-1"), &carol());
    assert!(verifier.verify(&policy(), &ps).is_ok());
}

#[cfg(feature = "discovery")]
/// A minimal OpenID provider on loopback: the discovery document and a key set that the test
/// can rotate; counts the requests it serves. Serves at most `limit` connections.
/// `jwks_path` is where the discovery document says the keys are: `/oidc/jwks` serves them,
/// `/oidc/moved` redirects there, `/oidc/away` redirects to plain http on another host.
fn serve_provider(jwks: Arc<Mutex<String>>, hits: Arc<AtomicUsize>, limit: usize, jwks_path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let issuer = format!("{base}/oidc");
    let doc = json!({"issuer": issuer, "jwks_uri": format!("{base}{jwks_path}")}).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(limit) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_string();
            hits.fetch_add(1, Ordering::SeqCst);
            let (status, body, location) = if line.starts_with("GET /oidc/.well-known/openid-configuration ") {
                ("200 OK", doc.clone(), "")
            } else if line.starts_with("GET /oidc/jwks ") {
                ("200 OK", jwks.lock().map(|j| j.clone()).unwrap_or_default(), "")
            } else if line.starts_with("GET /oidc/moved ") {
                ("302 Found", String::new(), "/oidc/jwks")
            } else if line.starts_with("GET /oidc/away ") {
                ("302 Found", String::new(), "http://192.0.2.2/oidc/jwks")
            } else {
                ("404 Not Found", "{}".to_string(), "")
            };
            let location = if location.is_empty() { String::new() } else { format!("Location: {location}\r\n") };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{location}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    issuer
}

#[cfg(feature = "discovery")]
#[test]
fn discovery_fetches_caches_and_refreshes_keys_on_loopback() {
    let served = Arc::new(Mutex::new(read("keys/jwks.json")));
    let hits = Arc::new(AtomicUsize::new(0));
    let issuer = serve_provider(Arc::clone(&served), Arc::clone(&hits), 20, "/oidc/jwks");
    let src = format!(
        r#"identity local {{ issuer "{issuer}"; audience "zenml"; user from claim "email"; groups from claim "groups"; }}
           group ml from local "ML Platform Engineers";
           resource doc {{ actions read; }}
           role r {{ allow read on doc; }}
           assign r to group:ml;"#
    );
    let policy = rbac::compile_str("local.rbac", &src).policy.expect("checks");
    let verifier = TokenVerifier::new(rbac::identity::OidcDiscovery::new().with_min_refresh(Duration::ZERO));
    let token = |key: &str| sign(Algorithm::RS256, key, Some(key), &with(carol(), "iss", json!(issuer)));
    let read_doc = |t: &str| policy.decide_with(&request(t, "read", "doc:d"), &verifier);

    assert!(read_doc(&token("rsa-1")).is_allow());
    assert_eq!(hits.load(Ordering::SeqCst), 2, "discovery document, then the key set");
    assert!(read_doc(&token("rsa-1")).is_allow());
    assert_eq!(hits.load(Ordering::SeqCst), 2, "cached");

    // The provider rotates its keys: a token with the new key id fetches them again.
    *served.lock().expect("lock") = read("keys/jwks-rotated.json");
    assert!(read_doc(&token("rsa-2")).is_allow());
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    // A provider answering for another issuer is not trusted.
    let other = format!("{issuer}-not");
    let src = src.replace(&issuer, &other);
    let policy = rbac::compile_str("other.rbac", &src).policy.expect("checks");
    let t = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "iss", json!(other)));
    let d = policy.decide_with(&request(&t, "read", "doc:d"), &verifier);
    assert_eq!(code(&d), "E0761", "{d:?}");
}

#[cfg(feature = "discovery")]
#[test]
fn discovery_follows_a_redirect_only_where_the_first_url_could_go() {
    let served = Arc::new(Mutex::new(read("keys/jwks.json")));
    for (path, allowed) in [("/oidc/moved", true), ("/oidc/away", false)] {
        let hits = Arc::new(AtomicUsize::new(0));
        let issuer = serve_provider(Arc::clone(&served), Arc::clone(&hits), 20, path);
        let src = format!(
            r#"identity local {{ issuer "{issuer}"; audience "zenml"; user from claim "email"; }}
               resource doc {{ actions read; }}
               role r {{ allow read on doc; }}
               assign r to user:carol@acme.com;"#
        );
        let policy = rbac::compile_str("moved.rbac", &src).policy.expect("checks");
        let verifier = TokenVerifier::new(rbac::identity::OidcDiscovery::new());
        let t = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "iss", json!(issuer)));
        let d = policy.decide_with(&request(&t, "read", "doc:d"), &verifier);
        if allowed {
            assert!(d.is_allow(), "{d:?}");
            assert_eq!(hits.load(Ordering::SeqCst), 3, "document, redirect, key set");
        } else {
            // Plain http to a host that is not loopback: refused before connecting.
            assert_eq!(code(&d), "E0761", "{d:?}");
            assert!(d.errors[0].message.contains("192.0.2.2"), "{d:?}");
            assert_eq!(hits.load(Ordering::SeqCst), 2, "document, redirect");
        }
    }
}

#[cfg(feature = "discovery")]
#[test]
fn a_failed_discovery_is_not_tried_again_for_the_least_refresh_time() {
    let hits = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(Mutex::new(read("keys/jwks.json")));
    // The provider serves `/oidc`; an issuer beside it has no discovery document (404).
    let issuer = serve_provider(served, Arc::clone(&hits), 20, "/oidc/jwks").replace("/oidc", "/gone");
    let src = format!(
        r#"identity local {{ issuer "{issuer}"; audience "zenml"; user from claim "email"; }}
           resource doc {{ actions read; }}"#
    );
    let policy = rbac::compile_str("gone.rbac", &src).policy.expect("checks");
    let t = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "iss", json!(issuer)));
    let failures = |min_refresh: Duration| {
        let verifier = TokenVerifier::new(rbac::identity::OidcDiscovery::new().with_min_refresh(min_refresh));
        (0..3)
            .map(|_| policy.decide_with(&request(&t, "read", "doc:d"), &verifier).into_owned())
            .inspect(|d| assert!(!d.is_allow() && code(d).starts_with("E07"), "{d:?}"))
            .map(|d| d.errors.first().map(|e| e.message.clone()).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    // Within the least refresh time, one fetch: the tokens after it get its error at once.
    let messages = failures(Duration::from_secs(60));
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch in 60 s");
    assert!(messages[0].contains("404"), "{messages:?}");
    assert!(!messages[0].contains("not fetched again") && messages[1].contains("not fetched again"), "{messages:?}");
    // Without one, each token tries again.
    failures(Duration::ZERO);
    assert_eq!(hits.load(Ordering::SeqCst), 4, "one fetch a token");
}

/// Runs the `rbac` binary; returns (exit code, stdout).
fn rbac(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run rbac");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn cli_can_and_eval_verify_tokens() {
    let dir = std::env::temp_dir().join(format!("rbac-identity-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    };
    let policy_file = format!("{DIR}/policy.rbac");
    let jwks_okta = format!("okta={DIR}/keys/jwks.json");
    let jwks_kc = format!("keycloak={DIR}/keys/jwks.json");
    let fresh = file("fresh.jwt", &sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol()));
    let skewed =
        file("skewed.jwt", &sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "exp", json!(now() - 20))));
    let can = |token: &str, extra: &[&str]| {
        let mut args = vec!["can", policy_file.as_str(), "--token", token, "--jwks", &jwks_okta, "--jwks", &jwks_kc];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["write", "workspace:prod"]);
        rbac(&args)
    };
    let (status, out) = can(&fresh, &[]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("from `okta` claim `groups` value \"ML Platform Engineers\""), "{out}");
    assert_eq!(can(&skewed, &[]).0, 0);
    let (status, out) = can(&skewed, &["--leeway", "0"]);
    assert_eq!(status, 2);
    assert!(out.contains("[E0757]"), "{out}");
    assert_eq!(can(&skewed, &["--leeway", "99999"]).0, 2, "leeway is capped: a usage error");

    // The existing form still works, and `--token` excludes PRINCIPAL and `--group`.
    assert_eq!(rbac(&["can", &policy_file, "user:x", "-g", "admins", "write", "workspace:a"]).0, 0);
    assert_eq!(rbac(&["can", &policy_file, "user:x", "write"]).0, 2);
    assert_eq!(rbac(&["can", &policy_file, "--token", &fresh, "-g", "admins", "write", "workspace:a"]).0, 2);

    let requests = file(
        "requests.jsonl",
        &format!(
            "{}\n{}\n",
            json!({"principal": {"token": std::fs::read_to_string(&fresh).expect("token")}, "action": "write", "resource": "workspace:prod"}),
            json!({"principal": {"token": "x.y.z"}, "action": "write", "resource": "workspace:prod"})
        ),
    );
    let (status, out) = rbac(&["eval", &policy_file, "-r", &requests, "--jwks", &jwks_okta, "--jwks", &jwks_kc]);
    assert_eq!(status, 0);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("a decision")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[1]["errors"][0]["code"], "E0751");

    // A key set or token file that cannot be read, or a key set that is none: each stops the
    // command with its code before anything is decided.
    let not_keys = file("not-keys.json", r#"{"kty": "RSA"}"#);
    let missing = dir.join("no-such.json").to_string_lossy().into_owned();
    let okta = |f: &str| format!("okta={f}");
    // Files are read up to a bound (a key set 1 MiB, a token 68 KiB), not whole before
    // anything is checked (`--token /dev/zero` took all memory): a good key set or token
    // padded past the bound is refused.
    let padded_keys = file("padded.json", &format!("{}{}", read("keys/jwks.json"), " ".repeat(1 << 20)));
    let padded_token =
        file("padded.jwt", &format!("{}{}", std::fs::read_to_string(&fresh).expect("token"), "\n".repeat(70 << 10)));
    for (args, code) in [
        (vec!["can", &policy_file, "--token", &fresh, "--jwks", &okta(&padded_keys)], "E0764"),
        (vec!["can", &policy_file, "--token", &padded_token, "--jwks", &jwks_okta], "E0751"),
        (vec!["can", &policy_file, "--token", &fresh, "--jwks", &okta(&not_keys)], "E0764"),
        (vec!["can", &policy_file, "--token", &fresh, "--jwks", &okta(&missing)], "E0209"),
        (vec!["can", &policy_file, "--token", &missing, "--jwks", &jwks_okta], "E0209"),
        (vec!["eval", &policy_file, "-r", &requests, "--jwks", &not_keys], "E0764"),
    ] {
        let mut args = args;
        if args[0] == "can" {
            args.extend_from_slice(&["write", "workspace:prod"]);
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbac")).args(&args).output().expect("run rbac");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing decided");
        assert!(err.starts_with(&format!("error[{code}]: ")), "{args:?}: {err}");
    }

    // A set with a key left out says so, and verifies with the others.
    let mut set: Value = serde_json::from_str(&read("keys/jwks.json")).expect("a key set");
    set["keys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({"kty": "RSA", "kid": "weak", "n": b64("x".repeat(64).as_str()), "e": "AQAB"}));
    let partly = file("partly.json", &set.to_string());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(["can", &policy_file, "--token", &fresh, "--jwks", &format!("okta={partly}"), "write", "workspace:prod"])
        .output()
        .expect("run rbac");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of its keys left out"), "{err}");

    // Two identities of one issuer share its keys: two different key sets for them are
    // refused whichever comes first (the last replaced the first for both); one set twice is
    // fine.
    let shared = file(
        "shared.rbac",
        r#"identity kc { issuer "https://acme.okta.example/oauth2/default"; audience "zenml"; user from claim "email"; groups from claim "groups"; }
           identity kc_admin { issuer "https://acme.okta.example/oauth2/default"; audience "admin"; user from claim "email"; groups from claim "groups"; }
           group admins from kc_admin "Admins";
           group users from kc "ML Platform Engineers";
           resource workspace { actions delete; }
           role owner { allow delete on workspace; }
           assign owner to group:admins, group:users;"#,
    );
    let empty = file("empty.json", r#"{"keys": []}"#);
    let keys = format!("{DIR}/keys/jwks.json");
    for pair in [["kc", "kc_admin"], ["kc_admin", "kc"]] {
        let (first, second) = (format!("{}={keys}", pair[0]), format!("{}={empty}", pair[1]));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["can", &shared, "--token", &fresh, "--jwks", &first, "--jwks", &second, "delete", "workspace:w"])
            .output()
            .expect("run rbac");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{pair:?}: {err}");
        assert!(out.stdout.is_empty() && err.contains("an issuer has one key set"), "{pair:?}: {err}");
    }
    let twice = [format!("kc={keys}"), format!("kc_admin={keys}")];
    let (status, out) =
        rbac(&["can", &shared, "--token", &fresh, "--jwks", &twice[0], "--jwks", &twice[1], "delete", "workspace:w"]);
    assert_eq!(status, 0, "the one key set verifies: {out}");
    assert!(out.starts_with("allow") && out.contains("identity `kc`"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token damaged anywhere (a character changed, removed or added, cut short, or a part taken
/// from another token or forged) never verifies as anyone else: it is rejected with an E07xx
/// code and denied, or (where the damage left the signed bytes as they were) verifies as the
/// token did. Never a panic.
#[test]
fn a_damaged_token_is_rejected_or_unchanged() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let policy = policy();
    let verifier = verifier();
    let dave = with(with(carol(), "email", json!("dave@acme.com")), "groups", json!([]));
    let tokens = [
        sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol()),
        sign(Algorithm::ES256, "ec-1", Some("ec-1"), &erin()),
        sign(Algorithm::EdDSA, "ed-1", Some("ed-1"), &dave),
    ];
    let mallory = b64(&with(carol(), "email", json!("mallory@acme.com")).to_string());
    let who = |token: &str| {
        verifier.verify(&policy, token).map(|v| (v.identity.clone(), v.principal.clone(), v.key_id.clone()))
    };
    let originals: Vec<_> = tokens.iter().map(|t| who(t).expect("a valid token")).collect();
    const CHARS: &str = "AZaz09-_.=+/ %\u{e9}";
    let damage = (0..tokens.len(), 0.0..1.0f64, 0..6usize, 0..CHARS.chars().count());
    let mut runner = TestRunner::new(Config { cases: 1000, ..Config::default() });
    let result = runner.run(&damage, |(k, at, kind, c)| {
        let token = &tokens[k];
        let c = CHARS.chars().nth(c).unwrap_or('A');
        let i = ((at * token.len() as f64) as usize).min(token.len().saturating_sub(1));
        let parts: Vec<&str> = token.split('.').collect();
        let other = &tokens[(k + 1) % tokens.len()];
        let damaged = match kind {
            0 => format!("{}{c}{}", &token[..i], &token[i + 1..]),
            1 => format!("{}{}", &token[..i], &token[i + 1..]),
            2 => format!("{}{c}{}", &token[..i], &token[i..]),
            3 => token[..i].to_string(),
            // Another token's payload under this one's signature, or a forged payload.
            4 => format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap_or(""), parts[2]),
            _ => format!("{}.{mallory}.{}", parts[0], parts[2]),
        };
        match who(&damaged) {
            Ok(verified) => prop_assert_eq!(&verified, &originals[k], "{} verified as someone else", damaged),
            Err(e) => {
                prop_assert!(e.code.starts_with("E07"), "{}: {:?}", damaged, e);
                let d = policy.decide_with(&request(&damaged, "write", "workspace:prod"), &verifier);
                prop_assert!(!d.is_allow() && code(&d) == e.code, "{}: {:?}", damaged, d);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A token without `kid` is tried with at most eight keys of its issuer that fit its
/// algorithm: each is a signature check a forged token costs nothing to ask for (1,000 keys
/// made each forged token cost a third of a second). More keys than that: E0755.
#[test]
fn a_token_without_kid_is_tried_with_a_bounded_number_of_keys() {
    let set: Value = serde_json::from_str(&read("keys/jwks.json")).expect("a key set");
    let ed = set["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == "ed-1"))
        .cloned()
        .expect("the Ed25519 key");
    let with_copies = |n: usize| {
        let keys: Vec<Value> = (0..n).map(|i| with(ed.clone(), "kid", json!(format!("ed-{i}")))).collect();
        Jwks::from_json(&json!({ "keys": keys }).to_string()).expect("a key set")
    };
    let dave = with(carol(), "email", json!("dave@acme.com"));
    let token = sign(Algorithm::EdDSA, "ed-1", None, &dave);
    for (copies, verified) in [(1, true), (8, true), (9, false), (200, false)] {
        let verifier = TokenVerifier::new(StaticKeys::new().with_issuer(OKTA, with_copies(copies)));
        match verifier.verify(&policy(), &token) {
            Ok(v) => assert!(verified, "{copies} keys: verified as {:?}", v.principal),
            Err(e) => {
                assert!(!verified, "{copies} keys: {e:?}");
                assert_eq!(e.code, "E0755", "{e:?}");
                assert!(e.message.contains("names no key"), "{e:?}");
            }
        }
    }
}

/// A token whose header is signed as given: `header` JSON, the claims, an RS256 signature by
/// `rsa-1`.
fn sign_header(header: &str, claims: &Value) -> String {
    let pem = read("keys/rsa-1.pem");
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("a private key");
    let message = format!("{}.{}", b64(header), b64(&claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).expect("signed");
    format!("{message}.{signature}")
}

/// Header fields of the wrong JSON type are named (they are read, though not used); keys that
/// share an id are each tried; a key set of keys that cannot be used says so; RSA keys whose
/// exponent is 1 (any message its own signature) or even are left out; `exp` is checked to
/// the fraction of a second.
#[test]
fn headers_shared_key_ids_exponents_and_sub_second_expiry() {
    let valid = sign_header(r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#, &carol());
    assert!(decide(&valid).is_allow());
    for (field, value, want) in [
        ("typ", "5", "a string"),
        ("jku", "true", "a string"),
        ("x5c", r#""abc""#, "a list of strings"),
        ("x5c", "[1]", "a list of strings"),
        ("jwk", r#""key""#, "a JSON Web Key"),
        ("x5t#S256", "[]", "a string"),
    ] {
        let token = sign_header(&format!(r#"{{"alg":"RS256","kid":"rsa-1","{field}":{value}}}"#), &carol());
        let d = decide(&token);
        assert_eq!(code(&d), "E0751", "{field}");
        assert_eq!(
            d.errors[0].message,
            format!("malformed token: the token header's `{field}` is not {want} (RFC 7515)")
        );
    }

    // Two keys with one id, of two kinds: each token verifies with the one that fits it, in
    // either order; another's key under that id does not make the issuer's fail.
    let set: Value = serde_json::from_str(&read("keys/jwks.json")).expect("a key set");
    let by_kid =
        |kid: &str| set["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid).cloned().expect("a key");
    let other: Value = serde_json::from_str(&read("keys/jwks-other.json")).expect("a key set");
    let mut intruder = other["keys"][0].clone();
    intruder["kid"] = json!("rsa-1");
    let mut ec = by_kid("ec-1");
    ec["kid"] = json!("rsa-1");
    for (keys, intruded) in [
        (vec![by_kid("rsa-1"), ec.clone()], false),
        (vec![ec.clone(), by_kid("rsa-1")], false),
        (vec![intruder, by_kid("rsa-1")], true),
    ] {
        let jwks = Jwks::from_json(&json!({ "keys": keys }).to_string()).expect("a key set");
        let shared = TokenVerifier::new(StaticKeys::for_any_issuer(jwks));
        let rs = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &carol());
        assert!(shared.verify(&policy(), &rs).is_ok());
        // Signed by the key of another set: it verifies only where the set holds that key.
        let other_signed = sign(Algorithm::RS256, "rsa-other", Some("rsa-1"), &carol());
        match shared.verify(&policy(), &other_signed) {
            Ok(_) => assert!(intruded),
            Err(err) => {
                assert!(!intruded);
                assert_eq!(err.code, "E0756");
                assert!(err.message.contains("key `rsa-1`"), "{}", err.message);
            }
        }
    }
    let ec_only = TokenVerifier::new(StaticKeys::for_any_issuer(
        Jwks::from_json(&json!({ "keys": [ec] }).to_string()).expect("a key set"),
    ));
    let es = sign(Algorithm::ES256, "ec-1", Some("rsa-1"), &carol());
    assert!(ec_only.verify(&policy(), &es).is_ok());

    // Exponents: 1 and 2 are left out, 3 and 65537 kept.
    let mut rsa = by_kid("rsa-1");
    for (e, kept) in [("AQ", false), ("Ag", false), ("AAE", false), ("Aw", true), ("AQAB", true)] {
        rsa["e"] = json!(e);
        let jwks = Jwks::from_json(&json!({ "keys": [rsa] }).to_string()).expect("a key set");
        assert_eq!((jwks.len(), jwks.skipped()), (usize::from(kept), usize::from(!kept)), "e {e}");
    }
    let none = TokenVerifier::new(StaticKeys::for_any_issuer(
        Jwks::from_json(&json!({ "keys": [rsa.clone()] }).to_string().replace("\"AQAB\"", "\"AQ\"")).expect("a set"),
    ));
    let err = none.verify(&policy(), &valid).expect_err("no usable key");
    assert_eq!(
        err.message,
        format!("the token's key id `rsa-1` is not among the keys of issuer `{OKTA}`, which has no usable key")
    );

    // Expired a third of a second ago, with no leeway: refused (whole seconds let it pass).
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64();
    let strict = verifier().with_leeway(0);
    let just = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "exp", json!(secs - 0.3)));
    assert_eq!(strict.verify(&policy(), &just).map_err(|e| e.code), Err("E0757".into()));
    let soon = sign(Algorithm::RS256, "rsa-1", Some("rsa-1"), &with(carol(), "exp", json!(secs + 30.0)));
    assert!(strict.verify(&policy(), &soon).is_ok());
}
