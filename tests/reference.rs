//! Differential test of the evaluator against a reference interpreter of design section 5.
//!
//! Random small policies are rendered to `.rbac` source and compiled with
//! `rbac::compile_str`; random requests are decided both by `Policy::decide` and by an
//! independent reference interpreter written straight from the design (5.1 validity, 5.2
//! decision, 5.3 reasons). Decisions must be equal; so must the (role, subject, scope) of the
//! allow / deny reasons, the clashing roles of an `exclusive` reason, and "errors exactly for
//! invalid requests".
//!
//! The reference interpreter shares no code with the crate's evaluator: it works on its own
//! model of a policy (`Model`) and of a request (`Req`), both plain data defined below. Only the
//! final `rbac::Request` handed to the crate and the `rbac::Decision` it returns are crate types.
//!
//! The fixed schema behind every generated policy (a forest of 3 + 1 levels):
//!
//! ```text
//! actions rw = read, write;
//! resource org   { actions read, admin; }
//! resource team in org { actions rw, admin; attributes { owner: string, level: int } }
//! resource doc in team { actions rw, share; attributes { owner: string } }
//! resource vault { actions read, open; attributes { level: int } }
//! principal { attributes { dept: string } }
//! context   { attributes { flag: bool, tags: set<string> } }
//! group g0; group g1; group g2;
//! ```
//!
//! On top of it the generator draws roles `r0..rN` (each may extend lower-numbered roles only,
//! so inheritance is acyclic), allow/deny rules with `*`, action sets and typed conditions,
//! assignments to users, services, groups and `everyone` with or without a scope, and
//! `exclusive` sets. Exclusive sets that would be static errors (design section 4) are dropped
//! by the generator, which checks those rules itself.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// The fixed schema, as data for the reference and as text for the compiler.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    Bool,
    StrSet,
}

struct TypeDef {
    name: &'static str,
    parent: Option<&'static str>,
    /// Actions declared on the type, action sets already expanded.
    actions: &'static [&'static str],
    attrs: &'static [(&'static str, Ty)],
}

const TYPES: &[TypeDef] = &[
    TypeDef { name: "org", parent: None, actions: &["read", "admin"], attrs: &[] },
    TypeDef {
        name: "team",
        parent: Some("org"),
        actions: &["read", "write", "admin"],
        attrs: &[("owner", Ty::Str), ("level", Ty::Int)],
    },
    TypeDef { name: "doc", parent: Some("team"), actions: &["read", "write", "share"], attrs: &[("owner", Ty::Str)] },
    TypeDef { name: "vault", parent: None, actions: &["read", "open"], attrs: &[("level", Ty::Int)] },
];

/// Declared action sets (name, members).
const ACTION_SETS: &[(&str, &[&str])] = &[("rw", &["read", "write"])];
const PRINCIPAL_ATTRS: &[(&str, Ty)] = &[("dept", Ty::Str)];
const CONTEXT_ATTRS: &[(&str, Ty)] = &[("flag", Ty::Bool), ("tags", Ty::StrSet)];
const GROUPS: &[&str] = &["g0", "g1", "g2"];
/// Names a rule may list in its actions (an action set among them).
const RULE_ACTION_NAMES: &[&str] = &["read", "write", "admin", "share", "open", "rw"];

const SCHEMA: &str = r#"actions rw = read, write;
resource org { actions read, admin; }
resource team in org { actions rw, admin; attributes { owner: string, level: int } }
resource doc in team { actions rw, share; attributes { owner: string } }
resource vault { actions read, open; attributes { level: int } }
principal { attributes { dept: string } }
context { attributes { flag: bool, tags: set<string> } }
group g0;
group g1;
group g2;
"#;

