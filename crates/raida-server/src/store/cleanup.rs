//! The start-up sweep of temp files: every atomic write (tell, stripe, state file) goes
//! through a hidden `.tmp.*` file, and a server killed between its create and its rename
//! (kill -9, power loss) leaves that file behind. Scans ignore dotfiles, so a leftover is
//! harmless to the protocol, but nothing else ever removes it: under load and repeated kills
//! they pile up. At start, before any request, no temp file can belong to a live write of
//! this server, so every `.tmp.*` in a directory the server writes is removed.
//!
//! Directories swept: the stripe directory, every inbox
//! (`{mailbox_root}/{denomination}/{serial}/inbox`), the state directory and the extensions'
//! state directory. Only names starting with `.tmp.` are touched; published tells, stripes,
//! state files and anything foreign stay. The sweep reports per directory how many it
//! removed; the caller logs them. No [`Step`](crate::fs::Step) is reported.

use std::io;
use std::path::{Path, PathBuf};

use super::{io_error, StoreError, StoreIo};

/// Prefix of every temp file name the server writes.
pub const TEMP_FILE_PREFIX: &str = ".tmp.";

/// The temp files removed from one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweptDir {
    /// The directory.
    pub dir: PathBuf,
    /// How many `.tmp.*` files were removed from it.
    pub removed_count: usize,
}

/// Removes every `.tmp.*` file of the stripe directory, each inbox below `mailbox_root`
/// and each of `other_dirs`; returns the directories that had any. A directory that does not
/// exist is skipped; one that cannot be listed, or a temp file that cannot be removed, is an
/// error naming it.
pub async fn sweep_temp_files(
    io: &StoreIo,
    mailbox_root: &Path,
    other_dirs: &[PathBuf],
) -> Result<Vec<SweptDir>, StoreError> {
    let mut dirs: Vec<PathBuf> = other_dirs.to_vec();
    dirs.extend(inbox_dirs(io, mailbox_root).await?);
    let mut swept = Vec::new();
    for dir in dirs {
        let removed_count = sweep_dir(io, &dir).await?;
        if removed_count > 0 {
            swept.push(SweptDir { dir, removed_count });
        }
    }
    Ok(swept)
}

/// The names in `dir`, `None` when it does not exist.
async fn list(io: &StoreIo, dir: &Path) -> Result<Option<Vec<String>>, StoreError> {
    match io.fs().read_dir(dir).await {
        Ok(names) => Ok(Some(
            names
                .into_iter()
                .filter_map(|name| name.into_string().ok())
                .collect(),
        )),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error("list dir", dir)(error)),
    }
}

async fn is_dir(io: &StoreIo, path: &Path) -> Result<bool, StoreError> {
    match io.fs().metadata(path).await {
        Ok(meta) => Ok(meta.is_dir),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error("stat", path)(error)),
    }
}

/// Every existing `{mailbox_root}/{d}/{sn}/inbox` directory.
async fn inbox_dirs(io: &StoreIo, mailbox_root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut inboxes = Vec::new();
    let Some(denominations) = list(io, mailbox_root).await? else {
        return Ok(inboxes);
    };
    for denomination in denominations {
        let denomination_dir = mailbox_root.join(&denomination);
        if denomination.starts_with('.') || !is_dir(io, &denomination_dir).await? {
            continue;
        }
        let Some(serials) = list(io, &denomination_dir).await? else {
            continue;
        };
        for serial in serials {
            let inbox = denomination_dir.join(&serial).join("inbox");
            if !serial.starts_with('.') && is_dir(io, &inbox).await? {
                inboxes.push(inbox);
            }
        }
    }
    Ok(inboxes)
}

/// Removes the `.tmp.*` files of `dir`; how many.
async fn sweep_dir(io: &StoreIo, dir: &Path) -> Result<usize, StoreError> {
    let Some(names) = list(io, dir).await? else {
        return Ok(0);
    };
    let mut removed_count = 0;
    for name in names.iter().filter(|n| n.starts_with(TEMP_FILE_PREFIX)) {
        let path = dir.join(name);
        match io.fs().remove_file(&path).await {
            Ok(()) => removed_count += 1,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error("remove temp file", &path)(error)),
        }
    }
    Ok(removed_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::fs::{NoopHook, RealFs};
    use std::sync::Arc;

    #[tokio::test]
    async fn removes_only_temp_files_and_counts_per_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let io = StoreIo::new(
            Arc::new(RealFs),
            Arc::new(NoopHook),
            Arc::new(ManualClock::new(1)),
            3,
        );
        let inbox = root.join("mailboxes/01/1000/inbox");
        let other_inbox = root.join("mailboxes/ff/7/inbox");
        let stripes = root.join("stripes");
        for dir in [&inbox, &other_inbox, &stripes] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        let keep = [
            inbox.join("00000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.tell"),
            inbox.join(".hidden"),
            stripes.join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.01.stripe"),
            root.join("mailboxes/.tmp.not-an-inbox-dir"),
        ];
        let remove = [
            inbox.join(".tmp.1.2.3.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.tell"),
            inbox.join(".tmp.1.2.4.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.tell"),
            stripes.join(".tmp.9.9.9.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.01.stripe"),
        ];
        for path in keep.iter().chain(&remove) {
            std::fs::write(path, b"x").expect("plant");
        }
        let missing = root.join("state");
        let swept = sweep_temp_files(&io, &root.join("mailboxes"), &[stripes.clone(), missing])
            .await
            .expect("sweep");
        assert_eq!(
            swept,
            vec![
                SweptDir {
                    dir: stripes.clone(),
                    removed_count: 1
                },
                SweptDir {
                    dir: inbox.clone(),
                    removed_count: 2
                },
            ]
        );
        assert!(
            keep.iter().all(|path| path.exists()),
            "real files untouched"
        );
        assert!(
            remove.iter().all(|path| !path.exists()),
            "temp files removed"
        );
        let again = sweep_temp_files(&io, &root.join("mailboxes"), &[stripes])
            .await
            .expect("sweep");
        assert!(again.is_empty());
    }
}
