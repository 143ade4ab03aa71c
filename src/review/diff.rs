//! `diff`: the changes in effective permissions between two compiled policies, subject by
//! subject and scope by scope, with the policy edits (roles, rules, `extends`, assignments,
//! `exclusive` sets, schema) that cause each one. `docs/audit.md` defines the terms; in short:
//!
//! - The access of a subject S at a scope X on (type t, action a) is [`State`] of the roles
//!   assigned to S or to `everyone` at X or a scope enclosing it, pooled before any rule is
//!   read (design 5.2 with S read as a principal: a user or service without groups, a group
//!   as a member with no roles of its own), on a resource of type t at X (X itself, or inside
//!   X and inside no other scope). So a deny `everyone` holds deeper down reaches S there.
//! - A transition is the pair (old state, new state). It can change only where S or
//!   `everyone` holds roles, so the scopes looked at for S are the scopes where S holds roles
//!   in either policy, and every scope inside those where `everyone` does; for `everyone`,
//!   everywhere and its own scopes. Outside its own scopes S holds what `everyone` holds.
//! - Reading the list back: for S on a resource r, the change is the one listed for S at the
//!   deepest scope enclosing r, else the one listed for `everyone` at the deepest scope
//!   enclosing r, else none. The entry read must hold S's transition on r, states included (an
//!   unchanged allow read where S is denied in both policies is wrong); reading none must mean
//!   S's access did not change. A change is listed at (S, X) exactly when that reading would
//!   otherwise be wrong at X, so the reading is exact everywhere, and a change that every
//!   principal sees is listed once, under `everyone`.

use super::access::{self, Held, State};
use super::facts::{Facts, RuleAtom};
use super::index::AccessIndex;
use crate::check::ir::RoleId;
use crate::compile::{CompiledPolicy, EVERYONE, NodeId, SubjectId};
use crate::syntax::ast::Effect;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What changed between two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDiff {
    /// The old policy's digest (`sha256:...`, [`crate::audit::policy_digest`]).
    pub old_digest: String,
    /// The new policy's digest (`sha256:...`).
    pub new_digest: String,
    /// The policy edits, in a stable order; changes refer to them by index.
    pub edits: Vec<Edit>,
    /// Sorted by subject (`everyone`, groups, then principals), scope, type and action.
    pub changes: Vec<Change>,
    /// Changes no single subject's changes show: separation-of-duty clashes that start or end
    /// for principals that are several subjects at once (a user and a group, two groups);
    /// identities changed (tokens and claims accepted, groups given); types moved in the
    /// resource tree.
    pub notes: Vec<String>,
}

impl PolicyDiff {
    /// Whether any effective permission changed (edits alone, like renaming a role that
    /// changes no decision, do not count).
    pub fn changed(&self) -> bool {
        !self.changes.is_empty() || !self.notes.is_empty()
    }

    /// How many changes of a kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }
}

/// How a permission changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Could not be allowed before, can now.
    Gained,
    /// Could be allowed before, cannot now.
    Lost,
    /// Differs otherwise: other conditions, or a new or dropped deny.
    Changed,
    /// The same as before here, where the enclosing scope (or `everyone`) changed.
    Unchanged,
}

/// One change in effective permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The subject: `everyone`, `group:NAME`, or a principal id (`user:ann`).
    pub subject: String,
    /// `None` for everywhere.
    pub scope: Option<String>,
    /// The resource type (`"type"` in JSON).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The action.
    pub action: String,
    /// How the access changed.
    pub kind: ChangeKind,
    /// The access in the old policy.
    pub old: State,
    /// The access in the new policy.
    pub new: State,
    /// Indexes into [`PolicyDiff::edits`] of the edits that bear on this change.
    pub causes: Vec<usize>,
}

