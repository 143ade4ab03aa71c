//! Parsing: binds the pest grammar (`grammar/rbac.pest`) and turns its parse tree into the
//! [`ast`]. Pest types never leave this module; syntax errors become diagnostics.

pub mod ast;
mod fast;
mod format;
mod token;

pub use format::{FormatError, format};
pub use token::{Highlight, TokenClass, highlight};

use crate::diag::{Diagnostic, Diagnostics, FileId, Label, Span};
use ast::*;
use pest::Parser;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/rbac.pest"]
struct RbacParser;

/// Parses one file. On a syntax error the file yields no items and one diagnostic: pest
/// does not recover, so later items of a broken file are not checked.
///
/// The file is read item by item, so memory holds one item's parse tree at a time rather
/// than pest's token queue for the whole file (tens of bytes per source byte). The bulk item
/// kind, `assign`, is read by the hand-written `fast` reader when it can; every other item,
/// and every `assign` it declines, goes through the grammar's `next_item`. Where no item can
/// be read, the grammar's `policy` rule parses the file again from the start of the last good
/// item, and fails exactly where and as a whole-file parse would: the items before parse alike
/// either way and end in `;` or `}`, so pest tried nothing beyond them, and the failure lies
/// after the start of that parse (pest reports a failure at the very start of its input as
/// "expected `policy`" rather than the tokens it tried there). After a syntax error, reading
/// resumes at the next line that starts an item (see `resync`), so one run reports each
/// broken item's error; a file with any syntax error gives no items.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> File {
    parse_items(file, text, diags, None, false)
}

/// [`parse`], but a file with syntax errors gives the items that did parse (those before the
/// first error and those read after each resumption), for editors: an outline and "go to
/// definition" while a document is being typed. Not for checking: a broken item's neighbours
/// may be missing or misread.
pub fn parse_partial(file: FileId, text: &str, diags: &mut Diagnostics) -> File {
    parse_items(file, text, diags, None, true)
}

/// [`parse`] for compiling: an `assign` item that the hand-written reader takes is checked
/// but not kept; its offset is listed in `deferred` instead (in file order, with the items the
/// grammar reads left in the file), and the checker reads it again with [`reread_assign`]
/// when it resolves it. A million assignments then never live as a syntax tree at once (some
/// 500 bytes each), only as their offsets. `deferred` is left empty when the file has a syntax
/// error, as its items are.
pub(crate) fn parse_deferring(file: FileId, text: &str, diags: &mut Diagnostics, deferred: &mut Vec<u32>) -> File {
    parse_items(file, text, diags, Some(deferred), false)
}

/// The `assign` item at `at` of a file that [`parse_deferring`] read, built this time.
pub(crate) fn reread_assign(file: FileId, text: &str, at: u32) -> Option<Assign> {
    fast::assign(file, text, at as usize).map(|(item, _)| item)
}

fn parse_items(
    file: FileId,
    text: &str,
    diags: &mut Diagnostics,
    mut deferred: Option<&mut Vec<u32>>,
    partial: bool,
) -> File {
    let hidden = misleading_characters(file, text);
    if !hidden.is_empty() {
        for d in hidden {
            diags.push(d);
        }
        return File::default();
    }
    if let Some(at) = too_deep(text) {
        diags.push(
            Diagnostic::error(
                "E0104",
                format!("nesting deeper than {MAX_NESTING} levels"),
                Span::new(file, at, at + 1),
                "too deep here",
            )
            .with_help("split the condition into several rules or simplify it"),
        );
        return File::default();
    }
    pest::set_error_detail(true);
    // Diagnostics found while building items (a bad escape, an integer out of range) count
    // only if the whole file parses, as they would after a whole-file parse.
    let mut built = Diagnostics::default();
    let mut items = Vec::new();
    // Where the last item read starts, and where it ends: everything before parsed.
    let mut last_start = None;
    // A byte order mark may open the file (editors on Windows write one); it is no token.
    let start = if text.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
    let mut done = start;
    // Where parsing last (re)started: the file's start, or the item after a syntax error.
    let mut floor = start;
    let mut errors = 0;
    loop {
        let at = match fast::skip_trivia(text, done) {
            Some(at) if at >= text.len() => break,
            Some(at) => at,
            None => done,
        };
        if let Some((item, end)) = fast::assign(file, text, at) {
            match (deferred.as_deref_mut(), u32::try_from(at)) {
                (Some(offsets), Ok(at)) => offsets.push(at),
                _ => items.push(Item::Assign(item)),
            }
            (last_start, done) = (Some(at), end);
            continue;
        }
        let rest = text.get(at..).unwrap_or("");
        let mut b = Builder { file, offset: at, diags: &mut built };
        let next = RbacParser::parse(Rule::next_item, rest).ok().and_then(|mut p| p.next()?.into_inner().next());
        if let Some(p) = next {
            let (start, end) = (at + p.as_span().start(), at + p.as_span().end());
            if let Some(item) = b.item(p) {
                items.push(item);
            }
            (last_start, done) = (Some(start), end);
            continue;
        }
        // Not an item here: the end of the file or a syntax error, which `policy` tells.
        match parse_rest(file, text, floor, last_start, &mut built) {
            Ok(rest) => {
                items.extend(rest);
                break;
            }
            Err(e) => {
                let d = syntax_error(file, text, last_start.unwrap_or(floor), &e);
                let at = d.primary.span.start as usize;
                diags.push(d);
                errors += 1;
                // Recover at the next line that starts an item, to report its errors too.
                match resync(text, at) {
                    Some(next) if next > floor && errors < MAX_SYNTAX_ERRORS => {
                        (floor, done, last_start) = (next, next, None);
                    }
                    _ => break,
                }
            }
        }
    }
    // A file with a syntax error contributes no items (nor what building them found).
    if errors > 0 && !partial {
        if let Some(offsets) = deferred {
            offsets.clear();
        }
        return File::default();
    }
    diags.append(built);
    File { items }
}

/// The most syntax errors reported for one file.
const MAX_SYNTAX_ERRORS: usize = 20;

/// E0105 for each character that shows otherwise than the parser reads it (up to
/// [`MAX_SYNTAX_ERRORS`]; the characters are [`misleading`]'s). Strings can still hold any of
/// them as `\u{...}` escapes.
fn misleading_characters(file: FileId, text: &str) -> Vec<Diagnostic> {
    misleading_chars(text)
        .take(MAX_SYNTAX_ERRORS)
        .map(|(at, c, (what, help))| {
            Diagnostic::error(
                "E0105",
                format!("{what} (U+{:04X}): the file would read otherwise than it shows", u32::from(c)),
                Span::new(file, at, at + c.len_utf8()),
                "here",
            )
            .with_help(help)
        })
        .collect()
}

/// What a character shows as that the parser does not read it as, and what to do instead,
/// or `None` for a character that reads as it shows (`next` is the byte after it): a carriage
/// return not followed by a line feed, which editors and terminals show as a line break while
/// the parser reads on (the rest of a `//` comment's line would hide a rule); other line and
/// page breaks (vertical tab, form feed, U+0085, U+2028, U+2029); bidirectional-text
/// controls, which reorder what is shown (U+061C, U+200E, U+200F, U+202A-U+202E,
/// U+2066-U+2069); invisible characters (zero-width spaces and joiners, the soft hyphen,
/// fillers, U+FEFF but as a file's first character: `user:"bob\u{200B}"` shows as
/// `user:"bob"` and is another user; [`misleading_chars`] passes them over in comments); and
/// every other control character but tab, line feed and the carriage return of a CRLF
/// (escape sequences would act on a terminal that shows the line). The one list both E0105
/// and diagnostics' display of source lines (which shows these as `?`) use.
fn misleading(c: char, next: Option<u8>) -> Option<(&'static str, &'static str)> {
    match c {
        '\r' if next == Some(b'\n') => None,
        '\r' => Some(("a carriage return without a line feed", "use `\\n` or `\\r\\n` line endings")),
        '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
            Some(("a line or page break other than `\\n`", "use `\\n` or `\\r\\n` line endings"))
        }
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => Some((
            "a bidirectional-text control, which changes the order the text is shown in",
            "remove it; inside a string, write it as an escape (`\\u{202E}`)",
        )),
        c if invisible(c) => Some((
            "an invisible character, which shows as nothing (or as a blank) but is part of the text",
            "remove it; inside a string, write it as an escape (`\\u{200B}`)",
        )),
        c if c.is_control() && c != '\t' && c != '\n' => {
            Some(("a control character", "remove it; inside a string, write it as an escape (`\\u{1B}`)"))
        }
        _ => None,
    }
}

