//! The file-system seam: every file operation the server performs, as an object-safe async
//! trait with one implementation on the real disk and one on turmoil's simulated disk, plus
//! the named [`Step`]s and the [`StepHook`] that lets the simulator crash a host between two
//! of them.
//!
//! Why a trait and not `cfg` switches: the same handler code runs in the real `raida` daemon
//! ([`RealFs`], tokio's file system) and inside turmoil hosts ([`SimFs`], turmoil's shims with
//! their durability model: writes pending until `sync_all`, directory entries pending until
//! `sync_dir`, pending state dropped by `Sim::crash`).
//!
//! Why steps: turmoil can only crash a host at an `.await`, and the shim calls never yield.
//! So the stores report each completed operation to a [`StepHook`] and await it. The real
//! daemon passes [`NoopHook`]; the simulator passes a [`CrashHook`] whose [`CrashPlan`] says
//! "park at the k-th occurrence of step S"; it then calls `Sim::crash` on the host, so the
//! crash lands exactly after S completed and before the next operation started.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::{self, Debug};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A boxed, sendable future; the return type of every object-safe async method here.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed file-system future.
pub type FsFuture<'a, T> = BoxFuture<'a, io::Result<T>>;

/// What the server needs to know about a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes (0 for a directory in the simulator).
    pub len_bytes: u64,
    /// Modification time as the file system reports it (map it through the server's clock).
    pub modified: SystemTime,
    /// Whether the path is a directory.
    pub is_dir: bool,
}

/// The file operations the server performs; nothing else touches a disk.
pub trait Fs: Send + Sync + Debug {
    /// Creates `path` and any missing parents (no error if it exists).
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()>;
    /// Creates a new file for writing, failing with `AlreadyExists` if the name is taken
    /// (O_CREAT|O_EXCL).
    fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>>;
    /// Renames `from` to `to`, atomically replacing `to`.
    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()>;
    /// Makes the directory's entries durable (fsync of the directory).
    fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()>;
    /// Reads a whole file.
    fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>>;
    /// Lists the names in a directory, sorted (the simulator's listing order is a hash order,
    /// so sorting here keeps one seed one trace).
    fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>>;
    /// Size, mtime and kind of a path (follows symlinks).
    fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta>;
    /// Removes a file.
    fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()>;
}

/// A file opened by [`Fs::create_new`]. Each method is one step of a publish.
pub trait FsFile: Send + Debug {
    /// Writes all of `bytes` at the current end of what this handle wrote.
    fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()>;
    /// Makes the file's data and inode durable (fsync).
    fn sync_all(&mut self) -> FsFuture<'_, ()>;
    /// Closes the handle.
    fn close(self: Box<Self>) -> FsFuture<'static, ()>;
}

// ---------------------------------------------------------------------------------------------
// Real file system
// ---------------------------------------------------------------------------------------------

/// The real disk, through `tokio::fs`. REAL DAEMON ONLY (it is not simulated).
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile {
    file: tokio::fs::File,
}

impl FsFile for RealFile {
    fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()> {
        use tokio::io::AsyncWriteExt;
        Box::pin(async move {
            self.file.write_all(bytes).await?;
            self.file.flush().await
        })
    }

    fn sync_all(&mut self) -> FsFuture<'_, ()> {
        Box::pin(self.file.sync_all())
    }

    fn close(self: Box<Self>) -> FsFuture<'static, ()> {
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            let mut file = self.file;
            file.flush().await?;
            drop(file);
            Ok(())
        })
    }
}