/// A policy edit. Rule edits group the (type, action) atoms of one role, effect and
/// condition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    /// A role only the new policy has.
    RoleAdded {
        /// The role's name.
        role: String,
    },
    /// A role only the old policy has.
    RoleRemoved {
        /// The role's name.
        role: String,
    },
    /// A role now `extends` a parent.
    ExtendsAdded {
        /// The extending role.
        role: String,
        /// The role it extends.
        parent: String,
    },
    /// A role no longer `extends` a parent.
    ExtendsRemoved {
        /// The extending role.
        role: String,
        /// The role it extended.
        parent: String,
    },
    /// A role got rules: `allow`/`deny` of `actions` on `types`.
    RuleAdded {
        /// The role holding the rules.
        role: String,
        /// Allow or deny.
        effect: Effect,
        /// The actions, sorted.
        actions: Vec<String>,
        /// The types on which exactly these actions were added, sorted.
        types: Vec<String>,
        /// The condition as policy text (`resource.owner == principal.id`), `None` for an
        /// unconditional rule.
        when: Option<String>,
    },
    /// A role lost rules: `allow`/`deny` of `actions` on `types`.
    RuleRemoved {
        /// The role holding the rules.
        role: String,
        /// Allow or deny.
        effect: Effect,
        /// The actions, sorted.
        actions: Vec<String>,
        /// The types on which exactly these actions were removed, sorted.
        types: Vec<String>,
        /// The condition as policy text, `None` for an unconditional rule.
        when: Option<String>,
    },
    /// An assignment only the new policy has.
    AssignmentAdded {
        /// The role assigned.
        role: String,
        /// The subject: `everyone`, `group:NAME`, or a principal id.
        subject: String,
        /// The scope's path, `None` for everywhere.
        scope: Option<String>,
    },
    /// An assignment only the old policy has.
    AssignmentRemoved {
        /// The role assigned.
        role: String,
        /// The subject: `everyone`, `group:NAME`, or a principal id.
        subject: String,
        /// The scope's path, `None` for everywhere.
        scope: Option<String>,
    },
    /// An `exclusive` set only the new policy has.
    ExclusiveAdded {
        /// The set's roles, sorted.
        roles: Vec<String>,
    },
    /// An `exclusive` set only the old policy has.
    ExclusiveRemoved {
        /// The set's roles, sorted.
        roles: Vec<String>,
    },
    /// A change of types, actions, attributes, groups or identities.
    Schema {
        /// The change in words (``type `pipeline` removed``).
        change: String,
        /// The types whose changes it is a cause of: the type named, every type for principal or
        /// context attributes, none for groups and identities.
        types: Vec<String>,
    },
}

impl Edit {
    /// One line for people, in policy words.
    pub fn describe(&self) -> String {
        let scope = |s: &Option<String>| s.as_ref().map_or(String::new(), |s| format!(" on {s}"));
        let rule = |effect: &Effect, actions: &[String], types: &[String], when: &Option<String>| {
            let when = when.as_ref().map_or(String::new(), |w| format!(" when {w}"));
            format!("{} {} on {}{when}", effect.as_str(), actions.join(", "), types.join(", "))
        };
        match self {
            Edit::RoleAdded { role } => format!("role `{role}` added"),
            Edit::RoleRemoved { role } => format!("role `{role}` removed"),
            Edit::ExtendsAdded { role, parent } => format!("role `{role}` now extends `{parent}`"),
            Edit::ExtendsRemoved { role, parent } => format!("role `{role}` no longer extends `{parent}`"),
            Edit::RuleAdded { role, effect, actions, types, when } => {
                format!("role `{role}`: + {}", rule(effect, actions, types, when))
            }
            Edit::RuleRemoved { role, effect, actions, types, when } => {
                format!("role `{role}`: - {}", rule(effect, actions, types, when))
            }
            Edit::AssignmentAdded { role, subject, scope: s } => format!("+ assign {role} to {subject}{}", scope(s)),
            Edit::AssignmentRemoved { role, subject, scope: s } => format!("- assign {role} to {subject}{}", scope(s)),
            Edit::ExclusiveAdded { roles } => format!("+ exclusive {}", roles.join(", ")),
            Edit::ExclusiveRemoved { roles } => format!("- exclusive {}", roles.join(", ")),
            Edit::Schema { change, .. } => change.clone(),
        }
    }
}

