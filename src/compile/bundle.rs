//! Bundles: a compiled policy (and its `test` blocks) saved as bytes and loaded back without
//! parsing or checking the sources again. `rbac build --target bundle` writes one; every
//! command that takes a compiled policy reads one in place of `.rbac` sources.
//!
//! The layout (docs/bundle.md): an 8-byte magic, the format version (u32, little-endian),
//! the payload length (u64, little-endian), the SHA-256 of the payload, then the payload:
//! the tables in postcard. Derived indexes (the name -> id maps, the scope tree's hash maps,
//! [`Lookup`]) are not stored; loading rebuilds them. Loading checks the magic, the version,
//! the length, the checksum, that the payload decodes with nothing left over, and that every
//! id in it points inside its table, so a damaged bundle is an error with a code (E08xx),
//! never a panic and never a policy that decides differently.

use super::{CIdentity, CRule, CType, CompiledPolicy, EffRule, Grants, Lookup, NodeId, SubjectId, SubjectNames};
use crate::check::ir::{ActionId, Cond, GroupId, RoleId, Ty, TypeId};
use crate::request::{Effect, Request};
use crate::{Expectation, PolicyTest};
use compact_str::CompactString;
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The first bytes of every bundle. The high first byte and the `\r\n` and `\x1a` (as in
/// PNG) make a bundle that went through a text-mode transfer fail the check at once, and no
/// `.rbac` source (UTF-8 text) can start this way.
pub const MAGIC: [u8; 8] = [0x89, b'R', b'B', b'A', b'C', b'\r', b'\n', 0x1a];

/// The layout of the payload. INVARIANT: bumped whenever any serialized table changes
/// shape (a field added, removed, reordered or retyped) or what is stored comes to mean
/// something else (2: the stored digest is `rbac-policy-digest/2`, which covers identities'
/// issuer and audience); `tests/bundle.rs` pins the bytes of a small policy's bundle so such
/// a change cannot go unnoticed.
pub const FORMAT_VERSION: u32 = 2;

/// magic, version, payload length, SHA-256.
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// Why bytes could not be loaded as a policy: a stable code (E08xx, `rbac explain`) and a
/// one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    /// The stable code, `E0801` to `E0805` (`rbac explain E0804`).
    pub code: &'static str,
    /// The one-line message.
    pub message: String,
}

