//! Differential test of the two engines: the native evaluator (`Policy::decide`) and the
//! policy's WebAssembly module run by wasmtime (`rbac::wasm::WasmPolicy::decide`) must give the
//! same JSON decision for every request: effect, errors (codes and messages, in order) and
//! reasons (in order).
//!
//! Policies and requests come from the shared generator (tests/common/gen.rs), mostly its wide
//! variety: identity principals with nested and dotted claims and group aliases, int, set and
//! nested-set conditions with `in`, `has` and extreme literals, quoted ids with escapes in
//! scopes, subjects and request paths, exclusive sets, and invalid requests of every kind
//! (malformed paths, unknown types, paths off the tree, actions not declared on the target,
//! wrong-typed and null attributes, bad principal ids and claims). A quarter of the cases use
//! the reference variety unchanged. Each policy's module is built and instantiated once and
//! decides all of the case's requests.

mod common;

use common::compile;
use common::generator::{Req, build_model, raw_model, raw_req, render, wide_raw_model, wide_req};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// Builds the policy's module and compares both engines on every request.
fn check(src: &str, reqs: &[Req]) -> Result<(), TestCaseError> {
    let policy = compile(src)?;
    let bytes = rbac::wasm::emit(&policy)
        .map_err(|e| TestCaseError::fail(format!("the module does not build: {e}\n--- source ---\n{src}")))?;
    // With fuel, so that a request the module never finishes fails the case (E0707) instead
    // of hanging the test run.
    let mut module = rbac::wasm::WasmPolicy::with_fuel(&bytes, rbac::wasm::DEFAULT_FUEL)
        .map_err(|e| TestCaseError::fail(format!("the module does not load: {e}\n--- source ---\n{src}")))?;
    for req in reqs {
        let request = req.to_crate();
        let native = policy.decide(&request);
        // The host names which claim value gave a group (`source`) from `rbac.meta`'s aliases.
        let wasm = module.decide(&request);
        let (n, w) = (serde_json::to_value(&native), serde_json::to_value(&wasm));
        if n.as_ref().ok() != w.as_ref().ok() || n.is_err() {
            let json = |v: &Result<serde_json::Value, serde_json::Error>| match v {
                Ok(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                Err(e) => format!("(not serializable: {e})"),
            };
            return Err(TestCaseError::fail(format!(
                "engines disagree\n--- source ---\n{src}\n--- request ---\n{}\n--- native ---\n{}\n--- wasm ---\n{}",
                serde_json::to_string(&request).unwrap_or_default(),
                json(&n),
                json(&w),
            )));
        }
    }
    Ok(())
}

/// A policy and its requests: wide (3 in 4) or reference.
fn case() -> impl Strategy<Value = (String, Vec<Req>)> {
    let wide = (wide_raw_model(), prop::collection::vec(wide_req(), 1..160));
    let reference = (raw_model(), prop::collection::vec(raw_req(), 1..160));
    prop_oneof![3 => wide, 1 => reference].prop_map(|(raw, reqs)| (render(&build_model(&raw)), reqs))
}

/// Cases: each builds and instantiates a module (0.3 to 1 s in a debug build, most of it
/// wasmtime compiling the module), then decides up to 160 requests through both engines; the
/// default takes about 20 s in a debug build. `PROPTEST_CASES` overrides it: hunt with
/// thousands in a release build (`cargo test --release --test engines`, about 30 cases/s).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_time: 120_000, ..ProptestConfig::default() })]

    #[test]
    fn wasm_decides_like_native((src, reqs) in case()) {
        check(&src, &reqs)?;
    }
}
