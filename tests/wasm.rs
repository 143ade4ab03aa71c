//! The emitted WebAssembly modules: core 1.0 only, no imports, a fixed memory maximum,
//! deterministic bytes, small, and deciding every example expectation exactly like the
//! native evaluator.

#![allow(clippy::panic)]

mod common;

use wasmparser::{Parser, Payload};

fn policy(path: &str) -> rbac::Policy {
    let c = rbac::compile(&rbac::FsLoader, &[path]);
    match c.policy {
        Some(p) => p,
        None => panic!("{path} does not compile:\n{}", c.render(false)),
    }
}

#[test]
fn modules_are_wasm_1_0_without_imports_and_with_a_fixed_memory() {
    for path in ["examples/zenml.rbac", "examples/k8s.rbac"] {
        let bytes = rbac::wasm::emit(&policy(path)).expect("emit");
        rbac::wasm::validate(&bytes).expect("valid WebAssembly 1.0");
        let mut memories = 0;
        let mut exports = Vec::new();
        for payload in Parser::new(0).parse_all(&bytes) {
            match payload.expect("parse") {
                Payload::ImportSection(s) => {
                    assert_eq!(s.count(), 0, "{path}: the module imports something");
                }
                Payload::MemorySection(s) => {
                    for m in s {
                        let m = m.expect("memory");
                        assert_eq!(m.maximum, Some(m.initial), "{path}: memory maximum must be fixed");
                        memories += 1;
                    }
                }
                Payload::ExportSection(s) => exports.extend(s.into_iter().map(|e| e.expect("export").name.to_string())),
                _ => {}
            }
        }
        assert_eq!(memories, 1);
        for name in ["memory", "rbac_abi_version", "rbac_input_ptr", "rbac_decide", "rbac_rule", "rbac_output_ptr"] {
            assert!(exports.iter().any(|e| e == name), "{path}: no export `{name}`");
        }
    }
}

#[test]
fn builds_are_byte_identical_and_the_zenml_module_is_small() {
    let a = rbac::wasm::emit(&policy("examples/zenml.rbac")).expect("emit");
    let b = rbac::wasm::emit(&policy("examples/zenml.rbac")).expect("emit");
    assert_eq!(a, b, "two builds of one policy differ");
    assert!(a.len() < 64 * 1024, "the zenml module is {} bytes, over 64 KiB", a.len());
}

#[test]
fn example_expectations_decide_alike_through_wasm() {
    for path in ["examples/zenml.rbac", "examples/k8s.rbac"] {
        let p = policy(path);
        let mut module = rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&p).expect("emit")).expect("load");
        let results = p.run_tests();
        assert!(!results.is_empty());
        for r in results {
            let wasm = module.decide(&r.expectation.request);
            assert_eq!(
                serde_json::to_value(&wasm).ok(),
                serde_json::to_value(&r.actual).ok(),
                "{}: engines disagree",
                r.expectation.at
            );
            assert!(r.passed(), "{}: the expectation fails", r.expectation.at);
        }
    }
}

#[test]
fn garbage_input_never_allows() {
    let p = policy("examples/zenml.rbac");
    let mut module = rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&p).expect("emit")).expect("load");
    let req = rbac::Request::new("user:alice@acme.com", &[], "read", "workspace:prod/project:churn");
    assert!(module.decide(&req).is_allow(), "the request used for truncation must allow");
    let encoded = rbac::wasm::encode(&req);
    for cut in 0..encoded.len() {
        let r = module.decide_raw(encoded.get(..cut).unwrap_or(&[]));
        assert_ne!(r, Ok(1), "a truncation to {cut} bytes allowed");
    }
    let oversize = vec![0u8; rbac::wasm::INPUT_CAP as usize + 1];
    assert_eq!(module.decide_raw(&oversize), Ok(-706));
    // Every byte flipped in every way: the module never traps (the host gets a result, not
    // an error), and a broken header is always an invalid request.
    for i in 0..encoded.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = encoded.clone();
            if let Some(b) = bytes.get_mut(i) {
                *b ^= mask;
            }
            let r = module.decide_raw(&bytes);
            assert!(r.is_ok(), "flipping byte {i} with {mask:#x} trapped: {r:?}");
            if i < 5 {
                assert!(r.as_ref().is_ok_and(|code| *code < 0), "a broken header (byte {i}) was not rejected: {r:?}");
            }
        }
    }
    // The module still works after all that.
    assert!(module.decide(&req).is_allow());
}

