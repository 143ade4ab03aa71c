//! Condition evaluation with "cannot be evaluated" (design section 5.2): reading a missing
//! attribute stops evaluation left to right, and `has` never fails.

use crate::check::ir::{ActionId, Cond, GroupId, Ty, TypeId, Val};
use crate::syntax::ast::{CmpOp, Entity};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A validated request, resolved to the policy's ids.
pub(crate) struct Env<'a> {
    pub principal_id: Cow<'a, str>,
    pub groups: Vec<GroupId>,
    pub segments: Vec<(TypeId, Cow<'a, str>)>,
    pub bare: bool,
    pub target: TypeId,
    pub action: ActionId,
    pub principal_attrs: Vec<(&'a str, Val)>,
    pub resource_attrs: Vec<(&'a str, Val)>,
    pub context_attrs: Vec<(&'a str, Val)>,
    /// The attributes the target type declares.
    pub resource_decl: &'a BTreeMap<String, Ty>,
}

/// The result of a `when`: true, false, or not evaluable because of the named attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    True,
    False,
    Missing(String),
}

pub(crate) fn eval_bool(c: &Cond, env: &Env<'_>) -> Outcome {
    match eval(c, env) {
        Ok(v) if *v == Val::Bool(true) => Outcome::True,
        Ok(_) => Outcome::False,
        Err(attr) => Outcome::Missing(attr),
    }
}

fn attrs<'e, 'a>(env: &'e Env<'a>, e: Entity) -> &'e [(&'a str, Val)] {
    match e {
        Entity::Principal => &env.principal_attrs,
        Entity::Resource => &env.resource_attrs,
        Entity::Context => &env.context_attrs,
    }
}

fn lookup<'e>(env: &'e Env<'_>, e: Entity, name: &str) -> Option<&'e Val> {
    attrs(env, e).iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

type Res<'e> = Result<Cow<'e, Val>, String>;

fn eval<'e>(c: &'e Cond, env: &'e Env<'_>) -> Res<'e> {
    Ok(match c {
        Cond::Lit(v) => Cow::Borrowed(v),
        Cond::Attr(e, name) => match lookup(env, *e, name) {
            Some(v) => Cow::Borrowed(v),
            None => return Err(format!("{}.{name}", e.as_str())),
        },
        Cond::PrincipalId => Cow::Owned(Val::Str(env.principal_id.to_string())),
        Cond::ResourceId => match env.segments.last() {
            Some((_, id)) if !env.bare => Cow::Owned(Val::Str(id.to_string())),
            _ => return Err("resource.id".to_string()),
        },
        Cond::Has(e, name) => Cow::Owned(Val::Bool(match (e, name.as_str()) {
            (Entity::Principal, "id") => true,
            (Entity::Resource, "id") => !env.bare,
            (Entity::Resource, _) => env.resource_decl.contains_key(name) && lookup(env, *e, name).is_some(),
            _ => lookup(env, *e, name).is_some(),
        })),
        Cond::InGroup(g) => Cow::Owned(Val::Bool(env.groups.binary_search(g).is_ok())),
        Cond::Not(inner) => Cow::Owned(Val::Bool(!truthy(eval(inner, env)?.as_ref()))),
        Cond::And(parts) => {
            for p in parts {
                if !truthy(eval(p, env)?.as_ref()) {
                    return Ok(Cow::Owned(Val::Bool(false)));
                }
            }
            Cow::Owned(Val::Bool(true))
        }
        Cond::Or(parts) => {
            for p in parts {
                if truthy(eval(p, env)?.as_ref()) {
                    return Ok(Cow::Owned(Val::Bool(true)));
                }
            }
            Cow::Owned(Val::Bool(false))
        }
        Cond::Cmp(op, l, r) => {
            let l = eval(l, env)?;
            let r = eval(r, env)?;
            Cow::Owned(Val::Bool(compare(*op, &l, &r)))
        }
    })
}

fn truthy(v: &Val) -> bool {
    *v == Val::Bool(true)
}

fn compare(op: CmpOp, l: &Val, r: &Val) -> bool {
    match op {
        CmpOp::Eq => l == r,
        CmpOp::Ne => l != r,
        CmpOp::In => matches!(r, Val::Set(s) if s.contains(l)),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match (l, r) {
            (Val::Int(a), Val::Int(b)) => match op {
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    }
}