/// Zero-width spaces and joiners, the soft hyphen, fillers, U+FEFF: characters that show as
/// nothing (or a blank). Refused in code and strings (`user:"bob\u{200B}"` typed raw shows as
/// `user:"bob"`), not in comments, where they change nothing and emoji sequences and some
/// scripts (Persian, Indic, Mongolian) need them.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// Whether offsets of a text lie inside comments, read forward once (offsets asked for in
/// increasing order): code, `//` to the line's end, `/* */`, and strings with their escapes.
#[derive(Default)]
struct Comments {
    pos: usize,
    state: Lex,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Lex {
    #[default]
    Code,
    Line,
    Block,
    Str,
}

impl Comments {
    fn inside(&mut self, bytes: &[u8], at: usize) -> bool {
        while self.pos < at {
            let (b, next) = (bytes.get(self.pos).copied(), bytes.get(self.pos + 1).copied());
            let (state, step) = match (self.state, b, next) {
                (Lex::Code, Some(b'/'), Some(b'/')) => (Lex::Line, 2),
                (Lex::Code, Some(b'/'), Some(b'*')) => (Lex::Block, 2),
                (Lex::Code, Some(b'"'), _) => (Lex::Str, 1),
                (Lex::Line, Some(b'\n'), _) => (Lex::Code, 1),
                (Lex::Block, Some(b'*'), Some(b'/')) => (Lex::Code, 2),
                (Lex::Str, Some(b'\\'), _) => (Lex::Str, 2),
                (Lex::Str, Some(b'"'), _) => (Lex::Code, 1),
                (state, _, _) => (state, 1),
            };
            (self.state, self.pos) = (state, self.pos + step);
        }
        matches!(self.state, Lex::Line | Lex::Block)
    }
}

/// Whether `c` shows otherwise than it reads wherever it stands (the characters E0105 refuses
/// in sources, a carriage return counted as a lone one): what a line shown on a terminal must
/// escape, with its line breaks and tabs if it is to stay one line.
pub fn shows_otherwise(c: char) -> bool {
    misleading(c, None).is_some()
}

/// `text` with every character that [`shows_otherwise`] written as a `\u{...}` escape, and
/// its line feeds and tabs too when `one_line`: what the command line and diagnostics print
/// of text a policy, a request or a log wrote.
pub fn escape_shown(text: &str, one_line: bool) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| (one_line && (c == '\n' || c == '\t')) || shows_otherwise(c);
    if !text.chars().any(hidden) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Each [`misleading`] character of `text` with its offset, from a fast scan for the bytes
/// that may start one ([`next_unplain`]).
pub(crate) fn misleading_chars(text: &str) -> impl Iterator<Item = (usize, char, (&'static str, &'static str))> + '_ {
    let bytes = text.as_bytes();
    let mut from = Some(0);
    let mut comments = Comments::default();
    std::iter::from_fn(move || {
        while let Some(at) = from.and_then(|f| next_unplain(bytes, f)) {
            let c = text.get(at..).and_then(|t| t.chars().next())?;
            let next = at + c.len_utf8();
            from = Some(next);
            // A byte order mark may open the file (it is no token).
            if at == 0 && c == '\u{FEFF}' {
                continue;
            }
            if let Some(what) = misleading(c, bytes.get(next).copied()) {
                if invisible(c) && comments.inside(bytes, at) {
                    continue;
                }
                return Some((at, c, what));
            }
        }
        from = None;
        None
    })
}

/// The first byte from `from` on that is not printable ASCII, a line feed or a tab. Most files
/// have none (or only a CRLF's CRs): blocks of 64 bytes are tested without a branch a byte,
/// which the compiler vectorises (a byte-at-a-time search cost 0.1 to 0.3 s on a 78 MB policy).
fn next_unplain(bytes: &[u8], from: usize) -> Option<usize> {
    let plain = |b: u8| b.wrapping_sub(b' ') < 0x5f || b == b'\n' || b == b'\t';
    let rest = bytes.get(from..)?;
    let mut blocks = rest.chunks_exact(64);
    let mut base = from;
    for block in blocks.by_ref() {
        if block.iter().fold(false, |seen, &b| seen | !plain(b)) {
            return block.iter().position(|&b| !plain(b)).map(|i| base + i);
        }
        base += 64;
    }
    blocks.remainder().iter().position(|&b| !plain(b)).map(|i| base + i)
}

/// Keywords that start an item (the alternatives of the grammar's `item` rule).
const ITEM_KEYWORDS: [&str; 11] =
    ["use", "actions", "resource", "principal", "context", "group", "identity", "role", "assign", "exclusive", "test"];

