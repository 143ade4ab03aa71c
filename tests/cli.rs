//! The command line's documented options and exit codes (docs/language.md §12) that the ui
//! tests (one policy file, human output) do not reach: JSON output, `--attr` values,
//! `explain`, `who-can` and `list`, `build --target wasm`, and the exit code 2 of each command
//! for a policy with errors or a file it cannot read.

#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const ZENML: &str = "examples/zenml.rbac";

/// Runs `rbac` with `args` and `stdin`: (exit code, stdout, stderr).
fn rbac(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbac");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("rbac output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A file in this test binary's scratch directory.
fn scratch(name: &str, text: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scratch file");
    path.to_string_lossy().into_owned()
}

#[test]
fn help_and_version_exit_0_and_a_bad_command_exits_2() {
    let (code, out, _) = rbac(&["--version"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("rbac "), "{out}");
    let (code, out, _) = rbac(&["--help"], "");
    assert_eq!(code, 0);
    for command in ["check", "can", "eval", "test", "build", "who-can", "list", "diff", "fmt", "explain"] {
        assert!(out.contains(command), "--help does not name `{command}`:\n{out}");
    }
    assert_eq!(rbac(&["frobnicate"], "").0, 2);
}

#[test]
fn explain_prints_a_code_in_either_case_and_refuses_an_unknown_one() {
    let (code, out, _) = rbac(&["explain", "E0201"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("E0201: unknown role\n"), "{out}");
    assert_eq!(rbac(&["explain", "e0201"], ""), (0, out, String::new()));
    let (code, out, err) = rbac(&["explain", "E9999"], "");
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("unknown diagnostic code `E9999`"), "{err}");
}

#[test]
fn check_reports_json_per_file_and_fails_when_any_file_has_errors() {
    let bad = scratch("bad.rbac", "role r extends nope {}\n");
    let (code, out, _) = rbac(&["check", "--format", "json", ZENML, &bad], "");
    assert_eq!(code, 1);
    let files = json(&out);
    let files = files.as_array().expect("an array, one entry a file");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[1]["ok"], false);
    assert_eq!(files[1]["errors"], 1);
    let d = &files[1]["diagnostics"][0];
    assert_eq!(d["code"], "E0201");
    assert_eq!((d["primary"]["line"].as_u64(), d["primary"]["column"].as_u64()), (Some(1), Some(16)));
    assert_eq!(rbac(&["check", ZENML], "").0, 0);
}

#[test]
fn can_prints_the_decision_json_and_reads_attr_values_as_json_when_they_parse() {
    let policy = scratch(
        "attrs.rbac",
        "resource doc { actions read; attributes { n: int, b: bool, s: string } }\n\
         role v { allow read on doc when resource.n == 3 && resource.b && resource.s == \"3\"; }\n\
         assign v to everyone;\n",
    );
    let can = |attrs: &[&str]| {
        let mut args = vec!["can", &policy, "user:a", "read", "doc:x", "--format", "json"];
        for a in attrs {
            args.extend(["--attr", a]);
        }
        rbac(&args, "")
    };
    // `3` is an int, `true` a bool, `"3"` (quoted) and a word strings.
    let (code, out, _) = can(&["resource.n=3", "resource.b=true", "resource.s=\"3\""]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["decision"], "allow");
    // A string where an int is declared: invalid (E0741), exit 2.
    let (code, out, _) = can(&["resource.n=three", "resource.b=true", "resource.s=\"3\""]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["errors"][0]["code"], "E0741");
    // `null` is no value: the condition cannot be evaluated, a deny with no error (exit 1).
    let (code, out, _) = can(&["resource.n=null", "resource.b=true", "resource.s=\"3\""]);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["errors"], Value::Array(Vec::new()));
    // An entity that is none of the three, or no `=`: a usage error.
    for bad in ["resouce.n=3", "resource.n"] {
        let (code, _, err) = can(&[bad]);
        assert_eq!(code, 2, "--attr {bad}");
        assert!(err.contains(&format!("`--attr {bad}`")), "{err}");
    }
}

