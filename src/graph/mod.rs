//! The role-inheritance graph (petgraph): finds every cycle with all its roles and edges,
//! and gives each role its ancestors and the shortest `extends` chain to each of them.

use crate::check::ir::RoleId;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// `child extends parent` edges over roles `0..n`.
pub struct RoleGraph {
    graph: DiGraph<RoleId, ()>,
}

/// A cycle: its roles (sorted) and its edges `(child, parent)` (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub roles: Vec<RoleId>,
    pub edges: Vec<(RoleId, RoleId)>,
}

impl RoleGraph {
    pub fn new(n: usize, edges: impl IntoIterator<Item = (RoleId, RoleId)>) -> RoleGraph {
        let mut graph = DiGraph::with_capacity(n, 0);
        for i in 0..n {
            graph.add_node(RoleId::from_idx(i));
        }
        for (child, parent) in edges {
            graph.update_edge(NodeIndex::new(child.idx()), NodeIndex::new(parent.idx()), ());
        }
        RoleGraph { graph }
    }

    /// Every strongly connected component that is a cycle (more than one role, or a role that
    /// extends itself), with all the edges inside it.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let mut edges: Vec<(RoleId, RoleId)> = Vec::new();
            for &n in &members {
                for m in self.graph.neighbors(n) {
                    if members.contains(&m) {
                        edges.push((self.graph[n], self.graph[m]));
                    }
                }
            }
            if members.len() > 1 || !edges.is_empty() {
                edges.sort_unstable();
                let mut roles: Vec<RoleId> = members.iter().map(|n| self.graph[*n]).collect();
                roles.sort_unstable();
                out.push(Cycle { roles, edges });
            }
        }
        out.sort_by(|a, b| a.roles.cmp(&b.roles));
        out
    }

    /// Removes the edges of the given cycles, leaving a DAG the later phases can walk.
    pub fn break_cycles(&mut self, cycles: &[Cycle]) {
        for c in cycles {
            for (child, parent) in &c.edges {
                if let Some(e) = self.graph.find_edge(NodeIndex::new(child.idx()), NodeIndex::new(parent.idx())) {
                    self.graph.remove_edge(e);
                }
            }
        }
    }

    fn parents(&self, r: RoleId) -> Vec<RoleId> {
        let mut p: Vec<RoleId> = self.graph.neighbors(NodeIndex::new(r.idx())).map(|n| self.graph[n]).collect();
        p.sort_unstable();
        p
    }

    /// For role `r`: each ancestor (itself included) with the shortest `extends` chain from
    /// `r` to it, starting with `r`. Among chains of one length the first in role-id order of
    /// parents wins, so the result never depends on declaration order of edges.
    /// INVARIANT: the graph has no cycles (call `break_cycles` first).
    pub fn chains_from(&self, r: RoleId, order: &dyn Fn(RoleId) -> String) -> Vec<(RoleId, Vec<RoleId>)> {
        // Sized by the ancestors, not by every role: this runs for each role, and two tables
        // of all roles each time made compiling quadratic in the number of roles.
        let mut prev: HashMap<RoleId, Option<RoleId>> = HashMap::new();
        let mut queue = VecDeque::new();
        let mut out = Vec::new();
        prev.insert(r, None);
        queue.push_back(r);
        while let Some(cur) = queue.pop_front() {
            let mut chain = vec![cur];
            let mut at = cur;
            while let Some(Some(p)) = prev.get(&at) {
                chain.push(*p);
                at = *p;
            }
            chain.reverse();
            out.push((cur, chain));
            let mut parents = self.parents(cur);
            parents.sort_by_key(|p| order(*p));
            for p in parents {
                if let std::collections::hash_map::Entry::Vacant(slot) = prev.entry(p) {
                    slot.insert(Some(cur));
                    queue.push_back(p);
                }
            }
        }
        out
    }

    /// What resolving every role's inherited rules holds: for each role, a chain from it to
    /// each of its ancestors (itself included), as long as the shortest `extends` path. When
    /// the chains' total length passes `limit`, the role at which it did and the length of
    /// its longest chain; `None` within the limit. A long line of `extends` makes the total
    /// grow with the cube of its length (1,000 roles: 170 million), so it is measured first.
    /// INVARIANT: the graph has no cycles (call `break_cycles` first).
    pub fn inherited_over(&self, limit: u64) -> Option<(RoleId, usize)> {
        let n = self.graph.node_count();
        let mut depth: Vec<usize> = vec![usize::MAX; n];
        let mut queue = VecDeque::new();
        let mut total: u64 = 0;
        // The roles one walk reached, to reset only those for the next (resetting every role
        // for each made it quadratic in the number of roles).
        let mut reached: Vec<usize> = Vec::new();
        for r in 0..n {
            for i in reached.drain(..) {
                if let Some(d) = depth.get_mut(i) {
                    *d = usize::MAX;
                }
            }
            if let Some(d) = depth.get_mut(r) {
                *d = 0;
            }
            reached.push(r);
            queue.clear();
            queue.push_back(r);
            let mut deepest = 0;
            while let Some(cur) = queue.pop_front() {
                let d = depth.get(cur).copied().unwrap_or(0);
                deepest = deepest.max(d + 1);
                total += d as u64 + 1;
                for p in self.graph.neighbors(NodeIndex::new(cur)) {
                    let p = p.index();
                    if depth.get(p) == Some(&usize::MAX) {
                        if let Some(dp) = depth.get_mut(p) {
                            *dp = d + 1;
                        }
                        reached.push(p);
                        queue.push_back(p);
                    }
                }
            }
            if total > limit {
                return Some((RoleId::from_idx(r), deepest));
            }
        }
        None
    }

    /// Ancestors of `r`, itself included.
    pub fn closure(&self, r: RoleId) -> BTreeSet<RoleId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![r];
        while let Some(cur) = stack.pop() {
            if seen.insert(cur) {
                stack.extend(self.parents(cur));
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(i: u32) -> RoleId {
        RoleId(i)
    }

    #[test]
    fn finds_every_edge_of_a_cycle_and_self_cycles() {
        let g = RoleGraph::new(4, [(r(0), r(1)), (r(1), r(2)), (r(2), r(0)), (r(3), r(3))]);
        let c = g.cycles();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].roles, vec![r(0), r(1), r(2)]);
        assert_eq!(c[0].edges.len(), 3);
        assert_eq!(c[1].edges, vec![(r(3), r(3))]);
    }

    #[test]
    fn shortest_chain_to_each_ancestor() {
        // 0 extends 1 and 2; 1 extends 3; 2 extends 3.
        let g = RoleGraph::new(4, [(r(0), r(1)), (r(0), r(2)), (r(1), r(3)), (r(2), r(3))]);
        let chains = g.chains_from(r(0), &|x| format!("{}", x.0));
        let to3 = chains.iter().find(|(a, _)| *a == r(3)).map(|(_, c)| c.clone());
        assert_eq!(to3, Some(vec![r(0), r(1), r(3)]));
        assert_eq!(g.closure(r(1)), [r(1), r(3)].into_iter().collect());
    }
}
