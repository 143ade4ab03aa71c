//! Token verification: a JWT given as a request's `{"token": ...}` principal is checked
//! against the keys of the issuer it names (algorithm, key, signature, `iss`, `aud`, `exp`,
//! `nbf`) and, when every check passes, hands on its claims as an identity principal. The
//! cryptography is the `jsonwebtoken` crate's; keys come from a [`KeySource`], so this core
//! does no I/O of its own. Every rejection is a [`RequestError`] with its own `E075x` code.

use super::keys::{Jwks, Key, KeySource};
use crate::Policy;
use crate::compile::{CIdentity, CompiledPolicy};
use crate::request::{IdentityPrincipal, Principal, Request, RequestError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;

/// The default clock-skew allowance for `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY: u64 = 60;
/// The largest leeway accepted, in seconds; larger values are lowered to it.
pub const MAX_LEEWAY: u64 = 3600;
/// A token without a `kid` is tried with at most this many keys of its issuer that fit its
/// algorithm; with more, it is refused (E0755).
pub(crate) const MAX_KEYS_WITHOUT_KID: usize = 8;
/// Longer tokens are rejected before any decoding.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Verifies signed tokens (JWTs) for a policy's `identity` blocks.
///
/// The token's `iss` selects the identity whose `issuer` it is (and, when several identities
/// share an issuer, the one whose `audience` the token names); the identity's issuer and
/// audience are then checked along with the signature, `exp` and `nbf`. Accepted algorithms:
/// RS256/384/512, PS256/384/512, ES256, ES384 and EdDSA (Ed25519). Unsigned tokens
/// (`alg: none`) and symmetric algorithms (HS256, ...) are always rejected: an issuer's keys
/// are public, so a token "signed" with one as an HMAC secret proves nothing.
///
/// ```
/// use rbac::identity::{Jwks, StaticKeys, TokenVerifier};
/// let jwks = Jwks::from_json(r#"{"keys": []}"#).expect("a key set");
/// let verifier = TokenVerifier::new(StaticKeys::for_any_issuer(jwks)).with_leeway(30);
/// assert_eq!(verifier.leeway(), 30);
/// ```
pub struct TokenVerifier {
    keys: Box<dyn KeySource>,
    leeway: u64,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("leeway", &self.leeway).finish_non_exhaustive()
    }
}

/// A token that passed every check: the identity it selected and its claims.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The name of the `identity` block the token belongs to.
    pub identity: String,
    /// The verified claims.
    pub claims: Map<String, Value>,
    /// The id of the key that verified the signature, when the key has one.
    pub key_id: Option<String>,
    /// The principal id the identity maps the claims to (`user:VALUE` of its user claim),
    /// when that claim is a non-empty string; deciding reports why otherwise (E0713).
    pub principal: Option<String>,
}

impl TokenVerifier {
    /// A verifier with the given key source and the default leeway of 60 seconds.
    pub fn new(keys: impl KeySource + 'static) -> TokenVerifier {
        TokenVerifier { keys: Box::new(keys), leeway: DEFAULT_LEEWAY }
    }

    /// Allows `seconds` of clock skew when checking `exp` and `nbf` (at most [`MAX_LEEWAY`]).
    pub fn with_leeway(mut self, seconds: u64) -> TokenVerifier {
        self.leeway = seconds.min(MAX_LEEWAY);
        self
    }

    /// The clock skew allowed when checking `exp` and `nbf`, in seconds.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Verifies one token against the policy's identities.
    pub fn verify(&self, policy: &Policy, token: &str) -> Result<VerifiedToken, RequestError> {
        self.verify_compiled(policy.compiled(), token)
    }

