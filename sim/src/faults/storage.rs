//! Storage faults: the RAIDAs' disks fail calls, return flipped bytes, fill up and tear
//! writes, as TigerBeetle's VOPR and FoundationDB's simulator treat storage: first-class.
//!
//! | knob | acts through | recorded as |
//! |---|---|---|
//! | `io_error_rate` | [`StorageFs`]: each file-system call of a RAIDA (and each write, fsync and close of a file it opened) fails with EIO with this chance | `io_error` |
//! | `read_corruption_rate` | [`StorageFs`]: each successful read comes back with one byte flipped with this chance (the disk itself is intact) | `read_corrupted` |
//! | `disk_capacity_bytes` | turmoil's per-host capacity (patch 5): a write past it fails with ENOSPC, which [`StorageFs`] reports as `StorageFull` | `disk_full` |
//! | `torn_write_block_bytes` | turmoil's `block_size`: a crash applies each pending write of a file whose entry is durable only up to a random block | `torn_write` |
//!
//! Every fault names the RAIDA and the path it hit, so a checker can attribute what it
//! finds to it. Errors and flips are drawn from the RAIDA's own stream `("faults.storage",
//! raida)`, one draw per call in the host's own order, and only while the storage faults
//! are active: the world turns them off (and lifts the capacity) for the healed phase, so
//! the run must then converge. A RAIDA whose knobs are all zero gets the bare `SimFs`.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use knobs::{Knob, Knobs, Vary, Visitor};
use raida_server::fs::{FileMeta, Fs, FsFile, FsFuture, SimFs};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clock::PPM;
use crate::history::{EventKind, FaultKind, Host};
use crate::seed::SeedTree;
use crate::world::recorder::Recorder;

/// Largest disk a scenario may give a RAIDA, bytes (a varied knob is drawn as `u32`).
pub const DISK_CAPACITY_BYTES_MAX: u32 = u32::MAX;
/// Largest torn-write block, bytes.
pub const TORN_WRITE_BLOCK_BYTES_MAX: u32 = 1 << 20;

/// What turmoil's ENOSPC error says (it carries `ErrorKind::Other`).
const NO_SPACE_MESSAGE: &str = "No space left on device";

/// Storage knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct StorageFaults {
    /// Chance per file-system call of an I/O error.
    pub io_error_rate: f64,
    /// Chance per successful read of one flipped byte.
    pub read_corruption_rate: f64,
    /// Each RAIDA's disk size in the safety phase, bytes (0: unlimited).
    pub disk_capacity_bytes: u32,
    /// Block size of torn writes at a crash, bytes (0: writes are all or nothing).
    pub torn_write_block_bytes: u32,
}

impl Knobs for StorageFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::fraction("io_error_rate", &mut self.io_error_rate).vary(PPM));
        v.knob(Knob::fraction("read_corruption_rate", &mut self.read_corruption_rate).vary(PPM));
        let on_off = Vary::OnOff { per: 1 };
        let capacity = 0..=i64::from(DISK_CAPACITY_BYTES_MAX);
        v.knob(
            Knob::int(
                "disk_capacity_bytes",
                &mut self.disk_capacity_bytes,
                capacity,
            )
            .vary(on_off),
        );
        let block = 0..=i64::from(TORN_WRITE_BLOCK_BYTES_MAX);
        v.knob(
            Knob::int(
                "torn_write_block_bytes",
                &mut self.torn_write_block_bytes,
                block,
            )
            .vary(on_off),
        );
    }
}

impl StorageFaults {
    /// True when the disks behave.
    pub fn is_quiet(&self) -> bool {
        !self.wraps_calls() && self.disk_capacity_bytes == 0 && self.torn_write_block_bytes == 0
    }

    /// True when the RAIDAs' file systems need the [`StorageFs`] wrapper.
    pub fn wraps_calls(&self) -> bool {
        self.io_error_rate > 0.0 || self.read_corruption_rate > 0.0 || self.disk_capacity_bytes > 0
    }

    /// Sets turmoil's disk model on the builder: capacity and torn-write block size.
    pub fn configure(&self, builder: &mut turmoil::Builder) {
        if self.disk_capacity_bytes > 0 {
            builder.fs().capacity(u64::from(self.disk_capacity_bytes));
        }
        if self.torn_write_block_bytes > 0 {
            builder
                .fs()
                .block_size(u64::from(self.torn_write_block_bytes));
        }
    }

    /// RAIDA `raida`'s share of the faults, or `None` when its calls need no wrapper.
    pub fn for_raida(
        &self,
        tree: &SeedTree,
        raida: u8,
        recorder: Recorder,
    ) -> Option<Arc<DiskFaults>> {
        self.wraps_calls().then(|| {
            Arc::new(DiskFaults {
                raida,
                io_error_rate: self.io_error_rate,
                read_corruption_rate: self.read_corruption_rate,
                active: AtomicBool::new(true),
                rng: Mutex::new(tree.stream_for_host("faults.storage", u64::from(raida))),
                recorder,
            })
        })
    }
}

