//! Condition evaluation with "cannot be evaluated" (design section 5.2): reading a missing
//! attribute stops evaluation left to right, and `has` never fails.
//!
//! Values are read in place: attributes stay in the request's JSON (validation has already
//! checked their types) and literals in the compiled policy, so evaluating a condition does
//! not allocate, except to compare two sets for equality.

use crate::check::ir::{Cond, GroupId, Ty, Val};
use crate::compile::{Chain, NodeId, Rows, SlotCopy};
use crate::syntax::ast::{CmpOp, Entity};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// A request's groups, resolved and sorted.
pub(crate) type Groups = SmallVec<[GroupId; 4]>;
/// The scope nodes of a request path: everywhere (0), then each whole-segment prefix that
/// some assignment names, from the root down.
pub(crate) type Nodes = SmallVec<[NodeId; 8]>;

/// Who a subject of the request is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Who {
    Principal,
    Group(GroupId),
    Everyone,
}

/// The request's subjects that hold some role, each with its run of assignments: the principal id, its groups by id, then `everyone`.
pub(crate) type Subjects<'a> = SmallVec<[(Who, Rows<'a>); 6]>;

/// Adds a subject when it holds any role.
pub(crate) fn add_subject<'a>(subjects: &mut Subjects<'a>, who: Who, rows: Rows<'a>) {
    if !rows.is_empty() {
        subjects.push((who, rows));
    }
}

/// The subjects a decision reads: found for a request (their slots in the policy's index),
/// or kept by a prepared subject (copies of them).
#[derive(Clone, Copy)]
pub(crate) enum SubjectList<'e> {
    Found(&'e [(Who, Rows<'e>)]),
    Kept(&'e [(Who, SlotCopy)]),
}

impl<'e> SubjectList<'e> {
    pub(crate) fn is_empty(self) -> bool {
        match self {
            SubjectList::Found(s) => s.is_empty(),
            SubjectList::Kept(k) => k.is_empty(),
        }
    }

    /// Calls `f` with each subject and its rows (in one loop: one copy of `f`), and the
    /// records to read them in: `records` (the policy's subject records), or a kept subject's
    /// own copy of its record.
    #[inline(always)]
    pub(crate) fn for_each(self, records: &'e [u8], mut f: impl FnMut(Who, Rows<'e>, &'e [u8])) {
        let n = match self {
            SubjectList::Found(s) => s.len(),
            SubjectList::Kept(k) => k.len(),
        };
        for i in 0..n {
            let subject = match self {
                SubjectList::Found(s) => s.get(i).map(|&(w, rows)| (w, rows, records)),
                SubjectList::Kept(k) => k.get(i).map(|(w, slot)| (*w, slot.rows(), slot.records().unwrap_or(records))),
            };
            if let Some((w, rows, records)) = subject {
                f(w, rows, records);
            }
        }
    }
}

/// A validated request, resolved to the policy's ids, owning what it could not borrow
/// from the request. [`Resolved::env`] is what deciding reads.
pub(crate) struct Resolved<'a> {
    pub principal_id: Cow<'a, str>,
    pub groups: Groups,
    pub subjects: Subjects<'a>,
    pub resource_id: Option<Cow<'a, str>>,
    pub nodes: Nodes,
    pub pair: u32,
    pub attrs: Attrs<'a>,
}

impl Resolved<'_> {
    pub(crate) fn env(&self) -> Env<'_> {
        Env {
            principal_id: &self.principal_id,
            groups: &self.groups,
            subjects: SubjectList::Found(&self.subjects),
            resource_id: self.resource_id.as_deref(),
            chain: Chain::new(&self.nodes),
            pair: self.pair,
            attrs: self.attrs,
        }
    }
}

/// What a decision reads of a validated request: borrowed, so that a request resolved once
/// (or prepared in parts) is decided without copying.
pub(crate) struct Env<'e> {
    pub principal_id: &'e str,
    /// The request's groups, resolved and sorted.
    pub groups: &'e [GroupId],
    pub subjects: SubjectList<'e>,
    /// The target's id (its last segment's); `None` for a bare type.
    pub resource_id: Option<&'e str>,
    /// The scope nodes of the target's path.
    pub chain: Chain<'e>,
    /// The (target type, action) pair, which indexes the role tables.
    pub pair: u32,
    pub attrs: Attrs<'e>,
}

/// Given attributes, as the request has them (those the policy declares have the declared
/// types), and the declared ones: the principal's, the target type's and the context's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a> {
    pub principal: &'a Map<String, Value>,
    pub resource: &'a Map<String, Value>,
    pub context: &'a Map<String, Value>,
    pub principal_decl: &'a BTreeMap<String, Ty>,
    pub resource_decl: &'a BTreeMap<String, Ty>,
    pub context_decl: &'a BTreeMap<String, Ty>,
}

/// The attribute that made a condition not evaluable (`resource.owner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Missing<'p> {
    pub entity: Entity,
    pub name: &'p str,
}

impl std::fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.entity.as_str(), self.name)
    }
}

/// The result of a `when`: true, false, or not evaluable because of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'p> {
    True,
    False,
    Missing(Missing<'p>),
}

pub(crate) fn eval_bool<'p>(c: &'p Cond, env: &Env<'_>) -> Outcome<'p> {
    match eval(c, env) {
        Ok(v) => {
            if truthy(v) {
                Outcome::True
            } else {
                Outcome::False
            }
        }
        Err(m) => Outcome::Missing(m),
    }
}

