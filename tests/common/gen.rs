//! The random policy and request generator shared by the differential tests.
//!
//! A policy is drawn as raw random data (`RawModel`), then built deterministically into a
//! `Model` that compiles (`build_model`) and rendered to `.rbac` source (`render`). Requests
//! are drawn as `Req`s and turned into the crate's `rbac::Request` (`Req::to_crate`). The
//! model is plain data so that an independent interpreter (tests/reference.rs) can decide
//! requests on it without the crate.
//!
//! Two varieties:
//!
//! - **reference** (`raw_model`, `raw_req`): the fixed schema below, which the reference
//!   interpreter of tests/reference.rs understands completely.
//! - **wide** (`wide_raw_model`, `wide_req`): the same plus what only the engines are compared
//!   on (tests/engines.rs): a `box` type whose `owner` is an `int`, int / `set<int>` /
//!   `set<set<string>>` attributes and the comparisons, `in` and `has` over them (drawn as
//!   `Cond::Src`, which the reference does not interpret), identity blocks with dotted claim
//!   names and group aliases, identity principals with nested claims, quoted subjects and
//!   scopes with escapes, and more malformed paths, odd principals and wrong-typed values.
//!
//! The reference schema (a forest of 3 + 1 levels):
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
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// The fixed schema, as data for the reference and as text for the compiler.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    StrSet,
    /// `set<int>` (wide only)
    IntSet,
    /// `set<set<string>>` (wide only)
    StrSetSet,
}

pub struct TypeDef {
    pub name: &'static str,
    pub parent: Option<&'static str>,
    /// Actions declared on the type, action sets already expanded.
    pub actions: &'static [&'static str],
    pub attrs: &'static [(&'static str, Ty)],
}

/// Every type; the reference schema has the first four, the wide one all.
const ALL_TYPES: &[TypeDef] = &[
    TypeDef { name: "org", parent: None, actions: &["read", "admin"], attrs: &[] },
    TypeDef {
        name: "team",
        parent: Some("org"),
        actions: &["read", "write", "admin"],
        attrs: &[("owner", Ty::Str), ("level", Ty::Int)],
    },
    TypeDef { name: "doc", parent: Some("team"), actions: &["read", "write", "share"], attrs: &[("owner", Ty::Str)] },
    TypeDef { name: "vault", parent: None, actions: &["read", "open"], attrs: &[("level", Ty::Int)] },
    TypeDef {
        name: "box",
        parent: Some("team"),
        actions: &["read", "lock", "share"],
        attrs: &[("owner", Ty::Int), ("level", Ty::Int), ("labels", Ty::StrSet)],
    },
];

/// The types of the reference schema.
pub const TYPES: &[TypeDef] = ALL_TYPES.split_at(4).0;

/// The types of a schema.
pub fn types(wide: bool) -> &'static [TypeDef] {
    if wide { ALL_TYPES } else { TYPES }
}

/// Declared action sets (name, members).
pub const ACTION_SETS: &[(&str, &[&str])] = &[("rw", &["read", "write"])];
pub const PRINCIPAL_ATTRS: &[(&str, Ty)] = &[("dept", Ty::Str)];
pub const CONTEXT_ATTRS: &[(&str, Ty)] = &[("flag", Ty::Bool), ("tags", Ty::StrSet)];
pub const GROUPS: &[&str] = &["g0", "g1", "g2"];
/// Names a rule may list in its actions (an action set among them); `lock` (the last) is
/// declared by the wide schema only.
pub const RULE_ACTION_NAMES: &[&str] = &["read", "write", "admin", "share", "open", "rw", "lock"];

pub const SCHEMA: &str = r#"actions rw = read, write;
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

/// The wide schema: the reference one with a `box` type, more attributes (repeated
/// `principal` / `context` blocks merge), identities with dotted claim names, and groups
/// with aliases (two groups share `okta "Eng"`; escapes in alias strings).
pub const WIDE_SCHEMA: &str = r#"actions rw = read, write;
resource org { actions read, admin; }
resource team in org { actions rw, admin; attributes { owner: string, level: int } }
resource doc in team { actions rw, share; attributes { owner: string } }
resource vault { actions read, open; attributes { level: int } }
resource box in team { actions read, lock, share; attributes { owner: int, level: int, labels: set<string> } }
principal { attributes { dept: string } }
context { attributes { flag: bool, tags: set<string> } }
principal { attributes { clearance: int, roles: set<string>, nums: set<int> } }
context { attributes { n: int, pairs: set<set<string>>, ok: bool } }
identity okta {
    issuer "https://okta.example/";
    audience "rbac";
    user from claim "email";
    groups from claim "groups";
}
identity kc { user from claim "profile.login"; groups from claim "realm_access.roles"; }
identity plain { user from claim "sub"; }
group g0 from okta "Eng", kc "eng";
group g1 from okta "Eng", okta "Ops\"s";
group g2 from kc "\u{e9}quipe", okta "g2", kc "eng2";
"#;

