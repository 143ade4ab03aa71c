//! Name resolution and static checks (design section 4): turns the parsed files into the
//! typed [`ir::Ir`], reporting every problem as a diagnostic and carrying on, so one run
//! reports all errors.

mod cond;
mod identity;
pub mod ir;
mod rules;

use crate::diag::{Diagnostic, Diagnostics, FileId, Sources, Span, did_you_mean};
use crate::graph::RoleGraph;
use crate::syntax::ast::{self, Entity, Item, Name, TypeExpr};
use ir::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Checks the items of every loaded file (in load order) and builds the IR. The files are
/// consumed: assignments, nearly all of a large policy, hand their principal names and path
/// ids on to the IR rather than having them copied, and the AST is gone before compiling.
pub fn check(files: Vec<ast::File>, diags: &mut Diagnostics) -> Ir {
    check_deferred(files, Vec::new(), &Sources::default(), diags)
}

/// [`check`] for files read by [`crate::syntax::parse_deferring`]: `deferred` lists, by file,
/// the offsets of the `assign` items left in the source text, which are read again one at a
/// time while they are resolved, in file order with the `assign` items the files hold.
pub(crate) fn check_deferred(
    files: Vec<ast::File>,
    deferred: Vec<(FileId, Vec<u32>)>,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> Ir {
    let mut parsed = Vec::new();
    let mut rest = Vec::new();
    for item in files.into_iter().flat_map(|f| f.items) {
        match item {
            Item::Assign(a) => parsed.push(a),
            other => rest.push(other),
        }
    }
    let count = parsed.len() + deferred.iter().map(|(_, d)| d.len()).sum::<usize>();
    let mut parsed = parsed.into_iter().peekable();
    let mut deferred = deferred.into_iter().flat_map(|(file, at)| at.into_iter().map(move |at| (file, at))).peekable();
    // Both lists are in file order, and files in load order (their ids ascend): merged, they
    // are the assignments as a whole parse would list them.
    let assigns = std::iter::from_fn(move || {
        let take_parsed = match (parsed.peek(), deferred.peek()) {
            (Some(a), Some(&(file, at))) => (a.span.file, a.span.start) < (file, at),
            (a, d) => a.is_some() || d.is_none(),
        };
        if take_parsed {
            return parsed.next().map(Ok);
        }
        let (file, at) = deferred.next()?;
        let text = sources.get(file).map_or("", |f| f.text.as_str());
        Some(crate::syntax::reread_assign(file, text, at).ok_or(Span::new(
            file,
            at as usize,
            at as usize + "assign".len(),
        )))
    });
    let items: Vec<&Item> = rest.iter().collect();
    check_items(&items, count, assigns, diags)
}

fn check_items(
    items: &[&Item],
    count: usize,
    assigns: impl Iterator<Item = Result<ast::Assign, Span>>,
    diags: &mut Diagnostics,
) -> Ir {
    let mut c = Checker {
        diags,
        ir: Ir::default(),
        decls: Decls::default(),
        type_ids: HashMap::new(),
        action_ids: HashMap::new(),
        set_members: BTreeMap::new(),
        role_ids: HashMap::new(),
        group_ids: HashMap::new(),
        identity_ids: HashMap::new(),
        group_used: Vec::new(),
        identity_used: Vec::new(),
        extends_spans: BTreeMap::new(),
        identity_spans: Vec::new(),
        assigned: BTreeSet::new(),
    };
    c.declare(items);
    c.resolve_types();
    c.resolve_groups_and_identities();
    c.check_identity_tokens();
    c.resolve_roles();
    let (graph, resolvable) = c.role_graph();
    c.check_rules();
    c.resolve_assignments(count, assigns);
    c.resolve_exclusive(items, &graph, resolvable);
    c.check_tests(items);
    c.warnings(&graph, resolvable);
    c.identity_warnings();
    c.ir
}

/// Declarations found in the items, before resolution.
#[derive(Default)]
struct Decls<'a> {
    sets: BTreeMap<String, &'a ast::ActionSet>,
    resources: Vec<&'a ast::Resource>,
    attr_blocks: Vec<&'a ast::AttrsBlock>,
    groups: Vec<&'a ast::Group>,
    identities: Vec<&'a ast::Identity>,
    roles: Vec<&'a ast::Role>,
}

