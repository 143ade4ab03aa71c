//! The Node and Python hosts (`examples/hosts/`) against the native evaluator: every decision
//! table, every example expectation and a list of JSON edge cases, written as JSON Lines and
//! decided by each host's command, give the native decisions, reasons and error codes; each
//! host encodes requests byte for byte like `rbac::wasm::encode`; and raw input (every
//! truncation of every valid encoding, random byte changes, random bytes) never allows and
//! never crashes a host, giving the very results wasmtime gives from Rust. Their APIs, given
//! values that no JSON text gives (lone surrogates, non-string keys, sparse arrays) or no text
//! at all, deny as natively and never throw.
//!
//! Node is `node` on the PATH. Python is `RBAC_PYTHON` if set, else `.venv/bin/python`; when
//! neither has the `wasmtime` package, the test creates `.venv` from the host's
//! `requirements.txt` (`.ci/run` does that before `cargo test`).

// Helpers of a test: a failure anywhere is the test's failure.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::TempDir;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One policy and the request lines to decide with it.
struct Suite {
    name: String,
    policy: rbac::Policy,
    lines: Vec<String>,
}

fn compile(path: &str) -> rbac::Policy {
    let c = rbac::compile(&rbac::FsLoader, &[path]);
    match c.policy {
        Some(p) => p,
        None => panic!("{path} does not compile:\n{}", c.render(false)),
    }
}

/// JSON edge cases for `tests/decisions/conditions.rbac`: numbers, nesting, strings and keys
/// where a host's JSON reading could differ from serde_json's.
fn condition_edge_cases() -> Vec<String> {
    let level = |v: &str| {
        format!(
            r#"{{"principal": {{"id": "user:a", "attrs": {{"level": {v}}}}}, "action": "c_int", "resource": "org:o/item:i"}}"#
        )
    };
    let size = |v: &str| {
        format!(
            r#"{{"principal": {{"id": "user:a"}}, "action": "c_range", "resource": {{"path": "org:o/item:i", "attrs": {{"size": {v}}}}}}}"#
        )
    };
    let tags = |v: &str| {
        format!(
            r#"{{"principal": {{"id": "user:a"}}, "action": "c_in", "resource": {{"path": "org:o/item:i", "attrs": {{"tags": {v}}}}}}}"#
        )
    };
    let context = |v: &str| {
        format!(
            r#"{{"principal": {{"id": "user:a", "groups": ["ops"]}}, "action": "c_mix", "resource": "org:o/item:i", "context": {v}}}"#
        )
    };
    let nested = |depth: usize| format!("{}\"red\"{}", "[".repeat(depth), "]".repeat(depth));
    let mut lines = Vec::new();
    for v in [
        "5",
        "5.0",
        "5e0",
        "5E+0",
        "-0",
        "-0.0",
        "0",
        "3",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e400",
        "-1e400",
        "1e-400",
        "NaN",
        "Infinity",
        "05",
        "5.",
        ".5",
        "+5",
        "0x5",
        "\"5\"",
        "true",
        "null",
        "[5]",
        "{\"n\": 5}",
    ] {
        lines.push(level(v));
    }
    for v in ["-4", "-5", "-6", "100", "101", "50", "49", "2.5", "-9223372036854775808"] {
        lines.push(size(v));
    }
    for v in [
        r#"["red"]"#.to_string(),
        r#"["blue", "red", "red"]"#.to_string(),
        r#"["red", 1]"#.to_string(),
        r#"[["red"]]"#.to_string(),
        r#"[]"#.to_string(),
        r#""red""#.to_string(),
        nested(14),
        nested(15),
        nested(16),
        nested(126),
        nested(127),
        nested(128),
    ] {
        lines.push(tags(&v));
    }
    for v in [
        r#"{"hour": 11}"#,
        r#"{"hour": 11, "hour": 13}"#,
        r#"{"hour": 13, "hour": 11}"#,
        r#"{"mfa": null, "a": false}"#,
        r#"{"a": true, "b": 1}"#,
        r#"{"z": 1, "a": 2, "é": 3, "😀": 4, "\uffee": 5, "10": 6, "9": 7, "": 8, "__proto__": 9, "hour": "x"}"#,
        r#"{"\ud83d\ude00": true, "a": true}"#,
        r#"{"\ud800": true, "a": true}"#,
        r#"{"\udc00x": true, "a": true}"#,
        r#"{"x": "\u0000\b\f\n\r\t\"\\\/", "a": true}"#,
        "{\"x\": \"tab\there\", \"a\": true}",
        r#"{"a": true,}"#,
        r#"{"a": tru}"#,
        r#"{"a": true} "#,
        r#"null"#,
        r#"[]"#,
        r#""ctx""#,
    ] {
        lines.push(context(v));
    }
    lines.extend(
        [
            r#"{"principal": {"id": "user:a"}, "action": "c_owner", "resource": {"path": "org:o/item:i", "attrs": {"owner": "user:a"}}}"#,
            r#"{"principal": {"id": "user:\u00e9"}, "action": "c_owner", "resource": {"path": "org:o/item:i", "attrs": {"owner": "user:é"}}}"#,
            r#"{"principal": {"id": "user:a", "__proto__": {}}, "action": "c_id", "resource": "org:o/item:i1"}"#,
            r#"{"principal": {"id": "user:a", "groups": null, "attrs": null}, "action": "c_id", "resource": {"path": "org:o/item:i1", "attrs": null}, "context": null}"#,
            r#"{"principal": {"id": "user:a", "groups": ["ops", 1]}, "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": "user:a", "groups": "ops"}, "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"groups": "ops"}, "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": "user:a", "identity": "okta"}, "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": 5}, "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": [], "action": "c_group", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": "user:a"}, "action": "c_group", "resource": 5}"#,
            r#"{"principal": {"id": "user:a"}, "action": "c_group", "resource": {"attrs": {}}}"#,
            r#"{"principal": {"id": "user:a"}, "action": "c_group", "resource": {"path": "org:o", "id": "x"}}"#,
            r#"{"principal": {"id": "user:a"}, "action": 1.5, "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": "user:a"}, "resource": "org:o/item:i", "extra": 1, "context": 5}"#,
            r#"{}"#,
            r#"5"#,
            r#"  {"principal": {"id": "user:a"}, "action": "c_id", "resource": "org:o/item:i1"}	"#,
            "{\"principal\": {\"id\": \"user:a\"}, \"action\": \"c_id\", \"resource\": \"org:o/item:i1\"}\r",
            "\u{feff}{\"principal\": {\"id\": \"user:a\"}, \"action\": \"c_id\", \"resource\": \"org:o/item:i1\"}",
            r#"{"principal": {"id": "user:a"}, "action": "c_id", "resource": "org:o/item:i1"} {}"#,
            // A key given twice, at any depth: malformed in every engine.
            r#"{"principal": {"id": "user:b", "id": "user:a"}, "action": "c_id", "resource": "org:o/item:i1"}"#,
            r#"{"principal": {"id": "user:a"}, "action": "c_id", "action": "c_id", "resource": "org:o/item:i1"}"#,
            r#"{"principal": {"id": "user:a", "attrs": {"level": 1, "level": 5}}, "action": "c_int", "resource": "org:o/item:i"}"#,
            r#"{"principal": {"id": "user:a"}, "action": "c_in", "resource": {"path": "org:o/item:i", "attrs": {"tags": [{"x": 1, "x": 2}]}}}"#,
        ]
        .map(str::to_string),
    );
    lines
}

