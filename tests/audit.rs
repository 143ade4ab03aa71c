//! The audit log end to end, through the `rbac` binary: logs written by `rbac eval` and
//! `rbac can --audit-log`, altered in every way an entry can be (edited, edited and rehashed,
//! inserted, duplicated, deleted, reordered, cut from the head or the tail, torn), must fail
//! `rbac audit verify` naming the right line; a writer killed mid-stream leaves a log that
//! verifies and can be continued; `audit show` filters; `diff --audit-log` chains on.

// Test helpers outside #[test] functions may fail loudly, as the tests do.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::TempDir;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = "examples/zenml.rbac";

fn rbac() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbac"));
    c.env("NO_COLOR", "1");
    c
}

/// A fresh directory for one test, removed when the test is done with it.
fn dir(name: &str) -> TempDir {
    TempDir::new(&format!("audit-{name}"))
}

fn request(i: usize) -> String {
    let (who, groups, action, path) = [
        ("user:carol@acme.com", "[\"ml_platform\"]", "run", "workspace:prod/project:churn/pipeline:train"),
        ("user:dave@acme.com", "[]", "read", "workspace:prod/project:churn/pipeline:train"),
        ("user:dave@acme.com", "[]", "read", "workspace:prod/project:public/pipeline:demo"),
        ("user:bob@acme.com", "[\"security\"]", "promote", "workspace:prod/project:churn/model:m"),
    ][i % 4];
    format!(r#"{{"principal": {{"id": "{who}", "groups": {groups}}}, "action": "{action}", "resource": "{path}"}}"#)
}

/// Runs `rbac eval --audit-log log` on `n` requests (plus `extra` arguments).
fn eval(log: &Path, n: usize, extra: &[&str]) -> Output {
    let mut child = rbac()
        .args(["eval", POLICY, "--request", "-", "--audit-log"])
        .arg(log)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbac eval");
    let input: String = (0..n).map(|i| request(i) + "\n").collect();
    // With bad arguments `rbac` exits before reading: its end of the pipe may be closed.
    if let Err(e) = child.stdin.take().expect("stdin").write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write requests: {e}");
    }
    child.wait_with_output().expect("wait for rbac eval")
}

fn verify(log: &Path, anchor: Option<&str>) -> (i32, String) {
    let mut c = rbac();
    c.args(["audit", "verify"]).arg(log);
    if let Some(a) = anchor {
        c.args(["--anchor", a]);
    }
    let out = c.output().expect("run rbac audit verify");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).expect("read log").lines().map(str::to_string).collect()
}

fn write_lines(log: &Path, lines: &[String]) {
    std::fs::write(log, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write log");
}

fn field(line: &str, key: &str) -> Value {
    serde_json::from_str::<Value>(line).expect("entry").get(key).cloned().unwrap_or(Value::Null)
}

/// A log of 6 entries written by the CLI: 5 from `eval`, 1 from `can`; in its directory.
fn six(name: &str) -> (TempDir, PathBuf, Vec<String>) {
    let d = dir(name);
    let log = d.join("audit.log");
    let out = eval(&log, 5, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = rbac()
        .args(["can", POLICY, "user:alice@acme.com", "read_value", "workspace:prod/secret:db", "--audit-log"])
        .arg(&log)
        .output()
        .expect("run rbac can");
    assert_eq!(out.status.code(), Some(1), "alice may not read secret values");
    let all = lines(&log);
    assert_eq!(all.len(), 6);
    (d, log, all)
}

/// The log, altered, fails verification with `kind` on `line`.
fn fails(log: &Path, altered: &[String], anchor: Option<&str>, line: usize, kind: &str) {
    write_lines(log, altered);
    let (code, out) = verify(log, anchor);
    assert_eq!(code, 1, "expected a failure:\n{out}");
    let want = format!("{}:{line}: {kind}: ", log.display());
    assert!(out.contains(&want), "expected `{want}` in:\n{out}");
    assert!(out.contains("NOT intact"), "{out}");
}

#[test]
fn cli_logs_chain_across_runs_and_verify() {
    let (_dir, log, all) = six("intact");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 6 entries"), "{out}");
    for (i, l) in all.iter().enumerate() {
        assert_eq!(field(l, "seq"), Value::from(i as u64));
        assert_eq!(field(l, "kind"), Value::from("decision"));
        assert!(field(l, "time").as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 27), "{l}");
        if i > 0 {
            assert_eq!(field(l, "prev"), field(&all[i - 1], "hash"), "line {} chains to line {i}", i + 1);
        }
    }
    // The same policy always has the same digest.
    let digests: std::collections::BTreeSet<String> = all.iter().map(|l| field(l, "policy").to_string()).collect();
    assert_eq!(digests.len(), 1);
    // The head verifies as an anchor.
    let head = field(&all[5], "hash");
    let (code, out) = verify(&log, head.as_str());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("anchor at line 6"), "{out}");
    // What is no entry hash cannot be an anchor: a usage error, not "entries were removed".
    assert_eq!(verify(&log, Some("xyz")).0, 2);
}

#[test]
fn every_kind_of_tampering_is_found_on_its_line() {
    let (_dir, log, all) = six("tamper");
    let head = field(&all[5], "hash");
    let anchor = head.as_str();

    // An entry edited by hand: the decision flipped.
    let mut edited = all.clone();
    edited[2] = edited[2].replacen("\"decision\":\"allow\"", "\"decision\":\"deny\"", 1);
    assert_ne!(edited[2], all[2], "line 3 has an allow to flip");
    fails(&log, &edited, None, 3, "altered");

    // Edited and its hash recomputed: the next entry no longer chains to it.
    let mut rehashed = all.clone();
    let mut entry: serde_json::Map<String, Value> = serde_json::from_str(&edited[2]).expect("entry");
    entry.insert("hash".into(), Value::from(rbac::audit::entry_hash(&entry)));
    rehashed[2] = Value::Object(entry).to_string();
    fails(&log, &rehashed, None, 4, "broken_link");

    // Deleted entries: in the middle, at the head.
    let mut deleted = all.clone();
    deleted.remove(2);
    fails(&log, &deleted, None, 3, "missing");
    fails(&log, &all[1..], None, 1, "missing");

    // An old entry inserted again (duplicated) further on.
    let mut inserted = all.clone();
    inserted.insert(4, all[1].clone());
    fails(&log, &inserted, None, 5, "out_of_order");

    // A forged entry with a correct hash and seq slipped in: the chain forks.
    let mut forged: serde_json::Map<String, Value> = serde_json::from_str(&all[3]).expect("entry");
    forged.insert("time".into(), Value::from("2020-01-01T00:00:00.000000Z"));
    forged.insert("hash".into(), Value::from(rbac::audit::entry_hash(&forged)));
    let mut forked = all.clone();
    forked.insert(3, Value::Object(forged).to_string());
    fails(&log, &forked, None, 4, "out_of_order");

    // Two entries swapped.
    let mut swapped = all.clone();
    swapped.swap(1, 2);
    fails(&log, &swapped, None, 2, "missing");
    fails(&log, &swapped, None, 3, "out_of_order");

    // A key given twice, the forged value first: a JSON reader keeps the last, so the hash
    // holds, while a person or `grep` reading the line sees the first.
    let mut doubled = all.clone();
    doubled[1] = doubled[1].replacen('{', "{\"decision\":\"allow\",", 1);
    assert!(doubled[1].matches("\"decision\":").count() >= 2, "{}", doubled[1]);
    fails(&log, &doubled, None, 2, "altered");

    // A blank line inserted.
    let mut blank = all.clone();
    blank.insert(2, String::new());
    fails(&log, &blank, None, 3, "malformed");

    // The tail cut off: only an anchor kept elsewhere shows it.
    write_lines(&log, &all[..4]);
    assert_eq!(verify(&log, None).0, 0, "a clean cut is a shorter valid log");
    fails(&log, &all[..4], anchor, 5, "truncated");
    // The anchor must be in this log, not in a fresh one.
    let other_dir = dir("tamper-other");
    let other = other_dir.join("audit.log");
    let _ = eval(&other, 2, &[]);
    let (code, out) = verify(&other, anchor);
    assert_eq!(code, 1, "{out}");

    // The last line cut in the middle: torn.
    let mut text: String = all.iter().map(|l| format!("{l}\n")).collect();
    text.truncate(text.len() - 40);
    std::fs::write(&log, &text).expect("write");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{}:6: torn: ", log.display())), "{out}");
}

