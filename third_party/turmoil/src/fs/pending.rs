//! The queue of pending (not yet durable) file-system operations of one host, indexed by
//! path.
//!
//! Upstream 0.7.2 keeps the queue in a `Vec` and answers every existence check, listing and
//! rename resolution by scanning all of it. The queue only shrinks on `sync_all`,
//! `sync_dir` or a crash, so a program that never syncs a directory makes every later call
//! slower. Here each operation gets a sequence number (its position in the queue, never
//! reused) and two indexes point at it: by every path it names, and by the parent directory
//! of every directory entry it creates, removes or renames. A query walks only the
//! operations that can touch its path, in queue order, and applies exactly the rules the
//! scan applied, so results are the same.

use std::collections::{BTreeMap, BTreeSet};

use std::ops::RangeBounds;
use std::path::Path;
use std::time::Duration;

use crate::fast_hash::{parent, same_path, PathMap};
use super::PendingOp;

/// One queued operation and the simulated time it was made at.
#[derive(Debug, Clone)]
struct Entry {
    op: PendingOp,
    at: Duration,
}

/// Pending operations in the order they were made, indexed by path and by parent directory.
///
/// The indexes are only looked up, never iterated, so their (insertion) order reaches
/// nothing; they are hashed because a `BTreeMap` lookup compares `Path`s component by
/// component a dozen times.
#[derive(Debug, Default)]
pub(crate) struct PendingOps {
    /// Sequence number -> operation; iteration order is queue order.
    ops: BTreeMap<u64, Entry>,
    /// Every path an operation names (path, rename source and destination, hard-link target)
    /// -> the operations naming it.
    by_path: PathMap<BTreeSet<u64>>,
    /// Parent directory of every directory entry an operation creates, removes or renames
    /// -> those operations.
    by_parent: PathMap<BTreeSet<u64>>,
    /// The next sequence number.
    next_seq: u64,
}

/// The paths `op` names, each once.
fn named_paths(op: &PendingOp) -> [Option<&Path>; 2] {
    match op {
        PendingOp::CreateFile { path, .. }
        | PendingOp::CreateDir { path, .. }
        | PendingOp::CreateSymlink { path, .. }
        | PendingOp::Write { path, .. }
        | PendingOp::SetLen { path, .. }
        | PendingOp::SetPermissions { path, .. }
        | PendingOp::RemoveFile { path }
        | PendingOp::RemoveDir { path } => [Some(path), None],
        PendingOp::CreateHardLink { path, target, .. } => {
            [Some(path), Some(target.as_path()).filter(|t| !same_path(t, path))]
        }
        PendingOp::Rename { from, to } => [Some(from), Some(to.as_path()).filter(|t| !same_path(t, from))],
    }
}

/// The parent directories whose entries `op` changes, each once.
fn entry_parents(op: &PendingOp) -> [Option<&Path>; 2] {
    match op {
        PendingOp::CreateFile { path, .. }
        | PendingOp::CreateDir { path, .. }
        | PendingOp::CreateSymlink { path, .. }
        | PendingOp::CreateHardLink { path, .. }
        | PendingOp::RemoveFile { path }
        | PendingOp::RemoveDir { path } => [parent(path), None],
        PendingOp::Rename { from, to } => {
            let from_parent = parent(from);
            let to_parent =
                parent(to).filter(|p| !from_parent.is_some_and(|from_parent| same_path(p, from_parent)));
            [from_parent, to_parent]
        }
        PendingOp::Write { .. } | PendingOp::SetLen { .. } | PendingOp::SetPermissions { .. } => {
            [None, None]
        }
    }
}

fn index_insert(index: &mut PathMap<BTreeSet<u64>>, key: &Path, seq: u64) {
    match index.get_mut(key) {
        Some(seqs) => {
            seqs.insert(seq);
        }
        None => {
            index.insert(key.to_path_buf(), BTreeSet::from([seq]));
        }
    }
}

fn index_remove(index: &mut PathMap<BTreeSet<u64>>, key: &Path, seq: u64) {
    if let Some(seqs) = index.get_mut(key) {
        seqs.remove(&seq);
        if seqs.is_empty() {
            index.swap_remove(key);
        }
    }
}