/// Compares two compiled policies.
pub fn diff(old: &CompiledPolicy, new: &CompiledPolicy) -> PolicyDiff {
    let (old_facts, new_facts) = (Facts::of(old), Facts::of(new));
    let edits = edits(&old_facts, &new_facts);
    let views = [View::new(old), View::new(new)];

    // Subjects, and the scopes where each holds roles in either policy.
    let mut scopes_of: BTreeMap<SubjectKey, BTreeSet<ScopeKey>> = BTreeMap::new();
    scopes_of.insert(SubjectKey::everyone(), BTreeSet::from([Vec::new()]));
    for view in &views {
        for (subject, node) in view.index.policy.grants.keys() {
            let key = view.subject_key(*subject);
            scopes_of.entry(key).or_default().insert(view.scope_key(*node));
        }
    }
    let everyone_scopes = scopes_of.get(&SubjectKey::everyone()).cloned().unwrap_or_default();

    let mut changes = Vec::new();
    let none = (State::none(), State::none());
    // What `everyone` lists: the fallback a reader takes for every other subject. `everyone`
    // sorts first, so it is complete before any other subject is looked at.
    let mut everyone_listed = Listed::new();
    for (subject, own) in &scopes_of {
        let is_everyone = subject.0 == 0;
        // The subject's access changes only where it or `everyone` holds roles, in either
        // policy. Outside its own scopes a reader takes `everyone`'s list, which is exact
        // there (the subject holds nothing more than `everyone` does); inside them, every
        // scope where `everyone` holds roles must be looked at too, since a deny (or any
        // rule) `everyone` gets deeper down changes the subject's access there as well.
        let mut looked: BTreeSet<ScopeKey> = own.clone();
        if !is_everyone {
            looked.extend(everyone_scopes.iter().filter(|x| own.iter().any(|y| x.starts_with(y))).cloned());
        }
        // The changes listed so far for this subject, by pair.
        let mut listed = Listed::new();
        // Enclosing scopes sort first, so they are listed before the scopes inside them.
        for scope in &looked {
            let here = transitions(&views, subject, scope);
            let mut pairs: BTreeSet<Pair> = here.states.keys().cloned().collect();
            pairs.extend(listed.keys().cloned());
            if !is_everyone {
                pairs.extend(everyone_listed.keys().cloned());
            }
            for pair in pairs {
                if !here.types.contains(&pair.0) {
                    continue;
                }
                let now = here.states.get(&pair).unwrap_or(&none);
                // What a reader takes here without a new entry: the subject's deepest entry
                // enclosing the scope, else `everyone`'s, else none. An entry's states must be
                // the states here (an unchanged allow read where the access is an unchanged
                // deny is wrong); no entry means no change, whatever the states.
                let inherited = read(&listed, &pair, scope, false)
                    .or_else(|| if is_everyone { None } else { read(&everyone_listed, &pair, scope, true) });
                let right = match inherited {
                    Some(t) => t == now,
                    None => now.0 == now.1,
                };
                if right {
                    continue;
                }
                let kind = match (now.0.permits(), now.1.permits()) {
                    _ if now.0 == now.1 => ChangeKind::Unchanged,
                    (false, true) => ChangeKind::Gained,
                    (true, false) => ChangeKind::Lost,
                    _ => ChangeKind::Changed,
                };
                changes.push(Change {
                    subject: subject.1.clone(),
                    scope: render_scope(scope),
                    type_name: pair.0.clone(),
                    action: pair.1.clone(),
                    kind,
                    old: now.0.clone(),
                    new: now.1.clone(),
                    causes: causes(&edits, subject, scope, &pair, &here.roles),
                });
                listed.entry(pair).or_default().push((scope.clone(), now.clone()));
            }
        }
        if is_everyone {
            everyone_listed = listed;
        }
    }
    let (old_clashes, new_clashes) = (views[0].split_clashes(), views[1].split_clashes());
    // Where a principal that is both subjects is denied: the inner scopes of their clashes. A
    // clash is news only where the other policy denies no scope enclosing it, whatever the
    // roles are called (renaming a role of the set, or dropping an assignment a wider one
    // covers, leaves the denial where it was).
    let covered =
        |clashes: &BTreeSet<(Vec<String>, (String, String), ScopeKey)>, who: &(String, String), at: &ScopeKey| {
            clashes.iter().any(|(_, w, scope)| w == who && at.starts_with(scope))
        };
    let mut notes = Vec::new();
    for (clashes, other, now) in [(&new_clashes, &old_clashes, true), (&old_clashes, &new_clashes, false)] {
        let news = clashes.iter().filter(|(_, who, scope)| !covered(other, who, scope));
        // One note a subject pair and scope, naming the first set's roles.
        let mut seen = BTreeSet::new();
        for (roles, (a, b), scope) in news.filter(|(_, who, scope)| seen.insert((who.clone(), scope.clone()))) {
            // A user or service first: "`user:bob` and in `group:sec`".
            let (a, b) = if a.starts_with("group:") && !b.starts_with("group:") { (b, a) } else { (a, b) };
            let who = |s: &str| if s.starts_with("group:") { format!("in `{s}`") } else { format!("`{s}`") };
            let scope = render_scope(scope).map_or("everywhere".to_string(), |s| format!("on `{s}`"));
            let roles = roles.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" and ");
            notes.push(if now {
                format!(
                    "a principal that is {} and {} now holds {roles} (exclusive) {scope}: it is denied everything there",
                    who(a),
                    who(b)
                )
            } else {
                format!(
                    "a principal that is {} and {} no longer holds both {roles} (exclusive) {scope}: that \
                     separation-of-duty denial is lifted",
                    who(a),
                    who(b)
                )
            });
        }
    }
    notes.extend(principal_notes(&old_facts, &new_facts));
    PolicyDiff {
        old_digest: crate::audit::digest_of(&old_facts),
        new_digest: crate::audit::digest_of(&new_facts),
        edits,
        changes,
        notes,
    }
}