    /// Turns a request whose principal is a token into one whose principal is the verified
    /// identity (its claims, and the token principal's attributes). Other requests are
    /// returned as they are.
    pub fn resolve<'r>(&self, policy: &Policy, request: &'r Request) -> Result<Cow<'r, Request>, RequestError> {
        let Principal::Token(t) = &request.principal else { return Ok(Cow::Borrowed(request)) };
        let verified = self.verify(policy, &t.token)?;
        Ok(Cow::Owned(Request {
            principal: Principal::Identity(IdentityPrincipal {
                identity: verified.identity,
                claims: verified.claims,
                attrs: t.attrs.clone(),
            }),
            action: request.action.clone(),
            resource: request.resource.clone(),
            context: request.context.clone(),
        }))
    }

    fn verify_compiled(&self, policy: &CompiledPolicy, token: &str) -> Result<VerifiedToken, RequestError> {
        let token = token.trim_ascii();
        if token.len() > MAX_TOKEN_LEN {
            return Err(error::malformed(format!("the token is longer than {MAX_TOKEN_LEN} bytes")));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, _signature] = parts.as_slice() else {
            let why = if parts.len() == 5 {
                "it has five parts, as an encrypted token (JWE) has; only signed tokens (JWS) are accepted".to_string()
            } else {
                format!("a JWT has three base64url parts separated by `.`, this one has {}", parts.len())
            };
            return Err(error::malformed(why));
        };
        let header = decode_part(header, "header")?;
        let payload = decode_part(payload, "payload")?;

        // The header: an algorithm this verifier accepts, and nothing it would have to ignore.
        let alg_name = match header.get("alg") {
            Some(Value::String(a)) => a.as_str(),
            _ => return Err(error::malformed("the token header has no `alg` string")),
        };
        if alg_name.eq_ignore_ascii_case("none") {
            return Err(error::unsigned());
        }
        let alg = match Algorithm::from_str(alg_name) {
            Ok(a) if !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => a,
            Ok(_) => return Err(error::symmetric(alg_name)),
            Err(_) => return Err(error::unknown_alg(alg_name)),
        };
        if header.contains_key("crit") {
            return Err(error::malformed(
                "the token header lists critical extensions (`crit`), which are not supported",
            ));
        }
        if let Some(why) = misshapen_header_field(&header) {
            return Err(error::malformed(why));
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(error::malformed("the token header's `kid` is not a string")),
        };

        // The issuer (and, among identities sharing it, the audience) selects the identity.
        let iss = match payload.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(error::unknown_issuer("the token's `iss` claim is not a string".to_string())),
            None => return Err(error::unknown_issuer("the token has no `iss` claim".to_string())),
        };
        let ident = select_identity(policy, iss, &audiences(&payload))?;

        // The key: by id (fetching again once if the issuer may have rotated its keys), or
        // every key of the issuer that fits the algorithm when the token names none.
        let jwks = self.keys.keys(iss).map_err(|e| error::keys(iss, &e))?;
        let candidates: Vec<Key> = match kid {
            Some(kid) => {
                // Every key of that id (a set may give one id to keys of several kinds).
                let mut named: Vec<Key> = jwks.named(kid).cloned().collect();
                if named.is_empty() {
                    let fresh: Arc<Jwks> = self.keys.refresh(iss).map_err(|e| error::keys(iss, &e))?;
                    named = fresh.named(kid).cloned().collect();
                    if named.is_empty() {
                        return Err(error::unknown_kid(kid, iss, &fresh));
                    }
                }
                let fit: Vec<Key> =
                    named.iter().filter(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg)).cloned().collect();
                match (fit.is_empty(), named.first()) {
                    (true, Some(key)) => {
                        return Err(match key.alg {
                            Some(key_alg) if key_alg != alg => {
                                error::alg_mismatch(alg_name, kid, &format!("a key for `{key_alg:?}`"))
                            }
                            _ => error::alg_mismatch(alg_name, kid, key.kind.describe()),
                        });
                    }
                    _ if fit.len() > MAX_KEYS_WITHOUT_KID => {
                        return Err(error::too_many_keys_named(alg_name, kid, iss, fit.len()));
                    }
                    _ => fit,
                }
            }
            None => {
                let fit: Vec<Key> = jwks
                    .keys()
                    .iter()
                    .filter(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg))
                    .cloned()
                    .collect();
                if fit.is_empty() {
                    return Err(error::no_fitting_key(alg_name, iss));
                }
                // Each key tried is a signature check that a forged token costs nothing to
                // ask for: an issuer with many keys must have its tokens name theirs.
                if fit.len() > MAX_KEYS_WITHOUT_KID {
                    return Err(error::too_many_keys_without_kid(alg_name, iss, fit.len()));
                }
                fit
            }
        };

        // A signature that does not verify with one key may verify with the next (only when
        // the token names no key id); any other failure comes after the signature verified.
        for key in &candidates {
            match decode(token, key, alg, ident) {
                Ok(claims) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    check_times(&claims, self.leeway, now)?;
                    return Ok(VerifiedToken {
                        identity: ident.name.clone(),
                        principal: super::claims::user_id(ident, &claims),
                        claims,
                        key_id: key.kid.clone(),
                    });
                }
                Err(ErrorKind::InvalidSignature) => {}
                Err(other) => return Err(error::from_jwt(other, key.kid.as_deref(), ident, &payload, self.leeway)),
            }
        }
        let named = kid.or(match candidates.as_slice() {
            [one] => one.kid.as_deref(),
            _ => None,
        });
        Err(error::from_jwt(ErrorKind::InvalidSignature, named, ident, &payload, self.leeway))
    }
}

