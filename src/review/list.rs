//! `list`: everything one principal may do, scope by scope (like `kubectl auth can-i
//! --list`). A scope lists the (type, action) pairs whose access there differs from the
//! enclosing listed scope, so each line holds from that scope inwards unless a deeper scope
//! lists the pair again.
//!
//! Cost: O(n·(d + p·h·r)) for the n scope nodes where the principal's subjects (its id, its
//! groups, `everyone`) hold roles, d their depth, p the (type, action) pairs inside a scope,
//! h the roles held there and r their rules on a pair; nodes where the principal holds nothing
//! are never visited.

use super::access::{self, Access, Held, State};
use super::index::AccessIndex;
use crate::check::ir::{ActionId, TypeId};
use crate::compile::{EVERYONE, NodeId, SubjectId};
use crate::request::RequestError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Everything a principal may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The principal id asked about (`user:ann`).
    pub principal: String,
    /// The declared groups it was asked with (undeclared ones are ignored, as in decisions).
    pub groups: Vec<String>,
    /// The resource the listing is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// Outermost first; scopes where nothing differs from the enclosing one are left out.
    pub scopes: Vec<ScopeAccess>,
}

/// The pairs whose access differs at this scope from the enclosing listed scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeAccess {
    /// `None` for everywhere.
    pub scope: Option<String>,
    /// The (type, action) pairs whose access differs here from the enclosing listed scope (for
    /// the outermost: every pair that is not the default deny).
    pub permissions: Vec<Permission>,
}

/// The access on one (type, action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// The resource type (`"type"` in JSON).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The action.
    pub action: String,
    /// The access and the rules behind it (its fields flattened into this object in JSON).
    #[serde(flatten)]
    pub access: Access,
}

impl AccessIndex<'_> {
    /// Everything `principal` (with `groups`) may do, on `on` and inside it or everywhere.
    pub fn list(&self, principal: &str, groups: &[&str], on: Option<&str>) -> Result<Listing, RequestError> {
        let policy = self.policy;
        if !crate::eval::principal_id_ok(principal) {
            return Err(RequestError::new(
                "E0711",
                format!("principal id `{principal}` must be `user:` or `service:` followed by a name"),
            ));
        }
        let mut subjects: Vec<SubjectId> = vec![EVERYONE];
        let mut declared = BTreeSet::new();
        for g in groups {
            if let Some(gid) = policy.group_index.get(*g) {
                subjects.push(policy.group_subject(*gid));
                declared.insert((*g).to_string());
            }
        }
        subjects.extend(policy.principal_subjects.get(principal).copied());
        subjects.sort_unstable();
        subjects.dedup();

        // The top of the listing: everywhere, or the `--on` resource.
        let (top_nodes, top_types, top_scope, inner_root) = match on {
            None => (vec![0], self.all_types(), None, Some(0)),
            Some(path) => {
                let t = self.resolve(path)?;
                let scope = crate::path::render(
                    t.segments.iter().map(|(ty, id)| (self.type_name(*ty), id.as_str())),
                    t.bare.then(|| self.type_name(t.ty)),
                );
                let inner = if t.bare { None } else { t.exact };
                (t.nodes, self.types_within(t.ty), Some(scope), inner)
            }
        };
        let mut inner: Vec<NodeId> = match inner_root {
            Some(root) => subjects
                .iter()
                .filter_map(|s| self.by_subject.get(*s as usize))
                .flatten()
                .copied()
                .filter(|&n| n != root && self.within(n, root))
                .collect(),
            None => Vec::new(),
        };
        inner.sort_unstable();
        inner.dedup();
        inner.sort_by_cached_key(|n| self.scope(*n));

        let mut states: HashMap<Option<NodeId>, HashMap<(TypeId, ActionId), State>> = HashMap::new();
        let mut scopes = Vec::new();
        let top = self.scope_access(&subjects, &top_nodes, &top_types);
        states.insert(None, top.iter().map(|(k, acc)| (*k, acc.state.clone())).collect());
        scopes.push(self.changed(top_scope.clone(), top, &HashMap::new()));
        for &node in &inner {
            let ty = self.segment.get(node as usize).and_then(|s| s.as_ref()).map(|(t, _)| *t);
            let Some(ty) = ty else { continue };
            let here = self.scope_access(&subjects, &self.ancestors_or_self(node), &self.types_within(ty));
            // The nearest enclosing listed scope: an inner node on the way up, else the top.
            let mut up = self.parent.get(node as usize).copied().flatten();
            while let Some(p) = up {
                if Some(p) == inner_root || states.contains_key(&Some(p)) {
                    break;
                }
                up = self.parent.get(p as usize).copied().flatten();
            }
            let key = if up == inner_root { None } else { up };
            let empty = HashMap::new();
            let parent_states = states.get(&key).unwrap_or(&empty);
            let entry = self.changed(self.scope(node), here.clone(), parent_states);
            states.insert(Some(node), here.into_iter().map(|(k, acc)| (k, acc.state)).collect());
            scopes.push(entry);
        }
        scopes.retain(|s| !s.permissions.is_empty());
        Ok(Listing {
            principal: principal.to_string(),
            groups: declared.into_iter().collect(),
            on: on.and(top_scope),
            scopes,
        })
    }

    /// The access on every (type, action) of `types` for roles held on `nodes`.
    fn scope_access(
        &self,
        subjects: &[SubjectId],
        nodes: &[NodeId],
        types: &[TypeId],
    ) -> Vec<((TypeId, ActionId), Access)> {
        let mut held = Vec::new();
        for &node in nodes {
            for &subject in subjects {
                held.extend(self.roles_at(subject, node).iter().map(|&role| Held { role, subject, node }));
            }
        }
        let clash = access::clash(self.policy, &held);
        let mut out = Vec::new();
        for &t in types {
            for a in self.actions_of(t) {
                out.push(((t, a), access::access(self.policy, self, &held, &clash, access::Known::any(t), a)));
            }
        }
        out
    }

    /// The pairs whose state differs from `parent` (missing pairs count as no rule).
    fn changed(
        &self,
        scope: Option<String>,
        here: Vec<((TypeId, ActionId), Access)>,
        parent: &HashMap<(TypeId, ActionId), State>,
    ) -> ScopeAccess {
        let none = State::none();
        let permissions = here
            .into_iter()
            .filter(|(k, acc)| &acc.state != parent.get(k).unwrap_or(&none))
            .map(|((t, a), access)| Permission {
                type_name: self.type_name(t).to_string(),
                action: self.action_name(a).to_string(),
                access,
            })
            .collect();
        ScopeAccess { scope, permissions }
    }
}
