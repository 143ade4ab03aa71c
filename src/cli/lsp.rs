//! `rbac lsp`: a language server on standard input and output, for editors. It checks each
//! open policy as `rbac check` does (with the files it `use`s, open ones as the editor holds
//! them) and publishes the diagnostics on every change, formats a document as `rbac fmt`
//! does, gives its keywords, strings, comments, numbers and operators for highlighting, finds
//! where a name is declared, shows the declaration on hover and outlines a document, and checks
//! the open documents again when a file they read changes on disk. JSON-RPC 2.0 with
//! `Content-Length` framing (the Language Server Protocol, full document sync, positions in
//! UTF-16 code units).

use rbac::diag::{Diagnostic, Label, Severity};
use rbac::source::{FsLoader, Loaded, Loader};
use rbac::syntax::ast::Item;
use rbac::syntax::{TokenClass, highlight};
use rbac::{Diagnostics, Sources};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// A message larger than this is refused without being read (a policy of 64 MiB is far
/// beyond any an editor holds).
const MAX_MESSAGE: usize = 64 << 20;
/// The longest header line read (`Content-Length: N` needs some 30 bytes).
const MAX_HEADER: usize = 4096;

/// Serves one editor until it says `exit` or closes the input: exit 0 after `shutdown`, else 1.
/// Messages are read on a thread of their own, so that the changes an editor sends while a
/// check runs are taken together: documents are checked (and diagnostics published) when no
/// message waits, or before a message that needs them, once for a burst of changes.
pub fn run() -> ExitCode {
    // A few messages queued at most (each may be a whole document).
    let (sender, queue) = std::sync::mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        loop {
            let message = read_message(&mut input);
            let last = !matches!(message, Ok(Some(_)));
            if sender.send(message).is_err() || last {
                break;
            }
        }
    });
    let mut output = std::io::stdout().lock();
    let mut server = Server::default();
    loop {
        let next = match queue.try_recv() {
            Ok(message) => message,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                // Nothing waits: the changes so far are checked before waiting for more.
                for reply in server.flush() {
                    if write_message(&mut output, &reply).is_err() {
                        return ExitCode::from(1);
                    }
                }
                queue.recv().unwrap_or(Ok(None))
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Ok(None),
        };
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => return ExitCode::from(u8::from(!server.shut_down)),
            Err(e) => {
                eprintln!("rbac lsp: {e}");
                return ExitCode::from(1);
            }
        };
        let replies = match serde_json::from_slice::<Value>(&message) {
            Ok(request) => server.handle(&request),
            Err(e) => vec![error_reply(&Value::Null, -32700, &format!("not JSON: {e}"))],
        };
        for reply in replies {
            if write_message(&mut output, &reply).is_err() {
                return ExitCode::from(1);
            }
        }
        if server.exited {
            return ExitCode::from(u8::from(!server.shut_down));
        }
    }
}

/// One message's body; `None` at the end of the input.
fn read_message(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut length = None;
    let mut line = Vec::new();
    let mut headers = 0;
    loop {
        line.clear();
        // A header line is short: one that is not (a stream out of step) ends the session
        // rather than grow without bound.
        let read = std::io::Read::take(&mut *input, MAX_HEADER as u64 + 1).read_until(b'\n', &mut line);
        if read.map_err(|e| e.to_string())? == 0 {
            return if headers == 0 { Ok(None) } else { Err("the input ended inside a message's header".into()) };
        }
        if line.len() > MAX_HEADER {
            return Err(format!("a header line over {MAX_HEADER} bytes"));
        }
        let header = String::from_utf8_lossy(&line);
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            if length.is_some() {
                break;
            }
            // Blank lines before a message are passed over; a header without its length is
            // not a message the stream can go on after.
            if headers == 0 {
                continue;
            }
            return Err("a message without a Content-Length header".into());
        }
        headers += 1;
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse::<usize>().map_err(|_| format!("bad Content-Length `{}`", value.trim()))?);
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_MESSAGE {
        return Err(format!("a message of {length} bytes, more than {MAX_MESSAGE}"));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(Some(body))
}

