//! Requests resolved in parts ahead of time: a principal once for the many decisions of one
//! session or one list filter, a resource once for the many principals asking about it. A
//! decision on prepared parts reads no names: the subjects' assignment runs and the path's
//! scope nodes are already found, and the action is one lookup among the target type's.
//!
//! It decides exactly as [`super::verdict`] decides the request the parts come from; only
//! the errors of an invalid request are reported by the part they belong to.

use super::cond::{Attrs, Env, Groups, Nodes, SubjectList, Who};
use super::validate::{attrs_fit, check_attrs, principal_id_ok, read_path, subjects_of, walk};
use super::{Found, Verdict, find_then};
use crate::check::ir::{Ty, TypeId};
use crate::compile::{Chain, CompiledPolicy, Filter, SlotCopy, prefetch_line};
use crate::request::{DirectPrincipal, RequestError, ResourceRef, invalid};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A direct principal resolved against one policy ([`crate::Policy::subject`]): its id, its
/// declared groups, the assignments of those that hold roles, its attributes type-checked.
#[derive(Debug, Clone)]
pub struct Subject<'p> {
    policy: &'p CompiledPolicy,
    id: String,
    groups: Groups,
    /// The subjects' slots, copied: deciding reads them from here, not from the policy's
    /// index.
    subjects: Vec<(Who, SlotCopy)>,
    attrs: Map<String, Value>,
}

/// A resource resolved against one policy ([`crate::Policy::target`]): its type, its id,
/// the scope nodes of its path, its attributes type-checked.
#[derive(Debug, Clone)]
pub struct Target<'p> {
    policy: &'p CompiledPolicy,
    ty: TypeId,
    id: Option<String>,
    nodes: Nodes,
    /// The nodes' filter, made once.
    filter: Filter,
    attrs: Map<String, Value>,
    decl: &'p BTreeMap<String, Ty>,
}

impl Subject<'_> {
    /// The principal id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Target<'_> {
    /// The resource's id (its last segment's); `None` for a bare type.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

pub(crate) fn subject<'p>(policy: &'p CompiledPolicy, p: &DirectPrincipal) -> Result<Subject<'p>, Vec<RequestError>> {
    let mut errors = Vec::new();
    if !principal_id_ok(&p.id) {
        errors.push(invalid::principal_id(&p.id));
    }
    check_attrs("principal", &p.attrs, &policy.principal_attrs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut groups: Groups = p.groups.iter().filter_map(|g| policy.group_index.get(g.as_str()).copied()).collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(Subject {
        policy,
        subjects: subjects_of(policy, &p.id, &groups).iter().map(|(w, rows)| (*w, policy.lookup.keep(*rows))).collect(),
        id: p.id.clone(),
        groups,
        attrs: p.attrs.clone(),
    })
}

pub(crate) fn target<'p>(policy: &'p CompiledPolicy, r: &ResourceRef) -> Result<Target<'p>, Vec<RequestError>> {
    let mut errors = Vec::new();
    let Some((ty, segments, bare)) = read_path(policy, &r.path, &mut errors) else { return Err(errors) };
    let decl = match policy.types.get(ty.idx()) {
        Some(t) => &t.attrs,
        None => return Err(vec![invalid::unknown_type("?", &r.path)]),
    };
    check_attrs("resource", &r.attrs, decl, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let nodes = walk(policy, &segments);
    Ok(Target {
        policy,
        ty,
        id: if bare { None } else { segments.last().map(|(_, id)| id.to_string()) },
        filter: Chain::new(&nodes).filter(),
        nodes,
        attrs: r.attrs.clone(),
        decl,
    })
}

/// Decides `action` on a prepared target for a prepared subject, with the request context.
pub(crate) fn check<'p, 'r>(
    policy: &'p CompiledPolicy,
    subject: &'r Subject<'p>,
    action: &str,
    target: &'r Target<'p>,
    context: &'r Map<String, Value>,
) -> Verdict<'p, 'r> {
    let invalid =
        |errors| Verdict { policy, request: None, principal_id: Cow::Borrowed(""), found: Found::Invalid(errors) };
    // The subject's kept slots lie apart from it (in its list's buffer): asked for now, their
    // lines arrive while the action is found. The first four: the principal, a few groups and
    // everyone cover most subjects; more would be asked for on every check.
    for kept in subject.subjects.iter().take(4) {
        prefetch_line(kept);
    }
    // Parts of another policy would point into its tables.
    if !std::ptr::eq(subject.policy, policy) || !std::ptr::eq(target.policy, policy) {
        return invalid(vec![invalid::foreign_part()]);
    }
    let Some((_, pair)) = policy.lookup.action(&policy.actions, target.ty, action) else {
        let type_name = policy.types.get(target.ty.idx()).map_or("?", |t| t.name.as_str());
        return invalid(vec![invalid::action(action, type_name)]);
    };
    // Most checks give no context or the policy declares none: answered inline, and only a
    // context that does not fit is read again to name its problems.
    if !attrs_fit(context, &policy.context_attrs) {
        let mut errors = Vec::new();
        check_attrs("context", context, &policy.context_attrs, &mut errors);
        return invalid(errors);
    }
    let env = Env {
        principal_id: &subject.id,
        groups: &subject.groups,
        subjects: SubjectList::Kept(&subject.subjects),
        resource_id: target.id.as_deref(),
        chain: Chain::with_filter(&target.nodes, target.filter),
        pair,
        attrs: Attrs {
            principal: &subject.attrs,
            resource: &target.attrs,
            context,
            principal_decl: &policy.principal_attrs,
            resource_decl: target.decl,
            context_decl: &policy.context_attrs,
        },
    };
    find_then(policy, &env, |found| Verdict { policy, request: None, principal_id: Cow::Borrowed(&subject.id), found })
}
