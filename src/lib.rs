//! `rbac`: a compiler and evaluator for `.rbac`, a declarative, statically checked policy
//! language for role-based access control.
//!
//! The pipeline: [`syntax`] parses each file into an AST, `check` resolves names and types
//! into a typed IR, `graph` orders role inheritance, `compile` folds it all into flat
//! tables, and `eval` decides requests over those tables. This module is the small public
//! surface: [`compile`](fn@compile), [`Policy`], [`Request`], [`Decision`] and the diagnostics.
//!
//! ```
//! let src = r#"
//!     resource workspace { actions read, write; }
//!     role reader { allow read on workspace; }
//!     assign reader to user:ann on workspace:prod;
//! "#;
//! let compiled = rbac::compile_str("policy.rbac", src);
//! let policy = compiled.policy.expect("the policy checks");
//! let d = policy.decide(&rbac::Request::new("user:ann", &[], "read", "workspace:prod"));
//! assert!(d.is_allow());
//! let d = policy.decide(&rbac::Request::new("user:ann", &[], "write", "workspace:prod"));
//! assert!(!d.is_allow());
//! ```

#![warn(missing_docs)]

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// docs/identity.md's library example, compiled as a doctest (not run: it reads files).
#[doc = include_str!("../docs/identity.md")]
#[cfg(doctest)]
pub struct IdentityDoctests;

pub mod audit;
// The checker's IR, the parser and the path reader are the compiler's own: public for the
// `rbac` binary (lsp, fmt) and the tests, not part of the library's documented surface.
#[doc(hidden)]
pub mod check;
mod compile;
pub mod diag;
mod eval;
mod graph;
pub mod identity;
#[doc(hidden)]
pub mod path;
mod request;
pub mod review;
pub mod source;
#[doc(hidden)]
pub mod syntax;
pub mod wasm;

pub use compile::CompiledPolicy;
pub use compile::bundle::BundleError;
pub use diag::{Diagnostic, Diagnostics, Severity, Sources};
pub use eval::{Subject, Target, Verdict};
pub use request::{
    Decision, DirectPrincipal, Effect, Entity, GroupSource, IdentityPrincipal, Principal, Reason, Reasons, Request,
    RequestError, ResourceRef, RuleReason, TokenPrincipal,
};
pub use source::{FsLoader, Loader, MemoryLoader};

use diag::Span;
use std::collections::{HashSet, VecDeque};
use syntax::ast::{Item, UseTarget};

/// The result of compiling: the policy when there were no errors, every diagnostic (errors
/// and warnings), and the sources they point into.
#[derive(Debug)]
pub struct Compilation {
    /// The policy, or `None` when any diagnostic is an error.
    pub policy: Option<Policy>,
    /// Every error and warning, sorted by file and position.
    pub diagnostics: Diagnostics,
    /// The files read, which the diagnostics' spans point into.
    pub sources: Sources,
}

impl Compilation {
    /// The diagnostics rendered for a person (ariadne); `color` for terminals.
    pub fn render(&self, color: bool) -> String {
        diag::render_human(&self.sources, self.diagnostics.iter(), color)
    }

    /// The diagnostics as a JSON array, for editors.
    pub fn render_json(&self) -> serde_json::Value {
        diag::render_json(&self.sources, self.diagnostics.iter())
    }
}