impl BundleError {
    fn new(code: &'static str, message: impl Into<String>) -> BundleError {
        BundleError { code, message: message.into() }
    }
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for BundleError {}

/// (assigned role, target type, action): a key of `CompiledPolicy::role_table`.
type RoleRulesKey = (RoleId, TypeId, ActionId);

/// An identity with its aliases sorted, so the same policy always gives the same bytes.
#[derive(Serialize, Deserialize)]
struct WireIdentity {
    name: String,
    issuer: Option<String>,
    audience: Option<String>,
    user_claim: Option<String>,
    groups_claim: Option<String>,
    aliases: Vec<(String, Vec<GroupId>)>,
}

/// A `test` block; requests are kept in their JSON form (design section 5.4), which is
/// what `Request::from_json` reads back.
#[derive(Serialize, Deserialize)]
struct WireTest {
    name: String,
    at: String,
    expects: Vec<(Effect, String, String)>,
}

/// The payload. Field order is the wire order (postcard has no field names). Hash maps are
/// stored as vectors sorted by key; the big tables are borrowed when writing.
#[derive(Serialize, Deserialize)]
struct Payload<'a> {
    /// [`crate::Policy::digest`] of the policy when it was written.
    digest: String,
    types: Cow<'a, [CType]>,
    actions: Cow<'a, [String]>,
    groups: Cow<'a, [String]>,
    identities: Vec<WireIdentity>,
    principal_attrs: Cow<'a, BTreeMap<String, Ty>>,
    context_attrs: Cow<'a, BTreeMap<String, Ty>>,
    role_names: Cow<'a, [String]>,
    rules: Cow<'a, [CRule]>,
    role_table: Vec<(RoleRulesKey, (u32, u32))>,
    effective: Cow<'a, [EffRule]>,
    chains: Cow<'a, [Vec<RoleId>]>,
    role_exclusive: Cow<'a, [Vec<(u32, RoleId)>]>,
    exclusive_sets: Cow<'a, [Vec<RoleId>]>,
    /// Each scope node's (parent, type, id), by node id; node 0 (everywhere) has a dummy.
    node_keys: Vec<(NodeId, TypeId, Cow<'a, str>)>,
    node_paths: Cow<'a, [Option<String>]>,
    principal_subjects: Vec<(Cow<'a, str>, SubjectId)>,
    grants: Cow<'a, Grants>,
    tests: Vec<WireTest>,
}

/// Whether `bytes` start like a bundle (they may still be damaged past the magic).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Whether `bytes` are a bundle cut inside its magic (1 to 7 bytes of it).
pub(crate) fn cut_magic(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes)
}

/// Writes a bundle. `digest` is the policy's digest, stored so that loading need not
/// compute it again (at a million assignments that takes longer than loading).
pub(crate) fn write(p: &CompiledPolicy, tests: &[PolicyTest], digest: String) -> Vec<u8> {
    let mut role_table: Vec<_> = p.role_table.iter().map(|(k, v)| (*k, *v)).collect();
    role_table.sort_unstable();
    let node_keys: Vec<(NodeId, TypeId, Cow<'_, str>)> =
        p.lookup.node_keys().iter().map(|(parent, t, id)| (*parent, *t, Cow::Borrowed(id.as_str()))).collect();
    let mut principal_subjects: Vec<_> =
        p.principal_subjects.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), *v)).collect();
    principal_subjects.sort_unstable();
    let identities = p
        .identities
        .iter()
        .map(|i| {
            let mut aliases: Vec<_> = i.aliases.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            aliases.sort_unstable();
            WireIdentity {
                name: i.name.clone(),
                issuer: i.issuer.clone(),
                audience: i.audience.clone(),
                user_claim: i.user_claim.clone(),
                groups_claim: i.groups_claim.clone(),
                aliases,
            }
        })
        .collect();
    let tests = tests
        .iter()
        .map(|t| WireTest {
            name: t.name.clone(),
            at: t.at.clone(),
            expects: t
                .expects
                .iter()
                .map(|e| (e.effect, serde_json::to_string(&e.request).unwrap_or_default(), e.at.clone()))
                .collect(),
        })
        .collect();
    let payload = Payload {
        digest,
        types: Cow::Borrowed(&p.types),
        actions: Cow::Borrowed(&p.actions),
        groups: Cow::Borrowed(&p.groups),
        identities,
        principal_attrs: Cow::Borrowed(&p.principal_attrs),
        context_attrs: Cow::Borrowed(&p.context_attrs),
        role_names: Cow::Borrowed(&p.role_names),
        rules: Cow::Borrowed(&p.rules),
        role_table,
        effective: Cow::Borrowed(&p.effective),
        chains: Cow::Borrowed(&p.chains),
        role_exclusive: Cow::Borrowed(&p.role_exclusive),
        exclusive_sets: Cow::Borrowed(&p.exclusive_sets),
        node_keys,
        node_paths: Cow::Borrowed(&p.node_paths),
        principal_subjects,
        grants: Cow::Borrowed(&p.grants),
        tests,
    };
    // INVARIANT: postcard fails only on sequences of unknown length, which these derived
    // impls never produce. Were it to fail, the payload would be empty and the bundle would
    // fail to load with E0805 rather than load as a different policy.
    let body = postcard::to_stdvec(&payload).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&body));
    out.extend_from_slice(&body);
    out
}
/// A loaded bundle: the tables, the tests and the digest the writer recorded.
pub(crate) struct Loaded {
    pub policy: CompiledPolicy,
    pub tests: Vec<PolicyTest>,
    pub digest: String,
}

