//! The checks that need the resolved declarations: rules and their action/type expansion,
//! assignment paths, `exclusive` sets over static assignments, `test` blocks, and warnings.

use super::Checker;
use super::cond::value_val;
use super::ir::*;
use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::graph::RoleGraph;
use crate::syntax::ast::{self, Effect, Entity, Item};
use serde_json::Value as Json;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};

impl Checker<'_, '_> {
    /// Every action name anywhere (declared on a type, or a plain member of a set).
    fn known_action_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.ir.actions.iter().cloned().collect();
        names.extend(self.decls.sets.keys().cloned());
        names
    }

    fn unknown_type(&mut self, name: &ast::Ident) {
        let help = did_you_mean(&name.name, self.type_ids.keys().map(String::as_str));
        self.diags.push(
            Diagnostic::error("E0202", format!("unknown resource type `{}`", name.name), name.span, "not declared")
                .with_help_opt(help),
        );
    }

    fn unknown_action(&mut self, name: &str, span: Span) {
        let known = self.known_action_names();
        // `actions crud;` without `use std::crud;` declares one action named `crud`: the
        // standard set's members are then unknown.
        let std_set = std_sets_of(name).into_iter().find(|(set, _)| self.ir.actions.iter().any(|a| a == set));
        let help = match std_set {
            Some((set, module)) => Some(format!(
                "`{name}` is in the standard action set `{set}`: add `use std::{module};` (without it, \
                 `actions {set}` declares one action named `{set}`)"
            )),
            None => did_you_mean(name, known.iter().map(String::as_str)),
        };
        self.diags.push(
            Diagnostic::error("E0203", format!("unknown action `{name}`"), span, "no type declares this action")
                .with_help_opt(help),
        );
    }

    pub(super) fn check_rules(&mut self) {
        let roles = self.decls.roles.clone();
        let all_types: Vec<TypeId> = (0..self.ir.types.len()).map(TypeId::from_idx).collect();
        for (ri, role) in roles.iter().enumerate() {
            let mut out = Vec::new();
            for rule in &role.rules {
                // Types first: a rule whose types do not resolve cannot check its actions.
                let mut types = BTreeSet::new();
                let mut types_ok = true;
                for t in &rule.types {
                    if t.is_star() {
                        types.extend(all_types.iter().copied());
                    } else if let Some(&id) = self.type_ids.get(&t.text) {
                        types.insert(id);
                    } else {
                        self.unknown_type(&ast::Ident { name: t.text.as_str().into(), span: t.span });
                        types_ok = false;
                    }
                }
                if !types_ok {
                    continue;
                }
                let mut pairs: BTreeSet<(TypeId, ActionId)> = BTreeSet::new();
                let mut actions_ok = true;
                for a in &rule.actions {
                    let names: Vec<ActionId> = if a.is_star() {
                        types
                            .iter()
                            .filter_map(|t| self.ir.types.get(t.idx()))
                            .flat_map(|t| t.actions.iter().copied())
                            .collect()
                    } else if let Some(members) = self.set_members.get(&a.text) {
                        members.iter().filter_map(|m| self.action_ids.get(m).copied()).collect()
                    } else if let Some(&id) = self.action_ids.get(&a.text) {
                        vec![id]
                    } else {
                        self.unknown_action(&a.text, a.span);
                        actions_ok = false;
                        continue;
                    };
                    let found: Vec<(TypeId, ActionId)> = types
                        .iter()
                        .flat_map(|t| names.iter().map(move |a| (*t, *a)))
                        .filter(|(t, a)| self.ir.types.get(t.idx()).is_some_and(|ti| ti.actions.contains(a)))
                        .collect();
                    if found.is_empty() && a.is_star() {
                        actions_ok = false;
                        let on: Vec<String> = types.iter().map(|t| format!("`{}`", self.ir.type_name(*t))).collect();
                        self.diags.push(
                            Diagnostic::error(
                                "E0301",
                                format!("`*` gives no action on {}: no action is declared there", on.join(", ")),
                                a.span,
                                "this yields no (action, type) pair",
                            )
                            .with_help("declare actions on the type: `resource NAME { actions read, update; }`"),
                        );
                    } else if found.is_empty() {
                        actions_ok = false;
                        let on: Vec<String> = types.iter().map(|t| format!("`{}`", self.ir.type_name(*t))).collect();
                        let declared_on: Vec<String> = self
                            .ir
                            .types
                            .iter()
                            .filter(|t| names.iter().any(|a| t.actions.contains(a)))
                            .map(|t| format!("`{}`", t.name))
                            .collect();
                        let help = if declared_on.is_empty() {
                            None
                        } else {
                            Some(format!("`{}` is declared on {}", a.text, declared_on.join(", ")))
                        };
                        self.diags.push(
                            Diagnostic::error(
                                "E0301",
                                format!("action `{}` is not declared on {}", a.text, on.join(", ")),
                                a.span,
                                "this yields no (action, type) pair",
                            )
                            .with_help_opt(help),
                        );
                    }
                    pairs.extend(found);
                }
                if !actions_ok {
                    continue;
                }
                let applies: Vec<TypeId> = pairs.iter().map(|(t, _)| *t).collect::<BTreeSet<_>>().into_iter().collect();
                let cond = match &rule.cond {
                    Some(e) => match self.check_cond(e, &applies) {
                        Some(c) => Some(c),
                        None => continue,
                    },
                    None => None,
                };
                out.push(RuleInfo { effect: rule.effect, pairs: pairs.into_iter().collect(), cond, span: rule.span });
            }
            if let Some(slot) = self.ir.roles.get_mut(ri) {
                slot.rules = out;
            }
        }
    }

    /// Checks a path: it follows the tree from a root type; `allow_bare` permits a trailing
    /// bare type. Returns the whole segments (their ids moved out of the path) and the bare type.
    fn check_path(&mut self, path: ast::Path, allow_bare: bool, what: &str) -> Option<(ScopePath, Option<TypeId>)> {
        let bare_span = path.bare.as_ref().map_or(path.span, |b| b.span);
        let mut out = ScopePath::with_capacity(path.segments.len());
        let mut prev: Option<TypeId> = None;
        let steps = path.segments.into_iter().map(|s| (s.ty, Some(s.id))).chain(path.bare.map(|b| (b, None)));
        let mut bare = None;
        for (ty, id) in steps {
            let Some(&tid) = self.type_ids.get(ty.name.as_str()) else {
                self.unknown_type(&ty);
                return None;
            };
            let parent = self.ir.types.get(tid.idx()).and_then(|t| t.parent);
            if parent != prev {
                let message = match (prev, parent) {
                    (None, Some(p)) => {
                        format!("it must start at a root type, but `{}` is inside `{}`", ty.name, self.ir.type_name(p))
                    }
                    (Some(pr), None) => {
                        format!("`{}` is a root type and cannot be inside `{}`", ty.name, self.ir.type_name(pr))
                    }
                    (Some(pr), Some(p)) => {
                        format!(
                            "`{}` is inside `{}`, not inside `{}`",
                            ty.name,
                            self.ir.type_name(p),
                            self.ir.type_name(pr)
                        )
                    }
                    (None, None) => String::new(),
                };
                let help = self.tree_path_help(tid);
                self.diags.push(
                    Diagnostic::error(
                        "E0502",
                        format!("{what} does not follow the resource tree: {message}"),
                        ty.span,
                        "out of place",
                    )
                    .with_help(help),
                );
                return None;
            }
            prev = Some(tid);
            match id {
                Some(id) => out.push((tid, id)),
                None => bare = Some(tid),
            }
        }
        if bare.is_some() && !allow_bare {
            self.diags.push(
                Diagnostic::error(
                    "E0503",
                    format!("{what} must end in a whole `type:id` segment"),
                    bare_span,
                    "a bare type is not a scope",
                )
                .with_help("name the resource, e.g. `project:churn`, or drop the last segment"),
            );
            return None;
        }
        Some((out, bare))
    }

    fn tree_path_help(&self, t: TypeId) -> String {
        let mut chain = vec![self.ir.type_name(t).to_string()];
        let mut cur = self.ir.types.get(t.idx()).and_then(|x| x.parent);
        let mut guard = 0;
        while let Some(p) = cur {
            chain.push(self.ir.type_name(p).to_string());
            cur = self.ir.types.get(p.idx()).and_then(|x| x.parent);
            guard += 1;
            if guard > self.ir.types.len() {
                break;
            }
        }
        chain.reverse();
        let example: Vec<String> = chain.iter().map(|t| format!("{t}:ID")).collect();
        format!("a path to `{}` reads `{}`", self.ir.type_name(t), example.join("/"))
    }

    /// Resolves `count` assignments; an `Err` is one the parser took but that cannot be read
    /// again (the text changed under it), an error rather than a missing assignment.
    pub(super) fn resolve_assignments(
        &mut self,
        count: usize,
        assigns: impl Iterator<Item = Result<ast::Assign, Span>>,
    ) {
        self.ir.assignments.reserve_exact(count);
        for a in assigns {
            let a = match a {
                Ok(a) => a,
                Err(at) => {
                    self.diags.push(Diagnostic::error(
                        "E0101",
                        "this `assign` item could not be read again",
                        at,
                        "read once here",
                    ));
                    continue;
                }
            };
            let mut roles = SmallVec::with_capacity(a.roles.len());
            for r in &a.roles {
                match self.role_ids.get(r.name.as_str()) {
                    Some(&id) => {
                        // Counted as assigned even if the rest of the statement has errors, so a
                        // mistake in the path does not also warn that the role is unused.
                        self.assigned.insert(id);
                        roles.push(id);
                    }
                    None => self.unknown_role(r),
                }
            }
            let mut subjects = SmallVec::with_capacity(a.subjects.len());
            for s in a.subjects {
                match s.kind {
                    ast::SubjectKind::Principal(p) => {
                        if self.principal_named(&p, s.span) {
                            subjects.push(SubjectRef::Principal(p));
                        }
                    }
                    ast::SubjectKind::Everyone => subjects.push(SubjectRef::Everyone),
                    ast::SubjectKind::Group(g) => {
                        if let Some(id) = self.group_ref(&g) {
                            subjects.push(SubjectRef::Group(id));
                        }
                    }
                }
            }
            let scope = match a.scope {
                Some(p) => match self.check_path(p, false, "an assignment's scope") {
                    Some((s, _)) => s,
                    None => continue,
                },
                None => ScopePath::new(),
            };
            self.ir.assignments.push(AssignInfo { roles, subjects, scope, span: a.span });
        }
    }

    /// `resolvable`: whether the roles' ancestor sets may be made (not E0402); when not, each
    /// role counts as its own only ancestor (the policy is rejected anyway).
    pub(super) fn resolve_exclusive(&mut self, items: &[&Item], graph: &RoleGraph, resolvable: bool) {
        if !items.iter().any(|i| matches!(i, Item::Exclusive(_))) {
            return;
        }
        let closures: Vec<BTreeSet<RoleId>> = (0..self.ir.roles.len())
            .map(
                |r| if resolvable { graph.closure(RoleId::from_idx(r)) } else { BTreeSet::from([RoleId::from_idx(r)]) },
            )
            .collect();
        let mut sets: Vec<Vec<(RoleId, Span)>> = Vec::new();
        for item in items {
            let Item::Exclusive(x) = item else { continue };
            let mut set: Vec<(RoleId, Span)> = Vec::new();
            for r in &x.roles {
                let Some(&id) = self.role_ids.get(r.name.as_str()) else {
                    self.unknown_role(r);
                    continue;
                };
                if let Some((_, first)) = set.iter().find(|(s, _)| *s == id) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0507",
                            format!("role `{}` is listed twice in an `exclusive` set", r.name),
                            r.span,
                            "listed again",
                        )
                        .with_label(*first, "first listed here"),
                    );
                    continue;
                }
                set.push((id, r.span));
            }
            // A role and its ancestor in one set: holding the role always means holding both.
            for (a, sa) in &set {
                for (b, sb) in &set {
                    if a != b && closures.get(a.idx()).is_some_and(|c| c.contains(b)) {
                        self.diags.push(
                            Diagnostic::error(
                                "E0504",
                                format!(
                                    "`exclusive` lists `{}` and its ancestor `{}`",
                                    self.ir.role_name(*a),
                                    self.ir.role_name(*b)
                                ),
                                *sa,
                                format!("`{}` inherits `{}`", self.ir.role_name(*a), self.ir.role_name(*b)),
                            )
                            .with_label(*sb, "ancestor listed here")
                            .with_help("anyone holding the first role holds both, so the set could never be satisfied"),
                        );
                    }
                }
            }
            sets.push(set);
        }
        // Each role's closure members that are in some set, by set: one pass over the roles
        // for every set (per set, it was sets x roles).
        let mut member_of: BTreeMap<RoleId, Vec<(usize, usize)>> = BTreeMap::new();
        for (si, set) in sets.iter().enumerate() {
            for (pos, (m, _)) in set.iter().enumerate() {
                member_of.entry(*m).or_default().push((si, pos));
            }
        }
        // reach[r]: (set, position in it, member) for each member in r's closure.
        let reach: Vec<Vec<(usize, usize, RoleId)>> = closures
            .iter()
            .map(|closure| {
                let mut r: Vec<(usize, usize, RoleId)> = closure
                    .iter()
                    .flat_map(|m| member_of.get(m).into_iter().flatten().map(move |&(si, pos)| (si, pos, *m)))
                    .collect();
                r.sort_unstable();
                r
            })
            .collect();
        // A role inheriting two roles of one set.
        for (ri, reached) in reach.iter().enumerate() {
            let rid = RoleId::from_idx(ri);
            for per_set in reached.chunk_by(|a, b| a.0 == b.0) {
                let Some(&(si, _, _)) = per_set.first() else { continue };
                let Some(set) = sets.get(si) else { continue };
                let held: Vec<&(usize, usize, RoleId)> = per_set.iter().filter(|(_, _, m)| *m != rid).collect();
                if held.len() >= 2 && !set.iter().any(|(m, _)| *m == rid) {
                    let names: Vec<String> =
                        held.iter().map(|(_, _, m)| format!("`{}`", self.ir.role_name(*m))).collect();
                    let span = self.ir.roles.get(ri).map(|r| r.span).unwrap_or_default();
                    let mut d = Diagnostic::error(
                        "E0505",
                        format!(
                            "role `{}` inherits {} of one `exclusive` set",
                            self.ir.role_name(rid),
                            names.join(" and ")
                        ),
                        span,
                        "inherits roles that exclude each other",
                    );
                    for (_, pos, _) in held {
                        if let Some((_, s)) = set.get(*pos) {
                            d = d.with_label(*s, "in this `exclusive` set");
                        }
                    }
                    self.diags.push(d);
                }
            }
        }
        self.check_static_exclusive(&sets, &reach);
        self.ir.exclusive.extend(sets.into_iter().map(|set| set.into_iter().map(|(r, _)| r).collect()));
    }

    /// No literal subject may hold two roles of one set on overlapping scopes (assignments to
    /// `everyone` count for every subject). One pass over the assignments buckets what they
    /// give by (set, subject); each assignment that clashes with an earlier one of its bucket
    /// is one error, naming the first it clashes with (n roles of a set assigned one by one to
    /// one user gave n^2/2 errors). A single assigned role that reaches two members is
    /// E0504/E0505, not repeated here. `reach[r]`: (set, position, member) for each member
    /// in r's closure.
    fn check_static_exclusive(&mut self, sets: &[Vec<(RoleId, Span)>], reach: &[Vec<(usize, usize, RoleId)>]) {
        struct Held<'s> {
            scope: &'s ScopePath,
            assigned: RoleId,
            member: RoleId,
            span: Span,
            everyone: bool,
        }
        if sets.is_empty() {
            return;
        }
        let mut by_subject: BTreeMap<(usize, &SubjectRef), Vec<Held<'_>>> = BTreeMap::new();
        let mut everyone: BTreeMap<usize, Vec<Held<'_>>> = BTreeMap::new();
        for a in &self.ir.assignments {
            for r in &a.roles {
                for &(si, _, m) in reach.get(r.idx()).into_iter().flatten() {
                    for s in &a.subjects {
                        let all = *s == SubjectRef::Everyone;
                        let held = Held { scope: &a.scope, assigned: *r, member: m, span: a.span, everyone: all };
                        if all {
                            everyone.entry(si).or_default().push(held);
                        } else {
                            by_subject.entry((si, s)).or_default().push(held);
                        }
                    }
                }
            }
        }
        let overlap = |a: &ScopePath, b: &ScopePath| a.starts_with(b) || b.starts_with(a);
        let clash =
            |x: &Held<'_>, y: &Held<'_>| x.member != y.member && x.assigned != y.assigned && overlap(x.scope, y.scope);
        // (set, later span) -> (earlier span, subject, role given by the later, by the earlier)
        let mut found: BTreeMap<(usize, Span), (Span, String, RoleId, RoleId)> = BTreeMap::new();
        // `among_everyone`: whether two of `everyone`'s assignments count (only in its own list:
        // in a subject's, they were reported for `everyone`).
        let mut report = |si: usize, subject: &str, mut list: Vec<&Held<'_>>, among_everyone: bool| {
            list.sort_by_key(|h| h.span);
            // Two assignments overlap when one's scope is a prefix of the other's: each is
            // compared only with those at its scope's prefixes (comparing every pair was
            // quadratic for one subject with many assignments on disjoint scopes).
            let mut at: std::collections::HashMap<&[_], Vec<usize>> = std::collections::HashMap::new();
            for (i, h) in list.iter().enumerate() {
                at.entry(h.scope.as_slice()).or_default().push(i);
            }
            // For each assignment, the first earlier one it clashes with.
            let mut first: BTreeMap<usize, usize> = BTreeMap::new();
            for (x, held) in list.iter().enumerate() {
                for depth in 0..=held.scope.len() {
                    let Some(prefix) = held.scope.get(..depth) else { continue };
                    for &y in at.get(prefix).into_iter().flatten() {
                        let (e, l) = if y < x { (y, x) } else { (x, y) };
                        let (Some(earlier), Some(later)) = (list.get(e), list.get(l)) else { continue };
                        let counts = among_everyone || !(earlier.everyone && later.everyone);
                        if e != l && counts && clash(earlier, later) {
                            let slot = first.entry(l).or_insert(e);
                            *slot = (*slot).min(e);
                        }
                    }
                }
            }
            for (l, e) in first {
                let (Some(later), Some(earlier)) = (list.get(l), list.get(e)) else { continue };
                found
                    .entry((si, later.span))
                    .or_insert_with(|| (earlier.span, subject.to_string(), later.member, earlier.member));
            }
        };
        // `everyone`'s own clashes first, so that they are named for `everyone`.
        for (si, list) in &everyone {
            report(*si, "everyone", list.iter().collect(), true);
        }
        for ((si, subject), list) in &by_subject {
            let name = match subject {
                SubjectRef::Principal(p) => p.to_string(),
                SubjectRef::Group(g) => format!("group:{}", self.ir.group_name(*g)),
                SubjectRef::Everyone => "everyone".to_string(),
            };
            let all = everyone.get(si).map_or(&[][..], Vec::as_slice);
            report(*si, &name, list.iter().chain(all).collect(), false);
        }
        for ((_, span), (other, subject, later, earlier)) in found {
            self.diags.push(
                Diagnostic::error(
                    "E0506",
                    format!(
                        "`{subject}` holds `{}` and `{}`, which are `exclusive`, on overlapping scopes",
                        self.ir.role_name(earlier),
                        self.ir.role_name(later)
                    ),
                    span,
                    format!("gives `{}`", self.ir.role_name(later)),
                )
                .with_label(other, format!("gives `{}` on an overlapping scope", self.ir.role_name(earlier)))
                .with_help("separation of duty: give these roles to different subjects, or on disjoint scopes"),
            );
        }
    }

    pub(super) fn check_tests(&mut self, items: &[&Item]) {
        for item in items {
            let Item::Test(t) = item else { continue };
            let mut expects = Vec::new();
            for e in &t.expects {
                if let Some(x) = self.check_expect(e) {
                    expects.push(x);
                }
            }
            self.ir.tests.push(TestInfo { name: t.name.clone(), expects, span: t.span });
        }
    }

    /// Whether a principal written in the policy has a name after `user:` or `service:`; E0508
    /// when not (no valid request names such a principal: E0711).
    fn principal_named(&mut self, principal: &str, span: Span) -> bool {
        if crate::eval::principal_id_ok(principal) {
            return true;
        }
        self.diags.push(
            Diagnostic::error(
                "E0508",
                format!("principal `{principal}` has no name"),
                span,
                "no request can name this principal",
            )
            .with_help(
                "write the name after `user:` or `service:` (quoted when it has other characters: `user:\"Ann Lee\"`)",
            ),
        );
        false
    }

    fn check_expect(&mut self, e: &ast::Expect) -> Option<ExpectInfo> {
        let mut ok = self.principal_named(&e.principal, e.principal_span);
        let mut groups = Vec::new();
        for g in &e.groups {
            match self.group_ref(g) {
                Some(_) => groups.push(g.name.clone()),
                None => ok = false,
            }
        }
        let (segments, bare) = self.check_path(e.path.clone(), true, "a test's path")?;
        let target = bare.or_else(|| segments.last().map(|(t, _)| *t))?;
        match self.action_ids.get(e.action.name.as_str()).copied() {
            None if self.decls.sets.contains_key(e.action.name.as_str()) => {
                self.diags.push(
                    Diagnostic::error(
                        "E0203",
                        format!("`{}` is an action set; an `expect` asks for one action", e.action.name),
                        e.action.span,
                        "an action set, not an action",
                    )
                    .with_help("write one `expect` per action of the set"),
                );
                ok = false;
            }
            None => {
                self.unknown_action(&e.action.name, e.action.span);
                ok = false;
            }
            Some(a) if !self.ir.types.get(target.idx()).is_some_and(|t| t.actions.contains(&a)) => {
                self.diags.push(
                    Diagnostic::error(
                        "E0313",
                        format!("action `{}` is not declared on `{}`", e.action.name, self.ir.type_name(target)),
                        e.action.span,
                        "not an action of the target type",
                    )
                    .with_label(
                        self.type_span(target),
                        format!("`{}` declared here without `{}`", self.ir.type_name(target), e.action.name),
                    )
                    .with_help_opt({
                        let on: Vec<String> = self
                            .ir
                            .types
                            .iter()
                            .filter(|t| t.actions.contains(&a))
                            .map(|t| format!("`{}`", t.name))
                            .collect();
                        (!on.is_empty()).then(|| format!("`{}` is declared on {}", e.action.name, on.join(", ")))
                    }),
                );
                ok = false;
            }
            Some(_) => {}
        }
        let mut request = crate::Request::new(
            &e.principal,
            &groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            &e.action.name,
            &crate::path::render(
                segments.iter().map(|(t, id)| (self.ir.type_name(*t), id.as_str())),
                bare.map(|b| self.ir.type_name(b)),
            ),
        );
        // An attribute given twice: which value the test meant is unclear (a request in JSON
        // may not give a key twice either).
        let mut given: BTreeMap<(&str, &str), Span> = BTreeMap::new();
        for kv in &e.with {
            if let Some(&first) = given.get(&(kv.entity.as_str(), kv.attr.name.as_str())) {
                self.diags.push(
                    Diagnostic::error(
                        "E0317",
                        format!("`{}.{}` is given twice in this test", kv.entity.as_str(), kv.attr.name),
                        kv.attr.span,
                        "given again here",
                    )
                    .with_label(first, "first given here")
                    .with_help("give each attribute once"),
                );
                ok = false;
                continue;
            }
            given.insert((kv.entity.as_str(), kv.attr.name.as_str()), kv.attr.span);
            let declared = match kv.entity {
                Entity::Principal => self.ir.principal_attrs.get(kv.attr.name.as_str()).cloned(),
                Entity::Context => self.ir.context_attrs.get(kv.attr.name.as_str()).cloned(),
                Entity::Resource => {
                    self.ir.types.get(target.idx()).and_then(|t| t.attrs.get(kv.attr.name.as_str()).cloned())
                }
            };
            let Some(ty) = declared else {
                let where_ = match kv.entity {
                    Entity::Resource => format!("`{}`", self.ir.type_name(target)),
                    other => format!("`{}`", other.as_str()),
                };
                let cands: Vec<String> = match kv.entity {
                    Entity::Principal => self.ir.principal_attrs.keys().cloned().collect(),
                    Entity::Context => self.ir.context_attrs.keys().cloned().collect(),
                    Entity::Resource => {
                        self.ir.types.get(target.idx()).map(|t| t.attrs.keys().cloned().collect()).unwrap_or_default()
                    }
                };
                let help = did_you_mean(&kv.attr.name, cands.iter().map(String::as_str));
                self.diags.push(
                    Diagnostic::error(
                        "E0206",
                        format!("unknown attribute `{}.{}`", kv.entity.as_str(), kv.attr.name),
                        kv.attr.span,
                        format!("not declared on {where_}"),
                    )
                    .with_help_opt(help),
                );
                ok = false;
                continue;
            };
            match value_val(&kv.value) {
                Ok((val, vty)) if vty.fits(&ty) => {
                    request = request.with_attr(kv.entity, &kv.attr.name, val_to_json(&val));
                }
                Ok((_, vty)) => {
                    self.diags.push(Diagnostic::error(
                        "E0314",
                        format!(
                            "`{}.{}` is {}, but the test gives {}",
                            kv.entity.as_str(),
                            kv.attr.name,
                            a_type(&ty),
                            a_type(&vty)
                        ),
                        kv.value.span(),
                        format!("this has type `{vty}`"),
                    ));
                    ok = false;
                }
                Err((span, first, other)) => {
                    self.diags.push(Diagnostic::error(
                        "E0312",
                        format!("a list mixes `{first}` and `{other}` elements"),
                        span,
                        format!("this has type `{other}`"),
                    ));
                    ok = false;
                }
            }
        }
        ok.then_some(ExpectInfo { effect: e.effect, request, span: e.span })
    }

    pub(super) fn warnings(&mut self, graph: &RoleGraph, resolvable: bool) {
        // Uses hidden behind errors (a misspelt group, a broken `extends`) would make the
        // "never used" warnings wrong, so those wait until the policy has no errors.
        let unused_checks = !self.diags.has_errors();
        let mut extended = vec![false; self.ir.roles.len()];
        for r in &self.ir.roles {
            for p in &r.parents {
                if let Some(e) = extended.get_mut(p.idx()) {
                    *e = true;
                }
            }
        }
        for (i, r) in self.ir.roles.iter().enumerate() {
            if unused_checks
                && !extended.get(i).copied().unwrap_or(true)
                && !self.assigned.contains(&RoleId::from_idx(i))
            {
                self.diags.push(
                    Diagnostic::warning(
                        "W0001",
                        format!("role `{}` is never assigned nor extended", r.name),
                        r.span,
                        "unused role",
                    )
                    .with_help("assign it with `assign ROLE to SUBJECT;`, extend it, or remove it"),
                );
            }
        }
        for (i, g) in self.ir.groups.iter().enumerate() {
            if unused_checks && !self.group_used.get(i).copied().unwrap_or(true) {
                self.diags.push(
                    Diagnostic::warning("W0002", format!("group `{}` is never used", g.name), g.span, "unused group")
                        .with_help("use it in an assignment, a condition or a test, or remove it"),
                );
            }
        }
        for (i, ident) in self.ir.identities.iter().enumerate() {
            // An identity without a groups claim maps users only (a workload's `repository`):
            // no alias is expected of it.
            if unused_checks && ident.groups_claim.is_some() && !self.identity_used.get(i).copied().unwrap_or(true) {
                let span = self.identity_spans.get(i).copied().unwrap_or_default();
                self.diags.push(
                    Diagnostic::warning(
                        "W0004",
                        format!("identity `{}` is never referenced", ident.name),
                        span,
                        "unused identity",
                    )
                    .with_help(format!("map its groups with `group NAME from {} \"claim value\";`", ident.name)),
                );
            }
        }
        // The warnings below take each role's ancestors: not for an inheritance too large to
        // resolve (E0402).
        if !resolvable {
            return;
        }
        // A parent that another parent of the same role already inherits adds nothing.
        for (ri, role) in self.ir.roles.iter().enumerate() {
            for &p in &role.parents {
                let Some(&through) = role.parents.iter().find(|&&q| q != p && graph.closure(q).contains(&p)) else {
                    continue;
                };
                let span = self.extends_spans.get(&(RoleId::from_idx(ri), p)).copied().unwrap_or(role.span);
                let (parent, via) = (self.ir.role_name(p), self.ir.role_name(through));
                self.diags.push(
                    Diagnostic::warning(
                        "W0007",
                        format!("`{}` already inherits `{parent}` through `{via}`", role.name),
                        span,
                        "inherited anyway",
                    )
                    .with_help(format!("remove `{parent}` from the `extends` of `{}`", role.name)),
                );
            }
        }
        // An allow rule all of whose pairs the same role (or an ancestor) denies unconditionally.
        let mut found = Vec::new();
        for (ri, role) in self.ir.roles.iter().enumerate() {
            let closure = graph.closure(RoleId::from_idx(ri));
            let denied: BTreeSet<(TypeId, ActionId)> = closure
                .iter()
                .filter_map(|r| self.ir.roles.get(r.idx()))
                .flat_map(|r| r.rules.iter())
                .filter(|rule| rule.effect == Effect::Deny && rule.cond.is_none())
                .flat_map(|rule| rule.pairs.iter().copied())
                .collect();
            for rule in role.rules.iter().filter(|r| r.effect == Effect::Allow) {
                if !rule.pairs.is_empty() && rule.pairs.iter().all(|p| denied.contains(p)) {
                    found.push((rule.span, role.name.clone()));
                }
            }
        }
        for (span, role) in found {
            self.diags.push(
                Diagnostic::warning("W0003", format!("this allow rule of `{role}` can never take effect"), span, "always overridden")
                    .with_note("every (action, type) pair it allows is denied without condition by the same role or one of its ancestors")
                    .with_help("remove the rule, or narrow the deny"),
            );
        }
    }
}

