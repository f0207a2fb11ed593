//! The state directory's received tells: `STATE/tells/{guid}.{edit:03}.tell`, each the exact
//! bytes of one record a ping or peek returned (the beacon deleted it on read).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use qmail_wire::tell::TellRecord;
use qmail_wire::Codec;

use super::files::{file_error, read_bounded, write_atomically};
use super::limits::{GUID_HEX_DIGITS, GUID_PREFIX_HEX_DIGITS_MIN, STATE_RECORD_SIZE_BYTES_MAX};
use super::output::hex;
use super::CliError;
use crate::identity::Guid;
use crate::receive::ReceivedTell;

/// The received tells of one profile: `DIR/tells/{guid}.{edit:03}.tell`.
#[derive(Clone, Debug)]
pub struct TellStore {
    dir: PathBuf,
}

/// One kept tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptTell {
    /// Its file.
    pub path: PathBuf,
    /// The record.
    pub record: TellRecord,
}

impl TellStore {
    /// The store under state directory `state_dir`.
    pub fn new(state_dir: &Path) -> TellStore {
        TellStore {
            dir: state_dir.join("tells"),
        }
    }

    /// The state directory's `tells` folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(guid: &Guid, edit_sequence: u8) -> String {
        format!("{}.{edit_sequence:03}.tell", hex(guid))
    }

    /// Keeps `tell` (its exact bytes); a tell of the same GUID and edit replaces the file.
    pub fn save(&self, tell: &ReceivedTell) -> Result<PathBuf, CliError> {
        assert_eq!(
            TellRecord::from_bytes(&tell.raw).as_ref(),
            Ok(&tell.record),
            "a received tell's raw bytes are the record it was parsed into"
        );
        fs::create_dir_all(&self.dir).map_err(file_error("create", &self.dir))?;
        let header = &tell.record.file_header;
        let path = self.dir.join(Self::file_name(
            &header.email_id,
            tell.record.edit_sequence(),
        ));
        write_atomically(&path, &tell.raw)?;
        Ok(path)
    }

    /// Every kept tell, by file name (so by GUID, then edit).
    pub fn list(&self) -> Result<Vec<KeptTell>, CliError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(file_error("list", &self.dir)(error)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(file_error("list", &self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && name.ends_with(".tell") {
                names.push(name);
            }
        }
        names.sort();
        names.iter().map(|name| self.read(name)).collect()
    }

    fn read(&self, name: &str) -> Result<KeptTell, CliError> {
        let path = self.dir.join(name);
        let bytes = read_bounded("read", &path, STATE_RECORD_SIZE_BYTES_MAX)?;
        let record = TellRecord::from_bytes(&bytes).map_err(|error| CliError::Content {
            path: path.clone(),
            reason: format!("not a tell record: {error}"),
        })?;
        let expected = Self::file_name(&record.file_header.email_id, record.edit_sequence());
        if expected != name {
            return Err(CliError::Content {
                path,
                reason: format!("holds the record of {expected}"),
            });
        }
        Ok(KeptTell { path, record })
    }

    /// The newest revision of the one GUID that starts with `prefix` (hex, either case).
    pub fn find(&self, prefix: &str) -> Result<KeptTell, CliError> {
        let prefix = prefix.to_ascii_lowercase();
        let is_hex = prefix.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !is_hex || !(GUID_PREFIX_HEX_DIGITS_MIN..=GUID_HEX_DIGITS).contains(&prefix.len()) {
            return Err(CliError::Usage(format!(
                "`{prefix}`: expected a GUID, {GUID_PREFIX_HEX_DIGITS_MIN} to {GUID_HEX_DIGITS} \
                 hex digits"
            )));
        }
        let matching: Vec<KeptTell> = self
            .list()?
            .into_iter()
            .filter(|kept| hex(&kept.record.file_header.email_id).starts_with(&prefix))
            .collect();
        let guids: std::collections::BTreeSet<Guid> = matching
            .iter()
            .map(|kept| kept.record.file_header.email_id)
            .collect();
        if guids.len() > 1 {
            let listed: Vec<String> = guids.iter().map(|guid| hex(guid)).collect();
            return Err(CliError::Usage(format!(
                "GUID prefix `{prefix}` matches {} emails: {}",
                guids.len(),
                listed.join(", ")
            )));
        }
        matching
            .into_iter()
            .max_by_key(|kept| kept.record.edit_sequence())
            .ok_or_else(|| CliError::NotFound {
                guid: prefix,
                state_dir: self.dir.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::{received, record};

    #[test]
    fn tell_store_keeps_exact_bytes_and_finds_the_newest_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TellStore::new(dir.path());
        assert_eq!(store.list().expect("empty"), Vec::new());
        let first = [0xAB; 16];
        let mut second = [0xAB; 16];
        second[15] = 0;
        for tell in [record(first, 0), record(first, 2), record(second, 1)] {
            let path = store.save(&received(tell.clone())).expect("saved");
            assert_eq!(fs::read(&path).expect("read"), tell.to_bytes());
        }
        assert_eq!(store.list().expect("list").len(), 3);
        let found = store.find(&hex(&first)).expect("found");
        assert_eq!(found.record, record(first, 2), "newest edit wins");
        assert!(
            matches!(store.find("abab"), Err(CliError::Usage(_))),
            "ambiguous"
        );
        assert!(
            matches!(store.find("ab"), Err(CliError::Usage(_))),
            "too short"
        );
        assert!(matches!(store.find("cdcd"), Err(CliError::NotFound { .. })));
        assert_eq!(
            store.find(&hex(&second)[..31]).expect("prefix").record,
            record(second, 1)
        );
        // A damaged state file is a typed error naming it, never a panic.
        fs::write(&found.path, b"garbage").expect("write");
        let error = store.list().expect_err("damaged");
        assert!(error.to_string().contains("not a tell record"), "{error}");
    }
}