fn write_message(output: &mut impl Write, message: &Value) -> std::io::Result<()> {
    let body = message.to_string();
    write!(output, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    output.flush()
}

fn error_reply(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[derive(Default)]
struct Server {
    /// The open documents' texts, by path.
    open: BTreeMap<String, String>,
    /// The URI the editor named each open document by (published back as it was given, not
    /// as [`uri_of`] would spell it).
    uris: BTreeMap<String, String>,
    /// For each open document, the diagnostics its last check gave, by file (itself included).
    /// What is published for a file is the union over the open documents ([`Server::merged`]).
    found: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
    /// What was last published for each file that shows diagnostics.
    shown: BTreeMap<String, Vec<Value>>,
    /// For each open document, the files its last check read.
    reads: BTreeMap<String, BTreeSet<String>>,
    /// For each open document, the files its last check could not read (a `use` of a file not
    /// yet created).
    missing: BTreeMap<String, BTreeSet<String>>,
    /// Whether the editor lets the server ask it to watch files (`client/registerCapability`
    /// for `workspace/didChangeWatchedFiles`), as `initialize` said.
    can_watch: bool,
    /// Open documents to check (changed or opened, or using one that was), in order.
    dirty: Vec<String>,
    /// Whether `initialize` has come.
    initialized: bool,
    shut_down: bool,
    exited: bool,
}

/// The id of the server's one request to the editor: to watch the policy files.
const WATCH_REQUEST: &str = "rbac/watch";

impl Server {
    /// Handles a message: a change or an opened document is checked later ([`Server::flush`]),
    /// any other message after the changes before it are checked.
    fn handle(&mut self, message: &Value) -> Vec<Value> {
        let method = message.get("method").and_then(Value::as_str);
        let mut messages = match method {
            Some("textDocument/didOpen" | "textDocument/didChange") => Vec::new(),
            // Nothing is checked on the way out.
            Some("shutdown" | "exit") => {
                self.dirty.clear();
                Vec::new()
            }
            _ => self.flush(),
        };
        messages.extend(self.handle_now(message));
        messages
    }

    /// Checks the documents changed or opened since the last check, publishing what changed.
    fn flush(&mut self) -> Vec<Value> {
        if self.dirty.is_empty() || self.shut_down {
            self.dirty.clear();
            return Vec::new();
        }
        let mut roots: Vec<String> = Vec::new();
        for root in std::mem::take(&mut self.dirty) {
            if self.open.contains_key(&root) && !roots.contains(&root) {
                roots.push(root);
            }
        }
        self.check(&roots, BTreeSet::new())
    }

    fn handle_now(&mut self, message: &Value) -> Vec<Value> {
        // One message is one object (the protocol has no batches).
        if !message.is_object() {
            return vec![error_reply(&Value::Null, -32600, "a message must be a JSON object")];
        }
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        // Before `initialize`, requests get the protocol's "not initialized" error and
        // notifications are dropped (but `exit`).
        if !self.initialized && method != "initialize" && method != "exit" {
            return match message.get("id") {
                Some(id) if message.get("method").is_some() => {
                    vec![error_reply(id, -32002, "the server is not initialized: send `initialize` first")]
                }
                _ => Vec::new(),
            };
        }
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let uri = params.pointer("/textDocument/uri").and_then(Value::as_str).unwrap_or("");
        // The editor's answer to the server's request (to watch files): nothing to do either way.
        if message.get("method").is_none() && (message.get("result").is_some() || message.get("error").is_some()) {
            return Vec::new();
        }
        let Some(id) = message.get("id") else {
            // A notification: nothing is answered.
            return match method {
                // Files the documents `use` are read from disk when not open: the editor is
                // asked to say when a policy file changes there.
                "initialized" if self.can_watch => vec![json!({
                    "jsonrpc": "2.0",
                    "id": WATCH_REQUEST,
                    "method": "client/registerCapability",
                    "params": {"registrations": [{
                        "id": WATCH_REQUEST,
                        "method": "workspace/didChangeWatchedFiles",
                        "registerOptions": {"watchers": [{"globPattern": "**/*.rbac"}]},
                    }]},
                })],
                "workspace/didChangeWatchedFiles" => {
                    let changes = params.get("changes").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                    let paths: BTreeSet<String> = changes
                        .iter()
                        .filter_map(|c| c.get("uri").and_then(Value::as_str))
                        .map(path_of)
                        .filter(|p| !self.open.contains_key(p))
                        .collect();
                    let roots = self.changed(&paths);
                    self.check(&roots, BTreeSet::new())
                }
                "textDocument/didOpen" if !uri.is_empty() => {
                    let text = params.pointer("/textDocument/text").and_then(Value::as_str).unwrap_or("");
                    let path = path_of(uri);
                    self.open.insert(path.clone(), text.to_string());
                    self.uris.insert(path.clone(), uri.to_string());
                    let roots: Vec<String> = std::iter::once(path.clone()).chain(self.readers(&path)).collect();
                    self.dirty.extend(roots);
                    Vec::new()
                }
                // Only an open document changes; full sync: the last change holds the whole text.
                "textDocument/didChange" if self.open.contains_key(&path_of(uri)) => {
                    let changes = params.get("contentChanges").and_then(Value::as_array);
                    let path = path_of(uri);
                    if let Some(text) =
                        changes.and_then(|c| c.last()).and_then(|c| c.get("text")).and_then(Value::as_str)
                    {
                        self.open.insert(path.clone(), text.to_string());
                    }
                    let roots: Vec<String> = std::iter::once(path.clone()).chain(self.readers(&path)).collect();
                    self.dirty.extend(roots);
                    Vec::new()
                }
                // A closed document's diagnostics are cleared; those that use it read it from disk
                // again.
                "textDocument/didClose" if self.open.contains_key(&path_of(uri)) => {
                    let path = path_of(uri);
                    self.open.remove(&path);
                    self.reads.remove(&path);
                    self.missing.remove(&path);
                    let mut files: BTreeSet<String> =
                        self.found.remove(&path).unwrap_or_default().into_keys().collect();
                    files.insert(path.clone());
                    let roots = self.readers(&path);
                    let mut messages = self.check(&roots, files);
                    // The closed document is always told what it shows now (most often nothing).
                    let target = self.uri(&path);
                    if !messages.iter().any(|m| m.pointer("/params/uri").and_then(Value::as_str) == Some(&target)) {
                        let list = self.merged(&path);
                        messages.push(self.publish(&path, list));
                    }
                    self.uris.remove(&path);
                    messages
                }
                "exit" => {
                    self.exited = true;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        };
        // After `shutdown` only `exit` is expected: other requests are refused.
        if self.shut_down {
            return vec![error_reply(id, -32600, "the server is shut down: only `exit` is expected")];
        }
        let result = match method {
            "initialize" => {
                self.initialized = true;
                self.can_watch = params
                    .pointer("/capabilities/workspace/didChangeWatchedFiles/dynamicRegistration")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                json!({
                "capabilities": {
                    "textDocumentSync": {"openClose": true, "change": 1},
                    "documentFormattingProvider": true,
                    "definitionProvider": true,
                    "hoverProvider": true,
                    "documentSymbolProvider": true,
                    "semanticTokensProvider": {
                        "legend": {"tokenTypes": TOKEN_TYPES, "tokenModifiers": []},
                        "full": true,
                    },
                },
                "serverInfo": {"name": "rbac", "version": env!("CARGO_PKG_VERSION")},
                })
            }
            "shutdown" => {
                self.shut_down = true;
                Value::Null
            }
            "textDocument/formatting" => self.format(uri),
            "textDocument/definition" => self.definition(uri, params.get("position").unwrap_or(&Value::Null)),
            "textDocument/hover" => self.hover(uri, params.get("position").unwrap_or(&Value::Null)),
            "textDocument/documentSymbol" => self.symbols(uri),
            "textDocument/semanticTokens/full" => match self.open.get(&path_of(uri)) {
                Some(text) => json!({"data": semantic_tokens(text)}),
                None => Value::Null,
            },
            _ => return vec![error_reply(id, -32601, &format!("rbac lsp does not handle `{method}`"))],
        };
        vec![json!({"jsonrpc": "2.0", "id": id, "result": result})]
    }

    /// The open documents other than `path` whose last check read it.
    fn readers(&self, path: &str) -> Vec<String> {
        self.reads.iter().filter(|(root, read)| *root != path && read.contains(path)).map(|(r, _)| r.clone()).collect()
    }

    /// The open documents whose last check read one of the files changed on disk, or that
    /// reported a file missing (one may have been created).
    fn changed(&self, paths: &BTreeSet<String>) -> Vec<String> {
        self.reads
            .iter()
            .filter(|(root, read)| {
                !read.is_disjoint(paths) || self.missing.get(*root).is_some_and(|m| !m.is_disjoint(paths))
            })
            .map(|(root, _)| root.clone())
            .collect()
    }

    /// Checks each of `roots` as the root of a policy, then publishes once every file whose
    /// diagnostics changed hands: those these checks or the roots' last ones found (stdlib
    /// modules aside, which have no file) and `also`; other files first, the roots last, in
    /// their order. All checks come first, so nothing is published from a check about to be
    /// replaced.
    fn check(&mut self, roots: &[String], also: BTreeSet<String>) -> Vec<Value> {
        let mut files = also;
        for root in roots {
            let editor = Editor::new(&self.open);
            let compiled = rbac::compile(&editor, &[root.as_str()]);
            let read = compiled.sources.files().iter().map(|f| f.name.clone()).collect();
            self.reads.insert(root.clone(), read);
            self.missing.insert(root.clone(), editor.missed.into_inner());
            let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for d in compiled.diagnostics.iter() {
                let file = compiled.sources.name(d.primary.span.file).to_string();
                by_file.entry(file).or_default().push(to_lsp(&compiled.sources, d, |p| self.uri(p)));
            }
            by_file.retain(|f, _| !stdlib(f));
            files.extend(by_file.keys().cloned());
            files.extend(self.found.insert(root.clone(), by_file).unwrap_or_default().into_keys());
        }
        // Other files only when what they show changes; the roots always (the editor waits for
        // a document's diagnostics after each change).
        let mut messages = Vec::new();
        for f in files.iter().filter(|f| !roots.contains(f)) {
            let list = self.merged(f);
            if self.shown.get(f).map_or(&[][..], Vec::as_slice) != list.as_slice() {
                messages.push(self.publish(f, list));
            }
        }
        for r in roots {
            let list = self.merged(r);
            messages.push(self.publish(r, list));
        }
        messages
    }

    /// The diagnostics to show for `file`: where it is open, those of its own check, and the
    /// errors other open documents' checks found in it (an error may arise only with what a
    /// document adds, as a name it declares again); where it is not, everything every open
    /// document's check found in it. Each once.
    fn merged(&self, file: &str) -> Vec<Value> {
        let open = self.open.contains_key(file);
        let mut list: Vec<Value> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let own = self.found.get(file).and_then(|f| f.get(file)).filter(|_| open);
        let others = self.found.iter().filter(|(root, _)| *root != file).filter_map(|(_, f)| f.get(file));
        for d in own.into_iter().flatten() {
            seen.insert(d.to_string());
            list.push(d.clone());
        }
        for d in others.flatten() {
            let shown = !open || d.get("severity") == Some(&json!(1));
            if shown && seen.insert(d.to_string()) {
                list.push(d.clone());
            }
        }
        list
    }

    fn publish(&mut self, path: &str, diagnostics: Vec<Value>) -> Value {
        let uri = self.uri(path);
        if diagnostics.is_empty() {
            self.shown.remove(path);
        } else {
            self.shown.insert(path.to_string(), diagnostics.clone());
        }
        json!({
            "jsonrpc": "2.0",
            "method": "textDocument/publishDiagnostics",
            "params": {"uri": uri, "diagnostics": diagnostics},
        })
    }

    /// Where the name under the cursor is declared, in the document or the files it `use`s: a
    /// role, resource type, group, identity or action set of that name (all of them, should
    /// several kinds share it), else the resource types that list it as an action. Nothing in a
    /// comment or string, or for a name declared nowhere (a user's id).
    fn definition(&self, uri: &str, position: &Value) -> Value {
        let root = path_of(uri);
        let Some(text) = self.open.get(&root) else { return Value::Null };
        let line = position.get("line").and_then(Value::as_u64).unwrap_or(0);
        let character = position.get("character").and_then(Value::as_u64).unwrap_or(0);
        let Some(offset) = offset_of(text, line, character) else { return Value::Null };
        let quoted = highlight(text).into_iter().any(|h| {
            matches!(h.class, TokenClass::Comment | TokenClass::String) && h.start <= offset && offset < h.end
        });
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let start = text.get(..offset).map_or(offset, |t| t.trim_end_matches(word).len());
        let end = text.get(offset..).map_or(offset, |t| offset + t.len() - t.trim_start_matches(word).len());
        let name = text.get(start..end).unwrap_or("");
        if quoted || name.is_empty() {
            return Value::Null;
        }
        let compiled = rbac::compile(&Editor::new(&self.open), &[root.as_str()]);
        let (mut declared, mut listed) = (Vec::new(), Vec::new());
        // A name the standard library declares (`crud`) has no file to go to: not the
        // resource types that list it either.
        let mut in_stdlib = false;
        for (id, file) in compiled.sources.files().iter().enumerate() {
            let Ok(id) = u32::try_from(id) else { continue };
            let ast = rbac::syntax::parse_partial(id, &file.text, &mut Diagnostics::default());
            if stdlib(&file.name) {
                in_stdlib |= ast.items.iter().any(|item| match item {
                    Item::ActionSet(a) => a.name.name == name,
                    Item::Role(r) => r.name.name == name,
                    Item::Resource(r) => r.name.name == name,
                    Item::Group(g) => g.name.name == name,
                    Item::Identity(i) => i.name.name == name,
                    _ => false,
                });
                continue;
            }
            let at = |span: rbac::diag::Span| json!({"uri": self.uri(&file.name), "range": range(&compiled.sources, &Label { span, message: String::new() })});
            for item in &ast.items {
                let names: Vec<&rbac::syntax::ast::Ident> = match item {
                    Item::Role(r) => vec![&r.name],
                    Item::Resource(r) => {
                        listed.extend(r.actions.iter().filter(|a| a.text == name).map(|a| at(a.span)));
                        vec![&r.name]
                    }
                    Item::Group(g) => vec![&g.name],
                    Item::Identity(i) => vec![&i.name],
                    Item::ActionSet(a) => {
                        // An action declared through a set: the sets that list it.
                        listed.extend(a.members.iter().filter(|m| m.text == name).map(|m| at(m.span)));
                        vec![&a.name]
                    }
                    _ => Vec::new(),
                };
                declared.extend(names.into_iter().filter(|n| n.name == name).map(|n| at(n.span)));
            }
        }
        match (declared.is_empty(), listed.is_empty()) {
            (false, _) => Value::Array(declared),
            (true, false) if !in_stdlib => Value::Array(listed),
            _ => Value::Null,
        }
    }

    /// The declarations of the name under the cursor (those [`Server::definition`] finds), as
    /// their source text, each with the file and line it is in.
    fn hover(&self, uri: &str, position: &Value) -> Value {
        let Value::Array(locations) = self.definition(uri, position) else { return Value::Null };
        let mut shown = Vec::new();
        for l in &locations {
            let Some(target) = l.get("uri").and_then(Value::as_str) else { continue };
            let line = l.pointer("/range/start/line").and_then(Value::as_u64).unwrap_or(0);
            let path = path_of(target);
            let Ok(file) = (Editor::new(&self.open)).load(&path) else { continue };
            let character = l.pointer("/range/start/character").and_then(Value::as_u64).unwrap_or(0);
            let Some(name) = offset_of(&file.text, line, character) else { continue };
            let item = item_at(&file.text, item_start(&file.text, name));
            let name = path.rsplit('/').next().unwrap_or(&path);
            // A fence longer than any run of backticks in the item (a comment may hold ```),
            // and the file name escaped: neither is read as markdown.
            let longest = item.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            let name: String = name
                .chars()
                .flat_map(|c| if "\\`*_[]<>()#!|~{}".contains(c) { vec!['\\', c] } else { vec![c] })
                .collect();
            shown.push(format!("{fence}rbac\n{item}\n{fence}\n{name}:{}", line + 1));
        }
        if shown.is_empty() {
            return Value::Null;
        }
        json!({"contents": {"kind": "markdown", "value": shown.join("\n\n---\n\n")}})
    }

    /// The document's outline: its resource types, action sets, groups, identities, roles and
    /// tests, in file order; while it has a syntax error, the items that parse (the outline
    /// does not vanish while an item is being typed).
    fn symbols(&self, uri: &str) -> Value {
        let Some(text) = self.open.get(&path_of(uri)) else { return Value::Null };
        let mut sources = Sources::default();
        let id = sources.add(String::new(), text.clone());
        let ast = rbac::syntax::parse_partial(id, text, &mut Diagnostics::default());
        // The protocol's symbol kinds: module 2, class 5, enum 10, interface 11, function 12,
        // struct 23.
        let symbols: Vec<Value> = ast
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Resource(r) => Some((r.name.name.to_string(), 23, r.name.span)),
                Item::ActionSet(a) => Some((a.name.name.to_string(), 10, a.name.span)),
                Item::Group(g) => Some((g.name.name.to_string(), 11, g.name.span)),
                Item::Identity(i) => Some((i.name.name.to_string(), 2, i.name.span)),
                Item::Role(r) => Some((r.name.name.to_string(), 5, r.name.span)),
                Item::Test(t) => Some((format!("test \"{}\"", t.name), 12, t.span)),
                _ => None,
            })
            .map(|(name, kind, span)| {
                let range = range(&sources, &Label { span, message: String::new() });
                json!({"name": name, "kind": kind, "range": range, "selectionRange": range})
            })
            .collect();
        Value::Array(symbols)
    }

    /// The URI of a file: as the editor named it when open, else its `file:` URI (a relative
    /// path, which a document without a file, `untitled:`, `use`s, is read from the server's
    /// working directory, and named so).
    fn uri(&self, path: &str) -> String {
        self.uris.get(path).cloned().unwrap_or_else(|| match std::path::absolute(path) {
            Ok(full) => uri_of(&full.to_string_lossy()),
            Err(_) => uri_of(path),
        })
    }

    /// The edits that format an open document: none when it is formatted or has syntax errors
    /// (which its diagnostics show).
    fn format(&self, uri: &str) -> Value {
        let Some(text) = self.open.get(&path_of(uri)) else { return Value::Null };
        let Ok(formatted) = rbac::syntax::format(0, text, &mut Diagnostics::default()) else { return json!([]) };
        if formatted == *text {
            return json!([]);
        }
        json!([{"range": {"start": {"line": 0, "character": 0}, "end": end_of(text)}, "newText": formatted}])
    }
}

/// Whether a file read is a module of the embedded standard library (`use std::crud;`),
/// which has no file an editor could open.
fn stdlib(name: &str) -> bool {
    rbac::source::STDLIB
        .iter()
        .any(|(module, _)| name.strip_prefix("std/").and_then(|n| n.strip_suffix(".rbac")) == Some(*module))
}

/// The semantic token types, in the order of [`TokenClass`]'s variants.
const TOKEN_TYPES: [&str; 5] = ["keyword", "string", "comment", "number", "operator"];

/// The protocol's encoding of a document's highlights: five numbers a token (line and column
/// from the token before, length, type, no modifiers), a token over several lines cut into
/// one a line.
fn semantic_tokens(text: &str) -> Vec<u32> {
    let mut data = Vec::new();
    // Where the reading has got to, and where the last token written starts.
    let (mut at, mut line, mut column) = (0usize, 0u32, 0u32);
    let (mut last_line, mut last_column) = (0u32, 0u32);
    for h in highlight(text) {
        for c in text.get(at..h.start).unwrap_or("").chars() {
            if c == '\n' {
                line += 1;
                column = 0;
            } else {
                column += u32::try_from(c.len_utf16()).unwrap_or(1);
            }
        }
        let kind = match h.class {
            TokenClass::Keyword => 0,
            TokenClass::String => 1,
            TokenClass::Comment => 2,
            TokenClass::Number => 3,
            TokenClass::Operator => 4,
        };
        for (i, piece) in text.get(h.start..h.end).unwrap_or("").split('\n').enumerate() {
            if i > 0 {
                line += 1;
                column = 0;
            }
            let units = |s: &str| u32::try_from(s.encode_utf16().count()).unwrap_or(u32::MAX);
            let length = units(piece.trim_end_matches('\r'));
            if length > 0 {
                let delta_line = line - last_line;
                let delta_column = if delta_line == 0 { column - last_column } else { column };
                data.extend([delta_line, delta_column, length, kind, 0]);
                (last_line, last_column) = (line, column);
            }
            column += units(piece);
        }
        at = h.end;
    }
    data
}

/// Files as the editor holds them where open, else as on disk.
struct Editor<'a> {
    open: &'a BTreeMap<String, String>,
    /// The files asked for that could not be read.
    missed: std::cell::RefCell<BTreeSet<String>>,
}

impl Editor<'_> {
    fn new(open: &BTreeMap<String, String>) -> Editor<'_> {
        Editor { open, missed: Default::default() }
    }
}

