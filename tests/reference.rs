//! Differential test of the evaluator against a reference interpreter of design section 5.
//!
//! Random small policies are rendered to `.rbac` source and compiled with
//! `rbac::compile_str`; random requests are decided both by `Policy::decide` and by an
//! independent reference interpreter written straight from the design (5.1 validity, 5.2
//! decision, 5.3 reasons). Decisions must be equal; so must the (role, subject, scope) of the
//! allow / deny reasons, the clashing roles of an `exclusive` reason, and "errors exactly for
//! invalid requests".
//!
//! The reference interpreter shares no code with the crate's evaluator: it works on the
//! generator's plain-data model of a policy (`Model`) and of a request (`Req`), both in
//! tests/common/gen.rs with the fixed schema they use. Only the final `rbac::Request` handed to
//! the crate and the `rbac::Decision` it returns are crate types. The generator's wide variety
//! (tests/engines.rs) is not used here: the reference covers the reference schema only.

mod common;

use common::compile;
use common::generator::*;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};
use std::collections::BTreeSet;

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

/// A type of the reference schema by name.
fn ref_type(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
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

fn apply(op: CmpOp, a: i64, b: i64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
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
        let def = ref_type(ty)?;
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
        Ty::IntSet => v.as_array().is_some_and(|a| a.iter().all(Value::is_i64)),
        Ty::StrSetSet => v.as_array().is_some_and(|a| a.iter().all(|x| has_type(x, Ty::StrSet))),
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
            apply(*op, v, *n)
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
        Cond::Src(s) => unreachable!("`{s}`: the reference schema has no wide atoms"),
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
                        set.insert((
                            rr.role.to_string(),
                            rr.subject.to_string(),
                            rr.scope.as_deref().map(str::to_string),
                        ));
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
                            set.insert((
                                rr.role.to_string(),
                                rr.subject.to_string(),
                                rr.scope.as_deref().map(str::to_string),
                                rr.unevaluable.clone(),
                            ));
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
// The properties.
// ---------------------------------------------------------------------------------------------

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
        // Prepared parts (principal, resource) decide as the whole request does.
        let whole = req.to_crate();
        if let rbac::Principal::Direct(p) = &whole.principal {
            match policy.subject(p).and_then(|s| policy.target(&whole.resource).map(|t| (s, t))) {
                Ok((subject, target)) => {
                    let d = policy.check(&subject, &whole.action, &target, &whole.context).decision();
                    if actual.errors.is_empty() {
                        prop_assert_eq!(&d, &actual, "prepared parts decide otherwise{}", context());
                    } else {
                        prop_assert!(
                            !d.is_allow() && !d.errors.is_empty(),
                            "prepared parts of an invalid request{}",
                            context()
                        );
                    }
                }
                Err(d) => prop_assert!(
                    !d.is_allow() && !d.errors.is_empty() && !actual.errors.is_empty(),
                    "a part of a valid request is rejected{}",
                    context()
                ),
            }
        }
        // A valid request decides the same with every path id quoted, which names the same
        // segments but is resolved by the full validator instead of the one-pass fast path.
        if actual.errors.is_empty()
            && let Some(quoted) = quote_path(&req.path)
        {
            let mut again = req.to_crate();
            again.resource.path = quoted;
            prop_assert_eq!(&policy.decide(&again), &actual, "the quoted path decides otherwise{}", context());
        }
    }
    Ok(())
}

/// The path with every id quoted (and escaped): the same segments, another spelling.
fn quote_path(path: &str) -> Option<String> {
    let parts = rbac::path::parse(path).ok()?;
    let mut out: Vec<String> = parts
        .segments
        .iter()
        .map(|(t, id)| format!("{t}:\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    out.extend(parts.bare.map(str::to_string));
    Some(out.join("/"))
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
        identity: None,
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
        wide: false,
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
