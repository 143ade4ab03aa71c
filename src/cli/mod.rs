//! The `rbac` command line: the only place that touches files, stdout and exit codes.
//!
//! Exit codes: `check` 0 clean (warnings allowed) / 1 errors; `can` 0 allow / 1 deny /
//! 2 error; `test` 0 all pass / 1 a failure or a policy error; `eval` 0 / 2 when the policy
//! or the input cannot be read; `diff` 0 no permission changed / 1 some did; `audit verify`
//! 0 intact / 1 not; 2 for usage errors everywhere (and when an audit log cannot be written).

mod access;
mod audit;
mod diff;
mod eval;
mod fmt;
mod human;
mod lsp;
mod out;
mod token;

use clap::{Parser, Subcommand, ValueEnum};
use rbac::{Compilation, FsLoader, Policy};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use out::stdout;

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
    /// The compiled policy and its tests, which every command reads in place of the sources
    /// without compiling them again (docs/bundle.md).
    Bundle,
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
        /// Request file, `-` for standard input (decisions are printed as each request comes).
        /// A request over 1 MiB is decided as too large (E0706) without being read.
        #[arg(long, short)]
        request: String,
        /// Which engine decides: the native evaluator, or the policy compiled to WebAssembly
        /// and run with wasmtime (the output is the same).
        #[arg(long, value_enum, default_value = "native")]
        engine: Engine,
        /// How token principals (`{"token": "<JWT>"}`) are verified.
        #[command(flatten)]
        keys: token::KeyArgs,
        #[command(flatten)]
        audit: audit::LogArgs,
        /// How many threads decide a stream of requests at once (default: one a core). The
        /// output is the same, in input order; with `--audit-log` or `--engine wasm`, one.
        #[arg(long, short = 'j', value_parser = threads)]
        jobs: Option<usize>,
    },
    /// Compile a policy for another runtime: `--target wasm` emits a standalone module,
    /// `--target bundle` the compiled policy that `rbac` itself loads in place of the sources.
    Build {
        policy: String,
        #[arg(long, value_enum)]
        target: Target,
        /// Output file (`-`: standard output); never the policy itself.
        #[arg(long, short)]
        output: String,
    },
    /// Ask whether a principal may do an action on a resource (like `kubectl auth can-i`).
    #[command(override_usage = "rbac can [OPTIONS] <POLICY> <PRINCIPAL> <ACTION> <PATH>\n       \
                                rbac can [OPTIONS] --token <FILE> <POLICY> <ACTION> <PATH>")]
    Can {
        policy: String,
        /// PRINCIPAL ACTION PATH, or ACTION PATH with `--token`. PRINCIPAL is `user:NAME` or
        /// `service:NAME`; PATH a resource path, e.g. `workspace:prod/project:churn/pipeline:train`.
        #[arg(value_name = "ARGS", required = true)]
        args: Vec<String>,
        /// The principal is the one this signed token (JWT) in FILE proves (`-` for standard
        /// input), once verified against the keys of its issuer.
        #[arg(long, value_name = "FILE", conflicts_with = "groups")]
        token: Option<String>,
        #[command(flatten)]
        keys: token::KeyArgs,
        /// A group of the principal (repeatable).
        #[arg(long = "group", short = 'g')]
        groups: Vec<String>,
        /// An attribute: `resource.owner=user:bob`, `context.mfa=true` (value read as JSON
        /// when it parses, else as a string). Repeatable.
        #[arg(long = "attr", short = 'a')]
        attrs: Vec<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        #[command(flatten)]
        audit: audit::LogArgs,
    },
    /// Run the `test` blocks of policies.
    Test {
        #[arg(required = true)]
        files: Vec<String>,
        /// Also list the rules, role assignments and `exclusive` sets that decided no
        /// expectation.
        #[arg(long)]
        coverage: bool,
    },
    /// Format policy files in place (indentation, spacing, aligned columns); `--check` only says
    /// which would change.
    Fmt(fmt::FmtArgs),
    /// A language server for editors on standard input and output: diagnostics as you type,
    /// formatting, highlighting, go to definition, hover and outline (see docs/editors.md).
    Lsp,
    /// Explain a diagnostic code (e.g. `rbac explain E0401`).
    Explain { code: String },
    /// Verify or read an audit log written with `--audit-log` (see docs/audit.md).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Changes in effective permissions between two policies; exit 0 when none, 1 when some.
    Diff(diff::DiffArgs),
    /// Every subject allowed (or conditionally), or denied, an action on a resource, and why.
    WhoCan(access::WhoCanArgs),
    /// Everything a principal may do (like `kubectl auth can-i --list`).
    List(access::ListArgs),
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
    let code = match cli.command {
        Command::Check { files, format } => check(&files, format),
        Command::Eval { policy, request, engine, keys, audit, jobs } => {
            eval::run(&policy, &request, engine, &keys, &audit, jobs)
        }
        Command::Build { policy, target: Target::Wasm, output } => build_wasm(&policy, &output),
        Command::Build { policy, target: Target::Bundle, output } => build_bundle(&policy, &output),
        Command::Can { policy, args, token, keys, groups, attrs, format, audit } => {
            can(&policy, &args, token.as_deref(), &keys, &groups, &attrs, format, &audit)
        }
        Command::Test { files, coverage } => test(&files, coverage),
        Command::Fmt(args) => fmt::run(&args, color()),
        // The language server's output is its protocol: it ends its session itself.
        Command::Lsp => return lsp::run(),
        Command::Explain { code } => explain(&code),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Diff(args) => diff::run(&args),
        Command::WhoCan(args) => access::who_can(&args),
        Command::List(args) => access::list(&args),
    };
    out::finish(code)
}

