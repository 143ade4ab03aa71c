//! `rbac lsp`, driven as an editor drives it: diagnostics published on open and on each
//! change (in the files a policy `use`s too, and cleared when they go), positions in UTF-16,
//! formatting, and the protocol's errors and shutdown.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

struct Editor {
    child: Child,
    input: ChildStdin,
    replies: Receiver<Value>,
}

impl Editor {
    fn start() -> Editor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start rbac lsp");
        let input = child.stdin.take().expect("stdin");
        let mut output = BufReader::new(child.stdout.take().expect("stdout"));
        let (send, replies) = channel();
        std::thread::spawn(move || {
            loop {
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if output.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse().expect("a length");
                    }
                }
                let mut body = vec![0; length];
                output.read_exact(&mut body).expect("a body");
                if send.send(serde_json::from_slice(&body).expect("JSON")).is_err() {
                    return;
                }
            }
        });
        Editor { child, input, replies }
    }

    /// A server started and initialized (no capabilities).
    fn initialized() -> Editor {
        let mut editor = Editor::start();
        editor.request(1, "initialize", json!({}));
        editor
    }

    /// `shutdown`, then `exit`: the server's exit code.
    fn shut_down(mut self, id: u64) -> Option<i32> {
        assert_eq!(self.request(id, "shutdown", Value::Null)["result"], Value::Null);
        self.notify("exit", Value::Null);
        self.child.wait().expect("exit").code()
    }

    fn send_raw(&mut self, body: &[u8]) {
        write!(self.input, "Content-Length: {}\r\n\r\n", body.len()).expect("write");
        self.input.write_all(body).expect("write");
        self.input.flush().expect("flush");
    }

    fn send(&mut self, message: Value) {
        self.send_raw(message.to_string().as_bytes());
    }

    fn next(&self) -> Value {
        self.replies.recv_timeout(Duration::from_secs(20)).expect("a message from rbac lsp")
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let reply = self.next();
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Opens a document (version 1) with `text`.
    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "rbac", "version": 1, "text": text}}),
        );
    }

    /// The next `publishDiagnostics` messages, by URI, until one for `uri` has come.
    fn diagnostics_until(&self, uri: &str) -> Vec<(String, Vec<Value>)> {
        let mut out = Vec::new();
        loop {
            let m = self.next();
            assert_eq!(m["method"], "textDocument/publishDiagnostics", "{m}");
            let at = m["params"]["uri"].as_str().expect("a uri").to_string();
            let list = m["params"]["diagnostics"].as_array().expect("a list").clone();
            let done = at == uri;
            out.push((at, list));
            if done {
                return out;
            }
        }
    }
}

fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display()).replace(' ', "%20")
}

