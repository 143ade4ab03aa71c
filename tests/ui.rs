//! File-driven CLI tests: every `tests/ui/**/*.rbac` runs through the `rbac` binary and its
//! output is compared with the `.stdout`/`.stderr` files next to it. `BLESS=1` rewrites them.
//!
//! Each file starts with header comments:
//!   `// run: check` (or `test`, or `can ARGS...`: the words after the policy path)
//!   `// exit: 1`    (the expected exit code)

#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rbac") {
            out.push(p);
        }
    }
}

fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| l.trim_start_matches('/').trim().strip_prefix(key).map(str::trim))
}

/// Compares (or, under BLESS=1, writes) one expected output file. An empty output needs no file.
fn compare(path: &Path, actual: &str, failures: &mut Vec<String>) {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if bless {
        if actual.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, actual).expect("write expected output");
        }
    } else if expected != actual {
        failures.push(format!("{}:\n--- expected\n{expected}\n--- actual\n{actual}", path.display()));
    }
}

#[test]
fn ui() {
    let mut files = Vec::new();
    collect(Path::new("tests/ui"), &mut files);
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read ui test");
        let run = header(&text, "run:").unwrap_or_else(|| panic!("{}: no `// run:` header", file.display()));
        let exit: i32 = header(&text, "exit:")
            .and_then(|e| e.parse().ok())
            .unwrap_or_else(|| panic!("{}: no `// exit:` header", file.display()));
        let mut words = run.split_whitespace();
        let verb = words.next().expect("a verb after `run:`");
        let path = file.to_string_lossy().replace('\\', "/");
        let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .arg(verb)
            .arg(&path)
            .args(words)
            .env("NO_COLOR", "1")
            .output()
            .expect("run rbac");
        let code = out.status.code().unwrap_or(-1);
        if code != exit {
            failures
                .push(format!("{path}: exit code {code}, expected {exit}\n{}", String::from_utf8_lossy(&out.stderr)));
        }
        compare(&file.with_extension("stdout"), &String::from_utf8_lossy(&out.stdout), &mut failures);
        compare(&file.with_extension("stderr"), &String::from_utf8_lossy(&out.stderr), &mut failures);
    }
    assert!(files.len() > 10, "expected the ui tests under tests/ui");
    assert!(failures.is_empty(), "{} ui failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Every error code of the compiler (E01xx-E06xx) has at least one ui test that shows it.
/// Request codes (E07xx) are tested with requests, bundle codes (E08xx) in `tests/bundle.rs`,
/// module codes (E09xx) in `tests/wasm.rs` and `tests/hosts.rs`.
#[test]
fn every_compile_error_code_has_a_ui_test() {
    let mut files = Vec::new();
    collect(Path::new("tests/ui"), &mut files);
    let mut outputs = String::new();
    for f in &files {
        outputs.push_str(&std::fs::read_to_string(f.with_extension("stderr")).unwrap_or_default());
    }
    let missing: Vec<&str> = rbac::diag::CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !c.starts_with("E07"))
        // Bundle codes: `tests/bundle.rs` (a ui test is `.rbac` text; a bundle is binary).
        .filter(|c| !c.starts_with("E08"))
        // Module codes: `tests/wasm.rs`, `tests/hosts.rs` (emitting and loading modules).
        .filter(|c| !c.starts_with("E09"))
        .filter(|c| !outputs.contains(&format!("[{c}]")))
        .collect();
    assert!(missing.is_empty(), "codes without a ui test: {missing:?}");
}

