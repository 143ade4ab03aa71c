//! The tamper-evident audit log: one JSON line per decision or policy change, each chained to
//! the one before by SHA-256 (`entry`), written under a durability policy (`log`, `file`),
//! with masked attributes (`mask`), read line by line in bounded memory (`lines`) and verified
//! (`verify`). Also the policy digest: a SHA-256 of the compiled policy's canonical form,
//! which every decision entry names.
//! `docs/audit.md` documents the format with a JSON Schema.

mod canonical;
mod entry;
mod file;
mod lines;
mod log;
mod mask;
#[doc(hidden)]
pub mod time;
mod verify;

pub use canonical::{canonical_json, is_hash, sha256_hex};
pub use entry::{FORMAT_VERSION, GENESIS, Head, entry_hash};
pub use file::{FileSink, OpenError, RecoverError, open_file, recover_file};
pub use lines::{Line, LineReader, MAX_LINE_BYTES};
pub use log::{AuditLog, AuditOptions, DEFAULT_BATCH, PolicyChange, Recorded, Sink, SyncPolicy, TornLine};
pub use mask::{Mask, masked};
pub use verify::{MAX_LISTED_PROBLEMS, MAX_NAMED_LATER, Problem, ProblemKind, Report, Verifier, verify_bytes};

use crate::compile::CompiledPolicy;
use crate::review::facts::Facts;

/// The digest of a compiled policy: `sha256:` and the SHA-256 of the JSON of its
/// named facts (types, attributes, groups, identities, roles with their own rules,
/// `extends`, `exclusive` sets, assignments). Stable across runs and machines; independent
/// of declaration order, source locations, file names and `test` blocks.
pub fn policy_digest(policy: &CompiledPolicy) -> String {
    digest_of(&Facts::of(policy))
}

pub(crate) fn digest_of(facts: &Facts) -> String {
    use sha2::Digest;
    // Streamed into the hash: the facts serialize with their fields in a fixed order and
    // every set and map sorted, so the bytes are the same on every run.
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"rbac-policy-digest/2\n");
    if serde_json::to_writer(&mut hasher, facts).is_err() {
        // INVARIANT: serializing plain sets, maps and strings into a hasher cannot fail; a
        // digest that says so is never equal to a real one.
        return "sha256:unavailable".to_string();
    }
    let mut out = String::from("sha256:");
    for b in hasher.finalize() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
