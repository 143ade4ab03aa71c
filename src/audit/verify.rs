//! Verifying a log: every line must be an entry whose hash matches its content, whose `seq`
//! follows the previous entry's and whose `prev` is the previous entry's hash; the last line
//! must end in a newline; and an anchor (a hash kept elsewhere) must still be in the log.
//! Each problem names its line. Fed line by line, so a log of any size is read once.

use super::entry::{GENESIS, Head, parse_entry};
use serde::{Deserialize, Serialize};

/// What kind of damage a line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The last line has no newline: a write was interrupted (or the line was cut).
    Torn,
    /// Not an entry at all.
    Malformed,
    /// The content does not match the entry's hash: the entry was edited.
    Altered,
    /// Entries are missing before this line: deleted.
    Missing,
    /// The entry comes after one with a higher or equal `seq`: inserted, duplicated or moved.
    OutOfOrder,
    /// `seq` follows, but `prev` is not the previous entry's hash: the previous entry was
    /// rewritten (hash and all), or this one was replaced.
    BrokenLink,
    /// The anchor is not in the log: entries were removed from its end, or it was replaced.
    Truncated,
}

/// One problem, on one line (1-based; for `truncated`, the line after the last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The line's number (1-based).
    pub line: u64,
    /// What kind of damage it is.
    pub kind: ProblemKind,
    /// The problem in words, naming the line (`line 3 is not a log entry: ...`).
    pub message: String,
}

/// The result of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// How many lines the log has (a torn last line included).
    pub lines: u64,
    /// How many lines read as entries (altered ones included).
    pub entries: u64,
    /// The chain's head: entries and last hash, when the log has entries.
    pub head: Option<Head>,
    /// The line the anchor was found on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_line: Option<u64>,
    /// Every problem found; empty when the log is intact.
    pub problems: Vec<Problem>,
}

impl Report {
    /// No problem at all (and the anchor, when given, found).
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The last entry in order: its line, seq and (stated) hash.
#[derive(Debug, Clone)]
struct Last {
    line: u64,
    seq: u64,
    hash: String,
    prev: String,
}

/// Checks a log fed line by line.
#[derive(Debug)]
pub struct Verifier {
    anchor: Option<String>,
    anchor_line: Option<u64>,
    lines: u64,
    entries: u64,
    last: Option<Last>,
    problems: Vec<Problem>,
    /// Seqs reported missing: (first, last, problem index).
    gaps: Vec<(u64, u64, usize)>,
}

impl Verifier {
    /// A verifier; `anchor` is a hash that must be in the log.
    pub fn new(anchor: Option<&str>) -> Verifier {
        Verifier {
            anchor: anchor.map(|a| a.trim().to_ascii_lowercase()),
            anchor_line: None,
            lines: 0,
            entries: 0,
            last: None,
            problems: Vec::new(),
            gaps: Vec::new(),
        }
    }

    fn problem(&mut self, kind: ProblemKind, message: String) {
        self.problems.push(Problem { line: self.lines, kind, message });
    }

