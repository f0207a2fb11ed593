//! A fault-injecting [`Fs`] wrapper: storage failures on demand, for tests of what the server
//! answers when its disk misbehaves (and, later, for the simulator's storage knobs).
//!
//! [`FaultyFs`] passes every call to an inner file system, except those a [`Fault`] rule
//! matches: the rule names the operation ([`FsOp`]), optionally a part of the path, how many
//! matching calls to let through first (`after`) and how many to hit (`times`, or every one
//! after that). A hit either fails the call with an [`io::ErrorKind`] (`StorageFull` stands
//! for ENOSPC) without touching the inner file system, or — for [`FsOp::Read`] only — lets
//! the read succeed and flips one byte of what it returns (a silent media error).
//!
//! Nothing here is random: the N-th matching call is hit, so a test (or a seeded simulator)
//! gets the same failures every run. Writes, syncs and closes of files opened through the
//! wrapper are matched too (the file handle shares the rules).

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{FileMeta, Fs, FsFile, FsFuture};

/// The operations a rule can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FsOp {
    /// [`Fs::create_dir_all`].
    CreateDir,
    /// [`Fs::create_new`].
    Create,
    /// [`FsFile::write_all`].
    Write,
    /// [`FsFile::sync_all`] (fsync of a file).
    Sync,
    /// [`FsFile::close`].
    Close,
    /// [`Fs::rename`].
    Rename,
    /// [`Fs::sync_dir`] (fsync of a directory).
    SyncDir,
    /// [`Fs::read`].
    Read,
    /// [`Fs::read_dir`].
    ReadDir,
    /// [`Fs::metadata`].
    Metadata,
    /// [`Fs::remove_file`].
    Remove,
    /// [`Fs::open_write`] (the open; the file's writes, syncs and close are matched as
    /// [`FsOp::Write`], [`FsOp::Sync`] and [`FsOp::Close`], as for a created file).
    OpenWrite,
}

/// What a hit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// The call fails with this kind; the inner file system is not called.
    Fail(io::ErrorKind),
    /// The read succeeds and byte `len / 2` of the result is inverted (reads only; an empty
    /// result is returned as is).
    FlipByte,
}

/// One injection rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    op: FsOp,
    path_contains: Option<String>,
    after_count: u64,
    times: Option<u64>,
    action: FaultAction,
}

impl Fault {
    /// A rule failing every `op` with an I/O error (until narrowed).
    pub fn on(op: FsOp) -> Fault {
        Fault {
            op,
            path_contains: None,
            after_count: 0,
            times: None,
            action: FaultAction::Fail(io::ErrorKind::Other),
        }
    }

    /// Hits fail with `kind` (`io::ErrorKind::StorageFull` for a full disk).
    pub fn error(self, kind: io::ErrorKind) -> Fault {
        Fault {
            action: FaultAction::Fail(kind),
            ..self
        }
    }

    /// Hits flip a byte of what a read returns instead of failing. Panics for another op:
    /// a test bug.
    pub fn flip_byte(self) -> Fault {
        assert_eq!(self.op, FsOp::Read, "only reads can return flipped bytes");
        Fault {
            action: FaultAction::FlipByte,
            ..self
        }
    }

    /// Only calls whose path contains `part` match.
    pub fn path_contains(self, part: &str) -> Fault {
        Fault {
            path_contains: Some(part.to_string()),
            ..self
        }
    }

    /// The first `count` matching calls go through.
    pub fn after(self, count: u64) -> Fault {
        Fault {
            after_count: count,
            ..self
        }
    }

    /// Hits at most `count` calls, then the rule is spent.
    pub fn times(self, count: u64) -> Fault {
        Fault {
            times: Some(count),
            ..self
        }
    }
}

/// A rule and how many calls it matched so far.
#[derive(Debug)]
struct Armed {
    fault: Fault,
    matched_count: u64,
}

impl Armed {
    /// Counts a matching call; its action when this call is hit.
    fn hit(&mut self, op: FsOp, path: &Path) -> Option<FaultAction> {
        if op != self.fault.op {
            return None;
        }
        if let Some(part) = &self.fault.path_contains {
            if !path.to_string_lossy().contains(part.as_str()) {
                return None;
            }
        }
        let index = self.matched_count;
        self.matched_count += 1;
        if index < self.fault.after_count {
            return None;
        }
        let hit_index = index - self.fault.after_count;
        if self.fault.times.is_some_and(|times| hit_index >= times) {
            return None;
        }
        Some(self.fault.action)
    }
}

/// The rules and the record of hits, shared by the wrapper and its open files.
#[derive(Debug, Default)]
struct Rules {
    armed: Vec<Armed>,
    hit_count: u64,
}

#[derive(Debug, Default)]
struct Shared {
    rules: Mutex<Rules>,
}

impl Shared {
    /// The action of the first rule hitting this call, if any.
    fn check(&self, op: FsOp, path: &Path) -> Option<FaultAction> {
        let mut rules = self.rules.lock().expect("fault rules lock poisoned");
        // Every rule counts the call, so each rule's `after` counts its own matches.
        let mut action = None;
        for armed in &mut rules.armed {
            let hit = armed.hit(op, path);
            if action.is_none() {
                action = hit;
            }
        }
        if action.is_some() {
            rules.hit_count += 1;
        }
        action
    }

    /// `Err` when this call is failed by a rule; `Ok(flip)` otherwise.
    fn gate(&self, op: FsOp, path: &Path) -> io::Result<bool> {
        match self.check(op, path) {
            None => Ok(false),
            Some(FaultAction::FlipByte) => Ok(true),
            Some(FaultAction::Fail(kind)) => Err(injected(kind, op, path)),
        }
    }
}