struct Checker<'a, 'd> {
    diags: &'d mut Diagnostics,
    ir: Ir,
    decls: Decls<'a>,
    type_ids: HashMap<String, TypeId>,
    action_ids: HashMap<String, ActionId>,
    /// Each set's expanded members (plain action names).
    set_members: BTreeMap<String, BTreeSet<String>>,
    role_ids: HashMap<String, RoleId>,
    group_ids: HashMap<String, GroupId>,
    identity_ids: HashMap<String, IdentityId>,
    /// Spans to point at: a role's name, a group's name, an identity's name.
    group_used: Vec<bool>,
    identity_used: Vec<bool>,
    /// Where each `extends` name stands, for cycle diagnostics: (child, parent) -> span.
    extends_spans: BTreeMap<(RoleId, RoleId), Span>,
    identity_spans: Vec<Span>,
    /// Roles named by some `assign`, even one with other errors.
    assigned: BTreeSet<RoleId>,
}

pub(crate) fn duplicate(what: &str, name: &str, first: Span, again: Span) -> Diagnostic {
    Diagnostic::error("E0207", format!("{what} `{name}` is defined twice"), again, "defined again here")
        .with_label(first, "first defined here")
}

impl Checker<'_, '_> {
    fn ty_of(t: &TypeExpr) -> Ty {
        match t {
            TypeExpr::String => Ty::String,
            TypeExpr::Int => Ty::Int,
            TypeExpr::Bool => Ty::Bool,
            TypeExpr::Set(inner) => Ty::Set(Box::new(Self::ty_of(inner))),
        }
    }
}

