//! Access reviews cross-checked against `Policy::decide` on small random policies (proptest).
//!
//! For every subject (users, a service, each group, `everyone`), action and resource of a
//! fixed universe, and a few sets of attributes:
//! - `who-can`: the answer for the subject (or `everyone`'s, when the subject is not listed)
//!   agrees with the decision for a principal that is just that subject;
//! - `list`: the access read back from the listing (the deepest listed scope enclosing the
//!   resource) agrees with the decision for that principal and its groups, and `--on` agrees
//!   with the full listing;
//! - `diff`: the change read back from the diff (the subject's deepest enclosing entry, else
//!   `everyone`'s, else none) agrees with the decisions under both policies: no change means
//!   the same decision, a change means the old and new states each agree with their policy.
//!
//! "Agrees": `allow` means the decision allows, `deny`, `exclusive` and `none` that it
//! denies, `conditional` either way, but an allow must come from a rule the answer lists.

// The generator's helpers index fixed, non-empty tables.
#![allow(clippy::indexing_slicing)]

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rbac::review::{AccessIndex, Change, RuleHit, State, Status};
use serde_json::json;
use std::collections::BTreeSet;

const SCHEMA: &str = r#"actions rw = read, write;
resource org { actions read, admin; }
resource team in org { actions rw, admin; attributes { owner: string, level: int } }
resource doc in team { actions rw, share; attributes { owner: string } }
resource vault { actions read, open; attributes { level: int } }
context { attributes { flag: bool } }
group g0;
group g1;
group g2;
"#;

/// (type, its actions).
const TYPES: &[(&str, &[&str])] = &[
    ("org", &["read", "admin"]),
    ("team", &["read", "write", "admin"]),
    ("doc", &["read", "write", "share"]),
    ("vault", &["read", "open"]),
];

const SCOPES: &[&str] = &["org:a", "org:b", "org:a/team:x", "org:a/team:y", "org:a/team:x/doc:d", "vault:v"];

const PATHS: &[&str] = &[
    "org:a",
    "org:b",
    "org:a/team:x",
    "org:a/team:y",
    "org:b/team:x",
    "org:a/team:x/doc:d",
    "org:a/team:x/doc:e",
    "org:a/team",
    "org:a/team:x/doc",
    "vault:v",
    "vault:w",
    "vault",
];

const SUBJECTS: &[&str] = &["user:u0", "user:u1", "service:s0", "group:g0", "group:g1", "group:g2", "everyone"];

/// Conditions valid on any type, and those needing `owner` (team, doc) or `level` (team, vault).
const ANY_CONDS: &[&str] = &[
    "context.flag",
    "!context.flag",
    "principal in group:g1",
    "principal.id == \"user:u0\"",
    "resource.id == \"x\"",
    "true",
];
const OWNER_CONDS: &[&str] = &["resource.owner == principal.id", "resource has owner"];
const LEVEL_CONDS: &[&str] = &["resource.level > 2"];

#[derive(Debug, Clone)]
struct RawRule {
    deny: bool,
    types: u8,
    actions: u8,
    star_actions: bool,
    cond: Option<u8>,
}

#[derive(Debug, Clone)]
struct RawAssign {
    roles: Vec<u8>,
    subjects: Vec<u8>,
    scope: Option<u8>,
}

#[derive(Debug, Clone)]
struct RawPolicy {
    roles: Vec<(u8, Vec<RawRule>)>,
    assigns: Vec<RawAssign>,
    exclusive: Option<(u8, u8)>,
}

fn raw_rule() -> impl Strategy<Value = RawRule> {
    (any::<bool>(), 0u8..16, any::<u8>(), prop::bool::weighted(0.15), prop::option::weighted(0.4, any::<u8>()))
        .prop_map(|(deny, types, actions, star_actions, cond)| RawRule { deny, types, actions, star_actions, cond })
}

