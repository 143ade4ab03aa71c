//! [`AuditLog`]: appends chained entries (decisions, policy changes) to a [`Sink`] under a
//! [`SyncPolicy`]. The log holds the chain's head, so entries can only be appended in order;
//! where the bytes go (a file, a buffer) is the sink's business.

use super::entry::{Head, seal};
use super::lines::MAX_LINE_BYTES;
use super::mask::Mask;
use super::time::format_rfc3339;
use serde::Serialize;
use serde_json::{Map, Value};
use std::io;
use std::time::SystemTime;

/// Where entries go.
pub trait Sink {
    /// Appends one whole line, newline included.
    fn append(&mut self, line: &[u8]) -> io::Result<()>;
    /// Hands everything appended so far to the operating system.
    fn flush(&mut self) -> io::Result<()>;
    /// Makes everything appended so far durable (fsync); implies `flush`.
    fn sync(&mut self) -> io::Result<()>;
}

/// In memory, for tests and for hosts that ship entries elsewhere.
impl Sink for Vec<u8> {
    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        self.extend_from_slice(line);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// When appended entries are flushed and made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Flush and fsync every entry before returning: a decision is on disk before anyone
    /// sees it.
    Always,
    /// Flush every entry (a killed process loses nothing) and fsync every `n` entries and on
    /// close (a power loss may lose the last unsynced entries, which an anchor reveals).
    Batch(u32),
    /// Buffer; flush when the buffer fills and on close; never fsync. A crash may lose the
    /// buffered entries and leave a torn last line.
    Never,
}

impl Default for SyncPolicy {
    fn default() -> SyncPolicy {
        SyncPolicy::Batch(DEFAULT_BATCH)
    }
}

/// Entries between two fsyncs under `batch`.
pub const DEFAULT_BATCH: u32 = 100;

impl std::str::FromStr for SyncPolicy {
    type Err = String;
    /// `always`, `batch`, `batch:N` or `never`.
    fn from_str(s: &str) -> Result<SyncPolicy, String> {
        match s {
            "always" => Ok(SyncPolicy::Always),
            "batch" => Ok(SyncPolicy::Batch(DEFAULT_BATCH)),
            "never" => Ok(SyncPolicy::Never),
            _ => match s.strip_prefix("batch:").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => Ok(SyncPolicy::Batch(n)),
                _ => Err(format!("`{s}` is not a sync policy: use `always`, `batch`, `batch:N` (N > 0) or `never`")),
            },
        }
    }
}

/// How a log writes: durability and masking.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// When entries are flushed and made durable (default `batch`).
    pub sync: SyncPolicy,
    /// The request fields to mask (default: none; tokens are always masked).
    pub mask: Mask,
}

/// What an append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The entry's id (the decision id for a decision).
    pub id: String,
    /// The entry's place in the log, from 0 (its `seq`).
    pub seq: u64,
    /// The entry's hash (64 lowercase hex digits): the next entry's `prev`.
    pub hash: String,
}

/// A policy change, as `rbac diff --audit-log` records it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyChange {
    /// The old policy's digest (`sha256:...`).
    pub old_policy: String,
    /// The new policy's digest (`sha256:...`).
    pub new_policy: String,
    /// The file the old policy was read from.
    pub old_file: String,
    /// The file the new policy was read from.
    pub new_file: String,
    /// Counts and the edits, in words.
    pub summary: Value,
}

/// A torn last line cut from a log by [`super::recover_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// Its line number (1-based).
    pub line: u64,
    /// Its length in bytes.
    pub bytes: u64,
    /// The SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// The file its bytes were moved to.
    pub evidence: String,
}

/// An append-only, hash-chained audit log.
pub struct AuditLog<S: Sink> {
    sink: S,
    head: Head,
    options: AuditOptions,
    unsynced: u32,
    nonce: String,
    clock: fn() -> SystemTime,
}

impl<S: Sink> AuditLog<S> {
    /// A log whose chain continues after `head` (see [`super::open_file`] for files).
    pub fn new(sink: S, head: Head, options: AuditOptions) -> AuditLog<S> {
        AuditLog { sink, head, options, unsynced: 0, nonce: nonce(), clock: SystemTime::now }
    }

    /// Takes the time of entries from `clock` instead of the system clock (for tests).
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> AuditLog<S> {
        self.clock = clock;
        self
    }

    /// The chain's head: entries so far and the last hash (an anchor to keep).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Records one decision: `request` in its JSON form (a [`crate::Request`], or the JSON
    /// value a caller sent, even when it was not a valid request), masked as configured.
    pub fn record_decision(
        &mut self,
        policy_digest: &str,
        request: &Value,
        decision: &crate::Decision,
    ) -> io::Result<Recorded> {
        let mut request = request.clone();
        let mut decision = serde_json::to_value(decision).map_err(io::Error::other)?;
        let principal = self.options.mask.principal_of(&request);
        self.options.mask.apply(&mut request, &mut decision);
        let mut body = Map::new();
        body.insert("kind".into(), Value::from("decision"));
        body.insert("policy".into(), Value::from(policy_digest));
        if let Some(id) = principal {
            body.insert("principal".into(), id);
        }
        body.insert("request".into(), request);
        body.insert("decision".into(), decision);
        self.append(body)
    }

