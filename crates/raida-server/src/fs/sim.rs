//! turmoil's simulated disk behind the [`Fs`] seam (feature `sim`): the simulator's
//! file system, never compiled into the `raida` binary.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use super::{FileMeta, Fs, FsFile, FsFuture};

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

    fn open_write<'a>(
        &'a self,
        path: &'a Path,
        offset_bytes: u64,
    ) -> FsFuture<'a, Box<dyn FsFile>> {
        Box::pin(async move {
            // turmoil's shim opens an existing file without truncating it (a truncation would
            // be a pending `SetLen`); writes go through `write_at` from our own offset.
            let file = turmoil::fs::shim::tokio::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .await?;
            Ok(Box::new(SimFile { file, offset_bytes }) as Box<dyn FsFile>)
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
