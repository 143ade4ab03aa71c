//! The indexes a decision reads, laid out so that resolving a request costs one hash per
//! principal, group and path segment and plain array reads for the rest: path types are
//! found among the children of the previous segment's type, actions among the target
//! type's, the scope tree is one hash table keyed by (parent node, type, id), and the
//! rules of an assigned role for a (type, action) pair are a dense table.

use super::{CType, Grants, NodeId, SubjectId};
use crate::check::ir::{ActionId, RoleId, TypeId};
use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::hash::Hasher;

#[derive(Debug, Clone, Default)]
pub(crate) struct Lookup {
    /// Root types, and the child types of each type.
    roots: Vec<TypeId>,
    kids: Vec<Vec<TypeId>>,
    /// `type * actions + action` -> index of the (type, action) pair, or `NO_PAIR`.
    pairs: Vec<u32>,
    actions: usize,
    npairs: usize,
    /// `role * npairs + pair` -> range of `CompiledPolicy::effective`.
    role_rules: Vec<(u32, u32)>,
    /// The scope tree: nodes by (parent, type, id), with each node's key by node id.
    nodes: HashTable<NodeId>,
    /// Ids of up to 24 bytes are stored inline: comparing them reads no other memory.
    node_keys: Vec<(NodeId, TypeId, CompactString)>,
    /// Each subject's assignments as (node, role), sorted by node: subject `s` owns
    /// `rows[row_start[s]..row_start[s + 1]]`, one contiguous run a decision reads.
    row_start: Vec<u32>,
    rows: Vec<(NodeId, RoleId)>,
}

const NO_PAIR: u32 = u32::MAX;

fn node_hash(parent: NodeId, t: TypeId, id: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64((u64::from(parent) << 32) | u64::from(t.0));
    h.write(id.as_bytes());
    h.finish()
}

impl Lookup {
    /// Builds the indexes. `role_table` gives each (role, type, action) its rules;
    /// `node_keys[n]` is node `n`'s (parent, type, id) (node 0, everywhere, has a dummy key).
    pub(super) fn build(
        types: &[CType],
        actions: usize,
        roles: usize,
        role_table: impl Iterator<Item = ((RoleId, TypeId, ActionId), (u32, u32))>,
        node_keys: Vec<(NodeId, TypeId, Box<str>)>,
        grants: &Grants,
    ) -> Lookup {
        let mut l = Lookup { kids: vec![Vec::new(); types.len()], actions, ..Lookup::default() };
        for (&(s, n), roles) in grants {
            while l.row_start.len() <= s as usize {
                l.row_start.push(u32::try_from(l.rows.len()).unwrap_or(u32::MAX));
            }
            l.rows.extend(roles.iter().map(|&r| (n, r)));
        }
        l.row_start.push(u32::try_from(l.rows.len()).unwrap_or(u32::MAX));
        for (i, t) in types.iter().enumerate() {
            match t.parent {
                None => l.roots.push(TypeId::from_idx(i)),
                Some(p) => {
                    if let Some(k) = l.kids.get_mut(p.idx()) {
                        k.push(TypeId::from_idx(i));
                    }
                }
            }
        }
        l.pairs = vec![NO_PAIR; types.len() * actions];
        for (ti, t) in types.iter().enumerate() {
            for a in &t.actions {
                if let Some(slot) = l.pairs.get_mut(ti * actions + a.idx()) {
                    *slot = u32::try_from(l.npairs).unwrap_or(NO_PAIR);
                    l.npairs += 1;
                }
            }
        }
        l.role_rules = vec![(0, 0); roles * l.npairs];
        for ((r, t, a), range) in role_table {
            let Some(&pair) = l.pairs.get(t.idx() * actions + a.idx()) else { continue };
            if let Some(slot) = l.role_rules.get_mut(r.idx() * l.npairs + pair as usize) {
                *slot = range;
            }
        }
        l.nodes = HashTable::with_capacity(node_keys.len());
        for (n, (parent, t, id)) in node_keys.iter().enumerate().skip(1) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            l.nodes.insert_unique(node_hash(*parent, *t, id), n, |&m| {
                node_keys.get(m as usize).map_or(0, |(p, t, id)| node_hash(*p, *t, id))
            });
        }
        l.node_keys = node_keys.into_iter().map(|(p, t, id)| (p, t, CompactString::from(&*id))).collect();
        l
    }

    /// A subject's assignments, as (node, role) sorted by node.
    fn rows_of(&self, subject: SubjectId) -> &[(NodeId, RoleId)] {
        let at = |s: usize| self.row_start.get(s).map_or(self.rows.len(), |&i| i as usize);
        let s = subject as usize;
        self.rows.get(at(s)..at(s + 1)).unwrap_or(&[])
    }

    /// Whether the subject holds any role anywhere.
    pub(crate) fn holds_any(&self, subject: SubjectId) -> bool {
        !self.rows_of(subject).is_empty()
    }

    /// Calls `f(node, role)` for each role `subject` holds at one of `nodes` (without repeats).
    pub(crate) fn held(&self, subject: SubjectId, nodes: &[NodeId], mut f: impl FnMut(NodeId, RoleId)) {
        let rows = self.rows_of(subject);
        if rows.len() <= 8 * nodes.len() {
            for &(n, r) in rows {
                if nodes.contains(&n) {
                    f(n, r);
                }
            }
        } else {
            for &n in nodes {
                let from = rows.partition_point(|&(m, _)| m < n);
                for &(m, r) in rows.get(from..).unwrap_or(&[]) {
                    if m != n {
                        break;
                    }
                    f(n, r);
                }
            }
        }
    }

    /// The type named `name` that may follow `parent` in a path (a root type for `None`).
    pub(crate) fn path_type(&self, types: &[CType], parent: Option<TypeId>, name: &str) -> Option<TypeId> {
        let candidates = match parent {
            None => &self.roots,
            Some(p) => self.kids.get(p.idx())?,
        };
        candidates.iter().copied().find(|t| types.get(t.idx()).is_some_and(|ty| ty.name == name))
    }

    /// The action named `name` of type `t`, and the (type, action) pair it makes.
    pub(crate) fn action(&self, types: &[CType], names: &[String], t: TypeId, name: &str) -> Option<(ActionId, u32)> {
        let a = *types.get(t.idx())?.actions.iter().find(|a| names.get(a.idx()).is_some_and(|n| n == name))?;
        let pair = *self.pairs.get(t.idx() * self.actions + a.idx())?;
        Some((a, pair))
    }

    /// The (type, action) pair of a type and one of its actions.
    pub(crate) fn pair(&self, t: TypeId, a: ActionId) -> Option<u32> {
        self.pairs.get(t.idx() * self.actions + a.idx()).copied().filter(|&p| p != NO_PAIR)
    }

    /// The range of `effective` that holds an assigned role's rules for a pair.
    pub(crate) fn rules(&self, role: RoleId, pair: u32) -> (u32, u32) {
        self.role_rules.get(role.idx() * self.npairs + pair as usize).copied().unwrap_or((0, 0))
    }

    /// The child of scope node `parent` for the segment `type:id`, when assignments name it.
    pub(crate) fn child(&self, parent: NodeId, t: TypeId, id: &str) -> Option<NodeId> {
        self.nodes
            .find(node_hash(parent, t, id), |&n| {
                self.node_keys.get(n as usize).is_some_and(|(p, nt, nid)| *p == parent && *nt == t && **nid == *id)
            })
            .copied()
    }
}
