//! Resource paths as requests carry them (`workspace:prod/project:"a b"/pipeline`): the
//! same syntax as in policies, read by a small hand-written scanner because it is on every
//! decision's hot path, and written back with ids quoted where they need it.

use std::borrow::Cow;

/// A path split into whole `type:id` segments and an optional trailing bare type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParts<'a> {
    /// Inline up to eight segments: request paths are parsed on every decision.
    pub segments: smallvec::SmallVec<[(&'a str, Cow<'a, str>); 8]>,
    pub bare: Option<&'a str>,
}

pub(crate) fn is_ident_start(c: u8) -> bool {
    class(c) & IDENT_START != 0
}

pub(crate) fn is_ident_char(c: u8) -> bool {
    class(c) & IDENT != 0
}

/// Whether `c` may stand in an unquoted id.
pub fn is_id_char(c: char) -> bool {
    c.is_ascii() && is_id_byte(c as u8)
}

/// Whether the byte `c` may stand in an unquoted id (every such character is ASCII).
pub(crate) fn is_id_byte(c: u8) -> bool {
    class(c) & ID != 0
}

/// Byte classes of path text, one table read per byte on the decision hot path; the
/// `is_*` functions above read it too.
pub(crate) const IDENT_START: u8 = 1;
pub(crate) const IDENT: u8 = 2;
pub(crate) const ID: u8 = 4;

static CLASS: [u8; 256] = classes();

#[allow(clippy::indexing_slicing)] // const evaluation: `i < 256` by the loop bound.
const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let alnum = c.is_ascii_alphanumeric() || c == b'_';
        let id = alnum || matches!(c, b'.' | b'@' | b'+' | b'-');
        t[i] = (if alpha { IDENT_START } else { 0 }) | (if alnum { IDENT } else { 0 }) | (if id { ID } else { 0 });
        i += 1;
    }
    t
}

/// The classes (`IDENT_START`, `IDENT`, `ID`) a byte belongs to.
pub(crate) fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(0)
}

/// The offset of the first byte at or after `from` that is not of class `c` (the length when
/// all are).
pub(crate) fn skip(bytes: &[u8], from: usize, c: u8) -> usize {
    bytes.get(from..).map_or(from, |rest| from + rest.iter().position(|&b| class(b) & c == 0).unwrap_or(rest.len()))
}

/// Parses a path; the error says what is wrong and where.
pub fn parse(s: &str) -> Result<PathParts<'_>, String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut segments = smallvec::SmallVec::new();
    let mut bare = None;
    if s.is_empty() {
        return Err("the path is empty".into());
    }
    loop {
        let start = i;
        if !bytes.get(i).copied().is_some_and(is_ident_start) {
            return Err(format!("expected a type name at offset {i}"));
        }
        while bytes.get(i).copied().is_some_and(is_ident_char) {
            i += 1;
        }
        let ty = s.get(start..i).unwrap_or("");
        match bytes.get(i) {
            None => {
                bare = Some(ty);
                break;
            }
            Some(b'/') => return Err(format!("segment `{ty}` has no id (only the last segment may be a bare type)")),
            Some(b':') => {}
            Some(_) => return Err(format!("unexpected character at offset {i} after type `{ty}`")),
        }
        i += 1;
        let id: Cow<'_, str> = if bytes.get(i) == Some(&b'"') {
            let (value, next) = read_string(s, i)?;
            i = next;
            Cow::Owned(value)
        } else {
            let id_start = i;
            while bytes.get(i).copied().is_some_and(is_id_byte) {
                i += 1;
            }
            if i == id_start {
                // `workspace:é`, `workspace: x`: an id is there, in characters that need quotes.
                return Err(match bytes.get(i) {
                    None | Some(b'/') => format!("segment `{ty}:` has an empty id"),
                    Some(_) => format!(
                        "unexpected character at offset {i} in the id of `{ty}:`; ids with other characters must be quoted"
                    ),
                });
            }
            Cow::Borrowed(s.get(id_start..i).unwrap_or(""))
        };
        segments.push((ty, id));
        match bytes.get(i) {
            None => break,
            Some(b'/') => i += 1,
            Some(_) => {
                return Err(format!("unexpected character at offset {i}; ids with other characters must be quoted"));
            }
        }
    }
    Ok(PathParts { segments, bare })
}

/// Reads a quoted string starting at `s[start] == '"'`; returns its value and the offset after it.
fn read_string(s: &str, start: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.get(start + 1..).unwrap_or("").char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('u') => {
                    // `\u{HEX}` with 1 to 6 hex digits, as in policy strings.
                    if chars.next().map(|(_, c)| c) != Some('{') {
                        return Err("bad `\\u` escape in a quoted id".into());
                    }
                    let mut hex = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('}') => break,
                            Some(c) if c.is_ascii_hexdigit() && hex.len() < 6 => hex.push(c),
                            _ => return Err("bad `\\u{HEX}` escape in a quoted id (1 to 6 hex digits)".into()),
                        }
                    }
                    let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    out.push(ch.ok_or_else(|| format!("`\\u{{{hex}}}` is not a unicode scalar value"))?);
                }
                _ => return Err("bad escape in a quoted id".into()),
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted id".into())
}

/// Writes an id as a path needs it: bare when it is made of id characters, quoted otherwise.
pub fn quote_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty() && id.chars().all(is_id_char) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 2);
    out.push('"');
    for c in id.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// Writes a path from its segments and optional bare tail.
pub fn render<'a>(segments: impl IntoIterator<Item = (&'a str, &'a str)>, bare: Option<&str>) -> String {
    let mut parts: Vec<String> = segments.into_iter().map(|(t, id)| format!("{t}:{}", quote_id(id))).collect();
    if let Some(b) = bare {
        parts.push(b.to_string());
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_segments_quotes_and_bare_tails() {
        let p = parse(r#"workspace:prod/project:"a/b"/pipeline"#).map_err(|e| e.to_string());
        let p = p.as_ref().map(|p| (p.segments.len(), p.segments[1].1.as_ref(), p.bare));
        assert_eq!(p, Ok((2, "a/b", Some("pipeline"))));
        assert!(parse("workspace").is_ok_and(|p| p.bare == Some("workspace")));
        assert!(parse("workspace/project:x").is_err());
        assert!(parse("workspace:").is_err());
        assert!(parse("workspace:a b").is_err());
        // An id in characters that need quotes is not an empty id.
        let quote = |p: &str| parse(p).err().map(|e| e.to_string());
        assert!(quote("workspace:é").is_some_and(|e| e.contains("must be quoted")), "{:?}", quote("workspace:é"));
        assert!(quote("workspace: x").is_some_and(|e| e.contains("must be quoted")));
        assert!(quote("workspace:/project:x").is_some_and(|e| e.contains("empty id")));
        assert!(quote("workspace:").is_some_and(|e| e.contains("empty id")));
        assert!(parse("").is_err());
    }

    #[test]
    fn render_round_trips() {
        let s = render([("workspace", "prod"), ("project", "a b\"")], Some("pipeline"));
        assert_eq!(s, r#"workspace:prod/project:"a b\""/pipeline"#);
        let p = parse(&s).map(|p| p.segments[1].1.to_string());
        assert_eq!(p, Ok("a b\"".to_string()));
    }
}