/// A checked constant as the JSON a request carries.
pub(crate) fn val_to_json(v: &Val) -> Json {
    match v {
        Val::Str(s) => Json::String(s.clone()),
        Val::Int(n) => Json::from(*n),
        Val::Bool(b) => Json::Bool(*b),
        Val::Set(items) => Json::Array(items.iter().map(val_to_json).collect()),
    }
}

/// A type with its article: "an `int`", "a `string`".
fn a_type(ty: &impl std::fmt::Display) -> String {
    let name = ty.to_string();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} `{name}`")
}

/// The standard library's action sets that have `action` as a member (directly or through
/// another of its sets), each with its module: `("crud", "crud")` and `("cruds", "crud")` for
/// `read`.
fn std_sets_of(action: &str) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for (module, text) in crate::source::STDLIB {
        // Read with the parser, as `use std::NAME;` reads it.
        let file = crate::syntax::parse(0, text, &mut crate::diag::Diagnostics::default());
        let sets: Vec<&ast::ActionSet> =
            file.items.iter().filter_map(|i| if let Item::ActionSet(a) = i { Some(a) } else { None }).collect();
        let direct = |set: &ast::ActionSet| set.members.iter().any(|m| m.text == action);
        for set in &sets {
            let through =
                set.members.iter().any(|m| sets.iter().any(|inner| inner.name.name == m.text && direct(inner)));
            if direct(set) || through {
                found.push((set.name.name.to_string(), *module));
            }
        }
    }
    found
}
