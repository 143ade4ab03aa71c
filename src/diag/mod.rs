//! Diagnostics: source files and spans, the `Diagnostic` every phase reports, and their
//! rendering (ariadne for people, JSON for editors). ariadne is used nowhere else.

mod codes;
mod render;

pub use codes::{CODES, CodeInfo, explain, lookup};
pub use render::{render_human, render_json};

use serde::Serialize;

/// Index of a file in [`Sources`].
pub type FileId = u32;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// The file the span is in.
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset just past the last byte.
    pub end: u32,
}

impl Span {
    /// The span of bytes `start..end` of `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: to_u32(start), end: to_u32(end) }
    }

    /// The span as a byte range into its file's text.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One loaded source file: the name it is shown under and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name the file is shown under in diagnostics and reasons (`examples/zenml.rbac`).
    pub name: String,
    /// The file's text (empty for a root file that could not be read).
    pub text: String,
}

/// Every file a compilation read, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Each file's line starts (byte offsets), made the first time a position in it is asked
    /// for ([`Sources::line_of`]).
    line_starts: Vec<std::sync::OnceLock<Vec<usize>>>,
}

impl Sources {
    /// Adds a file and returns its id.
    pub fn add(&mut self, name: String, text: String) -> FileId {
        self.files.push(SourceFile { name, text });
        self.line_starts.push(std::sync::OnceLock::new());
        to_u32(self.files.len() - 1)
    }

    /// The file with this id, if there is one.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// Every file, in the order they were added (index = [`FileId`]).
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The file's name, or `<unknown>` for an id with no file.
    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.name.as_str())
    }

    /// 1-based line and column (in characters) of a span's start. A byte order mark that
    /// starts the file is no column (editors do not show it).
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let Some((file, at, line, start)) = self.line_of(span.file, span.start as usize) else { return (0, 0) };
        let start = if line == 0 { bom_len(&file.text).min(at) } else { start };
        let col = file.text.get(start..at).map_or(0, |l| l.chars().count()) + 1;
        (line + 1, col)
    }

    /// For an offset of a file: the file, the offset (an offset past the end or inside a
    /// character, as a span built by hand may have, counts from the character it falls in),
    /// its line from 0, and where that line starts. From a table of line starts made once per
    /// file: every rule and test asks for its position, and counting lines from the start each
    /// time made checking quadratic in the file (80,000 rules: over a minute).
    #[doc(hidden)]
    pub fn line_of(&self, id: FileId, offset: usize) -> Option<(&SourceFile, usize, usize, usize)> {
        let file = self.get(id)?;
        let at = file.text.floor_char_boundary(offset);
        let starts = self.line_starts.get(id as usize)?.get_or_init(|| {
            std::iter::once(0)
                .chain(file.text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
                .collect()
        });
        // The last line start at or before `at`.
        let line = starts.partition_point(|&start| start <= at).saturating_sub(1);
        Some((file, at, line, starts.get(line).copied().unwrap_or(0)))
    }

    /// `file:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span);
        format!("{}:{line}:{col}", self.name(span.file))
    }
}

/// The bytes of the byte order mark that starts `text` (3), or 0.
pub(crate) fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 }
}

/// How bad a diagnostic is; serialized in lowercase (`"error"`, `"warning"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy is rejected.
    Error,
    /// The policy compiles, but something in it is likely a mistake.
    Warning,
}

/// A message attached to a span of source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The span of source the label points at.
    pub span: Span,
    /// What the label says about it.
    pub message: String,
}

/// A problem found in a policy: a stable code, a one-line lowercase message, a primary label
/// on the exact span, and optional secondary labels, help and notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code, `E` (error) or `W` (warning) and four digits: `E0101`.
    pub code: &'static str,
    /// Whether the diagnostic is an error or a warning.
    pub severity: Severity,
    /// The one-line lowercase message.
    pub message: String,
    /// The label on the exact span at fault.
    pub primary: Label,
    /// Further labels on related spans.
    pub secondary: Vec<Label>,
    /// A suggestion for fixing the problem, if any.
    pub help: Option<String>,
    /// Further notes on the problem.
    pub notes: Vec<String>,
}

impl Diagnostic {
    fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: Label { span, message: label.into() },
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// An error with `code`, `message` and a primary label `label` on `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message, span, label)
    }

    /// A warning with `code`, `message` and a primary label `label` on `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message, span, label)
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    /// Sets the help.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help, or clears it with `None`.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// The diagnostics sink every phase writes to.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Adds a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many diagnostics are errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// How many diagnostics are warnings.
    pub fn warning_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    /// The diagnostics, in the order pushed (or sorted, after [`sort`](Self::sort)).
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Whether there are no diagnostics.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Moves every diagnostic of `other` to the end of this sink.
    pub fn append(&mut self, mut other: Diagnostics) {
        self.items.append(&mut other.items);
    }

    /// Orders diagnostics by file and position so output never depends on check order.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (a.primary.span, a.severity, a.code, &a.message).cmp(&(b.primary.span, b.severity, b.code, &b.message))
        });
        self.items.dedup();
    }
}

