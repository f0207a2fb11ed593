//! A fixed, fast hasher for the simulator's own maps (patches 7 and 8), and path keys that
//! hash as one canonical byte string (patch 9).
//!
//! Every file-system call looks its path up in several maps (persisted files, directories,
//! symlinks, synced entries, children, the pending indexes), and every segment the network
//! carries looks up its host, its link and its socket by address. With the default
//! `RandomState` each lookup runs SipHash-1-3. These maps are simulator state, never fed by an
//! adversary, so hash flooding is no concern, and an `IndexMap` iterates in insertion order
//! whatever the hasher: the hasher changes no result and no iteration order, only the CPU
//! spent.
//!
//! `Path`'s own `Hash` walks the path byte by byte, skipping separators and `.` components,
//! and feeds the hasher once per component (4% of storm's CPU after patch 8). The path maps
//! ([`PathMap`], [`PathSet`]) key by [`PathKey`] instead, whose hash is one `Hasher::write`
//! of the path's canonical spelling: its components joined by `/`, as `components()` sees
//! them. A path built by `join` is already spelled so, and is hashed as it is after one scan
//! for the separators; only a path with `//`, an interior or trailing `.` component or a
//! trailing `/` is respelled first. Equal paths have equal components, hence equal
//! spellings and equal hashes; equality stays `Path`'s. Lookups take a `&Path` (through
//! [`PathQuery`], hashed the same way) and never allocate.

use std::hash::{BuildHasherDefault, Hasher};
#[cfg(feature = "unstable-fs")]
use std::hash::Hash;
#[cfg(feature = "unstable-fs")]
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
#[cfg(feature = "unstable-fs")]
use indexmap::{Equivalent, IndexSet};

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

/// Whether `bytes` spell a path exactly as its components joined by `/` do (a leading `/`
/// for the root): no empty component (`//`, a trailing `/` other than the root's) and no `.`
/// after a separator (`components()` drops those; a leading `./` is kept, as `CurDir`).
///
/// The interior scan has no early exit so that it vectorizes: about twice as fast as
/// stopping at each separator on the simulator's 20-90 byte paths.
#[cfg(all(feature = "unstable-fs", unix))]
fn is_canonical(bytes: &[u8]) -> bool {
    match bytes {
        [_, .., b'/'] | [.., b'/', b'.'] => return false,
        _ => {}
    }
    // What is left: `//` or `/./` with a byte after it.
    let mut bad = false;
    let later = bytes.get(1..).unwrap_or_default();
    let last = bytes.get(2..).unwrap_or_default();
    for ((this, next), after) in bytes.iter().zip(later).zip(last) {
        bad |= (*this == b'/') & ((*next == b'/') | ((*next == b'.') & (*after == b'/')));
    }
    !bad
}

/// `path`'s components joined by `/`, the root as a leading `/`: equal paths (equal
/// components) give equal bytes.
#[cfg(all(feature = "unstable-fs", unix))]
fn canonical_bytes(path: &Path) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.as_os_str().len());
    for component in path.components() {
        if out.last().is_some_and(|b| *b != b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(component.as_os_str().as_encoded_bytes());
    }
    out
}

/// Whether `path` is spelled canonically (see [`is_canonical`]); never elsewhere than Unix,
/// where keys fall back to `Path`'s own hash and equality.
#[cfg(feature = "unstable-fs")]
fn spelled_canonically(path: &Path) -> bool {
    #[cfg(unix)]
    return is_canonical(path.as_os_str().as_encoded_bytes());
    #[cfg(not(unix))]
    return false;
}

/// Hashes `path` as one `write` of its canonical spelling (patch 9); `canonical` is
/// [`spelled_canonically`]`(path)`, worked out once per key or query. Elsewhere than Unix
/// (drive prefixes, two separators) it falls back to `Path`'s own hash, which agrees with
/// `Path`'s equality too.
#[cfg(feature = "unstable-fs")]
fn hash_path<H: Hasher>(path: &Path, canonical: bool, state: &mut H) {
    #[cfg(unix)]
    {
        if canonical {
            state.write(path.as_os_str().as_encoded_bytes());
        } else {
            state.write(&canonical_bytes(path));
        }
    }
    #[cfg(not(unix))]
    {
        debug_assert!(!canonical);
        path.hash(state);
    }
}

/// `Path`'s equality, answered from the bytes when both spellings are canonical (patch
/// 10): a canonical spelling is its components joined by `/`, so two of them name the same
/// path exactly when they are the same bytes. `Path`'s own `==` compares bytes only when
/// they are equal; any other pair (every hash-tag collision in a lookup) it compares
/// component by component, from the back.
#[cfg(feature = "unstable-fs")]
fn paths_equal(a: &Path, a_canonical: bool, b: &Path, b_canonical: bool) -> bool {
    if a_canonical && b_canonical {
        a.as_os_str() == b.as_os_str()
    } else {
        a == b
    }
}

