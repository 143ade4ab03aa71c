//! Bundles (`Policy::to_bundle`, `rbac build --target bundle`): a loaded bundle decides every
//! request of the decision tables exactly like the policy compiled from source (whole
//! decisions, reasons included), keeps the digest and the tests, re-bundles to the same bytes,
//! and every kind of damage (truncation, each single-byte flip, wrong magic or version, a
//! foreign file) is an error with its code, never a panic.

#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use rbac::Policy;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: &[&str] = &["examples/zenml.rbac", "examples/k8s.rbac"];

fn compile(path: &str) -> Policy {
    let c = rbac::compile(&rbac::FsLoader, &[path]);
    let rendered = c.render(false);
    c.policy.unwrap_or_else(|| panic!("{path} compiles:\n{rendered}"))
}

fn reload(policy: &Policy) -> Policy {
    Policy::from_bundle(&policy.to_bundle()).unwrap_or_else(|e| panic!("a fresh bundle loads: {e}"))
}

fn code(bytes: &[u8]) -> Option<&'static str> {
    Policy::from_bundle(bytes).err().map(|e| e.code)
}

/// Every decision table: its policy path and its requests as JSON text.
fn tables() -> Vec<(String, Vec<String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/decisions")
        .expect("tests/decisions")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let table: Value = serde_json::from_str(&std::fs::read_to_string(f).expect("read table")).expect("json");
            let policy = table["policy"].as_str().expect("a policy path").to_string();
            let requests = table["cases"]
                .as_array()
                .expect("cases")
                .iter()
                .map(|c| match &c["request"] {
                    Value::String(raw) => raw.clone(),
                    other => other.to_string(),
                })
                .collect();
            (policy, requests)
        })
        .collect()
}

fn decide(policy: &Policy, text: &str) -> Value {
    let decision = match rbac::Request::from_json(text) {
        Ok(request) => policy.decide(&request),
        Err(e) => rbac::Decision::invalid(vec![e]),
    };
    serde_json::to_value(decision).expect("decision json")
}

/// The requests of every table and every `expect` of the examples.
fn all_requests() -> Vec<String> {
    let mut out: Vec<String> = tables().into_iter().flat_map(|(_, r)| r).collect();
    for ex in EXAMPLES {
        for t in compile(ex).tests() {
            out.extend(t.expects.iter().map(|e| serde_json::to_string(&e.request).expect("request json")));
        }
    }
    out
}

fn assert_same(source: &Policy, loaded: &Policy, requests: &[String], what: &str) {
    for r in requests {
        assert_eq!(decide(source, r), decide(loaded, r), "{what}: the bundle decides {r} differently");
    }
    let results = |p: &Policy| -> Vec<(String, String, Value, bool)> {
        p.run_tests()
            .iter()
            .map(|r| {
                let d = serde_json::to_value(&r.actual).expect("json");
                (r.test.name.clone(), r.expectation.at.clone(), d, r.passed())
            })
            .collect()
    };
    assert_eq!(results(source), results(loaded), "{what}: the tests run differently from the bundle");
    assert_eq!(source.digest(), loaded.digest(), "{what}: the digest changed");
    assert_eq!(
        rbac::audit::policy_digest(loaded.compiled()),
        source.digest(),
        "{what}: the digest recomputed on the loaded tables differs"
    );
    assert_eq!(source.to_bundle(), loaded.to_bundle(), "{what}: re-bundling gives other bytes");
}

#[test]
fn examples_decide_every_request_alike_after_a_round_trip() {
    let requests = all_requests();
    assert!(requests.len() > 100, "expected the decision tables' requests");
    for ex in EXAMPLES {
        let source = compile(ex);
        assert_same(&source, &reload(&source), &requests, ex);
    }
}

#[test]
fn every_decision_table_policy_decides_alike_after_a_round_trip() {
    for (policy, requests) in tables() {
        let source = compile(&policy);
        assert_same(&source, &reload(&source), &requests, &policy);
    }
}

