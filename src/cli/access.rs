//! `rbac who-can POLICY ACTION PATH` and `rbac list POLICY PRINCIPAL`: access reviews read
//! from the compiled policy. Exit 0, or 2 when the policy or the question is invalid.

use super::Format;
use super::human::push_line;
use rbac::review::{Access, AccessIndex, RuleHit, Status};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct WhoCanArgs {
    policy: String,
    action: String,
    /// Resource path, e.g. `workspace:prod/project:churn/pipeline:train` (may end in a bare type).
    path: String,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

#[derive(clap::Args)]
pub struct ListArgs {
    policy: String,
    /// `user:NAME` or `service:NAME`.
    principal: String,
    /// A group of the principal (repeatable).
    #[arg(long = "group", short = 'g')]
    groups: Vec<String>,
    /// Only what it may do on this resource and inside it.
    #[arg(long)]
    on: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

pub fn who_can(args: &WhoCanArgs) -> ExitCode {
    let Some(policy) = super::load_policy(&args.policy, "nothing was reviewed") else { return ExitCode::from(2) };
    let index = AccessIndex::new(policy.compiled());
    let answer = match index.who_can(&args.action, &args.path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = super::stdout();
    let _ = match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&answer).unwrap_or_default()),
        Format::Human => {
            let mut s = String::new();
            push_line(&mut s, &format!("who can `{}` on `{}`:", answer.action, answer.path));
            let mut heading = None;
            for sa in &answer.subjects {
                let h = heading_of(sa.access.state.status);
                if heading != Some(h) {
                    heading = Some(h);
                    push_line(&mut s, &format!("{h}:"));
                }
                push_line(&mut s, &format!("  {}: {}", sa.subject, sa.access.state.describe()));
                rules(&mut s, &sa.access, "    ");
            }
            if answer.subjects.is_empty() {
                s.push_str("nobody: no role assigned on this resource's scopes has a rule for it\n");
            }
            for n in &answer.notes {
                push_line(&mut s, &format!("note: {n}"));
            }
            write!(out, "{s}")
        }
    };
    ExitCode::SUCCESS
}

fn heading_of(s: Status) -> &'static str {
    match s {
        Status::Allow => "allowed",
        Status::Conditional => "allowed under a condition",
        Status::Deny => "denied explicitly",
        Status::Exclusive => "denied by separation of duty",
        Status::None => "not allowed (only conditional denies apply)",
    }
}

/// The rules behind an answer, one per line.
fn rules(s: &mut String, access: &Access, indent: &str) {
    for r in &access.rules {
        push_line(s, &format!("{indent}{}", rule_line(r)));
    }
}

fn rule_line(r: &RuleHit) -> String {
    let via = if r.via.len() > 1 { format!(" (via {})", r.via.join(" -> ")) } else { String::new() };
    let scope = r.scope.as_ref().map_or("everywhere".to_string(), |p| format!("on `{p}`"));
    let when = r.when.as_ref().map_or(String::new(), |w| format!(" when `{w}`"));
    format!("{}{when}: role `{}`{via}, held by `{}` {scope}, rule at {}", r.effect.as_str(), r.role, r.subject, r.at)
}

pub fn list(args: &ListArgs) -> ExitCode {
    let Some(policy) = super::load_policy(&args.policy, "nothing was listed") else { return ExitCode::from(2) };
    let index = AccessIndex::new(policy.compiled());
    let groups: Vec<&str> = args.groups.iter().map(String::as_str).collect();
    // Spelt as `can` and the policy's tests spell it (`user:"Ann Lee"`).
    let principal = super::unquoted_principal(&args.principal);
    let listing = match index.list(&principal, &groups, args.on.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = super::stdout();
    let _ = match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&listing).unwrap_or_default()),
        Format::Human => {
            let groups = if listing.groups.is_empty() {
                String::new()
            } else {
                format!(" (groups {})", listing.groups.join(", "))
            };
            let on = listing.on.as_ref().map_or(String::new(), |on| format!(" on `{on}` and inside it"));
            let mut s = String::new();
            push_line(
                &mut s,
                &format!(
                    "what `{}`{groups} may do{on} (each line holds inside its scope unless a deeper scope lists it again):",
                    listing.principal
                ),
            );
            for scope in &listing.scopes {
                push_line(&mut s, &scope.scope.as_ref().map_or("everywhere".to_string(), |p| format!("on {p}")));
                // One line per (type, state): `pipeline: read, run  allowed`.
                let mut lines: Vec<(String, String, Vec<&str>)> = Vec::new();
                for p in &scope.permissions {
                    let state = p.access.state.describe();
                    match lines.iter_mut().find(|(t, st, _)| *t == p.type_name && *st == state) {
                        Some(line) => line.2.push(&p.action),
                        None => lines.push((p.type_name.clone(), state, vec![&p.action])),
                    }
                }
                for (ty, state, actions) in lines {
                    push_line(&mut s, &format!("  {ty}: {}: {state}", actions.join(", ")));
                }
            }
            if listing.scopes.is_empty() {
                s.push_str("nothing\n");
            }
            write!(out, "{s}")
        }
    };
    ExitCode::SUCCESS
}
