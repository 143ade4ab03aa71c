//! Logs in files: [`open_file`] continues the chain of an existing file (or starts one) and
//! holds an exclusive lock on it while the log is open, so two writers never fork the chain.
//! Like `FsLoader` for policies, this is the one library module that touches files; callers
//! that want no file I/O use [`AuditLog`] over their own [`Sink`].
//!
//! A torn last line (a crash in the middle of a write) is never extended: opening fails and
//! names the line, so the damage is seen (and `rbac audit verify` reports it) before anything
//! is chained after it. [`recover_file`] cuts it, keeping its bytes and recording the cut
//! in the chain.

use super::entry::{Head, parse_entry};
use super::lines::MAX_LINE_BYTES;
use super::log::{AuditLog, AuditOptions, Recorded, Sink, SyncPolicy, TornLine};
use super::verify::{Problem, ProblemKind, Verifier};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A file opened for appending, locked while open.
pub struct FileSink {
    out: BufWriter<File>,
}

impl Sink for FileSink {
    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        self.out.write_all(line)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// Why a log file cannot be appended to.
#[derive(Debug)]
pub enum OpenError {
    /// An I/O error opening, locking or reading the file.
    Io(io::Error),
    /// The last line has no newline: an interrupted write.
    Torn {
        /// The torn line's number (1-based).
        line: u64,
        /// How many bytes the torn line has.
        bytes: u64,
    },
    /// The last line is not an intact entry.
    Invalid {
        /// The last entry's line number (1-based).
        line: u64,
        /// What is wrong with it, worded to follow "the last entry": `is ...` or `was altered: ...`.
        why: String,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "{e}"),
            OpenError::Torn { line, bytes } => write!(
                f,
                "line {line} is torn ({bytes} bytes without a final newline: an interrupted write); nothing is \
                 appended after a torn line"
            ),
            OpenError::Invalid { line, why } => {
                write!(f, "the last entry (line {line}) {why}; nothing is appended after it")
            }
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> OpenError {
        OpenError::Io(e)
    }
}

/// Opens (or creates) a log file to append to, continuing its chain from the last entry.
/// Only the last entry is read and checked (its hash must match its content); verifying the
/// whole chain is [`super::Verifier`]'s job.
pub fn open_file(path: &Path, options: AuditOptions) -> Result<AuditLog<FileSink>, OpenError> {
    let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
    // INVARIANT: the lock is held until the log is dropped, from reading the head to the last
    // append, so the head read here is the file's last entry when the next one is written.
    file.lock()?;
    let head = read_head(&mut file)?;
    let capacity = if options.sync == SyncPolicy::Never { 64 * 1024 } else { 8 * 1024 };
    Ok(AuditLog::new(FileSink { out: BufWriter::with_capacity(capacity, file) }, head, options))
}

/// Why a log cannot be recovered.
#[derive(Debug)]
pub enum RecoverError {
    /// An I/O error on the log or on the evidence file.
    Io(io::Error),
    /// The log's last line is not torn: there is nothing to cut.
    NotTorn,
    /// The log has other damage than a torn last line: recovery would hide it.
    Damaged {
        /// The problems, as [`super::Report::problems`] lists them: at most the first
        /// [`MAX_LISTED_PROBLEMS`](super::MAX_LISTED_PROBLEMS).
        problems: Vec<Problem>,
        /// How many more were found and not listed.
        unlisted: u64,
    },
    /// The file the torn bytes would be kept in already exists.
    EvidenceExists(PathBuf),
}

impl std::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoverError::Io(e) => write!(f, "{e}"),
            RecoverError::NotTorn => write!(f, "the last line is not torn: nothing to recover"),
            RecoverError::Damaged { problems, unlisted } => {
                write!(f, "the log has damage other than a torn last line, which recovery would hide:")?;
                for p in problems {
                    write!(f, "\n  line {}: {}", p.line, p.message)?;
                }
                if *unlisted > 0 {
                    let s = if *unlisted == 1 { "" } else { "s" };
                    write!(f, "\n  {unlisted} more problem{s} not listed (`rbac audit verify` counts them by kind)")?;
                }
                Ok(())
            }
            RecoverError::EvidenceExists(p) => {
                write!(f, "`{}` already exists; move it away to keep the torn bytes there", p.display())
            }
        }
    }
}

impl std::error::Error for RecoverError {}

impl From<io::Error> for RecoverError {
    fn from(e: io::Error) -> RecoverError {
        RecoverError::Io(e)
    }
}

