//! The indexes a decision reads, laid out so that resolving a request touches few memory
//! lines and no lookup waits on another: path types are found among the children of the
//! previous segment's type, actions among the target type's, and the rules of an assigned
//! role for a (type, action) pair are a dense table.
//!
//! The principal id and each group name are one probe of the subject index, whose slots are
//! a cache line each: a slot holds 32 bits of the name's hash, the name itself (when short),
//! and a 256-bit filter of the subject's scope nodes, so that finding a subject and learning
//! that it holds nothing on the request's path (most subjects of a request) reads that line
//! only; the subject's record, with its whole run of assignments, is read when the filter
//! meets the request's chain. A path prefix is one probe of a flat hash index (a slot holds
//! 32 bits of the hash of the prefix's whole text and a record offset) whose record holds the
//! node's type, its chain (its ancestors' node ids and its own) and its path text. A request's
//! path and the path up to its last `/` are hashed in one pass and probed first: most
//! requests name a node or a resource right below one, which then gives the whole chain
//! without following parent links, and the text up to it needs no reading (the node's path
//! text is compared with the request's, so a hash collision cannot pick another node). Other
//! paths are scanned segment by segment and their prefixes probed from the deepest.
//!
//! The scope tree is also kept as a table keyed by (parent node, type, id), which the full
//! validator walks for paths with quoted ids.

use super::{CType, EVERYONE, Grants, NodeId, SubjectId};
use crate::check::ir::{ActionId, GroupId, RoleId, TypeId};
use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

#[derive(Debug, Clone, Default)]
pub(crate) struct Lookup {
    /// Root types, and the child types of each type.
    roots: Vec<TypeKey>,
    kids: Vec<Vec<TypeKey>>,
    /// Each type's actions with the (type, action) pair they make.
    type_actions: Vec<Vec<(Name, ActionId, u32)>>,
    /// `type * actions + action` -> index of the (type, action) pair, or `NO_PAIR`.
    pairs: Vec<u32>,
    actions: usize,
    npairs: usize,
    /// `role * npairs + pair` -> range of `CompiledPolicy::effective`.
    role_rules: Vec<(u32, u32)>,
    /// The scope tree: nodes by (parent, type, id), with each node's key by node id.
    nodes: HashTable<NodeId>,
    /// Ids of up to 24 bytes are stored inline: comparing them reads no other memory.
    node_keys: Vec<(NodeId, TypeId, CompactString)>,
    /// Subject slots (see [`SubjectSlot`]), by name: principal ids that assignments name,
    /// and every group; everyone's slot follows the probed ones.
    subjects: SubjectIndex,
    /// Subject records: each subject's rows (see [`subject_record`]).
    subject_records: Table,
    /// Each subject's slot, by subject id.
    slot_of: Vec<u32>,
    /// Everyone's slot.
    everyone: usize,
    /// Scope nodes whose ids need no quotes (the only ones an unquoted request path can
    /// name), by [`prefix_hash`] of their path.
    prefixes: FlatIndex,
    /// Scope node records (see [`Lookup::build_prefixes`]).
    prefix_records: Table,
    /// By type: whether some node of that type is in `prefixes` (others need no probe).
    scoped: Vec<bool>,
}

/// A name compared without a call to `memcmp`: a name of up to 16 bytes as its length and
/// two (possibly overlapping) words that together cover every byte, so two short names are
/// equal exactly when their `Name`s are; a longer name keeps its length and first and last
/// eight bytes, and equal `Name`s must then be confirmed on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Name(u64, u64, usize);

impl Name {
    pub(crate) fn of(s: &str) -> Name {
        Name::of_bytes(s.as_bytes())
    }

    fn of_bytes(b: &[u8]) -> Name {
        let n = b.len();
        let byte = |at: usize| u64::from(b.get(at).copied().unwrap_or(0));
        match n {
            0 => Name(0, 0, 0),
            1..=3 => Name(byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16, 0, n),
            4..=7 => Name(word::<4>(b, 0), word::<4>(b, n - 4), n),
            _ => Name(word::<8>(b, 0), word::<8>(b, n - 8), n),
        }
    }

    /// Whether equal `Name`s mean equal names without looking at the text.
    pub(crate) fn short(&self) -> bool {
        self.2 <= 16
    }
}

/// A type name as a path segment is tested against it: the segment's first eight bytes are
/// loaded once, and each candidate type compares its own first bytes (`head` under `mask`)
/// and, for a name longer than eight bytes, its last eight (`tail`); a name longer than 16
/// bytes is then confirmed on the text.
#[derive(Debug, Clone, Copy)]
struct TypeKey {
    len: usize,
    head: u64,
    mask: u64,
    tail: u64,
    ty: TypeId,
}

impl TypeKey {
    fn new(name: &str, ty: TypeId) -> TypeKey {
        let b = name.as_bytes();
        let len = b.len();
        let mask = if len >= 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 };
        let tail = if len > 8 { word::<8>(b, len - 8) } else { 0 };
        TypeKey { len, head: head_word(b, 0), mask, tail, ty }
    }
}

/// The eight bytes of `b` from `at` as a little-endian number, zeros past its end.
#[inline(always)]
fn head_word(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        Some(w) => u64::from_le_bytes(w),
        None => {
            let mut x = [0u8; 8];
            x.iter_mut().zip(b.get(at..).unwrap_or(&[])).for_each(|(o, &c)| *o = c);
            u64::from_le_bytes(x)
        }
    }
}

/// Whether two byte strings are equal: one of 4 to 16 bytes as two (possibly overlapping)
/// words that cover every byte, without a call to `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let words = |w: fn(&[u8], usize) -> u64, k: usize| w(a, 0) == w(b, 0) && w(a, n - k) == w(b, n - k);
    match n {
        4..=7 => words(word::<4>, 4),
        8..=16 => words(word::<8>, 8),
        _ => a == b,
    }
}

/// The `K` bytes of `b` from `at` as a little-endian number (0 when they run past its end).
fn word<const K: usize>(b: &[u8], at: usize) -> u64 {
    b.get(at..at + K).and_then(|w| <[u8; K]>::try_from(w).ok()).map_or(0, |w| {
        let mut x = [0u8; 8];
        if let Some(head) = x.get_mut(..K) {
            head.copy_from_slice(&w);
        }
        u64::from_le_bytes(x)
    })
}

/// The names a request may give its subjects: the groups by id, the principal ids that
/// assignments name with their subject ids.
pub(crate) struct SubjectNames<'a> {
    pub groups: &'a [String],
    pub principals: &'a FxHashMap<CompactString, SubjectId>,
}

/// An open-addressing hash index: each slot is `hash >> 32` in its high half and
/// `offset + 1` in its low half (0 is empty), probed linearly from `hash & mask`; at most half
/// full, so a miss usually ends on the first slot line. Built in a [`FlatBuilder`].
#[derive(Debug, Clone, Default)]
struct FlatIndex {
    /// The slots as little-endian `u64`s.
    slots: Table,
    mask: usize,
}

/// A [`FlatIndex`] being filled.
struct FlatBuilder {
    slots: Vec<u64>,
    mask: usize,
}

impl FlatBuilder {
    fn with_capacity(n: usize) -> FlatBuilder {
        let cap = (n.max(1) * 2).next_power_of_two();
        FlatBuilder { slots: vec![0; cap], mask: cap - 1 }
    }

