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
    // A decision goes to the audit log (when asked for) before it is printed.
    let mut emit = |parsed: Result<serde_json::Value, serde_json::Error>,
                    text: &str,
                    out: &mut BufWriter<std::io::StdoutLock<'_>>| {
        // The request as logged: only kept when there is a log.
        let mut logged = if recorder.is_some() { parsed.as_ref().ok().cloned() } else { None };
        let decision = match parsed {
            Ok(value) => match Request::from_value(&value) {
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
            },
            Err(e) => Decision::invalid(vec![rbac::RequestError::new("E0701", format!("malformed JSON request: {e}"))]),
        };
        if let Some(rec) = recorder.as_mut() {
            let request = logged.unwrap_or_else(|| super::audit::malformed_request(text));
            rec.decision(&request, &decision)?;
        }
        serde_json::to_writer(&mut *out, &decision).map_err(|_| ExitCode::from(2))?;
        out.write_all(b"\n").map_err(|_| ExitCode::from(2))
    };
    for line in BufReader::new(reader).lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: reading `{input}`: {e}");
                return ExitCode::from(2);
            }
        };
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        pending.push_str(&line);
        pending.push('\n');
        // A document that ends early may continue on the next line (pretty-printed JSON).
        let parsed = serde_json::from_str::<serde_json::Value>(&pending);
        if parsed.as_ref().is_err_and(serde_json::Error::is_eof) {
            continue;
        }
        if let Err(code) = emit(parsed, &pending, &mut out) {
            return code;
        }
        pending.clear();
    }
    if !pending.trim().is_empty()
        && let Err(code) = emit(serde_json::from_str(&pending), &pending, &mut out)
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
