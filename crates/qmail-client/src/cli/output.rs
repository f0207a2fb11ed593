//! What the command prints: hex, one line per tell record, and writing a report to the
//! output.

use std::io::Write;

use qmail_wire::tell::{TellRecord, FILE_TYPE_BODY};

use super::CliError;
use crate::identity::MailboxId;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) fn emit<W: Write>(out: &mut W, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// One line about a tell record: GUID, edit, sender, files.
pub fn describe_record(record: &TellRecord) -> String {
    let header = &record.file_header;
    let files: Vec<String> = record
        .manifest
        .iter()
        .map(|entry| {
            let name = if entry.file_type == FILE_TYPE_BODY {
                "body".to_string()
            } else {
                format!("{:#04x}", entry.file_type)
            };
            format!("{name} {} B", entry.original_size)
        })
        .collect();
    format!(
        "mail {} edit {} from {}: {} files ({})",
        hex(&header.email_id),
        record.edit_sequence(),
        MailboxId::new(header.sender_denomination, header.sender_serial_number),
        record.manifest.len(),
        files.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::record;

    #[test]
    fn describe_names_guid_sender_and_files() {
        let line = describe_record(&record([0x01; 16], 3));
        assert_eq!(
            line,
            "mail 01010101010101010101010101010101 edit 3 from 1.1000: 1 files (body 12 B)"
        );
    }
}