    /// Adds an entry; an offset that does not fit is left out (its lookups then find
    /// nothing, which denies).
    fn insert(&mut self, hash: u64, offset: usize) {
        let Some(value) = u32::try_from(offset).ok().and_then(|o| o.checked_add(1)) else { return };
        let mut i = (hash as usize) & self.mask;
        while let Some(slot) = self.slots.get_mut(i) {
            if *slot == 0 {
                *slot = (hash >> 32 << 32) | u64::from(value);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    fn finish(self) -> FlatIndex {
        let bytes = self.slots.iter().flat_map(|s| s.to_le_bytes()).collect();
        FlatIndex { slots: Table::new(bytes), mask: self.mask }
    }
}

impl FlatIndex {
    /// Asks for the slot line that [`FlatIndex::find`] reads first for `hash`.
    #[inline(always)]
    fn prefetch(&self, hash: u64) {
        prefetch(&self.slots, ((hash as usize) & self.mask) * 8);
    }

    /// The first entry of `hash` whose offset `is` accepts.
    fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let tag = hash >> 32;
        let slots = self.slots.as_chunks::<8>().0;
        let mut i = (hash as usize) & self.mask;
        loop {
            let slot = u64::from_le_bytes(*slots.get(i)?);
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag {
                let offset = (slot & 0xffff_ffff) as usize - 1;
                if is(offset) {
                    return Some(offset);
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Tables from this size on are placed in huge pages where the system gives them.
const HUGE_TABLE: usize = 1 << 20;
/// The size of a transparent huge page on x86-64 (and most arm64 systems).
const HUGE_PAGE: usize = 2 << 20;

/// The bytes of a read-only table that requests probe at random. A large one (the subject
/// and scope records and their hash slots of a policy with many assignments) is copied into
/// an anonymous mapping advised for transparent huge pages (`MADV_HUGEPAGE`, Linux), so that
/// a decision's few reads into tens of MiB do not each miss the TLB: without it, the 1M
/// assignment workload resolves a request about 7% slower. Where mapping fails, or off Linux, the
/// bytes stay on the heap.
#[derive(Debug)]
enum Table {
    /// The bytes from the given offset on, where a cache line starts.
    Heap(Vec<u8>, usize),
    Mapped(memmap2::Mmap),
}

impl Default for Table {
    fn default() -> Table {
        Table::Heap(Vec::new(), 0)
    }
}

impl Table {
    fn new(bytes: Vec<u8>) -> Table {
        if bytes.len() < HUGE_TABLE {
            return Table::aligned(&bytes);
        }
        match Table::map(&bytes) {
            Ok(map) => Table::Mapped(map),
            Err(_) => Table::aligned(&bytes),
        }
    }

    /// A copy of `bytes` on the heap, starting a cache line (as records and slots are placed
    /// relative to the table's start).
    fn aligned(bytes: &[u8]) -> Table {
        let mut v: Vec<u8> = Vec::with_capacity(bytes.len() + LINE);
        // The capacity is enough: `v` is not moved by what follows.
        let pad = (LINE - v.as_ptr() as usize % LINE) % LINE;
        v.resize(pad, 0);
        v.extend_from_slice(bytes);
        Table::Heap(v, pad)
    }

    fn map(bytes: &[u8]) -> std::io::Result<memmap2::Mmap> {
        // A whole number of huge pages, which the system then aligns to them: the table is
        // followed by zeros, which no offset in the tables points to.
        let mut map = memmap2::MmapOptions::new().len(bytes.len().next_multiple_of(HUGE_PAGE)).map_anon()?;
        // Advice only: without huge pages the table works the same.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        map.get_mut(..bytes.len()).ok_or(std::io::ErrorKind::InvalidInput)?.copy_from_slice(bytes);
        map.make_read_only()
    }
}

impl Clone for Table {
    fn clone(&self) -> Table {
        Table::new(self.to_vec())
    }
}

impl std::ops::Deref for Table {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Table::Heap(bytes, start) => bytes.get(*start..).unwrap_or(&[]),
            Table::Mapped(map) => map,
        }
    }
}

/// A subject's assignments, as its slot in the subject index (or a prepared subject's copy
/// of it) gives them: the slot's [`Filter`] says whether a request's chain may meet them
/// without reading the record; [`held`] reads the rows themselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// The slot's first `SLOT_CORE` bytes: all but the name.
    slot: &'a [u8; SLOT_CORE],
}

impl Default for Rows<'_> {
    fn default() -> Self {
        Rows { slot: &EMPTY_CORE }
    }
}

/// A copy of a subject's slot, which a prepared subject keeps beside its other parts: deciding
/// on it then reads no slot of the policy's index (at 1M assignments, a cache miss each). A
/// subject of up to `KEPT_ROWS` rows keeps its rows too (the copied slot then points at the
/// start of them), so that deciding reads no record of the policy's either.
#[derive(Debug, Clone)]
pub(crate) struct SlotCopy {
    slot: [u8; SLOT_CORE],
    rows: Option<Box<[u8]>>,
}

/// Up to this many rows (8 bytes each), a prepared subject keeps a copy of them.
const KEPT_ROWS: usize = 64;

impl SlotCopy {
    pub(crate) fn rows(&self) -> Rows<'_> {
        Rows { slot: &self.slot }
    }

    /// The records its rows are read from: its own copy, or (`None`) the policy's.
    pub(crate) fn records(&self) -> Option<&[u8]> {
        self.rows.as_deref()
    }
}

/// A subject's rows as (node, role), sorted by node: in its record, the nodes (4 bytes each)
/// and then the roles, so that finding the held ones reads only the nodes.
#[derive(Debug, Clone, Copy, Default)]
struct Run<'a> {
    nodes: &'a [[u8; 4]],
    roles: &'a [[u8; 4]],
}

/// Bit `node % (64 * FILTER_WORDS)` of each node, a subject's ([`Rows`]) or a request chain's
/// ([`Chain::filter`]). A subject none of whose bits the chain shares holds nothing there:
/// its record is not read.
pub(crate) type Filter = [u64; FILTER_WORDS];
const FILTER_WORDS: usize = 4;

fn filter_of(nodes: impl Iterator<Item = NodeId>) -> Filter {
    let mut f = [0; FILTER_WORDS];
    nodes.for_each(|n| add_to_filter(&mut f, n));
    f
}

fn add_to_filter(f: &mut Filter, n: NodeId) {
    if let Some(w) = f.get_mut((n as usize >> 6) & (FILTER_WORDS - 1)) {
        *w |= 1 << (n & 63);
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32s::<1>(bytes, at)[0]
}

/// `N` little-endian `u32`s from `at` (zeros when the bytes end before them): one bounds
/// check for all.
fn u32s<const N: usize>(bytes: &[u8], at: usize) -> [u32; N] {
    let mut out = [0; N];
    if let Some(words) = bytes.get(at..).and_then(|b| b.as_chunks::<4>().0.get(..N)) {
        for (o, w) in out.iter_mut().zip(words) {
            *o = u32::from_le_bytes(*w);
        }
    }
    out
}

/// `N` little-endian `u64`s from `at` (zeros when the bytes end before them).
fn u64s<const N: usize>(bytes: &[u8], at: usize) -> [u64; N] {
    let mut out = [0; N];
    if let Some(words) = bytes.get(at..).and_then(|b| b.as_chunks::<8>().0.get(..N)) {
        for (o, w) in out.iter_mut().zip(words) {
            *o = u64::from_le_bytes(*w);
        }
    }
    out
}

impl<'a> Rows<'a> {
    /// Whether the subject holds no role anywhere.
    pub(crate) fn is_empty(&self) -> bool {
        SubjectSlot::filter(self.slot).iter().all(|&w| w == 0)
    }

    /// The rows, read from the subject's record in `records`.
    fn run<'r>(&self, records: &'r [u8]) -> Run<'r> {
        subject_record(records, SubjectSlot::record(self.slot), SubjectSlot::count(self.slot)).1
    }

    #[cfg(test)]
    pub(crate) fn len(&self, l: &Lookup) -> usize {
        self.run(&l.subject_records).len()
    }

    #[cfg(test)]
    fn iter<'r>(&self, l: &'r Lookup) -> impl Iterator<Item = (NodeId, RoleId)> + 'r {
        let run = self.run(&l.subject_records);
        run.nodes.iter().zip(run.roles).map(|(&n, &r)| (u32::from_le_bytes(n), RoleId(u32::from_le_bytes(r))))
    }
}

impl<'a> Run<'a> {
    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The rows from the `i`th on.
    fn from(&self, i: usize) -> Run<'a> {
        Run { nodes: self.nodes.get(i..).unwrap_or(&[]), roles: self.roles.get(i..).unwrap_or(&[]) }
    }

    fn node(&self, i: usize) -> NodeId {
        self.nodes.get(i).map_or(NodeId::MAX, |&n| u32::from_le_bytes(n))
    }

    fn role(&self, i: usize) -> RoleId {
        RoleId(self.roles.get(i).map_or(u32::MAX, |&r| u32::from_le_bytes(r)))
    }
}

