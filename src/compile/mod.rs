//! IR -> [`CompiledPolicy`]: flat tables built once, with no spans and no AST, read by the
//! native evaluator (and by the later WASM emitter, audit log and analyses).
//!
//! A decision looks up, for each (subject, scope node) of the request, the roles assigned
//! there, and for each such role the pre-folded rules on (target type, action), so its cost
//! depends on the request (path depth, groups, applicable conditions), never on how many
//! roles or assignments the policy has.

use crate::check::ir::*;
use crate::diag::Sources;
use crate::eval::ReasonNames;
use crate::graph::RoleGraph;
use crate::syntax::ast::Effect;
pub(crate) mod bundle;
mod lookup;

use compact_str::CompactString;
pub(crate) use lookup::{
    Chain, FAST_PATH, FAST_SEGMENTS, Filter, Lookup, Rows, Segment, SlotCopy, SubjectHash, SubjectNames, held,
    last_slash, prefetch_line, prefix_hash, prefix_hashes,
};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Index of a node of the scope tree: 0 is "everywhere", each other node one whole
/// `type:id` path prefix that some assignment names.
pub type NodeId = u32;
/// Index into the subject table: 0 is `everyone`, then one per group, then literal principals.
pub type SubjectId = u32;

pub(crate) const EVERYONE: SubjectId = 0;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CType {
    pub name: String,
    pub parent: Option<TypeId>,
    pub actions: BTreeSet<ActionId>,
    pub attrs: BTreeMap<String, Ty>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CRule {
    pub role: RoleId,
    pub effect: Effect,
    pub cond: Option<Cond>,
    /// `file:line:col` of the rule.
    pub at: String,
    /// (file index, line, column): reasons sort on this.
    pub at_key: (u32, u32, u32),
}

/// A rule reached from an assigned role, through the `extends` chain `via`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct EffRule {
    pub rule: u32,
    pub via: u32,
}

#[derive(Debug, Clone)]
// `issuer` and `audience` are read by token verification only.
#[allow(dead_code)]
pub(crate) struct CIdentity {
    pub name: String,
    /// The `iss` of the tokens this identity accepts (`identity::TokenVerifier`).
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub user_claim: Option<String>,
    pub groups_claim: Option<String>,
    /// Claim value -> the groups whose alias for this identity it is.
    pub aliases: HashMap<String, Vec<GroupId>>,
}

/// The compiled policy: plain data, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(crate) types: Vec<CType>,
    pub(crate) type_index: HashMap<String, TypeId>,
    pub(crate) actions: Vec<String>,
    pub(crate) action_index: HashMap<String, ActionId>,
    pub(crate) groups: Vec<String>,
    pub(crate) group_index: HashMap<CompactString, GroupId>,
    pub(crate) identities: Vec<CIdentity>,
    pub(crate) identity_index: HashMap<String, usize>,
    pub(crate) principal_attrs: BTreeMap<String, Ty>,
    pub(crate) context_attrs: BTreeMap<String, Ty>,
    pub(crate) role_names: Vec<String>,
    pub(crate) rules: Vec<CRule>,
    /// (assigned role, target type, action) -> range of `effective`.
    pub(crate) role_table: HashMap<(RoleId, TypeId, ActionId), (u32, u32)>,
    pub(crate) effective: Vec<EffRule>,
    pub(crate) chains: Vec<Vec<RoleId>>,
    /// For each role: (exclusive set index, member role) for every member in its closure.
    pub(crate) role_exclusive: Vec<Vec<(u32, RoleId)>>,
    /// The `exclusive` sets, by index.
    pub(crate) exclusive_sets: Vec<Vec<RoleId>>,
    /// Display of each node's path; `None` for everywhere.
    pub(crate) node_paths: Vec<Option<String>>,
    pub(crate) principal_subjects: HashMap<CompactString, SubjectId>,
    /// (subject, node) -> roles assigned there, sorted, without repeats.
    pub(crate) grants: Grants,
    /// The same tables indexed for deciding.
    pub(crate) lookup: Lookup,
    /// Names the reasons of a decision borrow.
    pub(crate) reason_names: ReasonNames,
}

