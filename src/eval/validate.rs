//! Request validation (design section 5.1): resolves a request's names against the compiled
//! policy and types its attributes, or lists every reason it is invalid.

use super::cond::Env;
use crate::check::ir::{GroupId, Ty, Val};
use crate::compile::CompiledPolicy;
use crate::request::{Principal, Request, RequestError, invalid};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

static NO_ATTRS: BTreeMap<String, Ty> = BTreeMap::new();

pub(super) fn resolve<'a>(policy: &'a CompiledPolicy, req: &'a Request) -> Result<Env<'a>, Vec<RequestError>> {
    let mut errors = Vec::new();
    let (principal_id, groups, principal_attrs) = match &req.principal {
        Principal::Direct(p) => {
            let mut groups: Vec<GroupId> = p.groups.iter().filter_map(|g| policy.group_index.get(g).copied()).collect();
            groups.sort_unstable();
            groups.dedup();
            (Cow::Borrowed(p.id.as_str()), groups, &p.attrs)
        }
        Principal::Identity(p) => match map_identity(policy, &p.identity, &p.claims) {
            Ok((id, groups)) => (Cow::Owned(id), groups, &p.attrs),
            Err(e) => {
                errors.push(e);
                (Cow::Borrowed(""), Vec::new(), &p.attrs)
            }
        },
        Principal::Token(p) => {
            errors.push(crate::identity::unverified());
            (Cow::Borrowed(""), Vec::new(), &p.attrs)
        }
    };
    if errors.is_empty() {
        let ok =
            ["user:", "service:"].iter().any(|p| principal_id.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !ok {
            errors.push(invalid::principal_id(&principal_id));
        }
    }

    let mut segments = Vec::new();
    let mut target = None;
    let mut path_ok = false;
    let mut bare = false;
    match crate::path::parse(&req.resource.path) {
        Err(e) => errors.push(invalid::malformed_path(&req.resource.path, &e)),
        Ok(parts) => {
            let mut prev = None;
            let steps = parts.segments.iter().map(|(t, id)| (*t, Some(id))).chain(parts.bare.map(|b| (b, None)));
            for (ty, id) in steps {
                let Some(&tid) = policy.type_index.get(ty) else {
                    errors.push(invalid::unknown_type(ty, &req.resource.path));
                    break;
                };
                let parent = policy.types.get(tid.idx()).and_then(|t| t.parent);
                if parent != prev {
                    let parent_name = parent.map(|p| policy.types.get(p.idx()).map_or("?", |t| t.name.as_str()));
                    errors.push(invalid::off_tree(&req.resource.path, ty, parent_name));
                    break;
                }
                prev = Some(tid);
                target = Some(tid);
                match id {
                    Some(id) => segments.push((tid, id.clone())),
                    None => bare = true,
                }
            }
            path_ok = target.is_some()
                && segments.len() + usize::from(bare) == parts.segments.len() + usize::from(parts.bare.is_some());
        }
    }
    // The action and resource attributes are checked against the target type only once the
    // whole path is valid: a half-read path has no target.
    if !path_ok {
        target = None;
    }

    let mut action = None;
    if let Some(t) = target {
        let ty = policy.types.get(t.idx());
        match policy.action_index.get(&req.action) {
            Some(a) if ty.is_some_and(|ty| ty.actions.contains(a)) => action = Some(*a),
            _ => errors.push(invalid::action(&req.action, ty.map_or("?", |t| t.name.as_str()))),
        }
    }

    let resource_decl = target.and_then(|t| policy.types.get(t.idx())).map_or(&NO_ATTRS, |t| &t.attrs);
    let principal_attrs = typed_attrs("principal", principal_attrs, &policy.principal_attrs, &mut errors);
    let resource_attrs = typed_attrs("resource", &req.resource.attrs, resource_decl, &mut errors);
    let context_attrs = typed_attrs("context", &req.context, &policy.context_attrs, &mut errors);

    match (target, action) {
        (Some(target), Some(action)) if errors.is_empty() => Ok(Env {
            principal_id,
            groups,
            segments,
            bare,
            target,
            action,
            principal_attrs,
            resource_attrs,
            context_attrs,
            resource_decl,
        }),
        _ => Err(errors),
    }
}

/// Maps verified claims through an `identity` block: the user claim names the principal,
/// each groups-claim value selects the groups whose alias for this identity it is.
fn map_identity(
    policy: &CompiledPolicy,
    identity: &str,
    claims: &Map<String, Value>,
) -> Result<(String, Vec<GroupId>), RequestError> {
    let Some(ident) = policy.identity_index.get(identity).and_then(|i| policy.identities.get(*i)) else {
        return Err(invalid::unknown_identity(identity));
    };
    let user_claim = ident.user_claim.as_deref().unwrap_or("sub");
    let user = match claim(claims, user_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(invalid::user_claim_empty(user_claim, &ident.name)),
        Some(_) => return Err(invalid::user_claim_not_string(user_claim, &ident.name)),
        None => return Err(invalid::user_claim_missing(user_claim)),
    };
    let mut groups = Vec::new();
    if let Some(gc) = &ident.groups_claim {
        match claim(claims, gc) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for v in values {
                    let Value::String(s) = v else {
                        return Err(invalid::groups_claim(gc));
                    };
                    if let Some(gs) = ident.aliases.get(s) {
                        groups.extend(gs.iter().copied());
                    }
                }
            }
            Some(_) => return Err(invalid::groups_claim(gc)),
        }
    }
    groups.sort_unstable();
    groups.dedup();
    Ok((format!("user:{user}"), groups))
}

/// A claim by name; a dotted name that is not a key itself walks nested objects
/// (`realm_access.roles`).
pub(crate) fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn typed_attrs<'a>(
    entity: &str,
    given: &'a Map<String, Value>,
    declared: &BTreeMap<String, Ty>,
    errors: &mut Vec<RequestError>,
) -> Vec<(&'a str, Val)> {
    let mut out = Vec::new();
    for (name, value) in given {
        let Some(ty) = declared.get(name) else { continue };
        if value.is_null() {
            continue;
        }
        match json_to_val(value, ty) {
            Some(v) => out.push((name.as_str(), v)),
            None => errors.push(invalid::attr_type(entity, name, &ty.to_string(), value)),
        }
    }
    out
}

/// Converts a JSON value to a typed value, or `None` when it does not have the type.
pub(crate) fn json_to_val(v: &Value, ty: &Ty) -> Option<Val> {
    match (ty, v) {
        (Ty::String, Value::String(s)) => Some(Val::Str(s.clone())),
        (Ty::Int, Value::Number(n)) => n.as_i64().map(Val::Int),
        (Ty::Bool, Value::Bool(b)) => Some(Val::Bool(*b)),
        (Ty::Set(elem), Value::Array(items)) => {
            items.iter().map(|i| json_to_val(i, elem)).collect::<Option<_>>().map(Val::Set)
        }
        _ => None,
    }
}