impl Fs for RealFs {
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(tokio::fs::create_dir_all(path))
    }

    fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .await?;
            Ok(Box::new(RealFile { file }) as Box<dyn FsFile>)
        })
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(tokio::fs::rename(from, to))
    }

    fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        let path = path.to_path_buf();
        Box::pin(async move {
            let joined =
                tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all());
            match joined.await {
                Ok(result) => result,
                Err(join_error) => Err(io::Error::other(join_error)),
            }
        })
    }

    fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>> {
        Box::pin(tokio::fs::read(path))
    }

    fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>> {
        Box::pin(async move {
            let mut entries = tokio::fs::read_dir(path).await?;
            let mut names = Vec::new();
            while let Some(entry) = entries.next_entry().await? {
                names.push(entry.file_name());
            }
            names.sort();
            Ok(names)
        })
    }

    fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta> {
        Box::pin(async move {
            let metadata = tokio::fs::metadata(path).await?;
            Ok(FileMeta {
                len_bytes: metadata.len(),
                modified: metadata.modified()?,
                is_dir: metadata.is_dir(),
            })
        })
    }

    fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(tokio::fs::remove_file(path))
    }
}

// ---------------------------------------------------------------------------------------------
// Simulated file system
// ---------------------------------------------------------------------------------------------

/// turmoil's per-host simulated disk (feature `unstable-fs`), through its tokio shim so the
/// configured I/O latency applies. Only usable inside a turmoil host: every call looks up the
/// current host's file system. Paths must be absolute.
///
/// mtimes: turmoil stamps creations and writes with the host's un-skewed `since_epoch()`
/// time; [`FileMeta::modified`] carries that, and the server maps it through its own clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimFs;

#[derive(Debug)]
struct SimFile {
    file: turmoil::fs::shim::tokio::fs::File,
    offset_bytes: u64,
}

impl FsFile for SimFile {
    fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let mut written_bytes = 0usize;
            while let Some(rest) = bytes.get(written_bytes..).filter(|rest| !rest.is_empty()) {
                let count = self.file.write_at(rest, self.offset_bytes).await?;
                if count == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                written_bytes += count;
                self.offset_bytes += count as u64;
            }
            Ok(())
        })
    }

    fn sync_all(&mut self) -> FsFuture<'_, ()> {
        Box::pin(self.file.sync_all())
    }

    fn close(self: Box<Self>) -> FsFuture<'static, ()> {
        // Dropping the shim handle unregisters it from the host's open-handle table.
        drop(self);
        Box::pin(async { Ok(()) })
    }
}

impl Fs for SimFs {
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(turmoil::fs::shim::tokio::fs::create_dir_all(path))
    }

    fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            let file = turmoil::fs::shim::tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .await?;
            Ok(Box::new(SimFile {
                file,
                offset_bytes: 0,
            }) as Box<dyn FsFile>)
        })
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(turmoil::fs::shim::tokio::fs::rename(from, to))
    }

    fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(turmoil::fs::shim::tokio::fs::sync_dir(path))
    }

    fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>> {
        Box::pin(turmoil::fs::shim::tokio::fs::read(path))
    }

    fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>> {
        Box::pin(async move {
            let entries = turmoil::fs::shim::tokio::fs::read_dir(path).await?;
            let mut names = Vec::new();
            for entry in entries {
                names.push(entry?.file_name());
            }
            names.sort();
            Ok(names)
        })
    }

    fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta> {
        Box::pin(async move {
            let metadata = turmoil::fs::shim::tokio::fs::metadata(path).await?;
            Ok(FileMeta {
                len_bytes: metadata.len(),
                modified: metadata.modified()?,
                is_dir: metadata.is_dir(),
            })
        })
    }

    fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(turmoil::fs::shim::tokio::fs::remove_file(path))
    }
}

// ---------------------------------------------------------------------------------------------
// Steps and hooks
// ---------------------------------------------------------------------------------------------