/// The wide schema's extra attributes.
pub const WIDE_PRINCIPAL_ATTRS: &[(&str, Ty)] = &[("clearance", Ty::Int), ("roles", Ty::StrSet), ("nums", Ty::IntSet)];
pub const WIDE_CONTEXT_ATTRS: &[(&str, Ty)] = &[("n", Ty::Int), ("pairs", Ty::StrSetSet), ("ok", Ty::Bool)];

/// A type of the wide schema (which includes the reference schema's) by name.
pub fn type_def(name: &str) -> Option<&'static TypeDef> {
    ALL_TYPES.iter().find(|t| t.name == name)
}

/// An action name or action-set name, expanded to actions.
pub fn expand_action(name: &'static str) -> Vec<&'static str> {
    match ACTION_SETS.iter().find(|(s, _)| *s == name) {
        Some((_, members)) => members.to_vec(),
        None => vec![name],
    }
}

/// Assignment scopes the generator picks from (ids as values, unquoted).
pub const SCOPES: &[&[(&str, &str)]] = &[
    &[("org", "a")],
    &[("org", "b")],
    &[("org", "a"), ("team", "x")],
    &[("org", "a"), ("team", "y")],
    &[("org", "b"), ("team", "x")],
    &[("org", "a"), ("team", "x"), ("doc", "d")],
    &[("vault", "v")],
];

/// More scopes for wide models: ids that must be quoted, with escapes.
pub const WIDE_SCOPES: &[&[(&str, &str)]] = &[
    &[("org", "a b")],
    &[("org", "a b"), ("team", "x")],
    &[("org", "é")],
    &[("org", "q\"x"), ("team", "\\")],
    &[("org", "a"), ("team", "x"), ("box", "k")],
    &[("org", "a"), ("team", "x"), ("box", "é")],
];

// ---------------------------------------------------------------------------------------------
// The model of a policy.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Cond {
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
    /// A comparison, `in` or `has` of the wide schema, as source text (wide models only;
    /// the reference interpreter does not read these).
    Src(String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Clone, Debug)]