    /// Every line `reader` gives, to its end.
    pub fn read(&mut self, mut reader: impl std::io::BufRead) -> std::io::Result<()> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                return Ok(());
            }
            let complete = buf.last() == Some(&b'\n');
            self.line(buf.strip_suffix(b"\n").unwrap_or(&buf), complete);
        }
    }

    /// The next line, without its newline; `complete` when a newline ended it.
    pub fn line(&mut self, bytes: &[u8], complete: bool) {
        self.lines += 1;
        let n = self.lines;
        if !complete {
            let message =
                format!("line {n} is torn: {} bytes without a final newline (an interrupted write)", bytes.len());
            self.problem(ProblemKind::Torn, message);
            // An interrupted write leaves a prefix of a true entry. A whole entry whose hash
            // does not match is no such thing: it was altered (and its newline removed, perhaps
            // so that recovery would cut it as a crash's leftovers).
            if let Ok(entry) = parse_entry(bytes)
                && (entry.actual != entry.hash || !entry.as_written)
            {
                let message = format!("line {n} (seq {}) was altered: its content does not match its hash", entry.seq);
                self.problem(ProblemKind::Altered, message);
            }
            return;
        }
        let entry = match parse_entry(bytes) {
            Ok(e) => e,
            Err(why) => {
                let why = if bytes.iter().all(u8::is_ascii_whitespace) { "an empty line".to_string() } else { why };
                self.problem(ProblemKind::Malformed, format!("line {n} is not a log entry: {why}"));
                return;
            }
        };
        self.entries += 1;
        if entry.actual != entry.hash {
            let message = format!("line {n} (seq {}) was altered: its content does not match its hash", entry.seq);
            self.problem(ProblemKind::Altered, message);
        } else if !entry.as_written {
            let message = format!(
                "line {n} (seq {}) was altered: its text is not as the log writes it (a key given twice, keys \
                 moved or spacing changed: what a reader shows may not be what was hashed)",
                entry.seq
            );
            self.problem(ProblemKind::Altered, message);
        }
        if self.anchor.as_deref() == Some(entry.hash.as_str()) {
            self.anchor_line = Some(n);
        }
        let (expected_seq, expected_prev) =
            self.last.as_ref().map_or((0, GENESIS.to_string()), |l| (l.seq + 1, l.hash.clone()));
        let here = Last { line: n, seq: entry.seq, hash: entry.hash, prev: entry.prev };
        if here.seq == expected_seq {
            if here.prev != expected_prev {
                let message = match &self.last {
                    None => format!("line {n} does not start a chain: its `prev` is not the genesis hash"),
                    Some(l) => format!(
                        "line {n} (seq {}) does not chain to line {}: its `prev` is not that entry's hash (line {} \
                         was rewritten, or this entry replaced)",
                        here.seq, l.line, l.line
                    ),
                };
                self.problem(ProblemKind::BrokenLink, message);
            }
            self.last = Some(here);
        } else if here.seq > expected_seq {
            let missing = if here.seq == expected_seq + 1 {
                format!("entry seq {expected_seq} is missing")
            } else {
                format!("entries seq {expected_seq} to {} are missing", here.seq - 1)
            };
            let message = match &self.last {
                None => format!("line {n}: {missing} before it (deleted from the head of the log)"),
                Some(_) => format!("line {n} (seq {}): {missing} before it (deleted)", here.seq),
            };
            self.gaps.push((expected_seq, here.seq - 1, self.problems.len()));
            self.problem(ProblemKind::Missing, message);
            self.last = Some(here);
        } else {
            // An entry from the past: it does not move the chain on, so the entries after it
            // are checked against the last one in order.
            let Some(l) = self.last.clone() else { return };
            let message = if here.seq == l.seq && here.prev == l.prev {
                format!(
                    "line {n} (seq {}) forks the chain: line {} has the same seq and `prev` (one of them was \
                     inserted or duplicated)",
                    here.seq, l.line
                )
            } else if let Some(&(_, _, gap)) = self.gaps.iter().find(|(a, b, _)| (*a..=*b).contains(&here.seq)) {
                if let Some(p) = self.problems.get_mut(gap) {
                    p.message = format!("{}; seq {} turns up later, at line {n} (reordered)", p.message, here.seq);
                }
                format!("line {n} (seq {}) is out of order: it belongs before line {} (reordered)", here.seq, l.line)
            } else {
                format!(
                    "line {n} (seq {}) is out of order after line {} (seq {}): inserted, duplicated or moved",
                    here.seq, l.line, l.seq
                )
            };
            self.problem(ProblemKind::OutOfOrder, message);
            if here.seq == l.seq && here.prev == l.prev {
                // Of two forks, follow the later: the entries after them chain to it when
                // the earlier one was inserted.
                self.last = Some(here);
            }
        }
    }

    /// The report; checks the anchor.
    pub fn finish(mut self) -> Report {
        if let Some(anchor) = self.anchor.clone()
            && self.anchor_line.is_none()
        {
            self.lines += 1;
            let end = match &self.last {
                Some(l) => format!("the log ends at line {} (seq {})", self.lines - 1, l.seq),
                None => "the log has no entries".to_string(),
            };
            let message = format!(
                "the anchor `{anchor}` is not in the log: entries were removed from its end, or the log was replaced \
                 ({end})"
            );
            self.problem(ProblemKind::Truncated, message);
            self.lines -= 1;
        }
        let head = self.last.map(|l| Head { entries: l.seq + 1, hash: l.hash });
        Report {
            lines: self.lines,
            entries: self.entries,
            head,
            anchor_line: self.anchor_line,
            problems: self.problems,
        }
    }
}

/// Verifies a whole log held in memory.
pub fn verify_bytes(bytes: &[u8], anchor: Option<&str>) -> Report {
    let mut v = Verifier::new(anchor);
    // INVARIANT: reading from a slice cannot fail.
    let _ = v.read(bytes);
    v.finish()
}