/// One completed file-system operation of the server, named so a crash can be placed after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A storage root (or one of its ancestors) was looked up (`metadata`).
    RootStatted,
    /// A storage root (mailboxes or stripes) was created (`create_dir_all`).
    RootDirCreated,
    /// One ancestor of a storage root was synced (only with the matching fsync setting).
    RootDirSynced,
    /// The inbox directory was looked up (`metadata`) to see whether it must be created.
    InboxStatted,
    /// The inbox directory and its missing parents were created.
    InboxDirCreated,
    /// One parent of a newly created inbox was synced (only with `inbox_dir_fsync`).
    InboxDirSynced,
    /// The existing `.tell` at the target name was read for the edit_sequence guard.
    TellGuardRead,
    /// The hidden temp file was created exclusively.
    TellTempCreated,
    /// The blob was written to the temp file.
    TellTempWritten,
    /// The temp file was fsynced.
    TellTempSynced,
    /// The temp file was closed.
    TellTempClosed,
    /// Under the publish lock, the existing `.tell` was read again just before the rename.
    TellGuardRechecked,
    /// The temp file was renamed to its `.tell` name: the tell is now visible.
    TellRenamed,
    /// The inbox directory was synced after the rename (only with `inbox_dir_fsync`).
    TellDirSynced,
    /// A failed publish removed its temp file.
    TellTempRemoved,
    /// The inbox directory was listed.
    InboxListed,
    /// One `.tell` file's metadata (mtime) was read.
    TellStatted,
    /// One `.tell` file was read.
    TellRead,
    /// A `.tell` about to be deleted was re-read to check it is still the one delivered.
    TellDeleteChecked,
    /// A delivered `.tell` was removed.
    TellDeleted,
    /// The inbox directory was synced after deletions (only with `inbox_dir_fsync`).
    TellDeleteDirSynced,
    /// The stripe temp file was created exclusively.
    StripeTempCreated,
    /// The stripe (header + data) was written to the temp file.
    StripeTempWritten,
    /// The stripe temp file was fsynced.
    StripeTempSynced,
    /// The stripe temp file was closed.
    StripeTempClosed,
    /// The stripe temp file was renamed to its final name.
    StripeRenamed,
    /// The stripe directory was synced after the rename (only with `stripe_dir_fsync`).
    StripeDirSynced,
    /// A failed stripe put removed its temp file.
    StripeTempRemoved,
    /// A stripe file was read.
    StripeRead,
    /// An expired stripe was removed.
    StripeDeleted,
    /// The stripe directory was synced after an expiry removal (only with `stripe_dir_fsync`).
    StripeDeleteDirSynced,
}

impl Step {
    /// Every step, in declaration order.
    pub const ALL: [Step; 31] = [
        Step::RootStatted,
        Step::RootDirCreated,
        Step::RootDirSynced,
        Step::InboxStatted,
        Step::InboxDirCreated,
        Step::InboxDirSynced,
        Step::TellGuardRead,
        Step::TellTempCreated,
        Step::TellTempWritten,
        Step::TellTempSynced,
        Step::TellTempClosed,
        Step::TellGuardRechecked,
        Step::TellRenamed,
        Step::TellDirSynced,
        Step::TellTempRemoved,
        Step::InboxListed,
        Step::TellStatted,
        Step::TellRead,
        Step::TellDeleteChecked,
        Step::TellDeleted,
        Step::TellDeleteDirSynced,
        Step::StripeTempCreated,
        Step::StripeTempWritten,
        Step::StripeTempSynced,
        Step::StripeTempClosed,
        Step::StripeRenamed,
        Step::StripeDirSynced,
        Step::StripeTempRemoved,
        Step::StripeRead,
        Step::StripeDeleted,
        Step::StripeDeleteDirSynced,
    ];
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(self, f)
    }
}

/// Told about every completed [`Step`]; the server awaits the returned future before its next
/// file operation, so an implementation can hold the task there.
pub trait StepHook: Send + Sync + Debug {
    /// `step` just completed on `host_path` (the file or directory it touched).
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()>;
}

/// The real daemon's hook: continues at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopHook;

impl StepHook for NoopHook {
    fn reached<'a>(&'a self, _step: Step, _host_path: &'a Path) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Where a [`CrashPlan`] fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The step after which the task parked.
    pub step: Step,
    /// Which occurrence of that step it was (1-based, counted since the counts were reset).
    pub occurrence: u64,
    /// The path the step touched.
    pub host_path: PathBuf,
}

/// "Park at the `occurrence`-th time `step` completes", plus a count of every step seen.
#[derive(Debug, Default)]
pub struct CrashPlan {
    target: Option<(Step, u64)>,
    seen: BTreeMap<Step, u64>,
    fired: Option<CrashPoint>,
}