impl PendingOps {
    /// Appends `op`, made at simulated time `at`; returns its sequence number.
    pub(crate) fn push(&mut self, op: PendingOp, at: Duration) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        for path in named_paths(&op).into_iter().flatten() {
            index_insert(&mut self.by_path, path, seq);
        }
        for parent in entry_parents(&op).into_iter().flatten() {
            index_insert(&mut self.by_parent, parent, seq);
        }
        self.ops.insert(seq, Entry { op, at });
        seq
    }

    /// Removes operation `seq` from the queue and both indexes.
    pub(crate) fn remove(&mut self, seq: u64) -> Option<PendingOp> {
        let entry = self.ops.remove(&seq)?;
        for path in named_paths(&entry.op).into_iter().flatten() {
            index_remove(&mut self.by_path, path, seq);
        }
        for parent in entry_parents(&entry.op).into_iter().flatten() {
            index_remove(&mut self.by_parent, parent, seq);
        }
        Some(entry.op)
    }

    /// Removes the operations `seqs` (in any order) and returns them in queue order.
    pub(crate) fn take(&mut self, seqs: impl IntoIterator<Item = u64>) -> Vec<(u64, PendingOp)> {
        let seqs: BTreeSet<u64> = seqs.into_iter().collect();
        seqs.into_iter()
            .filter_map(|seq| self.remove(seq).map(|op| (seq, op)))
            .collect()
    }

    /// Drops every operation.
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.by_path.clear();
        self.by_parent.clear();
    }

    /// Number of queued operations.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Every operation, in queue order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &PendingOp)> + '_ {
        self.ops.iter().map(|(seq, entry)| (*seq, &entry.op))
    }

    /// The operation with sequence number `seq`.
    pub(crate) fn get(&self, seq: u64) -> Option<&PendingOp> {
        self.ops.get(&seq).map(|entry| &entry.op)
    }

    /// Sequence numbers of the operations made at or before `cutoff`, oldest first: the
    /// longest prefix of the queue (a worker thread's captured clock may run behind the
    /// host's, so the prefix stops at the first later operation).
    pub(crate) fn made_by(&self, cutoff: Duration) -> Vec<u64> {
        self.ops
            .iter()
            .take_while(|(_, entry)| entry.at <= cutoff)
            .map(|(seq, _)| *seq)
            .collect()
    }

    /// Operations naming `path` (as path, rename source or destination, or hard-link
    /// target) whose sequence numbers lie in `range`, in queue order.
    pub(crate) fn naming_in<R: RangeBounds<u64>>(
        &self,
        path: &Path,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (u64, &PendingOp)> + '_ {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        self.by_path
            .get(path)
            .into_iter()
            .flat_map(move |seqs| seqs.range(bounds))
            .map(|seq| (*seq, &self.ops[seq].op))
    }

    /// Whether any operation names `path` (as path, rename source or destination, or
    /// hard-link target). When none does, the persisted state answers every question about
    /// the file at `path` (patch 7).
    pub(crate) fn names(&self, path: &Path) -> bool {
        self.by_path.contains_key(path)
    }

    /// Operations naming `path`, in queue order.
    pub(crate) fn naming(
        &self,
        path: &Path,
    ) -> impl DoubleEndedIterator<Item = (u64, &PendingOp)> + '_ {
        self.naming_in(path, ..)
    }

    /// Operations that create, remove or rename an entry of directory `dir`, in queue order.
    pub(crate) fn in_dir(
        &self,
        dir: &Path,
    ) -> impl DoubleEndedIterator<Item = (u64, &PendingOp)> + '_ {
        self.by_parent
            .get(dir)
            .into_iter()
            .flatten()
            .map(|seq| (*seq, &self.ops[seq].op))
    }

    /// Sequence numbers of operations naming any of `paths` or changing an entry of any of
    /// `dirs`, merged in queue order without repeats.
    pub(crate) fn merged(&self, paths: &[&Path], dirs: &[&Path]) -> Vec<u64> {
        let mut seqs: BTreeSet<u64> = BTreeSet::new();
        for path in paths {
            if let Some(found) = self.by_path.get(path) {
                seqs.extend(found);
            }
        }
        for dir in dirs {
            if let Some(found) = self.by_parent.get(dir) {
                seqs.extend(found);
            }
        }
        seqs.into_iter().collect()
    }
}