/// Where parsing resumes after a syntax error at `at`: the first line from the error's on
/// whose first word is an item keyword (the error's own token when it is one, as when the
/// `;` before an item is missing), outside strings and comments (read from `at` on). An
/// indented keyword inside a bracket opened from the error on (`resource p (` with its
/// `actions` line below, Cedar's `permit (` with `principal` and `resource` lines) is a
/// member, not an item; a keyword at the start of a line always starts one. `None` when no
/// line does.
fn resync(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = at;
    let line = text.get(..at)?.rfind('\n').map_or(0, |n| n + 1);
    let mut line_start = text.get(line..at)?.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
    // Brackets opened from the error on and not yet closed.
    let mut depth: i64 = 0;
    while let Some(&c) = bytes.get(i) {
        if line_start {
            let word_end = i + bytes.get(i..)?.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            let word = text.get(i..word_end)?;
            let first_column = i == 0 || bytes.get(i - 1) == Some(&b'\n');
            // `context.x` or `principal.x` starting a condition's line is no item.
            if ITEM_KEYWORDS.contains(&word) && bytes.get(word_end) != Some(&b'.') && (depth <= 0 || first_column) {
                return Some(i);
            }
            if !matches!(c, b' ' | b'\t' | b'\r') {
                line_start = false;
            } else {
                i += 1;
                continue;
            }
        }
        match (c, bytes.get(i + 1)) {
            (b'\n', _) => line_start = true,
            // A string may span lines; it ends at its closing quote.
            (b'"', _) => i = closing_quote(bytes, i),
            (b'/', Some(b'/')) => {
                while bytes.get(i + 1).is_some_and(|d| *d != b'\n') {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => i += 2 + text.get(i + 2..)?.find("*/")? + 1,
            (b'(' | b'[' | b'{', _) => depth += 1,
            (b')' | b']' | b'}', _) => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses `text` with the grammar's `policy` rule from the start of the last item read (or
/// from `floor`, where parsing started), and returns the items after that one.
fn parse_rest(
    file: FileId,
    text: &str,
    floor: usize,
    last_start: Option<usize>,
    built: &mut Diagnostics,
) -> Result<Vec<Item>, Box<pest::error::Error<Rule>>> {
    let from = last_start.unwrap_or(floor);
    let rest = text.get(from..).unwrap_or("");
    match RbacParser::parse(Rule::policy, rest) {
        Ok(mut pairs) => {
            let mut b = Builder { file, offset: from, diags: built };
            let pairs = pairs.next().into_iter().flat_map(|p| p.into_inner()).filter(|p| p.as_rule() != Rule::EOI);
            Ok(pairs.skip(usize::from(last_start.is_some())).filter_map(|p| b.item(p)).collect())
        }
        Err(e) => Err(Box::new(e)),
    }
}

/// The offset of the quote that closes the string opened at `open` (the length when none
/// does), stepping over escapes.
fn closing_quote(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while let Some(&d) = bytes.get(i) {
        match d {
            b'\\' => i += 1,
            b'"' => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// How deeply `(`, `!` and `set<` may nest: the parser and the checker recurse on them, and
/// a hostile file must get an error, not exhaust the stack.
const MAX_NESTING: usize = 200;

/// The offset where nesting first exceeds [`MAX_NESTING`], skipping strings and comments.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut parens, mut sets, mut bangs) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'"' => i = closing_quote(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|d| *d != b'\n') {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while bytes.get(i).is_some() && !(bytes.get(i) == Some(&b'*') && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b'!' if bytes.get(i + 1) != Some(&b'=') => bangs += 1,
            b'<' if text.get(..i).is_some_and(|t| t.trim_end().ends_with("set")) => sets += 1,
            b'>' => sets = sets.saturating_sub(1),
            b';' | b'{' | b'}' => (parens, sets, bangs) = (0, 0, 0),
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => bangs = 0,
        }
        if parens + sets + bangs > MAX_NESTING {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The diagnostic for a pest error in `text` parsed from offset `from`.
fn syntax_error(file: FileId, text: &str, from: usize, e: &pest::error::Error<Rule>) -> Diagnostic {
    let mut pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    // With error detail on, pest also records the literal tokens tried at the farthest
    // position (`;`, `,`, `==`, ...), which named rules alone cannot show.
    let attempts = e.parse_attempts();
    let farther = attempts.as_ref().map_or(0, |a| a.max_position);
    // The rules pest names were tried where it failed; when the literal tokens lie farther
    // on (a path that ends without its `;`), those rules were alternatives at an earlier
    // place (a subject before `on`) and would only mislead.
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant
        && farther <= pos
    {
        expected.extend(positives.iter().filter_map(|r| describe(*r)).map(str::to_string));
    }
    if let Some(attempts) = attempts {
        pos = pos.max(farther);
        // Right after an id, the characters that would only lengthen it (`.`, `@`, ...)
        // are no useful suggestion.
        let before = text.get(..from + farther).unwrap_or("");
        let in_id = before.trim_end_matches(crate::path::is_id_char).ends_with(':')
            && before.ends_with(|c: char| c.is_ascii() && crate::path::is_ident_char(c as u8));
        for t in attempts.expected_tokens() {
            // Only literal tokens: ranges (`a..z`) and built-ins are covered by rule names.
            let token = t.to_string();
            let is_range = token.chars().count() == 4 && token.get(1..3) == Some("..");
            let skip = matches!(token.as_str(), "//" | "/*" | "*/" | "\n" | "BUILTIN_RULE")
                || (in_id && matches!(token.as_str(), "." | "@" | "+" | "-" | "_"));
            if !token.trim().is_empty() && !is_range && !skip {
                expected.push(format!("`{token}`"));
            }
        }
    }
    let mut pos = pos + from;
    // A keyword matched the start of a longer word (`resources`, `boolean`, `allowed`): pest
    // failed after the keyword, inside the word. The whole word is what was found, and the
    // keyword it starts with is likely what was meant.
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut keyword_prefix = None;
    if text.get(pos..).is_some_and(|r| r.starts_with(word_char)) {
        let before = text.get(..pos).unwrap_or("");
        let start = before.trim_end_matches(word_char).len();
        let prefix = before.get(start..).unwrap_or("");
        // `user_ann` for `user:ann`: the `:` expected there is the fix, said below.
        let subject_kind = matches!(prefix, "user" | "service" | "group") && expected.iter().any(|x| x == "`:`");
        if start < pos && token::KEYWORDS.contains(&prefix) && !subject_kind {
            keyword_prefix = Some(prefix);
            pos = start;
            expected.clear();
        }
    }
    // Characters that start a name, string or integer say less than the rule names do.
    expected.retain(|x| !matches!(x.as_str(), "`_`" | "`\"`" | "`-`"));
    // Where an id may start, the characters it may start with are "an id".
    if expected.iter().any(|x| x == "an id") {
        expected.retain(|x| !matches!(x.as_str(), "`+`" | "`.`" | "`@`"));
    }
    // A rule described by its keywords (`allow` or `deny`) is listed as those keywords, which
    // pest often also gives as tokens: each is then said once.
    expected = expected.iter().flat_map(|x| keywords_of(x).unwrap_or_else(|| vec![x.clone()])).collect();
    expected.sort();
    expected.dedup();
    // A keyword literal and its rule describe the same thing; "an item" adds nothing when
    // the item keywords are listed.
    if expected.iter().any(|x| x == "`role`") {
        expected.retain(|x| x != "an item");
    }
    // A comparison right after a whole comparison (`a == b == c`): comparisons do not chain.
    let after_condition = expected.iter().any(|x| x == "`&&`");
    let chained =
        ["==", "!="].into_iter().find(|op| after_condition && text.get(pos..).is_some_and(|rest| rest.starts_with(op)));
    let found = chained.unwrap_or_else(|| found_token(text, pos));
    // The end of the file is shown right after its last code: a last newline ends a line and
    // starts none, and the human header and JSON then name the same place.
    if found.is_empty() {
        pos = last_code_end(text);
    }
    // Quotes show as themselves; what would not (a control or invisible character) escaped.
    let shown = |t: &str| -> String {
        t.chars()
            .map(|c| if c.is_control() || shows_otherwise(c) { c.escape_debug().to_string() } else { c.to_string() })
            .collect()
    };
    let found_text = match found.char_indices().nth(40) {
        _ if found.is_empty() => "end of file".to_string(),
        // A long word (generated text) is named by its start: the label shows where it is.
        Some((cut, _)) => format!("`{}…`", shown(found.get(..cut).unwrap_or_default())),
        None => format!("`{}`", shown(found)),
    };
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let mut d = Diagnostic::error("E0101", message, Span::new(file, pos, pos + found.len()), "unexpected here");
    // What may help, most likely first: the first is given as help; each may add a label.
    let mut helps: Vec<String> = Vec::new();
    let expects = |x: &str| expected.iter().any(|e| e == x);
    // What follows the found token, blanks skipped.
    let after = text.get(pos + found.len()..).unwrap_or("").trim_start();
    if let Some(prefix) = keyword_prefix {
        helps.push(format!("did you mean `{prefix}`?"));
    } else if let Some(op) = chained {
        helps.push(format!("comparisons do not chain: join two with `&&` (`a {op} b && b {op} c`)"));
    } else if found == "=" {
        let next = text.get(pos + 1..).unwrap_or("");
        if next.starts_with('>') && expects("`>=`") {
            helps.push("did you mean `>=`?".to_string());
        } else if next.starts_with('<') && expects("`<=`") {
            helps.push("did you mean `<=`?".to_string());
        } else if expects("`==`") {
            helps.push("compare with `==`".to_string());
        } else if expects("`:`") {
            helps.push("write `:` here, not `=`".to_string());
        } else if (after.starts_with('{') && expects("`{`"))
            || (after.starts_with('"') && expects("a string"))
            || (after.starts_with(word_char) && expects("a name"))
        {
            helps.push("leave out the `=`".to_string());
        }
    } else if matches!(found, "and" | "&") && expects("`&&`") {
        helps.push("did you mean `&&`?".to_string());
    } else if matches!(found, "or" | "|") && expects("`||`") {
        helps.push("did you mean `||`?".to_string());
    } else if found == "not" && expects("`!`") {
        helps.push("did you mean `!`?".to_string());
    } else if found == "'" && !expects("a name") {
        helps.push("strings are written in double quotes: `\"...\"`".to_string());
    } else if matches!(found, "\"" | "'") && expects("a name") {
        helps.push("a name is written without quotes here".to_string());
    } else if expects("`:`")
        && let Some(kind) =
            ["user", "service", "group"].into_iter().find(|k| text.get(..pos).is_some_and(|t| t.ends_with(k)))
        && let Some(rest) = found.strip_prefix(['_', '-', '.']).filter(|r| !r.is_empty())
    {
        helps.push(format!("a subject is written with `:`: `{kind}:{rest}`"));
    } else if found == "*" && expects("an id") {
        helps.push(
            "an id is one name, not a pattern: for every one, leave out `on PATH` (everywhere) or name the scope above"
                .to_string(),
        );
    } else if found == "#" {
        helps.push("comments are written `// ...` or `/* ... */`".to_string());
    } else if found.chars().next().is_some_and(|c| c.is_alphabetic() && !c.is_ascii()) {
        let c = found.chars().next().unwrap_or_default();
        helps.push(format!(
            "`{c}` (U+{:04X}) is not an ASCII letter, though it may look like one: names are ASCII letters, digits and `_`",
            u32::from(c)
        ));
    } else if found.starts_with([' ', '\t']) && (expects("an id") || expects("`:`")) {
        helps.push("no blank inside a subject or path: `user:ann`, `workspace:prod`".to_string());
    }
    // A `;` left off at the end of a line shows as the next line's first token: say where
    // it goes.
    let at_end = found.is_empty();
    let code_end = if at_end { Some(pos).filter(|&e| e > 0) } else { code_end_on_lines_before(text, pos) };
    if expected.iter().any(|x| x == "`;`")
        && let Some(end) = code_end
    {
        let last = text.get(..end).and_then(|t| t.chars().next_back()).map_or(1, char::len_utf8);
        let line = text.get(..end).map_or(0, |t| t.matches('\n').count()) + 1;
        d = d.with_label(Span::new(file, end - last, end), "`;` expected after this");
        helps.push(format!("add `;` at the end of line {line}"));
    }
    // At the end of the file, or where the next item starts inside an item's braces, what
    // was left open (the likely cause) is shown where it opens.
    let starts_line = text.get(..pos).is_some_and(|t| t.rsplit('\n').next().is_some_and(|l| l.trim().is_empty()));
    let open = if found.is_empty() {
        left_open(text)
    } else if ITEM_KEYWORDS.contains(&found) && starts_line && expected.iter().any(|x| x == "`}`") {
        text.get(..pos).and_then(left_open).filter(|(_, what)| *what == Open::Brace)
    } else {
        None
    };
    if let Some((at, what)) = open {
        let (label, help) = match what {
            Open::String => ("this string is never closed", "close it with `\"`"),
            Open::Comment => ("this comment is never closed", "close it with `*/`"),
            Open::Brace => ("this `{` is not closed", "close it with `}`"),
        };
        if what == Open::Brace {
            d = d.with_label(Span::new(file, at, at + 1), label);
        } else {
            // The string or comment runs to the end: where it opens is the mistake.
            let end =
                std::mem::replace(&mut d.primary, Label { span: Span::new(file, at, at + 1), message: label.into() });
            d.message = if what == Open::String { "string never closed" } else { "block comment never closed" }.into();
            d = d.with_label(end.span, "the file ends inside it");
        }
        helps.push(help.to_string());
    }
    // A misspelt keyword, or one of another policy language: the expected keyword meant.
    if found.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let keywords: Vec<&str> = expected
            .iter()
            .filter_map(|x| {
                x.strip_prefix('`')?.strip_suffix('`').filter(|k| k.chars().all(|c| c.is_ascii_alphabetic()))
            })
            .collect();
        let meant = KEYWORDS_ELSEWHERE
            .iter()
            .find(|(other, ours)| *other == found && keywords.contains(ours))
            .map(|(_, ours)| format!("did you mean `{ours}`?"));
        helps.extend(meant.or_else(|| crate::diag::did_you_mean(found, keywords.iter().copied())));
    }
    // Common slips, by what was expected and found.
    let word = found.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    // The whole token around the found word as written (`ann@acme.com`, `user:bob`).
    let token_at = |at: usize| {
        let rest = text.get(at..).unwrap_or("");
        rest.get(..rest.find(|c: char| c.is_whitespace() || ",;{}()[]".contains(c)).unwrap_or(rest.len())).unwrap_or("")
    };
    if word && expects("a subject") {
        let id = token_at(pos);
        helps.push(if matches!(found, "all" | "anyone" | "everybody" | "public" | "any") {
            "every principal is `everyone`".to_string()
        } else {
            format!("a subject is `user:ID`, `service:ID`, `group:NAME` or `everyone`: `user:{id}` or `group:{id}`?")
        });
    } else if found == "}" && expects("`;`") {
        helps.push("add `;` before the `}`".to_string());
    } else if found == ";" && expects("`,`") && !expects("`;`") {
        helps.push("separate the items of this list with `,`".to_string());
    } else if found == "when" && expects("`on`") {
        helps.push("a rule names its types before its condition: `allow ACTIONS on TYPES when CONDITION;`".to_string());
    } else if word && expects("`,`") {
        // Another item of the list (a comma left out), or the keyword that ends the list left
        // out: the keyword is missing when it does not come later in the statement.
        // The rest of the statement, to its `;` (lists and their keyword may span lines).
        let statement = text.get(pos..).unwrap_or("");
        let statement = statement.get(..statement.find(';').unwrap_or(statement.len())).unwrap_or("");
        let before = text.get(..pos).unwrap_or("").trim_end();
        let prev = before.get(before.trim_end_matches(|c: char| !c.is_whitespace() && c != ',').len()..);
        // Two subjects side by side (`user:ann user:bob`) are a list missing its comma.
        let subject = |t: &str| ["user:", "service:", "group:"].iter().any(|k| t.starts_with(k));
        let subjects = prev.is_some_and(subject) && subject(token_at(pos));
        // A condition starts with an attribute: only then is `when` what is missing.
        let condition = ["principal", "resource", "context"].contains(&found) || token_at(pos).contains('.');
        let later = |k: &str| {
            if k == "{" { statement.contains('{') } else { statement.split(|c: char| !word_char(c)).any(|w| w == k) }
        };
        let missing = expected
            .iter()
            .filter_map(|x| x.strip_prefix('`')?.strip_suffix('`'))
            .filter(|k| *k == "{" || k.chars().all(|c| c.is_ascii_alphabetic()))
            .filter(|k| *k != "when" || condition)
            .find(|k| !subjects && !later(k));
        helps.push(match (missing, prev.filter(|p| !p.is_empty())) {
            (Some(k), _) if k.chars().all(|c| c.is_ascii_alphabetic()) => {
                format!("add `{k}` before `{}`", token_at(pos))
            }
            (Some("{"), _) => format!("add `{{` before `{found}`"),
            (_, Some(prev)) => format!("separate the items of a list with `,`: `{prev}, {}`", token_at(pos)),
            (_, None) => "separate the items of a list with `,`".to_string(),
        });
    } else if found == "group" && (expects("`user`") || expects("`user:`")) {
        helps.push(
            "a test's principal is a user or a service; give its groups as `user:ID groups [NAME, ...]`".to_string(),
        );
    } else if let Some(group) =
        text.get(..pos).filter(|_| word).map(|t| t.split_whitespace().rev().take(2).collect::<Vec<_>>()).and_then(
            |last| match last.as_slice() {
                [name, "groups"] if expects("`with`") && name.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    Some(*name)
                }
                _ => None,
            },
        )
    {
        helps.push(format!("a test's groups are a list in brackets: `groups [{group}]`"));
    } else if word && expects("`with`") && text.get(..pos).is_some_and(|t| t.trim_end().ends_with(" on")) {
        helps.push("an `expect` names the path right after the action, without `on`: `read doc:x`".to_string());
    } else if word && expects("`group`") && text.get(..pos).is_some_and(|t| t.trim_end().ends_with(" in")) {
        helps.push(format!("a group is written `group:{found}`: `principal in group:{found}`"));
    } else if word && expects("`role`") && matches!(found, "allow" | "deny" | "permit" | "forbid" | "grant") {
        helps.push("rules go inside a role: `role NAME { allow ACTIONS on TYPES; }`".to_string());
    }
    if let Some(help) = helps.into_iter().next() {
        d = d.with_help(help);
    }
    d
}

/// Where the last code of `text` ends: blanks and line comments after it left out (a block
/// comment on the way: its end, as the text goes).
fn last_code_end(text: &str) -> usize {
    let mut end = text.len();
    loop {
        let start = text.get(..end).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
        let line = text.get(start..end).unwrap_or("");
        if line.contains("/*") || line.contains("*/") {
            return start + line.trim_end().len();
        }
        let code = without_line_comment(line).trim_end();
        if !code.trim_start().is_empty() || start == 0 {
            return start + code.len();
        }
        end = start - 1;
    }
}

/// Where the code ends on the nearest line before `pos` that has any, when `pos` starts its
/// line (only blanks before it) and `pos` is not inside a block comment as far as the lines
/// between show. Line comments are left out; a `//` inside a string is code.
fn code_end_on_lines_before(text: &str, pos: usize) -> Option<usize> {
    let before = text.get(..pos)?;
    let line_start = before.rfind('\n')?;
    if !before.get(line_start..)?.trim().is_empty() {
        return None;
    }
    let mut rest = before.get(..line_start)?;
    loop {
        let start = rest.rfind('\n').map_or(0, |i| i + 1);
        let line = rest.get(start..)?;
        if line.contains("/*") || line.contains("*/") {
            return None;
        }
        let code = without_line_comment(line).trim_end();
        if !code.trim_start().is_empty() {
            return Some(start + code.len());
        }
        rest = rest.get(..start.checked_sub(1)?)?;
    }
}

/// A line without its `//` comment (a `//` inside a string, as in a URL, is kept).
fn without_line_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match (c, bytes.get(i + 1)) {
            (b'"', _) => i = closing_quote(bytes, i),
            (b'/', Some(b'/')) => return line.get(..i).unwrap_or(line),
            _ => {}
        }
        i += 1;
    }
    line
}

/// What [`left_open`] found open at the end of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    String,
    Comment,
    Brace,
}

/// What is left open at the end of `text`, and where it opens: a string or a block comment
/// that runs to the end, else the innermost `{` never closed (strings and comments skipped).
fn left_open(text: &str) -> Option<(usize, Open)> {
    let b = text.as_bytes();
    let mut braces = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, b.get(i + 1)) {
            (b'"', _) => {
                let close = closing_quote(b, i);
                if close >= b.len() {
                    return Some((i, Open::String));
                }
                i = close;
            }
            (b'/', Some(b'/')) => i = text.get(i..).and_then(|r| r.find('\n')).map_or(b.len(), |n| i + n),
            (b'/', Some(b'*')) => match text.get(i + 2..).and_then(|r| r.find("*/")) {
                Some(n) => i += n + 3,
                None => return Some((i, Open::Comment)),
            },
            (b'{', _) => braces.push(i),
            (b'}', _) => {
                braces.pop();
            }
            _ => {}
        }
        i += 1;
    }
    braces.last().map(|&at| (at, Open::Brace))
}

/// Words that other policy languages (Cedar, Casbin, OPA) or plain English use for one of
/// ours, too far from it by spelling for a "did you mean".
const KEYWORDS_ELSEWHERE: &[(&str, &str)] = &[
    ("permit", "allow"),
    ("grant", "allow"),
    ("forbid", "deny"),
    ("attrs", "attributes"),
    ("attr", "attributes"),
    ("action", "actions"),
    ("inherits", "extends"),
    ("extend", "extends"),
    ("if", "when"),
    ("where", "when"),
    ("str", "string"),
    ("text", "string"),
    ("number", "int"),
    ("integer", "int"),
    ("long", "int"),
    ("boolean", "bool"),
    ("list", "set"),
    ("array", "set"),
    ("vec", "set"),
];

/// The keywords of a description made of them alone ("`allow` or `deny`", "`principal`,
/// `resource` or `context`"), each in backticks; `None` for any other description.
fn keywords_of(description: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = description.split([',', ' ']).filter(|p| !p.is_empty() && *p != "or").collect();
    let all_keywords = parts.len() > 1
        && parts.iter().all(|p| p.len() > 2 && p.starts_with('`') && p.ends_with('`') && p.matches('`').count() == 2);
    all_keywords.then(|| parts.iter().map(|p| p.to_string()).collect())
}

/// The token at `pos`: a whole word when one starts there, else one character.
fn found_token(text: &str, pos: usize) -> &str {
    let rest = text.get(pos..).unwrap_or("");
    let word = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    if word > 0 {
        return rest.get(..word).unwrap_or("");
    }
    let one = rest.chars().next().map_or(0, char::len_utf8);
    rest.get(..one).unwrap_or("")
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A reader's name for a grammar rule in "expected ..." messages.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::ident | Rule::name | Rule::names | Rule::bare_type => "a name",
        Rule::string | Rule::str_inner => "a string",
        Rule::int => "an integer",
        Rule::id | Rule::id_chars => "an id",
        Rule::path | Rule::segment => "a resource path",
        Rule::subject | Rule::subj_principal | Rule::subj_group | Rule::subj_everyone => "a subject",
        Rule::principal | Rule::principal_kind => "`user:` or `service:`",
        Rule::expr | Rule::and_expr | Rule::cmp | Rule::operand | Rule::attr_ref | Rule::value => "an expression",
        Rule::cmp_op => "an operator",
        Rule::ty | Rule::ty_set | Rule::ty_string | Rule::ty_int | Rule::ty_bool => "a type",
        Rule::literal | Rule::list => "a value",
        Rule::effect => "`allow` or `deny`",
        Rule::entity => "`principal`, `resource` or `context`",
        Rule::attr => "an attribute",
        Rule::attributes => "`attributes`",
        Rule::rule => "a rule",
        Rule::expect => "`expect`",
        Rule::kv => "an attribute value",
        Rule::alias => "an identity alias",
        Rule::module_path => "a module path",
        Rule::use_decl
        | Rule::action_set
        | Rule::resource
        | Rule::attrs_block
        | Rule::group
        | Rule::identity
        | Rule::role
        | Rule::assign
        | Rule::exclusive
        | Rule::test => "an item",
        Rule::res_actions => "`actions`",
        Rule::kw_use => "`use`",
        Rule::kw_actions => "`actions`",
        Rule::kw_resource => "`resource`",
        Rule::kw_in => "`in`",
        Rule::kw_principal => "`principal`",
        Rule::kw_context => "`context`",
        Rule::kw_attributes => "`attributes`",
        Rule::kw_set => "`set`",
        Rule::kw_string => "`string`",
        Rule::kw_int => "`int`",
        Rule::kw_bool => "`bool`",
        Rule::kw_group => "`group`",
        Rule::kw_from => "`from`",
        Rule::kw_identity => "`identity`",
        Rule::kw_issuer => "`issuer`",
        Rule::kw_audience => "`audience`",
        Rule::kw_user => "`user`",
        Rule::kw_groups => "`groups`",
        Rule::kw_claim => "`claim`",
        Rule::kw_role => "`role`",
        Rule::kw_extends => "`extends`",
        Rule::kw_allow => "`allow`",
        Rule::kw_deny => "`deny`",
        Rule::kw_on => "`on`",
        Rule::kw_when => "`when`",
        Rule::kw_assign => "`assign`",
        Rule::kw_to => "`to`",
        Rule::kw_everyone => "`everyone`",
        Rule::kw_exclusive => "`exclusive`",
        Rule::kw_test => "`test`",
        Rule::kw_expect => "`expect`",
        Rule::kw_with => "`with`",
        Rule::kw_has => "`has`",
        Rule::kw_true | Rule::kw_false => "a value",
        _ => return None,
    })
}