fn injected(kind: io::ErrorKind, op: FsOp, path: &Path) -> io::Error {
    io::Error::new(
        kind,
        format!("injected {kind} on {op:?} of {}", path.display()),
    )
}

/// The wrapper; see the module docs.
#[derive(Clone)]
pub struct FaultyFs {
    inner: Arc<dyn Fs>,
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultyFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyFs")
            .field("inner", &self.inner)
            .field("hit_count", &self.hit_count())
            .finish()
    }
}

impl FaultyFs {
    /// `inner` with no rule yet.
    pub fn new(inner: Arc<dyn Fs>) -> FaultyFs {
        FaultyFs {
            inner,
            shared: Arc::new(Shared::default()),
        }
    }

    /// Adds a rule (checked after the ones already there).
    pub fn inject(&self, fault: Fault) {
        let mut rules = self.shared.rules.lock().expect("fault rules lock poisoned");
        rules.armed.push(Armed {
            fault,
            matched_count: 0,
        });
    }

    /// Removes every rule: the disk is healthy again.
    pub fn heal(&self) {
        let mut rules = self.shared.rules.lock().expect("fault rules lock poisoned");
        rules.armed.clear();
    }

    /// How many calls the rules have hit so far.
    pub fn hit_count(&self) -> u64 {
        self.shared
            .rules
            .lock()
            .expect("fault rules lock poisoned")
            .hit_count
    }
}

/// A file opened through [`FaultyFs`]: its writes, syncs and close are matched against the
/// rules under the path it was created or opened with.
#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn FsFile>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
}

impl FsFile for FaultyFile {
    fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::Write, &self.path)?;
            self.inner.write_all(bytes).await
        })
    }

    fn sync_all(&mut self) -> FsFuture<'_, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::Sync, &self.path)?;
            self.inner.sync_all().await
        })
    }

    fn close(self: Box<Self>) -> FsFuture<'static, ()> {
        Box::pin(async move {
            let FaultyFile {
                inner,
                path,
                shared,
            } = *self;
            let gate = shared.gate(FsOp::Close, &path);
            // The handle is released either way, as a failed close(2) releases it.
            let closed = inner.close().await;
            gate?;
            closed
        })
    }
}

impl Fs for FaultyFs {
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::CreateDir, path)?;
            self.inner.create_dir_all(path).await
        })
    }

    fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            self.shared.gate(FsOp::Create, path)?;
            let inner = self.inner.create_new(path).await?;
            Ok(Box::new(FaultyFile {
                inner,
                path: path.to_path_buf(),
                shared: self.shared.clone(),
            }) as Box<dyn FsFile>)
        })
    }

    fn open_write<'a>(
        &'a self,
        path: &'a Path,
        offset_bytes: u64,
    ) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            self.shared.gate(FsOp::OpenWrite, path)?;
            let inner = self.inner.open_write(path, offset_bytes).await?;
            Ok(Box::new(FaultyFile {
                inner,
                path: path.to_path_buf(),
                shared: self.shared.clone(),
            }) as Box<dyn FsFile>)
        })
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::Rename, to)?;
            self.inner.rename(from, to).await
        })
    }

    fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::SyncDir, path)?;
            self.inner.sync_dir(path).await
        })
    }

    fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let flip = self.shared.gate(FsOp::Read, path)?;
            let mut bytes = self.inner.read(path).await?;
            if flip {
                let middle = bytes.len() / 2;
                if let Some(byte) = bytes.get_mut(middle) {
                    *byte ^= 0xFF;
                }
            }
            Ok(bytes)
        })
    }

    fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>> {
        Box::pin(async move {
            self.shared.gate(FsOp::ReadDir, path)?;
            self.inner.read_dir(path).await
        })
    }

    fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta> {
        Box::pin(async move {
            self.shared.gate(FsOp::Metadata, path)?;
            self.inner.metadata(path).await
        })
    }

    fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.shared.gate(FsOp::Remove, path)?;
            self.inner.remove_file(path).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;

    #[tokio::test]
    async fn rules_hit_the_nth_matching_call_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultyFs::new(Arc::new(RealFs));
        fs.inject(
            Fault::on(FsOp::Sync)
                .error(io::ErrorKind::StorageFull)
                .path_contains("/b")
                .after(1)
                .times(1),
        );
        let sync = |name: &'static str| {
            let fs = fs.clone();
            let path = dir.path().join(name);
            async move {
                let mut file = fs.create_new(&path).await.expect("create");
                file.write_all(b"x").await.expect("write");
                let synced = file.sync_all().await;
                file.close().await.expect("close");
                synced
            }
        };
        sync("a1").await.expect("path does not match");
        sync("b1").await.expect("first match let through");
        let error = sync("b2").await.expect_err("second match hit");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert!(error.to_string().contains("injected"), "{error}");
        sync("b3").await.expect("rule spent");
        assert_eq!(fs.hit_count(), 1);
    }

    #[tokio::test]
    async fn flipped_reads_and_heal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8, 2, 3]).expect("write");
        let fs = FaultyFs::new(Arc::new(RealFs));
        fs.inject(Fault::on(FsOp::Read).flip_byte());
        fs.inject(Fault::on(FsOp::Rename));
        assert_eq!(fs.read(&path).await.expect("read"), vec![1, 0xFD, 3]);
        let renamed = fs.rename(&path, &dir.path().join("g")).await;
        assert!(renamed.is_err());
        assert!(path.exists(), "a failed rename does not reach the disk");
        fs.heal();
        assert_eq!(fs.read(&path).await.expect("read"), vec![1, 2, 3]);
        assert_eq!(fs.hit_count(), 2);
    }
}