#[test]
fn an_editor_sees_diagnostics_as_it_types_and_formats() {
    // A space in the directory's name, escaped in the URIs.
    let temp = common::TempDir::new("lsp space");
    let dir = temp.0.clone();
    let module = dir.join("roles.rbac");
    std::fs::write(
        &module,
        "resource workspace { actions read; }\nrole viewer { allow read on *; }\nrole broken extends nosuch { }\n",
    )
    .expect("write");
    let root = dir.join("main.rbac");
    // The editor spells the document's URI its own way (`.` escaped): it is answered as named.
    let (root_uri, module_uri) = (uri(&root).replace("main.rbac", "main%2Erbac"), uri(&module));

    let mut editor = Editor::start();
    let init = editor.request(1, "initialize", json!({"capabilities": {}}));
    assert_eq!(init["result"]["capabilities"]["documentFormattingProvider"], true);
    assert_eq!(init["result"]["capabilities"]["textDocumentSync"]["change"], 1);
    editor.notify("initialized", json!({}));

    // An unknown role after a two-byte and a four-byte character on its line: columns count
    // UTF-16 units.
    let text = "resource workspace { actions read; }\ntest \"é🦀\" { expect allow user:a read nosuch:x; }\n";
    editor.open(&root_uri, text);
    let published = editor.diagnostics_until(&root_uri);
    let (_, list) = published.last().expect("the document's diagnostics");
    assert_eq!(list.len(), 1, "{list:?}");
    let d = &list[0];
    assert_eq!(d["source"], "rbac");
    assert_eq!(d["severity"], 1);
    let column = "test \"é🦀\" { expect allow user:a read ".encode_utf16().count();
    assert_eq!(d["range"]["start"], json!({"line": 1, "character": column}), "{d}");
    assert_eq!(d["range"]["end"], json!({"line": 1, "character": column + "nosuch".len()}), "{d}");

    // Highlighting: `resource` is a keyword (type 0 of the legend) at 0:0, 8 long; the
    // test's name a string (type 1) on the next line.
    let legend = &init["result"]["capabilities"]["semanticTokensProvider"]["legend"]["tokenTypes"];
    assert_eq!(legend[0], "keyword");
    assert_eq!(legend[1], "string");
    let tokens = editor.request(10, "textDocument/semanticTokens/full", json!({"textDocument": {"uri": root_uri}}));
    let data: Vec<u64> =
        tokens["result"]["data"].as_array().expect("data").iter().map(|n| n.as_u64().expect("a number")).collect();
    assert_eq!(data[..5], [0, 0, 8, 0, 0]);
    let name = data.chunks(5).position(|t| t[3] == 1).expect("a string");
    // Line 1, after `test `: the quotes, `é` and the crab (two UTF-16 units) are 5 long.
    assert_eq!(data.chunks(5).nth(name).expect("the string")[2], 5);

    // `read`, after the crab on its line, is an action the resource type lists; nothing is
    // declared inside the string.
    let at = |line: u64, character: usize| json!({"textDocument": {"uri": root_uri}, "position": {"line": line, "character": character}});
    let read = "test \"é🦀\" { expect allow user:a re".encode_utf16().count();
    let reply = editor.request(20, "textDocument/definition", at(1, read));
    let listed = "resource workspace { actions ".len();
    assert_eq!(
        reply["result"],
        json!([{"uri": root_uri, "range": {"start": {"line": 0, "character": listed}, "end": {"line": 0, "character": listed + 4}}}])
    );
    assert_eq!(editor.request(21, "textDocument/definition", at(1, 7))["result"], Value::Null);

    // A change: a misspelt role, with its help, and the used module's error in that file.
    let text = "use \"roles.rbac\";\nassign veiwer to user:a on workspace:w;\n";
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": root_uri, "version": 2}, "contentChanges": [{"text": text}]}),
    );
    let published = editor.diagnostics_until(&root_uri);
    let module_list = &published.iter().find(|(u, _)| *u == module_uri).expect("the module's diagnostics").1;
    assert!(module_list.iter().any(|d| d["code"] == "E0201" && d["range"]["start"]["line"] == 2), "{module_list:?}");
    let root_list = &published.last().expect("the document's").1;
    let d = root_list.iter().find(|d| d["code"] == "E0201").expect("E0201");
    assert!(d["message"].as_str().expect("a message").contains("did you mean `viewer`?"), "{d}");
    assert_eq!(d["range"]["start"], json!({"line": 1, "character": 7}));

    // The module opened in the editor and changed there, unsaved: it is checked on its own (it
    // only warns that a role is never assigned), and so again is the document that uses it.
    let warnings_only = |list: &Vec<Value>| list.iter().all(|d| d["code"] == "W0001" && d["severity"] == 2);
    let with_writer =
        "resource workspace { actions read; }\nrole viewer { allow read on *; }\nrole writer { allow read on *; }\n";
    editor.open(&module_uri, with_writer);
    let published = editor.diagnostics_until(&root_uri);
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published[0].0 == module_uri && warnings_only(&published[0].1), "{published:?}");
    assert!(published[1].1.iter().any(|d| d["code"] == "E0201"), "{published:?}");

    // `writer` is only in the editor's text of the module, and the document finds it. The open
    // module keeps its own diagnostics: the document's check publishes only its own list.
    let text = "use \"roles.rbac\";\nassign writer  to user:a on workspace:w;\n";
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": root_uri, "version": 3}, "contentChanges": [{"text": text}]}),
    );
    assert_eq!(editor.diagnostics_until(&root_uri), vec![(root_uri.clone(), Vec::new())]);

    // Go to definition: `writer` (the cursor inside it) is declared in the module as the editor
    // holds it, `workspace` too; `a`, a user's id, nowhere.
    let at = |line: u64, character: u64| json!({"textDocument": {"uri": root_uri}, "position": {"line": line, "character": character}});
    let reply = editor.request(11, "textDocument/definition", at(1, 9));
    assert_eq!(
        reply["result"],
        json!([{"uri": module_uri, "range": {"start": {"line": 2, "character": 5}, "end": {"line": 2, "character": 11}}}])
    );
    let column = "assign writer  to user:a on work".len() as u64;
    let reply = editor.request(12, "textDocument/definition", at(1, column));
    assert_eq!(
        reply["result"],
        json!([{"uri": module_uri, "range": {"start": {"line": 0, "character": 9}, "end": {"line": 0, "character": 18}}}])
    );
    let column = "assign writer  to user:".len() as u64;
    assert_eq!(editor.request(13, "textDocument/definition", at(1, column))["result"], Value::Null);

    // Hover shows the declaration, and where it is.
    let reply = editor.request(14, "textDocument/hover", at(1, 9));
    assert_eq!(reply["result"]["contents"]["kind"], "markdown");
    assert_eq!(reply["result"]["contents"]["value"], "```rbac\nrole writer { allow read on *; }\n```\nroles.rbac:3");
    assert_eq!(editor.request(15, "textDocument/hover", at(1, column))["result"], Value::Null);

    // `writer` taken out of the module in the editor: the document is checked again and
    // reports it.
    let without = "resource workspace { actions read; }\nrole viewer { allow read on *; }\n";
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": module_uri, "version": 2}, "contentChanges": [{"text": without}]}),
    );
    let published = editor.diagnostics_until(&root_uri);
    assert!(published[0].0 == module_uri && warnings_only(&published[0].1), "{published:?}");
    let root_list = &published.last().expect("the document's").1;
    assert!(
        root_list.iter().any(|d| d["code"] == "E0201" && d["message"].as_str().is_some_and(|m| m.contains("`writer`"))),
        "{root_list:?}"
    );

    // The module closed: the document that uses it reads it from disk again, where `broken`
    // extends an unknown role, and the module shows that instead of its own check's warnings
    // (published once, after the document's check, not cleared first).
    editor.notify("textDocument/didClose", json!({"textDocument": {"uri": module_uri}}));
    let published = editor.diagnostics_until(&root_uri);
    assert_eq!(published.iter().filter(|(u, _)| *u == module_uri).count(), 1, "{published:?}");
    let from_disk = &published.iter().rev().find(|(u, _)| *u == module_uri).expect("the module, read from disk").1;
    assert!(from_disk.iter().any(|d| d["code"] == "E0201" && d["range"]["start"]["line"] == 2), "{published:?}");

    // Formatting: one edit over the whole document; none for a formatted one or one with a
    // syntax error.
    let edits = editor.request(2, "textDocument/formatting", json!({"textDocument": {"uri": root_uri}, "options": {}}));
    assert_eq!(
        edits["result"],
        json!([{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}},
                "newText": "use \"roles.rbac\";\nassign writer to user:a on workspace:w;\n"}])
    );
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": root_uri, "version": 4}, "contentChanges": [{"text": "role r { allow read on * }"}]}),
    );
    let published = editor.diagnostics_until(&root_uri);
    assert_eq!(published.last().expect("published").1[0]["code"], "E0101");
    let edits = editor.request(3, "textDocument/formatting", json!({"textDocument": {"uri": root_uri}, "options": {}}));
    assert_eq!(edits["result"], json!([]));

    // Closing a document clears its diagnostics.
    editor.notify("textDocument/didClose", json!({"textDocument": {"uri": root_uri}}));
    assert!(editor.diagnostics_until(&root_uri).last().expect("published").1.is_empty());

    // Protocol errors are answered, and the server goes on.
    editor.send_raw(b"{not json");
    let reply = editor.next();
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    let reply = editor.request(4, "workspace/symbol", json!({}));
    assert_eq!(reply["error"]["code"], -32601, "{reply}");

    assert_eq!(editor.shut_down(5), Some(0));
}

