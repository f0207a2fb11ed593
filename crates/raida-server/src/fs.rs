//! The file-system seam: every file operation the server performs, as an object-safe async
//! trait with one implementation on the real disk and one on turmoil's simulated disk, plus
//! the named [`Step`]s and the [`StepHook`] that lets the simulator crash a host between two
//! of them.
//!
//! Why a trait and not `cfg` switches: the same handler code runs in the real `raida` daemon
//! ([`RealFs`], tokio's file system) and inside turmoil hosts (`SimFs`, turmoil's shims with
//! their durability model: writes pending until `sync_all`, directory entries pending until
//! `sync_dir`, pending state dropped by `Sim::crash`).
//!
//! Why steps: turmoil can only crash a host at an `.await`, and the shim calls never yield.
//! So the stores report each completed operation to a [`StepHook`] and await it. The real
//! daemon passes [`NoopHook`]; the simulator passes a `CrashHook` whose `CrashPlan` says
//! "park at the k-th occurrence of step S"; it then calls `Sim::crash` on the host, so the
//! crash lands exactly after S completed and before the next operation started. A step's
//! name is its [`Display`](fmt::Display) text, and [`Step`] parses back from it.
//!
//! `SimFs` (in `fs/sim.rs`) and `CrashHook`, `CrashPlan`, `CrashPoint` (in `fs/crash.rs`)
//! exist only with the cargo feature `sim`, so the `raida` binary carries no simulator.
//! [`FaultyFs`] (in `fs/faulty.rs`) wraps any [`Fs`] and fails or corrupts chosen calls: the
//! storage faults the tests (and the simulator's storage knobs) inject.

use std::ffi::OsString;
use std::fmt::{self, Debug};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::SystemTime;

#[cfg(feature = "sim")]
mod crash;
mod faulty;
#[cfg(feature = "sim")]
mod sim;

#[cfg(feature = "sim")]
pub use crash::{CrashHook, CrashPlan, CrashPoint};
pub use faulty::{Fault, FaultAction, FaultyFs, FsOp};
#[cfg(feature = "sim")]
pub use sim::SimFs;

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
    /// Opens an existing file for writing, its writes going from `offset_bytes` on: no
    /// creation (`NotFound` if the name is free), no truncation (bytes past what is written
    /// stay as they were). What an append-only journal needs to continue where its last
    /// durable record ends.
    fn open_write<'a>(&'a self, path: &'a Path, offset_bytes: u64)
        -> FsFuture<'a, Box<dyn FsFile>>;
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

