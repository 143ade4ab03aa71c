//! A hand-written reader for the two things that make up nearly all of a large policy: the
//! whitespace and comments between items, and `assign ROLES to SUBJECTS on PATH;` items.
//!
//! It accepts a strict subset of what `grammar/rbac.pest` accepts and builds exactly the AST
//! the pest binding builds for it. Anything outside the subset (a comment inside the item, a
//! quoted id, a path ending in a bare type, any syntax error) makes it give up, and the item
//! goes to pest, so the grammar stays the one definition of the language and of its errors.

use super::ast::{Assign, Ident, Path, Segment, Subject, SubjectKind};
use crate::diag::{FileId, Span};

/// The offset of the next item after whitespace and comments from `at` (the text's length at
/// the end of the file), as the grammar's implicit `WHITESPACE` and `COMMENT` skip them.
/// `None` for an unterminated `/*` comment, which pest reports.
pub(super) fn skip_trivia(text: &str, mut at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    loop {
        match (bytes.get(at), bytes.get(at + 1)) {
            (Some(b' ' | b'\t' | b'\r' | b'\n'), _) => at += 1,
            (Some(b'/'), Some(b'/')) => {
                at += 2;
                while bytes.get(at).is_some_and(|c| *c != b'\n') {
                    at += 1;
                }
            }
            (Some(b'/'), Some(b'*')) => at += 2 + text.get(at + 2..)?.find("*/")? + 2,
            _ => return Some(at),
        }
    }
}

/// Reads an `assign` item starting at `at` (its keyword). Returns the item and the offset
/// just past its `;`, or `None` when pest must read it.
pub(super) fn assign(file: FileId, text: &str, at: usize) -> Option<(Assign, usize)> {
    let mut c = Cursor { file, text, bytes: text.as_bytes(), at };
    let start = c.at;
    c.keyword("assign")?;
    c.skip()?;
    let mut roles = vec![c.ident()?];
    loop {
        c.skip()?;
        if !c.eat(b',') {
            break;
        }
        c.skip()?;
        roles.push(c.ident()?);
    }
    c.keyword("to")?;
    c.skip()?;
    let mut subjects = vec![c.subject()?];
    loop {
        c.skip()?;
        if !c.eat(b',') {
            break;
        }
        c.skip()?;
        subjects.push(c.subject()?);
    }
    let scope = if c.keyword("on").is_some() {
        c.skip()?;
        let path = c.path()?;
        c.skip()?;
        Some(path)
    } else {
        None
    };
    if !c.eat(b';') {
        return None;
    }
    let span = c.span(start);
    Some((Assign { roles, subjects, scope, span }, c.at))
}

struct Cursor<'t> {
    file: FileId,
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.at)
    }

    fn slice(&self, start: usize) -> Option<&str> {
        self.text.get(start..self.at)
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// The implicit whitespace between tokens; a comment there is left to pest.
    fn skip(&mut self) -> Option<()> {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
        (self.peek() != Some(b'/')).then_some(())
    }

    /// `word` as a keyword rule matches it: not followed by an identifier character.
    fn keyword(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        let hit = self.bytes.get(self.at..end) == Some(word.as_bytes())
            && !self.bytes.get(end).copied().is_some_and(is_ident_char);
        hit.then(|| self.at = end)
    }

    /// `ident = @{ (ASCII_ALPHA | "_") ~ (ASCII_ALPHANUMERIC | "_")* }`
    fn ident(&mut self) -> Option<Ident> {
        let start = self.at;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.at += 1;
        }
        Some(Ident { name: self.slice(start)?.into(), span: self.span(start) })
    }

    /// An unquoted `id` (`id_chars`); a quoted one is left to pest.
    fn id(&mut self) -> Option<&str> {
        let start = self.at;
        while self.peek().is_some_and(|c| is_ident_char(c) || matches!(c, b'.' | b'@' | b'+' | b'-')) {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        self.slice(start)
    }

    /// `user:ID`, `service:ID`, `group:NAME` or `everyone`, with no space inside.
    fn subject(&mut self) -> Option<Subject> {
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let kind = if rest.starts_with(b"user:") || rest.starts_with(b"service:") {
            self.at += if rest.starts_with(b"user:") { 5 } else { 8 };
            self.id()?;
            SubjectKind::Principal(self.slice(start)?.into())
        } else if rest.starts_with(b"group:") {
            self.at += 6;
            SubjectKind::Group(self.ident()?)
        } else {
            self.keyword("everyone")?;
            SubjectKind::Everyone
        };
        Some(Subject { kind, span: self.span(start) })
    }

    /// A path of whole `type:id` segments; one ending in a bare type is left to pest.
    fn path(&mut self) -> Option<Path> {
        let start = self.at;
        // Sized up front: a path is one token, and growing a vector from one element costs a
        // reallocation per assignment.
        let rest = self.bytes.get(start..).unwrap_or(&[]);
        let slashes = rest.iter().take_while(|c| !matches!(c, b';' | b' ' | b'\n')).filter(|c| **c == b'/').count();
        let mut segments = Vec::with_capacity(slashes + 1);
        segments.push(self.segment()?);
        while self.eat(b'/') {
            segments.push(self.segment()?);
        }
        Some(Path { segments, bare: None, span: self.span(start) })
    }

    fn segment(&mut self) -> Option<Segment> {
        let start = self.at;
        let ty = self.ident()?;
        if !self.eat(b':') {
            return None;
        }
        let id = self.id()?.into();
        Some(Segment { ty, id, span: self.span(start) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivia_is_whitespace_and_both_comment_forms() {
        assert_eq!(skip_trivia(" // a\n /* b */ x", 0), Some(15));
        assert_eq!(skip_trivia("// only a comment", 0), Some(17));
        assert_eq!(skip_trivia("/* open", 0), None);
    }

    #[test]
    fn reads_the_common_assignment() {
        let text = "assign a, b to user:u1, group:g, everyone on org:o1/ws:w-1.x;";
        let (a, end) = assign(0, text, 0).expect("fast path");
        assert_eq!(end, text.len());
        assert_eq!(a.roles.len(), 2);
        assert_eq!(a.subjects.len(), 3);
        assert_eq!(a.scope.map(|p| p.segments.len()), Some(2));
    }

    #[test]
    fn leaves_the_unusual_to_pest() {
        for text in [
            "assign a to user:\"x y\";",
            "assign a to user:x on org:o/ws;",
            "assign a /* c */ to user:x;",
            "assign a to user:x on org:o",
            "assign a to user :x;",
            "assign to user:x;",
            "assignment a to user:x;",
        ] {
            assert!(assign(0, text, 0).is_none(), "{text}");
        }
    }
}