/// `rbac eval` reads a stream the same whatever its line endings: the stream of
/// `tests/ui/eval/stream.rbac` with `\r\n` and without a last newline decides as it does with
/// `\n` (error positions included).
#[test]
fn eval_reads_a_stream_whatever_its_line_endings() {
    let stream = std::fs::read_to_string("tests/ui/eval/stream.jsonl").expect("the ui stream");
    let expected = std::fs::read_to_string("tests/ui/eval/stream.stdout").expect("its output");
    let dir = std::env::temp_dir().join(format!("rbac-eval-endings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for (name, text) in [
        ("crlf.jsonl", stream.replace('\n', "\r\n")),
        ("no-last-newline.jsonl", stream.trim_end_matches('\n').to_string()),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, text).expect("write the stream");
        let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["eval", "tests/ui/eval/stream.rbac", "--request"])
            .arg(&file)
            .output()
            .expect("run rbac");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rbac eval` prints the same whatever the number of threads deciding: a stream of whole
/// requests in long runs (decided by several threads) with the ui stream's blank lines,
/// documents over several lines, malformed lines and a document cut short between them
/// (read one line at a time), over batches of 4,096 lines.
#[test]
fn eval_prints_the_same_on_any_number_of_threads() {
    let stream = std::fs::read_to_string("tests/ui/eval/stream.jsonl").expect("the ui stream");
    let whole = [
        r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#,
        r#"{"principal":{"id":"user:bob","groups":["eng"]},"action":"read","resource":"workspace:prod"}"#,
        r#"{"principal":{"id":"user:bob"},"action":"delete","resource":"workspace:prod"}"#,
    ];
    let mut text = String::new();
    for round in 0..6 {
        for k in 0..1500 + round * 311 {
            text.push_str(whole[k % whole.len()]);
            text.push('\n');
        }
        text.push_str(&stream);
    }
    let dir = std::env::temp_dir().join(format!("rbac-eval-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("mixed.jsonl");
    std::fs::write(&file, &text).expect("write the stream");
    let run = |jobs: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["eval", "tests/ui/eval/stream.rbac", "--jobs", jobs, "--request"])
            .arg(&file)
            .output()
            .expect("run rbac");
        assert_eq!(out.status.code(), Some(0), "{jobs}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let one = run("1");
    assert!(one.lines().count() > 13_000, "{} decisions", one.lines().count());
    assert!(one.contains("\"allow\"") && one.contains("\"deny\"") && one.contains("E07"));
    for jobs in ["2", "5"] {
        assert!(run(jobs) == one, "{jobs} threads print what one does");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A line that is not UTF-8 stops `rbac eval` (exit 2) after the lines before it are decided,
/// on one thread or several.
#[test]
fn eval_decides_the_lines_before_one_it_cannot_read() {
    let ann = r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#;
    let mut bytes = Vec::new();
    for _ in 0..10 {
        bytes.extend_from_slice(ann.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"principal\": \xff}\n");
    bytes.extend_from_slice(ann.as_bytes());
    let dir = std::env::temp_dir().join(format!("rbac-eval-bad-line-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("bad.jsonl");
    std::fs::write(&file, &bytes).expect("write the stream");
    for jobs in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["eval", "tests/ui/eval/stream.rbac", "--jobs", jobs, "--request"])
            .arg(&file)
            .output()
            .expect("run rbac");
        assert_eq!(out.status.code(), Some(2), "{jobs}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10, "{jobs}: the lines before it");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error[E0209]: reading"), "{jobs}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rbac eval` on a pipe answers each request as it comes (a program that writes a request and
/// waits for its decision gets it), whether a request comes in one write or is cut between
/// two, on one thread or several.
#[test]
fn eval_on_a_pipe_answers_each_request_before_the_next_comes() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let ann = r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#;
    let bob = r#"{"principal":{"id":"user:bob"},"action":"delete","resource":"workspace:prod"}"#;
    for jobs in ["1", "2"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .args(["eval", "tests/ui/eval/stream.rbac", "--jobs", jobs, "--request", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run rbac");
        let mut input = child.stdin.take().expect("stdin");
        let output = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let lines = std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                if tx.send(line.expect("a line")).is_err() {
                    break;
                }
            }
        });
        let mut next = |what: &str| match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("{jobs} threads: no decision for {what} while the input stayed open");
            }
        };
        input.write_all(format!("{ann}\n").as_bytes()).expect("write");
        input.flush().expect("flush");
        assert!(next("ann").contains(r#""decision":"allow""#), "{jobs}: ann");
        // The next request cut in two writes, the first without its end of line.
        let (head, tail) = bob.split_at(20);
        input.write_all(head.as_bytes()).expect("write");
        input.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(50));
        input.write_all(format!("{tail}\n\n{ann}\n").as_bytes()).expect("write");
        input.flush().expect("flush");
        assert!(next("bob").contains(r#""decision":"deny""#), "{jobs}: bob");
        assert!(next("ann again").contains(r#""decision":"allow""#), "{jobs}: ann again");
        drop(input);
        assert_eq!(child.wait().expect("rbac ends").code(), Some(0), "{jobs}");
        lines.join().expect("the reader");
        assert!(rx.try_recv().is_err(), "{jobs}: nothing more is printed");
    }
}

/// A request over 1 MiB is decided as too large (E0706) without being kept, and the requests
/// around it as usual, on one thread or several; the audit log records its size alone.
/// `rbac eval` of `tests/ui/eval/stream.rbac` over the requests in `file`, with `extra`
/// arguments: its output, after checking that it exits 0.
fn eval_stream(file: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(["eval", "tests/ui/eval/stream.rbac", "--request"])
        .arg(file)
        .args(extra)
        .output()
        .expect("run rbac");
    assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn eval_decides_a_request_over_the_size_limit_as_too_large() {
    let ann = r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#;
    let bob = r#"{"principal":{"id":"user:bob"},"action":"delete","resource":"workspace:prod"}"#;
    let huge = format!(
        r#"{{"principal":{{"id":"user:ann"}},"action":"delete","resource":"workspace:prod","context":{{"x":"{}"}}}}"#,
        "a".repeat(2 << 20)
    );
    // Exactly 1 MiB, whatever the line ending: read (the ending was counted, so it was
    // refused, and with `\r\n` one byte under the limit too); a byte more: too large.
    let pad = (1 << 20) - ann.len();
    let fits = format!("{}{ann}", " ".repeat(pad));
    let over = format!(" {fits}");
    // A document over two lines, a byte over the limit, its second line cut: the size counts
    // the first line's ending (one thread said a byte less than two).
    let first = r#"{"principal":{"id":"user:ann"},"action":"delete","#;
    let rest = r#""resource":"workspace:prod","context":{"x":""}}"#;
    let two = format!(
        "{first}\n{}",
        rest.replace(r#""x":"""#, &format!(r#""x":"{}""#, "a".repeat((1 << 20) + 1 - first.len() - 1 - rest.len())))
    );
    let text = format!(
        "{ann}\n{huge}\n{bob}\n{fits}\n{fits}\r\n{over}\n{two}\n{{\n\"principal\": {{\"id\": \"user:ann\"}},\n\"action\": \"delete\", \"resource\": \"workspace:prod\"}}\n"
    );
    let dir = std::env::temp_dir().join(format!("rbac-eval-oversize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("big.jsonl");
    std::fs::write(&file, &text).expect("write the stream");
    let log = dir.join("audit.log");
    let run = |extra: &[&str]| eval_stream(&file, extra);
    let one = run(&["--jobs", "1"]);
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 8, "{one:.2000}");
    assert!(lines[0].contains(r#""decision":"allow""#), "{}", lines[0]);
    assert!(lines[1].contains("E0706") && lines[1].contains(r#""decision":"deny""#), "{}", lines[1]);
    assert!(lines[2].contains(r#""decision":"deny""#) && lines[2].contains("no_rule"), "{}", lines[2]);
    assert!(lines[3].contains(r#""decision":"allow""#), "{:.300}", lines[3]);
    assert!(lines[4].contains(r#""decision":"allow""#), "ending in CRLF: {:.300}", lines[4]);
    assert!(lines[5].contains("E0706") && lines[5].contains("1048577 bytes"), "{:.300}", lines[5]);
    assert!(lines[6].contains("E0706") && lines[6].contains("1048577 bytes"), "{:.300}", lines[6]);
    assert!(lines[7].contains(r#""decision":"allow""#), "a document over three lines: {}", lines[7]);
    assert_eq!(run(&["--jobs", "2"]), one, "two threads print what one does");
    let log_arg = log.to_string_lossy().to_string();
    assert_eq!(run(&["--audit-log", &log_arg]), one, "with an audit log");
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert_eq!(logged.lines().filter(|l| l.contains(r#""request":{"oversize":"#)).count(), 3, "{logged:.2000}");
    assert!(logged.len() < 3 << 20, "the large request is not logged: {} bytes", logged.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A document that never ends (`[` then `1,` on each line) is parsed again only where it may
/// have ended or doubled, not at every line: 100,000 lines take a moment, not minutes.
#[test]
fn eval_reads_a_long_unfinished_document_in_linear_time() {
    let text = format!("[\n{}1]\n", "1,\n".repeat(100_000));
    let dir = std::env::temp_dir().join(format!("rbac-eval-unfinished-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("unfinished.jsonl");
    std::fs::write(&file, &text).expect("write the stream");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rbac"))
        .args(["eval", "tests/ui/eval/stream.rbac", "--request"])
        .arg(&file)
        .output()
        .expect("run rbac");
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), 1, "one document: {printed:.500}");
    assert!(printed.contains("E0702"), "a list is no request: {printed}");
    // Parsed again at every line, this took minutes (40,000 lines: 19 s in a release build).
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A record cut short never takes in the requests after it, and the rest of a document too
/// large to keep is passed over, not read as requests: each request gets its decision, in
/// order, on every path (threads, one thread, the wasm engine, with an audit log).
#[test]
fn eval_keeps_each_request_to_its_decision_after_a_record_cut_short_or_too_large() {
    let ann = r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#;
    let bob = r#"{"principal":{"id":"user:bob"},"action":"delete","resource":"workspace:prod"}"#;
    // A pretty-printed request with a line over the limit in its middle, and one that grows
    // over the limit line by line.
    let long_line = format!("\"x\": \"{}\",\n", "a".repeat(2 << 20));
    let many_lines: String = (0..150_000).map(|i| format!("\"y{i}\": \"b\",\n")).collect();
    let big = |middle: &str| {
        format!(
            "{{\n\"principal\": {{\"id\": \"user:ann\"}},\n\"context\": {{\n{middle}\"z\": [1, {{\"w\": \"}}\"}}]\n}},\n\"action\": \"delete\",\n\"resource\": \"workspace:prod\"\n}}\n"
        )
    };
    // A record cut short, then one with text after it and a request (JSON Lines gone wrong
    // twice in a row: each line keeps its own answer). Last, one cut short before a request
    // pretty-printed over several lines, which cannot be told from its continuation: one
    // malformed record, and no part of it or of the request after it (whose context holds
    // an object that reads as ann's request) decided as a request of its own, up to the next
    // line that starts a record.
    let twice = format!("{{\"principal\": {{\"id\": \"user:ann\", \"groups\": []\n{ann} x\n{bob}\n");
    let pretty = "{\"principal\": {\"id\": \"user:bob\"}, \"groups\": [\n{\n  \"principal\": {\"id\": \"user:ann\"},\n  \"action\": \"delete\",\n  \"resource\": \"workspace:prod\"\n}\n";
    // A request pretty-printed with no indentation (Python's `indent=0`), a whole request's
    // fields inside it each on a line of its own: one request, decided for its principal.
    let indent0 = "{\n\"principal\": {\n\"id\": \"user:bob\"\n},\n\"action\": \"delete\",\n\"resource\": \"workspace:prod\",\n\"context\": {\n\"notes\": [\n{\n\"principal\": {\n\"id\": \"user:ann\"\n},\n\"action\": \"delete\",\n\"resource\": \"workspace:prod\"\n}\n]\n}\n}\n";
    // After a line too long to keep that leaves brackets open, a request ends the passing
    // over, and the lines after it are read as records (with threads too); a record cut
    // short before a line too long that starts like a request is decided apart from it.
    let passed = format!(
        "garbage\n{{{{\"x\": \"{}\"\n{ann}\ngarbage\n\"str\"\n{{\"principal\": {{\"id\": \"user:ann\"}},\n{{\"principal\": {{\"id\": \"user:bob\"}}, \"context\": {{\"x\": \"{}\"}}}}\n",
        "a".repeat(2 << 20),
        "a".repeat(2 << 20)
    );
    // A document whose first line goes wrong with its brackets open is passed over to its
    // end: the request inside it is not decided.
    let first_bad = "{\"principal\": bad, \"context\": {\"list\": [\n{\n\"principal\": {\n\"id\": \"user:ann\"\n},\n\"action\": \"delete\",\n\"resource\": \"workspace:prod\"\n}\n]}}\n";
    // A blank line, however long, is skipped like any other.
    let blank = format!("{}\t\n", " ".repeat(2 << 20));
    let text = format!(
        "{blank}{{\"principal\": {{\"id\": \n{bob}\n{bob}\n{ann}\n{}{bob}\n{}{{\n\"principal\": {{\"id\": \"user:ann\"}},\n\"action\": \"delete\", \"resource\": \"workspace:prod\"}}\n{ann}\n{twice}{blank}{indent0}{passed}{pretty}{indent0}{bob}\n{first_bad}",
        big(&long_line),
        big(&many_lines),
    );
    let dir = std::env::temp_dir().join(format!("rbac-eval-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("cut.jsonl");
    std::fs::write(&file, &text).expect("write the stream");
    let log = dir.join("audit.log");
    let run = |extra: &[&str]| eval_stream(&file, extra);
    let one = run(&["--jobs", "1"]);
    let got: Vec<&str> = one
        .lines()
        .map(|l| {
            if l.contains("E0701") {
                "malformed"
            } else if l.contains("E0706") {
                "too large"
            } else if l.contains(r#""decision":"allow""#) {
                "allow"
            } else {
                "deny"
            }
        })
        .collect();
    assert_eq!(
        got,
        [
            "malformed",
            "deny",
            "deny",
            "allow",
            "too large",
            "deny",
            "too large",
            "allow",
            "allow",
            "malformed",
            "malformed",
            "deny",
            "deny",
            "malformed",
            "too large",
            "allow",
            "malformed",
            "deny",
            "malformed",
            "too large",
            "malformed",
            "deny",
            "malformed"
        ],
        "{one:.3000}"
    );
    assert_eq!(run(&["--jobs", "2"]), one, "two threads print what one does");
    assert_eq!(run(&["--engine", "wasm"]), one, "the wasm engine reads the stream alike");
    let log_arg = log.to_string_lossy().to_string();
    assert_eq!(run(&["--audit-log", &log_arg]), one, "with an audit log");
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert_eq!(logged.lines().count(), got.len(), "an entry a decision");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A record cut short does not shorten the room of the request after it: one just under the
/// limit is decided (it was said to be too large, with its true size under the limit), with
/// threads and without.
#[test]
fn a_record_cut_short_leaves_the_next_request_its_whole_room() {
    let head =
        r#"{"principal": {"id": "user:ann"}, "action": "delete", "resource": "workspace:prod", "context": {"x": ""#;
    let under = format!("{{\"principal\":\n{head}{}\"}}}}\n", "a".repeat((1 << 20) - head.len() - 10));
    let dir = std::env::temp_dir().join(format!("rbac-eval-room-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("room.jsonl");
    std::fs::write(&file, &under).expect("write the stream");
    for jobs in ["1", "2"] {
        let out = eval_stream(&file, &["--jobs", jobs]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{jobs}: {out:.500}");
        assert!(lines[0].contains("E0701") && lines[1].contains(r#""decision":"allow""#), "{jobs}: {out:.500}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
