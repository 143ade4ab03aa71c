//! Human-readable decisions and test failures for the terminal.

use rbac::identity::VerifiedToken;
use rbac::{Decision, ExpectationResult, Reason, RuleReason};
use std::fmt::Write;

fn rule_line(kind: &str, r: &RuleReason) -> String {
    let via = if r.via.len() > 1 { format!(" (via {})", r.via.join(" -> ")) } else { String::new() };
    let scope = match &r.scope {
        Some(s) => format!("on `{s}`"),
        None => "everywhere".to_string(),
    };
    let from = match &r.source {
        Some(s) => format!(" (from `{}` claim `{}` value {:?})", s.identity, s.claim, s.value),
        None => String::new(),
    };
    let mut line = format!("  {kind}: role `{}`{via}, held by `{}`{from} {scope}, rule at {}", r.role, r.subject, r.at);
    if !r.unevaluable.is_empty() {
        let attrs: Vec<String> = r.unevaluable.iter().map(|a| format!("`{a}`")).collect();
        let _ = write!(line, "; could not evaluate {}", attrs.join(", "));
    }
    line
}

/// `allow` / `deny` and one line per reason.
pub fn decision(d: &Decision) -> String {
    decision_as(d, None)
}

/// Like [`decision`], saying first whom a verified token proved.
pub fn decision_as(d: &Decision, token: Option<&VerifiedToken>) -> String {
    let mut s = format!("{}\n", d.decision.as_str());
    if let Some(t) = token {
        let who = t.principal.as_deref().map_or(String::new(), |p| format!(" as `{p}`"));
        let key = t.key_id.as_deref().map_or(String::new(), |k| format!(" (key `{k}`)"));
        let _ = writeln!(s, "  token verified for identity `{}`{who}{key}", t.identity);
    }
    for e in &d.errors {
        let _ = writeln!(s, "  invalid request [{}]: {}", e.code, e.message);
    }
    for r in &d.reasons {
        let line = match r {
            Reason::Allow(r) => rule_line("allowed by", r),
            Reason::Deny(r) => rule_line("denied by", r),
            Reason::Skipped(r) => rule_line("not applied", r),
            Reason::NoRule => "  no rule allows it".to_string(),
            Reason::Exclusive { roles } => format!(
                "  separation of duty: holds {} of one `exclusive` set",
                roles.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" and ")
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// A failed expectation: where, expected, actual, and why.
pub fn failure(r: &ExpectationResult<'_>) -> String {
    let req = serde_json::to_string(&r.expectation.request).unwrap_or_default();
    let mut s = format!("  FAILED {}: expected {}, got ", r.expectation.at, r.expectation.effect.as_str());
    s.push_str(&decision(&r.actual).replace('\n', "\n    "));
    let _ = writeln!(s, "request: {req}");
    s
}
