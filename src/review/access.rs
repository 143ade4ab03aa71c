//! The access a set of held roles gives on one (type, action): design section 5.2 steps 4-8
//! read symbolically, without a request. Conditions are not evaluated but shown, so an
//! [`Access`] says "allowed", "denied", "not allowed", or "allowed when ... unless ...";
//! only what the target alone decides is folded first ([`Known`]): `resource has x` for a
//! type that does not declare `x` is false, an undeclared attribute is never given, and on a
//! path `resource.id` is its id (for a bare type, never given, so a deny that reads it
//! applies and an allow that reads it never does, as deciding fails closed).
//!
//! INVARIANT (checked by `tests/review.rs` against `Policy::decide`): `allow` means every
//! request of a principal holding exactly these roles is allowed, whatever its attributes;
//! `deny`, `exclusive` and `none` mean every such request is denied; `conditional` depends on
//! the request.

use crate::check::ir::{ActionId, Cond, RoleId, TypeId, Val};
use crate::compile::{CompiledPolicy, NodeId, SubjectId};
use crate::syntax::ast::{Effect, Entity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A role a principal holds: the assigned role, the subject it was assigned to, the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Held {
    pub role: RoleId,
    pub subject: SubjectId,
    pub node: NodeId,
}

/// What a decision on this (type, action) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Allowed whatever the request's attributes.
    Allow,
    /// Allowed or denied depending on conditions (`when`, `unless`).
    Conditional,
    /// An unconditional deny rule applies.
    Deny,
    /// Two roles of one `exclusive` set are held: everything is denied.
    Exclusive,
    /// No allow rule applies (the default deny).
    None,
}

/// The access, without where it comes from: what two policies are compared on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct State {
    /// What a request can be decided: allowed, denied, or depending on conditions.
    pub status: Status,
    /// For `conditional`: the conditions of the applicable allow rules, any of which allows;
    /// empty when one of them is unconditional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    /// For `conditional` and `none`: the conditions of the applicable deny rules, any of which
    /// denies when true or when it cannot be evaluated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<String>,
    /// For `exclusive`: the roles of one set that are held together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive: Vec<String>,
}

impl State {
    /// No rule at all: the default deny.
    pub fn none() -> State {
        State { status: Status::None, when: Vec::new(), unless: Vec::new(), exclusive: Vec::new() }
    }

    /// Whether some request can be allowed.
    pub fn permits(&self) -> bool {
        matches!(self.status, Status::Allow | Status::Conditional)
    }

    /// One line for people: `allowed`, `allowed when X`, `denied`, ...
    pub fn describe(&self) -> String {
        let list = |cs: &[String]| cs.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" or ");
        match self.status {
            Status::Allow => "allowed".to_string(),
            Status::Conditional => {
                let mut s = "allowed".to_string();
                if !self.when.is_empty() {
                    s += &format!(" when {}", list(&self.when));
                }
                if !self.unless.is_empty() {
                    s += &format!(" unless {}", list(&self.unless));
                }
                s
            }
            Status::Deny => "denied".to_string(),
            Status::Exclusive => format!(
                "denied: separation of duty ({})",
                self.exclusive.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" and ")
            ),
            Status::None if self.unless.is_empty() => "not allowed".to_string(),
            Status::None => format!("not allowed (denied when {})", list(&self.unless)),
        }
    }
}

/// A rule that applies, and how the principal reached it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleHit {
    /// Allow or deny.
    pub effect: Effect,
    /// The role that holds the rule.
    pub role: String,
    /// The `extends` chain from the assigned role to `role`.
    pub via: Vec<String>,
    /// The subject the role was assigned to.
    pub subject: String,
    /// The assignment's scope; `None` for everywhere.
    pub scope: Option<String>,
    /// The rule's `file:line:col`.
    pub at: String,
    /// The rule's condition as policy text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// The access on one (type, action) and the rules it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The access (its fields flattened into this object in JSON).
    #[serde(flatten)]
    pub state: State,
    /// Every rule that applies, once per way it is reached, sorted, without repeats.
    pub rules: Vec<RuleHit>,
}

/// Names for subjects and scope nodes, so hits read like decision reasons.
pub(crate) trait Names {
    fn subject_name(&self, s: SubjectId) -> String;
    fn scope(&self, n: NodeId) -> Option<String>;
}

impl Names for super::AccessIndex<'_> {
    fn subject_name(&self, s: SubjectId) -> String {
        super::AccessIndex::subject_name(self, s)
    }
    fn scope(&self, n: NodeId) -> Option<String> {
        super::AccessIndex::scope(self, n)
    }
}

/// Step 5: the roles of one `exclusive` set held together (empty when none clash).
pub(crate) fn clash(policy: &CompiledPolicy, held: &[Held]) -> Vec<String> {
    crate::eval::clashing_roles(policy, held.iter().map(|h| h.role))
}

/// What is known of the target before any request: its type, and on a path its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    pub ty: TypeId,
    /// `Some(Some(id))` on a path to one resource, `Some(None)` on a path that ends in a bare
    /// type (no `resource.id`), `None` for any resource of the type (access lists, diffs).
    pub id: Option<Option<&'a str>>,
}

impl Known<'_> {
    /// Any resource of type `ty`.
    pub(crate) fn any(ty: TypeId) -> Known<'static> {
        Known { ty, id: None }
    }
}

/// What a condition is for every request on a [`Known`] target.
enum Folded {
    /// This value, whatever the request.
    Val(Val),
    /// Never evaluable (an attribute the target never has).
    Missing,
    /// Up to the request.
    Unknown,
}

