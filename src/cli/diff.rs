//! `rbac diff OLD NEW`: the changes in effective permissions between two policies, with the
//! edits behind them; exit 0 when no permission changed, 1 when some did, 2 on errors.

use super::Format;
use super::audit::ChangeLogArgs;
use super::human::push_line;
use rbac::review::{ChangeKind, PolicyDiff};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The policy before.
    old: String,
    /// The policy after.
    new: String,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    #[command(flatten)]
    audit: ChangeLogArgs,
}

pub fn run(args: &DiffArgs) -> ExitCode {
    let (Some(old), Some(new)) =
        (super::load_policy(&args.old, "nothing was compared"), super::load_policy(&args.new, "nothing was compared"))
    else {
        return ExitCode::from(2);
    };
    let diff = rbac::review::diff(old.compiled(), new.compiled());
    if args.audit.audit_log.is_some() {
        let recorded = args.audit.as_log_args().open(&new).and_then(|rec| {
            let Some(mut rec) = rec else { return Ok(()) };
            let change = rbac::audit::PolicyChange {
                old_policy: diff.old_digest.clone(),
                new_policy: diff.new_digest.clone(),
                old_file: args.old.clone(),
                new_file: args.new.clone(),
                summary: summary(&diff),
            };
            rec.policy_change(&change)?;
            rec.close()
        });
        if let Err(code) = recorded {
            return code;
        }
    }
    let mut out = super::stdout();
    let _ = match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&diff).unwrap_or_default()),
        Format::Human => write!(out, "{}", human(&diff)),
    };
    ExitCode::from(u8::from(diff.changed()))
}

/// What the audit log keeps of a diff: counts and the edits in words.
fn summary(diff: &PolicyDiff) -> serde_json::Value {
    let subjects: BTreeSet<&str> = diff.changes.iter().map(|c| c.subject.as_str()).collect();
    serde_json::json!({
        "changes": diff.changes.len(),
        "gained": diff.count(ChangeKind::Gained),
        "lost": diff.count(ChangeKind::Lost),
        "changed": diff.count(ChangeKind::Changed),
        "unchanged": diff.count(ChangeKind::Unchanged),
        "notes": diff.notes.len(),
        "subjects": subjects.len(),
        "edits": diff.edits.iter().map(rbac::review::Edit::describe).collect::<Vec<_>>(),
    })
}

fn human(diff: &PolicyDiff) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "old {}\nnew {}", diff.old_digest, diff.new_digest);
    if diff.edits.is_empty() {
        s.push_str("no policy edits\n");
    } else {
        s.push_str("policy edits:\n");
        for (i, e) in diff.edits.iter().enumerate() {
            push_line(&mut s, &format!("  [{}] {}", i + 1, e.describe()));
        }
    }
    if !diff.changed() {
        s.push_str("no change in effective permissions\n");
        return s;
    }
    if !diff.changes.is_empty() {
        s.push_str("permission changes:\n");
    }
    let mut group: Option<(&str, Option<&str>)> = None;
    for c in &diff.changes {
        let here = (c.subject.as_str(), c.scope.as_deref());
        if group != Some(here) {
            group = Some(here);
            let scope = c.scope.as_ref().map_or("everywhere".to_string(), |p| format!("on {p}"));
            push_line(&mut s, &format!("  {} {scope}", c.subject));
        }
        let sign = match c.kind {
            ChangeKind::Gained => '+',
            ChangeKind::Lost => '-',
            ChangeKind::Changed => '~',
            ChangeKind::Unchanged => '=',
        };
        let what = if c.kind == ChangeKind::Unchanged {
            format!(
                "still {} here (the change listed for an enclosing scope or for everyone does not apply)",
                c.new.describe()
            )
        } else {
            format!("{} -> {}", c.old.describe(), c.new.describe())
        };
        let causes: Vec<String> = c.causes.iter().map(|i| (i + 1).to_string()).collect();
        let causes = if causes.is_empty() { String::new() } else { format!("  [{}]", causes.join(", ")) };
        push_line(&mut s, &format!("    {sign} {} on {}: {what}{causes}", c.action, c.type_name));
    }
    for note in &diff.notes {
        push_line(&mut s, &format!("note: {note}"));
    }
    if diff.changes.is_empty() {
        return s;
    }
    let subjects: BTreeSet<&str> = diff.changes.iter().map(|c| c.subject.as_str()).collect();
    let n = diff.changes.len();
    let unchanged = match diff.count(ChangeKind::Unchanged) {
        0 => String::new(),
        u => format!(", {u} unchanged inside a changed scope"),
    };
    let _ = writeln!(
        s,
        "{n} change{} for {} subject{}: {} gained, {} lost, {} changed{unchanged}",
        super::plural(n),
        subjects.len(),
        super::plural(subjects.len()),
        diff.count(ChangeKind::Gained),
        diff.count(ChangeKind::Lost),
        diff.count(ChangeKind::Changed),
    );
    s
}