    /// Records a policy change.
    pub fn record_policy_change(&mut self, change: &PolicyChange) -> io::Result<Recorded> {
        let Value::Object(mut body) = serde_json::to_value(change).map_err(io::Error::other)? else {
            return Err(io::Error::other("a policy change is a JSON object"));
        };
        body.insert("kind".into(), Value::from("policy_change"));
        self.append(body)
    }

    /// Records that a torn last line was cut from the log ([`super::recover_file`]): its line
    /// number, length and SHA-256, and where its bytes were kept, so the chain itself says
    /// what was removed.
    pub(crate) fn record_recovery(&mut self, torn: &TornLine) -> io::Result<Recorded> {
        let mut body = Map::new();
        body.insert("kind".into(), Value::from("recovery"));
        body.insert("torn_line".into(), Value::from(torn.line));
        body.insert("torn_bytes".into(), Value::from(torn.bytes));
        body.insert("torn_sha256".into(), Value::from(torn.sha256.clone()));
        body.insert("evidence".into(), Value::from(torn.evidence.clone()));
        self.append(body)
    }

    fn append(&mut self, mut body: Map<String, Value>) -> io::Result<Recorded> {
        // Seqs end here (the head counts entries in a u64: the one after would wrap to 0).
        if self.head.entries == u64::MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the log holds the entry of seq {}, after which no entry can be chained", u64::MAX - 1),
            ));
        }
        let time = format_rfc3339((self.clock)());
        let id = super::canonical::sha256_hex(format!("{}/{}/{time}", self.nonce, self.head.entries).as_bytes());
        let id: String = id.chars().take(32).collect();
        body.insert("time".into(), Value::from(time));
        body.insert("id".into(), Value::from(id.clone()));
        let (line, head) = seal(body, &self.head);
        // A longer line would be no entry to `verify` (nor to the next writer): refused, and
        // nothing is written.
        if line.len() > MAX_LINE_BYTES + 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the entry is {} bytes long, more than an entry can be ({MAX_LINE_BYTES} bytes); it was not written",
                    line.len() - 1
                ),
            ));
        }
        self.sink.append(line.as_bytes())?;
        // INVARIANT: the head moves only once the line is handed to the sink, so a failed
        // append never leaves the next entry chained to one that was not written.
        let seq = self.head.entries;
        self.head = head;
        match self.options.sync {
            SyncPolicy::Always => self.sink.sync()?,
            SyncPolicy::Batch(n) => {
                self.sink.flush()?;
                self.unsynced += 1;
                if self.unsynced >= n {
                    self.sink.sync()?;
                    self.unsynced = 0;
                }
            }
            SyncPolicy::Never => {}
        }
        Ok(Recorded { id, seq, hash: self.head.hash.clone() })
    }

    /// Hands every entry recorded so far to the sink's destination (the operating system, for
    /// a file), without making it durable. Under `never` entries wait in a buffer: a caller
    /// that shows decisions in batches flushes before each, so that no decision is shown
    /// whose entry could still be lost to a write error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }

    /// Flushes, and makes durable unless the policy is `never`.
    pub fn close(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.unsynced = 0;
        match self.options.sync {
            SyncPolicy::Never => self.sink.flush(),
            _ => self.sink.sync(),
        }
    }

    /// The sink, for in-memory logs.
    pub fn into_sink(mut self) -> io::Result<S>
    where
        S: Default,
    {
        self.finish()?;
        Ok(std::mem::take(&mut self.sink))
    }
}

impl<S: Sink> Drop for AuditLog<S> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Per-log randomness for entry ids: std's hasher keys come from the OS.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(super::time::micros(SystemTime::now()).unsigned_abs().into());
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::verify_bytes;

    #[test]
    fn entries_chain_and_verify_in_memory() {
        let mut log = AuditLog::new(Vec::new(), Head::genesis(), AuditOptions::default());
        let req = crate::Request::new("user:ann", &[], "read", "w:a");
        let value = serde_json::to_value(&req).unwrap_or_default();
        let d = crate::Decision::invalid(Vec::new());
        let a = log.record_decision("sha256:x", &value, &d).map(|r| r.seq);
        let b = log.record_decision("sha256:x", &value, &d).map(|r| r.seq);
        assert_eq!((a.ok(), b.ok()), (Some(0), Some(1)));
        let head = log.head().clone();
        let bytes = log.into_sink().unwrap_or_default();
        let report = verify_bytes(&bytes, Some(&head.hash));
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.head, Some(head));
    }

    #[test]
    fn sync_policies_read_from_text() {
        assert_eq!("always".parse(), Ok(SyncPolicy::Always));
        assert_eq!("batch:7".parse(), Ok(SyncPolicy::Batch(7)));
        assert_eq!("never".parse(), Ok(SyncPolicy::Never));
        assert!("batch:0".parse::<SyncPolicy>().is_err());
        assert!("sometimes".parse::<SyncPolicy>().is_err());
    }
}
