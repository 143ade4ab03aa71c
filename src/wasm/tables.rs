//! The lookup tables the emitter lays out in a module's data segment and the runtime
//! (`runtime.wat`) probes: the byte-string hash both sides compute alike, and open-addressing
//! hash tables with linear probing. Deterministic: entries go in in a fixed order, so the same
//! entries always give the same bytes.

/// The multiplier of the word hash (FxHash's).
const K: u64 = 0x517c_c1b7_2722_0a95;

/// The murmur3 finaliser: every input bit reaches every output bit.
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The hash of a byte string, as `$hash` in the runtime computes it: eight bytes at a time
/// (little-endian, the last word zero-padded), seeded with the length.
pub fn hash_bytes(bytes: &[u8]) -> u32 {
    let mut h = bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(chunk) {
            *w = *b;
        }
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    fmix32((h ^ (h >> 32)) as u32)
}

/// The hash of a scope-tree edge (parent node, child type, child id hash), as `$child_hash`.
pub fn child_hash(id_hash: u32, node: u32, ty: u32) -> u32 {
    fmix32(id_hash.wrapping_add(node.wrapping_mul(0x9e37_79b1)).wrapping_add(ty.wrapping_mul(0x7feb_352d)))
}

/// The hash of a (role, type, action) key, as `$role_hash`.
pub fn role_hash(role: u32, ty: u32, action: u32) -> u32 {
    fmix32(
        role.wrapping_mul(0x9e37_79b1)
            .wrapping_add(ty.wrapping_mul(0x85eb_ca77))
            .wrapping_add(action.wrapping_mul(0xc2b2_ae3d)),
    )
}

/// An open-addressing table of `W`-word slots. The runtime starts at slot `hash & mask` and
/// walks on (wrapping) until it finds the key or an empty slot, which is one whose word
/// `key_word` is 0 (emitters keep that word non-zero in every entry).
pub struct HashTable<const W: usize> {
    slots: Vec<[u32; W]>,
    key_word: usize,
}

impl<const W: usize> HashTable<W> {
    /// A table for `n` entries: a power of two at least twice `n`, so probes stay short and an
    /// empty slot always ends them.
    pub fn new(n: usize, key_word: usize) -> Self {
        let cap = n.saturating_mul(2).next_power_of_two().max(2);
        HashTable { slots: vec![[0; W]; cap], key_word }
    }

    pub fn mask(&self) -> u32 {
        u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
    }

    /// Puts an entry in the first empty slot from `hash & mask` on.
    pub fn insert(&mut self, hash: u32, entry: [u32; W]) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        // INVARIANT: the table is at most half full, so an empty slot exists.
        for _ in 0..self.slots.len() {
            if let Some(slot) = self.slots.get_mut(i)
                && slot.get(self.key_word).copied().unwrap_or(0) == 0
            {
                *slot = entry;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The slots as words, in order.
    pub fn words(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_byte_and_the_length() {
        let base = hash_bytes(b"organization:o5");
        assert_ne!(base, hash_bytes(b"organization:o6"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdefgh\0"));
    }

    #[test]
    fn probing_wraps_and_keeps_every_entry() {
        let mut t: HashTable<2> = HashTable::new(3, 0);
        for k in 1..=3 {
            t.insert(t.mask(), [k, 10 * k]);
        }
        let words: Vec<u32> = t.words().collect();
        assert_eq!(words.iter().filter(|w| **w != 0).count(), 6);
    }
}
