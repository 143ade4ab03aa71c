//! [`Facts`]: the compiled policy as sorted sets of named facts (types, roles and their own
//! rules, `extends` edges, `exclusive` sets, assignments, groups, identities), with no ids, no
//! source locations and no hash-map order. Two policies that decide alike whatever order
//! they were written in have equal facts: the policy digest hashes them and `diff` compares
//! them to name the edits behind a permission change.

use crate::compile::{CompiledPolicy, EVERYONE};
use crate::syntax::ast::Effect;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One atom of a role's own rules: (role, effect, condition, type, action).
pub(crate) type RuleAtom = (String, Effect, Option<String>, String, String);

/// A resource type: its parent, actions and attributes (attribute types as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TypeFacts {
    pub parent: Option<String>,
    pub actions: BTreeSet<String>,
    pub attrs: BTreeMap<String, String>,
}

/// An identity block: the issuer and audience its tokens must have (checked by the token
/// verifier, before a request exists, they decide as much as the rules: a dropped audience
/// accepts another application's tokens), and how its claims become a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct IdentityFacts {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub user_claim: Option<String>,
    pub groups_claim: Option<String>,
    /// Claim value -> the groups it selects.
    pub aliases: BTreeMap<String, BTreeSet<String>>,
}

/// The policy as named facts. Field order is the canonical serialization's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Facts {
    pub types: BTreeMap<String, TypeFacts>,
    pub principal_attrs: BTreeMap<String, String>,
    pub context_attrs: BTreeMap<String, String>,
    pub groups: BTreeSet<String>,
    pub identities: BTreeMap<String, IdentityFacts>,
    pub roles: BTreeSet<String>,
    /// Direct `extends` edges (role, parent).
    pub extends: BTreeSet<(String, String)>,
    pub rules: BTreeSet<RuleAtom>,
    pub exclusive: BTreeSet<Vec<String>>,
    /// (subject, scope or `None` for everywhere, role).
    pub assignments: BTreeSet<(String, Option<String>, String)>,
}

impl Facts {
    pub(crate) fn of(p: &CompiledPolicy) -> Facts {
        let role = |r: crate::check::ir::RoleId| p.role_names.get(r.idx()).cloned().unwrap_or_default();
        let type_name = |t: crate::check::ir::TypeId| p.types.get(t.idx()).map(|t| t.name.clone()).unwrap_or_default();
        let action = |a: &crate::check::ir::ActionId| p.actions.get(a.idx()).cloned().unwrap_or_default();
        let types = p
            .types
            .iter()
            .map(|t| {
                let facts = TypeFacts {
                    parent: t.parent.map(type_name),
                    actions: t.actions.iter().map(action).collect(),
                    attrs: t.attrs.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                };
                (t.name.clone(), facts)
            })
            .collect();
        let attrs =
            |m: &BTreeMap<String, crate::check::ir::Ty>| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        let identities = p
            .identities
            .iter()
            .map(|i| {
                let aliases = i
                    .aliases
                    .iter()
                    .map(|(value, groups)| {
                        let names = groups.iter().filter_map(|g| p.groups.get(g.idx()).cloned()).collect();
                        (value.clone(), names)
                    })
                    .collect();
                let facts = IdentityFacts {
                    issuer: i.issuer.clone(),
                    audience: i.audience.clone(),
                    user_claim: i.user_claim.clone(),
                    groups_claim: i.groups_claim.clone(),
                    aliases,
                };
                (i.name.clone(), facts)
            })
            .collect();
        // A role's own rules are its folded rules reached through a chain of length one.
        let mut rules = BTreeSet::new();
        for ((r, t, a), &(start, end)) in &p.role_table {
            for eff in p.effective.get(start as usize..end as usize).unwrap_or(&[]) {
                if p.chains.get(eff.via as usize).is_some_and(|c| c.len() == 1)
                    && let Some(rule) = p.rules.get(eff.rule as usize)
                {
                    let when = rule.cond.as_ref().map(|c| super::cond_text(p, c));
                    rules.insert((role(*r), rule.effect, when, type_name(*t), action(a)));
                }
            }
        }
        // Shortest chains of length two are exactly the direct `extends` edges.
        let extends = p
            .chains
            .iter()
            .filter_map(|c| match c.as_slice() {
                [child, parent] => Some((role(*child), role(*parent))),
                _ => None,
            })
            .collect();
        // Every role's closure includes itself, so a set's members are the roles listing
        // themselves under that set.
        let mut sets: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for (i, memberships) in p.role_exclusive.iter().enumerate() {
            for (set, member) in memberships {
                if member.idx() == i {
                    sets.entry(*set).or_default().insert(role(*member));
                }
            }
        }
        let mut subjects: BTreeMap<u32, String> = BTreeMap::new();
        subjects.insert(EVERYONE, "everyone".to_string());
        for (i, g) in p.groups.iter().enumerate() {
            subjects.insert(p.group_subject(crate::check::ir::GroupId::from_idx(i)), format!("group:{g}"));
        }
        for (id, s) in &p.principal_subjects {
            subjects.insert(*s, id.to_string());
        }
        let mut assignments = BTreeSet::new();
        for ((s, node), roles) in &p.grants {
            let subject = subjects.get(s).cloned().unwrap_or_default();
            let scope = p.node_paths.get(*node as usize).cloned().flatten();
            for r in roles {
                assignments.insert((subject.clone(), scope.clone(), role(*r)));
            }
        }
        Facts {
            types,
            principal_attrs: attrs(&p.principal_attrs),
            context_attrs: attrs(&p.context_attrs),
            groups: p.groups.iter().cloned().collect(),
            identities,
            roles: p.role_names.iter().cloned().collect(),
            extends,
            rules,
            exclusive: sets.into_values().map(|s| s.into_iter().collect()).collect(),
            assignments,
        }
    }
}