/// A subject's slot in the subject index, one cache line, so that finding a subject and
/// learning whether it may hold anything on a request's path reads that line only (its record
/// is read when it may). Bytes: 0..8 the index entry (`hash >> 32` high, record offset + 1
/// low; 0 for an empty slot), then the [`Filter`], the group (4 bytes, `NO_GROUP` for a
/// principal id or everyone), the record's row count (4 bytes, so that its rows are found
/// without reading the record first), the name's length (1 byte, `LONG_NAME` when over
/// `SLOT_NAME` bytes, and then compared in the record) and the name.
struct SubjectSlot;

const SUBJECT_SLOT: usize = 64;
const SLOT_GROUP: usize = 8 + FILTER_WORDS * 8;
const SLOT_COUNT: usize = SLOT_GROUP + 4;
/// The bytes of a slot that [`Rows`] read (and a [`SlotCopy`] keeps): all but the name.
const SLOT_CORE: usize = SLOT_COUNT + 4;
const SLOT_LEN: usize = SLOT_CORE;
const SLOT_NAME_AT: usize = SLOT_LEN + 1;
const SLOT_NAME: usize = SUBJECT_SLOT - SLOT_NAME_AT;
const LONG_NAME: u8 = u8::MAX;
static EMPTY_SLOT: [u8; SUBJECT_SLOT] = [0; SUBJECT_SLOT];
static EMPTY_CORE: [u8; SLOT_CORE] = [0; SLOT_CORE];

impl SubjectSlot {
    fn write(hash: u64, record: u32, group: u32, name: &str, count: u32, filter: Filter) -> [u8; SUBJECT_SLOT] {
        let entry = (hash >> 32 << 32) | u64::from(record.saturating_add(1));
        let mut bytes = Vec::with_capacity(SUBJECT_SLOT);
        bytes.extend_from_slice(&entry.to_le_bytes());
        filter.iter().for_each(|w| bytes.extend_from_slice(&w.to_le_bytes()));
        bytes.extend_from_slice(&group.to_le_bytes());
        bytes.extend_from_slice(&count.to_le_bytes());
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= SLOT_NAME => {
                bytes.push(len);
                bytes.extend_from_slice(name.as_bytes());
            }
            _ => bytes.push(LONG_NAME),
        }
        let mut slot = [0; SUBJECT_SLOT];
        slot.iter_mut().zip(bytes).for_each(|(o, b)| *o = b);
        slot
    }

    fn entry<const N: usize>(slot: &[u8; N]) -> u64 {
        u64s::<1>(slot, 0)[0]
    }

    fn record<const N: usize>(slot: &[u8; N]) -> usize {
        ((Self::entry(slot) & 0xffff_ffff) as usize).wrapping_sub(1)
    }

    fn filter<const N: usize>(slot: &[u8; N]) -> Filter {
        u64s::<FILTER_WORDS>(slot, 8)
    }

    fn group<const N: usize>(slot: &[u8; N]) -> u32 {
        u32_at(slot, SLOT_GROUP)
    }

    fn count<const N: usize>(slot: &[u8; N]) -> usize {
        u32_at(slot, SLOT_COUNT) as usize
    }

    #[inline(always)]
    fn rows(slot: &[u8; SUBJECT_SLOT]) -> Rows<'_> {
        Rows { slot: Self::core(slot) }
    }

    fn core(slot: &[u8; SUBJECT_SLOT]) -> &[u8; SLOT_CORE] {
        slot.first_chunk().unwrap_or(&EMPTY_CORE)
    }

    /// Whether the slot is `name`'s (a long name is compared in the record).
    #[inline(always)]
    fn named(slot: &[u8; SUBJECT_SLOT], records: &[u8], name: &[u8]) -> bool {
        let len = slot.get(SLOT_LEN).copied().unwrap_or(0);
        if name.len() <= SLOT_NAME {
            usize::from(len) == name.len()
                && slot.get(SLOT_NAME_AT..SLOT_NAME_AT + name.len()).is_some_and(|b| same(b, name))
        } else {
            len == LONG_NAME && same(subject_record(records, Self::record(slot), Self::count(slot)).0, name)
        }
    }
}

/// The open-addressing index of subject slots, probed linearly from `hash & mask` (at most
/// half full); slot `mask + 1`, never probed, is everyone's.
#[derive(Debug, Clone, Default)]
struct SubjectIndex {
    slots: Table,
    mask: usize,
}

impl SubjectIndex {
    /// Asks for the slot that [`SubjectIndex::find`] reads first for `hash`.
    #[inline(always)]
    fn prefetch(&self, hash: u64) {
        prefetch(&self.slots, ((hash as usize) & self.mask) * SUBJECT_SLOT);
    }