/// `--jobs`: a number of threads, at least one.
fn threads(arg: &str) -> Result<usize, String> {
    match arg.parse::<usize>() {
        Ok(0) => Err("at least one thread decides".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
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

/// Compiles a policy, or loads it when `file` is a bundle (told by its first bytes, not its
/// name); `None` (after printing why, and that nothing was `done`) on errors.
pub(crate) fn load_policy(file: &str, done: &str) -> Option<Policy> {
    load_policy_from(file, done).map(|(policy, _)| policy)
}

/// [`load_policy`], and the source files it was compiled from; `None` for a bundle (whose
/// sources may have changed since, or be other files of the same name: their text is not to
/// be shown as the policy's).
fn load_policy_from(file: &str, done: &str) -> Option<(Policy, Option<Vec<String>>)> {
    if let Some(loaded) = load_bundle(file) {
        return match loaded {
            Ok(policy) => Some((policy, None)),
            Err(e) => {
                eprintln!("error[{}]: {}\nerror: `{file}` is not a loadable bundle; {done}", e.code, e.message);
                None
            }
        };
    }
    let c = load(file);
    if c.policy.is_none() {
        let n = c.diagnostics.error_count();
        eprintln!("error: `{file}` has {n} error{}; {done}", plural(n));
    }
    let files = c.sources.files().iter().map(|f| f.name.clone()).collect();
    c.policy.map(|policy| (policy, Some(files)))
}

/// Loads `file` when it starts with the bundle magic; `None` for anything else (sources, or a
/// file that cannot be read, which compiling then reports).
fn load_bundle(file: &str) -> Option<Result<Policy, rbac::BundleError>> {
    use std::io::Read;
    let mut magic = Vec::with_capacity(8);
    // Only a regular file is opened: opening a pipe would wait for a writer.
    if !std::fs::metadata(file).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut f = std::fs::File::open(file).ok()?;
    Read::by_ref(&mut f).take(8).read_to_end(&mut magic).ok()?;
    if magic.len() < 8 {
        // A file cut inside the magic is a truncated bundle (E0803), not source that is not
        // UTF-8; any other short file is source.
        return Policy::from_bundle(&magic).err().filter(|e| e.code == "E0803").map(Err);
    }
    if !Policy::is_bundle(&magic) {
        return None;
    }
    let mut bytes = Vec::with_capacity(f.metadata().map_or(0, |m| usize::try_from(m.len()).unwrap_or(0)));
    bytes.extend_from_slice(&magic);
    if let Err(e) = f.read_to_end(&mut bytes) {
        eprintln!("error[E0209]: cannot read `{file}`: {e}");
        return None;
    }
    Some(Policy::from_bundle(&bytes))
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
                let _ = writeln!(stdout(), "{f}: {status} ({e} error{}, {w} warning{})", plural(e), plural(w));
            }
        }
    }
    if format == Format::Json {
        // A closed pipe (`rbac check ... | head`) is not an error worth a panic.
        let _ = writeln!(stdout(), "{}", serde_json::Value::Array(json));
    }
    ExitCode::from(u8::from(failed))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Reads `--attr entity.name=value`.
fn parse_attr(spec: &str) -> Result<(rbac::Entity, String, serde_json::Value), String> {
    let (key, value) = spec.split_once('=').ok_or_else(|| format!("`--attr {spec}`: expected ENTITY.NAME=VALUE"))?;
    let (entity, name) = key.split_once('.').ok_or_else(|| format!("`--attr {spec}`: expected ENTITY.NAME=VALUE"))?;
    let Some(entity) = rbac::Entity::parse(entity) else {
        return Err(format!("`--attr {spec}`: the entity must be `principal`, `resource` or `context`"));
    };
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((entity, name.to_string(), value))
}

/// A principal as `can` and `list` take it: spelt as in a policy's tests, so `user:"Ann Lee"`
/// (quoted, with the policy's escapes) is `user:Ann Lee`, as the same test would decide it.
/// Anything else is the id as written.
fn unquoted_principal(principal: &str) -> std::borrow::Cow<'_, str> {
    let quoted = ["user:\"", "service:\""].iter().any(|pre| principal.starts_with(pre));
    match rbac::path::parse(principal) {
        Ok(parts) if quoted && parts.bare.is_none() => match parts.segments.as_slice() {
            [(kind, id)] => format!("{kind}:{id}").into(),
            _ => principal.into(),
        },
        _ => principal.into(),
    }
}

