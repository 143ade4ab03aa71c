//! The workload in Casbin (`casbin` crate): RBAC with domains, the closest of Casbin's models.
//!
//! - A domain is an assignment scope (`w12`, `p345`); each assignment is a grouping line
//!   `g, user:u5, developer, p345` (or `group:g7`).
//! - Role inheritance is folded into the permission lines: each role gets a `p` line for every
//!   (type, action) rule of itself and its ancestors (`*` kept as a wildcard), with its effect
//!   and a condition flag. Casbin's role manager could chain roles per domain instead, but that
//!   needs the inheritance links repeated in every domain (roles x scopes lines) and a deeper
//!   search on every `g()` call.
//! - Groups come with the request, as they do for `rbac` (a token's groups claim): the request
//!   carries up to three group subjects, and the matcher asks `g()` for the user and each group
//!   at the workspace and the project of the target.
//! - The ownership condition is an ABAC term of the matcher (`r.owner == r.sub`); deny lines
//!   win through the `allow && !deny` effect.

use crate::workload::{Effect, Req, Scope, Subject, TYPES, Workload};
use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};
use std::collections::BTreeSet;
use std::fmt::Write;

pub const MODEL: &str = r#"
[request_definition]
r = sub, g1, g2, g3, ws, proj, obj, act, owner

[policy_definition]
p = sub, obj, act, cond, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.obj == "*" || p.obj == r.obj) && (p.act == "*" || p.act == r.act) && (g(r.sub, p.sub, r.ws) || g(r.sub, p.sub, r.proj) || (r.g1 != "" && (g(r.g1, p.sub, r.ws) || g(r.g1, p.sub, r.proj))) || (r.g2 != "" && (g(r.g2, p.sub, r.ws) || g(r.g2, p.sub, r.proj))) || (r.g3 != "" && (g(r.g3, p.sub, r.ws) || g(r.g3, p.sub, r.proj)))) && (p.cond == "-" || r.owner == r.sub)
"#;

/// The policy lines (`p`) and the grouping lines (`g`), as Casbin's CSV.
pub fn policy_csv(w: &Workload) -> String {
    let mut lines: BTreeSet<String> = BTreeSet::new();
    for (ri, role) in w.roles.iter().enumerate() {
        for anc in w.closure(ri) {
            for rule in w.roles.get(anc).map_or(&[][..], |r| &r.rules) {
                let types: Vec<&str> = match &rule.types {
                    None => vec!["*"],
                    Some(ts) => ts.clone(),
                };
                let actions: Vec<&str> = match &rule.actions {
                    None => vec!["*"],
                    Some(a) => a.clone(),
                };
                for t in &types {
                    for a in &actions {
                        // Only the pairs the type declares, as in rbac (a `*` type keeps its actions).
                        let declared =
                            *t == "*" || *a == "*" || TYPES.iter().any(|x| x.name == *t && x.actions.contains(a));
                        if !declared {
                            continue;
                        }
                        let cond = if rule.owner_only { "owner" } else { "-" };
                        let eft = if rule.effect == Effect::Allow { "allow" } else { "deny" };
                        lines.insert(format!("p, {}, {t}, {a}, {cond}, {eft}", role.name));
                    }
                }
            }
        }
    }
    let mut s = String::new();
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    for a in &w.assignments {
        let subject = match a.subject {
            Subject::User(u) => format!("user:u{u}"),
            Subject::Group(g) => format!("group:g{g}"),
        };
        let scope = match a.scope {
            Scope::Workspace(ws) => format!("w{ws}"),
            Scope::Project(p) => format!("p{p}"),
        };
        let role = w.roles.get(a.role as usize).map_or("?", |r| r.name.as_str());
        let _ = writeln!(s, "g, {subject}, {role}, {scope}");
    }
    s
}

/// A Casbin request: sub, three group slots (`""` when unused), workspace, project, type,
/// action, owner.
pub fn request(w: &Workload, r: &Req) -> Vec<String> {
    let groups = w.groups_of(r.user);
    let g = |i: usize| groups.get(i).map_or(String::new(), |g| format!("group:g{g}"));
    let t = &r.target;
    vec![
        format!("user:u{}", r.user),
        g(0),
        g(1),
        g(2),
        t.workspace.map_or(String::new(), |ws| format!("w{ws}")),
        t.project.map_or(String::new(), |p| format!("p{p}")),
        crate::workload::type_name(t.ty).to_string(),
        r.action.to_string(),
        r.owner.map_or(String::new(), |o| format!("user:u{o}")),
    ]
}

/// Loads the enforcer (on a current-thread tokio runtime: Casbin's loading API is async).
pub fn load(w: &Workload) -> Result<Enforcer, String> {
    let csv = policy_csv(w);
    let rt = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let model = DefaultModel::from_str(MODEL).await.map_err(|e| e.to_string())?;
        Enforcer::new(model, StringAdapter::new(csv)).await.map_err(|e| e.to_string())
    })
}

pub fn decide(e: &Enforcer, req: &[String]) -> Result<bool, String> {
    e.enforce(req.to_vec()).map_err(|e| e.to_string())
}