    /// The slot of the subject named `name` (a group name or a principal id) whose hash is
    /// `hash`.
    #[inline(always)]
    fn find<'a>(&'a self, records: &[u8], hash: u64, group: bool, name: &str) -> Option<&'a [u8; SUBJECT_SLOT]> {
        let slots = self.slots.as_chunks::<SUBJECT_SLOT>().0;
        let tag = hash >> 32;
        let mut i = (hash as usize) & self.mask;
        loop {
            let slot = slots.get(i)?;
            let entry = SubjectSlot::entry(slot);
            if entry == 0 {
                return None;
            }
            if entry >> 32 == tag
                && (SubjectSlot::group(slot) != NO_GROUP) == group
                && SubjectSlot::named(slot, records, name.as_bytes())
            {
                return Some(slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn slot(&self, i: usize) -> &[u8; SUBJECT_SLOT] {
        self.slots.as_chunks::<SUBJECT_SLOT>().0.get(i).unwrap_or(&EMPTY_SLOT)
    }
}

const NO_GROUP: u32 = u32::MAX;
/// A run of up to this many rows is scanned whole (up to the path's deepest node).
const SHORT_ROWS: usize = 8;
/// Up to this many rows (below the path's second node) a subject's run is scanned up to the
/// path's deepest node; beyond, each node of the path is found by binary search.
const SCAN_ROWS: usize = 48;
/// Subject record: the rows (see [`Run`]; their count is in the subject's slot), then, for a
/// name too long for the slot, its length (4 bytes) and the name.
const LONG_KEY_HEAD: usize = 4;
/// A cache line: records are placed so as not to cross more of them than they must.
const LINE: usize = 64;

/// Pads `out` with zeros (which no offset points to) so that a record of `len` bytes
/// written next crosses no line boundary it need not: one that fits in a line is not split,
/// a longer one starts a line. Offsets count from the table's start, which starts a line
/// (see [`Table`]). With the scope types' skip, this
/// made a whole request at 1M assignments about 9% faster (fewer lines per request to miss).
fn start_record(out: &mut Vec<u8>, len: usize) {
    let used = out.len() % LINE;
    if used != 0 && used + len.min(LINE) > LINE {
        out.resize(out.len() + LINE - used, 0);
    }
}

/// A [`subject_hash`].
pub(crate) type SubjectHash = u64;

/// Asks for the cache line holding `bytes[at]` ([`prefetch_line`]; nothing when `at` is past
/// the end).
#[inline(always)]
fn prefetch(bytes: &[u8], at: usize) {
    if let Some(b) = bytes.get(at) {
        prefetch_line(b);
    }
}

/// Asks the processor to bring the cache line that holds `x` into its caches. A hint: it
/// reads nothing the program sees, never faults, and does not hold up the instructions after
/// it while the line is fetched, so several misses of one decision overlap instead of
/// following each other. Stable Rust has no safe prefetch (`std::hint::prefetch_read` is
/// unstable), hence the crate's one `unsafe` block; on other processors than x86-64 this does
/// nothing.
#[inline(always)]
pub(crate) fn prefetch_line<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `prefetcht0` is part of SSE, which every x86-64 processor has, and it
    // dereferences nothing (the address is that of a live reference all the same).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(x).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// The hash of a name as a principal id (`group == false`) or a group name.
fn subject_hash(group: bool, name: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(u8::from(group));
    h.write(name.as_bytes());
    h.finish()
}

/// The hash of a path prefix's whole text, by which the scope node index finds it: its
/// eight-byte words (the last one padded with zeros) folded in one at a time, then the
/// length, mixed by a widening multiply. [`prefix_hashes`] gives the same for a path and a
/// prefix of it in one pass.
#[inline(always)]
pub(crate) fn prefix_hash(prefix: &[u8]) -> u64 {
    prefix_hashes(prefix, prefix.len()).0
}

/// The [`prefix_hash`]es of `path` and of its first `cut` bytes (`cut <= path.len()`).
#[inline(always)]
pub(crate) fn prefix_hashes(path: &[u8], cut: usize) -> (u64, u64) {
    const STEP: u64 = 0x9e37_79b9_7f4a_7c15;
    const MIX: u64 = 0x2d35_8dcc_aa6c_78a5;
    let fold = |h: u64, w: u64| (h ^ w).wrapping_mul(STEP).rotate_left(29);
    let finish = |h: u64, len: usize| {
        let m = u128::from(h ^ len as u64) * u128::from(MIX);
        (m as u64) ^ ((m >> 64) as u64)
    };
    // The prefix ends in word `cut / 8`, with `cut % 8` of its bytes: the state before that
    // word, with those bytes folded in (zeros above them).
    let (cut_word, cut_bytes) = (cut / 8, cut % 8);
    let at_cut_of = |h: u64, w: u64| if cut_bytes == 0 { h } else { fold(h, w & ((1 << (8 * cut_bytes)) - 1)) };
    let mut h = 0;
    let mut at_cut = 0;
    let mut words = path.chunks_exact(8);
    for (k, w) in (&mut words).enumerate() {
        let w = w.try_into().map_or(0, u64::from_le_bytes);
        if k == cut_word {
            at_cut = at_cut_of(h, w);
        }
        h = fold(h, w);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The last bytes, zeros above them: the path's last word shifted down, or a short
        // path read byte by byte.
        let w = match path.len().checked_sub(8) {
            Some(from) => word::<8>(path, from) >> (8 * (8 - rest.len())),
            None => head_word(rest, 0),
        };
        if path.len() / 8 == cut_word {
            at_cut = at_cut_of(h, w);
        }
        h = fold(h, w);
    } else if path.len() / 8 == cut_word {
        at_cut = h;
    }
    (finish(h, path.len()), finish(at_cut, cut))
}

/// Where the last `/` of `path` is, found eight bytes at a time from its end.
#[inline(always)]
pub(crate) fn last_slash(path: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW: u64 = ONES * 0x7f;
    let mut end = path.len();
    while end > 0 {
        let start = end.saturating_sub(8);
        // The eight bytes before `end`, or the path's first few and zeros (no `/`) above.
        let w = if end >= 8 { word::<8>(path, start) } else { head_word(path.get(..end)?, 0) };
        // The high bit of each byte that is a `/`, exactly (no borrow runs between bytes, so
        // a `.`, 0x2e, beside a `/` is not taken for one).
        let x = w ^ (ONES * u64::from(b'/'));
        let found = !(((x & LOW).wrapping_add(LOW)) | x | LOW);
        if found != 0 {
            return Some(start + (63 - found.leading_zeros() as usize) / 8);
        }
        end = start;
    }
    None
}

/// Paths with up to this many `type:id` segments whose type has scope nodes (the only ones
/// probed) are resolved by the fast resolver; longer ones by the full validator.
pub(crate) const FAST_SEGMENTS: usize = 8;
/// Paths of up to this many bytes are resolved by the fast resolver (a prefix record keeps
/// its path's length in 16 bits).
pub(crate) const FAST_PATH: usize = u16::MAX as usize;

/// One whole `type:id` segment of a request path, as the fast resolver scanned it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Segment<'a> {
    /// The path's text up to and including this segment.
    pub prefix: &'a [u8],
    /// The [`prefix_hash`] of `prefix`.
    pub hash: u64,
}

const NO_PAIR: u32 = u32::MAX;

fn node_hash(parent: NodeId, t: TypeId, id: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64((u64::from(parent) << 32) | u64::from(t.0));
    h.write(id.as_bytes());
    h.finish()
}

/// A request's scope nodes (sorted), with a 64-bit mask of them (`node % 64`) that
/// [`scan`] tests each row against before comparing nodes, and their [`Filter`]: made once
/// per request, read for each of its subjects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain<'a> {
    nodes: &'a [NodeId],
    mask: u64,
    /// The nodes' [`Filter`], to test against a subject's.
    filter: Filter,
}

impl<'a> Chain<'a> {
    #[inline(always)]
    pub(crate) fn new(nodes: &'a [NodeId]) -> Chain<'a> {
        Chain::with_filter(nodes, filter_of(nodes.iter().copied()))
    }

    /// The chain of `nodes` whose [`Filter`] is `filter` (kept from [`Chain::filter`]).
    pub(crate) fn with_filter(nodes: &'a [NodeId], filter: Filter) -> Chain<'a> {
        // Bit `node % 64` of a node is its filter bit's place in its word.
        Chain { nodes, mask: filter.iter().fold(0, |m, w| m | w), filter }
    }

    #[cfg(test)]
    pub(crate) fn nodes(&self) -> &'a [NodeId] {
        self.nodes
    }

    pub(crate) fn filter(&self) -> Filter {
        self.filter
    }
}

/// [`held`] for a short run: every row up to the deepest of `nodes` (both are
/// sorted), each first tested against `mask` (which covers at least `nodes`), and only then
/// compared with the nodes themselves. Always inlined: since the held test moved to the
/// subject's filter, the compiler no longer inlined it, and the call cost more than the scan.
#[inline(always)]
fn scan(rows: Run<'_>, nodes: &[NodeId], mask: u64, mut f: impl FnMut(NodeId, RoleId)) {
    let Some(&last) = nodes.last() else { return };
    for (i, &n) in rows.nodes.iter().enumerate() {
        let n = u32::from_le_bytes(n);
        if n > last {
            break;
        }
        if mask >> (n & 63) & 1 != 0 && nodes.contains(&n) {
            f(n, rows.role(i));
        }
    }
}

/// [`held`] for a longer run: a binary search per node, each starting where the
/// previous one ended (nodes ascend).
fn search(rows: Run<'_>, nodes: &[NodeId], mut f: impl FnMut(NodeId, RoleId)) {
    let mut from = 0;
    for &n in nodes {
        from = take(rows, from, n, &mut f);
    }
}

/// Jumps to the rows of node `n` at or after row `from` by binary search (without branching
/// on the comparisons), calls `f` for each, and returns the row after them.
fn take(rows: Run<'_>, from: usize, n: NodeId, f: &mut impl FnMut(NodeId, RoleId)) -> usize {
    let rest = rows.nodes.get(from..).unwrap_or(&[]);
    emit(rows, from + rest.partition_point(|&m| u32::from_le_bytes(m) < n), n, f)
}

/// Calls `f` for each row of node `n` from row `at` on, and returns the row after them.
/// Always inlined: called apart, with the rule applying `f` inlined into it, its entry and
/// exit cost some 40 instructions a call (`verdict` at M -67 inlined).
#[inline(always)]
fn emit(rows: Run<'_>, mut at: usize, n: NodeId, f: &mut impl FnMut(NodeId, RoleId)) -> usize {
    while rows.node(at) == n {
        f(n, rows.role(at));
        at += 1;
    }
    at
}

/// A prefix record's head (its depth and its path's length, 16 bits each) and its node's type
/// precede its chain.
const PREFIX_HEAD: usize = 8;

/// The node's type, chain (node ids, root-most first) and path text of the prefix record at
/// `at`.
#[inline]
fn prefix_record(records: &[u8], at: usize) -> (TypeId, &[[u8; 4]], &[u8]) {
    let head = u32_at(records, at) as usize;
    let (depth, len) = (head & 0xffff, head >> 16);
    let chain_at = at + PREFIX_HEAD;
    let chain = records.get(chain_at..chain_at + depth * 4).unwrap_or(&[]);
    let path = records.get(chain_at + depth * 4..chain_at + depth * 4 + len).unwrap_or(&[]);
    (TypeId(u32_at(records, at + 4)), chain.as_chunks::<4>().0, path)
}

/// The subject record at `at` of `records`, of `count` rows: its name (empty when it is
/// kept in the slot) and its rows.
#[inline]
fn subject_record(records: &[u8], at: usize, count: usize) -> (&[u8], Run<'_>) {
    let nodes = records.get(at..at + count * 4).unwrap_or(&[]);
    let roles = records.get(at + count * 4..at + count * 8).unwrap_or(&[]);
    (long_key(records, at + count * 8), Run { nodes: nodes.as_chunks::<4>().0, roles: roles.as_chunks::<4>().0 })
}

/// The long name at `at` of the subject records, after a record's rows.
fn long_key(records: &[u8], at: usize) -> &[u8] {
    let len = u32_at(records, at) as usize;
    records.get(at + LONG_KEY_HEAD..at + LONG_KEY_HEAD + len).unwrap_or(&[])
}

impl Lookup {
    /// Builds the indexes. `role_table` gives each (role, type, action) its rules;
    /// `node_keys[n]` is node `n`'s (parent, type, id) (node 0, everywhere, has a dummy key).
    pub(super) fn build(
        types: &[CType],
        action_names: &[String],
        roles: usize,
        role_table: impl Iterator<Item = ((RoleId, TypeId, ActionId), (u32, u32))>,
        node_keys: Vec<(NodeId, TypeId, CompactString)>,
        grants: &Grants,
        names: SubjectNames<'_>,
    ) -> Lookup {
        let actions = action_names.len();
        let mut l = Lookup { kids: vec![Vec::new(); types.len()], actions, ..Lookup::default() };
        l.build_subjects(grants, names.groups, names.principals);
        l.build_prefixes(types, &node_keys);
        for (i, t) in types.iter().enumerate() {
            let entry = TypeKey::new(&t.name, TypeId::from_idx(i));
            match t.parent {
                None => l.roots.push(entry),
                Some(p) => {
                    if let Some(k) = l.kids.get_mut(p.idx()) {
                        k.push(entry);
                    }
                }
            }
        }
        l.pairs = vec![NO_PAIR; types.len() * actions];
        for (ti, t) in types.iter().enumerate() {
            let mut own = Vec::new();
            for a in &t.actions {
                if let Some(slot) = l.pairs.get_mut(ti * actions + a.idx()) {
                    *slot = u32::try_from(l.npairs).unwrap_or(NO_PAIR);
                    let name = action_names.get(a.idx()).map_or(Name::default(), |n| Name::of(n));
                    own.push((name, *a, *slot));
                    l.npairs += 1;
                }
            }
            l.type_actions.push(own);
        }
        l.role_rules = vec![(0, 0); roles * l.npairs];
        for ((r, t, a), range) in role_table {
            let Some(&pair) = l.pairs.get(t.idx() * actions + a.idx()) else { continue };
            if let Some(slot) = l.role_rules.get_mut(r.idx() * l.npairs + pair as usize) {
                *slot = range;
            }
        }
        l.nodes = HashTable::with_capacity(node_keys.len());
        for (n, (parent, t, id)) in node_keys.iter().enumerate().skip(1) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            l.nodes.insert_unique(node_hash(*parent, *t, id), n, |&m| {
                node_keys.get(m as usize).map_or(0, |(p, t, id)| node_hash(*p, *t, id))
            });
        }
        l.node_keys = node_keys;
        l
    }