impl CrashPlan {
    /// An unarmed plan: counts steps, never parks.
    pub fn new() -> CrashPlan {
        CrashPlan::default()
    }

    /// A plan armed at the `occurrence`-th completion of `step` (1-based).
    pub fn at(step: Step, occurrence: u64) -> CrashPlan {
        let mut plan = CrashPlan::new();
        plan.arm(step, occurrence);
        plan
    }

    /// Arms the plan at the `occurrence`-th completion of `step`, counted from now on top of
    /// the occurrences already seen. Clears an earlier firing.
    pub fn arm(&mut self, step: Step, occurrence: u64) {
        assert!(occurrence >= 1, "occurrences are 1-based");
        let seen = self.occurrences(step);
        self.target = Some((step, seen + occurrence));
        self.fired = None;
    }

    /// Stops the plan from firing (the counts continue).
    pub fn disarm(&mut self) {
        self.target = None;
    }

    /// Where the plan fired, if it has.
    pub fn fired(&self) -> Option<&CrashPoint> {
        self.fired.as_ref()
    }

    /// How often `step` has completed.
    pub fn occurrences(&self, step: Step) -> u64 {
        self.seen.get(&step).copied().unwrap_or(0)
    }

    /// Forgets the step counts and a firing (for example after the harness restarted a host).
    pub fn reset(&mut self) {
        self.seen.clear();
        self.fired = None;
        self.target = None;
    }

    /// Records `step` on `host_path`; returns true when this is the one to park at.
    fn record(&mut self, step: Step, host_path: &Path) -> bool {
        let count = self.seen.entry(step).or_insert(0);
        *count += 1;
        let occurrence = *count;
        if self.target != Some((step, occurrence)) {
            return false;
        }
        self.target = None;
        self.fired = Some(CrashPoint {
            step,
            occurrence,
            host_path: host_path.to_path_buf(),
        });
        true
    }
}

/// The simulator's hook: counts steps in a shared [`CrashPlan`] and parks the task forever at
/// the planned one, so the harness (which polls [`CrashHook::fired`] between sim steps) can
/// call `Sim::crash` on the host with the operation after that step not yet started.
#[derive(Clone, Debug, Default)]
pub struct CrashHook {
    plan: Arc<Mutex<CrashPlan>>,
}

impl CrashHook {
    /// A hook driven by `plan`, shared with the harness.
    pub fn new(plan: Arc<Mutex<CrashPlan>>) -> CrashHook {
        CrashHook { plan }
    }

    /// The shared plan.
    pub fn plan(&self) -> &Arc<Mutex<CrashPlan>> {
        &self.plan
    }

