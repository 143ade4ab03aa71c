//! The workload in Cedar (`cedar-policy` 4), encoded the way Cedar's own github benchmark
//! encodes repository roles: a fixed set of policies, one per role rule, and the assignments in
//! the entity store.
//!
//! - Every (role, scope) that some assignment reaches is a `Binding` entity
//!   (`Binding::"developer@p12"`). The users and groups assigned the role there are members of
//!   it; role inheritance is binding membership (`Binding::"admin@p12"` is in
//!   `Binding::"developer@p12"`), so holding a role is `principal in` its binding or any
//!   inheriting role's.
//! - Users are members of their groups. Organizations, workspaces and projects are entities
//!   in the tree; each workspace and project carries one attribute per role bound there,
//!   naming its binding. Every resource has `ws` (its workspace) and `proj` (its project)
//!   attributes, so one condition finds the bindings of both scopes that contain it.
//! - The leaf resources the requests name are entities with their `owner` (a `User`), when
//!   the request gives one.
//! - One `permit`/`forbid` per role rule: its actions, its types, the binding check, and the
//!   ownership condition as `resource has owner && resource.owner == principal`.

use crate::workload::{Effect, Level, Req, Rule, Scope, Subject, TYPES, Workload, level};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;
use std::str::FromStr;

/// The Cedar entity type of a resource type: `pipeline_run` -> `PipelineRun`.
pub fn type_of(ty: usize) -> String {
    crate::workload::type_name(ty)
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

fn uid(ty: &str, id: &str) -> EntityUid {
    // The type names here are all valid identifiers.
    let name = EntityTypeName::from_str(ty).unwrap_or_else(|e| panic!("entity type `{ty}`: {e}"));
    EntityUid::from_type_name_and_id(name, EntityId::new(id))
}

fn scope_id(s: Scope) -> String {
    match s {
        Scope::Workspace(w) => format!("w{w}"),
        Scope::Project(p) => format!("p{p}"),
    }
}

/// The policy text: one policy per role rule (the roles' own rules: inheritance is in the
/// entity store).
pub fn policies(w: &Workload) -> String {
    let mut s = String::new();
    for role in &w.roles {
        for (k, rule) in role.rules.iter().enumerate() {
            let _ = writeln!(s, "@id(\"{}.{k}\")\n{}\n", role.name, policy(&role.name, rule));
        }
    }
    s
}

fn policy(role: &str, rule: &Rule) -> String {
    let effect = if rule.effect == Effect::Allow { "permit" } else { "forbid" };
    let action = match &rule.actions {
        None => "action".to_string(),
        Some(a) => {
            let list: Vec<String> = a.iter().map(|a| format!("Action::\"{a}\"")).collect();
            format!("action in [{}]", list.join(", "))
        }
    };
    let types: Vec<String> = match &rule.types {
        None => Vec::new(),
        Some(ts) => ts.iter().filter_map(|t| TYPES.iter().position(|x| x.name == *t)).map(type_of).collect(),
    };
    let (resource, mut conds) = match types.as_slice() {
        [] => ("resource".to_string(), Vec::new()),
        [one] => (format!("resource is {one}"), Vec::new()),
        many => {
            let is: Vec<String> = many.iter().map(|t| format!("resource is {t}")).collect();
            ("resource".to_string(), vec![format!("({})", is.join(" || "))])
        }
    };
    conds.push(format!(
        "((resource has proj && resource.proj has {role} && principal in resource.proj.{role}) || \
         (resource has ws && resource.ws has {role} && principal in resource.ws.{role}))"
    ));
    if rule.owner_only {
        conds.push("resource has owner && resource.owner == principal".to_string());
    }
    format!("{effect} (principal, {action}, {resource})\nwhen {{ {} }};", conds.join(" && "))
}

/// The entity store: users, groups, bindings, the tree, and the requests' leaf resources.
pub fn entities(w: &Workload) -> Result<Entities, String> {
    let p = &w.params;
    // Roles held directly at each scope, then their closures: the bindings.
    let mut at: BTreeMap<Scope, BTreeSet<usize>> = BTreeMap::new();
    for a in &w.assignments {
        at.entry(a.scope).or_default().insert(a.role as usize);
    }
    let closures: Vec<Vec<usize>> = (0..w.roles.len()).map(|r| w.closure(r)).collect();
    let mut bound: HashMap<Scope, BTreeSet<usize>> = HashMap::new();
    for (scope, roles) in &at {
        let set = bound.entry(*scope).or_default();
        for &r in roles {
            set.extend(closures.get(r).into_iter().flatten().copied());
        }
    }
    let binding = |role: usize, scope: Scope| {
        let name = w.roles.get(role).map_or("?", |r| r.name.as_str());
        uid("Binding", &format!("{name}@{}", scope_id(scope)))
    };

    let mut out: Vec<Entity> = Vec::new();
    let mut user_parents: Vec<HashSet<EntityUid>> =
        (0..p.users).map(|u| w.groups_of(u).iter().map(|g| uid("Group", &format!("g{g}"))).collect()).collect();
    let mut group_parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); p.groups as usize];
    for a in &w.assignments {
        let b = binding(a.role as usize, a.scope);
        let set = match a.subject {
            Subject::User(u) => user_parents.get_mut(u as usize),
            Subject::Group(g) => group_parents.get_mut(g as usize),
        };
        if let Some(set) = set {
            set.insert(b);
        }
    }
    for (u, parents) in user_parents.into_iter().enumerate() {
        out.push(Entity::new_no_attrs(uid("User", &format!("u{u}")), parents));
    }
    for (g, parents) in group_parents.into_iter().enumerate() {
        out.push(Entity::new_no_attrs(uid("Group", &format!("g{g}")), parents));
    }
    let mut scopes: Vec<(&Scope, &BTreeSet<usize>)> = bound.iter().collect();
    scopes.sort();
    for (scope, roles) in scopes {
        for &r in roles {
            let parents: HashSet<EntityUid> =
                w.roles.get(r).map_or(&[][..], |r| &r.parents).iter().map(|&p| binding(p, *scope)).collect();
            out.push(Entity::new_no_attrs(binding(r, *scope), parents));
        }
    }

    let role_attrs = |scope: Scope, attrs: &mut HashMap<String, RestrictedExpression>| {
        for &r in bound.get(&scope).into_iter().flatten() {
            if let Some(role) = w.roles.get(r) {
                attrs.insert(role.name.clone(), RestrictedExpression::new_entity_uid(binding(r, scope)));
            }
        }
    };
    let entity = |id: EntityUid, attrs, parents| Entity::new(id, attrs, parents).map_err(|e| e.to_string());
    for o in 0..p.orgs {
        out.push(Entity::new_no_attrs(uid("Organization", &format!("o{o}")), HashSet::new()));
    }
    for ws in 0..p.workspaces() {
        let me = uid("Workspace", &format!("w{ws}"));
        let mut attrs = HashMap::from([("ws".to_string(), RestrictedExpression::new_entity_uid(me.clone()))]);
        role_attrs(Scope::Workspace(ws), &mut attrs);
        out.push(entity(me, attrs, HashSet::from([uid("Organization", &format!("o{}", w.org_of(ws)))]))?);
    }
    for proj in 0..p.projects() {
        let me = uid("Project", &format!("p{proj}"));
        let ws = uid("Workspace", &format!("w{}", w.workspace_of(proj)));
        let mut attrs = HashMap::from([
            ("ws".to_string(), RestrictedExpression::new_entity_uid(ws.clone())),
            ("proj".to_string(), RestrictedExpression::new_entity_uid(me.clone())),
        ]);
        role_attrs(Scope::Project(proj), &mut attrs);
        out.push(entity(me, attrs, HashSet::from([ws]))?);
    }
    for r in &w.requests {
        let (Some(x), Some(proj), Some(ws)) = (r.target.leaf, r.target.project, r.target.workspace) else { continue };
        let mut attrs = HashMap::from([
            ("ws".to_string(), RestrictedExpression::new_entity_uid(uid("Workspace", &format!("w{ws}")))),
            ("proj".to_string(), RestrictedExpression::new_entity_uid(uid("Project", &format!("p{proj}")))),
        ]);
        if let Some(o) = r.owner {
            attrs.insert("owner".to_string(), RestrictedExpression::new_entity_uid(uid("User", &format!("u{o}"))));
        }
        let parent = uid("Project", &format!("p{proj}"));
        out.push(entity(uid(&type_of(r.target.ty), &format!("x{x}")), attrs, HashSet::from([parent]))?);
    }
    Entities::from_entities(out, None).map_err(|e| e.to_string())
}