/// Decodes one base64url part of a token into a JSON object. A key given twice in any object
/// is refused, as in requests (E0701): JSON readers keep the last value, while the issuer's
/// or a gateway's may have read the first (a claim mapper that copies a user-set attribute
/// could otherwise put a second `email` after the real one).
fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, RequestError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| error::malformed(format!("the token {what} is not base64url: {e}")))?;
    let text =
        std::str::from_utf8(&bytes).map_err(|e| error::malformed(format!("the token {what} is not UTF-8: {e}")))?;
    match Request::json_value(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error::malformed(format!("the token {what} is not a JSON object"))),
        Err(e) => Err(error::malformed(format!("the token {what} is not JSON: {e}"))),
    }
}

/// The first header field (RFC 7515 section 4.1) whose JSON type is not the one its
/// specification gives: the token's header is read whole, so such a token does not decode,
/// though the field is not used (keys come from the issuer's key set, never the token).
fn misshapen_header_field(header: &Map<String, Value>) -> Option<String> {
    const STRINGS: &[&str] = &["typ", "cty", "jku", "x5u", "x5t", "x5t#S256", "url", "nonce", "enc", "zip"];
    for (name, value) in header {
        let fits = match (name.as_str(), value) {
            (_, Value::Null) => true,
            (n, v) if STRINGS.contains(&n) => v.is_string(),
            ("x5c", Value::Array(items)) => items.iter().all(Value::is_string),
            ("x5c", _) => false,
            ("jwk", v) => serde_json::from_value::<jsonwebtoken::jwk::Jwk>(v.clone()).is_ok(),
            _ => true,
        };
        if !fits {
            let want = match name.as_str() {
                "x5c" => "a list of strings",
                "jwk" => "a JSON Web Key",
                _ => "a string",
            };
            return Some(format!("the token header's `{name}` is not {want} (RFC 7515)"));
        }
    }
    None
}

/// The token's `aud`: one string or a list of strings.
fn audiences(payload: &Map<String, Value>) -> Vec<&str> {
    match payload.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The identity whose issuer the token names; among several with that issuer, the one whose
/// audience the token is for (the checker rejects identities that would both accept a token).
fn select_identity<'p>(policy: &'p CompiledPolicy, iss: &str, aud: &[&str]) -> Result<&'p CIdentity, RequestError> {
    let candidates: Vec<&CIdentity> = policy.identities.iter().filter(|i| i.issuer.as_deref() == Some(iss)).collect();
    if let [one] = candidates.as_slice() {
        return Ok(one);
    }
    if candidates.is_empty() {
        let trusted: Vec<String> =
            policy.identities.iter().filter_map(|i| i.issuer.as_ref()).map(|i| format!("`{i}`")).collect();
        let known = if trusted.is_empty() {
            "no identity of the policy has an `issuer`".to_string()
        } else {
            format!("the policy trusts {}", trusted.join(", "))
        };
        return Err(error::unknown_issuer(format!("no identity of the policy trusts issuer `{iss}` ({known})")));
    }
    let matching: Vec<&CIdentity> =
        candidates.iter().copied().filter(|i| i.audience.as_deref().is_none_or(|a| aud.contains(&a))).collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => {
            let wanted: Vec<String> = candidates
                .iter()
                .map(|i| format!("`{}` for `{}`", i.name, i.audience.as_deref().unwrap_or("?")))
                .collect();
            Err(error::audience(format!(
                "the token's audience {} matches no identity of issuer `{iss}` ({})",
                show_list(aud),
                wanted.join(", ")
            )))
        }
        several => {
            let names: Vec<String> = several.iter().map(|i| format!("`{}`", i.name)).collect();
            Err(error::audience(format!(
                "the token's audience {} matches several identities of issuer `{iss}`: {}",
                show_list(aud),
                names.join(", ")
            )))
        }
    }
}

fn show_list(items: &[&str]) -> String {
    if items.is_empty() {
        return "(none)".to_string();
    }
    items.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
}