/// (kind: 0 everyone, 1 group, 2 user or service; display name): sorts as listed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SubjectKey(u8, String);

impl SubjectKey {
    fn everyone() -> SubjectKey {
        SubjectKey(0, "everyone".to_string())
    }
}

/// A scope as (type, id) names; empty for everywhere. Sorts enclosing scopes first.
type ScopeKey = Vec<(String, String)>;
/// (type, action) by name.
type Pair = (String, String);
/// A transition: the (old, new) access.
type Transition = (State, State);
/// One subject's listed changes by pair: (scope, transition), enclosing scopes first.
type Listed = BTreeMap<Pair, Vec<(ScopeKey, Transition)>>;

/// The transition a reader takes for a pair at `scope` from one subject's list: the entry at
/// the deepest scope enclosing it (`scope` itself too when `or_self`).
fn read<'l>(listed: &'l Listed, pair: &Pair, scope: &ScopeKey, or_self: bool) -> Option<&'l Transition> {
    listed
        .get(pair)?
        .iter()
        .filter(|(s, _)| scope.starts_with(s) && (or_self || s.len() < scope.len()))
        .max_by_key(|(s, _)| s.len())
        .map(|(_, t)| t)
}

fn render_scope(scope: &ScopeKey) -> Option<String> {
    (!scope.is_empty()).then(|| crate::path::render(scope.iter().map(|(t, id)| (t.as_str(), id.as_str())), None))
}

/// The (old, new) states at one (subject, scope), the types that exist there in either
/// policy, and the roles (with their ancestors) the subject holds there in either.
#[derive(Debug, Clone, Default)]
struct Transitions {
    states: BTreeMap<Pair, Transition>,
    types: BTreeSet<String>,
    roles: BTreeSet<String>,
}