    /// Writes one record per subject (everyone, each group, each principal id) and indexes
    /// the names.
    fn build_subjects(&mut self, grants: &Grants, groups: &[String], principals: &FxHashMap<CompactString, SubjectId>) {
        let total = 1 + groups.len() + principals.len();
        let mut names: Vec<(&str, u32)> = vec![("", NO_GROUP); total];
        for (g, name) in groups.iter().enumerate() {
            if let Some(slot) = names.get_mut(g + 1) {
                *slot = (name.as_str(), u32::try_from(g).unwrap_or(NO_GROUP));
            }
        }
        for (id, &s) in principals {
            if let Some(slot) = names.get_mut(s as usize) {
                *slot = (id.as_str(), NO_GROUP);
            }
        }
        let cap = (total.max(1) * 2).next_power_of_two();
        let mask = cap - 1;
        let mut slots = vec![[0u8; SUBJECT_SLOT]; cap + 1];
        let mut out: Vec<u8> = Vec::new();
        let mut rows = grants.iter().peekable();
        let mut record: Vec<u8> = Vec::new();
        let mut roles: Vec<u8> = Vec::new();
        for (s, (name, group)) in names.into_iter().enumerate() {
            let everyone = s as u32 == EVERYONE;
            record.clear();
            let (mut count, mut filter) = (0u32, [0; FILTER_WORDS]);
            while let Some((&(_, node), held)) = rows.next_if(|((subject, _), _)| *subject as usize == s) {
                add_to_filter(&mut filter, node);
                for r in held {
                    record.extend_from_slice(&node.to_le_bytes());
                    roles.extend_from_slice(&r.0.to_le_bytes());
                    count += 1;
                }
            }
            record.append(&mut roles);
            // A name that fits in the slot is compared there and not kept in the record.
            if name.len() > SLOT_NAME {
                record.extend_from_slice(&u32::try_from(name.len()).unwrap_or(0).to_le_bytes());
                record.extend_from_slice(name.as_bytes());
            }
            start_record(&mut out, record.len());
            let at = u32::try_from(out.len()).ok().filter(|&a| a < u32::MAX);
            out.extend_from_slice(&record);
            let hash = if everyone { 0 } else { subject_hash(group != NO_GROUP, name) };
            // Everyone's slot is the last, which no probe reaches. A subject whose record offset
            // does not fit has no slot: it is found nowhere, which denies.
            let placed = at.map(|at| {
                let mut i = if everyone { cap } else { (hash as usize) & mask };
                while !everyone && slots.get(i).is_some_and(|t| SubjectSlot::entry(t) != 0) {
                    i = (i + 1) & mask;
                }
                if let Some(t) = slots.get_mut(i) {
                    *t = SubjectSlot::write(hash, at, group, name, count, filter);
                }
                i
            });
            self.slot_of.push(placed.and_then(|i| u32::try_from(i).ok()).unwrap_or(u32::MAX));
        }
        self.subjects = SubjectIndex { slots: Table::new(slots.into_iter().flatten().collect()), mask };
        self.subject_records = Table::new(out);
        self.everyone = cap;
    }

    /// Indexes every node whose path has only unquoted ids by the hash of its path. Each
    /// node's record holds its chain (the node ids from the root-most down to it) and its
    /// path text, so a lookup reads one slot and one record and follows no parent links.
    fn build_prefixes(&mut self, types: &[CType], node_keys: &[(NodeId, TypeId, CompactString)]) {
        // For each node (parents come before their children): its record offset when its ids
        // are all unquoted.
        let mut info: Vec<Option<usize>> = Vec::with_capacity(node_keys.len());
        info.push(None);
        let mut index = FlatBuilder::with_capacity(node_keys.len());
        let mut out: Vec<u8> = Vec::new();
        self.scoped = vec![false; types.len()];
        for (node, (parent, t, id)) in node_keys.iter().enumerate().skip(1) {
            let Some(&above) = info.get(*parent as usize) else { break };
            let plain = (*parent == 0 || above.is_some()) && !id.is_empty() && id.bytes().all(crate::path::is_id_byte);
            let type_name = types.get(t.idx()).map_or("", |t| t.name.as_str());
            let segment = format!("{type_name}:{id}");
            let mut at = None;
            if plain {
                let (chain, path) = match above {
                    Some(a) => {
                        let (_, chain, path) = prefix_record(&out, a);
                        (chain, path)
                    }
                    None => (&[][..], &[][..]),
                };
                let (mut chain, mut path) = (chain.to_vec(), path.to_vec());
                chain.push(u32::try_from(node).unwrap_or(u32::MAX).to_le_bytes());
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(segment.as_bytes());
                // A path naming a node of this type has a prefix to probe.
                if let Some(scoped) = self.scoped.get_mut(t.idx()) {
                    *scoped = true;
                }
                // The record's head: its depth and its path's length, 16 bits each. A path
                // naming a node deeper than the fast resolver reads (its segments are all of
                // scoped types) or longer than `FAST_PATH` (`u16::MAX`) bytes is left to the
                // full validator: such a node is never probed, and is left out with the nodes
                // below it.
                let head = match (u16::try_from(chain.len()), u16::try_from(path.len())) {
                    (Ok(depth), Ok(len)) if usize::from(depth) <= FAST_SEGMENTS => {
                        u32::from(depth) | u32::from(len) << 16
                    }
                    _ => {
                        info.push(None);
                        continue;
                    }
                };
                start_record(&mut out, PREFIX_HEAD + chain.len() * 4 + path.len());
                let offset = out.len();
                out.extend_from_slice(&head.to_le_bytes());
                out.extend_from_slice(&t.0.to_le_bytes());
                out.extend(chain.iter().flatten());
                out.extend_from_slice(&path);
                index.insert(prefix_hash(&path), offset);
                at = Some(offset);
            }
            info.push(at);
        }
        self.prefixes = index.finish();
        self.prefix_records = Table::new(out);
    }

