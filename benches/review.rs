//! Access reviews and the audit log on a generated policy with 100,000 assignments
//! (criterion): building the index, `who-can` on one resource, `list` for one principal,
//! the policy digest, and appending a decision to an in-memory log. Run with
//! `cargo bench --bench review`.

#![allow(clippy::indexing_slicing)]

use criterion::{Criterion, criterion_group, criterion_main};
use rbac::audit::{AuditLog, AuditOptions, Head};
use rbac::review::AccessIndex;
use std::fmt::Write;
use std::hint::black_box;

/// 100 workspaces of 10 projects; 100,000 users, each assigned a role on one project; every
/// tenth assignment also gives a group a role on a workspace.
pub fn generated_policy(assignments: usize) -> String {
    let mut src = String::from(
        "use std::crud;\n\
         resource workspace { actions crud; }\n\
         resource project in workspace { actions crud, share; }\n\
         resource pipeline in project { actions crud, run; attributes { owner: string } }\n\
         role viewer { allow read on *; }\n\
         role editor extends viewer {\n  allow create, update, run on pipeline;\n  \
         allow delete on pipeline when resource.owner == principal.id;\n}\n\
         role admin extends editor { allow * on *; deny delete on workspace; }\n",
    );
    for g in 0..100 {
        let _ = writeln!(src, "group g{g};");
    }
    let roles = ["viewer", "editor", "admin"];
    for i in 0..assignments {
        let (w, p) = (i % 100, i % 1000);
        let _ = writeln!(src, "assign {} to user:u{i} on workspace:w{w}/project:p{p};", roles[i % 3]);
        if i % 10 == 0 {
            let _ = writeln!(src, "assign {} to group:g{} on workspace:w{w};", roles[(i / 10) % 3], (i / 10) % 100);
        }
    }
    src
}

fn bench(c: &mut Criterion) {
    let compiled = rbac::compile_str("generated.rbac", &generated_policy(100_000));
    let Some(policy) = compiled.policy else {
        eprintln!("{}", compiled.render(false));
        return;
    };
    let index = AccessIndex::new(policy.compiled());
    let path = "workspace:w7/project:p107/pipeline:train";
    c.bench_function("review/100k/index", |b| b.iter(|| AccessIndex::new(black_box(policy.compiled()))));
    c.bench_function("review/100k/who-can", |b| b.iter(|| index.who_can(black_box("run"), black_box(path))));
    c.bench_function("review/100k/list", |b| b.iter(|| index.list(black_box("user:u107"), &["g7"], None)));
    c.bench_function("review/100k/list-on", |b| {
        b.iter(|| index.list(black_box("user:u107"), &["g7"], Some("workspace:w7/project:p107")))
    });
    c.bench_function("audit/100k/digest", |b| b.iter(|| black_box(&policy).digest()));
    let digest = policy.digest();
    let request = rbac::Request::new("user:u107", &["g7"], "run", path);
    let decision = policy.decide(&request);
    let value = serde_json::to_value(&request).unwrap_or_default();
    let mut log = AuditLog::new(Vec::new(), Head::genesis(), AuditOptions::default());
    c.bench_function("audit/append-decision", |b| {
        b.iter(|| log.record_decision(&digest, black_box(&value), &decision))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