fn transitions(views: &[View<'_>; 2], subject: &SubjectKey, scope: &ScopeKey) -> Transitions {
    let mut out = Transitions::default();
    for (side, view) in views.iter().enumerate() {
        let Some((held, types)) = view.held(subject, scope) else { continue };
        let policy = view.index.policy;
        let clash = access::clash(policy, &held);
        for h in &held {
            for anc in view.closure.get(h.role.idx()).map_or(&[][..], Vec::as_slice) {
                out.roles.insert(policy.role_names.get(anc.idx()).cloned().unwrap_or_default());
            }
        }
        for t in types {
            out.types.insert(view.index.type_name(t).to_string());
            for a in view.index.actions_of(t) {
                let state = access::access(policy, &view.index, &held, &clash, access::Known::any(t), a).state;
                if state == State::none() {
                    continue;
                }
                let pair = (view.index.type_name(t).to_string(), view.index.action_name(a).to_string());
                let slot = out.states.entry(pair).or_insert_with(|| (State::none(), State::none()));
                if side == 0 {
                    slot.0 = state;
                } else {
                    slot.1 = state;
                }
            }
        }
    }
    out
}

/// One policy, read by names.
struct View<'p> {
    index: AccessIndex<'p>,
    /// Each role's ancestors, itself included.
    closure: Vec<Vec<RoleId>>,
}

