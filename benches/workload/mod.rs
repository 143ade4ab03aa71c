//! The issue-6 workload: a seeded, deterministic ZenML-like policy (the tree organization,
//! workspace, project, then six resource types), four base roles with inheritance plus custom
//! roles that extend them, three denies, an ownership condition, groups, users and role
//! assignments at workspace and project scope, and a fixed set of requests (allow and deny
//! mixed, users with zero to three groups). It hands on the structured model (which the peers
//! package translates into Cedar and Casbin), the `.rbac` source text, and the requests as
//! [`rbac::Request`]s and JSON Lines.
//!
//! Shared by the main crate's `benches/scale.rs` (`mod workload;`) and the peers package
//! (`#[path = "../../workload/mod.rs"] mod workload;`), so it depends on nothing but `rbac` and
//! `serde_json`, and carries its own tiny PRNG.

// Each including target uses a different part of the module.
#![allow(dead_code)]

use std::fmt::Write;

/// The three sizes of issue 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 1k assignments.
    S,
    /// 100k assignments.
    M,
    /// 1M assignments, 100k users, 10k groups.
    L,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::S, Size::M, Size::L];

    pub fn parse(s: &str) -> Option<Size> {
        match s {
            "S" | "s" => Some(Size::S),
            "M" | "m" => Some(Size::M),
            "L" | "l" => Some(Size::L),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
        }
    }

    /// How many of each thing the size has.
    pub fn params(self) -> Params {
        let base = Params {
            orgs: 2,
            workspaces_per_org: 5,
            projects_per_workspace: 10,
            users: 500,
            groups: 50,
            assignments: 1_000,
            custom_roles: 20,
            requests: 1_000,
            seed: 0x5eed_0006,
        };
        match self {
            Size::S => base,
            Size::M => Params {
                orgs: 10,
                workspaces_per_org: 10,
                projects_per_workspace: 50,
                users: 20_000,
                groups: 2_000,
                assignments: 100_000,
                ..base
            },
            Size::L => Params {
                orgs: 20,
                workspaces_per_org: 50,
                projects_per_workspace: 50,
                users: 100_000,
                groups: 10_000,
                assignments: 1_000_000,
                ..base
            },
        }
    }
}

/// A request as `Policy::check` takes it: subject, target, action, context.
pub type Prepared<'p> = (rbac::Subject<'p>, rbac::Target<'p>, &'p str, &'p serde_json::Map<String, serde_json::Value>);

/// The counts a workload is generated from.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub orgs: u32,
    pub workspaces_per_org: u32,
    pub projects_per_workspace: u32,
    pub users: u32,
    pub groups: u32,
    pub assignments: u32,
    pub custom_roles: u32,
    pub requests: u32,
    pub seed: u64,
}

impl Params {
    pub fn workspaces(&self) -> u32 {
        self.orgs * self.workspaces_per_org
    }

    pub fn projects(&self) -> u32 {
        self.workspaces() * self.projects_per_workspace
    }
}

/// A resource type of the tree; `owned` types declare `attributes { owner: string }`.
#[derive(Debug)]
pub struct ResourceType {
    pub name: &'static str,
    pub parent: Option<&'static str>,
    /// Every action, `crud` expanded.
    pub actions: &'static [&'static str],
    pub owned: bool,
}

/// Where a type sits in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Organization,
    Workspace,
    Project,
    /// One of the six types inside a project.
    Leaf,
}

pub const ORGANIZATION: usize = 0;
pub const WORKSPACE: usize = 1;
pub const PROJECT: usize = 2;
/// The six types inside a project are `TYPES[FIRST_LEAF..]`.
pub const FIRST_LEAF: usize = 3;

pub const TYPES: &[ResourceType] = &[
    ResourceType { name: "organization", parent: None, actions: &["create", "read", "update", "delete"], owned: false },
    ResourceType {
        name: "workspace",
        parent: Some("organization"),
        actions: &["create", "read", "update", "delete", "share"],
        owned: false,
    },
    ResourceType {
        name: "project",
        parent: Some("workspace"),
        actions: &["create", "read", "update", "delete", "share"],
        owned: false,
    },
    ResourceType {
        name: "pipeline",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "run"],
        owned: true,
    },
    ResourceType {
        name: "pipeline_run",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "retry"],
        owned: true,
    },
    ResourceType {
        name: "model",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "promote"],
        owned: true,
    },
    ResourceType {
        name: "artifact",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "download"],
        owned: true,
    },
    ResourceType {
        name: "stack",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "use", "deploy"],
        owned: true,
    },
    ResourceType {
        name: "secret",
        parent: Some("project"),
        actions: &["create", "read", "update", "delete", "read_value", "rotate"],
        owned: true,
    },
];