impl<'a> Checker<'a, '_> {
    /// Collects declarations by kind and reports duplicates with both spans.
    fn declare(&mut self, items: &[&'a Item]) {
        let mut set_spans: HashMap<&str, Span> = HashMap::new();
        for item in items {
            match item {
                Item::ActionSet(s) => {
                    if let Some(first) = set_spans.get(s.name.name.as_str()) {
                        self.diags.push(duplicate("action set", &s.name.name, *first, s.name.span));
                    } else {
                        set_spans.insert(&s.name.name, s.name.span);
                        self.decls.sets.insert(s.name.name.to_string(), s);
                    }
                }
                Item::Resource(r) => {
                    if let Some(&id) = self.type_ids.get(r.name.name.as_str()) {
                        let first = self.ir.types.get(id.idx()).map(|t| t.span).unwrap_or_default();
                        self.diags.push(duplicate("resource type", &r.name.name, first, r.name.span));
                        continue;
                    }
                    let id = TypeId::from_idx(self.ir.types.len());
                    self.type_ids.insert(r.name.name.to_string(), id);
                    self.ir.types.push(TypeInfo {
                        name: r.name.name.to_string(),
                        parent: None,
                        actions: BTreeSet::new(),
                        attrs: BTreeMap::new(),
                        span: r.name.span,
                    });
                    self.decls.resources.push(r);
                }
                Item::Attrs(b) => self.decls.attr_blocks.push(b),
                Item::Group(g) => {
                    if let Some(&id) = self.group_ids.get(g.name.name.as_str()) {
                        let first = self.ir.groups.get(id.idx()).map(|g| g.span).unwrap_or_default();
                        self.diags.push(duplicate("group", &g.name.name, first, g.name.span));
                        continue;
                    }
                    self.group_ids.insert(g.name.name.to_string(), GroupId::from_idx(self.ir.groups.len()));
                    self.ir.groups.push(GroupInfo {
                        name: g.name.name.to_string(),
                        aliases: Vec::new(),
                        span: g.name.span,
                    });
                    self.decls.groups.push(g);
                }
                Item::Identity(i) => {
                    if let Some(&id) = self.identity_ids.get(i.name.name.as_str()) {
                        let first = self.identity_spans.get(id.idx()).copied().unwrap_or_default();
                        self.diags.push(duplicate("identity", &i.name.name, first, i.name.span));
                        continue;
                    }
                    self.identity_ids.insert(i.name.name.to_string(), IdentityId::from_idx(self.ir.identities.len()));
                    self.ir.identities.push(IdentityInfo { name: i.name.name.to_string(), ..IdentityInfo::default() });
                    self.identity_spans.push(i.name.span);
                    self.decls.identities.push(i);
                }
                Item::Role(r) => {
                    if let Some(&id) = self.role_ids.get(r.name.name.as_str()) {
                        let first = self.ir.roles.get(id.idx()).map(|r| r.span).unwrap_or_default();
                        self.diags.push(duplicate("role", &r.name.name, first, r.name.span));
                        continue;
                    }
                    self.role_ids.insert(r.name.name.to_string(), RoleId::from_idx(self.ir.roles.len()));
                    self.ir.roles.push(RoleInfo {
                        name: r.name.name.to_string(),
                        parents: Vec::new(),
                        rules: Vec::new(),
                        span: r.name.span,
                    });
                    self.decls.roles.push(r);
                }
                Item::Use(_) | Item::Assign(_) | Item::Exclusive(_) | Item::Test(_) => {}
            }
        }
        self.group_used = vec![false; self.ir.groups.len()];
        self.identity_used = vec![false; self.ir.identities.len()];
    }

    /// Expands a set name to plain action names, reporting a set that contains itself.
    fn expand_set(&mut self, name: &str, stack: &mut Vec<String>) -> BTreeSet<String> {
        if let Some(done) = self.set_members.get(name) {
            return done.clone();
        }
        let Some(set) = self.decls.sets.get(name).copied() else { return BTreeSet::new() };
        stack.push(name.to_string());
        let mut out = BTreeSet::new();
        for m in &set.members {
            if m.is_star() {
                self.diags.push(star_outside_rule(m.span));
            } else if stack.contains(&m.text) {
                self.diags.push(
                    Diagnostic::error(
                        "E0303",
                        format!("action set `{}` contains itself", m.text),
                        m.span,
                        format!("`{}` is being expanded here", m.text),
                    )
                    .with_note(format!("expansion chain: {} -> {}", stack.join(" -> "), m.text)),
                );
            } else if self.decls.sets.contains_key(&m.text) {
                out.extend(self.expand_set(&m.text, stack));
            } else {
                out.insert(m.text.clone());
            }
        }
        stack.pop();
        self.set_members.insert(name.to_string(), out.clone());
        out
    }

    /// Expands an `actions` list (of a resource) to plain action names.
    fn expand_list(&mut self, names: &[Name]) -> Vec<String> {
        let mut out = Vec::new();
        for n in names {
            if n.is_star() {
                self.diags.push(star_outside_rule(n.span));
            } else if self.decls.sets.contains_key(&n.text) {
                out.extend(self.expand_set(&n.text, &mut Vec::new()));
            } else {
                out.push(n.text.clone());
            }
        }
        out
    }

    fn action_id(&mut self, name: &str) -> ActionId {
        if let Some(&id) = self.action_ids.get(name) {
            return id;
        }
        let id = ActionId::from_idx(self.ir.actions.len());
        self.ir.actions.push(name.to_string());
        self.action_ids.insert(name.to_string(), id);
        id
    }

    fn resolve_types(&mut self) {
        let set_names: Vec<String> = self.decls.sets.keys().cloned().collect();
        for s in &set_names {
            self.expand_set(s, &mut Vec::new());
        }
        let resources = self.decls.resources.clone();
        for (i, r) in resources.iter().enumerate() {
            let tid = TypeId::from_idx(i);
            if let Some(p) = &r.parent {
                match self.type_ids.get(p.name.as_str()) {
                    Some(&pid) => {
                        if let Some(t) = self.ir.types.get_mut(tid.idx()) {
                            t.parent = Some(pid);
                        }
                    }
                    None => {
                        let help = did_you_mean(&p.name, self.type_ids.keys().map(String::as_str));
                        self.diags.push(
                            Diagnostic::error(
                                "E0202",
                                format!("unknown resource type `{}`", p.name),
                                p.span,
                                "not declared",
                            )
                            .with_help_opt(help),
                        );
                    }
                }
            }
            let actions = self.expand_list(&r.actions);
            let ids: BTreeSet<ActionId> = actions.iter().map(|a| self.action_id(a)).collect();
            let mut attrs: BTreeMap<String, (Ty, Span)> = BTreeMap::new();
            for a in &r.attrs {
                self.add_attr(&mut attrs, a, &format!("resource `{}`", r.name.name));
            }
            if let Some(t) = self.ir.types.get_mut(tid.idx()) {
                t.actions = ids;
                t.attrs = attrs.into_iter().map(|(k, (t, _))| (k, t)).collect();
            }
        }
        self.check_type_forest();
        // Principal and context attributes: repeated blocks merge.
        let mut principal: BTreeMap<String, (Ty, Span)> = BTreeMap::new();
        let mut context: BTreeMap<String, (Ty, Span)> = BTreeMap::new();
        for b in self.decls.attr_blocks.clone() {
            let (map, what) = match b.entity {
                Entity::Principal => (&mut principal, "principal"),
                _ => (&mut context, "context"),
            };
            for a in &b.attrs {
                Self::add_attr_to(self.diags, map, a, what);
            }
        }
        self.ir.principal_attrs = principal.into_iter().map(|(k, (t, _))| (k, t)).collect();
        self.ir.context_attrs = context.into_iter().map(|(k, (t, _))| (k, t)).collect();
    }

    fn add_attr(&mut self, map: &mut BTreeMap<String, (Ty, Span)>, a: &ast::Attr, owner: &str) {
        Self::add_attr_to(self.diags, map, a, owner);
    }

    fn add_attr_to(diags: &mut Diagnostics, map: &mut BTreeMap<String, (Ty, Span)>, a: &ast::Attr, owner: &str) {
        if a.name.name == "id" {
            diags.push(
                Diagnostic::error(
                    "E0210",
                    "attribute `id` is built in and cannot be declared",
                    a.name.span,
                    "declared here",
                )
                .with_help("`principal.id` and `resource.id` are always available as strings"),
            );
            return;
        }
        let ty = Self::ty_of(&a.ty);
        match map.get(a.name.name.as_str()) {
            Some((old, first)) if *old != ty => diags.push(
                Diagnostic::error(
                    "E0302",
                    format!("attribute `{}` of {owner} is declared with two types", a.name.name),
                    a.span,
                    format!("declared as `{ty}` here"),
                )
                .with_label(*first, format!("declared as `{old}` here")),
            ),
            Some(_) => {}
            None => {
                map.insert(a.name.name.to_string(), (ty, a.span));
            }
        }
    }

    /// `resource X in P` must form a forest: report each cycle once and cut it. Each type is
    /// walked once (a walk stops at a type an earlier walk reached, beyond which it finds
    /// nothing new): linear in the types, where checking each walk's path again at every
    /// step took 12 s for a line of 4,000 types.
    fn check_type_forest(&mut self) {
        let n = self.ir.types.len();
        // The walk (by its start) that reached each type, and where on that walk's path.
        let mut walked_by = vec![usize::MAX; n];
        let mut at = vec![0usize; n];
        for start in 0..n {
            if walked_by.get(start) != Some(&usize::MAX) {
                continue;
            }
            let mut path: Vec<TypeId> = Vec::new();
            let mut cur = Some(TypeId::from_idx(start));
            while let Some(t) = cur {
                match walked_by.get(t.idx()) {
                    Some(&w) if w == start => {
                        let from = at.get(t.idx()).copied().unwrap_or(0);
                        let cycle = path.get(from..).unwrap_or(&[]).to_vec();
                        self.type_cycle(&cycle, t);
                        break;
                    }
                    Some(&w) if w != usize::MAX => break,
                    _ => {}
                }
                if let (Some(w), Some(p)) = (walked_by.get_mut(t.idx()), at.get_mut(t.idx())) {
                    (*w, *p) = (start, path.len());
                }
                path.push(t);
                cur = self.ir.types.get(t.idx()).and_then(|x| x.parent);
            }
        }
    }

    /// Reports one cycle of `in` (found at `t`) and cuts it at its first type.
    fn type_cycle(&mut self, cycle: &[TypeId], t: TypeId) {
        let names: Vec<String> = cycle.iter().map(|c| format!("`{}`", self.ir.type_name(*c))).collect();
        let first = cycle.iter().copied().min().unwrap_or(t);
        let mut d = Diagnostic::error(
            "E0501",
            format!("resource types contain each other: {}", names.join(" in ")),
            self.type_span(first),
            "this type is inside itself",
        );
        for c in cycle {
            if *c != first {
                d = d.with_label(self.type_span(*c), "part of the cycle");
            }
        }
        self.diags.push(d.with_help("the `in` chain of resource types must end at a root type"));
        if let Some(ty) = self.ir.types.get_mut(first.idx()) {
            ty.parent = None;
        }
    }

    fn type_span(&self, t: TypeId) -> Span {
        self.ir.types.get(t.idx()).map(|t| t.span).unwrap_or_default()
    }

    fn resolve_groups_and_identities(&mut self) {
        for (i, ident) in self.decls.identities.clone().iter().enumerate() {
            let mut info = IdentityInfo { name: ident.name.name.to_string(), ..IdentityInfo::default() };
            let mut seen: HashMap<&'static str, Span> = HashMap::new();
            for m in &ident.members {
                let (key, slot) = match m.kind {
                    ast::IdMemberKind::Issuer => ("issuer", &mut info.issuer),
                    ast::IdMemberKind::Audience => ("audience", &mut info.audience),
                    ast::IdMemberKind::UserClaim => ("user from claim", &mut info.user_claim),
                    ast::IdMemberKind::GroupsClaim => ("groups from claim", &mut info.groups_claim),
                };
                if let Some(first) = seen.get(key) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0603",
                            format!("`{key}` is given twice in identity `{}`", ident.name.name),
                            m.span,
                            "given again here",
                        )
                        .with_label(*first, "first given here"),
                    );
                } else {
                    seen.insert(key, m.span);
                    *slot = Some(m.value.clone());
                }
            }
            if info.user_claim.is_none() {
                self.diags.push(
                    Diagnostic::error(
                        "E0601",
                        format!("identity `{}` does not say which claim names the user", ident.name.name),
                        ident.name.span,
                        "no `user from claim`",
                    )
                    .with_help("add `user from claim \"email\";` (or `sub`, `preferred_username`, ...)"),
                );
            }
            if let Some(slot) = self.ir.identities.get_mut(i) {
                *slot = info;
            }
        }
        for (i, g) in self.decls.groups.clone().iter().enumerate() {
            // One group naming one claim value twice is a slip; two groups sharing a value is
            // meaningful (the value gives both groups, design section 5.1).
            let mut alias_seen: HashMap<(IdentityId, String), Span> = HashMap::new();
            let mut aliases = Vec::new();
            for a in &g.aliases {
                let Some(&iid) = self.identity_ids.get(a.identity.name.as_str()) else {
                    let help = did_you_mean(&a.identity.name, self.identity_ids.keys().map(String::as_str));
                    self.diags.push(
                        Diagnostic::error(
                            "E0205",
                            format!("unknown identity `{}`", a.identity.name),
                            a.identity.span,
                            "no identity block has this name",
                        )
                        .with_help_opt(help),
                    );
                    continue;
                };
                if let Some(u) = self.identity_used.get_mut(iid.idx()) {
                    *u = true;
                }
                if let Some(first) = alias_seen.get(&(iid, a.value.clone())) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0602",
                            format!(
                                "group `{}` gives alias \"{}\" of identity `{}` twice",
                                g.name.name, a.value, a.identity.name
                            ),
                            a.span,
                            "given again here",
                        )
                        .with_label(*first, "first given here"),
                    );
                    continue;
                }
                alias_seen.insert((iid, a.value.clone()), a.span);
                aliases.push((iid, a.value.clone()));
            }
            if let Some(slot) = self.ir.groups.get_mut(i) {
                slot.aliases = aliases;
            }
        }
    }

    fn resolve_roles(&mut self) {
        for (i, r) in self.decls.roles.clone().iter().enumerate() {
            let rid = RoleId::from_idx(i);
            let mut parents = Vec::new();
            for p in &r.parents {
                match self.role_ids.get(p.name.as_str()) {
                    Some(&pid) => {
                        if parents.contains(&pid) {
                            self.diags.push(
                                Diagnostic::warning(
                                    "W0007",
                                    format!("`{}` is named twice in the `extends` of `{}`", p.name, r.name.name),
                                    p.span,
                                    "already named",
                                )
                                .with_help(format!("remove this `{}`", p.name)),
                            );
                        } else {
                            parents.push(pid);
                            self.extends_spans.insert((rid, pid), p.span);
                        }
                    }
                    None => self.unknown_role(p),
                }
            }
            if let Some(slot) = self.ir.roles.get_mut(i) {
                slot.parents = parents;
            }
        }
    }

    fn unknown_role(&mut self, name: &ast::Ident) {
        let help = did_you_mean(&name.name, self.role_ids.keys().map(String::as_str));
        self.diags.push(
            Diagnostic::error("E0201", format!("unknown role `{}`", name.name), name.span, "no role has this name")
                .with_help_opt(help),
        );
    }

    fn unknown_group(&mut self, name: &ast::Ident) {
        let help = did_you_mean(&name.name, self.group_ids.keys().map(String::as_str));
        self.diags.push(
            Diagnostic::error("E0204", format!("unknown group `{}`", name.name), name.span, "no group has this name")
                .with_help_opt(help),
        );
    }

    fn group_ref(&mut self, name: &ast::Ident) -> Option<GroupId> {
        match self.group_ids.get(name.name.as_str()) {
            Some(&g) => {
                if let Some(u) = self.group_used.get_mut(g.idx()) {
                    *u = true;
                }
                Some(g)
            }
            None => {
                self.unknown_group(name);
                None
            }
        }
    }

    /// Builds the inheritance graph, reports every cycle with all its roles and edges, and
    /// returns the graph with cycles cut so later checks can walk it, and whether its
    /// ancestor sets are small enough to make (not E0402: checks that take each role's
    /// ancestors are then skipped, or they would take time and memory quadratic in a line of
    /// roles, 1.6 GB for 16,000).
    fn role_graph(&mut self) -> (RoleGraph, bool) {
        let edges: Vec<(RoleId, RoleId)> = self.extends_spans.keys().copied().collect();
        let mut graph = RoleGraph::new(self.ir.roles.len(), edges);
        let cycles = graph.cycles();
        for c in &cycles {
            let names: Vec<String> = c.roles.iter().map(|r| format!("`{}`", self.ir.role_name(*r))).collect();
            let first = c.roles.first().copied().unwrap_or(RoleId(0));
            let first_span = self.ir.roles.get(first.idx()).map(|r| r.span).unwrap_or_default();
            let mut d = if c.roles.len() == 1 {
                Diagnostic::error(
                    "E0401",
                    format!("role {} extends itself", names.join(", ")),
                    first_span,
                    "this role is its own ancestor",
                )
            } else {
                Diagnostic::error(
                    "E0401",
                    format!("role inheritance cycle among {}", names.join(", ")),
                    first_span,
                    "this role is its own ancestor",
                )
            };
            for (child, parent) in &c.edges {
                let span = self.extends_spans.get(&(*child, *parent)).copied().unwrap_or(first_span);
                d = d.with_label(
                    span,
                    format!("`{}` extends `{}`", self.ir.role_name(*child), self.ir.role_name(*parent)),
                );
            }
            let chain: Vec<String> = c
                .edges
                .iter()
                .map(|(a, b)| format!("{} -> {}", self.ir.role_name(*a), self.ir.role_name(*b)))
                .collect();
            self.diags.push(
                d.with_note(format!("edges of the cycle: {}", chain.join(", ")))
                    .with_help("role inheritance must be acyclic: remove one of these `extends`"),
            );
        }
        graph.break_cycles(&cycles);
        let over = graph.inherited_over(MAX_INHERITED);
        if let Some((role, deepest)) = over {
            let span = self.ir.roles.get(role.idx()).map(|r| r.span).unwrap_or_default();
            self.diags.push(
                Diagnostic::error(
                    "E0402",
                    "role inheritance is too large to resolve",
                    span,
                    format!("by this role, the chains from each role to each of its ancestors pass {MAX_INHERITED} roles in all"),
                )
                .with_note(format!(
                    "this role's longest `extends` chain is {deepest} roles long; the total grows with the cube of a chain's length"
                ))
                .with_help("make role hierarchies shallower: extend a few base roles rather than a long line of roles"),
            );
        }
        (graph, over.is_none())
    }
}