/// One RAIDA's storage faults, shared by every boot of its software.
pub struct DiskFaults {
    raida: u8,
    io_error_rate: f64,
    read_corruption_rate: f64,
    active: AtomicBool,
    rng: Mutex<ChaCha8Rng>,
    recorder: Recorder,
}

impl fmt::Debug for DiskFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskFaults")
            .field("raida", &self.raida)
            .field("active", &self.active.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl DiskFaults {
    /// Stops injecting (the healed phase).
    pub fn heal(&self) {
        self.active.store(false, Ordering::SeqCst);
    }

    fn draw(&self, rate: f64) -> bool {
        if rate == 0.0 || !self.active.load(Ordering::SeqCst) {
            return false;
        }
        self.rng
            .lock()
            .expect("storage rng lock poisoned")
            .random_bool(rate)
    }

    fn record(&self, fault: FaultKind, detail: String) {
        let hosts = vec![Host::Raida(self.raida)];
        self.recorder.record(
            Host::World,
            EventKind::FaultFired {
                fault,
                hosts,
                detail,
            },
        );
    }

    /// Fails the call `op` on `path` with an injected EIO, with chance `io_error_rate`.
    fn io_error(&self, op: &'static str, path: &Path) -> io::Result<()> {
        if !self.draw(self.io_error_rate) {
            return Ok(());
        }
        let path = path.display().to_string();
        self.record(
            FaultKind::IoError {
                op: op.to_string(),
                path: path.clone(),
            },
            format!("{op} {path}: injected I/O error"),
        );
        Err(io::Error::other(format!(
            "injected I/O error on {op} of {path}"
        )))
    }

    /// Reports a full disk (turmoil's ENOSPC) as `StorageFull`, recording it.
    fn map_full<T>(&self, path: &Path, result: io::Result<T>) -> io::Result<T> {
        result.map_err(|error| {
            let (error, fired) = full_disk(path, error);
            if let Some((fault, detail)) = fired {
                self.record(fault, detail);
            }
            error
        })
    }

    /// Flips one byte of a successful read with chance `read_corruption_rate`, recording it.
    fn corrupt(&self, path: &Path, bytes: &mut [u8]) {
        if bytes.is_empty() || !self.draw(self.read_corruption_rate) {
            return;
        }
        let (fault, detail) = {
            let mut rng = self.rng.lock().expect("storage rng lock poisoned");
            flip_one_byte(&mut rng, path, bytes)
        };
        self.record(fault, detail);
    }
}

/// `error` as the server should see it: turmoil's ENOSPC (`ErrorKind::Other` with its
/// message) becomes `StorageFull`, with the fault to record.
fn full_disk(path: &Path, error: io::Error) -> (io::Error, Option<(FaultKind, String)>) {
    if error.kind() != io::ErrorKind::Other || !error.to_string().contains(NO_SPACE_MESSAGE) {
        return (error, None);
    }
    let path = path.display().to_string();
    let full = io::Error::new(
        io::ErrorKind::StorageFull,
        format!("{NO_SPACE_MESSAGE}: {path}"),
    );
    let detail = format!("{path}: disk full");
    (full, Some((FaultKind::DiskFull { path }, detail)))
}

/// Flips one byte of `bytes` (not empty) at a drawn index by a drawn non-zero mask.
fn flip_one_byte(rng: &mut ChaCha8Rng, path: &Path, bytes: &mut [u8]) -> (FaultKind, String) {
    assert!(!bytes.is_empty(), "a flipped read has bytes");
    let index = rng.random_range(0..bytes.len());
    let mask = rng.random_range(1..=u8::MAX);
    bytes[index] ^= mask;
    let path = path.display().to_string();
    let detail = format!("{path}: byte {index} read as flipped by {mask:#04x}");
    (FaultKind::ReadCorrupted { path }, detail)
}

/// turmoil's disk behind [`DiskFaults`]: what a RAIDA's server sees when its storage faults.
#[derive(Debug)]
pub struct StorageFs {
    inner: SimFs,
    faults: Arc<DiskFaults>,
}

impl StorageFs {
    /// The simulated disk with `faults` injected.
    pub fn new(faults: Arc<DiskFaults>) -> StorageFs {
        StorageFs {
            inner: SimFs,
            faults,
        }
    }
}

#[derive(Debug)]
struct StorageFile {
    inner: Box<dyn FsFile>,
    path: std::path::PathBuf,
    faults: Arc<DiskFaults>,
}

impl FsFile for StorageFile {
    fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.faults.io_error("write", &self.path)?;
            let result = self.inner.write_all(bytes).await;
            self.faults.map_full(&self.path, result)
        })
    }

    fn sync_all(&mut self) -> FsFuture<'_, ()> {
        Box::pin(async move {
            self.faults.io_error("sync", &self.path)?;
            self.inner.sync_all().await
        })
    }

    fn close(self: Box<Self>) -> FsFuture<'static, ()> {
        Box::pin(async move {
            let StorageFile {
                inner,
                path,
                faults,
            } = *self;
            let failed = faults.io_error("close", &path);
            // The handle goes either way, as close(2) releases the descriptor on EIO.
            inner.close().await?;
            failed
        })
    }
}

