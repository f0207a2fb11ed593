//! The body file of an email (file type 0x01) as the command composes and reads it, and the
//! names `fetch` writes each file under.
//!
//! ```text
//! Subject: Quarterly numbers
//! Attachment-0a: report.pdf
//! Attachment-0b: photo.jpg
//!
//! The body text, as given.
//! ```
//!
//! The protocol carries no file names (a manifest entry is a type, a size and a CRC-32), so
//! the body carries them: a header block of `Name: value` lines, first `Subject:`, then one
//! `Attachment-TT:` line per attachment (TT its file type in two hex digits: 0a, 0b, … in
//! command-line order) naming the file's base name, then an empty line and the body text.
//! `fetch` writes the body file as it arrived (`body.txt`) and each attachment under the name
//! its header line gives — when that name is a plain file name (no directory part, no
//! control character, not `.`/`..`, not `body.txt`, not taken by an earlier file) — else
//! under `attachment-TT.bin`. A body without the block (another client's) is all text, and
//! every attachment gets the fallback name.

use std::collections::BTreeMap;
use std::path::Path;

use qmail_wire::tell::FILE_TYPE_BODY;

use super::limits::ATTACHMENT_NAME_SIZE_BYTES_MAX;
use super::CliError;
use crate::limits::FILE_TYPE_ATTACHMENT_FIRST;

/// The name `fetch` writes the body file under.
pub const BODY_FILE_NAME: &str = "body.txt";

const SUBJECT_PREFIX: &str = "Subject: ";
const ATTACHMENT_PREFIX: &str = "Attachment-";

/// What the header block of a body file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyHeaders {
    /// The `Subject:` line.
    pub subject: Option<String>,
    /// The `Attachment-TT:` lines, by file type.
    pub attachment_names: BTreeMap<u8, String>,
}

/// The base name of an attachment's path, as its `Attachment-TT:` line carries it: refused
/// when the path names no file or the name holds a control character (a line break would end
/// the header line).
pub fn attachment_name(path: &Path) -> Result<String, CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("--attach {}: names no file", path.display())))?
        .to_string_lossy()
        .into_owned();
    if name.chars().any(char::is_control) || name.len() > ATTACHMENT_NAME_SIZE_BYTES_MAX {
        return Err(CliError::Usage(format!(
            "--attach {}: the file name must be at most {ATTACHMENT_NAME_SIZE_BYTES_MAX} bytes \
             without control characters (rename the file)",
            path.display()
        )));
    }
    Ok(name)
}

/// The body file of an email without attachment names: `Subject: S`, an empty line, the
/// body text.
pub fn email_body(subject: &str, text: &[u8]) -> Result<Vec<u8>, CliError> {
    email_body_with_names(subject, &[], text)
}

/// The body file of an email: `Subject: S`, one `Attachment-TT: NAME` line per name in
/// `attachment_names` (file types 0x0A, 0x0B, … in order), an empty line, the body text.
pub fn email_body_with_names(
    subject: &str,
    attachment_names: &[String],
    text: &[u8],
) -> Result<Vec<u8>, CliError> {
    if subject.chars().any(char::is_control) {
        return Err(CliError::Usage(
            "the subject must be one line (no line breaks or control characters)".to_string(),
        ));
    }
    let mut header = format!("{SUBJECT_PREFIX}{subject}\n");
    for (file_type, name) in (FILE_TYPE_ATTACHMENT_FIRST..=u8::MAX).zip(attachment_names) {
        assert!(
            !name.chars().any(char::is_control),
            "attachment names are checked by attachment_name"
        );
        header.push_str(&format!("{ATTACHMENT_PREFIX}{file_type:02x}: {name}\n"));
    }
    header.push('\n');
    let mut body = header.into_bytes();
    body.extend_from_slice(text);
    Ok(body)
}

/// The header block of a body file written by [`email_body_with_names`]; empty when the body
/// does not start with `Subject: ` (then it is all text). Lines it does not know are skipped.
pub fn parse_body_headers(body: &[u8]) -> BodyHeaders {
    let mut headers = BodyHeaders::default();
    if !body.starts_with(SUBJECT_PREFIX.as_bytes()) {
        return headers;
    }
    let block_end = body
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .unwrap_or(body.len());
    let block = String::from_utf8_lossy(body.get(..block_end).unwrap_or(body));
    for line in block.lines() {
        if let Some(subject) = line.strip_prefix(SUBJECT_PREFIX) {
            headers.subject.get_or_insert_with(|| subject.to_string());
        } else if let Some((file_type, name)) = attachment_line(line) {
            headers.attachment_names.entry(file_type).or_insert(name);
        }
    }
    headers
}

/// `Attachment-TT: NAME` → (TT, NAME), for an attachment file type.
fn attachment_line(line: &str) -> Option<(u8, String)> {
    let (key, name) = line.split_once(": ")?;
    let prefix = key.get(..ATTACHMENT_PREFIX.len())?;
    let digits = key.get(ATTACHMENT_PREFIX.len()..)?;
    if !prefix.eq_ignore_ascii_case(ATTACHMENT_PREFIX) || digits.len() != 2 {
        return None;
    }
    let file_type = u8::from_str_radix(digits, 16).ok()?;
    (file_type >= FILE_TYPE_ATTACHMENT_FIRST).then(|| (file_type, name.to_string()))
}

