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
    fn decide(&mut self, req: &Request) -> Decision {
        match self {
            Decider::Native(p) => p.decide(req),
            Decider::Wasm(w) => w.decide(req),
        }
    }
}

pub fn run(policy: &str, input: &str, engine: super::Engine) -> ExitCode {
    let Some(policy) = super::load_policy(policy, "nothing was decided") else { return ExitCode::from(2) };
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
    let mut emit = |parsed: Result<serde_json::Value, serde_json::Error>,
                    out: &mut BufWriter<std::io::StdoutLock<'_>>| {
        let decision = match parsed {
            Ok(value) => match Request::from_value(&value) {
                Ok(req) => decider.decide(&req),
                Err(e) => Decision::invalid(vec![e]),
            },
            Err(e) => Decision::invalid(vec![rbac::RequestError::new("E0701", format!("malformed JSON request: {e}"))]),
        };
        serde_json::to_writer(&mut *out, &decision).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
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
        if emit(parsed, &mut out).is_err() {
            return ExitCode::from(2);
        }
        pending.clear();
    }
    if !pending.trim().is_empty() && emit(serde_json::from_str(&pending), &mut out).is_err() {
        return ExitCode::from(2);
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