/// A condition as far as the target decides it, evaluated as `eval::cond` evaluates it (left
/// to right; the first part that cannot be evaluated makes the whole not evaluable), with the
/// parts a request supplies left unknown.
fn fold(policy: &CompiledPolicy, c: &Cond, k: Known<'_>) -> Folded {
    let declared = |e: Entity, name: &str| match e {
        Entity::Principal => policy.principal_attrs.contains_key(name),
        Entity::Resource => policy.types.get(k.ty.idx()).is_some_and(|t| t.attrs.contains_key(name)),
        Entity::Context => policy.context_attrs.contains_key(name),
    };
    let truth = |v: &Val| matches!(v, Val::Bool(true));
    match c {
        Cond::Lit(v) => Folded::Val(v.clone()),
        Cond::Attr(e, name) if !declared(*e, name) => Folded::Missing,
        Cond::Attr(..) | Cond::PrincipalId | Cond::InGroup(_) => Folded::Unknown,
        Cond::ResourceId => match k.id {
            Some(Some(id)) => Folded::Val(Val::Str(id.to_string())),
            Some(None) => Folded::Missing,
            None => Folded::Unknown,
        },
        Cond::Has(e, name) => match (e, name.as_str()) {
            (Entity::Principal, "id") => Folded::Val(Val::Bool(true)),
            (Entity::Resource, "id") => k.id.map_or(Folded::Unknown, |id| Folded::Val(Val::Bool(id.is_some()))),
            _ if !declared(*e, name) => Folded::Val(Val::Bool(false)),
            _ => Folded::Unknown,
        },
        Cond::Not(inner) => match fold(policy, inner, k) {
            Folded::Val(v) => Folded::Val(Val::Bool(!truth(&v))),
            other => other,
        },
        Cond::And(parts) => {
            for p in parts {
                match fold(policy, p, k) {
                    Folded::Val(v) if truth(&v) => {}
                    Folded::Val(_) => return Folded::Val(Val::Bool(false)),
                    other => return other,
                }
            }
            Folded::Val(Val::Bool(true))
        }
        Cond::Or(parts) => {
            for p in parts {
                match fold(policy, p, k) {
                    Folded::Val(v) if truth(&v) => return Folded::Val(Val::Bool(true)),
                    Folded::Val(_) => {}
                    other => return other,
                }
            }
            Folded::Val(Val::Bool(false))
        }
        Cond::Cmp(op, l, r) => match fold(policy, l, k) {
            Folded::Val(l) => match fold(policy, r, k) {
                Folded::Val(r) => Folded::Val(Val::Bool(crate::eval::compare_vals(*op, &l, &r))),
                other => other,
            },
            other => other,
        },
    }
}

/// Steps 4-8 on (type, action) for the held roles; `clash` is [`clash`] of the same roles.
/// A rule whose condition the target decides counts as it is decided: a deny that holds or
/// cannot be evaluated is a deny, an allow that holds an allow; one that never takes effect
/// is left out.
pub(crate) fn access(
    policy: &CompiledPolicy,
    names: &dyn Names,
    held: &[Held],
    clash: &[String],
    target: Known<'_>,
    a: ActionId,
) -> Access {
    let t = target.ty;
    let mut rules = Vec::new();
    let (mut allow_always, mut deny_always) = (false, false);
    let (mut when, mut unless) = (BTreeSet::new(), BTreeSet::new());
    for h in held {
        let Some(&(start, end)) = policy.role_table.get(&(h.role, t, a)) else { continue };
        for eff in policy.effective.get(start as usize..end as usize).unwrap_or(&[]) {
            let Some(rule) = policy.rules.get(eff.rule as usize) else { continue };
            let cond = rule.cond.as_ref().map(|c| super::cond_text::cond_text(policy, c));
            let folded = rule.cond.as_ref().map(|c| fold(policy, c, target));
            let holds = |f: &Folded| matches!(f, Folded::Val(Val::Bool(true)));
            match (rule.effect, &folded, &cond) {
                (Effect::Allow, None, _) => allow_always = true,
                (Effect::Deny, None, _) => deny_always = true,
                (Effect::Allow, Some(f), _) if holds(f) => allow_always = true,
                (Effect::Deny, Some(f), _) if holds(f) || matches!(f, Folded::Missing) => deny_always = true,
                (Effect::Allow, Some(Folded::Unknown), Some(c)) => {
                    when.insert(c.clone());
                }
                (Effect::Deny, Some(Folded::Unknown), Some(c)) => {
                    unless.insert(c.clone());
                }
                // Never takes effect on this target.
                _ => continue,
            }
            rules.push(RuleHit {
                effect: rule.effect,
                role: policy.role_names.get(rule.role.idx()).cloned().unwrap_or_default(),
                via: policy
                    .chains
                    .get(eff.via as usize)
                    .map(|c| c.iter().filter_map(|r| policy.role_names.get(r.idx()).cloned()).collect())
                    .unwrap_or_default(),
                subject: names.subject_name(h.subject),
                scope: names.scope(h.node),
                at: rule.at.clone(),
                when: cond,
            });
        }
    }
    rules.sort();
    rules.dedup();
    let has_allow = allow_always || !when.is_empty();
    let state = if !clash.is_empty() {
        State { status: Status::Exclusive, exclusive: clash.to_vec(), ..State::none() }
    } else if deny_always {
        State { status: Status::Deny, ..State::none() }
    } else if !has_allow {
        State { unless: unless.into_iter().collect(), ..State::none() }
    } else if allow_always && unless.is_empty() {
        State { status: Status::Allow, ..State::none() }
    } else {
        State {
            status: Status::Conditional,
            when: if allow_always { Vec::new() } else { when.into_iter().collect() },
            unless: unless.into_iter().collect(),
            exclusive: Vec::new(),
        }
    };
    Access { state, rules }
}
