//! The `rbac` command line: the only place that touches files, stdout and exit codes.
//!
//! Exit codes: `check` 0 clean (warnings allowed) / 1 errors; `can` 0 allow / 1 deny /
//! 2 error; `test` 0 all pass / 1 a failure or a policy error; `eval` 0 / 2 when the policy
//! or the input cannot be read; 2 for usage errors everywhere.

mod eval;
mod human;

use clap::{Parser, Subcommand, ValueEnum};
use rbac::{Compilation, FsLoader, Policy};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rbac", version, about = "Compile, check, test and evaluate .rbac access-control policies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Engine {
    Native,
    Wasm,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Target {
    /// A core WebAssembly 1.0 module with no imports (docs/wasm-abi.md).
    Wasm,
}

#[derive(Subcommand)]
enum Command {
    /// Check policies and print diagnostics; exit 1 when any has errors.
    Check {
        /// Policy files; each is checked on its own (with the files it `use`s).
        #[arg(required = true)]
        files: Vec<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Decide requests given as JSON (one document) or JSON Lines; prints one decision per line.
    Eval {
        policy: String,
        /// Request file, `-` for standard input.
        #[arg(long, short)]
        request: String,
        /// Which engine decides: the native evaluator, or the policy compiled to WebAssembly
        /// and run with wasmtime (the output is the same).
        #[arg(long, value_enum, default_value = "native")]
        engine: Engine,
    },
    /// Compile a policy for another runtime: `--target wasm` emits a standalone module.
    Build {
        policy: String,
        #[arg(long, value_enum)]
        target: Target,
        /// Output file.
        #[arg(long, short)]
        output: String,
    },
    /// Ask whether a principal may do an action on a resource (like `kubectl auth can-i`).
    Can {
        policy: String,
        /// `user:NAME` or `service:NAME`.
        principal: String,
        action: String,
        /// Resource path, e.g. `workspace:prod/project:churn/pipeline:train`.
        path: String,
        /// A group of the principal (repeatable).
        #[arg(long = "group", short = 'g')]
        groups: Vec<String>,
        /// An attribute: `resource.owner=user:bob`, `context.mfa=true` (value read as JSON
        /// when it parses, else as a string). Repeatable.
        #[arg(long = "attr", short = 'a')]
        attrs: Vec<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Run the `test` blocks of policies.
    Test {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Explain a diagnostic code (e.g. `rbac explain E0401`).
    Explain { code: String },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check { files, format } => check(&files, format),
        Command::Eval { policy, request, engine } => eval::run(&policy, &request, engine),
        Command::Build { policy, target: Target::Wasm, output } => build_wasm(&policy, &output),
        Command::Can { policy, principal, action, path, groups, attrs, format } => {
            can(&policy, &principal, &action, &path, &groups, &attrs, format)
        }
        Command::Test { files } => test(&files),
        Command::Explain { code } => explain(&code),
    }
}

/// Whether to colour diagnostics: only on a terminal, and never under `NO_COLOR`.
fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Compiles one policy file; prints its diagnostics to stderr.
fn load(file: &str) -> Compilation {
    let c = rbac::compile(&FsLoader, &[file]);
    if !c.diagnostics.is_empty() {
        eprint!("{}", c.render(color()));
    }
    c
}

/// Compiles a policy; `None` (after printing why, and that nothing was `done`) on errors.
pub(crate) fn load_policy(file: &str, done: &str) -> Option<Policy> {
    let c = load(file);
    if c.policy.is_none() {
        let n = c.diagnostics.error_count();
        eprintln!("error: `{file}` has {n} error{}; {done}", plural(n));
    }
    c.policy
}

fn check(files: &[String], format: Format) -> ExitCode {
    let mut failed = false;
    let mut json = Vec::new();
    for f in files {
        let c = rbac::compile(&FsLoader, &[f.as_str()]);
        failed |= c.diagnostics.has_errors();
        match format {
            Format::Json => json.push(serde_json::json!({
                "file": f,
                "ok": !c.diagnostics.has_errors(),
                "errors": c.diagnostics.error_count(),
                "warnings": c.diagnostics.warning_count(),
                "diagnostics": c.render_json(),
            })),
            Format::Human => {
                eprint!("{}", c.render(color()));
                let (e, w) = (c.diagnostics.error_count(), c.diagnostics.warning_count());
                let status = if e > 0 { "failed" } else { "ok" };
                println!("{f}: {status} ({e} error{}, {w} warning{})", plural(e), plural(w));
            }
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::Value::Array(json));
    }
    ExitCode::from(u8::from(failed))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Reads `--attr entity.name=value`.
fn parse_attr(spec: &str) -> Result<(String, String, serde_json::Value), String> {
    let (key, value) = spec.split_once('=').ok_or_else(|| format!("`--attr {spec}`: expected ENTITY.NAME=VALUE"))?;
    let (entity, name) = key.split_once('.').ok_or_else(|| format!("`--attr {spec}`: expected ENTITY.NAME=VALUE"))?;
    if !matches!(entity, "principal" | "resource" | "context") {
        return Err(format!("`--attr {spec}`: the entity must be `principal`, `resource` or `context`"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((entity.to_string(), name.to_string(), value))
}

fn can(
    policy: &str,
    principal: &str,
    action: &str,
    path: &str,
    groups: &[String],
    attrs: &[String],
    format: Format,
) -> ExitCode {
    let Some(policy) = load_policy(policy, "nothing was decided") else { return ExitCode::from(2) };
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let mut request = rbac::Request::new(principal, &groups, action, path);
    for a in attrs {
        match parse_attr(a) {
            Ok((entity, name, value)) => request = request.with_attr(&entity, &name, value),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let decision = policy.decide(&request);
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&decision).unwrap_or_default()),
        Format::Human => write!(out, "{}", human::decision(&decision)),
    };
    match (decision.errors.is_empty(), decision.is_allow()) {
        (false, _) => ExitCode::from(2),
        (true, true) => ExitCode::SUCCESS,
        (true, false) => ExitCode::from(1),
    }
}

fn test(files: &[String]) -> ExitCode {
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for f in files {
        let Some(policy) = load_policy(f, "its tests were not run") else {
            broken += 1;
            continue;
        };
        let results = policy.run_tests();
        let _ = writeln!(out, "running {} expectation(s) from {f}", results.len());
        let mut current = "";
        for r in &results {
            if r.test.name != current {
                current = &r.test.name;
                let _ = writeln!(out, "test \"{}\" ({})", r.test.name, r.test.at);
            }
            if r.passed() {
                passed += 1;
            } else {
                failed += 1;
                let _ = write!(out, "{}", human::failure(r));
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if broken > 0 {
        let _ = writeln!(out, "{broken} polic{} did not compile", if broken == 1 { "y" } else { "ies" });
    }
    ExitCode::from(u8::from(failed > 0 || broken > 0))
}

fn build_wasm(policy: &str, output: &str) -> ExitCode {
    let Some(policy) = load_policy(policy, "nothing was built") else { return ExitCode::from(2) };
    let bytes = match rbac::wasm::emit(&policy) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(output, &bytes) {
        eprintln!("error: cannot write `{output}`: {e}");
        return ExitCode::from(2);
    }
    eprintln!("wrote {output} ({} bytes)", bytes.len());
    ExitCode::SUCCESS
}

fn explain(code: &str) -> ExitCode {
    match rbac::diag::explain(code) {
        Some(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: unknown diagnostic code `{code}`; codes look like `E0401` or `W0001` (see docs/language.md)"
            );
            ExitCode::from(2)
        }
    }
}