/// JSON edge cases for `tests/decisions/requests.rbac`: identity claims.
fn identity_edge_cases() -> Vec<String> {
    let kc = |c: &str| {
        format!(
            r#"{{"principal": {{"identity": "kc", "claims": {c}}}, "action": "read", "resource": "org:kc/team:t"}}"#
        )
    };
    let claims = |c: &str| {
        format!(
            r#"{{"principal": {{"identity": "okta", "claims": {c}}}, "action": "read", "resource": "org:acme/team:b/doc:d"}}"#
        )
    };
    [
        r#"{"email": "bo@acme.com", "groups": ["Engineering", "Engineering", "Web"]}"#,
        r#"{"groups": ["Engineering"], "email": "bo@acme.com", "nested": {"a": {"b.c": 1, "d": [1, {"e": 2}]}, "f.g": {"h": 1}}}"#,
        r#"{"email": "bo@acme.com", "groups": ["Engineering"], "groups": null}"#,
        r#"{"email": "bo@acme.com", "groups": [null]}"#,
        r#"{"email": "", "groups": ["Engineering"]}"#,
        r#"{"email": 1.0, "groups": ["Engineering"]}"#,
        r#"{"email": "bo@acme.com", "groups": {"Engineering": true}}"#,
        r#"{"email": "bo@acme.com", "groups": ["Engineering"], "z": 9223372036854775808, "y": -0, "x": 1e2}"#,
        r#"[]"#,
    ]
    .iter()
    .map(|c| claims(c))
    // Claims the module does not read, nested 120 deep (20 KB): all sent, they overflowed
    // its input (E0706) where natively the request decides.
    .chain([claims(&format!(
        r#"{{"email": "bo@acme.com", "groups": ["Engineering"], "deep": {}1{}}}"#,
        format!(r#"{{"{}": "#, "k".repeat(150)).repeat(120),
        "}".repeat(120)
    ))])
    .chain([
        // Token principals are verified before any engine decides; `Policy::decide` and the
        // hosts (which verify no tokens) deny them.
        r#"{"principal": {"token": "eyJhbGciOiJub25lIn0.e30."}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#
            .to_string(),
        r#"{"principal": {"token": "t", "attrs": {"level": 1}}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#
            .to_string(),
        r#"{"principal": {"token": 5}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#.to_string(),
        r#"{"principal": {"token": "t", "identity": "okta"}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#
            .to_string(),
        r#"{"principal": {"identity": "okta"}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#.to_string(),
        r#"{"principal": {"identity": 5, "claims": {}}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#
            .to_string(),
        r#"{"principal": {"identity": "gh", "claims": {"login": "octo", "teams": ["eng-team"]}, "attrs": {"level": 2}}, "action": "read", "resource": "org:acme/team:b/doc:d"}"#.to_string(),
        // The module reads a dotted claim and the user claim only; the hosts send only those,
        // found as natively (the exact key first, else the path), or none for an identity
        // the module does not know.
        kc(r#"{"preferred_username": "kim", "realm_access": {"roles": ["ops"]}}"#),
        kc(r#"{"preferred_username": "kim", "realm_access.roles": ["ops"], "realm_access": {"roles": []}}"#),
        kc(r#"{"preferred_username": "kim", "realm_access.roles": [], "realm_access": {"roles": ["ops"]}}"#),
        kc(r#"{"preferred_username": "kim", "realm_access": {"roles": null}}"#),
        kc(r#"{"preferred_username": "kim", "realm_access": {"roles": "ops"}}"#),
        kc(r#"{"preferred_username": "kim", "realm_access": ["ops"]}"#),
        kc(r#"{"preferred_username": null, "realm_access": {"roles": ["ops"]}}"#),
        kc(r#"{"realm_access": {"roles": ["ops"]}}"#),
        kc(r#"{"preferred_username": {"x": 1}, "__proto__": {"roles": ["ops"]}}"#),
        r#"{"principal": {"identity": "nobody", "claims": {"preferred_username": "kim"}}, "action": "read", "resource": "org:kc/team:t"}"#.to_string(),
    ])
    .collect()
}

/// Every decision table, the examples' expectations and the edge cases. Requests that cannot
/// be one JSON Lines line (blank, or with a line break) are left out.
fn suites() -> Vec<Suite> {
    let mut out = Vec::new();
    let mut tables: Vec<PathBuf> = std::fs::read_dir("tests/decisions")
        .expect("tests/decisions")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    tables.sort();
    for file in tables {
        let table: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        let policy_path = table["policy"].as_str().expect("policy").to_string();
        let mut lines: Vec<String> = table["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| match &c["request"] {
                Value::String(raw) => raw.clone(),
                v => v.to_string(),
            })
            .filter(|l| !l.trim().is_empty() && !l.contains('\n'))
            .collect();
        if policy_path.ends_with("conditions.rbac") {
            lines.extend(condition_edge_cases());
        }
        if policy_path.ends_with("requests.rbac") {
            lines.extend(identity_edge_cases());
        }
        out.push(Suite { name: file.display().to_string(), policy: compile(&policy_path), lines });
    }
    for path in ["examples/zenml.rbac", "examples/k8s.rbac"] {
        let policy = compile(path);
        let lines: Vec<String> = policy
            .tests()
            .iter()
            .flat_map(|t| &t.expects)
            .map(|e| serde_json::to_string(&e.request).expect("request JSON"))
            .collect();
        assert!(!lines.is_empty(), "{path} has no expectations");
        out.push(Suite { name: path.to_string(), policy, lines });
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Host {
    Node,
    Python,
}

/// A Python interpreter that imports `wasmtime`: `RBAC_PYTHON`, `.venv/bin/python`, or a
/// `.venv` made here from the host's requirements.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let works =
            |p: &Path| Command::new(p).args(["-c", "import wasmtime"]).output().is_ok_and(|o| o.status.success());
        let venv = Path::new(ROOT).join(".venv/bin/python");
        let candidates = std::env::var_os("RBAC_PYTHON").map(PathBuf::from).into_iter().chain([venv.clone()]);
        for p in candidates {
            if works(&p) {
                return p;
            }
        }
        let run = |cmd: &mut Command| {
            let out = cmd.current_dir(ROOT).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        };
        run(Command::new("python3").args(["-m", "venv", ".venv"]));
        run(Command::new(".venv/bin/pip").args(["install", "-q", "-r", "examples/hosts/python/requirements.txt"]));
        assert!(works(&venv), "{} cannot import wasmtime after installing it", venv.display());
        venv
    })
}

impl Host {
    /// Runs the host's command in `mode` (`[]`, `["--encode"]` or `["--raw"]`) and returns its
    /// output lines.
    fn run(self, mode: &[&str], wasm: &Path, input: &Path) -> Vec<String> {
        let mut cmd = self.command(mode, wasm, input);
        let out = cmd.output().unwrap_or_else(|e| panic!("{self:?} host: cannot run {cmd:?}: {e}"));
        assert!(out.status.success(), "{self:?} host: {cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output").lines().map(str::to_string).collect()
    }

    fn command(self, mode: &[&str], wasm: &Path, input: &Path) -> Command {
        let mut cmd = match self {
            Host::Node => {
                let mut c = Command::new(std::env::var_os("RBAC_NODE").unwrap_or_else(|| "node".into()));
                c.arg(Path::new(ROOT).join("examples/hosts/node/cli.mjs"));
                c
            }
            Host::Python => {
                let mut c = Command::new(python());
                c.env("PYTHONDONTWRITEBYTECODE", "1").arg(Path::new(ROOT).join("examples/hosts/python/cli.py"));
                c
            }
        };
        cmd.args(mode).arg(wasm).arg(input);
        cmd
    }

    /// Runs a program written against the host's API (an ES module for Node, Python for
    /// Python) with `args` (`process.argv[1..]`, `sys.argv[1:]`); it imports the host from
    /// the path in `RBAC_HOST` (Node) or as `rbac_host` (Python). Returns its output lines.
    fn script(self, program: &str, args: &[&Path]) -> Vec<String> {
        let mut cmd = match self {
            Host::Node => {
                let mut c = Command::new(std::env::var_os("RBAC_NODE").unwrap_or_else(|| "node".into()));
                c.env("RBAC_HOST", Path::new(ROOT).join("examples/hosts/node/rbac.mjs"));
                c.args(["--input-type=module", "-e", program]);
                c
            }
            Host::Python => {
                let mut c = Command::new(python());
                c.env("PYTHONDONTWRITEBYTECODE", "1").env("PYTHONPATH", Path::new(ROOT).join("examples/hosts/python"));
                c.args(["-c", program]);
                c
            }
        };
        cmd.args(args);
        let out = cmd.output().unwrap_or_else(|e| panic!("{self:?} host: cannot run {cmd:?}: {e}"));
        assert!(out.status.success(), "{self:?} host: the program failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output").lines().map(str::to_string).collect()
    }
}

/// The native decision for a request line, as JSON.
fn native(policy: &rbac::Policy, line: &str) -> Value {
    let d = match rbac::Request::from_json(line) {
        Ok(r) => policy.decide(&r),
        Err(e) => rbac::Decision::invalid(vec![e]),
    };
    serde_json::to_value(&d).expect("decision JSON")
}

/// A decision as it is compared: errors reduced to their codes (messages may differ). The
/// group sources (`identity`, `claim`, `value`) of reasons for claim-given groups are
/// compared too: every host reads the aliases from `rbac.meta`.
fn comparable(decision: &Value) -> Value {
    let mut d = decision.clone();
    if let Some(Value::Array(errors)) = d.get_mut("errors") {
        for e in errors.iter_mut() {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "an error without a message: {e}");
            *e = json!({"code": e["code"].clone()});
        }
    }
    d
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write");
}

/// Every host decides every request line as the native evaluator does, and encodes every
/// request the JSON checks accept exactly as `rbac::wasm::encode_for` does for its module.
fn decides_like_native(host: Host) {
    let tmp = TempDir::new(&format!("hosts-{host:?}-decide"));
    let mut failures = Vec::new();
    let mut total = 0;
    for (i, suite) in suites().iter().enumerate() {
        let wasm = tmp.0.join(format!("{i}.wasm"));
        let input = tmp.0.join(format!("{i}.jsonl"));
        let bytes = rbac::wasm::emit(&suite.policy).expect("emit");
        let module = rbac::wasm::WasmPolicy::new(&bytes).expect("load");
        std::fs::write(&wasm, &bytes).expect("write");
        write_lines(&input, &suite.lines);
        let decisions = host.run(&[], &wasm, &input);
        let encodings = host.run(&["--encode"], &wasm, &input);
        assert_eq!(decisions.len(), suite.lines.len(), "{host:?} host, {}: one decision per line", suite.name);
        assert_eq!(encodings.len(), suite.lines.len(), "{host:?} host, {}: one encoding per line", suite.name);
        for ((line, decision), encoding) in suite.lines.iter().zip(&decisions).zip(&encodings) {
            total += 1;
            let expected = comparable(&native(&suite.policy, line));
            let actual = serde_json::from_str::<Value>(decision).map(|d| comparable(&d));
            if actual.as_ref().ok() != Some(&expected) {
                failures.push(format!(
                    "{}: decisions differ\n  request: {line}\n  native:  {expected}\n  {host:?}: {decision}",
                    suite.name
                ));
            }
            // Hosts refuse to encode what the JSON checks refuse, and token principals (which
            // must be verified before any engine decides).
            let expected_encoding = match rbac::Request::from_json(line) {
                Ok(req) if serde_json::to_value(&req.principal).ok().is_some_and(|p| p.get("token").is_none()) => {
                    Value::String(
                        rbac::wasm::encode_for(&req, module.meta()).iter().map(|b| format!("{b:02x}")).collect(),
                    )
                }
                _ => Value::Null,
            };
            if serde_json::from_str::<Value>(encoding).ok().as_ref() != Some(&expected_encoding) {
                failures.push(format!(
                    "{}: encodings differ\n  request: {line}\n  rust:    {expected_encoding}\n  {host:?}: {encoding}",
                    suite.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{host:?} host: {} of {total} requests differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    println!("{host:?} host: {total} requests decided and encoded as natively");
}

#[test]
fn node_host_decides_like_native() {
    decides_like_native(Host::Node);
}

#[test]
fn python_host_decides_like_native() {
    decides_like_native(Host::Python);
}

/// A module is loaded only when its bytes match the `rbac.sha256` digest it ends with: one
/// flipped bit of a rule's effect in the data section made a deny rule an allow rule, and
/// the hosts decided with it. Every host refuses a damaged module before deciding anything.
#[test]
fn every_host_refuses_a_damaged_module() {
    let tmp = TempDir::new("hosts-damaged");
    let module = rbac::wasm::emit(&compile("examples/zenml.rbac")).expect("emit");
    let input = tmp.0.join("requests.jsonl");
    write_lines(
        &input,
        &[r#"{"principal": {"id": "user:alice@acme.com"}, "action": "read", "resource": "workspace:prod/project:p"}"#
            .to_string()],
    );
    let flipped = |at: usize| {
        let mut m = module.clone();
        m[at] ^= 1;
        m
    };
    let damaged = [
        ("a byte of the header", flipped(9)),
        ("a byte of the data", flipped(module.len() / 2)),
        ("a byte of the digest", flipped(module.len() - 1)),
        ("the last byte cut", module[..module.len() - 1].to_vec()),
        ("no digest", module[..module.len() - 46].to_vec()),
        // A right digest over bytes that are no policy module.
        ("not WebAssembly", rbac::wasm::meta::seal(b"not a module".to_vec())),
        ("a module with no exports", {
            let meta = serde_json::to_vec(rbac::wasm::WasmPolicy::new(&module).expect("load").meta()).expect("meta");
            rbac::wasm::meta::seal(common::with_custom(
                wat::parse_str("(module)").expect("assembles"),
                "rbac.meta",
                &meta,
            ))
        }),
    ];
    let whole = tmp.0.join("whole.wasm");
    std::fs::write(&whole, &module).expect("write");
    for host in [Host::Node, Host::Python] {
        assert_eq!(host.run(&[], &whole, &input).len(), 1, "{host:?}: the whole module loads");
        for (what, bytes) in &damaged {
            let code = if what.contains("byte of") { "E0904" } else { "E0902" };
            let refused = rbac::wasm::WasmPolicy::new(bytes).err();
            assert_eq!(refused.as_ref().map(|e| e.code), Some(code), "Rust host: {what}: {refused:?}");
            let wasm = tmp.0.join("damaged.wasm");
            std::fs::write(&wasm, bytes).expect("write");
            let out = host.command(&[], &wasm, &input).output().expect("run the host");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && out.stdout.is_empty(), "{host:?} host decided with {what}");
            let digest = code == "E0904" || what.contains("cut") || what.contains("no digest");
            assert!(!digest || err.contains("rbac.sha256"), "{host:?} host, {what}: {err}");
            assert!(err.starts_with(&format!("error[{code}]: cannot load")), "{host:?} host, {what}: {err}");
        }
    }
}

// ---- the hosts' APIs ----------------------------------------------------------------------

/// A policy where U+FFFD, what an encoder writes for a lone surrogate, is in an id, a group
/// alias and the values conditions compare.
const REPLACEMENT_POLICY: &str = r#"resource org;
resource doc in org {
    actions read, edit, tag;
    attributes { owner: string, tags: set<string> }
}
principal { attributes { dept: string } }
context   { attributes { note: string } }

identity okta {
    issuer "https://acme.okta.com";
    audience "docs";
    user from claim "email";
    groups from claim "groups";
}
group eng from okta "Eng\u{fffd}";

role reader { allow read on *; }
role owner  { allow edit on doc when resource.owner == principal.id; }
role tagger {
    allow tag on doc when "\u{fffd}" in resource.tags;
    allow tag on doc when context.note == "\u{fffd}";
    allow tag on doc when principal.dept == "\u{fffd}";
}
assign reader to user:"ann\u{fffd}";
assign reader to group:eng;
assign owner, tagger to everyone;
"#;

/// Requests with strings and keys that hold lone surrogates: each of `REPLACEMENT_POLICY`'s
/// allowed requests with `\ufffd` written as lone surrogates, and lone surrogates where nothing
/// reads them.
fn lone_surrogate_cases() -> Vec<String> {
    let allowed = [
        r#"{"principal": {"id": "user:ann\ufffd"}, "action": "read", "resource": "org:o/doc:d"}"#,
        r#"{"principal": {"id": "user:bo"}, "action": "tag", "resource": {"path": "org:o/doc:d", "attrs": {"tags": ["a", "\ufffd"]}}}"#,
        r#"{"principal": {"id": "user:bo"}, "action": "tag", "resource": "org:o/doc:d", "context": {"note": "\ufffd"}}"#,
        r#"{"principal": {"id": "user:bo", "attrs": {"dept": "\ufffd"}}, "action": "tag", "resource": "org:o/doc:d"}"#,
        r#"{"principal": {"identity": "okta", "claims": {"email": "ann\ufffd"}}, "action": "read", "resource": "org:o/doc:d"}"#,
        r#"{"principal": {"identity": "okta", "claims": {"email": "bo", "groups": ["Eng\ufffd"]}}, "action": "read", "resource": "org:o/doc:d"}"#,
        r#"{"principal": {"identity": "okta", "claims": {"email": "bo", "realm": {"roles": ["Eng\ufffd"]}, "groups": ["Eng\ufffd"]}}, "action": "read", "resource": "org:o/doc:d"}"#,
    ];
    let mut lines: Vec<String> = allowed.iter().map(|l| l.to_string()).collect();
    // A lone leading half, a lone trailing half, a pair the wrong way round, a leading half
    // before a pair; and a pair (a well-formed string, decided as natively).
    for surrogates in [r"\ud800", r"\udfff", r"\ude00\ud83d", r"\ud83d\ud83d\ude00", r"\ud83d\ude00"] {
        lines.extend(allowed.iter().map(|l| l.replace(r"\ufffd", surrogates)));
    }
    lines.extend(
        [
            // Two different strings were equal once both were U+FFFD: the owner's edit.
            r#"{"principal": {"id": "user:mallory\ud800"}, "action": "edit", "resource": {"path": "org:o/doc:d", "attrs": {"owner": "user:mallory\udfff"}}}"#,
            r#"{"principal": {"id": "user:bo", "groups": ["eng", "x\udc00"]}, "action": "read", "resource": "org:o/doc:d"}"#,
            r#"{"principal": {"id": "user:bo"}, "action": "read\ud800", "resource": "org:o/doc:d"}"#,
            r#"{"principal": {"id": "user:bo"}, "action": "read", "resource": "org:o/doc:\"d\ud800\""}"#,
            r#"{"principal": {"id": "user:bo"}, "action": "read", "resource": {"path": "org:o/doc:\"d\udbff\""}}"#,
            // Where nothing reads them: an undeclared attribute's name and value, a claim the
            // module does not read, a claim's name, a key no request has (natively E0701
            // before E0704: the text is read first).
            r#"{"principal": {"id": "user:ann\ufffd", "attrs": {"x\ud800": 1}}, "action": "read", "resource": "org:o/doc:d"}"#,
            r#"{"principal": {"id": "user:ann\ufffd"}, "action": "read", "resource": "org:o/doc:d", "context": {"x": [["\udfff"]]}}"#,
            r#"{"principal": {"identity": "okta", "claims": {"email": "ann\ufffd", "name": "\ud800"}}, "action": "read", "resource": "org:o/doc:d"}"#,
            r#"{"principal": {"identity": "okta", "claims": {"email": "ann\ufffd", "\ud800": "x"}}, "action": "read", "resource": "org:o/doc:d"}"#,
            r#"{"principal": {"id": "user:ann\ufffd", "x\ud800": 1}, "action": "read", "resource": "org:o/doc:d"}"#,
        ]
        .map(str::to_string),
    );
    lines
}

/// Reads each line with the platform's own JSON reader (`JSON.parse`, `json.loads`: both give
/// lone surrogates for `"\ud800"`) and prints `decide` of the value, then `decideJson` of the
/// line; an exception is printed as `{"threw": ...}`.
const NODE_DECIDE_VALUES: &str = r#"
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { loadPolicy } = await import(pathToFileURL(process.env.RBAC_HOST).href);
const policy = loadPolicy(readFileSync(process.argv[1]));
const run = (f) => { try { return f(); } catch (e) { return { threw: String(e) }; } };
for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  if (line === "") continue;
  console.log(JSON.stringify(run(() => policy.decide(JSON.parse(line)))));
  console.log(JSON.stringify(run(() => policy.decideJson(line))));
}
"#;

const PYTHON_DECIDE_VALUES: &str = r#"
import json, sys
from rbac_host import Policy
policy = Policy.from_file(sys.argv[1])
def run(f):
    try:
        return f()
    except Exception as e:
        return {"threw": repr(e)}
for line in open(sys.argv[2], encoding="utf-8").read().splitlines():
    if line:
        print(json.dumps(run(lambda: policy.decide(json.loads(line)))))
        print(json.dumps(run(lambda: policy.decide_json(line))))
"#;

/// A string with a lone surrogate has no UTF-8 and is in no JSON text: natively the text
/// `"\ud800"` is malformed (E0701). JS strings and Python's `json.loads` hold them: Python's
/// `decide` raised `UnicodeEncodeError`, and Node's sent U+FFFD in their place, so
/// `user:ann\uD800` was allowed as `user:"ann\u{fffd}"` and two different owners were equal.
/// Every host's `decide` denies them wherever they are, as natively.
#[test]
fn every_host_denies_lone_surrogates_as_natively() {
    let tmp = TempDir::new("hosts-surrogates");
    let compiled = rbac::compile_str("replacement.rbac", REPLACEMENT_POLICY);
    let Some(policy) = compiled.policy else { panic!("does not compile:\n{}", compiled.render(false)) };
    let wasm = tmp.0.join("replacement.wasm");
    std::fs::write(&wasm, rbac::wasm::emit(&policy).expect("emit")).expect("write");
    let lines = lone_surrogate_cases();
    let input = tmp.0.join("requests.jsonl");
    write_lines(&input, &lines);
    let allowed = lines.iter().filter(|l| native(&policy, l)["decision"] == "allow").count();
    assert_eq!(allowed, 7, "natively, the requests with U+FFFD are allowed, and only those");
    for (host, program) in [(Host::Node, NODE_DECIDE_VALUES), (Host::Python, PYTHON_DECIDE_VALUES)] {
        let out = host.script(program, &[&wasm, &input]);
        assert_eq!(out.len(), 2 * lines.len(), "{host:?} host: two decisions per request");
        let mut failures = Vec::new();
        for (line, pair) in lines.iter().zip(out.chunks(2)) {
            let expected = comparable(&native(&policy, line));
            for (how, decision) in ["decide", "decideJson"].iter().zip(pair) {
                if serde_json::from_str::<Value>(decision).ok().map(|d| comparable(&d)).as_ref() != Some(&expected) {
                    failures.push(format!("request: {line}\n  native: {expected}\n  {how}: {decision}"));
                }
            }
        }
        assert!(failures.is_empty(), "{host:?} host: {} differ:\n\n{}", failures.len(), failures.join("\n\n"));
    }
}

/// What a case of the API tests must give.
enum Expect {
    /// The native decision for this JSON text.
    Native(&'static str),
    /// Deny with one error of this code, whose message has these words.
    Denied(&'static str, &'static str),
    /// An exception of this class (and code, when it has one).
    Threw(&'static str, Option<&'static str>),
}

const ALICE: &str =
    r#"{"principal": {"id": "user:alice@acme.com"}, "action": "read", "resource": "workspace:prod/project:p"}"#;

/// Runs a host's API program: it prints one JSON object per case, `{"case", "decision"}` or
/// `{"case", "threw", "code"}`, and each must be what `cases` expects.
fn api_cases(host: Host, program: &str, cases: &[(&str, Expect)]) {
    let tmp = TempDir::new(&format!("hosts-{host:?}-api"));
    let policy = compile("examples/zenml.rbac");
    let wasm = tmp.0.join("zenml.wasm");
    std::fs::write(&wasm, rbac::wasm::emit(&policy).expect("emit")).expect("write");
    let out = host.script(program, &[&wasm]);
    let results: Vec<Value> = out.iter().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let mut failures = Vec::new();
    for (name, expect) in cases {
        let Some(r) = results.iter().find(|r| r["case"] == *name) else {
            failures.push(format!("{name}: no result"));
            continue;
        };
        let ok = match expect {
            Expect::Native(line) => comparable(&r["decision"]) == comparable(&native(&policy, line)),
            Expect::Denied(code, words) => {
                let errors = r["decision"]["errors"].as_array().map_or(&[][..], Vec::as_slice);
                r["decision"]["decision"] == "deny"
                    && errors.len() == 1
                    && errors[0]["code"] == *code
                    && errors[0]["message"].as_str().is_some_and(|m| m.contains(words))
            }
            Expect::Threw(class, code) => r["threw"] == *class && code.is_none_or(|c| r["code"] == c),
        };
        if !ok {
            failures.push(format!("{name}: {r}"));
        }
    }
    assert_eq!(results.len(), cases.len(), "{host:?} host: one result per case:\n{}", out.join("\n"));
    assert!(failures.is_empty(), "{host:?} host: {} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// `decide`, `decideJson` and `loadPolicy` given what a caller may pass: a sparse array
/// (`groups` threw a `TypeError`), bytes or no text for `decideJson` (it threw), no bytes for
/// `loadPolicy` (a `TypeError`, where a module not loaded is a `ModuleError`).
#[test]
fn node_host_api_denies_instead_of_throwing() {
    const PROGRAM: &str = r#"
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { loadPolicy, loadPolicyAsync } = await import(pathToFileURL(process.env.RBAC_HOST).href);
const bytes = readFileSync(process.argv[1]);
const policy = loadPolicy(bytes);
const alice = '{"principal": {"id": "user:alice@acme.com"}, "action": "read", "resource": "workspace:prod/project:p"}';
const request = (principal) => ({ principal, action: "read", resource: "workspace:prod/project:p" });
const cases = {
  "sparse groups": () => policy.decide(request({ id: "user:carol@acme.com", groups: ["ml_platform", , ] })),
  "sparse groups, a hole first": () => policy.decide(request({ id: "user:carol@acme.com", groups: [, "ml_platform"] })),
  "decideJson(Buffer)": () => policy.decideJson(Buffer.from(alice)),
  "decideJson(Uint8Array)": () => policy.decideJson(new TextEncoder().encode(alice)),
  "decideJson(ArrayBuffer)": () => policy.decideJson(new TextEncoder().encode(alice).buffer),
  "decideJson(bytes with a byte order mark)": () => policy.decideJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(alice)])),
  "decideJson(bytes not UTF-8)": () => policy.decideJson(Buffer.concat([Buffer.from(alice.slice(0, 40)), Buffer.from([0xff]), Buffer.from(alice.slice(40))])),
  "decideJson(undefined)": () => policy.decideJson(undefined),
  "decideJson(null)": () => policy.decideJson(null),
  "decideJson(object)": () => policy.decideJson(JSON.parse(alice)),
  "decide(a getter that throws)": () => policy.decide({ get principal() { throw new Error("no principal today"); }, action: "read", resource: "workspace:prod" }),
  "loadPolicy(null)": () => loadPolicy(null),
  "loadPolicy(undefined)": () => loadPolicy(),
  "loadPolicy(a string)": () => loadPolicy(bytes.toString("latin1")),
  "loadPolicy(ArrayBuffer)": () => loadPolicy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)).decideJson(alice),
  "loadPolicyAsync(null)": () => loadPolicyAsync(null),
};
for (const [name, run] of Object.entries(cases)) {
  try {
    console.log(JSON.stringify({ case: name, decision: await run() }));
  } catch (e) {
    console.log(JSON.stringify({ case: name, threw: e?.constructor?.name, code: e?.code, message: String(e?.message) }));
  }
}
"#;
    api_cases(
        Host::Node,
        PROGRAM,
        &[
            // A hole is `undefined`, written `null` in JSON text.
            (
                "sparse groups",
                Expect::Native(
                    r#"{"principal": {"id": "user:carol@acme.com", "groups": ["ml_platform", null]}, "action": "read", "resource": "workspace:prod/project:p"}"#,
                ),
            ),
            (
                "sparse groups, a hole first",
                Expect::Native(
                    r#"{"principal": {"id": "user:carol@acme.com", "groups": [null, "ml_platform"]}, "action": "read", "resource": "workspace:prod/project:p"}"#,
                ),
            ),
            ("decideJson(Buffer)", Expect::Native(ALICE)),
            ("decideJson(Uint8Array)", Expect::Native(ALICE)),
            ("decideJson(ArrayBuffer)", Expect::Native(ALICE)),
            ("decideJson(bytes with a byte order mark)", Expect::Denied("E0701", "malformed")),
            ("decideJson(bytes not UTF-8)", Expect::Denied("E0701", "not UTF-8")),
            ("decideJson(undefined)", Expect::Denied("E0701", "undefined")),
            ("decideJson(null)", Expect::Denied("E0701", "null")),
            ("decideJson(object)", Expect::Denied("E0701", "expected JSON text")),
            ("decide(a getter that throws)", Expect::Denied("E0701", "no principal today")),
            ("loadPolicy(null)", Expect::Threw("ModuleError", Some("E0902"))),
            ("loadPolicy(undefined)", Expect::Threw("ModuleError", Some("E0902"))),
            ("loadPolicy(a string)", Expect::Threw("ModuleError", Some("E0902"))),
            ("loadPolicy(ArrayBuffer)", Expect::Native(ALICE)),
            ("loadPolicyAsync(null)", Expect::Threw("ModuleError", Some("E0902"))),
        ],
    );
}

/// `decide`, `decide_json` and `Policy` given what a caller may pass: a `dict` key that is not
/// a string (`decide` raised `AttributeError`), bytes or no text for `decide_json` (`json.loads`
/// read UTF-16 and dropped a byte order mark, and raised `TypeError` for `None`), and a fuel
/// budget too small for a decision: loading spent it and said E0902, not a policy module.
#[test]
fn python_host_api_denies_instead_of_raising() {
    const PROGRAM: &str = r#"
import json, sys
from rbac_host import Policy
wasm = open(sys.argv[1], "rb").read()
policy = Policy(wasm)
alice = '{"principal": {"id": "user:alice@acme.com"}, "action": "read", "resource": "workspace:prod/project:p"}'
def request(**more):
    return {**json.loads(alice), **more}
cases = {
    "a key that is not a string": lambda: policy.decide({**request(), 1: True}),
    "a context key that is not a string": lambda: policy.decide(request(context={1: True})),
    "a key that is not a string in a value": lambda: policy.decide(request(context={"x": [{(1, 2): 3}]})),
    "a claim key that is not a string": lambda: policy.decide(request(principal={"identity": "okta", "claims": {"email": "a", None: 1}})),
    "decide_json(bytes)": lambda: policy.decide_json(alice.encode()),
    "decide_json(bytearray)": lambda: policy.decide_json(bytearray(alice.encode())),
    "decide_json(bytes with a byte order mark)": lambda: policy.decide_json(b"\xef\xbb\xbf" + alice.encode()),
    "decide_json(UTF-16)": lambda: policy.decide_json(alice.encode("utf-16")),
    "decide_json(bytes not UTF-8)": lambda: policy.decide_json(alice.encode()[:40] + b"\xff" + alice.encode()[40:]),
    "decide_json(None)": lambda: policy.decide_json(None),
    "decide_json(dict)": lambda: policy.decide_json(json.loads(alice)),
    "fuel=1": lambda: Policy(wasm, fuel=1).decide(json.loads(alice)),
    "fuel=100, a bytearray": lambda: Policy(bytearray(wasm), fuel=100).decide_json(alice),
    "fuel=0": lambda: Policy(wasm, fuel=0),
    "Policy(None)": lambda: Policy(None),
}
for name, run in cases.items():
    try:
        print(json.dumps({"case": name, "decision": run()}))
    except Exception as e:
        print(json.dumps({"case": name, "threw": type(e).__name__, "code": getattr(e, "code", None), "message": str(e)}))
"#;
    api_cases(
        Host::Python,
        PROGRAM,
        &[
            ("a key that is not a string", Expect::Denied("E0701", "not a string")),
            ("a context key that is not a string", Expect::Denied("E0701", "not a string")),
            ("a key that is not a string in a value", Expect::Denied("E0701", "not a string")),
            ("a claim key that is not a string", Expect::Denied("E0701", "not a string")),
            ("decide_json(bytes)", Expect::Native(ALICE)),
            ("decide_json(bytearray)", Expect::Native(ALICE)),
            ("decide_json(bytes with a byte order mark)", Expect::Denied("E0701", "BOM")),
            ("decide_json(UTF-16)", Expect::Denied("E0701", "not UTF-8")),
            ("decide_json(bytes not UTF-8)", Expect::Denied("E0701", "not UTF-8")),
            ("decide_json(None)", Expect::Denied("E0701", "NoneType")),
            ("decide_json(dict)", Expect::Denied("E0701", "expected JSON text")),
            // The budget is each decision's: the module loads, and a decision runs out.
            ("fuel=1", Expect::Denied("E0707", "fuel")),
            ("fuel=100, a bytearray", Expect::Denied("E0707", "fuel")),
            ("fuel=0", Expect::Threw("ValueError", None)),
            ("Policy(None)", Expect::Threw("ModuleError", Some("E0902"))),
        ],
    );
}

// ---- raw input ----------------------------------------------------------------------------

/// xorshift64*: a small deterministic generator, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// A valid encoding, and whether the native evaluator allows its request.
    Whole { allows: bool },
    /// A strict prefix of a valid encoding, or random bytes: never a complete request.
    Broken,
    /// A valid encoding with bytes changed: may be another valid request, so an allow must be
    /// one the native evaluator gives for the request the bytes decode to.
    Changed,
}

/// Reads the request encoding of docs/wasm-abi.md back into a JSON request (for judging what
/// changed bytes mean). `None` when the bytes are not a complete, valid encoding.
///
/// Modules do not check that strings are UTF-8 (names are compared as bytes), so strings that
/// are not are read with replacement characters, and `lossy` records it.
struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    lossy: bool,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u32()?;
        let bytes = self.take(n)?.to_vec();
        Some(String::from_utf8(bytes).unwrap_or_else(|e| {
            self.lossy = true;
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }))
    }

    fn value(&mut self) -> Option<Value> {
        Some(match self.u8()? {
            0 => Value::Null,
            1 => Value::String(self.string()?),
            2 => Value::from(i64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            3 => Value::Bool(match self.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            }),
            4 => {
                let n = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.value()?);
                }
                Value::Array(items)
            }
            5 => json!(0.5),
            _ => return None,
        })
    }

    fn request(&mut self) -> Option<Value> {
        if self.u32()? != rbac::wasm::MAGIC as usize {
            return None;
        }
        let principal = match self.u8()? {
            0 => {
                let id = self.string()?;
                let n = self.u32()?;
                let groups = (0..n).map(|_| self.string()).collect::<Option<Vec<_>>>()?;
                json!({"id": id, "groups": groups})
            }
            1 => {
                let identity = self.string()?;
                let mut claims = Map::new();
                for _ in 0..self.u32()? {
                    let (k, v) = (self.string()?, self.value()?);
                    // The module reads the first claim of a name.
                    claims.entry(k).or_insert(v);
                }
                json!({"identity": identity, "claims": claims})
            }
            _ => return None,
        };
        let action = self.string()?;
        let path = self.string()?;
        let mut attrs = [Map::new(), Map::new(), Map::new()];
        for _ in 0..self.u32()? {
            let entity = self.u8()? as usize;
            let (k, v) = (self.string()?, self.value()?);
            attrs.get_mut(entity)?.entry(k).or_insert(v);
        }
        if self.pos != self.bytes.len() {
            return None;
        }
        let [p, r, c] = attrs;
        let mut principal = principal;
        principal["attrs"] = Value::Object(p);
        Some(json!({"principal": principal, "action": action, "resource": {"path": path, "attrs": r}, "context": c}))
    }
}

/// Raw inputs for a suite: each valid encoding whole, cut at every length, and with random
/// bytes changed; random bytes with and without the magic number; one oversize input.
fn raw_inputs(suite: &Suite, meta: &rbac::wasm::meta::Meta, rng: &mut Rng) -> Vec<(Kind, Vec<u8>)> {
    let mut out = Vec::new();
    for line in &suite.lines {
        let Ok(req) = rbac::Request::from_json(line) else { continue };
        // As the hosts encode it for this module (only the claims it reads).
        let encoded = rbac::wasm::encode_for(&req, meta);
        // Cut at every length below: a large encoding would make that quadratic.
        assert!(encoded.len() < 4096, "{}: a {} byte encoding: {line}", suite.name, encoded.len());
        out.push((Kind::Whole { allows: suite.policy.decide(&req).is_allow() }, encoded.clone()));
        for cut in 0..encoded.len() {
            out.push((Kind::Broken, encoded[..cut].to_vec()));
        }
        for changes in [1, 1, 1, 1, 1, 1, 2, 3] {
            let mut bytes = encoded.clone();
            for _ in 0..changes {
                let at = rng.below(bytes.len());
                bytes[at] ^= rng.byte().max(1);
            }
            out.push((Kind::Changed, bytes));
        }
    }
    for _ in 0..100 {
        let n = rng.below(96);
        out.push((Kind::Broken, (0..n).map(|_| rng.byte()).collect()));
        let mut bytes = rbac::wasm::MAGIC.to_le_bytes().to_vec();
        bytes.extend((0..n).map(|_| rng.byte() % 8));
        out.push((Kind::Broken, bytes));
    }
    out.push((Kind::Broken, vec![0; rbac::wasm::INPUT_CAP as usize + 1]));
    out
}

#[test]
fn raw_input_never_allows_in_any_host() {
    let tmp = TempDir::new("hosts-raw");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let (mut total, mut traps, mut changed_allows, mut not_utf8) = (0, 0, 0, 0);
    for (i, suite) in suites().iter().enumerate() {
        let bytes = rbac::wasm::emit(&suite.policy).expect("emit");
        let mut module = rbac::wasm::WasmPolicy::new(&bytes).expect("load");
        let wasm = tmp.0.join(format!("{i}.wasm"));
        std::fs::write(&wasm, &bytes).expect("write");
        let inputs = raw_inputs(suite, module.meta(), &mut rng);
        // One input per line, in hex; an empty input is a blank line.
        let hex: Vec<String> = inputs.iter().map(|(_, b)| b.iter().map(|x| format!("{x:02x}")).collect()).collect();
        let input = tmp.0.join(format!("{i}.hex"));
        write_lines(&input, &hex);
        // The hosts run while wasmtime decides the same inputs here.
        let (rust, node, python) = std::thread::scope(|s| {
            let node = s.spawn(|| Host::Node.run(&["--raw"], &wasm, &input));
            let python = s.spawn(|| Host::Python.run(&["--raw"], &wasm, &input));
            let rust: Vec<Result<i32, String>> = inputs.iter().map(|(_, b)| module.decide_raw(b)).collect();
            (rust, node.join().expect("the Node host"), python.join().expect("the Python host"))
        });
        assert_eq!(node.len(), inputs.len(), "{}: Node answered {} of {} inputs", suite.name, node.len(), inputs.len());
        assert_eq!(
            python.len(),
            inputs.len(),
            "{}: Python answered {} of {} inputs",
            suite.name,
            python.len(),
            inputs.len()
        );
        for (j, (kind, input)) in inputs.iter().enumerate() {
            total += 1;
            let rust = &rust[j];
            let expected = match rust {
                Ok(code) => code.to_string(),
                Err(_) => {
                    traps += 1;
                    "\"trap\"".to_string()
                }
            };
            let show = || {
                format!(
                    "{}: input {} ({kind:?}, {} bytes)",
                    suite.name,
                    hex[j].get(..200).unwrap_or(&hex[j]),
                    input.len()
                )
            };
            if node[j] != expected || python[j] != expected {
                failures.push(format!("{}: wasmtime {expected}, Node {}, Python {}", show(), node[j], python[j]));
            }
            let allowed = *rust == Ok(1);
            match kind {
                Kind::Broken if allowed => failures.push(format!("{}: allowed", show())),
                Kind::Whole { allows } if allowed != *allows => failures
                    .push(format!("{}: the module gave {rust:?}, the native evaluator allows: {allows}", show())),
                Kind::Changed if allowed => {
                    changed_allows += 1;
                    let mut decoder = Decoder { bytes: input, pos: 0, lossy: false };
                    let native = decoder
                        .request()
                        .and_then(|v| rbac::Request::from_value(&v).ok())
                        .map(|r| suite.policy.decide(&r));
                    not_utf8 += usize::from(decoder.lossy);
                    if !native.as_ref().is_some_and(rbac::Decision::is_allow) {
                        failures.push(format!("{}: allowed, but natively: {native:?}", show()));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} raw inputs failed:\n\n{}", failures.len(), failures.join("\n\n"));
    println!(
        "{total} raw inputs: no host allowed a broken one; {traps} traps; {changed_allows} changed inputs allowed, \
         as natively ({not_utf8} of them with strings that are not UTF-8)"
    );
}