fn type_def(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

/// An action name or action-set name, expanded to actions.
fn expand_action(name: &'static str) -> Vec<&'static str> {
    match ACTION_SETS.iter().find(|(s, _)| *s == name) {
        Some((_, members)) => members.to_vec(),
        None => vec![name],
    }
}

/// Assignment scopes the generator picks from.
const SCOPES: &[&[(&str, &str)]] = &[
    &[("org", "a")],
    &[("org", "b")],
    &[("org", "a"), ("team", "x")],
    &[("org", "a"), ("team", "y")],
    &[("org", "b"), ("team", "x")],
    &[("org", "a"), ("team", "x"), ("doc", "d")],
    &[("vault", "v")],
];

// ---------------------------------------------------------------------------------------------
// The reference model of a policy.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    fn apply(self, a: i64, b: i64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

#[derive(Clone, Debug)]
enum Cond {
    /// `true` / `false`
    Lit(bool),
    /// `context.flag`
    CtxFlag,
    /// `resource.owner == principal.id`
    OwnerIsPrincipal,
    /// `resource.owner == "LIT"` (or `!=` when the flag is set)
    OwnerCmp(bool, &'static str),
    /// `resource.level OP n`
    Level(CmpOp, i64),
    /// `principal in group:G`
    InGroup(&'static str),
    /// `ENTITY has ATTR`
    Has(&'static str, &'static str),
    /// `principal.dept == "LIT"`
    DeptIs(&'static str),
    /// `resource.id == "LIT"`
    ResourceIdIs(&'static str),
    /// `"LIT" in context.tags`
    TagIn(&'static str),
    /// `principal.id == "LIT"`
    PrincipalIdIs(&'static str),
    /// `principal.dept in ["LIT", ...]` (possibly `[]`)
    DeptIn(&'static [&'static str]),
    /// `context.tags == ["LIT", ...]`: set equality
    TagsEq(&'static [&'static str]),
    /// `!context.flag == LIT`, which parses as `(!context.flag) == LIT` (`!` binds tightest;
    /// on booleans both readings agree, so this checks that it parses and type checks).
    NotFlagEq(bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Clone, Debug)]
enum Names {
    Star,
    List(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct Rule {
    deny: bool,
    actions: Names,
    types: Names,
    cond: Option<Cond>,
}

#[derive(Clone, Debug)]
struct Role {
    extends: Vec<usize>,
    rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    User(u8),
    Service(u8),
    Group(u8),
    Everyone,
}

impl Subject {
    fn text(self) -> String {
        match self {
            Subject::User(n) => format!("user:u{n}"),
            Subject::Service(n) => format!("service:s{n}"),
            Subject::Group(n) => format!("group:g{n}"),
            Subject::Everyone => "everyone".to_string(),
        }
    }
}

type Scope = Option<Vec<(&'static str, &'static str)>>;

#[derive(Clone, Debug)]
struct Assign {
    roles: Vec<usize>,
    subjects: Vec<Subject>,
    scope: Scope,
    /// Render the scope's ids quoted (`org:"a"`), which names the same segment.
    quote: bool,
}

#[derive(Clone, Debug)]
struct Model {
    roles: Vec<Role>,
    assigns: Vec<Assign>,
    exclusive: Vec<Vec<usize>>,
    /// Render the items in reverse order (declaration order never matters).
    reverse: bool,
}

fn role_name(i: usize) -> String {
    format!("r{i}")
}

fn scope_text(scope: &Scope) -> Option<String> {
    scope.as_ref().map(|segs| segs.iter().map(|(t, id)| format!("{t}:{id}")).collect::<Vec<_>>().join("/"))
}

/// Every role and all of its ancestors through `extends` (the role itself included).
fn ancestors_or_self(roles: &[Role], r: usize) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut stack = vec![r];
    while let Some(x) = stack.pop() {
        if out.insert(x)
            && let Some(role) = roles.get(x)
        {
            stack.extend(role.extends.iter().copied());
        }
    }
    out
}

/// The types a rule names, expanded (`*` is every type).
fn rule_types(rule: &Rule) -> Vec<&'static str> {
    match &rule.types {
        Names::Star => TYPES.iter().map(|t| t.name).collect(),
        Names::List(ts) => ts.clone(),
    }
}

/// Whether the rule's actions, expanded, include `action`.
fn rule_has_action(rule: &Rule, action: &str) -> bool {
    match &rule.actions {
        Names::Star => true,
        Names::List(names) => names.iter().any(|n| expand_action(n).contains(&action)),
    }
}

/// The types a rule applies to (design section 4): its expanded types on which some expanded
/// action of the rule is declared.
fn applies_to(actions: &Names, types: &[&'static str]) -> Vec<&'static str> {
    types
        .iter()
        .copied()
        .filter(|t| {
            let Some(def) = type_def(t) else { return false };
            match actions {
                Names::Star => !def.actions.is_empty(),
                Names::List(names) => names.iter().any(|n| expand_action(n).iter().any(|a| def.actions.contains(a))),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rendering the model to `.rbac` source.
// ---------------------------------------------------------------------------------------------

/// Precedence level of a condition node: 0 `||`, 1 `&&`, 2 comparison / `has` / `in`,
/// 3 operand (literal, reference, `!`).
fn cond_level(c: &Cond) -> u8 {
    match c {
        Cond::Or(..) => 0,
        Cond::And(..) => 1,
        Cond::Lit(_) | Cond::CtxFlag | Cond::Not(_) => 3,
        _ => 2,
    }
}

/// Renders with the fewest parentheses the grammar needs to keep exactly this tree.
fn render_cond(c: &Cond, min: u8) -> String {
    let s = match c {
        Cond::Lit(b) => b.to_string(),
        Cond::CtxFlag => "context.flag".to_string(),
        Cond::OwnerIsPrincipal => "resource.owner == principal.id".to_string(),
        Cond::OwnerCmp(ne, lit) => format!("resource.owner {} \"{lit}\"", if *ne { "!=" } else { "==" }),
        Cond::Level(op, n) => format!("resource.level {} {n}", op.text()),
        Cond::InGroup(g) => format!("principal in group:{g}"),
        Cond::Has(e, a) => format!("{e} has {a}"),
        Cond::DeptIs(d) => format!("principal.dept == \"{d}\""),
        Cond::ResourceIdIs(id) => format!("resource.id == \"{id}\""),
        Cond::TagIn(t) => format!("\"{t}\" in context.tags"),
        Cond::PrincipalIdIs(p) => format!("principal.id == \"{p}\""),
        Cond::DeptIn(l) => format!("principal.dept in {}", list_literal(l)),
        Cond::TagsEq(l) => format!("context.tags == {}", list_literal(l)),
        Cond::NotFlagEq(b) => format!("!context.flag == {b}"),
        Cond::Not(a) => format!("!{}", render_cond(a, 3)),
        Cond::And(a, b) => format!("{} && {}", render_cond(a, 1), render_cond(b, 2)),
        Cond::Or(a, b) => format!("{} || {}", render_cond(a, 0), render_cond(b, 1)),
    };
    if cond_level(c) < min { format!("({s})") } else { s }
}

fn list_literal(items: &[&str]) -> String {
    format!("[{}]", items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", "))
}

fn render_names(n: &Names) -> String {
    match n {
        Names::Star => "*".to_string(),
        Names::List(v) => v.join(", "),
    }
}

fn render(model: &Model) -> String {
    let mut items: Vec<String> = Vec::new();
    for (i, role) in model.roles.iter().enumerate() {
        let mut s = format!("role {}", role_name(i));
        if !role.extends.is_empty() {
            s += " extends ";
            s += &role.extends.iter().map(|&e| role_name(e)).collect::<Vec<_>>().join(", ");
        }
        s += " {\n";
        for rule in &role.rules {
            s += &format!(
                "    {} {} on {}",
                if rule.deny { "deny" } else { "allow" },
                render_names(&rule.actions),
                render_names(&rule.types)
            );
            if let Some(c) = &rule.cond {
                s += &format!(" when {}", render_cond(c, 0));
            }
            s += ";\n";
        }
        s += "}";
        items.push(s);
    }
    for a in &model.assigns {
        let roles: Vec<String> = a.roles.iter().map(|&r| role_name(r)).collect();
        let subjects: Vec<String> = a.subjects.iter().map(|s| s.text()).collect();
        let mut s = format!("assign {} to {}", roles.join(", "), subjects.join(", "));
        if let Some(segs) = &a.scope {
            let path: Vec<String> = segs
                .iter()
                .map(|(t, id)| if a.quote { format!("{t}:\"{id}\"") } else { format!("{t}:{id}") })
                .collect();
            s += &format!(" on {}", path.join("/"));
        }
        s += ";";
        items.push(s);
    }
    for set in &model.exclusive {
        items.push(format!("exclusive {};", set.iter().map(|&r| role_name(r)).collect::<Vec<_>>().join(", ")));
    }
    if model.reverse {
        items.reverse();
    }
    let mut out = String::from("// generated by tests/reference.rs\n");
    if model.reverse {
        out += &items.join("\n");
        out += "\n";
        out += SCHEMA;
    } else {
        out += SCHEMA;
        out += &items.join("\n");
        out += "\n";
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The reference model of a request, and its conversion to the crate's request.
// ---------------------------------------------------------------------------------------------

/// A supplied attribute: its name and JSON value.
type Attr = (&'static str, Value);

/// A request as plain data. An attribute value of `Some(Value::Null)` is supplied as JSON null.
#[derive(Clone, Debug)]
struct Req {
    principal: String,
    groups: Vec<String>,
    action: String,
    path: String,
    principal_attrs: Vec<Attr>,
    resource_attrs: Vec<Attr>,
    context: Vec<Attr>,
}

impl Req {
    fn to_crate(&self) -> rbac::Request {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let mut r = rbac::Request::new(&self.principal, &groups, &self.action, &self.path);
        for (k, v) in &self.principal_attrs {
            r = r.with_attr("principal", k, v.clone());
        }
        for (k, v) in &self.resource_attrs {
            r = r.with_attr("resource", k, v.clone());
        }
        for (k, v) in &self.context {
            r = r.with_attr("context", k, v.clone());
        }
        r
    }
}

// ---------------------------------------------------------------------------------------------
// The reference interpreter (design sections 5.1 - 5.3).
// ---------------------------------------------------------------------------------------------

/// A decision in a comparable shape: the effect and what the reasons must say.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Invalid request (5.1): deny with errors and no reasons.
    Invalid,
    /// Step 5: the roles of the exclusive sets that clash.
    Exclusive(BTreeSet<String>),
    /// Step 6: (role holding the rule, subject, scope, unevaluable attributes) per fired deny.
    Deny(BTreeSet<(String, String, Option<String>, Vec<String>)>),
    /// Step 7: (role holding the rule, subject, scope) per matching allow rule.
    Allow(BTreeSet<(String, String, Option<String>)>),
    /// Step 8.
    NoRule,
}

impl Outcome {
    fn is_allow(&self) -> bool {
        matches!(self, Outcome::Allow(_))
    }
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_id_chars(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.@+-".contains(c))
}

/// Parses a request path (5.1) into (type, id) steps, the last one possibly bare (`None` id),
/// checking that it follows the tree from a root type. `None` when invalid.
fn parse_path(path: &str) -> Option<Vec<(&'static TypeDef, Option<String>)>> {
    let pieces: Vec<&str> = path.split('/').collect();
    let mut out: Vec<(&'static TypeDef, Option<String>)> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let (ty, id) = match piece.split_once(':') {
            Some((ty, raw)) => {
                let id = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
                    raw[1..raw.len() - 1].to_string()
                } else if is_id_chars(raw) {
                    raw.to_string()
                } else {
                    return None;
                };
                (ty, Some(id))
            }
            None => {
                if i + 1 != pieces.len() {
                    return None;
                }
                (*piece, None)
            }
        };
        if !is_ident(ty) {
            return None;
        }
        let def = type_def(ty)?;
        let expected_parent = out.last().map(|(p, _)| p.name);
        if def.parent != expected_parent {
            return None;
        }
        out.push((def, id));
    }
    if out.is_empty() { None } else { Some(out) }
}

fn has_type(v: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => v.is_string(),
        Ty::Int => v.is_i64(),
        Ty::Bool => v.is_boolean(),
        Ty::StrSet => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    }
}

/// Supplied (non-null) attribute values must have their declared type.
fn attrs_ok(supplied: &[(&str, Value)], declared: &[(&str, Ty)]) -> bool {
    supplied.iter().all(|(k, v)| {
        v.is_null()
            || match declared.iter().find(|(d, _)| d == k) {
                Some((_, ty)) => has_type(v, *ty),
                None => true, // not declared there: ignored
            }
    })
}

/// What a condition sees of a validated request.
struct Env<'a> {
    req: &'a Req,
    target: &'static TypeDef,
    target_id: Option<&'a str>,
    groups: &'a BTreeSet<String>,
}

impl Env<'_> {
    /// A non-null supplied value of a declared attribute (resource: declared on the target).
    fn value(&self, entity: &str, name: &str) -> Option<&Value> {
        let (list, declared): (&[Attr], &[(&str, Ty)]) = match entity {
            "principal" => (&self.req.principal_attrs, PRINCIPAL_ATTRS),
            "resource" => (&self.req.resource_attrs, self.target.attrs),
            _ => (&self.req.context, CONTEXT_ATTRS),
        };
        if !declared.iter().any(|(d, _)| *d == name) {
            return None;
        }
        // The last value supplied for a key wins (with_attr overwrites; we never repeat keys).
        list.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// Reads an attribute: missing makes the condition "cannot be evaluated".
    fn read(&self, entity: &str, name: &str) -> Result<&Value, String> {
        self.value(entity, name).ok_or_else(|| format!("{entity}.{name}"))
    }
}

/// Evaluates a condition left to right with short-circuit; `Err(attr)` is "cannot be
/// evaluated because `attr` is missing".
fn eval(c: &Cond, env: &Env<'_>) -> Result<bool, String> {
    Ok(match c {
        Cond::Lit(b) => *b,
        Cond::CtxFlag => env.read("context", "flag")?.as_bool() == Some(true),
        Cond::OwnerIsPrincipal => env.read("resource", "owner")?.as_str() == Some(env.req.principal.as_str()),
        Cond::OwnerCmp(ne, lit) => (env.read("resource", "owner")?.as_str() == Some(*lit)) != *ne,
        Cond::Level(op, n) => {
            let v = env.read("resource", "level")?.as_i64().unwrap_or(i64::MIN);
            op.apply(v, *n)
        }
        Cond::InGroup(g) => env.groups.contains(*g),
        Cond::Has(e, a) => env.value(e, a).is_some(),
        Cond::DeptIs(d) => env.read("principal", "dept")?.as_str() == Some(*d),
        Cond::ResourceIdIs(id) => match env.target_id {
            Some(t) => t == *id,
            None => return Err("resource.id".to_string()),
        },
        Cond::TagIn(t) => {
            env.read("context", "tags")?.as_array().is_some_and(|a| a.iter().any(|x| x.as_str() == Some(*t)))
        }
        Cond::PrincipalIdIs(p) => env.req.principal == *p,
        Cond::DeptIn(l) => {
            let d = env.read("principal", "dept")?.as_str().unwrap_or_default();
            l.contains(&d)
        }
        Cond::TagsEq(l) => {
            let tags = env.read("context", "tags")?;
            let have: BTreeSet<&str> =
                tags.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            have == l.iter().copied().collect::<BTreeSet<&str>>()
        }
        Cond::NotFlagEq(b) => (env.read("context", "flag")?.as_bool() != Some(true)) == *b,
        Cond::Not(a) => !eval(a, env)?,
        Cond::And(a, b) => eval(a, env)? && eval(b, env)?,
        Cond::Or(a, b) => eval(a, env)? || eval(b, env)?,
    })
}

/// The reference decision, straight from design section 5.
fn reference_decide(model: &Model, req: &Req) -> Outcome {
    // 5.1 validity.
    let principal_ok =
        ["user:", "service:"].iter().any(|p| req.principal.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    let Some(steps) = parse_path(&req.path) else { return Outcome::Invalid };
    let Some((target, last_id)) = steps.last() else { return Outcome::Invalid };
    if !principal_ok
        || !target.actions.contains(&req.action.as_str())
        || !attrs_ok(&req.principal_attrs, PRINCIPAL_ATTRS)
        || !attrs_ok(&req.context, CONTEXT_ATTRS)
        || !attrs_ok(&req.resource_attrs, target.attrs)
    {
        return Outcome::Invalid;
    }

    // 1. Subjects(P): the id, each declared group, everyone.
    let groups: BTreeSet<String> = req.groups.iter().filter(|g| GROUPS.contains(&g.as_str())).cloned().collect();
    let mut subjects: BTreeSet<String> = groups.iter().map(|g| format!("group:{g}")).collect();
    subjects.insert(req.principal.clone());
    subjects.insert("everyone".to_string());

    // 2. Scopes(r): everywhere and every prefix of whole `type:id` segments.
    let mut scopes: BTreeSet<Option<String>> = BTreeSet::new();
    scopes.insert(None);
    let mut prefix: Vec<String> = Vec::new();
    for (def, id) in &steps {
        let Some(id) = id else { break };
        prefix.push(format!("{}:{id}", def.name));
        scopes.insert(Some(prefix.join("/")));
    }

    // 3. Roles(R), keeping for each role the (subject, scope) of the assignment it came through.
    let mut held: BTreeSet<(usize, String, Option<String>)> = BTreeSet::new();
    for a in &model.assigns {
        let scope = scope_text(&a.scope);
        if !scopes.contains(&scope) {
            continue;
        }
        for s in &a.subjects {
            let st = s.text();
            if !subjects.contains(&st) {
                continue;
            }
            for &r in &a.roles {
                for anc in ancestors_or_self(&model.roles, r) {
                    held.insert((anc, st.clone(), scope.clone()));
                }
            }
        }
    }
    let roles: BTreeSet<usize> = held.iter().map(|(r, _, _)| *r).collect();

    // 5. Separation of duty.
    let mut clash: BTreeSet<String> = BTreeSet::new();
    for set in &model.exclusive {
        let in_roles: Vec<usize> = set.iter().copied().filter(|r| roles.contains(r)).collect();
        if in_roles.len() >= 2 {
            clash.extend(in_roles.into_iter().map(role_name));
        }
    }
    if !clash.is_empty() {
        return Outcome::Exclusive(clash);
    }

    // 4, 6, 7.
    let env = Env { req, target, target_id: last_id.as_deref(), groups: &groups };
    let mut denies = BTreeSet::new();
    let mut allows = BTreeSet::new();
    for (r, subject, scope) in &held {
        let Some(role) = model.roles.get(*r) else { continue };
        for rule in &role.rules {
            if !rule_has_action(rule, &req.action) || !rule_types(rule).contains(&target.name) {
                continue;
            }
            let outcome = match &rule.cond {
                None => Ok(true),
                Some(c) => eval(c, &env),
            };
            match (rule.deny, outcome) {
                (true, Ok(true)) => {
                    denies.insert((role_name(*r), subject.clone(), scope.clone(), Vec::new()));
                }
                (true, Err(attr)) => {
                    denies.insert((role_name(*r), subject.clone(), scope.clone(), vec![attr]));
                }
                (false, Ok(true)) => {
                    allows.insert((role_name(*r), subject.clone(), scope.clone()));
                }
                _ => {}
            }
        }
    }
    if !denies.is_empty() {
        Outcome::Deny(denies)
    } else if !allows.is_empty() {
        Outcome::Allow(allows)
    } else {
        Outcome::NoRule
    }
}

/// The crate's decision in the same comparable shape (or a description of what is malformed).
fn observed(d: &rbac::Decision) -> Result<Outcome, String> {
    use rbac::{Effect, Reason};
    if !d.errors.is_empty() {
        if d.decision != Effect::Deny || !d.reasons.is_empty() {
            return Err("an invalid request must be a deny without reasons".to_string());
        }
        return Ok(Outcome::Invalid);
    }
    match d.decision {
        Effect::Allow => {
            let mut set = BTreeSet::new();
            for r in &d.reasons {
                match r {
                    Reason::Allow(rr) => {
                        set.insert((rr.role.clone(), rr.subject.clone(), rr.scope.clone()));
                    }
                    other => return Err(format!("unexpected reason on allow: {other:?}")),
                }
            }
            Ok(Outcome::Allow(set))
        }
        Effect::Deny => match d.reasons.first() {
            Some(Reason::Exclusive { roles }) => {
                if d.reasons.len() != 1 {
                    return Err("an exclusive reason must be the only reason".to_string());
                }
                Ok(Outcome::Exclusive(roles.iter().cloned().collect()))
            }
            Some(Reason::NoRule) => {
                if d.reasons.iter().skip(1).any(|r| !matches!(r, Reason::Skipped(_))) {
                    return Err("no_rule may only come with skipped reasons".to_string());
                }
                Ok(Outcome::NoRule)
            }
            Some(Reason::Deny(_)) => {
                let mut set = BTreeSet::new();
                for r in &d.reasons {
                    match r {
                        Reason::Deny(rr) => {
                            set.insert((rr.role.clone(), rr.subject.clone(), rr.scope.clone(), rr.unevaluable.clone()));
                        }
                        other => return Err(format!("unexpected reason with deny reasons: {other:?}")),
                    }
                }
                Ok(Outcome::Deny(set))
            }
            other => Err(format!("unexpected first reason on deny: {other:?}")),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Generation: raw random data, then a deterministic build of a model that compiles.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum RawCond {
    Leaf(u8, u8),
    Not(Box<RawCond>),
    And(Box<RawCond>, Box<RawCond>),
    Or(Box<RawCond>, Box<RawCond>),
}

#[derive(Clone, Debug)]
struct RawRule {
    deny: bool,
    /// Bits over `TYPES`; 0 is `*`.
    types: u8,
    /// Bits over `RULE_ACTION_NAMES`; 0 is `*`.
    actions: u8,
    cond: Option<RawCond>,
}

#[derive(Clone, Debug)]
struct RawRole {
    extends: u8,
    rules: Vec<RawRule>,
}

#[derive(Clone, Debug)]
struct RawAssign {
    roles: Vec<u8>,
    subjects: Vec<u8>,
    scope: u8,
    quote: bool,
}

#[derive(Clone, Debug)]
struct RawModel {
    roles: Vec<RawRole>,
    assigns: Vec<RawAssign>,
    exclusive: Vec<u8>,
    reverse: bool,
}

fn raw_cond() -> impl Strategy<Value = RawCond> {
    let leaf = (any::<u8>(), any::<u8>()).prop_map(|(k, p)| RawCond::Leaf(k, p));
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|c| RawCond::Not(Box::new(c))),
            2 => (inner.clone(), inner.clone()).prop_map(|(a, b)| RawCond::And(Box::new(a), Box::new(b))),
            2 => (inner.clone(), inner).prop_map(|(a, b)| RawCond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn raw_rule() -> impl Strategy<Value = RawRule> {
    (
        prop::bool::weighted(0.35),
        // `*`, a list biased to the types with attributes (so conditions can read them), any list.
        prop_oneof![
            1 => Just(0u8),
            2 => prop::sample::select(vec![0b0010u8, 0b0100, 0b0110, 0b1010, 0b1000]),
            3 => 1u8..16,
        ],
        prop_oneof![1 => Just(0u8), 5 => 1u8..64],
        prop::option::weighted(0.5, raw_cond()),
    )
        .prop_map(|(deny, types, actions, cond)| RawRule { deny, types, actions, cond })
}

fn raw_model() -> impl Strategy<Value = RawModel> {
    let role = ((any::<u8>(), any::<u8>()).prop_map(|(a, b)| a & b), prop::collection::vec(raw_rule(), 0..4))
        .prop_map(|(extends, rules)| RawRole { extends, rules });
    let assign = (
        prop::collection::vec(any::<u8>(), 1..3),
        prop::collection::vec(any::<u8>(), 1..3),
        any::<u8>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(roles, subjects, scope, quote)| RawAssign { roles, subjects, scope, quote });
    (
        prop::collection::vec(role, 2..6),
        prop::collection::vec(assign, 2..10),
        prop::collection::vec(any::<u8>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(roles, assigns, exclusive, reverse)| RawModel { roles, assigns, exclusive, reverse })
}

const DEPT_LISTS: &[&[&str]] = &[&[], &["eng"], &["ops", "eng"]];
const TAG_LISTS: &[&[&str]] = &[&[], &["a"], &["b", "a"]];

/// The atoms a condition may use on a rule that applies to `types` (design section 4: a
/// `resource.x` read needs `x` on every such type, `resource has x` on at least one).
fn atoms(types: &[&'static str], k: u8, p: u8) -> Cond {
    let declares = |t: &&str, a: &str| type_def(t).is_some_and(|d| d.attrs.iter().any(|(n, _)| *n == a));
    let all = |a: &str| types.iter().all(|t| declares(t, a));
    let any = |a: &str| types.iter().any(|t| declares(t, a));
    let users = ["user:u0", "user:u1", "user:u2"];
    fn pick_from<T: Copy>(xs: &[T], p: u8) -> T {
        match xs.get(p as usize % xs.len().max(1)) {
            Some(x) => *x,
            None => unreachable!("picking from an empty list"),
        }
    }
    let pick = |xs: &[&'static str]| pick_from(xs, p);
    let mut list: Vec<Cond> = vec![
        Cond::Lit(p.is_multiple_of(2)),
        Cond::CtxFlag,
        Cond::CtxFlag,
        Cond::InGroup(pick(GROUPS)),
        Cond::PrincipalIdIs(pick(&users)),
        Cond::DeptIs(pick(&["eng", "ops"])),
        Cond::ResourceIdIs(pick(&["a", "x", "d", "v"])),
        Cond::TagIn(pick(&["a", "b"])),
        Cond::Has("context", pick(&["flag", "tags"])),
        Cond::Has("principal", "dept"),
        Cond::DeptIn(pick_from(DEPT_LISTS, p)),
        Cond::TagsEq(pick_from(TAG_LISTS, p)),
        Cond::NotFlagEq(p.is_multiple_of(2)),
    ];
    if all("owner") {
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerCmp(p % 2 == 1, pick(&users)));
    }
    if all("level") {
        let ops = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];
        list.push(Cond::Level(pick_from(&ops, p), (p / 6 % 7) as i64 - 1));
        list.push(Cond::Level(CmpOp::Gt, 2));
        list.push(Cond::Level(CmpOp::Gt, 2));
    }
    if any("owner") {
        list.push(Cond::Has("resource", "owner"));
    }
    if any("level") {
        list.push(Cond::Has("resource", "level"));
    }
    list.swap_remove(k as usize % list.len())
}

fn build_cond(raw: &RawCond, types: &[&'static str]) -> Cond {
    match raw {
        RawCond::Leaf(k, p) => atoms(types, *k, *p),
        RawCond::Not(a) => Cond::Not(Box::new(build_cond(a, types))),
        RawCond::And(a, b) => Cond::And(Box::new(build_cond(a, types)), Box::new(build_cond(b, types))),
        RawCond::Or(a, b) => Cond::Or(Box::new(build_cond(a, types)), Box::new(build_cond(b, types))),
    }
}

fn build_rule(raw: &RawRule) -> Rule {
    let types = if raw.types & 0xF == 0 {
        Names::Star
    } else {
        Names::List(TYPES.iter().enumerate().filter(|(i, _)| raw.types >> i & 1 == 1).map(|(_, t)| t.name).collect())
    };
    let tlist: Vec<&'static str> = match &types {
        Names::Star => TYPES.iter().map(|t| t.name).collect(),
        Names::List(v) => v.clone(),
    };
    let actions = if raw.actions == 0 {
        Names::Star
    } else {
        // Each name must yield at least one declared (action, type) pair with the rule's types.
        let names: Vec<&'static str> = RULE_ACTION_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| raw.actions >> i & 1 == 1)
            .map(|(_, n)| *n)
            .filter(|n| {
                expand_action(n)
                    .iter()
                    .any(|a| tlist.iter().any(|t| type_def(t).is_some_and(|d| d.actions.contains(a))))
            })
            .collect();
        // Every type declares `read`.
        if names.is_empty() { Names::List(vec!["read"]) } else { Names::List(names) }
    };
    let applies = applies_to(&actions, &tlist);
    let cond = raw.cond.as_ref().map(|c| build_cond(c, &applies));
    Rule { deny: raw.deny, actions, types, cond }
}

fn build_subject(k: u8) -> Subject {
    match k % 9 {
        0 | 1 => Subject::User(0),
        2 => Subject::User(1),
        3 => Subject::User(2),
        4 => Subject::Service(0),
        5 => Subject::Group(0),
        6 => Subject::Group(1),
        7 => Subject::Group(2),
        _ => Subject::Everyone,
    }
}

fn scopes_overlap(a: &Scope, b: &Scope) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.starts_with(y) || y.starts_with(x),
        _ => true,
    }
}

/// Whether an `exclusive` set is free of the static errors of design section 4: no role
/// (itself included) inheriting two roles of the set, and no static subject (a literal subject
/// of an assignment, with `everyone`'s assignments counting for every subject) holding two
/// roles of the set on overlapping scopes, counting inheritance. Deliberately conservative.
fn exclusive_set_ok(set: &[usize], roles: &[Role], assigns: &[Assign]) -> bool {
    for r in 0..roles.len() {
        if ancestors_or_self(roles, r).iter().filter(|a| set.contains(a)).count() >= 2 {
            return false;
        }
    }
    let mut statics: Vec<Subject> = assigns.iter().flat_map(|a| a.subjects.iter().copied()).collect();
    statics.push(Subject::Everyone);
    for l in statics {
        let mut held: Vec<(usize, &Scope)> = Vec::new();
        for a in assigns {
            if a.subjects.iter().any(|s| *s == l || *s == Subject::Everyone) {
                for &r in &a.roles {
                    for anc in ancestors_or_self(roles, r) {
                        if set.contains(&anc) {
                            held.push((anc, &a.scope));
                        }
                    }
                }
            }
        }
        for (r1, s1) in &held {
            for (r2, s2) in &held {
                if r1 != r2 && scopes_overlap(s1, s2) {
                    return false;
                }
            }
        }
    }
    true
}

fn build_model(raw: &RawModel) -> Model {
    let n = raw.roles.len();
    let roles: Vec<Role> = raw
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| Role {
            extends: (0..i).filter(|j| r.extends >> j & 1 == 1).collect(),
            rules: r.rules.iter().map(build_rule).collect(),
        })
        .collect();
    let assigns: Vec<Assign> = raw
        .assigns
        .iter()
        .map(|a| {
            let mut rs: Vec<usize> = Vec::new();
            for &k in &a.roles {
                if !rs.contains(&(k as usize % n)) {
                    rs.push(k as usize % n);
                }
            }
            let mut subjects: Vec<Subject> = Vec::new();
            for &k in &a.subjects {
                let s = build_subject(k);
                if !subjects.contains(&s) {
                    subjects.push(s);
                }
            }
            let k = a.scope as usize % (SCOPES.len() + 3);
            let scope = SCOPES.get(k).map(|segs| segs.to_vec());
            Assign { roles: rs, subjects, scope, quote: a.quote }
        })
        .collect();
    // Each wish picks, from a rotating start, the first pair (or triple) of roles that makes
    // a statically valid set; a wish with no valid candidate adds nothing.
    let mut exclusive: Vec<Vec<usize>> = Vec::new();
    for &wish in &raw.exclusive {
        let mut candidates: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                if wish & 0x80 == 0 {
                    candidates.push(vec![i, j]);
                } else {
                    candidates.extend((j + 1..n).map(|k| vec![i, j, k]));
                }
            }
        }
        let len = candidates.len().max(1);
        let start = (wish & 0x7F) as usize % len;
        let chosen = (0..candidates.len())
            .filter_map(|o| candidates.get((start + o) % len))
            .find(|c| !exclusive.contains(c) && exclusive_set_ok(c, &roles, &assigns));
        if let Some(set) = chosen {
            exclusive.push(set.clone());
        }
    }
    Model { roles, assigns, exclusive, reverse: raw.reverse }
}

/// An attribute value: not supplied, JSON null, a good value, or (rarely) a wrong-typed one.
fn attr(good: BoxedStrategy<Value>, wrong: Value) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        12 => Just(None),
        4 => Just(Some(Value::Null)),
        32 => good.prop_map(Some),
        1 => Just(Some(wrong)),
    ]
}

fn raw_req() -> impl Strategy<Value = Req> {
    let principal = prop_oneof![
        8 => Just("user:u0"),
        6 => Just("user:u1"),
        4 => Just("user:u2"),
        2 => Just("service:s0"),
        1 => prop::sample::select(vec!["bob", "group:g0", "user:"]),
    ];
    let groups = prop::sample::subsequence(vec!["g0", "g1", "g2", "gx"], 0..=4);
    // Mostly an action declared on the path's target type; sometimes any name at all
    // (possibly not declared there, an action set, or unknown: an invalid request).
    let action = (
        any::<u8>(),
        prop::option::weighted(0.05, prop::sample::select(vec!["rw", "fly", "share", "open", "admin", "write"])),
    );
    let path = prop_oneof![
        20 => prop::sample::select(vec![
            "org",
            "org:a",
            "org:b",
            "org:a/team",
            "org:a/team:x",
            "org:a/team:x",
            "org:a/team:y",
            "org:b/team:x",
            "org:\"a\"/team:x",
            "org:a/team:x/doc",
            "org:a/team:x/doc:d",
            "org:a/team:x/doc:d",
            "org:a/team:x/doc:e",
            "org:a/team:y/doc:d",
            "org:b/team:x/doc:d",
            "vault",
            "vault:v",
            "vault:w",
        ]),
        1 => prop::sample::select(vec![
            "team:x",
            "doc",
            "org:a/doc:d",
            "org:a/team/doc:d",
            "widget:a",
            "org:a/team:x/org:a",
            "org:a/vault:v",
            "",
            "org:a/",
        ]),
    ];
    let users = prop::sample::select(vec!["user:u0", "user:u1", "user:u2", "service:s0"]);
    let owner = attr(users.prop_map(|s| json!(s)).boxed(), json!(42));
    let level = attr((-1i64..6).prop_map(|n| json!(n)).boxed(), json!("high"));
    let dept = attr(prop::sample::select(vec!["eng", "ops"]).prop_map(|s| json!(s)).boxed(), json!(true));
    let flag = attr(any::<bool>().prop_map(|b| json!(b)).boxed(), json!("yes"));
    // Sets in any order, with duplicates: `["a", "a"]` is the set {"a"}.
    let sets = vec![json!([]), json!(["a"]), json!(["b"]), json!(["a", "b"]), json!(["b", "a"]), json!(["a", "a"])];
    let tags = attr(prop::sample::select(sets).boxed(), json!([1]));
    let color = prop::option::weighted(0.1, Just(json!("red")));
    (principal, groups, action, path, (owner, level, dept, flag, tags, color)).prop_map(
        |(principal, groups, (pick, forced), path, (owner, level, dept, flag, tags, color))| {
            let target = path.rsplit('/').next().unwrap_or("").split(':').next().unwrap_or("");
            let declared = type_def(target).map_or(&["read"][..], |t| t.actions);
            let action = forced.or(declared.get(pick as usize % declared.len()).copied()).unwrap_or("read");
            let mut resource_attrs = Vec::new();
            if let Some(v) = owner {
                resource_attrs.push(("owner", v));
            }
            if let Some(v) = level {
                resource_attrs.push(("level", v));
            }
            if let Some(v) = color {
                resource_attrs.push(("color", v));
            }
            let mut context = Vec::new();
            if let Some(v) = flag {
                context.push(("flag", v));
            }
            if let Some(v) = tags {
                context.push(("tags", v));
            }
            Req {
                principal: principal.to_string(),
                groups: groups.into_iter().map(str::to_string).collect(),
                action: action.to_string(),
                path: path.to_string(),
                principal_attrs: dept.map(|v| vec![("dept", v)]).unwrap_or_default(),
                resource_attrs,
                context,
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------

/// Compiles the model's source, failing with the source and the diagnostics when it does not.
fn compile(src: &str) -> Result<rbac::Policy, TestCaseError> {
    let compilation = rbac::compile_str("gen.rbac", src);
    match compilation.policy {
        Some(p) => Ok(p),
        None => Err(TestCaseError::fail(format!(
            "generated policy does not compile\n--- source ---\n{src}\n--- diagnostics ---\n{}",
            compilation.render(false)
        ))),
    }
}

fn check(model: &Model, reqs: &[Req]) -> Result<(), TestCaseError> {
    let src = render(model);
    let policy = compile(&src)?;
    for req in reqs {
        let expected = reference_decide(model, req);
        let actual = policy.decide(&req.to_crate());
        let json = serde_json::to_string(&req.to_crate()).unwrap_or_default();
        let context = || {
            format!(
                "\n--- source ---\n{src}\n--- request ---\n{json}\n--- reference ---\n{expected:?}\n--- crate ---\n{}",
                serde_json::to_string_pretty(&actual).unwrap_or_default()
            )
        };
        // The must: the same effect.
        prop_assert_eq!(actual.is_allow(), expected.is_allow(), "decisions differ{}", context());
        // Then the shape of the reasons (5.3) and errors exactly for invalid requests (5.4).
        let seen = observed(&actual).map_err(|e| TestCaseError::fail(format!("{e}{}", context())))?;
        prop_assert_eq!(&seen, &expected, "reasons differ{}", context());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn crate_decides_like_the_reference(
        raw in raw_model(),
        reqs in prop::collection::vec(raw_req(), 1..64),
    ) {
        let model = build_model(&raw);
        check(&model, &reqs)?;
    }
}

// ---------------------------------------------------------------------------------------------
// A few fixed cases for the reference itself, so a wrong reference cannot hide a wrong crate.
// ---------------------------------------------------------------------------------------------

fn req(principal: &str, groups: &[&str], action: &str, path: &str) -> Req {
    Req {
        principal: principal.to_string(),
        groups: groups.iter().map(|g| (*g).to_string()).collect(),
        action: action.to_string(),
        path: path.to_string(),
        principal_attrs: Vec::new(),
        resource_attrs: Vec::new(),
        context: Vec::new(),
    }
}

#[test]
fn reference_follows_the_design_on_fixed_cases() {
    let owner_rule = |deny| Rule {
        deny,
        actions: Names::List(vec!["write"]),
        types: Names::List(vec!["team"]),
        cond: Some(Cond::OwnerIsPrincipal),
    };
    let model = Model {
        roles: vec![
            Role {
                extends: vec![],
                rules: vec![Rule { deny: false, actions: Names::List(vec!["rw"]), types: Names::Star, cond: None }],
            },
            Role { extends: vec![0], rules: vec![owner_rule(true)] },
            Role { extends: vec![], rules: vec![owner_rule(false)] },
            Role { extends: vec![], rules: vec![] },
        ],
        assigns: vec![
            Assign { roles: vec![0], subjects: vec![Subject::User(0)], scope: Some(vec![("org", "a")]), quote: true },
            Assign { roles: vec![1], subjects: vec![Subject::Group(0)], scope: None, quote: false },
            Assign {
                roles: vec![2],
                subjects: vec![Subject::Everyone],
                scope: Some(vec![("org", "b"), ("team", "x")]),
                quote: false,
            },
            Assign { roles: vec![3], subjects: vec![Subject::Group(1)], scope: None, quote: false },
        ],
        exclusive: vec![vec![0, 3]],
        reverse: false,
    };
    let d = |r: &Req| reference_decide(&model, r);
    // Scope prefixes: r0 at org:a covers the team inside it, not org:b; a bare type target too.
    assert!(d(&req("user:u0", &[], "write", "org:a/team:x")).is_allow());
    assert!(d(&req("user:u0", &[], "write", "org:a/team")).is_allow());
    assert_eq!(d(&req("user:u0", &[], "write", "org:b/team:x")), Outcome::NoRule);
    // The deny inherited by g0 fails closed when owner is missing, even over r0's allow.
    let r = req("user:u0", &["g0"], "write", "org:a/team:x");
    assert!(matches!(d(&r), Outcome::Deny(s) if s.iter().all(|x| x.3 == vec!["resource.owner".to_string()])));
    let mut r2 = r.clone();
    r2.resource_attrs.push(("owner", json!("user:u1")));
    assert!(d(&r2).is_allow());
    r2.resource_attrs = vec![("owner", Value::Null)];
    assert!(matches!(d(&r2), Outcome::Deny(_)));
    // An allow with a missing attribute does not allow.
    assert_eq!(d(&req("user:u1", &[], "write", "org:b/team:x")), Outcome::NoRule);
    // Separation of duty: r0 (user) + r3 (group g1) together.
    assert!(matches!(d(&req("user:u0", &["g1"], "read", "org:a")), Outcome::Exclusive(_)));
    assert_eq!(d(&req("user:u0", &["g1"], "read", "org:b")), Outcome::NoRule);
    // Invalid requests.
    assert_eq!(d(&req("user:u0", &[], "share", "org:a/team:x")), Outcome::Invalid);
    assert_eq!(d(&req("user:u0", &[], "read", "org:a/doc:d")), Outcome::Invalid);
    assert_eq!(d(&req("bob", &[], "read", "org:a")), Outcome::Invalid);
    assert_eq!(d(&req("user:u0", &[], "rw", "org:a/team:x")), Outcome::Invalid);
    // Short-circuit with missing attributes.
    let env_req = req("user:u0", &[], "read", "org:a/team");
    let env = Env { req: &env_req, target: &TYPES[1], target_id: None, groups: &BTreeSet::new() };
    let missing = || Box::new(Cond::CtxFlag);
    assert_eq!(eval(&Cond::And(Box::new(Cond::Lit(false)), missing()), &env), Ok(false));
    assert!(eval(&Cond::And(missing(), Box::new(Cond::Lit(false))), &env).is_err());
    assert_eq!(eval(&Cond::Or(Box::new(Cond::Lit(true)), missing()), &env), Ok(true));
    assert!(eval(&Cond::Or(missing(), Box::new(Cond::Lit(true))), &env).is_err());
    assert!(eval(&Cond::Not(missing()), &env).is_err());
    assert_eq!(eval(&Cond::Has("resource", "owner"), &env), Ok(false));
    assert_eq!(eval(&Cond::ResourceIdIs("x"), &env), Err("resource.id".to_string()));
    // The same fixed model through the crate.
    check(
        &model,
        &[
            req("user:u0", &[], "write", "org:a/team:x"),
            req("user:u0", &["g0"], "write", "org:a/team:x"),
            r2,
            req("user:u0", &["g1"], "read", "org:a"),
            req("user:u0", &[], "rw", "org:a/team:x"),
        ],
    )
    .map_err(|e| e.to_string())
    .unwrap();
}

#[test]
fn conditions_render_with_the_grammar_precedence() {
    let c = Cond::Not(Box::new(Cond::And(
        Box::new(Cond::Or(Box::new(Cond::CtxFlag), Box::new(Cond::Lit(false)))),
        Box::new(Cond::And(
            Box::new(Cond::Level(CmpOp::Gt, 2)),
            Box::new(Cond::Not(Box::new(Cond::Has("resource", "owner")))),
        )),
    )));
    assert_eq!(render_cond(&c, 0), "!((context.flag || false) && (resource.level > 2 && !(resource has owner)))");
}