impl<'p> View<'p> {
    fn new(policy: &'p CompiledPolicy) -> View<'p> {
        let mut closure = vec![Vec::new(); policy.role_names.len()];
        for chain in &policy.chains {
            if let (Some(first), Some(last)) = (chain.first(), chain.last())
                && let Some(c) = closure.get_mut(first.idx())
            {
                c.push(*last);
            }
        }
        View { index: AccessIndex::new(policy), closure }
    }

    /// Two roles of one `exclusive` set held by two subjects one principal can be at once (a
    /// user or service and a group, or two groups; not `everyone`, whose roles each
    /// subject's own changes count) on overlapping scopes: (roles, subjects, inner scope).
    fn split_clashes(&self) -> BTreeSet<(Vec<String>, (String, String), ScopeKey)> {
        let policy = self.index.policy;
        let mut holders: BTreeMap<(u32, RoleId), BTreeSet<(SubjectKey, ScopeKey)>> = BTreeMap::new();
        for ((subject, node), roles) in &policy.grants {
            if *subject == EVERYONE {
                continue;
            }
            for r in roles {
                for (set, member) in policy.role_exclusive.get(r.idx()).map_or(&[][..], Vec::as_slice) {
                    holders
                        .entry((*set, *member))
                        .or_default()
                        .insert((self.subject_key(*subject), self.scope_key(*node)));
                }
            }
        }
        let mut out = BTreeSet::new();
        for ((set, m1), h1) in &holders {
            for ((set2, m2), h2) in holders.range((*set, *m1)..) {
                if set2 != set || m2 == m1 {
                    continue;
                }
                for (s1, x1) in h1 {
                    for (s2, x2) in h2 {
                        let overlap = x1.starts_with(x2) || x2.starts_with(x1);
                        if s1 == s2 || (s1.0 == 2 && s2.0 == 2) || !overlap {
                            continue;
                        }
                        let name = |r: &RoleId| policy.role_names.get(r.idx()).cloned().unwrap_or_default();
                        let mut roles = vec![name(m1), name(m2)];
                        roles.sort();
                        let subjects =
                            if s1.1 <= s2.1 { (s1.1.clone(), s2.1.clone()) } else { (s2.1.clone(), s1.1.clone()) };
                        let inner = if x1.len() >= x2.len() { x1.clone() } else { x2.clone() };
                        out.insert((roles, subjects, inner));
                    }
                }
            }
        }
        out
    }

    fn subject_key(&self, s: SubjectId) -> SubjectKey {
        let name = self.index.subject_name(s);
        let kind = if s == EVERYONE {
            0
        } else if name.starts_with("group:") {
            1
        } else {
            2
        };
        SubjectKey(kind, name)
    }

    fn scope_key(&self, node: NodeId) -> ScopeKey {
        let mut out: ScopeKey = self
            .index
            .ancestors_or_self(node)
            .iter()
            .filter_map(|n| self.index.segment.get(*n as usize).and_then(|s| s.as_ref()))
            .map(|(t, id)| (self.index.type_name(*t).to_string(), id.clone()))
            .collect();
        out.shrink_to_fit();
        out
    }

    /// The roles `subject` and `everyone` hold at `scope` in this policy, and the types a
    /// resource at the scope can have; `None` when the scope does not follow this policy's
    /// resource tree (then nothing is allowed there).
    fn held(&self, subject: &SubjectKey, scope: &ScopeKey) -> Option<(Vec<Held>, Vec<crate::check::ir::TypeId>)> {
        let policy = self.index.policy;
        let sid = match subject.0 {
            0 => Some(EVERYONE),
            1 => subject
                .1
                .strip_prefix("group:")
                .and_then(|g| policy.group_index.get(g))
                .map(|g| policy.group_subject(*g)),
            _ => policy.principal_subjects.get(subject.1.as_str()).copied(),
        };
        let mut nodes = vec![0];
        let mut node = Some(0);
        let mut prev = None;
        for (t, id) in scope {
            let tid = *policy.type_index.get(t)?;
            if policy.types.get(tid.idx()).and_then(|ty| ty.parent) != prev {
                return None;
            }
            prev = Some(tid);
            node = node.and_then(|n| policy.lookup.child(n, tid, id));
            nodes.extend(node);
        }
        let mut held = Vec::new();
        for &n in &nodes {
            for s in sid.iter().chain(std::iter::once(&EVERYONE)).collect::<BTreeSet<_>>() {
                held.extend(self.index.roles_at(*s, n).iter().map(|&role| Held { role, subject: *s, node: n }));
            }
        }
        let types = match prev {
            Some(t) => self.index.types_within(t),
            None => self.index.all_types(),
        };
        Some((held, types))
    }
}

/// The edits between two policies' facts.
fn edits(old: &Facts, new: &Facts) -> Vec<Edit> {
    let mut out = Vec::new();
    for r in old.roles.difference(&new.roles) {
        out.push(Edit::RoleRemoved { role: r.clone() });
    }
    for r in new.roles.difference(&old.roles) {
        out.push(Edit::RoleAdded { role: r.clone() });
    }
    for (role, parent) in old.extends.difference(&new.extends) {
        out.push(Edit::ExtendsRemoved { role: role.clone(), parent: parent.clone() });
    }
    for (role, parent) in new.extends.difference(&old.extends) {
        out.push(Edit::ExtendsAdded { role: role.clone(), parent: parent.clone() });
    }
    for (added, atoms) in [(false, old.rules.difference(&new.rules)), (true, new.rules.difference(&old.rules))] {
        for ((role, effect, when), actions, types) in group_atoms(atoms) {
            out.push(if added {
                Edit::RuleAdded { role, effect, actions, types, when }
            } else {
                Edit::RuleRemoved { role, effect, actions, types, when }
            });
        }
    }
    for (subject, scope, role) in old.assignments.difference(&new.assignments) {
        out.push(Edit::AssignmentRemoved { role: role.clone(), subject: subject.clone(), scope: scope.clone() });
    }
    for (subject, scope, role) in new.assignments.difference(&old.assignments) {
        out.push(Edit::AssignmentAdded { role: role.clone(), subject: subject.clone(), scope: scope.clone() });
    }
    for roles in old.exclusive.difference(&new.exclusive) {
        out.push(Edit::ExclusiveRemoved { roles: roles.clone() });
    }
    for roles in new.exclusive.difference(&old.exclusive) {
        out.push(Edit::ExclusiveAdded { roles: roles.clone() });
    }
    out.extend(schema_edits(old, new));
    out
}

/// The rules of one role, effect and condition: (role, effect, condition).
type RuleKey = (String, Effect, Option<String>);
/// A grouped rule edit: the key, then its actions and types.
type RuleGroup = (RuleKey, Vec<String>, Vec<String>);

/// Groups rule atoms by (role, effect, condition), then types with the same actions:
/// `allow read, update on model, pipeline`.
fn group_atoms<'a>(atoms: impl Iterator<Item = &'a RuleAtom>) -> Vec<RuleGroup> {
    let mut by_rule: BTreeMap<RuleKey, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (role, effect, when, ty, action) in atoms {
        by_rule
            .entry((role.clone(), *effect, when.clone()))
            .or_default()
            .entry(ty.clone())
            .or_default()
            .insert(action.clone());
    }
    let mut out = Vec::new();
    for (key, types) in by_rule {
        let mut by_actions: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (ty, actions) in types {
            by_actions.entry(actions.into_iter().collect()).or_default().push(ty);
        }
        for (actions, types) in by_actions {
            out.push((key.clone(), actions, types));
        }
    }
    out
}

