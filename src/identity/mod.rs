//! Identity providers: signed tokens (JWTs from OIDC providers) become principals.
//!
//! A request may name its principal by a token, `{"token": "<JWT>"}`. A [`TokenVerifier`]
//! checks the token against the keys of the issuer it names, which selects the policy's
//! `identity` block with that `issuer`, and hands on the verified claims as an identity
//! principal; the policy's `identity` block then maps them to `user:VALUE` and groups
//! (docs/language.md §11). Keys come from a [`KeySource`]: [`StaticKeys`] for keys the caller
//! has (a JWKS file, keys in memory), or [`OidcDiscovery`] (feature `discovery`, on by
//! default), which fetches them from the issuer. Deciding itself never does I/O.
//!
//! ```
//! use rbac::identity::{Jwks, StaticKeys, TokenVerifier};
//! let policy = rbac::compile_str("p.rbac", r#"
//!     identity okta { issuer "https://acme.okta.com"; audience "docs";
//!                     user from claim "email"; groups from claim "groups"; }
//!     group staff from okta "Staff";
//!     resource doc { actions read; }
//!     role reader { allow read on doc; }
//!     assign reader to group:staff;
//! "#).policy.expect("the policy checks");
//! let verifier = TokenVerifier::new(StaticKeys::for_any_issuer(Jwks::default()));
//! let request = rbac::Request::from_json(
//!     r#"{"principal": {"token": "not.a.token"}, "action": "read", "resource": "doc:d"}"#,
//! ).expect("a request");
//! let decision = policy.decide_with(&request, &verifier);
//! assert!(!decision.is_allow());
//! assert_eq!(decision.errors[0].code, "E0751"); // malformed token
//! ```
//!
//! Decisions for identity principals (from a token or from claims) say, on each reason whose
//! subject is a group the claims gave, which identity, claim and claim value gave it
//! ([`crate::GroupSource`]).

mod claims;
#[cfg(feature = "discovery")]
mod discovery;
mod keys;
mod verify;

pub(crate) use claims::{add_sources, annotate, group_sources};
#[cfg(feature = "discovery")]
pub use discovery::OidcDiscovery;
pub use keys::{Jwks, KeySource, StaticKeys};
pub use verify::{DEFAULT_LEEWAY, MAX_LEEWAY, TokenVerifier, VerifiedToken};

use crate::Policy;
use crate::request::RequestError;

/// An `identity` block that accepts tokens: its name, `issuer` and `audience`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The identity's name.
    pub identity: String,
    /// Its `issuer`: the `iss` of the tokens it accepts.
    pub issuer: String,
    /// Its `audience`: the `aud` its tokens must be for; `None` accepts tokens for any audience
    /// (W0005).
    pub audience: Option<String>,
}

/// The identities of a policy that have an `issuer`, in declaration order.
pub fn trusted_issuers(policy: &Policy) -> Vec<TrustedIssuer> {
    policy
        .compiled()
        .identities
        .iter()
        .filter_map(|i| {
            Some(TrustedIssuer { identity: i.name.clone(), issuer: i.issuer.clone()?, audience: i.audience.clone() })
        })
        .collect()
}

/// The error of a token principal decided without a verifier.
pub(crate) fn unverified() -> RequestError {
    RequestError::new(
        "E0763",
        "a token principal must be verified before deciding (`Policy::decide_with` and a `TokenVerifier`)",
    )
}
