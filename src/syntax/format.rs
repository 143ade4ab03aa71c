//! `rbac fmt`: the one layout of a policy's text.
//!
//! The formatter reads the text as tokens (comments included) with a logos lexer and writes
//! the same tokens again: the line breaks are the author's (runs of blank lines become one); a
//! line is indented four spaces past the line that opened the innermost brace, bracket or
//! parenthesis still open, and four more when it continues a statement; the spacing within a
//! line is fixed by the pair of tokens (`a, b`, `x == y`, `owner: string`, `set<string>`,
//! `user:alice`, `workspace:prod/project:x`). Consecutive items of one kind have their columns
//! aligned (the `in` and `{` of `resource` lines with a parent, the `from` of `group` lines,
//! the `=` of action sets, the `{` of `principal` and `context`, the `to` of assignments, the
//! subjects of `expect` lines), and so have the comments that end consecutive lines. The
//! layout depends on the tokens and line breaks only, so formatting a formatted text changes
//! nothing.
//!
//! A text with a syntax error is not formatted. A formatted text is parsed again and must give
//! the original's syntax tree (spans aside) and the same comments, or nothing is written.

use super::ast::Item;
use super::token::{Tok, lex};
use crate::diag::{Diagnostics, FileId};

/// Why a text was not formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The text has syntax errors; they are in the diagnostics passed to [`format`](fn@format).
    Syntax,
    /// The formatted text would not have meant the same (a bug in the formatter): nothing is
    /// written. The message says what differed.
    Changed(String),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Syntax => write!(f, "the text has syntax errors"),
            FormatError::Changed(why) => write!(f, "formatting would change what the text means: {why}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// The text of a policy file (`file` names it in the diagnostics) in its formatted layout.
/// Syntax errors go to `diags`.
pub fn format(file: FileId, text: &str, diags: &mut Diagnostics) -> Result<String, FormatError> {
    // Plain `assign` items are kept as offsets and compared one at a time below, so a large
    // policy's two syntax trees never live whole.
    let mut assigns_before = Vec::new();
    let before = super::parse_deferring(file, text, diags, &mut assigns_before);
    if diags.has_errors() {
        return Err(FormatError::Syntax);
    }
    // A byte order mark opening the file is dropped (UTF-8 needs none).
    let body = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let tokens = lex(body).ok_or_else(|| FormatError::Changed("a character the lexer does not know".to_string()))?;
    let out = render(layout(&tokens));
    let mut again = Diagnostics::default();
    let mut assigns_after = Vec::new();
    let after = super::parse_deferring(file, &out, &mut again, &mut assigns_after);
    if again.has_errors() {
        return Err(FormatError::Changed("the formatted text does not parse".to_string()));
    }
    let assign = |text: &str, at: u32| super::reread_assign(file, text, at).map(Item::Assign);
    let differ = before.items.len() != after.items.len()
        || assigns_before.len() != assigns_after.len()
        || before.items.iter().zip(&after.items).any(|(b, a)| without_offsets(b) != without_offsets(a))
        || assigns_before.iter().zip(&assigns_after).any(|(&b, &a)| match (assign(text, b), assign(&out, a)) {
            (Some(b), Some(a)) => without_offsets(&b) != without_offsets(&a),
            _ => true,
        });
    if differ {
        return Err(FormatError::Changed("the formatted text parses to another syntax tree".to_string()));
    }
    let after_tokens = lex(&out).ok_or_else(|| FormatError::Changed("the formatted text does not lex".to_string()))?;
    if comments(&tokens) != comments(&after_tokens) {
        return Err(FormatError::Changed("the formatted text has other comments".to_string()));
    }
    Ok(out)
}

/// An item of the syntax tree as text, with its spans' offsets left out.
fn without_offsets(item: &Item) -> String {
    let text = format!("{item:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let digits = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len());
        if !(head.ends_with("start: ") || head.ends_with("end: ")) {
            out.push_str(tail.get(..digits).unwrap_or(""));
        }
        rest = tail.get(digits..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn comments<'a>(tokens: &[(Tok, &'a str)]) -> Vec<std::borrow::Cow<'a, str>> {
    let comments = tokens.iter().filter(|(t, _)| matches!(t, Tok::LineComment | Tok::BlockComment));
    // Compared with the line breaks rendering makes of them.
    comments.map(|(_, s)| if s.contains('\r') { s.replace("\r\n", "\n").into() } else { (*s).into() }).collect()
}