/// The role assignments as one table sorted by (subject, scope node), with each key's roles;
/// the analyses and the emitters read it. Deciding reads the same assignments as one run of
/// (node, role) per subject (`lookup::held`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Grants {
    /// Sorted, without repeats.
    keys: Vec<(SubjectId, NodeId)>,
    /// The roles of `keys[i]` are `roles[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
    roles: Vec<RoleId>,
    /// Subject `s` owns `keys[by_subject[s]..by_subject[s + 1]]`.
    by_subject: Vec<u32>,
}

impl Grants {
    /// Builds the table from (subject, node, role) triples in any order, with repeats.
    fn build(mut list: Vec<(SubjectId, NodeId, RoleId)>, subjects: u32) -> Grants {
        list.sort_unstable();
        list.dedup();
        let mut g = Grants::default();
        for (s, n, r) in list {
            if g.keys.last() != Some(&(s, n)) {
                g.keys.push((s, n));
                g.ends.push(g.ends.last().copied().unwrap_or(0));
            }
            g.roles.push(r);
            if let Some(end) = g.ends.last_mut() {
                *end += 1;
            }
        }
        let mut at = 0usize;
        for s in 0..=subjects {
            while g.keys.get(at).is_some_and(|k| k.0 < s) {
                at += 1;
            }
            g.by_subject.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        g
    }

    fn roles_of(&self, i: usize) -> &[RoleId] {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).map_or(0, |&e| e as usize) };
        let end = self.ends.get(i).map_or(0, |&e| e as usize);
        self.roles.get(start..end).unwrap_or(&[])
    }

    /// Every (subject, node) with its roles, sorted by subject then node.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&(SubjectId, NodeId), &[RoleId])> {
        self.keys.iter().enumerate().map(|(i, k)| (k, self.roles_of(i)))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &(SubjectId, NodeId)> {
        self.keys.iter()
    }
}

impl<'a> IntoIterator for &'a Grants {
    type Item = (&'a (SubjectId, NodeId), &'a [RoleId]);
    type IntoIter = Box<dyn Iterator<Item = Self::Item> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl CompiledPolicy {
    /// Names of every action some type declares, by id.
    pub fn action_names(&self) -> &[String] {
        &self.actions
    }

    /// Names of the resource types, by id.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.iter().map(|t| t.name.as_str())
    }

    /// The subject id of a group.
    pub(crate) fn group_subject(&self, g: GroupId) -> SubjectId {
        g.0 + 1
    }
}

