//! The tokens of a policy's text, as the formatter and editors' highlighting read them: a
//! logos lexer that keeps comments, where the grammar (`grammar/rbac.pest`) skips them.

use logos::Logos;

/// The tokens of a policy's text; spaces, tabs and carriage returns between them are skipped.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\f]+")]
pub(super) enum Tok {
    #[token("\n")]
    Newline,
    #[regex(r"//[^\n]*")]
    LineComment,
    #[token("/*", block_comment)]
    BlockComment,
    #[regex(r#""([^"\\]|\\.)*""#)]
    Str,
    /// Names, keywords, numbers and the pieces of ids (`alice@acme.com` is three words and a dot).
    #[regex(r"[A-Za-z0-9_@+\-]+")]
    Word,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(";")]
    Semi,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(".")]
    Dot,
    #[token("/")]
    Slash,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("!")]
    Bang,
    #[token("*")]
    Star,
    /// `=`, `==`, `!=`, `<=`, `>=`, `&&`, `||`: spaced on both sides.
    #[token("=")]
    #[token("==")]
    #[token("!=")]
    #[token("<=")]
    #[token(">=")]
    #[token("&&")]
    #[token("||")]
    Operator,
}

/// A block comment runs to the first `*/` (they do not nest).
fn block_comment(lexer: &mut logos::Lexer<Tok>) -> bool {
    match lexer.remainder().find("*/") {
        Some(end) => {
            lexer.bump(end + 2);
            true
        }
        None => false,
    }
}

impl Tok {
    pub(super) fn opens(self) -> bool {
        matches!(self, Tok::LBrace | Tok::LParen | Tok::LBracket)
    }

    pub(super) fn closes(self) -> bool {
        matches!(self, Tok::RBrace | Tok::RParen | Tok::RBracket)
    }
}

/// The text's tokens with their text (line comments without trailing spaces); `None` where a
/// character is no token's.
pub(super) fn lex(text: &str) -> Option<Vec<(Tok, &str)>> {
    let mut lexer = Tok::lexer(text);
    let mut tokens = Vec::new();
    while let Some(tok) = lexer.next() {
        let tok = tok.ok()?;
        let slice = lexer.slice();
        tokens.push((tok, if tok == Tok::LineComment { slice.trim_end() } else { slice }));
    }
    Some(tokens)
}

/// What a piece of a policy's text is, for an editor's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// A word the grammar gives a meaning (`role`, `allow`, `string`, `user`, ...).
    Keyword,
    /// A quoted string, quotes included.
    String,
    /// A `//` or `/* */` comment.
    Comment,
    /// An integer, its sign included.
    Number,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`, `!` and `=`.
    Operator,
}

/// A piece of a policy's text an editor colours: its class and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub class: TokenClass,
    /// The byte offset where the piece starts.
    pub start: usize,
    /// The byte offset just past its end.
    pub end: usize,
}

/// The words the grammar gives a meaning (keywords, types, subject kinds). They are not
/// reserved, so one used as a name is coloured as a keyword too, except where only a name can
/// stand (after `.`, `/`, or the `:` of `user:alice`).
pub(crate) const KEYWORDS: &[&str] = &[
    "actions",
    "allow",
    "assign",
    "attributes",
    "audience",
    "bool",
    "claim",
    "context",
    "deny",
    "everyone",
    "exclusive",
    "expect",
    "extends",
    "false",
    "from",
    "group",
    "groups",
    "has",
    "identity",
    "in",
    "int",
    "issuer",
    "on",
    "principal",
    "resource",
    "role",
    "service",
    "set",
    "string",
    "test",
    "to",
    "true",
    "use",
    "user",
    "when",
    "with",
];

/// The keywords, strings, comments, numbers and operators of a text, in order. Text the lexer
/// cannot read (a string left open while typing) is skipped, and reading goes on after it.
pub fn highlight(text: &str) -> Vec<Highlight> {
    let mut out = Vec::new();
    let mut prev: Option<(Tok, usize)> = None;
    let mut base = 0;
    // A string left open runs to the end of its line; reading starts again on the next.
    'text: while let Some(rest) = text.get(base..) {
        let mut lexer = Tok::lexer(rest);
        while let Some(tok) = lexer.next() {
            let span = lexer.span();
            let (start, end) = (base + span.start, base + span.end);
            let Ok(tok) = tok else {
                prev = None;
                if lexer.slice().starts_with('"') {
                    let line_end = text.get(start..).and_then(|r| r.find('\n')).map_or(text.len(), |at| start + at);
                    out.push(Highlight { class: TokenClass::String, start, end: line_end });
                    base = line_end;
                    continue 'text;
                }
                continue;
            };
            let word = lexer.slice();
            let class = match tok {
                Tok::LineComment | Tok::BlockComment => Some(TokenClass::Comment),
                Tok::Str => Some(TokenClass::String),
                Tok::Operator | Tok::Lt | Tok::Gt | Tok::Bang => Some(TokenClass::Operator),
                Tok::Word => {
                    let digits = word.strip_prefix('-').unwrap_or(word);
                    let after_name_mark = prev
                        .is_some_and(|(p, at)| matches!(p, Tok::Dot | Tok::Slash) || (p == Tok::Colon && at == start));
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        Some(TokenClass::Number)
                    } else if !after_name_mark && KEYWORDS.contains(&word) {
                        Some(TokenClass::Keyword)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(class) = class {
                out.push(Highlight { class, start, end });
            }
            if tok != Tok::Newline {
                prev = Some((tok, end));
            }
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn keywords_strings_comments_numbers_and_operators_are_found() {
        let text = "role group { allow read on * when context.n <= -2 && principal in group:role; } // c\nassign role to user:user, group:to;\n/* b */ identity i { issuer \"x\"; }";
        let found: Vec<(TokenClass, &str)> = highlight(text).iter().map(|h| (h.class, &text[h.start..h.end])).collect();
        use TokenClass::*;
        assert_eq!(
            found,
            vec![
                (Keyword, "role"),
                // `group` names the role: still a keyword's colour (keywords are not reserved).
                (Keyword, "group"),
                (Keyword, "allow"),
                (Keyword, "on"),
                (Keyword, "when"),
                (Keyword, "context"),
                (Operator, "<="),
                (Number, "-2"),
                (Operator, "&&"),
                (Keyword, "principal"),
                (Keyword, "in"),
                (Keyword, "group"),
                (Comment, "// c"),
                (Keyword, "assign"),
                (Keyword, "role"),
                (Keyword, "to"),
                (Keyword, "user"),
                (Keyword, "group"),
                (Comment, "/* b */"),
                (Keyword, "identity"),
                (Keyword, "issuer"),
                (String, "\"x\""),
            ]
        );
        // A string left open while typing: the rest is still read.
        let open = highlight("group \"abc\nrole r");
        assert_eq!(
            open,
            vec![
                Highlight { class: Keyword, start: 0, end: 5 },
                Highlight { class: String, start: 6, end: 10 },
                Highlight { class: Keyword, start: 11, end: 15 },
            ]
        );
    }
}
