//! [`AccessIndex`]: the compiled policy's assignments indexed both ways, by scope node and by
//! subject, with the scope tree's parent links, so that `who-can` walks only the nodes on one
//! path and `list` only the nodes where one principal's subjects hold roles.
//!
//! Building it is O(g log g) for g (subject, node) grants; it is plain data and reads the
//! compiled policy without changing it.

use crate::check::ir::{RoleId, TypeId};
use crate::compile::{CompiledPolicy, EVERYONE, NodeId, SubjectId};

/// Assignments by scope node and by subject, and the scope tree walked upwards.
#[derive(Debug)]
pub struct AccessIndex<'p> {
    pub(crate) policy: &'p CompiledPolicy,
    /// Parent of each scope node (`None` for everywhere).
    pub(crate) parent: Vec<Option<NodeId>>,
    /// The last segment of each node: its type and id (`None` for everywhere).
    pub(crate) segment: Vec<Option<(TypeId, String)>>,
    /// Node -> (subject, roles assigned there), sorted by subject.
    pub(crate) by_node: Vec<Vec<(SubjectId, &'p [RoleId])>>,
    /// Subject -> nodes where it holds roles, sorted (subject ids are dense).
    pub(crate) by_subject: Vec<Vec<NodeId>>,
    /// The id of each literal principal subject, by subject id.
    principal_names: Vec<Option<&'p str>>,
    /// Child types of each type.
    pub(crate) child_types: Vec<Vec<TypeId>>,
}

impl<'p> AccessIndex<'p> {
    /// Indexes a compiled policy (see [`crate::Policy::compiled`]).
    pub fn new(policy: &'p CompiledPolicy) -> AccessIndex<'p> {
        let n = policy.node_paths.len();
        // Node 0 (everywhere) has neither a parent nor a segment.
        let keys = policy.lookup.node_keys().iter().enumerate().map(|(n, key)| (n > 0).then_some(key));
        let parent = keys.clone().map(|k| k.map(|(p, _, _)| *p)).collect();
        let segment = keys.map(|k| k.map(|(_, t, id)| (*t, id.to_string()))).collect();
        let subjects =
            policy.principal_subjects.values().max().map_or(0, |m| *m as usize + 1).max(policy.groups.len() + 1);
        let mut by_node: Vec<Vec<(SubjectId, &'p [RoleId])>> = vec![Vec::new(); n];
        let mut by_subject: Vec<Vec<NodeId>> = vec![Vec::new(); subjects];
        for ((subject, node), roles) in &policy.grants {
            if let Some(list) = by_node.get_mut(*node as usize) {
                list.push((*subject, roles));
            }
            if let Some(nodes) = by_subject.get_mut(*subject as usize) {
                nodes.push(*node);
            }
        }
        for list in &mut by_node {
            list.sort_unstable_by_key(|(s, _)| *s);
        }
        for nodes in &mut by_subject {
            nodes.sort_unstable();
        }
        let mut principal_names = vec![None; subjects];
        for (id, s) in &policy.principal_subjects {
            if let Some(slot) = principal_names.get_mut(*s as usize) {
                *slot = Some(id.as_str());
            }
        }
        let mut child_types = vec![Vec::new(); policy.types.len()];
        for (i, t) in policy.types.iter().enumerate() {
            if let Some(kids) = t.parent.and_then(|p| child_types.get_mut(p.idx())) {
                kids.push(TypeId::from_idx(i));
            }
        }
        AccessIndex { policy, parent, segment, by_node, by_subject, principal_names, child_types }
    }

    /// Display name of a subject: `everyone`, `group:g`, or the principal id.
    pub(crate) fn subject_name(&self, s: SubjectId) -> String {
        if s == EVERYONE {
            return "everyone".to_string();
        }
        if let Some(g) = (s as usize).checked_sub(1).and_then(|g| self.policy.groups.get(g)) {
            return format!("group:{g}");
        }
        match self.principal_names.get(s as usize) {
            Some(Some(id)) => (*id).to_string(),
            _ => format!("subject#{s}"),
        }
    }

    /// The scope path of a node as policies write it; `None` for everywhere.
    pub(crate) fn scope(&self, node: NodeId) -> Option<String> {
        self.policy.node_paths.get(node as usize).cloned().flatten()
    }

    /// The node and its ancestors, outermost (everywhere) first.
    pub(crate) fn ancestors_or_self(&self, node: NodeId) -> Vec<NodeId> {
        let mut out = vec![node];
        let mut at = node;
        while let Some(Some(p)) = self.parent.get(at as usize) {
            out.push(*p);
            at = *p;
        }
        out.reverse();
        out
    }

    /// Whether `inner` is `outer` or inside it.
    pub(crate) fn within(&self, inner: NodeId, outer: NodeId) -> bool {
        let mut at = Some(inner);
        while let Some(n) = at {
            if n == outer {
                return true;
            }
            at = self.parent.get(n as usize).copied().flatten();
        }
        false
    }

    /// The roles assigned to `subject` at `node`.
    pub(crate) fn roles_at(&self, subject: SubjectId, node: NodeId) -> &'p [RoleId] {
        self.by_node
            .get(node as usize)
            .and_then(|list| list.binary_search_by_key(&subject, |(s, _)| *s).ok().and_then(|i| list.get(i)))
            .map_or(&[], |(_, roles)| roles)
    }

    /// A type and every type inside it, in tree order.
    pub(crate) fn types_within(&self, t: TypeId) -> Vec<TypeId> {
        let mut out = vec![t];
        let mut i = 0;
        while let Some(&cur) = out.get(i) {
            if let Some(kids) = self.child_types.get(cur.idx()) {
                out.extend(kids.iter().copied());
            }
            i += 1;
        }
        out
    }

    /// Every type, roots first then down the tree.
    pub(crate) fn all_types(&self) -> Vec<TypeId> {
        let mut out = Vec::new();
        for (i, t) in self.policy.types.iter().enumerate() {
            if t.parent.is_none() {
                out.extend(self.types_within(TypeId::from_idx(i)));
            }
        }
        out
    }
}
