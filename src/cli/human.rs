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

/// One line of text as a terminal may show it: every control character (line breaks and
/// escape sequences among them) and every character that reorders or breaks text (U+0085,
/// U+2028/9, bidirectional-text controls) written as a `\u{...}` escape. Values in these
/// lines come from requests, tokens (a key id from a header no one has verified yet) and
/// logs: shown raw, they could act on the terminal or print a line that reads like another
/// answer.
pub fn shown(line: &str) -> std::borrow::Cow<'_, str> {
    // The characters E0105 refuses in sources, and the line feed and tab besides.
    rbac::syntax::escape_shown(line, true)
}

/// Lines of text, each [`shown`] and ended with a line break.
pub fn shown_lines(text: &str) -> String {
    text.lines().map(|line| format!("{}\n", shown(line))).collect()
}

/// Appends `text` as one line ([`shown`]): a line feed or a control character inside it (an
/// id may hold any character, quoted) is written as an escape, so it cannot start a line that
/// reads like another answer.
pub fn push_line(s: &mut String, text: &str) {
    s.push_str(&shown(text));
    s.push('\n');
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
        push_line(&mut s, &format!("  token verified for identity `{}`{who}{key}", t.identity));
    }
    for e in &d.errors {
        push_line(&mut s, &format!("  invalid request [{}]: {}", e.code, e.message));
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
        push_line(&mut s, &line);
    }
    s
}

/// A failed expectation: where, expected, actual, and why.
pub fn failure(r: &ExpectationResult<'_>) -> String {
    let req = serde_json::to_string(&r.expectation.request).unwrap_or_default();
    let mut s = format!("  FAILED {}: expected {}, got ", r.expectation.at, r.expectation.effect.as_str());
    // An invalid request is denied, but a test expecting deny still fails on it: say why.
    if !r.actual.errors.is_empty() {
        s.push_str("an invalid request, so ");
    }
    s.push_str(&decision(&r.actual).replace('\n', "\n    "));
    let _ = writeln!(s, "request: {req}");
    s
}

/// Assignments listed at most in a coverage report (a large policy's assignments are data,
/// rarely all named by tests); the count says how many more there are.
const LISTED_ASSIGNMENTS: usize = 50;

/// What a policy's tests leave unexercised: the counts, then each rule (with its source line
/// when `show_source` and the file can be read: not for a bundle, whose sources may have
/// changed since), assignment and `exclusive` set that decided no expectation.
pub fn coverage(file: &str, c: &rbac::review::Coverage, show_source: bool) -> String {
    let covered = |all: usize, missed: usize| format!("{} of {all}", all - missed);
    let (rules, assignments, sets) =
        (c.rules_missed().count(), c.assignments_missed().count(), c.exclusive_missed().count());
    let mut s = format!(
        "coverage of {file} ({} expectation(s)): {} rules, {} assignments, {} exclusive sets decided some expectation\n",
        c.expectations,
        covered(c.rules.len(), rules),
        covered(c.assignments.len(), assignments),
        covered(c.exclusive.len(), sets),
    );
    let mut sources: std::collections::BTreeMap<String, Option<String>> = Default::default();
    if rules > 0 {
        s.push_str("  rules that decided nothing:\n");
    }
    for r in c.rules_missed() {
        let _ = write!(s, "    {} {} (role `{}`)", r.at, r.effect.as_str(), r.role);
        if let Some(line) = source_line(&mut sources, &r.at).filter(|_| show_source) {
            let _ = write!(s, ": {line}");
        }
        s.push('\n');
    }
    if assignments > 0 {
        s.push_str("  assignments through which nothing was decided:\n");
    }
    for a in c.assignments_missed().take(LISTED_ASSIGNMENTS) {
        let _ = write!(s, "    assign {} to {}", a.role, a.subject);
        if let Some(scope) = &a.scope {
            let _ = write!(s, " on {scope}");
        }
        s.push('\n');
    }
    if assignments > LISTED_ASSIGNMENTS {
        let _ = writeln!(s, "    ... and {} more", assignments - LISTED_ASSIGNMENTS);
    }
    if sets > 0 {
        s.push_str("  exclusive sets that denied nothing:\n");
    }
    for e in c.exclusive_missed() {
        let _ = writeln!(s, "    exclusive {};", e.roles.join(", "));
    }
    s
}

/// The line of source a `file:line:col` location points at, trimmed (files read once, kept in
/// `sources`); `None` when the file cannot be read (a bundle's sources may be elsewhere).
fn source_line(sources: &mut std::collections::BTreeMap<String, Option<String>>, at: &str) -> Option<String> {
    let mut parts = at.rsplitn(3, ':');
    let (_col, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    let line: usize = line.parse().ok()?;
    let text = sources.entry(file.to_string()).or_insert_with(|| std::fs::read_to_string(file).ok()).as_deref()?;
    let line = text.lines().nth(line.checked_sub(1)?)?.trim();
    // Tabs as spaces: the report's lines are shown escaped, where a tab would read `\u{9}`.
    Some(
        match line.char_indices().nth(100) {
            Some((cut, _)) => format!("{}...", line.get(..cut).unwrap_or(line)),
            None => line.to_string(),
        }
        .replace('\t', " "),
    )
}
