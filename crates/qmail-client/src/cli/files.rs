//! Files the command reads and writes: bounded reads, atomic writes (temp file, sync,
//! rename), and the default state directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::CliError;

/// The default state directory: the profile's path with `.state` appended.
pub fn default_state_dir(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_os_string();
    name.push(".state");
    PathBuf::from(name)
}

pub(super) fn file_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CliError {
    let path = path.to_path_buf();
    move |source| CliError::File {
        action,
        path,
        source,
    }
}

/// Reads a whole file, refusing one larger than `size_bytes_max` before reading it.
pub(super) fn read_bounded(
    action: &'static str,
    path: &Path,
    size_bytes_max: u64,
) -> Result<Vec<u8>, CliError> {
    let size_bytes = fs::metadata(path).map_err(file_error(action, path))?.len();
    if size_bytes > size_bytes_max {
        return Err(CliError::Content {
            path: path.to_path_buf(),
            reason: format!("{size_bytes} bytes is more than the {size_bytes_max} allowed"),
        });
    }
    let bytes = fs::read(path).map_err(file_error(action, path))?;
    if bytes.len() as u64 > size_bytes_max {
        return Err(CliError::Content {
            path: path.to_path_buf(),
            reason: format!("grew past the {size_bytes_max} bytes allowed while read"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temp file beside it: write, sync, rename.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file path", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".tmp.");
    temp_name.push(name);
    let temp = dir.join(temp_name);
    let mut file = fs::File::create(&temp).map_err(file_error("create", &temp))?;
    file.write_all(bytes).map_err(file_error("write", &temp))?;
    file.sync_all().map_err(file_error("sync", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(file_error("rename into place", path))
}
