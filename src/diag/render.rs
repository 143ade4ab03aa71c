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
        .filter_map(|l| sources.get(l.span.file))
        .map(|f| f.name.as_str())
        .collect();
    // Long lines (a generated policy on one line) are shown cut around the labels. A byte
    // order mark that starts a file is left out of the text shown (terminals draw it as
    // nothing, ariadne would count it as a column): offsets into the file are shifted by it.
    let mut cut: std::collections::BTreeMap<&str, Shortened> = std::collections::BTreeMap::new();
    for f in sources.files().iter().filter(|f| shown.contains(f.name.as_str())) {
        let ends: Vec<usize> = diags
            .iter()
            .flat_map(|d| std::iter::once(&d.primary).chain(&d.secondary))
            .filter(|l| sources.name(l.span.file) == f.name)
            .flat_map(|l| {
                let r = without_bom(&f.text, l.span.range());
                [r.start, r.end]
            })
            .collect();
        // Made printable with the mark in place (only a first one is allowed), then cut.
        let text = printable(&f.text).split_off(super::bom_len(&f.text));
        cut.insert(f.name.as_str(), Shortened::new(text, ends));
    }
    let mut cache = ariadne::sources(cut.iter().map(|(name, s)| (name.to_string(), s.text.clone())));
    // A span as it falls in the shown (shortened) text of its file.
    let range = |span: super::Span| {
        let r = sources.get(span.file).map_or(0..0, |f| without_bom(&f.text, span.range()));
        match cut.get(sources.name(span.file)) {
            Some(s) => s.map(r.start)..s.map(r.end),
            None => r,
        }
    };
    let mut out = Vec::new();
    for d in diags {
        // A diagnostic built by hand may point into no file given: said plainly (ariadne
        // would print to the terminal that it cannot find the source).
        if sources.get(d.primary.span.file).is_none() {
            out.extend_from_slice(format!("{}[{}]: {}\n", d.severity_word(), d.code, d.message).as_bytes());
            continue;
        }
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let (primary_color, secondary_color) = match d.severity {
            Severity::Error => (Color::Red, Color::Blue),
            Severity::Warning => (Color::Yellow, Color::Blue),
        };
        let file = |span: super::Span| sources.name(span.file).to_string();
        let mut report = Report::build(kind, (file(d.primary.span), range(d.primary.span)))
            .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
            .with_code(d.code)
            .with_message(safe(&d.message))
            .with_label(
                Label::new((file(d.primary.span), range(d.primary.span)))
                    .with_message(safe(&d.primary.message))
                    .with_color(primary_color)
                    .with_order(order(d.primary.span)),
            );
        for l in d.secondary.iter().filter(|l| sources.get(l.span.file).is_some()) {
            report = report.with_label(
                Label::new((file(l.span), range(l.span)))
                    .with_message(safe(&l.message))
                    .with_color(secondary_color)
                    .with_order(order(l.span)),
            );
        }
        if let Some(help) = &d.help {
            report = report.with_help(safe(help));
        }
        for note in &d.notes {
            report = report.with_note(safe(note));
        }
        // ariadne counts columns in the text it shows: where that is a cut line, say where the
        // label really is.
        let primary_file = sources.get(d.primary.span.file);
        let cut_line = primary_file.and_then(|f| Some((cut.get(f.name.as_str())?, f)));
        let mut true_at = None;
        if let Some(chars) = cut_line.and_then(|(s, f)| {
            let text = f.text.get(super::bom_len(&f.text)..).unwrap_or_default();
            s.cut_line_at(without_bom(&f.text, d.primary.span.range()).start, text)
        }) {
            let (line, col) = sources.line_col(d.primary.span);
            let name = sources.name(d.primary.span.file);
            report = report.with_note(format!(
                "line {line} has {chars} characters and is shown cut around its labels; this one is at {name}:{line}:{col}"
            ));
            // As the header writes the location (`╭─[ name:line:col ]`): the same text may
            // stand in the message.
            true_at = Some((format!("─[ {name}:{line}:"), col));
        }
        // Writing into a Vec cannot fail for I/O reasons; a failure here would be a bug in
        // the span bookkeeping, so fall back to a plain line rather than lose the diagnostic.
        let mut one = Vec::new();
        if report.finish().write(&mut cache, &mut one).is_err() {
            one = format!("{}[{}]: {} ({})\n", d.severity_word(), d.code, d.message, sources.location(d.primary.span))
                .into_bytes();
        }
        // The header's `file:line:col` too (editors and terminals follow it).
        if let Some((prefix, col)) = true_at {
            one = true_column(&String::from_utf8_lossy(&one), &prefix, col).into_bytes();
        }
        out.extend_from_slice(&one);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A message, help or note as a terminal may show it: what the policy wrote can be in it (an
/// id, a string), so every character that shows otherwise than it reads (escape sequences,
/// bidirectional controls, invisible characters) is written as a `\u{...}` escape.
fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    crate::syntax::escape_shown(text, false)
}

/// [`within`], in the text of the file without the byte order mark that may start it.
fn without_bom(text: &str, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let bom = super::bom_len(text);
    let r = within(text, r.start.max(bom)..r.end.max(bom));
    r.start - bom..r.end - bom
}

/// A span's range made one ariadne can show: inside the text, start before end, both on
/// character boundaries (the compiler's spans are; a diagnostic built by hand may not be).
fn within(text: &str, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let start = text.floor_char_boundary(r.start);
    start..text.floor_char_boundary(r.end).max(start)
}

/// `report` with the column after the first `prefix` (`─[ file:line:`, the header's
/// location) replaced by `col`: ariadne counts columns in the cut line it shows.
fn true_column(report: &str, prefix: &str, col: usize) -> String {
    let Some(at) = report.find(prefix).map(|at| at + prefix.len()) else { return report.to_string() };
    let rest = report.get(at..).unwrap_or_default();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    format!("{}{col}{}", report.get(..at).unwrap_or_default(), rest.get(digits..).unwrap_or_default())
}

/// Source lines longer than this many bytes are shown cut: only the text around each label's
/// ends, the rest as `…`.
const LONG_LINE: usize = 240;
/// Bytes kept on either side of a label's end in a cut line.
const AROUND: usize = 60;

/// A file's text with its long lines cut ([`LONG_LINE`]), and where each kept piece of the
/// original begins in it.
struct Shortened {
    text: String,
    /// (offset in the original, offset in `text`) at the start of every kept piece, ascending.
    pieces: Vec<(usize, usize)>,
    /// The (start, end) of every line that was cut, in the original.
    cut_lines: Vec<(usize, usize)>,
}

impl Shortened {
    /// `text` with every line over [`LONG_LINE`] bytes cut to the text within [`AROUND`]
    /// bytes of the offsets in `ends` (the labels' ends), or its start when none is in it.
    fn new(text: String, mut ends: Vec<usize>) -> Shortened {
        // A line's length is its text's, without its line break (`\n` or `\r\n`).
        let content = |line: &str| line.trim_end_matches('\n').trim_end_matches('\r').len();
        if !text.split('\n').any(|l| content(l) > LONG_LINE) {
            return Shortened { text, pieces: Vec::new(), cut_lines: Vec::new() };
        }
        ends.sort_unstable();
        let floor = |mut i: usize| {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let mut out = String::with_capacity(text.len().min(1 << 20));
        let mut pieces = Vec::new();
        let mut cut_lines = Vec::new();
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            let line_end = line_start + line.len();
            let text_end = line_start + content(line);
            if text_end - line_start <= LONG_LINE {
                pieces.push((line_start, out.len()));
                out.push_str(line);
                line_start = line_end;
                continue;
            }
            cut_lines.push((line_start, line_end));
            // The pieces of this line's text to keep, merged; its line break is kept after them.
            let mut keep: Vec<(usize, usize)> = Vec::new();
            let near = ends.iter().filter(|&&e| e >= line_start && e <= text_end);
            let wanted: Vec<(usize, usize)> =
                near.map(|&e| (e.saturating_sub(AROUND).max(line_start), (e + AROUND).min(text_end))).collect();
            let wanted = if wanted.is_empty() { vec![(line_start, line_start + AROUND)] } else { wanted };
            for (a, b) in wanted {
                let (a, b) = (floor(a), floor(b));
                match keep.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => keep.push((a, b)),
                }
            }
            let mut at = line_start;
            for (a, b) in keep {
                if a > at {
                    out.push('…');
                }
                pieces.push((a, out.len()));
                out.push_str(text.get(a..b).unwrap_or_default());
                at = b;
            }
            if at < text_end {
                out.push('…');
            }
            if text_end < line_end {
                pieces.push((text_end, out.len()));
                out.push_str(text.get(text_end..line_end).unwrap_or_default());
            }
            line_start = line_end;
        }
        Shortened { text: out, pieces, cut_lines }
    }

    /// The length in characters of the cut line `offset` is in, if it was cut.
    fn cut_line_at(&self, offset: usize, original: &str) -> Option<usize> {
        let &(a, b) = self.cut_lines.iter().find(|&&(a, b)| a <= offset && offset < b)?;
        original.get(a..b).map(|l| l.trim_end_matches(['\n', '\r']).chars().count())
    }

    /// Where an offset of the original text is in the shortened one (an offset in a cut part
    /// goes to the end of the piece before it).
    fn map(&self, offset: usize) -> usize {
        if self.pieces.is_empty() {
            return offset;
        }
        let i = self.pieces.partition_point(|&(orig, _)| orig <= offset);
        match i.checked_sub(1).and_then(|i| self.pieces.get(i)) {
            Some(&(orig, new)) => {
                let piece_end = self.pieces.get(i).map_or(self.text.len(), |&(_, next)| next);
                (new + (offset - orig)).min(piece_end)
            }
            None => 0,
        }
    }
}