/// Reads a bundle written by [`write`](fn@write), checking everything before trusting it.
pub(crate) fn read(bytes: &[u8]) -> Result<Loaded, BundleError> {
    if !bytes.is_empty() && MAGIC.starts_with(bytes) {
        return Err(BundleError::new(
            "E0803",
            format!("truncated bundle: {} bytes, cut inside the magic", bytes.len()),
        ));
    }
    if !is_bundle(bytes) {
        return Err(BundleError::new(
            "E0801",
            "not a policy bundle: the file does not start with the bundle magic bytes",
        ));
    }
    let (Some(version), Some(len), Some(sum), Some(body)) =
        (bytes.get(8..12), bytes.get(12..20), bytes.get(20..HEADER_LEN), bytes.get(HEADER_LEN..))
    else {
        return Err(BundleError::new(
            "E0803",
            format!("truncated bundle: {} bytes, shorter than the {HEADER_LEN}-byte header", bytes.len()),
        ));
    };
    let version = u32::from_le_bytes(version.try_into().unwrap_or([0; 4]));
    if version != FORMAT_VERSION {
        return Err(BundleError::new(
            "E0802",
            format!(
                "bundle format version {version} is not supported: this rbac ({}) reads version {FORMAT_VERSION}",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    let len = u64::from_le_bytes(len.try_into().unwrap_or([0; 8]));
    if body.len() as u64 != len {
        let what = if (body.len() as u64) < len { "truncated bundle" } else { "bundle has trailing bytes" };
        return Err(BundleError::new(
            "E0803",
            format!("{what}: the header announces {len} bytes of payload, the file holds {}", body.len()),
        ));
    }
    let actual: [u8; 32] = Sha256::digest(body).into();
    if actual.as_slice() != sum {
        return Err(BundleError::new("E0804", "bundle checksum mismatch: the payload was corrupted or altered"));
    }
    let malformed = |why: String| BundleError::new("E0805", format!("malformed bundle: {why}"));
    let (mut payload, rest) = postcard::take_from_bytes::<Payload<'_>>(body)
        .map_err(|e| malformed(format!("the payload does not decode ({e})")))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} bytes left over after the payload", rest.len())));
    }
    validate(&payload).map_err(malformed)?;
    let tests = read_tests(std::mem::take(&mut payload.tests)).map_err(malformed)?;
    Ok(assemble(payload, tests))
}

/// Checks that every id in the payload points inside its table and that the assignment
/// table keeps its sort order, so the evaluator reads the same tables the writer had.
fn validate(p: &Payload<'_>) -> Result<(), String> {
    let (types, actions, groups, roles) = (p.types.len(), p.actions.len(), p.groups.len(), p.role_names.len());
    let (rules, chains, sets, nodes) = (p.rules.len(), p.chains.len(), p.exclusive_sets.len(), p.node_paths.len());
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("{what} out of range")) };
    for t in p.types.iter() {
        check(t.parent.is_none_or(|x| x.idx() < types), "a type's parent")?;
        check(t.actions.iter().all(|a| a.idx() < actions), "a type's action")?;
    }
    for i in &p.identities {
        check(i.aliases.iter().all(|(_, gs)| gs.iter().all(|g| g.idx() < groups)), "an alias's group")?;
    }
    for r in p.rules.iter() {
        check(r.role.idx() < roles, "a rule's role")?;
        check(r.cond.as_ref().is_none_or(|c| cond_ok(c, groups, 0)), "a condition's group")?;
    }
    for ((r, t, a), (start, end)) in &p.role_table {
        check(r.idx() < roles && t.idx() < types && a.idx() < actions, "a rule table key")?;
        check(start <= end && (*end as usize) <= p.effective.len(), "a rule table range")?;
    }
    check(p.effective.iter().all(|e| (e.rule as usize) < rules && (e.via as usize) < chains), "an effective rule")?;
    check(p.chains.iter().flatten().all(|r| r.idx() < roles), "a chain's role")?;
    check(p.role_exclusive.len() == roles, "the exclusive table")?;
    check(
        p.role_exclusive.iter().flatten().all(|(s, r)| (*s as usize) < sets && r.idx() < roles),
        "an exclusive role",
    )?;
    check(p.exclusive_sets.iter().flatten().all(|r| r.idx() < roles), "an exclusive set's role")?;
    check(p.node_keys.len() == nodes && nodes > 0, "the scope tree")?;
    for (n, (parent, t, _)) in p.node_keys.iter().enumerate().skip(1) {
        check((*parent as usize) < n && t.idx() < types, "a scope node's parent")?;
    }
    // Subjects are `everyone`, the groups, then one per principal, numbered in that order.
    let first_principal = 1 + groups;
    let subjects = first_principal + p.principal_subjects.len();
    check(p.grants.by_subject.len() == subjects + 1, "the assignment table's subjects")?;
    check(p.principal_subjects.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)), "a principal (repeated)")?;
    check(
        p.principal_subjects.iter().all(|(_, s)| (first_principal..subjects).contains(&(*s as usize))),
        "a principal's subject",
    )?;
    let mut taken = vec![false; subjects];
    for (_, s) in &p.principal_subjects {
        let slot = taken.get_mut(*s as usize);
        check(slot.as_ref().is_some_and(|t| !**t), "a principal's subject (shared)")?;
        if let Some(t) = slot {
            *t = true;
        }
    }
    check(p.role_table.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)), "a rule table key (repeated)")?;
    grants_ok(&p.grants, nodes, roles)
}

