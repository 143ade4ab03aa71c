//! Verification keys: a JSON Web Key Set read into the public keys it holds, and the
//! [`KeySource`] trait the verifier asks for an issuer's keys, with [`StaticKeys`], the source
//! for keys the caller already has (a JWKS file, keys in memory). No I/O happens here.

use crate::request::RequestError;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

/// Where the verifier gets an issuer's keys. Implementations must be cheap to call again:
/// the verifier asks once per token.
pub trait KeySource: Send + Sync {
    /// The current keys of `issuer` (an `issuer` of the policy, exactly as written there).
    fn keys(&self, issuer: &str) -> Result<Arc<Jwks>, String>;

    /// The keys again, after a token named a key id that [`KeySource::keys`] lacked (the
    /// issuer may have rotated its keys). A source that can fetch does so, at most every so
    /// often; the default returns the same keys.
    fn refresh(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
        self.keys(issuer)
    }
}

/// What kind of public key a JWK holds, which decides the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// Whether a token signed with `alg` can be verified with a key of this kind.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            KeyKind::Rsa => "an RSA key",
            KeyKind::P256 => "a P-256 key (ES256)",
            KeyKind::P384 => "a P-384 key (ES384)",
            KeyKind::Ed25519 => "an Ed25519 key (EdDSA)",
        }
    }
}

/// One public signing key of a key set.
#[derive(Clone)]
pub(crate) struct Key {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one.
    pub alg: Option<Algorithm>,
    pub kind: KeyKind,
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("kid", &self.kid).field("alg", &self.alg).field("kind", &self.kind).finish()
    }
}

/// The public signing keys of a JSON Web Key Set (RFC 7517), as an issuer publishes them at
/// its `jwks_uri`. Keys this verifier cannot use are left out rather than failing the whole
/// set: encryption keys (`"use": "enc"`, `key_ops` without `verify`), symmetric (`oct`) keys,
/// which a verifier must never trust, RSA keys under 2048 bits or with an exponent that is even
/// or 1, key types or curves it does
/// not know, and keys whose `kid`, `use` or `alg` is not a string.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Key>,
    skipped: usize,
}

impl Jwks {
    /// Reads a key set: `{"keys": [JWK, ...]}`. Text that is no such object is `E0764`.
    pub fn from_json(text: &str) -> Result<Jwks, RequestError> {
        let not_a_set = |why: String| RequestError::new("E0764", format!("not a JSON Web Key Set: {why}"));
        let value: Value = serde_json::from_str(text).map_err(|e| not_a_set(e.to_string()))?;
        let Some(Value::Array(items)) = value.get("keys") else {
            return Err(not_a_set("it has no `keys` list".to_string()));
        };
        let mut jwks = Jwks::default();
        for item in items {
            match read_key(item) {
                Some(k) => jwks.keys.push(k),
                None => jwks.skipped += 1,
            }
        }
        Ok(jwks)
    }

    /// How many usable signing keys the set has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable signing key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the set were left out as unusable for verifying signatures.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The ids of the usable keys that have one, in the set's order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The keys with id `kid` (one, as a rule; a set may give one id to keys of several kinds).
    pub(crate) fn named<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a Key> {
        self.keys.iter().filter(move |k| k.kid.as_deref() == Some(kid))
    }

    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }
}

/// One JWK, or `None` when it is no public signing key this verifier can use.
fn read_key(jwk: &Value) -> Option<Key> {
    // A member that is present must be a string (RFC 7517): a numeric `kid` or `alg` is no
    // reason to read the key as having none.
    let field = |name: &str| match jwk.get(name) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => None,
    };
    let (kid, use_, alg_name) = (field("kid")?, field("use")?, field("alg")?);
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if use_.is_some_and(|u| u != "sig") {
        return None;
    }
    // `key_ops` (RFC 7517 section 4.3), when given, must allow verifying.
    if let Some(ops) = jwk.get("key_ops")
        && !ops.as_array().is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
    {
        return None;
    }
    let alg = match alg_name {
        None => None,
        // An `alg` this verifier does not know (or an encryption algorithm) rules the key out.
        Some(a) => Some(Algorithm::from_str(a).ok()?),
    };
    let (kind, decoding) = match field("kty")? {
        // An RSA modulus under 2048 bits is breakable (NIST SP 800-131A disallows it for
        // signatures): such a key verifies nothing.
        // An exponent of 1 makes any message its own signature; an even one is no RSA key.
        "RSA" if rsa_bits(field("n")?)? >= 2048 && rsa_exponent_fits(field("e")?)? => {
            (KeyKind::Rsa, DecodingKey::from_rsa_components(field("n")?, field("e")?).ok()?)
        }
        "EC" => {
            let kind = match field("crv")? {
                "P-256" => KeyKind::P256,
                "P-384" => KeyKind::P384,
                _ => return None,
            };
            (kind, DecodingKey::from_ec_components(field("x")?, field("y")?).ok()?)
        }
        "OKP" if field("crv")? == "Ed25519" => (KeyKind::Ed25519, DecodingKey::from_ed_components(field("x")?).ok()?),
        _ => return None,
    };
    if alg.is_some_and(|a| !kind.fits(a)) {
        return None;
    }
    Some(Key { kid: kid.map(str::to_string), alg, kind, decoding })
}

