//! Conditions of the compiled policy written back as `.rbac` text, with names instead of
//! ids and the fewest parentheses the grammar needs: what reviews show and the policy digest
//! hashes (so the text is deterministic: sets in order, strings escaped one way).

use crate::check::ir::{Cond, Val};
use crate::compile::CompiledPolicy;
use std::fmt::Write;

/// The condition as policy text, e.g. `resource.owner == principal.id`.
pub(crate) fn cond_text(policy: &CompiledPolicy, c: &Cond) -> String {
    let mut out = String::new();
    write_cond(policy, c, 0, &mut out);
    out
}

/// Binding strength: 0 `||`, 1 `&&`, 2 a comparison or `has`, 3 an operand.
fn level(c: &Cond) -> u8 {
    match c {
        Cond::Or(_) => 0,
        Cond::And(_) => 1,
        Cond::Cmp(..) | Cond::Has(..) | Cond::InGroup(_) => 2,
        Cond::Lit(_) | Cond::Attr(..) | Cond::PrincipalId | Cond::ResourceId | Cond::Not(_) => 3,
    }
}

fn write_cond(policy: &CompiledPolicy, c: &Cond, min: u8, out: &mut String) {
    let paren = level(c) < min;
    if paren {
        out.push('(');
    }
    match c {
        Cond::Lit(v) => write_val(v, out),
        Cond::Attr(e, name) => {
            let _ = write!(out, "{}.{name}", e.as_str());
        }
        Cond::PrincipalId => out.push_str("principal.id"),
        Cond::ResourceId => out.push_str("resource.id"),
        Cond::Has(e, name) => {
            let _ = write!(out, "{} has {name}", e.as_str());
        }
        Cond::InGroup(g) => {
            let _ = write!(out, "principal in group:{}", policy.groups.get(g.idx()).map_or("?", String::as_str));
        }
        Cond::Not(inner) => {
            out.push('!');
            write_cond(policy, inner, 3, out);
        }
        Cond::And(parts) => join(policy, parts, " && ", 2, out),
        Cond::Or(parts) => join(policy, parts, " || ", 1, out),
        Cond::Cmp(op, l, r) => {
            write_cond(policy, l, 3, out);
            let _ = write!(out, " {} ", op.as_str());
            write_cond(policy, r, 3, out);
        }
    }
    if paren {
        out.push(')');
    }
}

fn join(policy: &CompiledPolicy, parts: &[Cond], sep: &str, min: u8, out: &mut String) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        write_cond(policy, p, min, out);
    }
}

/// A literal as the policy language writes it; strings use the language's escapes.
pub(crate) fn write_val(v: &Val, out: &mut String) {
    match v {
        Val::Str(s) => {
            out.push('"');
            for ch in s.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Val::Set(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_val(item, out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(src_cond: &str) -> String {
        let src = format!(
            "resource doc {{ actions read; attributes {{ owner: string, level: int, tags: set<string> }} }}\n\
             context {{ attributes {{ mfa: bool }} }}\ngroup ops;\n\
             role r {{ allow read on doc when {src_cond}; }}\nassign r to everyone;\n"
        );
        let policy = crate::compile_str("t.rbac", &src).policy.map(|p| p.compiled().clone());
        let Some(policy) = policy else { return "does not compile".to_string() };
        policy.rules.first().and_then(|r| r.cond.as_ref()).map(|c| cond_text(&policy, c)).unwrap_or_default()
    }

    #[test]
    fn conditions_read_back_as_policy_text() {
        assert_eq!(when("resource.owner == principal.id"), "resource.owner == principal.id");
        assert_eq!(when("(context.mfa || resource.level > 2) && !(resource has owner)"), {
            "(context.mfa || resource.level > 2) && !(resource has owner)"
        });
        assert_eq!(when("principal in group:ops || \"a\\\"b\" in resource.tags"), {
            "principal in group:ops || \"a\\\"b\" in resource.tags"
        });
        assert_eq!(when("resource.tags == [\"b\", \"a\"]"), "resource.tags == [\"a\", \"b\"]");
    }
}