impl Fs for StorageFs {
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.faults.io_error("create_dir", path)?;
            let result = self.inner.create_dir_all(path).await;
            self.faults.map_full(path, result)
        })
    }

    fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            self.faults.io_error("create", path)?;
            let result = self.inner.create_new(path).await;
            let inner = self.faults.map_full(path, result)?;
            Ok(Box::new(StorageFile {
                inner,
                path: path.to_path_buf(),
                faults: self.faults.clone(),
            }) as Box<dyn FsFile>)
        })
    }

    fn open_write<'a>(
        &'a self,
        path: &'a Path,
        offset_bytes: u64,
    ) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            self.faults.io_error("open_write", path)?;
            let inner = self.inner.open_write(path, offset_bytes).await?;
            Ok(Box::new(StorageFile {
                inner,
                path: path.to_path_buf(),
                faults: self.faults.clone(),
            }) as Box<dyn FsFile>)
        })
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.faults.io_error("rename", to)?;
            self.inner.rename(from, to).await
        })
    }

    fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.faults.io_error("sync_dir", path)?;
            self.inner.sync_dir(path).await
        })
    }

    fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            self.faults.io_error("read", path)?;
            let mut bytes = self.inner.read(path).await?;
            self.faults.corrupt(path, &mut bytes);
            Ok(bytes)
        })
    }

    fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>> {
        Box::pin(async move {
            self.faults.io_error("read_dir", path)?;
            self.inner.read_dir(path).await
        })
    }

    fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta> {
        Box::pin(async move {
            self.faults.io_error("metadata", path)?;
            self.inner.metadata(path).await
        })
    }

    fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
        Box::pin(async move {
            self.faults.io_error("remove", path)?;
            self.inner.remove_file(path).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_by_default_and_each_knob_wakes_it() {
        assert!(StorageFaults::default().is_quiet());
        let knobs = [
            StorageFaults {
                io_error_rate: 0.1,
                ..StorageFaults::default()
            },
            StorageFaults {
                read_corruption_rate: 0.1,
                ..StorageFaults::default()
            },
            StorageFaults {
                disk_capacity_bytes: 1,
                ..StorageFaults::default()
            },
            StorageFaults {
                torn_write_block_bytes: 512,
                ..StorageFaults::default()
            },
        ];
        for faults in knobs {
            assert!(!faults.is_quiet(), "{faults:?}");
        }
    }

    #[test]
    fn only_call_faults_and_capacity_need_the_wrapper() {
        let tree = SeedTree::new(1);
        let torn_only = StorageFaults {
            torn_write_block_bytes: 512,
            ..StorageFaults::default()
        };
        assert!(torn_only.for_raida(&tree, 0, Recorder::default()).is_none());
        let errors = StorageFaults {
            io_error_rate: 0.5,
            ..StorageFaults::default()
        };
        assert!(errors.for_raida(&tree, 0, Recorder::default()).is_some());
    }

    #[test]
    fn draws_follow_the_seed_and_stop_when_healed() {
        let faults = StorageFaults {
            io_error_rate: 0.5,
            ..StorageFaults::default()
        };
        let draws = |seed| {
            let disk = faults
                .for_raida(&SeedTree::new(seed), 3, Recorder::default())
                .expect("wrapped");
            (0..64).map(|_| disk.draw(0.5)).collect::<Vec<bool>>()
        };
        assert_eq!(draws(9), draws(9), "seeded");
        assert_ne!(draws(9), draws(10), "per seed");
        let disk = faults
            .for_raida(&SeedTree::new(9), 3, Recorder::default())
            .expect("wrapped");
        disk.heal();
        assert!((0..64).all(|_| !disk.draw(1.0)), "healed disks behave");
    }

    #[test]
    fn a_flipped_read_changes_exactly_one_byte() {
        let mut rng = SeedTree::new(2).stream("test");
        for size_bytes in [1usize, 2, 32] {
            let original = vec![0u8; size_bytes];
            let mut read = original.clone();
            let (fault, _) = flip_one_byte(&mut rng, Path::new("/raida/x"), &mut read);
            let changed = original.iter().zip(&read).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 1);
            assert_eq!(fault.storage_path(), Some("/raida/x"));
        }
    }

    #[test]
    fn turmoil_s_enospc_becomes_storage_full() {
        let path = Path::new("/raida/s");
        let (mapped, fired) = full_disk(path, io::Error::other(NO_SPACE_MESSAGE));
        assert_eq!(mapped.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fired.map(|(fault, _)| fault.name()), Some("disk_full"));
        let (kept, fired) = full_disk(path, io::Error::other("something else"));
        assert_eq!(kept.kind(), io::ErrorKind::Other);
        assert!(fired.is_none());
    }
}