/// A value read in place.
#[derive(Debug, Clone, Copy)]
enum V<'e> {
    Bool(bool),
    Int(i64),
    Str(&'e str),
    /// A set literal of the policy.
    LitSet(&'e BTreeSet<Val>),
    /// A set attribute of the request (a JSON array; repeats count once).
    JsonSet(&'e [Value]),
}

impl<'e> V<'e> {
    fn lit(v: &'e Val) -> V<'e> {
        match v {
            Val::Str(s) => V::Str(s),
            Val::Int(i) => V::Int(*i),
            Val::Bool(b) => V::Bool(*b),
            Val::Set(s) => V::LitSet(s),
        }
    }

    /// A JSON value that validation has checked against its declared type.
    fn json(v: &'e Value) -> V<'e> {
        match v {
            Value::String(s) => V::Str(s),
            Value::Bool(b) => V::Bool(*b),
            Value::Array(items) => V::JsonSet(items),
            Value::Number(n) => n.as_i64().map_or(V::Bool(false), V::Int),
            Value::Null | Value::Object(_) => V::Bool(false),
        }
    }

    /// The value as an owned `Val` (to compare sets).
    fn owned(self) -> Val {
        match self {
            V::Bool(b) => Val::Bool(b),
            V::Int(i) => Val::Int(i),
            V::Str(s) => Val::Str(s.to_string()),
            V::LitSet(s) => Val::Set(s.clone()),
            V::JsonSet(items) => Val::Set(items.iter().map(|i| V::json(i).owned()).collect()),
        }
    }
}

fn truthy(v: V<'_>) -> bool {
    matches!(v, V::Bool(true))
}

fn attrs<'e>(env: &'e Env<'_>, e: Entity) -> (&'e Map<String, Value>, &'e BTreeMap<String, Ty>) {
    let a = &env.attrs;
    match e {
        Entity::Principal => (a.principal, a.principal_decl),
        Entity::Resource => (a.resource, a.resource_decl),
        Entity::Context => (a.context, a.context_decl),
    }
}

/// A declared attribute the request gives (a JSON `null` is not given).
fn lookup<'e>(env: &'e Env<'_>, e: Entity, name: &str) -> Option<&'e Value> {
    let (given, declared) = attrs(env, e);
    given.get(name).filter(|v| !v.is_null() && declared.contains_key(name))
}

fn eval<'p: 'e, 'e>(c: &'p Cond, env: &'e Env<'_>) -> Result<V<'e>, Missing<'p>> {
    Ok(match c {
        Cond::Lit(v) => V::lit(v),
        Cond::Attr(e, name) => match lookup(env, *e, name) {
            Some(v) => V::json(v),
            None => return Err(Missing { entity: *e, name }),
        },
        Cond::PrincipalId => V::Str(env.principal_id),
        Cond::ResourceId => match env.resource_id {
            Some(id) => V::Str(id),
            None => return Err(Missing { entity: Entity::Resource, name: "id" }),
        },
        Cond::Has(e, name) => V::Bool(match (e, name.as_str()) {
            (Entity::Principal, "id") => true,
            (Entity::Resource, "id") => env.resource_id.is_some(),
            _ => lookup(env, *e, name).is_some(),
        }),
        Cond::InGroup(g) => V::Bool(env.groups.binary_search(g).is_ok()),
        Cond::Not(inner) => V::Bool(!truthy(eval(inner, env)?)),
        Cond::And(parts) => {
            for p in parts {
                if !truthy(eval(p, env)?) {
                    return Ok(V::Bool(false));
                }
            }
            V::Bool(true)
        }
        Cond::Or(parts) => {
            for p in parts {
                if truthy(eval(p, env)?) {
                    return Ok(V::Bool(true));
                }
            }
            V::Bool(false)
        }
        Cond::Cmp(op, l, r) => {
            let l = eval(l, env)?;
            let r = eval(r, env)?;
            V::Bool(compare(*op, l, r))
        }
    })
}

/// `l OP r` for two of the policy's values, as a condition compares them: the access reviews
/// fold the parts of a condition that the target alone decides.
pub(crate) fn compare_vals(op: CmpOp, l: &Val, r: &Val) -> bool {
    compare(op, V::lit(l), V::lit(r))
}

/// Equality of two values of one type (the checker guarantees the types match; values of
/// different types are unequal).
fn equal(l: V<'_>, r: V<'_>) -> bool {
    match (l, r) {
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Int(a), V::Int(b)) => a == b,
        (V::Str(a), V::Str(b)) => a == b,
        (V::LitSet(a), V::LitSet(b)) => a == b,
        (V::LitSet(_) | V::JsonSet(_), V::LitSet(_) | V::JsonSet(_)) => l.owned() == r.owned(),
        _ => false,
    }
}

fn compare(op: CmpOp, l: V<'_>, r: V<'_>) -> bool {
    match op {
        CmpOp::Eq => equal(l, r),
        CmpOp::Ne => !equal(l, r),
        // A set sought in a set of sets is made comparable once, not once an element: that
        // made a 100 KB request of two such attributes take 20 seconds.
        CmpOp::In if matches!(l, V::LitSet(_) | V::JsonSet(_)) => {
            let sought = l.owned();
            match r {
                V::LitSet(s) => s.contains(&sought),
                V::JsonSet(items) => items.iter().any(|x| matches!(x, Value::Array(_)) && V::json(x).owned() == sought),
                _ => false,
            }
        }
        CmpOp::In => match r {
            V::LitSet(s) => s.iter().any(|x| equal(l, V::lit(x))),
            V::JsonSet(items) => items.iter().any(|x| equal(l, V::json(x))),
            _ => false,
        },
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match (l, r) {
            (V::Int(a), V::Int(b)) => match op {
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    }
}
