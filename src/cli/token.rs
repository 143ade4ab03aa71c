//! Token options of `can` and `eval`: where keys come from (`--jwks` files, else OIDC
//! discovery from each issuer), the `exp`/`nbf` leeway, and reading a token file. Builds the
//! library's `TokenVerifier`; the files and the network are touched only from here.

use rbac::identity::{Jwks, StaticKeys, TokenVerifier, TrustedIssuer, VerifiedToken};
use rbac::{Decision, IdentityPrincipal, Policy, Principal, Request};

/// The options that say how tokens are verified.
#[derive(clap::Args, Clone, Debug)]
pub struct KeyArgs {
    /// Verify tokens with the keys of this JSON Web Key Set instead of fetching them by OIDC
    /// discovery: `IDENTITY=FILE` for the issuer of one identity, `FILE` for every issuer
    /// without its own (repeatable).
    #[arg(long = "jwks", value_name = "[IDENTITY=]FILE")]
    pub jwks: Vec<String>,
    /// Clock skew allowed when checking a token's `exp` and `nbf`, in seconds (at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = rbac::identity::DEFAULT_LEEWAY,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub leeway: u64,
}

/// Why the token options cannot be used: a file that cannot be read (`E0209`), a key set
/// that is none (`E0764`), or options that do not fit the policy (no code: a usage error).
#[derive(Debug)]
pub struct Failure {
    code: Option<&'static str>,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure { code: None, message: message.into() }
    }

    fn unreadable(what: &str, e: &std::io::Error) -> Failure {
        Failure { code: Some("E0209"), message: format!("cannot read {what}: {e}") }
    }
}

/// As the command line prints it: `error[CODE]: message`, or `error: message`.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "error[{code}]: {}", self.message),
            None => write!(f, "error: {}", self.message),
        }
    }
}

/// A verifier for the policy's identities: keys from the `--jwks` files, or by discovery.
pub fn verifier(policy: &Policy, args: &KeyArgs) -> Result<TokenVerifier, Failure> {
    let verifier = if args.jwks.is_empty() {
        discovery()
    } else {
        TokenVerifier::new(static_keys(&rbac::identity::trusted_issuers(policy), &args.jwks)?)
    };
    Ok(verifier.with_leeway(args.leeway))
}

#[cfg(feature = "discovery")]
fn discovery() -> TokenVerifier {
    TokenVerifier::new(rbac::identity::OidcDiscovery::new())
}

/// Built without discovery there are no keys but the `--jwks` files: every token is denied
/// with E0761, which says so.
#[cfg(not(feature = "discovery"))]
fn discovery() -> TokenVerifier {
    TokenVerifier::new(StaticKeys::new())
}

fn static_keys(trusted: &[TrustedIssuer], specs: &[String]) -> Result<StaticKeys, Failure> {
    let mut any: Option<Jwks> = None;
    // Each issuer's key set, with the identity and file it was given by.
    let mut by_issuer: Vec<(String, Jwks, &str, &str)> = Vec::new();
    for spec in specs {
        let named = spec.split_once('=').filter(|(name, _)| is_ident(name) && !std::path::Path::new(spec).exists());
        match named {
            Some((name, file)) => {
                let Some(t) = trusted.iter().find(|t| t.identity == name) else {
                    return Err(Failure::usage(format!(
                        "`--jwks {spec}`: the policy has no identity `{name}` with an issuer{}",
                        list(trusted)
                    )));
                };
                // Identities that share an issuer share its keys: one key set an issuer. A
                // second set for it would replace the first for both identities.
                match by_issuer.iter().find(|(issuer, ..)| *issuer == t.issuer) {
                    Some((_, _, _, same)) if *same == file => {}
                    Some((issuer, _, other, first)) => {
                        return Err(Failure::usage(format!(
                            "`--jwks {spec}`: `{name}` has the issuer of `{other}` (`{issuer}`), whose keys \
                             `--jwks {other}={first}` gave; an issuer has one key set, for all its identities"
                        )));
                    }
                    None => by_issuer.push((t.issuer.clone(), read_jwks(file)?, name, file)),
                }
            }
            None if any.is_some() => {
                return Err(Failure::usage(
                    "`--jwks FILE` may be given once; name the identity of each: `--jwks IDENTITY=FILE`",
                ));
            }
            None => {
                let jwks = read_jwks(spec)?;
                // One key set for several issuers lets each issuer's key speak for all of
                // them: allowed (a JWKS file is the operator's own choice), but said.
                if trusted.len() > 1 {
                    eprintln!(
                        "warning: the keys of `{spec}` are trusted for every issuer of the policy{}; \
                         `--jwks IDENTITY=FILE` trusts them for one",
                        list(trusted)
                    );
                }
                any = Some(jwks);
            }
        }
    }
    let mut keys = any.map_or_else(StaticKeys::new, StaticKeys::for_any_issuer);
    for (issuer, jwks, ..) in by_issuer {
        keys = keys.with_issuer(&issuer, jwks);
    }
    Ok(keys)
}

