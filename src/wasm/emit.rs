//! CompiledPolicy -> WebAssembly module: the policy's tables as data segments, one function
//! per condition, the hand-written runtime (`runtime.wat`), assembled by `wat` and checked by
//! `wasmparser` against the WebAssembly 1.0 feature set. Deterministic: every table is
//! sorted, so one policy always gives the same bytes.

use super::WasmError;
use super::meta::{Meta, MetaIdentity, MetaRule, MetaType, SECTION};
use super::tables::{HashTable, child_hash, hash_bytes, role_hash};
use crate::check::ir::{Cond, Ty, Val};
use crate::compile::CompiledPolicy;
use crate::syntax::ast::{CmpOp, Effect, Entity};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Largest encoded request a module accepts, in bytes.
pub const INPUT_CAP: u32 = 64 * 1024;
/// Most output records one decision writes (more are counted, not written).
pub const OUTPUT_CAP: u32 = 4096;
const DATA_BASE: u32 = 1024;
const RUNTIME: &str = include_str!("runtime.wat");

/// The data segment under construction, with a pool so equal strings are stored once.
struct Data {
    bytes: Vec<u8>,
    strings: HashMap<Vec<u8>, u32>,
}

impl Data {
    fn addr(&self) -> u32 {
        DATA_BASE + u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    fn align(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &[u8]) -> u32 {
        if let Some(&a) = self.strings.get(s) {
            return a;
        }
        let a = self.addr();
        self.bytes.extend_from_slice(s);
        self.strings.insert(s.to_vec(), a);
        a
    }

    /// A name table (see [`HashTable`]): 16-byte slots [hash, str_ptr, str_len, value], empty
    /// when str_ptr is 0 (strings live above `DATA_BASE`). Returns its address and mask.
    fn name_table(&mut self, mut entries: Vec<(Vec<u8>, u32)>) -> (u32, u32) {
        entries.sort();
        let mut table: HashTable<4> = HashTable::new(entries.len(), 1);
        for (s, v) in &entries {
            let ptr = self.str(s);
            table.insert(hash_bytes(s), [hash_bytes(s), ptr, len32(s.len()), *v]);
        }
        self.table(&table)
    }

    /// Writes a hash table's slots; returns their address and the table's mask.
    fn table<const W: usize>(&mut self, table: &HashTable<W>) -> (u32, u32) {
        self.align();
        let at = self.addr();
        for w in table.words() {
            self.u32(w);
        }
        (at, table.mask())
    }

    /// An encoded value (the request encoding of docs/wasm-abi.md).
    fn value(&mut self, v: &Val) -> u32 {
        let at = self.addr();
        encode_val(v, &mut self.bytes);
        at
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn encode_val(v: &Val, out: &mut Vec<u8>) {
    match v {
        Val::Str(s) => {
            out.push(1);
            out.extend_from_slice(&len32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Val::Int(n) => {
            out.push(2);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Val::Bool(b) => {
            out.push(3);
            out.push(u8::from(*b));
        }
        Val::Set(items) => {
            out.push(4);
            out.extend_from_slice(&len32(items.len()).to_le_bytes());
            for i in items {
                encode_val(i, out);
            }
        }
    }
}

/// The type code the runtime checks values against: 1 string, 2 int, 3 bool, +16 per set.
fn ty_code(t: &Ty) -> u32 {
    match t {
        Ty::String => 1,
        Ty::Int => 2,
        Ty::Bool => 3,
        Ty::Set(inner) => 16 + ty_code(inner),
        Ty::Unknown => 0,
    }
}

/// Emits the module for a compiled policy.
pub fn emit(p: &CompiledPolicy) -> Result<Vec<u8>, WasmError> {
    let mut d = Data { bytes: Vec::new(), strings: HashMap::new() };
    let mut g: Vec<(&str, u32)> = Vec::new();

    // Constants the runtime uses.
    let zero = d.addr();
    d.bytes.extend_from_slice(&[0; 16]);
    g.push(("S_zero", zero));
    let user = d.str(b"user:");
    g.push(("S_user_prefix", user));
    let service = d.str(b"service:");
    g.push(("S_service_prefix", service));
    let t = d.value(&Val::Bool(true));
    g.push(("S_true", t));
    let f = d.value(&Val::Bool(false));
    g.push(("S_false", f));
    // Byte classes for the path scanner: 1 starts a type name (letter, `_`), 2 continues it
    // (and digits), 4 is an unquoted id byte (and `.`, `@`, `+`, `-`).
    let chars = d.addr();
    for c in 0..=255u8 {
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let alnum = alpha || c.is_ascii_digit();
        let id = alnum || matches!(c, b'.' | b'@' | b'+' | b'-');
        d.bytes.push(u8::from(alpha) | (u8::from(alnum) << 1) | (u8::from(id) << 2));
    }
    g.push(("T_chars", chars));

    // Attribute slots: principal.x, context.x, resource.x (one slot per name across types),
    // then resource.id.
    let mut slots: BTreeMap<(Entity, String), u32> = BTreeMap::new();
    let mut slot_names = Vec::new();
    let mut add_slot = |e: Entity, name: &str, slots: &mut BTreeMap<(Entity, String), u32>| {
        if let std::collections::btree_map::Entry::Vacant(v) = slots.entry((e, name.to_string())) {
            v.insert(len32(slot_names.len()));
            slot_names.push(format!("{}.{name}", e.as_str()));
        }
    };
    for n in p.principal_attrs.keys() {
        add_slot(Entity::Principal, n, &mut slots);
    }
    for n in p.context_attrs.keys() {
        add_slot(Entity::Context, n, &mut slots);
    }
    let mut resource_names: Vec<&String> = p.types.iter().flat_map(|t| t.attrs.keys()).collect();
    resource_names.sort();
    resource_names.dedup();
    for n in resource_names {
        add_slot(Entity::Resource, n, &mut slots);
    }
    let rid_slot = len32(slot_names.len());
    slot_names.push("resource.id".to_string());
    // The attribute tables pack a slot in 16 bits beside its type: one more would wrap onto
    // slot 0 (another attribute's value, even with another type, would be read for it).
    if slot_names.len() > MAX_ATTR_SLOTS {
        return Err(WasmError::new(
            "E0901",
            format!(
                "the policy declares {} attribute names, more than the WebAssembly target takes ({})",
                slot_names.len() - 1,
                MAX_ATTR_SLOTS - 1
            ),
        ));
    }
    let attr_entries = |entity: Entity, attrs: &BTreeMap<String, Ty>| -> Vec<(Vec<u8>, u32)> {
        attrs
            .iter()
            .map(|(n, t)| {
                let slot = slots.get(&(entity, n.clone())).copied().unwrap_or(0);
                (n.as_bytes().to_vec(), slot | (ty_code(t) << 16))
            })
            .collect()
    };

    // Names.
    let named = |names: &[String]| names.iter().enumerate().map(|(i, n)| (n.as_bytes().to_vec(), len32(i))).collect();
    let type_names: Vec<String> = p.types.iter().map(|t| t.name.clone()).collect();
    let (a, n) = d.name_table(named(&type_names));
    g.extend([("T_types", a), ("T_mtypes", n)]);
    let (a, n) = d.name_table(named(&p.actions));
    g.extend([("T_actions", a), ("T_mactions", n)]);
    let (a, n) = d.name_table(named(&p.groups));
    g.extend([("T_groups", a), ("T_mgroups", n), ("T_ngroups", len32(p.groups.len()))]);
    let principals: Vec<(Vec<u8>, u32)> =
        p.principal_subjects.iter().map(|(k, v)| (k.as_bytes().to_vec(), *v)).collect();
    let (a, n) = d.name_table(principals);
    g.extend([("T_principals", a), ("T_mprincipals", n)]);
    let (a, n) = d.name_table(attr_entries(Entity::Principal, &p.principal_attrs));
    g.extend([("T_principal_attrs", a), ("T_mprincipal_attrs", n)]);
    let (a, n) = d.name_table(attr_entries(Entity::Context, &p.context_attrs));
    g.extend([("T_context_attrs", a), ("T_mcontext_attrs", n)]);

    // Types: parents, action bitsets, attribute tables.
    let words = len32(p.actions.len().div_ceil(32)).max(1);
    let attr_tabs: Vec<(u32, u32)> =
        p.types.iter().map(|t| d.name_table(attr_entries(Entity::Resource, &t.attrs))).collect();
    d.align();
    let type_attrs = d.addr();
    for (a, n) in &attr_tabs {
        d.u32(*a);
        d.u32(*n);
    }
    let type_parent = d.addr();
    for t in &p.types {
        d.u32(t.parent.map_or(0, |x| x.0 + 1));
    }
    let type_actions = d.addr();
    for t in &p.types {
        let mut bits = vec![0u32; words as usize];
        for a in &t.actions {
            if let Some(w) = bits.get_mut(a.idx() / 32) {
                *w |= 1 << (a.0 % 32);
            }
        }
        for w in bits {
            d.u32(w);
        }
    }
    g.extend([
        ("T_type_attrs", type_attrs),
        ("T_type_parent", type_parent),
        ("T_type_actions", type_actions),
        ("T_act_words", words),
    ]);
    g.push(("T_nslots", rid_slot + 1));

    // Identities: name table -> index; info records; alias tables.
    let mut infos = Vec::new();
    for ident in &p.identities {
        let mut aliases: Vec<(&String, &Vec<crate::check::ir::GroupId>)> = ident.aliases.iter().collect();
        aliases.sort();
        let mut entries = Vec::new();
        for (value, groups) in aliases {
            d.align();
            let at = d.addr();
            d.u32(len32(groups.len()));
            for gid in groups {
                d.u32(gid.0);
            }
            entries.push((value.as_bytes().to_vec(), at));
        }
        let (atab, an) = d.name_table(entries);
        let user_claim = ident.user_claim.clone().unwrap_or_else(|| "sub".to_string());
        let uc = d.str(user_claim.as_bytes());
        let (gc, gl) = match &ident.groups_claim {
            Some(c) => (d.str(c.as_bytes()), len32(c.len())),
            None => (0, u32::MAX),
        };
        infos.push([uc, len32(user_claim.len()), gc, gl, atab, an, 0]);
    }
    d.align();
    let identity_info = d.addr();
    for info in &infos {
        for w in info {
            d.u32(*w);
        }
    }
    let identity_names: Vec<String> = p.identities.iter().map(|i| i.name.clone()).collect();
    let (a, n) = d.name_table(named(&identity_names));
    g.extend([("T_identities", a), ("T_midentities", n), ("T_identity_info", identity_info)]);

    // Scope tree: (parent node, child type, child id) -> child node, 24-byte slots
    // [hash, node, type, id_ptr, id_len, child], empty when id_ptr is 0.
    let mut children: Vec<(u32, u32, &str, u32)> = p
        .lookup
        .node_keys()
        .iter()
        .enumerate()
        .skip(1)
        .map(|(child, (node, ty, id))| (*node, ty.0, id.as_str(), len32(child)))
        .collect();
    children.sort();
    let mut tree: HashTable<6> = HashTable::new(children.len(), 3);
    for (node, ty, id, child) in children {
        let h = child_hash(hash_bytes(id.as_bytes()), node, ty);
        let ptr = d.str(id.as_bytes());
        tree.insert(h, [h, node, ty, ptr, len32(id.len()), child]);
    }
    let (a, m) = d.table(&tree);
    g.extend([("T_children", a), ("T_mchildren", m)]);

    // Grants: for each subject, its rows [node, roles_ptr, roles_len] sorted by node, found
    // through the subject index [first row, row count].
    let mut grants: Vec<((u32, u32), Vec<u32>)> =
        p.grants.iter().map(|(key, roles)| (*key, roles.iter().map(|r| r.0).collect())).collect();
    grants.sort();
    let subjects = grants
        .iter()
        .map(|((s, _), _)| s + 1)
        .chain(p.principal_subjects.values().map(|s| s + 1))
        .fold(len32(p.groups.len()) + 1, u32::max);
    d.align();
    let mut role_lists = Vec::new();
    for (_, roles) in &grants {
        role_lists.push(d.addr());
        for r in roles {
            d.u32(*r);
        }
    }
    let mut index = vec![[0u32; 2]; subjects as usize];
    let rows_at = d.addr();
    for (i, (((s, node), roles), at)) in grants.iter().zip(role_lists).enumerate() {
        if let Some(entry) = index.get_mut(*s as usize) {
            if entry[1] == 0 {
                entry[0] = len32(i);
            }
            entry[1] += 1;
        }
        for w in [*node, at, len32(roles.len())] {
            d.u32(w);
        }
    }
    let subject_rows = d.addr();
    for [first, n] in index {
        d.u32(first);
        d.u32(n);
    }
    g.extend([("T_rows", rows_at), ("T_subject_rows", subject_rows)]);

    // Role table: (role, type, action) -> [rule, via]..., 24-byte slots [role + 1, type,
    // action, list_ptr, list_len, 0], empty when the first word is 0.
    type Key = (u32, u32, u32);
    let mut table: Vec<(Key, (u32, u32))> =
        p.role_table.iter().map(|((r, t, a), range)| ((r.0, t.0, a.0), *range)).collect();
    table.sort();
    let mut roles: HashTable<6> = HashTable::new(table.len(), 0);
    for ((r, t, a), (start, end)) in table {
        let at = d.addr();
        for e in p.effective.get(start as usize..end as usize).unwrap_or(&[]) {
            d.u32(e.rule);
            d.u32(e.via);
        }
        roles.insert(role_hash(r, t, a), [r + 1, t, a, at, end - start, 0]);
    }
    let (a, m) = d.table(&roles);
    g.extend([("T_role_table", a), ("T_mrole_table", m)]);

    // Exclusive memberships per role.
    let mut excl_at = Vec::new();
    for ms in &p.role_exclusive {
        let at = d.addr();
        d.u32(len32(ms.len()));
        for (set, member) in ms {
            d.u32(*set);
            d.u32(member.0);
        }
        excl_at.push(at);
    }
    let role_excl = d.addr();
    for at in excl_at {
        d.u32(at);
    }
    g.push(("T_role_excl", role_excl));

    // Rules and their conditions. A condition is one function of the module; engines compile
    // a function in time that grows faster than its length (20,000 terms: 14 s and 3 GiB in
    // wasmtime), so a longer one is refused here rather than there.
    if let Some(r) = p.rules.iter().find(|r| r.cond.as_ref().is_some_and(|c| cond_size(c) > MAX_COND_TERMS)) {
        let terms = r.cond.as_ref().map_or(0, cond_size);
        return Err(WasmError::new(
            "E0901",
            format!(
                "the condition of the rule at {} has {terms} terms, more than the WebAssembly target takes \
             ({MAX_COND_TERMS}); split it over several rules",
                r.at
            ),
        ));
    }
    let mut conds = String::new();
    let mut elems = Vec::new();
    let rules_info: Vec<(u32, u32)> = p
        .rules
        .iter()
        .map(|r| {
            let effect = u32::from(r.effect == Effect::Deny);
            match &r.cond {
                None => (effect, 0),
                Some(c) => {
                    let idx = len32(elems.len());
                    let mut cg = CondGen { data: &mut d, slots: &slots, rid_slot, labels: 0, locals: 0 };
                    let body = cg.bool(c);
                    let locals: String = (0..cg.locals).map(|i| format!(" (local $e{i} i32)")).collect();
                    let _ = writeln!(
                        conds,
                        "  (func $c{idx} (type $cond_t) (local $t i32){locals}\n    (i32.ne {body} (i32.const 0)))"
                    );
                    elems.push(format!("$c{idx}"));
                    (effect, idx + 1)
                }
            }
        })
        .collect();
    d.align();
    let rules_at = d.addr();
    for (e, c) in rules_info {
        d.u32(e);
        d.u32(c);
    }
    g.push(("T_rules", rules_at));

    // Scratch layout after the data.
    d.align();
    let nsets = len32(p.exclusive_sets.len());
    g.push(("T_nsets", nsets));
    let max_segs = INPUT_CAP / 2 + 2;
    let mut at = d.addr().div_ceil(16) * 16;
    let mut region = |name: &'static str, size: u32, g: &mut Vec<(&str, u32)>| {
        g.push((name, at));
        at = (at + size).div_ceil(16) * 16;
    };
    region("S_attrs", (rid_slot + 1) * 4, &mut g);
    region("S_gseen", len32(p.groups.len()).max(1) * 4, &mut g);
    region("S_xseen", nsets.max(1) * 12, &mut g);
    let nodes = len32(p.node_paths.len()).max(1);
    g.push(("T_nnodes", nodes));
    region("S_nodemark", nodes * 8, &mut g);
    region("S_subjects", (len32(p.groups.len()) + 2) * 8, &mut g);
    region("S_segs", max_segs * 16, &mut g);
    region("S_nodes", (max_segs + 1) * 4, &mut g);
    region("S_idbuf", INPUT_CAP, &mut g);
    region("S_pidbuf", INPUT_CAP + 16, &mut g);
    region("S_pidval", INPUT_CAP + 32, &mut g);
    region("S_ridval", INPUT_CAP + 32, &mut g);
    region("S_input", INPUT_CAP, &mut g);
    region("S_output", OUTPUT_CAP * 24, &mut g);
    // Word-wise reads and copies may run up to 7 bytes past the end of a string.
    region("S_pad", 16, &mut g);
    let pages = at.div_ceil(65536);
    g.extend([("S_input_cap", INPUT_CAP), ("S_output_cap", OUTPUT_CAP), ("S_max_segs", max_segs)]);

    // The layout is known when the module is emitted, so the runtime reads it as constants
    // (which the compiler can fold) rather than as globals.
    let mut runtime = RUNTIME.to_string();
    for (name, v) in &g {
        runtime = runtime.replace(&format!("(global.get ${name})"), &format!("(i32.const {})", *v as i32));
    }
    let mut text = String::with_capacity(runtime.len() + conds.len() + 4096);
    let _ = writeln!(text, "(module");
    let _ = writeln!(text, "  (memory (export \"memory\") {pages} {pages})");
    let _ = writeln!(text, "  (table {} funcref)", elems.len());
    if !elems.is_empty() {
        let _ = writeln!(text, "  (elem (i32.const 0) {})", elems.join(" "));
    }
    text.push_str(&runtime);
    text.push_str(&conds);
    text.push_str(")\n");

    // None of these fail for a compiled policy: a failure is a bug of the emitter.
    let internal = |e: String| WasmError::new("E0905", format!("internal error of the WebAssembly emitter: {e}"));
    let mut bytes = wat::parse_str(&text).map_err(|e| internal(format!("the module does not assemble: {e}")))?;
    insert_data_section(&mut bytes, DATA_BASE, &d.bytes).map_err(internal)?;
    validate(&bytes).map_err(internal)?;
    let meta = serde_json::to_vec(&meta(p, slot_names)).map_err(|e| internal(e.to_string()))?;
    append_custom_section(&mut bytes, SECTION, &meta);
    Ok(super::meta::seal(bytes))
}

/// Puts a data section with one active segment (`bytes` at `addr` of memory 0) right after
/// the code section, where WebAssembly 1.0 wants it (before the custom sections `wat`
/// appends). The tables go in as bytes this way, not as escaped text for `wat` to parse.
fn insert_data_section(module: &mut Vec<u8>, addr: u32, bytes: &[u8]) -> Result<(), String> {
    let mut code_end = None;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::CodeSectionStart { range, .. } = payload.map_err(|e| e.to_string())? {
            code_end = Some(range.end);
        }
    }
    let at = code_end.ok_or("internal error: the emitted module has no code section")?;
    let mut segment = vec![1, 0, 0x41]; // one segment: memory 0, offset `i32.const addr; end`
    sleb(i64::from(addr), &mut segment);
    segment.push(0x0b);
    leb(bytes.len(), &mut segment);
    segment.extend_from_slice(bytes);
    let mut section = vec![11];
    leb(segment.len(), &mut section);
    section.extend_from_slice(&segment);
    module.splice(at..at, section);
    Ok(())
}

fn sleb(mut n: i64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0) {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Checks a module against the WebAssembly 1.0 (MVP) feature set.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    let features = wasmparser::WasmFeatures::WASM1;
    wasmparser::Validator::new_with_features(features)
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| format!("the module is not valid WebAssembly 1.0: {e}"))
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn append_custom_section(module: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    module.push(0);
    leb(body.len(), module);
    module.extend_from_slice(&body);
}

fn meta(p: &CompiledPolicy, slots: Vec<String>) -> Meta {
    let attrs = |m: &BTreeMap<String, Ty>| m.iter().map(|(k, t)| (k.clone(), t.to_string())).collect();
    let nodes: Vec<Option<String>> = p.node_paths.clone();
    Meta {
        abi: 1,
        types: p
            .types
            .iter()
            .map(|t| MetaType { name: t.name.clone(), parent: t.parent.map(|x| x.0), attrs: attrs(&t.attrs) })
            .collect(),
        principal_attrs: attrs(&p.principal_attrs),
        context_attrs: attrs(&p.context_attrs),
        roles: p.role_names.clone(),
        groups: p.groups.clone(),
        identities: p
            .identities
            .iter()
            .map(|i| MetaIdentity {
                name: i.name.clone(),
                user_claim: i.user_claim.clone().unwrap_or_else(|| "sub".to_string()),
                groups_claim: i.groups_claim.clone(),
                aliases: {
                    let mut a: Vec<(String, Vec<u32>)> =
                        i.aliases.iter().map(|(v, gs)| (v.clone(), gs.iter().map(|g| g.0).collect())).collect();
                    a.sort();
                    a
                },
            })
            .collect(),
        rules: p
            .rules
            .iter()
            .map(|r| MetaRule {
                role: r.role.0,
                effect: r.effect.as_str().to_string(),
                at: r.at.clone(),
                at_key: r.at_key,
            })
            .collect(),
        chains: p.chains.iter().map(|c| c.iter().map(|r| r.0).collect()).collect(),
        nodes,
        slots,
        exclusive: p.exclusive_sets.iter().map(|s| s.iter().map(|r| r.0).collect()).collect(),
    }
}

/// The most attribute slots of a module: one per distinct attribute name of the principal, the
/// context and the resource types, and one for `resource.id` (a slot is 16 bits in the
/// attribute tables).
const MAX_ATTR_SLOTS: usize = 1 << 16;

/// The most terms (literals, attributes, operators) one condition may have in a module.
pub const MAX_COND_TERMS: usize = 4096;

/// The terms of a condition. Conditions nest at most 200 deep (E0104), so the recursion is
/// bounded.
fn cond_size(c: &Cond) -> usize {
    match c {
        Cond::Not(inner) => 1 + cond_size(inner),
        Cond::And(parts) | Cond::Or(parts) => 1 + parts.iter().map(cond_size).sum::<usize>(),
        Cond::Cmp(_, l, r) => 1 + cond_size(l) + cond_size(r),
        Cond::Lit(_) | Cond::Attr(..) | Cond::PrincipalId | Cond::ResourceId | Cond::Has(..) | Cond::InGroup(_) => 1,
    }
}

/// Generates the WAT of one condition.
struct CondGen<'a> {
    data: &'a mut Data,
    slots: &'a BTreeMap<(Entity, String), u32>,
    rid_slot: u32,
    labels: usize,
    locals: usize,
}

impl CondGen<'_> {
    fn missing(slot: u32) -> String {
        format!("(global.set $missing (i32.const {slot})) (return (i32.const 2))")
    }

    fn slot(&self, e: Entity, name: &str) -> u32 {
        self.slots.get(&(e, name.to_string())).copied().unwrap_or(self.rid_slot)
    }

    /// Code leaving 0 or 1 (any non-zero is true) on the stack.
    fn bool(&mut self, c: &Cond) -> String {
        match c {
            Cond::Lit(Val::Bool(b)) => format!("(i32.const {})", u8::from(*b)),
            Cond::Has(Entity::Principal, n) if n == "id" => "(i32.const 1)".to_string(),
            Cond::Has(Entity::Resource, n) if n == "id" => "(i32.ne (global.get $rid_val) (i32.const 0))".to_string(),
            Cond::Has(e, n) => format!("(i32.ne (call $attr (i32.const {})) (i32.const 0))", self.slot(*e, n)),
            Cond::InGroup(g) => format!("(call $in_group (i32.const {}))", g.0),
            Cond::Not(inner) => format!("(i32.eqz {})", self.bool(inner)),
            Cond::And(parts) | Cond::Or(parts) => {
                let is_and = matches!(c, Cond::And(_));
                self.labels += 1;
                let l = format!("$L{}", self.labels);
                let mut s = format!("(block {l} (result i32)");
                for part in parts {
                    let b = self.bool(part);
                    if is_and {
                        let _ = write!(s, " (drop (br_if {l} (i32.const 0) (i32.eqz {b})))");
                    } else {
                        let _ = write!(s, " (drop (br_if {l} (i32.const 1) {b}))");
                    }
                }
                let _ = write!(s, " (i32.const {}))", u8::from(is_and));
                s
            }
            Cond::Cmp(op, l, r) => {
                let lv = self.val(l);
                let rv = self.val(r);
                match op {
                    CmpOp::Eq => format!("(call $val_eq {lv} {rv})"),
                    CmpOp::Ne => format!("(i32.eqz (call $val_eq {lv} {rv}))"),
                    CmpOp::Lt => format!("(i64.lt_s (i64.load offset=1 {lv}) (i64.load offset=1 {rv}))"),
                    CmpOp::Le => format!("(i64.le_s (i64.load offset=1 {lv}) (i64.load offset=1 {rv}))"),
                    CmpOp::Gt => format!("(i64.gt_s (i64.load offset=1 {lv}) (i64.load offset=1 {rv}))"),
                    CmpOp::Ge => format!("(i64.ge_s (i64.load offset=1 {lv}) (i64.load offset=1 {rv}))"),
                    CmpOp::In => {
                        // The element is evaluated first, as the native evaluator does.
                        let e = self.locals;
                        self.locals += 1;
                        format!("(block (result i32) (local.set $e{e} {lv}) (call $set_has {rv} (local.get $e{e})))")
                    }
                }
            }
            // Attribute reads of type bool.
            other => format!("(i32.load8_u offset=1 {})", self.val(other)),
        }
    }

    /// Code leaving the address of an encoded value on the stack.
    fn val(&mut self, c: &Cond) -> String {
        match c {
            Cond::Lit(v) => format!("(i32.const {})", self.data.value(v)),
            Cond::Attr(e, n) => {
                let slot = self.slot(*e, n);
                format!(
                    "(block (result i32) (local.set $t (call $attr (i32.const {slot}))) (if (i32.eqz (local.get $t)) (then {})) (local.get $t))",
                    Self::missing(slot)
                )
            }
            Cond::PrincipalId => "(global.get $pid_val)".to_string(),
            Cond::ResourceId => format!(
                "(block (result i32) (if (i32.eqz (global.get $rid_val)) (then {})) (global.get $rid_val))",
                Self::missing(self.rid_slot)
            ),
            other => format!("(call $bool_val {})", self.bool(other)),
        }
    }
}