#[test]
fn a_decision_out_of_fuel_denies_and_default_fuel_is_ample() {
    let p = policy("examples/zenml.rbac");
    let bytes = rbac::wasm::emit(&p).expect("emit");
    let req = rbac::Request::new("user:alice@acme.com", &[], "read", "workspace:prod/project:churn");
    // However little fuel a decision gets, the module loads (loading has its own).
    for fuel in [1, 100] {
        let mut starved = rbac::wasm::WasmPolicy::with_fuel(&bytes, fuel).expect("load");
        let d = starved.decide(&req);
        assert!(!d.is_allow(), "a decision that ran out of fuel allowed");
        assert_eq!(d.errors.first().map(|e| e.code.as_str()), Some("E0707"), "{d:?}");
    }
    let mut fuelled = rbac::wasm::WasmPolicy::with_fuel(&bytes, rbac::wasm::DEFAULT_FUEL).expect("load");
    for _ in 0..3 {
        assert!(fuelled.decide(&req).is_allow(), "each decision gets its fuel afresh");
    }
    // The costliest valid request known: two sets that fill the input, compared (quadratic in
    // the module). 50 million units, the earlier default, ran out (E0707) on it.
    let src = "resource r { actions read; attributes { u: set<int> } }\nprincipal { attributes { v: set<int> } }\n\
               role q { allow read on r when resource.u == principal.v; }\nassign q to everyone;\n";
    let sets = rbac::compile_str("sets.rbac", src).policy.expect("compiles");
    let n = 3600;
    let u: Vec<i64> = (0..n).collect();
    let v: Vec<i64> = (0..n).rev().collect();
    let req = rbac::Request::from_json(
        &serde_json::json!({"principal": {"id": "user:a", "attrs": {"v": v}}, "action": "read",
            "resource": {"path": "r:x", "attrs": {"u": u}}})
        .to_string(),
    )
    .expect("a request");
    assert!(rbac::wasm::encode(&req).len() > rbac::wasm::INPUT_CAP as usize * 9 / 10, "the sets fill the input");
    let module = rbac::wasm::emit(&sets).expect("emit");
    let mut fuelled = rbac::wasm::WasmPolicy::with_fuel(&module, rbac::wasm::DEFAULT_FUEL).expect("load");
    assert!(sets.decide(&req).is_allow());
    assert!(fuelled.decide(&req).is_allow(), "{:?}", fuelled.decide(&req).errors);
}

/// A value of a deeply nested `set` type reaches the module as what it is: values were sent
/// as "anything else" below 15 levels, so a valid request was refused (E0741) by the module.
#[test]
fn deeply_nested_sets_decide_as_natively() {
    for levels in [16, 40, 120] {
        let ty = format!("{}int{}", "set<".repeat(levels), ">".repeat(levels));
        let src = format!(
            "resource r {{ actions read; }}\ncontext {{ attributes {{ d: {ty} }} }}\n\
             role v {{ allow read on r when context has d; }}\nassign v to everyone;\n"
        );
        let policy = rbac::compile_str("deep.rbac", &src).policy.expect("compiles");
        let mut wasm = rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&policy).expect("emit")).expect("load");
        for depth in [levels, levels + 1] {
            let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let req = rbac::Request::from_json(&format!(
                r#"{{"principal": {{"id": "user:a"}}, "action": "read", "resource": "r:x", "context": {{"d": {value}}}}}"#
            ))
            .expect("a request");
            let native = policy.decide(&req).into_owned();
            assert_eq!(native.is_allow(), depth == levels, "{levels} levels, a value {depth} deep: {native:?}");
            assert_eq!(wasm.decide(&req).into_owned(), native, "{levels} levels, a value {depth} deep");
        }
    }
}