impl Loader for Editor<'_> {
    fn load(&self, path: &str) -> Result<Loaded, String> {
        match self.open.get(path) {
            Some(text) => Ok(Loaded { key: path.to_string(), name: path.to_string(), text: text.clone() }),
            None => FsLoader.load(path).inspect_err(|_| {
                self.missed.borrow_mut().insert(path.to_string());
            }),
        }
    }
}

/// A diagnostic as the protocol has it: the primary label's range, the message with the
/// label, help and notes, the secondary labels as related information.
fn to_lsp(sources: &Sources, d: &Diagnostic, uri: impl Fn(&str) -> String) -> Value {
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() {
        message.push_str(&format!("\n{}", d.primary.message));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    for note in &d.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    let related: Vec<Value> = d
        .secondary
        .iter()
        .map(|l| {
            json!({
                "location": {"uri": uri(sources.name(l.span.file)), "range": range(sources, l)},
                "message": l.message,
            })
        })
        .collect();
    json!({
        "range": range(sources, &d.primary),
        "severity": match d.severity { Severity::Error => 1, Severity::Warning => 2 },
        "code": d.code,
        "source": "rbac",
        "message": message,
        "relatedInformation": related,
    })
}

fn range(sources: &Sources, label: &Label) -> Value {
    // From the sources' table of line starts: an outline of many items asks for many ranges.
    let at = |offset: u32| match sources.line_of(label.span.file, offset as usize) {
        Some((file, at, line, start)) => line_character(line, file.text.get(start..at).unwrap_or("")),
        None => line_character(0, ""),
    };
    json!({"start": at(label.span.start), "end": at(label.span.end)})
}

/// Where the item declaring the name at `name` starts: at the keyword right before the name
/// (`role`, `resource`, `group`, `identity`, `actions`), else at the start of its line.
fn item_start(text: &str, name: usize) -> usize {
    let before = text.get(..name).unwrap_or("").trim_end();
    let word_start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |at| at + 1);
    match before.get(word_start..) {
        Some("role" | "resource" | "group" | "identity" | "actions") => word_start,
        _ => text.get(..name).and_then(|t| t.rfind('\n')).map_or(0, |at| at + 1),
    }
}

