//! The native evaluator: decides a [`Request`] against a [`CompiledPolicy`] exactly as
//! design section 5 says, with reasons. It never looks at the AST.
//!
//! A decision is made in two steps. [`verdict`] resolves the request and finds the deciding
//! rules, without allocating for a valid request: ids stay borrowed from the request, scratch
//! lists live on the stack, and each reason is a handful of indexes. [`Verdict::decision`]
//! then writes the reasons out as names (roles, chain, subject, scope, location).

mod cond;
mod prepared;
mod validate;

pub use prepared::{Subject, Target};
pub(crate) use prepared::{check, subject, target};

pub(crate) use validate::{claim, principal_id_ok};

use crate::check::ir::RoleId;
use crate::compile::{CompiledPolicy, Lookup, NodeId};
use crate::request::{Decision, Reason, Request, RequestError, RuleReason};
use crate::syntax::ast::Effect;
use cond::{Env, Missing, Outcome, Who};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Decides one request, with its reasons written out.
pub fn decide(policy: &CompiledPolicy, request: &Request) -> Decision {
    verdict(policy, request).decision()
}

/// A role held by the principal: which role, through which subject, at which scope node.
#[derive(Debug, Clone, Copy)]
struct Grant {
    role: RoleId,
    subject: Who,
    node: NodeId,
}

/// A rule that decided (or, for `Skipped`, could not be evaluated), and the grant that
/// brought it in.
#[derive(Debug, Clone, Copy)]
struct Hit<'p> {
    rule: u32,
    via: u32,
    grant: Grant,
    missing: Option<Missing<'p>>,
}

type Hits<'p> = SmallVec<[Hit<'p>; 2]>;