/// A loaded Cedar engine for a workload.
pub struct CedarEngine {
    pub policies: PolicySet,
    pub entities: Entities,
    pub authorizer: Authorizer,
}

impl CedarEngine {
    pub fn load(w: &Workload) -> Result<CedarEngine, String> {
        let policies = PolicySet::from_str(&policies(w)).map_err(|e| format!("cedar policies: {e}"))?;
        Ok(CedarEngine { policies, entities: entities(w)?, authorizer: Authorizer::new() })
    }

    /// The Cedar request for a workload request.
    pub fn request(&self, w: &Workload, r: &Req) -> Result<Request, String> {
        let t = &r.target;
        let resource = match level(t.ty) {
            Level::Organization => uid("Organization", &format!("o{}", t.org)),
            Level::Workspace => uid("Workspace", &format!("w{}", t.workspace.unwrap_or(0))),
            Level::Project => uid("Project", &format!("p{}", t.project.unwrap_or(0))),
            Level::Leaf => uid(&type_of(t.ty), &format!("x{}", t.leaf.unwrap_or(0))),
        };
        let _ = w;
        Request::new(uid("User", &format!("u{}", r.user)), uid("Action", r.action), resource, Context::empty(), None)
            .map_err(|e| e.to_string())
    }

    /// Allow or deny, and how many evaluation errors the response carries.
    pub fn decide(&self, req: &Request) -> (bool, usize) {
        let resp = self.authorizer.is_authorized(req, &self.policies, &self.entities);
        (resp.decision() == Decision::Allow, resp.diagnostics().errors().count())
    }
}
