//! Log entries and the hash chain: every entry carries `seq` (its place, from 0), `prev` (the
//! previous entry's hash, [`GENESIS`] for the first) and `hash`, the SHA-256 of the canonical
//! JSON of the entry without `hash`. Changing, inserting, deleting or moving an entry breaks
//! a hash, a `prev` or a `seq`.

use super::canonical::{canonical_json, sha256_hex, write_canonical};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `prev` of the first entry of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The entry format version, the `v` of every entry.
pub const FORMAT_VERSION: u64 = 1;

/// Where a log's chain stands: how many entries it has and the last one's hash (the anchor
/// to keep elsewhere), [`GENESIS`] for an empty log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// How many entries the log has.
    pub entries: u64,
    /// The last entry's hash (64 lowercase hex digits), [`GENESIS`] for an empty log.
    pub hash: String,
}

impl Head {
    /// The head of an empty log.
    pub fn genesis() -> Head {
        Head { entries: 0, hash: GENESIS.to_string() }
    }
}

/// The hash of an entry: SHA-256 of the canonical JSON of the object without its `hash`.
pub fn entry_hash(entry: &Map<String, Value>) -> String {
    let mut body = entry.clone();
    body.remove("hash");
    sha256_hex(canonical_json(&Value::Object(body)).as_bytes())
}

/// Keys written first, in this order, for people reading the file; the hash does not depend
/// on the order.
const LEADING: &[&str] = &["v", "seq", "time", "id", "kind"];
const TRAILING: &[&str] = &["prev", "hash"];

/// Chains a body after `head`: adds `v`, `seq`, `prev` and `hash`, and returns the line to
/// append (with its newline) and the new head.
pub(crate) fn seal(mut body: Map<String, Value>, head: &Head) -> (String, Head) {
    body.insert("v".into(), Value::from(FORMAT_VERSION));
    body.insert("seq".into(), Value::from(head.entries));
    body.insert("prev".into(), Value::from(head.hash.clone()));
    let hash = entry_hash(&body);
    body.insert("hash".into(), Value::from(hash.clone()));
    let mut line = written(&body);
    line.push('\n');
    // `AuditLog` chains nothing after the largest seq; saturating all the same.
    (line, Head { entries: head.entries.saturating_add(1), hash })
}

/// An entry's line as the log writes it, without its newline: canonical JSON with the
/// [`LEADING`] keys first and the [`TRAILING`] ones last.
fn written(body: &Map<String, Value>) -> String {
    let mut line = String::from("{");
    let mut keys: Vec<&String> =
        body.keys().filter(|k| !LEADING.contains(&k.as_str()) && !TRAILING.contains(&k.as_str())).collect();
    keys.sort();
    let order = LEADING.iter().copied().chain(keys.iter().map(|k| k.as_str())).chain(TRAILING.iter().copied());
    let mut first = true;
    for key in order {
        let Some(v) = body.get(key) else { continue };
        if !first {
            line.push(',');
        }
        first = false;
        write_canonical(&Value::String(key.to_string()), &mut line);
        line.push(':');
        write_canonical(v, &mut line);
    }
    line.push('}');
    line
}

/// An entry read back: the fields the chain needs, checked for shape.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The hash recomputed from the content.
    pub actual: String,
    /// Whether the line is byte for byte as the log writes this entry. A line that parses to
    /// the same entry but reads otherwise (a key given twice, of which a JSON reader keeps the
    /// last and a person or `grep` may see the first; keys moved; spacing) was edited.
    pub as_written: bool,
}

/// Reads one line as an entry; the error says what is wrong with it.
pub(crate) fn parse_entry(line: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not a JSON entry ({e})"))?;
    let Value::Object(entry) = value else { return Err("not a JSON object".to_string()) };
    if entry.get("v").and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(format!("not a version {FORMAT_VERSION} entry (`v`)"));
    }
    let seq = entry.get("seq").and_then(Value::as_u64).ok_or("lacks a whole-number `seq`")?;
    let text = |k: &str| -> Result<String, String> {
        match entry.get(k).and_then(Value::as_str) {
            Some(h) if super::canonical::is_hash(h) => Ok(h.to_string()),
            _ => Err(format!("lacks a SHA-256 hex `{k}`")),
        }
    };
    let (prev, hash) = (text("prev")?, text("hash")?);
    let actual = entry_hash(&entry);
    let as_written = written(&entry).as_bytes() == line;
    Ok(Parsed { seq, prev, hash, actual, as_written })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_entries_chain_and_read_back() {
        let Value::Object(body) = json!({"kind": "decision", "time": "t", "id": "x", "a": 1}) else { return };
        let (line, head) = seal(body.clone(), &Head::genesis());
        assert!(line.starts_with(r#"{"v":1,"seq":0,"time":"t","id":"x","kind":"decision","a":1,"prev":"000"#));
        let parsed = parse_entry(line.trim_end().as_bytes());
        assert!(parsed.as_ref().is_ok_and(|p| p.hash == p.actual && p.hash == head.hash && p.prev == GENESIS));
        let (line2, head2) = seal(body, &head);
        let p2 = parse_entry(line2.trim_end().as_bytes());
        assert!(p2.is_ok_and(|p| p.prev == head.hash && p.seq == 1 && p.hash == head2.hash));
        let tampered = line.replace("\"a\":1", "\"a\":2");
        assert!(parse_entry(tampered.as_bytes()).is_ok_and(|p| p.hash != p.actual));
        assert!(parse_entry(line.trim_end().as_bytes()).is_ok_and(|p| p.as_written));
        // The same entry with a key given twice (a reader keeps the last) or spaced: not as
        // written, though its hash holds.
        for edited in [line.replacen("\"a\":1", "\"a\":5,\"a\":1", 1), line.replacen(",", ", ", 1)] {
            let p = parse_entry(edited.trim_end().as_bytes());
            assert!(p.is_ok_and(|p| p.hash == p.actual && !p.as_written), "{edited}");
        }
    }
}
