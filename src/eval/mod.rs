//! The native evaluator: decides a [`Request`] against a [`CompiledPolicy`] exactly as
//! design section 5 says, with reasons. It never looks at the AST.

mod cond;
mod validate;

pub(crate) use validate::claim;

use crate::compile::{CompiledPolicy, EVERYONE, NodeId, SubjectId};
use crate::request::{Decision, Reason, Request, RuleReason};
use crate::syntax::ast::Effect;
use cond::{Env, Outcome};
use std::collections::BTreeSet;

/// Decides one request.
pub fn decide(policy: &CompiledPolicy, request: &Request) -> Decision {
    let env = match validate::resolve(policy, request) {
        Ok(env) => env,
        Err(errors) => return Decision::invalid(errors),
    };
    decide_resolved(policy, &env)
}

/// A role held by the principal: which role, through which subject, at which scope node.
struct Grant {
    role: crate::check::ir::RoleId,
    subject: usize,
    node: NodeId,
}

fn decide_resolved(policy: &CompiledPolicy, env: &Env<'_>) -> Decision {
    // 1. Subjects(P): its id (when any assignment names it), its declared groups, everyone.
    let mut subjects: Vec<(SubjectId, String)> = Vec::with_capacity(env.groups.len() + 2);
    if let Some(&s) = policy.principal_subjects.get(env.principal_id.as_ref()) {
        subjects.push((s, env.principal_id.to_string()));
    }
    for g in &env.groups {
        let name = policy.groups.get(g.idx()).map_or("?", String::as_str);
        subjects.push((policy.group_subject(*g), format!("group:{name}")));
    }
    subjects.push((EVERYONE, "everyone".to_string()));

    // 2. Scopes(r): everywhere and every whole-segment prefix some assignment names.
    let mut nodes: Vec<NodeId> = vec![0];
    let mut node = 0;
    for (t, id) in &env.segments {
        match policy.children.get(&(node, *t)).and_then(|m| m.get(id.as_ref())) {
            Some(&child) => {
                node = child;
                nodes.push(child);
            }
            None => break,
        }
    }

    // 3. Roles(R): the roles assigned to a subject at a scope (ancestors are folded into the
    //    compiled tables).
    let mut grants = Vec::new();
    for (si, (s, _)) in subjects.iter().enumerate() {
        for &n in &nodes {
            if let Some(roles) = policy.grants.get(&(*s, n)) {
                grants.extend(roles.iter().map(|&role| Grant { role, subject: si, node: n }));
            }
        }
    }

    // 5. Separation of duty: two roles of one exclusive set among Roles(R).
    let mut held: Vec<(u32, crate::check::ir::RoleId)> = Vec::new();
    for g in &grants {
        if let Some(ms) = policy.role_exclusive.get(g.role.idx()) {
            held.extend(ms.iter().copied());
        }
    }
    if !held.is_empty() {
        held.sort_unstable();
        held.dedup();
        let mut clash: BTreeSet<String> = BTreeSet::new();
        for w in held.windows(2) {
            if let [a, b] = w
                && a.0 == b.0
            {
                clash.insert(policy.role_names.get(a.1.idx()).cloned().unwrap_or_default());
                clash.insert(policy.role_names.get(b.1.idx()).cloned().unwrap_or_default());
            }
        }
        if !clash.is_empty() {
            return Decision {
                decision: Effect::Deny,
                errors: Vec::new(),
                reasons: vec![Reason::Exclusive { roles: clash.into_iter().collect() }],
            };
        }
    }

    // 4, 6, 7. Applicable rules; each condition is evaluated once per decision.
    let mut outcomes: Vec<(u32, Outcome)> = Vec::new();
    let mut denies = Vec::new();
    let mut allows = Vec::new();
    let mut skipped = Vec::new();
    for g in &grants {
        let Some(&(start, end)) = policy.role_table.get(&(g.role, env.target, env.action)) else { continue };
        for eff in policy.effective.get(start as usize..end as usize).unwrap_or(&[]) {
            let Some(rule) = policy.rules.get(eff.rule as usize) else { continue };
            let outcome = match outcomes.iter().find(|(r, _)| *r == eff.rule) {
                Some((_, o)) => o.clone(),
                None => {
                    let o = match &rule.cond {
                        None => Outcome::True,
                        Some(c) => cond::eval_bool(c, env),
                    };
                    outcomes.push((eff.rule, o.clone()));
                    o
                }
            };
            let hit = (eff, g);
            match (rule.effect, outcome) {
                (Effect::Deny, Outcome::True) => denies.push((hit, Vec::new())),
                (Effect::Deny, Outcome::Missing(attr)) => denies.push((hit, vec![attr])),
                (Effect::Allow, Outcome::True) => allows.push((hit, Vec::new())),
                (Effect::Allow, Outcome::Missing(attr)) => skipped.push((hit, vec![attr])),
                (_, Outcome::False) => {}
            }
        }
    }

    let reason = |((eff, g), unevaluable): &((&crate::compile::EffRule, &Grant), Vec<String>)| {
        let rule = policy.rules.get(eff.rule as usize);
        let role = rule.and_then(|r| policy.role_names.get(r.role.idx())).cloned().unwrap_or_default();
        let via = policy
            .chains
            .get(eff.via as usize)
            .map(|c| c.iter().filter_map(|r| policy.role_names.get(r.idx()).cloned()).collect())
            .unwrap_or_default();
        let key = rule.map_or((0, 0, 0), |r| r.at_key);
        let rr = RuleReason {
            role,
            via,
            subject: subjects.get(g.subject).map(|(_, s)| s.clone()).unwrap_or_default(),
            scope: policy.node_paths.get(g.node as usize).cloned().flatten(),
            at: rule.map(|r| r.at.clone()).unwrap_or_default(),
            unevaluable: unevaluable.clone(),
            source: None,
        };
        (key, rr)
    };
    let sorted =
        |hits: &[((&crate::compile::EffRule, &Grant), Vec<String>)]| sort_reasons(hits.iter().map(reason).collect());

    if !denies.is_empty() {
        return Decision {
            decision: Effect::Deny,
            errors: Vec::new(),
            reasons: sorted(&denies).into_iter().map(Reason::Deny).collect(),
        };
    }
    if !allows.is_empty() {
        return Decision {
            decision: Effect::Allow,
            errors: Vec::new(),
            reasons: sorted(&allows).into_iter().map(Reason::Allow).collect(),
        };
    }
    let mut reasons = vec![Reason::NoRule];
    reasons.extend(sorted(&skipped).into_iter().map(Reason::Skipped));
    Decision { decision: Effect::Deny, errors: Vec::new(), reasons }
}

/// Orders rule reasons by (`at` as a source position, subject, scope), then chain and role,
/// and drops repeats. Every engine orders reasons with this function.
pub(crate) fn sort_reasons(mut rs: Vec<((u32, u32, u32), RuleReason)>) -> Vec<RuleReason> {
    rs.sort_by(|a, b| {
        (a.0, &a.1.subject, &a.1.scope, &a.1.via, &a.1.role).cmp(&(b.0, &b.1.subject, &b.1.scope, &b.1.via, &b.1.role))
    });
    rs.dedup_by(|a, b| a.1 == b.1);
    rs.into_iter().map(|(_, r)| r).collect()
}
