//! Reading a log line by line in bounded memory: a line longer than any entry can be
//! ([`MAX_LINE_BYTES`]) is read past and measured, never held, so a damaged or hostile log (a
//! gigabyte without a newline) costs no more memory than a real one.

use std::io::{self, BufRead, Read};

/// The longest line read as an entry, in bytes (newline excluded): 64 MiB. Entries are small
/// (a few KB); the largest `rbac eval` can write comes from a request at its 1 MiB cap made of
/// small attributes that are all masked (each value becomes a 73-byte hash), some 10 MiB.
/// [`super::AuditLog`] refuses to write a longer entry; a longer line is no entry, and
/// `verify` reports it with its length.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// How much of an over-long line is read at a time while it is skipped.
const SKIP_CHUNK: u64 = 64 * 1024;

/// One line of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line of at most the reader's limit, without its newline.
    Text(&'a [u8]),
    /// A longer line: its length in bytes (newline excluded). Its bytes were read past, not
    /// kept.
    Oversize(u64),
}

/// Reads lines from a [`BufRead`], holding at most one line of at most the limit
/// ([`MAX_LINE_BYTES`] unless [`LineReader::with_limit`] says otherwise).
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    limit: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Lines of `reader`, at most [`MAX_LINE_BYTES`] each.
    pub fn new(reader: R) -> LineReader<R> {
        LineReader::with_limit(reader, MAX_LINE_BYTES)
    }

    /// Lines of `reader`, at most `limit` bytes each.
    pub fn with_limit(reader: R, limit: usize) -> LineReader<R> {
        LineReader { reader, buf: Vec::new(), limit }
    }

    /// The next line and whether a newline ended it (a last line without one is torn);
    /// `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(Line<'_>, bool)>> {
        self.buf.clear();
        let limit = u64::try_from(self.limit).unwrap_or(u64::MAX);
        // At most limit + 1 bytes: a line of `limit` bytes and its newline.
        let n = (&mut self.reader).take(limit.saturating_add(1)).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            return Ok(Some((Line::Text(&self.buf), true)));
        }
        if self.buf.len() <= self.limit {
            // No newline within the limit: the reader ended.
            return Ok(Some((Line::Text(&self.buf), false)));
        }
        // Over the limit: measure the rest of the line, a chunk at a time.
        let mut len = n as u64;
        // Let go of the long buffer; the next lines are short again.
        self.buf = Vec::new();
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            let m = (&mut self.reader).take(SKIP_CHUNK).read_until(b'\n', &mut chunk)?;
            if m == 0 {
                return Ok(Some((Line::Oversize(len), false)));
            }
            if chunk.last() == Some(&b'\n') {
                return Ok(Some((Line::Oversize(len + m as u64 - 1), true)));
            }
            len += m as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limit: usize) -> Vec<(Result<Vec<u8>, u64>, bool)> {
        let mut lines = LineReader::with_limit(input, limit);
        let mut out = Vec::new();
        while let Ok(Some((line, complete))) = lines.next_line() {
            out.push((
                match line {
                    Line::Text(t) => Ok(t.to_vec()),
                    Line::Oversize(n) => Err(n),
                },
                complete,
            ));
        }
        out
    }

    #[test]
    fn lines_up_to_the_limit_are_read_longer_ones_measured() {
        let t = |s: &str| Ok(s.as_bytes().to_vec());
        assert_eq!(all(b"", 4), vec![]);
        assert_eq!(
            all(b"ab\n\nabcd\nabcde\nx", 4),
            vec![(t("ab"), true), (t(""), true), (t("abcd"), true), (Err(5), true), (t("x"), false)]
        );
        assert_eq!(all(b"abcd", 4), vec![(t("abcd"), false)]);
        assert_eq!(all(b"abcde", 4), vec![(Err(5), false)]);
        let long = vec![b'y'; 300_000];
        let mut input = long.clone();
        input.push(b'\n');
        input.extend_from_slice(&long);
        assert_eq!(all(&input, 10), vec![(Err(300_000), true), (Err(300_000), false)]);
        assert_eq!(all(&input, 300_000), vec![(Ok(long.clone()), true), (Ok(long), false)]);
    }
}