struct Builder<'d> {
    file: FileId,
    /// Where the text pest parsed starts in the file.
    offset: usize,
    diags: &'d mut Diagnostics,
}

type P<'i> = Pair<'i, Rule>;

/// The inner pairs of a node without the keyword tokens, which carry no information.
fn inner(p: P<'_>) -> impl Iterator<Item = P<'_>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_use
            | Rule::kw_actions
            | Rule::kw_resource
            | Rule::kw_in
            | Rule::kw_attributes
            | Rule::kw_group
            | Rule::kw_from
            | Rule::kw_identity
            | Rule::kw_issuer
            | Rule::kw_audience
            | Rule::kw_user
            | Rule::kw_groups
            | Rule::kw_claim
            | Rule::kw_role
            | Rule::kw_extends
            | Rule::kw_on
            | Rule::kw_when
            | Rule::kw_assign
            | Rule::kw_to
            | Rule::kw_exclusive
            | Rule::kw_test
            | Rule::kw_expect
            | Rule::kw_with
            | Rule::kw_has
    )
}

impl Builder<'_> {
    fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, p: P<'_>) -> Ident {
        Ident { span: self.span(&p), name: p.as_str().into() }
    }

    fn names(&self, p: P<'_>) -> Vec<Name> {
        p.into_inner().map(|n| Name { span: self.span(&n), text: n.as_str().to_string() }).collect()
    }

    fn item(&mut self, p: P<'_>) -> Option<Item> {
        let span = self.span(&p);
        Some(match p.as_rule() {
            Rule::use_decl => {
                let t = inner(p).next()?;
                let target_span = self.span(&t);
                let target = if t.as_rule() == Rule::module_path {
                    UseTarget::Module(t.into_inner().map(|i| self.ident(i)).collect())
                } else {
                    UseTarget::File(self.string(t))
                };
                Item::Use(Use { target, target_span, span })
            }
            Rule::action_set => {
                let mut it = inner(p);
                let name = self.ident(it.next()?);
                let members = self.names(it.next()?);
                Item::ActionSet(ActionSet { name, members })
            }
            Rule::resource => {
                let mut it = inner(p).peekable();
                let name = self.ident(it.next()?);
                let parent = match it.peek() {
                    Some(n) if n.as_rule() == Rule::ident => it.next().map(|n| self.ident(n)),
                    _ => None,
                };
                let mut actions = Vec::new();
                let mut attrs = Vec::new();
                for m in it {
                    match m.as_rule() {
                        Rule::res_actions => {
                            if let Some(n) = inner(m).next() {
                                actions.extend(self.names(n));
                            }
                        }
                        Rule::attributes => attrs.extend(self.attributes(m)),
                        _ => {}
                    }
                }
                Item::Resource(Resource { name, parent, actions, attrs })
            }
            Rule::attrs_block => {
                let mut it = p.into_inner();
                let entity = match it.next()?.as_rule() {
                    Rule::kw_principal => Entity::Principal,
                    _ => Entity::Context,
                };
                let attrs = it.next().map(|a| self.attributes(a)).unwrap_or_default();
                Item::Attrs(AttrsBlock { entity, attrs })
            }
            Rule::group => {
                let mut it = inner(p);
                let name = self.ident(it.next()?);
                let aliases = it
                    .map(|a| {
                        let span = self.span(&a);
                        let mut ai = a.into_inner();
                        let identity = ai.next().map(|i| self.ident(i));
                        let value = ai.next().map(|s| self.string(s)).unwrap_or_default();
                        identity.map(|identity| Alias { identity, value, span })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Item::Group(Group { name, aliases })
            }
            Rule::identity => {
                let mut it = inner(p);
                let name = self.ident(it.next()?);
                let members = it
                    .map(|m| {
                        let span = self.span(&m);
                        let kind = match m.as_rule() {
                            Rule::id_issuer => IdMemberKind::Issuer,
                            Rule::id_audience => IdMemberKind::Audience,
                            Rule::id_user_claim => IdMemberKind::UserClaim,
                            _ => IdMemberKind::GroupsClaim,
                        };
                        let value = inner(m).next().map(|s| self.string(s)).unwrap_or_default();
                        IdMember { kind, value, span }
                    })
                    .collect();
                Item::Identity(Identity { name, members })
            }
            Rule::role => {
                let mut name = None;
                let mut parents = Vec::new();
                let mut rules = Vec::new();
                for c in inner(p) {
                    match c.as_rule() {
                        Rule::ident if name.is_none() => name = Some(self.ident(c)),
                        Rule::ident => parents.push(self.ident(c)),
                        Rule::rule => rules.push(self.rule(c)?),
                        _ => {}
                    }
                }
                Item::Role(Role { name: name?, parents, rules })
            }
            Rule::assign => {
                let mut roles = Vec::new();
                let mut subjects = Vec::new();
                let mut scope = None;
                for c in inner(p) {
                    match c.as_rule() {
                        Rule::ident => roles.push(self.ident(c)),
                        Rule::subject => subjects.push(self.subject(c)?),
                        Rule::path => scope = Some(self.path(c)),
                        _ => {}
                    }
                }
                Item::Assign(Assign { roles, subjects, scope, span })
            }
            Rule::exclusive => Item::Exclusive(Exclusive { roles: inner(p).map(|i| self.ident(i)).collect(), span }),
            Rule::test => {
                let mut it = inner(p);
                let name = self.string(it.next()?);
                let expects = it.map(|e| self.expect(e)).collect::<Option<Vec<_>>>()?;
                Item::Test(Test { name, expects, span })
            }
            _ => return None,
        })
    }

    fn attributes(&mut self, p: P<'_>) -> Vec<Attr> {
        inner(p)
            .filter_map(|a| {
                let span = self.span(&a);
                let mut it = a.into_inner();
                let name = self.ident(it.next()?);
                let ty = ty(it.next()?)?;
                Some(Attr { name, ty, span })
            })
            .collect()
    }

    fn rule(&mut self, p: P<'_>) -> Option<ast::Rule> {
        let span = self.span(&p);
        let mut it = inner(p);
        let effect = effect(it.next()?);
        let actions = self.names(it.next()?);
        let types = self.names(it.next()?);
        let cond = match it.next() {
            Some(e) => Some(self.expr(e)?),
            None => None,
        };
        Some(ast::Rule { effect, actions, types, cond, span })
    }

    fn subject(&mut self, p: P<'_>) -> Option<Subject> {
        let span = self.span(&p);
        let c = p.into_inner().next()?;
        let kind = match c.as_rule() {
            Rule::subj_principal => SubjectKind::Principal(self.principal_id(c).as_str().into()),
            Rule::subj_group => SubjectKind::Group(self.ident(c.into_inner().next()?)),
            _ => SubjectKind::Everyone,
        };
        Some(Subject { kind, span })
    }

    /// `user:ID` / `service:ID`, normalised so a quoted id reads the same as a bare one.
    fn principal_id(&mut self, p: P<'_>) -> String {
        let mut it = p.into_inner();
        let kind = it.next().map(|k| k.as_str().to_string()).unwrap_or_default();
        let id = it.next().map(|i| self.id(i)).unwrap_or_default();
        format!("{kind}:{id}")
    }

    fn id(&mut self, p: P<'_>) -> String {
        match p.into_inner().next() {
            Some(c) if c.as_rule() == Rule::string => self.string(c),
            Some(c) => c.as_str().to_string(),
            None => String::new(),
        }
    }

    fn path(&mut self, p: P<'_>) -> Path {
        let span = self.span(&p);
        let mut segments = Vec::new();
        let mut bare = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::segment => {
                    let sspan = self.span(&c);
                    let mut it = c.into_inner();
                    if let (Some(t), Some(i)) = (it.next(), it.next()) {
                        let ty = self.ident(t);
                        let id = self.id(i).as_str().into();
                        segments.push(Segment { ty, id, span: sspan });
                    }
                }
                Rule::bare_type => bare = Some(self.ident(c)),
                _ => {}
            }
        }
        Path { segments, bare, span }
    }

    fn expect(&mut self, p: P<'_>) -> Option<Expect> {
        let span = self.span(&p);
        let mut it = inner(p);
        let effect = effect(it.next()?);
        let principal = it.next()?;
        let principal_span = self.span(&principal);
        let mut pi = inner(principal);
        let principal_id = self.principal_id(pi.next()?);
        let groups = pi.map(|g| self.ident(g)).collect();
        let action = self.ident(it.next()?);
        let path = self.path(it.next()?);
        let with = it.map(|kv| self.kv(kv)).collect::<Option<Vec<_>>>()?;
        Some(Expect { effect, principal: principal_id, principal_span, groups, action, path, with, span })
    }

    fn kv(&mut self, p: P<'_>) -> Option<Kv> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let entity = entity(it.next()?);
        let attr = self.ident(it.next()?);
        let value = self.value(it.next()?)?;
        Some(Kv { entity, attr, value, span })
    }

    fn value(&mut self, p: P<'_>) -> Option<Value> {
        let span = self.span(&p);
        let c = p.into_inner().next()?;
        Some(match c.as_rule() {
            Rule::list => {
                let items = c
                    .into_inner()
                    .map(|l| {
                        let s = self.span(&l);
                        self.literal(l).map(|v| (v, s))
                    })
                    .collect::<Option<Vec<_>>>()?;
                Value::List(items, span)
            }
            _ => Value::Lit(self.literal(c)?, span),
        })
    }

    fn literal(&mut self, p: P<'_>) -> Option<Literal> {
        let c = p.into_inner().next()?;
        Some(match c.as_rule() {
            Rule::string => Literal::Str(self.string(c)),
            Rule::int => match c.as_str().parse::<i64>() {
                Ok(n) => Literal::Int(n),
                Err(_) => {
                    let span = self.span(&c);
                    self.diags.push(
                        Diagnostic::error("E0102", "integer literal out of range", span, "does not fit in 64 bits")
                            .with_help("integers are 64-bit signed: from -9223372036854775808 to 9223372036854775807"),
                    );
                    Literal::Int(0)
                }
            },
            Rule::kw_true => Literal::Bool(true),
            _ => Literal::Bool(false),
        })
    }

    /// The value of a string literal with its escapes resolved.
    fn string(&mut self, p: P<'_>) -> String {
        let span = self.span(&p);
        let raw = p.into_inner().next().map_or("", |i| i.as_str());
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    // One to six hex digits (the grammar takes any number, to say so here).
                    let digits = (1..=6).contains(&hex.len());
                    match u32::from_str_radix(&hex, 16).ok().filter(|_| digits).and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => self.diags.push(Diagnostic::error(
                            "E0103",
                            if digits {
                                format!("`\\u{{{hex}}}` is not a unicode scalar value")
                            } else {
                                format!("`\\u{{{hex}}}` needs one to six hex digits")
                            },
                            span,
                            "in this string",
                        )),
                    }
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    fn expr(&mut self, p: P<'_>) -> Option<Expr> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::expr | Rule::and_expr => {
                let is_or = p.as_rule() == Rule::expr;
                let mut parts = p.into_inner().map(|c| self.expr(c)).collect::<Option<Vec<_>>>()?;
                if parts.len() == 1 {
                    return parts.pop();
                }
                Some(Expr { kind: if is_or { ExprKind::Or(parts) } else { ExprKind::And(parts) }, span })
            }
            Rule::cmp => {
                let mut it = p.into_inner();
                let lhs = self.expr(it.next()?)?;
                match it.next() {
                    None => Some(lhs),
                    Some(k) if k.as_rule() == Rule::kw_has => {
                        let attr = self.ident(it.next()?);
                        Some(Expr { kind: ExprKind::Has(Box::new(lhs), attr), span })
                    }
                    Some(op) => {
                        let op = match op.as_str() {
                            "==" => CmpOp::Eq,
                            "!=" => CmpOp::Ne,
                            "<=" => CmpOp::Le,
                            ">=" => CmpOp::Ge,
                            "<" => CmpOp::Lt,
                            ">" => CmpOp::Gt,
                            _ => CmpOp::In,
                        };
                        let rhs = self.expr(it.next()?)?;
                        Some(Expr { kind: ExprKind::Cmp(op, Box::new(lhs), Box::new(rhs)), span })
                    }
                }
            }
            Rule::operand => {
                let c = p.into_inner().collect::<Vec<_>>();
                let mut it = c.into_iter();
                let first = it.next()?;
                match first.as_rule() {
                    Rule::not_op => {
                        let e = self.expr(it.next()?)?;
                        Some(Expr { kind: ExprKind::Not(Box::new(e)), span })
                    }
                    _ => self.expr(first),
                }
            }
            Rule::attr_ref => {
                let mut it = p.into_inner();
                let e = entity(it.next()?);
                let attr = it.next().map(|a| self.ident(a));
                Some(Expr { kind: ExprKind::Ref(e, attr), span })
            }
            Rule::value => Some(Expr { kind: ExprKind::Value(self.value(p)?), span }),
            Rule::group_ref => {
                // `group`, then the group's name (a condition's operand is tokens: `group : g`
                // reads as `group:g`).
                let g = self.ident(p.into_inner().last()?);
                Some(Expr { kind: ExprKind::Group(g), span })
            }
            _ => None,
        }
    }
}

