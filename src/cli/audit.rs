//! The audit log on the command line: `--audit-log` on `eval`, `can` and `diff` (opening the
//! file, recording, closing), and `rbac audit verify` / `rbac audit show`.
//!
//! A decision is recorded before it is printed: when the log cannot be written the command
//! stops with exit 2 and prints no decision that has no entry.

use super::Format;
use rbac::audit::{self, AuditLog, AuditOptions, FileSink, SyncPolicy, Verifier};
use rbac::{Decision, Policy};
use serde_json::Value;
use std::io::{BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

/// The `--audit-log` options of `eval`, `can` and `diff`.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// Append a hash-chained JSON entry per decision to FILE (created if missing; an
    /// existing log's chain is continued). See docs/audit.md.
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<String>,
    /// When entries are made durable: `always` (fsync each), `batch` (flush each, fsync every
    /// 100 and at exit), `batch:N`, or `never` (buffered, no fsync).
    #[arg(long = "audit-sync", value_name = "POLICY", default_value = "batch", requires = "audit_log")]
    pub audit_sync: SyncPolicy,
    /// Write a request attribute as its SHA-256 instead of its value: `resource.owner`,
    /// `principal.id`, `context.*`, `claims.email`... (repeatable).
    #[arg(long = "mask", value_name = "FIELD", requires = "audit_log")]
    pub mask: Vec<String>,
}

/// The `--audit-log` options of `diff`, which records a policy change (no request: nothing
/// to mask).
#[derive(clap::Args, Debug, Clone)]
pub struct ChangeLogArgs {
    /// Also record the change (both digests and a summary of it) as an entry of this audit log
    /// (created if missing; an existing log's chain is continued). See docs/audit.md.
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<String>,
    /// When the entry is made durable: `always` or `batch` (fsync), `batch:N`, or `never`.
    #[arg(long = "audit-sync", value_name = "POLICY", default_value = "batch", requires = "audit_log")]
    pub audit_sync: SyncPolicy,
}

impl ChangeLogArgs {
    /// As [`LogArgs`], masking nothing.
    pub fn as_log_args(&self) -> LogArgs {
        LogArgs { audit_log: self.audit_log.clone(), audit_sync: self.audit_sync, mask: Vec::new() }
    }
}

/// An open log and the digest of the policy its decisions come from.
pub struct Recorder {
    log: AuditLog<FileSink>,
    path: String,
    digest: String,
}

impl LogArgs {
    /// Opens the log when one was asked for; `Err` (already reported) when it cannot be.
    pub fn open(&self, policy: &Policy) -> Result<Option<Recorder>, ExitCode> {
        let Some(path) = &self.audit_log else { return Ok(None) };
        let mask = audit::Mask::parse(&self.mask).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        let (mask, digest) = (mask.for_policy(policy), policy.digest());
        match audit::open_file(Path::new(path), AuditOptions { sync: self.audit_sync, mask }) {
            Ok(log) => Ok(Some(Recorder { log, path: path.clone(), digest })),
            Err(e) => {
                eprintln!("error: cannot append to the audit log `{path}`: {e}");
                if matches!(e, audit::OpenError::Torn { .. } | audit::OpenError::Invalid { .. }) {
                    eprintln!(
                        "  help: `rbac audit verify {path}` shows the damage; keep the file as evidence and start a \
                         new log, or see docs/audit.md (\"Torn lines\")"
                    );
                }
                Err(ExitCode::from(2))
            }
        }
    }
}

impl Recorder {
    /// Records a decision on `request` (its JSON); `Err` (already reported) on failure.
    pub fn decision(&mut self, request: &Value, decision: &Decision) -> Result<(), ExitCode> {
        let digest = self.digest.clone();
        self.log.record_decision(&digest, request, decision).map(|_| ()).map_err(|e| self.failed(&e))
    }

    /// Records a policy change.
    pub fn policy_change(&mut self, change: &audit::PolicyChange) -> Result<(), ExitCode> {
        self.log.record_policy_change(change).map(|_| ()).map_err(|e| self.failed(&e))
    }