fn raw_policy() -> impl Strategy<Value = RawPolicy> {
    let role = (any::<u8>(), prop::collection::vec(raw_rule(), 0..4));
    let assign = (
        prop::collection::vec(any::<u8>(), 1..3),
        prop::collection::vec(any::<u8>(), 1..3),
        prop::option::weighted(0.75, any::<u8>()),
    )
        .prop_map(|(roles, subjects, scope)| RawAssign { roles, subjects, scope });
    (
        prop::collection::vec(role, 1..5),
        prop::collection::vec(assign, 1..7),
        prop::option::weighted(0.25, (any::<u8>(), any::<u8>())),
    )
        .prop_map(|(roles, assigns, exclusive)| RawPolicy { roles, assigns, exclusive })
}

fn pick<T>(items: &[T], n: u8) -> Option<&T> {
    items.get(usize::from(n) % items.len().max(1))
}

/// Renders a raw policy as `.rbac` text (with or without its `exclusive` set).
fn render(p: &RawPolicy, with_exclusive: bool) -> String {
    let mut out = String::from(SCHEMA);
    let n = p.roles.len();
    for (i, (extends, rules)) in p.roles.iter().enumerate() {
        let parents: Vec<String> = (0..i).filter(|j| extends & (1 << j) != 0).map(|j| format!("r{j}")).collect();
        out += &format!("role r{i}");
        if !parents.is_empty() {
            out += &format!(" extends {}", parents.join(", "));
        }
        out += " {\n";
        for r in rules {
            let types: Vec<(&str, &[&str])> =
                TYPES.iter().enumerate().filter(|(k, _)| r.types & (1 << k) != 0).map(|(_, t)| *t).collect();
            let types = if types.is_empty() { vec![TYPES[1]] } else { types };
            let declared: BTreeSet<&str> = types.iter().flat_map(|(_, a)| a.iter().copied()).collect();
            let declared: Vec<&str> = declared.into_iter().collect();
            let mut actions: Vec<&str> =
                declared.iter().enumerate().filter(|(k, _)| r.actions & (1 << k) != 0).map(|(_, a)| *a).collect();
            if actions.is_empty() {
                actions.push(declared[0]);
            }
            if actions.contains(&"read") && actions.contains(&"write") && r.actions & 0x80 != 0 {
                actions.retain(|a| *a != "read" && *a != "write");
                actions.push("rw");
            }
            let actions = if r.star_actions { "*".to_string() } else { actions.join(", ") };
            let names: Vec<&str> = types.iter().map(|(t, _)| *t).collect();
            let mut conds: Vec<&str> = ANY_CONDS.to_vec();
            if names.iter().all(|t| *t == "team" || *t == "doc") {
                conds.extend(OWNER_CONDS);
            }
            if names.iter().all(|t| *t == "team" || *t == "vault") {
                conds.extend(LEVEL_CONDS);
            }
            out += &format!("  {} {actions} on {}", if r.deny { "deny" } else { "allow" }, names.join(", "));
            if let Some(c) = r.cond.and_then(|c| pick(&conds, c)) {
                out += &format!(" when {c}");
            }
            out += ";\n";
        }
        out += "}\n";
    }
    for a in &p.assigns {
        let roles: BTreeSet<String> = a.roles.iter().map(|r| format!("r{}", usize::from(*r) % n)).collect();
        let subjects: BTreeSet<&str> = a.subjects.iter().filter_map(|s| pick(SUBJECTS, *s).copied()).collect();
        let roles: Vec<String> = roles.into_iter().collect();
        let subjects: Vec<&str> = subjects.into_iter().collect();
        out += &format!("assign {} to {}", roles.join(", "), subjects.join(", "));
        if let Some(s) = a.scope.and_then(|s| pick(SCOPES, s)) {
            out += &format!(" on {s}");
        }
        out += ";\n";
    }
    if let (true, Some((a, b))) = (with_exclusive, p.exclusive) {
        let (a, b) = (usize::from(a) % n, usize::from(b) % n);
        if a != b {
            out += &format!("exclusive r{a}, r{b};\n");
        }
    }
    out
}