/// One token placed on a line: its text and the spaces before it (none, or one plus any
/// padding that aligns it with the lines around).
struct Piece<'a> {
    text: &'a str,
    space: usize,
}

/// One line of the output.
struct Line<'a> {
    indent: usize,
    pieces: Vec<Piece<'a>>,
    /// A comment after the code, aligned with those of the lines around.
    comment: Option<&'a str>,
    blank_before: bool,
    /// The line goes on a statement begun on a line before.
    continued: bool,
}

impl Line<'_> {
    /// The column the line ends at ([`columns`]).
    fn width(&self) -> usize {
        columns(self.indent, &self.pieces)
    }

    fn first(&self) -> &str {
        self.pieces.first().map_or("", |p| p.text)
    }

    /// Lines of one kind align their columns: the first word, `principal` and `context` alike.
    fn kind(&self) -> &str {
        match self.first() {
            "context" => "principal",
            first => first,
        }
    }

    /// The columns this line aligns on with its neighbours of the same kind: (name, piece).
    fn anchors(&self) -> Vec<(&'static str, usize)> {
        let text = |i: usize| self.pieces.get(i).map_or("", |p| p.text);
        let mut anchors = Vec::new();
        if self.continued {
            return anchors;
        }
        match (self.indent, self.first()) {
            (0, "resource") if text(2) == "in" => {
                anchors.push(("in", 2));
                if text(4) == "{" {
                    anchors.push(("{", 4));
                }
            }
            (0, "group") if text(2) == "from" => anchors.push(("from", 2)),
            (0, "actions") if text(2) == "=" => anchors.push(("=", 2)),
            (0, "principal" | "context") if text(1) == "{" => anchors.push(("{", 1)),
            (0, "assign") => {
                // The `to` after the roles (a role may be named `to`).
                if let Some(to) = (2..self.pieces.len()).find(|&i| text(i) == "to" && text(i - 1) != ",") {
                    anchors.push(("to", to));
                }
            }
            (_, "expect") if self.pieces.len() > 2 => anchors.push(("subject", 2)),
            _ => {}
        }
        anchors
    }
}

/// What the tokens read so far leave open: a brace, bracket or parenthesis, the indentation of
/// the line it opened on, and whether it holds `name: value` pairs (an `attributes` block or
/// an `expect`'s `with`).
struct Open {
    indent: usize,
    tok: Tok,
    pairs: bool,
}

