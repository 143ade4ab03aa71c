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

pub(crate) use cond::compare_vals;
pub(crate) use validate::{claim, claim_keys, principal_id_ok};

use crate::check::ir::RoleId;
use crate::compile::{CompiledPolicy, NodeId, SubjectId, held};
use crate::request::{Decision, Principal, Reason, Reasons, Request, RequestError, RuleReason};
use crate::syntax::ast::Effect;
use cond::{Env, Missing, Outcome, Who};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Decides one request, with its reasons written out (their names borrowed from `policy`).
pub fn decide<'p>(policy: &'p CompiledPolicy, request: &Request) -> Decision<'p> {
    // The common case is decided where the fast resolver left it.
    let mut decision = None;
    let fast = validate::fast(policy, request, &mut |env| {
        decision = Some(write_out(policy, Some(request), env.principal_id, &find(policy, env)));
    });
    if fast.is_some()
        && let Some(decision) = decision
    {
        return decision;
    }
    match validate::full(policy, request) {
        Ok(resolved) => {
            let found = find(policy, &resolved.env());
            write_out(policy, Some(request), &resolved.principal_id, &found)
        }
        Err(errors) => Decision::invalid(errors),
    }
}

/// Names that reasons borrow, built once with the policy: each role chain as role names,
/// and each group as a subject (`group:NAME`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReasonNames {
    chains: Vec<Vec<String>>,
    groups: Vec<String>,
}

impl ReasonNames {
    pub(crate) fn build(role_names: &[String], chains: &[Vec<RoleId>], groups: &[String]) -> ReasonNames {
        ReasonNames {
            chains: chains
                .iter()
                .map(|c| c.iter().filter_map(|r| role_names.get(r.idx()).cloned()).collect())
                .collect(),
            groups: groups.iter().map(|g| format!("group:{g}")).collect(),
        }
    }
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
///
/// `'p` is the policy's borrow, which the written-out reasons keep; `'r` is the request's
/// (or the prepared parts').
#[derive(Debug)]
pub struct Verdict<'p, 'r> {
    policy: &'p CompiledPolicy,
    /// The request, when the decision was made from one (not from prepared parts).
    request: Option<&'r Request>,
    principal_id: Cow<'r, str>,
    found: Found<'p>,
}

impl<'p> Verdict<'p, '_> {
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
    pub fn decision(&self) -> Decision<'p> {
        write_out(self.policy, self.request, &self.principal_id, &self.found)
    }

    /// For test coverage: each rule that decided (an allow or a deny) with the assignment
    /// that brought it in, as (rule, subject, scope node, assigned role); `None` as the
    /// subject for a principal that holds no role itself (it cannot be one). And the roles of
    /// the `exclusive` set that denied, if one did.
    pub(crate) fn deciding(&self) -> (Vec<Decided>, Option<&[String]>) {
        let hits = match &self.found {
            Found::Allow(hits) | Found::Deny(hits) => hits.as_slice(),
            Found::Exclusive(roles) => return (Vec::new(), Some(roles)),
            Found::Invalid(_) | Found::NoRule(_) => &[],
        };
        let subject = |who: Who| match who {
            Who::Principal => self.policy.principal_subjects.get(self.principal_id.as_ref()).copied(),
            Who::Group(g) => Some(self.policy.group_subject(g)),
            Who::Everyone => Some(crate::compile::EVERYONE),
        };
        (hits.iter().map(|h| (h.rule, subject(h.grant.subject), h.grant.node, h.grant.role)).collect(), None)
    }
}

/// A rule that decided, with the assignment that brought it in: (rule, subject, scope node,
/// assigned role). See [`Verdict::deciding`].
pub(crate) type Decided = (u32, Option<SubjectId>, NodeId, RoleId);

/// Which [`Reason`] a deciding rule's reason is written out as. Matched where the reason is
/// made (not a function pointer), so it is built in place in the decision's list.
#[derive(Clone, Copy)]
enum Kind {
    Allow,
    Deny,
    Skipped,
}