    /// Hands the entries recorded so far to the operating system (under `never` they wait
    /// in a buffer); `Err` (already reported) when they cannot be written.
    pub fn flush(&mut self) -> Result<(), ExitCode> {
        self.log.flush().map_err(|e| self.failed(&e))
    }

    fn failed(&self, e: &std::io::Error) -> ExitCode {
        eprintln!("error: cannot write the audit log `{}`: {e}; stopping", self.path);
        ExitCode::from(2)
    }

    /// Flushes (and syncs, unless `never`).
    pub fn close(self) -> Result<(), ExitCode> {
        let path = self.path.clone();
        self.log.close().map_err(|e| {
            eprintln!("error: cannot write the audit log `{path}`: {e}");
            ExitCode::from(2)
        })
    }
}

/// The stand-in for a request that was not JSON: the hash of its text.
pub fn malformed_request(text: &str) -> Value {
    serde_json::json!({ "malformed": audit::masked(&Value::String(text.to_string())) })
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check a log's hash chain; exit 0 only when it is intact (and holds the anchor).
    Verify {
        file: String,
        /// A hash kept elsewhere (a former head): it must still be in the log, which catches
        /// entries cut from its end.
        #[arg(long)]
        anchor: Option<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Cut a torn last line (an interrupted write) so the log can be appended to again: the
    /// log must have no other damage; the torn bytes are kept in FILE.torn-LINE and a
    /// `recovery` entry in the chain records the cut.
    Recover { file: String },
    /// Print a log readably (does not verify it: use `verify`).
    Show {
        file: String,
        /// Only decisions about this principal id (also found when it was masked).
        #[arg(long)]
        principal: Option<String>,
        /// Only `allow` or `deny` decisions.
        #[arg(long, value_parser = ["allow", "deny"])]
        decision: Option<String>,
        /// Only entries at or after this time (RFC 3339, or a date: 2026-05-01).
        #[arg(long)]
        since: Option<String>,
        /// Only entries before this time.
        #[arg(long)]
        until: Option<String>,
        /// `human`, or `json` for the matching lines as written.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify { file, anchor, format } => verify(&file, anchor.as_deref(), format),
        AuditCommand::Recover { file } => recover(&file),
        AuditCommand::Show { file, principal, decision, since, until, format } => {
            let filter = match Filter::new(principal, decision, since.as_deref(), until.as_deref()) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            show(&file, &filter, format)
        }
    }
}

/// Reads a file line by line, in bounded memory: `(the line, ended by a newline)`; a line
/// longer than an entry can be is measured, not held (a 6 GB line took 6 GB).
fn each_line(file: &str, mut f: impl FnMut(audit::Line<'_>, bool)) -> Result<(), ExitCode> {
    let opened = std::fs::File::open(file).map_err(|e| {
        eprintln!("error[E0209]: cannot read `{file}`: {e}");
        ExitCode::from(2)
    })?;
    let mut reader = audit::LineReader::new(BufReader::with_capacity(1 << 16, opened));
    loop {
        match reader.next_line() {
            Ok(None) => return Ok(()),
            Ok(Some((line, complete))) => f(line, complete),
            Err(e) => {
                eprintln!("error[E0209]: reading `{file}`: {e}");
                return Err(ExitCode::from(2));
            }
        }
    }
}

fn verify(file: &str, anchor: Option<&str>, format: Format) -> ExitCode {
    // An anchor is an entry's hash: anything else could never be found, and would read as a
    // cut log.
    if let Some(a) = anchor
        && !rbac::audit::is_hash(a)
    {
        eprintln!("error: `--anchor {a}` is no entry hash (64 lowercase hex digits, as `audit verify` prints)");
        return ExitCode::from(2);
    }
    let mut verifier = Verifier::new(anchor);
    let read = each_line(file, |line, complete| match line {
        audit::Line::Text(text) => verifier.line(text, complete),
        audit::Line::Oversize(len) => verifier.oversize_line(len, complete),
    });
    if let Err(code) = read {
        return code;
    }
    let report = verifier.finish();
    let mut out = super::stdout();
    let _ = match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default()),
        Format::Human => {
            for p in &report.problems {
                let kind = serde_json::to_value(p.kind).ok().and_then(|v| v.as_str().map(str::to_string));
                let line = format!("{file}:{}: {}: {}", p.line, kind.unwrap_or_default(), p.message);
                let _ = writeln!(out, "{}", super::human::shown(&line));
            }
            if !report.unlisted.is_empty() {
                let kinds: Vec<String> = report
                    .unlisted
                    .iter()
                    .map(|(k, n)| {
                        let kind = serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string));
                        format!("{n} {}", kind.unwrap_or_default())
                    })
                    .collect();
                let line =
                    format!("{file}: {} not listed ({})", more_problems(report.unlisted_count()), kinds.join(", "));
                let _ = writeln!(out, "{}", super::human::shown(&line));
            }
            let head = report
                .head
                .as_ref()
                .map_or(String::new(), |h| format!("; head {} (seq {})", h.hash, h.entries.saturating_sub(1)));
            let anchor = report.anchor_line.map_or(String::new(), |l| format!("; anchor at line {l}"));
            if report.intact() {
                let n = report.entries;
                writeln!(out, "{file}: intact: {n} entr{}{head}{anchor}", if n == 1 { "y" } else { "ies" })
            } else {
                let n = report.problem_count();
                writeln!(
                    out,
                    "{file}: NOT intact: {n} problem{} in {} lines",
                    if n == 1 { "" } else { "s" },
                    report.lines
                )
            }
        }
    };
    ExitCode::from(u8::from(!report.intact()))
}

