//! The identity checks that concern tokens: an `issuer` is an http(s) URL without user name,
//! query or fragment (E0605), claim names are not empty (E0606), no two identities accept the same
//! tokens (E0604, so a token always selects one identity), and warnings for an issuer whose
//! tokens are accepted for any audience (W0005) and an audience no token can be checked
//! against because the identity has no issuer (W0006).

use super::Checker;
use crate::diag::Diagnostic;
use crate::syntax::ast::{IdMember, IdMemberKind, Identity};

fn member(ident: &Identity, kind: fn(&IdMemberKind) -> bool) -> Option<&IdMember> {
    ident.members.iter().find(|m| kind(&m.kind))
}

/// An issuer as OpenID Connect writes it: an `https://` (or, for local providers, `http://`)
/// URL with a host, and no user name or password (they could only disguise the host:
/// `http://localhost:80@example.com` goes to `example.com`), query, fragment or whitespace.
fn is_issuer_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else { return false };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty() && !host.contains('@') && !s.contains(['?', '#']) && !s.chars().any(char::is_whitespace)
}

impl Checker<'_, '_> {
    pub(super) fn check_identity_tokens(&mut self) {
        for ident in self.decls.identities.clone() {
            let name = &ident.name.name;
            if let Some(m) = member(ident, |k| matches!(k, IdMemberKind::Issuer))
                && !is_issuer_url(&m.value)
            {
                self.diags.push(
                    Diagnostic::error(
                        "E0605",
                        format!("issuer \"{}\" of identity `{name}` is not an https URL", m.value),
                        m.span,
                        "not an issuer URL",
                    )
                    .with_help(
                        "write the exact `iss` of the provider's tokens, e.g. \"https://acme.okta.com/oauth2/default\"",
                    ),
                );
            }
            for m in
                ident.members.iter().filter(|m| matches!(m.kind, IdMemberKind::UserClaim | IdMemberKind::GroupsClaim))
            {
                if m.value.trim().is_empty() {
                    self.diags.push(
                        Diagnostic::error(
                            "E0606",
                            format!("empty claim name in identity `{name}`"),
                            m.span,
                            "names no claim",
                        )
                        .with_help(
                            "name a claim of the tokens, e.g. \"email\", or a nested one, e.g. \"realm_access.roles\"",
                        ),
                    );
                }
            }
        }

        // Two identities with one issuer must differ in audience, and both name one.
        let identities: Vec<_> = self.ir.identities.iter().zip(self.identity_spans.iter().copied()).collect();
        for (i, (a, a_span)) in identities.iter().enumerate() {
            for (b, b_span) in identities.iter().skip(i + 1) {
                let Some(issuer) = a.issuer.as_ref().filter(|iss| b.issuer.as_ref() == Some(*iss)) else { continue };
                if a.audience.is_some() && b.audience.is_some() && a.audience != b.audience {
                    continue;
                }
                let both = match (&a.audience, &b.audience) {
                    (Some(aud), Some(_)) => format!("with audience \"{aud}\""),
                    _ => "with any audience".to_string(),
                };
                self.diags.push(
                    Diagnostic::error(
                        "E0604",
                        format!(
                            "identities `{}` and `{}` both accept tokens of issuer \"{issuer}\" {both}",
                            a.name, b.name
                        ),
                        *b_span,
                        "accepts the same tokens",
                    )
                    .with_label(*a_span, "as this identity")
                    .with_help("a token must select one identity: give each its own `audience`, or merge them"),
                );
            }
        }
    }

    /// W0005 and W0006; like the other warnings, only for a policy without errors.
    pub(super) fn identity_warnings(&mut self) {
        if self.diags.has_errors() {
            return;
        }
        for ident in self.decls.identities.clone() {
            let name = &ident.name.name;
            let issuer = member(ident, |k| matches!(k, IdMemberKind::Issuer));
            let audience = member(ident, |k| matches!(k, IdMemberKind::Audience));
            match (issuer, audience) {
                (Some(m), None) => self.diags.push(
                    Diagnostic::warning(
                        "W0005",
                        format!("identity `{name}` accepts tokens of its issuer for any audience"),
                        m.span,
                        "no `audience` is checked",
                    )
                    .with_help(
                        "add `audience \"...\";` (the client id tokens are issued for): without it, a token the \
                         issuer minted for another application is accepted too",
                    ),
                ),
                (None, Some(m)) => self.diags.push(
                    Diagnostic::warning(
                        "W0006",
                        format!("identity `{name}` has an audience but no issuer"),
                        m.span,
                        "no token can be checked against it",
                    )
                    .with_help("tokens select their identity by issuer: add `issuer \"https://...\";`"),
                ),
                _ => {}
            }
        }
    }
}
