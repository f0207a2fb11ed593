//! A fixed, fast hasher for the simulator's own maps (patches 7 and 8).
//!
//! Every file-system call looks its path up in several maps (persisted files, directories,
//! symlinks, synced entries, children, the pending indexes), and every segment the network
//! carries looks up its host, its link and its socket by address. With the default
//! `RandomState` each lookup runs SipHash-1-3. These maps are simulator state, never fed by an
//! adversary, so hash flooding is no concern, and an `IndexMap` iterates in insertion order
//! whatever the hasher: the hasher changes no result and no iteration order, only the CPU
//! spent.

use std::hash::{BuildHasherDefault, Hasher};
#[cfg(feature = "unstable-fs")]
use std::path::PathBuf;

use indexmap::IndexMap;
#[cfg(feature = "unstable-fs")]
use indexmap::IndexSet;

/// Multiplier of the word mix (FxHash's 64-bit constant).
const MIX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

/// Word-at-a-time multiply-rotate hasher, finished with MurmurHash3's `fmix64` so the top
/// bits (hashbrown's control tag) and the bottom bits (the bucket) both vary.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher {
    state: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MIX_MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("8-byte chunk")));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            // The tail's length keeps "a\0" and "a" apart.
            self.add(u64::from_le_bytes(word) ^ ((tail.len() as u64) << 60));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        let mut hash = self.state;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^ (hash >> 33)
    }
}

/// Builds [`FastHasher`]s.
pub(crate) type FastBuildHasher = BuildHasherDefault<FastHasher>;

/// An insertion-ordered map hashed with [`FastHasher`] (patch 8: hosts, links, sockets).
pub(crate) type FastMap<K, V> = IndexMap<K, V, FastBuildHasher>;

/// A map keyed by path, hashed with [`FastHasher`].
#[cfg(feature = "unstable-fs")]
pub(crate) type PathMap<V> = IndexMap<PathBuf, V, FastBuildHasher>;

/// A set of paths, hashed with [`FastHasher`].
#[cfg(feature = "unstable-fs")]
pub(crate) type PathSet = IndexSet<PathBuf, FastBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::path::Path;

    #[cfg(feature = "unstable-fs")]
    #[test]
    fn equal_paths_hash_alike() {
        let build = FastBuildHasher::default();
        let hash = |path: &str| build.hash_one(Path::new(path));
        assert_eq!(hash("/data/a/b"), hash("/data//a/./b/"));
        assert_ne!(hash("/data/a/b"), hash("/data/a/c"));
        assert_ne!(hash("/data/ab"), hash("/data/a/b"));
    }
}