/// "did you mean" help: the closest candidate by edit distance, when it is close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = edit_distance(name, cand);
        let limit = (name.chars().count().max(cand.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| (d, cand) < (bd, bc)) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Optimal-string-alignment distance: like Levenshtein, with a swap of two neighbouring
/// characters (`raed` for `read`) counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    let get = |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ca, cb) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i - 1, j) + 1).min(get(&d, i, j - 1) + 1).min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(at(i, j)) {
                *x = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("devloper", ["developer", "viewer"]), Some("did you mean `developer`?".into()));
        assert_eq!(did_you_mean("zzz", ["developer", "viewer"]), None);
        assert_eq!(did_you_mean("raed", ["read", "write"]), Some("did you mean `read`?".into()));
    }

    #[test]
    fn line_col_is_one_based_in_chars() {
        let mut s = Sources::default();
        let f = s.add("a.rbac".into(), "ab\né x".into());
        assert_eq!(s.line_col(Span::new(f, 6, 7)), (2, 3));
        assert_eq!(s.location(Span::new(f, 0, 1)), "a.rbac:1:1");
    }

    /// A byte order mark that starts a file is no column, in the location and as rendered (it
    /// is not drawn either, so the markers sit under what they mark).
    #[test]
    fn a_byte_order_mark_is_no_column() {
        let mut s = Sources::default();
        let f = s.add("b.rbac".into(), "\u{feff}role r extends nope { }\nx".into());
        let nope = Span::new(f, 18, 22);
        assert_eq!(s.location(nope), "b.rbac:1:16");
        assert_eq!(s.location(Span::new(f, 0, 1)), "b.rbac:1:1");
        assert_eq!(s.location(Span::new(f, 27, 28)), "b.rbac:2:1");
        let d = Diagnostic::error("E0201", "unknown role `nope`", nope, "no role has this name");
        let shown = render_human(&s, [&d], false);
        assert!(shown.contains("b.rbac:1:16"), "{shown}");
        assert!(!shown.contains('\u{feff}'), "{shown}");
        let line = shown.lines().find(|l| l.contains("role r extends")).unwrap_or_default();
        let marks = shown.lines().find(|l| l.contains("──┬─")).unwrap_or_default();
        assert_eq!(
            line.find("nope").map(|i| line[..i].chars().count()),
            marks.find('─').map(|i| marks[..i].chars().count()),
            "{shown}"
        );
        // A second mark is an invisible character like any other: drawn, and marked.
        let mut s = Sources::default();
        let f = s.add("c.rbac".into(), "\u{feff}\u{feff}role r { }\n".into());
        let d = Diagnostic::error("E0105", "an invisible character", Span::new(f, 3, 6), "here");
        let shown = render_human(&s, [&d], false);
        assert!(shown.contains("c.rbac:1:1") && shown.contains("\u{FFFD}role r"), "{shown}");
        assert!(!shown.contains('\u{feff}'), "{shown}");
        // What the policy wrote, in a message or a help, cannot act on the terminal.
        let d = Diagnostic::error("E0201", "unknown role `a\u{1b}[2Jb`", Span::new(f, 6, 10), "here")
            .with_help("did you mean `\u{202e}x`?");
        let shown = render_human(&s, [&d], false);
        assert!(!shown.contains('\u{1b}') && !shown.contains('\u{202e}'), "{shown}");
        assert!(shown.contains(r"a\u{1B}[2Jb") && shown.contains(r"\u{202E}x"), "{shown}");
    }

    /// Every offset of a text, as counting lines and characters from the start gives it: at a
    /// newline (the end of its line), right after one, inside a character, past the end.
    #[test]
    fn line_col_agrees_with_counting_from_the_start_everywhere() {
        let text = "\nab\r\n\né x\n\n🦀\nlast";
        let mut s = Sources::default();
        let f = s.add("a.rbac".into(), text.into());
        for at in 0..text.len() + 3 {
            let upto = text.get(..text.floor_char_boundary(at)).unwrap_or_default();
            let counted =
                (upto.matches('\n').count() + 1, upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1);
            assert_eq!(s.line_col(Span::new(f, at, at)), counted, "offset {at}");
        }
        assert_eq!(s.line_col(Span::new(7, 0, 0)), (0, 0), "no such file");
    }
}
