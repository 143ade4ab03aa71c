//! `rbac eval`: decides one JSON request or a stream of JSON Lines, printing one decision
//! per line in input order. A request spread over several lines is read whole.

use rbac::{Decision, Request};

use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;

/// The engine deciding the requests.
enum Decider {
    Native(Box<rbac::Policy>),
    Wasm(Box<rbac::wasm::WasmPolicy>),
}

impl Decider {
    fn decide(&mut self, req: &Request) -> Decision<'_> {
        match self {
            Decider::Native(p) => p.decide(req),
            Decider::Wasm(w) => w.decide(req),
        }
    }
}

pub fn run(
    policy: &str,
    input: &str,
    engine: super::Engine,
    keys: &super::token::KeyArgs,
    audit: &super::audit::LogArgs,
    jobs: Option<usize>,
) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let Some(policy) = super::load_policy(policy, "nothing was decided") else { return ExitCode::from(2) };
    let recorder = match audit.open(&policy) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Tokens are verified, and the groups their claims give explained, the same way
    // whichever engine decides.
    let verifier = match super::token::verifier(&policy, keys) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let identities = policy.clone();
    let native = matches!(engine, super::Engine::Native);
    let mut decider = match engine {
        super::Engine::Native => Decider::Native(Box::new(policy)),
        // With fuel: a module that failed to stop (a runtime bug) denies that request, with
        // an error, rather than hanging the command.
        super::Engine::Wasm => match rbac::wasm::emit(&policy)
            .and_then(|b| rbac::wasm::WasmPolicy::with_fuel(&b, rbac::wasm::DEFAULT_FUEL))
        {
            Ok(w) => Decider::Wasm(Box::new(w)),
            Err(e) => {
                eprintln!("error[{}]: {}", e.code, e.message);
                return ExitCode::from(2);
            }
        },
    };
    let reader: Box<dyn Read> = if input == "-" {
        Box::new(std::io::stdin())
    } else {
        match std::fs::File::open(input) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error[E0209]: cannot read `{input}`: {e}");
                return ExitCode::from(2);
            }
        }
    };
    // Without an audit log, a request is read straight from its text (`Request::from_json`);
    // the log keeps each request as it was given, so then it is read through a JSON value.
    let logging = recorder.is_some();
    let mut out = Output { recorder, held: Vec::new(), stdout: super::stdout(), failed: false };
    let mut pending = String::new();
    // A decision goes to the audit log (when asked for) before it is printed.
    let mut emit = |request: Result<Request, rbac::RequestError>,
                    mut logged: Option<serde_json::Value>,
                    text: &str,
                    out: &mut Output| {
        let decision = match request {
            Ok(req) => match verifier.resolve(&identities, &req) {
                Ok(resolved) => {
                    // A verified token is logged as the identity and claims it proved.
                    if let (rbac::Principal::Token(_), Some(p)) =
                        (&req.principal, logged.as_mut().and_then(|l| l.get_mut("principal")))
                    {
                        *p = serde_json::to_value(&resolved.principal).unwrap_or_default();
                    }
                    decider.decide(&resolved)
                }
                Err(e) => Decision::invalid(vec![e]),
            },
            Err(e) => Decision::invalid(vec![e]),
        };
        out.decision(logged, text, &decision)
    };
    // The request in `text` through a JSON value, with the value to log; `None` when the
    // document ends early.
    let through_value = |text: &str, eof_continues: bool| {
        let parsed = Request::json_value(text);
        if eof_continues && parsed.as_ref().is_err_and(serde_json::Error::is_eof) {
            return None;
        }
        Some(match parsed {
            Ok(value) => (Request::from_value(&value), logging.then_some(value)),
            Err(e) => (Err(rbac::RequestError::from(e)), None),
        })
    };
    // A line just read onto the end of the document it may continue (from `start` on in
    // `pending`), and that document decided when it is whole. `cut`: the line was longer than
    // `MAX_REQUEST` and not kept; it ends the document, which is decided as too large.
    let mut document = Document::default();
    // The rest of a document too large to keep, or gone wrong with its brackets open, is
    // passed over, line by line, until the brackets it opened close (or a line starts a
    // record): what it leaves open.
    // (A cell: the loop below reads it too, to keep passed-over lines from the threads.)
    let passing: std::cell::Cell<Option<Depth>> = std::cell::Cell::new(None);
    let mut feed = |mut start: usize, pending: &mut String, cut: Option<Dropped>, out: &mut Output| {
        if let Some(mut depth) = passing.take() {
            // Nothing is kept while passing over: the line is all of `pending`.
            if !starts_a_record(pending, cut) {
                match cut {
                    Some(dropped) => depth.open += dropped.open,
                    None => {
                        depth.bytes(pending.as_bytes());
                        depth.end_line();
                    }
                }
                if depth.open > 0 {
                    passing.set(Some(depth));
                }
                pending.clear();
                return Ok(());
            }
        }
        // A blank line is skipped, however long, where no document is open.
        if start == 0 && cut.is_some_and(|dropped| dropped.blank) {
            pending.clear();
            return Ok(());
        }
        // A document left open whose next line starts a record (one too long to keep
        // included, which is not in `pending`) was cut short: it is decided as what it is
        // (malformed), and the line read as the start of a document of its own.
        if start > 0 && starts_a_record(pending.get(start..).unwrap_or(""), cut) {
            let line = pending.split_off(start);
            if let Some((request, logged)) = through_value(pending, false) {
                emit(request, logged, pending, out)?;
            }
            *pending = line;
            start = 0;
        }
        // The document's text, its last line ending aside (a cut line's ending is not in
        // `pending`, whose own ending is then the document's: it counts).
        let bytes = match cut {
            Some(dropped) => pending.len() + dropped.bytes,
            None => pending.trim_end_matches(['\r', '\n']).len(),
        };
        if cut.is_some() || bytes > MAX_REQUEST {
            let too_large = rbac::RequestError::new(
                "E0706",
                format!("the request is {bytes} bytes, more than `rbac eval` reads ({MAX_REQUEST}); it was not read"),
            );
            emit(Err(too_large), Some(serde_json::json!({ "oversize": bytes })), "", out)?;
            // What the document leaves open, its lines before this one and this one: the rest
            // of it is passed over rather than read as requests.
            let mut depth = if start > 0 { document.depth } else { Depth::default() };
            match cut {
                Some(dropped) => depth.open += dropped.open,
                None => {
                    depth.bytes(pending.get(start..).unwrap_or("").as_bytes());
                    depth.end_line();
                }
            }
            if depth.open > 0 {
                passing.set(Some(depth));
            }
            pending.clear();
            return Ok(());
        }
        if start == 0 && pending.trim().is_empty() {
            pending.clear();
            return Ok(());
        }
        // Each line ends in one `\n`, as `BufRead::lines` would give it (error positions and
        // the logged text of a malformed request do not depend on the file's line endings).
        if pending.ends_with("\r\n") {
            pending.pop();
            pending.pop();
            pending.push('\n');
        } else if !pending.ends_with('\n') {
            pending.push('\n');
        }
        // A document's first line is read directly; one that went on over several lines (rare
        // in JSON Lines) only through a value, parsed again only where it may have ended (see
        // `Document`).
        let read = if start == 0 {
            let read = match (!logging).then(|| Request::from_json(pending)) {
                Some(Ok(request)) => Some((Ok(request), None)),
                _ => through_value(pending, true),
            };
            // A document that ends early may continue on the next line (pretty-printed JSON).
            if read.is_none() {
                document = Document::default();
                document.line(pending, pending.len());
            }
            read
        } else if document.line(pending.get(start..).unwrap_or(""), pending.len()) {
            through_value(pending, true)
        } else {
            None
        };
        let Some((request, logged)) = read else { return Ok(()) };
        // A document that went wrong (not JSON) before its brackets closed: the rest of it is
        // passed over, as a document too large is, so that no part of it (an object inside it
        // that reads as a request) is decided as a request of its own.
        let unfinished = request.as_ref().is_err_and(|e| e.code == "E0701");
        emit(request, logged, pending, out)?;
        if unfinished {
            // (A first line is measured here, only when it failed.)
            let depth = if start > 0 {
                document.depth
            } else {
                let mut depth = Depth::default();
                depth.bytes(pending.as_bytes());
                depth.end_line();
                depth
            };
            if depth.open > 0 {
                passing.set(Some(depth));
            }
        }
        pending.clear();
        Ok(())
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let waits = input == "-";
    // Several threads decide a batch of lines at once where that cannot change the output:
    // no audit log (which records in order, as decided) and the native engine (a wasm
    // instance is one thread's). `Parallel::run` decides the batch's lines that are whole
    // requests, in order, up to the first that is not one; from that line on the batch is
    // read here, one line at a time, as without threads.
    let parallel = (native && !logging && jobs > 1).then_some(Parallel { verifier: &verifier, jobs });
    let mut batch = Batch::default();
    let mut scratch = Vec::new();
    loop {
        // Before a read that may wait for input, the decisions so far are printed: a program
        // that writes a request and waits for its decision (a pipe, a terminal) gets it.
        if reader.buffer().is_empty()
            && let Err(code) = out.release()
        {
            return code;
        }
        if let Some(parallel) = &parallel
            && pending.is_empty()
            && passing.get().is_none()
        {
            // The lines before one that cannot be read are decided first, as they come.
            let stop = batch.read(&mut reader, BATCH, waits);
            let (decided, stopped) = parallel.run(&batch, &identities);
            if let Err(code) = out.text(decided.as_bytes()) {
                return code;
            }
            for line in batch.lines().skip(stopped) {
                let start = pending.len();
                pending.push_str(line);
                if let Err(code) = feed(start, &mut pending, None, &mut out) {
                    return code;
                }
            }
            match stop {
                Some(Stop::Failed(e)) => {
                    eprintln!("error[E0209]: reading `{input}`: {e}");
                    return ExitCode::from(2);
                }
                Some(Stop::Cut(dropped)) => {
                    if let Err(code) = feed(pending.len(), &mut pending, Some(dropped), &mut out) {
                        return code;
                    }
                    continue;
                }
                None => {}
            }
            if batch.is_empty() {
                break;
            }
            continue;
        }
        // One line at a time, read straight onto the end of the document it may continue.
        let start = pending.len();
        // Each line has the whole room: one that starts a record is measured alone, and a
        // document over several lines is measured whole below.
        let cut = match read_line(&mut reader, &mut pending, MAX_REQUEST, &mut scratch) {
            Ok(Line::End) => break,
            Ok(Line::Read) => None,
            Ok(Line::Cut(dropped)) => Some(dropped),
            Err(e) => {
                eprintln!("error[E0209]: reading `{input}`: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(code) = feed(start, &mut pending, cut, &mut out) {
            return code;
        }
    }
    if !pending.trim().is_empty()
        && let Some((request, logged)) = through_value(&pending, false)
        && let Err(code) = emit(request, logged, &pending, &mut out)
    {
        return code;
    }
    out.close()
}

/// Decisions on their way to standard output, held until the audit log (when there is one)
/// has written their entries: whatever `--audit-sync` says, no decision is printed whose
/// entry could still fail to be written (under `never` entries wait in the log's buffer).
struct Output {
    recorder: Option<super::audit::Recorder>,
    held: Vec<u8>,
    stdout: super::out::Stdout,
    /// The log or the output failed (and said so): nothing more is printed.
    failed: bool,
}

/// A command stopped early (an input that cannot be read) still prints the decisions made
/// before, their entries written first, as [`Output::release`] does.
impl Drop for Output {
    fn drop(&mut self) {
        if !self.failed {
            let _ = self.release();
        }
    }
}

/// Bytes of decisions held before they are printed (and the log flushed first).
const HELD: usize = 64 << 10;

impl Output {
    /// Records a decision (`logged`: the request as given, or `None` for `text` that was no
    /// JSON) when there is a log, and holds its line.
    fn decision(
        &mut self,
        logged: Option<serde_json::Value>,
        text: &str,
        decision: &Decision<'_>,
    ) -> Result<(), ExitCode> {
        if let Some(rec) = self.recorder.as_mut() {
            let request = logged.unwrap_or_else(|| super::audit::malformed_request(text));
            rec.decision(&request, decision).inspect_err(|_| self.failed = true)?;
        }
        serde_json::to_writer(&mut self.held, decision).map_err(|_| ExitCode::from(2))?;
        self.held.push(b'\n');
        self.release_when_full()
    }

    /// Holds lines decided elsewhere (without a log).
    fn text(&mut self, bytes: &[u8]) -> Result<(), ExitCode> {
        self.held.extend_from_slice(bytes);
        self.release_when_full()
    }

    fn release_when_full(&mut self) -> Result<(), ExitCode> {
        if self.held.len() >= HELD { self.release() } else { Ok(()) }
    }

    /// Prints the held decisions, once the log has written their entries.
    fn release(&mut self) -> Result<(), ExitCode> {
        if let Some(rec) = self.recorder.as_mut() {
            rec.flush().inspect_err(|_| self.failed = true)?;
        }
        let printed = self.stdout.write_all(&self.held).and_then(|()| self.stdout.flush());
        self.held.clear();
        printed.map_err(|_| {
            self.failed = true;
            ExitCode::from(2)
        })
    }

    /// Prints what is held and closes the log (syncing it as `--audit-sync` says).
    fn close(mut self) -> ExitCode {
        if let Err(code) = self.release() {
            return code;
        }
        match self.recorder.take().map(super::audit::Recorder::close) {
            Some(Err(code)) => code,
            _ => ExitCode::SUCCESS,
        }
    }
}

/// Bytes read from the input at a time (at most: a pipe or a terminal gives what is waiting).
const READ_BUFFER: usize = 64 << 10;
/// Lines a batch holds at most when several threads decide it.
const BATCH: usize = 4096;
/// The fewest lines a thread takes (more threads than that are not started).
const RUN: usize = 64;

/// The most bytes of one request (a line, or a document over several) that `rbac eval`
/// reads; a longer one is decided as too large (E0706) without being kept.
const MAX_REQUEST: usize = 1 << 20;

/// A line read by [`read_line`].
#[derive(Debug, PartialEq)]
enum Line {
    /// The end of the input.
    End,
    Read,
    /// Longer than the room given: read and dropped.
    Cut(Dropped),
}

/// A line too long to keep: its length, the brackets it leaves open (so that the rest of a
/// document it began or went on can be passed over), whether it was blank (white space only:
/// skipped like any blank line), and whether it starts like a request (then it ends a
/// document left open before it, as [`starts_a_record`] says).
#[derive(Debug, PartialEq, Clone, Copy)]
struct Dropped {
    bytes: usize,
    open: i64,
    blank: bool,
    starts: bool,
}

/// Reads one line onto `buf` like `BufRead::read_line`, unless it is longer than `room`
/// bytes: then the rest of the line is read and dropped, `buf` is left as it was, and
/// [`Line::Cut`] gives the line's length. `scratch` is a buffer to reuse.
fn read_line<R: Read>(
    reader: &mut BufReader<R>,
    buf: &mut String,
    room: usize,
    scratch: &mut Vec<u8>,
) -> std::io::Result<Line> {
    // Read as bytes first: a line cut short may end within a character.
    scratch.clear();
    // `room` counts the line's text, not its line ending (`\r\n` at most): a request of
    // exactly 1 MiB is read, with either ending.
    let n = reader.by_ref().take(room as u64 + 3).read_until(b'\n', scratch)?;
    if n == 0 {
        return Ok(Line::End);
    }
    let ending = if scratch.ends_with(b"\r\n") { 2 } else { usize::from(scratch.ends_with(b"\n")) };
    if n - ending > room {
        let mut depth = Depth::default();
        depth.bytes(scratch);
        let mut blank = scratch.iter().all(u8::is_ascii_whitespace);
        let starts = starts_like_a_request(scratch);
        // The line's text, without its ending (as the limit counts it).
        let mut bytes = n - ending;
        if ending == 0 {
            // The last byte read, which is the `\r` of a `\r\n` split between reads.
            let mut last = scratch.last().copied();
            // The rest of the line, read and dropped a buffer at a time.
            loop {
                let buf = reader.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                let (text, done) = match buf.iter().position(|&b| b == b'\n') {
                    Some(at) => (at, true),
                    None => (buf.len(), false),
                };
                let part = buf.get(..text).unwrap_or(&[]);
                depth.bytes(part);
                blank = blank && part.iter().all(u8::is_ascii_whitespace);
                bytes += text;
                if done {
                    let before = if text > 0 { part.last().copied() } else { last };
                    bytes -= usize::from(before == Some(b'\r'));
                    reader.consume(text + 1);
                    break;
                }
                last = part.last().copied().or(last);
                reader.consume(text);
            }
        }
        return Ok(Line::Cut(Dropped { bytes, open: depth.open, blank, starts }));
    }
    let text = std::str::from_utf8(scratch)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"))?;
    buf.push_str(text);
    Ok(Line::Read)
}

/// Brackets opened and not closed in JSON text read so far, outside strings. A JSON string
/// never spans lines, so [`Depth::end_line`] ends any string left open.
#[derive(Debug, Default, Clone, Copy)]
struct Depth {
    open: i64,
    in_string: bool,
    escaped: bool,
}

impl Depth {
    fn bytes(&mut self, chunk: &[u8]) {
        for &b in chunk {
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' if self.in_string => self.escaped = true,
                b'"' => self.in_string = !self.in_string,
                b'{' | b'[' if !self.in_string => self.open += 1,
                b'}' | b']' if !self.in_string => self.open -= 1,
                _ => {}
            }
        }
    }

    /// Ends a line: whether a string was left open in it.
    fn end_line(&mut self) -> bool {
        let open_string = self.in_string;
        (self.in_string, self.escaped) = (false, false);
        open_string
    }
}

/// What a multi-line document's lines say so far, so that it is parsed again only where it
/// may have ended or gone wrong: where its brackets close (or a string is left open at a line's
/// end, which JSON does not allow), and where it has doubled in length since the last try (a
/// malformed document is found in a few tries). Parsing it again at every line made a stream
/// of short lines that never ends a document (`[` then `1,` a line) quadratic: 40,000 lines
/// took 19 s.
#[derive(Default)]
struct Document {
    depth: Depth,
    /// The document's length when it was last parsed.
    tried: usize,
}

impl Document {
    /// Takes in the document's next line (or its first); whether to parse the document, now
    /// `len` bytes long, again.
    fn line(&mut self, line: &str, len: usize) -> bool {
        self.depth.bytes(line.as_bytes());
        let in_string = self.depth.end_line();
        let again = in_string || self.depth.open <= 0 || len >= 2 * self.tried;
        if again {
            self.tried = len;
        }
        again
    }
}

/// Whether a line starts a record: it opens an object and gives one of a request's keys on
/// the same line (`{"principal": ...`, `{"action": ...`), as a JSON Lines record does and no
/// pretty-printer's inner line does (they break the line after `{`); or it is a request by
/// itself (a JSON object with a `principal`, all on the line). Such a line ends a document
/// left open before it (a record cut short) instead of being read as its continuation, so
/// each record keeps its decision. A line too long to keep (`cut`) says so itself.
fn starts_a_record(line: &str, cut: Option<Dropped>) -> bool {
    match cut {
        Some(dropped) => dropped.starts,
        None => starts_like_a_request(line.as_bytes()) || request_of_its_own(line),
    }
}

/// Whether text starts `{` then a request's key and its `:` (white space allowed between).
fn starts_like_a_request(text: &[u8]) -> bool {
    let ws = |t: &[u8]| -> usize { t.iter().take_while(|b| matches!(b, b' ' | b'\t')).count() };
    let Some(rest) = text.strip_prefix(b"{") else { return false };
    let rest = rest.get(ws(rest)..).unwrap_or(&[]);
    ["\"principal\"", "\"action\"", "\"resource\"", "\"context\""].iter().any(|key| {
        rest.strip_prefix(key.as_bytes())
            .is_some_and(|after| after.get(ws(after)..).is_some_and(|t| t.first() == Some(&b':')))
    })
}

/// Whether a line is a request by itself: a JSON object with a `principal`.
fn request_of_its_own(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('{')
        && line.ends_with('}')
        && line.contains("\"principal\"")
        && serde_json::from_str::<serde_json::Value>(line)
            .is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key("principal")))
}