/// Compiles the policy, without its `exclusive` set when that breaks a static rule.
fn compile(p: &RawPolicy) -> Result<rbac::Policy, TestCaseError> {
    for with in [true, false] {
        let src = render(p, with);
        let c = rbac::compile_str("gen.rbac", &src);
        if let Some(policy) = c.policy {
            return Ok(policy);
        }
        if !with {
            return Err(TestCaseError::fail(format!("does not compile:\n{src}\n{}", c.render(false))));
        }
    }
    Err(TestCaseError::fail("unreachable"))
}

/// The request of a principal that is exactly `subject`, with attribute variant `v`.
fn rep(subject: &str, action: &str, path: &str, v: usize) -> rbac::Request {
    let (id, groups): (&str, Vec<&str>) = match subject.strip_prefix("group:") {
        Some(g) => ("user:fresh", vec![g]),
        None if subject == "everyone" => ("user:fresh", vec![]),
        None => (subject, vec![]),
    };
    with_attrs(rbac::Request::new(id, &groups, action, path), id, v)
}

const VARIANTS: usize = 3;

fn with_attrs(r: rbac::Request, id: &str, v: usize) -> rbac::Request {
    match v {
        0 => r,
        1 => r
            .with_attr(rbac::Entity::Resource, "owner", json!(id))
            .with_attr(rbac::Entity::Resource, "level", json!(5))
            .with_attr(rbac::Entity::Context, "flag", json!(true)),
        _ => r
            .with_attr(rbac::Entity::Resource, "owner", json!("user:zz"))
            .with_attr(rbac::Entity::Resource, "level", json!(1))
            .with_attr(rbac::Entity::Context, "flag", json!(false)),
    }
}

fn target_actions(path: &str) -> &'static [&'static str] {
    let last = path.rsplit('/').next().unwrap_or("");
    let ty = last.split(':').next().unwrap_or("");
    TYPES.iter().find(|(t, _)| *t == ty).map_or(&[], |(_, a)| a)
}

fn target_type(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("").split(':').next().unwrap_or("")
}

/// Whether `scope` (`None`: everywhere) is `path` or encloses it.
fn encloses(scope: Option<&str>, path: &str) -> bool {
    match scope {
        None => true,
        Some(s) => path == s || path.starts_with(&format!("{s}/")),
    }
}

/// Checks a decision against an access state and the rules it lists.
fn agrees(
    state: &State,
    rules: Option<&[RuleHit]>,
    d: &rbac::Decision,
    what: &dyn Fn() -> String,
) -> Result<(), TestCaseError> {
    prop_assert!(d.errors.is_empty(), "unexpected invalid request: {:?}{}", d.errors, what());
    match state.status {
        Status::Allow => prop_assert!(d.is_allow(), "answer says allowed, decide denies{}", what()),
        Status::Deny | Status::Exclusive | Status::None => {
            prop_assert!(!d.is_allow(), "answer says {:?}, decide allows{}", state.status, what())
        }
        Status::Conditional => {}
    }
    if let (true, Some(rules)) = (d.is_allow(), rules) {
        for r in &d.reasons {
            if let rbac::Reason::Allow(rr) = r {
                let listed = rules.iter().any(|h| {
                    h.effect == rbac::Effect::Allow
                        && h.role == rr.role
                        && h.subject == rr.subject
                        && h.scope.as_deref() == rr.scope.as_deref()
                });
                prop_assert!(listed, "allow reason {rr:?} is not among the answer's rules{}", what());
            }
        }
    }
    Ok(())
}