    /// Where the plan fired, if it has.
    pub fn fired(&self) -> Option<CrashPoint> {
        self.lock().fired().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CrashPlan> {
        // A poisoned lock means a test already panicked while holding it.
        self.plan.lock().expect("crash plan lock poisoned")
    }
}

impl StepHook for CrashHook {
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
        let park = self.lock().record(step, host_path);
        if park {
            tracing::debug!(%step, path = %host_path.display(), "crash plan fired; parking task");
            Box::pin(std::future::pending())
        } else {
            Box::pin(std::future::ready(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn poll_once(future: &mut BoxFuture<'_, ()>) -> Poll<()> {
        let mut context = Context::from_waker(Waker::noop());
        future.as_mut().poll(&mut context)
    }

    #[test]
    fn noop_hook_is_ready() {
        let hook = NoopHook;
        let mut future = hook.reached(Step::TellRenamed, Path::new("/x"));
        assert_eq!(poll_once(&mut future), Poll::Ready(()));
    }

    #[test]
    fn crash_hook_parks_exactly_at_the_planned_occurrence() {
        let plan = Arc::new(Mutex::new(CrashPlan::at(Step::TellTempSynced, 2)));
        let hook = CrashHook::new(plan.clone());
        let path = Path::new("/inbox/.tmp.1");
        for step in [
            Step::TellTempCreated,
            Step::TellTempSynced,
            Step::TellRenamed,
        ] {
            let mut future = hook.reached(step, path);
            assert_eq!(poll_once(&mut future), Poll::Ready(()), "{step}");
        }
        assert_eq!(hook.fired(), None);
        let mut parked = hook.reached(Step::TellTempSynced, Path::new("/inbox/.tmp.2"));
        assert_eq!(poll_once(&mut parked), Poll::Pending);
        assert_eq!(poll_once(&mut parked), Poll::Pending, "stays parked");
        let fired = hook.fired().expect("fired");
        assert_eq!(fired.step, Step::TellTempSynced);
        assert_eq!(fired.occurrence, 2);
        assert_eq!(fired.host_path, PathBuf::from("/inbox/.tmp.2"));
        // It fires once; later steps (other tasks) continue.
        let mut after = hook.reached(Step::TellTempSynced, path);
        assert_eq!(poll_once(&mut after), Poll::Ready(()));
        let plan = plan.lock().expect("lock");
        assert_eq!(plan.occurrences(Step::TellTempSynced), 3);
        assert_eq!(plan.occurrences(Step::TellRenamed), 1);
        assert_eq!(plan.occurrences(Step::TellDeleted), 0);
    }

    #[test]
    fn crash_plan_arm_counts_from_now_and_disarm_stops_it() {
        let plan = Arc::new(Mutex::new(CrashPlan::new()));
        let hook = CrashHook::new(plan.clone());
        let path = Path::new("/p");
        let mut first = hook.reached(Step::StripeRenamed, path);
        assert_eq!(poll_once(&mut first), Poll::Ready(()));
        plan.lock().expect("lock").arm(Step::StripeRenamed, 1);
        plan.lock().expect("lock").disarm();
        let mut second = hook.reached(Step::StripeRenamed, path);
        assert_eq!(poll_once(&mut second), Poll::Ready(()), "disarmed");
        plan.lock().expect("lock").arm(Step::StripeRenamed, 1);
        let mut third = hook.reached(Step::StripeRenamed, path);
        assert_eq!(
            poll_once(&mut third),
            Poll::Pending,
            "armed relative to the count"
        );
        assert_eq!(hook.fired().map(|point| point.occurrence), Some(3));
        plan.lock().expect("lock").reset();
        assert_eq!(hook.fired(), None);
        assert_eq!(
            plan.lock().expect("lock").occurrences(Step::StripeRenamed),
            0
        );
    }

    #[test]
    fn step_list_is_complete_and_ordered() {
        let mut sorted = Step::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), Step::ALL.len());
        assert_eq!(sorted, Step::ALL.to_vec());
    }

    #[tokio::test]
    async fn real_fs_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = RealFs;
        let sub = dir.path().join("a/b");
        fs.create_dir_all(&sub).await.expect("mkdir");
        let path = sub.join("f");
        let mut file = fs.create_new(&path).await.expect("create");
        file.write_all(b"hello").await.expect("write");
        file.sync_all().await.expect("sync");
        file.close().await.expect("close");
        let again = fs.create_new(&path).await.expect_err("exclusive");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        fs.sync_dir(&sub).await.expect("sync dir");
        let to = sub.join("g");
        fs.rename(&path, &to).await.expect("rename");
        assert_eq!(fs.read(&to).await.expect("read"), b"hello");
        let meta = fs.metadata(&to).await.expect("meta");
        assert_eq!(meta.len_bytes, 5);
        assert!(!meta.is_dir);
        assert!(fs.metadata(&sub).await.expect("dir meta").is_dir);
        let mut second = fs.create_new(&sub.join("a")).await.expect("create");
        second.write_all(b"").await.expect("empty write");
        second.close().await.expect("close");
        assert_eq!(
            fs.read_dir(&sub).await.expect("list"),
            vec![OsString::from("a"), OsString::from("g")]
        );
        fs.remove_file(&to).await.expect("remove");
        let gone = fs.read(&to).await.expect_err("removed");
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }
}
