//! Where the groups of an identity principal came from. The evaluator maps claims to a user
//! and groups (design section 5.1); this module finds, for each group so given, the identity,
//! its groups claim and the claim value whose alias selected it, and adds them to the
//! decision's reasons whose subject is that group.

use crate::compile::{CIdentity, CompiledPolicy};
use crate::request::{Decision, GroupSource, Principal, Reason, Request};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Adds the [`GroupSource`] of each claim-given group to the rule reasons of `decision`.
/// Requests with other principals, and invalid requests, are left as they are.
pub(crate) fn annotate(policy: &CompiledPolicy, request: &Request, decision: &mut Decision<'_>) {
    let Principal::Identity(p) = &request.principal else { return };
    let Some(ident) = policy.identity_index.get(&p.identity).and_then(|i| policy.identities.get(*i)) else {
        return;
    };
    let aliases = |value: &str| -> Vec<&str> {
        ident
            .aliases
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|g| policy.groups.get(g.idx()))
            .map(String::as_str)
            .collect()
    };
    add_sources(decision, &group_sources(&ident.name, ident.groups_claim.as_deref(), aliases, &p.claims));
}

/// Sets the `source` of each rule reason whose subject is one of `sources`' groups (valid
/// decisions only).
pub(crate) fn add_sources(decision: &mut Decision<'_>, sources: &BTreeMap<String, GroupSource>) {
    // Only rule reasons have subjects: a borrowed `[NoRule]` is left borrowed.
    let rules = decision.reasons.iter().any(|r| matches!(r, Reason::Allow(_) | Reason::Deny(_) | Reason::Skipped(_)));
    if !decision.errors.is_empty() || sources.is_empty() || !rules {
        return;
    }
    for reason in decision.reasons.to_mut() {
        let (Reason::Allow(r) | Reason::Deny(r) | Reason::Skipped(r)) = reason else { continue };
        if let Some(source) = r.subject.strip_prefix("group:").and_then(|g| sources.get(g)) {
            r.source = Some(source.clone());
        }
    }
}

/// Group name -> where it came from, for an identity with groups claim `claim` whose
/// `aliases` give the groups (by name) a claim value selects. When several values of the
/// claim select one group, the first in the claim's order is named.
pub(crate) fn group_sources<'g>(
    identity: &str,
    claim: Option<&str>,
    aliases: impl Fn(&str) -> Vec<&'g str>,
    claims: &Map<String, Value>,
) -> BTreeMap<String, GroupSource> {
    let mut out = BTreeMap::new();
    let Some(claim) = claim else { return out };
    let Some(Value::Array(values)) = crate::eval::claim(claims, claim) else { return out };
    for value in values.iter().filter_map(Value::as_str) {
        for name in aliases(value) {
            out.entry(name.to_string()).or_insert_with(|| GroupSource {
                identity: identity.to_string(),
                claim: claim.to_string(),
                value: value.to_string(),
            });
        }
    }
    out
}

/// The principal id the identity maps the claims to, when its user claim is a non-empty
/// string (the evaluator reports why otherwise).
pub(crate) fn user_id(ident: &CIdentity, claims: &Map<String, Value>) -> Option<String> {
    match crate::eval::claim(claims, ident.user_claim.as_deref().unwrap_or("sub")) {
        Some(Value::String(s)) if !s.is_empty() => Some(format!("user:{s}")),
        _ => None,
    }
}