fn effect(p: P<'_>) -> Effect {
    match p.into_inner().next().map(|k| k.as_rule()) {
        Some(Rule::kw_deny) => Effect::Deny,
        _ => Effect::Allow,
    }
}

fn entity(p: P<'_>) -> Entity {
    let r = if p.as_rule() == Rule::entity { p.into_inner().next().map(|k| k.as_rule()) } else { Some(p.as_rule()) };
    match r {
        Some(Rule::kw_principal) => Entity::Principal,
        Some(Rule::kw_resource) => Entity::Resource,
        _ => Entity::Context,
    }
}

fn ty(p: P<'_>) -> Option<TypeExpr> {
    let c = p.into_inner().next()?;
    Some(match c.as_rule() {
        Rule::ty_string => TypeExpr::String,
        Rule::ty_int => TypeExpr::Int,
        Rule::ty_bool => TypeExpr::Bool,
        _ => TypeExpr::Set(Box::new(ty(c.into_inner().find(|x| x.as_rule() == Rule::ty)?)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> File {
        let mut d = Diagnostics::default();
        let f = parse(0, src, &mut d);
        assert!(d.is_empty(), "{d:?}");
        f
    }

    #[test]
    fn characters_that_read_otherwise_than_they_show_are_refused_and_a_byte_order_mark_is_not_one() {
        // A lone CR would end the comment's line on screen; the parser would read on.
        assert_eq!(errors_of("resource w { actions read; }\n// note\rrole r { }\n"), [("E0105", 2, 8)]);
        assert_eq!(errors_of("role r { } // \u{202E} x\n"), [("E0105", 1, 15)]);
        assert_eq!(errors_of("role r { }\u{2028}role s { }\u{1b}[2J\n"), [("E0105", 1, 11), ("E0105", 1, 24)]);
        assert_eq!(errors_of("role r { }\u{0c}\n"), [("E0105", 1, 11)]);
        // CRLF line endings, tabs and escapes in strings are fine, and so is any other character.
        assert_eq!(parse_ok("role r { }\r\n\trole s { }\r\ntest \"\\u{202E} é 🦀\" { }\r\n").items.len(), 3);
        assert_eq!(parse_ok("\u{FEFF}resource w { actions read; }\nrole r { allow read on w; }\n").items.len(), 2);
        // A byte order mark anywhere else is an invisible character, as are zero-width spaces
        // and joiners: `user:"bob\u{200B}"` typed raw shows as `user:"bob"`, another user.
        assert_eq!(errors_of("role r { }\u{FEFF}\n"), [("E0105", 1, 11)]);
        assert_eq!(errors_of("assign r to user:\"bob\u{200B}\";\n"), [("E0105", 1, 22)]);
        assert_eq!(
            errors_of("assign r to user:\"a\u{AD}b\u{2060}\u{200D}\";\n"),
            [("E0105", 1, 20), ("E0105", 1, 23), ("E0105", 1, 26)]
        );
        assert_eq!(parse_ok("assign r to user:\"bob\\u{200B}\";\n").items.len(), 1);
        // In comments they change nothing, and emoji sequences and some scripts need them; a
        // comment's end, or a string's, is found past escapes and `//` inside strings.
        let comments =
            "// team \u{1F469}\u{200D}\u{1F4BB}; \u{645}\u{6CC}\u{200C}\u{62E}\n/* \u{200B}\n\u{180E} */ role r { }\n";
        assert_eq!(parse_ok(comments).items.len(), 1);
        assert_eq!(errors_of("test \"a\\\"// \u{200D}\" { }\n"), [("E0105", 1, 13)]);
        assert_eq!(errors_of("/* x */ test \"\u{200C}\" { }\n"), [("E0105", 1, 15)]);
        assert_eq!(errors_of("// x\ntest \"\u{200C}\" { } // \u{200C}\n"), [("E0105", 2, 7)]);
    }

    #[test]
    fn a_conditions_group_is_tokens_and_a_subjects_group_is_one() {
        let cond = |text: &str| {
            let f = parse_ok(&format!("role r {{ allow read on * when principal in {text}; }}"));
            let Some(Item::Role(r)) = f.items.first() else { panic!("no role") };
            match &r.rules[0].cond.as_ref().expect("a condition").kind {
                ExprKind::Cmp(_, _, g) => match &g.kind {
                    ExprKind::Group(name) => name.name.to_string(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(cond("group:g"), "g");
        assert_eq!(cond("group : g"), "g");
        assert_eq!(cond("group /* c */ :\n g"), "g");
        assert_eq!(errors_of("assign r to group : g;").first().map(|e| e.0), Some("E0101"));
    }

    #[test]
    fn keywords_are_not_reserved() {
        let f = parse_ok("resource use { actions group, test, on; } role test { allow group, on on use; }");
        assert_eq!(f.items.len(), 2);
    }

    #[test]
    fn paths_may_end_in_a_bare_type() {
        let f = parse_ok(r#"test "t" { expect allow user:a run workspace:"p r"/project; }"#);
        let Some(Item::Test(t)) = f.items.first() else { panic!("no test") };
        let e = &t.expects[0];
        assert_eq!(e.path.segments[0].id, "p r");
        assert_eq!(e.path.bare.as_ref().map(|b| b.name.as_str()), Some("project"));
    }

    #[test]
    fn not_binds_tightest() {
        let f = parse_ok("role r { allow a on t when !context.x == false; }");
        let Some(Item::Role(r)) = f.items.first() else { panic!("no role") };
        let Some(cond) = &r.rules[0].cond else { panic!("no cond") };
        assert!(matches!(&cond.kind, ExprKind::Cmp(CmpOp::Eq, l, _) if matches!(l.kind, ExprKind::Not(_))));
    }

    #[test]
    fn syntax_errors_are_diagnostics() {
        let mut d = Diagnostics::default();
        parse(0, "role r { allow read on }", &mut d);
        let diag = d.iter().next().map(|d| d.code);
        assert_eq!(diag, Some("E0101"));
    }

    /// The message of the first syntax error in `text`.
    fn syntax_message(text: &str) -> String {
        let mut d = Diagnostics::default();
        parse(0, text, &mut d);
        d.iter().next().map(|d| d.message.clone()).unwrap_or_default()
    }

    /// The first syntax error's message, help and the text its primary span covers.
    fn slip(text: &str) -> (String, String, String) {
        let mut d = Diagnostics::default();
        parse(0, text, &mut d);
        let first = d.iter().next();
        let span =
            first.map(|d| d.primary.span).map_or("", |s| text.get(s.start as usize..s.end as usize).unwrap_or(""));
        let (message, help) =
            first.map(|d| (d.message.clone(), d.help.clone().unwrap_or_default())).unwrap_or_default();
        (message, help, span.to_string())
    }

    /// Slips authors make, each with the help that fixes it (a review of 140 mistaken policies).
    #[test]
    fn common_slips_get_the_help_that_fixes_them() {
        const P: &str = "resource doc { actions read, write; }\nresource project { actions update; }\n";
        let help = |text: &str| slip(&format!("{P}{text}")).1;
        // A keyword that starts a longer word: the whole word is found, the keyword suggested.
        assert_eq!(
            slip("resources doc { actions read; }\n"),
            ("unexpected `resources`".into(), "did you mean `resource`?".into(), "resources".into())
        );
        assert_eq!(help("principal { attributes { public: boolean } }\n"), "did you mean `bool`?");
        assert_eq!(help("resource p inside doc;\n"), "did you mean `in`?");
        // `=` is `==` only in a condition.
        assert_eq!(help("role r { allow read on doc when context.l = 3; }\n"), "compare with `==`");
        assert_eq!(help("role r { allow read on doc when context.l => 3; }\n"), "did you mean `>=`?");
        assert_eq!(help("role r { allow read on doc when context.l =< 3; }\n"), "did you mean `<=`?");
        assert_eq!(help("principal { attributes { dept = string } }\n"), "write `:` here, not `=`");
        assert_eq!(help("resource w { actions = read; }\n"), "leave out the `=`");
        assert_eq!(help("role r = { }\n"), "leave out the `=`");
        // A keyword left out is not a comma left out.
        assert_eq!(help("role r { allow update project; }\n"), "add `on` before `project`");
        assert_eq!(help("role r { allow read on doc resource.x == 1; }\n"), "add `when` before `resource.x`");
        assert_eq!(help("role r { }\nassign r group:admins;\n"), "add `to` before `group:admins`");
        assert_eq!(help("role v { }\nrole e extends v\n  allow read on doc;\n}\n"), "add `{` before `allow`");
        assert_eq!(
            help("role r { allow read write on doc; }\n"),
            "separate the items of a list with `,`: `read, write`"
        );
        assert_eq!(
            help("role r { }\nassign r to user:ann user:bob;\n"),
            "separate the items of a list with `,`: `user:ann, user:bob`"
        );
        assert!(help("role r { allow read when context.x on doc; }\n").starts_with("a rule names its types before"));
        // A comma left out where the keyword does come later (on another line, or `{`), or
        // where what follows is no condition.
        let comma = "separate the items of a list with `,`";
        assert_eq!(help("role v { }\nrole e { }\nrole r extends v e { }\n"), format!("{comma}: `v, e`"));
        assert_eq!(help("role r { allow read write\n    on doc; }\n"), format!("{comma}: `read, write`"));
        assert_eq!(help("role v { }\nrole e { }\nassign v e\n  to user:a;\n"), format!("{comma}: `v, e`"));
        assert_eq!(help("role r { allow read on doc project; }\n"), format!("{comma}: `doc, project`"));
        assert_eq!(help("role r { }\nassign r to user:ann doc:x;\n"), "add `on` before `doc:x`");
        // A subject's `:` written otherwise; a name in quotes; `=>` where nothing compares.
        assert_eq!(help("role r { }\nassign r to user_ann;\n"), "a subject is written with `:`: `user:ann`");
        assert_eq!(help("role 'admin' { }\n"), "a name is written without quotes here");
        assert_eq!(help("role r { }\nassign r => user:a;\n"), "");
        // Other languages' operators, quotes and comments.
        assert_eq!(help("role r { allow read on doc when context.a and context.b; }\n"), "did you mean `&&`?");
        assert_eq!(help("role r { allow read on doc when context.a or context.b; }\n"), "did you mean `||`?");
        assert_eq!(help("role r { allow read on doc when not context.a; }\n"), "did you mean `!`?");
        let (message, help_text, _) = slip(&format!("{P}role r {{ allow read on doc when context.a == 'x'; }}\n"));
        assert!(message.ends_with("found `'`"), "{message}");
        assert_eq!(help_text, "strings are written in double quotes: `\"...\"`");
        assert_eq!(
            help("role r { allow read on doc when resource has \"owner\"; }\n"),
            "a name is written without quotes here"
        );
        assert_eq!(help("# a comment\n"), "comments are written `// ...` or `/* ... */`");
        assert_eq!(help("allow read on doc;\n"), "rules go inside a role: `role NAME { allow ACTIONS on TYPES; }`");
        assert!(help("role \u{430}dmin { }\n").starts_with("`\u{430}` (U+0430) is not an ASCII letter"));
        // Subjects.
        assert!(help("role r { }\nassign r to user: ann;\n").starts_with("no blank inside a subject"));
        assert!(
            help("role r { }\nassign r to ann@acme.com;\n").ends_with("`user:ann@acme.com` or `group:ann@acme.com`?")
        );
        assert_eq!(help("role r { }\nassign r to all;\n"), "every principal is `everyone`");
        let (message, help_text, _) = slip(&format!("{P}role r {{ }}\nassign r to everyone on project:*;\n"));
        assert_eq!(message, "expected an id, found `*`");
        assert!(help_text.starts_with("an id is one name, not a pattern"), "{help_text}");
        // Rule habits in tests.
        assert_eq!(
            help("test \"t\" { expect allow user:a read on doc:x; }\n"),
            "an `expect` names the path right after the action, without `on`: `read doc:x`"
        );
        assert!(help("test \"t\" { expect allow group:g read doc:x; }\n").starts_with("a test's principal is a user"));
        assert_eq!(
            help("test \"t\" { expect allow user:a groups admins read doc:x; }\n"),
            "a test's groups are a list in brackets: `groups [admins]`"
        );
        // An action named `groups` is no list left without brackets.
        assert!(!help("test \"t\" { expect allow user:a groups doc:x read; }\n").contains("brackets"));
        assert_eq!(
            help("group admins;\nrole r { allow read on doc when principal in admins; }\n"),
            "a group is written `group:admins`: `principal in group:admins`"
        );
        // A type of another language.
        assert_eq!(help("principal { attributes { n: number } }\n"), "did you mean `int`?");
        assert_eq!(help("principal { attributes { n: list<string> } }\n"), "did you mean `set`?");
        // A string or block comment left open: where it opens is the error.
        let (message, help_text, span) = slip(&format!("{P}role r {{ allow read on doc when context.s == \"abc; }}\n"));
        assert_eq!(
            (message.as_str(), help_text.as_str(), span.as_str()),
            ("string never closed", "close it with `\"`", "\"")
        );
        let (message, _, span) = slip("/* a comment\nrole r { }\n");
        assert_eq!((message.as_str(), span.as_str()), ("block comment never closed", "/"));
        // The `;` left off at the very end of a file without a last newline, or before a last
        // comment.
        assert_eq!(help("role r { }\nassign r to everyone"), "add `;` at the end of line 4");
        assert_eq!(help("role r { }\nassign r to everyone // all\n"), "add `;` at the end of line 4");
        assert_eq!(help("role r { }\nassign r to everyone\n// the end\n\n"), "add `;` at the end of line 4");
    }

    #[test]
    fn a_missing_semicolon_names_what_may_follow_there() {
        // Not the subject alternatives tried earlier in the item, nor characters that would
        // only lengthen the id.
        let m = syntax_message("group team;\nassign viewer to group:team on workspace:prod\n");
        assert_eq!(m, "expected `;`, found end of file");
        assert_eq!(syntax_message("assign viewer to user:a.b@c on w:x.y"), "expected `/` or `;`, found end of file");
        // After a name that is not an id, what may follow it is still listed.
        assert!(syntax_message("role r { allow read on t when resource }").contains("`.`"));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("role r {{ allow a on t when {}context.x{}; }}", "(".repeat(100_000), ")".repeat(100_000));
        let mut d = Diagnostics::default();
        parse(0, &deep, &mut d);
        assert_eq!(d.iter().next().map(|d| d.code), Some("E0104"));
        let bangs = format!("role r {{ allow a on t when {}context.x; }}", "! ".repeat(100_000));
        let mut d = Diagnostics::default();
        parse(0, &bangs, &mut d);
        assert_eq!(d.iter().next().map(|d| d.code), Some("E0104"));
        let ok = format!("role r {{ allow a on t when {}context.x{} != !context.y; }}", "(".repeat(50), ")".repeat(50));
        let mut d = Diagnostics::default();
        parse(0, &ok, &mut d);
        assert!(d.is_empty());
    }

    /// The whole-file parse that reading item by item (and the fast `assign` reader) must
    /// agree with, item for item and diagnostic for diagnostic.
    fn parse_whole(file: FileId, text: &str, diags: &mut Diagnostics) -> File {
        // Characters that read otherwise than they show are refused before any parse.
        let hidden = misleading_characters(file, text);
        if !hidden.is_empty() {
            for d in hidden {
                diags.push(d);
            }
            return File::default();
        }
        match RbacParser::parse(Rule::policy, text) {
            Ok(mut pairs) => {
                let mut b = Builder { file, offset: 0, diags };
                let items = pairs
                    .next()
                    .into_iter()
                    .flat_map(|p| p.into_inner())
                    .filter(|p| p.as_rule() != Rule::EOI)
                    .filter_map(|p| b.item(p))
                    .collect();
                File { items }
            }
            Err(e) => {
                diags.push(syntax_error(file, text, 0, &e));
                File::default()
            }
        }
    }

    fn same_as_whole_file(text: &str) {
        let (mut d1, mut d2) = (Diagnostics::default(), Diagnostics::default());
        let by_item = parse(3, text, &mut d1);
        pest::set_error_detail(true);
        let whole = parse_whole(3, text, &mut d2);
        assert_eq!(format!("{by_item:?}"), format!("{whole:?}"), "items differ for {text:?}");
        // The first syntax error is the whole-file parse's; recovery may find more after it.
        let first = d1.iter().next().map(|d| format!("{d:?}"));
        assert_eq!(first, d2.iter().next().map(|d| format!("{d:?}")), "first diagnostic differs for {text:?}");
        if d2.iter().all(|d| d.code != "E0101") {
            assert_eq!(format!("{d1:?}"), format!("{d2:?}"), "diagnostics differ for {text:?}");
        }
        // Every error found after recovery lies after the one before it.
        let starts: Vec<u32> = d1.iter().map(|d| d.primary.span.start).collect();
        assert!(starts.is_sorted(), "errors out of order for {text:?}: {starts:?}");
    }

    /// Codes and (line, column) of the diagnostics of `text`.
    fn errors_of(text: &str) -> Vec<(&'static str, usize, usize)> {
        let mut d = Diagnostics::default();
        let f = parse(0, text, &mut d);
        assert!(d.is_empty() || f.items.is_empty(), "a file with syntax errors contributes no items");
        d.iter()
            .map(|d| {
                let at = d.primary.span.start as usize;
                let line = text[..at].matches('\n').count() + 1;
                let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
                (d.code, line, col)
            })
            .collect()
    }

    #[test]
    fn what_is_left_open_at_the_end_is_found_where_it_opens() {
        assert_eq!(left_open("role r { allow read on doc;\n"), Some((7, Open::Brace)));
        assert_eq!(left_open("a { b { } \"}\" // }\n /* } */"), Some((2, Open::Brace)));
        assert_eq!(left_open("identity i { issuer \"https://x; }\n"), Some((20, Open::String)));
        assert_eq!(left_open("x \"a\\\"b\" /* { "), Some((9, Open::Comment)));
        assert_eq!(left_open("a { \"\\\\\" } // {"), None);
    }

    #[test]
    fn a_description_made_of_keywords_is_listed_as_them() {
        assert_eq!(keywords_of("`allow` or `deny`"), Some(vec!["`allow`".to_string(), "`deny`".to_string()]));
        assert_eq!(keywords_of("`principal`, `resource` or `context`").map(|k| k.len()), Some(3));
        assert_eq!(keywords_of("`user:` or `service:`").map(|k| k.len()), Some(2));
        assert_eq!(keywords_of("`actions`"), None);
        assert_eq!(keywords_of("a subject"), None);
        assert_eq!(keywords_of("`a` or a name"), None);
    }

    #[test]
    fn a_semicolon_left_off_is_placed_at_the_end_of_its_line() {
        // (the label's text, help) of each diagnostic's `;` suggestion.
        let hints = |text: &str| -> Vec<Option<(String, String)>> {
            let mut d = Diagnostics::default();
            parse(0, text, &mut d);
            d.iter()
                .map(|d| {
                    let label = d.secondary.first()?;
                    let at = text.get(label.span.start as usize..label.span.end as usize)?;
                    Some((at.to_string(), d.help.clone()?))
                })
                .collect()
        };
        let some = |at: &str, line: usize| Some((at.to_string(), format!("add `;` at the end of line {line}")));
        assert_eq!(hints("group g\nrole r { }\n"), [some("g", 1)]);
        // Past blank lines and line comments, with CRLF endings; a `//` in a string is code.
        assert_eq!(
            hints(
                "identity i {\r\n  issuer \"https://x.example/\" // hm\r\n\r\n  // more\r\n  audience \"a\";\r\n}\r\n"
            ),
            [some("\"", 2)]
        );
        // The unexpected token not first on its line, or a block comment between: no guess.
        assert_eq!(hints("role r { allow read on doc }\n"), [None]);
        assert_eq!(hints("group g\n/* a\n b */ role r { }\n"), [None]);
        assert_eq!(hints("group g\n/* a */\nrole r { }\n"), [None]);
    }

    #[test]
    fn after_a_syntax_error_parsing_resumes_at_the_next_item_line() {
        // Three broken items between good ones: each reports its own error.
        let text = "resource org { actions read; }\n\
                    role a { allow read on org }\n\
                    group g;\n\
                    role b { allow read on org when resource.x = 1; }\n\
                    assign a to user:x on org:o\n\
                    role c { allow read on org; }\n";
        assert_eq!(errors_of(text), [("E0101", 2, 28), ("E0101", 4, 44), ("E0101", 6, 1)]);

        // Keywords inside strings and comments, or not first on their line, are not item starts.
        let text = "role a { allow read on org; x \"q\n\
                    role d { broken\" }\n\
                    /* role b { broken\n\
                    role c { broken */\n\
                    group g;\n\
                    // role e {\n\
                    x role f {\n\
                    context.x == 1\n\
                    role g { allow read on org; }\n\
                    role h { allow }\n";
        assert_eq!(errors_of(text), [("E0101", 1, 29), ("E0101", 7, 1), ("E0101", 10, 16)]);

        // A file stops at 20 errors; an error with no item line after it ends the file.
        let many = "role r {\n".repeat(30);
        assert_eq!(errors_of(&many).len(), MAX_SYNTAX_ERRORS);
        // The end of the file is shown right after its last code.
        assert_eq!(errors_of("role r {\n  allow read on t\n"), [("E0101", 2, 18)]);

        // An indented keyword inside a bracket opened at the error is a member, not an item:
        // no second error for `actions read, update;` read as an action set.
        let text = "resource w;\nresource p in w (\n    actions read, update;\n)\nrole s { allow x on }\n";
        assert_eq!(errors_of(text), [("E0101", 2, 17), ("E0101", 5, 21)]);
        let cedar = "permit (\n  principal in Group::\"a\",\n  action,\n  resource\n);\nrole s { allow x on }\n";
        assert_eq!(errors_of(cedar), [("E0101", 1, 1), ("E0101", 6, 21)]);
    }

    #[test]
    fn reading_item_by_item_matches_the_whole_file_parse() {
        let base = concat!(
            "// header\nuse std::crud;\nresource org { actions crud; }\n",
            "resource ws in org { actions crud, share; attributes { owner: string } }\n",
            "group g; /* block */ group h from okta \"H \\u{48}\";\n",
            "role r extends viewer { allow read on ws when resource.owner == principal.id && 1 < 2; }\n",
            "assign r, s to user:u-1.x@y+z, group:g, everyone on org:o1/ws:w_2;\n",
            "assign r to service:\"a b\" on org:\"o 1\"/ws;\n",
            "assign r to user:u // trailing\n on org:o;\n",
            "assign r\tto user:u, user:v\r\n;assign on to to to user:w on on:on;\n",
            "test \"t\" { expect allow user:a read org:o/ws:w with { resource.owner: \"a\" }; }\n",
        );
        same_as_whole_file(base);
        // Every prefix, and at every offset one of these inserted and put in place of a byte.
        let inserts = [";", " ", "/", "\"", ":", ",", "x", "}", "/*", "{"];
        for (i, insert) in (0..base.len()).zip(inserts.iter().cycle()) {
            let (head, tail) = base.split_at(i);
            same_as_whole_file(head);
            same_as_whole_file(&format!("{head}{insert}{tail}"));
            same_as_whole_file(&format!("{head}{insert}{}", tail.get(1..).unwrap_or("")));
        }
    }

    #[test]
    fn string_escapes() {
        let f = parse_ok(r#"test "a\"b\\c\n\u{48}" {}"#);
        let Some(Item::Test(t)) = f.items.first() else { panic!("no test") };
        assert_eq!(t.name, "a\"b\\c\nH");
    }
}
