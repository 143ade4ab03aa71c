//! `rbac fmt`: every policy of the repository formats to one layout, which formatting again
//! keeps, which compiles with the same diagnostics, and which does not depend on how much
//! space the author left between tokens; the bundled examples are kept formatted; the command
//! rewrites files, checks them and reads standard input.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rbac::Diagnostics;
use rbac::syntax::{FormatError, format};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn policies(dirs: &[&str]) -> Vec<(PathBuf, String)> {
    common::policy_files(dirs)
}

fn fmt(text: &str) -> Result<String, FormatError> {
    format(0, text, &mut Diagnostics::default())
}

/// What compiling a text reports: each diagnostic's code and message.
fn diagnostics(name: &str, text: &str) -> Vec<(String, String)> {
    let c = rbac::compile_str(name, text);
    c.diagnostics.iter().map(|d| (d.code.to_string(), d.message.clone())).collect()
}

#[test]
fn the_bundled_policies_are_formatted() {
    let bundled = policies(&["examples", "stdlib"]);
    assert!(bundled.len() >= 3);
    for (path, text) in bundled {
        assert_eq!(
            fmt(&text).as_deref(),
            Ok(text.as_str()),
            "{} is not formatted: run `rbac fmt {}`",
            path.display(),
            path.display()
        );
    }
}