pub enum Names {
    Star,
    List(Vec<&'static str>),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub deny: bool,
    pub actions: Names,
    pub types: Names,
    pub cond: Option<Cond>,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub extends: Vec<usize>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    User(u8),
    Service(u8),
    Group(u8),
    Everyone,
    /// A literal `user:` / `service:` id, quoted in the source when it needs it (wide only).
    Named(&'static str),
}

impl Subject {
    /// The subject as a request names it (`user:u0`, `group:g1`, `everyone`).
    pub fn text(self) -> String {
        match self {
            Subject::User(n) => format!("user:u{n}"),
            Subject::Service(n) => format!("service:s{n}"),
            Subject::Group(n) => format!("group:g{n}"),
            Subject::Everyone => "everyone".to_string(),
            Subject::Named(id) => id.to_string(),
        }
    }

    /// The subject as the source writes it.
    pub fn source(self) -> String {
        match self {
            Subject::Named(id) => match id.split_once(':') {
                Some((kind, name)) => format!("{kind}:{}", render_id(name, true)),
                None => id.to_string(),
            },
            other => other.text(),
        }
    }
}

/// Wide subjects: `user:"u0"` is the same subject as `user:u0`.
pub const NAMED_SUBJECTS: &[&str] = &["user:u0", "user:a b", "user:alice@x.com", "user:é", "service:q\"x"];

pub type Scope = Option<Vec<(&'static str, &'static str)>>;

#[derive(Clone, Debug)]
pub struct Assign {
    pub roles: Vec<usize>,
    pub subjects: Vec<Subject>,
    pub scope: Scope,
    /// Render the scope's ids quoted (`org:"a"`), which names the same segment.
    pub quote: bool,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub roles: Vec<Role>,
    pub assigns: Vec<Assign>,
    pub exclusive: Vec<Vec<usize>>,
    /// Render the items in reverse order (declaration order never matters).
    pub reverse: bool,
    /// Uses the wide schema.
    pub wide: bool,
}

pub fn role_name(i: usize) -> String {
    format!("r{i}")
}

pub fn scope_text(scope: &Scope) -> Option<String> {
    scope.as_ref().map(|segs| segs.iter().map(|(t, id)| format!("{t}:{id}")).collect::<Vec<_>>().join("/"))
}

/// Every role and all of its ancestors through `extends` (the role itself included).
pub fn ancestors_or_self(roles: &[Role], r: usize) -> BTreeSet<usize> {
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

/// The types a rule applies to (design section 4): its expanded types on which some expanded
/// action of the rule is declared.
pub fn applies_to(actions: &Names, types: &[&'static str]) -> Vec<&'static str> {
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
pub fn render_cond(c: &Cond, min: u8) -> String {
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
        Cond::Src(s) => s.clone(),
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

/// An id as a path or subject writes it: bare when it can be and `quote` is off; else quoted,
/// escaping `"` and `\`, and (when `quote` is on) every non-ASCII character as `\u{HEX}`.
pub fn render_id(id: &str, quote: bool) -> String {
    if !quote && !id.is_empty() && id.chars().all(rbac::path::is_id_char) {
        return id.to_string();
    }
    let mut out = String::from("\"");
    for c in id.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if quote && !c.is_ascii() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn render(model: &Model) -> String {
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
        let subjects: Vec<String> = a.subjects.iter().map(|s| s.source()).collect();
        let mut s = format!("assign {} to {}", roles.join(", "), subjects.join(", "));
        if let Some(segs) = &a.scope {
            let path: Vec<String> = segs.iter().map(|(t, id)| format!("{t}:{}", render_id(id, a.quote))).collect();
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
    let schema = if model.wide { WIDE_SCHEMA } else { SCHEMA };
    let mut out = String::from("// generated by tests/common/gen.rs\n");
    if model.reverse {
        out += &items.join("\n");
        out += "\n";
        out += schema;
    } else {
        out += schema;
        out += &items.join("\n");
        out += "\n";
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The model of a request, and its conversion to the crate's request.
// ---------------------------------------------------------------------------------------------

/// A supplied attribute: its name and JSON value.
pub type Attr = (&'static str, Value);

/// A request as plain data. An attribute value of `Some(Value::Null)` is supplied as JSON null.
#[derive(Clone, Debug)]
pub struct Req {
    /// The principal id (with `groups`), unless `identity` is set.
    pub principal: String,
    pub groups: Vec<String>,
    /// An identity principal instead: the identity's name and the claims (wide only).
    pub identity: Option<(String, Map<String, Value>)>,
    pub action: String,
    pub path: String,
    pub principal_attrs: Vec<Attr>,
    pub resource_attrs: Vec<Attr>,
    pub context: Vec<Attr>,
}

impl Req {
    pub fn to_crate(&self) -> rbac::Request {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let mut r = rbac::Request::new(&self.principal, &groups, &self.action, &self.path);
        if let Some((identity, claims)) = &self.identity {
            r.principal = rbac::Principal::Identity(rbac::IdentityPrincipal {
                identity: identity.clone(),
                claims: claims.clone(),
                attrs: Map::new(),
            });
        }
        for (k, v) in &self.principal_attrs {
            r = r.with_attr(rbac::Entity::Principal, k, v.clone());
        }
        for (k, v) in &self.resource_attrs {
            r = r.with_attr(rbac::Entity::Resource, k, v.clone());
        }
        for (k, v) in &self.context {
            r = r.with_attr(rbac::Entity::Context, k, v.clone());
        }
        r
    }
}

// ---------------------------------------------------------------------------------------------
// Generation: raw random data, then a deterministic build of a model that compiles.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum RawCond {
    Leaf(u8, u8),
    Not(Box<RawCond>),
    And(Box<RawCond>, Box<RawCond>),
    Or(Box<RawCond>, Box<RawCond>),
}

#[derive(Clone, Debug)]
pub struct RawRule {
    pub deny: bool,
    /// Bits over the schema's types; 0 is `*`.
    pub types: u8,
    /// Bits over `RULE_ACTION_NAMES`; 0 is `*`.
    pub actions: u8,
    pub cond: Option<RawCond>,
}

#[derive(Clone, Debug)]
pub struct RawRole {
    pub extends: u8,
    pub rules: Vec<RawRule>,
}

#[derive(Clone, Debug)]
pub struct RawAssign {
    pub roles: Vec<u8>,
    pub subjects: Vec<u8>,
    pub scope: u8,
    pub quote: bool,
}

#[derive(Clone, Debug)]
pub struct RawModel {
    pub roles: Vec<RawRole>,
    pub assigns: Vec<RawAssign>,
    pub exclusive: Vec<u8>,
    pub reverse: bool,
    pub wide: bool,
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

fn raw_rule(wide: bool) -> impl Strategy<Value = RawRule> {
    // `*`, a list biased to the types with attributes (so conditions can read them), any list.
    let types = if wide {
        prop_oneof![
            1 => Just(0u8),
            2 => prop::sample::select(vec![0b0010u8, 0b0100, 0b0110, 0b1010, 0b1000, 0b10000, 0b10000, 0b10010]),
            3 => 1u8..32,
        ]
        .boxed()
    } else {
        prop_oneof![
            1 => Just(0u8),
            2 => prop::sample::select(vec![0b0010u8, 0b0100, 0b0110, 0b1010, 0b1000]),
            3 => 1u8..16,
        ]
        .boxed()
    };
    // The reference schema does not declare `lock`, the last name.
    let names = if wide { 128u8 } else { 64 };
    (
        prop::bool::weighted(0.35),
        types,
        prop_oneof![1 => Just(0u8), 5 => 1u8..names],
        prop::option::weighted(0.5, raw_cond()),
    )
        .prop_map(|(deny, types, actions, cond)| RawRule { deny, types, actions, cond })
}

fn model_strategy(wide: bool) -> impl Strategy<Value = RawModel> {
    let role = ((any::<u8>(), any::<u8>()).prop_map(|(a, b)| a & b), prop::collection::vec(raw_rule(wide), 0..4))
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
        prop::collection::vec(any::<u8>(), if wide { 1..6 } else { 0..4 }),
        any::<bool>(),
    )
        .prop_map(move |(roles, assigns, exclusive, reverse)| RawModel {
            roles,
            assigns,
            exclusive,
            reverse,
            wide,
        })
}

/// Raw policies over the reference schema.
pub fn raw_model() -> impl Strategy<Value = RawModel> {
    model_strategy(false)
}

/// Raw policies over the wide schema.
pub fn wide_raw_model() -> impl Strategy<Value = RawModel> {
    model_strategy(true)
}

const DEPT_LISTS: &[&[&str]] = &[&[], &["eng"], &["ops", "eng"]];
const TAG_LISTS: &[&[&str]] = &[&[], &["a"], &["b", "a"]];

fn pick_from<T: Copy>(xs: &[T], p: u8) -> T {
    match xs.get(p as usize % xs.len().max(1)) {
        Some(x) => *x,
        None => unreachable!("picking from an empty list"),
    }
}

/// Whether every type of `types` declares `attr` with type `ty`.
fn all_declare(types: &[&'static str], attr: &str, ty: Ty) -> bool {
    types.iter().all(|t| type_def(t).is_some_and(|d| d.attrs.iter().any(|(n, x)| *n == attr && *x == ty)))
}

/// Whether some type of `types` declares `attr`.
fn any_declares(types: &[&'static str], attr: &str) -> bool {
    types.iter().any(|t| type_def(t).is_some_and(|d| d.attrs.iter().any(|(n, _)| *n == attr)))
}

/// The atoms a condition may use on a rule that applies to `types` (design section 4: a
/// `resource.x` read needs `x` on every such type with one type, `resource has x` on at
/// least one).
fn atoms(types: &[&'static str], k: u8, p: u8, wide: bool) -> Cond {
    let users = ["user:u0", "user:u1", "user:u2"];
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
    if all_declare(types, "owner", Ty::Str) {
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerIsPrincipal);
        list.push(Cond::OwnerCmp(p % 2 == 1, pick(&users)));
    }
    if all_declare(types, "level", Ty::Int) {
        let ops = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];
        list.push(Cond::Level(pick_from(&ops, p), (p / 6 % 7) as i64 - 1));
        list.push(Cond::Level(CmpOp::Gt, 2));
        list.push(Cond::Level(CmpOp::Gt, 2));
    }
    if any_declares(types, "owner") {
        list.push(Cond::Has("resource", "owner"));
    }
    if any_declares(types, "level") {
        list.push(Cond::Has("resource", "level"));
    }
    if wide {
        list.extend(wide_atoms(types, p).into_iter().map(Cond::Src));
    }
    list.swap_remove(k as usize % list.len())
}

/// The wide schema's atoms, as source: int comparisons (extreme literals included), `in` and
/// set equality over `set<int>` and `set<set<string>>`, `has` on every entity, escapes in
/// string literals, and comparisons of booleans.
fn wide_atoms(types: &[&'static str], p: u8) -> Vec<String> {
    let op = pick_from(&["==", "!=", "<", "<=", ">", ">="], p);
    let n = pick_from(&["-1", "0", "3", "9223372036854775807", "-9223372036854775808"], p / 6);
    let s = pick_from(&[r#""a""#, r#""q\"x""#, r#""\u{e9}""#, r#""user:u0""#], p / 3);
    let mut v: Vec<String> = vec![
        format!("principal.clearance {op} {n}"),
        format!("context.n {op} principal.clearance"),
        format!("{n} in principal.nums"),
        "context.n in principal.nums".into(),
        "context.n in [1, 2, 2]".into(),
        "context.n in []".into(),
        format!("principal.nums == {}", pick_from(&["[]", "[1]", "[2, 1, 1]"], p)),
        format!("{s} in principal.roles"),
        "principal.roles == context.tags".into(),
        "principal.roles != []".into(),
        "principal.roles in context.pairs".into(),
        r#"["a"] in context.pairs"#.into(),
        "[] in context.pairs".into(),
        format!("context.pairs {} []", pick_from(&["==", "!="], p)),
        "context.ok".into(),
        "!context.ok".into(),
        "context.ok == context.flag".into(),
        "context.ok != (context.n > 0)".into(),
        pick_from(&["principal has clearance", "principal has roles", "context has n", "context has pairs"], p).into(),
        format!("{} has id", pick_from(&["principal", "resource"], p)),
        format!("resource.id == {s}"),
        r#"resource.id in ["a b", "x", "\\", "é"]"#.into(),
        "resource.id == principal.id".into(),
        "resource.id != \"\"".into(),
        "principal.id in principal.roles".into(),
        format!("principal.id == {}", pick_from(&[r#""user:a b""#, r#""user:\u{e9}""#, r#""user:alice@x.com""#], p)),
        r#"principal.id in ["user:u0", "user:alice@x.com"]"#.into(),
        "principal.dept in []".into(),
        r#"principal.dept != "e\"ng""#.into(),
        "(principal.clearance > 1) == (context.n > 1)".into(),
        "!(context.n == 1) == context.flag".into(),
        "true == context.ok".into(),
    ];
    if all_declare(types, "level", Ty::Int) {
        v.push(format!("resource.level {op} principal.clearance"));
        v.push("context.n == resource.level".into());
        v.push("resource.level in principal.nums".into());
    }
    if all_declare(types, "owner", Ty::Int) {
        v.push(format!("resource.owner {op} {n}"));
        v.push("resource.owner in principal.nums".into());
        v.push("resource.owner == context.n".into());
    }
    if all_declare(types, "owner", Ty::Str) {
        v.push("resource.owner in principal.roles".into());
        v.push(r#"resource.owner == "user:a b""#.into());
    }
    if all_declare(types, "labels", Ty::StrSet) {
        v.push(format!("{s} in resource.labels"));
        v.push("resource.labels == principal.roles".into());
        v.push("resource.labels in context.pairs".into());
        v.push("principal.dept in resource.labels".into());
        v.push("resource.id in resource.labels".into());
    }
    if any_declares(types, "labels") {
        v.push("resource has labels".into());
    }
    v
}

fn build_cond(raw: &RawCond, types: &[&'static str], wide: bool) -> Cond {
    match raw {
        RawCond::Leaf(k, p) => atoms(types, *k, *p, wide),
        RawCond::Not(a) => Cond::Not(Box::new(build_cond(a, types, wide))),
        RawCond::And(a, b) => Cond::And(Box::new(build_cond(a, types, wide)), Box::new(build_cond(b, types, wide))),
        RawCond::Or(a, b) => Cond::Or(Box::new(build_cond(a, types, wide)), Box::new(build_cond(b, types, wide))),
    }
}

fn build_rule(raw: &RawRule, wide: bool) -> Rule {
    let all = types(wide);
    let mask = (1u8 << all.len()) - 1;
    let types = if raw.types & mask == 0 {
        Names::Star
    } else {
        Names::List(all.iter().enumerate().filter(|(i, _)| raw.types >> i & 1 == 1).map(|(_, t)| t.name).collect())
    };
    let tlist: Vec<&'static str> = match &types {
        Names::Star => all.iter().map(|t| t.name).collect(),
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
    let cond = raw.cond.as_ref().map(|c| build_cond(c, &applies, wide));
    Rule { deny: raw.deny, actions, types, cond }
}

fn build_subject(k: u8, wide: bool) -> Subject {
    if wide && k.is_multiple_of(5) {
        return Subject::Named(pick_from(NAMED_SUBJECTS, k / 5));
    }
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
            // By id: `user:"u0"` and `user:u0` are one subject.
            if a.subjects.iter().any(|s| s.text() == l.text() || *s == Subject::Everyone) {
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

pub fn build_model(raw: &RawModel) -> Model {
    let n = raw.roles.len();
    let wide = raw.wide;
    let roles: Vec<Role> = raw
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| Role {
            extends: (0..i).filter(|j| r.extends >> j & 1 == 1).collect(),
            rules: r.rules.iter().map(|rule| build_rule(rule, wide)).collect(),
        })
        .collect();
    let scopes: Vec<&[(&str, &str)]> = SCOPES.iter().chain(if wide { WIDE_SCOPES } else { &[] }).copied().collect();
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
                let s = build_subject(k, wide);
                if !subjects.contains(&s) {
                    subjects.push(s);
                }
            }
            let k = a.scope as usize % (scopes.len() + 3);
            let scope = scopes.get(k).map(|segs| segs.to_vec());
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
    Model { roles, assigns, exclusive, reverse: raw.reverse, wide }
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

/// Like `attr`, with wrong-typed values rarer (a wide request has many more attributes).
fn wide_attr(good: BoxedStrategy<Value>, wrong: Value) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        48 => Just(None),
        16 => Just(Some(Value::Null)),
        128 => good.prop_map(Some),
        1 => Just(Some(wrong)),
    ]
}

/// Requests for reference models.
pub fn raw_req() -> impl Strategy<Value = Req> {
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
                identity: None,
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
// Wide requests: a reference request with parts replaced or added.
// ---------------------------------------------------------------------------------------------

/// Paths only wide requests use: the `box` type, and quoted ids with escapes (some naming the
/// wide scopes in another spelling).
const WIDE_PATHS: &[&str] = &[
    "org:a/team:x/box:k",
    "org:a/team:x/box:k",
    "org:a/team:x/box",
    "org:a/team:y/box:k",
    r#"org:a/team:x/box:"é""#,
    r#"org:a/team:"x"/box:"\u{e9}""#,
    r#"org:"a b""#,
    r#"org:"a b"/team:x"#,
    r#"org:"a b"/team:x/doc:d"#,
    r#"org:"a\u{20}b"/team:x/box:k"#,
    r#"org:"é""#,
    r#"org:"\u{E9}"/team:y"#,
    r#"org:"\u{00e9}"/team"#,
    r#"org:"q\"x"/team:"\\""#,
    r#"org:"q\"x"/team:"\\"/box:k"#,
    r#"org:"q\"x"/team:"\\"/doc"#,
    r#"org:"""#,
    r#"org:"\u{1F600}""#,
    r#"org:"\n\t"/team:x"#,
    r#"org:"\u{41}""#,
];

/// Invalid paths only wide requests use.
const BAD_PATHS: &[&str] = &[
    // malformed (E0721)
    "org:é",
    r#"org:"bad\q""#,
    r#"org:"\u{d800}""#,
    r#"org:"\u{110000}""#,
    r#"org:"\u{}""#,
    r#"org:"\u{1234567}""#,
    r#"org:"\u{zz}""#,
    r#"org:"\u0041""#,
    r#"org:"unterminated"#,
    r#"org:"a\"#,
    "org:a//team:x",
    "/org:a",
    "org:a/team:x/",
    "1org:a",
    "org:a b",
    "org: a",
    "org:a:b",
    r#"org:"a"b"#,
    r#"org:"a"/"#,
    "org:a\u{0}",
    "org/team:x",
    " org:a",
    "org:a/team:x/box:k/doc",
    // unknown types (E0722) and paths off the tree (E0723)
    "Org:a",
    "org_1:a",
    "box",
    "box:k",
    "org:a/box:k",
    "org:a/team:x/doc:d/box:k",
    "vault/org:a",
    "vault:v/org",
    "org:a/team:x/vault",
    "org:a/team:x/widget:w/box:k",
];

/// Actions a wide request may force, whatever its target.
const ODD_ACTIONS: &[&str] = &["rw", "fly", "lock", "share", "open", "", "READ", "read "];

/// Principal ids only wide requests use (direct principals).
const ODD_PRINCIPALS: &[&str] = &[
    "user:a b",
    "user:é",
    "user:alice@x.com",
    "service:q\"x",
    "service:s0",
    "user:u0",
    "service:",
    "user",
    "USER:u0",
    " user:u0",
    "",
    "everyone",
    "group:g1",
];

/// A claim's value and where it goes: `None` leaves the claim out.
type ClaimValue = Option<Value>;

/// Puts a claim under a (possibly dotted) name: `how` 0 nests it (`{"a": {"b": v}}`), 1 uses
/// the dotted key itself, 2 does both with a decoy in the nested place (the exact key wins),
/// 3 nests it next to a key containing a dot.
fn put_claim(claims: &mut Map<String, Value>, name: &str, value: Value, how: u8) {
    let Some((first, rest)) = name.split_once('.') else {
        claims.insert(name.to_string(), value);
        return;
    };
    let nested = |v: Value| {
        let mut inner = Map::new();
        inner.insert(rest.to_string(), v);
        inner
    };
    let mut merge = |inner: Map<String, Value>| match claims.entry(first.to_string()).or_insert_with(|| json!({})) {
        Value::Object(o) => o.extend(inner),
        other => *other = Value::Object(inner),
    };
    match how % 4 {
        0 => merge(nested(value)),
        1 => {
            claims.insert(name.to_string(), value);
        }
        2 => {
            merge(nested(json!("decoy")));
            claims.insert(name.to_string(), value);
        }
        _ => {
            let mut inner = nested(value);
            inner.insert(format!("{rest}.x"), json!("dotted"));
            merge(inner);
        }
    }
}

/// An identity principal: the identity's name and claims (user and groups claims good,
/// missing, null or of the wrong type, nested or dotted, plus unrelated claims).
fn identity_principal() -> impl Strategy<Value = (String, Map<String, Value>)> {
    let identity =
        prop_oneof![6 => Just("okta"), 6 => Just("kc"), 2 => Just("plain"), 1 => Just("nope"), 1 => Just("Okta")];
    let user: BoxedStrategy<ClaimValue> = prop_oneof![
        24 => prop::sample::select(vec!["u0", "u0", "u1", "alice@x.com", "a b", "é", "q\"x"]).prop_map(|s| Some(json!(s))),
        1 => Just(None),
        2 => prop::sample::select(vec![json!(null), json!(42), json!(""), json!({"a": 1}), json!(["u0"]), json!(true)])
            .prop_map(Some),
    ]
    .boxed();
    let aliases = vec!["Eng", "eng", "Ops\"s", "équipe", "g2", "eng2", "zzz", "Eng"];
    let groups: BoxedStrategy<ClaimValue> = prop_oneof![
        16 => prop::sample::subsequence(aliases, 0..=4).prop_map(|v| Some(json!(v))),
        1 => Just(None),
        2 => prop::sample::select(vec![
            json!(null),
            json!("Eng"),
            json!(["Eng", 1]),
            json!([["Eng"]]),
            json!({"Eng": true}),
            json!([]),
            json!(["eng", null]),
        ])
        .prop_map(Some),
    ]
    .boxed();
    let noise = prop::sample::select(vec![
        json!({}),
        json!({"iss": "https://okta.example/", "aud": "rbac"}),
        json!({"realm_access": {"other": [1, 2], "a.b": 1}, "profile": "flat"}),
        json!({"groups": ["Eng"], "email": "noise@x", "sub": "noise", "profile": {"login": "nested"}}),
        json!({"deep": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]], "n": 1.5, "big": 18446744073709551615u64}),
    ]);
    (identity, user, any::<u8>(), groups, any::<u8>(), noise).prop_map(
        |(identity, user, user_how, groups, groups_how, noise)| {
            let (user_claim, groups_claim) = match identity {
                "okta" => ("email", Some("groups")),
                "kc" => ("profile.login", Some("realm_access.roles")),
                _ => ("sub", None),
            };
            // Noise first, so the claims that matter overwrite it (mostly).
            let mut claims = noise.as_object().cloned().unwrap_or_default();
            if let Some(v) = user {
                put_claim(&mut claims, user_claim, v, user_how);
            }
            if let Some(v) = groups {
                put_claim(&mut claims, groups_claim.unwrap_or("groups"), v, groups_how);
            }
            (identity.to_string(), claims)
        },
    )
}

/// How a wide request changes a reference one.
#[derive(Clone, Debug)]
enum WidePrincipal {
    Keep,
    Direct(&'static str),
    Identity(String, Map<String, Value>),
}

/// Requests for wide models: reference requests with odd or identity principals, wide paths
/// (with the action re-drawn for the new target), and the wide schema's attributes.
pub fn wide_req() -> impl Strategy<Value = Req> {
    let principal = prop_oneof![
        5 => Just(WidePrincipal::Keep),
        1 => prop::sample::select(ODD_PRINCIPALS).prop_map(WidePrincipal::Direct),
        5 => identity_principal().prop_map(|(i, c)| WidePrincipal::Identity(i, c)),
    ];
    let path = prop_oneof![
        60 => Just(None),
        30 => prop::sample::select(WIDE_PATHS).prop_map(Some),
        7 => prop::sample::select(BAD_PATHS).prop_map(Some),
    ];
    let action = (any::<u8>(), prop::option::weighted(0.08, prop::sample::select(ODD_ACTIONS)));
    // With the up to four groups above, up to nine names: past the fast resolver's fixed
    // arrays (eight) now and then.
    let odd_groups = prop::sample::subsequence(vec!["g0", "g0", "Eng", "G1", "", "g1", "g2"], 0..=5);
    let int = prop_oneof![
        6 => (-1i64..5).prop_map(|n| json!(n)),
        1 => prop::sample::select(vec![json!(i64::MAX), json!(i64::MIN)]),
    ]
    .boxed();
    let clearance = prop_oneof![
        150 => wide_attr(int.clone(), json!("3")),
        1 => prop::sample::select(vec![json!(1.5), json!(u64::MAX), json!(-0.0)]).prop_map(Some),
    ];
    let roles = wide_attr(
        prop::sample::select(vec![
            json!([]),
            json!(["a"]),
            json!(["a", "q\"x"]),
            json!(["é", "a", "a"]),
            json!(["user:u0", "user:a b"]),
        ])
        .boxed(),
        json!(["a", 1]),
    );
    let nums = wide_attr(
        prop::sample::select(vec![json!([]), json!([1]), json!([2, 1, 1]), json!([-1, i64::MAX]), json!([3, 0])])
            .boxed(),
        json!([1.5]),
    );
    let n = wide_attr(int.clone(), json!(true));
    let pairs = wide_attr(
        prop::sample::select(vec![
            json!([]),
            json!([["a"]]),
            json!([["b", "a"], ["a"]]),
            json!([[]]),
            json!([["a", "b"], ["b", "a", "a"]]),
            json!([["user:u0"], ["a"]]),
        ])
        .boxed(),
        json!(["a"]),
    );
    let ok = wide_attr(any::<bool>().prop_map(|b| json!(b)).boxed(), json!(0));
    let labels = wide_attr(
        prop::sample::select(vec![json!([]), json!(["a"]), json!(["a", "b", "é"]), json!(["k", "q\"x"])]).boxed(),
        json!([true]),
    );
    // `box.owner` is an int: mostly one when the target is a box.
    let box_owner = wide_attr(int, json!("user:u0"));
    let odd_values = prop::option::weighted(
        0.05,
        prop::sample::select(vec![
            ("dept", json!({"x": 1})),
            ("tags", json!([[[[[[[[[[[[[[[[[["a"]]]]]]]]]]]]]]]]]])),
            ("flag", json!(1.0)),
            ("é", json!(1)),
            ("level", json!(9223372036854775808u64)),
            ("tags", json!(["a", null])),
        ]),
    );
    (
        (raw_req(), principal, path, action, odd_groups),
        (clearance, roles, nums, n, pairs, ok),
        (labels, box_owner, odd_values),
    )
        .prop_map(
            |(
                (mut req, principal, path, (pick, forced), odd_groups),
                (clearance, roles, nums, n, pairs, ok),
                (labels, box_owner, odd_values),
            )| {
                match principal {
                    WidePrincipal::Keep => {}
                    WidePrincipal::Direct(id) => req.principal = id.to_string(),
                    WidePrincipal::Identity(identity, claims) => req.identity = Some((identity, claims)),
                }
                req.groups.extend(odd_groups.into_iter().map(str::to_string));
                if let Some(p) = path {
                    req.path = p.to_string();
                    let target = p.rsplit('/').next().unwrap_or("").split(':').next().unwrap_or("");
                    let declared = type_def(target).map_or(&["read"][..], |t| t.actions);
                    req.action =
                        forced.or(declared.get(pick as usize % declared.len()).copied()).unwrap_or("read").into();
                } else if let Some(a) = forced {
                    req.action = a.to_string();
                }
                let is_box = req.path.rsplit('/').next().is_some_and(|s| s == "box" || s.starts_with("box:"));
                let push = |list: &mut Vec<Attr>, name: &'static str, v: Option<Value>| {
                    if let Some(v) = v {
                        list.retain(|(k, _)| *k != name);
                        list.push((name, v));
                    }
                };
                push(&mut req.principal_attrs, "clearance", clearance);
                push(&mut req.principal_attrs, "roles", roles);
                push(&mut req.principal_attrs, "nums", nums);
                push(&mut req.context, "n", n);
                push(&mut req.context, "pairs", pairs);
                push(&mut req.context, "ok", ok);
                push(&mut req.resource_attrs, "labels", labels);
                if is_box {
                    req.resource_attrs.retain(|(k, _)| *k != "owner");
                    push(&mut req.resource_attrs, "owner", box_owner);
                }
                if let Some((name, v)) = odd_values {
                    let list = match name {
                        "dept" => &mut req.principal_attrs,
                        "level" => &mut req.resource_attrs,
                        _ => &mut req.context,
                    };
                    push(list, name, Some(v));
                }
                req
            },
        )
}