impl Kind {
    #[inline(always)]
    fn reason(self, r: RuleReason<'_>) -> Reason<'_> {
        match self {
            Kind::Allow => Reason::Allow(r),
            Kind::Deny => Reason::Deny(r),
            Kind::Skipped => Reason::Skipped(r),
        }
    }
}

/// Writes a decision's reasons out as names: the policy's own, borrowed, and the principal id.
fn write_out<'p>(
    policy: &'p CompiledPolicy,
    request: Option<&Request>,
    principal_id: &str,
    found: &Found<'p>,
) -> Decision<'p> {
    let reasons = |hits: &[Hit<'p>], kind: Kind, out: &mut Vec<Reason<'p>>| {
        let name = |h: &Hit<'p>| named(policy, principal_id, h);
        // Most decisions are a default deny without skipped rules, or one deciding rule:
        // neither needs the ordering machinery below.
        match hits {
            [] => return,
            [h] => return out.push(kind.reason(name(h).reason())),
            _ => {}
        }
        // Ordered and without repeats by their borrowed names, then written out. Reasons
        // are ordered by their rule's place first, so the names are looked up only for
        // hits of one rule.
        let place = |h: &Hit<'p>| policy.rules.get(h.rule as usize).map_or((0, 0, 0), |r| r.at_key);
        let mut order: SmallVec<[&Hit<'p>; 8]> = hits.iter().collect();
        order.sort_by(|a, b| {
            place(a).cmp(&place(b)).then_with(|| reason_order(name(a).order_key(), name(b).order_key()))
        });
        order.dedup_by(|a, b| place(a) == place(b) && name(a).same(&name(b)));
        out.reserve_exact(order.len());
        out.extend(order.iter().map(|h| kind.reason(name(h).reason())));
    };
    let written = |hits: &[Hit<'p>], kind: Kind| {
        // Sized up front: the first push into an empty vector would take the growing path.
        let mut out = Vec::with_capacity(hits.len());
        reasons(hits, kind, &mut out);
        out
    };
    let mut decision = match found {
        Found::Invalid(errors) => return Decision::invalid(errors.clone()),
        Found::Exclusive(roles) => Decision {
            decision: Effect::Deny,
            errors: Vec::new(),
            reasons: vec![Reason::Exclusive { roles: roles.clone() }].into(),
        },
        Found::Deny(hits) => {
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: written(hits, Kind::Deny).into() }
        }
        Found::Allow(hits) => {
            Decision { decision: Effect::Allow, errors: Vec::new(), reasons: written(hits, Kind::Allow).into() }
        }
        // A default deny with nothing skipped (most decisions) allocates nothing.
        Found::NoRule(skipped) if skipped.is_empty() => {
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: Reasons::no_rule() }
        }
        Found::NoRule(skipped) => {
            let mut all = Vec::with_capacity(1 + skipped.len());
            all.push(Reason::NoRule);
            reasons(skipped, Kind::Skipped, &mut all);
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: all.into() }
        }
    };
    // Only a principal given as identity-provider claims has group sources to add (tested
    // here, without a call, for the common direct principal).
    if let Some(request) = request
        && matches!(request.principal, Principal::Identity(_))
    {
        crate::identity::annotate(policy, request, &mut decision);
    }
    decision
}

/// A deciding rule's reason with its names borrowed, to order reasons and drop repeats
/// before anything is copied.
struct Named<'p, 'x> {
    at_key: (u32, u32, u32),
    /// The principal's own id (`'x`), or a group's or everyone's subject name (`'p`).
    subject: Result<&'p str, &'x str>,
    scope: Option<&'p str>,
    via: &'p [String],
    role: &'p str,
    at: &'p str,
    missing: Option<Missing<'p>>,
}

impl<'p> Named<'p, '_> {
    fn subject(&self) -> &str {
        match self.subject {
            Ok(s) | Err(s) => s,
        }
    }

    fn order_key(&self) -> ReasonKey<'_> {
        (self.at_key, self.subject(), self.scope, self.via, self.role)
    }

    /// Whether the two reasons would be written out the same.
    fn same(&self, other: &Named<'_, '_>) -> bool {
        self.order_key() == other.order_key() && self.at == other.at && self.missing == other.missing
    }

    fn reason(&self) -> RuleReason<'p> {
        RuleReason {
            role: Cow::Borrowed(self.role),
            via: Cow::Borrowed(self.via),
            subject: match self.subject {
                Ok(s) => Cow::Borrowed(s),
                Err(s) => Cow::Owned(s.to_string()),
            },
            scope: self.scope.map(Cow::Borrowed),
            at: Cow::Borrowed(self.at),
            // Most reasons have none: no collecting machinery for an empty list.
            unevaluable: self.missing.map_or_else(Vec::new, |m| vec![m.to_string()]),
            source: None,
        }
    }
}

fn named<'p, 'x>(policy: &'p CompiledPolicy, principal_id: &'x str, h: &Hit<'p>) -> Named<'p, 'x> {
    let rule = policy.rules.get(h.rule as usize);
    Named {
        at_key: rule.map_or((0, 0, 0), |r| r.at_key),
        subject: match h.grant.subject {
            Who::Principal => Err(principal_id),
            Who::Group(g) => Ok(policy.reason_names.groups.get(g.idx()).map_or("group:?", String::as_str)),
            Who::Everyone => Ok("everyone"),
        },
        scope: policy.node_paths.get(h.grant.node as usize).and_then(Option::as_deref),
        via: policy.reason_names.chains.get(h.via as usize).map_or(&[][..], Vec::as_slice),
        role: rule.and_then(|r| policy.role_names.get(r.role.idx())).map_or("", String::as_str),
        at: rule.map_or("", |r| r.at.as_str()),
        missing: h.missing,
    }
}