/// A file opened by [`Fs::create_new`] or [`Fs::open_write`]. Each method is one step of a
/// publish.
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

    fn open_write<'a>(
        &'a self,
        path: &'a Path,
        offset_bytes: u64,
    ) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            use tokio::io::AsyncSeekExt;
            let mut file = tokio::fs::OpenOptions::new().write(true).open(path).await?;
            file.seek(io::SeekFrom::Start(offset_bytes)).await?;
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

    /// Every step's name, in [`Step::ALL`] order (what scenarios write in `crash_at_steps`).
    pub const NAMES: [&'static str; 31] = {
        let mut names = [""; 31];
        let mut index = 0;
        while index < Step::ALL.len() {
            names[index] = Step::ALL[index].name();
            index += 1;
        }
        names
    };

    /// The step's name, as scenarios and traces write it.
    pub const fn name(self) -> &'static str {
        match self {
            Step::RootStatted => "RootStatted",
            Step::RootDirCreated => "RootDirCreated",
            Step::RootDirSynced => "RootDirSynced",
            Step::InboxStatted => "InboxStatted",
            Step::InboxDirCreated => "InboxDirCreated",
            Step::InboxDirSynced => "InboxDirSynced",
            Step::TellGuardRead => "TellGuardRead",
            Step::TellTempCreated => "TellTempCreated",
            Step::TellTempWritten => "TellTempWritten",
            Step::TellTempSynced => "TellTempSynced",
            Step::TellTempClosed => "TellTempClosed",
            Step::TellGuardRechecked => "TellGuardRechecked",
            Step::TellRenamed => "TellRenamed",
            Step::TellDirSynced => "TellDirSynced",
            Step::TellTempRemoved => "TellTempRemoved",
            Step::InboxListed => "InboxListed",
            Step::TellStatted => "TellStatted",
            Step::TellRead => "TellRead",
            Step::TellDeleteChecked => "TellDeleteChecked",
            Step::TellDeleted => "TellDeleted",
            Step::TellDeleteDirSynced => "TellDeleteDirSynced",
            Step::StripeTempCreated => "StripeTempCreated",
            Step::StripeTempWritten => "StripeTempWritten",
            Step::StripeTempSynced => "StripeTempSynced",
            Step::StripeTempClosed => "StripeTempClosed",
            Step::StripeRenamed => "StripeRenamed",
            Step::StripeDirSynced => "StripeDirSynced",
            Step::StripeTempRemoved => "StripeTempRemoved",
            Step::StripeRead => "StripeRead",
            Step::StripeDeleted => "StripeDeleted",
            Step::StripeDeleteDirSynced => "StripeDeleteDirSynced",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Step::ALL`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStep {
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown step {:?}; known: ", self.name)?;
        for (index, step) in Step::ALL.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownStep {}

impl FromStr for Step {
    type Err = UnknownStep;

    /// The step whose [`Display`](fmt::Display) name is `name` (exact, case-sensitive).
    fn from_str(name: &str) -> Result<Step, UnknownStep> {
        Step::ALL
            .into_iter()
            .find(|step| step.to_string() == name)
            .ok_or_else(|| UnknownStep {
                name: name.to_string(),
            })
    }
}

/// Told about every completed [`Step`]; the server awaits the returned future before its next
/// file operation, so an implementation can hold the task there.
pub trait StepHook: Send + Sync + Debug {
    /// `step` just completed on `host_path` (the file or directory it touched).
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()>;
}

/// A future ready at once that holds nothing: what a hook that lets the operation go on
/// returns. Boxing a zero-sized future allocates nothing, where a boxed
/// `std::future::Ready<()>` is a one-byte allocation for every file-system step (three per
/// request of a storm seed).
#[derive(Clone, Copy, Debug, Default)]
pub struct GoOn;

impl GoOn {
    /// `GoOn`, boxed as a hook returns it.
    pub fn boxed<'a>() -> BoxFuture<'a, ()> {
        Box::pin(GoOn)
    }
}

impl Future for GoOn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _context: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// The real daemon's hook: continues at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopHook;

impl StepHook for NoopHook {
    fn reached<'a>(&'a self, _step: Step, _host_path: &'a Path) -> BoxFuture<'a, ()> {
        GoOn::boxed()
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
    fn going_on_is_ready_at_once_and_boxes_without_allocating() {
        // A zero-sized value's `Box` never touches the allocator.
        assert_eq!(std::mem::size_of::<GoOn>(), 0);
        assert_eq!(poll_once(&mut GoOn::boxed()), Poll::Ready(()));
        let mut noop = NoopHook.reached(Step::StripeRead, Path::new("/x"));
        assert_eq!(poll_once(&mut noop), Poll::Ready(()));
    }

    #[test]
    fn noop_hook_is_ready() {
        let hook = NoopHook;
        let mut future = hook.reached(Step::TellRenamed, Path::new("/x"));
        assert_eq!(poll_once(&mut future), Poll::Ready(()));
    }

    #[test]
    fn every_step_parses_from_its_name() {
        for step in Step::ALL {
            assert_eq!(step.to_string().parse::<Step>(), Ok(step));
        }
        let error = "TellRenamd".parse::<Step>().expect_err("misspelt");
        assert_eq!(error.name, "TellRenamd");
        let text = error.to_string();
        assert!(
            text.starts_with("unknown step \"TellRenamd\"; known: RootStatted, "),
            "{text}"
        );
        assert!(text.ends_with("StripeDeleteDirSynced"), "{text}");
        assert!("tell_renamed".parse::<Step>().is_err(), "names are exact");
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
        let mut reopened = fs.open_write(&to, 3).await.expect("open");
        reopened.write_all(b"p!").await.expect("write at 3");
        reopened.write_all(b"?").await.expect("write at 5");
        reopened.sync_all().await.expect("sync");
        reopened.close().await.expect("close");
        assert_eq!(fs.read(&to).await.expect("read"), b"help!?");
        let mut inside = fs.open_write(&to, 1).await.expect("open");
        inside.write_all(b"E").await.expect("overwrite");
        inside.close().await.expect("close");
        assert_eq!(
            fs.read(&to).await.expect("read"),
            b"hElp!?",
            "no truncation"
        );
        fs.remove_file(&to).await.expect("remove");
        let gone = fs.read(&to).await.expect_err("removed");
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        let missing = fs.open_write(&to, 0).await.expect_err("no creation");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