/// Compiles the given root files, and every file they `use`, into a policy. No roots give
/// an empty policy (it denies every request: no rule allows anything).
pub fn compile(loader: &dyn Loader, roots: &[&str]) -> Compilation {
    let mut sources = Sources::default();
    let mut diagnostics = Diagnostics::default();
    let mut files: Vec<syntax::ast::File> = Vec::new();
    // The `assign` items of each file left in its text, read again while checking.
    let mut deferred = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<source::Loaded> = VecDeque::new();
    for root in roots {
        match loader.load(root) {
            Ok(l) => queue.push_back(l),
            Err(e) => {
                let id = sources.add((*root).to_string(), String::new());
                diagnostics.push(Diagnostic::error("E0209", e, Span::new(id, 0, 0), "cannot be read"));
            }
        }
    }
    while let Some(loaded) = queue.pop_front() {
        if !seen.insert(loaded.key.clone()) {
            continue;
        }
        let id = sources.add(loaded.name.clone(), loaded.text);
        let text = sources.get(id).map_or("", |f| f.text.as_str());
        let mut offsets = Vec::new();
        let file = syntax::parse_deferring(id, text, &mut diagnostics, &mut offsets);
        deferred.push((id, offsets));
        for item in &file.items {
            let Item::Use(u) = item else { continue };
            match &u.target {
                UseTarget::Module(path) => {
                    let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                    let found = match names.as_slice() {
                        ["std", name] => source::stdlib(name),
                        _ => None,
                    };
                    match found {
                        Some(l) => queue.push_back(l),
                        None => {
                            let wanted = names.join("::");
                            let known: Vec<String> = source::STDLIB.iter().map(|(n, _)| format!("std::{n}")).collect();
                            let help = diag::did_you_mean(&wanted, known.iter().map(String::as_str));
                            diagnostics.push(
                                Diagnostic::error(
                                    "E0208",
                                    format!("unknown module `{wanted}`"),
                                    u.target_span,
                                    "no such module",
                                )
                                .with_help(help.unwrap_or_else(|| {
                                    let list: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
                                    format!("the standard library has {}", list.join(", "))
                                })),
                            );
                        }
                    }
                }
                UseTarget::File(rel) => match loader.load_relative(&loaded.name, rel) {
                    Ok(l) => queue.push_back(l),
                    Err(e) => {
                        diagnostics.push(Diagnostic::error("E0209", e, u.target_span, "this file cannot be read"))
                    }
                },
            }
        }
        files.push(file);
    }

    let syntax_ok = !diagnostics.has_errors();
    let mut policy = None;
    if syntax_ok {
        let ir = check::check_deferred(files, deferred, &sources, &mut diagnostics);
        if !diagnostics.has_errors() {
            let compiled = compile::compile(&ir, &sources, &|f| f);
            let tests = ir
                .tests
                .iter()
                .map(|t| PolicyTest {
                    name: t.name.clone(),
                    at: sources.location(t.span),
                    expects: t
                        .expects
                        .iter()
                        .map(|e| Expectation {
                            effect: e.effect,
                            request: e.request.clone(),
                            at: sources.location(e.span),
                        })
                        .collect(),
                })
                .collect();
            policy = Some(Policy { compiled, tests, digest: std::sync::OnceLock::new() });
        }
    }
    diagnostics.sort();
    Compilation { policy, diagnostics, sources }
}

/// Compiles one in-memory source (which may `use std::...`, but no other files).
pub fn compile_str(name: &str, text: &str) -> Compilation {
    compile(&MemoryLoader::new().with(name, text), &[name])
}

/// A compiled policy, ready to decide requests. It is `Send + Sync` and decides through
/// `&self`: share one across threads by reference or in an [`std::sync::Arc`]. `Clone` copies
/// every table (hundreds of MiB for a million assignments), and a [`Subject`] or [`Target`]
/// prepared by one copy is refused by another (E0742).
///
/// ```
/// fn assert_shareable<T: Send + Sync>() {}
/// assert_shareable::<rbac::Policy>();
/// ```
#[derive(Clone)]
pub struct Policy {
    compiled: CompiledPolicy,
    tests: Vec<PolicyTest>,
    /// [`Policy::digest`], computed once (it walks every assignment); a bundle brings it.
    digest: std::sync::OnceLock<String>,
}

/// A summary: a large policy's tables printed whole would be hundreds of megabytes.
impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("roles", &self.compiled.role_names.len())
            .field("rules", &self.compiled.rules.len())
            .field("tests", &self.tests.len())
            .finish_non_exhaustive()
    }
}

/// A `test` block of the policy.
#[derive(Debug, Clone)]
pub struct PolicyTest {
    /// The test's name: `NAME` of `test "NAME"`.
    pub name: String,
    /// `file:line:col` of the test.
    pub at: String,
    /// Its `expect` lines, in source order.
    pub expects: Vec<Expectation>,
}

/// One `expect` line: the request it makes and the decision it expects.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The decision expected.
    pub effect: Effect,
    /// The request the line makes.
    pub request: Request,
    /// `file:line:col` of the `expect`.
    pub at: String,
}

/// The outcome of one `expect`.
#[derive(Debug, Clone)]
pub struct ExpectationResult<'p> {
    /// The test the `expect` is in.
    pub test: &'p PolicyTest,
    /// The `expect` run.
    pub expectation: &'p Expectation,
    /// The decision the policy gave.
    pub actual: Decision<'p>,
}

impl ExpectationResult<'_> {
    /// Whether the decision is the expected one, with no request errors.
    pub fn passed(&self) -> bool {
        self.actual.decision == self.expectation.effect && self.actual.errors.is_empty()
    }
}