#[test]
fn the_same_policy_gives_the_same_bytes() {
    for ex in EXAMPLES {
        assert_eq!(compile(ex).to_bundle(), compile(ex).to_bundle(), "{ex}");
    }
}

/// The bytes of a small policy's bundle, pinned. When this fails, the bundle changed: if a
/// serialized table changed shape, bump `FORMAT_VERSION` in src/compile/bundle.rs (old bundles
/// must then be refused with E0802, not misread) and docs/bundle.md; then update the hash.
#[test]
fn the_bundle_layout_is_pinned() {
    let policy = rbac::compile_str(
        "pin.rbac",
        r#"
        resource workspace { actions read, write; attributes { owner: string } }
        group devs;
        role viewer { allow read on workspace; }
        role editor extends viewer { allow write on workspace when resource.owner == principal.id; }
        role auditor { allow read on workspace; deny write on workspace; }
        exclusive editor, auditor;
        assign viewer to group:devs on workspace:prod;
        assign editor to user:ann;
        test "t" { expect allow user:ann read workspace:prod; }
        "#,
    )
    .policy
    .expect("compiles");
    let bytes = policy.to_bundle();
    assert_eq!(bytes.get(8..12), Some(&2u32.to_le_bytes()[..]), "format version");
    let hash: String = sha256(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hash,
        "b0957f20aa4899f68fae67bca2cc0f249b3f0d1ea100f674878786b4c1aa7caa",
        "the bundle bytes changed ({} bytes); see this test's comment",
        bytes.len()
    );
}

/// The code expected for a bundle whose byte `i` was changed.
fn code_for_flip_at(i: usize) -> &'static str {
    match i {
        0..8 => "E0801",
        8..12 => "E0802",
        12..20 => "E0803",
        _ => "E0804",
    }
}

#[test]
fn every_single_byte_flip_is_caught_with_its_code() {
    for ex in EXAMPLES {
        let bytes = compile(ex).to_bundle();
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                if let Some(b) = bad.get_mut(i) {
                    *b ^= mask;
                }
                assert_eq!(code(&bad), Some(code_for_flip_at(i)), "{ex}: byte {i} ^ {mask:#x}");
            }
        }
    }
}