fn decode(token: &str, key: &Key, alg: Algorithm, ident: &CIdentity) -> Result<Map<String, Value>, ErrorKind> {
    let mut v = jsonwebtoken::Validation::new(alg);
    // `exp` and `nbf` are checked by `check_times`, to the fraction of a second.
    v.validate_exp = false;
    v.validate_nbf = false;
    if let Some(iss) = &ident.issuer {
        v.set_issuer(&[iss]);
    }
    match &ident.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            v.set_required_spec_claims(&["iss", "aud"]);
        }
        None => {
            v.validate_aud = false;
            v.set_required_spec_claims(&["iss"]);
        }
    }
    jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &v).map(|d| d.claims).map_err(|e| e.into_kind())
}

/// `exp` (required) and `nbf` against the clock, `now` seconds since the epoch: a token is
/// valid before `exp` and from `nbf` on (RFC 7519 sections 4.1.4 and 4.1.5), each moved by
/// the leeway. Both are NumericDates (section 2): non-negative numbers of seconds, a fraction
/// allowed (`Date.now() / 1000`), however large (a date past any clock never expires).
fn check_times(claims: &Map<String, Value>, leeway: u64, now: f64) -> Result<(), RequestError> {
    let date = |claim: &str| match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0) => {
            let f = n.as_f64().unwrap_or(0.0);
            // (`-0` reads as 0.)
            Ok(Some((f, if f == 0.0 { "0".to_string() } else { n.to_string() })))
        }
        Some(_) => Err(RequestError::new(
            "E0762",
            format!("the token's `{claim}` claim is not a non-negative number of seconds"),
        )),
    };
    let leeway_f = leeway as f64;
    let Some((exp, exp_text)) = date("exp")? else {
        return Err(RequestError::new("E0762", "the token lacks the `exp` claim, which is required"));
    };
    if now >= exp + leeway_f {
        return Err(RequestError::new(
            "E0757",
            format!("the token expired at {exp_text} (unix time), more than the leeway of {leeway} s ago"),
        ));
    }
    if let Some((nbf, nbf_text)) = date("nbf")?
        && now + leeway_f < nbf
    {
        return Err(RequestError::new(
            "E0758",
            format!(
                "the token is not valid before {nbf_text} (unix time), more than the leeway of {leeway} s from now"
            ),
        ));
    }
    Ok(())
}

/// The rejections, each with its code (documented in `docs/identity.md` and `rbac explain`).
mod error {
    use super::{CIdentity, ErrorKind, Jwks, Map, RequestError, Value, audiences, show_list};

    pub fn malformed(why: impl std::fmt::Display) -> RequestError {
        RequestError::new("E0751", format!("malformed token: {why}"))
    }

    pub fn unsigned() -> RequestError {
        RequestError::new("E0752", "the token is unsigned (`alg: none`); only signed tokens are accepted")
    }

    pub fn symmetric(alg: &str) -> RequestError {
        RequestError::new(
            "E0753",
            format!(
                "token algorithm `{alg}` is not accepted: symmetric (HMAC) algorithms cannot prove who signed, \
                 tokens must be signed with the issuer's private key"
            ),
        )
    }

    pub fn unknown_alg(alg: &str) -> RequestError {
        RequestError::new(
            "E0753",
            format!(
                "token algorithm `{alg}` is not accepted (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA are)"
            ),
        )
    }

    pub fn alg_mismatch(alg: &str, kid: &str, key: &str) -> RequestError {
        RequestError::new("E0754", format!("the token says `{alg}` but key `{kid}` is {key}"))
    }

    pub fn too_many_keys_without_kid(alg: &str, iss: &str, keys: usize) -> RequestError {
        RequestError::new(
            "E0755",
            format!(
                "the token names no key (`kid`) and issuer `{iss}` has {keys} keys for `{alg}`: a token must name its \
                 key when more than {} could have signed it",
                super::MAX_KEYS_WITHOUT_KID
            ),
        )
    }

    pub fn unknown_kid(kid: &str, iss: &str, jwks: &Jwks) -> RequestError {
        let known: Vec<&str> = jwks.key_ids().collect();
        RequestError::new(
            "E0755",
            if known.is_empty() {
                format!("the token's key id `{kid}` is not among the keys of issuer `{iss}`, which has no usable key")
            } else {
                format!("the token's key id `{kid}` is not among the keys of issuer `{iss}` ({})", show_list(&known))
            },
        )
    }

    pub fn too_many_keys_named(alg: &str, kid: &str, iss: &str, keys: usize) -> RequestError {
        RequestError::new(
            "E0755",
            format!(
                "issuer `{iss}` has {keys} keys with id `{kid}` for `{alg}`: at most {} keys of one id are tried",
                super::MAX_KEYS_WITHOUT_KID
            ),
        )
    }