fn list(trusted: &[TrustedIssuer]) -> String {
    if trusted.is_empty() {
        return " (no identity of the policy has an `issuer`)".to_string();
    }
    let names: Vec<String> = trusted.iter().map(|t| format!("`{}`", t.identity)).collect();
    format!(" (identities with an issuer: {})", names.join(", "))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A key set file is read up to this many bytes (as discovery reads an issuer's key set).
const MAX_JWKS_FILE: u64 = 1 << 20;
/// A token file is read up to this many bytes: a token over 64 KiB is refused anyway, and
/// this leaves room for blanks around it.
const MAX_TOKEN_FILE: u64 = 68 << 10;

fn read_jwks(file: &str) -> Result<Jwks, Failure> {
    let text = super::read_bounded(file, MAX_JWKS_FILE)
        .map_err(|e| Failure::unreadable(&format!("`{file}`"), &e))?
        .ok_or_else(|| Failure { code: Some("E0764"), message: format!("`{file}` is over 1 MiB: no key set is") })?;
    let jwks = Jwks::from_json(&text)
        .map_err(|e| Failure { code: Some("E0764"), message: format!("`{file}`: {}", e.message) })?;
    if jwks.is_empty() {
        eprintln!("warning: `{file}` has no key that can verify signatures ({} left out)", jwks.skipped());
    } else if jwks.skipped() > 0 {
        // A weak or ill-formed key an operator meant to trust is said, not dropped silently.
        eprintln!(
            "warning: `{file}`: {} of its keys left out (encryption, symmetric, RSA under 2048 bits or ill-formed; \
             see `rbac explain E0764`), {} kept",
            jwks.skipped(),
            jwks.len()
        );
    }
    Ok(jwks)
}

/// The token in `file` (`-` for standard input), without surrounding whitespace.
pub fn read_token(file: &str) -> Result<String, Failure> {
    let text = super::read_bounded(file, MAX_TOKEN_FILE)
        .map_err(|e| Failure::unreadable(&format!("the token `{file}`"), &e))?
        .ok_or_else(|| Failure {
            code: Some("E0751"),
            message: format!("the token `{file}` is over {MAX_TOKEN_FILE} bytes (a token is at most 65536)"),
        })?;
    Ok(text.trim().to_string())
}

/// Decides a request whose principal may be a token: once verified, as the identity principal
/// the token proves. Also hands back the verified token, to say whom it proved.
pub fn decide<'p>(
    policy: &'p Policy,
    verifier: &TokenVerifier,
    mut request: Request,
) -> (Decision<'p>, Option<VerifiedToken>) {
    let Principal::Token(t) = &request.principal else { return (policy.decide(&request), None) };
    match verifier.verify(policy, &t.token) {
        Ok(v) => {
            request.principal = Principal::Identity(IdentityPrincipal {
                identity: v.identity.clone(),
                claims: v.claims.clone(),
                attrs: t.attrs.clone(),
            });
            (policy.decide(&request), Some(v))
        }
        Err(e) => (Decision::invalid(vec![e]), None),
    }
}
