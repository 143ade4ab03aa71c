//! Verifying a log: every line must be an entry whose hash matches its content, whose `seq`
//! follows the previous entry's and whose `prev` is the previous entry's hash; the last line
//! must end in a newline; and an anchor (a hash kept elsewhere) must still be in the log.
//! Each problem names its line. Fed line by line, so a log of any size is read once, in time
//! linear in its size and in bounded memory: a line longer than [`MAX_LINE_BYTES`] is
//! measured, not held (and is no entry); the first [`MAX_LISTED_PROBLEMS`] problems are
//! listed and the rest counted by kind; a run of missing entries that turn up later names the
//! first [`MAX_NAMED_LATER`] of them and counts the rest.

use super::entry::{GENESIS, Head, parse_entry};
use super::lines::{Line, LineReader, MAX_LINE_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many problems a [`Report`] lists in full; the rest are counted by kind
/// ([`Report::unlisted`]). A torn last line and a missing anchor are always listed.
pub const MAX_LISTED_PROBLEMS: usize = 1000;

/// How many of the entries a `missing` problem reports that turn up later (a reordered log)
/// its message names; the rest are counted.
pub const MAX_NAMED_LATER: usize = 3;

/// What kind of damage a line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The last line has no newline: a write was interrupted (or the line was cut).
    Torn,
    /// Not an entry at all (a line longer than [`MAX_LINE_BYTES`] included).
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
    /// The problems found, in the order of their lines: all of them, or the first
    /// [`MAX_LISTED_PROBLEMS`] (and a torn last line and a missing anchor, always); empty
    /// when the log is intact.
    pub problems: Vec<Problem>,
    /// The problems found after the listed ones, counted by kind; empty when every problem is
    /// listed. A log with unlisted problems is not intact.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unlisted: BTreeMap<ProblemKind, u64>,
}

impl Report {
    /// No problem at all (and the anchor, when given, found).
    pub fn intact(&self) -> bool {
        self.problems.is_empty() && self.unlisted.is_empty()
    }

    /// How many problems were found: the listed ones and the [`Report::unlisted`].
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.unlisted_count()
    }

    /// How many problems were found but not listed.
    pub fn unlisted_count(&self) -> u64 {
        self.unlisted.values().sum()
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

/// An entry whose place in the chain the next entry settles.
#[derive(Debug)]
enum Pending {
    /// Altered: its `seq` and `prev` may not be what was written (`before`: the last entry in
    /// the chain before it, if any).
    Altered { here: Last, before: Option<Last> },
    /// Its seq is ahead of the chain's next (`before`: the last entry in the chain, if any).
    Jump { here: Last, before: Option<Last> },
    /// Entries with the same seq and `prev`, in order of their lines (the first was in the
    /// chain when the second came): at most one of them is in the chain.
    Fork { members: Vec<Last> },
}

/// How many entries of one seq and `prev` wait for the entry after them; more are reported
/// at once as forking the chain.
const MAX_FORK: usize = 64;

/// How an entry was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Altered {
    /// Its content does not match its hash.
    Content,
    /// Its text is not as the writer writes it (the hash of its content is right).
    Text,
}

/// Seqs reported missing by a listed `missing` problem, and where the first of them turned up
/// later (a reordered log).
#[derive(Debug)]
struct Gap {
    first: u64,
    last: u64,
    /// The index of its `missing` problem.
    problem: usize,
    /// The first [`MAX_NAMED_LATER`] of its seqs seen later, with their lines.
    named: Vec<(u64, u64)>,
    /// How many more turned up.
    more: u64,
}