    pub fn no_fitting_key(alg: &str, iss: &str) -> RequestError {
        RequestError::new("E0755", format!("the token names no key id and issuer `{iss}` has no `{alg}` key"))
    }

    pub fn keys(iss: &str, why: &str) -> RequestError {
        RequestError::new("E0761", format!("cannot get the keys of issuer `{iss}`: {why}"))
    }

    pub fn unknown_issuer(why: String) -> RequestError {
        RequestError::new("E0760", why)
    }

    pub fn audience(why: String) -> RequestError {
        RequestError::new("E0759", why)
    }

    fn wrong_audience(ident: &CIdentity, payload: &Map<String, Value>) -> RequestError {
        let well_formed = match payload.get("aud") {
            Some(Value::String(_)) | None => true,
            Some(Value::Array(items)) => items.iter().all(Value::is_string),
            Some(_) => false,
        };
        if !well_formed {
            return RequestError::new("E0759", "the token's `aud` claim is not a string or a list of strings");
        }
        RequestError::new(
            "E0759",
            format!(
                "the token's audience {} does not include `{}`, the audience of identity `{}`",
                show_list(&audiences(payload)),
                ident.audience.as_deref().unwrap_or("?"),
                ident.name
            ),
        )
    }

    fn number(payload: &Map<String, Value>, claim: &str) -> Option<u64> {
        payload.get(claim).and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
    }

    /// Maps a failure of `jsonwebtoken::decode` to its rejection.
    pub fn from_jwt(
        kind: ErrorKind,
        kid: Option<&str>,
        ident: &CIdentity,
        payload: &Map<String, Value>,
        leeway: u64,
    ) -> RequestError {
        let iss = ident.issuer.as_deref().unwrap_or("?");
        let key = kid.map_or_else(|| format!("any key of issuer `{iss}`"), |k| format!("key `{k}` of issuer `{iss}`"));
        match kind {
            ErrorKind::InvalidSignature => {
                RequestError::new("E0756", format!("the token's signature does not verify with {key}"))
            }
            ErrorKind::ExpiredSignature => {
                let exp = number(payload, "exp").unwrap_or(0);
                RequestError::new(
                    "E0757",
                    format!("the token expired at {exp} (unix time), more than the leeway of {leeway} s ago"),
                )
            }
            ErrorKind::ImmatureSignature => {
                let nbf = number(payload, "nbf").unwrap_or(0);
                RequestError::new(
                    "E0758",
                    format!(
                        "the token is not valid before {nbf} (unix time), more than the leeway of {leeway} s from now"
                    ),
                )
            }
            ErrorKind::InvalidAudience => wrong_audience(ident, payload),
            ErrorKind::MissingRequiredClaim(c) if c == "aud" => wrong_audience(ident, payload),
            ErrorKind::InvalidIssuer => {
                RequestError::new("E0760", format!("the token's issuer is not `{iss}` (identity `{}`)", ident.name))
            }
            // jsonwebtoken also says "missing" for a claim it cannot read as a number.
            ErrorKind::MissingRequiredClaim(c) if payload.contains_key(&c) => {
                RequestError::new("E0762", format!("the token's `{c}` claim is not a non-negative number of seconds"))
            }
            ErrorKind::MissingRequiredClaim(c) => {
                RequestError::new("E0762", format!("the token lacks the `{c}` claim, which is required"))
            }
            ErrorKind::InvalidClaimFormat(c) => {
                RequestError::new("E0762", format!("the token's `{c}` claim is not a non-negative number of seconds"))
            }
            ErrorKind::InvalidAlgorithm => {
                RequestError::new("E0754", format!("the token's algorithm does not fit {key}"))
            }
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => RequestError::new("E0761", format!("{key} is not a usable public key")),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                // The claims `jsonwebtoken` reads as numbers fail it when they are lists or
                // objects (after the signature verified).
                match ["exp", "nbf", "iat"]
                    .into_iter()
                    .find(|c| payload.get(*c).is_some_and(|v| v.is_array() || v.is_object()))
                {
                    Some(c) => RequestError::new(
                        "E0762",
                        format!("the token's `{c}` claim is not a non-negative number of seconds"),
                    ),
                    None => malformed("its parts do not decode"),
                }
            }
            other => RequestError::new("E0756", format!("the token does not verify with {key}: {other:?}")),
        }
    }
}