#[test]
fn who_can_and_list_answer_from_the_command_line() {
    let (code, out, _) = rbac(&["who-can", ZENML, "read", "workspace:prod/project:churn"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("who can `read` on `workspace:prod/project:churn`:\nallowed:\n"), "{out}");
    assert!(out.contains("  group:ml_platform: allowed\n"), "{out}");
    assert!(out.contains("  user:alice@acme.com: allowed\n"), "{out}");
    let (code, out, _) = rbac(&["who-can", ZENML, "read", "workspace:prod/project:churn", "--format", "json"], "");
    assert_eq!(code, 0);
    let answer = json(&out);
    let subjects: Vec<&str> =
        answer["subjects"].as_array().expect("subjects").iter().filter_map(|s| s["subject"].as_str()).collect();
    assert_eq!(subjects, ["group:ml_platform", "user:alice@acme.com"]);

    let (code, out, _) = rbac(&["list", ZENML, "user:bob@acme.com", "--on", "workspace:prod"], "");
    assert_eq!(code, 0);
    assert!(out.contains("on workspace:prod/project:churn\n  model: promote: allowed\n"), "{out}");
    assert!(!out.contains("secret"), "bob holds nothing on secrets: {out}");

    // An action not declared on the type, a path off the tree, a principal that is no user.
    for args in [
        vec!["who-can", ZENML, "read", "workspace:prod"],
        vec!["who-can", ZENML, "read", "workspace:prod/project:p/secret:s"],
        vec!["who-can", ZENML, "read", "nowhere:x"],
        vec!["list", ZENML, "bob"],
    ] {
        let (code, out, err) = rbac(&args, "");
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

#[test]
fn build_wasm_writes_a_module_that_decides_as_the_policy() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli").join("zenml.wasm");
    std::fs::create_dir_all(out.parent().expect("a parent")).expect("scratch dir");
    let out = out.to_string_lossy().into_owned();
    let (code, _, err) = rbac(&["build", ZENML, "--target", "wasm", "-o", &out], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with(&format!("wrote {out} (")), "{err}");
    let bytes = std::fs::read(&out).expect("the module");
    rbac::wasm::validate(&bytes).expect("a valid module");
    let policy = rbac::compile(&rbac::FsLoader, &[ZENML]).policy.expect("zenml compiles");
    assert_eq!(bytes, rbac::wasm::emit(&policy).expect("emit"), "the CLI writes what emit gives");
}

#[test]
fn every_command_exits_2_on_a_policy_with_errors_or_a_file_it_cannot_read() {
    let bad = scratch("broken.rbac", "role r extends nope {}\n");
    let missing = "tests/no-such-file.rbac";
    let requests = scratch(
        "requests.jsonl",
        "{\"principal\": {\"id\": \"user:a\"}, \"action\": \"read\", \"resource\": \"doc:x\"}\n",
    );
    let unwritable = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli").join("no-such-dir").join("out.wasm");
    let unwritable = unwritable.to_string_lossy().into_owned();
    for policy in [bad.as_str(), missing] {
        for args in [
            vec!["can", policy, "user:a", "read", "doc:x"],
            vec!["eval", policy, "--request", &requests],
            vec!["build", policy, "--target", "wasm", "-o", &unwritable],
            vec!["build", policy, "--target", "bundle", "-o", &unwritable],
            vec!["who-can", policy, "read", "doc:x"],
            vec!["list", policy, "user:a"],
            vec!["diff", ZENML, policy],
            vec!["diff", policy, ZENML],
        ] {
            let (code, out, _) = rbac(&args, "");
            assert_eq!(code, 2, "{args:?}: {out}");
            assert!(!out.contains("allow"), "{args:?}: {out}");
        }
    }
    // A request file that cannot be read; an output that cannot be written.
    for input in [missing, "tests"] {
        let (code, out, err) = rbac(&["eval", ZENML, "--request", input], "");
        assert_eq!((code, out.as_str()), (2, ""), "{input}");
        assert!(err.starts_with("error[E0209]: ") && err.contains(input), "{input}: {err}");
    }
    let (code, _, err) = rbac(&["audit", "verify", missing], "");
    assert_eq!(code, 2);
    assert!(err.starts_with("error[E0209]: cannot read"), "{err}");
    let (code, _, err) = rbac(&["build", ZENML, "--target", "wasm", "-o", &unwritable], "");
    assert_eq!(code, 2);
    assert!(err.contains("cannot write"), "{err}");
}

/// An id may hold any character, quoted: the reviews print it escaped, so a line feed in it
/// cannot start a line that reads like another subject's answer, nor an escape act on the
/// terminal (as `can` and `test` print them).
#[test]
fn reviews_print_ids_escaped() {
    let old = scratch("escaped-old.rbac", "resource doc { actions delete; }\nrole admin { allow delete on doc; }\n");
    let new = scratch(
        "escaped-new.rbac",
        "resource doc { actions delete; }\nrole admin { allow delete on doc; }\n\
         assign admin to user:\"bot\\n  user:alice\\u{1b}[2K\\u{200b}\";\n",
    );
    let (code, who, _) = rbac(&["who-can", &new, "delete", "doc:d"], "");
    assert_eq!(code, 0);
    let (code, list, _) = rbac(&["list", &new, "user:\"bot\\n  user:alice\\u{1b}[2K\\u{200b}\""], "");
    assert_eq!(code, 0);
    let (code, diff, _) = rbac(&["diff", &old, &new], "");
    assert_eq!(code, 1);
    for out in [&who, &list, &diff] {
        assert!(out.contains(r"user:bot\u{A}  user:alice\u{1B}[2K\u{200B}"), "{out}");
        assert!(!out.lines().any(|l| l.trim_start().starts_with("user:alice")), "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\u{200b}'), "{out}");
    }
    let (code, can, _) = rbac(&["can", &new, "user:alice", "delete", "doc:d"], "");
    assert_eq!((code, can.lines().next()), (1, Some("deny")));
}

/// Output that cannot be written (a full disk) is a failure, said on stderr, whatever the
/// command would have returned: `fmt - < p > p.new && mv p.new p` replaced a policy with
/// its first 8 KiB, and `check`, `test`, `explain`, `who-can` exited 0 with nothing written.
#[test]
fn output_that_cannot_be_written_fails_the_command() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let policy = std::fs::read_to_string("examples/zenml.rbac").expect("the example");
    let cases: [&[&str]; 6] = [
        &["check", "examples/zenml.rbac"],
        &["check", "--format", "json", "examples/zenml.rbac"],
        &["test", "examples/zenml.rbac"],
        &["explain", "E0201"],
        &["who-can", "examples/zenml.rbac", "read", "workspace:prod/project:churn"],
        &["fmt", "-"],
    ];
    // `rbac ARGS` with `input` on stdin and stdout on the full device: its exit code, stderr.
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(full.try_clone().expect("a second handle"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("rbac runs");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(input);
        }
        let out = child.wait_with_output().expect("rbac ends");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for args in cases {
        let (code, stderr) = run(args, policy.as_bytes());
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write the output"), "{args:?}: {stderr}");
    }
    // The language server's output is its protocol: its session ends as it says (1: `exit`
    // without `shutdown`), not with the commands' output error.
    let msg = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let (code, stderr) = run(&["lsp"], format!("Content-Length: {}\r\n\r\n{msg}", msg.len()).as_bytes());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("cannot write the output"), "{stderr}");
}

/// A build that cannot be written whole leaves the artifact it would replace as it was: it
/// was written in place, so a full disk left a deployed bundle cut short (and a service
/// reading it meanwhile saw half of one).
#[test]
fn a_build_that_fails_to_write_leaves_the_old_artifact() {
    let dir = std::env::temp_dir().join(format!("rbac-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let out = dir.join("deployed.rbacb");
    std::fs::write(&out, "the old bundle").expect("the old artifact");
    let policy = std::fs::canonicalize("examples/zenml.rbac").expect("the example");
    for target in ["bundle", "wasm"] {
        // At most 1 KiB a file (the bundle is over 3 KiB): the write fails part way.
        let script = format!(
            "ulimit -f 1; trap '' XFSZ; exec '{}' build --target {target} -o '{}' '{}'",
            env!("CARGO_BIN_EXE_rbac"),
            out.display(),
            policy.display()
        );
        let Ok(run) = Command::new("bash").arg("-c").arg(&script).output() else { return };
        assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(std::fs::read_to_string(&out).ok().as_deref(), Some("the old bundle"), "--target {target}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("the directory").filter_map(Result::ok).collect();
    assert_eq!(leftovers.len(), 1, "temporary files were left: {leftovers:?}");
    // A link is kept, and the file it names written, even when that file does not exist yet
    // (the link was replaced by a file).
    #[cfg(unix)]
    {
        let link = dir.join("current.wasm");
        std::os::unix::fs::symlink("built.wasm", &link).expect("a link");
        let run = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["build", "--target", "wasm", "-o"])
            .arg(&link)
            .arg(&policy)
            .output()
            .expect("rbac runs");
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        assert!(std::fs::symlink_metadata(&link).expect("the link").file_type().is_symlink(), "the link was kept");
        assert!(std::fs::read(dir.join("built.wasm")).expect("the module").starts_with(b"\0asm"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