/// `path.parent()`, cut at the last separator when `path` is spelled canonically (patch 10).
/// `Path::parent` parses the last component backwards, with its rules for `.` and repeated
/// separators; a canonical spelling has neither, so its parent is the bytes before the last
/// `/` (the root when that is the first byte, the empty path when there is none) and is
/// itself canonical. The root and the empty path have none.
#[cfg(feature = "unstable-fs")]
pub(crate) fn parent(path: &Path) -> Option<&Path> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if bytes.is_empty() || bytes == b"/" {
            return None;
        }
        if is_canonical(bytes) {
            let cut = match bytes.iter().rposition(|byte| *byte == b'/') {
                None => 0,
                Some(0) => 1,
                Some(index) => index,
            };
            return Some(Path::new(std::ffi::OsStr::from_bytes(&bytes[..cut])));
        }
    }
    path.parent()
}

/// `a == b` for paths (patch 10): equal bytes are one path, and two different canonical
/// spellings are two; only other pairs are compared as `Path` does, component by component
/// (which it does for every pair whose bytes differ).
#[cfg(feature = "unstable-fs")]
pub(crate) fn same_path(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
        || paths_equal(a, spelled_canonically(a), b, spelled_canonically(b))
}

/// A path as a map key: equal when the paths are (component by component), hashed by
/// [`hash_path`]. Remembers whether it is spelled canonically.
#[cfg(feature = "unstable-fs")]
#[derive(Clone)]
pub(crate) struct PathKey {
    path: PathBuf,
    canonical: bool,
}

#[cfg(feature = "unstable-fs")]
impl PathKey {
    fn new(path: PathBuf) -> Self {
        let canonical = spelled_canonically(&path);
        Self { path, canonical }
    }
}

#[cfg(feature = "unstable-fs")]
impl PartialEq for PathKey {
    fn eq(&self, other: &Self) -> bool {
        paths_equal(&self.path, self.canonical, &other.path, other.canonical)
    }
}

#[cfg(feature = "unstable-fs")]
impl Eq for PathKey {}

#[cfg(feature = "unstable-fs")]
impl Hash for PathKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_path(&self.path, self.canonical, state);
    }
}

#[cfg(feature = "unstable-fs")]
impl std::fmt::Debug for PathKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.path.fmt(f)
    }
}

/// A borrowed path looked up in a [`PathMap`] or [`PathSet`] without building a key.
#[cfg(feature = "unstable-fs")]
struct PathQuery<'a> {
    path: &'a Path,
    canonical: bool,
}

#[cfg(feature = "unstable-fs")]
impl<'a> PathQuery<'a> {
    fn new(path: &'a Path) -> Self {
        let canonical = spelled_canonically(path);
        Self { path, canonical }
    }
}

#[cfg(feature = "unstable-fs")]
impl Hash for PathQuery<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_path(self.path, self.canonical, state);
    }
}

#[cfg(feature = "unstable-fs")]
impl Equivalent<PathKey> for PathQuery<'_> {
    fn equivalent(&self, key: &PathKey) -> bool {
        paths_equal(self.path, self.canonical, &key.path, key.canonical)
    }
}

/// A map keyed by path, in insertion order, hashed with [`FastHasher`] through [`PathKey`].
/// Only the `IndexMap` methods the file system uses, with the same removal (`swap_remove`).
#[cfg(feature = "unstable-fs")]
#[derive(Clone)]
pub(crate) struct PathMap<V>(IndexMap<PathKey, V, FastBuildHasher>);

#[cfg(feature = "unstable-fs")]
impl<V> Default for PathMap<V> {
    fn default() -> Self {
        Self(IndexMap::default())
    }
}

#[cfg(feature = "unstable-fs")]
impl<V: std::fmt::Debug> std::fmt::Debug for PathMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "unstable-fs")]
impl<V> PathMap<V> {
    pub(crate) fn get(&self, path: &Path) -> Option<&V> {
        self.0.get(&PathQuery::new(path))
    }

    pub(crate) fn get_mut(&mut self, path: &Path) -> Option<&mut V> {
        self.0.get_mut(&PathQuery::new(path))
    }

    pub(crate) fn contains_key(&self, path: &Path) -> bool {
        self.0.contains_key(&PathQuery::new(path))
    }

    /// As `IndexMap::insert`: a present key keeps its place (and its spelling).
    pub(crate) fn insert(&mut self, path: PathBuf, value: V) -> Option<V> {
        self.0.insert(PathKey::new(path), value)
    }