// One parameter per command-line option of `rbac can`.
#[allow(clippy::too_many_arguments)]
fn can(
    policy: &str,
    args: &[String],
    token_file: Option<&str>,
    keys: &token::KeyArgs,
    groups: &[String],
    attrs: &[String],
    format: Format,
    audit: &audit::LogArgs,
) -> ExitCode {
    let (principal, action, path) = match (token_file, args) {
        (None, [principal, action, path]) => (principal.as_str(), action, path),
        (Some(_), [action, path]) => ("", action, path),
        (None, _) => {
            eprintln!("error: `rbac can POLICY` takes PRINCIPAL ACTION PATH (or `--token FILE` and ACTION PATH)");
            return ExitCode::from(2);
        }
        (Some(_), _) => {
            eprintln!("error: with `--token`, `rbac can POLICY` takes ACTION PATH: the token names the principal");
            return ExitCode::from(2);
        }
    };
    let Some(policy) = load_policy(policy, "nothing was decided") else { return ExitCode::from(2) };
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let principal = unquoted_principal(principal);
    let mut request = rbac::Request::new(&principal, &groups, action, path);
    if let Some(file) = token_file {
        match token::read_token(file) {
            Ok(t) => {
                request.principal = rbac::Principal::Token(rbac::TokenPrincipal { token: t, attrs: Default::default() })
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut given = std::collections::BTreeSet::new();
    for a in attrs {
        match parse_attr(a) {
            Ok((entity, name, _)) if !given.insert((entity, name.clone())) => {
                eprintln!("error: `--attr {a}`: `{}.{name}` is given twice", entity.as_str());
                return ExitCode::from(2);
            }
            Ok((entity, name, value)) => request = request.with_attr(entity, &name, value),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut recorder = match audit.open(&policy) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut logged = serde_json::to_value(&request).unwrap_or_default();
    let (decision, verified) = match token_file {
        None => (policy.decide(&request), None),
        Some(_) => match token::verifier(&policy, keys) {
            Ok(v) => token::decide(&policy, &v, request),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    if let Some(mut rec) = recorder.take() {
        // A verified token is logged as the identity and claims it proved.
        if let (Some(v), Some(p)) = (&verified, logged.get_mut("principal")) {
            let attrs = p.get("attrs").cloned().unwrap_or_else(|| serde_json::json!({}));
            *p = serde_json::json!({ "identity": v.identity, "claims": v.claims, "attrs": attrs });
        }
        if let Err(code) = rec.decision(&logged, &decision).and_then(|()| rec.close()) {
            return code;
        }
    }
    let mut out = stdout();
    let _ = match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&decision).unwrap_or_default()),
        Format::Human => write!(out, "{}", human::decision_as(&decision, verified.as_ref())),
    };
    match (decision.errors.is_empty(), decision.is_allow()) {
        (false, _) => ExitCode::from(2),
        (true, true) => ExitCode::SUCCESS,
        (true, false) => ExitCode::from(1),
    }
}

fn test(files: &[String], coverage: bool) -> ExitCode {
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut out = stdout();
    for f in files {
        let Some((policy, sources)) = load_policy_from(f, "its tests were not run") else {
            broken += 1;
            continue;
        };
        let results = policy.run_tests();
        let _ = writeln!(out, "running {} expectation(s) from {f}", results.len());
        let mut current = "";
        for r in &results {
            if r.test.name != current {
                current = &r.test.name;
                // A name may hold any character through its escapes: shown escaped.
                let _ = writeln!(out, "{}", human::shown(&format!("test \"{}\" ({})", r.test.name, r.test.at)));
            }
            if r.passed() {
                passed += 1;
            } else {
                failed += 1;
                // The request line is JSON, which leaves bidirectional and invisible
                // characters as they are: every line shown escaped.
                let _ = write!(out, "{}", human::shown_lines(&human::failure(r)));
            }
        }
        if coverage {
            let _ = write!(out, "{}", human::shown_lines(&human::coverage(f, &policy.coverage(), sources.is_some())));
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if broken > 0 {
        let _ = writeln!(out, "{broken} polic{} did not compile or load", if broken == 1 { "y" } else { "ies" });
    }
    ExitCode::from(u8::from(failed > 0 || broken > 0))
}

/// Writes a built artifact to `output` (`-`: standard output), refusing to overwrite the
/// policy it was built from: the bundle, or any source file it compiled (`policy` is the
/// root; a file it `use`s is as much the policy).
fn write_built(policy: &str, sources: Option<&[String]>, output: &str, bytes: &[u8]) -> ExitCode {
    if output == "-" {
        let mut out = stdout();
        if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
            // `main` says why.
            return ExitCode::from(2);
        }
        return ExitCode::SUCCESS;
    }
    // One file, by any name: a symbolic link, `./`, or a hard link (another name, one inode).
    let same = |a: &str, b: &str| match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(a), Ok(b)) => {
            use std::os::unix::fs::MetadataExt;
            (a.dev(), a.ino()) == (b.dev(), b.ino())
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b),
        _ => false,
    };
    if same(policy, output) {
        eprintln!("error: `-o {output}` is the policy being built; it was left as it is");
        return ExitCode::from(2);
    }
    if let Some(used) = sources.unwrap_or_default().iter().find(|f| same(f, output)) {
        eprintln!("error: `-o {output}` is `{used}`, a source of the policy being built; it was left as it is");
        return ExitCode::from(2);
    }
    if let Err(e) = write_whole(output, bytes) {
        eprintln!("error: cannot write `{output}`: {e}");
        return ExitCode::from(2);
    }
    eprintln!("wrote {output} ({} bytes)", bytes.len());
    ExitCode::SUCCESS
}

/// The text of `file` (`-`: standard input), read up to `limit` bytes: what is longer is
/// refused without reading it all (`--token /dev/zero` took all memory). `None` when over.
fn read_bounded(file: &str, limit: u64) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(file)?.take(limit + 1).read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    String::from_utf8(bytes).map(Some).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes `bytes` to `file` so that it is never found cut short (a full disk, an interrupted
/// build, a service reading the file meanwhile): to a new file beside it, synced, then renamed
/// over it. A regular file keeps its permissions and a read-only one is refused; a symbolic
/// link is followed (the file it points to is replaced, the link kept, even when that file
/// does not exist yet); anything but a regular file (a device, a pipe) is written in place.
/// The file beside is created anew (never through a link someone placed under its name).
fn write_whole(file: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let mut target = std::path::PathBuf::from(file);
    // Follow links (a few: a loop is an error) to the file they name, existing or not.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&target)?;
                target = target.parent().map_or_else(|| to.clone(), |dir| dir.join(&to));
            }
            _ => break,
        }
    }
    let existing = std::fs::metadata(&target).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        return std::fs::write(&target, bytes);
    }
    if existing.as_ref().is_some_and(|m| m.permissions().readonly()) {
        return Err(Error::new(ErrorKind::PermissionDenied, "the file is read-only"));
    }
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A name no one can have made ready: created anew, and another tried if it exists.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let (temp, mut out) = (0u32..100)
        .find_map(|i| {
            let temp = target.with_file_name(format!(".{name}.rbac-{}-{nanos:x}-{i}", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(f) => Some(Ok((temp, f))),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(Error::new(ErrorKind::AlreadyExists, "no free name for a file beside it")))?;
    let written = out
        .write_all(bytes)
        .and_then(|()| existing.map_or(Ok(()), |m| out.set_permissions(m.permissions())))
        .and_then(|()| out.sync_all())
        .and_then(|()| std::fs::rename(&temp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn build_wasm(policy: &str, output: &str) -> ExitCode {
    let path = policy;
    let Some((policy, sources)) = load_policy_from(policy, "nothing was built") else { return ExitCode::from(2) };
    let bytes = match rbac::wasm::emit(&policy) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error[{}]: {}\nerror: nothing was built", e.code, e.message);
            return ExitCode::from(2);
        }
    };
    write_built(path, sources.as_deref(), output, &bytes)
}

fn build_bundle(policy: &str, output: &str) -> ExitCode {
    let path = policy;
    let Some((policy, sources)) = load_policy_from(policy, "nothing was built") else { return ExitCode::from(2) };
    write_built(path, sources.as_deref(), output, &policy.to_bundle())
}

fn explain(code: &str) -> ExitCode {
    match rbac::diag::explain(code) {
        Some(text) => {
            let _ = writeln!(stdout(), "{text}");
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