fn recover(file: &str) -> ExitCode {
    match audit::recover_file(std::path::Path::new(file)) {
        Ok((torn, recorded)) => {
            let _ = writeln!(
                super::stdout(),
                "{file}: cut torn line {} ({} bytes, sha256 {}), kept in {}; recorded as entry seq {}; head {}",
                torn.line,
                torn.bytes,
                torn.sha256,
                torn.evidence,
                recorded.seq,
                recorded.hash
            );
            ExitCode::SUCCESS
        }
        Err(audit::RecoverError::NotTorn) => {
            let _ = writeln!(super::stdout(), "{file}: the last line is not torn: nothing to recover");
            ExitCode::SUCCESS
        }
        Err(e @ audit::RecoverError::Damaged { .. }) => {
            eprintln!("error: {file}: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: cannot recover `{file}`: {e}");
            ExitCode::from(2)
        }
    }
}

/// What `audit show` keeps.
struct Filter {
    principal: Option<(String, Value)>,
    decision: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
}

impl Filter {
    fn new(
        principal: Option<String>,
        decision: Option<String>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Filter, String> {
        let time = |t: Option<&str>| t.map(audit::time::parse_rfc3339).transpose();
        Ok(Filter {
            principal: principal.map(|p| {
                let hidden = audit::masked(&Value::String(p.clone()));
                (p, hidden)
            }),
            decision,
            since: time(since)?,
            until: time(until)?,
        })
    }

    fn keeps(&self, e: &Value) -> bool {
        if let Some((id, hidden)) = &self.principal {
            let is = |v: Option<&Value>| v.is_some_and(|v| v.as_str() == Some(id) || v == hidden);
            let by_reason = e
                .pointer("/decision/reasons")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| is(r.get("subject"))));
            if !is(e.pointer("/request/principal/id")) && !is(e.get("principal")) && !by_reason {
                return false;
            }
        }
        if let Some(d) = &self.decision
            && e.pointer("/decision/decision").and_then(Value::as_str) != Some(d)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = e.get("time").and_then(Value::as_str).and_then(|t| audit::time::parse_rfc3339(t).ok()) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        true
    }
}