impl Policy {
    /// Decides a request (docs/language.md §8). Invalid requests are denied with errors.
    pub fn decide(&self, request: &Request) -> Decision<'_> {
        eval::decide(&self.compiled, request)
    }

    /// Decides a request like [`Policy::decide`], leaving the reasons as indexes into the
    /// compiled policy until [`Verdict::decision`] writes them out. For a valid request with
    /// up to four groups, a path of up to eight segments without quoted ids and up to two
    /// rules firing it does not allocate; use it where only the effect is needed at once (a
    /// gateway that logs reasons later, or only for denials).
    ///
    /// ```
    /// let policy = rbac::compile_str("p.rbac", r#"
    ///     resource workspace { actions read; }
    ///     role viewer { allow read on workspace; }
    ///     assign viewer to user:ann on workspace:prod;
    /// "#).policy.expect("compiles");
    /// let request = rbac::Request::new("user:ann", &[], "read", "workspace:prod");
    /// let verdict = policy.verdict(&request);
    /// assert!(verdict.is_allow());
    /// assert_eq!(verdict.decision(), policy.decide(&request));
    /// ```
    pub fn verdict<'p: 'r, 'r>(&'p self, request: &'r Request) -> Verdict<'p, 'r> {
        eval::verdict(&self.compiled, request)
    }

    /// Resolves a direct principal once, for many decisions by [`Policy::check`]: the
    /// requests of one session, or a list of resources filtered by what one principal may do.
    /// A principal the policy rejects (an id that is not `user:` or `service:`, an attribute
    /// of the wrong type) gives the invalid-request decision with those errors.
    ///
    /// ```
    /// use rbac::{DirectPrincipal, Request, ResourceRef};
    /// let policy = rbac::compile_str("p.rbac", r#"
    ///     resource workspace { actions read, write; }
    ///     group devs;
    ///     role viewer { allow read on workspace; }
    ///     assign viewer to group:devs on workspace:prod;
    /// "#).policy.expect("compiles");
    /// let ann = DirectPrincipal { id: "user:ann".into(), groups: vec!["devs".into()], attrs: Default::default() };
    /// let subject = policy.subject(&ann).expect("a valid principal");
    /// let context = serde_json::Map::new();
    /// for path in ["workspace:prod", "workspace:dev"] {
    ///     let target = policy.target(&ResourceRef { path: path.into(), attrs: Default::default() }).expect("a valid path");
    ///     let verdict = policy.check(&subject, "read", &target, &context);
    ///     // The same decision as for the whole request.
    ///     assert_eq!(verdict.decision(), policy.decide(&Request::new("user:ann", &["devs"], "read", path)));
    ///     assert_eq!(verdict.is_allow(), path == "workspace:prod");
    /// }
    /// ```
    pub fn subject(&self, principal: &DirectPrincipal) -> Result<Subject<'_>, Decision<'static>> {
        eval::subject(&self.compiled, principal).map_err(Decision::invalid)
    }

    /// Resolves a resource (its path, its attributes) once, for many decisions by
    /// [`Policy::check`]. A malformed path, one that leaves the type tree, or an attribute of
    /// the wrong type gives the invalid-request decision with those errors.
    pub fn target(&self, resource: &ResourceRef) -> Result<Target<'_>, Decision<'static>> {
        eval::target(&self.compiled, resource).map_err(Decision::invalid)
    }

    /// Decides `action` on a prepared target for a prepared subject, with the request's
    /// `context` attributes: the decision [`Policy::verdict`] gives the request made of the
    /// same parts, without reading any name but the action. An action the target's type
    /// does not declare, or a context attribute of the wrong type, is an invalid request;
    /// a subject or target prepared by another policy is too (E0742).
    pub fn check<'p, 'r>(
        &'p self,
        subject: &'r Subject<'p>,
        action: &str,
        target: &'r Target<'p>,
        context: &'r serde_json::Map<String, serde_json::Value>,
    ) -> Verdict<'p, 'r> {
        eval::check(&self.compiled, subject, action, target, context)
    }

    /// Decides a request whose principal may be a signed token: the verifier checks the
    /// token and turns it into the identity principal it proves, which is then decided like
    /// any other (docs/language.md §8). A token that fails verification is denied with the
    /// error that names why (`E075x`). Other requests are decided as by [`Policy::decide`].
    pub fn decide_with(&self, request: &Request, verifier: &identity::TokenVerifier) -> Decision<'_> {
        match verifier.resolve(self, request) {
            Ok(resolved) => self.decide(&resolved),
            Err(e) => Decision::invalid(vec![e]),
        }
    }

    /// Adds to `decision` the sources of claim-given groups (which identity, claim and value
    /// gave each group a reason names). [`Policy::decide`] and the WebAssembly hosts do this
    /// already; it is for decisions made by other engines, so every engine's decisions read
    /// the same.
    pub fn add_group_sources(&self, request: &Request, decision: &mut Decision) {
        identity::annotate(&self.compiled, request, decision);
    }

    /// The policy digest (`sha256:...`): stable across runs, independent of declaration
    /// order and source locations; see [`audit::policy_digest`]. A policy loaded from a bundle
    /// gives the digest the bundle stores, not one computed again: the bundle's checksum
    /// catches damage, not forgery, so load only bundles you built (`review::diff` computes
    /// digests from the tables).
    pub fn digest(&self) -> String {
        self.digest.get_or_init(|| audit::policy_digest(&self.compiled)).clone()
    }

    /// The policy as a bundle: its compiled tables and `test` blocks in a binary form that
    /// [`Policy::from_bundle`] loads without parsing or checking the sources again (what
    /// `rbac build --target bundle` writes; the format is in docs/bundle.md). The same
    /// policy always gives the same bytes. A bundle is read only by an `rbac` that reads its
    /// format version: rebuild bundles from the sources after upgrading.
    ///
    /// ```
    /// let policy = rbac::compile_str("p.rbac", r#"
    ///     resource workspace { actions read; }
    ///     role viewer { allow read on workspace; }
    ///     assign viewer to user:ann on workspace:prod;
    /// "#).policy.expect("compiles");
    /// let bytes = policy.to_bundle();
    /// assert!(rbac::Policy::is_bundle(&bytes));
    /// let loaded = rbac::Policy::from_bundle(&bytes).expect("a bundle we just wrote loads");
    /// let request = rbac::Request::new("user:ann", &[], "read", "workspace:prod");
    /// assert_eq!(loaded.decide(&request), policy.decide(&request));
    /// assert_eq!(loaded.digest(), policy.digest());
    ///
    /// // Damage is an error with a code, never a policy that decides differently.
    /// let mut bad = bytes.clone();
    /// let last = bad.len() - 1;
    /// bad[last] ^= 1;
    /// assert_eq!(rbac::Policy::from_bundle(&bad).unwrap_err().code, "E0804");
    /// assert_eq!(rbac::Policy::from_bundle(b"role r {}").unwrap_err().code, "E0801");
    /// ```
    pub fn to_bundle(&self) -> Vec<u8> {
        compile::bundle::write(&self.compiled, &self.tests, self.digest())
    }

    /// Loads a policy from a bundle written by [`Policy::to_bundle`]. Checks the magic
    /// bytes, the format version, the length, the SHA-256 of the payload, and that every
    /// table is whole; any failure is a [`BundleError`] with its code (`E0801`-`E0805`).
    pub fn from_bundle(bytes: &[u8]) -> Result<Policy, BundleError> {
        let loaded = compile::bundle::read(bytes)?;
        // The digest the writer computed is trusted like the tables: the checksum covers
        // both, and `tests/bundle.rs` checks that recomputing it on a loaded policy agrees.
        Ok(Policy { compiled: loaded.policy, tests: loaded.tests, digest: std::sync::OnceLock::from(loaded.digest) })
    }

    /// Whether `bytes` start with the bundle magic (they are a bundle, or a damaged one),
    /// rather than policy source text.
    pub fn is_bundle(bytes: &[u8]) -> bool {
        compile::bundle::is_bundle(bytes)
    }

    /// The compiled tables.
    pub fn compiled(&self) -> &CompiledPolicy {
        &self.compiled
    }

    /// The policy's `test` blocks.
    pub fn tests(&self) -> &[PolicyTest] {
        &self.tests
    }

    /// Which rules, role assignments and `exclusive` sets decided some expectation of the
    /// policy's `test` blocks: what its tests leave unexercised.
    ///
    /// ```
    /// let policy = rbac::compile_str("p.rbac", r#"
    ///     resource workspace { actions read, delete; }
    ///     role viewer { allow read on workspace; }
    ///     role admin extends viewer { allow delete on workspace; }
    ///     assign viewer to user:ann;
    ///     assign admin to user:bob on workspace:prod;
    ///     test "ann reads" { expect allow user:ann read workspace:prod; }
    /// "#).policy.expect("compiles");
    /// let coverage = policy.coverage();
    /// let missed: Vec<_> = coverage.rules_missed().map(|r| r.role.as_str()).collect();
    /// assert_eq!(missed, ["admin"]);
    /// let missed: Vec<_> = coverage.assignments_missed().map(|a| a.subject.as_str()).collect();
    /// assert_eq!(missed, ["user:bob"]);
    /// ```
    pub fn coverage(&self) -> review::Coverage {
        review::coverage(self)
    }

    /// Runs every `expect` of every test block.
    pub fn run_tests(&self) -> Vec<ExpectationResult<'_>> {
        self.tests
            .iter()
            .flat_map(|t| t.expects.iter().map(move |e| (t, e)))
            .map(|(test, expectation)| ExpectationResult {
                test,
                expectation,
                actual: self.decide(&expectation.request),
            })
            .collect()
    }
}
