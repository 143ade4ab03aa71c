//! `rbac diff` on pairs of policies with hand-derived change sets: each folder under
//! `tests/diff/` holds `old.rbac`, `new.rbac` and `expected`, one change per line as
//! `KIND SUBJECT SCOPE ACTION TYPE` (`+` gained, `-` lost, `~` changed, `=` unchanged; `*` for
//! everywhere), `! WORDS` for a note that must name all the words, and `#` comments saying
//! why. The listed changes must be exactly these; the exit code 1 when there is any, else 0.
//! The human output is kept next to them in `expected.stdout` (`BLESS=1` rewrites it).

// Test helpers outside #[test] functions may fail loudly, as the tests do.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, format: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
        .arg("diff")
        .arg(dir.join("old.rbac"))
        .arg(dir.join("new.rbac"))
        .args(["--format", format])
        .env("NO_COLOR", "1")
        .output()
        .expect("run rbac diff");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check(dir: &Path) -> Result<(), String> {
    let expected_text = std::fs::read_to_string(dir.join("expected")).map_err(|e| e.to_string())?;
    let mut expected = BTreeSet::new();
    let mut notes = Vec::new();
    for line in expected_text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.strip_prefix('!') {
            Some(words) => notes.push(words.split_whitespace().map(str::to_string).collect::<Vec<_>>()),
            None => {
                expected.insert(line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    let (code, json) = run(dir, "json");
    let diff: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))?;
    let mut actual = BTreeSet::new();
    for c in diff["changes"].as_array().cloned().unwrap_or_default() {
        let sign = match c["kind"].as_str() {
            Some("gained") => "+",
            Some("lost") => "-",
            Some("changed") => "~",
            _ => "=",
        };
        let scope = c["scope"].as_str().unwrap_or("*");
        let (subject, action, ty) = (&c["subject"], &c["action"], &c["type"]);
        let (subject, action, ty) = (subject.as_str(), action.as_str(), ty.as_str());
        actual.insert(format!(
            "{sign} {} {scope} {} {}",
            subject.unwrap_or("?"),
            action.unwrap_or("?"),
            ty.unwrap_or("?")
        ));
    }
    let mut problems = Vec::new();
    for missing in expected.difference(&actual) {
        problems.push(format!("missing: {missing}"));
    }
    for extra in actual.difference(&expected) {
        problems.push(format!("unexpected: {extra}"));
    }
    let actual_notes: Vec<String> = diff["notes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    for words in &notes {
        if !actual_notes.iter().any(|n| words.iter().all(|w| n.contains(w.as_str()))) {
            problems.push(format!("no note names {words:?}; notes: {actual_notes:?}"));
        }
    }
    if notes.is_empty() && !actual_notes.is_empty() {
        problems.push(format!("unexpected notes: {actual_notes:?}"));
    }
    let want = i32::from(!expected.is_empty() || !notes.is_empty());
    if code != want {
        problems.push(format!("exit code {code}, expected {want}"));
    }
    let (_, human) = run(dir, "human");
    let snapshot = dir.join("expected.stdout");
    if std::env::var("BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&snapshot, &human).map_err(|e| e.to_string())?;
    } else if std::fs::read_to_string(&snapshot).unwrap_or_default() != human {
        problems.push(format!("human output differs from {}:\n{human}", snapshot.display()));
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{}:\n  {}", dir.display(), problems.join("\n  "))) }
}

#[test]
fn diffs_list_exactly_the_expected_changes() {
    let mut dirs: Vec<_> = std::fs::read_dir("tests/diff")
        .expect("tests/diff")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "expected the cases under tests/diff");
    let failures: Vec<String> = dirs.iter().filter_map(|d| check(d).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