/// Why [`Batch::read`] stopped before `n` lines and the end of the input.
enum Stop {
    /// A line could not be read (not UTF-8, or an I/O error).
    Failed(std::io::Error),
    /// A line longer than `MAX_REQUEST` bytes, read and dropped.
    Cut(Dropped),
}

/// Lines read as they come, kept in one buffer.
#[derive(Default)]
struct Batch {
    text: String,
    /// Where each line ends in `text`.
    ends: Vec<usize>,
    scratch: Vec<u8>,
}

impl Batch {
    /// Reads up to `n` lines (each with its line ending), in place of the last batch's; stops
    /// at the end of the input, or at a line that cannot be read (not UTF-8, or an I/O error)
    /// or is longer than `MAX_REQUEST`, keeping the lines before it. Where the input `waits`
    /// for its writer (standard input), also after a line where all input read so far is used
    /// up: the next read could wait, so the lines so far are decided first.
    fn read<R: Read>(&mut self, reader: &mut BufReader<R>, n: usize, waits: bool) -> Option<Stop> {
        self.text.clear();
        self.ends.clear();
        while self.ends.len() < n && !(waits && !self.ends.is_empty() && reader.buffer().is_empty()) {
            // Each line is measured alone against `MAX_REQUEST`.
            match read_line(reader, &mut self.text, MAX_REQUEST, &mut self.scratch) {
                Ok(Line::End) => break,
                Ok(Line::Read) => self.ends.push(self.text.len()),
                Ok(Line::Cut(dropped)) => return Some(Stop::Cut(dropped)),
                Err(e) => return Some(Stop::Failed(e)),
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn lines(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| self.text.get(a..b).unwrap_or(""))
    }
}

/// Deciding a batch's lines on several threads, for the native engine without an audit log
/// (with the policy that also resolves token principals: the same compiled policy).
struct Parallel<'a> {
    verifier: &'a rbac::identity::TokenVerifier,
    jobs: usize,
}

impl Parallel<'_> {
    /// The decisions, as `rbac eval` prints them, of the batch's lines up to the first that
    /// is not blank and not a whole request by itself (malformed, or the start of a document
    /// over several lines), and the number of lines they cover: from there on, the batch is
    /// read one line at a time. Each thread takes a run of lines and stops at its first such
    /// line; the runs are joined in order.
    fn run(&self, batch: &Batch, policy: &rbac::Policy) -> (String, usize) {
        let lines: Vec<&str> = batch.lines().collect();
        let per = lines.len().div_ceil(self.jobs).max(RUN);
        // A batch of one run (a few lines, as a pipe gives them) is decided here.
        if lines.len() <= per {
            return self.decide_run(&lines, policy);
        }
        let runs: Vec<(String, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                lines.chunks(per).map(|run| scope.spawn(move || self.decide_run(run, policy))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        let mut out = String::new();
        let mut done = 0;
        for ((text, decided), run) in runs.into_iter().zip(lines.chunks(per)) {
            out.push_str(&text);
            done += decided;
            if decided < run.len() {
                break;
            }
        }
        (out, done)
    }

    /// The decisions of `run`'s lines up to the first that is not blank and not a whole
    /// request, and how many lines they cover.
    fn decide_run(&self, run: &[&str], policy: &rbac::Policy) -> (String, usize) {
        let mut out = Vec::new();
        for (k, line) in run.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Ok(request) = Request::from_json(line) else { return text(out, k) };
            let decision = match self.verifier.resolve(policy, &request) {
                Ok(resolved) => policy.decide(&resolved),
                Err(e) => Decision::invalid(vec![e]),
            };
            let mark = out.len();
            if serde_json::to_writer(&mut out, &decision).is_err() {
                out.truncate(mark);
                return text(out, k);
            }
            out.push(b'\n');
        }
        text(out, run.len())
    }
}

/// Decisions serialized as JSON, as text, with the lines they cover (JSON is UTF-8; were it
/// not, none would be taken, and the lines would be read again one at a time).
fn text(bytes: Vec<u8>, lines: usize) -> (String, usize) {
    String::from_utf8(bytes).map_or((String::new(), 0), |t| (t, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "resource workspace { actions read, delete; }\n\
        role admin { allow delete on workspace; }\n\
        assign admin to user:ann on workspace:prod;\n";
    const ANN: &str = r#"{"principal":{"id":"user:ann"},"action":"delete","resource":"workspace:prod"}"#;
    const BOB: &str = r#"{"principal":{"id":"user:bob"},"action":"delete","resource":"workspace:prod"}"#;

    fn batch(lines: &[&str]) -> Batch {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let mut batch = Batch::default();
        let mut reader = BufReader::with_capacity(text.len(), text.as_bytes());
        assert!(batch.read(&mut reader, BATCH, false).is_none(), "read");
        batch
    }

    /// What `rbac eval` prints for one whole request.
    fn printed(policy: &rbac::Policy, line: &str) -> String {
        let request = Request::from_json(line).expect("a request");
        format!("{}\n", serde_json::to_string(&policy.decide(&request)).expect("serializes"))
    }

    /// Input as a pipe gives it: each read returns at most what one write put in.
    struct Writes(std::collections::VecDeque<&'static [u8]>);

    impl Read for Writes {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(write) = self.0.pop_front() else { return Ok(0) };
            let n = write.len().min(buf.len());
            buf[..n].copy_from_slice(&write[..n]);
            if n < write.len() {
                self.0.push_front(&write[n..]);
            }
            Ok(n)
        }
    }

    #[test]
    fn a_line_longer_than_its_room_is_read_and_dropped() {
        let mut reader =
            BufReader::with_capacity(4, &b"abc\nabcd\nabcd\r\nabcde\nab{[\"{\"cdefgh{\nabcdefg\r\n \t  \r  \nxyz"[..]);
        let (mut buf, mut scratch) = (String::new(), Vec::new());
        let mut lines = Vec::new();
        loop {
            let line = read_line(&mut reader, &mut buf, 4, &mut scratch).expect("read");
            if line == Line::End {
                break;
            }
            lines.push((line, std::mem::take(&mut buf)));
        }
        // A line of four bytes fits, whatever its line ending; the ends of longer ones are
        // skipped, and the brackets they leave open counted (read over several buffers; not
        // in strings).
        let read = |t: &str| (Line::Read, t.to_string());
        let cut = |bytes, open, blank| (Line::Cut(Dropped { bytes, open, blank, starts: false }), String::new());
        assert_eq!(
            lines,
            [
                read("abc\n"),
                read("abcd\n"),
                read("abcd\r\n"),
                cut(5, 0, false),
                cut(14, 3, false),
                cut(7, 0, false),
                cut(7, 0, true),
                read("xyz")
            ]
        );
        // Not UTF-8: an error, as `read_line` gives.
        let mut bad = BufReader::new(&b"\xff\n"[..]);
        assert!(read_line(&mut bad, &mut buf, 10, &mut scratch).is_err());
    }

    #[test]
    fn a_document_is_parsed_again_where_it_may_have_ended_or_has_doubled() {
        // A pretty-printed request: its first line is tried by itself, then the line that
        // closes it (and where it has doubled since the last try).
        let lines =
            ["{\n", "\"principal\": {\"id\": \"user:a\"},\n", "\"action\": \"x}\",\n", "\"resource\": \"r\"\n", "}\n"];
        let mut doc = Document::default();
        let mut len = 0;
        let mut tries = Vec::new();
        for line in lines {
            len += line.len();
            tries.push(doc.line(line, len));
        }
        assert_eq!(tries, [true, true, false, false, true]);
        // A list that never ends: tried at each doubling only.
        let mut doc = Document::default();
        let mut len = 0;
        let tried: Vec<usize> = (0..1000)
            .filter_map(|k| {
                let line = if k == 0 { "[\n" } else { "1,\n" };
                len += line.len();
                doc.line(line, len).then_some(len)
            })
            .collect();
        assert_eq!(tried, [2, 5, 11, 23, 47, 95, 191, 383, 767, 1535]);
        // A string left open at a line's end (JSON has none over two lines): tried at once.
        let mut doc = Document::default();
        doc.line("{\n", 2);
        doc.line("\"a\": 1,\n", 9);
        assert!(doc.line("\"b\": \"open\n", 20));
    }

    #[test]
    fn a_batch_from_a_pipe_ends_where_the_input_read_so_far_is_used_up() {
        let writes = [&b"a\nb\nc\n"[..], b"d\ne", b"e\n", b"f\n\ng\n"];
        let batches = |waits: bool| {
            let mut reader = BufReader::with_capacity(READ_BUFFER, Writes(writes.into_iter().collect()));
            let mut batch = Batch::default();
            let mut batches = Vec::new();
            loop {
                assert!(batch.read(&mut reader, 3, waits).is_none());
                if batch.is_empty() {
                    return batches;
                }
                batches.push(batch.lines().collect::<String>());
            }
        };
        // A line cut between two writes is read whole; no batch holds more than 3 lines.
        assert_eq!(batches(true), ["a\nb\nc\n", "d\nee\n", "f\n\ng\n"]);
        // A file never waits: its batches are full.
        assert_eq!(batches(false), ["a\nb\nc\n", "d\nee\nf\n", "\ng\n"]);
    }

    #[test]
    fn threads_decide_a_batch_in_order_up_to_its_first_line_that_is_no_whole_request() {
        let policy = rbac::compile_str("t.rbac", SRC).policy.expect("compiles");
        let verifier = rbac::identity::TokenVerifier::new(rbac::identity::StaticKeys::new());
        // Blank lines are skipped; `{` starts a document over several lines, and from there
        // the batch is left to the one-line-at-a-time reader, whichever thread's run it is in.
        for at in [0, 1, 63, 64, 65, 150, 299] {
            let mut lines: Vec<&str> = (0..300).map(|k| [ANN, "", BOB][k % 3]).collect();
            lines[at] = "{";
            lines[299 - at / 2] = "not json";
            let b = batch(&lines);
            let stop = at.min(299 - at / 2);
            let expected: String =
                lines[..stop].iter().filter(|l| !l.is_empty()).map(|l| printed(&policy, l)).collect();
            for jobs in 1..=6 {
                let (out, covered) = Parallel { verifier: &verifier, jobs }.run(&b, &policy);
                assert_eq!(covered, stop, "{jobs} threads: the lines before line {stop}");
                assert_eq!(out, expected, "{jobs} threads");
            }
        }
        // Whole requests only: all decided, in order, whatever the runs' lengths.
        let lines: Vec<&str> = (0..101).map(|k| if k % 3 == 0 { BOB } else { ANN }).collect();
        let b = batch(&lines);
        let expected: String = lines.iter().map(|l| printed(&policy, l)).collect();
        assert!(expected.contains("\"allow\"") && expected.contains("\"deny\""));
        for jobs in [1, 2, 3, 7, 200] {
            // 101 lines: one run, or two of at least `RUN` lines.
            assert_eq!(Parallel { verifier: &verifier, jobs }.run(&b, &policy), (expected.clone(), 101), "{jobs}");
        }
    }
}