/// Checks a log fed line by line.
#[derive(Debug)]
pub struct Verifier {
    anchor: Option<String>,
    anchor_line: Option<u64>,
    lines: u64,
    entries: u64,
    last: Option<Last>,
    /// The last entry, when its place in the chain waits for the next entry.
    pending: Option<Pending>,
    problems: Vec<Problem>,
    unlisted: BTreeMap<ProblemKind, u64>,
    /// The gaps of the listed `missing` problems, in the order of their seqs: the chain's
    /// `seq` only moves forward, so each gap starts after the one before ends.
    gaps: Vec<Gap>,
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
            pending: None,
            problems: Vec::new(),
            unlisted: BTreeMap::new(),
            gaps: Vec::new(),
        }
    }

    /// Whether a problem of this kind is listed (else it is counted).
    fn listed(&self, kind: ProblemKind) -> bool {
        self.problems.len() < MAX_LISTED_PROBLEMS || matches!(kind, ProblemKind::Torn | ProblemKind::Truncated)
    }

    /// Records a problem on the current line: listed, with the message `message` makes, or
    /// counted. The index of a listed one.
    fn problem(&mut self, kind: ProblemKind, message: impl FnOnce() -> String) -> Option<usize> {
        self.problem_at(self.lines, kind, message)
    }

    /// Records a problem on line `line` (the current one, or one whose place in the chain
    /// the lines after it settled).
    fn problem_at(&mut self, line: u64, kind: ProblemKind, message: impl FnOnce() -> String) -> Option<usize> {
        if self.listed(kind) {
            self.problems.push(Problem { line, kind, message: message() });
            Some(self.problems.len() - 1)
        } else {
            *self.unlisted.entry(kind).or_default() += 1;
            None
        }
    }

    /// Every line `reader` gives, to its end, holding at most one line of at most
    /// [`MAX_LINE_BYTES`] (a longer one is measured and reported).
    pub fn read(&mut self, reader: impl std::io::BufRead) -> std::io::Result<()> {
        let mut lines = LineReader::new(reader);
        while let Some((line, complete)) = lines.next_line()? {
            match line {
                Line::Text(bytes) => self.line(bytes, complete),
                Line::Oversize(len) => self.oversize_line(len, complete),
            }
        }
        Ok(())
    }

    /// The next line, a longer one than [`MAX_LINE_BYTES`], of which only its length (newline
    /// excluded) was kept; `complete` when a newline ended it. It is no entry.
    pub fn oversize_line(&mut self, len: u64, complete: bool) {
        self.lines += 1;
        let n = self.lines;
        if !complete {
            self.problem(ProblemKind::Torn, || {
                format!("line {n} is torn: {len} bytes without a final newline (an interrupted write)")
            });
        }
        // Longer than any entry: not a crash's leftovers of one either, so a torn one is
        // reported twice, and recovery refuses to cut it.
        self.problem(ProblemKind::Malformed, || {
            format!(
                "line {n} is not a log entry: it is {len} bytes long, more than an entry can be ({MAX_LINE_BYTES} \
                 bytes; not read)"
            )
        });
    }

    /// The next line, without its newline; `complete` when a newline ended it. One longer than
    /// [`MAX_LINE_BYTES`] is no entry (as [`Verifier::oversize_line`]); [`Verifier::read`]
    /// does not hold such a line at all.
    pub fn line(&mut self, bytes: &[u8], complete: bool) {
        if bytes.len() > MAX_LINE_BYTES {
            self.oversize_line(bytes.len() as u64, complete);
            return;
        }
        self.lines += 1;
        let n = self.lines;
        if !complete {
            let len = bytes.len();
            self.problem(ProblemKind::Torn, || {
                format!("line {n} is torn: {len} bytes without a final newline (an interrupted write)")
            });
            // An interrupted write leaves a prefix of a true entry. A whole entry whose hash
            // does not match is no such thing: it was altered (and its newline removed, perhaps
            // so that recovery would cut it as a crash's leftovers).
            if let Ok(entry) = parse_entry(bytes)
                && (entry.actual != entry.hash || !entry.as_written)
            {
                let seq = entry.seq;
                self.problem(ProblemKind::Altered, || {
                    format!("line {n} (seq {seq}) was altered: its content does not match its hash")
                });
            }
            return;
        }
        let entry = match parse_entry(bytes) {
            Ok(e) => e,
            Err(why) => {
                self.problem(ProblemKind::Malformed, || {
                    let why = if bytes.iter().all(u8::is_ascii_whitespace) { "an empty line".to_string() } else { why };
                    format!("line {n} is not a log entry: {why}")
                });
                return;
            }
        };
        self.entries += 1;
        if self.anchor.as_deref() == Some(entry.hash.as_str()) {
            self.anchor_line = Some(n);
        }
        let altered = if entry.actual != entry.hash {
            Some(Altered::Content)
        } else if !entry.as_written {
            Some(Altered::Text)
        } else {
            None
        };
        self.link(Last { line: n, seq: entry.seq, hash: entry.hash, prev: entry.prev }, altered);
    }

    /// An entry's own problem: it was altered.
    fn altered(&mut self, n: u64, seq: u64, how: Altered) {
        self.problem_at(n, ProblemKind::Altered, || match how {
            Altered::Content => format!("line {n} (seq {seq}) was altered: its content does not match its hash"),
            Altered::Text => format!(
                "line {n} (seq {seq}) was altered: its text is not as the log writes it (a key given twice, keys \
                 moved or spacing changed: what a reader shows may not be what was hashed)"
            ),
        });
    }

    /// Takes the next entry into the chain. An entry whose place is in doubt waits for the
    /// next one, whose `prev` says which entry it follows: an altered entry (its `seq` and
    /// `prev` are not to be trusted), one whose `seq` jumps ahead, and entries that fork the
    /// chain (the same seq and `prev`: the next entry chains to at most one of them). Every
    /// entry taken in this way leaves at least one problem where the chain does not hold, so
    /// no damage goes unreported; only the line blamed depends on it. An entry's own problems
    /// are recorded after those of the entry before it that waited for it.
    fn link(&mut self, here: Last, altered: Option<Altered>) {
        // One more entry of a fork's seq and `prev`: the entry after them settles them all.
        if let Some(Pending::Fork { members }) = &mut self.pending
            && altered != Some(Altered::Content)
            && members.len() < MAX_FORK
            && members.first().is_some_and(|f| f.seq == here.seq && f.prev == here.prev)
        {
            members.push(here.clone());
            if let Some(how) = altered {
                self.altered(here.line, here.seq, how);
            }
            return;
        }
        let content = altered == Some(Altered::Content);
        if let Some(pending) = self.pending.take() {
            self.settle(pending, Some((&here, content)));
        }
        if let Some(how) = altered {
            self.altered(here.line, here.seq, how);
        }
        let Some(l) = self.last.clone() else {
            // The first entry: altered, it may be no first entry at all; with a seq past 0,
            // the entries before it were deleted, or it was rewritten.
            if content {
                self.pending = Some(Pending::Altered { here, before: None });
            } else if !content && here.seq != 0 {
                self.pending = Some(Pending::Jump { here, before: None });
            } else {
                self.place(here);
            }
            return;
        };
        let follows = l.seq.checked_add(1) == Some(here.seq);
        // An altered entry, even one that seems to follow: it may be a copy of the next
        // entry, edited and put before it.
        if content {
            self.pending = Some(Pending::Altered { here, before: Some(l) });
        } else if !content && here.seq > l.seq && !follows {
            self.pending = Some(Pending::Jump { here, before: Some(l) });
        } else if here.seq == l.seq && here.prev == l.prev {
            self.pending = Some(Pending::Fork { members: vec![l, here] });
        } else {
            self.place(here);
        }
    }

    /// Settles entries whose place was in doubt, by the entry after them and whether that
    /// one was altered (`None`: the log ends there).
    fn settle(&mut self, pending: Pending, next: Option<(&Last, bool)>) {
        match pending {
            Pending::Fork { members } => {
                let m = next.map_or(0, |(m, _)| m.line);
                // The one the next entry chains to is in the chain; the others were inserted
                // (a copy of it, duplicated). With none, the first stays in the chain (it was
                // there when the others came) and the later ones are blamed.
                let chained = next.and_then(|(m, _)| members.iter().position(|e| e.hash == m.prev));
                let kept = chained.unwrap_or(0);
                let Some(keep) = members.get(kept).cloned() else { return };
                for (i, e) in members.iter().enumerate() {
                    if i == kept {
                        continue;
                    }
                    let (n, s, g) = (e.line, e.seq, keep.line);
                    let same = e.hash == keep.hash;
                    self.problem_at(n, ProblemKind::OutOfOrder, || {
                        if same {
                            format!("line {n} (seq {s}) is a copy of line {g} (duplicated)")
                        } else if chained.is_some() {
                            format!(
                                "line {n} (seq {s}) is not in the chain: line {g} has the same seq and `prev`, and \
                                 line {m} chains to line {g} (line {n} was inserted)"
                            )
                        } else {
                            format!(
                                "line {n} (seq {s}) forks the chain: line {g} has the same seq and `prev` (one \
                                 of them was inserted or duplicated)"
                            )
                        }
                    });
                }
                self.last = Some(keep);
            }
            // Altered (and reported so): where the next entry chains to the entry before it,
            // it was inserted and is no part of the chain; where the next entry chains to it,
            // it holds the seq after the entry before it; else its stated seq is all there is.
            Pending::Altered { here, before } => {
                let after_before = before.as_ref().map_or(0, |b| b.seq.saturating_add(1));
                let before_hash = before.as_ref().map_or(GENESIS, |b| b.hash.as_str());
                match next {
                    // (First: an altered copy of the entry before states its hash too.)
                    Some((m, _)) if m.prev == before_hash => {}
                    // In the chain: right after the entry before it (entries deleted before
                    // it break its link; a seq of the next one's that jumps is the next one's
                    // problem, as that seq may have been edited too).
                    Some((m, _)) if m.prev == here.hash => self.place(Last { seq: after_before, ..here }),
                    _ => self.place(here),
                }
            }
            // A seq ahead of the chain: entries were deleted before it, unless the next entry
            // (not altered) takes the seq after the previous one's and does not chain to it:
            // then it holds that seq, rewritten (and the next entry's link to it is reported
            // broken).
            Pending::Jump { here, before } => {
                let after_before = before.as_ref().map_or(0, |b| b.seq.saturating_add(1));
                match next {
                    // Not a sibling of it (the same seq and `prev`: a fork after a gap).
                    Some((m, false))
                        if m.prev != here.hash
                            && !(m.seq == here.seq && m.prev == here.prev)
                            && after_before.checked_add(1) == Some(m.seq) =>
                    {
                        self.place(Last { seq: after_before, ..here });
                    }
                    _ => self.place(here),
                }
            }
        }
    }

    /// Puts an entry in the chain after the last one, reporting where it does not follow.
    fn place(&mut self, here: Last) {
        let (n, seq) = (here.line, here.seq);
        let Some(l) = self.last.take() else {
            // The first entry.
            if here.seq != 0 {
                let last = here.seq - 1;
                let index = self.problem_at(n, ProblemKind::Missing, || {
                    let missing = missing(0, last);
                    format!("line {n}: {missing} before it (deleted from the head of the log)")
                });
                self.gap(0, last, index);
            } else if here.prev != GENESIS {
                self.problem_at(n, ProblemKind::BrokenLink, || {
                    format!("line {n} does not start a chain: its `prev` is not the genesis hash")
                });
            }
            self.last = Some(here);
            return;
        };
        // (A seq can be the largest there is: nothing follows it.)
        if l.seq.checked_add(1) == Some(here.seq) {
            if here.prev != l.hash {
                let line = l.line;
                self.problem_at(n, ProblemKind::BrokenLink, || {
                    format!(
                        "line {n} (seq {seq}) does not chain to line {line}: its `prev` is not that entry's hash (line \
                         {line} was rewritten, or this entry replaced)"
                    )
                });
            }
            self.last = Some(here);
        } else if here.seq > l.seq {
            // INVARIANT: here.seq > l.seq + 1, so this does not overflow.
            let expected = l.seq + 1;
            let index = self.problem_at(n, ProblemKind::Missing, || {
                let missing = missing(expected, seq - 1);
                format!("line {n} (seq {seq}): {missing} before it (deleted)")
            });
            self.gap(expected, here.seq - 1, index);
            self.last = Some(here);
        } else {
            // An entry from the past: it does not move the chain on, so the entries after it
            // are checked against the last one in order.
            let (line, last_seq) = (l.line, l.seq);
            if self.turns_up(seq, n) {
                self.problem_at(n, ProblemKind::OutOfOrder, || {
                    format!("line {n} (seq {seq}) is out of order: it belongs before line {line} (reordered)")
                });
            } else {
                self.problem_at(n, ProblemKind::OutOfOrder, || {
                    format!(
                        "line {n} (seq {seq}) is out of order after line {line} (seq {last_seq}): inserted, \
                         duplicated or moved"
                    )
                });
            }
            self.last = Some(l);
        }
    }

    /// Keeps the gap of a listed `missing` problem, to say so when its entries turn up later.
    fn gap(&mut self, first: u64, last: u64, problem: Option<usize>) {
        // INVARIANT: problems are listed as found, so once one is not, no later-found one is,
        // and hardly any later out-of-order entry's message (which names a gap) is shown: the
        // gaps of unlisted `missing` problems need not be kept (near the cap, an entry that
        // turns up after a gap found too late to be listed is said to be inserted rather than
        // reordered), and the kept ones are at most `MAX_LISTED_PROBLEMS`.
        if let Some(problem) = problem {
            self.gaps.push(Gap { first, last, problem, named: Vec::new(), more: 0 });
        }
    }

    /// Whether `seq`, seen on line `n` after the chain passed it, was reported missing (a
    /// reordered log); its `missing` problem is told.
    fn turns_up(&mut self, seq: u64, n: u64) -> bool {
        // The gaps are in order of their seqs and do not overlap.
        let i = self.gaps.partition_point(|g| g.last < seq);
        match self.gaps.get_mut(i) {
            Some(g) if g.first <= seq => {
                if g.named.len() < MAX_NAMED_LATER {
                    g.named.push((seq, n));
                } else {
                    g.more += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// The report; checks the anchor.
    pub fn finish(mut self) -> Report {
        if let Some(pending) = self.pending.take() {
            self.settle(pending, None);
        }
        for g in std::mem::take(&mut self.gaps) {
            let Some(p) = self.problems.get_mut(g.problem) else { continue };
            for (seq, line) in g.named {
                p.message.push_str(&format!("; seq {seq} turns up later, at line {line} (reordered)"));
            }
            if g.more > 0 {
                let (more, s) = (g.more, if g.more == 1 { "s" } else { "" });
                p.message.push_str(&format!("; {more} more of the missing entries turn{s} up later (reordered)"));
            }
        }
        if let Some(anchor) = self.anchor.clone()
            && self.anchor_line.is_none()
        {
            self.lines += 1;
            let end = match &self.last {
                Some(l) => format!("the log ends at line {} (seq {})", self.lines - 1, l.seq),
                None => "the log has no entries".to_string(),
            };
            self.problem(ProblemKind::Truncated, || {
                format!(
                    "the anchor `{anchor}` is not in the log: entries were removed from its end, or the log was \
                     replaced ({end})"
                )
            });
            self.lines -= 1;
        }
        // Problems of lines whose place the lines after them settled were found after those
        // lines' own: in the order of their lines again (a stable sort).
        self.problems.sort_by_key(|p| p.line);
        let head = self.last.map(|l| Head { entries: l.seq.saturating_add(1), hash: l.hash });
        Report {
            lines: self.lines,
            entries: self.entries,
            head,
            anchor_line: self.anchor_line,
            problems: self.problems,
            unlisted: self.unlisted,
        }
    }
}

/// `entry seq 3 is missing`, `entries seq 3 to 5 are missing`.
fn missing(first: u64, last: u64) -> String {
    if first == last {
        format!("entry seq {first} is missing")
    } else {
        format!("entries seq {first} to {last} are missing")
    }
}

/// Verifies a whole log held in memory.
pub fn verify_bytes(bytes: &[u8], anchor: Option<&str>) -> Report {
    let mut v = Verifier::new(anchor);
    // INVARIANT: reading from a slice cannot fail.
    let _ = v.read(bytes);
    v.finish()
}
