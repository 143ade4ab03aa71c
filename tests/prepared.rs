//! `Policy::subject`, `Policy::target` and `Policy::check`: a principal and a resource
//! resolved once, decided as the whole request is (tests/reference.rs checks that on
//! generated policies); here, what only prepared parts can get wrong.

#![allow(clippy::expect_used)]

use rbac::{DirectPrincipal, Request, ResourceRef};
use serde_json::{Map, json};

const POLICY: &str = r#"
resource workspace { actions read, write; }
resource pipeline in workspace { actions read, write; attributes { owner: string } }
group devs;
role viewer { allow read on workspace, pipeline; }
role owner_writes { allow write on pipeline when resource.owner == principal.id; }
assign viewer to group:devs on workspace:prod;
assign owner_writes to user:ann;
"#;

fn policy() -> rbac::Policy {
    rbac::compile_str("p.rbac", POLICY).policy.expect("compiles")
}

fn ann() -> DirectPrincipal {
    DirectPrincipal { id: "user:ann".into(), groups: vec!["devs".into()], attrs: Map::new() }
}

fn resource(path: &str, attrs: serde_json::Value) -> ResourceRef {
    ResourceRef { path: path.into(), attrs: attrs.as_object().cloned().unwrap_or_default() }
}

#[test]
fn one_subject_many_targets_decide_as_whole_requests() {
    let policy = policy();
    let subject = policy.subject(&ann()).expect("valid");
    let context = Map::new();
    let cases = [
        ("workspace:prod", "read", json!({}), true),
        ("workspace:dev", "read", json!({}), false),
        ("workspace:prod/pipeline:train", "write", json!({"owner": "user:ann"}), true),
        ("workspace:prod/pipeline:train", "write", json!({"owner": "user:bob"}), false),
        // The owner is not given: the condition cannot be evaluated, so no rule allows.
        ("workspace:\"prod\"/pipeline:train", "write", json!({}), false),
    ];
    for (path, action, attrs, allowed) in cases {
        let target = policy.target(&resource(path, attrs.clone())).expect("valid");
        let verdict = policy.check(&subject, action, &target, &context);
        let mut whole = Request::new("user:ann", &["devs"], action, path);
        whole.resource.attrs = attrs.as_object().cloned().unwrap_or_default();
        assert_eq!(verdict.decision(), policy.decide(&whole), "{path} {action}");
        assert_eq!(verdict.is_allow(), allowed, "{path} {action}");
    }
}

#[test]
fn invalid_parts_are_invalid_requests() {
    let policy = policy();
    let bad = DirectPrincipal { id: "ann".into(), groups: vec![], attrs: Map::new() };
    let d = policy.subject(&bad).expect_err("not user: or service:");
    assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0711"));
    let d = policy.target(&resource("workspace:prod/nope:x", json!({}))).expect_err("unknown type");
    assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0722"));
    let d = policy.target(&resource("workspace:prod/pipeline:p", json!({"owner": 3}))).expect_err("owner is a string");
    assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0741"));

    let subject = policy.subject(&ann()).expect("valid");
    let target = policy.target(&resource("workspace:prod", json!({}))).expect("valid");
    let d = policy.check(&subject, "deploy", &target, &Map::new()).decision();
    assert!(!d.is_allow());
    assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0731"));
}

#[test]
fn parts_of_another_policy_are_refused() {
    let (one, other) = (policy(), policy());
    let subject = other.subject(&ann()).expect("valid");
    let target = one.target(&resource("workspace:prod", json!({}))).expect("valid");
    let d = one.check(&subject, "read", &target, &Map::new()).decision();
    assert!(!d.is_allow(), "the same text compiled twice is still another policy");
    assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0742"));
    let own = one.subject(&ann()).expect("valid");
    assert!(one.check(&own, "read", &target, &Map::new()).is_allow());
}

/// A prepared subject keeps a copy of a short run of assignments and reads a long one in the
/// policy: both decide as the whole request does, at every scope of either.
#[test]
fn subjects_with_few_or_many_assignments_decide_as_whole_requests() {
    let mut src = String::from(
        "resource workspace { actions read, write; }\nrole viewer { allow read on workspace; }\n\
         role writer { allow write on workspace; }\ngroup big;\ngroup small;\n",
    );
    for i in 0..100 {
        src.push_str(&format!("assign viewer to group:big on workspace:w{i};\n"));
    }
    for i in (0..50).step_by(2) {
        src.push_str(&format!("assign writer to user:ann on workspace:w{i};\n"));
    }
    for i in (30..120).step_by(3) {
        src.push_str(&format!("assign writer to group:small on workspace:w{i};\n"));
    }
    for i in 40..110 {
        src.push_str(&format!("assign writer to user:bob on workspace:w{i};\n"));
    }
    let policy = rbac::compile_str("many.rbac", &src).policy.expect("compiles");
    let context = Map::new();
    let mut allowed = 0;
    for (id, groups) in [("user:ann", vec!["big"]), ("user:bob", vec!["small"]), ("user:cy", vec!["big", "small"])] {
        let principal = DirectPrincipal {
            id: id.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            attrs: Map::new(),
        };
        let subject = policy.subject(&principal).expect("valid");
        for i in 0..125 {
            let path = format!("workspace:w{i}");
            let target = policy.target(&resource(&path, json!({}))).expect("valid");
            for action in ["read", "write"] {
                let verdict = policy.check(&subject, action, &target, &context);
                let whole = Request::new(id, &groups, action, &path);
                assert_eq!(verdict.decision(), policy.decide(&whole), "{id} {action} {path}");
                allowed += usize::from(verdict.is_allow());
            }
        }
    }
    // ann: read w0-w99, write 25; bob: write w40-w109 (70) and 7 more of small's 30 outside
    // them; cy: read 100, write 30.
    assert_eq!(allowed, 100 + 25 + 77 + 100 + 30);
}