#[test]
fn a_killed_writer_leaves_a_log_that_verifies_and_continues() {
    let killed = dir("killed");
    let log = killed.join("audit.log");
    let mut child = rbac()
        .args(["eval", POLICY, "--request", "-", "--audit-log"])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run rbac eval");
    let mut stdin = child.stdin.take().expect("stdin");
    for i in 0..3 {
        stdin.write_all((request(i) + "\n").as_bytes()).expect("write a request");
        stdin.flush().expect("flush");
    }
    // Each entry reaches the file before its decision is printed, so wait for three lines,
    // then kill the writer while it waits for more input.
    let start = Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "the writer logged nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill the writer");
    let _ = child.wait();
    drop(stdin);
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 3 entries"), "{out}");
    // A new writer continues the chain.
    assert_eq!(eval(&log, 2, &[]).status.code(), Some(0));
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 5 entries"), "{out}");

    // A crash in the middle of a write: the torn line is reported and never extended.
    let before = std::fs::read(&log).expect("read");
    let mut torn = before.clone();
    torn.extend_from_slice(&before[..50]);
    std::fs::write(&log, &torn).expect("write");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{}:6: torn: ", log.display())), "{out}");
    let out = eval(&log, 1, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6 is torn"), "{err}");
    assert!(out.stdout.is_empty(), "no decision without its entry");
    assert_eq!(std::fs::read(&log).expect("read"), torn, "the log is left as it was");

    // `audit recover` cuts the torn line, keeps its bytes and records the cut in the chain.
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("cut torn line 6 (50 bytes"), "{said}");
    let evidence = killed.join("audit.log.torn-6");
    assert_eq!(std::fs::read(&evidence).expect("the torn bytes are kept"), &before[..50]);
    let all = lines(&log);
    assert_eq!(all.len(), 6);
    assert_eq!(&std::fs::read(&log).expect("read")[..before.len()], &before[..], "intact entries are untouched");
    let recovery = &all[5];
    assert_eq!(field(recovery, "kind"), "recovery");
    assert_eq!(field(recovery, "seq"), 5);
    assert_eq!(field(recovery, "torn_line"), 6);
    assert_eq!(field(recovery, "torn_bytes"), 50);
    assert_eq!(field(recovery, "torn_sha256"), rbac::audit::sha256_hex(&before[..50]));
    assert_eq!(field(recovery, "evidence"), "audit.log.torn-6");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 6 entries"), "{out}");
    let shown = rbac().args(["audit", "show"]).arg(&log).output().expect("run rbac audit show");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("recovery: torn line 6 (50 bytes"));
    // The chain goes on after the recovery entry.
    assert_eq!(eval(&log, 1, &[]).status.code(), Some(0));
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 7 entries"), "{out}");

    // Nothing to cut: said, and the log is left as it was.
    let intact = std::fs::read(&log).expect("read");
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to recover"));
    assert_eq!(std::fs::read(&log).expect("read"), intact);

    // Evidence is never overwritten: with `FILE.torn-LINE` taken, nothing is cut.
    let mut torn_again = intact.clone();
    torn_again.extend_from_slice(b"{\"v\":1");
    std::fs::write(&log, &torn_again).expect("write");
    std::fs::write(killed.join("audit.log.torn-8"), b"kept").expect("write");
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.log.torn-8` already exists"));
    assert_eq!(std::fs::read(&log).expect("read"), torn_again, "the log is left as it was");
    std::fs::remove_file(killed.join("audit.log.torn-8")).expect("remove");

    // A torn line after other damage is not recovered: that would hide the damage.
    let mut altered = lines(&log);
    altered[2] = altered[2].replace("\"seq\":2", "\"seq\":9");
    let mut bytes: Vec<u8> = altered.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
    bytes.extend_from_slice(b"{\"v\":1,\"se");
    std::fs::write(&log, &bytes).expect("write");
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("damage other than a torn last line") && err.contains("line 3:"), "{err}");
    assert_eq!(std::fs::read(&log).expect("read"), bytes, "a damaged log is left as it was");
    assert!(!killed.join("audit.log.torn-8").exists());

    // The last entry edited and its newline removed, to pass for a crash's leftovers: it is
    // whole, so it was altered, and recovery refuses to cut it.
    std::fs::write(&log, &intact).expect("write");
    let mut edited = lines(&log);
    let last = edited.len() - 1;
    edited[last] = edited[last].replace("\"decision\":\"allow\"", "\"decision\":\"deny\"");
    let mut bytes: Vec<u8> = edited.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
    bytes.pop();
    std::fs::write(&log, &bytes).expect("write");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{}:{}: altered: ", log.display(), last + 1)), "{out}");
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&log).expect("read"), bytes, "an altered log is left as it was");
}

#[test]
fn sync_policies_and_masks() {
    let d = dir("sync");
    for sync in ["always", "batch", "batch:2", "never"] {
        let log = d.join(format!("{sync}.log"));
        let out = eval(&log, 5, &["--audit-sync", sync]);
        assert_eq!(out.status.code(), Some(0), "{sync}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(verify(&log, None).0, 0, "{sync}");
        assert_eq!(lines(&log).len(), 5, "{sync}");
    }
    // A log that cannot be written (a full disk): whatever the sync policy, no decision is
    // printed without its entry, even those whose entries wait in `never`'s buffer.
    if Path::new("/dev/full").exists() {
        for sync in ["always", "batch", "never"] {
            let out = eval(Path::new("/dev/full"), 500, &["--audit-sync", sync]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sync}: {err}");
            assert!(out.stdout.is_empty(), "{sync}: decisions printed without their entries");
            assert!(err.contains("cannot write the audit log"), "{sync}: {err}");
        }
    }
    let out = eval(&d.join("x.log"), 1, &["--audit-sync", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    let out = eval(&d.join("y.log"), 1, &["--mask", "owner"]);
    assert_eq!(out.status.code(), Some(2));

    // Masked ids and attributes do not reach the file, yet `show --principal` finds them.
    let log = d.join("masked.log");
    let out = rbac()
        .args([
            "can",
            POLICY,
            "user:carol@acme.com",
            "-g",
            "ml_platform",
            "delete",
            "workspace:prod/project:churn/model:m",
        ])
        .args(["-a", "resource.owner=user:carol@acme.com", "--mask", "principal.id", "--mask", "resource.owner"])
        .arg("--audit-log")
        .arg(&log)
        .output()
        .expect("run rbac can");
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&log).expect("read");
    assert!(!text.contains("carol"), "{text}");
    assert!(text.contains("sha256:"), "{text}");
    let show = rbac().args(["audit", "show"]).arg(&log).args(["--principal", "user:carol@acme.com"]).output();
    let show = String::from_utf8_lossy(&show.expect("run show").stdout).into_owned();
    assert!(show.contains("allow") && show.contains("delete"), "{show}");
}

#[test]
fn show_filters_entries() {
    let (_dir, log, _) = six("show");
    let show = |args: &[&str]| {
        let out = rbac().args(["audit", "show"]).arg(&log).args(args).output().expect("run show");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all = show(&[]);
    assert_eq!(all.lines().filter(|l| l.starts_with("line ")).count(), 6, "{all}");
    let dave = show(&["--principal", "user:dave@acme.com"]);
    assert_eq!(dave.lines().filter(|l| l.starts_with("line ")).count(), 2, "{dave}");
    let denies = show(&["--decision", "deny", "--format", "json"]);
    assert!(denies.lines().count() >= 2, "{denies}");
    assert!(denies.lines().all(|l| field(l, "decision").get("decision") == Some(&Value::from("deny"))), "{denies}");
    assert_eq!(show(&["--since", "2000-01-01"]).lines().filter(|l| l.starts_with("line ")).count(), 6);
    assert_eq!(show(&["--until", "2000-01-01T00:00:00Z"]), "");
    assert_eq!(show(&["--since", "2999-01-01"]), "");
    let bad = rbac().args(["audit", "show"]).arg(&log).args(["--since", "last tuesday"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn diff_records_a_policy_change_in_the_same_chain() {
    let (_dir, log, _) = six("diff");
    let d = log.parent().expect("dir").to_path_buf();
    let new = d.join("new.rbac");
    let text = std::fs::read_to_string(POLICY).expect("read example");
    std::fs::write(
        &new,
        text.replace("role deployer { allow run on pipeline when context.mfa; }", {
            "role deployer { allow run on pipeline; }"
        }),
    )
    .expect("write");
    let out = rbac().args(["diff", POLICY]).arg(&new).arg("--audit-log").arg(&log).output().expect("run diff");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let all = lines(&log);
    assert_eq!(all.len(), 7);
    let last = &all[6];
    assert_eq!(field(last, "kind"), Value::from("policy_change"));
    assert_ne!(field(last, "old_policy"), field(last, "new_policy"));
    assert_eq!(field(last, "old_policy"), field(&all[0], "policy"));
    assert_eq!(field(last, "summary").get("changed"), Some(&Value::from(1)));
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    let show = rbac().args(["audit", "show"]).arg(&log).output().expect("run show");
    assert!(String::from_utf8_lossy(&show.stdout).contains("policy change"));
}

#[test]
fn tokens_never_reach_the_log_accepted_or_rejected() {
    let d = dir("tokens");
    let log = d.join("audit.log");
    let token = |name: &str| {
        std::fs::read_to_string(format!("tests/identity/tokens/{name}.jwt")).expect("a test token").trim().to_string()
    };
    let (good, expired, tampered) = (token("okta-carol-rs256"), token("expired"), token("tampered"));
    let keys = ["--jwks", "okta=tests/identity/keys/jwks.json", "--jwks", "keycloak=tests/identity/keys/jwks.json"];
    let policy = "tests/identity/policy.rbac";
    let to = r#""action": "write", "resource": "workspace:prod""#;
    // Tokens where they belong (accepted, rejected), and where clients put them by mistake:
    // each is logged as sent, so each must be masked wherever it is.
    let requests = [
        format!(r#"{{"principal": {{"token": "{good}"}}, {to}}}"#),
        format!(r#"{{"principal": {{"token": "{expired}"}}, {to}}}"#),
        format!(r#"{{"principal": {{"token": "{tampered}", "groups": []}}, {to}}}"#),
        format!(r#"{{"principal": {{"id": "{good}"}}, {to}}}"#),
        format!(r#"{{"principal": "{good}", {to}}}"#),
        format!(r#"{{"token": "{good}", {to}}}"#),
        format!(r#""{expired}""#),
        format!(r#"{{"principal": {{"id": "user:x", "attrs": {{"auth": "Bearer {good}"}}}}, {to}}}"#),
        format!(r#"{{"principal": {{"id": "user:x"}}, {to}, "context": {{"jwt": ["{tampered}"]}}}}"#),
    ];
    let mut child = rbac()
        .args(["eval", policy, "--request", "-", "--audit-log"])
        .arg(&log)
        .args(keys)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbac eval");
    let input: String = requests.iter().map(|r| format!("{r}\n")).collect();
    // With bad arguments `rbac` exits before reading: its end of the pipe may be closed.
    if let Err(e) = child.stdin.take().expect("stdin").write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write requests: {e}");
    }
    let out = child.wait_with_output().expect("wait for rbac eval");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let decisions: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a decision")).collect();
    assert_eq!(decisions.len(), requests.len());
    assert_eq!(decisions[0]["decision"], "allow", "the good token is accepted");
    assert_eq!(decisions[1]["errors"][0]["code"], "E0757", "the expired token is rejected");
    for (name, file) in [("good", "okta-carol-rs256"), ("expired", "expired")] {
        let path = format!("tests/identity/tokens/{file}.jwt");
        let out = rbac()
            .args(["can", policy, "--token", &path])
            .args(keys)
            .args(["write", "workspace:prod", "--audit-log"])
            .arg(&log)
            .output()
            .expect("run rbac can");
        assert_eq!(out.status.code(), Some(if name == "good" { 0 } else { 2 }), "{name}");
    }

    let text = std::fs::read_to_string(&log).expect("read log");
    let entries: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("an entry")).collect();
    assert_eq!(entries.len(), requests.len() + 2);
    for t in [&good, &expired, &tampered] {
        // Not the token, nor any of its parts (the signature is what makes it a credential).
        for part in t.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "a token part reached the log:\n{text}");
        }
    }
    assert!(!text.contains("eyJ"), "base64url JSON (a token header or payload) reached the log:\n{text}");
    // A token is written as its hash, the same hash wherever it was.
    let hidden = |t: &str| rbac::audit::masked(&Value::from(t));
    assert_eq!(entries[1]["request"]["principal"]["token"], hidden(&expired));
    assert_eq!(entries[2]["request"]["principal"]["token"], hidden(&tampered));
    assert_eq!(entries[3]["request"]["principal"]["id"], hidden(&good));
    assert_eq!(entries[4]["request"]["principal"], hidden(&good));
    assert_eq!(entries[5]["request"]["token"], hidden(&good));
    assert_eq!(entries[6]["request"], hidden(&expired));
    assert_eq!(entries[10]["request"]["principal"]["token"], hidden(&expired));
    // An accepted token is logged as the identity and claims it proved.
    // The entry names the user id the claims gave, by which `show --principal` finds it.
    for e in [&entries[0], &entries[9]] {
        assert_eq!(e["request"]["principal"]["identity"], "okta", "{e}");
        assert_eq!(e["request"]["principal"]["claims"]["email"], "carol@acme.com", "{e}");
        assert_eq!(e["principal"], "user:carol@acme.com", "{e}");
    }
    assert!(entries.iter().filter(|e| e.get("principal").is_some()).count() == 2, "only the verified tokens'");
    assert_eq!(verify(&log, None).0, 0);
    let show = |args: &[&str]| {
        let out = rbac().args(["audit", "show"]).arg(&log).args(args).output().expect("run rbac audit show");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let carol = show(&["--principal", "user:carol@acme.com"]);
    assert_eq!(carol.lines().filter(|l| l.starts_with("line ")).count(), 2, "{carol}");
    assert!(carol.contains("allow user:carol@acme.com (identity okta) write workspace:prod"), "{carol}");

    // Masked, the id is the mask of `user:` and the claim, found the same way.
    let masked_log = d.join("masked.log");
    let out = rbac()
        .args(["can", policy, "--token", "tests/identity/tokens/okta-carol-rs256.jwt"])
        .args(keys)
        .args(["write", "workspace:prod", "--mask", "principal.id", "--audit-log"])
        .arg(&masked_log)
        .output()
        .expect("run rbac can");
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&masked_log).expect("read log");
    assert!(!text.contains("carol@"), "{text}");
    let entry: Value = serde_json::from_str(text.trim()).expect("an entry");
    assert_eq!(entry["principal"], hidden("user:carol@acme.com"));
    let out = rbac().args(["audit", "show"]).arg(&masked_log).args(["--principal", "user:carol@acme.com"]).output();
    assert!(String::from_utf8_lossy(&out.expect("run show").stdout).contains("allow sha256:"));
}

/// A requester's text in a log (a principal id, an action, a path) is shown escaped: a line
/// feed in it cannot print as a made-up entry.
#[test]
fn show_escapes_what_requesters_wrote() {
    let d = dir("show-escapes");
    let log = d.join("audit.log");
    let forged = "line 9 seq 8 2026-12-07T16:40:00.000000Z allow user:alice@acme.com delete workspace:prod";
    let id = format!("user:mallory\\n{forged}");
    let request = format!(r#"{{"principal": {{"id": "{id}"}}, "action": "read\u202e", "resource": "workspace:p\tq"}}"#);
    let mut child = rbac()
        .args(["eval", POLICY, "--request", "-", "--audit-log"])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run rbac eval");
    child.stdin.take().expect("stdin").write_all(format!("{request}\n").as_bytes()).expect("write request");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let out = rbac().args(["audit", "show"]).arg(&log).output().expect("run rbac audit show");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.lines().filter(|l| l.starts_with("line ")).count(), 1, "{shown}");
    assert!(shown.contains(r"user:mallory\u{A}line 9"), "{shown}");
    assert!(shown.contains(r"read\u{202E}") && shown.contains(r"workspace:p\u{9}q"), "{shown}");
}

/// A masked value stays masked wherever the entry would repeat it: in an error message
/// quoting an attribute of the wrong type, in the claims a verified token proved (the user
/// claim is the principal id), in the claim value a group's reason names.
#[test]
fn masks_hold_in_error_messages_and_for_token_principals() {
    let d = dir("masks-everywhere");
    let log = d.join("audit.log");
    let token = std::fs::read_to_string("tests/identity/tokens/okta-carol-rs256.jwt").expect("a test token");
    let token =
        format!(r#"{{"principal": {{"token": "{}"}}, "action": "write", "resource": "workspace:prod"}}"#, token.trim());
    let attrs = r#"{"principal": {"id": "user:ann", "attrs": {"department": {"ssn": "123-45-6789"}}}, "action": "read", "resource": {"path": "workspace:prod/project:p/model:m", "attrs": {"owner": ["user:bob@acme.com"]}}, "context": {"mfa": "otp-991"}}"#;
    let masks = ["principal.id", "principal.department", "resource.owner", "context.*", "claims.groups"];
    let keys = ["--jwks", "okta=tests/identity/keys/jwks.json", "--jwks", "keycloak=tests/identity/keys/jwks.json"];
    for (policy, request, keys) in
        [("tests/identity/policy.rbac", token.as_str(), &keys[..]), ("examples/zenml.rbac", attrs, &[])]
    {
        let input = d.join("request.json");
        std::fs::write(&input, request).expect("write the request");
        let out = rbac()
            .args(["eval", policy, "--request"])
            .arg(&input)
            .args(keys)
            .arg("--audit-log")
            .arg(&log)
            .args(masks.iter().flat_map(|m| ["--mask", m]))
            .output()
            .expect("run rbac eval");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        // The decision printed is the caller's own: unmasked.
        let decision = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(decision.contains("ML Platform Engineers") || decision.contains("123-45-6789"), "{decision}");
    }
    let text = std::fs::read_to_string(&log).expect("read log");
    for secret in ["carol@acme.com", "ML Platform Engineers", "123-45-6789", "bob@acme.com", "otp-991", "user:ann"] {
        assert!(!text.contains(secret), "`{secret}` reached the log:\n{text}");
    }
    let entries: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("an entry")).collect();
    let hidden = |v: Value| rbac::audit::masked(&v);
    assert_eq!(entries[0]["request"]["principal"]["claims"]["email"], hidden(json!("carol@acme.com")));
    assert_eq!(entries[0]["request"]["principal"]["claims"]["sub"], "00u1carol", "claims not masked stay");
    assert_eq!(entries[0]["decision"]["reasons"][0]["value"], hidden(json!("ML Platform Engineers")));
    let errors = entries[1]["decision"]["errors"].as_array().cloned().unwrap_or_default();
    assert!(errors.iter().any(|e| e["code"] == "E0741"), "{errors:?}");
    let owner = hidden(json!(["user:bob@acme.com"]));
    assert!(errors.iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains(owner.as_str().unwrap_or("?")))));
    assert_eq!(verify(&log, None).0, 0);
}

/// Requests are logged as given, floating-point numbers too (an invalid attribute value is
/// still logged): every such entry must read back to the hash it was written with.
#[test]
fn entries_with_floating_point_numbers_verify() {
    let d = dir("floats");
    let log = d.join("audit.log");
    let values = ["0.1", "0.3", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "1e23", "-8.41e21"];
    let mut input: String = values
        .iter()
        .map(|v| {
            format!(
                "{{\"principal\": {{\"id\": \"user:a\"}}, \"action\": \"read\", \"resource\": {{\"path\": \"workspace:prod\", \"attrs\": {{\"x\": {v}}}}}}}\n"
            )
        })
        .collect();
    // And numbers of many digits that a fast, inexact reader would round otherwise.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x >> 2);
        if v.is_finite() {
            input.push_str(&format!(
                "{{\"principal\": {{\"id\": \"user:a\"}}, \"action\": \"read\", \"context\": {{\"y\": {v:e}}}, \"resource\": \"workspace:prod\"}}\n"
            ));
        }
    }
    let requests = d.join("requests.jsonl");
    std::fs::write(&requests, &input).expect("write requests");
    let out = rbac()
        .args(["eval", POLICY, "--request"])
        .arg(&requests)
        .arg("--audit-log")
        .arg(&log)
        .output()
        .expect("run rbac eval");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, report) = verify(&log, None);
    assert_eq!(code, 0, "{report}");
    assert_eq!(lines(&log).len(), input.lines().count());
}

/// An entry with only the fields the chain needs, as the log writes it (without its newline),
/// and its hash: cheap to make by the hundred thousand.
fn bare_entry(seq: u64, prev: &str) -> (String, String) {
    let hash = rbac::audit::sha256_hex(format!(r#"{{"prev":"{prev}","seq":{seq},"v":1}}"#).as_bytes());
    (format!(r#"{{"v":1,"seq":{seq},"prev":"{prev}","hash":"{hash}"}}"#), hash)
}

/// `n` chained bare entries, seq 0 to n - 1, each line with its newline.
fn bare_chain(n: u64) -> Vec<String> {
    let mut prev = rbac::audit::GENESIS.to_string();
    (0..n)
        .map(|seq| {
            let (line, hash) = bare_entry(seq, &prev);
            prev = hash;
            line + "\n"
        })
        .collect()
}

/// A log whose entries were all reordered (the whole chain reversed) is verified in linear
/// time: each entry that turns up later used to rebuild the whole `missing` message (100,000
/// entries took minutes, the message megabytes); it names the first few and counts the rest.
#[test]
fn verify_is_linear_on_a_reordered_log() {
    use rbac::audit::{MAX_LISTED_PROBLEMS, ProblemKind, verify_bytes};
    assert!(verify_bytes(bare_chain(10).concat().as_bytes(), None).intact(), "bare entries chain");
    let n: u64 = 100_000;
    let mut chain = bare_chain(n);
    chain.reverse();
    let log: String = chain.concat();
    let start = Instant::now();
    let report = verify_bytes(log.as_bytes(), None);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "verifying {n} reordered entries took {took:?}");
    // The verdict: line 1 (seq n - 1) finds every other entry missing; each of them turns up
    // later, out of order.
    assert!(!report.intact());
    assert_eq!((report.lines, report.entries, report.problem_count()), (n, n, n));
    assert_eq!(report.problems.len(), MAX_LISTED_PROBLEMS);
    assert_eq!(report.unlisted.get(&ProblemKind::OutOfOrder), Some(&(n - MAX_LISTED_PROBLEMS as u64)));
    assert_eq!(report.unlisted.len(), 1);
    let missing = &report.problems[0];
    assert_eq!((missing.line, missing.kind), (1, ProblemKind::Missing));
    let want = format!(
        "line 1: entries seq 0 to {} are missing before it (deleted from the head of the log); seq {} turns up later, \
         at line 2 (reordered); seq {} turns up later, at line 3 (reordered); seq {} turns up later, at line 4 \
         (reordered); {} more of the missing entries turn up later (reordered)",
        n - 2,
        n - 2,
        n - 3,
        n - 4,
        n - 4
    );
    assert_eq!(missing.message, want);
    assert!(report.problems[1..].iter().all(|p| p.kind == ProblemKind::OutOfOrder
        && p.message.ends_with("is out of order: it belongs before line 1 (reordered)")));
    assert_eq!(report.head.map(|h| h.entries), Some(n));

    // Through the CLI: a bounded report, quickly.
    let d = dir("reordered");
    let path = d.join("audit.log");
    std::fs::write(&path, &log).expect("write log");
    let start = Instant::now();
    let (code, out) = verify(&path, None);
    let took = start.elapsed();
    assert_eq!(code, 1);
    assert!(took < Duration::from_secs(20), "`rbac audit verify` took {took:?}");
    // The listed problems, a count of the rest, the verdict.
    assert!(out.lines().count() <= MAX_LISTED_PROBLEMS + 2, "{} lines", out.lines().count());
    assert!(out.lines().all(|l| l.len() < 1000), "a line of {} bytes", out.lines().map(str::len).max().unwrap_or(0));
    assert!(
        out.contains("more of the missing entries turn up later (reordered)"),
        "{}",
        out.chars().take(2000).collect::<String>()
    );
}

/// An entry from the past is looked for among the runs of missing entries without scanning
/// them all: a log with a gap after every entry and then as many entries from the past took
/// time quadratic in its length. Timed against a log of the same lines without the gaps.
#[test]
fn verify_finds_entries_from_the_past_without_scanning_every_gap() {
    use rbac::audit::{MAX_LISTED_PROBLEMS, ProblemKind, verify_bytes};
    let m: u64 = 80_000;
    let (stray, _) = bare_entry(0, &"7".repeat(64));
    let strays = (stray + "\n").repeat(m as usize);
    // Seqs 0, 2, 4, ...: a one-entry gap before each but the first; then entries from the
    // past (seq 0, another `prev`: no fork), in no gap.
    let gapped: String = (0..m).map(|i| bare_entry(2 * i, rbac::audit::GENESIS).0 + "\n").collect::<String>() + &strays;
    // The same lines but in order: no gap to look in.
    let in_order: String = bare_chain(m).concat() + &strays;
    let report = verify_bytes(gapped.as_bytes(), None);
    assert!(!report.intact());
    assert_eq!(report.problem_count(), 2 * m - 1);
    assert_eq!(report.problems.len(), MAX_LISTED_PROBLEMS);
    assert_eq!(report.unlisted.get(&ProblemKind::Missing), Some(&(m - MAX_LISTED_PROBLEMS as u64 - 1)));
    assert_eq!(report.unlisted.get(&ProblemKind::OutOfOrder), Some(&m));
    assert_eq!(report.problems[0].message, "line 2 (seq 2): entry seq 1 is missing before it (deleted)");
    assert_eq!(verify_bytes(in_order.as_bytes(), None).problem_count(), m);
    // Timed in turns, the fastest of each kept, so that a busy machine does not fail it.
    let time = |log: &str| {
        let start = Instant::now();
        let report = verify_bytes(log.as_bytes(), None);
        assert!(!report.intact());
        start.elapsed()
    };
    let (mut gaps, mut base) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        gaps = gaps.min(time(&gapped));
        base = base.min(time(&in_order));
        if gaps < base * 2 + Duration::from_millis(100) {
            return;
        }
    }
    panic!("{m} entries from the past after {m} gaps took {gaps:?}, the same lines without the gaps {base:?}");
}

/// Problems are listed up to a cap and counted beyond it, the verdict unchanged: a file of
/// empty lines made a report (and output) of a hundred bytes per line. A torn last line and a
/// missing anchor are listed whatever the count.
#[test]
fn verify_lists_the_first_problems_and_counts_the_rest() {
    use rbac::audit::{MAX_LISTED_PROBLEMS, ProblemKind, verify_bytes};
    let n = 200_000;
    let mut bytes = vec![b'\n'; n];
    bytes.push(b'x');
    let anchor = "a".repeat(64);
    let report = verify_bytes(&bytes, Some(&anchor));
    assert!(!report.intact());
    assert_eq!(report.problem_count(), n as u64 + 2);
    assert_eq!(report.problems.len(), MAX_LISTED_PROBLEMS + 2);
    assert_eq!(report.unlisted.get(&ProblemKind::Malformed), Some(&((n - MAX_LISTED_PROBLEMS) as u64)));
    let last: Vec<_> = report.problems[MAX_LISTED_PROBLEMS..].iter().map(|p| (p.line, p.kind)).collect();
    let lines = n as u64 + 1;
    assert_eq!(last, [(lines, ProblemKind::Torn), (lines + 1, ProblemKind::Truncated)]);

    let d = dir("many-problems");
    let log = d.join("audit.log");
    std::fs::write(&log, &bytes).expect("write log");
    let out = rbac().args(["audit", "verify", "--format", "json"]).arg(&log).output().expect("run rbac audit verify");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.len() < 200_000, "{} bytes of output", out.stdout.len());
    let json: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(json["problems"].as_array().map(Vec::len), Some(MAX_LISTED_PROBLEMS + 1));
    assert_eq!(json["unlisted"], json!({"malformed": n - MAX_LISTED_PROBLEMS}));
    assert_eq!(json["problems"][0]["message"], "line 1 is not a log entry: an empty line");
    let (code, text) = verify(&log, None);
    assert_eq!(code, 1);
    assert!(text.lines().count() <= MAX_LISTED_PROBLEMS + 3, "{} lines", text.lines().count());
    let rest = n - MAX_LISTED_PROBLEMS;
    assert!(text.contains(&format!("{rest} more problems not listed ({rest} malformed)")), "{:.500}", text);
    // Without the anchor: the malformed lines and the torn one.
    assert!(text.contains(&format!("NOT intact: {} problems", n + 1)), "{:.500}", text);
}

/// The peak resident memory of this process, in bytes, where the system says it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kb * 1024)
}

/// A line longer than any entry is measured and read past, not held: a log with a gigabyte
/// without a newline took a gigabyte of memory. It is reported with its length, and the
/// lines after it are verified.
#[test]
fn verify_reads_past_an_overlong_line_in_bounded_memory() {
    use rbac::audit::{MAX_LINE_BYTES, ProblemKind, Verifier};
    use std::io::Read;
    let chain = bare_chain(2);
    let long: u64 = 1 << 30;
    let torn: u64 = MAX_LINE_BYTES as u64 + 1;
    let before = peak_memory();
    let input = chain[0]
        .as_bytes()
        .chain(std::io::repeat(b'x').take(long))
        .chain(&b"\n"[..])
        .chain(chain[1].as_bytes())
        .chain(std::io::repeat(b'y').take(torn));
    let mut verifier = Verifier::new(None);
    verifier.read(std::io::BufReader::new(input)).expect("read");
    let report = verifier.finish();
    if let (Some(before), Some(after)) = (before, peak_memory()) {
        assert!(after < before + (512 << 20), "peak memory grew from {before} to {after} bytes");
    }
    let problems: Vec<_> = report.problems.iter().map(|p| (p.line, p.kind, p.message.as_str())).collect();
    let over = |n: u64, len: u64| {
        format!(
            "line {n} is not a log entry: it is {len} bytes long, more than an entry can be ({MAX_LINE_BYTES} bytes; \
             not read)"
        )
    };
    let (line2, line4) = (over(2, long), over(4, torn));
    let torn_message = format!("line 4 is torn: {torn} bytes without a final newline (an interrupted write)");
    assert_eq!(
        problems,
        [
            (2, ProblemKind::Malformed, line2.as_str()),
            (4, ProblemKind::Torn, torn_message.as_str()),
            (4, ProblemKind::Malformed, line4.as_str()),
        ]
    );
    assert_eq!((report.lines, report.entries, report.head.map(|h| h.entries)), (4, 2, Some(2)));
}

/// `recover` reads the log as `verify` does: a torn last line longer than any entry is no
/// crash's leftovers, and is not cut; a whole last line that long is not read when appending.
#[test]
fn recover_and_append_refuse_an_overlong_last_line() {
    use rbac::audit::MAX_LINE_BYTES;
    let (_d, log, _) = six("overlong");
    let len = std::fs::metadata(&log).expect("log").len();
    let over = MAX_LINE_BYTES as u64 + 1;
    // Zeros without a newline, sparse where the file system can.
    std::fs::OpenOptions::new().write(true).open(&log).expect("open log").set_len(len + over).expect("extend log");
    let out = rbac().args(["audit", "recover"]).arg(&log).output().expect("run rbac audit recover");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("line 7: line 7 is not a log entry: it is {over} bytes long")), "{stderr}");
    assert_eq!(std::fs::metadata(&log).expect("log").len(), len + over, "nothing cut");
    assert!(!log.with_file_name("audit.log.torn-7").exists());

    let mut file = std::fs::OpenOptions::new().append(true).open(&log).expect("open log");
    file.write_all(b"\n").expect("end the line");
    drop(file);
    let out = eval(&log, 1, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let want =
        format!("the last entry (line 7) is {over} bytes long, more than an entry can be ({MAX_LINE_BYTES} bytes)");
    assert!(stderr.contains(&want), "{stderr}");
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("audit.log:7: malformed: line 7 is not a log entry: it is {over} bytes long")),
        "{out}"
    );
}

/// The writer refuses an entry longer than `verify` reads: the log never holds a line that
/// is no entry to its reader, and the chain does not move.
#[test]
fn the_writer_refuses_an_entry_longer_than_a_line_can_be() {
    use rbac::audit::{AuditLog, AuditOptions, Head, MAX_LINE_BYTES, PolicyChange, verify_bytes};
    let mut log = AuditLog::new(Vec::new(), Head::genesis(), AuditOptions::default());
    let change = |edit: String| PolicyChange {
        old_policy: "sha256:a".into(),
        new_policy: "sha256:b".into(),
        old_file: "a.rbac".into(),
        new_file: "b.rbac".into(),
        summary: json!({ "edits": [edit] }),
    };
    let refused = log.record_policy_change(&change("x".repeat(MAX_LINE_BYTES)));
    let err = refused.expect_err("an entry over the limit");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("more than an entry can be"), "{err}");
    assert_eq!(log.head(), &Head::genesis());
    assert_eq!(log.record_policy_change(&change("+ assign".into())).map(|r| r.seq).ok(), Some(0));
    let bytes = log.into_sink().expect("sink");
    assert!(verify_bytes(&bytes, None).intact());
}

/// An entry whose `seq` is the largest there is is followed by nothing: an entry after it
/// is from the past (its seq did not wrap round to follow it, nor overflow).
#[test]
fn nothing_follows_the_largest_seq() {
    use rbac::audit::{ProblemKind, verify_bytes};
    let (first, hash) = bare_entry(u64::MAX, rbac::audit::GENESIS);
    let (second, _) = bare_entry(0, &hash);
    let report = verify_bytes(format!("{first}\n{second}\n").as_bytes(), None);
    let kinds: Vec<_> = report.problems.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(kinds, [(1, ProblemKind::Missing), (2, ProblemKind::OutOfOrder)]);
    assert!(report.problems[1].message.ends_with("it belongs before line 1 (reordered)"), "{:?}", report.problems);
    assert_eq!(report.head.map(|h| h.entries), Some(u64::MAX));
    // Appending after it is refused, naming why (the next seq overflowed: a panic in a debug
    // build, an entry of seq 0 chained after it in a release one).
    let d = dir("largest-seq");
    let log = d.join("audit.log");
    std::fs::write(&log, format!("{first}\n")).expect("write log");
    let out = eval(&log, 1, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no entry can be chained"), "{err}");
    assert_eq!(std::fs::read_to_string(&log).expect("the log"), format!("{first}\n"), "nothing appended");
    // Nor after the one before it: the writer counts entries in a u64, so its last seq is
    // u64::MAX - 1 (the head wrapped to 0 after writing u64::MAX, and seq 0 was chained).
    let (before, _) = bare_entry(u64::MAX - 1, rbac::audit::GENESIS);
    std::fs::write(&log, format!("{before}\n")).expect("write log");
    let out = eval(&log, 2, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no entry can be chained"), "{err}");
    assert_eq!(std::fs::read_to_string(&log).expect("the log"), format!("{before}\n"), "nothing appended");
}

/// `recover` says problems were left out only when some were: a log of exactly as many
/// problems as are listed, then a torn line, lists them all and says nothing more.
#[test]
fn recover_counts_only_the_problems_it_leaves_out() {
    use rbac::audit::{MAX_LISTED_PROBLEMS, RecoverError, recover_file};
    let d = dir("recover-cap");
    let log = d.join("audit.log");
    for (blank, more) in
        [(MAX_LISTED_PROBLEMS, None), (MAX_LISTED_PROBLEMS + 1, Some(1)), (MAX_LISTED_PROBLEMS + 3, Some(3))]
    {
        let mut bytes = vec![b'\n'; blank];
        bytes.extend_from_slice(b"{\"v\":1,\"se");
        std::fs::write(&log, &bytes).expect("write log");
        let err = recover_file(&log).expect_err("a damaged log is not recovered");
        let RecoverError::Damaged { problems, unlisted } = &err else { panic!("{err}") };
        assert_eq!((problems.len(), *unlisted), (MAX_LISTED_PROBLEMS + 1, more.unwrap_or(0)));
        let text = err.to_string();
        match more {
            None => assert!(!text.contains("not listed"), "{}", &text[text.len() - 200..]),
            Some(n) => assert!(text.ends_with(&format!(
                "\n  {n} more problem{} not listed (`rbac audit verify` counts them by kind)",
                if n == 1 { "" } else { "s" }
            ))),
        }
    }
}

/// Where a line's place in the chain is in doubt, the line after it settles it, so that the
/// line blamed is the one tampered with and the genuine lines after it are not: a forgery
/// with a right hash slipped in before or after the entry it copies, an edited `seq` (its
/// hash left, or recomputed), an entry made up with a wrong hash.
#[test]
fn the_line_after_settles_which_line_was_tampered_with() {
    use rbac::audit::{entry_hash, verify_bytes};
    let (_dir, _log, all) = six("settle");
    let found = |lines: &[String]| -> Vec<(u64, String)> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let report = verify_bytes(text.as_bytes(), None);
        assert!(!report.intact());
        report.problems.iter().map(|p| (p.line, serde_json::to_value(p.kind).expect("kind").to_string())).collect()
    };
    let kinds = |want: &[(u64, &str)]| -> Vec<(u64, String)> {
        want.iter().map(|(line, kind)| (*line, format!("\"{kind}\""))).collect()
    };
    // An entry edited in its text (`from` made `to`), its hash recomputed: as the writer
    // writes it, with a right hash.
    let rewrite = |line: &str, from: &str, to: &str| -> String {
        let text = line.replacen(from, to, 1);
        let entry: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("entry");
        let old = entry["hash"].as_str().expect("hash").to_string();
        text.replacen(&old, &entry_hash(&entry), 1)
    };
    fn time_of(line: &str) -> &str {
        let start = line.find("\"time\":\"").expect("a time") + 8;
        &line[start..start + 27]
    }
    let forged = rewrite(&all[3], time_of(&all[3]), "2020-01-01T00:00:00.000000Z");
    assert!(
        verify_bytes(format!("{}\n", forged).as_bytes(), None)
            .problems
            .iter()
            .all(|p| p.kind != rbac::audit::ProblemKind::Altered)
    );

    // The forgery before the entry it copies: line 4 is the one no entry follows.
    let mut before = all.clone();
    before.insert(3, forged.clone());
    assert_eq!(found(&before), kinds(&[(4, "out_of_order")]));
    // After it: line 5, and line 6 chains to line 4 (no broken link reported).
    let mut after = all.clone();
    after.insert(4, forged.clone());
    assert_eq!(found(&after), kinds(&[(5, "out_of_order")]));
    // A copy of an entry (the same hash): the later one is the copy.
    let mut copied = all.clone();
    copied.insert(4, all[3].clone());
    assert_eq!(found(&copied), kinds(&[(5, "out_of_order")]));

    // `seq` edited, the hash left: the entry is altered, and the entries after it in order.
    for seq in [4, 1_000_000, 0] {
        let mut edited = all.clone();
        edited[3] = edited[3].replacen("\"seq\":3", &format!("\"seq\":{seq}"), 1);
        assert_ne!(edited[3], all[3]);
        assert_eq!(found(&edited), kinds(&[(4, "altered")]), "seq {seq}");
    }
    // `seq` edited and the hash recomputed: the next entry does not chain to it.
    let mut rehashed = all.clone();
    rehashed[3] = rewrite(&all[3], "\"seq\":3", "\"seq\":30");
    assert_eq!(found(&rehashed), kinds(&[(5, "broken_link")]));
    // An entry made up with a wrong hash: altered, and nothing else.
    let mut made_up = all.clone();
    made_up.insert(3, all[3].replacen("\"seq\":3", "\"seq\":99", 1));
    assert_eq!(found(&made_up), kinds(&[(4, "altered")]));
    // Two forgeries of one entry, then a copy of it: each named, the entry itself not.
    let forged_too = rewrite(&all[1], time_of(&all[1]), "2021-01-01T00:00:00.000000Z");
    let mut two = all.clone();
    two.insert(2, rewrite(&all[1], time_of(&all[1]), "2023-01-01T00:00:00.000000Z"));
    two.insert(2, forged_too);
    assert_eq!(found(&two), kinds(&[(3, "out_of_order"), (4, "out_of_order")]));
    let forged_one = rewrite(&all[1], time_of(&all[1]), "2022-01-01T00:00:00.000000Z");
    let mut then_copy = all.clone();
    then_copy.insert(2, all[1].clone());
    then_copy.insert(2, forged_one);
    assert_eq!(found(&then_copy), kinds(&[(3, "out_of_order"), (4, "out_of_order")]));
    // Two seqs edited in a row, the first hash left, the second recomputed: the first is
    // altered and the second's next entry does not chain to it; the genuine lines after
    // them are not blamed.
    let mut two_edits = all.clone();
    two_edits[1] = two_edits[1].replacen("\"seq\":1", "\"seq\":9", 1);
    two_edits[2] = rewrite(&all[2], "\"seq\":2", "\"seq\":8");
    assert_eq!(found(&two_edits), kinds(&[(2, "altered"), (4, "broken_link")]));
    // The first entry's seq edited, its hash left or recomputed.
    let mut first = all.clone();
    first[0] = first[0].replacen("\"seq\":0", "\"seq\":3", 1);
    assert_eq!(found(&first), kinds(&[(1, "altered")]));
    first[0] = rewrite(&all[0], "\"seq\":0", "\"seq\":3");
    assert_eq!(found(&first), kinds(&[(2, "broken_link")]));
    // A copy of an entry right after it, its content altered (its stated hash the entry's):
    // altered, and no part of the chain; its spacing altered only: a copy, so written.
    let mut altered_copy = all.clone();
    altered_copy.insert(2, all[1].replacen(time_of(&all[1]), "2024-01-01T00:00:00.000000Z", 1));
    assert_eq!(found(&altered_copy), kinds(&[(3, "altered")]));
    altered_copy[2] = all[1].replacen("\"seq\":1", "\"seq\":1 ", 1);
    assert_eq!(found(&altered_copy), kinds(&[(3, "altered"), (3, "out_of_order")]));
    // Before it: the altered one is named, not the entry it copies.
    let mut before_it = all.clone();
    before_it.insert(1, all[1].replacen(time_of(&all[1]), "2024-01-01T00:00:00.000000Z", 1));
    assert_eq!(found(&before_it), kinds(&[(2, "altered")]));

    // A gap right before a fork: the gap, and the forgery; a fork whose next entry chains to
    // none of it (a copy of an earlier entry): the first stays, the genuine lines after are
    // not blamed.
    let mut gap_fork = all.clone();
    gap_fork.remove(1);
    gap_fork.insert(2, rewrite(&all[2], time_of(&all[2]), "2025-01-01T00:00:00.000000Z"));
    assert_eq!(found(&gap_fork), kinds(&[(2, "missing"), (3, "out_of_order")]));
    let mut none_chained = all.clone();
    none_chained.insert(2, all[0].clone());
    none_chained.insert(2, rewrite(&all[1], time_of(&all[1]), "2025-01-01T00:00:00.000000Z"));
    let blamed: Vec<u64> = found(&none_chained).iter().map(|(line, _)| *line).collect();
    assert!(blamed.iter().all(|&line| line == 3 || line == 4), "{blamed:?}");

    // At the end of the log: the last line's stated seq is all there is.
    let mut last = all.clone();
    last[5] = last[5].replacen("\"seq\":5", "\"seq\":9", 1);
    assert_eq!(found(&last), kinds(&[(6, "altered"), (6, "missing")]));
}

/// A tampering of a chain of `x` entries (indices taken modulo the length when applied).
#[derive(Debug, Clone)]
enum Tamper {
    Delete(usize),
    Swap(usize, usize),
    /// A copy of one line put in at another place.
    Copy(usize, usize),
    /// A forgery of one line (another `x`, a right hash, `seq` and `prev` kept) put in.
    Forge(usize, usize, u32),
    /// One line's `x`, `seq` or `prev` edited, its hash recomputed or not.
    Edit(usize, Field, bool),
}

#[derive(Debug, Clone)]
enum Field {
    X(u32),
    Seq(u64),
    Prev,
}

/// An entry with an `x`, as the writer lays it out, its hash right.
fn x_entry(seq: u64, x: u32, prev: &str) -> String {
    let entry: serde_json::Map<String, Value> =
        serde_json::from_value(json!({"v": 1, "seq": seq, "x": x, "prev": prev})).expect("entry");
    let hash = rbac::audit::entry_hash(&entry);
    format!(r#"{{"v":1,"seq":{seq},"x":{x},"prev":"{prev}","hash":"{hash}"}}"#)
}

fn fields(line: &str) -> (u64, u32, String, String) {
    let v: Value = serde_json::from_str(line).expect("entry");
    let text = |k: &str| v[k].as_str().expect("text").to_string();
    (v["seq"].as_u64().expect("seq"), v["x"].as_u64().expect("x") as u32, text("prev"), text("hash"))
}

fn tamper(lines: &mut Vec<String>, t: &Tamper) {
    let n = lines.len();
    if n == 0 {
        return;
    }
    match t {
        Tamper::Delete(i) => {
            lines.remove(i % n);
        }
        Tamper::Swap(i, j) => lines.swap(i % n, j % n),
        Tamper::Copy(i, j) => lines.insert(j % (n + 1), lines[i % n].clone()),
        Tamper::Forge(i, j, x) => {
            let (seq, _, prev, _) = fields(&lines[i % n]);
            lines.insert(j % (n + 1), x_entry(seq, *x, &prev));
        }
        Tamper::Edit(i, field, rehash) => {
            let (seq, x, prev, hash) = fields(&lines[i % n]);
            let (seq, x, prev) = match field {
                Field::X(new) => (seq, *new, prev),
                Field::Seq(new) => (*new, x, prev),
                Field::Prev => (seq, x, rbac::audit::sha256_hex(prev.as_bytes())),
            };
            let edited = x_entry(seq, x, &prev);
            lines[i % n] = if *rehash {
                edited
            } else {
                let (.., new_hash) = fields(&edited);
                edited.replacen(&new_hash, &hash, 1)
            };
        }
    }
}

fn tampering() -> impl Strategy<Value = Tamper> {
    let field = prop_oneof![any::<u32>().prop_map(Field::X), (0u64..16).prop_map(Field::Seq), Just(Field::Prev)];
    prop_oneof![
        any::<usize>().prop_map(Tamper::Delete),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Tamper::Swap(i, j)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Tamper::Copy(i, j)),
        (any::<usize>(), any::<usize>(), any::<u32>()).prop_map(|(i, j, x)| Tamper::Forge(i, j, x)),
        (any::<usize>(), field, any::<bool>()).prop_map(|(i, f, r)| Tamper::Edit(i, f, r)),
    ]
}

use proptest::prelude::*;

proptest! {
    /// No tampering passes: with the last entry's hash kept as the anchor, a log that is not
    /// the one written fails; without it, only a log cut at its end, or one whose last entry
    /// was replaced by a forgery that chains (which only an anchor shows), passes.
    #[test]
    fn no_tampered_chain_verifies(
        n in 2usize..10,
        xs in proptest::collection::vec(any::<u32>(), 10),
        tampers in proptest::collection::vec(tampering(), 1..4),
    ) {
        let mut prev = rbac::audit::GENESIS.to_string();
        let written: Vec<String> = (0..n)
            .map(|seq| {
                let line = x_entry(seq as u64, xs[seq], &prev);
                prev = fields(&line).3;
                line
            })
            .collect();
        let mut lines = written.clone();
        for t in &tampers {
            tamper(&mut lines, t);
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let anchored = verify_bytes_report(&text, Some(&prev));
        if lines != written {
            prop_assert!(!anchored.intact(), "{lines:#?}");
        }
        let prefix = |k: usize| k <= n && lines[..k] == written[..k];
        let unanchored = verify_bytes_report(&text, None);
        let cut_or_last_forged = prefix(lines.len()) || lines.len().checked_sub(1).is_some_and(prefix);
        if !cut_or_last_forged {
            prop_assert!(!unanchored.intact(), "{lines:#?}");
        }
        // Every problem names a line of the log, in order.
        let at: Vec<u64> = unanchored.problems.iter().map(|p| p.line).collect();
        prop_assert!(at.windows(2).all(|w| w[0] <= w[1]) && at.iter().all(|&l| l >= 1 && l <= lines.len() as u64));
    }
}

fn verify_bytes_report(text: &str, anchor: Option<&str>) -> rbac::audit::Report {
    rbac::audit::verify_bytes(text.as_bytes(), anchor)
}