    pub(crate) fn entry(&mut self, path: PathBuf) -> indexmap::map::Entry<'_, PathKey, V> {
        self.0.entry(PathKey::new(path))
    }

    pub(crate) fn swap_remove(&mut self, path: &Path) -> Option<V> {
        self.0.swap_remove(&PathQuery::new(path))
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&PathBuf, &mut V) -> bool) {
        self.0.retain(|key, value| keep(&key.path, value));
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &PathBuf> + '_ {
        self.0.keys().map(|key| &key.path)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.0.values()
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// A set of paths, in insertion order, hashed with [`FastHasher`] through [`PathKey`].
#[cfg(feature = "unstable-fs")]
#[derive(Clone, Default)]
pub(crate) struct PathSet(IndexSet<PathKey, FastBuildHasher>);

#[cfg(feature = "unstable-fs")]
impl std::fmt::Debug for PathSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "unstable-fs")]
impl PathSet {
    /// As `IndexSet::insert`: false, and no change, when the path is present.
    pub(crate) fn insert(&mut self, path: PathBuf) -> bool {
        self.0.insert(PathKey::new(path))
    }

    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.0.contains(&PathQuery::new(path))
    }

    pub(crate) fn swap_remove(&mut self, path: &Path) -> bool {
        self.0.swap_remove(&PathQuery::new(path))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &PathBuf> + '_ {
        self.0.iter().map(|key| &key.path)
    }
}

/// Test hooks for patch 9 (`sim/tests/turmoil_patches.rs`); not part of turmoil's API.
#[cfg(feature = "unstable-fs")]
#[doc(hidden)]
pub mod path_key_hooks {
    use super::{FastBuildHasher, PathKey, PathQuery};
    use indexmap::Equivalent;
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::path::Path;

    /// Records every `write` a hash makes.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Hasher for Writes {
        fn write(&mut self, bytes: &[u8]) {
            self.0.push(bytes.to_vec());
        }

        fn finish(&self) -> u64 {
            0
        }
    }

    /// The hash of `path` as a stored key.
    pub fn key_hash(path: &Path) -> u64 {
        FastBuildHasher::default().hash_one(PathKey::new(path.to_path_buf()))
    }

    /// The hash of `path` as a lookup.
    pub fn query_hash(path: &Path) -> u64 {
        FastBuildHasher::default().hash_one(PathQuery::new(path))
    }

    /// Every byte string hashing `path` as a key writes, in order.
    pub fn hashed_writes(path: &Path) -> Vec<Vec<u8>> {
        let mut writes = Writes::default();
        PathKey::new(path.to_path_buf()).hash(&mut writes);
        writes.0
    }

    /// Whether `a` and `b` are equal as stored keys (patch 10's byte comparison when both are
    /// spelled canonically, `Path`'s otherwise).
    pub fn keys_equal(a: &Path, b: &Path) -> bool {
        PathKey::new(a.to_path_buf()) == PathKey::new(b.to_path_buf())
    }

    /// Whether a lookup of `query` finds the stored key `key`.
    pub fn query_finds(query: &Path, key: &Path) -> bool {
        PathQuery::new(query).equivalent(&PathKey::new(key.to_path_buf()))
    }

    /// Whether the file system takes `a` and `b` for one path (patch 10).
    pub fn same_path(a: &Path, b: &Path) -> bool {
        super::same_path(a, b)
    }

    /// The parent the file system computes for `path` (patch 10).
    pub fn parent(path: &Path) -> Option<&Path> {
        super::parent(path)
    }

    /// `path`'s components joined by `/` (always built, even when the path is so spelled).
    #[cfg(unix)]
    pub fn canonical(path: &Path) -> Vec<u8> {
        super::canonical_bytes(path)
    }

    /// Whether `path` is hashed as spelled (the fast path).
    #[cfg(unix)]
    pub fn is_canonical(path: &Path) -> bool {
        super::is_canonical(path.as_os_str().as_encoded_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::path::Path;

    #[cfg(feature = "unstable-fs")]
    #[test]
    fn equal_paths_hash_alike() {
        let build = FastBuildHasher::default();
        let hash = |path: &str| build.hash_one(PathQuery::new(Path::new(path)));
        assert_eq!(hash("/data/a/b"), hash("/data//a/./b/"));
        assert_eq!(
            hash("/data/a/b"),
            build.hash_one(PathKey::new(PathBuf::from("/data/a/b")))
        );
        assert_ne!(hash("/data/a/b"), hash("/data/a/c"));
        assert_ne!(hash("/data/ab"), hash("/data/a/b"));
    }
}