fn check_who_can(policy: &rbac::Policy, src: &str) -> Result<(), TestCaseError> {
    let index = AccessIndex::new(policy.compiled());
    for path in PATHS {
        for action in target_actions(path) {
            let answer = index.who_can(action, path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let find = |s: &str| answer.subjects.iter().find(|x| x.subject == s);
            for subject in SUBJECTS {
                let entry = find(subject).or_else(|| find("everyone"));
                let none = State::none();
                let state = entry.map_or(&none, |e| &e.access.state);
                let rules = entry.map(|e| e.access.rules.as_slice()).unwrap_or(&[]);
                for v in 0..VARIANTS {
                    let d = policy.decide(&rep(subject, action, path, v));
                    let what = || {
                        format!(
                            "\nwho-can {action} {path}, subject {subject}, variant {v}\n{}\n--- decision ---\n{}\n--- source ---\n{src}",
                            serde_json::to_string_pretty(&answer).unwrap_or_default(),
                            serde_json::to_string(&d).unwrap_or_default()
                        )
                    };
                    agrees(state, Some(rules), &d, &what)?;
                    if d.is_allow() {
                        prop_assert!(state.permits(), "decide allows, who-can says {:?}{}", state.status, what());
                    }
                }
            }
        }
    }
    // Invalid questions are errors, as invalid requests are.
    prop_assert!(index.who_can("share", "org:a/team:x").is_err());
    prop_assert!(index.who_can("read", "org:a/doc:d").is_err());
    Ok(())
}

fn check_list(policy: &rbac::Policy, src: &str, principal: &str, groups: &[&str]) -> Result<(), TestCaseError> {
    let index = AccessIndex::new(policy.compiled());
    let listing = index.list(principal, groups, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for path in PATHS {
        for action in target_actions(path) {
            let ty = target_type(path);
            let entry = listing
                .scopes
                .iter()
                .filter(|s| encloses(s.scope.as_deref(), path))
                .filter_map(|s| s.permissions.iter().find(|p| p.type_name == ty && p.action == *action))
                .next_back();
            let none = State::none();
            let state = entry.map_or(&none, |p| &p.access.state);
            for v in 0..VARIANTS {
                let d = policy.decide(&with_attrs(rbac::Request::new(principal, groups, action, path), principal, v));
                let what = || {
                    format!(
                        "\nlist {principal} {groups:?}: {action} {path}, variant {v}\n{}\n--- decision ---\n{}\n--- source ---\n{src}",
                        serde_json::to_string_pretty(&listing).unwrap_or_default(),
                        serde_json::to_string(&d).unwrap_or_default()
                    )
                };
                // The rules are not checked: a deeper scope whose access is the same is not
                // listed, so the listing names the rules of the outermost scope only.
                agrees(state, None, &d, &what)?;
                if d.is_allow() {
                    prop_assert!(state.permits(), "decide allows, list says {:?}{}", state.status, what());
                }
            }
            // `--on PATH` starts from the same state.
            if !path.ends_with("team") && !path.ends_with("doc") && path != &"vault" {
                let on = index.list(principal, groups, Some(path)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let top = on
                    .scopes
                    .first()
                    .filter(|s| s.scope.as_deref() == Some(*path))
                    .and_then(|s| s.permissions.iter().find(|p| p.type_name == ty && p.action == *action));
                prop_assert_eq!(top.map_or(&none, |p| &p.access.state), state, "--on {} differs for {}", path, action);
            }
        }
    }
    Ok(())
}

/// The change read back from a diff for `subject` on (path, action).
fn read_back<'d>(changes: &'d [Change], subject: &str, path: &str, action: &str) -> Option<&'d Change> {
    let ty = target_type(path);
    let deepest = |who: &str| {
        changes
            .iter()
            .filter(|c| {
                c.subject == who && c.type_name == ty && c.action == action && encloses(c.scope.as_deref(), path)
            })
            .max_by_key(|c| c.scope.as_ref().map_or(0, String::len))
    };
    deepest(subject).or_else(|| deepest("everyone"))
}

fn check_diff(old: &rbac::Policy, new: &rbac::Policy, src: &str) -> Result<(), TestCaseError> {
    let diff = rbac::review::diff(old.compiled(), new.compiled());
    for path in PATHS {
        for action in target_actions(path) {
            for subject in SUBJECTS {
                let change = read_back(&diff.changes, subject, path, action);
                for v in 0..VARIANTS {
                    let req = rep(subject, action, path, v);
                    let (a, b) = (old.decide(&req), new.decide(&req));
                    let what = || {
                        format!(
                            "\ndiff: {subject} {action} {path}, variant {v}: read back {change:?}\nold {}\nnew {}\n{}\n--- sources ---\n{src}",
                            serde_json::to_string(&a).unwrap_or_default(),
                            serde_json::to_string(&b).unwrap_or_default(),
                            serde_json::to_string_pretty(&diff).unwrap_or_default(),
                        )
                    };
                    match change {
                        None => {
                            prop_assert_eq!(a.is_allow(), b.is_allow(), "no change listed, decisions differ{}", what())
                        }
                        Some(c) => {
                            agrees(&c.old, None, &a, &what)?;
                            agrees(&c.new, None, &b, &what)?;
                        }
                    }
                }
            }
        }
    }
    if old.digest() == new.digest() {
        prop_assert!(!diff.changed() && diff.edits.is_empty(), "equal digests, yet a diff");
    }
    Ok(())
}

/// Cases per property: 160 by default (each property takes about 10 s in a debug build);
/// `PROPTEST_CASES` overrides it, e.g. `PROPTEST_CASES=2000 cargo test --test review diff`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(160)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn who_can_and_list_agree_with_decide(raw in raw_policy(), groups in prop::collection::vec(0usize..3, 0..3)) {
        let policy = compile(&raw)?;
        let src = render(&raw, true);
        check_who_can(&policy, &src)?;
        let groups: Vec<&str> = groups.iter().map(|g| ["g0", "g1", "g2"][*g]).collect();
        check_list(&policy, &src, "user:u0", &groups)?;
        check_list(&policy, &src, "service:s0", &[])?;
        check_list(&policy, &src, "user:u1", &["g0", "g2"])?;
    }

    #[test]
    fn diff_agrees_with_decide(
        a in raw_policy(),
        b in raw_policy(),
        mix in 0u8..8,
        to_everyone in prop::option::of(any::<u8>()),
    ) {
        // Mix the parts of two policies, so some pairs share roles or assignments and some
        // are equal.
        let mut mixed = RawPolicy {
            roles: if mix & 1 == 0 { a.roles.clone() } else { b.roles.clone() },
            assigns: if mix & 2 == 0 { a.assigns.clone() } else { b.assigns.clone() },
            exclusive: if mix & 4 == 0 { a.exclusive } else { b.exclusive },
        };
        // Half the time, one subject's assignments move to `everyone`, which then reaches
        // every subject alongside its own roles (issue 5: a deny `everyone` holds deeper down
        // than a subject's own allow).
        if let Some(k) = to_everyone {
            let everyone = SUBJECTS.iter().position(|s| *s == "everyone").unwrap_or_default() as u8;
            for assign in &mut mixed.assigns {
                for s in &mut assign.subjects {
                    if pick(SUBJECTS, *s) == pick(SUBJECTS, k) {
                        *s = everyone;
                    }
                }
            }
        }
        let (old, new) = (compile(&a)?, compile(&mixed)?);
        let src = format!("--- old ---\n{}\n--- new ---\n{}", render(&a, true), render(&mixed, true));
        check_diff(&old, &new, &src)?;
        check_diff(&new, &old, &src)?;
    }
}