/// The text of the item starting at `start`: up to its `;` or the `}` that closes
/// it (brackets inside strings and comments aside), at most 20 lines (then `…`).
fn item_at(text: &str, start: usize) -> String {
    let rest = text.get(start..).unwrap_or("");
    // An item shown on hover is short: 64 KiB of the file is plenty to find its end.
    let limit = (0..=rest.len().min(1 << 16)).rev().find(|&at| rest.is_char_boundary(at)).unwrap_or(0);
    let rest = rest.get(..limit).unwrap_or("");
    let quoted: Vec<(usize, usize)> = highlight(rest)
        .into_iter()
        .filter(|h| matches!(h.class, TokenClass::Comment | TokenClass::String))
        .map(|h| (h.start, h.end))
        .collect();
    let mut depth = 0usize;
    let mut end = rest.len();
    let mut quoted = quoted.into_iter().peekable();
    for (at, c) in rest.char_indices() {
        while quoted.next_if(|&(_, e)| e <= at).is_some() {}
        if quoted.peek().is_some_and(|&(s, e)| s <= at && at < e) {
            continue;
        }
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && c == '}' {
                    end = at + 1;
                    break;
                }
            }
            ';' if depth == 0 => {
                end = at + 1;
                break;
            }
            _ => {}
        }
    }
    let item = rest.get(..end).unwrap_or(rest).trim_end();
    let lines: Vec<&str> = item.lines().collect();
    match lines.get(..20) {
        Some(first) if lines.len() > 20 => format!("{}\n…", first.join("\n")),
        _ => item.to_string(),
    }
}