fn show(file: &str, filter: &Filter, format: Format) -> ExitCode {
    let mut out = std::io::BufWriter::new(super::stdout());
    let mut n = 0u64;
    let mut bad = 0u64;
    let result = each_line(file, |line, _| {
        n += 1;
        let line = match line {
            audit::Line::Text(text) => text,
            audit::Line::Oversize(len) => {
                bad += 1;
                if bad <= WARNED_LINES {
                    eprintln!(
                        "warning: {file}:{n} is not a log entry: {len} bytes, longer than an entry can be (skipped)"
                    );
                }
                return;
            }
        };
        let Ok(entry) = serde_json::from_slice::<Value>(line) else {
            bad += 1;
            if bad <= WARNED_LINES {
                eprintln!("warning: {file}:{n} is not a log entry (skipped; `rbac audit verify` says more)");
            }
            return;
        };
        if !filter.keeps(&entry) {
            return;
        }
        let _ = match format {
            Format::Json => out.write_all(line).and_then(|()| out.write_all(b"\n")),
            Format::Human => out.write_all(describe(n, &entry).as_bytes()),
        };
    });
    if let Err(code) = result {
        return code;
    }
    if bad > WARNED_LINES {
        eprintln!(
            "warning: {file}: {} more lines are not log entries (skipped, not listed; `rbac audit verify` says more)",
            bad - WARNED_LINES
        );
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// `audit show` warns of this many lines that are no entries, then counts the rest (a file of
/// ten million blank lines gave ten million warnings).
const WARNED_LINES: u64 = 100;

/// One entry for people: a header line and, for decisions, the reasons. Every string from the
/// entry is shown escaped ([`super::human::shown`]): a request's principal id, action or path
/// is the requester's text, and a line feed in it must not print as a made-up entry.
fn describe(line: u64, e: &Value) -> String {
    let shown = |v: &str| super::human::shown(v).into_owned();
    let s = |p: &str| shown(e.pointer(p).and_then(Value::as_str).unwrap_or("?"));
    let seq = e.get("seq").and_then(Value::as_u64).map_or("?".to_string(), |n| n.to_string());
    let head = format!("line {line} seq {seq} {}", s("/time"));
    match e.get("kind").and_then(Value::as_str) {
        Some("decision") => {
            let principal = match e.pointer("/request/principal") {
                Some(p) if p.get("id").is_some() => s("/request/principal/id"),
                Some(p) => {
                    let identity = shown(p.get("identity").and_then(Value::as_str).unwrap_or("?"));
                    match e.get("principal").and_then(Value::as_str) {
                        Some(id) => format!("{} (identity {identity})", shown(id)),
                        None => format!("identity {identity}"),
                    }
                }
                None => "(malformed request)".to_string(),
            };
            let path = match e.pointer("/request/resource") {
                Some(Value::String(p)) => shown(p),
                Some(r) => shown(r.get("path").and_then(Value::as_str).unwrap_or("?")),
                None => "?".to_string(),
            };
            let mut out = format!(
                "{head} {} {principal} {} {path}  (id {}, policy {})\n",
                s("/decision/decision"),
                s("/request/action"),
                s("/id"),
                s("/policy")
            );
            if let Some(d) = e.get("decision").and_then(|d| serde_json::from_value::<Decision>(d.clone()).ok()) {
                for l in super::human::decision(&d).lines().skip(1) {
                    out.push_str(&format!("  {l}\n"));
                }
            }
            out
        }
        Some("policy_change") => {
            let count = |k: &str| e.pointer(&format!("/summary/{k}")).and_then(Value::as_u64).unwrap_or(0);
            let mut out = format!(
                "{head} policy change {} -> {}  ({} -> {}): {} gained, {} lost, {} changed\n",
                s("/old_policy"),
                s("/new_policy"),
                s("/old_file"),
                s("/new_file"),
                count("gained"),
                count("lost"),
                count("changed")
            );
            for edit in e.pointer("/summary/edits").and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
                out.push_str(&format!("    {}\n", shown(edit.as_str().unwrap_or("?"))));
            }
            out
        }
        Some("recovery") => {
            let n = |k: &str| e.get(k).and_then(Value::as_u64).map_or("?".to_string(), |n| n.to_string());
            format!(
                "{head} recovery: torn line {} ({} bytes, sha256 {}) cut, kept in {}\n",
                n("torn_line"),
                n("torn_bytes"),
                s("/torn_sha256"),
                s("/evidence")
            )
        }
        other => format!("{head} {}\n", shown(other.unwrap_or("(no kind)"))),
    }
}

/// `1 more problem`, `7 more problems`.
fn more_problems(n: u64) -> String {
    format!("{n} more problem{}", if n == 1 { "" } else { "s" })
}