    /// Whether some scope node that an unquoted path can name has type `t`: a path prefix
    /// ending in a segment of another type is no node, and needs no probe.
    #[inline]
    pub(crate) fn scoped(&self, t: TypeId) -> bool {
        self.scoped.get(t.idx()).copied().unwrap_or(true)
    }

    /// The rows of a principal id that some assignment names.
    #[cfg(test)]
    pub(crate) fn principal(&self, id: &str) -> Option<Rows<'_>> {
        self.principal_hashed(id, subject_hash(false, id))
    }

    /// The rows of a principal id that some assignment names, its [`SubjectHash`] already made.
    pub(crate) fn principal_hashed(&self, id: &str, hash: SubjectHash) -> Option<Rows<'_>> {
        let records = &*self.subject_records;
        let slot = self.subjects.find(records, hash, false, id)?;
        Some(SubjectSlot::rows(slot))
    }

    /// The hash of a principal id (`group == false`) or a group name, with the cache line of
    /// its first slot asked for ([`prefetch`]): found later, the slot is then more likely in
    /// cache.
    #[inline(always)]
    pub(crate) fn prefetch_subject(&self, group: bool, name: &str) -> SubjectHash {
        let hash = subject_hash(group, name);
        self.subjects.prefetch(hash);
        hash
    }

    /// Asks for the cache line of the first slot a prefix hash probes.
    #[inline(always)]
    pub(crate) fn prefetch_prefix(&self, hash: u64) {
        self.prefixes.prefetch(hash);
    }

    /// Asks for the cache line where a subject's rows start.
    #[inline(always)]
    pub(crate) fn prefetch_rows(&self, rows: Rows<'_>) {
        prefetch(&self.subject_records, SubjectSlot::record(rows.slot));
    }

    /// A declared group and its rows.
    #[inline(always)]
    pub(crate) fn group(&self, name: &str) -> Option<(GroupId, Rows<'_>)> {
        self.group_hashed(name, subject_hash(true, name))
    }

    /// [`Lookup::group`] with the name's [`SubjectHash`] already made. Always inlined: called
    /// once per group name in the fast resolver's loop, its entry and exit cost some 17
    /// instructions a call (`verdict` at M -31 inlined; inlining `principal`, `action` or
    /// `scope_chain` as well cost more than it saved).
    #[inline(always)]
    pub(crate) fn group_hashed(&self, name: &str, hash: SubjectHash) -> Option<(GroupId, Rows<'_>)> {
        let records = &*self.subject_records;
        let slot = self.subjects.find(records, hash, true, name)?;
        Some((GroupId(SubjectSlot::group(slot)), SubjectSlot::rows(slot)))
    }

    /// The rows of a subject (for requests resolved by the full validator).
    pub(crate) fn subject_rows(&self, subject: SubjectId) -> Rows<'_> {
        self.slot_of
            .get(subject as usize)
            .map_or(Rows::default(), |&i| SubjectSlot::rows(self.subjects.slot(i as usize)))
    }

    /// The rows of `everyone` (kept apart: every request reads them).
    #[inline]
    pub(crate) fn everyone_rows(&self) -> Rows<'_> {
        SubjectSlot::rows(self.subjects.slot(self.everyone))
    }

    /// The scope nodes an unquoted request path names, from the root-most down, as
    /// little-endian ids, from its scanned segments. The deepest segment whose prefix is a
    /// node gives the whole chain;
    /// that node's path text must equal the request's prefix (so a hash collision cannot pick
    /// another node).
    pub(crate) fn scope_chain(&self, segments: &[Segment<'_>]) -> &[[u8; 4]] {
        segments.iter().rev().find_map(|seg| self.node(seg.hash, seg.prefix)).map_or(&[], |(_, chain)| chain)
    }

    /// The scope node whose path is `prefix` (of [`prefix_hash`] `hash`): its type and its
    /// chain (the node ids from the root-most down to it, little-endian). Its path text must
    /// equal `prefix`, so a hash collision cannot pick another node.
    #[inline(always)]
    pub(crate) fn node(&self, hash: u64, prefix: &[u8]) -> Option<(TypeId, &[[u8; 4]])> {
        let records = &*self.prefix_records;
        let at = self.prefixes.find(hash, |at| same(prefix_record(records, at).2, prefix))?;
        let (t, chain, _) = prefix_record(records, at);
        Some((t, chain))
    }

    /// The subject records that [`Rows`] found in the index point into.
    pub(crate) fn subject_records(&self) -> &[u8] {
        &self.subject_records
    }

    /// A copy of a subject's slot for a prepared subject, with its rows when they are few.
    pub(crate) fn keep(&self, rows: Rows<'_>) -> SlotCopy {
        let mut slot = *rows.slot;
        let (at, count) = (SubjectSlot::record(&slot), SubjectSlot::count(&slot));
        let kept = if count <= KEPT_ROWS { self.subject_records.get(at..at + count * 8) } else { None };
        let Some(bytes) = kept else { return SlotCopy { slot, rows: None } };
        // The copy's record starts at offset 0: its entry keeps the tag, with record 0.
        let entry = (SubjectSlot::entry(&slot) >> 32 << 32) | 1;
        if let Some(head) = slot.first_chunk_mut::<8>() {
            *head = entry.to_le_bytes();
        }
        SlotCopy { slot, rows: Some(bytes.into()) }
    }

    /// The type that may follow `parent` in a path (a root type for `None`) and is named
    /// by the bytes of `path` from `at` up to a `:`, a `/` or the end; with the offset where
    /// its name ends. The candidates' names are compared in place, so the request's bytes
    /// are not scanned first: a name that is no candidate's is `None`.
    #[inline]
    pub(crate) fn path_type(
        &self,
        types: &[CType],
        parent: Option<TypeId>,
        path: &[u8],
        at: usize,
    ) -> Option<(TypeId, usize)> {
        let candidates = match parent {
            None => &self.roots,
            Some(p) => self.kids.get(p.idx())?,
        };
        // Type names are identifiers (no zero byte), so a segment shorter than a candidate's
        // name, read with zeros past the path's end, never matches it.
        let head = head_word(path, at);
        candidates.iter().find_map(|k| {
            if head & k.mask != k.head {
                return None;
            }
            let end = at + k.len;
            let ends = path.get(end).is_none_or(|&b| b == b':' || b == b'/');
            let same = ends
                && (k.len <= 8
                    || word::<8>(path, end - 8) == k.tail
                        && (k.len <= 16
                            || types.get(k.ty.idx()).is_some_and(|ty| path.get(at..end) == Some(ty.name.as_bytes()))));
            same.then_some((k.ty, end))
        })
    }

    /// The action named `name` of type `t`, and the (type, action) pair it makes.
    #[inline]
    pub(crate) fn action(&self, names: &[String], t: TypeId, name: &str) -> Option<(ActionId, u32)> {
        let key = Name::of(name);
        self.type_actions
            .get(t.idx())?
            .iter()
            .find(|(k, a, _)| *k == key && (key.short() || names.get(a.idx()).is_some_and(|n| n == name)))
            .map(|&(_, a, pair)| (a, pair))
    }

    /// The (type, action) pair of a type and one of its actions.
    pub(crate) fn pair(&self, t: TypeId, a: ActionId) -> Option<u32> {
        self.pairs.get(t.idx() * self.actions + a.idx()).copied().filter(|&p| p != NO_PAIR)
    }

    /// The range of `effective` that holds an assigned role's rules for a pair.
    pub(crate) fn rules(&self, role: RoleId, pair: u32) -> (u32, u32) {
        self.role_rules.get(role.idx() * self.npairs + pair as usize).copied().unwrap_or((0, 0))
    }

    /// Each scope node's (parent, type, id), by node id (node 0, everywhere, has a dummy key):
    /// the scope tree, read by access reviews, bundles and the wasm emitter.
    pub(crate) fn node_keys(&self) -> &[(NodeId, TypeId, CompactString)] {
        &self.node_keys
    }

    /// The child of scope node `parent` for the segment `type:id`, when assignments name it.
    pub(crate) fn child(&self, parent: NodeId, t: TypeId, id: &str) -> Option<NodeId> {
        self.nodes
            .find(node_hash(parent, t, id), |&n| {
                self.node_keys.get(n as usize).is_some_and(|(p, nt, nid)| *p == parent && *nt == t && **nid == *id)
            })
            .copied()
    }
}