/// The policies shown in README.md and docs/ (their ```rbac blocks) compile without errors
/// and are formatted.
#[test]
fn the_policies_of_the_documentation_compile_and_are_formatted() {
    let mut docs: Vec<PathBuf> = vec![PathBuf::from("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir("docs").expect("docs").flatten().map(|e| e.path()).collect();
    pages.sort();
    docs.extend(pages.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")));
    let mut blocks = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).expect("read a page");
        let mut rest = text.as_str();
        while let Some(start) = rest.find("```rbac\n") {
            let body = &rest[start + 8..];
            let end = body.find("```").expect("a closed block");
            let block = &body[..end];
            let line = text.len() - rest.len() + start;
            let at = format!("{}:{}", doc.display(), text[..line].lines().count() + 1);
            let compiled = rbac::compile_str(&at, block);
            assert!(!compiled.diagnostics.has_errors(), "{at}: {}", compiled.render(false));
            assert_eq!(fmt(block).as_deref(), Ok(block), "{at}: not formatted (`rbac fmt -` formats it)");
            blocks += 1;
            rest = &body[end + 3..];
        }
    }
    assert!(blocks >= 10, "{blocks} blocks");
}

#[test]
fn every_policy_formats_to_one_layout_that_compiles_alike() {
    let (mut formatted, mut refused) = (0, 0);
    for (path, text) in policies(&["examples", "stdlib", "tests/ui"]) {
        let name = path.display().to_string();
        match fmt(&text) {
            Ok(out) => {
                formatted += 1;
                assert_eq!(fmt(&out).as_deref(), Ok(out.as_str()), "{name}: formatting twice changes it");
                assert_eq!(
                    diagnostics(&name, &out),
                    diagnostics(&name, &text),
                    "{name}: compiles otherwise once formatted"
                );
            }
            Err(FormatError::Syntax) => {
                refused += 1;
                assert!(
                    diagnostics(&name, &text).iter().any(|(code, _)| code.starts_with("E01")),
                    "{name}: refused without a syntax error"
                );
            }
            Err(e) => panic!("{name}: {e:?}"),
        }
    }
    assert!(formatted > 50 && refused > 10, "{formatted} formatted, {refused} with syntax errors");
}

/// The byte offsets of `text` outside strings and comments.
fn code_offsets(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => i += text[i..].find("*/").map_or(bytes.len(), |e| e + 2),
            _ => {
                out.push(i);
                i += 1;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Spaces and tabs added where the grammar allows them (beside existing spaces, before `;`
    /// and `,`, inside braces) give the layout of the text as it was.
    #[test]
    fn the_space_left_between_tokens_does_not_change_the_layout(pick in 0usize..1000, seed in any::<u64>()) {
        let sources: Vec<String> = policies(&["examples", "tests/ui"]).into_iter().map(|(_, t)| t).filter(|t| fmt(t).is_ok()).collect();
        let text = &sources[pick % sources.len()];
        let mut rng = seed;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut out = String::with_capacity(text.len() * 2);
        let mut last = 0;
        for at in code_offsets(text) {
            out.push_str(&text[last..at]);
            last = at;
            let c = text.as_bytes()[at];
            let before = text.as_bytes().get(at.wrapping_sub(1)).copied();
            let room = matches!(c, b' ' | b';' | b',' | b'}') || before == Some(b'{') || before == Some(b' ');
            if room && next() % 3 == 0 {
                out.push_str(["  ", "\t", " \t "][(next() % 3) as usize]);
            }
        }
        out.push_str(&text[last..]);
        prop_assert_eq!(fmt(&out), fmt(text));
    }
}

/// A decision as JSON without the source positions of its reasons (formatting moves columns).
fn decided(policy: &rbac::Policy, request: &rbac::Request) -> serde_json::Value {
    let mut v = serde_json::to_value(policy.decide(request)).expect("a decision serializes");
    if let Some(reasons) = v.get_mut("reasons").and_then(|r| r.as_array_mut()) {
        for r in reasons {
            if let Some(r) = r.as_object_mut() {
                r.remove("at");
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The differential tests' random policies (quoted and escaped ids, every condition form,
    /// identities, tests) format, formatting again keeps them, and the formatted policy decides
    /// every request as the original.
    #[test]
    fn a_generated_policy_formats_and_decides_alike(
        raw in common::generator::wide_raw_model(),
        reqs in prop::collection::vec(common::generator::wide_req(), 1..40),
    ) {
        let src = common::generator::render(&common::generator::build_model(&raw));
        let out = fmt(&src).map_err(|e| TestCaseError::fail(format!("{e:?} on:\n{src}")))?;
        let again = fmt(&out);
        prop_assert_eq!(again.as_deref(), Ok(out.as_str()), "formatting twice changes it");
        let (before, after) = (common::compile(&src)?, common::compile(&out)?);
        for req in &reqs {
            let request = req.to_crate();
            prop_assert_eq!(decided(&before, &request), decided(&after, &request), "{}\n--- formatted ---\n{}", src, out);
        }
    }
}

fn rbac() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbac"))
}

#[test]
fn fmt_rewrites_files_checks_them_and_reads_standard_input() {
    let temp = common::TempDir::new("fmt");
    let dir = temp.0.clone();
    let messy = dir.join("messy.rbac");
    let tidy = "resource w;\n\nrole viewer { allow read on *; }\n";
    std::fs::write(&messy, "resource   w ;\n\n\n\nrole viewer{allow read on * ;}").expect("write");
    let path = messy.to_str().expect("utf-8 path");

    let check = rbac().args(["fmt", "--check", path]).output().expect("run rbac fmt --check");
    assert_eq!(check.status.code(), Some(1));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("messy.rbac:1: not formatted; the line would read: resource w;"), "{said}");
    assert_ne!(std::fs::read_to_string(&messy).expect("read"), tidy, "--check changed the file");

    // A read-only file is not replaced; a writable one is, keeping its permissions.
    use std::os::unix::fs::PermissionsExt;
    let mode = |m: u32| std::fs::set_permissions(&messy, std::fs::Permissions::from_mode(m)).expect("chmod");
    mode(0o444);
    let run = rbac().args(["fmt", path]).output().expect("run rbac fmt");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("read-only"), "{run:?}");
    assert_ne!(std::fs::read_to_string(&messy).expect("read"), tidy);
    mode(0o640);
    let run = rbac().args(["fmt", path]).output().expect("run rbac fmt");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), tidy);
    assert_eq!(std::fs::metadata(&messy).expect("stat").permissions().mode() & 0o777, 0o640);
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1, "a temporary file was left");
    let again = rbac().args(["fmt", "--check", path]).output().expect("run rbac fmt --check");
    assert_eq!(again.status.code(), Some(0));
    assert!(again.stdout.is_empty());

    // A directory: its `.rbac` files at any depth, and nothing else.
    let nested = dir.join("nested");
    std::fs::create_dir_all(&nested).expect("nested dir");
    std::fs::write(nested.join("deep.rbac"), "group   a;").expect("write");
    std::fs::write(nested.join("notes.txt"), "group   a;").expect("write");
    let out =
        rbac().args(["fmt", "--check", dir.to_str().expect("utf-8 path")]).output().expect("run rbac fmt --check");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deep.rbac:1: not formatted"), "{out:?}");
    let out = rbac().args(["fmt", dir.to_str().expect("utf-8 path")]).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(nested.join("deep.rbac")).expect("read"), "group a;\n");
    assert_eq!(std::fs::read_to_string(nested.join("notes.txt")).expect("read"), "group   a;");

    let mut child = rbac().args(["fmt", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"group  a ;group b;").expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "group a; group b;\n");

    let broken = dir.join("broken.rbac");
    let text = "role viewer { allow read on * }\n";
    std::fs::write(&broken, text).expect("write");
    let out = rbac().args(["fmt", broken.to_str().expect("utf-8 path")]).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0101") && err.contains("not formatted: it has syntax errors"), "{err}");
    assert_eq!(std::fs::read_to_string(&broken).expect("read"), text, "a file with a syntax error was changed");
    // From standard input, it is given back as it came (an editor filtering its buffer through
    // `rbac fmt -` keeps it): exit 1, the diagnostics on stderr.
    let mut child = rbac()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0101"));

    // A symbolic link: the file it points to is formatted, and the link stays a link.
    let target = dir.join("target.rbac");
    let link = dir.join("link.rbac");
    std::fs::write(&target, "group   a;").expect("write");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = rbac().args(["fmt", link.to_str().expect("utf-8 path")]).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "group a;\n");

    // A pipe named like a policy (in a directory) is refused unread, not waited on.
    let fifo = nested.join("pipe.rbac");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success());
    let out = rbac().args(["fmt", nested.to_str().expect("utf-8 path")]).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"), "{out:?}");
}

/// `--check` on a CRLF file names its first line and why; a directory's links to directories
/// are not followed (a link to a parent looped, naming each file again and again).
#[test]
fn check_names_crlf_lines_and_directory_links_are_not_followed() {
    let temp = common::TempDir::new("fmt-crlf-links");
    let dir = temp.0.clone();
    let crlf = dir.join("crlf.rbac");
    std::fs::write(&crlf, "group a;\r\ngroup b;\r\n").expect("write");
    let out = rbac().args(["fmt", "--check"]).arg(&crlf).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("crlf.rbac:1: not formatted") && said.contains("rather than `\\r\\n`"), "{said}");
    // A last line without its line break is no CRLF line.
    let unended = dir.join("unended.rbac");
    std::fs::write(&unended, "resource doc { actions read; }").expect("write");
    let out = rbac().args(["fmt", "--check"]).arg(&unended).output().expect("run rbac fmt");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("unended.rbac:1:") && said.contains("the line break the file's last line lacks"), "{said}");

    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/a.rbac"), "group  x;\n").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", tree.join("sub/loop")).expect("symlink");
    let out = rbac().args(["fmt", "--check"]).arg(&tree).output().expect("run rbac fmt");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.lines().count(), 1, "{said}");
}