/// Types, actions, attributes, groups and identities added, removed or changed.
fn schema_edits(old: &Facts, new: &Facts) -> Vec<Edit> {
    let mut out = Vec::new();
    let edit = |change: String, types: Vec<String>| Edit::Schema { change, types };
    for (name, t) in &old.types {
        match new.types.get(name) {
            None => out.push(edit(format!("type `{name}` removed"), vec![name.clone()])),
            Some(n) => {
                if n.parent != t.parent {
                    out.push(edit(format!("type `{name}` moved in the resource tree"), vec![name.clone()]));
                }
                for a in t.actions.difference(&n.actions) {
                    out.push(edit(format!("action `{a}` removed from type `{name}`"), vec![name.clone()]));
                }
                for a in n.actions.difference(&t.actions) {
                    out.push(edit(format!("action `{a}` added to type `{name}`"), vec![name.clone()]));
                }
                if n.attrs != t.attrs {
                    out.push(edit(format!("attributes of type `{name}` changed"), vec![name.clone()]));
                }
            }
        }
    }
    for name in new.types.keys().filter(|n| !old.types.contains_key(*n)) {
        out.push(edit(format!("type `{name}` added"), vec![name.clone()]));
    }
    let all_types = || old.types.keys().chain(new.types.keys()).cloned().collect::<BTreeSet<_>>().into_iter().collect();
    if old.principal_attrs != new.principal_attrs {
        out.push(edit("principal attributes changed".to_string(), all_types()));
    }
    if old.context_attrs != new.context_attrs {
        out.push(edit("context attributes changed".to_string(), all_types()));
    }
    for g in old.groups.difference(&new.groups) {
        out.push(edit(format!("group `{g}` removed"), Vec::new()));
    }
    for g in new.groups.difference(&old.groups) {
        out.push(edit(format!("group `{g}` added"), Vec::new()));
    }
    let names: BTreeSet<&String> = old.identities.keys().chain(new.identities.keys()).collect();
    for name in names {
        match (old.identities.get(name), new.identities.get(name)) {
            (Some(_), None) => out.push(edit(format!("identity `{name}` removed"), Vec::new())),
            (None, Some(_)) => out.push(edit(format!("identity `{name}` added"), Vec::new())),
            (Some(a), Some(b)) if a != b => {
                let what = identity_changes(a, b).join(", ");
                out.push(edit(format!("identity `{name}` changed: {what}"), Vec::new()));
            }
            _ => {}
        }
    }
    out
}

/// What differs between two versions of an identity, in words.
fn identity_changes(a: &super::facts::IdentityFacts, b: &super::facts::IdentityFacts) -> Vec<String> {
    let shown = |v: &Option<String>| v.as_ref().map_or("none".to_string(), |v| format!("\"{v}\""));
    let mut out = Vec::new();
    for (what, x, y) in [
        ("issuer", &a.issuer, &b.issuer),
        ("audience", &a.audience, &b.audience),
        ("user claim", &a.user_claim, &b.user_claim),
        ("groups claim", &a.groups_claim, &b.groups_claim),
    ] {
        if x != y {
            out.push(format!("{what} {} -> {}", shown(x), shown(y)));
        }
    }
    if a.aliases != b.aliases {
        out.push("group aliases".to_string());
    }
    out
}