#[derive(Debug)]
enum Found<'p> {
    Invalid(Vec<RequestError>),
    /// Roles of one exclusive set, sorted by name.
    Exclusive(Vec<String>),
    Deny(Hits<'p>),
    Allow(Hits<'p>),
    /// No allow rule applied; the allow rules that could not be evaluated.
    NoRule(Hits<'p>),
}

/// The outcome of a decision, before its reasons are written out as names: the effect, and
/// for each deciding rule the rule, the role chain, the subject and the scope node.
/// [`Verdict::decision`] gives the full [`Decision`].
#[derive(Debug)]
pub struct Verdict<'a> {
    policy: &'a CompiledPolicy,
    /// The request, when the decision was made from one (not from prepared parts).
    request: Option<&'a Request>,
    principal_id: Cow<'a, str>,
    found: Found<'a>,
}

impl<'a> Verdict<'a> {
    /// Allow or deny (an invalid request is denied).
    pub fn effect(&self) -> Effect {
        match self.found {
            Found::Allow(_) => Effect::Allow,
            Found::Invalid(_) | Found::Exclusive(_) | Found::Deny(_) | Found::NoRule(_) => Effect::Deny,
        }
    }

    /// Whether the request is allowed.
    pub fn is_allow(&self) -> bool {
        self.effect() == Effect::Allow
    }

    /// The decision with its reasons (or request errors) written out.
    pub fn decision(&self) -> Decision {
        let mut decision = match &self.found {
            Found::Invalid(errors) => return Decision::invalid(errors.clone()),
            Found::Exclusive(roles) => Decision {
                decision: Effect::Deny,
                errors: Vec::new(),
                reasons: vec![Reason::Exclusive { roles: roles.clone() }],
            },
            Found::Deny(hits) => Decision {
                decision: Effect::Deny,
                errors: Vec::new(),
                reasons: self.reasons(hits).into_iter().map(Reason::Deny).collect(),
            },
            Found::Allow(hits) => Decision {
                decision: Effect::Allow,
                errors: Vec::new(),
                reasons: self.reasons(hits).into_iter().map(Reason::Allow).collect(),
            },
            Found::NoRule(skipped) => {
                let mut reasons = vec![Reason::NoRule];
                reasons.extend(self.reasons(skipped).into_iter().map(Reason::Skipped));
                Decision { decision: Effect::Deny, errors: Vec::new(), reasons }
            }
        };
        if let Some(request) = self.request {
            crate::identity::annotate(self.policy, request, &mut decision);
        }
        decision
    }

    fn reasons(&self, hits: &[Hit<'_>]) -> Vec<RuleReason> {
        let policy = self.policy;
        let names = |ids: &[RoleId]| ids.iter().filter_map(|r| policy.role_names.get(r.idx()).cloned()).collect();
        let rs = hits.iter().map(|h| {
            let rule = policy.rules.get(h.rule as usize);
            let subject = match h.grant.subject {
                Who::Principal => self.principal_id.to_string(),
                Who::Group(g) => {
                    let name = policy.groups.get(g.idx()).map_or("?", String::as_str);
                    let mut subject = String::with_capacity(6 + name.len());
                    subject.push_str("group:");
                    subject.push_str(name);
                    subject
                }
                Who::Everyone => "everyone".to_string(),
            };
            let rr = RuleReason {
                role: rule.and_then(|r| policy.role_names.get(r.role.idx())).cloned().unwrap_or_default(),
                via: policy.chains.get(h.via as usize).map(|c| names(c)).unwrap_or_default(),
                subject,
                scope: policy.node_paths.get(h.grant.node as usize).cloned().flatten(),
                at: rule.map(|r| r.at.clone()).unwrap_or_default(),
                unevaluable: h.missing.iter().map(ToString::to_string).collect(),
                source: None,
            };
            (rule.map_or((0, 0, 0), |r| r.at_key), rr)
        });
        sort_reasons(rs.collect())
    }
}

/// Decides one request; the reasons stay indexes until [`Verdict::decision`].
pub fn verdict<'a>(policy: &'a CompiledPolicy, request: &'a Request) -> Verdict<'a> {
    match validate::resolve(policy, request) {
        Ok(resolved) => {
            let found = find(policy, &resolved.env());
            Verdict { policy, request: Some(request), principal_id: resolved.principal_id, found }
        }
        Err(errors) => {
            Verdict { policy, request: Some(request), principal_id: Cow::Borrowed(""), found: Found::Invalid(errors) }
        }
    }
}

fn find<'p>(policy: &'p CompiledPolicy, env: &Env<'_>) -> Found<'p> {
    // 1. Subjects(P): its id (when any assignment names it), its declared groups, everyone;
    //    only those holding some role were kept (`env.subjects`).
    if env.subjects.is_empty() {
        return Found::NoRule(Hits::new());
    }

    // 2. Scopes(r) were found with the request (`env.nodes`).
    // 3. Roles(R): the roles assigned to a subject at a scope (ancestors are folded into the
    //    compiled tables).
    let mut grants: SmallVec<[Grant; 8]> = SmallVec::new();
    for &(who, rows) in env.subjects {
        Lookup::held(rows, env.nodes, |node, role| grants.push(Grant { role, subject: who, node }));
    }

    // 5. Separation of duty: two roles of one exclusive set among Roles(R).
    if !policy.exclusive_sets.is_empty()
        && let Some(roles) = exclusive(policy, &grants)
    {
        return Found::Exclusive(roles);
    }

    // 4, 6, 7. Applicable rules; each condition is evaluated once per decision.
    let mut outcomes: SmallVec<[(u32, Outcome<'p>); 4]> = SmallVec::new();
    let mut denies = Hits::new();
    let mut allows = Hits::new();
    let mut skipped = Hits::new();
    for g in &grants {
        let (start, end) = policy.lookup.rules(g.role, env.pair);
        for eff in policy.effective.get(start as usize..end as usize).unwrap_or(&[]) {
            let Some(rule) = policy.rules.get(eff.rule as usize) else { continue };
            let outcome = match outcomes.iter().find(|(r, _)| *r == eff.rule) {
                Some((_, o)) => *o,
                None => {
                    let o = match &rule.cond {
                        None => Outcome::True,
                        Some(c) => cond::eval_bool(c, env),
                    };
                    outcomes.push((eff.rule, o));
                    o
                }
            };
            let hit = |missing| Hit { rule: eff.rule, via: eff.via, grant: *g, missing };
            match (rule.effect, outcome) {
                (Effect::Deny, Outcome::True) => denies.push(hit(None)),
                (Effect::Deny, Outcome::Missing(m)) => denies.push(hit(Some(m))),
                (Effect::Allow, Outcome::True) => allows.push(hit(None)),
                (Effect::Allow, Outcome::Missing(m)) => skipped.push(hit(Some(m))),
                (_, Outcome::False) => {}
            }
        }
    }
    if !denies.is_empty() {
        Found::Deny(denies)
    } else if !allows.is_empty() {
        Found::Allow(allows)
    } else {
        Found::NoRule(skipped)
    }
}

/// The held roles that clash: members of an exclusive set of which two are held, by name.
fn exclusive(policy: &CompiledPolicy, grants: &[Grant]) -> Option<Vec<String>> {
    let clash = clashing_roles(policy, grants.iter().map(|g| g.role));
    (!clash.is_empty()).then_some(clash)
}

/// Design section 5.2 step 5: the names, sorted, of the held roles' closure members that
/// share an `exclusive` set with another (empty when none clash). Deciding and the access
/// reviews both ask it.
pub(crate) fn clashing_roles(policy: &CompiledPolicy, held: impl Iterator<Item = RoleId>) -> Vec<String> {
    let mut members: Vec<(u32, RoleId)> =
        held.filter_map(|r| policy.role_exclusive.get(r.idx())).flatten().copied().collect();
    members.sort_unstable();
    members.dedup();
    let mut out: BTreeSet<String> = BTreeSet::new();
    for w in members.windows(2) {
        if let [a, b] = w
            && a.0 == b.0
        {
            out.extend([a.1, b.1].iter().filter_map(|r| policy.role_names.get(r.idx()).cloned()));
        }
    }
    out.into_iter().collect()
}

/// Orders rule reasons by (`at` as a source position, subject, scope), then chain and role,
/// and drops repeats. Every engine orders reasons with this function.
pub(crate) fn sort_reasons(mut rs: Vec<((u32, u32, u32), RuleReason)>) -> Vec<RuleReason> {
    if rs.len() < 2 {
        return rs.into_iter().map(|(_, r)| r).collect();
    }
    rs.sort_by(|a, b| {
        (a.0, &a.1.subject, &a.1.scope, &a.1.via, &a.1.role).cmp(&(b.0, &b.1.subject, &b.1.scope, &b.1.via, &b.1.role))
    });
    rs.dedup_by(|a, b| a.1 == b.1);
    rs.into_iter().map(|(_, r)| r).collect()
}