/// A token's claims the module does not read do not count against its input: every nested
/// claim was sent under its full dotted name, so a chain of nested objects grew with the
/// square of its depth and a 20 KB request was refused (E0706) where natively it decides.
/// The claims it does read are found as natively: the exact key first, else the dotted path.
#[test]
fn claims_the_module_does_not_read_are_not_sent() {
    let src = "resource r { actions read; }\n\
               identity kc { issuer \"https://sso.example.com\"; user from claim \"preferred_username\"; \
               groups from claim \"realm_access.roles\"; }\n\
               group eng from kc \"eng\";\nrole v { allow read on r; }\nassign v to group:eng;\n";
    let policy = rbac::compile_str("kc.rbac", src).policy.expect("compiles");
    let bytes = rbac::wasm::emit(&policy).expect("emit");
    let mut wasm = rbac::wasm::WasmPolicy::new(&bytes).expect("load");
    let key = "k".repeat(150);
    let deep = format!("{}1{}", format!(r#"{{"{key}": "#).repeat(120), "}".repeat(120));
    let cases = [
        (format!(r#""preferred_username": "ann", "realm_access": {{"roles": ["eng"]}}, "x": {deep}"#), true),
        (
            format!(
                r#""preferred_username": "ann", "realm_access.roles": ["eng"], "realm_access": {{"roles": []}}, "x": {deep}"#
            ),
            true,
        ),
        (
            r#""preferred_username": "ann", "realm_access.roles": [], "realm_access": {"roles": ["eng"]}"#.to_string(),
            false,
        ),
        (format!(r#""preferred_username": "ann", "realm_access": {{"roles": "eng"}}, "x": {deep}"#), false),
        (format!(r#""preferred_username": {deep}, "realm_access": {{"roles": ["eng"]}}"#), false),
    ];
    for (claims, allows) in cases {
        let line = format!(
            r#"{{"principal": {{"identity": "kc", "claims": {{{claims}}}}}, "action": "read", "resource": "r:x"}}"#
        );
        let req = rbac::Request::from_json(&line).expect("a request");
        let native = policy.decide(&req).into_owned();
        assert_eq!(native.is_allow(), allows, "{native:?}");
        assert_eq!(wasm.decide(&req).into_owned(), native);
        let sent = rbac::wasm::encode_for(&req, wasm.meta()).len();
        assert!(
            sent < 400 + if claims.starts_with(r#""preferred_username": {"#) { deep.len() } else { 0 },
            "{sent} bytes sent"
        );
    }
    // Every claim flattened, as `encode` sends them for any module: quadratic in the depth.
    let req = rbac::Request::from_json(&format!(
        r#"{{"principal": {{"identity": "kc", "claims": {{"x": {deep}}}}}, "action": "read", "resource": "r:x"}}"#
    ))
    .expect("a request");
    assert!(rbac::wasm::encode(&req).len() > rbac::wasm::INPUT_CAP as usize, "the flattened claims overflow the input");
}

/// Records the decision does not report cannot crowd out those it does: 4,100 allow records
/// (more than the output holds) before the one deny record still give the native reasons,
/// as do 4,100 skipped allow rules before an allow. (A decision whose own reasons are more
/// than 4,096 loses the rest: `rbac_output_overflow` counts them.)
#[test]
fn a_full_output_keeps_the_records_of_the_outcome() {
    let mut src = String::from("resource r { actions read; }\ncontext { attributes { x: bool } }\n");
    src.push_str("group g; group h; group d; group l;\n");
    for i in 0..4100 {
        src.push_str(&format!("role a{i} {{ allow read on r; }}\nrole s{i} {{ allow read on r when context.x; }}\n"));
        src.push_str(&format!("assign a{i} to group:g;\nassign s{i} to group:h;\n"));
    }
    src.push_str(
        "role d { deny read on r; }\nassign d to group:d;\nrole last { allow read on r; }\nassign last to group:l;\n",
    );
    let c = rbac::compile_str("full.rbac", &src);
    let rendered = c.render(false);
    let policy = c.policy.unwrap_or_else(|| panic!("{rendered}"));
    let mut wasm = rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&policy).expect("emit")).expect("load");
    for groups in [&["g", "d"][..], &["h", "l"]] {
        let req = rbac::Request::new("user:a", groups, "read", "r:x");
        let (native, module) = (policy.decide(&req).into_owned(), wasm.decide(&req).into_owned());
        assert!(
            module == native,
            "groups {groups:?}: {} reasons natively, {} from the module",
            native.reasons.len(),
            module.reasons.len()
        );
    }
}

/// A module keeps an attribute's slot in 16 bits: up to 65,535 attribute names (and
/// `resource.id`) fit and each reads as its own; one more is refused, never wrapped onto
/// another attribute's slot (which read `c65535` as `a`, a deny became an allow).
#[test]
fn more_attributes_than_a_module_can_number_are_refused() {
    let policy = |n: usize| {
        let attrs: Vec<String> = (0..n - 1).map(|i| format!("c{i:05}: bool")).collect();
        let src = format!(
            "resource r {{ actions read; }}\nprincipal {{ attributes {{ a: bool }} }}\n\
             context {{ attributes {{ {} }} }}\nrole v {{ allow read on r when principal.a; }}\nassign v to everyone;\n",
            attrs.join(", ")
        );
        rbac::compile_str("many.rbac", &src).policy.expect("compiles")
    };
    let fits = policy(65_535);
    let bytes = rbac::wasm::emit(&fits).expect("65,535 attribute names fit");
    let mut wasm = rbac::wasm::WasmPolicy::new(&bytes).expect("load");
    let last = rbac::Request::from_json(
        r#"{"principal": {"id": "user:x", "attrs": {"a": false}}, "action": "read", "resource": "r:1",
            "context": {"c65533": true}}"#,
    )
    .expect("a request");
    assert!(!wasm.decide(&last).is_allow());
    assert!(!fits.decide(&last).is_allow());
    let err = rbac::wasm::emit(&policy(65_536)).expect_err("one attribute too many");
    assert_eq!(err.code, "E0901", "{err}");
    assert!(err.message.contains("65536 attribute names") && err.message.contains("(65535)"), "{err}");
}

#[test]
fn a_condition_longer_than_the_target_takes_is_refused_naming_its_rule() {
    // `context.a && context.a && ...`: one term a read, and one for the `&&`.
    let policy = |reads: usize| {
        let cond = vec!["context.a"; reads].join(" && ");
        let src = format!(
            "resource doc {{ actions read; }}\ncontext {{ attributes {{ a: bool }} }}\nrole r {{ allow read on doc when {cond}; }}\nassign r to everyone;\n"
        );
        rbac::compile_str("long.rbac", &src).policy.expect("compiles")
    };
    let fits = rbac::wasm::emit(&policy(rbac::wasm::MAX_COND_TERMS - 1));
    assert!(fits.is_ok(), "{fits:?}");
    let err = rbac::wasm::emit(&policy(rbac::wasm::MAX_COND_TERMS)).expect_err("one term too many");
    assert_eq!(err.code, "E0901", "{err}");
    assert!(err.message.contains("long.rbac:3:") && err.message.contains("4097 terms"), "{err}");
}

/// Input that is no encoded request is refused with E0705 (`-705`): no magic, a magic and
/// nothing after it, a principal of an unknown kind, a request cut inside a string. Larger
/// than the input buffer: E0706.
#[test]
fn malformed_input_is_refused_with_its_code() {
    let policy = policy("examples/zenml.rbac");
    let mut module = rbac::wasm::WasmPolicy::new(&rbac::wasm::emit(&policy).expect("emit")).expect("load");
    let magic = rbac::wasm::MAGIC.to_le_bytes();
    let request = rbac::Request::new("user:alice@acme.com", &[], "read", "workspace:prod/project:churn");
    let whole = rbac::wasm::encode(&request);
    assert_eq!(module.decide_raw(&whole), Ok(1), "the whole encoding decides");
    let cut = &whole[..whole.len() - 3];
    for input in [&b"xxxx"[..], &magic[..], &[magic.as_slice(), &[9]].concat(), cut] {
        assert_eq!(module.decide_raw(input), Ok(-705), "{input:?}");
    }
    // A boolean is the byte 0 or 1: any other is a malformed encoding, not a wrong type.
    let mfa = rbac::Request::from_json(
        r#"{"principal": {"id": "user:dave@acme.com", "groups": ["security"]}, "action": "run",
            "resource": "workspace:prod/project:churn/pipeline:train", "context": {"mfa": true}}"#,
    )
    .expect("a request");
    let mut encoded = rbac::wasm::encode(&mfa);
    assert_eq!(encoded[encoded.len() - 2..], [3, 1], "the context's boolean comes last");
    assert_eq!(module.decide_raw(&encoded), Ok(1));
    for byte in [2, 0x40, 0xff] {
        *encoded.last_mut().expect("a byte") = byte;
        assert_eq!(module.decide_raw(&encoded), Ok(-705), "bool byte {byte}");
    }
    let oversize = vec![0u8; rbac::wasm::INPUT_CAP as usize + 1];
    assert_eq!(module.decide_raw(&oversize), Ok(-706));
}

/// A host loads only a module `rbac` emitted for its ABI, and says why it does not with a
/// code: E0902 for bytes with a right digest that are not a policy module (not WebAssembly,
/// no `rbac.meta`, an export missing), E0903 for another ABI version, E0904 for a damaged one.
#[test]
fn modules_that_are_not_policy_modules_are_refused_with_their_code() {
    let bytes = rbac::wasm::emit(&policy("examples/zenml.rbac")).expect("emit");
    let meta = serde_json::to_vec(rbac::wasm::WasmPolicy::new(&bytes).expect("load").meta()).expect("meta JSON");
    let seal = rbac::wasm::meta::seal;
    let refused = |bytes: &[u8]| rbac::wasm::WasmPolicy::new(bytes).err().map(|e| e.code);
    let module = |abi: i32| {
        wat::parse_str(format!(
            "(module (memory (export \"memory\") 1) (func (export \"rbac_abi_version\") (result i32) i32.const {abi}))"
        ))
        .expect("assembles")
    };
    assert_eq!(refused(&seal(b"not a module at all".to_vec())), Some("E0902"), "not WebAssembly");
    assert_eq!(refused(&seal(module(1))), Some("E0902"), "no rbac.meta");
    assert_eq!(refused(&seal(common::with_custom(module(1), "rbac.meta", b"{"))), Some("E0902"), "bad rbac.meta");
    let err = rbac::wasm::WasmPolicy::new(&seal(common::with_custom(module(1), "rbac.meta", &meta))).err();
    assert_eq!(err.as_ref().map(|e| e.code), Some("E0902"), "no rbac_decide: {err:?}");
    assert!(err.is_some_and(|e| e.message.contains("rbac_input_ptr")), "names the export");
    let err = rbac::wasm::WasmPolicy::new(&seal(common::with_custom(module(2), "rbac.meta", &meta))).err();
    assert_eq!(err.as_ref().map(|e| e.code), Some("E0903"), "ABI 2: {err:?}");
    assert!(err.is_some_and(|e| e.to_string() == "[E0903] the module speaks ABI version 2; this host speaks 1"));
    assert_eq!(refused(&bytes[..bytes.len() - 1]), Some("E0902"), "no whole digest");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    assert_eq!(refused(&flipped), Some("E0904"), "damaged");
    assert_eq!(refused(&bytes), None, "the module itself loads");
}

/// Every request decides in bounded time: a resource attribute after a
/// principal attribute, on a path that does not resolve, was looked up in the principal's
/// attribute table with the resource's empty mask, and the probe never ended (a module in
/// the Rust or Node host without fuel hung for good). Each of the requests below decides as
/// natively within a small fuel budget (which turns a probe that never ends into a failure
/// here rather than a hung test).
#[test]
fn attributes_of_a_path_that_does_not_resolve_end_their_lookup() {
    let src = "resource r { actions read; }\nresource s in r { actions read; }\n\
               principal { attributes { z: int } }\n\
               role v { allow read on r; }\nassign v to everyone;\n";
    let policy = rbac::compile_str("hang.rbac", src).policy.expect("compiles");
    let module = rbac::wasm::emit(&policy).expect("emit");
    let mut wasm = rbac::wasm::WasmPolicy::with_fuel(&module, 10_000_000).expect("load");
    for path in ["x:y", "s:y", "r:a/x:y", "r:a/s:b/s:c", "r:a"] {
        for attrs in [r#"{"q": 1}"#, r#"{"z": 1}"#, r#"{"q": 1, "zz": "a", "z": 2}"#] {
            let req = rbac::Request::from_json(&format!(
                r#"{{"principal": {{"id": "user:a", "attrs": {{"z": 1}}}}, "action": "read",
                    "resource": {{"path": "{path}", "attrs": {attrs}}}, "context": {{"z": 1}}}}"#
            ))
            .expect("a request");
            let native = policy.decide(&req).into_owned();
            assert_eq!(wasm.decide(&req).into_owned(), native, "{path} with {attrs}");
        }
    }
}
