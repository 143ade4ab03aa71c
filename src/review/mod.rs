//! Access review over the compiled policy: who may do an action on a resource
//! ([`AccessIndex::who_can`]), what one principal may do ([`AccessIndex::list`]), and what
//! changed in who may do what between two policies ([`diff()`]), and what a policy's own tests
//! exercise ([`Coverage`]). Everything is read from the
//! compiled tables, the same ones `decide` reads, and says which role, subject and scope each
//! answer comes from. `docs/audit.md` defines the terms precisely.

mod access;
mod cond_text;
mod coverage;
mod diff;
pub(crate) mod facts;
mod index;
mod list;
mod who_can;

pub use access::{Access, RuleHit, State, Status};
pub use coverage::{AssignmentCoverage, Coverage, ExclusiveCoverage, RuleCoverage};
pub use diff::{Change, ChangeKind, Edit, PolicyDiff, diff};
pub use index::AccessIndex;
pub use list::{Listing, Permission, ScopeAccess};
pub use who_can::{SubjectAccess, WhoCan};

pub(crate) use cond_text::cond_text;
pub(crate) use coverage::coverage;

use crate::check::ir::{ActionId, TypeId};
use crate::compile::NodeId;
use crate::request::RequestError;

/// A resource path resolved against the policy's types and scope tree.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The target type (the last segment's, bare or not).
    pub ty: TypeId,
    /// The whole `type:id` segments.
    pub segments: Vec<(TypeId, String)>,
    /// Whether the path ends in a bare type.
    pub bare: bool,
    /// Everywhere, then each whole-segment prefix of the path that is a scope node.
    pub nodes: Vec<NodeId>,
    /// The scope node naming exactly the whole-segment part of the path, if there is one.
    pub exact: Option<NodeId>,
}

impl AccessIndex<'_> {
    /// Resolves a path as design section 5.1 reads request paths (same error codes).
    pub(crate) fn resolve(&self, path: &str) -> Result<Target, RequestError> {
        let policy = self.policy;
        let parts = crate::path::parse(path)
            .map_err(|e| RequestError::new("E0721", format!("malformed resource path `{path}`: {e}")))?;
        let mut segments = Vec::new();
        let mut prev = None;
        let steps = parts.segments.iter().map(|(t, id)| (*t, Some(id))).chain(parts.bare.map(|b| (b, None)));
        let mut ty = None;
        for (name, id) in steps {
            let tid = *policy.type_index.get(name).ok_or_else(|| {
                RequestError::new("E0722", format!("unknown resource type `{name}` in path `{path}`"))
            })?;
            let parent = policy.types.get(tid.idx()).and_then(|t| t.parent);
            if parent != prev {
                let expected = match parent.and_then(|p| policy.types.get(p.idx())) {
                    Some(p) => format!("`{name}` must be inside `{}`", p.name),
                    None => format!("`{name}` is a root type"),
                };
                return Err(RequestError::new(
                    "E0723",
                    format!("path `{path}` does not follow the resource tree: {expected}"),
                ));
            }
            prev = Some(tid);
            ty = Some(tid);
            if let Some(id) = id {
                segments.push((tid, id.to_string()));
            }
        }
        let ty = ty.ok_or_else(|| RequestError::new("E0721", format!("malformed resource path `{path}`")))?;
        let mut nodes = vec![0];
        let mut node = 0;
        for (t, id) in &segments {
            match policy.lookup.child(node, *t, id) {
                Some(child) => {
                    node = child;
                    nodes.push(child);
                }
                None => break,
            }
        }
        let exact = (nodes.len() == segments.len() + 1).then_some(node);
        Ok(Target { ty, segments, bare: parts.bare.is_some(), nodes, exact })
    }

    /// The id of an action declared on a type, or the invalid-request error.
    pub(crate) fn action_on(&self, action: &str, ty: TypeId) -> Result<ActionId, RequestError> {
        let t = self.policy.types.get(ty.idx());
        match self.policy.action_index.get(action) {
            Some(a) if t.is_some_and(|t| t.actions.contains(a)) => Ok(*a),
            _ => Err(RequestError::new(
                "E0731",
                format!("action `{action}` is not declared on `{}`", t.map_or("?", |t| t.name.as_str())),
            )),
        }
    }

    pub(crate) fn type_name(&self, t: TypeId) -> &str {
        self.policy.types.get(t.idx()).map_or("?", |t| t.name.as_str())
    }

    pub(crate) fn action_name(&self, a: ActionId) -> &str {
        self.policy.actions.get(a.idx()).map_or("?", String::as_str)
    }

    /// The actions declared on a type, by name.
    pub(crate) fn actions_of(&self, t: TypeId) -> Vec<ActionId> {
        let mut out: Vec<ActionId> =
            self.policy.types.get(t.idx()).map(|t| t.actions.iter().copied().collect()).unwrap_or_default();
        out.sort_by(|a, b| self.action_name(*a).cmp(self.action_name(*b)));
        out
    }
}
