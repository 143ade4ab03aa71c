//! Renders diagnostics: ariadne reports for people, one JSON array for editors.

use super::{Diagnostic, Severity, Sources};
use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use serde_json::json;

/// Renders every diagnostic as an ariadne report; `color` only when writing to a terminal.
pub fn render_human<'a>(sources: &Sources, diags: impl IntoIterator<Item = &'a Diagnostic>, color: bool) -> String {
    let diags: Vec<&Diagnostic> = diags.into_iter().collect();
    // ariadne indexes the lines of every file it is given: give it only the files some label
    // points into (by name, as it keys them), not a large policy that drew no diagnostic.
    let shown: std::collections::BTreeSet<&str> = diags
        .iter()
        .flat_map(|d| std::iter::once(&d.primary).chain(&d.secondary))
        .map(|l| sources.name(l.span.file))
        .collect();
    let mut cache = ariadne::sources(
        sources
            .files()
            .iter()
            .filter(|f| shown.contains(f.name.as_str()))
            .map(|f| (f.name.clone(), printable(&f.text))),
    );
    let mut out = Vec::new();
    for d in diags {
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let (primary_color, secondary_color) = match d.severity {
            Severity::Error => (Color::Red, Color::Blue),
            Severity::Warning => (Color::Yellow, Color::Blue),
        };
        let file = |span: super::Span| sources.name(span.file).to_string();
        let mut report = Report::build(kind, (file(d.primary.span), d.primary.span.range()))
            .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
            .with_code(d.code)
            .with_message(&d.message)
            .with_label(
                Label::new((file(d.primary.span), d.primary.span.range()))
                    .with_message(&d.primary.message)
                    .with_color(primary_color)
                    .with_order(order(d.primary.span)),
            );
        for l in &d.secondary {
            report = report.with_label(
                Label::new((file(l.span), l.span.range()))
                    .with_message(&l.message)
                    .with_color(secondary_color)
                    .with_order(order(l.span)),
            );
        }
        if let Some(help) = &d.help {
            report = report.with_help(help);
        }
        for note in &d.notes {
            report = report.with_note(note);
        }
        // Writing into a Vec cannot fail for I/O reasons; a failure here would be a bug in
        // the span bookkeeping, so fall back to a plain line rather than lose the diagnostic.
        if report.finish().write(&mut cache, &mut out).is_err() {
            out.extend_from_slice(
                format!("{}[{}]: {} ({})\n", d.severity_word(), d.code, d.message, sources.location(d.primary.span))
                    .as_bytes(),
            );
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text as a terminal may show it: each character that shows otherwise than it reads
/// (`syntax::misleading`: control characters but tab, line feed and a CRLF's carriage return,
/// line separators, bidirectional-text controls) becomes one `?` per byte, so that offsets
/// stay where the spans point, and a source line shown in a diagnostic can neither act on the
/// terminal (escape sequences) nor reorder or break itself (E0105 names those characters).
fn printable(text: &str) -> String {
    let mut hidden = crate::syntax::misleading_chars(text).peekable();
    if hidden.peek().is_none() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (at, c, _) in hidden {
        out.push_str(text.get(done..at).unwrap_or_default());
        out.extend(std::iter::repeat_n('?', c.len_utf8()));
        done = at + c.len_utf8();
    }
    out.push_str(text.get(done..).unwrap_or_default());
    out
}

/// Label order: by file, then position, so ariadne shows each file's labels in one
/// snippet, top to bottom (it starts a new snippet whenever a label is above the last one).
fn order(span: super::Span) -> i32 {
    let file = i32::try_from(span.file).unwrap_or(0).min(500);
    let pos = i32::try_from(span.start).unwrap_or(i32::MAX).min(3_999_999);
    file * 4_000_000 + pos
}

impl Diagnostic {
    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The same content as [`render_human`], as a JSON array for editors.
pub fn render_json<'a>(sources: &Sources, diags: impl IntoIterator<Item = &'a Diagnostic>) -> serde_json::Value {
    let label = |l: &super::Label| {
        let (line, col) = sources.line_col(l.span);
        let (end_line, end_col) = sources.line_col(super::Span { start: l.span.end, ..l.span });
        json!({
            "file": sources.name(l.span.file),
            "start": l.span.start, "end": l.span.end,
            "line": line, "column": col, "end_line": end_line, "end_column": end_col,
            "message": l.message,
        })
    };
    serde_json::Value::Array(
        diags
            .into_iter()
            .map(|d| {
                json!({
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.message,
                    "primary": label(&d.primary),
                    "secondary": d.secondary.iter().map(label).collect::<Vec<_>>(),
                    "help": d.help,
                    "notes": d.notes,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shown_line_keeps_its_offsets_and_loses_what_would_act_on_a_terminal() {
        let text = "a\u{1b}[31mb\r\nc\rd\u{202E}e\u{2028}\tf\n";
        let shown = super::printable(text);
        assert_eq!(shown, "a?[31mb\r\nc?d???e???\tf\n");
        assert_eq!(shown.len(), text.len());
        assert_eq!(super::printable("plain\r\n"), "plain\r\n");
    }
}