#[test]
fn the_standard_library_is_not_a_file_to_go_to() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/policy.rbac";
    let text = "use std::crud;\nresource w { actions crud; }\nrole r { allow read on w; }\nassign r to user:a;\n";
    editor.open(uri, text);
    assert_eq!(editor.diagnostics_until(uri), vec![(uri.to_string(), Vec::new())]);
    let at = json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 23}});
    // The outline: the resource type and the role, in file order.
    let outline = editor.request(3, "textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    let names: Vec<(&str, u64, u64)> = outline["result"]
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("a name"),
                s["kind"].as_u64().expect("a kind"),
                s["range"]["start"]["line"].as_u64().expect("a line"),
            )
        })
        .collect();
    assert_eq!(names, vec![("w", 23, 1), ("r", 5, 2)]);
    // `crud` is std's action set, which no editor can open: nothing to go to (the type that
    // lists it is where the cursor already is).
    assert_eq!(editor.request(2, "textDocument/definition", at)["result"], Value::Null);
}

/// While a document has a syntax error (an item being typed), the outline and go to
/// definition read the items that parse, before the error and after it.
#[test]
fn the_outline_and_definitions_hold_while_an_item_is_being_typed() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/typing.rbac";
    let text =
        "resource w { actions read; }\nrole half { allow read on w\nrole r { allow read on w; }\nassign r to user:a;\n";
    editor.open(uri, text);
    let published = editor.diagnostics_until(uri);
    assert_eq!(published.last().expect("published").1[0]["code"], "E0101", "{published:?}");
    let outline = editor.request(2, "textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    let names: Vec<(&str, u64)> = outline["result"]
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| (s["name"].as_str().expect("a name"), s["range"]["start"]["line"].as_u64().expect("a line")))
        .collect();
    assert_eq!(names, vec![("w", 0), ("r", 2)], "{outline}");
    // `r` in the assignment goes to the role declared after the broken one.
    let at = json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 7}});
    assert_eq!(
        editor.request(3, "textDocument/definition", at)["result"],
        json!([{"uri": uri, "range": {"start": {"line": 2, "character": 5}, "end": {"line": 2, "character": 6}}}])
    );
    assert_eq!(editor.shut_down(4), Some(0));
}