/// Whether an RSA public exponent given as base64url (a JWK's `e`) is odd and at least 3.
fn rsa_exponent_fits(e: &str) -> Option<bool> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(e.trim_end_matches('=')).ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    let digits = bytes.get(first..)?;
    Some(digits.last().is_some_and(|b| b & 1 == 1) && (digits.len() > 1 || digits.first().is_some_and(|&b| b >= 3)))
}

/// The bit length of an RSA modulus given as base64url (a JWK's `n`), leading zeros aside.
fn rsa_bits(n: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')).ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    let top = bytes.get(first)?;
    Some((bytes.len() - first - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// Keys the caller already has: one key set per issuer, and optionally one set trusted for
/// every issuer (the common case of a policy with a single identity provider).
#[derive(Debug, Clone, Default)]
pub struct StaticKeys {
    any: Option<Arc<Jwks>>,
    by_issuer: HashMap<String, Arc<Jwks>>,
}

impl StaticKeys {
    /// No keys yet: add them with [`StaticKeys::with_issuer`].
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }

    /// One key set for every issuer of the policy. With several identity providers, prefer
    /// [`StaticKeys::with_issuer`]: a key trusted for every issuer lets its owner speak for all.
    pub fn for_any_issuer(jwks: Jwks) -> StaticKeys {
        StaticKeys { any: Some(Arc::new(jwks)), by_issuer: HashMap::new() }
    }

    /// The keys of one issuer (written exactly as the policy's `issuer`).
    pub fn with_issuer(mut self, issuer: &str, jwks: Jwks) -> StaticKeys {
        self.by_issuer.insert(issuer.to_string(), Arc::new(jwks));
        self
    }
}

impl KeySource for StaticKeys {
    fn keys(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
        self.by_issuer
            .get(issuer)
            .or(self.any.as_ref())
            .cloned()
            .ok_or_else(|| "no key set was given for this issuer".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = r#"{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;

    #[test]
    fn reads_signing_keys_and_leaves_out_the_rest() {
        let text = format!(
            r#"{{"keys": [{RSA},
                {{"kty":"RSA","use":"enc","kid":"e1","n":"AQAB","e":"AQAB"}},
                {{"kty":"oct","kid":"h1","k":"c2VjcmV0"}},
                {{"kty":"EC","crv":"P-521","kid":"x","x":"AA","y":"AA"}},
                {{"kty":"RSA","kid":"a1","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}},
                {{"kty":"RSA","kid":"m1","alg":"ES256","n":"AQAB","e":"AQAB"}}]}}"#
        );
        let jwks = Jwks::from_json(&text).expect("a key set");
        assert_eq!(jwks.len(), 1);
        assert_eq!(jwks.skipped(), 5);
        assert_eq!(jwks.key_ids().collect::<Vec<_>>(), ["r1"]);
        let key = jwks.named("r1").next().expect("r1");
        assert_eq!(key.kind, KeyKind::Rsa);
        assert_eq!(key.alg, Some(Algorithm::RS256));
    }

    #[test]
    fn weak_or_ill_formed_keys_are_left_out() {
        use base64::Engine;
        let n = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (short, long) = (n(&[0xff; 128]), n(&[0x80; 256]));
        assert_eq!((rsa_bits(&short), rsa_bits(&long), rsa_bits(&n(&[0, 0, 1]))), (Some(1024), Some(2048), Some(1)));
        let with = |extra: &str| format!(r#"{{"kty":"RSA","n":"{long}","e":"AQAB"{extra}}}"#);
        let weak = format!(r#"{{"kty":"RSA","kid":"weak","n":"{short}","e":"AQAB"}}"#);
        let keys = [
            weak,
            with(r#","kid":7"#),
            with(r#","kid":"k1","alg":256"#),
            with(r#","kid":"k2","key_ops":["encrypt"]"#),
            with(r#","kid":"k3","key_ops":"verify""#),
            with(r#","kid":"ok1","key_ops":["sign","verify"]"#),
            with(r#","kid":"ok2""#),
        ];
        let text = format!(r#"{{"keys": [{}]}}"#, keys.join(", "));
        let jwks = Jwks::from_json(&text).expect("a key set");
        assert_eq!(jwks.key_ids().collect::<Vec<_>>(), ["ok1", "ok2"]);
        assert_eq!(jwks.skipped(), 5);
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert_eq!(Jwks::from_json("{}").err().map(|e| e.code).as_deref(), Some("E0764"));
        assert_eq!(Jwks::from_json("[").err().map(|e| e.code).as_deref(), Some("E0764"));
        assert!(Jwks::from_json(r#"{"keys": []}"#).is_ok_and(|k| k.is_empty()));
    }

    #[test]
    fn static_keys_by_issuer_then_for_any() {
        let one = Jwks::from_json(&format!(r#"{{"keys":[{RSA}]}}"#)).expect("keys");
        let keys = StaticKeys::new().with_issuer("https://a", one.clone());
        assert!(keys.keys("https://a").is_ok());
        assert!(keys.keys("https://b").is_err());
        let keys = StaticKeys::for_any_issuer(Jwks::default()).with_issuer("https://a", one);
        assert_eq!(keys.keys("https://a").map(|k| k.len()), Ok(1));
        assert_eq!(keys.keys("https://b").map(|k| k.len()), Ok(0));
    }
}