pub fn level(ty: usize) -> Level {
    match ty {
        ORGANIZATION => Level::Organization,
        WORKSPACE => Level::Workspace,
        PROJECT => Level::Project,
        _ => Level::Leaf,
    }
}

pub fn type_name(ty: usize) -> &'static str {
    TYPES.get(ty).map_or("?", |t| t.name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One rule of a role. `None` is `*`. Names are written as they are (no action sets).
#[derive(Debug, Clone)]
pub struct Rule {
    pub effect: Effect,
    pub actions: Option<Vec<&'static str>>,
    pub types: Option<Vec<&'static str>>,
    /// `when resource.owner == principal.id`.
    pub owner_only: bool,
}

impl Rule {
    fn new(effect: Effect, actions: &[&'static str], types: &[&'static str], owner_only: bool) -> Rule {
        let names = |n: &[&'static str]| if n == ["*"] { None } else { Some(n.to_vec()) };
        Rule { effect, actions: names(actions), types: names(types), owner_only }
    }

    /// Whether the rule applies to `action` on type `ty` (the action declared on the type).
    pub fn applies(&self, ty: usize, action: &str) -> bool {
        let Some(t) = TYPES.get(ty) else { return false };
        t.actions.contains(&action)
            && self.types.as_ref().is_none_or(|ts| ts.contains(&t.name))
            && self.actions.as_ref().is_none_or(|a| a.contains(&action))
    }

    /// The types the rule applies to (those declaring one of its actions), by index.
    pub fn applies_to(&self) -> Vec<usize> {
        (0..TYPES.len())
            .filter(|&t| TYPES.get(t).is_some_and(|ty| ty.actions.iter().any(|a| self.applies(t, a))))
            .collect()
    }

    /// `allow read, update on pipeline, model when resource.owner == principal.id;`
    pub fn to_rbac(&self) -> String {
        let names = |n: &Option<Vec<&str>>| n.as_ref().map_or("*".to_string(), |v| v.join(", "));
        format!(
            "{} {} on {}{};",
            if self.effect == Effect::Allow { "allow" } else { "deny" },
            names(&self.actions),
            names(&self.types),
            if self.owner_only { " when resource.owner == principal.id" } else { "" }
        )
    }
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// Indices of the roles it extends.
    pub parents: Vec<usize>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(u32),
    Group(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Workspace(u32),
    Project(u32),
}

#[derive(Debug, Clone, Copy)]
pub struct Assignment {
    pub role: u32,
    pub subject: Subject,
    pub scope: Scope,
}

/// A request's resource: an organization, a workspace, a project, or a resource of one of the
/// six leaf types (whose id is unique per request, `x<n>`).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub ty: usize,
    pub org: u32,
    pub workspace: Option<u32>,
    pub project: Option<u32>,
    pub leaf: Option<u32>,
}

/// A request of the fixed set: a user (with the groups [`Workload::user_groups`] gives it),
/// an action, a target, and the target's owner (leaf targets only; sometimes missing).
#[derive(Debug, Clone, Copy)]
pub struct Req {
    pub user: u32,
    pub action: &'static str,
    pub target: Target,
    pub owner: Option<u32>,
}

/// A generated workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub size: Size,
    pub params: Params,
    pub roles: Vec<Role>,
    /// Groups of each user (0 to 3, sorted).
    pub user_groups: Vec<Vec<u32>>,
    pub assignments: Vec<Assignment>,
    pub requests: Vec<Req>,
}

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; 0 when `n == 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
}

/// The four base roles and the custom ones, which extend them (and some each other).
fn roles(custom: u32) -> Vec<Role> {
    use Effect::{Allow, Deny};
    const WORK: &[&str] = &["pipeline", "pipeline_run", "model", "artifact"];
    let mut roles = vec![
        Role { name: "viewer".into(), parents: vec![], rules: vec![Rule::new(Allow, &["read"], &["*"], false)] },
        Role {
            name: "contributor".into(),
            parents: vec![0],
            rules: vec![
                Rule::new(Allow, &["create"], WORK, false),
                Rule::new(Allow, &["update", "delete"], WORK, true),
            ],
        },
        Role {
            name: "developer".into(),
            parents: vec![1],
            rules: vec![
                Rule::new(Allow, &["update"], &["pipeline", "model", "artifact", "stack"], false),
                Rule::new(Allow, &["run"], &["pipeline"], false),
                Rule::new(Allow, &["retry"], &["pipeline_run"], false),
                Rule::new(Allow, &["download"], &["artifact"], false),
                Rule::new(Allow, &["use"], &["stack"], false),
                Rule::new(Allow, &["create", "update"], &["stack", "secret"], false),
                Rule::new(Deny, &["read_value"], &["secret"], false),
            ],
        },
        Role { name: "admin".into(), parents: vec![2], rules: vec![Rule::new(Allow, &["*"], &["*"], false)] },
    ];
    // Extra permissions custom roles pick from.
    let pool = [
        Rule::new(Allow, &["promote"], &["model"], false),
        Rule::new(Allow, &["read_value"], &["secret"], false),
        Rule::new(Allow, &["rotate"], &["secret"], true),
        Rule::new(Allow, &["deploy"], &["stack"], false),
        Rule::new(Allow, &["share"], &["project", "workspace"], false),
        Rule::new(Allow, &["download"], &["artifact"], false),
        Rule::new(Allow, &["delete"], &["pipeline", "pipeline_run"], false),
        Rule::new(Allow, &["update"], &["project"], false),
    ];
    let len = pool.len() as u32;
    for i in 0..custom {
        let base = (i % 4) as usize;
        let mut parents = vec![base];
        // Some custom roles extend an earlier custom role too: deeper and wider inheritance.
        if i >= 10 && i % 5 == 0 {
            parents.push(4 + (i / 5 - 2) as usize);
        }
        let mut rules = Vec::new();
        for k in [i % len, (i * 3 + 1) % len] {
            let mut rule = pool.get(k as usize).cloned().unwrap_or_else(|| Rule::new(Allow, &["read"], &["*"], false));
            // `read_value on secret` is denied to developers and admins: give those `rotate`.
            if k == 1 && base >= 2 {
                rule = Rule::new(Allow, &["rotate"], &["secret"], true);
            }
            if !rules.iter().any(|r: &Rule| r.to_rbac() == rule.to_rbac()) {
                rules.push(rule);
            }
        }
        // The second and third deny of the workload.
        if i == 5 {
            rules.push(Rule::new(Deny, &["delete"], &["*"], false));
        }
        if i == 11 {
            rules.push(Rule::new(Deny, &["share"], &["project", "workspace"], false));
        }
        roles.push(Role { name: format!("custom_{i}"), parents, rules });
    }
    roles
}

impl Workload {
    pub fn generate(size: Size) -> Workload {
        Workload::generate_with(size, size.params())
    }

    /// A workload with other counts or another seed (`size` only names it).
    pub fn generate_with(size: Size, params: Params) -> Workload {
        let mut rng = Rng::new(params.seed);
        let roles = roles(params.custom_roles);
        let role_count = roles.len() as u32;

        let mut user_groups = Vec::with_capacity(params.users as usize);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); params.groups as usize];
        for u in 0..params.users {
            let n = rng.below(4);
            let mut gs: Vec<u32> = Vec::new();
            while (gs.len() as u32) < n.min(params.groups) {
                let g = rng.below(params.groups);
                if !gs.contains(&g) {
                    gs.push(g);
                }
            }
            gs.sort_unstable();
            for &g in &gs {
                if let Some(m) = members.get_mut(g as usize) {
                    m.push(u);
                }
            }
            user_groups.push(gs);
        }

        let mut assignments = Vec::with_capacity(params.assignments as usize);
        for _ in 0..params.assignments {
            let subject = if rng.percent(75) {
                Subject::User(rng.below(params.users))
            } else {
                Subject::Group(rng.below(params.groups))
            };
            let scope = if rng.percent(25) {
                Scope::Workspace(rng.below(params.workspaces()))
            } else {
                Scope::Project(rng.below(params.projects()))
            };
            // 60% base roles (mostly viewers and contributors), 40% custom ones.
            let role = if rng.percent(60) {
                match rng.below(100) {
                    0..35 => 0,
                    35..65 => 1,
                    65..90 => 2,
                    _ => 3,
                }
            } else {
                4 + rng.below(role_count - 4)
            };
            assignments.push(Assignment { role, subject, scope });
        }

        let mut w = Workload { size, params, roles, user_groups, assignments, requests: Vec::new() };
        w.requests = (0..params.requests).map(|i| w.request(i, &mut rng, &members)).collect();
        w
    }

    /// One request: 60% aimed inside an assignment's scope at one of its subjects, 40% at
    /// random; a random action of the target type; an owner that is the principal 40% of the
    /// time, another user 45%, missing 15%.
    fn request(&self, i: u32, rng: &mut Rng, members: &[Vec<u32>]) -> Req {
        let p = &self.params;
        let (user, mut scope) = (rng.below(p.users), None);
        let user = if rng.percent(60) {
            let a = self.assignments.get(rng.below(p.assignments) as usize).copied();
            scope = a.map(|a| a.scope);
            match a.map(|a| a.subject) {
                Some(Subject::User(u)) => u,
                Some(Subject::Group(g)) => match members.get(g as usize) {
                    Some(m) if !m.is_empty() => m.get(rng.below(m.len() as u32) as usize).copied().unwrap_or(user),
                    _ => user,
                },
                None => user,
            }
        } else {
            user
        };
        let target = match scope {
            Some(Scope::Workspace(ws)) => {
                let roll = rng.below(100);
                if roll < 15 {
                    self.target_in_workspace(ws)
                } else {
                    let proj = ws * p.projects_per_workspace + rng.below(p.projects_per_workspace);
                    if roll < 30 { self.target_in_project(proj, None) } else { self.leaf(proj, i, rng) }
                }
            }
            // An organization: nothing is ever assigned there.
            None if rng.percent(3) => {
                Target { ty: ORGANIZATION, org: rng.below(p.orgs), workspace: None, project: None, leaf: None }
            }
            Some(Scope::Project(_)) | None => {
                let proj = match scope {
                    Some(Scope::Project(proj)) => proj,
                    _ => rng.below(p.projects()),
                };
                if rng.percent(20) { self.target_in_project(proj, None) } else { self.leaf(proj, i, rng) }
            }
        };
        let actions = TYPES.get(target.ty).map_or(&[][..], |t| t.actions);
        let action = actions.get(rng.below(actions.len() as u32) as usize).copied().unwrap_or("read");
        let owner = if target.leaf.is_some() {
            match rng.below(100) {
                0..40 => Some(user),
                40..85 => Some(rng.below(p.users)),
                _ => None,
            }
        } else {
            None
        };
        Req { user, action, target, owner }
    }

    fn target_in_workspace(&self, ws: u32) -> Target {
        Target { ty: WORKSPACE, org: self.org_of(ws), workspace: Some(ws), project: None, leaf: None }
    }

    fn target_in_project(&self, proj: u32, leaf: Option<(usize, u32)>) -> Target {
        let ws = self.workspace_of(proj);
        Target {
            ty: leaf.map_or(PROJECT, |l| l.0),
            org: self.org_of(ws),
            workspace: Some(ws),
            project: Some(proj),
            leaf: leaf.map(|l| l.1),
        }
    }

    fn leaf(&self, proj: u32, i: u32, rng: &mut Rng) -> Target {
        let ty = FIRST_LEAF + rng.below((TYPES.len() - FIRST_LEAF) as u32) as usize;
        self.target_in_project(proj, Some((ty, i)))
    }

    pub fn workspace_of(&self, proj: u32) -> u32 {
        proj / self.params.projects_per_workspace
    }

    pub fn org_of(&self, ws: u32) -> u32 {
        ws / self.params.workspaces_per_org
    }

    /// The role and every role it inherits from, each once, the role first.
    pub fn closure(&self, role: usize) -> Vec<usize> {
        let mut out = vec![role];
        let mut i = 0;
        while let Some(&r) = out.get(i) {
            for &p in self.roles.get(r).map_or(&[][..], |r| &r.parents) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            i += 1;
        }
        out
    }

    /// `organization:o1/workspace:w12/project:p345`.
    pub fn scope_path(&self, scope: Scope) -> String {
        match scope {
            Scope::Workspace(ws) => format!("organization:o{}/workspace:w{ws}", self.org_of(ws)),
            Scope::Project(p) => {
                let ws = self.workspace_of(p);
                format!("organization:o{}/workspace:w{ws}/project:p{p}", self.org_of(ws))
            }
        }
    }

    /// The request path of a target, in policy syntax.
    pub fn target_path(&self, t: &Target) -> String {
        let mut s = format!("organization:o{}", t.org);
        if let Some(ws) = t.workspace {
            let _ = write!(s, "/workspace:w{ws}");
        }
        if let Some(p) = t.project {
            let _ = write!(s, "/project:p{p}");
        }
        if let Some(x) = t.leaf {
            let _ = write!(s, "/{}:x{x}", type_name(t.ty));
        }
        s
    }

    /// The `.rbac` source of the workload.
    pub fn policy_text(&self) -> String {
        let p = &self.params;
        let mut s = String::with_capacity(p.assignments as usize * 80 + p.groups as usize * 16 + 8192);
        let _ = writeln!(
            s,
            "// Generated by benches/workload (issue 6), size {}: {} assignments, {} users, {} groups,\n\
             // {} workspaces, {} projects. Do not edit.\nuse std::crud;\n",
            self.size.name(),
            p.assignments,
            p.users,
            p.groups,
            p.workspaces(),
            p.projects()
        );
        for t in TYPES {
            let extra: Vec<&str> = t.actions.iter().skip(4).copied().collect();
            let mut actions = "crud".to_string();
            for a in extra {
                let _ = write!(actions, ", {a}");
            }
            let parent = t.parent.map(|p| format!(" in {p}")).unwrap_or_default();
            let attrs = if t.owned { " attributes { owner: string }" } else { "" };
            let _ = writeln!(s, "resource {}{parent} {{ actions {actions};{attrs} }}", t.name);
        }
        s.push('\n');
        for r in &self.roles {
            let ext: Vec<&str> = r.parents.iter().filter_map(|&p| self.roles.get(p)).map(|p| p.name.as_str()).collect();
            let ext = if ext.is_empty() { String::new() } else { format!(" extends {}", ext.join(", ")) };
            let _ = writeln!(s, "role {}{ext} {{", r.name);
            for rule in &r.rules {
                let _ = writeln!(s, "    {}", rule.to_rbac());
            }
            s.push_str("}\n");
        }
        s.push('\n');
        for g in 0..p.groups {
            let _ = writeln!(s, "group g{g};");
        }
        s.push('\n');
        for a in &self.assignments {
            let role = self.roles.get(a.role as usize).map_or("?", |r| r.name.as_str());
            let subject = match a.subject {
                Subject::User(u) => format!("user:u{u}"),
                Subject::Group(g) => format!("group:g{g}"),
            };
            let _ = writeln!(s, "assign {role} to {subject} on {};", self.scope_path(a.scope));
        }
        s
    }

    /// A request of the set as an `rbac::Request`.
    pub fn rbac_request(&self, r: &Req) -> rbac::Request {
        let groups: Vec<String> = self.groups_of(r.user).iter().map(|g| format!("g{g}")).collect();
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let req = rbac::Request::new(&format!("user:u{}", r.user), &groups, r.action, &self.target_path(&r.target));
        match r.owner {
            Some(o) => req.with_attr(rbac::Entity::Resource, "owner", serde_json::Value::String(format!("user:u{o}"))),
            None => req,
        }
    }

    pub fn rbac_requests(&self) -> Vec<rbac::Request> {
        self.requests.iter().map(|r| self.rbac_request(r)).collect()
    }

    /// Each request as the parts `Policy::check` takes: its principal and resource resolved
    /// beforehand (`Policy::subject`, `Policy::target`), its action and context. A request
    /// whose parts do not resolve is left out (the workload has none).
    pub fn prepared<'p>(policy: &'p rbac::Policy, requests: &'p [rbac::Request]) -> Vec<Prepared<'p>> {
        requests
            .iter()
            .filter_map(|r| match &r.principal {
                rbac::Principal::Direct(p) => {
                    Some((policy.subject(p).ok()?, policy.target(&r.resource).ok()?, r.action.as_str(), &r.context))
                }
                _ => None,
            })
            .collect()
    }

    /// The requests as JSON Lines (`rbac eval --request FILE`).
    pub fn requests_jsonl(&self) -> String {
        let mut s = String::new();
        for r in &self.requests {
            if let Ok(line) = serde_json::to_string(&self.rbac_request(r)) {
                s.push_str(&line);
                s.push('\n');
            }
        }
        s
    }

    pub fn groups_of(&self, user: u32) -> &[u32] {
        self.user_groups.get(user as usize).map_or(&[], Vec::as_slice)
    }
}