/// Calls `f(node, role)` for each role of `rows` at one of the chain's nodes (without
/// repeats); they are sorted, as a chain of scope nodes is (a child's id is above its
/// parent's).
///
/// The rows at the first node (everywhere, for a request) come first; a binary search
/// then jumps to the second node's, and past them. Node ids are in depth-first preorder, so the rows
/// from there up to the deepest node are all within the second node's subtree: few,
/// and scanned, unless the run is long.
///
/// `records` are the policy's subject records ([`Lookup::subject_records`]) or a prepared
/// subject's copy of its own ([`SlotCopy::records`]).
#[inline]
pub(crate) fn held(records: &[u8], rows: Rows<'_>, chain: &Chain<'_>, mut f: impl FnMut(NodeId, RoleId)) {
    // No node's bit in common: none of the chain's nodes is among the rows'. Most subjects
    // of a request hold nothing on its path, and are done here, without reading their
    // record.
    let shared = SubjectSlot::filter(rows.slot).iter().zip(&chain.filter).fold(0, |acc, (a, b)| acc | (a & b));
    if shared == 0 {
        return;
    }
    let rows = rows.run(records);
    let (nodes, mask) = (chain.nodes, chain.mask);
    if rows.len() <= SHORT_ROWS {
        return scan(rows, nodes, mask, f);
    }
    let Some(([first, second], deeper)) = nodes.split_first_chunk::<2>() else { return search(rows, nodes, f) };
    // A run's rows at everywhere (node 0, the first of a request's nodes) lead it.
    let from = if *first == 0 { emit(rows, 0, 0, &mut f) } else { take(rows, 0, *first, &mut f) };
    let rest = rows.from(take(rows, from, *second, &mut f));
    if rest.len() <= SCAN_ROWS { scan(rest, deeper, mask, f) } else { search(rest, deeper, f) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
resource org;
resource ws in org { actions read; }
role r { allow read on ws; }
assign r to user:a on org:a/ws:x;
assign r to user:b on org:b/ws:x;
assign r to user:c on org:"c d"/ws:x;
"#;

    /// The segments of an unquoted path, as the fast resolver scans them.
    fn segments(path: &str) -> Vec<Segment<'_>> {
        let mut end = 0;
        path.split('/')
            .map(|seg| {
                end += seg.len() + usize::from(end > 0);
                let prefix = &path.as_bytes()[..end];
                Segment { prefix, hash: prefix_hash(prefix) }
            })
            .collect()
    }

    fn chain(l: &Lookup, segs: &[Segment<'_>]) -> Vec<NodeId> {
        l.scope_chain(segs).iter().map(|&n| u32::from_le_bytes(n)).collect()
    }

    #[test]
    fn a_path_and_its_parent_are_hashed_in_one_pass_as_each_alone() {
        // Every length over word boundaries, with `/`s among bytes that differ from it in one
        // bit ('.' is 0x2e, '/' 0x2f: a borrow between bytes would find a `/` in it).
        for len in 0..=40usize {
            for seed in 0..16u64 {
                let path: Vec<u8> = (0..len)
                    .map(|i| match (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i * 3 % 61)) % 4 {
                        0 => b'/',
                        1 => b'.',
                        2 => b'0',
                        _ => b'a',
                    })
                    .collect();
                assert_eq!(last_slash(&path), path.iter().rposition(|&b| b == b'/'), "{path:?}");
                for cut in 0..=len {
                    assert_eq!(prefix_hashes(&path, cut), (prefix_hash(&path), prefix_hash(&path[..cut])));
                }
            }
        }
        // Prefixes of one another, and paths that differ only in their zero padding, differ.
        let names = ["", "a", "a\0", "ab", "org:a", "org:a/", "org:a/ws:x", "org:a/ws:xy", "org:a/ws:x\0"];
        let hashes: std::collections::BTreeSet<u64> = names.iter().map(|n| prefix_hash(n.as_bytes())).collect();
        assert_eq!(hashes.len(), names.len());
    }

    #[test]
    fn a_scope_node_is_found_only_under_its_own_ancestors() {
        let policy = crate::compile_str("t.rbac", SRC).policy.expect("compiles");
        let c = &policy.compiled;
        let l = &c.lookup;
        let types = [c.type_index["org"], c.type_index["ws"]];
        let node = |parent, t: usize, id| l.child(parent, types[t], id).expect("a node");
        let (a, b) = (node(0, 0, "a"), node(0, 0, "b"));
        let (ax, bx) = (node(a, 1, "x"), node(b, 1, "x"));

        assert_eq!(chain(l, &segments("org:a/ws:x")), [a, ax]);
        assert_eq!(chain(l, &segments("org:b/ws:x")), [b, bx]);

        // A hash that collides with another node's cannot pick it: the path text is compared.
        let mut collide = segments("org:b/ws:x");
        collide[1].hash = segments("org:a/ws:x")[1].hash;
        assert_eq!(chain(l, &collide), [b]);

        // The deepest prefix that is a node gives the chain; below it nothing is.
        assert_eq!(chain(l, &segments("org:b/ws:y")), [b]);

        // A node with a quoted id is not indexed: its unquoted spelling names other segments.
        assert!(chain(l, &segments("org:c d/ws:x")).is_empty());
    }

    #[test]
    fn a_path_type_is_found_by_its_whole_name_whatever_its_length() {
        // Names of 1 to 20 bytes, some prefixes of others, all children of one root.
        let names = [
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopqrst",
        ];
        let mut src = String::from("resource root;\n");
        for n in names {
            src.push_str(&format!("resource {n} in root {{ actions read; }}\n"));
        }
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        let root = c.type_index["root"];
        let find = |path: &str, at| c.lookup.path_type(&c.types, Some(root), path.as_bytes(), at);
        for n in names {
            let want = Some((c.type_index[n], 7 + n.len()));
            assert_eq!(find(&format!("root:r/{n}:x"), 7), want, "{n} with an id");
            assert_eq!(find(&format!("root:r/{n}"), 7), want, "{n} bare at the end");
            assert_eq!(find(&format!("root:r/{n}/"), 7), want, "{n} before a slash");
            // One byte more or less, or one byte changed, is another name or none.
            assert_ne!(find(&format!("root:r/{n}z:x"), 7), want, "{n}z");
            assert_ne!(find(&format!("root:r/{}:x", &n[..n.len() - 1]), 7), want, "{n} cut");
            let mut changed = n.as_bytes().to_vec();
            let last = changed.len() - 1;
            changed[last] = b'Z';
            let changed = String::from_utf8(changed).expect("ascii");
            assert_eq!(find(&format!("root:r/{changed}:x"), 7), None, "{changed}");
        }
        assert_eq!(find("root:r/", 7), None, "nothing after the slash");
        assert_eq!(c.lookup.path_type(&c.types, None, b"root", 0), Some((root, 4)));
        assert_eq!(c.lookup.path_type(&c.types, None, b"roo", 0), None);
    }

    #[test]
    fn scanning_and_searching_a_run_find_the_same_roles() {
        // Runs sorted by node (several roles per node), chains sorted; small pseudo-random cases.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            // Node ids up to 600: some share a mask bit (`node % 64`) or a filter bit
            // (`node % 256`) without being equal.
            let span = [30, 200, 600][next(3) as usize];
            let mut run: Vec<(u32, u32)> = (0..next(80)).map(|_| (next(span) as u32, next(5) as u32)).collect();
            run.sort_unstable();
            run.dedup();
            let mut nodes: Vec<u32> = (0..next(6)).map(|_| next(span) as u32).collect();
            nodes.sort_unstable();
            nodes.dedup();
            let mut record = Vec::new();
            record.extend(run.iter().flat_map(|&(n, _)| n.to_le_bytes()));
            record.extend(run.iter().flat_map(|&(_, r)| r.to_le_bytes()));
            let filter = filter_of(run.iter().map(|&(n, _)| n));
            let slot = SubjectSlot::write(1 << 32, 0, NO_GROUP, "", run.len() as u32, filter);
            let rows = SubjectSlot::rows(&slot);
            let expected: Vec<(u32, u32)> = run.iter().copied().filter(|(n, _)| nodes.contains(n)).collect();
            let (mut scanned, mut searched, mut held) = (Vec::new(), Vec::new(), Vec::new());
            let chain = Chain::new(&nodes);
            scan(rows.run(&record), &nodes, chain.mask, |n, r| scanned.push((n, r.0)));
            search(rows.run(&record), &nodes, |n, r| searched.push((n, r.0)));
            super::held(&record, rows, &chain, |n, r| held.push((n, r.0)));
            assert_eq!(scanned, expected, "scan, run {run:?}, nodes {nodes:?}");
            assert_eq!(held, expected, "held, run {run:?}, nodes {nodes:?}");
            assert_eq!(searched, expected, "search, run {run:?}, nodes {nodes:?}");
        }
    }

    #[test]
    fn byte_strings_are_the_same_exactly_when_equal_whatever_their_length() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()), "{n} bytes");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same(&a, &b), "{n} bytes, differing at {at}");
            }
            assert!(!same(&a, &[a.as_slice(), b"x"].concat()), "{n} bytes and one more");
        }
    }

    #[test]
    fn a_large_table_is_mapped_and_reads_as_its_bytes_followed_only_by_zeros() {
        let bytes: Vec<u8> = (0..HUGE_TABLE + 12_345).map(|i| (i % 251) as u8).collect();
        let table = Table::new(bytes.clone());
        if cfg!(unix) {
            assert!(matches!(table, Table::Mapped(_)), "a table of {} bytes is mapped", bytes.len());
        }
        let copy = table.clone();
        for t in [&table, &copy] {
            assert_eq!(t.get(..bytes.len()), Some(&bytes[..]));
            assert!(t.get(bytes.len()..).unwrap_or(&[]).iter().all(|&b| b == 0));
        }
        let small = Table::new(vec![1; 100]);
        assert!(matches!(small, Table::Heap(..)));
        assert_eq!(&*small, &[1; 100][..]);
        assert_eq!(small.as_ptr() as usize % LINE, 0, "a small table starts a line");
    }

    #[test]
    fn a_large_flat_index_finds_every_entry_and_no_other() {
        // Enough entries for a slot table over `HUGE_TABLE` bytes.
        let n = HUGE_TABLE / 16 + 1;
        let hash = |k: usize| {
            let mut h = FxHasher::default();
            h.write_usize(k);
            h.finish()
        };
        let mut b = FlatBuilder::with_capacity(n);
        for k in 0..n {
            b.insert(hash(k), k * 3);
        }
        let index = b.finish();
        assert!(index.slots.len() >= HUGE_TABLE);
        for k in 0..n {
            assert_eq!(index.find(hash(k), |at| at == k * 3), Some(k * 3), "entry {k}");
        }
        assert_eq!(index.find(hash(n), |_| true), None);
    }

    #[test]
    fn only_types_with_scope_nodes_are_probed() {
        let src = format!("{SRC}resource doc in ws {{ actions read; }}\n");
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        let scoped = |t: &str| c.lookup.scoped(c.type_index[t]);
        assert!(scoped("org") && scoped("ws"));
        assert!(!scoped("doc"), "no assignment names a doc");
    }

    #[test]
    fn a_record_crosses_no_line_it_need_not() {
        let mut out = Vec::new();
        for len in (1..200).chain([7, 64, 63, 1, 65, 64, 3, 300]) {
            start_record(&mut out, len);
            let at = out.len();
            if len <= LINE {
                assert_eq!(at / LINE, (at + len - 1) / LINE, "{len} bytes at {at} fit in one line");
            } else {
                assert_eq!(at % LINE, 0, "{len} bytes start a line");
            }
            out.extend(std::iter::repeat_n(1u8, len));
        }
        // Subject records are placed so: principals with 0 to 19 assignments, names of 6 to 25
        // bytes (those over `SLOT_NAME` kept in the record).
        let mut src = String::from("resource ws { actions read; }\nrole r { allow read on ws; }\n");
        for u in 0..20 {
            for w in 0..u {
                src.push_str(&format!("assign r to user:{} on ws:w{w};\n", "u".repeat(u + 1)));
            }
        }
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let l = &policy.compiled.lookup;
        for &i in &l.slot_of {
            let slot = l.subjects.slot(i as usize);
            let (at, count) = (SubjectSlot::record(slot), SubjectSlot::count(slot));
            let (name, rows) = subject_record(&l.subject_records, at, count);
            let len = rows.len() * 8 + if name.is_empty() { 0 } else { LONG_KEY_HEAD + name.len() };
            assert!(at % LINE == 0 || at / LINE == (at + len - 1) / LINE, "{len} bytes at {at}");
        }
    }

    #[test]
    fn subjects_hold_their_own_rows() {
        let policy = crate::compile_str("t.rbac", SRC).policy.expect("compiles");
        let l = &policy.compiled.lookup;
        let rows: Vec<_> = l.principal("user:b").map(|r| r.iter(l).collect()).unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert!(l.principal("user:z").is_none());
        assert!(l.group("user:b").is_none(), "a principal id is not a group name");
        assert!(l.everyone_rows().is_empty());
    }

    #[test]
    fn subjects_are_found_by_their_whole_name_in_the_slot_or_in_the_record() {
        // Names around `SLOT_NAME` bytes, sharing long prefixes, as principal ids and groups.
        let mut src = String::from("resource ws { actions read; }\nrole r { allow read on ws; }\n");
        let names: Vec<String> = (SLOT_NAME - 6..SLOT_NAME + 6).map(|n| "g".repeat(n)).collect();
        for (k, n) in names.iter().enumerate() {
            src.push_str(&format!("group {n};\n"));
            src.push_str(&format!("assign r to user:{n} on ws:u{k};\nassign r to group:{n} on ws:g{k};\n"));
        }
        let policy = crate::compile_str("t.rbac", &src).policy.expect("compiles");
        let c = &policy.compiled;
        let l = &c.lookup;
        let ws = c.type_index["ws"];
        for (k, n) in names.iter().enumerate() {
            let node = |id: String| l.child(0, ws, &id).expect("a node");
            let user: Vec<_> = l.principal(&format!("user:{n}")).map(|r| r.iter(l).collect()).unwrap_or_default();
            assert_eq!(user.iter().map(|&(n, _)| n).collect::<Vec<_>>(), [node(format!("u{k}"))], "user:{n}");
            let (g, rows) = l.group(n).expect("a group");
            assert_eq!(c.groups.get(g.idx()), Some(n));
            assert_eq!(rows.iter(l).map(|(n, _)| n).collect::<Vec<_>>(), [node(format!("g{k}"))], "group {n}");
            // One byte more, less or different is another name.
            for other in [format!("{n}g"), n[1..].to_string(), format!("{}h", &n[1..])] {
                assert!(l.group(&other).is_none_or(|(h, _)| h != g), "{other} is not {n}");
                assert!(l.principal(&format!("user:{other}")).is_none_or(|r| r.iter(l).ne(user.iter().copied())));
            }
        }
    }
}