/// Decides one request; the reasons stay indexes until [`Verdict::decision`].
pub fn verdict<'p: 'r, 'r>(policy: &'p CompiledPolicy, request: &'r Request) -> Verdict<'p, 'r> {
    // The common case is decided where the fast resolver left it.
    let mut found = None;
    if let Some(id) = validate::fast(policy, request, &mut |env| found = Some(find(policy, env)))
        && let Some(found) = found
    {
        return Verdict { policy, request: Some(request), principal_id: Cow::Borrowed(id), found };
    }
    match validate::full(policy, request) {
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
    find_then(policy, env, |found| found)
}

/// [`find`], handing the outcome to `done` where it is made: a prepared `check` builds its
/// [`Verdict`] there, in its caller's return slot. Returned and then moved into the verdict,
/// the outcome was read back (in 16-byte pieces) right after `find` had stored it (in narrower
/// ones), a store-forwarding stall that perf put at 15 to 45% of a prepared `check`.
#[inline(always)]
fn find_then<'p, R>(policy: &'p CompiledPolicy, env: &Env<'_>, done: impl FnOnce(Found<'p>) -> R) -> R {
    // 1. Subjects(P): its id (when any assignment names it), its declared groups, everyone;
    //    only those holding some role were kept (`env.subjects`).
    if env.subjects.is_empty() {
        return done(Found::NoRule(Hits::new()));
    }

    // 2. Scopes(r) were found with the request (`env.chain`).
    // 4, 6, 7. Applicable rules of a held role; each condition is evaluated once per decision.
    let mut outcomes: SmallVec<[(u32, Outcome<'p>); 4]> = SmallVec::new();
    let mut denies = Hits::new();
    let mut allows = Hits::new();
    let mut skipped = Hits::new();
    let mut apply = |g: Grant| {
        let (start, end) = policy.lookup.rules(g.role, env.pair);
        for eff in policy.effective.get(start as usize..end as usize).unwrap_or(&[]) {
            let Some(rule) = policy.rules.get(eff.rule as usize) else { continue };
            let outcome = match &rule.cond {
                None => Outcome::True,
                Some(c) => match outcomes.iter().find(|(r, _)| *r == eff.rule) {
                    Some((_, o)) => *o,
                    None => {
                        let o = cond::eval_bool(c, env);
                        outcomes.push((eff.rule, o));
                        o
                    }
                },
            };
            let hit = |missing| Hit { rule: eff.rule, via: eff.via, grant: g, missing };
            match (rule.effect, outcome) {
                (Effect::Deny, Outcome::True) => denies.push(hit(None)),
                (Effect::Deny, Outcome::Missing(m)) => denies.push(hit(Some(m))),
                (Effect::Allow, Outcome::True) => allows.push(hit(None)),
                (Effect::Allow, Outcome::Missing(m)) => skipped.push(hit(Some(m))),
                (_, Outcome::False) => {}
            }
        }
    };

    // 3. Roles(R): the roles assigned to a subject at a scope (ancestors are folded into the
    //    compiled tables). Without exclusive sets each is applied as it is found.
    let chain = &env.chain;
    let records = policy.lookup.subject_records();
    if policy.exclusive_sets.is_empty() {
        env.subjects.for_each(records, |who, rows, records| {
            held(records, rows, chain, |node, role| apply(Grant { role, subject: who, node }));
        });
    } else {
        let mut grants: SmallVec<[Grant; 8]> = SmallVec::new();
        env.subjects.for_each(records, |who, rows, records| {
            held(records, rows, chain, |node, role| grants.push(Grant { role, subject: who, node }));
        });
        // 5. Separation of duty: two roles of one exclusive set among Roles(R).
        if let Some(roles) = exclusive(policy, &grants) {
            return done(Found::Exclusive(roles));
        }
        grants.into_iter().for_each(&mut apply);
    }
    if !denies.is_empty() {
        done(Found::Deny(denies))
    } else if !allows.is_empty() {
        done(Found::Allow(allows))
    } else {
        done(Found::NoRule(skipped))
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

/// What rule reasons are ordered by: `at` as a source position, subject, scope, then chain
/// and role.
pub(crate) type ReasonKey<'a> = ((u32, u32, u32), &'a str, Option<&'a str>, &'a [String], &'a str);

/// The order of rule reasons in a decision. Every engine orders reasons with this function
/// (and drops repeats).
pub(crate) fn reason_order(a: ReasonKey<'_>, b: ReasonKey<'_>) -> std::cmp::Ordering {
    a.cmp(&b)
}

/// The [`ReasonKey`] of a written-out reason whose rule is at `at_key`.
pub(crate) fn reason_key<'a>(at_key: (u32, u32, u32), r: &'a RuleReason<'_>) -> ReasonKey<'a> {
    (at_key, &r.subject, r.scope.as_deref(), &r.via, &r.role)
}