fn layout<'a>(tokens: &[(Tok, &'a str)]) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut newlines = 0usize;
    let mut line: Option<Line<'a>> = None;
    // The last token that is not a comment, and the first word of its statement.
    let mut last: Option<(Tok, &'a str)> = None;
    let mut statement: Option<&'a str> = None;
    // Inside `set<...>` of an attribute's type.
    let mut angles = 0usize;
    let mut prev: Option<(Tok, &'a str)> = None;
    let mut glue_next = false;

    for &(tok, text) in tokens {
        if tok == Tok::Newline {
            newlines += 1;
            continue;
        }
        let mut current = match line.take() {
            Some(l) if newlines == 0 => l,
            finished => {
                let blank_before = newlines >= 2 && (finished.is_some() || !lines.is_empty());
                lines.extend(finished);
                let inner = open.last();
                let indent = match inner {
                    None => 0,
                    Some(o) if tok.closes() => o.indent,
                    Some(o) => o.indent + 1,
                };
                let continued = !tok.closes()
                    && tok != Tok::LBrace
                    && inner.is_none_or(|o| o.tok == Tok::LBrace)
                    && last.is_some_and(|(t, _)| match t {
                        Tok::Semi | Tok::LBrace | Tok::RBrace => false,
                        Tok::Comma => !inner.is_some_and(|o| o.pairs),
                        _ => true,
                    });
                newlines = 0;
                prev = None;
                glue_next = false;
                Line {
                    indent: indent + usize::from(continued),
                    pieces: Vec::new(),
                    comment: None,
                    blank_before,
                    continued,
                }
            }
        };
        if tok == Tok::LineComment && !current.pieces.is_empty() {
            current.comment = Some(text);
            line = Some(current);
            continue;
        }
        let pairs = open.last().is_some_and(|o| o.pairs);
        let mut typed = false;
        let space = match prev {
            None => false,
            Some((p, ptext)) => {
                if tok == Tok::Lt && pairs && ptext == "set" {
                    typed = true;
                    false
                } else if tok == Tok::Gt && angles > 0 {
                    false
                } else {
                    !glue_next && spaced(p, tok, pairs)
                }
            }
        };
        glue_next = typed;
        if typed {
            angles += 1;
        } else if tok == Tok::Gt && angles > 0 {
            angles -= 1;
        }
        current.pieces.push(Piece { text, space: usize::from(space) });
        if tok.opens() {
            // `last`, not `prev`: the `{` may open a line of its own.
            let pairs = tok == Tok::LBrace
                && match last {
                    Some((_, "attributes")) => statement == Some("attributes"),
                    Some((_, "with")) => statement == Some("expect"),
                    _ => false,
                };
            open.push(Open { indent: current.indent, tok, pairs });
        } else if tok.closes() {
            open.pop();
        }
        if !matches!(tok, Tok::LineComment | Tok::BlockComment) {
            last = Some((tok, text));
            statement = match tok {
                Tok::Semi | Tok::LBrace | Tok::RBrace => None,
                _ => statement.or(Some(text)),
            };
        }
        prev = Some((tok, text));
        line = Some(current);
    }
    lines.extend(line);
    align(&mut lines);
    lines
}

/// The column after `pieces` on a line indented `indent` levels: characters, not bytes (`é`
/// is one column), counted from the last line break inside a piece (a block comment over
/// several lines) when there is one.
fn columns(indent: usize, pieces: &[Piece<'_>]) -> usize {
    pieces.iter().fold(indent * 4, |at, p| match p.text.rfind('\n') {
        Some(nl) => p.text.get(nl + 1..).map_or(0, |rest| rest.chars().count()),
        None => at + p.space + p.text.chars().count(),
    })
}

/// Whether one space goes between two tokens on a line (else none).
fn spaced(prev: Tok, next: Tok, pairs: bool) -> bool {
    use Tok::*;
    match (prev, next) {
        (_, Semi | Comma | RParen | RBracket) => false,
        (LParen | LBracket | Bang, _) => false,
        (Dot | Slash | ColonColon, _) | (_, Dot | Slash | ColonColon) => false,
        (Colon, _) => pairs,
        (_, Colon) => false,
        (LBrace, RBrace) => false,
        _ => true,
    }
}

/// Aligns the columns of consecutive lines of one kind, then the comments ending consecutive
/// lines.
fn align(lines: &mut [Line<'_>]) {
    let mut aligned = vec![false; lines.len()];
    for start in 0..lines.len() {
        let Some(first) = lines.get(start) else { break };
        if aligned.get(start).copied().unwrap_or(true) || first.continued {
            continue;
        }
        let (indent, kind) = (first.indent, first.kind());
        // The run: lines of this kind at this indentation, past comment lines, deeper lines
        // and closing braces; a blank line or any other line ends it.
        let mut members = vec![start];
        for (at, l) in lines.iter().enumerate().skip(start + 1) {
            if l.blank_before {
                break;
            }
            if l.indent == indent && !l.continued && l.kind() == kind {
                members.push(at);
            } else if !(l.indent > indent || l.first() == "}" || l.first().starts_with("//")) {
                break;
            }
        }
        for &m in &members {
            if let Some(a) = aligned.get_mut(m) {
                *a = true;
            }
        }
        align_columns(lines, &members);
    }

    // Comments after code: aligned one space past the longest line of each run.
    let mut i = 0;
    while i < lines.len() {
        let mut end = i;
        while lines.get(end).is_some_and(|l| l.comment.is_some() && (end == i || !l.blank_before)) {
            end += 1;
        }
        let width = lines.get(i..end).unwrap_or(&[]).iter().map(Line::width).max().unwrap_or(0);
        for l in lines.get_mut(i..end).unwrap_or(&mut []) {
            let pad = width - l.width();
            if let Some(c) = l.comment.take() {
                l.pieces.push(Piece { text: c, space: pad + 1 });
            }
        }
        i = end.max(i + 1);
    }
}

fn align_columns(lines: &mut [Line<'_>], members: &[usize]) {
    if members.len() < 2 {
        return;
    }
    // Left to right: aligning a column moves those after it.
    for name in ["in", "{", "from", "=", "to", "subject"] {
        let column = |l: &Line<'_>| {
            l.anchors().into_iter().find(|(n, _)| *n == name).map(|(_, at)| {
                columns(l.indent, l.pieces.get(..at).unwrap_or_default()) + l.pieces.get(at).map_or(0, |p| p.space)
            })
        };
        let target = members.iter().filter_map(|&m| lines.get(m).and_then(column)).max().unwrap_or(0);
        for &m in members {
            let Some(l) = lines.get_mut(m) else { continue };
            let Some(col) = column(l) else { continue };
            let at = l.anchors().into_iter().find(|(n, _)| *n == name).map(|(_, at)| at);
            if let Some(p) = at.and_then(|at| l.pieces.get_mut(at)) {
                p.space += target - col;
            }
        }
    }
}

fn render(lines: Vec<Line<'_>>) -> String {
    let mut out = String::new();
    for line in lines {
        if line.blank_before {
            out.push('\n');
        }
        for _ in 0..line.indent {
            out.push_str("    ");
        }
        for p in &line.pieces {
            for _ in 0..p.space {
                out.push(' ');
            }
            // A block comment's line breaks become `\n`, as every other (strings keep theirs:
            // they are the string's content).
            if p.text.starts_with("/*") && p.text.contains('\r') {
                out.push_str(&p.text.replace("\r\n", "\n"));
            } else {
                out.push_str(p.text);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    fn fmt(text: &str) -> String {
        let mut diags = Diagnostics::default();
        let out = format(0, text, &mut diags).unwrap_or_else(|e| panic!("{e:?}: {diags:?}"));
        let mut again = Diagnostics::default();
        assert_eq!(format(0, &out, &mut again).as_deref(), Ok(out.as_str()), "formatting twice changes it");
        out
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(fmt("\u{FEFF}role  r { }\n"), "role r {}\n");
    }

    #[test]
    fn spacing_within_a_line_is_fixed_by_the_tokens() {
        assert_eq!(
            fmt(
                "role  r   extends a ,b{allow read,update on *  when resource . owner==principal.id&&!( context.mfa ) ;}"
            ),
            "role r extends a, b { allow read, update on * when resource.owner == principal.id && !(context.mfa); }\n"
        );
        assert_eq!(
            fmt("resource p in w{attributes{owner:string,tags:set < string >}}"),
            "resource p in w { attributes { owner: string, tags: set<string> } }\n"
        );
        assert_eq!(fmt("use std :: crud ;"), "use std::crud;\n");
        assert_eq!(
            fmt("assign r to user:alice@acme.com,group:g on workspace:\"my ws\"/project:p-1;"),
            "assign r to user:alice@acme.com, group:g on workspace:\"my ws\"/project:p-1;\n"
        );
        assert_eq!(
            fmt("role r { allow a on t when principal.level < -1 || [1,2] == [ ] ; }"),
            "role r { allow a on t when principal.level < -1 || [1, 2] == []; }\n"
        );
    }

    #[test]
    fn lines_are_indented_by_what_is_open_and_continued_statements_once_more() {
        let text = "role r {\nallow read on *;\n  allow update on t\nwhen resource.owner == principal.id\n|| (context.mfa &&\ncontext.x);\n}\ntest \"t\" {\n expect allow user:a u t:x\n with { resource.owner: \"user:a\",\n context.mfa: true };\n}\n";
        assert_eq!(
            fmt(text),
            "role r {\n    allow read on *;\n    allow update on t\n        when resource.owner == principal.id\n        || (context.mfa &&\n            context.x);\n}\ntest \"t\" {\n    expect allow user:a u t:x\n        with { resource.owner: \"user:a\",\n            context.mfa: true };\n}\n"
        );
    }

    #[test]
    fn blank_lines_collapse_to_one_and_none_open_or_end_the_file() {
        assert_eq!(fmt("\n\n\ngroup a;\n\n\n\ngroup bb;\r\n\r\n"), "group a;\n\ngroup bb;\n");
        assert_eq!(fmt(""), "");
    }

    #[test]
    fn items_of_one_kind_align_their_columns_until_a_blank_line() {
        let text = "resource w;\nresource project in w { actions read; }\nresource p in project { actions read; }\n// a comment\nresource x in w\n{ actions read; }\n\nresource long_name in w { actions read; }\n";
        assert_eq!(
            fmt(text),
            "resource w;\nresource project in w       { actions read; }\nresource p       in project { actions read; }\n// a comment\nresource x       in w\n{ actions read; }\n\nresource long_name in w { actions read; }\n"
        );
        assert_eq!(
            fmt("group a from o \"A\";\ngroup bcd from o \"B\";"),
            "group a   from o \"A\";\ngroup bcd from o \"B\";\n"
        );
        assert_eq!(
            fmt("assign to to user:a;\nassign viewer, x to user:b;\n"),
            "assign to        to user:a;\nassign viewer, x to user:b;\n"
        );
        assert_eq!(
            fmt("principal { attributes { a: int } }\ncontext { attributes { b: int } }"),
            "principal { attributes { a: int } }\ncontext   { attributes { b: int } }\n"
        );
        // A block opened on a line of its own still holds `name: type` pairs.
        assert_eq!(
            fmt("principal {\nattributes\n{\na:int\n}\n}"),
            "principal {\n    attributes\n    {\n        a: int\n    }\n}\n"
        );
    }

    #[test]
    fn comments_are_kept_and_those_ending_consecutive_lines_aligned() {
        let text = "// head\ngroup a; // one\ngroup bcd;   // two\n\ngroup e; /* block */ group f;\n/* multi\n   line */\nrole r { // opens\n}\n";
        assert_eq!(
            fmt(text),
            "// head\ngroup a;   // one\ngroup bcd; // two\n\ngroup e; /* block */ group f;\n/* multi\n   line */\nrole r { // opens\n}\n"
        );
    }

    #[test]
    fn comments_align_by_characters_and_block_comments_get_lf_line_breaks() {
        // `é` is one column; a block comment over two lines counts from its last line.
        assert_eq!(
            fmt("group a from okta \"ééé\"; // x\ngroup b from okta \"eee\"; // y\n"),
            "group a from okta \"ééé\"; // x\ngroup b from okta \"eee\"; // y\n"
        );
        assert_eq!(
            fmt("group a; // one\n/* block\n   two */ group bb; // two\n"),
            "group a;            // one\n/* block\n   two */ group bb; // two\n"
        );
        assert_eq!(
            fmt("group a; /* multi\r\n line */ // z\r\ngroup bb;\r\n"),
            "group a; /* multi\n line */ // z\ngroup bb;\n"
        );
        // A string's own line break is its content: kept.
        assert_eq!(fmt("identity i { issuer \"a\r\nb\"; }\r\n"), "identity i { issuer \"a\r\nb\"; }\n");
    }

    #[test]
    fn a_text_with_a_syntax_error_is_not_formatted() {
        let mut diags = Diagnostics::default();
        assert_eq!(format(0, "role r { allow read on * }\n", &mut diags), Err(FormatError::Syntax));
        assert!(diags.iter().any(|d| d.code == "E0101"));
    }

    #[test]
    fn keywords_used_as_names_keep_their_meaning() {
        // `attributes` and `with` name a role and an action here: no `name: value` block follows.
        assert_eq!(
            fmt(
                "role attributes { allow with on t when principal in group:g; }\ntest \"t\" { expect allow user:a with t:x; }"
            ),
            "role attributes { allow with on t when principal in group:g; }\ntest \"t\" { expect allow user:a with t:x; }\n"
        );
    }
}