/// Where each line after the first starts: past each line break as the protocol counts them
/// (`\n`, `\r\n`, and a `\r` alone).
fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().filter_map(move |(i, &b)| match b {
        b'\n' => Some(i + 1),
        b'\r' if bytes.get(i + 1) != Some(&b'\n') => Some(i + 1),
        _ => None,
    })
}

/// The byte offset of a line (from 0) and UTF-16 column; `None` past the text's end.
fn offset_of(text: &str, line: u64, character: u64) -> Option<usize> {
    let line_start = if line == 0 { 0 } else { line_starts(text).nth(usize::try_from(line - 1).ok()?)? };
    let mut units = 0u64;
    for (at, c) in text.get(line_start..)?.char_indices() {
        if units >= character || c == '\n' || c == '\r' {
            return Some(line_start + at);
        }
        units += u64::try_from(c.len_utf16()).ok()?;
    }
    Some(text.len())
}

/// The line (from 0) and UTF-16 column of a byte offset.
fn position(text: &str, offset: usize) -> Value {
    let offset = offset.min(text.len());
    let (mut line, mut line_start) = (0, 0);
    for start in line_starts(text).take_while(|&start| start <= offset) {
        (line, line_start) = (line + 1, start);
    }
    line_character(line, text.get(line_start..offset).unwrap_or(""))
}