/// Builds the compiled policy from a checked IR.
/// INVARIANT: the IR had no errors (no inheritance cycles, every name resolved).
pub fn compile(ir: &Ir, sources: &Sources, file_order: &dyn Fn(u32) -> u32) -> CompiledPolicy {
    let edges = ir.roles.iter().enumerate().flat_map(|(i, r)| r.parents.iter().map(move |p| (RoleId::from_idx(i), *p)));
    let graph = RoleGraph::new(ir.roles.len(), edges);

    let mut rules = Vec::new();
    // Rules of each role by (type, action), before inheritance.
    let mut own: Vec<BTreeMap<(TypeId, ActionId), Vec<u32>>> = vec![BTreeMap::new(); ir.roles.len()];
    for (ri, role) in ir.roles.iter().enumerate() {
        for rule in &role.rules {
            let id = u32::try_from(rules.len()).unwrap_or(u32::MAX);
            let (line, col) = sources.line_col(rule.span);
            rules.push(CRule {
                role: RoleId::from_idx(ri),
                effect: rule.effect,
                cond: rule.cond.clone(),
                at: sources.location(rule.span),
                at_key: (file_order(rule.span.file), u32::try_from(line).unwrap_or(0), u32::try_from(col).unwrap_or(0)),
            });
            if let Some(map) = own.get_mut(ri) {
                for pair in &rule.pairs {
                    map.entry(*pair).or_default().push(id);
                }
            }
        }
    }

    // Fold inheritance in: each assigned role sees its ancestors' rules with the chain.
    let name_of = |r: RoleId| ir.role_name(r).to_string();
    let mut chains: Vec<Vec<RoleId>> = Vec::new();
    let mut chain_ids: HashMap<Vec<RoleId>, u32> = HashMap::default();
    let mut role_table = HashMap::default();
    let mut effective = Vec::new();
    let mut role_exclusive = Vec::with_capacity(ir.roles.len());
    // The sets each role is a member of (looked up per ancestor: per set, it was roles x sets).
    let mut member_of: HashMap<RoleId, Vec<u32>> = HashMap::default();
    for (si, set) in ir.exclusive.iter().enumerate() {
        for m in set {
            member_of.entry(*m).or_default().push(u32::try_from(si).unwrap_or(u32::MAX));
        }
    }
    for ri in 0..ir.roles.len() {
        let rid = RoleId::from_idx(ri);
        let mut table: BTreeMap<(TypeId, ActionId), Vec<EffRule>> = BTreeMap::new();
        let reach = graph.chains_from(rid, &name_of);
        for (ancestor, chain) in &reach {
            let via = *chain_ids.entry(chain.clone()).or_insert_with(|| {
                chains.push(chain.clone());
                u32::try_from(chains.len() - 1).unwrap_or(u32::MAX)
            });
            if let Some(map) = own.get(ancestor.idx()) {
                for (pair, ids) in map {
                    table.entry(*pair).or_default().extend(ids.iter().map(|&rule| EffRule { rule, via }));
                }
            }
        }
        for ((t, a), list) in table {
            let start = u32::try_from(effective.len()).unwrap_or(u32::MAX);
            effective.extend(list);
            let end = u32::try_from(effective.len()).unwrap_or(u32::MAX);
            role_table.insert((rid, t, a), (start, end));
        }
        // By set, then in the order the ancestors were reached.
        let mut memberships: Vec<(u32, RoleId)> =
            reach.iter().flat_map(|(anc, _)| member_of.get(anc).into_iter().flatten().map(|&si| (si, *anc))).collect();
        memberships.sort_by_key(|(si, _)| *si);
        role_exclusive.push(memberships);
    }

    // Subjects and the scope tree of assignments.
    let mut principal_subjects: HashMap<CompactString, SubjectId> = HashMap::default();
    let group_base = 1u32;
    let mut next_subject = group_base + u32::try_from(ir.groups.len()).unwrap_or(0);
    // Each node once, by (parent, type, id); the ids are borrowed from the assignments.
    let mut children: HashMap<(NodeId, TypeId, &str), NodeId> = HashMap::default();
    let mut node_paths: Vec<Option<String>> = vec![None];
    let mut node_keys: Vec<(NodeId, TypeId, CompactString)> = vec![(0, TypeId(0), CompactString::default())];
    let mut grants: Vec<(SubjectId, NodeId, RoleId)> = Vec::new();
    for a in &ir.assignments {
        let mut node: NodeId = 0;
        for (depth, (t, id)) in a.scope.iter().enumerate() {
            let next = u32::try_from(node_paths.len()).unwrap_or(u32::MAX);
            node = match children.get(&(node, *t, id.as_str())) {
                Some(&child) => child,
                None => {
                    let prefix = a.scope.get(..=depth).unwrap_or(&[]);
                    node_paths.push(Some(crate::path::render(
                        prefix.iter().map(|(t, id)| (ir.type_name(*t), id.as_str())),
                        None,
                    )));
                    children.insert((node, *t, id.as_str()), next);
                    node_keys.push((node, *t, id.clone()));
                    next
                }
            };
        }
        for s in &a.subjects {
            let sid = match s {
                SubjectRef::Everyone => EVERYONE,
                SubjectRef::Group(g) => group_base + g.0,
                SubjectRef::Principal(p) => match principal_subjects.get(p.as_str()) {
                    Some(&sid) => sid,
                    None => {
                        principal_subjects.insert(CompactString::from(p.as_str()), next_subject);
                        next_subject += 1;
                        next_subject - 1
                    }
                },
            };
            grants.extend(a.roles.iter().map(|&r| (sid, node, r)));
        }
    }
    // The tree was only needed to find each node once; `Lookup` keeps it by node id.
    drop(children);
    // Scope nodes in depth-first preorder: a node's subtree is one range of ids, so a
    // subject's rows below one workspace sit together in its sorted run.
    let order = preorder(&node_keys);
    let new_id = |n: NodeId| order.get(n as usize).copied().unwrap_or(n);
    let mut renumbered: Vec<(NodeId, TypeId, CompactString)> =
        vec![(0, TypeId(0), CompactString::default()); node_keys.len()];
    let mut paths: Vec<Option<String>> = vec![None; node_paths.len()];
    for (old, ((parent, t, id), path)) in node_keys.into_iter().zip(node_paths).enumerate() {
        let at = new_id(old as NodeId) as usize;
        if let (Some(k), Some(p)) = (renumbered.get_mut(at), paths.get_mut(at)) {
            *k = (new_id(parent), t, id);
            *p = path;
        }
    }
    let (node_keys, node_paths) = (renumbered, paths);
    for g in &mut grants {
        g.1 = new_id(g.1);
    }
    let grants = Grants::build(grants, next_subject);

    let mut identities = Vec::new();
    let mut identity_index = HashMap::default();
    for (i, ident) in ir.identities.iter().enumerate() {
        let mut aliases: HashMap<String, Vec<GroupId>> = HashMap::default();
        for (gi, g) in ir.groups.iter().enumerate() {
            for (iid, value) in &g.aliases {
                if iid.idx() == i {
                    aliases.entry(value.clone()).or_default().push(GroupId::from_idx(gi));
                }
            }
        }
        identity_index.insert(ident.name.clone(), i);
        identities.push(CIdentity {
            name: ident.name.clone(),
            issuer: ident.issuer.clone(),
            audience: ident.audience.clone(),
            user_claim: ident.user_claim.clone(),
            groups_claim: ident.groups_claim.clone(),
            aliases,
        });
    }

    let types: Vec<CType> = ir
        .types
        .iter()
        .map(|t| CType { name: t.name.clone(), parent: t.parent, actions: t.actions.clone(), attrs: t.attrs.clone() })
        .collect();
    let groups: Vec<String> = ir.groups.iter().map(|g| g.name.clone()).collect();
    let lookup = Lookup::build(
        &types,
        &ir.actions,
        ir.roles.len(),
        role_table.iter().map(|(k, v)| (*k, *v)),
        node_keys,
        &grants,
        SubjectNames { groups: &groups, principals: &principal_subjects },
    );
    let role_names: Vec<String> = ir.roles.iter().map(|r| r.name.clone()).collect();
    let reason_names = ReasonNames::build(&role_names, &chains, &groups);
    CompiledPolicy {
        types,
        type_index: ir.types.iter().enumerate().map(|(i, t)| (t.name.clone(), TypeId::from_idx(i))).collect(),
        actions: ir.actions.clone(),
        action_index: ir.actions.iter().enumerate().map(|(i, a)| (a.clone(), ActionId::from_idx(i))).collect(),
        groups,
        group_index: ir
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (CompactString::from(g.name.as_str()), GroupId::from_idx(i)))
            .collect(),
        identities,
        identity_index,
        principal_attrs: ir.principal_attrs.clone(),
        context_attrs: ir.context_attrs.clone(),
        role_names,
        rules,
        role_table,
        effective,
        chains,
        role_exclusive,
        exclusive_sets: ir.exclusive.clone(),
        node_paths,
        principal_subjects,
        grants,
        lookup,
        reason_names,
    }
}

/// Each scope node's id in depth-first preorder (node 0, everywhere, stays 0; children in
/// id order), from `node_keys[n] = (parent, type, id)`, where a parent's id is below its
/// children's.
fn preorder(node_keys: &[(NodeId, TypeId, CompactString)]) -> Vec<NodeId> {
    let mut kids: Vec<Vec<NodeId>> = vec![Vec::new(); node_keys.len()];
    for (n, (parent, _, _)) in node_keys.iter().enumerate().skip(1) {
        if let Some(k) = kids.get_mut(*parent as usize) {
            k.push(n as NodeId);
        }
    }
    let mut order: Vec<NodeId> = (0..node_keys.len() as NodeId).collect();
    let mut next = 0;
    let mut stack = vec![0];
    while let Some(n) = stack.pop() {
        if let Some(o) = order.get_mut(n as usize) {
            *o = next;
        }
        next += 1;
        stack.extend(kids.get(n as usize).into_iter().flatten().rev());
    }
    order
}