/// The subject of a body file written by [`email_body`], if it has one.
pub fn subject_of(body: &[u8]) -> Option<String> {
    parse_body_headers(body).subject
}

/// Whether `name` may be written inside the output directory as it is: one plain file name.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ATTACHMENT_NAME_SIZE_BYTES_MAX
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// The fallback name of a file of type `file_type`: `body.txt`, `attachment-0a.bin`, ….
pub fn output_file_name(file_type: u8) -> String {
    if file_type == FILE_TYPE_BODY {
        BODY_FILE_NAME.to_string()
    } else {
        format!("attachment-{file_type:02x}.bin")
    }
}

/// The name `fetch` writes each of `file_types` under (see the module docs): the body as
/// `body.txt`, each attachment under its carried name when that is a plain file name used by
/// no earlier file and no file's fallback name, else under its own fallback name. Names are
/// distinct.
pub fn output_file_names(file_types: &[u8], headers: &BodyHeaders) -> BTreeMap<u8, String> {
    let fallbacks: Vec<String> = file_types.iter().map(|t| output_file_name(*t)).collect();
    let mut names: BTreeMap<u8, String> = BTreeMap::new();
    let taken = |names: &BTreeMap<u8, String>, name: &str| {
        fallbacks.iter().any(|fallback| fallback == name) || names.values().any(|used| used == name)
    };
    for &file_type in file_types {
        let carried = headers
            .attachment_names
            .get(&file_type)
            .filter(|name| file_type != FILE_TYPE_BODY && is_plain_file_name(name))
            .filter(|name| !taken(&names, name));
        let name = match carried {
            Some(name) => name.clone(),
            None => output_file_name(file_type),
        };
        names.insert(file_type, name);
    }
    let mut distinct: Vec<&String> = names.values().collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), names.len(), "output names are distinct");
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::files::default_state_dir;
    use std::path::PathBuf;

    #[test]
    fn body_file_format_and_subject() {
        let body = email_body("Hi there", b"line 1\nline 2").expect("one line");
        assert_eq!(body, b"Subject: Hi there\n\nline 1\nline 2");
        assert_eq!(subject_of(&body).as_deref(), Some("Hi there"));
        assert_eq!(subject_of(b"no subject"), None);
        assert!(matches!(
            email_body("two\nlines", b""),
            Err(CliError::Usage(_))
        ));
        assert_eq!(
            default_state_dir(Path::new("/x/alice.toml")),
            PathBuf::from("/x/alice.toml.state")
        );
        assert_eq!(output_file_name(0x01), "body.txt");
        assert_eq!(output_file_name(0x0B), "attachment-0b.bin");
    }

    #[test]
    fn attachment_names_round_trip_through_the_body() {
        let names = vec!["photo.jpg".to_string(), "notes: v2.txt".to_string()];
        let body =
            email_body_with_names("S", &names, b"Attachment-0c: not a header\n").expect("valid");
        assert_eq!(
            body,
            b"Subject: S\nAttachment-0a: photo.jpg\nAttachment-0b: notes: v2.txt\n\n\
              Attachment-0c: not a header\n"
        );
        let headers = parse_body_headers(&body);
        assert_eq!(headers.subject.as_deref(), Some("S"));
        assert_eq!(
            headers.attachment_names,
            BTreeMap::from([(0x0A, names[0].clone()), (0x0B, names[1].clone())])
        );
        assert_eq!(
            output_file_names(&[0x01, 0x0A, 0x0B, 0x0C], &headers),
            BTreeMap::from([
                (0x01, "body.txt".to_string()),
                (0x0A, "photo.jpg".to_string()),
                (0x0B, "notes: v2.txt".to_string()),
                (0x0C, "attachment-0c.bin".to_string()),
            ])
        );
        // A body of another client is all text.
        assert_eq!(
            parse_body_headers(b"Attachment-0a: x\n\n"),
            BodyHeaders::default()
        );
    }

    #[test]
    fn unsafe_or_clashing_names_fall_back() {
        let headers = parse_body_headers(
            b"Subject: S\nAttachment-0a: ../../.bashrc\nattachment-0B: body.txt\n\
              Attachment-0c: a.bin\nAttachment-0d: a.bin\nAttachment-01: x\nAttachment-0e: ..\n\
              Attachment-0f: attachment-0e.bin\n\n",
        );
        let names = output_file_names(&[0x01, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F], &headers);
        let names: Vec<&str> = names.values().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "body.txt",
                "attachment-0a.bin",
                "attachment-0b.bin",
                "a.bin",
                "attachment-0d.bin",
                "attachment-0e.bin",
                "attachment-0f.bin"
            ]
        );
        assert!(attachment_name(Path::new("dir/photo.jpg")).expect("name") == "photo.jpg");
        assert!(attachment_name(Path::new("/")).is_err());
        assert!(attachment_name(Path::new("bad\nname")).is_err());
    }
}