/// The outline of a large document is answered in time linear in it: each item's position
/// was found by counting lines from the document's start (quadratic in the document).
#[test]
fn the_outline_of_a_large_document_is_answered_in_linear_time() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/large.rbac";
    let mut text = String::from("resource w { actions read; }\n");
    (0..20_000).for_each(|i| text.push_str(&format!("role r{i} {{ allow read on w; }}\n")));
    // All assigned: no warning each to publish.
    let all: Vec<String> = (0..20_000).map(|i| format!("r{i}")).collect();
    text.push_str(&format!("assign {} to everyone;\n", all.join(", ")));
    editor.open(uri, &text);
    editor.diagnostics_until(uri);
    let started = std::time::Instant::now();
    let outline = editor.request(2, "textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    let symbols = outline["result"].as_array().expect("symbols");
    assert_eq!(symbols.len(), 20_001);
    assert_eq!(symbols[20_000]["range"]["start"], json!({"line": 20_000, "character": 5}));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(editor.shut_down(3), Some(0));
}

#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let mut editor = Editor::initialized();
    editor.notify("exit", Value::Null);
    assert_eq!(editor.child.wait().expect("exit").code(), Some(1));
}

#[test]
fn files_changed_or_created_on_disk_are_read_again_when_the_editor_says_so() {
    let temp = common::TempDir::new("lsp-watch");
    let dir = temp.0.clone();
    let (root, module, created) = (dir.join("main.rbac"), dir.join("roles.rbac"), dir.join("later.rbac"));
    std::fs::write(&module, "resource workspace { actions read; }\n").expect("write");
    let root_uri = uri(&root);

    let mut editor = Editor::start();
    let capabilities = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    editor.request(1, "initialize", json!({ "capabilities": capabilities }));
    // The server asks the editor to watch the policy files; the editor's answer needs none.
    editor.notify("initialized", json!({}));
    let ask = editor.next();
    assert_eq!(ask["method"], "client/registerCapability", "{ask}");
    let registration = &ask["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    assert_eq!(registration["registerOptions"]["watchers"][0]["globPattern"], "**/*.rbac");
    editor.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": null}));

    // `viewer` is in neither file yet, and `later.rbac` does not exist.
    let text = "use \"roles.rbac\";\nuse \"later.rbac\";\nassign viewer to user:a on workspace:w;\n";
    editor.open(&root_uri, text);
    let codes = |published: Vec<(String, Vec<Value>)>| -> Vec<String> {
        let (_, list) = published.last().expect("the document's diagnostics");
        list.iter().map(|d| d["code"].as_str().expect("a code").to_string()).collect()
    };
    assert_eq!(codes(editor.diagnostics_until(&root_uri)), ["E0209"], "the file that cannot be read");

    // The missing file is created: the document is checked again and only the role is unknown.
    std::fs::write(&created, "// nothing yet\n").expect("write");
    let created_event = json!({"changes": [{"uri": uri(&created), "type": 1}]});
    editor.notify("workspace/didChangeWatchedFiles", created_event);
    assert_eq!(codes(editor.diagnostics_until(&root_uri)), ["E0201"]);

    // The used file gains the role on disk: clean.
    std::fs::write(&module, "resource workspace { actions read; }\nrole viewer { allow read on *; }\n").expect("write");
    editor.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": uri(&module), "type": 2}]}));
    assert_eq!(codes(editor.diagnostics_until(&root_uri)), Vec::<String>::new());

    // A file no document reads changes: nothing is checked, the next message is the reply.
    let other = dir.join("other.rbac");
    editor.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": uri(&other), "type": 1}]}));
    assert_eq!(editor.request(2, "shutdown", Value::Null)["result"], Value::Null);
}

#[test]
fn without_the_editor_watching_files_initialized_asks_nothing() {
    let mut editor = Editor::start();
    editor.request(1, "initialize", json!({"capabilities": {}}));
    editor.notify("initialized", json!({}));
    assert_eq!(editor.request(2, "shutdown", Value::Null)["result"], Value::Null);
}

#[test]
fn requests_before_initialize_and_messages_that_are_no_object_get_the_protocols_errors() {
    let mut editor = Editor::start();
    let early = editor.request(1, "textDocument/hover", json!({}));
    assert_eq!(early["error"]["code"], -32002, "{early}");
    editor.send_raw(b"null");
    assert_eq!(editor.next()["error"]["code"], -32600);
    editor.send_raw(b"[]");
    assert_eq!(editor.next()["error"]["code"], -32600);
    assert!(editor.request(2, "initialize", json!({}))["result"]["capabilities"].is_object());
    assert_eq!(editor.request(3, "textDocument/hover", json!({}))["result"], Value::Null);
    assert_eq!(editor.request(4, "shutdown", Value::Null)["result"], Value::Null);
}

/// Two open documents use one closed file: what either document's check finds there stays
/// shown until neither does; an error only one document's context makes (a name declared
/// again in an open file it uses) is shown in that file too.
#[test]
fn a_file_used_by_several_documents_shows_what_any_of_them_finds() {
    let temp = common::TempDir::new("lsp-shared");
    let dir = temp.0.clone();
    let lib = dir.join("lib.rbac");
    std::fs::write(&lib, "resource doc { actions read; }\nrole bad { allow nope on doc; }\n").expect("write");
    let (a, b, lib_uri) = (uri(&dir.join("a.rbac")), uri(&dir.join("b.rbac")), uri(&lib));
    let mut editor = Editor::initialized();
    let codes_in = |published: &[(String, Vec<Value>)], file: &str| -> Option<Vec<String>> {
        let (_, list) = published.iter().rev().find(|(u, _)| u == file)?;
        Some(list.iter().map(|d| d["code"].as_str().expect("a code").to_string()).collect())
    };
    editor.open(&a, "use \"lib.rbac\";\n");
    assert_eq!(codes_in(&editor.diagnostics_until(&a), &lib_uri), Some(vec!["E0203".to_string()]));
    editor.open(&b, "use \"lib.rbac\";\n");
    // lib's list is unchanged by b's check: not published again.
    assert_eq!(codes_in(&editor.diagnostics_until(&b), &lib_uri), None);
    // a no longer uses lib, then closes: b still does, so lib keeps its error.
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": a, "version": 2}, "contentChanges": [{"text": "resource x;\n"}]}),
    );
    assert_eq!(codes_in(&editor.diagnostics_until(&a), &lib_uri), None, "lib is not cleared");
    editor.notify("textDocument/didClose", json!({"textDocument": {"uri": a}}));
    editor.notify("textDocument/didClose", json!({"textDocument": {"uri": b}}));
    // Closing b leaves no document that reads lib: cleared.
    let published = editor.diagnostics_until(&b);
    assert_eq!(codes_in(&published, &lib_uri), Some(Vec::new()), "{published:?}");

    // lib open, and a declares again a role lib declares: E0207 (as `rbac check a.rbac`
    // says) shows in lib, though lib's own check has only a warning.
    std::fs::write(dir.join("lib2.rbac"), "").expect("write");
    let lib2 = uri(&dir.join("lib2.rbac"));
    editor.open(&lib2, "role dup {}\n");
    let own = editor.diagnostics_until(&lib2);
    assert_eq!(codes_in(&own, &lib2), Some(vec!["W0001".to_string()]));
    editor.open(&a, "use \"lib2.rbac\";\nrole dup {}\n");
    let published = editor.diagnostics_until(&a);
    let all: Vec<String> = published.iter().flat_map(|(_, l)| l.iter().map(|d| d["code"].to_string())).collect();
    assert!(all.iter().any(|c| c.contains("E0207")), "{published:?}");
    assert_eq!(editor.request(9, "shutdown", Value::Null)["result"], Value::Null);
    // After shutdown, requests are refused; `exit` ends the session with 0.
    assert_eq!(editor.request(10, "textDocument/hover", json!({}))["error"]["code"], -32600);
    editor.notify("exit", Value::Null);
    assert_eq!(editor.child.wait().expect("exit").code(), Some(0));
}

/// Hover shows the declaration the name belongs to, though others share its line.
#[test]
fn hover_shows_the_declaration_not_the_first_item_of_its_line() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/one-line.rbac";
    let text = "resource doc { actions read; } role a { allow read on doc; } role b extends a { allow read on doc; }\nassign b to user:x;\n";
    editor.open(uri, text);
    editor.diagnostics_until(uri);
    let hover = |editor: &mut Editor, id: u64, line: u64, character: u64| {
        let at = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        editor.request(id, "textDocument/hover", at)["result"]["contents"]["value"].as_str().unwrap_or("").to_string()
    };
    let extends_a = text.find("extends a").expect("extends") as u64 + 8;
    assert_eq!(hover(&mut editor, 2, 0, extends_a), "```rbac\nrole a { allow read on doc; }\n```\none-line.rbac:1");
    assert!(hover(&mut editor, 3, 1, 7).starts_with("```rbac\nrole b extends a { allow read on doc; }\n```"));

    // A comment holding a fence does not end the block: the fence is longer than any run of
    // backticks in the item, and the file name is escaped.
    let uri = "file:///nowhere/a_[b].rbac";
    let text = "resource doc { actions read; }\nrole a { // ``` # heading [x](command:y)\n  allow read on doc; }\nassign a to user:x;\n";
    editor.open(uri, text);
    editor.diagnostics_until(uri);
    let at = json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 7}});
    let shown =
        editor.request(4, "textDocument/hover", at)["result"]["contents"]["value"].as_str().unwrap_or("").to_string();
    assert_eq!(
        shown,
        "````rbac\nrole a { // ``` # heading [x](command:y)\n  allow read on doc; }\n````\na\\_\\[b\\].rbac:2"
    );
}

/// A header without its length, or a header line without end, ends the session with an
/// error rather than swallowing what follows or growing without bound.
#[test]
fn a_header_without_a_length_or_without_end_ends_the_session() {
    for input in [&b"Content-Type: x\r\n\r\n{}"[..], &[b'A'; 10_000][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbac"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rbac lsp");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write");
        // The session is left open: the server must end it itself.
        let out = child.wait_with_output().expect("wait");
        drop(stdin);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Content-Length") || err.contains("header line over"), "{err}");
    }
}

/// A document with no file (`untitled:`) is named as the editor named it, in related
/// information too, and a file it `use`s (read from the server's working directory) by its
/// whole `file:` URI.
#[test]
fn a_document_without_a_file_and_what_it_uses_are_named_by_usable_uris() {
    let mut editor = Editor::initialized();
    let uri = "untitled:Untitled-1";
    let text = "use \"tests/ui/errors/E0201_unknown_role_did_you_mean.rbac\";\nrole a {}\nrole a {}\n";
    editor.open(uri, text);
    let published = editor.diagnostics_until(uri);
    let used = std::path::absolute("tests/ui/errors/E0201_unknown_role_did_you_mean.rbac").expect("the used file");
    let used_uri = format!("file://{}", used.display());
    assert!(published.iter().any(|(u, list)| *u == used_uri && !list.is_empty()), "{published:?}");
    let (_, own) = published.last().expect("the document's");
    let twice = own.iter().find(|d| d["code"] == "E0207").expect("E0207");
    assert_eq!(twice["relatedInformation"][0]["location"]["uri"], uri, "{twice}");
}

/// A name the standard library declares has no file to go to (not the resource types that
/// list it either), and an action declared only through an action set goes to the sets and
/// resource types that list it.
#[test]
fn definitions_of_standard_library_names_and_actions_in_sets() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/sets.rbac";
    let text = "use std::crud;\nactions reads = get, list;\nresource doc { actions crud, reads; }\nrole r { allow get, read on doc; }\nassign r to user:x;\n";
    editor.open(uri, text);
    editor.diagnostics_until(uri);
    let definition = |editor: &mut Editor, id: u64, line: u64, character: usize| {
        let at = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        editor.request(id, "textDocument/definition", at)["result"].clone()
    };
    let range = |line: u64, start: usize, len: usize| json!({"uri": uri, "range": {"start": {"line": line, "character": start}, "end": {"line": line, "character": start + len}}});
    // `crud` in the `use` line and in the resource: nothing to go to.
    assert_eq!(definition(&mut editor, 2, 0, "use std::cr".len()), Value::Null);
    assert_eq!(definition(&mut editor, 3, 2, "resource doc { actions cr".len()), Value::Null);
    // `get` in the role: listed by the set `reads`.
    let get = definition(&mut editor, 4, 3, "role r { allow g".len());
    assert_eq!(get, json!([range(1, "actions reads = ".len(), 3)]));
    // `reads` in the resource: the set.
    let reads = definition(&mut editor, 5, 2, "resource doc { actions crud, re".len());
    assert_eq!(reads, json!([range(1, "actions ".len(), 5)]));
}

/// Changes that come while a check runs are taken together: a burst of them is checked for
/// its last text, not once each (50 quick changes of a large document, each checked in turn,
/// kept a hover waiting for tens of seconds).
#[test]
fn a_burst_of_changes_is_checked_for_its_last_text() {
    let mut editor = Editor::initialized();
    let uri = "file:///nowhere/big.rbac";
    let roles: String = (0..3000).map(|i| format!("role r{i} extends viewer {{ allow read on doc; }}\n")).collect();
    let text = |version: usize| {
        format!(
            "resource doc {{ actions read; }}\nrole viewer {{ allow read on doc; }}\n{roles}assign veiwer{version} to user:a;\n"
        )
    };
    editor.open(uri, &text(0));
    editor.diagnostics_until(uri);
    let changes = 30;
    for version in 1..=changes {
        editor.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version + 1}, "contentChanges": [{"text": text(version)}]}),
        );
    }
    editor.send(json!({"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover",
        "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 10}}}));
    let mut published = Vec::new();
    loop {
        let m = editor.next();
        if m["id"] == 99 {
            break;
        }
        published.push(m["params"]["diagnostics"].to_string());
    }
    // The last text's diagnostics came before the reply, and far fewer checks than changes.
    assert!(published.last().is_some_and(|d| d.contains(&format!("veiwer{changes}"))), "{:.300}", published.join("\n"));
    assert!(published.len() <= changes / 2, "{} publications for {changes} changes", published.len());
}