/// Changes no subject's access shows, for the principals they concern: identities (the tokens
/// and claims they accept, the groups claims give), attribute declarations (which requests are
/// valid) and types moved in the resource tree (a path through the old place becomes invalid,
/// one through the new place valid).
fn principal_notes(old: &Facts, new: &Facts) -> Vec<String> {
    let mut notes = Vec::new();
    let names: BTreeSet<&String> = old.identities.keys().chain(new.identities.keys()).collect();
    for name in names {
        let says = match (old.identities.get(name), new.identities.get(name)) {
            (Some(_), None) => "is removed: its tokens and claims are refused".to_string(),
            (None, Some(_)) => "is added: its tokens and claims are accepted".to_string(),
            (Some(a), Some(b)) if a != b => format!("changed ({})", identity_changes(a, b).join(", ")),
            _ => continue,
        };
        notes.push(format!(
            "identity `{name}` {says}: principals given by its tokens or claims may be decided differently"
        ));
    }
    // A request's attributes are checked against the declarations: a request valid under the
    // old ones may be invalid (denied) under the new, or the other way round.
    let attrs_note = |what: String| {
        format!(
            "{what} changed: requests that give them may be valid under one policy and invalid (denied) under the other"
        )
    };
    if old.principal_attrs != new.principal_attrs {
        notes.push(attrs_note("principal attributes".to_string()));
    }
    if old.context_attrs != new.context_attrs {
        notes.push(attrs_note("context attributes".to_string()));
    }
    for (name, t) in &old.types {
        let Some(n) = new.types.get(name) else { continue };
        if n.attrs != t.attrs {
            notes.push(attrs_note(format!("attributes of type `{name}`")));
        }
        if n.parent != t.parent {
            let place = |p: &Option<String>| p.as_ref().map_or("a root type".to_string(), |p| format!("inside `{p}`"));
            notes.push(format!(
                "type `{name}` moved from {} to {}: requests on paths through its old place are invalid now \
                 (denied), those through its new place are decided",
                place(&t.parent),
                place(&n.parent)
            ));
        }
    }
    notes
}

/// The edits that bear on one change: assignments to the subject or `everyone` at the scope
/// or one enclosing it, edits of the roles held there (or their ancestors) that touch the
/// pair, and schema edits of its type.
fn causes(edits: &[Edit], subject: &SubjectKey, scope: &ScopeKey, pair: &Pair, roles: &BTreeSet<String>) -> Vec<usize> {
    let scope_text = render_scope(scope);
    let encloses = |s: &Option<String>| match (s, &scope_text) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(s), Some(x)) => x == s || x.starts_with(&format!("{s}/")),
    };
    let (ty, action) = pair;
    let held = |r: &String| roles.contains(r);
    edits
        .iter()
        .enumerate()
        .filter(|(_, e)| match e {
            Edit::AssignmentAdded { subject: s, scope, .. } | Edit::AssignmentRemoved { subject: s, scope, .. } => {
                (s == &subject.1 || s == "everyone") && encloses(scope)
            }
            Edit::RoleAdded { role } | Edit::RoleRemoved { role } => held(role),
            Edit::ExtendsAdded { role, .. } | Edit::ExtendsRemoved { role, .. } => held(role),
            Edit::RuleAdded { role, actions, types, .. } | Edit::RuleRemoved { role, actions, types, .. } => {
                held(role) && actions.contains(action) && types.contains(ty)
            }
            Edit::ExclusiveAdded { roles: set } | Edit::ExclusiveRemoved { roles: set } => set.iter().any(held),
            Edit::Schema { types, .. } => types.contains(ty),
        })
        .map(|(i, _)| i)
        .collect()
}