/// The most role-chain entries that resolving inherited rules may hold (see
/// [`RoleGraph::inherited_over`]): 5 million, some 400 MiB and 2 s to compile at most; a line
/// of about 310 roles, each extending the one before, passes it, while 50,000 roles each
/// extending a hierarchy ten deep stay within it (E0402).
const MAX_INHERITED: u64 = 5_000_000;

fn star_outside_rule(span: Span) -> Diagnostic {
    Diagnostic::error("E0315", "`*` may only appear in rules", span, "not allowed here")
        .with_help("list the actions, or name an action set")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{parse, parse_deferring};

    /// Two files whose `assign` items the hand-written reader takes, interleaved with ones the
    /// grammar reads (a quoted id, a comment inside the item, a bare type), and with an error.
    const FILES: [&str; 2] = [
        r#"resource org; resource ws in org { actions read; }
role viewer { allow read on ws; }
assign viewer to user:a on org:o1/ws:w1;
assign viewer to user:"b c" on org:o1;
assign viewer to user:d on org:o2/ws:w2;
group g;
"#,
        r#"assign viewer /* inside */ to group:g on org:o3;
assign viewer, viewer to user:e, group:g, everyone on org:o4/ws:w4;
assign viewer to user:f on org:o5/ws;
assign ghost to user:g on org:o6;
assign viewer to user:h;
"#,
    ];

    fn sources() -> Sources {
        let mut sources = Sources::default();
        for (i, text) in FILES.iter().enumerate() {
            sources.add(format!("f{i}.rbac"), (*text).to_string());
        }
        sources
    }

    #[test]
    fn deferred_assignments_check_exactly_as_parsed_ones() {
        let sources = sources();
        let (mut whole, mut deferring) = (Diagnostics::default(), Diagnostics::default());
        let mut files = Vec::new();
        let mut lazy = Vec::new();
        let mut deferred = Vec::new();
        for (id, text) in (0..).zip(FILES) {
            files.push(parse(id, text, &mut whole));
            let mut offsets = Vec::new();
            lazy.push(parse_deferring(id, text, &mut deferring, &mut offsets));
            deferred.push((id, offsets));
        }
        // The grammar's items stay in the files; the hand-read ones are offsets only.
        let held = |f: &[ast::File]| f.iter().flat_map(|f| &f.items).filter(|i| matches!(i, Item::Assign(_))).count();
        assert_eq!((held(&files), held(&lazy)), (8, 3));
        assert_eq!(deferred.iter().map(|(_, d)| d.len()).sum::<usize>(), 5);
        let a = check(files, &mut whole);
        let b = check_deferred(lazy, deferred, &sources, &mut deferring);
        assert_eq!(format!("{:?}", a.assignments), format!("{:?}", b.assignments));
        assert_eq!(a.assignments.len(), 7, "all but the one scoped at a bare type");
        let codes = |d: &Diagnostics| d.iter().map(|d| (d.code, d.primary.span)).collect::<Vec<_>>();
        assert_eq!(codes(&whole), codes(&deferring));
        assert!(whole.iter().any(|d| d.code == "E0201"), "the unknown role is reported");
        assert!(whole.iter().any(|d| d.primary.span.file == 1 && d.message.contains("type")), "{whole:?}");
    }

    #[test]
    fn the_type_tree_is_checked_in_linear_time_and_each_cycle_reported_once() {
        // A line of 5,000 types, a cycle of 2,000 and one of 2 (checking each walk's path at
        // every step made this cubic: 4,000 types took 12 s in a release build).
        let mut text = String::from("resource t0;\n");
        for i in 1..5000 {
            text.push_str(&format!("resource t{i} in t{};\n", i - 1));
        }
        for i in 0..2000 {
            text.push_str(&format!("resource c{i} in c{};\n", (i + 1) % 2000));
        }
        text.push_str("resource a in b; resource b in a; resource below in c7;\n");
        let mut diags = Diagnostics::default();
        let started = std::time::Instant::now();
        let files = vec![parse(0, &text, &mut diags)];
        check(files, &mut diags);
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
        let cycles: Vec<usize> =
            diags.iter().filter(|d| d.code == "E0501").map(|d| d.message.matches(" in ").count() + 1).collect();
        assert_eq!(cycles, [2000, 2], "{:?}", diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    }

    /// Shapes that made checking quadratic in time, memory or errors (a fuzzing review): every
    /// role of one `exclusive` set assigned one by one to one user (each pair was an error:
    /// 2,000 roles, 2 million errors and 4 GB), a line of 16,000 roles each extending the one
    /// before (1.6 GB to report E0402), 40,000 roles in 20,000 sets (sets x roles x
    /// assignments, 12 s), and one subject's 40,000 assignments of one set on disjoint scopes.
    #[test]
    fn exclusive_sets_and_long_inheritance_lines_check_in_time_linear_in_the_policy() {
        let started = std::time::Instant::now();
        let check_text = |text: &str| {
            let mut diags = Diagnostics::default();
            let files = vec![parse(0, text, &mut diags)];
            check(files, &mut diags);
            diags
        };
        let n = 2000;
        let mut text = String::from("resource w { actions read; }\n");
        (0..n).for_each(|i| text.push_str(&format!("role r{i} {{ }}\n")));
        let set: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        text.push_str(&format!("exclusive {};\n", set.join(", ")));
        (0..n).for_each(|i| text.push_str(&format!("assign r{i} to user:a;\n")));
        let diags = check_text(&text);
        // Each assignment after the first clashes: one error each, naming the first it meets.
        let clashes: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == "E0506").collect();
        assert_eq!(clashes.len(), n - 1);
        assert!(clashes.iter().all(|d| d.message.starts_with("`user:a` holds `r0` and ")), "{:?}", clashes.first());

        let mut line = String::from("resource w { actions read; }\nrole r0 { }\n");
        (1..16_000).for_each(|i| line.push_str(&format!("role r{i} extends r{} {{ }}\n", i - 1)));
        let diags = check_text(&line);
        assert_eq!(diags.iter().filter(|d| d.code == "E0402").count(), 1);

        let mut sets = String::from("resource w { actions read; }\n");
        (0..40_000).for_each(|i| sets.push_str(&format!("role r{i} {{ }}\nassign r{i} to user:u{i};\n")));
        (0..40_000).step_by(2).for_each(|i| sets.push_str(&format!("exclusive r{i}, r{};\n", i + 1)));
        assert!(!check_text(&sets).has_errors());

        // One subject holding both roles of a set on 40,000 disjoint scopes: no clash, and each
        // assignment is compared only with those on its scope's prefixes (every pair: 5 s).
        let mut disjoint = String::from("resource w { actions read; }\nresource p in w { actions read; }\n");
        disjoint.push_str("role a { }\nrole b { }\nexclusive a, b;\n");
        (0..20_000).for_each(|i| {
            disjoint.push_str(&format!("assign a to user:s on w:x/p:a{i};\nassign b to user:s on w:x/p:b{i};\n"))
        });
        disjoint.push_str("assign b to user:s on w:x;\n");
        // Only the last, on the scope above them all, clashes: with the first `a`.
        let clashes: Vec<Diagnostic> = check_text(&disjoint).iter().filter(|d| d.code == "E0506").cloned().collect();
        assert_eq!(clashes.len(), 1);
        assert_eq!(clashes.first().map(|d| d.primary.span.start as usize), disjoint.rfind("assign b"));
        // Each took 7 s or more in a release build before; now a debug build takes a few seconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    }

    /// Mistakes authors make whose fix the help names (a review of diagnostics).
    #[test]
    fn checker_helps_name_the_fix() {
        let first = |text: &str, code: &str| {
            let mut diags = Diagnostics::default();
            let files = vec![parse(0, text, &mut diags)];
            check(files, &mut diags);
            let d = diags.iter().find(|d| d.code == code).cloned();
            d.map(|d| (d.message, d.help.unwrap_or_default())).unwrap_or_default()
        };
        // `actions crud` without `use std::crud;` declares one action named `crud`.
        let (_, help) = first("resource doc { actions crud; }\nrole v { allow read on doc; }\n", "E0203");
        assert!(help.starts_with("`read` is in the standard action set `crud`: add `use std::crud;`"), "{help}");
        let (_, help) = first("resource doc { actions cruds; }\nrole v { allow share on doc; }\n", "E0203");
        assert!(help.contains("`cruds`: add `use std::crud;`"), "{help}");
        let (_, help) = first("resource doc { actions cruds; }\nrole v { allow read on doc; }\n", "E0203");
        assert!(help.contains("`cruds`: add `use std::crud;`"), "{help}");
        // W0008's help: what was likely meant, never a second prefix.
        let id = |literal: &str| {
            first(
                &format!(
                    "resource doc {{ actions read; }}\nrole v {{ allow read on doc when principal.id == {literal}; }}\n"
                ),
                "W0008",
            )
            .1
        };
        assert_eq!(id("\"ann@acme.com\""), "did you mean `\"user:ann@acme.com\"`?");
        assert_eq!(id("\"group:admins\""), "a group is tested with `principal in group:admins`");
        assert_eq!(id("\"User:ann\""), "did you mean `\"user:ann\"`? (the prefix is lower-case)");
        assert_eq!((id("\"\""), id("\"user:\"")), (String::new(), String::new()));
        // Group membership is no attribute.
        let (_, help) = first(
            "resource doc { actions read; }\nrole v { allow read on doc when \"a\" in principal.groups; }\n",
            "E0206",
        );
        assert_eq!(help, "group membership is written `principal in group:NAME`");
        // An entity where its id is meant; a set and its element swapped.
        let owner = "resource doc { actions read; attributes { owner: string, tags: set<string> } }\n";
        let (_, help) =
            first(&format!("{owner}role v {{ allow read on doc when resource.owner == principal; }}\n"), "E0316");
        assert!(help.starts_with("did you mean `principal.id`?"), "{help}");
        let (_, help) =
            first(&format!("{owner}role v {{ allow read on doc when resource.tags in \"x\"; }}\n"), "E0306");
        assert_eq!(help, "the element comes first: `ELEMENT in SET`");
        // A type's article.
        let test = "resource doc { actions read; attributes { n: int } }\nrole v { allow read on doc; }\nassign v to everyone;\n\
                    test \"t\" { expect allow user:a read doc:x with { resource.n: \"1\" }; }\n";
        assert_eq!(first(test, "E0314").0, "`resource.n` is an `int`, but the test gives a `string`");
    }

    #[test]
    fn an_assignment_that_cannot_be_read_again_is_an_error() {
        let sources = sources();
        let mut diags = Diagnostics::default();
        let files = vec![parse(0, FILES[0], &mut diags)];
        // Offset 1 starts no `assign` item.
        let ir = check_deferred(files, vec![(0, vec![1])], &sources, &mut diags);
        assert!(diags.iter().any(|d| d.code == "E0101" && d.primary.span.start == 1), "{diags:?}");
        assert_eq!(ir.assignments.len(), 3, "the file's own");
    }
}
