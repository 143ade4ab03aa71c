//! Decision latency on `examples/zenml.rbac`, native and through the WebAssembly module in
//! wasmtime (criterion). Run with `cargo bench --bench decide`.
//! The full workload against Cedar and Casbin is issue 6; this keeps a baseline measured.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let compiled = rbac::compile(&rbac::FsLoader, &["examples/zenml.rbac"]);
    let Some(policy) = compiled.policy else {
        eprintln!("{}", compiled.render(false));
        return;
    };
    let allow = rbac::Request::new(
        "user:carol@acme.com",
        &["ml_platform"],
        "run",
        "workspace:prod/project:churn/pipeline:train",
    );
    let deny = rbac::Request::new("user:dave@acme.com", &[], "read", "workspace:prod/project:churn/pipeline:train");
    let cond =
        rbac::Request::new("user:carol@acme.com", &["ml_platform"], "delete", "workspace:prod/project:churn/model:m")
            .with_attr(rbac::Entity::Resource, "owner", serde_json::json!("user:carol@acme.com"));
    c.bench_function("native/zenml/allow", |b| b.iter(|| policy.decide(black_box(&allow))));
    c.bench_function("native/zenml/deny", |b| b.iter(|| policy.decide(black_box(&deny))));
    c.bench_function("native/zenml/condition", |b| b.iter(|| policy.decide(black_box(&cond))));
    // The same decisions through the policy's WebAssembly module in wasmtime, request
    // encoding and decision decoding included (a decision borrows the module, so it is
    // dropped inside the timed routine, as criterion drops the native ones).
    if let Ok(mut module) = rbac::wasm::emit(&policy).and_then(|b| rbac::wasm::WasmPolicy::new(&b)) {
        c.bench_function("wasm/zenml/allow", |b| b.iter(|| module.decide(black_box(&allow)).is_allow()));
        c.bench_function("wasm/zenml/deny", |b| b.iter(|| module.decide(black_box(&deny)).is_allow()));
        c.bench_function("wasm/zenml/condition", |b| b.iter(|| module.decide(black_box(&cond)).is_allow()));
        let encoded = rbac::wasm::encode(&allow);
        c.bench_function("wasm/zenml/allow-raw", |b| b.iter(|| module.decide_raw(black_box(&encoded))));
    }
    c.bench_function("compile/zenml", |b| b.iter(|| rbac::compile(&rbac::FsLoader, &["examples/zenml.rbac"])));
}

criterion_group!(benches, bench);
criterion_main!(benches);