#[test]
fn truncated_and_extended_bundles_are_refused() {
    let bytes = compile("examples/zenml.rbac").to_bundle();
    assert_eq!(code(&[]), Some("E0801"), "empty");
    for n in 1..bytes.len() {
        assert_eq!(code(bytes.get(..n).unwrap_or(&[])), Some("E0803"), "cut to {n} bytes");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(code(&longer), Some("E0803"));
    let err = Policy::from_bundle(&longer).expect_err("refused");
    assert!(err.message.contains("trailing"), "{err}");
}

#[test]
fn wrong_magic_version_and_foreign_files_are_refused() {
    let bytes = compile("examples/zenml.rbac").to_bundle();
    for version in [0u32, 1, 3, 7, u32::MAX] {
        let mut other = bytes.clone();
        if let Some(v) = other.get_mut(8..12) {
            v.copy_from_slice(&version.to_le_bytes());
        }
        let err = Policy::from_bundle(&other).expect_err("refused");
        assert_eq!(err.code, "E0802");
        assert!(err.message.contains(&format!("version {version} ")), "{err}");
    }
    let source = std::fs::read("examples/zenml.rbac").expect("read");
    let wasm = rbac::wasm::emit(&compile("examples/zenml.rbac")).expect("emit");
    let pseudo_random: Vec<u8> = (0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for (what, foreign) in [("source", source), ("wasm", wasm), ("noise", pseudo_random)] {
        assert_eq!(code(&foreign), Some("E0801"), "{what}");
        assert!(!Policy::is_bundle(&foreign), "{what}");
    }
}

/// A payload changed and given a matching checksum (what only a deliberate writer does) is
/// refused as malformed or loads as some policy; either way nothing panics, deciding included.
#[test]
fn rechecksummed_damage_never_panics() {
    let policy = compile("examples/zenml.rbac");
    let bytes = policy.to_bundle();
    let requests: Vec<String> = all_requests().into_iter().take(60).collect();
    let mut codes = BTreeSet::new();
    for i in 52..bytes.len() {
        let mut bad = bytes.clone();
        if let Some(b) = bad.get_mut(i) {
            *b ^= 0x5a;
        }
        let sum = sha256(bad.get(52..).unwrap_or(&[]));
        if let Some(slot) = bad.get_mut(20..52) {
            slot.copy_from_slice(&sum);
        }
        match Policy::from_bundle(&bad) {
            Ok(p) => {
                for r in &requests {
                    let _ = decide(&p, r);
                }
                let _ = p.run_tests();
            }
            Err(e) => {
                codes.insert(e.code);
            }
        }
    }
    assert_eq!(codes, BTreeSet::from(["E0805"]), "a payload with a right checksum fails only as malformed");
}

/// `bytes` (a bundle) with the first `run` in its payload replaced by `with`, and its length
/// and checksum made right again: what a deliberate writer makes.
fn rewritten(bytes: &[u8], run: &[u8], with: &[u8]) -> Vec<u8> {
    let at = (52..bytes.len() - run.len()).find(|&i| bytes.get(i..i + run.len()) == Some(run)).expect("the run");
    let mut bad = bytes.get(..at).expect("head").to_vec();
    bad.extend_from_slice(with);
    bad.extend_from_slice(bytes.get(at + run.len()..).expect("tail"));
    let body_len = (bad.len() - 52) as u64;
    bad.get_mut(12..20).expect("length").copy_from_slice(&body_len.to_le_bytes());
    let sum = sha256(bad.get(52..).unwrap_or(&[]));
    bad.get_mut(20..52).expect("checksum").copy_from_slice(&sum);
    bad
}

/// A condition or a type nested deeper than any source can write (a run of `!`, or of
/// `set<`, lengthened in the bytes, with the length and checksum made right again) is refused
/// as malformed: reading it ran out of stack and aborted the process.
#[test]
fn rechecksummed_deep_nesting_is_refused_not_a_stack_overflow() {
    let bangs = "!".repeat(32);
    let src = format!(
        "resource doc {{ actions read; }}\ncontext {{ attributes {{ x: bool, zq: set<set<string>> }} }}\n\
         role r {{ allow read on doc when {bangs}context.x; }}\nassign r to everyone;\n"
    );
    let bytes = rbac::compile_str("deep.rbac", &src).policy.expect("compiles").to_bundle();
    for levels in [rbac::check::ir::MAX_READ_DEPTH + 1, 100_000] {
        // `Not` is variant 6 of a condition: 32 of them in a row.
        let deep_condition = rewritten(&bytes, &[6u8; 32], &vec![6u8; levels]);
        // `zq`'s type: `Set` (3) twice, then `String` (0).
        let mut deeper = vec![3u8; levels];
        deeper.push(0);
        let deep_type = rewritten(&bytes, b"\x02zq\x03\x03\x00", &[b"\x02zq".as_slice(), &deeper].concat());
        for bad in [deep_condition, deep_type] {
            let err = Policy::from_bundle(&bad).expect_err("refused");
            assert_eq!(err.code, "E0805", "{levels} levels: {err}");
        }
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Every bundle code of the catalogue is produced, here, by the damage it names: not a
/// bundle, another version, cut short, a changed byte, and a payload rewritten with its
/// checksum made right (a zero byte inserted).
#[test]
fn every_bundle_error_code_is_tested() {
    let good = compile(EXAMPLES[0]).to_bundle();
    let mut old = good.clone();
    old.get_mut(8..12).expect("version").copy_from_slice(&9u32.to_le_bytes());
    let mut flipped = good.clone();
    *flipped.last_mut().expect("a byte") ^= 1;
    let appended = rewritten(&good, good.get(good.len() - 1..).expect("the last byte"), &[good[good.len() - 1], 0]);
    let produced: BTreeSet<&str> = [&b"role r {}"[..], &old, &good[..good.len() / 2], &flipped, &appended]
        .iter()
        .filter_map(|b| code(b))
        .collect();
    let catalogue: BTreeSet<&str> = rbac::diag::CODES.iter().map(|c| c.code).filter(|c| c.starts_with("E08")).collect();
    assert_eq!(produced, catalogue, "a bundle code no damage here produces");
}

fn rbac_cmd(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbac"));
    cmd.args(args).env("NO_COLOR", "1");
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run rbac");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.unwrap_or("").as_bytes());
    }
    let out = child.wait_with_output().expect("rbac output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bundle");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

#[test]
fn cli_reads_a_bundle_in_place_of_the_sources() {
    let requests = all_requests().join("\n") + "\n";
    for ex in EXAMPLES {
        let out = scratch(&format!("{}.bundle", Path::new(ex).file_stem().and_then(|s| s.to_str()).unwrap_or("p")));
        let out = out.to_str().expect("utf-8 path");
        let (status, _, stderr) = rbac_cmd(&["build", ex, "--target", "bundle", "-o", out], None);
        assert_eq!(status, 0, "{stderr}");
        assert!(stderr.starts_with(&format!("wrote {out} (")), "{stderr}");
        assert_eq!(std::fs::read(out).expect("read bundle"), compile(ex).to_bundle(), "the CLI writes to_bundle");

        let eval = |policy: &str| rbac_cmd(&["eval", policy, "--request", "-"], Some(&requests));
        let (from_source, from_bundle) = (eval(ex), eval(out));
        assert_eq!(from_source.0, 0);
        assert_eq!(from_source, from_bundle, "{ex}: `rbac eval` differs on the bundle");

        let wasm = |policy: &str| rbac_cmd(&["eval", policy, "--engine", "wasm", "--request", "-"], Some(&requests));
        assert_eq!(wasm(out).1, from_source.1, "{ex}: the wasm engine built from the bundle differs");

        let (s_status, s_out, _) = rbac_cmd(&["test", ex], None);
        let (b_status, b_out, _) = rbac_cmd(&["test", out], None);
        assert_eq!(s_status, b_status);
        assert_eq!(
            s_out.replace(&format!("from {ex}"), "from POLICY"),
            b_out.replace(&format!("from {out}"), "from POLICY"),
            "{ex}: `rbac test` differs"
        );
    }
    let zenml = scratch("zenml.bundle");
    let zenml = zenml.to_str().expect("utf-8 path");
    let can = |policy: &str| {
        rbac_cmd(&["can", policy, "user:ann", "read", "workspace:prod", "-g", "ml-engineers", "--format", "json"], None)
    };
    assert_eq!(can("examples/zenml.rbac"), can(zenml));
}

/// A bundle's coverage report names rules by location only: the file of that name may have
/// changed since the build (or be another file), and its lines were shown as the rules'.
#[test]
fn coverage_of_a_bundle_shows_no_source_text() {
    let source = scratch("covered.rbac");
    let bundle = scratch("covered.bundle");
    let (source, bundle) = (source.to_str().expect("utf-8 path"), bundle.to_str().expect("utf-8 path"));
    let text = "resource doc { actions read, write; }\nrole v { allow read on doc; allow write on doc; }\n\
                assign v to everyone;\ntest \"t\" { expect allow user:a read doc:x; }\n";
    std::fs::write(source, text).expect("write source");
    let (status, _, stderr) = rbac_cmd(&["build", source, "--target", "bundle", "-o", bundle], None);
    assert_eq!(status, 0, "{stderr}");
    let (_, from_source, _) = rbac_cmd(&["test", "--coverage", source], None);
    assert!(
        from_source.contains(":2:29 allow (role `v`): role v { allow read on doc; allow write on doc; }"),
        "{from_source}"
    );
    std::fs::write(source, format!("// moved\n{text}")).expect("edit source");
    let (status, from_bundle, _) = rbac_cmd(&["test", "--coverage", bundle], None);
    assert_eq!(status, 0);
    assert!(from_bundle.contains(":2:29 allow (role `v`)\n"), "{from_bundle}");
    assert!(!from_bundle.contains("role v {"), "a source line shown for a bundle: {from_bundle}");
}

#[test]
fn cli_refuses_a_damaged_bundle_with_its_code() {
    let good = compile("examples/zenml.rbac").to_bundle();
    let path = scratch("damaged.bundle");
    let path_str = path.to_str().expect("utf-8 path");
    let mut flipped = good.clone();
    if let Some(b) = flipped.last_mut() {
        *b ^= 1;
    }
    let mut old = good.clone();
    if let Some(v) = old.get_mut(8..12) {
        v.copy_from_slice(&9u32.to_le_bytes());
    }
    let cut = good.get(..good.len() / 2).unwrap_or(&[]).to_vec();
    // Cut inside the 8-byte magic: still a truncated bundle, not source that is not UTF-8.
    let cut_magic = good.get(..5).unwrap_or(&[]).to_vec();
    for (bytes, want) in [(flipped, "E0804"), (old, "E0802"), (cut, "E0803"), (cut_magic, "E0803")] {
        std::fs::write(&path, &bytes).expect("write");
        for args in [
            vec!["can", path_str, "user:ann", "read", "workspace:prod"],
            vec!["eval", path_str, "--request", "-"],
            vec!["test", path_str],
        ] {
            let (status, stdout, stderr) = rbac_cmd(&args, Some(""));
            assert_ne!(status, 0, "{args:?}");
            assert!(stderr.starts_with(&format!("error[{want}]: ")), "{args:?}: {stderr}");
            assert!(stderr.contains("is not a loadable bundle"), "{stderr}");
            assert!(!stdout.contains("allow"), "{stdout}");
        }
    }
}

#[test]
fn build_writes_to_standard_output_and_never_over_its_policy() {
    let ex = EXAMPLES[0];
    let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(["build", ex, "--target", "bundle", "-o", "-"])
        .output()
        .expect("run rbac build");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, compile(ex).to_bundle(), "`-o -` writes the bundle to standard output");

    let copy = scratch("own.rbac");
    std::fs::copy(ex, &copy).expect("copy the example");
    let copy = copy.to_str().expect("utf-8 path");
    // The same file by another name too: a hard link.
    let hard = scratch("own-hard-link.rbac");
    let _ = std::fs::remove_file(&hard);
    std::fs::hard_link(copy, &hard).expect("hard link");
    let hard = hard.to_str().expect("utf-8 path");
    for target in ["bundle", "wasm"] {
        for output in [copy, hard] {
            let (status, _, stderr) = rbac_cmd(&["build", copy, "--target", target, "-o", output], None);
            assert_eq!(status, 2, "{stderr}");
            assert!(stderr.contains("is the policy being built"), "{stderr}");
            assert_eq!(std::fs::read_to_string(copy).expect("read"), std::fs::read_to_string(ex).expect("read"));
        }
    }
    // A file the policy `use`s is as much the policy: it was overwritten.
    let dir = scratch("uses");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let root = dir.join("root.rbac");
    std::fs::write(&root, "use \"../own.rbac\";\n").expect("write root");
    let root = root.to_str().expect("utf-8 path");
    for target in ["bundle", "wasm"] {
        let (status, _, stderr) = rbac_cmd(&["build", root, "--target", target, "-o", copy], None);
        assert_eq!(status, 2, "{stderr}");
        assert!(stderr.contains("a source of the policy being built"), "{stderr}");
        assert_eq!(std::fs::read_to_string(copy).expect("read"), std::fs::read_to_string(ex).expect("read"));
    }
}