#[test]
fn digest_ignores_order_and_locations() {
    let a = "resource w { actions read, write; }\nrole r { allow read on w; }\nrole s { allow write on w; }\n\
             assign r to user:a on w:x;\nassign s to user:b;\n";
    let b = "// reordered\nassign s to user:b;\n\n\nassign r to user:a on w:\"x\";\nrole s { allow write on w; }\n\
             role r { allow read on w; }\nresource w { actions write, read; }\n";
    let c = a.replace("allow read", "deny read");
    let digest = |src: &str| rbac::compile_str("p.rbac", src).policy.map(|p| p.digest());
    assert!(digest(a).is_some());
    assert_eq!(digest(a), digest(b));
    assert_ne!(digest(a), digest(&c));
    assert_eq!(rbac::compile_str("other-name.rbac", a).policy.map(|p| p.digest()), digest(a));
}

/// who-can notes roles of one `exclusive` set held by subjects one principal can be at once
/// (a user and a group), never by two users, which no principal can both be.
#[test]
fn who_can_notes_exclusive_roles_only_across_subjects_one_principal_can_be() {
    let note = |deployer_holder: &str| {
        let src = format!(
            "resource model {{ actions promote, run; }}\ngroup sec;\nrole approver {{ allow promote on model; }}\n\
             role deployer {{ allow run on model; }}\nexclusive approver, deployer;\n\
             assign approver to user:bob;\nassign deployer to {deployer_holder};\n"
        );
        let policy = rbac::compile_str("x.rbac", &src).policy.expect("compiles");
        let answer = AccessIndex::new(policy.compiled()).who_can("run", "model:m").expect("who-can");
        answer.notes
    };
    assert_eq!(note("user:carol"), Vec::<String>::new());
    let notes = note("group:sec");
    assert!(notes.len() == 1 && notes[0].contains("`group:sec`") && notes[0].contains("`user:bob`"), "{notes:?}");
}