/// A protocol position: the line from 0, and the column in UTF-16 units of the line's text
/// before it (`upto`).
fn line_character(line: usize, upto: &str) -> Value {
    json!({"line": line, "character": upto.encode_utf16().count()})
}

fn end_of(text: &str) -> Value {
    position(text, text.len())
}

/// The path of a `file:` URI (percent escapes decoded); other URIs stand for themselves.
fn path_of(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("file://") else { return uri.to_string() };
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `file:` URI of a path, with the characters a URI path may not hold escaped.
fn uri_of(path: &str) -> String {
    let mut uri = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~:@!$&'()*+,;=".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_paths_convert_both_ways() {
        for path in ["/home/ann/policies/zenml.rbac", "/tmp/a b/é+x.rbac", "/c%d/100%.rbac"] {
            assert_eq!(path_of(&uri_of(path)), path);
        }
        assert_eq!(uri_of("/tmp/a b/x.rbac"), "file:///tmp/a%20b/x.rbac");
        assert_eq!(path_of("file:///tmp/a%20b/x.rbac"), "/tmp/a b/x.rbac");
    }

    #[test]
    fn positions_count_lines_from_zero_and_columns_in_utf16() {
        let text = "ab\n\"é🦀\" x\n";
        assert_eq!(position(text, 0), json!({"line": 0, "character": 0}));
        assert_eq!(position(text, 3), json!({"line": 1, "character": 0}));
        // `"`, `é` (2 bytes, 1 unit), the crab (4 bytes, 2 units), `"`, a space: `x` at 6.
        assert_eq!(position(text, text.find('x').unwrap_or(0)), json!({"line": 1, "character": 6}));
        assert_eq!(end_of(text), json!({"line": 2, "character": 0}));
        // A `\r` alone ends a line too (the protocol counts `\n`, `\r\n` and `\r`); `\r\n`
        // is one line break.
        let text = "a\rbc\r\nd\ne";
        let at = |c: char| text.find(c).unwrap_or(0);
        assert_eq!(position(text, at('b')), json!({"line": 1, "character": 0}));
        assert_eq!(position(text, at('c')), json!({"line": 1, "character": 1}));
        assert_eq!(position(text, at('d')), json!({"line": 2, "character": 0}));
        assert_eq!(position(text, at('e')), json!({"line": 3, "character": 0}));
        for c in ['a', 'b', 'c', 'd', 'e'] {
            let Value::Object(p) = position(text, at(c)) else { panic!("a position") };
            let (line, character) = (p["line"].as_u64().unwrap_or(9), p["character"].as_u64().unwrap_or(9));
            assert_eq!(offset_of(text, line, character), Some(at(c)), "{c}");
        }
        assert_eq!(offset_of(text, 1, 9), Some(at('c') + 1), "a column past the line's end is its end");
    }

    #[test]
    fn semantic_tokens_are_relative_and_cut_at_line_ends() {
        // `é` is one UTF-16 unit, the crab two; the block comment spans two lines.
        let text = "group \"é🦀\"; /* a\nbc */ role";
        assert_eq!(
            semantic_tokens(text),
            vec![
                0, 0, 5, 0, 0, // group
                0, 6, 5, 1, 0, // "é🦀": 2 quotes + 1 + 2 units
                0, 7, 4, 2, 0, // "/* a", after `; `
                1, 0, 5, 2, 0, // "bc */"
                0, 6, 4, 0, 0, // role
            ]
        );
    }

    #[test]
    fn offsets_and_positions_convert_both_ways() {
        let text = "ab\n\"é🦀\" x\nlast";
        for offset in [0, 1, 3, 4, text.find('x').unwrap_or(0), text.len()] {
            let p = position(text, offset);
            let (line, character) = (p["line"].as_u64().unwrap_or(9), p["character"].as_u64().unwrap_or(99));
            assert_eq!(offset_of(text, line, character), Some(offset), "{p}");
        }
        assert_eq!(offset_of(text, 0, 50), Some(2), "a column past the line's end is its end");
        assert_eq!(offset_of(text, 7, 0), None);
    }

    #[test]
    fn an_item_runs_to_its_semicolon_or_closing_brace() {
        let text = "role r extends a { // }\n    allow read on x when \"}\" == \";\";\n}\nrole next {}";
        assert_eq!(item_at(text, 0), "role r extends a { // }\n    allow read on x when \"}\" == \";\";\n}");
        assert_eq!(item_at("group g from okta \"a;b\";\ngroup h;", 0), "group g from okta \"a;b\";");
        let long: String = (0..30).map(|i| format!("    allow a{i} on t;\n")).collect();
        let shown = item_at(&format!("role big {{\n{long}}}\n"), 0);
        assert_eq!(shown.lines().count(), 21);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn headers_frame_a_message_and_the_end_of_input_ends_reading() {
        let mut input: &[u8] = b"Content-Type: x\r\ncontent-length: 2\r\n\r\n{}Content-Length: 4\r\n\r\nnull";
        assert_eq!(read_message(&mut input), Ok(Some(b"{}".to_vec())));
        assert_eq!(read_message(&mut input), Ok(Some(b"null".to_vec())));
        assert_eq!(read_message(&mut input), Ok(None));
        let mut bad: &[u8] = b"Content-Length: x\r\n\r\n";
        assert!(read_message(&mut bad).is_err());
    }
}
