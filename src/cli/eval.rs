//! `rbac eval`: decides one JSON request or a stream of JSON Lines, printing one decision
//! per line in input order. A request spread over several lines is read whole.

use rbac::{Decision, Request};

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
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
) -> ExitCode {
    let Some(policy) = super::load_policy(policy, "nothing was decided") else { return ExitCode::from(2) };
    let mut recorder = match audit.open_for(&policy) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Tokens are verified, and the groups their claims give explained, the same way
    // whichever engine decides.
    let verifier = match super::token::verifier(&policy, keys) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let identities = policy.clone();
    let mut decider = match engine {
        super::Engine::Native => Decider::Native(Box::new(policy)),
        super::Engine::Wasm => match rbac::wasm::emit(&policy).and_then(|b| rbac::wasm::WasmPolicy::new(&b)) {
            Ok(w) => Decider::Wasm(Box::new(w)),
            Err(e) => {
                eprintln!("error: {e}");
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
                eprintln!("error: cannot read `{input}`: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut pending = String::new();
    // Without an audit log, a request is read straight from its text (`Request::from_json`);
    // the log keeps each request as it was given, so then it is read through a JSON value.
    let logging = recorder.is_some();
    // A decision goes to the audit log (when asked for) before it is printed.
    let mut emit = |request: Result<Request, rbac::RequestError>,
                    mut logged: Option<serde_json::Value>,
                    text: &str,
                    out: &mut BufWriter<std::io::StdoutLock<'_>>| {
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
        if let Some(rec) = recorder.as_mut() {
            let request = logged.unwrap_or_else(|| super::audit::malformed_request(text));
            rec.decision(&request, &decision)?;
        }
        serde_json::to_writer(&mut *out, &decision).map_err(|_| ExitCode::from(2))?;
        out.write_all(b"\n").map_err(|_| ExitCode::from(2))
    };
    // The request in `text` through a JSON value, with the value to log; `None` when the
    // document ends early.
    let through_value = |text: &str, eof_continues: bool| {
        let parsed = serde_json::from_str::<serde_json::Value>(text);
        if eof_continues && parsed.as_ref().is_err_and(serde_json::Error::is_eof) {
            return None;
        }
        Some(match parsed {
            Ok(value) => (Request::from_value(&value), logging.then_some(value)),
            Err(e) => (Err(rbac::RequestError::from(e)), None),
        })
    };
    let mut reader = BufReader::new(reader);
    loop {
        // Each line is read onto the end of the document it may continue.
        let start = pending.len();
        match reader.read_line(&mut pending) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: reading `{input}`: {e}");
                return ExitCode::from(2);
            }
        }
        if start == 0 && pending.trim().is_empty() {
            pending.clear();
            continue;
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
        // in JSON Lines) only through a value, each line parsed once as it comes.
        let (request, logged) = match (!logging && start == 0).then(|| Request::from_json(&pending)) {
            Some(Ok(request)) => (Ok(request), None),
            // A document that ends early may continue on the next line (pretty-printed JSON).
            _ => match through_value(&pending, true) {
                Some(read) => read,
                None => continue,
            },
        };
        if let Err(code) = emit(request, logged, &pending, &mut out) {
            return code;
        }
        pending.clear();
    }
    if !pending.trim().is_empty()
        && let Some((request, logged)) = through_value(&pending, false)
        && let Err(code) = emit(request, logged, &pending, &mut out)
    {
        return code;
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    match recorder.map(super::audit::Recorder::close) {
        Some(Err(code)) => code,
        _ => ExitCode::SUCCESS,
    }
}