/// What the target alone decides is folded before a condition is shown: on a bare type there
/// is no `resource.id` (a deny that reads it denies, as deciding fails closed), on a path it is
/// the path's id, and `resource has x` is false on a type without `x`. The answers agree with
/// the decisions, attributes given or not.
#[test]
fn conditions_the_target_decides_are_not_shown_as_conditional() {
    let src = "resource org { actions read; }\n\
               resource doc in org { actions create, read; attributes { owner: string } }\n\
               role maker {\n    allow create on doc;\n    deny create on doc when resource.id == \"secret\";\n\
               \x20   allow read on * when resource has owner;\n}\nassign maker to user:ann;\n";
    let policy = rbac::compile_str("bare.rbac", src).policy.expect("compiles");
    let index = AccessIndex::new(policy.compiled());
    let status = |action: &str, path: &str| {
        let answer = index.who_can(action, path).expect("who-can");
        answer.subjects.iter().find(|s| s.subject == "user:ann").map(|s| s.access.state.status)
    };
    let decides = |action: &str, path: &str| {
        let plain = rbac::Request::new("user:ann", &[], action, path);
        let owned = plain.clone().with_attr(rbac::Entity::Resource, "owner", json!("user:ann"));
        [policy.decide(&plain).is_allow(), policy.decide(&owned).is_allow()]
    };
    for (action, path, expected, allowed) in [
        ("create", "org:a/doc", Some(Status::Deny), [false, false]),
        ("create", "org:a/doc:secret", Some(Status::Deny), [false, false]),
        ("create", "org:a/doc:x", Some(Status::Allow), [true, true]),
        ("read", "org:a", None, [false, false]),
        ("read", "org:a/doc:x", Some(Status::Conditional), [false, true]),
    ] {
        assert_eq!(status(action, path), expected, "{action} {path}");
        assert_eq!(decides(action, path), allowed, "{action} {path}");
    }
    // Listed for any resource of a type: `resource.id` is up to the request, `has` is not.
    let listing = index.list("user:ann", &[], None).expect("list");
    let of = |ty: &str, action: &str| {
        listing.scopes.iter().flat_map(|s| &s.permissions).find(|p| p.type_name == ty && p.action == action)
    };
    assert_eq!(of("doc", "create").map(|p| p.access.state.status), Some(Status::Conditional));
    assert!(of("org", "read").is_none(), "org declares no owner: reading it is never allowed");
}