/// Recovers a log whose only damage is a torn last line (an interrupted write), so that it
/// can be appended to again: the whole log is verified first; the torn bytes are moved to
/// `FILE.torn-LINE` (kept as evidence, never overwritten), the line is cut, and a `recovery`
/// entry chained after the last intact entry records the line, its length and its SHA-256.
/// Any other damage refuses: recovery only undoes what a crash does, and says so in the chain.
pub fn recover_file(path: &Path) -> Result<(TornLine, Recorded), RecoverError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    // INVARIANT: held until the recovery entry is written, so no writer appends meanwhile.
    file.lock()?;
    let mut verifier = Verifier::new(None);
    verifier.read(io::BufReader::with_capacity(1 << 16, &file))?;
    let report = verifier.finish();
    // A log with unlisted problems has more than one (the listed ones fill the list).
    match report.problems.as_slice() {
        [] if report.intact() => return Err(RecoverError::NotTorn),
        [p] if p.kind == ProblemKind::Torn && report.unlisted.is_empty() => {}
        problems => {
            return Err(RecoverError::Damaged { problems: problems.to_vec(), unlisted: report.unlisted_count() });
        }
    }
    let len = file.metadata()?.len();
    let start = line_start(&mut file, len)?;
    let mut torn = vec![0u8; usize::try_from(len - start).map_err(io::Error::other)?];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut torn)?;
    let evidence = PathBuf::from(format!("{}.torn-{}", path.display(), report.lines));
    match OpenOptions::new().write(true).create_new(true).open(&evidence) {
        Ok(mut kept) => {
            kept.write_all(&torn)?;
            kept.sync_all()?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(RecoverError::EvidenceExists(evidence)),
        Err(e) => return Err(e.into()),
    }
    file.set_len(start)?;
    file.sync_all()?;
    file.seek(SeekFrom::End(0))?;
    let line = TornLine {
        line: report.lines,
        bytes: len - start,
        sha256: super::canonical::sha256_hex(&torn),
        evidence: evidence.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    };
    let head = report.head.unwrap_or_else(Head::genesis);
    let options = AuditOptions { sync: SyncPolicy::Always, ..AuditOptions::default() };
    let mut log = AuditLog::new(FileSink { out: BufWriter::new(file) }, head, options);
    let recorded = log.record_recovery(&line)?;
    log.close()?;
    Ok((line, recorded))
}

/// The head of the chain in `file`: after its last entry.
fn read_head(file: &mut File) -> Result<Head, OpenError> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Head::genesis());
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    let complete = last == [b'\n'];
    let end = if complete { len - 1 } else { len };
    let start = line_start(file, end)?;
    if !complete {
        return Err(OpenError::Torn { line: count_lines(file)? + 1, bytes: end - start });
    }
    if end - start > MAX_LINE_BYTES as u64 {
        // Not read: no entry is that long.
        let why = format!("is {} bytes long, more than an entry can be ({MAX_LINE_BYTES} bytes)", end - start);
        return Err(OpenError::Invalid { line: count_lines(file)?, why });
    }
    let mut line = vec![0u8; usize::try_from(end - start).map_err(io::Error::other)?];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    let invalid = |why: String, file: &mut File| -> Result<Head, OpenError> {
        Err(OpenError::Invalid { line: count_lines(file)?, why })
    };
    match parse_entry(&line) {
        Err(why) => invalid(format!("is {why}"), file),
        Ok(e) if e.actual != e.hash => invalid("was altered: its content does not match its hash".into(), file),
        // Nothing can follow the largest seq there is.
        Ok(e) => match e.seq.checked_add(1) {
            Some(entries) => Ok(Head { entries, hash: e.hash }),
            None => invalid(format!("has seq {}, after which no entry can be chained", e.seq), file),
        },
    }
}

/// Where the line ending at `end` starts: just after the previous newline, or 0.
fn line_start(file: &mut File, end: u64) -> io::Result<u64> {
    const CHUNK: u64 = 8192;
    let mut pos = end;
    let mut buf = vec![0u8; CHUNK as usize];
    while pos > 0 {
        let from = pos.saturating_sub(CHUNK);
        let n = usize::try_from(pos - from).map_err(io::Error::other)?;
        let chunk = buf.get_mut(..n).ok_or_else(|| io::Error::other("chunk"))?;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        pos = from;
    }
    Ok(0)
}

/// Newlines in the file: the number of complete lines.
fn count_lines(file: &mut File) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut count = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += buf.get(..n).unwrap_or_default().iter().filter(|b| **b == b'\n').count() as u64;
    }
}