/// Conditions nest at most as deep as the grammar allows (E0104), so the walk is bounded.
fn cond_ok(c: &Cond, groups: usize, depth: usize) -> bool {
    if depth > 512 {
        return false;
    }
    match c {
        Cond::InGroup(g) => g.idx() < groups,
        Cond::Not(x) => cond_ok(x, groups, depth + 1),
        Cond::And(xs) | Cond::Or(xs) => xs.iter().all(|x| cond_ok(x, groups, depth + 1)),
        Cond::Cmp(_, a, b) => cond_ok(a, groups, depth + 1) && cond_ok(b, groups, depth + 1),
        Cond::Lit(_) | Cond::Attr(..) | Cond::PrincipalId | Cond::ResourceId | Cond::Has(..) => true,
    }
}

/// The invariants `Grants::build` establishes and its readers rely on.
fn grants_ok(g: &Grants, nodes: usize, roles: usize) -> Result<(), String> {
    let bad = |what: &str| Err(format!("the assignment table: {what}"));
    if !g.keys.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return bad("keys not sorted");
    }
    if g.keys.iter().any(|&(_, n)| n as usize >= nodes) {
        return bad("a scope node out of range");
    }
    if g.ends.len() != g.keys.len()
        || !g.ends.windows(2).all(|w| matches!(w, [a, b] if a < b))
        || g.ends.first().is_some_and(|&e| e == 0)
        || g.ends.last().map_or(0, |&e| e as usize) != g.roles.len()
    {
        return bad("role ranges inconsistent");
    }
    if g.roles.iter().any(|r| r.idx() >= roles) {
        return bad("a role out of range");
    }
    if !g.by_subject.windows(2).all(|w| matches!(w, [a, b] if a <= b))
        || g.by_subject.last().is_some_and(|&e| e as usize > g.keys.len())
    {
        return bad("subject index inconsistent");
    }
    // Each subject's rows hold that subject's keys and no other.
    for (s, w) in g.by_subject.windows(2).enumerate() {
        if let [start, end] = w {
            let rows = g.keys.get(*start as usize..*end as usize).unwrap_or(&[]);
            if rows.iter().any(|&(subject, _)| subject as usize != s) {
                return bad("subject index inconsistent");
            }
        }
    }
    if g.by_subject.last().map_or(0, |&e| e as usize) != g.keys.len() {
        return bad("subject index inconsistent");
    }
    Ok(())
}