/// The text as a terminal may show it: each character that shows otherwise than it reads
/// (`syntax::shows_otherwise`: control characters but tab, line feed and a CRLF's carriage
/// return, line separators, bidirectional-text controls, invisible characters), in comments
/// too (where E0105 allows them, but an invisible one would put the markers after it off by
/// its count), becomes one visible character of its length in bytes, so that offsets stay
/// where the spans point, and a source line shown in a diagnostic can neither act on the
/// terminal (escape sequences) nor reorder or break itself.
fn printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut hidden = text
        .char_indices()
        .filter(|&(at, c)| crate::syntax::shows_otherwise(c) && !(c == '\r' && bytes.get(at + 1) == Some(&b'\n')))
        .peekable();
    if hidden.peek().is_none() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (at, c) in hidden {
        out.push_str(text.get(done..at).unwrap_or_default());
        // One visible character of the same length in bytes (labels are byte offsets), so
        // that it takes one column, as a marker under it does: `?` for one byte, `¿` for
        // two, U+FFFD for three (most invisible characters are three bytes).
        match c.len_utf8() {
            2 => out.push('¿'),
            3 => out.push('\u{FFFD}'),
            n => out.extend(std::iter::repeat_n('?', n)),
        }
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
        assert_eq!(shown, "a?[31mb\r\nc?d\u{FFFD}e\u{FFFD}\tf\n");
        assert_eq!(shown.len(), text.len());
        assert_eq!(super::printable("plain\r\n"), "plain\r\n");
        // In a comment too: one column each, so what follows stays under its markers.
        assert_eq!(super::printable("/* \u{200B}\u{AD} */ x"), "/* \u{FFFD}¿ */ x");
    }

    #[test]
    fn long_lines_are_shown_cut_around_the_labels_and_offsets_follow() {
        use super::{AROUND, Shortened};
        let short = "role a { allow read on doc; }\n".to_string();
        let s = Shortened::new(short.clone(), vec![3, 10]);
        assert_eq!((s.text.as_str(), s.map(10)), (short.as_str(), 10), "nothing is cut in short lines");
        // Line 2 is 10,000 bytes with two labels far apart; lines 1 and 3 stay whole.
        let long = format!("first\n{}HERE{}THERE{}\nlast\n", "é".repeat(2000), "x".repeat(3000), "y".repeat(2991));
        let here = long.find("HERE").unwrap_or(0);
        let there = long.find("THERE").unwrap_or(0);
        let s = Shortened::new(long.clone(), vec![here, here + 4, there, there + 5]);
        assert!(s.text.len() < 4 * AROUND + 40, "{}", s.text.len());
        assert!(s.text.starts_with("first\n…") && s.text.ends_with("…\nlast\n"), "{}", s.text);
        for (at, word) in [(here, "HERE"), (there, "THERE")] {
            let m = s.map(at);
            assert_eq!(s.text.get(m..m + word.len()), Some(word));
        }
        let last = long.find("last").unwrap_or(0);
        assert_eq!(s.text.get(s.map(last)..), Some("last\n"));
        assert_eq!(s.cut_line_at(here, &long), Some(8000), "characters, not bytes");
        assert_eq!(s.cut_line_at(last, &long), None);
    }

    #[test]
    fn cut_lines_keep_one_line_break_and_lines_at_the_limit_are_whole() {
        use super::{LONG_LINE, Shortened};
        for newline in ["\n", "\r\n"] {
            // A label at the very end of a long line: the text after the cut has as many lines.
            let long = format!("{}X", "y".repeat(400));
            let exact = "z".repeat(LONG_LINE);
            let text = format!("first{newline}{long}{newline}{exact}{newline}last{newline}");
            let x = text.find('X').unwrap_or(0);
            let s = Shortened::new(text.clone(), vec![x, x + 1]);
            assert_eq!(s.text.matches('\n').count(), text.matches('\n').count(), "{newline:?}: {:?}", s.text);
            assert!(s.text.contains(&format!("{exact}{newline}")), "a line of exactly {LONG_LINE} bytes is whole");
            assert_eq!(s.text.get(s.map(x)..s.map(x) + 1), Some("X"));
            let last = text.find("last").unwrap_or(0);
            assert_eq!(s.text.get(s.map(last)..), Some(format!("last{newline}").as_str()));
            assert!(s.cut_line_at(text.find(&exact).unwrap_or(0), &text).is_none());
        }
    }

    #[test]
    fn spans_built_by_hand_are_shown_without_a_panic() {
        use crate::diag::{Diagnostic, Sources, Span};
        let mut sources = Sources::default();
        let f = sources.add("a.rbac".into(), "role é { }\n".into());
        for span in [
            Span::new(f, 9, 2),
            Span::new(f, 6, 7),
            Span::new(f, 5, 500),
            Span::new(f, usize::MAX, 1),
            Span::new(7, 0, 1),
        ] {
            let d = Diagnostic::error("E0101", "odd span", span, "here");
            let shown = super::render_human(&sources, [&d], false);
            assert!(shown.contains("odd span"), "{shown}");
        }
        // An offset inside `é` is the column of `é`, not the end of the file.
        assert_eq!(sources.line_col(Span::new(f, 6, 7)), (1, 6));
        assert_eq!(sources.line_col(Span::new(f, 500, 501)), (2, 1));
    }

    #[test]
    fn a_diagnostic_in_a_long_line_shows_a_cut_line_and_its_true_column() {
        let line = format!("role r {{ {} allow read on projct; }}", "allow read on doc;".repeat(3000));
        let c = crate::compile_str("long.rbac", &format!("resource doc {{ actions read; }}\n{line}\n"));
        let shown = c.render(false);
        assert!(shown.len() < 2000, "{shown}");
        let col = line.find("projct").unwrap_or(0) + 1;
        assert!(shown.contains(&format!("this one is at long.rbac:2:{col}")), "{shown}");
        assert!(shown.contains("read on projct; }"), "{shown}");
        // The header's location too: editors and terminals follow it.
        assert!(shown.contains(&format!("╭─[ long.rbac:2:{col} ]")), "{shown}");
        // Not a message that happens to hold the same text.
        let line = format!("group eng from okta \"long.rbac:2:7\", okta \"long.rbac:2:7\"; // {}", "x".repeat(300));
        let src = format!("identity okta {{ user from claim \"e\"; groups from claim \"g\"; }}\n{line}\n");
        let shown = crate::compile_str("long.rbac", &src).render(false);
        assert!(shown.contains("\"long.rbac:2:7\""), "the message was rewritten: {shown}");
        assert!(shown.contains("╭─[ long.rbac:2:"), "{shown}");
    }
}