/// Rebuilds the derived indexes around the stored tables.
fn assemble(p: Payload<'_>, tests: Vec<PolicyTest>) -> Loaded {
    let index = |names: &[String]| -> HashMap<String, u32> {
        names.iter().enumerate().map(|(i, n)| (n.clone(), u32::try_from(i).unwrap_or(u32::MAX))).collect()
    };
    let types = p.types.into_owned();
    let actions = p.actions.into_owned();
    let groups = p.groups.into_owned();
    let role_names = p.role_names.into_owned();
    let type_index = types.iter().enumerate().map(|(i, t)| (t.name.clone(), TypeId::from_idx(i))).collect();
    let action_index = index(&actions).into_iter().map(|(k, v)| (k, ActionId(v))).collect();
    let group_index = index(&groups).into_iter().map(|(k, v)| (k.into(), GroupId(v))).collect();
    let identities: Vec<CIdentity> = p
        .identities
        .into_iter()
        .map(|i| CIdentity {
            name: i.name,
            issuer: i.issuer,
            audience: i.audience,
            user_claim: i.user_claim,
            groups_claim: i.groups_claim,
            aliases: i.aliases.into_iter().collect(),
        })
        .collect();
    let identity_index = identities.iter().enumerate().map(|(i, id)| (id.name.clone(), i)).collect();
    let node_keys: Vec<(NodeId, TypeId, CompactString)> =
        p.node_keys.into_iter().map(|(parent, t, id)| (parent, t, CompactString::from(id.as_ref()))).collect();
    let role_table: HashMap<RoleRulesKey, (u32, u32)> = p.role_table.into_iter().collect();
    let principal_subjects: HashMap<CompactString, SubjectId> =
        p.principal_subjects.into_iter().map(|(k, v)| (CompactString::from(k.as_ref()), v)).collect();
    let lookup = Lookup::build(
        &types,
        &actions,
        role_names.len(),
        role_table.iter().map(|(k, v)| (*k, *v)),
        node_keys,
        &p.grants,
        SubjectNames { groups: &groups, principals: &principal_subjects },
    );
    let chains = p.chains.into_owned();
    let reason_names = crate::eval::ReasonNames::build(&role_names, &chains, &groups);
    let policy = CompiledPolicy {
        types,
        type_index,
        actions,
        action_index,
        groups,
        group_index,
        identities,
        identity_index,
        principal_attrs: p.principal_attrs.into_owned(),
        context_attrs: p.context_attrs.into_owned(),
        role_names,
        rules: p.rules.into_owned(),
        role_table,
        effective: p.effective.into_owned(),
        chains,
        role_exclusive: p.role_exclusive.into_owned(),
        exclusive_sets: p.exclusive_sets.into_owned(),
        node_paths: p.node_paths.into_owned(),
        principal_subjects,
        grants: p.grants.into_owned(),
        lookup,
        reason_names,
    };
    Loaded { policy, tests, digest: p.digest }
}

/// The `test` blocks, their requests read back from JSON.
fn read_tests(tests: Vec<WireTest>) -> Result<Vec<PolicyTest>, String> {
    let mut out = Vec::with_capacity(tests.len());
    for t in tests {
        let mut expects = Vec::with_capacity(t.expects.len());
        for (effect, request, at) in t.expects {
            let request =
                Request::from_json(&request).map_err(|e| format!("a test request does not read back ({e})"))?;
            expects.push(Expectation { effect, request, at });
        }
        out.push(PolicyTest { name: t.name, at: t.at, expects });
    }
    Ok(out)
}
